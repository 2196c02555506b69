// The host contract, part 3: the budgets the core publishes per turn, and the event ring's room.
// Accepts stop at acceptBudget (over all listeners) and at HOST_ACCEPTS_PAUSED; a host never
// posts more events than fit in the ring, and what does not fit (readiness or completions)
// comes in later turns, once, in order.
import { suite } from "uvu";
import * as assert from "uvu/assert";
import { contractTest, K, concat, pattern, evsText, type Ev, type Conn } from "../helpers/contract.ts";

const test = suite("contract: budgets");

const accepted = (evs: Ev[]) => evs.filter((e) => e.type === K.EV_ACCEPTED);
const readBytes = (evs: Ev[], c: Conn) => concat(evs.filter((e) => e.slot === c.slot && e.type === K.EV_READ && e.a !== K.NONE).map((e) => e.data!));
const eq = (a: Uint8Array, b: Uint8Array, what: string) => {
  assert.is(a.length, b.length, `${what}: length`);
  assert.is(a.findIndex((x, k) => x !== b[k]), -1, `${what}: bytes`);
};

contractTest(test, "acceptBudget: at most that many accepts per turn over all listeners; 0 accepts none; every waiting peer is accepted in time", async (rig) => {
  const l1 = await rig.listen(), l2 = await rig.listen();
  rig.ring.budgets({ acceptBudget: 0 });
  await rig.world.dialAll(l1.port, 5);
  await rig.world.dialAll(l2.port, 4);
  const none = await rig.settle();
  assert.equal(accepted(none), [], `budget 0: nothing accepted: ${evsText(none)}`);
  rig.ring.budgets({ acceptBudget: 3 });
  let most = 0;
  const evs = await rig.until((all) => accepted(all).length >= 9, "all 9 accepted", (turn) => {
    const n = accepted(turn).length;
    assert.ok(n <= 3, `${n} accepts in one turn, budget 3: ${evsText(turn)}`);
    most = Math.max(most, n);
  });
  assert.is(most, 3, "the budget was reached");
  const got = accepted(evs);
  assert.is(got.filter((e) => e.slot === l1.slot && e.gen === l1.gen && e.fd >= 0).length, 5, "5 on the first listener, named by its slot and gen");
  assert.is(got.filter((e) => e.slot === l2.slot && e.gen === l2.gen && e.fd >= 0).length, 4, "4 on the second");
  assert.is(new Set(got.map((e) => e.fd)).size, 9, "nine distinct descriptors");
  assert.equal((await rig.settle()).filter((e) => e.type === K.EV_ACCEPTED), [], "nothing more");
});

contractTest(test, "acceptBudget is shared: with two listeners flooded, each accepts within the first two turns' budget (a flood on one port cannot starve another)", async (rig) => {
  const l1 = await rig.listen(), l2 = await rig.listen();
  rig.ring.budgets({ acceptBudget: 0 });
  await rig.world.dialAll(l1.port, 8);
  await rig.world.dialAll(l2.port, 8);
  await rig.settle();
  rig.ring.budgets({ acceptBudget: 2 });
  const turns: [number, number][] = [];
  await rig.until((all) => accepted(all).length >= 16, "all 16 accepted", (turn) => {
    const got = accepted(turn);
    if (got.length) turns.push([got.filter((e) => e.slot === l1.slot).length, got.filter((e) => e.slot === l2.slot).length]);
  });
  const first = turns.slice(0, 2).reduce((a, t) => [a[0] + t[0], a[1] + t[1]], [0, 0]);
  assert.ok(first[0] > 0 && first[1] > 0, `both listeners accept in the first two turns that accept (per turn: ${JSON.stringify(turns)})`);
});

contractTest(test, "HOST_ACCEPTS_PAUSED: nothing accepted while it is set; the waiting peers are accepted once it clears", async (rig) => {
  const l = await rig.listen();
  rig.ring.budgets({ hostFlags: K.HOST_ACCEPTS_PAUSED });
  await rig.world.dialAll(l.port, 3);
  const held = await rig.settle();
  assert.equal(accepted(held), [], `paused: nothing accepted: ${evsText(held)}`);
  rig.ring.budgets({ hostFlags: 0 });
  await rig.until((all) => accepted(all).length >= 3, "3 accepted after the pause");
});

contractTest(test, "the event ring: never more events than fit, even with it left half full; what did not fit comes later, none lost or repeated", async (rig) => {
  const l = await rig.listen();
  const conns = await rig.accept(l, 12, { mask: 0 });
  const sent = conns.map((_, i) => pattern(3 * rig.ring.chunkSize + 100 * i, 0, 20 + i));
  conns.forEach((c, i) => c.peer.send(sent[i]));
  await rig.settle();
  for (const c of conns) rig.ring.interest(c.slot, c.gen, c.fd, K.IN_READ);
  // 12 connections × 3 chunks = 36 reads (+ 11 for the odd bytes) into a ring of 16 that the
  // test leaves holding 8 events it has not taken after every turn: at most 8 fit in the next.
  const all: Ev[] = [];
  const cap = rig.ring.eventCap, keep = cap / 2;
  let full = 0;
  for (let turn = 0; turn < 2000 && conns.some((c, i) => readBytes(all, c).length < sent[i].length); turn++) {
    const before = rig.ring.pending;
    rig.ring.supply();
    rig.host.execute();
    const w = rig.host.wait(0);
    if (w instanceof Promise) await w;
    rig.host.poll();
    const after = rig.ring.pending; // throws if the host posted more than fit
    if (after === cap && before === keep) full++;
    // Keep the newest `keep` events in the ring; take them all once nothing new comes.
    all.push(...rig.ring.take(after > before ? Math.max(0, after - keep) : after));
    await rig.world.tick();
  }
  all.push(...rig.ring.take());
  assert.ok(full >= 2, `turns that started with room for ${keep} filled the ring (${full}): the room was what bound them`);
  conns.forEach((c, i) => eq(readBytes(all, c), sent[i], `connection ${i}`));
}, { caps: { eventCap: 16, supplyCap: 16 } });

contractTest(test, "completions that do not fit the event ring wait: each WRITE gets one EV_WRITE_DONE, in submission order", async (rig) => {
  const l = await rig.listen();
  const [c] = await rig.accept(l, 1, { mask: 0 });
  const cap = rig.ring.eventCap;
  // Fill the ring with completions the test does not take: a turn of WRITEs, 4 more than fit.
  const chains: number[] = [];
  const total = cap + 4;
  for (let i = 0; i < total; i++) {
    const { head } = rig.ring.chain(pattern(10, i * 10, 30));
    chains.push(head);
    rig.ring.write(c.slot, c.gen, c.fd, head, 10);
  }
  rig.host.execute();
  const w = rig.host.wait(0);
  if (w instanceof Promise) await w;
  rig.host.poll();
  assert.is(rig.ring.pending, cap, "the ring holds what fits, no more");
  const dones: Ev[] = rig.ring.take();
  await rig.until((all) => { dones.push(...all.splice(0)); return dones.length >= total; }, "the rest of the completions");
  assert.equal(dones.map((e) => e.type), Array(total).fill(K.EV_WRITE_DONE), evsText(dones));
  assert.equal(dones.map((e) => [e.slot, e.gen, e.fd, e.b, e.err]), Array.from({ length: total }, () => [c.slot, c.gen, c.fd, 10, 0]));
  chains.forEach((h) => rig.ring.releaseChain(h));
  await rig.until(() => c.peer.receivedBytes >= total * 10, "the peer received every write");
  eq(c.peer.received(), pattern(total * 10, 0, 30), "the writes, in order");
});

test.run();
