// Reference echo server for tests/bench/net.mjs: one thread, io_uring through raw syscalls (no liburing:
// it is not installed by default, and Debian's 2.3 lacks the buffer-ring helpers), beside c-epoll.c.
//
//   c-uring --host 127.0.0.1 --port 0 [--wait coalesced|any]   (prints "listening on HOST:PORT" when
//                                                               ready, then one line saying how it runs)
//   C_URING_WAIT=any selects the plain wait too (the flag wins). C_URING_SETUP=plain: a ring without
//   SINGLE_ISSUER|DEFER_TASKRUN, as where the kernel refuses them. C_URING_STATS=1: counts on exit.
//
// Built by the driver: cc -O2 -Wall -Wextra -o build/bench/c-uring tests/bench/servers/c-uring.c
// Needs Linux 6.0 or later (multishot receive); where io_uring_setup is refused (seccomp, the
// kernel.io_uring_disabled sysctl, an old kernel) it prints "c-uring: io_uring unavailable: ..." on
// stderr and exits 1, and the driver marks the column unavailable with that line.
//
// Listening socket: backlog 4096 as c-epoll. One multishot accept; a new connection gets TCP_NODELAY
// and one multishot receive (IOSQE_BUFFER_SELECT) from a provided-buffer ring (IORING_REGISTER_PBUF_RING,
// NBUF buffers of BUF_SIZE bytes), so an idle connection holds no buffer. Each received buffer is sent
// back as it is (IORING_OP_SEND) and returned to the ring when its send completes. One send in flight
// per connection: further buffers queue behind it (linked through the buffer ids), so echoes keep their
// order even when a send has to wait for room; a short send is resubmitted for the rest. A connection
// with PAUSE_AT buffers queued has its receive cancelled (the backpressure c-epoll gets by not reading
// while a write is pending) and re-armed once its queue drains.
// Buffers: returned ones go on a LIFO free stack and the ring is topped up from it at the end of each
// loop to `target` available buffers (starting at 256, doubled after a loop that saw -ENOBUFS, up to
// NBUF), so the same few hot buffers are reused and RSS grows with the load, not with NBUF (the kernel
// takes the ring's buffers in order, so every buffer the ring holds gets touched). A receive ended by -ENOBUFS is re-armed
// once buffers are back. A multishot (accept or receive) that ends without IORING_CQE_F_MORE is re-armed
// unless the connection is closing or paused.
// The loop: one io_uring_enter per iteration submits the queued SQEs and waits, together.
//   coalesced (default): wait for min(32, arrivals seen last loop) arrivals or 200 µs, whichever first
//     (IORING_ENTER_EXT_ARG timeout; DEFER_TASKRUN lets the kernel count pending completions before
//     waking us, which epoll cannot). Sends submitted in the same call usually complete inline and
//     their completions are already in the ring when the wait starts, so they are added to the count
//     (a send that has to wait for room only makes the 200 µs timeout end the wait). "Arrivals" =
//     accept and receive completions, so a few busy connections among many idle ones wait for what they
//     can deliver, not for the timeout. After a loop with no arrival it sleeps until one (no timeout):
//     idle costs no CPU.
//   any (--wait any): wait_nr = 1 and no timeout, the plain io_uring_submit_and_wait(ring, 1) pattern.
// Setup flags: SINGLE_ISSUER|DEFER_TASKRUN (6.1); if the kernel refuses them, the ring is made without
// them and the second stdout line says so. EMFILE/ENFILE (or any error) ending the multishot accept
// pauses accepting for 10 ms (an IORING_OP_TIMEOUT), as c-epoll leaves its interest set for 10 ms:
// never a spin. A connection is closed (close(2)) only when none of its operations is in flight, so a
// completion can never name a reused descriptor. SIGTERM/SIGINT: io_uring_enter returns -EINTR, the
// loop stops, exit 0 (the kernel closes the connections).
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <linux/io_uring.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

#ifndef IORING_RECV_MULTISHOT
#error "c-uring needs <linux/io_uring.h> from Linux 6.0 or later (multishot receive, buffer rings)"
#endif

enum {
  SQ_ENTRIES = 16384, CQ_ENTRIES = 65536, // the kernel's largest CQ: 10,000 busy connections fit
  NBUF = 32768, BUF_SIZE = 2048, BGID = 0, TARGET0 = 256, // NBUF: the most a ring takes; above the busy connections
  PAUSE_AT = 16,      // buffers queued on one connection before its receive is cancelled
  WANT_MAX = 32,      // coalesced waits: at most this many arrivals
};
static const long long WAIT_NS = 200000;         // ... or 200 µs
static const long long ACCEPT_PAUSE_NS = 10000000; // accept errors: 10 ms

enum { T_ACCEPT = 1, T_ACCEPT_RETRY, T_RECV, T_SEND, T_CANCEL };
#define UD(tag, fd) (((uint64_t)(tag) << 32) | (uint32_t)(fd))

enum { F_OPEN = 1, F_RECV = 2, F_CANCEL = 4, F_CLOSING = 8, F_ERROR = 16, F_STARVED = 32 };
#define NONE 0xFFFF
typedef struct { uint16_t head, tail, qlen, flags; uint32_t off; } conn_t; // head: the buffer being sent

static volatile sig_atomic_t stopping;
static void on_signal(int sig) { (void)sig; stopping = 1; }

static int ring_fd, lfd;
static size_t maxfd;
static conn_t *conns;
// SQ and CQ as mapped
static unsigned *sq_head, *sq_tail, *sq_mask, *sq_array, *cq_head, *cq_tail, *cq_mask;
static struct io_uring_sqe *sqes;
static struct io_uring_cqe *cqes;
static unsigned sq_local_tail, sq_entries; // SQEs prepared, published at submit
static unsigned to_submit, sends_now;
// buffers
static char *bufs;
static struct io_uring_buf_ring *br;
static uint16_t br_tail, blen_of[NBUF], next_of[NBUF], free_stack[NBUF];
static unsigned free_top, provided, consumed, target = TARGET0;
static int enobufs_seen; // this loop: the ring's target doubles once (not once per -ENOBUFS of a burst)
static int any_starved;  // some receive ended with -ENOBUFS (F_STARVED): re-armed once buffers are back
static size_t fd_hi;     // highest connection descriptor seen + 1: the scan for starved ones stops there
// C_URING_STATS=1: these counts go to stderr on exit (which paths a run took; not needed otherwise)
static struct { unsigned long long enters, extra_enters, cqes, recvs, sends, short_sends, enobufs, cancels, rearms, accept_errors; } st;
static struct __kernel_timespec accept_pause = {.tv_sec = 0, .tv_nsec = ACCEPT_PAUSE_NS};

static int sys_setup(unsigned entries, struct io_uring_params *p) { return (int)syscall(__NR_io_uring_setup, entries, p); }
static int sys_enter(unsigned submit, unsigned wait, unsigned flags, void *arg, size_t argsz) {
  return (int)syscall(__NR_io_uring_enter, ring_fd, submit, wait, flags, arg, argsz);
}
static int sys_register(unsigned op, void *arg, unsigned n) { return (int)syscall(__NR_io_uring_register, ring_fd, op, arg, n); }

static void submit_only(void) { // the SQ is full: an extra enter, rare (thousands of SQEs in one loop)
  __atomic_store_n(sq_tail, sq_local_tail, __ATOMIC_RELEASE);
  while (to_submit) {
    int r = sys_enter(to_submit, 0, 0, NULL, 0);
    st.extra_enters++;
    if (r < 0) { if (errno == EINTR || errno == EAGAIN || errno == EBUSY) continue; perror("c-uring: io_uring_enter"); exit(1); }
    to_submit -= (unsigned)r;
  }
}
static struct io_uring_sqe *get_sqe(void) {
  if (sq_local_tail - __atomic_load_n(sq_head, __ATOMIC_ACQUIRE) >= sq_entries) submit_only();
  struct io_uring_sqe *s = &sqes[sq_local_tail & *sq_mask];
  memset(s, 0, sizeof *s);
  sq_local_tail++;
  to_submit++;
  return s;
}

static void arm_accept(void) {
  struct io_uring_sqe *s = get_sqe();
  s->opcode = IORING_OP_ACCEPT;
  s->fd = lfd;
  s->accept_flags = SOCK_NONBLOCK | SOCK_CLOEXEC;
  s->ioprio = IORING_ACCEPT_MULTISHOT;
  s->user_data = UD(T_ACCEPT, 0);
}
/** Arms the connection's multishot receive unless it is armed, being cancelled, closing or paused. */
static void arm_recv(int fd) {
  conn_t *c = &conns[fd];
  if (!(c->flags & F_OPEN) || c->flags & (F_RECV | F_CANCEL | F_CLOSING) || c->qlen >= PAUSE_AT / 2) return;
  struct io_uring_sqe *s = get_sqe();
  s->opcode = IORING_OP_RECV;
  s->fd = fd;
  s->flags = IOSQE_BUFFER_SELECT;
  s->buf_group = BGID;
  s->ioprio = IORING_RECV_MULTISHOT;
  s->user_data = UD(T_RECV, fd);
  c->flags |= F_RECV;
}
static void send_head(int fd) {
  conn_t *c = &conns[fd];
  uint16_t b = c->head;
  struct io_uring_sqe *s = get_sqe();
  s->opcode = IORING_OP_SEND;
  s->fd = fd;
  s->addr = (uint64_t)(uintptr_t)(bufs + (size_t)b * BUF_SIZE + c->off);
  s->len = blen_of[b] - c->off;
  s->msg_flags = MSG_NOSIGNAL;
  s->user_data = UD(T_SEND, fd);
  sends_now++;
  st.sends++;
}
static void cancel_recv(int fd) {
  struct io_uring_sqe *s = get_sqe();
  s->opcode = IORING_OP_ASYNC_CANCEL;
  s->fd = -1;
  s->addr = UD(T_RECV, fd);
  s->user_data = UD(T_CANCEL, fd);
  conns[fd].flags |= F_CANCEL;
  st.cancels++;
}

static void free_buf(uint16_t b) { free_stack[free_top++] = b; }
/** Tops the ring up to `target` available buffers from the free stack (hot ones first), one tail store. */
static void refill(void) {
  unsigned mask = NBUF - 1, n = 0;
  while (provided - consumed < target && free_top > 0) {
    uint16_t b = free_stack[--free_top];
    struct io_uring_buf *e = &br->bufs[(uint16_t)(br_tail + n) & mask];
    e->addr = (uint64_t)(uintptr_t)(bufs + (size_t)b * BUF_SIZE);
    e->len = BUF_SIZE;
    e->bid = b;
    n++;
    provided++;
  }
  if (n) { br_tail = (uint16_t)(br_tail + n); __atomic_store_n(&br->tail, br_tail, __ATOMIC_RELEASE); }
}

/** Closes the connection if nothing of it is in flight any more (a closing one with an empty queue). */
static void maybe_close(int fd) {
  conn_t *c = &conns[fd];
  if (!(c->flags & F_CLOSING) || c->flags & (F_RECV | F_CANCEL) || c->qlen) return;
  close(fd);
  memset(c, 0, sizeof *c);
}
/** An error: no more echoes. shutdown() ends the receive and any send waiting for room at once. */
static void fail(int fd) {
  conn_t *c = &conns[fd];
  if (!(c->flags & F_ERROR)) shutdown(fd, SHUT_RDWR);
  c->flags |= F_CLOSING | F_ERROR;
  // keep only the buffer being sent (its completion is still to come)
  if (c->qlen > 1) {
    for (uint16_t b = next_of[c->head]; b != NONE; b = next_of[b]) free_buf(b);
    next_of[c->head] = NONE; c->tail = c->head; c->qlen = 1;
  }
  maybe_close(fd);
}

static void on_recv(int fd, int res, unsigned flags, unsigned *arrivals) {
  conn_t *c = &conns[fd];
  (*arrivals)++;
  st.recvs++;
  int has_buf = (flags & IORING_CQE_F_BUFFER) != 0;
  uint16_t b = (uint16_t)(flags >> IORING_CQE_BUFFER_SHIFT);
  if (has_buf) consumed++;
  if (!(flags & IORING_CQE_F_MORE)) c->flags &= (uint16_t)~F_RECV;
  if (res > 0 && has_buf) {
    if (c->flags & F_CLOSING) free_buf(b);
    else {
      blen_of[b] = (uint16_t)res; next_of[b] = NONE;
      if (c->qlen++) { next_of[c->tail] = b; c->tail = b; }
      else { c->head = c->tail = b; c->off = 0; send_head(fd); }
      if (c->qlen >= PAUSE_AT && c->flags & F_RECV && !(c->flags & F_CANCEL)) cancel_recv(fd);
    }
  } else if (has_buf) free_buf(b);
  if (c->flags & F_RECV) return; // the multishot goes on
  if (res == 0) { c->flags |= F_CLOSING; maybe_close(fd); }        // EOF: close once the echoes are out
  else if (res == -ENOBUFS) {                                       // re-armed when buffers are back
    st.enobufs++;
    enobufs_seen = 1;
    if (!(c->flags & F_CLOSING)) { c->flags |= F_STARVED; any_starved = 1; }
  } else if (res == -ECANCELED) { maybe_close(fd); arm_recv(fd); }  // paused: armed again once the queue drains
  else if (res < 0) fail(fd);
  else { st.rearms++; arm_recv(fd); }                              // ended with data (e.g. CQ overflow)
}

static void on_send(int fd, int res) {
  conn_t *c = &conns[fd];
  uint16_t b = c->head;
  if (res > 0) c->off += (uint32_t)res;
  if (res > 0 && c->off < blen_of[b] && !(c->flags & F_ERROR)) { st.short_sends++; send_head(fd); return; } // short: the rest
  if (res <= 0 && !(c->flags & F_ERROR)) fail(fd); // keeps only this buffer queued
  free_buf(b);
  c->off = 0;
  if (--c->qlen) { c->head = next_of[b]; send_head(fd); }
  maybe_close(fd);
  arm_recv(fd); // if it was paused and the queue has drained
}

static int setup_ring(unsigned flags, struct io_uring_params *p) {
  memset(p, 0, sizeof *p);
  p->flags = flags | IORING_SETUP_CQSIZE | IORING_SETUP_SUBMIT_ALL;
  p->cq_entries = CQ_ENTRIES;
  return sys_setup(SQ_ENTRIES, p);
}

int main(int argc, char **argv) {
  const char *host = "127.0.0.1";
  int port = 0;
  const char *wait_env = getenv("C_URING_WAIT");
  int wait_any = wait_env && !strcmp(wait_env, "any");
  for (int i = 1; i + 1 < argc; i += 2) {
    if (!strcmp(argv[i], "--host")) host = argv[i + 1];
    else if (!strcmp(argv[i], "--port")) port = atoi(argv[i + 1]);
    else if (!strcmp(argv[i], "--wait") && (!strcmp(argv[i + 1], "any") || !strcmp(argv[i + 1], "coalesced"))) wait_any = !strcmp(argv[i + 1], "any");
    else { fprintf(stderr, "usage: c-uring --host H --port P [--wait coalesced|any]\n"); return 2; }
  }
  if (argc % 2 == 0) { fprintf(stderr, "usage: c-uring --host H --port P [--wait coalesced|any]\n"); return 2; }

  struct sigaction sa = {0};
  sa.sa_handler = on_signal; // no SA_RESTART: io_uring_enter returns EINTR
  sigaction(SIGTERM, &sa, NULL);
  sigaction(SIGINT, &sa, NULL);
  signal(SIGPIPE, SIG_IGN);

  struct rlimit rl;
  getrlimit(RLIMIT_NOFILE, &rl);
  if (rl.rlim_cur < rl.rlim_max) { rl.rlim_cur = rl.rlim_max; setrlimit(RLIMIT_NOFILE, &rl); }
  getrlimit(RLIMIT_NOFILE, &rl);
  maxfd = rl.rlim_cur == RLIM_INFINITY ? 1 << 20 : (size_t)rl.rlim_cur;
  conns = calloc(maxfd, sizeof *conns);

  // ── the ring ──
  struct io_uring_params p;
  const char *mode = "SINGLE_ISSUER|DEFER_TASKRUN";
  char fallback[200] = "";
  // C_URING_SETUP=plain skips them (to measure what they bring, and to test the fallback here)
  const char *setup_env = getenv("C_URING_SETUP");
  int plain = setup_env && !strcmp(setup_env, "plain");
  ring_fd = plain ? -1 : setup_ring(IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN, &p);
  if (plain) errno = EINVAL;
  if (ring_fd < 0 && errno == EINVAL) {
    snprintf(fallback, sizeof fallback, plain ? " (C_URING_SETUP=plain)" : " (the kernel refused SINGLE_ISSUER|DEFER_TASKRUN: %s)", strerror(errno));
    mode = "without SINGLE_ISSUER|DEFER_TASKRUN";
    ring_fd = setup_ring(0, &p);
  }
  if (ring_fd < 0) { fprintf(stderr, "c-uring: io_uring unavailable: io_uring_setup: %s\n", strerror(errno)); return 1; }
  if (!(p.features & IORING_FEAT_SINGLE_MMAP) || !(p.features & IORING_FEAT_EXT_ARG)) {
    fprintf(stderr, "c-uring: io_uring unavailable: the kernel lacks IORING_FEAT_SINGLE_MMAP or IORING_FEAT_EXT_ARG (Linux 5.11)\n");
    return 1;
  }
  {
    // Multishot receive and buffer rings came with Linux 6.0, as did IORING_OP_SEND_ZC: probe for it.
    size_t psz = sizeof(struct io_uring_probe) + 256 * sizeof(struct io_uring_probe_op);
    struct io_uring_probe *probe = calloc(1, psz);
    if (sys_register(IORING_REGISTER_PROBE, probe, 256) < 0 || probe->last_op < IORING_OP_SEND_ZC || !(probe->ops[IORING_OP_SEND_ZC].flags & IO_URING_OP_SUPPORTED)) {
      fprintf(stderr, "c-uring: io_uring unavailable: the kernel is older than Linux 6.0 (no multishot receive)\n");
      return 1;
    }
    free(probe);
  }
  size_t ring_sz = p.sq_off.array + p.sq_entries * sizeof(unsigned);
  size_t cq_sz = p.cq_off.cqes + p.cq_entries * sizeof(struct io_uring_cqe);
  if (cq_sz > ring_sz) ring_sz = cq_sz;
  char *ring = mmap(NULL, ring_sz, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, ring_fd, IORING_OFF_SQ_RING);
  sqes = mmap(NULL, p.sq_entries * sizeof(struct io_uring_sqe), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, ring_fd, IORING_OFF_SQES);
  if (ring == MAP_FAILED || sqes == MAP_FAILED) { fprintf(stderr, "c-uring: io_uring unavailable: mmap: %s\n", strerror(errno)); return 1; }
  sq_head = (unsigned *)(ring + p.sq_off.head); sq_tail = (unsigned *)(ring + p.sq_off.tail);
  sq_mask = (unsigned *)(ring + p.sq_off.ring_mask); sq_array = (unsigned *)(ring + p.sq_off.array);
  cq_head = (unsigned *)(ring + p.cq_off.head); cq_tail = (unsigned *)(ring + p.cq_off.tail);
  cq_mask = (unsigned *)(ring + p.cq_off.ring_mask);
  cqes = (struct io_uring_cqe *)(ring + p.cq_off.cqes);
  for (unsigned i = 0; i < p.sq_entries; i++) sq_array[i] = i; // SQE slot i is always array entry i
  sq_local_tail = *sq_tail;
  sq_entries = p.sq_entries;

  // ── the provided-buffer ring ──
  br = mmap(NULL, NBUF * sizeof(struct io_uring_buf), PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  bufs = mmap(NULL, (size_t)NBUF * BUF_SIZE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (br == MAP_FAILED || bufs == MAP_FAILED) { perror("c-uring: mmap"); return 1; }
  struct io_uring_buf_reg reg = {.ring_addr = (uint64_t)(uintptr_t)br, .ring_entries = NBUF, .bgid = BGID};
  if (sys_register(IORING_REGISTER_PBUF_RING, &reg, 1) < 0) {
    fprintf(stderr, "c-uring: io_uring unavailable: IORING_REGISTER_PBUF_RING: %s\n", strerror(errno));
    return 1;
  }
  for (int b = NBUF - 1; b >= 0; b--) free_buf((uint16_t)b); // buffer 0 on top: used first
  refill();

  // ── the listener ──
  struct sockaddr_in addr = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
  if (inet_pton(AF_INET, host, &addr.sin_addr) != 1) { fprintf(stderr, "c-uring: bad --host %s\n", host); return 2; }
  lfd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  int one = 1;
  setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  if (bind(lfd, (struct sockaddr *)&addr, sizeof addr) < 0 || listen(lfd, 4096) < 0) {
    fprintf(stderr, "c-uring: listen on %s:%d: %s\n", host, port, strerror(errno));
    return 1;
  }
  socklen_t alen = sizeof addr;
  getsockname(lfd, (struct sockaddr *)&addr, &alen);
  arm_accept();
  printf("listening on %s:%d\n", host, ntohs(addr.sin_port));
  printf("c-uring: io_uring %s%s, %s, %d buffers of %d B\n", mode, fallback,
         wait_any ? "waits for any completion (wait_nr 1, no timeout)" : "coalesced waits (min(32, last loop's arrivals) or 200 µs; idle: sleeps)",
         NBUF, BUF_SIZE);
  fflush(stdout);

  unsigned last_arrivals = 0;
  while (!stopping) {
    // ── one enter: submit what the last loop queued, and wait ──
    __atomic_store_n(sq_tail, sq_local_tail, __ATOMIC_RELEASE);
    unsigned wait_nr = 1, flags = IORING_ENTER_GETEVENTS;
    struct __kernel_timespec ts = {.tv_sec = 0, .tv_nsec = WAIT_NS};
    struct io_uring_getevents_arg ga = {.ts = (uint64_t)(uintptr_t)&ts};
    void *arg = NULL;
    size_t argsz = 0;
    if (!wait_any && last_arrivals > 0) {
      wait_nr = sends_now + (last_arrivals < WANT_MAX ? last_arrivals : WANT_MAX);
      flags |= IORING_ENTER_EXT_ARG;
      arg = &ga;
      argsz = sizeof ga;
    }
    int r = sys_enter(to_submit, wait_nr, flags, arg, argsz);
    st.enters++;
    if (r < 0 && errno != ETIME && errno != EINTR && errno != EAGAIN && errno != EBUSY) { perror("c-uring: io_uring_enter"); return 1; }
    if (r > 0) to_submit -= (unsigned)r > to_submit ? to_submit : (unsigned)r; // r < 0: none submitted
    sends_now = 0;

    // ── reap ──
    unsigned arrivals = 0;
    unsigned head = *cq_head, tail = __atomic_load_n(cq_tail, __ATOMIC_ACQUIRE);
    for (; head != tail; head++) {
      struct io_uring_cqe *cqe = &cqes[head & *cq_mask];
      int tag = (int)(cqe->user_data >> 32), fd = (int)(uint32_t)cqe->user_data, res = cqe->res;
      unsigned cf = cqe->flags;
      st.cqes++;
      switch (tag) {
      case T_ACCEPT:
        arrivals++;
        if (res >= 0) {
          if ((size_t)res >= maxfd) close(res);
          else {
            setsockopt(res, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
            conns[res] = (conn_t){.head = NONE, .tail = NONE, .flags = F_OPEN};
            if ((size_t)res >= fd_hi) fd_hi = (size_t)res + 1;
            arm_recv(res);
          }
        }
        if (!(cf & IORING_CQE_F_MORE)) {
          if (res >= 0) arm_accept();
          else { // EMFILE, ENFILE, ...: try again in 10 ms, never spin
            st.accept_errors++;
            struct io_uring_sqe *s = get_sqe();
            s->opcode = IORING_OP_TIMEOUT;
            s->addr = (uint64_t)(uintptr_t)&accept_pause;
            s->len = 1;
            s->user_data = UD(T_ACCEPT_RETRY, 0);
          }
        }
        break;
      case T_ACCEPT_RETRY: arm_accept(); break;
      case T_RECV: on_recv(fd, res, cf, &arrivals); break;
      case T_SEND: on_send(fd, res); break;
      case T_CANCEL: conns[fd].flags &= (uint16_t)~F_CANCEL; maybe_close(fd); arm_recv(fd); break;
      }
    }
    __atomic_store_n(cq_head, head, __ATOMIC_RELEASE);
    if (enobufs_seen && target < NBUF) target *= 2;
    enobufs_seen = 0;
    refill();
    if (any_starved && provided > consumed) { // buffers are back: re-arm receives ended by -ENOBUFS
      any_starved = 0; // (rare: each -ENOBUFS doubles the ring's target, so a scan of the table is fine)
      for (size_t fd = 0; fd < fd_hi; fd++)
        if (conns[fd].flags & F_STARVED) { conns[fd].flags &= (uint16_t)~F_STARVED; arm_recv((int)fd); }
    }
    last_arrivals = arrivals;
  }
  close(lfd);
  close(ring_fd);
  if (getenv("C_URING_STATS"))
    fprintf(stderr, "c-uring: stats: enters %llu (+%llu submit-only), cqes %llu, receives %llu, sends %llu (short %llu), -ENOBUFS %llu (target %u), cancels %llu, re-armed after data %llu, accept errors %llu\n",
            st.enters, st.extra_enters, st.cqes, st.recvs, st.sends, st.short_sends, st.enobufs, target, st.cancels, st.rearms, st.accept_errors);
  return 0; // the kernel closes the connections
}
