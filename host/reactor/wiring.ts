// Wiring: what Reactor.create() puts together, in order:
//   options (validated, defaults filled) → host (host/backends/registry.ts picks the backend)
//   → core (the Wasm module on its own shared memory, sized from the options; its clock and
//   random source are the host's when the host owns time, else the real ones; wrapped by the
//   recorder when the option `record` asks for a trace) → host.attach(core).
// Nothing here knows a backend by name: the host says what it is through the contract
// (host/contract/contract.ts: clock, waitStyle, limits).
import { Core, coreBytes, type Build } from "../core/core.ts";
import { Recorder, coreHash, type RecordOptions } from "../trace/trace.ts";
import type { WasiHooks } from "../../shims/wasi.ts";
import type { Host, HostLimits } from "../contract/contract.ts";
import { createHost } from "../backends/registry.ts";
import { resolveOptions, type ReactorOptions, type ResolvedOptions } from "../options.ts";
import { ReactorError } from "../errors.ts";

/** Everything a Reactor is made of. */
export interface Wiring {
  options: ResolvedOptions;
  log: (line: string) => void;
  host: Host;
  core: Core;
  recorder: Recorder | undefined;
  /** Where the descriptor budget came from. */
  limits: HostLimits;
  /** The core's clock, read now, in ms (virtual when the host owns time; else since create, from 1). */
  nowMs: () => number;
}

export async function wire(input: ReactorOptions | undefined): Promise<Wiring> {
  const o = resolveOptions(input);
  const log = o.log ?? ((line: string) => console.error(line));
  const host = createHost(o, log);
  const limits = host.limits();
  const caps = {
    slotCap: o.maxConnections + 64, // + the listeners' slots
    chunkSize: o.chunkSize,
    chunkCount: o.poolChunks,
    appTimerCap: o.timers,
    eventCap: o.eventRing,
    submitCap: o.submitRing,
    noteCap: o.noteRing,
    supplyCap: nextPow2(o.supplyTarget),
  };
  const config = {
    idleTimeoutMs: o.idleTimeoutMs,
    connectTimeoutMs: o.connectTimeoutMs,
    handshakeTimeoutMs: o.handshakeTimeoutMs,
    writeStallTimeoutMs: o.writeStallTimeoutMs,
    lingerMs: o.lingerMs,
    highWaterBytes: o.highWaterBytes,
    lowWaterBytes: o.lowWaterBytes,
    acceptsPerTurn: o.acceptsPerTurn,
    readsPerConnPerTurn: o.readsPerConnPerTurn,
    expiriesPerTurn: o.expiriesPerTurn,
    supplyTarget: o.supplyTarget,
    poolReserveChunks: o.poolReserveChunks,
    fdLimit: o.fdLimit || limits.fdLimit,
    fdReserve: o.fdReserve,
    fdHysteresis: o.fdHysteresis,
    acceptBackoffMs: o.acceptBackoffMs,
    acceptBackoffMaxMs: o.acceptBackoffMaxMs,
    allowHalfOpen: o.allowHalfOpen ? 1 : 0,
    pauseReadsAtHighWater: o.pauseReadsAtHighWater ? 1 : 0,
    maxConnections: o.maxConnections,
  };
  const t0 = performance.now();
  const clock = host.clock;
  let hooks: WasiHooks = clock ? {
    clockNs: () => clock.clockNs(),
    random: (v) => clock.random(v),
    log,
  } : {
    // Real hosts: monotonic time since the reactor was made (the core keeps 48-bit ms).
    clockNs: () => BigInt(Math.round((performance.now() - t0) * 1e6)) + 1_000_000n,
    random: (v) => { crypto.getRandomValues(v as Uint8Array<ArrayBuffer>); },
    log,
  };
  let recorder: Recorder | undefined;
  if (o.record) {
    const rec = o.record as RecordOptions;
    if (typeof rec.path !== "string" || !rec.path) throw new ReactorError("ERR_INVALID_OPTION", `wasm-reactor: option 'record' needs { path: string, maxBytes?: number }, got ${JSON.stringify(o.record)}`);
    if (rec.maxBytes !== undefined && (!Number.isInteger(rec.maxBytes) || rec.maxBytes < 1024)) throw new ReactorError("ERR_INVALID_OPTION", `wasm-reactor: record.maxBytes must be an integer of at least 1024, got ${String(rec.maxBytes)}`);
    recorder = new Recorder(await import("node:fs"), rec, log);
    hooks = recorder.wrapHooks(hooks);
  }
  const core = await Core.create(o.build as Build, caps, config, hooks).catch((err) => { host.close(); recorder?.close(); throw err; });
  if (recorder) {
    recorder.attach(core, { coreHash: await coreHash(await coreBytes(o.build as Build)), build: o.build, caps, config, host: host.kind, createdAt: new Date().toISOString() });
  }
  if (o.prefaultPool) {
    // One write per page: the kernel backs the whole pool now rather than on first use.
    const u8 = core.u8, end = core.regions.chunkDataOff + o.chunkSize * o.poolChunks;
    for (let p = core.regions.chunkDataOff; p < end; p += 4096) u8[p] = 0;
  }
  try { host.attach(core); }
  catch (err) { host.close(); recorder?.close(); throw err; } // nothing left open behind a refusal
  return {
    options: o, log, host, core, recorder,
    limits: o.fdLimit ? { fdLimit: o.fdLimit, source: `option fdLimit ${o.fdLimit} (host: ${limits.source})` } : limits,
    nowMs: clock ? () => clock.nowMs() : () => performance.now() - t0 + 1,
  };
}

function nextPow2(n: number): number { let p = 1; while (p < n) p *= 2; return p; }
