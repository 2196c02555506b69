// Observing must not disturb: the turn p99 of a reactor holding 10,000 idle connections, with
// metrics() read every second (as `serve`'s status line and a metrics endpoint do) against not
// read at all.
//
// How it works:
//   1. Clients: tests/bench/loadgen.c in hold mode (built if stale), in a child process:
//      RLIMIT_NOFILE is 20,000 a process here, so 10,000 clients and 10,000 server sockets
//      cannot share one. Each connection is proven by one echo, then stays idle; they come
//      from 16 source addresses (127.0.0.2..17).
//   2. Server: a Reactor in this process (host epoll, wait "thread", release core) that echoes.
//      An app timer ticks every TICK_MS, so an otherwise idle server still turns (~50 turns/s,
//      as a server with timers does). Reading samples the kernel queues of up to 4,096 sockets
//      (host/backends/epoll/epoll.ts hostMetrics; the sweep runs on the shim's sampler thread).
//   3. Windows rotate, `rounds` times:
//        quiet         metrics() never called;
//        read          called once a second from the runtime's own timer, between turns: how
//                      an observer reads (serve's status line in main mode, a scrape handler;
//                      in worker mode serve reads the core's shared memory from another thread
//                      and the loop's thread does nothing at all);
//        read in turn  called once a second from an app timer, inside a turn: the worst place
//                      to read. metrics() runs cold there (once a second: the interpreter, cold
//                      caches), about 100-300 µs here, so at ~50 turns/s that one turn a second
//                      (2% of them) is the p99 whatever the sampling does. Reported, no target.
//      Each window's turn p99 comes from the core's turn-duration histogram (µs, log-linear: a
//      value is within 12.5% of its bucket's lower bound), snapshot before and after the
//      window. Figures are medians over rounds.
//   4. Targets (issue 8, part 8): with reads, p99 under 1 ms and within 2x of the quiet p99.
//      Before the sampler thread, a read cost two ioctls on each of 4,096 sockets inside the
//      turn: 13-33 ms p99 in serve, 6.1 ms here.
import { spawn, execFileSync } from "node:child_process";
import { existsSync, mkdirSync, statSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { runBench, figure, loadHost, root, sleep } from "./lib.mjs";

const TICK_MS = 20;
const SOURCES = 16;
const path = (p) => fileURLToPath(new URL(p, root));
const LOADGEN = { src: path("tests/bench/loadgen.c"), bin: path("build/bench/loadgen") };

function buildLoadgen(log) {
  if (existsSync(LOADGEN.bin) && statSync(LOADGEN.bin).mtimeMs >= statSync(LOADGEN.src).mtimeMs) return;
  mkdirSync(path("build/bench"), { recursive: true });
  log(`cc -O2 -o ${LOADGEN.bin} ${LOADGEN.src}`);
  execFileSync("cc", ["-O2", "-o", LOADGEN.bin, LOADGEN.src], { stdio: ["ignore", "inherit", "inherit"] });
}

/** host/core/metrics.ts (histogram helpers), bundled in memory; dist/ does not export it. */
async function loadMetrics() {
  const esbuild = await import("esbuild");
  const out = await esbuild.build({
    entryPoints: [path("host/core/metrics.ts")], bundle: true, write: false,
    format: "esm", platform: "neutral", logLevel: "warning", external: ["node:*"],
    mainFields: ["browser", "module", "main"], conditions: ["import", "default"],
  });
  return import(`data:text/javascript;base64,${Buffer.from(out.outputFiles[0].text).toString("base64")}`);
}

/** Starts loadgen in hold mode; resolves once every connection is established (proven by an echo). */
function holdClients(port, conns, log) {
  const args = ["--host", "127.0.0.1", "--port", String(port), "--mode", "hold", "--conns", String(conns),
    "--seconds", "600", "--bytes", "16", "--sources", String(SOURCES), "--max-handshakes", "256",
    "--ramp-timeout-s", "60", "--handshake-timeout-ms", "10000"];
  const child = spawn(LOADGEN.bin, args, { stdio: ["pipe", "pipe", "pipe"] });
  child.stdin.on("error", () => {});
  let stderr = "", buf = "";
  child.stderr.setEncoding("utf8");
  child.stderr.on("data", (d) => { stderr = (stderr + d).slice(-2000); });
  const held = new Promise((resolve, reject) => {
    const t = setTimeout(() => reject(new Error(`loadgen: not held within 90 s; stderr ${stderr.slice(-300)}`)), 90_000);
    child.stdout.setEncoding("utf8");
    child.stdout.on("data", (d) => {
      buf += d;
      for (let nl = buf.indexOf("\n"); nl >= 0; nl = buf.indexOf("\n")) {
        const line = buf.slice(0, nl); buf = buf.slice(nl + 1);
        let o; try { o = JSON.parse(line); } catch { continue; }
        if (o.event === "held") { clearTimeout(t); resolve(o); }
        else if (o.fatal) { clearTimeout(t); reject(new Error(`loadgen: ${o.fatal}`)); }
      }
    });
    child.on("exit", (code, sig) => { clearTimeout(t); reject(new Error(`loadgen exited (${sig ?? code}) before holding; stderr ${stderr.slice(-300)}`)); });
  });
  const stop = () => { try { child.stdin.end(); } catch { /* gone */ } setTimeout(() => { if (child.exitCode === null) child.kill("SIGKILL"); }, 5_000).unref(); };
  return { child, held, stop };
}

runBench("observe", async (ctx) => {
  const CONNS = ctx.quick ? 1_000 : 10_000;
  const WINDOW_MS = ctx.quick ? 2_000 : 10_000;
  const ROUNDS = ctx.quick ? 1 : ctx.rounds;
  buildLoadgen(ctx.log);
  const { Reactor } = await loadHost();
  const { histogramCounts, percentilesOf } = await loadMetrics();
  const r = await Reactor.create({ host: "epoll", wait: "thread", maxConnections: CONNS + 1000, poolChunks: 1024, log: (l) => ctx.log(l) });
  const running = r.run();
  const l = r.listen({ port: 0, backlog: 4096 }, { data(c, d) { if (c.writable) c.write(d); } });
  const clients = holdClients(l.port, CONNS, ctx.log);
  let reading = "", lastRead = 0, reads = 0, sampledSockets = 0, closing = false, readUsMax = 0;
  const readNow = () => {
    lastRead = performance.now();
    const m = r.metrics();
    readUsMax = Math.max(readUsMax, (performance.now() - lastRead) * 1000);
    reads++;
    sampledSockets = m.host?.queueSockets ?? 0;
  };
  const tick = () => {
    if (closing) return;
    if (reading === "turn" && performance.now() - lastRead >= 1000) readNow();
    r.setTimeout(tick, TICK_MS);
  };
  r.setTimeout(tick, TICK_MS);
  const observer = setInterval(() => { if (reading === "between" && !closing) readNow(); }, 1000);
  const quiet = [], read = [], readInTurn = [];
  try {
    const h = await clients.held;
    ctx.log(`${h.conns ?? CONNS} idle connections held`);
    if (r.metrics().connections < CONNS) throw new Error(`only ${r.metrics().connections} connections`);
    await sleep(1000); // settle after the ramp
    const turnHist = () => histogramCounts(r.core, 0 /* K.HIST_TURN_US */);
    const window = async (how) => {
      reading = how;
      lastRead = 0;
      const a = turnHist();
      await sleep(WINDOW_MS);
      const b = turnHist();
      reading = "";
      const p = percentilesOf(b.map((x, i) => x - a[i]));
      ctx.log(`${how ? `read ${how === "turn" ? "in a turn" : "between turns"}` : "quiet"}: ${p.count} turns, p50 ${p.p50} µs, p99 ${p.p99} µs, max ${p.max} µs${how ? `; slowest metrics() call ${readUsMax.toFixed(0)} µs` : ""}`);
      readUsMax = 0;
      return p;
    };
    for (let i = 0; i < ROUNDS; i++) { quiet.push(await window("")); read.push(await window("between")); readInTurn.push(await window("turn")); }
  } finally {
    closing = true;
    clearInterval(observer);
    clients.stop();
    await r.close({ drainMs: 2000 });
    await running;
  }
  const med = (xs, f) => { const v = xs.map(f).sort((x, y) => x - y); return v[Math.floor(v.length / 2)]; };
  const p99Quiet = med(quiet, (p) => p.p99), p99Read = med(read, (p) => p.p99), p99InTurn = med(readInTurn, (p) => p.p99);
  const k = CONNS >= 1000 ? `${CONNS / 1000}k` : String(CONNS);
  return {
    params: { connections: CONNS, windowMs: WINDOW_MS, rounds: ROUNDS, tickMs: TICK_MS, metricsReadEveryMs: 1000 },
    extra: { quiet, read, readInTurn, reads, sampledSockets },
    figures: [
      figure({ id: "observe.turnP99", title: `turn p99, ${k} idle conns, metrics read every second`, unit: "µs", better: "lower",
        ours: { name: "metrics read 1/s", value: p99Read, samples: read.map((p) => p.p99) },
        baseline: { name: "not read", value: p99Quiet, samples: quiet.map((p) => p.p99) },
        target: { max: 1000, ratioMax: 2 } }),
      figure({ id: "observe.turnP99InTurn", title: `turn p99, ${k} idle conns, metrics() called inside a turn every second (worst place; no target)`, unit: "µs", better: "lower",
        ours: { name: "read in a turn", value: p99InTurn, samples: readInTurn.map((p) => p.p99) },
        baseline: { name: "not read", value: p99Quiet, samples: quiet.map((p) => p.p99) } }),
    ],
    notes: [`observe: ${k} idle connections (loadgen hold, ${SOURCES} source addresses, a child process); a ${TICK_MS} ms app timer makes ~${Math.round(1000 / TICK_MS)} turns/s; read windows call metrics() once a second, between turns (the runtime's timer) or inside one (an app timer) (kernel queues of up to 4,096 sockets sampled, last sweep: ${sampledSockets} sockets); ${ROUNDS} × ${WINDOW_MS / 1000} s windows each, medians; p99 from the core's turn histogram (bucket lower bounds, within 12.5%)`],
  };
});
