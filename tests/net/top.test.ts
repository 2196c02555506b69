// `wasm-reactor top` against a live /metrics.json, and the fuzz progress line, as a user sees them:
// - piped (all three runtimes): --once/--count print plain key=value lines with no escape code,
//   whose figures are recomputed here from the very documents the server handed out; --json
//   likewise; an unreachable server gives an "unreachable" line and exit 1; a bad URL or option
//   exits 2 with one line.
// - in a real terminal (tmux, 80×24, its own server socket): the full screen fits 80 columns and
//   shows the server's numbers, follows them as they change, says when the server went away (and
//   how long since the last sample), and q, Ctrl-C and SIGTERM each give the terminal back (main
//   screen, cursor shown, the shell's prompt); `fuzz` shows its progress line with an ETA and
//   clears it at the end.
// The server is tests/net/fixtures/metrics-fixture.ts: a real epoll Reactor with real echo
// traffic, served in the agreed shape; one test also runs top against the real `serve --metrics-port`.
// Without tmux the terminal tests skip with one line saying so.
import { suite } from "uvu";
import * as assert from "uvu/assert";
import { execFile, spawn, spawnSync } from "node:child_process";
import * as net from "node:net";
import { cliCommand, runCli, spawnCli, RUNTIME } from "../helpers/cli.ts";
import { skip } from "../helpers/skip.ts";
import { abandonAll } from "../helpers/net.ts";
import { tmpdir } from "node:os";
import { short } from "../../host/cli/top.ts";
import { startMetricsFixture, type MetricsDocument, type MetricsFixture } from "./fixtures/metrics-fixture.ts";

const test = suite(`net: wasm-reactor top and the progress line (under ${RUNTIME})`);

const HAVE_TMUX = spawnSync("tmux", ["-V"], { encoding: "utf8" }).status === 0;
const NO_TMUX = "tmux is not installed (the terminal tests drive top in a real tmux pane; apt-get install tmux)";
/**
 * Our own tmux server (-L): other suites and people using tmux on this machine are not touched.
 * Its sessions stay until the suite ends (kill-server): killing the last session ends the server,
 * and a new-session racing that exit fails with "server exited unexpectedly" (seen under Bun).
 */
const SOCKET = `wr-top-test-${process.pid}`;
let fx: MetricsFixture | undefined;

test.after(async () => {
  if (HAVE_TMUX) await tmux("kill-server").catch(() => { /* none started */ });
  await fx?.close().catch(() => { /* a failed test's leftovers */ });
  await abandonAll();
});

// ── piped ───────────────────────────────────────────────────────────────────────────────
/** Runs the CLI as a child without blocking this process (the fixture answers from here). */
function runAsync(args: string[], timeoutMs = 30_000): Promise<{ code: number | null; out: string; err: string }> {
  const c = cliCommand(args);
  return new Promise((resolve) => {
    const child = spawn(c.cmd, c.args, { stdio: ["ignore", "pipe", "pipe"], env: { ...process.env, ...c.env } });
    let out = "", err = "";
    child.stdout!.on("data", (b) => { out += b; });
    child.stderr!.on("data", (b) => { err += b; });
    const t = setTimeout(() => { try { process.kill(child.pid!, "SIGKILL"); } catch { /* gone */ } }, timeoutMs);
    child.on("close", (code) => { clearTimeout(t); resolve({ code, out, err }); });
  });
}

/** A loopback port with nothing listening (bound, then closed). */
async function closedPort(): Promise<number> {
  const s = net.createServer();
  await new Promise<void>((r) => s.listen(0, "127.0.0.1", () => r()));
  const port = (s.address() as net.AddressInfo).port;
  await new Promise<void>((r) => s.close(() => r()));
  return port;
}

const field = (line: string, key: string) => {
  const m = new RegExp(`(?:^| )${key.replace(/[/]/g, "\\/")}=(\\S+)`).exec(line);
  assert.ok(m, `the line has ${key}=: ${line}`);
  return m![1];
};

/** What top must print for the last two documents served: the same arithmetic, done here. */
function expectedFrom(a: MetricsDocument, b: MetricsDocument) {
  const ma = a.reactors[0].metrics, mb = b.reactors[0].metrics;
  const dt = (b.time - a.time) / 1000;
  const rate = (k: "accepts" | "reads" | "bytesIn" | "bytesOut") => String(Math.round((mb[k] - ma[k]) / dt));
  const closes = String(Math.round(Math.max(0, mb.accepts - ma.accepts + mb.connectsOk - ma.connectsOk - (mb.connections - ma.connections)) / dt));
  return {
    conns: String(mb.connections), fds: `${mb.fdsOpen}/${mb.fdBudget}`, fd_hw: String(mb.fdsHighWater),
    "accepts/s": rate("accepts"), "closes/s": closes, "msgs/s": rate("reads"), "in_bytes/s": rate("bytesIn"), "out_bytes/s": rate("bytesOut"),
    turn_p99_us: String(mb.turnUs.p99), late_p99_ms: String(mb.timerLatenessMs.p99), rss_bytes: String(b.process.rssBytes),
  };
}

test("a bad URL or option: one line, exit 2", () => {
  for (const args of [["top", "ftp://127.0.0.1:1/metrics.json"], ["top", "http://"], ["top", "--interval-ms", "5"], ["top", "--count", "0"],
    ["top", "--bogus"], ["top", "127.0.0.1:1", "127.0.0.1:2"], ["top", "--once", "--count", "2"]]) {
    const r = runCli(args, { timeoutMs: 20_000 });
    assert.is(r.code, 2, `${args.join(" ")} exits 2 (${r.err})`);
    assert.is(r.err.trim().split("\n").length, 1, `one line: ${r.err}`);
    assert.match(r.err, /^wasm-reactor: top: /);
    assert.is(r.out, "");
  }
});

test("piped: --once prints one plain line with the server's figures and rates, no escape codes", async () => {
  fx = await startMetricsFixture();
  await fx.holdClients(5);
  await fx.echo(20);
  fx.startTraffic();
  // The base URL (no path): top adds /metrics.json.
  const r = await runAsync(["top", `http://127.0.0.1:${fx.httpPort}`, "--once", "--interval-ms", "500"]);
  assert.is(r.code, 0, `exit 0: ${r.err}`);
  assert.not.match(r.out, /\x1b/, "no escape codes in a pipe");
  const lines = r.out.trim().split("\n");
  assert.is(lines.length, 1, `one line: ${r.out}`);
  assert.ok(fx.served.length >= 2, "two samples were read (rates need both)");
  const [a, b] = fx.served.slice(-2);
  const want = expectedFrom(a, b);
  for (const [k, v] of Object.entries(want)) assert.is(field(lines[0], k), v, `${k} as served`);
  assert.ok(Number(field(lines[0], "msgs/s")) > 0, "echo traffic shows as messages per second");
  assert.ok(Number(field(lines[0], "accepts/s")) > 0, "churn shows as accepts per second");
  assert.match(lines[0], /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ ready reactors=1 /);
});

test("piped: --count N prints N lines; --json the view per reactor", async () => {
  const r = await runAsync(["top", fx!.url, "--count", "3", "--interval-ms", "200"]);
  assert.is(r.code, 0, r.err);
  const lines = r.out.trim().split("\n");
  assert.is(lines.length, 3, r.out);
  for (const l of lines) { assert.not.match(l, /\x1b/); assert.match(l, / conns=\d+ fds=\d+\/\d+ /); }
  await fx!.stopTraffic();
  await fx!.holdClients(6);
  const j = await runAsync(["top", fx!.url, "--once", "--json", "--interval-ms", "200"]);
  assert.is(j.code, 0, j.err);
  const view = JSON.parse(j.out);
  const m = fx!.served.at(-1)!.reactors[0].metrics;
  assert.is(view.total.conns, 6);
  assert.is(view.reactors.length, 1);
  assert.is(view.reactors[0].conns, m.connections);
  assert.is(view.reactors[0].fdBudget, m.fdBudget);
  assert.is(view.reactors[0].fdsHighWater, m.fdsHighWater);
  assert.is(view.pid, process.pid);
  assert.is(view.ready, true);
});

test("piped: an unreachable server is an 'unreachable' line and exit 1", async () => {
  const port = await closedPort();
  const r = await runAsync(["top", String(port), "--once"]);
  assert.is(r.code, 1, r.out + r.err);
  assert.match(r.out, new RegExp(`^\\S+Z unreachable http://127\\.0\\.0\\.1:${port}/metrics\\.json: ECONNREFUSED; no sample yet\\n$`));
  assert.not.match(r.out, /\x1b/);
});

test("under Deno without --allow-net: one line naming the flag, exit 2", () => {
  if (RUNTIME !== "deno") return skip(`permissions are Deno's alone; ${RUNTIME} has none to refuse`);
  const r = runCli(["top", "127.0.0.1:45999", "--once"], { deno: [], timeoutMs: 20_000 });
  assert.is(r.code, 2, r.out + r.err);
  assert.match(r.err, /^wasm-reactor: top under Deno needs --allow-net \(to fetch http:\/\/127\.0\.0\.1:45999\/metrics\.json\)/);
  assert.is(r.err.trim().split("\n").length, 1);
});

test("the real endpoint (serve --metrics-port): top reads the served figures, and NOT READY once serve drains", async () => {
  const child = spawnCli(["serve", "--port", "0", "--metrics-port", "0", "--status-ms", "0", "--drain-ms", "8000"]);
  let out = "";
  child.stdout!.on("data", (b) => { out += b; });
  child.stderr!.on("data", (b) => { out += b; });
  const exited = new Promise<number | null>((r) => child.on("exit", (code) => r(code)));
  const clients: net.Socket[] = [];
  let signalled = false;
  try {
    for (let i = 0; !/metrics on http:\/\/127\.0\.0\.1:\d+\/metrics/.test(out) || !/listening on 127\.0\.0\.1:\d+/.test(out); i++) {
      if (i > 300 || child.exitCode !== null) throw new Error(`serve did not start: ${out}`);
      await new Promise((r) => setTimeout(r, 50));
    }
    const metricsUrl = /metrics on (http:\/\/127\.0\.0\.1:\d+\/metrics)/.exec(out)![1]; // top turns /metrics into /metrics.json
    const port = Number(/listening on 127\.0\.0\.1:(\d+)/.exec(out)![1]);
    // Six clients; the first sends 8 MB and reads nothing, so its echo stays queued and the drain
    // waits for it (idle connections end at once when serve drains).
    for (let i = 0; i < 6; i++) {
      const s = net.connect(port, "127.0.0.1");
      s.on("error", () => { /* serve ends it */ });
      if (i === 0) { s.pause(); s.write(new Uint8Array(8 << 20)); }
      clients.push(s);
    }
    let view: { ready: boolean; pid: number; total: { conns: number }; reactors: unknown[] } | undefined;
    for (let i = 0; i < 20 && view?.total.conns !== 6; i++) {
      const r = await runAsync(["top", metricsUrl, "--once", "--json", "--interval-ms", "200"]);
      assert.is(r.code, 0, r.out + r.err);
      view = JSON.parse(r.out);
    }
    assert.is(view!.total.conns, 6, "the 6 clients, as serve counts them");
    assert.is(view!.ready, true);
    assert.is(view!.pid, child.pid);
    assert.ok(view!.reactors.length >= 1);
    signalled = true;
    process.kill(child.pid!, "SIGTERM"); // drains for up to 8 s, held by the client that does not read
    let line = "";
    for (let i = 0; i < 20 && !/ not-ready /.test(line); i++) {
      const r = await runAsync(["top", metricsUrl, "--once", "--interval-ms", "200"]);
      line = r.out;
    }
    assert.match(line, /Z not-ready reactors=\d+ conns=1 /, `draining: not ready, the stuck connection still held: ${line}`);
    assert.ok(Number(field(line, "queued_bytes")) > 0, "its echo still queued");
  } finally {
    for (const s of clients) s.destroy(); // the drain then ends (a second SIGTERM would cut it short)
    if (!signalled && child.exitCode === null) process.kill(child.pid!, "SIGKILL"); // a failure before the drain
  }
  assert.is(await exited, 0, `serve exits 0 after its drain: ${out}`);
});

// ── in a terminal (tmux) ─────────────────────────────────────────────────────────────────
function tmux(...args: string[]): Promise<string> {
  return new Promise((resolve, reject) => execFile("tmux", ["-L", SOCKET, ...args], { encoding: "utf8" }, (err, out, stderr) => (err ? reject(new Error(`tmux ${args.join(" ")}: ${stderr || err.message}`)) : resolve(out))));
}
const quote = (s: string) => `'${s.replace(/'/g, `'\\''`)}'`;
/** The shell line that runs `wasm-reactor ...args` on this suite's runtime. */
function shellLine(args: string[]): string {
  const c = cliCommand(args);
  return [...Object.entries(c.env ?? {}).map(([k, v]) => `${k}=${quote(v)}`), quote(c.cmd), ...c.args.map(quote)].join(" ");
}
const PROMPT = "wr$ ";
/** A new 80×24 pane running sh with a known prompt; resolves with the session's name. */
async function pane(name: string): Promise<string> {
  await tmux("new-session", "-d", "-s", name, "-x", "80", "-y", "24", `env -u ENV PS1=${quote(PROMPT)} sh`);
  await waitScreen(name, (s) => s.includes(PROMPT.trimEnd()), "the shell's prompt");
  return name;
}
const capture = (name: string) => tmux("capture-pane", "-p", "-t", name);
const flags = async (name: string) => {
  const [alt, cursor, pid] = (await tmux("display-message", "-p", "-t", name, "#{alternate_on} #{cursor_flag} #{pane_pid}")).trim().split(" ");
  return { alternate: alt === "1", cursorShown: cursor === "1", shellPid: Number(pid) };
};
async function waitScreen(name: string, pred: (screen: string) => boolean, what: string, ms = 20_000): Promise<string> {
  const t0 = Date.now();
  let screen = "";
  while (Date.now() - t0 < ms) {
    screen = await capture(name);
    if (pred(screen)) return screen;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`waited ${ms / 1000} s for ${what}; the screen:\n${screen}`);
}
/** After top quits: the main screen is back with the cursor shown, and the shell prompts again. */
async function assertRestored(name: string, how: string): Promise<void> {
  const screen = await waitScreen(name, (s) => s.trimEnd().split("\n").at(-1) === PROMPT.trimEnd(), `the prompt after ${how}`);
  const f = await flags(name);
  assert.not.ok(f.alternate, `${how}: the alternate screen is left`);
  assert.ok(f.cursorShown, `${how}: the cursor is shown again`);
  assert.not.match(screen, /wasm-reactor top {2}/, `${how}: top's screen is gone from the main screen`);
}
/** The row of a table whose label is `label` (" #0", " all"), under the header that starts with `header`. */
function row(screen: string, header: RegExp, label: string): string[] {
  const lines = screen.split("\n");
  const h = lines.findIndex((l) => header.test(l));
  assert.ok(h >= 0, `a header ${header} on:\n${screen}`);
  const r = lines.slice(h + 1).find((l) => l.startsWith(` ${label} `));
  assert.ok(r, `a row ${label} under ${header} on:\n${screen}`);
  return r!.trim().split(/\s+/);
}
const TRAFFIC_HEADER = /^\s+conns\s+fds used\/budget\s+fd hw\s+accept\/s\s+close\/s\s+msgs\/s\s+in\/s\s+out\/s$/;
const LOOP_HEADER = /^\s+turn p50\s+p99 µs\s+late p99\s+pool\s+queued\s+errors/;

test("terminal: fits 80 columns, shows the server's numbers, follows them, says when it is gone; q restores the terminal", async () => {
  if (!HAVE_TMUX) return skip(NO_TMUX);
  await fx!.holdClients(7);
  await fx!.echo(10);
  const name = await pane("live");
  await tmux("send-keys", "-t", name, shellLine(["top", fx!.url, "--interval-ms", "250"]), "Enter");
  let screen = await waitScreen(name, (s) => /^ all +7 /m.test(s), "the 'all' row with 7 connections");
  const f = await flags(name);
  assert.ok(f.alternate, "the alternate screen is on");
  assert.not.ok(f.cursorShown, "the cursor is hidden");
  const lines = screen.split("\n");
  // tmux cuts nothing here: top itself keeps within 79 columns (the last one stays free).
  for (const l of lines) assert.ok(l.length <= 79, `fits 80 columns: ${JSON.stringify(l)} (${l.length})`);
  assert.match(lines[0], /^wasm-reactor top {2}127\.0\.0\.1:\d+ {2}ready +\d\d:\d\d:\d\d UTC$/);
  assert.match(lines[1], new RegExp(`^pid ${process.pid} ${RUNTIME}  up \\d+:\\d\\d:\\d\\d  rss \\S+  cpu \\S+  1 reactor \\(epoll\\)$`));
  const m = fx!.reactor.metrics(); // idle now: what the screen shows
  const [, conns, fds, hw] = row(screen, TRAFFIC_HEADER, "#0");
  assert.is(conns, "7");
  assert.is(fds, `${short(m.fdsOpen)}/${short(m.fdBudget)}`);
  assert.is(hw, short(m.fdsHighWater));
  assert.is(row(screen, TRAFFIC_HEADER, "all")[1], "7");
  const loop = row(screen, LOOP_HEADER, "#0");
  assert.is(loop[1], short(m.turnUs.p50), "turn p50 as served");
  assert.is(loop[2], short(m.turnUs.p99), "turn p99 as served");
  assert.match(screen.trimEnd().split("\n").at(-1)!, /^every 250 ms, last sample \d\.\d s ago {2}· {2}q quits$/);

  // It follows the server: more connections, and traffic that shows as rates.
  await fx!.holdClients(11);
  fx!.startTraffic();
  screen = await waitScreen(name, (s) => /^ #0 +1[12] /m.test(s) && /^ all +\S+ +\S+ +\S+ +\S+ +\S+ +[1-9]/m.test(s), "11 connections and messages per second");
  await fx!.stopTraffic();

  // The server goes away: said on the second line, with the age of the last sample; still running.
  await fx!.stopHttp();
  screen = await waitScreen(name, (s) => /^UNREACHABLE: ECONNREFUSED; last sample \d+(\.\d)? s ago; retrying/m.test(s.split("\n")[1] ?? ""), "the unreachable line");
  assert.ok((await flags(name)).alternate, "still on its screen, retrying");

  await tmux("send-keys", "-t", name, "q");
  await assertRestored(name, "q");
});

test("terminal: Ctrl-C and SIGTERM restore the terminal too; a server never reached is said so", async () => {
  if (!HAVE_TMUX) return skip(NO_TMUX);
  const port = await closedPort();
  const name = await pane("signals");
  await tmux("send-keys", "-t", name, shellLine(["top", `127.0.0.1:${port}`]), "Enter");
  await waitScreen(name, (s) => /^UNREACHABLE: ECONNREFUSED; no sample yet; retrying every 1 s/m.test(s), "the unreachable line");
  await tmux("send-keys", "-t", name, "C-c");
  await assertRestored(name, "Ctrl-C");

  await tmux("send-keys", "-t", name, "clear; " + shellLine(["top", `127.0.0.1:${port}`]), "Enter");
  await waitScreen(name, (s) => /^UNREACHABLE/m.test(s), "the unreachable line");
  // top is the shell's child (Deno's: through an exec'ing sh, so the same process).
  const { shellPid } = await flags(name);
  const kids = spawnSync("ps", ["-o", "pid=", "--ppid", String(shellPid)], { encoding: "utf8" }).stdout.trim().split(/\s+/).map(Number).filter(Boolean);
  assert.is(kids.length, 1, `one child of the shell: ${kids}`);
  process.kill(kids[0], "SIGTERM");
  await assertRestored(name, "SIGTERM");
});

test("terminal: fuzz shows seeds done of total with an ETA, and clears the line at the end", async () => {
  if (!HAVE_TMUX) return skip(NO_TMUX);
  const name = await pane("fuzz");
  const seeds = 1500;
  await tmux("send-keys", "-t", name, shellLine(["fuzz", "--seed", "7", "--seeds", String(seeds), "--out", tmpdir()]), "Enter");
  const bar = new RegExp(`^fuzz {2}\\d+/${seeds} +\\d+% \\[#*-*\\] {2}\\d+:\\d\\d elapsed, ETA \\d+:\\d\\d {2}0 failures$`, "m");
  const during = await waitScreen(name, (s) => bar.test(s), "the progress line", 60_000);
  const line = during.split("\n").find((l) => bar.test(l))!;
  assert.ok(line.length < 80, `the progress line leaves the last column free: ${line}`);
  const end = await waitScreen(name, (s) => new RegExp(`^passed: ${seeds} scenarios`, "m").test(s), "the fuzz summary", 120_000);
  assert.not.match(end, /^fuzz {2}\d+\//m, "the progress line is cleared");
});

test.run();
