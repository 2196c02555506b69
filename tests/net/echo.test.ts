// Byte-exact echo on real sockets, on epoll and on io_uring: the by-hand check of the C reference
// servers (tests/bench/servers/echo-check.mjs) made a suite for our own hosts. The server is
// `wasm-reactor serve` (worker mode: its own thread, blocking waits; the product as users run
// it) and, separately, an echo reactor in this process (wait "thread", handlers writing back the
// very chunks they were lent); the clients are the runtime's own node:net sockets, so neither
// side of a byte's trip is checked only by our own code.
//
// Per server:
//   1. echo: 200 connections (at most 64 connecting at once), each doing 10 rounds of a burst of
//      1-4 messages written back to back (pipelined), then reading until every byte is back and
//      comparing byte for byte. Sizes (seeded): 60% 1-64 B, 30% 65 B-4 KiB, 10% 4-256 KiB, so
//      small writes coalesce and large ones span many chunks and partial sends. A quarter of
//      the connections half-close (end()) after their last write: every byte must still come
//      back, then the server's FIN.
//   2. bulk: 8 connections write 2 MiB each and read nothing for 200 ms (the server's sends
//      stall on full socket buffers, its receives pause above high water), then every byte must
//      come back in order.
// Everything is bounded (60 s per phase); a failure names the connection, round and byte count.
// The seed is printed; ECHO_SEED=N replays a run's sizes.
import { suite } from "uvu";
import * as assert from "uvu/assert";
import process from "node:process";
import * as net from "node:net";
import type { ChildProcess } from "node:child_process";
import { Buffer } from "node:buffer";
import { spawnCli, signal } from "../helpers/cli.ts";
import { netReactor, closeClean, abandonAll, runtimeName } from "../helpers/net.ts";
import { unavailable } from "../helpers/contract.ts";
import { skip } from "../helpers/skip.ts";
import type { Reactor } from "../../host/index.ts";

const CONNS = 200, ROUNDS = 10, AT_ONCE = 64;
const SEED = Number(process.env.ECHO_SEED) >>> 0 || 1;

/** xorshift32: sizes and contents from one seed. */
function prng(seed: number): () => number {
  let s = seed >>> 0 || 1;
  return () => { s ^= s << 13; s >>>= 0; s ^= s >>> 17; s ^= s << 5; s >>>= 0; return s / 2 ** 32; };
}
function size(rand: () => number): number {
  const r = rand();
  return r < 0.6 ? 1 + Math.floor(rand() * 64) : r < 0.9 ? 65 + Math.floor(rand() * 4032) : 4097 + Math.floor(rand() * 258_047);
}
function fill(rand: () => number, n: number): Buffer {
  const b = Buffer.allocUnsafe(n);
  let x = Math.floor(rand() * 2 ** 32) >>> 0 || 1;
  for (let i = 0; i < n; i++) { x ^= x << 13; x >>>= 0; x ^= x >>> 17; x ^= x << 5; x >>>= 0; b[i] = x & 0xff; }
  return b;
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));
function deadline<T>(p: Promise<T>, ms: number, what: () => string): Promise<T> {
  let t: ReturnType<typeof setTimeout> | undefined;
  return Promise.race([p, new Promise<T>((_, reject) => { t = setTimeout(() => reject(new Error(`${what()} (not done in ${ms / 1000} s)`)), ms); })]).finally(() => clearTimeout(t));
}

/** One connection's whole dialogue; rejects on the first difference. */
function dialogue(port: number, id: number): Promise<void> {
  const rand = prng(SEED * 7919 + id);
  const halfClose = id % 4 === 0;
  return new Promise((resolve, reject) => {
    const s = net.connect({ host: "127.0.0.1", port });
    let round = 0, want: Buffer | null = null, got: Buffer[] = [], gotLen = 0, ended = false, settled = false;
    const fail = (why: string) => { if (settled) return; settled = true; s.destroy(); reject(new Error(`connection ${id} round ${round}: ${why}`)); };
    const ok = () => { if (settled) return; settled = true; s.destroy(); resolve(); };
    const next = () => {
      if (round === ROUNDS) { if (!halfClose) { s.end(); ok(); } else if (ended) ok(); return; }
      const burst = Array.from({ length: 1 + Math.floor(rand() * 4) }, () => fill(rand, size(rand)));
      want = Buffer.concat(burst); got = []; gotLen = 0;
      for (const b of burst) s.write(b);
      if (halfClose && round === ROUNDS - 1) s.end();
    };
    s.setNoDelay(true);
    s.on("connect", next);
    s.on("data", (d: Buffer) => {
      if (!want) return fail(`${d.length} bytes nobody asked for`);
      got.push(d); gotLen += d.length;
      if (gotLen > want.length) return fail(`${gotLen} bytes back for ${want.length} sent`);
      if (gotLen < want.length) return;
      const back = Buffer.concat(got);
      if (!back.equals(want)) {
        let at = 0;
        while (at < want.length && back[at] === want[at]) at++;
        return fail(`the echo of ${want.length} bytes differs from byte ${at}`);
      }
      want = null; round++;
      next();
    });
    s.on("end", () => { ended = true; if (round < ROUNDS) fail(`the server's FIN after ${gotLen} of ${want?.length ?? 0} bytes`); else if (halfClose) ok(); });
    s.on("error", (e: Error) => fail(e.message));
    s.on("close", () => { if (!settled) fail(`closed after ${gotLen} of ${want?.length ?? 0} bytes`); });
  });
}

async function echoPhase(port: number): Promise<void> {
  let nextId = 0, done = 0;
  const worker = async () => { while (nextId < CONNS) { const id = nextId++; await dialogue(port, id); done++; } };
  await deadline(Promise.all(Array.from({ length: AT_ONCE }, worker)), 60_000, () => `echo: ${done} of ${CONNS} connections done`);
}

async function bulkPhase(port: number): Promise<void> {
  const one = (i: number) => new Promise<void>((resolve, reject) => {
    const msg = fill(prng(SEED * 31 + i), 2 << 20);
    const s = net.connect({ host: "127.0.0.1", port });
    const got: Buffer[] = [];
    let n = 0;
    s.on("connect", () => { s.pause(); s.write(msg); setTimeout(() => s.resume(), 200); });
    s.on("data", (d: Buffer) => {
      got.push(d); n += d.length;
      if (n < msg.length) return;
      s.destroy();
      if (n === msg.length && Buffer.concat(got).equals(msg)) resolve(); else reject(new Error(`bulk ${i}: the echo differs (${n} bytes)`));
    });
    s.on("error", (e: Error) => reject(new Error(`bulk ${i}: ${e.message} after ${n} bytes`)));
    s.on("close", () => { if (n < msg.length) reject(new Error(`bulk ${i}: closed after ${n} of ${msg.length} bytes`)); });
  });
  await deadline(Promise.all(Array.from({ length: 8 }, (_, i) => one(i))), 60_000, () => "bulk: 8 × 2 MiB");
}

// ── the servers ─────────────────────────────────────────────────────────────────────────
interface Server { port: number; stop(): Promise<string> }

/** `wasm-reactor serve --backend B` in worker mode; stop() sends SIGTERM and checks the report. */
async function serveChild(backend: string): Promise<Server> {
  const child: ChildProcess = spawnCli(["serve", "--port", "0", "--backend", backend, "--status-ms", "0", "--json"]);
  let out = "";
  child.stdout!.on("data", (b) => { out += b; });
  child.stderr!.on("data", (b) => { out += b; });
  const exited = new Promise<number | null>((r) => child.on("exit", (code) => r(code)));
  const t0 = Date.now();
  while (!/listening on 127\.0\.0\.1:(\d+)\n.*echo on/.test(out)) {
    if (Date.now() - t0 > 10_000 || child.exitCode !== null) { try { process.kill(child.pid!, "SIGKILL"); } catch { /* gone */ } throw new Error(`serve --backend ${backend} did not start: ${out}`); }
    await sleep(20);
  }
  assert.match(out, new RegExp(`echo on 127\\.0\\.0\\.1:\\d+ \\(${backend}[,)]`));
  return {
    port: Number(/listening on 127\.0\.0\.1:(\d+)/.exec(out)![1]),
    async stop() {
      signal(child, "SIGTERM");
      const code = await deadline(exited, 10_000, () => `serve did not exit on SIGTERM: ${out}`).catch((err) => { try { process.kill(child.pid!, "SIGKILL"); } catch { /* gone */ } throw err; });
      assert.is(code, 0, out);
      const report = JSON.parse(out.trim().split("\n").pop()!);
      assert.is(report.leakedDescriptors, 0);
      assert.is(report.fdOpens, report.fdCloses);
      assert.is(report.aborted, 0, "no connection was aborted");
      return `${report.accepts} accepted, ${report.messages} messages`;
    },
  };
}

/** An echo reactor in this process (wait "thread"): data handlers write back the lent chunk itself. */
async function serveHere(host: "epoll" | "uring"): Promise<Server> {
  const r: Reactor = await netReactor({ host, wait: "thread", maxConnections: 1024, poolChunks: 1024, chunkSize: 4096, allowHalfOpen: true });
  const l = r.listen({ port: 0 }, { data(c, d) { if (c.writable) c.write(d); }, end(c) { if (c.writable) c.end(); } });
  return {
    port: l.port,
    async stop() {
      const m = r.metrics();
      const { report } = await closeClean(r);
      assert.is(report.aborted, 0, "no connection was aborted");
      assert.is(m.bytesIn, m.bytesOut, "every byte read was written back");
      return `${m.accepts} accepted, ${m.bytesIn} bytes each way`;
    },
  };
}

const test = suite(`net: byte-exact echo on real sockets (${runtimeName()}, seed ${SEED})`);
test.after(abandonAll);
for (const host of ["epoll", "uring"] as const) {
  const why = unavailable({ name: host, options: { host, wait: "thread" } });
  for (const [where, start] of [["serve (worker mode)", () => serveChild(host)], ["a reactor in this process (wait thread)", () => serveHere(host)]] as const) {
    test(`${host}: ${where}: ${CONNS} connections × ${ROUNDS} pipelined bursts of 1 B-256 KiB, a quarter half-closing; then 8 × 2 MiB unread for 200 ms`, async () => {
      if (why) return skip(`host '${host}' cannot run here: ${why}`);
      const s = await start();
      let summary = "", failure: unknown;
      try {
        await echoPhase(s.port);
        await bulkPhase(s.port);
      } catch (err) { failure = err; }
      try { summary = await s.stop(); } catch (err) { failure ??= err; }
      if (failure) throw failure;
      console.log(`    [${runtimeName()}] ${host}, ${where}: ${summary}`);
    });
  }
}
test.run();
