// Kernel memory per idle TCP socket (Linux): the per-socket figure `wasm-reactor doctor` plans with
// (host/ops/doctor/plan.ts, FIGURES.kernelSocketBytes).
//
//   node tests/bench/kernel-socket-memory.mjs [pairs] [rounds]     (default 4000 pairs, 3 rounds)
//
// How it works:
//   1. A node:net server on 127.0.0.1 and `pairs` clients connecting to it, 200 at a time: 2 ×
//      pairs sockets, each idle (no byte sent, so no buffer memory is held), each registered with
//      the runtime's epoll as our reactor's would be.
//   2. /proc/meminfo's Slab (and SUnreclaim, its unreclaimable part) is read before the first
//      connect and 0.5 s after the last accept; the growth divided by the sockets is the kernel's
//      memory per socket: struct tcp_sock, the socket inode, file, dentry, epoll item. Socket
//      buffers are not in it: they are charged only while data waits (tcp_rmem/tcp_wmem minimums).
//   3. Other processes allocate slab meanwhile: run it on a quiet machine, and read the spread of
//      the rounds. Each round closes its sockets before the next.
// Measured on the 2-core VM (Linux 6.18), two runs of 3 rounds × 8,000 sockets: 3.7–4.7 KiB of
// Slab per socket, 2.6–3.1 KiB of it unreclaimable (later rounds lower: freed slab objects are
// reused); the doctor plans with 4.5 KiB. MigratoryData reported ~3 KB per connection at 12
// million connections on one server.
import * as net from "node:net";
import { readFileSync } from "node:fs";

if (process.platform !== "linux") { console.log("kernel-socket-memory: Linux only (/proc/meminfo)"); process.exit(0); }
const pairs = Number(process.argv[2] ?? 4000), rounds = Number(process.argv[3] ?? 3);
if (!Number.isInteger(pairs) || pairs < 100 || pairs > 100_000) { console.error("kernel-socket-memory: pairs must be an integer from 100 to 100000"); process.exit(2); }
if (!Number.isInteger(rounds) || rounds < 1 || rounds > 20) { console.error("kernel-socket-memory: rounds must be an integer from 1 to 20"); process.exit(2); }
const soft = Number(/^Max open files\s+(\d+)/m.exec(readFileSync("/proc/self/limits", "utf8"))?.[1] ?? 1024);
if (2 * pairs + 64 > soft) { console.error(`kernel-socket-memory: ${2 * pairs} sockets need more than the soft RLIMIT_NOFILE ${soft}: fewer pairs, or ulimit -n`); process.exit(2); }

const kb = (k) => Number(new RegExp(`^${k}:\\s+(\\d+) kB`, "m").exec(readFileSync("/proc/meminfo", "utf8"))[1]);
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const results = [];
for (let round = 1; round <= rounds; round++) {
  const held = [];
  const server = net.createServer((s) => { held.push(s); });
  await new Promise((r) => server.listen(0, "127.0.0.1", r));
  const { port } = server.address();
  await sleep(300);
  const before = { slab: kb("Slab"), unreclaim: kb("SUnreclaim") };
  const clients = [];
  for (let i = 0; i < pairs; i += 200) {
    await Promise.all(Array.from({ length: Math.min(200, pairs - i) }, () => new Promise((resolve, reject) => {
      const c = net.connect(port, "127.0.0.1", resolve);
      c.on("error", reject);
      clients.push(c);
    })));
  }
  for (let waited = 0; held.length < pairs; waited += 20) {
    if (waited > 10_000) throw new Error(`only ${held.length} of ${pairs} accepted in 10 s`);
    await sleep(20);
  }
  await sleep(500);
  const after = { slab: kb("Slab"), unreclaim: kb("SUnreclaim") };
  const per = (a, b) => ((a - b) * 1024) / (2 * pairs);
  results.push({ slab: per(after.slab, before.slab), unreclaim: per(after.unreclaim, before.unreclaim) });
  console.log(`round ${round}: ${2 * pairs} sockets: Slab +${after.slab - before.slab} kB (${results.at(-1).slab.toFixed(0)} B a socket), SUnreclaim +${after.unreclaim - before.unreclaim} kB (${results.at(-1).unreclaim.toFixed(0)} B a socket)`);
  for (const c of clients) c.destroy();
  for (const s of held) s.destroy();
  await new Promise((r) => server.close(r));
  await sleep(500);
}
const range = (k) => `${(Math.min(...results.map((r) => r[k])) / 1024).toFixed(1)}–${(Math.max(...results.map((r) => r[k])) / 1024).toFixed(1)} KiB`;
console.log(`kernel memory per idle TCP socket: Slab ${range("slab")}, of it unreclaimable ${range("unreclaim")} (${rounds} rounds of ${2 * pairs} sockets)`);
