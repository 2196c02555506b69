// Test helpers for the core unit suites: a core with small capacities and a clock the test
// owns, and a way to run a call that must trap and read what the core said as it died.
//
// A trap surfaces in JS as an exception: an AssemblyScript assert() calls abort, which logs
// "abort: <message> in <file>(<line>:<col>)" through WASI fd_write and then proc_exit, which
// shims/wasi.ts turns into an Error; a Wasm-level fault (unreachable, out of bounds) is a
// WebAssembly.RuntimeError. trap() accepts either and returns the abort line (or the message).
//
// A trapped core is dead in production: @assemblyscript/wasi-shim's abort builds its message
// at linear address 0 (iovec at 0, text from 12), over the core's first static data (conn.ts's
// TRANSITIONS table sits at 32). To keep checking the same core after a trap it provoked on
// purpose, trap() puts those bytes back. That is sound only because the asserts the suites
// provoke come before their function changes anything, which the suites check (state unchanged).
import { Core, type Build, type CoreExports } from "../../host/core/core.ts";
import type { Capacities } from "../../host/core/layout.ts";

export { K } from "../../host/core/layout.ts";

/** Small enough to create in well under a millisecond; suites override what they exercise. */
export const SMALL_CAPS: Capacities = {
  slotCap: 16, chunkSize: 1024, chunkCount: 32, appTimerCap: 8,
  eventCap: 64, submitCap: 128, noteCap: 128, supplyCap: 32,
};

/** A valid Config (configure() asserts watermarks and budgets); the unit suites do not run turns. */
export const TEST_CONFIG: Record<string, number> = {
  idleTimeoutMs: 0, connectTimeoutMs: 1000, highWaterBytes: 65536, lowWaterBytes: 1024,
  acceptsPerTurn: 8, readsPerConnPerTurn: 4, expiriesPerTurn: 64, supplyTarget: 8,
  poolReserveChunks: 4, fdLimit: 100, fdReserve: 4, fdHysteresis: 2, acceptBackoffMs: 10,
  acceptBackoffMaxMs: 1000, lingerMs: 100,
};

export interface TestCore {
  core: Core;
  e: CoreExports;
  /** Lines the core logged (abort messages land here). */
  logs: string[];
  /** What clock_time_get returns, in ns; only init() reads it in these suites. */
  clock: { ns: bigint };
}

export async function makeCore(caps: Partial<Capacities> = {}, build: Build = "debug"): Promise<TestCore> {
  const logs: string[] = [];
  const clock = { ns: 0n };
  const core = await Core.create(build, { ...SMALL_CAPS, ...caps }, TEST_CONFIG, {
    clockNs: () => clock.ns,
    random: (v) => { for (let i = 0; i < v.length; i++) v[i] = (i * 73 + 11) & 0xff; },
    log: (line) => logs.push(line),
  });
  return { core, e: core.exports, logs, clock };
}

/** Bytes from address 0 that the shim's abort may overwrite (iovec + "abort: <msg> in <file>(l:c)\n"). */
const ABORT_SCRATCH_BYTES = 1024;

/**
 * Calls fn, which must trap. Returns the core's abort line when it logged one, else the error
 * message; throws when fn returns normally.
 */
export function trap(t: TestCore, fn: () => unknown): string {
  const before = t.logs.length;
  const scratch = t.core.u8.slice(0, ABORT_SCRATCH_BYTES);
  let returned: unknown;
  try {
    returned = fn();
  } catch (err) {
    t.core.u8.set(scratch, 0);
    const aborts = t.logs.slice(before).filter((l) => l.startsWith("abort:"));
    if (!aborts.length) return String((err as Error)?.message ?? err);
    const line = aborts[aborts.length - 1];
    if (12 + line.length + 1 > ABORT_SCRATCH_BYTES) throw new Error(`abort line longer than the restored scratch: ${line}`);
    return line;
  }
  throw new Error(`expected the core to trap, but the call returned ${String(returned)}`);
}

/** u64 results come back from Wasm as signed BigInts. */
export const u64 = (x: bigint): bigint => BigInt.asUintN(64, x);
/** u32 results (and u32 globals) come back as signed numbers. */
export const u32 = (x: number): number => x >>> 0;
