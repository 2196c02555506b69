// Shared helpers for the API suites that run over the sim host.
import { Reactor, type ReactorOptions } from "../../host/index.ts";

const logs = new WeakMap<Reactor, string[]>();

/**
 * A reactor on the simulator with the debug core (every invariant asserted). Its log lines are
 * kept: a handler that threw (an assertion inside a handler, say) fails closeClean().
 */
export async function simReactor(options: ReactorOptions = {}): Promise<Reactor> {
  const lines: string[] = [];
  const r = await Reactor.create({ host: "sim", build: "debug", seed: 1, maxConnections: 256, poolChunks: 64, chunkSize: 4096, log: (l) => lines.push(l), ...options });
  logs.set(r, lines);
  return r;
}

export function logLines(r: Reactor): string[] { return logs.get(r) ?? []; }

/** Runs until `pred`, failing the test with `what` if it does not happen. */
export function runUntil(r: Reactor, pred: () => boolean, what: string, maxTurns = 100_000): void {
  if (!r.runUntil(pred, { maxTurns })) throw new Error(`timed out waiting for: ${what} (virtual ms ${r.nowMs()})`);
  const inv = r.checkInvariants();
  if (inv !== 0) throw new Error(`core invariant ${inv} broken after: ${what}`);
}

/** Closes the reactor and checks that nothing leaked: descriptors, chunks, slots, violations. */
export async function closeClean(r: Reactor): Promise<void> {
  const report = await r.close({ drainMs: 1000 });
  const m = r.metrics();
  const problems: string[] = [];
  if (report.leakedDescriptors !== 0) problems.push(`${report.leakedDescriptors} descriptors still open`);
  if (m.fdOpens !== m.fdCloses) problems.push(`opens ${m.fdOpens} != closes ${m.fdCloses}`);
  if (m.connections !== 0 || m.listeners !== 0) problems.push(`${m.connections} connections, ${m.listeners} listeners left`);
  if (m.poolQueued + m.poolLent + m.poolWriting !== 0) problems.push(`chunks still held: queued ${m.poolQueued}, lent ${m.poolLent}, writing ${m.poolWriting}`);
  if (r.sim && r.sim.violations.length) problems.push(`sim violations: ${r.sim.violations.slice(0, 5).join("; ")}`);
  if (r.sim && r.sim.fdsOpen !== 0) problems.push(`${r.sim.fdsOpen} simulated descriptors open`);
  const inv = r.checkInvariants();
  if (inv !== 0) problems.push(`invariant ${inv}`);
  const threw = logLines(r).filter((l) => l.includes("threw"));
  if (threw.length) problems.push(`handlers threw: ${threw.join(" | ")}`);
  if (problems.length) throw new Error(`reactor did not close clean: ${problems.join(", ")}`);
}

export function bytes(n: number, seed = 1): Uint8Array {
  const b = new Uint8Array(n);
  let x = seed >>> 0 || 1;
  for (let i = 0; i < n; i++) { x ^= x << 13; x ^= x >>> 17; x ^= x << 5; b[i] = x & 0xff; }
  return b;
}

export function equalBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}
