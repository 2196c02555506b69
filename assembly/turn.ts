// The loop turn. One turn, driven by the host:
//
//   1. ingest()  — read the clock; consume the event batch (accepts, reads, write completions,
//                  connects, errors); expire due timers (bounded); emit notes for the app.
//   2. the host dispatches the notes to the app's handlers, which call back into
//      commands.ts (write, end, close, pause, timers). Lent read chunks are valid until 3.
//   3. flush()   — (flush.ts) release lent chunks; for each dirty slot, in order: tear down, write,
//                  FIN, interest; refill the supply ring; publish the per-turn budgets and
//                  the next deadline; refresh gauges.
//   4. the host executes the submission batch, waits (at most nextDeadlineMs), accepts and
//      reads into supply chunks, and fills the next event batch.
//
// Nothing here blocks or allocates. Work that does not fit (a full note or submission ring,
// a timer budget spent) carries over and makes nextDeadlineMs 0 so the host does not wait.

import {
  header, config, metrics, EventRec, NONE, EV_ACCEPTED, EV_ACCEPT_ERROR, EV_READ, EV_READ_ERROR,
  EV_WRITE_DONE, EV_WRITABLE, EV_CONNECTED, EV_CONNECT_FAILED, EV_SOCKET_OPENED, SQ_CLOSE,
  SQF_RESET, NT_OPEN, NT_DATA, NT_END, NT_DRAIN, NT_TIMEOUT, NT_ERROR, NT_TIMER, NT_LISTEN_ERROR,
  TO_IDLE, TO_CONNECT, TO_HANDSHAKE, TO_WRITE_STALL, CR_NORMAL, CR_RESET, CR_ERROR, CR_TIMEOUT,
  CR_CONNECT_FAILED, CH_SUPPLY, CH_LENT, CH_QUEUED, CH_WRITING, E_AGAIN, E_PIPE, E_CONNRESET,
  E_MFILE, E_NFILE, E_TIMEDOUT, HIST_BATCH, HIST_LATENESS_MS,
} from "./layout";
import {
  slot, slotCap, live, transition, slotAlloc, markDirty, ST_LISTENING, ST_CONNECTING, ST_OPEN,
  ST_READ_ENDED, ST_CLOSING, F_READ_EOF, F_BP_PAUSED, F_WAIT_WRITABLE, F_WANT_DRAIN, F_HANDSHAKE,
  G_CLOSE_REQ, G_RESET, G_END_ON_OPEN, G_AWAIT_SOCKET, G_AUTO_END,
} from "./conn";
import { release, handOver, chunk, poolChunkSize } from "./pool";
import { wheelWhen, wheelAdvance, wheelPopDue, wheelArm, wheelCancel, fullWhen, dueCount } from "./wheel";
import { fdOpened, fdClosed, connectPendingDec, queuedTotalSub } from "./budget";
import { histRecord, countErrno } from "./metrics";
import { eventsPending, eventAt, submit, submitSpace, note, noteSpace } from "./rings";
import { nowMs, msAt, clockNs } from "./clock";

/** Worst-case notes one event or timer can emit (ERROR + TIMEOUT + CLOSE + slack). */
// @ts-ignore: decorator
@inline export const NOTES_PER_ITEM: u32 = 4;
/** Worst-case submissions one dirty slot can emit (WRITE, SHUTDOWN, CLOSE, INTEREST, CONNECT). */
// @ts-ignore: decorator
@inline export const SUBMITS_PER_SLOT: u32 = 5;

// The turn's state, shared with flush.ts.
export let now: u64 = 0;
export let turnStartNs: u64 = 0;
let lentCount: u32 = 0;
let carried: bool = false; // work left over this turn: do not let the host sleep
/** Work left over this turn (a full ring, a spent budget): the host must not sleep. */
export function carryOver(): void { carried = true; }
export function workCarried(): bool { return carried; }

/** Re-reads the clock (for commands issued between turns). */
export function refreshNow(): u64 { now = nowMs(); return now; }

// ── helpers ──────────────────────────────────────────────────────────────────────────────

// @ts-ignore: decorator
@inline function now32(): u32 { return <u32>now; }
// @ts-ignore: decorator
@inline export function due32(delayMs: u32): u32 { const d = <u32>(now + delayMs); return d == 0 ? 1 : d; }
// @ts-ignore: decorator
@inline export function idleNode(i: u32): u32 { return i << 1; }
// @ts-ignore: decorator
@inline export function deadlineNode(i: u32): u32 { return (i << 1) | 1; }

/** Decides an abortive close: flush tears the connection down and notifies. */
export function requestClose(i: u32, reason: u8, err: u16, reset: bool): void {
  const s = slot(i);
  // The first reason wins, but the slot is always (re)marked dirty: a close that waited for an
  // in-flight write or a connect's socket must run once that completes.
  markDirty(i);
  if ((s.flags2 & G_CLOSE_REQ) != 0) return;
  s.flags2 |= G_CLOSE_REQ;
  if (reset) s.flags2 |= G_RESET;
  s.closeReason = reason;
  s.closeErr = err;
}

/** Graceful end: queued writes flush, then FIN; the close follows the peer's FIN or linger. */
export function requestEnd(i: u32, reason: u8): bool {
  const s = slot(i);
  if (s.state == ST_OPEN || s.state == ST_READ_ENDED) {
    transition(i, ST_CLOSING);
    s.closeReason = reason;
    markDirty(i);
    return true;
  }
  return s.state == ST_CLOSING;
}

/** Arms the deadline node at the earliest of: connect/handshake, write stall, linger. */
export function refreshDeadline(i: u32): void {
  const s = slot(i);
  const c = config();
  let best: u64 = u64.MAX_VALUE;
  if (s.deadlineDueMs != 0 && (s.state == ST_CONNECTING || (s.flags & F_HANDSHAKE) != 0)) {
    const t = fullWhen(s.deadlineDueMs, now);
    if (t < best) best = t;
  }
  if (c.writeStallTimeoutMs != 0 && s.queuedBytes != 0 && (s.flags & F_WAIT_WRITABLE) != 0) {
    const stalled = now32() - s.lastWriteMs; // u32 wrapping: exact for gaps under 49 days
    const t = now + (stalled < c.writeStallTimeoutMs ? c.writeStallTimeoutMs - stalled : 0);
    if (t < best) best = t;
  }
  if (s.lingerDueMs != 0) {
    const t = fullWhen(s.lingerDueMs, now);
    if (t < best) best = t;
  }
  const n = deadlineNode(i);
  if (best == u64.MAX_VALUE) { wheelCancel(n); return; }
  wheelArm(n, best < now ? now : best);
  metrics().timersArmed += 1;
}

function armIdle(i: u32): void {
  const idle = config().idleTimeoutMs;
  if (idle == 0) return;
  wheelArm(idleNode(i), now + idle);
  metrics().timersArmed += 1;
}

function setupOpen(i: u32): void {
  const s = slot(i);
  s.lastActivityMs = now32();
  s.lastWriteMs = now32();
  armIdle(i);
  markDirty(i); // register read interest
}

// ── 1. ingest ────────────────────────────────────────────────────────────────────────────

/** Consumes the event batch and due timers; returns the number of notes pending for the app. */
export function ingest(): u32 {
  turnStartNs = clockNs();
  now = msAt(turnStartNs);
  carried = false;
  const m = metrics();
  m.turns += 1;
  m.inTurn = 1; // until turnEnd() (the metrics region's inTurn: a stuck turn seen from another thread)
  const h = header();
  let n: u32 = 0;
  while (eventsPending() > 0) {
    // An event emits at most a few notes and one CLOSE (a refused accept, a stale socket).
    if (noteSpace() < NOTES_PER_ITEM || submitSpace() < 1) { carried = true; break; }
    const e = eventAt(h.eventHead);
    onEvent(e);
    h.eventHead++;
    n++;
  }
  m.eventsIn += <f64>n;
  histRecord(HIST_BATCH, n);
  expireTimers();
  return h.noteTail - h.noteHead;
}

/**
 * The turn is over: its second dispatch too (the close handlers run there, after flush()).
 * Clears the metrics region's inTurn, nothing else: not a recorded call (host/trace), since it
 * changes no output; the host calls it after every turn, also one that threw.
 */
export function turnEnd(): void { metrics().inTurn = 0; }

function onEvent(e: EventRec): void {
  const type = e.type;
  const i = e.slot;
  if (type == EV_ACCEPTED) { onAccepted(e); return; }
  if (type == EV_SOCKET_OPENED) { onSocketOpened(e); return; }
  if (!live(i, e.gen)) {
    // A stale event for an earlier occupant of the slot: drop it, but never leak a chunk.
    metrics().staleEvents += 1;
    if (type == EV_READ && e.a != NONE) release(e.a, CH_SUPPLY);
    return;
  }
  switch (type) {
    case EV_READ: onRead(i, e.a, e.b); break;
    case EV_READ_ERROR: onError(i, e.err); break;
    case EV_WRITE_DONE: onWriteDone(i, e.b, e.err); break;
    case EV_WRITABLE: slot(i).flags &= ~F_WAIT_WRITABLE; markDirty(i); break;
    case EV_CONNECTED: onConnected(i); break;
    case EV_CONNECT_FAILED: onConnectFailed(i, e.err); break;
    case EV_ACCEPT_ERROR: onAcceptError(i, e.err); break;
    default: assert(false, "unknown event type");
  }
}

function onAccepted(e: EventRec): void {
  const m = metrics();
  fdOpened(); // the descriptor exists now: it gets exactly one CLOSE, whatever happens next
  const li = e.slot;
  if (!live(li, e.gen) || slot(li).state != ST_LISTENING || (slot(li).flags2 & G_CLOSE_REQ) != 0) {
    m.staleEvents += 1;
    submit(SQ_CLOSE, SQF_RESET, NONE, 0, e.fd, 0, 0);
    fdClosed();
    return;
  }
  const i = slotAlloc(ST_OPEN);
  if (i == NONE) { // admission keeps this from happening; if it does, refuse loudly, leak nothing
    m.acceptErrors += 1;
    submit(SQ_CLOSE, SQF_RESET, NONE, 0, e.fd, 0, 0);
    fdClosed();
    return;
  }
  m.accepts += 1;
  slot(li).owner = 0; // an accept succeeded: the next EMFILE episode backs off from the start again
  const s = slot(i);
  s.fd = e.fd;
  s.owner = li;
  setupOpen(i);
  const hs = config().handshakeTimeoutMs;
  if (hs != 0) { s.flags |= F_HANDSHAKE; s.deadlineDueMs = due32(hs); refreshDeadline(i); }
  note(NT_OPEN, i, s.gen, li, 0);
}

function onAcceptError(li: u32, err: u16): void {
  const m = metrics();
  countErrno(err);
  if (err == E_AGAIN) return;
  m.acceptErrors += 1;
  if (err == E_MFILE || err == E_NFILE || err == 105 /* ENOBUFS */ || err == 12 /* ENOMEM */) {
    // Out of descriptors or memory: never spin on accept. Pause this listener and re-arm
    // after a back-off that doubles up to the maximum (Bun spun at ~190k failed accept4/s).
    const s = slot(li);
    const c = config();
    let backoff = s.owner == NONE || s.owner == 0 ? c.acceptBackoffMs : s.owner * 2;
    if (backoff > c.acceptBackoffMaxMs) backoff = c.acceptBackoffMaxMs;
    if (backoff == 0) backoff = 1;
    s.owner = backoff;
    s.flags |= F_BP_PAUSED;
    wheelArm(idleNode(li), now + backoff);
    m.acceptBackoffs += 1;
    markDirty(li);
  }
  note(NT_LISTEN_ERROR, li, slot(li).gen, 0, err);
}

function onRead(i: u32, c: u32, len: u32): void {
  const s = slot(i);
  const m = metrics();
  const st = s.state;
  const readable = st == ST_OPEN || st == ST_CLOSING || st == ST_READ_ENDED;
  if (len == 0) {
    if (c != NONE) release(c, CH_SUPPLY);
    if (!readable || (s.flags & F_READ_EOF) != 0) return;
    onEof(i);
    return;
  }
  if (!readable || (s.flags & F_READ_EOF) != 0 || (s.flags2 & G_CLOSE_REQ) != 0) {
    release(c, CH_SUPPLY); // read after we decided to close: dropped by design
    return;
  }
  // The host's byte count becomes the chunk's length, which the app's view and a later WRITE trust.
  assert(len <= poolChunkSize(), "host read more bytes than a chunk holds");
  handOver(c, CH_SUPPLY, CH_LENT);
  const k = chunk(c);
  k.start = 0; k.len = len;
  assert(lentCount < header().eventCap, "lent list overflow");
  store<u32>(header().lentOff + (lentCount << 2), c);
  lentCount++;
  s.lastActivityMs = now32();
  if ((s.flags & F_HANDSHAKE) != 0) { s.flags &= ~F_HANDSHAKE; s.deadlineDueMs = 0; refreshDeadline(i); }
  m.bytesIn += <f64>len;
  m.reads += 1;
  note(NT_DATA, i, s.gen, c, 0);
}

function onEof(i: u32): void {
  const s = slot(i);
  s.flags |= F_READ_EOF;
  if (s.state == ST_OPEN) {
    transition(i, ST_READ_ENDED);
    note(NT_END, i, s.gen, 0, 0);
    // Without half-open, our side ends too — at flush, so the app's handlers for this batch
    // (data that came with the FIN, say) can still write their replies.
    if (config().allowHalfOpen == 0) { s.flags2 |= G_AUTO_END; s.closeReason = CR_NORMAL; }
  } else if (s.state == ST_CLOSING) {
    note(NT_END, i, s.gen, 0, 0);
  }
  markDirty(i); // drop read interest; a CLOSING slot with FIN sent closes now
}

function onError(i: u32, err: u16): void {
  const s = slot(i);
  countErrno(err);
  if ((s.flags2 & G_CLOSE_REQ) != 0) { markDirty(i); return; } // already closing: one error a connection
  const reset = err == E_CONNRESET || err == E_PIPE;
  if (reset) metrics().resets += 1; else metrics().errors += 1;
  note(NT_ERROR, i, s.gen, 0, err);
  requestClose(i, reset ? CR_RESET : CR_ERROR, err, false);
}

function onWriteDone(i: u32, written: u32, err: u16): void {
  const s = slot(i);
  const m = metrics();
  const c = config();
  assert(s.inflightBytes >= written, "host wrote more than was submitted");
  // Consume `written` bytes from the head of the queue; the rest of the in-flight chain goes
  // back to QUEUED.
  let left = written;
  let inflight = s.inflightBytes;
  const inflightAtStart = inflight;
  while (inflight > 0) {
    const h = s.queueHead;
    const k = chunk(h);
    if (DEBUG) assert(k.state == CH_WRITING, "in-flight chunk not WRITING");
    const take = left < k.len ? left : k.len;
    inflight -= k.len;
    if (take == k.len) {
      s.queueHead = k.next;
      if (s.queueHead == NONE) s.queueTail = NONE;
      release(h, CH_WRITING);
      left -= take;
    } else {
      k.start += take; k.len -= take;
      left -= take;
      handOver(h, CH_WRITING, CH_QUEUED);
      // Every later in-flight chunk was not written either.
      let j = k.next;
      while (inflight > 0) {
        const kj = chunk(j);
        inflight -= kj.len;
        handOver(j, CH_WRITING, CH_QUEUED);
        j = kj.next;
      }
      break;
    }
  }
  s.inflightBytes = 0;
  s.queuedBytes -= written;
  queuedTotalSub(written);
  m.bytesOut += <f64>written;
  m.writes += 1;
  if (written > 0) { s.lastWriteMs = now32(); s.lastActivityMs = now32(); }
  if (err == E_AGAIN || (err == 0 && s.queuedBytes != 0 && written < inflightAtStart)) {
    m.writesPartial += 1;
    s.flags |= F_WAIT_WRITABLE;
    refreshDeadline(i); // write-stall deadline
  } else if (err != 0) {
    onError(i, err);
    return;
  } else if (c.writeStallTimeoutMs != 0 && s.queuedBytes == 0) {
    refreshDeadline(i);
  }
  if (s.queuedBytes <= c.lowWaterBytes) {
    if ((s.flags & F_BP_PAUSED) != 0) { s.flags &= ~F_BP_PAUSED; m.backpressureResumes += 1; }
    if ((s.flags & F_WANT_DRAIN) != 0) {
      s.flags &= ~F_WANT_DRAIN;
      note(NT_DRAIN, i, s.gen, 0, 0);
    }
  }
  markDirty(i);
}

function onSocketOpened(e: EventRec): void {
  const i = e.slot;
  if (e.err != 0) {
    countErrno(e.err);
    if (!live(i, e.gen)) { metrics().staleEvents += 1; return; }
    const s = slot(i);
    s.flags2 &= ~G_AWAIT_SOCKET;
    connectsPendingDone(i);
    metrics().connectsFailed += 1;
    note(NT_ERROR, i, s.gen, 0, e.err);
    requestClose(i, CR_CONNECT_FAILED, e.err, false);
    return;
  }
  fdOpened();
  if (!live(i, e.gen) || slot(i).state != ST_CONNECTING) {
    metrics().staleEvents += 1;
    submit(SQ_CLOSE, SQF_RESET, NONE, 0, e.fd, 0, 0);
    fdClosed();
    return;
  }
  const s = slot(i);
  s.fd = e.fd;
  s.flags2 &= ~G_AWAIT_SOCKET;
  connectsPendingDone(i);
  if ((s.flags2 & G_CLOSE_REQ) != 0) markDirty(i); // a close waited for the descriptor
}

// Connects count against the descriptor budget from connect() until their socket exists.
function connectsPendingDone(i: u32): void { connectPendingDec(); }

function onConnected(i: u32): void {
  const s = slot(i);
  if (s.state != ST_CONNECTING) return;
  if ((s.flags2 & G_CLOSE_REQ) != 0) { markDirty(i); return; } // the app gave up first: no open
  transition(i, ST_OPEN);
  s.deadlineDueMs = 0;
  metrics().connectsOk += 1;
  setupOpen(i);
  refreshDeadline(i);
  note(NT_OPEN, i, s.gen, NONE, 0);
  // end() while connecting: what was queued goes out, then FIN.
  if ((s.flags2 & G_END_ON_OPEN) != 0) { s.flags2 = (s.flags2 & ~G_END_ON_OPEN) | G_AUTO_END; s.closeReason = CR_NORMAL; }
}

function onConnectFailed(i: u32, err: u16): void {
  const s = slot(i);
  countErrno(err);
  metrics().connectsFailed += 1;
  if ((s.flags2 & G_CLOSE_REQ) != 0) { markDirty(i); return; }
  note(NT_ERROR, i, s.gen, 0, err);
  requestClose(i, CR_CONNECT_FAILED, err, false);
}

// ── timers ───────────────────────────────────────────────────────────────────────────────

function expireTimers(): void {
  const c = config();
  const m = metrics();
  // Bounded: at most expiriesPerTurn timers fire per turn, the rest carry over.
  const caughtUp = wheelAdvance(now, c.expiriesPerTurn);
  let fired: u32 = 0;
  while (fired < c.expiriesPerTurn) {
    if (noteSpace() < NOTES_PER_ITEM) break;
    const n = wheelPopDue();
    if (n == NONE) break;
    fired++;
    const when = wheelWhen(n);
    // Never early: the wheel only hands out timers whose expiry the clock has reached.
    if (DEBUG) assert(when <= now, "timer fired early");
    const late = now - when;
    histRecord(HIST_LATENESS_MS, <u32>(late > 0xffffffff ? 0xffffffff : late));
    onTimer(n);
  }
  m.timersFired += <f64>fired;
  if (!caughtUp || dueCount > 0) { carried = true; m.timersCarried += <f64>dueCount; }
}


function onTimer(n: u32): void {
  const slotNodes = slotCap << 1;
  if (n >= slotNodes) { note(NT_TIMER, NONE, 0, n - slotNodes, 0); return; }
  const i = n >> 1;
  const s = slot(i);
  const c = config();
  const m = metrics();
  if ((n & 1) == 0) {
    // Idle node. On a listener it is the accept back-off.
    if (s.state == ST_LISTENING) { s.flags &= ~F_BP_PAUSED; markDirty(i); return; }
    if (c.idleTimeoutMs == 0 || (s.flags2 & G_CLOSE_REQ) != 0) return;
    // Lazy: reads and writes only stamp lastActivityMs; the timer re-arms itself here, so the
    // hot path never touches the wheel.
    const idleFor = now32() - s.lastActivityMs; // u32 wrapping: exact for gaps under 49 days
    if (idleFor < c.idleTimeoutMs) { wheelArm(n, now + (c.idleTimeoutMs - idleFor)); return; }
    m.idleTimeouts += 1;
    note(NT_TIMEOUT, i, s.gen, TO_IDLE, 0);
    // Idle connections are harvested gracefully, at flush (the timeout handler may write last
    // words): anything queued still flushes, then FIN, then linger for the peer's.
    if (s.state == ST_OPEN || s.state == ST_READ_ENDED) { s.flags2 |= G_AUTO_END; s.closeReason = CR_TIMEOUT; markDirty(i); }
    else requestClose(i, CR_TIMEOUT, E_TIMEDOUT, false);
    return;
  }
  // Deadline node: connect/handshake, write stall, linger — whichever is due.
  if ((s.flags2 & G_CLOSE_REQ) != 0) return;
  if (s.state == ST_CONNECTING && s.deadlineDueMs != 0 && fullWhen(s.deadlineDueMs, now) <= now) {
    m.connectTimeouts += 1;
    note(NT_TIMEOUT, i, s.gen, TO_CONNECT, 0);
    requestClose(i, CR_TIMEOUT, E_TIMEDOUT, false);
    return;
  }
  if ((s.flags & F_HANDSHAKE) != 0 && s.deadlineDueMs != 0 && fullWhen(s.deadlineDueMs, now) <= now) {
    m.handshakeTimeouts += 1;
    note(NT_TIMEOUT, i, s.gen, TO_HANDSHAKE, 0);
    requestClose(i, CR_TIMEOUT, E_TIMEDOUT, true);
    return;
  }
  if (c.writeStallTimeoutMs != 0 && s.queuedBytes != 0 && (s.flags & F_WAIT_WRITABLE) != 0
      && now32() - s.lastWriteMs >= c.writeStallTimeoutMs) {
    m.writeStallTimeouts += 1;
    note(NT_TIMEOUT, i, s.gen, TO_WRITE_STALL, 0);
    requestClose(i, CR_TIMEOUT, E_TIMEDOUT, true); // the peer stopped reading: abort
    return;
  }
  if (s.lingerDueMs != 0 && fullWhen(s.lingerDueMs, now) <= now) {
    m.lingerTimeouts += 1;
    // The peer never sent its FIN after ours: give up abortively.
    requestClose(i, s.closeReason == CR_NORMAL ? CR_TIMEOUT : s.closeReason, E_TIMEDOUT, true);
    return;
  }
  refreshDeadline(i); // woke early for a condition that has since moved: re-arm
}

/** Flush's first step: lent chunks come back unless the app queued them for writing (echo without copying). */
export function lentReleaseAll(): void {
  const h = header();
  for (let k: u32 = 0; k < lentCount; k++) {
    const ch = load<u32>(h.lentOff + (k << 2));
    if (chunk(ch).state == CH_LENT) release(ch, CH_LENT);
  }
  lentCount = 0;
}

export function turnReset(): void { lentCount = 0; carried = false; now = 0; }
export function lentPending(): u32 { return lentCount; }
