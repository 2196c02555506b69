// Worker mode as a library API: N reactors on N worker threads, each blocking in epoll_wait
// (the fast path: no poller-thread hop), sharing one port through SO_REUSEPORT, while the main
// thread stays free for signals, status and the rest of the app. `wasm-reactor serve` runs on it.
//
//   // app.js: runs in every worker
//   export function setup(reactor, ctx) {
//     const port = ctx.index === 0 ? 8080 : ctx.first.port; // port 0: worker 0 picks, the rest join
//     const l = reactor.listen({ port, reusePort: ctx.workers > 1 }, { data(c, d) { c.write(d); } });
//     return { port: l.port };                                // → group.workers[i].value
//   }
//   // main.js
//   const group = await startWorkers({ module: new URL("./app.js", import.meta.url), workers: 2,
//                                      options: { preset: "echo" }, signals: true });
//   const report = await group.closed;                        // after SIGINT/SIGTERM, or close()
//
// How it works:
//   1. startWorkers() starts each worker on this library's own file (`entry`; by default the
//      file this code was loaded from). The guard at the bottom of this file sees the workerData
//      and runs workerMain() in that thread; nothing else of the entry runs there.
//   2. The worker creates its Reactor from `options` with wait "block" (and, with several workers,
//      its share of the process's descriptor limit), imports `module`, and calls its `setup`
//      export with the reactor and a context. Worker 0 starts first; the others start once it is
//      ready and get what its setup returned as `ctx.first` (e.g. the port that port 0 picked).
//      Then the worker runs its reactor until the group closes it.
//   3. The main thread never calls into a worker's reactor. metrics() reads each core's metrics
//      region from its shared memory (no message, no wake, nothing on the worker's thread);
//      mergedMetrics() adds them up (rules at mergeMetrics below); close() posts "close" and
//      wakes the worker's epoll_wait through the shim's wake handle. The host's own counters
//      (metrics().host: native calls, syscalls, EMFILE, kernel queue gauges) live in the
//      worker's native shim, not in the core: the worker copies them into a small shared
//      buffer of its own (HostFigures below) once a second, from the runtime's timer, so
//      between turns, never inside one; metrics() attaches the last copy as `host`.
//   4. close({ drainMs }): every worker stops accepting, lets connections finish within drainMs,
//      closes the rest, and posts its report (CloseReport, final metrics); the group sums them.
//   5. With `cpus`, worker i pins its own thread (the shim's setAffinity, shims/native/affinity.c)
//      before it creates its reactor, to cpus[i % cpus.length], or with "auto" to the i-th CPU
//      (round robin) of those this process may run on; the CPUs it got are in workers[i].cpus.
//   6. Errors surface: create or setup failing in any worker rejects startWorkers() (the workers
//      already started are closed first) with the worker's error: a ReactorError keeps its code
//      and message, anything else becomes ERR_WORKER naming the worker and the module. A worker
//      that dies later rejects `closed` (unhandled, that ends the process like any uncaught
//      error); the other workers keep serving until close().
//
// Handlers cannot cross threads: each worker is its own isolate with its own heap, and a
// function cannot be posted to it. So the app's code reaches the workers as a module they
// import, and everything else that crosses (options, data, setup's value, ctx.post messages,
// reports) must be structured-cloneable: plain data, no functions (the `log` option becomes
// `onLog`), no class instances. A worker's reactor belongs to that worker alone.
//
// Inside a worker the thread blocks in epoll_wait, so its other JS (setTimeout, promise
// callbacks, message events) runs only when the reactor's loop yields: when it is woken
// (group.post and close wake it), and every 256 turns. Time things in a worker with
// reactor.setTimeout (the core's wheel; it also bounds the wait), not the runtime's timers.
//
// Runs on Node, Deno and Bun (node:worker_threads). resourceLimits are applied by Node (Deno
// and Bun ignore them).
import { Worker, isMainThread, parentPort, workerData } from "node:worker_threads";

/** A worker's V8 heap limits, as node:worker_threads takes them (typed here so that the public types need no @types/node). */
export interface ResourceLimits {
  maxYoungGenerationSizeMb?: number;
  maxOldGenerationSizeMb?: number;
  codeRangeSizeMb?: number;
  stackSizeMb?: number;
}
import { Reactor, type Handlers, type CloseReport } from "./reactor.ts";
import { ReactorError } from "../errors.ts";
import type { ReactorOptions } from "../options.ts";
import type { Core } from "../core/core.ts";
import type { Regions } from "../core/layout.ts";
import { histogramCounts, metricsSnapshot, percentilesOf, type MetricsSnapshot, type Percentiles } from "../core/metrics.ts";
import { K } from "../core/layout.ts";
import { loadNative, type NativeShim } from "../backends/native.ts";
import { raiseFdLimit } from "../backends/native-host.ts";

/** What a worker's setup receives beside its reactor. */
export interface WorkerContext {
  /** 0 .. workers-1. */
  readonly index: number;
  readonly workers: number;
  /** `data` from startWorkers (structured-cloned). */
  readonly data: unknown;
  /** What worker 0's setup returned (undefined in worker 0): e.g. the port port 0 picked. */
  readonly first: unknown;
  /** Sends a structured-cloneable message to the main thread's onMessage. */
  post(message: unknown): void;
  /** Messages from group.post(); the reactor is woken for each. */
  onMessage(fn: (message: unknown) => void): void;
}

/** The module each worker imports exports this (as `setup`, or the name given in `export`). */
export type WorkerSetup = (reactor: Reactor, ctx: WorkerContext) => unknown | Promise<unknown>;

export interface StartWorkersOptions {
  /** The app's module (a file URL, or a string the worker's import() resolves): it exports setup. */
  module: URL | string;
  /** The setup function's export name (default "setup"). */
  export?: string;
  /** Worker threads, one reactor each (default 1; one per core is the usual choice). */
  workers?: number;
  /** Reactor options for every worker (structured-cloneable: no `log`, use onLog). `wait` is always "block". */
  options?: Omit<ReactorOptions, "log" | "wait">;
  /** Passed to every setup as ctx.data. */
  data?: unknown;
  /** Split the descriptor limit evenly between the workers unless options.fdLimit is given (default true). */
  splitFdLimit?: boolean;
  /** Close the group on these signals, with drainMs (true: SIGINT and SIGTERM). Default: none. */
  signals?: boolean | string[];
  /** drainMs for a close caused by a signal (default 5000). */
  drainMs?: number;
  /** ctx.post() messages from the workers. */
  onMessage?(message: unknown, index: number): void;
  /** The reactors' log lines (default: console.error in each worker); index -1: the group's own (e.g. why `cpus` did not pin). */
  onLog?(line: string, index: number): void;
  /** Per-worker V8 limits (Node). Default { maxYoungGenerationSizeMb: 2 }: see LEAN_LIMITS. */
  resourceLimits?: ResourceLimits;
  /** The script a worker runs (default: this library's file). It must import this library and nothing that starts an app. */
  entry?: URL;
  /**
   * Pin each worker's thread to one CPU (default: not pinned; the kernel's scheduler places
   * them). A list: worker i runs on cpus[i % cpus.length]; every CPU must be one this process
   * may run on. "auto": worker i on the i-th of those CPUs, round robin. Linux and FreeBSD,
   * through the native shim; where it cannot load, a list is refused (ERR_HOST_UNAVAILABLE) and
   * "auto" logs one line and goes on unpinned; macOS has no hard affinity: one line, unpinned.
   */
  cpus?: readonly number[] | "auto";
}

export interface WorkerInfo {
  readonly index: number;
  readonly threadId: number;
  /** What this worker's setup returned. */
  readonly value: unknown;
  /** Its descriptor budget (its share of the limit, minus the reserve). */
  readonly fdBudget: number;
  /** Its thread's kernel id (/proc/self/task/<tid> on Linux), where the shim can tell (Linux, FreeBSD). */
  readonly tid?: number;
  /** The CPUs its thread may run on, read back from the kernel after pinning (or the inherited set when not pinned). */
  readonly cpus?: readonly number[];
  /** Its reactor's host kind ("epoll", "uring", "kqueue", "portable", "sim"), as reactor.host.kind says. */
  readonly host: string;
}

export interface WorkerReport extends CloseReport {
  index: number;
  /** Its reactor's metrics at the end (with the host's counters). */
  metrics: MetricsSnapshot;
}

export interface WorkerGroupReport extends CloseReport {
  workers: WorkerReport[];
  /** Every worker's final metrics added up (mergeMetrics' rules), with their host counters summed. */
  metrics: MetricsSnapshot;
}

export interface WorkerGroup {
  readonly workers: readonly WorkerInfo[];
  /**
   * Every worker's metrics, read from its core's shared memory: nothing runs on its thread.
   * `host` (the host's own counters and kernel queue gauges) is the worker's last copy of them,
   * made once a second between its turns (so up to about a second old; see HostFigures).
   */
  metrics(): MetricsSnapshot[];
  /**
   * The group's metrics as one snapshot (same shape, so prometheusText() takes it), read the
   * same way: counters and gauges summed, histograms merged bucket by bucket (see mergeMetrics
   * for what each field means summed, e.g. fdsHighWater); `host` summed from the workers' copies.
   */
  mergedMetrics(): MetricsSnapshot;
  /** Sends a message to one worker's ctx.onMessage, or to all; wakes them. */
  post(message: unknown, index?: number): void;
  /** Drains every worker (drainMs each, in parallel) and resolves with their reports. */
  close(opts?: { drainMs?: number }): Promise<WorkerGroupReport>;
  /** Settles when every worker has ended: with the reports, or rejects if one died. */
  readonly closed: Promise<WorkerGroupReport>;
}

/**
 * Why the default: handles and views made per callback die young, so a 2 MiB nursery
 * (Node's default is 16 MiB per semi-space on 64-bit) keeps a worker's RSS flat under load
 * without costing throughput (docs/benchmarks.md); the old generation is left to the app.
 */
export const LEAN_LIMITS: ResourceLimits = { maxYoungGenerationSizeMb: 2 };

const KEY = "wasm-reactor:worker";

// ── main thread ────────────────────────────────────────────────────────────────────────
type FromWorker =
  | { t: "ready"; value: unknown; wake: unknown; buffer: SharedArrayBuffer; regions: Regions; fdBudget: number; kind: string; figures?: { keys: string[]; buffer: SharedArrayBuffer }; tid?: number; cpus?: number[] }
  | { t: "error"; error: WireError }
  | { t: "closed"; report: CloseReport; metrics: MetricsSnapshot }
  | { t: "message"; message: unknown }
  | { t: "log"; line: string };
interface WireError { name: string; code?: string; message: string; stack?: string; errno?: number; syscall?: string }
interface Init { taken: Int32Array; module: string; export: string; options: ReactorOptions; index: number; workers: number; data: unknown; first: unknown; log: boolean; cpu?: number }

interface Live {
  index: number; worker: Worker; info?: WorkerInfo; wake?: unknown; view?: Core; figures?: HostFigures;
  report?: WorkerReport; exited: Promise<void>; ended: boolean;
  /** Messages sent, and [0]: messages the worker has taken (it counts them in this shared word). */
  sent: number; taken: Int32Array; kicking: boolean;
}

/** Starts the workers; resolves once every setup has returned (see the top of this file). */
export async function startWorkers(o: StartWorkersOptions): Promise<WorkerGroup> {
  const n = o.workers ?? 1;
  if (!Number.isInteger(n) || n < 1 || n > 1024) throw new ReactorError("ERR_INVALID_OPTION", `wasm-reactor: startWorkers workers must be an integer from 1 to 1024, got ${String(o.workers)}`);
  if (!(o.module instanceof URL) && typeof o.module !== "string") throw new ReactorError("ERR_INVALID_OPTION", `wasm-reactor: startWorkers needs module: the URL of the app's module that exports setup(reactor, ctx), got ${typeof o.module}`);
  const options: ReactorOptions = { ...(o.options ?? {}) };
  for (const k of ["log", "wait"] as const) {
    if (k in options) throw new ReactorError("ERR_INVALID_OPTION", `wasm-reactor: startWorkers option '${k}' cannot be given: ${k === "log" ? "a function cannot cross to a worker thread; use onLog" : "workers always wait in epoll_wait ('block')"}`);
  }
  const host = options.host ?? "auto";
  const native = host === "sim" ? undefined : loadNative(); // no shim: say so now, before any thread starts
  const log = (line: string) => { if (o.onLog) o.onLog(line, -1); else console.error(line); };
  // The limit is the process's: raise it before it is split (each worker's own raise then finds nothing to do).
  if (native && options.raiseFdLimit !== false && options.host !== "portable") raiseFdLimit(native, log);
  if (native && n > 1 && o.splitFdLimit !== false && options.fdLimit === undefined) options.fdLimit = Math.floor(native.limits()[0] / n);
  const entry = o.entry ?? new URL(import.meta.url);
  const cpuOf = planCpus(o.cpus, log);
  const base = { module: String(o.module), export: o.export ?? "setup", options, workers: n, data: o.data, log: !!o.onLog };

  const live: Live[] = [];
  let failure: ReactorError | undefined; // a worker died
  let settle!: { resolve(r: WorkerGroupReport): void; reject(e: unknown): void };
  const closed = new Promise<WorkerGroupReport>((resolve, reject) => { settle = { resolve, reject }; });
  let closing: Promise<WorkerGroupReport> | undefined;

  const wake = (w: Live) => { if (native && w.wake !== undefined && !w.ended) native.wake(w.wake as never); };
  // A worker blocked in epoll_wait runs no JS until it is woken, and a message may reach its
  // thread only after the wake was consumed (Deno delivers it a timer turn later): so wake it
  // until it has taken every message sent (it counts them in a shared word).
  const send = (w: Live, m: Msg) => {
    if (w.ended) return;
    w.worker.postMessage(m);
    w.sent++;
    if (w.kicking) return;
    w.kicking = true;
    void (async () => {
      for (let i = 0; Atomics.load(w.taken, 0) < w.sent && !w.ended; i++) { wake(w); await sleep(i < 10 ? 2 : 20); }
      w.kicking = false;
    })();
  };
  const taken = (w: Live) => w.ended || Atomics.load(w.taken, 0) >= w.sent;
  const spawn = (index: number, first: unknown) => new Promise<WorkerInfo>((resolve, reject) => {
    const shared = new Int32Array(new SharedArrayBuffer(4));
    const init: Init = { ...base, taken: shared, index, first, cpu: cpuOf?.(index), options: { ...options, wait: "block", ...recordFor(options, index, n) } as ReactorOptions };
    const worker = new Worker(entry, { workerData: { [KEY]: init }, resourceLimits: o.resourceLimits ?? LEAN_LIMITS });
    let exitedResolve!: () => void;
    const w: Live = { index, worker, sent: 0, taken: shared, kicking: false, ended: false, exited: new Promise((r) => { exitedResolve = r; }) };
    live.push(w);
    worker.on("message", (m: FromWorker) => {
      switch (m.t) {
        case "ready": {
          w.wake = m.wake;
          w.view = coreView(m.buffer, m.regions);
          if (m.figures) w.figures = new HostFigures(m.figures.keys, m.figures.buffer);
          w.info = { index, threadId: worker.threadId, value: m.value, fdBudget: m.fdBudget, host: m.kind, ...(m.tid !== undefined ? { tid: m.tid, cpus: m.cpus } : {}) };
          resolve(w.info);
          break;
        }
        case "error": {
          const e = fromWire(m.error, index, w.info ? undefined : base.module);
          if (!w.info) reject(e);
          else if (!failure) failure = e;
          break;
        }
        case "closed": w.report = { index, ...m.report, metrics: m.metrics }; break;
        case "message": o.onMessage?.(m.message, index); break;
        case "log": o.onLog?.(m.line, index); break;
      }
    });
    worker.on("error", (err) => {
      const e = new ReactorError("ERR_WORKER", `wasm-reactor: worker ${index} failed: ${(err as Error)?.stack ?? String(err)}`);
      reject(e);
      if (w.info && !failure) failure = e;
    });
    worker.on("exit", (code) => {
      w.ended = true;
      exitedResolve();
      if (!w.info) reject(new ReactorError("ERR_WORKER", `wasm-reactor: worker ${index} exited (code ${code}) before its setup returned`));
      else if (!w.report && !failure) failure = new ReactorError("ERR_WORKER", `wasm-reactor: worker ${index} exited (code ${code}) without a report`);
      if (failure && !closing) settle.reject(failure);
      if (live.every((x) => x.ended) && closing === undefined && !failure) settle.reject(new ReactorError("ERR_WORKER", "wasm-reactor: every worker exited without being closed"));
    });
  });

  const close = (opts: { drainMs?: number } = {}): Promise<WorkerGroupReport> => {
    if (closing) return closing;
    const drainMs = opts.drainMs ?? 5000;
    if (!Number.isInteger(drainMs) || drainMs < 0) throw new ReactorError("ERR_INVALID_OPTION", `wasm-reactor: close drainMs must be an integer >= 0, got ${String(drainMs)}`);
    closing = (async () => {
      // Taken, drained, reported, ended; bounded: a worker stuck in the app's own code is stopped.
      const deadline = Date.now() + drainMs + 5000;
      for (const w of live) send(w, { t: "close", drainMs });
      while (!live.every(taken) && Date.now() < deadline) await sleep(5);
      while (live.some((w) => !w.ended && !w.report) && Date.now() < deadline) await sleep(10);
      await Promise.all(live.map(async (w) => {
        if (!w.ended) await Promise.race([w.exited, sleep(1000)]);
        if (!w.ended) await w.worker.terminate();
      }));
      removeSignals();
      const missing = live.filter((w) => !w.report);
      if (missing.length && !failure) failure = new ReactorError("ERR_WORKER", `wasm-reactor: worker ${missing.map((w) => w.index).join(", ")} ended without a report`);
      if (failure) { settle.reject(failure); throw failure; }
      const report = sumReports(live.map((w) => w.report!), live.map((w) => w.view!));
      settle.resolve(report);
      return report;
    })();
    closing.catch(() => {}); // the same failure reaches `closed`
    return closing;
  };

  const sigs = o.signals === true ? ["SIGINT", "SIGTERM"] : Array.isArray(o.signals) ? o.signals : [];
  const onSignal = () => { void close({ drainMs: o.drainMs ?? 5000 }); };
  const removeSignals = () => { for (const s of sigs) process.off(s, onSignal); };

  try {
    const first = await spawn(0, undefined);
    await Promise.all(Array.from({ length: n - 1 }, (_, i) => spawn(i + 1, first.value)));
  } catch (err) {
    closed.catch(() => {});
    await Promise.all(live.map(async (w) => { if (!w.ended) { send(w, { t: "close", drainMs: 0 }); await Promise.race([w.exited, sleep(2000)]); if (!w.ended) await w.worker.terminate(); } }));
    throw err;
  }
  for (const s of sigs) process.on(s, onSignal);
  const group: WorkerGroup = {
    workers: live.map((w) => w.info!),
    metrics: () => live.map((w) => metricsSnapshot(w.view!, 0, w.figures?.read())),
    mergedMetrics: () => mergeMetrics(live.map((w) => w.view!), live.map((w) => metricsSnapshot(w.view!, 0, w.figures?.read()))),
    post(message, index) {
      for (const w of live) if (index === undefined || w.index === index) send(w, { t: "message", message });
    },
    close,
    closed,
  };
  views.set(group, () => live.map((w) => w.view!));
  return group;
}

/** @internal A worker's core as the metrics readers see it: its shared memory, read-only use. */
export function coreView(buffer: SharedArrayBuffer, regions: Regions): Core {
  return { u8: new Uint8Array(buffer), u32: new Uint32Array(buffer), f64: new Float64Array(buffer), regions } as unknown as Core;
}

/**
 * @internal A worker's host counters in shared memory: the worker writes, the main thread
 * reads, neither ever waits for the other. Layout: an Int32 sequence word (odd while a copy is
 * being written), padding, then one float64 per key, in the order the worker posted with
 * "ready" (its host's metrics().host keys, fixed for a host). A seqlock: the reader retries a
 * few times if a copy was under way or finished while it read, and otherwise keeps the last
 * whole copy it saw, so it never blocks and never returns a half-written set.
 */
export class HostFigures {
  static readonly HEADER = 8;
  readonly keys: readonly string[];
  private readonly seq: Int32Array;
  private readonly values: Float64Array;
  private last: Record<string, number> | undefined;
  constructor(keys: readonly string[], buffer: SharedArrayBuffer) {
    this.keys = keys;
    this.seq = new Int32Array(buffer, 0, 1);
    this.values = new Float64Array(buffer, HostFigures.HEADER, keys.length);
  }
  static create(keys: readonly string[]): HostFigures {
    return new HostFigures(keys, new SharedArrayBuffer(HostFigures.HEADER + 8 * keys.length));
  }
  get buffer(): SharedArrayBuffer { return this.seq.buffer as SharedArrayBuffer; }
  /** Worker side: one copy (a key the host no longer gives is written as 0). */
  write(figures: Record<string, number>): void {
    Atomics.add(this.seq, 0, 1);
    for (let i = 0; i < this.keys.length; i++) this.values[i] = figures[this.keys[i]] ?? 0;
    Atomics.add(this.seq, 0, 1);
  }
  /** Main side: the last whole copy, or undefined before the first. */
  read(): Record<string, number> | undefined {
    for (let attempt = 0; attempt < 4; attempt++) {
      const s1 = Atomics.load(this.seq, 0);
      if (s1 === 0) return undefined;
      if (s1 & 1) continue;
      const out: Record<string, number> = {};
      for (let i = 0; i < this.keys.length; i++) out[this.keys[i]] = this.values[i];
      if (Atomics.load(this.seq, 0) === s1) return (this.last = out);
    }
    return this.last;
  }
}

const views = new WeakMap<WorkerGroup, () => Core[]>();
/** @internal Each worker's core as a read-only view, for readers that want more than metrics() (serve's per-second histograms). */
export function workerCores(group: WorkerGroup): Core[] { return views.get(group)?.() ?? []; }

function recordFor(options: ReactorOptions, index: number, n: number): Partial<ReactorOptions> {
  if (!options.record || n === 1) return {};
  return { record: { ...options.record, path: `${options.record.path}.${index}` } };
}

function sumReports(reps: WorkerReport[], cores: Core[]): WorkerGroupReport {
  const out: WorkerGroupReport = { graceful: 0, aborted: 0, ms: 0, leakedDescriptors: 0, workers: reps, metrics: mergeMetrics(cores, reps.map((r) => r.metrics)) };
  for (const r of reps) { out.graceful += r.graceful; out.aborted += r.aborted; out.leakedDescriptors += r.leakedDescriptors; out.ms = Math.max(out.ms, r.ms); }
  return out;
}

/** The core's three histograms, by the snapshot's field name. */
const HISTOGRAMS = [["turnUs", K.HIST_TURN_US], ["batchSize", K.HIST_BATCH], ["timerLatenessMs", K.HIST_LATENESS_MS]] as const;

/**
 * Several reactors' metrics as one snapshot of the same shape (so prometheusText() takes it).
 * `snaps` are their snapshots (default: read now from `cores`); the histograms are always
 * merged from the cores' bucket counts, since percentiles cannot be added. The rules:
 *   - counters (turns, accepts, reads, bytesIn, errorsByErrno, ...): the sum, exact;
 *   - gauges (connections, fdsOpen, fdBudget, pool*, queuedBytes, ...): the sum of each
 *     reactor's value, read one after another (microseconds apart, not one atomic instant);
 *   - fdsHighWater: the sum of each reactor's peak, an upper bound on the group's peak (the
 *     peaks need not have coincided); each reactor's own peak is exact in its snapshot;
 *   - nowMs: the latest of their clocks;
 *   - turnUs, batchSize, timerLatenessMs: percentiles of the merged buckets, as exact as one
 *     reactor's (a bucket's lower bound); `count` is the sum;
 *   - host (counters of the native shim): present only when every snapshot has it; summed,
 *     except the *Max fields (the largest) and crossingsPerTurn (summed calls / summed turns).
 */
export function mergeMetrics(cores: readonly Core[], snaps: readonly MetricsSnapshot[] = cores.map((c) => metricsSnapshot(c))): MetricsSnapshot {
  if (snaps.length === 0) throw new ReactorError("ERR_INVALID_OPTION", "wasm-reactor: mergeMetrics needs at least one reactor's metrics");
  const out: Record<string, unknown> = {};
  for (const key of Object.keys(snaps[0])) {
    const v = (snaps[0] as unknown as Record<string, unknown>)[key];
    if (typeof v === "number") out[key] = snaps.reduce((acc, m) => (key === "nowMs" ? Math.max : add)(acc, (m as unknown as Record<string, number>)[key]), key === "nowMs" ? -Infinity : 0);
  }
  const errs: Record<string, number> = {};
  for (const m of snaps) for (const [e, c] of Object.entries(m.errorsByErrno)) errs[e] = (errs[e] ?? 0) + c;
  out.errorsByErrno = errs;
  for (const [name, hist] of HISTOGRAMS) {
    const sum = new Float64Array(K.HIST_BUCKETS);
    for (const c of cores) histogramCounts(c, hist).forEach((v, i) => { sum[i] += v; });
    out[name] = percentilesOf(sum) satisfies Percentiles;
  }
  if (snaps.every((m) => m.host)) {
    const host: Record<string, number> = {};
    for (const m of snaps) for (const [k, v] of Object.entries(m.host!)) host[k] = k.endsWith("Max") ? Math.max(host[k] ?? 0, v) : (host[k] ?? 0) + v;
    if ("crossingsPerTurn" in host) host.crossingsPerTurn = host.turns ? Math.round((host.calls / host.turns) * 1000) / 1000 : 0;
    out.host = host;
  }
  return out as MetricsSnapshot;
}
const add = (a: number, b: number) => a + b;

/**
 * Which CPU worker i pins itself to (startWorkers' `cpus`), or undefined: not pinned. Checked
 * here, on the main thread, before any worker starts: the CPUs a worker may use are the ones
 * this thread may use (a new thread inherits its creator's set).
 */
function planCpus(cpus: StartWorkersOptions["cpus"], log: (line: string) => void): ((i: number) => number) | undefined {
  if (cpus === undefined) return undefined;
  const auto = cpus === "auto";
  if (!auto && (!Array.isArray(cpus) || cpus.length === 0 || !cpus.every((c) => Number.isInteger(c) && c >= 0 && c < 1024))) {
    throw new ReactorError("ERR_INVALID_OPTION", `wasm-reactor: startWorkers option 'cpus' must be "auto" or a non-empty list of CPU numbers (integers from 0 to 1023), got ${JSON.stringify(cpus)}`);
  }
  let shim: AffinityShim | undefined, why = "";
  try { shim = loadNative() as AffinityShim; } catch (err) { why = (err as Error).message.replace(/^wasm-reactor: /, ""); }
  if (shim && typeof shim.getAffinity !== "function") { why = "this build of the native shim has no setAffinity (rebuild it with `npm run build`)"; shim = undefined; }
  if (!shim) {
    if (auto) { log(`wasm-reactor: startWorkers cpus "auto": the workers run unpinned: ${why}`); return undefined; }
    throw new ReactorError("ERR_HOST_UNAVAILABLE", `wasm-reactor: startWorkers option 'cpus' needs the native shim to pin threads, and it cannot load: ${why} (drop 'cpus', or use "auto" to go on unpinned)`);
  }
  const mine = shim.getAffinity();
  const platform = (globalThis as { process?: { platform?: string } }).process?.platform ?? "unknown";
  if (!mine) { log(`wasm-reactor: startWorkers cpus: ${platform} has no hard CPU affinity (macOS's affinity tags are only hints); the workers run unpinned`); return undefined; }
  if (auto) return (i) => mine.cpus[i % mine.cpus.length];
  const bad = cpus.filter((c) => !mine.cpus.includes(c));
  if (bad.length) throw new ReactorError("ERR_INVALID_OPTION", `wasm-reactor: startWorkers option 'cpus': CPU ${bad.join(", ")} ${bad.length > 1 ? "are" : "is"} not among those this process may run on (${mine.cpus.join(", ")}); give CPUs from that list, or "auto"`);
  return (i) => cpus[i % cpus.length];
}

/** The shim's affinity exports (shims/native/affinity.c): about the calling thread; null where the OS has no hard affinity. */
interface AffinityShim extends NativeShim {
  getAffinity(): { tid: number; cpus: number[] } | null;
  setAffinity(cpus: number[]): { tid: number; cpus: number[] } | null;
}

/** Worker side: pins this thread when the plan says so, and says which CPUs it may run on. */
function pinThread(init: Init): { tid?: number; cpus?: number[] } {
  let shim: AffinityShim | undefined;
  try { shim = loadNative() as AffinityShim; } catch { /* no shim: only possible unpinned (planCpus checked) */ }
  if (!shim || typeof shim.getAffinity !== "function") return {};
  if (init.cpu === undefined) return shim.getAffinity() ?? {};
  try { return shim.setAffinity([init.cpu]) ?? {}; }
  catch (err) {
    const e = err as { errno?: number; message?: string };
    throw new ReactorError("ERR_INVALID_OPTION", `wasm-reactor: worker ${init.index} cannot pin its thread to CPU ${init.cpu}: ${e.message ?? String(err)} (the CPU went offline, or the process's CPU set changed since start)`, e.errno !== undefined ? { errno: e.errno, syscall: "sched_setaffinity" } : {});
  }
}

/** A worker's error as the main thread throws it; `module` while it was starting (its setup's). */
function fromWire(e: WireError, index: number, module: string | undefined): ReactorError {
  if (e.name === "ReactorError" && e.code) {
    const r = new ReactorError(e.code, e.message, { ...(e.errno !== undefined ? { errno: e.errno } : {}), ...(e.syscall ? { syscall: e.syscall } : {}) });
    (r as { worker?: number }).worker = index;
    return r;
  }
  const what = e.stack ?? `${e.name}: ${e.message}`;
  const r = new ReactorError("ERR_WORKER", module ? `wasm-reactor: worker ${index}: ${what} (in setup from ${module})` : `wasm-reactor: worker ${index} failed: ${what}`);
  (r as { worker?: number }).worker = index;
  return r;
}

function toWire(err: unknown): WireError {
  const e = err as Partial<ReactorError> & Error;
  return { name: e?.name ?? "Error", message: e?.message ?? String(err), stack: e?.stack, code: e?.code, errno: e?.errno, syscall: e?.syscall };
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

// ── inside a worker ────────────────────────────────────────────────────────────────────
async function workerMain(init: Init): Promise<void> {
  const port = parentPort!;
  let reactor: Reactor | undefined;
  let running = false, failed = false;
  const listeners: ((m: unknown) => void)[] = [];
  const pending: Msg[] = [];
  let closing: Promise<void> | undefined;
  let figures: HostFigures | undefined;
  // A failure after start (an app callback threw outside the reactor's handlers, the loop
  // stopped on a core check) closes this reactor at once, so its listener stops taking
  // connections from a port it shares, then reports and ends the thread.
  const fail = (err: unknown) => {
    if (failed) return;
    failed = true;
    port.postMessage({ t: "error", error: toWire(err) });
    void (reactor?.close({ drainMs: 0 }) ?? Promise.resolve()).catch(() => {}).then(endPort);
  };
  const deliver = (m: Msg) => {
    if (m.t === "close") close(m.drainMs ?? 0);
    else for (const fn of listeners) { try { fn(m.message); } catch (err) { fail(err); return; } }
  };
  const close = (drainMs: number) => {
    const r = reactor!;
    closing ??= (async () => {
      const report = await r.close({ drainMs });
      const metrics = r.metrics();
      if (figures && metrics.host) figures.write(metrics.host); // group.metrics() after close: the final figures
      port.postMessage({ t: "closed", report, metrics });
      endPort(); // nothing keeps this thread alive now, unless the app left timers running
    })();
  };
  // Messages can arrive while create and setup run: keep them until the reactor runs.
  port.on("message", (m: Msg) => { Atomics.add(init.taken, 0, 1); if (running) deliver(m); else pending.push(m); });
  const proc = (globalThis as { process?: { on?(ev: string, fn: (e: unknown) => void): void } }).process;
  try {
    const pinned = pinThread(init); // before the reactor: its memory is first touched from the CPU it will run on
    const options: ReactorOptions = { ...init.options };
    if (init.log) options.log = (line) => port.postMessage({ t: "log", line });
    reactor = await Reactor.create(options);
    const mod = (await import(init.module)) as Record<string, unknown>;
    const setup = mod[init.export];
    if (typeof setup !== "function") throw new ReactorError("ERR_WORKER", `wasm-reactor: worker ${init.index}: ${init.module} has no function export '${init.export}' (it exports: ${Object.keys(mod).sort().join(", ") || "nothing"})`);
    const ctx: WorkerContext = {
      index: init.index, workers: init.workers, data: init.data, first: init.first,
      post: (message) => port.postMessage({ t: "message", message }),
      onMessage: (fn) => { listeners.push(fn); },
    };
    const value = await (setup as WorkerSetup)(reactor, ctx);
    const core = reactor.core;
    const first = reactor.hostFigures();
    if (first) {
      figures = HostFigures.create(Object.keys(first));
      figures.write(first);
    }
    port.postMessage({ t: "ready", value, wake: (reactor.host as { wakeHandle?: unknown }).wakeHandle, buffer: core.memory.buffer as unknown as SharedArrayBuffer, regions: core.regions, fdBudget: reactor.metrics().fdBudget, kind: reactor.host.kind, ...(figures ? { figures: { keys: figures.keys, buffer: figures.buffer } } : {}), ...pinned });
  } catch (err) {
    port.postMessage({ t: "error", error: toWire(err) });
    await reactor?.close({ drainMs: 0 }).catch(() => {});
    endPort();
    return;
  }
  proc?.on?.("uncaughtException", fail);
  proc?.on?.("unhandledRejection", fail);
  running = true;
  for (const m of pending.splice(0)) deliver(m);
  // The host's counters into shared memory once a second (HostFigures). The runtime's timer,
  // not reactor.setTimeout: it takes none of the app's timers, and it runs only when the drive
  // yields to the runtime's loop (at least every 250 ms idle, every 50 ms or 256 turns busy:
  // drive.ts), i.e. between turns, so it cannot lengthen one. A copy is one native call and
  // ~30 stores (tests/bench/worker-figures.mjs measures it).
  const r = reactor;
  const copy = figures ? setInterval(() => { if (!r.life.closed) figures!.write(r.hostFigures()!); }, 1000) : undefined;
  try {
    await reactor.run();
    await closing;
  } catch (err) {
    fail(err);
  } finally {
    if (copy !== undefined) clearInterval(copy);
  }
}

type Msg = { t: string; drainMs?: number; message?: unknown };

/** Lets the worker end: Node and Bun close the port; Deno's worker_threads port has no close(), its worker global does. */
function endPort(): void {
  const port = parentPort as unknown as { close?: () => void } | null;
  if (typeof port?.close === "function") { port.close(); return; }
  (globalThis as { close?: () => void }).close?.();
}

/**
 * Before a worker serves, `messages` 64-byte echoes through a private listener of its reactor
 * (on a free loopback port, so workers sharing a port never see them), so the JIT has compiled
 * the hot path, and V8's compiler threads have their memory, before the first real client: no
 * warm-up stalls under the first load. `handlers` must answer each message with its bytes
 * (the app's own echo, to warm its code too; default a plain echo). Needs wait "block" (a
 * worker's reactor): it drives turns with runUntil.
 */
export function warmUp(r: Reactor, messages: number, handlers: Handlers = { data(c, d) { if (c.writable) c.write(d); } }): void {
  if (messages <= 0) return;
  const listeners = r.metrics().listeners;
  const l = r.listen({ host: "127.0.0.1", port: 0 }, handlers);
  const conns = Math.min(64, messages);
  const ping = new Uint8Array(64).fill(0x77);
  let done = 0, closed = 0;
  const client: Handlers = {
    open(c) { c.data = 0; c.write(ping); },
    data(c, d) {
      let got = (c.data as number) + d.length;
      while (got >= 64) {
        got -= 64;
        if (++done < messages) c.write(ping);
        else { c.end(); break; } // enough: every connection ends at its next echo
      }
      c.data = got;
    },
    close() { closed++; },
  };
  for (let i = 0; i < conns; i++) r.connect({ port: l.port }, client);
  r.runUntil(() => closed === conns, { maxMs: 5_000 });
  l.close();
  r.runUntil(() => r.metrics().listeners <= listeners, { maxMs: 1_000 });
}

if (!isMainThread && (workerData as Record<string, unknown> | null)?.[KEY]) {
  const init = (workerData as Record<string, Init>)[KEY];
  // After this module (and the entry that bundles it) finished evaluating: setup's module may import the entry.
  void Promise.resolve().then(() => workerMain(init));
}
