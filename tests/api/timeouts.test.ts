import { suite } from "uvu";
import * as assert from "uvu/assert";
import { simReactor, runUntil, closeClean } from "../helpers/sim.ts";
import type { CloseInfo, TimeoutKind } from "../../host/index.ts";

const to = suite("api: timeouts (virtual time)");

to("an idle connection is harvested after idleTimeoutMs, never before", async () => {
  const r = await simReactor({ idleTimeoutMs: 1_000 });
  const kinds: TimeoutKind[] = [];
  let info: CloseInfo | undefined, closedAt = -1;
  r.listen({ port: 7 }, { timeout(_c, k) { kinds.push(k); }, close(_c, i) { info = i; closedAt = r.nowMs(); } });
  const p = r.sim!.connect(7);
  p.onend = (peer) => peer.end(); // like most clients: close when the server does
  runUntil(r, () => p.state === "open", "accept");
  const openedAt = r.nowMs();
  runUntil(r, () => info !== undefined, "idle close", 1_000_000);
  assert.equal(kinds, ["idle"]);
  assert.is(info!.reason, "timeout");
  assert.ok(closedAt - openedAt >= 1_000, `not before the timeout (${closedAt - openedAt} ms)`);
  assert.ok(closedAt - openedAt <= 1_010, `not much after it either (${closedAt - openedAt} ms)`);
  assert.ok(p.gotFin, "harvested gracefully: FIN, not RST");
  await closeClean(r);
});

to("traffic keeps a connection alive past the idle timeout", async () => {
  const r = await simReactor({ idleTimeoutMs: 500, lingerMs: 100 });
  let closed = false;
  r.listen({ port: 7 }, { data(c, d) { c.write(d); }, close() { closed = true; } });
  const p = r.sim!.connect(7);
  for (let i = 0; i < 10; i++) { // 10 × 300 ms of activity = 3 s, each gap < 500 ms
    p.send("x");
    r.runFor(300);
    assert.not.ok(closed, `still open after ${r.nowMs()} ms of activity`);
  }
  assert.is(p.receivedBytes, 10);
  runUntil(r, () => closed, "idle close after activity stops", 1_000_000);
  assert.is(r.metrics().idleTimeouts, 1);
  await closeClean(r);
});

to("a connect that never completes fails with a connect timeout", async () => {
  const r = await simReactor({ connectTimeoutMs: 2_000 });
  r.sim!.serve(81, { mode: "blackhole" });
  let kind: string | undefined, info: CloseInfo | undefined, opened = false;
  r.connect({ port: 81 }, { open() { opened = true; }, timeout(_c, k) { kind = k; }, close(_c, i) { info = i; } });
  runUntil(r, () => info !== undefined, "connect timeout", 1_000_000);
  assert.is(kind, "connect");
  assert.is(info!.reason, "timeout");
  assert.is(info!.code, "ETIMEDOUT");
  assert.not.ok(opened);
  assert.ok(r.nowMs() >= 2_000 && r.nowMs() <= 2_010, `at the deadline (${r.nowMs()})`);
  await closeClean(r);
});

to("a connect to a closed port fails with ECONNREFUSED", async () => {
  const r = await simReactor();
  let err: { code?: string } | undefined, info: CloseInfo | undefined;
  r.connect({ port: 5555 }, { error(_c, e) { err = e; }, close(_c, i) { info = i; } });
  runUntil(r, () => info !== undefined, "refused");
  assert.is(err?.code, "ECONNREFUSED");
  assert.is(info!.reason, "connectFailed");
  await closeClean(r);
});

to("an accepted connection that sends nothing hits the handshake timeout", async () => {
  const r = await simReactor({ handshakeTimeoutMs: 300 });
  const kinds: string[] = [];
  r.listen({ port: 7 }, { timeout(_c, k) { kinds.push(k); }, data(c, d) { c.write(d); } });
  const silent = r.sim!.connect(7);
  const talker = r.sim!.connect(7);
  talker.send("hi");
  runUntil(r, () => silent.state === "reset", "the silent peer is cut", 1_000_000);
  assert.equal(kinds, ["handshake"]);
  assert.is(talker.state, "open", "the peer that spoke is untouched");
  assert.is(talker.receivedText(), "hi");
  await closeClean(r);
});

to("a peer that stops reading is aborted by the write-stall timeout", async () => {
  const r = await simReactor({ writeStallTimeoutMs: 1_000, poolChunks: 128 });
  const kinds: string[] = [];
  let info: CloseInfo | undefined;
  r.listen({ port: 7 }, { open(c) { c.write(new Uint8Array(200_000)); }, timeout(_c, k) { kinds.push(k); }, close(_c, i) { info = i; } });
  const p = r.sim!.connect(7);
  r.sim!.setReadRate(p, 0);
  runUntil(r, () => info !== undefined, "write stall", 1_000_000);
  assert.equal(kinds, ["writeStall"]);
  assert.is(info!.reason, "timeout");
  assert.ok(p.gotReset, "aborted with RST");
  await closeClean(r);
});

to("reactor.setTimeout fires on the wheel, never early; clearTimeout cancels", async () => {
  const r = await simReactor();
  const fired: [string, number][] = [];
  r.setTimeout(() => fired.push(["a", r.nowMs()]), 250);
  const b = r.setTimeout(() => fired.push(["b", r.nowMs()]), 100);
  r.setTimeout(() => fired.push(["c", r.nowMs()]), 86_400_000); // a day later
  r.clearTimeout(b);
  r.runUntil(() => fired.length === 2, { maxTurns: 10_000 });
  assert.equal(fired.map((f) => f[0]), ["a", "c"]);
  assert.ok(fired[0][1] >= 250 && fired[0][1] <= 251, `a at ${fired[0][1]}`);
  assert.ok(fired[1][1] >= 86_400_000 && fired[1][1] <= 86_400_001, `c at ${fired[1][1]}`);
  const late = r.metrics().timerLatenessMs;
  assert.is(late.count, 2);
  assert.is(late.max, 0, "fired in the ms they were due");
  await closeClean(r);
});

to("the host waits exactly until the next expiry: a 30 s timer costs one wake-up", async () => {
  const r = await simReactor();
  let fired = -1;
  r.setTimeout(() => { fired = r.nowMs(); }, 30_000);
  const waits: number[] = [];
  for (let i = 0; i < 10 && fired < 0; i++) { waits.push(r.turn()); r.host.wait(waits[waits.length - 1]); r.host.poll(); }
  r.turn();
  assert.is(fired, 30_000);
  assert.equal(waits.filter((w) => w > 0), [30_000], `one wait of exactly 30 s (${waits.join(", ")})`);
  await closeClean(r);
});

to("pause() stops reading (bytes wait in the kernel), resume() delivers them all", async () => {
  const r = await simReactor();
  let got = "";
  let conn: import("../../host/index.ts").Connection | undefined;
  r.listen({ port: 7 }, { open(c) { conn = c; c.pause(); }, data(_c, d) { got += new TextDecoder().decode(d); } });
  const p = r.sim!.connect(7);
  runUntil(r, () => conn !== undefined, "accept");
  p.send("held back");
  r.runFor(100);
  assert.is(got, "", "nothing read while paused");
  conn!.resume();
  runUntil(r, () => got === "held back", "delivered after resume");
  await closeClean(r);
});

to.run();
