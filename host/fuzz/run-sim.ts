// One scenario on the simulated network: virtual time, seeded faults, deterministic. The same
// scenario and seed give the same run, turn by turn, so a failure is reproduced by running its
// scenario again (and recorded by running it with `record`).
//
//  1. The app (scenario.ts listenerApp, outboundApp): an echo server on port 7; outbound
//     connections to simulated servers on ports 100.. (one per mode: accepting, refusing,
//     blackholing) that write a request and end once the echo is back.
//  2. The peers follow the scenario's timetable (scenario.ts): connect, send, read slowly,
//     half-close or reset.
//  3. Turns run until the horizon, the core audited after each; then every peer ends and every
//     connection must close within 6 s (plus what the slowest reader needs); then close() and
//     the leak checks (checks.ts).
import { Reactor } from "../reactor/reactor.ts";
import type { SimPeer } from "../backends/sim/sim.ts";
import { type Scenario, listenerApp, outboundApp, inboundPlan, outboundPlan, outboundModesOf, outboundCountOf, SLOW_BYTES_PER_MS, MESSAGE_GAP_MS } from "./scenario.ts";
import { type RunResult, turnProblem, closeProblem, assertionFailure, refusedAtLimit } from "./checks.ts";

export interface SimRunOptions { build?: "debug" | "broken" | "release"; record?: string; maxTurns?: number }

/**
 * Runs one scenario on the simulator (debug core by default: every guarded invariant is
 * asserted as it is touched) and checks the whole audit after every turn.
 */
export async function runOnSim(sc: Scenario, opts: SimRunOptions = {}): Promise<RunResult> {
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
  r.listen({ port: 7, backlog: 64 }, listenerApp(sc));
  // Outbound: each app connection writes a request, the server echoes it, and the app ends once
  // it has the reply (or gives up on error).
  outboundModesOf(sc).forEach((mode, k) => sim.serve(100 + k, { mode, onconnection(peer) { peer.ondata = (b, q) => { if (q.state === "open") q.send(b); }; } }));
  for (let i = 0; i < outboundCountOf(sc); i++) {
    const o = outboundPlan(sc, i);
    sim.schedule(o.at, () => {
      try {
        r.connect({ port: 100 + o.server }, outboundApp(o));
      } catch (err) {
        if (!refusedAtLimit(err)) throw err; // at the limit: refused, as it should be
      }
    });
  }
  const peers: SimPeer[] = [];
  for (let i = 0; i < sc.conns; i++) {
    const plan = inboundPlan(sc, i);
    sim.schedule(plan.at, () => {
      const peer = sim.connect(7);
      peers.push(peer);
      if (peer.state === "refused") return;
      if (plan.slow) sim.setReadRate(peer, SLOW_BYTES_PER_MS);
      for (const s of plan.sends) sim.schedule(s.at, () => { if (peer.state === "open") peer.send(new Uint8Array(s.size).fill(i & 0xff)); });
      const fin = plan.finish;
      if (fin?.kind === "reset") sim.schedule(fin.at, () => { if (peer.state === "open") peer.reset(); });
      else if (fin?.kind === "end") sim.schedule(fin.at, () => { if (peer.state === "open") peer.end(); });
    });
  }
  const check = () => turnProblem(r, turns, () => sim.violations[0]);
  try {
    const maxTurns = opts.maxTurns ?? 20_000;
    const horizon = sc.arrivalSpreadMs + sc.messages * MESSAGE_GAP_MS + 3_000;
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
    const leak = closeProblem(report, r.metrics());
    if (leak) return fail(leak);
    const bad = check();
    if (bad) return fail(bad);
    const after = r.metrics();
    const st = sim.stats as unknown as Record<string, number>;
    const faults = ["acceptFaults", "readFaults", "writeFaults", "resets", "clockJumps"].reduce((n, k) => n + (st[k] ?? 0), 0);
    return { ok: true, turns, virtualMs: r.nowMs(), accepts: after.accepts, connects: after.connectsStarted, bytesIn: after.bytesIn, faults };
  } catch (err) {
    const assertion = assertionFailure(err);
    if (assertion) return fail(assertion);
    throw err;
  } finally {
    r.recorder?.close();
  }
}
