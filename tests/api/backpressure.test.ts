import { suite } from "uvu";
import * as assert from "uvu/assert";
import { simReactor, runUntil, closeClean, bytes, equalBytes } from "../helpers/sim.ts";

const bp = suite("api: backpressure and drain");

bp("a large write to a slow reader says wait, drains at the low-water mark, and arrives whole", async () => {
  const r = await simReactor({ highWaterBytes: 32_768, lowWaterBytes: 8_192, poolChunks: 512 });
  const payload = bytes(1_000_000, 7);
  let firstWrite: boolean | undefined, drains = 0, queuedAfterWrite = -1, queuedAtDrain = -1, receivedAtDrain = -1;
  r.listen({ port: 7 }, {
    open(c) { firstWrite = c.write(payload); queuedAfterWrite = c.queuedBytes; },
    drain(c) { drains++; queuedAtDrain = c.queuedBytes; receivedAtDrain = p.receivedBytes; c.end(); },
  });
  const p = r.sim!.connect(7);
  r.sim!.setReadRate(p, 2_000); // 2 KB per virtual ms
  runUntil(r, () => p.receivedBytes === payload.length, "the whole payload");
  assert.is(firstWrite, false, "write() of 1 MB over a 32 KB high-water mark says wait");
  assert.is(queuedAfterWrite, payload.length, "the whole megabyte is queued at once, nothing dropped");
  assert.ok(equalBytes(p.received(), payload), "bytes intact and in order");
  runUntil(r, () => drains === 1, "drain once the queue fell to the low-water mark");
  // Not at the high-water mark, nor at the first completed write: at 8 KB or less, so the peer had
  // taken nearly everything by then.
  assert.ok(queuedAtDrain >= 0 && queuedAtDrain <= 8_192, `drain with at most lowWaterBytes queued (${queuedAtDrain})`);
  assert.ok(receivedAtDrain >= payload.length - 8_192 - 65_536, `drain came late in the transfer (peer had ${receivedAtDrain})`);
  p.end();
  runUntil(r, () => r.metrics().connections === 0, "close");
  await closeClean(r);
});

bp("an echo server pauses reading while its queue is above high water", async () => {
  const r = await simReactor({ highWaterBytes: 16_384, lowWaterBytes: 4_096, poolChunks: 256, pauseReadsAtHighWater: true });
  let maxQueued = 0;
  r.listen({ port: 7 }, { data(c, d) { c.write(d); maxQueued = Math.max(maxQueued, c.queuedBytes); } });
  const p = r.sim!.connect(7);
  r.sim!.setReadRate(p, 0); // the peer stops reading its replies
  const sent = bytes(300_000, 3);
  p.send(sent);
  r.runFor(200);
  const m = r.metrics();
  assert.ok(m.backpressurePauses >= 1, "reading paused");
  assert.ok(maxQueued <= 16_384 + 4 * 4096 + 65_536, `queue bounded by high water plus one turn of reads (${maxQueued})`);
  assert.ok(m.bytesIn < sent.length, `the server stopped reading (${m.bytesIn} of ${sent.length})`);
  r.sim!.setReadRate(p, Infinity);
  runUntil(r, () => p.receivedBytes === sent.length, "everything echoed once the peer reads again");
  assert.ok(equalBytes(p.received(), sent));
  assert.ok(r.metrics().backpressureResumes >= 1, "reading resumed");
  await closeClean(r);
});

bp.run();
