// The wasm-reactor command line. `npm start` runs `wasm-reactor serve`.
//
// `serve` is an echo server on real sockets (the epoll host): by default the reactor runs in a
// worker thread that blocks in epoll_wait (worker mode, the fast path) while the main thread
// handles signals and wakes it through the shim's eventfd to drain; `--mode main` runs it on
// the main thread without ever blocking it (the poller-thread wait). `--backend sim` keeps
// the simulated network with simulated ping-pong clients, to watch the core without sockets.
import { Reactor } from "./reactor.ts";
import { ReactorError } from "./errors.ts";
import type { SimPeer } from "./sim.ts";
import { loadNative } from "./native.ts";
import { histogramCounts, percentilesOf } from "./metrics.ts";
import { K } from "./layout.ts";
import { Worker, isMainThread, parentPort, workerData } from "node:worker_threads";

const HELP = `wasm-reactor — massive numbers of sockets from one WebAssembly core

Usage: wasm-reactor <command> [options]

Commands:
  serve     run the echo server (what \`npm start\` runs)
  help      show this text; \`wasm-reactor serve --help\` shows serve's options
`;

const SERVE_HELP = `wasm-reactor serve — an echo server on the reactor

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
  --level              level-triggered epoll (default: edge-triggered, which keeps tail latency
                       flat at 10,000 busy connections: see docs/benchmarks.md)
  --edge               edge-triggered epoll (the default)
  --max-connections N  connection slots (default 20000; 96 bytes each)
  --idle-timeout-ms N  close connections idle this long (default 0: never)
  --drain-ms N         how long shutdown waits for connections to finish (default 2000)
  --seconds N          stop by itself after N seconds (default 0: run until a signal)
  --status-ms N        status line interval (default 1000; 0: none)
  --json               print the final report as JSON
  --backend NAME       epoll (default) or sim (a simulated network with simulated clients;
                       then --connections N, --message-bytes N and --seed N apply)
  -h, --help           this text

Exit status: 0 after a clean shutdown, 1 if descriptors leaked, 2 on a bad option or when the
port cannot be listened on (in use, not permitted), with one line saying why.
`;

interface ServeArgs {
  backend: string; host: string; port: number; backlog: number; mode: "worker" | "main"; edge: boolean; maxConnections: number;
  connections: number; messageBytes: number; seconds: number; seed: number; idleTimeoutMs: number; drainMs: number; statusMs: number; json: boolean;
}

function fail(msg: string): never {
  console.error(`wasm-reactor: ${msg}`);
  process.exit(2);
}

function parseServe(argv: string[]): ServeArgs {
  const a: ServeArgs = { backend: "epoll", host: "127.0.0.1", port: 7070, backlog: 4096, mode: "worker", edge: true, maxConnections: 20_000,
    connections: 1000, messageBytes: 64, seconds: 0, seed: 1, idleTimeoutMs: 0, drainMs: 2000, statusMs: 1000, json: false };
  const ints: Record<string, [keyof ServeArgs, number, number]> = {
    "--port": ["port", 0, 65535], "--backlog": ["backlog", 1, 65535], "--max-connections": ["maxConnections", 1, 4_000_000],
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
    const spec = ints[arg];
    if (!spec) fail(`serve: unknown option '${arg}' (see wasm-reactor serve --help)`);
    const raw = argv[++i];
    const v = Number(raw);
    if (raw === undefined || !Number.isInteger(v) || v < spec[1] || v > spec[2]) fail(`serve: ${arg} must be an integer from ${spec[1]} to ${spec[2]}, got ${raw === undefined ? "nothing" : JSON.stringify(raw)}`);
    (a as unknown as Record<string, number>)[spec[0]] = v;
  }
  return a;
}

const fmt = (n: number) => Math.round(n).toLocaleString("en-US");

interface ServeReport { seconds: number; messages: number; msgsPerSecond: number; graceful: number; aborted: number; leakedDescriptors: number; accepts: number; fdOpens: number; fdCloses: number; host?: Record<string, number> }

/** The echo server on one reactor (main thread or worker); resolves with the report after a stop. */
async function runEcho(a: ServeArgs, onListening: (port: number, budget: number, wakeFd: number) => void, stopSignal: (stop: () => void) => void): Promise<ServeReport> {
  const r = await Reactor.create({
    host: "epoll", wait: a.mode === "worker" ? "block" : "thread", edgeTriggered: a.edge,
    maxConnections: a.maxConnections, idleTimeoutMs: a.idleTimeoutMs, timers: 16,
    // 32 MiB of pool, paid at start (prefault): memory does not creep as load comes, and a
    // turn reads up to 512 chunks (supply) before the next one refills it.
    poolChunks: 2048, chunkSize: 16384, supplyTarget: 512, prefaultPool: true,
    pauseReadsAtHighWater: true, // echo: what we read is what we queue; a peer that stops reading stops being read
  });
  let l;
  try { l = r.listen({ host: a.host, port: a.port, backlog: a.backlog }, { data(c, d) { if (c.writable) c.write(d); } }); }
  catch (err) { await r.close({ drainMs: 0 }); throw err; }
  const t0 = Date.now();
  let stopped = false;
  let last = { t: t0, reads: 0, hist: histogramCounts(r.core, K.HIST_TURN_US) };
  const status = () => {
    if (stopped) return;
    const now = Date.now();
    const m = r.metrics();
    const hist = histogramCounts(r.core, K.HIST_TURN_US);
    const p = percentilesOf(hist.map((v, i) => v - last.hist[i]));
    const rate = ((m.reads - last.reads) * 1000) / Math.max(1, now - last.t);
    console.log(`[${((now - t0) / 1000).toFixed(0).padStart(4)} s] connections ${fmt(m.connections)} | descriptors ${fmt(m.fdsOpen)}/${fmt(m.fdBudget)} | ${fmt(rate)} msgs/s | turn p99 ${p.p99} µs | pool free ${m.poolFree}`);
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
      return { seconds: +secs.toFixed(2), messages: before.reads, msgsPerSecond: Math.round(before.reads / secs), ...report,
        accepts: before.accepts, fdOpens: r.metrics().fdOpens, fdCloses: r.metrics().fdCloses, host: r.metrics().host };
    })();
    return closing;
  };
  stopSignal(() => { void stop(); });
  onListening(l.port, r.metrics().fdBudget, r.epoll!.wakeHandle);
  await r.run();
  return stop();
}

function printReport(a: ServeArgs, rep: ServeReport): never {
  if (a.json) console.log(JSON.stringify(rep));
  else console.log(`wasm-reactor serve: stopped after ${rep.seconds} s: ${fmt(rep.messages)} messages (${fmt(rep.msgsPerSecond)}/s), ${fmt(rep.accepts)} connections accepted; ${rep.graceful} closed gracefully, ${rep.aborted} aborted; descriptors opened ${rep.fdOpens}, closed ${rep.fdCloses}, leaked ${rep.leakedDescriptors}`);
  process.exit(rep.leakedDescriptors ? 1 : 0);
}

async function serve(argv: string[]): Promise<void> {
  const a = parseServe(argv);
  if (a.backend === "sim") return serveSim(a);
  loadNative(); // no shim: say so now, with what to do, before any thread starts
  const banner = (port: number, budget: number) => {
    console.log(`listening on ${a.host}:${port}`);
    console.log(`wasm-reactor serve: echo on ${a.host}:${port} (epoll, ${a.edge ? "edge" : "level"}-triggered, ${a.mode} mode); backlog ${a.backlog}, ${fmt(a.maxConnections)} connection slots, descriptor budget ${fmt(budget)}; drain ${a.drainMs} ms; Ctrl-C to stop`);
  };
  if (a.mode === "main") {
    const rep = await runEcho(a, (port, budget) => banner(port, budget), (stop) => { process.on("SIGINT", stop); process.on("SIGTERM", stop); });
    printReport(a, rep);
  }
  // Worker mode: the reactor blocks in epoll_wait on a worker; this thread only waits for
  // signals and wakes it (the shim's eventfd) to drain.
  const w = new Worker(new URL(import.meta.url), { workerData: { serve: a }, resourceLimits: { maxYoungGenerationSizeMb: 2 } });
  let wakeFd = -1, stopping = false;
  const native = loadNative();
  const onSignal = () => {
    if (stopping) return;
    stopping = true;
    w.postMessage({ type: "stop" });
    if (wakeFd >= 0) native.wake(wakeFd);
  };
  process.on("SIGINT", onSignal);
  process.on("SIGTERM", onSignal);
  await new Promise<void>((resolve) => {
    w.on("message", (m: { type: string; port?: number; budget?: number; wakeFd?: number; message?: string; report?: ServeReport }) => {
      if (m.type === "listening") { wakeFd = m.wakeFd!; banner(m.port!, m.budget!); if (stopping) native.wake(wakeFd); }
      else if (m.type === "error") fail(m.message!.replace(/^wasm-reactor: /, ""));
      else if (m.type === "report") printReport(a, m.report!);
    });
    w.on("error", (err) => { console.error(err); process.exit(1); });
    w.on("exit", () => resolve());
  });
  console.error("wasm-reactor: the server's worker exited without a report");
  process.exit(1);
}

/** Inside serve's worker thread. */
async function serveWorker(a: ServeArgs): Promise<void> {
  try {
    const rep = await runEcho(a,
      (port, budget, wakeFd) => parentPort!.postMessage({ type: "listening", port, budget, wakeFd }),
      (stop) => parentPort!.on("message", (m: { type: string }) => { if (m.type === "stop") stop(); }));
    parentPort!.postMessage({ type: "report", report: rep });
  } catch (err) {
    parentPort!.postMessage({ type: "error", message: err instanceof ReactorError ? err.message : String((err as Error)?.stack ?? err) });
  }
  // The main thread exits once it has the report; nothing else to do here.
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

async function main(): Promise<void> {
  const [cmd, ...rest] = process.argv.slice(2);
  switch (cmd) {
    case "serve": return serve(rest);
    case undefined: case "help": case "-h": case "--help": process.stdout.write(HELP); return;
    default: fail(`unknown command '${cmd}' (commands: serve, help)`);
  }
}

if (isMainThread) main().catch((err) => {
  if (err instanceof ReactorError) fail(err.message.replace(/^wasm-reactor: /, ""));
  console.error(err);
  process.exit(1);
});
else if ((workerData as { serve?: ServeArgs })?.serve) void serveWorker((workerData as { serve: ServeArgs }).serve);
