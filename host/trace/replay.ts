// Reading traces and replaying them on a fresh core: the first turn whose outputs differ from the
// recorded ones is the divergence (format.ts has the format).
import { Core, coreBytes, type Build } from "../core/core.ts";
import type { WasiHooks } from "../../shims/wasi.ts";
import { LAYOUT_VERSION, EventRec_BYTES } from "../core/layout.ts";
import { ReactorError, permissionError } from "../errors.ts";
import {
  TRACE_MAGIC, TRACE_VERSION, T_CALL, T_INPUT, T_TURN, T_INIT, RECORDED, OutputHasher, outputDiff, hex, coreHash,
  type TraceHeader, W_EVENT_TAIL, W_SUBMIT_HEAD, W_SUPPLY_HEAD, W_NOTE_HEAD,
} from "./format.ts";

export class TraceFormatError extends ReactorError {
  constructor(message: string, readonly offset: number) { super("ERR_TRACE", message); }
}

export interface TraceRecord { tag: number; offset: number; body: DataView }

/** Parses the header and splits the records; a bad file throws a TraceFormatError naming the byte offset. */
export function readTrace(bytes: Uint8Array, name = "trace"): { header: TraceHeader; records: TraceRecord[] } {
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const need = (at: number, n: number, what: string) => {
    if (at + n > bytes.length) throw new TraceFormatError(`wasm-reactor: ${name} is truncated at byte ${bytes.length}: ${what} needs bytes ${at}..${at + n}`, bytes.length);
  };
  need(0, 16, "the file header");
  const magic = String.fromCharCode(...bytes.subarray(0, 8));
  if (magic !== TRACE_MAGIC) throw new TraceFormatError(`wasm-reactor: ${name} is not a wasm-reactor trace (bad magic at byte 0)`, 0);
  const version = dv.getUint32(8, true);
  if (version !== TRACE_VERSION) {
    const why = version === 2 ? " (written before traces named their memory layout, so its event records cannot be trusted here)" : "";
    throw new TraceFormatError(`wasm-reactor: ${name} is trace format version ${version}${why}; this build reads version ${TRACE_VERSION}: record it again with this build`, 8);
  }
  const hlen = dv.getUint32(12, true);
  need(16, hlen, "the JSON header");
  let header: TraceHeader;
  try { header = JSON.parse(new TextDecoder("utf-8", { fatal: true }).decode(bytes.subarray(16, 16 + hlen))); }
  catch (err) { throw new TraceFormatError(`wasm-reactor: ${name} has a corrupt header at byte 16: ${(err as Error).message}`, 16); }
  // Event records are stored as the recording core laid them out: under another layout they would be misread.
  if (typeof header.layoutVersion !== "number") throw new TraceFormatError(`wasm-reactor: ${name} has a corrupt header at byte 16: it names no memory layout (layoutVersion)`, 16);
  if (header.layoutVersion >>> 0 !== LAYOUT_VERSION) {
    throw new TraceFormatError(`wasm-reactor: ${name} was recorded under memory layout 0x${hex(header.layoutVersion)}, and this build's layout is 0x${hex(LAYOUT_VERSION)}: its event records would be misread, so it cannot be replayed here (not even with --force); record it again with this build`, 16);
  }
  const records: TraceRecord[] = [];
  let at = 16 + hlen;
  while (at < bytes.length) {
    need(at, 5, "a record's tag and length");
    const tag = bytes[at], len = dv.getUint32(at + 1, true);
    if (tag < T_CALL || tag > T_INIT) throw new TraceFormatError(`wasm-reactor: ${name} is corrupt at byte ${at}: unknown record tag ${tag}`, at);
    need(at + 5, len, `record ${records.length} (tag ${tag})`);
    records.push({ tag, offset: at, body: new DataView(bytes.buffer, bytes.byteOffset + at + 5, len) });
    at += 5 + len;
  }
  return { header, records };
}

/** Reads the clock values and random bytes at `off` in a record body. */
export function readInputs(body: DataView, off: number): { clocks: bigint[]; rands: number[]; end: number } {
  const nc = body.getUint16(off, true); off += 2;
  const clocks: bigint[] = [];
  for (let i = 0; i < nc; i++) { clocks.push(body.getBigInt64(off, true)); off += 8; }
  const nr = body.getUint16(off, true); off += 2;
  const rands: number[] = [];
  for (let i = 0; i < nr; i++) rands.push(body.getUint8(off + i));
  return { clocks, rands, end: off + nr };
}

export interface ReplayResult<C = Core> {
  identical: boolean;
  /** With checkInvariants: the first turn after which the core's audit failed, and its code. */
  broken?: { turn: number; invariant: number };
  turns: number;
  calls: number;
  /** The first turn whose outputs differ, with what differed. */
  divergence?: { turn: number; offset: number; what: string };
  core: C;
}

/**
 * How a replay reaches a core: everything else in a replay is the same for every core. The
 * shared-memory core (sharedTarget) is written and read in place; the component
 * (host/component/replay.ts) takes a call's inputs and returns its outputs as lists.
 */
export interface ReplayTarget {
  /** The event ring's tail: the host owns it, so the target knows it without asking the core. */
  eventTail(): number;
  /**
   * What the host wrote between two calls: `n` event records (`EventRec_BYTES` each, from byte
   * `at` of `body`) appended at the tail, and the cursors the trace moved (undefined: unmoved).
   */
  input(body: DataView, at: number, n: number, submitHead?: number, supplyHead?: number, noteHead?: number): void;
  /** Calls a recorded core function (its number in RECORDED); returns its result as a number. */
  call(fn: number, args: number[]): number;
  /** Folds the last call's result and outputs into the turn's hash. */
  fold(hasher: OutputHasher, fn: number, ret: number): void;
  /** Whether the hasher should keep each turn's output words (the trace holds them: a readable diff). */
  hasher(keep: boolean): OutputHasher;
  checkInvariants(): number;
}

/** The shared-memory core as a replay target: events and cursors written in place, outputs read in place. */
export function sharedTarget(core: Core): ReplayTarget {
  const ex = core.exports as unknown as Record<string, (...a: number[]) => number>;
  const u32 = core.u32;
  return {
    eventTail: () => u32[W_EVENT_TAIL],
    input(body, at, n, sh, sp, nh) {
      let t = u32[W_EVENT_TAIL];
      for (let k = 0; k < n; k++, t = (t + 1) >>> 0) {
        const p = core.eventOffset(t);
        for (let j = 0; j < EventRec_BYTES; j++) core.u8[p + j] = body.getUint8(at + k * EventRec_BYTES + j);
      }
      u32[W_EVENT_TAIL] = t;
      if (sh !== undefined) u32[W_SUBMIT_HEAD] = sh;
      if (sp !== undefined) u32[W_SUPPLY_HEAD] = sp;
      if (nh !== undefined) u32[W_NOTE_HEAD] = nh;
    },
    call(fn, args) {
      const raw = ex[RECORDED[fn]](...args);
      return typeof raw === "number" ? raw : raw ? 1 : 0;
    },
    fold: (hasher, fn, ret) => hasher.afterCall(fn, ret),
    hasher: (keep) => new OutputHasher(core, keep),
    checkInvariants: () => core.exports.checkInvariants(),
  };
}

/**
 * Replays records on a fresh core (made by `makeCore` with the given hooks). Stops at the first
 * difference, or after `untilTurn` turns.
 */
export function replayTrace(parsed: { header: TraceHeader; records: TraceRecord[] },
  makeCore: (hooks: WasiHooks) => Promise<Core>, opts: ReplayOptions = {}): Promise<ReplayResult> {
  return replayVia(parsed, makeCore, sharedTarget, opts);
}

export interface ReplayOptions {
  untilTurn?: number;
  checkInvariants?: boolean;
  log?: (l: string) => void;
  /** Called with each turn's hash once it matched the recorded one (to compare two replays turn by turn). */
  onTurn?: (turn: number, hash: number) => void;
}

/**
 * replayTrace on any core: `makeCore` creates it with the trace's clock and random values,
 * `reach` says how the replay's inputs reach it and its outputs come back.
 */
export async function replayVia<C>(parsed: { header: TraceHeader; records: TraceRecord[] },
  makeCore: (hooks: WasiHooks) => Promise<C>, reach: (core: C) => ReplayTarget, opts: ReplayOptions = {}): Promise<ReplayResult<C>> {
  const { records } = parsed;
  let clocks: bigint[] = [], rands: number[] = [];
  let current = "INIT";
  const underrun = (what: string) => new TraceFormatError(`wasm-reactor: the core read the ${what} more often than the trace recorded during ${current}: it diverged`, -1);
  const hooks: WasiHooks = {
    clockNs: () => { const v = clocks.shift(); if (v === undefined) throw underrun("clock"); return v; },
    random: (view) => { for (let i = 0; i < view.length; i++) { const v = rands.shift(); if (v === undefined) throw underrun("random source"); view[i] = v; } },
    log: opts.log ?? (() => {}),
  };
  if (!records.length || records[0].tag !== T_INIT) throw new TraceFormatError("wasm-reactor: the trace has no INIT record after its header", records[0]?.offset ?? 16);
  ({ clocks, rands } = readInputs(records[0].body, 0));
  const core = await makeCore(hooks);
  const target = reach(core);
  const withOutputs = records.some((r) => r.tag === T_TURN && r.body.byteLength > 8);
  const hasher = target.hasher(withOutputs);
  let turns = 0, calls = 0;
  let broken: ReplayResult["broken"];
  for (let i = 1; i < records.length; i++) {
    const { tag, body, offset } = records[i];
    if (tag === T_INPUT) {
      const mask = body.getUint8(0);
      let at = 1;
      const next = (w: number) => { if (mask & w) { const v = body.getUint32(at, true); at += 4; return v; } return undefined; };
      const et = next(1), sh = next(2), sp = next(4), nh = next(8);
      const n = et === undefined ? 0 : (et - target.eventTail()) >>> 0;
      if (at + n * EventRec_BYTES > body.byteLength) throw new TraceFormatError(`wasm-reactor: the trace is corrupt at byte ${offset}: ${n} events announced, ${Math.floor((body.byteLength - at) / EventRec_BYTES)} present`, offset);
      target.input(body, at, n, sh, sp, nh);
    } else if (tag === T_CALL) {
      const fnByte = body.getUint8(0), fn = fnByte & 0x7f, argc = body.getUint8(1);
      const args: number[] = [];
      for (let k = 0; k < argc; k++) args.push(body.getUint32(2 + k * 4, true));
      const want = body.getUint32(2 + argc * 4, true);
      if (fnByte & 0x80) ({ clocks, rands } = readInputs(body, 2 + argc * 4 + 4));
      else { clocks = []; rands = []; }
      const name = RECORDED[fn];
      if (!name) throw new TraceFormatError(`wasm-reactor: the trace is corrupt at byte ${offset}: unknown core function ${fn}`, offset);
      current = `${name}() in turn ${turns + 1} (byte ${offset})`;
      const got = target.call(fn, args);
      calls++;
      if ((got | 0) !== (want | 0)) {
        return { identical: false, turns, calls, core, divergence: { turn: turns + 1, offset, what: `${name}(${args.join(", ")}) returned ${got}; the recorded run got ${want}` } };
      }
      if (clocks.length || rands.length) {
        return { identical: false, turns, calls, core, divergence: { turn: turns + 1, offset, what: `${name}() read the clock or random source fewer times than recorded` } };
      }
      target.fold(hasher, fn, got);
    } else if (tag === T_TURN) {
      const turn = body.getUint32(0, true), want = body.getUint32(4, true);
      const got = hasher.take();
      const mine = hasher.takeOutputs();
      turns = turn;
      if (got !== want) {
        let what = `the turn's outputs hash to ${hex(got)}; the recorded run's to ${hex(want)}`;
        if (body.byteLength > 8) {
          const words = (at: number) => { const n = body.getUint32(at, true); const w: number[] = []; for (let k = 0; k < n; k++) w.push(body.getUint32(at + 4 + k * 4, true)); return w; };
          const subs = words(8), notes = words(12 + subs.length * 4);
          what += `: ${outputDiff({ subs, notes }, mine)}`;
        } else what += ` (record with { outputs: true } to see which submission or note differs)`;
        return { identical: false, turns: turn - 1, calls, core, broken, divergence: { turn, offset, what } };
      }
      opts.onTurn?.(turn, got);
      if (opts.checkInvariants && !broken) {
        const inv = target.checkInvariants();
        if (inv !== 0) broken = { turn, invariant: inv };
      }
      if (opts.untilTurn !== undefined && turn >= opts.untilTurn) break;
    } else if (tag === T_INIT) {
      throw new TraceFormatError(`wasm-reactor: the trace is corrupt at byte ${offset}: a second INIT record`, offset);
    }
  }
  return { identical: true, turns, calls, core, broken };
}

export interface ReplayFileResult<C = Core> extends ReplayResult<C> { header: TraceHeader; ms: number; bytes: number }
export interface ReplayFileOptions extends ReplayOptions { force?: boolean }

/**
 * Reads a trace file and replays it on a fresh core of the build it names. Refuses a trace
 * recorded with a different core unless `force` (it would diverge, or worse, not say why).
 */
export async function replayFile(path: string, opts: ReplayFileOptions = {}): Promise<ReplayFileResult> {
  const { parsed, bytes } = await openTrace(path, opts);
  const h = parsed.header;
  const t0 = performance.now();
  const r = await replayTrace(parsed, (hooks) => Core.create(h.build as Build, h.caps as never, h.config, hooks), opts);
  return { ...r, header: h, ms: performance.now() - t0, bytes: bytes.length };
}

/**
 * Reads and parses a trace file for a replay: refuses an unknown build, and (unless `force`) a
 * trace recorded with another core than this build's (compared by the shared-memory core's hash,
 * which other cores of the same source, such as the component, replay alongside).
 */
export async function openTrace(path: string, opts: { force?: boolean } = {}): Promise<{ parsed: { header: TraceHeader; records: TraceRecord[] }; bytes: Uint8Array }> {
  const fs = await import("node:fs");
  let bytes: Uint8Array;
  try { bytes = fs.readFileSync(path); }
  catch (err) { throw permissionError(err, `read the trace ${path}`) ?? new ReactorError("ERR_TRACE", `wasm-reactor: cannot read the trace ${path}: ${(err as Error).message}`); }
  const parsed = readTrace(bytes, path);
  const h = parsed.header;
  if (!["release", "debug", "broken"].includes(h.build)) throw new TraceFormatError(`wasm-reactor: ${path} names an unknown core build ${JSON.stringify(h.build)}`, 16);
  const local = await coreHash(await coreBytes(h.build as Build));
  if (local !== h.coreHash && !opts.force) {
    throw new ReactorError("ERR_TRACE", `wasm-reactor: ${path} was recorded with a different ${h.build} core (sha256 ${h.coreHash.slice(0, 12)}…, this one is ${local.slice(0, 12)}…); replaying it here proves nothing (--force to try anyway)`);
  }
  return { parsed, bytes };
}
