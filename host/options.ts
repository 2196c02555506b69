// Reactor options: every option with its type, range, default, and why that default.
// Validation names the option, what was given and what is allowed.
import { ReactorError } from "./errors.ts";

type Kind = "int" | "bool" | "enum" | "object" | "number" | "keepalive";
export type PresetName = "server" | "echo" | "small";
interface Spec { kind: Kind; def: unknown; min?: number; max?: number; pow2?: boolean; values?: readonly string[]; why: string }

export const OPTION_SPECS = {
  preset: { kind: "enum", def: "none", values: ["none", "server", "echo", "small"], why: "a named set of the options below for a kind of program (PRESETS: each value with its reason); options given explicitly override the preset's" },
  host: { kind: "enum", def: "auto", values: ["sim", "epoll", "kqueue", "portable", "uring", "auto"], why: "which backend drives the core: 'auto' takes WASM_REACTOR_HOST when set, else on Linux io_uring where the kernel allows it (else epoll, with one log line saying why), on macOS/FreeBSD kqueue, else the portable host (the runtime's own sockets) with one log line saying why; 'sim' is the seeded simulated network" },
  wait: { kind: "enum", def: "thread", values: ["thread", "block"], why: "real hosts: 'thread' never blocks the JS thread (a poller thread wakes it); 'block' waits in epoll_wait itself: for a worker or a process that only serves" },
  edgeTriggered: { kind: "bool", def: false, why: "epoll: register each socket once with EPOLLET and keep a ready list (fewer epoll_ctl calls); level-triggered is the default" },
  noDelay: { kind: "bool", def: true, why: "TCP_NODELAY on every socket: small messages leave at once (latency over packet count)" },
  prefaultPool: { kind: "bool", def: false, why: "touch every pool page at create: the pool's RSS is paid up front (predictable memory) and the hot path never page-faults" },
  shedOnEmfile: { kind: "bool", def: false, why: "keep one descriptor in reserve; on EMFILE accept-and-reset one pending client instead of leaving it hanging in the queue" },
  build: { kind: "enum", def: "release", values: ["release", "debug", "broken"], why: "which core: release for speed, debug asserts every invariant it guards (tests), broken is the fuzzer's self-test" },
  maxConnections: { kind: "int", def: 10_000, min: 1, max: 4_000_000, why: "connection slots, fixed at init: 64 B each plus two 16 B timer nodes (96 B per connection)" },
  chunkSize: { kind: "int", def: 16_384, min: 256, max: 1 << 20, pow2: true, why: "one read fills at most one chunk; 16 KiB matches a typical socket read and TLS record" },
  poolChunks: { kind: "int", def: 1024, min: 4, max: 1 << 20, why: "the buffer pool (16 MiB by default); idle connections hold no chunk" },
  timers: { kind: "int", def: 1024, min: 0, max: 1 << 24, why: "app timers (reactor.setTimeout), beside the two per connection" },
  eventRing: { kind: "int", def: 4096, min: 16, max: 1 << 20, pow2: true, why: "events per turn at most; larger batches amortise the crossing, smaller ones bound a turn" },
  submitRing: { kind: "int", def: 8192, min: 32, max: 1 << 20, pow2: true, why: "submissions per turn at most (writes, closes, interest changes)" },
  noteRing: { kind: "int", def: 8192, min: 32, max: 1 << 20, pow2: true, why: "notifications to handlers per turn at most" },
  supplyTarget: { kind: "int", def: 256, min: 1, max: 1 << 16, why: "chunks kept ready for the host's reads: enough for a turn's reads at the default budgets" },
  idleTimeoutMs: { kind: "int", def: 0, min: 0, max: 0x7fffffff, why: "close connections with no traffic for this long (0: never); harvested gracefully" },
  connectTimeoutMs: { kind: "int", def: 10_000, min: 0, max: 0x7fffffff, why: "outbound connects that take longer fail with ETIMEDOUT (0: never)" },
  handshakeTimeoutMs: { kind: "int", def: 0, min: 0, max: 0x7fffffff, why: "accepted connections must send a first byte within this (0: off); cuts idle slowloris sockets" },
  writeStallTimeoutMs: { kind: "int", def: 0, min: 0, max: 0x7fffffff, why: "queued bytes with no write progress for this long: the peer stopped reading, abort (0: off)" },
  lingerMs: { kind: "int", def: 5_000, min: 0, max: 0x7fffffff, why: "after our FIN, wait this long for the peer's before giving up abortively" },
  highWaterBytes: { kind: "int", def: 65_536, min: 1, max: 0x7fffffff, why: "per-connection queued bytes above which write() says wait and reading pauses" },
  pauseReadsAtHighWater: { kind: "bool", def: false, why: "stop reading a connection while its own write queue is above highWaterBytes: right for echo-like protocols, where reads feed that queue; off by default, because a connection streaming both ways at once would then wait on itself (use pause()/resume() to couple two connections, as a proxy does)" },
  lowWaterBytes: { kind: "int", def: 16_384, min: 0, max: 0x7fffffff, why: "queued bytes at or below which reading resumes and drain fires" },
  acceptsPerTurn: { kind: "int", def: 128, min: 1, max: 1 << 16, why: "accepts per turn over all listeners: an accept storm cannot starve established connections" },
  readsPerConnPerTurn: { kind: "int", def: 4, min: 1, max: 1024, why: "chunks read per connection per turn (64 KiB at 16 KiB chunks): one fast peer cannot starve the rest" },
  expiriesPerTurn: { kind: "int", def: 4096, min: 1, max: 1 << 20, why: "timers fired per turn; the rest carry over, so a clock jump is no avalanche" },
  poolReserveChunks: { kind: "int", def: 0, min: 0, max: 1 << 20, why: "free chunks kept for writes: below it reads and accepts pause (0: poolChunks/16, at least 4)" },
  raiseFdLimit: { kind: "bool", def: true, why: "native hosts: at start raise RLIMIT_NOFILE's soft limit to the hard limit (as Go and the JVM do), with one log line, so the budget starts from what the operator granted rather than select()'s 1024; the portable host cannot (docs/limits.md)" },
  keepAlive: { kind: "keepalive", def: false, why: "{ idleS, intervalS, count } (or true: 60, 10, 6): SO_KEEPALIVE on every accepted and connected socket, so a peer that vanished (power cut, NAT dropped the flow) is found after idleS + intervalS*count s without an app-level ping; off by default: at 1M idle connections a 60 s idle time is ~17k probes a second (docs/limits.md)" },
  userTimeoutMs: { kind: "int", def: 0, min: 0, max: 0x7fffffff, why: "TCP_USER_TIMEOUT (Linux) on every accepted and connected socket: written bytes unacknowledged this long end the connection with ETIMEDOUT, so a dead peer with data queued is found without waiting for ~15 retransmits (~15 min); 0: the kernel's default" },
  fdLimit: { kind: "int", def: 0, min: 0, max: 1 << 30, why: "descriptor limit the budget starts from (0: ask the host: RLIMIT_NOFILE and kin)" },
  fdReserve: { kind: "int", def: 32, min: 0, max: 1 << 20, why: "descriptors kept back for the process (logs, files, the poller)" },
  fdHysteresis: { kind: "int", def: 16, min: 0, max: 1 << 20, why: "at the budget, accepting resumes only this far below it: no flapping" },
  acceptBackoffMs: { kind: "int", def: 10, min: 1, max: 60_000, why: "first pause of a listener after EMFILE/ENFILE (doubles each time)" },
  acceptBackoffMaxMs: { kind: "int", def: 1_000, min: 1, max: 600_000, why: "longest pause of a listener after EMFILE/ENFILE" },
  allowHalfOpen: { kind: "bool", def: false, why: "keep our side open after the peer's FIN (default: end ours too, like node:net)" },
  seed: { kind: "int", def: 1, min: 0, max: 0xffffffff, why: "the simulator's seed: same seed, same run" },
  sim: { kind: "object", def: undefined, why: "simulator settings: fault odds, descriptor limit, latency (see SimOptions in host/backends/sim/sim.ts)" },
  faults: { kind: "object", def: undefined, why: "host 'epoll' only: { seed, readEagainProbability, readShortProbability, writeEagainProbability, writeShortProbability, eintrProbability, resetProbability, epipeProbability, acceptEmfileProbability, acceptEnfileProbability, enobufsProbability, connectHangProbability, ctlEnospcProbability }: the shim's faults build injects what the kernel can do, with these seeded odds, so real sockets meet the faults the simulator makes up (fuzz --host epoll); each kind keeps the kernel's contract (shims/native/faults.c)" },
  record: { kind: "object", def: undefined, why: "{ path, maxBytes?, outputs? }: write a trace of everything the core sees, for `wasm-reactor replay` (recording stops with a log line past maxBytes, default 256 MiB)" },
  keepChunksPerConnection: { kind: "int", def: 8, min: 0, max: 1 << 16, why: "chunks one connection may keep past its data callbacks (conn.keep(): a frame split over reads, without a copy); each is a whole pool chunk that reads cannot use until released (0: keep() always declines)" },
  log: { kind: "object", def: undefined, why: "a function(line) for the core's and the reactor's log lines (default: console.error)" },
} as const satisfies Record<string, Spec>;

export type OptionName = keyof typeof OPTION_SPECS;

type PresetValues = { [K in Exclude<keyof ReactorOptions, "preset" | "sim" | "record" | "log">]?: { value: NonNullable<ReactorOptions[K]>; why: string } };
interface Preset { why: string; values: PresetValues }

/**
 * Named presets: the settings a kind of program wants, each with why, so a server does not
 * have to collect them from prose. `Reactor.create({ preset: "echo", idleTimeoutMs: 30_000 })`
 * takes the preset's values, then the options given (explicit options always win). Not in any
 * preset: how the reactor waits (`wait`: "block" only suits a worker; startWorkers() sets it)
 * and sizes that depend on the app (maxConnections, timeouts).
 */
export const PRESETS: Record<PresetName, Preset> = {
  server: {
    why: "a server facing many clients (what `wasm-reactor serve` is built on)",
    values: {
      edgeTriggered: { value: true, why: "each socket is registered once (EPOLLET) and served from a ready list in arrival order: at 10,000 busy connections p99.9 was 104–126 ms edge against 184–205 ms level at equal msgs/s (docs/benchmarks.md)" },
      poolChunks: { value: 2048, why: "32 MiB of pool address space at 16 KiB chunks: room for a full supply ring (512) and the write queues of 10,000 busy connections; pages become resident only as chunks are used" },
      supplyTarget: { value: 512, why: "the supply ring is refilled once per turn, so it bounds the reads of a turn: 512 keeps one turn's batch large at 10,000 busy connections (the default 256 halves it)" },
      prefaultPool: { value: false, why: "memory grows with use: an idle server holds no pool pages. Prefaulting made serve start at 98.8 MiB instead of 68.9; unprefaulted, each pool page faults once in the process's life (8,192 at most for 32 MiB), and server CPU per message at 10,000 connections showed no difference (node tests/bench/net.mjs --servers ours,ours-prefault,node)" },
    },
  },
  echo: {
    why: "a server whose replies are made from what it reads (echo, and request/response protocols such as HTTP/1.1 or Redis): the server preset plus read pausing",
    values: {
      edgeTriggered: { value: true, why: "as in the server preset" },
      poolChunks: { value: 2048, why: "as in the server preset" },
      supplyTarget: { value: 512, why: "as in the server preset" },
      prefaultPool: { value: false, why: "as in the server preset" },
      pauseReadsAtHighWater: { value: true, why: "a peer that sends without reading would grow its reply queue without bound; with reads paused above highWaterBytes the queue grows by at most one turn's reads past it" },
    },
  },
  small: {
    why: "a process holding a few connections (a client, a test, a sidecar): about 2.2 MiB of core memory instead of 18.4 MiB (memoryBytes() of each)",
    values: {
      maxConnections: { value: 1024, why: "a few connections; slots are written at init (96 B each), so fewer slots is less memory at start" },
      poolChunks: { value: 64, why: "1 MiB of pool at 16 KiB chunks" },
      supplyTarget: { value: 16, why: "at most a quarter of the pool waits in the supply ring" },
      eventRing: { value: 256, why: "small batches suit few connections; 24 B per event" },
      submitRing: { value: 512, why: "twice the event ring, as in the defaults" },
      noteRing: { value: 512, why: "twice the event ring, as in the defaults" },
      timers: { value: 64, why: "a few app timers" },
    },
  },
};

/** The options a preset stands for (its values without the reasons). */
export function presetOptions(name: PresetName): ReactorOptions {
  const p = PRESETS[name];
  if (!p) invalid("preset", name, `one of ${OPTION_SPECS.preset.values.map((s) => `'${s}'`).join(", ")}`);
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(p.values)) out[k] = (v as { value: unknown }).value;
  return out as ReactorOptions;
}

export interface ReactorOptions {
  /** A named set of options (PRESETS); explicit options override it. */
  preset?: "none" | PresetName;
  host?: "sim" | "epoll" | "kqueue" | "portable" | "uring" | "auto";
  wait?: "thread" | "block";
  edgeTriggered?: boolean;
  noDelay?: boolean;
  shedOnEmfile?: boolean;
  prefaultPool?: boolean;
  build?: "release" | "debug" | "broken";
  maxConnections?: number;
  chunkSize?: number;
  poolChunks?: number;
  timers?: number;
  eventRing?: number;
  submitRing?: number;
  noteRing?: number;
  supplyTarget?: number;
  idleTimeoutMs?: number;
  connectTimeoutMs?: number;
  handshakeTimeoutMs?: number;
  writeStallTimeoutMs?: number;
  lingerMs?: number;
  highWaterBytes?: number;
  lowWaterBytes?: number;
  acceptsPerTurn?: number;
  readsPerConnPerTurn?: number;
  expiriesPerTurn?: number;
  poolReserveChunks?: number;
  /** Raise RLIMIT_NOFILE's soft limit to the hard one at start (native hosts; default true). */
  raiseFdLimit?: boolean;
  /** TCP keepalive on every accepted and connected socket: { idleS, intervalS, count } (true: 60, 10, 6), or false (default). */
  keepAlive?: boolean | { idleS?: number; intervalS?: number; count?: number };
  /** TCP_USER_TIMEOUT in ms on every accepted and connected socket (Linux; 0: off). */
  userTimeoutMs?: number;
  fdLimit?: number;
  fdReserve?: number;
  fdHysteresis?: number;
  acceptBackoffMs?: number;
  acceptBackoffMaxMs?: number;
  allowHalfOpen?: boolean;
  pauseReadsAtHighWater?: boolean;
  keepChunksPerConnection?: number;
  seed?: number;
  sim?: Record<string, unknown>;
  /** Host 'epoll' only: seeded kernel fault odds (see OPTION_SPECS.faults). */
  faults?: { seed?: number } & { [kind: string]: number | undefined };
  record?: { path: string; maxBytes?: number; outputs?: boolean };
  log?: (line: string) => void;
}

export type ResolvedOptions = Required<Omit<ReactorOptions, "sim" | "log" | "record" | "faults" | "keepAlive">> & Pick<ReactorOptions, "sim" | "log" | "record" | "faults"> & { keepAlive: KeepAliveSettings | false };

/** TCP keepalive as resolved: seconds idle before the first probe, seconds between probes, probes unanswered before the connection ends. */
export interface KeepAliveSettings { idleS: number; intervalS: number; count: number }
/** keepAlive: true means these (a dead peer found after 60 + 10 × 6 = 120 s). */
export const KEEPALIVE_DEFAULTS: KeepAliveSettings = { idleS: 60, intervalS: 10, count: 6 };
/** Linux's bounds (MAX_TCP_KEEPIDLE, MAX_TCP_KEEPINTVL, MAX_TCP_KEEPCNT): setsockopt refuses more. */
const KEEPALIVE_MAX: KeepAliveSettings = { idleS: 32767, intervalS: 32767, count: 127 };

/** Checks option keepAlive: false, true, or { idleS?, intervalS?, count? } (integers from 1 to Linux's bounds). */
export function checkKeepAlive(v: unknown): KeepAliveSettings | false {
  if (v === false) return false;
  if (v === true) return { ...KEEPALIVE_DEFAULTS };
  if (typeof v !== "object" || v === null || Array.isArray(v)) invalid("keepAlive", v, "false, true, or { idleS, intervalS, count }");
  const o = v as Record<string, unknown>;
  for (const k of Object.keys(o)) if (!(k in KEEPALIVE_DEFAULTS)) throw new ReactorError("ERR_INVALID_OPTION", `wasm-reactor: option 'keepAlive' has no field '${k}'; known: idleS, intervalS, count`);
  const out = { ...KEEPALIVE_DEFAULTS };
  for (const k of Object.keys(KEEPALIVE_DEFAULTS) as (keyof KeepAliveSettings)[]) {
    const x = o[k];
    if (x === undefined) continue;
    if (typeof x !== "number" || !Number.isInteger(x) || x < 1 || x > KEEPALIVE_MAX[k]) invalid(`keepAlive.${k}`, x, `an integer from 1 to ${KEEPALIVE_MAX[k]}`);
    out[k] = x;
  }
  return out;
}

function invalid(name: string, given: unknown, allowed: string): never {
  const shown = typeof given === "string" ? JSON.stringify(given) : typeof given === "function" ? "a function" : String(given);
  throw new ReactorError("ERR_INVALID_OPTION", `wasm-reactor: option '${name}' must be ${allowed}, got ${shown}`);
}

/** Checks every option; returns them with defaults filled in. Unknown names are an error too. */
export function resolveOptions(input: ReactorOptions | undefined): ResolvedOptions {
  if (input !== undefined && (typeof input !== "object" || input === null || Array.isArray(input))) {
    throw new ReactorError("ERR_INVALID_OPTION", `wasm-reactor: options must be an object, got ${Array.isArray(input) ? "an array" : String(input)}`);
  }
  let given = (input ?? {}) as Record<string, unknown>;
  for (const name of Object.keys(given)) {
    if (!(name in OPTION_SPECS)) {
      const near = Object.keys(OPTION_SPECS).find((k) => k.toLowerCase() === name.toLowerCase());
      throw new ReactorError("ERR_INVALID_OPTION", `wasm-reactor: unknown option '${name}'${near ? ` (did you mean '${near}'?)` : ""}; known: ${Object.keys(OPTION_SPECS).join(", ")}`);
    }
  }
  // A preset fills in what the caller did not give (an explicit `undefined` counts as not given).
  const preset = given.preset;
  if (preset !== undefined && preset !== "none") {
    if (typeof preset !== "string" || !Object.hasOwn(PRESETS, preset)) invalid("preset", preset, `one of ${OPTION_SPECS.preset.values.map((s) => `'${s}'`).join(", ")}`);
    const explicit = Object.fromEntries(Object.entries(given).filter(([, v]) => v !== undefined));
    given = { ...presetOptions(preset as PresetName), ...explicit };
  }
  const out: Record<string, unknown> = {};
  for (const [name, spec] of Object.entries(OPTION_SPECS) as [string, Spec][]) {
    const v = given[name];
    if (v === undefined) { out[name] = spec.def; continue; }
    switch (spec.kind) {
      case "int":
        if (typeof v !== "number" || !Number.isInteger(v)) invalid(name, v, `an integer from ${spec.min} to ${spec.max}`);
        if (v < spec.min! || v > spec.max!) invalid(name, v, `an integer from ${spec.min} to ${spec.max}`);
        if (spec.pow2 && (v & (v - 1)) !== 0) invalid(name, v, `a power of two from ${spec.min} to ${spec.max}`);
        break;
      case "bool":
        if (typeof v !== "boolean") invalid(name, v, "true or false");
        break;
      case "enum":
        if (typeof v !== "string" || !spec.values!.includes(v)) invalid(name, v, `one of ${spec.values!.map((s) => `'${s}'`).join(", ")}`);
        break;
      case "keepalive":
        out[name] = checkKeepAlive(v);
        continue;
      case "object":
        if (name === "log") { if (typeof v !== "function") invalid(name, v, "a function (line: string) => void"); }
        else if (typeof v !== "object" || v === null) invalid(name, v, "an object");
        break;
    }
    out[name] = v;
  }
  const o = out as ResolvedOptions;
  if (o.lowWaterBytes > o.highWaterBytes) invalid("lowWaterBytes", o.lowWaterBytes, `at most highWaterBytes (${o.highWaterBytes})`);
  if (o.acceptBackoffMaxMs < o.acceptBackoffMs) invalid("acceptBackoffMaxMs", o.acceptBackoffMaxMs, `at least acceptBackoffMs (${o.acceptBackoffMs})`);
  if (o.poolReserveChunks === 0) o.poolReserveChunks = Math.max(4, Math.floor(o.poolChunks / 16));
  if (o.poolReserveChunks >= o.poolChunks) invalid("poolReserveChunks", o.poolReserveChunks, `below poolChunks (${o.poolChunks})`);
  if (o.supplyTarget > o.eventRing) invalid("supplyTarget", o.supplyTarget, `at most eventRing (${o.eventRing})`);
  return o;
}

export function describeOptions(): string {
  const options = Object.entries(OPTION_SPECS as Record<string, Spec>)
    .map(([name, s]) => `  ${name.padEnd(22)} default ${JSON.stringify(s.def) ?? "-"}: ${s.why}`);
  const presets = Object.entries(PRESETS).flatMap(([name, p]) => [`  preset "${name}": ${p.why}`,
    ...Object.entries(p.values).map(([k, v]) => `    ${k.padEnd(20)} ${JSON.stringify((v as { value: unknown }).value)}: ${(v as { why: string }).why}`)]);
  return [...options, "", ...presets].join("\n");
}
