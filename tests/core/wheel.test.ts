// The timing wheel (assembly/wheel.ts) through its unit exports: t_wheelArm(node, when),
// t_wheelCancel, t_wheelAdvance(now, budget), t_wheelPopDue, t_wheelNextDeadline,
// t_wheelPending, t_wheelIsArmed, t_wheelElapsed, t_wheelCheck. Times are core ms as u64
// (BigInt in JS; results come back signed, hence u64()). A core with slotCap S has 2·S +
// appTimerCap timer nodes.
//
// How the property test works:
//   1. fast-check picks a start time (0, or just below 2^31, 2^32, 2^36 or 2^40, where the
//      32-bit stored expiry and the top level's wrap are exercised) and a sequence of
//      operations: arm (or re-arm) a node with a skewed delay (mostly ms, some hours, a few
//      days, edge values 64^k ± 1), cancel, a turn (clock step, then advance with a budget and
//      pop at most that many), and catch-up (a jump, then turns until nothing is due).
//   2. The reference model is a sorted list of (expiry, node) for armed timers.
//   3. Checked after every operation: t_wheelCheck() == 0; pending count and each node's
//      armed bit equal the model; a popped node is armed in the model and its expiry <= now
//      (never early; cancelled or re-armed timers never fire at their old time); after a
//      turn that caught up with an empty due list, and after every catch-up, no model timer is
//      due (nothing lost, nothing late); and the next deadline is elapsed <= d <= max(earliest
//      expiry, elapsed): it is the start of the earliest occupied slot, which may be earlier
//      than the earliest expiry (a higher level's slot), never later; `elapsed` when
//      something is already due; never before now once the wheel caught up; u64 max when
//      nothing is armed.
import { suite } from "uvu";
import * as assert from "uvu/assert";
import fc from "fast-check";
import { makeCore, trap, u64, type TestCore } from "../helpers/core.ts";
import { checkProperty } from "../helpers/prop.ts";

const U64_MAX = (1n << 64n) - 1n;
const MAX_DELAY = 0x7fffffff; // WHEEL_MAX_DELAY_MS: stored expiries are the low 32 bits
const HOUR = 3_600_000;
const DAY = 24 * HOUR;
const NONE = 0xffffffff;

/** A small driver: the wheel plus the clock the test owns. */
class Wheel {
  now = 0n;
  constructor(readonly t: TestCore, readonly nodes: number) {}
  get e() { return this.t.e; }
  elapsed(): bigint { return u64(this.e.t_wheelElapsed()); }
  next(): bigint { return u64(this.e.t_wheelNextDeadline()); }
  pending(): number { return this.e.t_wheelPending() >>> 0; }
  arm(node: number, when: bigint): void { this.e.t_wheelArm(node, when); }
  cancel(node: number): boolean { return !!this.e.t_wheelCancel(node); }
  advance(budget: number): boolean { return !!this.e.t_wheelAdvance(this.now, budget); }
  pop(): number { return this.e.t_wheelPopDue() >>> 0; }
  check(): number { return this.e.t_wheelCheck() >>> 0; }
  /** Starts the wheel at `start` (advancing an empty wheel moves it straight there). */
  startAt(start: bigint): void {
    this.now = start;
    assert.ok(this.advance(1));
    assert.is(this.elapsed(), start);
  }
}

async function makeWheel(slotCap: number, appTimerCap = 0): Promise<Wheel> {
  const t = await makeCore({ slotCap, appTimerCap });
  return new Wheel(t, 2 * slotCap + appTimerCap);
}

/** Turns (advance with `budget`, pop up to `budget`) until caught up and nothing is due. */
function catchUp(w: Wheel, budget: number, onPop: (node: number) => void, maxTurns = 100_000): number {
  for (let turn = 1; turn <= maxTurns; turn++) {
    const caught = w.advance(budget);
    let popped = 0, n = 0;
    while (popped < budget && (n = w.pop()) !== NONE) { onPop(n); popped++; }
    if (caught && n === NONE) return turn;
  }
  throw new Error(`the wheel did not catch up with ${w.now} in ${maxTurns} turns`);
}

const unit = suite("wheel");

unit("the core has 2 x slotCap + appTimerCap timer nodes", async () => {
  const w = await makeWheel(10, 5);
  for (let i = 0; i < 25; i++) w.arm(i, 1000n + BigInt(i));
  assert.is(w.pending(), 25);
  assert.match(trap(w.t, () => w.arm(25, 1000n)), /timer node out of range/);
  assert.is(w.check(), 0);
});

unit("range: delays of 24 h and of WHEEL_MAX_DELAY_MS (~24.8 days) fire exactly on time", async () => {
  for (const start of [0n, 5_000_000_123n]) {
    const w = await makeWheel(4);
    w.startAt(start);
    w.arm(0, start + BigInt(DAY));
    w.arm(1, start + BigInt(MAX_DELAY));
    assert.ok(BigInt(MAX_DELAY) >= BigInt(DAY), "range >= 24 h");
    const fired: [number, bigint][] = [];
    for (const target of [start + BigInt(DAY) - 1n, start + BigInt(DAY), start + BigInt(MAX_DELAY) - 1n, start + BigInt(MAX_DELAY)]) {
      w.now = target;
      catchUp(w, 64, (n) => fired.push([n, w.now]));
      assert.is(w.check(), 0);
    }
    assert.equal(fired, [[0, start + BigInt(DAY)], [1, start + BigInt(MAX_DELAY)]]);
  }
});

unit("range: arming 2^36 ms or more past elapsed traps (the top level's ring would alias)", async () => {
  const w = await makeWheel(4);
  w.arm(1, (1n << 36n) - 1n); // the last representable expiry is fine
  assert.is(w.cancel(1), true);
  assert.match(trap(w.t, () => w.arm(0, 1n << 36n)), /beyond the wheel's range/);
  assert.is(w.pending(), 0);
  assert.is(w.check(), 0);
});

unit("resolution: 1 ms at every level (not a ms early, not a ms late)", async () => {
  // Ascending: each is checked after the ones before it fired. 64^k ± 1 crosses level k.
  const delays = [1, 2, 63, 64, 65, 100, 4095, 4096, 4097, 262_143, 262_144, 262_145, HOUR + 7, 16_777_215, 16_777_216, DAY + 1, 1_073_741_823, 1_073_741_824, MAX_DELAY];
  for (const start of [0n, 12_345n, (1n << 32n) - 3n, (1n << 36n) - 70n]) {
    const w = await makeWheel(delays.length);
    w.startAt(start);
    delays.forEach((d, i) => w.arm(i, start + BigInt(d)));
    for (const [i, d] of delays.entries()) {
      const when = start + BigInt(d);
      const fired: number[] = [];
      w.now = when - 1n;
      catchUp(w, 1000, (n) => fired.push(n));
      assert.equal(fired, [], `delay ${d} from ${start}: nothing at ${d - 1} ms`);
      assert.ok(w.next() <= when, `next deadline ${w.next()} <= ${when}`);
      w.now = when;
      catchUp(w, 1000, (n) => fired.push(n));
      assert.equal(fired, [i], `delay ${d} from ${start}: fires at exactly ${d} ms`);
      assert.is(w.check(), 0);
    }
    assert.is(w.pending(), 0);
    assert.is(w.next(), U64_MAX);
  }
});

unit("cancel and re-arm: a cancelled timer never fires; a re-armed one fires at its new time only", async () => {
  const w = await makeWheel(4);
  w.arm(0, 50n); w.arm(1, 50n); w.arm(2, 5000n);
  assert.ok(w.cancel(0));
  assert.not.ok(w.cancel(0), "cancelling twice reports not armed");
  w.arm(1, 7000n); // re-arm later
  w.arm(2, 20n);   // re-arm earlier
  assert.is(w.pending(), 2);
  const fired: [number, bigint][] = [];
  for (const now of [20n, 50n, 5000n, 6999n, 7000n]) { w.now = now; catchUp(w, 8, (n) => fired.push([n, now])); }
  assert.equal(fired, [[2, 20n], [1, 7000n]]);
  assert.is(w.check(), 0);
});

unit("a delay of 0 is due at once and pops on the next turn without advancing time", async () => {
  const w = await makeWheel(2);
  w.startAt(1000n);
  w.arm(0, 1000n);
  assert.is(w.next(), 1000n, "next deadline is now");
  assert.ok(w.advance(4));
  assert.is(w.pop(), 0);
  assert.is(w.pop(), NONE);
});

unit("bounded expiry: 10,000 timers at the same ms come out 100 per turn", async () => {
  const w = await makeWheel(5000);
  assert.is(w.nodes, 10_000);
  const when = 1_234n;
  for (let i = 0; i < w.nodes; i++) w.arm(i, when);
  w.now = when;
  const seen = new Set<number>();
  let turns = 0;
  while (seen.size < w.nodes) {
    turns++;
    assert.ok(w.advance(100), "nothing else is in the wheel: the advance catches up");
    for (let k = 0; k < 100; k++) {
      const n = w.pop();
      assert.ok(n !== NONE && !seen.has(n), `turn ${turns}: pop ${k} is a new node`);
      seen.add(n);
    }
    assert.is(w.pending(), w.nodes - seen.size);
    if (turns % 10 === 0) assert.is(w.check(), 0);
    if (seen.size < w.nodes) assert.is(w.next(), when, "carried-over work: the next deadline is now");
  }
  assert.is(turns, 100);
  assert.is(w.pop(), NONE);
  assert.is(w.next(), U64_MAX);
});

unit("bounded expiry: 10,000 timers 1 ms apart, a jump past all, 100 per turn with carry-over", async () => {
  const w = await makeWheel(5000);
  const start = 777_777n;
  w.startAt(start);
  for (let i = 0; i < w.nodes; i++) w.arm(i, start + 1n + BigInt(i));
  w.now = start + 20_000n;
  let last = -1n, total = 0, turns = 0, carried = 0;
  for (;;) {
    turns++;
    const caught = w.advance(100);
    if (!caught) {
      carried++;
      assert.ok(w.elapsed() < w.now, "an advance that stops early leaves elapsed behind now");
    }
    let popped = 0, n: number;
    // Pop everything that is due: an advance moves at most `budget` timers (1 per ms here).
    while ((n = w.pop()) !== NONE) {
      const when = start + 1n + BigInt(n);
      assert.ok(when <= w.elapsed(), "never early");
      assert.ok(when >= last, "in expiry order");
      last = when; popped++;
    }
    total += popped;
    assert.ok(popped <= 100, `turn ${turns} popped ${popped}`);
    assert.is(w.check(), 0);
    if (caught) break;
    assert.is(popped, 100);
  }
  assert.is(total, w.nodes);
  assert.is(turns, 100);
  assert.is(carried, 99);
  assert.is(w.elapsed(), w.now);
});

unit("the f64 entry points agree with the u64 ones", async () => {
  const w = await makeWheel(4);
  assert.is(w.e.t_wheelNextDeadlineF(), -1, "nothing armed");
  w.e.t_wheelArmF(0, 5000);
  w.arm(1, 9000n);
  assert.is(w.e.t_wheelNextDeadlineF(), Number(w.next()));
  assert.ok(w.e.t_wheelAdvanceF(5000, 8));
  assert.is(w.pop(), 0);
  assert.is(w.elapsed(), 5000n);
  assert.is(w.e.t_wheelNextDeadlineF(), Number(w.next()));
  assert.ok(w.e.t_wheelNextDeadlineF() <= 9000);
});

unit.run();

// ── property test ─────────────────────────────────────────────────────────────────────────

type Op =
  | { k: "arm"; node: number; delay: number }
  | { k: "cancel"; node: number }
  | { k: "turn"; step: bigint; budget: number }
  | { k: "catchUp"; step: bigint };

const NODES = 24; // slotCap 12, no app timers: small, so re-arms of armed nodes are common

const delayArb = fc.oneof(
  { weight: 8, arbitrary: fc.integer({ min: 0, max: 100 }) },
  { weight: 6, arbitrary: fc.integer({ min: 0, max: 10_000 }) },
  { weight: 3, arbitrary: fc.integer({ min: 0, max: 12 * HOUR }) },
  { weight: 1, arbitrary: fc.integer({ min: DAY, max: MAX_DELAY }) },
  { weight: 2, arbitrary: fc.constantFrom(0, 1, 63, 64, 65, 4095, 4096, 4097, 262_144, 16_777_216, 1_073_741_824, MAX_DELAY) },
);
const stepArb = fc.oneof(
  { weight: 8, arbitrary: fc.bigInt({ min: 0n, max: 70n }) },
  { weight: 4, arbitrary: fc.bigInt({ min: 0n, max: 5_000n }) },
  { weight: 2, arbitrary: fc.bigInt({ min: 0n, max: BigInt(48 * HOUR) }) },
  { weight: 1, arbitrary: fc.bigInt({ min: 0n, max: 1n << 34n }) },
);
const opArb: fc.Arbitrary<Op> = fc.oneof(
  { weight: 6, arbitrary: fc.record({ k: fc.constant("arm" as const), node: fc.integer({ min: 0, max: NODES - 1 }), delay: delayArb }) },
  { weight: 2, arbitrary: fc.record({ k: fc.constant("cancel" as const), node: fc.integer({ min: 0, max: NODES - 1 }) }) },
  { weight: 5, arbitrary: fc.record({ k: fc.constant("turn" as const), step: stepArb, budget: fc.integer({ min: 1, max: 8 }) }) },
  { weight: 1, arbitrary: fc.record({ k: fc.constant("catchUp" as const), step: stepArb }) },
);
const startArb = fc.oneof(
  fc.constantFrom(0n, (1n << 31n) - 500n, (1n << 32n) - 3_000n, (1n << 36n) - 100_000n, (1n << 40n) - 7n),
  fc.bigInt({ min: 0n, max: 1n << 45n }),
);

/** The reference model: armed timers by node, read as a list sorted by expiry. */
class Model {
  armed = new Map<number, bigint>();
  earliest(): bigint | undefined {
    let m: bigint | undefined;
    for (const w of this.armed.values()) if (m === undefined || w < m) m = w;
    return m;
  }
  sorted(): [bigint, number][] { return [...this.armed].map(([n, w]): [bigint, number] => [w, n]).sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : a[1] - b[1])); }
  dueBy(t: bigint): number[] { return this.sorted().filter(([w]) => w <= t).map(([, n]) => n); }
}

function popChecked(w: Wheel, m: Model, node: number, ctx: string): void {
  const when = m.armed.get(node);
  assert.ok(when !== undefined, `${ctx}: node ${node} fired but is not armed (cancelled, or fired twice)`);
  assert.ok(when! <= w.now, `${ctx}: node ${node} fired early (expiry ${when}, now ${w.now})`);
  assert.ok(when! <= w.elapsed(), `${ctx}: node ${node} fired before the wheel reached its expiry`);
  m.armed.delete(node);
}

function checkAll(w: Wheel, m: Model, ctx: string): void {
  assert.is(w.check(), 0, `${ctx}: t_wheelCheck`);
  assert.is(w.pending(), m.armed.size, `${ctx}: pending count`);
  for (let i = 0; i < w.nodes; i++) assert.is(!!w.e.t_wheelIsArmed(i), m.armed.has(i), `${ctx}: node ${i} armed`);
  const el = w.elapsed(), nd = w.next(), first = m.earliest();
  assert.ok(el <= w.now, `${ctx}: elapsed ${el} is past now ${w.now}`);
  if (first === undefined) { assert.is(nd, U64_MAX, `${ctx}: nothing armed, no deadline`); return; }
  assert.ok(nd >= el, `${ctx}: next deadline ${nd} before elapsed ${el}`);
  assert.ok(nd <= (first > el ? first : el), `${ctx}: next deadline ${nd} later than the earliest expiry ${first} (elapsed ${el})`);
  if (el === w.now) assert.ok(nd >= w.now, `${ctx}: caught up, yet the next deadline ${nd} is before now ${w.now}`);
}

const prop = suite("wheel: property");

prop("random arms, cancels, re-arms, steps and jumps against a sorted-list model", () => checkProperty("core/wheel", "wheel vs model",
  fc.asyncProperty(startArb, fc.array(opArb, { minLength: 1, maxLength: 200, size: "max" }), async (start, ops) => {
    const w = await makeWheel(NODES / 2);
    w.startAt(start);
    const m = new Model();
    for (const [k, op] of ops.entries()) {
      const ctx = `op ${k} ${JSON.stringify(op, (_, v) => (typeof v === "bigint" ? `${v}n` : v))}`;
      switch (op.k) {
        case "arm": {
          // The API's delays are at most WHEEL_MAX_DELAY_MS; the wheel itself takes expiries up to
          // 2^36 ms past elapsed. Keep the model inside the API's range.
          let when = w.now + BigInt(op.delay);
          const limit = w.elapsed() + BigInt(MAX_DELAY);
          if (when > limit) when = limit;
          w.arm(op.node, when);
          m.armed.set(op.node, when);
          break;
        }
        case "cancel":
          assert.is(w.cancel(op.node), m.armed.has(op.node), `${ctx}: cancel result`);
          m.armed.delete(op.node);
          break;
        case "turn": {
          w.now += op.step;
          const caught = w.advance(op.budget);
          let popped = 0, n = NONE;
          while (popped < op.budget && (n = w.pop()) !== NONE) { popChecked(w, m, n, ctx); popped++; }
          if (caught) assert.is(w.elapsed(), w.now, `${ctx}: caught up means elapsed == now`);
          if (caught && n === NONE) assert.equal(m.dueBy(w.now), [], `${ctx}: caught up with nothing due, yet the model has due timers`);
          break;
        }
        case "catchUp":
          w.now += op.step;
          catchUp(w, 4, (n) => popChecked(w, m, n, ctx));
          assert.equal(m.dueBy(w.now), [], `${ctx}: after catching up, timers due by now were lost`);
          break;
      }
      checkAll(w, m, ctx);
    }
    // Finally everything armed fires, on time, once the clock passes the last expiry.
    const last = m.sorted().at(-1)?.[0];
    if (last !== undefined && last > w.now) w.now = last;
    catchUp(w, 8, (n) => popChecked(w, m, n, "final catch-up"));
    assert.is(m.armed.size, 0, "every armed timer fired");
    checkAll(w, m, "final");
  }), 250));

prop.run();
