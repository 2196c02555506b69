// The TypeScript side of the memory layout. Field offsets, constants and the ring records'
// pack/unpack helpers come from layout.gen.ts (generated from assembly/layout.ts); this file adds
// the region computation, which mirrors computeLayout() in the core and is checked against it
// by tests/core/layout.test.ts. Read assembly/layout.ts for the table of regions.
import {
  K, Slot_BYTES, ChunkMeta_BYTES, TimerNode_BYTES, EventRec_BYTES, SubmitRec_BYTES, NoteRec_BYTES, Metrics_BYTES,
} from "./layout.gen.ts";

// Everything generated: offsets, sizes, K, LAYOUT_VERSION and the record helpers (eventType(),
// writeEvent(), submitOp(), noteKind(), ...: pack and unpack ring records in place).
export * from "./layout.gen.ts";

export const LAYOUT_BASE = K.LAYOUT_BASE;
export const CONFIG_BASE = K.LAYOUT_BASE + K.CONFIG_OFFSET;
export const NONE = K.NONE;
export const ERRNO_OFFSET = Metrics_BYTES;
export const HIST_OFFSET = ERRNO_OFFSET + K.ERRNO_SLOTS * 8;
export const METRICS_BYTES = align64(HIST_OFFSET + K.HIST_COUNT * K.HIST_BUCKETS * 4);
export const WHEEL_BYTES = align64(2 * K.WHEEL_LEVELS * K.WHEEL_SLOTS * 4 + K.WHEEL_LEVELS * 8 + 64); // heads, tails, bitmaps

/** Capacities fixed at init. Ring capacities are powers of two. */
export interface Capacities {
  slotCap: number;
  chunkSize: number;
  chunkCount: number;
  appTimerCap: number;
  eventCap: number;
  submitCap: number;
  noteCap: number;
  supplyCap: number;
}

export interface Regions {
  metricsOff: number;
  eventsOff: number;
  submitsOff: number;
  notesOff: number;
  supplyOff: number;
  lentOff: number;
  slotsOff: number;
  timersOff: number;
  wheelOff: number;
  chunkMetaOff: number;
  chunkDataOff: number;
  endOff: number;
}

function align64(x: number): number { return Math.ceil(x / 64) * 64; }

/** Mirrors computeLayout() in assembly/layout.ts. */
export function computeLayout(c: Capacities): Regions {
  let off = K.LAYOUT_BASE + K.HEADER_BYTES;
  const r = {} as Regions;
  r.metricsOff = off; off = align64(off + METRICS_BYTES);
  r.eventsOff = off; off = align64(off + EventRec_BYTES * c.eventCap);
  r.submitsOff = off; off = align64(off + SubmitRec_BYTES * c.submitCap);
  r.notesOff = off; off = align64(off + NoteRec_BYTES * c.noteCap);
  r.supplyOff = off; off = align64(off + 4 * c.supplyCap);
  r.lentOff = off; off = align64(off + 4 * c.eventCap);
  r.slotsOff = off; off = align64(off + Slot_BYTES * c.slotCap);
  r.timersOff = off; off = align64(off + TimerNode_BYTES * (2 * c.slotCap + c.appTimerCap));
  r.wheelOff = off; off = align64(off + WHEEL_BYTES);
  r.chunkMetaOff = off; off = align64(off + ChunkMeta_BYTES * c.chunkCount);
  off = Math.ceil(off / 4096) * 4096;
  r.chunkDataOff = off; off = off + c.chunkSize * c.chunkCount;
  r.endOff = off;
  return r;
}

/** Bytes of linear memory a core with these capacities needs (whole 64 KiB pages). */
export function memoryBytes(c: Capacities): number {
  return Math.ceil(computeLayout(c).endOff / 65536) * 65536;
}

/** Memory the core uses per connection: its slot and its two timer nodes. */
export const BYTES_PER_CONNECTION = Slot_BYTES + 2 * TimerNode_BYTES;
