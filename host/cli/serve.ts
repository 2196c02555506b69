// `wasm-reactor serve`: the echo server on real sockets (what `npm start` runs).
//
// By default the reactor runs in a worker thread that blocks in epoll_wait (worker mode, the
// fast path, through the library's startWorkers(): host/reactor/worker.ts) while the main thread
// handles signals, prints the status and wakes it to drain; `--mode main` runs it on the main
// thread without ever blocking it (the poller-thread wait). Its reactor options are the "echo"
// preset (host/options.ts) plus the flags below. `--backend` picks the host (default auto: the
// registry's choice, host/backends/registry.ts), made once on this thread first so that one
// that cannot run here fails with one line before any thread starts; `--backend sim` keeps the
// simulated network with simulated ping-pong clients, to watch the core without sockets.
import { Reactor, type Handlers, type CloseReport } from "../reactor/reactor.ts";
import { startWorkers, warmUp, workerCores, type WorkerContext } from "../reactor/worker.ts";
import type { ReactorOptions } from "../options.ts";
import type { SimPeer } from "../backends/sim/sim.ts";
import { createHost, nativeKind } from "../backends/registry.ts";
import { resolveOptions } from "../options.ts";
import type { HostKind } from "../contract/contract.ts";
import type { Core } from "../core/core.ts";
import { histogramCounts, metricsSnapshot, percentilesOf, type MetricsSnapshot } from "../core/metrics.ts";
import { K } from "../core/layout.ts";
import { serveMetrics, type MetricsServer, type MetricsSource } from "../ops/metrics-endpoint.ts";
import { PROXY_MODES, type ProxyProtocolMode } from "../reactor/proxy.ts";
import { Tuner } from "../ops/tuning.ts";
import { adminHandler, checkAdminToken } from "../ops/admin.ts";
import { GroupTuner, workerTuning } from "../ops/group-tuning.ts";
import { readFileSync } from "node:fs";
import { fail, fmt, requireDeno, DIST_DIR, SHIM_FILE, type DenoNeed } from "./common.ts";

export const SERVE_HELP = `wasm-reactor serve — an echo server on the reactor

Listens on real sockets (--backend), echoes every byte back, prints one status line a second:
connections, descriptors used of the budget, messages (reads) per second, and the p99 of the
loop's turn time over that second. Ctrl-C (SIGINT) or SIGTERM stops accepting, lets
connections finish within --drain-ms, closes the rest, and prints a report.

Options:
  --host ADDR          address to listen on (default 127.0.0.1; 0.0.0.0 or :: for all)
  --port N             port (default 7070; 0 picks a free one, printed at start)
  --backlog N          listen backlog (default 4096; clamped to net.core.somaxconn)
  --mode MODE          worker (default): the reactor blocks in epoll_wait on a worker thread;
                       main: it shares the main thread and never blocks it
  --workers N          N reactors on N worker threads, one port (SO_REUSEPORT: the kernel
                       spreads connections); one per core is the usual choice (default 1)
  --reuse-port         share the port with other processes that listen on it with
                       SO_REUSEPORT (other serve processes given --reuse-port): past one
                       process's descriptor limit, see docs/scaling.md. Without it, a port
                       in use is refused (exit 2)
  --cpus LIST|auto     pin worker i's thread to one CPU of LIST (e.g. 0,1 or 0-3; worker i
                       takes the (i mod length)-th), or with auto to the CPUs this process may
                       use, round robin (worker mode; Linux and FreeBSD)
  --level              level-triggered epoll (on epoll the default is edge-triggered, which
                       keeps tail latency flat at 10,000 busy connections: docs/benchmarks.md)
  --edge               edge-triggered epoll (the default on epoll). With --backend auto, either
                       one picks epoll: io_uring works on completions and has no trigger mode
  --max-connections N  connection slots per reactor (default 20000; 96 bytes each)
  --prefault           touch every page of the pool at start: its 32 MiB are resident from the
                       first second instead of as they are used (see the echo preset's reason
                       in host/options.ts)
  --warmup N           before announcing itself, echo N 64-byte messages through its own
                       listener so the JIT has compiled the hot path (default 4000; 0: off;
                       worker mode)
  --idle-timeout-ms N  close connections idle this long (default 0: never)
  --keepalive IDLE[,INTERVAL,COUNT]
                       TCP keepalive on every connection: first probe after IDLE s of
                       silence, then every INTERVAL s, COUNT unanswered probes end it
                       (default off; INTERVAL and COUNT default 10 and 6): docs/limits.md
  --user-timeout-ms N  TCP_USER_TIMEOUT (Linux): unacknowledged data this old ends the
                       connection (default 0: the kernel's ~15 min of retransmits)
  --rcvbuf N           SO_RCVBUF of the listener, inherited by accepted sockets (bytes;
                       default: the kernel's autotuning). The kernel memory per connection
                       is what bounds a million idle ones: docs/limits.md
  --sndbuf N           SO_SNDBUF likewise
  --defer-accept S     TCP_DEFER_ACCEPT (Linux): accept a connection only once the client has
                       sent bytes, waiting up to S s (echo clients speak first)
  --no-raise-fd-limit  keep RLIMIT_NOFILE's soft limit as it is (default: raise it to the
                       hard limit at start, with one line saying so)
  --proxy-protocol V   expect a PROXY protocol header (v1, v2 or any) on every connection, as
                       HAProxy's send-proxy/send-proxy-v2 or AWS NLB send it: the real client
                       address survives the balancer. Only behind one: anyone who reaches the
                       port can claim any address (docs/load-balancers.md)
  --drain-ms N         how long shutdown waits for connections to finish (default 2000)
  --metrics-port N     serve /metrics (Prometheus text), /metrics.json, /healthz and /readyz on
                       this port (default: off; 0 picks a free one, printed at start). On
                       SIGTERM/SIGINT /readyz turns 503 before accepting stops, and the
                       endpoint answers until the drain ends (docs/metrics.md)
  --metrics-host ADDR  address for --metrics-port (default 127.0.0.1)
  --unready-ms N       with --metrics-port: on SIGTERM/SIGINT, report not ready (/readyz 503)
                       and keep accepting for N ms before the drain starts, so a load balancer
                       polling /readyz stops sending first (default 0; set it to the balancer's
                       health-check interval times its unhealthy threshold). A second signal
                       skips the wait
  --admin              serve the guarded live-tuning routes (/admin/settings, /admin/tune,
                       /admin/rollback) on the --metrics-port endpoint (default off; needs
                       --metrics-port): loopback peers only, unless a token is set. With
                       workers, each worker tunes its own reactor; one rollback rolls back
                       all (docs/tuning.md)
  --admin-token-file FILE
                       every admin request must carry \`Authorization: Bearer <token>\`, the
                       token being FILE's content (at least 16 characters); remote peers are
                       then let in. In a file, not on the command line, where \`ps\` shows it;
                       WASM_REACTOR_ADMIN_TOKEN in the environment is the alternative
  --seconds N          stop by itself after N seconds (default 0: run until a signal)
  --status-ms N        status line interval (default 1000; 0: none)
  --record FILE        write a trace of everything the core sees (wasm-reactor replay FILE runs
                       it again; with --workers N, FILE.0 … FILE.N-1)
  --json               print the final report as JSON
  --backend NAME       auto (default: WASM_REACTOR_HOST if set, else this OS's native host,
                       else portable, with a line saying why), epoll (Linux), uring
                       (Linux 6.1+: io_uring; a kernel or container that forbids it exits 2
                       saying why), kqueue (macOS,
                       FreeBSD), portable (the runtime's own sockets; main-thread mode only),
                       or sim (a simulated network with simulated clients; then
                       --connections N, --message-bytes N and --seed N apply). The banner names
                       the one used; one that cannot run here exits 2 saying why
  -h, --help           this text

Exit status: 0 after a clean shutdown, 1 if descriptors leaked, 2 on a bad option or when the
port cannot be listened on (in use, not permitted), with one line saying why.
`;

export interface ServeArgs {
  backend: string; host: string; port: number; backlog: number; mode: "worker" | "main"; workers: number; edge: boolean; prefault: boolean; maxConnections: number; warmup: number; record: string;
  /** --edge or --level was given: a trigger mode, which only the readiness hosts (epoll, kqueue) have */
  triggerAsked?: boolean;
  reusePort: boolean; cpus?: number[] | "auto"; proxyProtocol?: ProxyProtocolMode; metricsPort: number; metricsHost: string;
  admin: boolean; adminTokenFile: string; adminToken?: string;
  raiseFdLimit: boolean; keepAlive: { idleS: number; intervalS: number; count: number } | false; userTimeoutMs: number; rcvbuf: number; sndbuf: number; deferAcceptS: number;
  connections: number; messageBytes: number; seconds: number; seed: number; idleTimeoutMs: number; drainMs: number; statusMs: number; json: boolean; unreadyMs: number;
}

/** What --backend takes: the host kinds that can serve, and auto. */
const BACKENDS: readonly string[] = ["auto", "epoll", "uring", "kqueue", "portable", "sim"];

function parseServe(argv: string[]): ServeArgs {
  const a: ServeArgs = { backend: "auto", host: "127.0.0.1", port: 7070, backlog: 4096, mode: "worker", workers: 1, edge: true, prefault: false, maxConnections: 20_000, warmup: 4000, record: "", reusePort: false, metricsPort: -1, metricsHost: "127.0.0.1", admin: false, adminTokenFile: "",
    raiseFdLimit: true, keepAlive: false, userTimeoutMs: 0, rcvbuf: 0, sndbuf: 0, deferAcceptS: 0,
    connections: 1000, messageBytes: 64, seconds: 0, seed: 1, idleTimeoutMs: 0, drainMs: 2000, statusMs: 1000, json: false, unreadyMs: 0 };
  let edgeAsked = false;
  const ints: Record<string, [keyof ServeArgs, number, number]> = {
    "--port": ["port", 0, 65535], "--backlog": ["backlog", 1, 65535], "--workers": ["workers", 1, 64], "--warmup": ["warmup", 0, 1_000_000], "--max-connections": ["maxConnections", 1, 4_000_000],
    "--connections": ["connections", 1, 1_000_000], "--message-bytes": ["messageBytes", 1, 1 << 20],
    "--seconds": ["seconds", 0, 1e9], "--seed": ["seed", 0, 0xffffffff], "--idle-timeout-ms": ["idleTimeoutMs", 0, 0x7fffffff],
    "--drain-ms": ["drainMs", 0, 0x7fffffff], "--unready-ms": ["unreadyMs", 0, 3_600_000], "--metrics-port": ["metricsPort", 0, 65535], "--status-ms": ["statusMs", 0, 3_600_000],
    "--user-timeout-ms": ["userTimeoutMs", 0, 0x7fffffff], "--rcvbuf": ["rcvbuf", 1024, 1 << 30], "--sndbuf": ["sndbuf", 1024, 1 << 30], "--defer-accept": ["deferAcceptS", 0, 3600],
  };
  const value = (i: number, what: string) => argv[i] ?? fail(`serve: ${argv[i - 1]} needs ${what}`);
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    if (arg === "-h" || arg === "--help") { process.stdout.write(SERVE_HELP); process.exit(0); }
    if (arg === "--json") { a.json = true; continue; }
    if (arg === "--edge") { a.edge = true; edgeAsked = true; a.triggerAsked = true; continue; }
    if (arg === "--level") { a.edge = false; a.triggerAsked = true; continue; }
    if (arg === "--prefault") { a.prefault = true; continue; }
    if (arg === "--reuse-port") { a.reusePort = true; continue; }
    if (arg === "--no-raise-fd-limit") { a.raiseFdLimit = false; continue; }
    if (arg === "--admin") { a.admin = true; continue; }
    if (arg === "--admin-token-file") { a.adminTokenFile = value(++i, "a file holding the admin token"); continue; }
    if (arg === "--keepalive") { a.keepAlive = parseKeepAlive(value(++i, "IDLE[,INTERVAL,COUNT] in seconds (e.g. 60 or 60,10,6)")); continue; }
    if (arg === "--cpus") { a.cpus = parseCpus(value(++i, "a CPU list (e.g. 0,1 or 0-3) or auto")); continue; }
    if (arg === "--backend") { a.backend = value(++i, `a value (${BACKENDS.join(", ")})`); if (!BACKENDS.includes(a.backend)) fail(`serve: --backend must be ${BACKENDS.join(", ")}, got ${JSON.stringify(a.backend)}`); continue; }
    if (arg === "--mode") { const m = value(++i, "a value (worker or main)"); if (m !== "worker" && m !== "main") fail(`serve: --mode must be worker or main, got ${JSON.stringify(m)}`); a.mode = m; continue; }
    if (arg === "--host") { a.host = value(++i, "an address"); continue; }
    if (arg === "--metrics-host") { a.metricsHost = value(++i, "an address"); continue; }
    if (arg === "--proxy-protocol") { const v = value(++i, "a version (v1, v2 or any)"); if (!PROXY_MODES.includes(v as ProxyProtocolMode)) fail(`serve: --proxy-protocol must be v1, v2 or any, got ${JSON.stringify(v)}`); a.proxyProtocol = v as ProxyProtocolMode; continue; }
    if (arg === "--record") { a.record = value(++i, "a file name"); continue; }
    const spec = ints[arg];
    if (!spec) fail(`serve: unknown option '${arg}' (see wasm-reactor serve --help)`);
    const raw = argv[++i];
    const v = Number(raw);
    if (raw === undefined || !Number.isInteger(v) || v < spec[1] || v > spec[2]) fail(`serve: ${arg} must be an integer from ${spec[1]} to ${spec[2]}, got ${raw === undefined ? "nothing" : JSON.stringify(raw)}`);
    (a as unknown as Record<string, number>)[spec[0]] = v;
  }
  if (a.backend === "uring") {
    // completions, not readiness: serve's default (edge) does not apply; asking for it is a mistake
    if (edgeAsked) fail("serve: --edge is for the readiness backends (epoll, kqueue); --backend uring works on completions: leave --edge out");
    a.edge = false;
  }
  if (a.proxyProtocol && a.backend === "sim") fail("serve: --proxy-protocol needs real sockets: the simulated clients of --backend sim send no PROXY header");
  if (a.mode === "main" && a.workers > 1) fail("serve: --workers needs worker mode (drop --mode main)");
  if (a.adminTokenFile && !a.admin) fail("serve: --admin-token-file needs --admin (the admin endpoint is off without it)");
  if (a.unreadyMs > 0 && a.metricsPort < 0) fail("serve: --unready-ms needs --metrics-port N: it is how long /readyz reports 503 before accepting stops");
  if (a.admin && a.metricsPort < 0) fail("serve: --admin needs --metrics-port N: the admin routes are served on the metrics endpoint's port");
  if (a.mode === "main" && a.cpus) fail("serve: --cpus pins worker threads: it needs worker mode (drop --mode main, or pin the process with taskset)");
  return a;
}

/** --keepalive IDLE[,INTERVAL,COUNT]: seconds, seconds, probes (Linux's bounds: host/options.ts). */
function parseKeepAlive(v: string): { idleS: number; intervalS: number; count: number } {
  const parts = v.split(",");
  const n = parts.map((x) => (/^\d+$/.test(x.trim()) ? Number(x) : NaN));
  const max = [32767, 32767, 127];
  if (parts.length < 1 || parts.length > 3 || n.some((x, i) => !(x >= 1 && x <= max[i]))) fail(`serve: --keepalive must be IDLE[,INTERVAL,COUNT]: integers (seconds from 1 to 32767, seconds from 1 to 32767, probes from 1 to 127), e.g. 60 or 60,10,6; got ${JSON.stringify(v)}`);
  return { idleS: n[0], intervalS: n[1] ?? 10, count: n[2] ?? 6 };
}

/** --cpus: "auto", or a list of CPU numbers and ranges as Linux prints them ("0,2-3"). */
function parseCpus(v: string): number[] | "auto" {
  if (v === "auto") return v;
  const out: number[] = [];
  for (const part of v.split(",")) {
    const m = /^(\d+)(?:-(\d+))?$/.exec(part.trim());
    const lo = m ? Number(m[1]) : NaN, hi = m?.[2] !== undefined ? Number(m[2]) : lo;
    if (!m || hi < lo || hi > 1023) fail(`serve: --cpus must be auto or a list of CPU numbers and ranges from 0 to 1023 such as 0,1 or 0-3, got ${JSON.stringify(v)}`);
    for (let c = lo; c <= hi; c++) out.push(c);
  }
  return out;
}


/** What serve reports at the end: what happened after it announced itself (warm-up not included). */
interface ServeReport { seconds: number; messages: number; msgsPerSecond: number; graceful: number; aborted: number; leakedDescriptors: number; accepts: number; fdOpens: number; fdCloses: number; proxyHeaders: number; proxyHeaderErrors: number; host?: Record<string, number> }
/** Counters at the moment serve announced itself (after the warm-up), subtracted from the final ones. */
interface Baseline { reads: number; accepts: number; fdOpens: number; fdCloses: number }
const baselineOf = (m: MetricsSnapshot): Baseline => ({ reads: m.reads, accepts: m.accepts, fdOpens: m.fdOpens, fdCloses: m.fdCloses });

/** The reactor options serve runs with: the echo preset (host/options.ts says why each) plus its flags. */
function reactorOptions(a: ServeArgs): ReactorOptions {
  return {
    preset: "echo", host: a.backend as HostKind, edgeTriggered: a.edge, prefaultPool: a.prefault, maxConnections: a.maxConnections, idleTimeoutMs: a.idleTimeoutMs, timers: 16,
    raiseFdLimit: a.raiseFdLimit, keepAlive: a.keepAlive, userTimeoutMs: a.userTimeoutMs,
    ...(a.record ? { record: { path: a.record } } : {}),
  };
}

const echo: Handlers = { data(c, d) { if (c.writable) c.write(d); } };
/** --rcvbuf, --sndbuf, --defer-accept as ListenOptions (0: not given, the kernel's default). */
const listenSockopts = (a: ServeArgs) => ({ recvBufferBytes: a.rcvbuf, sendBufferBytes: a.sndbuf, deferAcceptS: a.deferAcceptS });
const proxyOf = (a: ServeArgs): { proxyProtocol?: ProxyProtocolMode } => (a.proxyProtocol ? { proxyProtocol: a.proxyProtocol } : {});

/**
 * In each worker (startWorkers imports this bundle and calls this): warm up on a private
 * listener, take the baseline, then listen (worker 0 picks the port; the others join it).
 */
export function serveSetup(r: Reactor, ctx: WorkerContext): { port: number; base: Baseline } {
  const a = ctx.data as ServeArgs;
  warmUp(r, a.warmup, echo);
  if (a.admin) workerTuning(r, ctx); // this worker's own Tuner, driven by the main thread's GroupTuner
  const base = baselineOf(r.metrics());
  const port = ctx.index === 0 ? a.port : (ctx.first as { port: number }).port;
  const l = r.listen({ host: a.host, port, backlog: a.backlog, reusePort: ctx.workers > 1 || a.reusePort, ...listenSockopts(a), ...proxyOf(a) }, echo);
  return { port: l.port, base };
}

/**
 * Status lines, computed on the main thread: in worker mode from the workers' shared memory
 * (nothing runs on their threads, so the turn times it reports are not its own), in main mode
 * from a plain interval between turns (the first turn, its cold start, is before the first
 * interval). Turn p99 is over the last interval's turns; with fewer than 100 of them it is the
 * slowest one's, and "idle" with none (a worker with nothing to do waits up to 250 ms per turn: drive.ts).
 */
function statusMeter(cores: () => Core[], statusMs: number): { stop(): void } {
  if (statusMs <= 0) return { stop() {} };
  const t0 = Date.now();
  const histOf = () => cores().map((c) => histogramCounts(c, K.HIST_TURN_US));
  const readsOf = () => cores().reduce((s, c) => s + metricsSnapshot(c).reads, 0);
  let last = { t: t0, reads: readsOf(), hist: histOf() };
  const timer = setInterval(() => {
    const now = Date.now();
    const ms = cores().map((c) => metricsSnapshot(c));
    const hist = histOf();
    const window = new Uint32Array(K.HIST_BUCKETS);
    hist.forEach((h, w) => h.forEach((v, i) => { window[i] += v - last.hist[w][i]; }));
    const p = percentilesOf(window);
    const reads = ms.reduce((s, m) => s + m.reads, 0);
    const sum = (f: (m: MetricsSnapshot) => number) => ms.reduce((s, m) => s + f(m), 0);
    const p99 = p.count === 0 ? "— (idle)" : `${p.count >= 100 ? p.p99 : p.max} µs`;
    console.log(`[${((now - t0) / 1000).toFixed(0).padStart(4)} s] connections ${fmt(sum((m) => m.connections))} | descriptors ${fmt(sum((m) => m.fdsOpen))}/${fmt(sum((m) => m.fdBudget))} | ${fmt(((reads - last.reads) * 1000) / Math.max(1, now - last.t))} msgs/s | turn p99 ${p99} | pool free ${sum((m) => m.poolFree)}`);
    last = { t: now, reads, hist };
  }, statusMs);
  return { stop() { clearInterval(timer); } };
}

function reportOf(a: { t0: number; finals: { report: CloseReport; metrics: MetricsSnapshot; base: Baseline }[] }): ServeReport {
  const secs = (Date.now() - a.t0) / 1000;
  const out: ServeReport = { seconds: +secs.toFixed(2), messages: 0, msgsPerSecond: 0, graceful: 0, aborted: 0, leakedDescriptors: 0, accepts: 0, fdOpens: 0, fdCloses: 0, proxyHeaders: 0, proxyHeaderErrors: 0 };
  for (const { report: r, metrics: m, base: b } of a.finals) {
    out.messages += m.reads - b.reads; out.accepts += m.accepts - b.accepts;
    out.fdOpens += m.fdOpens - b.fdOpens; out.fdCloses += m.fdCloses - b.fdCloses;
    out.graceful += r.graceful; out.aborted += r.aborted; out.leakedDescriptors += r.leakedDescriptors;
    out.proxyHeaders += m.proxyHeaders; out.proxyHeaderErrors += m.proxyHeaderErrors; // the warm-up sends none
  }
  out.msgsPerSecond = Math.round(out.messages / secs);
  if (a.finals.length === 1) out.host = a.finals[0].metrics.host;
  return out;
}

function printReport(a: ServeArgs, rep: ServeReport): never {
  if (a.json) console.log(JSON.stringify(rep));
  else console.log(`wasm-reactor serve: stopped after ${rep.seconds} s: ${fmt(rep.messages)} messages (${fmt(rep.msgsPerSecond)}/s), ${fmt(rep.accepts)} connections accepted; ${rep.graceful} closed gracefully, ${rep.aborted} aborted; descriptors opened ${rep.fdOpens}, closed ${rep.fdCloses}, leaked ${rep.leakedDescriptors}${a.proxyProtocol ? `; PROXY headers ${fmt(rep.proxyHeaders)} accepted, ${fmt(rep.proxyHeaderErrors)} refused` : ""}`);
  process.exit(rep.leakedDescriptors ? 1 : 0);
}

function banner(a: ServeArgs, port: number, budget: number, pinned = ""): void {
  console.log(`listening on ${a.host}:${port}`);
  const how = a.mode === "main" ? "main-thread mode" : a.workers > 1 ? `${a.workers} workers sharing the port (SO_REUSEPORT)` : "worker mode";
  console.log(`wasm-reactor serve: echo on ${a.host}:${port} (${a.backend}${a.backend === "portable" ? "" : a.backend === "uring" ? ", io_uring completions" : `, ${a.edge ? "edge" : "level"}-triggered`}, ${how}); backlog ${a.backlog}, ${fmt(a.maxConnections * a.workers)} connection slots, descriptor budget ${fmt(budget)}; drain ${a.drainMs} ms${a.reusePort ? "; port shared with other processes (SO_REUSEPORT)" : ""}${a.proxyProtocol ? `; PROXY protocol ${a.proxyProtocol} expected` : ""}${pinned}; Ctrl-C to stop`);
}

export async function serve(argv: string[]): Promise<void> {
  const a = parseServe(argv);
  requireDeno("serve", denoNeeds(a));
  if (a.admin) a.adminToken = adminToken(a);
  // auto with --edge/--level: the user chose a trigger mode, so a readiness host (epoll on Linux)
  if (a.backend === "auto" && a.triggerAsked) a.backend = nativeKind() ?? "auto";
  a.backend = backendKind(a);
  if (a.backend === "uring") a.edge = false; // completions: no trigger mode
  if (a.backend === "sim") return serveSim(a);
  if (a.backend === "portable") {
    // Its sockets live on the runtime's event loop, which a worker blocked in its wait never runs.
    if (a.workers > 1) fail("serve: --workers needs a native backend (epoll, kqueue): the portable host runs on the main thread");
    if (a.cpus) fail("serve: --cpus pins worker threads: it needs a native backend (epoll, kqueue); the portable host runs on the main thread");
    a.mode = "main";
  }
  return a.mode === "main" ? serveMain(a) : serveWorkers(a);
}

/**
 * The host serve runs on: --backend, or for auto the registry's choice (with its line saying why
 * when that is the portable host). The host is made once here and closed, so a backend that
 * cannot run here (ERR_HOST_UNAVAILABLE: no shim, another OS, Deno without --allow-ffi) fails
 * with its one line before any thread starts; the reactors then ask for this kind by name.
 */
function backendKind(a: ServeArgs): HostKind {
  if (a.backend === "sim") return "sim";
  const host = createHost(resolveOptions({ host: a.backend as HostKind | "auto", edgeTriggered: a.edge }), (line) => console.error(line));
  try { host.close(); } catch { /* never attached: nothing of ours to leak */ }
  return host.kind;
}

/** What Deno must grant serve (requireDeno): the cores, the shim or the sockets, the trace file. */
function denoNeeds(a: ServeArgs): DenoNeed[] {
  const needs: DenoNeed[] = [{ name: "read", path: DIST_DIR, why: "the core" }];
  const shim = { name: "ffi", path: SHIM_FILE, why: "the native shim" } as const;
  const sockets = { name: "net", why: "the portable host's sockets" } as const;
  if (a.backend === "epoll" || a.backend === "uring" || a.backend === "kqueue") needs.push(shim);
  else if (a.backend === "portable") needs.push(sockets);
  else if (a.backend === "auto") needs.push({ anyOf: [shim, sockets] });
  const files = !a.record ? [] : a.workers > 1 ? Array.from({ length: a.workers }, (_, i) => `${a.record}.${i}`) : [a.record];
  for (const path of files) needs.push({ name: "write", path, why: "--record" });
  if (a.adminTokenFile) needs.push({ name: "read", path: a.adminTokenFile, why: "--admin-token-file" });
  else if (a.admin) needs.push({ name: "env", why: "--admin reads WASM_REACTOR_ADMIN_TOKEN" });
  return needs;
}

/**
 * Worker mode (the default): startWorkers() runs serveSetup on each worker, whose reactor
 * blocks in epoll_wait; this thread prints the status from their shared memory, and on
 * SIGINT/SIGTERM (or --seconds) closes the group: each worker drains within --drain-ms.
 */
async function serveWorkers(a: ServeArgs): Promise<void> {
  let tuner: GroupTuner | undefined;
  const group = await startWorkers({
    ...(a.admin ? { onMessage: (m: unknown, i: number) => tuner?.onMessage(m, i) } : {}),
    module: new URL(import.meta.url), export: "serveSetup", workers: a.workers, data: a,
    // With --metrics-port this thread handles the signals itself: /readyz must turn 503 before
    // the workers stop accepting (a load balancer polling it stops sending first).
    options: reactorOptions(a), signals: a.metricsPort < 0, drainMs: a.drainMs, ...(a.cpus ? { cpus: a.cpus } : {}),
  });
  const values = group.workers.map((w) => w.value as { port: number; base: Baseline });
  const t0 = Date.now();
  const pinned = a.cpus ? `; threads on CPUs ${group.workers.map((w) => w.cpus?.join("+") ?? "?").join(", ")}` : "";
  const signals = a.metricsPort >= 0 ? earlySignals() : undefined; // else startWorkers handles them
  banner(a, values[0].port, group.workers.reduce((s, w) => s + w.fdBudget, 0), pinned);
  if (a.admin) tuner = new GroupTuner(group);
  const metrics = await startMetrics(a, group, () => group.close({ drainMs: 0 }), tuner);
  const meter = statusMeter(() => workerCores(group), a.statusMs);
  const stop = unreadyThen(a, metrics, () => { meter.stop(); void group.close({ drainMs: a.drainMs }).catch(() => {}); });
  if (signals) signals.then(stop);
  else for (const sig of ["SIGINT", "SIGTERM"]) process.once(sig, () => meter.stop()); // startWorkers closes the group on them
  if (a.seconds > 0) setTimeout(stop, a.seconds * 1000);
  let rep;
  try { rep = await group.closed; }
  catch (err) { meter.stop(); console.error((err as Error).message); process.exit(1); }
  meter.stop();
  await metrics?.close();
  printReport(a, reportOf({ t0, finals: rep.workers.map((w) => ({ report: w, metrics: w.metrics, base: values[w.index].base })) }));
}

/**
 * The shutdown order behind a load balancer: not ready first (/readyz 503), then, after
 * --unready-ms (while still accepting: the balancer has not noticed yet), stop accepting and
 * drain. A second call (a second signal, or --seconds) while waiting starts the drain at once.
 */
function unreadyThen(a: ServeArgs, metrics: { ready: boolean } | undefined, drain: () => void): () => void {
  let state: "up" | "waiting" | "draining" = "up";
  let timer: ReturnType<typeof setTimeout> | undefined;
  const go = () => { if (state === "draining") return; state = "draining"; if (timer) clearTimeout(timer); drain(); };
  return () => {
    if (metrics) metrics.ready = false;
    if (state === "up" && metrics && a.unreadyMs > 0) {
      state = "waiting";
      console.log(`wasm-reactor serve: not ready (/readyz 503); still accepting for ${a.unreadyMs} ms, then draining (a second signal drains now)`);
      timer = setTimeout(go, a.unreadyMs);
      return;
    }
    go();
  };
}

/**
 * SIGINT/SIGTERM handled from before the lines a supervisor (or a test) waits for ("listening
 * on", "metrics on"): a signal that comes while the rest starts is kept, and acted on once `then`
 * names the stop. Before, main mode registered its handlers only after its first turn, and a
 * SIGTERM sent on seeing those lines killed the process undrained, Node's default (a loaded
 * `.ci/run`: tests/net/metrics.test.ts's GET right after the SIGTERM found the port closed).
 */
function earlySignals(): { then(stop: () => void): void } {
  let stop: (() => void) | undefined;
  let pending = 0;
  const on = () => { if (stop) stop(); else pending++; };
  process.on("SIGINT", on);
  process.on("SIGTERM", on);
  return { then(s) { stop = s; for (; pending > 0; pending--) s(); } };
}

/** Main-thread mode: the reactor shares this thread and never blocks it (the poller-thread wait). */
async function serveMain(a: ServeArgs): Promise<void> {
  const r = await Reactor.create({ ...reactorOptions(a), wait: "thread" });
  const base = baselineOf(r.metrics());
  let l;
  try { l = r.listen({ host: a.host, port: a.port, backlog: a.backlog, reusePort: a.reusePort, ...listenSockopts(a), ...proxyOf(a) }, echo); }
  catch (err) { await r.close({ drainMs: 0 }); throw err; }
  const t0 = Date.now();
  const signals = earlySignals();
  banner(a, l.port, r.metrics().fdBudget);
  const metrics = await startMetrics(a, r, () => r.close({ drainMs: 0 }));
  // run() makes the first turn before it returns: its cold start (listen, first JIT) stays out of the first status line.
  const running = r.run();
  const meter = statusMeter(() => [r.core], a.statusMs);
  let closing: Promise<CloseReport> | undefined;
  // Not ready first (/readyz 503), then stop accepting and drain; the endpoint answers throughout.
  const stop = unreadyThen(a, metrics, () => { meter.stop(); closing ??= r.close({ drainMs: a.drainMs }); });
  signals.then(stop);
  if (a.seconds > 0) setTimeout(stop, a.seconds * 1000);
  await running;
  const report = await closing!;
  meter.stop();
  await metrics?.close();
  printReport(a, reportOf({ t0, finals: [{ report, metrics: r.metrics(), base }] }));
}

/**
 * --metrics-port: the endpoint on its own small reactor on this thread (host/ops/metrics-endpoint.ts
 * says why), on the same backend as the echo (the simulator's endpoint takes real sockets: auto).
 * A port it cannot listen on exits 2 like serve's own, after closing what already runs.
 */
async function startMetrics(a: ServeArgs, source: MetricsSource, closeServer: () => Promise<unknown>, group?: GroupTuner): Promise<MetricsServer | undefined> {
  if (a.metricsPort < 0) return undefined;
  let m: MetricsServer;
  let tuner: Tuner | undefined;
  try {
    // --admin: in main (and sim) mode one Tuner on the one reactor: the handler runs in a turn of
    // the endpoint's own reactor, between two turns of the echo's (same thread), so a change is
    // written at once. In worker mode the GroupTuner, which forwards to each worker's own Tuner.
    let admin = {};
    if (a.admin) {
      if (!group && !(source instanceof Reactor)) throw new Error("--admin needs one reactor on this thread, or a GroupTuner");
      if (!group) tuner = new Tuner(source as Reactor);
      const route = adminHandler(group ?? tuner!, a.adminToken === undefined ? {} : { token: a.adminToken });
      admin = { mount: { prefix: "/admin/", route }, methods: ["GET", "HEAD", "POST"], maxBodyBytes: 64 * 1024 };
    }
    m = await serveMetrics(source, { port: a.metricsPort, host: a.metricsHost, reactorOptions: { host: a.backend === "sim" ? "auto" : a.backend as HostKind }, ...admin });
  } catch (err) { tuner?.close(); await closeServer().catch(() => {}); fail(`serve: --metrics-port: ${(err as Error).message.replace(/^wasm-reactor: /, "")}`); } // the message names the address: "cannot listen on HOST:PORT: EADDRINUSE (...)"
  const at = a.metricsHost.includes(":") ? `[${a.metricsHost}]` : a.metricsHost;
  console.log(`metrics on http://${at}:${m.port}/metrics (also /metrics.json, /healthz, /readyz)`);
  if (a.admin) console.log(`admin on http://${at}:${m.port}/admin/settings (also /admin/tune, /admin/rollback; ${a.adminToken === undefined ? "loopback peers only" : "Bearer token required"})`);
  return m;
}

/**
 * The admin token: --admin-token-file's content, else WASM_REACTOR_ADMIN_TOKEN, else none
 * (loopback only). Surrounding whitespace is dropped (the file's final newline). Checked now, so
 * a bad one exits 2 with one line before anything listens.
 */
function adminToken(a: ServeArgs): string | undefined {
  let token: string | undefined, from: string;
  if (a.adminTokenFile) {
    from = `--admin-token-file ${a.adminTokenFile}`;
    try { token = readFileSync(a.adminTokenFile, "utf8").trim(); }
    catch (err) { fail(`serve: cannot read ${from}: ${(err as Error).message}`); }
  } else {
    from = "WASM_REACTOR_ADMIN_TOKEN";
    const v = process.env.WASM_REACTOR_ADMIN_TOKEN;
    if (v === undefined || v === "") return undefined;
    token = v.trim();
  }
  try { checkAdminToken(token); }
  catch (err) { fail(`serve: ${from}: ${(err as Error).message.replace(/^wasm-reactor: /, "")}`); }
  return token;
}

async function serveSim(a: ServeArgs): Promise<void> {
  const r = await Reactor.create({
    host: "sim", seed: a.seed, maxConnections: a.connections + 16, idleTimeoutMs: a.idleTimeoutMs,
    poolChunks: Math.max(256, Math.min(65536, a.connections)), chunkSize: 4096,
    sim: { keepReceived: false }, // clients count what comes back; keeping it all would grow without bound
    pauseReadsAtHighWater: true,
  });
  const sim = r.sim!;
  // Data can still arrive after the reactor began to close (its FIN crosses the client's last
  // ping): only write while the connection is writable.
  const l = r.listen({ port: a.port || 7, backlog: 65535 }, { data(c, d) { if (c.writable) c.write(d); } });
  const m0 = r.metrics();
  const metrics = await startMetrics(a, r, () => r.close({ drainMs: 0 }));
  console.log(`wasm-reactor serve: echo on sim:${l.port} (backend sim, seed ${a.seed}), ${a.connections} simulated clients, ${a.messageBytes}-byte ping-pong; descriptor budget ${m0.fdBudget}; Ctrl-C to stop`);
  const ping = new Uint8Array(a.messageBytes).fill(0x2a);
  let msgs = 0, lastMsgs = 0;
  const peers: SimPeer[] = [];
  for (let i = 0; i < a.connections; i++) {
    const p = sim.connect(l.port);
    let got = 0;
    p.ondata = (b, peer) => { got += b.length; while (got >= a.messageBytes) { got -= a.messageBytes; msgs++; if (!stopping) peer.send(ping); } };
    p.send(ping);
    peers.push(p);
  }
  let stopping = false;
  const stop = () => { stopping = true; };
  process.on("SIGINT", stop);
  process.on("SIGTERM", stop);
  const t0 = Date.now();
  let lastStatus = t0, lastTurnCount = 0;
  while (!stopping) {
    const until = Date.now() + 20;
    while (Date.now() < until) for (let k = 0; k < 64; k++) r.step(0);
    const now = Date.now();
    if (now - lastStatus >= 1000) {
      const m = r.metrics();
      const rate = ((msgs - lastMsgs) * 1000) / (now - lastStatus);
      // The core times turns with its own clock, which in the simulator is virtual (a turn takes
      // no virtual time), so the wall-clock cost per turn is measured here instead.
      const turns = m.turns - lastTurnCount;
      const usPerTurn = turns ? ((now - lastStatus) * 1000) / turns : 0;
      console.log(`[${((now - t0) / 1000).toFixed(0).padStart(4)} s] connections ${m.connections} | descriptors ${m.fdsOpen}/${m.fdBudget} | ${fmt(rate)} msgs/s | ${fmt(turns)} turns/s, ${usPerTurn.toFixed(0)} µs each (wall) | pool free ${m.poolFree}`);
      lastMsgs = msgs; lastStatus = now; lastTurnCount = m.turns;
    }
    if (a.seconds && now - t0 >= a.seconds * 1000) stopping = true;
    await new Promise((res) => setTimeout(res, 0));
  }
  // Shutdown: clients finish their exchange and leave; the server drains and closes.
  if (metrics) metrics.ready = false;
  for (const p of peers) p.onend = (q) => { if (q.state === "open") q.end(); };
  const report = await r.close({ drainMs: a.drainMs });
  await metrics?.close();
  const m = r.metrics();
  const secs = (Date.now() - t0) / 1000;
  const summary = { messages: msgs, seconds: Number(secs.toFixed(2)), msgsPerSecond: Math.round(msgs / secs), ...report, accepts: m.accepts, fdOpens: m.fdOpens, fdCloses: m.fdCloses, simViolations: sim.violations.length };
  if (a.json) console.log(JSON.stringify(summary));
  else console.log(`wasm-reactor serve: stopped after ${summary.seconds} s: ${fmt(msgs)} messages (${fmt(summary.msgsPerSecond)}/s); ${report.graceful} connections closed gracefully, ${report.aborted} aborted; descriptors opened ${m.fdOpens}, closed ${m.fdCloses}, leaked ${report.leakedDescriptors}`);
  process.exit(report.leakedDescriptors || sim.violations.length ? 1 : 0);
}

