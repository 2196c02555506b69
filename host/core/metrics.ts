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

// ── Prometheus text exposition (version 0.0.4) ─────────────────────────────────────────────
//
// Every family has # HELP and # TYPE; names carry their unit last (_seconds, _bytes) and
// counters end in _total, as https://prometheus.io/docs/practices/naming/ asks. Several
// reactors (startWorkers) are one family each, one series per reactor (label reactor="i"):
// sum() or max() them in PromQL; a merged series beside them would be counted twice by sum().
//
// The three histograms are real Prometheus histograms built from the core's log-linear
// buckets (8 per power of two; bucketLow above). Exposing all 240 buckets each would be 720
// series a reactor, so the le bounds are every half power of two (1, 2, 4, 8, 12, 16, 24, 32,
// 48, ...; 2 log-linear buckets merged into one) up to a cap per histogram: the ratio between
// two bounds is at most 1.5, close enough for histogram_quantile, and the set never changes
// between scrapes (series that come and go break rate()). The core records whole numbers (µs
// truncated, events, ms), so a bucket [low, next) holds values v <= next - 1: le is exact.
// _sum is not kept by the core: it is approximated as each bucket's count times its midpoint
// (within 6.25% of the true sum for a bucket's values; exact for values below 8); the HELP
// line says so. _count is exact.
//
// Cost: prometheusText runs where the scrape is answered (the endpoint's thread), about a
// thousand short lines; it never runs on a worker's thread. Like metrics(), it runs cold once a
// second, so it is written as plain loops over precomputed tables (no regex, no per-call maps).

/** The core's histograms' bucket counts (copies): what prometheusText needs for _bucket lines. */
export interface Histograms { turnUs: ArrayLike<number>; batchSize: ArrayLike<number>; timerLatenessMs: ArrayLike<number> }

/** Copies of a core's three histograms (3 × 240 u32; cheap). */
export function histogramsOf(core: Core): Histograms {
  return { turnUs: histogramCounts(core, K.HIST_TURN_US), batchSize: histogramCounts(core, K.HIST_BATCH), timerLatenessMs: histogramCounts(core, K.HIST_LATENESS_MS) };
}

/** Several reactors' histograms added bucket by bucket (exact: the buckets are the same everywhere). */
export function mergeHistograms(list: readonly Histograms[]): Histograms {
  const sum = (k: keyof Histograms) => {
    const out = new Float64Array(K.HIST_BUCKETS);
    for (const h of list) { const b = h[k]; for (let i = 0; i < out.length; i++) out[i] += b[i]; }
    return out;
  };
  return { turnUs: sum("turnUs"), batchSize: sum("batchSize"), timerLatenessMs: sum("timerLatenessMs") };
}

/** The process's own figures (host/ops/process.ts reads them on Node, Deno and Bun). */
export interface ProcessFigures { pid: number; rssBytes: number; cpuUserUs: number; cpuSystemUs: number; uptimeS: number; runtime: string; startTimeS?: number }
/** Host-wide kernel counters (Linux /proc/net/netstat TcpExt), when readable. */
export interface KernelFigures { listenOverflows: number; listenDrops: number }

/** One reactor's figures for prometheusText: its snapshot, its histograms, its series' labels. */
export interface PrometheusSource {
  metrics: MetricsSnapshot; histograms?: Histograms; labels?: Record<string, string>;
  /**
   * The reactor's host kind (reactor.host.kind: "epoll", "uring", "kqueue", "portable", "sim"):
   * exported as wasm_reactor_host_info{kind}, and it decides whether the io_uring families apply
   * (URING_FAMILIES). Unknown (undefined): those families appear when their figures are non-zero.
   */
  kind?: string;
}
export interface PrometheusExtra {
  process?: ProcessFigures;
  kernel?: KernelFigures;
  /** Readiness (the endpoint's /readyz): exposed as wasm_reactor_ready 1/0. */
  ready?: boolean;
  /** How long the previous scrape took to build, seconds (the endpoint measures it). */
  scrapeSeconds?: number;
}

type Kind = "counter" | "gauge" | "histogram";
/** Core fields → family: [field, name (without prefix), type, help, extra label]. Fields left out: nowMs (a clock, in JSON only). */
const CORE_FAMILIES: readonly (readonly [keyof typeof Metrics, string, Kind, string, string?])[] = [
  ["connections", "connections", "gauge", "Open connections (accepted and outbound)."],
  ["listeners", "listeners", "gauge", "Listening sockets."],
  ["fdsOpen", "descriptors_open", "gauge", "Descriptors the reactor holds now (connections, listeners)."],
  ["fdsHighWater", "descriptors_high_water", "gauge", "Most descriptors held at once since start (high-water mark)."],
  ["fdBudget", "descriptors_budget", "gauge", "Descriptors the reactor may hold: RLIMIT_NOFILE less the reserve (docs/limits.md)."],
  ["accepts", "accepts_total", "counter", "Connections accepted (churn, with closes: descriptors_closed_total)."],
  ["fdOpens", "descriptors_opened_total", "counter", "Descriptors opened (accepts, connects, listeners)."],
  ["fdCloses", "descriptors_closed_total", "counter", "Descriptors closed."],
  ["acceptErrors", "accept_errors_total", "counter", "accept() calls that failed (by errno: errors_by_errno_total)."],
  ["acceptBackoffs", "accept_backoffs_total", "counter", "Times accepting paused after EMFILE/ENFILE (descriptor exhaustion)."],
  ["admissionPauses", "admission_pauses_total", "counter", "Times accepting paused because connection slots or the descriptor budget were full."],
  ["connectsStarted", "connects_started_total", "counter", "Outbound connects started."],
  ["connectsOk", "connects_ok_total", "counter", "Outbound connects that completed."],
  ["connectsFailed", "connects_failed_total", "counter", "Outbound connects that failed."],
  ["connectsPending", "connects_pending", "gauge", "Outbound connects under way."],
  ["resets", "resets_total", "counter", "Connections reset (RST sent or received)."],
  ["errors", "errors_total", "counter", "Socket errors (by errno: errors_by_errno_total)."],
  ["bytesIn", "received_bytes_total", "counter", "Bytes read from sockets."],
  ["bytesOut", "sent_bytes_total", "counter", "Bytes written to sockets."],
  ["reads", "reads_total", "counter", "Reads that returned data (messages, for an echo)."],
  ["writes", "writes_total", "counter", "Socket writes."],
  ["writesPartial", "writes_partial_total", "counter", "Socket writes the kernel took only part of (its send buffer was full)."],
  ["backpressurePauses", "backpressure_pauses_total", "counter", "Times a connection's reads paused because its write queue passed the high-water mark."],
  ["backpressureResumes", "backpressure_resumes_total", "counter", "Times those reads resumed (queue down to the low-water mark)."],
  ["poolPauses", "pool_pauses_total", "counter", "Times reads paused because the buffer pool ran low (pool exhaustion)."],
  ["poolAcquireFails", "pool_acquire_failures_total", "counter", "Times a chunk was wanted and the pool had none."],
  ["poolPaused", "pool_paused", "gauge", "1 while reads and accepts are paused for the buffer pool (free chunks fell to poolReserveChunks; they resume at twice it), else 0. Summed over reactors: how many are paused."],
  ["timersPending", "timers_pending", "gauge", "Timers armed on the core's wheel."],
  ["timersArmed", "timers_armed_total", "counter", "Timers armed."],
  ["timersFired", "timers_fired_total", "counter", "Timers fired."],
  ["timersCarried", "timers_carried_total", "counter", "Timers moved down the wheel's levels."],
  ["turns", "turns_total", "counter", "Loop turns."],
  ["inTurn", "turn_in_progress", "gauge", "1 while a loop turn runs (from the core's ingest to the turn's end: the app's callbacks for the turn's events and timers, its close handlers included), 0 while the reactor waits. 1 with turns_total unchanged since an earlier scrape: one turn ran all that time (a handler stuck)."],
  ["eventsIn", "events_total", "counter", "Host events the core ingested."],
  ["notesOut", "notes_total", "counter", "Notes (callbacks) the core emitted to the app."],
  ["submissions", "submissions_total", "counter", "Commands the core submitted to the host."],
  ["staleEvents", "stale_events_total", "counter", "Events for connections already gone (dropped)."],
  ["proxyHeaders", "proxy_headers_total", "counter", "PROXY protocol headers accepted, LOCAL ones included (docs/load-balancers.md)."],
  ["proxyHeaderErrors", "proxy_header_errors_total", "counter", "Connections reset for their PROXY header: malformed, too long, cut by a FIN, or late."],
  ["proxyHeaderTimeouts", "proxy_header_timeouts_total", "counter", "Of those, the late ones (proxyTimeoutMs, or the idle or handshake timeout first)."],
];
/** Timeouts by kind: one family, label kind. */
const TIMEOUTS: readonly (readonly [keyof typeof Metrics, string])[] = [["idleTimeouts", "idle"], ["connectTimeouts", "connect"], ["handshakeTimeouts", "handshake"], ["writeStallTimeouts", "write_stall"], ["lingerTimeouts", "linger"]];
/** Pool chunks by state: one family, label state. */
const POOL: readonly (readonly [keyof typeof Metrics, string])[] = [["poolFree", "free"], ["poolSupply", "supply"], ["poolLent", "lent"], ["poolQueued", "queued"], ["poolWriting", "writing"]];
/**
 * A core field none of the tables above names (one added to the layout later) is still exposed,
 * as a counter named after it, so that nothing the core counts is ever left out of /metrics
 * (tests/net/metrics.test.ts checks every field). nowMs is left out on purpose (a clock), and
 * queuedBytes is write_queued_bytes{where="pool"}.
 */
const NAMED = new Set<string>([...CORE_FAMILIES.map((f) => f[0]), ...TIMEOUTS.map((f) => f[0]), ...POOL.map((f) => f[0]), "nowMs", "queuedBytes"]);
const UNNAMED: readonly (keyof typeof Metrics)[] = (Object.keys(Metrics) as (keyof typeof Metrics)[]).filter((k) => !NAMED.has(k));

/** The le bounds of one exposed histogram: bucket indexes j (bound: values < bucketLow(j)), every half power of two up to the cap. */
function boundIndexes(capIndex: number): number[] {
  const out = [1, 2, 4, 8];
  for (let j = 12; j <= capIndex; j += 4) out.push(j);
  return out;
}
/** [name, field, unit scale (value → exposed), cap index, help]. */
const HIST_SPECS: readonly (readonly [string, keyof Histograms, number, number[], string])[] = [
  ["turn_duration_seconds", "turnUs", 1e-6, boundIndexes(8 * 22), "Loop turn duration (core's clock, whole µs; le up to 16.8 s)."],
  ["timer_lateness_seconds", "timerLatenessMs", 1e-3, boundIndexes(8 * 15), "How late timers fired past their deadline (whole ms; le up to 65.5 s)."],
  ["batch_events", "batchSize", 1, boundIndexes(8 * 14), "Events ingested per turn (batch size; le up to 16,384)."],
];
/**
 * The le label of every bound, formatted once at load (formatting 135 numbers per scrape was a
 * fifth of prometheusText's cold cost). The core records whole numbers, so a bucket [low, next)
 * holds values v <= next - 1; for the turn time (µs truncated from a real duration) the bound is
 * next µs itself: a real duration below it truncates to at most next - 1.
 */
const HISTS = HIST_SPECS.map(([name, field, scale, bounds, help]) => ({
  name, field, help, bounds,
  les: bounds.map((j) => `le="${+((field === "turnUs" ? bucketLow(j) : bucketLow(j) - 1) * scale).toPrecision(12)}"`),
  scale,
}));
const SUM_NOTE = " _sum approximated from bucket midpoints (the core keeps no sum); _count exact.";
/**
 * The io_uring host's figures (NATIVE_STATS' uring*, host/backends/native.ts), by names with
 * units and their own HELP: what an operator watches on that host. Every native host carries
 * these keys (0 outside io_uring), so they are exported only for a source whose kind is "uring"
 * (or, kind unknown, whose figures are not all 0): an epoll server shows no io_uring series.
 */
const URING_FAMILIES: readonly (readonly [key: string, name: string, kind: Kind, help: string])[] = [
  ["uringSqes", "host_uring_submissions_total", "counter", "io_uring operations the host submitted (submission queue entries: multishot receives armed, polls for a listener's clients and for writability, sends, cancels and closes). Its rate against reads_total: operations per message."],
  ["uringCqes", "host_uring_completions_total", "counter", "io_uring completions the host reaped (a multishot receive completes once per arrival, so one submission can give many)."],
  ["uringEnobufs", "host_uring_recv_no_buffer_total", "counter", "Receives that ended because the kernel's provided-buffer ring was empty (ENOBUFS): the connection is parked, as a starved epoll read is, and its receive re-armed when chunks come back, usually next turn: common under load. With pool_pauses_total growing too, reads wait for the pool."],
  ["uringEnters", "host_uring_enters_total", "counter", "io_uring_enter system calls: one per turn (it submits the turn's operations and waits, together), plus one whenever the submission queue fills within a turn. Its rate against reads_total: the reactor's system calls per message."],
  ["uringBusy", "host_uring_enter_busy_total", "counter", "io_uring_enter calls the kernel refused for now (EAGAIN: no memory for requests; EBUSY: completions overflowing): the submit is retried, a while, then the reactor fails loudly. Above 0 at all: the kernel is short of memory, or the completion queue overflows (host_uring_cq_overflow_turns_total)."],
  ["uringCqOverflows", "host_uring_cq_overflow_turns_total", "counter", "Turns that found the completion queue overflowed: more completions came since the last turn than it holds (16,384); the kernel keeps the rest and hands them over late, none is lost. Often: turns too far apart for the load (a slow handler), or more connections per reactor than one queue serves."],
  ["uringBuffers", "host_uring_buffer_ring_chunks", "gauge", "Pool chunks in the kernel's provided-buffer ring now, waiting for data (a target of 64 that doubles each turn a receive ran out, up to a quarter of the pool). Counted in pool_chunks{state=\"supply\"} too."],
];
const URING_KEYS = new Set(URING_FAMILIES.map(([k]) => k));
const HOST_KNOWN = new Set(["recvQueueBytes", "sendQueueBytes", "recvQueueMax", "sendQueueMax", "queueSockets", ...URING_KEYS]);
/** camelCase → snake_case, remembered (the host's ~35 names would be a regex each per scrape). */
const snakeNames = new Map<string, string>();
const snake = (s: string) => { let v = snakeNames.get(s); if (v === undefined) { v = s.replace(/[A-Z]/g, (c) => "_" + c.toLowerCase()); snakeNames.set(s, v); } return v; };
const num = (v: number) => (Number.isFinite(v) ? String(v) : v > 0 ? "+Inf" : v < 0 ? "-Inf" : "NaN");
const esc = (v: string) => v.replace(/\\/g, "\\\\").replace(/\n/g, "\\n").replace(/"/g, '\\"');
function labelText(base: string, extra?: string): string {
  const body = extra ? (base ? `${base},${extra}` : extra) : base;
  return body ? `{${body}}` : "";
}

/**
 * Prometheus text (0.0.4) of one reactor (a snapshot), or of several (sources, each with labels,
 * e.g. { reactor: "0" }); `extra` adds the process, the kernel's accept-queue counters and
 * readiness. Histograms come from `histograms` (histogramsOf(core)); a snapshot alone has only
 * percentiles, so without them the three histograms are left out.
 */
export function prometheusText(m: MetricsSnapshot | readonly PrometheusSource[], extra: PrometheusExtra = {}): string {
  const sources: readonly PrometheusSource[] = Array.isArray(m) ? m : [{ metrics: m as MetricsSnapshot }];
  const out: string[] = [];
  const family = (name: string, kind: Kind, help: string) => { out.push(`# HELP wasm_reactor_${name} ${help}`, `# TYPE wasm_reactor_${name} ${kind}`); };
  const labels = sources.map((s) => {
    let t = "";
    if (s.labels) for (const k in s.labels) t += `${t ? "," : ""}${k}="${esc(s.labels[k])}"`;
    return t;
  });
  for (const [field, name, kind, help] of CORE_FAMILIES) {
    family(name, kind, help);
    for (let i = 0; i < sources.length; i++) out.push(`wasm_reactor_${name}${labelText(labels[i])} ${num((sources[i].metrics as unknown as Record<string, number>)[field])}`);
  }
  for (const field of UNNAMED) {
    const name = `${snake(field)}_total`;
    family(name, "counter", `The core's ${field} (metrics().${field}).`);
    for (let i = 0; i < sources.length; i++) out.push(`wasm_reactor_${name}${labelText(labels[i])} ${num(sources[i].metrics[field])}`);
  }
  family("timeouts_total", "counter", "Connections closed by a timeout, by kind.");
  for (let i = 0; i < sources.length; i++) for (const [field, kind] of TIMEOUTS) out.push(`wasm_reactor_timeouts_total${labelText(labels[i], `kind="${kind}"`)} ${num(sources[i].metrics[field])}`);
  family("pool_chunks", "gauge", "Buffer pool chunks by state (free: unused; supply: handed to the host for reads; lent: in a data callback or kept; queued/writing: write queues). Pool use: 1 - free / sum.");
  for (let i = 0; i < sources.length; i++) for (const [field, state] of POOL) out.push(`wasm_reactor_pool_chunks${labelText(labels[i], `state="${state}"`)} ${num(sources[i].metrics[field])}`);
  family("write_queued_bytes", "gauge", "Bytes queued for writing in this process: where=pool (in pool chunks), where=overflow (beside a dry pool).");
  for (let i = 0; i < sources.length; i++) {
    out.push(`wasm_reactor_write_queued_bytes${labelText(labels[i], 'where="pool"')} ${num(sources[i].metrics.queuedBytes)}`);
    out.push(`wasm_reactor_write_queued_bytes${labelText(labels[i], 'where="overflow"')} ${num(sources[i].metrics.overflowBytes)}`);
  }
  family("errors_by_errno_total", "counter", "Socket and accept errors by errno name.");
  for (let i = 0; i < sources.length; i++) {
    const errs = sources[i].metrics.errorsByErrno;
    for (const code in errs) out.push(`wasm_reactor_errors_by_errno_total${labelText(labels[i], `errno="${esc(code)}"`)} ${num(errs[code])}`);
  }
  if (sources.some((s) => s.histograms)) {
    for (const spec of HISTS) {
      family(spec.name, "histogram", spec.help + SUM_NOTE);
      for (let i = 0; i < sources.length; i++) {
        const h = sources[i].histograms;
        if (h) histogramLines(out, `wasm_reactor_${spec.name}`, labels[i], h[spec.field], spec);
      }
    }
  }
  // The kernel's queues for our sockets, sampled off-thread by the native hosts (at most once a second).
  if (sources.some((s) => s.metrics.host && "recvQueueBytes" in s.metrics.host)) {
    family("kernel_queued_bytes", "gauge", "Bytes in the kernel's socket queues of our sockets (queue=recv: not read yet; send: not acknowledged yet), summed over the last sampling sweep (up to 4,096 sockets, round robin, once a second).");
    for (let i = 0; i < sources.length; i++) {
      const h = sources[i].metrics.host;
      if (!h || !("recvQueueBytes" in h)) continue;
      out.push(`wasm_reactor_kernel_queued_bytes${labelText(labels[i], 'queue="recv"')} ${num(h.recvQueueBytes)}`, `wasm_reactor_kernel_queued_bytes${labelText(labels[i], 'queue="send"')} ${num(h.sendQueueBytes)}`);
    }
    family("kernel_queue_max_bytes", "gauge", "The fullest socket queue seen in the last sampling sweep.");
    for (let i = 0; i < sources.length; i++) {
      const h = sources[i].metrics.host;
      if (!h || !("recvQueueMax" in h)) continue;
      out.push(`wasm_reactor_kernel_queue_max_bytes${labelText(labels[i], 'queue="recv"')} ${num(h.recvQueueMax)}`, `wasm_reactor_kernel_queue_max_bytes${labelText(labels[i], 'queue="send"')} ${num(h.sendQueueMax)}`);
    }
    family("kernel_queue_sampled_sockets", "gauge", "Sockets in the last sampling sweep.");
    for (let i = 0; i < sources.length; i++) { const h = sources[i].metrics.host; if (h && "queueSockets" in h) out.push(`wasm_reactor_kernel_queue_sampled_sockets${labelText(labels[i])} ${num(h.queueSockets)}`); }
  }
  // Which host each reactor runs on: one series per reactor, value 1, the kind as a label.
  if (sources.some((s) => s.kind !== undefined)) {
    family("host_info", "gauge", "Always 1: the reactor's host (kind: epoll, uring, kqueue, portable, sim) as a label.");
    for (let i = 0; i < sources.length; i++) { const k = sources[i].kind; if (k !== undefined) out.push(`wasm_reactor_host_info${labelText(labels[i], `kind="${esc(k)}"`)} 1`); }
  }
  // The io_uring host's own figures, by names with units (URING_FAMILIES).
  const uring = sources.map((s) => {
    const h = s.metrics.host;
    if (!h || !("uringSqes" in h)) return false;
    return s.kind === undefined ? URING_FAMILIES.some(([k]) => h[k] !== 0 && h[k] !== undefined) : s.kind === "uring";
  });
  if (uring.some(Boolean)) {
    for (const [key, name, kind, help] of URING_FAMILIES) {
      family(name, kind, help);
      for (let i = 0; i < sources.length; i++) if (uring[i]) out.push(`wasm_reactor_${name}${labelText(labels[i])} ${num(sources[i].metrics.host![key] ?? 0)}`);
    }
  }
  // The host's own counters (native shim, portable, simulator), as they are named there.
  const hostNames: string[] = [];
  for (const s of sources) if (s.metrics.host) for (const k in s.metrics.host) if (!HOST_KNOWN.has(k) && !hostNames.includes(k)) hostNames.push(k);
  for (const k of hostNames) {
    // Gauges: levels (fdsOpen, held), ratios (…PerTurn) and the errno a host kept (sockoptErrno:
    // a code, not a count, so never "_total": rate() of it would be nonsense).
    const gauge = k === "fdsOpen" || k === "held" || k.endsWith("PerTurn") || k.endsWith("Errno");
    const name = `host_${snake(k)}${gauge ? "" : "_total"}`;
    family(name, gauge ? "gauge" : "counter", `The host's own ${gauge ? "gauge" : "counter"} ${k} (host/backends; the native hosts' list is NATIVE_STATS in host/backends/native.ts).`);
    for (let i = 0; i < sources.length; i++) { const h = sources[i].metrics.host; if (h && k in h) out.push(`wasm_reactor_${name}${labelText(labels[i])} ${num(h[k])}`); }
  }
  if (extra.kernel) {
    family("kernel_listen_overflows_total", "counter", "Host-wide (all processes): connections dropped because an accept queue was full (Linux /proc/net/netstat TcpExt ListenOverflows).");
    out.push(`wasm_reactor_kernel_listen_overflows_total ${num(extra.kernel.listenOverflows)}`);
    family("kernel_listen_drops_total", "counter", "Host-wide (all processes): SYNs or connections dropped at listen sockets, overflows included (Linux /proc/net/netstat TcpExt ListenDrops).");
    out.push(`wasm_reactor_kernel_listen_drops_total ${num(extra.kernel.listenDrops)}`);
  }
  if (extra.ready !== undefined) {
    family("ready", "gauge", "1 while the server accepts (/readyz 200), 0 once it drains.");
    out.push(`wasm_reactor_ready ${extra.ready ? 1 : 0}`);
  }
  if (extra.scrapeSeconds !== undefined) {
    family("scrape_build_seconds", "gauge", "How long the previous /metrics answer took to build.");
    out.push(`wasm_reactor_scrape_build_seconds ${num(extra.scrapeSeconds)}`);
  }
  const p = extra.process;
  if (p) {
    const rt = `runtime="${esc(p.runtime)}"`;
    out.push("# HELP process_cpu_seconds_total User and system CPU time of this process.", "# TYPE process_cpu_seconds_total counter", `process_cpu_seconds_total ${num((p.cpuUserUs + p.cpuSystemUs) / 1e6)}`);
    family("process_cpu_seconds_total", "counter", "CPU time of this process by mode (user, system).");
    out.push(`wasm_reactor_process_cpu_seconds_total{mode="user"} ${num(p.cpuUserUs / 1e6)}`, `wasm_reactor_process_cpu_seconds_total{mode="system"} ${num(p.cpuSystemUs / 1e6)}`);
    out.push("# HELP process_resident_memory_bytes Resident set size of this process.", "# TYPE process_resident_memory_bytes gauge", `process_resident_memory_bytes ${num(p.rssBytes)}`);
    if (p.startTimeS !== undefined) out.push("# HELP process_start_time_seconds Start time of the process since the Unix epoch.", "# TYPE process_start_time_seconds gauge", `process_start_time_seconds ${num(p.startTimeS)}`);
    family("info", "gauge", "Always 1: the runtime and process id as labels.");
    out.push(`wasm_reactor_info{${rt},pid="${p.pid}"} 1`);
  }
  return out.join("\n") + "\n";
}

/** One histogram's _bucket (cumulative; the count at bound j is every bucket below j), _sum and _count lines. */
function histogramLines(out: string[], name: string, lbl: string, b: ArrayLike<number>, spec: (typeof HISTS)[number]): void {
  let cum = 0, sum = 0, i = 0;
  const { bounds, les, scale } = spec;
  const prefix = lbl ? `${name}_bucket{${lbl},` : `${name}_bucket{`;
  for (let k = 0; k < bounds.length; k++) {
    const j = bounds[k];
    for (; i < j; i++) { const c = b[i]; if (c) { cum += c; sum += c * (i < 8 ? i : (bucketLow(i) + bucketLow(i + 1)) / 2); } }
    out.push(`${prefix}${les[k]}} ${cum}`);
  }
  for (; i < b.length; i++) { const c = b[i]; if (c) { cum += c; sum += c * (i < 8 ? i : (bucketLow(i) + bucketLow(i + 1)) / 2); } }
  out.push(`${name}_bucket${labelText(lbl, 'le="+Inf"')} ${cum}`, `${name}_sum${labelText(lbl)} ${+(sum * scale).toPrecision(12)}`, `${name}_count${labelText(lbl)} ${cum}`);
}
