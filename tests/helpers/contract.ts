// The host contract (host/contract/contract.ts) as executable tests, at ring level: a Rig is a
// host attached to a real Core's memory (Core.create, never run after init), with the test in
// the core's place (RingDriver: it writes submissions, supply, chunk metadata and budgets, and
// reads the event ring) and peers on the other side (World). The same test code runs on every
// backend in BACKENDS, on Node, Deno and Bun.
//
// Adding a backend (kqueue, portable, io_uring) is one line in BACKENDS: the options that make
// the registry (host/backends/registry.ts) build it. A backend this machine cannot run (not
// built, wrong OS) is skipped with the registry's own reason.
//
// Limits that cannot be set from inside a process (the descriptor limit of a real host) run the
// test in a child process: runLimited() starts this same bundle again under
// `prlimit --nofile=N`, the child builds the rig and runs the named scenario, and its peers are
// dialled from the parent (so they do not count against the child's limit).
import type { Test } from "uvu";
import process from "node:process";
import { spawn } from "node:child_process";
import { existsSync } from "node:fs";
import { Core } from "../../host/core/core.ts";
import { K, type Capacities } from "../../host/core/layout.ts";
import type { Host } from "../../host/contract/contract.ts";
import { createHost } from "../../host/backends/registry.ts";
import { resolveOptions, type ReactorOptions } from "../../host/options.ts";
import type { SimNetwork } from "../../host/index.ts";
import { RingDriver, type Ev, evsText } from "./contract-ring.ts";
import { SimWorld, NetWorld, type World, type Peer, type PeerServer } from "./contract-world.ts";
import { TEST_CONFIG } from "./core.ts";
import { selfCommand, runtimeName } from "./net.ts";
import { skip } from "./skip.ts";
import { onLines, onJsonLines } from "./lines.ts";
import type { Readable } from "node:stream";

export { K } from "../../host/core/layout.ts";
export { type Ev, evText, evsText, concat, pattern } from "./contract-ring.ts";
export type { Peer, PeerServer, World } from "./contract-world.ts";

export interface Backend {
  name: string;
  /** What Reactor.create would be given: the registry builds the host from it. */
  options: ReactorOptions;
  /**
   * Contract tests this backend cannot pass by its nature, each with why (docs/portable.md lists
   * them): a test whose name starts with `test`, on the runtimes listed (all when absent), runs
   * as a skip that prints `why` (tests/helpers/skip.ts), never silently.
   */
  scopedOut?: { test: string; runtimes?: ("node" | "deno" | "bun")[]; why: string }[];
}

/** Every backend the contract suite runs against. A new backend is one line here. */
export const BACKENDS: Backend[] = [
  { name: "sim", options: { host: "sim", seed: 1 } },
  { name: "epoll", options: { host: "epoll", wait: "thread" } },
  { name: "epoll-edge", options: { host: "epoll", wait: "thread", edgeTriggered: true } },
  { name: "uring", options: { host: "uring", wait: "thread" } },
  // kqueue: the system's on macOS/FreeBSD; on Linux the libkqueue test build (skipped, saying so, where it is not built)
  { name: "kqueue", options: { host: "kqueue", wait: "thread" } },
  { name: "kqueue-edge", options: { host: "kqueue", wait: "thread", edgeTriggered: true } },
  { name: "portable", options: { host: "portable" }, scopedOut: [
    { test: "EMFILE on accept", why: "portable host: the runtime accepts, not the host (libuv's reserve descriptor sheds the waiting clients at EMFILE in Node; Bun and Deno retry), so the contract's EMFILE sequence cannot be driven from here" },
    { test: "CLOSE with SQF_RESET", runtimes: ["deno"], why: "portable host on Deno: Deno's sockets have no SO_LINGER, so a reset is a plain close (a FIN)" },
    { test: "CLOSE with slot NONE (the core refusing a descriptor it never took over) closes it: with SQF_RESET", runtimes: ["deno"], why: "portable host on Deno: Deno's sockets have no SO_LINGER, so a reset is a plain close (a FIN)" },
  ] },
];

/** Why `b` cannot run the contract test named `name` on this runtime (its scopedOut entry), or undefined. */
export function scopedOut(b: Backend, name: string): string | undefined {
  const rt = runtimeName();
  return b.scopedOut?.find((x) => name.startsWith(x.test) && (!x.runtimes || x.runtimes.includes(rt)))?.why;
}

/** Small capacities: a rig is made per test. */
export const CONTRACT_CAPS: Capacities = {
  slotCap: 64, chunkSize: 1024, chunkCount: 256, appTimerCap: 4,
  eventCap: 64, submitCap: 256, noteCap: 64, supplyCap: 64,
};

export interface RigOptions {
  caps?: Partial<Capacities>;
  /** The simulated process's descriptor limit (sim only: a real host's comes from runLimited). */
  fdLimit?: number;
}

export interface Listening { fd: number; port: number; slot: number; gen: number }
export interface Conn { fd: number; slot: number; gen: number; peer: Peer }

/** A host on a core's memory, the test in the core's place, and peers. */
export class Rig {
  /** Top the supply ring up before each turn (a core keeps it filled). */
  autoSupply = true;
  /** Descriptors the host reported open and the test has not closed: closed at dispose. */
  readonly open = new Map<number, { slot: number; gen: number }>();
  private nextSlot = 1;

  private constructor(readonly backend: Backend, readonly host: Host, readonly core: Core, readonly ring: RingDriver, readonly world: World) {}

  static async create(backend: Backend, opts: RigOptions = {}, makeWorld?: () => World): Promise<Rig> {
    const caps = { ...CONTRACT_CAPS, ...(opts.caps ?? {}) };
    const o = resolveOptions({ ...backend.options, eventRing: caps.eventCap, supplyTarget: caps.supplyCap, ...(opts.fdLimit ? { sim: { fdLimit: opts.fdLimit } } : {}) });
    const logs: string[] = [];
    const host = createHost(o, (l) => logs.push(l));
    const t0 = performance.now();
    const clock = host.clock;
    const core = await Core.create("debug", caps, TEST_CONFIG, {
      clockNs: clock ? () => clock.clockNs() : () => BigInt(Math.round((performance.now() - t0) * 1e6)),
      random: clock ? (v) => clock.random(v) : (v) => { crypto.getRandomValues(v as Uint8Array<ArrayBuffer>); },
      log: (l) => logs.push(l),
    }).catch((err) => { host.close(); throw err; });
    host.attach(core);
    const world = makeWorld ? makeWorld() : host.kind === "sim" ? new SimWorld(host as unknown as SimNetwork) : new NetWorld();
    return new Rig(backend, host, core, new RingDriver(core), world);
  }

  /** A fresh (slot, gen) for a descriptor; generations differ from slots so a mix-up shows. */
  slot(): { slot: number; gen: number } {
    const slot = this.nextSlot++;
    if (slot >= this.core.caps.slotCap) throw new Error("contract rig: out of slots");
    return { slot, gen: 1000 + slot * 13 };
  }

  /** One turn as the reactor drives it (execute, wait(0), poll); returns the events it posted, taken. */
  async turn(waitMs = 0): Promise<Ev[]> {
    if (this.autoSupply) this.ring.supply();
    this.host.execute();
    const w = this.host.wait(waitMs);
    if (w instanceof Promise) await w;
    this.host.poll();
    const evs = this.ring.take();
    for (const e of evs) {
      if ((e.type === K.EV_ACCEPTED && e.err === 0) || (e.type === K.EV_SOCKET_OPENED && e.fd >= 0)) {
        if (this.open.has(e.fd)) throw new Error(`contract: ${this.backend.name} reported descriptor ${e.fd} open twice`);
        this.open.set(e.fd, e.type === K.EV_SOCKET_OPENED ? { slot: e.slot, gen: e.gen } : { slot: K.NONE, gen: 0 });
      }
    }
    return evs;
  }

  /**
   * Turns until pred(all events so far) holds; `each` sees every turn's events first (the core's
   * reflexes). `ms`: the time bound instead of the world's untilMs (world.recoveryMs for a wait
   * on TCP's own recovery).
   */
  async until(pred: (all: Ev[]) => boolean, what: string, each?: (evs: Ev[]) => void, ms?: number): Promise<Ev[]> {
    const w = this.world, all: Ev[] = [];
    const end = w.now() + (ms ?? w.untilMs);
    for (let i = 0; ; i++) {
      const evs = await this.turn();
      each?.(evs);
      all.push(...evs);
      if (pred(all)) return all;
      if (i >= w.untilTurns || w.now() > end) throw new Error(`${this.backend.name}: not reached: ${what}; the last events: ${evsText(all.slice(-12))}`);
      await w.tick();
    }
  }

  /** Runs turns for "a while" (the world says how long) and returns every event they posted. */
  async settle(each?: (evs: Ev[]) => void): Promise<Ev[]> {
    const w = this.world, all: Ev[] = [];
    const end = w.now() + w.settleMs;
    for (let i = 0; i < w.settleTurns || w.now() < end; i++) {
      const evs = await this.turn();
      each?.(evs);
      all.push(...evs);
      await w.tick();
    }
    return all;
  }

  /**
   * One turn that may wait up to `ms` for I/O. `waited`: the host let the time pass (it did not
   * come straight back: nothing it could report, and nothing spinning).
   */
  async idle(ms: number): Promise<{ waited: boolean; evs: Ev[] }> {
    const t0 = this.world.now();
    const evs = await this.turn(ms);
    const took = this.world.now() - t0;
    return { waited: took >= (this.world.real ? ms * 0.8 : ms), evs };
  }

  /** A listener on 127.0.0.1 (port 0), bound to a fresh slot with INTEREST(IN_READ). */
  async listen(backlog = 128): Promise<Listening> {
    const { fd, address } = this.host.listen({ host: "127.0.0.1", port: 0, backlog });
    const { slot, gen } = this.slot();
    this.open.set(fd, { slot, gen });
    this.ring.interest(slot, gen, fd, K.IN_READ);
    const evs = await this.turn();
    if (evs.length) throw new Error(`contract: a new listener posted ${evsText(evs)}`);
    return { fd, port: address.port, slot, gen };
  }

  /**
   * Dials n peers to the listener (`early` acts on each before the host accepts it), turns until
   * the host accepted them, and binds each to a fresh slot with INTEREST(mask, default IN_READ).
   */
  async accept(l: Listening, n = 1, opts: { mask?: number; early?: (p: Peer) => void } = {}): Promise<Conn[]> {
    const mask = opts.mask ?? K.IN_READ;
    const peers = Array.from({ length: n }, () => this.world.dial(l.port));
    if (opts.early) peers.forEach(opts.early);
    const evs = await this.until((all) => all.filter((e) => e.type === K.EV_ACCEPTED && e.slot === l.slot).length >= n, `${n} accepted`);
    const fds = evs.filter((e) => e.type === K.EV_ACCEPTED).map((e) => e.fd);
    await this.until(() => peers.every((p) => p.port !== undefined), "the peers know their ports");
    const conns = peers.map((peer) => {
      const fd = fds.find((f) => this.host.remoteAddress(f)?.port === peer.port);
      if (fd === undefined) throw new Error(`contract: no accepted descriptor has the peer's port ${peer.port}`);
      const { slot, gen } = this.slot();
      this.open.set(fd, { slot, gen });
      this.ring.interest(slot, gen, fd, mask);
      return { fd, slot, gen, peer };
    });
    return conns; // their INTERESTs run in the test's next turn
  }

  /** CONNECTs a fresh slot to `server`, turns until EV_CONNECTED, binds it (INTEREST mask). */
  async connect(server: PeerServer, mask: number = K.IN_READ): Promise<Conn> {
    const { slot, gen } = this.slot();
    const before = server.accepted.length;
    this.host.prepareConnect(slot, gen, { host: server.host, port: server.port });
    this.ring.connect(slot, gen);
    const evs = await this.until((all) => all.some((e) => e.slot === slot && (e.type === K.EV_CONNECTED || e.type === K.EV_CONNECT_FAILED || (e.type === K.EV_SOCKET_OPENED && e.fd < 0))), "the connect completes");
    const opened = evs.find((e) => e.type === K.EV_SOCKET_OPENED && e.slot === slot);
    const done = evs.find((e) => e.slot === slot && e.type === K.EV_CONNECTED);
    if (!opened || opened.fd < 0 || !done) throw new Error(`contract: connect failed: ${evsText(evs)}`);
    await this.until(() => server.accepted.length > before, "the server accepted");
    this.ring.interest(slot, gen, opened.fd, mask);
    return { fd: opened.fd, slot, gen, peer: server.accepted[before] };
  }

  /** Submits CLOSE (abortive with reset) and forgets the descriptor. */
  close(c: { fd: number; slot: number; gen: number }, reset = false): void {
    this.ring.close(c.slot, c.gen, c.fd, reset);
    this.open.delete(c.fd);
  }

  /** The host's count of contract violations (metrics().host.violations). */
  violations(): number | undefined { return this.host.hostMetrics?.(false)?.violations; }

  /** Closes what is open, then the host; `check`: and requires that nothing leaked. */
  async dispose(check: boolean): Promise<void> {
    const problems: string[] = [];
    try {
      for (const [fd, o] of this.open) this.ring.close(o.slot, o.gen, fd);
      this.open.clear();
      await this.turn();
      this.host.close();
      if ((this.host.leakedAtClose ?? 0) !== 0) problems.push(`${this.host.leakedAtClose} descriptors left open at close`);
    } finally {
      await this.world.close();
    }
    if (check && problems.length) throw new Error(`contract: ${this.backend.name} did not close clean: ${problems.join(", ")}`);
  }
}

/**
 * BACKENDS, or those named in CONTRACT_BACKENDS (comma-separated), to look at one while debugging
 * (CONTRACT_ONLY=text runs only the tests whose name holds it; CONTRACT_TIMES=1 prints each one's ms).
 */
export function selectedBackends(): Backend[] {
  const only = process.env.CONTRACT_BACKENDS?.split(",").filter(Boolean);
  return only?.length ? BACKENDS.filter((b) => only.includes(b.name)) : BACKENDS;
}

/** Why a backend cannot run here (the registry's own words), or undefined. */
export function unavailable(b: Backend): string | undefined {
  let host: Host;
  try { host = createHost(resolveOptions(b.options), () => {}); }
  catch (err) { return (err as Error).message; }
  // The epoll host throws when closed before attach ("turn before attach"): its two
  // descriptors are then left to the process, which is all a failed close could do anyway.
  try { host.close(); } catch { /* see above */ }
  return undefined;
}

const skipped = new WeakMap<Test, Set<string>>();
/**
 * A backend that cannot run here: one test per suite that says so (tests/helpers/skip.ts), not a
 * silent skip per test.
 */
export function skipBackend(test: Test, b: Backend, why: string): void {
  const seen = skipped.get(test) ?? new Set<string>();
  skipped.set(test, seen);
  if (seen.has(b.name)) return;
  seen.add(b.name);
  test(`${b.name}: every test of this suite`, () => skip(`backend ${b.name} cannot run here: ${why}`));
}

/**
 * Registers `body` once per backend as `<backend>: <name>`, each with a fresh rig, disposed
 * after (and checked to have closed clean when the body passed).
 */
export function contractTest(test: Test, name: string, body: (rig: Rig) => Promise<void>, opts: RigOptions = {}): void {
  const only = process.env.CONTRACT_ONLY;
  for (const b of selectedBackends()) {
    if (only && !`${b.name}: ${name}`.includes(only)) continue;
    const why = unavailable(b);
    if (why) { skipBackend(test, b, why); continue; }
    const out = scopedOut(b, name);
    if (out) { test(`${b.name}: ${name}`, () => skip(out)); continue; }
    test(`${b.name}: ${name}`, async () => {
      // Native code that hangs or crashes takes the process with it: name the test first, so
      // the runner's output of a timed-out or crashed suite says which one it was.
      if (b.options.host !== "sim") console.log(`  ▸ ${b.name}: ${name.slice(0, 90)}`);
      const t0 = performance.now();
      const rig = await Rig.create(b, opts);
      let failure: unknown;
      try { await body(rig); } catch (err) { failure = err; }
      try { await rig.dispose(failure === undefined); } catch (err) { failure ??= err; }
      if (process.env.CONTRACT_TIMES) console.log(`  ${(performance.now() - t0).toFixed(0).padStart(5)} ms  ${b.name}: ${name.slice(0, 70)}`);
      if (failure !== undefined) throw failure;
    });
  }
}

// ── limits only a child process can have ─────────────────────────────────────────────────
const CHILD_ENV = "WASM_REACTOR_CONTRACT_CHILD";

export type Scenario = (rig: Rig, fdLimit: number) => Promise<string>;

/**
 * The descriptor limit runLimited() gives a backend: small for the simulator (it counts only its
 * own sockets), and room for a real runtime's own descriptors (about 20-25 at start) plus some
 * dozens of sockets for a real host.
 */
const limitFor = (b: Backend): number => (b.options.host === "sim" ? 8 : 64);

/** Why runLimited() cannot run a backend here, or undefined. */
export function limitedUnavailable(b: Backend): string | undefined {
  return unavailable(b) ?? (b.options.host !== "sim" && !hasPrlimit() ? "no prlimit on this machine" : undefined);
}

/**
 * Runs `scenario` on a rig whose process has few descriptors (limitFor). The simulator takes
 * the limit as an option; a real host gets a child process under prlimit. Returns what the
 * scenario reported.
 */
export async function runLimited(b: Backend, scenarios: Record<string, Scenario>, name: string): Promise<string> {
  const scenario = scenarios[name];
  const fdLimit = limitFor(b);
  if (b.options.host === "sim") {
    const rig = await Rig.create(b, { fdLimit });
    let failure: unknown, out = "";
    try { out = await scenario(rig, fdLimit); } catch (err) { failure = err; }
    try { await rig.dispose(failure === undefined); } catch (err) { failure ??= err; }
    if (failure !== undefined) throw failure;
    return out;
  }
  return await childRun(b, name, fdLimit);
}

/** Whether prlimit exists (runLimited needs it for real hosts). */
const hasPrlimit = (): boolean => ["/usr/bin/prlimit", "/bin/prlimit"].some((p) => existsSync(p));

async function childRun(b: Backend, name: string, fdLimit: number): Promise<string> {
  const bundle = new URL(import.meta.url).pathname;
  const [cmd, args] = selfCommand(bundle);
  const child = spawn("prlimit", [`--nofile=${fdLimit}:${fdLimit}`, "--", cmd, ...args], {
    stdio: ["pipe", "pipe", "pipe"],
    env: { ...process.env, [CHILD_ENV]: JSON.stringify({ backend: b.name, name, fdLimit }), DENO_NO_UPDATE_CHECK: "1" },
  });
  const world = new NetWorld(); // the peers live here, not in the child
  let stderr = "";
  child.stderr!.setEncoding("utf8");
  child.stderr!.on("data", (d: string) => { stderr += d; });
  try {
    return await new Promise<string>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`contract child (${b.name}, ${name}): no answer in 30 s; stderr: ${stderr.slice(0, 2000)}`)), 30_000);
      child.on("exit", (code) => { clearTimeout(timer); reject(new Error(`contract child (${b.name}, ${name}) exited (${code}) without a verdict; stderr: ${stderr.slice(0, 2000)}`)); });
      onJsonLines<{ dial?: [number, number]; ok?: string; error?: string }>(child.stdout!, (m) => {
          if (m.dial) world.dialAll(m.dial[0], m.dial[1]).then(() => child.stdin!.write("dialed\n"), (err) => child.stdin!.write(`failed ${JSON.stringify(String(err?.message ?? err))}\n`));
          else if (m.ok !== undefined) { clearTimeout(timer); resolve(m.ok); }
          else if (m.error !== undefined) { clearTimeout(timer); reject(new Error(`in a child under prlimit --nofile=${fdLimit}: ${m.error}`)); }
      }, (line) => { stderr += `(stdout) ${line}\n`; });
    });
  } finally {
    if (child.exitCode === null && child.pid !== undefined) { try { process.kill(child.pid, "SIGKILL"); } catch { /* gone */ } }
    await world.close();
  }
}

/**
 * The child's world: its peers are dialled by the parent (a JSON line on stdout; the parent
 * answers "dialed" on stdin once they are connected), so they cost the child no descriptor. The
 * child sees them only through the host.
 */
class ChildWorld extends NetWorld {
  private answers: ((line: string) => void)[] = [];
  constructor() {
    super();
    onLines(process.stdin as unknown as Readable, (line) => { this.answers.shift()?.(line); });
  }
  override dial(): Peer { throw new Error("contract child: use dialAll (the parent dials)"); }
  override async dialAll(port: number, n: number): Promise<Peer[]> {
    const answer = new Promise<string>((res) => this.answers.push(res));
    process.stdout.write(JSON.stringify({ dial: [port, n] }) + "\n");
    const line = await answer;
    if (line !== "dialed") throw new Error(`contract child: the parent could not dial: ${line}`);
    const stub: Peer = { send() {}, end() {}, reset() {}, pauseReading() {}, resumeReading() {}, received: () => new Uint8Array(0), receivedBytes: 0, gotEnd: false, gotReset: false, port: undefined };
    return Array.from({ length: n }, () => stub);
  }
  override async close(): Promise<void> { process.stdin.pause(); await super.close(); }
}

/** In the child (the suite's entry calls this first): runs the named scenario and prints its verdict. Returns whether this is the child. */
export function contractChild(scenarios: Record<string, Scenario>): boolean {
  const cfg = process.env[CHILD_ENV];
  if (!cfg) return false;
  // Deno sets up signal handling lazily and panics if the process is out of descriptors by then.
  if (typeof (globalThis as { Deno?: unknown }).Deno !== "undefined") process.on("SIGTERM", () => process.exit(143));
  const { backend, name, fdLimit } = JSON.parse(cfg) as { backend: string; name: string; fdLimit: number };
  const say = (o: unknown) => new Promise<void>((res) => process.stdout.write(JSON.stringify(o) + "\n", () => res()));
  (async () => {
    const b = BACKENDS.find((x) => x.name === backend)!;
    const rig = await Rig.create(b, {}, () => new ChildWorld());
    let failure: unknown, out = "";
    try { out = await scenarios[name](rig, fdLimit); } catch (err) { failure = err; }
    try { await rig.dispose(failure === undefined); } catch (err) { failure ??= err; }
    await say(failure === undefined ? { ok: out } : { error: (failure as Error)?.stack ?? String(failure) });
    process.exit(0);
  })().catch(async (err) => { await say({ error: String(err?.stack ?? err) }); process.exit(1); });
  return true;
}
