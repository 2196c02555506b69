// The host contract, part 1: each submission kind does what host/contract/contract.ts says, on
// every backend (tests/helpers/contract.ts: the test stands in for the core, peers are real or
// simulated). INTEREST, WRITE (whole chains, partial writes, EAGAIN then EV_WRITABLE), SHUTDOWN,
// CLOSE (graceful and reset, and nothing posted after it), CONNECT (success and refusal).
import { suite } from "uvu";
import * as assert from "uvu/assert";
import { contractTest, K, concat, pattern, evsText, type Ev, type Rig, type Conn } from "../helpers/contract.ts";

const test = suite("contract: submissions");

const of = (c: Conn) => (e: Ev) => e.slot === c.slot;
const reads = (evs: Ev[], c: Conn) => evs.filter((e) => of(c)(e) && e.type === K.EV_READ && e.a !== K.NONE);
const readBytes = (evs: Ev[], c: Conn) => concat(reads(evs, c).map((e) => e.data!));
const eq = (a: Uint8Array, b: Uint8Array, what: string) => {
  assert.is(a.length, b.length, `${what}: length`);
  const i = a.findIndex((x, k) => x !== b[k]);
  assert.is(i, -1, `${what}: first differing byte at ${i}`);
};

/** Writes `bytes` as one chain; returns the EV_WRITE_DONE (after one turn: a completion comes in the turn it ran). */
async function writeOnce(rig: Rig, c: Conn, bytes: Uint8Array, pieces?: number[]): Promise<Ev> {
  const { head } = rig.ring.chain(bytes, pieces);
  rig.ring.write(c.slot, c.gen, c.fd, head, bytes.length);
  const evs = await rig.turn();
  const done = evs.filter((e) => e.type === K.EV_WRITE_DONE);
  assert.is(done.length, 1, `one EV_WRITE_DONE for one WRITE: ${evsText(evs)}`);
  assert.is(done[0].slot, c.slot); assert.is(done[0].gen, c.gen); assert.is(done[0].fd, c.fd);
  rig.ring.releaseChain(head);
  return done[0];
}

contractTest(test, "INTEREST IN_READ: the peer's bytes arrive as EV_READs into supplied chunks; interest 0 reads nothing; IN_READ again reads what waited", async (rig) => {
  const l = await rig.listen();
  const [c] = await rig.accept(l);
  const first = pattern(3000, 0);
  c.peer.send(first);
  let evs = await rig.until((all) => readBytes(all, c).length >= first.length, "3000 bytes read");
  eq(readBytes(evs, c), first, "bytes read");
  for (const e of evs.filter(of(c))) { assert.is(e.gen, c.gen); assert.is(e.fd, c.fd); assert.is(e.err, 0); }

  rig.ring.interest(c.slot, c.gen, c.fd, 0);
  await rig.turn();
  const second = pattern(500, 3000);
  c.peer.send(second);
  evs = await rig.settle();
  assert.equal(evs.filter(of(c)), [], "no interest: nothing reported");

  rig.ring.interest(c.slot, c.gen, c.fd, K.IN_READ);
  evs = await rig.until((all) => readBytes(all, c).length >= second.length, "the waiting bytes read");
  eq(readBytes(evs, c), second, "bytes read after interest returned");
});

contractTest(test, "WRITE: a chain of chunks with varied starts and lengths goes out whole and in order; one EV_WRITE_DONE with every byte and err 0", async (rig) => {
  const l = await rig.listen();
  const [c] = await rig.accept(l);
  const bytes = pattern(5000, 0, 2);
  const done = await writeOnce(rig, c, bytes, [100, 1000, 7, 1, 2000]);
  assert.is(done.b, 5000);
  assert.is(done.err, 0);
  await rig.until(() => c.peer.receivedBytes >= 5000, "the peer received 5000 bytes");
  eq(c.peer.received(), bytes, "what the peer received");
});

/**
 * With the peer not reading, WRITEs 32 KiB pieces of pattern(seed), one a turn, until one ends
 * short with EAGAIN. Returns the bytes taken, and what a core keeps queued: the short piece's
 * chain from byte b on.
 */
async function fillUntilShort(rig: Rig, c: Conn, seed: number): Promise<{ offset: number; rest: number; restBytes: number }> {
  const piece = 32 * 1024;
  let offset = 0;
  for (let i = 0; i < 4096; i++) { // at most 128 MiB: a kernel's buffers are far smaller
    const { head } = rig.ring.chain(pattern(piece, offset, seed));
    rig.ring.write(c.slot, c.gen, c.fd, head, piece);
    const evs = await rig.turn();
    const done = evs.filter((e) => e.type === K.EV_WRITE_DONE);
    assert.is(done.length, 1, `one EV_WRITE_DONE per WRITE: ${evsText(evs)}`);
    const d = done[0];
    assert.ok(d.b <= piece, `b ${d.b} <= bytes ${piece}`);
    offset += d.b;
    if (d.b < piece) {
      assert.is(d.err, K.E_AGAIN, `a short write says EAGAIN (11), got ${d.err}`);
      return { offset, rest: rig.ring.advance(head, d.b), restBytes: piece - d.b };
    }
    assert.is(d.err, 0);
    rig.ring.releaseChain(head);
    await rig.world.tick();
  }
  throw new Error("no write ended short with EAGAIN after 128 MiB");
}

/** Whether `evs` hold an EV_WRITABLE for c. */
const writable = (c: Conn) => (evs: Ev[]) => evs.some((e) => of(c)(e) && e.type === K.EV_WRITABLE);

/**
 * The rest of a short write (the chain `rest`, `bytes` long), as a core sends it once told
 * EV_WRITABLE: IN_WRITE stays on until it is out, and a write that ends short again waits for
 * the next EV_WRITABLE. Returns the bytes written; IN_READ after.
 */
async function sendRest(rig: Rig, c: Conn, rest: number, bytes: number): Promise<number> {
  let left = bytes;
  for (let i = 0; left > 0; i++) {
    assert.ok(i < 1000, `the rest (${left} bytes) did not go out`);
    rig.ring.write(c.slot, c.gen, c.fd, rest, left);
    const evs = await rig.until((all) => all.some((e) => e.type === K.EV_WRITE_DONE), "the rest's completion");
    const at = evs.findIndex((e) => e.type === K.EV_WRITE_DONE), d = evs[at];
    assert.ok(d.err === 0 || d.err === K.E_AGAIN, `err ${d.err}`);
    rest = rig.ring.advance(rest, d.b);
    left -= d.b;
    if (left > 0 && !writable(c)(evs.slice(at + 1))) await rig.until(writable(c), "EV_WRITABLE after the rest ended short", undefined, rig.world.recoveryMs);
  }
  rig.ring.interest(c.slot, c.gen, c.fd, K.IN_READ);
  return bytes;
}

/** sendRest, then the whole stream checked at the peer: the `offset` bytes before the rest and the
 * rest, pattern `seed` from 0. */
async function sendRestAndCheck(rig: Rig, c: Conn, rest: number, restBytes: number, offset: number, seed: number): Promise<void> {
  offset += await sendRest(rig, c, rest, restBytes);
  await rig.until(() => c.peer.receivedBytes >= offset, `the peer received all ${offset} bytes written`, undefined, rig.world.recoveryMs);
  eq(c.peer.received(), pattern(offset, 0, seed), "the stream the peer received");
}

contractTest(test, "WRITE: a peer that stops reading makes a write end short with EAGAIN; with IN_WRITE, EV_WRITABLE comes (at the latest once it reads again), and the rest goes out in order", async (rig) => {
  const l = await rig.listen();
  const [c] = await rig.accept(l);
  c.peer.pauseReading();
  const { offset, rest, restBytes } = await fillUntilShort(rig, c, 3);

  // The turn that sets IN_WRITE may report EV_WRITABLE already, so its events count. EAGAIN
  // says the host holds no more, not that the kernel is full: the portable host on Deno says it
  // once the runtime holds 64 KiB, and every Deno write completes later (a promise), so a late
  // completion makes an early EAGAIN whose queue then drains into the kernel before this turn;
  // this turn posts EV_WRITABLE, once, as a core needs (the next test forces that case). Thrown
  // away, the wait was for a second one that never comes: "not reached ... (none)".
  rig.ring.interest(c.slot, c.gen, c.fd, K.IN_READ | K.IN_WRITE);
  const interestTurn = await rig.turn();
  c.peer.resumeReading();
  if (!writable(c)(interestTurn)) await rig.until(writable(c), "EV_WRITABLE once the peer reads again", undefined, rig.world.recoveryMs);
  await sendRestAndCheck(rig, c, rest, restBytes, offset, 3);
});

contractTest(test, "WRITE: an EV_WRITABLE after a short write means the next WRITE takes bytes, whether the peer still does not read or reads again (no readiness left over from before the EAGAIN)", async (rig) => {
  const l = await rig.listen();
  const [c] = await rig.accept(l);
  c.peer.pauseReading();
  let { offset, rest, restBytes } = await fillUntilShort(rig, c, 11);
  rig.ring.interest(c.slot, c.gen, c.fd, K.IN_READ | K.IN_WRITE);
  // The first WRITE after an EV_WRITABLE, as a core sends it: it must take bytes.
  const writeAfter = async (when: string, evs: Ev[]) => {
    rig.ring.write(c.slot, c.gen, c.fd, rest, restBytes);
    const d = (await rig.until((all) => all.some((e) => e.type === K.EV_WRITE_DONE), "the completion")).find((e) => e.type === K.EV_WRITE_DONE)!;
    assert.ok(d.b > 0, `EV_WRITABLE ${when} (${evsText(evs.filter(of(c)))}), yet the WRITE after it took 0 bytes (err ${d.err}): readiness left over from before the EAGAIN`);
    offset += d.b;
    rest = rig.ring.advance(rest, d.b);
    restBytes -= d.b;
  };
  // A while with the peer still not reading: an EV_WRITABLE now is room the host really has
  // (the portable host on Deno: its runtime drained into the kernel), or it is stale.
  const paused = await rig.settle();
  if (writable(c)(paused)) await writeAfter("while the peer did not read", paused);
  c.peer.resumeReading();
  if (restBytes > 0) {
    const evs = await rig.until(writable(c), "EV_WRITABLE once the peer reads again", undefined, rig.world.recoveryMs);
    await writeAfter("once the peer read again", evs);
  }
  await sendRestAndCheck(rig, c, rest, restBytes, offset, 11);
});

contractTest(test, "WRITE: IN_WRITE asked for after a short write's bytes drained: EV_WRITABLE comes though nothing changes after (a core that asks late is not left waiting)", async (rig) => {
  const l = await rig.listen();
  const [c] = await rig.accept(l);
  const piece = 32 * 1024;
  // Three in one turn: the portable host on Deno ends the third short with EAGAIN (its runtime
  // holds 64 KiB until Deno's writes complete); a kernel takes all three.
  const heads = [0, 1, 2].map((k) => {
    const { head } = rig.ring.chain(pattern(piece, k * piece, 10));
    rig.ring.write(c.slot, c.gen, c.fd, head, piece);
    return head;
  });
  const done = (await rig.turn()).filter((e) => of(c)(e) && e.type === K.EV_WRITE_DONE);
  heads.forEach((h) => rig.ring.releaseChain(h));
  assert.is(done.length, 3, `one EV_WRITE_DONE per WRITE: ${evsText(done)}`);
  let taken = 0;
  for (const d of done) { // the stream as a core sees it: nothing after the first short write
    assert.ok(d.err === 0 ? d.b === piece : d.err === K.E_AGAIN && d.b < piece, `b ${d.b} err ${d.err}: all with 0, or fewer with EAGAIN`);
    taken += d.b;
    if (d.b < piece) break;
  }
  await rig.until(() => c.peer.receivedBytes >= taken, `the peer received the ${taken} bytes taken`);
  rig.ring.interest(c.slot, c.gen, c.fd, K.IN_READ | K.IN_WRITE);
  await rig.until((all) => all.some((e) => of(c)(e) && e.type === K.EV_WRITABLE), "EV_WRITABLE for IN_WRITE on a connection with room");
  rig.ring.interest(c.slot, c.gen, c.fd, K.IN_READ);
  if (taken < 3 * piece) { // the rest, as a core sends it on EV_WRITABLE (the host has room: one write)
    const rest = 3 * piece - taken;
    assert.is((await writeOnce(rig, c, pattern(rest, taken, 10))).b, rest, "the rest, once writable");
  }
  await rig.until(() => c.peer.receivedBytes >= 3 * piece, "the peer received every byte");
  eq(c.peer.received(), pattern(3 * piece, 0, 10), "the stream the peer received");
});

contractTest(test, "SHUTDOWN: the peer reads our FIN after every byte written before it, and can still send; we read that, then its FIN", async (rig) => {
  const l = await rig.listen();
  const [c] = await rig.accept(l);
  const bytes = pattern(2000, 0, 4);
  const { head } = rig.ring.chain(bytes);
  rig.ring.write(c.slot, c.gen, c.fd, head, bytes.length);
  rig.ring.shutdown(c.slot, c.gen, c.fd);
  const evs = await rig.turn();
  assert.equal(evs.filter(of(c)).map((e) => [e.type, e.b, e.err]), [[K.EV_WRITE_DONE, 2000, 0]], `the write completes; SHUTDOWN posts nothing: ${evsText(evs)}`);
  rig.ring.releaseChain(head);
  await rig.until(() => c.peer.gotEnd, "the peer saw our FIN");
  eq(c.peer.received(), bytes, "bytes before the FIN");
  const back = pattern(300, 0, 5);
  c.peer.send(back);
  c.peer.end();
  const got = await rig.until((all) => all.some((e) => of(c)(e) && e.type === K.EV_READ && e.a === K.NONE), "the peer's FIN (EOF)",
    (turn) => { if (turn.some((e) => of(c)(e) && e.type === K.EV_READ && e.a === K.NONE)) rig.ring.interest(c.slot, c.gen, c.fd, 0); });
  eq(readBytes(got, c), back, "half-closed: we still read the peer's bytes");
});

contractTest(test, "CLOSE: the peer gets every byte written before it, then our FIN; nothing more is posted for that descriptor", async (rig) => {
  const l = await rig.listen();
  const [c, other] = await rig.accept(l, 2);
  const bytes = pattern(3000, 0, 6);
  const { head } = rig.ring.chain(bytes);
  rig.ring.write(c.slot, c.gen, c.fd, head, bytes.length);
  rig.close(c);
  const evs = await rig.turn();
  assert.equal(evs.filter(of(c)).map((e) => [e.type, e.b, e.err]), [[K.EV_WRITE_DONE, 3000, 0]], `the write submitted before CLOSE completes: ${evsText(evs)}`);
  rig.ring.releaseChain(head);
  await rig.until(() => c.peer.gotEnd, "the peer saw our FIN");
  eq(c.peer.received(), bytes, "every byte before the FIN");
  assert.not.ok(c.peer.gotReset, "a graceful close is not a reset");
  c.peer.send("late bytes");
  c.peer.end();
  other.peer.send("still here");
  const after = await rig.settle();
  assert.equal(after.filter((e) => e.slot === c.slot || e.fd === c.fd), [], `nothing for the closed descriptor: ${evsText(after)}`);
  assert.ok(readBytes(after, other).length > 0, "the other connection still works");
});

contractTest(test, "CLOSE drops what was pending for the descriptor: bytes waiting to be read and readiness asked for in the same batch post nothing", async (rig) => {
  const l = await rig.listen();
  const [c] = await rig.accept(l, 1, { mask: 0 });
  c.peer.send(pattern(2000, 0, 9));
  await rig.settle(); // the bytes wait: nobody asked to read
  rig.ring.interest(c.slot, c.gen, c.fd, K.IN_READ | K.IN_WRITE);
  rig.close(c);
  const evs = await rig.settle();
  assert.equal(evs.filter((e) => e.slot === c.slot || e.fd === c.fd), [], `nothing for the closed descriptor: ${evsText(evs)}`);
  await rig.until(() => c.peer.gotEnd || c.peer.gotReset, "the peer saw the close");
});

contractTest(test, "CLOSE with SQF_RESET: the peer sees a reset, not a FIN", async (rig) => {
  const l = await rig.listen();
  const [c] = await rig.accept(l);
  c.peer.send("unread");
  await rig.settle();
  rig.close(c, true);
  await rig.until(() => c.peer.gotReset, "the peer saw the reset");
  assert.not.ok(c.peer.gotEnd, "no FIN came before the reset");
  const after = await rig.settle();
  assert.equal(after.filter((e) => e.slot === c.slot || e.fd === c.fd), [], "nothing for the closed descriptor");
});

contractTest(test, "CONNECT: EV_SOCKET_OPENED with a new descriptor, then EV_CONNECTED; bytes flow both ways", async (rig) => {
  const server = await rig.world.server();
  const { slot, gen } = rig.slot();
  rig.host.prepareConnect(slot, gen, { host: server.host, port: server.port });
  rig.ring.connect(slot, gen);
  const evs = await rig.until((all) => all.some((e) => e.slot === slot && e.type === K.EV_CONNECTED), "EV_CONNECTED",);
  const mine = evs.filter((e) => e.slot === slot);
  assert.is(mine[0].type, K.EV_SOCKET_OPENED, `EV_SOCKET_OPENED first: ${evsText(mine)}`);
  assert.is(mine[0].gen, gen);
  assert.ok(mine[0].fd >= 0, "with the descriptor");
  assert.is(mine[0].err, 0);
  assert.equal(mine.slice(1).map((e) => [e.type, e.fd, e.gen, e.err]), [[K.EV_CONNECTED, mine[0].fd, gen, 0]], `then EV_CONNECTED on it, nothing else: ${evsText(mine)}`);
  const fd = mine[0].fd;
  await rig.until(() => server.accepted.length === 1, "the server accepted");
  const c: Conn = { fd, slot, gen, peer: server.accepted[0] };
  rig.ring.interest(slot, gen, fd, K.IN_READ);
  const out = pattern(1000, 0, 7);
  assert.is((await writeOnce(rig, c, out)).b, 1000);
  await rig.until(() => c.peer.receivedBytes >= 1000, "the server received our bytes");
  eq(c.peer.received(), out, "bytes out");
  const back = pattern(700, 0, 8);
  c.peer.send(back);
  const got = await rig.until((all) => readBytes(all, c).length >= 700, "the server's bytes read");
  eq(readBytes(got, c), back, "bytes in");
});

contractTest(test, "CONNECT to a port nobody listens on: EV_SOCKET_OPENED, then EV_CONNECT_FAILED with ECONNREFUSED (111); the descriptor stays open until CLOSE", async (rig) => {
  const port = await rig.world.refusedPort();
  const { slot, gen } = rig.slot();
  rig.host.prepareConnect(slot, gen, { host: "127.0.0.1", port });
  rig.ring.connect(slot, gen);
  const evs = await rig.until((all) => all.some((e) => e.slot === slot && e.type === K.EV_CONNECT_FAILED), "EV_CONNECT_FAILED");
  const mine = evs.filter((e) => e.slot === slot);
  assert.equal(mine.map((e) => e.type), [K.EV_SOCKET_OPENED, K.EV_CONNECT_FAILED], evsText(mine));
  assert.ok(mine[0].fd >= 0);
  assert.is(mine[1].fd, mine[0].fd);
  assert.is(mine[1].err, K.E_CONNREFUSED, `ECONNREFUSED, got ${mine[1].err}`);
  assert.ok(rig.open.has(mine[0].fd), "the descriptor is open (the core closes it)");
  rig.close({ fd: mine[0].fd, slot, gen });
  assert.equal(await rig.settle(), [], "its CLOSE posts nothing");
});

test.run();
