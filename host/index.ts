// wasm-reactor: the public API.
export { Reactor, Connection, Listener } from "./reactor/reactor.ts";
export type { Handlers, CloseInfo, CloseReason, TimeoutKind, ListenOptions, ConnectOptions, CloseOptions, CloseReport, TimerHandle, ConnectionState } from "./reactor/reactor.ts";
export { ReactorError, ERRNO, errnoName } from "./errors.ts";
export { startWorkers, warmUp, LEAN_LIMITS, type StartWorkersOptions, type WorkerGroup, type WorkerContext, type WorkerSetup, type WorkerInfo, type WorkerReport, type WorkerGroupReport } from "./reactor/worker.ts";
export { OPTION_SPECS, describeOptions, resolveOptions } from "./options.ts";
export type { ReactorOptions } from "./options.ts";
export { PRESETS, presetOptions, type PresetName } from "./options.ts";
export { SimNetwork, SimPeer, Prng, NO_FAULTS } from "./backends/sim/sim.ts";
export type { SimFaults, SimOptions, SimServer } from "./backends/sim/sim.ts";
export type { MetricsSnapshot, Percentiles } from "./core/metrics.ts";
export { Core, coreModule } from "./core/core.ts";
export { BYTES_PER_CONNECTION, computeLayout, memoryBytes } from "./core/layout.ts";
export { Recorder, readTrace, replayTrace, replayFile, TraceFormatError, TRACE_VERSION } from "./trace/trace.ts";
export type { TraceHeader, ReplayResult, ReplayFileResult, RecordOptions } from "./trace/trace.ts";
