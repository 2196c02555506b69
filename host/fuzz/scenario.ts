// What a fuzz scenario is, how one is drawn, and the schedule both backends play it by.
//
// How it works:
//  1. A scenario is a plain record (JSON): connection counts, arrival spread, message sizes,
//     which peers read slowly, half-close, reset or get aborted, outbound connections and the
//     kind of server each meets, pool and descriptor limits, timeouts, and fault odds.
//  2. fast-check draws it (swarm style: every run picks its own mix, so rare combinations come
//     up) and shrinks a failing one: every field shrinks toward its plainest value, one
//     connection, one small message, no faults.
//  3. The same description runs on either backend: host/fuzz/run-sim.ts plays it on the
//     simulated network (virtual ms), host/fuzz/run-epoll.ts over real loopback sockets (real
//     ms). Both take their timetable from inboundPlan()/outboundPlan() below, so "peer 3
//     resets after its second message" means the same on both.
//  4. Fault odds are backend-specific: `faults` are the simulator's (SimFaults), `native` the
//     fault-injecting shim's (the reactor option `faults`). A scenario drawn for one backend
//     carries zeros for the other's, so shrinking never spends a (real-socket) run on a field
//     that does nothing there.
import fc from "fast-check";
import type { Handlers } from "../reactor/reactor.ts";

/** The simulator's fault odds (host/backends/sim/sim.ts SimFaults, without clockJumpMaxMs). */
export interface SimFaultOdds {
  readPartialProbability: number; writePartialProbability: number; writeEagainProbability: number;
  resetProbability: number; epipeProbability: number; acceptEmfileProbability: number;
  acceptEnfileProbability: number; clockJumpProbability: number;
}

/** The fault-injecting shim's odds (the reactor option `faults`, besides its `seed`). */
export interface NativeFaultOdds {
  readEagainProbability: number; readShortProbability: number; writeEagainProbability: number;
  writeShortProbability: number; eintrProbability: number; resetProbability: number;
  epipeProbability: number; acceptEmfileProbability: number; acceptEnfileProbability: number;
  enobufsProbability: number; connectHangProbability: number;
}

export interface Scenario {
  /** The simulator's seed; the fault shim's seed on epoll. */
  seed: number;
  conns: number;
  arrivalSpreadMs: number;
  sizes: number[];
  messages: number;
  slowEvery: number;
  halfCloseEvery: number;
  resetEvery: number;
  abortEvery: number;
  serverEndEvery: number;
  /** The app resets every Nth connection right after echoing to it (the reply still queued). */
  appResetEvery?: number;
  /** Outbound: connections the app opens to servers that accept, refuse, or never answer. */
  outbound: number;
  outboundModes: OutboundMode[];
  poolChunks: number;
  chunkSize: number;
  fdLimit: number;
  idleTimeoutMs: number;
  writeStallTimeoutMs: number;
  faults: SimFaultOdds;
  /** epoll only: odds for the fault-injecting shim (absent in scenarios saved by the simulator). */
  native?: NativeFaultOdds;
  /** epoll only: edge-triggered instead of level-triggered. */
  edgeTriggered?: boolean;
  /**
   * epoll only: every this many turns, other JS runs between the host's poll and the core's
   * ingest (Reactor.run() lets it every 256 turns); 0: never.
   */
  pollIngestGapEvery?: number;
}

export type OutboundMode = "accept" | "refuse" | "blackhole";
export type FuzzHost = "sim" | "epoll" | "uring";

export const NO_SIM_FAULTS: SimFaultOdds = {
  readPartialProbability: 0, writePartialProbability: 0, writeEagainProbability: 0, resetProbability: 0,
  epipeProbability: 0, acceptEmfileProbability: 0, acceptEnfileProbability: 0, clockJumpProbability: 0,
};

/** A probability in steps of 1/10,000: shrinks to exactly 0 (a double stops at 5e-324). */
const p = (max: number) => fc.integer({ min: 0, max: Math.round(max * 10_000) }).map((x) => x / 10_000);

/** The fields every backend plays the same way. */
const common = {
  seed: fc.integer({ min: 0, max: 0xffff }),
  conns: fc.integer({ min: 1, max: 60 }),
  arrivalSpreadMs: fc.integer({ min: 0, max: 400 }),
  sizes: fc.array(fc.integer({ min: 1, max: 12_000 }), { minLength: 1, maxLength: 6 }),
  messages: fc.integer({ min: 1, max: 5 }),
  slowEvery: fc.integer({ min: 0, max: 4 }),
  halfCloseEvery: fc.integer({ min: 0, max: 4 }),
  resetEvery: fc.integer({ min: 0, max: 4 }),
  abortEvery: fc.integer({ min: 0, max: 6 }),
  serverEndEvery: fc.integer({ min: 0, max: 6 }),
  outbound: fc.integer({ min: 0, max: 20 }),
  outboundModes: fc.array(fc.constantFrom<OutboundMode>("accept", "refuse", "blackhole"), { minLength: 1, maxLength: 3 }),
  poolChunks: fc.integer({ min: 16, max: 128 }),
  chunkSize: fc.constantFrom(1024, 512, 4096),
  fdLimit: fc.integer({ min: 12, max: 200 }),
  idleTimeoutMs: fc.constantFrom(0, 300, 1500),
  writeStallTimeoutMs: fc.constantFrom(0, 800),
};

/** The simulator's scenarios (unchanged field order and ranges: a seed draws what it always drew). */
export const scenarioArb: fc.Arbitrary<Scenario> = fc.record({
  ...common,
  faults: fc.record({
    readPartialProbability: p(0.1), writePartialProbability: p(0.1), writeEagainProbability: p(0.1),
    resetProbability: p(0.01), epipeProbability: p(0.01), acceptEmfileProbability: p(0.05),
    acceptEnfileProbability: p(0.02), clockJumpProbability: p(0.02),
  }),
});

/**
 * Real-socket scenarios: the same fields, the shim's fault odds instead of the simulator's, and
 * the trigger mode. The odds are per syscall, so they are kept low enough that most bytes still
 * get through (a reset at 1% per read ends nearly every connection after a few reads). Without
 * the fault-injecting shim (`nativeFaults` false) the odds and the seed (the shim's fault seed)
 * do nothing, so they are constants: shrinking spends no real-socket run on them.
 */
export function epollScenarioArb(nativeFaults: boolean): fc.Arbitrary<Scenario> {
  const zero = fc.constant(0);
  const q = (max: number) => nativeFaults ? p(max) : zero;
  return fc.record({
    ...common,
    seed: nativeFaults ? common.seed : zero,
    faults: fc.constant(NO_SIM_FAULTS),
    native: fc.record({
      readEagainProbability: q(0.1), readShortProbability: q(0.1), writeEagainProbability: q(0.1),
      writeShortProbability: q(0.1), eintrProbability: q(0.05), resetProbability: q(0.005),
      epipeProbability: q(0.005), acceptEmfileProbability: q(0.05), acceptEnfileProbability: q(0.02),
      enobufsProbability: q(0.02), connectHangProbability: q(0.05),
    }),
    appResetEvery: fc.integer({ min: 0, max: 6 }),
    edgeTriggered: fc.boolean(),
    pollIngestGapEvery: fc.constantFrom(0, 256, 16, 1),
  });
}

/** What `fuzz --host` draws from. */
export function arbitraryFor(host: FuzzHost, nativeFaults: boolean): fc.Arbitrary<Scenario> {
  if (host === "uring") return epollScenarioArb(nativeFaults).map((sc) => ({ ...sc, edgeTriggered: false })); // completions: no trigger mode
  return host === "epoll" ? epollScenarioArb(nativeFaults) : scenarioArb;
}

// ── the timetable (ms from the start: virtual on sim, real on epoll) ─────────────────────

/** A slow reader's pace on the simulator (its peers read their replies at this rate). */
export const SLOW_BYTES_PER_MS = 16;
/** Gap between one peer's messages. */
export const MESSAGE_GAP_MS = 7;

export interface InboundPlan {
  /** When the peer connects. */
  at: number;
  slow: boolean;
  /** Its messages: when each is sent and how big it is. */
  sends: { at: number; size: number }[];
  /** What the peer does after its last message, and when. */
  finish: { at: number; kind: "reset" | "end" } | undefined;
}

/** Peer `i` of the scenario's inbound connections. */
export function inboundPlan(sc: Scenario, i: number): InboundPlan {
  const at = sc.arrivalSpreadMs ? Math.floor((i * sc.arrivalSpreadMs) / sc.conns) : 0;
  const sends = [];
  for (let m = 0; m < sc.messages; m++) sends.push({ at: at + 1 + m * MESSAGE_GAP_MS, size: sc.sizes[(i + m) % sc.sizes.length] });
  const after = at + 2 + sc.messages * MESSAGE_GAP_MS;
  const kind = sc.resetEvery && i % sc.resetEvery === 0 ? "reset" : sc.halfCloseEvery && i % sc.halfCloseEvery === 0 ? "end" : undefined;
  return { at, slow: sc.slowEvery !== 0 && i % sc.slowEvery === 0, sends, finish: kind ? { at: after, kind } : undefined };
}

export interface OutboundPlan { at: number; server: number; mode: OutboundMode; size: number }

/** The app's outbound connection `i`: when it starts, which server (one per mode entry) it meets. */
export function outboundPlan(sc: Scenario, i: number): OutboundPlan {
  const modes = outboundModesOf(sc), n = outboundCountOf(sc);
  const server = i % modes.length;
  return { at: Math.floor((i * (sc.arrivalSpreadMs + 1)) / Math.max(1, n)), server, mode: modes[server], size: sc.sizes[i % sc.sizes.length] };
}

// Scenarios saved before outbound connections existed run without them.
export const outboundModesOf = (sc: Scenario): OutboundMode[] => sc.outboundModes ?? ["accept"];
export const outboundCountOf = (sc: Scenario): number => sc.outbound ?? 0;

// ── the app (the same on every backend) ──────────────────────────────────────────────────

/**
 * The app on the listener: echo; abort some connections as they open (RST, dropping what they
 * queue), end some after a reply, reset some right after echoing (a teardown with a queue).
 */
export function listenerApp(sc: Scenario): Handlers {
  let served = 0, opened = 0, echoed = 0;
  return {
    open(c) { if (sc.abortEvery && ++opened % sc.abortEvery === 0) c.reset(); },
    data(c, d) {
      if (!c.writable) return;
      c.write(d);
      if (sc.appResetEvery && ++echoed % sc.appResetEvery === 0) { c.reset(); return; }
      if (sc.serverEndEvery && ++served % sc.serverEndEvery === 0) c.end();
    },
  };
}

/**
 * The app's outbound connection: writes a request of `o.size` bytes (0x55), ends once the echo
 * is back (or gives up on error). `onForeign` hears of reply bytes that are not the request's.
 */
export function outboundApp(o: OutboundPlan, onForeign?: () => void): Handlers {
  return {
    open(c) { c.write(new Uint8Array(o.size).fill(0x55)); c.data = 0; },
    data(c, d) {
      if (onForeign && d.some((b) => b !== 0x55)) onForeign();
      c.data = (c.data as number) + d.length;
      if ((c.data as number) >= o.size && c.writable) c.end();
    },
  };
}

/** When the last scheduled peer action happens. */
export function planEndMs(sc: Scenario): number { return sc.arrivalSpreadMs + 2 + sc.messages * MESSAGE_GAP_MS; }

/** Whether any of the shim's fault odds is above zero. */
export function hasNativeFaults(sc: Scenario): boolean { return !!sc.native && Object.values(sc.native).some((x) => x > 0); }

/** A one-line summary, for progress lines and reports. */
export function describeScenario(sc: Scenario): string {
  const faults = Object.entries({ ...sc.faults, ...(sc.native ?? {}) }).filter(([, v]) => v > 0).length;
  return `${sc.conns} conns, ${sc.messages}×[${sc.sizes.join(",")}] B, ${outboundCountOf(sc)} outbound (${outboundModesOf(sc).join("/")}), pool ${sc.poolChunks}×${sc.chunkSize}, fdLimit ${sc.fdLimit}, ${faults} fault kinds${sc.appResetEvery ? `, app resets every ${sc.appResetEvery}` : ""}${sc.edgeTriggered ? ", edge" : ""}${sc.pollIngestGapEvery ? `, poll/ingest gap every ${sc.pollIngestGapEvery}` : ""}`;
}
