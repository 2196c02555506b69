// startWorkers(): worker mode as a library API, on real sockets, in Node, Deno and Bun. The
// workers run the built library (dist/index.js) as their entry and import the fixture app
// tests/net/fixtures/echo-worker.mjs, so this suite loads the library from dist/ too: the
// same module the workers use (a test bundle cannot be a worker's entry: it would run the tests).
import { suite } from "uvu";
import * as assert from "uvu/assert";
import * as net from "node:net";
import { readFileSync } from "node:fs";
import type * as Lib from "../../host/index.ts";
import { skip } from "../helpers/skip.ts";
import { HostFigures } from "../../host/reactor/worker.ts";

const test = suite("net: startWorkers (worker mode as a library API)");
const DIST = new URL("../../dist/index.js", import.meta.url).href;
const APP = new URL("../../tests/net/fixtures/echo-worker.mjs", import.meta.url);
let lib: typeof Lib;
test.before(async () => { lib = (await import(DIST)) as typeof Lib; });

/** n clients, each sends `msg` and waits for it back, then ends; resolves with the bytes echoed. */
function echoClients(port: number, n: number, msg = "hello, worker"): Promise<number> {
  return Promise.all(Array.from({ length: n }, () => new Promise<number>((resolve, reject) => {
    const s = net.connect(port, "127.0.0.1", () => s.write(msg));
    let got = 0;
    s.on("data", (b) => { got += b.length; if (got >= msg.length) s.end(); });
    const timer = setTimeout(() => { s.destroy(); reject(new Error("client timed out")); }, 10_000);
    s.on("close", () => { clearTimeout(timer); resolve(got); });
    s.on("error", reject);
  }))).then((xs) => xs.reduce((a, b) => a + b, 0));
}

async function rejectsWith(p: Promise<unknown>, code: string, re: RegExp): Promise<Lib.ReactorError> {
  try { await p; } catch (err) {
    assert.instance(err, lib.ReactorError);
    assert.is((err as Lib.ReactorError).code, code, (err as Error).message);
    assert.match((err as Error).message, re);
    return err as Lib.ReactorError;
  }
  throw new Error(`expected a rejection with ${code}`);
}

test("two workers share one port (port 0: worker 0 picks, ctx.first tells the other); both serve; close drains and reports", async () => {
  const g = await lib.startWorkers({ module: APP, workers: 2, options: { preset: "echo", maxConnections: 256 } });
  const [w0, w1] = g.workers;
  const port = (w0.value as { port: number }).port;
  assert.ok(port > 0);
  assert.equal(w1.value, { port, index: 1 }, "worker 1 joined worker 0's port");
  assert.ok(w0.fdBudget > 0 && w0.fdBudget === w1.fdBudget, "each has its share of the descriptor limit");
  assert.is(await echoClients(port, 40), 40 * 13);
  // Read from the workers' shared memory: no message, nothing runs on their threads.
  const m = g.metrics();
  assert.is(m.length, 2);
  assert.is(m[0].accepts + m[1].accepts, 40, "every connection accepted by one of the two");
  assert.is(m[0].listeners + m[1].listeners, 2);
  // The group as one: counters and gauges summed (the clients are gone, so these stand still).
  const merged = g.mergedMetrics();
  assert.is(merged.accepts, 40);
  assert.is(merged.listeners, 2);
  assert.is(merged.connections, 0);
  assert.is(merged.fdBudget, w0.fdBudget + w1.fdBudget);
  const rep = await g.close({ drainMs: 1000 });
  assert.is(rep.leakedDescriptors, 0);
  assert.is(rep.workers.length, 2);
  for (const w of rep.workers) {
    assert.is(w.metrics.fdOpens, w.metrics.fdCloses, `worker ${w.index}: every descriptor closed`);
    assert.ok(w.metrics.host, "final metrics carry the host's counters");
  }
  assert.is(rep.workers[0].metrics.accepts + rep.workers[1].metrics.accepts, 40);
  // The report's merged metrics: the ended workers' memory still reads, so nothing moves now.
  const [f0, f1] = rep.workers.map((w) => w.metrics);
  assert.is(rep.metrics.accepts, 40);
  assert.is(rep.metrics.reads, f0.reads + f1.reads);
  assert.is(rep.metrics.fdsHighWater, f0.fdsHighWater + f1.fdsHighWater, "high-water marks summed: an upper bound on the group's peak");
  assert.is(rep.metrics.nowMs, Math.max(f0.nowMs, f1.nowMs));
  assert.is(rep.metrics.turnUs.count, f0.turnUs.count + f1.turnUs.count, "histograms merged bucket by bucket");
  assert.ok(rep.metrics.turnUs.max === Math.max(f0.turnUs.max, f1.turnUs.max) && rep.metrics.turnUs.p50 >= Math.min(f0.turnUs.p50, f1.turnUs.p50) && rep.metrics.turnUs.p50 <= Math.max(f0.turnUs.p50, f1.turnUs.p50), "a merged median lies between the two");
  assert.is(rep.metrics.host!.accepts, 40, "host counters summed");
  assert.is(rep.metrics.host!.crossingsPerTurn, Math.round((rep.metrics.host!.calls / rep.metrics.host!.turns) * 1000) / 1000, "crossings per turn recomputed from the sums, not added");
  assert.is(await g.closed, rep, "closed settles with the same report");
  assert.is(await g.close(), rep, "close() again: the same report");
});

test("the workers' host counters and kernel queue gauges reach the main thread (copied once a second into shared memory), with each worker's host kind", async () => {
  const g = await lib.startWorkers({ module: APP, workers: 2, options: { preset: "echo", maxConnections: 256 } });
  try {
    const port = (g.workers[0].value as { port: number }).port;
    for (const w of g.workers) assert.ok(["epoll", "uring", "kqueue", "portable"].includes(w.host), `worker ${w.index}: the real host kind, got ${w.host}`);
    // The first copy is made before "ready": host is there at once.
    const before = g.metrics();
    for (const [i, m] of before.entries()) {
      assert.ok(m.host, `worker ${i}: host counters in group.metrics()`);
      assert.type(m.host!.readCalls ?? m.host!.reads, "number");
    }
    const native = g.workers[0].host !== "portable";
    if (native) for (const m of before) for (const k of ["epollCtl", "readCalls", "acceptEmfile", "sockoptErrno", "recvQueueBytes", "sendQueueBytes", "crossingsPerTurn"]) assert.type(m.host![k], "number", `host.${k}`);
    const reads = (ms: Lib.MetricsSnapshot[]) => ms.reduce((a, m) => a + (m.host!.readCalls ?? m.host!.reads ?? 0), 0);
    const accepts = (ms: Lib.MetricsSnapshot[]) => ms.reduce((a, m) => a + (m.host!.accepts ?? 0), 0);
    assert.is(await echoClients(port, 20), 20 * 13);
    // The copies come once a second, between turns: wait (bounded) until one shows the traffic.
    let after = g.metrics();
    for (let i = 0; i < 100 && accepts(after) < accepts(before) + 20; i++) { await new Promise((r) => setTimeout(r, 100)); after = g.metrics(); }
    assert.ok(accepts(after) >= accepts(before) + 20, `host accepts grew by the 20 clients (${accepts(before)} -> ${accepts(after)})`);
    assert.ok(reads(after) > reads(before), `host read calls grew (${reads(before)} -> ${reads(after)})`);
    const merged = g.mergedMetrics();
    assert.ok(merged.host, "mergedMetrics() sums the workers' host counters");
    assert.ok(merged.host!.accepts >= accepts(after));
    const rep = await g.close({ drainMs: 1000 });
    // After close, the last copy is the final one: the same as the reports'.
    const final = g.metrics();
    for (const w of rep.workers) assert.is(final[w.index].host!.accepts, w.metrics.host!.accepts, `worker ${w.index}: the final copy`);
  } finally { await g.close({ drainMs: 0 }).catch(() => {}); }
});

test("HostFigures: the reader never sees a half-written copy (it keeps the last whole one) and never waits", () => {
  const w = HostFigures.create(["calls", "readCalls", "recvQueueBytes"]);
  const r = new HostFigures(w.keys, w.buffer); // the main thread's side, on the same memory
  assert.is(r.read(), undefined, "nothing before the first copy");
  w.write({ calls: 10, readCalls: 4, recvQueueBytes: 512 });
  assert.equal(r.read(), { calls: 10, readCalls: 4, recvQueueBytes: 512 });
  // A copy under way (the sequence word odd) when the main thread reads: the last whole copy.
  const seq = new Int32Array(w.buffer, 0, 1);
  Atomics.add(seq, 0, 1);
  new Float64Array(w.buffer, HostFigures.HEADER, 3)[0] = 99;
  assert.equal(r.read(), { calls: 10, readCalls: 4, recvQueueBytes: 512 }, "the half-written copy is not returned");
  Atomics.add(seq, 0, 1);
  assert.is(r.read()!.calls, 99, "once finished, it is");
  w.write({ calls: 11 });
  assert.equal(r.read(), { calls: 11, readCalls: 0, recvQueueBytes: 0 }, "a key the host no longer gives reads 0");
});

test("messages both ways: group.post() reaches ctx.onMessage (waking the worker), ctx.post() reaches onMessage", async () => {
  const got: unknown[] = [];
  const g = await lib.startWorkers({ module: APP, workers: 2, options: { maxConnections: 64 }, onMessage: (m, i) => got.push([i, m]) });
  try {
    g.post("ping");
    const t0 = Date.now();
    while (got.length < 2 && Date.now() - t0 < 5000) await new Promise((r) => setTimeout(r, 10));
    assert.equal(got.sort((a, b) => (a as number[])[0] - (b as number[])[0]), [[0, { pong: 0, accepts: 0 }], [1, { pong: 1, accepts: 0 }]]);
  } finally { await g.close({ drainMs: 0 }); }
});

test("setup throwing in one worker rejects startWorkers with ERR_WORKER naming it; the others are closed", async () => {
  const port = await freePort();
  const err = await rejectsWith(lib.startWorkers({ module: APP, workers: 2, data: { throwIn: 1, port }, options: { maxConnections: 64 } }),
    "ERR_WORKER", /worker 1: TypeError: setup failed on purpose in worker 1[\s\S]*in setup from .*echo-worker\.mjs/);
  assert.is((err as { worker?: number }).worker, 1);
  // Worker 0 had listened on `port`: it was closed, so the port is free again.
  await new Promise<void>((resolve, reject) => { const s = net.createServer().listen(port, "127.0.0.1", () => s.close(() => resolve())); s.on("error", reject); });
});

test("a ReactorError in setup keeps its code and message (one clear line: what and why)", async () => {
  await rejectsWith(lib.startWorkers({ module: APP, data: { host: "1.2.3.4" }, options: { maxConnections: 64 } }), "ERR_LISTEN", /^wasm-reactor: cannot listen on 1\.2\.3\.4:0: EADDRNOTAVAIL/);
});

test("a module without the setup export, or bad options, are refused clearly", async () => {
  await rejectsWith(lib.startWorkers({ module: APP, export: "nope", options: { maxConnections: 64 } }), "ERR_WORKER", /echo-worker\.mjs has no function export 'nope' \(it exports: notAFunction, setup\)/);
  await rejectsWith(lib.startWorkers({ module: APP, options: { log: () => {} } as never }), "ERR_INVALID_OPTION", /option 'log' cannot be given: a function cannot cross to a worker thread; use onLog/);
  await rejectsWith(lib.startWorkers({ module: APP, workers: 0 }), "ERR_INVALID_OPTION", /workers must be an integer from 1 to 1024, got 0/);
  await rejectsWith(lib.startWorkers({ module: APP, options: { maxConnections: 0 } }), "ERR_INVALID_OPTION", /option 'maxConnections' must be an integer/);
});

test("a worker that dies after start rejects `closed`; the other keeps serving until close()", async () => {
  const g = await lib.startWorkers({ module: APP, workers: 2, options: { maxConnections: 64 } });
  const port = (g.workers[0].value as { port: number }).port;
  try {
    g.post("crash", 1);
    await rejectsWith(g.closed, "ERR_WORKER", /^wasm-reactor: worker 1 failed: Error: worker 1 crashed on purpose/);
    // The failed worker closed its reactor before it ended: its listener no longer takes a share of the port.
    assert.is(await echoClients(port, 20), 20 * 13, "worker 0 serves every client");
  } finally {
    await rejectsWith(g.close({ drainMs: 0 }), "ERR_WORKER", /worker 1 failed/);
  }
});

/** The CPUs the kernel lets a thread of this process run on (Cpus_allowed_list, e.g. "0-1,4"). */
function allowedCpus(task = "self"): number[] {
  const path = task === "self" ? "/proc/self/status" : `/proc/self/task/${task}/status`;
  const list = /^Cpus_allowed_list:\s*(\S+)/m.exec(readFileSync(path, "utf8"))![1];
  return list.split(",").flatMap((r) => { const [a, b = a] = r.split("-").map(Number); return Array.from({ length: b - a + 1 }, (_, i) => a + i); });
}
const isLinux = (globalThis as { process?: { platform?: string } }).process?.platform === "linux";

test("cpus: each worker pins its own thread; the kernel's view (/proc/self/task/<tid>) agrees; it serves pinned", async () => {
  if (!isLinux) return skip("the thread's CPU set is read from /proc (Linux)");
  const mine = allowedCpus();
  const want = mine.length > 1 ? [mine[mine.length - 1], mine[0]] : [mine[0]]; // reversed: not what a worker would get anyway
  const g = await lib.startWorkers({ module: APP, workers: 2, cpus: want, options: { maxConnections: 64 } });
  try {
    for (const w of g.workers) {
      const cpu = want[w.index % want.length];
      assert.equal(w.cpus, [cpu], `worker ${w.index}: the set the shim read back`);
      assert.ok(typeof w.tid === "number" && w.tid > 0);
      assert.equal(allowedCpus(String(w.tid)), [cpu], `worker ${w.index}: /proc/self/task/${w.tid}/status`);
    }
    assert.equal(allowedCpus(), mine, "the main thread is not pinned");
    assert.is(await echoClients((g.workers[0].value as { port: number }).port, 10), 10 * 13);
  } finally { await g.close({ drainMs: 0 }); }
  // "auto": worker i on the i-th allowed CPU, round robin.
  const a = await lib.startWorkers({ module: APP, workers: 3, cpus: "auto", options: { maxConnections: 64 } });
  try {
    for (const w of a.workers) assert.equal(allowedCpus(String(w.tid)), [mine[w.index % mine.length]], `auto: worker ${w.index}`);
  } finally { await a.close({ drainMs: 0 }); }
  // Unpinned: each reports the set it inherited.
  const u = await lib.startWorkers({ module: APP, workers: 1, options: { maxConnections: 64 } });
  try { assert.equal(u.workers[0].cpus, mine); } finally { await u.close({ drainMs: 0 }); }
});

test("cpus: a CPU this process may not use, or a malformed list, is refused before any worker starts", async () => {
  if (!isLinux) return skip("the allowed CPU set is read from /proc (Linux)");
  const mine = allowedCpus();
  const outside = Math.max(...mine) + 1;
  await rejectsWith(lib.startWorkers({ module: APP, cpus: [mine[0], outside] }), "ERR_INVALID_OPTION",
    new RegExp(`option 'cpus': CPU ${outside} is not among those this process may run on \\(${mine.join(", ")}\\)`));
  await rejectsWith(lib.startWorkers({ module: APP, cpus: [] }), "ERR_INVALID_OPTION", /'cpus' must be "auto" or a non-empty list of CPU numbers/);
  await rejectsWith(lib.startWorkers({ module: APP, cpus: "all" as never }), "ERR_INVALID_OPTION", /'cpus' must be "auto" or a non-empty list .*got "all"/);
  await rejectsWith(lib.startWorkers({ module: APP, cpus: [1.5] }), "ERR_INVALID_OPTION", /got \[1\.5\]/);
});

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.createServer().listen(0, "127.0.0.1", () => { const p = (s.address() as net.AddressInfo).port; s.close(() => resolve(p)); });
    s.on("error", reject);
  });
}

test.run();
