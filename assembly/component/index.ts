// The core as a WebAssembly component (core.wit; built by tools/component.mjs, described in
// docs/component.md). The logic is the shared-memory core's own (assembly/*.ts, imported, not
// copied); this file is only the boundary a component needs instead of shared memory:
//   - the memory is the module's own and unshared, grown by `init` to the layout's size;
//   - the canonical ABI is written by hand: `cabi_realloc` hands out room in an arena past the
//     layout's end, results come back as a pointer to a static record, `cabi_post_step` frees;
//   - a step carries the host's writes in (events, cursors) and the core's outputs out, so one
//     call crosses the boundary per core call.
// Export names are the WIT names (world-level functions). Imports: clock-ns and random-bytes
// (lib/bindings/wasi_snapshot_preview1.ts), log (lib/component_abort.ts).
import { init as coreInit, configure as coreConfigure, configSet, checkInvariants } from "../index";
import { header, config, computeLayout, Config, LAYOUT_BASE, EVENT_BYTES, SUBMIT_BYTES, NOTE_BYTES } from "../layout";
import { LAYOUT_VERSION } from "../layout_version.gen";
import { ingest } from "../turn";
import { flush } from "../flush";
import {
  listenerOpen, connectOpen, appAcquire, appRelease, appKeep, writeTail, writeExtend, writeQueue,
  end, close, pause, resume, holdFin, closeAll, timerArm, timerCancel, proxyHeader,
} from "../commands";

// ── the arena: every list that crosses the boundary lives here until its call ends ─────────
// It starts past the layout's end (init sets it), grows the memory when it must, and is emptied
// after each call, so it holds at most one call's lists.
let arenaBase: usize = 0;
let arenaTop: usize = 0;

function arenaReset(): void { arenaTop = arenaBase; }

/** The canonical ABI's allocator: the host writes lists (parameters, import results) through it. */
export function cabi_realloc(old: usize, oldSize: usize, align: usize, newSize: usize): usize {
  assert(arenaBase != 0, "a list reached the component before init: call init first");
  if (old != 0 && newSize <= oldSize) return old;
  const p = (arenaTop + align - 1) & ~(align - 1);
  const end = p + newSize;
  const have = <usize>memory.size() << 16;
  if (end > have) {
    const pages = <i32>((end - have + 0xffff) >>> 16);
    assert(memory.grow(pages) >= 0, "the component's memory cannot grow for a list");
  }
  if (old != 0) memory.copy(p, old, oldSize);
  arenaTop = end;
  return p;
}

// ── lifecycle ──────────────────────────────────────────────────────────────────────────────
export function version(): u32 { return LAYOUT_VERSION; }

/** Submissions and notes already returned: a step returns those past them. */
let sentSubmitTail: u32 = 0;
let sentNoteTail: u32 = 0;

export function init(slotCap: u32, chunkSize: u32, chunkCount: u32, appTimerCap: u32, eventCap: u32, submitCap: u32, noteCap: u32, supplyCap: u32): u32 {
  const h = header();
  h.slotCap = slotCap; h.chunkSize = chunkSize; h.chunkCount = chunkCount; h.appTimerCap = appTimerCap;
  h.eventCap = eventCap; h.submitCap = submitCap; h.noteCap = noteCap; h.supplyCap = supplyCap;
  // The shared-memory host sizes the memory from the same layout before init; here the core
  // grows its own. The arena starts past the layout, with a page of room.
  const end = computeLayout(h);
  arenaBase = (<usize>end + 63) & ~63;
  arenaTop = arenaBase;
  const want = arenaBase + 0x10000, have = <usize>memory.size() << 16;
  if (want > have) assert(memory.grow(<i32>((want - have + 0xffff) >>> 16)) >= 0, "the component's memory cannot grow to the layout's size");
  const r = coreInit();
  sentSubmitTail = h.submitTail;
  sentNoteTail = h.noteTail;
  arenaReset();
  return r;
}

/** Copies the Config words the host sent (as laid out) into place, then applies them. */
export function configure(ptr: usize, len: u32): void {
  assert(len == offsetof<Config>() >> 2, "configure takes exactly the Config block's words");
  memory.copy(changetype<usize>(config()), ptr, <usize>len << 2);
  coreConfigure();
  arenaReset();
}

export function audit(): u32 { return checkInvariants(); }

// ── a step ─────────────────────────────────────────────────────────────────────────────────
/** The output record (core.wit `output`): result, two lists as (ptr, len), four published words. */
const OUT = memory.data(48);

export function step(op: u32, argsPtr: usize, argsLen: u32, evPtr: usize, evLen: u32, submitHead: u32, supplyHead: u32, noteHead: u32): usize {
  const h = header();
  assert(arenaBase != 0, "step before init");
  // The host's writes: events at the ring's tail, then the cursors it owns.
  assert(evLen % EVENT_BYTES == 0, "events must be whole EventRec records");
  const n = evLen / EVENT_BYTES;
  let tail = h.eventTail;
  assert(n <= h.eventCap - (tail - h.eventHead), "more events than the event ring has room for");
  for (let k: u32 = 0; k < n; k++, tail++) {
    memory.copy(h.eventsOff + (tail & (h.eventCap - 1)) * EVENT_BYTES, evPtr + k * EVENT_BYTES, EVENT_BYTES);
  }
  h.eventTail = tail;
  h.submitHead = submitHead;
  h.supplyHead = supplyHead;
  h.noteHead = noteHead;

  const a0 = argsLen > 0 ? load<u32>(argsPtr) : 0, a1 = argsLen > 1 ? load<u32>(argsPtr, 4) : 0;
  const a2 = argsLen > 2 ? load<u32>(argsPtr, 8) : 0, a3 = argsLen > 3 ? load<u32>(argsPtr, 12) : 0;
  const a4 = argsLen > 4 ? load<u32>(argsPtr, 16) : 0;
  let r: u32 = 0;
  switch (op) {
    case 0: r = ingest(); break;
    case 1: r = flush(); break;
    case 2: r = <u32>listenerOpen(<i32>a0); break;
    case 3: r = <u32>connectOpen(); break;
    case 4: r = appAcquire(); break;
    case 5: appRelease(a0); break;
    case 6: r = writeTail(a0, a1); break;
    case 7: r = <u32>writeExtend(a0, a1, a2, a3); break;
    case 8: r = <u32>writeQueue(a0, a1, a2, a3, a4); break;
    case 9: r = <u32>end(a0, a1); break;
    case 10: r = <u32>close(a0, a1, a2 != 0); break;
    case 11: r = <u32>pause(a0, a1); break;
    case 12: r = <u32>resume(a0, a1); break;
    case 13: r = <u32>holdFin(a0, a1, a2); break;
    case 14: r = closeAll(a0 != 0); break;
    case 15: r = <u32>timerArm(a0, a1); break;
    case 16: r = <u32>timerCancel(a0); break;
    case 17: r = <u32>appKeep(a0); break;
    case 18: r = <u32>configSet(a0, a1); break;
    case 19: r = <u32>proxyHeader(a0, a1, a2); break;
    default: assert(false, "unknown op");
  }

  // The outputs: records the call appended to the submit and note rings, copied out in order.
  const subs = copyOut(h.submitsOff, h.submitCap, SUBMIT_BYTES, sentSubmitTail, h.submitTail);
  const subsLen = (h.submitTail - sentSubmitTail) * (SUBMIT_BYTES >> 2);
  const notes = copyOut(h.notesOff, h.noteCap, NOTE_BYTES, sentNoteTail, h.noteTail);
  const notesLen = (h.noteTail - sentNoteTail) * (NOTE_BYTES >> 2);
  sentSubmitTail = h.submitTail;
  sentNoteTail = h.noteTail;
  store<u32>(OUT, r, 0);
  store<u32>(OUT, <u32>subs, 4); store<u32>(OUT, subsLen, 8);
  store<u32>(OUT, <u32>notes, 12); store<u32>(OUT, notesLen, 16);
  store<i32>(OUT, h.nextDeadlineMs, 20);
  store<u32>(OUT, h.hostFlags, 24);
  store<u32>(OUT, h.acceptBudget, 28);
  store<u32>(OUT, h.readsPerConn, 32);
  return OUT;
}

/** The host has copied step's lists: the arena is free again. */
export function cabi_post_step(_out: usize): void { arenaReset(); }

/** Copies ring records [from, to) (free-running counters) into the arena; returns where. */
function copyOut(off: u32, cap: u32, size: u32, from: u32, to: u32): usize {
  const n = to - from;
  assert(n <= cap, "a ring moved by more than its capacity between steps");
  const p = cabi_realloc(0, 0, 4, <usize>n * size);
  for (let k: u32 = 0; k < n; k++) memory.copy(p + k * size, off + ((from + k) & (cap - 1)) * size, size);
  return p;
}

// Keeps LAYOUT_BASE's assertion in one place: the static data must stay below the layout.
assert(__heap_base <= LAYOUT_BASE, "static data overlaps the layout base");
