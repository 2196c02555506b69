// Loads the core as a WebAssembly component (assembly/component/core.wit, built by
// tools/component.mjs into build/component/<build>/ and, for release, dist/component/) and
// drives one instance. The component owns its memory, so nothing here reads the core's memory:
// a step carries the host's writes in and the core's outputs out as lists (docs/component.md).
// Portable: the transpiled module is plain ES and WebAssembly; its core modules are read with
// node:fs, which Node, Deno and Bun share.
import { ReactorError } from "../errors.ts";
import { CoreExitError, type WasiHooks } from "../../shims/wasi.ts";
import { Config, Config_BYTES, LAYOUT_VERSION, type Capacities } from "../core/layout.ts";

export type ComponentBuild = "release" | "debug" | "broken";

/** The component's functions as jco transpiles them (build/component/<build>/core.d.ts). */
export type ComponentOp = "ingest" | "flush" | "listener-open" | "connect-open" | "app-acquire" | "app-release" | "write-tail"
  | "write-extend" | "write-queue" | "end" | "close" | "pause" | "resume" | "hold-fin" | "close-all" | "timer-arm" | "timer-cancel" | "app-keep" | "config-set" | "proxy-header";
export interface ComponentOutput {
  returned: number;
  submissions: Uint32Array;
  notes: Uint32Array;
  published: { nextDeadlineMs: number; hostFlags: number; acceptBudget: number; readsPerConn: number };
}
interface ComponentExports {
  version(): number;
  init(caps: Capacities): number;
  configure(config: Uint32Array): void;
  step(op: ComponentOp, args: Uint32Array, input: { events: Uint8Array; submitHead: number; supplyHead: number; noteHead: number }): ComponentOutput;
  audit(): number;
}
type Instantiate = (getCoreModule: (path: string) => Promise<WebAssembly.Module>, imports: Record<string, { default: Function }>) => Promise<ComponentExports>;

interface Loaded { instantiate: Instantiate; modules: Map<string, Promise<WebAssembly.Module>>; dir: URL }
const loaded = new Map<string, Promise<Loaded>>();

/**
 * Where a build's transpiled component is: beside this module in a package (dist/component/),
 * one level up from a bundled test (build/component/), or `dir` when given.
 */
async function findDir(build: ComponentBuild, dir?: URL): Promise<URL> {
  const { existsSync } = await import("node:fs");
  const { fileURLToPath } = await import("node:url");
  const candidates = dir ? [dir] : [new URL(`./component/${build}/`, import.meta.url), new URL(`../component/${build}/`, import.meta.url), new URL(`../../build/component/${build}/`, import.meta.url)];
  for (const c of candidates) if (existsSync(fileURLToPath(new URL("core.js", c)))) return c;
  throw new ReactorError("ERR_HOST_UNAVAILABLE", `wasm-reactor: the ${build} core component is not built (looked for core.js in ${candidates.map((c) => fileURLToPath(c)).join(", ")}): run \`npm run build\` (tools/component.mjs builds it)`);
}

/** Imports a build's transpiled module once per process; its core modules compile once, on first use. */
export function loadComponent(build: ComponentBuild, dir?: URL): Promise<Loaded> {
  const key = `${build}:${dir?.href ?? ""}`;
  let l = loaded.get(key);
  if (!l) {
    l = (async () => {
      const at = await findDir(build, dir);
      const mod = await import(new URL("core.js", at).href) as { instantiate: Instantiate };
      return { instantiate: mod.instantiate, modules: new Map(), dir: at };
    })();
    loaded.set(key, l);
    l.catch(() => loaded.delete(key));
  }
  return l;
}

async function coreModule(l: Loaded, path: string): Promise<WebAssembly.Module> {
  let m = l.modules.get(path);
  if (!m) {
    m = (async () => {
      const { readFile } = await import("node:fs/promises");
      return WebAssembly.compile(new Uint8Array(await readFile(new URL(path, l.dir))) as Uint8Array<ArrayBuffer>);
    })();
    l.modules.set(path, m);
  }
  return m;
}

/**
 * One instance of the core component. The host owns the event ring's tail and the consumer
 * cursors (submitHead, supplyHead, noteHead): it keeps them here and sends them with each step,
 * with the events it appended since the last one.
 */
export class ComponentCore {
  /** Free-running ring counters, as in the shared-memory header (0 after init). */
  eventTail = 0;
  submitHead = 0;
  supplyHead = 0;
  noteHead = 0;
  /** Events appended since the last step (raw EventRec records). */
  private pending: Uint8Array[] = [];
  private pendingBytes = 0;
  /** The last line the core logged that starts with "abort: " (a failed assertion's reason). */
  private lastAbort = "";

  private constructor(private readonly ex: ComponentExports, readonly build: ComponentBuild) {}

  /**
   * Instantiates the component with `hooks` as its clock, random source and log, then runs init
   * and configure (`config`: Config field values by name, as Core.create takes them). Refuses a
   * component built from another memory layout than this host's mirror.
   */
  static async create(build: ComponentBuild, caps: Capacities, config: Record<string, number>, hooks: WasiHooks, dir?: URL): Promise<ComponentCore> {
    const l = await loadComponent(build, dir);
    let self: ComponentCore | undefined;
    const imports = {
      "clock-ns": { default: () => hooks.clockNs() },
      "random-bytes": { default: (len: number) => { const b = new Uint8Array(len); hooks.random(b); return b; } },
      log: { default: (line: string) => { if (self && line.startsWith("abort: ")) self.lastAbort = line; hooks.log(line); } },
    };
    const ex = await l.instantiate((path) => coreModule(l, path), imports);
    self = new ComponentCore(ex, build);
    const v = ex.version() >>> 0;
    if (v !== LAYOUT_VERSION) {
      const hex = (n: number) => "0x" + n.toString(16).padStart(8, "0");
      throw new ReactorError("ERR_LAYOUT", `wasm-reactor: the ${build} core component was built from memory layout ${hex(v)}, and this host's mirror is ${hex(LAYOUT_VERSION)} (host/core/layout.gen.ts): one of them is stale; rebuild both with \`npm run build\``);
    }
    const words = new Uint32Array(Config_BYTES / 4);
    for (const [name, value] of Object.entries(config)) {
      if (!(name in Config)) throw new ReactorError("ERR_INVALID_OPTION", `wasm-reactor: unknown core config field ${name} (Config in assembly/layout.ts has ${Object.keys(Config).join(", ")})`);
      words[Config[name as keyof typeof Config] >> 2] = value;
    }
    self.guard(() => ex.init({ ...caps }));
    self.guard(() => ex.configure(words));
    return self;
  }

  /** Appends raw event records (EventRec, 24 bytes each); they reach the core with the next step. */
  pushEvents(records: Uint8Array): void {
    this.pending.push(records);
    this.pendingBytes += records.length;
    this.eventTail = (this.eventTail + records.length / 24) >>> 0;
  }

  /** Sends the pending events and the cursors, calls `op`; returns what it produced. */
  step(op: ComponentOp, args: ArrayLike<number>): ComponentOutput {
    let events: Uint8Array;
    if (this.pending.length === 1) events = this.pending[0];
    else {
      events = new Uint8Array(this.pendingBytes);
      let at = 0;
      for (const p of this.pending) { events.set(p, at); at += p.length; }
    }
    this.pending = [];
    this.pendingBytes = 0;
    const input = { events, submitHead: this.submitHead, supplyHead: this.supplyHead, noteHead: this.noteHead };
    return this.guard(() => this.ex.step(op, Uint32Array.from(args), input));
  }

  /** The core's audit of every invariant (checkInvariants): 0, or the failed one's code. */
  audit(): number { return this.guard(() => this.ex.audit()) >>> 0; }

  /** A trap after the core logged "abort: ..." is its failed assertion: say which, as the shared-memory core's exit does. */
  private guard<T>(fn: () => T): T {
    try { return fn(); }
    catch (err) {
      if (this.lastAbort) throw new CoreExitError(`wasm-reactor: the ${this.build} core component trapped (an assertion failed: ${this.lastAbort})`);
      throw err;
    }
  }
}
