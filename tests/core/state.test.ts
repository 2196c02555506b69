// The connection state machine (assembly/conn.ts) through t_slotAlloc(to), t_transition(i, to),
// t_slotFree(i), t_slotCheck(), stateOf(i) and genOf(i), against the transition table below,
// a mirror of TRANSITIONS in conn.ts (bit `to` of row `from` set when from -> to is legal).
//
// How the property test works:
//   1. fast-check generates operations on a small slot table: allocate into a state (only the
//      legal FREE -> LISTENING/CONNECTING/OPEN: an illegal target traps after the slot left the
//      free list, and a trapped core is dead, so that case is a unit test on a fresh core),
//      transition a live slot to any non-FREE state (legal or not), and free a CLOSED slot.
//   2. The model: each slot's state and generation.
//   3. Legal transitions succeed; illegal ones trap and leave the state as it was; frees bump
//      the generation; after every step every slot's state and generation equal the model, and
//      t_slotCheck() is 0, or 26 exactly while some slot is CLOSED (CLOSED never outlives a
//      flush, so the audit flags it).
import { suite } from "uvu";
import * as assert from "uvu/assert";
import fc from "fast-check";
import { makeCore, trap, u32, K, type TestCore } from "../helpers/core.ts";
import { checkProperty } from "../helpers/prop.ts";

const { ST_FREE: FREE, ST_LISTENING: LISTENING, ST_CONNECTING: CONNECTING, ST_OPEN: OPEN,
  ST_READ_ENDED: READ_ENDED, ST_CLOSING: CLOSING, ST_CLOSED: CLOSED, ST_COUNT } = K;
const NAMES = ["FREE", "LISTENING", "CONNECTING", "OPEN", "READ_ENDED", "CLOSING", "CLOSED"];
const STATES: number[] = [FREE, LISTENING, CONNECTING, OPEN, READ_ENDED, CLOSING, CLOSED];

/** The mirror of TRANSITIONS in assembly/conn.ts. */
const LEGAL: Record<number, number[]> = {
  [FREE]: [LISTENING, CONNECTING, OPEN],
  [LISTENING]: [CLOSED],
  [CONNECTING]: [OPEN, CLOSED],
  [OPEN]: [READ_ENDED, CLOSING, CLOSED],
  [READ_ENDED]: [CLOSING, CLOSED],
  [CLOSING]: [CLOSED],
  [CLOSED]: [FREE],
};
const legal = (from: number, to: number) => LEGAL[from].includes(to);

/** A shortest legal path FREE -> ... -> target (breadth-first over the mirror). */
function pathTo(target: number): number[] {
  const prev = new Map<number, number>([[FREE, -1]]);
  const queue: number[] = [FREE];
  while (queue.length) {
    const s = queue.shift()!;
    if (s === target) break;
    for (const n of LEGAL[s]) if (!prev.has(n)) { prev.set(n, s); queue.push(n); }
  }
  assert.ok(prev.has(target), `${NAMES[target]} is reachable`);
  const path: number[] = [];
  for (let s = target; s !== FREE; s = prev.get(s)!) path.unshift(s);
  return path;
}

const stateOf = (t: TestCore, i: number) => t.e.stateOf(i) as number;
const genOf = (t: TestCore, i: number) => u32(t.e.genOf(i));
const check = (t: TestCore) => u32(t.e.t_slotCheck());

/** Allocates a slot and walks it to `target` along legal transitions. */
function slotIn(t: TestCore, target: number): number {
  const [first, ...rest] = pathTo(target);
  const i = u32(t.e.t_slotAlloc(first));
  assert.ok(i !== K.NONE, "a free slot");
  for (const s of rest) t.e.t_transition(i, s);
  assert.is(stateOf(t, i), target);
  return i;
}

const table = suite("state: transition table");

table("the mirror has a row per state and every live state can reach CLOSED and then FREE", () => {
  assert.is(Object.keys(LEGAL).length, ST_COUNT);
  for (const s of STATES) {
    if (s === FREE) continue;
    pathTo(s);
    const seen = new Set<number>([s]), queue: number[] = [s];
    while (queue.length) for (const n of LEGAL[queue.shift()!]) if (!seen.has(n)) { seen.add(n); queue.push(n); }
    assert.ok(seen.has(CLOSED) && seen.has(FREE), `${NAMES[s]} can be torn down`);
  }
});

// One fresh core per pair: an illegal allocation traps with the table in a state a live core
// never continues from.
for (const from of STATES) {
  table(`from ${NAMES[from]}: the core allows exactly the mirrored transitions`, async () => {
    for (const to of STATES) {
      const t = await makeCore({ slotCap: 4 });
      const what = `${NAMES[from]} -> ${NAMES[to]}`;
      if (from === FREE) {
        if (legal(FREE, to)) {
          const i = u32(t.e.t_slotAlloc(to));
          assert.is(stateOf(t, i), to, what);
          assert.is(check(t), 0, what);
        } else {
          assert.match(trap(t, () => t.e.t_slotAlloc(to)), /illegal connection state transition/, what);
        }
        continue;
      }
      const i = slotIn(t, from);
      const gen = genOf(t, i);
      if (to === FREE) {
        // Leaving CLOSED goes through slotFree (it also unlinks and bumps the generation).
        if (legal(from, to)) { t.e.t_slotFree(i); assert.is(stateOf(t, i), FREE, what); assert.is(genOf(t, i), gen + 1, what); }
        else assert.match(trap(t, () => t.e.t_transition(i, to)), /illegal connection state transition/, what);
      } else if (legal(from, to)) {
        t.e.t_transition(i, to);
        assert.is(stateOf(t, i), to, what);
      } else {
        assert.match(trap(t, () => t.e.t_transition(i, to)), /illegal connection state transition/, what);
        assert.is(stateOf(t, i), from, `${what}: the state is unchanged after the trap`);
      }
      assert.is(check(t), stateOf(t, i) === CLOSED ? 26 : 0, `${what}: t_slotCheck`);
    }
  });
}
table.run();

const slots = suite("state: slots and generations");

slots("a full table allocates NONE; a freed slot comes back with the next generation", async () => {
  const t = await makeCore({ slotCap: 4 });
  const got = [0, 1, 2, 3].map(() => u32(t.e.t_slotAlloc(OPEN)));
  assert.equal([...got].sort(), [0, 1, 2, 3]);
  for (const i of got) assert.is(genOf(t, i), 1, "the first occupant has generation 1");
  assert.is(u32(t.e.t_slotAlloc(CONNECTING)), K.NONE);
  assert.is(check(t), 0);
  t.e.t_transition(2, CLOSED);
  t.e.t_slotFree(2);
  assert.is(genOf(t, 2), 2);
  assert.is(u32(t.e.t_slotAlloc(LISTENING)), 2);
  assert.is(genOf(t, 2), 2, "allocation keeps the generation; only freeing bumps it");
  assert.is(check(t), 0);
});

slots("the generation skips 0 when it wraps (0 is never a live generation)", async () => {
  const t = await makeCore({ slotCap: 2 });
  const i = slotIn(t, CLOSED);
  // Set the occupant's generation to the last u32 through the shared memory.
  const genAddr = (t.core.regions.slotsOff + i * t.e.L_Slot_BYTES.value + t.e.L_Slot_gen.value) >> 2;
  t.core.u32[genAddr] = 0xffffffff;
  assert.is(genOf(t, i), 0xffffffff);
  t.e.t_slotFree(i);
  assert.is(genOf(t, i), 1);
  assert.is(check(t), 0);
});

slots("freeing a slot that is not CLOSED traps", async () => {
  const t = await makeCore({ slotCap: 2 });
  const i = slotIn(t, OPEN);
  assert.match(trap(t, () => t.e.t_slotFree(i)), /illegal connection state transition/);
});
slots.run();

type Op =
  | { k: "alloc"; to: number }
  | { k: "transition"; pick: number; to: number }
  | { k: "free"; pick: number };

const SLOTS = 6;
const opArb: fc.Arbitrary<Op> = fc.oneof(
  { weight: 3, arbitrary: fc.record({ k: fc.constant("alloc" as const), to: fc.constantFrom(...LEGAL[FREE]) }) },
  { weight: 6, arbitrary: fc.record({ k: fc.constant("transition" as const), pick: fc.nat(), to: fc.constantFrom(...STATES.filter((s) => s !== FREE)) }) },
  { weight: 3, arbitrary: fc.record({ k: fc.constant("free" as const), pick: fc.nat() }) },
);

const prop = suite("state: property");

prop("random allocations, transitions and frees against the table (property)", () => checkProperty("core/state", "state machine vs table",
  fc.asyncProperty(fc.array(opArb, { minLength: 1, maxLength: 150, size: "max" }), async (ops) => {
    const t = await makeCore({ slotCap: SLOTS });
    const state = new Array<number>(SLOTS).fill(FREE);
    const gen = new Array<number>(SLOTS).fill(1);
    for (const op of ops) {
      const what = JSON.stringify(op);
      const live = state.flatMap((s, i) => (s === FREE ? [] : [i]));
      switch (op.k) {
        case "alloc": {
          const i = u32(t.e.t_slotAlloc(op.to));
          if (live.length === SLOTS) { assert.is(i, K.NONE, `${what}: full table`); break; }
          assert.ok(i < SLOTS && state[i] === FREE, `${what}: allocated ${i}, not a free slot`);
          state[i] = op.to;
          break;
        }
        case "transition": {
          if (!live.length) break;
          const i = live[op.pick % live.length];
          if (legal(state[i], op.to)) { t.e.t_transition(i, op.to); state[i] = op.to; }
          else assert.match(trap(t, () => t.e.t_transition(i, op.to)), /illegal connection state transition/, what);
          break;
        }
        case "free": {
          const closed = live.filter((i) => state[i] === CLOSED);
          if (!closed.length) break;
          const i = closed[op.pick % closed.length];
          t.e.t_slotFree(i);
          state[i] = FREE; gen[i]++;
          break;
        }
      }
      for (let i = 0; i < SLOTS; i++) {
        assert.is(stateOf(t, i), state[i], `${what}: slot ${i} state`);
        assert.is(genOf(t, i), gen[i], `${what}: slot ${i} generation`);
      }
      assert.is(check(t), state.includes(CLOSED) ? 26 : 0, `${what}: t_slotCheck`);
    }
  }), 300));
prop.run();
