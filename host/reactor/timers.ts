// App timers (reactor.setTimeout) on the core's timing wheel: virtual time in the simulator,
// recorded time in a trace. The core knows a timer by its id (0..timers-1); the callback waits
// here until the core's NT_TIMER note for that id comes back through dispatch.
//
// A handle carries (id, seq): ids are reused, so clearTimeout on a handle whose timer already
// fired must not cancel the next timer that got the same id.
import type { Core } from "../core/core.ts";
import { ReactorError } from "../errors.ts";
import type { TimerHandle } from "./connection.ts";

export class AppTimers {
  private readonly core: Core;
  private readonly capacity: number;
  private readonly log: (line: string) => void;
  private readonly fns: ((() => void) | undefined)[] = [];
  private readonly seqOf: number[] = [];
  private readonly freeIds: number[] = [];
  private seqNext = 1;

  constructor(core: Core, capacity: number, log: (line: string) => void) {
    this.core = core;
    this.capacity = capacity;
    this.log = log;
    for (let i = capacity - 1; i >= 0; i--) this.freeIds.push(i);
  }

  arm(fn: () => void, ms: number): TimerHandle {
    if (typeof fn !== "function") throw new ReactorError("ERR_INVALID_OPTION", `wasm-reactor: setTimeout needs a function, got ${typeof fn}`);
    if (!Number.isInteger(ms) || ms < 0 || ms > 0x7fffffff) throw new ReactorError("ERR_INVALID_OPTION", `wasm-reactor: setTimeout delay must be an integer number of ms from 0 to ${0x7fffffff}, got ${String(ms)}`);
    const id = this.freeIds.pop();
    if (id === undefined) throw new ReactorError("ERR_TIMERS", `wasm-reactor: all ${this.capacity} app timers are armed (raise the 'timers' option)`);
    this.fns[id] = fn;
    const seq = this.seqNext++;
    this.seqOf[id] = seq;
    this.core.exports.timerArm(id, ms);
    return { id, seq };
  }

  clear(t: TimerHandle | undefined): void {
    if (!t || this.fns[t.id] === undefined || this.seqOf[t.id] !== t.seq) return; // fired or cleared already: the id may be someone else's now
    this.fns[t.id] = undefined;
    // Cancelled in the wheel: the id is free now. Already expired (its note waits in the ring,
    // behind the callback that clears it): the note frees the id and calls nothing.
    if (this.core.exports.timerCancel(t.id) === 1) this.freeIds.push(t.id);
  }

  /** The core's NT_TIMER note for `id`: frees the id, then calls the callback (unless cleared). */
  fire(id: number): void {
    const fn = this.fns[id];
    this.fns[id] = undefined;
    this.freeIds.push(id);
    if (fn) { try { fn(); } catch (err) { this.log(`wasm-reactor: a timer callback threw: ${(err as Error)?.stack ?? String(err)}`); } }
  }
}
