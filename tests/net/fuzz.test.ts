// The fuzzer's gate on real sockets (`fuzz --host epoll`, host/fuzz/run-epoll.ts): fixed
// scenarios only, so the gate is deterministic in what it asks (the kernel still schedules);
// fresh seeds run in `npm run fuzz`. Each scenario is checked as the fuzzer always checks: the
// core's audit after every turn, liveness, echo integrity, descriptors (the core's, the shim's
// and this process's own) and chunks.
//
//   a fixed seed    6 drawn scenarios (seed 4): whatever mix the swarm draws there;
//   a pinned storm  every feature at once, level- and edge-triggered: bursts, slow readers,
//                   half-closes, resets, aborts, server ends, app resets, all three kinds of
//                   outbound server, a descriptor budget below the load, a small pool;
//   a regression    descriptors over the budget (invariant 31), found by this fuzzer on Bun
//                   (seed 13): an app connect() ran between the host's poll and the core's
//                   ingest, and the core did not count the accepts still in the event ring.
//                   With the gap forced every turn it failed at once on Node and Bun; the
//                   core now counts them (fdHeadroom in assembly/budget.ts);
//   the self-test   the deliberately broken core (a double release when a connection with two
//                   chunks queued is reset) is caught over real sockets, every time: the app
//                   resets a connection right after echoing a 513-byte message in 512-byte
//                   chunks. The failing run's own trace replays identically, broken invariant
//                   included, and the same scenario passes on the debug core. (This is what
//                   `fuzz --host epoll --build broken --seed 1 --seeds 20 --tries 1` shrank a
//                   56-connection failure to.)
//
// A failure prints the scenario, the kept trace (it replays exactly: `wasm-reactor replay`) and
// the command that runs it again. The shim's fault injection is used when the build has it.
import { suite } from "uvu";
import * as assert from "uvu/assert";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fuzz, runScenario, NATIVE_FAULTS_AVAILABLE, type Scenario, type RunResult } from "../../host/fuzz/fuzz.ts";
import { replayFile } from "../../host/index.ts";

const test = suite("net: fuzz gate on real sockets");
const dir = mkdtempSync(join(tmpdir(), "wr-fuzz-gate-"));
let failed = false;
test.after(() => { if (!failed) rmSync(dir, { recursive: true, force: true }); else console.log(`    (failing traces kept in ${dir})`); });

const SEED = 4, RUNS = 6;

const STORM: Scenario = {
  seed: 5, conns: 30, arrivalSpreadMs: 60, sizes: [300, 5000, 11000, 64], messages: 3,
  slowEvery: 3, halfCloseEvery: 2, resetEvery: 5, abortEvery: 7, serverEndEvery: 4, appResetEvery: 6,
  outbound: 9, outboundModes: ["accept", "refuse", "blackhole"],
  poolChunks: 24, chunkSize: 1024, fdLimit: 30, idleTimeoutMs: 300, writeStallTimeoutMs: 800,
  faults: { readPartialProbability: 0, writePartialProbability: 0, writeEagainProbability: 0, resetProbability: 0, epipeProbability: 0, acceptEmfileProbability: 0, acceptEnfileProbability: 0, clockJumpProbability: 0 },
  native: {
    readEagainProbability: 0.05, readShortProbability: 0.05, writeEagainProbability: 0.05, writeShortProbability: 0.05,
    eintrProbability: 0.02, resetProbability: 0.002, epipeProbability: 0.002, acceptEmfileProbability: 0.03,
    acceptEnfileProbability: 0.01, enobufsProbability: 0.01, connectHangProbability: 0.05,
  },
  pollIngestGapEvery: 0,
};

function explain(r: RunResult, sc: Scenario | undefined, again: string): string {
  failed = true;
  return `${r.failure}\n    scenario: ${JSON.stringify(sc)}\n    trace: ${r.trace ?? "(none)"} (replay it: wasm-reactor replay ${r.trace})\n    run it again: ${again}`;
}

test(`${RUNS} scenarios from a fixed seed pass over real sockets, and do real work`, async () => {
  const rep = await fuzz({ host: "epoll", seed: SEED, runs: RUNS, tries: 2, shrinkTimeLimitMs: 20_000, traceDir: dir });
  const again = `wasm-reactor fuzz --host epoll --seed ${SEED} --seeds ${RUNS}`;
  assert.not.ok(rep.failed, rep.failed ? explain({ ok: false, turns: 0, virtualMs: 0, failure: rep.failure, trace: rep.trace }, rep.counterexample, again) : "");
  assert.is(rep.runs, RUNS);
  assert.ok(rep.accepts >= 20, `connections accepted: ${rep.accepts}`);
  assert.ok(rep.connects >= 1, `outbound connects: ${rep.connects}`);
  assert.ok(rep.bytesIn >= 1_000, `bytes read: ${rep.bytesIn}`);
  assert.is(rep.nativeFaults, NATIVE_FAULTS_AVAILABLE);
  if (NATIVE_FAULTS_AVAILABLE) assert.ok(rep.faults > 0, `faults the shim injected: ${rep.faults}`);
});

for (const edgeTriggered of [false, true]) {
  test(`a pinned storm of every feature passes (${edgeTriggered ? "edge" : "level"}-triggered)`, async () => {
    const sc = { ...STORM, edgeTriggered };
    const r = await runScenario(sc, { host: "epoll", traceDir: dir });
    assert.ok(r.ok, r.ok ? "" : explain(r, sc, "wasm-reactor fuzz --host epoll --scenario <the scenario above, saved as a .json file>"));
    // Loose floors (how many get past the budget depends on timing): it did some of everything.
    assert.ok((r.accepts ?? 0) >= 10, `connections accepted: ${r.accepts}`);
    assert.ok((r.connects ?? 0) >= 1, `outbound connects: ${r.connects}`);
    assert.ok((r.bytesIn ?? 0) >= 1_000, `bytes read: ${r.bytesIn}`);
  });
}

// The scenario the fuzzer shrank the finding to, with the poll/ingest gap forced every turn.
const BUDGET_RACE: Scenario = {
  seed: 0, conns: 11, arrivalSpreadMs: 0, sizes: [1], messages: 1, slowEvery: 0, halfCloseEvery: 0, resetEvery: 0,
  abortEvery: 2, serverEndEvery: 0, outbound: 8, outboundModes: ["accept", "accept", "blackhole"], poolChunks: 97,
  chunkSize: 1024, fdLimit: 14, idleTimeoutMs: 0, writeStallTimeoutMs: 0, faults: STORM.faults, pollIngestGapEvery: 1,
};

test("an app connect() between the host's poll and the core's ingest never takes descriptors past the budget", async () => {
  for (let i = 0; i < 3; i++) {
    const r = await runScenario(BUDGET_RACE, { host: "epoll", traceDir: dir });
    assert.ok(r.ok, r.ok ? "" : explain(r, BUDGET_RACE, "wasm-reactor fuzz --host epoll --scenario <the scenario above, saved as a .json file> --tries 10"));
  }
});

const NO_SIM_FAULTS = STORM.faults;
const DOUBLE_RELEASE: Scenario = {
  seed: 0, conns: 1, arrivalSpreadMs: 0, sizes: [513], messages: 1, slowEvery: 0, halfCloseEvery: 0, resetEvery: 0,
  abortEvery: 0, serverEndEvery: 0, appResetEvery: 2, outbound: 0, outboundModes: ["accept"], poolChunks: 16, chunkSize: 512,
  fdLimit: 12, idleTimeoutMs: 0, writeStallTimeoutMs: 0, faults: NO_SIM_FAULTS,
};

test("the broken core is caught over real sockets; the failing run's trace replays identically, broken invariant included", async () => {
  const r = await runScenario(DOUBLE_RELEASE, { host: "epoll", build: "broken", traceDir: dir });
  assert.not.ok(r.ok, "the double release must be caught");
  assert.match(r.failure!, /^core (invariant|assertion)/);
  assert.ok(r.trace, "a failing run keeps its trace");
  const res = await replayFile(r.trace!, { checkInvariants: true });
  assert.ok(res.identical, JSON.stringify(res.divergence));
  assert.is(res.header.host, "epoll");
  if (/^core invariant/.test(r.failure!)) assert.ok(res.broken, "the replay shows the broken invariant too");
  rmSync(r.trace!, { force: true });
  const ok = await runScenario(DOUBLE_RELEASE, { host: "epoll", build: "debug", traceDir: dir });
  assert.ok(ok.ok, ok.failure);
});

test.run();
