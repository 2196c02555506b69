// The admin endpoint as an operator meets it: `wasm-reactor serve --metrics-port 0 --admin`
// (--mode main, and --workers 2) as a child process (on the runtime that runs this suite), called over loopback with
// raw HTTP. A change takes effect at once (/admin/settings says so, and the echo still echoes)
// and gets its verdict after its window; refused changes are 400 with the reason (a bad value,
// the trigger mode); a token, from a file or the environment, is required once configured; bad
// command lines exit 2 with one line. One automatic rollback on real sockets: during a change's
// watch, clients reset their connections (RST), which the guard counts as errors, and it undoes
// the change by itself without waiting for its window (no timing in the assertion: only the
// order of events). With --workers 2 the same through the GroupTuner: kept when both workers keep
// it, and rolled back on both when resets make one roll it back. The watch's arithmetic is tested
// on the simulator (tests/api/tuning.test.ts).
import { suite } from "uvu";
import * as assert from "uvu/assert";
import type { ChildProcess } from "node:child_process";
import * as net from "node:net";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { RUNTIME, runCli, signal, spawnCli } from "../helpers/cli.ts";
import { Reactor } from "../../host/reactor/reactor.ts";
import { metricsHandlers } from "../../host/ops/metrics-endpoint.ts";
import { adminHandler } from "../../host/ops/admin.ts";
import type * as Lib from "../../host/index.ts";

// The library as a worker runs it: startWorkers' workers load the built library (dist/index.js)
// as their entry, and the fixture app imports the same file.
const DIST = new URL("../../dist/index.js", import.meta.url).href;
const APP = new URL("../../tests/net/fixtures/tuning-worker.mjs", import.meta.url);

const test = suite(`net: serve --admin (guarded live tuning over HTTP, under ${RUNTIME})`);
const children = new Set<ChildProcess>();
const dir = mkdtempSync(join(tmpdir(), "wr-admin-"));
test.after(() => {
  for (const c of children) { try { process.kill(c.pid!, "SIGKILL"); } catch { /* gone */ } }
  rmSync(dir, { recursive: true, force: true });
});

const TOKEN = "admin-token-for-tests-0123456789";
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

interface Serve { child: ChildProcess; port: number; adminPort: number; out: () => string; exited: Promise<number | null> }
/** serve (main mode unless args give --workers) on free ports with the endpoint and admin on; waits for the admin line. */
async function startServe(args: string[] = [], env: Record<string, string> = {}): Promise<Serve> {
  if (!args.includes("--workers")) args = ["--mode", "main", ...args];
  // spawnCli passes this process's environment: set the variable for the spawn only.
  const saved = Object.fromEntries(Object.keys(env).map((k) => [k, process.env[k]]));
  Object.assign(process.env, env);
  let child: ChildProcess;
  try { child = spawnCli(["serve", "--port", "0", "--warmup", "0", "--metrics-port", "0", "--admin", "--status-ms", "0", "--drain-ms", "500", ...args]); }
  finally { for (const [k, v] of Object.entries(saved)) { if (v === undefined) delete process.env[k]; else process.env[k] = v; } }
  children.add(child);
  let out = "";
  child.stdout!.on("data", (b) => { out += b; });
  child.stderr!.on("data", (b) => { out += b; });
  const exited = new Promise<number | null>((r) => child.on("exit", (code) => { children.delete(child); r(code); }));
  for (let i = 0; !/admin on http:\/\/127\.0\.0\.1:\d+\/admin\/settings/.test(out); i++) {
    if (i > 500) throw new Error(`no "admin on" line in 10 s: ${out}`);
    if (child.exitCode !== null) throw new Error(`serve exited ${child.exitCode}: ${out}`);
    await sleep(20);
  }
  return { child, port: Number(/listening on 127\.0\.0\.1:(\d+)/.exec(out)![1]), adminPort: Number(/admin on http:\/\/127\.0\.0\.1:(\d+)/.exec(out)![1]), out: () => out, exited };
}
async function stopServe(s: Serve): Promise<number | null> {
  signal(s.child, "SIGTERM");
  return s.exited;
}

interface Reply { status: number; headers: Record<string, string>; body: string; json: Record<string, any> }
/** One request with Connection: close; reads until the server closes (at most 10 s). */
function call(port: number, method: string, path: string, o: { body?: unknown; token?: string } = {}): Promise<Reply> {
  const body = o.body === undefined ? "" : typeof o.body === "string" ? o.body : JSON.stringify(o.body);
  const head = `${method} ${path} HTTP/1.1\r\nHost: t\r\nConnection: close\r\n${o.token ? `Authorization: Bearer ${o.token}\r\n` : ""}${body ? `Content-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\n` : ""}\r\n`;
  return new Promise((resolve, reject) => {
    const s = net.connect(port, "127.0.0.1");
    const chunks: Buffer[] = [];
    const t = setTimeout(() => { s.destroy(); reject(new Error(`${method} ${path}: no close within 10 s`)); }, 10_000);
    s.on("connect", () => s.write(head + body));
    s.on("data", (d) => chunks.push(Buffer.from(d)));
    s.on("error", () => { /* a reset after the answer: the answer is what counts */ });
    s.on("close", () => {
      clearTimeout(t);
      const raw = Buffer.concat(chunks).toString("utf8");
      const end = raw.indexOf("\r\n\r\n");
      if (end < 0) { reject(new Error(`${method} ${path}: no response: ${JSON.stringify(raw)}`)); return; }
      const lines = raw.slice(0, end).split("\r\n");
      const headers: Record<string, string> = {};
      for (const l of lines.slice(1)) { const c = l.indexOf(":"); headers[l.slice(0, c).toLowerCase()] = l.slice(c + 1).trim(); }
      const text = raw.slice(end + 4);
      let json: Record<string, any> = {};
      if (/json/.test(headers["content-type"] ?? "")) json = JSON.parse(text);
      resolve({ status: Number(/^HTTP\/1\.1 (\d{3}) /.exec(lines[0])![1]), headers, body: text, json });
    });
  });
}

/** Sends `msg` to the echo and resolves with what comes back once it is all there. */
function echoOnce(port: number, msg: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const s = net.connect(port, "127.0.0.1");
    let got = "";
    const t = setTimeout(() => { s.destroy(); reject(new Error(`echo: got ${JSON.stringify(got)} in 10 s`)); }, 10_000);
    s.setEncoding("utf8");
    s.on("connect", () => s.write(msg));
    s.on("data", (d) => { got += d; if (got.length >= msg.length) { clearTimeout(t); s.end(); resolve(got); } });
    s.on("error", (e) => { clearTimeout(t); reject(e); });
  });
}

/** Polls GET /admin/tune until the watch has a verdict (at most 20 s). */
async function verdict(port: number, token?: string): Promise<Record<string, any>> {
  for (let i = 0; i < 400; i++) {
    const r = await call(port, "GET", "/admin/tune", { token });
    assert.is(r.status, 200, r.body);
    if (r.json.state !== "watching") return r.json;
    await sleep(50);
  }
  throw new Error("no verdict within 20 s");
}

test("bad command lines exit 2 with one line", () => {
  const short = join(dir, "short-token");
  writeFileSync(short, "short\n");
  const spaced = join(dir, "spaced-token");
  writeFileSync(spaced, "two words in a token file\n");
  const cases: [string[], RegExp][] = [
    [["--admin"], /^wasm-reactor: serve: --admin needs --metrics-port N: the admin routes are served on the metrics endpoint's port$/],
    [["--metrics-port", "0", "--admin-token-file", short], /--admin-token-file needs --admin/],
    [["--mode", "main", "--metrics-port", "0", "--admin", "--admin-token-file", join(dir, "absent")], /cannot read --admin-token-file .*absent: ENOENT/],
    [["--mode", "main", "--metrics-port", "0", "--admin", "--admin-token-file", short], /--admin-token-file .*short-token: admin token must be a string of at least 16 characters, got 5 characters/],
    [["--mode", "main", "--metrics-port", "0", "--admin", "--admin-token-file", spaced], /admin token must not contain whitespace/],
  ];
  for (const [args, re] of cases) {
    const r = runCli(["serve", "--port", "0", ...args], { timeoutMs: 20_000 });
    assert.is(r.code, 2, `${args.join(" ")}: ${r.out}${r.err}`);
    assert.is(r.out, "", args.join(" "));
    assert.is(r.err.trim().split("\n").length, 1, `one line: ${r.err}`);
    assert.match(r.err.trim(), re);
  }
});

test("the API underneath: a bad mount and a bad admin target are refused with what is expected", async () => {
  const r = await Reactor.create({ host: "sim", maxConnections: 8, poolChunks: 16 });
  try {
    const route = () => ({ status: 200 });
    for (const mount of [{ prefix: "admin", route }, { prefix: "/admin", route }, { prefix: "/admin/", route: "no" }, null]) {
      try { metricsHandlers(r, r, { mount: mount as never }); assert.unreachable(`${JSON.stringify(mount)} was taken`); }
      catch (err) { assert.is((err as { code?: string }).code, "ERR_INVALID_OPTION"); assert.match((err as Error).message, /mount must be \{ prefix: "\/name\/", route: \(req\) => response \}/); }
    }
    assert.throws(() => adminHandler({ apply() { return { id: 1 }; } } as never), /adminHandler needs a Tuner/);
  } finally { await r.close({ drainMs: 0 }); }
});

test("main mode: settings, a change that takes effect and is kept, refused changes, rollback on request", async () => {
  const s = await startServe();
  try {
    const p = s.adminPort;
    const settings = await call(p, "GET", "/admin/settings");
    assert.is(settings.status, 200, settings.body);
    const before = settings.json.settings.acceptsPerTurn;
    assert.ok(Number.isInteger(before) && before > 1, `acceptsPerTurn ${before}`);
    assert.match(settings.json.notLive.edgeTriggered, /trigger mode is fixed/);

    // Refused: the trigger mode (not live, with the reason), a bad value, bad JSON, no settings.
    const trig = await call(p, "POST", "/admin/tune", { body: { settings: { edgeTriggered: false } } });
    assert.is(trig.status, 400, trig.body);
    assert.match(trig.json.error, /setting 'edgeTriggered' cannot change live: the trigger mode is fixed when the native poller is created/);
    const bad = await call(p, "POST", "/admin/tune", { body: { settings: { acceptsPerTurn: 0 } } });
    assert.is(bad.status, 400, bad.body);
    assert.match(bad.json.error, /option 'acceptsPerTurn' must be an integer from 1 to \d+, got 0/);
    assert.is((await call(p, "POST", "/admin/tune", { body: "{nope" })).status, 400);
    assert.is((await call(p, "POST", "/admin/tune", { body: { windowMs: 100 } })).status, 400);
    assert.is((await call(p, "GET", "/admin/tune")).json.state, "idle", "nothing applied by the refused ones");
    assert.is((await call(p, "GET", "/admin/settings")).json.settings.acceptsPerTurn, before);

    // A change: 202, in effect at once, the echo still works, then the verdict.
    const tune = await call(p, "POST", "/admin/tune", { body: { settings: { acceptsPerTurn: 3 }, windowMs: 300 } });
    assert.is(tune.status, 202, tune.body);
    assert.is(tune.json.id, 1);
    assert.is(tune.json.status.state, "watching");
    assert.equal(tune.json.status.previous, { acceptsPerTurn: before });
    assert.is((await call(p, "GET", "/admin/settings")).json.settings.acceptsPerTurn, 3, "in effect at once: the echo's reactor is between turns");
    const busy = await call(p, "POST", "/admin/tune", { body: { settings: { acceptsPerTurn: 4 } } });
    assert.is(busy.status, 409, busy.body);
    assert.match(busy.json.error, /change #1 \(acceptsPerTurn 3\) is being watched/);
    assert.is(await echoOnce(s.port, "hello under a live change"), "hello under a live change");
    const v = await verdict(p);
    assert.is(v.state, "kept", JSON.stringify(v));
    assert.is(v.settings.acceptsPerTurn, 3);
    assert.match(s.out(), /tuning #1: acceptsPerTurn 3 \(was acceptsPerTurn \d+\); watching/);
    assert.match(s.out(), /tuning #1 kept: /);

    // Rollback on request, then nothing left to roll back.
    const back = await call(p, "POST", "/admin/rollback");
    assert.is(back.status, 200, back.body);
    assert.is(back.json.status.state, "rolled-back");
    assert.is((await call(p, "GET", "/admin/settings")).json.settings.acceptsPerTurn, before);
    assert.is((await call(p, "POST", "/admin/rollback")).status, 409);

    // The metrics routes are unchanged, and stay GET-only.
    assert.is((await call(p, "GET", "/metrics")).status, 200);
    const post = await call(p, "POST", "/metrics", { body: "{}" });
    assert.equal([post.status, post.headers.allow], [405, "GET, HEAD"]);
    assert.match((await call(p, "GET", "/")).body, /\/admin\//);
    assert.is((await call(p, "GET", "/admin/nothing")).status, 404);
    assert.is(await stopServe(s), 0, s.out());
  } finally { if (s.child.exitCode === null) signal(s.child, "SIGTERM"); }
});

test("a token from --admin-token-file or WASM_REACTOR_ADMIN_TOKEN: 401 without it, 202 with it", async () => {
  const file = join(dir, "token");
  writeFileSync(file, `${TOKEN}\n`); // the final newline is dropped
  for (const how of ["file", "env"] as const) {
    const s = how === "file" ? await startServe(["--admin-token-file", file]) : await startServe([], { WASM_REACTOR_ADMIN_TOKEN: TOKEN });
    try {
      const p = s.adminPort;
      assert.match(s.out(), /Bearer token required/);
      const none = await call(p, "GET", "/admin/settings");
      assert.is(none.status, 401, `${how}: ${none.body}`);
      assert.is(none.headers["www-authenticate"], 'Bearer realm="wasm-reactor admin"');
      assert.is((await call(p, "POST", "/admin/tune", { body: { settings: { acceptsPerTurn: 5 } } })).status, 401, `${how}: POST without the token`);
      assert.is((await call(p, "GET", "/admin/settings", { token: TOKEN.slice(0, -1) + "X" })).status, 401, `${how}: a wrong token`);
      assert.is((await call(p, "GET", "/admin/settings", { token: TOKEN })).json.settings.acceptsPerTurn !== 5, true);
      const ok = await call(p, "POST", "/admin/tune", { token: TOKEN, body: { settings: { acceptsPerTurn: 5 }, windowMs: 60_000 } });
      assert.is(ok.status, 202, `${how}: ${ok.body}`);
      assert.is((await call(p, "GET", "/admin/settings", { token: TOKEN })).json.settings.acceptsPerTurn, 5);
      assert.is((await call(p, "GET", "/metrics")).status, 200, "the metrics need no token");
      assert.is(await stopServe(s), 0, s.out());
    } finally { if (s.child.exitCode === null) signal(s.child, "SIGTERM"); }
  }
});

test("an automatic rollback on real sockets: clients that reset during the watch undo the change", async () => {
  const s = await startServe();
  try {
    const p = s.adminPort;
    const before = (await call(p, "GET", "/admin/settings")).json.settings.readsPerConnPerTurn;
    // A window of a minute: the verdict can only come early, from errors past what the window may hold.
    const tune = await call(p, "POST", "/admin/tune", { body: { settings: { readsPerConnPerTurn: before + 1 }, windowMs: 60_000 } });
    assert.is(tune.status, 202, tune.body);
    // The floor is one error per window, doubled (maxErrorRateRatio 2): the third reset is past it.
    for (let i = 0; i < 4; i++) await resetConnection(s.port);
    const v = await verdict(p);
    assert.is(v.state, "rolled-back", JSON.stringify(v));
    assert.match(v.reason, /errors in \d+(\.\d+)? ms .* against 0 in/);
    assert.match(v.reason, new RegExp(`settings back to readsPerConnPerTurn ${before}`));
    assert.is((await call(p, "GET", "/admin/settings")).json.settings.readsPerConnPerTurn, before);
    assert.match(s.out(), /tuning #1 rolled back: \d+ errors in/);
    assert.is(await stopServe(s), 0, s.out());
  } finally { if (s.child.exitCode === null) signal(s.child, "SIGTERM"); }
});

/**
 * Connects, sees one echo, and leaves with a reset (RST): resetAndDestroy where the runtime has
 * it, else by closing with echoed bytes still unread, which makes the kernel send RST instead of
 * FIN (RFC 2525 section 2.17).
 */
function resetConnection(port: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const s = net.connect(port, "127.0.0.1");
    const t = setTimeout(() => { s.destroy(); reject(new Error("no echo within 10 s")); }, 10_000);
    s.on("error", () => { /* ours */ });
    s.on("connect", () => s.write("ping"));
    s.once("data", () => {
      clearTimeout(t);
      const r = (s as { resetAndDestroy?: () => void }).resetAndDestroy;
      if (typeof r === "function") r.call(s);
      else { s.pause(); s.write("unread"); setTimeout(() => s.destroy(), 100); }
      s.on("close", () => resolve());
    });
  });
}

test("worker mode (--workers 2): each worker tunes its own reactor; kept by all, refused alike, rolled back on all when one rolls back", async () => {
  const s = await startServe(["--workers", "2"]);
  try {
    const p = s.adminPort;
    const settings = await call(p, "GET", "/admin/settings");
    assert.is(settings.status, 200, settings.body);
    assert.equal(settings.json.settings.acceptsPerTurn, 128, "the echo preset's");
    const fd = await call(p, "POST", "/admin/tune", { body: { settings: { fdLimit: 100 } } });
    assert.is(fd.status, 400, fd.body);
    assert.match(fd.json.error, /setting 'fdLimit' cannot change live with workers: each worker's descriptor limit is its share/);
    const trig = await call(p, "POST", "/admin/tune", { body: { settings: { edgeTriggered: false } } });
    assert.is(trig.status, 400, trig.body);
    assert.match(trig.json.error, /setting 'edgeTriggered' cannot change live: the trigger mode is fixed/);
    const bad = await call(p, "POST", "/admin/tune", { body: { settings: { lowWaterBytes: 1 << 30 } } });
    assert.is(bad.status, 400, bad.body);
    assert.match(bad.json.error, /lowWaterBytes/);
    assert.is((await call(p, "GET", "/admin/tune")).json.state, "idle");

    // Sent to both; each applies it on its own thread and keeps it; the group keeps it when both have.
    const tune = await call(p, "POST", "/admin/tune", { body: { settings: { acceptsPerTurn: 3 }, windowMs: 300 } });
    assert.is(tune.status, 202, tune.body);
    assert.is(tune.json.status.workers.length, 2);
    const kept = await verdict(p);
    assert.is(kept.state, "kept", JSON.stringify(kept));
    assert.equal(kept.workers.map((w: { state: string; settings: { acceptsPerTurn: number } }) => [w.state, w.settings.acceptsPerTurn]), [["kept", 3], ["kept", 3]]);
    assert.is(await echoOnce(s.port, "hello, workers"), "hello, workers");
    assert.match(s.out(), /tuning #1 kept: every worker kept it \(2\)/);

    // Resets during a watch: six, so that one worker (the kernel spreads connections) sees at
    // least three, past its floor; its rollback rolls back the other worker too.
    const next = await call(p, "POST", "/admin/tune", { body: { settings: { acceptsPerTurn: 5 }, windowMs: 60_000 } });
    assert.is(next.status, 202, next.body);
    for (let i = 0; i < 6; i++) await resetConnection(s.port);
    const v = await verdict(p);
    assert.is(v.state, "rolled-back", JSON.stringify(v));
    assert.match(v.reason, /^worker \d rolled it back: \d+ errors in/);
    let all: Record<string, any> = v;
    for (let i = 0; i < 200 && !all.workers.every((w: { state: string }) => w.state === "rolled-back"); i++) { await sleep(50); all = (await call(p, "GET", "/admin/tune")).json; }
    assert.equal(all.workers.map((w: { state: string; settings: { acceptsPerTurn: number } }) => [w.state, w.settings.acceptsPerTurn]), [["rolled-back", 3], ["rolled-back", 3]], JSON.stringify(all));
    assert.match(s.out(), /tuning #2 rolled back on every worker: worker \d rolled it back/);
    assert.is(await stopServe(s), 0, s.out());
  } finally { if (s.child.exitCode === null) signal(s.child, "SIGTERM"); }
});

test("GroupTuner: a worker that refuses a change the main thread's check passed rolls it back on all; the change it kept before stays", async () => {
  const lib = (await import(DIST)) as typeof Lib;
  const lines: string[] = [];
  let tuner: Lib.GroupTuner | undefined;
  // Worker 1 keeps 10 s of samples, so it refuses a longer window; worker 0 keeps the default 300 s.
  const g = await lib.startWorkers({ module: APP, workers: 2, data: { historyMs: [300_000, 10_000] }, options: { maxConnections: 64 }, onMessage: (m, i) => tuner?.onMessage(m, i) });
  try {
    tuner = new lib.GroupTuner(g, { log: (l) => lines.push(l) });
    const t = tuner;
    type WS = { state: string; reason?: string; settings: { acceptsPerTurn: number } };
    const status = () => t.status() as { state: string; reason?: string; workers: WS[] };
    const until = async (what: string, ok: () => boolean) => {
      for (let i = 0; i < 400 && !ok(); i++) await sleep(50);
      assert.ok(ok(), `${what}: ${JSON.stringify(status())}`);
    };
    assert.is(t.settings().acceptsPerTurn, 128);

    t.apply({ acceptsPerTurn: 3 }, { windowMs: 200 });
    await until("kept by both", () => status().state !== "watching");
    assert.is(status().state, "kept");

    t.apply({ acceptsPerTurn: 5 }, { windowMs: 20_000 });
    await until("a verdict", () => status().state !== "watching");
    const s = status();
    assert.is(s.state, "rolled-back");
    assert.match(s.reason!, /^worker 1 refused it: watch option 'windowMs' must be an integer from 1 to 10000 \(the tuner's historyMs\), got 20000$/);
    await until("worker 0 rolled back", () => status().workers[0].state === "rolled-back");
    assert.equal(status().workers.map((w) => [w.state, w.settings.acceptsPerTurn]), [["rolled-back", 3], ["refused", 3]], "worker 0 back to 3; worker 1 still on the change it kept");
    assert.ok(lines.some((l) => /tuning #2 rolled back on every worker: worker 1 refused it/.test(l)), lines.join("\n"));

    for (const [f, code, re] of [
      [() => t.rollback(), "ERR_TUNING", /nothing to roll back: change #2 was already rolled back/],
      [() => t.apply({ fdReserve: 8 }), "ERR_INVALID_OPTION", /setting 'fdReserve' cannot change live with workers/],
      [() => t.apply({ acceptsPerTurn: 0 }), "ERR_INVALID_OPTION", /option 'acceptsPerTurn' must be an integer from 1/],
      [() => t.apply({ acceptsPerTurn: 4 }, { windowMs: 400_000 }), "ERR_INVALID_OPTION", /watch option 'windowMs' must be an integer from 1 to 300000/],
    ] as const) {
      try { f(); assert.unreachable(); }
      catch (err) { assert.is((err as { code?: string }).code, code); assert.match((err as Error).message, re); }
    }
  } finally { await g.close({ drainMs: 0 }); }
});

test.run();
