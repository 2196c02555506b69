// The fault-injecting build of the shim (-DWR_FAULTS, reactor option `faults`): each kind of
// fault is injected and keeps the kernel's contract (shims/native/faults.c), first one by one
// through a shim driven by hand, then all at once under an echo on real sockets, where every
// connection must either echo every byte or end with an error, and nothing may leak or hang.
import { suite } from "uvu";
import * as assert from "uvu/assert";
import { ShimRig, K, type Ev } from "../helpers/native.ts";
import { netReactor, until, closeClean, abandonAll, runtimeName } from "../helpers/net.ts";
import { loadNative } from "../../host/backends/native.ts";
import type { Connection } from "../../host/index.ts";

const test = suite(`native: faults build (${runtimeName()})`);
test.after(abandonAll);

const ENOSPC = 28, EMFILE = 24, ECONNRESET = 104, EAGAIN = 11;
const L = { slot: 10, gen: 1 }, C = { slot: 1, gen: 1 }, S = { slot: 2, gen: 1 };

async function pairRig(edge = false): Promise<{ rig: ShimRig; l: { fd: number; port: number }; client: number; server: number }> {
  const rig = await ShimRig.create("faults", { edge });
  const l = rig.listen(L.slot, L.gen);
  const { client, server } = rig.pair(l, L.slot, L.gen, C.slot, C.gen, S.slot, S.gen);
  return { rig, l, client, server };
}

/** Every EV_READ of `slot` over some turns, as [chunk, bytes]. */
function readsOf(rig: ShimRig, slot: number, turns = 30): [number, number][] {
  const out: [number, number][] = [];
  for (let i = 0; i < turns; i++) {
    rig.n.turn(rig.h, i < 3 ? 0 : 2);
    for (const e of rig.events()) if (e.type === K.EV_READ && e.slot === slot) out.push([e.a, e.b]);
  }
  return out;
}

test("the release build has no fault injection", () => {
  assert.is(loadNative("release").setFaults, undefined);
  assert.type(loadNative("faults").setFaults, "function");
});

test("ctlEnospc: a failed registration reaches the core as an error on that connection", async () => {
  const rig = await ShimRig.create("faults");
  try {
    rig.faults({ ctlEnospcProbability: 1 });
    const [fd, port] = rig.n.listen(rig.h, "127.0.0.1", 0, 16, 0);
    rig.submit(K.SQ_INTEREST, L.slot, L.gen, fd, K.IN_READ);
    const le = rig.turn().find((e) => e.type === K.EV_READ_ERROR);
    assert.equal(le && [le.slot, le.gen, le.err], [L.slot, L.gen, ENOSPC], "the listener's registration: EV_READ_ERROR ENOSPC");
    rig.n.prepareConnect(rig.h, C.slot, C.gen, "127.0.0.1", port, null);
    rig.submit(K.SQ_CONNECT, C.slot, C.gen, -1);
    const evs = rig.turn();
    const failed = evs.find((e) => e.type === K.EV_CONNECT_FAILED);
    assert.equal(failed && [failed.slot, failed.err], [C.slot, ENOSPC], `a connecting socket's: EV_CONNECT_FAILED ENOSPC (${JSON.stringify(evs)})`);
    const st = rig.nativeStats();
    assert.equal([st.ctlErrors, st.faultCtlEnospc, st.violations], [2, 2, 0]);
  } finally { rig.destroy(); }
});

test("acceptEmfile: EV_ACCEPT_ERROR EMFILE, and the client stays queued", async () => {
  const { rig, l } = await pairRig();
  try {
    rig.faults({ acceptEmfileProbability: 1 });
    rig.n.prepareConnect(rig.h, 3, 1, "127.0.0.1", l.port, null);
    rig.submit(K.SQ_CONNECT, 3, 1, -1);
    const err = rig.turnUntil((e) => e.type === K.EV_ACCEPT_ERROR, "an accept error");
    assert.equal([err.slot, err.err], [L.slot, EMFILE]);
    rig.faults({});
    const acc = rig.turnUntil((e) => e.type === K.EV_ACCEPTED, "the queued client, accepted once the fault is gone");
    assert.is(acc.slot, L.slot);
    assert.ok(rig.nativeStats().faultAcceptEmfile >= 1);
  } finally { rig.destroy(); }
});

test("reset: EV_READ_ERROR ECONNRESET, and the socket stays broken for writes", async () => {
  const { rig, client, server } = await pairRig();
  try {
    rig.fillChunk(0, "hello");
    rig.submit(K.SQ_WRITE, C.slot, C.gen, client, 0, 5);
    rig.turn();
    rig.supply(20, 21);
    rig.faults({ resetProbability: 1 });
    const e = rig.turnUntil((x) => x.type === K.EV_READ_ERROR && x.slot === S.slot, "the server's read error");
    assert.is(e.err, ECONNRESET);
    rig.faults({});
    rig.submit(K.SQ_WRITE, S.slot, S.gen, server, 0, 5);
    const d = rig.turn().find((x) => x.type === K.EV_WRITE_DONE)!;
    assert.equal([d.b, d.err], [0, ECONNRESET], "sticky, as a reset socket is");
  } finally { rig.destroy(); }
});

for (const edge of [false, true]) {
  const mode = edge ? "edge" : "level";
  test(`writeShort (${mode}): a real prefix is written and reported, then EV_WRITABLE comes`, async () => {
    const { rig, server } = await pairRig(edge);
    try {
      rig.fillChunk(0, "y".repeat(100));
      rig.faults({ seed: 7, writeShortProbability: 1 });
      rig.submit(K.SQ_WRITE, S.slot, S.gen, server, 0, 100);
      const d = rig.turn().find((x) => x.type === K.EV_WRITE_DONE)!;
      assert.ok(d.b >= 1 && d.b <= 99 && d.err === EAGAIN, `a short write: ${d.b} bytes, err ${d.err}`);
      rig.faults({});
      rig.submit(K.SQ_INTEREST, S.slot, S.gen, server, K.IN_READ | K.IN_WRITE);
      rig.turnUntil((x) => x.type === K.EV_WRITABLE && x.slot === S.slot, "writability after the short write");
      rig.supply(20, 21, 22);
      const got = readsOf(rig, C.slot).reduce((n, [, b]) => n + b, 0);
      assert.is(got, d.b, "the client received exactly the bytes reported written");
    } finally { rig.destroy(); }
  });

  test(`readShort and readEagain (${mode}): every byte is still read`, async () => {
    const { rig, client } = await pairRig(edge);
    try {
      rig.fillChunk(0, "z".repeat(1000));
      rig.submit(K.SQ_WRITE, C.slot, C.gen, client, 0, 1000);
      rig.turn();
      rig.supply(20, 21, 22, 23, 24, 25, 26, 27, 28, 29, 30, 31);
      rig.faults({ seed: 3, readShortProbability: 0.9, readEagainProbability: 0.5 });
      const reads = readsOf(rig, S.slot, 60);
      assert.is(reads.reduce((n, [, b]) => n + b, 0), 1000, `all 1000 bytes, in ${reads.length} reads`);
      const st = rig.nativeStats();
      assert.ok(st.faultReadShort > 0 && st.faultReadEagain > 0, `both kinds were injected (short ${st.faultReadShort}, EAGAIN ${st.faultReadEagain})`);
    } finally { rig.destroy(); }
  });

  test(`eintr at odds 1 (${mode}): bounded retries, no hang; the work goes through once it stops`, async () => {
    const { rig, client, server } = await pairRig(edge);
    try {
      rig.faults({ eintrProbability: 1 });
      rig.fillChunk(0, "ping");
      rig.submit(K.SQ_WRITE, C.slot, C.gen, client, 0, 4);
      const d = rig.turn().find((x) => x.type === K.EV_WRITE_DONE)!;
      assert.equal([d.b, d.err], [0, EAGAIN], "interrupted 16 times: nothing written, wait for writable");
      rig.faults({});
      rig.submit(K.SQ_INTEREST, C.slot, C.gen, client, K.IN_READ | K.IN_WRITE);
      rig.turnUntil((x) => x.type === K.EV_WRITABLE && x.slot === C.slot, "writable");
      rig.submit(K.SQ_WRITE, C.slot, C.gen, client, 0, 4);
      rig.supply(20);
      const r: Ev = rig.turnUntil((x) => x.type === K.EV_READ && x.slot === S.slot, "the server reads");
      assert.is(r.b, 4);
      assert.ok(rig.nativeStats().faultEintr >= 16);
      void server;
    } finally { rig.destroy(); }
  });
}

test("connectHang: the connect never completes and is never registered; CLOSE ends it", async () => {
  const { rig, l } = await pairRig();
  try {
    rig.faults({ connectHangProbability: 1 });
    rig.n.prepareConnect(rig.h, 5, 1, "127.0.0.1", l.port, null);
    rig.submit(K.SQ_CONNECT, 5, 1, -1);
    const opened = rig.turn().find((e) => e.type === K.EV_SOCKET_OPENED)!;
    assert.ok(opened.fd >= 0 && opened.err === 0);
    for (let i = 0; i < 10; i++) {
      rig.n.turn(rig.h, 2);
      assert.equal(rig.events().filter((e) => e.slot === 5), [], "nothing for the hung connect");
    }
    const before = rig.nativeStats().fdsOpen;
    rig.submit(K.SQ_CLOSE, 5, 1, opened.fd, 0, 0, K.SQF_RESET);
    rig.turn();
    assert.is(rig.nativeStats().fdsOpen, before - 1);
    assert.is(rig.nativeStats().faultConnectHang, 1);
  } finally { rig.destroy(); }
});

for (const edgeTriggered of [false, true]) {
  test(`an echo under every fault at once (${edgeTriggered ? "edge" : "level"}): each connection echoes all or ends with an error`, async () => {
    const CONNS = 40, MSGS = 20, SIZE = 300;
    const r = await netReactor({
      edgeTriggered, connectTimeoutMs: 2000, acceptBackoffMs: 5, acceptBackoffMaxMs: 20,
      faults: { seed: 42, readEagainProbability: 0.2, readShortProbability: 0.3, writeEagainProbability: 0.2, writeShortProbability: 0.3,
        eintrProbability: 0.1, resetProbability: 0.002, epipeProbability: 0.002, acceptEmfileProbability: 0.1, acceptEnfileProbability: 0.05,
        enobufsProbability: 0.002 },
    });
    const l = r.listen({ port: 0 }, { data(c, d) { if (c.writable) c.write(d); }, error() { /* injected resets */ } });
    const msg = new Uint8Array(SIZE).map((_, i) => 97 + (i % 26));
    const state: { got: number; sent: number; closed?: string; ok?: boolean }[] = [];
    for (let i = 0; i < CONNS; i++) {
      const st = { got: 0, sent: 0 } as (typeof state)[number];
      state.push(st);
      r.connect({ port: l.port }, {
        open(c: Connection) { c.write(msg); st.sent++; },
        data(c: Connection, d: Uint8Array) {
          for (let k = 0; k < d.length; k++) if (d[k] !== msg[(st.got + k) % SIZE]) throw new Error(`byte ${st.got + k} of connection ${i} is wrong`);
          st.got += d.length;
          if (st.got === st.sent * SIZE && c.writable) { if (st.sent < MSGS) { c.write(msg); st.sent++; } else { st.ok = true; c.end(); } }
        },
        error() { /* injected: counted below */ },
        close(_c, info) { st.closed = info.reason; },
      });
    }
    await until(r, () => state.every((s) => s.closed !== undefined), "every connection done, echoed or failed", 30_000);
    const echoed = state.filter((s) => s.ok).length;
    const h = r.metrics().host!;
    // Only the fatal kinds may cut a connection short, each at most one client and its server
    // (a client closes normally when its server's side failed and sent FIN): nothing else may.
    const fatal = h.faultReset + h.faultEpipe + h.faultEnobufs;
    assert.ok(CONNS - echoed <= 2 * fatal, `${CONNS - echoed} connections did not echo everything, with ${fatal} fatal faults injected`);
    for (const k of ["faultReadEagain", "faultReadShort", "faultWriteEagain", "faultWriteShort", "faultEintr", "faultAcceptEmfile"]) assert.ok(h[k] > 0, `${k} injected (${h[k]})`);
    await closeClean(r);
  });
}

test.run();
