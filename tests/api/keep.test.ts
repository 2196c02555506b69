// conn.keep(data): bytes kept past their data callback without a copy (host/reactor/keep.ts).
// A length-prefixed protocol parsed across partial reads, with tails kept rather than copied;
// the limits (per connection, pool low) decline with undefined; a connection's close releases
// what it kept; write(kept) queues the chunk itself; a run that keeps replays identically.
import { suite } from "uvu";
import * as assert from "uvu/assert";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { replayFile, type Connection, type Kept, type Reactor } from "../../host/index.ts";
import { simReactor, runUntil, closeClean } from "../helpers/sim.ts";
import { throwsCode } from "../helpers/errors.ts";

const test = suite("api: keep");
const dir = mkdtempSync(join(tmpdir(), "wr-keep-"));
test.after(() => rmSync(dir, { recursive: true, force: true }));

/** Chunks out of the free list and the supply: held by connections, the app, or in flight. */
const taken = (r: Reactor) => { const m = r.metrics(); return r.options.poolChunks - m.poolFree - m.poolSupply; };

/**
 * Frames are a 4-byte big-endian length and that many bytes. The parser keeps the parts of a
 * frame that is not complete yet (one handle per part, no copy), and when it completes writes
 * the frame back part by part: write(kept) queues a chunk as it is when nothing else holds it.
 */
interface Frames { parts: (Kept | Uint8Array)[]; have: number; need: number; head: number[]; frames: number; copies: number }
const parsed = { kept: 0, copied: 0, frames: 0 };
const framing = {
  open(c: Connection) { c.data = { parts: [], have: 0, need: -1, head: [], frames: 0, copies: 0 } satisfies Frames; },
  data(c: Connection, d: Uint8Array) {
    const f = c.data as Frames;
    let off = 0;
    while (off < d.length) {
      if (f.need < 0) { // the length prefix, which may itself be split
        while (off < d.length && f.head.length < 4) f.head.push(d[off++]);
        if (f.head.length < 4) return;
        f.need = ((f.head[0] << 24) | (f.head[1] << 16) | (f.head[2] << 8) | f.head[3]) >>> 0;
        f.head = [];
        c.write(new Uint8Array([(f.need >>> 24) & 255, (f.need >>> 16) & 255, (f.need >>> 8) & 255, f.need & 255]));
      }
      const n = Math.min(f.need - f.have, d.length - off);
      const part = d.subarray(off, off + n);
      off += n;
      f.have += n;
      if (f.have < f.need || f.parts.length > 0) {
        // Part of a frame that is not complete, or its last part: kept (declined: a copy).
        const k = part.length ? c.keep(part) : undefined;
        if (k) { f.parts.push(k); parsed.kept++; }
        else if (part.length) { f.copies++; parsed.copied++; f.parts.push(part.slice()); }
        if (f.have < f.need) continue;
        for (const q of f.parts) c.write(q);
      } else if (part.length) {
        c.write(part); // a whole frame inside this read: written as it is
      }
      f.parts = []; f.have = 0; f.need = -1; f.frames++; parsed.frames++;
    }
  },
};

function frame(len: number, fill: number): Uint8Array {
  const b = new Uint8Array(4 + len);
  new DataView(b.buffer).setUint32(0, len);
  for (let i = 0; i < len; i++) b[4 + i] = (fill + i) & 255;
  return b;
}

test("a framed protocol across partial reads: tails are kept, not copied, and every chunk comes back", async () => {
  const r = await simReactor({ chunkSize: 1024, poolChunks: 64, sim: { faults: { readPartialProbability: 0.5 } } });
  r.listen({ port: 7 }, framing);
  Object.assign(parsed, { kept: 0, copied: 0, frames: 0 });
  const p = r.sim!.connect(7);
  const frames = [frame(10, 1), frame(3000, 2), frame(1, 3), frame(2500, 4), frame(0, 5), frame(700, 6)];
  // Sent in uneven pieces, so frames and even length prefixes straddle reads.
  const all = new Uint8Array(frames.reduce((n, f) => n + f.length, 0));
  let at = 0;
  for (const f of frames) { all.set(f, at); at += f.length; }
  for (let off = 0, i = 0; off < all.length; i++) {
    const n = Math.min([3, 900, 1, 2047, 5][i % 5], all.length - off);
    p.send(all.subarray(off, off + n));
    off += n;
    r.runFor(2);
  }
  runUntil(r, () => p.receivedBytes === all.length, "every frame echoed");
  assert.equal(p.received(), all, "echoed byte for byte, in order");
  assert.is(parsed.frames, frames.length);
  assert.ok(parsed.kept > 5, `parts kept without a copy: ${parsed.kept} (copied: ${parsed.copied})`);
  runUntil(r, () => taken(r) === 0, "the pool whole again");
  p.end();
  await closeClean(r);
});

test("keep() declines, with undefined, what it cannot keep: app memory, a chunk already written, past the per-connection cap", async () => {
  const r = await simReactor({ keepChunksPerConnection: 2 });
  const seen: (string | undefined)[] = [];
  const kept: Kept[] = [];
  r.listen({ port: 7 }, {
    data(c, d) {
      const mine = new Uint8Array(4);
      seen.push(c.keep(mine) === undefined ? "app memory declined" : "kept app memory?!");
      const k = c.keep(d);
      if (!k) { seen.push("declined at the cap"); return; }
      kept.push(k);
      const again = c.keep(d.subarray(0, 1)); // a second part of the same chunk shares it
      assert.ok(again !== undefined && again.live, "a second part of a kept chunk");
      again.release();
      assert.ok(k.live, "the first handle still holds the chunk");
    },
  });
  const p = r.sim!.connect(7);
  for (let i = 0; i < 3; i++) { p.send(`m${i}`); r.runFor(5); }
  runUntil(r, () => seen.filter((s) => s === "app memory declined").length === 3, "three reads");
  assert.is(kept.length, 2, "two chunks kept");
  assert.ok(seen.includes("declined at the cap"));
  assert.is(taken(r), 2, "two chunks held by the app");
  // Written back data cannot be kept: the chunk belongs to the write queue now.
  let afterWrite: Kept | undefined | "unset" = "unset";
  r.listen({ port: 8 }, { data(c, d) { c.write(d); afterWrite = c.keep(d); } });
  const q = r.sim!.connect(8);
  q.send("echo");
  runUntil(r, () => q.receivedText() === "echo", "echo");
  assert.is(afterWrite, undefined);
  for (const k of kept) k.release();
  assert.ok(kept.every((k) => !k.live));
  throwsCode(() => kept[0].bytes, "ERR_KEPT_RELEASED");
  p.end(); q.end();
  await closeClean(r);
});

test("keep() declines while the pool is low: keeping never takes it below twice its reserve", async () => {
  const r = await simReactor({ poolChunks: 16, poolReserveChunks: 4, chunkSize: 256, keepChunksPerConnection: 100 });
  const kept: Kept[] = [];
  let declined = 0;
  r.listen({ port: 7 }, { data(c, d) { const k = c.keep(d); if (k) kept.push(k); else declined++; } });
  const peers = Array.from({ length: 12 }, () => r.sim!.connect(7));
  for (let i = 0; i < 4; i++) { for (const p of peers) p.send(new Uint8Array(100).fill(i)); r.runFor(5); }
  runUntil(r, () => declined > 0, "a keep declined");
  assert.ok(kept.length <= 16 - 8, `kept ${kept.length} of 16 chunks with a reserve of 4`);
  for (const k of kept) k.release();
  for (const p of peers) p.end();
  await closeClean(r);
});

test("a connection's close releases what it kept (after its close handler), and the handles say so", async () => {
  const r = await simReactor();
  let k: Kept | undefined;
  let liveInClose: boolean | undefined;
  r.listen({ port: 7 }, { data(c, d) { k ??= c.keep(d); }, close() { liveInClose = k?.live; } });
  const p = r.sim!.connect(7);
  p.send("held");
  runUntil(r, () => k !== undefined, "kept");
  assert.is(new TextDecoder().decode(k!.bytes), "held");
  assert.is(taken(r), 1);
  p.reset();
  runUntil(r, () => r.metrics().connections === 0, "closed");
  assert.is(liveInClose, true, "still readable in the close handler");
  assert.is(k!.live, false);
  throwsCode(() => k!.bytes, "ERR_KEPT_RELEASED");
  k!.release(); // does nothing now
  runUntil(r, () => taken(r) === 0, "the chunk back in the pool (the gauges refresh at flush)");
  await closeClean(r);
});

test("write(kept) on another connection queues the chunk itself (a proxy); the handle is spent", async () => {
  const r = await simReactor();
  let upstream = "";
  const held: Kept[] = [];
  r.sim!.serve(80, { onconnection(peer) { peer.ondata = (b) => { upstream += new TextDecoder().decode(b); }; } });
  r.listen({ port: 7 }, { data(c, d) { const k = c.keep(d); if (k) held.push(k); } });
  const out: Connection = r.connect({ port: 80 }, {});
  const p = r.sim!.connect(7);
  p.send("forward me");
  runUntil(r, () => held.length === 1 && out.state === "open", "kept, and the upstream open");
  const k = held[0];
  const sub = k.subarray(0, 7); // shares the chunk: writing it copies
  assert.is(out.write(sub), true);
  assert.is(sub.live, false);
  assert.ok(k.live, "the other handle still holds the chunk");
  assert.is(out.write(k), true); // the only handle now: queued as it is
  assert.is(k.live, false);
  throwsCode(() => out.write(k), "ERR_KEPT_RELEASED");
  runUntil(r, () => upstream === "forward" + "forward me", "both writes upstream, in order");
  runUntil(r, () => taken(r) === 0, "nothing held");
  p.end(); out.end();
  await closeClean(r);
});

test("a recorded run that keeps and releases chunks replays identically", async () => {
  const path = join(dir, "keep.trace");
  const r = await simReactor({ record: { path }, chunkSize: 1024, sim: { faults: { readPartialProbability: 0.3 } } });
  r.listen({ port: 7 }, framing);
  const p = r.sim!.connect(7);
  for (let i = 0; i < 6; i++) { p.send(frame(300 + 211 * i, i)); r.runFor(3); }
  runUntil(r, () => p.receivedBytes === [0, 1, 2, 3, 4, 5].reduce((n, i) => n + 304 + 211 * i, 0), "echoed");
  p.end();
  await closeClean(r);
  const res = await replayFile(path);
  assert.ok(res.identical, JSON.stringify(res.divergence));
});

test.run();
