// A descriptor on the reactor's side of the simulated network: a listener with its backlog, or
// one end of a connection with the bytes its peer sent and not yet read.
import { K } from "../../core/core.ts";
import type { BoundAddress } from "../../contract/contract.ts";
import type { SimPeer } from "./peer.ts";

export class SimSocket {
  fd: number;
  kind: "listener" | "conn";
  interest = 0;
  /** The owner's slot and generation: NONE until bound (at CONNECT, or by the first record naming it). */
  slot: number = K.NONE;
  gen = 0;
  /** A record named it with its owner's (slot, gen): the core took it over (a CLOSE of slot NONE may not close it now). */
  adopted = false;
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

  /** Queues bytes the peer sent. */
  pushInbound(bytes: Uint8Array): void { this.inbound.push(bytes); this.inboundBytes += bytes.length; }

  /** Moves the first n inbound bytes (n <= inboundBytes) into u8 at dst: a read. */
  takeInbound(u8: Uint8Array, dst: number, n: number): void {
    let done = 0;
    while (done < n) {
      const head = this.inbound[0];
      const take = Math.min(head.length - this.inboundOff, n - done);
      u8.set(head.subarray(this.inboundOff, this.inboundOff + take), dst + done);
      done += take;
      this.inboundOff += take;
      if (this.inboundOff === head.length) { this.inbound.shift(); this.inboundOff = 0; }
    }
    this.inboundBytes -= n;
  }

  /** Drops what the peer sent and nobody read (a reset). */
  dropInbound(): void { this.inbound = []; this.inboundBytes = 0; this.inboundOff = 0; }
}
