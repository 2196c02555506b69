// Real sockets under load (host: "epoll"): thousands of concurrent connections, 16 MiB each
// way with backpressure, and one JS→native crossing per turn however many sockets are ready.
import { suite } from "uvu";
import * as assert from "uvu/assert";
import type { Connection, Handlers } from "../../host/index.ts";
import { netReactor, until, closeClean, abandonAll, bytes } from "../helpers/net.ts";

const test = suite("net: load on real sockets");
test.after(abandonAll);

// ── thousands of connections ────────────────────────────────────────────────────────────
for (const [wait, edgeTriggered] of [["block", false], ["thread", true]] as const) {
  test(`3,000 concurrent clients of the same reactor each echo one message and close (${wait}, ${edgeTriggered ? "edge" : "level"})`, async () => {
    const N = 3000;
    const r = await netReactor({ wait, edgeTriggered, maxConnections: 2 * N + 64, poolChunks: 1024, eventRing: 8192, supplyTarget: 512 });
    const reasons = new Map<string, number>();
    const count = (k: string) => reasons.set(k, (reasons.get(k) ?? 0) + 1);
    let serverOpen = 0, maxServerOpen = 0;
    const l = r.listen({ port: 0 }, {
      open() { serverOpen++; maxServerOpen = Math.max(maxServerOpen, serverOpen); },
      data(c, d) { if (c.writable) c.write(d); },
      close(_c, i) { serverOpen--; count(`server ${i.reason}`); },
    });
    let echoed = 0, wrong = 0;
    const client: Handlers = {
      open(c) { c.write(`hello from ${c.data}`); },
      data(c, d) {
        if (new TextDecoder().decode(d) !== `hello from ${c.data}`) wrong++;
        echoed++;
        c.end();
      },
      close(_c, i) { count(`client ${i.reason}`); },
    };
    // All connects first: every one is in flight at once. The clients close first, so their
    // ports sit in TIME_WAIT afterwards: spread over 127.0.0.1-8, a run takes few of each
    // address's ephemeral ports.
    for (let i = 0; i < N; i++) r.connect({ port: l.port, localAddress: `127.0.0.${1 + (i % 8)}` }, client).data = i;
    await until(r, () => echoed === N, `${N} echoes`, 15_000);
    await until(r, () => (reasons.get("server normal") ?? 0) + (reasons.get("client normal") ?? 0) === 2 * N, "every connection closed", 10_000);
    assert.is(wrong, 0, "every client got its own message back");
    assert.equal([...reasons.entries()].sort(), [["client normal", N], ["server normal", N]]);
    const m = r.metrics();
    assert.is(m.accepts, N);
    assert.is(m.connectsOk, N);
    assert.is(m.connections, 0);
    assert.ok(m.fdsHighWater >= N + 1, `descriptors in use at the peak: ${m.fdsHighWater}`);
    assert.ok(maxServerOpen > N / 10, `many were open at once (${maxServerOpen})`);
    assert.is(m.host!.accepts, N);
    await closeClean(r);
  });
}

// ── 16 MiB each way ─────────────────────────────────────────────────────────────────────
/** Writes `payload` from `pos` until write() says wait; returns the new position. */
function pump(c: Connection, payload: Uint8Array, pos: number, piece = 256 * 1024): number {
  while (pos < payload.length && c.writable) {
    const n = Math.min(piece, payload.length - pos);
    const ok = c.write(payload.subarray(pos, pos + n));
    pos += n;
    if (!ok) break;
  }
  return pos;
}

/** Checks bytes as they arrive against the payload, without keeping them. */
class Sink {
  got = 0;
  firstBad = -1;
  constructor(readonly payload: Uint8Array) {}
  take(d: Uint8Array): void {
    const p = this.payload, base = this.got;
    if (this.firstBad < 0) for (let i = 0; i < d.length; i++) if (d[i] !== p[base + i]) { this.firstBad = base + i; break; }
    this.got += d.length;
  }
  get done(): boolean { return this.got === this.payload.length; }
}

for (const [wait, edgeTriggered] of [["block", false], ["thread", true]] as const) {
  test(`16 MiB each way with backpressure: byte-exact, drains on both sides (${wait}, ${edgeTriggered ? "edge" : "level"})`, async () => {
    const SIZE = 16 << 20;
    const down = bytes(SIZE, 21), up = bytes(SIZE, 22);
    const r = await netReactor({ wait, edgeTriggered, poolChunks: 512, chunkSize: 16_384, highWaterBytes: 262_144, lowWaterBytes: 65_536 });
    const fromServer = new Sink(down), fromClient = new Sink(up);
    let sPos = 0, cPos = 0, sDrains = 0, cDrains = 0, serverConn: Connection | undefined, clientConn: Connection | undefined;
    const reasons: string[] = [];
    // Phase 1: server → client. Phase 2 (when the client has everything): client → server.
    const l = r.listen({ port: 0 }, {
      open(c) { serverConn = c; sPos = pump(c, down, sPos); },
      drain(c) { sDrains++; sPos = pump(c, down, sPos); },
      data(_c, d) { fromClient.take(d); },
      close(_c, i) { reasons.push(`server ${i.reason}`); },
    });
    r.connect({ port: l.port }, {
      open(c) { clientConn = c; },
      data(c, d) { fromServer.take(d); if (fromServer.done && cPos === 0) cPos = pump(c, up, cPos); },
      drain(c) { cDrains++; cPos = pump(c, up, cPos); },
      close(_c, i) { reasons.push(`client ${i.reason}`); },
    });
    await until(r, () => fromServer.done, "16 MiB server → client", 15_000);
    assert.is(fromServer.firstBad, -1, "server → client byte-exact");
    await until(r, () => fromClient.done, "16 MiB client → server", 15_000);
    assert.is(fromClient.firstBad, -1, "client → server byte-exact");
    assert.ok(sDrains > 0, `the server's writes waited for drain (${sDrains})`);
    assert.ok(cDrains > 0, `the client's writes waited for drain (${cDrains})`);
    const m = r.metrics();
    assert.ok(m.writesPartial > 0, `the kernel took partial writes (${m.writesPartial})`);
    assert.is(m.bytesIn, 2 * SIZE);
    serverConn!.end();
    clientConn!.end();
    await until(r, () => reasons.length === 2, "both closed");
    assert.equal(reasons.sort(), ["client normal", "server normal"]);
    await closeClean(r);
  });
}

// Regression: the core used to stop reading any connection whose write queue was above
// highWaterBytes. A writer that follows the usual pattern (write until false, more on drain) is
// above high water right after every drain, so two of them streaming at once stalled for good
// once the kernel buffers between them filled. Now that pause is opt-in (pauseReadsAtHighWater,
// for echo-like connections) and this must flow.
test("two connections that both stream 16 MiB at once (write until false, more on drain) do not stall", async () => {
  const SIZE = 16 << 20;
  const a2b = bytes(SIZE, 31), b2a = bytes(SIZE, 32);
  const r = await netReactor({ wait: "block", poolChunks: 512, chunkSize: 16_384, highWaterBytes: 262_144, lowWaterBytes: 65_536 });
  const atB = new Sink(a2b), atA = new Sink(b2a);
  let aPos = 0, bPos = 0;
  const l = r.listen({ port: 0 }, {
    open(c) { aPos = pump(c, a2b, aPos); },
    drain(c) { aPos = pump(c, a2b, aPos); },
    data(_c, d) { atA.take(d); },
  });
  r.connect({ port: l.port }, {
    open(c) { bPos = pump(c, b2a, bPos); },
    drain(c) { bPos = pump(c, b2a, bPos); },
    data(_c, d) { atB.take(d); },
  });
  let last = -1, lastAt = performance.now();
  await until(r, () => {
    if (atA.got + atB.got !== last) { last = atA.got + atB.got; lastAt = performance.now(); }
    return (atA.done && atB.done) || performance.now() - lastAt > 1500;
  }, "both directions done, or 1.5 s without progress", 20_000);
  assert.ok(atA.done && atB.done, `delivered ${atB.got} bytes a→b and ${atA.got} b→a of ${SIZE} each; stalled`);
  await closeClean(r, 100);
});

// ── crossings per turn ──────────────────────────────────────────────────────────────────
for (const edgeTriggered of [false, true]) {
  test(`a burst of 1,000 ready connections costs one JS→native crossing per turn (block, ${edgeTriggered ? "edge" : "level"})`, async () => {
    const N = 1000;
    const r = await netReactor({ wait: "block", edgeTriggered, maxConnections: 2 * N + 64, poolChunks: 1024 });
    const servers: Connection[] = [];
    const l = r.listen({ port: 0 }, { open(c) { servers.push(c); }, data(c, d) { if (c.writable) c.write(d); } });
    const clients: Connection[] = [];
    let opened = 0, echoed = 0;
    const client: Handlers = { open() { opened++; }, data() { echoed++; } };
    for (let i = 0; i < N; i++) clients.push(r.connect({ port: l.port }, client));
    await until(r, () => opened === N && r.metrics().accepts === N, "all connected and accepted");
    for (let i = 0; i < 5; i++) r.step(0); // settle: interest registrations and the like
    const before = r.metrics();
    // The burst: every client writes between turns, so the server has N sockets ready at once.
    for (const c of clients) c.write("0123456789abcdef");
    await until(r, () => echoed === N, "every echo");
    const after = r.metrics();
    const calls = after.host!.calls - before.host!.calls;
    const turns = after.host!.turns - before.host!.turns;
    const crossings = calls / turns;
    assert.ok(turns > 0 && crossings <= 1.5, `crossings per turn over the burst: ${calls} calls / ${turns} turns = ${crossings.toFixed(2)}`);
    assert.ok(turns < N / 10, `the burst took few turns (${turns}) for ${N} ready connections`);
    assert.ok(after.batchSize.max >= 64, `turns carried big batches (max ${after.batchSize.max} events)`);
    // Outside the burst the extra crossings are the setup's: one prepareConnect per connect(),
    // listen, attach, wakeHandle. Nothing else crosses.
    const extra = after.host!.calls - after.host!.turns;
    assert.ok(extra <= N + 5, `crossings beyond one per turn, setup included: ${extra} (${N} connects)`);
    for (const c of servers) c.end(); // the server ends first: TIME_WAIT on its side, not on the clients' ports
    await until(r, () => r.metrics().connections === 0, "all closed");
    await closeClean(r);
  });
}

test.run();
