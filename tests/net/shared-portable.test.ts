// The shared API tests (tests/net/shared.ts) on the portable host: the same test code as
// shared-sim.test.ts and shared-epoll.test.ts, with the server reactor and the peers' reactor
// both on host "portable" (node:net, Deno.listen or Bun.listen, by runtime). Then how host
// "auto" comes to the portable host: forced by WASM_REACTOR_HOST, and as the fallback when the
// native shim is missing (a copy of this bundle, in a directory without the shim, run as a
// child process: what a machine without a C compiler sees), with its one log line.
import { suite } from "uvu";
import * as assert from "uvu/assert";
import process from "node:process";
import { spawn } from "node:child_process";
import { copyFileSync, mkdtempSync, readFileSync, readdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { basename, dirname, join } from "node:path";
import { Reactor, replayFile } from "../../host/index.ts";
import { defineSharedTests } from "./shared.ts";
import { portableHarness } from "../helpers/peer.ts";
import { abandonAll, selfCommand } from "../helpers/net.ts";
import { onJsonLines } from "../helpers/lines.ts";
import type { Readable } from "node:stream";

const CHILD_ENV = "WASM_REACTOR_AUTO_CHILD";

/** What host "auto" became, and every line it logged. */
async function autoHost(): Promise<{ kind: string; lines: string[] }> {
  const lines: string[] = [];
  const r = await Reactor.create({ host: "auto", log: (l) => lines.push(l) });
  const kind = r.host.kind;
  // The portable host serves: one echo on loopback, so the fallback is a working host, not a name.
  const l = r.listen({ port: 0 }, { data(c, d) { c.write(d); } });
  const running = r.run();
  const { createConnection } = await import("node:net");
  const echoed = await new Promise<string>((res, rej) => {
    const s = createConnection({ port: l.port, host: "127.0.0.1" }, () => s.write("ping"));
    s.on("data", (d) => { res(String(d)); s.destroy(); });
    s.on("error", rej);
    setTimeout(() => rej(new Error("no echo in 5 s")), 5000);
  });
  await r.close({ drainMs: 500 });
  await running;
  lines.push(`echo: ${echoed}`);
  return { kind, lines };
}

if (process.env[CHILD_ENV]) {
  autoHost().then(
    (out) => { process.stdout.write(JSON.stringify(out) + "\n", () => process.exit(0)); },
    (err) => { process.stdout.write(JSON.stringify({ error: String(err?.stack ?? err) }) + "\n", () => process.exit(1)); },
  );
} else {
  const test = suite("net: shared API tests on the portable host");
  test.after(abandonAll);
  defineSharedTests(test, portableHarness());

  test("a recorded run on the portable host replays identically (the core saw the same inputs)", async () => {
    const dir = mkdtempSync(join(tmpdir(), "wasm-reactor-portable-trace-"));
    try {
      const path = join(dir, "portable.trace");
      const r = await Reactor.create({ host: "portable", build: "debug", maxConnections: 64, poolChunks: 256, chunkSize: 4096, idleTimeoutMs: 2000, record: { path } });
      const l = r.listen({ port: 0 }, { data(c, d) { c.write(d); } });
      const running = r.run();
      const { createConnection } = await import("node:net");
      // Ten clients, each sends 20 KiB in pieces and waits for the whole echo.
      await Promise.all(Array.from({ length: 10 }, (_, i) => new Promise<void>((res, rej) => {
        const want = 20_480;
        let got = 0;
        const s = createConnection({ port: l.port, host: "127.0.0.1" }, () => { for (let k = 0; k < 5; k++) s.write(new Uint8Array(want / 5).fill(i + k)); });
        s.on("data", (d) => { got += d.length; if (got >= want) { s.end(); res(); } });
        s.on("error", rej);
        setTimeout(() => rej(new Error(`client ${i}: ${got} of ${want} bytes echoed in 10 s`)), 10_000);
      })));
      await r.close({ drainMs: 1000 });
      await running;
      const turns = r.recorder!.turns;
      const res = await replayFile(path, { checkInvariants: true });
      assert.ok(res.identical, `replay diverged: ${JSON.stringify(res.divergence)}`);
      assert.is(res.broken, undefined);
      assert.is(res.turns, turns, "every recorded turn replayed");
      assert.is(r.metrics().bytesIn, 10 * 20_480, "the recorded run read every byte");
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test("limits(): RLIMIT_NOFILE's soft limit from /proc/self/limits on Linux, else the documented default; option fdLimit overrides", async () => {
    const r = await Reactor.create({ host: "portable", maxConnections: 64 });
    try {
      const lim = r.host.limits();
      let soft: number | undefined;
      try { soft = Number(/^Max open files\s+(\d+)/m.exec(readFileSync("/proc/self/limits", "utf8"))?.[1]); } catch { soft = undefined; }
      if (soft) { assert.is(lim.fdLimit, soft); assert.match(lim.source, /RLIMIT_NOFILE soft \d+ .*\/proc\/self\/limits/); }
      else { assert.is(lim.fdLimit, 4096); assert.match(lim.source, /default 4096/); }
    } finally { await r.close({ drainMs: 0 }); }
    const r2 = await Reactor.create({ host: "portable", maxConnections: 64, fdLimit: 300 });
    try { assert.is(r2.limits.fdLimit, 300); assert.match(r2.limits.source, /^option fdLimit 300 \(host: /); }
    finally { await r2.close({ drainMs: 0 }); }
  });

  test("host 'auto' with WASM_REACTOR_HOST=portable is the portable host", async () => {
    const before = process.env.WASM_REACTOR_HOST;
    process.env.WASM_REACTOR_HOST = "portable";
    try {
      const out = await autoHost();
      assert.is(out.kind, "portable");
      assert.ok(out.lines.includes("echo: ping"), out.lines.join("\n"));
    } finally {
      if (before === undefined) delete process.env.WASM_REACTOR_HOST; else process.env.WASM_REACTOR_HOST = before;
    }
  });

  test("host 'auto' where the native shim is missing falls back to the portable host, with one log line saying why", async () => {
    // This bundle and the cores, copied to a directory without wasm_reactor.node.
    const here = new URL(import.meta.url).pathname;
    const dir = mkdtempSync(join(tmpdir(), "wasm-reactor-auto-"));
    try {
      copyFileSync(here, join(dir, basename(here)));
      for (const f of readdirSync(dirname(here))) if (/^core\.\w+\.wasm$/.test(f)) copyFileSync(join(dirname(here), f), join(dir, f));
      const [cmd, args] = selfCommand(join(dir, basename(here)));
      const env: Record<string, string | undefined> = { ...process.env, [CHILD_ENV]: "1", DENO_NO_UPDATE_CHECK: "1" };
      delete env.WASM_REACTOR_HOST;
      const child = spawn(cmd, args, { stdio: ["ignore", "pipe", "pipe"], env });
      let stderr = "";
      child.stderr!.on("data", (d) => { stderr += String(d); });
      const out = await new Promise<{ kind?: string; lines?: string[]; error?: string }>((res, rej) => {
        const timer = setTimeout(() => { child.kill("SIGKILL"); rej(new Error(`the child gave no answer in 20 s; stderr: ${stderr.slice(0, 1000)}`)); }, 20_000);
        onJsonLines<{ kind?: string; lines?: string[]; error?: string }>(child.stdout as unknown as Readable, (m) => { clearTimeout(timer); res(m); }, () => {});
        child.on("exit", (code) => { if (code !== 0) { clearTimeout(timer); rej(new Error(`the child exited ${code}; stderr: ${stderr.slice(0, 1000)}`)); } });
      });
      assert.is(out.error, undefined, out.error);
      assert.is(out.kind, "portable");
      const why = out.lines!.filter((l) => l.startsWith("wasm-reactor: host 'auto' is using the portable host"));
      assert.is(why.length, 1, `one line says why: ${out.lines!.join("\n")}`);
      assert.match(why[0], /native shim .*is not built|missing/);
      assert.ok(out.lines!.includes("echo: ping"), "the portable host served");
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test.run();
}
