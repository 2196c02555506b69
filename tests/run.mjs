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
// no failing test counts as one more failed test.
//
// Skipped: a test that cannot run here calls skip(reason) (tests/helpers/skip.ts), which prints
// a line "[skip] reason"; the next uvu mark after it ("•" passed, "✘" failed) is that test's.
// A passed one moves from passed to skipped (uvu alone would count it passed); a failed one
// stays failed. uvu's own test.skip() is counted too, without a reason (it keeps none). A suite
// with skips and no passed test is reported "skip", not "ok"; every reason is listed at the end.
// The last line printed is exactly "N passed, N failed" (", N skipped" when some were); the
// exit code is 1 when N failed > 0.
//
// TEST_BUNDLES=DIR runs the .mjs files of DIR instead of build/tests/ (tests/runner/ runs this
// runner over its fixtures that way; a bundle's own first line may then carry "// runtimes:").
import { spawn } from "node:child_process";
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { join, dirname, resolve as resolvePath } from "node:path";
import { fileURLToPath } from "node:url";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const bundles = process.env.TEST_BUNDLES ? resolvePath(process.env.TEST_BUNDLES) : join(root, "build/tests");
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
if (!existsSync(bundles)) { console.error(`run: ${bundles} is missing: run \`node tools/build.mjs --no-types\` (npm test does)`); process.exit(2); }
const suites = readdirSync(bundles).filter((f) => f.endsWith(".mjs")).sort().map((f) => {
  const name = f.slice(0, -4).replaceAll("__", "/");
  const source = join(root, "tests", `${name}.test.ts`);
  // No source (a fixture run through TEST_BUNDLES): the bundle's own first line.
  const first = readFileSync(existsSync(source) ? source : join(bundles, f), "utf8").split("\n", 1)[0];
  const m = /^\/\/\s*runtimes:\s*(.+)$/.exec(first.trim());
  const only = m ? m[1].split(/[\s,]+/).filter(Boolean) : null;
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

/**
 * Pairs each "[skip] reason" line (tests/helpers/skip.ts) with the uvu mark that follows it:
 * the mark of the test that printed it. Returns the reasons of the tests that then passed
 * (skipped) and of those that failed anyway.
 */
function skipsIn(out) {
  const skipped = [], failedAnyway = [];
  let pending = [];
  for (const m of out.matchAll(/^\[skip\] (.*)$|([•✘]) /gm)) {
    if (m[1] !== undefined) { pending.push(m[1].trim()); continue; }
    if (!pending.length) continue;
    (m[2] === "•" ? skipped : failedAnyway).push(pending.join("; "));
    pending = [];
  }
  return { skipped, failedAnyway };
}

/** Reads uvu's summary and decides what the process counts for. */
function judge(r) {
  const num = (label) => [...r.out.matchAll(new RegExp(`^\\s*${label}:\\s+(\\d+)\\s*$`, "gm"))].map((m) => Number(m[1]));
  const totals = num("Total"), passes = num("Passed"), skips = num("Skipped");
  let passed = 0, failed = 0, skipped = 0, problem = "";
  const reasons = [];
  if (totals.length >= 1 && passes.length === totals.length) {
    passed = passes.reduce((a, b) => a + b, 0);
    failed = totals.reduce((a, b) => a + b, 0) - passed;
    const uvuSkips = skips.reduce((a, b) => a + b, 0);
    const s = skipsIn(r.out);
    // Never more than uvu saw pass (a stray mark in a test's own output cannot make one up).
    const moved = Math.min(s.skipped.length, passed);
    passed -= moved;
    skipped = moved + uvuSkips;
    reasons.push(...s.skipped.slice(0, moved));
    if (uvuSkips) reasons.push(`${uvuSkips} × uvu test.skip() (no reason kept: use skip(reason) from tests/helpers/skip.ts)`);
    for (const why of s.failedAnyway) reasons.push(`(failed after skip: ${why})`);
  }
  if (r.timedOut) problem = `timed out after ${TIMEOUT_MS / 1000} s (killed)`;
  else if (!totals.length) problem = r.signal ? `crashed (${r.signal}) before uvu's summary` : `exited ${r.code} without uvu's summary`;
  else if (totals.length > 1) problem = `uvu printed ${totals.length} summaries (call every suite's .run() before any await)`;
  else if (totals[0] === 0) problem = "ran no tests";
  else if (r.code !== 0 && failed === 0) problem = `exited ${r.code ?? r.signal} although every test passed`;
  if (problem) failed++;
  return { passed, failed, skipped, problem, reasons };
}

const width = Math.max(...suites.map((s) => s.name.length));
const totals = { passed: 0, failed: 0, skipped: 0 };
const skipList = [];
const t0 = Date.now();

function report(r) {
  const j = judge(r);
  totals.passed += j.passed; totals.failed += j.failed; totals.skipped += j.skipped;
  for (const why of j.reasons) skipList.push(`${r.runtime.padEnd(4)}  ${r.suite.name}: ${why}`);
  // A suite that skipped everything it has proved nothing: not "ok".
  const status = j.failed ? "FAIL" : j.passed === 0 && j.skipped > 0 ? "skip" : "ok  ";
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
if (skipList.length) console.log(`\nskipped:\n${skipList.sort().map((l) => `  ${l}`).join("\n")}`);
console.log(`\n${jobs.length} runs (${ran.join(", ")}; ${suites.length} suites) in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
console.log(`${totals.passed} passed, ${totals.failed} failed${totals.skipped ? `, ${totals.skipped} skipped` : ""}`);
process.exitCode = totals.failed > 0 ? 1 : 0;
