import { suite } from "uvu";
import * as assert from "uvu/assert";
import { simReactor, runUntil, closeClean } from "../helpers/sim.ts";
import type { CloseInfo } from "../../host/index.ts";

const hc = suite("api: half-close and reset");

hc("the peer's FIN calls end and, by default, ends our side after the queue flushes", async () => {
  const r = await simReactor();
  const events: string[] = [];
  r.listen({ port: 7 }, {
    data(c, d) { c.write(d); },
    end() { events.push("end"); },
    close(_c, i) { events.push(`close:${i.reason}`); },
  });
  const p = r.sim!.connect(7);
  p.send("last words");
  p.end();
  runUntil(r, () => events.includes("close:normal"), "close");
  assert.equal(events, ["end", "close:normal"]);
  assert.is(p.receivedText(), "last words", "queued bytes flushed before our FIN");
  assert.ok(p.gotFin);
  await closeClean(r);
});

hc("with allowHalfOpen the server keeps writing after the peer's FIN, then ends", async () => {
  const r = await simReactor({ allowHalfOpen: true });
  let state = "";
  r.listen({ port: 7 }, {
    end(c) {
      state = c.state;
      r.setTimeout(() => { c.write("reply after your FIN"); c.end(); }, 50);
    },
  });
  const p = r.sim!.connect(7);
  p.send("request");
  p.end();
  runUntil(r, () => p.gotFin, "our FIN");
  assert.is(state, "readEnded");
  assert.is(p.receivedText(), "reply after your FIN");
  runUntil(r, () => r.metrics().connections === 0, "closed after both FINs");
  await closeClean(r);
});

hc("end() waits for the peer's FIN; lingerMs bounds that wait", async () => {
  const r = await simReactor({ lingerMs: 500 });
  let info: CloseInfo | undefined;
  r.listen({ port: 7 }, { open(c) { c.end("bye"); }, close(_c, i) { info = i; } });
  const p = r.sim!.connect(7);
  runUntil(r, () => p.gotFin, "FIN");
  assert.is(info, undefined, "still waiting for the peer's FIN");
  runUntil(r, () => info !== undefined, "linger expiry", 1_000_000);
  assert.is(info!.reason, "timeout");
  assert.ok(r.nowMs() >= 500);
  await closeClean(r);
});

hc("a peer reset mid-write gives ECONNRESET/EPIPE, a reset close, and leaks nothing", async () => {
  const r = await simReactor({ poolChunks: 128 });
  let err: { code?: string } | undefined, info: CloseInfo | undefined;
  r.listen({ port: 7 }, {
    open(c) { c.write(new Uint8Array(300_000)); },
    error(_c, e) { err = e; },
    close(_c, i) { info = i; },
  });
  const p = r.sim!.connect(7);
  r.sim!.setReadRate(p, 1_000);
  runUntil(r, () => p.receivedBytes > 20_000, "some bytes through");
  p.reset();
  runUntil(r, () => info !== undefined, "reset close");
  assert.ok(err?.code === "ECONNRESET" || err?.code === "EPIPE", `error ${err?.code}`);
  assert.is(info!.reason, "reset");
  assert.is(r.metrics().poolQueued, 0, "the queued bytes went back to the pool");
  await closeClean(r);
});

hc("conn.reset() sends RST and conn.close() drops the queue", async () => {
  const r = await simReactor();
  const reasons: string[] = [];
  r.listen({ port: 7 }, {
    data(c, d) { const t = new TextDecoder().decode(d); if (t === "rst") c.reset(); else { c.write("dropped?"); c.close(); } },
    close(_c, i) { reasons.push(i.reason); },
  });
  const a = r.sim!.connect(7), b = r.sim!.connect(7);
  a.send("rst"); b.send("close");
  runUntil(r, () => reasons.length === 2, "two closes");
  assert.equal(reasons, ["abort", "abort"]);
  assert.ok(a.gotReset);
  assert.ok(b.gotFin && !b.gotReset);
  assert.is(b.receivedBytes, 0, "close() drops what was queued");
  await closeClean(r);
});

hc.run();
