// The simulator's scheduled actions (a connect completing, a test's scheduled send), run in
// (virtual time, scheduling order) order, so equal times keep the order they were scheduled in.

interface Scheduled { at: number; seq: number; fn: () => void }

export class Timeline {
  private items: Scheduled[] = [];
  private seq = 0;

  /** Adds fn at virtual time `at` (ms), after everything already scheduled for that time. */
  add(at: number, fn: () => void): void {
    const item = { at, seq: this.seq++, fn };
    // Binary insertion keeps (at, seq) order; the list stays short in practice.
    let lo = 0, hi = this.items.length;
    while (lo < hi) { const mid = (lo + hi) >> 1; const m = this.items[mid]; if (m.at < item.at || (m.at === item.at && m.seq < item.seq)) lo = mid + 1; else hi = mid; }
    this.items.splice(lo, 0, item);
  }

  /** The time of the next action, or Infinity. */
  get next(): number { return this.items.length ? this.items[0].at : Infinity; }

  /** Runs every action due at or before `now`, in order (including ones they schedule for now). */
  runDue(now: number): void {
    while (this.items.length && this.items[0].at <= now) this.items.shift()!.fn();
  }
}
