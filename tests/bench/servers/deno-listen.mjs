// Baseline echo server for tests/bench/net.mjs: Deno.listen (run it with `deno run -A`).
//
//   deno run -A tests/bench/servers/deno-listen.mjs --host 127.0.0.1 --port 0
//
// Prints "listening on HOST:PORT" once listening. Deno.listen takes no backlog option (net.mjs
// reads the real one with ss). Each connection: setNoDelay, then the usual loop: read into a
// 16 KiB buffer of its own, write it all back, until EOF or an error. SIGTERM/SIGINT: exit 0.
const arg = (name, dflt) => {
  const i = Deno.args.indexOf(name);
  return i >= 0 ? Deno.args[i + 1] : dflt;
};
const hostname = arg("--host", "127.0.0.1");
const port = Number(arg("--port", "0"));

async function echo(conn) {
  const buf = new Uint8Array(16384);
  try {
    conn.setNoDelay(true);
    for (;;) {
      const n = await conn.read(buf);
      if (n === null) break;
      let off = 0;
      while (off < n) off += await conn.write(buf.subarray(off, n));
    }
  } catch {
    // reset by the peer: just close
  } finally {
    try { conn.close(); } catch { /* already closed */ }
  }
}

const listener = Deno.listen({ hostname, port });
console.log(`listening on ${hostname}:${listener.addr.port}`);
for (const sig of ["SIGTERM", "SIGINT"]) Deno.addSignalListener(sig, () => Deno.exit(0));
for await (const conn of listener) echo(conn);
