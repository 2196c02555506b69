// The wasm-reactor command line. `npm start` runs `wasm-reactor serve`.
//
// This build has the simulated backend only (real sockets arrive with the epoll host), so
// `serve` runs the echo server on the simulated network against a simulated ping-pong load,
// in real time, with a live status line each second and a graceful drain on SIGINT/SIGTERM.
import { Reactor } from "./reactor.ts";
import { ReactorError } from "./errors.ts";
import type { SimPeer } from "./sim.ts";

const HELP = `wasm-reactor — massive numbers of sockets from one WebAssembly core

Usage: wasm-reactor <command> [options]

Commands:
  serve     run the echo server (what \`npm start\` runs)
  help      show this text; \`wasm-reactor serve --help\` shows serve's options
`;

const SERVE_HELP = `wasm-reactor serve — an echo server on the reactor

This build drives the core with the simulated network (backend "sim"): simulated clients
connect and play ping-pong with the echo server, so you can watch the core work before the
epoll backend exists. Ctrl-C (SIGINT) or SIGTERM drains the connections and prints a report.

Options:
  --backend NAME       sim (default; the only one built so far)
  --port N             port to listen on (default 7)
  --connections N      simulated clients (default 1000)
  --message-bytes N    bytes per ping (default 64)
  --seconds N          stop after N seconds (default 0: run until SIGINT/SIGTERM)
  --seed N             the simulator's seed (default 1)
  --idle-timeout-ms N  harvest connections idle this long (default 0: off)
  --drain-ms N         how long shutdown waits for connections to finish (default 2000)
  --json               print the final report as JSON
  -h, --help           this text
`;

interface ServeArgs { backend: string; port: number; connections: number; messageBytes: number; seconds: number; seed: number; idleTimeoutMs: number; drainMs: number; json: boolean }

function fail(msg: string): never {
  console.error(`wasm-reactor: ${msg}`);
  process.exit(2);
}

function parseServe(argv: string[]): ServeArgs {
  const a: ServeArgs = { backend: "sim", port: 7, connections: 1000, messageBytes: 64, seconds: 0, seed: 1, idleTimeoutMs: 0, drainMs: 2000, json: false };
  const ints: Record<string, [keyof ServeArgs, number, number]> = {
    "--port": ["port", 0, 65535], "--connections": ["connections", 1, 1_000_000], "--message-bytes": ["messageBytes", 1, 1 << 20],
    "--seconds": ["seconds", 0, 1e9], "--seed": ["seed", 0, 0xffffffff], "--idle-timeout-ms": ["idleTimeoutMs", 0, 0x7fffffff], "--drain-ms": ["drainMs", 0, 0x7fffffff],
  };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    if (arg === "-h" || arg === "--help") { process.stdout.write(SERVE_HELP); process.exit(0); }
    if (arg === "--json") { a.json = true; continue; }
    if (arg === "--backend") { a.backend = argv[++i] ?? fail("--backend needs a value (sim)"); if (a.backend !== "sim") fail(`--backend ${a.backend}: only 'sim' is built so far (epoll lands next)`); continue; }
    const spec = ints[arg];
    if (!spec) fail(`serve: unknown option '${arg}' (see wasm-reactor serve --help)`);
    const raw = argv[++i];
    const v = Number(raw);
    if (raw === undefined || !Number.isInteger(v) || v < spec[1] || v > spec[2]) fail(`serve: ${arg} must be an integer from ${spec[1]} to ${spec[2]}, got ${raw === undefined ? "nothing" : JSON.stringify(raw)}`);
    (a as unknown as Record<string, number>)[spec[0]] = v;
  }
  return a;
}

async function serve(argv: string[]): Promise<void> {
  const a = parseServe(argv);
  const r = await Reactor.create({
    host: "sim", seed: a.seed, maxConnections: a.connections + 16, idleTimeoutMs: a.idleTimeoutMs,
    poolChunks: Math.max(256, Math.min(65536, a.connections)), chunkSize: 4096,
    sim: { keepReceived: false }, // clients count what comes back; keeping it all would grow without bound
  });
  const sim = r.sim!;
  // Data can still arrive after the reactor began to close (its FIN crosses the client's last
  // ping): only write while the connection is writable.
  const l = r.listen({ port: a.port, backlog: 65535 }, { data(c, d) { if (c.writable) c.write(d); } });
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

main().catch((err) => {
  if (err instanceof ReactorError) fail(err.message.replace(/^wasm-reactor: /, ""));
  console.error(err);
  process.exit(1);
});
