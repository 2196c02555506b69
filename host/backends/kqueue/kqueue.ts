// The kqueue host: real sockets on macOS and FreeBSD through the native shim (shims/native/,
// with the kqueue-specific part beside this file in kqueue.c: one kevent() a turn applies the
// changelist and fetches the events; EV_CLEAR for edge mode; EVFILT_USER wakes). What every
// native host shares is NativeHost in ../native-host.ts; here: which build of the shim, and the
// system's limits.
//
// On Linux, kqueue exists only through libkqueue (kqueue over epoll), linked into a test-only
// build of the shim (build/wasm_reactor_kqueue.node, made by `npm run build` when cmake and the
// tarball in tests/third_party/ are there), so that the kqueue suites run on a Linux machine.
// A real macOS or FreeBSD run is what proves real kqueue (.github/workflows/kqueue.yml).
import type { Host, HostLimits } from "../../contract/contract.ts";
import type { NativeBuild, NativeShim } from "../native.ts";
import { NativeHost, linuxBacklog, linuxLimits, type BacklogLimit, type NativeHostOptions } from "../native-host.ts";

export type KqueueOptions = NativeHostOptions;

const platform = (): string => (globalThis as { process?: { platform?: string } }).process?.platform ?? "unknown";

/** The shim build that has the kqueue backend here: the release build on macOS/*BSD, the libkqueue test build on Linux. */
export function kqueueBuild(): NativeBuild { return platform() === "linux" ? "kqueue" : "release"; }

/** A sysctl's integer value through the shim (sysctlbyname), or undefined. */
function sysctl(n: NativeShim, name: string): number | undefined {
  const v = n.sysctl(name);
  return typeof v === "number" && Number.isFinite(v) && v > 0 ? v : undefined;
}

export class KqueueHost extends NativeHost {
  declare readonly kind: "kqueue";
  private readonly linux: boolean;

  constructor(o: KqueueOptions) {
    super("kqueue", kqueueBuild(), o);
    this.linux = platform() === "linux";
  }

  /**
   * The descriptor limit the budget starts from: the smallest of RLIMIT_NOFILE's soft limit,
   * kern.maxfilesperproc (the most one process may have) and kern.maxfiles (the whole
   * system's, shared). Under libkqueue (Linux), Linux's own limits.
   */
  limits(): HostLimits {
    if (this.linux) return linuxLimits(this.n);
    const [soft, hard] = this.n.limits();
    const parts = [`RLIMIT_NOFILE soft ${soft} (hard ${hard})`];
    let limit = soft;
    for (const name of ["kern.maxfilesperproc", "kern.maxfiles"]) {
      const v = sysctl(this.n, name);
      if (v === undefined) continue;
      parts.push(`${name} ${v}`);
      if (v < limit) limit = v;
    }
    return { fdLimit: limit, source: parts.join(", ") };
  }

  /** kern.ipc.somaxconn (macOS; FreeBSD keeps the name beside kern.ipc.soacceptqueue). */
  protected backlogLimit(): BacklogLimit | undefined {
    if (this.linux) return linuxBacklog();
    const max = sysctl(this.n, "kern.ipc.somaxconn") ?? sysctl(this.n, "kern.ipc.soacceptqueue");
    return max === undefined ? undefined : { max, name: "kern.ipc.somaxconn", raise: "sysctl kern.ipc.somaxconn=" };
  }
}

/** The kqueue host; ERR_HOST_UNAVAILABLE (saying why and what to do) where it cannot run. */
export function createKqueueHost(o: KqueueOptions): Host {
  return new KqueueHost(o);
}
