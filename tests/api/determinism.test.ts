// Same seed, same run: on one runtime twice, and on Node, Deno and Bun alike (a pinned digest).
//
// What "the same run" means here, and so what the digest covers (each part hashed on its own,
// so a mismatch names the part that changed):
//   handlers     every handler call, in order, with its arguments: the connection's id, the
//                bytes of each `data` (length and content hash), the `write()` result, the
//                timeout kind, the error's code/errno/syscall, the close reason and code;
//   peers        for each simulated client: its final state, the bytes it received (length and
//                content hash), whether it got our FIN or a reset;
//   submissions  every submission the core made to the host, in order, every field (op, flags,
//                slot, gen, fd, a, b), tapped where the simulator consumes them;
//   outcome      the descriptors opened, closed and still open (core and simulator), their high
//                water, the leak count close() reports, the faults injected (by kind), the virtual
//                time at the end and the number of turns.
// What it does not cover, on purpose: the metrics snapshot's JSON and the simulator's stats
// object as wholes. Adding a counter to either changes their shape, not the run; a counter that
// matters to the run shows in the parts above.
//
// Re-pinning: a deliberate change to the core's or the simulator's behaviour changes the digests.
// Run `node tests/run.mjs api/determinism` (all three runtimes); each prints its digests. Pin them
// only when all three agree, and say in the commit what changed the run.
import { suite } from "uvu";
import * as assert from "uvu/assert";
import { Reactor, type Connection, type Handlers } from "../../host/index.ts";

const det = suite("api: same seed, same run (faults on)");

/** FNV-1a over the UTF-16 code units of each part, with a separator between parts. */
class Digest {
  private h = 0x811c9dc5;
  count = 0;
  add(...parts: (string | number | boolean | undefined)[]): void {
    for (const p of parts) {
      const s = String(p);
      for (let i = 0; i < s.length; i++) this.h = Math.imul(this.h ^ s.charCodeAt(i), 0x01000193);
      this.h = Math.imul(this.h ^ 0x1f, 0x01000193); // unit separator: "ab","c" ≠ "a","bc"
    }
    this.count++;
  }
  get hex(): string { return (this.h >>> 0).toString(16).padStart(8, "0"); }
}

function bytesHash(b: Uint8Array): string {
  let h = 0x811c9dc5;
  for (let i = 0; i < b.length; i++) h = Math.imul(h ^ b[i], 0x01000193);
  return (h >>> 0).toString(16).padStart(8, "0");
}

type Digests = { handlers: string; peers: string; submissions: string; outcome: string };

/**
 * A small storm: echo server, 200 clients with random sizes and slow readers, every named fault
 * at a few percent, clock jumps. Checks the core's invariants after every turn; returns the
 * digests of the run (see the top of this file).
 */
async function storm(seed: number): Promise<{ digests: Digests; turns: number; faults: number; submissions: number }> {
  const lines: string[] = [];
  const r = await Reactor.create({
    host: "sim", build: "debug", seed, maxConnections: 512, poolChunks: 128, chunkSize: 2048,
    idleTimeoutMs: 2_000, lingerMs: 300, writeStallTimeoutMs: 1_500, fdLimit: 150, fdReserve: 10,
    log: (l) => lines.push(l),
    sim: { windowBytes: 8192, faults: {
      readPartialProbability: 0.05, writePartialProbability: 0.05, writeEagainProbability: 0.03,
      resetProbability: 0.002, epipeProbability: 0.002, acceptEmfileProbability: 0.02,
      acceptEnfileProbability: 0.01, clockJumpProbability: 0.01, clockJumpMaxMs: 500,
    } },
  });
  const sim = r.sim!;

  // The core's submissions, tapped where the simulator drains them.
  const subs = new Digest();
  const core = (r as unknown as { core?: { drainSubmissions?: (fn: (...rec: number[]) => void) => number } }).core;
  if (typeof core?.drainSubmissions !== "function") throw new Error("determinism: cannot tap the core's submissions (Reactor.core.drainSubmissions moved): update storm()");
  const drain = core.drainSubmissions.bind(core);
  core.drainSubmissions = (fn) => drain((...rec) => { subs.add(...rec); fn(...rec); });

  // Every handler call, with its arguments.
  const calls = new Digest();
  const handlers: Handlers = {
    open(c) { calls.add("open", c.id, c.remoteAddress?.port); },
    data(c: Connection, d) { calls.add("data", c.id, d.length, bytesHash(d)); if (c.writable) calls.add("write", c.write(d)); },
    drain(c) { calls.add("drain", c.id); },
    end(c) { calls.add("end", c.id); },
    timeout(c, kind) { calls.add("timeout", c.id, kind); },
    error(c, e) { calls.add("error", c.id, e.code, e.errno, e.syscall); },
    close(c, info) { calls.add("close", c.id, info.reason, info.code); },
  };
  r.listen({ port: 7, backlog: 128 }, handlers);

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
  assert.equal(lines.filter((l) => l.includes("threw")), [], `seed ${seed}: no handler threw`);

  const peersDigest = new Digest();
  for (const p of peers) peersDigest.add(p.state, p.receivedBytes, bytesHash(p.received()), p.gotFin, p.gotReset);
  const endMs = sim.nowMs;
  const report = await r.close({ drainMs: 100 });
  const m = r.metrics(), s = sim.stats;
  // Every submission went through the tap: the digest cannot go quietly empty.
  assert.is(subs.count, m.submissions, "the tap saw every submission the core counted");
  const faults = s.acceptFaults + s.readFaults + s.writeFaults + s.resets + s.clockJumps;
  const outcome = new Digest();
  outcome.add(m.fdOpens, m.fdCloses, m.fdsOpen, m.fdsHighWater, sim.fdsOpen, report.leakedDescriptors,
    s.acceptFaults, s.readFaults, s.writeFaults, s.resets, s.clockJumps, endMs, turns);
  return { digests: { handlers: calls.hex, peers: peersDigest.hex, submissions: subs.hex, outcome: outcome.hex }, turns, faults, submissions: subs.count };
}

det("the same seed gives the same run, bit for bit; another seed another run", async () => {
  const a = await storm(7), b = await storm(7), c = await storm(8);
  console.log(`  storm seed 7: ${a.turns} turns, ${a.faults} faults, ${a.submissions} submissions, digests ${JSON.stringify(a.digests)}`);
  assert.ok(a.faults > 20, `faults were injected (${a.faults})`);
  assert.equal(a.digests, b.digests, "seed 7 twice: identical");
  assert.is(a.turns, b.turns);
  for (const k of Object.keys(a.digests) as (keyof Digests)[]) assert.is.not(a.digests[k], c.digests[k], `seed 8 differs in ${k}`);
});

det("the run is the same on every runtime: the digests are pinned", async () => {
  // Measured on Node 20, Deno 2.9 and Bun 1.4 alike (see the top of this file before re-pinning).
  const a = await storm(7);
  assert.equal(a.digests, { handlers: "ae3ea77e", peers: "be7df560", submissions: "a1897f42", outcome: "ffefdd1d" });
});

det.run();
