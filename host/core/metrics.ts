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

/** Percentiles of a histogram's bucket counts (bucket lower bounds). */
export function percentilesOf(b: ArrayLike<number>): Percentiles {
  let count = 0, maxI = -1;
  for (let i = 0; i < b.length; i++) if (b[i]) { count += b[i]; maxI = i; }
  const at = (q: number) => {
    if (count === 0) return 0;
    const rank = Math.ceil(q * count);
    let seen = 0;
    for (let i = 0; i < b.length; i++) { seen += b[i]; if (seen >= rank) return bucketLow(i); }
    return bucketLow(maxI);
  };
  return { count, p50: at(0.5), p90: at(0.9), p99: at(0.99), p999: at(0.999), max: maxI < 0 ? 0 : bucketLow(maxI) };
}

export function metricsSnapshot(core: Core, overflowBytes = 0, host?: Record<string, number>): MetricsSnapshot {
  const f64 = core.f64;
  const base = core.regions.metricsOff;
  const out: Record<string, unknown> = {};
  for (const [name, off] of Object.entries(Metrics)) out[name] = f64[(base + off) >> 3];
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
