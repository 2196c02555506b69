// The epoll host: real sockets on Linux through the native shim (shims/native/, with the
// epoll-specific part beside this file in epoll.c). What every native host shares (the one
// crossing per turn, the two wait modes, listen, connect, metrics, close) is NativeHost in
// ../native-host.ts; here: Linux's limits and the faults build.
import type { HostLimits } from "../../contract/contract.ts";
import { ReactorError } from "../../errors.ts";
import { NativeHost, linuxBacklog, linuxLimits, type BacklogLimit, type NativeHostOptions } from "../native-host.ts";

/**
 * The fault kinds of the faults build (shims/native/faults.c says how each keeps the kernel's
 * contract), in the order the shim takes them (WR_FK_* in shims/native/shim.h).
 */
export const FAULT_KINDS = [
  "readEagainProbability", "readShortProbability", "writeEagainProbability", "writeShortProbability",
  "eintrProbability", "resetProbability", "epipeProbability", "acceptEmfileProbability",
  "acceptEnfileProbability", "enobufsProbability", "connectHangProbability", "ctlEnospcProbability",
] as const;

/** Reactor option `faults`: seeded odds of kernel faults, injected by the faults build of the shim. */
export type EpollFaults = { seed?: number } & Partial<Record<(typeof FAULT_KINDS)[number], number>>;

/** Checks option `faults`; names the field, the value and what is allowed. */
export function checkFaults(f: unknown): EpollFaults {
  const bad = (what: string, v: unknown, allowed: string): never => {
    throw new ReactorError("ERR_INVALID_OPTION", `wasm-reactor: option 'faults'${what} must be ${allowed}, got ${typeof v === "string" ? JSON.stringify(v) : String(v)}`);
  };
  if (typeof f !== "object" || f === null || Array.isArray(f)) bad("", f, "an object of fault odds");
  const o = f as Record<string, unknown>;
  for (const [k, v] of Object.entries(o)) {
    if (k === "seed") { if (typeof v !== "number" || !Number.isInteger(v) || v < 0 || v > 0xffffffff) bad(".seed", v, "an integer from 0 to 4294967295"); continue; }
    if (!(FAULT_KINDS as readonly string[]).includes(k)) throw new ReactorError("ERR_INVALID_OPTION", `wasm-reactor: option 'faults' has no field '${k}'; known: seed, ${FAULT_KINDS.join(", ")}`);
    if (typeof v !== "number" || !(v >= 0 && v <= 1)) bad(`.${k}`, v, "a probability from 0 to 1");
  }
  return o as EpollFaults;
}

export interface EpollOptions extends NativeHostOptions {
  /** Seeded kernel faults: loads the faults build of the shim (wasm_reactor_faults.node). */
  faults?: EpollFaults;
}

export class EpollHost extends NativeHost {
  declare readonly kind: "epoll";

  constructor(o: EpollOptions) {
    const platform = (globalThis as { process?: { platform?: string } }).process?.platform ?? "unknown";
    if (platform !== "linux") throw new ReactorError("ERR_HOST_UNAVAILABLE", `wasm-reactor: host 'epoll' needs Linux (this is ${platform}); use host 'kqueue' on macOS and FreeBSD, or 'portable' or 'sim'`);
    const faults = o.faults === undefined ? undefined : checkFaults(o.faults);
    super("epoll", faults ? "faults" : "release", o, faults && ((n, h) => {
      if (!n.setFaults) throw new ReactorError("ERR_HOST_UNAVAILABLE", "wasm-reactor: the faults build of the native shim has no setFaults (rebuild: npm run build)");
      n.setFaults(h, Float64Array.from([faults.seed ?? 1, ...FAULT_KINDS.map((k) => faults[k] ?? 0)]));
    }));
  }

  /**
   * The descriptor limit the budget starts from: the smallest of RLIMIT_NOFILE's soft limit,
   * fs.nr_open (the most any process may have) and fs.file-max (the whole system's, shared).
   */
  limits(): HostLimits { return linuxLimits(this.n); }
  protected backlogLimit(): BacklogLimit | undefined { return linuxBacklog(); }
}
