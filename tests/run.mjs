// The test runner behind `npm test` (which builds first): runs every bundled uvu suite,
// build/tests/<dir>__<name>.mjs (from tests/<dir>/<name>.test.ts), under Node, Deno and Bun.
//
//   node tests/run.mjs [--runtime node|deno|bun]... [pattern]...
//
//   --runtime   only these runtimes (repeatable; default all three)
//   pattern     only suites whose name contains it: "core/wheel", "wheel", "core/" (a suite's
//               name is its source path under tests/ without .test.ts; a path such as
//               tests/core/wheel.test.ts or build/tests/core__wheel.mjs works too)
//   -v          print every suite's output, not only the output of failing ones
//
// Opting a suite out of a runtime: make the first line of its source
//     // runtimes: node, deno
// esbuild drops ordinary comments from the bundle, so the runner reads the line from the
// source (tests/<dir>/<name>.test.ts) rather than from the .mjs.
//
// Each (runtime, suite) is one process, at most TEST_JOBS (default 2) at a time, killed after
// TEST_TIMEOUT_S (default 120) seconds. Processes start in their own process group and a
// timeout kills that group by the child's PID (-pid), so a runtime that spawns helpers
// leaves nothing behind. The environment is passed through (FC_SEED, FC_RUNS, ...), with
// NO_COLOR=1 so uvu prints plain text.
//
// Counting: uvu prints "Total: / Passed: / Skipped:" once per process; failed = Total -
// Passed. A process that times out, crashes (no summary), prints more than one summary (a
// suite's .run() came after an await, so uvu ran twice), runs no test, or exits non-zero with
// no failing test counts as one more failed test. The last line printed is exactly
// "N passed, N failed" (", N skipped" when some were); the exit code is 1 when N failed > 0.
import { spawn } from "node:child_process";
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { join, dirname } from "node:path";
import { fileURLToPath } from "node:url";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const bundles = join(root, "build/tests");
const RUNTIMES = ["node", "deno", "bun"];
const JOBS = Math.max(1, Number(process.env.TEST_JOBS) || 2);
const TIMEOUT_MS = (Number(process.env.TEST_TIMEOUT_S) || 120) * 1000;

// ── arguments ───────────────────────────────────────────────────────────────────────────
const wanted = [];
const patterns = [];
let verbose = false;
const argv = process.argv.slice(2);
for (let i = 0; i < argv.length; i++) {
  const a = argv[i];
  if (a === "--runtime" || a === "-r") wanted.push(...(argv[++i] ?? "").split(","));
  else if (a.startsWith("--runtime=")) wanted.push(...a.slice(10).split(","));
  else if (a === "-v" || a === "--verbose") verbose = true;
  else if (a === "-h" || a === "--help") { console.log("usage: node tests/run.mjs [--runtime node|deno|bun]... [-v] [pattern]..."); process.exit(0); }
  else patterns.push(a.replace(/^(\.\/)?(tests|build\/tests)\//, "").replace(/\.(test\.ts|mjs)$/, ""));
}
for (const r of wanted) if (!RUNTIMES.includes(r)) { console.error(`run: unknown runtime "${r}" (node, deno, bun)`); process.exit(2); }
const runtimes = wanted.length ? RUNTIMES.filter((r) => wanted.includes(r)) : RUNTIMES;

/** How to start a bundle under each runtime. */
function command(runtime, file) {
  const bin = (name) => join(root, "node_modules/.bin", name);
  switch (runtime) {
    case "node": return [process.execPath, [file]];
    // -A: the core is read with node:fs and the suites read FC_* from the environment.
    // --no-lock: nothing to lock (bundles import only node:*), and no deno.lock in the tree.
    case "deno": return [bin("deno"), ["run", "-A", "--no-lock", file]];
    case "bun": return [bin("bun"), [file]];
  }
}

// ── suites ──────────────────────────────────────────────────────────────────────────────
if (!existsSync(bundles)) { console.error("run: build/tests/ is missing: run `node tools/build.mjs --no-types` (npm test does)"); process.exit(2); }
const suites = readdirSync(bundles).filter((f) => f.endsWith(".mjs")).sort().map((f) => {
  const name = f.slice(0, -4).replaceAll("__", "/");
  const source = join(root, "tests", `${name}.test.ts`);
  let only = null;
  if (existsSync(source)) {
    const first = readFileSync(source, "utf8").split("\n", 1)[0];
    const m = /^\/\/\s*runtimes:\s*(.+)$/.exec(first.trim());
    if (m) only = m[1].split(/[\s,]+/).filter(Boolean);
  }
  return { name, file: join(bundles, f), only };
}).filter((s) => !patterns.length || patterns.some((p) => s.name.includes(p) || s.name.replaceAll("/", "__").includes(p)));

const jobs = [];
for (const s of suites) for (const r of runtimes) if (!s.only || s.only.includes(r)) jobs.push({ suite: s, runtime: r });
if (!jobs.length) { console.error(`run: no suite matches ${patterns.join(" ") || "(none built)"}`); console.log("0 passed, 1 failed"); process.exit(1); }

// ── running ─────────────────────────────────────────────────────────────────────────────
const running = new Set();
const strip = (s) => s.replace(/\x1b\[[0-9;]*[A-Za-z]/g, "");

function runJob(job) {
  return new Promise((resolve) => {
    const [cmd, args] = command(job.runtime, job.suite.file);
    const t0 = Date.now();
    let out = "";
    let timedOut = false;
    let child;
    try {
      child = spawn(cmd, args, { cwd: root, detached: true, stdio: ["ignore", "pipe", "pipe"], env: { ...process.env, NO_COLOR: "1", FORCE_COLOR: "0" } });
    } catch (err) {
      resolve({ ...job, code: null, signal: null, out: `cannot start ${cmd}: ${err.message}`, ms: 0, timedOut });
      return;
    }
    running.add(child);
    child.stdout.on("data", (d) => { out += d; });
    child.stderr.on("data", (d) => { out += d; });
    const timer = setTimeout(() => { timedOut = true; killGroup(child); }, TIMEOUT_MS);
    child.on("error", (err) => { out += `\ncannot start ${cmd}: ${err.message}`; });
    child.on("close", (code, signal) => {
      clearTimeout(timer);
      running.delete(child);
      resolve({ ...job, code, signal, out: strip(out), ms: Date.now() - t0, timedOut });
    });
  });
}

/** Kills the child's process group (it was started detached, so the group id is its PID). */
function killGroup(child) {
  if (child.pid === undefined || child.exitCode !== null) return;
  try { process.kill(-child.pid, "SIGKILL"); } catch { try { child.kill("SIGKILL"); } catch { /* gone */ } }
}
for (const sig of ["SIGINT", "SIGTERM"]) process.on(sig, () => { for (const c of running) killGroup(c); process.exit(130); });

/** Reads uvu's summary and decides what the process counts for. */
function judge(r) {
  const num = (label) => [...r.out.matchAll(new RegExp(`^\\s*${label}:\\s+(\\d+)\\s*$`, "gm"))].map((m) => Number(m[1]));
  const totals = num("Total"), passes = num("Passed"), skips = num("Skipped");
  let passed = 0, failed = 0, skipped = 0, problem = "";
  if (totals.length >= 1 && passes.length === totals.length) {
    passed = passes.reduce((a, b) => a + b, 0);
    failed = totals.reduce((a, b) => a + b, 0) - passed;
    skipped = skips.reduce((a, b) => a + b, 0);
  }
  if (r.timedOut) problem = `timed out after ${TIMEOUT_MS / 1000} s (killed)`;
  else if (!totals.length) problem = r.signal ? `crashed (${r.signal}) before uvu's summary` : `exited ${r.code} without uvu's summary`;
  else if (totals.length > 1) problem = `uvu printed ${totals.length} summaries (call every suite's .run() before any await)`;
  else if (totals[0] === 0) problem = "ran no tests";
  else if (r.code !== 0 && failed === 0) problem = `exited ${r.code ?? r.signal} although every test passed`;
  if (problem) failed++;
  return { passed, failed, skipped, problem };
}

const width = Math.max(...suites.map((s) => s.name.length));
const totals = { passed: 0, failed: 0, skipped: 0 };
const t0 = Date.now();

function report(r) {
  const j = judge(r);
  totals.passed += j.passed; totals.failed += j.failed; totals.skipped += j.skipped;
  const status = j.failed ? "FAIL" : "ok  ";
  const counts = `${j.passed} passed, ${j.failed} failed${j.skipped ? `, ${j.skipped} skipped` : ""}`;
  console.log(`${status} ${r.runtime.padEnd(4)}  ${r.suite.name.padEnd(width)}  ${counts}  ${(r.ms / 1000).toFixed(1)} s${j.problem ? `  (${j.problem})` : ""}`);
  if (j.failed || verbose) console.log(r.out.trimEnd().split("\n").map((l) => `    | ${l}`).join("\n"));
}

const queue = [...jobs];
async function worker() {
  for (let job; (job = queue.shift()); ) report(await runJob(job));
}
await Promise.all(Array.from({ length: Math.min(JOBS, jobs.length) }, worker));

const ran = runtimes.filter((r) => jobs.some((j) => j.runtime === r));
console.log(`\n${jobs.length} runs (${ran.join(", ")}; ${suites.length} suites) in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
console.log(`${totals.passed} passed, ${totals.failed} failed${totals.skipped ? `, ${totals.skipped} skipped` : ""}`);
process.exitCode = totals.failed > 0 ? 1 : 0;
