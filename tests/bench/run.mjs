// `npm run bench` runs this after building: every benchmark module, each in its own process.
//
//   node tests/bench/run.mjs [--quick] [--only wheel,memory] [--rounds N] [--strict] [--runtimes bun,deno]
//
//   --quick    small sizes and short windows: a smoke run (< 1 min, half of it net's columns); not figures to quote
//   --only     run only these benchmarks (comma-separated names from BENCHES below)
//   --rounds   repetitions per measurement (default 3; each figure is the median)
//   --strict   exit 1 on a MISS too (by default only an error, a crash or a timeout fails)
//   --runtimes only these runtimes' columns in net (node, bun, deno; C always runs): passed to net.mjs
//
// How it works:
//   1. BENCHES below is the list, in order. Each module is forked with its node flags
//      (`--expose-gc` where it reads memory), gets `--quick`/`--rounds`, and sends back one
//      message: { type: "result", figures, params, extra, notes } or { type: "error" }.
//      Modules call runBench() from lib.mjs, which does that and, run alone
//      (`node --expose-gc tests/bench/wheel.mjs`), prints its own table instead.
//   2. A figure is one comparison measured in one process: ours and its baseline, alternating
//      rounds, medians, ratio = ours ÷ baseline, target, PASS/MISS (lib.mjs, figure()).
//   3. Results go to bench-results/<timestamp>.json, bench-results/latest.json and
//      bench-results/latest.md (git-ignored), an HTML report with plots beside each JSON
//      (report.mjs), and the table is printed. The machine is shared:
//      the load average before and after is recorded next to the figures.
//
// Adding a benchmark: write tests/bench/<name>.mjs around runBench("<name>", async (ctx) => …)
// and add a line to BENCHES. A tests/bench/*.mjs that is neither listed nor a helper gets a
// warning, so a new module cannot be silently left out.
import { fork, execFileSync } from "node:child_process";
import { existsSync, mkdirSync, readFileSync, readdirSync, writeFileSync } from "node:fs";
import { loadavg } from "node:os";
import { fileURLToPath } from "node:url";
import { table, machine, root } from "./lib.mjs";
import { writeReportBeside } from "./report.mjs";

const BENCHES = [
  // Timing wheel vs a JS binary heap and setTimeout: churn and expiry at 1M pending, memory.
  { name: "wheel", file: "wheel.mjs", nodeArgs: ["--expose-gc"], timeoutS: 150 },
  // Bytes per connection: the layout at 1M connections and the RSS init really touches.
  { name: "memory", file: "memory.mjs", nodeArgs: ["--expose-gc"], timeoutS: 60 },
  // Events ingested per second by the core, driven by the simulated host (host/backends/sim/).
  // `optional`: reported as skipped, not failed, when its file is missing.
  { name: "sim", file: "sim.mjs", nodeArgs: ["--expose-gc"], timeoutS: 90, optional: true },
  // What the release core's kept assertions cost (docs/assertions.md): release vs asserts compiled out.
  { name: "asserts", file: "asserts.mjs", nodeArgs: ["--expose-gc"], timeoutS: 180 },
  // Real sockets on loopback: ping-pong, idle RSS, accept storm; ours (native and portable host) on
  // Node, Bun and Deno vs node:net, Bun.listen, Deno.listen, C epoll. ~5 min a round when quiet; its
  // redone windows have a budget of their own (net.mjs, retryBudgetS: 4 min). --quick: every column once, ~30 s.
  // net runs one round unless --rounds is given: each further round adds roundTimeoutS to its timeout.
  { name: "net", file: "net.mjs", timeoutS: 900, roundTimeoutS: 600, quickTimeoutS: 120, passArgs: ["--runtimes"] },
  // Observing must not disturb: turn p99 at 10k and 19.9k idle connections, /metrics scraped
  // over HTTP or metrics() read 1/s vs not observed (2 levels × 4 windows × 10 s × rounds, plus ramps).
  { name: "observe", file: "observe.mjs", timeoutS: 600 },
  // Recording overhead on the epoll echo (1k conns), replay speed, fuzz throughput.
  { name: "trace", file: "trace.mjs", timeoutS: 240 },
];
const HELPERS = new Set(["run.mjs", "lib.mjs", "heap.mjs", "net-runtimes.mjs", "report.mjs"]); // not benchmarks

const here = new URL("./", import.meta.url);
const argv = process.argv.slice(2);
const quick = argv.includes("--quick");
const strict = argv.includes("--strict");
const value = (flag) => { const i = argv.indexOf(flag); return i >= 0 ? argv[i + 1] : undefined; };
const only = value("--only")?.split(",").map((s) => s.trim()).filter(Boolean);
const rounds = value("--rounds");

for (const f of readdirSync(here)) {
  if (f.endsWith(".mjs") && !HELPERS.has(f) && !BENCHES.some((b) => b.file === f)) {
    console.error(`bench: warning: tests/bench/${f} is not listed in BENCHES (tests/bench/run.mjs); not run`);
  }
}
if (only) {
  const unknown = only.filter((n) => !BENCHES.some((b) => b.name === n));
  if (unknown.length) {
    console.error(`bench: unknown benchmark ${unknown.join(", ")}; known: ${BENCHES.map((b) => b.name).join(", ")}`);
    process.exit(2);
  }
}
const selected = BENCHES.filter((b) => !only || only.includes(b.name));

/**
 * The phase line on a terminal (stderr; host/cli/progress.ts, from dist/internal.js): phase n/N,
 * its name, elapsed, and an ETA from the last run's time for each phase (bench-results/latest.json,
 * same --quick; phases it lacks make the ETA "?"), redrawn every second. While it shows, the
 * modules' stderr is piped through it line by line so their log lines do not tear it. Not a
 * terminal, or dist/ not built: the plain "bench: …" lines only, as before.
 */
async function phaseProgress() {
  let Progress;
  if (process.stderr.isTTY) {
    try { ({ Progress } = await import(new URL("dist/internal.js", root).href)); } catch { /* not built: plain lines */ }
  }
  const plain = { active: false, log: (l) => console.error(l), begin() {}, finish() {}, end() {}, pipe: () => undefined };
  if (!Progress) return plain;
  const last = new Map();
  try {
    const prev = JSON.parse(readFileSync(fileURLToPath(new URL("bench-results/latest.json", root)), "utf8"));
    if (prev.quick === quick) for (const b of prev.benches ?? []) if (b.name && b.wallMs > 0 && b.type === "result") last.set(b.name, b.wallMs);
  } catch { /* no earlier run: no ETA */ }
  const p = new Progress({ label: "bench", total: selected.length, showAfterMs: 0 });
  let at = 0, bench, phaseStart = 0, timer;
  const draw = () => {
    const inPhase = performance.now() - phaseStart;
    const rest = selected.slice(at);
    const known = rest.every((b) => last.has(b.name));
    const etaMs = known ? rest.reduce((sum, b, k) => sum + (k === 0 ? Math.max(0, last.get(b.name) - inPhase) : last.get(b.name)), 0) : Infinity;
    p.update(at, { detail: `phase ${at + 1}/${selected.length}: ${bench.name} (${Math.round(inPhase / 1000)} s)`, etaMs, force: true });
  };
  return {
    active: true,
    log: (l) => p.log(l, process.stderr),
    begin(n, b) { at = n; bench = b; phaseStart = performance.now(); draw(); timer = setInterval(draw, 1000); },
    finish() { clearInterval(timer); },
    end() { p.end(); },
    /** A child's stderr, line by line, above the progress line. */
    pipe(stream) {
      let buf = "";
      stream.setEncoding("utf8");
      stream.on("data", (d) => { buf += d; let i; while ((i = buf.indexOf("\n")) >= 0) { p.log(buf.slice(0, i), process.stderr); buf = buf.slice(i + 1); } });
      stream.on("end", () => { if (buf) p.log(buf, process.stderr); });
    },
  };
}

/** Runs one module in a child process; resolves with its message (or an error record). */
function runOne(bench) {
  const file = fileURLToPath(new URL(bench.file, here));
  if (!existsSync(file)) {
    return Promise.resolve(bench.optional && !only?.includes(bench.name)
      ? { type: "skipped", name: bench.name, reason: `tests/bench/${bench.file} not written yet` }
      : { type: "error", name: bench.name, error: `tests/bench/${bench.file} does not exist` });
  }
  const passed = (bench.passArgs ?? []).flatMap((flag) => (value(flag) !== undefined ? [flag, value(flag)] : []));
  const args = [...(quick ? ["--quick"] : []), ...(rounds ? ["--rounds", rounds] : []), ...passed];
  const timeoutS = quick ? (bench.quickTimeoutS ?? Math.min(30, bench.timeoutS))
    : bench.timeoutS + (bench.roundTimeoutS ? Math.max(0, (Number(rounds) || 1) - 1) * bench.roundTimeoutS : 0);
  const t0 = performance.now();
  return new Promise((resolve) => {
    let msg = null;
    const child = fork(file, args, { execArgv: bench.nodeArgs ?? [], stdio: ["ignore", "inherit", phases.active ? "pipe" : "inherit", "ipc"] });
    if (phases.active) phases.pipe(child.stderr);
    const timer = setTimeout(() => {
      msg = { type: "error", name: bench.name, error: `timed out after ${timeoutS} s` };
      child.kill("SIGKILL");
    }, timeoutS * 1000);
    child.on("message", (m) => { if (!msg) msg = m; });
    child.on("exit", (code, signal) => {
      clearTimeout(timer);
      if (!msg) msg = { type: "error", name: bench.name, error: `exited (${signal ?? code}) without a result` };
      msg.wallMs = Math.round(performance.now() - t0);
      resolve(msg);
    });
  });
}

function git() {
  try {
    const commit = execFileSync("git", ["rev-parse", "HEAD"], { cwd: root, encoding: "utf8", stdio: ["ignore", "pipe", "ignore"] }).trim();
    const dirty = execFileSync("git", ["status", "--porcelain"], { cwd: root, encoding: "utf8", stdio: ["ignore", "pipe", "ignore"] }).trim() !== "";
    return { commit, dirty };
  } catch {
    return { commit: null, dirty: null };
  }
}

const startedAt = new Date();
const loadStart = loadavg().map((x) => +x.toFixed(2));
console.error(`bench: ${selected.map((b) => b.name).join(", ")}${quick ? " (quick)" : ""}; load average ${loadStart.join(" ")}`);
const phases = await phaseProgress();
const results = [];
for (const [n, bench] of selected.entries()) {
  phases.log(`bench: ${bench.name} … (phase ${n + 1}/${selected.length})`);
  phases.begin(n, bench);
  const r = await runOne(bench);
  phases.finish();
  results.push(r);
  if (r.type === "error") phases.log(`bench: ${bench.name} FAILED: ${r.error}`);
  else if (r.type === "skipped") phases.log(`bench: ${bench.name} skipped: ${r.reason}`);
  else phases.log(`bench: ${bench.name} done in ${(r.wallMs / 1000).toFixed(1)} s`);
}
phases.end();
const loadEnd = loadavg().map((x) => +x.toFixed(2));
const finishedAt = new Date();

const figures = results.flatMap((r) => (r.type === "result" ? r.figures : []));
const report = {
  format: 1,
  startedAt: startedAt.toISOString(),
  finishedAt: finishedAt.toISOString(),
  durationMs: finishedAt - startedAt,
  command: `node tests/bench/run.mjs ${argv.join(" ")}`.trim(),
  quick,
  git: git(),
  machine: machine(),
  loadavg: { start: loadStart, end: loadEnd },
  benches: results,
  figures,
};

const lines = [
  `# Benchmarks${quick ? " (quick: reduced sizes, smoke run only)" : ""}`,
  "",
  `${report.startedAt} · \`${report.command}\` · ${report.machine.cpu}, ${report.machine.cores} cores · Node ${report.machine.node} · ` +
    `commit ${report.git.commit?.slice(0, 10) ?? "?"}${report.git.dirty ? " (dirty)" : ""} · load average ${loadStart[0]} → ${loadEnd[0]}`,
  "",
  "ratio = ours ÷ baseline, both measured in the same process, medians of alternating rounds.",
  "",
  figures.length ? table(figures) : "(no figures)",
  "",
];
for (const r of results) {
  if (r.type === "result") for (const n of r.notes ?? []) lines.push(`- ${r.name}: ${n}`);
  else if (r.type === "skipped") lines.push(`- ${r.name}: skipped (${r.reason})`);
  else lines.push(`- ${r.name}: ERROR ${r.error.split("\n")[0]}`);
}
const md = lines.join("\n") + "\n";

const outDir = fileURLToPath(new URL("bench-results/", root));
mkdirSync(outDir, { recursive: true });
const stamp = startedAt.toISOString().replace(/[:.]/g, "-");
const json = JSON.stringify(report, null, 2) + "\n";
writeFileSync(`${outDir}${stamp}.json`, json);
writeFileSync(`${outDir}latest.json`, json);
writeFileSync(`${outDir}latest.md`, md);
writeReportBeside(report, [`${outDir}${stamp}.json`, `${outDir}latest.json`]); // the HTML report beside each JSON (tests/bench/report.mjs)
console.log("\n" + md);
console.error(`bench: wrote bench-results/${stamp}.json, latest.json, latest.md (${(report.durationMs / 1000).toFixed(1)} s)`);

const failed = results.some((r) => r.type === "error");
const missed = figures.some((f) => f.result === "MISS");
process.exit(failed || (strict && missed) ? 1 : 0);
