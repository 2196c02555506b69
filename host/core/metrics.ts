// Reading the core's metrics region (no calls into the core): counters and gauges, errors by
// errno, and the three log-linear histograms as percentiles; plus Prometheus text.
import type { Core } from "./core.ts";
import { Metrics, K, ERRNO_OFFSET, HIST_OFFSET } from "./layout.ts";
import { ERRNO } from "../errors.ts";

export interface Percentiles { count: number; p50: number; p90: number; p99: number; p999: number; max: number }
export type MetricsSnapshot = { [K in keyof typeof Metrics]: number } & {
  errorsByErrno: Record<string, number>;
  overflowBytes: number;
  turnUs: Percentiles;
  batchSize: Percentiles;
  timerLatenessMs: Percentiles;
  /**
   * The host's own counters, when it has any (the epoll host: native calls, turns, epoll_ctl,
   * read/write syscalls, EMFILE and shed accepts, sampled kernel queue depths).
   * `crossingsPerTurn` is JS→native calls per turn: it must not grow with ready sockets.
   */
  host?: Record<string, number>;
};

/** Lower bound of histogram bucket i (the inverse of histIndex in assembly/metrics.ts). */
export function bucketLow(i: number): number {
  if (i < 8) return i;
  const e = (i >> 3) + 2, sub = i & 7;
  return (8 + sub) * 2 ** (e - 3);
}

/** A copy of one histogram's bucket counts (diff two copies for a window's percentiles). */
export function histogramCounts(core: Core, hist: number): Uint32Array {
  const base = (core.regions.metricsOff + HIST_OFFSET) / 4 + hist * K.HIST_BUCKETS;
  return core.u32.slice(base, base + K.HIST_BUCKETS);
}

function percentiles(core: Core, hist: number): Percentiles {
  const base = (core.regions.metricsOff + HIST_OFFSET) / 4 + hist * K.HIST_BUCKETS;
  return percentilesOf(core.u32.subarray(base, base + K.HIST_BUCKETS));
}

/**
 * Percentiles of a histogram's bucket counts (bucket lower bounds), in two passes over the
 * buckets whatever the number of quantiles. metrics() is typically read once a second, so this
 * runs cold (in the interpreter, not the optimizing compiler) inside a turn: every loop here
 * costs the loop's turn time (issue 8, part 8: a scan per quantile made metrics() ~100 µs).
 */
export function percentilesOf(b: ArrayLike<number>): Percentiles {
  let count = 0, maxI = -1;
  const n = b.length;
  for (let i = 0; i < n; i++) { const c = b[i]; if (c) { count += c; maxI = i; } }
  if (count === 0) return { count, p50: 0, p90: 0, p99: 0, p999: 0, max: 0 };
  const r50 = Math.ceil(0.5 * count), r90 = Math.ceil(0.9 * count), r99 = Math.ceil(0.99 * count), r999 = Math.ceil(0.999 * count);
  let p50 = -1, p90 = -1, p99 = -1, p999 = -1, seen = 0;
  for (let i = 0; i <= maxI; i++) {
    const c = b[i];
    if (!c) continue;
    seen += c;
    if (p50 < 0 && seen >= r50) p50 = i;
    if (p90 < 0 && seen >= r90) p90 = i;
    if (p99 < 0 && seen >= r99) p99 = i;
    if (seen >= r999) { p999 = i; break; }
  }
  return { count, p50: bucketLow(p50), p90: bucketLow(p90), p99: bucketLow(p99), p999: bucketLow(p999), max: bucketLow(maxI) };
}

/** The Metrics fields as (name, f64 index from the region's start), computed once. */
const METRIC_FIELDS: readonly (readonly [string, number])[] = Object.entries(Metrics).map(([name, off]) => [name, off >> 3] as const);

export function metricsSnapshot(core: Core, overflowBytes = 0, host?: Record<string, number>): MetricsSnapshot {
  const f64 = core.f64;
  const base = core.regions.metricsOff;
  const out: Record<string, unknown> = {};
  const b8 = base >> 3;
  for (let i = 0; i < METRIC_FIELDS.length; i++) { const [name, w] = METRIC_FIELDS[i]; out[name] = f64[b8 + w]; }
  const errs: Record<string, number> = {};
  for (let e = 0; e < K.ERRNO_SLOTS; e++) {
    const n = f64[(base + ERRNO_OFFSET + e * 8) >> 3];
    if (n) errs[e === 0 ? "other" : ERRNO[e] ?? `errno${e}`] = n;
  }
  out.errorsByErrno = errs;
  out.overflowBytes = overflowBytes;
  out.turnUs = percentiles(core, K.HIST_TURN_US);
  out.batchSize = percentiles(core, K.HIST_BATCH);
  out.timerLatenessMs = percentiles(core, K.HIST_LATENESS_MS);
  if (host) out.host = host;
  return out as MetricsSnapshot;
}

const GAUGES = new Set(["nowMs", "connections", "listeners", "fdsOpen", "fdsHighWater", "fdBudget", "poolFree", "poolSupply", "poolLent", "poolQueued", "poolWriting", "timersPending", "queuedBytes", "connectsPending"]);
const snake = (s: string) => s.replace(/[A-Z]/g, (c) => "_" + c.toLowerCase());

/** Prometheus text exposition (version 0.0.4). */
export function prometheusText(m: MetricsSnapshot): string {
  const lines: string[] = [];
  for (const name of Object.keys(Metrics)) {
    const v = (m as Record<string, unknown>)[name] as number;
    const gauge = GAUGES.has(name);
    const metric = `wasm_reactor_${snake(name)}${gauge ? "" : "_total"}`;
    lines.push(`# TYPE ${metric} ${gauge ? "gauge" : "counter"}`, `${metric} ${v}`);
  }
  lines.push("# TYPE wasm_reactor_errors_by_errno_total counter");
  for (const [code, n] of Object.entries(m.errorsByErrno)) lines.push(`wasm_reactor_errors_by_errno_total{errno="${code}"} ${n}`);
  lines.push(`# TYPE wasm_reactor_overflow_bytes gauge`, `wasm_reactor_overflow_bytes ${m.overflowBytes}`);
  for (const [name, p] of [["turn_us", m.turnUs], ["batch_size", m.batchSize], ["timer_lateness_ms", m.timerLatenessMs]] as const) {
    lines.push(`# TYPE wasm_reactor_${name} summary`);
    for (const [q, v] of [["0.5", p.p50], ["0.9", p.p90], ["0.99", p.p99], ["0.999", p.p999]] as const) lines.push(`wasm_reactor_${name}{quantile="${q}"} ${v}`);
    lines.push(`wasm_reactor_${name}_count ${p.count}`);
  }
  if (m.host) {
    for (const [name, v] of Object.entries(m.host)) {
      const gauge = /Queue|fdsOpen|PerTurn|queueSockets/.test(name);
      const metric = `wasm_reactor_host_${snake(name)}${gauge ? "" : "_total"}`;
      lines.push(`# TYPE ${metric} ${gauge ? "gauge" : "counter"}`, `${metric} ${v}`);
    }
  }
  return lines.join("\n") + "\n";
}
