// The other side of the contract suite's host: peers that connect to its listeners, servers its
// CONNECTs reach, a port that refuses, and a descriptor the host does not own. Two worlds:
//
//   SimWorld  the simulator's own peers (SimPeer) and servers; time is virtual, so a peer's act
//             is visible to the very next turn, and "a while" is a few turns.
//   NetWorld  real loopback sockets from node:net in this same process (an implementation
//             independent of the host under test); time is real, so the JS loop must turn
//             (tick) for a peer's bytes to move, and "a while" is some milliseconds.
//
// Where backends legitimately differ (virtual vs real time) the difference lives here, never in
// the tests (tests/contract/*.test.ts).
import * as net from "node:net";
import * as fs from "node:fs";
import { tmpdir } from "node:os";
import process from "node:process";
import { join } from "node:path";
import type { SimNetwork, SimPeer } from "../../host/index.ts";
import { concat } from "./contract-ring.ts";

export interface Peer {
  send(data: Uint8Array | string): void;
  /** Our FIN (the host reads EOF once it has read what came before). */
  end(): void;
  /** An abortive close: RST. */
  reset(): void;
  /** Stop / restart consuming what the host sends (its writes then back up: EAGAIN). */
  pauseReading(): void;
  resumeReading(): void;
  received(): Uint8Array;
  readonly receivedBytes: number;
  /** The host's FIN arrived. */
  readonly gotEnd: boolean;
  /** The host reset the connection (ECONNRESET here). */
  readonly gotReset: boolean;
  /** The port the host sees for this peer (remoteAddress(fd).port): matches accepted descriptors to peers. */
  readonly port: number | undefined;
}

export interface PeerServer {
  host: string;
  port: number;
  /** Peers of the connections the host made to this server, in order. */
  readonly accepted: Peer[];
}

/** A descriptor of this process that the host never opened. */
export interface ForeignFd {
  fd: number;
  /** What happened to it, if anything (written to, closed); undefined when it is as it was. */
  damage(): string | undefined;
  dispose(): void;
}

export interface World {
  /** Real sockets and real time (else the simulator's). */
  readonly real: boolean;
  dial(port: number): Peer;
  /** Dials n peers and resolves once every one is connected (waiting in the host's accept queue). */
  dialAll(port: number, n: number): Promise<Peer[]>;
  server(): Promise<PeerServer>;
  refusedPort(): Promise<number>;
  foreign(): ForeignFd;
  /** Lets the other side run (the JS loop, for real sockets). */
  tick(): Promise<void>;
  /** Runs fn after ms of the world's time (a scheduled action on the virtual clock, or a timer). */
  after(ms: number, fn: () => void): void;
  /** The world's clock in ms (virtual or real). */
  now(): number;
  /** How long "a while" is: turns to run before concluding that nothing more comes. */
  readonly settleTurns: number;
  readonly settleMs: number;
  /** Bounds for waiting on something that must come. */
  readonly untilTurns: number;
  readonly untilMs: number;
  /**
   * The time bound of a wait that rests on TCP's own recovery after a long stall: bytes moving
   * again once a peer that stopped reading reads again (Rig.until's `ms`). See NetWorld.
   */
  readonly recoveryMs: number;
  close(): Promise<void>;
}

// ── sim ─────────────────────────────────────────────────────────────────────────────────
class SimSide implements Peer {
  constructor(readonly p: SimPeer, private readonly sim: SimNetwork) {}
  // A real peer's bytes or FIN after the host closed are lost (or answered with a reset): the
  // simulator's peer refuses them, so they are dropped here the same way.
  send(data: Uint8Array | string): void { if (this.live) this.p.send(data); }
  end(): void { if (this.live) this.p.end(); }
  private get live(): boolean { return this.p.state === "open" || this.p.state === "connecting"; }
  reset(): void { this.p.reset(); }
  pauseReading(): void { this.sim.setReadRate(this.p, 0); }
  resumeReading(): void { this.sim.setReadRate(this.p, Infinity); }
  received(): Uint8Array { return this.p.received(); }
  get receivedBytes(): number { return this.p.receivedBytes; }
  get gotEnd(): boolean { return this.p.gotFin; }
  get gotReset(): boolean { return this.p.gotReset; }
  /** The simulator names an accepted peer's address after its id (sim.ts link()). */
  get port(): number { return 50000 + (this.p.id % 15000); }
}

export class SimWorld implements World {
  readonly real = false;
  readonly settleTurns = 4;
  readonly settleMs = 0;
  readonly untilTurns = 5000;
  readonly untilMs = Infinity;
  readonly recoveryMs = Infinity;
  private nextPort = 9000;
  constructor(private readonly sim: SimNetwork) {}
  dial(port: number): Peer { return new SimSide(this.sim.connect(port), this.sim); }
  async dialAll(port: number, n: number): Promise<Peer[]> { return Array.from({ length: n }, () => this.dial(port)); }
  async server(): Promise<PeerServer> {
    const s: PeerServer = { host: "127.0.0.1", port: this.nextPort++, accepted: [] };
    this.sim.serve(s.port, { onconnection: (p) => s.accepted.push(new SimSide(p, this.sim)) });
    return s;
  }
  async refusedPort(): Promise<number> { return this.nextPort++; } // nobody serves it
  /** stderr: the process has it, the simulator never opened it (its descriptors start at 3). */
  foreign(): ForeignFd { return { fd: 2, damage: () => undefined, dispose: () => {} }; }
  async tick(): Promise<void> {}
  after(ms: number, fn: () => void): void { this.sim.schedule(this.sim.nowMs + ms, fn); }
  now(): number { return this.sim.nowMs; }
  async close(): Promise<void> {}
}

// ── real sockets ────────────────────────────────────────────────────────────────────────
class NetSide implements Peer {
  private readonly chunks: Uint8Array[] = [];
  receivedBytes = 0;
  gotEnd = false;
  gotReset = false;
  connected = false;
  error: string | undefined;
  constructor(readonly sock: net.Socket) {
    sock.on("connect", () => { this.connected = true; });
    sock.on("data", (d: Uint8Array) => { this.chunks.push(new Uint8Array(d)); this.receivedBytes += d.length; });
    sock.on("end", () => { this.gotEnd = true; });
    sock.on("error", (e: Error & { code?: string }) => { this.error = e.code; if (e.code === "ECONNRESET") this.gotReset = true; });
  }
  send(data: Uint8Array | string): void { this.sock.write(data); }
  end(): void { this.sock.end(); }
  reset(): void { this.sock.resetAndDestroy(); }
  pauseReading(): void { this.sock.pause(); }
  resumeReading(): void { this.sock.resume(); }
  received(): Uint8Array { return concat(this.chunks); }
  get port(): number | undefined { return this.sock.localPort; }
}

let foreignSeq = 0;

export class NetWorld implements World {
  readonly real = true;
  readonly settleTurns = 8;
  readonly settleMs = 40;
  readonly untilTurns = Infinity;
  readonly untilMs = 5000;
  /**
   * 60 s, a liveness bound, not a speed claim (a lost notification still fails, later). After a
   * peer stopped reading, the sender's window is shut and the kernel probes it with timers whose
   * interval doubles per probe (200 ms << backoff: 1.6 s after ~3 s shut). When the peer reads
   * again, its window update is one loopback packet. A loaded machine drops some (loopback
   * packets pass the per-CPU backlog; /proc/net/softnet_stat counted about 373,000 dropped there
   * on the 2-core development machine), and then nothing moves until the next probe: a wait
   * about as long as the window was shut, doubled for each further loss. Shown by dropping that
   * packet (a tc bpf filter on a private loopback, unshare -rn): the wait took the probe
   * timer's remaining 140-430 ms instead of 10-40 ms.
   */
  readonly recoveryMs = 60_000;
  private readonly sockets: net.Socket[] = [];
  private readonly servers: net.Server[] = [];

  dial(port: number): Peer { return this.dialNet(port); }
  private dialNet(port: number): NetSide {
    const sock = net.connect({ port, host: "127.0.0.1", allowHalfOpen: true });
    this.sockets.push(sock);
    return new NetSide(sock);
  }
  async dialAll(port: number, n: number): Promise<Peer[]> {
    const peers = Array.from({ length: n }, () => this.dialNet(port));
    const end = performance.now() + this.untilMs;
    while (!peers.every((p) => p.connected || p.error)) {
      if (performance.now() > end) throw new Error(`contract world: ${peers.filter((p) => !p.connected).length} of ${n} dials to port ${port} did not connect`);
      await this.tick();
    }
    const failed = peers.filter((p) => p.error);
    if (failed.length) throw new Error(`contract world: ${failed.length} of ${n} dials to port ${port} failed (${failed[0].error})`);
    return peers;
  }
  async server(): Promise<PeerServer> {
    const accepted: Peer[] = [];
    const srv = net.createServer({ allowHalfOpen: true }, (sock) => { this.sockets.push(sock); accepted.push(new NetSide(sock)); });
    this.servers.push(srv);
    await new Promise<void>((res, rej) => { srv.once("error", rej); srv.listen(0, "127.0.0.1", () => res()); });
    return { host: "127.0.0.1", port: (srv.address() as net.AddressInfo).port, accepted };
  }
  /** A port that was just free: bound, then released. */
  async refusedPort(): Promise<number> {
    const srv = net.createServer();
    await new Promise<void>((res, rej) => { srv.once("error", rej); srv.listen(0, "127.0.0.1", () => res()); });
    const port = (srv.address() as net.AddressInfo).port;
    await new Promise<void>((res) => srv.close(() => res()));
    return port;
  }
  /** An empty temporary file, open: a write to it or a close of it by the host would show. */
  foreign(): ForeignFd {
    const path = join(tmpdir(), `wasm-reactor-contract-${process.pid}-${foreignSeq++}`);
    const fd = fs.openSync(path, "w+");
    return {
      fd,
      damage() {
        try { const size = fs.fstatSync(fd).size; return size === 0 ? undefined : `${size} bytes were written to it`; }
        catch (err) { return `it is no longer open (${(err as { code?: string }).code})`; }
      },
      dispose() { try { fs.closeSync(fd); } catch { /* reported by damage() */ } try { fs.unlinkSync(path); } catch { /* gone */ } },
    };
  }
  tick(): Promise<void> { return new Promise((res) => setTimeout(res, 1)); }
  after(ms: number, fn: () => void): void { setTimeout(fn, ms); }
  now(): number { return performance.now(); }
  async close(): Promise<void> {
    for (const s of this.sockets) s.destroy();
    await Promise.all(this.servers.map((srv) => new Promise<void>((res) => srv.close(() => res()))));
  }
}
