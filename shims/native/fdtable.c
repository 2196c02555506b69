/*
 * The descriptor table and the work lists: what the shim knows about each descriptor it opened
 * (its owner, what the core wants, readiness not yet served, what the kernel has registered),
 * who may name it (wr_fd_owner), and the lists of descriptors with something left to do.
 *
 * Allocation: the table is sized once at attach for RLIMIT_NOFILE's hard limit, above which no
 * descriptor can be numbered (pages are touched only as descriptors are used: calloc of a large
 * block maps zero pages lazily). Should one still come (a limit raised from outside by
 * prlimit), the table grows with the three lists (each holds a descriptor at most once), all
 * or nothing, keeping every old block; it never moves while the queue sampler runs. A
 * descriptor that does not fit is closed and reported as ENOMEM.
 */
#include "shim.h"

#include <errno.h>
#include <stdlib.h>
#include <sys/resource.h>

/* The entry of a descriptor in the table's range (owned or not), or NULL. Never grows. */
wr_fd *wr_fd_get(wr_reactor *r, int fd) {
  if (fd < 0 || fd >= r->fdCap) return NULL;
  return &r->fds[fd];
}

/* Grows every per-descriptor array to ncap entries; all or nothing (old blocks kept). */
static int grow(wr_reactor *r, int ncap) {
  wr_fd *f = realloc(r->fds, sizeof(wr_fd) * (size_t)ncap);
  if (!f) return ENOMEM;
  r->fds = f;
  memset(r->fds + r->fdCap, 0, sizeof(wr_fd) * (size_t)(ncap - r->fdCap));
  int **lists[3] = { &r->chg, &r->rdy, &r->stv };
  for (int i = 0; i < 3; i++) {
    int *l = realloc(*lists[i], sizeof(int) * (size_t)ncap);
    if (!l) return ENOMEM; /* fdCap unchanged: the bigger blocks so far are simply unused */
    *lists[i] = l;
  }
  r->fdCap = ncap;
  return 0;
}

int wr__fd_table_init(wr_reactor *r) {
  struct rlimit rl;
  int cap = 1 << 20; /* fs.nr_open's default: no process may have more */
  if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_max != RLIM_INFINITY && rl.rlim_max < (1u << 22)) cap = (int)rl.rlim_max;
  if (cap < 1024) cap = 1024;
  return grow(r, cap);
}

void wr__fd_table_free(wr_reactor *r) {
  free(r->fds); free(r->chg); free(r->rdy); free(r->stv);
  r->fds = NULL; r->fdCap = 0;
  r->chg = r->rdy = r->stv = NULL;
}

/* A descriptor the shim just opened: its entry, fresh (list memberships kept), or NULL when
 * the table cannot grow to hold it (the caller closes it and reports ENOMEM). */
wr_fd *wr_fd_open(wr_reactor *r, int fd, uint8_t kind) {
  if (fd < 0) return NULL;
  if (fd >= r->fdCap) {
    int ncap = r->fdCap ? r->fdCap : 1024;
    while (ncap <= fd && ncap < (1 << 30)) ncap *= 2;
    if (ncap <= fd || r->qStarted || grow(r, ncap) != 0) return NULL; /* the sampler reads the table: it must not move */
  }
  wr_fd *f = &r->fds[fd];
  f->slot = K_NONE; f->gen = 0;
  f->want = 0; f->pend = 0; f->reg = 0; f->fault = 0; f->err = 0; f->pad = 0;
  f->flags &= ~WR_F_STATE;
  wr_fd_set_kind(f, kind);
  r->openFds++;
  return f;
}

/*
 * Who may name a descriptor in a record. The shim acts on it only when it opened the
 * descriptor and still owns it (kind != NONE: opened by listen(), an accept or a CONNECT, and
 * not closed since), and the record's (slot, gen) is its owner's:
 *
 *   - a socket opened for a CONNECT is bound at open to that CONNECT's (slot, gen);
 *   - a listener (listen()) and an accepted socket (EV_ACCEPTED) are unbound until the core
 *     first names them with a slot other than NONE; that first record binds them to its
 *     (slot, gen). For a listener it is its first INTEREST; for an accepted socket the first
 *     record of the slot the core gave it: INTEREST, or a WRITE or CLOSE the app's open
 *     handler caused, which the core's flush puts before the INTEREST. From then on every
 *     record must name exactly that (slot, gen);
 *   - the core has adopted a descriptor once a record named it with its owner's (slot, gen).
 *     Before that, and only then, a CLOSE with slot NONE may close it ("a descriptor the core
 *     refused": an accept past a closed listener, the socket of a stale connect), and so may
 *     closeFd() from JS (a listener the core refused to take).
 *
 * Returns 0 with *out set, or EBADF with the violation recorded (no syscall, and the caller
 * answers with the record's completion). O(1).
 */
int wr_fd_owner(wr_reactor *r, const char *op, const wr_submit *s, wr_fd **out) {
  wr_fd *f = wr_fd_get(r, s->fd);
  if (!f || f->kind == WR_KIND_NONE) {
    if (s->slot == K_NONE) wr_violation(r, "%s of slot NONE on descriptor %d: not a descriptor this shim opened and still owns", op, s->fd);
    else wr_violation(r, "%s of slot %u gen %u on descriptor %d: not a descriptor this shim opened and still owns", op, s->slot, s->gen, s->fd);
    return EBADF;
  }
  if (s->slot == K_NONE) {
    if (s->op != K_SQ_CLOSE) { wr_violation(r, "%s of slot NONE on descriptor %d: only a CLOSE may name a descriptor the core refused", op, s->fd); return EBADF; }
    if (f->flags & WR_F_ADOPTED) { wr_violation(r, "%s of slot NONE on descriptor %d: the core adopted it as slot %u gen %u", op, s->fd, f->slot, f->gen); return EBADF; }
    *out = f;
    return 0;
  }
  if (!(f->flags & WR_F_BOUND)) { f->slot = s->slot; f->gen = s->gen; f->flags |= WR_F_BOUND; }
  else if (f->slot != s->slot || f->gen != s->gen) {
    wr_violation(r, "%s of slot %u gen %u on descriptor %d: it belongs to slot %u gen %u", op, s->slot, s->gen, s->fd, f->slot, f->gen);
    return EBADF;
  }
  f->flags |= WR_F_ADOPTED;
  *out = f;
  return 0;
}

/* closeFd() from JS: only a descriptor the core never adopted. */
int wr_fd_may_close(wr_reactor *r, int fd, wr_fd **out) {
  wr_fd *f = wr_fd_get(r, fd);
  if (!f || f->kind == WR_KIND_NONE) { wr_violation(r, "closeFd of descriptor %d: not a descriptor this shim opened and still owns", fd); return EBADF; }
  if (f->flags & WR_F_ADOPTED) { wr_violation(r, "closeFd of descriptor %d: the core adopted it as slot %u gen %u", fd, f->slot, f->gen); return EBADF; }
  *out = f;
  return 0;
}

/* Each list holds a descriptor at most once (its flag), so its capacity, the table's, is
 * never exceeded and a push never allocates. */
void wr_mark_ready(wr_reactor *r, int fd, wr_fd *f) {
  if (f->flags & WR_F_READY) return;
  f->flags |= WR_F_READY;
  r->rdy[r->rdyN++] = fd;
}

void wr_mark_chg(wr_reactor *r, int fd, wr_fd *f) {
  if (f->flags & WR_F_CHG) return;
  f->flags |= WR_F_CHG;
  r->chg[r->chgN++] = fd;
}

/* The registration a descriptor needs now, in WR_R_* bits. */
uint8_t wr_fd_wanted(const wr_reactor *r, const wr_fd *f) {
  if (f->flags & WR_F_HUNG) return 0;
  if (r->edge) return f->kind == WR_KIND_NONE ? 0 : (WR_R_READ | WR_R_WRITE | WR_R_EDGE);
  if (f->kind == WR_KIND_CONNECTING) return WR_R_WRITE;
  uint8_t ev = 0;
  if ((f->want & K_IN_READ) && !(f->flags & WR_F_STARVED)) ev |= WR_R_READ;
  if ((f->want & K_IN_WRITE) && f->kind == WR_KIND_CONN) ev |= WR_R_WRITE;
  return ev;
}

static void report_failure(wr_reactor *r, int fd, wr_fd *f, int err);

/*
 * Makes the kernel's registration of fd what it needs now. A failure (epoll_ctl: ENOSPC at
 * fs.epoll.max_user_watches, ENOMEM, ...) is never silent: the socket would sit unregistered
 * and the connection hang. It reaches the core as EV_READ_ERROR with that errno on that
 * connection (EV_CONNECT_FAILED while the socket is still connecting: the completion a connect
 * waits for), and the core closes it. The registration stays what it was.
 */
void wr_apply_interest(wr_reactor *r, int fd, wr_fd *f) {
  uint8_t want = wr_fd_wanted(r, f);
  if (want == f->reg) return;
  int err = f->reg == 0 ? wr_sys_ctl_fault(r) : 0; /* faults build: ENOSPC on a registration */
  if (!err) err = r->ops->interest(r, fd, f->reg, want);
  r->stats[S_CTL]++;
  if (err == 0) { f->reg = want; return; }
  if (err < 0) return; /* the backend set f->reg itself (io_uring: a receive it may not arm yet) */
  report_failure(r, fd, f, err);
}

static void report_failure(wr_reactor *r, int fd, wr_fd *f, int err) {
  r->stats[S_CTL_ERRORS]++;
  if (f->kind == WR_KIND_CONNECTING) {
    wr_fd_set_kind(f, WR_KIND_CONN); /* failed: nothing more will come for this connect */
    wr_post(r, K_EV_CONNECT_FAILED, f->slot, f->gen, fd, 0, 0, (uint32_t)err);
  } else wr_post(r, K_EV_READ_ERROR, f->slot, f->gen, fd, 0, 0, (uint32_t)err);
}

/* A change the backend applied after wr_apply_interest returned (a batched changelist) failed. */
void wr_interest_failed(wr_reactor *r, int fd, uint8_t bits, int err) {
  wr_fd *f = wr_fd_get(r, fd);
  if (!f || f->kind == WR_KIND_NONE) return; /* closed since: nothing waits for it */
  f->reg &= (uint8_t)~bits;
  if (!(f->reg & (WR_R_READ | WR_R_WRITE))) f->reg = 0;
  report_failure(r, fd, f, err);
}

/* Parks a readable socket that has no chunk to read into. */
void wr_starve(wr_reactor *r, int fd, wr_fd *f) {
  if (f->flags & WR_F_STARVED) return;
  f->flags |= WR_F_STARVED;
  if (!(f->flags & WR_F_IN_STV)) { f->flags |= WR_F_IN_STV; r->stv[r->stvN++] = fd; }
  r->stats[S_STARVED]++;
  if (!r->edge) wr_apply_interest(r, fd, f); /* read interest off until chunks return: no spinning */
}

/*
 * Edge mode: parks a listener with connections waiting while the core has paused accepting
 * (HOST_ACCEPTS_PAUSED). It leaves the ready list (keeping it there would turn every wait into
 * a spin) and keeps its readiness, which no new edge would report again; wr_unstarve puts it
 * back once the flag clears. (Level mode needs nothing: the kernel reports it again.)
 */
void wr_park_listener(wr_reactor *r, int fd, wr_fd *f) {
  if (f->flags & WR_F_STARVED) return;
  f->flags |= WR_F_STARVED;
  if (!(f->flags & WR_F_IN_STV)) { f->flags |= WR_F_IN_STV; r->stv[r->stvN++] = fd; }
}

/* Chunks came back (or accepting resumed): parked sockets and listeners may go on. */
void wr_unstarve(wr_reactor *r) {
  r->stvRoomLeft = 0;
  if (r->stvN == 0) return;
  /* A backend whose reads take buffers as data arrives (io_uring) wakes only as many starved
   * readers, first come first served, as it has buffers for: each has data waiting, so more
   * would only run out again at once (and retry every turn). Its buffers are in the kernel's
   * ring, not in the supply ring, so an empty supply ring does not block its reads: with the
   * pool low, the core had nothing to add, and readers starved while the ring held chunks were
   * never woken (found by review; tests/native/starved.test.ts). */
  int readRoom = r->ops->read_room ? r->ops->read_room(r) : -1;
  int readsOk = r->ops->read_room ? !(WR_HDR(r, hostFlags) & K_HOST_READS_PAUSED) && readRoom > 0 : !wr_reads_blocked(r);
  int acceptsOk = !(WR_HDR(r, hostFlags) & K_HOST_ACCEPTS_PAUSED);
  if (!readsOk && !acceptsOk) return;
  int keep = 0;
  for (int i = 0; i < r->stvN; i++) {
    int fd = r->stv[i];
    wr_fd *f = &r->fds[fd];
    int listener = f->kind == WR_KIND_LISTENER;
    if ((f->flags & WR_F_STARVED) && f->kind != WR_KIND_NONE && (!(listener ? acceptsOk : readsOk) || (!listener && readRoom == 0))) {
      r->stv[keep++] = fd; /* still waiting for its own condition */
      if (!listener && readsOk) r->stvRoomLeft++; /* room only: the backend may have it next turn */
      continue;
    }
    if ((f->flags & WR_F_STARVED) && f->kind != WR_KIND_NONE && !listener && readRoom > 0) readRoom--;
    f->flags &= ~WR_F_IN_STV;
    if (!(f->flags & WR_F_STARVED)) continue;
    f->flags &= ~WR_F_STARVED;
    if (f->kind == WR_KIND_NONE) continue;
    if (r->edge) wr_mark_ready(r, fd, f);
    else wr_apply_interest(r, fd, f);
  }
  r->stvN = keep;
}
