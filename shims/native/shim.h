/*
 * The native shim's shared half: what every native backend (epoll now; kqueue, io_uring next)
 * uses, written once. A backend is one file beside its TypeScript (host/backends/<name>/<name>.c)
 * that fills in a wr_backend ops table; everything else lives here, in shims/native/:
 *
 *   shim.h     this header: the reactor, the descriptor table entry, the ops table, the record
 *              accessors (the only place that reads or writes a ring record or a chunk's meta)
 *   fdtable.c  the descriptor table, ownership (who may name a descriptor), the work lists
 *   events.c   region validation at attach, ring cursors, posting events, the overflow ring,
 *              contract violations
 *   io.c       the syscalls of a turn: write, shutdown, close, connect, the accept and read loops
 *   turn.c     one turn: execute the submission ring, wait, serve readiness
 *   poller.c   the poller thread (main-thread mode) and the process-wide wake handles
 *   queues.c   kernel queue sampling (Linux SIOCINQ/SIOCOUTQ; FIONREAD and SO_NWRITE/FIONWRITE
 *              on macOS/FreeBSD) on a thread of its own
 *   sockopts.c the limits and socket options the library applies (RLIMIT_NOFILE, keepalive,
 *              TCP_USER_TIMEOUT, SO_RCVBUF/SO_SNDBUF, TCP_DEFER_ACCEPT)
 *   faults.c   the fault-injecting syscall wrappers (built only with -DWR_FAULTS)
 *   napi.c     Node-API glue and the module's exports
 *
 * Names: wr_ for what a backend file may call, wr__ for what only the shared files share;
 * file-local helpers are static and unprefixed.
 *
 * Portability: the shared files build on Linux, macOS and FreeBSD. What differs (accept4,
 * SOCK_NONBLOCK, MSG_NOSIGNAL, unnamed semaphores) is wrapped once, below, in wr_accept_nb,
 * wr_socket_nb, WR_MSG_NOSIGNAL and wr_sem_*; Linux-only calls elsewhere sit under #ifdef with
 * what other systems do instead. Which backends a build has: WR_BACKEND_EPOLL and/or
 * WR_BACKEND_KQUEUE (tools/shim.mjs sets them; by default, the OS's own).
 *
 * Trust: every number this shim reads from the core's memory (offsets, capacities, cursors,
 * chunk indexes, lengths, descriptors) may be wrong, because the core is another program (its
 * release build keeps only the O(1) checks that guard its own memory: docs/assertions.md). Regions are validated once at attach and their
 * geometry cached here, never re-read; cursors are checked once a turn; every record is
 * checked before it is acted on (O(1) per record, O(1) per chunk of a write chain). A record
 * that fails is a contract violation: counted, the first one's text kept, reported to the core
 * as the completion it would have had, and never a syscall on a descriptor the shim does not
 * own for the slot and generation named (events.c: wr_violation; the rules: wr_fd_owner in
 * fdtable.c).
 */
#ifndef WR_SHIM_H
#define WR_SHIM_H

#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <node_api.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdint.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <sys/uio.h>
#include <unistd.h>
#ifdef __APPLE__
#include <dispatch/dispatch.h> /* macOS has no unnamed POSIX semaphores (sem_init fails with ENOSYS) */
#else
#include <semaphore.h>
#endif

#if !defined(WR_BACKEND_EPOLL) && !defined(WR_BACKEND_KQUEUE)
#if defined(__linux__)
#define WR_BACKEND_EPOLL 1
#define WR_BACKEND_URING 1
#elif defined(__APPLE__) || defined(__FreeBSD__) || defined(__OpenBSD__) || defined(__NetBSD__) || defined(__DragonFly__)
#define WR_BACKEND_KQUEUE 1
#else
#error "wasm-reactor native shim: no event backend for this OS (epoll: Linux; kqueue: macOS, *BSD)"
#endif
#endif

#include "layout.gen.h"

/* ── what differs between the systems, wrapped once ─────────────────────────────────────── */

/* A semaphore one thread posts without ever blocking (queues.c). */
#ifdef __APPLE__
typedef dispatch_semaphore_t wr_sem_t;
static inline int wr_sem_init(wr_sem_t *s) { *s = dispatch_semaphore_create(0); return *s ? 0 : ENOMEM; }
static inline void wr_sem_post(wr_sem_t *s) { dispatch_semaphore_signal(*s); }
static inline void wr_sem_wait(wr_sem_t *s) { dispatch_semaphore_wait(*s, DISPATCH_TIME_FOREVER); }
static inline void wr_sem_destroy(wr_sem_t *s) { dispatch_release(*s); }
#else
typedef sem_t wr_sem_t;
static inline int wr_sem_init(wr_sem_t *s) { return sem_init(s, 0, 0) == 0 ? 0 : errno; }
static inline void wr_sem_post(wr_sem_t *s) { sem_post(s); }
static inline void wr_sem_wait(wr_sem_t *s) { while (sem_wait(s) != 0 && errno == EINTR) {} }
static inline void wr_sem_destroy(wr_sem_t *s) { sem_destroy(s); }
#endif

/* No SIGPIPE from a write to a closed socket: MSG_NOSIGNAL per call where it exists (Linux,
 * FreeBSD), else SO_NOSIGPIPE once per socket (macOS), set by wr_sock_setup. */
#ifdef MSG_NOSIGNAL
#define WR_MSG_NOSIGNAL MSG_NOSIGNAL
#else
#define WR_MSG_NOSIGNAL 0
#endif

/* The core numbers errors as Linux does (assembly/layout.ts K.E_*; host/errors.ts ERRNO), and
 * so do the errors JS sees; macOS and the BSDs number most socket errors differently (EAGAIN is
 * 35 there, ECONNRESET 54, EADDRNOTAVAIL 49). Every errno leaving the shim (wr_post, and the
 * errors its calls throw) goes through this: the identity on Linux, a table elsewhere. An errno
 * with no entry passes unchanged (the message then says "errno N"). */
static inline uint32_t wr_errno_linux(uint32_t e) {
#if defined(__linux__)
  return e;
#else
  switch ((int)e) {
    case EAGAIN: return 11;
    case EINPROGRESS: return 115;
    case EALREADY: return 114;
    case ENOTSOCK: return 88;
    case EADDRINUSE: return 98;
    case EADDRNOTAVAIL: return 99;
    case ENETDOWN: return 100;
    case ENETUNREACH: return 101;
    case ECONNABORTED: return 103;
    case ECONNRESET: return 104;
    case ENOBUFS: return 105;
    case EISCONN: return 106;
    case ENOTCONN: return 107;
    case ETIMEDOUT: return 110;
    case ECONNREFUSED: return 111;
    case EHOSTUNREACH: return 113;
    case ENOPROTOOPT: return 92;
    case EPROTO: return 71;
    default: return e; /* EPERM, EINTR, EBADF, ENOMEM, EACCES, EINVAL, ENFILE, EMFILE, EPIPE: the same numbers */
  }
#endif
}

/* What every socket the shim opens needs beyond nonblocking and close-on-exec. */
static inline void wr_sock_setup(int fd) {
#if !defined(MSG_NOSIGNAL) && defined(SO_NOSIGPIPE)
  int one = 1;
  setsockopt(fd, SOL_SOCKET, SO_NOSIGPIPE, &one, sizeof one);
#else
  (void)fd;
#endif
}

/* Nonblocking and close-on-exec from the start where the system can (accept4, SOCK_NONBLOCK:
 * Linux, FreeBSD); macOS has neither: two fcntl calls after (no thread of ours forks meanwhile). */
#if defined(SOCK_NONBLOCK) && defined(SOCK_CLOEXEC)
static inline int wr_socket_nb(int family) { int fd = socket(family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0); if (fd >= 0) wr_sock_setup(fd); return fd; }
#else
static inline int wr__nb_cloexec(int fd) {
  if (fd < 0) return fd;
  int fl = fcntl(fd, F_GETFL);
  if (fl < 0 || fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0 || fcntl(fd, F_SETFD, FD_CLOEXEC) < 0) { int e = errno; close(fd); errno = e; return -1; }
  wr_sock_setup(fd);
  return fd;
}
static inline int wr_socket_nb(int family) { return wr__nb_cloexec(socket(family, SOCK_STREAM, 0)); }
#endif
/* accept, nonblocking (nb) or not, close-on-exec. */
#if defined(__linux__) || defined(__FreeBSD__) || defined(__OpenBSD__) || defined(__NetBSD__) || defined(__DragonFly__)
static inline int wr_accept_nb(int lfd, int nb) { int fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC | (nb ? SOCK_NONBLOCK : 0)); if (fd >= 0) wr_sock_setup(fd); return fd; }
#else
static inline int wr_accept_nb(int lfd, int nb) {
  int fd = accept(lfd, NULL, NULL);
  if (fd < 0) return fd;
  /* whether the new socket inherits O_NONBLOCK from the listener differs between systems: set it either way */
  int fl = fcntl(fd, F_GETFL);
  if (fl < 0 || fcntl(fd, F_SETFL, nb ? (fl | O_NONBLOCK) : (fl & ~O_NONBLOCK)) < 0 || fcntl(fd, F_SETFD, FD_CLOEXEC) < 0) { int e = errno; close(fd); errno = e; return -1; }
  wr_sock_setup(fd);
  return fd;
}
#endif

/* ── the descriptor table ──────────────────────────────────────────────────────────────── */

/* What a descriptor the shim opened is. KIND_NONE: not ours (never opened, or closed). */
#define WR_KIND_NONE 0
#define WR_KIND_LISTENER 1
#define WR_KIND_CONN 2
#define WR_KIND_CONNECTING 3

/* pend: readiness seen and not yet served. */
#define WR_P_READ 1  /* readable, not yet read to EAGAIN (edge mode) */
#define WR_P_WRITE 2 /* writable, not yet reported */
#define WR_P_HUP 4   /* the peer's FIN (or an error) is pending: a short read is not the end */

/* flags: list memberships (survive a close: the list entry sees KIND_NONE and drops itself),
 * states and ownership (cleared at close and at open). */
#define WR_F_READY 1    /* in the ready list (edge mode) */
#define WR_F_IN_STV 2   /* in the starved list */
#define WR_F_CHG 4      /* in the interest-change list */
#define WR_F_STARVED 8  /* state: readable but no chunk to read into */
#define WR_F_BOUND 16   /* ownership: slot/gen name the owner (see wr_fd_owner) */
#define WR_F_ADOPTED 32 /* ownership: the core has named it with that slot/gen */
#define WR_F_HUNG 64    /* faults build: a connect that never completes (never registered) */
#define WR_F_RDEND 128  /* state: the read side's end (EOF or an error) was posted: never read again.
                         * kqueue reports a descriptor once per filter, so one turn may see it
                         * readable twice (an RST: EV_EOF on both filters) */
#define WR_F_STATE (WR_F_STARVED | WR_F_BOUND | WR_F_ADOPTED | WR_F_HUNG | WR_F_RDEND)

/* reg: what the backend has registered with the kernel, in our own bits (0: nothing). A
 * backend translates them at its edge (epoll: EPOLLIN|EPOLLRDHUP, EPOLLOUT, EPOLLET). */
#define WR_R_READ 1
#define WR_R_WRITE 2
#define WR_R_EDGE 4 /* registered once for read and write, edge-triggered, never modified */

#define WR_ACC_MORE 64 /* listeners a turn remembers for its accept budget's second round (io.c) */

typedef struct wr_fd {
  uint32_t slot;  /* 4  the owner's slot (K_NONE while unbound) */
  uint32_t gen;   /* 4  the owner's generation */
  uint8_t kind;   /* 1  WR_KIND_*; written with wr_fd_set_kind (the queue sampler reads it) */
  uint8_t want;   /* 1  K_IN_* the core last asked for */
  uint8_t pend;   /* 1  WR_P_* */
  uint8_t flags;  /* 1  WR_F_* */
  uint8_t reg;    /* 1  WR_R_* registered now */
  uint8_t fault;  /* 1  faults build: the errno an injected reset left on the socket (sticky), or 0 */
  uint8_t err;    /* 1  a socket error the backend saw in an event (kqueue: EV_EOF's fflags), or 0:
                   *    reported when read() says 0 or SO_ERROR says none (libkqueue reads SO_ERROR
                   *    itself, which clears it: the socket then looks merely closed) */
  uint8_t pad;    /* 1  the backend's own (io_uring: which operations are in flight); 0 at open */
} wr_fd;          /* 16 B a descriptor, indexed by descriptor number */

/* A CONNECT's address, kept under its slot until the core submits the CONNECT. */
typedef struct wr_pending {
  uint32_t gen;
  int used;
  struct sockaddr_storage addr;
  socklen_t alen;
  struct sockaddr_storage local;
  socklen_t llen;
} wr_pending;

/* An event that did not fit the ring, in the ring's own 24-byte format. */
typedef struct wr_ovrec {
  uint8_t b[L_EventRec_BYTES];
} wr_ovrec;

/* ── stats: one f64 each, in this order (host/backends/native.ts NATIVE_STATS names them) ── */
enum {
  S_CALLS, S_TURNS, S_WAITS, S_EVENTS, S_CTL, S_ACCEPTS, S_ACCEPT_EMFILE, S_ACCEPT_SHED,
  S_READ_CALLS, S_WRITE_CALLS, S_WAKEUPS, S_OVERFLOW, S_STARVED, S_ASYNC_WAITS,
  S_Q_SOCKETS, S_Q_IN, S_Q_OUT, S_Q_IN_MAX, S_Q_OUT_MAX, S_FDS_OPEN,
  S_VIOLATIONS, S_CTL_ERRORS, S_Q_SWEEPS,
  S_SOCKOPT_ERRORS, S_SOCKOPT_ERRNO, /* per-connection options the kernel refused; the first one's errno (sockopts.c) */
  /* faults build: injected faults by kind, in WR_FK_* order (always 0 in the release build) */
  S_F_READ_EAGAIN, S_F_READ_SHORT, S_F_WRITE_EAGAIN, S_F_WRITE_SHORT, S_F_EINTR, S_F_RESET,
  S_F_EPIPE, S_F_ACCEPT_EMFILE, S_F_ACCEPT_ENFILE, S_F_ENOBUFS, S_F_CONNECT_HANG, S_F_CTL_ENOSPC,
  /* io_uring (0 elsewhere): operations submitted, completions reaped, receives that ran out of
   * provided buffers, the chunks the kernel's buffer ring holds now, io_uring_enter calls, those
   * the kernel refused for now (EAGAIN, EBUSY: retried), and turns that found the completion
   * queue overflowed (the kernel kept the rest: served late, not lost) */
  S_U_SQES, S_U_CQES, S_U_ENOBUFS, S_U_BUFFERS, S_U_ENTERS, S_U_BUSY, S_U_CQ_OVERFLOWS,
  S_COUNT
};

/* Fault kinds (faults build): the order of the reactor option `faults` after its seed
 * (host/backends/epoll/epoll.ts FAULT_KINDS), and of the S_F_* stats. */
enum {
  WR_FK_READ_EAGAIN, WR_FK_READ_SHORT, WR_FK_WRITE_EAGAIN, WR_FK_WRITE_SHORT, WR_FK_EINTR,
  WR_FK_RESET, WR_FK_EPIPE, WR_FK_ACCEPT_EMFILE, WR_FK_ACCEPT_ENFILE, WR_FK_ENOBUFS,
  WR_FK_CONNECT_HANG, WR_FK_CTL_ENOSPC, WR_FK_COUNT
};

typedef struct wr_faults {
  int on;                          /* any odds set */
  double p[WR_FK_COUNT];           /* probability per kind, 0..1 */
  uint64_t s[WR_FK_COUNT][2];      /* xorshift128+ state per kind */
} wr_faults;

typedef struct wr_reactor wr_reactor;

/* A submission record as the shim read it (wr_submit_read, below). */
typedef struct wr_submit {
  uint32_t op, flags, slot, gen;
  int32_t fd;
  uint32_t a, b;
} wr_submit;

/*
 * ── the backend ops table ─────────────────────────────────────────────────────────────────
 * What differs between kernels' event APIs; everything else is shared. Functions run on the
 * reactor's thread unless said otherwise; none may block except `wait`.
 *
 * A readiness backend (epoll, kqueue) reports "fd is readable/writable": `decode` turns its
 * kernel events into WR_P_* bits and calls wr_ready(), and the shared loops (io.c) do the
 * syscalls. A completion backend (io_uring) fits the same table this way:
 *   - `interest` arms operations instead of registering readiness: IN_READ on a connection
 *     becomes a multishot RECV with buffer selection from a provided-buffer ring registered
 *     over the pool chunks the supply ring hands out (the supply ring IS that ring: see
 *     docs/architecture.md), IN_READ on a listener a multishot ACCEPT, IN_WRITE a POLL_ADD;
 *     taking interest away cancels them (ASYNC_CANCEL);
 *   - it adds one op, `write`, which wr_write (io.c) calls after its checks (owner, chain,
 *     ranges) instead of sendmsg: it queues a SENDMSG SQE over the checked iovecs, and
 *     `decode` posts the CQE as EV_WRITE_DONE (readiness backends do not need it, so it is not
 *     in the table until that backend lands);
 *   - `forget` runs before close(): cancel what is in flight for the descriptor (io_uring),
 *     or EV_DELETE a registration that close() does not remove (libkqueue);
 *   - `wait` is io_uring_enter(GETEVENTS), `decode` walks the CQEs and posts EV_READ (the
 *     buffer id names the chunk), EV_ACCEPTED, EV_WRITE_DONE... with wr_post(), never through
 *     pend bits; a CQE for a descriptor closed since is dropped by its kind.
 * So the fd table, the loops' budgets, the event ring and the overflow ring stay shared.
 */
typedef struct wr_backend {
  const char *name;                                         /* as JS names it: "epoll" */
  int (*init)(wr_reactor *r);                               /* create the kernel queue and the wake; 0 or errno */
  void (*destroy)(wr_reactor *r);                           /* close what init made */
  /* Make the registration WR_R_* `to`; 0 or errno. A backend that batches changes (kqueue's
   * changelist) may return 0 and report a failure later through wr_interest_failed(). -1: the
   * backend set f->reg itself (io_uring: a receive it may not arm while reads are paused). */
  int (*interest)(wr_reactor *r, int fd, uint8_t from, uint8_t to);
  /* Optional: before close(fd). Returns 1 when the backend closes fd itself (io_uring: a
   * cancel of fd's operations linked to a CLOSE operation, so that the cancel finds fd's file
   * before the descriptor number is free), 0 when the shared code should close(2) it. */
  int (*forget)(wr_reactor *r, int fd, wr_fd *f);
  /* Optional: a WRITE the shared code has checked (owner, chain, ranges) is the backend's to
   * do (io_uring: a SEND/SENDMSG operation whose completion becomes EV_WRITE_DONE); NULL: the
   * shared loop writes it with send/sendmsg now. */
  void (*write)(wr_reactor *r, const wr_submit *s, wr_fd *f);
  /* Optional: SHUTDOWN(SHUT_WR) of a checked descriptor, ordered after the writes the backend
   * queued before it (io_uring: an operation); NULL: shutdown(2) now. */
  void (*shutdown)(wr_reactor *r, int fd, wr_fd *f);
  /* Optional: how many starved readers wr_unstarve may wake this turn (io_uring: the buffers it
   * has or can take from the supply ring); NULL: all of them. */
  int (*read_room)(wr_reactor *r);
  int (*wait)(wr_reactor *r, int max, int timeoutMs);       /* up to max kernel events; their count (0 on EINTR) */
  void (*decode)(wr_reactor *r, int n);                     /* the n events of the last wait → wr_ready / wr_post */
  /* Any thread (under the wake table's mutex, so never after destroy): ends a wait in progress,
   * in `wait` or `poll_wait`, or makes the next one return at once. 0 or errno. */
  int (*wake)(wr_reactor *r);
  /* The poller thread (main-thread mode): returns once there is work or timeoutMs passed. It
   * must not lose what the next turn's `wait` needs: epoll poll(2)s its descriptor (readiness
   * is not consumed); kqueue cannot be polled under libkqueue, so it calls kevent() and keeps
   * what it took for the next `wait`. Never runs at the same time as `wait` (JS turns only
   * after the poller's callback), except when closing, which stops the poller first. */
  void (*poll_wait)(wr_reactor *r, int timeoutMs);
} wr_backend;

#ifdef WR_BACKEND_EPOLL
extern const wr_backend wr_epoll_backend;
#endif
#ifdef WR_BACKEND_KQUEUE
extern const wr_backend wr_kqueue_backend;
#endif
#ifdef WR_BACKEND_URING
extern const wr_backend wr_uring_backend;
#endif

#ifdef WR_FAULTS
#define WR_FAULTS_BUILD 1
#else
#define WR_FAULTS_BUILD 0
#endif

/* Retries of a call interrupted by a signal (EINTR) in a row, at most; past it the work waits
 * for the next turn. Real EINTRs on nonblocking sockets are rare; the bound is for the faults
 * build, whose eintr odds may be anything up to 1. */
#define WR_EINTR_RETRIES 16

/* ── the reactor ───────────────────────────────────────────────────────────────────────── */
struct wr_reactor {
  const wr_backend *ops;
  void *bk;                      /* the backend's own state (epoll: its event array) */
  int edge, nodelay, shed;       /* options: edge-triggered, TCP_NODELAY, shed on EMFILE */
  int blockWait;                 /* turns block in the backend's wait (wait "block"); 0: a poller thread waits */
  int maxEvents;                 /* kernel events asked for per wait, at most */
  /* options set on every accepted and connected socket (sockopts.c; 0: not set) */
  int keepAlive, keepIdleS, keepIntvlS, keepCnt, userTimeoutMs;
  uint32_t wakeSlot;             /* its slot in the process-wide wake table (poller.c) */
  double wakeHandle;             /* what JS passes to wake(): slot, generation and build */
  int reservefd;                 /* the spare descriptor for shedding (-1: off) */

  /* The core's memory: set at attach, geometry validated then and cached here (never re-read). */
  uint8_t *mem;                  /* its base; the memory is sized once and never grows */
  uint64_t memLen;               /* its length in bytes */
  uint32_t eventsOff, eventCap;  /* event ring: EventRec × eventCap (a power of two) */
  uint32_t submitsOff, submitCap;/* submit ring: SubmitRec × submitCap (a power of two) */
  uint32_t supplyOff, supplyCap; /* supply ring: u32 chunk index × supplyCap (a power of two) */
  uint32_t metaOff, dataOff;     /* ChunkMeta × chunkCount; chunk data, chunkSize × chunkCount */
  uint32_t chunkSize, chunkCount;
  uint32_t slotCap;              /* connection slots: CONNECT addresses are kept per slot */

  /* Ring cursors for this turn: checked once, then owned locally (TOCTOU-free). */
  uint32_t evHead, evTail;       /* event ring: the core's head at turn start, our tail */
  uint32_t supHead, supTail;     /* supply ring: our head, the core's tail at turn start */

  /* The descriptor table (indexed by fd) and three work lists, each fd at most once in each,
   * so each list's capacity is the table's and a push never allocates. */
  wr_fd *fds;
  int fdCap;
  int *chg; int chgN;            /* interest changes to apply after the submissions */
  int *rdy; int rdyN;            /* edge mode: descriptors with work left */
  int *stv; int stvN;            /* descriptors parked for want of a chunk */
  int stvRoomLeft;               /* of those, readers the last wr_unstarve kept only for want of read_room (io_uring) */

  wr_ovrec *ov;                  /* overflow ring: completions that did not fit the event ring */
  uint32_t ovHead, ovN, ovCap;
  wr_pending *pc;                /* CONNECT addresses, slotCap entries */

  uint32_t *chunkMark;           /* chunkMark[c] == writeSeq: c is in the chain being checked (loops) */
  uint32_t writeSeq;

  uint32_t acceptLeft;           /* accepts left this turn (header acceptBudget) */
  uint32_t acceptShare;          /* what one listener may take of it before the others had theirs (io.c: fairness) */
  int listenersN;                /* listeners open */
  int accMore[WR_ACC_MORE];      /* listeners stopped at their share with clients still waiting, this turn */
  int accMoreN;
  uint32_t accRot;               /* where the second round starts: it turns round, so a remainder is handed round */
  int readsBlockedAtStart;       /* the pool was at its reserve when this poll began: real pressure */
  int woken;                     /* the last wait was ended by a wake (the backend's wake op) */
  int openFds;                   /* descriptors the shim opened and the core has not closed */
  int fatal;                     /* an errno that ended this reactor (an allocation failed): turn() throws */
  const char *fatalWhat;         /* ... and what failed with it, for turn()'s message */
  char violation[256];           /* the first contract violation's text ("" while none) */
  double stats[S_COUNT];

  /* poller thread (main-thread mode): poller.c */
  pthread_t thr;
  int thrStarted, armed, stop, armTimeout;
  pthread_mutex_t mu;
  pthread_cond_t cv;
  napi_threadsafe_function tsfn;
  uint64_t tsfnToken; /* the poller's calls carry it; live only until wr__poller_stop (poller.c) */
  int destroyed;

  /* kernel queue sampler: queues.c. It shares no lock with the reactor's thread (it runs at
   * idle priority: a lock it held could stall the loop); see there for the close handoff. */
  pthread_t qthr;
  int qStarted;                  /* written on the reactor's thread only */
  wr_sem_t qsem;                 /* posted to ask for a sweep, or to stop */
  int qStop, qMax;               /* atomic */
  int qAsked;                    /* atomic: a sweep is asked for and not yet begun */
  int qBusy;                     /* atomic: the descriptor the sampler is asking about (-1: none) */
  int qCursor;                   /* where the next round robin starts (sampler only) */
  int qCur;                      /* atomic: which qResult holds the last finished sweep */
  double qResult[2][6];          /* sockets, in, out, inMax, outMax, sweeps: double-buffered */

  wr_faults faults;              /* faults build only (zero otherwise) */
};

/* ── memory access: header words, and one accessor per record (the only readers) ──────── */
#define WR_HDR_ADDR(r, f) ((r)->mem + K_LAYOUT_BASE + L_Header_##f)
#define WR_HDR(r, f) (*(volatile uint32_t *)WR_HDR_ADDR(r, f))
#define WR_HDR_STORE(r, f, v) __atomic_store_n((uint32_t *)WR_HDR_ADDR(r, f), (v), __ATOMIC_RELEASE)

static inline uint32_t wr__u32(const uint8_t *p) { uint32_t v; memcpy(&v, p, 4); return v; }
static inline void wr__put32(uint8_t *p, uint32_t v) { memcpy(p, &v, 4); }

/* SubmitRec, read once through the generated helper (layout.gen.h): every later check works on
 * this copy, so a core that rewrites the record meanwhile cannot change what was checked
 * (the struct is declared above the backend ops table). */
static inline void wr_submit_read(const wr_reactor *r, uint32_t index, wr_submit *s) {
  wr_SubmitRec rec = wr_submit_get(r->mem + r->submitsOff + (uint64_t)(index & (r->submitCap - 1)) * L_SubmitRec_BYTES);
  s->op = rec.op; s->flags = rec.flags; s->slot = rec.slot; s->gen = rec.gen; s->fd = rec.fd; s->a = rec.a; s->b = rec.b;
}

/* EventRec, packed into 24 bytes (into the ring, or an overflow record) by the generated helper. */
static inline void wr_event_pack(uint8_t *p, uint32_t type, uint32_t err, uint32_t slot, uint32_t gen, int32_t fd, uint32_t a, uint32_t b) {
  wr_event_put(p, (uint8_t)type, 0, (uint16_t)err, slot, gen, fd, a, b);
}

/* A chunk index the shim may touch. -DWR_PLANTED_BUG removes this check on purpose: the
 * violation suite must then fail (tests/native/violations.test.ts builds and runs it). */
#ifdef WR_PLANTED_BUG
#define WR_CHUNK_OK(r, c) ((void)(r), (void)(c), 1)
#else
#define WR_CHUNK_OK(r, c) ((c) < (r)->chunkCount)
#endif

/* ChunkMeta of chunk c (c < chunkCount: the caller checked). */
typedef struct wr_chunk { uint32_t next, start, len; } wr_chunk;
static inline void wr_chunk_read(const wr_reactor *r, uint32_t c, wr_chunk *k) {
  const uint8_t *p = r->mem + r->metaOff + (uint64_t)c * L_ChunkMeta_BYTES;
  k->next = wr__u32(p + L_ChunkMeta_next);
  k->start = wr__u32(p + L_ChunkMeta_start);
  k->len = wr__u32(p + L_ChunkMeta_len);
}
static inline uint8_t *wr_chunk_data(const wr_reactor *r, uint32_t c) { return r->mem + r->dataOff + (uint64_t)c * r->chunkSize; }

/* The supply ring's entry at index i (a chunk index, unchecked: the caller checks it). */
static inline uint32_t wr_supply_at(const wr_reactor *r, uint32_t i) {
  return wr__u32(r->mem + r->supplyOff + (uint64_t)(i & (r->supplyCap - 1)) * 4);
}

/* ── fdtable.c ─────────────────────────────────────────────────────────────────────────── */
wr_fd *wr_fd_get(wr_reactor *r, int fd);                  /* the entry of fd in the table's range, or NULL */
wr_fd *wr_fd_open(wr_reactor *r, int fd, uint8_t kind);   /* a descriptor the shim just opened; NULL: no memory */
int wr__fd_table_init(wr_reactor *r);                     /* sized for RLIMIT_NOFILE; 0 or ENOMEM */
void wr__fd_table_free(wr_reactor *r);
static inline void wr_fd_set_kind(wr_fd *f, uint8_t k) { __atomic_store_n(&f->kind, k, __ATOMIC_SEQ_CST); }
/* May the record s (op named `op` in messages) act on its descriptor? 0 (*out set) or EBADF. */
int wr_fd_owner(wr_reactor *r, const char *op, const wr_submit *s, wr_fd **out);
int wr_fd_may_close(wr_reactor *r, int fd, wr_fd **out);  /* closeFd() from JS */
void wr_mark_ready(wr_reactor *r, int fd, wr_fd *f);
void wr_mark_chg(wr_reactor *r, int fd, wr_fd *f);
void wr_starve(wr_reactor *r, int fd, wr_fd *f);
void wr_park_listener(wr_reactor *r, int fd, wr_fd *f);
void wr_unstarve(wr_reactor *r);
uint8_t wr_fd_wanted(const wr_reactor *r, const wr_fd *f); /* WR_R_* it needs registered now */
void wr_apply_interest(wr_reactor *r, int fd, wr_fd *f);
/* A registration change the backend applied later failed with err (kqueue: an EV_ERROR entry
 * for its changelist): reported as wr_apply_interest reports a failure; `bits` (WR_R_*) are
 * no longer registered. */
void wr_interest_failed(wr_reactor *r, int fd, uint8_t bits, int err);

/* ── events.c ──────────────────────────────────────────────────────────────────────────── */
const char *wr__attach_regions(wr_reactor *r, uint8_t *mem, uint64_t len); /* NULL, or why not */
void wr__cursors_begin(wr_reactor *r);                     /* snapshot and check the rings' cursors */
uint32_t wr_event_room(const wr_reactor *r);
void wr_post(wr_reactor *r, uint32_t type, uint32_t slot, uint32_t gen, int32_t fd, uint32_t a, uint32_t b, uint32_t err);
void wr__overflow_flush(wr_reactor *r);
int wr__overflow_init(wr_reactor *r);                      /* 0 or ENOMEM */
int wr_reads_blocked(const wr_reactor *r);                 /* HOST_READS_PAUSED, or no supply chunk */
void wr_violation(wr_reactor *r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void wr_fail(wr_reactor *r, int err, const char *what);    /* a fatal shim error: what failed (a static string) */

/* ── io.c ──────────────────────────────────────────────────────────────────────────────── */
void wr_write(wr_reactor *r, const wr_submit *s);
void wr_shutdown(wr_reactor *r, const wr_submit *s);
void wr_close(wr_reactor *r, const wr_submit *s);
void wr_close_fd(wr_reactor *r, int fd, wr_fd *f, int reset); /* one the shim owns: the checks are done */
void wr_connect(wr_reactor *r, const wr_submit *s);
void wr_ready(wr_reactor *r, int fd, uint8_t pend);        /* readiness the backend decoded */
void wr_accept_rest(wr_reactor *r);                        /* the accept budget's second round (io.c) */
int wr__service(wr_reactor *r, int fd);                    /* 1: work left (edge mode) */

/* ── sockopts.c ────────────────────────────────────────────────────────────────────────── */
void wr__raise_nofile(double out[4]);                      /* [soft before, soft after, hard, errno] */
/* Linux copies a listening socket's SO_KEEPALIVE, TCP_KEEPIDLE/KEEPINTVL/KEEPCNT and
 * TCP_USER_TIMEOUT to every socket accept() returns (the whole sock is cloned), so there they are
 * set once on the listener instead of four or five setsockopt calls per accept; elsewhere (BSD
 * keeps SO_KEEPALIVE but not every TCP timer on all versions) each accepted socket gets them. */
#if defined(__linux__)
#define WR_SOCKOPTS_INHERITED 1
#else
#define WR_SOCKOPTS_INHERITED 0
#endif
void wr_sockopts_conn(wr_reactor *r, int fd);              /* keepalive, TCP_USER_TIMEOUT: connected sockets, and listeners or accepted sockets (WR_SOCKOPTS_INHERITED) */
int wr_sockopts_listener(int fd, int rcvbuf, int sndbuf, int deferS, const char **what); /* before listen(); 0 or errno */
void wr__sockopts_read(int fd, double out[9]);             /* getsockopt of each, -1 where absent */
void wr__sockopts_support(double out[6]);                  /* which of them this OS has */

/* ── turn.c ────────────────────────────────────────────────────────────────────────────── */
int wr_turn(wr_reactor *r, int timeoutMs);                 /* events posted */

/* ── poller.c ──────────────────────────────────────────────────────────────────────────── */
int wr__wake_register(wr_reactor *r);                      /* 0 or ENOMEM: r->wakeHandle set */
void wr__wake_unregister(wr_reactor *r);                   /* after it, wake(handle) writes nothing */
int wr__wake(double handle);                               /* any thread: 1 woken (or pending), 0 no such reactor */
/* An eventfd (Linux) or a nonblocking pipe (elsewhere) for a backend that wakes through a
 * descriptor: rd is what the kernel queue watches, wr what wr_wakefd_signal writes. */
int wr_wakefd_open(int *rd, int *wr);                      /* 0 or errno */
void wr_wakefd_close(int rd, int wr);
int wr_wakefd_signal(int wr);                              /* 0, or errno (a full pipe or counter is 0: a wake is pending) */
void wr_wakefd_drain(int rd);
int wr__poller_arm(wr_reactor *r, napi_env env, napi_value cb, int timeoutMs); /* 0 or errno */
void wr__poller_stop(wr_reactor *r);

/* ── queues.c ──────────────────────────────────────────────────────────────────────────── */
int wr__queues_request(wr_reactor *r, int maxSockets);    /* 0 or errno; returns at once */
void wr__queues_stop(wr_reactor *r);
void wr__queues_close(wr_reactor *r, int fd);             /* close() of a descriptor just marked NONE */
void wr__stats_copy(wr_reactor *r, double *out, size_t n);

/* ── syscalls: direct in the release build, fault-injecting with -DWR_FAULTS (faults.c) ───
 * `injected`: the result was made up (an EAGAIN or a short count with bytes still waiting, or
 * room to write): the caller keeps the descriptor's readiness as the kernel's next edge would. */
#ifdef WR_FAULTS
ssize_t wr_sys_recv(wr_reactor *r, int fd, void *buf, size_t len, int *injected);
ssize_t wr_sys_sendmsg(wr_reactor *r, int fd, struct msghdr *mh, int *injected);
int wr_sys_accept(wr_reactor *r, int lfd);
int wr_sys_socket(wr_reactor *r, int family);
int wr_sys_connect(wr_reactor *r, int fd, const struct sockaddr *a, socklen_t len, int *hang);
int wr_sys_ctl_fault(wr_reactor *r);                      /* ENOSPC to inject into an interest change, or 0 */
int wr_fault(wr_reactor *r, int kind);                    /* a completion backend's own draw of WR_FK_* kind */
uint64_t wr_fault_below(wr_reactor *r, int kind, uint64_t n);
void wr__faults_set(wr_reactor *r, const double *cfg, size_t n);
#else
static inline ssize_t wr_sys_recv(wr_reactor *r, int fd, void *buf, size_t len, int *injected) {
  (void)r; *injected = 0; return recv(fd, buf, len, MSG_DONTWAIT);
}
static inline ssize_t wr_sys_sendmsg(wr_reactor *r, int fd, struct msghdr *mh, int *injected) {
  (void)r; *injected = 0;
  /* one chunk: send(), with no msghdr for the kernel to import */
  if (mh->msg_iovlen == 1) return send(fd, mh->msg_iov[0].iov_base, mh->msg_iov[0].iov_len, WR_MSG_NOSIGNAL | MSG_DONTWAIT);
  return sendmsg(fd, mh, WR_MSG_NOSIGNAL | MSG_DONTWAIT);
}
static inline int wr_sys_accept(wr_reactor *r, int lfd) { (void)r; return wr_accept_nb(lfd, 1); }
static inline int wr_sys_socket(wr_reactor *r, int family) { (void)r; return wr_socket_nb(family); }
static inline int wr_sys_connect(wr_reactor *r, int fd, const struct sockaddr *a, socklen_t len, int *hang) {
  (void)r; *hang = 0; return connect(fd, a, len);
}
static inline int wr_sys_ctl_fault(wr_reactor *r) { (void)r; return 0; }
#endif

#endif
