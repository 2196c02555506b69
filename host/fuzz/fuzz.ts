// Swarm fuzzing: every run draws its own scenario (connection counts, arrival bursts, message
// sizes, slow readers, half-closes, resets, aborts, outbound connections to accepting, refusing
// and blackholing servers, descriptor limits low enough for EMFILE, pool pressure) and its own
// fault odds, runs it with the core's invariants checked after every turn, then checks liveness
// and leaks. See scenario.ts (what a scenario is), run-sim.ts and run-epoll.ts (playing one),
// checks.ts (what is checked).
//
// How it works:
//  1. fast-check draws `runs` scenarios from `seed` (the draw is deterministic: the same seed
//     gives the same scenarios on every backend and runtime) and runs each.
//  2. The first failure is shrunk by fast-check: each field toward its plainest value; a
//     smaller scenario that still fails replaces it.
//  3. On the simulator a run is deterministic, so "still fails" is one run (and any failure
//     counts, as it always did). On real sockets it is not: a candidate counts as failing when,
//     within `tries` runs, it fails with the same kind of failure as the original (checks.ts
//     failureKind: "core", "liveness", "descriptors", "echo", ...). A flaky, different failure
//     (a liveness bound missed on a loaded machine) does not steer the shrinking elsewhere.
//     Shrinking stops after `shrinkTimeLimitMs`, keeping the smallest failure found so far.
//  4. What failed is reported with the scenario and a trace: on the simulator the caller records
//     the scenario again (same run); on real sockets the failing run's own trace is kept (each
//     epoll run records itself), which replays exactly without the sockets.
import fc from "fast-check";
import { rmSync } from "node:fs";
import { type Scenario, type FuzzHost, arbitraryFor } from "./scenario.ts";
import { type RunResult, failureKind } from "./checks.ts";
import { runOnSim } from "./run-sim.ts";
import { runOnEpoll, NATIVE_FAULTS_AVAILABLE } from "./run-epoll.ts";

export { type Scenario, type FuzzHost, scenarioArb, epollScenarioArb, describeScenario } from "./scenario.ts";
export { type RunResult, failureKind } from "./checks.ts";
export { NATIVE_FAULTS_AVAILABLE };

export type Build = "debug" | "broken" | "release";

export interface RunOptions {
  host?: FuzzHost;
  build?: Build;
  /** Record this run's trace to this path. */
  record?: string;
  /** Simulator: a bound on turns. */
  maxTurns?: number;
  /** epoll: where a failing run's trace is kept (default: a new temp dir per run). */
  traceDir?: string;
}

/** Runs one scenario on the simulator (default) or over real sockets. */
export function runScenario(sc: Scenario, opts: RunOptions = {}): Promise<RunResult> {
  if (opts.host === "epoll" || opts.host === "uring") return runOnEpoll(sc, { host: opts.host, build: opts.build, record: opts.record, traceDir: opts.traceDir });
  return runOnSim(sc, { build: opts.build, record: opts.record, maxTurns: opts.maxTurns });
}

export interface FuzzOptions {
  seed: number;
  runs: number;
  host?: FuzzHost;
  build?: Build;
  /** Stop drawing new scenarios after this long (what was drawn still counts). */
  timeLimitMs?: number;
  /** Real sockets: runs of a shrinking candidate before it counts as passing (default 3). */
  tries?: number;
  /** Stop shrinking after this long, keeping the smallest failure so far (default 120 s on epoll). */
  shrinkTimeLimitMs?: number;
  /** epoll: where failing runs' traces are kept. */
  traceDir?: string;
  onRun?: (i: number, r: RunResult, sc: Scenario) => void;
}

export interface FuzzReport {
  host: FuzzHost;
  runs: number;
  failed: boolean;
  seed: number;
  failure?: string;
  counterexample?: Scenario;
  /** The first failing scenario, before shrinking. */
  original?: Scenario;
  shrinks?: number;
  /** epoll: the trace of a failing run of the counterexample, and of the original's failure. */
  trace?: string;
  originalTrace?: string;
  /** Runs made while shrinking (several per candidate on real sockets). */
  shrinkRuns?: number;
  turns: number;
  ms: number;
  /** Over the passing runs: connections accepted, bytes read, faults injected. */
  accepts: number;
  /** Outbound connects the app started (to accepting, refusing and blackholing servers). */
  connects: number;
  bytesIn: number;
  faults: number;
  /** epoll: whether the shim injected faults (its fault-injecting build). */
  nativeFaults?: boolean;
}

/**
 * Runs `runs` scenarios from `seed`, each checked per turn. A failure is shrunk; the report has
 * the smallest failing scenario found and why it failed.
 */
export async function fuzz(opts: FuzzOptions): Promise<FuzzReport> {
  const host = opts.host ?? "sim";
  const tries = host !== "sim" ? Math.max(1, opts.tries ?? 3) : 1;
  const shrinkLimitMs = opts.shrinkTimeLimitMs ?? (host !== "sim" ? 120_000 : Infinity);
  const t0 = performance.now();
  let turns = 0, i = 0, accepts = 0, connects = 0, bytesIn = 0, faults = 0, shrinkRuns = 0;
  let kind: string | undefined, shrinkStart = 0;
  let original: Scenario | undefined, originalFailure: RunResult | undefined, last: RunResult | undefined;
  // A run that throws (rather than returning a failure) is the harness failing, not the core: a
  // permission Deno refused, a port it could not bind. Nothing to shrink: every later call
  // throws it again at once, and it is rethrown when fast-check stops. Before, it was shrunk
  // like a failure and reported as "FAILED: undefined".
  let harnessError: { err: unknown } | undefined;
  const run = async (sc: Scenario): Promise<RunResult> => {
    if (harnessError) throw harnessError.err;
    let res: RunResult;
    try { res = await runScenario(sc, { host, build: opts.build, traceDir: opts.traceDir }); }
    catch (err) { harnessError = { err }; throw err; }
    turns += res.turns;
    if (res.ok) { accepts += res.accepts ?? 0; connects += res.connects ?? 0; bytesIn += res.bytesIn ?? 0; faults += res.faults ?? 0; }
    opts.onRun?.(i++, res, sc);
    return res;
  };
  const prop = fc.asyncProperty(arbitraryFor(host, NATIVE_FAULTS_AVAILABLE), async (sc) => {
    if (kind === undefined) { // drawing: one run decides
      const res = await run(sc);
      if (res.ok) return true;
      kind = failureKind(res.failure);
      original = structuredClone(sc); originalFailure = res; last = res;
      shrinkStart = performance.now();
      return false;
    }
    // Shrinking: a candidate fails if it fails (on real sockets: the same way) within `tries` runs.
    if (performance.now() - shrinkStart > shrinkLimitMs) return true;
    for (let t = 0; t < tries; t++) {
      shrinkRuns++;
      const res = await run(sc);
      if (!res.ok && (host === "sim" || failureKind(res.failure) === kind)) { dropTrace(last, originalFailure); last = res; return false; }
      if (!res.ok) dropTrace(res, originalFailure); // a different failure: not this one
    }
    return true;
  });
  const out = await fc.check(prop, { seed: opts.seed, numRuns: opts.runs, interruptAfterTimeLimit: opts.timeLimitMs, markInterruptAsFailure: false });
  if (harnessError) throw harnessError.err;
  const report: FuzzReport = { host, runs: Math.min(out.numRuns, opts.runs), failed: out.failed, seed: opts.seed, turns, ms: performance.now() - t0, accepts, connects, bytesIn, faults };
  if (host !== "sim") report.nativeFaults = NATIVE_FAULTS_AVAILABLE;
  if (out.failed && out.counterexample) {
    report.counterexample = out.counterexample[0];
    report.original = original;
    report.shrinks = out.numShrinks;
    report.shrinkRuns = shrinkRuns;
    report.failure = last?.failure;
    if (host !== "sim") { report.trace = last?.trace; report.originalTrace = originalFailure?.trace; }
    else {
      // The failure of the smallest scenario, not of the last candidate tried while shrinking.
      const again = await runScenario(report.counterexample, { build: opts.build });
      report.failure = again.failure ?? last?.failure;
    }
  }
  return report;
}

/** Removes a failing run's trace that is no longer the one reported (epoll keeps one per failure). */
function dropTrace(res: RunResult | undefined, keep: RunResult | undefined): void {
  if (!res?.trace || res === keep) return;
  rmSync(res.trace, { force: true });
}
