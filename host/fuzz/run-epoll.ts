// One scenario over real loopback sockets: the epoll host, its peers node:net in this process
// (net-peers.ts), real time. Runs are not deterministic (the kernel schedules), so every run is
// recorded: a failing run's trace replays exactly (`wasm-reactor replay`), without the sockets.
//
//  1. The app is the simulator run's (run-sim.ts): echo on a listener, aborts, server ends,
//     outbound requests to an echo server, a refusing port and a blackhole (net-peers.ts).
//  2. The reactor runs in wait: "thread" (the JS thread stays free for the peers), driven here
//     turn by turn: turn(), the core's audit, then the host's wait and poll, as run() would, so
//     the invariants are checked after every turn. Every wait is bounded: a wait that never
//     returns is a failure, not a hang.
//  3. Faults: when the shim has the fault-injecting build (the reactor option `faults` exists),
//     the scenario's `native` odds are passed with its seed; otherwise the run has only what the
//     kernel does by itself, and the result says so (`nativeFaults: false`).
//  4. The active phase lasts the timetable plus SETTLE_MS; then every peer ends, and every
//     connection must close, and every peer socket see its close, within LIVENESS_MS. Then
//     close() and the leak checks: descriptors opened = closed, none left in the shim, no chunk
//     held, and this process's own open descriptors back to what they were before the run.
import { rmSync, mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { setImmediate as macrotask } from "node:timers/promises";
import { Reactor } from "../reactor/reactor.ts";
import { OPTION_SPECS } from "../options.ts";
import { type Scenario, listenerApp, outboundApp, inboundPlan, outboundPlan, outboundModesOf, outboundCountOf, planEndMs, hasNativeFaults } from "./scenario.ts";
import { type RunResult, turnProblem, closeProblem, assertionFailure, refusedAtLimit, hostViolations, nativeFaultCount } from "./checks.ts";
import { NetPeers } from "./net-peers.ts";
import { fdTable, fdDiff } from "./fds.ts";

/** After the timetable, before the peers end: replies in flight arrive, timeouts get a chance. */
const SETTLE_MS = 250;
/** After every peer ended: linger (300), connect timeout (500), and room for a loaded machine. */
const LIVENESS_MS = 5_000;
/** A wait may return late on a loaded machine, but not this late. */
const WAIT_GRACE_MS = 2_000;
/** The longest one turn's wait: the drive loop comes back at least this often. */
const MAX_WAIT_MS = 20;
/** Host counters (violations) are read every this many turns, and at the end. */
const HOST_CHECK_TURNS = 32;

/** Whether this build's shim takes fault odds (helper A's fault-injecting build). */
export const NATIVE_FAULTS_AVAILABLE = "faults" in OPTION_SPECS;

export interface EpollRunOptions {
  /** Which real-socket host: "epoll" (default) or "uring" (the same scenarios; no trigger mode). */
  host?: "epoll" | "uring";
  build?: "debug" | "broken" | "release";
  /** Keep this run's trace here (whatever the outcome). */
  record?: string;
  /** Where a failing run's trace goes when `record` is not given (default: a new temp dir). */
  traceDir?: string;
}

export interface EpollRunResult extends RunResult {
  /** Whether the shim injected faults (false until the fault-injecting build exists). */
  nativeFaults: boolean;
}

let runCounter = 0;
let warmedUp = false;

/** What a run keeps while it goes, so that a failure thrown from inside a turn still reports it. */
interface RunState { turns: number; t0: number; faults: boolean; listenerPort: number; serverPorts: number[] }

/**
 * Runs one scenario on real sockets (debug core by default) and checks the core's audit after
 * every turn, liveness, echo integrity and leaks. Stops by itself: at most about
 * timetable + SETTLE_MS + LIVENESS_MS + a few seconds of closing.
 */
export async function runOnEpoll(sc: Scenario, opts: EpollRunOptions = {}): Promise<EpollRunResult> {
  if (!warmedUp) { await warmUp(); warmedUp = true; }
  const fdsBefore = fdTable();
  // Every run records; a passing run's trace (and the temp dir made for it) is removed after.
  const ownDir = !opts.record && !opts.traceDir ? mkdtempSync(join(tmpdir(), "wr-fuzz-epoll-")) : undefined;
  const trace = opts.record ?? join(opts.traceDir ?? ownDir!, `${opts.host ?? "epoll"}-${sc.seed}-${process.pid}-${++runCounter}.trace`);
  const st: RunState = { turns: 0, t0: performance.now(), faults: NATIVE_FAULTS_AVAILABLE && hasNativeFaults(sc), listenerPort: 0, serverPorts: [] };
  const peers = new NetPeers();
  const lines: string[] = [];
  let r: Reactor | undefined;
  let res: EpollRunResult;
  try {
    const ports = st.serverPorts = await peers.startServers(outboundModesOf(sc));
    r = await Reactor.create({
      host: opts.host ?? "epoll", wait: "thread", build: opts.build ?? "debug", edgeTriggered: opts.host !== "uring" && sc.edgeTriggered === true,
      maxConnections: 256, poolChunks: sc.poolChunks, chunkSize: sc.chunkSize,
      idleTimeoutMs: sc.idleTimeoutMs, writeStallTimeoutMs: sc.writeStallTimeoutMs, lingerMs: 300, connectTimeoutMs: 500,
      fdLimit: sc.fdLimit, fdReserve: 4, fdHysteresis: 2, pauseReadsAtHighWater: true,
      log: (l) => { if (lines.length < 100) lines.push(l); },
      record: { path: trace, outputs: true },
      // The option exists only in the fault-injecting build's era (see NATIVE_FAULTS_AVAILABLE).
      ...(st.faults ? { faults: { seed: sc.seed, ...sc.native } } : {}),
    } as Parameters<typeof Reactor.create>[0]);
    res = await play(sc, r, peers, ports, lines, st);
    if (res.ok) {
      // This process's own descriptors: none of the run's left, none of anyone else's closed
      // (fds.ts; node:net closes a little late, so a leftover is looked at again for a while).
      await peers.close();
      const ports = { listener: st.listenerPort, servers: st.serverPorts };
      let d = fdDiff(fdsBefore, ports);
      for (let k = 0; k < 50 && (d.leaked.length || d.lost.length); k++) { await new Promise((z) => setTimeout(z, 20)); d = fdDiff(fdsBefore, ports); }
      if (d.leaked.length) res = { ...res, ok: false, failure: `descriptors: ${d.leaked.length} left open in this process after the run: ${d.leaked.slice(0, 3).join(", ")}` };
      else if (d.lost.length) res = { ...res, ok: false, failure: `descriptors: ${d.lost.length} that were open before the run were closed by it: ${d.lost.slice(0, 3).join(", ")}` };
    }
  } catch (err) {
    const assertion = assertionFailure(err);
    if (!assertion) throw err;
    res = { ok: false, failure: assertion, turns: st.turns, virtualMs: Math.round(performance.now() - st.t0), nativeFaults: st.faults };
  } finally {
    await peers.close();
    if (r) {
      r.recorder?.close();
      // A run that failed is closed abortively; a core that stopped on a failed assertion
      // cannot turn again, so its host is closed directly (its descriptors released).
      try { await r.close({ drainMs: 0 }); } catch { r.host.close(); }
    }
  }
  if (res.ok && !opts.record) rmSync(ownDir ?? trace, { recursive: true, force: true });
  else res.trace = trace;
  return res;
}

/** The run itself: the app, the timetable, the turns and the checks (the caller sets up and tears down). */
async function play(sc: Scenario, r: Reactor, peers: NetPeers, ports: number[], lines: string[], st: RunState): Promise<EpollRunResult> {
  let appProblem: string | undefined;
  const l = r.listen({ port: 0, backlog: 64 }, listenerApp(sc));
  st.listenerPort = l.port;
  const t0 = st.t0 = performance.now();
  const timers = new Set<ReturnType<typeof setTimeout>>();
  const at = (ms: number, fn: () => void) => { const t = setTimeout(() => { timers.delete(t); fn(); }, ms); timers.add(t); };
  for (let i = 0; i < outboundCountOf(sc); i++) {
    const o = outboundPlan(sc, i);
    at(o.at, () => {
      try {
        r.connect({ port: ports[o.server] }, outboundApp(o, () => { appProblem ??= `echo: outbound connection ${i} got bytes that are not its request's`; }));
      } catch (err) {
        if (!refusedAtLimit(err)) throw err; // at the limit: refused, as it should be
      }
    });
  }
  for (let i = 0; i < sc.conns; i++) peers.connect(l.port, i, inboundPlan(sc, i), t0);

  const firstViolation = () => lines.find((x) => /violat/i.test(x));
  const violations = () => {
    if (st.turns % HOST_CHECK_TURNS !== 0) return undefined;
    const v = hostViolations(r.metrics());
    return v ? `${v} counted by the host${firstViolation() ? `: ${firstViolation()}` : ""}` : undefined;
  };
  const gapEvery = sc.pollIngestGapEvery ?? 0;
  const fail = (why: string): EpollRunResult => ({ ok: false, failure: why, turns: st.turns, virtualMs: Math.round(performance.now() - t0), nativeFaults: st.faults });

  /** One turn, audited, then the host's bounded wait and its poll. */
  const turn = async (): Promise<string | undefined> => {
    let d = r.turn();
    st.turns++;
    const bad = turnProblem(r, st.turns, violations) ?? appProblem ?? peers.problem;
    if (bad) return bad;
    if (d < 0 || d > MAX_WAIT_MS) d = MAX_WAIT_MS;
    // Other JS (the peers, the app's timers) runs here every turn: between flush and execute,
    // where the core expects app calls (a connect takes its descriptor out of the accept
    // budget flush published), and during an async wait, which returns with what it polled.
    await macrotask();
    const w = r.host.wait(d);
    if (w instanceof Promise) {
      let timer: ReturnType<typeof setTimeout> | undefined;
      const late = await Promise.race([w.then(() => false), new Promise<boolean>((z) => { timer = setTimeout(() => z(true), d + WAIT_GRACE_MS); })]);
      clearTimeout(timer);
      if (late) return `host: a ${d} ms wait had not returned ${d + WAIT_GRACE_MS} ms later`;
    }
    r.host.poll();
    // And, as Reactor.run() does every 256 turns, between the host's poll and the core's
    // ingest: the events just polled (accepted descriptors among them) wait in the ring while
    // app code runs.
    if (gapEvery && st.turns % gapEvery === 0) await macrotask();
    return undefined;
  };

  try {
    // 1. The timetable, then a little more.
    const activeEnd = t0 + planEndMs(sc) + SETTLE_MS;
    while (performance.now() < activeEnd) { const bad = await turn(); if (bad) return fail(bad); }
    for (const t of timers) clearTimeout(t); // outbound connects not started by now are not started
    timers.clear();
    // 2. Liveness: every peer ends; every connection closes, and every peer sees its close.
    const endStart = performance.now();
    await peers.endAll();
    const deadline = endStart + LIVENESS_MS;
    let open = r.metrics().connections, peersOpen = peers.openCount();
    while (performance.now() < deadline && (open > 0 || peersOpen > 0)) {
      const bad = await turn();
      if (bad) return fail(bad);
      if (st.turns % 4 === 0) { open = r.metrics().connections; peersOpen = peers.openCount(); }
    }
    open = r.metrics().connections; peersOpen = peers.openCount();
    const since = Math.round(performance.now() - endStart);
    if (open > 0) return fail(`liveness: ${open} connections still open ${since} ms after every peer ended`);
    if (peersOpen > 0) return fail(`liveness: ${peersOpen} peer sockets not closed ${since} ms after every peer ended, although the reactor has no connection left`);
    const bad = appProblem ?? peers.problem;
    if (bad) return fail(bad);
    // 3. Close, and count what is left.
    const before = r.metrics();
    const report = await r.close({ drainMs: 1_000 });
    const after = r.metrics();
    const leak = closeProblem(report, after);
    if (leak) return fail(leak);
    const inv = r.checkInvariants();
    if (inv !== 0) return fail(`core invariant ${inv} broken after close`);
    const v = hostViolations(after);
    if (v) return fail(`host contract violation: ${v} counted by the host${firstViolation() ? `: ${firstViolation()}` : ""}`);
    return { ok: true, turns: st.turns, virtualMs: Math.round(performance.now() - t0), accepts: after.accepts, connects: after.connectsStarted, bytesIn: after.bytesIn, faults: nativeFaultCount(before), nativeFaults: st.faults };
  } finally {
    for (const t of timers) clearTimeout(t);
  }
}

/**
 * Once per process, before the first descriptor count: the first node:net sockets, the first
 * reactor (the shim loaded) and whatever a runtime opens lazily are opened then, not mid-run.
 */
async function warmUp(): Promise<void> {
  const peers = new NetPeers();
  const ports = await peers.startServers(["accept", "blackhole"]);
  const r = await Reactor.create({ host: "epoll", wait: "thread", build: "debug", maxConnections: 8, poolChunks: 8, chunkSize: 1024, log: () => {} });
  let got = false;
  r.connect({ port: ports[0] }, { open(c) { c.write("warm"); }, data(c) { got = true; c.end(); } });
  const end = performance.now() + 2_000;
  while (!got && performance.now() < end) {
    r.turn();
    const w = r.host.wait(5);
    if (w instanceof Promise) await w; else await macrotask();
    r.host.poll();
  }
  await r.close({ drainMs: 200 });
  await peers.close();
}
