// Shared by the benchmark modules and run.mjs: argument parsing, timing, medians, the figure
// record every module returns, and the table that prints them. Not a benchmark itself.
//
// A figure is one comparison: our value and its baseline's, measured in the same process in
// alternating rounds, the ratio ours ÷ baseline, the target and PASS/MISS against it.
import { readFileSync } from "node:fs";
import { cpus } from "node:os";

export const root = new URL("../../", import.meta.url);

/** `--quick` (small sizes, short windows) and `--rounds N` (default 3). */
export function parseArgs(argv = process.argv.slice(2)) {
  const quick = argv.includes("--quick");
  const i = argv.indexOf("--rounds");
  const rounds = i >= 0 ? Math.max(1, Number(argv[i + 1]) | 0) : 3;
  return { quick, rounds };
}

export const log = (...a) => console.error(...a);
export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

export function median(xs) {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

/**
 * Runs `batch(n)` (which does n operations) until at least `windowMs` have passed; returns
 * operations per second. Batches keep the clock reads out of the measured loop.
 */
export function rate(batch, batchOps, windowMs) {
  let ops = 0;
  const t0 = performance.now();
  let t = t0;
  do {
    batch(batchOps);
    ops += batchOps;
    t = performance.now();
  } while (t - t0 < windowMs);
  return (ops * 1000) / (t - t0);
}

/** Forces a full GC when run with --expose-gc (twice: weak callbacks free more the second time). */
export function fullGc() {
  if (!globalThis.gc) throw new Error("run with node --expose-gc");
  globalThis.gc();
  globalThis.gc();
}

/** A config the core's configure() accepts; the wheel and memory benches never run a turn. */
export const benchConfig = {
  idleTimeoutMs: 0, connectTimeoutMs: 1000, highWaterBytes: 65536, lowWaterBytes: 1024,
  acceptsPerTurn: 8, readsPerConnPerTurn: 4, expiriesPerTurn: 1024, supplyTarget: 8,
  poolReserveChunks: 4, fdLimit: 100, fdReserve: 4, fdHysteresis: 2, acceptBackoffMs: 10,
  acceptBackoffMaxMs: 1000, lingerMs: 100,
};
export const benchHooks = { clockNs: () => 0n, random: (v) => v.fill(7), log: (l) => log("core:", l) };

/** The built host (dist/index.js, and dist/internal.js for Core and the layout): `npm run bench` builds it first. */
export async function loadHost() {
  try {
    return { ...await import(new URL("dist/internal.js", root).href), ...await import(new URL("dist/index.js", root).href) };
  } catch (err) {
    throw new Error(`cannot load dist/index.js: run \`node tools/build.mjs --no-types\` first (${err.message})`);
  }
}

/**
 * One comparison. `better` says which way is good; `target` is one of
 *   { ratioMin: 5 }   ours ÷ baseline ≥ 5 (throughput)
 *   { max: 128 }      ours ≤ 128 (an absolute ceiling, e.g. bytes)
 *   { max: 1000, ratioMax: 2 }  and also ours ÷ baseline ≤ 2 (latency that must not regress)
 *   { ratioMax: 1.25 }  ours ÷ baseline ≤ 1.25 (a cost against the baseline's, no ceiling of its own)
 *   null              informational
 * `ours`/`baseline` are { name, value, samples? }; baseline may be null.
 */
export function figure({ id, title, unit, better = "higher", ours, baseline = null, target = null, note }) {
  const ratio = baseline && baseline.value > 0 ? ours.value / baseline.value : null;
  let result = "info";
  if (target && "ratioMin" in target) result = ratio !== null && ratio >= target.ratioMin ? "PASS" : "MISS";
  else if (target && "max" in target) result = ours.value <= target.max && (!("ratioMax" in target) || (ratio !== null && ratio <= target.ratioMax)) ? "PASS" : "MISS";
  else if (target && "ratioMax" in target) result = ratio !== null && ratio <= target.ratioMax ? "PASS" : "MISS";
  else if (target && "min" in target) result = ours.value >= target.min ? "PASS" : "MISS";
  return { id, title, unit, better, ours, baseline, ratio, target, result, note };
}

export function targetText(t, unit) {
  if (!t) return "—";
  if ("ratioMin" in t) return `≥ ${t.ratioMin}x`;
  if ("max" in t) return `≤ ${fmtValue(t.max, unit)}${"ratioMax" in t ? `, ≤ ${t.ratioMax}x` : ""}`;
  if ("ratioMax" in t) return `≤ ${t.ratioMax}x`;
  if ("min" in t) return `≥ ${fmtValue(t.min, unit)}`;
  return "?";
}

export function fmtValue(v, unit) {
  if (v === null || v === undefined || Number.isNaN(v)) return "—";
  if (unit === "B") return `${v >= 100 ? Math.round(v) : v.toFixed(1)} B`;
  if (unit === "MB") return `${v.toFixed(1)} MB`;
  const a = Math.abs(v);
  const s = a >= 1e9 ? `${(v / 1e9).toFixed(2)}G` : a >= 1e6 ? `${(v / 1e6).toFixed(2)}M` : a >= 1e3 ? `${(v / 1e3).toFixed(0)}k` : v.toFixed(1);
  return `${s} ${unit}`;
}

/** Markdown table, padded so it also reads as plain text in a terminal. */
export function table(figures) {
  const head = ["benchmark", "figure", "ours", "baseline (same run)", "ratio", "target", "result"];
  const rows = figures.map((f) => [
    f.bench ?? "",
    f.title,
    `${fmtValue(f.ours.value, f.unit)} (${f.ours.name})`,
    f.baseline ? `${fmtValue(f.baseline.value, f.unit)} (${f.baseline.name})` : "—",
    f.ratio === null ? "—" : f.ratio >= 10 ? `${f.ratio.toFixed(0)}x` : f.ratio >= 0.1 ? `${f.ratio.toFixed(2)}x` : `${f.ratio.toFixed(3)}x`,
    targetText(f.target, f.unit),
    f.result,
  ]);
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
  const line = (cells) => `| ${cells.map((c, i) => c.padEnd(widths[i])).join(" | ")} |`;
  return [line(head), `| ${widths.map((w) => "-".repeat(w)).join(" | ")} |`, ...rows.map(line)].join("\n");
}

export function machine() {
  const c = cpus();
  return { cpu: c[0]?.model ?? "?", cores: c.length, node: process.version, v8: process.versions.v8 };
}

/**
 * The entry point of every benchmark module. `fn(ctx)` returns { params, figures, notes? }.
 * Under run.mjs (forked, with an IPC channel) the result goes back as one message; run alone
 * (`node --expose-gc tests/bench/wheel.mjs [--quick]`) the module prints its own table.
 */
export async function runBench(name, fn) {
  const ctx = { name, ...parseArgs(), log: (...a) => log(`  ${name}:`, ...a) };
  const t0 = performance.now();
  let msg;
  try {
    const r = await fn(ctx);
    for (const f of r.figures) f.bench = name;
    msg = { type: "result", name, quick: ctx.quick, rounds: ctx.rounds, durationMs: Math.round(performance.now() - t0), ...r };
  } catch (err) {
    msg = { type: "error", name, error: String(err?.stack ?? err) };
  }
  if (process.send) {
    process.send(msg, () => process.exit(0));
    return;
  }
  if (msg.type === "error") { log(msg.error); process.exit(1); }
  console.log(table(msg.figures));
  for (const n of msg.notes ?? []) console.log(`- ${n}`);
}

export function packageVersion() {
  return JSON.parse(readFileSync(new URL("package.json", root), "utf8")).version;
}
