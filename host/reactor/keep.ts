// Chunks the app keeps past a data callback: zero-copy accumulation (docs/api.md).
//
// A `data` callback gets a view into a pool chunk that is lent for the call (CH_LENT): the
// core takes it back at the turn's flush. conn.keep(data) asks the core to hand that chunk to
// the app instead (appKeep: LENT → APP) and returns a Kept handle on those bytes. Several
// handles may share one chunk (keep() of two parts of one `data`, or kept.subarray()): the
// chunk goes back to the pool when the last of them is released. A handle ends with:
//   kept.release()      its share of the chunk is dropped (the last one frees the chunk);
//   conn.write(kept)    its bytes are queued, on any connection (a proxy forwards what it
//                       kept): the chunk itself joins the queue when this handle is its only
//                       one (writeQueue: APP → QUEUED, no copy), else the bytes are copied;
//   the close of the connection that kept the chunk (after its close handler ran): every
//                       handle on it ends, so a forgotten handle cannot hold pool memory
//                       longer than its connection lives.
//
// Limits, because every kept chunk is a whole chunk that no read can use meanwhile: at most
// `keepChunksPerConnection` chunks per connection, and none while fewer than twice the pool's
// reserve are free (where paused reads resume; the core refuses with R_POOL_LOW). keep() then
// returns undefined: copy instead (`data.slice()`).
import type { Core } from "../core/core.ts";
import { K } from "../core/core.ts";
import { ReactorError } from "../errors.ts";
import type { Connection } from "./connection.ts";

/** The pool chunk `bytes` lies in (wholly), and where in it; undefined for other memory. */
export function chunkOf(core: Core, bytes: Uint8Array): { c: number; start: number } | undefined {
  if (bytes === core.lastView) return { c: core.lastViewChunk, start: core.lastViewStart };
  if (bytes.buffer !== core.memory.buffer) return undefined;
  const rel = bytes.byteOffset - core.regions.chunkDataOff;
  if (rel < 0) return undefined;
  const c = Math.floor(rel / core.chunkSize);
  const start = rel - c * core.chunkSize;
  if (c >= core.caps.chunkCount || start + bytes.length > core.chunkSize) return undefined;
  return { c, start };
}

/** One kept chunk: how many handles share it, and the connection that kept it. */
interface Held { c: number; refs: number; gone: boolean; slot: number; gen: number }

const released = () => new ReactorError("ERR_KEPT_RELEASED", "wasm-reactor: these kept bytes were released (by release(), write(), or the close of the connection that kept them)");

/** Bytes kept past their data callback, without a copy. See conn.keep(). */
export class Kept {
  private readonly home: KeptChunks;
  private readonly view: Uint8Array;
  private spent = false;
  /** @internal */ readonly held: Held;
  /** @internal */ readonly start: number;

  /** @internal */
  constructor(home: KeptChunks, held: Held, view: Uint8Array, start: number) {
    this.home = home; this.held = held; this.view = view; this.start = start;
  }

  /** Whether the bytes are still held (not released, written, or closed with their connection). */
  get live(): boolean { return !this.spent && !this.held.gone; }
  get length(): number { return this.view.length; }

  /** The kept bytes, in pool memory: valid while `live`. Do not hold on to the view past that. */
  get bytes(): Uint8Array { if (!this.live) throw released(); return this.view; }

  /** Another handle on part of these bytes (same chunk, no copy); this one stays. */
  subarray(begin: number, end?: number): Kept {
    if (!this.live) throw released();
    const v = this.view.subarray(begin, end);
    this.held.refs++;
    return new Kept(this.home, this.held, v, this.start + (v.byteOffset - this.view.byteOffset));
  }

  /** Drops this handle; the chunk goes back to the pool with its last handle. A second call does nothing. */
  release(): void { if (this.live) this.home.drop(this); }

  /** @internal */ markSpent(): void { this.spent = true; }
}

/** Every kept chunk of a reactor, by chunk and by the connection that kept it. */
export class KeptChunks {
  private readonly core: Core;
  private readonly perConnectionMax: number;
  /** A chunk came back to the pool between turns: a host waiting on another thread may read again. */
  private readonly poke: () => void;
  private readonly byChunk = new Map<number, Held>();
  private readonly bySlot = new Map<number, { gen: number; chunks: Set<Held> }>();

  constructor(core: Core, perConnectionMax: number, poke: () => void) {
    this.core = core; this.perConnectionMax = perConnectionMax; this.poke = poke;
  }

  /** Whether chunk c is kept (an APP chunk some handle reads): write() must not queue it as lent. */
  holds(c: number): boolean { return this.byChunk.size !== 0 && this.byChunk.has(c); }

  /** conn.keep(data): a handle on data's bytes, or undefined when they cannot be kept (then copy). */
  keep(conn: Connection, data: Uint8Array): Kept | undefined {
    if (!(data instanceof Uint8Array)) throw new ReactorError("ERR_INVALID_OPTION", `wasm-reactor: keep() takes the Uint8Array a data callback received (or part of it), got ${data === null ? "null" : typeof data}`);
    const at = data.length > 0 ? chunkOf(this.core, data) : undefined;
    if (!at) return undefined;
    let held = this.byChunk.get(at.c);
    if (held) { held.refs++; return new Kept(this, held, data, at.start); } // a second part of a kept chunk
    if (this.core.exports.chunkState(at.c) !== K.CH_LENT || !conn.live) return undefined; // not lent now (written already)
    let mine = this.bySlot.get(conn.slot);
    if (mine && mine.gen !== conn.gen) mine = undefined;
    if ((mine?.chunks.size ?? 0) >= this.perConnectionMax) return undefined;
    if (this.core.exports.appKeep(at.c) !== K.R_OK) return undefined; // the pool is low
    held = { c: at.c, refs: 1, gone: false, slot: conn.slot, gen: conn.gen };
    this.byChunk.set(at.c, held);
    if (!mine) { mine = { gen: conn.gen, chunks: new Set() }; this.bySlot.set(conn.slot, mine); }
    mine.chunks.add(held);
    return new Kept(this, held, data, at.start);
  }

  /** Chunks (slot, gen) keeps now. */
  count(slot: number, gen: number): number { const m = this.bySlot.get(slot); return m && m.gen === gen ? m.chunks.size : 0; }

  /**
   * conn.write(kept): when k is its chunk's only handle, the chunk is handed to the caller (an
   * APP chunk to queue or release) and true is returned; else false (copy k.bytes, then release k).
   */
  handOver(k: Kept): boolean {
    if (!k.live) throw released();
    if (k.held.refs !== 1) return false;
    k.markSpent();
    this.forget(k.held);
    return true;
  }

  drop(k: Kept): void {
    k.markSpent();
    const held = k.held;
    if (--held.refs > 0 || held.gone) return;
    this.forget(held);
    this.core.exports.appRelease(held.c);
    this.poke();
  }

  /** The connection (slot, gen) closed (its close handler has run): the chunks it kept go back. */
  closed(slot: number, gen: number): void {
    const m = this.bySlot.get(slot);
    if (!m || m.gen !== gen) return;
    for (const held of m.chunks) { held.gone = true; this.byChunk.delete(held.c); this.core.exports.appRelease(held.c); }
    this.bySlot.delete(slot);
  }

  private forget(held: Held): void {
    held.gone = true;
    this.byChunk.delete(held.c);
    const m = this.bySlot.get(held.slot);
    if (!m || m.gen !== held.gen) return;
    m.chunks.delete(held);
    if (m.chunks.size === 0) this.bySlot.delete(held.slot);
  }
}
