// A real HAProxy (the Debian package's /usr/sbin/haproxy) in front of the reactor on loopback,
// started and stopped by this suite (by its PID, also when a test fails): the PROXY protocol
// end to end (docs/load-balancers.md).
//
//   1. A Reactor in this process listens with proxyProtocol "any". HAProxy has two frontends,
//      one relaying with `send-proxy` (v1), one with `send-proxy-v2`, both connecting to us from
//      127.0.0.5 (`source`), so the balancer's address and the client's differ. Clients bind
//      127.0.0.7 / 127.0.0.8 and connect through HAProxy: `open` must see each client's own
//      address and port, the socket's peer must be 127.0.0.5, the echo must be exact. HAProxy's
//      v2 health checks (`check-send-proxy`) arrive as LOCAL headers.
//   2. `wasm-reactor serve --proxy-protocol v2` behind HAProxy: clients echo through it; a client
//      that reaches serve directly (no header) is refused and counted; the report says so.
// Skipped with one line where HAProxy is not installed.
import { suite } from "uvu";
import * as assert from "uvu/assert";
import { spawn, type ChildProcess } from "node:child_process";
import { existsSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import * as net from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Connection, ProxyInfo, Reactor } from "../../host/index.ts";
import { netReactor, until, closeClean, abandonAll } from "../helpers/net.ts";
import { spawnCli, signal, RUNTIME } from "../helpers/cli.ts";
import { skip } from "../helpers/skip.ts";

const HAPROXY = "/usr/sbin/haproxy";
const test = suite(`net: behind a real HAProxy (PROXY protocol v1 and v2, under ${RUNTIME})`);
const dir = mkdtempSync(join(tmpdir(), "wr-haproxy-"));
/** Every child this suite started, stopped by PID at the end of each test and of the suite. */
const children = new Set<ChildProcess>();
const stopAll = () => { for (const c of children) { try { process.kill(c.pid!, "SIGKILL"); } catch { /* gone */ } } children.clear(); };
test.after.each(stopAll);
test.after(async () => { stopAll(); await abandonAll(); rmSync(dir, { recursive: true, force: true }); });

/** A port free right now (bound on port 0 and released: HAProxy binds it next). */
async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.on("error", reject);
    s.listen(0, "127.0.0.1", () => { const p = (s.address() as net.AddressInfo).port; s.close(() => resolve(p)); });
  });
}

interface Haproxy { child: ChildProcess; log: () => string; exited: Promise<number | null> }

/** Starts HAProxy in the foreground (-db) on a generated config. */
function startHaproxy(name: string, config: string): Haproxy {
  const cfg = join(dir, `${name}.cfg`);
  writeFileSync(cfg, config);
  const child = spawn(HAPROXY, ["-db", "-f", cfg], { stdio: ["ignore", "pipe", "pipe"] });
  children.add(child);
  let log = "";
  child.stdout!.on("data", (b) => { log += b; });
  child.stderr!.on("data", (b) => { log += b; });
  const exited = new Promise<number | null>((r) => child.on("exit", (code) => r(code)));
  return { child, log: () => log, exited };
}

const DEFAULTS = `global
  maxconn 256
defaults
  mode tcp
  timeout connect 2s
  timeout client 10s
  timeout server 10s
`;

/**
 * One client through HAProxy, from `localAddress`: sends `msg`, waits for its echo, ends.
 * HAProxy may not be listening yet: a refused connect is retried (a refused connect never
 * reaches the backend, so nothing is counted twice), for at most 5 s.
 */
async function client(port: number, localAddress: string, msg: string, ha: Haproxy): Promise<{ localPort: number; echoed: string }> {
  const t0 = Date.now();
  for (;;) {
    try {
      return await new Promise((resolve, reject) => {
        const s = net.connect({ port, host: "127.0.0.1", localAddress });
        let got = "", localPort = 0;
        const timer = setTimeout(() => { s.destroy(); reject(new Error(`no echo through HAProxy in 5 s (got ${JSON.stringify(got)}); its log: ${ha.log()}`)); }, 5000);
        s.on("connect", () => { localPort = s.localPort!; s.write(msg); });
        s.on("data", (b) => { got += b; if (got.length >= msg.length) s.end(); });
        s.on("close", () => { clearTimeout(timer); resolve({ localPort, echoed: got }); });
        s.on("error", (e) => { clearTimeout(timer); reject(e); });
      });
    } catch (e) {
      if ((e as { code?: string }).code !== "ECONNREFUSED" || Date.now() - t0 > 5000) throw e;
      if (ha.child.exitCode !== null) throw new Error(`HAProxy exited ${ha.child.exitCode}: ${ha.log()}`);
      await new Promise((r) => setTimeout(r, 50));
    }
  }
}

/** `p`, or `fallback` after `ms` (the timer is cleared either way: it must not hold the process open). */
async function within<T>(p: Promise<T>, ms: number, fallback: T): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  try { return await Promise.race([p, new Promise<T>((res) => { timer = setTimeout(() => res(fallback), ms); })]); }
  finally { clearTimeout(timer); }
}

/** Stops HAProxy by its PID and waits for it (bounded). */
async function stopHaproxy(ha: Haproxy): Promise<void> {
  if (ha.child.exitCode === null) process.kill(ha.child.pid!, "SIGTERM");
  await within(ha.exited, 5000, null);
  children.delete(ha.child);
}

test("a Reactor behind HAProxy: send-proxy (v1) and send-proxy-v2 carry each client's own address; health checks come as LOCAL", async () => {
  if (!existsSync(HAPROXY)) return skip(`HAProxy is not installed (${HAPROXY}: the Debian package haproxy)`);
  const r: Reactor = await netReactor({ wait: "thread" }, { run: true });
  const seen: { info: ProxyInfo | undefined; remote: string; peer: string; msg: string }[] = [];
  const locals: string[] = [];
  const l = r.listen({ port: 0, proxyProtocol: "any" }, {
    open(c: Connection) {
      if (c.proxy?.command === "local") { locals.push(c.remoteAddress?.host ?? "?"); return; }
      const a = c.remoteAddress!;
      const sock = r.host.remoteAddress(r.core.slotField(c.slot, "fd"))!; // the TCP peer: HAProxy
      c.data = seen.push({ info: c.proxy, remote: `${a.host}:${a.port}`, peer: sock.host, msg: "" }) - 1;
    },
    data(c, d) { if (typeof c.data === "number") seen[c.data].msg += new TextDecoder().decode(d); c.write(d); },
  });
  const [fe1, fe2] = [await freePort(), await freePort()];
  const ha = startHaproxy("reactor", `${DEFAULTS}
frontend fe_v1
  bind 127.0.0.1:${fe1}
  default_backend be_v1
backend be_v1
  server s1 127.0.0.1:${l.port} send-proxy source 127.0.0.5
frontend fe_v2
  bind 127.0.0.1:${fe2}
  default_backend be_v2
backend be_v2
  server s1 127.0.0.1:${l.port} send-proxy-v2 source 127.0.0.5 check inter 200 check-send-proxy
`);
  try {
    const a = await client(fe1, "127.0.0.7", "hello over v1", ha);
    const b = await client(fe2, "127.0.0.8", "hello over v2", ha);
    assert.is(a.echoed, "hello over v1");
    assert.is(b.echoed, "hello over v2");
    // Both relayed connections are in already (their echoes came back); a health check comes
    // every 200 ms. Bounded by the wait, with what was seen in the message if it runs out.
    try { await until(r, () => seen.length >= 2 && locals.length >= 1, "two relayed connections and a health check", 15_000); }
    catch (e) { throw new Error(`${(e as Error).message}; relayed: ${JSON.stringify(seen)}; LOCAL health checks: ${locals.length}; HAProxy's log: ${ha.log()}`); }
    assert.is(seen.length, 2, `exactly the two relayed connections (health checks are LOCAL): ${JSON.stringify(seen)}`);
    const v1 = seen.find((s) => s.info?.version === 1)!, v2 = seen.find((s) => s.info?.version === 2)!;
    assert.ok(v1 && v2, `one of each version: ${JSON.stringify(seen)}`);
    assert.is(v1.remote, `127.0.0.7:${a.localPort}`, "v1: the client's own address and port");
    assert.is(v2.remote, `127.0.0.8:${b.localPort}`, "v2: the client's own address and port");
    assert.equal(v1.info!.destination, { host: "127.0.0.1", port: fe1 }, "v1: the frontend the client reached");
    assert.equal(v2.info!.destination, { host: "127.0.0.1", port: fe2 });
    assert.is(v1.peer, "127.0.0.5", "the socket's peer is HAProxy's source address");
    assert.is(v2.peer, "127.0.0.5");
    assert.is(v1.msg, "hello over v1", "data never saw the header");
    assert.is(v2.msg, "hello over v2");
    // A LOCAL header: remoteAddress stays the socket's peer, the balancer (or none: HAProxy ends a
    // check with a reset at once, and getpeername() on a reset socket fails with ENOTCONN).
    for (const a of locals) assert.ok(a === "127.0.0.5" || a === "?", `a health check's remoteAddress is HAProxy's, not a client's: ${a}`);
    const m = r.metrics();
    assert.is(m.proxyHeaderErrors, 0, "HAProxy's headers all parsed");
    assert.ok(m.proxyHeaders >= 3);
  } finally {
    await stopHaproxy(ha);
  }
  await closeClean(r);
});

test("wasm-reactor serve --proxy-protocol v2 behind HAProxy echoes; a direct client is refused and counted", async () => {
  if (!existsSync(HAPROXY)) return skip(`HAProxy is not installed (${HAPROXY}: the Debian package haproxy)`);
  const serve = spawnCli(["serve", "--port", "0", "--status-ms", "0", "--warmup", "0", "--proxy-protocol", "v2"]);
  children.add(serve);
  let out = "";
  serve.stdout!.on("data", (b) => { out += b; });
  serve.stderr!.on("data", (b) => { out += b; });
  const exited = new Promise<number | null>((res) => serve.on("exit", (code) => res(code)));
  const t0 = Date.now();
  while (!/listening on 127\.0\.0\.1:(\d+)\n.*echo on/.test(out)) {
    if (Date.now() - t0 > 10_000) throw new Error(`no "listening on" line in 10 s: ${out}`);
    if (serve.exitCode !== null) throw new Error(`serve exited ${serve.exitCode}: ${out}`);
    await new Promise((res) => setTimeout(res, 20));
  }
  assert.match(out, /PROXY protocol v2 expected/, "the banner says what the port expects");
  const port = Number(/listening on 127\.0\.0\.1:(\d+)/.exec(out)![1]);
  const fe = await freePort();
  const ha = startHaproxy("serve", `${DEFAULTS}
frontend fe
  bind 127.0.0.1:${fe}
  default_backend be
backend be
  server s1 127.0.0.1:${port} send-proxy-v2 source 127.0.0.5
`);
  try {
    const got = await Promise.all([1, 2, 3].map((i) => client(fe, `127.0.0.${10 + i}`, `message ${i} `.repeat(50), ha)));
    got.forEach((g, i) => assert.is(g.echoed, `message ${i + 1} `.repeat(50)));
    // Straight to serve, without HAProxy: no header, so the connection is reset and counted.
    const direct = await new Promise<string>((resolve) => {
      const s = net.connect(port, "127.0.0.1", () => s.write("GET / HTTP/1.0\r\n\r\n"));
      let got = "";
      s.on("data", (b) => { got += b; });
      s.on("error", () => { /* the reset */ });
      const timer = setTimeout(() => s.destroy(), 5000);
      s.on("close", () => { clearTimeout(timer); resolve(got); });
    });
    assert.is(direct, "", "nothing echoed to a client without a header");
  } finally {
    await stopHaproxy(ha);
  }
  signal(serve, "SIGTERM");
  const code = await within(exited, 10_000, null);
  assert.is(code, 0, `serve exited cleanly: ${out}`);
  children.delete(serve);
  assert.match(out, /PROXY headers 3 accepted, 1 refused/, `the report counts them: ${out}`);
});

test.run();
