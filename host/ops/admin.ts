// The admin endpoint for live tuning (docs/tuning.md): a pure request handler over a Tuner, with
// no server of its own, so it mounts on whichever HTTP server the process runs (host/ops/http.ts
// on our own Reactor, or any other).
//
//   GET  /admin/settings   the live settings' current values, and which options are not live and why
//   POST /admin/tune       {"settings": {name: value, ...}, "windowMs"?, "maxP99Ratio"?,
//                          "maxErrorRateRatio"?, "minSamples"?} → 202 {"id", "status"}
//   GET  /admin/tune       the watch's status (idle, watching, kept, rolled-back, with figures)
//   POST /admin/rollback   undo the last change now → 200 {"status"}
//
// Access: off by default (nothing mounts it unless asked). Without a token, loopback peers only
// (127.0.0.0/8, ::1, ::ffff:127.x): a remote peer gets 403, since a setting changed by anyone
// who can reach the port is a denial of service waiting to happen. With a token, every request
// (loopback too) must carry `Authorization: Bearer <token>`, compared in constant time (the
// time a comparison takes must not say how many leading bytes were right); a missing or wrong
// one gets 401. Remote peers are then allowed, unless allowRemote is false. A request whose
// address came from a PROXY header (req.proxied) is never taken for a loopback one: anyone who
// reaches such a listener directly could write "PROXY TCP4 127.0.0.1 ..." and, behind a balancer
// on this machine, the socket's own peer is loopback for every client; it needs the token.
import { ReactorError } from "../errors.ts";
import { Tuner, LIVE_SETTINGS, NOT_LIVE, WATCH_DEFAULTS, currentSettings, type Settings, type WatchOptions } from "./tuning.ts";

/**
 * What the endpoint drives: a Tuner (one reactor), or anything with the same four calls, such
 * as serve's GroupTuner (host/ops/group-tuning.ts: every worker of a startWorkers() group).
 * The calls throw ReactorError ERR_INVALID_OPTION (400) or ERR_TUNING (409) as a Tuner's do.
 */
export interface AdminTarget {
  settings(): Settings;
  apply(changes: Record<string, unknown>, watch: WatchOptions): { id: number };
  rollback(reason: string): unknown;
  status(): unknown;
}

export interface AdminRequest {
  method: string; path: string; headers: Record<string, string>; body: Uint8Array; remoteAddress: string;
  /** The address came from a PROXY header (host/ops/http.ts sets it): a claim, not a loopback peer. */
  proxied?: boolean;
}
export interface AdminResponse { status: number; headers?: Record<string, string>; body: string }
export interface AdminOptions {
  /** Bearer token every request must carry; with it, remote peers may call (unless allowRemote is false). */
  token?: string;
  /** Allow peers that are not loopback. Needs a token (default: true when a token is given). */
  allowRemote?: boolean;
}

/** Larger bodies are refused (413): a tuning request is a few hundred bytes. */
const MAX_BODY_BYTES = 64 * 1024;
/** A token shorter than this is refused at setup: guessable in a few requests. */
const MIN_TOKEN_CHARS = 16;

export function adminHandler(tuner: Tuner | AdminTarget, opts: AdminOptions = {}): (req: AdminRequest) => AdminResponse {
  const target: AdminTarget | undefined = tuner instanceof Tuner
    ? { settings: () => currentSettings(tuner.reactor), apply: (c, w) => tuner.apply(c, w), rollback: (r) => tuner.rollback(r), status: () => tuner.status() }
    : typeof tuner === "object" && tuner !== null && (["settings", "apply", "rollback", "status"] as const).every((k) => typeof (tuner as unknown as Record<string, unknown>)[k] === "function") ? tuner : undefined;
  if (!target) throw new ReactorError("ERR_INVALID_OPTION", "wasm-reactor: adminHandler needs a Tuner (new Tuner(reactor))");
  const { token, allowRemote } = opts;
  if (token !== undefined) checkAdminToken(token);
  if (allowRemote !== undefined && typeof allowRemote !== "boolean") throw new ReactorError("ERR_INVALID_OPTION", `wasm-reactor: admin allowRemote must be true or false, got ${String(allowRemote)}`);
  if (allowRemote && token === undefined) {
    throw new ReactorError("ERR_INVALID_OPTION", "wasm-reactor: admin allowRemote needs a token: without one, anyone who can reach the port could change the reactor's settings");
  }
  const remoteOk = token !== undefined && allowRemote !== false;
  const want = token === undefined ? undefined : new TextEncoder().encode(token);

  return (req: AdminRequest): AdminResponse => {
    const loopback = req.proxied !== true && isLoopback(req.remoteAddress);
    if (!loopback && !remoteOk) {
      return json(403, { error: token === undefined
        ? req.proxied === true
          ? `the admin endpoint answers loopback peers only, and an address from a PROXY header (${req.remoteAddress || "unknown"}) proves nothing; configure a token`
          : `the admin endpoint answers loopback peers only (this one is ${req.remoteAddress || "unknown"}); configure a token to allow remote ones`
        : `the admin endpoint answers loopback peers only (allowRemote is false; this one is ${req.remoteAddress || "unknown"})` });
    }
    if (want) {
      const auth = header(req.headers, "authorization") ?? "";
      const m = /^Bearer[ ]+(\S+)\s*$/i.exec(auth);
      if (!m || !sameBytes(new TextEncoder().encode(m[1]), want)) {
        return json(401, { error: m ? "wrong admin token" : "the admin endpoint needs `Authorization: Bearer <token>`" }, { "www-authenticate": 'Bearer realm="wasm-reactor admin"' });
      }
    }
    const path = req.path.split("?")[0].replace(/\/+$/, "");
    const method = req.method.toUpperCase();
    const route = ROUTES[path];
    if (!route) return json(404, { error: `no admin route ${path}; routes: ${Object.entries(ROUTES).map(([p, r]) => `${Object.keys(r).join("/")} ${p}`).join(", ")}` });
    const fn = route[method];
    if (!fn) return json(405, { error: `${method} ${path} is not allowed; use ${Object.keys(route).join(" or ")}` }, { allow: Object.keys(route).join(", ") });
    if (req.body.length > MAX_BODY_BYTES) return json(413, { error: `the body is ${req.body.length} bytes; at most ${MAX_BODY_BYTES}` });
    try {
      return fn(target, req);
    } catch (err) {
      const code = (err as ReactorError).code;
      const message = String((err as Error).message).replace(/^wasm-reactor: /, "");
      if (code === "ERR_INVALID_OPTION") return json(400, { error: message });
      if (code === "ERR_TUNING") return json(409, { error: message });
      return json(500, { error: message });
    }
  };
}

/**
 * Throws ERR_INVALID_OPTION unless `token` can be an admin token: a string of at least 16
 * characters with no whitespace (a Bearer credential is one word: a token with a space could
 * never be sent). serve checks a token file with it before anything starts.
 */
export function checkAdminToken(token: unknown): asserts token is string {
  if (typeof token !== "string" || token.length < MIN_TOKEN_CHARS) {
    throw new ReactorError("ERR_INVALID_OPTION", `wasm-reactor: admin token must be a string of at least ${MIN_TOKEN_CHARS} characters, got ${typeof token === "string" ? `${token.length} characters` : typeof token}`);
  }
  if (/\s/.test(token)) throw new ReactorError("ERR_INVALID_OPTION", "wasm-reactor: admin token must not contain whitespace: `Authorization: Bearer <token>` carries one word");
}

type Route = Record<string, (t: AdminTarget, req: AdminRequest) => AdminResponse>;
const ROUTES: Record<string, Route> = {
  "/admin/settings": {
    GET: (t) => json(200, { settings: t.settings(), live: LIVE_SETTINGS, notLive: NOT_LIVE }),
  },
  "/admin/tune": {
    GET: (t) => json(200, t.status()),
    POST: (t, req) => {
      const body = parseJson(req.body);
      const { settings, ...watch } = body;
      if (settings === undefined) throw new ReactorError("ERR_INVALID_OPTION", `wasm-reactor: the body needs "settings": {name: value, ...}, and may give ${Object.keys(WATCH_DEFAULTS).join(", ")}`);
      const { id } = t.apply(settings as Record<string, unknown>, watch as WatchOptions);
      return json(202, { id, status: t.status() });
    },
  },
  "/admin/rollback": {
    POST: (t) => json(200, { status: t.rollback("rolled back through the admin endpoint") }),
  },
};

function parseJson(body: Uint8Array): Record<string, unknown> {
  let v: unknown;
  try { v = JSON.parse(new TextDecoder("utf-8", { fatal: true }).decode(body)); }
  catch (err) { throw new ReactorError("ERR_INVALID_OPTION", `wasm-reactor: the body is not JSON: ${(err as Error).message}`); }
  if (typeof v !== "object" || v === null || Array.isArray(v)) throw new ReactorError("ERR_INVALID_OPTION", `wasm-reactor: the body must be a JSON object, got ${Array.isArray(v) ? "an array" : JSON.stringify(v)}`);
  return v as Record<string, unknown>;
}

function json(status: number, value: unknown, headers: Record<string, string> = {}): AdminResponse {
  return { status, headers: { "content-type": "application/json; charset=utf-8", "cache-control": "no-store", ...headers }, body: JSON.stringify(value) + "\n" };
}

function header(h: Record<string, string>, name: string): string | undefined {
  for (const k of Object.keys(h)) if (k.toLowerCase() === name) return h[k];
  return undefined;
}

/** 127.0.0.0/8, ::1 and IPv4-mapped loopback. */
export function isLoopback(addr: string): boolean {
  const a = addr.toLowerCase().replace(/^\[|\]$/g, "");
  return /^127\.\d+\.\d+\.\d+$/.test(a) || a === "::1" || /^::ffff:127\.\d+\.\d+\.\d+$/.test(a) || a === "0:0:0:0:0:0:0:1";
}

/**
 * Compares in time that depends on the lengths only, never on where the first difference is:
 * every byte of the longer input is looked at, and the lengths are folded in.
 */
function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  const n = Math.max(a.length, b.length);
  let diff = a.length ^ b.length;
  for (let i = 0; i < n; i++) diff |= (a[i] ?? 0) ^ (b[i] ?? 0);
  return diff === 0;
}
