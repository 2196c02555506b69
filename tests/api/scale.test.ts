import { suite } from "uvu";
import * as assert from "uvu/assert";
import { simReactor, runUntil, closeClean } from "../helpers/sim.ts";

const sc = suite("api: 100,000 simulated connections");

sc("100,000 connections open, exchange, close, and nothing leaks", async () => {
  const N = 100_000, WAVE = 10_000;
  const r = await simReactor({ maxConnections: WAVE + 100, poolChunks: 4096, chunkSize: 1024, build: "release" });
  let opened = 0, closed = 0, bytesBack = 0;
  r.listen({ port: 7, backlog: WAVE }, {
    open() { opened++; },
    data(c, d) { c.write(d); },
    close(_c, info) { closed++; if (info.reason !== "normal") throw new Error(`close ${info.reason}`); },
  });
  for (let w = 0; w < N / WAVE; w++) {
    const peers = [];
    for (let i = 0; i < WAVE; i++) {
      const p = r.sim!.connect(7);
      p.send("ping");
      p.ondata = (b, peer) => { bytesBack += b.length; peer.end(); };
      peers.push(p);
    }
    runUntil(r, () => closed === (w + 1) * WAVE, `wave ${w + 1}`, 1_000_000);
  }
  assert.is(opened, N);
  assert.is(closed, N);
  assert.is(bytesBack, 4 * N);
  const m = r.metrics();
  assert.is(m.accepts, N);
  assert.is(m.fdOpens, N + 1);
  assert.is(m.fdCloses, N);
  assert.is(m.connections, 0);
  assert.is(m.timersPending, 0);
  assert.is(m.poolQueued + m.poolLent + m.poolWriting, 0);
  await closeClean(r);
});

sc.run();
