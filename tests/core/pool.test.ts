// The buffer pool (assembly/pool.ts) through its unit exports: t_poolAcquire(owner),
// t_poolRelease(c, from), t_poolHandOver(c, from, to), t_poolCheck() and chunkState(c).
//
// How the property test works:
//   1. fast-check generates a sequence of operations: acquire for a random owner, release or
//      hand over a held chunk (by its real owner), and three misuses that must trap: releasing a
//      free chunk (double release), releasing or handing over a held chunk as the wrong owner.
//   2. A reference model (a Set of free chunks, a Map chunk -> owner) predicts each result.
//   3. After every operation: t_poolCheck() == 0 (free list and per-state counts agree with the
//      metadata: conservation), and every chunk's state equals the model's.
import { suite } from "uvu";
import * as assert from "uvu/assert";
import fc from "fast-check";
import { makeCore, trap, u32, K, type TestCore } from "../helpers/core.ts";
import { checkProperty } from "../helpers/prop.ts";

const HOLDERS: number[] = [K.CH_SUPPLY, K.CH_LENT, K.CH_QUEUED, K.CH_WRITING, K.CH_APP];
const STATES: number[] = [K.CH_FREE, ...HOLDERS];
const NONE = K.NONE;
const CHUNKS = 12;

const acquire = (t: TestCore, owner: number) => u32(t.e.t_poolAcquire(owner));
const stateOf = (t: TestCore, c: number) => t.e.chunkState(c) as number;

const pool = suite("pool");

pool("a fresh pool hands out chunk 0 first, then 1, ... and is empty after chunkCount", async () => {
  const t = await makeCore({ chunkCount: CHUNKS });
  for (let c = 0; c < CHUNKS; c++) assert.is(acquire(t, K.CH_APP), c);
  assert.is(acquire(t, K.CH_SUPPLY), NONE);
  assert.is(t.e.t_poolCheck(), 0);
  for (let c = 0; c < CHUNKS; c++) assert.is(stateOf(t, c), K.CH_APP);
});

pool("release then acquire returns the same chunk (LIFO: the most recently used is warm)", async () => {
  const t = await makeCore({ chunkCount: CHUNKS });
  const a = acquire(t, K.CH_SUPPLY), b = acquire(t, K.CH_SUPPLY);
  t.e.t_poolRelease(a, K.CH_SUPPLY);
  assert.is(stateOf(t, a), K.CH_FREE);
  assert.is(acquire(t, K.CH_LENT), a);
  assert.is(stateOf(t, a), K.CH_LENT);
  assert.is(stateOf(t, b), K.CH_SUPPLY);
  assert.is(t.e.t_poolCheck(), 0);
});

pool("handOver follows a chunk's life: SUPPLY -> LENT -> QUEUED -> WRITING -> FREE", async () => {
  const t = await makeCore({ chunkCount: CHUNKS });
  const c = acquire(t, K.CH_SUPPLY);
  const path = [K.CH_SUPPLY, K.CH_LENT, K.CH_QUEUED, K.CH_WRITING];
  for (let i = 1; i < path.length; i++) {
    t.e.t_poolHandOver(c, path[i - 1], path[i]);
    assert.is(stateOf(t, c), path[i]);
    assert.is(t.e.t_poolCheck(), 0);
  }
  t.e.t_poolRelease(c, K.CH_WRITING);
  assert.is(stateOf(t, c), K.CH_FREE);
  assert.is(t.e.t_poolCheck(), 0);
});

pool("double release traps and leaves the pool intact", async () => {
  const t = await makeCore({ chunkCount: CHUNKS });
  const c = acquire(t, K.CH_APP);
  t.e.t_poolRelease(c, K.CH_APP);
  assert.match(trap(t, () => t.e.t_poolRelease(c, K.CH_APP)), /double release/);
  assert.match(trap(t, () => t.e.t_poolRelease(c, K.CH_FREE)), /already free/);
  assert.is(t.e.t_poolCheck(), 0);
  assert.is(acquire(t, K.CH_APP), c, "the chunk is on the free list exactly once");
  assert.is(acquire(t, K.CH_APP), c === 0 ? 1 : 0);
});

pool("acquire for FREE (not an owner) traps instead of leaking the chunk", async () => {
  const t = await makeCore({ chunkCount: CHUNKS });
  assert.match(trap(t, () => t.e.t_poolAcquire(K.CH_FREE)), /acquire/);
  assert.is(t.e.t_poolCheck(), 0);
  assert.is(acquire(t, K.CH_APP), 0);
});

pool("release or handOver by the wrong owner traps; handOver to or from FREE traps", async () => {
  const t = await makeCore({ chunkCount: CHUNKS });
  const c = acquire(t, K.CH_QUEUED);
  assert.match(trap(t, () => t.e.t_poolRelease(c, K.CH_LENT)), /not held by the releasing owner/);
  assert.match(trap(t, () => t.e.t_poolHandOver(c, K.CH_APP, K.CH_WRITING)), /not held by the handing owner/);
  assert.match(trap(t, () => t.e.t_poolHandOver(c, K.CH_QUEUED, K.CH_FREE)), /use acquire\/release/);
  assert.is(stateOf(t, c), K.CH_QUEUED);
  assert.is(t.e.t_poolCheck(), 0);
});

pool("out-of-range chunk indices trap (debug) and read as 0xff", async () => {
  const t = await makeCore({ chunkCount: CHUNKS });
  assert.match(trap(t, () => t.e.t_poolRelease(CHUNKS, K.CH_APP)), /out of range/);
  assert.is(stateOf(t, CHUNKS), 0xff);
  assert.is(t.e.t_poolCheck(), 0);
});

type Op =
  | { k: "acquire"; owner: number }
  | { k: "release"; pick: number }
  | { k: "handOver"; pick: number; to: number }
  | { k: "doubleRelease"; pick: number; from: number }
  | { k: "wrongOwner"; pick: number; from: number; viaHandOver: boolean };

const opArb: fc.Arbitrary<Op> = fc.oneof(
  { weight: 5, arbitrary: fc.record({ k: fc.constant("acquire" as const), owner: fc.constantFrom(...HOLDERS) }) },
  { weight: 3, arbitrary: fc.record({ k: fc.constant("release" as const), pick: fc.nat() }) },
  { weight: 3, arbitrary: fc.record({ k: fc.constant("handOver" as const), pick: fc.nat(), to: fc.constantFrom(...HOLDERS) }) },
  { weight: 1, arbitrary: fc.record({ k: fc.constant("doubleRelease" as const), pick: fc.nat(), from: fc.constantFrom(...STATES) }) },
  { weight: 1, arbitrary: fc.record({ k: fc.constant("wrongOwner" as const), pick: fc.nat(), from: fc.constantFrom(...HOLDERS), viaHandOver: fc.boolean() }) },
);

pool("random acquire/release/handOver against a reference model (property)", () => checkProperty("core/pool", "pool vs model",
  fc.asyncProperty(fc.array(opArb, { minLength: 1, maxLength: 150, size: "max" }), async (ops) => {
    const t = await makeCore({ chunkCount: CHUNKS });
    const free = new Set<number>(Array.from({ length: CHUNKS }, (_, c) => c));
    const owner = new Map<number, number>();
    const sorted = (it: Iterable<number>) => [...it].sort((a, b) => a - b);
    for (const op of ops) {
      const held = sorted(owner.keys());
      switch (op.k) {
        case "acquire": {
          const c = acquire(t, op.owner);
          if (free.size === 0) { assert.is(c, NONE, "acquire from an empty pool"); break; }
          assert.ok(free.has(c), `acquire returned ${c}, not a free chunk`);
          free.delete(c); owner.set(c, op.owner);
          break;
        }
        case "release": {
          if (!held.length) break;
          const c = held[op.pick % held.length];
          t.e.t_poolRelease(c, owner.get(c)!);
          owner.delete(c); free.add(c);
          break;
        }
        case "handOver": {
          if (!held.length) break;
          const c = held[op.pick % held.length];
          t.e.t_poolHandOver(c, owner.get(c)!, op.to);
          owner.set(c, op.to);
          break;
        }
        case "doubleRelease": {
          const f = sorted(free);
          if (!f.length) break;
          const c = f[op.pick % f.length];
          assert.match(trap(t, () => t.e.t_poolRelease(c, op.from)), /release: chunk/);
          break;
        }
        case "wrongOwner": {
          if (!held.length) break;
          const c = held[op.pick % held.length];
          const from = op.from === owner.get(c) ? HOLDERS[(HOLDERS.indexOf(op.from) + 1) % HOLDERS.length] : op.from;
          const line = trap(t, () => op.viaHandOver ? t.e.t_poolHandOver(c, from, K.CH_APP) : t.e.t_poolRelease(c, from));
          assert.match(line, /not held by the (releasing|handing) owner/);
          break;
        }
      }
      assert.is(t.e.t_poolCheck(), 0, `t_poolCheck after ${JSON.stringify(op)}`);
      for (let c = 0; c < CHUNKS; c++) assert.is(stateOf(t, c), owner.get(c) ?? K.CH_FREE, `chunk ${c} after ${JSON.stringify(op)}`);
    }
  }), 300));

pool.run();
