// Descriptor budget and admission control.
//
// The host passes the real limit (min of RLIMIT_NOFILE soft, fs.nr_open, fs.file-max share;
// kern.maxfilesperproc on BSD). The budget keeps `fdReserve` back for the process itself
// (logs, files, the poller, a reserve descriptor), so accepting stops *before* accept4 fails
// with EMFILE rather than after. Admission closes when the descriptors open (plus connects in
// flight) reach the budget, and reopens only once they are `fdHysteresis` below it, so a
// server at its limit does not flap its listeners on every close.
//
// Every descriptor the host reports (listener, accepted, connect socket) is counted open here
// exactly once, and closed exactly once when the core submits its CLOSE.

import { config, metrics } from "./layout";
import { countFree } from "./pool";
import { acceptsPending } from "./rings";

export let fdsOpen: u32 = 0;
export let connectsPending: u32 = 0;
export let admissionOpen: bool = true;
export let poolPaused: bool = false;
/** Below maxConnections (and the slot table's size): false while every connection slot is taken. */
export let slotsOpen: bool = true;

export function budgetInit(): void {
  fdsOpen = 0; connectsPending = 0; queuedTotal = 0; admissionOpen = true; poolPaused = false; slotsOpen = true;
  metrics().fdBudget = <f64>fdBudget();

}

export function fdBudget(): u32 {
  const c = config();
  return c.fdLimit > c.fdReserve ? c.fdLimit - c.fdReserve : 0;
}

export function fdOpened(): void {
  fdsOpen++;
  const m = metrics();
  m.fdOpens += 1;
  if (<f64>fdsOpen > m.fdsHighWater) m.fdsHighWater = <f64>fdsOpen;
}

export function fdClosed(): void {
  if (DEBUG) assert(fdsOpen > 0, "descriptor closed more often than opened");
  fdsOpen--;
  metrics().fdCloses += 1;
}

/**
 * Descriptors that may still be opened (by accepts or connects) within the budget. Accepts still
 * in the event ring count: the host made them after the last flush, and an app call that runs
 * between the host's poll and the next ingest (a connect() from a timer or another task) must
 * see them. Without them the fuzzer on real sockets opened 11 descriptors against a budget of 10
 * (`fuzz --host epoll`; the scenario is a regression case in tests/net/fuzz.test.ts).
 */
export function fdHeadroom(): u32 {
  const used = fdsOpen + connectsPending + acceptsPending();
  const b = fdBudget();
  return used < b ? b - used : 0;
}

/**
 * Re-evaluates admission once per flush; returns true when it flipped (listeners must update
 * their interest). Pool pressure closes admission too: accepting connections we cannot read
 * from only moves the overload into the kernel's queues.
 */
export function admissionUpdate(slotsFull: bool): bool {
  const c = config();
  const b = fdBudget();
  const used = fdsOpen + connectsPending;
  const wasOpen = admissionOpen;
  const wasPoolPaused = poolPaused;
  // Pool: at the reserve the supply ring is no longer refilled (reads stop) and accepts pause;
  // both resume at twice the reserve (hysteresis). The reserve itself is for writes.
  if (!poolPaused && countFree <= c.poolReserveChunks) { poolPaused = true; metrics().poolPauses += 1; }
  else if (poolPaused && countFree >= c.poolReserveChunks * 2) poolPaused = false;
  // Hysteresis is at most a quarter of the budget, so a small budget still reopens.
  const hyst = c.fdHysteresis < (b >> 2) ? c.fdHysteresis : b >> 2;
  let fdOk = wasOpen ? used < b : used + hyst <= b;
  if (wasOpen && !fdOk) metrics().admissionPauses += 1;
  admissionOpen = fdOk;
  // Slots: at maxConnections nothing can be accepted (acceptBudget 0), so the listeners stop
  // wanting to read, as at the descriptor budget. Left armed, a listener with clients queued is
  // ready at every turn and the loop spins (epoll level-triggered; io_uring's accept completion
  // held for a budget that never comes). One slot freed reopens it.
  const wasSlots = slotsOpen;
  slotsOpen = !slotsFull;
  return wasOpen != admissionOpen || wasPoolPaused != poolPaused || wasSlots != slotsOpen;
}

export function accepting(): bool { return admissionOpen && !poolPaused && slotsOpen; }

export function connectPendingInc(): void { connectsPending++; }
export function connectPendingDec(): void {
  if (DEBUG) assert(connectsPending > 0, "connect accounting underflow");
  connectsPending--;
}

/** Bytes queued for writing over all connections (a gauge). */
export let queuedTotal: u64 = 0;
export function queuedTotalAdd(n: u32): void { queuedTotal += n; }
export function queuedTotalSub(n: u32): void { if (DEBUG) assert(queuedTotal >= <u64>n, "queued bytes underflow"); queuedTotal -= n; }
