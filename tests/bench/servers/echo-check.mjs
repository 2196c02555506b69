// Correctness check of the C reference echo servers (not a benchmark, so it lives here and not in
// tests/bench/, where run.mjs would expect a BENCHES entry): byte-exact echoes over many connections
// with message sizes from 1 B to 256 KiB, pipelined bursts and half-closes, then the descriptor limit
// (EMFILE must not make the server spin) and a clean exit on SIGTERM.
//
//   node tests/bench/servers/echo-check.mjs [--servers c-epoll,c-uring,c-uring-any] [--conns 1000]
//        [--rounds 20] [--seed 1]
//
// Servers: c-epoll (tests/bench/servers/c-epoll.c), c-uring (c-uring.c, coalesced waits), c-uring-any
// (c-uring.c --wait any). Each is built into build/bench/ with `cc -O2 -Wall -Wextra` when stale.
// A server that prints "... unavailable: ..." on stderr and exits (io_uring refused) is reported as
// SKIP with that line. Exit status: 0 when every available server passed, 1 otherwise.
//
// Per server, a fresh process (its PID is ours, killed by PID on every path):
//   1. echo: --conns connections (at most 256 connecting at once); each does --rounds rounds of a
//      burst of 1-4 messages (written back to back, then read until every byte is back, compared
//      byte for byte); sizes: 60% 1-64 B, 30% 65 B-4 KiB, 10% 4-256 KiB, seeded. A quarter of the
//      connections half-close (end()) after their last write and must still get every byte back and
//      then EOF. Bounded: 120 s for the whole phase.
//   1b. bulk: 16 connections write 4 MiB each and read nothing for 300 ms (sends wait for room,
//      receives pause), then every byte must come back in order.
//   2. idle: the server's CPU time over 1 s with no traffic (printed: it must sleep, not poll).
//   3. EMFILE: a fresh server under `prlimit --nofile=64`, 100 connections opened: the ones beyond the
//      limit wait; the server's CPU over 1 s meanwhile is printed and must stay under 0.3 s (a spinning
//      accept uses the whole second); then the first 60 close and every remaining one must get its echo.
//   4. SIGTERM: exit status 0 within 2 s.
import { spawn, execFileSync } from "node:child_process";
import { existsSync, mkdirSync, readFileSync, statSync } from "node:fs";
import { randomFillSync } from "node:crypto";
import net from "node:net";
import { fileURLToPath } from "node:url";

const root = fileURLToPath(new URL("../../../", import.meta.url));
const arg = (flag, dflt) => { const i = process.argv.indexOf(flag); return i >= 0 ? process.argv[i + 1] : dflt; };
const SERVERS = {
  "c-epoll": { src: "tests/bench/servers/c-epoll.c", bin: "build/bench/c-epoll", args: [] },
  "c-uring": { src: "tests/bench/servers/c-uring.c", bin: "build/bench/c-uring", args: [] },
  "c-uring-any": { src: "tests/bench/servers/c-uring.c", bin: "build/bench/c-uring", args: ["--wait", "any"] },
};
const names = arg("--servers", "c-epoll,c-uring,c-uring-any").split(",").map((s) => s.trim()).filter(Boolean);
for (const n of names) if (!SERVERS[n]) { console.error(`echo-check: unknown server ${n}; known: ${Object.keys(SERVERS).join(", ")}`); process.exit(2); }
const CONNS = Number(arg("--conns", "1000")), ROUNDS = Number(arg("--rounds", "20"));
let seed = Number(arg("--seed", "1")) >>> 0 || 1;
const rand = () => { seed ^= seed << 13; seed >>>= 0; seed ^= seed >>> 17; seed ^= seed << 5; seed >>>= 0; return seed / 2 ** 32; };
const size = () => { const r = rand(); return r < 0.6 ? 1 + Math.floor(rand() * 64) : r < 0.9 ? 65 + Math.floor(rand() * 4032) : 4097 + Math.floor(rand() * 258047); };
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

const live = new Set();
process.on("exit", () => { for (const c of live) { try { process.kill(c.pid, "SIGKILL"); } catch { /* gone */ } } });

function build({ src, bin }) {
  const s = `${root}${src}`, b = `${root}${bin}`;
  if (existsSync(b) && statSync(b).mtimeMs >= statSync(s).mtimeMs) return;
  mkdirSync(`${root}build/bench`, { recursive: true });
  execFileSync("cc", ["-O2", "-Wall", "-Wextra", "-o", b, s], { stdio: ["ignore", "inherit", "inherit"] });
}

/** Starts a server; resolves { child, port } or { skip: reason }. */
function start(srv, prefix = []) {
  const cmd = prefix.length ? prefix[0] : `${root}${srv.bin}`;
  const args = prefix.length ? [...prefix.slice(1), `${root}${srv.bin}`] : [];
  const child = spawn(cmd, [...args, "--host", "127.0.0.1", "--port", "0", ...srv.args], { stdio: ["ignore", "pipe", "pipe"] });
  live.add(child);
  child.on("exit", () => live.delete(child));
  let out = "", err = "";
  child.stderr.setEncoding("utf8");
  child.stderr.on("data", (d) => { err += d; });
  return new Promise((resolve) => {
    const t = setTimeout(() => { child.kill("SIGKILL"); resolve({ skip: `no "listening on" line within 10 s; stderr: ${err.trim()}` }); }, 10_000);
    child.stdout.setEncoding("utf8");
    child.stdout.on("data", (d) => {
      out += d;
      const m = /^listening on [^:]+:(\d+)\n/.exec(out);
      if (m) { clearTimeout(t); resolve({ child, port: Number(m[1]), banner: () => out.split("\n")[1] || "(no second line)", stderr: () => err }); }
    });
    child.on("exit", (code) => { clearTimeout(t); resolve({ skip: `exited with ${code}: ${err.trim().split("\n").pop() ?? ""}` }); });
  });
}
const cpuS = (pid) => { const f = readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1].split(" "); return (Number(f[11]) + Number(f[12])) / 100; };
async function stop(child) {
  if (child.exitCode !== null) return `already exited with ${child.exitCode}`;
  const done = new Promise((r) => child.once("exit", (code, sig) => r(sig ?? code)));
  child.kill("SIGTERM");
  const r = await Promise.race([done, sleep(2000).then(() => "timeout")]);
  if (r === "timeout") { child.kill("SIGKILL"); await done; }
  return r;
}

/** One connection's whole dialogue; rejects on the first mismatch. */
function dialogue(port, id) {
  return new Promise((resolve, reject) => {
    const halfClose = id % 4 === 0;
    const s = net.connect({ host: "127.0.0.1", port });
    let round = 0, want = null, got = [], gotLen = 0, ended = false;
    const fail = (why) => { s.destroy(); reject(new Error(`conn ${id} round ${round}: ${why}`)); };
    const next = () => {
      if (round === ROUNDS) { if (halfClose) { if (ended) { s.destroy(); resolve(); } } else { s.end(); s.destroy(); resolve(); } return; }
      const burst = Array.from({ length: 1 + Math.floor(rand() * 4) }, () => randomFillSync(Buffer.allocUnsafe(size())));
      want = Buffer.concat(burst); got = []; gotLen = 0;
      for (const b of burst) s.write(b);
      if (halfClose && round === ROUNDS - 1) s.end();
    };
    s.setNoDelay(true);
    s.on("connect", next);
    s.on("data", (d) => {
      if (!want) return fail(`unexpected ${d.length} bytes`);
      got.push(d); gotLen += d.length;
      if (gotLen > want.length) return fail(`${gotLen} bytes back for ${want.length} sent`);
      if (gotLen < want.length) return;
      if (!Buffer.concat(got).equals(want)) return fail(`echo differs (${want.length} bytes)`);
      want = null; round++;
      next();
    });
    s.on("end", () => { ended = true; if (round < ROUNDS) fail(`EOF after ${gotLen} of ${want?.length ?? 0} bytes`); else if (halfClose) { s.destroy(); resolve(); } });
    s.on("error", (e) => fail(e.message));
  });
}

async function echoPhase(port) {
  let nextId = 0, done = 0;
  const worker = async () => { while (nextId < CONNS) { const id = nextId++; await dialogue(port, id); done++; } };
  // 256 at once keeps the accept queue (4096) far from overflowing; every dialogue is bounded by the deadline.
  const deadline = sleep(120_000).then(() => { throw new Error(`deadline: ${done} of ${CONNS} connections done in 120 s`); });
  await Promise.race([Promise.all(Array.from({ length: Math.min(256, CONNS) }, worker)), deadline]);
  return done;
}

/** 16 connections each write 4 MiB at once and read nothing for 300 ms: the server's sends wait for
 *  room, its queues fill and its receives pause; then every byte must come back in order. */
async function bulkPhase(port) {
  const one = (i) => new Promise((resolve, reject) => {
    const msg = randomFillSync(Buffer.allocUnsafe(4 << 20));
    const s = net.connect({ host: "127.0.0.1", port });
    const got = []; let n = 0;
    const t = setTimeout(() => { s.destroy(); reject(new Error(`bulk ${i}: ${n} of ${msg.length} bytes back in 60 s`)); }, 60_000);
    s.on("connect", () => { s.pause(); s.write(msg); setTimeout(() => s.resume(), 300); });
    s.on("data", (d) => {
      got.push(d); n += d.length;
      if (n < msg.length) return;
      clearTimeout(t); s.destroy();
      n === msg.length && Buffer.concat(got).equals(msg) ? resolve() : reject(new Error(`bulk ${i}: echo differs (${n} bytes)`));
    });
    s.on("error", (e) => { clearTimeout(t); reject(new Error(`bulk ${i}: ${e.message}`)); });
  });
  await Promise.all(Array.from({ length: 16 }, (_, i) => one(i)));
}

async function emfilePhase(srv) {
  const s = await start(srv, ["prlimit", "--nofile=64:64"]);
  if (s.skip) throw new Error(`under prlimit: ${s.skip}`);
  try {
    const socks = [];
    for (let i = 0; i < 100; i++) {
      const c = net.connect({ host: "127.0.0.1", port: s.port });
      c.on("error", () => {});
      socks.push(c);
    }
    await sleep(300);
    const c0 = cpuS(s.child.pid);
    await sleep(1000);
    const spent = cpuS(s.child.pid) - c0;
    if (spent >= 0.3) throw new Error(`used ${spent.toFixed(2)} s of CPU in 1 s while over its descriptor limit (spinning)`);
    for (const c of socks.slice(0, 60)) c.destroy();
    const echoes = socks.slice(60).map((c, i) => new Promise((resolve, reject) => {
      const msg = Buffer.from(`hello ${i}`);
      let got = Buffer.alloc(0);
      const t = setTimeout(() => reject(new Error(`connection ${60 + i}: no echo within 10 s after descriptors were freed`)), 10_000);
      c.on("data", (d) => { got = Buffer.concat([got, d]); if (got.length >= msg.length) { clearTimeout(t); got.equals(msg) ? resolve() : reject(new Error("echo differs")); } });
      c.write(msg);
    }));
    await Promise.all(echoes);
    for (const c of socks) c.destroy();
    return spent;
  } finally {
    await stop(s.child);
    for (const l of s.stderr().split("\n").filter((l) => /stats:/.test(l))) console.log(`  under prlimit: ${l}`); // C_URING_STATS=1
  }
}

let failed = 0;
for (const name of names) {
  const srv = SERVERS[name];
  try { build(srv); } catch (e) { console.log(`${name}: FAIL: build: ${e.message}`); failed++; continue; }
  const s = await start(srv);
  if (s.skip) { console.log(`${name}: SKIP: ${s.skip}`); continue; }
  try {
    await sleep(50);
    console.log(`${name}: ${s.banner()}`);
    const t0 = performance.now();
    const n = await echoPhase(s.port);
    console.log(`${name}: echo: ${n} connections × ${ROUNDS} bursts byte-exact (${((performance.now() - t0) / 1000).toFixed(1)} s)`);
    await bulkPhase(s.port);
    console.log(`${name}: bulk: 16 connections × 4 MiB written unread for 300 ms, byte-exact`);
    await sleep(300);
    const c0 = cpuS(s.child.pid);
    await sleep(1000);
    console.log(`${name}: idle: ${(cpuS(s.child.pid) - c0).toFixed(2)} s of CPU in 1 s without traffic`);
    const r = await stop(s.child);
    if (r !== 0) throw new Error(`SIGTERM: exit ${r}, not 0`);
    console.log(`${name}: SIGTERM: exit 0`);
    for (const l of s.stderr().split("\n").filter((l) => /stats:/.test(l))) console.log(`${name}: ${l}`); // C_URING_STATS=1
    const spent = await emfilePhase(srv);
    console.log(`${name}: EMFILE: ${spent.toFixed(2)} s of CPU in 1 s over the limit; all waiting connections echoed once descriptors were freed`);
    console.log(`${name}: PASS`);
  } catch (e) {
    console.log(`${name}: FAIL: ${e.message}`);
    failed++;
  } finally { if (s.child.exitCode === null) await stop(s.child); }
}
process.exit(failed ? 1 : 0);
