// Readiness: what a simulated socket could report to the core, decided here and nowhere else.
//
// A kernel keeps readiness per descriptor and epoll reports it; the simulator computes it from
// the socket's state whenever it is asked. Two places ask, and both ask these functions:
//   - poll() serves a socket while `readiness()` says it has something, then keeps it in the
//     ready set only while it still has something the core's interest or budgets held back;
//   - wait() must not let virtual time pass while poll() would report something now
//     (`reportable()`), and sleeps otherwise.
// What marks a socket for a second look (bytes arriving, a FIN, a reset, window room, a new
// interest) adds it to the ready set; only these functions decide what it then reports.
import { K } from "../../core/core.ts";
import type { SimSocket } from "./socket.ts";

/** A listener has a connection waiting in its backlog. */
export const R_ACCEPT = 1;
/** Bytes wait to be read. */
export const R_DATA = 2;
/** The peer's FIN, after every byte it sent before it: the next read returns 0. */
export const R_EOF = 4;
/** The peer reset the connection and no read has said so yet: the next read fails. */
export const R_RESET = 8;
/** A write would not block now: the peer's window has room, or it would fail at once. */
export const R_WRITE = 16;

/** Bytes a write could put into the peer's receive window now (0 without an open peer). */
export function writeRoom(s: SimSocket, windowBytes: number): number {
  const p = s.peer;
  if (!p || p.state !== "open") return 0;
  return Math.max(0, windowBytes - p.unreadBytes);
}

/** Everything s could report now (R_* bits), whatever its interest and the turn's budgets. */
export function readiness(s: SimSocket, windowBytes: number): number {
  if (s.kind === "listener") return s.backlog.length > 0 ? R_ACCEPT : 0;
  let r = 0;
  if (s.resetPending && !s.resetDelivered) r |= R_RESET;
  if (s.inboundBytes > 0) r |= R_DATA;
  else if (s.peerFin && !s.eofDelivered) r |= R_EOF;
  const p = s.peer;
  if (!p || p.state !== "open" || s.resetPending || writeRoom(s, windowBytes) > 0) r |= R_WRITE;
  return r;
}

/** The budgets and flags the core published for this turn (header), read once per look. */
export interface Gates {
  acceptBudget: number;
  acceptsPaused: boolean;
  readsPaused: boolean;
  /** Chunks in the supply ring. */
  supply: number;
}

/** Whether poll() would report something for s now, given its readiness bits `r`. */
export function reportable(s: SimSocket, r: number, g: Gates): boolean {
  if (s.kind === "listener") return (s.interest & K.IN_READ) !== 0 && (r & R_ACCEPT) !== 0 && !g.acceptsPaused && g.acceptBudget > 0;
  if (s.interest & K.IN_READ) {
    if (r & (R_RESET | R_EOF)) return true;
    if ((r & R_DATA) !== 0 && !g.readsPaused && g.supply > 0) return true;
  }
  return (s.interest & K.IN_WRITE) !== 0 && (r & R_WRITE) !== 0;
}

/**
 * After poll() served s with interest in reading (`r` read again after the reads): whether
 * something readable is still left for a later turn. The EOF is left only when it could not be
 * posted (`canPost` false); the caller posts it otherwise.
 */
export function readLeft(r: number, canPost: boolean): boolean {
  return (r & (R_RESET | R_DATA)) !== 0 || ((r & R_EOF) !== 0 && !canPost);
}

/** Something readable that nobody asked for: s stays ready for when read interest returns. */
export function readUnasked(r: number): boolean { return (r & (R_DATA | R_EOF | R_RESET)) !== 0; }
