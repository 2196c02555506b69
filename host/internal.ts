// Internals for the repository's own tools and benchmarks (tests/bench/), bundled to
// dist/internal.js but not in the package's `exports`: no stability promise. The public API
// is host/index.ts.
export { Core, coreModule, type Build, type CoreExports } from "./core/core.ts";
export { BYTES_PER_CONNECTION, computeLayout, memoryBytes, K, type Capacities, type Regions } from "./core/layout.ts";
export { Prng, NO_FAULTS, SimNetwork, SimPeer } from "./backends/sim/sim.ts";
export { resolveOptions } from "./options.ts";
export { Recorder } from "./trace/trace.ts";
export { Progress, progressLine, formatDuration, etaMs } from "./cli/progress.ts";
