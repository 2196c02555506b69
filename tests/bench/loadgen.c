/* Over 500 lines: one self-contained load generator (three modes over one epoll loop), kept in one
 * file so the benchmarks build it with a single `cc` and no headers of the project. */
// Echo load generator for tests/bench/net.mjs: one thread, one epoll, non-blocking sockets.
//
//   loadgen --host 127.0.0.1 --port P --mode pingpong|hold|storm --conns N [--seconds S]
//           [--bytes 64] [--depth 1] [--sources 16] [--max-handshakes 256] [--warmup-ms 1000]
//           [--ramp-timeout-s 60] [--handshake-timeout-ms 10000] [--server-pid PID]
//           [--ksoftirqd-pids P0,P1]
//
// Built by the driver: cc -O2 -o build/bench/loadgen tests/bench/loadgen.c
//
// How it works:
//   1. Ramp (every mode): at most --max-handshakes connections are in their handshake at once,
//      so the server's accept queue cannot overflow. A handshake is: socket, IP_BIND_ADDRESS_NO_PORT,
//      bind(127.0.0.(2 + i mod sources), port 0), TCP_NODELAY, non-blocking connect, then one
//      message of --bytes sent and its full echo received. Only then is the connection counted as
//      established: the echo proves the server accepted it (a completed TCP handshake only proves
//      that the kernel queued it). A handshake that fails or takes longer than
//      --handshake-timeout-ms is counted as an error and not retried.
//   2. pingpong: when all N are established (or the ramp timed out), every connection keeps
//      --depth messages in flight (default 1: send, wait for every byte of the echo, send the
//      next) for --warmup-ms, then for --seconds while counting messages and recording each
//      message's latency in a log-linear histogram (ns buckets, 64 per power of two: within 1.6%,
//      up to ~68 s). Pipelined (--depth D > 1, issue 11's "8 in flight": where the load generator's
//      own CPU bounds one-in-flight ping-pong, D messages per wake-up let the server show its
//      rate): a connection writes D messages at once, then counts echoed bytes in order (the echo
//      stream is the send stream) and, each time a whole message is back, sends one more (the
//      messages completed by one recv go out in one send). A message's latency runs from its send
//      to the arrival of its last echoed byte (a FIFO of D send times per connection); msgs and
//      msgs/s count messages, not round trips. Echoed bytes beyond those sent end the connection
//      as a protocol error. With --server-pid, utime+stime of that process (all its threads,
//      /proc/PID/stat) are read at the start and end of the measured window, and so are each CPU's
//      busy ticks (/proc/stat: whoever used them) and, with --ksoftirqd-pids, the CPU of those
//      kernel threads (network softirq work deferred out of the processes' own time): the driver
//      uses them to tell other processes' load on a shared machine from the benchmark's own.
//   3. hold: prints {"event":"held","conns":N} once established, then keeps them idle until
//      stdin reaches EOF or --seconds pass; then closes them all.
//   4. storm: accepts/s = established / ramp time; then closes them all.
//   5. The last line of stdout is always one JSON object (pingpong's has depth, msgs, msgsPerS,
//      latUs, and bytesSent and bytesEchoed over the whole run, handshakes included, which
//      tests/net/loadgen.test.ts checks against its server's counts). Every phase has a
//      deadline, and an alarm() watchdog ends the process (with a JSON line) if the loop itself
//      ever overruns.
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#ifndef IP_BIND_ADDRESS_NO_PORT
#define IP_BIND_ADDRESS_NO_PORT 24
#endif

enum { ST_NEW, ST_CONNECTING, ST_HANDSHAKE, ST_IDLE, ST_BUSY, ST_DEAD };
enum { E_CONNECT, E_RESET, E_EOF, E_TIMEOUT, E_PROTOCOL, E_OTHER, E_KINDS };
static const char *E_NAMES[E_KINDS] = {"connect", "reset", "eof", "timeout", "protocol", "other"};

typedef struct {
  int fd;
  uint8_t state;
  uint8_t out;     // EPOLLOUT is in the interest set
  uint8_t q_head;  // oldest message in flight: sent_at[q_head]
  uint8_t q_count; // messages in flight (sent or queued, echo not complete): 0..--depth
  uint32_t unsent; // bytes of those messages not yet written (all bytes of msg are alike)
  uint32_t rcvd;   // echoed bytes of the oldest message in flight
  uint64_t t;      // ns: connect start (ST_CONNECTING), then the handshake message's send
  uint64_t *sent_at; // ns: --depth slots, a ring of the messages in flight's send times
} conn_t;

// ── options ──────────────────────────────────────────────────────────────────────────────
static const char *o_host = "127.0.0.1", *o_mode = "pingpong";
static int o_port = 0, o_conns = 100, o_bytes = 64, o_depth = 1, o_sources = 16, o_maxhs = 256, o_warmup_ms = 1000;
static double o_seconds = 5, o_ramp_s = 60;
static int o_hs_timeout_ms = 10000, o_server_pid = 0;
static int o_ksoft[2] = {0, 0}; // --ksoftirqd-pids P0,P1: kernel threads whose CPU is reported too

// ── state ────────────────────────────────────────────────────────────────────────────────
static conn_t *conns;
static int ep, n_conns;
static char *msg, rbuf[65536]; // msg: --depth × --bytes of 'x', what any write sends from
static struct sockaddr_in dst;
static int pending, established, failed, launched, stop_launch;
static uint64_t errs[E_KINDS];
static int first_errno[E_KINDS];
static int recording, pingpong_running;
static uint64_t msgs, bytes_sent, bytes_echoed;
static const char *mode_name;

// ── clock, histogram ─────────────────────────────────────────────────────────────────────
static inline uint64_t now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

#define SUB_BITS 6
#define SUB (1u << SUB_BITS)
#define MAX_EXP 36 // 2^36 ns ≈ 68.7 s; larger values land in the last bucket
#define NBUCKETS ((MAX_EXP - SUB_BITS + 2) * SUB)
static uint64_t hist[NBUCKETS], h_count, h_max, h_sum;

static inline unsigned h_index(uint64_t v) {
  if (v < SUB) return (unsigned)v;
  unsigned e = 63 - (unsigned)__builtin_clzll(v); // e >= SUB_BITS
  if (e > MAX_EXP) return NBUCKETS - 1;
  return (e - SUB_BITS + 1) * SUB + (unsigned)((v >> (e - SUB_BITS)) & (SUB - 1));
}
/** Highest value that lands in bucket i. */
static uint64_t h_upper(unsigned i) {
  if (i < SUB) return i;
  unsigned e = i / SUB + SUB_BITS - 1, m = i % SUB;
  return ((uint64_t)(SUB + m + 1) << (e - SUB_BITS)) - 1;
}
static inline void h_record(uint64_t v) {
  hist[h_index(v)]++;
  h_count++;
  h_sum += v;
  if (v > h_max) h_max = v;
}
static double h_pct_us(double p) {
  if (!h_count) return 0;
  uint64_t rank = (uint64_t)(p / 100.0 * (double)h_count + 0.5);
  if (rank < 1) rank = 1;
  uint64_t seen = 0;
  for (unsigned i = 0; i < NBUCKETS; i++) {
    seen += hist[i];
    if (seen >= rank) {
      uint64_t u = h_upper(i);
      return (u > h_max ? h_max : u) / 1000.0;
    }
  }
  return h_max / 1000.0;
}

// ── output ───────────────────────────────────────────────────────────────────────────────
static void fail_exit(const char *what, int err) {
  printf("{\"mode\":\"%s\",\"fatal\":\"%s: %s\"}\n", mode_name ? mode_name : "?", what, strerror(err));
  fflush(stdout);
  exit(2);
}

static void on_alarm(int sig) {
  (void)sig;
  static const char line[] = "\n{\"fatal\":\"watchdog: loadgen overran its time limit\"}\n";
  ssize_t r = write(1, line, sizeof line - 1);
  (void)r;
  _exit(3);
}

/** utime + stime of a process (all its threads) in seconds, or -1. */
static double proc_cpu_s(int pid) {
  if (pid <= 0) return -1;
  char path[64], buf[2048];
  snprintf(path, sizeof path, "/proc/%d/stat", pid);
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return -1;
  ssize_t n = read(fd, buf, sizeof buf - 1);
  close(fd);
  if (n <= 0) return -1;
  buf[n] = 0;
  char *p = strrchr(buf, ')');
  if (!p) return -1;
  // after ") ": state(3) ppid(4) pgrp(5) session(6) tty(7) tpgid(8) flags(9) minflt(10)
  // cminflt(11) majflt(12) cmajflt(13) utime(14) stime(15)
  unsigned long long ut = 0, st = 0;
  if (sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu", &ut, &st) != 2) return -1;
  return (double)(ut + st) / (double)sysconf(_SC_CLK_TCK);
}

/** Busy and total ticks of each CPU from /proc/stat (busy = all but idle and iowait); returns the count. */
#define MAX_CPUS 64
static int cpu_ticks(unsigned long long *busy, unsigned long long *total) {
  FILE *f = fopen("/proc/stat", "re");
  if (!f) return 0;
  char line[512];
  int n = 0;
  while (fgets(line, sizeof line, f) && n < MAX_CPUS) {
    if (strncmp(line, "cpu", 3) || line[3] < '0' || line[3] > '9') continue;
    unsigned long long v[8] = {0};
    if (sscanf(line + 3, "%*d %llu %llu %llu %llu %llu %llu %llu %llu", &v[0], &v[1], &v[2], &v[3], &v[4], &v[5], &v[6], &v[7]) < 4) continue;
    total[n] = v[0] + v[1] + v[2] + v[3] + v[4] + v[5] + v[6] + v[7];
    busy[n] = total[n] - v[3] - v[4];
    n++;
  }
  fclose(f);
  return n;
}

static double self_cpu_s(void) {
  struct rusage ru;
  getrusage(RUSAGE_SELF, &ru);
  return ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6 + ru.ru_stime.tv_sec + ru.ru_stime.tv_usec / 1e6;
}

// ── connections ──────────────────────────────────────────────────────────────────────────
static void set_out(conn_t *c, int idx, int want) {
  if (c->out == want) return;
  struct epoll_event ev = {.events = EPOLLIN | (want ? EPOLLOUT : 0), .data.u64 = (uint64_t)idx};
  epoll_ctl(ep, EPOLL_CTL_MOD, c->fd, &ev);
  c->out = (uint8_t)want;
}

static void drop(int idx, int kind, int err) {
  conn_t *c = &conns[idx];
  if (c->state == ST_DEAD || c->state == ST_NEW) return;
  if (c->state == ST_CONNECTING || c->state == ST_HANDSHAKE) { pending--; failed++; }
  else established--;
  close(c->fd);
  c->fd = -1;
  c->state = ST_DEAD;
  errs[kind]++;
  if (!first_errno[kind]) first_errno[kind] = err ? err : -1;
}

static int err_kind(int err) {
  return err == ECONNRESET || err == EPIPE ? E_RESET : err == ETIMEDOUT ? E_TIMEOUT : E_OTHER;
}

/** Writes the queued bytes; 0 on success (maybe partial, EPOLLOUT armed). */
static int send_rest(int idx) {
  conn_t *c = &conns[idx];
  while (c->unsent > 0) {
    ssize_t w = send(c->fd, msg, c->unsent, MSG_NOSIGNAL); // unsent ≤ --depth × --bytes, msg's size
    if (w > 0) { c->unsent -= (uint32_t)w; bytes_sent += (uint64_t)w; continue; }
    if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) { set_out(c, idx, 1); return 0; }
    if (w < 0 && errno == EINTR) continue;
    drop(idx, c->state == ST_HANDSHAKE ? E_CONNECT : err_kind(errno), errno);
    return -1;
  }
  set_out(c, idx, 0);
  return 0;
}

/** Queues one more message in flight, sent at t (written by the next send_rest). */
static void queue_msg(conn_t *c, uint64_t t) {
  c->sent_at[(c->q_head + c->q_count) % o_depth] = t;
  c->q_count++;
  c->unsent += (uint32_t)o_bytes;
}

/** Sends `n` messages now (the handshake's one, ping-pong's first --depth). */
static void send_msgs(int idx, int n, uint64_t t) {
  for (int i = 0; i < n; i++) queue_msg(&conns[idx], t);
  send_rest(idx);
}

static void launch(int idx, uint64_t t) {
  conn_t *c = &conns[idx];
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    if (errno == EMFILE || errno == ENFILE) stop_launch = 1;
    launched++;
    failed++;
    c->state = ST_DEAD;
    errs[E_CONNECT]++;
    if (!first_errno[E_CONNECT]) first_errno[E_CONNECT] = errno;
    return;
  }
  int one = 1;
  setsockopt(fd, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one, sizeof one);
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  c->fd = fd;
  c->state = ST_CONNECTING;
  c->out = 1;
  c->t = t;
  c->q_head = c->q_count = 0;
  c->unsent = c->rcvd = 0;
  pending++;
  launched++;
  if (o_sources > 0) {
    struct sockaddr_in src = {.sin_family = AF_INET, .sin_port = 0};
    src.sin_addr.s_addr = htonl((127u << 24) | (uint32_t)(2 + idx % o_sources));
    if (bind(fd, (struct sockaddr *)&src, sizeof src) < 0) { drop(idx, E_CONNECT, errno); return; }
  }
  int r = connect(fd, (struct sockaddr *)&dst, sizeof dst);
  if (r < 0 && errno != EINPROGRESS) { drop(idx, E_CONNECT, errno); return; }
  struct epoll_event ev = {.events = EPOLLIN | EPOLLOUT, .data.u64 = (uint64_t)idx};
  if (epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev) < 0) { drop(idx, E_OTHER, errno); return; }
}

/** The oldest message in flight on connection idx is fully echoed; its replacement is queued, not sent. */
static void complete(int idx, uint64_t t) {
  conn_t *c = &conns[idx];
  uint64_t sent_at = c->sent_at[c->q_head];
  c->q_head = (uint8_t)((c->q_head + 1) % o_depth);
  c->q_count--;
  if (c->state == ST_HANDSHAKE) {
    c->state = ST_IDLE;
    pending--;
    established++;
    return;
  }
  // ST_BUSY
  if (recording) { h_record(t - sent_at); msgs++; }
  if (pingpong_running) queue_msg(c, t);
  else if (!c->q_count) c->state = ST_IDLE;
}

static void on_event(int idx, uint32_t evs) {
  conn_t *c = &conns[idx];
  if (c->state == ST_DEAD || c->state == ST_NEW) return;
  if (c->state == ST_CONNECTING) {
    if (!(evs & (EPOLLOUT | EPOLLERR | EPOLLHUP))) return;
    int err = 0;
    socklen_t len = sizeof err;
    getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &len);
    if (err || (evs & (EPOLLERR | EPOLLHUP))) { drop(idx, E_CONNECT, err ? err : ECONNREFUSED); return; }
    c->state = ST_HANDSHAKE;
    c->t = now_ns(); // the handshake's deadline runs from its message's send, as from its connect before
    send_msgs(idx, 1, c->t);
    return;
  }
  if ((evs & EPOLLOUT) && c->unsent > 0) {
    if (send_rest(idx) < 0) return;
  }
  if (evs & (EPOLLIN | EPOLLERR | EPOLLHUP)) {
    ssize_t n = recv(c->fd, rbuf, sizeof rbuf, 0);
    if (n > 0) {
      if (c->state != ST_BUSY && c->state != ST_HANDSHAKE) { drop(idx, E_PROTOCOL, 0); return; }
      // The echo stream is the send stream: at most the written bytes not yet echoed can come back.
      uint64_t owed = (uint64_t)c->q_count * (uint32_t)o_bytes - c->rcvd - c->unsent;
      if ((uint64_t)n > owed) { drop(idx, E_PROTOCOL, 0); return; }
      bytes_echoed += (uint64_t)n;
      uint64_t t = 0;
      for (uint32_t left = (uint32_t)n; left > 0;) { // whole messages in order; the last may be partial
        uint32_t take = (uint32_t)o_bytes - c->rcvd;
        if (take > left) take = left;
        c->rcvd += take;
        left -= take;
        if (c->rcvd < (uint32_t)o_bytes) break;
        c->rcvd = 0;
        if (!t) t = now_ns();
        complete(idx, t);
      }
      if (c->unsent > 0 && !c->out) send_rest(idx); // the replacements of this recv's messages, one write
    } else if (n == 0) {
      drop(idx, c->state == ST_HANDSHAKE ? E_CONNECT : E_EOF, 0);
    } else if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) {
      drop(idx, c->state == ST_HANDSHAKE ? E_CONNECT : err_kind(errno), errno);
    }
  }
}

#define MAXEV 1024
static struct epoll_event evbuf[MAXEV];
static int stdin_watched, stdin_eof;

/** Waits for events until `deadline` (ns) at the latest; one batch. Returns the time after it. */
static uint64_t poll_once(uint64_t deadline, int max_wait_ms) {
  uint64_t t = now_ns();
  int wait_ms = 0;
  if (deadline > t) {
    uint64_t ms = (deadline - t + 999999) / 1000000;
    wait_ms = ms > (uint64_t)max_wait_ms ? max_wait_ms : (int)ms;
  }
  int n = epoll_wait(ep, evbuf, MAXEV, wait_ms);
  if (n < 0 && errno != EINTR) fail_exit("epoll_wait", errno);
  for (int i = 0; i < n; i++) {
    uint64_t d = evbuf[i].data.u64;
    if (d == UINT64_MAX) {
      char b[256];
      ssize_t r = read(0, b, sizeof b);
      if (r == 0 || (r < 0 && errno != EAGAIN && errno != EINTR)) {
        stdin_eof = 1;
        epoll_ctl(ep, EPOLL_CTL_DEL, 0, NULL);
      }
      continue;
    }
    on_event((int)d, evbuf[i].events);
  }
  return now_ns();
}

/** Handshakes that outlived --handshake-timeout-ms are given up. */
static void reap_handshakes(uint64_t t) {
  uint64_t lim = (uint64_t)o_hs_timeout_ms * 1000000ull;
  for (int i = 0; i < launched; i++) {
    conn_t *c = &conns[i];
    if ((c->state == ST_CONNECTING || c->state == ST_HANDSHAKE) && t - c->t > lim) drop(i, E_TIMEOUT, ETIMEDOUT);
  }
}

static void close_all(void) {
  for (int i = 0; i < n_conns; i++) {
    if (conns[i].state != ST_DEAD && conns[i].state != ST_NEW && conns[i].fd >= 0) close(conns[i].fd);
    conns[i].state = ST_DEAD;
  }
}

#define MAX_DEPTH 64 // --depth: issue 11 asks for 8; 64 keeps the FIFO's uint8_t indices and msg (64 × --bytes) small

static void usage(void) {
  fprintf(stderr,
          "usage: loadgen --host H --port P --mode pingpong|hold|storm --conns N [--seconds S] [--bytes B]\n"
          "               [--depth D (pingpong: messages in flight per connection, 1..%d)]\n"
          "               [--sources K] [--max-handshakes M] [--warmup-ms W] [--ramp-timeout-s R]\n"
          "               [--handshake-timeout-ms T] [--server-pid PID] [--ksoftirqd-pids P0,P1]\n",
          MAX_DEPTH);
  exit(2);
}

int main(int argc, char **argv) {
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i];
    if (i + 1 >= argc) usage();
    const char *v = argv[++i];
    if (!strcmp(a, "--host")) o_host = v;
    else if (!strcmp(a, "--port")) o_port = atoi(v);
    else if (!strcmp(a, "--mode")) o_mode = v;
    else if (!strcmp(a, "--conns")) o_conns = atoi(v);
    else if (!strcmp(a, "--seconds")) o_seconds = atof(v);
    else if (!strcmp(a, "--bytes")) o_bytes = atoi(v);
    else if (!strcmp(a, "--depth")) {
      char *end;
      long d = strtol(v, &end, 10);
      if (end == v || *end || d < 1 || d > MAX_DEPTH) {
        fprintf(stderr, "loadgen: --depth must be a whole number from 1 to %d (messages in flight per connection), not \"%s\"\n", MAX_DEPTH, v);
        usage();
      }
      o_depth = (int)d;
    }
    else if (!strcmp(a, "--sources")) o_sources = atoi(v);
    else if (!strcmp(a, "--max-handshakes")) o_maxhs = atoi(v);
    else if (!strcmp(a, "--warmup-ms")) o_warmup_ms = atoi(v);
    else if (!strcmp(a, "--ramp-timeout-s")) o_ramp_s = atof(v);
    else if (!strcmp(a, "--handshake-timeout-ms")) o_hs_timeout_ms = atoi(v);
    else if (!strcmp(a, "--server-pid")) o_server_pid = atoi(v);
    else if (!strcmp(a, "--ksoftirqd-pids")) sscanf(v, "%d,%d", &o_ksoft[0], &o_ksoft[1]);
    else usage();
  }
  int mode = !strcmp(o_mode, "pingpong") ? 0 : !strcmp(o_mode, "hold") ? 1 : !strcmp(o_mode, "storm") ? 2 : -1;
  if (mode < 0 || o_port <= 0 || o_port > 65535 || o_conns < 1 || o_bytes < 1 || o_bytes > (int)sizeof rbuf ||
      o_maxhs < 1 || o_sources < 0 || o_sources > 250 || o_seconds < 0 || o_warmup_ms < 0 || o_ramp_s <= 0)
    usage();
  if (o_depth > 1 && mode != 0) {
    fprintf(stderr, "loadgen: --depth %d applies to --mode pingpong only (hold and storm send one message per connection)\n", o_depth);
    usage();
  }
  mode_name = o_mode;
  n_conns = o_conns;

  // Budget: every phase has a deadline; the watchdog is a backstop for a bug in this loop.
  double budget_s = o_ramp_s + o_warmup_ms / 1000.0 + o_seconds + 30;
  signal(SIGALRM, on_alarm);
  alarm((unsigned)budget_s + 1);
  signal(SIGPIPE, SIG_IGN);

  struct rlimit rl;
  if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
    rl.rlim_cur = rl.rlim_max; // up to the hard limit, never above
    setrlimit(RLIMIT_NOFILE, &rl);
  }
  getrlimit(RLIMIT_NOFILE, &rl);
  if (rl.rlim_cur != RLIM_INFINITY && (uint64_t)o_conns + 16 > (uint64_t)rl.rlim_cur) {
    printf("{\"mode\":\"%s\",\"fatal\":\"--conns %d needs more descriptors than RLIMIT_NOFILE %llu\"}\n", o_mode, o_conns,
           (unsigned long long)rl.rlim_cur);
    return 2;
  }

  memset(&dst, 0, sizeof dst);
  dst.sin_family = AF_INET;
  dst.sin_port = htons((uint16_t)o_port);
  if (inet_pton(AF_INET, o_host, &dst.sin_addr) != 1) { fprintf(stderr, "loadgen: bad --host %s\n", o_host); return 2; }

  conns = calloc((size_t)o_conns, sizeof *conns);
  uint64_t *sent_at = calloc((size_t)o_conns * (size_t)o_depth, sizeof *sent_at);
  msg = malloc((size_t)o_bytes * (size_t)o_depth);
  if (!conns || !sent_at || !msg) fail_exit("calloc", ENOMEM);
  memset(msg, 'x', (size_t)o_bytes * (size_t)o_depth);
  for (int i = 0; i < o_conns; i++) { conns[i].fd = -1; conns[i].sent_at = sent_at + (size_t)i * (size_t)o_depth; }
  ep = epoll_create1(EPOLL_CLOEXEC);
  if (ep < 0) fail_exit("epoll_create1", errno);

  // ── ramp ──────────────────────────────────────────────────────────────────────────────
  uint64_t t0 = now_ns(), t = t0, ramp_deadline = t0 + (uint64_t)(o_ramp_s * 1e9), next_reap = t0 + 100000000ull;
  while (established + failed < o_conns && t < ramp_deadline) {
    while (pending < o_maxhs && launched < o_conns && !stop_launch) launch(launched, t);
    if (stop_launch && pending == 0) break;
    t = poll_once(ramp_deadline, 100);
    if (t >= next_reap) { reap_handshakes(t); next_reap = t + 100000000ull; }
  }
  uint64_t t_ramp = now_ns();
  double ramp_s = (t_ramp - t0) / 1e9;
  int ramp_timed_out = established + failed < o_conns;
  if (ramp_timed_out) {
    for (int i = 0; i < launched; i++)
      if (conns[i].state == ST_CONNECTING || conns[i].state == ST_HANDSHAKE) drop(i, E_TIMEOUT, ETIMEDOUT);
  }
  int est_after_ramp = established;

  double window_s = 0, srv_cpu = -1, cli_cpu = 0;
  static unsigned long long busy0[MAX_CPUS], total0[MAX_CPUS], busy1[MAX_CPUS], total1[MAX_CPUS];
  int n_cpus = 0;
  double ksoft_cpu[2] = {-1, -1};
  uint64_t unanswered = 0, inflight_end = 0, held_ns = 0;

  if (mode == 0 && established > 0) {
    // ── pingpong: warm up, then the measured window ──────────────────────────────────────
    pingpong_running = 1;
    t = now_ns();
    for (int i = 0; i < o_conns; i++)
      if (conns[i].state == ST_IDLE) { conns[i].state = ST_BUSY; send_msgs(i, o_depth, t); }
    uint64_t warm_end = t + (uint64_t)o_warmup_ms * 1000000ull;
    while (t < warm_end) t = poll_once(warm_end, 50);
    recording = 1;
    uint64_t ws = now_ns();
    double srv0 = proc_cpu_s(o_server_pid), cli0 = self_cpu_s();
    double ks0[2] = {proc_cpu_s(o_ksoft[0]), proc_cpu_s(o_ksoft[1])};
    n_cpus = cpu_ticks(busy0, total0);
    uint64_t we = ws + (uint64_t)(o_seconds * 1e9);
    t = ws;
    while (t < we) t = poll_once(we, 50);
    uint64_t wend = now_ns();
    recording = 0;
    pingpong_running = 0;
    double srv1 = proc_cpu_s(o_server_pid), cli1 = self_cpu_s();
    if (cpu_ticks(busy1, total1) != n_cpus) n_cpus = 0;
    for (int i = 0; i < 2; i++) {
      double ks1 = proc_cpu_s(o_ksoft[i]);
      ksoft_cpu[i] = ks0[i] >= 0 && ks1 >= 0 ? ks1 - ks0[i] : -1;
    }
    window_s = (wend - ws) / 1e9;
    if (srv0 >= 0 && srv1 >= 0) srv_cpu = srv1 - srv0;
    cli_cpu = cli1 - cli0;
    for (int i = 0; i < o_conns; i++) { // messages, not connections (the same at --depth 1)
      conn_t *c = &conns[i];
      if (c->state != ST_BUSY) continue;
      for (int q = 0; q < c->q_count; q++) {
        inflight_end++;
        if (wend - c->sent_at[(c->q_head + q) % o_depth] > 1000000000ull) unanswered++;
      }
    }
  } else if (mode == 1) {
    // ── hold ─────────────────────────────────────────────────────────────────────────────
    printf("{\"event\":\"held\",\"conns\":%d}\n", established);
    fflush(stdout);
    int fl = fcntl(0, F_GETFL);
    struct epoll_event ev = {.events = EPOLLIN, .data.u64 = UINT64_MAX};
    if (fl >= 0 && epoll_ctl(ep, EPOLL_CTL_ADD, 0, &ev) == 0) {
      stdin_watched = 1;
      fcntl(0, F_SETFL, fl | O_NONBLOCK);
    } else {
      char b[1];
      ssize_t r = read(0, b, 1); // a regular file or /dev/null: EOF now, or never watched
      if (r <= 0) stdin_eof = 1;
    }
    uint64_t hs = now_ns(), he = hs + (uint64_t)(o_seconds * 1e9);
    t = hs;
    while (t < he && !stdin_eof) t = poll_once(he, 100);
    held_ns = now_ns() - hs;
    if (stdin_watched) fcntl(0, F_SETFL, fl);
  }
  int est_end = established;
  uint64_t tc = now_ns();
  close_all();
  double close_ms = (now_ns() - tc) / 1e6;

  // ── report: one JSON object, the last line ─────────────────────────────────────────────
  uint64_t total_err = 0;
  for (int k = 0; k < E_KINDS; k++) total_err += errs[k];
  printf("{\"mode\":\"%s\",\"conns\":%d,\"established\":%d,\"rampS\":%.4f,\"rampTimedOut\":%s,", o_mode, o_conns,
         est_after_ramp, ramp_s, ramp_timed_out ? "true" : "false");
  printf("\"errors\":%llu,\"errorsByKind\":{", (unsigned long long)total_err);
  for (int k = 0, first = 1; k < E_KINDS; k++) {
    if (!errs[k]) continue;
    printf("%s\"%s\":{\"count\":%llu,\"first\":\"%s\"}", first ? "" : ",", E_NAMES[k], (unsigned long long)errs[k],
           first_errno[k] > 0 ? strerror(first_errno[k]) : "-");
    first = 0;
  }
  printf("},\"openAtEnd\":%d,\"closeMs\":%.1f", est_end, close_ms);
  if (mode == 0) {
    printf(",\"depth\":%d,\"windowS\":%.4f,\"msgs\":%llu,\"msgsPerS\":%.1f", o_depth, window_s, (unsigned long long)msgs,
           window_s > 0 ? msgs / window_s : 0.0);
    // the whole run's bytes (handshakes included): what the echo check compares with the server's
    printf(",\"bytesSent\":%llu,\"bytesEchoed\":%llu", (unsigned long long)bytes_sent, (unsigned long long)bytes_echoed);
    printf(",\"latUs\":{\"p50\":%.1f,\"p90\":%.1f,\"p99\":%.1f,\"p999\":%.1f,\"max\":%.1f,\"mean\":%.1f}", h_pct_us(50),
           h_pct_us(90), h_pct_us(99), h_pct_us(99.9), h_max / 1000.0, h_count ? (double)h_sum / h_count / 1000.0 : 0.0);
    printf(",\"inflightAtEnd\":%llu,\"unanswered\":%llu", (unsigned long long)inflight_end, (unsigned long long)unanswered);
    if (srv_cpu >= 0) printf(",\"serverCpuS\":%.3f", srv_cpu);
    printf(",\"clientCpuS\":%.3f,\"clientCpuPct\":%.1f", cli_cpu, window_s > 0 ? 100.0 * cli_cpu / window_s : 0.0);
    // how busy each CPU was over the window, whoever used it (the server, us, anyone else)
    printf(",\"cpuBusyPct\":[");
    for (int i = 0; i < n_cpus; i++) {
      unsigned long long dt = total1[i] - total0[i];
      printf("%s%.1f", i ? "," : "", dt ? 100.0 * (double)(busy1[i] - busy0[i]) / (double)dt : 0.0);
    }
    printf("]");
    if (ksoft_cpu[0] >= 0 || ksoft_cpu[1] >= 0)
      printf(",\"ksoftirqdCpuPct\":[%.1f,%.1f]", ksoft_cpu[0] >= 0 ? 100.0 * ksoft_cpu[0] / window_s : 0.0,
             ksoft_cpu[1] >= 0 ? 100.0 * ksoft_cpu[1] / window_s : 0.0);
  } else if (mode == 1) {
    printf(",\"heldS\":%.3f,\"stdinEof\":%s", held_ns / 1e9, stdin_eof ? "true" : "false");
  } else {
    printf(",\"acceptsPerS\":%.1f", ramp_s > 0 ? est_after_ramp / ramp_s : 0.0);
  }
  printf("}\n");
  fflush(stdout);
  return 0;
}
