// The sim host: a whole backend, not a mock. A virtual network of simulated peers, a virtual
// clock, a seeded PRNG, and named fault odds. It meets the host contract (host/contract.ts)
// exactly as epoll does — descriptors, interest, readiness, partial writes, EAGAIN — so the
// core cannot tell it from a kernel, and the same seed gives the same run, bit for bit.
//
// How it works:
//  1. Descriptors are small integers handed out by the simulator (freed ones are reused
//     first, so stale events for reused slots and descriptors are exercised). Every close of
//     an unknown descriptor or use after close is recorded in `violations`.
//  2. A connection is a pair: the reactor's SimSocket and a SimPeer (the remote end, driven by
//     tests or the fuzzer: send, end, reset, slow reads). Bytes the peer sends wait in the
//     socket's inbound queue until the host reads them into supply chunks; bytes the reactor
//     writes land in the peer's receive window (`windowBytes`), drained at the peer's read rate.
//  3. `wait(timeoutMs)` advances virtual time to the earliest of: the core's deadline, the
//     next scheduled simulator action (a connect completing, a scheduled send, a slow reader's
//     next byte). It never sleeps, and reports idle when nothing can ever happen again.
//  4. Faults are named odds, drawn from the seeded PRNG in a fixed order.

import type { Host, HostClock, HostLimits, ListenSpec, ConnectSpec, BoundAddress } from "../../contract/contract.ts";
import { type Core, K } from "../../core/core.ts";
import { ChunkMeta, ChunkMeta_BYTES } from "../../core/layout.ts";
import { ReactorError } from "../../errors.ts";

/** Named fault odds (0..1), each drawn where the fault can happen. */
export interface SimFaults {
  /** A read returns fewer bytes than are available. */
  readPartialProbability: number;
  /** A write takes fewer bytes than the window allows. */
  writePartialProbability: number;
  /** A write takes nothing: EAGAIN. */
  writeEagainProbability: number;
  /** Per read of an open connection: the peer resets it (ECONNRESET). */
  resetProbability: number;
  /** Per write: the peer is gone (EPIPE). */
  epipeProbability: number;
  /** Per accept: EMFILE. */
  acceptEmfileProbability: number;
  /** Per accept: ENFILE. */
  acceptEnfileProbability: number;
  /** Per connect: ECONNREFUSED although a server listens. */
  connectRefusedProbability: number;
  /** Per wait: the clock jumps forward by up to clockJumpMaxMs. */
  clockJumpProbability: number;
  clockJumpMaxMs: number;
}

export const NO_FAULTS: SimFaults = {
  readPartialProbability: 0, writePartialProbability: 0, writeEagainProbability: 0,
  resetProbability: 0, epipeProbability: 0, acceptEmfileProbability: 0, acceptEnfileProbability: 0,
  connectRefusedProbability: 0, clockJumpProbability: 0, clockJumpMaxMs: 0,
};

export interface SimOptions {
  faults?: Partial<SimFaults>;
  /** The simulated process's descriptor limit (accept/socket fail with EMFILE beyond it). */
  fdLimit?: number;
  /** Each peer's receive window in bytes. */
  windowBytes?: number;
  /** Virtual milliseconds a connect takes to complete. */
  connectLatencyMs?: number;
  /** Keep every byte peers receive (tests read `peer.received()`); off: count only. */
  keepReceived?: boolean;
}

/** sfc32: small, fast, good enough for fault odds; seeded deterministically. */
export class Prng {
  private a: number; private b: number; private c: number; private d: number;
  constructor(seed: number) {
    this.a = 0x9e3779b9; this.b = 0x243f6a88; this.c = 0xb7e15162; this.d = seed >>> 0;
    for (let i = 0; i < 15; i++) this.next();
  }
  next(): number {
    const t = (((this.a + this.b) | 0) + this.d) | 0;
    this.d = (this.d + 1) | 0;
    this.a = this.b ^ (this.b >>> 9);
    this.b = (this.c + (this.c << 3)) | 0;
    this.c = (this.c << 21) | (this.c >>> 11);
    this.c = (this.c + t) | 0;
    return t >>> 0;
  }
  float(): number { return this.next() / 4294967296; }
  int(n: number): number { return Math.floor(this.float() * n); }
  /**
   * One draw whatever p is: a fault turned down to 0 takes its draw all the same, so the rest of
   * the run keeps its random stream (the fuzzer's shrinking relies on this).
   */
  chance(p: number): boolean { const x = this.float(); return x < p; }
}

type PeerState = "connecting" | "open" | "closed" | "refused" | "reset";

/** The remote end of a simulated connection. */
export class SimPeer {
  readonly id: number;
  state: PeerState = "connecting";
  /** Bytes the peer received (all of them when keepReceived, else only counted). */
  receivedBytes = 0;
  /** The reactor's FIN arrived. */
  gotFin = false;
  /** The reactor reset the connection. */
  gotReset = false;
  /** Bytes in the peer's receive window not yet consumed by the peer's app. */
  unreadBytes = 0;
  /** Bytes per virtual ms the peer's app consumes (Infinity: at once; 0: not at all). */
  readRateBytesPerMs = Infinity;
  ondata?: (bytes: Uint8Array, peer: SimPeer) => void;
  onopen?: (peer: SimPeer) => void;
  onend?: (peer: SimPeer) => void;
  onclose?: (peer: SimPeer) => void;
  /** Anything the test wants to keep with the peer. */
  tag: unknown;
  /** @internal */ socket: SimSocket | undefined;
  /** @internal Bytes (and a FIN) sent before the reactor accepted: the kernel would queue them. */
  early: Uint8Array[] = [];
  /** @internal */ earlyFin = false;
  private chunks: Uint8Array[] = [];
  private readonly net: SimNetwork;

  constructor(net: SimNetwork, id: number) { this.net = net; this.id = id; }

  /** Sends bytes to the reactor (they wait in the socket's inbound queue). */
  send(data: Uint8Array | string): void {
    const bytes = typeof data === "string" ? new TextEncoder().encode(data) : data.slice();
    if (this.state !== "open" && this.state !== "connecting") throw new Error(`sim peer ${this.id}: send on a ${this.state} connection`);
    if (bytes.length === 0) return;
    this.net.deliverInbound(this, bytes);
  }
  /** Half-closes: the reactor reads EOF once the bytes sent before are read. */
  end(): void { this.net.peerEnd(this); }
  /** Resets: the reactor's next read fails with ECONNRESET, its writes with EPIPE. */
  reset(): void { this.net.peerReset(this); }
  /** Everything received so far (keepReceived must be on). */
  received(): Uint8Array {
    const out = new Uint8Array(this.chunks.reduce((n, c) => n + c.length, 0));
    let o = 0;
    for (const c of this.chunks) { out.set(c, o); o += c.length; }
    return out;
  }
  receivedText(): string { return new TextDecoder().decode(this.received()); }
  /** @internal */ take(bytes: Uint8Array, keep: boolean): void {
    this.receivedBytes += bytes.length;
    if (keep) this.chunks.push(bytes);
    this.ondata?.(bytes, this);
  }
}

/** A descriptor on the reactor's side. */
class SimSocket {
  fd: number;
  kind: "listener" | "conn";
  interest = 0;
  slot: number = K.NONE;
  gen = 0;
  // listener
  port = 0;
  backlog: SimPeer[] = [];
  backlogMax = 0;
  // connection
  peer: SimPeer | undefined;
  inbound: Uint8Array[] = [];
  inboundOff = 0;
  inboundBytes = 0;
  peerFin = false;
  eofDelivered = false;
  resetPending = false;
  resetDelivered = false;
  finSent = false;
  local: BoundAddress = { host: "127.0.0.1", port: 0 };
  remote: BoundAddress = { host: "127.0.0.1", port: 0 };
  constructor(fd: number, kind: "listener" | "conn") { this.fd = fd; this.kind = kind; }
}

/** A simulated server the reactor can connect() to. */
export interface SimServer {
  /** "accept" (default), "refuse" (ECONNREFUSED), or "blackhole" (never completes: timeouts). */
  mode?: "accept" | "refuse" | "blackhole";
  onconnection?: (peer: SimPeer) => void;
}

interface Scheduled { at: number; seq: number; fn: () => void }

/** The network, the clock and the PRNG; also the Host the reactor drives. */
export class SimNetwork implements Host {
  readonly kind = "sim" as const;
  readonly waitStyle = "virtual" as const;
  /** The core's clock is the virtual one, its random bytes come from the seeded PRNG. */
  readonly clock: HostClock = {
    clockNs: () => this.clockNs(),
    random: (v) => { for (let i = 0; i < v.length; i++) v[i] = this.prng.next() & 0xff; },
    nowMs: () => this.nowMs,
  };
  readonly prng: Prng;
  /**
   * One stream per fault kind, each seeded from `seed`: whether a kind fires (and how big its
   * partial read or write is) does not move any other kind's draws. So turning one fault off
   * leaves the rest of the run as it was, which is what lets the fuzzer shrink a failure.
   */
  private readonly fault: Record<"clockJump" | "acceptEmfile" | "acceptEnfile" | "reset" | "readPartial" | "connectRefused" | "epipe" | "writeEagain" | "writePartial", Prng>;
  readonly faults: SimFaults;
  readonly violations: string[] = [];
  /** Virtual time in ms (integer). */
  nowMs = 0;
  readonly stats = { fdsOpened: 0, fdsClosed: 0, accepts: 0, acceptFaults: 0, readFaults: 0, writeFaults: 0, resets: 0, clockJumps: 0, connects: 0, turns: 0 };
  private core!: Core;
  private readonly fdLimit: number;
  private readonly windowBytes: number;
  private readonly connectLatencyMs: number;
  private readonly keepReceived: boolean;
  private readonly fds = new Map<number, SimSocket>();
  private readonly freeFds: number[] = [];
  private nextFd = 3; // 0-2 are stdio
  private readonly listeners = new Map<number, SimSocket>(); // port → listener
  private readonly servers = new Map<number, SimServer>();
  private readonly ready = new Set<SimSocket>();
  private readonly slowPeers = new Set<SimPeer>();
  private readonly pendingConnects = new Map<number, { gen: number; spec: ConnectSpec }>(); // by slot
  private readonly overflow: number[][] = [];
  private scheduled: Scheduled[] = [];
  private seq = 0;
  private nextPeerId = 1;
  private nextEphemeral = 40000;

  constructor(seed: number, options: SimOptions = {}) {
    this.prng = new Prng(seed);
    const kinds = ["clockJump", "acceptEmfile", "acceptEnfile", "reset", "readPartial", "connectRefused", "epipe", "writeEagain", "writePartial"] as const;
    this.fault = Object.fromEntries(kinds.map((k, i) => [k, new Prng((seed ^ Math.imul(i + 1, 0x9e3779b1)) >>> 0)])) as SimNetwork["fault"];
    this.faults = { ...NO_FAULTS, ...(options.faults ?? {}) };
    for (const [k, v] of Object.entries(this.faults)) {
      if (!(k in NO_FAULTS)) throw new ReactorError("ERR_INVALID_OPTION", `wasm-reactor: unknown sim fault '${k}'; known: ${Object.keys(NO_FAULTS).join(", ")}`);
      if (typeof v !== "number" || !(v >= 0) || (k !== "clockJumpMaxMs" && v > 1)) throw new ReactorError("ERR_INVALID_OPTION", `wasm-reactor: sim fault '${k}' must be ${k === "clockJumpMaxMs" ? "a number of ms >= 0" : "a probability from 0 to 1"}, got ${String(v)}`);
    }
    this.fdLimit = options.fdLimit ?? 1 << 20;
    this.windowBytes = options.windowBytes ?? 65536;
    this.connectLatencyMs = options.connectLatencyMs ?? 0;
    this.keepReceived = options.keepReceived ?? true;
  }

  // ── Host contract ──────────────────────────────────────────────────────────────────────
  attach(core: Core): void { this.core = core; }
  limits(): HostLimits { return { fdLimit: this.fdLimit, source: "sim fdLimit" }; }
  /** The virtual clock, for the WASI shim. */
  clockNs(): bigint { return BigInt(this.nowMs) * 1_000_000n; }
  get fdsOpen(): number { return this.fds.size; }

  listen(spec: ListenSpec): { fd: number; address: BoundAddress } {
    let port = spec.port;
    if (port === 0) { while (this.listeners.has(this.nextEphemeral) || this.servers.has(this.nextEphemeral)) this.nextEphemeral++; port = this.nextEphemeral++; }
    if (this.listeners.has(port)) throw new ReactorError("ERR_LISTEN", `wasm-reactor: cannot listen on ${spec.host}:${port}: EADDRINUSE (address already in use)`, { errno: 98, syscall: "bind" });
    if (this.fds.size >= this.fdLimit) throw new ReactorError("ERR_LISTEN", `wasm-reactor: cannot listen on ${spec.host}:${port}: EMFILE (descriptor limit ${this.fdLimit} reached)`, { errno: 24, syscall: "socket" });
    const s = new SimSocket(this.allocFd(), "listener");
    s.port = port;
    s.backlogMax = spec.backlog;
    s.local = { host: spec.host, port };
    this.fds.set(s.fd, s);
    this.listeners.set(port, s);
    return { fd: s.fd, address: { host: spec.host, port } };
  }

  closeDescriptor(fd: number): void { this.closeFd(fd, false); }

  prepareConnect(slot: number, gen: number, spec: ConnectSpec): void { this.pendingConnects.set(slot, { gen, spec }); }
  remoteAddress(fd: number): BoundAddress | undefined { return this.fds.get(fd)?.remote; }

  execute(): void {
    this.core.drainSubmissions((op, flags, slot, gen, fd, a, b) => {
      switch (op) {
        case K.SQ_INTEREST: {
          const s = this.use(fd, "INTEREST");
          if (!s) return;
          s.slot = slot; s.gen = gen; s.interest = a;
          this.ready.add(s);
          return;
        }
        case K.SQ_WRITE: this.write(slot, gen, fd, a, b); return;
        case K.SQ_SHUTDOWN: {
          const s = this.use(fd, "SHUTDOWN");
          if (!s) return;
          if (s.finSent) this.violations.push(`SHUTDOWN twice on fd ${fd}`);
          s.finSent = true;
          const p = s.peer;
          if (p && !p.gotFin && !p.gotReset) { p.gotFin = true; p.onend?.(p); }
          return;
        }
        case K.SQ_CLOSE: this.closeFd(fd, (flags & K.SQF_RESET) !== 0); return;
        case K.SQ_CONNECT: this.startConnect(slot, gen); return;
        default: this.violations.push(`unknown submission op ${op}`);
      }
    });
  }

  wait(timeoutMs: number): boolean {
    this.stats.turns++;
    this.advanceTo(this.nowMs); // what is scheduled for now happens before we look
    if (this.hasImmediate()) return true;
    let next = Infinity;
    if (timeoutMs >= 0) next = this.nowMs + timeoutMs;
    if (this.scheduled.length) next = Math.min(next, this.scheduled[0].at);
    for (const p of this.slowPeers) if (p.readRateBytesPerMs > 0) { next = Math.min(next, this.nowMs + 1); break; } // a peer that reads nothing wakes nobody
    if (next === Infinity) return false;
    if (this.fault.clockJump.chance(this.faults.clockJumpProbability)) {
      next += 1 + this.fault.clockJump.int(Math.max(1, this.faults.clockJumpMaxMs));
      this.stats.clockJumps++;
    }
    this.advanceTo(next);
    return true;
  }

  poll(): void {
    const core = this.core;
    // What did not fit last turn goes first.
    while (this.overflow.length && core.eventSpace() > 0) {
      const e = this.overflow.shift()!;
      core.pushEvent(e[0], e[1], e[2], e[3], e[4], e[5], e[6]);
    }
    let acceptBudget = core.header("acceptBudget");
    const readsPerConn = core.header("readsPerConn");
    const flags = core.header("hostFlags");
    const readsPaused = (flags & K.HOST_READS_PAUSED) !== 0;
    const acceptsPaused = (flags & K.HOST_ACCEPTS_PAUSED) !== 0;
    for (const s of [...this.ready]) {
      if (!this.fds.has(s.fd) || this.fds.get(s.fd) !== s) { this.ready.delete(s); continue; }
      if (s.kind === "listener") {
        if (!(s.interest & K.IN_READ) || acceptsPaused) continue;
        // Accept only what can be reported this turn: a descriptor the core has not heard of
        // would escape its budget (the contract: never more events than fit in the ring).
        while (s.backlog.length && acceptBudget > 0 && this.canPost()) {
          if (this.fault.acceptEmfile.chance(this.faults.acceptEmfileProbability)) { this.stats.acceptFaults++; this.post(K.EV_ACCEPT_ERROR, s.slot, s.gen, s.fd, 0, 0, K.E_MFILE); break; }
          if (this.fault.acceptEnfile.chance(this.faults.acceptEnfileProbability)) { this.stats.acceptFaults++; this.post(K.EV_ACCEPT_ERROR, s.slot, s.gen, s.fd, 0, 0, K.E_NFILE); break; }
          if (this.fds.size >= this.fdLimit) { this.post(K.EV_ACCEPT_ERROR, s.slot, s.gen, s.fd, 0, 0, K.E_MFILE); break; }
          const peer = s.backlog.shift()!;
          if (peer.state !== "connecting") continue; // the client gave up while queued
          const c = new SimSocket(this.allocFd(), "conn");
          this.link(c, peer);
          c.local = s.local;
          acceptBudget--;
          this.stats.accepts++;
          this.post(K.EV_ACCEPTED, s.slot, s.gen, c.fd, peer.id, 0, 0);
          peer.state = "open";
          peer.onopen?.(peer);
        }
        if (!s.backlog.length) this.ready.delete(s);
        continue;
      }
      let pending = false;
      if (!this.canPost()) continue; // the ring is full: this socket stays ready for the next turn
      if (s.interest & K.IN_READ) {
        if (s.resetPending && !s.resetDelivered) {
          s.resetDelivered = true;
          this.post(K.EV_READ_ERROR, s.slot, s.gen, s.fd, 0, 0, K.E_CONNRESET);
          this.ready.delete(s);
          continue;
        }
        let reads = 0;
        while (s.inboundBytes > 0 && reads < readsPerConn && !readsPaused && this.canPost()) {
          if (this.fault.reset.chance(this.faults.resetProbability)) { this.stats.resets++; this.peerReset(s.peer!); break; }
          const c = core.supplyPop();
          if (c === K.NONE) break;
          let n = Math.min(core.chunkSize, s.inboundBytes);
          if (n > 1 && this.fault.readPartial.chance(this.faults.readPartialProbability)) { n = 1 + this.fault.readPartial.int(n - 1); this.stats.readFaults++; }
          this.copyInbound(s, core.chunkDataOffset(c), n);
          this.post(K.EV_READ, s.slot, s.gen, s.fd, c, n, 0);
          reads++;
        }
        if (s.resetPending && !s.resetDelivered) pending = true;
        else if (s.inboundBytes > 0) pending = true;
        else if (s.peerFin && !s.eofDelivered && !this.canPost()) pending = true;
        else if (s.peerFin && !s.eofDelivered) {
          s.eofDelivered = true;
          this.post(K.EV_READ, s.slot, s.gen, s.fd, K.NONE, 0, 0);
        }
      } else if (s.inboundBytes > 0 || (s.peerFin && !s.eofDelivered) || (s.resetPending && !s.resetDelivered)) {
        pending = true; // readable, but nobody asked: stays ready for when interest returns
      }
      if (s.interest & K.IN_WRITE) {
        if ((this.writeRoom(s) > 0 || s.resetPending || !s.peer || s.peer.state !== "open") && this.canPost()) this.post(K.EV_WRITABLE, s.slot, s.gen, s.fd, 0, 0, 0);
        else pending = true;
      }
      if (!pending) this.ready.delete(s);
    }
  }

  close(): void {
    // The reactor closed every descriptor it owned through CLOSE submissions; anything left is a leak.
    for (const s of this.fds.values()) this.violations.push(`descriptor ${s.fd} (${s.kind}) still open when the host closed`);
  }

  // ── the other side: peers and servers ─────────────────────────────────────────────────
  /** A client connects to a reactor listener on `port`. */
  connect(port: number, opts: { onopen?: (p: SimPeer) => void; ondata?: (b: Uint8Array, p: SimPeer) => void } = {}): SimPeer {
    const peer = new SimPeer(this, this.nextPeerId++);
    if (opts.onopen) peer.onopen = opts.onopen;
    if (opts.ondata) peer.ondata = opts.ondata;
    const l = this.listeners.get(port);
    if (!l || !this.fds.has(l.fd) || l.backlog.length >= l.backlogMax) { peer.state = "refused"; return peer; }
    l.backlog.push(peer);
    this.ready.add(l);
    return peer;
  }

  /** A server the reactor can connect() to on `port`. */
  serve(port: number, server: SimServer = {}): void { this.servers.set(port, server); }

  /** Runs fn at virtual time `at` (ms), in scheduling order among equals. */
  schedule(at: number, fn: () => void): void {
    const item = { at: Math.max(at, this.nowMs), seq: this.seq++, fn };
    // Binary insertion keeps (at, seq) order; the list stays short in practice.
    let lo = 0, hi = this.scheduled.length;
    while (lo < hi) { const mid = (lo + hi) >> 1; const m = this.scheduled[mid]; if (m.at < item.at || (m.at === item.at && m.seq < item.seq)) lo = mid + 1; else hi = mid; }
    this.scheduled.splice(lo, 0, item);
  }

  /** Peers whose read rate is finite are drained every virtual ms. */
  setReadRate(peer: SimPeer, bytesPerMs: number): void {
    peer.readRateBytesPerMs = bytesPerMs;
    if (bytesPerMs === Infinity) { this.slowPeers.delete(peer); this.consume(peer, Infinity); }
    else if (peer.unreadBytes > 0) this.slowPeers.add(peer);
  }

  /** @internal */ deliverInbound(peer: SimPeer, bytes: Uint8Array): void {
    const s = peer.socket;
    if (peer.earlyFin || s?.peerFin) throw new Error(`sim peer ${peer.id}: send after end()`);
    if (!s) { peer.early.push(bytes); return; }
    s.inbound.push(bytes);
    s.inboundBytes += bytes.length;
    this.ready.add(s);
  }
  /** @internal */ peerEnd(peer: SimPeer): void {
    const s = peer.socket;
    if (!s) { peer.earlyFin = true; return; }
    s.peerFin = true;
    this.ready.add(s);
  }
  /** @internal */ peerReset(peer: SimPeer): void {
    const s = peer.socket;
    peer.state = "reset";
    if (!s) return;
    s.resetPending = true;
    s.inbound = []; s.inboundBytes = 0; s.inboundOff = 0;
    this.ready.add(s);
  }

  // ── internals ─────────────────────────────────────────────────────────────────────────
  private allocFd(): number {
    const fd = this.freeFds.length ? this.freeFds.pop()! : this.nextFd++;
    this.stats.fdsOpened++;
    return fd;
  }

  private use(fd: number, what: string): SimSocket | undefined {
    const s = this.fds.get(fd);
    if (!s) this.violations.push(`${what} on descriptor ${fd}, which is not open (use after close)`);
    return s;
  }

  private link(c: SimSocket, peer: SimPeer): void {
    this.fds.set(c.fd, c);
    c.peer = peer;
    peer.socket = c;
    c.remote = { host: "127.0.0.1", port: 50000 + (peer.id % 15000) };
    for (const b of peer.early) { c.inbound.push(b); c.inboundBytes += b.length; }
    peer.early = [];
    if (peer.earlyFin) c.peerFin = true;
    if (c.inboundBytes || c.peerFin) this.ready.add(c);
  }

  private closeFd(fd: number, reset: boolean): void {
    const s = this.fds.get(fd);
    if (!s) { this.violations.push(`CLOSE of descriptor ${fd}, which is not open (closed twice?)`); return; }
    this.fds.delete(fd);
    this.freeFds.push(fd);
    this.stats.fdsClosed++;
    this.ready.delete(s);
    if (s.kind === "listener") {
      this.listeners.delete(s.port);
      for (const p of s.backlog) { p.state = "refused"; p.onclose?.(p); }
      s.backlog = [];
      return;
    }
    const p = s.peer;
    if (!p) return;
    p.socket = undefined;
    this.slowPeers.delete(p);
    if (p.state === "open" || p.state === "connecting") {
      if (reset) { p.gotReset = true; p.state = "reset"; }
      else { if (!p.gotFin) { p.gotFin = true; p.onend?.(p); } p.state = "closed"; }
      p.onclose?.(p);
    }
  }

  private startConnect(slot: number, gen: number): void {
    const prepared = this.pendingConnects.get(slot);
    this.pendingConnects.delete(slot);
    const spec = prepared && prepared.gen === gen ? prepared.spec : undefined;
    if (!spec) { this.violations.push(`CONNECT for slot ${slot} gen ${gen} with no address prepared`); this.post(K.EV_SOCKET_OPENED, slot, gen, -1, 0, 0, 22); return; }
    if (this.fds.size >= this.fdLimit) { this.post(K.EV_SOCKET_OPENED, slot, gen, -1, 0, 0, K.E_MFILE); return; }
    const c = new SimSocket(this.allocFd(), "conn");
    this.fds.set(c.fd, c);
    c.slot = slot; c.gen = gen;
    c.remote = { host: spec.host, port: spec.port };
    this.stats.connects++;
    this.post(K.EV_SOCKET_OPENED, slot, gen, c.fd, 0, 0, 0);
    const server = this.servers.get(spec.port);
    const refused = !server || server.mode === "refuse" || this.fault.connectRefused.chance(this.faults.connectRefusedProbability);
    if (server?.mode === "blackhole") return;
    this.schedule(this.nowMs + this.connectLatencyMs, () => {
      if (this.fds.get(c.fd) !== c) return; // closed meanwhile (timeout, abort)
      if (refused) { this.post(K.EV_CONNECT_FAILED, slot, gen, c.fd, 0, 0, K.E_CONNREFUSED); return; }
      const peer = new SimPeer(this, this.nextPeerId++);
      this.link(c, peer);
      peer.state = "open";
      this.post(K.EV_CONNECTED, slot, gen, c.fd, 0, 0, 0);
      server!.onconnection?.(peer);
    });
  }

  private writeRoom(s: SimSocket): number {
    const p = s.peer;
    if (!p || p.state !== "open") return 0;
    return Math.max(0, this.windowBytes - p.unreadBytes);
  }

  private write(slot: number, gen: number, fd: number, head: number, bytes: number): void {
    const s = this.use(fd, "WRITE");
    if (!s) { this.post(K.EV_WRITE_DONE, slot, gen, fd, 0, 0, 9 /* EBADF */); return; }
    if (s.finSent) this.violations.push(`WRITE after SHUTDOWN on fd ${fd}`);
    const p = s.peer;
    if (s.resetPending || !p || p.state === "reset") { this.post(K.EV_WRITE_DONE, slot, gen, fd, 0, 0, K.E_PIPE); return; }
    if (this.fault.epipe.chance(this.faults.epipeProbability)) { this.stats.writeFaults++; this.peerReset(p); this.post(K.EV_WRITE_DONE, slot, gen, fd, 0, 0, K.E_PIPE); return; }
    let room = Math.min(bytes, this.writeRoom(s));
    if (room > 0 && this.fault.writeEagain.chance(this.faults.writeEagainProbability)) { room = 0; this.stats.writeFaults++; }
    if (room > 1 && this.fault.writePartial.chance(this.faults.writePartialProbability)) { room = 1 + this.fault.writePartial.int(room - 1); this.stats.writeFaults++; }
    // writev over the chunk chain, straight out of pool memory.
    const core = this.core;
    const out = new Uint8Array(room);
    let c = head, done = 0;
    while (done < room) {
      if (c === K.NONE) { this.violations.push(`WRITE chain of slot ${slot} shorter than ${bytes} bytes`); break; }
      const meta = core.regions.chunkMetaOff + c * ChunkMeta_BYTES;
      const start = core.u32[(meta + ChunkMeta.start) >> 2];
      const len = core.u32[(meta + ChunkMeta.len) >> 2];
      const n = Math.min(len, room - done);
      const from = core.chunkDataOffset(c) + start;
      out.set(core.u8.subarray(from, from + n), done);
      done += n;
      c = core.u32[(meta + ChunkMeta.next) >> 2];
    }
    if (done > 0) {
      p.unreadBytes += done;
      p.take(out.subarray(0, done), this.keepReceived);
      this.consume(p, p.readRateBytesPerMs === Infinity ? Infinity : 0);
      if (p.unreadBytes > 0) this.slowPeers.add(p);
    }
    this.post(K.EV_WRITE_DONE, slot, gen, fd, 0, done, done < bytes ? K.E_AGAIN : 0);
  }

  private consume(p: SimPeer, n: number): void {
    if (n <= 0 || p.unreadBytes === 0) return;
    const before = p.unreadBytes;
    p.unreadBytes = n === Infinity ? 0 : Math.max(0, p.unreadBytes - n);
    if (p.unreadBytes === 0) this.slowPeers.delete(p);
    if (p.unreadBytes < before && p.socket && (p.socket.interest & K.IN_WRITE)) this.ready.add(p.socket);
  }

  private copyInbound(s: SimSocket, dst: number, n: number): void {
    const u8 = this.core.u8;
    let done = 0;
    while (done < n) {
      const head = s.inbound[0];
      const take = Math.min(head.length - s.inboundOff, n - done);
      u8.set(head.subarray(s.inboundOff, s.inboundOff + take), dst + done);
      done += take;
      s.inboundOff += take;
      if (s.inboundOff === head.length) { s.inbound.shift(); s.inboundOff = 0; }
    }
    s.inboundBytes -= n;
  }

  /** Whether an event posted now goes straight into the ring (nothing waits before it). */
  private canPost(): boolean { return this.overflow.length === 0 && this.core.eventSpace() > 0; }

  /** Posts an event; completions of submissions that do not fit wait in `overflow`, in order. */
  private post(type: number, slot: number, gen: number, fd: number, a: number, b: number, err: number): void {
    if (this.overflow.length === 0 && this.core.eventSpace() > 0) this.core.pushEvent(type, slot, gen, fd, a, b, err);
    else this.overflow.push([type, slot, gen, fd, a, b, err]);
  }

  private hasImmediate(): boolean {
    if (this.overflow.length) return true;
    // Completions execute() just posted (a write done) are work for the very next turn.
    if (this.core.eventSpace() < this.core.caps.eventCap) return true;
    const flags = this.core.header("hostFlags");
    for (const s of this.ready) {
      if (s.kind === "listener") { if ((s.interest & K.IN_READ) && s.backlog.length && !(flags & K.HOST_ACCEPTS_PAUSED) && this.core.header("acceptBudget") > 0) return true; continue; }
      if (s.interest & K.IN_READ) {
        if (s.resetPending && !s.resetDelivered) return true;
        if (s.inboundBytes > 0 && !(flags & K.HOST_READS_PAUSED) && this.core.supplyCount() > 0) return true;
        if (s.inboundBytes === 0 && s.peerFin && !s.eofDelivered) return true;
      }
      if ((s.interest & K.IN_WRITE) && (this.writeRoom(s) > 0 || s.resetPending)) return true;
    }
    return false;
  }

  private advanceTo(t: number): void {
    const dt = t - this.nowMs;
    this.nowMs = t;
    if (dt > 0) for (const p of [...this.slowPeers]) this.consume(p, p.readRateBytesPerMs * dt);
    while (this.scheduled.length && this.scheduled[0].at <= this.nowMs) this.scheduled.shift()!.fn();
  }
}
