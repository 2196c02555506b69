// The limits the library applies, for real (docs/limits.md):
//
//   RLIMIT_NOFILE   Node, Deno and Bun all raise the soft limit to the hard one themselves at
//                   start (measured: `prlimit --nofile=1024:20000 -- node ...` sees 20000), so a
//                   child started under a low soft limit would prove nothing. The suite lowers
//                   its own soft limit instead, with `prlimit --pid <self> --nofile=1024:HARD`,
//                   then makes reactors: raiseFdLimit: false keeps the budget at 1024 − fdReserve
//                   (992); the default raises it, says so in one log line, and the budget (metrics
//                   fdBudget) starts from the hard limit. The portable host cannot raise it and
//                   says so.
//   ephemeral ports A child in its own network namespace (`unshare -n`, lo up, the namespace's
//                   net.ipv4.ip_local_port_range shrunk to 10 ports) connects 20 times to one
//                   listener from one source address: the connects past the range fail with
//                   ERR_EPHEMERAL_PORTS (errno EADDRNOTAVAIL) naming the fixes, and one from
//                   another source address (127.0.0.2) still succeeds. On epoll and on the
//                   portable host.
import { suite } from "uvu";
import * as assert from "uvu/assert";
import process from "node:process";
import { spawn, execFileSync } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { Reactor, type ReactorError } from "../../host/index.ts";
import { netReactor, until, closeClean, abandonAll, selfCommand, runtimeName, logLines } from "../helpers/net.ts";
import { skip } from "../helpers/skip.ts";
import { onJsonLines } from "../helpers/lines.ts";

const CHILD_ENV = "WASM_REACTOR_LIMITS_CHILD";
const which = (tool: string): string | undefined => ["/usr/bin/", "/bin/", "/usr/sbin/", "/sbin/"].map((d) => d + tool).find((p) => existsSync(p));

/** [soft, hard] from /proc/self/limits ("unlimited" as Infinity). */
function nofile(): [number, number] {
  const m = /^Max open files\s+(\S+)\s+(\S+)/m.exec(readFileSync("/proc/self/limits", "utf8"))!;
  const n = (s: string) => (s === "unlimited" ? Infinity : Number(s));
  return [n(m[1]), n(m[2])];
}
/** The smallest of the hard limit, fs.nr_open and fs.file-max: what a raised budget starts from. */
function raisedLimit(hard: number): number {
  let lim = hard;
  for (const f of ["/proc/sys/fs/nr_open", "/proc/sys/fs/file-max"]) { const v = Number(readFileSync(f, "utf8").trim()); if (v > 0 && v < lim) lim = v; }
  return lim;
}
/** Lowers this process's own soft limit (the runtime raised it at start). */
function lowerSoft(prlimit: string, soft: number, hard: number): void {
  execFileSync(prlimit, ["--pid", String(process.pid), `--nofile=${soft}:${hard}`]);
  assert.is(nofile()[0], soft, "prlimit lowered the soft limit");
}

const childCfg = process.env[CHILD_ENV];
if (childCfg !== undefined) await child(JSON.parse(childCfg) as { host: "epoll" | "portable" });
else parent();

function parent(): void {
  const test = suite("net: limits the library applies");
  test.after(abandonAll);

  const linux = process.platform === "linux";
  const prlimit = which("prlimit");
  const why = !linux ? "not Linux (/proc/self/limits)" : !prlimit ? "no prlimit on this machine (util-linux)" : nofile()[1] < 1100 ? `the hard RLIMIT_NOFILE here is ${nofile()[1]}, too close to 1024 to show a raise` : undefined;

  test("raiseFdLimit: false keeps a soft limit of 1024 (budget 992); the default raises it to the hard limit, says so once, and the budget follows", async () => {
    if (why) return skip(why);
    const hard = nofile()[1];
    const soft0 = nofile()[0];
    try {
      lowerSoft(prlimit!, 1024, hard);
      const kept = await netReactor({ raiseFdLimit: false });
      assert.is(kept.metrics().fdBudget, 1024 - 32, "budget from the soft limit: 1024 − fdReserve 32");
      assert.match(kept.limits.source, /RLIMIT_NOFILE soft 1024 /);
      assert.is(logLines(kept).filter((l) => l.includes("descriptor limit")).length, 0, "no raise, no line");
      assert.is(nofile()[0], 1024, "the soft limit is left alone");
      await closeClean(kept);

      const raised = await netReactor({});
      const want = raisedLimit(hard);
      assert.is(nofile()[0], hard, "soft limit raised to the hard one");
      assert.is(raised.metrics().fdBudget, want - 32, "budget from the raised limit");
      const lines = logLines(raised).filter((l) => l.includes("descriptor limit"));
      assert.equal(lines, [`wasm-reactor: raised the descriptor limit from 1024 to ${hard} (RLIMIT_NOFILE soft → hard); raiseFdLimit: false keeps it`]);
      // Connections work under the raised limit (the shim's table was sized after the raise).
      const l = raised.listen({ port: 0 }, { data(c, d) { c.write(d); } });
      let back = "";
      raised.connect({ port: l.port }, { open(c) { c.write("hi"); }, data(c, d) { back += new TextDecoder().decode(d); if (back === "hi") c.end(); } });
      await until(raised, () => back === "hi" && raised.metrics().connections === 0, "echo after the raise");
      l.close();
      await closeClean(raised);

      const again = await netReactor({});
      assert.is(logLines(again).filter((l) => l.includes("descriptor limit")).length, 0, "nothing to raise the second time: no line");
      await closeClean(again);
    } finally {
      execFileSync(prlimit!, ["--pid", String(process.pid), `--nofile=${soft0}:${hard}`]);
    }
  });

  test("startWorkers raises the limit before it splits it between workers (and raiseFdLimit: false splits the soft one)", async () => {
    if (why) return skip(why);
    const [soft0, hard] = nofile();
    // The workers run the built library (dist/), as in tests/net/workers.test.ts.
    const lib = (await import(new URL("../../dist/index.js", import.meta.url).href)) as typeof import("../../host/index.ts");
    const app = new URL("../../tests/net/fixtures/echo-worker.mjs", import.meta.url);
    try {
      lowerSoft(prlimit!, 1024, hard);
      const keptLines: string[] = [];
      const kept = await lib.startWorkers({ module: app, workers: 2, options: { preset: "small", raiseFdLimit: false }, onLog: (l) => keptLines.push(l) });
      assert.equal(kept.workers.map((w) => w.fdBudget), [512 - 32, 512 - 32], "the soft limit 1024 split in two, less each one's reserve");
      assert.is(keptLines.filter((l) => l.includes("descriptor limit")).length, 0);
      assert.is((await kept.close({ drainMs: 0 })).leakedDescriptors, 0);

      const lines: string[] = [];
      const g = await lib.startWorkers({ module: app, workers: 2, options: { preset: "small" }, onLog: (l) => lines.push(l) });
      const share = Math.floor(hard / 2) - 32;
      assert.equal(g.workers.map((w) => w.fdBudget), [share, share], "the hard limit split in two");
      assert.equal(lines.filter((l) => l.includes("descriptor limit")), [`wasm-reactor: raised the descriptor limit from 1024 to ${hard} (RLIMIT_NOFILE soft → hard); raiseFdLimit: false keeps it`], "said once, by the main thread");
      assert.is((await g.close({ drainMs: 0 })).leakedDescriptors, 0);
    } finally {
      execFileSync(prlimit!, ["--pid", String(process.pid), `--nofile=${soft0}:${hard}`]);
    }
  });

  test("the portable host cannot raise the limit: it says so and budgets from the soft limit", async () => {
    if (why) return skip(why);
    const [soft0, hard] = nofile();
    try {
      lowerSoft(prlimit!, 1024, hard);
      const lines: string[] = [];
      const r = await Reactor.create({ host: "portable", build: "debug", maxConnections: 64, poolChunks: 32, chunkSize: 4096, log: (l) => lines.push(l) });
      assert.is(r.metrics().fdBudget, 1024 - 32);
      assert.is(nofile()[0], 1024, "the portable host left the limit alone");
      const said = lines.filter((l) => l.includes("cannot raise"));
      assert.is(said.length, 1, lines.join("\n"));
      assert.match(said[0], /descriptor limit is 1024 \(hard \d+\) and the portable host cannot raise it/);
      await r.close();
    } finally {
      execFileSync(prlimit!, ["--pid", String(process.pid), `--nofile=${soft0}:${hard}`]);
    }
  });

  test("option raiseFdLimit must be true or false", async () => {
    for (const v of [1, "yes", null]) {
      try { await Reactor.create({ host: "sim", raiseFdLimit: v as never }); assert.unreachable(`raiseFdLimit ${String(v)} accepted`); }
      catch (err) {
        assert.is((err as ReactorError).code, "ERR_INVALID_OPTION");
        assert.match((err as Error).message, /option 'raiseFdLimit' must be true or false/);
      }
    }
  });

  for (const host of ["epoll", "portable"] as const) {
    test(`ephemeral ports used up (unshare -n, ip_local_port_range of 10 ports): ERR_EPHEMERAL_PORTS naming the fixes; another source address still connects (${host})`, async () => {
      const unshare = which("unshare"), ip = which("ip");
      if (!linux || !unshare || !ip) return skip(`needs Linux with unshare and ip (util-linux, iproute2)`);
      // unshare -n needs CAP_SYS_ADMIN (root here and in CI); elsewhere say so
      try { execFileSync(unshare, ["-n", "--", "true"], { stdio: "ignore" }); }
      catch { return skip("unshare -n is not permitted here (needs CAP_SYS_ADMIN or user namespaces)"); }
      const [cmd, args] = selfCommand(fileURLToPath(import.meta.url));
      const script = `${ip} link set lo up && echo "40000 40009" > /proc/sys/net/ipv4/ip_local_port_range && exec "$0" "$@"`;
      const proc = spawn(unshare, ["-n", "--", "sh", "-c", script, cmd, ...args], {
        stdio: ["ignore", "pipe", "pipe"], env: { ...process.env, [CHILD_ENV]: JSON.stringify({ host }), DENO_NO_UPDATE_CHECK: "1" },
      });
      let stderr = "";
      proc.stderr!.on("data", (d: Uint8Array) => { stderr += new TextDecoder().decode(d); });
      const result = await new Promise<ChildResult>((resolve, reject) => {
        const timer = setTimeout(() => { proc.kill("SIGKILL"); reject(new Error(`child timed out; stderr: ${stderr}`)); }, 60_000);
        onJsonLines<ChildResult>(proc.stdout!, (m) => { clearTimeout(timer); resolve(m); }, (line) => { stderr += line + "\n"; });
        proc.on("exit", (code) => { clearTimeout(timer); reject(new Error(`child exited ${code} without a result; stderr: ${stderr}`)); });
      });
      if (result.error) throw new Error(`child: ${result.error}`);
      console.log(`  (${host}: ${result.connected} connected, ${result.failed} failed with ${result.codes[0]}, 127.0.0.2: ${result.otherSource})`);
      assert.is(result.range, "40000\t40009");
      assert.ok(result.connected >= 5 && result.connected <= 10, `connected ${result.connected} of 20 from one address (10 ports, less the listener's)`);
      assert.is(result.connected + result.failed, 20);
      assert.is(result.codes.length, result.failed);
      for (const c of result.codes) assert.is(c, "ERR_EPHEMERAL_PORTS");
      assert.is(result.errno, 99);
      assert.is(result.closeCode, "EADDRNOTAVAIL", "close info keeps the errno name");
      for (const words of ["net.ipv4.ip_local_port_range", "localAddress", "IP_BIND_ADDRESS_NO_PORT", "docs/runbooks/ephemeral-port-exhaustion.md"]) {
        assert.ok(result.message.includes(words), `the message names ${words}: ${result.message}`);
      }
      // Deno's and Bun's connect cannot name a source address (the portable host refuses localAddress there)
      if (host === "portable" && runtimeName() !== "node") assert.is(result.otherSource, "unsupported");
      else assert.is(result.otherSource, "connected", "a connect from 127.0.0.2 found a port");
      await new Promise<void>((res) => { if (proc.exitCode !== null) res(); else proc.on("exit", () => res()); });
    });
  }

  test.run();
}

interface ChildResult { range: string; connected: number; failed: number; codes: string[]; errno?: number; message: string; closeCode?: string; otherSource: "connected" | "failed" | "unsupported"; error?: string }

async function child(cfg: { host: "epoll" | "portable" }): Promise<void> {
  const out = (o: unknown) => process.stdout.write(JSON.stringify(o) + "\n");
  try {
    const r = await Reactor.create({ host: cfg.host, build: "debug", wait: "thread", maxConnections: 256, poolChunks: 64, chunkSize: 4096, connectTimeoutMs: 10_000, log: () => {} });
    const running = r.run();
    const l = r.listen({ port: 0 }, {});
    const res: ChildResult = { range: readFileSync("/proc/sys/net/ipv4/ip_local_port_range", "utf8").trim(), connected: 0, failed: 0, codes: [], message: "", otherSource: "failed" };
    let settled = 0;
    for (let i = 0; i < 20; i++) {
      r.connect({ port: l.port }, {
        open() { res.connected++; settled++; },
        error(_c, e) { res.codes.push(e.code); res.errno = e.errno; res.message = e.message; },
        close(_c, info) { if (info.reason === "connectFailed") { res.failed++; settled++; res.closeCode = info.code; } },
      });
    }
    const deadline = Date.now() + 20_000;
    while (settled < 20 && Date.now() < deadline) await new Promise((res2) => setTimeout(res2, 5));
    let other = false;
    try {
      r.connect({ port: l.port, localAddress: "127.0.0.2" }, { open() { other = true; }, close() { settled++; } });
      while (!other && settled < 21 && Date.now() < deadline) await new Promise((res2) => setTimeout(res2, 5));
      res.otherSource = other ? "connected" : "failed";
    } catch (err) {
      if ((err as ReactorError).code !== "ERR_INVALID_OPTION") throw err;
      res.otherSource = "unsupported";
    }
    out(res);
    await r.close({ drainMs: 0 });
    await running;
  } catch (err) {
    out({ error: (err as Error)?.stack ?? String(err) });
  }
  process.exit(0);
}

