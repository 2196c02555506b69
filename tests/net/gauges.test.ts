// Two gauges of the core's metrics region, on real sockets (docs/metrics.md):
//   poolPaused (wasm_reactor_pool_paused)      1 while reads and accepts are paused for the pool;
//   inTurn     (wasm_reactor_turn_in_progress) 1 while a turn runs.
// The pool is held the way it is in production: a peer that does not read, sent more than the
// kernel's socket buffers and the pool hold, so the write queue keeps the pool at its reserve.
// The peer is a reactor of its own (its connection paused with pause(), which stops reading on
// every runtime), so its reads do not wait on the server's pool. In worker mode both gauges
// are read from the worker's shared memory on the main thread, as the metrics endpoint reads
// them; a worker whose data handler blocks its thread shows inTurn 1 with turns standing still
// (the signal of the WasmReactorTurnStuck alert, docs/alerts.yml).
import { suite } from "uvu";
import * as assert from "uvu/assert";
import type * as Lib from "../../host/index.ts";
import type { Connection } from "../../host/index.ts";
import { prometheusText, type MetricsSnapshot } from "../../host/core/metrics.ts";
import { netReactor, until, closeClean, abandonAll, sleep } from "../helpers/net.ts";

const test = suite("net: the pool-paused and turn-in-progress gauges");
test.after(abandonAll);
const DIST = new URL("../../dist/index.js", import.meta.url).href;
const APP = new URL("../../tests/net/fixtures/gauge-worker.mjs", import.meta.url);
let lib: typeof Lib;
test.before(async () => { lib = (await import(DIST)) as typeof Lib; });

/** More than loopback's socket buffers take (Linux: up to 4 MiB sent and unacknowledged by default, tcp_wmem, and a receive window that does not grow while the peer reads nothing), so the rest waits in the pool. */
const FLOOD = 12 << 20;
/** What the worker has read before the stall: the flood peer's "flood". */
const FLOOD_IN = 5;

/** The value of one series in Prometheus text (the whole name with its labels), or undefined. */
function series(text: string, name: string): number | undefined {
  const line = text.split("\n").find((l) => l.startsWith(`${name} `));
  return line === undefined ? undefined : Number(line.slice(name.length + 1));
}

/** A peer reactor that connects to port, sends `hello`, pauses its reads, and counts what comes. */
async function peer(port: number, hello: string) {
  const r = await netReactor({ poolChunks: 256 });
  const st = { got: 0, conn: undefined as Connection | undefined, text: "" };
  r.connect({ host: "127.0.0.1", port }, {
    open(c) { st.conn = c; c.write(new TextEncoder().encode(hello)); if (hello === "flood") c.pause(); },
    data(_c, d) { st.got += d.length; if (st.text.length < 16) st.text += new TextDecoder().decode(d); },
  });
  return { r, st };
}

test("main thread: 1 while a peer that does not read holds the pool, 0 once it reads; in metrics() and Prometheus text", async () => {
  const server = await netReactor({ poolChunks: 64, chunkSize: 4096 }); // reserve: 4 chunks (1/16)
  const l = server.listen({ host: "127.0.0.1", port: 0 }, { data(c) { c.write(new Uint8Array(FLOOD).fill(7)); } });
  assert.is(server.metrics().poolPaused, 0, "not paused at start");
  const { r: client, st } = await peer(l.port, "flood");
  await until([server, client], () => server.metrics().poolPaused === 1, "reads pause for the pool", 20_000);
  const held = server.metrics();
  assert.ok(held.poolPauses >= 1, "the pause was counted");
  assert.ok(held.poolFree <= 4, `the pool is at its reserve (${held.poolFree} free)`);
  assert.is(series(prometheusText(held), "wasm_reactor_pool_paused"), 1, "Prometheus text: 1");
  st.conn!.resume();
  await until([server, client], () => st.got === FLOOD, "the peer reads everything", 30_000);
  await until([server, client], () => server.metrics().poolPaused === 0, "reads resume", 5_000);
  const after = server.metrics();
  assert.ok(after.poolFree >= 8, `twice the reserve free (${after.poolFree})`);
  assert.is(series(prometheusText(after), "wasm_reactor_pool_paused"), 0, "Prometheus text: 0");
  st.conn!.end();
  await until([server, client], () => server.metrics().connections === 0, "the peer leaves");
  await closeClean(client);
  await closeClean(server);
});

test("main thread: inTurn is 1 inside a handler (the turn runs) and 0 between turns", async () => {
  const server = await netReactor();
  let seen = -1;
  const l = server.listen({ host: "127.0.0.1", port: 0 }, { data(c, d) { seen = server.metrics().inTurn; c.write(d.slice()); } });
  const { r: client, st } = await peer(l.port, "hello");
  await until([server, client], () => st.got === 5, "the echo");
  assert.is(seen, 1, "a handler runs inside a turn");
  assert.is(server.metrics().inTurn, 0, "between turns");
  st.conn!.end();
  await until([server, client], () => server.metrics().connections === 0, "the peer leaves");
  await closeClean(client);
  await closeClean(server);
});

test("worker mode, read from shared memory on the main thread: the pool gauge, and a turn stuck in a handler", async () => {
  const hold = new SharedArrayBuffer(4);
  const g = await lib.startWorkers({ module: APP, workers: 1, options: { poolChunks: 64, chunkSize: 4096 }, data: { hold, floodBytes: FLOOD } });
  const clients: Lib.Reactor[] = [];
  try {
    const port = (g.workers[0].value as { port: number }).port;
    const w = () => g.metrics()[0];
    const text = (m: MetricsSnapshot[]) => prometheusText(m.map((s, i) => ({ metrics: s, labels: { reactor: String(i) } })));
    assert.is(w().poolPaused, 0, "not paused at start");

    // The pool: one peer that does not read holds it.
    const flood = await peer(port, "flood");
    clients.push(flood.r);
    await until(flood.r, () => w().poolPaused === 1, "the worker's reads pause for the pool", 20_000);
    assert.is(series(text(g.metrics()), 'wasm_reactor_pool_paused{reactor="0"}'), 1, "Prometheus text: 1");
    assert.is(g.mergedMetrics().poolPaused, 1, "merged (summed): one reactor paused");
    flood.st.conn!.resume();
    await until(flood.r, () => flood.st.got === FLOOD, "the peer reads everything", 30_000);
    await until(flood.r, () => w().poolPaused === 0, "the worker's reads resume", 5_000);
    assert.is(series(text(g.metrics()), 'wasm_reactor_pool_paused{reactor="0"}'), 0, "Prometheus text: 0");

    // A stuck turn: the handler blocks the worker's thread until hold[0] is set.
    const stall = await peer(port, "stall");
    clients.push(stall.r);
    await until(stall.r, () => w().inTurn === 1 && w().bytesIn >= FLOOD_IN + 5, "the worker is inside the stalled handler", 10_000);
    const a = w();
    // Longer than the 250 ms a worker (wait: "block") waits at most when idle: a worker that
    // were only idle would have turned meanwhile.
    await sleep(400);
    const b = w();
    assert.is(b.inTurn, 1, "still inside the turn");
    assert.is(b.turns, a.turns, "no turn ran meanwhile");
    assert.is(series(text(g.metrics()), 'wasm_reactor_turn_in_progress{reactor="0"}'), 1, "Prometheus text: 1");
    Atomics.store(new Int32Array(hold), 0, 1);
    Atomics.notify(new Int32Array(hold), 0);
    await until(stall.r, () => stall.st.text === "go", "the handler returns and answers");
    await until(stall.r, () => w().turns > b.turns && w().inTurn === 0, "turns go on, and between them inTurn is 0", 5_000);
    flood.st.conn!.end();
    stall.st.conn!.end();
    await until(clients, () => w().connections === 0, "the peers leave");
  } finally {
    Atomics.store(new Int32Array(hold), 0, 1);
    Atomics.notify(new Int32Array(hold), 0);
    for (const c of clients) await closeClean(c);
    await g.close({ drainMs: 1000 });
  }
});

test.run();
