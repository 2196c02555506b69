// Helpers for the suites on real sockets (host: "epoll", tests/net/).
//
//   netReactor(opts)       an epoll reactor (or { host: "sim" }) with the debug core, modest
//                          capacities, its log lines kept and every handler watched: a handler
//                          that threw fails the next until() and closeClean(). In wait: "thread"
//                          it is started with run().
//   until(r, pred, what)   drives (block mode) or awaits (thread mode) until pred() holds, bounded
//                          in real time; fails with `what` and a short status otherwise.
//   closeClean(r)          close({ drainMs }), then: no descriptor leaked (report, core metrics
//                          fdOpens === fdCloses, the shim's fdsOpen 0), no chunk held, no
//                          connection or listener left, invariants 0, no handler threw.
//   selfCommand(file)      how to start this runtime on a bundle (child processes).

import { Reactor, type ReactorOptions, type Handlers, type CloseReport, type MetricsSnapshot } from "../../host/index.ts";

export { bytes, equalBytes } from "./sim.ts";

/** What every net suite starts from; a test overrides what it exercises. */
export const NET_DEFAULTS: ReactorOptions = {
  host: "epoll", build: "debug", wait: "block", maxConnections: 4096, poolChunks: 256, chunkSize: 4096,
};

interface NetState {
  lines: string[];
  thrown: string[];
  running?: Promise<void>;
  runError?: unknown;
  wrapped: WeakMap<Handlers, Handlers>;
}
const states = new WeakMap<Reactor, NetState>();
/** Reactors made here and not yet closed: a failed test's leftovers are closed by abandonAll(). */
const live = new Set<Reactor>();

const runtime: "deno" | "bun" | "node" = typeof (globalThis as { Deno?: unknown }).Deno !== "undefined" ? "deno"
  : typeof (globalThis as { Bun?: unknown }).Bun !== "undefined" ? "bun" : "node";
export function runtimeName(): "deno" | "bun" | "node" { return runtime; }

/**
 * An epoll reactor for a test. `run` (default: wait is "thread") starts r.run() at once, so
 * thread-mode tests only await conditions; block-mode tests drive it with until()/step().
 */
export async function netReactor(options: ReactorOptions = {}, extra: { run?: boolean } = {}): Promise<Reactor> {
  const st: NetState = { lines: [], thrown: [], wrapped: new WeakMap() };
  const r = await Reactor.create({ ...NET_DEFAULTS, log: (l) => st.lines.push(l), ...options });
  states.set(r, st);
  live.add(r);
  // Watch every handler: the reactor catches a throw (reports it to `error` or the log, and
  // resets that connection), so a failed assertion inside a handler would otherwise pass quietly.
  const listen = r.listen.bind(r), connect = r.connect.bind(r);
  r.listen = (o, h) => listen(o, watch(st, h));
  r.connect = (o, h) => connect(o, watch(st, h));
  if (extra.run ?? r.options.wait === "thread") {
    st.running = r.run().catch((err) => { st.runError = err; });
  }
  return r;
}

function watch(st: NetState, h: Handlers): Handlers {
  if (typeof h !== "object" || h === null) return h; // let the reactor refuse it
  let w = st.wrapped.get(h);
  if (w) return w;
  w = {};
  for (const [k, fn] of Object.entries(h)) {
    if (typeof fn !== "function") { (w as Record<string, unknown>)[k] = fn; continue; }
    (w as Record<string, unknown>)[k] = function (this: unknown, ...args: unknown[]) {
      try { return (fn as (...a: unknown[]) => unknown).apply(h, args); }
      catch (err) { st.thrown.push(`${k}: ${(err as Error)?.stack ?? String(err)}`); throw err; }
    };
  }
  st.wrapped.set(h, w);
  return w;
}

export function logLines(r: Reactor): string[] { return states.get(r)?.lines ?? []; }

/** Throws if a handler threw, the run() loop failed, or the log says a handler threw. */
export function checkHealth(r: Reactor): void {
  const st = states.get(r);
  if (!st) return;
  if (st.thrown.length) throw new Error(`a handler threw: ${st.thrown[0]}`);
  if (st.runError) throw new Error(`run() failed: ${(st.runError as Error)?.stack ?? String(st.runError)}`);
  const threw = st.lines.filter((l) => l.includes("threw"));
  if (threw.length) throw new Error(`the reactor logged: ${threw[0]}`);
}

export const sleep = (ms: number): Promise<void> => new Promise((res) => setTimeout(res, ms));

/**
 * Until pred() holds, at most `ms` of real time. Block-mode reactors are stepped here (each
 * step waits at most a few ms, so pred is looked at soon after a handler made it true);
 * thread-mode reactors run by themselves and are only awaited. Several reactors may be given.
 */
export async function until(rs: Reactor | Reactor[], pred: () => boolean, what: string, ms = 5000): Promise<void> {
  const list = Array.isArray(rs) ? rs : [rs];
  const blocking = list.filter((r) => r.options.wait === "block");
  const end = performance.now() + ms;
  for (let i = 0; ; i++) {
    for (const r of list) checkHealth(r);
    if (pred()) break;
    const left = end - performance.now();
    if (left <= 0) throw new Error(`timed out after ${ms} ms waiting for: ${what}; ${status(list)}`);
    if (blocking.length) {
      // One may wait briefly in epoll_wait; the others only poll, so none starves.
      blocking.forEach((r, k) => r.step(k === 0 && blocking.length === list.length ? Math.min(5, Math.ceil(left)) : 0));
      if (blocking.length < list.length && i % 8 === 7) await sleep(0);
    } else {
      await sleep(i < 50 ? 1 : 3);
    }
  }
  for (const r of list) {
    const inv = r.checkInvariants();
    if (inv !== 0) throw new Error(`core invariant ${inv} broken after: ${what}`);
  }
}

function status(list: Reactor[]): string {
  return list.map((r, i) => {
    try { const m = r.metrics(); return `reactor ${i}: connections ${m.connections}, accepts ${m.accepts}, bytesIn ${m.bytesIn}, bytesOut ${m.bytesOut}, fdsOpen ${m.fdsOpen}`; }
    catch (err) { return `reactor ${i}: ${(err as Error).message}`; }
  }).join("; ");
}

/** Open descriptors of this process. */

export interface CleanReport { report: CloseReport; metrics: MetricsSnapshot }

/** Closes the reactor and checks that nothing leaked. Returns close()'s report and the last metrics. */
export async function closeClean(r: Reactor, drainMs = 1000): Promise<CleanReport> {
  const st = states.get(r);
  live.delete(r);
  const report = await r.close({ drainMs });
  if (st?.running) await st.running;
  const m = r.metrics();
  const problems: string[] = [];
  if (report.leakedDescriptors !== 0) problems.push(`close() reports ${report.leakedDescriptors} leaked descriptors`);
  if (m.fdOpens !== m.fdCloses) problems.push(`core: opens ${m.fdOpens} != closes ${m.fdCloses}`);
  if (m.fdsOpen !== 0) problems.push(`core: fdsOpen ${m.fdsOpen}`);
  if (m.host && m.host.fdsOpen !== 0) problems.push(`shim: fdsOpen ${m.host.fdsOpen}`);
  if (m.host && m.host.violations) problems.push(`shim: ${m.host.violations} host contract violations (first: ${(r.host as { firstViolation?: string }).firstViolation})`);
  if (m.connections !== 0 || m.listeners !== 0) problems.push(`${m.connections} connections, ${m.listeners} listeners left`);
  if (m.poolQueued + m.poolLent + m.poolWriting !== 0) problems.push(`chunks still held: queued ${m.poolQueued}, lent ${m.poolLent}, writing ${m.poolWriting}`);
  if (m.overflowBytes !== 0) problems.push(`${m.overflowBytes} overflow bytes left`);
  if (r.sim && r.sim.violations.length) problems.push(`sim violations: ${r.sim.violations.slice(0, 5).join("; ")}`);
  if (r.sim && r.sim.fdsOpen !== 0) problems.push(`${r.sim.fdsOpen} simulated descriptors open`);
  const inv = r.checkInvariants();
  if (inv !== 0) problems.push(`invariant ${inv}`);
  if (st?.thrown.length) problems.push(`handlers threw: ${st.thrown.join(" | ")}`);
  if (st?.runError) problems.push(`run() failed: ${String(st.runError)}`);
  const threw = (st?.lines ?? []).filter((l) => l.includes("threw"));
  if (threw.length) problems.push(`logged: ${threw.join(" | ")}`);
  if (problems.length) throw new Error(`reactor did not close clean: ${problems.join(", ")}`);
  return { report, metrics: m };
}

/**
 * Closes every reactor a test left open (it failed before its closeClean), abortively and
 * without checks, so that the process can end. For `finally` blocks and suite.after hooks.
 */
export async function abandonAll(): Promise<void> {
  const left = [...live];
  live.clear();
  for (const r of left) {
    try { await r.close({ drainMs: 0 }); } catch { /* already failing */ }
    try { await states.get(r)?.running; } catch { /* already failing */ }
  }
}

/** The command that starts this same runtime on a bundle file (for child processes). */
export function selfCommand(file: string): [string, string[]] {
  const g = globalThis as { Deno?: { execPath(): string }; process?: { execPath: string } };
  if (runtime === "deno") return [g.Deno!.execPath(), ["run", "-A", "--no-lock", file]];
  return [g.process!.execPath, [file]];
}
