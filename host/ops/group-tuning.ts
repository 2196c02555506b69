// Guarded live tuning over a startWorkers() group (serve --admin in worker mode; docs/tuning.md).
//
// Each worker's reactor lives on its own thread, and a live change must be written between its
// turns on that thread. So every worker runs its own Tuner (workerTuning, in its setup), and
// the main thread's GroupTuner only forwards and aggregates, over the group's message channel:
//
//   1. apply(): checked on the main thread by the same rules as a Tuner's (validateSettings
//      over each worker's core, read from its shared memory), so a bad value is refused at once
//      with the same message; then sent to every worker (group.post, which wakes them). The
//      answer (202) means sent, not yet applied: each worker applies it when it takes the
//      message, between two of its turns, and reports back (status().workers says which did).
//   2. Each worker's Tuner watches its own reactor and reaches its own verdict; the worker
//      reports its status on every change of it (the tuner's log lines mark them).
//   3. The group's verdict: kept once every worker kept the change; rolled back as soon as one
//      worker rolled it back (or refused it), and then the others are told to roll back too, so
//      the workers never run on different settings for longer than a message takes.
//   4. rollback() sends the rollback to every worker and says rolled-back at once.
// Not live here: fdLimit and fdReserve. Each worker's limit is its share of the process's
// descriptor limit (startWorkers' splitFdLimit), and the same value given to every worker
// would not be a share any more.
import type { Reactor } from "../reactor/reactor.ts";
import type { WorkerContext, WorkerGroup } from "../reactor/worker.ts";
import { workerCores } from "../reactor/worker.ts";
import { Config, CONFIG_BASE } from "../core/layout.ts";
import type { Core } from "../core/core.ts";
import { ReactorError } from "../errors.ts";
import { LIVE_SETTINGS, Tuner, validateSettings, validateWatch, type LiveSetting, type Settings, type TuneState, type TuneStatus, type TunerOptions, type WatchOptions } from "./tuning.ts";

/** Messages on the group's channel; the tag keeps them apart from an app's own. */
const TAG = "wasm-reactor:tuning";
type ToWorker = { tag: typeof TAG; op: "apply"; id: number; settings: Record<string, number>; watch: WatchOptions } | { tag: typeof TAG; op: "rollback"; id: number; reason: string };
type FromWorker = { tag: typeof TAG; id: number; status?: TuneStatus; error?: string };

const NOT_LIVE_IN_GROUP: Partial<Record<LiveSetting, string>> = {
  fdLimit: "each worker's descriptor limit is its share of the process's (startWorkers' splitFdLimit); one value for every worker would not be a share: restart with the limit",
  fdReserve: "as fdLimit: each worker's budget is its share of the process's descriptors",
};
/** The Tuner's default historyMs: the longest window a worker's tuner accepts. */
const HISTORY_MS = 300_000;

function tuningError(message: string): ReactorError { return new ReactorError("ERR_TUNING", `wasm-reactor: ${message}`); }

/**
 * In a worker's setup: a Tuner on its reactor, driven by the main thread's GroupTuner. `opts`
 * are the Tuner's (sampleMs, historyMs, p99FloorUs); its log lines go to stderr, with the
 * worker's index, and each one also reports the tuner's status to the main thread.
 */
export function workerTuning(reactor: Reactor, ctx: WorkerContext, opts: Omit<TunerOptions, "log"> = {}): Tuner {
  let groupId = 0, applied = false;
  const report = (extra: Partial<FromWorker> = {}) => ctx.post({ tag: TAG, id: groupId, status: tuner.status(), ...extra } satisfies FromWorker);
  const tuner = new Tuner(reactor, {
    ...opts,
    log: (line) => {
      console.error(line.replace(/^wasm-reactor: /, `wasm-reactor: worker ${ctx.index}: `));
      if (groupId) report(); // a line marks each change of state: applied, kept, rolled back
    },
  });
  ctx.onMessage((raw) => {
    const m = raw as ToWorker;
    if (typeof m !== "object" || m === null || m.tag !== TAG) return;
    if (m.op === "apply") {
      groupId = m.id;
      applied = false;
      try { tuner.apply(m.settings, m.watch); applied = true; report(); }
      catch (err) { report({ error: String((err as Error).message).replace(/^wasm-reactor: /, "") }); }
    } else if (m.id === groupId && applied && (tuner.state === "watching" || tuner.state === "kept")) {
      // Only the change this worker applied: after a refusal its tuner still holds the one before.
      tuner.rollback(m.reason);
      report();
    }
  });
  return tuner;
}

/** Per worker, what the main thread knows of the current change. */
interface WorkerState { index: number; state: TuneState | "sent" | "refused"; reason?: string; status?: TuneStatus }

/** On the main thread: one change at a time over every worker (see the top of this file). */
export class GroupTuner {
  private readonly group: WorkerGroup;
  private readonly log: (line: string) => void;
  private stateNow: TuneState = "idle";
  private seq = 0;
  private change: { id: number; changes: Partial<Settings>; previous: Partial<Settings>; watch: WatchOptions; reason?: string; workers: WorkerState[] } | undefined;

  constructor(group: WorkerGroup, opts: { log?: (line: string) => void } = {}) {
    this.group = group;
    this.log = opts.log ?? ((line) => console.error(line));
  }

  /** Give it the group's onMessage (startWorkers' option): it takes its own messages and ignores the rest. */
  onMessage(raw: unknown, index: number): void {
    const m = raw as FromWorker;
    if (typeof m !== "object" || m === null || m.tag !== TAG) return;
    const c = this.change;
    if (!c || m.id !== c.id) return;
    const w = c.workers[index];
    if (m.error !== undefined) { w.state = "refused"; w.reason = m.error; }
    else if (m.status) { w.status = m.status; w.state = m.status.state; w.reason = m.status.reason; }
    if (this.stateNow !== "watching") return;
    const bad = c.workers.find((x) => x.state === "refused" || x.state === "rolled-back");
    if (bad) {
      this.decide("rolled-back", `worker ${bad.index} ${bad.state === "refused" ? "refused it" : "rolled it back"}: ${bad.reason ?? "no reason given"}`);
      this.group.post({ tag: TAG, op: "rollback", id: c.id, reason: `worker ${bad.index} rolled the change back` } satisfies ToWorker);
    } else if (c.workers.every((x) => x.state === "kept")) {
      this.decide("kept", `every worker kept it (${c.workers.length})`);
    }
  }

  /** The live settings as worker 0 runs them now (read from its shared memory). */
  settings(): Settings { return settingsOf(this.cores()[0]); }

  apply(changes: Record<string, unknown>, watch: WatchOptions = {}): { id: number } {
    if (this.stateNow === "watching") throw tuningError(`change #${this.change!.id} is being watched by the workers: one change at a time; wait for its verdict or roll it back first`);
    const cores = this.cores();
    if (typeof changes === "object" && changes !== null) {
      for (const k of Object.keys(changes)) {
        const why = NOT_LIVE_IN_GROUP[k as LiveSetting];
        if (why) throw new ReactorError("ERR_INVALID_OPTION", `wasm-reactor: setting '${k}' cannot change live with workers: ${why}`);
      }
    }
    let valid: Partial<Settings> = {};
    for (const core of cores) valid = validateSettings(facade(core), changes); // every worker's current values, same rules and messages as a Tuner's
    validateWatch(watch, HISTORY_MS);
    const now = settingsOf(cores[0]);
    const previous = Object.fromEntries(Object.keys(valid).map((k) => [k, now[k as LiveSetting]])) as Partial<Settings>;
    const id = ++this.seq;
    this.change = { id, changes: valid, previous, watch, workers: cores.map((_, index) => ({ index, state: "sent" })) };
    this.stateNow = "watching";
    this.log(`wasm-reactor: tuning #${id}: ${show(valid)} sent to ${cores.length} worker${cores.length === 1 ? "" : "s"}; each applies it between its turns and watches it`);
    this.group.post({ tag: TAG, op: "apply", id, settings: valid as Record<string, number>, watch } satisfies ToWorker);
    return { id };
  }

  rollback(reason = "rolled back on request"): unknown {
    const c = this.change;
    if (!c || this.stateNow === "idle" || this.stateNow === "rolled-back") throw tuningError(!c ? "nothing to roll back: no change was applied" : `nothing to roll back: change #${c.id} was already rolled back`);
    this.decide("rolled-back", reason);
    this.group.post({ tag: TAG, op: "rollback", id: c.id, reason } satisfies ToWorker);
    return this.status();
  }

  status(): Record<string, unknown> {
    const s: Record<string, unknown> = { state: this.stateNow, settings: this.settings() };
    const c = this.change;
    if (!c) return s;
    return { ...s, id: c.id, changes: c.changes, previous: c.previous, watch: c.watch, ...(c.reason ? { reason: c.reason } : {}), workers: c.workers.map((w, i) => ({
      index: w.index, state: w.state, ...(w.reason ? { reason: w.reason } : {}),
      ...(w.status?.before ? { before: w.status.before } : {}), ...(w.status?.after ? { after: w.status.after } : {}),
      settings: settingsOf(this.cores()[i]),
    })) };
  }

  private decide(to: "kept" | "rolled-back", reason: string): void {
    const c = this.change!;
    this.stateNow = to;
    c.reason = reason;
    this.log(`wasm-reactor: tuning #${c.id} ${to === "kept" ? "kept" : "rolled back on every worker"}: ${reason}`);
  }

  private cores(): Core[] {
    const cores = workerCores(this.group);
    if (cores.length === 0) throw tuningError("the worker group has ended");
    return cores;
  }
}

const show = (s: Partial<Settings>) => Object.entries(s).map(([k, v]) => `${k} ${v}`).join(", ");

/** A worker's live settings, from its core's Config in shared memory (the words its configSet writes). */
function settingsOf(core: Core): Settings {
  const out = {} as Settings;
  for (const k of Object.keys(LIVE_SETTINGS) as LiveSetting[]) out[k] = core.u32[(CONFIG_BASE + Config[k]) >> 2];
  return out;
}

/**
 * What validateSettings reads of a reactor, over a worker's shared memory: its Config words and
 * its metrics (descriptors open). The host's limit only matters to fdLimit, refused above.
 */
function facade(core: Core): Reactor {
  return {
    core: { config: (k: keyof typeof Config) => core.u32[(CONFIG_BASE + Config[k]) >> 2], f64: core.f64, regions: core.regions },
    host: { limits: () => ({ fdLimit: 0x7fffffff, source: "not read on the main thread" }) },
  } as unknown as Reactor;
}
