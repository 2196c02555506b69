// `wasm-reactor top [URL]`: a live view of a running server, read from its /metrics.json (the
// shape agreed in issue 10, served by `serve --metrics-port` and the mountable endpoint):
//
//   { version: 1, time: <unix ms>, process: { pid, rssBytes, cpuUserUs, cpuSystemUs, uptimeS, runtime },
//     ready: boolean, reactors: [ { index, host, metrics: <reactor.metrics()> } ] }
//
// How it works:
//   1. The URL: a bare port (9464), HOST:PORT, a base URL (http://h:p/ or http://h:p/prefix) or
//      the full .../metrics.json; /metrics becomes /metrics.json. Default
//      http://127.0.0.1:9464/metrics.json (9464: the port OpenTelemetry's Prometheus exporter
//      uses, free of Prometheus's own 9090 and node_exporter's 9100; docs/top.md).
//   2. Every --interval-ms (default 1000) it fetches the document with the runtime's own fetch
//      (Node 18+, Deno and Bun all have it), bounded by a timeout (the interval, at least 1 s).
//      Counters become rates from two successive samples (difference ÷ the server's own time
//      difference, so a late fetch does not inflate a rate); a counter that went down (the
//      server restarted) gives no rate for that sample.
//   3. On a terminal (stdout a TTY, no --once/--count/--json/--plain): the alternate screen,
//      cursor hidden, redrawn in place at each sample and each second (the "last sample" age),
//      never wider than the terminal (80 columns by design); q or Ctrl-C (raw keys), SIGINT,
//      SIGTERM and SIGHUP restore the terminal and exit 0. An unreachable server is said on the
//      second line, with the time since the last good sample; it keeps retrying.
//   4. Anywhere else: one plain line per sample (key=value, exact integers, no escape codes);
//      the first line waits for the second sample so every line has its rates. --json prints the
//      computed view as one JSON object per line instead. An unreachable server prints an
//      "unreachable" line. --once prints one line and exits, --count N prints N; the exit status
//      is then 1 if any line was "unreachable", else 0.
import { fail } from "./common.ts";
import type { MetricsSnapshot, Percentiles } from "../core/metrics.ts";

export const DEFAULT_PORT = 9464;
export const DEFAULT_URL = `http://127.0.0.1:${DEFAULT_PORT}/metrics.json`;
/** Faster than this hammers the server for figures no one can read (and rates get noisy). */
const MIN_INTERVAL_MS = 100;

const TOP_HELP = `wasm-reactor top — a live view of a running server's metrics

Usage: wasm-reactor top [URL] [options]

URL is the server's metrics endpoint (serve --metrics-port): a port (9464), HOST:PORT, a base
URL (http://127.0.0.1:9464) or the full http://HOST:PORT/metrics.json. Default:
${DEFAULT_URL}

Shows per reactor and in total: connections, descriptors used of the budget and their
high-water mark, accepts, closes, messages (reads) and bytes in and out per second, turn
latency p50/p99, timer lateness p99, pool use, queued bytes, errors by errno; the process's
RSS, CPU and readiness. On a terminal the screen refreshes in place (q or Ctrl-C quits);
elsewhere (a pipe, a file) it prints one plain line per sample.

Options:
  --interval-ms N  time between samples (default 1000, at least ${MIN_INTERVAL_MS})
  --once           print one line and exit (waits for two samples: rates need both)
  --count N        print N lines and exit
  --plain          plain lines even on a terminal
  --json           one JSON object per sample (the computed view, per reactor) instead of a line
  -h, --help       this text

Exit status: 0 on q, Ctrl-C, SIGTERM, or after --once/--count when every sample was read; 1
after --once/--count when the server could not be reached for one; 2 for a bad URL or option.
`;

// ── the document ──────────────────────────────────────────────────────────────────────────
export interface ProcessInfo { pid: number; rssBytes: number; cpuUserUs: number; cpuSystemUs: number; uptimeS: number; runtime: string }
export interface ReactorEntry { index: number; host: string; metrics: MetricsSnapshot }
export interface MetricsDoc { version: 1; time: number; process: ProcessInfo; ready: boolean; reactors: ReactorEntry[] }

/** The metrics URL for what the user typed (see the header); throws an Error saying what is wrong. */
export function metricsUrl(arg: string | undefined): string {
  if (arg === undefined) return DEFAULT_URL;
  let s = arg.trim();
  if (s === "") throw new Error("the URL is empty");
  if (/^\d+$/.test(s)) s = `http://127.0.0.1:${s}`;
  else if (/^:\d+$/.test(s)) s = `http://127.0.0.1${s}`;
  else if (!/^[a-z][a-z0-9+.-]*:\/\//i.test(s)) s = `http://${s}`;
  let u: URL;
  try { u = new URL(s); } catch { throw new Error(`${JSON.stringify(arg)} is not a URL (expected a port, HOST:PORT or http://HOST:PORT/metrics.json)`); }
  if (u.protocol !== "http:" && u.protocol !== "https:") throw new Error(`${JSON.stringify(arg)}: only http:// and https:// URLs are read, not ${u.protocol}//`);
  if (!u.hostname) throw new Error(`${JSON.stringify(arg)} names no host`);
  if (u.pathname.endsWith("/metrics")) u.pathname += ".json";
  else if (!u.pathname.endsWith(".json")) u.pathname = u.pathname.replace(/\/?$/, "/metrics.json");
  return u.href;
}

/** Checks a fetched document against the agreed shape; throws an Error naming the first thing wrong. */
export function checkDoc(x: unknown): MetricsDoc {
  const obj = (v: unknown): v is Record<string, unknown> => typeof v === "object" && v !== null && !Array.isArray(v);
  if (!obj(x)) throw new Error("the document is not a JSON object");
  if (x.version !== 1) throw new Error(`the document's version is ${JSON.stringify(x.version)}; this top reads version 1`);
  if (typeof x.time !== "number") throw new Error("the document has no numeric time");
  if (!obj(x.process) || typeof x.process.pid !== "number") throw new Error("the document has no process.pid");
  if (typeof x.ready !== "boolean") throw new Error("the document has no boolean ready");
  if (!Array.isArray(x.reactors)) throw new Error("the document has no reactors array");
  x.reactors.forEach((r, i) => {
    if (!obj(r) || !obj(r.metrics) || typeof r.metrics.connections !== "number") throw new Error(`reactors[${i}] has no metrics with connections`);
  });
  return x as unknown as MetricsDoc;
}

// ── the view: what is shown, computed from two samples ───────────────────────────────────
export interface Row {
  label: string;
  conns: number; fdsOpen: number; fdBudget: number; fdsHighWater: number;
  /** Per second, from the previous sample; undefined on the first sample or after a restart. */
  acceptsPerS?: number; closesPerS?: number; readsPerS?: number; bytesInPerS?: number; bytesOutPerS?: number;
  turnP50Us: number; turnP99Us: number; latenessP99Ms: number;
  poolUsed: number; poolTotal: number;
  /** Bytes waiting to be written: the core's queues and the host's overflow. */
  queuedBytes: number;
  /** Since start, by errno name. */
  errors: Record<string, number>;
}
export interface View {
  url: string; time: number; ready: boolean;
  pid: number; runtime: string; uptimeS: number; rssBytes: number;
  /** CPU time ÷ wall time between the two samples, in percent (over 100 with busy worker threads). */
  cpuPct?: number;
  hosts: string[];
  reactors: Row[];
  total: Row;
}

const n0 = (v: unknown) => (typeof v === "number" && Number.isFinite(v) ? v : 0);
const pct = (p: Percentiles | undefined, k: "p50" | "p99") => n0(p?.[k]);

function rowOf(label: string, m: MetricsSnapshot, prev: MetricsSnapshot | undefined, dtS: number): Row {
  const poolFree = n0(m.poolFree);
  const poolTotal = poolFree + n0(m.poolSupply) + n0(m.poolLent) + n0(m.poolQueued) + n0(m.poolWriting);
  const row: Row = {
    label, conns: n0(m.connections), fdsOpen: n0(m.fdsOpen), fdBudget: n0(m.fdBudget), fdsHighWater: n0(m.fdsHighWater),
    turnP50Us: pct(m.turnUs, "p50"), turnP99Us: pct(m.turnUs, "p99"), latenessP99Ms: pct(m.timerLatenessMs, "p99"),
    poolUsed: poolTotal - poolFree, poolTotal, queuedBytes: n0(m.queuedBytes) + n0(m.overflowBytes),
    errors: { ...(m.errorsByErrno ?? {}) },
  };
  if (prev && dtS > 0) {
    const d = (k: keyof MetricsSnapshot) => n0(m[k]) - n0(prev[k]);
    const counters = [d("accepts"), d("connectsOk"), d("reads"), d("bytesIn"), d("bytesOut")];
    if (counters.every((c) => c >= 0)) { // a counter that went down: the server restarted
      row.acceptsPerS = d("accepts") / dtS;
      // Closes = connections opened (accepted or connected) less the growth in open ones: exact
      // for connections, where the core's fdCloses also counts listeners and failed connects.
      row.closesPerS = Math.max(0, d("accepts") + d("connectsOk") - d("connections")) / dtS;
      row.readsPerS = d("reads") / dtS;
      row.bytesInPerS = d("bytesIn") / dtS;
      row.bytesOutPerS = d("bytesOut") / dtS;
    }
  }
  return row;
}

const sumOpt = (xs: (number | undefined)[]) => (xs.some((x) => x === undefined) ? undefined : xs.reduce<number>((a, b) => a + b!, 0));

/**
 * The total row: sums, except latencies (the worst reactor's: a p99 cannot be summed, and the
 * worst loop is the one an operator looks for). The high-water mark is the sum of each reactor's
 * own, which is at least the process's.
 */
function totalOf(rows: Row[]): Row {
  const sum = (k: keyof Row) => rows.reduce((a, r) => a + (r[k] as number), 0);
  const max = (k: keyof Row) => rows.reduce((a, r) => Math.max(a, r[k] as number), 0);
  const errors: Record<string, number> = {};
  for (const r of rows) for (const [e, c] of Object.entries(r.errors)) errors[e] = (errors[e] ?? 0) + c;
  return {
    label: "all", conns: sum("conns"), fdsOpen: sum("fdsOpen"), fdBudget: sum("fdBudget"), fdsHighWater: sum("fdsHighWater"),
    acceptsPerS: sumOpt(rows.map((r) => r.acceptsPerS)), closesPerS: sumOpt(rows.map((r) => r.closesPerS)), readsPerS: sumOpt(rows.map((r) => r.readsPerS)),
    bytesInPerS: sumOpt(rows.map((r) => r.bytesInPerS)), bytesOutPerS: sumOpt(rows.map((r) => r.bytesOutPerS)),
    turnP50Us: max("turnP50Us"), turnP99Us: max("turnP99Us"), latenessP99Ms: max("latenessP99Ms"),
    poolUsed: sum("poolUsed"), poolTotal: sum("poolTotal"), queuedBytes: sum("queuedBytes"), errors,
  };
}

/** The view of sample `cur`, with rates against `prev` (the sample before, if any). */
export function viewOf(url: string, cur: MetricsDoc, prev?: MetricsDoc): View {
  const dtS = prev ? (cur.time - prev.time) / 1000 : 0;
  const reactors = cur.reactors.map((r) => {
    const before = prev?.reactors.find((p) => p.index === r.index)?.metrics;
    return rowOf(`#${r.index}`, r.metrics, before, dtS);
  });
  const p = cur.process;
  const view: View = {
    url, time: cur.time, ready: cur.ready, pid: p.pid, runtime: String(p.runtime ?? "?"), uptimeS: n0(p.uptimeS), rssBytes: n0(p.rssBytes),
    hosts: [...new Set(cur.reactors.map((r) => String(r.host)))], reactors, total: totalOf(reactors),
  };
  if (prev && dtS > 0) {
    const cpuUs = n0(p.cpuUserUs) + n0(p.cpuSystemUs) - n0(prev.process.cpuUserUs) - n0(prev.process.cpuSystemUs);
    if (cpuUs >= 0 && prev.process.pid === p.pid) view.cpuPct = (cpuUs / (dtS * 1e6)) * 100;
  }
  return view;
}

// ── formatting ────────────────────────────────────────────────────────────────────────────
/** 0.5 (a slow rate), 9,999 then 12.3k, 123k, 1.23M, 12.3M, 123M, 1.23G: at most 6 characters. */
export function short(n: number | undefined): string {
  if (n === undefined || !Number.isFinite(n)) return "-";
  const a = Math.abs(n);
  if (a < 9.95 && !Number.isInteger(n)) return n.toFixed(1); // a slow rate: 0.5/s, not 1
  if (a < 9999.5) return String(Math.round(n)).replace(/\B(?=(\d{3})+(?!\d))/g, ",");
  const [d, u] = a < 1e6 ? [1e3, "k"] : a < 1e9 ? [1e6, "M"] : [1e9, "G"];
  const v = n / d;
  const s = Math.abs(v) < 10 ? v.toFixed(2) : Math.abs(v) < 100 ? v.toFixed(1) : v.toFixed(0);
  return s + u;
}

/** Bytes in binary units, at most 6 characters: 512B, 1.5K, 12.3M, 1.02G. */
export function bytes(n: number | undefined): string {
  if (n === undefined || !Number.isFinite(n)) return "-";
  if (n < 1024) return `${Math.round(n)}B`;
  const units = ["K", "M", "G", "T"];
  let v = n / 1024, i = 0;
  while (v >= 1024 && i < units.length - 1) { v /= 1024; i++; }
  return (v < 10 ? v.toFixed(2) : v < 100 ? v.toFixed(1) : v.toFixed(0)) + units[i];
}

/** h:mm:ss, or Nd hh:mm past a day. */
function uptime(s: number): string {
  const t = Math.floor(s);
  const d = Math.floor(t / 86400), h = Math.floor((t % 86400) / 3600), m = Math.floor((t % 3600) / 60), sec = t % 60;
  const hm = `${String(h).padStart(d ? 2 : 1, "0")}:${String(m).padStart(2, "0")}`;
  return d ? `${d}d ${hm}` : `${hm}:${String(sec).padStart(2, "0")}`;
}

const errorList = (e: Record<string, number>, sep: string, pair: string) =>
  Object.entries(e).sort((a, b) => b[1] - a[1] || a[0].localeCompare(b[0])).map(([k, v]) => `${k}${pair}${v}`).join(sep);

const fit = (s: string, w: number) => (s.length <= w ? s : w <= 1 ? s.slice(0, w) : s.slice(0, w - 1) + "…");
const right = (s: string, w: number) => fit(s, w).padStart(w);
const left = (s: string, w: number) => fit(s, w).padEnd(w);
const poolPct = (r: Row) => (r.poolTotal > 0 ? `${((r.poolUsed / r.poolTotal) * 100).toFixed(r.poolUsed && r.poolUsed < r.poolTotal / 100 ? 2 : 1)}%` : "-");
const hostOf = (u: string) => { try { return new URL(u).host; } catch { return u; } };

/** What the screen's second line says about the connection to the server. */
export interface Reach { error?: string; lastOkAgoMs?: number; intervalMs: number }

/**
 * The full screen, as lines of at most `width - 1` characters (the last column is left empty:
 * writing it makes some terminals wrap) and at most `height` lines. No escape codes.
 */
export function renderScreen(view: View | undefined, reach: Reach, width = 80, height = 24, url = view?.url ?? ""): string[] {
  const w = Math.max(20, width - 1);
  const lines: string[] = [];
  const clock = new Date(view?.time ?? Date.now()).toISOString().slice(11, 19) + " UTC";
  const state = !view ? "" : view.ready ? "ready" : "NOT READY (draining)";
  const title = `wasm-reactor top  ${hostOf(url)}  ${state}`;
  lines.push(title.length + clock.length + 1 < w ? title + clock.padStart(w - title.length) : fit(title, w));
  const ago = reach.lastOkAgoMs === undefined ? "no sample yet" : `last sample ${(reach.lastOkAgoMs / 1000).toFixed(reach.lastOkAgoMs < 10_000 ? 1 : 0)} s ago`;
  if (reach.error) lines.push(fit(`UNREACHABLE: ${reach.error}; ${ago}; retrying every ${reach.intervalMs / 1000} s`, w));
  else if (view) {
    const cpu = view.cpuPct === undefined ? "-" : `${view.cpuPct.toFixed(1)}%`;
    const n = view.reactors.length;
    lines.push(fit(`pid ${view.pid} ${view.runtime}  up ${uptime(view.uptimeS)}  rss ${bytes(view.rssBytes)}  cpu ${cpu}  ${n} reactor${n === 1 ? "" : "s"} (${view.hosts.join(", ")})`, w));
  } else lines.push(fit(`waiting for the first sample from ${url}`, w));
  if (view) {
    // Each table: a header, the reactors (as many as fit), "all". 2 + 2 tables × (header + all + blank) + footer = 9 fixed lines.
    const room = Math.max(1, Math.floor((height - 9) / 2));
    const shown = view.reactors.length <= room ? view.reactors : view.reactors.slice(0, room - 1);
    const more = view.reactors.length - shown.length;
    const rowsFor = (fmtRow: (r: Row) => string) => [
      ...shown.map(fmtRow),
      ...(more ? [fit(`  … ${more} more reactor${more === 1 ? "" : "s"} (--json lists all)`, w)] : []),
      fmtRow(view.total),
    ];
    // Widths: 5 + 8 + 17 + 7 + 9 + 8 + 8 + 8 + 8 = 78 columns.
    lines.push("");
    lines.push(fit(`${left("", 5)}${right("conns", 8)}${right("fds used/budget", 17)}${right("fd hw", 7)}${right("accept/s", 9)}${right("close/s", 8)}${right("msgs/s", 8)}${right("in/s", 8)}${right("out/s", 8)}`, w));
    lines.push(...rowsFor((r) => fit(`${left(` ${r.label}`, 5)}${right(short(r.conns), 8)}${right(`${short(r.fdsOpen)}/${short(r.fdBudget)}`, 17)}${right(short(r.fdsHighWater), 7)}${right(short(r.acceptsPerS), 9)}${right(short(r.closesPerS), 8)}${right(short(r.readsPerS), 8)}${right(bytes(r.bytesInPerS), 8)}${right(bytes(r.bytesOutPerS), 8)}`, w)));
    // Widths: 5 + 9 + 8 + 10 + 7 + 8 + the rest for errors.
    lines.push("");
    lines.push(fit(`${left("", 5)}${right("turn p50", 9)}${right("p99 µs", 8)}${right("late p99", 10)}${right("pool", 7)}${right("queued", 8)}  errors (since start)`, w));
    lines.push(...rowsFor((r) => {
      const head = `${left(` ${r.label}`, 5)}${right(short(r.turnP50Us), 9)}${right(short(r.turnP99Us), 8)}${right(`${short(r.latenessP99Ms)} ms`, 10)}${right(poolPct(r), 7)}${right(bytes(r.queuedBytes), 8)}  `;
      return fit(head + (errorList(r.errors, ", ", " ") || "none"), w);
    }));
  }
  const footer = `every ${reachInterval(reach)}${reach.error || reach.lastOkAgoMs === undefined ? "" : `, ${ago}`}  ·  q quits`;
  while (lines.length < height - 1) lines.push("");
  lines.length = Math.min(lines.length, height - 1);
  lines.push(fit(footer, w));
  return lines;
}
const reachInterval = (r: Reach) => (r.intervalMs % 1000 === 0 ? `${r.intervalMs / 1000} s` : `${r.intervalMs} ms`);

/** One sample as a plain line: ISO time, then key=value pairs with exact integers (rates rounded). */
export function plainLine(view: View): string {
  const t = view.total;
  const int = (v: number | undefined) => (v === undefined ? "-" : String(Math.round(v)));
  return [
    new Date(view.time).toISOString().replace(/\.\d+Z$/, "Z"),
    view.ready ? "ready" : "not-ready",
    `reactors=${view.reactors.length}`,
    `conns=${int(t.conns)}`, `fds=${int(t.fdsOpen)}/${int(t.fdBudget)}`, `fd_hw=${int(t.fdsHighWater)}`,
    `accepts/s=${int(t.acceptsPerS)}`, `closes/s=${int(t.closesPerS)}`, `msgs/s=${int(t.readsPerS)}`,
    `in_bytes/s=${int(t.bytesInPerS)}`, `out_bytes/s=${int(t.bytesOutPerS)}`,
    `turn_p50_us=${int(t.turnP50Us)}`, `turn_p99_us=${int(t.turnP99Us)}`, `late_p99_ms=${int(t.latenessP99Ms)}`,
    `pool=${int(t.poolUsed)}/${int(t.poolTotal)}`, `queued_bytes=${int(t.queuedBytes)}`,
    `rss_bytes=${int(view.rssBytes)}`, `cpu=${view.cpuPct === undefined ? "-" : view.cpuPct.toFixed(1)}%`,
    `errors=${errorList(t.errors, ",", ":") || "none"}`,
    // Last, so scripts reading the fields before it keep working: the reactors' host kinds
    // (epoll, uring, …), as the screen's second line shows them.
    `host=${view.hosts.join(",") || "-"}`,
  ].join(" ");
}

/** The line printed when a sample could not be read. */
export function unreachableLine(url: string, error: string, lastOkAgoMs: number | undefined, now = Date.now()): string {
  const ago = lastOkAgoMs === undefined ? "no sample yet" : `last sample ${(lastOkAgoMs / 1000).toFixed(1)} s ago`;
  return `${new Date(now).toISOString().replace(/\.\d+Z$/, "Z")} unreachable ${url}: ${error}; ${ago}`;
}

// ── fetching ──────────────────────────────────────────────────────────────────────────────
/** Why a fetch failed, in a few words: the system's error code where the runtime gives one. */
export function describeFetchError(err: unknown, timeoutMs: number): string {
  const e = err as { name?: string; message?: string; code?: string; cause?: { code?: string; message?: string } };
  if (e?.name === "AbortError" || e?.name === "TimeoutError") return `no answer within ${timeoutMs} ms`;
  const code = e?.cause?.code ?? e?.code;
  // Bun names the condition in code (ConnectionRefused); Node in cause.code (ECONNREFUSED);
  // Deno only in the message ("Connection refused (os error 111)").
  if (code && /^[A-Z_]+$|^[A-Z][a-zA-Z]+$/.test(code)) return code === "ConnectionRefused" ? "ECONNREFUSED" : code;
  const msg = e?.cause?.message ?? e?.message ?? String(err);
  if (/connection refused/i.test(msg)) return "ECONNREFUSED";
  return msg.split("\n")[0];
}

/** Deno refuses fetch without --allow-net: a clear line, not a retry loop of refusals. */
const isPermissionError = (err: unknown) => {
  const e = err as { name?: string; message?: string };
  return e?.name === "NotCapable" || e?.name === "PermissionDenied" || /Requires net access/.test(e?.message ?? "");
};

async function fetchDoc(url: string, timeoutMs: number): Promise<MetricsDoc> {
  const ctl = new AbortController();
  const timer = setTimeout(() => ctl.abort(), timeoutMs);
  try {
    const res = await fetch(url, { signal: ctl.signal, headers: { accept: "application/json" } });
    const text = await res.text();
    if (!res.ok) throw new Error(`HTTP ${res.status}${res.statusText ? ` ${res.statusText}` : ""}`);
    let body: unknown;
    try { body = JSON.parse(text); } catch { throw new Error("the answer is not JSON (is this the /metrics.json URL?)"); }
    return checkDoc(body);
  } finally { clearTimeout(timer); }
}

// ── the command ───────────────────────────────────────────────────────────────────────────
interface Args { url: string; intervalMs: number; count?: number; plain: boolean; json: boolean }

function parse(argv: string[]): Args {
  let rawUrl: string | undefined, intervalMs = 1000, count: number | undefined, once = false, plain = false, json = false;
  const num = (i: number, min: number, what: string) => {
    const v = Number(argv[i]);
    if (argv[i] === undefined || !Number.isInteger(v) || v < min) fail(`top: ${argv[i - 1]} must be an integer of at least ${min} (${what}), got ${JSON.stringify(argv[i] ?? "nothing")}`);
    return v;
  };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    if (arg === "-h" || arg === "--help") { process.stdout.write(TOP_HELP); process.exit(0); }
    else if (arg === "--interval-ms") intervalMs = num(++i, MIN_INTERVAL_MS, "milliseconds between samples");
    else if (arg === "--count") count = num(++i, 1, "lines to print");
    else if (arg === "--once") once = true;
    else if (arg === "--plain") plain = true;
    else if (arg === "--json") json = true;
    else if (arg.startsWith("-")) fail(`top: unknown option '${arg}' (see wasm-reactor top --help)`);
    else if (rawUrl === undefined) rawUrl = arg;
    else fail(`top: one URL at a time (got ${rawUrl} and ${arg})`);
  }
  if (once && count !== undefined) fail("top: --once and --count say the same thing twice; give one (--once is --count 1)");
  let url: string;
  try { url = metricsUrl(rawUrl); } catch (err) { fail(`top: ${(err as Error).message}`); }
  return { url, intervalMs, count: once ? 1 : count, plain, json };
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, Math.max(0, ms)));

export async function top(argv: string[]): Promise<void> {
  const a = parse(argv);
  const live = process.stdout.isTTY === true && a.count === undefined && !a.plain && !a.json;
  return live ? liveView(a) : plainLines(a);
}

/** One sample: the document, or why there is none. Permission refusals end the command. */
async function sample(a: Args): Promise<{ doc?: MetricsDoc; error?: string }> {
  const timeoutMs = Math.max(1000, a.intervalMs);
  try { return { doc: await fetchDoc(a.url, timeoutMs) }; }
  catch (err) {
    if (isPermissionError(err)) return fail(`top under Deno needs --allow-net (to fetch ${a.url}): run \`deno run --allow-net ${process.argv[1] ?? "dist/cli.js"} top …\``);
    return { error: describeFetchError(err, timeoutMs) };
  }
}

async function plainLines(a: Args): Promise<void> {
  let prev: MetricsDoc | undefined, lastOkAt: number | undefined, printed = 0, unreachable = 0;
  const out = (line: string) => { process.stdout.write(line + "\n"); printed++; };
  for (;;) {
    const t0 = Date.now();
    const s = await sample(a);
    if (s.doc) {
      // A line needs two samples (rates); a restarted server (new pid) starts over.
      if (prev && prev.process.pid === s.doc.process.pid && s.doc.time > prev.time) {
        const view = viewOf(a.url, s.doc, prev);
        out(a.json ? JSON.stringify(view) : plainLine(view));
      }
      prev = s.doc; lastOkAt = Date.now();
    } else {
      unreachable++;
      out(a.json ? JSON.stringify({ url: a.url, time: Date.now(), unreachable: s.error, lastSampleAgoMs: lastOkAt === undefined ? null : Date.now() - lastOkAt })
        : unreachableLine(a.url, s.error!, lastOkAt === undefined ? undefined : Date.now() - lastOkAt));
    }
    if (a.count !== undefined && printed >= a.count) process.exit(unreachable ? 1 : 0);
    await sleep(a.intervalMs - (Date.now() - t0));
  }
}

const ENTER = "\x1b[?1049h\x1b[?25l"; // alternate screen, cursor hidden
const LEAVE = "\x1b[?25h\x1b[?1049l"; // cursor shown, main screen back (as it was)

async function liveView(a: Args): Promise<void> {
  const stdout = process.stdout;
  const stdin = process.stdin as typeof process.stdin & { setRawMode?: (on: boolean) => unknown };
  let restored = false;
  const restore = () => {
    if (restored) return;
    restored = true;
    try { if (stdin.isTTY && stdin.setRawMode) stdin.setRawMode(false); } catch { /* stdin already gone */ }
    stdout.write(LEAVE);
  };
  const quit = (code = 0) => { restore(); process.exit(code); };
  // Whatever ends the process, the terminal is given back: keys, signals, an error, exit.
  process.on("exit", restore);
  for (const sig of ["SIGINT", "SIGTERM", "SIGHUP"] as const) {
    try { process.on(sig, () => quit(0)); } catch { /* a runtime without this signal */ }
  }
  process.on("uncaughtException", (err) => { restore(); console.error(err); process.exit(1); });
  if (stdin.isTTY && stdin.setRawMode) {
    stdin.setRawMode(true);
    stdin.resume();
    // Raw mode: Ctrl-C arrives as the byte 0x03, not as SIGINT.
    stdin.on("data", (d: Uint8Array | string) => {
      const s = typeof d === "string" ? d : new TextDecoder().decode(d);
      if (/[qQ\x03]/.test(s)) quit(0);
    });
  }
  stdout.write(ENTER);

  let prev: MetricsDoc | undefined, view: View | undefined, lastOkAt: number | undefined, error: string | undefined;
  const draw = () => {
    const reach: Reach = { error, intervalMs: a.intervalMs, lastOkAgoMs: lastOkAt === undefined ? undefined : Date.now() - lastOkAt };
    const lines = renderScreen(view, reach, stdout.columns || 80, stdout.rows || 24, a.url);
    // Home, each line then erase to its end, erase below: no flicker from clearing the screen first.
    stdout.write("\x1b[H" + lines.map((l) => l + "\x1b[K").join("\r\n") + "\x1b[J");
  };
  draw();
  stdout.on("resize", draw);
  // The age of the last sample moves on between samples (and while unreachable).
  setInterval(draw, 1000);
  for (;;) {
    const t0 = Date.now();
    const s = await sample(a);
    if (s.doc) {
      const same = prev && prev.process.pid === s.doc.process.pid && s.doc.time > prev.time;
      view = viewOf(a.url, s.doc, same ? prev : undefined);
      prev = s.doc; lastOkAt = Date.now(); error = undefined;
    } else error = s.error;
    draw();
    await sleep(a.intervalMs - (Date.now() - t0));
  }
}
