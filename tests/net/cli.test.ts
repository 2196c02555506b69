// `wasm-reactor` as a user runs it, on the runtime that runs this suite (Node: `node
// dist/cli.js`, Bun: `bun dist/cli.js`, Deno: `deno run -A dist/cli.js`; tests/helpers/cli.ts):
// a child process on real sockets. --help, bad options, a port in use and a backend that
// cannot run here exit 2 with one clear line; a running server echoes, prints its status,
// drains on SIGTERM/SIGINT and reports no leak, in worker and main-thread mode; --workers
// shares the port; --record writes traces that replay identical; fuzz passes on the simulator
// and on real sockets. --backend uring serves, records and replays as epoll does, refuses
// --edge, and where a seccomp filter forbids io_uring exits 2 with one line while the default
// (auto) still serves on epoll. What Deno refuses without -A: cli-deno.test.ts.
import { suite } from "uvu";
import * as assert from "uvu/assert";
import type { ChildProcess } from "node:child_process";
import * as net from "node:net";
import { fileURLToPath } from "node:url";
import { copyFileSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { CLI, RUNTIME, cliCommand, runCli, signal, spawnCli, type CliOptions } from "../helpers/cli.ts";
import { unavailable } from "../helpers/contract.ts";
import { spawn, spawnSync } from "node:child_process";
import { noIoUring } from "../helpers/seccomp.ts";
import { skip } from "../helpers/skip.ts";

const test = suite(`net: wasm-reactor serve, replay, fuzz (the CLI, under ${RUNTIME})`);
const children = new Set<ChildProcess>();
test.after(() => { for (const c of children) { try { process.kill(c.pid!, "SIGKILL"); } catch { /* gone */ } } });

const runSync = (args: string[], o?: CliOptions & { timeoutMs?: number }) => runCli(args, o);
const oneLine = (err: string) => assert.is(err.trim().split("\n").length, 1, `one line: ${err}`);

interface Server { child: ChildProcess; port: number; out: () => string; exited: Promise<number | null> }
/** What `--backend auto` (the default) picks here: io_uring where the kernel allows it, else epoll. */
const AUTO = unavailable({ name: "uring", options: { host: "uring", wait: "thread" } }) === undefined ? "uring" : "epoll";

/** Starts serve on a free port and waits for its banner, which must name `backend`. */
async function startServer(args: string[], backend: string = AUTO, o?: CliOptions & { prefix?: string[] }): Promise<Server> {
  const child = o?.prefix ? spawnPrefixed(o.prefix, ["serve", "--port", "0", "--status-ms", "200", ...args]) : spawnCli(["serve", "--port", "0", "--status-ms", "200", ...args], o);
  children.add(child);
  let out = "";
  child.stdout!.on("data", (b) => { out += b; });
  child.stderr!.on("data", (b) => { out += b; });
  const exited = new Promise<number | null>((r) => child.on("exit", (code) => { children.delete(child); r(code); }));
  const t0 = Date.now();
  while (!/listening on 127\.0\.0\.1:(\d+)\n.*echo on/.test(out)) { // the banner's two lines
    if (Date.now() - t0 > 10_000) throw new Error(`no "listening on" line in 10 s: ${out}`);
    if (child.exitCode !== null) throw new Error(`serve exited ${child.exitCode}: ${out}`);
    await new Promise((r) => setTimeout(r, 20));
  }
  assert.match(out, new RegExp(`echo on 127\\.0\\.0\\.1:\\d+ \\(${backend}[,)]`), `the banner names the backend used (${backend})`);
  return { child, port: Number(/listening on 127\.0\.0\.1:(\d+)/.exec(out)![1]), out: () => out, exited };
}

/** The final JSON report (serve --json), the last line of its output. */
const reportOf = (s: Server) => JSON.parse(s.out().trim().split("\n").pop()!);

/** The CLI under a wrapper command (prefix: the wrapper and its arguments), e.g. the seccomp filter of tests/helpers/seccomp.ts. */
function spawnPrefixed(prefix: string[], args: string[]): ChildProcess {
  const c = cliCommand(args);
  return spawn(prefix[0], [...prefix.slice(1), c.cmd, ...c.args], { stdio: ["ignore", "pipe", "pipe"], env: { ...process.env, ...c.env } });
}
function runPrefixed(prefix: string[], args: string[]): { code: number | null; out: string; err: string } {
  const c = cliCommand(args);
  const r = spawnSync(prefix[0], [...prefix.slice(1), c.cmd, ...c.args], { encoding: "utf8", timeout: 30_000, env: { ...process.env, ...c.env } });
  return { code: r.status, out: r.stdout, err: r.stderr };
}

/** n node:net clients, each echoes `rounds` messages; resolves with the bytes they got back. */
function clients(port: number, n: number, rounds: number): Promise<number> {
  return Promise.all(Array.from({ length: n }, () => new Promise<number>((resolve, reject) => {
    const s = net.connect(port, "127.0.0.1");
    let got = 0, sent = 1;
    s.on("connect", () => s.write("ping-pong-64-bytes".padEnd(64, ".")));
    s.on("data", (b) => {
      got += b.length;
      if (got === sent * 64) { if (sent < rounds) { sent++; s.write("x".repeat(64)); } else s.end(); }
    });
    s.on("close", () => resolve(got));
    s.on("error", reject);
    setTimeout(() => { s.destroy(); reject(new Error("client timed out")); }, 10_000);
  }))).then((xs) => xs.reduce((a, b) => a + b, 0));
}

test("the CLI is built (npm test builds it first)", () => {
  assert.ok(existsSync(CLI), `${CLI} exists`);
});

test("serve --help explains every option and exits 0", () => {
  const r = runSync(["serve", "--help"]);
  assert.is(r.code, 0);
  for (const opt of ["--host", "--port", "--backlog", "--mode", "--workers", "--level", "--edge", "--prefault", "--warmup", "--max-connections", "--idle-timeout-ms", "--drain-ms", "--seconds", "--status-ms", "--json", "--backend"]) {
    assert.ok(r.out.includes(opt), `--help mentions ${opt}`);
  }
  for (const backend of ["auto", "epoll", "uring", "kqueue", "portable", "sim"]) assert.ok(r.out.includes(backend), `--help names backend ${backend}`);
});

test("a bad option or value exits 2 with one line naming it", () => {
  for (const [args, re] of [
    [["serve", "--bogus"], /unknown option '--bogus'/],
    [["serve", "--port", "70000"], /--port must be an integer from 0 to 65535, got "70000"/],
    [["serve", "--mode", "fast"], /--mode must be worker or main, got "fast"/],
    [["serve", "--workers", "2", "--mode", "main"], /--workers needs worker mode/],
    [["serve", "--backend", "bogus"], /--backend must be auto, epoll, uring, kqueue, portable, sim, got "bogus"/],
    [["serve", "--backend", "uring", "--edge"], /--edge is for the readiness backends \(epoll, kqueue\); --backend uring works on completions: leave --edge out/],
    [["serve", "--backend"], /--backend needs a value/],
    [["serve", "--host", "1.2.3.4", "--port", "0"], /cannot listen on 1\.2\.3\.4:0: EADDRNOTAVAIL/],
    [["frobnicate"], /unknown command 'frobnicate'/],
  ] as const) {
    const r = runSync([...args]);
    assert.is(r.code, 2, `${args.join(" ")}: exit 2 (${r.err})`);
    assert.match(r.err, re);
    oneLine(r.err);
  }
});

test("a port in use exits 2 with EADDRINUSE in one line; the first server is unharmed", async () => {
  const s = await startServer([]);
  const r = runSync(["serve", "--port", String(s.port)]);
  assert.is(r.code, 2);
  assert.match(r.err, new RegExp(`cannot listen on 127\\.0\\.0\\.1:${s.port}: EADDRINUSE`));
  assert.is(r.err.trim().split("\n").length, 1);
  assert.is(await clients(s.port, 5, 3), 5 * 3 * 64);
  signal(s.child, "SIGTERM");
  assert.is(await s.exited, 0);
});

/** SIGTERM: serve exits 0, every descriptor it opened closed, `accepts` accepted, at least `messages` echoed. */
async function drainsClean(s: Server, accepts: number, messages: number): Promise<void> {
  signal(s.child, "SIGTERM");
  assert.is(await s.exited, 0, s.out());
  const report = reportOf(s);
  assert.is(report.leakedDescriptors, 0);
  assert.is(report.fdOpens, report.fdCloses);
  assert.is(report.accepts, accepts);
  assert.ok(report.messages >= messages, `messages ${report.messages}`);
}

for (const [name, args] of [["worker mode (default)", []], ["main-thread mode", ["--mode", "main"]], ["level-triggered, --backend epoll", ["--level", "--backend", "epoll"]], ["pool prefaulted", ["--prefault"]]] as const) {
  test(`serve echoes, prints status lines, and drains on SIGTERM with no leak (${name})`, async () => {
    const s = await startServer([...args, "--json"], (args as readonly string[]).includes("epoll") ? "epoll" : AUTO);
    assert.is(await clients(s.port, 50, 20), 50 * 20 * 64, "every byte echoed");
    await new Promise((r) => setTimeout(r, 450));
    assert.match(s.out(), /\[ +\d+ s\] connections \d+ \| descriptors [\d,]+\/[\d,]+ \| [\d,]+ msgs\/s \| turn p99 (\d+ µs|— \(idle\))/);
    await drainsClean(s, 50, 50 * 20);
  });
}

for (const [name, args] of [["worker mode, after its warm-up", []], ["main-thread mode", ["--mode", "main"]]] as const) {
  test(`an idle server's status lines and report count nothing it did before announcing itself (${name})`, async () => {
    const s = await startServer([...args, "--json"]);
    while ((s.out().match(/^\[ +\d+ s\]/gm) ?? []).length < 2) await new Promise((r) => setTimeout(r, 50));
    signal(s.child, "SIGTERM");
    assert.is(await s.exited, 0, s.out());
    // The warm-up echoed 4,000 messages over 64 connections of its own (130 descriptors) before
    // the listener opened: none of it is the clients' traffic.
    for (const line of s.out().match(/^\[ +\d+ s\].*$/gm)!) {
      assert.match(line, /connections 0 \| descriptors [01]\/[\d,]+ \| 0 msgs\/s \| turn p99 /, line);
    }
    const report = reportOf(s);
    assert.equal([report.messages, report.accepts, report.fdOpens, report.fdCloses, report.leakedDescriptors], [0, 0, 1, 1, 0], "only the listener, opened and closed");
  });
}

test("SIGINT while clients are connected: they are drained gracefully, then the report", async () => {
  const s = await startServer(["--json", "--drain-ms", "3000"]);
  const socks = await Promise.all(Array.from({ length: 20 }, () => new Promise<net.Socket>((res) => { const c = net.connect(s.port, "127.0.0.1", () => res(c)); c.on("data", () => {}); c.on("end", () => c.end()); })));
  await new Promise((r) => setTimeout(r, 100));
  signal(s.child, "SIGINT");
  assert.is(await s.exited, 0, s.out());
  const report = reportOf(s);
  assert.is(report.graceful, 20, "every connection ended gracefully (our FIN, their FIN)");
  assert.is(report.aborted, 0);
  assert.is(report.leakedDescriptors, 0);
  for (const c of socks) c.destroy();
});

test("--workers 2: two reactors share the port (SO_REUSEPORT); both serve; one summed report", async () => {
  const s = await startServer(["--workers", "2", "--json"]);
  assert.match(s.out(), /2 workers sharing the port/);
  assert.is(await clients(s.port, 64, 5), 64 * 5 * 64);
  signal(s.child, "SIGTERM");
  assert.is(await s.exited, 0, s.out());
  const report = reportOf(s);
  assert.is(report.accepts, 64);
  assert.is(report.leakedDescriptors, 0);
  assert.is(report.fdOpens, report.fdCloses);
});

// ── --backend ─────────────────────────────────────────────────────────────────────────────

for (const [name, args] of [["worker mode", []], ["main-thread mode", ["--mode", "main"]], ["--workers 2", ["--workers", "2"]]] as const) {
  test(`--backend uring: io_uring completions; echoes byte-exact, drains on SIGTERM with no leak (${name})`, async () => {
    const s = await startServer(["--backend", "uring", ...args, "--json"], "uring");
    assert.match(s.out(), /echo on 127\.0\.0\.1:\d+ \(uring, io_uring completions, (worker mode|main-thread mode|2 workers sharing the port \(SO_REUSEPORT\))\)/);
    assert.is(await clients(s.port, 50, 20), 50 * 20 * 64, "every byte echoed");
    await drainsClean(s, 50, 50 * 20);
  });
}

test("io_uring forbidden by seccomp: --backend uring exits 2 with one line naming seccomp; the default (auto) serves on epoll, saying why once", async () => {
  const w = noIoUring();
  if ("why" in w) return skip(w.why);
  for (const mode of [[], ["--mode", "main"]]) {
    const r = runPrefixed([w.bin], ["serve", "--port", "0", "--backend", "uring", ...mode]);
    assert.is(r.code, 2, `${mode.join(" ")}: ${r.out}${r.err}`);
    assert.match(r.err, /^wasm-reactor: host 'uring' cannot run here: io_uring is refused here \(.*\): a seccomp profile .* forbids it; use host 'epoll' \(what to change: docs\/runbooks\/io-uring-unavailable\.md\)\n$/);
    oneLine(r.err);
    assert.is(r.out, "", "nothing started");
  }
  const s = await startServer(["--json"], "epoll", { prefix: [w.bin] });
  assert.is((s.out().match(/host 'auto' is using epoll: host 'uring' cannot run here: io_uring is refused here .*seccomp/g) ?? []).length, 1, `auto says why, once: ${s.out()}`);
  assert.is(await clients(s.port, 10, 5), 10 * 5 * 64);
  signal(s.child, "SIGTERM");
  assert.is(await s.exited, 0, s.out());
  assert.is(reportOf(s).leakedDescriptors, 0);
});

test("--backend sim: the simulated network with simulated clients; it echoes and reports no leak", () => {
  const r = runSync(["serve", "--backend", "sim", "--connections", "50", "--seconds", "1", "--json"]);
  assert.is(r.code, 0, r.out + r.err);
  assert.match(r.out, /echo on sim:7070 \(backend sim, seed 1\), 50 simulated clients/);
  const report = JSON.parse(r.out.trim().split("\n").pop()!);
  assert.ok(report.messages > 0, `messages ${report.messages}`);
  assert.equal([report.leakedDescriptors, report.simViolations, report.aborted], [0, 0, 0]);
});

/** A copy of dist/'s bundles and cores without the native shim: what a machine without a C compiler has. */
function distWithoutShim(): string {
  const dir = mkdtempSync(join(tmpdir(), "wr-cli-noshim-"));
  const dist = fileURLToPath(new URL(".", `file://${CLI}`));
  for (const f of readdirSync(dist)) if (/\.(js|wasm)$/.test(f)) copyFileSync(join(dist, f), join(dir, f));
  return dir;
}

test("a backend that cannot run here exits 2 with its one line (no shim: --backend epoll); auto says why it takes the portable host", async () => {
  const dir = distWithoutShim();
  try {
    const cli = join(dir, "cli.js");
    const r = runSync(["serve", "--port", "0", "--backend", "epoll"], { cli });
    assert.is(r.code, 2, r.out + r.err);
    assert.match(r.err, /^wasm-reactor: the native shim is not built \(.*wasm_reactor\.node is missing\): install a C compiler/);
    oneLine(r.err);
    assert.is(r.out, "", "nothing started");
    // auto: the registry's line, then the portable host, which serves where it is built and
    // otherwise exits 2 with its own one line.
    const child = spawnCli(["serve", "--port", "0", "--status-ms", "0", "--json"], { cli });
    children.add(child);
    let out = "";
    child.stdout!.on("data", (b) => { out += b; });
    child.stderr!.on("data", (b) => { out += b; });
    const exited = new Promise<number | null>((res) => child.on("exit", (code) => { children.delete(child); res(code); }));
    const t0 = Date.now();
    while (child.exitCode === null && !/echo on/.test(out) && Date.now() - t0 < 15_000) await new Promise((res) => setTimeout(res, 20));
    assert.match(out, /^wasm-reactor: host 'auto' is using the portable host \(the runtime's own sockets\): the native shim is not built/);
    if (/echo on/.test(out)) {
      const port = Number(/listening on 127\.0\.0\.1:(\d+)/.exec(out)![1]);
      assert.match(out, /echo on 127\.0\.0\.1:\d+ \(portable, main-thread mode\)/);
      assert.is(await clients(port, 10, 5), 10 * 5 * 64);
      signal(child, "SIGTERM");
      assert.is(await exited, 0, out);
      assert.is(JSON.parse(out.trim().split("\n").pop()!).leakedDescriptors, 0);
    } else {
      assert.is(await exited, 2, out);
      assert.match(out, /\nwasm-reactor: .*portable.*\n$/);
      assert.is(out.trim().split("\n").length, 2, `auto's line and the error: ${out}`);
    }
  } finally { rmSync(dir, { recursive: true, force: true }); }
});

test("--backend kqueue on Linux: serves on kqueue where this build has it, else exits 2 with one line naming it", async () => {
  const r = runSync(["serve", "--port", "0", "--backend", "kqueue", "--seconds", "1", "--status-ms", "0", "--json"]);
  if (r.code === 2) {
    assert.match(r.err, /^wasm-reactor: .*kqueue/);
    oneLine(r.err);
    assert.is(r.out, "");
  } else {
    assert.is(r.code, 0, r.out + r.err);
    assert.match(r.out, /echo on 127\.0\.0\.1:\d+ \(kqueue, edge-triggered, worker mode\)/);
    assert.is(JSON.parse(r.out.trim().split("\n").pop()!).leakedDescriptors, 0);
  }
});

// ── --record, replay and fuzz ──────────────────────────────────────────────────────────────────────
const TRACE = fileURLToPath(new URL("../../tests/traces/fault-storm.trace", import.meta.url));

for (const [name, args, files, host] of [
  ["main-thread mode", ["--mode", "main"], [""], AUTO],
  ["--workers 2: one trace per worker", ["--workers", "2"], [".0", ".1"], AUTO],
  ["--backend uring, worker mode", ["--backend", "uring"], [""], "uring"],
  ["--backend uring, main-thread mode", ["--backend", "uring", "--mode", "main"], [""], "uring"],
] as const) {
  test(`serve --record under load, then replay: every trace replays identical (${name})`, async () => {
    const dir = mkdtempSync(join(tmpdir(), "wr-cli-"));
    try {
      const file = join(dir, "serve.trace");
      const s = await startServer([...args, "--record", file, "--warmup", "200", "--json"], host);
      assert.is(await clients(s.port, 20, 10), 20 * 10 * 64);
      signal(s.child, "SIGTERM");
      assert.is(await s.exited, 0, s.out());
      assert.is(reportOf(s).leakedDescriptors, 0);
      for (const suffix of files) {
        const r = runSync(["replay", file + suffix, "--json"]);
        assert.is(r.code, 0, r.out + r.err);
        const res = JSON.parse(r.out);
        assert.is(res.identical, true);
        assert.is(res.host, host);
        assert.ok(res.turns > 1, `turns ${res.turns}`);
      }
    } finally { rmSync(dir, { recursive: true, force: true }); }
  });
}

test("replay: a committed regression trace replays as identical (exit 0)", () => {
  const r = runSync(["replay", TRACE, "--force"]);
  assert.is(r.code, 0, r.err);
  assert.match(r.out, /^identical, \d+ turns \(\d+ core calls\)/);
});

test("replay: a truncated copy is refused with one line naming the byte offset (exit 2)", () => {
  const dir = mkdtempSync(join(tmpdir(), "wr-cli-"));
  try {
    const cut = join(dir, "cut.trace");
    const bytes = readFileSync(TRACE);
    writeFileSync(cut, bytes.subarray(0, bytes.length - 7));
    const r = runSync(["replay", cut]);
    assert.is(r.code, 2);
    assert.match(r.err, new RegExp(`cut\\.trace is truncated at byte ${bytes.length - 7}: record \\d+ \\(tag \\d\\) needs bytes`));
    assert.is(r.err.trim().split("\n").length, 1, r.err);
    assert.is(r.out, "");
  } finally { rmSync(dir, { recursive: true, force: true }); }
});

test("fuzz --seeds 20 passes and says how to reproduce", () => {
  const r = runSync(["fuzz", "--seed", "5", "--seeds", "20"]);
  assert.is(r.code, 0, r.out + r.err);
  assert.match(r.out, /reproduce: wasm-reactor fuzz --seed 5 --seeds 20/);
  assert.match(r.out, /passed: 20 scenarios, [\d,]+ turns/);
});

test("fuzz --host epoll --seeds 3: real loopback sockets, node:net peers, passes", () => {
  const r = runSync(["fuzz", "--host", "epoll", "--seed", "3", "--seeds", "3"], { timeoutMs: 90_000 });
  assert.is(r.code, 0, r.out + r.err);
  assert.match(r.out, /reproduce: wasm-reactor fuzz --host epoll --seed 3 --seeds 3/);
  assert.match(r.out, /passed: 3 scenarios, [\d,]+ turns .* [\d,]+ connections accepted/);
});

test("fuzz --build broken: caught, shrunk, recorded, and the printed command replays it (exit 1)", () => {
  const dir = mkdtempSync(join(tmpdir(), "wr-cli-"));
  try {
    const r = runSync(["fuzz", "--seed", "1", "--seeds", "300", "--build", "broken", "--out", dir]);
    assert.is(r.code, 1, r.out + r.err);
    assert.match(r.out, /FAILED: core (invariant|assertion)/);
    const cmd = /replay it: wasm-reactor (replay \S+)/.exec(r.out);
    assert.ok(cmd, r.out);
    const again = runSync(cmd![1].split(" "));
    assert.is(again.code, 0, again.err);
    assert.match(again.out, /identical, \d+ turns .*invariant \d+ is broken after turn \d+/);
  } finally { rmSync(dir, { recursive: true, force: true }); }
});

test.run();
