// The io_uring host: real sockets on Linux 6.1+ through the native shim (shims/native/, with the
// io_uring-specific part beside this file in uring.c: listener polls and multishot receives, the supply
// ring handed to the kernel as its provided-buffer ring, sends as operations, one
// io_uring_enter per turn with coalesced waits). What every native host shares is NativeHost in
// ../native-host.ts; here: the reasons it cannot start, in words an operator can act on.
import type { HostLimits } from "../../contract/contract.ts";
import { ReactorError } from "../../errors.ts";
import { NativeHost, linuxBacklog, linuxLimits, type BacklogLimit, type NativeHostOptions } from "../native-host.ts";
import { FAULT_KINDS, checkFaults, type EpollFaults } from "../epoll/epoll.ts";

export interface UringOptions extends NativeHostOptions {
  /**
   * Seeded kernel faults: loads the faults build of the shim (the same kinds as epoll's; the
   * io_uring backend injects those with a counterpart in completions: shims/native/faults.c).
   */
  faults?: EpollFaults;
}

/** Why the shim's io_uring setup failed, from its errno (Linux numbering), as one clause. */
export function uringUnavailableReason(errno: number | undefined, detail: string): string {
  switch (errno) {
    case 1: case 13: // EPERM, EACCES
      return `io_uring is refused here (${detail}): a seccomp profile (Docker's and most container runtimes' default) or kernel.io_uring_disabled forbids it`;
    case 38: // ENOSYS
      return `io_uring is not in this kernel or this build (${detail}): it needs Linux 6.1 or later and kernel headers of 6.1 or later when the shim is built`;
    case 22: case 95: // EINVAL, EOPNOTSUPP
      return `this kernel's io_uring lacks what the host needs (${detail}): SINGLE_ISSUER and DEFER_TASKRUN (Linux 6.1), multishot receive and buffer rings (6.0)`;
    case 12: // ENOMEM
      return `io_uring could not map its rings (${detail}): RLIMIT_MEMLOCK or memory`;
    default:
      return `io_uring could not start (${detail})`;
  }
}

export class UringHost extends NativeHost {
  declare readonly kind: "uring";

  constructor(o: UringOptions) {
    const platform = (globalThis as { process?: { platform?: string } }).process?.platform ?? "unknown";
    if (platform !== "linux") throw new ReactorError("ERR_HOST_UNAVAILABLE", `wasm-reactor: host 'uring' needs Linux (this is ${platform}); use host 'kqueue' on macOS and FreeBSD, or 'portable'`);
    // edgeTriggered is for the readiness hosts (epoll, kqueue): a completion host has no trigger
    // mode, so the option (often set by a preset for epoll's sake) is ignored here
    const faults = o.faults === undefined ? undefined : checkFaults(o.faults);
    try {
      super("uring", faults ? "faults" : "release", o, faults && ((n, h) => {
        if (!n.setFaults) throw new ReactorError("ERR_HOST_UNAVAILABLE", "wasm-reactor: the faults build of the native shim has no setFaults (rebuild: npm run build)");
        n.setFaults(h, Float64Array.from([faults.seed ?? 1, ...FAULT_KINDS.map((k) => faults[k] ?? 0)]));
      }));
    }
    catch (err) {
      if (err instanceof ReactorError) throw err;
      const e = err as { errno?: number; message?: string };
      if (e.errno === undefined) throw err;
      throw new ReactorError("ERR_HOST_UNAVAILABLE", `wasm-reactor: host 'uring' cannot run here: ${uringUnavailableReason(e.errno, String(e.message))}; use host 'epoll' (what to change: docs/runbooks/io-uring-unavailable.md)`, { errno: e.errno });
    }
  }

  limits(): HostLimits { return linuxLimits(this.n); }
  protected backlogLimit(): BacklogLimit | undefined { return linuxBacklog(); }
}
