// PROXY protocol v1/v2 on listeners (host/reactor/proxy.ts): the parser against the spec's
// byte layouts (headers built independently, tests/helpers/proxy.ts), every split offset of
// every kind of header on the simulator, properties (fast-check) that the reactor's verdict on
// any (mutated, truncated, split) header is the parser's on the whole bytes, record/replay,
// and options. The same API on real sockets: tests/net/shared.ts ("PROXY ..."), on every host.
import { suite } from "uvu";
import * as assert from "uvu/assert";
import fc from "fast-check";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Reactor, replayFile, type ReactorError, type ProxyInfo, type SimPeer } from "../../host/index.ts";
import { parseProxyHeader, ipv6Text, PROXY_V1_MAX_BYTES, PROXY_V2_MAX_BYTES, type ProxyProtocolMode } from "../../host/reactor/proxy.ts";
import { simReactor, runUntil, closeClean } from "../helpers/sim.ts";
import { checkProperty } from "../helpers/prop.ts";
import { proxyV1, proxyV2, concat, AWS_VPCE_TLV, V2_SIG } from "../helpers/proxy.ts";

const te = new TextEncoder();
const SUITE = "api/proxy";
const V6_SRC = [0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x12, 0x34];
const V6_DST = [0xfe, 0x80, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1];

/** Every kind of header, with what open must see. */
const CASES: { name: string; bytes: Uint8Array; mode: ProxyProtocolMode; addr: string | undefined; info: Partial<ProxyInfo> }[] = [
  { name: "v1 TCP4", bytes: proxyV1("TCP4", "192.0.2.10", "198.51.100.20", 56324, 443), mode: "v1", addr: "192.0.2.10:56324", info: { version: 1, command: "proxy", family: "tcp4" } },
  { name: "v1 TCP6", bytes: proxyV1("TCP6", "2001:DB8:0:0::1234", "fe80::1", 65535, 80), mode: "any", addr: "2001:db8::1234:65535", info: { version: 1, family: "tcp6" } },
  { name: "v1 UNKNOWN", bytes: proxyV1("UNKNOWN"), mode: "v1", addr: undefined, info: { version: 1, family: "unknown" } },
  { name: "v1 UNKNOWN with addresses (ignored)", bytes: te.encode("PROXY UNKNOWN ffff:f...f:ffff 1.2.3.4 0 0\r\n"), mode: "any", addr: undefined, info: { family: "unknown" } },
  { name: "v2 TCP4", bytes: proxyV2({ fam: 0x11, src: [10, 0, 0, 1], dst: [10, 0, 0, 2], sport: 1234, dport: 80 }), mode: "v2", addr: "10.0.0.1:1234", info: { version: 2, command: "proxy", family: "tcp4" } },
  { name: "v2 TCP6 with an AWS TLV", bytes: proxyV2({ fam: 0x21, src: V6_SRC, dst: V6_DST, sport: 40000, dport: 8443, tlvs: [AWS_VPCE_TLV, { type: 0x04, value: [] }] }), mode: "any", addr: "2001:db8::1234:40000", info: { version: 2, family: "tcp6" } },
  { name: "v2 TCP6 IPv4-mapped", bytes: proxyV2({ fam: 0x21, src: [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 192, 0, 2, 1], dst: V6_DST, sport: 7, dport: 8 }), mode: "v2", addr: "::ffff:192.0.2.1:7", info: { family: "tcp6" } },
  { name: "v2 LOCAL (health check)", bytes: proxyV2({ command: "local", fam: 0x00 }), mode: "v2", addr: undefined, info: { version: 2, command: "local", family: "unknown" } },
  { name: "v2 LOCAL with addresses (ignored)", bytes: proxyV2({ command: "local", fam: 0x11, src: [1, 1, 1, 1], dst: [2, 2, 2, 2], sport: 1, dport: 2 }), mode: "any", addr: undefined, info: { command: "local" } },
  { name: "v2 PROXY AF_UNSPEC", bytes: proxyV2({ fam: 0x00, tlvs: [{ type: 0x05, value: [1, 2, 3] }] }), mode: "v2", addr: undefined, info: { command: "proxy", family: "unknown" } },
  { name: "v2 AF_UNIX stream", bytes: proxyV2({ fam: 0x31 }), mode: "v2", addr: undefined, info: { family: "unix" } },
];

const parse = suite("api: PROXY header parser (pure)");

parse("each kind of header parses to its addresses; every proper prefix asks for more", () => {
  for (const c of CASES) {
    const res = parseProxyHeader(concat(c.bytes, te.encode("GET /")), c.mode);
    assert.is(res.kind, "done", c.name);
    if (res.kind !== "done") continue;
    assert.is(res.length, c.bytes.length, `${c.name}: length`);
    for (const [k, v] of Object.entries(c.info)) assert.equal((res.info as unknown as Record<string, unknown>)[k], v, `${c.name}: ${k}`);
    const src = res.info.source;
    assert.is(src && `${src.host}:${src.port}`, c.addr, `${c.name}: source`);
    for (let k = 0; k < c.bytes.length; k++) assert.is(parseProxyHeader(c.bytes.subarray(0, k), c.mode).kind, "need", `${c.name}: a ${k}-byte prefix`);
  }
});

parse("bad headers are refused at the first byte that shows it, with a reason", () => {
  const bad: [string, Uint8Array, ProxyProtocolMode, RegExp][] = [
    ["HTTP on a v1 listener", te.encode("GET / HTTP/1.1\r\n"), "v1", /does not start with "PROXY "/],
    ["HTTP on an any listener", te.encode("GET /"), "any", /not a PROXY header/],
    ["v1 on a v2 listener", proxyV1("TCP4", "1.2.3.4", "5.6.7.8", 1, 2), "v2", /bad signature at byte 0/],
    ["v2 on a v1 listener", proxyV2({ fam: 0x00 }), "v1", /does not start/],
    ["v1 lower case", te.encode("proxy TCP4"), "v1", /byte 0/],
    ["v1 bare LF", te.encode("PROXY UNKNOWN\n"), "v1", /bare LF/],
    ["v1 CR without LF", te.encode("PROXY UNKNOWN\rx"), "v1", /CR not followed by LF/],
    ["v1 UDP4", te.encode("PROXY UDP4 1.2.3.4 5.6.7.8 1 2\r\n"), "v1", /not TCP4, TCP6 or UNKNOWN/],
    ["v1 two spaces", te.encode("PROXY TCP4 1.2.3.4  5.6.7.8 1 2\r\n"), "v1", /fields/],
    ["v1 missing port", te.encode("PROXY TCP4 1.2.3.4 5.6.7.8 1\r\n"), "v1", /5 fields/],
    ["v1 octet 256", te.encode("PROXY TCP4 1.2.3.256 5.6.7.8 1 2\r\n"), "v1", /bad IPv4 address/],
    ["v1 leading zero", te.encode("PROXY TCP4 01.2.3.4 5.6.7.8 1 2\r\n"), "v1", /bad IPv4 address/],
    ["v1 IPv6 in TCP4", te.encode("PROXY TCP4 ::1 ::1 1 2\r\n"), "v1", /bad IPv4/],
    ["v1 IPv4 in TCP6", te.encode("PROXY TCP6 1.2.3.4 ::1 1 2\r\n"), "v1", /bad IPv6/],
    ["v1 two ::", te.encode("PROXY TCP6 1::2::3 ::1 1 2\r\n"), "v1", /bad IPv6/],
    ["v1 port 65536", te.encode("PROXY TCP4 1.2.3.4 5.6.7.8 65536 2\r\n"), "v1", /bad port/],
    ["v1 port leading zero", te.encode("PROXY TCP4 1.2.3.4 5.6.7.8 080 2\r\n"), "v1", /bad port/],
    ["v1 a NUL byte", te.encode("PROXY TCP4 1.2.3.4\0"), "v1", /non-printable/],
    ["v1 no CRLF within 107 bytes", te.encode("PROXY UNKNOWN " + "x".repeat(PROXY_V1_MAX_BYTES)), "v1", /no CRLF within 107/],
    ["v2 version 1", proxyV2({ fam: 0x11, verCmd: 0x11 }), "v2", /version 1, expected 2/],
    ["v2 command 2", proxyV2({ fam: 0x11, verCmd: 0x22 }), "v2", /command 2/],
    ["v2 UDP4", proxyV2({ fam: 0x12, lengthField: 12 }), "v2", /0x12 is not/],
    ["v2 family 4", proxyV2({ fam: 0x41 }), "v2", /0x41 is not/],
    ["v2 TCP4 too short for its addresses", proxyV2({ fam: 0x11, lengthField: 11 }), "v2", /too short for its addresses \(12\)/],
    ["v2 TCP6 too short", proxyV2({ fam: 0x21, lengthField: 35 }), "v2", /\(36\)/],
    ["v2 over the cap", new Uint8Array([...V2_SIG, 0x21, 0x11, 0xff, 0xff]), "v2", /over our cap of 1040/],
    ["v2 a TLV running past the end", proxyV2({ fam: 0x00, tlvs: [{ type: 1, value: [1, 2] }], lengthField: 4 }), "v2", /runs past the header/],
    ["v2 a truncated TLV header", proxyV2({ fam: 0x00, tlvs: [{ type: 1, value: [] }], lengthField: 2 }), "v2", /truncated TLV/],
  ];
  for (const [name, bytes, mode, why] of bad) {
    const res = parseProxyHeader(bytes, mode);
    assert.is(res.kind, "error", name);
    if (res.kind === "error") assert.match(res.reason, why, `${name}: ${res.reason}`);
  }
  assert.is(PROXY_V2_MAX_BYTES, 1040);
});

parse("IPv6 text: RFC 4291 forms in, RFC 5952 canonical out", () => {
  const ok: [string, string][] = [
    ["::", "::"], ["::1", "::1"], ["1::", "1::"], ["2001:DB8::1", "2001:db8::1"], ["2001:0db8:0000:0000:0000:0000:0000:0001", "2001:db8::1"],
    ["1:0:0:2:0:0:0:3", "1:0:0:2::3"], ["1:0:0:2:0:0:3:4", "1::2:0:0:3:4"], ["1:2:3:4:5:6:7:8", "1:2:3:4:5:6:7:8"], ["1:0:3:4:5:6:7:8", "1:0:3:4:5:6:7:8"],
    ["::ffff:1.2.3.4", "::ffff:1.2.3.4"], ["64:ff9b::192.0.2.33", "64:ff9b::c000:221"],
  ];
  for (const [i, o] of ok) assert.is(ipv6Text(i), o, i);
  for (const b of [":", ":::", "1:2:3:4:5:6:7:8:9", "1::2::3", "12345::", "g::", "1.2.3.4", "::1.2.3", "1:2:3:4:5:6:7::8:9", ""]) assert.is(ipv6Text(b), undefined, b);
});

parse.run();

// ── on the simulator ────────────────────────────────────────────────────────────────────

interface Served { r: Reactor; port: number; opened: { addr: string | undefined; info: ProxyInfo | undefined; id: number }[]; closes: number; got: Map<number, number[]> }

async function proxyServer(mode: ProxyProtocolMode, extra: { proxyTimeoutMs?: number; record?: string } = {}): Promise<Served> {
  const r = await simReactor({ maxConnections: 1024, poolChunks: 512, chunkSize: 512, ...(extra.record ? { record: { path: extra.record } } : {}) });
  const s: Served = { r, port: 7, opened: [], closes: 0, got: new Map() };
  r.listen({ port: 7, proxyProtocol: mode, ...(extra.proxyTimeoutMs ? { proxyTimeoutMs: extra.proxyTimeoutMs } : {}) }, {
    open(c) { const a = c.remoteAddress; s.opened.push({ addr: c.proxy?.source && a && `${a.host}:${a.port}`, info: c.proxy, id: c.id }); s.got.set(c.id, []); },
    data(c, d) { s.got.get(c.id)!.push(...d); c.write(d); },
    close() { s.closes++; },
  });
  return s;
}

/**
 * Sends each piece in its own read: the next goes only once the server has read everything sent
 * before (the simulated socket's queue is empty). A connection refused meanwhile gets no more.
 */
function sendPieces(s: Served, peers: SimPeer[], pieces: Uint8Array[][]): void {
  const rounds = Math.max(...pieces.map((p) => p.length));
  const drained = (p: SimPeer) => p.state !== "open" && p.state !== "connecting" || (p.socket !== undefined && p.socket.inboundBytes === 0 && p.early.length === 0);
  for (let k = 0; k < rounds; k++) {
    peers.forEach((p, i) => { const b = pieces[i][k]; if (b && b.length && (p.state === "open" || p.state === "connecting")) p.send(b); });
    runUntil(s.r, () => peers.every(drained), `round ${k}: every piece read`);
  }
}

const sim = suite("api: PROXY protocol on the simulator");

sim("every kind of header, split at every offset: open sees the address, data exactly the rest", async () => {
  const payload = te.encode("after the header");
  for (const c of CASES) {
    const s = await proxyServer(c.mode);
    const whole = concat(c.bytes, payload);
    const peers: SimPeer[] = [], pieces: Uint8Array[][] = [];
    for (let k = 1; k < whole.length; k++) { peers.push(s.r.sim!.connect(7)); pieces.push([whole.subarray(0, k), whole.subarray(k)]); }
    sendPieces(s, peers, pieces);
    runUntil(s.r, () => peers.every((p) => p.receivedBytes === payload.length), `${c.name}: every split echoed`);
    peers.forEach((p, k) => assert.is(p.receivedText(), "after the header", `${c.name}: split at ${k + 1}`));
    assert.is(s.opened.length, peers.length, `${c.name}: one open each`);
    for (const o of s.opened) {
      assert.is(o.addr, c.addr, `${c.name}: address`);
      for (const [k, v] of Object.entries(c.info)) assert.equal((o.info as unknown as Record<string, unknown>)[k], v, `${c.name}: ${k}`);
    }
    const m = s.r.metrics();
    assert.is(m.proxyHeaders, peers.length);
    assert.is(m.proxyHeaderErrors, 0);
    peers.forEach((p) => p.end());
    runUntil(s.r, () => s.closes === peers.length, `${c.name}: closed`);
    await closeClean(s.r);
  }
});

sim("a header byte by byte, then bytes that span a pool chunk: nothing is lost or duplicated", async () => {
  const s = await proxyServer("any");
  const hdr = CASES[5].bytes;
  const big = new Uint8Array(1500).map((_, i) => (i * 7) & 0xff); // three 512-byte chunks
  const p = s.r.sim!.connect(7);
  sendPieces(s, [p], [[...Array.from(hdr, (b) => new Uint8Array([b])), big]]);
  runUntil(s.r, () => p.receivedBytes === big.length, "echo");
  assert.equal(Array.from(p.received()), Array.from(big));
  assert.is(s.opened.length, 1);
  p.end();
  runUntil(s.r, () => s.closes === 1, "closed");
  await closeClean(s.r);
});

sim("a flood of slow headers: each is reset at its deadline, in order, with one app timer; others are served meanwhile", async () => {
  const s = await proxyServer("v2", { proxyTimeoutMs: 1000 });
  const slow: SimPeer[] = [];
  for (let i = 0; i < 300; i++) { const p = s.r.sim!.connect(7); p.send(new Uint8Array(V2_SIG.slice(0, 1 + (i % 11)))); slow.push(p); }
  s.r.runFor(400);
  const late: SimPeer[] = [];
  for (let i = 0; i < 100; i++) { const p = s.r.sim!.connect(7); p.send(new Uint8Array(V2_SIG.slice(0, 5))); late.push(p); }
  const good = s.r.sim!.connect(7);
  good.send(concat(CASES[4].bytes, te.encode("hi")));
  runUntil(s.r, () => good.receivedBytes === 2, "the good one echoes at once");
  assert.ok(s.r.nowMs() < 1000, "before any deadline");
  runUntil(s.r, () => slow.every((p) => p.state === "reset"), "the first 300 reset");
  assert.ok(late.every((p) => p.state === "open"), "the later 100 are not due yet");
  assert.is(s.r.metrics().proxyHeaderTimeouts, 300);
  runUntil(s.r, () => late.every((p) => p.state === "reset"), "the later 100 reset");
  const m = s.r.metrics();
  assert.is(m.proxyHeaderTimeouts, 400);
  assert.is(m.proxyHeaderErrors, 400);
  assert.is(s.opened.length, 1, "open ran only for the good one");
  assert.is(s.closes, 0, "and close for none");
  good.end();
  runUntil(s.r, () => s.closes === 1, "closed");
  await closeClean(s.r);
});

sim("a connection that ends before sending any byte (a TCP health check) closes quietly, uncounted", async () => {
  const r = await simReactor({ allowHalfOpen: true });
  let calls = 0;
  r.listen({ port: 7, proxyProtocol: "v2" }, { open() { calls++; }, close() { calls++; }, end() { calls++; } });
  const probes = [1, 2, 3].map(() => r.sim!.connect(7));
  probes.forEach((p) => p.end());
  runUntil(r, () => probes.every((p) => p.state === "closed"), "the probes closed with a FIN, not a reset");
  const m = r.metrics();
  assert.equal([m.proxyHeaders, m.proxyHeaderErrors, m.accepts, calls], [0, 0, 3, 0]);
  const part = r.sim!.connect(7);
  part.send(new Uint8Array([0x0d, 0x0a])); part.end(); // a FIN after part of a header is refused
  runUntil(r, () => part.state === "reset", "reset");
  assert.is(r.metrics().proxyHeaderErrors, 1);
  await closeClean(r);
});

sim("the core's own deadlines still apply while a header waits (idle timeout), counted as late", async () => {
  const r = await simReactor({ idleTimeoutMs: 200 });
  let opened = 0;
  r.listen({ port: 7, proxyProtocol: "v1", proxyTimeoutMs: 60_000 }, { open() { opened++; } });
  const p = r.sim!.connect(7);
  p.send("PROXY ");
  runUntil(r, () => p.state === "reset" || p.state === "closed", "closed by the idle timeout");
  const m = r.metrics();
  assert.is(m.idleTimeouts, 1);
  assert.is(m.proxyHeaderTimeouts, 1);
  assert.is(opened, 0);
  await closeClean(r);
});

// The reactor's verdict on any bytes, sent in any pieces, must be the parser's on the whole.
const header = fc.oneof(
  fc.tuple(fc.constantFrom<"TCP4">("TCP4"), fc.ipV4(), fc.ipV4(), fc.integer({ min: 0, max: 65535 }), fc.integer({ min: 0, max: 65535 }))
    .map(([f, a, b, p, q]) => proxyV1(f, a, b, p, q)),
  fc.tuple(fc.ipV6(), fc.ipV6(), fc.integer({ min: 0, max: 65535 }), fc.integer({ min: 0, max: 65535 }))
    .map(([a, b, p, q]) => proxyV1("TCP6", a, b, p, q)),
  fc.tuple(fc.constantFrom(0x11, 0x21, 0x00), fc.uint8Array({ minLength: 32, maxLength: 32 }), fc.integer({ min: 0, max: 65535 }), fc.integer({ min: 0, max: 65535 }),
    fc.array(fc.record({ type: fc.integer({ min: 0, max: 255 }), value: fc.array(fc.integer({ min: 0, max: 255 }), { maxLength: 40 }) }), { maxLength: 4 }), fc.boolean())
    .map(([fam, a, sport, dport, tlvs, local]) => proxyV2({ fam, command: local ? "local" : "proxy", src: Array.from(a.subarray(0, fam === 0x11 ? 4 : 16)), dst: Array.from(a.subarray(16, fam === 0x11 ? 20 : 32)), sport, dport, tlvs })),
);
const damage = fc.oneof(
  fc.constant({ kind: "none" as const }),
  fc.record({ kind: fc.constant("byte" as const), at: fc.nat(), value: fc.integer({ min: 0, max: 255 }) }),
  fc.record({ kind: fc.constant("truncate" as const), at: fc.nat() }),
);

sim("property: any header, damaged or not, in any pieces, gets the parser's verdict on the whole bytes", async () => {
  await checkProperty(SUITE, "PROXY verdict = parser verdict", fc.asyncProperty(
    fc.array(fc.record({ header, damage, cuts: fc.array(fc.nat(), { maxLength: 4 }), payload: fc.uint8Array({ minLength: 1, maxLength: 64 }), mode: fc.constantFrom<ProxyProtocolMode>("v1", "v2", "any") }), { minLength: 1, maxLength: 8 }),
    async (conns) => {
      // One reactor per mode in this case; its connections run side by side.
      for (const mode of ["v1", "v2", "any"] as const) {
        const mine = conns.filter((c) => c.mode === mode);
        if (!mine.length) continue;
        const s = await proxyServer(mode, { proxyTimeoutMs: 500 });
        const peers: SimPeer[] = [], pieces: Uint8Array[][] = [], expect: ("open" | "error" | "late" | "quiet")[] = [], ends: boolean[] = [];
        for (const c of mine) {
          let h = c.header.slice();
          if (c.damage.kind === "byte") h[c.damage.at % h.length] = c.damage.value;
          let truncated = false;
          if (c.damage.kind === "truncate") { h = h.subarray(0, c.damage.at % h.length); truncated = true; }
          const whole = truncated ? h : concat(h, c.payload);
          const v = parseProxyHeader(whole, mode);
          // A header cut short is followed by a FIN (an error), or nothing (late): alternate.
          const fin = truncated && peers.length % 2 === 0;
          expect.push(v.kind === "done" ? "open" : v.kind === "error" ? "error" : !fin ? "late" : whole.length ? "error" : "quiet"); // a FIN before any byte: a probe
          ends.push(fin);
          const cuts = [...new Set(c.cuts.map((x) => x % (whole.length + 1)))].sort((a, b) => a - b);
          const parts: Uint8Array[] = [];
          let from = 0;
          for (const x of [...cuts, whole.length]) { if (x > from) { parts.push(whole.subarray(from, x)); from = x; } }
          peers.push(s.r.sim!.connect(7));
          pieces.push(parts);
        }
        sendPieces(s, peers, pieces);
        peers.forEach((p, i) => { if (ends[i] && (p.state === "open" || p.state === "connecting")) p.end(); });
        s.r.runFor(600); // past every deadline
        const m = s.r.metrics();
        const want = (k: string) => expect.filter((e) => e === k).length;
        assert.is(m.proxyHeaders, want("open"), "accepted");
        assert.is(m.proxyHeaderErrors, want("error") + want("late"), "refused");
        assert.is(m.proxyHeaderTimeouts, want("late"), "late");
        assert.is(s.opened.length, want("open"));
        peers.forEach((p, i) => { if (expect[i] !== "open") assert.is(p.state, expect[i] === "quiet" ? "closed" : "reset", `connection ${i} (${expect[i]})`); });
        // What each accepted connection's app saw is exactly what followed its header.
        peers.forEach((p, i) => {
          if (expect[i] !== "open") return;
          const whole = concat(...pieces[i]);
          const v = parseProxyHeader(whole, mode);
          if (v.kind !== "done") throw new Error("unreachable");
          const id = p.socket!.gen * 4194304 + p.socket!.slot; // the reactor's conn.id of this peer's connection
          const o = s.opened.find((x) => x.id === id);
          assert.ok(o, `connection ${i} opened`);
          assert.equal(s.got.get(id), Array.from(whole.subarray(v.length)), `connection ${i}: data is exactly the bytes after the header`);
          assert.equal(o!.info, v.info);
          if (p.state === "open") p.end();
        });
        runUntil(s.r, () => s.closes === want("open"), "accepted ones closed");
        await closeClean(s.r);
      }
    }), 60);
});

sim("a recorded run with accepted, refused and late headers replays identically", async () => {
  const dir = mkdtempSync(join(tmpdir(), "wr-proxy-"));
  try {
    const path = join(dir, "proxy.trace");
    const s = await proxyServer("any", { proxyTimeoutMs: 300, record: path });
    const peers = CASES.map(() => s.r.sim!.connect(7));
    sendPieces(s, peers, CASES.map((c) => [c.bytes.subarray(0, 3), concat(c.bytes.subarray(3), te.encode("x"))]));
    const bad = s.r.sim!.connect(7); bad.send("PROXY TCP4 1.2.3.4 5.6.7.8 1 99999\r\n");
    const slow = s.r.sim!.connect(7); slow.send("PROXY TCP6 ::1");
    runUntil(s.r, () => peers.every((p) => p.receivedBytes === 1) && bad.state === "reset" && slow.state === "reset", "served, refused, late");
    peers.forEach((p) => p.end());
    runUntil(s.r, () => s.closes === peers.length, "closed");
    const m = s.r.metrics();
    assert.equal([m.proxyHeaders, m.proxyHeaderErrors, m.proxyHeaderTimeouts], [CASES.length, 2, 1]);
    await closeClean(s.r);
    const res = await replayFile(path);
    assert.ok(res.identical, JSON.stringify(res.divergence));
    const f64 = res.core.f64, base = res.core.regions.metricsOff >> 3;
    const { Metrics } = await import("../../host/core/layout.ts");
    assert.equal([f64[base + (Metrics.proxyHeaders >> 3)], f64[base + (Metrics.proxyHeaderErrors >> 3)], f64[base + (Metrics.proxyHeaderTimeouts >> 3)]], [CASES.length, 2, 1], "the replayed core counted the same");
  } finally { rmSync(dir, { recursive: true, force: true }); }
});

sim("bad options are refused with ERR_INVALID_OPTION, naming the value", async () => {
  const r = await simReactor();
  const refused = (o: Record<string, unknown>, why: RegExp) => {
    let err: ReactorError | undefined;
    try { r.listen({ port: 9, ...o } as never, {}); } catch (e) { err = e as ReactorError; }
    assert.is(err?.code, "ERR_INVALID_OPTION", JSON.stringify(o));
    assert.match(err!.message, why);
  };
  refused({ proxyProtocol: "v3" }, /proxyProtocol must be "v1", "v2" or "any", got "v3"/);
  refused({ proxyProtocol: true }, /got true/);
  refused({ proxyTimeoutMs: 100 }, /proxyTimeoutMs needs proxyProtocol/);
  refused({ proxyProtocol: "v1", proxyTimeoutMs: 0 }, /from 1 to 3600000, got 0/);
  refused({ proxyProtocol: "v1", proxyTimeoutMs: 1.5 }, /got 1.5/);
  assert.is(r.metrics().listeners, 0, "nothing was left listening");
  const noTimers = await simReactor({ timers: 0 });
  let err: ReactorError | undefined;
  try { noTimers.listen({ port: 9, proxyProtocol: "any" }, {}); } catch (e) { err = e as ReactorError; }
  assert.match(err?.message ?? "", /needs one app timer/);
  await closeClean(noTimers);
  await closeClean(r);
});

sim.run();
