// What the assertion policy costs (docs/assertions.md): the release core, which keeps its O(1)
// memory-safety assertions, against the same core with every assertion compiled out, in one
// process, side by side.
//
//   node --expose-gc tests/bench/asserts.mjs [--quick] [--rounds N]     (after npm run build)
//
// How it works:
//   1. The variant without assertions is asconfig.json's target "unchecked" (release plus
//      noAssert), built here into build/core.unchecked.wasm when it is missing or older than
//      assembly/. A copy of dist/index.js in build/bench-unchecked/ gets it as its
//      core.release.wasm, so the same library is loaded twice: "policy" (dist/) and "unchecked".
//   2. sim echo, as sim.mjs: an echo server on the simulated host and N clients playing 64-byte
//      ping-pong, N = 1,000 and 10,000. The simulator is seeded and the core deterministic, so
//      both variants run the very same turns: they step in lockstep (order alternating), and
//      each turn's time inside ingest()+flush(), and for the whole turn, is compared with its
//      twin's. ratio = the median over turns of twin time ÷ policy time (robust to the turns a
//      busy machine preempts); values = events per turn ÷ the median turn time.
//   3. In-core microbenchmarks, loops that run inside the core with no JS in between:
//      t_wheelChurn (cancel and re-arm a random timer among 100,000 pending: timer node bounds,
//      the bucket check) and t_poolChurn (acquire, hand over, release: chunk bounds and the
//      one-owner checks, three per chunk).
//   4. The in-core loops run in short windows back to back (8 pairs per round, order
//      alternating), counting CPU time; ratio = the median of the pairs' policy ÷ unchecked.
//   1.00 means the checks are free; the target allows them 5%.
import { execFileSync } from "node:child_process";
import { copyFileSync, existsSync, mkdirSync, readdirSync, statSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { runBench, rate, figure, root } from "./lib.mjs";

const rootPath = fileURLToPath(root);
const WHEEL_TIMERS = 100_000;
const SPAN_MS = 60_000;

/** Builds the core without assertions when needed; returns the two libraries to compare. */
async function variants() {
  const out = `${rootPath}build/core.unchecked.wasm`;
  const newest = Math.max(...readdirSync(`${rootPath}assembly`).map((f) => statSync(`${rootPath}assembly/${f}`).mtimeMs), statSync(`${rootPath}asconfig.json`).mtimeMs);
  if (!existsSync(out) || statSync(out).mtimeMs < newest) {
    execFileSync(process.execPath, [`${rootPath}node_modules/assemblyscript/bin/asc.js`, "--config", "asconfig.json", "--target", "unchecked"], { cwd: rootPath, stdio: "inherit" });
  }
  if (!existsSync(`${rootPath}dist/index.js`)) throw new Error("dist/index.js is missing: run `node tools/build.mjs --no-types` first");
  const dir = `${rootPath}build/bench-unchecked/`;
  mkdirSync(dir, { recursive: true });
  copyFileSync(`${rootPath}dist/index.js`, `${dir}index.js`);
  copyFileSync(out, `${dir}core.release.wasm`);
  return {
    policy: await import(new URL("dist/index.js", root).href),
    unchecked: await import(new URL("build/bench-unchecked/index.js", root).href),
  };
}

/** A sim echo server with `conns` clients, warmed up; step() runs one turn and returns [ms inside ingest+flush, ms for the whole turn]. */
async function simEcho(Reactor, conns, seed) {
  const r = await Reactor.create({ host: "sim", build: "release", seed, maxConnections: conns + 16, poolChunks: Math.max(1024, conns), chunkSize: 4096, log: () => {} });
  const e = r.core.exports;
  let coreMs = 0;
  const ingest = e.ingest, flush = e.flush;
  e.ingest = () => { const t = performance.now(); const v = ingest(); coreMs += performance.now() - t; return v; };
  e.flush = () => { const t = performance.now(); const v = flush(); coreMs += performance.now() - t; return v; };
  r.listen({ port: 7, backlog: 65535 }, { data(c, d) { c.write(d); } });
  const ping = new Uint8Array(64).fill(42);
  for (let i = 0; i < conns; i++) {
    const p = r.sim.connect(7);
    let got = 0;
    p.ondata = (b, peer) => { got += b.length; while (got >= 64) { got -= 64; peer.send(ping); } };
    p.send(ping);
  }
  r.runUntil(() => r.metrics().connections === conns, { maxTurns: 100_000 });
  for (let i = 0; i < 500; i++) r.step(0);
  return {
    step() { coreMs = 0; const t0 = performance.now(); r.step(0); return [coreMs, performance.now() - t0]; },
    events: () => r.metrics().eventsIn,
  };
}

/** The in-core loops over a reactor that is never stepped (its wheel and pool are ours here): ops per CPU second. */
async function inCore(Reactor) {
  const r = await Reactor.create({ host: "sim", build: "release", seed: 1, maxConnections: WHEEL_TIMERS / 2, poolChunks: 1024, chunkSize: 4096, log: () => {} });
  const e = r.core.exports;
  let x = 0x9e3779b9;
  for (let n = 0; n < WHEEL_TIMERS; n++) { x ^= x << 13; x ^= x >>> 17; x ^= x << 5; e.t_wheelArmF(n, 1 + ((x >>> 0) % SPAN_MS)); }
  let seed = 7;
  const cpuRate = (batch, n, ms) => {
    const c0 = process.cpuUsage(), t0 = performance.now();
    let ops = 0;
    do { batch(n); ops += n; } while (performance.now() - t0 < ms);
    const c = process.cpuUsage(c0);
    return (ops * 1e6) / (c.user + c.system);
  };
  return {
    wheel: (ms) => cpuRate((ops) => { seed = e.t_wheelChurn(WHEEL_TIMERS, ops, 0, SPAN_MS, seed) >>> 0 || 7; }, 50_000, ms),
    pool: (ms) => cpuRate((ops) => { e.t_poolChurn(ops); }, 200_000, ms),
  };
}

runBench("asserts", async (ctx) => {
  const libs = await variants();
  const names = ["policy", "unchecked"];
  const med = (xs) => { const v = [...xs].sort((a, b) => a - b); return v.length % 2 ? v[v.length >> 1] : (v[v.length / 2 - 1] + v[v.length / 2]) / 2; };
  // In-core loops: short windows, the two variants back to back in alternating order (on a shared
  // machine the load drifts, and a pair sees about the same).
  const pairs = ctx.quick ? 4 : 8 * ctx.rounds;
  const windowMs = ctx.quick ? 50 : 125;
  const samples = {};
  const add = (key, name, v) => ((samples[key] ??= { policy: [], unchecked: [] })[name].push(v));
  const measure = (keys, runs) => {
    for (let k = 0; k < pairs; k++) {
      for (const name of k % 2 ? [...names].reverse() : names) {
        const got = runs[name]();
        for (const key of keys) add(key.id, name, got[key.field]);
      }
    }
  };
  // The simulator is seeded and the core deterministic: both variants run the same turns, event
  // for event. They step in lockstep, and each turn's times are compared with its twin's.
  const turns = {};
  for (const conns of ctx.quick ? [1000] : [1000, 10_000]) {
    const sims = { policy: await simEcho(libs.policy.Reactor, conns, 1), unchecked: await simEcho(libs.unchecked.Reactor, conns, 1) };
    const n = Math.round((ctx.quick ? 300 : 1500 * ctx.rounds) * (1000 / conns));
    const t = (turns[conns] = { core: { policy: [], unchecked: [] }, loop: { policy: [], unchecked: [] }, events: 0 });
    for (let k = 0; k < n; k++) {
      const before = sims.policy.events();
      for (const name of k % 2 ? [...names].reverse() : names) {
        const [core, loop] = sims[name].step();
        t.core[name].push(core); t.loop[name].push(loop);
      }
      t.events += sims.policy.events() - before;
    }
    if (sims.policy.events() !== sims.unchecked.events()) throw new Error(`the variants diverged: ${sims.policy.events()} vs ${sims.unchecked.events()} events`);
    ctx.log?.(`sim ${conns}: ${n} turns each, ${t.events} events`);
  }
  const loops = { policy: await inCore(libs.policy.Reactor), unchecked: await inCore(libs.unchecked.Reactor) };
  measure([{ id: "wheel", field: "wheel" }], { policy: () => ({ wheel: loops.policy.wheel(windowMs) }), unchecked: () => ({ wheel: loops.unchecked.wheel(windowMs) }) });
  measure([{ id: "pool", field: "pool" }], { policy: () => ({ pool: loops.policy.pool(windowMs) }), unchecked: () => ({ pool: loops.unchecked.pool(windowMs) }) });
  const titles = {
    "core.1000": ["sim echo 1,000 conns: events/s inside ingest+flush", "ev/s"],
    "loop.1000": ["sim echo 1,000 conns: events/s, whole loop", "ev/s"],
    "core.10000": ["sim echo 10,000 conns: events/s inside ingest+flush", "ev/s"],
    "loop.10000": ["sim echo 10,000 conns: events/s, whole loop", "ev/s"],
    wheel: [`wheel churn in the core, ${WHEEL_TIMERS.toLocaleString("en-US")} pending: cancel+arm per CPU s`, "op/s"],
    pool: ["pool churn in the core: acquire+handOver+release per CPU s", "op/s"],
  };
  const fig = (key, policy, unchecked, ratio, note) => {
    const f = figure({
      id: `asserts.${key}`, title: titles[key][0], unit: titles[key][1],
      ours: { name: "release, policy", value: policy }, baseline: { name: "release, no asserts", value: unchecked },
      target: { ratioMin: 0.95 }, note,
    });
    f.ratio = ratio;
    f.result = ratio >= 0.95 ? "PASS" : "MISS";
    return f;
  };
  const figures = [];
  for (const [conns, t] of Object.entries(turns)) {
    const perTurn = t.events / t.core.policy.length;
    for (const part of ["core", "loop"]) {
      const [p, u] = [t[part].policy, t[part].unchecked];
      // Throughput ratio = the twin turn's time ÷ this one's, the median over turns (a preempted turn is one outlier).
      figures.push(fig(`${part}.${conns}`, (perTurn * 1000) / med(p), (perTurn * 1000) / med(u), med(p.map((x, i) => u[i] / x)),
        "values: mean events per turn ÷ median turn time; ratio: median over twin turns"));
    }
  }
  for (const key of ["wheel", "pool"]) {
    const s = samples[key];
    figures.push(fig(key, med(s.policy), med(s.unchecked), med(s.policy.map((v, i) => v / s.unchecked[i])), "per CPU second; ratio: median of back-to-back pairs"));
  }
  return { figures, params: { rounds: ctx.rounds, pairs, windowMs } };
});
