// Baseline echo server for tests/bench/net.mjs: node:net, the way an app writes it.
//
//   node tests/bench/servers/node-net.mjs --host 127.0.0.1 --port 0
//
// Prints "listening on HOST:PORT" once listening (backlog 4096). Each socket: noDelay, and
// socket.write(data) on every 'data' event (node:net buffers a partial write itself). Socket
// errors (ECONNRESET from a client that went away) close that socket only. SIGTERM/SIGINT: exit 0.
import net from "node:net";

const arg = (name, dflt) => {
  const i = process.argv.indexOf(name);
  return i >= 0 ? process.argv[i + 1] : dflt;
};
const host = arg("--host", "127.0.0.1");
const port = Number(arg("--port", "0"));

const server = net.createServer({ noDelay: true }, (socket) => {
  socket.setNoDelay(true);
  socket.on("data", (data) => socket.write(data));
  socket.on("error", () => socket.destroy());
});
server.on("error", (err) => {
  console.error(`node-net: ${err.message}`);
  process.exit(1);
});
server.listen({ host, port, backlog: 4096 }, () => {
  console.log(`listening on ${host}:${server.address().port}`);
});
for (const sig of ["SIGTERM", "SIGINT"]) process.on(sig, () => process.exit(0));
