// The API tests that must hold on every backend, written once against a Harness
// (tests/helpers/peer.ts): shared-sim.test.ts runs them on the simulator, shared-epoll.test.ts
// on real sockets. Times are the host's (virtual on sim, real on epoll), so timeouts stay
// short; byte counts and close reasons must be the same on both.
import type { Test } from "uvu";
import * as assert from "uvu/assert";
import { Reactor, ReactorError, type CloseInfo, type Connection, type TimeoutKind } from "../../host/index.ts";
import { K } from "../../host/core/layout.ts";
import type { Harness, MakeHarness } from "../helpers/peer.ts";
import { abandonAll, bytes, equalBytes } from "../helpers/net.ts";
import { skip } from "../helpers/skip.ts";
import { proxyV1, proxyV2, concat, AWS_VPCE_TLV } from "../helpers/proxy.ts";

const echoHandlers = {
  data(c: Connection, d: Uint8Array) { if (c.writable) c.write(d); },
};

export function defineSharedTests(test: Test, make: MakeHarness): void {
  const t = (name: string, serverOptions: Parameters<MakeHarness>[0], body: (h: Harness) => Promise<void>) => {
    const run = async () => {
      const h = await make(serverOptions);
      try { await body(h); await h.finish(); }
      catch (err) { await abandonAll(); throw err; }
    };
    test(name, run);
  };

  t("echo: bytes come back intact and in order to several peers; FINs close normally", {}, async (h) => {
    let opened = 0;
    const reasons: string[] = [];
    const l = h.listen({ ...echoHandlers, open() { opened++; }, close(_c, i) { reasons.push(i.reason); } });
    assert.ok(l.port > 0, "a port was bound");
    const msgs = [0, 1, 2].map((i) => bytes(10_000 + i * 777, i + 1));
    const peers = msgs.map(() => h.connect(l.port));
    peers.forEach((p, i) => p.send(msgs[i]));
    await h.until(() => peers.every((p, i) => p.receivedBytes === msgs[i].length), "every message echoed");
    peers.forEach((p, i) => assert.ok(equalBytes(p.received(), msgs[i]), `peer ${i}: bytes intact`));
    assert.is(opened, 3);
    peers.forEach((p) => p.end());
    await h.until(() => reasons.length === 3 && peers.every((p) => p.closed), "three closes on both sides");
    assert.equal(reasons, ["normal", "normal", "normal"]);
    peers.forEach((p, i) => { assert.ok(p.gotEnd, `peer ${i} saw our FIN`); assert.is(p.closeReason, "normal"); });
    const m = h.server.metrics();
    const total = msgs.reduce((n, b) => n + b.length, 0);
    assert.is(m.accepts, 3);
    assert.is(m.bytesIn, total);
    assert.is(m.bytesOut, total);
  });

  t("zero-copy echo of 1 MiB sent in pieces: each data view is written back as the same chunk", {}, async (h) => {
    let calls = 0, zeroCopy = 0;
    const l = h.listen({
      data(c, d) {
        calls++;
        const core = h.server.core;
        const chunk = Math.floor((d.byteOffset - core.regions.chunkDataOff) / core.chunkSize);
        const lent = d.buffer === core.memory.buffer && core.exports.chunkState(chunk) === K.CH_LENT;
        c.write(d);
        if (lent && core.exports.chunkState(chunk) === K.CH_QUEUED) zeroCopy++;
      },
    });
    const payload = bytes(1 << 20, 11);
    const p = h.connect(l.port);
    for (let off = 0; off < payload.length; off += 65_536) p.send(payload.subarray(off, off + 65_536));
    await h.until(() => p.receivedBytes === payload.length, "1 MiB echoed", 10_000);
    assert.ok(equalBytes(p.received(), payload), "the echo is byte-exact");
    assert.ok(calls >= (1 << 20) / h.server.core.chunkSize, `one data call per chunk at most (${calls})`);
    assert.is(zeroCopy, calls, "every echo queued the lent chunk itself");
    p.end();
    await h.until(() => p.closed, "close");
    const m = h.server.metrics(); // bytesOut counts completed writes: read after the close
    assert.is(m.bytesIn, payload.length);
    assert.is(m.bytesOut, payload.length);
  });

  t("backpressure: write() says wait, drain comes once the peer reads again, bytes intact", { highWaterBytes: 65_536, lowWaterBytes: 16_384 }, async (h) => {
    // 8 MiB: more than loopback's socket buffers take from a peer that does not read.
    const payload = bytes(8 << 20, 5);
    let first: boolean | undefined, drains = 0, queuedAtOpen = 0;
    let server: Connection | undefined;
    const l = h.listen({
      open(c) { server = c; first = c.write(payload); queuedAtOpen = c.queuedBytes; },
      drain() { drains++; },
    });
    const p = h.connect(l.port, { paused: true });
    await h.until(() => first !== undefined, "accepted and written");
    assert.is(first, false, "write() of 8 MiB above a 64 KiB high-water mark says wait");
    assert.is(queuedAtOpen, payload.length, "every byte is kept (none dropped)");
    await h.pass(150);
    assert.is(drains, 0, "no drain while the peer does not read");
    assert.ok(server!.queuedBytes > 0, `bytes wait in the queue (${server!.queuedBytes})`);
    assert.ok(p.receivedBytes < payload.length, "the paused peer has not got everything");
    p.resumeReading();
    await h.until(() => p.receivedBytes === payload.length && drains === 1, "everything, then one drain", 15_000);
    assert.ok(equalBytes(p.received(), payload), "bytes intact and in order");
    p.end();
    await h.until(() => p.closed, "close");
    const m = h.server.metrics();
    assert.is(m.backpressurePauses, 0, "reading is not paused by a full write queue unless pauseReadsAtHighWater is set");
    assert.is(m.bytesOut, payload.length);
  });

  t("pause() stops reading a connection and resume() restarts it", {}, async (h) => {
    let conn: Connection | undefined;
    let got = "";
    const l = h.listen({ open(c) { conn = c; c.pause(); }, data(_c, d) { got += new TextDecoder().decode(d); } });
    const p = h.connect(l.port);
    p.send("hello");
    await h.until(() => conn !== undefined, "accepted");
    await h.pass(100);
    assert.is(got, "", "nothing read while paused");
    conn!.resume();
    await h.until(() => got === "hello", "read after resume");
    p.end();
    await h.until(() => p.closed, "close");
  });

  t("half-close with allowHalfOpen: the server writes after the peer's FIN, then ends", { allowHalfOpen: true }, async (h) => {
    let state = "", got = "";
    const reasons: string[] = [];
    const l = h.listen({
      data(_c, d) { got += new TextDecoder().decode(d); },
      end(c) {
        state = c.state;
        h.server.setTimeout(() => { c.write("reply after your FIN"); c.end(); }, 50);
      },
      close(_c, i) { reasons.push(i.reason); },
    });
    const p = h.connect(l.port, { halfOpen: true });
    p.send("request");
    p.end();
    await h.until(() => p.gotEnd && p.closed && reasons.length === 1, "our FIN, then both closed");
    assert.is(got, "request");
    assert.is(state, "readEnded", "the peer's FIN leaves our side writable");
    assert.is(p.receivedText(), "reply after your FIN");
    assert.equal(reasons, ["normal"]);
    assert.is(p.closeReason, "normal");
  });

  t("a peer reset: error ECONNRESET, then close with reason reset", {}, async (h) => {
    if (h.noReset) return skip(h.noReset); // the test needs a reset
    let err: ReactorError | undefined, info: CloseInfo | undefined, got = 0;
    const l = h.listen({ data(_c, d) { got += d.length; }, error(_c, e) { err = e; }, close(_c, i) { info = i; } });
    const p = h.connect(l.port);
    p.send("x");
    await h.until(() => got === 1, "first byte in");
    p.reset();
    await h.until(() => info !== undefined, "close after the reset");
    assert.is(info!.reason, "reset");
    assert.is(info!.code, "ECONNRESET");
    assert.is(err?.code, "ECONNRESET");
    assert.is(err?.errno, 104);
    const m = h.server.metrics();
    assert.is(m.errorsByErrno.ECONNRESET, 1);
    assert.is(m.connections, 0);
  });

  // Regression, was: at maxConnections the core gave the host an accept budget of 0 but left the
  // listener armed: epoll (level-triggered) reported it ready at every turn and io_uring held the
  // accepted client for a budget that never came, so the loop spun a core (700k-1M turns/s,
  // found by review) until a slot freed. Now the listener is paused as at the descriptor budget.
  t("maxConnections: at the limit the listener waits without spinning; a freed slot lets the next client in", { maxConnections: 2 }, async (h) => {
    const opened: Connection[] = [];
    const closed: string[] = [];
    const l = h.listen({ ...echoHandlers, open(c) { opened.push(c); }, close(_c, i) { closed.push(i.reason); } });
    const peers = [0, 1, 2, 3].map(() => h.connect(l.port));
    await h.until(() => opened.length === 2, "two accepted");
    const before = h.server.metrics().turns;
    await h.pass(300);
    const turns = h.server.metrics().turns - before;
    assert.is(opened.length, 2, "no third accepted while both slots are taken");
    assert.ok(turns < 150, `${turns} turns in 300 ms with every slot taken and clients waiting: the loop spins`);
    opened[0].end();
    await h.until(() => opened.length === 3, "a third accepted once a slot is free");
    opened[1].end();
    await h.until(() => opened.length === 4, "the fourth too");
    peers.forEach((p) => p.end());
    await h.until(() => closed.length === 4 && peers.every((p) => p.closed), "all four closed");
  });

  t("idle timeout: timeout('idle') after idleTimeoutMs, a graceful FIN, then close", { idleTimeoutMs: 200 }, async (h) => {
    const kinds: TimeoutKind[] = [];
    let info: CloseInfo | undefined, openedAt = -1, timedOutAt = -1;
    const l = h.listen({
      open() { openedAt = h.now(); },
      timeout(_c, k) { kinds.push(k); timedOutAt = h.now(); },
      close(_c, i) { info = i; },
    });
    const p = h.connect(l.port);
    await h.until(() => info !== undefined && p.closed, "idle close on both sides", 5_000);
    assert.equal(kinds, ["idle"]);
    assert.is(info!.reason, "timeout");
    const idle = timedOutAt - openedAt;
    // The core's clock is whole milliseconds read at the turn's start, and openedAt is read later
    // in that turn: the two can differ by up to 1 ms, so "not before" allows that much.
    assert.ok(idle >= 199, `not before the timeout (${idle} ms)`);
    assert.ok(idle <= (h.kind === "sim" ? 210 : 1_000), `not long after it (${idle} ms)`);
    assert.ok(p.gotEnd, "harvested with a FIN");
    assert.is(p.closeReason, "normal", "not reset");
    assert.is(h.server.metrics().idleTimeouts, 1);
  });

  t("handshake timeout: a silent accepted peer is reset; one that spoke is untouched", { handshakeTimeoutMs: 200 }, async (h) => {
    if (h.noReset) return skip(h.noReset); // the test needs a reset
    const kinds: TimeoutKind[] = [];
    const l = h.listen({ ...echoHandlers, timeout(_c, k) { kinds.push(k); } });
    const silent = h.connect(l.port);
    const talker = h.connect(l.port);
    talker.send("hi");
    await h.until(() => silent.closed, "the silent peer is cut", 5_000);
    assert.is(silent.closeReason, "reset");
    assert.equal(kinds, ["handshake"]);
    assert.is(talker.receivedText(), "hi");
    assert.not.ok(talker.closed, "the talker is still connected");
    assert.is(h.server.metrics().handshakeTimeouts, 1);
    talker.end();
    await h.until(() => talker.closed, "talker closes");
  });

  t("a port in use: errno EADDRINUSE with a clear message, and the first listener keeps working", {}, async (h) => {
    const l = h.listen(echoHandlers);
    let err: ReactorError | undefined;
    try { h.listen({}, { port: l.port }); } catch (e) { err = e as ReactorError; }
    assert.ok(err, "the second listen() threw");
    assert.instance(err, ReactorError);
    assert.is(err!.errno, 98);
    assert.match(err!.message, new RegExp(`cannot listen on 127\\.0\\.0\\.1:${l.port}: EADDRINUSE`));
    const p = h.connect(l.port);
    p.send("still here");
    await h.until(() => p.receivedText() === "still here", "echo on the first listener");
    assert.is(h.server.metrics().listeners, 1, "no listener slot taken by the failure");
    p.end();
    await h.until(() => p.closed, "close");
  });

  t("a port in use throws code ERR_LISTEN, as documented", {}, async (h) => {
    const l = h.listen({});
    let err: ReactorError | undefined;
    try { h.listen({}, { port: l.port }); } catch (e) { err = e as ReactorError; }
    assert.is(err?.code, "ERR_LISTEN");
  });

  t("invalid options and arguments are refused with ERR_INVALID_OPTION", {}, async (h) => {
    const host = h.kind;
    const cases: [Record<string, unknown>, RegExp][] = [
      [{ maxConnections: 0 }, /option 'maxConnections' must be an integer from 1 to 4000000, got 0/],
      [{ chunkSize: 1000 }, /option 'chunkSize' must be a power of two/],
      [{ idleTimeoutMs: -5 }, /option 'idleTimeoutMs' must be an integer/],
      [{ wait: "sometimes" }, /option 'wait' must be one of 'thread', 'block', got "sometimes"/],
      [{ edgeTriggered: 1 }, /option 'edgeTriggered' must be true or false, got 1/],
      [{ lowWaterBytes: 10, highWaterBytes: 5 }, /option 'lowWaterBytes' must be at most highWaterBytes/],
      [{ maxconnections: 5 }, /unknown option 'maxconnections' \(did you mean 'maxConnections'\?\)/],
    ];
    for (const [o, re] of cases) {
      let err: unknown;
      try { const r = await Reactor.create({ host, ...o } as never); await r.close({ drainMs: 0 }); } catch (e) { err = e; }
      assert.instance(err, ReactorError, `refused: ${JSON.stringify(o)}`);
      assert.is((err as ReactorError).code, "ERR_INVALID_OPTION");
      assert.match((err as Error).message, re);
    }
    const r = h.server;
    const code = (fn: () => unknown) => { try { fn(); } catch (e) { return (e as ReactorError).code; } return "no throw"; };
    assert.is(code(() => r.listen({ port: 70000 }, {})), "ERR_INVALID_OPTION");
    assert.is(code(() => r.listen({ port: 0, backlog: 0 }, {})), "ERR_INVALID_OPTION");
    assert.is(code(() => r.listen({ port: 0 }, { dat() {} } as never)), "ERR_INVALID_OPTION");
    assert.is(code(() => r.connect({ port: 0 }, {})), "ERR_INVALID_OPTION");
    assert.is(code(() => r.setTimeout(() => {}, -1)), "ERR_INVALID_OPTION");
    const m = r.metrics();
    assert.is(m.listeners + m.connections, 0, "nothing was opened by the refused calls");
  });

  t("metrics() and prometheus() have the counters, gauges and errno tallies", {}, async (h) => {
    if (h.noReset) return skip(h.noReset); // the test needs a reset
    const l = h.listen(echoHandlers);
    const peers = Array.from({ length: 5 }, () => h.connect(l.port));
    peers.forEach((p) => p.send("12345678"));
    await h.until(() => peers.every((p) => p.receivedBytes === 8), "echo");
    peers[0].reset();
    await h.until(() => h.server.metrics().connections === 4, "the reset seen");
    const m = h.server.metrics();
    assert.is(m.accepts, 5);
    assert.is(m.bytesIn, 40);
    assert.is(m.bytesOut, 40);
    assert.is(m.connections, 4);
    assert.is(m.listeners, 1);
    assert.is(m.fdsOpen, 5);
    assert.is(m.fdsHighWater, 6);
    assert.is(m.fdOpens - m.fdCloses, 5);
    assert.is(m.resets, 1);
    assert.is(m.errorsByErrno.ECONNRESET, 1);
    assert.ok(m.turns > 0 && m.turnUs.count === m.turns, "one turn-duration sample per turn");
    assert.ok(m.batchSize.count > 0 && m.batchSize.max >= 1);
    assert.is(JSON.parse(JSON.stringify(m)).accepts, 5, "JSON-ready");
    const prom = h.server.prometheus();
    assert.match(prom, /^# TYPE wasm_reactor_accepts_total counter$/m);
    assert.match(prom, /^wasm_reactor_accepts_total 5$/m);
    assert.match(prom, /^wasm_reactor_connections 4$/m);
    assert.match(prom, /^wasm_reactor_errors_by_errno_total\{errno="ECONNRESET"\} 1$/m);
    assert.match(prom, /^wasm_reactor_turn_duration_seconds_bucket\{le="\+Inf"\} \d+$/m);
    assert.match(prom, new RegExp(`^wasm_reactor_turn_duration_seconds_count ${m.turnUs.count}$`, "m"), "a histogram's _count is the turns timed");
    for (const line of prom.trim().split("\n")) assert.match(line, /^(# TYPE \w+ (counter|gauge|histogram)|# HELP \w+ .+|\w+(\{[^}]*\})? -?\d+(\.\d+)?(e[+-]?\d+)?)$/, `valid exposition line: ${line}`);
    if (h.kind === "epoll") {
      const host = m.host!;
      assert.ok(host, "the epoll host adds its own counters");
      assert.is(host.accepts, 5);
      assert.is(host.fdsOpen, 5);
      assert.ok(host.turns > 0 && host.calls >= host.turns);
      assert.ok(host.readCalls > 0 && host.writeCalls > 0 && host.epollCtl > 0);
      assert.match(prom, /^wasm_reactor_host_accepts_total 5$/m);
      assert.match(prom, /^wasm_reactor_host_fds_open 5$/m);
      assert.match(prom, /^# TYPE wasm_reactor_host_crossings_per_turn gauge$/m);
    } else if (h.kind === "uring") {
      // the same shim counters (epollCtl counts the backend's interest changes, here operations
      // armed or cancelled), and every accept, receive and send went through the ring
      const host = m.host!;
      assert.is(host.accepts, 5);
      assert.is(host.fdsOpen, 5);
      assert.is(host.violations, 0);
      assert.ok(host.turns > 0 && host.calls >= host.turns);
      assert.ok(host.uringSqes > 0 && host.uringCqes > 0, `operations submitted and completions reaped (${host.uringSqes}, ${host.uringCqes})`);
      assert.ok(host.uringBuffers > 0, `chunks lent to the kernel's buffer ring (${host.uringBuffers})`);
      assert.match(prom, /^wasm_reactor_host_accepts_total 5$/m);
      assert.match(prom, /^wasm_reactor_host_fds_open 5$/m);
    } else {
      assert.is(m.host!.violations, 0, "the simulator counts contract violations: none here");
      assert.is(m.host!.fdsOpen, 5);
    }
    peers.slice(1).forEach((p) => p.end());
    await h.until(() => peers.every((p) => p.closed), "closes");
  });

  t("close({ drainMs }) ends every connection gracefully and reports it", {}, async (h) => {
    const reasons: string[] = [];
    const l = h.listen({ ...echoHandlers, close(_c, i) { reasons.push(i.reason); } });
    const peers = [0, 1, 2].map(() => h.connect(l.port));
    peers.forEach((p) => p.send("hi"));
    await h.until(() => peers.every((p) => p.receivedBytes === 2), "echo");
    const report = await h.server.close({ drainMs: 2000 });
    assert.is(report.graceful, 3);
    assert.is(report.aborted, 0);
    assert.is(report.leakedDescriptors, 0);
    assert.ok(report.ms < 2000, `drained before the deadline (${report.ms} ms)`);
    assert.equal(reasons, ["shutdown", "shutdown", "shutdown"]);
    await h.until(() => peers.every((p) => p.closed), "peers closed");
    peers.forEach((p, i) => { assert.ok(p.gotEnd, `peer ${i} got our FIN`); assert.is(p.closeReason, "normal"); });
    let err: ReactorError | undefined;
    try { h.server.listen({ port: 0 }, {}); } catch (e) { err = e as ReactorError; }
    assert.is(err?.code, "ERR_CLOSED");
  });

  t("close({ drainMs }) aborts what has not finished by the deadline", {}, async (h) => {
    const l = h.listen(echoHandlers);
    const polite = h.connect(l.port);
    const stubborn = h.connect(l.port, { halfOpen: true }); // never sends its FIN
    polite.send("a"); stubborn.send("b");
    await h.until(() => polite.receivedBytes === 1 && stubborn.receivedBytes === 1, "echo");
    const report = await h.server.close({ drainMs: 300 });
    assert.is(report.graceful, 1);
    assert.is(report.aborted, 1);
    assert.is(report.leakedDescriptors, 0);
    assert.ok(report.ms >= 300, `waited the drain time (${report.ms} ms)`);
    // The stubborn peer got our FIN, then (after drainMs) our RST. On real TCP a half-open
    // peer that neither reads nor writes does not notice the RST; finish() closes it.
    await h.until(() => polite.closed && stubborn.gotEnd, "the polite peer closed, the stubborn one got our FIN");
    assert.is(polite.closeReason, "normal");
  });

  // ── PROXY protocol (host/reactor/proxy.ts; every host: the parser sits above them) ─────
  t("PROXY v1 and v2: open sees the client's address, data never sees the header, even in pieces", {}, async (h) => {
    const seen: { addr?: string; proxy?: string }[] = [];
    const l = h.listen({
      ...echoHandlers,
      open(c) { const a = c.remoteAddress; seen.push({ addr: a && `${a.host}:${a.port}`, proxy: c.proxy && `${c.proxy.version}/${c.proxy.command}/${c.proxy.family}` }); c.data = seen.length - 1; },
    }, { proxyProtocol: "any" });
    const v1 = h.connect(l.port);
    v1.send(concat(proxyV1("TCP4", "203.0.113.7", "198.51.100.1", 41000, 443), new TextEncoder().encode("hello")));
    await h.until(() => v1.receivedBytes === 5, "v1: the bytes after the header echoed");
    assert.is(v1.receivedText(), "hello");
    // v2 over TCP6 with an AWS TLV, in three reads: each piece waits until the server has read the last.
    const hdr = proxyV2({ fam: 0x21, src: [0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 7], dst: [0x20, 0x01, 0x0d, 0xb8, ...new Array(11).fill(0), 1], sport: 50123, dport: 443, tlvs: [AWS_VPCE_TLV] });
    const whole = concat(hdr, new TextEncoder().encode("world"));
    const v2 = h.connect(l.port);
    for (const [from, to] of [[0, 10], [10, 30], [30, whole.length]]) {
      const reads = h.server.metrics().reads;
      v2.send(whole.subarray(from, to));
      await h.until(() => h.server.metrics().reads > reads, `v2: bytes ${from}..${to} read`);
    }
    await h.until(() => v2.receivedBytes === 5, "v2: the bytes after the header echoed");
    assert.is(v2.receivedText(), "world");
    // LOCAL (a balancer's health check): no client address, remoteAddress is the socket's peer.
    const local = h.connect(l.port);
    local.send(concat(proxyV2({ command: "local", fam: 0x00 }), new TextEncoder().encode("ok")));
    await h.until(() => local.receivedBytes === 2, "LOCAL: echoed");
    assert.equal(seen[0], { addr: "203.0.113.7:41000", proxy: "1/proxy/tcp4" });
    assert.equal(seen[1], { addr: "2001:db8::7:50123", proxy: "2/proxy/tcp6" });
    assert.is(seen[2].proxy, "2/local/unknown");
    assert.ok(seen[2].addr?.startsWith("127.0.0.1:"), `LOCAL: the socket's peer (${seen[2].addr})`);
    await h.until(() => h.server.metrics().bytesOut === 12, "only the app's bytes were echoed (12)");
    const m = h.server.metrics();
    assert.is(m.proxyHeaders, 3);
    assert.is(m.proxyHeaderErrors, 0);
    assert.is(m.bytesIn, 5 + 5 + 2 + proxyV1("TCP4", "203.0.113.7", "198.51.100.1", 41000, 443).length + hdr.length + 16);
    for (const p of [v1, v2, local]) p.end();
    await h.until(() => [v1, v2, local].every((p) => p.closed), "closed");
  });

  t("PROXY: malformed, oversized and truncated headers are reset and counted; other connections go on", {}, async (h) => {
    let opened = 0, closed = 0;
    const l = h.listen({ ...echoHandlers, open() { opened++; }, close() { closed++; } }, { proxyProtocol: "v1", proxyTimeoutMs: 60_000 });
    const l2 = h.listen({ ...echoHandlers, open() { opened++; }, close() { closed++; } }, { proxyProtocol: "v2", proxyTimeoutMs: 60_000 });
    const http = h.connect(l.port);
    http.send("GET / HTTP/1.1\r\nHost: x\r\n\r\n"); // a client that reached the listener directly
    const huge = h.connect(l2.port);
    huge.send(proxyV2({ fam: 0x11, src: [1, 2, 3, 4], dst: [5, 6, 7, 8], lengthField: 0xffff }).subarray(0, 16)); // refused at its length, not at the deadline
    const fin = h.connect(l.port, { halfOpen: true });
    fin.send("PROXY TCP4 1.2.3.4");
    fin.end();
    const good = h.connect(l.port);
    good.send(concat(proxyV1("TCP4", "192.0.2.1", "192.0.2.2", 1, 2), new TextEncoder().encode("still here")));
    await h.until(() => good.receivedBytes === 10, "the good connection echoed");
    await h.until(() => h.server.metrics().proxyHeaderErrors === 3, "three rejected headers");
    await h.until(() => http.closed && huge.closed, "the bad connections closed");
    assert.is(good.receivedText(), "still here");
    assert.is(opened, 1, "open ran only for the good connection");
    assert.is(closed, 0, "close ran for none of the rejected ones (they never opened)");
    assert.is(http.receivedBytes + huge.receivedBytes, 0, "nothing was sent to them");
    assert.is(h.server.metrics().proxyHeaderTimeouts, 0);
    good.end();
    await h.until(() => good.closed && closed === 1, "the good one closed");
  });

  t("PROXY: a header that does not complete within proxyTimeoutMs is reset and counted late", {}, async (h) => {
    const l = h.listen(echoHandlers, { proxyProtocol: "any", proxyTimeoutMs: 300 });
    const slow = h.connect(l.port);
    slow.send("PROXY TCP4 ");
    const t0 = h.now();
    const good = h.connect(l.port);
    good.send(concat(proxyV1("TCP4", "192.0.2.1", "192.0.2.2", 1, 2), new TextEncoder().encode("ping")));
    await h.until(() => good.receivedBytes === 4, "another connection echoes while one header waits");
    await h.until(() => slow.closed, "the slow header's connection closed");
    assert.ok(h.now() - t0 >= 250, `not before its deadline (${h.now() - t0} ms)`);
    const m = h.server.metrics();
    assert.is(m.proxyHeaderErrors, 1);
    assert.is(m.proxyHeaderTimeouts, 1);
    assert.is(m.proxyHeaders, 1);
    assert.match(h.server.prometheus(), /wasm_reactor_proxy_header_timeouts_total 1/);
    good.end();
    await h.until(() => good.closed, "closed");
  });
}
