// Baseline echo server for tests/bench/net.mjs: Bun.listen (run it with the bun binary).
//
//   bun tests/bench/servers/bun-listen.mjs --host 127.0.0.1 --port 0
//
// Prints "listening on HOST:PORT" once listening. Bun.listen takes no backlog option: the
// listening socket gets Bun's own (net.mjs reads the real one with ss). Each socket: setNoDelay,
// and socket.write(data) in the data handler. socket.write() may take only part of the bytes:
// the rest waits in socket.data and goes out in drain, as Bun's docs ask. SIGTERM/SIGINT: exit 0.
const arg = (name, dflt) => {
  const i = process.argv.indexOf(name);
  return i >= 0 ? process.argv[i + 1] : dflt;
};
const hostname = arg("--host", "127.0.0.1");
const port = Number(arg("--port", "0"));

function flush(socket) {
  const rest = socket.data;
  const n = socket.write(rest);
  socket.data = n < rest.length ? rest.subarray(Math.max(n, 0)) : null;
}

const listener = Bun.listen({
  hostname,
  port,
  socket: {
    open(socket) {
      socket.setNoDelay(true);
      socket.data = null;
    },
    data(socket, data) {
      if (socket.data) { // still writing an earlier echo: queue behind it
        const joined = new Uint8Array(socket.data.length + data.length);
        joined.set(socket.data);
        joined.set(data, socket.data.length);
        socket.data = joined;
        return;
      }
      const n = socket.write(data);
      if (n < data.length) socket.data = data.slice(Math.max(n, 0)); // data is only valid during this call
    },
    drain(socket) {
      if (socket.data) flush(socket);
    },
    error() {},
    close() {},
  },
});
console.log(`listening on ${hostname}:${listener.port}`);
for (const sig of ["SIGTERM", "SIGINT"]) {
  process.on(sig, () => {
    listener.stop(true);
    process.exit(0);
  });
}
