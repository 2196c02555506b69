// runtimes: deno
// What Deno refuses, and what the CLI and the library say then: one line naming the flags to
// add, never a stack trace from inside the runtime (docs/runtimes.md lists what each part
// needs). The CLI checks up front (Deno.permissions.querySync); the library turns a refusal at
// its edges (reading the core or a trace, writing a trace, loading the native shim) into a
// ReactorError. And the documented least flags are enough: serve with --allow-read --allow-ffi,
// replay with --allow-read.
import { suite } from "uvu";
import * as assert from "uvu/assert";
import { spawnSync, type ChildProcess } from "node:child_process";
import * as net from "node:net";
import { fileURLToPath } from "node:url";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { denoCommand, runCli, signal, spawnCli } from "../helpers/cli.ts";

const test = suite("net: Deno's permissions (the CLI and the library)");
const TRACE = fileURLToPath(new URL("../../tests/traces/fault-storm.trace", import.meta.url));
const DIST = fileURLToPath(new URL("../../dist/", import.meta.url));
const children = new Set<ChildProcess>();
test.after(() => { for (const c of children) { try { process.kill(c.pid!, "SIGKILL"); } catch { /* gone */ } } });

/** One line, starting "wasm-reactor: ", with no trace of Deno's own error. */
function oneClearLine(err: string): void {
  assert.is(err.trim().split("\n").length, 1, `one line: ${err}`);
  assert.match(err, /^wasm-reactor: /);
  assert.not.match(err, /NotCapable|PermissionDenied|\bat [\w.]+ \(/, `no stack: ${err}`);
}

test("serve with no permission: exit 2, one line naming --allow-read and --allow-ffi (or --allow-net)", () => {
  const r = runCli(["serve", "--port", "0"], { deno: [] });
  assert.is(r.code, 2, r.out + r.err);
  oneClearLine(r.err);
  assert.match(r.err, /serve under Deno needs --allow-read \(the core\), one of --allow-ffi \(the native shim\) or --allow-net \(the portable host's sockets\): run `deno run --allow-read --allow-ffi \S+cli\.js serve …` \(or deno run -A\)/);
  assert.is(r.out, "");
});

test("serve: each backend names what it lacks (epoll: --allow-ffi; portable: --allow-net; --record: --allow-write)", () => {
  for (const [flags, args, re] of [
    [["--allow-read"], ["--backend", "epoll"], /needs --allow-ffi \(the native shim\): run `deno run --allow-read --allow-ffi /],
    [["--allow-read", "--allow-ffi"], ["--backend", "portable"], /needs --allow-net \(the portable host's sockets\): run `deno run --allow-read --allow-net /],
    [["--allow-read", "--allow-ffi"], ["--record", "/tmp/wr-never-written.trace"], /needs --allow-write \(--record\): run `deno run --allow-read --allow-ffi --allow-write /],
    [[`--allow-read=${TRACE}`, "--allow-ffi"], ["--backend", "sim"], /needs --allow-read \(the core\)/],
  ] as const) {
    const r = runCli(["serve", "--port", "0", ...args], { deno: [...flags] });
    assert.is(r.code, 2, `${flags.join(" ")} serve ${args.join(" ")}: ${r.out}${r.err}`);
    oneClearLine(r.err);
    assert.match(r.err, re);
  }
});

for (const mode of ["worker", "main"] as const) {
  test(`serve with only --allow-read --allow-ffi echoes and drains on SIGTERM (${mode} mode)`, async () => {
    const child = spawnCli(["serve", "--port", "0", "--mode", mode, "--status-ms", "0", "--warmup", "200", "--json"], { deno: ["--allow-read", "--allow-ffi"] });
    children.add(child);
    let out = "";
    child.stdout!.on("data", (b) => { out += b; });
    child.stderr!.on("data", (b) => { out += b; });
    const exited = new Promise<number | null>((res) => child.on("exit", (code) => { children.delete(child); res(code); }));
    const t0 = Date.now();
    while (!/echo on/.test(out)) {
      if (child.exitCode !== null || Date.now() - t0 > 15_000) throw new Error(`serve did not start: ${out}`);
      await new Promise((res) => setTimeout(res, 20));
    }
    const port = Number(/listening on 127\.0\.0\.1:(\d+)/.exec(out)![1]);
    const got = await new Promise<string>((resolve, reject) => {
      const s = net.connect(port, "127.0.0.1", () => s.end("hello, deno"));
      let b = "";
      s.on("data", (d) => { b += d; });
      s.on("close", () => resolve(b));
      s.on("error", reject);
      setTimeout(() => { s.destroy(); reject(new Error("no echo in 10 s")); }, 10_000);
    });
    assert.is(got, "hello, deno");
    signal(child, "SIGTERM");
    assert.is(await exited, 0, out);
    const report = JSON.parse(out.trim().split("\n").pop()!);
    assert.equal([report.accepts, report.leakedDescriptors], [1, 0]);
  });
}

test("replay: no permission names --allow-read; --allow-read alone replays", () => {
  const denied = runCli(["replay", TRACE, "--force"], { deno: [] });
  assert.is(denied.code, 2);
  oneClearLine(denied.err);
  assert.match(denied.err, /replay under Deno needs --allow-read \(the core; the trace\)/);
  const ok = runCli(["replay", TRACE, "--force"], { deno: ["--allow-read"] });
  assert.is(ok.code, 0, ok.err);
  assert.match(ok.out, /^identical, \d+ turns/);
});

test("fuzz: the simulator needs --allow-read and --allow-write for --out; real sockets need -A (Deno opens /proc/self to -A alone)", () => {
  const dir = mkdtempSync(join(tmpdir(), "wr-cli-deno-"));
  try {
    const noWrite = runCli(["fuzz", "--seeds", "3", "--out", dir], { deno: ["--allow-read"] });
    assert.is(noWrite.code, 2);
    oneClearLine(noWrite.err);
    assert.match(noWrite.err, /fuzz under Deno needs --allow-write \(--out: where a failure's scenario and trace go\)/);
    const ok = runCli(["fuzz", "--seed", "2", "--seeds", "3", "--out", dir], { deno: ["--allow-read", `--allow-write=${dir}`] });
    assert.is(ok.code, 0, ok.out + ok.err);
    assert.match(ok.out, /passed: 3 scenarios/);
    const epoll = runCli(["fuzz", "--host", "epoll", "--seeds", "1"], { deno: ["--allow-read", "--allow-ffi", "--allow-net", "--allow-env", "--allow-write"] });
    assert.is(epoll.code, 2);
    oneClearLine(epoll.err);
    assert.match(epoll.err, /fuzz --host epoll under Deno needs -A \(its descriptor leak check reads \/proc\/self\/fd, which Deno opens only to --allow-all\)/);
  } finally { rmSync(dir, { recursive: true, force: true }); }
});

// ── the library ─────────────────────────────────────────────────────────────────────────
// A small program on dist/index.js, as an app would use it; it prints what it caught as JSON.
const PROGRAM = `
import { Reactor, replayFile } from ${JSON.stringify(new URL("index.js", `file://${DIST}`).href)};
const what = Deno.args[0];
const log = [];
try {
  if (what === "replay") await replayFile(Deno.args[1], { force: true });
  else {
    const r = await Reactor.create({ host: what, maxConnections: 16, log: (l) => log.push(l), ...(Deno.args[1] ? { record: { path: Deno.args[1] } } : {}) });
    console.log(JSON.stringify({ ok: true, host: r.host.kind, log }));
    await r.close({ drainMs: 0 });
    Deno.exit(0);
  }
  console.log(JSON.stringify({ ok: true, log }));
} catch (err) {
  console.log(JSON.stringify({ ok: false, name: err.name, code: err.code, message: err.message, log }));
}
`;

function library(flags: string[], args: string[]): { ok: boolean; name?: string; code?: string; message?: string; host?: string; log: string[] } {
  const dir = mkdtempSync(join(tmpdir(), "wr-lib-deno-"));
  try {
    const file = join(dir, "app.mjs");
    writeFileSync(file, PROGRAM);
    const c = denoCommand(["run", ...flags, "--no-lock", file, ...args]);
    const r = spawnSync(c.cmd, c.args, { encoding: "utf8", timeout: 30_000, env: { ...process.env, ...c.env } });
    assert.is(r.status, 0, r.stdout + r.stderr);
    return JSON.parse(r.stdout.trim().split("\n").pop()!);
  } finally { rmSync(dir, { recursive: true, force: true }); }
}

test("library: importing it needs no permission; reading the core without --allow-read is ERR_PERMISSION naming the flag", () => {
  const r = library([], ["sim"]);
  assert.is(r.ok, false);
  assert.is(r.code, "ERR_PERMISSION");
  assert.match(r.message!, /^wasm-reactor: Deno refused to read the core \S+core\.\w+\.wasm: run it with --allow-read \(or -A\)/);
  assert.ok(library(["--allow-read"], ["sim"]).ok, "--allow-read is all the simulator needs");
});

test("library: host 'epoll' without --allow-ffi is ERR_HOST_UNAVAILABLE naming --allow-ffi; 'auto' says so and turns to the portable host", () => {
  const epoll = library(["--allow-read"], ["epoll"]);
  assert.is(epoll.ok, false);
  assert.is(epoll.code, "ERR_HOST_UNAVAILABLE");
  assert.match(epoll.message!, /^wasm-reactor: Deno refused to load the native shim \S+wasm_reactor\.node: run with --allow-read --allow-ffi \(or -A\)/);
  const auto = library(["--allow-read", "--allow-net"], ["auto"]);
  assert.match(auto.log.join("\n"), /host 'auto' is using the portable host \(the runtime's own sockets\): Deno refused to load the native shim/);
  if (auto.ok) assert.is(auto.host, "portable");
  else assert.is(auto.code, "ERR_HOST_UNAVAILABLE", auto.message); // the portable host, where this build lacks it
  const ok = library(["--allow-read", "--allow-ffi"], ["epoll"]);
  assert.equal([ok.ok, ok.host], [true, "epoll"], JSON.stringify(ok));
});

test("library: a trace it may not read or write is ERR_PERMISSION naming --allow-read or --allow-write", () => {
  const read = library([`--allow-read=${DIST}`], ["replay", TRACE]);
  assert.is(read.code, "ERR_PERMISSION");
  assert.match(read.message!, /^wasm-reactor: Deno refused to read the trace \S+fault-storm\.trace: run it with --allow-read \(or -A\)/);
  const write = library(["--allow-read"], ["sim", "/tmp/wr-never-written.trace"]);
  assert.is(write.code, "ERR_PERMISSION");
  assert.match(write.message!, /^wasm-reactor: Deno refused to write the trace file \/tmp\/wr-never-written\.trace: run it with --allow-write \(or -A\)/);
});

test.run();
