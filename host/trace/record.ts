// Writing traces: the Recorder wraps a core's WASI hooks and its state-changing exports and
// writes what the core read and was called with (format.ts has the format).
import type { Core } from "../core/core.ts";
import type { WasiHooks } from "../../shims/wasi.ts";
import { EventRec_BYTES } from "../core/layout.ts";
import { ReactorError, permissionError } from "../errors.ts";
import {
  TRACE_MAGIC, TRACE_VERSION, T_CALL, T_INPUT, T_TURN, T_INIT, RECORDED, FLUSH, OutputHasher, type TraceHeader,
  W_EVENT_TAIL, W_SUBMIT_HEAD, W_SUPPLY_HEAD, W_NOTE_HEAD, W_TURN,
} from "./format.ts";

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
    catch (err) { throw permissionError(err, `write the trace file ${opts.path}`) ?? new ReactorError("ERR_INVALID_OPTION", `wasm-reactor: cannot open the trace file ${opts.path}: ${(err as Error).message}`); }
  }

  /** The WASI hooks, recording what the core reads. */
  wrapHooks(inner: WasiHooks): WasiHooks {
    return {
      clockNs: () => { const v = inner.clockNs(); this.clocks.push(v); return v; },
      random: (view) => { inner.random(view); for (const b of view) this.rands.push(b); },
      log: inner.log,
    };
  }

  /** Writes the header (naming the core's layout) and INIT, and wraps the core's recorded exports. */
  attach(core: Core, header: Omit<TraceHeader, "layoutVersion">): void {
    this.core = core;
    const { coreHash, build, ...rest } = header;
    const full: TraceHeader = { coreHash, build, layoutVersion: core.header("version"), ...rest };
    const json = new TextEncoder().encode(JSON.stringify(full));
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
    const cap = c.caps.eventCap;
    let from = cur[0], left = n;
    while (left > 0) {
      const run = Math.min(left, cap - (from & (cap - 1)));
      const p = c.eventOffset(from);
      b.bytes(c.u8.subarray(p, p + run * EventRec_BYTES));
      left -= run; from = (from + run) >>> 0;
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

/** The raw Wasm export behind a (possibly wrapped) core function, for its arity. */
function raw(core: Core, name: string): { length: number } {
  const f = (core as unknown as { rawExports?: Record<string, { length: number }> }).rawExports?.[name];
  if (!f) throw new Error(`wasm-reactor: the core has no export ${name}`);
  return f;
}
