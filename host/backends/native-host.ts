// What the native hosts (epoll, io_uring, kqueue) share: the TypeScript side of the native shim
// (shims/native/, with each backend's own C file beside its TypeScript). A native host is this
// class with a backend name, a build of the shim and the system's limits; epoll.ts and
// kqueue.ts are small.
//
// The shim does the whole host side of a turn natively — execute the submission ring, wait in
// the kernel (epoll_wait, kevent), accept and read into pool chunks, fill the event ring — in
// ONE crossing. So here `execute()` and `poll()` do nothing and `wait()` makes that call: the
// reactor always calls execute → wait → poll in that order (host/contract/contract.ts), and the
// shim keeps it.
//
// Two ways to wait (option `wait`):
//   "block"  — the call blocks in the kernel until I/O, the core's next deadline, or a wake
//              (`wakeHandle`, from any thread). For a thread that runs only the reactor: a
//              worker, or a process like `wasm-reactor serve`. Fastest: no thread hop.
//   "thread" — never blocks the JS thread: the call polls with timeout 0, and when nothing is
//              ready a poller thread waits in the backend (poll_wait in shims/native/shim.h)
//              and wakes JS through a thread-safe function. Writes made between turns wake the
//              poller (the reactor calls wake()). Works in Node, Deno and Bun alike (Bun has no
//              uv_poll).
import type { Host, HostLimits, ListenSpec, ConnectSpec, BoundAddress } from "../contract/contract.ts";
import type { Core } from "../core/core.ts";
import { loadNative, NATIVE_STATS, TURN_COUNT, TURN_MORE, TURN_WOKEN, type NativeBuild, type NativeHandle, type NativeShim, type NativeStats } from "./native.ts";
import { ReactorError, errnoName } from "../errors.ts";
import { readFileSync } from "node:fs";

/** The options every native host takes (the registry fills them from the reactor's options). */
export interface NativeHostOptions {
  wait: "block" | "thread";
  edgeTriggered: boolean;
  noDelay: boolean;
  /** Keep one descriptor in reserve and, on EMFILE/ENFILE, accept-and-close one pending connection. */
  shedOnEmfile: boolean;
  maxEvents: number;
  log: (line: string) => void;
  /** Raise RLIMIT_NOFILE's soft limit to the hard one before the budget is read (default true). */
  raiseFdLimit?: boolean;
  /** SO_KEEPALIVE with idle/interval/count on every accepted and connected socket, or off. */
  keepAlive?: KeepAlive | false;
  /** TCP_USER_TIMEOUT (Linux) on every accepted and connected socket; 0: off. */
  userTimeoutMs?: number;
}

/** Resolved TCP keepalive settings (host/options.ts checks them). */
export interface KeepAlive { idleS: number; intervalS: number; count: number }

/** Which socket options the shim of this OS can set (sockoptSupport() in shims/native/sockopts.c). */
export interface SockoptSupport { keepAliveIdle: boolean; keepAliveProbes: boolean; userTimeout: boolean; deferAccept: boolean }

/** What getsockopt says for one of our sockets (NativeHost.socketOptions); undefined where the OS has no such option. */
export interface SocketOptionsSeen {
  keepAlive: boolean; keepIdleS?: number; keepIntervalS?: number; keepCount?: number; userTimeoutMs?: number;
  recvBufferBytes: number; sendBufferBytes: number; deferAcceptS?: number; noDelay: boolean;
}

/**
 * Raises RLIMIT_NOFILE's soft limit to its hard limit, once it is below it, and says so in one
 * line (Go and the JVM do the same at start; the hard limit is what an operator granted, the
 * soft one a default for programs that do not expect many descriptors: select()'s FD_SETSIZE).
 * Process-wide: every reactor of the process shares the limit. Node, Deno and Bun already do
 * this at start (measured: docs/limits.md), so this matters where the soft limit was lowered
 * after start or the runtime did not raise it.
 */
export function raiseFdLimit(n: NativeShim, log: (line: string) => void): void {
  const [before, after, hard, errno] = n.raiseFdLimit();
  if (after > before) log(`wasm-reactor: raised the descriptor limit from ${before} to ${after} (RLIMIT_NOFILE soft → hard${after < hard ? `, capped at kern.maxfilesperproc` : ""}); raiseFdLimit: false keeps it`);
  else if (errno) log(`wasm-reactor: could not raise the descriptor limit from ${before} to its hard limit ${hard}: setrlimit said ${errnoName(errno)}; the budget starts from ${before}`);
}

/** The system's most a listen backlog may be, and how to raise it (undefined: unknown). */
export interface BacklogLimit { max: number; name: string; raise: string }

const ERR_TEXT: Record<string, string> = {
  EADDRINUSE: "the address is already in use; is another server on that port?",
  EACCES: "permission denied (ports below 1024 need privileges)",
  EADDRNOTAVAIL: "that address is not one of this machine's",
  EINVAL: "invalid address",
};

/** A number from a /proc file (Linux), or undefined. */
export function readProcNumber(file: string): number | undefined {
  try {
    const n = Number(readFileSync(file, "utf8").trim().split(/\s+/)[0]);
    return Number.isFinite(n) && n > 0 ? n : undefined;
  } catch { return undefined; }
}
/**
 * Linux's limits, from /proc (the epoll host, and the kqueue host's libkqueue test build): the
 * smallest of RLIMIT_NOFILE's soft limit, fs.nr_open (the most any process may have) and
 * fs.file-max (the whole system's, shared); the backlog's net.core.somaxconn.
 */
export function linuxLimits(n: NativeShim): HostLimits {
  const [soft, hard] = n.limits();
  const parts = [`RLIMIT_NOFILE soft ${soft} (hard ${hard})`];
  let limit = soft;
  for (const [name, file] of [["fs.nr_open", "/proc/sys/fs/nr_open"], ["fs.file-max", "/proc/sys/fs/file-max"]] as const) {
    const v = readProcNumber(file);
    if (v === undefined) continue;
    parts.push(`${name} ${v}`);
    if (v < limit) limit = v;
  }
  return { fdLimit: limit, source: parts.join(", ") };
}
export function linuxBacklog(): BacklogLimit | undefined {
  const max = readProcNumber("/proc/sys/net/core/somaxconn");
  return max === undefined ? undefined : { max, name: "net.core.somaxconn", raise: "sysctl -w net.core.somaxconn=" };
}

export abstract class NativeHost implements Host {
  readonly kind: "epoll" | "kqueue" | "uring";
  readonly waitStyle: "block" | "async";
  private attached = false;
  protected readonly n: NativeShim;
  protected readonly h: NativeHandle;
  protected readonly o: NativeHostOptions;
  private readonly wakeId: number;
  private waiting = false;
  private resolveWait: (() => void) | undefined;
  private readonly onReady = () => { const r = this.resolveWait; this.resolveWait = undefined; r?.(); };
  private readonly statsBuf = new Float64Array(NATIVE_STATS.length);
  private closed = false;
  /** Descriptors still open when the host closed (each one a leak; they were closed then). */
  leakedAtClose = 0;
  /** Set when the last wait was ended by wake(). */
  woken = false;

  /**
   * backend: the shim's backend ("epoll", "kqueue"); build: which .node has it (native.ts);
   * setup: called once the shim's reactor exists, before anything else (the faults build's odds).
   */
  constructor(backend: "epoll" | "kqueue" | "uring", build: NativeBuild, o: NativeHostOptions, setup?: (n: NativeShim, h: NativeHandle) => void) {
    this.kind = backend;
    this.o = o;
    this.waitStyle = o.wait === "block" ? "block" : "async";
    this.n = loadNative(build);
    if (o.raiseFdLimit !== false) raiseFdLimit(this.n, o.log); // before create(): the shim's table is sized from the limits
    const sup = this.sockoptSupport();
    if (o.userTimeoutMs && !sup.userTimeout) throw new ReactorError("ERR_INVALID_OPTION", `wasm-reactor: option 'userTimeoutMs' needs TCP_USER_TIMEOUT, which this system does not have (Linux only); use keepAlive to find dead peers`);
    this.h = this.n.create(backend, o.edgeTriggered ? 1 : 0, o.maxEvents, o.noDelay ? 1 : 0, o.shedOnEmfile ? 1 : 0, o.wait === "block" ? 1 : 0);
    try {
      const k = o.keepAlive;
      if (k || o.userTimeoutMs) this.n.setSockopts(this.h, Float64Array.from([k ? 1 : 0, k ? k.idleS : 0, k && sup.keepAliveProbes ? k.intervalS : 0, k && sup.keepAliveProbes ? k.count : 0, o.userTimeoutMs ?? 0]));
      setup?.(this.n, this.h);
    }
    catch (err) { this.n.destroy(this.h); throw err; }
    this.wakeId = this.n.wakeHandle(this.h);
  }

  /** Which socket options this OS's shim can set. */
  sockoptSupport(): SockoptSupport {
    const [, idle, probes, user, , defer] = this.n.sockoptSupport();
    return { keepAliveIdle: idle === 1, keepAliveProbes: probes === 1, userTimeout: user === 1, deferAccept: defer === 1 };
  }

  /**
   * What the kernel holds for one of this reactor's descriptors (a listener's or a
   * connection's: `fd` as the core names it), read with getsockopt: for tests and diagnostics.
   * Buffer sizes are as getsockopt reports them (Linux doubles what was set, for its own
   * bookkeeping). undefined for a descriptor this host does not own.
   */
  socketOptions(fd: number): SocketOptionsSeen | undefined {
    const v = this.closed ? undefined : this.n.sockopts(this.h, fd);
    if (!v) return undefined;
    const opt = (x: number) => (x < 0 ? undefined : x);
    return { keepAlive: v[0] > 0, keepIdleS: opt(v[1]), keepIntervalS: opt(v[2]), keepCount: opt(v[3]), userTimeoutMs: opt(v[4]),
      recvBufferBytes: v[5], sendBufferBytes: v[6], deferAcceptS: opt(v[7]), noDelay: v[8] > 0 };
  }

  /** The descriptor limit the budget starts from, and where it came from. */
  abstract limits(): HostLimits;
  /** The system's most a listen backlog may be (the kernel clamps a bigger one), or undefined. */
  protected abstract backlogLimit(): BacklogLimit | undefined;

  attach(core: Core): void {
    try { this.n.attach(this.h, core.u8); this.attached = true; }
    catch (err) { // the shim's code says which: a stale shim (another layout) or a memory it cannot use
      const code = (err as { code?: string }).code === "ERR_LAYOUT" ? "ERR_LAYOUT" : "ERR_NATIVE";
      throw new ReactorError(code, (err as Error).message);
    }
  }

  listen(spec: ListenSpec): { fd: number; address: BoundAddress } {
    const host = normalizeHost(spec.host);
    let backlog = spec.backlog;
    const lim = this.backlogLimit();
    if (lim !== undefined && backlog > lim.max) {
      this.o.log(`wasm-reactor: listen backlog ${backlog} is above ${lim.name} (${lim.max}); the kernel clamps it to ${lim.max} (raise it with ${lim.raise}${backlog})`);
      backlog = lim.max;
    }
    if (spec.deferAcceptS && !this.sockoptSupport().deferAccept) {
      throw new ReactorError("ERR_INVALID_OPTION", `wasm-reactor: listen option deferAcceptS needs TCP_DEFER_ACCEPT, which only Linux has; FreeBSD's accept filter (accf_data) is not the same thing (it holds a connection until data comes, with no time limit) and macOS has neither, so the library sets neither: leave deferAcceptS out here (docs/limits.md)`);
    }
    this.bufferClamp("recvBufferBytes", spec.recvBufferBytes, "rmem_max");
    this.bufferClamp("sendBufferBytes", spec.sendBufferBytes, "wmem_max");
    try {
      const [fd, port] = this.n.listen(this.h, host, spec.port, backlog, spec.reusePort ? 1 : 0, spec.recvBufferBytes ?? 0, spec.sendBufferBytes ?? 0, spec.deferAcceptS ?? 0);
      return { fd, address: { host, port } };
    } catch (err) {
      const errno = (err as { errno?: number }).errno;
      if (errno === undefined) throw err;
      const name = errnoName(errno);
      const syscall = String((err as Error).message).split(":")[0] || "listen";
      throw new ReactorError("ERR_LISTEN", `wasm-reactor: cannot listen on ${host}:${spec.port}: ${name} (${ERR_TEXT[name] ?? (err as Error).message})`, { errno, syscall });
    }
  }

  /** Linux caps SO_RCVBUF/SO_SNDBUF at net.core.rmem_max/wmem_max without a word: say so, as for the backlog. */
  private bufferClamp(option: string, bytes: number | undefined, sysctl: "rmem_max" | "wmem_max"): void {
    if (!bytes) return;
    const max = readProcNumber(`/proc/sys/net/core/${sysctl}`);
    if (max !== undefined && bytes > max) this.o.log(`wasm-reactor: listen ${option} ${bytes} is above net.core.${sysctl} (${max}); the kernel clamps it to ${max} (raise it with sysctl -w net.core.${sysctl}=${bytes})`);
  }

  checkConnect(spec: ConnectSpec): void {
    const fam = ipFamily(normalizeHost(spec.host));
    if (!fam) throw new ReactorError("ERR_INVALID_OPTION", `wasm-reactor: connect host must be an IPv4 or IPv6 address (or 'localhost'), got ${JSON.stringify(spec.host)}; resolve names first`);
    if (spec.localAddress !== undefined) {
      const lfam = ipFamily(spec.localAddress);
      if (!lfam) throw new ReactorError("ERR_INVALID_OPTION", `wasm-reactor: connect localAddress must be an IPv4 or IPv6 address, got ${JSON.stringify(spec.localAddress)}`);
      if (lfam !== fam) throw new ReactorError("ERR_INVALID_OPTION", `wasm-reactor: connect localAddress ${spec.localAddress} is IPv${lfam} but host ${spec.host} is IPv${fam}`);
    }
  }

  prepareConnect(slot: number, gen: number, spec: ConnectSpec): void {
    try {
      this.n.prepareConnect(this.h, slot, gen, normalizeHost(spec.host), spec.port, spec.localAddress ?? null);
    } catch (err) { // checkConnect lets nothing through that inet_pton refuses; if it ever does, say so plainly
      throw new ReactorError("ERR_INVALID_OPTION", `wasm-reactor: cannot connect to ${spec.host}:${spec.port}: ${(err as Error).message}`);
    }
  }

  execute(): void { /* done natively at the start of wait(): one crossing per turn */ }
  poll(): void { /* done natively at the end of wait() */ }

  wait(timeoutMs: number): boolean | Promise<boolean> {
    if (this.closed) return false;
    if (this.o.wait === "block" || timeoutMs === 0) {
      const r = this.n.turn(this.h, timeoutMs);
      this.woken = (r & TURN_WOKEN) !== 0;
      return true;
    }
    const r = this.n.turn(this.h, 0);
    if ((r & (TURN_COUNT | TURN_MORE)) !== 0) { this.woken = (r & TURN_WOKEN) !== 0; return true; }
    // Nothing ready: the poller thread waits; JS stays free.
    this.waiting = true;
    return new Promise<boolean>((resolve) => {
      this.resolveWait = () => {
        this.waiting = false;
        if (this.closed) { resolve(false); return; }
        this.n.unref(this.h);
        const r2 = this.n.turn(this.h, 0);
        this.woken = (r2 & TURN_WOKEN) !== 0;
        resolve(true);
      };
      this.n.waitAsync(this.h, timeoutMs, this.onReady);
    });
  }

  /** Wakes a wait in progress (the app acted between turns). Cheap when nothing waits. */
  wake(): void { if (this.waiting) this.n.wake(this.wakeId); }
  /**
   * What another thread passes to the shim's wake() (loadNative().wake(handle)) to end a blocked
   * turn: a handle, not a descriptor, so a wake after this host closed writes to nothing.
   */
  get wakeHandle(): number { return this.wakeId; }

  /**
   * The first host contract violation (a submission the shim refused: a descriptor it does not
   * own for that slot and generation, a bad chunk or chain, an unknown op), or undefined. Each
   * one is counted in metrics().host.violations and reported to the core as an error event.
   */
  get firstViolation(): string | undefined { return this.closed ? this.lastViolation : (this.lastViolation = this.n.violation(this.h)); }
  private lastViolation: string | undefined;

  closeDescriptor(fd: number): void { this.n.closeFd(this.h, fd); }

  remoteAddress(fd: number): BoundAddress | undefined {
    const p = this.n.peerName(this.h, fd);
    return p ? { host: p[0], port: p[1] } : undefined;
  }

  /**
   * The shim's counters for metrics(). `sample`: also ask for a sweep of kernel queue depths
   * (up to 4,096 sockets a sweep, round robin), made on the shim's sampler thread so that the
   * reactor's thread never waits on it; the queue figures are the last finished sweep's.
   */
  hostMetrics(sample: boolean): Record<string, number> {
    const s = this.nativeStats(sample ? 4096 : 0) as unknown as Record<string, number>;
    s.crossingsPerTurn = s.turns ? Math.round((s.calls / s.turns) * 1000) / 1000 : 0; // one object: metrics() runs inside a turn
    return s;
  }

  /** The shim's counters; `queues` > 0 asks for a sweep of up to that many sockets' kernel queues (off-thread). */
  nativeStats(queues = 0): NativeStats {
    if (!this.closed) {
      if (queues > 0) this.n.sampleQueues(this.h, queues);
      this.n.stats(this.h, this.statsBuf);
    }
    const out = {} as NativeStats;
    for (let i = 0; i < NATIVE_STATS.length; i++) out[NATIVE_STATS[i]] = this.statsBuf[i];
    return out;
  }

  close(): void {
    if (this.closed) return;
    if (this.attached) this.n.turn(this.h, 0); // what the last turn submitted (the final CLOSEs) runs now
    this.n.stats(this.h, this.statsBuf);
    this.lastViolation = this.n.violation(this.h);
    this.closed = true;
    this.leakedAtClose = this.n.destroy(this.h);
    const r = this.resolveWait;
    this.resolveWait = undefined;
    r?.();
  }
}

function normalizeHost(h: string): string { return h === "localhost" ? "127.0.0.1" : h; }
/** 4 or 6 when `h` is an address inet_pton takes (dotted quad; RFC 4291 text), else 0. */
function ipFamily(h: string): 0 | 4 | 6 {
  if (typeof h !== "string") return 0;
  if (/^\d{1,3}(\.\d{1,3}){3}$/.test(h)) return h.split(".").every((x) => Number(x) <= 255 && (x === "0" || !x.startsWith("0"))) ? 4 : 0;
  if (!h.includes(":") || !/^[0-9a-fA-F:.]+$/.test(h)) return 0;
  // The WHATWG URL parser implements the IPv6 text grammar in Node, Deno and Bun alike.
  try { new URL(`http://[${h}]/`); return 6; } catch { return 0; }
}
