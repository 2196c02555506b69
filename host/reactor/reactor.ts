// The public API: Reactor.create(options) → listen() / connect() with a handlers object.
//
// A Reactor owns one core (assembly/, in its own shared memory) and one host (host/contract.ts).
// It drives turns — ingest, dispatch notes to handlers, flush, execute, wait, poll — and turns
// the app's calls (write, end, close, pause, timers) into core commands. Connections are named
// by (slot, gen); a Connection object is a small handle made for each callback, so holding many
// idle connections needs no JS object each. `conn.id` is stable for a connection's life and
// `conn.data` keeps per-connection user data.

import { Core, K, coreBytes, headerWord, type Build } from "../core/core.ts";
import { Recorder, coreHash, type RecordOptions } from "../trace/trace.ts";
import type { WasiHooks } from "../../shims/wasi.ts";
import type { Host, ConnectSpec, BoundAddress, HostLimits } from "../contract/contract.ts";
import type { SimNetwork } from "../backends/sim/sim.ts";
import { createHost } from "../backends/registry.ts";
import { resolveOptions, type ReactorOptions, type ResolvedOptions } from "../options.ts";
import { ReactorError, socketError, errnoName, ERRNO } from "../errors.ts";
import { NoteRec_BYTES, ERRNO_OFFSET, HIST_OFFSET } from "../core/layout.ts";
import { metricsSnapshot, prometheusText, type MetricsSnapshot } from "../core/metrics.ts";

export interface Handlers {
  /** A connection opened (accepted, or an outbound connect completed). */
  open?(conn: Connection): void;
  /**
   * Bytes arrived. `data` is a view into the reactor's buffer pool, valid until the callback
   * returns: copy it (`data.slice()`) to keep it. Writing it back (`conn.write(data)`) queues the
   * same memory without a copy.
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

// Indexed by TO_*; TO_LINGER never reaches the app (a linger expiry closes with reason "timeout").
const TIMEOUT_KINDS: TimeoutKind[] = ["idle", "idle", "connect", "handshake", "writeStall"];
const CLOSE_REASONS: CloseReason[] = ["normal", "abort", "reset", "error", "timeout", "connectFailed", "shutdown"];
const STATES = ["free", "listening", "connecting", "open", "readEnded", "closing", "closed"] as const;
export type ConnectionState = (typeof STATES)[number];

export interface ListenOptions { port?: number; host?: string; backlog?: number; /** SO_REUSEPORT (several reactors on one port) */ reusePort?: boolean }
export interface ConnectOptions { port: number; host?: string; localAddress?: string }
export interface CloseOptions { drainMs?: number }
export interface CloseReport { graceful: number; aborted: number; ms: number; leakedDescriptors: number }

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
  get data(): unknown { const d = this.r.userData.get(this.slot); return d && d.gen === this.gen ? d.value : undefined; }
  set data(v: unknown) { if (this.live) this.r.userData.set(this.slot, { gen: this.gen, value: v }); }
  get live(): boolean { return this.r.core.exports.genOf(this.slot) === this.gen && this.r.core.exports.stateOf(this.slot) !== 0; }
  get state(): ConnectionState { return this.live ? STATES[this.r.core.exports.stateOf(this.slot)] : "closed"; }
  /** Whether write() is allowed: not ended by us (end(), idle harvest, reactor close) nor closed. */
  get writable(): boolean {
    const s = this.state;
    if ((this.r.core.slotField(this.slot, "flags2") & K.G_CLOSE_REQ) !== 0) return false; // close() was called
    return s === "open" || s === "readEnded" || s === "connecting";
  }
  /** Bytes queued for writing (in the pool and, when it is full, waiting beside it). */
  get queuedBytes(): number { return this.r.queuedBytes(this); }
  get remoteAddress(): BoundAddress | undefined { return this.r.remoteAddress(this); }
  /** Queues bytes; returns false when the caller should wait for `drain` before writing more. */
  write(data: Uint8Array | string): boolean { return this.r.write(this, data); }
  /** Graceful end: queued bytes are written, then FIN. Optional last bytes first. */
  end(data?: Uint8Array | string): void { if (data !== undefined) this.write(data); this.r.command(this, this.r.core.exports.end(this.slot, this.gen), "end"); }
  /** Abortive close: queued bytes are dropped, FIN sent. */
  close(): void { this.r.dropOverflow(this.slot); this.r.command(this, this.r.core.exports.close(this.slot, this.gen, 0), "close", true); }
  /** Abortive close with RST. */
  reset(): void { this.r.dropOverflow(this.slot); this.r.command(this, this.r.core.exports.close(this.slot, this.gen, 1), "reset", true); }
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

export interface TimerHandle { readonly id: number; readonly seq: number }

const encoder = new TextEncoder();
const W_NOTE_HEAD = headerWord("noteHead");

const R_MESSAGES: Record<number, [string, string]> = {
  [-1]: ["ERR_CONNECTION_CLOSED", "the connection is closed"],
  [-2]: ["ERR_WRITE_AFTER_END", "the connection was ended or closed"],
  [-3]: ["ERR_NO_SLOT", "every connection slot is in use (raise maxConnections)"],
  [-4]: ["ERR_FD_BUDGET", "the descriptor budget is reached (see fdLimit/fdReserve and `wasm-reactor doctor`)"],
  [-5]: ["ERR_SOCKET", "not a chunk the app may queue"],
  [-6]: ["ERR_SOCKET", "invalid argument"],
  [-7]: ["ERR_TOO_MANY_LISTENERS", "at most 64 listeners per reactor"],
};

interface Overflow { gen: number; parts: Uint8Array[]; bytes: number; wantDrain: boolean }

export class Reactor {
  readonly options: ResolvedOptions;
  readonly host: Host;
  /** The simulator, when options.host is "sim": tests and apps drive its peers. */
  readonly sim: SimNetwork | undefined;
  /** Where the descriptor budget came from: the host's limit and what it is made of. */
  limits!: HostLimits;
  /** The trace being written (option `record`), if any. */
  recorder: Recorder | undefined;
  /** @internal */ readonly core: Core;
  /** @internal */ readonly userData = new Map<number, { gen: number; value: unknown }>();
  private readonly handlerSets: Handlers[] = [{}];
  private readonly slotHandlers: Uint16Array;
  /** The generation slotHandlers[slot] belongs to: a note for an earlier occupant calls nothing of the new one's. */
  private readonly handlerGen: Uint32Array;
  private readonly overflow = new Map<number, Overflow>();
  private readonly timerFns: (((...a: unknown[]) => void) | undefined)[] = [];
  private readonly freeTimerIds: number[] = [];
  private readonly timerSeq: number[] = [];
  private timerSeqNext = 1;
  private readonly listenersBySlot = new Map<number, Listener>();
  private readonly log: (line: string) => void;
  private closing: Promise<CloseReport> | undefined;
  private closed = false;
  private running: Promise<void> | undefined;
  private dead: ReactorError | undefined;
  private inTurn = false;
  private queuesSampledAt = -Infinity;

  /** Real hosts: the core's clock, read now (ms since the reactor was made). */
  private readonly liveMs: () => number;

  private constructor(options: ResolvedOptions, host: Host, core: Core, log: (line: string) => void, liveMs: () => number) {
    this.liveMs = liveMs;
    this.options = options;
    this.host = host;
    this.sim = host.kind === "sim" ? host as SimNetwork : undefined;
    this.core = core;
    this.log = log;
    this.slotHandlers = new Uint16Array(core.caps.slotCap);
    this.handlerGen = new Uint32Array(core.caps.slotCap);
    for (let i = options.timers - 1; i >= 0; i--) this.freeTimerIds.push(i);
  }

  /** Validates the options, builds the core in its shared memory and attaches the host. */
  static async create(options?: ReactorOptions): Promise<Reactor> {
    const o = resolveOptions(options);
    const log = o.log ?? ((line: string) => console.error(line));
    const host = createHost(o, log);
    const kind = host.kind;
    const limits = host.limits();
    const caps = {
      slotCap: o.maxConnections + 64, // + the listeners' slots
      chunkSize: o.chunkSize,
      chunkCount: o.poolChunks,
      appTimerCap: o.timers,
      eventCap: o.eventRing,
      submitCap: o.submitRing,
      noteCap: o.noteRing,
      supplyCap: nextPow2(o.supplyTarget),
    };
    const config = {
      idleTimeoutMs: o.idleTimeoutMs,
      connectTimeoutMs: o.connectTimeoutMs,
      handshakeTimeoutMs: o.handshakeTimeoutMs,
      writeStallTimeoutMs: o.writeStallTimeoutMs,
      lingerMs: o.lingerMs,
      highWaterBytes: o.highWaterBytes,
      lowWaterBytes: o.lowWaterBytes,
      acceptsPerTurn: o.acceptsPerTurn,
      readsPerConnPerTurn: o.readsPerConnPerTurn,
      expiriesPerTurn: o.expiriesPerTurn,
      supplyTarget: o.supplyTarget,
      poolReserveChunks: o.poolReserveChunks,
      fdLimit: o.fdLimit || limits.fdLimit,
      fdReserve: o.fdReserve,
      fdHysteresis: o.fdHysteresis,
      acceptBackoffMs: o.acceptBackoffMs,
      acceptBackoffMaxMs: o.acceptBackoffMaxMs,
      allowHalfOpen: o.allowHalfOpen ? 1 : 0,
      pauseReadsAtHighWater: o.pauseReadsAtHighWater ? 1 : 0,
      maxConnections: o.maxConnections,
    };
    const t0 = performance.now();
    const clock = host.clock;
    let hooks: WasiHooks = clock ? {
      clockNs: () => clock.clockNs(),
      random: (v) => clock.random(v),
      log,
    } : {
      // Real hosts: monotonic time since the reactor was made (the core keeps 48-bit ms).
      clockNs: () => BigInt(Math.round((performance.now() - t0) * 1e6)) + 1_000_000n,
      random: (v) => { crypto.getRandomValues(v as Uint8Array<ArrayBuffer>); },
      log,
    };
    let recorder: Recorder | undefined;
    if (o.record) {
      const rec = o.record as RecordOptions;
      if (typeof rec.path !== "string" || !rec.path) throw new ReactorError("ERR_INVALID_OPTION", `wasm-reactor: option 'record' needs { path: string, maxBytes?: number }, got ${JSON.stringify(o.record)}`);
      if (rec.maxBytes !== undefined && (!Number.isInteger(rec.maxBytes) || rec.maxBytes < 1024)) throw new ReactorError("ERR_INVALID_OPTION", `wasm-reactor: record.maxBytes must be an integer of at least 1024, got ${String(rec.maxBytes)}`);
      recorder = new Recorder(await import("node:fs"), rec, log);
      hooks = recorder.wrapHooks(hooks);
    }
    const core = await Core.create(o.build as Build, caps, config, hooks).catch((err) => { host.close(); recorder?.close(); throw err; });
    if (recorder) {
      recorder.attach(core, { coreHash: await coreHash(await coreBytes(o.build as Build)), build: o.build, caps, config, host: kind, createdAt: new Date().toISOString() });
    }
    if (o.prefaultPool) {
      // One write per page: the kernel backs the whole pool now rather than on first use.
      const u8 = core.u8, end = core.regions.chunkDataOff + o.chunkSize * o.poolChunks;
      for (let p = core.regions.chunkDataOff; p < end; p += 4096) u8[p] = 0;
    }
    host.attach(core);
    const r = new Reactor(o, host, core, log, clock ? () => clock.nowMs() : () => performance.now() - t0 + 1);
    r.recorder = recorder;
    r.limits = o.fdLimit ? { fdLimit: o.fdLimit, source: `option fdLimit ${o.fdLimit} (host: ${limits.source})` } : limits;
    return r;
  }

  // ── listen / connect ──────────────────────────────────────────────────────────────────
  listen(opts: ListenOptions, handlers: Handlers): Listener {
    this.assertOpen("listen");
    checkHandlers(handlers);
    const port = opts.port ?? 0;
    if (!Number.isInteger(port) || port < 0 || port > 65535) throw new ReactorError("ERR_INVALID_OPTION", `wasm-reactor: listen port must be an integer from 0 to 65535, got ${String(port)}`);
    const backlog = opts.backlog ?? 4096;
    if (!Number.isInteger(backlog) || backlog < 1 || backlog > 65535) throw new ReactorError("ERR_INVALID_OPTION", `wasm-reactor: listen backlog must be an integer from 1 to 65535, got ${String(backlog)}`);
    const host = opts.host ?? "127.0.0.1";
    const { fd, address } = this.host.listen({ host, port, backlog, reusePort: opts.reusePort === true });
    const slot = this.core.exports.listenerOpen(fd);
    if (slot < 0) {
      // The core did not take the descriptor over: it is ours to close, now.
      this.host.closeDescriptor?.(fd);
      const [code, msg] = R_MESSAGES[slot] ?? ["ERR_LISTEN", `error ${slot}`];
      throw new ReactorError(code, `wasm-reactor: cannot listen on ${host}:${address.port}: ${msg}`);
    }
    this.slotHandlers[slot] = this.addHandlers(handlers);
    this.handlerGen[slot] = this.core.exports.genOf(slot);
    const l = new Listener(this, new Connection(this, slot, this.core.exports.genOf(slot)), address);
    this.listenersBySlot.set(slot, l);
    this.poke();
    return l;
  }

  connect(opts: ConnectOptions, handlers: Handlers): Connection {
    this.assertOpen("connect");
    checkHandlers(handlers);
    if (!opts || !Number.isInteger(opts.port) || opts.port < 1 || opts.port > 65535) throw new ReactorError("ERR_INVALID_OPTION", `wasm-reactor: connect port must be an integer from 1 to 65535, got ${String(opts?.port)}`);
    const target: ConnectSpec = { host: opts.host ?? "127.0.0.1", port: opts.port };
    if (opts.localAddress !== undefined) target.localAddress = opts.localAddress;
    this.host.checkConnect?.(target);
    const slot = this.core.exports.connectOpen();
    if (slot < 0) {
      const [code, msg] = R_MESSAGES[slot] ?? ["ERR_SOCKET", `error ${slot}`];
      throw new ReactorError(code, `wasm-reactor: cannot connect to ${opts.host ?? "127.0.0.1"}:${opts.port}: ${msg}`);
    }
    const gen = this.core.exports.genOf(slot);
    this.host.prepareConnect(slot, gen, target);
    this.slotHandlers[slot] = this.addHandlers(handlers);
    this.handlerGen[slot] = gen;
    this.poke();
    return new Connection(this, slot, gen);
  }

  // ── timers on the core's wheel (virtual time in the simulator) ────────────────────────
  setTimeout(fn: () => void, ms: number): TimerHandle {
    this.assertOpen("setTimeout");
    if (typeof fn !== "function") throw new ReactorError("ERR_INVALID_OPTION", `wasm-reactor: setTimeout needs a function, got ${typeof fn}`);
    if (!Number.isInteger(ms) || ms < 0 || ms > 0x7fffffff) throw new ReactorError("ERR_INVALID_OPTION", `wasm-reactor: setTimeout delay must be an integer number of ms from 0 to ${0x7fffffff}, got ${String(ms)}`);
    const id = this.freeTimerIds.pop();
    if (id === undefined) throw new ReactorError("ERR_TIMERS", `wasm-reactor: all ${this.options.timers} app timers are armed (raise the 'timers' option)`);
    this.timerFns[id] = fn;
    const seq = this.timerSeqNext++;
    this.timerSeq[id] = seq;
    this.core.exports.timerArm(id, ms);
    this.poke();
    return { id, seq };
  }

  clearTimeout(t: TimerHandle | undefined): void {
    if (!t || this.timerFns[t.id] === undefined || this.timerSeq[t.id] !== t.seq) return; // fired or cleared already: the id may be someone else's now
    this.timerFns[t.id] = undefined;
    // Cancelled in the wheel: the id is free now. Already expired (its note waits in the ring,
    // behind the callback that clears it): the note frees the id and calls nothing.
    if (this.core.exports.timerCancel(t.id) === 1) this.freeTimerIds.push(t.id);
  }

  // ── metrics ───────────────────────────────────────────────────────────────────────────
  metrics(): MetricsSnapshot {
    let host: Record<string, number> | undefined;
    if (this.host.hostMetrics) {
      // Costly gauges (kernel queue depths: two ioctls a socket) are sampled at most once a
      // second, however often metrics() is read (a runUntil predicate may read it every turn).
      const now = performance.now();
      const sample = now - this.queuesSampledAt >= 1000;
      if (sample) this.queuesSampledAt = now;
      host = this.host.hostMetrics(sample);
    }
    return metricsSnapshot(this.core, this.overflowBytes(), host);
  }
  prometheus(): string { return prometheusText(this.metrics()); }

  // ── driving ───────────────────────────────────────────────────────────────────────────
  /**
   * One turn: ingest the last poll's events and due timers, call handlers, flush commands
   * into submissions, and let the host execute them. Returns the ms the host may wait.
   */
  turn(): number {
    const e = this.core.exports;
    if (this.dead) throw this.dead;
    this.inTurn = true;
    try {
      e.ingest();
      this.dispatch();
      this.drainOverflow();
      e.flush();
      this.dispatch();
    } catch (err) {
      // A trap inside the core (a failed assertion) leaves its memory mid-update: the reactor
      // is dead from here on, loudly, rather than running on corrupted state.
      if (err instanceof WebAssembly.RuntimeError || /core exited/.test(String((err as Error)?.message))) {
        this.dead = new ReactorError("ERR_CORE_ASSERTION", `wasm-reactor: the core stopped on a failed check and this reactor cannot continue: ${(err as Error).message}`);
        throw this.dead;
      }
      throw err;
    } finally {
      this.inTurn = false;
    }
    this.host.execute();
    if (e.dirtyCount.value > 0) return 0;
    return this.core.nextDeadlineMs();
  }

  /** turn + wait + poll. Returns false when the host says nothing can happen any more (sim). */
  step(maxWaitMs = -1): boolean {
    let d = this.turn();
    if (maxWaitMs >= 0 && (d < 0 || d > maxWaitMs)) d = maxWaitMs;
    const alive = this.host.wait(d);
    if (alive instanceof Promise) throw new ReactorError("ERR_HOST_UNAVAILABLE", "wasm-reactor: step() needs a synchronous host (the simulator); use run() with real hosts");
    this.host.poll();
    return alive;
  }

  /**
   * Simulator: runs turns until `until()` is true (→ true), the network is idle (→ until()), or
   * a limit is reached (→ false). maxMs counts virtual time.
   */
  runUntil(until: () => boolean, limits: { maxTurns?: number; maxMs?: number } = {}): boolean {
    const maxTurns = limits.maxTurns ?? 1_000_000;
    const start = this.nowMs();
    const maxMs = limits.maxMs ?? Infinity;
    for (let t = 0; t < maxTurns; t++) {
      if (until()) return true;
      const left = maxMs - (this.nowMs() - start);
      if (left <= 0) return until();
      // A step, with `until` checked between the turn and the wait: when a handler (or the
      // simulator's execute) made it true, return now rather than after sleeping to the next
      // deadline, or in block mode until more I/O comes.
      let d = this.turn();
      if (until()) return true;
      if (left !== Infinity && (d < 0 || d > left)) d = left;
      const alive = this.host.wait(d);
      if (alive instanceof Promise) throw new ReactorError("ERR_HOST_UNAVAILABLE", "wasm-reactor: runUntil() needs a synchronous host (the simulator, or wait: 'block'); use run() with wait: 'thread'");
      this.host.poll();
      if (!alive && !this.busy()) { this.turn(); return until(); }
    }
    return until();
  }

  /** Simulator: runs for `ms` of virtual time (or until idle). */
  runFor(ms: number): void {
    const end = this.nowMs() + ms;
    this.runUntil(() => this.nowMs() >= end, { maxMs: ms + 1 });
  }

  /** Runs the loop until the reactor closes (any host). Resolves when it has closed. */
  run(): Promise<void> {
    if (!this.running) this.running = this.loop();
    return this.running.then(() => this.closing).then(() => undefined);
  }

  /** Graceful close: stop accepting, let connections flush and end within drainMs, then abort the rest. */
  close(opts: CloseOptions = {}): Promise<CloseReport> {
    if (this.closing) return this.closing;
    const drainMs = opts.drainMs ?? 5000;
    if (!Number.isInteger(drainMs) || drainMs < 0) throw new ReactorError("ERR_INVALID_OPTION", `wasm-reactor: close drainMs must be an integer >= 0, got ${String(drainMs)}`);
    this.closing = this.shutdown(drainMs);
    return this.closing;
  }

  /** Virtual ms in the simulator; on real hosts the core's monotonic clock read now (ms since create, from 1). */
  nowMs(): number { return this.liveMs(); }

  /** Runs the core's full audit; returns 0 or the code of the first broken invariant. */
  checkInvariants(): number { return this.core.exports.checkInvariants(); }

  // ── internals ─────────────────────────────────────────────────────────────────────────
  /** @internal */ command(conn: Connection, r: number, what: string, quietIfGone = false): void {
    if (r >= 0) { this.poke(); return; }
    if (r === -1 && quietIfGone) return; // closing what is already gone is not an error
    const [code, msg] = R_MESSAGES[r] ?? ["ERR_SOCKET", `error ${r}`];
    throw new ReactorError(code, `wasm-reactor: ${what}() on connection ${conn.id}: ${msg}`);
  }

  /** @internal */ write(conn: Connection, data: Uint8Array | string): boolean {
    this.poke();
    const bytes = typeof data === "string" ? encoder.encode(data) : data;
    if (!(bytes instanceof Uint8Array)) throw new ReactorError("ERR_INVALID_OPTION", `wasm-reactor: write() takes a Uint8Array or a string, got ${data === null ? "null" : typeof data}`);
    const core = this.core, e = core.exports, slot = conn.slot, gen = conn.gen;
    if (bytes.length === 0) { this.command(conn, e.queuedBytesOf(slot, gen) >= 0 ? 0 : -1, "write"); return true; }
    // After end() the core still takes the bytes that waited beside a dry pool, but not new ones.
    if (e.genOf(slot) === gen && e.stateOf(slot) === K.ST_CLOSING) this.command(conn, -2, "write");
    const ov = this.overflow.size ? this.overflow.get(slot) : undefined;
    if (ov && ov.gen === gen) { // keep order: behind what already waits
      const check = e.queuedBytesOf(slot, gen);
      if (check < 0) this.command(conn, check, "write");
      ov.parts.push(bytes.slice()); ov.bytes += bytes.length; ov.wantDrain = true;
      return false;
    }
    // Zero copy: bytes lent to the app by a data callback go back out as they are.
    if (bytes.buffer === core.memory.buffer) {
      const rel = bytes.byteOffset - core.regions.chunkDataOff;
      const c = Math.floor(rel / core.chunkSize);
      if (rel >= 0 && c < core.caps.chunkCount && e.chunkState(c) === K.CH_LENT && rel - c * core.chunkSize + bytes.length <= core.chunkSize) {
        const r = e.writeQueue(slot, gen, c, rel - c * core.chunkSize, bytes.length);
        this.command(conn, r, "write");
        return r === 0;
      }
    }
    return this.copyIn(conn, bytes, 0);
  }

  /**
   * Copies bytes[from..] into pool chunks; what does not fit waits in `overflow` (and FIN waits
   * for it). Returns whether the caller may go on writing; a refused write throws, unless
   * `quiet` (draining the overflow inside a turn), which returns false and drops the bytes of a
   * connection that is gone.
   */
  private copyIn(conn: Connection, bytes: Uint8Array, from: number, quiet = false): boolean {
    const core = this.core, e = core.exports, slot = conn.slot, gen = conn.gen;
    const size = core.chunkSize;
    let off = from;
    let r = 0;
    while (off < bytes.length) {
      const t = e.writeTail(slot, gen);
      if (t !== K.NONE) {
        const start = core.chunkMeta(t, "start"), len = core.chunkMeta(t, "len");
        const n = Math.min(size - start - len, bytes.length - off);
        core.u8.set(bytes.subarray(off, off + n), core.chunkDataOffset(t) + start + len);
        r = e.writeExtend(slot, gen, t, n);
        if (r < 0) { if (quiet) return false; this.command(conn, r, "write"); }
        off += n;
        continue;
      }
      const c = e.appAcquire();
      if (c === K.NONE) {
        // The pool is dry: keep the rest beside it, in order, say "wait for drain", and hold
        // the connection's FIN until these bytes are in the queue.
        const check = e.queuedBytesOf(slot, gen);
        if (check < 0) { if (quiet) return false; this.command(conn, check, "write"); }
        this.overflow.set(slot, { gen, parts: [bytes.slice(off)], bytes: bytes.length - off, wantDrain: true });
        e.holdFin(slot, gen, 1);
        return false;
      }
      const n = Math.min(size, bytes.length - off);
      core.u8.set(bytes.subarray(off, off + n), core.chunkDataOffset(c));
      r = e.writeQueue(slot, gen, c, 0, n);
      if (r < 0) { if (quiet) return false; this.command(conn, r, "write"); }
      off += n;
    }
    return r === 0;
  }

  private drainOverflow(): void {
    if (this.overflow.size === 0) return;
    const e = this.core.exports;
    for (const [slot, ov] of [...this.overflow]) { // a snapshot: copyIn may put a slot back
      this.overflow.delete(slot);
      if (e.genOf(slot) !== ov.gen || e.queuedBytesOf(slot, ov.gen) < 0) continue; // gone: its bytes go with it
      const conn = new Connection(this, slot, ov.gen);
      let ok = true;
      while (ov.parts.length) {
        const part = ov.parts.shift()!;
        ov.bytes -= part.length;
        ok = this.copyIn(conn, part, 0, true);
        const again = this.overflow.get(slot);
        if (again) { again.parts.push(...ov.parts); again.bytes += ov.bytes; again.wantDrain = true; break; }
      }
      if (this.overflow.has(slot)) continue;
      e.holdFin(slot, ov.gen, 0); // all of it is queued: a pending end() may send its FIN
      // If the queue is already low, drain is due from us.
      if (ok && ov.wantDrain && e.stateOf(slot) !== K.ST_CLOSING) this.call(slot, ov.gen, "drain");
    }
  }

  /** @internal */ dropOverflow(slot: number): void { this.overflow.delete(slot); }
  /** The app acted outside a turn: a host waiting on another thread must come back for it. */
  private poke(): void { if (!this.inTurn) this.host.wake?.(); }
  /** @internal */ queuedBytes(conn: Connection): number {
    const q = this.core.exports.queuedBytesOf(conn.slot, conn.gen);
    if (q < 0) return 0;
    const ov = this.overflow.get(conn.slot);
    return q + (ov && ov.gen === conn.gen ? ov.bytes : 0);
  }
  private overflowBytes(): number { let n = 0; for (const ov of this.overflow.values()) n += ov.bytes; return n; }
  /** @internal */ remoteAddress(conn: Connection): BoundAddress | undefined {
    if (!conn.live) return undefined;
    return this.host.remoteAddress(this.core.slotField(conn.slot, "fd"));
  }

  private addHandlers(h: Handlers): number {
    let i = this.handlerSets.indexOf(h);
    if (i < 0) {
      if (this.handlerSets.length >= 65535) throw new ReactorError("ERR_INVALID_OPTION", "wasm-reactor: more than 65535 distinct handlers objects: reuse one object per kind of connection");
      i = this.handlerSets.push(h) - 1;
    }
    return i;
  }

  /** Calls the app's handlers for every pending note. */
  private dispatch(): void {
    const core = this.core;
    const u32 = core.u32, u8 = core.u8;
    const cap = core.caps.noteCap;
    const base = core.regions.notesOff;
    const headWord = W_NOTE_HEAD;
    let head = u32[headWord];
    const tail = core.header("noteTail");
    while (head !== tail) {
      const p = base + (head & (cap - 1)) * NoteRec_BYTES;
      const kind = u8[p], err = u32[p >> 2] >>> 16, slot = u32[(p >> 2) + 1], gen = u32[(p >> 2) + 2], a = u32[(p >> 2) + 3];
      head = (head + 1) >>> 0;
      u32[headWord] = head; // before the handler: a throw below must not deliver this note twice
      switch (kind) {
        case K.NT_OPEN:
          if (a !== K.NONE) { this.slotHandlers[slot] = this.slotHandlers[a]; this.handlerGen[slot] = gen; } // accepted: the listener's handlers
          this.call(slot, gen, "open");
          break;
        case K.NT_DATA: this.call(slot, gen, "data", core.chunkView(a)); break;
        case K.NT_END: this.call(slot, gen, "end"); break;
        case K.NT_DRAIN: if (!this.overflow.has(slot)) this.call(slot, gen, "drain"); break;
        case K.NT_TIMEOUT: this.call(slot, gen, "timeout", TIMEOUT_KINDS[a] ?? "idle"); break;
        case K.NT_ERROR: this.call(slot, gen, "error", socketError(err, "socket")); break;
        case K.NT_LISTEN_ERROR: this.call(slot, gen, "error", socketError(err, "accept")); break;
        case K.NT_CLOSE: {
          const info: CloseInfo = { reason: CLOSE_REASONS[a] ?? "error" };
          if (err) { info.errno = err; info.code = errnoName(err); }
          const ov = this.overflow.get(slot);
          if (ov && ov.gen === gen) this.overflow.delete(slot);
          const isListener = this.listenersBySlot.get(slot)?.handle.gen === gen;
          if (!isListener) this.call(slot, gen, "close", info); // a listener's end is not a connection's
          // Forget this occupant, unless the handler already gave the slot to a new one (a reconnect).
          if (this.userData.get(slot)?.gen === gen) this.userData.delete(slot);
          if (this.handlerGen[slot] === gen) { this.slotHandlers[slot] = 0; this.handlerGen[slot] = 0; }
          if (isListener) this.listenersBySlot.delete(slot);
          break;
        }
        case K.NT_TIMER: {
          const fn = this.timerFns[a];
          this.timerFns[a] = undefined;
          this.freeTimerIds.push(a);
          if (fn) { try { fn(); } catch (err) { this.log(`wasm-reactor: a timer callback threw: ${(err as Error)?.stack ?? String(err)}`); } }
          break;
        }
        default: throw new ReactorError("ERR_CORE_ASSERTION", `wasm-reactor: unknown note kind ${kind} from the core`);
      }
    }
  }

  private call(slot: number, gen: number, name: keyof Handlers, arg?: unknown): void {
    if (this.handlerGen[slot] !== gen) return; // a note for an earlier occupant of the slot
    const h = this.handlerSets[this.slotHandlers[slot]];
    const fn = h?.[name] as ((c: Connection, a?: unknown) => void) | undefined;
    if (!fn) return;
    const conn = new Connection(this, slot, gen);
    try {
      fn.call(h, conn, arg);
    } catch (err) {
      // A throwing handler must not take the reactor down with it: report, then close that connection.
      let reported = false;
      if (name !== "error" && h.error) {
        try { h.error.call(h, conn, err instanceof ReactorError ? err : wrapError(err, name)); reported = true; }
        catch (err2) { this.log(`wasm-reactor: the error handler threw while reporting that the ${name} handler threw: ${(err2 as Error)?.stack ?? String(err2)}`); }
      }
      if (!reported) this.log(`wasm-reactor: the ${name} handler threw: ${(err as Error)?.stack ?? String(err)}`);
      if (conn.live && name !== "close") this.core.exports.close(slot, gen, 1);
    }
  }

  private busy(): boolean {
    return this.core.exports.dirtyCount.value > 0 || this.core.header("eventTail") !== this.core.header("eventHead") || this.core.header("noteTail") !== this.core.header("noteHead");
  }

  private assertOpen(what: string): void {
    if (this.closing || this.closed) throw new ReactorError("ERR_CLOSED", `wasm-reactor: ${what}() after the reactor was closed`);
  }

  private async loop(): Promise<void> {
    let turns = 0;
    const blocking = this.host.waitStyle === "block";
    while (!this.closed && !this.closing) {
      let d = this.turn();
      if (this.closing) break; // close() from a handler: shutdown takes over now, not after a wait
      // A blocking wait holds the thread: bound it, so signals and messages get a look in.
      if (blocking && (d < 0 || d > 1000)) d = 1000;
      // Awaited even when a blocking host answers at once: promise continuations the handlers
      // queued run every turn (measured: no cost visible at 200k msgs/s).
      const alive = await this.host.wait(d);
      this.host.poll();
      if (!alive && !this.busy()) await new Promise((r) => setTimeout(r, 1)); // idle sim: let the app act
      // Let other JS run: every 256 turns, and at once when another thread woke us (a message waits).
      // setImmediate where there is one: setTimeout(0) sleeps a whole millisecond in Node.
      // Woken by another thread: a timer turn, because Deno delivers a worker's messages there
      // and not in setImmediate's (measured: one turn against ~1.4 s of them).
      else if (blocking && this.host.woken) await new Promise((r) => setTimeout(r, 0));
      else if (++turns % 256 === 0) await yieldToLoop();
    }
  }

  private async shutdown(drainMs: number): Promise<CloseReport> {
    // run()'s loop stops at its next turn (woken if it waits on another thread); from here on
    // this drives the turns.
    if (this.running) { this.host.wake?.(); await this.running; }
    const t0 = this.nowMs();
    const e = this.core.exports;
    const m = () => this.metrics();
    const before = m().connections;
    e.closeAll(1);
    const live = () => { const s = m(); return s.connections + s.listeners; };
    // Drive turns until everything closed or the drain time is up.
    while (this.nowMs() - t0 < drainMs) {
      const left = drainMs - (this.nowMs() - t0);
      let d = this.turn();
      if (live() === 0) break;
      if (d < 0 || d > left) d = left;
      const alive = await this.host.wait(d);
      this.host.poll();
      if (!alive && !this.busy()) break;
    }
    const stillOpen = m().connections;
    if (live() > 0) e.closeAll(0);
    for (let i = 0; i < 4 && (live() > 0 || this.busy()); i++) { this.turn(); await this.host.wait(0); this.host.poll(); }
    this.turn();
    this.closed = true;
    const s = m();
    this.host.close();
    this.recorder?.close();
    const hostLeaks = this.host.leakedAtClose ?? 0;
    return { graceful: before - stillOpen, aborted: stillOpen, ms: this.nowMs() - t0, leakedDescriptors: Math.max(s.fdsOpen, hostLeaks) };
  }
}

function checkHandlers(h: Handlers): void {
  if (typeof h !== "object" || h === null) throw new ReactorError("ERR_INVALID_OPTION", `wasm-reactor: handlers must be an object with open/data/drain/end/timeout/close/error functions, got ${h === null ? "null" : typeof h}`);
  for (const k of Object.keys(h)) {
    if (!["open", "data", "drain", "end", "timeout", "close", "error"].includes(k)) throw new ReactorError("ERR_INVALID_OPTION", `wasm-reactor: unknown handler '${k}'; handlers are open, data, drain, end, timeout, close, error`);
    if (typeof (h as Record<string, unknown>)[k] !== "function") throw new ReactorError("ERR_INVALID_OPTION", `wasm-reactor: handler '${k}' must be a function, got ${typeof (h as Record<string, unknown>)[k]}`);
  }
}

function wrapError(err: unknown, where: string): ReactorError {
  const e = new ReactorError("ERR_HANDLER", `wasm-reactor: the ${where} handler threw: ${(err as Error)?.message ?? String(err)}`);
  (e as { cause?: unknown }).cause = err;
  return e;
}

const setImmediateFn = (globalThis as { setImmediate?: (fn: () => void) => unknown }).setImmediate;
function yieldToLoop(): Promise<void> {
  return new Promise((r) => { if (setImmediateFn) setImmediateFn(r); else setTimeout(r, 0); });
}

function nextPow2(n: number): number { let p = 1; while (p < n) p *= 2; return p; }

export { ERRNO, ERRNO_OFFSET, HIST_OFFSET };
