/*
 * The fault-injecting syscall wrappers: the same sources built with -DWR_FAULTS (into
 * wasm_reactor_faults.node) inject, with seeded odds, what the kernel can do to a server, so
 * that `fuzz --host epoll` meets on real loopback sockets the faults the simulator makes up.
 * The release build compiles this file to nothing: its wrappers are the plain syscalls
 * (shim.h), inlined.
 *
 * Every injected fault keeps the kernel's contract, so the shim's own handling is what is
 * tested, not a world that cannot happen:
 *   readEagain    recv says EAGAIN although bytes wait: as if they had not arrived yet; they
 *                 "arrive" at once (edge mode keeps the socket ready, level mode sees it again);
 *   readShort     recv returns fewer bytes than were waiting (1 .. len-1): the rest is read
 *                 later, and edge mode keeps the socket ready as if a new edge had come;
 *   writeEagain   send writes nothing and says EAGAIN: the buffer "is full" and writability
 *                 "comes back" (edge mode: pending writable, as the kernel's next edge);
 *   writeShort    send writes a real prefix (1 .. len-1 bytes) and returns its length;
 *   eintr         recv, send, accept4 or connect fail with EINTR before doing anything (each
 *                 retry loop is bounded: after 16 in a row, the work waits for the next turn);
 *   reset, epipe  recv (reset only) or send fail with ECONNRESET / EPIPE, possibly after an
 *                 earlier call of the same write moved bytes (which are still reported), and the
 *                 socket stays broken: every later recv or send on it fails the same way, as a
 *                 reset socket does;
 *   acceptEmfile, acceptEnfile   accept4 fails with EMFILE / ENFILE; the client stays queued;
 *   enobufs       send, socket() (for a CONNECT) or accept4 fail with ENOBUFS;
 *   connectHang   connect() is never made: the socket stays "in progress" forever, like a SYN
 *                 to a black hole, never registered with the kernel (an unconnected socket
 *                 would report EPOLLOUT|EPOLLHUP at once); only the core's connect timeout ends it;
 *   ctlEnospc     registering interest fails with ENOSPC, as at fs.epoll.max_user_watches.
 * The io_uring backend (host/backends/uring/uring.c) has no recv/send calls to wrap: it injects at
 * its own edges with wr_fault() the kinds that have a counterpart there (reset, epipe, enobufs,
 * writeEagain, writeShort); its accepts are accept4 through wr_sys_accept (acceptEmfile/Enfile,
 * eintr), and connectHang, ctlEnospc and socket's enobufs come through the shared paths as here;
 * readEagain and readShort have none (a completion is data already read) and never fire there.
 * Each kind has its own xorshift128+ stream, seeded from `seed` and the kind, so turning one
 * kind off leaves the others' draws alone (as in the simulator). Each injection is counted by
 * kind in the stats (faultReadEagain, ...).
 */
#include "shim.h"

#ifdef WR_FAULTS
#include <errno.h>
#include <math.h>
#include <sys/socket.h>
#include <unistd.h>

static uint64_t splitmix64(uint64_t *x) {
  uint64_t z = (*x += 0x9e3779b97f4a7c15ull);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}

static uint64_t next(uint64_t s[2]) { /* xorshift128+ */
  uint64_t a = s[0], b = s[1];
  s[0] = b;
  a ^= a << 23;
  s[1] = a ^ b ^ (a >> 17) ^ (b >> 26);
  return s[1] + b;
}

/* cfg: [seed, p per kind in WR_FK_* order] */
void wr__faults_set(wr_reactor *r, const double *cfg, size_t n) {
  wr_faults *f = &r->faults;
  memset(f, 0, sizeof *f);
  uint64_t seed = n > 0 && cfg[0] >= 0 ? (uint64_t)cfg[0] : 1;
  for (int k = 0; k < WR_FK_COUNT; k++) {
    double p = (size_t)k + 1 < n ? cfg[k + 1] : 0;
    f->p[k] = isfinite(p) && p > 0 ? (p > 1 ? 1 : p) : 0;
    if (f->p[k] > 0) f->on = 1;
    uint64_t x = seed ^ (0x632be59bd9b4e019ull * (uint64_t)(k + 1));
    f->s[k][0] = splitmix64(&x);
    f->s[k][1] = splitmix64(&x) | 1;
  }
}

/* A draw of kind k: 1 with probability p[k] (no draw at all when p is 0). */
static int chance(wr_reactor *r, int k) {
  wr_faults *f = &r->faults;
  if (f->p[k] <= 0) return 0;
  int hit = (double)(next(f->s[k]) >> 11) * 0x1.0p-53 < f->p[k];
  if (hit) r->stats[S_F_READ_EAGAIN + k]++;
  return hit;
}

/* A uniform integer in [0, n) from kind k's stream (n > 0). */
static uint64_t below(wr_reactor *r, int k, uint64_t n) { return next(r->faults.s[k]) % n; }

static wr_fd *entry(wr_reactor *r, int fd) { return fd >= 0 && fd < r->fdCap ? &r->fds[fd] : NULL; }

ssize_t wr_sys_recv(wr_reactor *r, int fd, void *buf, size_t len, int *injected) {
  *injected = 0;
  wr_fd *f = entry(r, fd);
  if (f && f->fault) { errno = ECONNRESET; return -1; }
  if (r->faults.on) {
    if (chance(r, WR_FK_EINTR)) { errno = EINTR; return -1; }
    if (chance(r, WR_FK_RESET)) { if (f) f->fault = ECONNRESET; errno = ECONNRESET; return -1; }
    if (chance(r, WR_FK_READ_EAGAIN)) { *injected = 1; errno = EAGAIN; return -1; }
    if (len > 1 && chance(r, WR_FK_READ_SHORT)) { *injected = 1; len = 1 + (size_t)below(r, WR_FK_READ_SHORT, len - 1); }
  }
  return recv(fd, buf, len, MSG_DONTWAIT);
}

ssize_t wr_sys_sendmsg(wr_reactor *r, int fd, struct msghdr *mh, int *injected) {
  *injected = 0;
  wr_fd *f = entry(r, fd);
  if (f && f->fault) { errno = f->fault; return -1; }
  if (r->faults.on) {
    if (chance(r, WR_FK_EINTR)) { errno = EINTR; return -1; }
    if (chance(r, WR_FK_RESET)) { if (f) f->fault = ECONNRESET; errno = ECONNRESET; return -1; }
    if (chance(r, WR_FK_EPIPE)) { if (f) f->fault = EPIPE; errno = EPIPE; return -1; }
    if (chance(r, WR_FK_ENOBUFS)) { errno = ENOBUFS; return -1; }
    if (chance(r, WR_FK_WRITE_EAGAIN)) { *injected = 1; errno = EAGAIN; return -1; }
    size_t total = 0;
    for (size_t i = 0; i < (size_t)mh->msg_iovlen; i++) total += mh->msg_iov[i].iov_len;
    if (total > 1 && chance(r, WR_FK_WRITE_SHORT)) {
      /* a real prefix: cut the iovecs at 1 .. total-1 bytes (the caller's array is its own scratch) */
      size_t keep = 1 + (size_t)below(r, WR_FK_WRITE_SHORT, total - 1), i = 0;
      for (; i < (size_t)mh->msg_iovlen && keep > mh->msg_iov[i].iov_len; i++) keep -= mh->msg_iov[i].iov_len;
      size_t saved = mh->msg_iov[i].iov_len, savedN = mh->msg_iovlen;
      mh->msg_iov[i].iov_len = keep;
      mh->msg_iovlen = i + 1;
      ssize_t w = sendmsg(fd, mh, WR_MSG_NOSIGNAL | MSG_DONTWAIT);
      mh->msg_iov[i].iov_len = saved; mh->msg_iovlen = savedN;
      *injected = 1;
      return w;
    }
  }
  return sendmsg(fd, mh, WR_MSG_NOSIGNAL | MSG_DONTWAIT);
}

int wr_sys_accept(wr_reactor *r, int lfd) {
  if (r->faults.on) {
    if (chance(r, WR_FK_EINTR)) { errno = EINTR; return -1; }
    if (chance(r, WR_FK_ACCEPT_EMFILE)) { errno = EMFILE; return -1; }
    if (chance(r, WR_FK_ACCEPT_ENFILE)) { errno = ENFILE; return -1; }
    if (chance(r, WR_FK_ENOBUFS)) { errno = ENOBUFS; return -1; }
  }
  return wr_accept_nb(lfd, 1);
}

int wr_sys_socket(wr_reactor *r, int family) {
  if (r->faults.on && chance(r, WR_FK_ENOBUFS)) { errno = ENOBUFS; return -1; }
  return wr_socket_nb(family);
}

int wr_sys_connect(wr_reactor *r, int fd, const struct sockaddr *a, socklen_t len, int *hang) {
  *hang = 0;
  if (r->faults.on) {
    if (chance(r, WR_FK_EINTR)) { errno = EINTR; return -1; }
    if (chance(r, WR_FK_CONNECT_HANG)) { *hang = 1; errno = EINPROGRESS; return -1; }
  }
  return connect(fd, a, len);
}

/* For a completion backend (io_uring), which injects at its own edges: a draw of kind k, and a
 * uniform integer in [0, n) from its stream. */
int wr_fault(wr_reactor *r, int k) { return r->faults.on && chance(r, k); }
uint64_t wr_fault_below(wr_reactor *r, int k, uint64_t n) { return below(r, k, n); }

int wr_sys_ctl_fault(wr_reactor *r) {
  return r->faults.on && chance(r, WR_FK_CTL_ENOSPC) ? ENOSPC : 0;
}
#endif
