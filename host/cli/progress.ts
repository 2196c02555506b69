// A progress line for long work (fuzz seeds, long replays, the benchmark runner's phases): on a
// terminal, one line rewritten in place with "\r" and erase-to-end-of-line, at most ~10 times a
// second; anywhere else (a pipe, a CI log) nothing at all, since a file full of rewritten lines
// is noise and the commands already print their own occasional plain lines there.
//
//   fuzz  37/100  37% [#######-------------]  0:12 elapsed, ETA 0:20  1 failure, shrinking
//
// Why these choices:
// - stderr by default: stdout stays what it was (a table, --json) and can be piped while the
//   line still shows on the terminal.
// - Drawn only when the stream is a TTY (isTTY), the one signal Node, Deno and Bun all give.
// - Throttled to one draw per 100 ms: a replay calls update() for each of a million turns, and
//   a terminal write per call would cost more than the turn itself.
// - `showAfterMs`: work that ends within it never draws (a 20-turn replay does not flash a line).
// - Never wider than the terminal less one column: a line that reaches the last column makes
//   some terminals wrap, and "\r" then rewrites only the wrapped half.
// - ETA = elapsed ÷ done × (total − done) (a straight-line estimate), unless the caller knows
//   better (the bench runner passes the last run's phase times); "?" until something is done.

/** What a progress line writes to: process.stderr, or a test's fake. */
export interface ProgressStream { isTTY?: boolean; columns?: number; write(s: string): unknown }

/** m:ss under an hour, h:mm:ss under 100 hours; "?" for an unknown (negative, NaN, infinite) time. */
export function formatDuration(ms: number): string {
  if (!Number.isFinite(ms) || ms < 0) return "?";
  const s = Math.round(ms / 1000);
  const h = Math.floor(s / 3600), m = Math.floor((s % 3600) / 60), sec = s % 60;
  const ss = String(sec).padStart(2, "0");
  if (h === 0) return `${m}:${ss}`;
  if (h >= 100) return ">99h";
  return `${h}:${String(m).padStart(2, "0")}:${ss}`;
}

/**
 * The time left at the rate so far: elapsed ÷ done × (total − done). Undefined when nothing is
 * done yet or there is no total (no rate to extrapolate from); 0 once done reaches total.
 */
export function etaMs(done: number, total: number | undefined, elapsedMs: number): number | undefined {
  if (total === undefined || !(total > 0) || !(done > 0) || !(elapsedMs >= 0)) return undefined;
  if (done >= total) return 0;
  return (elapsedMs / done) * (total - done);
}

export interface ProgressState {
  /** What is being done ("fuzz", "replay", "bench"). */
  label: string;
  done: number;
  /** Absent: the total is not known (no percentage, no bar, no ETA of our own). */
  total?: number;
  elapsedMs: number;
  /** The time left, when the caller knows it better than the straight line (undefined: computed). */
  etaMs?: number;
  /** Said after the figures ("1 failure", "phase 3/7: net"): cut first when the line is too wide. */
  detail?: string;
}

const BAR_CELLS = 20;

/**
 * The line for a state, at most `width - 1` characters (see the header for why one less), with
 * no escape codes (the caller adds "\r" and the erase). The bar goes first when space is short,
 * then the detail is cut.
 */
export function progressLine(s: ProgressState, width = 80): string {
  const max = Math.max(10, width - 1);
  const known = s.total !== undefined && s.total > 0;
  const count = known ? `${s.done}/${s.total}` : `${s.done}`;
  const frac = known ? Math.min(1, Math.max(0, s.done / s.total!)) : 0;
  const pct = known ? `${String(Math.floor(frac * 100)).padStart(3)}%` : "";
  const eta = s.etaMs ?? etaMs(s.done, s.total, s.elapsedMs);
  const time = `${formatDuration(s.elapsedMs)} elapsed${known || s.etaMs !== undefined ? `, ETA ${eta === undefined ? "?" : formatDuration(eta)}` : ""}`;
  const filled = Math.round(frac * BAR_CELLS);
  const bar = known ? `[${"#".repeat(filled)}${"-".repeat(BAR_CELLS - filled)}]` : "";
  const join = (parts: string[]) => parts.filter(Boolean).join("  ");
  const detail = s.detail ?? "";
  let line = join([s.label, count, pct && bar ? `${pct} ${bar}` : pct, time, detail]);
  if (line.length > max) line = join([s.label, count, pct, time, detail]);
  if (line.length > max) line = line.slice(0, max - 1) + "…";
  return line;
}

export interface ProgressOptions {
  label: string;
  total?: number;
  /** Default process.stderr. */
  stream?: ProgressStream;
  /** Default performance.now. */
  now?: () => number;
  /** Least time between two draws (default 100 ms: ~10 a second). */
  minIntervalMs?: number;
  /** Draw nothing until this long after start (default 500 ms). */
  showAfterMs?: number;
}

/**
 * The live line. update() as often as you like (it draws at most every minIntervalMs); log() to
 * print a line of your own without tearing the progress line; end() clears it. On a stream that
 * is not a TTY every call is a no-op but log(), which just prints.
 */
export class Progress {
  readonly active: boolean;
  private readonly stream: ProgressStream;
  private readonly now: () => number;
  private readonly minIntervalMs: number;
  private readonly showAfterMs: number;
  private readonly startMs: number;
  private lastDrawMs = -Infinity;
  private shown = false;
  private ended = false;
  private state: ProgressState;

  constructor(o: ProgressOptions) {
    this.stream = o.stream ?? (process.stderr as ProgressStream);
    this.active = this.stream.isTTY === true;
    this.now = o.now ?? (() => performance.now());
    this.minIntervalMs = o.minIntervalMs ?? 100;
    this.showAfterMs = o.showAfterMs ?? 500;
    this.startMs = this.now();
    this.state = { label: o.label, done: 0, total: o.total, elapsedMs: 0 };
  }

  /** New figures; drawn when the last draw is minIntervalMs old (and showAfterMs has passed). */
  update(done: number, o: { total?: number; detail?: string; etaMs?: number; force?: boolean } = {}): void {
    if (!this.active || this.ended) return;
    const t = this.now();
    this.state = { ...this.state, done, elapsedMs: t - this.startMs, detail: o.detail ?? this.state.detail, etaMs: o.etaMs };
    if (o.total !== undefined) this.state.total = o.total;
    if (t - this.startMs < this.showAfterMs) return;
    if (!o.force && t - this.lastDrawMs < this.minIntervalMs) return;
    this.draw(t);
  }

  /** Prints a line of output (default to stdout) above the progress line, which is redrawn under it. */
  log(line: string, out: ProgressStream = process.stdout as ProgressStream): void {
    if (this.shown) this.stream.write("\r\x1b[K");
    out.write(line.endsWith("\n") ? line : line + "\n");
    if (this.shown && !this.ended) this.draw(this.now());
  }

  /** Clears the line (the terminal is as it was before the first draw). Idempotent. */
  end(): void {
    if (this.ended) return;
    this.ended = true;
    if (this.shown) this.stream.write("\r\x1b[K");
    this.shown = false;
  }

  private draw(t: number): void {
    this.lastDrawMs = t;
    this.shown = true;
    this.stream.write(`\r${progressLine(this.state, this.stream.columns || 80)}\x1b[K`);
  }
}
