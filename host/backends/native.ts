// Loads the native shim (shims/native/*.c plus the OS's backend: host/backends/epoll/epoll.c on
// Linux, host/backends/kqueue/kqueue.c on macOS and FreeBSD, built into one wasm_reactor.node
// beside the bundle by `npm run build`). Node, Deno and Bun all load a Node-API addon through
// createRequire. When it is missing (no C compiler at install, or no backend for this OS) the
// error says so and what to do.
import { createRequire } from "node:module";
import { existsSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { ReactorError, deniedPermission } from "../errors.ts";

/** The shim's exports (see NAPI_MODULE_INIT in shims/native/napi.c). */
export interface NativeShim {
  /** backend: a backend this build has ("epoll" on Linux, "kqueue" on macOS/FreeBSD and in the libkqueue test build). */
  /** blockWait: 1 (the default) when turns block in the kernel (wait "block"), 0 when a poller thread waits (io_uring sets its ring up for it). */
  create(backend: string, edge: number, maxEvents: number, nodelay: number, shed: number, blockWait?: number): NativeHandle;
  /** Validates the core's regions against the memory's length, once; throws when they do not fit. */
  attach(h: NativeHandle, memory: Uint8Array): void;
  /** rcvbuf, sndbuf, deferAcceptS: 0 leaves the kernel's default (set before listen(): sockopts.c). */
  listen(h: NativeHandle, host: string, port: number, backlog: number, reusePort: number, rcvbuf?: number, sndbuf?: number, deferAcceptS?: number): [number, number];
  /** [keepAlive 0|1, idle s, interval s, count, TCP_USER_TIMEOUT ms]: set on every socket accepted or connected from now on. */
  setSockopts(h: NativeHandle, opts: Float64Array): void;
  /**
   * What the kernel holds for a descriptor this reactor owns (getsockopt, for tests and the
   * curious): [SO_KEEPALIVE, idle s, interval s, count, TCP_USER_TIMEOUT ms, SO_RCVBUF,
   * SO_SNDBUF, TCP_DEFER_ACCEPT s, TCP_NODELAY], -1 where the OS has no such option; undefined
   * for a descriptor the shim does not own.
   */
  sockopts(h: NativeHandle, fd: number): number[] | undefined;
  /** Which options this OS has: [SO_KEEPALIVE, keepalive idle, interval+count, TCP_USER_TIMEOUT, SO_RCVBUF/SNDBUF, TCP_DEFER_ACCEPT] as 0|1. */
  sockoptSupport(): number[];
  /** Raises RLIMIT_NOFILE's soft limit to the hard one (macOS: at most kern.maxfilesperproc): [soft before, soft after, hard, errno]. */
  raiseFdLimit(): [number, number, number, number];
  prepareConnect(h: NativeHandle, slot: number, gen: number, host: string, port: number, localAddress: string | null): void;
  /** Executes submissions, waits up to timeoutMs, polls. Returns events posted | WOKEN | MORE bits. */
  turn(h: NativeHandle, timeoutMs: number): number;
  /** The poller thread calls cb (the one given first) once the kernel queue is ready or timeoutMs passed. */
  waitAsync(h: NativeHandle, timeoutMs: number, cb: () => void): void;
  unref(h: NativeHandle): void;
  /** A handle (not a descriptor) that any thread may pass to wake(). */
  wakeHandle(h: NativeHandle): number;
  /**
   * Any thread: wakes a turn blocked in the kernel (epoll_wait, kevent), or the poller thread. False when that
   * reactor is gone (then nothing is written anywhere). Pass a handle to the module that made
   * it (each build keeps its own table).
   */
  wake(handle: number): boolean;
  closeFd(h: NativeHandle, fd: number): void;
  peerName(h: NativeHandle, fd: number): [string, number] | undefined;
  /** Asks for a sweep of kernel queue depths on the shim's sampler thread; returns at once (stats() has the last sweep's). */
  sampleQueues(h: NativeHandle, maxSockets: number): void;
  stats(h: NativeHandle, out: Float64Array): void;
  /** The first host contract violation's text (a record the shim refused), or undefined. */
  violation(h: NativeHandle): string | undefined;
  limits(): [number, number];
  /** A sysctl's integer value (macOS, *BSD: kern.maxfiles, ...), or undefined (no such name; Linux). */
  sysctl(name: string): number | undefined;
  /** Faults build only: [seed, probability per kind in FAULT_KINDS order]. */
  setFaults?(h: NativeHandle, cfg: Float64Array): void;
  destroy(h: NativeHandle): number;
}
export type NativeHandle = { readonly __brand: "wasm-reactor native handle" };

export const TURN_WOKEN = 0x40000000;
export const TURN_MORE = 0x20000000;
export const TURN_COUNT = 0x1fffffff;

/** The shim's stats, in the order of the S_* enum in shims/native/shim.h. */
export const NATIVE_STATS = [
  "calls", "turns", "waits", "events", "epollCtl", "accepts", "acceptEmfile", "acceptShed",
  "readCalls", "writeCalls", "wakeups", "overflowEvents", "starved", "asyncWaits",
  "queueSockets", "recvQueueBytes", "sendQueueBytes", "recvQueueMax", "sendQueueMax", "fdsOpen",
  "violations", "ctlErrors", "queueSweeps",
  // per-connection socket options (keepAlive, userTimeoutMs) the kernel refused, and the first one's errno
  "sockoptErrors", "sockoptErrno",
  // the faults build's injections by kind (FAULT_KINDS order in epoll.ts); 0 in the release build
  "faultReadEagain", "faultReadShort", "faultWriteEagain", "faultWriteShort", "faultEintr", "faultReset",
  "faultEpipe", "faultAcceptEmfile", "faultAcceptEnfile", "faultEnobufs", "faultConnectHang", "faultCtlEnospc",
  // io_uring (0 elsewhere): operations submitted, completions reaped, receives that ran out of
  // provided buffers, the chunks the kernel's buffer ring holds now, and io_uring_enter calls
  "uringSqes", "uringCqes", "uringEnobufs", "uringBuffers", "uringEnters", "uringBusy", "uringCqOverflows",
] as const;
export type NativeStats = Record<(typeof NATIVE_STATS)[number], number>;

/**
 * Which build of the shim: "release"; "faults", the same sources with -DWR_FAULTS (syscall
 * wrappers that inject seeded faults: the reactor option `faults`); "planted", a test-only
 * build with one check removed on purpose (tests/native/violations.test.ts must catch it);
 * "kqueue", a test-only Linux build of the kqueue backend linked against libkqueue (kqueue over
 * epoll), for the kqueue suites (tools/shim.mjs).
 */
export type NativeBuild = "release" | "faults" | "planted" | "kqueue";
const FILES: Record<NativeBuild, string> = { release: "wasm_reactor.node", faults: "wasm_reactor_faults.node", planted: "wasm_reactor_planted.node", kqueue: "wasm_reactor_kqueue.node" };

/** The backend a build of the shim has here: "kqueue" for the libkqueue test build, else the OS's. */
export function buildBackend(build: NativeBuild): "epoll" | "kqueue" {
  if (build === "kqueue") return "kqueue";
  return osBackend((globalThis as { process?: { platform?: string } }).process?.platform ?? "unknown") ?? "epoll";
}

/** The backend of this OS's release build, or undefined where there is none. */
function osBackend(platform: string): "epoll" | "kqueue" | undefined {
  return platform === "linux" ? "epoll" : platform === "darwin" || platform === "freebsd" ? "kqueue" : undefined;
}

const cached = new Map<NativeBuild, NativeShim>();
const failures = new Map<NativeBuild, string>();

/** The shim, or a ReactorError saying why it cannot be loaded. */
export function loadNative(build: NativeBuild = "release"): NativeShim {
  const hit = cached.get(build);
  if (hit) return hit;
  let failure = failures.get(build);
  if (failure) throw new ReactorError("ERR_HOST_UNAVAILABLE", failure);
  const url = new URL(`./${FILES[build]}`, import.meta.url);
  const path = fileURLToPath(url);
  const g = globalThis as { process?: { platform?: string } };
  const platform = g.process?.platform ?? "unknown";
  const backend = osBackend(platform);
  if (build === "kqueue" && platform !== "linux") failure = `wasm-reactor: the libkqueue test build of the shim is for Linux only (this is ${platform}, where host 'kqueue' uses the release build)`;
  else if (build === "kqueue" && !presentOrDenied(path)) failure = `wasm-reactor: host 'kqueue' on Linux exists only through libkqueue, for the tests: its test build of the shim is not built (${path} is missing); \`npm run build\` makes it when cmake is installed and tests/third_party/libkqueue-f966089.tar.gz is present. On Linux use host 'epoll'`;
  else if (build !== "kqueue" && !backend) failure = `wasm-reactor: no native host for ${platform} (epoll needs Linux; kqueue macOS or FreeBSD); use host 'portable' or 'sim'`;
  else if (!presentOrDenied(path)) failure = `wasm-reactor: the native shim${build === "release" ? "" : ` (${build} build)`} is not built (${path} is missing): install a C compiler (gcc or clang), then run \`npm rebuild wasm-reactor\` in a project that installed the package (\`npm run build\` in its checkout); host 'sim' works without it`;
  else {
    try {
      const shim = createRequire(import.meta.url)(path) as NativeShim;
      cached.set(build, shim);
      return shim;
    } catch (err) {
      failure = deniedPermission(err)
        ? `wasm-reactor: Deno refused to load the native shim ${path}: run with --allow-read --allow-ffi (or -A); docs/runtimes.md lists what each part needs`
        : `wasm-reactor: cannot load the native shim ${path}: ${(err as Error).message} (rebuild it with \`npm run build\`; Deno needs --allow-ffi)`;
    }
  }
  failures.set(build, failure);
  throw new ReactorError("ERR_HOST_UNAVAILABLE", failure);
}

/** Whether the shim's file exists; true when Deno may not even look (no --allow-read), so that loading it says which flags to add. */
function presentOrDenied(path: string): boolean {
  try { return existsSync(path); }
  catch (err) { if (deniedPermission(err)) return true; throw err; }
}
