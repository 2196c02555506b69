/*
 * The io_uring backend (Linux 6.1+): a completion backend behind the same ops table as epoll
 * and kqueue (shim.h says how it fits). Raw syscalls and <linux/io_uring.h>, no liburing
 * (docs/backends.md: why).
 *
 * One ring per reactor, set up SINGLE_ISSUER | DEFER_TASKRUN when turns block in it
 * (wait "block", serve's worker mode): the kernel's work for our operations (the received data,
 * the completions) runs only inside our own io_uring_enter(GETEVENTS), on the reactor's thread,
 * and the kernel can count the completions waiting before it wakes us (coalesced waits, below).
 * With a poller thread (wait "thread") the ring has no DEFER_TASKRUN (ur_init says why). A kernel that refuses those flags (or
 * io_uring altogether: seccomp, kernel.io_uring_disabled) fails init with its errno, and the
 * JS side falls back to epoll with one line (host/backends/uring/uring.ts).
 *
 * What the core asks for, as operations:
 *   - IN_READ on a listener: a one-shot POLL_ADD(POLLIN); its completion is served as epoll's
 *     readable listener is (wr_ready: accept4 up to the turn's acceptBudget, EMFILE counted and
 *     shed as there), and it is armed again next turn while wanted (level). Not a multishot
 *     ACCEPT: that takes the whole backlog inline at each wake-up, whatever the core's budgets,
 *     and clients past them held open descriptors the descriptor budget never counted (a process
 *     under RLIMIT_NOFILE 128 with a budget of 96 reached 128 and failed its own open()s; found
 *     by review). While HOST_ACCEPTS_PAUSED is set, an armed poll is cancelled and the listener
 *     parked (wr_park_listener), and armed again when it clears.
 *   - IN_READ on a connection: one multishot RECV with buffer selection from the provided-buffer
 *     ring, which is the supply ring handed to the kernel: chunks the core put in the supply
 *     ring are moved into the kernel's buffer ring (supplyHead advances as they are), each a
 *     whole chunk, and a receive completion names the chunk it filled (its buffer id). An idle
 *     connection holds no chunk. The buffer ring holds up to `target` chunks (64, doubled each
 *     turn that saw a receive run out, up to a quarter of the pool, as the supply ring), so the
 *     pool is not parked in the kernel while the server is quiet.
 *     A receive that runs out (ENOBUFS) is parked like a starved epoll read (wr_starve) and
 *     re-armed when chunks come back; HOST_READS_PAUSED stops moving chunks into the ring.
 *   - IN_WRITE (and a connect in progress): a one-shot POLL_ADD(POLLOUT); its completion is
 *     served like epoll's EPOLLOUT (wr_ready), and re-armed next turn if still wanted (level).
 *   - WRITE: SEND (one chunk) or SENDMSG (a chain, up to 64 chunks) with MSG_DONTWAIT, so a
 *     full socket answers at once with what fitted, or EAGAIN, as epoll's send does (the core
 *     then waits for EV_WRITABLE), instead of parking a send that a stalled peer would hold
 *     forever. Its completion is the EV_WRITE_DONE. A longer chain goes 64 chunks a send, the
 *     next submitted from the completion of the one the kernel took whole, within the same turn
 *     (on_send, ur_decode): one EV_WRITE_DONE for the whole WRITE, as epoll's sendmsg loop gives.
 *   - CLOSE: ASYNC_CANCEL of every operation on the descriptor, hard-linked to a CLOSE
 *     operation, so the cancel finds the descriptor's file before its number is free; the
 *     descriptor's generation moves on, and any completion still to come for it is stale:
 *     dropped, its buffer (a chunk still the host's) put back into the ring, an accepted
 *     descriptor closed.
 * Shutdown and connect stay plain syscalls (one each, per connection, not per message); a
 * shutdown first submits the sends queued before it.
 *
 * One io_uring_enter per turn submits what the turn queued and waits, together. The wait asks
 * for as many arrivals as came last turn or as this turn sends replies (each may bring the
 * peer's next message), at most 32, plus the sends just submitted (they complete during the
 * submit), or 200 µs, whichever first (EXT_ARG timeout): under load each turn serves a batch,
 * with a few busy connections among many idle ones it waits for what they can deliver; after a
 * turn with no arrival it sleeps until one, or the core's deadline (idle: no CPU). The wake is
 * an eventfd with a multishot POLL_ADD in the ring.
 *
 * The poller thread (wait "thread") must not reap (only the reactor's thread turns). Its ring is
 * set up without DEFER_TASKRUN (ur_init says why); it polls the ring's descriptor and the wake
 * eventfd, and leaves everything to the next turn.
 */
#include "shim.h"

#ifdef WR_BACKEND_URING
#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sched.h>
#include <unistd.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <linux/io_uring.h>

#if !defined(IORING_RECV_MULTISHOT) || !defined(IORING_SETUP_DEFER_TASKRUN) || !defined(IORING_ASYNC_CANCEL_FD)
/* Kernel headers older than Linux 6.1: the backend exists, and says why it cannot start. */
static int ur_old(wr_reactor *r) { (void)r; return ENOSYS; }
static void ur_none(wr_reactor *r) { (void)r; }
static int ur_interest0(wr_reactor *r, int fd, uint8_t from, uint8_t to) { return ENOSYS; }
static int ur_wait0(wr_reactor *r, int max, int t) { return 0; }
static void ur_decode0(wr_reactor *r, int n) {}
static int ur_wake0(wr_reactor *r) { return ENOSYS; }
static void ur_poll0(wr_reactor *r, int t) {}
const wr_backend wr_uring_backend = { .name = "uring", .init = ur_old, .destroy = ur_none, .interest = ur_interest0,
  .wait = ur_wait0, .decode = ur_decode0, .wake = ur_wake0, .poll_wait = ur_poll0 };
#else

enum { SUBMIT_TRIES = 1000, SQ_ENTRIES = 2048, CQ_ENTRIES = 16384, BR_MAX = 32768, TARGET0 = 64, WANT_MAX = 32, MAX_IOV = 64, WCTX_BLOCK = 256, LISTENERS_MAX = 256 };
static const long long COALESCE_NS = 200000; /* a coalesced wait ends after 200 µs */

/* user_data: tag (8 bits) | generation or write context (24 bits) | descriptor (32 bits) */
enum { T_WAKE = 1, T_LISTEN, T_RECV, T_POLLOUT, T_SEND, T_CANCEL, T_CLOSE };
#define UD(tag, x, fd) (((uint64_t)(tag) << 56) | ((uint64_t)((x) & 0xFFFFFF) << 32) | (uint32_t)(fd))
#define UD_TAG(u) ((int)((u) >> 56))
#define UD_X(u) ((uint32_t)((u) >> 32) & 0xFFFFFF)
#define UD_FD(u) ((int)(uint32_t)(u))

/* What is in flight for a descriptor, in wr_fd.pad (free in the other backends) */
#define O_RD 1   /* its RECV (a listener: its POLL_ADD(POLLIN)) is armed */
#define O_RDX 2  /* ... and a cancel of it is on its way */
#define O_WR 4   /* its POLL_ADD(POLLOUT) is armed */
#define O_WRX 8  /* ... and a cancel of it is on its way */
#define O_SQ 16  /* a send of it was queued since the last submit, maybe not submitted yet (ur_shutdown) */
#define O_WIN 32 /* a WRITE longer than one window is in flight: its next windows come from completions */
#define O_SHUT 64 /* a SHUTDOWN waits for that WRITE's last window (ur_shutdown, on_send) */

/* A write in flight: what its completion posts. 24 bytes, so the contexts of a turn's sends
 * (hundreds at 1,000 busy connections) share a few cache lines: with the msghdr inside (1,104
 * bytes each), reading one back in on_send was a cache miss, 60% of the shim's per-completion
 * time in a 1,000-connection profile. */
typedef struct wctx {
  uint32_t slot, gen, ugen, bytes; /* bytes: the WRITE's whole count (a send that does less: EAGAIN) */
  int32_t fd;
  union {
    uint32_t nextFree; /* on the free list */
    uint32_t windowed; /* in flight: 1 if the chain is longer than one send's MAX_IOV chunks (its place: the wvec) */
  };
} wctx;
_Static_assert(sizeof(wctx) == 24, "a send context stays 24 bytes: the comment above says why");
/* The msghdr the kernel reads at submit, for a write of several chunks (SENDMSG) only; beside its
 * wctx, at the same index. A chain longer than MAX_IOV chunks goes as a send per window of up to
 * MAX_IOV chunks, the next submitted from the completion of the one before (on_send), and its
 * place in the chain is kept here, read only by those writes: `next`, the chunk the next window
 * starts at (always at its start: a window follows only one the kernel took whole), `done`, the
 * bytes the windows before this one moved, `want`, the bytes this window holds (before a fault
 * cut it: the kernel taking less is a short send). */
typedef struct wvec {
  struct msghdr mh;
  struct iovec iov[MAX_IOV];
  uint32_t next, done, want;
} wvec;

typedef struct {
  int ring;
  unsigned *sqHead, *sqTail, *sqMask, *sqArray, *sqFlags, *cqHead, *cqTail, *cqMask;
  unsigned sqEntries, sqLocal, toSubmit, sendsNow;
  unsigned followUps; /* next windows of long writes queued by this turn's completions (on_send), submitted before it ends */
  int carried; /* the last wait's enter left submissions queued (ur_shutdown) */
  struct io_uring_sqe *sqes;
  struct io_uring_cqe *cqes;
  void *ringMem; size_t ringSz; size_t sqesSz;
  int wakefd;
  /* the provided-buffer ring (set up at the first wait: the core's memory is attached by then) */
  struct io_uring_buf_ring *br;
  size_t brSz;
  /* provided: chunks the host has out of the pool for receives, in the kernel's ring or held with
   * their completion. It counts held ones on purpose (feed stops at the target for both): so the
   * host never holds more than target (at most a quarter of the pool) out of it. Counting only the
   * ring's, as review suggested, let held chunks plus a refilled ring drain a small pool to its
   * reserve while reads were paused, and the held ones wait for the pause to end: connections
   * never saw their peers' FIN (the fuzz gate failed once in a full test run: 46 chunks of 512 B;
   * that scenario with two CPU hogs beside it failed 2-3 runs in 9 with that change, 0 in 21
   * without). */
  unsigned brEntries, brTail, provided, target, targetMax;
  uint16_t *bidFree; unsigned bidTop; /* buffer ids not in the ring */
  uint32_t *bidChunk;                 /* buffer id -> chunk */
  int enobufsSeen;
  /* descriptor generations (the 24 bits of user_data), grown with the table */
  uint32_t *ugen; int ugenCap;
  /* write contexts: blocks that never move (an SQE not yet submitted points into one) */
  wctx **wblocks; wvec **wvecs; uint32_t wblockN, wfree;
  int listeners[LISTENERS_MAX]; int nListeners;
  unsigned lastArrivals;
  /* Completions held back for a later turn, in arrival order: any that would post an event
   * when the event ring is full, receives past a connection's readsPerConn this turn or while
   * reads are paused (their buffers stay the host's meanwhile). A descriptor with completions
   * held has all its later ones held too, so order holds. */
  struct io_uring_cqe *held; uint32_t heldN, heldCap;
  uint32_t *heldFor;             /* per descriptor: its completions in `held` */
  uint32_t *readTurn, *readN;    /* per descriptor: the turn its reads were last counted, and how many */
  uint32_t *keptTurn;            /* per descriptor: the turn one of its held completions was kept again */
  uint32_t turnNo;
  uint32_t hostFlags, readsPerConn; /* the core's header words, read once per decode (it does not run meanwhile) */
  int heldRetry;                 /* something was held for a reason the next turn clears (budget, room, order) */
  uint32_t heldPaused;           /* the pause flags (K_HOST_*_PAUSED) that held something: their end is work too */
  int broken;                    /* a submit failed for good (wr_fail): SQEs go nowhere from now on */
  struct io_uring_sqe scratch;   /* ... but here, so the queue is not overwritten while the reactor ends */
} ur_state;

#define UR(r) ((ur_state *)(r)->bk)

static int sys_setup(unsigned entries, struct io_uring_params *p) { return (int)syscall(__NR_io_uring_setup, entries, p); }
static int sys_enter(int fd, unsigned submit, unsigned wait, unsigned flags, void *arg, size_t argsz) {
  return (int)syscall(__NR_io_uring_enter, fd, submit, wait, flags, arg, argsz);
}
static int sys_register(int fd, unsigned op, void *arg, unsigned n) { return (int)syscall(__NR_io_uring_register, fd, op, arg, n); }

/* ── descriptor generations ─────────────────────────────────────────────────────────────── */
static uint32_t ugen_of(ur_state *s, int fd) { return fd >= 0 && fd < s->ugenCap ? s->ugen[fd] : 0; }
static int ugen_fit(ur_state *s, int fd) {
  if (fd < s->ugenCap) return 0;
  int ncap = s->ugenCap ? s->ugenCap : 1024;
  while (ncap <= fd) ncap *= 2;
  uint32_t **arrays[5] = { &s->ugen, &s->heldFor, &s->readTurn, &s->readN, &s->keptTurn };
  for (int i = 0; i < 5; i++) {
    uint32_t *n = realloc(*arrays[i], sizeof(uint32_t) * (size_t)ncap);
    if (!n) return ENOMEM; /* ugenCap unchanged: the bigger blocks so far are simply unused */
    memset(n + s->ugenCap, 0, sizeof(uint32_t) * (size_t)(ncap - s->ugenCap));
    *arrays[i] = n;
  }
  s->ugenCap = ncap;
  return 0;
}

/* ── the submission queue ───────────────────────────────────────────────────────────────── */
static unsigned sq_room(ur_state *s) { return s->sqEntries - (s->sqLocal - __atomic_load_n(s->sqHead, __ATOMIC_ACQUIRE)); }
static void submit_now(wr_reactor *r) {
  ur_state *s = UR(r);
  __atomic_store_n(s->sqTail, s->sqLocal, __ATOMIC_RELEASE);
  int tries = 0;
  while (s->toSubmit) {
    int n = sys_enter(s->ring, s->toSubmit, 0, 0, NULL, 0);
    r->stats[S_U_ENTERS]++;
    if (n < 0) {
      /* EAGAIN (no memory for requests now), EBUSY (completions overflowing): a while, then the
       * reactor fails loudly rather than spin here for ever */
      if (errno == EAGAIN || errno == EBUSY) r->stats[S_U_BUSY]++;
      if ((errno == EINTR || errno == EAGAIN || errno == EBUSY) && ++tries < SUBMIT_TRIES) { if (errno != EINTR) sched_yield(); continue; }
      wr_fail(r, errno, "io_uring_enter submitting ahead of the turn's wait"); s->toSubmit = 0; s->broken = 1; return;
    }
    s->toSubmit -= (unsigned)n > s->toSubmit ? s->toSubmit : (unsigned)n;
  }
  s->carried = 0;
}

/* A zeroed SQE; a full queue is submitted first (an extra enter: thousands queued in one turn). */
static struct io_uring_sqe *sqe_get(wr_reactor *r) {
  ur_state *s = UR(r);
  if (!s->broken && sq_room(s) == 0) submit_now(r);
  if (s->broken || sq_room(s) == 0) { memset(&s->scratch, 0, sizeof s->scratch); return &s->scratch; } /* a ring that failed */
  struct io_uring_sqe *q = &s->sqes[s->sqLocal & *s->sqMask];
  memset(q, 0, sizeof *q);
  s->sqLocal++;
  s->toSubmit++;
  r->stats[S_U_SQES]++;
  return q;
}

static void arm_wake(wr_reactor *r) {
  struct io_uring_sqe *q = sqe_get(r);
  q->opcode = IORING_OP_POLL_ADD;
  q->fd = UR(r)->wakefd;
  q->poll32_events = POLLIN;
  q->len = IORING_POLL_ADD_MULTI;
  q->user_data = UD(T_WAKE, 0, 0);
}

static void cancel_op(wr_reactor *r, uint64_t ud) {
  struct io_uring_sqe *q = sqe_get(r);
  q->opcode = IORING_OP_ASYNC_CANCEL;
  q->fd = -1;
  q->addr = ud;
  q->flags = IOSQE_CQE_SKIP_SUCCESS;
  q->user_data = UD(T_CANCEL, 0, 0);
}

/* ── the provided-buffer ring: the supply ring handed to the kernel ─────────────────────── */
static int br_setup(wr_reactor *r) {
  ur_state *s = UR(r);
  /* Entries for the whole pool (the kernel can never hold more chunks than there are); how many
   * it holds at a time is `target`, below. */
  unsigned n = 8;
  while (n < r->chunkCount && n < BR_MAX) n <<= 1;
  s->brSz = (size_t)n * sizeof(struct io_uring_buf);
  void *m = mmap(NULL, s->brSz, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (m == MAP_FAILED) return errno;
  s->bidFree = malloc(sizeof(uint16_t) * n);
  s->bidChunk = malloc(sizeof(uint32_t) * n);
  struct io_uring_buf_reg reg = { .ring_addr = (uint64_t)(uintptr_t)m, .ring_entries = n, .bgid = 0 };
  int e = !s->bidFree || !s->bidChunk ? ENOMEM : sys_register(s->ring, IORING_REGISTER_PBUF_RING, &reg, 1) < 0 ? errno : 0;
  if (e) { munmap(m, s->brSz); free(s->bidFree); free(s->bidChunk); s->bidFree = NULL; s->bidChunk = NULL; return e; }
  s->br = m; s->brEntries = n; s->brTail = 0; s->provided = 0;
  /* At most a quarter of the pool waits in the kernel's ring, as the core keeps at most a
   * quarter in the supply ring: a chunk in the ring is out of the pool until data comes for it,
   * so more would leave too little for writes, and a pause for pool pressure (which arms no
   * receive) could then wait for chunks that only receives would use. */
  s->targetMax = r->chunkCount / 4 < n ? r->chunkCount / 4 : n;
  if (s->targetMax < 1) s->targetMax = 1;
  s->target = TARGET0 < s->targetMax ? TARGET0 : s->targetMax;
  for (unsigned i = 0; i < n; i++) s->bidFree[i] = (uint16_t)(n - 1 - i);
  s->bidTop = n;
  return 0;
}

static void br_put(ur_state *s, uint16_t bid, uint8_t *addr, uint32_t len) {
  struct io_uring_buf *e = &s->br->bufs[s->brTail & (s->brEntries - 1)];
  e->addr = (uint64_t)(uintptr_t)addr;
  e->len = len;
  e->bid = bid;
  s->brTail++;
  s->provided++;
}

/* Moves chunks from the supply ring into the kernel's buffer ring, up to the target. */
static void feed(wr_reactor *r) {
  ur_state *s = UR(r);
  if (WR_HDR(r, hostFlags) & K_HOST_READS_PAUSED) return;
  unsigned moved = 0;
  while (s->provided < s->target && s->bidTop > 0 && r->supHead != r->supTail) {
    uint32_t c = wr_supply_at(r, r->supHead);
    r->supHead++;
    moved++;
    if (!WR_CHUNK_OK(r, c)) {
      wr_violation(r, "supply ring entry %u names chunk %u, past the chunk count (%u)", r->supHead - 1, c, r->chunkCount);
      continue;
    }
    uint16_t bid = s->bidFree[--s->bidTop];
    s->bidChunk[bid] = c;
    br_put(s, bid, wr_chunk_data(r, c), r->chunkSize);
  }
  if (moved) {
    WR_HDR_STORE(r, supplyHead, r->supHead);
    __atomic_store_n(&s->br->tail, (uint16_t)s->brTail, __ATOMIC_RELEASE);
  }
  r->stats[S_U_BUFFERS] = s->provided;
}

/* ── interest → operations ──────────────────────────────────────────────────────────────── */
static void listener_add(ur_state *s, int fd) {
  for (int i = 0; i < s->nListeners; i++) if (s->listeners[i] == fd) return;
  if (s->nListeners < LISTENERS_MAX) s->listeners[s->nListeners++] = fd;
}
static void listener_remove(ur_state *s, int fd) {
  for (int i = 0; i < s->nListeners; i++) if (s->listeners[i] == fd) { s->listeners[i] = s->listeners[--s->nListeners]; return; }
}

static int arm_read(wr_reactor *r, int fd, wr_fd *f) {
  ur_state *s = UR(r);
  if (ugen_fit(s, fd)) return ENOMEM;
  struct io_uring_sqe *q = sqe_get(r);
  q->fd = fd;
  if (f->kind == WR_KIND_LISTENER) {
    /* readiness, not a multishot ACCEPT (the header says why); the accepts are the shared
     * accept4 path's, with its faults (faults.c) */
    q->opcode = IORING_OP_POLL_ADD;
    q->poll32_events = POLLIN;
    q->user_data = UD(T_LISTEN, s->ugen[fd], fd);
    listener_add(s, fd);
  } else {
    q->opcode = IORING_OP_RECV;
    q->flags = IOSQE_BUFFER_SELECT;
    q->buf_group = 0;
    q->ioprio = IORING_RECV_MULTISHOT;
    q->user_data = UD(T_RECV, s->ugen[fd], fd);
  }
  f->pad |= O_RD;
  return 0;
}

static int arm_write(wr_reactor *r, int fd, wr_fd *f) {
  ur_state *s = UR(r);
  if (ugen_fit(s, fd)) return ENOMEM;
  struct io_uring_sqe *q = sqe_get(r);
  q->opcode = IORING_OP_POLL_ADD;
  q->fd = fd;
  q->poll32_events = POLLOUT;
  q->user_data = UD(T_POLLOUT, s->ugen[fd], fd);
  f->pad |= O_WR;
  return 0;
}

/*
 * Makes what is armed for fd match `to` (WR_R_* bits, level-triggered: edge mode is off here).
 * Arming while a cancel of the same operation is on its way waits for that cancel's final
 * completion, which re-arms it then (decode: `rearm`), so two never run at once.
 */
static int ur_interest(wr_reactor *r, int fd, uint8_t from, uint8_t to) {
  (void)from;
  ur_state *s = UR(r);
  wr_fd *f = &r->fds[fd];
  uint32_t g = ugen_of(s, fd);
  uint8_t eff = to;
  uint32_t paused = WR_HDR(r, hostFlags) & (f->kind == WR_KIND_CONN ? K_HOST_READS_PAUSED : f->kind == WR_KIND_LISTENER ? K_HOST_ACCEPTS_PAUSED : 0);
  if ((to & WR_R_READ) && !(f->pad & O_RD) && paused) {
    /* reads (or accepts) are paused: armed once they resume (wr_unstarve), so nothing is read
     * meanwhile, and a listener's poll is not armed only for this turn's pause_accepts to cancel
     * it (when it was a multishot accept, that took the whole backlog at the submit first). */
    wr_park_listener(r, fd, f);
    eff &= (uint8_t)~WR_R_READ;
  }
  if ((eff & WR_R_READ) && !(f->pad & O_RD)) { int e = arm_read(r, fd, f); if (e) return e; }
  else if (!(eff & WR_R_READ) && (f->pad & O_RD) && !(f->pad & O_RDX)) {
    cancel_op(r, UD(f->kind == WR_KIND_LISTENER ? T_LISTEN : T_RECV, g, fd));
    f->pad |= O_RDX;
  }
  if ((eff & WR_R_WRITE) && !(f->pad & O_WR)) { int e = arm_write(r, fd, f); if (e) return e; }
  else if (!(eff & WR_R_WRITE) && (f->pad & O_WR) && !(f->pad & O_WRX)) {
    cancel_op(r, UD(T_POLLOUT, g, fd));
    f->pad |= O_WRX;
  }
  if (eff == to) return 0;
  f->reg = eff;
  return -1;
}

/* An operation of fd ended for good (its final completion): what it was armed for, if the
 * registration still wants it, is armed again at the next turn's interest pass. */
static void rearm(wr_reactor *r, int fd, wr_fd *f, uint8_t bit) {
  f->reg &= (uint8_t)~bit;
  wr_mark_chg(r, fd, f);
}

/* Before the core's CLOSE: cancel everything of fd, then close it, in that order, in the ring. */
/* The CLOSE is the ring's, so the queue sampler's close handoff (queues.c) is not offered: a
 * sweep that announced fd just before may ask its two ioctls after the ring closed it, of a
 * number reused by then (another socket's queue depths in one sweep's totals) or of no socket
 * (the ioctl fails; not counted). Stats only; never a close of
 * the wrong descriptor, since the sampler closes only what was handed to it. */
static int ur_forget(wr_reactor *r, int fd, wr_fd *f) {
  ur_state *s = UR(r);
  if (f->kind == WR_KIND_LISTENER) listener_remove(s, fd);
  if (fd < s->ugenCap) s->ugen[fd] = (s->ugen[fd] + 1) & 0xFFFFFF; /* its completions still to come are stale */
  int armed = (f->pad & (O_RD | O_WR)) != 0;
  f->pad = 0;
  /* Always an operation, even with nothing armed: a send queued this turn for fd
   * must reach the socket before the close does (the peer gets every byte, then the FIN). */
  struct io_uring_sqe *q;
  /* The cancel and the CLOSE linked to it go to the kernel in one batch: a link cut at the end
   * of a batch runs its head in a worker, and the CLOSE (next batch, inline) would come first,
   * leaving the armed operations holding the socket open (no FIN) and their cancel to hit a
   * reused number. */
  if (armed && sq_room(s) < 2) submit_now(r);
  if (armed) {
    q = sqe_get(r);
    q->opcode = IORING_OP_ASYNC_CANCEL;
    q->fd = fd;
    q->cancel_flags = IORING_ASYNC_CANCEL_FD | IORING_ASYNC_CANCEL_ALL;
    q->flags = IOSQE_IO_HARDLINK | IOSQE_CQE_SKIP_SUCCESS;
    q->user_data = UD(T_CANCEL, 0, fd);
  }
  q = sqe_get(r);
  q->opcode = IORING_OP_CLOSE;
  q->fd = fd;
  q->flags = IOSQE_CQE_SKIP_SUCCESS;
  q->user_data = UD(T_CLOSE, 0, fd);
  return 1;
}

/* ── writes ─────────────────────────────────────────────────────────────────────────────── */
static wctx *wctx_at(ur_state *s, uint32_t i) { return &s->wblocks[i / WCTX_BLOCK][i % WCTX_BLOCK]; }
static wvec *wvec_at(ur_state *s, uint32_t i) { return &s->wvecs[i / WCTX_BLOCK][i % WCTX_BLOCK]; }

static uint32_t wctx_alloc(ur_state *s) {
  if (s->wfree == UINT32_MAX) {
    if (s->wblockN >= (0xFFFFFFu / WCTX_BLOCK)) return UINT32_MAX;
    wctx **nb = realloc(s->wblocks, sizeof(wctx *) * (s->wblockN + 1));
    if (!nb) return UINT32_MAX;
    s->wblocks = nb;
    wvec **nv = realloc(s->wvecs, sizeof(wvec *) * (s->wblockN + 1));
    if (!nv) return UINT32_MAX;
    s->wvecs = nv;
    wctx *b = malloc(sizeof(wctx) * WCTX_BLOCK);
    wvec *v = malloc(sizeof(wvec) * WCTX_BLOCK);
    if (!b || !v) { free(b); free(v); return UINT32_MAX; }
    s->wblocks[s->wblockN] = b;
    s->wvecs[s->wblockN] = v;
    for (uint32_t i = WCTX_BLOCK; i > 0; i--) { b[i - 1].nextFree = s->wfree; s->wfree = s->wblockN * WCTX_BLOCK + i - 1; }
    s->wblockN++;
  }
  uint32_t i = s->wfree;
  s->wfree = wctx_at(s, i)->nextFree;
  return i;
}
static void wctx_free(ur_state *s, uint32_t i) { wctx_at(s, i)->nextFree = s->wfree; s->wfree = i; }

/*
 * Queues the send of one window of write w: up to MAX_IOV chunks of its chain from chunk c, with
 * `left` of the WRITE's bytes still to move and `done` moved by the windows before. One chunk (the
 * usual reply) stays in one0 and goes as a SEND, its wvec untouched; more go as a SENDMSG. Each
 * chunk is checked again as it is used (O(1)), as epoll's wr_write does: the chain was checked
 * whole before the first window (check_chain), and a later window must not be steered outside a
 * chunk either. Returns 0 (queued), or the errno the WRITE ends with: EINVAL (the chain changed:
 * the violation is recorded), or the faults build's draw.
 */
static uint32_t send_window(wr_reactor *r, uint32_t w, wr_fd *f, uint32_t c, uint32_t left, uint32_t done) {
  ur_state *s = UR(r);
  wctx *x = wctx_at(s, w);
  int n = 0;
  uint32_t want = 0;
  struct iovec one0 = { 0 }, *iov = &one0;
  while (n < MAX_IOV && want < left) {
    wr_chunk k;
    if (c == K_NONE || !WR_CHUNK_OK(r, c)) break;
    wr_chunk_read(r, c, &k);
    if (k.start > r->chunkSize || k.len > r->chunkSize - k.start) break;
    uint32_t take = k.len < left - want ? k.len : left - want;
    if (n == 1) { iov = wvec_at(s, w)->iov; iov[0] = one0; }
    iov[n].iov_base = wr_chunk_data(r, c) + k.start;
    iov[n].iov_len = take;
    n++; want += take;
    c = k.next;
  }
  if (want < left && n < MAX_IOV) { /* the chain changed since it was checked */
    wr_violation(r, "WRITE of slot %u gen %u: the chain changed while it was written", x->slot, x->gen);
    return EINVAL;
  }
  /* more than this window: where the next one starts, for this one's completion (on_send) */
  if (want < left) x->windowed = 1;
  if (x->windowed) { wvec *v = wvec_at(s, w); v->next = c; v->done = done; v->want = want; }
#ifdef WR_FAULTS
  /* the faults build (faults.c): what a send can meet, decided before it is submitted, for each
   * window as epoll's wr_sys_sendmsg decides it for each sendmsg */
  uint32_t failWith = f->fault;
  if (!failWith && wr_fault(r, WR_FK_RESET)) failWith = f->fault = ECONNRESET;
  if (!failWith && wr_fault(r, WR_FK_EPIPE)) failWith = f->fault = EPIPE;
  if (!failWith && wr_fault(r, WR_FK_ENOBUFS)) failWith = ENOBUFS;
  if (!failWith && wr_fault(r, WR_FK_WRITE_EAGAIN)) failWith = EAGAIN; /* writability "comes back": POLLOUT says so at once */
  if (failWith) return failWith;
  if (want > 1 && wr_fault(r, WR_FK_WRITE_SHORT)) { /* a real prefix: cut the iovecs (v->want keeps the whole window: a short send) */
    uint32_t keep = 1 + (uint32_t)wr_fault_below(r, WR_FK_WRITE_SHORT, want - 1), i = 0;
    for (; i < (uint32_t)n && keep > iov[i].iov_len; i++) keep -= (uint32_t)iov[i].iov_len;
    iov[i].iov_len = keep;
    n = (int)i + 1;
  }
#endif
  int fd = x->fd;
  struct io_uring_sqe *q = sqe_get(r);
  f->pad |= O_SQ;
  q->fd = fd;
  q->msg_flags = MSG_NOSIGNAL | MSG_DONTWAIT;
  if (n == 1) {
    q->opcode = IORING_OP_SEND;
    q->addr = (uint64_t)(uintptr_t)iov[0].iov_base;
    q->len = (uint32_t)iov[0].iov_len;
  } else {
    struct msghdr *mh = &wvec_at(s, w)->mh;
    memset(mh, 0, sizeof *mh);
    mh->msg_iov = iov;
    mh->msg_iovlen = (size_t)n;
    q->opcode = IORING_OP_SENDMSG;
    q->addr = (uint64_t)(uintptr_t)mh;
    q->len = 1;
  }
  q->user_data = UD(T_SEND, w, fd);
  r->stats[S_WRITE_CALLS]++;
  return 0;
}

static void ur_write(wr_reactor *r, const wr_submit *sub, wr_fd *f) {
  ur_state *s = UR(r);
  int fd = sub->fd;
  uint32_t w = ugen_fit(s, fd) == 0 ? wctx_alloc(s) : UINT32_MAX;
  if (w == UINT32_MAX) { wr_post(r, K_EV_WRITE_DONE, sub->slot, sub->gen, fd, 0, 0, ENOMEM); return; }
  wctx *x = wctx_at(s, w);
  x->slot = sub->slot; x->gen = sub->gen; x->fd = fd; x->ugen = s->ugen[fd]; x->bytes = sub->b; x->windowed = 0;
  uint32_t e = send_window(r, w, f, sub->a, sub->b, 0);
  if (e) { wctx_free(s, w); wr_post(r, K_EV_WRITE_DONE, sub->slot, sub->gen, fd, 0, 0, e); return; }
  if (x->windowed) f->pad |= O_WIN;
  s->sendsNow++; /* submitted by this turn's wait, completed during it */
}

/*
 * SHUT_WR after the sends queued before it: those are submitted now (MSG_DONTWAIT: they finish
 * during the submit, moving what fits), then shutdown(2). Not an IORING_OP_SHUTDOWN: the kernel
 * may run that one in a worker thread after a CLOSE submitted behind it, when an accept may
 * already have reused the descriptor number (a new client got our FIN before any byte; found by
 * tests/net/echo.test.ts). One extra enter per graceful end that has sends queued, not per message.
 */
static void ur_shutdown(wr_reactor *r, int fd, wr_fd *f) {
  ur_state *s = UR(r);
  /* Only a send of this descriptor's needs to go first: an enter for every graceful end made a
   * turn that ended many connections (each one's CLOSE queued before the next one's SHUTDOWN)
   * enter once per connection (10,893 enters for a 10,000-connection storm and its close). The
   * flag can be stale (its send went with a full queue's submit, or its completion is not yet
   * reaped): then this submits what is queued, as it always did. So does a turn that began with
   * submissions the last enter did not take (`carried`): a send among them completed nothing yet. */
  if (((f->pad & O_SQ) || s->carried) && s->sqLocal != __atomic_load_n(s->sqHead, __ATOMIC_ACQUIRE)) submit_now(r);
  f->pad &= (uint8_t)~O_SQ;
  if (f->pad & O_WIN) { f->pad |= O_SHUT; return; } /* after the long write's last window (on_send) */
  if (shutdown(fd, SHUT_WR) < 0) r->stats[S_CTL_ERRORS]++;
}

/* ── init, destroy ──────────────────────────────────────────────────────────────────────── */
static void unmap_all(ur_state *s) {
  if (s->ringMem && s->ringMem != MAP_FAILED) munmap(s->ringMem, s->ringSz);
  if (s->sqes && (void *)s->sqes != MAP_FAILED) munmap(s->sqes, s->sqesSz);
}

static int ur_init(wr_reactor *r) {
  ur_state *s = calloc(1, sizeof *s);
  if (!s) return ENOMEM;
  s->wfree = UINT32_MAX;
  s->wakefd = -1;
  struct io_uring_params p;
  memset(&p, 0, sizeof p);
  /* DEFER_TASKRUN only when turns block in io_uring_enter (wait "block"): the kernel's work for our
   * operations then runs inside that enter alone, and the coalesced waits can count it. With a
   * poller thread (wait "thread") nothing would run that work while JS runs, and nothing wakes a
   * poller for it (an eventfd registered with the ring is signalled only when completions are
   * posted, inside our own enter; polling the ring itself hung): there the kernel runs it as task
   * work on the reactor's thread at its next kernel entry (it interrupts the runtime's own wait),
   * posting the completions the poller sees. Safe for the core's memory either way: that work only
   * fills chunks the host holds (the buffer ring) and posts completions; sends finish at submit. */
  p.flags = IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_CQSIZE | IORING_SETUP_SUBMIT_ALL |
            (r->blockWait ? IORING_SETUP_DEFER_TASKRUN | IORING_SETUP_TASKRUN_FLAG : 0);
  p.cq_entries = CQ_ENTRIES;
  s->ring = sys_setup(SQ_ENTRIES, &p);
  if (s->ring < 0) { int e = errno; free(s); return e; }
  int err = 0;
  if (!(p.features & IORING_FEAT_SINGLE_MMAP) || !(p.features & IORING_FEAT_EXT_ARG) || !(p.features & IORING_FEAT_NODROP)) err = EOPNOTSUPP;
  if (!err) {
    /* multishot receive and buffer rings: Linux 6.0, as IORING_OP_SEND_ZC; probe for it */
    size_t psz = sizeof(struct io_uring_probe) + 256 * sizeof(struct io_uring_probe_op);
    struct io_uring_probe *probe = calloc(1, psz);
    if (!probe) err = ENOMEM;
    else if (sys_register(s->ring, IORING_REGISTER_PROBE, probe, 256) < 0 || probe->last_op < IORING_OP_SEND_ZC) err = EOPNOTSUPP;
    free(probe);
  }
  if (!err) {
    s->ringSz = p.sq_off.array + p.sq_entries * sizeof(unsigned);
    size_t cqsz = p.cq_off.cqes + p.cq_entries * sizeof(struct io_uring_cqe);
    if (cqsz > s->ringSz) s->ringSz = cqsz;
    s->sqesSz = p.sq_entries * sizeof(struct io_uring_sqe);
    s->ringMem = mmap(NULL, s->ringSz, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, s->ring, IORING_OFF_SQ_RING);
    s->sqes = mmap(NULL, s->sqesSz, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, s->ring, IORING_OFF_SQES);
    if (s->ringMem == MAP_FAILED || (void *)s->sqes == MAP_FAILED) err = errno ? errno : ENOMEM;
  }
  if (!err) {
    char *m = s->ringMem;
    s->sqHead = (unsigned *)(m + p.sq_off.head); s->sqTail = (unsigned *)(m + p.sq_off.tail);
    s->sqMask = (unsigned *)(m + p.sq_off.ring_mask); s->sqArray = (unsigned *)(m + p.sq_off.array);
    s->sqFlags = (unsigned *)(m + p.sq_off.flags);
    s->cqHead = (unsigned *)(m + p.cq_off.head); s->cqTail = (unsigned *)(m + p.cq_off.tail);
    s->cqMask = (unsigned *)(m + p.cq_off.ring_mask);
    s->cqes = (struct io_uring_cqe *)(m + p.cq_off.cqes);
    for (unsigned i = 0; i < p.sq_entries; i++) s->sqArray[i] = i;
    s->sqEntries = p.sq_entries;
    s->sqLocal = *s->sqTail;
    err = wr_wakefd_open(&s->wakefd, &s->wakefd);
  }
  if (err) {
    if (s->wakefd >= 0) close(s->wakefd);
    unmap_all(s);
    close(s->ring);
    free(s);
    return err;
  }
  r->bk = s;
  r->edge = 0; /* completions are not readiness: the option means nothing here */
  arm_wake(r);
  return 0;
}

/* At destroy: takes what completed off the queue (no completion carries a descriptor: accepts
 * are accept4 calls of the shim's, served at once). */
static void discard_completions(ur_state *s) {
  __atomic_store_n(s->cqHead, __atomic_load_n(s->cqTail, __ATOMIC_ACQUIRE), __ATOMIC_RELEASE);
}

static void ur_destroy(wr_reactor *r) {
  ur_state *s = UR(r);
  if (!s) return;
  if (s->sqLocal != __atomic_load_n(s->sqHead, __ATOMIC_ACQUIRE)) {
    /* what was queued since the last turn (the CLOSEs of closeDescriptor) runs now */
    __atomic_store_n(s->sqTail, s->sqLocal, __ATOMIC_RELEASE);
    sys_enter(s->ring, s->sqLocal - *s->sqHead, 0, IORING_ENTER_GETEVENTS, NULL, 0);
    r->stats[S_U_ENTERS]++;
  }
  discard_completions(s);
  /* With DEFER_TASKRUN the CLOSE hard-linked after a cancel runs as the ring's own task work,
   * behind the cancelled operations' completions, and an enter runs only a bounded batch of that
   * work (about 20 items here): the last turn's enter left most of a mass close queued, and
   * closing the ring then dropped those CLOSEs: the sockets (the listener too) stayed open for
   * the life of the process, counted as closed (50 of 50 in a C check; tests/net/uring.test.ts).
   * So the work runs to the end first: the kernel sets IORING_SQ_TASKRUN while any is pending
   * (IORING_SETUP_TASKRUN_FLAG). Bounded: a ring that never settles is closed all the same. */
  for (int i = 0; i < 100000 && (__atomic_load_n(s->sqFlags, __ATOMIC_ACQUIRE) & IORING_SQ_TASKRUN); i++) {
    int n = sys_enter(s->ring, 0, 0, IORING_ENTER_GETEVENTS, NULL, 0);
    r->stats[S_U_ENTERS]++;
    discard_completions(s);
    if (n < 0 && errno != EINTR && errno != EAGAIN && errno != EBUSY) break;
  }
  close(s->ring); /* cancels every operation; the kernel lets go of the buffer ring (pinned) as it tears down */
  unmap_all(s);
  if (s->br) munmap(s->br, s->brSz);
  close(s->wakefd);
  for (uint32_t i = 0; i < s->wblockN; i++) { free(s->wblocks[i]); free(s->wvecs[i]); }
  free(s->wblocks); free(s->wvecs); free(s->bidFree); free(s->bidChunk); free(s->ugen);
  free(s->held); free(s->heldFor); free(s->readTurn); free(s->readN); free(s->keptTurn);
  free(s);
  r->bk = NULL;
}

/* ── the turn's wait ────────────────────────────────────────────────────────────────────── */
static int ur_read_room(wr_reactor *r);
static void pause_accepts(wr_reactor *r) {
  ur_state *s = UR(r);
  for (int i = 0; i < s->nListeners; i++) {
    int fd = s->listeners[i];
    wr_fd *f = wr_fd_get(r, fd);
    if (!f || f->kind != WR_KIND_LISTENER || !(f->pad & O_RD) || (f->flags & WR_F_STARVED)) continue;
    wr_park_listener(r, fd, f);  /* back when accepting resumes (wr_unstarve) */
    wr_apply_interest(r, fd, f); /* parked: read interest off, so the accept is cancelled */
  }
}

static int ur_wait(wr_reactor *r, int max, int timeoutMs) {
  ur_state *s = UR(r);
  (void)max;
  if (!s->br) {
    int e = br_setup(r);
    if (e) { wr_fail(r, e, "setting up io_uring's provided-buffer ring"); return 0; }
  }
  if (WR_HDR(r, hostFlags) & K_HOST_ACCEPTS_PAUSED) pause_accepts(r);
  if (s->enobufsSeen && s->target < s->targetMax) s->target = s->target * 2 < s->targetMax ? s->target * 2 : s->targetMax;
  s->enobufsSeen = 0;
  feed(r);
  __atomic_store_n(s->sqTail, s->sqLocal, __ATOMIC_RELEASE);
  unsigned waitNr = 0, flags = IORING_ENTER_GETEVENTS;
  struct __kernel_timespec ts = { 0, 0 };
  struct io_uring_getevents_arg ga = { .ts = (uint64_t)(uintptr_t)&ts };
  void *arg = NULL;
  size_t argsz = 0;
  uint32_t room = r->eventCap - (r->evTail - r->evHead);
  unsigned ready = *s->cqTail - *s->cqHead;
  /* held work the next turn can serve: no sleeping. Held by a pause, it waits for the core to
   * lift it; lifted since (the flags now), it is served now, not after an unrelated wake-up. */
  if (s->heldN && (s->heldRetry || (s->heldPaused & ~WR_HDR(r, hostFlags)))) ready++;
  /* parked readers this turn had no room for, and room now: the next turn wakes them. The ones
   * woken first may have been idle (parked during a pause with nothing to read): their receives
   * took no chunk, and a reader with data behind them slept with the rest of the turn's timeout
   * (the core's deadline: forever without timers; tests/native/starved.test.ts). */
  if (r->stvRoomLeft && ur_read_room(r) > 0) ready++;
  if (timeoutMs != 0 && room > 0 && ready == 0) {
    if (s->lastArrivals > 0) {
      /* as many arrivals as came last turn, or as replies this turn sends (each may bring the
       * peer's next message), at most 32; the sends themselves complete during the submit */
      unsigned want = s->lastArrivals > s->sendsNow ? s->lastArrivals : s->sendsNow;
      waitNr = s->sendsNow + (want < WANT_MAX ? want : WANT_MAX);
      long long ns = COALESCE_NS;
      if (timeoutMs > 0 && (long long)timeoutMs * 1000000LL < ns) ns = (long long)timeoutMs * 1000000LL;
      ts.tv_nsec = ns;
    } else {
      waitNr = 1;
      if (timeoutMs > 0) { ts.tv_sec = timeoutMs / 1000; ts.tv_nsec = (long long)(timeoutMs % 1000) * 1000000LL; }
    }
    if (s->lastArrivals > 0 || timeoutMs > 0) { flags |= IORING_ENTER_EXT_ARG; arg = &ga; argsz = sizeof ga; }
  }
  int n = sys_enter(s->ring, s->toSubmit, waitNr, flags, arg, argsz);
  r->stats[S_U_ENTERS]++;
  if (n < 0 && (errno == EAGAIN || errno == EBUSY)) r->stats[S_U_BUSY]++; /* the rest goes next turn */
  if (n < 0 && errno != ETIME && errno != EINTR && errno != EAGAIN && errno != EBUSY) wr_fail(r, errno, "io_uring_enter (the turn's submit and wait)");
  /* what the kernel took (SUBMIT_ALL: all of it, unless interrupted; the rest goes next turn) */
  s->toSubmit = s->sqLocal - __atomic_load_n(s->sqHead, __ATOMIC_ACQUIRE);
  s->carried = s->toSubmit != 0;
  s->sendsNow = 0;
  return (int)(__atomic_load_n(s->cqTail, __ATOMIC_ACQUIRE) - *s->cqHead);
}

/* ── completions → events ──────────────────────────────────────────────────────────────── */
/* A chunk the kernel filled for an operation that is stale (its descriptor closed since), or
 * returned empty-handed: still the host's supply, so back into the ring, also while reads are
 * paused: it never left the host's count (`provided`), so the ring holds no more than before the
 * kernel took it, and the receives armed before the pause may fill it as they may fill the
 * ring's other chunks (their completions are held). */
static void br_return(wr_reactor *r, uint16_t bid) {
  ur_state *s = UR(r);
  s->provided--; /* it left the ring when the kernel took it */
  if (bid >= s->brEntries) return;
  br_put(s, bid, wr_chunk_data(r, s->bidChunk[bid]), r->chunkSize);
  __atomic_store_n(&s->br->tail, (uint16_t)s->brTail, __ATOMIC_RELEASE);
}

/* A one-shot poll's completion: a listener's POLLIN (accept what the turn's budgets allow) or a
 * socket's POLLOUT (writable, a connect finished). Readiness, served as epoll's (wr_ready: io.c's
 * accept_some, EV_WRITABLE, finish_connect), and armed again next turn while wanted (level).
 * Returns the connections accepted. */
static unsigned on_poll(wr_reactor *r, int fd, uint32_t g, int res, int listener) {
  ur_state *s = UR(r);
  wr_fd *f = wr_fd_get(r, fd);
  if (!f || f->kind == WR_KIND_NONE || (listener && f->kind != WR_KIND_LISTENER) || ugen_of(s, fd) != g) return 0;
  uint8_t bit = listener ? WR_R_READ : WR_R_WRITE, ops = listener ? O_RD | O_RDX : O_WR | O_WRX;
  uint8_t was = f->pad;
  f->pad &= (uint8_t)~ops;
  /* taken away: armed again if it ended by itself, or is wanted again since the cancel */
  if (res == -ECANCELED) { if (!(was & ops & (O_RDX | O_WRX)) || (f->reg & bit)) rearm(r, fd, f, bit); return 0; }
  rearm(r, fd, f, bit);
  if (listener && res < 0) { wr_post(r, K_EV_ACCEPT_ERROR, f->slot, f->gen, fd, 0, 0, (uint32_t)-res); return 0; }
  uint8_t pend = listener ? WR_P_READ : WR_P_WRITE;
  if (!listener && res > 0 && (res & (POLLHUP | POLLERR))) pend |= WR_P_HUP;
  double before = r->stats[S_ACCEPTS];
  wr_ready(r, fd, pend);
  return (unsigned)(r->stats[S_ACCEPTS] - before);
}

static void on_recv(wr_reactor *r, int fd, uint32_t g, int res, unsigned cf) {
  ur_state *s = UR(r);
  wr_fd *f = wr_fd_get(r, fd);
  int hasBuf = (cf & IORING_CQE_F_BUFFER) != 0;
  uint16_t bid = (uint16_t)(cf >> IORING_CQE_BUFFER_SHIFT);
  int live = f && f->kind == WR_KIND_CONN && ugen_of(s, fd) == g;
  r->stats[S_READ_CALLS]++;
  if (!live) { if (hasBuf) br_return(r, bid); return; }
  int final = !(cf & IORING_CQE_F_MORE);
  uint8_t was = f->pad;
  if (final) f->pad &= (uint8_t)~(O_RD | O_RDX);
#ifdef WR_FAULTS
  /* the faults build: a reset arrives with these bytes (sticky: the socket stays broken, later
   * data is dropped, sends fail), as recv(2) would report it in its place */
  if (res > 0 && hasBuf && !f->fault && wr_fault(r, WR_FK_RESET)) f->fault = ECONNRESET;
  if (f->fault && (res > 0 || res == 0)) {
    if (hasBuf) br_return(r, bid);
    if (!(f->flags & WR_F_RDEND)) { wr_post(r, K_EV_READ_ERROR, f->slot, f->gen, fd, 0, 0, f->fault); f->flags |= WR_F_RDEND; }
    return;
  }
#endif
  if (res > 0 && hasBuf) {
    s->provided--;
    uint32_t c = bid < s->brEntries ? s->bidChunk[bid] : K_NONE;
    if (bid < s->brEntries) s->bidFree[s->bidTop++] = bid;
    wr_post(r, K_EV_READ, f->slot, f->gen, fd, c, (uint32_t)res, 0);
    if (final && (!(was & O_RDX) || (f->reg & WR_R_READ)) && !(f->flags & WR_F_RDEND)) rearm(r, fd, f, WR_R_READ);
    return;
  }
  if (hasBuf) br_return(r, bid);
  if (res == 0) {
    if (!(f->flags & WR_F_RDEND)) {
      if (f->err) wr_post(r, K_EV_READ_ERROR, f->slot, f->gen, fd, 0, 0, f->err);
      else wr_post(r, K_EV_READ, f->slot, f->gen, fd, K_NONE, 0, 0);
      f->flags |= WR_F_RDEND;
    }
    return; /* the registration stays "read": nothing is armed again after the end */
  }
  int e = -res;
  if (e == ENOBUFS) {
    r->stats[S_U_ENOBUFS]++;
    s->enobufsSeen = 1;
    if (final && !(f->flags & WR_F_RDEND)) {
      f->reg &= (uint8_t)~WR_R_READ;
      wr_starve(r, fd, f); /* re-armed by wr_unstarve once chunks come back */
    }
    return;
  }
  if (e == ECANCELED) { if (final && (f->reg & WR_R_READ) && !(f->flags & WR_F_RDEND)) rearm(r, fd, f, WR_R_READ); return; }
  if (e == EAGAIN || e == EINTR) { if (final) rearm(r, fd, f, WR_R_READ); return; }
  if (!(f->flags & WR_F_RDEND)) {
    wr_post(r, K_EV_READ_ERROR, f->slot, f->gen, fd, 0, 0, (uint32_t)e);
    f->flags |= WR_F_RDEND;
  }
}

/* A long write ended: a SHUTDOWN that waited for it goes now. */
static void win_end(wr_reactor *r, int fd, wr_fd *f, int live) {
  if (!live || !(f->pad & O_WIN)) return;
  int shut = (f->pad & O_SHUT) != 0;
  f->pad &= (uint8_t)~(O_WIN | O_SHUT);
  if (shut && shutdown(fd, SHUT_WR) < 0) r->stats[S_CTL_ERRORS]++;
}

static void on_send(wr_reactor *r, uint32_t w, int res) {
  ur_state *s = UR(r);
  if (w >= s->wblockN * WCTX_BLOCK) return;
  wctx *x = wctx_at(s, w);
  int fd = x->fd;
  wr_fd *f = wr_fd_get(r, fd);
  int live = f && f->kind != WR_KIND_NONE && ugen_of(s, fd) == x->ugen;
  uint32_t slot = x->slot, gen = x->gen, bytes = x->bytes, before = 0;
  /* not live: a CLOSE after it in the same batch closed fd since; its completion still comes first, as with epoll */
  if (live) f->pad &= (uint8_t)~O_SQ; /* submitted: a SHUTDOWN need not submit for it (ur_shutdown) */
  if (x->windowed) {
    wvec *v = wvec_at(s, w);
    before = v->done;
    /* The kernel took this whole window and the chain goes on: the next window is queued now and
     * submitted before this turn ends (ur_decode), and this completion posts nothing. So a WRITE
     * longer than MAX_IOV chunks ends in one EV_WRITE_DONE, as in epoll's sendmsg loop; reporting
     * each window as a short write (EAGAIN) cost a POLLOUT round trip and two turns per 64 chunks.
     * Only while its descriptor is still the one written to (live: no CLOSE since) and progress was
     * made (res > 0: the loop ends). A window that moved less stops here, as epoll's loop does. */
    if (live && !s->broken && res > 0 && (uint32_t)res == v->want && bytes - before > (uint32_t)res) {
      before += (uint32_t)res;
      uint32_t e = send_window(r, w, f, v->next, bytes - before, before);
      if (!e) { s->followUps++; return; }
      wctx_free(s, w);
      win_end(r, fd, f, live);
      wr_post(r, K_EV_WRITE_DONE, slot, gen, fd, 0, before, e);
      return;
    }
  }
  if (x->windowed) win_end(r, fd, f, live);
  wctx_free(s, w);
  uint32_t done = before, err = 0;
  if (res >= 0) { done += (uint32_t)res; if (done < bytes) err = EAGAIN; }
  else err = (uint32_t)(-res == EWOULDBLOCK ? EAGAIN : -res);
  wr_post(r, K_EV_WRITE_DONE, slot, gen, fd, 0, done, err);
}

/*
 * May completion c be served in this turn? 0: hold it. Nothing that posts an event is served
 * without room in the event ring (the completion queue is drained every turn all the same, so
 * what posts nothing, such as a receive out of buffers, is seen at once). Receives within the
 * connection's readsPerConn this turn and while reads are not paused; readiness (a listener's
 * poll, POLLOUT) at once: the budgets and pauses apply to what it leads to. A descriptor's completions keep their order:
 * with one held, the later ones are held behind it. Stale ones are served (dropped) at once.
 */
static int servable(wr_reactor *r, ur_state *s, const struct io_uring_cqe *c, int fromHeld) {
  int tag = UD_TAG(c->user_data), fd = UD_FD(c->user_data);
  if (tag != T_RECV && tag != T_LISTEN && tag != T_POLLOUT && tag != T_SEND) return 1;
  int inTable = fd >= 0 && fd < s->ugenCap;
  if (tag != T_SEND && (!inTable || s->ugen[fd] != UD_X(c->user_data))) return 1;
  if (tag == T_RECV && c->res == -ENOBUFS) return 1; /* posts nothing: parks the receive */
  /* A send's completion never waits behind the descriptor's held receives: the chunks it frees
   * may be what those receives wait for (a peer's data held by readsPerConn while our reply's
   * chunks stay "writing"). Its order against them does not matter: they are different streams. */
  /* One that queues its WRITE's next window (on_send) posts nothing, but which one does shows only
   * as it is served: held like the rest without room, it goes next turn, whose first pass serves it. */
  if (tag == T_SEND) { if (wr_event_room(r) > 0) return 1; s->heldRetry = 1; return 0; }
  if (inTable && (fromHeld ? s->keptTurn[fd] == s->turnNo : s->heldFor[fd] != 0)) return 0;
  if (wr_event_room(r) == 0) { s->heldRetry = 1; return 0; }
  /* readiness: served now, the budgets and pauses apply to what it leads to (accept_some) */
  if (tag == T_POLLOUT || tag == T_LISTEN) return 1;
  uint32_t flags = s->hostFlags;
  /* While reads are paused nothing is read, as the contract says: data the kernel put in a
   * chunk waits here with it (the kernel's ring holds at most a quarter of the pool, so what can
   * wait is bounded as with epoll, where it waits in the socket); no chunk from the supply goes
   * into the ring and no receive is armed meanwhile (feed, ur_interest; br_return puts back only
   * chunks the host already counted). */
  if (c->res <= 0) return 1;
  if (flags & K_HOST_READS_PAUSED) { s->heldPaused |= K_HOST_READS_PAUSED; return 0; }
  if (s->readTurn[fd] != s->turnNo) { s->readTurn[fd] = s->turnNo; s->readN[fd] = 0; }
  if (s->readN[fd] >= s->readsPerConn) { s->heldRetry = 1; return 0; }
  s->readN[fd]++;
  return 1;
}

static void hold(wr_reactor *r, ur_state *s, const struct io_uring_cqe *c) {
  if (s->heldN == s->heldCap) {
    uint32_t ncap = s->heldCap ? s->heldCap * 2 : 256;
    struct io_uring_cqe *n = realloc(s->held, sizeof *n * ncap);
    if (!n) { wr_fail(r, ENOMEM, "keeping a completion for a later turn"); return; } /* a completion that cannot be kept: the reactor ends loudly */
    s->held = n; s->heldCap = ncap;
  }
  s->held[s->heldN++] = *c;
  int fd = UD_FD(c->user_data);
  if (fd >= 0 && fd < s->ugenCap) s->heldFor[fd]++;
}

static void serve(wr_reactor *r, ur_state *s, const struct io_uring_cqe *c, unsigned *arrivals) {
  uint64_t ud = c->user_data;
  int res = c->res;
  unsigned cf = c->flags;
  switch (UD_TAG(ud)) {
    case T_WAKE:
      wr_wakefd_drain(s->wakefd);
      r->woken = 1;
      r->stats[S_WAKEUPS]++;
      if (!(cf & IORING_CQE_F_MORE)) arm_wake(r);
      break;
    case T_LISTEN: *arrivals += on_poll(r, UD_FD(ud), UD_X(ud), res, 1); break;
    case T_RECV: (*arrivals)++; on_recv(r, UD_FD(ud), UD_X(ud), res, cf); break;
    case T_POLLOUT: on_poll(r, UD_FD(ud), UD_X(ud), res, 0); break;
    case T_SEND: on_send(r, UD_X(ud), res); break;
    case T_CLOSE: if (res < 0) r->stats[S_CTL_ERRORS]++; break;
    default: break; /* T_CANCEL: a cancel that found nothing (it raced the end) */
  }
}

static void ur_decode(wr_reactor *r, int n) {
  (void)n;
  ur_state *s = UR(r);
  unsigned arrivals = 0;
  if (++s->turnNo == 0) s->turnNo = 1; /* 0 is what keptTurn[] starts at: a wrap to it would keep held completions with no retry flagged */
  s->heldRetry = 0;
  s->heldPaused = 0;
  s->hostFlags = WR_HDR(r, hostFlags);
  s->readsPerConn = WR_HDR(r, readsPerConn);
  /* More completions than the queue holds (CQ_ENTRIES) came since the last turn: the kernel keeps
   * the rest (IORING_FEAT_NODROP) and flushes them as the queue drains; counted, since a server
   * that sees it often wants a bigger queue (metrics: host_uring_cq_overflow_turns_total). */
  if (__atomic_load_n(s->sqFlags, __ATOMIC_ACQUIRE) & IORING_SQ_CQ_OVERFLOW) r->stats[S_U_CQ_OVERFLOWS]++;
  /* held completions first, in order */
  uint32_t keep = 0, i = 0;
  for (; i < s->heldN; i++) {
    struct io_uring_cqe c = s->held[i];
    int fd = UD_FD(c.user_data);
    int inTable = fd >= 0 && fd < s->ugenCap;
    if (!servable(r, s, &c, 1)) { s->held[keep++] = c; if (inTable) s->keptTurn[fd] = s->turnNo; continue; }
    if (inTable && s->heldFor[fd]) s->heldFor[fd]--;
    serve(r, s, &c, &arrivals);
  }
  s->heldN = keep;
  /* then the whole completion queue */
  unsigned head = *s->cqHead;
  for (;;) {
    unsigned tail = __atomic_load_n(s->cqTail, __ATOMIC_ACQUIRE);
    while (head != tail) {
      struct io_uring_cqe c = s->cqes[head & *s->cqMask];
      head++;
      r->stats[S_U_CQES]++;
      if (!servable(r, s, &c, 0)) { hold(r, s, &c); continue; }
      serve(r, s, &c, &arrivals);
    }
    /* The next windows of long writes (on_send) go now, in one enter for all of them, and their
     * completions are served in this turn: they finish during the submit (MSG_DONTWAIT). Not with
     * the next turn's enter: that would cost the WRITE a turn per window, and with a poller thread
     * nothing wakes a turn for a send that is only queued (it waits on the ring's completions: so
     * left, a thread-mode 200-chunk write stopped after its first window until the test timed out,
     * tests/net/uring.test.ts). Not counted in sendsNow: the next wait has nothing of theirs to
     * submit or reap. Bounded: each window follows one that moved bytes of a WRITE with bytes left. */
    if (!s->followUps || s->broken) break;
    s->followUps = 0;
    __atomic_store_n(s->cqHead, head, __ATOMIC_RELEASE);
    submit_now(r);
  }
  s->followUps = 0;
  __atomic_store_n(s->cqHead, head, __ATOMIC_RELEASE);
  s->lastArrivals = arrivals;
  r->stats[S_U_BUFFERS] = s->provided;
}

/* Starved receives wr_unstarve may arm again: one per buffer the ring has or will have this turn. */
static int ur_read_room(wr_reactor *r) {
  ur_state *s = UR(r);
  if (!s->br) return 0;
  unsigned can = s->provided;
  unsigned more = r->supTail - r->supHead;
  if (more > s->bidTop) more = s->bidTop;
  if (s->provided + more > s->target) more = s->target > s->provided ? s->target - s->provided : 0;
  can += more;
  return can > 0x7fffffff ? 0x7fffffff : (int)can;
}

static int ur_wake(wr_reactor *r) { return wr_wakefd_signal(UR(r)->wakefd); }

/* The poller thread (wait "thread": a ring without DEFER_TASKRUN, see ur_init): until completions
 * wait in the ring (its descriptor is readable; the kernel wakes pollers as it posts them), a
 * wake, or the timeout. It reaps nothing: the next turn on the reactor's thread does. Measured: a
 * thread-mode echo round trip took 16 ms on average (200 in 3.2 s) while this polled an eventfd
 * registered with a DEFER_TASKRUN ring, which nothing signalled until our own next enter. */
static void ur_poll_wait(wr_reactor *r, int timeoutMs) {
  ur_state *s = UR(r);
  struct pollfd p[2] = { { .fd = s->ring, .events = POLLIN }, { .fd = s->wakefd, .events = POLLIN } };
  poll(p, 2, timeoutMs);
}

const wr_backend wr_uring_backend = {
  .name = "uring",
  .init = ur_init,
  .destroy = ur_destroy,
  .interest = ur_interest,
  .forget = ur_forget,
  .write = ur_write,
  .shutdown = ur_shutdown,
  .read_room = ur_read_room,
  .wait = ur_wait,
  .decode = ur_decode,
  .wake = ur_wake,
  .poll_wait = ur_poll_wait,
};
#endif /* headers new enough */
#endif /* WR_BACKEND_URING */
