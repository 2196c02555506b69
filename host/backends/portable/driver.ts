// The portable host's one seam with the runtime: a small socket driver per runtime (node.ts:
// node:net; deno.ts: Deno.listen/Deno.connect; bun.ts: Bun.listen/Bun.connect), chosen here
// and nowhere else. Everything outside the three driver files runs on all three runtimes.
//
// A driver knows sockets, not the core: it hands bytes, FINs, errors and drains to a Sink (the
// host's record of that socket, portable.ts) and does what the host asks (write, pause
// reading, half-close, close). Errors reach the Sink as Linux errno numbers (the core's
// numbering), translated from the runtime's error code here, at the edge.
import type { BoundAddress, ConnectSpec, ListenSpec } from "../../contract/contract.ts";
import { ERRNO_BY_NAME } from "../../errors.ts";

/** What a driver tells the host about one socket. */
export interface Sink {
  /** The peer's bytes; the host keeps `bytes` (a driver hands over a buffer it will not touch again). */
  onData(bytes: Uint8Array): void;
  /** The peer's FIN. */
  onEnd(): void;
  /** A socket error (Linux errno); nothing more will be read. */
  onError(errno: number): void;
  /** Bytes the runtime held back went out (its buffer drained, or a full kernel buffer took more). */
  onWritable(): void;
  /** A connect completed. */
  onConnect(): void;
  /** A connect failed (Linux errno). */
  onConnectFail(errno: number): void;
}

/** One socket, as the host drives it. */
export interface DriverConn {
  /**
   * Hands buf[off, off + len) to the runtime and returns how many bytes it took (all of them for a runtime that
   * buffers: node:net, Deno; what the kernel took for Bun). `buf` is memory the host reuses
   * once this returns: a driver that keeps bytes copies them. -1: the socket is gone (closed
   * by the runtime after both FINs, or failed): the host answers EPIPE.
   */
  write(buf: Uint8Array, off: number, len: number): number;
  /** Bytes the runtime holds that the kernel has not taken yet. */
  buffered(): number;
  /** Reading on or off (off: the runtime stops reading, and the kernel's window closes on the peer). */
  setReading(on: boolean): void;
  /** Our FIN, after whatever the runtime still buffers. */
  shutdown(): void;
  /** Closes: gracefully (buffered bytes, then FIN), or abortively (RST where the runtime can). */
  close(reset: boolean): void;
  remote(): BoundAddress | undefined;
}

export interface DriverListener {
  /** Whether the runtime should take more connections off the kernel's queue (a runtime that pulls accepts can honour it). */
  setAccepting(on: boolean): void;
  close(): void;
}

/** An error listen() met, with the runtime's words for it. */
export class ListenFailure extends Error {
  constructor(readonly errno: number, readonly code: string, readonly syscall: string, message: string) { super(message); }
}

export interface Driver {
  readonly runtime: "node" | "deno" | "bun";
  /** Whether a connect may name a source address (localAddress). */
  readonly canBindSource: boolean;
  /** Whether CLOSE with SQF_RESET sends a reset (Deno's sockets have no SO_LINGER: a plain close). */
  readonly canReset: boolean;
  /**
   * Runs fn once the runtime has delivered its current batch of socket activity, so that one turn
   * takes all of it (node:net and Bun: setImmediate, after the loop's I/O phase; Deno: a microtask,
   * which runs after every read that completed in the same tick has been handed over).
   */
  afterIo(fn: () => void): void;
  /** Whether reading `path` is allowed without asking anyone (Deno: granted already; never a prompt). */
  mayRead(path: string): boolean;
  /**
   * Opens, binds and listens, synchronously; throws ListenFailure. `accept` is called once per
   * arriving connection, before any of its data, and returns that connection's sink;
   * `acceptError` hears an accept that failed (EMFILE), where the runtime tells of one.
   */
  listen(spec: ListenSpec, noDelay: boolean, accept: () => Sink & { d?: DriverConn }, acceptError: (errno: number) => void, keepAliveMs?: number): { listener: DriverListener; port: number };
  /** Starts a connect; the sink hears onConnect or onConnectFail. */
  connect(spec: ConnectSpec, noDelay: boolean, sink: Sink, keepAliveMs?: number): DriverConn;
  /**
   * What the runtime lets a socket set of option keepAlive: "idle" (on, with the idle time:
   * node:net, Bun), "on" (on with the OS's own times: Deno's setKeepAlive has no delay).
   * Neither runtime sets the probe interval or count, TCP_USER_TIMEOUT, SO_RCVBUF/SO_SNDBUF or
   * TCP_DEFER_ACCEPT on a TCP socket (docs/limits.md).
   */
  readonly keepAlive: "idle" | "on";
}

/** Which runtime this is (the one place that asks). */
export function runtimeName(): "node" | "deno" | "bun" {
  const g = globalThis as { Deno?: unknown; Bun?: unknown };
  return g.Deno !== undefined ? "deno" : g.Bun !== undefined ? "bun" : "node";
}

/** Linux errno for a runtime's error code ("ECONNRESET"); 103 (ECONNABORTED) for a code with no Linux number here. */
export function errnoOf(err: unknown): number {
  const code = (err as { code?: unknown })?.code;
  if (typeof code === "string" && ERRNO_BY_NAME[code] !== undefined) return ERRNO_BY_NAME[code];
  return ERRNO_BY_NAME.ECONNABORTED;
}

/** Copies a view the host will reuse into bytes of the driver's own. */
export function own(bytes: Uint8Array): Uint8Array {
  const out = new Uint8Array(bytes.length);
  out.set(bytes);
  return out;
}
