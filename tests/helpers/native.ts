// A native shim driven by hand, as a core would drive it, through a real core's memory: the
// test writes submission records into the submit ring (correct ones, or corrupted ones as a
// broken core would), runs the shim's turn, and reads back the events it posted. The core
// itself is not run: its memory is only the arena the shim validates and works in.
import { readFileSync, readdirSync, readlinkSync, writeFileSync, openSync, closeSync, mkdtempSync, rmSync } from "node:fs";
import { join } from "node:path";
import { tmpdir } from "node:os";
import { loadNative, buildBackend, NATIVE_STATS, type NativeHandle, type NativeShim, type NativeStats, type NativeBuild } from "../../host/backends/native.ts";
import { headerWord, type Core } from "../../host/core/core.ts";
import { ChunkMeta, ChunkMeta_BYTES, K, writeSubmit, type Capacities, eventType, eventErr, eventSlot, eventGen, eventFd, eventA, eventB } from "../../host/core/layout.ts";
import { FAULT_KINDS, type EpollFaults } from "../../host/backends/epoll/epoll.ts";
import { makeCore } from "./core.ts";

export { K };

/** A backend of the shim: what create() takes. */
export type ShimBackend = "epoll" | "kqueue" | "uring";

/**
 * Where the native suites run: a build of the shim and one of its backends. The release build
 * with the OS's backend; on Linux also the release build's io_uring backend, and the kqueue
 * backend of the libkqueue test build. `why` says why one cannot run here (the suites print it as
 * one skip line); `label` prefixes test names ("" for the OS's own).
 */
export interface ShimTarget { build: NativeBuild; backend: ShimBackend; label: string; why?: string }

export function shimTargets(kqueueBuild: NativeBuild): ShimTarget[] {
  const os = buildBackend("release");
  const out: ShimTarget[] = [{ build: "release", backend: os, label: "" }];
  if (os === "epoll") {
    out.push({ build: "release", backend: "uring", label: "uring: ", why: backendUnavailable("release", "uring") });
    out.push({ build: kqueueBuild, backend: buildBackend(kqueueBuild), label: `${buildBackend(kqueueBuild)}: `, why: backendUnavailable(kqueueBuild, buildBackend(kqueueBuild)) });
  }
  return out;
}

/** Why a backend of a build cannot start here (its load or create error), or undefined. */
function backendUnavailable(build: NativeBuild, backend: ShimBackend): string | undefined {
  let n: NativeShim;
  try { n = loadNative(build); } catch (err) { return `the ${build} build of the shim cannot load here: ${(err as Error).message}`; }
  try { n.destroy(n.create(backend, 0, 64, 1, 0)); }
  catch (err) { return `the ${backend} backend of the ${build} build cannot start here: ${(err as Error).message}`; }
  return undefined;
}

/**
 * The io_uring suites' rig: the release build's uring backend, or why it cannot run here (a
 * string: the suite skips with it). No kqueue target is asked for, so none is probed.
 */
export async function uringRig(opts: { caps?: Partial<Capacities>; blockWait?: boolean } = {}): Promise<ShimRig | string> {
  if (buildBackend("release") !== "epoll") return "io_uring is Linux only: this OS's shim has no uring backend";
  const why = backendUnavailable("release", "uring");
  return why ?? ShimRig.create("release", { backend: "uring", ...opts });
}

export interface Ev { type: number; err: number; slot: number; gen: number; fd: number; a: number; b: number }

const W = {
  eventHead: headerWord("eventHead"), eventTail: headerWord("eventTail"),
  submitHead: headerWord("submitHead"), submitTail: headerWord("submitTail"),
  supplyHead: headerWord("supplyHead"), supplyTail: headerWord("supplyTail"),
  hostFlags: headerWord("hostFlags"), acceptBudget: headerWord("acceptBudget"), readsPerConn: headerWord("readsPerConn"),
};

export class ShimRig {
  readonly n: NativeShim;
  readonly h: NativeHandle;
  readonly core: Core;
  private readonly stats = new Float64Array(NATIVE_STATS.length);
  private destroyed = false;

  private constructor(n: NativeShim, h: NativeHandle, core: Core) { this.n = n; this.h = h; this.core = core; }

  /**
   * A shim attached to a fresh core's memory (small capacities: 32 chunks of 1 KiB; `caps`
   * overrides them, e.g. a submit ring big enough for one turn of thousands of submissions).
   * `blockWait` false sets the shim up for a poller thread (wait "thread"; io_uring: no
   * DEFER_TASKRUN); by default turns block in the backend, as wait "block" does.
   */
  static async create(build: NativeBuild = "release", opts: { edge?: boolean; backend?: ShimBackend; caps?: Partial<Capacities>; blockWait?: boolean } = {}): Promise<ShimRig> {
    const t = await makeCore({ chunkCount: 32, chunkSize: 1024, slotCap: 16, ...opts.caps });
    const n = loadNative(build);
    const h = n.create(opts.backend ?? buildBackend(build), opts.edge ? 1 : 0, 64, 1, 0, opts.blockWait === false ? 0 : 1);
    n.attach(h, t.core.u8);
    const rig = new ShimRig(n, h, t.core);
    const u = t.core.u32;
    u[W.acceptBudget] = 16; u[W.readsPerConn] = 4; u[W.hostFlags] = 0;
    return rig;
  }

  /** Faults build: sets the odds (kinds not named: 0), restarting every kind's stream. */
  faults(f: EpollFaults): void {
    if (!this.n.setFaults) throw new Error("not the faults build");
    this.n.setFaults(this.h, Float64Array.from([f.seed ?? 1, ...FAULT_KINDS.map((k) => f[k] ?? 0)]));
  }

  /** Appends a submission record, exactly as written (nothing is checked here). */
  submit(op: number, slot: number, gen: number, fd: number, a = 0, b = 0, flags = 0): void {
    const u = this.core.u32;
    const tail = u[W.submitTail];
    writeSubmit(u, this.core.submitOffset(tail), op, flags, slot >>> 0, gen >>> 0, fd, a >>> 0, b >>> 0);
    u[W.submitTail] = (tail + 1) >>> 0;
  }

  /** Sets a header cursor directly (to corrupt it). */
  setCursor(name: keyof typeof W, v: number): void { this.core.u32[W[name]] = v >>> 0; }
  cursor(name: keyof typeof W): number { return this.core.u32[W[name]]; }

  /** Writes a chunk's metadata (start, len, next) as a core would. */
  chunk(c: number, start: number, len: number, next: number = K.NONE): void {
    const base = this.core.regions.chunkMetaOff + c * ChunkMeta_BYTES;
    const u = this.core.u32;
    u[(base + ChunkMeta.start) >> 2] = start >>> 0;
    u[(base + ChunkMeta.len) >> 2] = len >>> 0;
    u[(base + ChunkMeta.next) >> 2] = next >>> 0;
  }
  fillChunk(c: number, text: string): void {
    const bytes = new TextEncoder().encode(text);
    this.core.u8.set(bytes, this.core.chunkDataOffset(c));
    this.chunk(c, 0, bytes.length);
  }

  /** Puts chunk indexes in the supply ring (for reads). */
  supply(...chunks: number[]): void {
    const u = this.core.u32;
    for (const c of chunks) {
      const tail = u[W.supplyTail];
      u[(this.core.regions.supplyOff >> 2) + (tail & (this.core.caps.supplyCap - 1))] = c >>> 0;
      u[W.supplyTail] = (tail + 1) >>> 0;
    }
  }

  /** One shim turn (timeout 0); returns the events it posted, consumed. */
  turn(): Ev[] {
    this.n.turn(this.h, 0);
    return this.events();
  }

  /** Events in the ring, consumed (the overflow ring drains into it on later turns). */
  events(): Ev[] {
    const u = this.core.u32, out: Ev[] = [];
    let head = u[W.eventHead];
    const tail = u[W.eventTail];
    while (head !== tail) {
      const p = this.core.eventOffset(head);
      out.push({ type: eventType(u, p), err: eventErr(u, p), slot: eventSlot(u, p), gen: eventGen(u, p), fd: eventFd(u, p), a: eventA(u, p), b: eventB(u, p) });
      head = (head + 1) >>> 0;
    }
    u[W.eventHead] = head;
    return out;
  }

  /** Turns until `pred` holds for an event (bounded: real sockets on loopback are quick). */
  turnUntil(pred: (e: Ev) => boolean, what: string, turns = 200): Ev {
    for (let i = 0; i < turns; i++) {
      this.n.turn(this.h, i < 5 ? 0 : 5);
      const hit = this.events().find(pred);
      if (hit) return hit;
    }
    throw new Error(`no event: ${what} in ${turns} turns`);
  }

  /**
   * Turns (bounded) until the connection at `readerSlot` reads the end of its stream, handing its
   * chunks back: the bytes it read, whether the end came, and the last EV_WRITE_DONE of
   * `writerSlot` as [bytes, errno]. `evs`: the events of the turn just run.
   */
  readToEnd(evs: Ev[], writerSlot: number, readerSlot: number, turns = 300): { got: number; end: boolean; done: number[] } {
    let got = 0, end = false, done: number[] = [];
    for (let i = 0; i < turns && !end; i++) {
      for (const e of evs) {
        if (e.type === K.EV_WRITE_DONE && e.slot === writerSlot) done = [e.b, e.err];
        if (e.type === K.EV_READ && e.slot === readerSlot) { if (e.b > 0) { got += e.b; this.supply(e.a); } else end = true; }
      }
      if (!end) { this.n.turn(this.h, i < 20 ? 0 : 5); evs = this.events(); }
    }
    return { got, end, done };
  }

  nativeStats(): NativeStats {
    this.n.stats(this.h, this.stats);
    const out = {} as NativeStats;
    NATIVE_STATS.forEach((k, i) => { out[k] = this.stats[i]; });
    return out;
  }
  violations(): number { return this.nativeStats().violations; }
  violation(): string | undefined { return this.n.violation(this.h); }

  /** A listener the shim owns, bound to (slot, gen) by its first INTEREST. */
  listen(slot: number, gen: number): { fd: number; port: number } {
    const [fd, port] = this.n.listen(this.h, "127.0.0.1", 0, 64, 0);
    this.submit(K.SQ_INTEREST, slot, gen, fd, K.IN_READ);
    this.turn();
    return { fd, port };
  }

  /**
   * A connected pair the shim owns: a CONNECT from (cslot, cgen) to the listener, and the
   * accepted socket bound to (aslot, agen) by an INTEREST. Returns both descriptors.
   */
  pair(listener: { fd: number; port: number }, lslot: number, lgen: number, cslot: number, cgen: number, aslot: number, agen: number): { client: number; server: number } {
    this.n.prepareConnect(this.h, cslot, cgen, "127.0.0.1", listener.port, null);
    this.submit(K.SQ_CONNECT, cslot, cgen, -1);
    let client = -1, server = -1;
    for (let i = 0; i < 200 && (client < 0 || server < 0); i++) {
      this.n.turn(this.h, i < 5 ? 0 : 5);
      for (const e of this.events()) {
        if (e.type === K.EV_SOCKET_OPENED && e.slot === cslot) client = e.fd;
        if (e.type === K.EV_ACCEPTED && e.slot === lslot && e.gen === lgen) server = e.fd;
      }
    }
    if (client < 0 || server < 0) throw new Error(`no connected pair (client ${client}, server ${server})`);
    this.submit(K.SQ_INTEREST, aslot, agen, server, K.IN_READ);
    this.submit(K.SQ_INTEREST, cslot, cgen, client, K.IN_READ);
    this.turn();
    return { client, server };
  }

  destroy(): number {
    if (this.destroyed) return 0;
    this.destroyed = true;
    return this.n.destroy(this.h);
  }
}

/**
 * A descriptor the shim never opened: a temp file, opened by the runtime. Its OS descriptor
 * number is found in /proc/self/fd (Deno's node:fs hands out resource ids, not descriptors).
 */
export class ForeignFile {
  readonly path: string;
  readonly fd: number;
  private readonly dir: string;
  private readonly handle: number;
  static readonly TEXT = "foreign: the shim must not touch this\n";

  constructor() {
    this.dir = mkdtempSync(join(tmpdir(), "wr-foreign-"));
    this.path = join(this.dir, "foreign.txt");
    writeFileSync(this.path, ForeignFile.TEXT);
    this.handle = openSync(this.path, "a+");
    this.fd = -1;
    for (const name of readdirSync("/proc/self/fd")) {
      try { if (readlinkSync(`/proc/self/fd/${name}`) === this.path) { this.fd = Number(name); break; } } catch { /* closed while listing */ }
    }
    if (this.fd < 0) throw new Error(`cannot find the descriptor of ${this.path} in /proc/self/fd`);
  }

  /** Still open (the same file behind the same number) and unchanged. */
  intact(): string | undefined {
    let target = "";
    try { target = readlinkSync(`/proc/self/fd/${this.fd}`); } catch { return `descriptor ${this.fd} was closed`; }
    if (target !== this.path) return `descriptor ${this.fd} now names ${target}`;
    const text = readFileSync(this.path, "utf8");
    if (text !== ForeignFile.TEXT) return `the file was written: ${JSON.stringify(text)}`;
    return undefined;
  }

  close(): void {
    try { closeSync(this.handle); } catch { /* closed by a broken shim */ }
    rmSync(this.dir, { recursive: true, force: true });
  }
}
