// io_uring here: would `host: "uring"` (`serve --backend uring`, and host 'auto' on Linux) start,
// and if not, why and what to change. Nothing here is a fail: where io_uring cannot start, host
// 'auto' falls back to epoll (one log line); a warning says what stands in the way of the faster
// host, and that `--backend uring` would exit 2.
//
// Readings (under the probe's root, so tests fake a machine with WASM_REACTOR_DOCTOR_ROOT):
//   kernel          /proc/sys/kernel/osrelease: the host needs Linux 6.1 (SINGLE_ISSUER and
//                   DEFER_TASKRUN; multishot receive and provided-buffer rings came in 6.0)
//   disabled        /proc/sys/kernel/io_uring_disabled (Linux 6.6+; absent before, which means
//                   allowed): 0 allowed, 1 only for members of kernel.io_uring_group and
//                   CAP_SYS_ADMIN, 2 nobody
//   seccomp         /proc/self/status "Seccomp:" (0 none, 1 strict, 2 filter) and
//                   "Seccomp_filters:" (5.9+). A filter may refuse io_uring_setup (Docker's
//                   default profile does since 25.0, containerd's RuntimeDefault since 2.0, so
//                   Kubernetes' too); the filter's rules cannot be read from inside, only tried
//   memlock         /proc/self/limits "Max locked memory": before 5.12 the rings were charged
//                   against RLIMIT_MEMLOCK; since, against the memory cgroup. The host
//                   registers no fixed buffers (its buffer ring is pool memory it maps itself),
//                   so on 6.1+ a small limit does not stop it: shown for the record
// The try (this machine only, never under a fake root): createHost({ host: "uring" }) and
// close(), through the library, in this process: the same io_uring_setup, rings, buffer ring
// and eventfd registration `serve --backend uring` does, and the same words when it fails
// (uring.ts's reasons). In-process rather than in a child: no runtime-specific command line
// (Deno's permission flags), and a few milliseconds; raiseFdLimit is off so the doctor's own
// RLIMIT_NOFILE reading is not changed by the try.
import { ReactorError } from "../../errors.ts";
import type { Files, Reading } from "./probe.ts";

export interface UringReadings {
  /** The kernel's release string and its major.minor. */
  kernel: Reading<{ release: string; major: number; minor: number }>;
  /** kernel.io_uring_disabled: 0, 1 or 2 (0 when the file is absent: kernels before 6.6 have no such switch). */
  disabled: Reading<number>;
  /** The process's seccomp mode (0 none, 1 strict, 2 filter) and how many filters (5.9+). */
  seccomp: Reading<{ mode: number; filters?: number }>;
  /** RLIMIT_MEMLOCK in bytes (Infinity: unlimited). */
  memlock: Reading<{ soft: number; hard: number }>;
}

/** What trying the host said: it started (and closed), or the error's code and text. */
export type UringTry = { started: true } | { started: false; code: string; why: string };

/** The version needed: 6.1 (uring.c's header says what each flag needs). */
export const URING_KERNEL = { major: 6, minor: 1 } as const;

export const RUNBOOK_URING = "docs/runbooks/io-uring-unavailable.md";

/** "6.1.0-18-amd64" → 6, 1; undefined when it does not start with two numbers. */
export function parseRelease(s: string): { major: number; minor: number } | undefined {
  const m = /^(\d+)\.(\d+)/.exec(s.trim());
  return m ? { major: Number(m[1]), minor: Number(m[2]) } : undefined;
}

/** "Seccomp:\t2\nSeccomp_filters:\t1" from /proc/self/status. */
export function parseSeccomp(status: string): { mode: number; filters?: number } | undefined {
  const m = /^Seccomp:\s*(\d+)/m.exec(status);
  if (!m) return undefined;
  const f = /^Seccomp_filters:\s*(\d+)/m.exec(status);
  return { mode: Number(m[1]), ...(f ? { filters: Number(f[1]) } : {}) };
}

export function probeUring(f: Files, linux: boolean): UringReadings {
  if (!linux) {
    const na = { unknown: "io_uring is Linux's", source: "-" };
    return { kernel: na, disabled: na, seccomp: na, memlock: na };
  }
  const rel = "/proc/sys/kernel/osrelease";
  const k = f.read(rel);
  const v = k.ok ? parseRelease(k.text) : undefined;
  const kernel: UringReadings["kernel"] = !k.ok ? { unknown: k.why, source: rel }
    : v ? { value: { release: k.text.trim(), ...v }, source: rel } : { unknown: `${rel}: not a version: ${JSON.stringify(k.text.trim().slice(0, 40))}`, source: rel };

  const dis = "/proc/sys/kernel/io_uring_disabled";
  const d = f.read(dis);
  let disabled: Reading<number>;
  if (d.ok) {
    const n = Number(d.text.trim());
    disabled = Number.isInteger(n) && d.text.trim() !== "" ? { value: n, source: dis } : { unknown: `${dis}: not a number: ${JSON.stringify(d.text.trim().slice(0, 20))}`, source: dis };
  } else if (/no such file/.test(d.why) && f.exists("/proc/sys/kernel")) {
    disabled = { value: 0, source: `${dis} absent (before Linux 6.6 there is no such switch): allowed` };
  } else disabled = { unknown: d.why, source: dis };

  const st = "/proc/self/status";
  const s = f.read(st);
  const sc = s.ok ? parseSeccomp(s.text) : undefined;
  const seccomp: UringReadings["seccomp"] = !s.ok ? { unknown: s.why, source: st } : sc ? { value: sc, source: st } : { unknown: `no Seccomp: line in ${st}`, source: st };

  const lim = "/proc/self/limits";
  const l = f.read(lim);
  let memlock: UringReadings["memlock"];
  if (!l.ok) memlock = { unknown: l.why, source: lim };
  else {
    const m = /^Max locked memory\s+(\S+)\s+(\S+)/m.exec(l.text);
    const n = (x: string | undefined) => (x === "unlimited" ? Infinity : x !== undefined && /^\d+$/.test(x) ? Number(x) : undefined);
    const soft = n(m?.[1]), hard = n(m?.[2]);
    memlock = soft !== undefined && hard !== undefined ? { value: { soft, hard }, source: lim } : { unknown: `no "Max locked memory" line in ${lim}`, source: lim };
  }
  return { kernel, disabled, seccomp, memlock };
}

/**
 * Creates a host 'uring' and closes it (this process; see the header). `create` is the
 * library's createHost with resolved options; passed in so the CLI loads the library only here.
 */
export function tryUring(create: () => { close(): void }): UringTry {
  try {
    create().close();
    return { started: true };
  } catch (e) {
    const code = e instanceof ReactorError ? e.code : (e as { code?: string }).code ?? "Error";
    const why = String((e as Error).message ?? e).replace(/^wasm-reactor: /, "");
    return { started: false, code, why };
  }
}

export interface UringVerdict { knob: string; now: string; verdict: "ok" | "warn"; reason: string; fix?: string; runbook: string }

const bytes = (b: number) => (b === Infinity ? "unlimited" : b >= 1 << 20 ? `${(b / 2 ** 20).toFixed(b % 2 ** 20 ? 1 : 0)} MiB` : `${Math.round(b / 1024)} KiB`);

/**
 * The io_uring verdicts: the kernel, the sysctl, seccomp, RLIMIT_MEMLOCK, then whether the host
 * starts: from the try when there was one, else (a fake root, no shim) from the readings alone.
 */
export function uringVerdicts(u: UringReadings, tried: UringTry | undefined, notTried: string): UringVerdict[] {
  const v: UringVerdict[] = [];
  const runbook = RUNBOOK_URING;
  const k = u.kernel;
  const old = "value" in k && (k.value.major < URING_KERNEL.major || (k.value.major === URING_KERNEL.major && k.value.minor < URING_KERNEL.minor));
  if (!("value" in k)) v.push({ knob: "kernel (io_uring)", now: `unknown (${k.unknown})`, verdict: "ok", reason: "the kernel's version could not be read; host 'uring' needs Linux 6.1", runbook });
  else v.push({ knob: "kernel (io_uring)", now: k.value.release, verdict: old ? "warn" : "ok",
    reason: old ? `host 'uring' needs Linux 6.1 (SINGLE_ISSUER and DEFER_TASKRUN; multishot receive and buffer rings are 6.0): this is ${k.value.major}.${k.value.minor}, so it cannot start here; epoll serves` : "6.1 or later: io_uring with everything host 'uring' uses",
    fix: old ? "a kernel of 6.1 or later (Debian 12, Ubuntu 23.04+, RHEL 10), or stay on epoll" : undefined, runbook });

  const d = u.disabled;
  if (!("value" in d)) v.push({ knob: "kernel.io_uring_disabled", now: `unknown (${d.unknown})`, verdict: "ok", reason: "whether the kernel allows io_uring could not be read", runbook });
  else v.push({ knob: "kernel.io_uring_disabled", now: d.source.includes("absent") ? "absent (0)" : String(d.value), verdict: d.value === 0 ? "ok" : "warn",
    reason: d.value === 0 ? "io_uring is allowed for every process" : d.value === 1 ? "io_uring only for members of kernel.io_uring_group and CAP_SYS_ADMIN: others get EPERM, and host 'uring' cannot start for them" : "io_uring is off for every process (2): host 'uring' cannot start",
    fix: d.value === 0 ? undefined : d.value === 1 ? "add the server's user to the group kernel.io_uring_group names, or kernel.io_uring_disabled = 0 (a machine-wide choice: see the runbook)" : "kernel.io_uring_disabled = 0 (a machine-wide choice: see the runbook), or stay on epoll", runbook });

  const s = u.seccomp;
  const mode = "value" in s ? s.value.mode : undefined;
  if (!("value" in s)) v.push({ knob: "seccomp", now: `unknown (${s.unknown})`, verdict: "ok", reason: "this process's seccomp mode could not be read", runbook });
  else {
    const filters = s.value.filters !== undefined ? `, ${s.value.filters} filter${s.value.filters === 1 ? "" : "s"}` : "";
    const refused = tried && !tried.started && /seccomp/.test(tried.why) && mode === 2;
    v.push({ knob: "seccomp", now: `${mode === 0 ? "none" : mode === 1 ? "strict" : "filter"} (${mode}${filters})`, verdict: refused || mode === 1 ? "warn" : "ok",
      reason: mode === 0 ? "no seccomp filter: nothing between this process and io_uring's system calls"
        : mode === 1 ? "strict mode allows only read, write, exit and sigreturn"
        : refused ? "a seccomp filter refused io_uring_setup (Docker's default profile since 25.0 and containerd's RuntimeDefault since 2.0 do)"
        : tried?.started ? "a seccomp filter is on, and it allows io_uring (the try below started the host)"
        : "a seccomp filter is on: it may refuse io_uring's system calls (Docker 25.0+ and containerd 2.0+ do by default); its rules cannot be read from inside, only tried",
      fix: refused ? "allow io_uring_setup, io_uring_enter and io_uring_register in the container's profile (the runbook has the JSON), or stay on epoll" : undefined, runbook });
  }

  const m = u.memlock;
  if ("value" in m) v.push({ knob: "RLIMIT_MEMLOCK", now: `soft ${bytes(m.value.soft)} / hard ${bytes(m.value.hard)}`, verdict: "ok",
    reason: "since Linux 5.12 io_uring's rings are charged to the memory cgroup, not to this limit, and host 'uring' registers no fixed buffers: it does not bound the host (an ENOMEM at start means memory or the cgroup)", runbook });
  else v.push({ knob: "RLIMIT_MEMLOCK", now: `unknown (${m.unknown})`, verdict: "ok", reason: "does not bound host 'uring' on Linux 6.1+", runbook });

  if (tried?.started) v.push({ knob: "host 'uring'", now: "starts", verdict: "ok", reason: "a host 'uring' was created and closed here: host 'auto' (so serve) runs on io_uring, as do host: \"uring\" and `serve --backend uring`", runbook });
  else if (tried) v.push({ knob: "host 'uring'", now: `cannot start (${tried.code})`, verdict: "warn", reason: `${tried.why.replace(/; use host 'epoll'.*$/, "")}; host 'auto' runs on epoll`,
    fix: "see the verdicts above and the runbook; or stay on epoll", runbook });
  else {
    const blocked = old || ("value" in d && d.value === 2) || mode === 1;
    v.push({ knob: "host 'uring'", now: blocked ? "cannot start" : "not tried", verdict: blocked ? "warn" : "ok",
      reason: `${blocked ? "the readings above rule it out" : "nothing above rules it out"}; not tried: ${notTried}`, runbook });
  }
  return v;
}
