// Real sockets on 127.0.0.1 (host: "epoll"): what the simulator cannot show. Echo with a
// node:net peer (wait: "thread") and with a client of the same reactor (wait: "block"),
// half-close, RST both ways, a real idle timeout, refused connects, source addresses, IPv6,
// descriptors back to where they were, bad addresses refused without losing a slot, and the
// descriptor budget. Level- and edge-triggered where it costs little.
//
// Tests named "regression: ..." pin bugs found while writing these suites (fixed since).
import { suite } from "uvu";
import * as assert from "uvu/assert";
import * as net from "node:net";
import type { CloseInfo, Connection, Handlers, ReactorError, TimeoutKind } from "../../host/index.ts";
import { fdTable, fdDiff } from "../../host/fuzz/fds.ts";
import { netReactor, until, closeClean, abandonAll, bytes, equalBytes, sleep, logLines } from "../helpers/net.ts";
import { skip } from "../helpers/skip.ts";

const test = suite("net: real sockets");
test.after(abandonAll);

const MODES = [{ name: "level", edgeTriggered: false }, { name: "edge", edgeTriggered: true }];

/** A node:net client that keeps what it receives. */
function netClient(port: number, opts: { host?: string; allowHalfOpen?: boolean } = {}) {
  const sock = net.connect({ port, host: opts.host ?? "127.0.0.1", allowHalfOpen: opts.allowHalfOpen ?? false });
  const st = { sock, chunks: [] as Uint8Array[], bytes: 0, connected: false, ended: false, closed: false, error: undefined as (Error & { code?: string }) | undefined };
  sock.on("connect", () => { st.connected = true; });
  sock.on("data", (d: Uint8Array) => { st.chunks.push(new Uint8Array(d)); st.bytes += d.length; });
  sock.on("end", () => { st.ended = true; });
  sock.on("error", (e: Error) => { st.error = e; });
  sock.on("close", () => { st.closed = true; });
  return Object.assign(st, {
    received(): Uint8Array { const out = new Uint8Array(st.bytes); let o = 0; for (const c of st.chunks) { out.set(c, o); o += c.length; } return out; },
    text(): string { return new TextDecoder().decode(this.received()); },
  });
}

const echo: Handlers = { data(c, d) { if (c.writable) c.write(d); } };

// ── echo ────────────────────────────────────────────────────────────────────────────────
for (const mode of MODES) {
  test(`echo with a node:net client (thread mode, ${mode.name})`, async () => {
    const r = await netReactor({ wait: "thread", edgeTriggered: mode.edgeTriggered });
    let remote: { host: string; port: number } | undefined;
    const reasons: string[] = [];
    const l = r.listen({ port: 0 }, { ...echo, open(c) { remote = c.remoteAddress; }, close(_c, i) { reasons.push(i.reason); } });
    const cl = netClient(l.port);
    const msg = bytes(200_000, 3);
    await until(r, () => cl.connected, "node:net connected");
    cl.sock.write(msg.subarray(0, 1000));
    cl.sock.write(msg.subarray(1000));
    await until(r, () => cl.bytes === msg.length, "200 kB echoed");
    assert.ok(equalBytes(cl.received(), msg), "byte-exact");
    assert.equal(remote, { host: "127.0.0.1", port: cl.sock.localPort }, "remoteAddress is the client's socket");
    cl.sock.end();
    await until(r, () => cl.closed && reasons.length === 1, "both sides closed");
    assert.ok(cl.ended, "the client got our FIN");
    assert.is(cl.error, undefined);
    assert.equal(reasons, ["normal"]);
    await closeClean(r);
  });

  test(`echo with a client of the same reactor (block mode, ${mode.name})`, async () => {
    const r = await netReactor({ wait: "block", edgeTriggered: mode.edgeTriggered });
    const reasons: string[] = [];
    const l = r.listen({ port: 0 }, { ...echo, close(_c, i) { reasons.push(`server ${i.reason}`); } });
    const msg = bytes(300_000, 4);
    const got: Uint8Array[] = [];
    let n = 0;
    const c = r.connect({ port: l.port }, {
      open(conn) { conn.write(msg); },
      data(conn, d) { got.push(d.slice()); n += d.length; if (n === msg.length) conn.end(); },
      close(_c, i) { reasons.push(`client ${i.reason}`); },
    });
    assert.is(c.state, "connecting");
    await until(r, () => reasons.length === 2, "echo, then both closed");
    const all = new Uint8Array(n);
    let o = 0;
    for (const g of got) { all.set(g, o); o += g.length; }
    assert.ok(equalBytes(all, msg), "byte-exact");
    assert.equal(reasons.sort(), ["client normal", "server normal"]);
    const m = r.metrics();
    assert.is(m.accepts, 1);
    assert.is(m.connectsOk, 1);
    await closeClean(r);
  });
}

// ── half-close ──────────────────────────────────────────────────────────────────────────
for (const mode of MODES) {
  const name = `half-close from a node:net client: end(data), a reply after its FIN, then our FIN (${mode.name})`;
  // Regression (edge): a short read was taken for "drained", so a FIN that came with the bytes
  // (a client that connects, writes and ends at once) was never read and `end` never ran.
  test(name, async () => {
    const r = await netReactor({ wait: "thread", edgeTriggered: mode.edgeTriggered, allowHalfOpen: true });
    let got = "", state = "", info: CloseInfo | undefined;
    const l = r.listen({ port: 0 }, {
      data(_c, d) { got += new TextDecoder().decode(d); },
      end(c) { state = c.state; c.write(`you said: ${got}`); c.end(); },
      close(_c, i) { info = i; },
    });
    const cl = netClient(l.port, { allowHalfOpen: true });
    cl.sock.end("request");
    await until(r, () => cl.ended && info !== undefined, "reply, both FINs, close", 3000);
    assert.is(state, "readEnded");
    assert.is(cl.text(), "you said: request");
    assert.is(info!.reason, "normal");
    await closeClean(r);
  });
}

test("half-close between two connections of one reactor (block mode, allowHalfOpen)", async () => {
  const r = await netReactor({ wait: "block", allowHalfOpen: true });
  const ev: string[] = [];
  const l = r.listen({ port: 0 }, {
    end(c) { ev.push(`server end ${c.state}`); r.setTimeout(() => { c.end("late reply"); }, 30); },
    close(_c, i) { ev.push(`server close ${i.reason}`); },
  });
  let reply = "";
  const c = r.connect({ port: l.port }, {
    open(conn) { conn.end("question"); },
    data(_c, d) { reply += new TextDecoder().decode(d); },
    end() { ev.push("client end"); },
    close(_c, i) { ev.push(`client close ${i.reason}`); },
  });
  await until(r, () => ev.length === 4, "both ends and both closes");
  assert.is(reply, "late reply");
  assert.is(ev[0], "server end readEnded");
  assert.ok(ev.includes("client end") && ev.includes("server close normal") && ev.includes("client close normal"), ev.join(", "));
  assert.is(c.state, "closed");
  await closeClean(r);
});

// ── resets ──────────────────────────────────────────────────────────────────────────────
for (const mode of MODES) {
  test(`conn.reset() sends an RST: the other side gets ECONNRESET and closes with reset (block, ${mode.name})`, async () => {
    const r = await netReactor({ wait: "block", edgeTriggered: mode.edgeTriggered });
    let serverErr: ReactorError | undefined, serverInfo: CloseInfo | undefined, clientInfo: CloseInfo | undefined, got = 0;
    const l = r.listen({ port: 0 }, { data(_c, d) { got += d.length; }, error(_c, e) { serverErr = e; }, close(_c, i) { serverInfo = i; } });
    const c = r.connect({ port: l.port }, { open(conn) { conn.write("x"); }, close(_c, i) { clientInfo = i; } });
    await until(r, () => got === 1, "a byte in");
    c.reset();
    await until(r, () => serverInfo !== undefined && clientInfo !== undefined, "both closed");
    assert.is(clientInfo!.reason, "abort", "our own reset() closes with abort");
    assert.is(serverInfo!.reason, "reset");
    assert.is(serverInfo!.code, "ECONNRESET");
    assert.is(serverErr?.code, "ECONNRESET");
    assert.is(r.metrics().errorsByErrno.ECONNRESET, 1);
    await closeClean(r);
  });
}

test("an RST from node:net (socket.resetAndDestroy) closes the server side with reset (thread)", async () => {
  const r = await netReactor({ wait: "thread" });
  let info: CloseInfo | undefined, got = 0;
  const l = r.listen({ port: 0 }, { data(_c, d) { got += d.length; }, close(_c, i) { info = i; } });
  const cl = netClient(l.port);
  await until(r, () => cl.connected, "connected");
  cl.sock.write("hello");
  await until(r, () => got === 5, "bytes in");
  const s = cl.sock as net.Socket & { resetAndDestroy?: () => void };
  if (typeof s.resetAndDestroy !== "function") {
    s.destroy();
    await until(r, () => info !== undefined, "close");
    await closeClean(r);
    return skip("this runtime's node:net has no socket.resetAndDestroy(): no RST to test with");
  }
  s.resetAndDestroy();
  await until(r, () => info !== undefined, "close after the RST");
  assert.is(info!.reason, "reset");
  assert.is(info!.code, "ECONNRESET");
  await closeClean(r);
});

// ── timeouts, refusals, addresses ───────────────────────────────────────────────────────
test("idle timeout on a real socket: timeout('idle') after idleTimeoutMs, FIN, close (thread, node:net)", async () => {
  const r = await netReactor({ wait: "thread", idleTimeoutMs: 150 });
  const kinds: TimeoutKind[] = [];
  let openedAt = 0, timedOutAt = 0, info: CloseInfo | undefined;
  const l = r.listen({ port: 0 }, {
    open() { openedAt = performance.now(); },
    timeout(_c, k) { kinds.push(k); timedOutAt = performance.now(); },
    close(_c, i) { info = i; },
  });
  const cl = netClient(l.port); // silent; ends when we do (allowHalfOpen false)
  await until(r, () => info !== undefined && cl.closed, "idle close on both sides", 3000);
  assert.equal(kinds, ["idle"]);
  assert.is(info!.reason, "timeout");
  const idle = timedOutAt - openedAt;
  assert.ok(idle >= 140 && idle < 700, `harvested after about 150 ms (${idle.toFixed(0)} ms)`);
  assert.ok(cl.ended, "a FIN, not an RST");
  assert.is(cl.error, undefined);
  assert.is(r.metrics().idleTimeouts, 1);
  await closeClean(r);
});

test("connect to a closed port: error ECONNREFUSED, then close with connectFailed (block)", async () => {
  const r = await netReactor({ wait: "block" });
  // A port that was just free: listen, note it, close the listener.
  const l = r.listen({ port: 0 }, {});
  const port = l.port;
  l.close();
  await until(r, () => r.metrics().listeners === 0, "listener closed");
  let err: ReactorError | undefined, info: CloseInfo | undefined, opened = false;
  r.connect({ port }, { open() { opened = true; }, error(_c, e) { err = e; }, close(_c, i) { info = i; } });
  await until(r, () => info !== undefined, "refused");
  assert.is(err?.code, "ECONNREFUSED");
  assert.is(err?.errno, 111);
  assert.is(info!.reason, "connectFailed");
  assert.is(info!.code, "ECONNREFUSED");
  assert.not.ok(opened);
  const m = r.metrics();
  assert.is(m.connectsFailed, 1);
  assert.is(m.errorsByErrno.ECONNREFUSED, 1);
  await closeClean(r);
});

test("connect with localAddress 127.0.0.2: the server sees that source address (block)", async () => {
  const r = await netReactor({ wait: "block" });
  let seen: { host: string; port: number } | undefined;
  const l = r.listen({ port: 0 }, { ...echo, open(c) { seen = c.remoteAddress; } });
  let back = "";
  const c = r.connect({ port: l.port, localAddress: "127.0.0.2" }, { open(conn) { conn.write("from .2"); }, data(conn, d) { back += new TextDecoder().decode(d); if (back === "from .2") conn.end(); } });
  await until(r, () => back === "from .2" && seen !== undefined, "echo");
  assert.is(seen!.host, "127.0.0.2");
  assert.ok(seen!.port > 0);
  await until(r, () => !c.live && r.metrics().connections === 0, "closed");
  await closeClean(r);
});

test("reusePort: two reactors share one port and both accept; without it the second gets EADDRINUSE (block)", async () => {
  const a = await netReactor({ wait: "block" }), b = await netReactor({ wait: "block" });
  const la = a.listen({ port: 0, reusePort: true }, echo);
  const lb = b.listen({ port: la.port, reusePort: true }, echo);
  assert.is(lb.port, la.port);
  let err: ReactorError | undefined;
  try { b.listen({ port: la.port }, echo); } catch (e) { err = e as ReactorError; }
  assert.is(err?.code, "ERR_LISTEN");
  assert.is(err?.errno, 98);
  // Clients from a third reactor: the kernel spreads them over both listeners.
  const c = await netReactor({ wait: "block" });
  let echoed = 0;
  for (let i = 0; i < 64; i++) c.connect({ port: la.port }, { open(conn) { conn.write("x"); }, data(conn) { echoed++; conn.end(); } });
  for (let t = 0; t < 2000 && echoed < 64; t++) { c.step(0); a.step(0); b.step(0); }
  assert.is(echoed, 64);
  const acceptedA = a.metrics().accepts, acceptedB = b.metrics().accepts;
  assert.is(acceptedA + acceptedB, 64);
  assert.ok(acceptedA > 0 && acceptedB > 0, `both accepted (${acceptedA} + ${acceptedB})`);
  for (let t = 0; t < 200; t++) { c.step(0); a.step(0); b.step(0); }
  await closeClean(c); await closeClean(a); await closeClean(b);
});

test("a listen backlog above net.core.somaxconn is clamped, with a log line that says so (block)", async () => {
  const r = await netReactor({ wait: "block" });
  let max = 0;
  try { max = Number((await import("node:fs")).readFileSync("/proc/sys/net/core/somaxconn", "utf8").trim()); } catch { /* not Linux */ }
  if (!(max > 0 && max < 65535)) { await closeClean(r); return skip(`net.core.somaxconn is not below 65535 here (read ${max || "nothing"}): nothing to clamp`); }
  r.listen({ port: 0, backlog: 65535 }, echo);
  assert.ok(logLines(r).some((l) => l.includes(`above net.core.somaxconn (${max})`)), logLines(r).join("\n"));
  await closeClean(r);
});

test("a run on real sockets records a trace that replays identically, without the sockets (block)", async () => {
  const { mkdtempSync, rmSync } = await import("node:fs");
  const { tmpdir } = await import("node:os");
  const { join } = await import("node:path");
  const { replayFile } = await import("../../host/index.ts");
  const dir = mkdtempSync(join(tmpdir(), "wr-epoll-trace-"));
  try {
    const path = join(dir, "epoll.trace");
    const r = await netReactor({ wait: "block", record: { path, outputs: true } });
    const l = r.listen({ port: 0 }, echo);
    let done = 0;
    for (let i = 0; i < 40; i++) r.connect({ port: l.port }, { open(c) { c.write(`hello ${i}`.repeat(1 + (i % 50))); }, data(c) { c.end(); }, close() { done++; } });
    await until(r, () => done === 40, "40 echoes and closes");
    await closeClean(r);
    const res = await replayFile(path, { checkInvariants: true });
    assert.ok(res.identical, JSON.stringify(res.divergence));
    assert.is(res.header.host, "epoll");
    assert.ok(res.turns > 2);
    assert.is(res.broken, undefined);
  } finally { rmSync(dir, { recursive: true, force: true }); }
});

test("IPv6 loopback ::1: listen, connect, echo, remoteAddress (block)", async () => {
  const r = await netReactor({ wait: "block" });
  let seen: { host: string; port: number } | undefined;
  let l;
  try { l = r.listen({ port: 0, host: "::1" }, { ...echo, open(c) { seen = c.remoteAddress; } }); }
  catch (err) {
    await closeClean(r);
    return skip(`no IPv6 loopback here: ${(err as Error).message}`);
  }
  let back = "";
  r.connect({ port: l.port, host: "::1" }, { open(conn) { conn.write("v6"); }, data(conn, d) { back += new TextDecoder().decode(d); conn.end(); } });
  await until(r, () => back === "v6" && r.metrics().connections === 0, "echo over ::1, then closed");
  assert.is(seen?.host, "::1");
  assert.equal(l.address, { host: "::1", port: l.port });
  await closeClean(r);
});

// ── descriptors ─────────────────────────────────────────────────────────────────────────
for (const wait of ["block", "thread"] as const) {
  test(`clean shutdown: every descriptor the reactor opened is closed, none it did not open is touched (${wait})`, async () => {
    // Counted by kind, not in bulk: runtimes open and close descriptors of their own at times of
    // their choosing (Deno: sockets after its first socket ends), which made a bare count of
    // /proc/self/fd flaky. What is the reactor's: epoll and eventfd instances, and TCP sockets on
    // the listener's port (host/fuzz/fds.ts, which the real-socket fuzzer uses too).
    await closeClean(await netReactor({ wait }));
    await sleep(5);
    const before = fdTable();
    const r = await netReactor({ wait });
    const l = r.listen({ port: 0 }, echo);
    let echoed = 0;
    const client: Handlers = { open(c) { c.write("ping"); }, data() { echoed++; } };
    for (let i = 0; i < 20; i++) r.connect({ port: l.port }, client);
    await until(r, () => echoed === 20, "20 echoes");
    assert.is(fdDiff(before, { listener: l.port, servers: [] }).leaked.length, 2 + 40 + 1, "epoll + eventfd, 40 sockets, the listener");
    const { report } = await closeClean(r, 2000); // 40 connections still open: close() drains them
    assert.is(report.graceful, 40);
    assert.is(report.aborted, 0);
    await sleep(5);
    const after = fdDiff(before, { listener: l.port, servers: [] });
    assert.equal(after.leaked, [], "every descriptor closed");
    assert.equal(after.lost.filter((x) => /eventpoll|eventfd|socket/.test(x) === false), [], "no file of the process closed by the reactor");
  });
}

// ── bad addresses ───────────────────────────────────────────────────────────────────────
test("connect({ host: 'not-an-ip' }) and kin: ERR_INVALID_OPTION, and no slot is lost", async () => {
  const r = await netReactor({ wait: "block", maxConnections: 2 });
  const l = r.listen({ port: 0 }, echo);
  for (const host of ["not-an-ip", "1.2.3", "256.1.1.1", "", "127.0.0.1 ", "localhost.example"]) {
    let err: ReactorError | undefined;
    try { r.connect({ port: l.port, host }, {}); } catch (e) { err = e as ReactorError; }
    assert.is(err?.code, "ERR_INVALID_OPTION", `host ${JSON.stringify(host)}`);
    assert.match(err!.message, /connect host must be an IPv4 or IPv6 address/);
  }
  let err: ReactorError | undefined;
  try { r.connect({ port: l.port, localAddress: "nowhere" }, {}); } catch (e) { err = e as ReactorError; }
  assert.is(err?.code, "ERR_INVALID_OPTION");
  // Both slots are still there: two connects work, and a third has no slot.
  r.connect({ port: l.port }, {});
  r.connect({ port: l.port }, {});
  let third: ReactorError | undefined;
  try { r.connect({ port: l.port }, {}); } catch (e) { third = e as ReactorError; }
  assert.is(third?.code, "ERR_NO_SLOT");
  await until(r, () => r.metrics().connectsStarted === 2, "two connects started");
  assert.is(r.metrics().errorsByErrno.EINVAL ?? 0, 0);
  await closeClean(r);
});

// Regression, was: addresses that pass the JS check (only hex digits, dots and colons, with a colon) but
// not inet_pton — "1.2.3.4:80", ":::", "::1::1" — and a localAddress of the other family
// reach the shim's prepareConnect after the core took a slot: it throws a plain Error with
// code ERR_NATIVE_ERRNO (not a ReactorError ERR_INVALID_OPTION), and the slot stays taken
// until the next turn (ERR_NO_SLOT meanwhile; connectsStarted and errorsByErrno.EINVAL count it).
test("regression: IP-looking but invalid hosts are refused with ERR_INVALID_OPTION before a slot is taken", async () => {
  const r = await netReactor({ wait: "block", maxConnections: 1 });
  const cases: [string, string | undefined][] = [["1.2.3.4:80", undefined], [":::", undefined], ["::1::1", undefined], ["::1", "127.0.0.1"], ["127.0.0.1", "1.2.3.4:5"]];
  for (const [host, localAddress] of cases) {
    let err: ReactorError | undefined;
    try { r.connect({ port: 9, host, ...(localAddress ? { localAddress } : {}) }, {}); } catch (e) { err = e as ReactorError; }
    assert.is(err?.code, "ERR_INVALID_OPTION", `host ${host}, localAddress ${localAddress}: got ${err?.code}: ${err?.message}`);
  }
  await closeClean(r);
});

test("listen() on an address that is not an IP, or not this machine's, is refused clearly", async () => {
  const r = await netReactor({ wait: "block" });
  for (const [host, re] of [["not-an-ip", /cannot listen on not-an-ip:0/], ["10.255.255.1", /cannot listen on 10\.255\.255\.1:0: EADDRNOTAVAIL/]] as const) {
    let err: ReactorError | undefined;
    try { r.listen({ port: 0, host }, {}); } catch (e) { err = e as ReactorError; }
    assert.ok(err, `listen on ${host} threw`);
    assert.ok(err!.code === "ERR_LISTEN" || err!.code === "ERR_INVALID_OPTION", `code ${err!.code}`);
    assert.match(err!.message, re);
  }
  r.step(0);
  assert.is(r.metrics().listeners, 0);
  await closeClean(r);
});

// ── admission control ───────────────────────────────────────────────────────────────────
test("admission control stops accepting at the descriptor budget (block)", async () => {
  const r = await netReactor({ wait: "block", fdLimit: 60, fdReserve: 32 }); // budget 28: the listener and 27 sockets
  let accepted = 0;
  const l = r.listen({ port: 0 }, { open() { accepted++; } });
  const peers = await netReactor({ wait: "block" });
  for (let i = 0; i < 40; i++) peers.connect({ port: l.port }, {});
  await until([r, peers], () => accepted === 27 && r.metrics().admissionPauses >= 1, "accepted up to the budget");
  for (let i = 0; i < 20; i++) { r.step(1); peers.step(0); }
  const m = r.metrics();
  assert.is(accepted, 27, "no accept beyond the budget");
  assert.is(m.fdBudget, 28);
  assert.is(m.fdsOpen, 28);
  assert.is(m.host!.acceptEmfile, 0);
  await closeClean(peers); // the clients leave; the server's connections see their FINs
  await closeClean(r);
});

// Regression, was: the core re-evaluates admission (admissionUpdate) at the start of flush, before the
// dirty slots are flushed; the closes that bring fdsOpen back under the budget happen later in
// that same flush and post no event. Nothing wakes the reactor again, so in wait: "thread"
// (and with step(-1) in block mode) the listener stays paused although the budget has room,
// until unrelated I/O or a timer comes by. Block-mode tests that keep stepping hide it.
test("regression: admission control re-opens when connections close, without more I/O (thread)", async () => {
  const r = await netReactor({ wait: "thread", fdLimit: 60, fdReserve: 32 }); // budget 28
  const peers = await netReactor({ wait: "thread" });
  let accepted = 0;
  const l = r.listen({ port: 0 }, { open() { accepted++; } });
  const conns: Connection[] = [];
  for (let i = 0; i < 40; i++) conns.push(peers.connect({ port: l.port }, {}));
  await until([r, peers], () => accepted === 27, "accepted up to the budget");
  await sleep(100);
  for (const c of conns.slice(0, 20)) c.end(); // 20 leave (among them accepted ones)
  await until([r, peers], () => accepted === 40, `the 13 waiting clients accepted once descriptors are free (accepted ${accepted}, fdsOpen ${r.metrics().fdsOpen})`, 2000);
  await closeClean(peers);
  await closeClean(r);
});

// ── the clock and close() on a real host ────────────────────────────────────────────────
// Regression, was: on a real host reactor.nowMs() reads metrics.nowMs, which the core writes at flush
// (refreshGauges), so inside a handler it is the previous turn's time. A timeout handler that
// runs 150 ms after open reads the same nowMs() as the open handler did. (The sim's nowMs()
// is the simulator's clock and is right.)
test("regression: nowMs() inside a handler is the time of the turn that called it", async () => {
  const r = await netReactor({ wait: "block", idleTimeoutMs: 150 });
  let openedAt = -1, timedOutAt = -1;
  const l = r.listen({ port: 0 }, { open() { if (openedAt < 0) openedAt = r.nowMs(); }, timeout() { if (timedOutAt < 0) timedOutAt = r.nowMs(); } });
  r.connect({ port: l.port }, {});
  // Steps that wait as long as the core says: the turn after the idle wait runs the handler.
  for (let i = 0; i < 20 && timedOutAt < 0; i++) r.step(1000);
  assert.ok(timedOutAt >= 0, "the idle timeout fired");
  assert.ok(timedOutAt - openedAt >= 150, `nowMs() advanced by the idle time (open ${openedAt}, timeout ${timedOutAt})`);
  await closeClean(r);
});

// Regression, was: Reactor.shutdown() takes its start time from nowMs(), the core's time of the last turn.
// After an idle spell longer than drainMs (nothing happened, so no turn ran), the first drain
// turn already finds the drain time "used up": every connection is aborted within ~25 ms, and
// report.ms counts the idle spell. Here the peer needs ~200 ms to read the rest; close() after
// 600 ms of quiet with drainMs 400 aborts it instead of draining.
test("regression: close({ drainMs }) after a quiet spell still drains for up to drainMs", async () => {
  const a = await netReactor({ wait: "thread" });
  const b = await netReactor({ wait: "thread" });
  const N = 8 << 20;
  let server: Connection | undefined, got = 0;
  const l = a.listen({ port: 0 }, { open(c) { server = c; c.write(new Uint8Array(N)); } });
  const client = b.connect({ port: l.port }, { open(c) { c.pause(); }, data(_c, d) { got += d.length; } });
  await until([a, b], () => server !== undefined, "accepted");
  await sleep(600); // quiet: the client reads nothing, nothing happens on a
  setTimeout(() => { if (client.live) client.resume(); }, 150);
  const t0 = performance.now();
  const report = await a.close({ drainMs: 400 });
  const wall = performance.now() - t0;
  assert.is(report.aborted, 0, `drained, not aborted (after ${wall.toFixed(0)} ms, client got ${got} of ${N})`);
  assert.ok(report.ms <= wall + 5, `report.ms ${report.ms} is the drain's own time (${wall.toFixed(0)} ms)`);
  await closeClean(a);
  await closeClean(b);
});

// Regression, was (usability, block mode): runUntil() checks pred only between steps and each step ends
// with the host's wait, so when a handler makes pred true and no more I/O comes, runUntil
// blocks until maxMs (or forever without it) before returning true.
test("regression: runUntil() in block mode returns soon after a handler made pred true", async () => {
  const r = await netReactor({ wait: "block" });
  let opened = false;
  const l = r.listen({ port: 0 }, { open() { opened = true; } });
  r.connect({ port: l.port }, {});
  const t0 = performance.now();
  assert.ok(r.runUntil(() => opened, { maxMs: 1000 }));
  const ms = performance.now() - t0;
  assert.ok(ms < 200, `returned after ${ms.toFixed(0)} ms`);
  await closeClean(r);
});

test.run();
