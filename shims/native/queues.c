/*
 * Kernel queue depths (Linux SIOCINQ/SIOCOUTQ; FIONREAD for the receive queue elsewhere, and
 * SO_NWRITE on macOS or FIONWRITE on FreeBSD for the send queue) for metrics, sampled on a thread of the shim's own so
 * that observing never stalls the loop. Reading them on the reactor's thread cost two ioctls a
 * socket, up to 4,096 sockets at once: with 10,000 idle connections `serve`'s turn p99 went
 * from under 0.5 ms to 13-33 ms once a second (strace: 16,384 ioctls in 4 s of an idle server).
 *
 * sampleQueues(h, max) asks for a sweep and returns at once; the sampler walks the descriptor
 * table round robin, up to `max` connections, and publishes the totals, which stats() reports
 * (a figure is up to one sweep old).
 *
 * The reactor's thread never waits for the sampler: no lock is shared. The sampler runs at
 * SCHED_IDLE (nice 19 where refused; macOS: the background QoS class; FreeBSD: idle
 * priority), so it may be preempted at any point for as long as other
 * work wants the CPU; a lock it held would then stall the loop (priority inversion). Instead:
 *   - a request is a semaphore post (never blocks), made only when no sweep is asked for yet
 *     (an atomic flag the sampler clears as it begins one);
 *   - results are double-buffered and published by an index swap;
 *   - the table never moves while the sampler runs (sized at attach for RLIMIT_NOFILE's hard
 *     limit: no descriptor can have a higher number; fdtable.c);
 *   - never a descriptor closed and maybe reused: before asking about fd, the sampler
 *     announces it (qBusy = fd) and then checks it is still a connection of ours; the
 *     reactor's close marks the descriptor gone and then tries to swap qBusy from fd to "fd,
 *     close it". If the swap succeeds, the sampler is between its announcement and its
 *     ioctls: the descriptor stays open until the sampler has asked, and the sampler closes
 *     it (once: the reactor did not). Otherwise the reactor closes it at once, and any later
 *     announcement of that number sees it gone (both sides use sequentially consistent
 *     operations, so one of the two orders holds), or sees a new socket of ours that reused
 *     the number, which is fine to ask about.
 * Why SCHED_IDLE: at normal priority, woken near its waker on a busy 2-core machine, the
 * sampler's ~8 ms of ioctls a sweep stretched the turn that asked for it (metrics() took
 * 4-13 ms in 3 of 20 reads, 0.6 ms at most without sampling, at 10,000 idle connections).
 */
#include "shim.h"

#include <errno.h>
#include <sched.h>
#include <sys/ioctl.h>
#include <sys/resource.h>
#include <unistd.h>
#ifdef __linux__
#include <linux/sockios.h>
#include <sys/syscall.h>
#else
#include <sys/filio.h>
#endif
#ifdef __APPLE__
#include <pthread/qos.h>
#endif
#ifdef __FreeBSD__
#include <sys/rtprio.h>
#endif

/* Bytes waiting in a socket's receive queue and its send queue (sent, not yet acknowledged,
 * plus not yet sent); 0 on success. */
static int queue_depths(int fd, int *in, int *out) {
#ifdef __linux__
  return ioctl(fd, SIOCINQ, in) == 0 && ioctl(fd, SIOCOUTQ, out) == 0 ? 0 : -1;
#elif defined(__APPLE__)
  socklen_t len = sizeof *out;
  return ioctl(fd, FIONREAD, in) == 0 && getsockopt(fd, SOL_SOCKET, SO_NWRITE, out, &len) == 0 ? 0 : -1;
#elif defined(FIONWRITE)
  return ioctl(fd, FIONREAD, in) == 0 && ioctl(fd, FIONWRITE, out) == 0 ? 0 : -1;
#else
  *out = 0; /* no portable send-queue depth on this system: counted as 0 */
  return ioctl(fd, FIONREAD, in) == 0 ? 0 : -1;
#endif
}

/* The sampler thread yields to any other work (see above). */
static void lower_priority(void) {
#if defined(__linux__)
#ifdef SCHED_IDLE
  struct sched_param sp = { .sched_priority = 0 };
  if (pthread_setschedparam(pthread_self(), SCHED_IDLE, &sp) == 0) return;
#endif
  setpriority(PRIO_PROCESS, (id_t)syscall(SYS_gettid), 19); /* this thread only (Linux) */
#elif defined(__APPLE__)
  pthread_set_qos_class_self_np(QOS_CLASS_BACKGROUND, 0);
#elif defined(__FreeBSD__)
  struct rtprio rt = { .type = RTP_PRIO_IDLE, .prio = RTP_PRIO_MAX };
  rtprio_thread(RTP_SET, 0, &rt); /* refused without privilege on some setups: then it runs as is */
#endif
}

#define Q_CLOSE (1 << 30) /* qBusy: the reactor handed the close of this descriptor to the sampler */

/* Asks the kernel about one descriptor, unless it was closed; closes it if its close was
 * handed over meanwhile. 1 when sampled. */
static int sample_one(wr_reactor *r, int fd, int *qi, int *qo) {
  __atomic_store_n(&r->qBusy, fd, __ATOMIC_SEQ_CST);
  int ok = __atomic_load_n(&r->fds[fd].kind, __ATOMIC_SEQ_CST) == WR_KIND_CONN && queue_depths(fd, qi, qo) == 0;
  int expect = fd;
  if (!__atomic_compare_exchange_n(&r->qBusy, &expect, -1, 0, __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST)) {
    close(fd); /* expect == fd | Q_CLOSE: ours to close now, once */
    __atomic_store_n(&r->qBusy, -1, __ATOMIC_SEQ_CST);
    ok = 0;
  }
  return ok;
}

static void *sampler_main(void *arg) {
  wr_reactor *r = arg;
  lower_priority();
  for (;;) {
    wr_sem_wait(&r->qsem);
    if (__atomic_load_n(&r->qStop, __ATOMIC_ACQUIRE)) break;
    __atomic_store_n(&r->qAsked, 0, __ATOMIC_SEQ_CST); /* a request from now on asks for another sweep */
    int max = __atomic_load_n(&r->qMax, __ATOMIC_ACQUIRE), cap = r->fdCap;
    double n = 0, in = 0, out = 0, inMax = 0, outMax = 0;
    int seen = 0;
    for (int k = 0; k < cap && seen < max && !__atomic_load_n(&r->qStop, __ATOMIC_ACQUIRE); k++) {
      int fd = (r->qCursor + k) % cap;
      if (__atomic_load_n(&r->fds[fd].kind, __ATOMIC_RELAXED) != WR_KIND_CONN) continue; /* cheap first look */
      int qi = 0, qo = 0;
      if (!sample_one(r, fd, &qi, &qo)) continue;
      seen++; n++; in += qi; out += qo;
      if (qi > inMax) inMax = qi;
      if (qo > outMax) outMax = qo;
      if (seen == max) r->qCursor = (fd + 1) % cap;
    }
    int next = 1 - __atomic_load_n(&r->qCur, __ATOMIC_ACQUIRE);
    double *q = r->qResult[next];
    q[0] = n; q[1] = in; q[2] = out; q[3] = inMax; q[4] = outMax; q[5] = r->qResult[1 - next][5] + 1;
    __atomic_store_n(&r->qCur, next, __ATOMIC_RELEASE);
  }
  return NULL;
}

/* Asks for a sweep of up to maxSockets connections (the thread starts on the first ask). */
int wr__queues_request(wr_reactor *r, int maxSockets) {
  if (!r->qStarted) {
    int e = wr_sem_init(&r->qsem);
    if (e) return e;
    r->qBusy = -1;
    r->qAsked = 0;
    e = pthread_create(&r->qthr, NULL, sampler_main, r);
    if (e) { wr_sem_destroy(&r->qsem); return e; }
    r->qStarted = 1; /* read and written on the reactor's thread only */
  }
  __atomic_store_n(&r->qMax, maxSockets, __ATOMIC_RELEASE);
  if (__atomic_exchange_n(&r->qAsked, 1, __ATOMIC_SEQ_CST)) return 0; /* one sweep is asked for already */
  wr_sem_post(&r->qsem);
  return 0;
}

void wr__queues_stop(wr_reactor *r) {
  if (!r->qStarted) return;
  __atomic_store_n(&r->qStop, 1, __ATOMIC_RELEASE);
  wr_sem_post(&r->qsem);
  pthread_join(r->qthr, NULL);
  wr_sem_destroy(&r->qsem);
  r->qStarted = 0;
}

/*
 * Closes a descriptor of ours that the caller has just marked WR_KIND_NONE (with a
 * sequentially consistent store): now, or, if the sampler is about to ask about it, by the
 * sampler right after. Never blocks.
 */
void wr__queues_close(wr_reactor *r, int fd) {
  if (r->qStarted) {
    int expect = fd;
    if (__atomic_compare_exchange_n(&r->qBusy, &expect, fd | Q_CLOSE, 0, __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST)) return;
  }
  close(fd);
}

/* The stats, with the last sweep's figures. */
void wr__stats_copy(wr_reactor *r, double *out, size_t n) {
  r->stats[S_FDS_OPEN] = r->openFds;
  if (r->qStarted) {
    const double *q = r->qResult[__atomic_load_n(&r->qCur, __ATOMIC_ACQUIRE)];
    r->stats[S_Q_SOCKETS] = q[0]; r->stats[S_Q_IN] = q[1]; r->stats[S_Q_OUT] = q[2];
    r->stats[S_Q_IN_MAX] = q[3]; r->stats[S_Q_OUT_MAX] = q[4]; r->stats[S_Q_SWEEPS] = q[5];
  }
  memcpy(out, r->stats, sizeof(double) * (n < S_COUNT ? n : S_COUNT));
}
