// Memory: bytes per connection at 1,000,000 simulated connections, and where each megabyte of a
// running server goes, against the runtime's own empty process and node:net, side by side.
//
// How it works:
//   1. Layout: host/core/layout.ts (bundled on the fly with esbuild; dist/ does not export it) gives
//      BYTES_PER_CONNECTION (a slot and its two timer nodes) and computeLayout(); for slotCap
//      1,000,000 the slot and timer-node regions divided by the connections must agree with it.
//   2. RSS: one throw-away core first (compiles the module, loads the WASI shim), then a core
//      with slotCap 1 and one with slotCap 1,000,000, same pool and rings, appTimerCap 0. The
//      memory is shared and created at its full size, but pages count in RSS only once
//      touched, so (growth for 1M − growth for 1) ÷ 999,999 is what init really writes per
//      connection (every slot and every timer node is initialised). Full GCs around each read.
//   3. Baseline: node:net Socket objects, unconnected (no handle, no buffers, no kernel socket),
//      so a lower bound for node:net: JS heap growth and RSS growth per object.
//      Target: ≤ 128 B per connection (brief), for the layout and for the measured RSS.
//   4. At start, side by side: an empty runtime process, one with an idle worker thread, node:net's
//      echo (tests/bench/servers/node-net.mjs), and `wasm-reactor serve` in main mode, worker mode
//      and worker mode without warm-up, each started fresh, read 1 s after its "listening on"
//      line: /proc/PID/smaps, each mapping put in one row (the core's Wasm memory is the
//      anonymous mapping of exactly its size; the runtime's code and data are its binary's
//      mappings; [heap] is malloc's main arena; the rest of the anonymous memory is V8's heaps,
//      JIT code, thread stacks and the other threads' malloc arenas). Targets: serve in main mode
//      at most the empty process + 16 MiB; serve's worker adds at most what an idle worker adds.
//   5. Inside a server like serve (this file run with --probe main|worker: the library from dist/,
//      serve's options, its warm-up and echo): each isolate's V8 heap (v8.getHeapStatistics, in
//      the worker through ctx.post) and the Wasm memory's resident pages per region, read from
//      /proc/self/pagemap (present bit) over the mapping found in smaps.
//   The 10,000 idle connections and bytes per added connection are measured by net.mjs (hold),
//   with node:net, Bun and Deno in the same run.
import net from "node:net";
import v8 from "node:v8";
import { spawn } from "node:child_process";
import { closeSync, openSync, readFileSync, readSync, realpathSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { isMainThread } from "node:worker_threads";
import { runBench, figure, fullGc, loadHost, benchConfig, benchHooks, root, sleep } from "./lib.mjs";

const TARGET_BYTES = 128;

/** host/core/layout.ts as a module: bundled in memory with esbuild, imported from a data: URL. */
async function loadLayout() {
  const esbuild = await import("esbuild");
  const out = await esbuild.build({
    entryPoints: [new URL("host/core/layout.ts", root).pathname], bundle: true, write: false,
    format: "esm", platform: "neutral", logLevel: "warning",
  });
  const js = out.outputFiles[0].text;
  return import(`data:text/javascript;base64,${Buffer.from(js).toString("base64")}`);
}

const MiB = 2 ** 20;
const mb = (b) => (b / MiB).toFixed(1);
const START_TARGET_MIB = 16;
/** serve's core sizes (host/cli/serve.ts: the echo preset, --max-connections 20000, timers 16). */
const SERVE_CAPS = { slotCap: 20_064, chunkSize: 16384, chunkCount: 2048, appTimerCap: 16, eventCap: 4096, submitCap: 8192, noteCap: 8192, supplyCap: 512 };
const SERVE_OPTIONS = { preset: "echo", host: "epoll", maxConnections: 20_000, timers: 16 };

const probing = isMainThread && process.argv.includes("--probe"); // part 5's child (dispatched at the bottom)
if (isMainThread && !probing) runBench("memory", async (ctx) => {
  const CONNS = ctx.quick ? 100_000 : 1_000_000;
  const SOCKETS = ctx.quick ? 10_000 : 100_000;
  // Pool and rings as a server might size them; identical for both cores.
  const caps = (slotCap) => ({ slotCap, appTimerCap: 0, chunkSize: 16384, chunkCount: 1024, eventCap: 4096, submitCap: 4096, noteCap: 4096, supplyCap: 1024 });

  // ── 1. layout ─────────────────────────────────────────────────────────────────────────
  const layout = await loadLayout();
  const big = layout.computeLayout(caps(CONNS));
  const layoutPerConn = (big.wheelOff - big.slotsOff) / CONNS; // slot region + timer-node region
  if (Math.abs(layoutPerConn - layout.BYTES_PER_CONNECTION) > 1) {
    throw new Error(`computeLayout (${layoutPerConn} B/conn) disagrees with BYTES_PER_CONNECTION (${layout.BYTES_PER_CONNECTION})`);
  }
  const memoryBytesBig = layout.memoryBytes(caps(CONNS));
  ctx.log(`layout: BYTES_PER_CONNECTION ${layout.BYTES_PER_CONNECTION} (Slot ${layout.Slot_BYTES} + 2 × TimerNode ${layout.TimerNode_BYTES}); memory for ${CONNS} conns ${(memoryBytesBig / 2 ** 20).toFixed(0)} MiB`);

  // ── 2. RSS touched by init ────────────────────────────────────────────────────────────
  const { Core } = await loadHost();
  const keep = [await Core.create("release", caps(1), benchConfig, benchHooks)];
  const rss = () => { fullGc(); return process.memoryUsage().rss; };
  const rss0 = rss();
  keep.push(await Core.create("release", caps(1), benchConfig, benchHooks));
  const rss1 = rss();
  keep.push(await Core.create("release", caps(CONNS), benchConfig, benchHooks));
  const rss2 = rss();
  const growthSmall = rss1 - rss0, growthBig = rss2 - rss1;
  const rssPerConn = (growthBig - growthSmall) / (CONNS - 1);
  if (keep[2].regions.endOff !== big.endOff) throw new Error("the core's layout and host/core/layout.ts disagree");
  ctx.log(`RSS growth: slotCap 1 ${(growthSmall / 2 ** 20).toFixed(1)} MiB, slotCap ${CONNS} ${(growthBig / 2 ** 20).toFixed(1)} MiB`);

  // ── 3. baseline: node:net Socket objects ──────────────────────────────────────────────
  fullGc();
  const before = process.memoryUsage();
  const sockets = new Array(SOCKETS);
  for (let i = 0; i < SOCKETS; i++) sockets[i] = new net.Socket();
  fullGc();
  const after = process.memoryUsage();
  const socketHeap = (after.heapUsed - before.heapUsed) / sockets.length;
  const socketRss = (after.rss - before.rss) / sockets.length;
  ctx.log(`node:net Socket (unconnected) × ${SOCKETS}: ${socketHeap.toFixed(0)} B heap, ${socketRss.toFixed(0)} B RSS each`);

  // ── 4. at start, side by side ────────────────────────────────────────────────────────────
  const wasmBytes = layout.memoryBytes(SERVE_CAPS);
  const serve = [process.execPath, "dist/cli.js", "serve", "--host", "127.0.0.1", "--port", "0", "--status-ms", "0"];
  const idle = "setInterval(() => {}, 1 << 30); console.log('listening on -')";
  const subjects = [
    { key: "empty", name: "empty node", cmd: [process.execPath, "-e", idle] },
    { key: "emptyWorker", name: "empty node + idle worker", cmd: [process.execPath, "-e", `new (require("node:worker_threads").Worker)(${JSON.stringify(idle.replace(/console.*$/, ""))}, { eval: true }); ${idle}`] },
    { key: "nodeNet", name: "node:net echo", cmd: [process.execPath, "tests/bench/servers/node-net.mjs", "--host", "127.0.0.1", "--port", "0"] },
    { key: "main", name: "serve --mode main", cmd: [...serve, "--mode", "main"] },
    { key: "worker", name: "serve (worker mode)", cmd: serve },
    { key: "worker0", name: "serve --warmup 0", cmd: [...serve, "--warmup", "0"] },
  ];
  const starts = {};
  for (const round of [0, 1]) { // two rounds, the lower of the two (the machine is shared)
    for (const sub of subjects) {
      const m = await startRss(sub.cmd, wasmBytes);
      ctx.log(`start, ${sub.name}: RSS ${mb(m.rss)} MiB (${Object.entries(m.rows).filter(([, v]) => v > 0).map(([k, v]) => `${k} ${mb(v)}`).join(", ")})`);
      if (!starts[sub.key] || m.rss < starts[sub.key].rss) starts[sub.key] = m;
    }
    if (ctx.quick) break;
  }
  const inside = { main: await probeChild("main"), worker: await probeChild("worker") };
  ctx.log(`inside (main mode): ${describeInside(inside.main)}`);
  ctx.log(`inside (worker mode): ${describeInside(inside.worker)}`);

  const T = { max: TARGET_BYTES };
  const k = CONNS === 1_000_000 ? "1M" : `${CONNS / 1000}k`;
  return {
    params: { connections: CONNS, sockets: SOCKETS, caps: caps(CONNS) },
    extra: {
      bytesPerConnection: layout.BYTES_PER_CONNECTION, slotBytes: layout.Slot_BYTES, timerNodeBytes: layout.TimerNode_BYTES,
      regions: big, memoryBytes: memoryBytesBig, rssGrowthSmall: growthSmall, rssGrowthBig: growthBig,
      socketHeapBytes: socketHeap, socketRssBytes: socketRss, start: starts, inside,
    },
    figures: [
      figure({ id: "memory.layout", title: `layout: slots + timer nodes at ${k} conns`, unit: "B", better: "lower",
        ours: { name: `per conn, BYTES_PER_CONNECTION ${layout.BYTES_PER_CONNECTION}`, value: layoutPerConn },
        baseline: { name: "net.Socket JS heap", value: socketHeap }, target: T }),
      figure({ id: "memory.rss", title: `RSS touched by init, ${k} vs 1 slot`, unit: "B", better: "lower",
        ours: { name: "per conn, measured", value: rssPerConn },
        baseline: { name: "net.Socket RSS", value: socketRss }, target: T }),
      figure({ id: "memory.start.main", title: `RSS at start, serve --mode main − empty node (≤ ${START_TARGET_MIB} MiB)`, unit: "MB", better: "lower",
        ours: { name: `${mb(starts.main.rss)} − ${mb(starts.empty.rss)} MiB`, value: (starts.main.rss - starts.empty.rss) / MiB },
        baseline: { name: `node:net echo − empty node`, value: (starts.nodeNet.rss - starts.empty.rss) / MiB }, target: { max: START_TARGET_MIB } }),
      figure({ id: "memory.start.worker", title: "RSS the worker adds: serve --warmup 0 − serve --mode main (≤ an idle worker)", unit: "MB", better: "lower",
        ours: { name: `${mb(starts.worker0.rss)} − ${mb(starts.main.rss)} MiB`, value: (starts.worker0.rss - starts.main.rss) / MiB },
        baseline: { name: "idle worker: (empty node + worker) − empty node", value: (starts.emptyWorker.rss - starts.empty.rss) / MiB },
        target: { max: (starts.emptyWorker.rss - starts.empty.rss) / MiB } }),
      figure({ id: "memory.start.warmup", title: "RSS the warm-up adds (4,000 echoes before listening): serve − serve --warmup 0", unit: "MB", better: "lower",
        ours: { name: `${mb(starts.worker.rss)} − ${mb(starts.worker0.rss)} MiB`, value: (starts.worker.rss - starts.worker0.rss) / MiB } }),
    ],
    notes: [
      startTable(subjects, starts),
      `inside a server like serve (this file with --probe): main mode: ${describeInside(inside.main)}; worker mode: ${describeInside(inside.worker)}`,
      `the whole core for ${CONNS} connections is ${(memoryBytesBig / 2 ** 20).toFixed(0)} MiB of linear memory (incl. a ${(1024 * 16384) / 2 ** 20} MiB chunk pool that init does not touch); per-connection rows exclude the pool and rings`,
      `baseline: ${SOCKETS} unconnected \`new net.Socket()\`, a lower bound for node:net (ANCHORS: ~4.6 KB RSS per held connection)`,
    ],
  };
});

// ── 4. a fresh process, its RSS by mapping ──────────────────────────────────────────────────
/** Starts cmd, waits for "listening on", settles 1 s, reads /proc/PID/smaps by row, stops it. */
async function startRss(cmd, wasmBytes) {
  const child = spawn(cmd[0], cmd.slice(1), { cwd: fileURLToPath(root), stdio: ["ignore", "pipe", "pipe"] });
  try {
    let out = "";
    child.stdout.setEncoding("utf8");
    child.stdout.on("data", (d) => { out += d; });
    const t0 = Date.now();
    while (!/^listening on /m.test(out)) {
      if (child.exitCode !== null) throw new Error(`${cmd.join(" ")} exited ${child.exitCode}: ${out}`);
      if (Date.now() - t0 > 15_000) throw new Error(`${cmd.join(" ")}: no "listening on" line in 15 s`);
      await sleep(20);
    }
    await sleep(1000);
    return smapsRows(readFileSync(`/proc/${child.pid}/smaps`, "utf8"), wasmBytes, realpathSync(cmd[0]));
  } finally {
    child.kill("SIGTERM");
    await Promise.race([new Promise((r) => child.once("exit", r)), sleep(3000)]);
    if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
  }
}

const ROWS = ["Wasm memory (the core)", "runtime code", "runtime data", "libraries", "malloc [heap]", "other anonymous (V8 heaps, JIT code, threads)"];
/** Rss of each mapping, summed by row. */
function smapsRows(text, wasmBytes, exe) {
  const rows = Object.fromEntries(ROWS.map((r) => [r, 0]));
  let row = null, rss = 0;
  for (const line of text.split("\n")) {
    const h = /^([0-9a-f]+)-([0-9a-f]+) (\S+) \S+ \S+ \S+\s*(.*)$/.exec(line);
    if (h) {
      const size = parseInt(h[2], 16) - parseInt(h[1], 16), name = h[4];
      row = name === exe ? (h[3].includes("x") ? ROWS[1] : ROWS[2]) : name === "[heap]" ? ROWS[4]
        : name.startsWith("/") ? ROWS[3] : !name && size === wasmBytes ? ROWS[0] : ROWS[5];
      continue;
    }
    const m = /^Rss:\s+(\d+) kB/.exec(line);
    if (m && row) { rows[row] += Number(m[1]) * 1024; rss += Number(m[1]) * 1024; }
  }
  return { rss, rows };
}

function startTable(subjects, starts) {
  const head = ["MiB at start", ...subjects.map((s) => s.name)];
  const rows = [...ROWS, "RSS"].map((r) => [r, ...subjects.map((s) => mb(r === "RSS" ? starts[s.key].rss : starts[s.key].rows[r]))]);
  const w = head.map((h, i) => Math.max(h.length, ...rows.map((x) => String(x[i]).length)));
  const line = (cells) => cells.map((c, i) => String(c).padEnd(w[i])).join(" | ");
  return "where each megabyte goes at start (/proc/PID/smaps, 1 s after `listening on`, the lower of two rounds)\n" +
    [line(head), w.map((x) => "-".repeat(x)).join("-|-"), ...rows.map(line)].map((l) => `    ${l}`).join("\n");
}

// ── 5. inside a server like serve ───────────────────────────────────────────────────────────
function probeChild(mode) {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [fileURLToPath(import.meta.url), "--probe", mode], { cwd: fileURLToPath(root), stdio: ["ignore", "pipe", "inherit"] });
    let out = "";
    child.stdout.setEncoding("utf8");
    child.stdout.on("data", (d) => { out += d; });
    child.on("exit", (code) => { try { resolve(JSON.parse(out.trim().split("\n").pop())); } catch { reject(new Error(`probe ${mode} exited ${code}: ${out}`)); } });
  });
}

function describeInside(x) {
  const heaps = x.heaps.map((h) => `${h.isolate} isolate V8 heap ${mb(h.physical)} MiB (${mb(h.used)} used)`).join(", ");
  const w = x.wasm;
  return `${heaps}; Wasm memory ${mb(w.resident)} of ${mb(w.size)} MiB resident: header, metrics and rings ${mb(w.rings)}, slots and timer nodes ${mb(w.slots)}, chunk metadata ${mb(w.meta)}, pool ${mb(w.pool)} (${w.poolPages} pages of ${w.poolChunks} chunks touched)`;
}

/** The Wasm memory's resident bytes per region, from /proc/self/pagemap (bit 63: present). */
function wasmResidency(size, regions, chunkSize) {
  const map = readFileSync("/proc/self/smaps", "utf8").split("\n").map((l) => /^([0-9a-f]+)-([0-9a-f]+) \S+ \S+ \S+ \S+\s*$/.exec(l)).filter(Boolean)
    .find((h) => parseInt(h[2], 16) - parseInt(h[1], 16) === size);
  if (!map) throw new Error(`no anonymous mapping of ${size} bytes in /proc/self/smaps`);
  const base = parseInt(map[1], 16), pages = size / 4096;
  const buf = Buffer.alloc(pages * 8);
  const fd = openSync("/proc/self/pagemap", "r");
  try { readSync(fd, buf, 0, buf.length, (base / 4096) * 8); } finally { closeSync(fd); }
  const present = (p) => (buf.readUInt32LE(p * 8 + 4) & 0x80000000) !== 0;
  const sum = (from, to) => { let n = 0; for (let p = Math.floor(from / 4096); p < Math.ceil(to / 4096); p++) if (present(p)) n++; return n * 4096; };
  return {
    size, resident: sum(0, size), rings: sum(0, regions.slotsOff), slots: sum(regions.slotsOff, regions.wheelOff),
    meta: sum(regions.wheelOff, regions.chunkDataOff), pool: sum(regions.chunkDataOff, size),
    poolPages: sum(regions.chunkDataOff, size) / 4096, poolChunks: (regions.endOff - regions.chunkDataOff) / chunkSize,
  };
}

const heapOf = (isolate) => { const h = v8.getHeapStatistics(); return { isolate, physical: h.total_physical_size, used: h.used_heap_size, malloced: h.malloced_memory }; };

/** Worker side of the worker probe: serve's setup (warm-up, echo listener), then stats on request. */
export async function probeSetup(reactor, ctx) {
  const { warmUp } = await import(new URL("dist/index.js", root).href);
  warmUp(reactor, 4000);
  reactor.listen({ host: "127.0.0.1", port: 0 }, { data(c, d) { if (c.writable) c.write(d); } });
  ctx.onMessage(() => ctx.post({ heap: heapOf("worker"), size: reactor.core.memory.buffer.byteLength, regions: reactor.core.regions, chunkSize: reactor.options.chunkSize }));
}

async function probe(mode) {
  const lib = await import(new URL("dist/index.js", root).href);
  let out;
  if (mode === "main") {
    const r = await lib.Reactor.create({ ...SERVE_OPTIONS, wait: "thread" });
    r.listen({ host: "127.0.0.1", port: 0 }, { data(c, d) { if (c.writable) c.write(d); } });
    void r.run();
    await sleep(1000);
    out = { heaps: [heapOf("main")], wasm: wasmResidency(r.core.memory.buffer.byteLength, r.core.regions, r.options.chunkSize) };
    await r.close({ drainMs: 0 });
  } else {
    let got;
    const g = await lib.startWorkers({ module: new URL(import.meta.url), export: "probeSetup", options: SERVE_OPTIONS, onMessage: (m) => { got = m; } });
    await sleep(1000);
    g.post("stats");
    while (!got) await sleep(10);
    out = { heaps: [heapOf("main"), got.heap], wasm: wasmResidency(got.size, got.regions, got.chunkSize) };
    await g.close({ drainMs: 0 });
  }
  console.log(JSON.stringify(out));
  process.exit(0);
}

if (probing) await probe(process.argv[process.argv.indexOf("--probe") + 1]);
