// An echo server on real sockets (the epoll host, Linux), and a client on the same reactor.
// From the repository root, after a build (`npm ci` runs one):
//   node docs/examples/echo-epoll.mjs        (also: deno run -A docs/examples/echo-epoll.mjs, bun …)
import { Reactor } from "../../dist/index.js";
import { connect } from "node:net";

// wait: "thread" (the default) never blocks this thread: other JS (here a node:net client) runs
// while the reactor waits for I/O.
const reactor = await Reactor.create({ maxConnections: 1000 });

const listener = reactor.listen({ port: 0, host: "127.0.0.1" }, {
  data(conn, bytes) { if (conn.writable) conn.write(bytes); }, // zero copy: the same pool chunk goes back out
  close(conn, info) { console.log(`server: connection ${conn.id} closed (${info.reason})`); },
});
const running = reactor.run(); // drives the loop until reactor.close() has finished

// A plain node:net client (works the same in Deno and Bun).
const sock = connect(listener.port, "127.0.0.1");
sock.on("data", (b) => {
  console.log(`client: got "${b}" back`);
  sock.end();
});
sock.write("hello, reactor");
await new Promise((r) => sock.on("close", r));

// An outbound connection from the reactor itself, to the same listener.
await new Promise((resolve) => {
  reactor.connect({ port: listener.port }, {
    open(conn) { conn.write("ping"); },
    data(conn, bytes) { console.log(`reactor client: got "${new TextDecoder().decode(bytes)}"`); conn.end(); },
    close() { resolve(); },
  });
});

const m = reactor.metrics();
console.log(`accepts ${m.accepts}, native calls per turn ${m.host.crossingsPerTurn}`);
console.log(await reactor.close({ drainMs: 1000 })); // { graceful, aborted, ms, leakedDescriptors: 0 }
await running;
