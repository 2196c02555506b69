// The loop: one turn, and the one drive loop every way of running the reactor goes through.
//
// A turn (turn() below):
//   1. ingest   the core takes the events the host posted and fires due timers;
//   2. dispatch the app's handlers run for the notes the core wrote (dispatch.ts);
//   3. overflow bytes that waited beside a dry pool move into chunks freed meanwhile (writes.ts);
//   4. flush    the core turns the app's commands into submissions and publishes budgets;
//   5. dispatch again (flush may note, e.g. a close the app's commands caused);
//   6. execute  the host runs the submissions (a native host may defer them into its wait).
// It returns how long the host may wait: 0 when work is left, else the core's next deadline.
//
// The drive loop (drive() below) repeats turn → wait → poll. Who calls it decides only the
// policy (how many turns, what stops it, how long a wait may last, what to do when idle, when
// to hand the thread back to the runtime), not the loop:
//   step(ms)         one turn, a wait of at most ms;                         synchronous
//   runUntil(pred)   until pred holds, a time limit, or the network is idle; synchronous
//   run()            until the reactor closes;                               asynchronous
//   close()          graceful: until every connection ended or drainMs;     asynchronous
// The loop is a generator that yields what the host's wait returned: the synchronous runner
// takes a boolean, the asynchronous one awaits it (every turn, so promise continuations the
// handlers queued run between turns).
import type { Host } from "../contract/contract.ts";
import { ReactorError } from "../errors.ts";
import { isCoreFailure } from "../../shims/wasi.ts";
import type { Reactor, CloseReport } from "./reactor.ts";

/** A reactor's place in its life: whether a turn runs now, whether it is closing, or dead. */
export interface Life {
  /** Set when the core stopped on a failed check: every later turn throws it. */
  dead: ReactorError | undefined;
  /** Inside a turn: the app's commands will be flushed by it (no need to wake the host). */
  inTurn: boolean;
  /** run()'s loop, while it runs. */
  running: Promise<void> | undefined;
  /** close() was called: its report, once done. */
  closing: Promise<CloseReport> | undefined;
  closed: boolean;
  /**
   * Runs after each turn, between turns (host/ops/tuning.ts: live setting changes and their
   * watch); true when it changed a setting, so the next turn comes at once and its flush
   * publishes the new budgets and deadline.
   */
  betweenTurns?: () => boolean;
}

// Sharing the thread with the runtime (run() and close(), which drive asynchronously).
//
// The runtime's own loop (its timers, I/O callbacks, worker messages, and signal handlers:
// process.on("SIGINT") runs only when the runtime's loop polls) gets the thread between turns
// only when the drive yields a macrotask. A host that blocks in its wait ("block") holds the
// thread for the whole wait, so without yields a process would be deaf to signals while idle
// (it was: `wait: "block"` + run() ignored SIGINT/SIGTERM; tests/net/modes.test.ts). Rules:
//   - at least once every YIELD_EVERY_TURNS turns (a setImmediate, ~3-12 µs; at 256 turns it
//     stayed invisible at 200k msgs/s);
//   - "block", after a wait that brought nothing: a signal interrupted it (the shim's
//     epoll_wait returns on EINTR), or it ran to its cap (idle): PARK (setTimeout 0, 1-2 ms:
//     long enough for the runtime's poller to run; Deno's sees a signal only when it parks,
//     a setImmediate is not enough there); if it ended at the core's own deadline (a timer
//     is due): a setImmediate, so timers are not made late;
//   - "block", after a wake from another thread (a message waits): PARK (Deno delivers a
//     worker's messages only in a timer turn); when YIELD_EVERY_MS passed since the last yield
//     (light load: turns spaced by waits): a setImmediate;
//   - "block": no wait lasts longer than BLOCK_WAIT_CAP_MS. That bounds the one late case, a
//     signal that lands while a turn runs JS just before the wait (the wait is then not
//     interrupted); idle, it costs 4 empty turns a second (measured: 30 ms of CPU in 20 s of
//     an idle node process, against 20 ms with 1 s waits).
// Under load every wait brings I/O: no park, and one clock read per turn. An "async" host's
// waits return to the runtime's loop by themselves (a poller thread wakes it); a "virtual"
// host never sleeps.
const YIELD_EVERY_TURNS = 256;
const YIELD_EVERY_MS = 50;
const BLOCK_WAIT_CAP_MS = 250;

/** When a drive that shares the thread hands it to the runtime's loop (the rules above). */
class Sharing {
  private readonly blocking: boolean;
  private turns = 0;
  private waitStartMs = 0;
  private yieldedAtMs = 0;
  constructor(blocking: boolean) { this.blocking = blocking; if (blocking) this.yieldedAtMs = performance.now(); }

  beforeWait(): void { if (this.blocking) this.waitStartMs = performance.now(); }

  /** After a wait of up to waitMs (capped at capMs) and its poll: a pause to yield to, or undefined. */
  afterWait(r: Reactor, waitMs: number, capMs: number): Promise<void> | undefined {
    if (!this.blocking) return ++this.turns >= YIELD_EVERY_TURNS ? this.yielded(yieldToLoop()) : undefined;
    // Woken by another thread (a message waits): a timer turn, because Deno delivers a worker's
    // messages there and not in setImmediate's (measured: ~11 ms against ~200 ms).
    if (r.host.woken) return this.yielded(park());
    if (!busy(r)) { // the wait brought nothing
      const early = performance.now() - this.waitStartMs < waitMs - 1;
      return this.yielded(early || waitMs >= capMs ? park() : yieldToLoop());
    }
    if (++this.turns >= YIELD_EVERY_TURNS || this.waitStartMs - this.yieldedAtMs >= YIELD_EVERY_MS) return this.yielded(yieldToLoop());
    return undefined;
  }

  private yielded(pause: Promise<void>): Promise<void> {
    this.turns = 0;
    this.yieldedAtMs = this.waitStartMs;
    return pause;
  }
}

/** One turn; returns the ms the host may wait (0: more work is ready; -1: no timer). */
export function turn(r: Reactor): number {
  const life = r.life, e = r.core.exports;
  if (life.dead) throw life.dead;
  life.inTurn = true;
  try {
    e.ingest();
    r.notes.run();
    r.writes.drainOverflow();
    e.flush();
    r.notes.run();
  } catch (err) {
    // A trap inside the core (a failed assertion) leaves its memory mid-update: the reactor
    // is dead from here on, loudly, rather than running on corrupted state.
    if (isCoreFailure(err)) {
      life.dead = new ReactorError("ERR_CORE_ASSERTION", `wasm-reactor: the core stopped on a failed check and this reactor cannot continue: ${String((err as Error).message).replace(/^wasm-reactor: /, "")}`, { cause: err });
      throw life.dead;
    }
    throw err;
  } finally {
    life.inTurn = false;
    e.turnEnd(); // turn_in_progress 0: after the close handlers of the second dispatch, and after a throw
  }
  r.host.execute();
  if (life.betweenTurns?.()) return 0;
  if (e.dirtyCount.value > 0) return 0;
  return r.core.nextDeadlineMs();
}

/** Whether work is pending: commands not flushed, events not ingested, notes not dispatched. */
export function busy(r: Reactor): boolean {
  const c = r.core;
  return c.exports.dirtyCount.value > 0 || c.header("eventTail") !== c.header("eventHead") || c.header("noteTail") !== c.header("noteHead");
}

/** How a drive runs; see the table at the top. */
interface Policy {
  maxTurns: number;
  /** Checked before each turn: true stops the drive. */
  stopBefore?: () => boolean;
  /** Checked right after each turn, before waiting: a handler may have made it true. */
  stopAfter?: () => boolean;
  /** nowMs() at which to stop (Infinity: never); no wait runs past it. */
  deadlineMs: number;
  /** The longest one wait may last, in ms (-1: as long as the core's deadline says). */
  waitCapMs: number;
  /**
   * The host said nothing can happen any more (the simulator with nothing scheduled) and no
   * work is pending: "stop"; "sleep" 1 ms of real time (run(): the app may act from outside);
   * or "continue".
   */
  whenIdle: "stop" | "sleep" | "continue";
  /** run()/close(): share the thread with the runtime's loop (the rules above). */
  yields: boolean;
}

type Why = "stopped" | "deadline" | "idle" | "turns";
interface DriveEnd { why: Why; alive: boolean }
type Waited = boolean | Promise<unknown>;

/** THE loop: turn → wait → poll, under a policy. Yields each wait's result (or a pause) to its runner. */
function* drive(r: Reactor, p: Policy): Generator<Waited, DriveEnd, boolean> {
  const host: Host = r.host;
  const share = p.yields ? new Sharing(host.waitStyle === "block") : undefined;
  let alive = true;
  for (let t = 0; t < p.maxTurns; t++) {
    if (p.stopBefore?.()) return { why: "stopped", alive };
    const left = p.deadlineMs === Infinity ? Infinity : p.deadlineMs - r.nowMs();
    if (left <= 0) return { why: "deadline", alive };
    let d = turn(r);
    if (p.stopAfter?.()) return { why: "stopped", alive };
    if (left !== Infinity && (d < 0 || d > left)) d = left;
    if (p.waitCapMs >= 0 && (d < 0 || d > p.waitCapMs)) d = p.waitCapMs;
    share?.beforeWait();
    alive = yield host.wait(d);
    host.poll();
    if (!alive && !busy(r)) {
      if (p.whenIdle === "stop") return { why: "idle", alive };
      if (p.whenIdle === "sleep") yield sleepMs(1);
    } else if (share) {
      const pause = share.afterWait(r, d, p.waitCapMs);
      if (pause) yield pause;
    }
  }
  return { why: "turns", alive };
}

/** Runs a drive on this thread, start to end: each wait must have returned (no promise). */
function driveSync(r: Reactor, g: Generator<Waited, DriveEnd, boolean>, what: string): DriveEnd {
  let n = g.next();
  while (!n.done) {
    if (typeof n.value !== "boolean") throw new ReactorError("ERR_WAIT_MODE", `wasm-reactor: ${what} got a wait that did not return at once (host '${r.host.kind}', waitStyle '${r.host.waitStyle}'); use run()`);
    n = g.next(n.value);
  }
  return n.value;
}

/** Runs a drive, awaiting each wait (and pause). */
async function driveAsync(g: Generator<Waited, DriveEnd, boolean>): Promise<DriveEnd> {
  let n = g.next();
  while (!n.done) n = g.next((await n.value) as boolean);
  return n.value;
}

/**
 * step()/runUntil()/runFor() hold the thread until their wait returns: they need a host whose
 * wait returns at once ("virtual", "block"). A host that waits asynchronously (a poller thread
 * wakes it) would answer some waits at once and others with a promise, depending on timing:
 * refused up front instead, naming what to change.
 */
export function assertSyncWait(r: Reactor, what: string): void {
  if (r.host.waitStyle !== "async") return;
  // wait: 'block' is the cure only where the host can block; a host that always waits on the
  // runtime's event loop (portable) would be told to set what is already set
  const cure = r.options.wait === "block"
    ? `host '${r.host.kind}' always does (it waits on the runtime's own event loop); use run(), or a native host (epoll, uring, kqueue) with wait: 'block'`
    : `use run(), or create the reactor with wait: 'block' (for a thread that runs only the reactor)`;
  throw new ReactorError("ERR_WAIT_MODE", `wasm-reactor: ${what} drives the loop on this thread and needs a host whose wait returns at once, but host '${r.host.kind}' waits asynchronously here (option wait: '${r.options.wait}'); ${cure}`);
}

/** turn + wait (at most maxWaitMs; -1: the core's deadline) + poll. False: nothing can happen any more (sim). */
export function step(r: Reactor, maxWaitMs: number): boolean {
  assertSyncWait(r, "step()");
  return driveSync(r, drive(r, { maxTurns: 1, deadlineMs: Infinity, waitCapMs: maxWaitMs, whenIdle: "continue", yields: false }), "step()").alive;
}

/** Turns until `until()` holds (→ true), the network is idle (→ until()), or a limit is reached (→ false). */
export function runUntil(r: Reactor, until: () => boolean, maxTurns: number, maxMs: number, what = "runUntil()"): boolean {
  assertSyncWait(r, what);
  const end = driveSync(r, drive(r, {
    maxTurns, stopBefore: until, stopAfter: until, deadlineMs: maxMs === Infinity ? Infinity : r.nowMs() + maxMs,
    waitCapMs: -1, whenIdle: "stop", yields: false,
  }), what);
  if (end.why === "stopped") return true;
  if (end.why === "idle") turn(r); // what the last poll brought is ingested before the verdict
  return until();
}

/** run(): turns until the reactor closes. */
export async function runLoop(r: Reactor): Promise<void> {
  const stopped = () => r.life.closed || r.life.closing !== undefined;
  await driveAsync(drive(r, { maxTurns: Infinity, stopBefore: stopped, stopAfter: stopped, deadlineMs: Infinity, waitCapMs: sharedWaitCapMs(r), whenIdle: "sleep", yields: true }));
}

/** close(): stop accepting, let connections flush and end within drainMs, then abort the rest. */
export async function shutdown(r: Reactor, drainMs: number): Promise<CloseReport> {
  try {
    return await drain(r, drainMs);
  } catch (err) {
    // The core died (now, or before: a dead reactor's turns throw), or the host failed: nothing
    // more can be asked of the core, but the host's descriptors are still ours to release.
    if (!r.life.closed) {
      r.life.closed = true;
      try { r.host.close(); } finally { r.recorder?.close(); }
    }
    throw err;
  }
}

async function drain(r: Reactor, drainMs: number): Promise<CloseReport> {
  const life = r.life;
  // run()'s loop stops at its next turn (woken if it waits on another thread); from here on
  // this drives the turns.
  if (life.running) { r.host.wake?.(); await life.running; }
  const t0 = r.nowMs();
  const e = r.core.exports;
  const before = r.metrics().connections;
  e.closeAll(1);
  const live = () => { const s = r.metrics(); return s.connections + s.listeners; };
  // Turns until everything closed or the drain time is up.
  await driveAsync(drive(r, { maxTurns: Infinity, stopAfter: () => live() === 0, deadlineMs: t0 + drainMs, waitCapMs: sharedWaitCapMs(r), whenIdle: "stop", yields: true }));
  const stillOpen = r.metrics().connections;
  if (live() > 0) e.closeAll(0);
  // A few more turns for the aborts' submissions and their completions.
  await driveAsync(drive(r, { maxTurns: 4, stopBefore: () => live() === 0 && !busy(r), deadlineMs: Infinity, waitCapMs: 0, whenIdle: "continue", yields: false }));
  turn(r);
  life.closed = true;
  const s = r.metrics();
  r.host.close();
  r.recorder?.close();
  const hostLeaks = r.host.leakedAtClose ?? 0;
  return { graceful: before - stillOpen, aborted: stillOpen, ms: r.nowMs() - t0, leakedDescriptors: Math.max(s.fdsOpen, hostLeaks) };
}

/** The longest wait of a drive that shares the thread (run, close): bounded when the wait blocks. */
function sharedWaitCapMs(r: Reactor): number { return r.host.waitStyle === "block" ? BLOCK_WAIT_CAP_MS : -1; }

const setImmediateFn = (globalThis as { setImmediate?: (fn: () => void) => unknown }).setImmediate;
/** A macrotask: setImmediate where there is one (setTimeout(0) sleeps a whole millisecond in Node). */
function yieldToLoop(): Promise<void> {
  return new Promise((resolve) => { if (setImmediateFn) setImmediateFn(resolve); else setTimeout(resolve, 0); });
}
/** A macrotask that lets the runtime's poller run first (its timers phase comes after a poll). */
function park(): Promise<void> { return new Promise((resolve) => setTimeout(resolve, 0)); }
function sleepMs(ms: number): Promise<void> { return new Promise((resolve) => setTimeout(resolve, ms)); }
