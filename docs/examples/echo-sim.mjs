// An echo server on the simulated network: the public API end to end, no real sockets.
// From the repository root, after a build (`npm ci` runs one):
//   node host/tools/build.mjs --no-types && node docs/examples/echo-sim.mjs
import { Reactor } from "../../dist/index.js";

// pauseReadsAtHighWater: an echo's reads feed its own write queue, so stop reading a connection
// whose queue is above highWaterBytes until it drains (off by default: see the option).
const reactor = await Reactor.create({ host: "sim", seed: 42, maxConnections: 1000, pauseReadsAtHighWater: true });

const listener = reactor.listen({ port: 7 }, {
  open(conn) { conn.data = { bytes: 0 }; },
  data(conn, bytes) {
    conn.data.bytes += bytes.length;
    // `bytes` views the reactor's buffer pool and is valid only during this call. Writing it
    // back queues that same pool chunk, without a copy. Above highWaterBytes the reactor stops
    // reading this connection until the queue drains (pauseReadsAtHighWater).
    conn.write(bytes);
  },
  end(conn) { console.log(`server: ${conn.id} got the peer's FIN after ${conn.data.bytes} bytes`); },
  close(conn, info) { console.log(`server: ${conn.id} closed (${info.reason})`); },
  error(conn, err) { console.log(`server: ${conn.id}: ${err.code}`); },
});

// A simulated client: the remote end of one connection, driven from here.
const peer = reactor.sim.connect(listener.port);
peer.send("hello, reactor");
reactor.runUntil(() => peer.receivedBytes === 14);
console.log(`client: got "${peer.receivedText()}" back`);

peer.end(); // the client's FIN; the server ends its side too (allowHalfOpen is off) and closes
reactor.runUntil(() => reactor.metrics().connections === 0);

const m = reactor.metrics();
console.log(`metrics: ${m.accepts} accepted, ${m.bytesIn} B in, ${m.bytesOut} B out, ${m.turns} turns, ` +
  `${m.fdOpens} descriptors opened, ${m.fdCloses} closed`);

console.log("close:", await reactor.close({ drainMs: 1000 }));
