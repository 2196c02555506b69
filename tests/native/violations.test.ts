// The native shim trusts nothing it reads: driven through a real core's memory with corrupted
// rings and records, as a broken core would drive it, it must catch each one. For every case:
// no crash, no syscall on a descriptor it does not own (a foreign file stays open and
// unwritten), the completion the record would have had (so nothing waits forever), the
// violation counted, and a clear first message.
//
// The rules (shims/native/fdtable.c wr_fd_owner; host/contract/contract.ts):
//   WRITE not owned → EV_WRITE_DONE b 0, EBADF; bad chunk, range, chain → b 0, EINVAL
//   INTEREST, SHUTDOWN not owned → EV_READ_ERROR EBADF for that slot/gen
//   CLOSE not owned → nothing (no syscall, no event), counted
//   CONNECT with no address prepared → EV_SOCKET_OPENED fd -1, EINVAL
//   unknown op → counted, no event
//
// The suite's own test: a shim built with -DWR_PLANTED_BUG (the chunk index bound removed)
// runs the bad-chunk-index case in a child process; the case must not pass there.
//
// Every record and ownership case runs on the release build, again on its io_uring backend (Linux;
// a skip line where io_uring cannot start) and on the kqueue backend (on Linux its libkqueue test
// build; a skip line where that is not built): the checks are shared, but what the backend does
// with a refused descriptor (never registering it, forgetting it, never submitting an operation
// on it) is its own.
import { suite } from "uvu";
import * as assert from "uvu/assert";
import process from "node:process";
import { spawnSync } from "node:child_process";
import { fileURLToPath } from "node:url";
import { ShimRig, ForeignFile, K, shimTargets, type Ev, type ShimBackend } from "../helpers/native.ts";
import { selfCommand, runtimeName } from "../helpers/net.ts";
import { buildBackend, type NativeBuild } from "../../host/backends/native.ts";
import { kqueueBuild } from "../../host/backends/kqueue/kqueue.ts";
import { skip } from "../helpers/skip.ts";
import { Header } from "../../host/core/layout.ts";

const EBADF = 9, EINVAL = 22;
const PLANTED_ENV = "WASM_REACTOR_PLANTED_CHILD";

// Slots and generations of the pieces every case sets up.
const L = { slot: 10, gen: 3 };  // the listener
const C = { slot: 1, gen: 7 };   // the connecting side
const S = { slot: 2, gen: 5 };   // the accepted side

interface World { rig: ShimRig; client: number; server: number; foreign: ForeignFile; other?: World }

async function world(build: NativeBuild = "release", withOther = false, backend?: ShimBackend): Promise<World> {
  const rig = await ShimRig.create(build, { backend });
  const l = rig.listen(L.slot, L.gen);
  const { client, server } = rig.pair(l, L.slot, L.gen, C.slot, C.gen, S.slot, S.gen);
  return { rig, client, server, foreign: new ForeignFile(), other: withOther ? await world(build, false, backend) : undefined };
}

function done(w: World): void {
  if (w.other) done(w.other);
  const problem = w.foreign.intact();
  w.foreign.close();
  w.rig.destroy();
  assert.is(problem, undefined, "the foreign descriptor is untouched");
}

/** The one event of a turn, of that type. */
function only(evs: Ev[], type: number): Ev {
  const hits = evs.filter((e) => e.type === type);
  assert.is(hits.length, 1, `one event of type ${type} (got ${JSON.stringify(evs)})`);
  return hits[0];
}

function expectViolation(w: World, before: number, text: RegExp): void {
  assert.is(w.rig.violations(), before + 1, "counted once");
  const v = w.rig.violation();
  assert.ok(v !== undefined && text.test(v), `first violation ${JSON.stringify(v)} matches ${text}`);
}

/** The connection still works: a good write from the server arrives whole at the client. */
function stillWorks(w: World): void {
  w.rig.fillChunk(0, "still ok");
  w.rig.submit(K.SQ_WRITE, S.slot, S.gen, w.server, 0, 8);
  const d = only(w.rig.turn(), K.EV_WRITE_DONE);
  assert.equal([d.b, d.err], [8, 0], "a good write goes out");
  w.rig.supply(20);
  const r = w.rig.turnUntil((e) => e.type === K.EV_READ && e.slot === C.slot, "the client reads");
  assert.is(r.b, 8, "exactly the good write's bytes arrived: nothing from the refused ones");
}

/** A WRITE that must be refused whole with EINVAL. */
function badWrite(w: World, head: number, bytes: number, text: RegExp): void {
  const before = w.rig.violations();
  w.rig.submit(K.SQ_WRITE, S.slot, S.gen, w.server, head, bytes);
  const d = only(w.rig.turn(), K.EV_WRITE_DONE);
  assert.equal([d.slot, d.gen, d.b, d.err], [S.slot, S.gen, 0, EINVAL], "EV_WRITE_DONE b 0, EINVAL");
  expectViolation(w, before, text);
  stillWorks(w);
}

type Case = [name: string, run: (w: World) => void];

const RECORD_CASES: Case[] = [
  ["WRITE: a chunk index past the chunk count", (w) => badWrite(w, 1000, 10, /chunk 1000 is past the chunk count \(32\)/)],
  ["WRITE: a chunk index of 2^32 - 2 (far outside the memory)", (w) => badWrite(w, 0xfffffffe, 10, /chunk 4294967294 is past the chunk count/)],
  ["WRITE: start + len past the chunk", (w) => { w.rig.chunk(3, 1000, 100); badWrite(w, 3, 50, /chunk 3 has start 1000 \+ len 100 past the chunk size \(1024\)/); }],
  ["WRITE: start + len that wraps around 2^32", (w) => { w.rig.chunk(3, 0xfffffff0, 0x20); badWrite(w, 3, 16, /chunk 3 has start 4294967280 \+ len 32 past the chunk size/); }],
  ["WRITE: a chain that loops", (w) => { w.rig.chunk(4, 0, 10, 5); w.rig.chunk(5, 0, 10, 4); badWrite(w, 4, 100, /chunk 4 comes twice in the chain \(it loops\)/); }],
  ["WRITE: a chain that loops onto itself with room to spare", (w) => { w.rig.chunk(4, 0, 10, 4); badWrite(w, 4, 20, /chunk 4 comes twice/); }],
  ["WRITE: a chain shorter than its byte count", (w) => { w.rig.chunk(6, 0, 10, 7); w.rig.chunk(7, 0, 5); badWrite(w, 6, 20, /holds 15 bytes, fewer than the 20 submitted/); }],
  ["unknown op: counted, no event", (w) => {
    const before = w.rig.violations();
    w.rig.submit(99, S.slot, S.gen, w.server, 1, 2);
    assert.equal(w.rig.turn(), [], "no event");
    expectViolation(w, before, /unknown submission op 99/);
    stillWorks(w);
  }],
  ["CONNECT with no address prepared: EV_SOCKET_OPENED fd -1, EINVAL", (w) => {
    const before = w.rig.violations();
    w.rig.submit(K.SQ_CONNECT, 4, 9, -1);
    const e = only(w.rig.turn(), K.EV_SOCKET_OPENED);
    assert.equal([e.slot, e.gen, e.fd, e.err], [4, 9, -1, EINVAL]);
    expectViolation(w, before, /CONNECT for slot 4 gen 9 with no address prepared/);
  }],
  ["CONNECT for a prepared slot but another generation", (w) => {
    w.rig.n.prepareConnect(w.rig.h, 4, 9, "127.0.0.1", 9, null);
    const before = w.rig.violations();
    w.rig.submit(K.SQ_CONNECT, 4, 10, -1);
    const e = only(w.rig.turn(), K.EV_SOCKET_OPENED);
    assert.equal([e.fd, e.err], [-1, EINVAL]);
    expectViolation(w, before, /CONNECT for slot 4 gen 10 with no address prepared/);
  }],
  ["CONNECT for a slot past the slot count", (w) => {
    const before = w.rig.violations();
    w.rig.submit(K.SQ_CONNECT, 0xfffffff0, 1, -1);
    const e = only(w.rig.turn(), K.EV_SOCKET_OPENED);
    assert.equal([e.fd, e.err], [-1, EINVAL]);
    expectViolation(w, before, /CONNECT for slot 4294967280 gen 1 with no address prepared/);
  }],
  ["submit ring cursors past capacity: the batch is dropped", (w) => {
    const before = w.rig.violations();
    const head = w.rig.cursor("submitHead");
    w.rig.setCursor("submitTail", head + w.rig.core.caps.submitCap + 5);
    assert.equal(w.rig.turn(), [], "nothing acted on");
    expectViolation(w, before, /submit ring cursors out of range/);
    assert.is(w.rig.cursor("submitHead"), w.rig.cursor("submitTail"), "the batch was consumed");
    stillWorks(w);
  }],
  ["event ring cursors past capacity: no event overwrites one the core has not read", (w) => {
    const before = w.rig.violations();
    const tail = w.rig.cursor("eventTail");
    w.rig.setCursor("eventHead", tail - w.rig.core.caps.eventCap - 3);
    w.rig.fillChunk(0, "x");
    w.rig.submit(K.SQ_WRITE, S.slot, S.gen, w.server, 0, 1);
    w.rig.n.turn(w.rig.h, 0);
    assert.is(w.rig.cursor("eventTail"), tail, "nothing was posted into a ring that claims to be over-full");
    expectViolation(w, before, /event ring cursors out of range/);
    w.rig.setCursor("eventHead", tail); // the core recovers: the completion comes out of the overflow ring
    const d = only(w.rig.turn(), K.EV_WRITE_DONE);
    assert.equal([d.b, d.err], [1, 0], "the write's completion was kept, not lost");
  }],
  ["supply ring cursors past capacity: nothing is read", (w) => {
    const before = w.rig.violations();
    w.rig.fillChunk(0, "ping");
    w.rig.submit(K.SQ_WRITE, C.slot, C.gen, w.client, 0, 4);
    w.rig.turn();
    const head = w.rig.cursor("supplyHead");
    w.rig.setCursor("supplyTail", head + w.rig.core.caps.supplyCap + 1);
    const evs = w.rig.turn();
    assert.is(evs.filter((e) => e.type === K.EV_READ).length, 0, "no read");
    expectViolation(w, before, /supply ring cursors out of range/);
    w.rig.setCursor("supplyTail", head);
  }],
  ["supply ring entry past the chunk count: skipped, never read into", (w) => {
    const before = w.rig.violations();
    w.rig.fillChunk(0, "ping");
    w.rig.submit(K.SQ_WRITE, C.slot, C.gen, w.client, 0, 4);
    w.rig.turn();
    w.rig.supply(5000, 21);
    const r = w.rig.turnUntil((e) => e.type === K.EV_READ && e.slot === S.slot, "the server reads");
    assert.equal([r.a, r.b], [21, 4], "read into the next, valid chunk");
    expectViolation(w, before, /supply ring entry \d+ names chunk 5000, past the chunk count \(32\)/);
  }],
];

const OWNER_CASES: Case[] = [
  ["a foreign descriptor: WRITE → EBADF, nothing written", (w) => {
    const before = w.rig.violations();
    w.rig.fillChunk(0, "must not reach the file");
    w.rig.submit(K.SQ_WRITE, S.slot, S.gen, w.foreign.fd, 0, 10);
    const d = only(w.rig.turn(), K.EV_WRITE_DONE);
    assert.equal([d.slot, d.gen, d.fd, d.b, d.err], [S.slot, S.gen, w.foreign.fd, 0, EBADF]);
    expectViolation(w, before, new RegExp(`WRITE of slot 2 gen 5 on descriptor ${w.foreign.fd}: not a descriptor this shim opened`));
  }],
  ["a foreign descriptor: SHUTDOWN → EV_READ_ERROR EBADF", (w) => {
    const before = w.rig.violations();
    w.rig.submit(K.SQ_SHUTDOWN, S.slot, S.gen, w.foreign.fd);
    const e = only(w.rig.turn(), K.EV_READ_ERROR);
    assert.equal([e.slot, e.gen, e.err], [S.slot, S.gen, EBADF]);
    expectViolation(w, before, /SHUTDOWN of slot 2 gen 5 on descriptor \d+: not a descriptor this shim opened/);
  }],
  ["a foreign descriptor: INTEREST → EV_READ_ERROR EBADF, never registered", (w) => {
    const before = w.rig.violations();
    w.rig.submit(K.SQ_INTEREST, S.slot, S.gen, w.foreign.fd, K.IN_READ | K.IN_WRITE);
    const e = only(w.rig.turn(), K.EV_READ_ERROR);
    assert.equal([e.slot, e.gen, e.err], [S.slot, S.gen, EBADF]);
    expectViolation(w, before, /INTEREST of slot 2 gen 5 on descriptor \d+: not a descriptor this shim opened/);
    assert.is(w.rig.nativeStats().ctlErrors, 0, "no epoll_ctl was tried on it");
  }],
  ["a foreign descriptor: CLOSE → nothing, and it stays open", (w) => {
    const before = w.rig.violations();
    w.rig.submit(K.SQ_CLOSE, S.slot, S.gen, w.foreign.fd);
    assert.equal(w.rig.turn(), [], "no event");
    expectViolation(w, before, /CLOSE of slot 2 gen 5 on descriptor \d+: not a descriptor this shim opened/);
    w.rig.submit(K.SQ_CLOSE, K.NONE, 0, w.foreign.fd, 0, 0, K.SQF_RESET);
    assert.equal(w.rig.turn(), [], "a refused-descriptor CLOSE of it: no event either");
    assert.is(w.rig.violations(), before + 2);
  }],
  ["a descriptor out of any range (-5, 2^31 - 1)", (w) => {
    const before = w.rig.violations();
    w.rig.submit(K.SQ_SHUTDOWN, S.slot, S.gen, -5);
    w.rig.submit(K.SQ_CLOSE, S.slot, S.gen, 0x7fffffff);
    const evs = w.rig.turn();
    assert.is(only(evs, K.EV_READ_ERROR).err, EBADF);
    assert.is(w.rig.violations(), before + 2);
  }],
  ["the wrong generation: WRITE → EBADF, and the socket is left alone", (w) => {
    const before = w.rig.violations();
    w.rig.fillChunk(0, "stale");
    w.rig.submit(K.SQ_WRITE, S.slot, S.gen + 1, w.server, 0, 5);
    const d = only(w.rig.turn(), K.EV_WRITE_DONE);
    assert.equal([d.gen, d.b, d.err], [S.gen + 1, 0, EBADF]);
    expectViolation(w, before, /WRITE of slot 2 gen 6 on descriptor \d+: it belongs to slot 2 gen 5/);
    stillWorks(w);
  }],
  ["the wrong slot: INTEREST → EV_READ_ERROR EBADF for the slot named", (w) => {
    const before = w.rig.violations();
    w.rig.submit(K.SQ_INTEREST, 3, S.gen, w.server, K.IN_WRITE);
    const e = only(w.rig.turn(), K.EV_READ_ERROR);
    assert.equal([e.slot, e.gen, e.err], [3, S.gen, EBADF]);
    expectViolation(w, before, /INTEREST of slot 3 gen 5 on descriptor \d+: it belongs to slot 2 gen 5/);
    stillWorks(w);
  }],
  ["the wrong generation: CLOSE → not closed", (w) => {
    const before = w.rig.violations();
    w.rig.submit(K.SQ_CLOSE, S.slot, S.gen + 9, w.server);
    assert.equal(w.rig.turn(), []);
    expectViolation(w, before, /CLOSE of slot 2 gen 14 on descriptor \d+: it belongs to slot 2 gen 5/);
    stillWorks(w);
  }],
  ["a refused-descriptor CLOSE (slot NONE) of a descriptor the core adopted: not closed", (w) => {
    const before = w.rig.violations();
    w.rig.submit(K.SQ_CLOSE, K.NONE, 0, w.server, 0, 0, K.SQF_RESET);
    assert.equal(w.rig.turn(), []);
    expectViolation(w, before, /CLOSE of slot NONE on descriptor \d+: the core adopted it as slot 2 gen 5/);
    stillWorks(w);
  }],
  ["a closed descriptor: use after CLOSE is refused", (w) => {
    w.rig.submit(K.SQ_CLOSE, C.slot, C.gen, w.client);
    assert.equal(w.rig.turn(), []);
    const before = w.rig.violations();
    w.rig.fillChunk(0, "late");
    w.rig.submit(K.SQ_WRITE, C.slot, C.gen, w.client, 0, 4);
    w.rig.submit(K.SQ_CLOSE, C.slot, C.gen, w.client);
    const d = only(w.rig.turn(), K.EV_WRITE_DONE);
    assert.equal([d.b, d.err], [0, EBADF]);
    assert.is(w.rig.violations(), before + 2, "the write and the second close");
  }],
  ["another reactor's socket: refused, and its peer receives nothing", (w) => {
    // Two reactors in one process: each owns its own descriptors only.
    const other = w.other!;
    const before = w.rig.violations();
    w.rig.fillChunk(0, "crossed");
    w.rig.submit(K.SQ_WRITE, S.slot, S.gen, other.server, 0, 7);
    w.rig.submit(K.SQ_SHUTDOWN, S.slot, S.gen, other.server);
    w.rig.submit(K.SQ_CLOSE, S.slot, S.gen, other.server, 0, 0, K.SQF_RESET);
    const evs = w.rig.turn();
    assert.equal([only(evs, K.EV_WRITE_DONE).err, only(evs, K.EV_READ_ERROR).err], [EBADF, EBADF]);
    assert.is(w.rig.violations(), before + 3);
    other.rig.supply(22);
    for (let i = 0; i < 5; i++) assert.equal(other.rig.turn().filter((e) => e.type === K.EV_READ), [], "the other reactor's peer got no byte and no FIN");
    other.rig.fillChunk(0, "mine");
    other.rig.submit(K.SQ_WRITE, S.slot, S.gen, other.server, 0, 4);
    assert.equal(only(other.rig.turn(), K.EV_WRITE_DONE).err, 0, "and its owner still writes to it");
  }],
  ["closeFd from JS of a descriptor the core adopted: refused", (w) => {
    const before = w.rig.violations();
    w.rig.n.closeFd(w.rig.h, w.server);
    expectViolation(w, before, /closeFd of descriptor \d+: the core adopted it as slot 2 gen 5/);
    w.rig.n.closeFd(w.rig.h, w.foreign.fd);
    assert.is(w.rig.violations(), before + 2, "and of a foreign one");
    stillWorks(w);
  }],
];

// ── the suite, or the planted-bug child ─────────────────────────────────────────────────
const plantedChild = process.env[PLANTED_ENV];
if (plantedChild) {
  // Runs the chunk-index cases against the planted build, one line each (they must not pass;
  // the second reads chunk metadata 64 GiB past the memory, which may well crash the child).
  (async () => {
    for (const [name, run] of RECORD_CASES.slice(0, 2)) {
      const w = await world("planted");
      try { run(w); done(w); console.log(JSON.stringify({ name, passed: true })); }
      catch (err) { console.log(JSON.stringify({ name, passed: false, why: String((err as Error).message).slice(0, 300) })); }
    }
    process.exit(0);
  })().catch((err) => { console.log(JSON.stringify({ passed: false, why: `setup: ${String(err)}` })); process.exit(0); });
} else {
  const test = suite(`native: violations (${runtimeName()})`);
  for (const { build, backend, label, why } of shimTargets(kqueueBuild())) {
    if (why) { test(`${label}every case`, () => skip(why)); continue; }
    for (const [name, run] of [...RECORD_CASES, ...OWNER_CASES]) {
      test(`${label}${name}`, async () => {
        if (process.env.WR_DEBUG) console.error("case:", build, backend, name);
        const w = await world(build, name.startsWith("another reactor"), backend);
        try { run(w); } finally { done(w); }
      });
    }
  }

  test("attach refuses regions outside the memory", async () => {
    const rig = await ShimRig.create();
    try {
      const n = rig.n;
      const tryAttach = (u8: Uint8Array): string => {
        const h = n.create(buildBackend("release"), 0, 64, 1, 0);
        try { n.attach(h, u8); return "attached"; } catch (err) { return (err as Error).message; } finally { n.destroy(h); }
      };
      assert.match(tryAttach(new Uint8Array(4096)), /smaller than the layout's header/);
      const base = K.LAYOUT_BASE;
      const poke = (offset: number, v: number): Uint8Array => {
        const copy = rig.core.u8.slice(0, base + 65536 * 4);
        new DataView(copy.buffer).setUint32(base + offset, v, true);
        return copy;
      };
      const Hdr = Header;
      assert.match(tryAttach(poke(Hdr.magic, 1)), /does not hold an initialised wasm-reactor core/);
      assert.match(tryAttach(rig.core.u8.slice(0, base + 4096)), /lies outside the memory/, "a memory cut short");
      assert.match(tryAttach(poke(Hdr.eventsOff, 0xfffffff0)), /the event ring lies outside the memory/);
      assert.match(tryAttach(poke(Hdr.chunkCount, 0x7fffffff)), /lies outside the memory/);
      assert.match(tryAttach(poke(Hdr.eventCap, 100)), /not a power of two/);
      assert.match(tryAttach(poke(Hdr.submitsOff, 8)), /the submit ring lies outside the memory/, "a ring over the header");
      assert.throws(() => n.attach(rig.h, rig.core.u8), /attached already/);
    } finally { rig.destroy(); }
  });

  test("the suite catches a planted shim bug (the chunk index bound removed)", () => {
    const [cmd, args] = selfCommand(fileURLToPath(import.meta.url));
    const child = spawnSync(cmd, args, { env: { ...process.env, [PLANTED_ENV]: "1", DENO_NO_UPDATE_CHECK: "1" }, encoding: "utf8", timeout: 60_000 });
    const lines = (child.stdout ?? "").trim().split("\n").filter(Boolean);
    const verdicts = lines.map((l) => { try { return JSON.parse(l) as { name?: string; passed?: boolean; why?: string }; } catch { return { why: l }; } });
    const crashed = child.signal !== null || child.status !== 0;
    const missed = verdicts.filter((v) => v.passed === true).map((v) => v.name);
    assert.ok(verdicts.length > 0 || crashed, `the child ran (status ${child.status}, signal ${child.signal}, stderr ${(child.stderr ?? "").slice(0, 500)})`);
    assert.ok(!verdicts.some((v) => /missing|not built|setup:/.test(v.why ?? "")), `the planted build exists and runs: ${lines.join(" | ")}`);
    assert.equal(missed, [], `with the bound removed every chunk-index case must fail (child: ${lines.join(" | ")}; status ${child.status}, signal ${child.signal})`);
  });

  test.run();
}
