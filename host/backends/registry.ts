// The one place that knows the list of backends. Reactor.create() asks it for a host; nothing
// else in the library switches over backend kinds, so a new backend lands as one new folder
// under host/backends/ and one case here.
//
// "auto" picks the best host that can run here, in this order:
//   1. the environment variable WASM_REACTOR_HOST, when set (sim, epoll, kqueue, portable,
//      uring): an operator forces a backend without touching the code;
//   2. on Linux, the io_uring host where the kernel allows it (AUTO_PREFERS_URING, set from the
//      benchmark), else epoll with one log line saying why (once per process);
//   3. the native host of this OS (epoll on Linux; kqueue on macOS and FreeBSD), when the
//      native shim loads;
//   4. the portable host (the runtime's own sockets: node:net, Deno.listen, Bun.listen), with one
//      log line saying why the native host could not load.
// A host asked for by name that cannot load explains itself (ERR_HOST_UNAVAILABLE: what is
// missing and what to do); it never falls back silently.
import type { Host, HostKind } from "../contract/contract.ts";
import type { ResolvedOptions } from "../options.ts";
import { ReactorError } from "../errors.ts";
import { SimNetwork, type SimOptions } from "./sim/sim.ts";
import { EpollHost, type EpollFaults } from "./epoll/epoll.ts";
import { createKqueueHost } from "./kqueue/kqueue.ts";
import { createPortableHost } from "./portable/portable.ts";
import { UringHost } from "./uring/uring.ts";
import { loadNative } from "./native.ts";

const KINDS: readonly HostKind[] = ["sim", "epoll", "kqueue", "portable", "uring"];
export const HOST_ENV = "WASM_REACTOR_HOST";

/** The native backend of this OS, if it has one. */
export function nativeKind(): HostKind | undefined {
  const p = (globalThis as { process?: { platform?: string } }).process?.platform;
  if (p === "linux") return "epoll";
  if (p === "darwin" || p === "freebsd" || p === "openbsd" || p === "netbsd") return "kqueue";
  return undefined;
}

/** WASM_REACTOR_HOST, checked; undefined when unset (or when the runtime may not read it). */
export function envKind(): HostKind | undefined {
  let v: string | undefined;
  try { v = (globalThis as { process?: { env?: Record<string, string | undefined> } }).process?.env?.[HOST_ENV]; }
  catch { return undefined; } // Deno without --allow-env: as if unset
  if (v === undefined || v === "" || v === "auto") return undefined;
  if (!(KINDS as readonly string[]).includes(v)) throw new ReactorError("ERR_INVALID_OPTION", `wasm-reactor: environment variable ${HOST_ENV} must be one of ${KINDS.join(", ")} or auto, got ${JSON.stringify(v)}`);
  return v as HostKind;
}

/** The simulator behind a host, when it is one (Reactor.sim: tests and apps drive its peers). */
export function simulatorOf(host: Host): SimNetwork | undefined { return host instanceof SimNetwork ? host : undefined; }

/**
 * Whether "auto" on Linux tries the io_uring host before epoll. Measured, not assumed
 * (docs/benchmarks.md, "Issue 11"): set from the benchmark that compares the two.
 */
export const AUTO_PREFERS_URING = true;
let uringFallbackSaid = false;
/** Whether the native shim loads at all: when it does not, the epoll step below says why. */
function shimLoads(): boolean {
  try { loadNative("release"); return true; } catch { return false; }
}

/** Makes the host the options ask for. */
export function createHost(o: ResolvedOptions, log: (line: string) => void): Host {
  if (o.host !== "auto") return make(o.host, o, log);
  const forced = envKind();
  if (forced) return make(forced, o, log);
  const native = nativeKind();
  if (native === "epoll" && AUTO_PREFERS_URING && o.faults === undefined && shimLoads()) {
    // io_uring where the kernel allows it; else epoll, saying why once per process (a container's
    // seccomp profile, kernel.io_uring_disabled, a kernel before 6.1)
    try { return make("uring", o, log); }
    catch (err) {
      if (!(err instanceof ReactorError) || err.code !== "ERR_HOST_UNAVAILABLE") throw err;
      if (!uringFallbackSaid) { uringFallbackSaid = true; log(`wasm-reactor: host 'auto' is using epoll: ${err.message.replace(/^wasm-reactor: /, "").replace(/; use host 'epoll'/, "")}`); }
    }
  }
  if (native !== undefined && o.faults === undefined) {
    try { return make(native, o, log); }
    catch (err) {
      if (!(err instanceof ReactorError) || err.code !== "ERR_HOST_UNAVAILABLE") throw err;
      log(`wasm-reactor: host 'auto' is using the portable host (the runtime's own sockets): ${err.message.replace(/^wasm-reactor: /, "")}`);
      return make("portable", o, log);
    }
  }
  if (native !== undefined) return make(native, o, log); // faults: only the native shim has them, say so if it cannot load
  log(`wasm-reactor: host 'auto' is using the portable host (the runtime's own sockets): no native host for this OS`);
  return make("portable", o, log);
}

function make(kind: HostKind, o: ResolvedOptions, log: (line: string) => void): Host {
  if (o.faults !== undefined && kind !== "epoll" && kind !== "uring") throw new ReactorError("ERR_INVALID_OPTION", `wasm-reactor: option 'faults' is for hosts 'epoll' and 'uring' (the native shim's faults build), not '${kind}'; the simulator's fault odds go in option 'sim'`);
  switch (kind) {
    case "sim":
      return new SimNetwork(o.seed, (o.sim ?? {}) as SimOptions);
    case "epoll":
      return new EpollHost({ wait: o.wait, edgeTriggered: o.edgeTriggered, noDelay: o.noDelay, shedOnEmfile: o.shedOnEmfile, maxEvents: o.eventRing,
        raiseFdLimit: o.raiseFdLimit, keepAlive: o.keepAlive, userTimeoutMs: o.userTimeoutMs,
        faults: o.faults === undefined ? undefined : { seed: o.seed, ...o.faults } as EpollFaults, log });
    case "kqueue":
      return createKqueueHost({ wait: o.wait, edgeTriggered: o.edgeTriggered, noDelay: o.noDelay, shedOnEmfile: o.shedOnEmfile, maxEvents: o.eventRing,
        raiseFdLimit: o.raiseFdLimit, keepAlive: o.keepAlive, userTimeoutMs: o.userTimeoutMs, log });
    case "portable":
      return createPortableHost({ noDelay: o.noDelay, keepAlive: o.keepAlive, userTimeoutMs: o.userTimeoutMs, raiseFdLimit: o.raiseFdLimit, log });
    case "uring":
      return new UringHost({ wait: o.wait, edgeTriggered: o.edgeTriggered, noDelay: o.noDelay, shedOnEmfile: o.shedOnEmfile, maxEvents: o.eventRing,
        raiseFdLimit: o.raiseFdLimit, keepAlive: o.keepAlive, userTimeoutMs: o.userTimeoutMs,
        faults: o.faults === undefined ? undefined : { seed: o.seed, ...o.faults } as EpollFaults, log });
  }
}
