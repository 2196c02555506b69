// wasm-reactor: the public API.
export { Reactor, Connection, Listener } from "./reactor.ts";
export type { Handlers, CloseInfo, CloseReason, TimeoutKind, ListenOptions, ConnectOptions, CloseOptions, CloseReport, TimerHandle, ConnectionState } from "./reactor.ts";
export { ReactorError, ERRNO, errnoName } from "./errors.ts";
export { OPTION_SPECS, describeOptions, resolveOptions } from "./options.ts";
export type { ReactorOptions } from "./options.ts";
export { SimNetwork, SimPeer, Prng, NO_FAULTS } from "./sim.ts";
export type { SimFaults, SimOptions, SimServer } from "./sim.ts";
export type { MetricsSnapshot, Percentiles } from "./metrics.ts";
export { Core, coreModule } from "./core.ts";
export { BYTES_PER_CONNECTION, computeLayout, memoryBytes } from "./layout.ts";
export { Recorder, readTrace, replayTrace, replayFile, TraceFormatError, TRACE_VERSION } from "./trace.ts";
export type { TraceHeader, ReplayResult, ReplayFileResult, RecordOptions } from "./trace.ts";
