// The host contract, part 2: reading. FIN with data (EV_READs, then one 0-byte EV_READ), bytes
// and FIN that came before the accept, a peer's reset (ECONNRESET, then EPIPE or ECONNRESET on
// write, Linux numbers), the per-connection read budget, and no reading at all (nor spinning)
// with HOST_READS_PAUSED or an empty supply ring.
import { suite } from "uvu";
import * as assert from "uvu/assert";
import { contractTest, K, concat, pattern, evsText, type Ev, type Rig, type Conn } from "../helpers/contract.ts";

const test = suite("contract: reads");

const of = (c: Conn) => (e: Ev) => e.slot === c.slot;
const isEof = (e: Ev) => e.type === K.EV_READ && e.a === K.NONE;
const reads = (evs: Ev[], c: Conn) => evs.filter((e) => of(c)(e) && e.type === K.EV_READ && e.a !== K.NONE);
const readBytes = (evs: Ev[], c: Conn) => concat(reads(evs, c).map((e) => e.data!));
const eq = (a: Uint8Array, b: Uint8Array, what: string) => {
  assert.is(a.length, b.length, `${what}: length`);
  assert.is(a.findIndex((x, k) => x !== b[k]), -1, `${what}: bytes`);
};
/** The core's reflex: once a connection has read EOF or an error, it stops asking to read. */
const stopAtEnd = (rig: Rig, c: Conn) => (evs: Ev[]) => {
  if (evs.some((e) => of(c)(e) && (isEof(e) || e.type === K.EV_READ_ERROR))) rig.ring.interest(c.slot, c.gen, c.fd, 0);
};

/** FIN with data: every byte, in order, then exactly one EOF, and nothing after it. */
async function finWithData(rig: Rig, c: Conn, sent: Uint8Array): Promise<void> {
  const evs = await rig.until((all) => all.some((e) => of(c)(e) && isEof(e)), "EOF", stopAtEnd(rig, c));
  const mine = evs.filter(of(c));
  eq(readBytes(mine, c), sent, "the bytes before the FIN");
  assert.ok(isEof(mine[mine.length - 1]), `the EOF comes last: ${evsText(mine.slice(-3))}`);
  assert.is(mine.filter(isEof).length, 1, "one EOF");
  const eof = mine[mine.length - 1];
  assert.equal([eof.gen, eof.fd, eof.b, eof.err], [c.gen, c.fd, 0, 0], "EOF: chunk NONE, 0 bytes, err 0");
  assert.equal((await rig.settle()).filter(of(c)), [], "nothing after the EOF");
}

contractTest(test, "FIN with data: EV_READs with every byte, then one EV_READ with chunk NONE and 0 bytes; nothing after it", async (rig) => {
  const l = await rig.listen();
  const [c] = await rig.accept(l);
  const sent = pattern(6 * rig.ring.chunkSize + 100, 0, 11); // more than a turn's reads: the FIN waits behind them
  c.peer.send(sent);
  c.peer.end();
  await finWithData(rig, c, sent);
});

contractTest(test, "bytes and a FIN that came before the accept are read after it, the same way", async (rig) => {
  const l = await rig.listen();
  const sent = pattern(5 * rig.ring.chunkSize + 50, 0, 12);
  const [c] = await rig.accept(l, 1, { early: (p) => { p.send(sent); p.end(); } });
  await finWithData(rig, c, sent);
});

contractTest(test, "a peer's reset: EV_READ_ERROR with ECONNRESET (104); a WRITE after it: EV_WRITE_DONE with 0 bytes and EPIPE (32) or ECONNRESET (104)", async (rig) => {
  const l = await rig.listen();
  const [c] = await rig.accept(l);
  c.peer.reset();
  const evs = await rig.until((all) => all.some((e) => of(c)(e) && e.type === K.EV_READ_ERROR), "EV_READ_ERROR", stopAtEnd(rig, c));
  const err = evs.find((e) => of(c)(e) && e.type === K.EV_READ_ERROR)!;
  assert.equal([err.gen, err.fd, err.err], [c.gen, c.fd, K.E_CONNRESET], `ECONNRESET: ${evsText([err])}`);
  const { head } = rig.ring.chain(pattern(100));
  rig.ring.write(c.slot, c.gen, c.fd, head, 100);
  const done = (await rig.turn()).filter((e) => e.type === K.EV_WRITE_DONE);
  rig.ring.releaseChain(head);
  assert.is(done.length, 1);
  assert.is(done[0].b, 0);
  assert.ok(done[0].err === K.E_PIPE || done[0].err === K.E_CONNRESET, `EPIPE or ECONNRESET, got ${done[0].err}`);
});

contractTest(test, "readsPerConn: at most that many EV_READs per connection per turn; every byte arrives, in order", async (rig) => {
  const l = await rig.listen();
  const [a, b] = await rig.accept(l, 2, { mask: 0 });
  const sentA = pattern(10 * rig.ring.chunkSize, 0, 13), sentB = pattern(7 * rig.ring.chunkSize, 0, 14);
  a.peer.send(sentA);
  b.peer.send(sentB);
  await rig.settle(); // the bytes wait in the host's socket buffers: nobody asked to read yet
  rig.ring.budgets({ readsPerConn: 2 });
  rig.ring.interest(a.slot, a.gen, a.fd, K.IN_READ);
  rig.ring.interest(b.slot, b.gen, b.fd, K.IN_READ);
  let most = 0;
  const evs = await rig.until((all) => readBytes(all, a).length >= sentA.length && readBytes(all, b).length >= sentB.length, "every byte read", (turn) => {
    for (const c of [a, b]) {
      const n = reads(turn, c).length;
      assert.ok(n <= 2, `${n} EV_READs for one connection in one turn, budget 2: ${evsText(turn)}`);
      most = Math.max(most, n);
    }
  });
  assert.is(most, 2, "the budget was reached (so it was what bound the reads)");
  eq(readBytes(evs, a), sentA, "connection a");
  eq(readBytes(evs, b), sentB, "connection b");
});

/** Nothing read while `hold` holds back the reads, no spinning, then everything once `release` lets go. */
async function heldReads(rig: Rig, hold: () => void, release: () => void): Promise<void> {
  const l = await rig.listen();
  const [c] = await rig.accept(l, 1, { mask: 0 });
  const sent = pattern(5000, 0, 15);
  c.peer.send(sent);
  await rig.settle();
  hold();
  rig.ring.interest(c.slot, c.gen, c.fd, K.IN_READ);
  const supplyHead = rig.ring.supplyHead;
  const held = await rig.settle();
  assert.equal(held, [], `nothing read: ${evsText(held)}`);
  assert.is(rig.ring.supplyHead, supplyHead, "no chunk taken from the supply ring");
  const idle = await rig.idle(200);
  assert.equal(idle.evs, [], "nothing read while waiting");
  assert.ok(idle.waited, "the host waited for the timeout: a readable socket it may not read does not make it spin");
  release();
  const evs = await rig.until((all) => readBytes(all, c).length >= sent.length, "every byte read once released");
  eq(readBytes(evs, c), sent, "the bytes");
}

contractTest(test, "HOST_READS_PAUSED: nothing read (no chunk taken), no spinning; reads resume when it clears", async (rig) => {
  await heldReads(rig, () => rig.ring.budgets({ hostFlags: K.HOST_READS_PAUSED }), () => rig.ring.budgets({ hostFlags: 0 }));
});

contractTest(test, "an empty supply ring: nothing read, no spinning; reads resume when chunks come", async (rig) => {
  rig.autoSupply = false;
  await heldReads(rig, () => {}, () => { rig.autoSupply = true; });
});

test.run();
