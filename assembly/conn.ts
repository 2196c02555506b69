// Connection slots and the connection state machine.
//
// A fixed table of Slot records (layout.ts), sized at init. A connection is named by
// (slot, gen); `gen` is bumped each time the slot is freed, so an event or an app handle for
// an earlier occupant of the slot is recognised as stale and dropped.
//
// States (one line each: what holds in it):
//   FREE        on the free list; gen is the one the next occupant gets
//   LISTENING   a listener; interest IN_READ means "accepting"
//   CONNECTING  outbound connect submitted; no reads or writes yet (writes queue up)
//   OPEN        both directions open
//   READ_ENDED  the peer half-closed (FIN received); we may still write
//   CLOSING     we ended (end()): queued writes flush, then FIN; reads go on until the peer's FIN
//   CLOSED      being torn down this flush: descriptor closed, close note emitted, then FREE
// `transition()` owns every state change and asserts it against TRANSITIONS.

import { Slot, header, metrics, config, NONE, SLOT_BYTES } from "./layout";

// @ts-ignore: decorator
@inline export const ST_FREE: u8 = 0;
// @ts-ignore: decorator
@inline export const ST_LISTENING: u8 = 1;
// @ts-ignore: decorator
@inline export const ST_CONNECTING: u8 = 2;
// @ts-ignore: decorator
@inline export const ST_OPEN: u8 = 3;
// @ts-ignore: decorator
@inline export const ST_READ_ENDED: u8 = 4;
// @ts-ignore: decorator
@inline export const ST_CLOSING: u8 = 5;
// @ts-ignore: decorator
@inline export const ST_CLOSED: u8 = 6;
// @ts-ignore: decorator
@inline export const ST_COUNT: u8 = 7;

/** Bit `to` of TRANSITIONS[from] is set when from → to is legal. Mirrored in tests. */
export const TRANSITIONS: StaticArray<u8> = [
  /* FREE       */ (1 << ST_LISTENING) | (1 << ST_CONNECTING) | (1 << ST_OPEN),
  /* LISTENING  */ (1 << ST_CLOSED),
  /* CONNECTING */ (1 << ST_OPEN) | (1 << ST_CLOSED),
  /* OPEN       */ (1 << ST_READ_ENDED) | (1 << ST_CLOSING) | (1 << ST_CLOSED),
  /* READ_ENDED */ (1 << ST_CLOSING) | (1 << ST_CLOSED),
  /* CLOSING    */ (1 << ST_CLOSED),
  /* CLOSED     */ (1 << ST_FREE),
];

// Slot.flags
// @ts-ignore: decorator
@inline export const F_DIRTY: u8 = 1;          // on the dirty list: flush looks at it
// @ts-ignore: decorator
@inline export const F_READ_EOF: u8 = 2;       // the peer's FIN arrived
// @ts-ignore: decorator
@inline export const F_FIN_SENT: u8 = 4;       // our SHUTDOWN was submitted
// @ts-ignore: decorator
@inline export const F_USER_PAUSED: u8 = 8;    // the app paused reading (listener: accepting paused)
// @ts-ignore: decorator
@inline export const F_BP_PAUSED: u8 = 16;     // backpressure paused reading (listener: backing off)
// @ts-ignore: decorator
@inline export const F_WAIT_WRITABLE: u8 = 32; // a write hit EAGAIN: wait for EV_WRITABLE
// @ts-ignore: decorator
@inline export const F_WANT_DRAIN: u8 = 64;    // write() said "wait": emit drain below low water
// @ts-ignore: decorator
@inline export const F_HANDSHAKE: u8 = 128;    // accepted, no byte received yet

// Slot.flags2
// @ts-ignore: decorator
@inline export const G_CLOSE_REQ: u8 = 1;      // close decided; flush tears down
// @ts-ignore: decorator
@inline export const G_RESET: u8 = 2;          // close abortively (RST)
// @ts-ignore: decorator
@inline export const G_END_ON_OPEN: u8 = 4;    // end() while connecting: end gracefully once open
// @ts-ignore: decorator
@inline export const G_CONNECT_WANTED: u8 = 8; // CONNECT not yet submitted
// @ts-ignore: decorator
@inline export const G_AWAIT_SOCKET: u8 = 16;  // CONNECT submitted, EV_SOCKET_OPENED not yet seen
// @ts-ignore: decorator
@inline export const G_LISTENER: u8 = 32;
// @ts-ignore: decorator
@inline export const G_AUTO_END: u8 = 64;      // end gracefully at flush, after the app's handlers ran
// @ts-ignore: decorator
@inline export const G_HOLD_FIN: u8 = 128;     // the host still has bytes for this connection: no FIN yet

let slotsOff: u32 = 0;
export let slotCap: u32 = 0;
let freeHead: u32 = NONE;
export let activeCount: u32 = 0;   // connections (not listeners) in use
export let listenerCount: u32 = 0;
let dirtyHead: u32 = NONE;
let dirtyTail: u32 = NONE;
export let dirtyCount: u32 = 0;

// Listeners: a short list (admission changes touch every listener).
// @ts-ignore: decorator
@inline export const MAX_LISTENERS: u32 = 64;
export const listeners = new StaticArray<u32>(MAX_LISTENERS);

// @ts-ignore: decorator
@inline export function slot(i: u32): Slot {
  assert(i < slotCap, "slot index out of range");
  return changetype<Slot>(slotsOff + i * SLOT_BYTES);
}

export function slotsInit(): void {
  const h = header();
  slotsOff = h.slotsOff;
  slotCap = h.slotCap;
  freeHead = NONE;
  for (let i = slotCap; i > 0; i--) {
    const s = slot(i - 1);
    s.gen = 1; s.fd = -1; s.state = ST_FREE; s.flags = 0; s.flags2 = 0; s.interest = 0;
    s.queueHead = NONE; s.queueTail = NONE; s.queuedBytes = 0; s.inflightBytes = 0;
    s.dirtyNext = NONE; s.freeNext = freeHead; freeHead = i - 1;
  }
  activeCount = 0; listenerCount = 0;
  dirtyHead = NONE; dirtyTail = NONE; dirtyCount = 0;
  for (let i: u32 = 0; i < MAX_LISTENERS; i++) unchecked(listeners[i] = NONE);
}

/** True when (i, gen) names a live occupant. */
// @ts-ignore: decorator
@inline export function live(i: u32, gen: u32): bool {
  return i < slotCap && slot(i).gen == gen && slot(i).state != ST_FREE;
}

// Inlined by hand: with its release assertion the optimizer stopped inlining it (docs/assertions.md).
// @ts-ignore: decorator
@inline export function transition(i: u32, to: u8): void {
  const s = slot(i);
  const from = s.state;
  if (DEBUG) assert(((<u32>unchecked(TRANSITIONS[from]) >> to) & 1) != 0, "illegal connection state transition");
  s.state = to;
}

/** Takes a free slot into state `to`; NONE when the table is full. */
export function slotAlloc(to: u8): u32 {
  const i = freeHead;
  if (i == NONE) return NONE;
  const s = slot(i);
  assert(s.state == ST_FREE, "slot on the free list is not free");
  freeHead = s.freeNext;
  s.freeNext = NONE;
  s.fd = -1; s.flags = 0; s.flags2 = 0; s.interest = 0;
  s.queueHead = NONE; s.queueTail = NONE; s.queuedBytes = 0; s.inflightBytes = 0;
  s.closeReason = 0; s.closeErr = 0; s.owner = NONE;
  s.deadlineDueMs = 0; s.lingerDueMs = 0; s.lastActivityMs = 0; s.lastWriteMs = 0;
  transition(i, to);
  if (to == ST_LISTENING) {
    listenerCount++;
    s.flags2 = G_LISTENER;
    for (let k: u32 = 0; k < MAX_LISTENERS; k++) {
      if (unchecked(listeners[k]) == NONE) { unchecked(listeners[k] = i); break; }
    }
  } else activeCount++;
  return i;
}

/** CLOSED → FREE: bumps the generation so every handle and event for this occupant goes stale. */
export function slotFree(i: u32): void {
  const s = slot(i);
  assert(s.queueHead == NONE && s.queuedBytes == 0, "freeing a slot with queued writes");
  assert((s.flags & F_DIRTY) == 0, "freeing a dirty slot");
  if ((s.flags2 & G_LISTENER) != 0) {
    listenerCount--;
    for (let k: u32 = 0; k < MAX_LISTENERS; k++) {
      if (unchecked(listeners[k]) == i) { unchecked(listeners[k] = NONE); break; }
    }
  } else activeCount--;
  transition(i, ST_FREE);
  s.gen++;
  if (s.gen == 0) s.gen = 1; // 0 is never a live generation
  s.fd = -1; s.flags = 0; s.flags2 = 0;
  s.freeNext = freeHead; freeHead = i;
}

// Inlined by hand: with its release assertion the optimizer stopped inlining it (docs/assertions.md).
// @ts-ignore: decorator
@inline export function markDirty(i: u32): void {
  const s = slot(i);
  if ((s.flags & F_DIRTY) != 0) return;
  s.flags |= F_DIRTY;
  s.dirtyNext = NONE;
  if (dirtyTail != NONE) slot(dirtyTail).dirtyNext = i; else dirtyHead = i;
  dirtyTail = i;
  dirtyCount++;
}

/** Pops the first dirty slot (clearing F_DIRTY), or NONE. */
export function popDirty(): u32 {
  const i = dirtyHead;
  if (i == NONE) return NONE;
  const s = slot(i);
  dirtyHead = s.dirtyNext;
  if (dirtyHead == NONE) dirtyTail = NONE;
  s.dirtyNext = NONE;
  s.flags &= ~F_DIRTY;
  dirtyCount--;
  return i;
}

/** O(n) audit of the table: 0 or an INV_* code. */
export function checkSlots(): u32 {
  let free: u32 = 0, conns: u32 = 0, lis: u32 = 0;
  let i = freeHead;
  while (i != NONE) {
    if (i >= slotCap || slot(i).state != ST_FREE) return 21;
    if (++free > slotCap) return 22;
    i = slot(i).freeNext;
  }
  let dirty: u32 = 0;
  i = dirtyHead;
  while (i != NONE) {
    if ((slot(i).flags & F_DIRTY) == 0) return 23;
    if (++dirty > slotCap) return 24;
    i = slot(i).dirtyNext;
  }
  if (dirty != dirtyCount) return 25;
  for (let k: u32 = 0; k < slotCap; k++) {
    const sk = slot(k);
    const st = sk.state;
    if (st == ST_FREE) continue;
    // A close decided with nothing in flight must be on the dirty list, or it never happens.
    if ((sk.flags2 & G_CLOSE_REQ) != 0 && sk.inflightBytes == 0 && (sk.flags2 & G_AWAIT_SOCKET) == 0 && (sk.flags & F_DIRTY) == 0) return 29;
    if (st >= ST_COUNT || st == ST_CLOSED) return 26; // CLOSED never outlives a flush
    if (st == ST_LISTENING) lis++; else conns++;
  }
  if (free + conns + lis != slotCap) return 27;
  if (conns != activeCount || lis != listenerCount) return 28;
  return 0;
}

export function stateOf(i: u32): u8 { return i < slotCap ? slot(i).state : 0xff; }
export function genOf(i: u32): u32 { return i < slotCap ? slot(i).gen : 0; }
