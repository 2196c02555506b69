// Record and replay: a trace holds exactly the inputs the core saw, so a fresh core can run
// them again without the app or the network and must produce the same outputs, turn by turn.
//
// The core's inputs are (docs/architecture.md, "Determinism"): the calls into it (ingest,
// flush, the app's commands, and live setting changes: configSet) with their arguments; what the host and the app wrote into its
// memory between calls (event records, and the ring cursors the core does not own: eventTail,
// submitHead, supplyHead, noteHead); and the clock and random values it read through WASI.
// Payload bytes are not inputs: the core never reads them, so a trace does not hold them.
//
// File format (little-endian), version 3:
//   magic "WRTRACE\0" (8 bytes) · u32 format version · u32 header length · header (UTF-8 JSON:
//   core hash, build, layout version, capacities, config, host, time) · records, each u8 tag ·
//   u32 length · body:
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
//
// This file: the format's constants, the header, and what both sides compute the same way (the
// hash of a turn's outputs, the readable diff). record.ts writes traces, replay.ts reads them.
import { type Core, headerWord } from "../core/core.ts";
import {
  SubmitRec_BYTES, NoteRec_BYTES, submitOp, submitFlags, submitSlot, submitGen, submitFd, submitA, submitB, noteKind, noteErr, noteSlot, noteGen, noteA,
} from "../core/layout.ts";

export const TRACE_MAGIC = "WRTRACE\0";
/** 3: the header names the memory layout (layoutVersion). 2 did not: such traces are refused. */
export const TRACE_VERSION = 3;
export const T_CALL = 1, T_INPUT = 2, T_TURN = 3, T_INIT = 4;

/** The core functions whose calls change its state: what a trace records and a replay calls. */
export const RECORDED = [
  "ingest", "flush", "listenerOpen", "connectOpen", "appAcquire", "appRelease", "writeTail", "writeExtend",
  "writeQueue", "end", "close", "pause", "resume", "holdFin", "closeAll", "timerArm", "timerCancel",
  "appKeep", // appended: a call's index is its number in a trace
  "configSet", // a live setting changed between turns (host/ops/tuning.ts): an input like any call
  "proxyHeader", // the PROXY header parser's verdict (host/reactor/proxy.ts): counted, and a refusal resets
] as const;
export const FLUSH = RECORDED.indexOf("flush");

export interface TraceHeader {
  coreHash: string;
  build: string;
  /** The core's memory layout (LAYOUT_VERSION, a hash of it): event records are stored raw, so a trace replays only under the same layout. */
  layoutVersion: number;
  caps: Record<string, number>;
  config: Record<string, number>;
  host: string;
  createdAt: string;
}

const W = headerWord;
export const W_EVENT_TAIL = W("eventTail"), W_SUBMIT_HEAD = W("submitHead"), W_SUPPLY_HEAD = W("supplyHead"), W_NOTE_HEAD = W("noteHead");
export const W_SUBMIT_TAIL = W("submitTail"), W_NOTE_TAIL = W("noteTail"), W_TURN = W("turn");
/** What flush publishes for the host, folded into the turn's hash, in this order. */
export const PUBLISHED = ["nextDeadlineMs", "hostFlags", "acceptBudget", "readsPerConn"] as const;
const W_PUBLISHED = PUBLISHED.map((f) => W(f));

/** FNV-1a taken a 32-bit word at a time (not byte-wise FNV: four times cheaper, as good here). */
function fnv(h: number, w: number): number { return Math.imul(h ^ w, 0x01000193) >>> 0; }

/**
 * Folds what the core produced since the last call into `h`: the function, its result, the new
 * submissions and notes, and after flush the words it published. afterCall reads them from the
 * shared memory; afterOutputs takes them as words (the component returns them as lists).
 */
export class OutputHasher {
  private submitTail = 0;
  private noteTail = 0;
  h = 0x811c9dc5;
  /** With `keep`: this turn's output records as words (6 per submission, 4 per note), for a readable diff. */
  subs: number[] = [];
  notes: number[] = [];
  /** `core`: the shared-memory core afterCall reads (none when outputs arrive as words). */
  constructor(private readonly core: Core | undefined, private readonly keep = false) {
    if (core) { this.submitTail = core.u32[W_SUBMIT_TAIL]; this.noteTail = core.u32[W_NOTE_TAIL]; }
  }
  afterCall(fn: number, ret: number): void {
    if (!this.core) throw new Error("wasm-reactor: OutputHasher.afterCall needs the shared-memory core it was made with");
    const u32 = this.core.u32, c = this.core;
    let h = fnv(this.h, fn);
    h = fnv(h, ret | 0);
    for (let t = this.submitTail; t !== u32[W_SUBMIT_TAIL]; t = (t + 1) >>> 0) {
      const p = c.submitOffset(t) >> 2;
      for (let k = 0; k < SubmitRec_BYTES / 4; k++) { h = fnv(h, u32[p + k]); if (this.keep) this.subs.push(u32[p + k]); }
    }
    for (let t = this.noteTail; t !== u32[W_NOTE_TAIL]; t = (t + 1) >>> 0) {
      const p = c.noteOffset(t) >> 2;
      for (let k = 0; k < NoteRec_BYTES / 4; k++) { h = fnv(h, u32[p + k]); if (this.keep) this.notes.push(u32[p + k]); }
    }
    this.submitTail = u32[W_SUBMIT_TAIL];
    this.noteTail = u32[W_NOTE_TAIL];
    if (fn === FLUSH) for (const w of W_PUBLISHED) h = fnv(h, u32[w]);
    this.h = h;
  }
  /** The same fold as afterCall, over outputs given as words (`published` in PUBLISHED's order). */
  afterOutputs(fn: number, ret: number, subs: ArrayLike<number>, notes: ArrayLike<number>, published: ArrayLike<number>): void {
    let h = fnv(this.h, fn);
    h = fnv(h, ret | 0);
    for (let k = 0; k < subs.length; k++) { h = fnv(h, subs[k]); if (this.keep) this.subs.push(subs[k] >>> 0); }
    for (let k = 0; k < notes.length; k++) { h = fnv(h, notes[k]); if (this.keep) this.notes.push(notes[k] >>> 0); }
    if (fn === FLUSH) for (let k = 0; k < published.length; k++) h = fnv(h, published[k]);
    this.h = h;
  }
  take(): number { const h = this.h; this.h = 0x811c9dc5; return h; }
  takeOutputs(): { subs: number[]; notes: number[] } { const o = { subs: this.subs, notes: this.notes }; this.subs = []; this.notes = []; return o; }
}

const SQ_NAMES = ["?", "INTEREST", "WRITE", "SHUTDOWN", "CLOSE", "CONNECT"];
const NT_NAMES = ["?", "OPEN", "DATA", "END", "DRAIN", "TIMEOUT", "ERROR", "CLOSE", "TIMER", "LISTEN_ERROR"];
/** One output record as a line a person can read. */
function describe(kind: "submit" | "note", words: number[]): string {
  const w = Uint32Array.from(words);
  if (kind === "submit") {
    const op = submitOp(w, 0), flags = submitFlags(w, 0);
    return `submit ${SQ_NAMES[op] ?? op}${flags ? ` flags ${flags}` : ""} slot ${submitSlot(w, 0)} gen ${submitGen(w, 0)} fd ${submitFd(w, 0)} a ${submitA(w, 0) | 0} b ${submitB(w, 0)}`;
  }
  const nk = noteKind(w, 0), err = noteErr(w, 0);
  return `note ${NT_NAMES[nk] ?? nk}${err ? ` err ${err}` : ""} slot ${noteSlot(w, 0)} gen ${noteGen(w, 0)} a ${noteA(w, 0) | 0}`;
}

/** The first difference between two turns' outputs, readably. */
export function outputDiff(want: { subs: number[]; notes: number[] }, got: { subs: number[]; notes: number[] }): string {
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

export function hex(n: number): string { return (n >>> 0).toString(16).padStart(8, "0"); }

/** SHA-256 of the core module's bytes (the trace names the core it was recorded with). */
export async function coreHash(bytes: Uint8Array): Promise<string> {
  const d = await crypto.subtle.digest("SHA-256", bytes as Uint8Array<ArrayBuffer>);
  return [...new Uint8Array(d)].map((b) => b.toString(16).padStart(2, "0")).join("");
}
