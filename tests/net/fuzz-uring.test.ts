// The fuzzer's gate on the io_uring host (`fuzz --host uring`): the same scenarios and checks as
// tests/net/fuzz.test.ts on epoll (the core's audit after every turn, liveness, echo integrity,
// descriptors and chunks), on host 'uring'. Its faults build injects the kinds that have a
// counterpart in completions (shims/native/faults.c). Skipped, saying why, where io_uring cannot
// run (a seccomp profile, kernel.io_uring_disabled, a kernel older than 6.1).
//
//   a fixed seed    6 drawn scenarios (seed 4);
//   a pinned storm  every feature at once (as on epoll, level only: completions have no trigger mode);
//   a regression    the stall this fuzzer found on its first run (seed 7, shrunk to one connection
//                   and one outbound connect, a pool of 16 chunks): the kernel's buffer ring held
//                   most of the pool while the core paused reads for pool pressure, and a paused
//                   host arms no receive, so nothing could give the chunks back. The ring now holds
//                   at most a quarter of the pool, as the supply ring does;
//   the self-test   the deliberately broken core is caught over real sockets on uring too, and its
//                   trace (recorded on uring) replays identically.
import { suite } from "uvu";
import * as assert from "uvu/assert";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fuzz, runScenario, NATIVE_FAULTS_AVAILABLE, type Scenario, type RunResult } from "../../host/fuzz/fuzz.ts";
import { replayFile } from "../../host/index.ts";
import { unavailable } from "../helpers/contract.ts";
import { skip } from "../helpers/skip.ts";

const test = suite("net: fuzz gate on the io_uring host");
const why = unavailable({ name: "uring", options: { host: "uring", wait: "thread" } });
const dir = mkdtempSync(join(tmpdir(), "wr-fuzz-uring-"));
let failed = false;
test.after(() => { if (!failed) rmSync(dir, { recursive: true, force: true }); else console.log(`    (failing traces kept in ${dir})`); });

const NO_FAULTS = { readPartialProbability: 0, writePartialProbability: 0, writeEagainProbability: 0, resetProbability: 0, epipeProbability: 0, acceptEmfileProbability: 0, acceptEnfileProbability: 0, clockJumpProbability: 0 };
const STORM: Scenario = {
  seed: 5, conns: 30, arrivalSpreadMs: 60, sizes: [300, 5000, 11000, 64], messages: 3,
  slowEvery: 3, halfCloseEvery: 2, resetEvery: 5, abortEvery: 7, serverEndEvery: 4, appResetEvery: 6,
  outbound: 9, outboundModes: ["accept", "refuse", "blackhole"],
  poolChunks: 24, chunkSize: 1024, fdLimit: 30, idleTimeoutMs: 300, writeStallTimeoutMs: 800, faults: NO_FAULTS,
  native: {
    readEagainProbability: 0, readShortProbability: 0, writeEagainProbability: 0.05, writeShortProbability: 0.05,
    eintrProbability: 0, resetProbability: 0.002, epipeProbability: 0.002, acceptEmfileProbability: 0.03,
    acceptEnfileProbability: 0.01, enobufsProbability: 0.01, connectHangProbability: 0.05,
  },
  pollIngestGapEvery: 0,
};
const POOL_STALL: Scenario = {
  seed: 0, conns: 1, arrivalSpreadMs: 0, sizes: [1], messages: 1, slowEvery: 0, halfCloseEvery: 0, resetEvery: 0,
  abortEvery: 0, serverEndEvery: 0, appResetEvery: 6, outbound: 1, outboundModes: ["accept"], poolChunks: 16, chunkSize: 1024,
  fdLimit: 12, idleTimeoutMs: 0, writeStallTimeoutMs: 0, faults: NO_FAULTS, edgeTriggered: false, pollIngestGapEvery: 1,
};
const DOUBLE_RELEASE: Scenario = {
  seed: 0, conns: 1, arrivalSpreadMs: 0, sizes: [513], messages: 1, slowEvery: 0, halfCloseEvery: 0, resetEvery: 0,
  abortEvery: 0, serverEndEvery: 0, appResetEvery: 2, outbound: 0, outboundModes: ["accept"], poolChunks: 16, chunkSize: 512,
  fdLimit: 12, idleTimeoutMs: 0, writeStallTimeoutMs: 0, faults: NO_FAULTS,
};

function explain(r: RunResult, sc: Scenario | undefined, again: string): string {
  failed = true;
  return `${r.failure}\n    scenario: ${JSON.stringify(sc)}\n    trace: ${r.trace ?? "(none)"} (replay it: wasm-reactor replay ${r.trace})\n    run it again: ${again}`;
}
const AGAIN = "wasm-reactor fuzz --host uring --scenario <the scenario above, saved as a .json file>";

if (why) {
  test("io_uring host", () => skip(`host 'uring' cannot run here: ${why}`));
} else {
  test("6 scenarios from a fixed seed pass on uring, and do real work (faults injected where the build has them)", async () => {
    const rep = await fuzz({ host: "uring", seed: 4, runs: 6, tries: 2, shrinkTimeLimitMs: 20_000, traceDir: dir });
    assert.not.ok(rep.failed, rep.failed ? explain({ ok: false, turns: 0, virtualMs: 0, failure: rep.failure, trace: rep.trace }, rep.counterexample, "wasm-reactor fuzz --host uring --seed 4 --seeds 6") : "");
    assert.is(rep.runs, 6);
    assert.ok(rep.accepts >= 20, `connections accepted: ${rep.accepts}`);
    assert.ok(rep.bytesIn >= 1_000, `bytes read: ${rep.bytesIn}`);
    assert.is(rep.nativeFaults, NATIVE_FAULTS_AVAILABLE);
  });

  test("a pinned storm of every feature passes on uring, with the faults that have a counterpart in completions", async () => {
    const r = await runScenario(STORM, { host: "uring", traceDir: dir });
    assert.ok(r.ok, r.ok ? "" : explain(r, STORM, AGAIN));
    assert.ok((r.accepts ?? 0) >= 10, `connections accepted: ${r.accepts}`);
    assert.ok((r.connects ?? 0) >= 1, `outbound connects: ${r.connects}`);
    assert.ok((r.bytesIn ?? 0) >= 1_000, `bytes read: ${r.bytesIn}`);
  });

  test("a small pool under a pause for pool pressure never stalls: the kernel's ring holds at most a quarter of it", async () => {
    for (let i = 0; i < 3; i++) {
      const r = await runScenario(POOL_STALL, { host: "uring", traceDir: dir });
      assert.ok(r.ok, r.ok ? "" : explain(r, POOL_STALL, AGAIN));
    }
  });

  test("the broken core is caught on uring; the failing run's trace replays identically", async () => {
    const r = await runScenario(DOUBLE_RELEASE, { host: "uring", build: "broken", traceDir: dir });
    assert.not.ok(r.ok, "the double release must be caught");
    assert.match(r.failure!, /^core (invariant|assertion)/);
    assert.ok(r.trace, "a failing run keeps its trace");
    const res = await replayFile(r.trace!, { checkInvariants: true });
    assert.ok(res.identical, JSON.stringify(res.divergence));
    assert.is(res.header.host, "uring");
    rmSync(r.trace!, { force: true });
    const ok = await runScenario(DOUBLE_RELEASE, { host: "uring", build: "debug", traceDir: dir });
    assert.ok(ok.ok, ok.failure);
  });
}

test.run();
