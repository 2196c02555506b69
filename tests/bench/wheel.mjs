// Timing wheel benchmark: the core's wheel (assembly/wheel.ts) with 1,000,000 pending timers
// against a JS binary heap on typed arrays (heap.mjs) and Node's own setTimeout/clearTimeout.
//
// How it works:
//   1. One release core with slotCap 1 and appTimerCap N: the wheel then has 2·1 + N nodes and
//      we drive nodes 0..N-1 through the t_wheel* test exports (the wheel's own functions,
//      nothing of the turn around them). The core's clock stays at 0 during churn.
//   2. Fill: every implementation gets N pending timers, deadlines uniform in 1..SPAN_MS.
//   3. Churn (ANCHORS.md): cancel a random pending timer, arm a new one 1..SPAN_MS ahead; one
//      cancel + one arm is a "pair". Never arm-then-cancel of the same timer (flatters a heap).
//      The wheel runs it twice: per operation from JS (t_wheelCancel + t_wheelArmF, two
//      JS→Wasm calls per pair) and in the core (t_wheelChurn, as the core drives its wheel).
//      setTimeout's new timers get a delay of 1 h + 1..SPAN_MS so nothing fires meanwhile.
//      All random choices: xorshift32, the same generator t_wheelChurn uses.
//   4. Expiry: empty each structure, arm N timers uniform over SPAN_MS, then step the clock
//      1 ms at a time through the span popping everything due (wheel: t_wheelAdvanceF with a
//      budget of EXPIRY_BUDGET per call, then t_wheelPopDue until empty). Only the draining
//      is timed. setTimeout cannot be stepped: its N timers are spread over ST_SPAN_MS, we
//      busy-wait until all are overdue and time how fast the event loop fires them all, its
//      best case (one processTimers pass, no idle waiting).
//   5. Every measurement runs `rounds` times (default 3), implementations alternating with
//      the order rotated each round; each figure is the median. Warm-up first: Wasm starts in
//      Liftoff and tiers up to TurboFan in the background; a long call never switches tier.
//   6. Memory per timer: wheel from the layout (timer node bytes per node, plus the fixed
//      wheel heads amortised); heap from its typed arrays (and the arrayBuffers delta as a
//      check); setTimeout as the heapUsed growth (after full GCs) for N pending / N,
//      including the JS array that holds the Timeout objects (8 B each), as an app would.
//   7. Diagnostics (notes and `extra`, not figures): the JS→Wasm call cost, the per-op churn
//      loop with trivial calls instead of the wheel's, and expiry with nodes in memory order;
//      docs/benchmarks.md explains how to read them.
import { runBench, rate, median, fullGc, sleep, figure, loadHost, benchConfig, benchHooks } from "./lib.mjs";
import { TimerHeap } from "./heap.mjs";

const SPAN_MS = 60_000;            // deadlines of pending timers: 1..60 s ahead (idle timeouts)
const ST_DELAY_FLOOR_MS = 3_600_000; // setTimeout churn: 1 h + span, so no timer fires during churn
const EXPIRY_BUDGET = 1024;        // expiries per wheelAdvance call, as Config.expiriesPerTurn
const TARGET_RATIO = 5;            // ours ≥ 5x each baseline (brief)
const NONE = -1;                   // NONE (0xffffffff) as the i32 the Wasm export returns

/**
 * Untimed fills: `count` deadlines 1..span from an xorshift32 stream seeded with `seed`, handed
 * to put(i, deadline). (The timed churn loops inline the same xorshift: a call there would be
 * measured too.)
 */
function spread(count, seed, span, put) {
  let x = seed;
  for (let i = 0; i < count; i++) { x ^= x << 13; x ^= x >>> 17; x ^= x << 5; put(i, 1 + (x >>> 0) % span); }
}

runBench("wheel", async (ctx) => {
  const N = ctx.quick ? 100_000 : 1_000_000;
  const windowMs = ctx.quick ? 100 : 1000;       // churn: timed window per implementation per round
  const warmMs = ctx.quick ? 50 : 250;
  const ST_SPAN_MS = ctx.quick ? 200 : 1000;     // setTimeout expiry: delays 1..ST_SPAN_MS
  const ST_EXPIRY_N = N;
  const { rounds, log } = ctx;

  // ── the three implementations ─────────────────────────────────────────────────────────
  const { Core } = await loadHost();
  const caps = { slotCap: 1, appTimerCap: N, chunkSize: 1024, chunkCount: 32, eventCap: 64, submitCap: 128, noteCap: 128, supplyCap: 32 };
  const core = await Core.create("release", caps, benchConfig, benchHooks);
  const e = core.exports;
  const wheelNodes = 2 * caps.slotCap + caps.appTimerCap;
  const r = core.regions;
  const wheelBytesPerTimer = (r.wheelOff - r.timersOff) / wheelNodes + (r.chunkMetaOff - r.wheelOff) / N;
  const heap = new TimerHeap(N);
  let timers = new Array(N); // setTimeout's Timeout objects, by timer id

  const noop = () => {};
  let xw = 0x2545f491, xh = 0x2545f491, xs = 0x2545f491, xc = 0x2545f491;

  // fill: N pending timers, deadlines 1..SPAN_MS (the wheel's clock is 0)
  {
    const arm = e.t_wheelArmF;
    spread(N, 12345, SPAN_MS, (i, d) => arm(i, d));
    spread(N, 12345, SPAN_MS, (i, d) => heap.push(i, d));
  }
  fullGc();
  const heapUsed0 = process.memoryUsage().heapUsed;
  {
    spread(N, 12345, SPAN_MS, (i, d) => { timers[i] = setTimeout(noop, ST_DELAY_FLOOR_MS + d).unref(); });
  }
  fullGc();
  const stBytesPerTimer = (process.memoryUsage().heapUsed - heapUsed0) / N;
  log(`${N} timers pending in each; setTimeout heap growth ${stBytesPerTimer.toFixed(0)} B/timer`);

  // ── churn: cancel a random pending timer, arm a new one ───────────────────────────────
  const churn = {
    "wheel, JS→Wasm per op": (ops) => {
      const cancel = e.t_wheelCancel, arm = e.t_wheelArmF;
      let x = xw;
      for (let k = 0; k < ops; k++) {
        x ^= x << 13; x ^= x >>> 17; x ^= x << 5;
        const n = (x >>> 0) % N;
        cancel(n);
        x ^= x << 13; x ^= x >>> 17; x ^= x << 5;
        arm(n, 1 + (x >>> 0) % SPAN_MS);
      }
      xw = x;
    },
    "wheel, in-core loop": (ops) => { xc = e.t_wheelChurn(N, ops, 0, SPAN_MS, xc) >>> 0; },
    "JS heap": (ops) => {
      let x = xh;
      for (let k = 0; k < ops; k++) {
        x ^= x << 13; x ^= x >>> 17; x ^= x << 5;
        const n = (x >>> 0) % N;
        heap.cancel(n);
        x ^= x << 13; x ^= x >>> 17; x ^= x << 5;
        heap.push(n, 1 + (x >>> 0) % SPAN_MS);
      }
      xh = x;
    },
    "setTimeout": (ops) => {
      let x = xs;
      for (let k = 0; k < ops; k++) {
        x ^= x << 13; x ^= x >>> 17; x ^= x << 5;
        const n = (x >>> 0) % N;
        clearTimeout(timers[n]);
        x ^= x << 13; x ^= x >>> 17; x ^= x << 5;
        timers[n] = setTimeout(noop, ST_DELAY_FLOOR_MS + 1 + (x >>> 0) % SPAN_MS).unref();
      }
      xs = x;
    },
  };
  const churnBatch = { "wheel, JS→Wasm per op": 100_000, "wheel, in-core loop": 250_000, "JS heap": 50_000, "setTimeout": 10_000 };
  const names = Object.keys(churn);
  // Warm-up: optimise the JS loops; let the Wasm export tier up (short calls, pauses between).
  for (let i = 0; i < 5; i++) { churn["wheel, in-core loop"](20_000); await sleep(20); }
  for (const name of names) rate(churn[name], churnBatch[name], warmMs);
  await sleep(20);
  const churnSamples = Object.fromEntries(names.map((n) => [n, []]));
  for (let round = 0; round < rounds; round++) {
    for (let j = 0; j < names.length; j++) {
      const name = names[(j + round) % names.length];
      churnSamples[name].push(rate(churn[name], churnBatch[name], windowMs));
    }
    log(`churn round ${round + 1}: ${names.map((n) => `${n} ${(churnSamples[n][round] / 1e6).toFixed(2)}M/s`).join(", ")}`);
  }
  if (e.t_wheelPending() !== N || e.t_wheelCheck() !== 0) throw new Error(`wheel broken after churn: pending ${e.t_wheelPending()}, check ${e.t_wheelCheck()}`);
  if (heap.size !== N || heap.check() !== 0) throw new Error(`heap broken after churn: size ${heap.size}, check ${heap.check()}`);

  // ── expiry: arm N over SPAN_MS, step the clock through, pop everything ─────────────────
  for (let i = 0; i < N; i++) { e.t_wheelCancel(i); clearTimeout(timers[i]); }
  heap.clear();
  timers = null;
  fullGc();

  /** Returns timers popped per second while draining (the fill is not timed). */
  const wheelExpiry = (count, seed) => {
    const arm = e.t_wheelArmF, advance = e.t_wheelAdvanceF, pop = e.t_wheelPopDue;
    const start = Number(e.t_wheelElapsed());
    spread(count, seed, SPAN_MS, (i, d) => arm(i, start + d));
    const t0 = performance.now();
    let popped = 0;
    for (let now = start + 1; now <= start + SPAN_MS; now++) {
      for (;;) {
        const caughtUp = advance(now, EXPIRY_BUDGET);
        while (pop() !== NONE) popped++;
        if (caughtUp) break;
      }
    }
    const dt = performance.now() - t0;
    if (popped !== count || e.t_wheelPending() !== 0) throw new Error(`wheel expiry: popped ${popped} of ${count}, ${e.t_wheelPending()} pending`);
    return (popped * 1000) / dt;
  };
  /**
   * The same case as setTimeout's: `count` timers spread over ST_SPAN_MS, the clock jumps past
   * them all at once, then they are drained a turn's budget at a time (advance, pop the due).
   */
  const wheelExpiryOverdue = (count, seed) => {
    const arm = e.t_wheelArmF, advance = e.t_wheelAdvanceF, pop = e.t_wheelPopDue;
    const start = Number(e.t_wheelElapsed());
    spread(count, seed, ST_SPAN_MS, (i, d) => arm(i, start + d));
    const t0 = performance.now();
    let popped = 0;
    const now = start + ST_SPAN_MS + 2;
    for (;;) {
      const caughtUp = advance(now, EXPIRY_BUDGET);
      while (pop() !== NONE) popped++;
      if (caughtUp) break;
    }
    const dt = performance.now() - t0;
    if (popped !== count || e.t_wheelPending() !== 0) throw new Error(`wheel overdue expiry: popped ${popped} of ${count}, ${e.t_wheelPending()} pending`);
    return (popped * 1000) / dt;
  };
  const heapExpiry = (count, seed) => {
    spread(count, seed, SPAN_MS, (i, d) => heap.push(i, d));
    const t0 = performance.now();
    let popped = 0;
    for (let now = 1; now <= SPAN_MS; now++) {
      while (heap.size > 0 && heap.keys[0] <= now) { heap.pop(); popped++; }
    }
    const dt = performance.now() - t0;
    if (popped !== count) throw new Error(`heap expiry: popped ${popped} of ${count}`);
    return (popped * 1000) / dt;
  };
  const setTimeoutExpiry = async (count, seed) => {
    let fired = 0, tEnd = 0, done;
    const allFired = new Promise((resolve) => (done = resolve));
    const cb = () => { if (++fired === count) { tEnd = performance.now(); done(); } };
    spread(count, seed, ST_SPAN_MS, (_i, d) => setTimeout(cb, d).unref());
    // Node stamps each timer with the loop time refreshed at arming: wait until the last one armed is overdue.
    const tArmed = performance.now();
    const guard = setTimeout(() => done(), 30_000); // ref'd: keeps the loop alive, bounds the wait
    while (performance.now() < tArmed + ST_SPAN_MS + 2) { /* busy: no timer may fire before we start the clock */ }
    const t0 = performance.now();
    await allFired;
    clearTimeout(guard);
    if (fired !== count) throw new Error(`setTimeout expiry: ${fired} of ${count} fired within 30 s`);
    return (count * 1000) / (tEnd - t0);
  };

  wheelExpiry(N >> 3, 99); heapExpiry(N >> 3, 99); wheelExpiryOverdue(N >> 3, 99); // warm-up
  await setTimeoutExpiry(N >> 4, 99);
  const expiry = { wheel: [], "JS heap": [], setTimeout: [], "wheel, all overdue": [] };
  const expiryOrder = Object.keys(expiry);
  for (let round = 0; round < rounds; round++) {
    for (let j = 0; j < expiryOrder.length; j++) {
      const name = expiryOrder[(j + round) % expiryOrder.length];
      const seed = 1000 + round;
      if (name === "wheel") expiry.wheel.push(wheelExpiry(N, seed));
      else if (name === "wheel, all overdue") expiry["wheel, all overdue"].push(wheelExpiryOverdue(ST_EXPIRY_N, seed));
      else if (name === "JS heap") expiry["JS heap"].push(heapExpiry(N, seed));
      else { expiry.setTimeout.push(await setTimeoutExpiry(ST_EXPIRY_N, seed)); fullGc(); }
    }
    log(`expiry round ${round + 1}: ${expiryOrder.map((n) => `${n} ${(expiry[n][round] / 1e6).toFixed(2)}M/s`).join(", ")}`);
  }

  // ── diagnostics (one round, not figures): what bounds the wheel ──────────────────────
  // (a) the JS→Wasm boundary alone: a trivial export (t_histIndex: a clz and a shift) per op;
  // (b) expiry with node index order = deadline order, so each bucket list is walked in
  //     memory order: the gap to the random case is the cost of cache misses chasing links;
  // (c) the per-op churn loop with both wheel calls replaced by that trivial export: the JS
  //     side's own cost, a ceiling on what any structure behind the boundary could reach per op.
  //     Results feed a sink so that nothing is dead code.
  const trivial = e.t_histIndex;
  let sink = 0;
  const callsPerS = rate((ops) => { let a = 0; for (let k = 0; k < ops; k++) a += trivial(k); sink += a; }, 100_000, windowMs / 4);
  let xf = 1;
  const floorPairsPerS = rate((ops) => {
    let x = xf, a = 0;
    for (let k = 0; k < ops; k++) {
      x ^= x << 13; x ^= x >>> 17; x ^= x << 5;
      a += trivial((x >>> 0) % N);
      x ^= x << 13; x ^= x >>> 17; x ^= x << 5;
      a += trivial(1 + (x >>> 0) % SPAN_MS);
    }
    xf = x; sink += a;
  }, 100_000, windowMs / 4);
  if (sink === 0.5) log("unreachable");
  const sequentialExpiry = (structure) => {
    const start = structure === "wheel" ? Number(e.t_wheelElapsed()) : 0;
    for (let i = 0; i < N; i++) {
      const when = start + 1 + Math.floor((i * SPAN_MS) / N);
      if (structure === "wheel") e.t_wheelArmF(i, when); else heap.push(i, when);
    }
    const t0 = performance.now();
    let popped = 0;
    for (let now = start + 1; now <= start + SPAN_MS; now++) {
      if (structure === "wheel") {
        for (;;) { const caughtUp = e.t_wheelAdvanceF(now, EXPIRY_BUDGET); while (e.t_wheelPopDue() !== NONE) popped++; if (caughtUp) break; }
      } else {
        while (heap.size > 0 && heap.keys[0] <= now) { heap.pop(); popped++; }
      }
    }
    if (popped !== N) throw new Error(`${structure} sequential expiry: popped ${popped} of ${N}`);
    return (popped * 1000) / (performance.now() - t0);
  };
  sequentialExpiry("wheel"); sequentialExpiry("heap");
  const seqWheel = sequentialExpiry("wheel"), seqHeap = sequentialExpiry("heap");
  log(`diagnostics: JS→Wasm call ${(1e9 / callsPerS).toFixed(1)} ns; per-op churn loop with no-op calls ${(floorPairsPerS / 1e6).toFixed(2)}M pairs/s; expiry in memory order: wheel ${(seqWheel / 1e6).toFixed(2)}M/s, heap ${(seqHeap / 1e6).toFixed(2)}M/s`);

  // heap memory, measured: a fresh heap's typed arrays, as seen by the process
  fullGc();
  const ab0 = process.memoryUsage().arrayBuffers;
  const probe = new TimerHeap(N);
  const heapMeasured = (process.memoryUsage().arrayBuffers - ab0) / N;
  const heapBytesPerTimer = probe.bytesPerTimer;

  // ── figures ───────────────────────────────────────────────────────────────────────────
  const m = (xs) => median(xs);
  const v = (name, samples) => ({ name, value: m(samples), samples: samples.map(Math.round) });
  const T = { ratioMin: TARGET_RATIO };
  const cW = churnSamples["wheel, JS→Wasm per op"], cC = churnSamples["wheel, in-core loop"];
  const cH = churnSamples["JS heap"], cS = churnSamples.setTimeout;
  const figures = [
    figure({ id: "wheel.churn.js.heap", title: "churn, 1M pending, JS→Wasm per op", unit: "pairs/s", ours: v("wheel", cW), baseline: v("JS heap", cH), target: T }),
    figure({ id: "wheel.churn.js.setTimeout", title: "churn, 1M pending, JS→Wasm per op", unit: "pairs/s", ours: v("wheel", cW), baseline: v("setTimeout", cS), target: T }),
    figure({ id: "wheel.churn.core.heap", title: "churn, 1M pending, in-core loop", unit: "pairs/s", ours: v("wheel", cC), baseline: v("JS heap", cH), target: T }),
    figure({ id: "wheel.churn.core.setTimeout", title: "churn, 1M pending, in-core loop", unit: "pairs/s", ours: v("wheel", cC), baseline: v("setTimeout", cS), target: T }),
    figure({ id: "wheel.expiry.heap", title: "expiry, 1M over 60 s, 1 ms steps", unit: "timers/s", ours: v("wheel", expiry.wheel), baseline: v("JS heap", expiry["JS heap"]), target: T }),
    figure({ id: "wheel.expiry.setTimeout", title: "expiry, 1M over 1 s, all overdue at once", unit: "timers/s", ours: v("wheel", expiry["wheel, all overdue"]), baseline: v("setTimeout", expiry.setTimeout), target: T }),
    figure({ id: "wheel.memory.heap", title: "memory per pending timer", unit: "B", better: "lower", ours: { name: "wheel, layout", value: wheelBytesPerTimer }, baseline: { name: "JS heap, typed arrays", value: heapBytesPerTimer } }),
    figure({ id: "wheel.memory.setTimeout", title: "memory per pending timer", unit: "B", better: "lower", ours: { name: "wheel, layout", value: wheelBytesPerTimer }, baseline: { name: "setTimeout, heapUsed Δ", value: stBytesPerTimer } }),
  ];
  if (N !== 1_000_000) for (const f of figures) f.title = f.title.replace("1M", `${N / 1000}k`);
  return {
    params: { timers: N, spanMs: SPAN_MS, windowMs, rounds, expiryBudget: EXPIRY_BUDGET, setTimeoutExpiryTimers: ST_EXPIRY_N, setTimeoutExpirySpanMs: ST_SPAN_MS, wheelNodes, caps },
    extra: { jsToWasmCallNs: 1e9 / callsPerS, churnJsFloorPairsPerS: floorPairsPerS, expirySequentialWheel: seqWheel, expirySequentialHeap: seqHeap, heapBytesPerTimerMeasured: heapMeasured, wheelNodeBytes: (r.wheelOff - r.timersOff) / wheelNodes, wheelFixedBytes: r.chunkMetaOff - r.wheelOff },
    figures,
    notes: [
      `slotCap 1 + appTimerCap ${N} → ${wheelNodes} nodes, nodes 0..${N - 1} used; deadlines 1..${SPAN_MS} ms; xorshift32 everywhere`,
      `expiry vs setTimeout: ${ST_EXPIRY_N} timers spread over ${ST_SPAN_MS} ms, all overdue when the loop resumes (setTimeout's best case: one processTimers pass); the wheel gets the same case: one clock jump, drained ${EXPIRY_BUDGET} a turn. Expiry vs the heap: both step the clock 1 ms at a time over ${SPAN_MS} ms`,
      `diagnostic: a JS→Wasm call costs ${(1e9 / callsPerS).toFixed(1)} ns; the per-op churn loop with no-op calls runs ${(floorPairsPerS / 1e6).toFixed(1)}M pairs/s, so per op no structure can beat the heap by more than ${(floorPairsPerS / median(cH)).toFixed(1)}x here; expiry with node order = deadline order: wheel ${(seqWheel / 1e6).toFixed(1)}M/s, heap ${(seqHeap / 1e6).toFixed(1)}M/s (random order: the expiry rows above)`,
      `heap memory: ${heapBytesPerTimer} B/timer computed from its typed arrays, ${heapMeasured.toFixed(1)} B measured (arrayBuffers Δ); setTimeout: heapUsed Δ includes the 8 B array slot per timer`,
    ],
  };
});
