// The public API: Reactor.create(options) → listen() / connect() with a handlers object.
//
// A Reactor owns one core (assembly/, in its own shared memory) and one host
// (host/contract/contract.ts). This file is its face; the rooms behind it:
//   wiring.ts      Reactor.create: options → host (registry) → core → attach
//   connection.ts  the API objects (Connection, Listener) and the handler types
//   writes.ts      write(): copy into chunks, zero-copy for lent chunks, overflow beside a dry pool
//   keep.ts        conn.keep(data): a lent chunk kept past its callback (zero-copy accumulation)
//   dispatch.ts    the core's notes → the app's handlers
//   timers.ts      app timers on the core's wheel
//   drive.ts       the turn, and the one loop behind step/runUntil/run/close
import { K, type Core } from "../core/core.ts";
import type { Recorder } from "../trace/trace.ts";
import type { Host, ConnectSpec, HostLimits, ListenSpec } from "../contract/contract.ts";
import type { SimNetwork } from "../backends/sim/sim.ts";
import type { ReactorOptions, ResolvedOptions } from "../options.ts";
import { ReactorError, refusalError } from "../errors.ts";
import { metricsSnapshot, prometheusText, histogramsOf, type MetricsSnapshot } from "../core/metrics.ts";
import { wire, type Wiring } from "./wiring.ts";
import { simulatorOf } from "../backends/registry.ts";
import { Connection, Listener, type Handlers, type ListenOptions, type ConnectOptions, type TimerHandle } from "./connection.ts";
import { WritePath } from "./writes.ts";
import { Dispatch, checkHandlers } from "./dispatch.ts";
import { checkProxyOptions } from "./proxy.ts";
import { AppTimers } from "./timers.ts";
import { KeptChunks } from "./keep.ts";
import { turn, step, runUntil, runLoop, shutdown, type Life } from "./drive.ts";

// The API objects and handler types live in connection.ts; importing them from here works too.
export { Connection, Listener };
export { Kept } from "./keep.ts";
export type { ProxyInfo, ProxyProtocolMode } from "./proxy.ts";
export type { Handlers, CloseInfo, CloseReason, TimeoutKind, ListenOptions, ConnectOptions, TimerHandle, ConnectionState } from "./connection.ts";

export interface CloseOptions { drainMs?: number }
export interface CloseReport { graceful: number; aborted: number; ms: number; leakedDescriptors: number }

export class Reactor {
  readonly options: ResolvedOptions;
  readonly host: Host;
  /** The simulator, when options.host is "sim": tests and apps drive its peers. */
  readonly sim: SimNetwork | undefined;
  /** Where the descriptor budget came from: the host's limit and what it is made of. */
  readonly limits: HostLimits;
  /** The trace being written (option `record`), if any. */
  readonly recorder: Recorder | undefined;
  /** @internal */ readonly core: Core;
  /** @internal */ readonly notes: Dispatch;
  /** @internal */ readonly writes: WritePath;
  /** @internal */ readonly timers: AppTimers;
  /** @internal */ readonly kept: KeptChunks;
  /** @internal */ readonly life: Life = { dead: undefined, inTurn: false, running: undefined, closing: undefined, closed: false };
  private readonly clockMs: () => number;
  private queuesSampledAt = -Infinity;

  private constructor(w: Wiring) {
    this.options = w.options;
    this.host = w.host;
    this.sim = simulatorOf(w.host);
    this.core = w.core;
    this.recorder = w.recorder;
    this.limits = w.limits;
    this.clockMs = w.nowMs;
    this.notes = new Dispatch(this, w.core, w.log);
    this.writes = new WritePath(this);
    this.timers = new AppTimers(w.core, w.options.timers, w.log);
    this.kept = new KeptChunks(w.core, w.options.keepChunksPerConnection, () => this.poke());
  }

  /** Validates the options, builds the core in its shared memory and attaches the host. */
  static async create(options?: ReactorOptions): Promise<Reactor> {
    return new Reactor(await wire(options));
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
    const proxy = checkProxyOptions(opts.proxyProtocol, opts.proxyTimeoutMs);
    if (proxy && this.options.timers < 1) throw new ReactorError("ERR_INVALID_OPTION", "wasm-reactor: listen proxyProtocol needs one app timer for its header deadline: the reactor's 'timers' option is 0");
    const spec: ListenSpec = { host, port, backlog, reusePort: opts.reusePort === true };
    // Socket options (docs/limits.md): 0 or absent leaves the kernel's default.
    for (const [name, min, max, unit] of [["recvBufferBytes", 1024, 1 << 30, "bytes"], ["sendBufferBytes", 1024, 1 << 30, "bytes"], ["deferAcceptS", 0, 3600, "seconds"]] as const) {
      const v = opts[name];
      if (v === undefined || v === 0) continue;
      if (typeof v !== "number" || !Number.isInteger(v) || v < min || v > max) throw new ReactorError("ERR_INVALID_OPTION", `wasm-reactor: listen ${name} must be an integer from ${min} to ${max} (${unit}; 0 or absent: the kernel's default), got ${typeof v === "string" ? JSON.stringify(v) : String(v)}`);
      spec[name] = v;
    }
    const { fd, address } = this.host.listen(spec);
    const slot = this.core.exports.listenerOpen(fd);
    if (slot < 0) {
      // The core did not take the descriptor over: it is ours to close, now.
      this.host.closeDescriptor?.(fd);
      throw refusalError(slot, `cannot listen on ${host}:${address.port}`, "ERR_LISTEN");
    }
    const gen = this.core.exports.genOf(slot);
    this.notes.bind(slot, gen, handlers);
    this.notes.proxy.setListener(slot, proxy);
    const l = new Listener(this, new Connection(this, slot, gen), address);
    this.notes.listeners.set(slot, l);
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
    if (slot < 0) throw refusalError(slot, `cannot connect to ${opts.host ?? "127.0.0.1"}:${opts.port}`);
    const gen = this.core.exports.genOf(slot);
    this.host.prepareConnect(slot, gen, target);
    this.notes.bind(slot, gen, handlers);
    this.poke();
    return new Connection(this, slot, gen);
  }

  // ── timers on the core's wheel (virtual time in the simulator) ────────────────────────
  setTimeout(fn: () => void, ms: number): TimerHandle {
    this.assertOpen("setTimeout");
    const t = this.timers.arm(fn, ms);
    this.poke();
    return t;
  }

  clearTimeout(t: TimerHandle | undefined): void { this.timers.clear(t); }

  // ── metrics ───────────────────────────────────────────────────────────────────────────
  /**
   * A JSON-ready snapshot. Read it from the runtime's own timer (setInterval), between turns, or
   * from another thread through startWorkers().metrics(): read once a second it runs cold, about
   * 100-300 µs, which inside a handler becomes that turn's time (tests/bench/observe.mjs).
   */
  metrics(): MetricsSnapshot {
    return metricsSnapshot(this.core, this.writes.bytes(), this.hostFigures());
  }
  /**
   * @internal The host's own counters (metrics().host) without the core's snapshot: a few
   * µs (one native call). A worker copies them into shared memory once a second with this.
   */
  hostFigures(): Record<string, number> | undefined {
    if (!this.host.hostMetrics) return undefined;
    // Costly gauges (kernel queue depths: two ioctls a socket) are sampled at most once a
    // second, however often metrics() is read (a runUntil predicate may read it every turn).
    const now = performance.now();
    const sample = now - this.queuesSampledAt >= 1000;
    if (sample) this.queuesSampledAt = now;
    return this.host.hostMetrics(sample);
  }
  /** Prometheus text of metrics(), with the histograms as real Prometheus histograms (docs/metrics.md). */
  prometheus(): string { return prometheusText([{ metrics: this.metrics(), histograms: histogramsOf(this.core), kind: this.host.kind }]); }

  // ── driving (drive.ts) ────────────────────────────────────────────────────────────────
  /**
   * One turn: ingest the last poll's events and due timers, call handlers, flush commands
   * into submissions, and let the host execute them. Returns the ms the host may wait.
   */
  turn(): number { return turn(this); }

  /**
   * turn + wait + poll. Returns false when the host says nothing can happen any more (sim).
   * step(), runUntil() and runFor() hold the thread while they wait: they need a host whose wait
   * returns at once (the simulator, or wait: 'block'); with wait: 'thread' they throw
   * ERR_WAIT_MODE at once (use run()).
   */
  step(maxWaitMs = -1): boolean { return step(this, maxWaitMs); }

  /**
   * Runs turns until `until()` is true (→ true), the network is idle (→ until()), or a limit
   * is reached (→ false). maxMs counts the reactor's time (virtual in the simulator).
   */
  runUntil(until: () => boolean, limits: { maxTurns?: number; maxMs?: number } = {}): boolean {
    return runUntil(this, until, limits.maxTurns ?? 1_000_000, limits.maxMs ?? Infinity);
  }

  /** Runs for `ms` of the reactor's time (or until idle). */
  runFor(ms: number): void {
    const end = this.nowMs() + ms;
    runUntil(this, () => this.nowMs() >= end, 1_000_000, ms + 1, "runFor()");
  }

  /** Runs the loop until the reactor closes (any host). Resolves when it has closed. */
  run(): Promise<void> {
    if (!this.life.running) this.life.running = runLoop(this);
    return this.life.running.then(() => this.life.closing).then(() => undefined);
  }

  /** Graceful close: stop accepting, let connections flush and end within drainMs, then abort the rest. */
  close(opts: CloseOptions = {}): Promise<CloseReport> {
    if (this.life.closing) return this.life.closing;
    const drainMs = opts.drainMs ?? 5000;
    if (!Number.isInteger(drainMs) || drainMs < 0) throw new ReactorError("ERR_INVALID_OPTION", `wasm-reactor: close drainMs must be an integer >= 0, got ${String(drainMs)}`);
    this.life.closing = shutdown(this, drainMs);
    return this.life.closing;
  }

  /** Virtual ms in the simulator; on real hosts the core's monotonic clock read now (ms since create, from 1). */
  nowMs(): number { return this.clockMs(); }

  /** Runs the core's full audit; returns 0 or the code of the first broken invariant. */
  checkInvariants(): number { return this.core.exports.checkInvariants(); }

  // ── internals ─────────────────────────────────────────────────────────────────────────
  /** @internal A core command returned r: go on (waking the host if it waits), or throw what it refused. */
  command(conn: Connection, r: number, what: string, quietIfGone = false): void {
    if (r >= 0) { this.poke(); return; }
    if (r === K.R_STALE && quietIfGone) return; // closing what is already gone is not an error
    throw refusalError(r, `${what}() on connection ${conn.id}`);
  }

  /** @internal The app acted outside a turn: a host waiting on another thread must come back for it. */
  poke(): void { if (!this.life.inTurn) this.host.wake?.(); }

  /** @internal A handle for (slot, gen), for a callback. */
  handle(slot: number, gen: number): Connection { return new Connection(this, slot, gen); }

  private assertOpen(what: string): void {
    if (this.life.closing || this.life.closed) throw new ReactorError("ERR_CLOSED", `wasm-reactor: ${what}() after the reactor was closed`);
  }
}
