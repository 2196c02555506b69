// Memory per connection at 1,000,000 simulated connections: what the core's layout needs and
// what creating such a core really touches.
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
//   Target: ≤ 128 B per connection (brief), for the layout and for the measured RSS.
import net from "node:net";
import { runBench, figure, fullGc, loadHost, benchConfig, benchHooks, root } from "./lib.mjs";

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

runBench("memory", async (ctx) => {
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

  const T = { max: TARGET_BYTES };
  const k = CONNS === 1_000_000 ? "1M" : `${CONNS / 1000}k`;
  return {
    params: { connections: CONNS, sockets: SOCKETS, caps: caps(CONNS) },
    extra: {
      bytesPerConnection: layout.BYTES_PER_CONNECTION, slotBytes: layout.Slot_BYTES, timerNodeBytes: layout.TimerNode_BYTES,
      regions: big, memoryBytes: memoryBytesBig, rssGrowthSmall: growthSmall, rssGrowthBig: growthBig,
      socketHeapBytes: socketHeap, socketRssBytes: socketRss,
    },
    figures: [
      figure({ id: "memory.layout", title: `layout: slots + timer nodes at ${k} conns`, unit: "B", better: "lower",
        ours: { name: `per conn, BYTES_PER_CONNECTION ${layout.BYTES_PER_CONNECTION}`, value: layoutPerConn },
        baseline: { name: "net.Socket JS heap", value: socketHeap }, target: T }),
      figure({ id: "memory.rss", title: `RSS touched by init, ${k} vs 1 slot`, unit: "B", better: "lower",
        ours: { name: "per conn, measured", value: rssPerConn },
        baseline: { name: "net.Socket RSS", value: socketRss }, target: T }),
    ],
    notes: [
      `the whole core for ${CONNS} connections is ${(memoryBytesBig / 2 ** 20).toFixed(0)} MiB of linear memory (incl. a ${(1024 * 16384) / 2 ** 20} MiB chunk pool that init does not touch); per-connection rows exclude the pool and rings`,
      `baseline: ${SOCKETS} unconnected \`new net.Socket()\`, a lower bound for node:net (ANCHORS: ~4.6 KB RSS per held connection)`,
    ],
  };
});
