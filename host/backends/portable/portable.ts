// The portable host: the runtime's own sockets (node:net on Node, Deno.listen/Deno.connect on
// Deno, Bun.listen/Bun.connect on Bun) behind the host contract (host/contract/contract.ts),
// for Windows, a machine without a C compiler, or a Deno without --allow-ffi. The same core
// runs on it, with the same budgets, timers, backpressure and record/replay; what it cannot
// keep is said in docs/portable.md.
//
// How it works:
//  1. Descriptors are numbers this host hands out (from 3 up, never reused while this host
//     lives): the runtime's sockets have no descriptor to show. Ownership is the native shim's
//     rule (see `owned` below): a CONNECT's socket belongs to its (slot, gen) from the start, a
//     listener or an accepted socket to the first record that names it with a slot.
//  2. The runtime pushes (node:net, Bun) or is pulled for (Deno) bytes, FINs, errors and
//     drains; a driver (driver.ts, one file per runtime) hands them to the socket's record
//     here (PSock, the Sink), which queues them and marks the socket ready. Nothing reaches the
//     core until poll(), which copies queued bytes into chunks from the supply ring, within
//     the budgets the core published (acceptBudget, readsPerConn, HOST_*_PAUSED, the ring's
//     room), exactly as a native host reads within them.
//  3. Backpressure both ways: a connection reads ahead at most READ_AHEAD_BYTES (then the
//     runtime socket is paused, and the kernel's window closes on the peer); the runtime holds
//     at most WRITE_BUFFER_BYTES of a connection's writes (then WRITE answers EAGAIN with what
//     it took, and EV_WRITABLE follows the runtime's drain).
//  4. Arrivals: node:net and Bun accept as connections come and cannot be paused, so arrivals
//     wait here (HELD) until the core's budget lets poll() report them; more than a listener's
//     backlog are reset at once and counted (acceptsDropped), as a full kernel queue drops
//     them. Deno accepts only while fewer than HOLD_PULL wait, so the kernel's queue holds the rest.
//  5. wait() is "async": it returns at once when something is reportable, else a promise that
//     the first socket activity with something to report settles (after the runtime's current
//     batch of I/O callbacks: one turn takes them all), or the timeout, or wake().
//  6. The core's memory is not trusted (as the native shim does not trust it): a submission on a
//     descriptor not owned for its slot and generation, a bad chunk or chain, an unknown op or
//     a CONNECT with no address is a violation: counted, its first text kept, answered with the
//     completion it would have had, never acted on.
import type { Host, HostLimits, ListenSpec, ConnectSpec, BoundAddress } from "../../contract/contract.ts";
import { type Core, K, headerWord } from "../../core/core.ts";
import { ChunkMeta, ChunkMeta_BYTES } from "../../core/layout.ts";
import { ReactorError, ERRNO_BY_NAME } from "../../errors.ts";
import { readFileSync } from "node:fs";
import { type Driver, type DriverConn, type DriverListener, type Sink, ListenFailure, runtimeName } from "./driver.ts";
import { nodeDriver } from "./node.ts";
import { denoDriver } from "./deno.ts";
import { bunDriver } from "./bun.ts";

export interface PortableOptions {
  noDelay: boolean;
  /** Option keepAlive: the runtime sets what it can (driver.keepAlive), and the rest is said once in the log. */
  keepAlive?: { idleS: number; intervalS: number; count: number } | false;
  /** Option userTimeoutMs: no runtime can set it; said once in the log. */
  userTimeoutMs?: number;
  /** Option raiseFdLimit: no runtime can raise RLIMIT_NOFILE; said once in the log when the soft limit is below the hard one. */
  raiseFdLimit?: boolean;
  log: (line: string) => void;
  /** Bytes a connection may read ahead of the core before its runtime socket is paused (default READ_AHEAD_BYTES). */
  readAheadBytes?: number;
  /** Bytes of a connection's writes the runtime may hold before WRITE says EAGAIN (default WRITE_BUFFER_BYTES). */
  writeBufferBytes?: number;
}

/** 64 KiB: what node:net and libuv read in one go; a connection's read-ahead stays within one such read of it. */
export const READ_AHEAD_BYTES = 65536;
/** 64 KiB: about one loopback socket's send buffer; the runtime holds no more than this per connection. */
export const WRITE_BUFFER_BYTES = 65536;
/** Deno: accept while fewer than this many arrivals wait for the core's budget (the kernel's queue holds the rest). */
const HOLD_PULL = 64;
/** Where the runtime gives no descriptor limit (not Linux, or /proc unreadable): a default, said in limits().source. */
export const DEFAULT_FD_LIMIT = 4096;

const EBADF = ERRNO_BY_NAME.EBADF, EINVAL = ERRNO_BY_NAME.EINVAL;
const W_ACCEPT_BUDGET = headerWord("acceptBudget"), W_READS_PER_CONN = headerWord("readsPerConn"), W_HOST_FLAGS = headerWord("hostFlags");

const ERR_TEXT: Record<string, string> = {
  EADDRINUSE: "the address is already in use; is another server on that port?",
  EACCES: "permission denied (ports below 1024 need privileges)",
  EADDRNOTAVAIL: "that address is not one of this machine's",
  EINVAL: "invalid address or option",
};

/** One socket: a listener or a connection (the one JS object per socket this host costs, beside the runtime's). */
class PSock implements Sink {
  fd = -1;
  slot: number = K.NONE;
  gen = 0;
  adopted = false;
  interest = 0;
  closed = false;
  d: DriverConn | undefined;
  // listener
  listener: DriverListener | undefined;
  held: PSock[] | undefined;
  backlog = 0;
  // inbound: what the runtime read and the core has not
  q: Uint8Array[] = [];
  qOff = 0;
  queued = 0;
  reading = true;
  eof = false;
  eofPosted = false;
  err = 0;
  errPosted = false;
  // outbound
  blocked = false;
  connecting = false;

  constructor(private readonly host: PortableHost, readonly isListener: boolean) {}

  onData(b: Uint8Array): void {
    if (this.closed || this.err) return;
    this.q.push(b);
    this.queued += b.length;
    this.host.stats.runtimeReads++;
    if (this.queued >= this.host.readAheadBytes && this.reading) { this.reading = false; this.d?.setReading(false); }
    this.host.mark(this);
  }
  onEnd(): void { if (this.closed || this.eof) return; this.eof = true; this.host.mark(this); }
  onError(errno: number): void {
    if (this.closed || this.err) return;
    this.err = errno;
    // As a kernel does after a reset: what was not read yet is gone; the next read says why.
    this.q.length = 0; this.qOff = 0; this.queued = 0;
    this.host.mark(this);
  }
  onWritable(): void { if (this.closed) return; this.blocked = false; if (this.interest & K.IN_WRITE) this.host.mark(this); }
  onConnect(): void { if (!this.closed) this.host.connectDone(this, 0); }
  onConnectFail(errno: number): void { if (!this.closed) { this.err = errno; this.host.connectDone(this, errno); } }
}

export class PortableHost implements Host {
  readonly kind = "portable" as const;
  readonly waitStyle = "async" as const;
  woken = false;
  leakedAtClose = 0;
  firstViolation: string | undefined;
  readonly readAheadBytes: number;
  readonly writeBufferBytes: number;
  readonly stats = {
    turns: 0, waits: 0, wakeups: 0, accepts: 0, acceptsDropped: 0, connects: 0, runtimeReads: 0, reads: 0, bytesIn: 0,
    writes: 0, bytesOut: 0, writeEagain: 0, copies: 0, bytesCopied: 0, overflowEvents: 0, fdsOpened: 0, fdsClosed: 0, violations: 0,
  };
  private core!: Core;
  private readonly driver: Driver;
  private readonly o: PortableOptions;
  private readonly fds = new Map<number, PSock>();
  private nextFd = 3;
  /** Sockets with something that changed since poll() last looked; poll() decides what they report. */
  private readonly ready = new Set<PSock>();
  private readonly again: PSock[] = [];
  private readonly connectsDone: PSock[] = [];
  private readonly pendingConnects = new Map<number, { gen: number; spec: ConnectSpec }>();
  private readonly overflow: number[] = []; // 7 numbers per event that did not fit
  private waiter: ((alive: boolean) => void) | undefined;
  private timer: ReturnType<typeof setTimeout> | undefined;
  private kicked = false;
  private closedHost = false;
  // WRITE's chain check without allocation: a chunk seen in this chain carries this WRITE's stamp.
  private stamps = new Uint32Array(0);
  private stamp = 0;
  private scratch = new Uint8Array(0);
  private readonly keepAliveMs: number;

  constructor(o: PortableOptions, driver: Driver) {
    this.o = o;
    this.driver = driver;
    this.readAheadBytes = o.readAheadBytes ?? READ_AHEAD_BYTES;
    this.keepAliveMs = o.keepAlive ? o.keepAlive.idleS * 1000 : 0;
    // What the runtime's sockets cannot set is said once, here, rather than dropped in silence (docs/limits.md).
    const cannot: string[] = [];
    if (o.keepAlive) {
      if (driver.keepAlive === "on") cannot.push(`keepAlive's idleS ${o.keepAlive.idleS}, intervalS and count (${driver.runtime} turns keepalive on with the system's own times)`);
      else cannot.push(`keepAlive's intervalS ${o.keepAlive.intervalS} and count ${o.keepAlive.count} (${driver.runtime} sets the idle time only; the system's interval and count apply)`);
    }
    if (o.userTimeoutMs) cannot.push(`userTimeoutMs (TCP_USER_TIMEOUT)`);
    if (cannot.length) o.log(`wasm-reactor: the portable host (${driver.runtime}'s own sockets) cannot set ${cannot.join(", nor ")}; a native host (epoll, kqueue) can (docs/limits.md)`);
    this.writeBufferBytes = o.writeBufferBytes ?? WRITE_BUFFER_BYTES;
  }

  // ── Host contract ──────────────────────────────────────────────────────────────────────
  attach(core: Core): void {
    this.core = core;
    this.stamps = new Uint32Array(core.caps.chunkCount);
  }

  /**
   * The runtimes give no RLIMIT_NOFILE: on Linux it is read from /proc/self/limits (Node raises
   * its soft limit to the hard one at start, so that is the figure); elsewhere DEFAULT_FD_LIMIT.
   * The reactor option fdLimit overrides either.
   */
  limits(): HostLimits {
    try {
      if (!this.driver.mayRead("/proc/self/limits")) throw new Error("not allowed to read /proc/self/limits");
      const m = /^Max open files\s+(\d+|unlimited)\s+(\d+|unlimited)/m.exec(readFileSync("/proc/self/limits", "utf8"));
      if (m) {
        const soft = m[1] === "unlimited" ? 1 << 30 : Number(m[1]);
        if (this.o.raiseFdLimit !== false && m[1] !== m[2]) this.o.log(`wasm-reactor: the descriptor limit is ${m[1]} (hard ${m[2]}) and the portable host cannot raise it (the runtimes have no setrlimit); raise it before start (ulimit -n ${m[2]}, LimitNOFILE=) or use a native host (docs/limits.md)`);
        return { fdLimit: soft, source: `RLIMIT_NOFILE soft ${m[1]} (hard ${m[2]}, from /proc/self/limits; the portable host's sockets share it with the runtime's other descriptors)` };
      }
    } catch { /* not Linux, or no read permission (Deno without --allow-read) */ }
    return { fdLimit: DEFAULT_FD_LIMIT, source: `the portable host's default ${DEFAULT_FD_LIMIT} (${this.driver.runtime} does not say its descriptor limit here; set option fdLimit)` };
  }

  listen(spec: ListenSpec): { fd: number; address: BoundAddress } {
    const host = normalizeHost(spec.host);
    const cannot = [spec.recvBufferBytes && "recvBufferBytes (SO_RCVBUF)", spec.sendBufferBytes && "sendBufferBytes (SO_SNDBUF)", spec.deferAcceptS && "deferAcceptS (TCP_DEFER_ACCEPT)"].filter(Boolean);
    if (cannot.length) this.o.log(`wasm-reactor: the portable host (${this.driver.runtime}'s own sockets) cannot set ${cannot.join(", ")} on ${host}:${spec.port}; the kernel's defaults apply (a native host can: docs/limits.md)`);
    const s = new PSock(this, true);
    s.held = [];
    s.backlog = spec.backlog;
    try {
      const { listener, port } = this.driver.listen({ ...spec, host }, this.o.noDelay, () => this.arrival(s), (errno) => { if (!s.closed) { s.err = errno; this.mark(s); } }, this.keepAliveMs);
      s.listener = listener;
      this.open(s);
      return { fd: s.fd, address: { host, port } };
    } catch (err) {
      if (!(err instanceof ListenFailure)) throw err;
      const what = ERR_TEXT[err.code] ? `${err.code} (${ERR_TEXT[err.code]})` : `${err.code} (${err.message})`;
      throw new ReactorError("ERR_LISTEN", `wasm-reactor: cannot listen on ${host}:${spec.port}: ${what}`, { errno: err.errno, syscall: err.syscall });
    }
  }

  checkConnect(spec: ConnectSpec): void {
    if (typeof spec.host !== "string" || spec.host === "") throw new ReactorError("ERR_INVALID_OPTION", `wasm-reactor: connect host must be an address, got ${JSON.stringify(spec.host)}`);
    if (spec.localAddress !== undefined && !this.driver.canBindSource) {
      throw new ReactorError("ERR_INVALID_OPTION", `wasm-reactor: host 'portable' on ${this.driver.runtime} cannot choose a connection's source address (localAddress ${spec.localAddress}): ${this.driver.runtime}'s connect has no such option; leave localAddress out, or use a native host`);
    }
  }

  prepareConnect(slot: number, gen: number, spec: ConnectSpec): void { this.pendingConnects.set(slot, { gen, spec: { ...spec, host: normalizeHost(spec.host) } }); }
  remoteAddress(fd: number): BoundAddress | undefined { return this.fds.get(fd)?.d?.remote(); }

  closeDescriptor(fd: number): void {
    const s = this.fds.get(fd);
    if (!s) { this.violation(`closeDescriptor of descriptor ${fd}: not a descriptor this host opened and still owns`); return; }
    if (s.adopted) { this.violation(`closeDescriptor of descriptor ${fd}: the core adopted it as slot ${s.slot} gen ${s.gen}`); return; }
    this.closeSock(s, false);
  }

  execute(): void { this.core.drainSubmissions(this.submit); }

  wait(timeoutMs: number): boolean | Promise<boolean> {
    this.woken = false;
    if (this.closedHost) return false;
    this.stats.turns++;
    if (timeoutMs === 0 || this.hasImmediate()) return true;
    this.stats.waits++;
    return new Promise<boolean>((resolve) => {
      this.waiter = resolve;
      this.kicked = false;
      if (timeoutMs > 0) this.timer = setTimeout(this.settle, timeoutMs);
    });
  }

  /** Ends a wait in progress (the app acted between turns). */
  wake(): void {
    if (!this.waiter) return;
    this.woken = true;
    this.stats.wakeups++;
    this.settle();
  }

  poll(): void {
    const core = this.core;
    const ov = this.overflow;
    if (ov.length) { // completions that did not fit last turn go first, in order
      let i = 0;
      for (; i < ov.length && core.eventSpace() > 0; i += 7) core.pushEvent(ov[i], ov[i + 1], ov[i + 2], ov[i + 3], ov[i + 4], ov[i + 5], ov[i + 6]);
      ov.splice(0, i);
    }
    for (const s of this.connectsDone) {
      if (s.closed) continue;
      if (s.err) this.post(K.EV_CONNECT_FAILED, s.slot, s.gen, s.fd, 0, 0, s.err);
      else { this.post(K.EV_CONNECTED, s.slot, s.gen, s.fd, 0, 0, 0); if (s.q.length || s.eof) this.ready.add(s); }
      s.errPosted = s.err !== 0; // a failed connect's error is told once, by EV_CONNECT_FAILED
    }
    this.connectsDone.length = 0;
    const u32 = core.u32;
    const flags = u32[W_HOST_FLAGS];
    const acceptsPaused = (flags & K.HOST_ACCEPTS_PAUSED) !== 0, readsPaused = (flags & K.HOST_READS_PAUSED) !== 0;
    let acceptBudget = u32[W_ACCEPT_BUDGET];
    const readsPerConn = u32[W_READS_PER_CONN];
    const again = this.again;
    // Listeners that took some of the accept budget and still have clients waiting go to the back
    // behind everything else, so the next poll serves first a listener the budget ran out on: a
    // flood on one port cannot starve another (contract/budgets).
    const tookMore: PSock[] = [];
    for (const s of this.ready) {
      this.ready.delete(s);
      if (s.closed) continue;
      if (s.isListener) {
        const held = s.held!;
        if (!(s.interest & K.IN_READ) || acceptsPaused) { if (held.length) again.push(s); continue; }
        if (s.err && held.length === 0 && this.canPost()) { // the runtime's accept failed (EMFILE): told once, when nothing waits before it
          this.post(K.EV_ACCEPT_ERROR, s.slot, s.gen, s.fd, 0, 0, s.err);
          s.err = 0;
          continue;
        }
        let took = 0;
        while (held.length && acceptBudget > 0 && this.canPost()) {
          const c = held.shift()!;
          if (c.closed) continue;
          this.open(c);
          acceptBudget--;
          took++;
          this.stats.accepts++;
          this.post(K.EV_ACCEPTED, s.slot, s.gen, c.fd, 0, 0, 0);
          if (c.q.length || c.eof || c.err) this.ready.add(c);
        }
        s.listener!.setAccepting(held.length < HOLD_PULL);
        if (held.length || s.err) (took ? tookMore : again).push(s);
        continue;
      }
      if (s.fd < 0 || s.connecting) continue; // not reported yet: poll() adds it once it is
      if (!this.canPost()) { again.push(s); continue; }
      let pending = false;
      if (s.interest & K.IN_READ) {
        if (s.err) {
          if (!s.errPosted) { s.errPosted = true; this.post(K.EV_READ_ERROR, s.slot, s.gen, s.fd, 0, 0, s.err); }
          continue;
        }
        if (s.queued > 0 && !readsPaused) this.readInto(s, readsPerConn);
        if (s.queued > 0) pending = true;
        else if (s.eof && !s.eofPosted) {
          if (this.canPost()) { s.eofPosted = true; this.post(K.EV_READ, s.slot, s.gen, s.fd, K.NONE, 0, 0); }
          else pending = true;
        }
      }
      if ((s.interest & K.IN_WRITE) && !s.err) {
        if (this.writable(s)) { if (this.canPost()) this.post(K.EV_WRITABLE, s.slot, s.gen, s.fd, 0, 0, 0); else pending = true; }
      }
      if (pending) again.push(s);
    }
    // What is left goes to the back: the next poll starts with the sockets that got nothing (fairness).
    for (const s of again) this.ready.add(s);
    for (const s of tookMore) this.ready.add(s);
    again.length = 0;
  }

  /** The host's counters for metrics().host. */
  hostMetrics(): Record<string, number> {
    let held = 0;
    for (const s of this.fds.values()) if (s.held) held += s.held.length;
    return { ...this.stats, fdsOpen: this.fds.size, held };
  }

  close(): void {
    if (this.closedHost) return;
    this.closedHost = true;
    this.leakedAtClose = this.fds.size;
    for (const s of this.fds.values()) this.closeSock(s, true);
    const w = this.waiter;
    this.waiter = undefined;
    if (this.timer !== undefined) { clearTimeout(this.timer); this.timer = undefined; }
    w?.(false);
  }

  // ── for the sockets (PSock) ───────────────────────────────────────────────────────────
  /** Something changed on s: poll() looks at it; a wait in progress ends if s now has something to report. */
  mark(s: PSock): void {
    if (s.fd < 0 || s.connecting) return; // a held arrival or a connect under way: poll() adds it when it is reported
    this.ready.add(s);
    if (this.waiter && !this.kicked && this.reportable(s)) this.kick();
  }

  connectDone(s: PSock, _errno: number): void {
    s.connecting = false;
    this.connectsDone.push(s);
    if (this.waiter && !this.kicked) this.kick();
  }

  // ── internals ─────────────────────────────────────────────────────────────────────────
  /** The runtime accepted a connection on listener l: it waits (HELD) until poll() reports it. */
  private arrival(l: PSock): PSock {
    const c = new PSock(this, false);
    const held = l.held!;
    if (l.closed) { queueMicrotask(() => c.d?.close(true)); c.closed = true; return c; }
    if (held.length >= Math.max(l.backlog, HOLD_PULL)) {
      // A full queue: as the kernel drops what its backlog cannot hold (reset once the driver attached it).
      this.stats.acceptsDropped++;
      c.closed = true;
      queueMicrotask(() => c.d?.close(true));
      return c;
    }
    held.push(c);
    l.listener?.setAccepting(held.length < HOLD_PULL);
    this.mark(l);
    return c;
  }

  private open(s: PSock): void {
    s.fd = this.nextFd;
    this.nextFd = this.nextFd >= 0x7ffffffe ? 3 : this.nextFd + 1;
    while (this.fds.has(this.nextFd)) this.nextFd++;
    this.fds.set(s.fd, s);
    this.stats.fdsOpened++;
  }

  private closeSock(s: PSock, reset: boolean): void {
    if (s.fd >= 0 && this.fds.get(s.fd) === s) { this.fds.delete(s.fd); this.stats.fdsClosed++; }
    s.closed = true;
    this.ready.delete(s);
    s.q.length = 0; s.queued = 0;
    if (s.isListener) {
      s.listener?.close();
      for (const c of s.held!) { c.closed = true; c.d?.close(true); }
      s.held!.length = 0;
      return;
    }
    s.d?.close(reset);
  }

  private writable(s: PSock): boolean { return !s.blocked && s.d !== undefined && s.d.buffered() < this.writeBufferBytes; }

  /** Whether s has something poll() would report now. */
  private reportable(s: PSock): boolean {
    if (s.closed) return false;
    const u32 = this.core.u32, flags = u32[W_HOST_FLAGS];
    if (s.isListener) return (s.interest & K.IN_READ) !== 0 && (flags & K.HOST_ACCEPTS_PAUSED) === 0 && (s.err !== 0 || (s.held!.length > 0 && u32[W_ACCEPT_BUDGET] > 0));
    if (s.interest & K.IN_READ) {
      if (s.err) return !s.errPosted;
      if (s.queued > 0) { if ((flags & K.HOST_READS_PAUSED) === 0 && this.core.supplyCount() > 0) return true; }
      else if (s.eof && !s.eofPosted) return true;
    }
    return (s.interest & K.IN_WRITE) !== 0 && !s.err && this.writable(s);
  }

  /** Whether the next poll has something to report now (then wait() does not wait). */
  private hasImmediate(): boolean {
    if (this.overflow.length || this.connectsDone.length) return true;
    if (this.core.eventSpace() < this.core.caps.eventCap) return true; // completions execute() posted: the next turn's work
    for (const s of this.ready) if (this.reportable(s)) return true;
    return false;
  }

  /** Ends the wait after the runtime's current batch of I/O callbacks, so one turn takes them all. */
  private kick(): void {
    this.kicked = true;
    this.driver.afterIo(this.settle);
  }

  private readonly settle = (): void => {
    if (this.timer !== undefined) { clearTimeout(this.timer); this.timer = undefined; }
    const w = this.waiter;
    this.waiter = undefined;
    this.kicked = false;
    w?.(true);
  };

  /** Copies s's queued bytes into chunks from the supply ring: at most `budget` chunks, while the ring has room. */
  private readInto(s: PSock, budget: number): void {
    const core = this.core, u8 = core.u8, size = core.chunkSize;
    for (let reads = 0; reads < budget && s.queued > 0 && this.canPost(); reads++) {
      const c = core.supplyPop();
      if (c === K.NONE) return;
      const base = core.chunkDataOffset(c);
      const want = s.queued < size ? s.queued : size;
      let n = 0;
      while (n < want) {
        const b = s.q[0];
        const left = b.length - s.qOff;
        const take = left < want - n ? left : want - n;
        u8.set(s.qOff === 0 && take === b.length ? b : b.subarray(s.qOff, s.qOff + take), base + n);
        n += take;
        if (take === left) { s.q.shift(); s.qOff = 0; } else s.qOff += take;
      }
      s.queued -= n;
      this.stats.reads++;
      this.stats.bytesIn += n;
      this.stats.copies++;
      this.stats.bytesCopied += n;
      this.post(K.EV_READ, s.slot, s.gen, s.fd, c, n, 0);
    }
    if (!s.reading && s.queued < this.readAheadBytes && !s.eof) { s.reading = true; s.d?.setReading(true); }
  }

  private readonly submit = (op: number, flags: number, slot: number, gen: number, fd: number, a: number, b: number): void => {
    switch (op) {
      case K.SQ_INTEREST: {
        const s = this.owned(fd, slot, gen, "INTEREST");
        if (!s) { this.post(K.EV_READ_ERROR, slot, gen, fd, 0, 0, EBADF); return; }
        s.interest = a;
        if (s.isListener) s.listener!.setAccepting(s.held!.length < HOLD_PULL);
        this.ready.add(s);
        return;
      }
      case K.SQ_WRITE: this.write(slot, gen, fd, a, b); return;
      case K.SQ_SHUTDOWN: {
        const s = this.owned(fd, slot, gen, "SHUTDOWN");
        if (!s || s.isListener) { this.post(K.EV_READ_ERROR, slot, gen, fd, 0, 0, EBADF); return; }
        s.d?.shutdown();
        return;
      }
      case K.SQ_CLOSE: {
        const s = this.owned(fd, slot, gen, "CLOSE");
        if (s) this.closeSock(s, (flags & K.SQF_RESET) !== 0);
        return;
      }
      case K.SQ_CONNECT: this.startConnect(slot, gen); return;
      default: this.violation(`unknown submission op ${op} (slot ${slot}, descriptor ${fd})`);
    }
  };

  /**
   * The socket behind fd if a record naming (slot, gen) may act on it (the native shim's
   * wr_fd_owner rule, see 1. at the top), else undefined with the violation counted.
   */
  private owned(fd: number, slot: number, gen: number, what: string): PSock | undefined {
    const s = this.fds.get(fd);
    const name = slot === K.NONE ? "slot NONE" : `slot ${slot} gen ${gen}`;
    if (!s) { this.violation(`${what} of ${name} on descriptor ${fd}: not a descriptor this host opened and still owns`); return undefined; }
    if (slot === K.NONE) {
      if (what !== "CLOSE") { this.violation(`${what} of slot NONE on descriptor ${fd}: only a CLOSE may name a descriptor the core refused`); return undefined; }
      if (s.adopted) { this.violation(`CLOSE of slot NONE on descriptor ${fd}: the core adopted it as slot ${s.slot} gen ${s.gen}`); return undefined; }
      return s;
    }
    if (s.slot === K.NONE) { s.slot = slot; s.gen = gen; }
    else if (s.slot !== slot || s.gen !== gen) { this.violation(`${what} of ${name} on descriptor ${fd}: it belongs to slot ${s.slot} gen ${s.gen}`); return undefined; }
    s.adopted = true;
    return s;
  }

  private violation(text: string): void {
    this.stats.violations++;
    this.firstViolation ??= text;
  }

  /** Why the chain from `head` cannot carry `bytes` bytes (bounds, loops, length), or undefined; no allocation. */
  private chainFault(head: number, bytes: number): string | undefined {
    const core = this.core, count = core.caps.chunkCount, size = core.chunkSize, u32 = core.u32, metaOff = core.regions.chunkMetaOff;
    const stamp = this.stamp = (this.stamp + 1) >>> 0 || 1;
    let c = head, left = bytes;
    while (left > 0) {
      if (c === K.NONE) return `the chain ends ${left} of ${bytes} bytes short`;
      if (c >= count) return `chunk index ${c} is not below the chunk count ${count}`;
      if (this.stamps[c] === stamp) return `the chain loops (chunk ${c} comes twice)`;
      this.stamps[c] = stamp;
      const meta = metaOff + c * ChunkMeta_BYTES;
      const start = u32[(meta + ChunkMeta.start) >> 2], len = u32[(meta + ChunkMeta.len) >> 2];
      if (start > size || len > size - start) return `chunk ${c}: start ${start} + len ${len} is past the chunk size ${size}`;
      left -= len < left ? len : left;
      c = u32[(meta + ChunkMeta.next) >> 2];
    }
    return undefined;
  }

  private write(slot: number, gen: number, fd: number, head: number, bytes: number): void {
    const s = this.owned(fd, slot, gen, "WRITE");
    if (!s || s.isListener) { this.post(K.EV_WRITE_DONE, slot, gen, fd, 0, 0, EBADF); return; }
    const bad = this.chainFault(head, bytes);
    if (bad) { this.violation(`WRITE of ${bytes} bytes on descriptor ${fd} (slot ${slot}): ${bad}`); this.post(K.EV_WRITE_DONE, slot, gen, fd, 0, 0, EINVAL); return; }
    const d = s.d;
    if (!d || s.err || s.connecting) { this.post(K.EV_WRITE_DONE, slot, gen, fd, 0, 0, s.err === K.E_CONNRESET ? K.E_CONNRESET : K.E_PIPE); return; }
    const room = s.blocked ? 0 : this.writeBufferBytes - d.buffered();
    const want = bytes < room ? bytes : room > 0 ? room : 0;
    let n = 0;
    if (want > 0) {
      const core = this.core, u32 = core.u32, metaOff = core.regions.chunkMetaOff;
      const meta = metaOff + head * ChunkMeta_BYTES;
      const start = u32[(meta + ChunkMeta.start) >> 2], len = u32[(meta + ChunkMeta.len) >> 2];
      const from = core.chunkDataOffset(head) + start;
      if (len >= want) n = d.write(core.u8, from, want); // one chunk: straight from pool memory
      else { // a chain: gathered into one buffer, one write (as writev would)
        if (this.scratch.length < want) this.scratch = new Uint8Array(Math.max(want, this.scratch.length * 2, 65536));
        let c = head, done = 0;
        while (done < want) {
          const m = metaOff + c * ChunkMeta_BYTES;
          const st = u32[(m + ChunkMeta.start) >> 2];
          const k = Math.min(u32[(m + ChunkMeta.len) >> 2], want - done);
          const off = core.chunkDataOffset(c) + st;
          this.scratch.set(core.u8.subarray(off, off + k), done);
          done += k;
          c = u32[(m + ChunkMeta.next) >> 2];
        }
        this.stats.copies++;
        this.stats.bytesCopied += want;
        n = d.write(this.scratch, 0, want);
      }
      if (n < 0) { this.post(K.EV_WRITE_DONE, slot, gen, fd, 0, 0, K.E_PIPE); return; } // the runtime closed it
      if (n < want) s.blocked = true; // the kernel took less (Bun): EV_WRITABLE once it drains
      this.stats.writes++;
      this.stats.bytesOut += n;
    }
    if (n < bytes) this.stats.writeEagain++;
    this.post(K.EV_WRITE_DONE, slot, gen, fd, 0, n, n < bytes ? K.E_AGAIN : 0);
  }

  private startConnect(slot: number, gen: number): void {
    const prepared = this.pendingConnects.get(slot);
    this.pendingConnects.delete(slot);
    const spec = prepared && prepared.gen === gen ? prepared.spec : undefined;
    if (!spec) { this.violation(`CONNECT for slot ${slot} gen ${gen} with no address prepared`); this.post(K.EV_SOCKET_OPENED, slot, gen, -1, 0, 0, EINVAL); return; }
    const s = new PSock(this, false);
    this.open(s);
    s.slot = slot; s.gen = gen; s.connecting = true;
    this.stats.connects++;
    this.post(K.EV_SOCKET_OPENED, slot, gen, s.fd, 0, 0, 0);
    s.d = this.driver.connect(spec, this.o.noDelay, s, this.keepAliveMs);
  }

  /** Whether an event posted now goes straight into the ring (nothing waits before it). */
  private canPost(): boolean { return this.overflow.length === 0 && this.core.eventSpace() > 0; }

  /** Posts an event; what does not fit waits in `overflow`, in order. */
  private post(type: number, slot: number, gen: number, fd: number, a: number, b: number, err: number): void {
    if (this.overflow.length === 0 && this.core.eventSpace() > 0) { this.core.pushEvent(type, slot, gen, fd, a, b, err); return; }
    this.stats.overflowEvents++;
    this.overflow.push(type, slot, gen, fd, a, b, err);
  }
}

function normalizeHost(h: string): string { return h === "localhost" ? "127.0.0.1" : h; }

/** The driver of this runtime (runtimeName() is the one place that tells them apart). */
function driverHere(): Driver {
  switch (runtimeName()) {
    case "deno": return denoDriver;
    case "bun": return bunDriver;
    case "node": return nodeDriver;
  }
}

export function createPortableHost(o: PortableOptions): Host {
  return new PortableHost(o, driverHere());
}
