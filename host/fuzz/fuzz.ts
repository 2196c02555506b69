// Swarm fuzzing on the simulated host: every run draws its own scenario (connection counts,
// arrival bursts, message sizes, slow readers, half-closes, resets, aborts, descriptor limits
// low enough for EMFILE storms, pool pressure, clock jumps) and its own fault odds, runs it with
// the core's invariants checked after every turn, then checks liveness and leaks at the end.
// Scenarios come from fast-check, which also shrinks a failing one (fewer connections, fewer
// messages, fewer faults: every field shrinks toward its simplest value); see docs/libraries.md.
import fc from "fast-check";
import { Reactor } from "../reactor/reactor.ts";
import { ReactorError } from "../errors.ts";
import type { SimPeer } from "../backends/sim/sim.ts";

export interface Scenario {
  seed: number;
  conns: number;
  arrivalSpreadMs: number;
  sizes: number[];
  messages: number;
  slowEvery: number;
  halfCloseEvery: number;
  resetEvery: number;
  abortEvery: number;
  serverEndEvery: number;
  /** Outbound: connections the app opens to simulated servers (accepting, refusing, blackholing). */
  outbound: number;
  outboundModes: ("accept" | "refuse" | "blackhole")[];
  poolChunks: number;
  chunkSize: number;
  fdLimit: number;
  idleTimeoutMs: number;
  writeStallTimeoutMs: number;
  faults: {
    readPartialProbability: number; writePartialProbability: number; writeEagainProbability: number;
    resetProbability: number; epipeProbability: number; acceptEmfileProbability: number;
    acceptEnfileProbability: number; clockJumpProbability: number;
  };
}

/** A slow reader's pace (simulated peers reading their replies). */
const SLOW_BYTES_PER_MS = 16;

/** A probability in steps of 1/10,000: shrinks to exactly 0 (a double stops at 5e-324). */
const p = (max: number) => fc.integer({ min: 0, max: Math.round(max * 10_000) }).map((x) => x / 10_000);

/** Every field shrinks toward the plainest run: one connection, one small message, no faults. */
export const scenarioArb: fc.Arbitrary<Scenario> = fc.record({
  seed: fc.integer({ min: 0, max: 0xffff }),
  conns: fc.integer({ min: 1, max: 60 }),
  arrivalSpreadMs: fc.integer({ min: 0, max: 400 }),
  sizes: fc.array(fc.integer({ min: 1, max: 12_000 }), { minLength: 1, maxLength: 6 }),
  messages: fc.integer({ min: 1, max: 5 }),
  slowEvery: fc.integer({ min: 0, max: 4 }),
  halfCloseEvery: fc.integer({ min: 0, max: 4 }),
  resetEvery: fc.integer({ min: 0, max: 4 }),
  abortEvery: fc.integer({ min: 0, max: 6 }),
  serverEndEvery: fc.integer({ min: 0, max: 6 }),
  outbound: fc.integer({ min: 0, max: 20 }),
  outboundModes: fc.array(fc.constantFrom<"accept" | "refuse" | "blackhole">("accept", "refuse", "blackhole"), { minLength: 1, maxLength: 3 }),
  poolChunks: fc.integer({ min: 16, max: 128 }),
  chunkSize: fc.constantFrom(1024, 512, 4096),
  fdLimit: fc.integer({ min: 12, max: 200 }),
  idleTimeoutMs: fc.constantFrom(0, 300, 1500),
  writeStallTimeoutMs: fc.constantFrom(0, 800),
  faults: fc.record({
    readPartialProbability: p(0.1), writePartialProbability: p(0.1), writeEagainProbability: p(0.1),
    resetProbability: p(0.01), epipeProbability: p(0.01), acceptEmfileProbability: p(0.05),
    acceptEnfileProbability: p(0.02), clockJumpProbability: p(0.02),
  }),
});

export interface RunResult { ok: boolean; failure?: string; turns: number; virtualMs: number; accepts?: number; connects?: number; bytesIn?: number; faults?: number }

/**
 * Runs one scenario on the simulator (debug core by default: every guarded invariant is
 * asserted as it is touched) and checks the whole audit after every turn.
 */
export async function runScenario(sc: Scenario, opts: { build?: "debug" | "broken" | "release"; record?: string; maxTurns?: number } = {}): Promise<RunResult> {
  let turns = 0;
  const r = await Reactor.create({
    host: "sim", build: opts.build ?? "debug", seed: sc.seed, maxConnections: 256, poolChunks: sc.poolChunks, chunkSize: sc.chunkSize,
    idleTimeoutMs: sc.idleTimeoutMs, writeStallTimeoutMs: sc.writeStallTimeoutMs, lingerMs: 300, connectTimeoutMs: 500,
    fdReserve: 4, fdHysteresis: 2, log: () => {}, pauseReadsAtHighWater: true,
    sim: { fdLimit: sc.fdLimit, windowBytes: 8192, faults: { ...sc.faults, clockJumpMaxMs: 400 } },
    ...(opts.record ? { record: { path: opts.record, outputs: true } } : {}),
  });
  const sim = r.sim!;
  const fail = (why: string): RunResult => ({ ok: false, failure: why, turns, virtualMs: r.nowMs() });
  let served = 0, opened = 0;
  r.listen({ port: 7, backlog: 64 }, {
    // The app aborts some connections as they open (RST, dropping what they queue).
    open(c) { if (sc.abortEvery && ++opened % sc.abortEvery === 0) c.reset(); },
    data(c, d) {
      if (!c.writable) return;
      c.write(d);
      if (sc.serverEndEvery && ++served % sc.serverEndEvery === 0) c.end();
    },
  });
  // Outbound: simulated servers on ports 100.., one per mode; each app connection writes a
  // request, the server echoes it, and the app ends once it has the reply (or gives up on error).
  // Scenarios saved before these fields existed run without outbound connections.
  const outboundModes = sc.outboundModes ?? ["accept"], outbound = sc.outbound ?? 0;
  outboundModes.forEach((mode, k) => sim.serve(100 + k, { mode, onconnection(peer) { peer.ondata = (b, q) => { if (q.state === "open") q.send(b); }; } }));
  for (let i = 0; i < outbound; i++) {
    sim.schedule(Math.floor((i * (sc.arrivalSpreadMs + 1)) / Math.max(1, outbound)), () => {
      try {
        r.connect({ port: 100 + (i % outboundModes.length) }, {
          open(c) { c.write(new Uint8Array(sc.sizes[i % sc.sizes.length]).fill(0x55)); c.data = 0; },
          data(c, d) { c.data = (c.data as number) + d.length; if ((c.data as number) >= sc.sizes[i % sc.sizes.length] && c.writable) c.end(); },
        });
      } catch (err) {
        if (!(err instanceof ReactorError) || (err.code !== "ERR_FD_BUDGET" && err.code !== "ERR_NO_SLOT")) throw err; // at the limit: refused, as it should be
      }
    });
  }
  const peers: SimPeer[] = [];
  for (let i = 0; i < sc.conns; i++) {
    const at = sc.arrivalSpreadMs ? Math.floor((i * sc.arrivalSpreadMs) / sc.conns) : 0;
    sim.schedule(at, () => {
      const peer = sim.connect(7);
      peers.push(peer);
      if (peer.state === "refused") return;
      if (sc.slowEvery && i % sc.slowEvery === 0) sim.setReadRate(peer, SLOW_BYTES_PER_MS);
      for (let m = 0; m < sc.messages; m++) {
        const size = sc.sizes[(i + m) % sc.sizes.length];
        sim.schedule(at + 1 + m * 7, () => { if (peer.state === "open") peer.send(new Uint8Array(size).fill(i & 0xff)); });
      }
      const after = at + 2 + sc.messages * 7;
      if (sc.resetEvery && i % sc.resetEvery === 0) sim.schedule(after, () => { if (peer.state === "open") peer.reset(); });
      else if (sc.halfCloseEvery && i % sc.halfCloseEvery === 0) sim.schedule(after, () => { if (peer.state === "open") peer.end(); });
    });
  }
  const check = (): string | undefined => {
    const inv = r.checkInvariants();
    if (inv !== 0) return `core invariant ${inv} broken after turn ${turns}`;
    if (sim.violations.length) return `host contract violation: ${sim.violations[0]}`;
    return undefined;
  };
  try {
    const maxTurns = opts.maxTurns ?? 20_000;
    const horizon = sc.arrivalSpreadMs + sc.messages * 7 + 3_000;
    while (turns < maxTurns && r.nowMs() < horizon) {
      const alive = r.step(20);
      turns++;
      const bad = check();
      if (bad) return fail(bad);
      if (!alive) break;
    }
    // Liveness: every peer finishes (ends), and then every connection closes: within 6 s, plus
    // what the slowest reader needs to take in everything echoed to it.
    for (const q of peers) if (q.state === "open") q.end();
    const echoed = sc.messages * Math.max(...sc.sizes);
    const end = r.nowMs() + 6_000 + (sc.slowEvery ? Math.ceil(echoed / SLOW_BYTES_PER_MS) : 0);
    while (turns < maxTurns * 2 && r.nowMs() < end && r.metrics().connections > 0) {
      if (!r.step(50)) break;
      turns++;
      const bad = check();
      if (bad) return fail(bad);
    }
    const m = r.metrics();
    if (m.connections !== 0) return fail(`liveness: ${m.connections} connections still open ${Math.round(r.nowMs())} virtual ms after every peer ended`);
    const report = await r.close({ drainMs: 1_000 });
    const after = r.metrics();
    if (report.leakedDescriptors !== 0 || after.fdOpens !== after.fdCloses) return fail(`descriptors: ${after.fdOpens} opened, ${after.fdCloses} closed`);
    if (after.poolQueued + after.poolLent + after.poolWriting !== 0) return fail(`pool: chunks still held after close (queued ${after.poolQueued}, lent ${after.poolLent}, writing ${after.poolWriting})`);
    const bad = check();
    if (bad) return fail(bad);
    const st = sim.stats as unknown as Record<string, number>;
    const faults = ["acceptFaults", "readFaults", "writeFaults", "resets", "clockJumps"].reduce((n, k) => n + (st[k] ?? 0), 0);
    return { ok: true, turns, virtualMs: r.nowMs(), accepts: after.accepts, connects: after.connectsStarted, bytesIn: after.bytesIn, faults };
  } catch (err) {
    if (err instanceof ReactorError && err.code === "ERR_CORE_ASSERTION") return fail(`core assertion: ${err.message.replace(/^wasm-reactor: /, "")}`);
    throw err;
  } finally {
    r.recorder?.close();
  }
}

export interface FuzzReport {
  runs: number;
  failed: boolean;
  seed: number;
  failure?: string;
  counterexample?: Scenario;
  /** The first failing scenario, before shrinking. */
  original?: Scenario;
  shrinks?: number;
  turns: number;
  ms: number;
  /** Over the passing runs: connections accepted, bytes read, faults the simulator injected. */
  accepts: number;
  /** Outbound connects the app started (to accepting, refusing and blackholing servers). */
  connects: number;
  bytesIn: number;
  faults: number;
}

/**
 * Runs `runs` scenarios from `seed` (fast-check's generator), each checked per turn. A failure is
 * shrunk by fast-check; the report has the smallest failing scenario found and why it failed.
 */
export async function fuzz(opts: { seed: number; runs: number; build?: "debug" | "broken" | "release"; timeLimitMs?: number; onRun?: (i: number, r: RunResult) => void }): Promise<FuzzReport> {
  const t0 = performance.now();
  let turns = 0, i = 0, lastFailure = "", accepts = 0, connects = 0, bytesIn = 0, faults = 0;
  let original: Scenario | undefined;
  const prop = fc.asyncProperty(scenarioArb, async (sc) => {
    const res = await runScenario(sc, { build: opts.build });
    turns += res.turns;
    accepts += res.accepts ?? 0; connects += res.connects ?? 0; bytesIn += res.bytesIn ?? 0; faults += res.faults ?? 0;
    opts.onRun?.(i++, res);
    if (!res.ok) { lastFailure = res.failure!; original ??= structuredClone(sc); }
    return res.ok;
  });
  const out = await fc.check(prop, { seed: opts.seed, numRuns: opts.runs, interruptAfterTimeLimit: opts.timeLimitMs, markInterruptAsFailure: false });
  const report: FuzzReport = { runs: out.numRuns, failed: out.failed, seed: opts.seed, turns, ms: performance.now() - t0, accepts, connects, bytesIn, faults };
  if (out.failed && out.counterexample) {
    report.counterexample = out.counterexample[0];
    report.original = original;
    report.shrinks = out.numShrinks;
    // The failure of the smallest scenario, not of the last one tried while shrinking.
    const again = await runScenario(report.counterexample, { build: opts.build });
    report.failure = again.failure ?? lastFailure;
  }
  return report;
}
