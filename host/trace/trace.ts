// Record and replay: a trace holds exactly the inputs the core saw, so a fresh core can run
// them again without the app or the network and must produce the same outputs, turn by turn.
//
// The core's inputs are (docs/architecture.md, "Determinism"): the calls into it (ingest,
// flush, and the app's commands) with their arguments; what the host and the app wrote into its
// memory between calls (event records, and the ring cursors the core does not own: eventTail,
// submitHead, supplyHead, noteHead); and the clock and random values it read through WASI.
// Payload bytes are not inputs: the core never reads them, so a trace does not hold them.
//
// File format (little-endian), version 2:
//   magic "WRTRACE\0" (8 bytes) · u32 format version · u32 header length · header (UTF-8 JSON:
//   core hash, build, capacities, config, host, time) · records, each u8 tag · u32 length · body:
//     INIT  (4)  the clock and random values the core read while it was created
//     INPUT (2)  u8 mask of the cursors that moved (1 eventTail, 2 submitHead, 4 supplyHead,
//                8 noteHead) · their new values (u32 each, in that order) · if eventTail moved,
//                the new event records (24 B each; as many as it moved)
//     CALL  (1)  u8 function (| 0x80 when clock or random values follow) · u8 argc · u32 args ·
//                u32 result · [clock values · random bytes]
//                (every argument and result of the recorded functions is a 32-bit integer)
//     TURN  (3)  u32 turn · u32 hash (FNV-1a over words) of what the turn produced (submissions, notes,
//                results, the budgets and deadline flush published) · with `outputs`: u32 n,
//                n words of submissions, u32 m, m words of notes (for a readable diff)
//   clock values: u16 n · n × i64 ns; random bytes: u16 n · n bytes.
import { Core, coreBytes, headerWord, type Build } from "../core/core.ts";
import type { WasiHooks } from "../../shims/wasi.ts";
import { EventRec_BYTES, SubmitRec_BYTES, NoteRec_BYTES } from "../core/layout.ts";
import { ReactorError } from "../errors.ts";

export const TRACE_MAGIC = "WRTRACE\0";
export const TRACE_VERSION = 2;
export const T_CALL = 1, T_INPUT = 2, T_TURN = 3, T_INIT = 4;

/** The core functions whose calls change its state: what a trace records and a replay calls. */
export const RECORDED = [
  "ingest", "flush", "listenerOpen", "connectOpen", "appAcquire", "appRelease", "writeTail", "writeExtend",
  "writeQueue", "end", "close", "pause", "resume", "holdFin", "closeAll", "timerArm", "timerCancel",
  "appKeep", // appended: a call's index is its number in a trace
] as const;
const FLUSH = RECORDED.indexOf("flush");

export interface TraceHeader {
  coreHash: string;
  build: string;
  caps: Record<string, number>;
  config: Record<string, number>;
  host: string;
  createdAt: string;
}

const W = headerWord;
const W_EVENT_TAIL = W("eventTail"), W_SUBMIT_HEAD = W("submitHead"), W_SUPPLY_HEAD = W("supplyHead"), W_NOTE_HEAD = W("noteHead");
const W_SUBMIT_TAIL = W("submitTail"), W_NOTE_TAIL = W("noteTail"), W_TURN = W("turn");
/** What flush publishes for the host, folded into the turn's hash. */
const W_PUBLISHED = [W("nextDeadlineMs"), W("hostFlags"), W("acceptBudget"), W("readsPerConn")];

/** FNV-1a taken a 32-bit word at a time (not byte-wise FNV: four times cheaper, as good here). */
function fnv(h: number, w: number): number { return Math.imul(h ^ w, 0x01000193) >>> 0; }

/** Folds what the core produced since the last call into `h`: new submissions and notes, and the result. */
class OutputHasher {
  private submitTail = 0;
  private noteTail = 0;
  h = 0x811c9dc5;
  /** With `keep`: this turn's output records as words (6 per submission, 4 per note), for a readable diff. */
  subs: number[] = [];
  notes: number[] = [];
  constructor(private readonly core: Core, private readonly keep = false) { this.submitTail = core.u32[W_SUBMIT_TAIL]; this.noteTail = core.u32[W_NOTE_TAIL]; }
  afterCall(fn: number, ret: number): void {
    const u32 = this.core.u32, c = this.core;
    let h = fnv(this.h, fn);
    h = fnv(h, ret | 0);
    for (let t = this.submitTail; t !== u32[W_SUBMIT_TAIL]; t = (t + 1) >>> 0) {
      const p = (c.regions.submitsOff + (t & (c.caps.submitCap - 1)) * SubmitRec_BYTES) >> 2;
      for (let k = 0; k < SubmitRec_BYTES / 4; k++) { h = fnv(h, u32[p + k]); if (this.keep) this.subs.push(u32[p + k]); }
    }
    for (let t = this.noteTail; t !== u32[W_NOTE_TAIL]; t = (t + 1) >>> 0) {
      const p = (c.regions.notesOff + (t & (c.caps.noteCap - 1)) * NoteRec_BYTES) >> 2;
      for (let k = 0; k < NoteRec_BYTES / 4; k++) { h = fnv(h, u32[p + k]); if (this.keep) this.notes.push(u32[p + k]); }
    }
    this.submitTail = u32[W_SUBMIT_TAIL];
    this.noteTail = u32[W_NOTE_TAIL];
    if (fn === FLUSH) for (const w of W_PUBLISHED) h = fnv(h, u32[w]);
    this.h = h;
  }
  take(): number { const h = this.h; this.h = 0x811c9dc5; return h; }
  takeOutputs(): { subs: number[]; notes: number[] } { const o = { subs: this.subs, notes: this.notes }; this.subs = []; this.notes = []; return o; }
}

const SQ_NAMES = ["?", "INTEREST", "WRITE", "SHUTDOWN", "CLOSE", "CONNECT"];
const NT_NAMES = ["?", "OPEN", "DATA", "END", "DRAIN", "TIMEOUT", "ERROR", "CLOSE", "TIMER", "LISTEN_ERROR"];
/** One output record as a line a person can read. */
function describe(kind: "submit" | "note", w: number[]): string {
  if (kind === "submit") return `submit ${SQ_NAMES[w[0] & 0xff] ?? w[0] & 0xff}${(w[0] >>> 8) & 0xff ? ` flags ${(w[0] >>> 8) & 0xff}` : ""} slot ${w[1]} gen ${w[2]} fd ${w[3] | 0} a ${w[4] | 0} b ${w[5]}`;
  return `note ${NT_NAMES[w[0] & 0xff] ?? w[0] & 0xff}${w[0] >>> 16 ? ` err ${w[0] >>> 16}` : ""} slot ${w[1]} gen ${w[2]} a ${w[3] | 0}`;
}

/** The first difference between two turns' outputs, readably. */
function outputDiff(want: { subs: number[]; notes: number[] }, got: { subs: number[]; notes: number[] }): string {
  for (const [kind, size, a, b] of [["submit", 6, want.subs, got.subs], ["note", 4, want.notes, got.notes]] as const) {
    const n = Math.max(a.length, b.length) / size;
    for (let i = 0; i < n; i++) {
      const x = a.slice(i * size, i * size + size), y = b.slice(i * size, i * size + size);
      if (x.join() === y.join()) continue;
      const rec = (r: number[]) => (r.length ? describe(kind, r) : "nothing");
      return `${kind} #${i + 1} of the turn: recorded ${rec(x)}; replayed ${rec(y)} (recorded ${a.length / size} ${kind}s, replayed ${b.length / size})`;
    }
  }
  return "the same submissions and notes; a result or a published budget differs";
}

/** A growable little-endian byte buffer. */
class Bytes {
  buf = new Uint8Array(1 << 16);
  view = new DataView(this.buf.buffer);
  n = 0;
  private room(k: number): void {
    if (this.n + k <= this.buf.length) return;
    let cap = this.buf.length * 2;
    while (cap < this.n + k) cap *= 2;
    const nb = new Uint8Array(cap);
    nb.set(this.buf.subarray(0, this.n));
    this.buf = nb; this.view = new DataView(nb.buffer);
  }
  u8(v: number): void { this.room(1); this.buf[this.n++] = v; }
  u16(v: number): void { this.room(2); this.view.setUint16(this.n, v, true); this.n += 2; }
  u32(v: number): void { this.room(4); this.view.setUint32(this.n, v >>> 0, true); this.n += 4; }
  f64(v: number): void { this.room(8); this.view.setFloat64(this.n, v, true); this.n += 8; }
  i64(v: bigint): void { this.room(8); this.view.setBigInt64(this.n, v, true); this.n += 8; }
  bytes(b: Uint8Array): void { this.room(b.length); this.buf.set(b, this.n); this.n += b.length; }
}

export interface RecordOptions {
  /** File to write. */
  path: string;
  /** Also keep each turn's submissions and notes, so a divergence shows what differed (bigger traces). */
  outputs?: boolean;
  /** Stop recording (with one log line) past this many bytes (default 256 MiB). */
  maxBytes?: number;
}

/** The file calls a Recorder makes (node:fs in Node, Deno and Bun), typed here so that the public types need no @types/node. */
export interface TraceFiles {
  openSync(path: string, flags: "w"): number;
  writeSync(fd: number, buffer: Uint8Array, offset: number, length: number): number;
  closeSync(fd: number): void;
}

/**
 * Records a core's inputs to a file. Created before the core (it wraps the WASI hooks, so it
 * sees the clock and random values init reads), attached once the core exists.
 */
export class Recorder {
  private readonly fs: TraceFiles;
  private fd = -1;
  private readonly out = new Bytes();
  private written = 0;
  private readonly maxBytes: number;
  private clocks: bigint[] = [];
  private rands: number[] = [];
  private core!: Core;
  private hasher!: OutputHasher;
  private cursors = [0, 0, 0, 0];
  private stopped = false;
  private readonly outputs: boolean;
  readonly path: string;

  constructor(fs: TraceFiles, opts: RecordOptions, private readonly log: (line: string) => void) {
    this.fs = fs;
    this.path = opts.path;
    this.maxBytes = opts.maxBytes ?? 256 * 1024 * 1024;
    this.outputs = opts.outputs === true;
    try { this.fd = fs.openSync(opts.path, "w"); }
    catch (err) { throw new ReactorError("ERR_INVALID_OPTION", `wasm-reactor: cannot open the trace file ${opts.path}: ${(err as Error).message}`); }
  }

  /** The WASI hooks, recording what the core reads. */
  wrapHooks(inner: WasiHooks): WasiHooks {
    return {
      clockNs: () => { const v = inner.clockNs(); this.clocks.push(v); return v; },
      random: (view) => { inner.random(view); for (const b of view) this.rands.push(b); },
      log: inner.log,
    };
  }

  /** Writes the header and INIT, and wraps the core's recorded exports. */
  attach(core: Core, header: TraceHeader): void {
    this.core = core;
    const json = new TextEncoder().encode(JSON.stringify(header));
    const b = this.out;
    for (const ch of TRACE_MAGIC) b.u8(ch.charCodeAt(0));
    b.u32(TRACE_VERSION);
    b.u32(json.length);
    b.bytes(json);
    this.record(T_INIT, () => this.inputsRead());
    this.hasher = new OutputHasher(core, this.outputs);
    const u32 = core.u32;
    this.cursors = [u32[W_EVENT_TAIL], u32[W_SUBMIT_HEAD], u32[W_SUPPLY_HEAD], u32[W_NOTE_HEAD]];
    const ex = core.exports as unknown as Record<string, (...a: number[]) => number>;
    RECORDED.forEach((name, fn) => {
      const orig = ex[name];
      const argc = raw(core, name).length; // the Wasm function's arity: no rest arguments on the write path
      ex[name] = (a0: number, a1: number, a2: number, a3: number, a4: number) => {
        if (this.stopped) return orig(a0, a1, a2, a3, a4);
        this.inputs();
        this.clocks.length = 0; this.rands.length = 0;
        const ret = orig(a0, a1, a2, a3, a4);
        const r = typeof ret === "number" ? ret : ret ? 1 : 0;
        if (!this.begin(T_CALL)) return ret;
        const read = this.clocks.length > 0 || this.rands.length > 0;
        b.u8(read ? fn | 0x80 : fn); b.u8(argc);
        if (argc > 0) b.u32(a0);
        if (argc > 1) b.u32(a1);
        if (argc > 2) b.u32(a2);
        if (argc > 3) b.u32(a3);
        if (argc > 4) b.u32(a4);
        b.u32(r);
        if (read) this.inputsRead();
        this.end();
        this.hasher.afterCall(fn, r);
        if (fn === FLUSH && this.begin(T_TURN)) {
          b.u32(this.core.u32[W_TURN]); b.u32(this.hasher.take()); // flush counted the turn
          if (this.outputs) {
            const o = this.hasher.takeOutputs();
            b.u32(o.subs.length); for (const w of o.subs) b.u32(w);
            b.u32(o.notes.length); for (const w of o.notes) b.u32(w);
          }
          this.end();
        }
        return ret;
      };
    });
    this.flushOut();
  }

  /** INPUT: what the host and the app wrote since the last call, when anything changed. */
  private inputs(): void {
    const u32 = this.core.u32, c = this.core, cur = this.cursors;
    const et = u32[W_EVENT_TAIL], sh = u32[W_SUBMIT_HEAD], sp = u32[W_SUPPLY_HEAD], nh = u32[W_NOTE_HEAD];
    const mask = (et !== cur[0] ? 1 : 0) | (sh !== cur[1] ? 2 : 0) | (sp !== cur[2] ? 4 : 0) | (nh !== cur[3] ? 8 : 0);
    if (mask === 0) return;
    if (!this.begin(T_INPUT)) return;
    const b = this.out;
    b.u8(mask);
    if (mask & 1) b.u32(et);
    if (mask & 2) b.u32(sh);
    if (mask & 4) b.u32(sp);
    if (mask & 8) b.u32(nh);
    const n = (et - cur[0]) >>> 0;
    // The new event records, in at most two runs (the ring may wrap).
    const cap = c.caps.eventCap, base = c.regions.eventsOff;
    let from = cur[0] & (cap - 1), left = n;
    while (left > 0) {
      const run = Math.min(left, cap - from);
      b.bytes(c.u8.subarray(base + from * EventRec_BYTES, base + (from + run) * EventRec_BYTES));
      left -= run; from = 0;
    }
    this.end();
    cur[0] = et; cur[1] = sh; cur[2] = sp; cur[3] = nh;
  }

  private inputsRead(): void {
    const b = this.out;
    b.u16(this.clocks.length);
    for (const v of this.clocks) b.i64(v);
    b.u16(this.rands.length);
    for (const v of this.rands) b.u8(v);
    this.clocks.length = 0; this.rands.length = 0;
  }

  private record(tag: number, body: () => void): void {
    if (!this.begin(tag)) return;
    body();
    this.end();
  }

  private lenAt = 0;
  /** Starts a record (false once recording stopped); end() finishes it. */
  private begin(tag: number): boolean {
    if (this.stopped) return false;
    const b = this.out;
    b.u8(tag);
    this.lenAt = b.n;
    b.u32(0);
    return true;
  }

  private end(): void {
    const b = this.out, lenAt = this.lenAt;
    b.view.setUint32(lenAt, b.n - lenAt - 4, true);
    if (this.written + b.n > this.maxBytes) {
      // The limit: keep every whole record that fits, drop this one, stop.
      b.n = lenAt - 1;
      this.flushOut();
      this.log(`wasm-reactor: the trace ${this.path} reached its limit of ${this.maxBytes} bytes; recording stopped (the trace up to here replays)`);
      this.stopped = true;
      this.stoppedAt = this.core.u32[W_TURN];
      this.close();
      return;
    }
    if (b.n >= 1 << 16) this.flushOut();
  }

  private flushOut(): void {
    if (this.fd < 0 || this.out.n === 0) return;
    this.fs.writeSync(this.fd, this.out.buf, 0, this.out.n);
    this.written += this.out.n;
    this.out.n = 0;
  }

  /** Writes what is buffered and closes the file. */
  close(): void {
    if (this.fd < 0) return;
    this.flushOut();
    this.fs.closeSync(this.fd);
    this.fd = -1;
  }

  get bytesWritten(): number { return this.written + this.out.n; }
  /** Turns recorded: the core's own count since it was created (recording starts with it). */
  get turns(): number { return this.stoppedAt ?? (this.core ? this.core.u32[W_TURN] : 0); }
  private stoppedAt: number | undefined;
}

// ── reading ───────────────────────────────────────────────────────────────────────────────

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
  if (version !== TRACE_VERSION) throw new TraceFormatError(`wasm-reactor: ${name} is trace format version ${version}; this build reads version ${TRACE_VERSION}`, 8);
  const hlen = dv.getUint32(12, true);
  need(16, hlen, "the JSON header");
  let header: TraceHeader;
  try { header = JSON.parse(new TextDecoder("utf-8", { fatal: true }).decode(bytes.subarray(16, 16 + hlen))); }
  catch (err) { throw new TraceFormatError(`wasm-reactor: ${name} has a corrupt header at byte 16: ${(err as Error).message}`, 16); }
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

export interface ReplayResult {
  identical: boolean;
  /** With checkInvariants: the first turn after which the core's audit failed, and its code. */
  broken?: { turn: number; invariant: number };
  turns: number;
  calls: number;
  /** The first turn whose outputs differ, with what differed. */
  divergence?: { turn: number; offset: number; what: string };
  core: Core;
}

/**
 * Replays records on a fresh core (made by `makeCore` with the given hooks). Stops at the first
 * difference, or after `untilTurn` turns.
 */
export async function replayTrace(parsed: { header: TraceHeader; records: TraceRecord[] },
  makeCore: (hooks: WasiHooks) => Promise<Core>, opts: { untilTurn?: number; checkInvariants?: boolean; log?: (l: string) => void } = {}): Promise<ReplayResult> {
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
  const withOutputs = records.some((r) => r.tag === T_TURN && r.body.byteLength > 8);
  const hasher = new OutputHasher(core, withOutputs);
  const ex = core.exports as unknown as Record<string, (...a: number[]) => number>;
  const u32 = core.u32;
  let turns = 0, calls = 0;
  let broken: ReplayResult["broken"];
  for (let i = 1; i < records.length; i++) {
    const { tag, body, offset } = records[i];
    if (tag === T_INPUT) {
      const mask = body.getUint8(0);
      let at = 1;
      const next = (w: number) => { if (mask & w) { const v = body.getUint32(at, true); at += 4; return v; } return undefined; };
      const et = next(1), sh = next(2), sp = next(4), nh = next(8);
      if (et !== undefined) {
        const n = (et - u32[W_EVENT_TAIL]) >>> 0;
        if (at + n * EventRec_BYTES > body.byteLength) throw new TraceFormatError(`wasm-reactor: the trace is corrupt at byte ${offset}: ${n} events announced, ${Math.floor((body.byteLength - at) / EventRec_BYTES)} present`, offset);
        let t = u32[W_EVENT_TAIL];
        for (let k = 0; k < n; k++, t = (t + 1) >>> 0) {
          const p = core.regions.eventsOff + (t & (core.caps.eventCap - 1)) * EventRec_BYTES;
          for (let j = 0; j < EventRec_BYTES; j++) core.u8[p + j] = body.getUint8(at + k * EventRec_BYTES + j);
        }
        u32[W_EVENT_TAIL] = et;
      }
      if (sh !== undefined) u32[W_SUBMIT_HEAD] = sh;
      if (sp !== undefined) u32[W_SUPPLY_HEAD] = sp;
      if (nh !== undefined) u32[W_NOTE_HEAD] = nh;
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
      const raw = ex[name](...args);
      const got = typeof raw === "number" ? raw : raw ? 1 : 0;
      calls++;
      if ((got | 0) !== (want | 0)) {
        return { identical: false, turns, calls, core, divergence: { turn: turns + 1, offset, what: `${name}(${args.join(", ")}) returned ${got}; the recorded run got ${want}` } };
      }
      if (clocks.length || rands.length) {
        return { identical: false, turns, calls, core, divergence: { turn: turns + 1, offset, what: `${name}() read the clock or random source fewer times than recorded` } };
      }
      hasher.afterCall(fn, got);
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
      if (opts.checkInvariants && !broken) {
        const inv = core.exports.checkInvariants();
        if (inv !== 0) broken = { turn, invariant: inv };
      }
      if (opts.untilTurn !== undefined && turn >= opts.untilTurn) break;
    } else if (tag === T_INIT) {
      throw new TraceFormatError(`wasm-reactor: the trace is corrupt at byte ${offset}: a second INIT record`, offset);
    }
  }
  return { identical: true, turns, calls, core, broken };
}

/** The raw Wasm export behind a (possibly wrapped) core function, for its arity. */
function raw(core: Core, name: string): { length: number } {
  const f = (core as unknown as { rawExports?: Record<string, { length: number }> }).rawExports?.[name];
  if (!f) throw new Error(`wasm-reactor: the core has no export ${name}`);
  return f;
}

export function hex(n: number): string { return (n >>> 0).toString(16).padStart(8, "0"); }

/** SHA-256 of the core module's bytes (the trace names the core it was recorded with). */
export async function coreHash(bytes: Uint8Array): Promise<string> {
  const d = await crypto.subtle.digest("SHA-256", bytes as Uint8Array<ArrayBuffer>);
  return [...new Uint8Array(d)].map((b) => b.toString(16).padStart(2, "0")).join("");
}

export interface ReplayFileResult extends ReplayResult { header: TraceHeader; ms: number; bytes: number }

/**
 * Reads a trace file and replays it on a fresh core of the build it names. Refuses a trace
 * recorded with a different core unless `force` (it would diverge, or worse, not say why).
 */
export async function replayFile(path: string, opts: { untilTurn?: number; force?: boolean; checkInvariants?: boolean; log?: (l: string) => void } = {}): Promise<ReplayFileResult> {
  const fs = await import("node:fs");
  let bytes: Uint8Array;
  try { bytes = fs.readFileSync(path); }
  catch (err) { throw new ReactorError("ERR_TRACE", `wasm-reactor: cannot read the trace ${path}: ${(err as Error).message}`); }
  const parsed = readTrace(bytes, path);
  const h = parsed.header;
  if (!["release", "debug", "broken"].includes(h.build)) throw new TraceFormatError(`wasm-reactor: ${path} names an unknown core build ${JSON.stringify(h.build)}`, 16);
  const local = await coreHash(await coreBytes(h.build as Build));
  if (local !== h.coreHash && !opts.force) {
    throw new ReactorError("ERR_TRACE", `wasm-reactor: ${path} was recorded with a different ${h.build} core (sha256 ${h.coreHash.slice(0, 12)}…, this one is ${local.slice(0, 12)}…); replaying it here proves nothing (--force to try anyway)`);
  }
  const t0 = performance.now();
  const r = await replayTrace(parsed, (hooks) => Core.create(h.build as Build, h.caps as never, h.config, hooks), opts);
  return { ...r, header: h, ms: performance.now() - t0, bytes: bytes.length };
}
