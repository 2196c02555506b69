// Errors the public API throws or hands to `error` handlers. Every message says what was
// wrong, with what value, and what is allowed or what to do. Code decides by `err.code` (or
// the class), never by the message text: messages are for people and may be reworded.
import { K } from "./core/layout.ts";

/** Linux errno numbers (the core's numbering; hosts translate theirs at the edge). */
export const ERRNO: Record<number, string> = {
  1: "EPERM", 2: "ENOENT", 4: "EINTR", 9: "EBADF", 11: "EAGAIN", 12: "ENOMEM", 13: "EACCES",
  22: "EINVAL", 23: "ENFILE", 24: "EMFILE", 32: "EPIPE", 98: "EADDRINUSE", 99: "EADDRNOTAVAIL",
  101: "ENETUNREACH", 103: "ECONNABORTED", 104: "ECONNRESET", 105: "ENOBUFS", 107: "ENOTCONN",
  110: "ETIMEDOUT", 111: "ECONNREFUSED", 113: "EHOSTUNREACH",
};
export const ERRNO_BY_NAME: Record<string, number> = Object.fromEntries(Object.entries(ERRNO).map(([n, s]) => [s, Number(n)]));

export function errnoName(errno: number): string { return ERRNO[errno] ?? `errno ${errno}`; }

/**
 * The codes a ReactorError carries (besides errno names such as "ECONNRESET", which `error`
 * handlers receive for socket errors):
 */
export const ERROR_CODES = {
  /** An option, argument or handler is not valid: the message names it, the value, what is allowed. */
  ERR_INVALID_OPTION: "ERR_INVALID_OPTION",
  /** The reactor was closed (or is closing) and cannot do that any more. */
  ERR_CLOSED: "ERR_CLOSED",
  /** The connection is gone. */
  ERR_CONNECTION_CLOSED: "ERR_CONNECTION_CLOSED",
  /** write() after end() or close(). */
  ERR_WRITE_AFTER_END: "ERR_WRITE_AFTER_END",
  /** Every connection slot is in use (maxConnections). */
  ERR_NO_SLOT: "ERR_NO_SLOT",
  /** The descriptor budget is reached (fdLimit, fdReserve). */
  ERR_FD_BUDGET: "ERR_FD_BUDGET",
  /** The host asked for cannot run here (not built, not this OS, the native shim missing). */
  ERR_HOST_UNAVAILABLE: "ERR_HOST_UNAVAILABLE",
  /** A way of driving the loop that this host's wait option cannot support (e.g. step() with wait: 'thread'). */
  ERR_WAIT_MODE: "ERR_WAIT_MODE",
  /** listen() failed; errno and syscall say how. */
  ERR_LISTEN: "ERR_LISTEN",
  /** A socket-level refusal with no errno of its own. */
  ERR_SOCKET: "ERR_SOCKET",
  /** The core stopped on a failed check: the reactor cannot continue. */
  ERR_CORE_ASSERTION: "ERR_CORE_ASSERTION",
  /** At most 64 listeners per reactor. */
  ERR_TOO_MANY_LISTENERS: "ERR_TOO_MANY_LISTENERS",
  /** Every app timer is armed (the `timers` option). */
  ERR_TIMERS: "ERR_TIMERS",
  /** A handler threw; `cause` holds what it threw. */
  ERR_HANDLER: "ERR_HANDLER",
  /** A trace cannot be read or replayed (TraceFormatError: the file is malformed). */
  ERR_TRACE: "ERR_TRACE",
  /** Kept bytes (conn.keep) used after they were released, written, or closed with their connection. */
  ERR_KEPT_RELEASED: "ERR_KEPT_RELEASED",
  /** The buffer pool is too low for that (a kept chunk; keep() itself declines with undefined). */
  ERR_POOL_LOW: "ERR_POOL_LOW",
  /** The native shim refused a call (a bug, or a handle used after its reactor closed). */
  ERR_NATIVE: "ERR_NATIVE",
  /** A piece was built from another memory layout than the core's (a stale shim, TS mirror or core): rebuild with `npm run build`. */
  ERR_LAYOUT: "ERR_LAYOUT",
  /** startWorkers(): a worker's setup failed or the worker died (the message names the worker and module). */
  ERR_WORKER: "ERR_WORKER",
  /**
   * An outbound connect failed with EADDRNOTAVAIL: no ephemeral port is left for that
   * destination from that source address (net.ipv4.ip_local_port_range); errno is EADDRNOTAVAIL.
   */
  ERR_EPHEMERAL_PORTS: "ERR_EPHEMERAL_PORTS",
  /** The runtime refused a permission the library needs (Deno without --allow-read, --allow-write, ...): the message names the flag. */
  ERR_PERMISSION: "ERR_PERMISSION",
  /** Live tuning (host/ops/tuning.ts): a change while another is watched, a rollback with nothing to undo, a second Tuner on a reactor. */
  ERR_TUNING: "ERR_TUNING",
} as const;
export type ReactorErrorCode = keyof typeof ERROR_CODES;

export class ReactorError extends Error {
  /** One of ERROR_CODES, or an errno name ("ECONNRESET", ...) for socket errors. */
  readonly code: ReactorErrorCode | string;
  readonly errno?: number;
  readonly syscall?: string;
  constructor(code: ReactorErrorCode | string, message: string, extra: { errno?: number; syscall?: string; cause?: unknown } = {}) {
    super(message);
    this.name = "ReactorError";
    this.code = code;
    if (extra.errno !== undefined) this.errno = extra.errno;
    if (extra.syscall !== undefined) this.syscall = extra.syscall;
    if (extra.cause !== undefined) (this as { cause?: unknown }).cause = extra.cause;
  }
}

/**
 * Deno's refusal of a permission, as the flag that grants it ("--allow-read"), or undefined when
 * err is something else. Deno 2 throws NotCapable ("Requires read access to "X", run again with
 * the --allow-read flag"); Deno 1 threw PermissionDenied with the same text, a name Deno 2 keeps
 * for the OS's own EACCES, hence the test on the text. Node and Bun never throw either.
 */
export function deniedPermission(err: unknown): string | undefined {
  const e = err as { name?: unknown; message?: unknown } | null;
  if (!e || (e.name !== "NotCapable" && e.name !== "PermissionDenied") || typeof e.message !== "string") return undefined;
  return /run again with the (--allow-[a-z-]+) flag/.exec(e.message)?.[1] ?? (e.name === "NotCapable" ? "-A" : undefined);
}

/**
 * The ReactorError (ERR_PERMISSION) for Deno's refusal while doing `what` ("read the core
 * /x/core.release.wasm"), or undefined when err is not a refusal: callers rethrow their own.
 */
export function permissionError(err: unknown, what: string): ReactorError | undefined {
  const flag = deniedPermission(err);
  if (flag === undefined) return undefined;
  const grant = flag === "--allow-all" || flag === "-A" ? "-A (Deno grants that file only to --allow-all)" : `${flag} (or -A)`;
  return new ReactorError("ERR_PERMISSION", `wasm-reactor: Deno refused to ${what}: run it with ${grant}; docs/runtimes.md lists what each part needs`, { cause: err });
}

/** An error from the network, as handed to `error(conn, err)`: code is the errno name. */
export function socketError(errno: number, what: string): ReactorError {
  const name = errnoName(errno);
  return new ReactorError(name, `${what}: ${name}`, { errno, syscall: what });
}

/** EADDRNOTAVAIL's number (Linux numbering, as the core's errors are). */
export const EADDRNOTAVAIL = 99;

/**
 * The error for an outbound connect that failed with EADDRNOTAVAIL: on Linux that is the
 * ephemeral ports of one source address used up towards one destination (or, with
 * localAddress, an address that is not this machine's, which bind reports the same way).
 */
export function ephemeralPortsError(): ReactorError {
  return new ReactorError("ERR_EPHEMERAL_PORTS",
    "wasm-reactor: connect failed with EADDRNOTAVAIL: no ephemeral port is free for this destination from this source address. " +
    "Each connection to one destination address and port takes its own local port from net.ipv4.ip_local_port_range (about 28,000 by default); " +
    "spread connections over several source addresses (ConnectOptions localAddress: several addresses of this machine, or 127.0.0.N on loopback; " +
    "the native hosts set IP_BIND_ADDRESS_NO_PORT so such a bind takes no port until connect), widen the range (sysctl -w net.ipv4.ip_local_port_range=\"1024 65535\"), " +
    "or connect to more destination ports or addresses; if you gave localAddress, check it is an address of this machine. " +
    "See docs/runbooks/ephemeral-port-exhaustion.md",
    { errno: EADDRNOTAVAIL, syscall: "connect" });
}

/** What the core's commands return when they refuse (K.R_*, assembly/commands.ts), as errors. */
const REFUSALS: Record<number, [ReactorErrorCode, string]> = {
  [K.R_STALE]: ["ERR_CONNECTION_CLOSED", "the connection is closed"],
  [K.R_ENDED]: ["ERR_WRITE_AFTER_END", "the connection was ended or closed"],
  [K.R_NO_SLOT]: ["ERR_NO_SLOT", "every connection slot is in use (raise maxConnections)"],
  [K.R_BUDGET]: ["ERR_FD_BUDGET", "the descriptor budget is reached (reactor.limits says where it comes from; raise RLIMIT_NOFILE, or lower fdReserve; `wasm-reactor doctor` plans it, docs/runbooks/descriptor-exhaustion.md)"],
  [K.R_BAD_CHUNK]: ["ERR_SOCKET", "not a chunk the app may queue"],
  [K.R_BAD_ARG]: ["ERR_SOCKET", "invalid argument"],
  [K.R_LISTENERS]: ["ERR_TOO_MANY_LISTENERS", "at most 64 listeners per reactor"],
  [K.R_POOL_LOW]: ["ERR_POOL_LOW", "the buffer pool is too low to lend a chunk for longer (raise poolChunks; see docs/runbooks/backpressure-and-pool-exhaustion.md)"],
};

/** The error for a core command's refusal `r` (< 0); `what` says what was being done, e.g. "write() on connection 7". */
export function refusalError(r: number, what: string, fallback: ReactorErrorCode = "ERR_SOCKET"): ReactorError {
  const [code, msg] = REFUSALS[r] ?? [fallback, `error ${r}`];
  return new ReactorError(code, `wasm-reactor: ${what}: ${msg}`);
}
