// Buffer pool: fixed-size chunks in linear memory, O(1) acquire/release through an intrusive
// free list. Every chunk has exactly one owner at any time, recorded in its state:
//   FREE → SUPPLY (host may read into it) → LENT (read bytes, lent to the app until flush)
//   FREE → APP (the app fills it) → QUEUED (write queue) → WRITING (in a submitted WRITE) → FREE
//   LENT → QUEUED (echo without copying) ; WRITING → QUEUED (partial write, rest stays queued)
// Idle connections hold no chunk: reads take chunks from the shared supply ring.
// Conservation (checked by checkPool and by the fuzzer): the per-state counts add up to the total.

import { ChunkMeta, header, NONE, CHUNK_META_BYTES, CH_FREE, CH_SUPPLY, CH_LENT, CH_QUEUED, CH_WRITING, CH_APP } from "./layout";

let freeHead: u32 = NONE;
// Counts per state, indexed by CH_*; conservation: their sum is chunkCount.
let metaOff: u32 = 0;
let dataOff: u32 = 0;
let chunkSize: u32 = 0;
let chunkCount: u32 = 0;
export let countFree: u32 = 0;
export let countSupply: u32 = 0;
export let countLent: u32 = 0;
export let countQueued: u32 = 0;
export let countWriting: u32 = 0;
export let countApp: u32 = 0;

// @ts-ignore: decorator
@inline export function chunk(c: u32): ChunkMeta {
  assert(c < chunkCount, "chunk index out of range");
  return changetype<ChunkMeta>(metaOff + c * CHUNK_META_BYTES);
}

// @ts-ignore: decorator
@inline export function chunkData(c: u32): usize { return dataOff + c * chunkSize; }

export function poolInit(): void {
  const h = header();
  metaOff = h.chunkMetaOff;
  dataOff = h.chunkDataOff;
  chunkSize = h.chunkSize;
  chunkCount = h.chunkCount;
  freeHead = NONE;
  // Build the free list so that acquisition starts at chunk 0 (deterministic, cache-friendly).
  for (let i = chunkCount; i > 0; i--) {
    const m = chunk(i - 1);
    m.next = freeHead; m.start = 0; m.len = 0; m.state = CH_FREE;
    freeHead = i - 1;
  }
  countFree = chunkCount; countSupply = 0; countLent = 0; countQueued = 0; countWriting = 0; countApp = 0;
}

// @ts-ignore: decorator
@inline function countAdd(state: u8, d: i32): void {
  switch (state) {
    case CH_FREE: countFree += d; break;
    case CH_SUPPLY: countSupply += d; break;
    case CH_LENT: countLent += d; break;
    case CH_QUEUED: countQueued += d; break;
    case CH_WRITING: countWriting += d; break;
    case CH_APP: countApp += d; break;
    default: assert(false, "bad chunk state");
  }
}

/** Takes a free chunk for `owner` (any state but FREE); NONE when the pool is empty. */
export function acquire(owner: u8): u32 {
  // The pair of release's `from != CH_FREE`: acquiring "for FREE" would unlink the chunk from
  // the free list while it still reads as free (leaked; checkPool then reports 4). Checked
  // before the free list is touched so a trap leaves the pool intact.
  if (DEBUG) assert(owner != CH_FREE && owner <= CH_APP, "acquire: owner must be a holding state");
  const c = freeHead;
  if (c == NONE) return NONE;
  const m = chunk(c);
  assert(m.state == CH_FREE, "acquire: chunk on the free list is not free");
  freeHead = m.next;
  m.next = NONE; m.start = 0; m.len = 0; m.state = owner;
  countFree--; countAdd(owner, 1);
  return c;
}

/** Returns a chunk to the free list; the caller must be its owner (`from`). */
// Inlined by hand: with its release assertion the optimizer stopped inlining it (docs/assertions.md).
// @ts-ignore: decorator
@inline export function release(c: u32, from: u8): void {
  const m = chunk(c);
  // The pair of acquire's check: a chunk is released once, by the owner it was handed to.
  assert(m.state == from, "release: chunk not held by the releasing owner (double release?)");
  assert(from != CH_FREE, "release: chunk already free");
  countAdd(from, -1);
  m.state = CH_FREE; m.len = 0; m.start = 0;
  m.next = freeHead; freeHead = c; countFree++;
}

/** The broken build's bug (see teardown): a release without the owner check. Never in debug or release. */
export function unguardedRelease(c: u32): void {
  const m = chunk(c);
  m.next = freeHead; freeHead = c; countFree++;
}

/** Moves a chunk between two non-free owners. */
export function handOver(c: u32, from: u8, to: u8): void {
  const m = chunk(c);
  assert(m.state == from, "handOver: chunk not held by the handing owner");
  if (DEBUG) assert(from != CH_FREE && to != CH_FREE, "handOver: use acquire/release for FREE");
  countAdd(from, -1); countAdd(to, 1);
  m.state = to;
}

export function chunkState(c: u32): u8 { return c < chunkCount ? chunk(c).state : 0xff; }
export function poolChunkSize(): u32 { return chunkSize; }
export function poolChunkCount(): u32 { return chunkCount; }

/** O(n) audit: walks the free list and all metadata; returns 0 or an INV_* code. */
export function checkPool(): u32 {
  let n: u32 = 0;
  let c = freeHead;
  while (c != NONE) {
    if (c >= chunkCount) return 1;           // free list points outside the pool
    if (chunk(c).state != CH_FREE) return 2; // non-free chunk on the free list
    if (++n > chunkCount) return 3;          // cycle in the free list
    c = chunk(c).next;
  }
  if (n != countFree) return 4;
  let s: u32 = 0, l: u32 = 0, q: u32 = 0, w: u32 = 0, a: u32 = 0, f: u32 = 0;
  for (let i: u32 = 0; i < chunkCount; i++) {
    const st = chunk(i).state;
    if (st == CH_FREE) f++; else if (st == CH_SUPPLY) s++; else if (st == CH_LENT) l++;
    else if (st == CH_QUEUED) q++; else if (st == CH_WRITING) w++; else if (st == CH_APP) a++;
    else return 5;
  }
  if (f != countFree || s != countSupply || l != countLent || q != countQueued || w != countWriting || a != countApp) return 6;
  if (f + s + l + q + w + a != chunkCount) return 7;
  return 0;
}
