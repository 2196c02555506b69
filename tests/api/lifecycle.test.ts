import { suite } from "uvu";
import * as assert from "uvu/assert";
import { simReactor, runUntil, closeClean } from "../helpers/sim.ts";
import { throwsCode } from "../helpers/errors.ts";

const lc = suite("api: handles, slots and timers across reuse");

lc("reconnecting from a close handler: the new connection keeps its handlers and data", async () => {
  const r = await simReactor();
  r.sim!.serve(80, {});
  const events: string[] = [];
  let attempts = 0;
  const handlers = {
    open(c: import("../../host/index.ts").Connection) { events.push(`open ${c.data}`); if (attempts === 1) c.close(); },
    close(c: import("../../host/index.ts").Connection) {
      events.push(`close ${c.data}`);
      if (attempts < 2) { attempts++; const n = r.connect({ port: 80 }, handlers); n.data = `#${attempts}`; }
    },
  };
  attempts = 1;
  const first = r.connect({ port: 80 }, handlers);
  first.data = "#1";
  runUntil(r, () => events.length === 3, "open, close, and the reconnect's open");
  assert.equal(events, ["open #1", "close #1", "open #2"]);
  assert.is(r.metrics().connectsOk, 2);
  await closeClean(r);
});

lc("clearTimeout with a handle whose timer already fired cancels nothing else", async () => {
  const r = await simReactor({ timers: 1 }); // one id: reused at once
  const fired: string[] = [];
  const a = r.setTimeout(() => fired.push("a"), 10);
  r.runUntil(() => fired.length === 1, { maxTurns: 1000 });
  const b = r.setTimeout(() => fired.push("b"), 10);
  assert.is(a.id, b.id, "the id was reused");
  r.clearTimeout(a); // stale: must not cancel b
  r.runUntil(() => fired.length === 2, { maxTurns: 1000 });
  assert.equal(fired, ["a", "b"]);
  await closeClean(r);
});

lc("writable turns false as soon as close() or end() is called", async () => {
  const r = await simReactor();
  const seen: boolean[] = [];
  r.listen({ port: 7 }, { data(c) { seen.push(c.writable); c.close(); seen.push(c.writable); } });
  const p = r.sim!.connect(7);
  p.send("x");
  runUntil(r, () => seen.length === 2, "data");
  assert.equal(seen, [true, false]);
  await closeClean(r);
});

lc("maxConnections is a hard cap: accepts wait and connect() says no slot", async () => {
  const r = await simReactor({ maxConnections: 5 });
  let open = 0, maxOpen = 0;
  r.listen({ port: 7 }, { open() { open++; maxOpen = Math.max(maxOpen, open); }, close() { open--; } });
  const peers = Array.from({ length: 8 }, () => r.sim!.connect(7));
  r.runFor(50);
  assert.is(open, 5, "five accepted, three wait in the backlog");
  throwsCode(() => r.connect({ port: 7 }, {}), "ERR_NO_SLOT");
  peers.slice(0, 5).forEach((p) => p.end());
  runUntil(r, () => r.metrics().accepts === 8, "the rest accepted once slots freed");
  assert.ok(maxOpen <= 5, `never above the cap (${maxOpen})`);
  peers.forEach((p) => { if (p.state === "open") p.end(); });
  await closeClean(r);
});

lc("EMFILE back-off doubles, and after a successful accept starts again from acceptBackoffMs", async () => {
  const r = await simReactor({ acceptBackoffMs: 10, acceptBackoffMaxMs: 10_000, sim: { faults: { acceptEmfileProbability: 1 } } });
  const errorsAt: number[] = [];
  let opened = 0;
  r.listen({ port: 7 }, { error() { errorsAt.push(r.nowMs()); }, open() { opened++; } });
  r.sim!.connect(7);
  r.runFor(200);
  const gaps = errorsAt.slice(1).map((t, i) => t - errorsAt[i]);
  assert.equal(gaps.slice(0, 3), [10, 20, 40], `doubling: ${gaps.join(", ")}`);
  r.sim!.faults.acceptEmfileProbability = 0; // the descriptors came back
  runUntil(r, () => opened === 1, "accepted once the back-off ends", 1_000_000);
  r.sim!.faults.acceptEmfileProbability = 1;
  const mark = errorsAt.length;
  r.sim!.connect(7);
  r.runFor(100);
  const again = errorsAt.slice(mark);
  assert.ok(again.length >= 2 && again[1] - again[0] === 10, `a new episode backs off from 10 ms again: ${again.map((t) => t - again[0]).join(", ")}`);
  await r.close({ drainMs: 10 });
});

lc.run();
