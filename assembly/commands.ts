// The app's commands, called by the host's public API between ingest and flush (from a
// handler) or between turns. They only change slot state and mark the slot dirty; flush turns
// that into submissions, so a command never races a submission the host still holds.
//
// Return codes (i32): >= 0 success (see each), negative: an R_* error the API turns into a
// clear message.

import { config, metrics, NONE, CH_APP, CH_LENT, CH_QUEUED, CR_ABORT, CR_NORMAL, CR_SHUTDOWN, CR_TIMEOUT, CR_ERROR } from "./layout";
import {
  slot, live, slotAlloc, markDirty, slotCap, listenerCount, MAX_LISTENERS, activeCount,
  ST_LISTENING, ST_CONNECTING, ST_OPEN, ST_READ_ENDED, ST_CLOSING, ST_FREE,
  F_USER_PAUSED, F_BP_PAUSED, F_WANT_DRAIN, F_FIN_SENT, G_CONNECT_WANTED, G_CLOSE_REQ, G_END_ON_OPEN, G_HOLD_FIN,
} from "./conn";
import { acquire, release, chunk, handOver, poolChunkSize, poolChunkCount, countFree } from "./pool";
import { fdOpened, fdHeadroom, connectPendingInc, queuedTotalAdd } from "./budget";
import { wheelArm, wheelCancel, WHEEL_MAX_DELAY_MS } from "./wheel";
import { refreshNow, requestClose, requestEnd, refreshDeadline } from "./turn";

// @ts-ignore: decorator
@inline export const R_OK: i32 = 0;
// @ts-ignore: decorator
@inline export const R_WAIT: i32 = 1;          // queued, but above the high-water mark: wait for drain
// @ts-ignore: decorator
@inline export const R_STALE: i32 = -1;        // the connection is gone (closed, slot reused)
// @ts-ignore: decorator
@inline export const R_ENDED: i32 = -2;        // writing after end() or after close
// @ts-ignore: decorator
@inline export const R_NO_SLOT: i32 = -3;      // the slot table is full
// @ts-ignore: decorator
@inline export const R_BUDGET: i32 = -4;       // the descriptor budget is reached
// @ts-ignore: decorator
@inline export const R_BAD_CHUNK: i32 = -5;    // not a chunk the app may queue
// @ts-ignore: decorator
@inline export const R_BAD_ARG: i32 = -6;
// @ts-ignore: decorator
@inline export const R_LISTENERS: i32 = -7;    // too many listeners
// @ts-ignore: decorator
@inline export const R_POOL_LOW: i32 = -8;     // the pool is too low to lend a chunk for longer

/**
 * Registers a listening descriptor the host opened; returns its slot or an R_* code (then the
 * descriptor was not taken over and the host closes it).
 */
export function listenerOpen(fd: i32): i32 {
  if (fdHeadroom() == 0) return R_BUDGET;
  if (listenerCount >= MAX_LISTENERS) return R_LISTENERS;
  const i = slotAlloc(ST_LISTENING);
  if (i == NONE) return R_NO_SLOT;
  fdOpened();
  slot(i).fd = fd;
  markDirty(i); // interest IN_READ: start accepting
  return <i32>i;
}

/** Starts an outbound connection; the host keeps the address, keyed by (slot, gen). */
export function connectOpen(): i32 {
  if (fdHeadroom() == 0) return R_BUDGET;
  const maxConns = config().maxConnections;
  if (maxConns != 0 && activeCount >= maxConns) return R_NO_SLOT;
  const i = slotAlloc(ST_CONNECTING);
  if (i == NONE) return R_NO_SLOT;
  const s = slot(i);
  s.flags2 |= G_CONNECT_WANTED;
  connectPendingInc();
  // Flush published an accept budget from the slots and descriptors free then; this connect
  // takes one of each, so the host may accept one fewer this turn.
  const h = header();
  if (h.acceptBudget > 0) h.acceptBudget--;
  const t = config().connectTimeoutMs;
  if (t != 0) {
    const d = <u32>(refreshNow() + t);
    s.deadlineDueMs = d == 0 ? 1 : d;
    refreshDeadline(i);
  }
  markDirty(i);
  return <i32>i;
}

function writable(i: u32, gen: u32): i32 {
  if (!live(i, gen)) return R_STALE;
  const s = slot(i);
  if ((s.flags2 & G_CLOSE_REQ) != 0) return R_ENDED;
  const st = s.state;
  if (st == ST_OPEN || st == ST_READ_ENDED || (st == ST_CONNECTING && (s.flags2 & G_END_ON_OPEN) == 0)) return R_OK;
  // Ended, but the host still holds bytes the app wrote before end(): they may still queue.
  if (st == ST_CLOSING && (s.flags2 & G_HOLD_FIN) != 0 && (s.flags & F_FIN_SENT) == 0) return R_OK;
  return R_ENDED;
}

/**
 * While the host keeps bytes beside a dry pool for this connection, FIN waits (on: 1); off (0)
 * lets a pending graceful end proceed.
 */
export function holdFin(i: u32, gen: u32, on: u32): i32 {
  if (!live(i, gen)) return R_STALE;
  const s = slot(i);
  if (on != 0) s.flags2 |= G_HOLD_FIN; else { s.flags2 &= ~G_HOLD_FIN; markDirty(i); }
  return R_OK;
}

/** A chunk for the app to fill (state APP), or NONE when the pool is empty. */
export function appAcquire(): u32 {
  const c = acquire(CH_APP);
  if (c == NONE) metrics().poolAcquireFails += 1;
  return c;
}

/** Gives an APP chunk back unused. */
export function appRelease(c: u32): void { release(c, CH_APP); }

/**
 * Keeps a LENT chunk for the app past flush (zero-copy accumulation, conn.keep()): it becomes
 * APP, to be queued (writeQueue) or given back (appRelease). Refused while fewer than twice the
 * reserve are free (where paused reads resume): a kept chunk is one fewer to read into.
 */
export function appKeep(c: u32): i32 {
  if (c >= poolChunkCount() || chunk(c).state != CH_LENT) return R_BAD_CHUNK;
  if (countFree <= config().poolReserveChunks * 2) { metrics().poolAcquireFails += 1; return R_POOL_LOW; }
  handOver(c, CH_LENT, CH_APP);
  return R_OK;
}

/**
 * The queue's tail chunk if more bytes fit in it (not yet handed to the host), else NONE: small
 * writes share a chunk instead of taking one each.
 */
export function writeTail(i: u32, gen: u32): u32 {
  if (writable(i, gen) != R_OK) return NONE;
  const t = slot(i).queueTail;
  if (t == NONE) return NONE;
  const k = chunk(t);
  if (k.state != CH_QUEUED || k.start + k.len >= poolChunkSize()) return NONE;
  return t;
}

function afterQueue(i: u32, n: u32): i32 {
  const s = slot(i);
  s.queuedBytes += n;
  queuedTotalAdd(n);
  markDirty(i);
  if (s.queuedBytes > config().highWaterBytes) {
    s.flags |= F_WANT_DRAIN;
    if (config().pauseReadsAtHighWater != 0 && (s.flags & F_BP_PAUSED) == 0) { s.flags |= F_BP_PAUSED; metrics().backpressurePauses += 1; }
    return R_WAIT;
  }
  return R_OK;
}

/** Appends `n` bytes the app wrote in place after the tail chunk's data. */
export function writeExtend(i: u32, gen: u32, c: u32, n: u32): i32 {
  const r = writable(i, gen);
  if (r != R_OK) return r;
  const s = slot(i);
  const k = chunk(c);
  if (c != s.queueTail || k.state != CH_QUEUED || k.start + k.len + n > poolChunkSize() || n == 0) return R_BAD_CHUNK;
  k.len += n;
  return afterQueue(i, n);
}

/**
 * Queues chunk `c` (APP: filled by the app; LENT: received bytes, echoed without a copy) with
 * its valid bytes at [start, start + len). On an error an APP chunk is released (nothing
 * leaks); a LENT one stays lent and comes back at flush.
 */
export function writeQueue(i: u32, gen: u32, c: u32, start: u32, len: u32): i32 {
  const st = c < 0xffffffff ? chunk(c).state : 0xff;
  if (st != CH_APP && st != CH_LENT) return R_BAD_CHUNK;
  const r = writable(i, gen);
  if (r != R_OK || len == 0 || start + len > poolChunkSize()) {
    if (st == CH_APP) release(c, CH_APP);
    return r != R_OK ? r : R_BAD_ARG;
  }
  handOver(c, st, CH_QUEUED);
  const k = chunk(c);
  k.start = start; k.len = len; k.next = NONE;
  const s = slot(i);
  if (s.queueTail != NONE) chunk(s.queueTail).next = c; else s.queueHead = c;
  s.queueTail = c;
  return afterQueue(i, len);
}

/** Graceful end: flush what is queued, then FIN. */
export function end(i: u32, gen: u32): i32 {
  if (!live(i, gen)) return R_STALE;
  const s = slot(i);
  if (s.state == ST_LISTENING) { requestClose(i, CR_NORMAL, 0, false); return R_OK; }
  // Connecting: end once open, so what was queued still goes out.
  if (s.state == ST_CONNECTING) { s.flags2 |= G_END_ON_OPEN; return R_OK; }
  return requestEnd(i, CR_NORMAL) ? R_OK : R_ENDED;
}

/** Abortive close (reset = RST instead of FIN); queued bytes are dropped. */
export function close(i: u32, gen: u32, reset: bool): i32 {
  if (!live(i, gen)) return R_STALE;
  requestClose(i, CR_ABORT, 0, reset);
  return R_OK;
}

// proxyHeader(): what the host's PROXY protocol parser (host/reactor/proxy.ts) decided.
// @ts-ignore: decorator
@inline export const PH_ACCEPTED: u32 = 0;  // a valid header: counted, the connection goes on
// @ts-ignore: decorator
@inline export const PH_REJECTED: u32 = 1;  // malformed, too long, or the peer ended first: counted, reset
// @ts-ignore: decorator
@inline export const PH_LATE: u32 = 2;      // not complete within the deadline: counted, reset

/**
 * The host parsed (or gave up on) a connection's PROXY header. A call, not a host-side counter,
 * so the counters live in the metrics region (read from any thread, as worker mode does) and the
 * close is a recorded input: a replay of the trace closes the same connection in the same turn.
 */
export function proxyHeader(i: u32, gen: u32, result: u32): i32 {
  if (!live(i, gen)) return R_STALE;
  const m = metrics();
  if (result == PH_ACCEPTED) { m.proxyHeaders += 1; return R_OK; }
  m.proxyHeaderErrors += 1;
  if (result == PH_LATE) m.proxyHeaderTimeouts += 1;
  requestClose(i, result == PH_LATE ? CR_TIMEOUT : CR_ERROR, 0, true);
  return R_OK;
}

export function pause(i: u32, gen: u32): i32 {
  if (!live(i, gen)) return R_STALE;
  slot(i).flags |= F_USER_PAUSED;
  markDirty(i);
  return R_OK;
}

export function resume(i: u32, gen: u32): i32 {
  if (!live(i, gen)) return R_STALE;
  slot(i).flags &= ~F_USER_PAUSED;
  markDirty(i);
  return R_OK;
}

export function queuedBytesOf(i: u32, gen: u32): i32 {
  if (!live(i, gen)) return R_STALE;
  return <i32>slot(i).queuedBytes;
}

/** The reactor's close: end every connection gracefully (or abort) and close every listener. */
export function closeAll(graceful: bool): u32 {
  let n: u32 = 0;
  for (let i: u32 = 0; i < slotCap; i++) {
    const s = slot(i);
    const st = s.state;
    if (st == ST_FREE) continue;
    n++;
    if (st == ST_LISTENING || st == ST_CONNECTING || !graceful) requestClose(i, CR_SHUTDOWN, 0, !graceful && st != ST_LISTENING);
    else if (!requestEnd(i, CR_SHUTDOWN) && st != ST_CLOSING) requestClose(i, CR_SHUTDOWN, 0, false);
  }
  return n;
}

// ── app timers: ids 0 .. appTimerCap-1, nodes after the connections' ─────────────────────
export function timerArm(id: u32, delayMs: u32): i32 {
  if (id >= header_appTimerCap()) return R_BAD_ARG;
  if (<u64>delayMs > WHEEL_MAX_DELAY_MS) return R_BAD_ARG;
  // Read the clock afresh: `now` of the last ingest may be stale between turns, and a timer
  // armed relative to it could fire early.
  wheelArm((slotCap << 1) + id, refreshNow() + delayMs);
  metrics().timersArmed += 1;
  // Armed after flush (from a handler called after it, or between turns): the host's wait must
  // not outlast it.
  const h = header();
  if (h.nextDeadlineMs < 0 || <u32>h.nextDeadlineMs > delayMs) h.nextDeadlineMs = <i32>delayMs;
  return R_OK;
}

export function timerCancel(id: u32): i32 {
  if (id >= header_appTimerCap()) return R_BAD_ARG;
  return wheelCancel((slotCap << 1) + id) ? 1 : 0;
}

import { header } from "./layout";
// @ts-ignore: decorator
@inline function header_appTimerCap(): u32 { return header().appTimerCap; }
