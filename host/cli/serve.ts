// `wasm-reactor serve`: the echo server on real sockets (what `npm start` runs).
//
// By default the reactor runs in a worker thread that blocks in epoll_wait (worker mode, the
// fast path) while the main thread handles signals and wakes it through the shim's eventfd to
// drain; `--mode main` runs it on the main thread without ever blocking it (the poller-thread
// wait). `--backend sim` keeps the simulated network with simulated ping-pong clients, to watch
// the core without sockets.
import { Reactor, type Handlers } from "../reactor/reactor.ts";
import { ReactorError } from "../errors.ts";
import type { SimPeer } from "../backends/sim/sim.ts";
import { loadNative } from "../backends/native.ts";
import type { EpollHost } from "../backends/epoll/epoll.ts";
import { histogramCounts, percentilesOf } from "../core/metrics.ts";
import { K } from "../core/layout.ts";
import { Worker, parentPort } from "node:worker_threads";
import { fail, fmt } from "./common.ts";

export const SERVE_HELP = `wasm-reactor serve — an echo server on the reactor

Listens on real sockets (epoll), echoes every byte back, prints one status line a second:
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
  --level              level-triggered epoll (default: edge-triggered, which keeps tail latency
                       flat at 10,000 busy connections: see docs/benchmarks.md)
  --edge               edge-triggered epoll (the default)
  --max-connections N  connection slots per reactor (default 20000; 96 bytes each)
  --warmup N           before announcing itself, echo N 64-byte messages through its own
                       listener so the JIT has compiled the hot path (default 4000; 0: off;
                       worker mode)
  --idle-timeout-ms N  close connections idle this long (default 0: never)
  --drain-ms N         how long shutdown waits for connections to finish (default 2000)
  --seconds N          stop by itself after N seconds (default 0: run until a signal)
  --status-ms N        status line interval (default 1000; 0: none)
  --record FILE        write a trace of everything the core sees (wasm-reactor replay FILE runs
                       it again; with --workers N, FILE.0 … FILE.N-1)
  --json               print the final report as JSON
  --backend NAME       epoll (default) or sim (a simulated network with simulated clients;
                       then --connections N, --message-bytes N and --seed N apply)
  -h, --help           this text

Exit status: 0 after a clean shutdown, 1 if descriptors leaked, 2 on a bad option or when the
port cannot be listened on (in use, not permitted), with one line saying why.
`;

export interface ServeArgs {
  backend: string; host: string; port: number; backlog: number; mode: "worker" | "main"; workers: number; edge: boolean; maxConnections: number; warmup: number; record: string;
  connections: number; messageBytes: number; seconds: number; seed: number; idleTimeoutMs: number; drainMs: number; statusMs: number; json: boolean;
}

function parseServe(argv: string[]): ServeArgs {
  const a: ServeArgs = { backend: "epoll", host: "127.0.0.1", port: 7070, backlog: 4096, mode: "worker", workers: 1, edge: true, maxConnections: 20_000, warmup: 4000, record: "",
    connections: 1000, messageBytes: 64, seconds: 0, seed: 1, idleTimeoutMs: 0, drainMs: 2000, statusMs: 1000, json: false };
  const ints: Record<string, [keyof ServeArgs, number, number]> = {
    "--port": ["port", 0, 65535], "--backlog": ["backlog", 1, 65535], "--workers": ["workers", 1, 64], "--warmup": ["warmup", 0, 1_000_000], "--max-connections": ["maxConnections", 1, 4_000_000],
    "--connections": ["connections", 1, 1_000_000], "--message-bytes": ["messageBytes", 1, 1 << 20],
    "--seconds": ["seconds", 0, 1e9], "--seed": ["seed", 0, 0xffffffff], "--idle-timeout-ms": ["idleTimeoutMs", 0, 0x7fffffff],
    "--drain-ms": ["drainMs", 0, 0x7fffffff], "--status-ms": ["statusMs", 0, 3_600_000],
  };
  const value = (i: number, what: string) => argv[i] ?? fail(`serve: ${argv[i - 1]} needs ${what}`);
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    if (arg === "-h" || arg === "--help") { process.stdout.write(SERVE_HELP); process.exit(0); }
    if (arg === "--json") { a.json = true; continue; }
    if (arg === "--edge") { a.edge = true; continue; }
    if (arg === "--level") { a.edge = false; continue; }
    if (arg === "--backend") { a.backend = value(++i, "a value (epoll or sim)"); if (a.backend !== "sim" && a.backend !== "epoll") fail(`serve: --backend must be epoll or sim, got ${JSON.stringify(a.backend)}`); continue; }
    if (arg === "--mode") { const m = value(++i, "a value (worker or main)"); if (m !== "worker" && m !== "main") fail(`serve: --mode must be worker or main, got ${JSON.stringify(m)}`); a.mode = m; continue; }
    if (arg === "--host") { a.host = value(++i, "an address"); continue; }
    if (arg === "--record") { a.record = value(++i, "a file name"); continue; }
    const spec = ints[arg];
    if (!spec) fail(`serve: unknown option '${arg}' (see wasm-reactor serve --help)`);
    const raw = argv[++i];
    const v = Number(raw);
    if (raw === undefined || !Number.isInteger(v) || v < spec[1] || v > spec[2]) fail(`serve: ${arg} must be an integer from ${spec[1]} to ${spec[2]}, got ${raw === undefined ? "nothing" : JSON.stringify(raw)}`);
    (a as unknown as Record<string, number>)[spec[0]] = v;
  }
  if (a.mode === "main" && a.workers > 1) fail("serve: --workers needs worker mode (drop --mode main)");
  return a;
}


interface ServeReport { seconds: number; messages: number; msgsPerSecond: number; graceful: number; aborted: number; leakedDescriptors: number; accepts: number; fdOpens: number; fdCloses: number; host?: Record<string, number> }
/** One reactor's status over the last interval (summed over workers by the main thread). */
interface StatusSample { tick: number; seconds: number; connections: number; fdsOpen: number; fdBudget: number; rate: number; p99: number; poolFree: number }

function statusLine(s: StatusSample): string {
  return `[${s.seconds.toFixed(0).padStart(4)} s] connections ${fmt(s.connections)} | descriptors ${fmt(s.fdsOpen)}/${fmt(s.fdBudget)} | ${fmt(s.rate)} msgs/s | turn p99 ${s.p99} µs | pool free ${s.poolFree}`;
}

interface EchoHooks {
  onListening(port: number, budget: number, wakeFd: number): void;
  onStatus(s: StatusSample): void;
  stopSignal(stop: () => void): void;
}

/** The echo server on one reactor (main thread or worker); resolves with the report after a stop. */
async function runEcho(a: ServeArgs, hooks: EchoHooks, share: { fdLimit?: number; reusePort?: boolean; index?: number } = {}): Promise<ServeReport> {
  const r = await Reactor.create({
    host: "epoll", wait: a.mode === "worker" ? "block" : "thread", edgeTriggered: a.edge,
    maxConnections: a.maxConnections, idleTimeoutMs: a.idleTimeoutMs, timers: 16,
    // 32 MiB of pool, paid at start (prefault): memory does not creep as load comes, and a
    // turn reads up to 512 chunks (supply) before the next one refills it.
    poolChunks: 2048, chunkSize: 16384, supplyTarget: 512, prefaultPool: true,
    pauseReadsAtHighWater: true, // echo: what we read is what we queue; a peer that stops reading stops being read
    ...(share.fdLimit ? { fdLimit: share.fdLimit } : {}),
    ...(a.record ? { record: { path: a.workers > 1 ? `${a.record}.${share.index ?? 0}` : a.record } } : {}),
  });
  const echo: Handlers = { data(c, d) { if (c.writable) c.write(d); } };
  if (a.warmup > 0 && a.mode === "worker") warmUp(r, echo, a.warmup);
  let l;
  try { l = r.listen({ host: a.host, port: a.port, backlog: a.backlog, reusePort: share.reusePort === true }, echo); }
  catch (err) { await r.close({ drainMs: 0 }); throw err; }
  const base = r.metrics(); // what the warm-up did is not the clients'
  const t0 = Date.now();
  let stopped = false, ticks = 0;
  let last = { t: t0, reads: base.reads, hist: histogramCounts(r.core, K.HIST_TURN_US) };
  const status = () => {
    if (stopped) return;
    const now = Date.now();
    const m = r.metrics();
    const hist = histogramCounts(r.core, K.HIST_TURN_US);
    const p = percentilesOf(hist.map((v, i) => v - last.hist[i]));
    const rate = ((m.reads - last.reads) * 1000) / Math.max(1, now - last.t);
    hooks.onStatus({ tick: ++ticks, seconds: (now - t0) / 1000, connections: m.connections, fdsOpen: m.fdsOpen, fdBudget: m.fdBudget, rate, p99: p.p99, poolFree: m.poolFree });
    last = { t: now, reads: m.reads, hist };
  };
  const tick = () => { status(); if (!stopped) r.setTimeout(tick, a.statusMs); };
  if (a.statusMs > 0) r.setTimeout(tick, a.statusMs);
  if (a.seconds > 0) r.setTimeout(() => { void stop(); }, a.seconds * 1000);
  let closing: Promise<ServeReport> | undefined;
  const stop = () => {
    if (!closing) closing = (async () => {
      stopped = true;
      const before = r.metrics();
      const report = await r.close({ drainMs: a.drainMs });
      const secs = (Date.now() - t0) / 1000;
      const messages = before.reads - base.reads;
      return { seconds: +secs.toFixed(2), messages, msgsPerSecond: Math.round(messages / secs), ...report,
        accepts: before.accepts - base.accepts, fdOpens: r.metrics().fdOpens, fdCloses: r.metrics().fdCloses, host: r.metrics().host };
    })();
    return closing;
  };
  hooks.stopSignal(() => { void stop(); });
  hooks.onListening(l.port, r.metrics().fdBudget, (r.host as EpollHost).wakeHandle);
  await r.run();
  return stop();
}

/**
 * Runs `messages` 64-byte echoes through a listener of the reactor before it announces itself,
 * so the JIT has compiled the hot path (and V8's compiler threads have their memory) before the
 * first real client: no warm-up stalls under the first load. Block mode only (runUntil).
 */
function warmUp(r: Reactor, echo: Handlers, messages: number): void {
  // Its own listener on a free loopback port: the real one may share its port with other
  // workers (SO_REUSEPORT), which must not see these connections.
  const l = r.listen({ host: "127.0.0.1", port: 0 }, echo);
  const port = l.port;
  const conns = Math.min(64, messages);
  const rounds = Math.ceil(messages / conns);
  const ping = new Uint8Array(64).fill(0x77);
  let done = 0, closed = 0;
  const handlers: Handlers = {
    open(c) { c.data = 0; c.write(ping); },
    data(c, d) {
      let got = (c.data as number) + d.length;
      while (got >= 64) {
        got -= 64;
        if (++done < messages) c.write(ping);
        else { c.end(); break; } // enough: every connection ends at its next echo
      }
      c.data = got;
    },
    close() { closed++; },
  };
  for (let i = 0; i < conns; i++) r.connect({ port }, handlers);
  r.runUntil(() => closed === conns, { maxMs: 5_000 });
  l.close();
  r.runUntil(() => r.metrics().listeners === 0, { maxMs: 1_000 });
}

function printReport(a: ServeArgs, rep: ServeReport): never {
  if (a.json) console.log(JSON.stringify(rep));
  else console.log(`wasm-reactor serve: stopped after ${rep.seconds} s: ${fmt(rep.messages)} messages (${fmt(rep.msgsPerSecond)}/s), ${fmt(rep.accepts)} connections accepted; ${rep.graceful} closed gracefully, ${rep.aborted} aborted; descriptors opened ${rep.fdOpens}, closed ${rep.fdCloses}, leaked ${rep.leakedDescriptors}`);
  process.exit(rep.leakedDescriptors ? 1 : 0);
}

/** Several workers' reports as one. */
function sumReports(reps: ServeReport[]): ServeReport {
  const out: ServeReport = { seconds: Math.max(...reps.map((r) => r.seconds)), messages: 0, msgsPerSecond: 0, graceful: 0, aborted: 0, leakedDescriptors: 0, accepts: 0, fdOpens: 0, fdCloses: 0 };
  for (const r of reps) {
    out.messages += r.messages; out.msgsPerSecond += r.msgsPerSecond; out.graceful += r.graceful; out.aborted += r.aborted;
    out.leakedDescriptors += r.leakedDescriptors; out.accepts += r.accepts; out.fdOpens += r.fdOpens; out.fdCloses += r.fdCloses;
  }
  if (reps.length === 1) out.host = reps[0].host;
  return out;
}

export async function serve(argv: string[]): Promise<void> {
  const a = parseServe(argv);
  if (a.backend === "sim") return serveSim(a);
  loadNative(); // no shim: say so now, with what to do, before any thread starts
  const banner = (port: number, budget: number) => {
    console.log(`listening on ${a.host}:${port}`);
    const how = a.mode === "main" ? "main-thread mode" : a.workers > 1 ? `${a.workers} workers sharing the port (SO_REUSEPORT)` : "worker mode";
    console.log(`wasm-reactor serve: echo on ${a.host}:${port} (epoll, ${a.edge ? "edge" : "level"}-triggered, ${how}); backlog ${a.backlog}, ${fmt(a.maxConnections * a.workers)} connection slots, descriptor budget ${fmt(budget)}; drain ${a.drainMs} ms; Ctrl-C to stop`);
  };
  if (a.mode === "main") {
    const rep = await runEcho(a, {
      onListening: (port, budget) => banner(port, budget),
      onStatus: (st) => console.log(statusLine(st)),
      stopSignal: (stop) => { process.on("SIGINT", stop); process.on("SIGTERM", stop); },
    });
    printReport(a, rep);
  }
  // Worker mode: each reactor blocks in epoll_wait on its own worker; this thread only waits for
  // signals, wakes them (the shim's eventfd) to drain, and sums their status lines and reports.
  // With --workers N the listeners share the port through SO_REUSEPORT (the kernel spreads the
  // connections) and the process's descriptor limit is split between them.
  const native = loadNative();
  const n = a.workers;
  const fdShare = n > 1 ? Math.floor((native.limits()[0]) / n) : 0;
  const workers: Worker[] = [];
  const wakeFds: number[] = [];
  const budgets: number[] = [];
  const reports: ServeReport[] = [];
  const samples = new Map<number, StatusSample[]>();
  let stopping = false;
  const onSignal = () => {
    if (stopping) return;
    stopping = true;
    for (const w of workers) w.postMessage({ type: "stop" });
    for (const fd of wakeFds) if (fd >= 0) native.wake(fd);
  };
  process.on("SIGINT", onSignal);
  process.on("SIGTERM", onSignal);
  const start = (i: number, port: number) => new Promise<number>((listening) => {
    const args: ServeArgs = { ...a, port };
    const w = new Worker(new URL(import.meta.url), { workerData: { serve: args, share: { fdLimit: fdShare, reusePort: n > 1, index: i } },
      resourceLimits: { maxYoungGenerationSizeMb: 2 } }); // per-callback handles die young: a small nursery keeps RSS flat
    workers.push(w);
    w.on("message", (m: { type: string; port?: number; budget?: number; wakeFd?: number; message?: string; report?: ServeReport; status?: StatusSample }) => {
      if (m.type === "listening") { wakeFds[i] = m.wakeFd!; budgets[i] = m.budget!; if (stopping) native.wake(m.wakeFd!); listening(m.port!); }
      else if (m.type === "error") fail(m.message!.replace(/^wasm-reactor: /, ""));
      else if (m.type === "status") {
        const st = m.status!;
        const got = samples.get(st.tick) ?? [];
        got.push(st);
        samples.set(st.tick, got);
        if (got.length === n) {
          samples.delete(st.tick);
          console.log(statusLine({ tick: st.tick, seconds: Math.max(...got.map((x) => x.seconds)), connections: got.reduce((s, x) => s + x.connections, 0),
            fdsOpen: got.reduce((s, x) => s + x.fdsOpen, 0), fdBudget: got.reduce((s, x) => s + x.fdBudget, 0), rate: got.reduce((s, x) => s + x.rate, 0),
            p99: Math.max(...got.map((x) => x.p99)), poolFree: got.reduce((s, x) => s + x.poolFree, 0) }));
        }
      } else if (m.type === "report") {
        reports.push(m.report!);
        if (reports.length === n) printReport(a, sumReports(reports));
      }
    });
    w.on("error", (err) => { console.error(err); process.exit(1); });
    w.on("exit", () => { if (reports.length < n) { console.error("wasm-reactor: a server worker exited without a report"); process.exit(1); } });
  });
  // The first worker binds (port 0 picks one); the others join it on that port.
  const port = await start(0, a.port);
  for (let i = 1; i < n; i++) await start(i, port);
  banner(port, budgets.reduce((s, b) => s + b, 0));
  await new Promise(() => {}); // the workers' reports end the process
}

/** Inside serve's worker thread. */
export async function serveWorker(a: ServeArgs, share: { fdLimit?: number; reusePort?: boolean; index?: number }): Promise<void> {
  try {
    const rep = await runEcho(a, {
      onListening: (port, budget, wakeFd) => parentPort!.postMessage({ type: "listening", port, budget, wakeFd }),
      onStatus: (status) => parentPort!.postMessage({ type: "status", status }),
      stopSignal: (stop) => parentPort!.on("message", (m: { type: string }) => { if (m.type === "stop") stop(); }),
    }, share);
    parentPort!.postMessage({ type: "report", report: rep });
  } catch (err) {
    parentPort!.postMessage({ type: "error", message: err instanceof ReactorError ? err.message : String((err as Error)?.stack ?? err) });
  }
  // The main thread exits once it has every report; nothing else to do here.
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
      console.log(`[${((now - t0) / 1000).toFixed(0).padStart(4)} s] connections ${m.connections} | descriptors ${m.fdsOpen}/${m.fdBudget} | ${Math.round(rate).toLocaleString("en-US")} msgs/s | ${turns.toLocaleString("en-US")} turns/s, ${usPerTurn.toFixed(0)} µs each (wall) | pool free ${m.poolFree}`);
      lastMsgs = msgs; lastStatus = now; lastTurnCount = m.turns;
    }
    if (a.seconds && now - t0 >= a.seconds * 1000) stopping = true;
    await new Promise((res) => setTimeout(res, 0));
  }
  // Shutdown: clients finish their exchange and leave; the server drains and closes.
  for (const p of peers) p.onend = (q) => { if (q.state === "open") q.end(); };
  const report = await r.close({ drainMs: a.drainMs });
  const m = r.metrics();
  const secs = (Date.now() - t0) / 1000;
  const summary = { messages: msgs, seconds: Number(secs.toFixed(2)), msgsPerSecond: Math.round(msgs / secs), ...report, accepts: m.accepts, fdOpens: m.fdOpens, fdCloses: m.fdCloses, simViolations: sim.violations.length };
  if (a.json) console.log(JSON.stringify(summary));
  else console.log(`wasm-reactor serve: stopped after ${summary.seconds} s: ${msgs.toLocaleString("en-US")} messages (${summary.msgsPerSecond.toLocaleString("en-US")}/s); ${report.graceful} connections closed gracefully, ${report.aborted} aborted; descriptors opened ${m.fdOpens}, closed ${m.fdCloses}, leaked ${report.leakedDescriptors}`);
  process.exit(report.leakedDescriptors || sim.violations.length ? 1 : 0);
}

