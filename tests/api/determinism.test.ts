import { suite } from "uvu";
import * as assert from "uvu/assert";
import { Reactor } from "../../host/index.ts";

const det = suite("api: same seed, same run (faults on)");

/**
 * A small storm: echo server, 200 clients with random sizes and slow readers, every named fault
 * at a few percent, clock jumps. Checks the core's invariants after every turn and returns a
 * digest of everything observable: metrics, peers' bytes, the simulator's counters.
 */
async function storm(seed: number): Promise<{ digest: string; turns: number; faults: number }> {
  const r = await Reactor.create({
    host: "sim", build: "debug", seed, maxConnections: 512, poolChunks: 128, chunkSize: 2048,
    idleTimeoutMs: 2_000, lingerMs: 300, writeStallTimeoutMs: 1_500, fdLimit: 150, fdReserve: 10,
    log: () => {},
    sim: { windowBytes: 8192, faults: {
      readPartialProbability: 0.05, writePartialProbability: 0.05, writeEagainProbability: 0.03,
      resetProbability: 0.002, epipeProbability: 0.002, acceptEmfileProbability: 0.02,
      acceptEnfileProbability: 0.01, clockJumpProbability: 0.01, clockJumpMaxMs: 500,
    } },
  });
  const sim = r.sim!;
  r.listen({ port: 7, backlog: 128 }, { data(c, d) { if (c.writable) c.write(d); } });
  const peers = [];
  for (let i = 0; i < 200; i++) {
    const p = sim.connect(7);
    const size = 1 + sim.prng.int(30_000);
    const msg = new Uint8Array(size).map((_, k) => (k * 31 + i) & 0xff);
    if (p.state === "refused") { peers.push(p); continue; } // the backlog was full: like ECONNREFUSED
    if (i % 7 === 0) sim.setReadRate(p, 5 + sim.prng.int(50));
    p.send(msg);
    if (i % 3 === 0) p.end();
    peers.push(p);
  }
  let turns = 0;
  for (; turns < 20_000; turns++) {
    const alive = r.step();
    const inv = r.checkInvariants();
    if (inv !== 0) throw new Error(`seed ${seed}: invariant ${inv} broken at turn ${turns}`);
    if (!alive && r.metrics().connections === 0) break;
    if (r.nowMs() > 60_000) break;
  }
  assert.equal(sim.violations, [], `seed ${seed}: the simulator saw no misuse`);
  // Liveness: every connection ends (echoed, reset, or harvested by the idle timeout).
  assert.is(r.metrics().connections, 0, `seed ${seed}: every connection finished`);
  const m = r.metrics();
  const parts = [JSON.stringify(m), JSON.stringify(sim.stats), String(sim.nowMs)];
  for (const p of peers) parts.push(`${p.state}:${p.receivedBytes}:${p.gotFin}:${p.gotReset}`);
  await r.close({ drainMs: 100 });
  const s = sim.stats;
  return { digest: fnv(parts.join("|")), turns, faults: s.acceptFaults + s.readFaults + s.writeFaults + s.resets + s.clockJumps };
}

function fnv(s: string): string {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) { h ^= s.charCodeAt(i); h = Math.imul(h, 0x01000193); }
  return (h >>> 0).toString(16).padStart(8, "0");
}

det("the same seed gives the same run, bit for bit; another seed another run", async () => {
  const a = await storm(7), b = await storm(7), c = await storm(8);
  console.log(`  storm seed 7: ${a.turns} turns, ${a.faults} faults, digest ${a.digest}; seed 8: digest ${c.digest}`);
  assert.ok(a.faults > 20, `faults were injected (${a.faults})`);
  assert.is(a.digest, b.digest, "seed 7 twice: identical");
  assert.is(a.turns, b.turns);
  assert.is.not(a.digest, c.digest, "seed 8 differs");
});

det("the run is the same on every runtime: the digest is pinned", async () => {
  // Measured on Node 20, Deno 2.9 and Bun 1.4 alike. A deliberate change to the core's or the
  // simulator's behaviour changes it: check the new value on all three runtimes, then pin it.
  const a = await storm(7);
  // 12843830: the simulator's stats and metrics().host gained `violations` (a shape change only:
  // with those keys left out the digest is still 02b60213).
  assert.is(a.digest, "12843830");
});

det.run();
