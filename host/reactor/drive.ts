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
}

/**
 * run(): hand the thread back to the runtime's own loop (timers, I/O callbacks, messages,
 * signal handlers) at least once every this many turns under load. Each such yield is a
 * macrotask (~1-4 µs); at 256 turns it stayed invisible at 200k msgs/s.
 */
const YIELD_EVERY_TURNS = 256;

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
    if (err instanceof WebAssembly.RuntimeError || /core exited/.test(String((err as Error)?.message))) {
      life.dead = new ReactorError("ERR_CORE_ASSERTION", `wasm-reactor: the core stopped on a failed check and this reactor cannot continue: ${(err as Error).message}`);
      throw life.dead;
    }
    throw err;
  } finally {
    life.inTurn = false;
  }
  r.host.execute();
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
  /** run(): yield to the runtime's loop every YIELD_EVERY_TURNS turns and after a cross-thread wake. */
  yields: boolean;
}

type Why = "stopped" | "deadline" | "idle" | "turns";
interface DriveEnd { why: Why; alive: boolean }
type Waited = boolean | Promise<unknown>;

/** THE loop: turn → wait → poll, under a policy. Yields each wait's result (or a pause) to its runner. */
function* drive(r: Reactor, p: Policy): Generator<Waited, DriveEnd, boolean> {
  const host: Host = r.host;
  let alive = true;
  let turns = 0;
  for (let t = 0; t < p.maxTurns; t++) {
    if (p.stopBefore?.()) return { why: "stopped", alive };
    const left = p.deadlineMs === Infinity ? Infinity : p.deadlineMs - r.nowMs();
    if (left <= 0) return { why: "deadline", alive };
    let d = turn(r);
    if (p.stopAfter?.()) return { why: "stopped", alive };
    if (left !== Infinity && (d < 0 || d > left)) d = left;
    if (p.waitCapMs >= 0 && (d < 0 || d > p.waitCapMs)) d = p.waitCapMs;
    alive = yield host.wait(d);
    host.poll();
    if (!alive && !busy(r)) {
      if (p.whenIdle === "stop") return { why: "idle", alive };
      if (p.whenIdle === "sleep") yield sleepMs(1);
    } else if (p.yields && (++turns % YIELD_EVERY_TURNS === 0 || (host.waitStyle === "block" && host.woken))) {
      yield yieldToLoop();
    }
  }
  return { why: "turns", alive };
}

/** Runs a drive on this thread, start to end: each wait must have returned (no promise). */
function driveSync(g: Generator<Waited, DriveEnd, boolean>, what: string): DriveEnd {
  let n = g.next();
  while (!n.done) {
    if (typeof n.value !== "boolean") throw new ReactorError("ERR_WAIT_MODE", `wasm-reactor: ${what} needs a host whose wait returns at once (the simulator, or wait: 'block'); use run() with wait: 'thread'`);
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

/** turn + wait (at most maxWaitMs; -1: the core's deadline) + poll. False: nothing can happen any more (sim). */
export function step(r: Reactor, maxWaitMs: number): boolean {
  return driveSync(drive(r, { maxTurns: 1, deadlineMs: Infinity, waitCapMs: maxWaitMs, whenIdle: "continue", yields: false }), "step()").alive;
}

/** Turns until `until()` holds (→ true), the network is idle (→ until()), or a limit is reached (→ false). */
export function runUntil(r: Reactor, until: () => boolean, maxTurns: number, maxMs: number): boolean {
  const end = driveSync(drive(r, {
    maxTurns, stopBefore: until, stopAfter: until, deadlineMs: maxMs === Infinity ? Infinity : r.nowMs() + maxMs,
    waitCapMs: -1, whenIdle: "stop", yields: false,
  }), "runUntil()");
  if (end.why === "stopped") return true;
  if (end.why === "idle") turn(r); // what the last poll brought is ingested before the verdict
  return until();
}

/** run(): turns until the reactor closes. */
export async function runLoop(r: Reactor): Promise<void> {
  const stopped = () => r.life.closed || r.life.closing !== undefined;
  // A blocking wait holds the thread: bound it, so signals and messages get a look in.
  const waitCapMs = r.host.waitStyle === "block" ? 1000 : -1;
  await driveAsync(drive(r, { maxTurns: Infinity, stopBefore: stopped, stopAfter: stopped, deadlineMs: Infinity, waitCapMs, whenIdle: "sleep", yields: true }));
}

/** close(): stop accepting, let connections flush and end within drainMs, then abort the rest. */
export async function shutdown(r: Reactor, drainMs: number): Promise<CloseReport> {
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
  await driveAsync(drive(r, { maxTurns: Infinity, stopAfter: () => live() === 0, deadlineMs: t0 + drainMs, waitCapMs: -1, whenIdle: "stop", yields: false }));
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

const setImmediateFn = (globalThis as { setImmediate?: (fn: () => void) => unknown }).setImmediate;
/** A macrotask: setImmediate where there is one (setTimeout(0) sleeps a whole millisecond in Node). */
function yieldToLoop(): Promise<void> {
  return new Promise((resolve) => { if (setImmediateFn) setImmediateFn(resolve); else setTimeout(resolve, 0); });
}
function sleepMs(ms: number): Promise<void> { return new Promise((resolve) => setTimeout(resolve, ms)); }
