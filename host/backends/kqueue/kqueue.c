/*
 * The kqueue backend (macOS, FreeBSD; on Linux only through libkqueue, for the tests): what is
 * kqueue's own in the native shim. Everything else (the descriptor table, the trust checks,
 * write/close/connect, the accept and read loops, the event and overflow rings, the poller
 * thread, Node-API) is shared, in shims/native/ (shim.h says where).
 *
 * Changes are batched: `interest` appends to a changelist, and the turn's one kevent() call
 * applies the whole list and fetches the events, with the core's deadline as its timeout.
 * Why a timeout and not an EVFILT_TIMER: the deadline moves nearly every turn, and a timer
 * would cost a changelist entry (and, under libkqueue, a timerfd and an epoll_ctl) each time
 * it moves, plus a timer event to tell from I/O; the timeout costs nothing.
 *
 * Level-triggered (default): EVFILT_READ for IN_READ, EVFILT_WRITE for IN_WRITE, added and
 * deleted as the core's interest changes. Edge-triggered (`edge`): both filters once, with
 * EV_CLEAR, never modified (a listener: EVFILT_READ only). The two filters of a descriptor
 * always share their EV_CLEAR setting: libkqueue keeps one epoll registration per descriptor,
 * and a mix changes both.
 *
 * Events: EVFILT_READ → readable (a listener: connections wait); EV_EOF on it → the peer's FIN
 * (WR_P_HUP: read on to the 0 even after a short read). EVFILT_WRITE → writable; EV_EOF on it
 * with an error → the read side hears of it too. EV_EOF's fflags is the socket's error
 * (ECONNRESET, ECONNREFUSED): kept in the descriptor's entry (wr_fd.err), because libkqueue
 * reads SO_ERROR to fill it in, which clears it: read() then returns 0 instead of
 * ECONNRESET and SO_ERROR says 0 after a refused connect. The shared loops report that error
 * where the kernel's own answer says none. Returned flags are tested with masks (libkqueue
 * leaves EV_ADD in them).
 *
 * Errors of a changelist entry come back as EV_ERROR entries and are reported on their
 * connection (wr_interest_failed), never dropped: on BSD every change has a slot for its
 * error in the same call (a longer list is applied first with EV_RECEIPT); libkqueue returns
 * them only along with a real event (and drops them when the wait times out), so under it the
 * list is always applied first with EV_RECEIPT and a zero timeout, and the wait carries no
 * changes. No wait relies on a lone EV_ERROR entry to end it.
 *
 * Closing: `forget` takes the descriptor's entries out of the changelist (applied after the
 * close, they would fail, or land on a new socket that reused the number) and out of what the
 * poller thread kept; under libkqueue it also deletes both filters, applied at once, because
 * close() does not remove libkqueue's registrations (a reused number would then be added but
 * never fire). BSD's close() removes them itself.
 *
 * The wake is an EVFILT_USER event (macOS, FreeBSD, libkqueue) triggered with NOTE_TRIGGER
 * from any thread; where EVFILT_USER is missing (OpenBSD), a nonblocking pipe watched with
 * EVFILT_READ.
 *
 * The poller thread (main-thread mode) cannot poll(2) the kqueue descriptor (libkqueue's
 * cannot be polled), so it calls kevent() with no changes and keeps what it took for the next
 * turn: in edge mode every event (EV_CLEAR consumed them), in level mode only the wake and
 * errors (the sockets are reported again, but libkqueue's error only once). A descriptor seen
 * twice in a turn (kept, and reported again; or once per filter) is read to its end once
 * (WR_F_RDEND in shim.h).
 *
 * Two more libkqueue differences, met by the contract suite in edge mode, handled under
 * WR_LIBKQUEUE only (real kqueue needs neither):
 *   - it turns one epoll event into a kevent per filter (read and write) and drops those that
 *     find no slot left in the event list; under EV_CLEAR they are lost for good. So edge mode
 *     asks for two slots per registered descriptor (up to libkqueue's own cap of 512 a call),
 *     more than `max`: what the event ring cannot take now waits in the shared ready list.
 *     Past 255 descriptors with both filters ready at once, libkqueue can still drop events;
 *   - with both filters on one descriptor it does not report EV_EOF along with data (only a
 *     later event with nothing left to read says EOF), so in edge mode a short read cannot be
 *     taken for "drained": reads go on to EAGAIN (WR_P_HUP on every read event).
 */
#include "shim.h"

#include <errno.h>
#include <stdlib.h>
#include <sys/event.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#define CHG_CAP 512                /* changelist entries before it is applied early */
#define LIBKQ_MAX 512              /* libkqueue's MAX_KEVENT: the most events one kevent() returns */
#define WAKE_IDENT 0x7772          /* the EVFILT_USER wake's ident (idents are per filter) */
#define U_DEL ((void *)(uintptr_t)1)  /* udata of an EV_DELETE: its error (ENOENT) is no failure */
#define U_WAKE ((void *)(uintptr_t)2) /* udata of the wake pipe's EVFILT_READ (no EVFILT_USER) */

typedef struct {
  int kq;
  int cap;                /* events per kevent at most (the reactor's maxEvents) */
  struct kevent *evs;     /* the turn's events: what the poller kept, then what kevent wrote */
  int n;                  /* how many of evs the last wait filled */
  struct kevent *chg;     /* the changelist, CHG_CAP entries */
  int chgN;
  struct kevent *rcpt;    /* receipts of a changelist applied with EV_RECEIPT, CHG_CAP entries */
  struct kevent *held;    /* what the poller thread's kevent took, for the next turn (cap entries) */
  int heldN;              /* atomic: published by the poller thread, taken by the turn */
  int regFds;             /* descriptors with a registration (libkqueue edge mode sizes its event list by it) */
#ifndef EVFILT_USER
  int wakeRd, wakeWr;     /* the wake pipe */
#endif
} kq_state;

#define KQ(r) ((kq_state *)(r)->bk)

static int kq_wake(wr_reactor *r);

static void free_state(kq_state *s) {
  free(s->evs); free(s->chg); free(s->rcpt); free(s->held); free(s);
}

static int kq_init(wr_reactor *r) {
  kq_state *s = calloc(1, sizeof *s);
  if (!s) return ENOMEM;
  s->cap = r->maxEvents;
#ifdef WR_LIBKQUEUE
  if (r->edge && s->cap < LIBKQ_MAX) s->cap = LIBKQ_MAX; /* room for two events a descriptor: see above */
#endif
  s->evs = calloc((size_t)s->cap, sizeof(struct kevent));
  s->held = calloc((size_t)s->cap, sizeof(struct kevent));
  s->chg = calloc(CHG_CAP, sizeof(struct kevent));
  s->rcpt = calloc(CHG_CAP, sizeof(struct kevent));
  if (!s->evs || !s->held || !s->chg || !s->rcpt) { free_state(s); return ENOMEM; }
  s->kq = kqueue();
  if (s->kq < 0) { int e = errno; free_state(s); return e; }
  fcntl(s->kq, F_SETFD, FD_CLOEXEC); /* kqueues are not inherited by fork; this covers exec */
  struct kevent k;
#ifdef EVFILT_USER
  EV_SET(&k, WAKE_IDENT, EVFILT_USER, EV_ADD | EV_CLEAR, 0, 0, NULL);
#else
  int e0 = wr_wakefd_open(&s->wakeRd, &s->wakeWr);
  if (e0) { close(s->kq); free_state(s); return e0; }
  EV_SET(&k, s->wakeRd, EVFILT_READ, EV_ADD, 0, 0, U_WAKE);
#endif
  if (kevent(s->kq, &k, 1, NULL, 0, NULL) < 0) {
    int e = errno;
#ifndef EVFILT_USER
    wr_wakefd_close(s->wakeRd, s->wakeWr);
#endif
    close(s->kq); free_state(s);
    return e;
  }
  r->bk = s;
  return 0;
}

static void kq_destroy(wr_reactor *r) {
  kq_state *s = KQ(r);
  if (!s) return;
  close(s->kq); /* every registration goes with it */
#ifndef EVFILT_USER
  wr_wakefd_close(s->wakeRd, s->wakeWr);
#endif
  free_state(s);
  r->bk = NULL;
}

static uint8_t filter_bit(short filter) { return filter == EVFILT_READ ? WR_R_READ : WR_R_WRITE; }

/* Failed changelist entries [0, n) of list: each reported once per descriptor (deletes are no
 * failure: the registration is gone either way). */
static void report_errors(wr_reactor *r, const struct kevent *list, int n) {
  int last = -1;
  for (int i = 0; i < n; i++) {
    const struct kevent *e = &list[i];
    if (!(e->flags & EV_ERROR) || e->data == 0 || e->udata == U_DEL) continue;
    int fd = (int)e->ident;
    if (fd == last) continue;
    last = fd;
    wr_interest_failed(r, fd, filter_bit(e->filter), (int)e->data);
  }
}

/* kevent() failed as a whole (ENOMEM, ...) with the changelist in it: which entries were
 * applied is unknown, so every addition is reported failed with that errno. */
static void fail_all(wr_reactor *r, int err) {
  kq_state *s = KQ(r);
  for (int i = 0; i < s->chgN; i++) { s->chg[i].flags = EV_ERROR; s->chg[i].data = err; }
  report_errors(r, s->chg, s->chgN);
}

/* Applies the changelist now, with a receipt for every entry and without taking any event:
 * kevent gets exactly as many slots as changes, so it returns the receipts at once (BSD and
 * libkqueue alike) and every failure is seen. */
static void apply_now(wr_reactor *r) {
  kq_state *s = KQ(r);
  if (s->chgN == 0) return;
  for (int i = 0; i < s->chgN; i++) s->chg[i].flags |= EV_RECEIPT;
  struct timespec zero = { 0, 0 };
  int n;
  do n = kevent(s->kq, s->chg, s->chgN, s->rcpt, s->chgN, &zero); while (n < 0 && errno == EINTR);
  if (n < 0) fail_all(r, errno);
  else report_errors(r, s->rcpt, n);
  s->chgN = 0;
}

static void push(wr_reactor *r, int fd, short filter, unsigned short flags, void *udata) {
  kq_state *s = KQ(r);
  if (s->chgN == CHG_CAP) apply_now(r);
  EV_SET(&s->chg[s->chgN], (uintptr_t)fd, filter, flags, 0, 0, udata);
  s->chgN++;
}

/* Queues the changes that make fd's registration `to`; they reach the kernel with the turn's
 * kevent (a failure is reported then, through wr_interest_failed). */
static int kq_interest(wr_reactor *r, int fd, uint8_t from, uint8_t to) {
  unsigned short add = EV_ADD | ((to & WR_R_EDGE) ? EV_CLEAR : 0);
  wr_fd *f = wr_fd_get(r, fd);
  int listener = f && f->kind == WR_KIND_LISTENER;
  for (int i = 0; i < 2; i++) {
    uint8_t bit = i == 0 ? WR_R_READ : WR_R_WRITE;
    short filter = i == 0 ? EVFILT_READ : EVFILT_WRITE;
    if (bit == WR_R_WRITE && listener) continue; /* a listener is only ever read */
    if ((to & bit) && !(from & bit)) push(r, fd, filter, add, NULL);
    else if (!(to & bit) && (from & bit)) push(r, fd, filter, EV_DELETE, U_DEL);
  }
  if (from == 0 && to != 0) KQ(r)->regFds++;
  else if (from != 0 && to == 0) KQ(r)->regFds--;
  return 0;
}

/* How many events to ask kevent() for, when the turn can serve `max`. */
static int slots(wr_reactor *r, int max) {
#ifdef WR_LIBKQUEUE
  if (r->edge) {
    int want = 2 * (KQ(r)->regFds + 1); /* + 1: the wake */
    if (want > max) max = want;
    if (max > KQ(r)->cap) max = KQ(r)->cap;
  }
#else
  (void)r;
#endif
  return max;
}

/* Before close(fd): nothing of fd may reach the kernel or the next decode after it. */
static int kq_forget(wr_reactor *r, int fd, wr_fd *f) {
  kq_state *s = KQ(r);
  if (f->reg) s->regFds--;
  int keep = 0;
  for (int i = 0; i < s->chgN; i++) if (s->chg[i].ident != (uintptr_t)fd) s->chg[keep++] = s->chg[i];
  s->chgN = keep;
  int held = __atomic_load_n(&s->heldN, __ATOMIC_ACQUIRE);
  for (int i = 0; i < held; i++) if (s->held[i].ident == (uintptr_t)fd && s->held[i].filter != EVFILT_USER) s->held[i].ident = (uintptr_t)-1;
#ifdef WR_LIBKQUEUE
  /* libkqueue keeps registrations past close(): delete both filters now (an ENOENT receipt for
   * one never added is fine). Each entry has its receipt slot, so nothing else is taken. */
  struct kevent d[2], rc[2];
  struct timespec zero = { 0, 0 };
  EV_SET(&d[0], (uintptr_t)fd, EVFILT_READ, EV_DELETE | EV_RECEIPT, 0, 0, U_DEL);
  EV_SET(&d[1], (uintptr_t)fd, EVFILT_WRITE, EV_DELETE | EV_RECEIPT, 0, 0, U_DEL);
  while (kevent(s->kq, d, 2, rc, 2, &zero) < 0 && errno == EINTR) {}
#endif
  return 0;
}

static struct timespec *timeout_of(int timeoutMs, struct timespec *ts) {
  if (timeoutMs < 0) return NULL; /* no deadline: until an event or a wake */
  ts->tv_sec = timeoutMs / 1000;
  ts->tv_nsec = (long)(timeoutMs % 1000) * 1000000L;
  return ts;
}

/*
 * One kevent() a turn: the changelist in, up to max events out, the core's deadline as the
 * timeout. What the poller thread kept comes first (and then nothing may wait).
 */
static int kq_wait(wr_reactor *r, int max, int timeoutMs) {
  kq_state *s = KQ(r);
  max = slots(r, max);
  if (max > s->cap) max = s->cap;
  int n0 = __atomic_load_n(&s->heldN, __ATOMIC_ACQUIRE);
  if (n0 > 0) {
    memcpy(s->evs, s->held, sizeof(struct kevent) * (size_t)n0);
    __atomic_store_n(&s->heldN, 0, __ATOMIC_RELEASE);
    timeoutMs = 0;
  }
  int room = max - n0;
  if (room < 0) room = 0;
#ifdef WR_LIBKQUEUE
  apply_now(r); /* libkqueue drops an entry's error when the wait then times out */
#else
  if (s->chgN > room) apply_now(r); /* BSD: an error with no slot left aborts the rest of the list */
#endif
  s->n = n0;
  if (room == 0) return n0;
  struct timespec ts;
  int n, eintrs = 0;
  for (;;) {
    n = kevent(s->kq, s->chg, s->chgN, s->evs + n0, room, timeout_of(timeoutMs, &ts));
    if (n >= 0) break;
    int e = errno;
    /* EINTR: the changes were applied before the wait began; retry only a zero wait (a
     * blocking one ends: the caller runs a turn and comes back) */
    if (e == EINTR) { s->chgN = 0; if (timeoutMs == 0 && ++eintrs < WR_EINTR_RETRIES) continue; n = 0; break; }
    fail_all(r, e);
    n = 0;
    break;
  }
  s->chgN = 0;
  s->n = n0 + n;
  return s->n;
}

/* What one event means for its descriptor. */
static void decode_one(wr_reactor *r, const struct kevent *e) {
  int fd = (int)e->ident;
  wr_fd *f = wr_fd_get(r, fd);
  if (!f || f->kind == WR_KIND_NONE) return; /* closed since (or a forgotten, kept event: ident -1) */
  uint8_t pend;
  int eof = (e->flags & EV_EOF) != 0;
  if (e->filter == EVFILT_READ) {
    pend = eof ? (WR_P_READ | WR_P_HUP) : WR_P_READ;
#ifdef WR_LIBKQUEUE
    if (r->edge) pend |= WR_P_HUP; /* no EV_EOF along with data: read on to EAGAIN (see above) */
#endif
  } else if (e->filter == EVFILT_WRITE) pend = eof && e->fflags ? (WR_P_WRITE | WR_P_READ | WR_P_HUP) : WR_P_WRITE;
  else return;
  if (eof && e->fflags && !f->err && e->fflags < 256) f->err = (uint8_t)e->fflags;
  wr_ready(r, fd, pend);
}

static void kq_decode(wr_reactor *r, int n) {
  kq_state *s = KQ(r);
  for (int i = 0; i < n; i++) {
    const struct kevent *e = &s->evs[i];
    if (e->flags & EV_ERROR) { /* a changelist entry's failure (data 0: a receipt, no failure) */
      if (e->data != 0) report_errors(r, e, 1);
      continue;
    }
#ifdef EVFILT_USER
    if (e->filter == EVFILT_USER) { r->woken = 1; r->stats[S_WAKEUPS]++; continue; }
#else
    if (e->udata == U_WAKE) { wr_wakefd_drain(s->wakeRd); r->woken = 1; r->stats[S_WAKEUPS]++; continue; }
#endif
    decode_one(r, e);
  }
}

/* Any thread (libkqueue drops its lock across a wait for exactly this). */
static int kq_wake(wr_reactor *r) {
  kq_state *s = KQ(r);
#ifdef EVFILT_USER
  struct kevent k;
  EV_SET(&k, WAKE_IDENT, EVFILT_USER, 0, NOTE_TRIGGER, 0, NULL);
  return kevent(s->kq, &k, 1, NULL, 0, NULL) < 0 ? errno : 0;
#else
  return wr_wakefd_signal(s->wakeWr);
#endif
}

/* The poller thread: waits in kevent() itself and keeps what the next turn needs. */
static void kq_poll_wait(wr_reactor *r, int timeoutMs) {
  kq_state *s = KQ(r);
  if (__atomic_load_n(&s->heldN, __ATOMIC_ACQUIRE) > 0) return; /* the last take is not served yet */
  struct timespec ts;
  int n = kevent(s->kq, NULL, 0, s->held, s->cap, timeout_of(timeoutMs, &ts)); /* all it has room for: they are kept */
  if (n <= 0) return;
  int keep = 0;
  for (int i = 0; i < n; i++) {
#ifdef EVFILT_USER
    int wake = s->held[i].filter == EVFILT_USER;
#else
    int wake = s->held[i].udata == U_WAKE;
#endif
    /* level mode: sockets are reported again, but not an error libkqueue read from SO_ERROR
     * (which cleared it): keep an EV_EOF that carries one */
    int err = (s->held[i].flags & EV_EOF) && s->held[i].fflags;
    if (r->edge || wake || err) s->held[keep++] = s->held[i];
  }
  __atomic_store_n(&s->heldN, keep, __ATOMIC_RELEASE);
}

const wr_backend wr_kqueue_backend = {
  .name = "kqueue",
  .init = kq_init,
  .destroy = kq_destroy,
  .interest = kq_interest,
  .forget = kq_forget,
  .wait = kq_wait,
  .decode = kq_decode,
  .wake = kq_wake,
  .poll_wait = kq_poll_wait,
};
