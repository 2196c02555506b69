// How much a worker's once-a-second copy of its host's counters costs (startWorkers: the
// HostFigures copy in host/reactor/worker.ts), against the worker's turn time under an echo load.
//
//   node tests/bench/worker-figures.mjs [--conns 64] [--seconds 5] [--dist /path/to/dist/index.js]
//
// --dist: the library to run (default this checkout's dist/): give a build from before the copy
// existed to compare the worker's turn p99 without it.
//
// Prints the copy's median and p99 (1,000 copies made back to back in the worker, each timed: a
// copy made once a second is colder, so the p99 is the figure to read) and the worker's turn
// p50/p99 from group.metrics() while `conns` clients echo as fast as they can. The copy runs from
// the runtime's timer, between turns, so it is not in the turn histogram at all; the comparison
// says how long the next turn may start late once a second. Node's net as the load generator.
import * as net from "node:net";
import { pathToFileURL } from "node:url";
const arg = (name, d) => { const i = process.argv.indexOf(name); return i >= 0 ? (typeof d === "number" ? Number(process.argv[i + 1]) : process.argv[i + 1]) : d; };
const given = arg("--dist", "");
const DIST = given ? (/^file:/.test(given) ? given : pathToFileURL(given).href) : new URL("../../dist/index.js", import.meta.url).href;
const { startWorkers } = await import(DIST);
const conns = arg("--conns", 64), seconds = arg("--seconds", 5);

let reply;
const g = await startWorkers({ module: new URL("./worker-figures-app.mjs", import.meta.url), workers: 1, options: { preset: "echo" }, entry: new URL(DIST),
  onMessage(m) { reply?.(m); } });
const port = g.workers[0].value.port;
const timed = () => new Promise((r) => { reply = r; g.post({ t: "time", n: 1000 }); });
const pct = (xs, p) => { const s = [...xs].sort((a, b) => a - b); return s[Math.min(s.length - 1, Math.floor(p * s.length))]; };

// Load: conns clients, each echoing 64 bytes back and forth until the window ends.
const before = g.metrics()[0];
let stop = false, msgs = 0;
const msg = Buffer.alloc(64, 0x61);
const clients = await Promise.all(Array.from({ length: conns }, () => new Promise((res) => {
  const s = net.connect(port, "127.0.0.1", () => { s.write(msg); res(s); });
  let got = 0;
  s.on("data", (b) => { got += b.length; while (got >= 64) { got -= 64; msgs++; if (!stop) s.write(msg); } });
  s.on("error", () => {});
})));
await new Promise((r) => setTimeout(r, seconds * 1000));
const during = await timed(); // copies timed while the load runs
stop = true;
const after = g.metrics()[0];
for (const s of clients) s.destroy();
const idle = await timed();
await g.close({ drainMs: 200 });

const f = (x) => x.toFixed(1);
console.log(`${DIST}: ${g.workers[0].host ? "with" : "without"} the once-a-second copy`);
console.log(`host ${during.kind}, ${during.keys} figures a copy; ${conns} echo clients for ${seconds} s: ${Math.round(msgs / seconds)} msgs/s`);
console.log(`copy under load: median ${f(pct(during.us, 0.5))} µs, p99 ${f(pct(during.us, 0.99))} µs; idle: median ${f(pct(idle.us, 0.5))} µs, p99 ${f(pct(idle.us, 0.99))} µs`);
console.log(`worker turns (whole run): p50 ${after.turnUs.p50} µs, p99 ${after.turnUs.p99} µs, ${after.turns - before.turns} turns; ${after.host ? `host figures in group.metrics(): calls grew ${after.host.calls - before.host.calls}` : "no host figures in group.metrics()"}`);
