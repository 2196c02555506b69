// The metrics endpoint: /metrics (Prometheus text 0.0.4), /metrics.json, /healthz, /readyz,
// served by host/ops/http.ts on a Reactor.
//
//   const m = await serveMetrics(reactor, { port: 9100 });       // its own reactor on this thread
//   const m = await serveMetrics(group, { port: 9100 });         // startWorkers' group: every worker
//   reactor.listen({ port: 9100 }, metricsHandlers(reactor).handlers); // on a listener of yours
//   m.ready = false;                                             // draining: /readyz answers 503
//   serveMetrics(r, { mount: { prefix: "/admin/", route: adminHandler(tuner) }, methods: ["GET", "HEAD", "POST"], maxBodyBytes: 65536 })
//                                                                // more routes on the same port (serve --admin)
//
// Where it runs, and why: serveMetrics() makes a small reactor of its own on the calling thread
// (wait "thread": it never blocks that thread). So a scrape is answered between the turns of
// the reactors it reads, not inside one of their turns, and its own connections are not in
// their metrics. With startWorkers, the workers' metrics are read from their cores' shared
// memory (group.metrics(), histograms from the same memory): nothing runs on a worker's thread
// for a scrape, so a scrape cannot lengthen a worker's turn at all. The host's own counters and
// the kernel's socket-queue gauges (Reactor.metrics().host) live in a worker's native shim, not
// in its core: each worker copies them into a small shared buffer once a second, between its
// turns (HostFigures in host/reactor/worker.ts), and group.metrics() attaches that copy, so a
// worker's host_* and kernel_queue* series are up to about a second old.
//
// The JSON shape (agreed with the live view, `top`): { version: 1, time, process: { pid,
// rssBytes, cpuUserUs, cpuSystemUs, uptimeS, runtime }, ready, reactors: [{ index, host,
// metrics }], merged } where metrics is a MetricsSnapshot as reactor.metrics() returns it and
// merged is all of them as one (mergeMetrics' rules: host/reactor/worker.ts).
import { Reactor } from "../reactor/reactor.ts";
import type { Handlers, Listener } from "../reactor/connection.ts";
import type { ReactorOptions } from "../options.ts";
import { ReactorError } from "../errors.ts";
import { histogramsOf, prometheusText, type Histograms, type MetricsSnapshot, type ProcessFigures } from "../core/metrics.ts";
import { mergeMetrics, workerCores, type WorkerGroup } from "../reactor/worker.ts";
import { httpHandlers, type HttpOptions, type HttpRequest, type HttpResponse, type HttpRoute } from "./http.ts";
import { kernelFigures, processFigures } from "./process.ts";

/** What an endpoint reads: one reactor, several, or a startWorkers() group. */
export type MetricsSource = Reactor | readonly Reactor[] | WorkerGroup;

export interface MetricsEndpointOptions extends HttpOptions {
  /** Readiness at start (default true). */
  ready?: boolean;
  /**
   * More routes on the same port, e.g. the admin endpoint (serve --admin: host/ops/admin.ts):
   * requests whose path starts with `prefix` go to `route`, with the methods and body size the
   * HTTP options allow. The metrics routes stay GET and HEAD only (405 otherwise).
   */
  mount?: { prefix: string; route: HttpRoute };
}
export interface MetricsServeOptions extends MetricsEndpointOptions {
  /** Port (default 0: a free one, in .port). */
  port?: number;
  /** Address (default 127.0.0.1: metrics are for the operator; give 0.0.0.0 to expose them). */
  host?: string;
  /** Options of the endpoint's own reactor (default: a small one, host "auto", wait "thread"). */
  reactorOptions?: ReactorOptions;
}

/** The routes and their readiness flag, to mount on any listener. */
export interface MetricsEndpoint {
  readonly handlers: Handlers;
  /** /readyz answers 200 while true, 503 once false (set it false when draining). */
  ready: boolean;
  /** The JSON document /metrics.json serves, read now. */
  json(): MetricsDocument;
  /** The Prometheus text /metrics serves, read now. */
  text(): string;
  /** Closes the endpoint's open HTTP connections. */
  closeConnections(): void;
}
export interface MetricsServer extends MetricsEndpoint {
  readonly port: number;
  readonly host: string;
  readonly listener: Listener;
  /** Stops listening, closes its connections and its own reactor. */
  close(): Promise<void>;
}
export interface MetricsDocument {
  version: 1; time: number; process: ProcessFigures; ready: boolean;
  reactors: { index: number; host: string; metrics: MetricsSnapshot }[];
  merged: MetricsSnapshot;
}

interface Read { snaps: MetricsSnapshot[]; hists: Histograms[]; hosts: string[] }

function isGroup(s: MetricsSource): s is WorkerGroup {
  return typeof (s as WorkerGroup).mergedMetrics === "function" && !(s instanceof Reactor);
}

/** Reads every reactor of the source now: snapshots, histograms, host kinds. */
function readerOf(source: MetricsSource): () => Read {
  if (source instanceof Reactor) return () => ({ snaps: [source.metrics()], hists: [histogramsOf(source.core)], hosts: [source.host.kind] });
  if (isGroup(source)) {
    return () => {
      const cores = workerCores(source);
      return { snaps: source.metrics(), hists: cores.map(histogramsOf), hosts: source.workers.map((w) => w.host ?? "worker") };
    };
  }
  if (!Array.isArray(source) || source.length === 0 || !source.every((r) => r instanceof Reactor)) {
    throw new ReactorError("ERR_INVALID_OPTION", "wasm-reactor: a metrics endpoint reads a Reactor, a non-empty array of Reactors, or a startWorkers() group");
  }
  const rs = source as readonly Reactor[];
  return () => ({ snaps: rs.map((r) => r.metrics()), hists: rs.map((r) => histogramsOf(r.core)), hosts: rs.map((r) => r.host.kind) });
}

/** The endpoint's routes for `source`, as handlers to give any listener (reactor.listen). */
export function metricsHandlers(mountOn: Reactor, source: MetricsSource = mountOn, opts: MetricsEndpointOptions = {}): MetricsEndpoint {
  const read = readerOf(source);
  let ready = opts.ready ?? true;
  let lastBuildS: number | undefined;
  const text = () => {
    const t0 = performance.now();
    const r = read();
    const out = prometheusText(r.snaps.map((metrics, i) => ({ metrics, histograms: r.hists[i], labels: r.snaps.length === 1 ? undefined : { reactor: String(i) }, kind: r.hosts[i] === "worker" ? undefined : r.hosts[i] })), {
      process: processFigures(), kernel: kernelFigures(), ready, scrapeSeconds: lastBuildS,
    });
    lastBuildS = (performance.now() - t0) / 1000;
    return out;
  };
  const json = (): MetricsDocument => {
    const r = read();
    const p = processFigures();
    return {
      version: 1, time: Date.now(),
      process: { pid: p.pid, rssBytes: p.rssBytes, cpuUserUs: p.cpuUserUs, cpuSystemUs: p.cpuSystemUs, uptimeS: p.uptimeS, runtime: p.runtime },
      ready,
      reactors: r.snaps.map((metrics, index) => ({ index, host: r.hosts[index], metrics })),
      merged: r.snaps.length === 1 ? r.snaps[0] : mergeFromReads(source, r),
    };
  };
  const mount = opts.mount;
  if (mount !== undefined && (typeof mount !== "object" || mount === null || typeof mount.prefix !== "string" || !/^\/[^?#]*\/$/.test(mount.prefix) || typeof mount.route !== "function")) {
    throw new ReactorError("ERR_INVALID_OPTION", `wasm-reactor: metrics endpoint mount must be { prefix: "/name/", route: (req) => response }, got ${mount === null ? "null" : typeof mount === "object" ? `{ prefix: ${JSON.stringify(mount.prefix)}, route: ${typeof mount.route} }` : typeof mount}`);
  }
  const index = `wasm-reactor: /metrics /metrics.json /healthz /readyz${mount ? ` ${mount.prefix}` : ""}\n`;
  const route = (req: HttpRequest): HttpResponse => {
    if (mount && (req.path.startsWith(mount.prefix) || req.path === mount.prefix.slice(0, -1))) return mount.route(req);
    // Other methods reach here only when the options widened them for the mounted routes.
    if (req.method !== "GET" && req.method !== "HEAD") return { status: 405, headers: { Allow: "GET, HEAD" }, body: "Method Not Allowed\n" };
    switch (req.path) {
      case "/metrics": return { status: 200, headers: { "Content-Type": "text/plain; version=0.0.4; charset=utf-8" }, body: text() };
      case "/metrics.json": return { status: 200, headers: { "Content-Type": "application/json" }, body: JSON.stringify(json()) };
      case "/healthz": return { status: 200, body: "ok\n" };
      case "/readyz": return ready ? { status: 200, body: "ready\n" } : { status: 503, body: "draining\n" };
      case "/": return { status: 200, headers: { "Content-Type": "text/plain; charset=utf-8" }, body: index };
      default: return { status: 404, body: "Not Found\n" };
    }
  };
  const http = httpHandlers(mountOn, route, opts);
  return {
    handlers: http.handlers,
    get ready() { return ready; },
    set ready(v: boolean) { ready = v === true; },
    json, text,
    closeConnections() { http.closeAll(); },
  };
}

/** Merged snapshot of several reactors: from their cores (histograms exact) when we have them. */
function mergeFromReads(source: MetricsSource, r: Read): MetricsSnapshot {
  const cores = source instanceof Reactor ? [source.core] : isGroup(source) ? workerCores(source) : (source as readonly Reactor[]).map((x) => x.core);
  return mergeMetrics(cores, r.snaps);
}

/**
 * Serves the endpoint on its own small reactor on this thread (see the top of this file for
 * why), listening on opts.host:opts.port. Resolves once it listens.
 */
export async function serveMetrics(source: MetricsSource, opts: MetricsServeOptions = {}): Promise<MetricsServer> {
  readerOf(source); // a bad source fails here, before a reactor exists
  const port = opts.port ?? 0, host = opts.host ?? "127.0.0.1";
  // A budget of its own (fdLimit 96: 64 after the reserve) so that it takes few of the descriptors the app's reactors count on.
  const r = await Reactor.create({ maxConnections: 64, fdLimit: 96, poolChunks: 64, chunkSize: 16_384, timers: 16, wait: "thread", ...(opts.reactorOptions ?? {}) });
  let listener: Listener, ep: MetricsEndpoint;
  try {
    // Half its slots: one connection past that closes the longest-waiting one (host/ops/http.ts,
    // 6.), so idle connections cannot hold every slot and keep scrapes and /healthz in the
    // backlog until the idle timeout. Half, not more: a burst is accepted up to the descriptor
    // budget (64) in one turn before the evicted ones are closed, and accepting resumes only
    // fdHysteresis (16) below the budget, so the connections kept must stay below 48.
    const slots = typeof opts.reactorOptions?.maxConnections === "number" ? opts.reactorOptions.maxConnections : 64;
    ep = metricsHandlers(r, source, { maxConnections: Math.max(1, Math.floor(slots / 2)), ...opts });
    listener = r.listen({ port, host, backlog: 128 }, ep.handlers);
  } catch (err) { await r.close({ drainMs: 0 }); throw err; }
  const running = r.run();
  let closing: Promise<void> | undefined;
  return {
    get handlers() { return ep.handlers; },
    get ready() { return ep.ready; },
    set ready(v: boolean) { ep.ready = v; },
    json: () => ep.json(), text: () => ep.text(),
    closeConnections: () => ep.closeConnections(),
    port: listener.port, host, listener,
    close() {
      closing ??= (async () => { ep.closeConnections(); await r.close({ drainMs: 100 }); await running; })();
      return closing;
    },
  };
}
