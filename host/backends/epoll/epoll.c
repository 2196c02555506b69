/*
 * The native shim for Linux: epoll readiness, accept, read and write, straight between the
 * kernel and the core's shared linear memory. Plain C against Node-API (NAPI_VERSION 8), so
 * one binary loads in Node, Deno and Bun.
 *
 * It is the "host" half of the contract in host/contract.ts, done natively: one call per loop
 * turn (`turn`) executes the whole submission ring, waits in epoll_wait, accepts and reads into
 * pool chunks taken from the supply ring, and fills the event ring. JS<->native crossings per
 * turn do not grow with the number of ready sockets; every exported call is counted (stats).
 *
 * The layout (ring cursors, record formats, constants) comes from shims/native/layout.gen.h, which
 * tools/gen-layout.mjs generates from assembly/layout.ts: the layout is written once.
 *
 * Two ways to wait:
 *   - `turn(h, timeoutMs)` blocks in epoll_wait (worker mode; an eventfd in the set wakes it);
 *   - `turn(h, 0)` never blocks, and `waitAsync(h, timeoutMs, cb)` lets a poller thread wait
 *     for the epoll descriptor to become readable, then calls cb on the JS thread through a
 *     thread-safe function (main-thread mode: works in Node, Deno and Bun alike; uv_poll does
 *     not exist in Bun). The poller uses poll(2) on the epoll descriptor, which reports
 *     readiness without consuming it.
 *
 * Readiness is level-triggered by default; `edge` registers each socket once with EPOLLET
 * and keeps a ready list of sockets with work left (budgets, a full ring), so no MOD calls.
 * Pool pressure (HOST_READS_PAUSED or no supply chunk) never spins: in level mode a socket
 * that could not be read is parked with EPOLLIN off, and put back when chunks return.
 *
 * Descriptors: every descriptor this shim opens is reported to the core (EV_ACCEPTED,
 * EV_SOCKET_OPENED, or listen's return) and closed only on the core's CLOSE, exactly once;
 * the one exception is the EMFILE shedding trick, which opens and closes within one call.
 * No SIGPIPE: writes go through sendmsg(MSG_NOSIGNAL).
 */
#define _GNU_SOURCE
#include <node_api.h>
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/sockios.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include "layout.gen.h"

#ifndef IP_BIND_ADDRESS_NO_PORT
#define IP_BIND_ADDRESS_NO_PORT 24
#endif

#define KIND_NONE 0
#define KIND_LISTENER 1
#define KIND_CONN 2
#define KIND_CONNECTING 3

#define P_READ 1    /* readable, not yet read to EAGAIN (edge mode) */
#define P_WRITE 2   /* writable, not yet reported */
#define P_HUP 4     /* the peer's FIN (or an error) is pending: a short read is not the end */
#define F_READY 1   /* in the ready list (membership: survives a close, the entry drops itself) */
#define F_IN_STV 2  /* in the starved list (membership) */
#define F_CHG 4     /* in the interest-change list (membership) */
#define F_STARVED 8 /* state: readable but no chunk to read into; cleared at close */

#define MAX_IOV 64

typedef struct {
  uint32_t slot, gen;
  uint8_t kind;
  uint8_t want;    /* IN_* the core asked for */
  uint8_t pend;    /* P_* */
  uint8_t flags;   /* F_* */
  uint32_t reg;    /* events registered with epoll (0: not registered) */
} fdent;

typedef struct {
  uint32_t gen;
  int used;
  struct sockaddr_storage addr;
  socklen_t alen;
  struct sockaddr_storage local;
  socklen_t llen;
} pending_connect;

typedef struct {
  uint32_t rec[6];
} ovrec;

/* Stats: one f64 each, in this order (host/epoll.ts names them). */
enum {
  S_CALLS, S_TURNS, S_WAITS, S_EVENTS, S_CTL, S_ACCEPTS, S_ACCEPT_EMFILE, S_ACCEPT_SHED,
  S_READ_CALLS, S_WRITE_CALLS, S_WAKEUPS, S_OVERFLOW, S_STARVED, S_ASYNC_WAITS,
  S_Q_SOCKETS, S_Q_IN, S_Q_OUT, S_Q_IN_MAX, S_Q_OUT_MAX, S_FDS_OPEN, S_COUNT
};

typedef struct reactor {
  uint8_t *mem;
  int epfd, wakefd, reservefd;
  int edge, nodelay, shed;
  struct epoll_event *evs;
  int maxEvents;
  fdent *fds;
  int fdCap;
  int *chg; int chgN, chgCap;
  int *rdy; int rdyN, rdyCap;
  int *stv; int stvN, stvCap;
  ovrec *ov; int ovHead, ovN, ovCap;
  pending_connect *pc; uint32_t pcCap;
  uint32_t acceptLeft;
  int readsBlockedAtStart; /* the pool was at its reserve when this poll began: real pressure */
  int woken;
  int openFds; /* descriptors this shim opened and the core has not closed yet */
  double stats[S_COUNT];
  int qCursor;
  /* poller thread (main-thread mode) */
  pthread_t thr;
  int thrStarted;
  pthread_mutex_t mu;
  pthread_cond_t cv;
  int armed, stop, armTimeout;
  napi_threadsafe_function tsfn;
  int destroyed;
} reactor;

/* ── memory access ─────────────────────────────────────────────────────────────────────── */
#define HDR(r, f) (*(volatile uint32_t *)((r)->mem + K_LAYOUT_BASE + L_Header_##f))
#define U32(r, addr) (*(uint32_t *)((r)->mem + (addr)))

static inline uint32_t event_room(reactor *r) {
  if (r->ovN) return 0;
  return HDR(r, eventCap) - (HDR(r, eventTail) - HDR(r, eventHead));
}

static void ov_push(reactor *r, const uint32_t rec[6]) {
  if (r->ovN == r->ovCap) {
    int ncap = r->ovCap ? r->ovCap * 2 : 64;
    ovrec *n = malloc(sizeof(ovrec) * ncap);
    for (int i = 0; i < r->ovN; i++) n[i] = r->ov[(r->ovHead + i) % r->ovCap];
    free(r->ov);
    r->ov = n; r->ovHead = 0; r->ovCap = ncap;
  }
  memcpy(r->ov[(r->ovHead + r->ovN) % r->ovCap].rec, rec, 24);
  r->ovN++;
  r->stats[S_OVERFLOW]++;
}

static inline void ring_put(reactor *r, const uint32_t rec[6]) {
  uint32_t tail = HDR(r, eventTail);
  uint8_t *p = r->mem + HDR(r, eventsOff) + (tail & (HDR(r, eventCap) - 1)) * L_EventRec_BYTES;
  memcpy(p, rec, 24);
  __atomic_store_n((uint32_t *)(r->mem + K_LAYOUT_BASE + L_Header_eventTail), tail + 1, __ATOMIC_RELEASE);
  r->stats[S_EVENTS]++;
}

/* Posts an event; a completion that does not fit waits in the overflow queue, in order. */
static void post(reactor *r, uint32_t type, uint32_t slot, uint32_t gen, int32_t fd, uint32_t a, uint32_t b, uint32_t err) {
  uint32_t rec[6];
  rec[0] = (type & 0xff) | ((err & 0xffff) << 16);
  rec[1] = slot; rec[2] = gen; rec[3] = (uint32_t)fd; rec[4] = a; rec[5] = b;
  if (event_room(r) > 0) ring_put(r, rec);
  else ov_push(r, rec);
}

static void ov_flush(reactor *r) {
  while (r->ovN && HDR(r, eventCap) - (HDR(r, eventTail) - HDR(r, eventHead)) > 0) {
    ring_put(r, r->ov[r->ovHead].rec);
    r->ovHead = (r->ovHead + 1) % r->ovCap;
    r->ovN--;
  }
}

/* ── descriptor table and lists ────────────────────────────────────────────────────────── */
static fdent *ent(reactor *r, int fd) {
  if (fd < 0) return NULL;
  if (fd >= r->fdCap) {
    int ncap = r->fdCap ? r->fdCap : 1024;
    while (ncap <= fd) ncap *= 2;
    fdent *n = realloc(r->fds, sizeof(fdent) * ncap);
    if (!n) return NULL;
    memset(n + r->fdCap, 0, sizeof(fdent) * (ncap - r->fdCap));
    r->fds = n; r->fdCap = ncap;
  }
  return &r->fds[fd];
}

static void list_push(int **arr, int *n, int *cap, int v) {
  if (*n == *cap) { *cap = *cap ? *cap * 2 : 256; *arr = realloc(*arr, sizeof(int) * *cap); }
  (*arr)[(*n)++] = v;
}

static void mark_ready(reactor *r, int fd) {
  fdent *f = &r->fds[fd];
  if (f->flags & F_READY) return;
  f->flags |= F_READY;
  list_push(&r->rdy, &r->rdyN, &r->rdyCap, fd);
}

static void mark_chg(reactor *r, int fd, fdent *f) {
  if (f->flags & F_CHG) return;
  f->flags |= F_CHG;
  list_push(&r->chg, &r->chgN, &r->chgCap, fd);
}

static inline int reads_blocked(reactor *r) {
  return (HDR(r, hostFlags) & K_HOST_READS_PAUSED) != 0 || HDR(r, supplyTail) == HDR(r, supplyHead);
}

/* The epoll registration a descriptor needs now. */
static uint32_t wanted_events(reactor *r, fdent *f) {
  if (r->edge) return (f->kind == KIND_NONE) ? 0 : (EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET);
  uint32_t ev = 0;
  if (f->kind == KIND_CONNECTING) return EPOLLOUT;
  if ((f->want & K_IN_READ) && !(f->flags & F_STARVED)) ev |= EPOLLIN | EPOLLRDHUP;
  if ((f->want & K_IN_WRITE) && f->kind == KIND_CONN) ev |= EPOLLOUT;
  return ev;
}

static void apply_interest(reactor *r, int fd, fdent *f) {
  uint32_t ev = wanted_events(r, f);
  struct epoll_event e = { .events = ev, .data = { .u64 = (uint64_t)(uint32_t)fd } };
  if (ev == f->reg) return;
  if (ev == 0) { epoll_ctl(r->epfd, EPOLL_CTL_DEL, fd, &e); }
  else if (f->reg == 0) {
    if (epoll_ctl(r->epfd, EPOLL_CTL_ADD, fd, &e) < 0 && errno == EEXIST) epoll_ctl(r->epfd, EPOLL_CTL_MOD, fd, &e);
  } else epoll_ctl(r->epfd, EPOLL_CTL_MOD, fd, &e);
  r->stats[S_CTL]++;
  f->reg = ev;
}

/* ── submissions ───────────────────────────────────────────────────────────────────────── */
static void do_write(reactor *r, uint32_t slot, uint32_t gen, int fd, uint32_t head, uint32_t bytes) {
  uint32_t metaOff = HDR(r, chunkMetaOff), dataOff = HDR(r, chunkDataOff), csize = HDR(r, chunkSize);
  uint32_t done = 0, c = head, cOff = 0; /* cOff: bytes of chunk c already written */
  int err = 0;
  while (done < bytes) {
    struct iovec iov[MAX_IOV];
    int n = 0;
    uint32_t want = 0, cc = c, co = cOff;
    while (n < MAX_IOV && done + want < bytes && cc != K_NONE) {
      uint32_t m = metaOff + cc * L_ChunkMeta_BYTES;
      uint32_t start = U32(r, m + L_ChunkMeta_start), len = U32(r, m + L_ChunkMeta_len);
      uint32_t take = len - co;
      if (take > bytes - done - want) take = bytes - done - want;
      iov[n].iov_base = r->mem + dataOff + cc * csize + start + co;
      iov[n].iov_len = take;
      n++; want += take; co = 0;
      cc = U32(r, m + L_ChunkMeta_next);
    }
    if (n == 0) { err = EINVAL; break; } /* the chain is shorter than the byte count: a core bug */
    ssize_t w;
    if (n == 1) w = send(fd, iov[0].iov_base, iov[0].iov_len, MSG_NOSIGNAL | MSG_DONTWAIT); /* one chunk: no msghdr to import */
    else { struct msghdr mh = { .msg_iov = iov, .msg_iovlen = n }; w = sendmsg(fd, &mh, MSG_NOSIGNAL | MSG_DONTWAIT); }
    r->stats[S_WRITE_CALLS]++;
    if (w < 0) {
      if (errno == EINTR) continue;
      err = (errno == EWOULDBLOCK) ? EAGAIN : errno;
      break;
    }
    done += (uint32_t)w;
    /* advance (c, cOff) by w bytes */
    uint32_t adv = (uint32_t)w;
    while (adv > 0 && c != K_NONE) {
      uint32_t m = metaOff + c * L_ChunkMeta_BYTES;
      uint32_t left = U32(r, m + L_ChunkMeta_len) - cOff;
      if (adv < left) { cOff += adv; adv = 0; }
      else { adv -= left; cOff = 0; c = U32(r, m + L_ChunkMeta_next); }
    }
    if ((uint32_t)w < want) { err = EAGAIN; break; } /* the socket buffer is full */
  }
  if (done == bytes) err = 0;
  post(r, K_EV_WRITE_DONE, slot, gen, fd, 0, done, (uint32_t)err);
}

static void do_close(reactor *r, int fd, int reset) {
  if (fd < 0) return;
  fdent *f = ent(r, fd);
  if (reset) { struct linger l = { 1, 0 }; setsockopt(fd, SOL_SOCKET, SO_LINGER, &l, sizeof l); }
  if (f) { f->kind = KIND_NONE; f->want = 0; f->pend = 0; f->reg = 0; f->slot = K_NONE; f->flags &= ~F_STARVED; /* list memberships stay: their entries see KIND_NONE and drop */ }
  close(fd); /* closing removes it from the epoll set */
  r->openFds--;
}

static void do_connect(reactor *r, uint32_t slot, uint32_t gen) {
  pending_connect *p = slot < r->pcCap ? &r->pc[slot] : NULL;
  if (!p || !p->used || p->gen != gen) { post(r, K_EV_SOCKET_OPENED, slot, gen, -1, 0, 0, EINVAL); return; }
  p->used = 0;
  int fd = socket(p->addr.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) { post(r, K_EV_SOCKET_OPENED, slot, gen, -1, 0, 0, errno); return; }
  r->openFds++;
  fdent *f = ent(r, fd);
  f->slot = slot; f->gen = gen; f->kind = KIND_CONN; f->want = 0; f->pend = 0; f->reg = 0;
  post(r, K_EV_SOCKET_OPENED, slot, gen, fd, 0, 0, 0);
  if (r->nodelay) { int one = 1; setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one); }
  if (p->llen) {
    int one = 1;
    if (p->local.ss_family == AF_INET) setsockopt(fd, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one, sizeof one);
    if (bind(fd, (struct sockaddr *)&p->local, p->llen) < 0) { post(r, K_EV_CONNECT_FAILED, slot, gen, fd, 0, 0, errno); return; }
  }
  int rc;
  do rc = connect(fd, (struct sockaddr *)&p->addr, p->alen); while (rc < 0 && errno == EINTR);
  if (rc == 0) { post(r, K_EV_CONNECTED, slot, gen, fd, 0, 0, 0); return; }
  if (errno != EINPROGRESS) { post(r, K_EV_CONNECT_FAILED, slot, gen, fd, 0, 0, errno); return; }
  f->kind = KIND_CONNECTING;
  apply_interest(r, fd, f);
}

/* Executes the whole submission ring, then applies the interest changes it asked for (the
 * last word per descriptor wins: one epoll_ctl per descriptor at most). */
static void execute(reactor *r) {
  uint32_t head = HDR(r, submitHead), tail = HDR(r, submitTail);
  uint32_t cap = HDR(r, submitCap), base = HDR(r, submitsOff);
  while (head != tail) {
    const uint32_t *rec = (const uint32_t *)(r->mem + base + (head & (cap - 1)) * L_SubmitRec_BYTES);
    uint32_t op = rec[0] & 0xff, flags = (rec[0] >> 8) & 0xff, slot = rec[1], gen = rec[2], a = rec[4], b = rec[5];
    int fd = (int32_t)rec[3];
    switch (op) {
      case K_SQ_INTEREST: {
        fdent *f = ent(r, fd);
        if (!f || f->kind == KIND_NONE) break;
        f->slot = slot; f->gen = gen;
        uint8_t added = (uint8_t)(a & ~f->want);
        f->want = (uint8_t)a;
        if (r->edge) {
          if (f->reg == 0) mark_chg(r, fd, f);        /* first interest: register once, for good */
          else if (added & f->pend) mark_ready(r, fd); /* readiness seen while not wanted */
        } else mark_chg(r, fd, f);
        break;
      }
      case K_SQ_WRITE: do_write(r, slot, gen, fd, a, b); break;
      case K_SQ_SHUTDOWN: if (fd >= 0) shutdown(fd, SHUT_WR); break;
      case K_SQ_CLOSE: do_close(r, fd, (flags & K_SQF_RESET) != 0); break;
      case K_SQ_CONNECT: do_connect(r, slot, gen); break;
      default: break;
    }
    head++;
  }
  __atomic_store_n((uint32_t *)(r->mem + K_LAYOUT_BASE + L_Header_submitHead), head, __ATOMIC_RELEASE);
  for (int i = 0; i < r->chgN; i++) {
    int fd = r->chg[i];
    fdent *f = &r->fds[fd];
    f->flags &= ~F_CHG;
    if (f->kind != KIND_NONE) apply_interest(r, fd, f);
  }
  r->chgN = 0;
}

/* Chunks came back: starved sockets may read again. */
static void unstarve(reactor *r) {
  if (r->stvN == 0 || reads_blocked(r)) return;
  for (int i = 0; i < r->stvN; i++) {
    int fd = r->stv[i];
    fdent *f = &r->fds[fd];
    f->flags &= ~F_IN_STV;
    if (!(f->flags & F_STARVED)) continue;
    f->flags &= ~F_STARVED;
    if (f->kind == KIND_NONE) continue;
    if (r->edge) mark_ready(r, fd);
    else apply_interest(r, fd, f);
  }
  r->stvN = 0;
}

static void starve(reactor *r, int fd, fdent *f) {
  if (f->flags & F_STARVED) return;
  f->flags |= F_STARVED;
  if (!(f->flags & F_IN_STV)) { f->flags |= F_IN_STV; list_push(&r->stv, &r->stvN, &r->stvCap, fd); }
  r->stats[S_STARVED]++;
  if (!r->edge) apply_interest(r, fd, f); /* EPOLLIN off until chunks return: no spinning */
}

/* ── readiness → events ────────────────────────────────────────────────────────────────── */
static void accept_some(reactor *r, int lfd) {
  if (HDR(r, hostFlags) & K_HOST_ACCEPTS_PAUSED) return;
  while (r->acceptLeft > 0 && event_room(r) > 0) {
    int fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
    fdent *lf;
    if (fd >= 0) {
      r->openFds++;
      fdent *f = ent(r, fd); /* may move the table: the listener's entry is looked up after */
      lf = &r->fds[lfd];
      if (!f) { close(fd); r->openFds--; post(r, K_EV_ACCEPT_ERROR, lf->slot, lf->gen, lfd, 0, 0, ENOMEM); return; }
      f->slot = K_NONE; f->gen = 0; f->kind = KIND_CONN; f->want = 0; f->pend = 0; f->reg = 0;
      if (r->nodelay) { int one = 1; setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one); }
      r->acceptLeft--;
      r->stats[S_ACCEPTS]++;
      post(r, K_EV_ACCEPTED, lf->slot, lf->gen, fd, 0, 0, 0);
      continue;
    }
    int e = errno;
    lf = &r->fds[lfd];
    if (e == EINTR || e == ECONNABORTED || e == EPROTO) continue;
    if (e == EAGAIN || e == EWOULDBLOCK) { lf->pend &= ~P_READ; return; }
    if (e == EMFILE || e == ENFILE) {
      r->stats[S_ACCEPT_EMFILE]++;
      if (r->reservefd >= 0) {
        /* Shed one: free the reserve descriptor, accept and close at once (the client sees a
         * reset, not a hang in the accept queue), take the reserve back. */
        close(r->reservefd);
        int s = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
        if (s >= 0) { struct linger l = { 1, 0 }; setsockopt(s, SOL_SOCKET, SO_LINGER, &l, sizeof l); close(s); r->stats[S_ACCEPT_SHED]++; }
        r->reservefd = open("/dev/null", O_RDONLY | O_CLOEXEC);
      }
    }
    post(r, K_EV_ACCEPT_ERROR, lf->slot, lf->gen, lfd, 0, 0, (uint32_t)e);
    lf->pend &= ~P_READ;
    return;
  }
}

static void read_some(reactor *r, int fd, fdent *f) {
  uint32_t budget = HDR(r, readsPerConn);
  uint32_t csize = HDR(r, chunkSize), dataOff = HDR(r, chunkDataOff);
  uint32_t scap = HDR(r, supplyCap), soff = HDR(r, supplyOff);
  for (uint32_t n = 0; n < budget; n++) {
    if (event_room(r) == 0) return;                    /* next turn: level mode sees it again, edge keeps P_READ */
    if (reads_blocked(r)) {
      /* Pool pressure (no chunk at the start of the poll): park the socket so level mode does
       * not spin. A supply used up by this turn's reads is only the turn's budget: leave the
       * registration alone, the socket is reported again next turn. */
      if (r->readsBlockedAtStart) starve(r, fd, f);
      return;
    }
    uint32_t sh = HDR(r, supplyHead);
    uint32_t c = U32(r, soff + (sh & (scap - 1)) * 4);
    ssize_t got = recv(fd, r->mem + dataOff + c * csize, csize, MSG_DONTWAIT);
    r->stats[S_READ_CALLS]++;
    if (got > 0) {
      __atomic_store_n((uint32_t *)(r->mem + K_LAYOUT_BASE + L_Header_supplyHead), sh + 1, __ATOMIC_RELEASE);
      post(r, K_EV_READ, f->slot, f->gen, fd, c, (uint32_t)got, 0);
      /* A short read empties the queue, unless a FIN came with the data: read on to the 0 (in
       * edge mode no new edge would ever report it). */
      if ((uint32_t)got < csize && !(f->pend & P_HUP)) { f->pend &= ~P_READ; return; }
      continue;
    }
    if (got == 0) { post(r, K_EV_READ, f->slot, f->gen, fd, K_NONE, 0, 0); f->pend &= ~(P_READ | P_HUP); return; }
    if (errno == EINTR) { n--; continue; }
    if (errno == EAGAIN || errno == EWOULDBLOCK) { f->pend &= ~P_READ; return; }
    post(r, K_EV_READ_ERROR, f->slot, f->gen, fd, 0, 0, (uint32_t)errno);
    f->pend &= ~(P_READ | P_HUP);
    return;
  }
}

static void finish_connect(reactor *r, int fd, fdent *f) {
  int err = 0;
  socklen_t len = sizeof err;
  if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0) err = errno;
  if (err == EINPROGRESS || err == EALREADY) return;
  f->kind = KIND_CONN;
  f->pend &= ~P_WRITE;
  if (err == 0) post(r, K_EV_CONNECTED, f->slot, f->gen, fd, 0, 0, 0);
  else post(r, K_EV_CONNECT_FAILED, f->slot, f->gen, fd, 0, 0, (uint32_t)err);
  mark_chg(r, fd, f); /* EPOLLOUT off (level mode) until the core says what it wants */
}

/* Does what readiness allows for one descriptor. Returns 1 if work is left (edge mode). */
static int service(reactor *r, int fd) {
  fdent *f = &r->fds[fd];
  switch (f->kind) {
    case KIND_LISTENER:
      if ((f->pend & P_READ) && (f->want & K_IN_READ)) accept_some(r, fd);
      f = &r->fds[fd];
      return (f->pend & P_READ) && (f->want & K_IN_READ) && !(HDR(r, hostFlags) & K_HOST_ACCEPTS_PAUSED);
    case KIND_CONNECTING:
      if (f->pend & P_WRITE) finish_connect(r, fd, f);
      return 0;
    case KIND_CONN: {
      if ((f->pend & P_READ) && (f->want & K_IN_READ) && !(f->flags & F_STARVED)) read_some(r, fd, f);
      if ((f->pend & P_WRITE) && (f->want & K_IN_WRITE) && event_room(r) > 0) {
        post(r, K_EV_WRITABLE, f->slot, f->gen, fd, 0, 0, 0);
        f->pend &= ~P_WRITE;
      }
      return ((f->pend & P_READ) && (f->want & K_IN_READ) && !(f->flags & F_STARVED)) ||
             ((f->pend & P_WRITE) && (f->want & K_IN_WRITE));
    }
    default:
      return 0;
  }
}

static void poll_events(reactor *r, int n) {
  r->acceptLeft = HDR(r, acceptBudget);
  r->readsBlockedAtStart = reads_blocked(r);
  ov_flush(r);
  /* edge mode: what was left over from earlier turns goes first */
  if (r->edge && r->rdyN) {
    int keep = 0, len = r->rdyN;
    for (int i = 0; i < len; i++) {
      int fd = r->rdy[i];
      fdent *f = &r->fds[fd];
      if (f->kind != KIND_NONE && event_room(r) > 0 && service(r, fd)) { r->rdy[keep++] = fd; continue; }
      f = &r->fds[fd];
      if (f->kind != KIND_NONE && event_room(r) == 0 && f->pend) { r->rdy[keep++] = fd; continue; }
      f->flags &= ~F_READY;
    }
    /* entries pushed while servicing (none expected) stay after the kept ones */
    for (int i = len; i < r->rdyN; i++) r->rdy[keep++] = r->rdy[i];
    r->rdyN = keep;
  }
  for (int i = 0; i < n; i++) {
    int fd = (int)(uint32_t)r->evs[i].data.u64;
    uint32_t ev = r->evs[i].events;
    if (fd == r->wakefd) { uint64_t v; while (read(fd, &v, 8) == 8) {} r->woken = 1; r->stats[S_WAKEUPS]++; continue; }
    if (fd >= r->fdCap) continue;
    fdent *f = &r->fds[fd];
    if (f->kind == KIND_NONE) continue;
    if (ev & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR)) f->pend |= P_READ;
    if (ev & (EPOLLRDHUP | EPOLLHUP | EPOLLERR)) f->pend |= P_HUP;
    if (ev & (EPOLLOUT | EPOLLHUP | EPOLLERR)) f->pend |= P_WRITE;
    if (event_room(r) == 0) { if (r->edge) mark_ready(r, fd); else f->pend = 0; continue; }
    if (service(r, fd) && r->edge) mark_ready(r, fd);
    if (!r->edge) r->fds[fd].pend = 0; /* level mode: the kernel says it again next time */
  }
}

static int turn(reactor *r, int timeoutMs) {
  uint32_t before = HDR(r, eventTail);
  r->woken = 0;
  unstarve(r);
  execute(r);
  r->stats[S_TURNS]++;
  /* Never sleep on work in hand: completions execute just posted (a write done frees chunks
   * that starved reads wait for), overflow, or an edge-mode ready list. */
  if (r->ovN || (r->edge && r->rdyN) || HDR(r, eventTail) != before) timeoutMs = 0;
  /* Ask only for what this turn can serve: event ring room, and a supply chunk per socket
   * (each may be a read). A socket epoll reports in level mode but we cannot read goes to the
   * back of epoll's ready list, behind every socket that became ready meanwhile: a few
   * unlucky ones per turn starved (p99.9 at 10k connections 3x the median). Those never
   * reported keep their place: first come, first served. With no supply at all, readable
   * sockets are parked (see starve), so a few events still serve accepts and writables. */
  int want = r->maxEvents;
  uint32_t room = HDR(r, eventCap) - (HDR(r, eventTail) - HDR(r, eventHead));
  uint32_t supply = HDR(r, supplyTail) - HDR(r, supplyHead);
  if ((uint32_t)want > room) want = (int)room;
  if (supply > 0 && (uint32_t)want > supply) want = (int)supply;
  if (supply == 0 && want > 64) want = 64;
  if (want < 1) want = 1;
  int n;
  do n = epoll_wait(r->epfd, r->evs, want, timeoutMs); while (n < 0 && errno == EINTR && timeoutMs == 0);
  if (n < 0) n = 0; /* EINTR while blocking: a signal; the caller runs a turn and comes back */
  r->stats[S_WAITS]++;
  poll_events(r, n);
  return (int)(HDR(r, eventTail) - before);
}

/* ── poller thread (main-thread mode) ──────────────────────────────────────────────────── */
static void *poller_main(void *arg) {
  reactor *r = arg;
  pthread_mutex_lock(&r->mu);
  for (;;) {
    while (!r->armed && !r->stop) pthread_cond_wait(&r->cv, &r->mu);
    if (r->stop) break;
    int t = r->armTimeout;
    pthread_mutex_unlock(&r->mu);
    struct pollfd p = { .fd = r->epfd, .events = POLLIN };
    poll(&p, 1, t); /* readiness of the epoll set, not consumed; the eventfd is in the set */
    pthread_mutex_lock(&r->mu);
    r->armed = 0;
    if (r->stop) break;
    napi_call_threadsafe_function(r->tsfn, NULL, napi_tsfn_nonblocking);
  }
  pthread_mutex_unlock(&r->mu);
  return NULL;
}

static void tsfn_call_js(napi_env env, napi_value js_cb, void *context, void *data) {
  (void)context; (void)data;
  if (env == NULL || js_cb == NULL) return;
  napi_value undef;
  napi_get_undefined(env, &undef);
  napi_call_function(env, undef, js_cb, 0, NULL, NULL);
}

/* ── Node-API glue ─────────────────────────────────────────────────────────────────────── */
#define CHECK(call) do { if ((call) != napi_ok) { napi_throw_error(env, "ERR_NATIVE", "wasm-reactor native shim: " #call " failed"); return NULL; } } while (0)

static napi_value throw_errno(napi_env env, const char *what, int err) {
  char msg[256];
  snprintf(msg, sizeof msg, "%s: %s", what, strerror(err));
  napi_value m, e, code, no;
  napi_create_string_utf8(env, msg, NAPI_AUTO_LENGTH, &m);
  napi_create_error(env, NULL, m, &e);
  napi_create_int32(env, err, &no);
  napi_set_named_property(env, e, "errno", no);
  napi_create_string_utf8(env, "ERR_NATIVE_ERRNO", NAPI_AUTO_LENGTH, &code);
  napi_set_named_property(env, e, "code", code);
  napi_throw(env, e);
  return NULL;
}

static reactor *get_r(napi_env env, napi_value v) {
  reactor *r = NULL;
  if (napi_get_value_external(env, v, (void **)&r) != napi_ok || !r || r->destroyed) {
    napi_throw_error(env, "ERR_NATIVE", "wasm-reactor native shim: not a live reactor handle");
    return NULL;
  }
  r->stats[S_CALLS]++;
  return r;
}

static int32_t arg_i32(napi_env env, napi_value v) { int32_t x = 0; napi_get_value_int32(env, v, &x); return x; }

/* [a, b] as a JS array. */
static napi_value pair(napi_env env, napi_value a, napi_value b) {
  napi_value out;
  napi_create_array_with_length(env, 2, &out);
  napi_set_element(env, out, 0, a); napi_set_element(env, out, 1, b);
  return out;
}

/* The data of a typed array of the given type, or NULL (an error thrown) when it is not one. */
static void *arg_typed(napi_env env, napi_value v, napi_typedarray_type want, size_t *len, const char *what) {
  napi_typedarray_type t; void *data; napi_value ab; size_t off;
  if (napi_get_typedarray_info(env, v, &t, len, &data, &ab, &off) != napi_ok || t != want) {
    napi_throw_error(env, "ERR_NATIVE", what);
    return NULL;
  }
  return data;
}

static int parse_addr(napi_env env, napi_value v, int port, struct sockaddr_storage *ss, socklen_t *len) {
  char host[128];
  size_t n = 0;
  if (napi_get_value_string_utf8(env, v, host, sizeof host, &n) != napi_ok) return -1;
  memset(ss, 0, sizeof *ss);
  struct sockaddr_in *a4 = (struct sockaddr_in *)ss;
  struct sockaddr_in6 *a6 = (struct sockaddr_in6 *)ss;
  if (inet_pton(AF_INET, host, &a4->sin_addr) == 1) { a4->sin_family = AF_INET; a4->sin_port = htons(port); *len = sizeof *a4; return 0; }
  if (inet_pton(AF_INET6, host, &a6->sin6_addr) == 1) { a6->sin6_family = AF_INET6; a6->sin6_port = htons(port); *len = sizeof *a6; return 0; }
  return -1;
}

static void finalize_reactor(napi_env env, void *data, void *hint) {
  (void)env; (void)hint;
  reactor *r = data;
  if (!r->destroyed) return; /* never destroyed: leave the descriptors to the process */
  free(r);
}

/* create(edge, maxEvents, nodelay, shed) */
static napi_value n_create(napi_env env, napi_callback_info info) {
  size_t argc = 4; napi_value argv[4];
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  reactor *r = calloc(1, sizeof *r);
  r->edge = arg_i32(env, argv[0]);
  r->maxEvents = arg_i32(env, argv[1]);
  if (r->maxEvents < 16) r->maxEvents = 16;
  r->nodelay = arg_i32(env, argv[2]);
  r->shed = arg_i32(env, argv[3]);
  r->epfd = epoll_create1(EPOLL_CLOEXEC);
  if (r->epfd < 0) { int e = errno; free(r); return throw_errno(env, "epoll_create1", e); }
  r->wakefd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  if (r->wakefd < 0) { int e = errno; close(r->epfd); free(r); return throw_errno(env, "eventfd", e); }
  struct epoll_event e = { .events = EPOLLIN, .data = { .u64 = (uint64_t)(uint32_t)r->wakefd } };
  epoll_ctl(r->epfd, EPOLL_CTL_ADD, r->wakefd, &e);
  r->reservefd = r->shed ? open("/dev/null", O_RDONLY | O_CLOEXEC) : -1;
  r->evs = calloc(r->maxEvents, sizeof(struct epoll_event));
  pthread_mutex_init(&r->mu, NULL);
  pthread_cond_init(&r->cv, NULL);
  napi_value ext;
  CHECK(napi_create_external(env, r, finalize_reactor, NULL, &ext));
  return ext;
}

/* attach(h, memoryU8, slotCap) */
static napi_value n_attach(napi_env env, napi_callback_info info) {
  size_t argc = 3; napi_value argv[3];
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  reactor *r = get_r(env, argv[0]); if (!r) return NULL;
  const char *need = "wasm-reactor native shim: attach needs a Uint8Array over the core's whole memory";
  size_t len;
  void *data = arg_typed(env, argv[1], napi_uint8_array, &len, need);
  if (!data) return NULL;
  if (len < K_LAYOUT_BASE + 1024) { napi_throw_error(env, "ERR_NATIVE", need); return NULL; }
  r->mem = data;
  char why[256];
  if (wr_layout_check(r->mem, why, sizeof why) != 0) { r->mem = NULL; napi_throw_error(env, "ERR_NATIVE", why); return NULL; }
  r->pcCap = (uint32_t)arg_i32(env, argv[2]);
  /* the descriptor table, sized once for the process's limit (it grows past it if it must) */
  struct rlimit rl;
  if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY && rl.rlim_cur < (1u << 22)) ent(r, (int)rl.rlim_cur - 1);
  r->pc = calloc(r->pcCap, sizeof(pending_connect));
  return NULL;
}

/* listen(h, host, port, backlog, reuseport) → [fd, port] */
static napi_value n_listen(napi_env env, napi_callback_info info) {
  size_t argc = 5; napi_value argv[5];
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  reactor *r = get_r(env, argv[0]); if (!r) return NULL;
  struct sockaddr_storage ss; socklen_t len;
  if (parse_addr(env, argv[1], arg_i32(env, argv[2]), &ss, &len) < 0) return throw_errno(env, "listen: not an IPv4 or IPv6 address", EINVAL);
  int fd = socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) return throw_errno(env, "socket", errno);
  int one = 1;
  setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  if (arg_i32(env, argv[4]) && setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one) < 0) { int e = errno; close(fd); return throw_errno(env, "SO_REUSEPORT", e); }
  if (ss.ss_family == AF_INET6) setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof one);
  if (bind(fd, (struct sockaddr *)&ss, len) < 0) { int e = errno; close(fd); return throw_errno(env, "bind", e); }
  if (listen(fd, arg_i32(env, argv[3])) < 0) { int e = errno; close(fd); return throw_errno(env, "listen", e); }
  struct sockaddr_storage got; socklen_t glen = sizeof got;
  getsockname(fd, (struct sockaddr *)&got, &glen);
  int port = ntohs(got.ss_family == AF_INET ? ((struct sockaddr_in *)&got)->sin_port : ((struct sockaddr_in6 *)&got)->sin6_port);
  fdent *f = ent(r, fd);
  f->kind = KIND_LISTENER; f->slot = K_NONE; f->gen = 0; f->want = 0; f->pend = 0; f->reg = 0;
  r->openFds++;
  napi_value a, b;
  napi_create_int32(env, fd, &a); napi_create_int32(env, port, &b);
  return pair(env, a, b);
}

/* prepareConnect(h, slot, gen, host, port, localHost|null) → 0, or throws EINVAL */
static napi_value n_prepare_connect(napi_env env, napi_callback_info info) {
  size_t argc = 6; napi_value argv[6];
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  reactor *r = get_r(env, argv[0]); if (!r) return NULL;
  uint32_t slot = (uint32_t)arg_i32(env, argv[1]);
  if (slot >= r->pcCap) return throw_errno(env, "prepareConnect: slot out of range", EINVAL);
  pending_connect *p = &r->pc[slot];
  if (parse_addr(env, argv[3], arg_i32(env, argv[4]), &p->addr, &p->alen) < 0) return throw_errno(env, "connect: not an IPv4 or IPv6 address", EINVAL);
  p->llen = 0;
  napi_valuetype vt; napi_typeof(env, argv[5], &vt);
  if (vt == napi_string && parse_addr(env, argv[5], 0, &p->local, &p->llen) < 0) return throw_errno(env, "connect: localAddress is not an IPv4 or IPv6 address", EINVAL);
  if (p->llen && p->local.ss_family != p->addr.ss_family) return throw_errno(env, "connect: localAddress and host are of different families", EINVAL);
  p->gen = (uint32_t)arg_i32(env, argv[2]);
  p->used = 1;
  return NULL;
}

/* turn(h, timeoutMs) → events posted */
static napi_value n_turn(napi_env env, napi_callback_info info) {
  size_t argc = 2; napi_value argv[2];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  reactor *r = get_r(env, argv[0]); if (!r) return NULL;
  if (!r->mem) { napi_throw_error(env, "ERR_NATIVE", "wasm-reactor native shim: turn before attach"); return NULL; }
  int n = turn(r, arg_i32(env, argv[1]));
  napi_value out;
  /* bit 30: woken by the eventfd; bit 29: work left that needs no waiting (overflow, edge ready list) */
  napi_create_int32(env, n | (r->woken ? 0x40000000 : 0) | ((r->ovN || (r->edge && r->rdyN)) ? 0x20000000 : 0), &out);
  return out;
}

/* waitAsync(h, timeoutMs, cb): cb() on the JS thread once the epoll set is ready or the time passed */
static napi_value n_wait_async(napi_env env, napi_callback_info info) {
  size_t argc = 3; napi_value argv[3];
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  reactor *r = get_r(env, argv[0]); if (!r) return NULL;
  r->stats[S_ASYNC_WAITS]++;
  if (!r->thrStarted) {
    napi_value name;
    napi_create_string_utf8(env, "wasm-reactor poller", NAPI_AUTO_LENGTH, &name);
    CHECK(napi_create_threadsafe_function(env, argv[2], NULL, name, 0, 1, NULL, NULL, NULL, tsfn_call_js, &r->tsfn));
    if (pthread_create(&r->thr, NULL, poller_main, r) != 0) return throw_errno(env, "pthread_create", errno);
    r->thrStarted = 1;
  }
  napi_ref_threadsafe_function(env, r->tsfn); /* a pending wait keeps the process alive */
  pthread_mutex_lock(&r->mu);
  r->armTimeout = arg_i32(env, argv[1]);
  r->armed = 1;
  pthread_cond_signal(&r->cv);
  pthread_mutex_unlock(&r->mu);
  return NULL;
}

/* unref(h): nothing waits any more (called after the poller's callback) */
static napi_value n_unref(napi_env env, napi_callback_info info) {
  size_t argc = 1; napi_value argv[1];
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  reactor *r = get_r(env, argv[0]); if (!r) return NULL;
  if (r->thrStarted) napi_unref_threadsafe_function(env, r->tsfn);
  return NULL;
}

/* wakeFd(h) → the eventfd; wake(fd) may be called from any thread with that number */
static napi_value n_wake_fd(napi_env env, napi_callback_info info) {
  size_t argc = 1; napi_value argv[1];
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  reactor *r = get_r(env, argv[0]); if (!r) return NULL;
  napi_value out; napi_create_int32(env, r->wakefd, &out); return out;
}

static napi_value n_wake(napi_env env, napi_callback_info info) {
  size_t argc = 1; napi_value argv[1];
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  uint64_t one = 1;
  ssize_t w = write(arg_i32(env, argv[0]), &one, 8);
  napi_value out; napi_get_boolean(env, w == 8 || errno == EAGAIN, &out); return out;
}

/* closeFd(h, fd): a descriptor the core never took over */
static napi_value n_close_fd(napi_env env, napi_callback_info info) {
  size_t argc = 2; napi_value argv[2];
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  reactor *r = get_r(env, argv[0]); if (!r) return NULL;
  do_close(r, arg_i32(env, argv[1]), 0);
  return NULL;
}

/* peerName(h, fd) → [host, port] or undefined */
static napi_value n_peer_name(napi_env env, napi_callback_info info) {
  size_t argc = 2; napi_value argv[2];
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  reactor *r = get_r(env, argv[0]); if (!r) return NULL;
  struct sockaddr_storage ss; socklen_t len = sizeof ss;
  napi_value out; napi_get_undefined(env, &out);
  if (getpeername(arg_i32(env, argv[1]), (struct sockaddr *)&ss, &len) < 0) return out;
  char buf[INET6_ADDRSTRLEN] = { 0 };
  int port;
  if (ss.ss_family == AF_INET) { inet_ntop(AF_INET, &((struct sockaddr_in *)&ss)->sin_addr, buf, sizeof buf); port = ntohs(((struct sockaddr_in *)&ss)->sin_port); }
  else { inet_ntop(AF_INET6, &((struct sockaddr_in6 *)&ss)->sin6_addr, buf, sizeof buf); port = ntohs(((struct sockaddr_in6 *)&ss)->sin6_port); }
  napi_value a, b;
  napi_create_string_utf8(env, buf, NAPI_AUTO_LENGTH, &a); napi_create_int32(env, port, &b);
  return pair(env, a, b);
}

/* sampleQueues(h, maxSockets): kernel send/receive queue depths of up to maxSockets
 * connections (round robin over calls), into the stats. Sampled, never per event. */
static napi_value n_sample_queues(napi_env env, napi_callback_info info) {
  size_t argc = 2; napi_value argv[2];
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  reactor *r = get_r(env, argv[0]); if (!r) return NULL;
  r->stats[S_CALLS]--; /* observing is not a turn's crossing */
  int max = arg_i32(env, argv[1]);
  double n = 0, in = 0, out = 0, inMax = 0, outMax = 0;
  int seen = 0;
  for (int k = 0; k < r->fdCap && seen < max; k++) {
    int fd = (r->qCursor + k) % (r->fdCap ? r->fdCap : 1);
    fdent *f = &r->fds[fd];
    if (f->kind != KIND_CONN) continue;
    int qi = 0, qo = 0;
    if (ioctl(fd, SIOCINQ, &qi) < 0 || ioctl(fd, SIOCOUTQ, &qo) < 0) continue;
    seen++; n++; in += qi; out += qo;
    if (qi > inMax) inMax = qi;
    if (qo > outMax) outMax = qo;
    if (seen == max) r->qCursor = (fd + 1) % r->fdCap;
  }
  r->stats[S_Q_SOCKETS] = n; r->stats[S_Q_IN] = in; r->stats[S_Q_OUT] = out;
  r->stats[S_Q_IN_MAX] = inMax; r->stats[S_Q_OUT_MAX] = outMax;
  return NULL;
}

/* stats(h, Float64Array) */
static napi_value n_stats(napi_env env, napi_callback_info info) {
  size_t argc = 2; napi_value argv[2];
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  reactor *r = get_r(env, argv[0]); if (!r) return NULL;
  size_t len;
  void *data = arg_typed(env, argv[1], napi_float64_array, &len, "wasm-reactor native shim: stats needs a Float64Array");
  if (!data) return NULL;
  r->stats[S_CALLS]--; /* observing is not a turn's crossing */
  r->stats[S_FDS_OPEN] = r->openFds;
  memcpy(data, r->stats, sizeof(double) * (len < S_COUNT ? len : S_COUNT));
  return NULL;
}

/* limits() → [soft, hard] RLIMIT_NOFILE */
static napi_value n_limits(napi_env env, napi_callback_info info) {
  (void)info;
  struct rlimit rl;
  getrlimit(RLIMIT_NOFILE, &rl);
  napi_value a, b;
  napi_create_double(env, rl.rlim_cur == RLIM_INFINITY ? 1e9 : (double)rl.rlim_cur, &a);
  napi_create_double(env, rl.rlim_max == RLIM_INFINITY ? 1e9 : (double)rl.rlim_max, &b);
  return pair(env, a, b);
}

/* destroy(h) → descriptors that were still open (closed now: a leak the caller reports) */
static napi_value n_destroy(napi_env env, napi_callback_info info) {
  size_t argc = 1; napi_value argv[1];
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  reactor *r = get_r(env, argv[0]); if (!r) return NULL;
  int leaked = 0;
  if (r->thrStarted) {
    pthread_mutex_lock(&r->mu);
    r->stop = 1;
    pthread_cond_signal(&r->cv);
    pthread_mutex_unlock(&r->mu);
    uint64_t one = 1;
    if (write(r->wakefd, &one, 8) < 0) { /* the poller also wakes by its timeout */ }
    pthread_join(r->thr, NULL);
    napi_release_threadsafe_function(r->tsfn, napi_tsfn_abort);
  }
  for (int fd = 0; fd < r->fdCap; fd++) if (r->fds[fd].kind != KIND_NONE) { close(fd); leaked++; }
  close(r->epfd); close(r->wakefd);
  if (r->reservefd >= 0) close(r->reservefd);
  free(r->fds); free(r->chg); free(r->rdy); free(r->stv); free(r->ov); free(r->pc); free(r->evs);
  r->fds = NULL; r->fdCap = 0;
  pthread_mutex_destroy(&r->mu); pthread_cond_destroy(&r->cv);
  r->destroyed = 1;
  napi_value out; napi_create_int32(env, leaked, &out); return out;
}

NAPI_MODULE_INIT() {
  napi_property_descriptor props[] = {
    { "create", NULL, n_create, NULL, NULL, NULL, napi_enumerable, NULL },
    { "attach", NULL, n_attach, NULL, NULL, NULL, napi_enumerable, NULL },
    { "listen", NULL, n_listen, NULL, NULL, NULL, napi_enumerable, NULL },
    { "prepareConnect", NULL, n_prepare_connect, NULL, NULL, NULL, napi_enumerable, NULL },
    { "turn", NULL, n_turn, NULL, NULL, NULL, napi_enumerable, NULL },
    { "waitAsync", NULL, n_wait_async, NULL, NULL, NULL, napi_enumerable, NULL },
    { "unref", NULL, n_unref, NULL, NULL, NULL, napi_enumerable, NULL },
    { "wakeFd", NULL, n_wake_fd, NULL, NULL, NULL, napi_enumerable, NULL },
    { "wake", NULL, n_wake, NULL, NULL, NULL, napi_enumerable, NULL },
    { "closeFd", NULL, n_close_fd, NULL, NULL, NULL, napi_enumerable, NULL },
    { "peerName", NULL, n_peer_name, NULL, NULL, NULL, napi_enumerable, NULL },
    { "sampleQueues", NULL, n_sample_queues, NULL, NULL, NULL, napi_enumerable, NULL },
    { "stats", NULL, n_stats, NULL, NULL, NULL, napi_enumerable, NULL },
    { "limits", NULL, n_limits, NULL, NULL, NULL, napi_enumerable, NULL },
    { "destroy", NULL, n_destroy, NULL, NULL, NULL, napi_enumerable, NULL },
  };
  napi_define_properties(env, exports, sizeof props / sizeof props[0], props);
  return exports;
}
