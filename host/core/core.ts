// Loads and instantiates the Wasm core on a shared memory the host creates, and gives the
// host typed access to its header, rings, slots, chunks and metrics. Portable: no runtime-
// specific API here (the module bytes are read with node:fs, which Node, Deno and Bun share).
import { ReactorError, permissionError } from "../errors.ts";
import { createWasi, type WasiHooks } from "../../shims/wasi.ts";
import {
  Header, Config, ChunkMeta, Slot, K, LAYOUT_BASE, CONFIG_BASE,
  EventRec_BYTES, SubmitRec_BYTES, NoteRec_BYTES, ChunkMeta_BYTES, Slot_BYTES,
  computeLayout, memoryBytes, type Capacities, type Regions,
  LAYOUT_VERSION, writeEvent, submitOp, submitFlags, submitSlot, submitGen, submitFd, submitA, submitB,
} from "./layout.ts";

export type Build = "debug" | "release" | "broken";

/** The core's exports (see assembly/index.ts). */
export interface CoreExports {
  init(): number;
  configure(): void;
  ingest(): number;
  flush(): number;
  /** The turn is over (after its second dispatch): clears the metrics region's inTurn gauge. */
  turnEnd(): void;
  listenerOpen(fd: number): number;
  connectOpen(): number;
  appAcquire(): number;
  appRelease(c: number): void;
  writeTail(slot: number, gen: number): number;
  writeExtend(slot: number, gen: number, c: number, n: number): number;
  writeQueue(slot: number, gen: number, c: number, start: number, len: number): number;
  end(slot: number, gen: number): number;
  close(slot: number, gen: number, reset: number): number;
  pause(slot: number, gen: number): number;
  resume(slot: number, gen: number): number;
  queuedBytesOf(slot: number, gen: number): number;
  holdFin(slot: number, gen: number, on: number): number;
  closeAll(graceful: number): number;
  timerArm(id: number, delayMs: number): number;
  timerCancel(id: number): number;
  /** A Config word changed between turns (live tuning): 0, or R_BAD_ARG / R_BUDGET refused. */
  configSet(field: number, value: number): number;
  /** The PROXY header parser's verdict (K.PH_*): counted; a rejected or late one resets the connection. */
  proxyHeader(slot: number, gen: number, result: number): number;
  stateOf(slot: number): number;
  genOf(slot: number): number;
  chunkState(c: number): number;
  checkInvariants(): number;
  dirtyCount: WebAssembly.Global;
  [name: string]: any;
}

const modules = new Map<Build, Promise<WebAssembly.Module>>();

const hex = (v: number) => "0x" + (v >>> 0).toString(16).padStart(8, "0");
/** A core built from another layout than this host's mirror (host/core/layout.gen.ts). */
function layoutError(what: string): ReactorError {
  return new ReactorError("ERR_LAYOUT", `wasm-reactor: the core's memory layout (${what}) is not this host's mirror (layout ${hex(LAYOUT_VERSION)}, host/core/layout.gen.ts): one of them is stale; rebuild both with \`npm run build\``);
}

// Ring cursors as u32 word indexes, computed once: they are read and written per event.
/** A header field's index in the core's Uint32Array (computed once, at module load, by callers). */
export function headerWord(field: keyof typeof Header): number { return (LAYOUT_BASE + Header[field]) >> 2; }
const W_EVENT_HEAD = headerWord("eventHead");
const W_EVENT_TAIL = headerWord("eventTail");
const W_SUBMIT_HEAD = headerWord("submitHead");
const W_SUBMIT_TAIL = headerWord("submitTail");
const W_SUPPLY_HEAD = headerWord("supplyHead");
const W_SUPPLY_TAIL = headerWord("supplyTail");

const moduleBytes = new Map<Build, Promise<Uint8Array>>();

/** The core module's bytes (read once per process and build; traces name the core by their hash). */
export function coreBytes(build: Build): Promise<Uint8Array> {
  let b = moduleBytes.get(build);
  if (!b) {
    b = (async () => {
      const url = new URL(`./core.${build}.wasm`, import.meta.url);
      const { readFile } = await import("node:fs/promises");
      try {
        return new Uint8Array(await readFile(url));
      } catch (err) {
        // The broken core is built in a development checkout only (dist/ and build/tests/ there);
        // the package does not ship it (package.json `files`).
        const denied = permissionError(err, `read the core ${url.pathname}`);
        if (denied) throw denied;
        if (build === "broken") throw new ReactorError("ERR_INVALID_OPTION", `wasm-reactor: build 'broken' (a core with a bug planted on purpose, for the fuzzer's self-test) is not in this installation: it is built in a development checkout of wasm-reactor (\`npm run build\`), never shipped; use build 'release' or 'debug'`);
        throw new Error(`wasm-reactor: cannot read the core (${url.pathname}): run \`npm run build\` first (${(err as Error).message})`);
      }
    })();
    moduleBytes.set(build, b);
  }
  return b;
}

/** Compiles the core once per process and build. */
export function coreModule(build: Build): Promise<WebAssembly.Module> {
  let m = modules.get(build);
  if (!m) {
    m = coreBytes(build).then((bytes) => WebAssembly.compile(bytes as Uint8Array<ArrayBuffer>));
    modules.set(build, m);
  }
  return m;
}

/** Typed access to one instantiated core. */
export class Core {
  readonly exports: CoreExports;
  readonly memory: WebAssembly.Memory;
  readonly u8: Uint8Array;
  readonly u16: Uint16Array;
  readonly u32: Uint32Array;
  readonly i32: Int32Array;
  readonly f64: Float64Array;
  readonly regions: Regions;
  readonly caps: Capacities;
  readonly chunkSize: number;
  /** The instance's own exports (the Wasm functions themselves: their arity, for traces). */
  rawExports: Record<string, { length: number }> = {};

  private constructor(exports: CoreExports, memory: WebAssembly.Memory, caps: Capacities, regions: Regions) {
    this.exports = exports;
    this.memory = memory;
    const buf = memory.buffer;
    this.u8 = new Uint8Array(buf);
    this.u16 = new Uint16Array(buf);
    this.u32 = new Uint32Array(buf);
    this.i32 = new Int32Array(buf);
    this.f64 = new Float64Array(buf);
    this.caps = caps;
    this.regions = regions;
    this.chunkSize = caps.chunkSize;
  }

  /**
   * Creates the memory, instantiates, writes capacities and config, runs init and configure.
   * Refuses a core whose memory layout is not this host's mirror (`module`: a core module to use
   * instead of the build's, for tests).
   */
  static async create(build: Build, caps: Capacities, config: Record<string, number>, hooks: WasiHooks, module?: WebAssembly.Module): Promise<Core> {
    module ??= await coreModule(build);
    const bytes = memoryBytes(caps);
    if (bytes > 4 * 1024 ** 3) throw new RangeError(`wasm-reactor: the capacities need ${bytes} bytes of memory, over the 4 GiB a 32-bit Wasm memory holds`);
    const pages = bytes / 65536;
    const memory = new WebAssembly.Memory({ initial: pages, maximum: pages, shared: true });
    const wasi = createWasi(hooks);
    const instance = await WebAssembly.instantiate(module, { env: { memory }, wasi_snapshot_preview1: wasi.imports });
    wasi.attach(memory);
    const raw = instance.exports as unknown as CoreExports;
    // Before the mirror sizes or reads anything: the core says which layout it was built with.
    const declared = raw.L_K_LAYOUT_VERSION as WebAssembly.Global | undefined;
    if (!declared) throw layoutError("no layout version: it predates them");
    const coreVersion = declared.value >>> 0;
    if (coreVersion !== LAYOUT_VERSION) throw layoutError(`layout ${hex(coreVersion)}`);
    // Wasm has no unsigned returns: u32 results arrive as signed i32. Those that carry chunk
    // indexes, NONE or generations are wrapped once here so the host compares them as u32.
    const exports: CoreExports = { ...raw };
    // Fixed arity: these sit on the write path, and a rest-args wrapper allocates per call.
    const { appAcquire, writeTail, genOf, init, flush, ingest, checkInvariants } = raw;
    exports.appAcquire = () => appAcquire() >>> 0;
    exports.writeTail = (s: number, g: number) => writeTail(s, g) >>> 0;
    exports.genOf = (s: number) => genOf(s) >>> 0;
    exports.init = () => init() >>> 0;
    exports.flush = () => flush() >>> 0;
    exports.ingest = () => ingest() >>> 0;
    exports.checkInvariants = () => checkInvariants() >>> 0;
    (exports._start as () => void)();
    const regions = computeLayout(caps);
    const core = new Core(exports, memory, caps, regions);
    core.rawExports = raw as unknown as Record<string, { length: number }>;
    core.setHeader("slotCap", caps.slotCap);
    core.setHeader("chunkSize", caps.chunkSize);
    core.setHeader("chunkCount", caps.chunkCount);
    core.setHeader("appTimerCap", caps.appTimerCap);
    core.setHeader("eventCap", caps.eventCap);
    core.setHeader("submitCap", caps.submitCap);
    core.setHeader("noteCap", caps.noteCap);
    core.setHeader("supplyCap", caps.supplyCap);
    const end = exports.init() >>> 0;
    // init wrote its magic, version and regions into the header: the mirror must agree with each.
    if (core.header("magic") !== K.LAYOUT_MAGIC || core.header("version") !== LAYOUT_VERSION) throw layoutError(`its header says magic ${hex(core.header("magic"))}, layout ${hex(core.header("version"))}`);
    for (const k of Object.keys(regions) as (keyof Regions)[]) {
      if (core.header(k) !== regions[k]) throw layoutError(`${k} at ${core.header(k)}, the mirror computes ${regions[k]}`);
    }
    if (end !== regions.endOff) throw layoutError(`it ends at ${end}, the mirror at ${regions.endOff}`);
    for (const [name, value] of Object.entries(config)) core.setConfig(name as keyof typeof Config, value);
    exports.configure();
    return core;
  }

  header(field: keyof typeof Header): number { return this.u32[(LAYOUT_BASE + Header[field]) >> 2]; }
  setHeader(field: keyof typeof Header, v: number): void { this.u32[(LAYOUT_BASE + Header[field]) >> 2] = v; }
  config(field: keyof typeof Config): number { return this.u32[(CONFIG_BASE + Config[field]) >> 2]; }
  setConfig(field: keyof typeof Config, v: number): void {
    if (!(field in Config)) throw new Error(`wasm-reactor: unknown core config field ${String(field)}`);
    this.u32[(CONFIG_BASE + Config[field]) >> 2] = v;
  }
  nextDeadlineMs(): number { return this.i32[(LAYOUT_BASE + Header.nextDeadlineMs) >> 2]; }

  // ── events (host → core) ──────────────────────────────────────────────────────────────
  eventSpace(): number { const u = this.u32; return this.caps.eventCap - ((u[W_EVENT_TAIL] - u[W_EVENT_HEAD]) >>> 0); }
  /** Appends one event; the caller checked eventSpace(). */
  pushEvent(type: number, slot: number, gen: number, fd: number, a: number, b: number, err = 0): void {
    const tail = this.u32[W_EVENT_TAIL];
    writeEvent(this.u32, this.eventOffset(tail), type, 0, err, slot, gen, fd, a, b);
    this.u32[W_EVENT_TAIL] = (tail + 1) >>> 0;
  }

  // ── submissions (core → host) ─────────────────────────────────────────────────────────
  /** Calls fn(op, flags, slot, gen, fd, a, b) for each pending submission, then consumes them. */
  drainSubmissions(fn: (op: number, flags: number, slot: number, gen: number, fd: number, a: number, b: number) => void): number {
    const u32 = this.u32;
    let head = u32[W_SUBMIT_HEAD];
    const tail = u32[W_SUBMIT_TAIL];
    let n = 0;
    while (head !== tail) {
      const p = this.submitOffset(head);
      fn(submitOp(u32, p), submitFlags(u32, p), submitSlot(u32, p), submitGen(u32, p), submitFd(u32, p), submitA(u32, p), submitB(u32, p));
      head = (head + 1) >>> 0;
      n++;
    }
    u32[W_SUBMIT_HEAD] = head;
    return n;
  }

  // ── ring positions: a record's byte offset from its free-running ring counter ─────────
  eventOffset(counter: number): number { return this.regions.eventsOff + (counter & (this.caps.eventCap - 1)) * EventRec_BYTES; }
  submitOffset(counter: number): number { return this.regions.submitsOff + (counter & (this.caps.submitCap - 1)) * SubmitRec_BYTES; }
  noteOffset(counter: number): number { return this.regions.notesOff + (counter & (this.caps.noteCap - 1)) * NoteRec_BYTES; }

  // ── supply (core → host) ──────────────────────────────────────────────────────────────
  supplyCount(): number { const u = this.u32; return (u[W_SUPPLY_TAIL] - u[W_SUPPLY_HEAD]) >>> 0; }
  /** Takes a chunk from the supply ring, or NONE. */
  supplyPop(): number {
    const head = this.u32[W_SUPPLY_HEAD];
    if (head === this.u32[W_SUPPLY_TAIL]) return K.NONE;
    const c = this.u32[(this.regions.supplyOff >> 2) + (head & (this.caps.supplyCap - 1))];
    this.u32[W_SUPPLY_HEAD] = (head + 1) >>> 0;
    return c;
  }

  // ── chunks ────────────────────────────────────────────────────────────────────────────
  chunkDataOffset(c: number): number { return this.regions.chunkDataOff + c * this.chunkSize; }
  chunkMeta(c: number, field: keyof typeof ChunkMeta): number {
    const p = this.regions.chunkMetaOff + c * ChunkMeta_BYTES + ChunkMeta[field];
    return field === "state" ? this.u8[p] : this.u32[p >> 2];
  }
  /** The valid bytes of a chunk, as a view into the shared memory (no copy). */
  chunkView(c: number): Uint8Array {
    const base = this.regions.chunkMetaOff + c * ChunkMeta_BYTES;
    const start = this.u32[(base + ChunkMeta.start) >> 2];
    const len = this.u32[(base + ChunkMeta.len) >> 2];
    // a view made directly over the buffer: subarray() would look up a species constructor
    // first (32 against 19 ns a view in Node 20, on every data callback)
    const v = new Uint8Array(this.u8.buffer, this.chunkDataOffset(c) + start, len);
    this.lastView = v; this.lastViewChunk = c; this.lastViewStart = start;
    return v;
  }
  /**
   * The view chunkView() made last, and where it lies: an echo writes back exactly the bytes it
   * was handed, and write() knows them by identity instead of by their buffer and offset.
   */
  lastView: Uint8Array | undefined = undefined;
  lastViewChunk = -1;
  lastViewStart = 0;

  // ── slots ─────────────────────────────────────────────────────────────────────────────
  /**
   * conn.writable, read from the slot itself (an echo asks it per message; three calls into the
   * core before): the occupant is still gen, open (or half-closed by the peer, or connecting),
   * and close() was not called.
   */
  slotWritable(i: number, gen: number): boolean {
    const p = this.regions.slotsOff + i * Slot_BYTES;
    if (this.u32[(p + Slot.gen) >> 2] !== gen) return false;
    const s = this.u8[p + Slot.state];
    if (s !== K.ST_OPEN && s !== K.ST_READ_ENDED && s !== K.ST_CONNECTING) return false;
    return (this.u8[p + Slot.flags2] & K.G_CLOSE_REQ) === 0;
  }
  slotField(i: number, field: keyof typeof Slot): number {
    const p = this.regions.slotsOff + i * Slot_BYTES + Slot[field];
    switch (field) {
      case "state": case "flags": case "interest": case "flags2": case "closeReason": case "pad0": return this.u8[p];
      case "closeErr": return this.u16[p >> 1];
      case "fd": return this.i32[p >> 2];
      default: return this.u32[p >> 2];
    }
  }

  // notes (core → app) are read by the Reactor directly (noteOffset and the note* helpers): see dispatch() in host/reactor/
}

export { K };
