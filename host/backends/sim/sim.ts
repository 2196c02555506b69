// The sim host: a whole backend, not a mock. A virtual network of simulated peers, a virtual
// clock, a seeded PRNG, and named fault odds. It meets the host contract (host/contract/contract.ts)
// exactly as epoll does — descriptors, interest, readiness, partial writes, EAGAIN — so the
// core cannot tell it from a kernel, and the same seed gives the same run, bit for bit.
//
// How it works:
//  1. Descriptors are small integers handed out by the simulator (freed ones are reused
//     first, so stale events for reused slots and descriptors are exercised). Who may name
//     one is the native shim's rule (shims/native/fdtable.c wr_fd_owner): a CONNECT's socket
//     is bound to its (slot, gen) at once, a listener or an accepted socket to the first
//     record that names it with a slot; every record after must name that (slot, gen). Until
//     a record has (the core adopted it), and only then, a CLOSE with slot NONE (the core
//     refusing a descriptor) or closeDescriptor() may close it.
//  2. The memory the core writes is not trusted, as a native shim must not trust it: a
//     submission on a descriptor not owned for that slot and generation, a bad chunk index,
//     range or chain, a CONNECT with no address, or an unknown op is a contract violation.
//     It is never acted on; it is counted (`stats.violations`, metrics().host.violations),
//     its text kept (`violations`, first one: `firstViolation`), and answered with the
//     completion that submission would have had (see `violation` below), so nothing waits
//     forever. Softer misuse the simulator still acts on (a second SHUTDOWN, a WRITE after
//     SHUTDOWN, a descriptor left open at close) is kept in `violations` too, not counted.
//  3. A connection is a pair: the reactor's SimSocket (socket.ts) and a SimPeer (peer.ts: the
//     remote end, driven by tests or the fuzzer: send, end, reset, slow reads). Bytes the peer
//     sends wait in the socket's inbound queue until the host reads them into supply chunks;
//     bytes the reactor writes land in the peer's receive window (`windowBytes`), drained at
//     the peer's read rate.
//  4. What a socket can report (readable, EOF, reset, writable, a connection to accept) is
//     decided in one place, readiness.ts; poll() and wait() both ask it.
//  5. `wait(timeoutMs)` advances virtual time to the earliest of: the core's deadline, the
//     next scheduled simulator action (timeline.ts: a connect completing, a scheduled send),
//     a slow reader's next byte. It never sleeps, and reports idle when nothing can ever happen again.
//  6. Faults are named odds (faults.ts), drawn from seeded PRNGs (prng.ts) in a fixed order.

import type { Host, HostClock, HostLimits, ListenSpec, ConnectSpec, BoundAddress } from "../../contract/contract.ts";
import { type Core, K } from "../../core/core.ts";
import { ReactorError, ERRNO_BY_NAME } from "../../errors.ts";
import { Prng } from "./prng.ts";
import { type SimFaults, type FaultStreams, checkFaults, faultStreams } from "./faults.ts";
import { SimPeer, type SimServer } from "./peer.ts";
import { SimSocket } from "./socket.ts";
import { chainFault, gatherChain } from "./chain.ts";
import { Timeline } from "./timeline.ts";
import { type Gates, R_ACCEPT, R_DATA, R_EOF, R_RESET, R_WRITE, readiness, reportable, readLeft, readUnasked, writeRoom } from "./readiness.ts";

export { Prng } from "./prng.ts";
export { NO_FAULTS, type SimFaults } from "./faults.ts";
export { SimPeer, type SimServer, type PeerState } from "./peer.ts";

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

const EBADF = ERRNO_BY_NAME.EBADF, EINVAL = ERRNO_BY_NAME.EINVAL;

/** The network, the clock and the PRNG; also the Host the reactor drives. */
export class SimNetwork implements Host { // and PeerWire, structurally (its methods are @internal, stripped from the public types)
  readonly kind = "sim" as const;
  readonly waitStyle = "virtual" as const;
  /** The core's clock is the virtual one, its random bytes come from the seeded PRNG. */
  readonly clock: HostClock = {
    clockNs: () => this.clockNs(),
    random: (v) => { for (let i = 0; i < v.length; i++) v[i] = this.prng.next() & 0xff; },
    nowMs: () => this.nowMs,
  };
  readonly prng: Prng;
  private readonly fault: FaultStreams;
  readonly faults: SimFaults;
  /** Every misuse seen, as text: contract violations (counted in stats.violations) and softer misuse. */
  readonly violations: string[] = [];
  /** The first contract violation's text, for a clear error. */
  firstViolation: string | undefined;
  /** Virtual time in ms (integer). */
  nowMs = 0;
  readonly stats = { fdsOpened: 0, fdsClosed: 0, accepts: 0, acceptFaults: 0, readFaults: 0, writeFaults: 0, resets: 0, clockJumps: 0, connects: 0, turns: 0, violations: 0 };
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
  /** Sockets to look at in the next poll (something about them changed); readiness.ts decides what they report. */
  private readonly ready = new Set<SimSocket>();
  private readonly slowPeers = new Set<SimPeer>();
  private readonly pendingConnects = new Map<number, { gen: number; spec: ConnectSpec }>(); // by slot
  private readonly overflow: number[][] = [];
  private readonly timeline = new Timeline();
  private nextPeerId = 1;
  private nextEphemeral = 40000;

  constructor(seed: number, options: SimOptions = {}) {
    this.prng = new Prng(seed);
    this.fault = faultStreams(seed);
    this.faults = checkFaults(options.faults);
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

  /** Closes a descriptor the core never adopted (a listener it refused); anything else is a violation. */
  closeDescriptor(fd: number): void {
    const s = this.fds.get(fd);
    if (!s) { this.violation(`closeDescriptor of descriptor ${fd}: not a descriptor this host opened and still owns`); return; }
    if (s.adopted) { this.violation(`closeDescriptor of descriptor ${fd}: the core adopted it as slot ${s.slot} gen ${s.gen}`); return; }
    this.closeFd(s, false);
  }

  prepareConnect(slot: number, gen: number, spec: ConnectSpec): void { this.pendingConnects.set(slot, { gen, spec }); }
  remoteAddress(fd: number): BoundAddress | undefined { return this.fds.get(fd)?.remote; }

  execute(): void {
    // A method call on the core each time (not a bound copy): a test may tap drainSubmissions.
    this.core.drainSubmissions((op, flags, slot, gen, fd, a, b) => {
      switch (op) {
        case K.SQ_INTEREST: {
          const s = this.owned(fd, slot, gen, "INTEREST");
          if (!s) { this.post(K.EV_READ_ERROR, slot, gen, fd, 0, 0, EBADF); return; }
          s.interest = a;
          this.ready.add(s);
          return;
        }
        case K.SQ_WRITE: this.write(slot, gen, fd, a, b); return;
        case K.SQ_SHUTDOWN: {
          const s = this.owned(fd, slot, gen, "SHUTDOWN");
          if (!s) { this.post(K.EV_READ_ERROR, slot, gen, fd, 0, 0, EBADF); return; }
          if (s.finSent) this.violations.push(`SHUTDOWN twice on fd ${fd}`);
          s.finSent = true;
          const p = s.peer;
          if (p && !p.gotFin && !p.gotReset) { p.gotFin = true; p.onend?.(p); }
          return;
        }
        case K.SQ_CLOSE: {
          const s = this.owned(fd, slot, gen, "CLOSE");
          if (s) this.closeFd(s, (flags & K.SQF_RESET) !== 0);
          return;
        }
        case K.SQ_CONNECT: this.startConnect(slot, gen); return;
        default: this.violation(`unknown submission op ${op} (slot ${slot}, descriptor ${fd})`);
      }
    });
  }

  wait(timeoutMs: number): boolean {
    this.stats.turns++;
    this.advanceTo(this.nowMs); // what is scheduled for now happens before we look
    if (this.hasImmediate()) return true;
    let next = Infinity;
    if (timeoutMs >= 0) next = this.nowMs + timeoutMs;
    next = Math.min(next, this.timeline.next);
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
    const g = this.gates();
    let acceptBudget = g.acceptBudget;
    const readsPerConn = core.header("readsPerConn");
    const w = this.windowBytes;
    // A listener the budget ran out on before it took any (`starved`): the ones that took some and
    // still have clients waiting go to the back, so the next poll serves it first (a flood on one
    // port cannot starve another; contract/budgets). With one listener nothing moves.
    const took: SimSocket[] = [];
    let starved = false;
    for (const s of [...this.ready]) {
      if (!this.fds.has(s.fd) || this.fds.get(s.fd) !== s) { this.ready.delete(s); continue; }
      if (s.kind === "listener") {
        if (!(s.interest & K.IN_READ) || g.acceptsPaused) continue;
        if (acceptBudget === 0 && (readiness(s, w) & R_ACCEPT)) starved = true;
        const before = acceptBudget;
        // Accept only what can be reported this turn: a descriptor the core has not heard of
        // would escape its budget (the contract: never more events than fit in the ring).
        while ((readiness(s, w) & R_ACCEPT) && acceptBudget > 0 && this.canPost()) {
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
        if (!(readiness(s, w) & R_ACCEPT)) this.ready.delete(s);
        else if (acceptBudget < before) took.push(s);
        continue;
      }
      if (!this.canPost()) continue; // the ring is full: this socket stays ready for the next turn
      if (s.interest & K.IN_READ) {
        if (readiness(s, w) & R_RESET) {
          s.resetDelivered = true;
          this.post(K.EV_READ_ERROR, s.slot, s.gen, s.fd, 0, 0, K.E_CONNRESET);
          this.ready.delete(s);
          continue;
        }
        let reads = 0;
        while ((readiness(s, w) & R_DATA) && reads < readsPerConn && !g.readsPaused && this.canPost()) {
          if (this.fault.reset.chance(this.faults.resetProbability)) { this.stats.resets++; this.peerReset(s.peer!); break; }
          const c = core.supplyPop();
          if (c === K.NONE) break;
          let n = Math.min(core.chunkSize, s.inboundBytes);
          if (n > 1 && this.fault.readPartial.chance(this.faults.readPartialProbability)) { n = 1 + this.fault.readPartial.int(n - 1); this.stats.readFaults++; }
          s.takeInbound(core.u8, core.chunkDataOffset(c), n);
          this.post(K.EV_READ, s.slot, s.gen, s.fd, c, n, 0);
          reads++;
        }
      }
      let r = readiness(s, w);
      let pending = false;
      if (s.interest & K.IN_READ) {
        if (readLeft(r, this.canPost())) pending = true;
        else if (r & R_EOF) {
          s.eofDelivered = true;
          this.post(K.EV_READ, s.slot, s.gen, s.fd, K.NONE, 0, 0);
          r = readiness(s, w);
        }
      } else if (readUnasked(r)) pending = true;
      if (s.interest & K.IN_WRITE) {
        if ((r & R_WRITE) && this.canPost()) this.post(K.EV_WRITABLE, s.slot, s.gen, s.fd, 0, 0, 0);
        else pending = true;
      }
      if (!pending) this.ready.delete(s);
    }
    if (starved) for (const s of took) { this.ready.delete(s); this.ready.add(s); }
  }

  /** The simulator's counters for metrics().host (violations among them). */
  hostMetrics(): Record<string, number> { return { ...this.stats, fdsOpen: this.fds.size }; }

  /** After close(): descriptors still open then (each a leak: the reactor closes all it owns). */
  leakedAtClose = 0;

  close(): void {
    // The reactor closed every descriptor it owned through CLOSE submissions; anything left is a leak.
    this.leakedAtClose = this.fds.size;
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
  schedule(at: number, fn: () => void): void { this.timeline.add(Math.max(at, this.nowMs), fn); }

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
    s.pushInbound(bytes);
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
    s.dropInbound();
    this.ready.add(s);
  }

  // ── internals ─────────────────────────────────────────────────────────────────────────
  private allocFd(): number {
    const fd = this.freeFds.length ? this.freeFds.pop()! : this.nextFd++;
    this.stats.fdsOpened++;
    return fd;
  }

  /**
   * The socket behind fd if a record naming (slot, gen) may act on it (see 1. at the top),
   * else undefined with the violation counted: the caller answers as the contract says.
   */
  private owned(fd: number, slot: number, gen: number, what: string): SimSocket | undefined {
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

  /** A contract violation: counted, its text kept; the caller answers it as the contract says. */
  private violation(text: string): void {
    this.stats.violations++;
    this.firstViolation ??= text;
    this.violations.push(text);
  }

  private link(c: SimSocket, peer: SimPeer): void {
    this.fds.set(c.fd, c);
    c.peer = peer;
    peer.socket = c;
    c.remote = { host: "127.0.0.1", port: 50000 + (peer.id % 15000) };
    for (const b of peer.early) c.pushInbound(b);
    peer.early = [];
    if (peer.earlyFin) c.peerFin = true;
    if (c.inboundBytes || c.peerFin) this.ready.add(c);
  }

  private closeFd(s: SimSocket, reset: boolean): void {
    this.fds.delete(s.fd);
    this.freeFds.push(s.fd);
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
    if (!spec) { this.violation(`CONNECT for slot ${slot} gen ${gen} with no address prepared`); this.post(K.EV_SOCKET_OPENED, slot, gen, -1, 0, 0, EINVAL); return; }
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

  private write(slot: number, gen: number, fd: number, head: number, bytes: number): void {
    const s = this.owned(fd, slot, gen, "WRITE");
    if (!s) { this.post(K.EV_WRITE_DONE, slot, gen, fd, 0, 0, EBADF); return; }
    const bad = chainFault(this.core, head, bytes);
    if (bad) { this.violation(`WRITE of ${bytes} bytes on descriptor ${fd} (slot ${slot}): ${bad}`); this.post(K.EV_WRITE_DONE, slot, gen, fd, 0, 0, EINVAL); return; }
    if (s.finSent) this.violations.push(`WRITE after SHUTDOWN on fd ${fd}`);
    const p = s.peer;
    if (s.resetPending || !p || p.state === "reset") { this.post(K.EV_WRITE_DONE, slot, gen, fd, 0, 0, K.E_PIPE); return; }
    if (this.fault.epipe.chance(this.faults.epipeProbability)) { this.stats.writeFaults++; this.peerReset(p); this.post(K.EV_WRITE_DONE, slot, gen, fd, 0, 0, K.E_PIPE); return; }
    let room = Math.min(bytes, writeRoom(s, this.windowBytes));
    if (room > 0 && this.fault.writeEagain.chance(this.faults.writeEagainProbability)) { room = 0; this.stats.writeFaults++; }
    if (room > 1 && this.fault.writePartial.chance(this.faults.writePartialProbability)) { room = 1 + this.fault.writePartial.int(room - 1); this.stats.writeFaults++; }
    if (room > 0) { // writev over the chunk chain, straight out of pool memory
      const out = new Uint8Array(room);
      gatherChain(this.core, head, out);
      p.unreadBytes += room;
      p.take(out, this.keepReceived);
      this.consume(p, p.readRateBytesPerMs === Infinity ? Infinity : 0);
      if (p.unreadBytes > 0) this.slowPeers.add(p);
    }
    this.post(K.EV_WRITE_DONE, slot, gen, fd, 0, room, room < bytes ? K.E_AGAIN : 0);
  }

  private consume(p: SimPeer, n: number): void {
    if (n <= 0 || p.unreadBytes === 0) return;
    const before = p.unreadBytes;
    p.unreadBytes = n === Infinity ? 0 : Math.max(0, p.unreadBytes - n);
    if (p.unreadBytes === 0) this.slowPeers.delete(p);
    if (p.unreadBytes < before && p.socket && (p.socket.interest & K.IN_WRITE)) this.ready.add(p.socket);
  }

  /** Whether an event posted now goes straight into the ring (nothing waits before it). */
  private canPost(): boolean { return this.overflow.length === 0 && this.core.eventSpace() > 0; }

  /** Posts an event; completions of submissions that do not fit wait in `overflow`, in order. */
  private post(type: number, slot: number, gen: number, fd: number, a: number, b: number, err: number): void {
    if (this.overflow.length === 0 && this.core.eventSpace() > 0) this.core.pushEvent(type, slot, gen, fd, a, b, err);
    else this.overflow.push([type, slot, gen, fd, a, b, err]);
  }

  /** The budgets and flags the core published at its last flush. */
  private gates(): Gates {
    const flags = this.core.header("hostFlags");
    return {
      acceptBudget: this.core.header("acceptBudget"),
      acceptsPaused: (flags & K.HOST_ACCEPTS_PAUSED) !== 0,
      readsPaused: (flags & K.HOST_READS_PAUSED) !== 0,
      supply: this.core.supplyCount(),
    };
  }

  /** Whether the next poll has something to report now (then wait() lets no time pass). */
  private hasImmediate(): boolean {
    if (this.overflow.length) return true;
    // Completions execute() just posted (a write done) are work for the very next turn.
    if (this.core.eventSpace() < this.core.caps.eventCap) return true;
    const g = this.gates();
    for (const s of this.ready) if (reportable(s, readiness(s, this.windowBytes), g)) return true;
    return false;
  }

  private advanceTo(t: number): void {
    const dt = t - this.nowMs;
    this.nowMs = t;
    if (dt > 0) for (const p of [...this.slowPeers]) this.consume(p, p.readRateBytesPerMs * dt);
    this.timeline.runDue(this.nowMs);
  }
}
