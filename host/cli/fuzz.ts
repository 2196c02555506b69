// `wasm-reactor fuzz`: swarm-fuzz the core on the simulated network or over real sockets;
// shrink and record what fails. The fuzzer itself is host/fuzz/.
import { fail, fmt, requireDeno, DIST_DIR } from "./common.ts";
import { Progress } from "./progress.ts";
import type { RunResult, Scenario, FuzzHost } from "../fuzz/fuzz.ts";

const FUZZ_HELP = `wasm-reactor fuzz — swarm-fuzz the core; shrink and record what fails

Usage: wasm-reactor fuzz [options]

Each run draws its own scenario (connections, arrival bursts, message sizes, slow readers,
half-closes, resets, aborts, outbound connections to accepting, refusing and blackholing
servers, descriptor limits low enough for EMFILE, pool pressure) and its own fault odds, checks
every invariant after every turn, and checks liveness and leaks at the end. A failure is shrunk
(fast-check) to a small scenario, recorded as a trace, and the command that replays it is
printed.

  --host sim     the simulated network (default): virtual time, seeded faults (and clock
                 jumps); deterministic, so a failure is simply run again to record it.
  --host epoll   real loopback sockets (Linux), node:net peers in this process, real time.
                 With the shim's fault-injecting build, its seeded faults too. Runs are not
                 deterministic: every run records its own trace, a failing run's is kept, and a
                 shrinking candidate counts as failing when it fails the same way within
                 --tries runs.
  --host uring   the same on the io_uring host (Linux 6.1+); its faults are the kinds with a
                 counterpart in completions (shims/native/faults.c).

Options:
  --host NAME    sim (default), epoll or uring
  --seed S       the generator's seed (default: from the clock; printed)
  --seeds N      how many scenarios (default 100 on sim, 20 on epoll and uring)
  --minutes M    stop drawing after M minutes even if scenarios remain
  --tries N      epoll: runs of a shrinking candidate before it counts as passing (default 3)
  --shrink-seconds S   epoll: stop shrinking after S seconds, keeping the smallest so far (default 120)
  --build NAME   debug (default), release, or broken (the deliberately broken core, to see the
                 fuzzer catch a double release)
  --out DIR      where failing scenarios and traces go (default: the current directory)
  --scenario F   run one saved scenario (F.json, as a failure saves it) instead of drawing;
                 on epoll up to --tries times, stopping at the first failure
  --record F     with --scenario: record that run's trace to F
  --json         print the report as JSON
  -h, --help     this text

Exit status: 0 when every scenario passed, 1 when one failed (with its trace saved).
`;

interface Args {
  host: FuzzHost; seed: number; runs: number; minutes: number; tries: number; shrinkSeconds: number;
  build: "debug" | "release" | "broken"; out: string; json: boolean; scenarioFile?: string; recordFile?: string;
}

function parse(argv: string[]): Args {
  const a: Args = { host: "sim", seed: Date.now() % 1_000_000, runs: 0, minutes: 0, tries: 3, shrinkSeconds: 120, build: "debug", out: ".", json: false };
  const num = (i: number, min: number, what: string) => {
    const v = Number(argv[i]);
    if (argv[i] === undefined || !Number.isInteger(v) || v < min) fail(`fuzz: ${argv[i - 1]} must be an integer of at least ${min} (${what}), got ${JSON.stringify(argv[i] ?? "nothing")}`);
    return v;
  };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    if (arg === "-h" || arg === "--help") { process.stdout.write(FUZZ_HELP); process.exit(0); }
    else if (arg === "--seed") a.seed = num(++i, 0, "a seed");
    else if (arg === "--seeds") a.runs = num(++i, 1, "scenarios");
    else if (arg === "--minutes") a.minutes = num(++i, 1, "minutes");
    else if (arg === "--tries") a.tries = num(++i, 1, "runs per shrinking candidate");
    else if (arg === "--shrink-seconds") a.shrinkSeconds = num(++i, 0, "seconds of shrinking");
    else if (arg === "--json") a.json = true;
    else if (arg === "--out") a.out = argv[++i] ?? fail("fuzz: --out needs a directory");
    else if (arg === "--scenario") a.scenarioFile = argv[++i] ?? fail("fuzz: --scenario needs a file (a scenario JSON the fuzzer saved)");
    else if (arg === "--record") a.recordFile = argv[++i] ?? fail("fuzz: --record needs a file name");
    else if (arg === "--host") {
      const h = argv[++i];
      if (h !== "sim" && h !== "epoll" && h !== "uring") fail(`fuzz: --host must be sim, epoll or uring, got ${JSON.stringify(h ?? "nothing")}`);
      a.host = h;
    } else if (arg === "--build") {
      const b = argv[++i];
      if (b !== "debug" && b !== "release" && b !== "broken") fail(`fuzz: --build must be debug, release or broken, got ${JSON.stringify(b ?? "nothing")}`);
      a.build = b;
    } else fail(`fuzz: unknown option '${arg}' (see wasm-reactor fuzz --help)`);
  }
  if (a.recordFile && !a.scenarioFile) fail("fuzz: --record goes with --scenario (a drawn failure is recorded by itself)");
  if (!a.runs) a.runs = a.host !== "sim" ? 20 : 100;
  return a;
}

/** The command that runs the same fuzz again (the seed draws the same scenarios). */
function reproduce(a: Args): string {
  return `wasm-reactor fuzz${a.host !== "sim" ? ` --host ${a.host}` : ""} --seed ${a.seed} --seeds ${a.runs}${a.build !== "debug" ? ` --build ${a.build}` : ""}`;
}

export async function fuzzCommand(argv: string[]): Promise<void> {
  const a = parse(argv);
  // Real sockets: node:net peers (net), the shim (ffi), traces in the temporary folder (env
  // TMPDIR, write), and the leak check reads /proc/self/fd, which Deno opens to -A alone.
  if (a.host !== "sim") requireDeno(`fuzz --host ${a.host}`, "all", "its descriptor leak check reads /proc/self/fd, which Deno opens only to --allow-all");
  else requireDeno("fuzz", [
    { name: "read", path: DIST_DIR, why: "the core" },
    ...(a.scenarioFile ? [{ name: "read", path: a.scenarioFile, why: "--scenario" } as const] : []),
    ...(a.recordFile ? [{ name: "write", path: a.recordFile, why: "--record" } as const] : []),
    ...(a.scenarioFile ? [] : [{ name: "write", path: a.out, why: "--out: where a failure's scenario and trace go" } as const]),
  ]);
  const { fuzz, runScenario, describeScenario, NATIVE_FAULTS_AVAILABLE } = await import("../fuzz/fuzz.ts");
  if (a.scenarioFile) return runOne(a, runScenario);
  const faultNote = a.host !== "sim" ? NATIVE_FAULTS_AVAILABLE ? "; shim faults on" : "; the shim has no fault injection in this build: kernel behaviour only" : "";
  if (!a.json) console.log(`wasm-reactor fuzz: ${a.runs} scenarios from seed ${a.seed} on the ${a.build} core, host ${a.host}${faultNote} (reproduce: ${reproduce(a)})`);
  const { mkdirSync, mkdtempSync, renameSync, copyFileSync, rmSync, writeFileSync, statSync } = await import("node:fs");
  const { join } = await import("node:path");
  const { tmpdir } = await import("node:os");
  const traceDir = a.host !== "sim" ? mkdtempSync(join(tmpdir(), `wr-fuzz-${a.host}-`)) : undefined;
  let done = 0, failures = 0, drawn = 0;
  const every = a.host !== "sim" ? 5 : 25;
  // On a terminal (stderr), a live line: scenarios drawn of --seeds, failures, ETA (bounded by
  // --minutes when that ends sooner); the plain "N runs" lines are then left out. Once a run
  // fails, the runs that follow are shrinking candidates: the line counts them apart, with no ETA
  // (how long shrinking takes is not known in advance; --shrink-seconds bounds it on epoll).
  const progress = new Progress({ label: "fuzz", total: a.runs });
  const t0 = performance.now();
  const timeLimitMs = a.minutes ? a.minutes * 60_000 : undefined;
  const rep = await fuzz({
    seed: a.seed, runs: a.runs, host: a.host, build: a.build, tries: a.tries, shrinkTimeLimitMs: a.shrinkSeconds * 1000, traceDir,
    timeLimitMs,
    onRun: (_i: number, r: RunResult, sc: Scenario) => {
      if (a.json) return;
      if (!r.ok && failures++ === 0) progress.log(`  run ${done + 1} failed: ${r.failure} (${describeScenario(sc)}); shrinking`);
      if (!failures || (!r.ok && failures === 1)) drawn++;
      ++done;
      if (progress.active) {
        const elapsedMs = performance.now() - t0;
        const byRate = drawn > 0 ? (elapsedMs / drawn) * (a.runs - drawn) : undefined;
        const byLimit = timeLimitMs !== undefined ? Math.max(0, timeLimitMs - elapsedMs) : undefined;
        const etaMs = failures ? undefined : byRate !== undefined && byLimit !== undefined ? Math.min(byRate, byLimit) : byRate ?? byLimit;
        const detail = failures ? `FAILED; shrinking: ${done - drawn} runs${a.host !== "sim" ? ` (stops after ${a.shrinkSeconds} s)` : ""}` : "0 failures";
        progress.update(drawn, { detail, etaMs: failures ? Infinity : etaMs });
      } else if (done % every === 0) console.log(`  ${done} runs${failures ? " (shrinking included)" : ""}`);
    },
  }).finally(() => progress.end());
  const result: Record<string, unknown> = { seed: a.seed, host: a.host, build: a.build, scenarios: rep.runs, failed: rep.failed, turns: rep.turns, accepts: rep.accepts, connects: rep.connects, bytesIn: rep.bytesIn, faults: rep.faults, seconds: +(rep.ms / 1000).toFixed(1), turnsPerSecond: Math.round(rep.turns / (rep.ms / 1000)), reproduce: reproduce(a) };
  if (rep.nativeFaults !== undefined) result.nativeFaults = rep.nativeFaults;
  try {
    if (rep.failed && rep.counterexample) {
      mkdirSync(a.out, { recursive: true });
      const base = `${a.out.replace(/\/$/, "")}/fuzz-${a.seed}-${a.host !== "sim" ? `${a.host}-` : ""}${a.build}`;
      writeFileSync(`${base}.json`, JSON.stringify(rep.counterexample, null, 2) + "\n");
      const keep = (from: string | undefined, to: string) => { if (!from) return false; try { renameSync(from, to); } catch { copyFileSync(from, to); rmSync(from, { force: true }); } return true; };
      let traceTurns: number | undefined;
      if (a.host === "sim") {
        traceTurns = (await runScenario(rep.counterexample, { build: a.build, record: `${base}.trace` })).turns;
        if (rep.original) await runScenario(rep.original, { build: a.build, record: `${base}-original.trace` });
      } else {
        keep(rep.trace, `${base}.trace`);
        if (rep.originalTrace !== rep.trace) keep(rep.originalTrace, `${base}-original.trace`);
      }
      if (rep.original) writeFileSync(`${base}-original.json`, JSON.stringify(rep.original, null, 2) + "\n");
      const bytes = (f: string) => { try { return statSync(f).size; } catch { return 0; } };
      Object.assign(result, { failure: rep.failure, shrinks: rep.shrinks, shrinkRuns: rep.shrinkRuns, scenario: rep.counterexample, trace: `${base}.trace`, traceBytes: bytes(`${base}.trace`), traceTurns });
      if (!a.json) {
        console.log(`FAILED: ${rep.failure}`);
        console.log(`shrunk ${rep.shrinks} times${a.host !== "sim" ? ` (${rep.shrinkRuns} runs, up to ${a.tries} per candidate)` : ""} to: ${JSON.stringify(rep.counterexample)}`);
        console.log(`trace: ${base}.trace (${bytes(`${base}.trace`)} bytes${traceTurns !== undefined ? `, ${traceTurns} turns` : ""}); scenario: ${base}.json`);
        if (rep.original) console.log(`before shrinking: ${base}-original.json (${rep.original.conns} connections)${bytes(`${base}-original.trace`) ? `, trace ${base}-original.trace` : ""}`);
        console.log(`replay it: wasm-reactor replay ${base}.trace`);
        console.log(`run it again: wasm-reactor fuzz${a.host !== "sim" ? ` --host ${a.host}` : ""} --scenario ${base}.json${a.build !== "debug" ? ` --build ${a.build}` : ""}${a.host !== "sim" ? ` --tries ${a.tries}` : ""}`);
      }
    } else if (!a.json) console.log(`passed: ${rep.runs} scenarios, ${fmt(rep.turns)} turns in ${(rep.ms / 1000).toFixed(1)} s (${fmt(rep.turns / (rep.ms / 1000))} turns/s); ${fmt(rep.accepts)} connections accepted and ${fmt(rep.connects)} made, ${fmt(rep.bytesIn)} bytes read, ${fmt(rep.faults)} faults injected`);
  } finally {
    if (traceDir) rmSync(traceDir, { recursive: true, force: true });
  }
  if (a.json) console.log(JSON.stringify(result));
  process.exit(rep.failed ? 1 : 0);
}

/**
 * One saved scenario, again (optionally recorded): how a failure is reproduced, and how the
 * regression traces under tests/traces/ are made. On epoll, up to --tries runs.
 */
async function runOne(a: Args, runScenario: typeof import("../fuzz/fuzz.ts").runScenario): Promise<void> {
  const { readFileSync } = await import("node:fs");
  let sc: Scenario;
  try { sc = JSON.parse(readFileSync(a.scenarioFile!, "utf8")); }
  catch (err) { fail(`fuzz: cannot read the scenario ${a.scenarioFile}: ${(err as Error).message}`); }
  const tries = a.host !== "sim" ? a.tries : 1;
  let res: RunResult = { ok: true, turns: 0, virtualMs: 0 };
  let t = 0;
  while (t < tries) {
    t++;
    res = await runScenario(sc, { host: a.host, build: a.build, record: a.recordFile });
    if (!res.ok) break;
  }
  const trace = a.recordFile ?? res.trace;
  const runs = tries > 1 ? ` in ${t} run${t > 1 ? "s" : ""}` : "";
  if (a.json) console.log(JSON.stringify({ ...res, runs: t }));
  else console.log(res.ok ? `passed${runs}: ${fmt(res.turns)} turns, ${fmt(res.accepts ?? 0)} connections, ${fmt(res.faults ?? 0)} faults${trace ? `; trace: ${trace}` : ""}` : `FAILED${runs}: ${res.failure}${trace ? `; trace: ${trace} (replay it: wasm-reactor replay ${trace})` : ""}`);
  process.exit(res.ok ? 0 : 1);
}
