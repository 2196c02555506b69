import { suite } from "uvu";
import * as assert from "uvu/assert";
import { Reactor, type Connection } from "../../host/index.ts";
import { simReactor, runUntil, closeClean, bytes, equalBytes } from "../helpers/sim.ts";
import { throwsCode } from "../helpers/errors.ts";

// Each case here is a bug a review found; the test failed before its fix.
const rg = suite("api: regressions");

rg("bytes waiting beside a dry pool are sent before the FIN of end()", async () => {
  const r = await simReactor({ poolChunks: 16, chunkSize: 1024, supplyTarget: 4, sim: { windowBytes: 2048 } });
  const payload = bytes(50_000, 3);
  r.listen({ port: 7 }, { open(c) { c.write(payload); c.end(); } });
  const p = r.sim!.connect(7);
  p.onend = (q) => q.end();
  runUntil(r, () => p.gotFin, "FIN", 1_000_000);
  assert.ok(equalBytes(p.received(), payload), `all ${payload.length} bytes before the FIN (got ${p.receivedBytes})`);
  runUntil(r, () => r.metrics().connections === 0, "closed");
  await closeClean(r);
});

rg("the peer's FIN does not cut off bytes still waiting beside the pool", async () => {
  const r = await simReactor({ poolChunks: 16, chunkSize: 1024, supplyTarget: 4, sim: { windowBytes: 2048 } });
  const payload = bytes(40_000, 5);
  r.listen({ port: 7 }, { data(c) { c.write(payload); } });
  const p = r.sim!.connect(7);
  p.send("go");
  p.end();
  runUntil(r, () => p.gotFin, "our FIN", 1_000_000);
  assert.is(p.receivedBytes, payload.length);
  await closeClean(r);
});

rg("connect, write, end: the bytes go out once connected, then FIN", async () => {
  const r = await simReactor();
  let got = "";
  let fin = false;
  r.sim!.serve(80, { onconnection(peer) { peer.ondata = (b) => { got += new TextDecoder().decode(b); }; peer.onend = (q) => { fin = true; q.end(); }; } });
  const c = r.connect({ port: 80 }, {});
  c.write("GET / HTTP/1.0\r\n\r\n");
  c.end();
  throwsCode(() => c.write("more"), "ERR_WRITE_AFTER_END");
  runUntil(r, () => fin, "FIN at the server");
  assert.is(got, "GET / HTTP/1.0\r\n\r\n");
  await closeClean(r);
});

rg("a timer armed in a close handler is not slept through", async () => {
  const r = await simReactor();
  let fired = -1;
  r.listen({ port: 7 }, { close() { r.setTimeout(() => { fired = r.nowMs(); }, 250); } });
  const p = r.sim!.connect(7);
  runUntil(r, () => p.state === "open", "open");
  p.end();
  const closedAt = r.nowMs();
  assert.ok(r.runUntil(() => fired >= 0, { maxTurns: 1000 }), "the timer fired");
  assert.ok(fired - closedAt >= 250 && fired - closedAt <= 252, `after 250 ms (${fired - closedAt})`);
  await closeClean(r);
});

rg("one error per connection, even when a write and a read fail in the same batch", async () => {
  const r = await simReactor({ poolChunks: 128 });
  const errors: string[] = [];
  r.listen({ port: 7 }, { open(c) { c.write(new Uint8Array(200_000)); }, error(_c, e) { errors.push(e.code as string); } });
  const p = r.sim!.connect(7);
  r.sim!.setReadRate(p, 1_000);
  runUntil(r, () => p.receivedBytes > 10_000, "some bytes");
  p.send("x");
  p.reset();
  runUntil(r, () => r.metrics().connections === 0, "closed");
  assert.is(errors.length, 1, `errors: ${errors.join(",")}`);
  await closeClean(r);
});

rg("clearTimeout of a timer that expired in the same batch stops it", async () => {
  const r = await simReactor();
  const fired: string[] = [];
  let b: import("../../host/index.ts").TimerHandle | undefined;
  r.setTimeout(() => { fired.push("a"); r.clearTimeout(b); }, 10);
  b = r.setTimeout(() => fired.push("b"), 10);
  r.runFor(50);
  assert.equal(fired, ["a"]);
  // b's id came back to the free list (the expired note frees it, although b was cleared), and
  // the new timer on it runs its own callback, never b's.
  const c = r.setTimeout(() => fired.push("c"), 5);
  assert.is(c.id, b!.id, "b's id is reused: a cleared-while-due timer does not leak its id");
  assert.is.not(c.seq, b!.seq);
  r.runFor(20);
  assert.equal(fired, ["a", "c"]);
  await closeClean(r);
});

rg("timers due in the same ms fire in the order they were armed, near and far", async () => {
  const r = await simReactor();
  const order: string[] = [];
  for (const delay of [10, 100, 5_000, 400_000]) for (const name of ["x", "y", "z"]) r.setTimeout(() => order.push(`${name}${delay}`), delay);
  r.runFor(500_000);
  assert.equal(order, ["x10", "y10", "z10", "x100", "y100", "z100", "x5000", "y5000", "z5000", "x400000", "y400000", "z400000"]);
  await closeClean(r);
});

rg("connect() from a close handler counts against maxConnections", async () => {
  const r = await simReactor({ maxConnections: 5 });
  r.sim!.serve(80, {});
  let open = 0, maxOpen = 0, outboundOpened = 0;
  const refused: string[] = [];
  const track = { open() { open++; maxOpen = Math.max(maxOpen, open); }, close() { open--; } };
  const outbound = { ...track, open() { outboundOpened++; track.open(); } };
  r.listen({ port: 7 }, { ...track, close() { open--; try { r.connect({ port: 80 }, outbound); } catch (e) { refused.push(String((e as Error).message)); } } });
  const peers = Array.from({ length: 8 }, () => r.sim!.connect(7));
  runUntil(r, () => open === 5, "five open");
  peers[0].end();
  r.runFor(100);
  // The connect from the close handler took the freed place (were it refused, the cap below would
  // hold whatever the core does), and no waiting client was accepted beside it.
  assert.equal(refused, [], "the connect from the close handler was accepted: a place had just freed");
  assert.is(outboundOpened, 1, "and it opened");
  assert.ok(maxOpen <= 5, `never above 5 (${maxOpen})`);
  assert.is(peers.filter((p) => p.state === "open").length, 4, "the three waiting clients still wait: the outbound took the fifth place");
  for (const p of peers) if (p.state === "open") p.end();
  await r.close({ drainMs: 100 });
});

rg("a peer that reads nothing does not keep an idle simulator awake", async () => {
  const r = await simReactor();
  r.listen({ port: 7 }, { open(c) { c.write(new Uint8Array(100_000)); } });
  const p = r.sim!.connect(7);
  r.sim!.setReadRate(p, 0);
  const t0 = r.nowMs();
  r.runUntil(() => false, { maxTurns: 10_000 });
  assert.ok(r.sim!.stats.turns < 1_000, `idle after ${r.sim!.stats.turns} turns, not one per virtual ms (t=${r.nowMs() - t0})`);
  await r.close({ drainMs: 10 });
});

rg("tiny rings and closes from outside a turn: every invariant after every step, nothing stuck", async () => {
  for (const seed of [1, 2, 3]) {
    const lines: string[] = [];
    const r = await Reactor.create({
      host: "sim", build: "debug", seed, maxConnections: 128, poolChunks: 64, chunkSize: 1024, log: (l) => lines.push(l),
      eventRing: 16, noteRing: 32, submitRing: 32, supplyTarget: 8, lingerMs: 200, connectTimeoutMs: 300,
      sim: { windowBytes: 4096, fdLimit: 100, connectLatencyMs: 3, faults: { writeEagainProbability: 0.1, resetProbability: 0.01, epipeProbability: 0.01, writePartialProbability: 0.1, readPartialProbability: 0.1 } },
    });
    const sim = r.sim!;
    sim.serve(80, { onconnection(peer) { peer.ondata = (b, q) => { if (q.state === "open") q.send(b); }; } });
    const live: Connection[] = [];
    r.listen({ port: 7, backlog: 256 }, { open(c) { live.push(c); }, data(c, d) { if (c.writable) c.write(d); } });
    for (let i = 0; i < 60; i++) { const p = sim.connect(7); if (p.state !== "refused") p.send(bytes(1 + sim.prng.int(5000), i)); }
    for (let i = 0; i < 30; i++) { try { const c = r.connect({ port: 80 }, { open(x) { x.write(bytes(3000, i)); } }); live.push(c); } catch { /* budget */ } }
    for (let step = 0; step < 3000; step++) {
      r.step();
      // Between turns: close a random live connection now and then (writes or connects may be in flight).
      if (step % 7 === 0 && live.length) { const c = live.splice(sim.prng.int(live.length), 1)[0]; if (c.live) (step % 2 ? c.close() : c.reset()); }
      const inv = r.checkInvariants();
      if (inv !== 0) throw new Error(`seed ${seed}: invariant ${inv} at step ${step}`);
    }
    for (const c of live) if (c.live) c.close();
    const report = await r.close({ drainMs: 1000 });
    assert.is(report.leakedDescriptors, 0, `seed ${seed}: no descriptor left`);
    assert.equal(sim.violations, [], `seed ${seed}: no misuse`);
    assert.is(r.metrics().connections, 0, `seed ${seed}: nothing stuck`);
    assert.equal(lines.filter((l) => l.includes("threw")), [], `seed ${seed}: no handler threw (the reactor logs it and goes on)`);
  }
});

rg.run();
