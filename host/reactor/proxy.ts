// PROXY protocol v1 (text) and v2 (binary) on listeners: the real client address behind a load
// balancer (HAProxy, AWS NLB, ...). Spec: https://www.haproxy.org/download/2.9/doc/proxy-protocol.txt
//
// How it works:
//   1. A listener with `proxyProtocol` marks its accepted connections pending (dispatch.ts):
//      their `open` waits, and their first bytes come here instead of to `data`.
//   2. parseProxyHeader() is a pure function of the bytes received so far (at most the cap
//      below, copied out of the lent pool chunk): "need" more, "done" (the header's length and
//      what it says), or "error" as soon as the bytes cannot begin a valid header.
//   3. Done: the core counts it (proxyHeader(), a recorded call), `open` runs with
//      conn.remoteAddress = the client's address, then `data` gets the bytes after the header
//      (a view into the same chunk: write() and keep() of it stay zero-copy).
//   4. Error, a FIN after part of a header, or the deadline (one app timer on the core's
//      wheel for all pending connections, swept in arrival order): proxyHeader() counts it in
//      metrics().proxyHeaderErrors and resets the connection. The app never sees it (no open,
//      no close); other connections are not held up: nothing here waits. A FIN before any byte
//      (a TCP health check) closes quietly, uncounted.
// Why here and not in the core: docs/load-balancers.md ("Where the parser lives").
import type { BoundAddress } from "../contract/contract.ts";
import { K } from "../core/layout.ts";
import { ReactorError } from "../errors.ts";
import type { Reactor } from "./reactor.ts";
import type { TimerHandle } from "./connection.ts";

export type ProxyProtocolMode = "v1" | "v2" | "any";

/** What a PROXY header said. */
export interface ProxyInfo {
  version: 1 | 2;
  /** "proxy": relayed for a client (addresses below); "local": the balancer's own connection (health checks): no addresses. */
  command: "proxy" | "local";
  /** tcp4, tcp6; unix and unknown carry no usable address (remoteAddress stays the socket's peer). */
  family: "tcp4" | "tcp6" | "unix" | "unknown";
  /** The client, as the balancer saw it. */
  source?: BoundAddress;
  /** The address the client connected to (the balancer's frontend). */
  destination?: BoundAddress;
}

export type ProxyParse =
  | { kind: "need" }
  | { kind: "done"; length: number; info: ProxyInfo }
  | { kind: "error"; reason: string };

/** v1: "PROXY TCP6 <39> <39> 65535 65535\r\n" is 104 bytes; the spec's bound is 107 with its CRLF. */
export const PROXY_V1_MAX_BYTES = 107;
/**
 * v2: a 16-byte fixed part and up to 65535 more (addresses, then TLVs). We take at most 1024 more:
 * addresses are at most 216 (AF_UNIX), and the TLVs balancers send are small: AWS's VPC endpoint
 * id ~25 bytes, GCP's PSC connection id 11, HAProxy's unique-id at most 131 and its SSL block
 * ~100-300. A bigger header is refused rather than buffered: each pending connection holds its
 * header bytes in JS until it completes.
 */
export const PROXY_V2_MAX_BYTES = 16 + 1024;
/** The 12-byte v2 signature. */
export const PROXY_V2_SIGNATURE = new Uint8Array([0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a]);
const V1_PREFIX = [0x50, 0x52, 0x4f, 0x58, 0x59, 0x20]; // "PROXY "

export const PROXY_MODES: readonly ProxyProtocolMode[] = ["v1", "v2", "any"];

/**
 * Parses a PROXY header at the start of `b` (all bytes received so far). "need" only while the
 * bytes are a prefix of some valid header shorter than the cap, so a wrong header fails at the
 * first byte that shows it, not at the deadline.
 */
export function parseProxyHeader(b: Uint8Array, mode: ProxyProtocolMode): ProxyParse {
  if (b.length === 0) return { kind: "need" };
  if (mode === "v1" || (mode === "any" && b[0] === V1_PREFIX[0])) return parseV1(b);
  if (mode === "v2" || (mode === "any" && b[0] === PROXY_V2_SIGNATURE[0])) return parseV2(b);
  return { kind: "error", reason: `not a PROXY header (first byte 0x${b[0].toString(16).padStart(2, "0")})` };
}

// ── v1 ──────────────────────────────────────────────────────────────────────────────────

function parseV1(b: Uint8Array): ProxyParse {
  const n = Math.min(b.length, PROXY_V1_MAX_BYTES);
  for (let i = 0; i < Math.min(n, V1_PREFIX.length); i++) {
    if (b[i] !== V1_PREFIX[i]) return { kind: "error", reason: `v1: does not start with "PROXY " (byte ${i})` };
  }
  let end = -1;
  for (let i = V1_PREFIX.length; i < n; i++) {
    const c = b[i];
    if (c === 0x0a) return { kind: "error", reason: `v1: a bare LF at byte ${i} (the line ends with CRLF)` };
    if (c === 0x0d) {
      if (i + 1 >= b.length) return { kind: "need" };
      if (b[i + 1] !== 0x0a) return { kind: "error", reason: `v1: CR not followed by LF at byte ${i}` };
      end = i;
      break;
    }
    if (c < 0x20 || c > 0x7e) return { kind: "error", reason: `v1: a non-printable byte 0x${c.toString(16)} at ${i}` };
  }
  if (end < 0) {
    return b.length >= PROXY_V1_MAX_BYTES
      ? { kind: "error", reason: `v1: no CRLF within ${PROXY_V1_MAX_BYTES} bytes` }
      : { kind: "need" };
  }
  const line = String.fromCharCode(...b.subarray(0, end));
  const length = end + 2;
  const f = line.split(" ");
  if (f[1] === "UNKNOWN") return { kind: "done", length, info: { version: 1, command: "proxy", family: "unknown" } }; // the rest of the line is ignored (spec 2.1)
  if (f[1] !== "TCP4" && f[1] !== "TCP6") return { kind: "error", reason: `v1: protocol ${JSON.stringify(f[1] ?? "")} is not TCP4, TCP6 or UNKNOWN` };
  if (f.length !== 6) return { kind: "error", reason: `v1: ${f.length} fields, a ${f[1]} line has 6 separated by single spaces` };
  const v4 = f[1] === "TCP4";
  const src = v4 ? ipv4Text(f[2]) : ipv6Text(f[2]);
  const dst = v4 ? ipv4Text(f[3]) : ipv6Text(f[3]);
  if (src === undefined || dst === undefined) return { kind: "error", reason: `v1: a bad ${v4 ? "IPv4" : "IPv6"} address (${JSON.stringify(src === undefined ? f[2] : f[3])})` };
  const sport = portText(f[4]), dport = portText(f[5]);
  if (sport < 0 || dport < 0) return { kind: "error", reason: `v1: a bad port (${JSON.stringify(sport < 0 ? f[4] : f[5])})` };
  return { kind: "done", length, info: { version: 1, command: "proxy", family: v4 ? "tcp4" : "tcp6", source: { host: src, port: sport }, destination: { host: dst, port: dport } } };
}

/** A dotted quad without leading zeros (as inet_pton reads it), or undefined. */
function ipv4Text(s: string): string | undefined {
  return /^(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)(\.(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)){3}$/.test(s) ? s : undefined;
}

/** 0..65535 in decimal without leading zeros, or -1. */
function portText(s: string): number {
  if (!/^(0|[1-9]\d{0,4})$/.test(s)) return -1;
  const v = Number(s);
  return v <= 65535 ? v : -1;
}

/** An IPv6 address in text (RFC 4291 2.2, with "::" and a trailing dotted quad), in canonical form (RFC 5952), or undefined. */
export function ipv6Text(s: string): string | undefined {
  const bytes = ipv6Bytes(s);
  return bytes ? ipv6Format(bytes, 0) : undefined;
}

function ipv6Bytes(s: string): Uint8Array | undefined {
  if (s.length < 2 || s.length > 45) return undefined;
  const words: number[] = [];
  const halves = s.split("::");
  if (halves.length > 2) return undefined;
  const parse = (part: string, last: boolean): number[] | undefined => {
    if (part === "") return [];
    const out: number[] = [];
    const groups = part.split(":");
    for (let i = 0; i < groups.length; i++) {
      const g = groups[i];
      if (last && i === groups.length - 1 && g.includes(".")) {
        if (ipv4Text(g) === undefined) return undefined;
        const q = g.split(".").map(Number);
        out.push((q[0] << 8) | q[1], (q[2] << 8) | q[3]);
      } else if (/^[0-9a-fA-F]{1,4}$/.test(g)) out.push(parseInt(g, 16));
      else return undefined;
    }
    return out;
  };
  if (halves.length === 1) {
    const w = parse(s, true);
    if (!w || w.length !== 8) return undefined;
    words.push(...w);
  } else {
    const head = parse(halves[0], false), tail = parse(halves[1], true);
    if (!head || !tail || head.length + tail.length > 7) return undefined;
    words.push(...head, ...new Array(8 - head.length - tail.length).fill(0), ...tail);
  }
  const out = new Uint8Array(16);
  words.forEach((w, i) => { out[2 * i] = w >> 8; out[2 * i + 1] = w & 0xff; });
  return out;
}

/** RFC 5952: lower case, no leading zeros, the longest run of two or more zero words as "::" (the first on a tie); IPv4-mapped as ::ffff:a.b.c.d. */
export function ipv6Format(b: Uint8Array, at: number): string {
  const w: number[] = [];
  for (let i = 0; i < 8; i++) w.push((b[at + 2 * i] << 8) | b[at + 2 * i + 1]);
  if (w[0] === 0 && w[1] === 0 && w[2] === 0 && w[3] === 0 && w[4] === 0 && w[5] === 0xffff) {
    return `::ffff:${b[at + 12]}.${b[at + 13]}.${b[at + 14]}.${b[at + 15]}`;
  }
  let best = -1, bestLen = 1;
  for (let i = 0; i < 8;) {
    if (w[i] !== 0) { i++; continue; }
    let j = i;
    while (j < 8 && w[j] === 0) j++;
    if (j - i > bestLen) { best = i; bestLen = j - i; }
    i = j;
  }
  const hex = (ws: number[]) => ws.map((x) => x.toString(16)).join(":");
  if (best < 0) return hex(w);
  return `${hex(w.slice(0, best))}::${hex(w.slice(best + bestLen))}`;
}

// ── v2 ──────────────────────────────────────────────────────────────────────────────────

function parseV2(b: Uint8Array): ProxyParse {
  for (let i = 0; i < Math.min(b.length, 12); i++) {
    if (b[i] !== PROXY_V2_SIGNATURE[i]) return { kind: "error", reason: `v2: bad signature at byte ${i}` };
  }
  if (b.length < 13) return { kind: "need" };
  const verCmd = b[12];
  if (verCmd >> 4 !== 2) return { kind: "error", reason: `v2: version ${verCmd >> 4}, expected 2` };
  const cmd = verCmd & 0x0f;
  if (cmd > 1) return { kind: "error", reason: `v2: command ${cmd} is neither LOCAL (0) nor PROXY (1)` };
  if (b.length < 14) return { kind: "need" };
  const fam = b[13];
  // PROXY over a stream: AF_UNSPEC, TCP over IPv4/IPv6, or a stream AF_UNIX socket. LOCAL ignores the field (spec 2.2).
  if (cmd === 1 && fam !== 0x00 && fam !== 0x11 && fam !== 0x21 && fam !== 0x31) {
    return { kind: "error", reason: `v2: address family/protocol 0x${fam.toString(16).padStart(2, "0")} is not UNSPEC, TCP4, TCP6 or a UNIX stream` };
  }
  if (b.length < 16) return { kind: "need" };
  const len = (b[14] << 8) | b[15];
  if (16 + len > PROXY_V2_MAX_BYTES) return { kind: "error", reason: `v2: a ${16 + len}-byte header is over our cap of ${PROXY_V2_MAX_BYTES}` };
  const addrLen = cmd === 0 ? 0 : fam === 0x11 ? 12 : fam === 0x21 ? 36 : fam === 0x31 ? 216 : 0;
  if (len < addrLen) return { kind: "error", reason: `v2: length ${len} is too short for its addresses (${addrLen})` };
  if (b.length < 16 + len) return { kind: "need" };
  const length = 16 + len;
  if (cmd === 0) return { kind: "done", length, info: { version: 2, command: "local", family: "unknown" } }; // LOCAL: the whole block is ignored (spec 2.2)
  // The TLVs after the addresses are skipped, but their chain must fit the length exactly.
  for (let p = 16 + addrLen; p < 16 + len;) {
    if (p + 3 > 16 + len) return { kind: "error", reason: `v2: a truncated TLV at byte ${p}` };
    const tl = (b[p + 1] << 8) | b[p + 2];
    if (p + 3 + tl > 16 + len) return { kind: "error", reason: `v2: a TLV at byte ${p} runs past the header (${tl} bytes)` };
    p += 3 + tl;
  }
  const port = (at: number) => (b[at] << 8) | b[at + 1];
  if (fam === 0x11) {
    const ip = (at: number) => `${b[at]}.${b[at + 1]}.${b[at + 2]}.${b[at + 3]}`;
    return { kind: "done", length, info: { version: 2, command: "proxy", family: "tcp4", source: { host: ip(16), port: port(24) }, destination: { host: ip(20), port: port(26) } } };
  }
  if (fam === 0x21) {
    return { kind: "done", length, info: { version: 2, command: "proxy", family: "tcp6", source: { host: ipv6Format(b, 16), port: port(48) }, destination: { host: ipv6Format(b, 32), port: port(50) } } };
  }
  return { kind: "done", length, info: { version: 2, command: "proxy", family: fam === 0x31 ? "unix" : "unknown" } };
}

// ── the pending connections of one reactor ──────────────────────────────────────────────

/** ListenOptions.proxyProtocol / proxyTimeoutMs, checked (listen() throws what is wrong). */
export function checkProxyOptions(mode: unknown, timeoutMs: unknown): { mode: ProxyProtocolMode; timeoutMs: number } | undefined {
  if (mode === undefined || mode === false) {
    if (timeoutMs !== undefined) throw new ReactorError("ERR_INVALID_OPTION", "wasm-reactor: listen proxyTimeoutMs needs proxyProtocol (\"v1\", \"v2\" or \"any\")");
    return undefined;
  }
  if (!PROXY_MODES.includes(mode as ProxyProtocolMode)) throw new ReactorError("ERR_INVALID_OPTION", `wasm-reactor: listen proxyProtocol must be "v1", "v2" or "any", got ${JSON.stringify(mode)}`);
  const t = timeoutMs ?? DEFAULT_PROXY_TIMEOUT_MS;
  if (!Number.isInteger(t) || (t as number) < 1 || (t as number) > 3_600_000) throw new ReactorError("ERR_INVALID_OPTION", `wasm-reactor: listen proxyTimeoutMs must be an integer from 1 to 3600000, got ${String(timeoutMs)}`);
  return { mode: mode as ProxyProtocolMode, timeoutMs: t as number };
}

/**
 * A balancer sends the header at once, in the connection's first segment (HAProxy writes it
 * with the connect): 5 s leaves room for a loaded balancer and a lossy path (a retransmit
 * after the 1 s initial RTO, twice) and still sheds a slow-header flood quickly.
 */
export const DEFAULT_PROXY_TIMEOUT_MS = 5000;

const MODE_CODE: Record<ProxyProtocolMode, number> = { v1: 1, v2: 2, any: 3 };
const CODE_MODE: ProxyProtocolMode[] = ["v1", "v1", "v2", "any"];
/** pendingMode of a connection whose header was refused: it waits for its close. */
const REJECTED = 0xff;

interface Pending { slot: number; gen: number; dueMs: number }

export class ProxyHeaders {
  private readonly r: Reactor;
  private readonly log: (line: string) => void;
  /** Per listener slot: 0 off, else MODE_CODE; and its deadline. */
  private readonly listenMode: Uint8Array;
  private readonly listenTimeoutMs: Uint32Array;
  /** Per connection slot: the generation waiting for its header (0: none), and its mode (or REJECTED). */
  private readonly pendingGen: Uint32Array;
  private readonly pendingMode: Uint8Array;
  /** Header bytes received so far, for connections whose header came in pieces. */
  private readonly partial = new Map<number, Uint8Array>();
  /** What each proxied connection's header said, by slot (with its generation). */
  private readonly infos = new Map<number, { gen: number; info: ProxyInfo }>();
  /** Deadlines in arrival order, per distinct timeout (each queue is sorted by due time). */
  private readonly queues = new Map<number, { items: Pending[]; head: number }>();
  private timer: TimerHandle | undefined;
  private timerDueMs = Infinity;
  private timerFailLogged = false;
  pendingCount = 0;

  constructor(r: Reactor, slotCap: number, log: (line: string) => void) {
    this.r = r;
    this.log = log;
    this.listenMode = new Uint8Array(slotCap);
    this.listenTimeoutMs = new Uint32Array(slotCap);
    this.pendingGen = new Uint32Array(slotCap);
    this.pendingMode = new Uint8Array(slotCap);
  }

  setListener(slot: number, opts: { mode: ProxyProtocolMode; timeoutMs: number } | undefined): void {
    this.listenMode[slot] = opts ? MODE_CODE[opts.mode] : 0;
    this.listenTimeoutMs[slot] = opts ? opts.timeoutMs : 0;
  }

  /** An accepted connection: does its listener want a PROXY header first? */
  wants(listenerSlot: number): boolean { return this.listenMode[listenerSlot] !== 0; }

  /** Whether (slot, gen) still waits for its header, or for its close after a refused one. */
  pending(slot: number, gen: number): boolean { return this.pendingCount !== 0 && this.pendingGen[slot] === gen; }

  info(slot: number, gen: number): ProxyInfo | undefined {
    const e = this.infos.get(slot);
    return e && e.gen === gen ? e.info : undefined;
  }

  /** An accepted connection of a PROXY listener: hold its open until the header is in. */
  begin(slot: number, gen: number, listenerSlot: number): void {
    this.pendingGen[slot] = gen;
    this.pendingMode[slot] = this.listenMode[listenerSlot];
    this.pendingCount++;
    const timeoutMs = this.listenTimeoutMs[listenerSlot];
    let q = this.queues.get(timeoutMs);
    if (!q) { q = { items: [], head: 0 }; this.queues.set(timeoutMs, q); }
    const dueMs = this.r.nowMs() + timeoutMs;
    q.items.push({ slot, gen, dueMs });
    if (dueMs < this.timerDueMs) this.arm(dueMs);
  }

  /**
   * Bytes for a pending connection. Returns what the dispatcher does next: undefined (wait for
   * more, or the connection is being reset), or the offset in `data` where the app's bytes start
   * (then it calls open, and data with the rest if any).
   */
  feed(slot: number, gen: number, data: Uint8Array): number | undefined {
    if (this.pendingMode[slot] === REJECTED) return undefined; // being reset: its bytes are nobody's
    const mode = CODE_MODE[this.pendingMode[slot]];
    const prev = this.partial.get(slot);
    let bytes = data;
    if (prev) {
      // Only what can still belong to the header is copied: at most the cap in all.
      const cap = PROXY_V2_MAX_BYTES;
      const add = data.subarray(0, Math.max(0, Math.min(data.length, cap - prev.length)));
      bytes = new Uint8Array(prev.length + add.length);
      bytes.set(prev); bytes.set(add, prev.length);
    }
    const res = parseProxyHeader(bytes, mode);
    if (res.kind === "need") {
      if (bytes.length >= PROXY_V2_MAX_BYTES) return this.reject(slot, gen, K.PH_REJECTED); // the parser says why it cannot be; belt and braces
      this.partial.set(slot, bytes === data ? data.slice() : bytes);
      return undefined;
    }
    if (res.kind === "error") return this.reject(slot, gen, K.PH_REJECTED);
    this.settle(slot, false);
    this.infos.set(slot, { gen, info: res.info });
    this.r.core.exports.proxyHeader(slot, gen, K.PH_ACCEPTED);
    return res.length - (prev ? prev.length : 0);
  }

  /**
   * The peer's FIN before the header completed. With no byte at all it is a probe (a TCP health
   * check: HAProxy's plain `check`, a cloud balancer's TCP check): closed quietly, not counted,
   * or every check would look like an attack on the error counter. With some bytes: refused.
   */
  ended(slot: number, gen: number): void {
    if (this.pendingMode[slot] === REJECTED) return;
    if (this.partial.has(slot)) { this.reject(slot, gen, K.PH_REJECTED); return; }
    this.settle(slot, true);
    this.r.core.exports.close(slot, gen, 0);
  }

  /** The core timed it out (idle, handshake) before the header completed. */
  abandon(slot: number, gen: number, late: boolean): void {
    if (this.pendingMode[slot] !== REJECTED) this.reject(slot, gen, late ? K.PH_LATE : K.PH_REJECTED);
  }

  /** The connection closed: forget it (a pending or rejected one was never the app's). */
  closed(slot: number, gen: number): void {
    if (this.pendingGen[slot] === gen && gen !== 0) this.settle(slot, false);
    const e = this.infos.get(slot);
    if (e && e.gen === gen) this.infos.delete(slot);
  }

  /** A listener closed. */
  listenerClosed(slot: number): void { this.listenMode[slot] = 0; this.listenTimeoutMs[slot] = 0; }

  private reject(slot: number, gen: number, result: number): undefined {
    this.settle(slot, true);
    this.r.core.exports.proxyHeader(slot, gen, result);
    return undefined;
  }

  /**
   * The header is decided. Accepted: the connection is the app's from now on. Rejected: it
   * stays marked (its notes still come here, and its close calls nothing) until it closes.
   */
  private settle(slot: number, rejected: boolean): void {
    if (this.pendingGen[slot] === 0) return;
    this.partial.delete(slot);
    if (rejected) { this.pendingMode[slot] = REJECTED; return; }
    this.pendingGen[slot] = 0;
    this.pendingMode[slot] = 0;
    this.pendingCount--;
  }

  private arm(dueMs: number): void {
    if (this.timer) this.r.timers.clear(this.timer);
    this.timer = undefined;
    this.timerDueMs = Infinity;
    try {
      this.timer = this.r.timers.arm(() => this.sweep(), Math.max(0, Math.ceil(dueMs - this.r.nowMs())));
      this.timerDueMs = dueMs;
    } catch (err) {
      // Every app timer is taken: the deadline is swept at the next begin() instead, and the
      // core's idle timeout (if set) still bounds the wait. Say so once.
      if (!this.timerFailLogged) { this.timerFailLogged = true; this.log(`wasm-reactor: no app timer free for the PROXY header deadline (${(err as Error).message}); raise the 'timers' option`); }
    }
  }

  /** The deadline timer: reset every connection whose header is late, re-arm for the next. */
  private sweep(): void {
    this.timer = undefined;
    this.timerDueMs = Infinity;
    const now = this.r.nowMs();
    let next = Infinity;
    for (const [t, q] of this.queues) {
      while (q.head < q.items.length) {
        const p = q.items[q.head];
        if (this.pendingGen[p.slot] !== p.gen || this.pendingMode[p.slot] === REJECTED) { q.head++; continue; } // settled meanwhile
        if (p.dueMs > now) { next = Math.min(next, p.dueMs); break; }
        q.head++;
        this.reject(p.slot, p.gen, K.PH_LATE);
      }
      if (q.head === q.items.length) this.queues.delete(t);
      else if (q.head > 1024 && q.head * 2 > q.items.length) { q.items.splice(0, q.head); q.head = 0; }
    }
    if (next !== Infinity) this.arm(next);
  }
}
