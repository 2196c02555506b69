// The loop turn's second half (turn.ts has the whole turn and its first half, ingest):
// flush() turns the app's and the events' decisions into submissions. For each dirty slot, in
// the order it became dirty: connect, auto-end, teardown, one WRITE of the whole queue, FIN,
// close after both FINs, backpressure, interest; then refill the supply ring, publish the
// per-turn budgets and the next deadline, and refresh the gauges.
import {
  header, config, metrics, NONE, SQ_INTEREST, SQ_WRITE, SQ_SHUTDOWN, SQ_CLOSE, SQ_CONNECT,
  SQF_RESET, IN_READ, IN_WRITE, NT_CLOSE, CR_RESET, CH_SUPPLY, CH_QUEUED, CH_WRITING,
  HOST_READS_PAUSED, HOST_ACCEPTS_PAUSED, HIST_TURN_US,
} from "./layout";
import {
  slot, slotCap, transition, slotFree, markDirty, popDirty, dirtyCount, listeners, MAX_LISTENERS,
  activeCount, listenerCount, ST_LISTENING, ST_OPEN, ST_READ_ENDED, ST_CLOSING, ST_CLOSED,
  F_READ_EOF, F_FIN_SENT, F_USER_PAUSED, F_BP_PAUSED, F_WAIT_WRITABLE, F_WANT_DRAIN, G_CLOSE_REQ,
  G_RESET, G_CONNECT_WANTED, G_AWAIT_SOCKET, G_AUTO_END, G_HOLD_FIN,
} from "./conn";
import {
  acquire, release, handOver, chunk, countFree, countSupply, countLent, countQueued, countWriting,
  unguardedRelease,
} from "./pool";
import { wheelNextDeadline, wheelCancel, pendingCount } from "./wheel";
import {
  fdClosed, fdsOpen, connectsPending, connectPendingDec, queuedTotal, queuedTotalSub, poolPaused,
  admissionUpdate, accepting, fdHeadroom, fdBudget,
} from "./budget";
import { histRecord } from "./metrics";
import { eventsPending, submit, submitSpace, note, noteSpace, supplyCount, supplyPush } from "./rings";
import { nowMs, clockNs } from "./clock";
import {
  now, turnStartNs, carryOver, workCarried, lentReleaseAll, refreshDeadline, due32, idleNode,
  deadlineNode, NOTES_PER_ITEM, SUBMITS_PER_SLOT,
} from "./turn";

// Ring cursors at the last flush: the submissions and notes counters add the difference once a
// turn instead of once a record (u32 differences, exact across wrap-around).
let countedSubmitTail: u32 = 0;
let countedNoteTail: u32 = 0;

/** Every connection slot taken (maxConnections, or the slot table's size): accepts wait. */
function slotsFull(): bool {
  const c = config();
  const maxConns = c.maxConnections != 0 && c.maxConnections < slotCap ? c.maxConnections : slotCap;
  return activeCount >= maxConns;
}

/** Turns the app's and the events' decisions into submissions; returns the number pending. */
export function flush(): u32 {
  const h = header();
  const c = config();
  lentReleaseAll();

  if (admissionUpdate(slotsFull())) {
    for (let k: u32 = 0; k < MAX_LISTENERS; k++) {
      const li = unchecked(listeners[k]);
      if (li != NONE) markDirty(li);
    }
  }

  // Dirty slots, in the order they became dirty; what does not fit carries over.
  let budget = dirtyCount;
  while (budget-- > 0) {
    if (submitSpace() < SUBMITS_PER_SLOT || noteSpace() < NOTES_PER_ITEM) { carryOver(); break; }
    const i = popDirty();
    if (i == NONE) break;
    flushSlot(i);
  }
  // Teardowns above may have freed descriptors and chunks: admission can reopen now. No event
  // would come to tell a later turn (a close posts none), so the listeners go dirty for the
  // next turn, and a dirty slot makes that turn come at once (nextDeadlineMs 0).
  if (admissionUpdate(slotsFull())) {
    for (let k: u32 = 0; k < MAX_LISTENERS; k++) {
      const li = unchecked(listeners[k]);
      if (li != NONE) markDirty(li);
    }
  }

  // Supply: keep the host stocked for reads, but never below the pool reserve (the reserve is
  // for writes, so a server under read pressure can still answer).
  // At most a quarter of the pool waits in the supply ring: the rest is for data in flight.
  let supplyMax = c.supplyTarget < h.supplyCap ? c.supplyTarget : h.supplyCap;
  if (supplyMax > (h.chunkCount >> 2)) supplyMax = h.chunkCount >> 2;
  if (supplyMax == 0) supplyMax = 1;
  while (!poolPaused && supplyCount() < supplyMax && countFree > c.poolReserveChunks) {
    supplyPush(acquire(CH_SUPPLY));
  }

  let flags: u32 = 0;
  if (supplyCount() == 0) flags |= HOST_READS_PAUSED; // the pool is at its reserve: read nothing
  if (!accepting()) flags |= HOST_ACCEPTS_PAUSED;
  h.hostFlags = flags;
  const head = fdHeadroom();
  const maxConns = c.maxConnections != 0 && c.maxConnections < slotCap ? c.maxConnections : slotCap;
  const slotsFree = activeCount < maxConns ? maxConns - activeCount : 0;
  let allow = accepting() ? c.acceptsPerTurn : 0;
  if (allow > head) allow = head;
  if (allow > slotsFree) allow = slotsFree;
  h.acceptBudget = allow;
  h.readsPerConn = c.readsPerConnPerTurn;

  // Next deadline: 0 when work carried over, else the wheel's.
  if (workCarried() || dirtyCount > 0 || eventsPending() > 0) h.nextDeadlineMs = 0;
  else {
    const d = wheelNextDeadline();
    if (d == u64.MAX_VALUE) h.nextDeadlineMs = -1;
    else h.nextDeadlineMs = d <= now ? 0 : <i32>(d - now > 0x7fffffff ? 0x7fffffff : d - now);
  }

  refreshGauges();
  const m = metrics();
  m.submissions += <f64>(h.submitTail - countedSubmitTail); countedSubmitTail = h.submitTail;
  m.notesOut += <f64>(h.noteTail - countedNoteTail); countedNoteTail = h.noteTail;
  h.turn++;
  const us = (clockNs() - turnStartNs) / 1000;
  histRecord(HIST_TURN_US, <u32>(us > 0xffffffff ? 0xffffffff : us));
  return h.submitTail - h.submitHead;
}

function flushSlot(i: u32): void {
  const s = slot(i);
  const c = config();
  if ((s.flags2 & G_CONNECT_WANTED) != 0) {
    s.flags2 &= ~G_CONNECT_WANTED;
    s.flags2 |= G_AWAIT_SOCKET;
    if ((s.flags2 & G_CLOSE_REQ) == 0) { submit(SQ_CONNECT, 0, i, s.gen, -1, 0, 0); metrics().connectsStarted += 1; }
    else { s.flags2 &= ~G_AWAIT_SOCKET; connectPendingDec(); }
  }
  if ((s.flags2 & G_AUTO_END) != 0) {
    s.flags2 &= ~G_AUTO_END;
    if (s.state == ST_OPEN || s.state == ST_READ_ENDED) transition(i, ST_CLOSING);
  }
  if ((s.flags2 & G_CLOSE_REQ) != 0) {
    // Wait for what the host still holds: an in-flight write, or the socket of a connect.
    if (s.inflightBytes != 0 || (s.flags2 & G_AWAIT_SOCKET) != 0) return;
    teardown(i);
    return;
  }
  const st = s.state;
  if (st == ST_OPEN || st == ST_READ_ENDED || st == ST_CLOSING) {
    // Write: one WRITE per slot in flight; the host writes the chain with writev.
    if (s.inflightBytes == 0 && s.queuedBytes != 0 && (s.flags & F_WAIT_WRITABLE) == 0) {
      let j = s.queueHead;
      while (j != NONE) { handOver(j, CH_QUEUED, CH_WRITING); j = chunk(j).next; }
      s.inflightBytes = s.queuedBytes;
      submit(SQ_WRITE, 0, i, s.gen, s.fd, s.queueHead, s.queuedBytes);
    }
    // Graceful end: FIN once everything queued is written; close once the peer's FIN is in.
    if (st == ST_CLOSING && s.queuedBytes == 0 && (s.flags & F_FIN_SENT) == 0 && (s.flags2 & G_HOLD_FIN) == 0) {
      submit(SQ_SHUTDOWN, 0, i, s.gen, s.fd, 0, 0);
      s.flags |= F_FIN_SENT;
      if ((s.flags & F_READ_EOF) == 0 && s.lingerDueMs == 0 && c.lingerMs != 0) {
        s.lingerDueMs = due32(c.lingerMs);
        refreshDeadline(i);
      }
    }
    if (st == ST_CLOSING && (s.flags & F_FIN_SENT) != 0 && (s.flags & F_READ_EOF) != 0) {
      s.flags2 |= G_CLOSE_REQ;
      teardown(i);
      return;
    }
    // Backpressure: above the high-water mark `drain` is owed; with pauseReadsAtHighWater
    // (echo-like connections, whose reads feed their own writes) reading pauses too. Off by
    // default: a connection that streams both ways at once would wait on itself.
    if (s.queuedBytes > c.highWaterBytes) {
      s.flags |= F_WANT_DRAIN;
      if (c.pauseReadsAtHighWater != 0 && (s.flags & F_BP_PAUSED) == 0) { s.flags |= F_BP_PAUSED; metrics().backpressurePauses += 1; }
    }
  }
  // Interest: what we want now vs what the host has; one INTEREST only when they differ.
  let want: u8 = 0;
  if (st == ST_LISTENING) {
    if (accepting() && (s.flags & (F_BP_PAUSED | F_USER_PAUSED)) == 0) want = IN_READ;
  } else if (st == ST_OPEN || st == ST_CLOSING) {
    if ((s.flags & (F_READ_EOF | F_USER_PAUSED | F_BP_PAUSED)) == 0) want = IN_READ;
  }
  if ((s.flags & F_WAIT_WRITABLE) != 0 && st != ST_LISTENING) want |= IN_WRITE;
  if (want != s.interest && s.fd >= 0) {
    submit(SQ_INTEREST, 0, i, s.gen, s.fd, want, 0);
    s.interest = want;
  }
}

/** CLOSED: drop the queue, cancel timers, close the descriptor once, notify, free the slot. */
function teardown(i: u32): void {
  const s = slot(i);
  let j = s.queueHead;
  // The `broken` build's deliberate bug, for the fuzzer's self-test: a connection torn down by a
  // reset with two or more chunks queued gives its first chunk back to the pool twice (as if a
  // guard were forgotten). The pool's conservation check catches it a turn later, not here.
  const twice = BROKEN_DOUBLE_RELEASE && j != NONE && chunk(j).next != NONE && ((s.flags2 & G_RESET) != 0 || s.closeReason == CR_RESET) ? j : NONE;
  while (j != NONE) { const nx = chunk(j).next; release(j, CH_QUEUED); j = nx; }
  if (BROKEN_DOUBLE_RELEASE && twice != NONE) unguardedRelease(twice);
  queuedTotalSub(s.queuedBytes);
  s.queueHead = NONE; s.queueTail = NONE; s.queuedBytes = 0;
  wheelCancel(idleNode(i));
  wheelCancel(deadlineNode(i));
  if (s.fd >= 0) {
    submit(SQ_CLOSE, (s.flags2 & G_RESET) != 0 ? SQF_RESET : 0, i, s.gen, s.fd, 0, 0);
    fdClosed();
  }
  transition(i, ST_CLOSED);
  note(NT_CLOSE, i, s.gen, s.closeReason, s.closeErr);
  slotFree(i);
}

function refreshGauges(): void {
  const m = metrics();
  m.nowMs = <f64>now;
  m.connections = <f64>activeCount;
  m.listeners = <f64>listenerCount;
  m.fdsOpen = <f64>fdsOpen;
  m.fdBudget = <f64>fdBudget();
  m.poolFree = <f64>countFree;
  m.poolSupply = <f64>countSupply;
  m.poolLent = <f64>countLent;
  m.poolQueued = <f64>countQueued;
  m.poolWriting = <f64>countWriting;
  m.timersPending = <f64>pendingCount;
  m.connectsPending = <f64>connectsPending;
  m.queuedBytes = <f64>queuedTotal;
  m.poolPaused = poolPaused ? 1 : 0;
}

export function flushReset(): void { countedSubmitTail = 0; countedNoteTail = 0; }
