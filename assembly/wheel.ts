// Hierarchical timing wheel: 6 levels × 64 slots at 1 ms resolution, after tokio's
// (tokio/src/runtime/time/wheel), with intrusive doubly linked buckets so that arm and
// cancel are O(1), and a u64 occupancy bitmap per level so the next deadline is found in
// O(levels) with one count-trailing-zeros each.
//
// Level L covers 64^(L+1) ms in slots of 64^L ms. A timer sits at the lowest level whose
// window still contains both `elapsed` and its expiry; when its slot comes due it is
// re-inserted relative to the slot's start (cascading down), and at level 0 it becomes due.
// A timer therefore never fires before its expiry: it reaches the due list only once
// `elapsed` (a time the clock has reached) is >= its expiry.
//
// Expiry is bounded per turn: `wheelAdvance(now, budget)` stops cascading once `budget` timers
// are due and leaves `elapsed` at the last slot processed; the rest carries over to the next
// turn (which then asks the host not to wait). A clock jump of hours costs O(occupied slots),
// never O(ms jumped).
//
// Range: expiries up to 2^36 ms (~2.2 years) past `elapsed` (the top level's slots act as a ring
// beyond that); the API takes delays up to WHEEL_MAX_DELAY_MS (~24.8 days).

import { header, TimerNode, NONE, TIMER_BYTES, WHEEL_LEVELS, WHEEL_SLOTS, WHEEL_HEADS_BYTES } from "./layout";

// @ts-ignore: decorator
@inline export const WHEEL_MAX_DELAY_MS: u64 = 0x7fffffff;
// @ts-ignore: decorator
@inline const BUCKET_DUE: u32 = 0xfffe;
// @ts-ignore: decorator
@inline const BUCKET_NONE: u32 = 0xffff;

// A node's expiry and bucket share one u64 (TimerNode.key): 16 B a node, a quarter of a line.
// @ts-ignore: decorator
@inline function whenOf(n: TimerNode): u64 { return n.key >> 16; }
// @ts-ignore: decorator
@inline function bucketOf(n: TimerNode): u32 { return <u32>(n.key & 0xffff); }
// @ts-ignore: decorator
@inline function setKey(n: TimerNode, when: u64, bucket: u32): void { n.key = (when << 16) | <u64>bucket; }
// @ts-ignore: decorator
@inline function setBucket(n: TimerNode, bucket: u32): void { n.key = (n.key & ~<u64>0xffff) | <u64>bucket; }
// @ts-ignore: decorator
@inline const LEVEL_BITS: u64 = 6;

let nodesOff: u32 = 0;
let nodeCount: u32 = 0;
let headsOff: u32 = 0;
let tailsOff: u32 = 0;
let occOff: u32 = 0;
let dueHead: u32 = NONE;
let dueTail: u32 = NONE;
export let dueCount: u32 = 0;
export let pendingCount: u32 = 0; // armed: in the wheel or due
export let elapsed: u64 = 0;

// @ts-ignore: decorator
@inline export function node(i: u32): TimerNode {
  assert(i < nodeCount, "timer node out of range");
  return changetype<TimerNode>(nodesOff + i * TIMER_BYTES);
}
// @ts-ignore: decorator
@inline function headAt(b: u32): usize { return headsOff + (b << 2); }
// @ts-ignore: decorator
@inline function tailAt(b: u32): usize { return tailsOff + (b << 2); }
// @ts-ignore: decorator
@inline function occAt(level: u32): usize { return occOff + (level << 3); }

/** The full time of a u32 stamp (low 32 bits of core ms) taken within 2^31 ms of `near`. */
// @ts-ignore: decorator
@inline export function fullWhen(when32: u32, near: u64): u64 {
  return near + <u64><i64><i32>(when32 - <u32>near);
}
// @ts-ignore: decorator
@inline const WHEEL_SPAN_MS: u64 = <u64>1 << 36;

export function wheelInit(nodes: u32): void {
  const h = header();
  nodesOff = h.timersOff;
  nodeCount = nodes;
  headsOff = h.wheelOff;
  tailsOff = h.wheelOff + WHEEL_HEADS_BYTES;
  occOff = h.wheelOff + 2 * WHEEL_HEADS_BYTES;
  for (let b: u32 = 0; b < WHEEL_LEVELS * WHEEL_SLOTS; b++) { store<u32>(headAt(b), NONE); store<u32>(tailAt(b), NONE); }
  for (let l: u32 = 0; l < WHEEL_LEVELS; l++) store<u64>(occAt(l), 0);
  for (let i: u32 = 0; i < nodes; i++) {
    const n = node(i);
    n.next = NONE; n.prev = NONE; setKey(n, 0, BUCKET_NONE);
  }
  dueHead = NONE; dueTail = NONE; dueCount = 0; pendingCount = 0; elapsed = 0;
}

// @ts-ignore: decorator
@inline function levelFor(from: u64, when: u64): u32 {
  const masked = (from ^ when) | 63;
  const level = <u32>((63 - clz<u64>(masked)) / LEVEL_BITS);
  return level < WHEEL_LEVELS ? level : WHEEL_LEVELS - 1;
}

function insert(i: u32, when: u64): void {
  const n = node(i);
  if (when <= elapsed) {
    // Already due: straight onto the due list (fires on this or the next turn).
    setKey(n, when, BUCKET_DUE);
    n.next = NONE; n.prev = dueTail;
    if (dueTail != NONE) node(dueTail).next = i; else dueHead = i;
    dueTail = i; dueCount++;
    return;
  }
  const level = levelFor(elapsed, when);
  const slot = <u32>((when >> (<u64>level * LEVEL_BITS)) & 63);
  const b = level * WHEEL_SLOTS + slot;
  // Appended at the tail: timers of the same ms fire in the order they were armed, at any level.
  const tail = load<u32>(tailAt(b));
  setKey(n, when, b); n.next = NONE; n.prev = tail;
  if (tail != NONE) node(tail).next = i; else store<u32>(headAt(b), i);
  store<u32>(tailAt(b), i);
  store<u64>(occAt(level), load<u64>(occAt(level)) | (<u64>1 << slot));
}

function unlink(i: u32): void {
  const n = node(i);
  const b = bucketOf(n);
  if (b == BUCKET_DUE) {
    if (n.prev != NONE) node(n.prev).next = n.next; else dueHead = n.next;
    if (n.next != NONE) node(n.next).prev = n.prev; else dueTail = n.prev;
    dueCount--;
  } else {
    assert(b < WHEEL_LEVELS * WHEEL_SLOTS, "unlink: node not in a bucket");
    if (n.prev != NONE) node(n.prev).next = n.next; else store<u32>(headAt(b), n.next);
    if (n.next != NONE) node(n.next).prev = n.prev; else store<u32>(tailAt(b), n.prev);
    if (load<u32>(headAt(b)) == NONE) {
      const level = b / WHEEL_SLOTS, slot = b % WHEEL_SLOTS;
      store<u64>(occAt(level), load<u64>(occAt(level)) & ~(<u64>1 << slot));
    }
  }
  n.next = NONE; n.prev = NONE; setBucket(n, BUCKET_NONE);
}

/** Arms (or re-arms) node `i` to expire at `when` (core ms). O(1). */
export function wheelArm(i: u32, when: u64): void {
  if (DEBUG) assert(when < elapsed + WHEEL_SPAN_MS, "timer beyond the wheel's range");
  if (DEBUG) assert(when < (<u64>1 << 48), "timer beyond 2^48 ms");
  if (bucketOf(node(i)) != BUCKET_NONE) unlink(i); else pendingCount++;
  insert(i, when);
}

/** Disarms node `i`; returns whether it was armed. O(1). */
export function wheelCancel(i: u32): bool {
  if (bucketOf(node(i)) == BUCKET_NONE) return false;
  unlink(i);
  pendingCount--;
  return true;
}

export function wheelIsArmed(i: u32): bool { return bucketOf(node(i)) != BUCKET_NONE; }

let expLevel: u32 = 0;
let expSlot: u32 = 0;
/** The earliest slot deadline in the wheel (not the due list), or u64.MAX_VALUE; sets expLevel/expSlot. */
function nextExpiration(): u64 {
  for (let level: u32 = 0; level < WHEEL_LEVELS; level++) {
    const occ = load<u64>(occAt(level));
    if (occ == 0) continue;
    const shift = <u64>level * LEVEL_BITS;
    const nowSlot = <u32>((elapsed >> shift) & 63);
    const zeros = <u32>ctz<u64>(rotr<u64>(occ, <u64>nowSlot));
    const slot = (zeros + nowSlot) & 63;
    const levelRange: u64 = <u64>1 << (shift + LEVEL_BITS);
    const levelStart = elapsed & ~(levelRange - 1);
    let deadline = levelStart + (<u64>slot << shift);
    // A slot "before" the current one is a lap ahead. Below the top level that cannot happen (a
    // timer is placed in the lowest level whose window holds both elapsed and its expiry); at the
    // top level the slots act as a ring.
    if (deadline <= elapsed && level > 0) deadline += levelRange;
    expLevel = level; expSlot = slot;
    return deadline;
  }
  return u64.MAX_VALUE;
}

/**
 * Moves timers that expire at or before `now` onto the due list, slot by slot, until `budget`
 * are due; returns whether it caught up (elapsed == now).
 */
export function wheelAdvance(now: u64, budget: u32): bool {
  while (dueCount < budget) {
    const deadline = nextExpiration();
    if (deadline > now) break;
    const b = expLevel * WHEEL_SLOTS + expSlot;
    let i = load<u32>(headAt(b));
    store<u32>(headAt(b), NONE);
    store<u32>(tailAt(b), NONE);
    store<u64>(occAt(expLevel), load<u64>(occAt(expLevel)) & ~(<u64>1 << expSlot));
    if (DEBUG) assert(deadline >= elapsed, "wheel went backwards");
    elapsed = deadline;
    while (i != NONE) {
      const n = node(i);
      const next = n.next;
      const when = whenOf(n);
      n.next = NONE; n.prev = NONE;
      insert(i, when); // cascades down, or onto the due list when when <= elapsed
      i = next;
    }
  }
  if (dueCount >= budget && nextExpiration() <= now) return false;
  if (now > elapsed) elapsed = now;
  return true;
}

/** Pops the oldest due timer (it stops being armed), or NONE. */
export function wheelPopDue(): u32 {
  const i = dueHead;
  if (i == NONE) return NONE;
  unlink(i);
  pendingCount--;
  return i;
}

/** Timers read to make a higher-level deadline exact; beyond it the slot's start is returned. */
// @ts-ignore: decorator
@inline const EXACT_SCAN_MAX: u32 = 32;

/**
 * The earliest time anything is due: `elapsed` when the due list is not empty. At level 0 a slot's
 * start is its timers' expiry. Higher up, the slot's start can be earlier than its first expiry,
 * so when that slot holds a few timers we read them and return the exact earliest one (every
 * timer in a later slot or level expires after all of this slot's), sparing the host a wake-up
 * per level a timer cascades through; a crowded slot returns its start (at most one early wake).
 */
export function wheelNextDeadline(): u64 {
  if (dueCount > 0) return elapsed;
  const d = nextExpiration();
  if (d == u64.MAX_VALUE || expLevel == 0) return d;
  let i = load<u32>(headAt(expLevel * WHEEL_SLOTS + expSlot));
  let best = u64.MAX_VALUE;
  for (let k: u32 = 0; k < EXACT_SCAN_MAX; k++) {
    if (i == NONE) return best;
    const n = node(i);
    const w = whenOf(n);
    if (w < best) best = w;
    i = n.next;
  }
  return d;
}

export function wheelWhen(i: u32): u64 { return whenOf(node(i)); }

/** O(n) audit: returns 0 or a code naming the broken invariant. */
export function checkWheel(): u32 {
  let seen: u32 = 0;
  for (let b: u32 = 0; b < WHEEL_LEVELS * WHEEL_SLOTS; b++) {
    const level = b / WHEEL_SLOTS, slot = b % WHEEL_SLOTS;
    const occupied = (load<u64>(occAt(level)) >> slot) & 1;
    let i = load<u32>(headAt(b));
    if ((i != NONE) != (occupied == 1)) return 11; // bitmap disagrees with the bucket
    let prev = NONE;
    while (i != NONE) {
      const n = node(i);
      if (bucketOf(n) != b) return 12;  // node thinks it is elsewhere
      if (n.prev != prev) return 13;    // broken back link
      if (whenOf(n) <= elapsed) return 14; // due but still in the wheel: would fire late
      if (++seen > nodeCount) return 15;
      prev = i; i = n.next;
    }
    if (load<u32>(tailAt(b)) != prev) return 13; // the tail is not the last node
  }
  let d: u32 = 0, i = dueHead, prev = NONE;
  while (i != NONE) {
    const n = node(i);
    if (bucketOf(n) != BUCKET_DUE || n.prev != prev) return 16;
    if (++d > nodeCount) return 17;
    prev = i; i = n.next;
  }
  if (d != dueCount) return 18;
  if (seen + d != pendingCount) return 19; // a timer was lost or counted twice
  return 0;
}
