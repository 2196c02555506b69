// wasm-reactor: the public API (exports only). What is not here is internal: the core and its
// layout (host/core/), the hosts (host/backends/), the loop's rooms (host/reactor/*) may change
// between versions; tests and tools import them from their own paths.
export { Reactor } from "./reactor/reactor.ts";
export type { CloseOptions, CloseReport } from "./reactor/reactor.ts";
export { Connection, Listener } from "./reactor/connection.ts";
export { Kept } from "./reactor/keep.ts";
export type { Handlers, CloseInfo, CloseReason, TimeoutKind, ListenOptions, ConnectOptions, TimerHandle, ConnectionState } from "./reactor/connection.ts";
export type { ProxyInfo, ProxyProtocolMode } from "./reactor/proxy.ts";
export { ReactorError, ERROR_CODES, ERRNO, errnoName } from "./errors.ts";
export type { ReactorErrorCode } from "./errors.ts";
export { OPTION_SPECS, describeOptions } from "./options.ts";
export type { ReactorOptions, ResolvedOptions } from "./options.ts";
// The simulator: apps and tests drive its peers through `reactor.sim` (host: "sim").
export type { SimNetwork, SimPeer, SimFaults, SimOptions, SimServer } from "./backends/sim/sim.ts";
// Worker mode: N reactors on N worker threads, each blocking in its own wait, one port (SO_REUSEPORT).
export { startWorkers, warmUp, LEAN_LIMITS } from "./reactor/worker.ts";
export type { StartWorkersOptions, WorkerGroup, WorkerContext, WorkerSetup, WorkerInfo, WorkerReport, WorkerGroupReport } from "./reactor/worker.ts";
// Presets: the settings a kind of program wants, each with its reason.
export { PRESETS, presetOptions } from "./options.ts";
export type { PresetName } from "./options.ts";
export type { MetricsSnapshot, Percentiles, Histograms, PrometheusSource, PrometheusExtra, ProcessFigures, KernelFigures } from "./core/metrics.ts";
export { prometheusText, histogramsOf, mergeHistograms } from "./core/metrics.ts";
// Operating it: the metrics endpoint (/metrics, /metrics.json, /healthz, /readyz) and the small HTTP/1.1 server under it.
export { serveMetrics, metricsHandlers } from "./ops/metrics-endpoint.ts";
export type { MetricsSource, MetricsServer, MetricsEndpoint, MetricsServeOptions, MetricsEndpointOptions, MetricsDocument } from "./ops/metrics-endpoint.ts";
export { httpHandlers, serveHttp } from "./ops/http.ts";
export type { HttpRequest, HttpResponse, HttpRoute, HttpOptions, HttpHandlers } from "./ops/http.ts";
export { mergeMetrics } from "./reactor/worker.ts";
// Reading and replaying traces (option `record`; `wasm-reactor replay`), for tools.
export { readTrace, replayTrace, replayFile, TraceFormatError, TRACE_VERSION } from "./trace/trace.ts";
export type { TraceHeader, TraceRecord, ReplayResult, ReplayFileResult, RecordOptions } from "./trace/trace.ts";
// Guarded live tuning (docs/tuning.md): change live settings as a flag, watched, rolled back on regression.
export { Tuner, LIVE_SETTINGS, NOT_LIVE, WATCH_DEFAULTS } from "./ops/tuning.ts";
export type { TunerOptions, WatchOptions, TuneState, TuneStatus, WindowStats, Settings, LiveSetting } from "./ops/tuning.ts";
export { adminHandler } from "./ops/admin.ts";
export { GroupTuner, workerTuning } from "./ops/group-tuning.ts";
export type { AdminRequest, AdminResponse, AdminOptions } from "./ops/admin.ts";
