import { suite } from "uvu";
import * as assert from "uvu/assert";
import { simReactor, runUntil, closeClean, bytes, equalBytes } from "../helpers/sim.ts";
import { throwsCode } from "../helpers/errors.ts";
import { prometheusText } from "../../host/core/metrics.ts";

const pr = suite("api: pool exhaustion and the descriptor budget");

pr("a dry pool pauses reads, keeps writes beside the pool, and loses nothing", async () => {
  // 16 chunks of 1 KiB for 20 echo clients sending 20 KiB each: far more than the pool holds.
  const r = await simReactor({ poolChunks: 16, chunkSize: 1024, supplyTarget: 4, highWaterBytes: 4096, lowWaterBytes: 1024, poolReserveChunks: 4, sim: { windowBytes: 2048 } });
  let overflowSeen = 0;
  // d.slice(): a copy, so each reply needs chunks of its own (an echo of d itself would not).
  r.listen({ port: 7 }, { data(c, d) { c.write(d.slice()); overflowSeen = Math.max(overflowSeen, r.metrics().overflowBytes); } });
  const peers = Array.from({ length: 20 }, (_, i) => {
    const p = r.sim!.connect(7);
    r.sim!.setReadRate(p, 64); // slow readers make the queues pile up
    p.send(bytes(20_000, i + 1));
    return p;
  });
  runUntil(r, () => peers.every((p) => p.receivedBytes === 20_000), "every byte echoed", 2_000_000);
  peers.forEach((p, i) => assert.ok(equalBytes(p.received(), bytes(20_000, i + 1)), `peer ${i} intact`));
  const m = r.metrics();
  assert.ok(m.poolPauses >= 1, "reads and accepts paused at the pool's reserve");
  assert.is(overflowSeen, 0, "the reserve kept room for every reply: reads stopped first");
  assert.is(m.overflowBytes, 0, "nothing left beside the pool");
  await closeClean(r);
});

/** The value of one unlabelled series in Prometheus text (undefined: absent). */
function series(text: string, name: string): number | undefined {
  const line = text.split("\n").find((l) => l.startsWith(`${name} `));
  return line === undefined ? undefined : Number(line.slice(name.length + 1));
}

pr("poolPaused (wasm_reactor_pool_paused) is 1 while a write queue holds the pool at its reserve, and 0 once it drains", async () => {
  // 16 chunks of 1 KiB, reserve 4: reads pause at 4 free and resume at 8. A peer that reads
  // nothing, sent 12 KiB: its write queue holds the pool.
  const r = await simReactor({ poolChunks: 16, chunkSize: 1024, supplyTarget: 4, poolReserveChunks: 4, sim: { windowBytes: 1024 } });
  r.listen({ port: 7 }, { open(c) { c.write(bytes(12 * 1024, 3)); } });
  const before = r.metrics();
  assert.is(before.poolPaused, 0, "not paused with the pool free");
  assert.is(series(prometheusText(before), "wasm_reactor_pool_paused"), 0);
  const p = r.sim!.connect(7);
  r.sim!.setReadRate(p, 0);
  runUntil(r, () => r.metrics().poolPauses === 1, "the pool pauses");
  r.runUntil(() => false, { maxTurns: 200 }); // on until idle: the pause holds while the peer reads nothing
  const held = r.metrics();
  assert.is(held.poolPaused, 1, "paused: the queue holds the pool");
  assert.ok(held.poolFree <= 4, `at the reserve (${held.poolFree} free)`);
  assert.is(series(prometheusText(held), "wasm_reactor_pool_paused"), 1, "Prometheus text says 1");
  assert.is(series(prometheusText(held), "wasm_reactor_pool_pauses_total"), 1, "one pause, still under way");
  r.sim!.setReadRate(p, Infinity);
  runUntil(r, () => p.receivedBytes === 12 * 1024, "the peer read it all");
  const after = r.metrics();
  assert.is(after.poolPaused, 0, "resumed once the queue drained");
  assert.ok(after.poolFree >= 8, `twice the reserve free (${after.poolFree})`);
  assert.is(series(prometheusText(after), "wasm_reactor_pool_paused"), 0, "Prometheus text says 0");
  assert.is(after.poolPauses, 1, "still one pause");
  p.end();
  await closeClean(r);
});

pr("writes larger than the whole pool wait beside it, in order, and drain", async () => {
  const r = await simReactor({ poolChunks: 16, chunkSize: 1024, supplyTarget: 4, highWaterBytes: 4096, lowWaterBytes: 1024, sim: { windowBytes: 2048 } });
  let overflowSeen = 0, drains = 0;
  const said: boolean[] = [];
  r.listen({ port: 7 }, {
    open(c) { said.push(c.write(bytes(50_000, c.slot))); overflowSeen = Math.max(overflowSeen, r.metrics().overflowBytes); },
    drain(c) { drains++; c.end(); },
  });
  const peers = Array.from({ length: 5 }, () => { const p = r.sim!.connect(7); p.onend = (q) => q.end(); return p; });
  runUntil(r, () => r.metrics().connections === 0 && peers.every((p) => p.gotFin), "all written and closed", 2_000_000);
  assert.ok(said.every((s) => s === false), "write() said wait");
  assert.ok(overflowSeen > 0, "bytes waited beside the dry pool");
  assert.ok(r.metrics().poolAcquireFails >= 1, "the pool ran dry for writes");
  assert.is(drains, 5, "drain fired for each connection");
  for (const p of peers) assert.is(p.receivedBytes, 50_000);
  await closeClean(r);
});

pr("admission stops at the descriptor budget and resumes below it", async () => {
  // fdLimit 40, reserve 4 → budget 36 descriptors: the listener plus 35 connections.
  // The simulated process really has 40 descriptors: without admission, accept4 would fail with EMFILE.
  const r = await simReactor({ fdReserve: 4, fdHysteresis: 5, maxConnections: 200, sim: { fdLimit: 40 } });
  let open = 0, maxOpen = 0, served = 0;
  r.listen({ port: 7 }, {
    open() { open++; maxOpen = Math.max(maxOpen, open); },
    data(c, d) { c.write(d); },
    close() { open--; served++; },
  });
  const peers = Array.from({ length: 100 }, () => {
    const p = r.sim!.connect(7);
    p.send("hi");
    p.ondata = (_b, peer) => peer.end(); // one exchange each, then leave
    return p;
  });
  runUntil(r, () => served === 100, "all 100 served within a budget of 36", 2_000_000);
  const m = r.metrics();
  assert.is(m.fdBudget, 36);
  assert.ok(m.fdsHighWater <= 36, `never above the budget (high water ${m.fdsHighWater})`);
  assert.ok(maxOpen <= 35, `at most 35 connections at once (${maxOpen})`);
  assert.ok(m.admissionPauses >= 1, "admission closed at the budget");
  assert.ok(peers.every((p) => p.receivedText() === "hi"));
  assert.is(r.metrics().errorsByErrno.EMFILE, undefined, "never hit EMFILE: the budget stopped us first");
  await closeClean(r);
});

pr("EMFILE on accept backs off instead of spinning, and recovers", async () => {
  const r = await simReactor({ acceptBackoffMs: 10, acceptBackoffMaxMs: 80, sim: { faults: { acceptEmfileProbability: 0.9 } } });
  const errors: string[] = [];
  let opened = 0;
  r.listen({ port: 7 }, { error(_c, e) { errors.push(e.code as string); }, open() { opened++; } });
  for (let i = 0; i < 10; i++) r.sim!.connect(7);
  runUntil(r, () => opened === 10, "all ten accepted in the end", 1_000_000);
  const m = r.metrics();
  assert.ok(errors.length >= 1 && errors.every((c) => c === "EMFILE"), `listener errors: ${errors.join(",")}`);
  assert.ok(m.acceptBackoffs >= 1, "backed off");
  assert.is(m.errorsByErrno.EMFILE, errors.length, "each counted by errno");
  // No spin: failed accepts per virtual second stay tiny (Bun spun at ~190k/s).
  const perSecond = errors.length / Math.max(1, r.nowMs() / 1000);
  assert.ok(perSecond < 200, `${perSecond.toFixed(1)} failed accepts per virtual second`);
  await closeClean(r);
});

pr("a descriptor limit below the load: connect() at the budget fails clearly", async () => {
  const r = await simReactor({ fdLimit: 10, fdReserve: 2 });
  r.sim!.serve(80, {});
  const conns = [];
  for (let i = 0; i < 8; i++) conns.push(r.connect({ port: 80 }, {}));
  throwsCode(() => r.connect({ port: 80 }, {}), "ERR_FD_BUDGET");
  runUntil(r, () => r.metrics().connectsOk === 8, "eight connected");
  await closeClean(r);
});

pr.run();
