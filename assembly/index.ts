// The core's exports: init and configure, the two halves of a turn, the app's commands, and
// audits for tests and the fuzzer. Imports: only wasi_snapshot_preview1 and env.memory.
//
// Assertions (docs/assertions.md lists each and why): a plain `assert()` stays on in the release
// core: cheap, O(1), guarding memory (an index before it addresses memory, a chunk's or slot's
// single owner, ring room, what the host reports). `if (DEBUG) assert()` is a debug-only audit.
// The release core traps on a failed one with its reason; the reactor reports ERR_CORE_ASSERTION.

import { header, config, metrics, computeLayout, LAYOUT_MAGIC, LAYOUT_BASE, CONFIG_OFFSET, Config } from "./layout";
import { R_BAD_ARG, R_BUDGET } from "./commands";
import { LAYOUT_VERSION } from "./layout_version.gen";
import { poolInit, checkPool, countLent } from "./pool";
import { slotsInit, checkSlots, slotCap, slot, ST_OPEN, ST_READ_ENDED, G_CLOSE_REQ } from "./conn";
import { wheelInit, checkWheel, wheelArm as armNode, wheelCancel as cancelNode } from "./wheel";
import { budgetInit, fdsOpen, fdBudget, connectsPending } from "./budget";
import { metricsInit } from "./metrics";
import { clockInit, clockReset, random32 } from "./clock";
import { turnReset, lentPending, now, idleNode } from "./turn";
import { flushReset } from "./flush";

export * from "./layout_exports";
export { ingest, turnEnd } from "./turn";
export { flush } from "./flush";
export {
  listenerOpen, connectOpen, appAcquire, appRelease, appKeep, writeTail, writeExtend, writeQueue,
  end, close, pause, resume, queuedBytesOf, holdFin, closeAll, timerArm, timerCancel, proxyHeader,
} from "./commands";
export { stateOf, genOf } from "./conn";
export { chunkState } from "./pool";
export { dirtyCount } from "./conn";

/**
 * Lays out memory for the given capacities (they must already be in the header: the host
 * wrote them) and resets every module. Returns the end of the layout in bytes; traps when the
 * memory the host created is too small.
 */
export function init(): u32 {
  const h = header();
  assert(__heap_base <= LAYOUT_BASE, "static data overlaps the layout base");
  assert(h.eventCap > 0 && (h.eventCap & (h.eventCap - 1)) == 0, "eventCap must be a power of two");
  assert(h.submitCap > 0 && (h.submitCap & (h.submitCap - 1)) == 0, "submitCap must be a power of two");
  assert(h.noteCap > 0 && (h.noteCap & (h.noteCap - 1)) == 0, "noteCap must be a power of two");
  assert(h.supplyCap > 0 && (h.supplyCap & (h.supplyCap - 1)) == 0, "supplyCap must be a power of two");
  assert(h.slotCap > 0 && h.chunkCount > 0 && h.chunkSize >= 64, "capacities must be positive");
  const end = computeLayout(h);
  assert(<u64>end <= <u64>memory.size() << 16, "memory too small for the layout");
  h.magic = LAYOUT_MAGIC;
  h.version = LAYOUT_VERSION;
  h.eventHead = 0; h.eventTail = 0; h.submitHead = 0; h.submitTail = 0;
  h.noteHead = 0; h.noteTail = 0; h.supplyHead = 0; h.supplyTail = 0;
  h.turn = 0; h.nextDeadlineMs = -1; h.hostFlags = 0; h.acceptBudget = 0;
  metricsInit();
  poolInit();
  slotsInit();
  wheelInit(2 * h.slotCap + h.appTimerCap);
  clockReset();
  clockInit();
  turnReset();
  flushReset();
  return end;
}

/** Applies the Config the host wrote (after init, before the first turn). */
export function configure(): void {
  const c = config();
  assert(c.lowWaterBytes <= c.highWaterBytes, "lowWater above highWater");
  assert(c.expiriesPerTurn > 0 && c.acceptsPerTurn > 0 && c.readsPerConnPerTurn > 0, "budgets must be positive");
  budgetInit();
}

// Config words (Config in layout.ts, each a u32) that configSet() treats specially.
const CFG_WORDS: u32 = offsetof<Config>() >> 2;
const CFG_IDLE: u32 = offsetof<Config>("idleTimeoutMs") >> 2;
const CFG_FD_LIMIT: u32 = offsetof<Config>("fdLimit") >> 2;
const CFG_FD_RESERVE: u32 = offsetof<Config>("fdReserve") >> 2;

/**
 * Changes one Config word between turns (host/ops/tuning.ts: live tuning). A call into the
 * core rather than a host write into its memory, so a trace records it as any other input and
 * a replay makes the same change at the same point. The host validated the value against its
 * option's range (host/options.ts); this refuses what would break the core's own invariants:
 * low water above high water, a zero fairness budget (R_BAD_ARG), a descriptor budget below
 * the descriptors open and connecting now (R_BUDGET: checkInvariants code 31 would fire). A
 * refused change leaves the word as it was.
 */
export function configSet(field: u32, value: u32): i32 {
  if (field >= CFG_WORDS) return R_BAD_ARG;
  const p = LAYOUT_BASE + CONFIG_OFFSET + (field << 2);
  const old = load<u32>(p);
  store<u32>(p, value);
  const c = config();
  let r: i32 = 0;
  if (c.lowWaterBytes > c.highWaterBytes || c.expiriesPerTurn == 0 || c.acceptsPerTurn == 0 || c.readsPerConnPerTurn == 0) r = R_BAD_ARG;
  else if ((field == CFG_FD_LIMIT || field == CFG_FD_RESERVE) && fdBudget() < fdsOpen + connectsPending) r = R_BUDGET;
  if (r != 0) { store<u32>(p, old); return r; }
  // Admission reads the budget at every flush; the gauge is refreshed here so metrics say it now.
  metrics().fdBudget = <f64>fdBudget();
  if (field == CFG_IDLE && value != old) retimeIdle(value);
  return 0;
}

/**
 * Idle timers are lazy (each re-arms itself from lastActivityMs when it fires), so a timer
 * armed under the old timeout would fire at its old time: up to the old timeout late after a
 * lowering, never after turning it on from 0 (none was armed). Every open connection's idle
 * timer is re-armed from its last activity under the new value (O(slots), once per change).
 */
function retimeIdle(idle: u32): void {
  const now32 = <u32>now;
  for (let i: u32 = 0; i < slotCap; i++) {
    const s = slot(i);
    if ((s.state != ST_OPEN && s.state != ST_READ_ENDED) || (s.flags2 & G_CLOSE_REQ) != 0) continue;
    if (idle == 0) { cancelNode(idleNode(i)); continue; }
    const idleFor = now32 - s.lastActivityMs; // u32 wrapping, as in onTimer
    armNode(idleNode(i), now + (idleFor < idle ? idle - idleFor : 0));
    metrics().timersArmed += 1;
  }
}

/** A random u32 from the WASI random source (the host's; seeded in the simulator). */
export function hostRandom(): u32 { return random32(); }

/**
 * Audits every invariant the fuzzer checks after a turn (O(slots + chunks + timers)).
 * Returns 0, or a code: 1-9 pool, 11-19 wheel, 21-29 slots, 31+ cross-module.
 */
export function checkInvariants(): u32 {
  let r = checkPool(); if (r != 0) return r;
  r = checkWheel(); if (r != 0) return r;
  r = checkSlots(); if (r != 0) return r;
  if (fdsOpen > fdBudget() && fdBudget() != 0) return 31;           // more descriptors than the budget
  if (countLent > lentPending()) return 32;                         // a lent chunk outside the lent list
  return 0;
}


// ── unit-test entry points (tests/core/*): the modules' own functions, nothing more ───────
import { acquire, release, handOver } from "./pool";
import { wheelArm, wheelCancel, wheelAdvance, wheelPopDue, wheelNextDeadline, wheelIsArmed, elapsed as wheelElapsed, pendingCount } from "./wheel";
import { transition, slotAlloc, slotFree } from "./conn";
import { histIndex } from "./metrics";
import { NONE, CH_APP, CH_QUEUED } from "./layout";
export function t_poolAcquire(owner: u8): u32 { return acquire(owner); }
export function t_poolRelease(c: u32, from: u8): void { release(c, from); }
export function t_poolHandOver(c: u32, from: u8, to: u8): void { handOver(c, from, to); }
export function t_poolCheck(): u32 { return checkPool(); }
export function t_wheelArm(node: u32, when: u64): void { wheelArm(node, when); }
export function t_wheelCancel(node: u32): bool { return wheelCancel(node); }
export function t_wheelAdvance(now: u64, budget: u32): bool { return wheelAdvance(now, budget); }
export function t_wheelPopDue(): u32 { return wheelPopDue(); }
export function t_wheelNextDeadline(): u64 { return wheelNextDeadline(); }
export function t_wheelIsArmed(node: u32): bool { return wheelIsArmed(node); }
export function t_wheelElapsed(): u64 { return wheelElapsed; }
export function t_wheelPending(): u32 { return pendingCount; }
export function t_wheelCheck(): u32 { return checkWheel(); }
export function t_slotAlloc(to: u8): u32 { return slotAlloc(to); }
export function t_slotFree(i: u32): void { slotFree(i); }
export function t_transition(i: u32, to: u8): void { transition(i, to); }
export function t_slotCheck(): u32 { return checkSlots(); }
export function t_histIndex(v: u32): u32 { return histIndex(v); }
// f64 variants: no BigInt at the JS boundary (benchmarks call these per operation).
export function t_wheelArmF(node: u32, when: f64): void { wheelArm(node, <u64>when); }
export function t_wheelAdvanceF(now: f64, budget: u32): bool { return wheelAdvance(<u64>now, budget); }
export function t_wheelNextDeadlineF(): f64 { const d = wheelNextDeadline(); return d == u64.MAX_VALUE ? -1 : <f64>d; }
/**
 * Chunk traffic inside the core, as a connection's write path drives the pool (benchmarks): `ops`
 * times acquire for the app, hand over to a write queue, release as written. Returns chunks seen.
 */
export function t_poolChurn(ops: u32): u32 {
  let seen: u32 = 0;
  for (let k: u32 = 0; k < ops; k++) {
    const c = acquire(CH_APP);
    if (c == NONE) break;
    handOver(c, CH_APP, CH_QUEUED);
    release(c, CH_QUEUED);
    seen += c;
  }
  return seen;
}
/**
 * Churn inside the core, as the core itself drives the wheel: `ops` times, cancel a random
 * pending node among `nodes` and arm it again `1..spanMs` ahead of `now` (xorshift32 from `seed`).
 */
export function t_wheelChurn(nodes: u32, ops: u32, now: f64, spanMs: u32, seed: u32): u32 {
  let x = seed | 1;
  const base = <u64>now;
  for (let k: u32 = 0; k < ops; k++) {
    x ^= x << 13; x ^= x >> 17; x ^= x << 5;
    const n = x % nodes;
    wheelCancel(n);
    x ^= x << 13; x ^= x >> 17; x ^= x << 5;
    wheelArm(n, base + 1 + <u64>(x % spanMs));
  }
  return x;
}
