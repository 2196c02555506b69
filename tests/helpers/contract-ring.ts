// The contract suite's stand-in for the core: it owns the rings of a real Core's memory (made by
// Core.create, never run after init) and writes what the core would write — submission records,
// supply chunks, chunk metadata, the per-turn budgets in the header — and reads the event ring
// the host fills. Every record passes through the few functions here (the test's one copy of
// the record formats, from the generated layout; helper C's generated pack/unpack helpers can
// replace them in one place).
//
// It also checks, on every read, what a host must never do to the rings: post more events than
// fit (tail - head > eventCap), report a chunk it was not supplied, or report one twice.
import type { Core } from "../../host/core/core.ts";
import { K, Header, ChunkMeta, ChunkMeta_BYTES, LAYOUT_BASE, writeSubmit, eventType, eventErr, eventSlot, eventGen, eventFd, eventA, eventB } from "../../host/core/layout.ts";

/** One event as the host posted it; EV_READ events carry a copy of the bytes read. */
export interface Ev {
  type: number; err: number; slot: number; gen: number; fd: number; a: number; b: number;
  data?: Uint8Array;
}

const EV_NAMES: Record<number, string> = {
  [K.EV_ACCEPTED]: "ACCEPTED", [K.EV_ACCEPT_ERROR]: "ACCEPT_ERROR", [K.EV_READ]: "READ", [K.EV_READ_ERROR]: "READ_ERROR",
  [K.EV_WRITE_DONE]: "WRITE_DONE", [K.EV_WRITABLE]: "WRITABLE", [K.EV_CONNECTED]: "CONNECTED",
  [K.EV_CONNECT_FAILED]: "CONNECT_FAILED", [K.EV_SOCKET_OPENED]: "SOCKET_OPENED",
};
/** "READ(slot 3 gen 7 fd 12 a 5 b 100 err 0)", for messages. */
export function evText(e: Ev): string {
  return `${EV_NAMES[e.type] ?? `type ${e.type}`}(slot ${e.slot === K.NONE ? "NONE" : e.slot} gen ${e.gen} fd ${e.fd} a ${e.a === K.NONE ? "NONE" : e.a} b ${e.b} err ${e.err})`;
}
export function evsText(evs: Ev[]): string { return evs.length ? evs.map(evText).join(", ") : "(none)"; }

const word = (f: keyof typeof Header) => (LAYOUT_BASE + Header[f]) >> 2;
const W = {
  eventHead: word("eventHead"), eventTail: word("eventTail"), submitHead: word("submitHead"), submitTail: word("submitTail"),
  supplyHead: word("supplyHead"), supplyTail: word("supplyTail"), acceptBudget: word("acceptBudget"),
  readsPerConn: word("readsPerConn"), hostFlags: word("hostFlags"),
};

export interface Budgets { acceptBudget: number; readsPerConn: number; hostFlags: number }

export class RingDriver {
  readonly core: Core;
  readonly chunkSize: number;
  readonly chunkCount: number;
  /** Chunks the test holds (not in the supply ring, not lent to the host). */
  private readonly free: number[] = [];
  /** Chunks put in the supply ring and not yet reported by an EV_READ. */
  private readonly supplied = new Set<number>();
  private readonly u32: Uint32Array;

  constructor(core: Core) {
    this.core = core;
    this.u32 = core.u32;
    this.chunkSize = core.chunkSize;
    this.chunkCount = core.caps.chunkCount;
    // Take the rings over from the core as init left them: empty, every chunk ours.
    const u = this.u32;
    u[W.eventHead] = u[W.eventTail];
    u[W.submitTail] = u[W.submitHead];
    u[W.supplyTail] = u[W.supplyHead];
    for (let c = this.chunkCount - 1; c >= 0; c--) this.free.push(c);
    this.budgets({ acceptBudget: 64, readsPerConn: 4, hostFlags: 0 });
  }

  // ── header ──────────────────────────────────────────────────────────────────────────
  budgets(b: Partial<Budgets>): void {
    if (b.acceptBudget !== undefined) this.u32[W.acceptBudget] = b.acceptBudget;
    if (b.readsPerConn !== undefined) this.u32[W.readsPerConn] = b.readsPerConn;
    if (b.hostFlags !== undefined) this.u32[W.hostFlags] = b.hostFlags;
  }
  get eventCap(): number { return this.core.caps.eventCap; }

  // ── submissions ─────────────────────────────────────────────────────────────────────
  /** Appends one submission record, as the core's flush does. */
  submit(op: number, flags: number, slot: number, gen: number, fd: number, a: number, b: number): void {
    const u = this.u32, cap = this.core.caps.submitCap;
    const tail = u[W.submitTail];
    if (((tail - u[W.submitHead]) >>> 0) >= cap) throw new Error(`contract ring: the submission ring is full (${cap})`);
    writeSubmit(u, this.core.submitOffset(tail), op, flags, slot, gen, fd, a, b);
    u[W.submitTail] = (tail + 1) >>> 0;
  }
  interest(slot: number, gen: number, fd: number, mask: number): void { this.submit(K.SQ_INTEREST, 0, slot, gen, fd, mask, 0); }
  write(slot: number, gen: number, fd: number, head: number, bytes: number): void { this.submit(K.SQ_WRITE, 0, slot, gen, fd, head, bytes); }
  shutdown(slot: number, gen: number, fd: number): void { this.submit(K.SQ_SHUTDOWN, 0, slot, gen, fd, 0, 0); }
  close(slot: number, gen: number, fd: number, reset = false): void { this.submit(K.SQ_CLOSE, reset ? K.SQF_RESET : 0, slot, gen, fd, 0, 0); }
  connect(slot: number, gen: number): void { this.submit(K.SQ_CONNECT, 0, slot, gen, -1, 0, 0); }
  /** Submissions the host has not consumed yet. */
  get unconsumed(): number { return (this.u32[W.submitTail] - this.u32[W.submitHead]) >>> 0; }

  // ── chunks ──────────────────────────────────────────────────────────────────────────
  alloc(): number {
    const c = this.free.pop();
    if (c === undefined) throw new Error("contract ring: out of chunks");
    return c;
  }
  release(c: number): void { this.free.push(c); }
  get freeCount(): number { return this.free.length; }

  meta(c: number, next: number, start: number, len: number): void {
    const p = this.core.regions.chunkMetaOff + c * ChunkMeta_BYTES;
    this.u32[(p + ChunkMeta.next) >> 2] = next;
    this.u32[(p + ChunkMeta.start) >> 2] = start;
    this.u32[(p + ChunkMeta.len) >> 2] = len;
  }
  metaOf(c: number): { next: number; start: number; len: number } {
    const p = this.core.regions.chunkMetaOff + c * ChunkMeta_BYTES;
    return { next: this.u32[(p + ChunkMeta.next) >> 2], start: this.u32[(p + ChunkMeta.start) >> 2], len: this.u32[(p + ChunkMeta.len) >> 2] };
  }

  /**
   * Lays `bytes` over a new chain of chunks, `pieces` bytes each (default: as much as fits),
   * each piece at byte `start` of its chunk (offsets vary: the host must honour start), the
   * way the core's write queue holds them. Returns the head chunk and the chunks in order.
   */
  chain(bytes: Uint8Array, pieces?: number[]): { head: number; chunks: number[] } {
    const chunks: number[] = [], starts: number[] = [], lens: number[] = [];
    for (let off = 0; off < bytes.length;) {
      const start = (chunks.length * 7) % 64;
      const len = Math.min(pieces?.[chunks.length] ?? this.chunkSize - start, this.chunkSize - start, bytes.length - off);
      const c = this.alloc();
      this.core.u8.set(bytes.subarray(off, off + len), this.core.chunkDataOffset(c) + start);
      chunks.push(c); starts.push(start); lens.push(len);
      off += len;
    }
    chunks.forEach((c, i) => this.meta(c, chunks[i + 1] ?? K.NONE, starts[i], lens[i]));
    return { head: chunks.length ? chunks[0] : K.NONE, chunks };
  }

  /**
   * After a partial write of n bytes: drops what went out from the front of the chain, as the
   * core does (whole chunks released, the first one's start moved). Returns the new head.
   */
  advance(head: number, n: number): number {
    let c = head;
    while (n > 0 && c !== K.NONE) {
      const m = this.metaOf(c);
      if (n < m.len) { this.meta(c, m.next, m.start + n, m.len - n); return c; }
      n -= m.len;
      this.release(c);
      c = m.next;
    }
    return c;
  }
  /** Gives every chunk of a chain back. */
  releaseChain(head: number): void {
    let guard = 0;
    for (let c = head; c !== K.NONE && guard++ < this.chunkCount; c = this.metaOf(c).next) this.release(c);
  }

  // ── supply ──────────────────────────────────────────────────────────────────────────
  get supplyCount(): number { return (this.u32[W.supplyTail] - this.u32[W.supplyHead]) >>> 0; }
  get supplyHead(): number { return this.u32[W.supplyHead]; }
  /** Tops the supply ring up to `n` chunks (default: full). */
  supply(n = this.core.caps.supplyCap): void {
    const u = this.u32, cap = this.core.caps.supplyCap;
    while (this.supplyCount < Math.min(n, cap) && this.free.length) {
      const c = this.free.pop()!;
      const tail = u[W.supplyTail];
      u[(this.core.regions.supplyOff >> 2) + (tail & (cap - 1))] = c;
      u[W.supplyTail] = (tail + 1) >>> 0;
      this.supplied.add(c);
    }
  }

  // ── events ──────────────────────────────────────────────────────────────────────────
  /** Events in the ring, not yet taken. Throws if the host posted more than fit. */
  get pending(): number {
    const n = (this.u32[W.eventTail] - this.u32[W.eventHead]) >>> 0;
    if (n > this.eventCap) throw new Error(`contract: the host posted ${n} events into a ring of ${this.eventCap} (never more than fit)`);
    return n;
  }
  /** Room left in the event ring. */
  get room(): number { return this.eventCap - this.pending; }

  /** Takes every event in the ring (as the core's ingest does); EV_READ chunks come back to us. */
  take(max = Infinity): Ev[] {
    const u = this.u32;
    let n = Math.min(this.pending, max);
    const out: Ev[] = [];
    let head = u[W.eventHead];
    while (n-- > 0) {
      const p = this.core.eventOffset(head);
      const e: Ev = {
        type: eventType(u, p), err: eventErr(u, p), slot: eventSlot(u, p), gen: eventGen(u, p), fd: eventFd(u, p),
        a: eventA(u, p), b: eventB(u, p),
      };
      if (e.type === K.EV_READ && e.a !== K.NONE) {
        if (!this.supplied.has(e.a)) throw new Error(`contract: ${evText(e)} reports chunk ${e.a}, which was not in the supply ring (or was reported already)`);
        if (e.b === 0 || e.b > this.chunkSize) throw new Error(`contract: ${evText(e)} reports ${e.b} bytes in a chunk of ${this.chunkSize}`);
        this.supplied.delete(e.a);
        const at = this.core.chunkDataOffset(e.a);
        e.data = this.core.u8.slice(at, at + e.b);
        this.free.push(e.a);
      }
      out.push(e);
      head = (head + 1) >>> 0;
    }
    u[W.eventHead] = head;
    return out;
  }
}

/** Concatenates byte arrays. */
export function concat(parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let o = 0;
  for (const p of parts) { out.set(p, o); o += p.length; }
  return out;
}

/** n bytes of a fixed pseudo-random stream starting at stream offset `from` (so pieces line up). */
export function pattern(n: number, from = 0, seed = 1): Uint8Array {
  const out = new Uint8Array(n);
  for (let i = 0; i < n; i++) {
    let x = Math.imul((from + i) ^ Math.imul(seed, 0x9e3779b1), 0x85ebca6b);
    x ^= x >>> 13; x = Math.imul(x, 0xc2b2ae35); x ^= x >>> 16;
    out[i] = x & 0xff;
  }
  return out;
}
