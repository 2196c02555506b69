// One test, two networks: a Peer is the remote end of a connection to a server reactor, and a
// Harness makes the server reactor and its peers on one backend:
//
//   simHarness    the simulator: the server reactor on host "sim", peers are SimPeers
//                 (r.sim.connect(port)), time is virtual (until() and pass() count virtual ms).
//   epollHarness  real sockets on 127.0.0.1: the server reactor on host "epoll", peers are client
//                 connections of a second epoll reactor (the "peer reactor"); both run in
//                 wait: "thread" with run(), so server.close() can drain while the peers answer.
//                 Time is real.
//   kqueueHarness the same with the server reactor on host "kqueue" (on Linux, the libkqueue test
//                 build) and the peers on the OS's own native host (epoll on Linux).
//   uringHarness  the same with the server reactor on host "uring" (io_uring completions) and the
//                 peers on epoll, so each side is checked by the other implementation.
//   portableHarness the same on host "portable" (the runtime's own sockets), server and peers:
//                 no native shim needed, so it runs wherever the runtime does.
//
// Peers behave like a node:net client by default: when the server's FIN arrives they end
// their side too (`halfOpen: true` keeps them open until the test ends them). The peer
// reactor's highWaterBytes is very high: a peer that sends a lot must not stop reading its
// replies (the core pauses reading above high water), or a big echo could stall on it.
import { Reactor, type ReactorOptions, type Handlers, type Listener, type ListenOptions, type Connection, type SimPeer } from "../../host/index.ts";
import { netReactor, until as netUntil, closeClean, checkHealth, sleep } from "./net.ts";

export interface Peer {
  /** Bytes to the server (queued until the connection is up). */
  send(data: Uint8Array | string): void;
  /** Half-close: our FIN. */
  end(): void;
  /** Abortive close with RST. */
  reset(): void;
  /** Stop / restart consuming what the server sends (its writes then back up). */
  pauseReading(): void;
  resumeReading(): void;
  readonly receivedBytes: number;
  received(): Uint8Array;
  receivedText(): string;
  /** The server's FIN arrived. */
  readonly gotEnd: boolean;
  /** The connection is over for the peer. */
  readonly closed: boolean;
  /** "normal" (both FINs), "reset" (RST either way), "refused", or the host's own word. */
  readonly closeReason: string | undefined;
}

export interface PeerOptions {
  /** Keep our side open after the server's FIN (default: end it at once, like node:net). */
  halfOpen?: boolean;
  /** Connect with reading paused (pauseReading() before the first byte can arrive). */
  paused?: boolean;
}

export interface Harness {
  readonly kind: "sim" | "epoll" | "kqueue" | "uring" | "portable";
  /** The reactor under test (its metrics count only the server side). */
  readonly server: Reactor;
  listen(handlers: Handlers, opts?: { port?: number; proxyProtocol?: ListenOptions["proxyProtocol"]; proxyTimeoutMs?: number }): Listener;
  connect(port: number, opts?: PeerOptions): Peer;
  /** Until pred() holds, within `ms` of the host's time (virtual for sim, real for epoll). */
  until(pred: () => boolean, what: string, ms?: number): Promise<void>;
  /** Lets `ms` of the host's time pass with everything running. */
  pass(ms: number): Promise<void>;
  /** A clock for timing handlers (ms): virtual time on sim, performance.now() on epoll. */
  now(): number;
  /** Why this harness cannot send a reset (RST) from either side, when it cannot: tests that need one skip with it. */
  readonly noReset?: string;
  /** closeClean for the server and the peers: nothing leaked anywhere. */
  finish(): Promise<void>;
}

export type MakeHarness = (serverOptions?: ReactorOptions) => Promise<Harness>;

// ── sim ─────────────────────────────────────────────────────────────────────────────────
class SimSidePeer implements Peer {
  private ended = false;
  constructor(readonly p: SimPeer, private readonly net: NonNullable<Reactor["sim"]>, opts: PeerOptions) {
    if (opts.paused) net.setReadRate(p, 0);
    p.onend = () => { if (!opts.halfOpen && !this.ended && p.state === "open") this.end(); };
  }
  send(data: Uint8Array | string): void { this.p.send(data); }
  end(): void { if (this.ended) return; this.ended = true; this.p.end(); }
  reset(): void { this.p.reset(); }
  pauseReading(): void { this.net.setReadRate(this.p, 0); }
  resumeReading(): void { this.net.setReadRate(this.p, Infinity); }
  get receivedBytes(): number { return this.p.receivedBytes; }
  received(): Uint8Array { return this.p.received(); }
  receivedText(): string { return this.p.receivedText(); }
  get gotEnd(): boolean { return this.p.gotFin; }
  get closed(): boolean { return this.p.state === "closed" || this.p.state === "reset" || this.p.state === "refused"; }
  get closeReason(): string | undefined {
    switch (this.p.state) {
      case "closed": return "normal";
      case "reset": return "reset";
      case "refused": return "refused";
      default: return undefined;
    }
  }
}

export const simHarness: MakeHarness = async (serverOptions = {}) => {
  const server = await netReactor({ host: "sim", seed: 1, maxConnections: 256, poolChunks: 256, chunkSize: 4096, ...serverOptions });
  const sim = server.sim!;
  return {
    kind: "sim",
    server,
    listen: (handlers, opts = {}) => server.listen({ ...opts, port: opts.port ?? 0 }, handlers),
    connect: (port, opts = {}) => new SimSidePeer(sim.connect(port), sim, opts),
    async until(pred, what, ms = 5000) {
      checkHealth(server);
      // Bounded in turns, not with runUntil's maxMs: with a finite wait the simulator jumps
      // virtual time although a completion already waits in the event ring (a bug, reported:
      // see shared-sim.test.ts), which would break tests that rely on prompt FINs and drains.
      const start = server.nowMs();
      const ok = server.runUntil(pred, { maxTurns: 200_000 });
      checkHealth(server);
      if (!ok) throw new Error(`not reached (network idle or 200,000 turns) while waiting for: ${what} (virtual ms ${server.nowMs()})`);
      if (server.nowMs() - start > ms) throw new Error(`took ${server.nowMs() - start} virtual ms (more than ${ms}) waiting for: ${what}`);
      const inv = server.checkInvariants();
      if (inv !== 0) throw new Error(`core invariant ${inv} broken after: ${what}`);
    },
    async pass(ms) { server.runFor(ms); checkHealth(server); },
    now: () => server.nowMs(),
    async finish() { await closeClean(server); },
  };
};

// ── epoll ───────────────────────────────────────────────────────────────────────────────
class ReactorSidePeer implements Peer {
  conn: Connection;
  private chunks: Uint8Array[] = [];
  receivedBytes = 0;
  gotEnd = false;
  closed = false;
  closeReason: string | undefined;
  constructor(peers: Reactor, port: number, readonly opts: PeerOptions) {
    this.conn = peers.connect({ port }, PEER_HANDLERS);
    this.conn.data = this;
  }
  send(data: Uint8Array | string): void { this.conn.write(data); }
  end(): void { if (this.conn.writable) this.conn.end(); }
  reset(): void { this.conn.reset(); }
  pauseReading(): void { this.conn.pause(); }
  resumeReading(): void { this.conn.resume(); }
  received(): Uint8Array {
    const out = new Uint8Array(this.receivedBytes);
    let o = 0;
    for (const c of this.chunks) { out.set(c, o); o += c.length; }
    return out;
  }
  receivedText(): string { return new TextDecoder().decode(this.received()); }
  /** @internal */ take(d: Uint8Array): void { this.chunks.push(d.slice()); this.receivedBytes += d.length; }
}

const PEER_HANDLERS: Handlers = {
  open(c) { const p = c.data as ReactorSidePeer; if (p.opts.paused) c.pause(); },
  data(c, d) { (c.data as ReactorSidePeer).take(d); },
  end(c) {
    const p = c.data as ReactorSidePeer;
    p.gotEnd = true;
    if (!p.opts.halfOpen && c.writable) c.end();
  },
  error() { /* the close reason says it */ },
  close(c, info) {
    const p = c.data as ReactorSidePeer;
    p.closed = true;
    // Our own reset() closes with "abort"; from the peer's side the connection was reset.
    p.closeReason = info.reason === "connectFailed" ? "refused" : info.reason === "abort" ? "reset" : info.reason;
  },
};

export function epollHarness(extra: ReactorOptions = {}): MakeHarness {
  return realHarness("epoll", extra, extra);
}

const PEER_OPTIONS: ReactorOptions = { allowHalfOpen: true, maxConnections: 256, poolChunks: 1024, highWaterBytes: 1 << 30, lowWaterBytes: 1 << 20 };

/** A server reactor with `serverExtra` and a peer reactor with `peerExtra`, both real sockets in thread mode. */
function realHarness(kind: "epoll" | "kqueue" | "uring", serverExtra: ReactorOptions, peerExtra: ReactorOptions): MakeHarness {
  return async (serverOptions = {}) => {
    const server = await netReactor({ wait: "thread", ...serverExtra, ...serverOptions });
    const peers = await netReactor({ wait: "thread", ...peerExtra, ...PEER_OPTIONS });
    const both = [server, peers];
    return {
      kind,
      server,
      listen: (handlers, opts = {}) => server.listen({ ...opts, port: opts.port ?? 0 }, handlers),
      connect: (port, opts = {}) => new ReactorSidePeer(peers, port, opts),
      until: (pred, what, ms = 5000) => netUntil(both, pred, what, ms),
      async pass(ms) { await sleep(ms); checkHealth(server); checkHealth(peers); },
      // Not server.nowMs(): on a real host it is the core's time of the last flush, so inside a
      // handler it is the previous turn's (a bug, reported: see sockets.test.ts).
      now: () => performance.now(),
      async finish() {
        // The server first: its drain needs the peers running.
        try { await closeClean(server); } finally { await closeClean(peers); }
      },
    };
  };
}

// ── kqueue ──────────────────────────────────────────────────────────────────────────────
/**
 * epollHarness with the server reactor on host "kqueue" (macOS, FreeBSD; on Linux the libkqueue
 * test build). The peers run on the OS's own native host (epoll on Linux, kqueue elsewhere), so
 * on Linux each side is checked by the other implementation.
 */
export function kqueueHarness(extra: ReactorOptions = {}): MakeHarness {
  const peerHost = (globalThis as { process?: { platform?: string } }).process?.platform === "linux" ? "epoll" : "kqueue";
  return realHarness("kqueue", { host: "kqueue", ...extra }, { host: peerHost, ...extra });
}

// ── uring ───────────────────────────────────────────────────────────────────────────────
/**
 * epollHarness with the server reactor on host "uring" and the peers on epoll: the uring host
 * is checked against the readiness implementation it must be indistinguishable from.
 */
export function uringHarness(extra: ReactorOptions = {}): MakeHarness {
  return realHarness("uring", { host: "uring", ...extra }, { host: "epoll" });
}

// ── portable ────────────────────────────────────────────────────────────────────────────
/** epollHarness's shape on host "portable": the server and the peer reactor on the runtime's own sockets. */
export function portableHarness(extra: ReactorOptions = {}): MakeHarness {
  const epoll = epollHarness({ host: "portable", ...extra });
  const noReset = typeof (globalThis as { Deno?: unknown }).Deno !== "undefined" ? "portable host on Deno: Deno's sockets have no SO_LINGER, so neither side can send a reset (docs/portable.md)" : undefined;
  return async (serverOptions = {}) => ({ ...(await epoll(serverOptions)), kind: "portable", noReset });
}
