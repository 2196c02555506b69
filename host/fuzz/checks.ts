// The checks every fuzz run makes, whatever the backend:
//   after every turn  the core's full audit (checkInvariants(), on the debug core every guarded
//                     invariant is also asserted as it is touched) and the host's contract
//                     violations (a submission the host refused to act on);
//   at the end        liveness (every connection closed within a bound after every peer ended),
//                     descriptors (opened = closed, none left in the host, none leaked at
//                     close) and the pool (no chunk still queued, lent or being written).
// A failure is one line; its kind (failureKind) is what shrinking on real sockets compares, so a
// candidate that fails differently does not count as the same failure.
import type { Reactor, CloseReport } from "../reactor/reactor.ts";
import type { MetricsSnapshot } from "../core/metrics.ts";
import { ReactorError } from "../errors.ts";

export interface RunResult {
  ok: boolean;
  failure?: string;
  turns: number;
  /** Virtual ms on the simulator, real ms on epoll. */
  virtualMs: number;
  accepts?: number;
  connects?: number;
  bytesIn?: number;
  faults?: number;
  /** epoll: the trace of this run, when it was kept (a failure, or `record` asked for it). */
  trace?: string;
}

/**
 * What a failure is, without its numbers: "core" (an invariant or an assertion: the core's
 * state is wrong, which is never noise), "liveness", "descriptors", "pool", "echo", "host", ...
 * On real sockets one bug may show as either a broken invariant or a failed assertion, by timing.
 */
export function failureKind(failure: string | undefined): string {
  if (!failure) return "";
  if (/^core (invariant|assertion)/.test(failure)) return "core";
  return /^[^:\d]*/.exec(failure)![0].trim();
}

/** The host's count of contract violations (a native host's metrics().host.violations), if it keeps one. */
export function hostViolations(m: MetricsSnapshot): number {
  return (m.host as Record<string, number> | undefined)?.violations ?? 0;
}

/**
 * Faults the host injected, from its counters: the simulator's own stats are read by its runner;
 * a native host in fault mode counts them under names starting with "fault" (e.g. faultsInjected).
 */
export function nativeFaultCount(m: MetricsSnapshot): number {
  const h = m.host as Record<string, number> | undefined;
  if (!h) return 0;
  if (typeof h.faultsInjected === "number") return h.faultsInjected;
  let n = 0;
  for (const [k, v] of Object.entries(h)) if (/^fault/.test(k) && typeof v === "number") n += v;
  return n;
}

/** The per-turn check: the core's audit and, when the host reports them, contract violations. */
export function turnProblem(r: Reactor, turns: number, violations: () => string | undefined): string | undefined {
  const inv = r.checkInvariants();
  if (inv !== 0) return `core invariant ${inv} broken after turn ${turns}`;
  const v = violations();
  if (v) return `host contract violation: ${v}`;
  return undefined;
}

/** The checks after close(): descriptors and chunks. */
export function closeProblem(report: CloseReport, after: MetricsSnapshot): string | undefined {
  if (report.leakedDescriptors !== 0 || after.fdOpens !== after.fdCloses) return `descriptors: ${after.fdOpens} opened, ${after.fdCloses} closed, ${report.leakedDescriptors} leaked at close`;
  const hostOpen = (after.host as Record<string, number> | undefined)?.fdsOpen ?? 0;
  if (hostOpen !== 0) return `descriptors: the host still holds ${hostOpen} after close`;
  if (after.poolQueued + after.poolLent + after.poolWriting !== 0) return `pool: chunks still held after close (queued ${after.poolQueued}, lent ${after.poolLent}, writing ${after.poolWriting})`;
  if (after.overflowBytes !== 0) return `pool: ${after.overflowBytes} bytes still waiting beside the pool after close`;
  return undefined;
}

/** A core that stopped on a failed assertion is a finding; anything else thrown is a fuzzer bug. */
export function assertionFailure(err: unknown): string | undefined {
  if (err instanceof ReactorError && err.code === "ERR_CORE_ASSERTION") return `core assertion: ${err.message.replace(/^wasm-reactor: /, "")}`;
  return undefined;
}

/** App connections refused at a limit: expected under descriptor pressure, not a failure. */
export function refusedAtLimit(err: unknown): boolean {
  return err instanceof ReactorError && (err.code === "ERR_FD_BUDGET" || err.code === "ERR_NO_SLOT");
}
