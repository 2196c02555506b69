import { suite } from "uvu";
import * as assert from "uvu/assert";
import { K } from "../../host/core/layout.ts";
import { simReactor, runUntil, closeClean, bytes, equalBytes } from "../helpers/sim.ts";

const echo = suite("api: echo over the sim host");

echo("echoes bytes back, in order, to several peers", async () => {
  const r = await simReactor();
  let opened = 0, closed = 0;
  const l = r.listen({ port: 7 }, {
    open() { opened++; },
    data(c, d) { c.write(d); },
    close(_c, info) { closed++; assert.is(info.reason, "normal"); },
  });
  assert.is(l.port, 7);
  const peers = [1, 2, 3].map(() => r.sim!.connect(7));
  const msgs = peers.map((_, i) => bytes(10_000 + i * 777, i + 1));
  peers.forEach((p, i) => p.send(msgs[i]));
  runUntil(r, () => peers.every((p, i) => p.receivedBytes === msgs[i].length), "echo of every message");
  peers.forEach((p, i) => assert.ok(equalBytes(p.received(), msgs[i]), `peer ${i} got its bytes back intact`));
  assert.is(opened, 3);
  peers.forEach((p) => p.end());
  runUntil(r, () => closed === 3, "three normal closes");
  peers.forEach((p) => { assert.ok(p.gotFin, "peer saw our FIN"); assert.is(p.state, "closed"); });
  await closeClean(r);
});

echo("echoing the data view queues the same chunk without a copy", async () => {
  const r = await simReactor();
  let checked = 0;
  r.listen({ port: 7 }, {
    data(c, d) {
      const core = r.core;
      const chunkIndex = Math.floor((d.byteOffset - core.regions.chunkDataOff) / core.chunkSize);
      assert.is(core.exports.chunkState(chunkIndex), K.CH_LENT, "data arrives in a lent pool chunk");
      c.write(d);
      assert.is(core.exports.chunkState(chunkIndex), K.CH_QUEUED, "the same chunk is now in the write queue");
      checked++;
    },
  });
  const p = r.sim!.connect(7);
  p.send("ping");
  runUntil(r, () => p.receivedBytes === 4, "echo");
  assert.is(p.receivedText(), "ping");
  assert.ok(checked >= 1);
  await closeClean(r);
});

echo("many small writes share chunks and arrive as one stream", async () => {
  const r = await simReactor();
  r.listen({ port: 9 }, { open(c) { for (let i = 0; i < 1000; i++) c.write(`line ${i}\n`); c.end(); } });
  const p = r.sim!.connect(9);
  runUntil(r, () => p.gotFin, "all lines and FIN");
  const lines = p.receivedText().trimEnd().split("\n");
  assert.is(lines.length, 1000);
  assert.is(lines[999], "line 999");
  const m = r.metrics();
  assert.ok(m.writes < 50, `1000 small writes went out in few writev calls (${m.writes})`);
  p.end();
  runUntil(r, () => r.metrics().connections === 0, "close after both FINs");
  await closeClean(r);
});

echo("connect() to a simulated server, exchange, and close", async () => {
  const r = await simReactor();
  r.sim!.serve(80, { onconnection(peer) { peer.ondata = (b, p) => p.send(new TextDecoder().decode(b).toUpperCase()); } });
  let reply = "";
  let info: unknown;
  const c = r.connect({ port: 80 }, {
    open(conn) { conn.write("hello"); },
    data(conn, d) { reply += new TextDecoder().decode(d); if (reply.length === 5) conn.end(); },
    close(_c, i) { info = i; },
  });
  assert.is(c.state, "connecting");
  runUntil(r, () => reply === "HELLO", "reply from the server");
  runUntil(r, () => info !== undefined, "close after end (linger)", 1_000_000);
  assert.equal(info, { reason: "timeout", errno: 110, code: "ETIMEDOUT" }, "the server never sent its FIN back: linger expired");
  assert.is(c.state, "closed");
  await closeClean(r);
});

echo("run() drives the loop on its own until close() resolves it", async () => {
  const r = await simReactor();
  r.listen({ port: 7 }, { data(c, d) { c.write(d); } });
  const p = r.sim!.connect(7);
  p.send("by the loop");
  const done = r.run();
  for (let i = 0; i < 50 && p.receivedText() !== "by the loop"; i++) await new Promise((res) => setTimeout(res, 2));
  assert.is(p.receivedText(), "by the loop");
  p.end();
  await closeClean(r);
  await done; // the loop ends with the reactor
});

echo.run();
