import { suite } from "uvu";
import * as assert from "uvu/assert";
import { K } from "../../host/core/layout.ts";
import { simReactor, runUntil, closeClean, bytes, equalBytes } from "../helpers/sim.ts";
import type { Connection } from "../../host/reactor/connection.ts";
import type { ReactorError } from "../../host/errors.ts";

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

// write()'s one-call path for the view a data callback was handed: the cases where that view is
// not lent any more, or the connection may not be written, must behave as the general path does.
echo("writing the data view twice, after keep(), after end() or close(): copied or refused as before", async () => {
  const r = await simReactor();
  const seen: string[] = [];
  let kept: ReturnType<Connection["keep"]>;
  r.listen({ port: 7 }, {
    data(c, d) {
      const cmd = new TextDecoder().decode(d);
      if (cmd === "twice") { c.write(d); c.write(d); } // the second finds the chunk queued: copied
      else if (cmd === "kept") { kept = c.keep(d); assert.ok(kept, "kept"); c.write(d); } // an APP chunk: copied, the handle still reads it
      else if (cmd === "ended") {
        c.end();
        try { c.write(d); seen.push("no throw"); } catch (err) { seen.push((err as ReactorError).code); }
      } else if (cmd === "closed") {
        c.close();
        try { c.write(d); seen.push("no throw"); } catch (err) { seen.push((err as ReactorError).code); }
      }
    },
  });
  const a = r.sim!.connect(7);
  a.send("twice");
  runUntil(r, () => a.receivedBytes === 10, "both echoes");
  assert.is(a.receivedText(), "twicetwice");
  a.send("kept");
  runUntil(r, () => a.receivedBytes === 14, "the kept chunk's echo");
  assert.is(a.receivedText(), "twicetwicekept");
  assert.is(new TextDecoder().decode(kept!.bytes), "kept", "the kept handle still reads its bytes after the write");
  kept!.release();
  a.send("ended");
  runUntil(r, () => seen.length === 1 && a.gotFin, "the write after end() and the FIN");
  assert.equal(seen, ["ERR_WRITE_AFTER_END"]);
  assert.is(a.receivedText(), "twicetwicekept", "nothing was sent after end()");
  const b = r.sim!.connect(7);
  b.send("closed");
  runUntil(r, () => seen.length === 2, "the write after close()");
  assert.equal(seen[1], "ERR_WRITE_AFTER_END");
  assert.is(b.receivedBytes, 0);
  a.end(); b.end();
  runUntil(r, () => r.metrics().connections === 0, "both closed");
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
