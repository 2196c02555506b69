// The other end of a real-socket fuzz run (run-epoll.ts), with node:net in the same process:
// independent of the code under test, and the same in Node, Deno and Bun.
//
//   inbound peers    clients of the reactor's listener; they follow the scenario's timetable
//                    (send, read slowly, half-close, reset with RST) and check that what comes
//                    back is exactly a prefix of what they sent (the app echoes);
//   echo servers     "accept": node:net servers that echo the app's outbound requests;
//   refusing ports   "refuse": a port reserved and released, so nothing listens there;
//   blackholes       "blackhole": a listening socket that never accepts, its accept queue filled
//                    by two idle clients, so the kernel drops later handshakes and a connect
//                    neither completes nor fails (until the app's connect timeout). node:net
//                    cannot listen without accepting, so a second, never-driven reactor in
//                    wait: "block" holds the socket (the release core: it is furniture, not
//                    the code under test).
//
// endAll() is "every peer ended": peers end (and read again), echo servers end their sides, and
// the blackholes close (the kernel resets what waited in their queues). close() destroys what is
// left and resolves once every socket reported its close (bounded).
import net from "node:net";
import { Reactor } from "../reactor/reactor.ts";
import type { InboundPlan, OutboundMode } from "./scenario.ts";

/** A slow reader takes one read per tick. */
const SLOW_TICK_MS = 30;

/** Byte `o` of inbound peer `i`'s stream: varies with both, so a lost, doubled or misplaced chunk shows. */
export const streamByte = (i: number, o: number): number => (i * 37 + o * 7 + (o >>> 9)) & 0xff;

export interface NetPeer {
  readonly i: number;
  sent: number;
  received: number;
  closed: boolean;
  error: string | undefined;
}

export class NetPeers {
  readonly peers: NetPeer[] = [];
  /** The first thing a peer saw that it should not have (bytes that are not its echo). */
  problem: string | undefined;
  private readonly sockets = new Set<net.Socket>();
  private readonly servers: net.Server[] = [];
  private readonly serverSockets = new Set<net.Socket>();
  private readonly blackholes: Reactor[] = [];
  private readonly timers = new Set<ReturnType<typeof setTimeout>>();
  /** Sockets that emitted "close" (net.Socket's own `closed` is not in every runtime). */
  private readonly closedSockets = new WeakSet<net.Socket>();
  private readonly slow = new Map<net.Socket, ReturnType<typeof setInterval>>();
  private ended = false;

  /** Starts one server per mode; returns their ports, in order. */
  async startServers(modes: OutboundMode[]): Promise<number[]> {
    const ports: number[] = [];
    for (const mode of modes) {
      if (mode === "accept") ports.push(await this.echoServer());
      else if (mode === "refuse") ports.push(await freePort());
      else ports.push(await this.blackhole());
    }
    return ports;
  }

  private async echoServer(): Promise<number> {
    const srv = net.createServer((s) => {
      this.track(s, this.serverSockets);
      if (this.ended) s.end();
      s.on("data", (d) => { if (!s.writableEnded) s.write(d); });
    });
    this.servers.push(srv);
    await new Promise<void>((res, rej) => { srv.once("error", rej); srv.listen({ port: 0, host: "127.0.0.1" }, () => res()); });
    return (srv.address() as net.AddressInfo).port;
  }

  private async blackhole(): Promise<number> {
    const hole = await Reactor.create({ host: "epoll", wait: "block", build: "release", maxConnections: 4, poolChunks: 8, chunkSize: 256, timers: 0, log: () => {} });
    this.blackholes.push(hole);
    const { port } = hole.listen({ port: 0, backlog: 1 }, {});
    // Linux queues backlog + 1 finished handshakes; two idle clients fill it.
    for (let k = 0; k < 2; k++) {
      const s = net.connect({ port, host: "127.0.0.1" });
      this.track(s, this.sockets);
      await new Promise<void>((res) => { s.once("connect", res); s.once("error", () => res()); });
    }
    return port;
  }

  /** Connects inbound peer `i` to the reactor at `port` and plays its plan, `t0`-relative. */
  connect(port: number, i: number, plan: InboundPlan, t0: number): void {
    const peer: NetPeer = { i, sent: 0, received: 0, closed: false, error: undefined };
    this.peers.push(peer);
    const s = net.connect({ port, host: "127.0.0.1" });
    this.track(s, this.sockets);
    s.on("close", () => { peer.closed = true; });
    s.on("error", (e: NodeJS.ErrnoException) => { peer.error ??= e.code ?? e.message; });
    s.on("data", (d: Buffer) => {
      for (let k = 0; k < d.length; k++) {
        const o = peer.received + k;
        if (o >= peer.sent || d[k] !== streamByte(i, o)) {
          this.problem ??= `echo: peer ${i} received ${o >= peer.sent ? `byte ${o} of a stream it sent only ${peer.sent} bytes of` : `${d[k]} at byte ${o}, sent ${streamByte(i, o)}`}`;
          break;
        }
      }
      peer.received += d.length;
      if (this.slow.has(s)) s.pause();
    });
    if (plan.slow) {
      s.pause();
      this.slow.set(s, setInterval(() => s.resume(), SLOW_TICK_MS));
    }
    const live = () => !s.destroyed && !s.writableEnded;
    for (const m of plan.sends) {
      this.at(t0 + m.at, () => {
        if (!live()) return;
        const b = Buffer.allocUnsafe(m.size);
        for (let k = 0; k < m.size; k++) b[k] = streamByte(i, peer.sent + k);
        peer.sent += m.size;
        s.write(b);
      });
    }
    const fin = plan.finish;
    if (fin) this.at(t0 + fin.at, () => { if (live()) { if (fin.kind === "reset") s.resetAndDestroy(); else s.end(); } });
  }

  /** Every peer ends: reads again, sends its FIN; servers end theirs; blackholes close. */
  async endAll(): Promise<void> {
    this.ended = true;
    for (const t of this.timers) clearTimeout(t);
    this.timers.clear();
    for (const [s, iv] of this.slow) { clearInterval(iv); s.resume(); }
    this.slow.clear();
    for (const s of this.sockets) if (!s.destroyed && !s.writableEnded) s.end();
    for (const s of this.serverSockets) if (!s.destroyed && !s.writableEnded) s.end();
    await this.closeBlackholes();
  }

  /** How many sockets (peers, and the servers' ends of the app's connections) are not closed yet. */
  openCount(): number { let n = 0; for (const s of [...this.sockets, ...this.serverSockets]) if (!this.closedSockets.has(s)) n++; return n; }

  /** Destroys whatever is left and closes the servers; resolves when all reported closed, or after `ms`. */
  async close(ms = 2_000): Promise<void> {
    this.ended = true;
    for (const t of this.timers) clearTimeout(t);
    for (const iv of this.slow.values()) clearInterval(iv);
    this.slow.clear();
    const closing: Promise<unknown>[] = [];
    for (const s of [...this.sockets, ...this.serverSockets]) {
      if (!s.destroyed) s.destroy();
      if (!this.closedSockets.has(s)) closing.push(new Promise((res) => s.once("close", res)));
    }
    for (const srv of this.servers) closing.push(new Promise((res) => srv.close(() => res(undefined))));
    await this.closeBlackholes();
    let timer: ReturnType<typeof setTimeout> | undefined;
    await Promise.race([Promise.all(closing), new Promise((res) => { timer = setTimeout(res, ms); })]);
    clearTimeout(timer);
  }

  private async closeBlackholes(): Promise<void> {
    const holes = this.blackholes.splice(0);
    for (const h of holes) await h.close({ drainMs: 0 });
  }

  private at(when: number, fn: () => void): void {
    const t = setTimeout(() => { this.timers.delete(t); fn(); }, Math.max(0, when - performance.now()));
    this.timers.add(t);
  }

  private track(s: net.Socket, set: Set<net.Socket>): void {
    set.add(s);
    s.on("error", () => {}); // resets are expected; peers note theirs above
    s.on("close", () => { this.closedSockets.add(s); });
  }
}

/** A port nothing listens on: bound by the kernel's choice, then released. */
async function freePort(): Promise<number> {
  const srv = net.createServer();
  await new Promise<void>((res, rej) => { srv.once("error", rej); srv.listen({ port: 0, host: "127.0.0.1" }, () => res()); });
  const port = (srv.address() as net.AddressInfo).port;
  await new Promise((res) => srv.close(res));
  return port;
}
