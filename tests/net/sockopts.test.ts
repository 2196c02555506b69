// The socket options the library applies (docs/limits.md), read back from the kernel on real
// loopback sockets:
//   - through the native shim's `sockopts` export (getsockopt on the descriptor, exposed as
//     NativeHost.socketOptions for tests and diagnostics): what the kernel holds, not what we
//     asked for; on epoll (level and edge) and on the kqueue backend (libkqueue test build);
//   - and independently through `ss -tnoim` (iproute2), which reads the kernel's own tables
//     (keepalive timer, skmem rb/tb), so the export cannot be lying to the test;
//   - on the portable host, only ss can tell (the runtimes show no descriptor).
// Bad values are refused with ERR_INVALID_OPTION naming the option and what is allowed.
import { suite } from "uvu";
import * as assert from "uvu/assert";
import process from "node:process";
import { execFileSync, spawn } from "node:child_process";
import { fileURLToPath } from "node:url";
import { existsSync, readFileSync } from "node:fs";
import { Reactor, type Connection, type Listener, type ReactorError, type ReactorOptions } from "../../host/index.ts";
import type { NativeHost, SocketOptionsSeen } from "../../host/backends/native-host.ts";
import { netReactor, until, closeClean, abandonAll, logLines, runtimeName, selfCommand } from "../helpers/net.ts";
import { onJsonLines } from "../helpers/lines.ts";
import { unavailable } from "../helpers/contract.ts";
import { skip } from "../helpers/skip.ts";
import { runCli, spawnCli, signal } from "../helpers/cli.ts";

const test = suite("net: socket options");
test.after(abandonAll);

const which = (tool: string): string | undefined => ["/usr/bin/", "/bin/", "/usr/sbin/", "/sbin/"].map((d) => d + tool).find((p) => existsSync(p));
const SS = which("ss");
const linux = process.platform === "linux";

async function refused(what: string, fn: () => unknown, pattern: RegExp): Promise<void> {
  try { await fn(); }
  catch (err) {
    assert.is((err as ReactorError).code, "ERR_INVALID_OPTION", `${what}: ${(err as Error).message}`);
    assert.match((err as Error).message, pattern, what);
    return;
  }
  assert.unreachable(`${what} was accepted`);
}

// ── validation ────────────────────────────────────────────────────────────────────────────
test("keepAlive and userTimeoutMs: bad values are refused with the option, the value and what is allowed", async () => {
  const make = (o: ReactorOptions) => () => Reactor.create({ host: "sim", ...o });
  await refused("keepAlive 'yes'", make({ keepAlive: "yes" as never }), /option 'keepAlive' must be false, true, or \{ idleS, intervalS, count \}, got "yes"/);
  await refused("keepAlive null", make({ keepAlive: null as never }), /option 'keepAlive' must be false, true/);
  await refused("keepAlive.idleS 0", make({ keepAlive: { idleS: 0 } }), /option 'keepAlive.idleS' must be an integer from 1 to 32767, got 0/);
  await refused("keepAlive.intervalS 1.5", make({ keepAlive: { intervalS: 1.5 } }), /option 'keepAlive.intervalS' must be an integer from 1 to 32767, got 1.5/);
  await refused("keepAlive.count 128", make({ keepAlive: { count: 128 } }), /option 'keepAlive.count' must be an integer from 1 to 127, got 128/);
  await refused("keepAlive.idle (a typo)", make({ keepAlive: { idle: 5 } as never }), /option 'keepAlive' has no field 'idle'; known: idleS, intervalS, count/);
  await refused("userTimeoutMs -1", make({ userTimeoutMs: -1 }), /option 'userTimeoutMs' must be an integer from 0 to 2147483647, got -1/);
  await refused("userTimeoutMs '5s'", make({ userTimeoutMs: "5s" as never }), /option 'userTimeoutMs' must be an integer/);
  const r = await Reactor.create({ host: "sim", keepAlive: true });
  assert.equal(r.options.keepAlive, { idleS: 60, intervalS: 10, count: 6 }, "true: the defaults");
  await r.close();
  const r2 = await Reactor.create({ host: "sim", keepAlive: { idleS: 5 } });
  assert.equal(r2.options.keepAlive, { idleS: 5, intervalS: 10, count: 6 }, "fields left out take the defaults");
  await r2.close();
});

test("listen recvBufferBytes, sendBufferBytes, deferAcceptS: bad values are refused before a socket is made", async () => {
  const r = await Reactor.create({ host: "sim" });
  const listen = (o: Record<string, unknown>) => () => r.listen({ port: 0, ...o }, {});
  await refused("recvBufferBytes 100", listen({ recvBufferBytes: 100 }), /listen recvBufferBytes must be an integer from 1024 to 1073741824 \(bytes; 0 or absent: the kernel's default\), got 100/);
  await refused("sendBufferBytes '64k'", listen({ sendBufferBytes: "64k" }), /listen sendBufferBytes must be an integer from 1024 to 1073741824 .*got "64k"/);
  await refused("sendBufferBytes 2^31", listen({ sendBufferBytes: 2 ** 31 }), /listen sendBufferBytes must be an integer/);
  await refused("deferAcceptS 3601", listen({ deferAcceptS: 3601 }), /listen deferAcceptS must be an integer from 0 to 3600 \(seconds/);
  await refused("deferAcceptS -1", listen({ deferAcceptS: -1 }), /listen deferAcceptS must be an integer from 0 to 3600/);
  assert.is(r.metrics().listeners, 0, "no listener was made");
  await r.close();
});

// ── read back on the native backends ──────────────────────────────────────────────────────
interface Rig { r: Reactor; l: Listener; server: Connection; client: Connection }
const fdOf = (r: Reactor, c: Connection): number => r.core.slotField(c.slot, "fd");
const seen = (r: Reactor, c: Connection): SocketOptionsSeen => {
  const s = (r.host as NativeHost).socketOptions(fdOf(r, c));
  assert.ok(s, "the shim owns the descriptor");
  return s!;
};

/** A listener with `lopts`, and one connection to it from the same reactor (the client writes first: deferAccept waits for that). */
async function rig(options: ReactorOptions, lopts: Record<string, number>): Promise<Rig> {
  const r = await netReactor({ wait: "block", ...options });
  let server: Connection | undefined, client: Connection | undefined;
  const l = r.listen({ port: 0, ...lopts }, { open(c) { server = c; } });
  r.connect({ port: l.port }, { open(c) { client = c; c.write("first"); } });
  await until(r, () => server !== undefined && client !== undefined, "accepted and connected");
  return { r, l, server: server!, client: client! };
}
async function done(x: Rig): Promise<void> {
  x.client.close(); x.server.close(); x.l.close();
  await until(x.r, () => x.r.metrics().connections === 0 && x.r.metrics().listeners === 0, "all closed");
  await closeClean(x.r);
}

/** ss's line for the established socket with local port `sport` (and, when given, peer port `dport`). */
function ssLine(sport: number, dport?: number): string {
  const filter = dport === undefined ? `sport = :${sport}` : `sport = :${sport} and dport = :${dport}`;
  const out = execFileSync(SS!, ["-tnoimH", "state", "established", filter], { encoding: "utf8" });
  return out.replace(/\n\s+/g, " ").trim();
}

const BACKENDS: { name: string; options: ReactorOptions }[] = [
  { name: "epoll, level", options: { host: "epoll", edgeTriggered: false } },
  { name: "epoll, edge", options: { host: "epoll", edgeTriggered: true } },
  { name: "kqueue (libkqueue)", options: { host: "kqueue", edgeTriggered: false } },
];

for (const b of BACKENDS) {
  test(`${b.name}: keepAlive and userTimeoutMs on accepted and connected sockets; buffers and TCP_DEFER_ACCEPT on the listener, buffers inherited`, async () => {
    const why = unavailable({ name: b.name, options: { ...b.options, wait: "block" } });
    if (why) return skip(`host cannot run here: ${why}`);
    if (!linux) return skip("the figures below are Linux's (it doubles SO_RCVBUF; TCP_USER_TIMEOUT, TCP_DEFER_ACCEPT are Linux-only)");
    const x = await rig({ ...b.options, keepAlive: { idleS: 30, intervalS: 5, count: 3 }, userTimeoutMs: 7000 }, { recvBufferBytes: 65536, sendBufferBytes: 131072, deferAcceptS: 5 });
    const host = x.r.host as NativeHost;
    const lis = host.socketOptions(x.r.core.slotField(x.l.handle.slot, "fd"))!;
    assert.is(lis.recvBufferBytes, 2 * 65536, "SO_RCVBUF on the listener (Linux reports twice what was set)");
    assert.is(lis.sendBufferBytes, 2 * 131072, "SO_SNDBUF on the listener");
    assert.ok(lis.deferAcceptS! >= 5, `TCP_DEFER_ACCEPT on the listener (the kernel rounds up to whole SYN-ACK retransmits): ${lis.deferAcceptS}`);
    for (const [side, c] of [["accepted", x.server], ["connected", x.client]] as const) {
      const s = seen(x.r, c);
      assert.is(s.keepAlive, true, `${side}: SO_KEEPALIVE`);
      assert.is(s.keepIdleS, 30, `${side}: TCP_KEEPIDLE`);
      assert.is(s.keepIntervalS, 5, `${side}: TCP_KEEPINTVL`);
      assert.is(s.keepCount, 3, `${side}: TCP_KEEPCNT`);
      assert.is(s.userTimeoutMs, 7000, `${side}: TCP_USER_TIMEOUT`);
      assert.is(s.noDelay, true, `${side}: TCP_NODELAY (noDelay default)`);
    }
    const acc = seen(x.r, x.server);
    assert.is(acc.recvBufferBytes, 2 * 65536, "the accepted socket inherited SO_RCVBUF");
    assert.is(acc.sendBufferBytes, 2 * 131072, "the accepted socket inherited SO_SNDBUF");
    assert.is(x.r.metrics().host!.sockoptErrors, 0, "no option refused");
    if (SS) {
      // The kernel's own account: a keepalive timer, and the accepted socket's buffers.
      const line = ssLine(x.l.port, x.server.remoteAddress!.port); // the accepted socket: the listener's port, the client's

      assert.match(line, /timer:\(keepalive,/, `ss shows a keepalive timer on the accepted socket: ${line}`);
      assert.match(line, /rb131072,/, `ss shows the inherited receive buffer: ${line}`);
      assert.match(line, /tb262144,/, `ss shows the inherited send buffer: ${line}`);
    }
    await done(x);
  });
}

test("defaults: no keepalive, no user timeout, no deferral, the kernel's buffers (epoll)", async () => {
  const why = unavailable({ name: "epoll", options: { host: "epoll", wait: "block" } });
  if (why) return skip(`host cannot run here: ${why}`);
  const x = await rig({ host: "epoll" }, {});
  const host = x.r.host as NativeHost;
  const lis = host.socketOptions(x.r.core.slotField(x.l.handle.slot, "fd"))!;
  assert.is(lis.deferAcceptS ?? 0, 0);
  for (const c of [x.server, x.client]) {
    const s = seen(x.r, c);
    assert.is(s.keepAlive, false);
    assert.is(s.userTimeoutMs ?? 0, 0);
  }
  if (SS) assert.not.match(ssLine(x.l.port, x.server.remoteAddress!.port), /timer:\(keepalive,/, "ss: no keepalive timer");
  await done(x);
});

test("deferAcceptS: a client that has not spoken is not accepted; its first bytes get it accepted (epoll)", async () => {
  const why = unavailable({ name: "epoll", options: { host: "epoll", wait: "block" } });
  if (why) return skip(`host cannot run here: ${why}`);
  if (!linux) return skip("TCP_DEFER_ACCEPT is Linux-only");
  const r = await netReactor({ wait: "block", host: "epoll" });
  let accepted = 0, client: Connection | undefined, got = "";
  const l = r.listen({ port: 0, deferAcceptS: 30 }, { open() { accepted++; }, data(_c, d) { got += new TextDecoder().decode(d); } });
  r.connect({ port: l.port }, { open(c) { client = c; } });
  await until(r, () => client !== undefined, "the client's handshake completed");
  for (let i = 0; i < 20; i++) r.step(5); // 20 turns: without the deferral the accept comes in the first
  assert.is(accepted, 0, "not accepted while the client is silent");
  assert.is(r.metrics().accepts, 0);
  client!.write("hello");
  await until(r, () => got === "hello", "accepted with its first bytes");
  assert.is(accepted, 1);
  client!.close(); l.close();
  await until(r, () => r.metrics().connections === 0 && r.metrics().listeners === 0, "closed");
  await closeClean(r);
});

test("a buffer above net.core.rmem_max is clamped by the kernel: the log says so and how to raise it (epoll)", async () => {
  const why = unavailable({ name: "epoll", options: { host: "epoll", wait: "block" } });
  if (why) return skip(`host cannot run here: ${why}`);
  if (!linux) return skip("net.core.rmem_max is Linux's");
  const max = Number(readFileSync("/proc/sys/net/core/rmem_max", "utf8").trim());
  if (!(max > 0 && max * 2 <= 1 << 30)) return skip(`net.core.rmem_max is ${max} here, too large to go past within the option's range`);
  const r = await netReactor({ wait: "block", host: "epoll" });
  const l = r.listen({ port: 0, recvBufferBytes: max * 2 }, {});
  const lis = (r.host as NativeHost).socketOptions(r.core.slotField(l.handle.slot, "fd"))!;
  assert.is(lis.recvBufferBytes, 2 * max, "clamped to rmem_max (reported doubled)");
  const lines = logLines(r).filter((x) => x.includes("rmem_max"));
  assert.equal(lines, [`wasm-reactor: listen recvBufferBytes ${max * 2} is above net.core.rmem_max (${max}); the kernel clamps it to ${max} (raise it with sysctl -w net.core.rmem_max=${max * 2})`]);
  l.close();
  await until(r, () => r.metrics().listeners === 0, "closed");
  await closeClean(r);
});

// ── serve's flags ─────────────────────────────────────────────────────────────────────────
test("serve: bad --keepalive, --rcvbuf, --defer-accept values exit 2 with one line naming the flag", () => {
  for (const [args, re] of [
    [["--keepalive", "0"], /--keepalive must be IDLE\[,INTERVAL,COUNT\]: integers .* got "0"/],
    [["--keepalive", "60,10,6,1"], /--keepalive must be IDLE\[,INTERVAL,COUNT\]/],
    [["--keepalive", "60,x"], /--keepalive must be IDLE\[,INTERVAL,COUNT\]/],
    [["--rcvbuf", "100"], /--rcvbuf must be an integer from 1024 to 1073741824, got "100"/],
    [["--defer-accept", "4000"], /--defer-accept must be an integer from 0 to 3600, got "4000"/],
    [["--user-timeout-ms", "-5"], /--user-timeout-ms must be an integer from 0 to 2147483647, got "-5"/],
  ] as [string[], RegExp][]) {
    const r = runCli(["serve", ...args]);
    assert.is(r.code, 2, `${args.join(" ")}: ${r.err}`);
    assert.match(r.err, re);
  }
});

test("serve --keepalive --rcvbuf --sndbuf --defer-accept reach the sockets: ss sees the listener's buffers and the accepted socket's keepalive timer", async () => {
  if (!SS || !linux) return skip("needs Linux and ss (iproute2) to read the kernel's tables");
  const why = unavailable({ name: "epoll", options: { host: "epoll", wait: "block" } });
  if (why) return skip(`host epoll cannot run here: ${why}`);
  const child = spawnCli(["serve", "--backend", "epoll", "--port", "0", "--seconds", "30", "--status-ms", "0", "--warmup", "0",
    "--keepalive", "30,5,3", "--user-timeout-ms", "7000", "--rcvbuf", "65536", "--sndbuf", "131072", "--defer-accept", "5"]);
  let out = "", err = "";
  child.stdout!.on("data", (d: Uint8Array) => { out += new TextDecoder().decode(d); });
  child.stderr!.on("data", (d: Uint8Array) => { err += new TextDecoder().decode(d); });
  const exited = new Promise<void>((res) => child.on("exit", () => res()));
  try {
    const t0 = Date.now();
    while (!/listening on 127\.0\.0\.1:(\d+)/.test(out + err) && Date.now() - t0 < 20_000 && child.exitCode === null) await new Promise((r) => setTimeout(r, 20));
    const port = Number(/listening on 127\.0\.0\.1:(\d+)/.exec(out + err)?.[1]);
    assert.ok(port > 0, `serve announced its port: ${out}${err}`);
    const lis = execFileSync(SS!, ["-tlnmH", `sport = :${port}`], { encoding: "utf8" }).replace(/\n\s+/g, " ");
    assert.match(lis, /rb131072,/, `the listener's SO_RCVBUF: ${lis}`);
    assert.match(lis, /tb262144,/, `the listener's SO_SNDBUF: ${lis}`);
    const net = await import("node:net");
    const c = net.connect({ port, host: "127.0.0.1" });
    let echoed = "";
    c.on("data", (d: Uint8Array) => { echoed += new TextDecoder().decode(d); });
    c.on("error", () => {});
    await new Promise<void>((res) => c.once("connect", () => res()));
    c.write("ping"); // deferred accept: serve sees the connection once it has spoken
    const t1 = Date.now();
    while (echoed !== "ping" && Date.now() - t1 < 10_000) await new Promise((r) => setTimeout(r, 20));
    assert.is(echoed, "ping", "echoed after the deferred accept");
    const acc = ssLine(port, c.localPort!);
    assert.match(acc, /timer:\(keepalive,/, `the accepted socket has a keepalive timer: ${acc}`);
    assert.match(acc, /rb131072,/, `and inherited the listener's buffers: ${acc}`);
    c.destroy();
  } finally {
    if (child.exitCode === null) signal(child, "SIGTERM");
    await exited;
  }
});

// ── dead peers, for real ──────────────────────────────────────────────────────────────────
// A child in its own network namespace (unshare -n) reaches a peer in a second one over a veth
// pair; then the peer's end goes down (with a permanent neighbour entry on ours, so nothing
// tells our kernel: packets just vanish, as with a power cut). keepAlive { 1, 1, 2 } must end
// its connection with ETIMEDOUT, userTimeoutMs 1500 must end one with a write in flight, and a
// connection with neither stays open meanwhile (Linux's default keepalive waits two hours).
const ROLE = "WASM_REACTOR_SOCKOPTS_ROLE";
const DEAD_SETUP = [
  "set -e",
  "fail() { echo \"setup-failed: $1\" >&2; exit 3; }",
  "ip link set lo up || fail 'ip link set lo up'",
  "ip link add wr0 type veth peer name wr1 || fail 'no veth (ip link add type veth)'",
  "unshare -n sleep 120 & HOLD=$!",
  "for i in 1 2 3 4 5 6 7 8 9 10; do [ \"$(readlink /proc/$HOLD/ns/net)\" != \"$(readlink /proc/self/ns/net)\" ] && break; sleep 0.05; done",
  "ip link set wr1 netns $HOLD || fail 'moving a veth end to another namespace'",
  "ip addr add 10.200.0.1/24 dev wr0 && ip link set wr0 up",
  "nsenter -t $HOLD -n sh -c 'ip link set lo up && ip addr add 10.200.0.2/24 dev wr1 && ip link set wr1 up' || fail 'nsenter -n'",
  "MAC=$(nsenter -t $HOLD -n ip -o link show wr1 | sed -n 's/.*link\\/ether \\([0-9a-f:]*\\).*/\\1/p')",
  "ip neigh replace 10.200.0.2 lladdr $MAC dev wr0 nud permanent",
  "export WR_HOLD=$HOLD",
  "nsenter -t $HOLD -n env " + ROLE + "=peer \"$0\" \"$@\" &",
  "PEER=$!",
  "set +e",
  "env " + ROLE + "=reactor \"$0\" \"$@\"",
  "RC=$?",
  "kill $PEER $HOLD 2>/dev/null",
  "exit $RC",
].join("\n");

interface DeadResult { keepAlive?: string; userTimeout?: string; plainOpen?: boolean; keepAliveMs?: number; userTimeoutMs?: number; error?: string }

test("dead peers: keepAlive and userTimeoutMs end a connection whose peer vanished (ETIMEDOUT); without them it stays open (epoll, two network namespaces)", async () => {
  const unshare = which("unshare"), ip = which("ip"), nsenter = which("nsenter");
  if (!linux || !unshare || !ip || !nsenter) return skip("needs Linux with unshare, nsenter (util-linux) and ip (iproute2)");
  try { execFileSync(unshare, ["-n", "--", "true"], { stdio: "ignore" }); }
  catch { return skip("unshare -n is not permitted here (needs CAP_SYS_ADMIN or user namespaces)"); }
  const why = unavailable({ name: "epoll", options: { host: "epoll", wait: "block" } });
  if (why) return skip(`host epoll cannot run here: ${why}`);
  const [cmd, args] = selfCommand(fileURLToPath(import.meta.url));
  const proc = spawn(unshare, ["-n", "--", "sh", "-c", DEAD_SETUP, cmd, ...args], { stdio: ["ignore", "pipe", "pipe"], env: { ...process.env, DENO_NO_UPDATE_CHECK: "1" } });
  let stderr = "";
  proc.stderr!.on("data", (d: Uint8Array) => { stderr += new TextDecoder().decode(d); });
  const res = await new Promise<DeadResult | "setup">((resolve, reject) => {
    const timer = setTimeout(() => { process.kill(proc.pid!, "SIGKILL"); reject(new Error(`child timed out; stderr: ${stderr}`)); }, 60_000);
    onJsonLines<DeadResult>(proc.stdout!, (m) => { clearTimeout(timer); resolve(m); }, (line) => { stderr += line + "\n"; });
    proc.on("exit", (code) => { clearTimeout(timer); if (code === 3 && stderr.includes("setup-failed")) resolve("setup"); else reject(new Error(`child exited ${code} without a result; stderr: ${stderr}`)); });
  });
  if (res === "setup") return skip(`the two-namespace network could not be made here: ${/setup-failed: (.*)/.exec(stderr)?.[1]}`);
  if (res.error) throw new Error(`child: ${res.error}`);
  console.log(`  (keepAlive 1+1x2 s ended it after ${res.keepAliveMs} ms, userTimeoutMs 1500 after ${res.userTimeoutMs} ms)`);
  assert.is(res.keepAlive, "ETIMEDOUT", "keepalive probes unanswered: the kernel ends the connection");
  assert.is(res.userTimeout, "ETIMEDOUT", "data unacknowledged past TCP_USER_TIMEOUT: the kernel ends the connection");
  assert.is(res.plainOpen, true, "with neither option the connection to the vanished peer still looks open");
  await new Promise<void>((r) => { if (proc.exitCode !== null) r(); else proc.on("exit", () => r()); });
});

/** In the second namespace: a peer that accepts and holds connections (bounded: exits after 60 s). */
async function peerRole(): Promise<void> {
  const net = await import("node:net");
  const held: unknown[] = [];
  const srv = net.createServer((s) => { held.push(s); s.on("error", () => {}); });
  srv.listen(7777, "10.200.0.2"); // a private namespace: no one else's port
  setTimeout(() => process.exit(0), 60_000);
}

/** In the first namespace: three reactors connect to the peer, the peer's link goes down, and we watch. */
async function reactorRole(): Promise<void> {
  const out = (o: unknown) => process.stdout.write(JSON.stringify(o) + "\n");
  const res: DeadResult = {};
  try {
    const base: ReactorOptions = { host: "epoll", build: "debug", wait: "thread", maxConnections: 16, poolChunks: 16, chunkSize: 4096, connectTimeoutMs: 2000, log: () => {} };
    const rs = [
      await Reactor.create({ ...base, keepAlive: { idleS: 1, intervalS: 1, count: 2 } }),
      await Reactor.create({ ...base, userTimeoutMs: 1500 }),
      await Reactor.create(base),
    ];
    const runs = rs.map((r) => r.run());
    const conns: (Connection | undefined)[] = [undefined, undefined, undefined];
    const ended: (string | undefined)[] = [undefined, undefined, undefined];
    let t0 = 0;
    const at: number[] = [0, 0, 0];
    const dial = (i: number, tries: number): void => {
      rs[i].connect({ host: "10.200.0.2", port: 7777 }, {
        open(c) { conns[i] = c; },
        error(_c, e) { if (conns[i]) { ended[i] = e.code; at[i] = Date.now() - t0; } },
        close(_c, info) {
          if (info.reason === "connectFailed" && !conns[i] && tries > 0) setTimeout(() => dial(i, tries - 1), 100); // the peer is still starting
          else if (conns[i] && ended[i] === undefined) { ended[i] = info.code ?? info.reason; at[i] = Date.now() - t0; }
        },
      });
    };
    for (let i = 0; i < 3; i++) dial(i, 50);
    const wait = async (pred: () => boolean, ms: number) => { const end = Date.now() + ms; while (!pred() && Date.now() < end) await new Promise((r) => setTimeout(r, 10)); };
    await wait(() => conns.every((c) => c !== undefined), 10_000);
    if (!conns.every((c) => c !== undefined)) throw new Error(`could not reach the peer: ${conns.map((c) => (c ? "up" : "down")).join(", ")}`);
    execFileSync("nsenter", ["-t", process.env.WR_HOLD!, "-n", "ip", "link", "set", "wr1", "down"]);
    t0 = Date.now();
    conns[1]!.write("x"); // in flight, never acknowledged
    await wait(() => ended[0] !== undefined && ended[1] !== undefined, 20_000);
    res.keepAlive = ended[0]; res.userTimeout = ended[1]; res.keepAliveMs = at[0]; res.userTimeoutMs = at[1];
    res.plainOpen = conns[2]!.live && conns[2]!.state === "open" && ended[2] === undefined;
    for (const r of rs) await r.close({ drainMs: 0 });
    await Promise.all(runs);
  } catch (err) {
    res.error = (err as Error)?.stack ?? String(err);
  }
  out(res);
  process.exit(0);
}

// ── the portable host ─────────────────────────────────────────────────────────────────────
test("portable host: keepAlive reaches the runtime's sockets (ss sees the timer); what it cannot set is said once", async () => {
  const lines: string[] = [];
  const r = await Reactor.create({ host: "portable", build: "debug", maxConnections: 64, poolChunks: 32, chunkSize: 4096, keepAlive: { idleS: 30, intervalS: 5, count: 3 }, userTimeoutMs: 7000, log: (x) => lines.push(x) });
  const running = r.run();
  try {
    const said = lines.filter((x) => x.includes("the portable host"));
    assert.is(said.length, 1, lines.join("\n"));
    assert.match(said[0], /cannot set keepAlive's .* nor userTimeoutMs \(TCP_USER_TIMEOUT\); a native host \(epoll, kqueue\) can \(docs\/limits.md\)/);
    let server: Connection | undefined, client: Connection | undefined;
    const l = r.listen({ port: 0, recvBufferBytes: 65536, deferAcceptS: 5 }, { open(c) { server = c; } });
    assert.ok(lines.some((x) => /cannot set recvBufferBytes \(SO_RCVBUF\), deferAcceptS \(TCP_DEFER_ACCEPT\) on 127\.0\.0\.1:\d+; the kernel's defaults apply/.test(x)), lines.join("\n"));
    r.connect({ port: l.port }, { open(c) { client = c; } });
    await until(r, () => server !== undefined && client !== undefined, "accepted and connected");
    if (!SS || !linux) { skip("no ss (iproute2) here to read the kernel's keepalive timer"); }
    else {
      const line = ssLine(l.port, server!.remoteAddress!.port);
      assert.match(line, /timer:\(keepalive,/, `${runtimeName()}: ss shows a keepalive timer on the accepted socket: ${line}`);
      const cline = ssLine(server!.remoteAddress!.port, l.port);
      assert.match(cline, /timer:\(keepalive,/, `${runtimeName()}: and on the connected one: ${cline}`);
    }
    client!.close(); server!.close(); l.close();
    await until(r, () => r.metrics().connections === 0 && r.metrics().listeners === 0, "closed");
  } finally {
    await r.close({ drainMs: 0 });
    await running;
  }
});

const role = process.env[ROLE];
if (role === "peer") await peerRole();
else if (role === "reactor") await reactorRole();
else test.run();
