// The four rings of layout.ts, as seen from the core: it consumes events, produces
// submissions and notes, and produces supply chunks. Single producer, single consumer per
// ring; cursors are free-running u32 counters in the header.

import { header, EventRec, SubmitRec, NoteRec, EVENT_BYTES, SUBMIT_BYTES, NOTE_BYTES, EV_ACCEPTED } from "./layout";

// ── events (host → core) ─────────────────────────────────────────────────────────────────
// @ts-ignore: decorator
@inline export function eventsPending(): u32 { const h = header(); return h.eventTail - h.eventHead; }
// @ts-ignore: decorator
@inline export function eventAt(counter: u32): EventRec {
  const h = header();
  return changetype<EventRec>(h.eventsOff + (counter & (h.eventCap - 1)) * EVENT_BYTES);
}

/**
 * Descriptors the host accepted that the core has not ingested yet: EV_ACCEPTED records still in
 * the ring (a host never defers an accept past the ring: it accepts only while the ring has room).
 * O(pending events), and 0 at once when the ring is empty, as it is after nearly every ingest.
 */
export function acceptsPending(): u32 {
  const h = header();
  let n = h.eventTail - h.eventHead;
  if (n > h.eventCap) n = h.eventCap; // a host that broke the ring cannot make this loop long
  let count: u32 = 0;
  for (let k: u32 = 0; k < n; k++) if (eventAt(h.eventHead + k).type == EV_ACCEPTED) count++;
  return count;
}

// ── submissions (core → host) ────────────────────────────────────────────────────────────
// @ts-ignore: decorator
@inline export function submitSpace(): u32 { const h = header(); return h.submitCap - (h.submitTail - h.submitHead); }

// Inlined by hand: with its release assertion the optimizer stopped inlining it (docs/assertions.md).
// @ts-ignore: decorator
@inline export function submit(op: u8, flags: u8, slot: u32, gen: u32, fd: i32, a: u32, b: u32): void {
  const h = header();
  // Callers check submitSpace() before starting a slot's work; running out here is a bug.
  assert(h.submitTail - h.submitHead < h.submitCap, "submission ring overflow");
  const r = changetype<SubmitRec>(h.submitsOff + (h.submitTail & (h.submitCap - 1)) * SUBMIT_BYTES);
  r.op = op; r.flags = flags; r.pad = 0; r.slot = slot; r.gen = gen; r.fd = fd; r.a = a; r.b = b;
  h.submitTail++;
}

// ── notes (core → app) ───────────────────────────────────────────────────────────────────
// @ts-ignore: decorator
@inline export function noteSpace(): u32 { const h = header(); return h.noteCap - (h.noteTail - h.noteHead); }

// Inlined by hand: with its release assertion the optimizer stopped inlining it (docs/assertions.md).
// @ts-ignore: decorator
@inline export function note(kind: u8, slot: u32, gen: u32, a: u32, err: u16): void {
  const h = header();
  assert(h.noteTail - h.noteHead < h.noteCap, "note ring overflow");
  const r = changetype<NoteRec>(h.notesOff + (h.noteTail & (h.noteCap - 1)) * NOTE_BYTES);
  r.kind = kind; r.flags = 0; r.err = err; r.slot = slot; r.gen = gen; r.a = a;
  h.noteTail++;
}

// ── supply (core → host): free chunks the host may read into ─────────────────────────────
// @ts-ignore: decorator
@inline export function supplyCount(): u32 { const h = header(); return h.supplyTail - h.supplyHead; }

export function supplyPush(c: u32): void {
  const h = header();
  assert(h.supplyTail - h.supplyHead < h.supplyCap, "supply ring overflow");
  store<u32>(h.supplyOff + ((h.supplyTail & (h.supplyCap - 1)) << 2), c);
  h.supplyTail++;
}
