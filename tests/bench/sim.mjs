// Events ingested per second by the core, driven by the simulated host.
//
// How it works:
//   1. A reactor on the sim host with the release core: an echo server and N simulated clients
//      playing 64-byte ping-pong (one message in flight each), N = 1,000 and 10,000.
//   2. Turns run for a fixed wall-clock window. Each turn the core ingests a batch of events
//      (reads, write completions) and the app echoes every message without a copy.
//   3. Reported: events ingested per second of wall time for the whole loop (core + simulator
//      + handlers), and per second of time spent inside the core's ingest() and flush() alone,
//      plus echoed messages per second. There is no baseline: the simulator is ours. The
//      in-core figure is what the core costs per event once a native shim replaces the
//      simulator's JavaScript.
import { runBench, figure, loadHost } from "./lib.mjs";

runBench("sim", async (ctx) => {
  const { Reactor } = await loadHost();
  const figures = [];
  const windowMs = ctx.quick ? 300 : 2000;
  for (const conns of ctx.quick ? [1000] : [1000, 10_000]) {
    const samples = { loop: [], core: [], msgs: [] };
    for (let round = 0; round < ctx.rounds; round++) {
      const r = await Reactor.create({ host: "sim", build: "release", seed: round + 1, maxConnections: conns + 16, poolChunks: Math.max(1024, conns), chunkSize: 4096, log: () => {} });
      // Time spent inside the core's two halves of a turn.
      const e = r.core.exports;
      let coreNs = 0;
      const ingest = e.ingest, flush = e.flush;
      e.ingest = () => { const t = performance.now(); const v = ingest(); coreNs += (performance.now() - t) * 1e6; return v; };
      e.flush = () => { const t = performance.now(); const v = flush(); coreNs += (performance.now() - t) * 1e6; return v; };
      r.listen({ port: 7, backlog: 65535 }, { data(c, d) { c.write(d); } });
      const ping = new Uint8Array(64).fill(42);
      let msgs = 0;
      for (let i = 0; i < conns; i++) {
        const p = r.sim.connect(7);
        let got = 0;
        p.ondata = (b, peer) => { got += b.length; while (got >= 64) { got -= 64; msgs++; peer.send(ping); } };
        p.send(ping);
      }
      r.runUntil(() => r.metrics().connections === conns, { maxTurns: 100_000 }); // all accepted: warm-up
      for (let i = 0; i < 200; i++) r.step(0);
      const m0 = r.metrics();
      const msgs0 = msgs;
      coreNs = 0;
      const t0 = performance.now();
      let t = t0;
      while (t - t0 < windowMs) { for (let i = 0; i < 32; i++) r.step(0); t = performance.now(); }
      const m1 = r.metrics();
      const events = m1.eventsIn - m0.eventsIn;
      samples.loop.push((events * 1000) / (t - t0));
      samples.core.push(events / (coreNs / 1e9));
      samples.msgs.push(((msgs - msgs0) * 1000) / (t - t0));
      ctx.log?.(`sim ${conns}: ${events} events, ${(t - t0).toFixed(0)} ms, core ${(coreNs / 1e6).toFixed(0)} ms`);
    }
    const med = (xs) => [...xs].sort((a, b) => a - b)[xs.length >> 1];
    figures.push(figure({ id: `sim.loop.${conns}`, title: `events/s ingested, whole loop, ${conns.toLocaleString("en-US")} conns`, unit: "ev/s", ours: { name: "core+sim", value: med(samples.loop), samples: samples.loop }, note: "wall time of the whole turn: core, simulator and handlers" }));
    figures.push(figure({ id: `sim.core.${conns}`, title: `events/s inside ingest+flush, ${conns.toLocaleString("en-US")} conns`, unit: "ev/s", ours: { name: "core", value: med(samples.core), samples: samples.core }, note: "time inside the core only" }));
    figures.push(figure({ id: `sim.msgs.${conns}`, title: `echoed 64 B msgs/s (sim), ${conns.toLocaleString("en-US")} conns`, unit: "msg/s", ours: { name: "core+sim", value: med(samples.msgs), samples: samples.msgs } }));
  }
  return { figures, params: { windowMs, rounds: ctx.rounds } };
});
