// The host contract, part 4: descriptor ownership and the violation policy (the lead's decision
// in issue 8). The host trusts nothing the core's memory says: a submission on a descriptor it
// does not own for that slot and generation, a bad chunk index, range or chain, an unknown op,
// or a CONNECT with no address is never a syscall on the descriptor. It is counted
// (metrics().host.violations) and answered with the completion the submission would have had:
//   WRITE              → EV_WRITE_DONE, 0 bytes, EBADF (not owned) or EINVAL (bad chunks)
//   INTEREST, SHUTDOWN → EV_READ_ERROR, EBADF, for the slot and gen named
//   CLOSE, unknown op  → nothing
//   CONNECT            → EV_SOCKET_OPENED, fd -1, EINVAL
// Who may name a descriptor (the native shim's wr_fd_owner, the simulator's owned()): a CONNECT's
// socket belongs to its (slot, gen) from the start, a listener or an accepted socket to the
// first record that names it with a slot; every record after must name that (slot, gen). Until
// a record has named it so (the core adopted it), and only then, a CLOSE with slot NONE (the
// core refusing a descriptor) may close it; no other op may name slot NONE.
import { suite } from "uvu";
import * as assert from "uvu/assert";
import { contractTest, K, pattern, evsText, type Ev, type Rig, type Conn } from "../helpers/contract.ts";

const test = suite("contract: violations");

const EBADF = 9, EINVAL = 22;
const shape = (evs: Ev[]) => evs.map((e) => [e.type, e.slot, e.gen, e.fd, e.b, e.err]);
const eq = (a: Uint8Array, b: Uint8Array, what: string) => {
  assert.is(a.length, b.length, `${what}: length`);
  assert.is(a.findIndex((x, k) => x !== b[k]), -1, `${what}: bytes`);
};

/** The host's violation count moved by exactly n. */
function counted(rig: Rig, before: number, n: number): void {
  assert.is(rig.violations(), before + n, `${n} contract violations counted in metrics().host.violations`);
}

/** An accepted connection, bound (its INTEREST ran), and the violation count now. */
async function bound(rig: Rig): Promise<{ c: Conn; v0: number }> {
  const l = await rig.listen();
  const [c] = await rig.accept(l);
  assert.equal(await rig.turn(), []);
  return { c, v0: rig.violations() ?? 0 };
}

/** After the violations: the connection still works both ways, and the peer got only `after`. */
async function unharmed(rig: Rig, c: Conn): Promise<void> {
  assert.not.ok(c.peer.gotEnd || c.peer.gotReset, "the peer saw no FIN and no reset");
  const out = pattern(600, 0, 40);
  const { head } = rig.ring.chain(out);
  rig.ring.write(c.slot, c.gen, c.fd, head, out.length);
  const done = (await rig.turn()).filter((e) => e.type === K.EV_WRITE_DONE);
  rig.ring.releaseChain(head);
  assert.equal(shape(done), [[K.EV_WRITE_DONE, c.slot, c.gen, c.fd, 600, 0]], "a valid WRITE still goes out");
  await rig.until(() => c.peer.receivedBytes >= 600, "the peer received the valid write");
  await rig.settle();
  eq(c.peer.received(), out, "the peer received the valid write and nothing else");
  c.peer.send("ping");
  await rig.until((all) => all.some((e) => e.slot === c.slot && e.gen === c.gen && e.type === K.EV_READ && e.b === 4), "reading still works");
}

contractTest(test, "a descriptor the host never opened is never touched: WRITE → EBADF, INTEREST and SHUTDOWN → EV_READ_ERROR EBADF, CLOSE → nothing; each counted", async (rig) => {
  const f = rig.world.foreign();
  try {
    const v0 = rig.violations() ?? 0;
    const { slot, gen } = rig.slot();
    const { head } = rig.ring.chain(pattern(10));
    rig.ring.write(slot, gen, f.fd, head, 10);
    rig.ring.interest(slot, gen, f.fd, K.IN_READ);
    rig.ring.shutdown(slot, gen, f.fd);
    rig.ring.close(slot, gen, f.fd);
    rig.ring.close(K.NONE, 0, f.fd, true);
    const evs = await rig.turn();
    rig.ring.releaseChain(head);
    assert.equal(shape(evs), [
      [K.EV_WRITE_DONE, slot, gen, f.fd, 0, EBADF],
      [K.EV_READ_ERROR, slot, gen, f.fd, 0, EBADF],
      [K.EV_READ_ERROR, slot, gen, f.fd, 0, EBADF],
    ], evsText(evs));
    assert.equal(await rig.settle(), [], "nothing more");
    assert.is(f.damage(), undefined, "the descriptor is as it was");
    counted(rig, v0, 5);
  } finally { f.dispose(); }
});

contractTest(test, "a descriptor closed already is no longer the host's: WRITE → EBADF, INTEREST → EV_READ_ERROR EBADF, a second CLOSE → nothing; counted", async (rig) => {
  const { c, v0 } = await bound(rig);
  rig.close(c);
  assert.equal(await rig.turn(), []);
  const { head } = rig.ring.chain(pattern(10));
  rig.ring.write(c.slot, c.gen, c.fd, head, 10);
  rig.ring.interest(c.slot, c.gen, c.fd, K.IN_READ);
  rig.ring.close(c.slot, c.gen, c.fd);
  const evs = await rig.turn();
  rig.ring.releaseChain(head);
  assert.equal(shape(evs), [[K.EV_WRITE_DONE, c.slot, c.gen, c.fd, 0, EBADF], [K.EV_READ_ERROR, c.slot, c.gen, c.fd, 0, EBADF]], evsText(evs));
  counted(rig, v0, 3);
});

contractTest(test, "another slot's or generation's name for an owned descriptor is not acted on: WRITE → EBADF, INTEREST and SHUTDOWN → EV_READ_ERROR EBADF for that name, CLOSE → nothing; the connection is unharmed", async (rig) => {
  const { c, v0 } = await bound(rig);
  const other = rig.slot();
  const bytes = pattern(10);
  const { head } = rig.ring.chain(bytes);
  rig.ring.write(c.slot, c.gen + 1, c.fd, head, 10);
  rig.ring.write(other.slot, c.gen, c.fd, head, 10);
  rig.ring.interest(c.slot, c.gen + 1, c.fd, 0);
  rig.ring.shutdown(other.slot, other.gen, c.fd);
  rig.ring.close(c.slot, c.gen + 1, c.fd, true);
  rig.ring.close(other.slot, other.gen, c.fd);
  const evs = await rig.turn();
  rig.ring.releaseChain(head);
  assert.equal(shape(evs), [
    [K.EV_WRITE_DONE, c.slot, c.gen + 1, c.fd, 0, EBADF],
    [K.EV_WRITE_DONE, other.slot, c.gen, c.fd, 0, EBADF],
    [K.EV_READ_ERROR, c.slot, c.gen + 1, c.fd, 0, EBADF],
    [K.EV_READ_ERROR, other.slot, other.gen, c.fd, 0, EBADF],
  ], evsText(evs));
  counted(rig, v0, 6);
  await unharmed(rig, c);
});

contractTest(test, "a bad chunk index, range or chain: EV_WRITE_DONE with 0 bytes and EINVAL (22), not a byte sent; counted; the connection is unharmed", async (rig) => {
  const { c, v0 } = await bound(rig);
  const r = rig.ring, size = r.chunkSize, count = r.chunkCount;
  const held: number[] = [];
  const chunk = (next: number, start: number, len: number) => { const x = r.alloc(); held.push(x); r.meta(x, next, start, len); return x; };
  const cases: [string, number, number][] = [];
  cases.push(["index at the chunk count", count, 10]);
  cases.push(["index far past it", 0xfffffff0, 10]);
  cases.push(["a good chunk, then an index past the count", chunk(count + 5, 0, 10), 20]);
  cases.push(["start + len past the chunk", chunk(K.NONE, size - 4, 10), 10]);
  cases.push(["start + len wrapping 32 bits", chunk(K.NONE, 0xfffffff0, 0x20), 16]);
  cases.push(["len over the chunk size", chunk(K.NONE, 0, size + 1), size + 1]);
  cases.push(["a chain shorter than its byte count", chunk(chunk(K.NONE, 0, 50), 0, 50), 101]);
  const a = chunk(K.NONE, 0, 10), b = chunk(a, 0, 10);
  r.meta(a, b, 0, 10); // a → b → a → ...
  cases.push(["a chain that loops for ever (more bytes than the whole pool holds)", a, (count + 1) * size]);
  cases.push(["a chain that comes back to a chunk within its byte count", a, 30]);
  for (const [, head, bytes] of cases) r.write(c.slot, c.gen, c.fd, head, bytes);
  const evs = await rig.turn();
  assert.equal(shape(evs), cases.map(() => [K.EV_WRITE_DONE, c.slot, c.gen, c.fd, 0, EINVAL]),
    `one EINVAL completion per bad WRITE (${cases.map((x) => x[0]).join("; ")}): ${evsText(evs)}`);
  counted(rig, v0, cases.length);
  await rig.settle();
  assert.is(c.peer.receivedBytes, 0, "not a byte reached the peer");
  held.forEach((x) => r.release(x));
  await unharmed(rig, c);
});

contractTest(test, "an unknown op posts nothing and the rest of the batch still runs; counted", async (rig) => {
  const { c, v0 } = await bound(rig);
  rig.ring.submit(0, 0, c.slot, c.gen, c.fd, 0, 0);
  rig.ring.submit(99, 0, c.slot, c.gen, c.fd, 1, 1);
  const { head } = rig.ring.chain(pattern(5));
  rig.ring.write(c.slot, c.gen, c.fd, head, 5);
  const evs = await rig.turn();
  rig.ring.releaseChain(head);
  assert.equal(shape(evs), [[K.EV_WRITE_DONE, c.slot, c.gen, c.fd, 5, 0]], evsText(evs));
  counted(rig, v0, 2);
  await rig.until(() => c.peer.receivedBytes >= 5, "the write after them went out");
});

contractTest(test, "CONNECT with no address prepared for that slot and generation: EV_SOCKET_OPENED with fd -1 and EINVAL; no descriptor opened; counted", async (rig) => {
  const v0 = rig.violations() ?? 0;
  const a = rig.slot(), b = rig.slot();
  const server = await rig.world.server();
  rig.host.prepareConnect(b.slot, b.gen, { host: server.host, port: server.port });
  rig.ring.connect(a.slot, a.gen);
  rig.ring.connect(b.slot, b.gen + 1);
  const evs = await rig.turn();
  assert.equal(shape(evs), [[K.EV_SOCKET_OPENED, a.slot, a.gen, -1, 0, EINVAL], [K.EV_SOCKET_OPENED, b.slot, b.gen + 1, -1, 0, EINVAL]], evsText(evs));
  counted(rig, v0, 2);
  assert.equal(await rig.settle(), [], "nothing more");
  assert.is(rig.open.size, 0, "no descriptor opened");
  assert.is(server.accepted.length, 0, "no connection made");
});

contractTest(test, "a record other than CLOSE naming slot NONE is not acted on (EBADF) and binds nothing; the descriptor is then bound by the core's first record", async (rig) => {
  const l = await rig.listen();
  const v0 = rig.violations() ?? 0;
  const peer = rig.world.dial(l.port);
  const evs = await rig.until((all) => all.some((e) => e.type === K.EV_ACCEPTED), "accepted");
  const fd = evs.find((e) => e.type === K.EV_ACCEPTED)!.fd;
  const { head } = rig.ring.chain(pattern(10));
  rig.ring.interest(K.NONE, 0, fd, K.IN_READ);
  rig.ring.write(K.NONE, 0, fd, head, 10);
  const bad = await rig.turn();
  rig.ring.releaseChain(head);
  assert.equal(shape(bad), [[K.EV_READ_ERROR, K.NONE, 0, fd, 0, EBADF], [K.EV_WRITE_DONE, K.NONE, 0, fd, 0, EBADF]], evsText(bad));
  counted(rig, v0, 2);
  const { slot, gen } = rig.slot();
  rig.open.set(fd, { slot, gen });
  rig.ring.interest(slot, gen, fd, K.IN_READ);
  peer.send("hello");
  await rig.until((all) => all.some((e) => e.slot === slot && e.gen === gen && e.type === K.EV_READ && e.b === 5), "read under the slot that bound it");
  counted(rig, v0, 2);
});

contractTest(test, "once the core adopted a descriptor, a CLOSE with slot NONE (and closeDescriptor) is a violation and closes nothing", async (rig) => {
  const { c, v0 } = await bound(rig);
  rig.ring.close(K.NONE, 0, c.fd, true);
  assert.equal(await rig.turn(), []);
  let n = 1;
  if (rig.host.closeDescriptor) { rig.host.closeDescriptor(c.fd); n++; }
  counted(rig, v0, n);
  await unharmed(rig, c);
});

contractTest(test, "a CONNECT's socket that no record named yet (a stale connect the core refuses) closes with slot NONE; not a violation", async (rig) => {
  const server = await rig.world.server();
  const v0 = rig.violations() ?? 0;
  const { slot, gen } = rig.slot();
  rig.host.prepareConnect(slot, gen, { host: server.host, port: server.port });
  rig.ring.connect(slot, gen);
  const evs = await rig.until((all) => all.some((e) => e.slot === slot && e.type === K.EV_CONNECTED), "connected");
  const fd = evs.find((e) => e.type === K.EV_SOCKET_OPENED)!.fd;
  rig.close({ fd, slot: K.NONE, gen: 0 }, true);
  await rig.until(() => server.accepted.length === 1 && (server.accepted[0].gotReset || server.accepted[0].gotEnd), "the server's side saw the close");
  assert.equal(await rig.settle(), [], "nothing posted");
  counted(rig, v0, 0);
});

contractTest(test, "CLOSE with slot NONE (the core refusing a descriptor it never took over) closes it: with SQF_RESET the peer sees a reset; not a violation", async (rig) => {
  const l = await rig.listen();
  const v0 = rig.violations() ?? 0;
  const peer = rig.world.dial(l.port);
  const evs = await rig.until((all) => all.some((e) => e.type === K.EV_ACCEPTED), "accepted");
  const fd = evs.find((e) => e.type === K.EV_ACCEPTED)!.fd;
  rig.close({ fd, slot: K.NONE, gen: 0 }, true);
  await rig.until(() => peer.gotReset, "the peer saw the reset");
  counted(rig, v0, 0);
});

test.run();
