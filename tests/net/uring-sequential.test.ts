// A bug in the io_uring host found by h-uops (host/backends/uring/uring.c is the lead's: this
// test fails until it is fixed; the report describes it): with wait "block" (worker mode, which
// `serve` uses, and a reactor given wait: "block"), now and then a connection is accepted and
// its first bytes are never delivered: the client waits (15 s seen) with no echo, and the
// server sees the connection only when the client gives up. Seen on Node and Bun, 1 to 6 of 200
// sequential connections; with wait "thread" 0 of 300. This suite opens up to 300 connections
// one after another against `serve --backend uring` (a child on this suite's runtime), each
// sending 13 bytes and waiting at most 5 s for them back, and stops at the first that gets
// nothing: bounded at 300 × 5 s, in practice a few seconds.
import { suite } from "uvu";
import * as assert from "uvu/assert";
import type { ChildProcess } from "node:child_process";
import * as net from "node:net";
import { RUNTIME, signal, spawnCli } from "../helpers/cli.ts";
import { unavailable } from "../helpers/contract.ts";
import { skip } from "../helpers/skip.ts";

const test = suite(`net: serve --backend uring echoes every one of many sequential connections (under ${RUNTIME})`);
const children = new Set<ChildProcess>();
test.after(() => { for (const c of children) { try { process.kill(c.pid!, "SIGKILL"); } catch { /* gone */ } } });

/** One connection: send, wait for the echo (at most 5 s), close. What happened. */
function once(port: number, k: number): Promise<string> {
  return new Promise((resolve) => {
    const s = net.connect(port, "127.0.0.1");
    const msg = `hello #${String(k).padStart(5, "0")}`;
    let got = "", connected = false;
    const t = setTimeout(() => { s.destroy(); resolve(`no echo in 5 s (connected: ${connected}, got ${JSON.stringify(got)})`); }, 5000);
    s.setEncoding("latin1");
    s.on("connect", () => { connected = true; s.write(msg); });
    s.on("error", (e) => { clearTimeout(t); resolve(`error ${(e as NodeJS.ErrnoException).code ?? e.message}`); });
    s.on("data", (d) => { got += d; if (got.length >= msg.length) { clearTimeout(t); s.end(); resolve(got === msg ? "ok" : `wrong bytes ${JSON.stringify(got)}`); } });
  });
}

for (const mode of ["worker", "main"] as const) {
  test(`300 sequential connections, each echoed (${mode} mode)`, async () => {
    const why = unavailable({ name: "uring", options: { host: "uring", wait: "thread" } });
    if (why) return skip(`io_uring is not available here: ${why}`);
    const child = spawnCli(["serve", "--backend", "uring", "--mode", mode, "--port", "0", "--status-ms", "0", "--warmup", "0", "--drain-ms", "500"]);
    children.add(child);
    let out = "";
    child.stdout!.on("data", (b) => { out += b; });
    child.stderr!.on("data", (b) => { out += b; });
    const exited = new Promise<number | null>((r) => child.on("exit", (code) => { children.delete(child); r(code); }));
    for (let i = 0; !/listening on 127\.0\.0\.1:\d+/.test(out); i++) {
      if (i > 500 || child.exitCode !== null) throw new Error(`serve did not start: ${out}`);
      await new Promise((r) => setTimeout(r, 20));
    }
    const port = Number(/listening on 127\.0\.0\.1:(\d+)/.exec(out)![1]);
    try {
      for (let k = 0; k < 300; k++) {
        const r = await once(port, k);
        assert.is(r, "ok", `connection ${k + 1} of 300: ${r}`);
      }
    } finally {
      signal(child, "SIGTERM");
      assert.is(await exited, 0, out);
    }
  });
}

test.run();
