/*
 * The limits and socket options the library itself applies (docs/limits.md says why each one
 * and its default), shared by every native backend:
 *
 *   wr__raise_nofile     RLIMIT_NOFILE's soft limit up to the hard limit, as Go and the JVM do
 *                        at start (macOS: at most kern.maxfilesperproc, and OPEN_MAX when the
 *                        hard limit is "unlimited", as Go's syscall package does: setrlimit
 *                        above them fails with EINVAL there);
 *   wr_sockopts_conn     on every connected socket, and on Linux once on each listener (its
 *                        accepted sockets inherit them; elsewhere on each accepted socket:
 *                        WR_SOCKOPTS_INHERITED in shim.h): SO_KEEPALIVE with idle,
 *                        interval and count (TCP_KEEPIDLE/TCP_KEEPINTVL/TCP_KEEPCNT; macOS names
 *                        the idle time TCP_KEEPALIVE), and TCP_USER_TIMEOUT (Linux only);
 *   wr_sockopts_listener on a listening socket before listen(): SO_RCVBUF and SO_SNDBUF (which
 *                        accepted sockets inherit, and which must be set before the handshake
 *                        to size the window scale), and TCP_DEFER_ACCEPT (Linux only);
 *   wr__sockopts_read    getsockopt of all of them, for tests and the curious (the shim's
 *                        `sockopts` export): what the kernel holds, not what we asked for.
 *
 * A per-connection option that the kernel refuses is not fatal to the connection (the
 * connection works without keepalive); it is counted (stats sockoptErrors) and the first
 * errno kept. A listener option that the kernel refuses fails the listen() with its name.
 */
#include "shim.h"

#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/resource.h>
#if defined(__APPLE__)
#include <sys/syslimits.h> /* OPEN_MAX */
#endif
#if defined(__APPLE__) || defined(__FreeBSD__) || defined(__OpenBSD__) || defined(__NetBSD__) || defined(__DragonFly__)
#include <sys/sysctl.h>
#define WR_PERPROC_SYSCTL 1
#endif

/* ── RLIMIT_NOFILE ─────────────────────────────────────────────────────────────────────── */

static double lim_num(rlim_t v) { return v == RLIM_INFINITY ? 1e9 : (double)v; }

/* out: [soft before, soft after, hard, errno (0: raised or nothing to do)] */
void wr__raise_nofile(double out[4]) {
  struct rlimit rl;
  if (getrlimit(RLIMIT_NOFILE, &rl) != 0) { out[0] = out[1] = out[2] = 0; out[3] = errno; return; }
  out[0] = lim_num(rl.rlim_cur);
  out[2] = lim_num(rl.rlim_max);
  out[3] = 0;
  rlim_t want = rl.rlim_max;
#if defined(WR_PERPROC_SYSCTL)
  /* macOS refuses a soft limit above kern.maxfilesperproc (EINVAL), and "unlimited" is not a
   * number of descriptors a process can have: cap as Go does (syscall/rlimit_darwin.go). The
   * BSDs clamp silently; capping there too keeps the figure we report the real one. */
  int perproc = 0;
  size_t len = sizeof perproc;
  if (sysctlbyname("kern.maxfilesperproc", &perproc, &len, NULL, 0) == 0 && perproc > 0 && want > (rlim_t)perproc) want = (rlim_t)perproc;
#endif
#if defined(__APPLE__)
  if (want == RLIM_INFINITY) want = OPEN_MAX;
#endif
  if (want <= rl.rlim_cur && rl.rlim_cur != RLIM_INFINITY) { out[1] = out[0]; return; }
  if (rl.rlim_cur == RLIM_INFINITY) { out[1] = out[0]; return; }
  struct rlimit nl = { want, rl.rlim_max };
  if (setrlimit(RLIMIT_NOFILE, &nl) != 0) { out[3] = errno; out[1] = out[0]; return; }
  getrlimit(RLIMIT_NOFILE, &rl);
  out[1] = lim_num(rl.rlim_cur);
}

/* ── per-connection options ────────────────────────────────────────────────────────────── */

/* The first refused option's errno is kept in the stats (S_SOCKOPT_ERRNO), the count too. */
static void refused(wr_reactor *r, int e) {
  r->stats[S_SOCKOPT_ERRORS]++;
  if (r->stats[S_SOCKOPT_ERRNO] == 0) r->stats[S_SOCKOPT_ERRNO] = e;
}

static int set_int(int fd, int level, int name, int v) { return setsockopt(fd, level, name, &v, sizeof v) == 0 ? 0 : errno; }

void wr_sockopts_conn(wr_reactor *r, int fd) {
  int e;
  if (r->keepAlive) {
    if ((e = set_int(fd, SOL_SOCKET, SO_KEEPALIVE, 1))) refused(r, e);
#if defined(TCP_KEEPIDLE)
    if (r->keepIdleS > 0 && (e = set_int(fd, IPPROTO_TCP, TCP_KEEPIDLE, r->keepIdleS))) refused(r, e);
#elif defined(TCP_KEEPALIVE) /* macOS: the idle time's name */
    if (r->keepIdleS > 0 && (e = set_int(fd, IPPROTO_TCP, TCP_KEEPALIVE, r->keepIdleS))) refused(r, e);
#endif
#if defined(TCP_KEEPINTVL)
    if (r->keepIntvlS > 0 && (e = set_int(fd, IPPROTO_TCP, TCP_KEEPINTVL, r->keepIntvlS))) refused(r, e);
#endif
#if defined(TCP_KEEPCNT)
    if (r->keepCnt > 0 && (e = set_int(fd, IPPROTO_TCP, TCP_KEEPCNT, r->keepCnt))) refused(r, e);
#endif
  }
#if defined(TCP_USER_TIMEOUT)
  if (r->userTimeoutMs > 0 && (e = set_int(fd, IPPROTO_TCP, TCP_USER_TIMEOUT, r->userTimeoutMs))) refused(r, e);
#endif
}

/* Whether this build can set each option (JS refuses an option the OS has not: docs/limits.md). */
void wr__sockopts_support(double out[6]) {
  out[0] = 1; /* SO_KEEPALIVE: everywhere */
#if defined(TCP_KEEPIDLE) || defined(TCP_KEEPALIVE)
  out[1] = 1;
#else
  out[1] = 0;
#endif
#if defined(TCP_KEEPINTVL) && defined(TCP_KEEPCNT)
  out[2] = 1;
#else
  out[2] = 0;
#endif
#if defined(TCP_USER_TIMEOUT)
  out[3] = 1;
#else
  out[3] = 0;
#endif
  out[4] = 1; /* SO_RCVBUF / SO_SNDBUF: everywhere */
#if defined(TCP_DEFER_ACCEPT)
  out[5] = 1;
#else
  out[5] = 0;
#endif
}

/* ── listener options: before listen() ─────────────────────────────────────────────────── */

/* 0, or the errno with *what naming the option the kernel refused. */
int wr_sockopts_listener(int fd, int rcvbuf, int sndbuf, int deferS, const char **what) {
  int e;
  if (rcvbuf > 0 && (e = set_int(fd, SOL_SOCKET, SO_RCVBUF, rcvbuf))) { *what = "SO_RCVBUF"; return e; }
  if (sndbuf > 0 && (e = set_int(fd, SOL_SOCKET, SO_SNDBUF, sndbuf))) { *what = "SO_SNDBUF"; return e; }
  if (deferS > 0) {
#if defined(TCP_DEFER_ACCEPT)
    if ((e = set_int(fd, IPPROTO_TCP, TCP_DEFER_ACCEPT, deferS))) { *what = "TCP_DEFER_ACCEPT"; return e; }
#else
    *what = "TCP_DEFER_ACCEPT";
    return ENOPROTOOPT; /* JS refuses the option first on these systems; this is the backstop */
#endif
  }
  return 0;
}

/* ── reading them back ─────────────────────────────────────────────────────────────────── */

static double get_int(int fd, int level, int name) {
  int v = 0;
  socklen_t len = sizeof v;
  return getsockopt(fd, level, name, &v, &len) == 0 ? (double)v : -1;
}

/* out: [SO_KEEPALIVE, idle s, interval s, count, TCP_USER_TIMEOUT ms, SO_RCVBUF, SO_SNDBUF,
 * TCP_DEFER_ACCEPT s, TCP_NODELAY]; -1 where this system has no such option or it failed. */
void wr__sockopts_read(int fd, double out[9]) {
  for (int i = 0; i < 9; i++) out[i] = -1;
  out[0] = get_int(fd, SOL_SOCKET, SO_KEEPALIVE);
#if defined(TCP_KEEPIDLE)
  out[1] = get_int(fd, IPPROTO_TCP, TCP_KEEPIDLE);
#elif defined(TCP_KEEPALIVE)
  out[1] = get_int(fd, IPPROTO_TCP, TCP_KEEPALIVE);
#endif
#if defined(TCP_KEEPINTVL)
  out[2] = get_int(fd, IPPROTO_TCP, TCP_KEEPINTVL);
#endif
#if defined(TCP_KEEPCNT)
  out[3] = get_int(fd, IPPROTO_TCP, TCP_KEEPCNT);
#endif
#if defined(TCP_USER_TIMEOUT)
  out[4] = get_int(fd, IPPROTO_TCP, TCP_USER_TIMEOUT);
#endif
  out[5] = get_int(fd, SOL_SOCKET, SO_RCVBUF);
  out[6] = get_int(fd, SOL_SOCKET, SO_SNDBUF);
#if defined(TCP_DEFER_ACCEPT)
  out[7] = get_int(fd, IPPROTO_TCP, TCP_DEFER_ACCEPT);
#endif
  out[8] = get_int(fd, IPPROTO_TCP, TCP_NODELAY);
}
