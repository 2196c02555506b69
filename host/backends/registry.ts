// The one place that knows the list of backends. Reactor.create() asks it for a host; nothing
// else in the library switches over backend kinds, so a new backend (kqueue, io_uring,
// portable) lands as one new folder under host/backends/ and one case here.
//
// "auto" picks the best host that can run here; a host that cannot load explains itself
// (ERR_HOST_UNAVAILABLE: what is missing and what to do).
import type { Host, HostKind } from "../contract/contract.ts";
import type { ResolvedOptions } from "../options.ts";
import { ReactorError } from "../errors.ts";
import { SimNetwork, type SimOptions } from "./sim/sim.ts";
import { EpollHost, type EpollFaults } from "./epoll/epoll.ts";

/** The backend "auto" stands for on this machine. */
export function autoKind(): HostKind {
  return "epoll"; // the only real host so far; it says why if it cannot load (not Linux, no shim)
}

/** The simulator behind a host, when it is one (Reactor.sim: tests and apps drive its peers). */
export function simulatorOf(host: Host): SimNetwork | undefined { return host instanceof SimNetwork ? host : undefined; }

/** Makes the host the options ask for. */
export function createHost(o: ResolvedOptions, log: (line: string) => void): Host {
  const kind: HostKind = o.host === "auto" ? autoKind() : o.host;
  if (o.faults !== undefined && kind !== "epoll") throw new ReactorError("ERR_INVALID_OPTION", `wasm-reactor: option 'faults' is for host 'epoll' (the native shim's faults build), not '${kind}'; the simulator's fault odds go in option 'sim'`);
  switch (kind) {
    case "sim":
      return new SimNetwork(o.seed, (o.sim ?? {}) as SimOptions);
    case "epoll":
      return new EpollHost({ wait: o.wait, edgeTriggered: o.edgeTriggered, noDelay: o.noDelay, shedOnEmfile: o.shedOnEmfile, maxEvents: o.eventRing,
        faults: o.faults === undefined ? undefined : { seed: o.seed, ...o.faults } as EpollFaults, log });
    case "kqueue": case "portable": case "uring":
      throw new ReactorError("ERR_HOST_UNAVAILABLE", `wasm-reactor: host '${kind}' is not available in this build yet; use host: 'epoll' (Linux) or 'sim' (the simulated network)`);
  }
}
