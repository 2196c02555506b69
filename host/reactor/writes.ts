// The write path: what conn.write() does with the app's bytes.
//
//   - a chunk lent by a `data` callback (or a range of one) goes back out as it is: no copy;
//   - anything else (a buffer the app owns, a string) is copied into pool chunks: first into
//     the free tail of the connection's last queued chunk, then into fresh chunks;
//   - when the pool is dry, the rest waits beside it, in order, in `overflow` (one entry per
//     connection); write() says "wait for drain", and the connection's FIN is held until those
//     bytes are queued. Each turn, drainOverflow() moves what now fits into the pool.
import { K } from "../core/core.ts";
import type { Connection } from "./connection.ts";
import type { Reactor } from "./reactor.ts";
import { ReactorError } from "../errors.ts";
import { Kept, chunkOf } from "./keep.ts";

interface Overflow { gen: number; parts: Uint8Array[]; bytes: number; wantDrain: boolean }

const encoder = new TextEncoder();

export class WritePath {
  private readonly r: Reactor;
  private readonly overflow = new Map<number, Overflow>();

  constructor(r: Reactor) { this.r = r; }

  /** conn.write(): queues bytes; false when the caller should wait for `drain`. */
  write(conn: Connection, data: Uint8Array | string | Kept): boolean {
    const r = this.r, core = r.core;
    // The echo's path, one call into the core: the very view a data callback was handed, written
    // back whole while nothing waits in the overflow (so no FIN is held: the core refuses a write
    // after end() by itself) and its chunk is not kept. The core answers R_BAD_CHUNK for a chunk
    // that is no longer lent (written already): then the bytes are copied, as below.
    if (data === core.lastView && data.length !== 0 && this.overflow.size === 0 && !r.kept.holds(core.lastViewChunk)) {
      const q = core.exports.writeQueue(conn.slot, conn.gen, core.lastViewChunk, core.lastViewStart, data.length);
      if (q !== K.R_BAD_CHUNK) { r.command(conn, q, "write"); return q === 0; }
    }
    r.poke();
    if (data instanceof Kept) return this.writeKept(conn, data);
    const bytes = typeof data === "string" ? encoder.encode(data) : data;
    if (!(bytes instanceof Uint8Array)) throw new ReactorError("ERR_INVALID_OPTION", `wasm-reactor: write() takes a Uint8Array or a string, got ${data === null ? "null" : typeof data}`);
    const e = core.exports, slot = conn.slot, gen = conn.gen;
    if (bytes.length === 0) { r.command(conn, e.queuedBytesOf(slot, gen) >= 0 ? 0 : K.R_STALE, "write"); return true; }
    // After end() the core still takes the bytes that waited beside a dry pool, but not new ones.
    if (e.stateOf(slot) === K.ST_CLOSING && e.genOf(slot) === gen) r.command(conn, K.R_ENDED, "write");
    const ov = this.overflow.size ? this.overflow.get(slot) : undefined;
    if (ov && ov.gen === gen) { // keep order: behind what already waits
      const check = e.queuedBytesOf(slot, gen);
      if (check < 0) r.command(conn, check, "write");
      ov.parts.push(bytes.slice()); ov.bytes += bytes.length; ov.wantDrain = true;
      return false;
    }
    // Zero copy: bytes lent to the app by a data callback go back out as they are (chunkOf knows
    // the view the last callback was handed by identity).
    const at = chunkOf(core, bytes);
    if (at && e.chunkState(at.c) === K.CH_LENT) {
      const q = e.writeQueue(slot, gen, at.c, at.start, bytes.length);
      r.command(conn, q, "write");
      return q === 0;
    }
    return this.copyIn(conn, bytes, 0);
  }

  /**
   * conn.write(kept): the kept chunk joins the queue as it is when this handle is its only one;
   * a shared chunk's bytes are copied (the other handles still read them), and so are bytes
   * that must wait in order behind the overflow or are refused (after end()).
   */
  private writeKept(conn: Connection, k: Kept): boolean {
    const r = this.r, e = r.core.exports, slot = conn.slot, gen = conn.gen;
    const bytes = k.bytes; // throws if the handle is spent
    const ov = this.overflow.size ? this.overflow.get(slot) : undefined;
    const closing = e.genOf(slot) === gen && e.stateOf(slot) === K.ST_CLOSING;
    if (closing || (ov && ov.gen === gen) || !r.kept.handOver(k)) {
      try { return this.write(conn, bytes); } finally { k.release(); } // a view into an APP chunk: copied
    }
    const q = e.writeQueue(slot, gen, k.held.c, k.start, k.length); // on a refusal the core releases the chunk
    r.command(conn, q, "write");
    return q === 0;
  }

  /**
   * Copies bytes[from..] into pool chunks; what does not fit waits in `overflow` (and FIN waits
   * for it). Returns whether the caller may go on writing; a refused write throws, unless
   * `quiet` (draining the overflow inside a turn), which returns false and drops the bytes of a
   * connection that is gone.
   */
  private copyIn(conn: Connection, bytes: Uint8Array, from: number, quiet = false): boolean {
    const r = this.r, core = r.core, e = core.exports, slot = conn.slot, gen = conn.gen;
    const size = core.chunkSize;
    let off = from;
    let q = 0;
    while (off < bytes.length) {
      const t = e.writeTail(slot, gen);
      if (t !== K.NONE) {
        const start = core.chunkMeta(t, "start"), len = core.chunkMeta(t, "len");
        const n = Math.min(size - start - len, bytes.length - off);
        core.u8.set(bytes.subarray(off, off + n), core.chunkDataOffset(t) + start + len);
        q = e.writeExtend(slot, gen, t, n);
        if (q < 0) { if (quiet) return false; r.command(conn, q, "write"); }
        off += n;
        continue;
      }
      const c = e.appAcquire();
      if (c === K.NONE) {
        // The pool is dry: keep the rest beside it, in order, say "wait for drain", and hold
        // the connection's FIN until these bytes are in the queue.
        const check = e.queuedBytesOf(slot, gen);
        if (check < 0) { if (quiet) return false; r.command(conn, check, "write"); }
        this.overflow.set(slot, { gen, parts: [bytes.slice(off)], bytes: bytes.length - off, wantDrain: true });
        e.holdFin(slot, gen, 1);
        return false;
      }
      const n = Math.min(size, bytes.length - off);
      core.u8.set(bytes.subarray(off, off + n), core.chunkDataOffset(c));
      q = e.writeQueue(slot, gen, c, 0, n);
      if (q < 0) { if (quiet) return false; r.command(conn, q, "write"); }
      off += n;
    }
    return q === 0;
  }

  /** Each turn, before flush: moves what waited beside a dry pool into chunks that are free now. */
  drainOverflow(): void {
    if (this.overflow.size === 0) return;
    const r = this.r, e = r.core.exports;
    for (const [slot, ov] of [...this.overflow]) { // a snapshot: copyIn may put a slot back
      this.overflow.delete(slot);
      if (e.genOf(slot) !== ov.gen || e.queuedBytesOf(slot, ov.gen) < 0) continue; // gone: its bytes go with it
      const conn = r.handle(slot, ov.gen);
      let ok = true;
      while (ov.parts.length) {
        const part = ov.parts.shift()!;
        ov.bytes -= part.length;
        ok = this.copyIn(conn, part, 0, true);
        const again = this.overflow.get(slot);
        if (again) { again.parts.push(...ov.parts); again.bytes += ov.bytes; again.wantDrain = true; break; }
      }
      if (this.overflow.has(slot)) continue;
      e.holdFin(slot, ov.gen, 0); // all of it is queued: a pending end() may send its FIN
      // If the queue is already low, drain is due from us.
      if (ok && ov.wantDrain && e.stateOf(slot) !== K.ST_CLOSING) r.notes.call(slot, ov.gen, "drain");
    }
  }

  /** Whether bytes wait beside the pool for this slot (its drain is then ours to send). */
  waiting(slot: number): boolean { return this.overflow.size !== 0 && this.overflow.has(slot); }
  /** close()/reset(): what waits is dropped with the queue. */
  drop(slot: number): void { this.overflow.delete(slot); }
  /** The connection (slot, gen) closed: forget what waited for it. */
  closed(slot: number, gen: number): void { const ov = this.overflow.get(slot); if (ov && ov.gen === gen) this.overflow.delete(slot); }
  queuedBytes(conn: Connection): number {
    const q = this.r.core.exports.queuedBytesOf(conn.slot, conn.gen);
    if (q < 0) return 0;
    const ov = this.overflow.get(conn.slot);
    return q + (ov && ov.gen === conn.gen ? ov.bytes : 0);
  }
  /** Bytes waiting beside the pool, over all connections (metrics). */
  bytes(): number { let n = 0; for (const ov of this.overflow.values()) n += ov.bytes; return n; }
}
