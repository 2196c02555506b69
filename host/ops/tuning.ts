// Guarded live tuning: change a running reactor's settings as a flag, watch what it does to turn
// latency and errors, and take it back by itself when they get worse (issue 10; docs/tuning.md).
//
// How it works:
//  1. Which settings can change live (LIVE_SETTINGS, each with why it is safe): the core reads
//     its Config words where it uses them (flush, the timer pass, write()), so a word changed
//     between two turns governs the next one. Capacities are fixed at create (the memory is laid
//     out for them), and the trigger mode is fixed when the native poller is made (NOT_LIVE).
//  2. A change is validated by the same rules as Reactor.create's options (resolveOptions over
//     OPTION_SPECS: ranges, low water at most high water), plus one rule only a live change can
//     break: the descriptor budget may not fall below the descriptors open now.
//  3. It is written between turns, never inside one: when asked from a handler (the admin
//     endpoint runs in one), it waits for the end of that turn (the drive loop's betweenTurns
//     hook, host/reactor/drive.ts). Each word goes through the core's configSet(), a recorded
//     call, so a trace holds the change at the point it happened and a replay makes it there.
//  4. The tuner samples the core's turn-latency histogram and error counters between turns,
//     every `sampleMs` of reactor time, keeping `historyMs` of samples; the window before a
//     change is read from them, so a change applies at once rather than after a fresh baseline.
//  5. After `windowMs`, the window after is compared with the window before: turn p99 above
//     maxP99Ratio times the old (and above a floor), or errors per second above
//     maxErrorRateRatio times the old (with a floor of one error per window), roll the change
//     back, with one log line giving the figures. Errors are checked every turn during the
//     watch too: once they exceed what the whole window may hold, the verdict cannot change,
//     so the rollback does not wait for the window's end.
//  6. States (TRANSITIONS below): idle → watching → kept | rolled-back; one change is watched
//     at a time, and a second apply() meanwhile is refused.
import type { Reactor } from "../reactor/reactor.ts";
import type { TimerHandle } from "../reactor/connection.ts";
import { Config, Metrics, K } from "../core/layout.ts";
import { histogramCounts, percentilesOf } from "../core/metrics.ts";
import { resolveOptions, OPTION_SPECS, type ReactorOptions } from "../options.ts";
import { ReactorError } from "../errors.ts";

/** The settings that change live, and why each is safe to change between turns. */
export const LIVE_SETTINGS = {
  idleTimeoutMs: "idle timers are lazy: the core re-arms every open connection's idle timer from its last activity under the new value (configSet), so a lowering is not a whole old timeout late and 0 → N reaches connections already open",
  highWaterBytes: "read by every write(): the next write over it says wait (and pauses reading with pauseReadsAtHighWater)",
  lowWaterBytes: "read when writes complete: drain and resumed reading use it from the next completion",
  acceptsPerTurn: "read at each flush, which publishes the accept budget for the host's next poll",
  readsPerConnPerTurn: "read at each flush, which publishes it for the host's next poll",
  expiriesPerTurn: "read by each turn's timer pass; timers over it carry over as before",
  fdLimit: "the descriptor budget (fdLimit - fdReserve) is re-evaluated by admission control at every flush; 0 asks the host again, as at create",
  fdReserve: "as fdLimit",
} as const;

export type LiveSetting = keyof typeof LIVE_SETTINGS;
export type Settings = { [K in LiveSetting]: number };

/** Options that are not live, and why (an attempt says so instead of "unknown"). */
export const NOT_LIVE: Readonly<Record<string, string>> = {
  edgeTriggered: "the trigger mode is fixed when the native poller is created (shims/native: each descriptor is registered with or without EPOLLET, and edge mode keeps its own ready list); switching live would re-register every descriptor and hand the ready list over inside the C shim, which is not done today: restart with the option (docs/runbooks/poller-trigger-mode.md)",
  ...Object.fromEntries(["maxConnections", "chunkSize", "poolChunks", "timers", "eventRing", "submitRing", "noteRing"].map((k) => [k, "a capacity: the core's memory is laid out for it when the reactor is created"])),
};

/** What a watch compares, with defaults and why. */
export const WATCH_DEFAULTS = {
  windowMs: { def: 30_000, why: "long enough for a few hundred turns even on a quiet server, short enough that a bad change is undone within a minute" },
  maxP99Ratio: { def: 1.5, why: "the histogram's buckets are 12.5% wide and p99 moves by a bucket or two between quiet windows; half again is a real regression" },
  maxErrorRateRatio: { def: 2, why: "errors per second at twice the old rate (at least two errors in the window when there were none) is more than noise" },
  minSamples: { def: 100, why: "turns each window needs before its p99 is judged: with fewer, p99 is the maximum of a handful" },
} as const;
export type WatchOptions = { [K in keyof typeof WATCH_DEFAULTS]?: number };
type Watch = { -readonly [K in keyof typeof WATCH_DEFAULTS]: number };

export interface TunerOptions {
  /** Reactor ms between two samples of the histogram and error counters (default 1000). */
  sampleMs?: number;
  /** Reactor ms of samples kept: the longest window a watch may use (default 300,000). */
  historyMs?: number;
  /** Turn p99 at or below this many µs is never a regression (default 100: a tenth of issue 10's 1 ms p99 target). */
  p99FloorUs?: number;
  /** Where the tuner's lines go (default: the reactor's log option, else console.error). */
  log?: (line: string) => void;
}

export type TuneState = "idle" | "watching" | "kept" | "rolled-back";

/** Which states a tuner moves between; move() is the only place that changes it. */
const TRANSITIONS: Readonly<Record<TuneState, readonly TuneState[]>> = {
  idle: ["watching"],                            // nothing changed yet
  watching: ["kept", "rolled-back"],             // one change applied (or about to be), its window running
  kept: ["watching", "rolled-back"],             // the last change passed its window; rollback() may still undo it
  "rolled-back": ["watching"],                   // the last change was undone (its verdict, rollback(), or the core refused it)
};

/** One window's figures. */
export interface WindowStats {
  /** Reactor ms the window covers. */
  ms: number;
  turns: number;
  /** Turn latency p99 in µs (the histogram bucket's lower bound). */
  p99Us: number;
  /** errors + resets + acceptErrors + connectsFailed in the window. */
  errors: number;
  errorsPerS: number;
}

export interface TuneStatus {
  state: TuneState;
  /** The current values of the live settings (the core's Config, read now). */
  settings: Settings;
  id?: number;
  changes?: Partial<Settings>;
  previous?: Partial<Settings>;
  watch?: Watch;
  /** Set once the change was written (a change asked for inside a turn waits for its end). */
  appliedAtMs?: number;
  endsAtMs?: number;
  decidedAtMs?: number;
  before?: WindowStats;
  after?: WindowStats;
  /** Why it was kept or rolled back (the log line's text). */
  reason?: string;
  /** Asked for inside a turn: it happens at that turn's end. */
  pending?: "apply" | "rollback";
}

interface Sample { atMs: number; turns: number; errors: number; hist: Uint32Array }
interface Change {
  id: number;
  changes: Partial<Settings>;
  previous: Partial<Settings>;
  watch: Watch;
  appliedAtMs?: number;
  mark?: Sample;
  before?: WindowStats;
  after?: WindowStats;
  decidedAtMs?: number;
  reason?: string;
  timer?: TimerHandle;
}

const ERROR_COUNTERS = ["errors", "resets", "acceptErrors", "connectsFailed"] as const;

function tuningError(message: string): ReactorError { return new ReactorError("ERR_TUNING", `wasm-reactor: ${message}`); }
function invalid(message: string): ReactorError { return new ReactorError("ERR_INVALID_OPTION", `wasm-reactor: ${message}`); }
const show = (s: Partial<Settings>) => Object.entries(s).map(([k, v]) => `${k} ${v}`).join(", ");

/** The live settings' current values, read from the core's Config. */
export function currentSettings(r: Reactor): Settings {
  const out = {} as Settings;
  for (const k of Object.keys(LIVE_SETTINGS) as LiveSetting[]) out[k] = r.core.config(k);
  return out;
}

/**
 * Checks `changes` as Reactor.create would check them as options (same ranges, same cross rules,
 * same messages), merged over the current values; returns them with fdLimit 0 resolved to the
 * host's limit. Throws ERR_INVALID_OPTION naming the setting, the value and what is allowed.
 */
export function validateSettings(r: Reactor, changes: unknown): Partial<Settings> {
  if (typeof changes !== "object" || changes === null || Array.isArray(changes)) {
    throw invalid(`settings to change must be an object of { name: value }, got ${Array.isArray(changes) ? "an array" : JSON.stringify(changes) ?? String(changes)}`);
  }
  const given = Object.entries(changes as Record<string, unknown>);
  const live = Object.keys(LIVE_SETTINGS).join(", ");
  if (given.length === 0) throw invalid(`no settings to change were given; the live ones are ${live}`);
  for (const [k] of given) {
    if (Object.hasOwn(LIVE_SETTINGS, k)) continue;
    if (Object.hasOwn(NOT_LIVE, k)) throw invalid(`setting '${k}' cannot change live: ${NOT_LIVE[k]}`);
    if (Object.hasOwn(OPTION_SPECS, k)) throw invalid(`setting '${k}' cannot change live (set it when the reactor is created); the live ones are ${live}`);
    throw invalid(`unknown setting '${k}'; the live ones are ${live}`);
  }
  const current = currentSettings(r);
  const merged = { ...current, ...(changes as Record<string, unknown>) } as Record<string, unknown>;
  resolveOptions(merged as ReactorOptions); // OPTION_SPECS: ranges, integers, lowWaterBytes <= highWaterBytes
  const out = Object.fromEntries(given) as Partial<Settings>;
  const host = r.host.limits();
  if (out.fdLimit === 0) out.fdLimit = host.fdLimit;
  // Over the host's real limit the budget would only let accepts fail with EMFILE.
  if (out.fdLimit !== undefined && out.fdLimit > host.fdLimit) {
    throw invalid(`option 'fdLimit' must be at most the host's descriptor limit live (${host.fdLimit}: ${host.source}; raise that limit and restart to go further), got ${out.fdLimit}`);
  }
  const fdLimit = out.fdLimit ?? current.fdLimit, fdReserve = out.fdReserve ?? current.fdReserve;
  const budget = Math.max(0, fdLimit - fdReserve);
  const m = metricWords(r);
  const inUse = m("fdsOpen") + m("connectsPending");
  if ((out.fdLimit !== undefined || out.fdReserve !== undefined) && budget < Math.max(1, inUse)) {
    throw invalid(`the descriptor budget fdLimit - fdReserve (${fdLimit} - ${fdReserve} = ${budget}) must stay at least 1 and at least the ${inUse} descriptors open or connecting now`);
  }
  return out;
}

export function validateWatch(w: unknown, historyMs: number): Watch {
  if (w !== undefined && (typeof w !== "object" || w === null || Array.isArray(w))) throw invalid(`watch options must be an object, got ${JSON.stringify(w)}`);
  const given = (w ?? {}) as Record<string, unknown>;
  for (const k of Object.keys(given)) if (!Object.hasOwn(WATCH_DEFAULTS, k)) throw invalid(`unknown watch option '${k}'; known: ${Object.keys(WATCH_DEFAULTS).join(", ")}`);
  const out = {} as Watch;
  for (const [k, spec] of Object.entries(WATCH_DEFAULTS) as [keyof Watch, { def: number }][]) {
    const v = given[k] ?? spec.def;
    const ok = typeof v === "number" && Number.isFinite(v) && (
      k === "windowMs" ? Number.isInteger(v) && v >= 1 && v <= historyMs
        : k === "minSamples" ? Number.isInteger(v) && v >= 1
          : v >= 1);
    if (!ok) {
      const allowed = k === "windowMs" ? `an integer from 1 to ${historyMs} (the tuner's historyMs)` : k === "minSamples" ? "an integer of at least 1" : "a number of at least 1";
      throw invalid(`watch option '${k}' must be ${allowed}, got ${JSON.stringify(v)}`);
    }
    out[k] = v as number;
  }
  return out;
}

/** Reads one Metrics counter or gauge straight from the core's memory (no snapshot). */
function metricWords(r: Reactor): (name: keyof typeof Metrics) => number {
  const f64 = r.core.f64, base = r.core.regions.metricsOff;
  return (name) => f64[(base + Metrics[name]) >> 3];
}

/**
 * Writes settings through the core's configSet, in whatever order keeps each intermediate state
 * valid (raising low and high water together must raise high first). Returns undefined, or
 * why the core refused; a refusal leaves every setting as it was.
 */
function writeSettings(r: Reactor, target: Partial<Settings>): string | undefined {
  const core = r.core;
  let pending = (Object.entries(target) as [LiveSetting, number][]).filter(([k, v]) => core.config(k) !== v);
  const done: [LiveSetting, number][] = [];
  let refused: [LiveSetting, number, number] | undefined;
  while (pending.length) {
    const next: [LiveSetting, number][] = [];
    for (const [k, v] of pending) {
      const old = core.config(k);
      const code = core.exports.configSet(Config[k] >> 2, v);
      if (code === 0) done.push([k, old]);
      else { next.push([k, v]); refused = [k, v, code]; }
    }
    if (next.length === pending.length) {
      for (const [k, old] of done.reverse()) core.exports.configSet(Config[k] >> 2, old);
      const [k, v, code] = refused!;
      return code === K.R_BUDGET
        ? `${k} ${v} would put the descriptor budget below the descriptors open now`
        : `${k} ${v} breaks the core's rules (low water above high water, or a zero budget)`;
    }
    pending = next;
  }
  const opts = r.options as unknown as Record<string, number>;
  for (const [k] of done) opts[k] = core.config(k); // reactor.options says what runs now
  return undefined;
}

/**
 * Watches one live change at a time over a reactor (see the top of this file). One Tuner per
 * reactor: it owns the reactor's between-turns hook.
 */
export class Tuner {
  readonly reactor: Reactor;
  private readonly log: (line: string) => void;
  private readonly sampleMs: number;
  private readonly historyMs: number;
  private readonly p99FloorUs: number;
  private readonly samples: Sample[] = [];
  private stateNow: TuneState = "idle";
  private change: Change | undefined;
  private seq = 0;
  /** What waits for the end of the current turn: the change to apply, or a rollback's reason. */
  private queued: { apply: true } | { rollback: string } | undefined;
  private closed = false;

  constructor(reactor: Reactor, opts: TunerOptions = {}) {
    const o = opts as Record<string, unknown>;
    for (const k of Object.keys(o)) if (!["sampleMs", "historyMs", "p99FloorUs", "log"].includes(k)) throw invalid(`unknown Tuner option '${k}'; known: sampleMs, historyMs, p99FloorUs, log`);
    const int = (k: string, def: number, min: number) => {
      const v = o[k] ?? def;
      if (typeof v !== "number" || !Number.isInteger(v) || v < min) throw invalid(`Tuner option '${k}' must be an integer of at least ${min}, got ${JSON.stringify(v)}`);
      return v;
    };
    this.sampleMs = int("sampleMs", 1000, 1);
    this.historyMs = int("historyMs", 300_000, this.sampleMs);
    this.p99FloorUs = int("p99FloorUs", 100, 0);
    if (opts.log !== undefined && typeof opts.log !== "function") throw invalid(`Tuner option 'log' must be a function (line: string) => void`);
    this.reactor = reactor;
    this.log = opts.log ?? reactor.options.log ?? ((line: string) => console.error(line));
    if (reactor.life.betweenTurns) throw tuningError("this reactor already has a Tuner (one per reactor: it owns the reactor's between-turns hook); close() that one first");
    reactor.life.betweenTurns = () => this.betweenTurns();
    this.samples.push(this.sample(reactor.nowMs()));
  }

  get state(): TuneState { return this.stateNow; }

  /**
   * Applies `changes` (live settings, validated as options are) and watches them for
   * `watch.windowMs`. Outside a turn they apply now; inside one (a handler), at its end.
   * Refused with ERR_TUNING while another change is watched.
   */
  apply(changes: Partial<Settings> | Record<string, unknown>, watch: WatchOptions = {}): { id: number } {
    if (this.closed) throw tuningError("apply() after the tuner was closed");
    if (this.stateNow === "watching") {
      const c = this.change!;
      const when = c.appliedAtMs === undefined ? "waiting for the end of this turn" : `applied at ${c.appliedAtMs} ms, watched until ${c.appliedAtMs + c.watch.windowMs} ms`;
      throw tuningError(`change #${c.id} (${show(c.changes)}) is being watched (${when}): one change at a time; wait for its verdict or roll it back first`);
    }
    const valid = validateSettings(this.reactor, changes);
    const w = validateWatch(watch, this.historyMs);
    const now = currentSettings(this.reactor);
    const previous = Object.fromEntries(Object.keys(valid).map((k) => [k, now[k as LiveSetting]])) as Partial<Settings>;
    this.change = { id: ++this.seq, changes: valid, previous, watch: w };
    this.move("watching");
    if (this.reactor.life.inTurn) this.queued = { apply: true };
    else { this.applyNow(); this.reactor.poke(); }
    return { id: this.change.id };
  }

  /**
   * Undoes the last change (watched or kept). Outside a turn it is undone now; inside one, at
   * its end. Refused with ERR_TUNING when there is nothing to undo.
   */
  rollback(reason = "rolled back on request"): TuneStatus {
    if (this.closed) throw tuningError("rollback() after the tuner was closed");
    if (this.stateNow === "idle" || this.stateNow === "rolled-back" || !this.change) {
      throw tuningError(this.stateNow === "idle" ? "nothing to roll back: no change was applied" : `nothing to roll back: change #${this.change!.id} was already rolled back`);
    }
    if (this.change.appliedAtMs === undefined) { // asked for and undone within the same turn: never written
      this.queued = undefined;
      this.decide("rolled-back", `${reason} before it was applied`);
    } else if (this.reactor.life.inTurn) this.queued = { rollback: reason };
    else { this.rollbackNow(reason); this.reactor.poke(); }
    return this.status();
  }

  status(): TuneStatus {
    const s: TuneStatus = { state: this.stateNow, settings: currentSettings(this.reactor) };
    const c = this.change;
    if (!c) return s;
    Object.assign(s, { id: c.id, changes: c.changes, previous: c.previous, watch: c.watch });
    if (c.appliedAtMs !== undefined) { s.appliedAtMs = c.appliedAtMs; s.endsAtMs = c.appliedAtMs + c.watch.windowMs; }
    if (c.before) s.before = c.before;
    if (c.after) s.after = c.after;
    if (c.decidedAtMs !== undefined) s.decidedAtMs = c.decidedAtMs;
    if (c.reason) s.reason = c.reason;
    if (this.queued) s.pending = "apply" in this.queued ? "apply" : "rollback";
    return s;
  }

  /** Stops watching (a change being watched stays as it is) and gives the reactor's hook back. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    if (this.change?.timer) this.reactor.clearTimeout(this.change.timer);
    if (this.reactor.life.betweenTurns) this.reactor.life.betweenTurns = undefined;
  }

  // ── between turns (host/reactor/drive.ts calls this after every turn) ─────────────────────
  private betweenTurns(): boolean {
    try {
      let changed = false;
      const q = this.queued;
      this.queued = undefined;
      if (q && "apply" in q) { this.applyNow(); changed = true; }
      else if (q) { this.rollbackNow(q.rollback); changed = true; }
      const now = this.reactor.nowMs();
      if (now - this.samples[this.samples.length - 1].atMs >= this.sampleMs) {
        this.samples.push(this.sample(now));
        while (this.samples.length > 2 && this.samples[1].atMs <= now - this.historyMs) this.samples.shift();
      }
      if (this.stateNow === "watching" && this.change?.appliedAtMs !== undefined) changed = this.check(now) || changed;
      return changed;
    } catch (err) {
      // Never let the watch break the loop: say so, and stop watching.
      this.log(`wasm-reactor: tuning: the watch failed and stopped: ${(err as Error).message}`);
      this.close();
      return false;
    }
  }

  private sample(atMs: number): Sample {
    const m = metricWords(this.reactor);
    let errors = 0;
    for (const k of ERROR_COUNTERS) errors += m(k);
    return { atMs, turns: m("turns"), errors, hist: histogramCounts(this.reactor.core, K.HIST_TURN_US) };
  }

  private applyNow(): void {
    const c = this.change!, r = this.reactor;
    const now = r.nowMs();
    const mark = this.sample(now);
    // The window before: from the newest sample at least windowMs old (or the oldest kept, when
    // the tuner has watched for less than that) up to now.
    let base = this.samples[0];
    for (let i = this.samples.length - 1; i >= 0; i--) if (this.samples[i].atMs <= now - c.watch.windowMs) { base = this.samples[i]; break; }
    c.before = stats(base, mark);
    c.mark = mark;
    const refused = writeSettings(r, c.changes);
    if (refused) { this.decide("rolled-back", `the core refused the change: ${refused}`); return; }
    c.appliedAtMs = now;
    this.log(`wasm-reactor: tuning #${c.id}: ${show(c.changes)} (was ${show(c.previous)}); watching turn p99 and errors for ${c.watch.windowMs} ms against the ${c.before.ms} ms before (p99 ${c.before.p99Us} µs over ${c.before.turns} turns, ${c.before.errors} errors)`);
    // A timer at the window's end makes sure a turn comes then, even on a quiet reactor.
    try { c.timer = r.setTimeout(() => {}, c.watch.windowMs + 1); } catch { /* no app timer free: the verdict comes with the next turn after the window */ }
  }

  /** During a watch: errors past what the whole window may hold, or the window's end. True when it rolled back. */
  private check(now: number): boolean {
    const c = this.change!;
    const w = c.watch, before = c.before!, mark = c.mark!;
    const allowedPerS = Math.max(before.errorsPerS, 1000 / w.windowMs) * w.maxErrorRateRatio;
    const allowedInWindow = allowedPerS * w.windowMs / 1000;
    const m = metricWords(this.reactor);
    let errors = 0;
    for (const k of ERROR_COUNTERS) errors += m(k);
    const ended = now >= c.appliedAtMs! + w.windowMs;
    if (!ended && errors - mark.errors <= allowedInWindow) return false;
    const after = stats(mark, this.sample(now));
    c.after = after;
    const why: string[] = [];
    if (ended) {
      if (before.turns >= w.minSamples && after.turns >= w.minSamples) {
        const limit = Math.max(before.p99Us * w.maxP99Ratio, this.p99FloorUs);
        if (after.p99Us > limit) why.push(`turn p99 ${after.p99Us} µs over ${after.turns} turns against ${before.p99Us} µs over ${before.turns} before (limit ${limit} µs: ${w.maxP99Ratio}x, floor ${this.p99FloorUs} µs)`);
      }
    }
    if (after.errorsPerS > allowedPerS) why.push(`${after.errors} errors in ${after.ms} ms (${round(after.errorsPerS)}/s) against ${before.errors} in ${before.ms} ms before (limit ${round(allowedPerS)}/s: ${w.maxErrorRateRatio}x, at least one error per window)`);
    if (why.length) { this.rollbackNow(why.join("; ")); return true; }
    const judged = before.turns >= w.minSamples && after.turns >= w.minSamples
      ? `turn p99 ${after.p99Us} µs against ${before.p99Us} µs before`
      : `p99 not judged: ${before.turns} turns before, ${after.turns} after, minSamples ${w.minSamples}`;
    this.decide("kept", `${judged}; ${after.errors} errors in ${after.ms} ms against ${before.errors} in ${before.ms} ms before`);
    return false;
  }

  private rollbackNow(reason: string): void {
    const c = this.change!;
    const during = show(c.changes);
    const refused = writeSettings(this.reactor, c.previous);
    const back = refused ? `the core refused to restore ${show(c.previous)} (${refused}): ${during} stays` : `settings back to ${show(c.previous)} (was ${during})`;
    this.decide("rolled-back", `${reason}; ${back}`);
  }

  private decide(to: "kept" | "rolled-back", reason: string): void {
    const c = this.change!;
    c.reason = reason;
    c.decidedAtMs = this.reactor.nowMs();
    if (c.timer) { this.reactor.clearTimeout(c.timer); c.timer = undefined; }
    this.move(to);
    this.log(`wasm-reactor: tuning #${c.id} ${to === "kept" ? "kept" : "rolled back"}: ${reason}`);
  }

  private move(to: TuneState): void {
    if (!TRANSITIONS[this.stateNow].includes(to)) throw new Error(`wasm-reactor: tuning cannot go from ${this.stateNow} to ${to}`);
    this.stateNow = to;
  }
}

function stats(a: Sample, b: Sample): WindowStats {
  const hist = new Uint32Array(a.hist.length);
  for (let i = 0; i < hist.length; i++) hist[i] = (b.hist[i] - a.hist[i]) >>> 0;
  const ms = b.atMs - a.atMs, errors = b.errors - a.errors;
  // ms rounded to µs for the log line and the status (real clocks give 503.97946999999976); the rate uses the exact span.
  return { ms: Math.round(ms * 1000) / 1000, turns: b.turns - a.turns, p99Us: percentilesOf(hist).p99, errors, errorsPerS: ms > 0 ? errors * 1000 / ms : errors > 0 ? Infinity : 0 };
}

const round = (v: number) => Math.round(v * 100) / 100;
