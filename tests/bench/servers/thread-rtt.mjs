// Round trips of one connection against a reactor in thread mode (wait "thread": a poller thread
// waits, the JS thread stays free), by hand: it shows whether the poller wakes for arrivals or
// sleeps until the next timer (the io_uring host's first thread-mode version did the latter:
// 200 round trips in 3.2 s; docs/backends.md "uring").
//
//   node tests/bench/servers/thread-rtt.mjs [uring|epoll] [N]        (after npm run build)
import { Reactor } from "../../../dist/index.js";
import net from "node:net";

const host = process.argv[2] ?? "uring", N = Number(process.argv[3] ?? 200);
const r = await Reactor.create({ host, wait: "thread", log: () => {} });
const l = r.listen({ port: 0 }, { data(c, d) { c.write(d); } });
r.run();
const s = net.connect(l.port, "127.0.0.1");
await new Promise((z) => s.on("connect", z));
let n = 0, worst = 0, last = 0;
const t0 = performance.now();
await new Promise((done) => {
  s.on("data", () => { const t = performance.now(); worst = Math.max(worst, t - last); last = t; if (++n === N) done(); else s.write("x"); });
  last = performance.now();
  s.write("x");
});
console.log(`thread-rtt: host ${host}, ${N} round trips of 1 byte in ${(performance.now() - t0).toFixed(1)} ms (worst ${worst.toFixed(2)} ms)`);
s.destroy();
await r.close();
