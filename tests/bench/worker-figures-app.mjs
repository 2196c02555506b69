// The worker app of tests/bench/worker-figures.mjs: an echo server that, on message "time",
// times `n` copies of its host's counters as a worker makes them once a second (the host's
// figures, host/reactor/reactor.ts hostFigures, stored into a shared Float64Array between two
// Atomics.add on a sequence word: HostFigures.write in host/reactor/worker.ts) and posts the µs.
export function setup(reactor, ctx) {
  const l = reactor.listen({ host: "127.0.0.1", port: 0 }, { data(c, b) { if (c.writable) c.write(b); } });
  ctx.onMessage((m) => {
    if (m?.t !== "time") return;
    // (A build from before the copy existed, for the baseline: the host's figures without the once-a-second sampling.)
    const figures = reactor.hostFigures ? () => reactor.hostFigures() : () => reactor.host.hostMetrics(false);
    const keys = Object.keys(figures());
    const seq = new Int32Array(new SharedArrayBuffer(8 + 8 * keys.length), 0, 1);
    const values = new Float64Array(seq.buffer, 8, keys.length);
    const us = [];
    for (let i = 0; i < m.n; i++) {
      const t0 = performance.now();
      const f = figures();
      Atomics.add(seq, 0, 1);
      for (let k = 0; k < keys.length; k++) values[k] = f[keys[k]] ?? 0;
      Atomics.add(seq, 0, 1);
      us.push((performance.now() - t0) * 1000);
    }
    ctx.post({ us, keys: keys.length, kind: reactor.host.kind });
  });
  return { port: l.port };
}
