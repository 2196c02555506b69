// The bench's load generator (tests/bench/loadgen.c), checked where its figures come from: its
// --depth option (issue 11's pipelined case, 8 messages in flight per connection) and the way it
// counts echoed bytes into messages. Runs on Node, Deno and Bun: the runtime only serves the echo
// and spawns the C program.
//
// How it works:
//   1. loadgen.c is built with `cc -O2 -Wall` into build/net/loadgen-test-<runtime> (a binary per
//      runtime: the three may build at once; skipped, with one line, without a C compiler or off
//      Linux, where it has no epoll).
//   2. Bad --depth values (0, 65, words, a number with a tail, empty, and --depth 2 outside
//      ping-pong) exit 2 with a message naming the option and the value, before any connection.
//   3. A real run on loopback against an echo server in this process, written here so it can count
//      every byte it reads and echo them back in pieces of 1-100 bytes (a message's echo arrives
//      split and several messages' echoes arrive joined: the in-order counting must hold across
//      both). With --warmup-ms 0 every message completed after the handshakes is counted, so the
//      loadgen's own report must add up exactly: it sent conns × (1 + depth) + msgs messages, has
//      depth in flight per connection at the end, and its echoed bytes are those of the completed
//      messages plus less than one message per connection. The server must have read no more than
//      the loadgen says it sent and no less than came back (the loadgen's close with echoes unread
//      is a reset, which may cost the server the last bytes), and written at least those.
//   4. A server that echoes every byte twice: more bytes back than were sent is a protocol error,
//      counted per connection, never a message.
// No timed assertion: the window is short (0.4 s) and only counts are compared.
import { suite } from "uvu";
import * as assert from "uvu/assert";
import { spawn, spawnSync } from "node:child_process";
import { existsSync, mkdirSync, statSync } from "node:fs";
import net from "node:net";
import { fileURLToPath } from "node:url";
import { RUNTIME } from "../helpers/cli.ts";
import { skip } from "../helpers/skip.ts";

const test = suite("net: the bench's load generator keeps --depth messages in flight and counts their echoes in order");
const path = (p: string) => fileURLToPath(new URL(`../../${p}`, import.meta.url));
const LOADGEN = { src: path("tests/bench/loadgen.c"), bin: path(`build/net/loadgen-test-${RUNTIME}`) };
const BYTES = 64, CONNS = 20;
/** A loadgen run's deadline (its own watchdog is ramp + window + 30 s; this one is a backstop). */
const RUN_MS = 60_000;

let built: string | undefined | null = null; // null: not tried yet; a string: why it cannot run
function buildLoadgen(): string | undefined {
  if (built !== null) return built;
  if (process.platform !== "linux") return (built = `loadgen.c is an epoll program (this is ${process.platform})`);
  if (existsSync(LOADGEN.bin) && statSync(LOADGEN.bin).mtimeMs >= statSync(LOADGEN.src).mtimeMs) return (built = undefined);
  mkdirSync(path("build/net"), { recursive: true });
  const cc = process.env.CC || "cc";
  const r = spawnSync(cc, ["-O2", "-Wall", "-o", LOADGEN.bin, LOADGEN.src], { encoding: "utf8", timeout: 60_000 });
  if (r.error) return (built = `no C compiler to build the load generator ('${cc}': ${r.error.message})`);
  if (r.status !== 0) throw new Error(`building ${LOADGEN.src} failed:\n${r.stderr}`);
  return (built = undefined);
}

interface Report {
  mode: string; conns: number; established: number; errors: number; errorsByKind: Record<string, { count: number; first: string }>;
  depth: number; msgs: number; inflightAtEnd: number; bytesSent: number; bytesEchoed: number; fatal?: string;
}

/** Runs the loadgen to its end; resolves its exit code, stderr and last JSON line (if any). */
function runLoadgen(args: string[]): Promise<{ code: number | null; stderr: string; report: Report | null }> {
  return new Promise((resolve, reject) => {
    const child = spawn(LOADGEN.bin, args, { stdio: ["ignore", "pipe", "pipe"] });
    let out = "", err = "";
    child.stdout!.setEncoding("utf8");
    child.stderr!.setEncoding("utf8");
    child.stdout!.on("data", (d: string) => { out += d; });
    child.stderr!.on("data", (d: string) => { err += d; });
    const killer = setTimeout(() => { try { process.kill(child.pid!, "SIGKILL"); } catch { /* gone */ } }, RUN_MS);
    child.on("error", (e) => { clearTimeout(killer); reject(e); });
    child.on("close", (code) => {
      clearTimeout(killer);
      const line = out.trim().split("\n").filter((l) => l.startsWith("{")).pop();
      resolve({ code, stderr: err, report: line ? (JSON.parse(line) as Report) : null });
    });
  });
}

/** An echo server that counts what it reads and writes; `reply` turns a chunk read into the chunks written. */
interface Counting { port: number; read: number; written: number; open: number; close(): Promise<void> }
function countingServer(reply: (chunk: Buffer) => Buffer[]): Promise<Counting> {
  return new Promise((resolve) => {
    const sockets = new Set<net.Socket>();
    const state = {
      port: 0, read: 0, written: 0,
      get open() { return sockets.size; },
      close: () => new Promise<void>((r) => { for (const s of sockets) s.destroy(); server.close(() => r()); }),
    };
    const server = net.createServer((s) => {
      sockets.add(s);
      s.setNoDelay(true);
      s.on("data", (d: Buffer) => {
        state.read += d.length;
        for (const piece of reply(d)) { state.written += piece.length; s.write(piece); }
      });
      s.on("error", () => { /* the loadgen closes with echoes unread: a reset */ });
      s.on("close", () => sockets.delete(s));
    });
    server.listen(0, "127.0.0.1", () => { state.port = (server.address() as net.AddressInfo).port; resolve(state); });
  });
}

/** Echo in pieces of 1-100 bytes (a fixed sequence), so message boundaries fall anywhere. */
function splitter(): (d: Buffer) => Buffer[] {
  let n = 0;
  return (d) => {
    const pieces: Buffer[] = [];
    for (let i = 0; i < d.length;) {
      const len = 1 + ((n++ * 37) % 100);
      pieces.push(d.subarray(i, i + len));
      i += len;
    }
    return pieces;
  };
}

async function until(what: string, ms: number, probe: () => boolean): Promise<void> {
  const t0 = Date.now();
  while (!probe()) {
    if (Date.now() - t0 > ms) throw new Error(`${what}: not within ${ms} ms`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

const pingpongArgs = (port: number, depth: number) => ["--host", "127.0.0.1", "--port", String(port), "--mode", "pingpong", "--conns", String(CONNS),
  "--bytes", String(BYTES), "--depth", String(depth), "--sources", "4", "--seconds", "0.4", "--warmup-ms", "0", "--ramp-timeout-s", "10", "--handshake-timeout-ms", "5000"];

test("--depth outside 1..64, not a whole number, or outside ping-pong: exit 2 with a message naming it", async () => {
  const why = buildLoadgen();
  if (why) return skip(why);
  for (const bad of ["0", "65", "-1", "eight", "8x", ""]) {
    const r = await runLoadgen(["--port", "1", "--mode", "pingpong", "--depth", bad]);
    assert.is(r.code, 2, `--depth "${bad}": exit code`);
    assert.ok(r.stderr.includes(`--depth must be a whole number from 1 to 64 (messages in flight per connection), not "${bad}"`), `--depth "${bad}": ${r.stderr}`);
    assert.ok(r.stderr.includes("usage: loadgen"), "the usage follows");
    assert.is(r.report, null, "no run, no report");
  }
  const hold = await runLoadgen(["--port", "1", "--mode", "hold", "--depth", "2"]);
  assert.is(hold.code, 2);
  assert.ok(hold.stderr.includes("--depth 2 applies to --mode pingpong only"), hold.stderr);
  const missing = await runLoadgen(["--port", "1", "--depth"]);
  assert.is(missing.code, 2, "--depth without a value");
  assert.ok(missing.stderr.includes("usage: loadgen"), missing.stderr);
});

for (const depth of [1, 8]) {
  test(`--depth ${depth} against an echo that splits and joins messages: every message and byte accounted for`, async () => {
    const why = buildLoadgen();
    if (why) return skip(why);
    const server = await countingServer(splitter());
    try {
      const { code, stderr, report: r } = await runLoadgen(pingpongArgs(server.port, depth));
      assert.is(code, 0, `exit code; stderr: ${stderr}`);
      assert.ok(r && !r.fatal, `a report: ${JSON.stringify(r)}`);
      assert.is(r!.depth, depth);
      assert.is(r!.errors, 0, `no errors: ${JSON.stringify(r!.errorsByKind)}`);
      assert.is(r!.established, CONNS);
      assert.ok(r!.msgs > 0, "messages completed in the window");
      // Each connection: one handshake message, `depth` at the start, one more per completed message.
      assert.is(r!.bytesSent, BYTES * (CONNS * (1 + depth) + r!.msgs), "bytes sent = every message queued (none left unwritten at 64 B)");
      assert.is(r!.inflightAtEnd, CONNS * depth, "depth messages in flight on every connection at the end");
      const whole = BYTES * (CONNS + r!.msgs); // the handshakes' echoes and every completed message's
      assert.ok(r!.bytesEchoed >= whole && r!.bytesEchoed < whole + CONNS * BYTES, `echoed ${r!.bytesEchoed}: the completed messages' ${whole} plus less than one message per connection`);
      // The server's side of the same bytes, once it has seen every close. The loadgen closes with
      // echoes unread (a reset), so the server may lose the last bytes sent to it: it has read at
      // most what the loadgen sent, and at least every byte that came back.
      await until("the server sees every connection closed", 10_000, () => server.open === 0);
      assert.ok(server.read <= r!.bytesSent && server.read >= r!.bytesEchoed, `the server read ${server.read}: between the ${r!.bytesEchoed} echoed and the ${r!.bytesSent} sent`);
      assert.ok(server.written >= r!.bytesEchoed, `the server wrote ${server.written} ≥ the ${r!.bytesEchoed} the loadgen counted back`);
    } finally {
      await server.close();
    }
  });
}

test("more bytes echoed than sent is a protocol error on that connection, never a message", async () => {
  const why = buildLoadgen();
  if (why) return skip(why);
  const server = await countingServer((d) => [Buffer.concat([d, d])]); // one write: the double arrives in one recv
  try {
    const { code, report: r } = await runLoadgen(pingpongArgs(server.port, 8));
    assert.is(code, 0);
    assert.ok(r && !r.fatal, `a report: ${JSON.stringify(r)}`);
    assert.is(r!.established, 0, "no handshake completes: its echo came back twice");
    assert.is(r!.errorsByKind.protocol?.count, CONNS, `every connection a protocol error: ${JSON.stringify(r!.errorsByKind)}`);
    assert.is(r!.msgs, 0);
  } finally {
    await server.close();
  }
});

test.run();
