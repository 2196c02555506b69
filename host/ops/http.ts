// A small HTTP/1.1 server on our own Reactor, for the operator's endpoints (/metrics, /healthz,
// /readyz: host/ops/metrics-endpoint.ts). Not node:http: it must run wherever a Reactor runs
// (Node, Deno, Bun; epoll, kqueue, portable hosts; on a worker's reactor or the main thread's)
// and it must never block the loop: it is a set of Handlers like any app's, parsing in the
// data callback and answering with conn.write().
//
// How it works:
//   1. Each connection keeps the bytes of the request head it has so far (conn.data), copied
//      out of the lent chunk, at most maxHeadBytes (default 8 KiB, what many servers allow
//      per header line; a whole head past it gets 431 and the connection is closed).
//   2. At "\r\n\r\n" the head is parsed: request line, then headers. GET and HEAD only by
//      default (405 with Allow otherwise; `methods` widens it, e.g. for the admin endpoint's
//      POST, host/ops/admin.ts). A body only with Content-Length and only up to maxBodyBytes
//      (default 0: none; larger gets 413); Transfer-Encoding (chunked) gets 501: no endpoint of
//      ours needs it, and a chunked parser is more code to get wrong. HTTP/1.0 or 1.1 (505
//      otherwise). The route function answers synchronously, with the body whole.
//   3. Keep-alive as RFC 9112 section 9.3 says: HTTP/1.1 keeps the connection unless
//      "Connection: close"; HTTP/1.0 closes unless "Connection: keep-alive". Pipelined
//      requests are answered in order. Every response has Content-Length (HEAD: the GET's).
//      An error response (4xx, 5xx from parsing) closes the connection: after a bad head the
//      byte stream cannot be trusted.
//   4. A client that reads nothing while pipelining requests would grow our write queue:
//      above QUEUE_PAUSE_BYTES queued its reads pause until drain.
//   5. Idle and slow connections: one app timer (not one per connection) sweeps every second
//      while connections are open and closes those that completed no request within
//      idleTimeoutMs since they opened or since their last response (default 5 s, Node's
//      keepAliveTimeout): a client that trickles a head byte by byte is cut like an idle one.
//   6. At most maxConnections open at once (when given; serveMetrics gives 32, half its
//      reactor's 64 slots): one more closes the one that has waited longest, preferring a
//      connection between requests. Without it a client holding its reactor's slots with idle
//      connections would keep /healthz and scrapes waiting in the backlog for the idle timeout,
//      again and again (a liveness probe with a 1 s timeout fails, and the process is killed).
import type { Reactor } from "../reactor/reactor.ts";
import type { Connection, Handlers, Listener } from "../reactor/connection.ts";
import { ReactorError } from "../errors.ts";

export interface HttpRequest {
  /** GET or HEAD, or one of options.methods. */
  method: string;
  /** The path without the query string, as sent (not decoded). */
  path: string;
  /** The query string without "?", or "". */
  query: string;
  version: "1.0" | "1.1";
  /** Header names in lower case; a repeated header's values joined with ", ". */
  headers: Record<string, string>;
  /** The request body (Content-Length bytes; empty without one). */
  body: Uint8Array;
  /** The peer's address ("" when the host cannot tell), e.g. for a loopback-only endpoint. */
  remoteAddress: string;
  /**
   * True when remoteAddress came from a PROXY header (a listener with proxyProtocol): it is what
   * the sender of the header claims, not the socket's peer, so never proof of a loopback peer.
   */
  proxied: boolean;
}
export interface HttpResponse { status: number; headers?: Record<string, string>; body?: string | Uint8Array }
/** Answers one request, synchronously (it runs inside a turn: keep it short). */
export type HttpRoute = (req: HttpRequest) => HttpResponse;

export interface HttpOptions {
  /** Largest request head (request line and headers) in bytes; past it 431. Default 8192. */
  maxHeadBytes?: number;
  /** Close a connection that completes no request for this long (ms). Default 5000. */
  idleTimeoutMs?: number;
  /** Methods served (default ["GET", "HEAD"]); others get 405 with Allow. */
  methods?: readonly string[];
  /** Largest request body (Content-Length) taken; larger gets 413. Default 0: no bodies. */
  maxBodyBytes?: number;
  /** Connections open at once; one more closes the longest-waiting one (idle first). Default: no cap. */
  maxConnections?: number;
}

/** The handlers to give reactor.listen(), and what they hold. */
export interface HttpHandlers {
  readonly handlers: Handlers;
  /** Connections open on these handlers now. */
  readonly connections: number;
  /** Stops the idle sweep and closes the open connections (abortively: they are between requests or slow). */
  closeAll(): void;
}

/** Reads pause while this much is queued for one client (a pipelining client that reads nothing). */
const QUEUE_PAUSE_BYTES = 256 * 1024;
const SWEEP_MS = 1000;

const REASONS: Record<number, string> = {
  200: "OK", 202: "Accepted", 204: "No Content", 400: "Bad Request", 401: "Unauthorized", 403: "Forbidden", 404: "Not Found",
  405: "Method Not Allowed", 408: "Request Timeout", 409: "Conflict", 413: "Content Too Large", 415: "Unsupported Media Type",
  422: "Unprocessable Content", 431: "Request Header Fields Too Large", 500: "Internal Server Error", 501: "Not Implemented",
  503: "Service Unavailable", 505: "HTTP Version Not Supported",
};

/** scan: where the search for the head's end resumes (a head trickled byte by byte is scanned once, not once a byte). */
interface ConnState { head: Uint8Array; len: number; scan: number; sinceMs: number; closing: boolean; paused: boolean }
const encoder = new TextEncoder();
const EMPTY = new Uint8Array(0);

function checkInt(name: string, v: number | undefined, def: number, min: number, max: number): number {
  if (v === undefined) return def;
  if (!Number.isInteger(v) || v < min || v > max) throw new ReactorError("ERR_INVALID_OPTION", `wasm-reactor: http ${name} must be an integer from ${min} to ${max}, got ${String(v)}`);
  return v;
}

/** Handlers that serve `route` over HTTP/1.1 on any listener of `reactor`. */
export function httpHandlers(reactor: Reactor, route: HttpRoute, opts: HttpOptions = {}): HttpHandlers {
  const maxHead = checkInt("maxHeadBytes", opts.maxHeadBytes, 8192, 64, 1 << 20);
  const idleMs = checkInt("idleTimeoutMs", opts.idleTimeoutMs, 5000, 1, 0x7fffffff);
  const maxBody = checkInt("maxBodyBytes", opts.maxBodyBytes, 0, 0, 64 << 20);
  const maxConns = checkInt("maxConnections", opts.maxConnections, 0x7fffffff, 1, 0x7fffffff);
  const methods = opts.methods ?? ["GET", "HEAD"];
  if (!Array.isArray(methods) || methods.length === 0 || !methods.every((m) => typeof m === "string" && /^[A-Z]+$/.test(m))) {
    throw new ReactorError("ERR_INVALID_OPTION", `wasm-reactor: http methods must be a non-empty list of upper-case method names, got ${JSON.stringify(opts.methods)}`);
  }
  const allow = methods.join(", ");
  const open = new Map<number, Connection>();
  let sweeping = false, stopped = false, warned = false;

  const sweep = () => {
    sweeping = false;
    if (stopped) return;
    const now = reactor.nowMs();
    for (const c of open.values()) {
      const s = c.data as ConnState | undefined;
      if (s && !s.closing && now - s.sinceMs >= idleMs) { s.closing = true; c.close(); }
    }
    arm();
  };
  const arm = () => {
    if (sweeping || stopped || open.size === 0) return;
    try { reactor.setTimeout(sweep, SWEEP_MS); sweeping = true; }
    catch (err) {
      // Closing: its close ends these connections. All app timers armed (an app reactor that uses
      // every one): say so once; arm() is tried again on every open and every read, and past
      // maxConnections the longest-waiting connection is closed anyway, so nothing waits forever.
      if ((err as { code?: string }).code === "ERR_TIMERS" && !warned) {
        warned = true;
        (reactor.options.log ?? ((l: string) => console.error(l)))("wasm-reactor: http: no free app timer for the idle sweep (raise the reactor's 'timers' option); idle connections are closed once one is free");
      }
    }
  };

  const respond = (c: Connection, s: ConnState, res: HttpResponse, head: boolean, keep: boolean) => {
    const body = res.body === undefined ? new Uint8Array(0) : typeof res.body === "string" ? encoder.encode(res.body) : res.body;
    let text = `HTTP/1.1 ${res.status} ${REASONS[res.status] ?? "Unknown"}\r\n`;
    const hs = res.headers ?? {};
    for (const k in hs) text += `${k}: ${hs[k]}\r\n`;
    if (!("content-type" in lower(hs)) && body.length) text += "Content-Type: text/plain; charset=utf-8\r\n";
    text += `Content-Length: ${body.length}\r\nConnection: ${keep ? "keep-alive" : "close"}\r\n\r\n`;
    if (!c.writable) return;
    c.write(text);
    if (!head && body.length) c.write(body);
    s.sinceMs = reactor.nowMs();
    if (!keep) { s.closing = true; c.end(); }
    else if (!s.paused && c.queuedBytes > QUEUE_PAUSE_BYTES) { s.paused = true; c.pause(); }
  };
  const fail = (c: Connection, s: ConnState, status: number, extra?: Record<string, string>) =>
    respond(c, s, { status, headers: extra, body: `${REASONS[status]}\n` }, false, false);

  /** Answers every complete head in s.head; keeps the rest. */
  const serveHeads = (c: Connection, s: ConnState) => {
    while (!s.closing) {
      const end = headEnd(s.head, s.len, s.scan);
      if (end < 0) {
        s.scan = Math.max(0, s.len - 3);
        if (s.len > maxHead) fail(c, s, 431);
        return;
      }
      if (end > maxHead) { fail(c, s, 431); return; }
      const req = parseHead(s.head, end, methods, maxBody);
      if (typeof req === "number") { fail(c, s, req, req === 405 ? { Allow: allow } : undefined); return; }
      const bodyLen = Number(req.headers["content-length"] ?? 0);
      if (s.len < end + bodyLen) return; // the body is still coming (bounded: maxHead + maxBody)
      req.body = s.head.slice(end, end + bodyLen);
      req.remoteAddress = c.remoteAddress?.host ?? "";
      req.proxied = c.proxy !== undefined;
      s.head.copyWithin(0, end + bodyLen, s.len);
      s.len -= end + bodyLen;
      s.scan = 0;
      let res: HttpResponse;
      try { res = route(req); }
      catch { res = { status: 500, body: "Internal Server Error\n" }; }
      const conn = req.headers.connection?.toLowerCase() ?? "";
      const keep = req.version === "1.1" ? !/\bclose\b/.test(conn) : /\bkeep-alive\b/.test(conn);
      respond(c, s, res, req.method === "HEAD", keep); // the route's own 404/503 keep the connection: only a bad head closes it
    }
  };

  /**
   * Past maxConnections (not counting those already closing): closes the connection that has
   * waited longest for its next request, one holding no bytes of a request first.
   */
  const evictPast = (except: Connection) => {
    let live = 0, victim: Connection | undefined, vs: ConnState | undefined;
    for (const c of open.values()) {
      const s = c.data as ConnState | undefined;
      if (!s || s.closing) continue;
      live++;
      if (c === except) continue;
      const idle = s.len === 0, vIdle = vs !== undefined && vs.len === 0;
      if (!vs || (idle && !vIdle) || (idle === vIdle && s.sinceMs < vs.sinceMs)) { victim = c; vs = s; }
    }
    if (live > maxConns && victim && vs) { vs.closing = true; victim.close(); }
  };

  const handlers: Handlers = {
    open(c) {
      c.data = { head: new Uint8Array(512), len: 0, scan: 0, sinceMs: reactor.nowMs(), closing: false, paused: false } satisfies ConnState;
      open.set(c.id, c);
      if (open.size > maxConns) evictPast(c);
      arm();
    },
    data(c, d) {
      const s = c.data as ConnState | undefined;
      if (!s || s.closing) return;
      if (!sweeping) arm();
      // Bounded: at most maxHead + maxBodyBytes + one read's worth is ever held (serveHeads answers 431 past maxHead, 413 past maxBodyBytes).
      if (s.len + d.length > s.head.length) {
        const grown = new Uint8Array(Math.max(s.head.length * 2, s.len + d.length));
        grown.set(s.head.subarray(0, s.len));
        s.head = grown;
      }
      s.head.set(d, s.len);
      s.len += d.length;
      serveHeads(c, s);
    },
    drain(c) {
      const s = c.data as ConnState | undefined;
      if (s?.paused) { s.paused = false; c.resume(); }
    },
    end(c) {
      const s = c.data as ConnState | undefined;
      if (s) s.closing = true; // the peer is done; what we queued still goes out (allowHalfOpen off: our side ends)
    },
    close(c) { open.delete(c.id); },
    error() { /* close follows: counted in the reactor's errors_by_errno */ },
  };
  return {
    handlers,
    get connections() { return open.size; },
    closeAll() {
      stopped = true;
      for (const c of open.values()) { try { c.close(); } catch { /* already gone */ } }
      open.clear();
    },
  };
}

/** Listens on `opts` and serves `route`; close() closes the listener and the open connections. */
export function serveHttp(reactor: Reactor, listen: { port?: number; host?: string; backlog?: number }, route: HttpRoute, opts: HttpOptions = {}): { listener: Listener; http: HttpHandlers; close(): void } {
  const http = httpHandlers(reactor, route, opts);
  const listener = reactor.listen({ port: listen.port ?? 0, host: listen.host ?? "127.0.0.1", backlog: listen.backlog ?? 128 }, http.handlers);
  return { listener, http, close() { try { listener.close(); } catch { /* closed with its reactor */ } http.closeAll(); } };
}

function lower(h: Record<string, string>): Record<string, true> {
  const o: Record<string, true> = {};
  for (const k in h) o[k.toLowerCase()] = true;
  return o;
}

/** The offset just past "\r\n\r\n" (or a bare "\n\n", RFC 9112 section 2.2 lets us take LF), or -1. */
function headEnd(b: Uint8Array, len: number, from: number): number {
  for (let i = from; i + 1 < len; i++) {
    if (b[i] !== 10) continue;
    if (b[i + 1] === 10) return i + 2;
    if (b[i + 1] === 13 && i + 2 < len && b[i + 2] === 10) return i + 3;
  }
  return -1;
}

/** The request in b[0, end) (body and remoteAddress filled in by the caller), or the status to refuse it with. */
function parseHead(b: Uint8Array, end: number, methods: readonly string[], maxBody: number): HttpRequest | number {
  let text = "";
  for (let i = 0; i < end; i++) {
    const ch = b[i];
    if (ch === 0 || ch > 126) return 400; // heads are ASCII (RFC 9110 section 5.5: obs-text is not for us)
    text += String.fromCharCode(ch);
  }
  const lines = text.split(/\r?\n/);
  const m = /^([A-Z]+) (\S+) HTTP\/(\d)\.(\d)$/.exec(lines[0]);
  if (!m) return 400;
  const [, method, target, major, minor] = m;
  if (major !== "1" || (minor !== "0" && minor !== "1")) return 505;
  if (!target.startsWith("/")) return 400;
  const headers: Record<string, string> = {};
  for (let i = 1; i < lines.length; i++) {
    const line = lines[i];
    if (line === "") continue;
    const colon = line.indexOf(":");
    if (colon <= 0 || /\s/.test(line[colon - 1])) return 400; // no space before the colon (RFC 9112 section 5.1)
    const name = line.slice(0, colon).toLowerCase();
    const value = line.slice(colon + 1).trim();
    headers[name] = name in headers ? `${headers[name]}, ${value}` : value;
  }
  if (!methods.includes(method)) return 405;
  if (headers["transfer-encoding"] !== undefined) return 501;
  const cl = headers["content-length"];
  if (cl !== undefined && !/^\d{1,10}$/.test(cl)) return 400; // also "5, 5": two lengths (RFC 9112 section 6.3)
  if (cl !== undefined && Number(cl) > maxBody) return 413;
  if (minor === "1" && headers.host === undefined) return 400; // RFC 9112 section 3.2
  const q = target.indexOf("?");
  return { method, path: q < 0 ? target : target.slice(0, q), query: q < 0 ? "" : target.slice(q + 1), version: minor === "0" ? "1.0" : "1.1", headers, body: EMPTY, remoteAddress: "", proxied: false };
}
