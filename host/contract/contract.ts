// The host contract: what every backend (sim, epoll, kqueue, portable, io_uring) does for the
// core. tests/contract/ is this text as executable tests, run against every backend on Node,
// Deno and Bun; a new backend is one line in its list (tests/helpers/contract.ts).
//
// A host owns the descriptors and the syscalls; the core owns every decision. They talk only
// through the rings in the core's shared memory (assembly/layout.ts), one batch per turn:
//
//  1. `execute()` consumes the whole submission ring, in order:
//       INTEREST  register/modify/remove read/write interest for fd (coalesced by the core: it
//                 sends one only when the wanted set changed);
//       WRITE     write the chunk chain (ChunkMeta.next from chunk `a`, each chunk's
//                 [start, start+len)) up to `b` bytes, with writev where there is one, and post
//                 exactly one EV_WRITE_DONE with the bytes written and 0, EAGAIN (not all
//                 written: wait for EV_WRITABLE), or the errno (EPIPE, ECONNRESET, ...);
//                 a host never raises SIGPIPE;
//       SHUTDOWN  shutdown(fd, SHUT_WR): our FIN;
//       CLOSE     close(fd) once (SQF_RESET: abortive, SO_LINGER 0); after it the host posts
//                 nothing more for that descriptor; slot NONE means "a descriptor the core
//                 refused" (accepted past a closed listener, or after a stale connect);
//       CONNECT   open a nonblocking socket for the address the host keeps under (slot, gen),
//                 post EV_SOCKET_OPENED (fd, or err if socket() failed), then EV_CONNECTED or
//                 EV_CONNECT_FAILED when the connect completes.
//  2. `wait(timeoutMs)` blocks (or, on a thread that runs other JS, arranges to be woken) until
//     I/O is ready or the timeout passes. The timeout is the core's nextDeadlineMs (header):
//     -1 = no timer (wait for I/O only), 0 = do not wait. Never longer: timers and I/O wake
//     together, and nothing busy-waits.
//  3. `poll()` turns readiness into events, within the budgets the core published at flush:
//       listeners with interest IN_READ: accept up to header.acceptBudget in total (nonblocking,
//       cloexec), EV_ACCEPTED per descriptor; EAGAIN ends the loop quietly; EMFILE/ENFILE and
//       other errors post one EV_ACCEPT_ERROR and stop accepting on that listener this turn;
//       connections with IN_READ: read into chunks taken from the supply ring, at most
//       header.readsPerConn chunks per connection per turn (fairness); EV_READ per chunk; a
//       0-byte read posts EV_READ with chunk NONE and b = 0 (the peer's FIN); errors post
//       EV_READ_ERROR. With HOST_READS_PAUSED or an empty supply ring, read nothing;
//       connections with IN_WRITE that became writable: EV_WRITABLE. It may come in the very
//       turn whose INTEREST adds IN_WRITE (the socket has room already: a core that asks after
//       its writes drained is not left waiting), and the WRITE after it takes bytes (never
//       readiness seen before a WRITE ended short with EAGAIN).
//       While HOST_ACCEPTS_PAUSED is set, accept nothing; clients left waiting are accepted once
//       it clears, even if no new client arrives (an edge-triggered host keeps them parked).
//     A host never posts more events than fit in the event ring; what does not fit waits for
//     the next turn (level-triggered readiness comes back by itself; a host in edge-triggered
//     mode keeps its own ready list). A host accepts only while the ring has room, so an
//     EV_ACCEPTED is never held back outside the ring: the core counts the accepts still in the
//     ring against the descriptor budget (an app connect() may run between poll and ingest).
//
// Descriptors: a host reports every descriptor it opens (EV_ACCEPTED, EV_SOCKET_OPENED, or the
// return of `listen()`), and closes it only when the core submits CLOSE — so each is closed
// exactly once, by one owner, on every path. Hosts translate their errors to Linux errno
// numbers (K.E_* in the layout) at the edge.
//
// Ownership: the host acts on a descriptor only if it opened it and still owns it, for the
// (slot, gen) of its owner. A CONNECT's socket is bound to that CONNECT's (slot, gen) when it
// is opened. A listener or an accepted socket is unbound until the first record that names it
// with a slot other than NONE, which binds it (the core's flush may put a WRITE or a CLOSE
// before the first INTEREST of a new slot). Once named by its owner it is adopted: a
// slot-NONE CLOSE, or closeDescriptor(), may close it only before that.
//
// Contract violations (what a broken core could submit) are never a syscall: a descriptor the
// host does not own for that slot and generation, a chunk index at or past the chunk count,
// start + len past the chunk, a write chain shorter than its bytes or one that loops, an
// unknown op. The host counts each (`violations` in hostMetrics), keeps the first one's text,
// and answers with the completion that submission would have had, so nothing waits forever:
//   WRITE → EV_WRITE_DONE, b = 0, err EBADF (not the owner) or EINVAL (bad chunk or chain);
//   INTEREST, SHUTDOWN on a descriptor not owned → EV_READ_ERROR, err EBADF, for that slot/gen;
//   CLOSE of a descriptor not owned → nothing (the core already thinks it closed);
//   CONNECT with no address prepared for that slot/gen → EV_SOCKET_OPENED, fd -1, err EINVAL;
//   an unknown op → counted, nothing posted.
//
// A native host may do execute, wait and poll in one call (the epoll host does: one crossing
// per turn, whatever the number of ready sockets): the reactor always calls them in that
// order, so `execute()` may leave the submissions for `wait()` to run first.
//
// Listening is synchronous (`listen()` opens, binds and listens, and throws a ReactorError
// naming the address and errno, e.g. EADDRINUSE), so the app learns of a port in use at once.

import type { Core } from "../core/core.ts";

export interface ListenSpec {
  host: string;
  port: number;
  backlog: number;
  /** SO_REUSEPORT: several reactors (processes or workers) share one port. */
  reusePort?: boolean;
  /** SO_RCVBUF / SO_SNDBUF on the listener before listen(), inherited by accepted sockets (docs/limits.md). */
  recvBufferBytes?: number;
  sendBufferBytes?: number;
  /** TCP_DEFER_ACCEPT (Linux): accept only once the client has sent data, waiting up to this long. */
  deferAcceptS?: number;
}

export interface ConnectSpec {
  host: string;
  port: number;
  /** Optional source address (127.0.0.N spreads connections over many source ports). */
  localAddress?: string;
}

export interface BoundAddress {
  host: string;
  port: number;
}

export interface HostLimits {
  /** The real descriptor limit the budget starts from (RLIMIT_NOFILE soft and its kin). */
  fdLimit: number;
  /** Where each part of the limit came from, for error messages and the operator. */
  source: string;
}

/** Every backend kind; host/backends/registry.ts is the only switch over them. */
export type HostKind = "sim" | "epoll" | "kqueue" | "portable" | "uring";

/**
 * How a host's wait() behaves, which decides how the reactor may drive it:
 *   "virtual" — never sleeps: it jumps a virtual clock (the simulator); step()/runUntil() work;
 *   "block"   — holds the thread until I/O, the deadline or wake() (a worker's fast path);
 *               step()/runUntil() work; run() bounds each wait and yields to the runtime's
 *               loop after a wait that brought nothing, so signal handlers still run (a
 *               signal interrupts the wait: a blocking host returns early on EINTR);
 *   "async"   — returns a promise when it has to wait, and the thread stays free (a poller
 *               thread or the runtime's own loop wakes it); only run() can drive it:
 *               step()/runUntil()/runFor() throw ERR_WAIT_MODE up front.
 */
export type WaitStyle = "virtual" | "block" | "async";

/** The core's WASI clock and random source, for a host that owns time (the simulator). */
export interface HostClock {
  /** Nanoseconds of the host's clock. */
  clockNs(): bigint;
  /** Fills v with the host's (seeded) random bytes. */
  random(v: Uint8Array): void;
  /** The host's time in ms, for the reactor's nowMs(). */
  nowMs(): number;
}

export interface Host {
  readonly kind: HostKind;
  readonly waitStyle: WaitStyle;
  /** A host that owns time and randomness supplies them; real hosts leave it undefined. */
  readonly clock?: HostClock;
  /** After a wait: whether another thread's wake() ended it (the reactor then yields to its loop). */
  readonly woken?: boolean;
  /** After close(): descriptors that were still open (each a leak; closed then). */
  readonly leakedAtClose?: number;
  /** The first contract violation's text (undefined while there was none): see "Contract violations" above. */
  readonly firstViolation?: string | undefined;
  /** Called once, after the core exists and before the first turn. */
  attach(core: Core): void;
  limits(): HostLimits;
  /** Opens a listening socket; returns its descriptor and the bound address. */
  listen(spec: ListenSpec): { fd: number; address: BoundAddress };
  /** Throws a ReactorError if the host cannot connect there (before the core spends a slot). */
  checkConnect?(spec: ConnectSpec): void;
  /** Remembers where (slot, gen) should connect; the core's CONNECT submission follows. */
  prepareConnect(slot: number, gen: number, spec: ConnectSpec): void;
  execute(): void;
  /**
   * Waits up to timeoutMs (-1: until I/O). Returns false when nothing can ever happen again
   * (the simulator with no scheduled work and no timer): the reactor is idle.
   */
  wait(timeoutMs: number): boolean | Promise<boolean>;
  poll(): void;
  /** The app acted between turns (a write from a timer, say): end a wait in progress early. */
  wake?(): void;
  /** Closes a descriptor the core never took over (listenerOpen refused it). */
  closeDescriptor?(fd: number): void;
  /** The peer address of an accepted or connected descriptor, if the host knows it. */
  remoteAddress(fd: number): BoundAddress | undefined;
  /** The host's own counters for metrics(); `sample`: also sample costly gauges (kernel queues). */
  hostMetrics?(sample: boolean): Record<string, number>;
  close(): void;
}
