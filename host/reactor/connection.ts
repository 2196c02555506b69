// The API objects an app holds: Connection and Listener, and the handler types.
//
// A Connection is a small handle (reactor, slot, gen) made for each callback, so holding many
// idle connections needs no JS object each: everything it reports is read from the core's slot
// when asked. `conn.id` is stable for a connection's life; `conn.data` keeps per-connection user
// data (held by the dispatcher, off the slot, cleared at close).
import type { BoundAddress } from "../contract/contract.ts";
import type { ReactorError } from "../errors.ts";
import type { Reactor } from "./reactor.ts";
import type { Kept } from "./keep.ts";
import type { ProxyInfo, ProxyProtocolMode } from "./proxy.ts";

export interface Handlers {
  /** A connection opened (accepted, or an outbound connect completed). */
  open?(conn: Connection): void;
  /**
   * Bytes arrived. `data` is a view into the reactor's buffer pool, lent for the call: it is
   * valid until the callback returns, and the chunk goes back to the pool then. To use bytes
   * later: copy them (`data.slice()`), keep them without a copy (`conn.keep(data)`), or write
   * them on as they are (`conn.write(data)` queues the same memory: the one case write() does
   * not copy). See docs/api.md for parsing a framed protocol across partial reads.
   */
  data?(conn: Connection, data: Uint8Array): void;
  /** The write queue went from above the high-water mark to the low-water mark. */
  drain?(conn: Connection): void;
  /** The peer half-closed (sent FIN). Without allowHalfOpen our side ends too. */
  end?(conn: Connection): void;
  /** A timeout fired: "idle", "connect", "handshake" or "writeStall". The reactor closes the connection after this. */
  timeout?(conn: Connection, kind: TimeoutKind): void;
  /** The connection is gone; `info.reason` says why. Called exactly once per opened or attempted connection. */
  close?(conn: Connection, info: CloseInfo): void;
  /** A socket error (ECONNRESET, ECONNREFUSED, ...); `close` follows. On a listener: accept failed. */
  error?(conn: Connection, err: ReactorError): void;
}

export type TimeoutKind = "idle" | "connect" | "handshake" | "writeStall";
export type CloseReason = "normal" | "abort" | "reset" | "error" | "timeout" | "connectFailed" | "shutdown";
export interface CloseInfo { reason: CloseReason; errno?: number; code?: string }

/** Indexed by the core's ST_* states. */
const STATES = ["free", "listening", "connecting", "open", "readEnded", "closing", "closed"] as const;
export type ConnectionState = (typeof STATES)[number];

export interface ListenOptions {
  port?: number; host?: string; backlog?: number;
  /** SO_REUSEPORT (several reactors on one port) */
  reusePort?: boolean;
  /** SO_RCVBUF on the listener before listen(): every accepted socket inherits it (bytes; Linux reports twice that). Default: the kernel's (tcp_rmem, autotuned). */
  recvBufferBytes?: number;
  /** SO_SNDBUF on the listener before listen(), inherited likewise. Default: the kernel's (tcp_wmem, autotuned). */
  sendBufferBytes?: number;
  /** TCP_DEFER_ACCEPT (Linux): a connection is accepted once the client sends its first bytes, waiting up to this many seconds. For protocols where the client speaks first. */
  deferAcceptS?: number;
  /**
   * Expect a PROXY protocol header (v1 text, v2 binary, or either) at the start of every accepted
   * connection, as HAProxy's `send-proxy`/`send-proxy-v2` or a cloud load balancer sends it:
   * `open` waits for it, conn.remoteAddress is the client it names, and `data` never sees it. A
   * malformed, oversized, truncated or late header resets the connection and counts in
   * metrics().proxyHeaderErrors. Only for listeners that nothing but the balancer can reach:
   * anyone who can connect can claim any address (docs/load-balancers.md). Default: off.
   */
  proxyProtocol?: ProxyProtocolMode;
  /** With proxyProtocol: ms from accept within which the whole header must arrive (default 5000). */
  proxyTimeoutMs?: number;
}
export interface ConnectOptions { port: number; host?: string; localAddress?: string }
export interface TimerHandle { readonly id: number; readonly seq: number }

/** A handle on one connection (or listener), valid while the connection lives. */
export class Connection {
  readonly slot: number;
  readonly gen: number;
  private readonly r: Reactor;
  /** @internal */
  constructor(r: Reactor, slot: number, gen: number) { this.r = r; this.slot = slot; this.gen = gen; }
  /** Stable for the connection's life, unique among live connections. */
  get id(): number { return this.gen * 4194304 + this.slot; }
  get reactor(): Reactor { return this.r; }
  /** Per-connection user data (kept off the connection slot; cleared at close). */
  get data(): unknown { return this.r.notes.userData(this.slot, this.gen); }
  set data(v: unknown) { if (this.live) this.r.notes.setUserData(this.slot, this.gen, v); }
  get live(): boolean { const e = this.r.core.exports; return e.genOf(this.slot) === this.gen && e.stateOf(this.slot) !== 0; }
  get state(): ConnectionState { return this.live ? STATES[this.r.core.exports.stateOf(this.slot)] : "closed"; }
  /** Whether write() is allowed: not ended by us (end(), idle harvest, reactor close) nor closed. */
  get writable(): boolean { return this.r.core.slotWritable(this.slot, this.gen); }
  /** Bytes queued for writing (in the pool and, when it is full, waiting beside it). */
  get queuedBytes(): number { return this.r.writes.queuedBytes(this); }
  /**
   * The peer's address. On a listener with proxyProtocol: the client the PROXY header named
   * (the socket's own peer, the balancer, for a LOCAL or UNKNOWN header; see `proxy`).
   */
  get remoteAddress(): BoundAddress | undefined {
    if (!this.live) return undefined;
    const p = this.r.notes.proxy.info(this.slot, this.gen);
    return p?.source ?? this.r.host.remoteAddress(this.r.core.slotField(this.slot, "fd"));
  }
  /** What the PROXY header said (listeners with proxyProtocol), else undefined. */
  get proxy(): ProxyInfo | undefined { return this.live ? this.r.notes.proxy.info(this.slot, this.gen) : undefined; }
  /**
   * Queues bytes; returns false when the caller should wait for `drain` before writing more.
   * A buffer the app owns (or a string) is copied into the pool before write() returns: the
   * app may reuse it at once. Not copied: the `data` a data callback is running with (or a
   * part of it), and a Kept handle (its chunk joins the queue; the handle is spent).
   */
  write(data: Uint8Array | string | Kept): boolean { return this.r.writes.write(this, data); }
  /**
   * Keeps the `data` of the current data callback (or a part of it) past the callback, without
   * a copy: the returned handle's `bytes` stay valid until `release()`, until it is written
   * (`conn.write(kept)`, on any connection), or until this connection closes. Returns undefined
   * when it cannot keep them (then copy: `data.slice()`): not a chunk lent now (already kept or
   * written), this connection keeps `keepChunksPerConnection` chunks already, or the pool is
   * low. Each kept chunk is a whole pool chunk (chunkSize) that no read can use meanwhile.
   */
  keep(data: Uint8Array): Kept | undefined { return this.r.kept.keep(this, data); }
  /** Graceful end: queued bytes are written, then FIN. Optional last bytes first. */
  end(data?: Uint8Array | string): void { if (data !== undefined) this.write(data); this.r.command(this, this.r.core.exports.end(this.slot, this.gen), "end"); }
  /** Abortive close: queued bytes are dropped, FIN sent. */
  close(): void { this.r.writes.drop(this.slot); this.r.command(this, this.r.core.exports.close(this.slot, this.gen, 0), "close", true); }
  /** Abortive close with RST. */
  reset(): void { this.r.writes.drop(this.slot); this.r.command(this, this.r.core.exports.close(this.slot, this.gen, 1), "reset", true); }
  pause(): void { this.r.command(this, this.r.core.exports.pause(this.slot, this.gen), "pause"); }
  resume(): void { this.r.command(this, this.r.core.exports.resume(this.slot, this.gen), "resume"); }
}

/** A listening socket. */
export class Listener {
  readonly address: BoundAddress;
  readonly handle: Connection;
  private readonly r: Reactor;
  /** @internal */
  constructor(r: Reactor, handle: Connection, address: BoundAddress) { this.r = r; this.handle = handle; this.address = address; }
  get port(): number { return this.address.port; }
  /** Stops accepting and closes the listening socket; open connections stay. */
  close(): void { if (this.handle.live) this.r.command(this.handle, this.r.core.exports.end(this.handle.slot, this.handle.gen), "close"); }
  /** Stops accepting for now (the kernel still queues handshakes up to the backlog). */
  pause(): void { this.handle.pause(); }
  resume(): void { this.handle.resume(); }
}
