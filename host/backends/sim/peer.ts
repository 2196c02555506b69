// The other side of a simulated connection: a SimPeer is the remote end, driven by tests or the
// fuzzer (send, end, reset, slow reads), and a SimServer is what the reactor can connect() to.
import type { SimSocket } from "./socket.ts";

export type PeerState = "connecting" | "open" | "closed" | "refused" | "reset";

/** What a peer asks of the network it lives in (SimNetwork). */
export interface PeerWire {
  deliverInbound(peer: SimPeer, bytes: Uint8Array): void;
  peerEnd(peer: SimPeer): void;
  peerReset(peer: SimPeer): void;
}

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
  private readonly net: PeerWire;

  constructor(net: PeerWire, id: number) { this.net = net; this.id = id; }

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

/** A simulated server the reactor can connect() to. */
export interface SimServer {
  /** "accept" (default), "refuse" (ECONNREFUSED), or "blackhole" (never completes: timeouts). */
  mode?: "accept" | "refuse" | "blackhole";
  onconnection?: (peer: SimPeer) => void;
}
