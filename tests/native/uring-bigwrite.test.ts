// io_uring: a WRITE whose chain is longer than one send's 64 chunks (MAX_IOV) still ends in one
// EV_WRITE_DONE. uring.c sends such a chain a window of up to 64 chunks at a time; when the kernel
// took a whole window, the next one is submitted from that window's completion, within the same
// turn (on_send, ur_decode), as epoll's wr_write loops over sendmsg. Before, the first window's
// completion reported a short write (EAGAIN), and every further 64 chunks cost a POLLOUT round
// trip through the core (issue 11). The shim is driven by hand through a core's memory
// (tests/helpers/native.ts), both ends of a loopback pair in the same shim:
//   - 200 chunks of 100 bytes to a reader (20,000 bytes: the socket buffers hold them, so the
//     kernel takes every window): one EV_WRITE_DONE with every byte and no error, in the turn of
//     the WRITE, after one send per window (4), and the reader gets every byte in order;
//   - 2,048 chunks of 512 bytes (1 MiB) to a reader that has stopped reading, from a socket with a
//     small send buffer: one EV_WRITE_DONE, short with EAGAIN, whose count is every window the
//     kernel took whole plus what the last one moved (one send per window up to the short one);
//     then the reader reads again, the writer waits for EV_WRITABLE and writes the rest (from
//     the byte it stopped at, as the core would), and every byte arrives in order;
//   - a CLOSE right after the WRITE, in the same turn: no window follows the first (without the
//     check, the next one went to the closed descriptor: EBADF), and the peer gets the first
//     window's bytes, then the end;
//   - a chain a broken core changed while a window's completion was held: the next window's
//     check finds it (EINVAL with the bytes moved, a violation, nothing past it sent);
//   - more next windows in one turn than the submission queue holds: all submitted, all served;
//   - the faults build: windows after the first meet injected short sends and EAGAIN.
import { suite } from "uvu";
import * as assert from "uvu/assert";
import { K, ShimRig, uringRig, type Ev } from "../helpers/native.ts";
import { runtimeName } from "../helpers/net.ts";
import { skip } from "../helpers/skip.ts";

const test = suite(`native: io_uring, a WRITE of more than 64 chunks (${runtimeName()})`);

const EAGAIN = 11;
const WINDOW_CHUNKS = 64; // MAX_IOV in uring.c

/** The byte at stream position i: no period a misplaced chunk or window could hide in. */
const byteAt = (i: number): number => Math.imul(i + 1, 2654435761) >>> 24;

/** Chunks first..first+n-1 as one chain of `len` bytes each, holding stream bytes from 0 on. */
function chain(rig: ShimRig, first: number, n: number, len: number): void {
  const u8 = rig.core.u8;
  for (let k = 0; k < n; k++) {
    const off = rig.core.chunkDataOffset(first + k);
    for (let j = 0; j < len; j++) u8[off + j] = byteAt(k * len + j);
    rig.chunk(first + k, 0, len, k + 1 < n ? first + k + 1 : K.NONE);
  }
}

/** The reading end: what it received, checked byte by byte against the stream, chunks handed back. */
class Reader {
  got = 0;
  ended = false;
  constructor(private readonly rig: ShimRig, private readonly slot: number) {}
  take(evs: Ev[]): void {
    for (const e of evs) {
      if (e.slot !== this.slot || e.type !== K.EV_READ) continue;
      if (e.b === 0) { this.ended = true; continue; }
      const off = this.rig.core.chunkDataOffset(e.a), u8 = this.rig.core.u8;
      for (let j = 0; j < e.b; j++) {
        const want = byteAt(this.got + j);
        if (u8[off + j] !== want) throw new Error(`byte ${this.got + j}: ${u8[off + j]}, not ${want}: out of order or lost`);
      }
      this.got += e.b;
      this.rig.supply(e.a);
    }
  }
}

/**
 * The pair every test here writes over: a listener (slot 10), the client (slot 1, which reads,
 * checked by a Reader) and the accepted server side (slot 2, which writes); chunks [from, to)
 * supplied for its reads, and the turn that arms them taken.
 */
function connected(rig: ShimRig, from: number, to: number): { p: { client: number; server: number }; reader: Reader } {
  rig.setCursor("readsPerConn", 64);
  const p = rig.pair(rig.listen(10, 1), 10, 1, 1, 1, 2, 1);
  const reader = new Reader(rig, 1);
  for (let c = from; c < to; c++) rig.supply(c);
  reader.take(rig.turn());
  return { p, reader };
}

const writeDones = (evs: Ev[], slot: number): Ev[] => evs.filter((e) => e.type === K.EV_WRITE_DONE && e.slot === slot);

/**
 * The writer (slot 2, gen 1) of a chain of n chunks of `len` bytes, `done` of them written: writes
 * the rest each time EV_WRITABLE comes, from the byte it stopped at, as the core would (the chunk
 * it stopped in starts there), until every byte is written and read (bounded). Each WRITE must
 * end in exactly one EV_WRITE_DONE, without error or short with EAGAIN. Returns the bytes written
 * and the WRITEs it took.
 */
function writeRest(rig: ShimRig, fd: number, reader: Reader, n: number, len: number, done: number): { done: number; writes: number } {
  const bytes = n * len;
  let writing = false, writes = 0;
  rig.submit(K.SQ_INTEREST, 2, 1, fd, K.IN_READ | K.IN_WRITE);
  for (let i = 0; i < 5000 && (done < bytes || reader.got < bytes); i++) {
    rig.n.turn(rig.h, i < 5 ? 0 : 5);
    const evs = rig.events();
    reader.take(evs);
    for (const e of writeDones(evs, 2)) {
      assert.ok(writing, "one EV_WRITE_DONE per WRITE");
      writing = false;
      done += e.b;
      assert.ok(e.err === 0 || e.err === EAGAIN, `no error but EAGAIN (${e.err})`);
      assert.is(e.err === 0, done === bytes, `EAGAIN exactly when bytes are left (${done} of ${bytes})`);
      if (done === bytes) rig.submit(K.SQ_INTEREST, 2, 1, fd, K.IN_READ);
    }
    if (!writing && done < bytes && evs.some((e) => e.type === K.EV_WRITABLE && e.slot === 2)) {
      const c = Math.floor(done / len), off = done % len;
      rig.chunk(c, off, len - off, c + 1 < n ? c + 1 : K.NONE);
      rig.submit(K.SQ_WRITE, 2, 1, fd, c, bytes - done);
      writing = true;
      writes++;
    }
  }
  return { done, writes };
}

for (const blockWait of [true, false]) {
  const mode = blockWait ? "DEFER_TASKRUN" : "poller thread";

  test(`200 chunks to a reader: one EV_WRITE_DONE with every byte in the WRITE's turn, one send per 64 chunks, every byte in order (${mode})`, async () => {
    const rig = await uringRig({ blockWait, caps: { chunkCount: 512, chunkSize: 1024, eventCap: 1024, submitCap: 256, supplyCap: 64 } });
    if (typeof rig === "string") return skip(rig);
    try {
      const { p, reader } = connected(rig, 400, 464);
      const N = 200, LEN = 100, BYTES = N * LEN;
      chain(rig, 0, N, LEN);
      const sends = rig.nativeStats().writeCalls;
      rig.submit(K.SQ_WRITE, 2, 1, p.server, 0, BYTES);
      const evs = rig.turn();
      reader.take(evs);
      const done = writeDones(evs, 2);
      assert.equal(done.map((e) => [e.b, e.err]), [[BYTES, 0]], "one EV_WRITE_DONE, every byte, no error, in the turn of the WRITE (before: 6,400 bytes and EAGAIN)");
      assert.is(rig.nativeStats().writeCalls - sends, Math.ceil(N / WINDOW_CHUNKS), "one send per window of 64 chunks");
      for (let i = 0; i < 200 && reader.got < BYTES; i++) { rig.n.turn(rig.h, i < 5 ? 0 : 5); const more = rig.events(); reader.take(more); assert.is(writeDones(more, 2).length, 0, "no second EV_WRITE_DONE"); }
      assert.is(reader.got, BYTES, "the reader got every byte, in order");
      assert.is(rig.violations(), 0);
    } finally { rig.destroy(); }
  });

  // A window follows only while its descriptor is still the one written to: a CLOSE after the
  // WRITE in the same turn moves the descriptor's generation on before the first window's
  // completion is served (the send ran first, in the same submit), and no window may follow to a
  // closed descriptor, or to another socket that reused its number. The core never closes with a
  // write in flight (it waits for EV_WRITE_DONE); a broken one must still not steer bytes.
  test(`a CLOSE right after the WRITE: no window follows the first, the peer gets it in order, then the end (${mode})`, async () => {
    const rig = await uringRig({ blockWait, caps: { chunkCount: 512, chunkSize: 1024, eventCap: 1024, submitCap: 256, supplyCap: 64 } });
    if (typeof rig === "string") return skip(rig);
    try {
      const { p, reader } = connected(rig, 400, 464);
      const N = 200, LEN = 100, FIRST = WINDOW_CHUNKS * LEN;
      chain(rig, 0, N, LEN);
      const sends = rig.nativeStats().writeCalls;
      rig.submit(K.SQ_WRITE, 2, 1, p.server, 0, N * LEN);
      rig.submit(K.SQ_CLOSE, 2, 1, p.server);
      const evs = rig.turn();
      reader.take(evs);
      assert.equal(writeDones(evs, 2).map((e) => [e.b, e.err]), [[FIRST, EAGAIN]], "the first window, reported short: nothing followed it");
      assert.is(rig.nativeStats().writeCalls - sends, 1, "one send: none to the closed descriptor");
      for (let i = 0; i < 200 && !reader.ended; i++) { rig.n.turn(rig.h, i < 5 ? 0 : 5); reader.take(rig.events()); }
      assert.ok(reader.ended, "the peer saw the end");
      assert.is(reader.got, FIRST, "after the first window's bytes, in order");
      assert.is(rig.violations(), 0);
    } finally { rig.destroy(); }
  });

  // Each window's chunks are checked again as they are used (send_window), as epoll's loop checks
  // them: the whole chain was checked before the first window, and a window that goes later must
  // not be steered outside a chunk either. A window goes later when the completion before it was
  // held (no room in the event ring: here the ring is left full), and the core ran meanwhile: a
  // broken one changed a chunk further down the chain. The WRITE ends with the bytes moved so
  // far and EINVAL, the violation is recorded, and nothing past the bad chunk is sent.
  test(`a chain corrupted while a window's completion was held: the next window finds it, EINVAL with the bytes moved, a violation (${mode})`, async () => {
    const rig = await uringRig({ blockWait, caps: { chunkCount: 512, chunkSize: 1024, eventCap: 8, submitCap: 256, supplyCap: 64 } });
    if (typeof rig === "string") return skip(rig);
    try {
      const l = rig.listen(10, 1);
      const p = rig.pair(l, 10, 1, 1, 1, 2, 1);
      const N = 200, LEN = 100, FIRST = WINDOW_CHUNKS * LEN;
      chain(rig, 0, N, LEN);
      // the event ring left full: eight 1-byte writes of the client's, their EV_WRITE_DONEs not taken
      // (no chunk supplied: the receives park, posting nothing)
      rig.fillChunk(300, "x");
      for (let i = 0; i < 8; i++) rig.submit(K.SQ_WRITE, 1, 1, p.client, 300, 1);
      rig.n.turn(rig.h, 0);
      rig.submit(K.SQ_WRITE, 2, 1, p.server, 0, N * LEN);
      rig.n.turn(rig.h, 0);
      assert.is(writeDones(rig.events(), 2).length, 0, "the first window's completion was held (no room)");
      rig.chunk(100, 0, 5000, 101); // past the chunk's end: a window must not send it
      const evs = rig.turn();
      assert.equal(writeDones(evs, 2).map((e) => [e.b, e.err]), [[FIRST, 22]], "the first window's bytes, then EINVAL");
      assert.is(rig.violations(), 1);
      assert.match(rig.violation() ?? "", "the chain changed while it was written");
      // the peer gets the first window and nothing more: read to the end after the server closes
      const reader = new Reader(rig, 1);
      for (let c = 400; c < 464; c++) rig.supply(c);
      rig.submit(K.SQ_CLOSE, 2, 1, p.server);
      for (let i = 0; i < 200 && !reader.ended; i++) { rig.n.turn(rig.h, i < 5 ? 0 : 5); reader.take(rig.events()); }
      assert.ok(reader.ended, "the peer saw the end");
      assert.is(reader.got, FIRST, "after the first window's bytes, in order, and nothing else");
    } finally { rig.destroy(); }
  });

  test(`1 MiB in 2,048 chunks to a reader that stopped: one short EV_WRITE_DONE (EAGAIN) counting every window taken, then the rest after EV_WRITABLE, every byte in order (${mode})`, async () => {
    const rig = await uringRig({ blockWait, caps: { chunkCount: 4096, chunkSize: 512, eventCap: 4096, submitCap: 256, supplyCap: 128 } });
    if (typeof rig === "string") return skip(rig);
    try {
      rig.setCursor("readsPerConn", 64);
      // a listener whose accepted sockets have a small send buffer (set before listen(): inherited),
      // so that the reader's receive buffer and ours fill well before 1 MiB
      const [lfd, port] = rig.n.listen(rig.h, "127.0.0.1", 0, 64, 0, 0, 4096);
      rig.submit(K.SQ_INTEREST, 10, 1, lfd, K.IN_READ);
      rig.turn();
      const p = rig.pair({ fd: lfd, port }, 10, 1, 1, 1, 2, 1);
      const reader = new Reader(rig, 1);
      rig.submit(K.SQ_INTEREST, 1, 1, p.client, 0); // the reader stops reading
      rig.turn();
      const N = 2048, LEN = 512, BYTES = N * LEN, WINDOW = WINDOW_CHUNKS * LEN;
      chain(rig, 0, N, LEN);
      const sends = rig.nativeStats().writeCalls;
      rig.submit(K.SQ_WRITE, 2, 1, p.server, 0, BYTES);
      const evs = rig.turn();
      const first = writeDones(evs, 2);
      assert.is(first.length, 1, "one EV_WRITE_DONE");
      const done = first[0].b;
      assert.is(first[0].err, EAGAIN, "short, with EAGAIN: the core waits for writability");
      assert.ok(done > 0 && done < BYTES, `a real prefix (${done} of ${BYTES})`);
      // each window the kernel took whole was followed by the next; the short one ended the WRITE
      assert.is(rig.nativeStats().writeCalls - sends, Math.floor(done / WINDOW) + 1, `one send per window up to the short one (${done} bytes)`);

      // the reader reads again; the writer writes the rest each time writability comes back
      for (let c = 3000; c < 3128; c++) rig.supply(c);
      rig.submit(K.SQ_INTEREST, 1, 1, p.client, K.IN_READ);
      const rest = writeRest(rig, p.server, reader, N, LEN, done);
      assert.is(rest.done, BYTES, `every byte written (${rest.writes} WRITEs)`);
      assert.is(reader.got, BYTES, "the reader got every byte, in order");
      assert.is(rig.violations(), 0);
    } finally { rig.destroy(); }
  });
}

// More next windows in one turn than the submission queue holds (SQ_ENTRIES = 2048 in uring.c):
// 2,100 WRITEs of 65 one-byte chunks, so each first window's completion queues a second window.
// A full queue is submitted as the 2,049th is queued (sqe_get), mid-pass, and the rest at the
// pass's end; the pass then serves what those submits completed. Every WRITE ends in one
// EV_WRITE_DONE, in this turn, with all its bytes. (The core has one WRITE per connection in
// flight; one connection with thousands keeps this test to one pair, and the bytes are all
// alike, since windows of different WRITEs interleave.)
test("more next windows in one turn than the submission queue holds: every WRITE ends in one EV_WRITE_DONE, in that turn, with all its bytes", async () => {
  const rig = await uringRig({ caps: { chunkCount: 512, chunkSize: 1024, eventCap: 4096, submitCap: 4096, supplyCap: 256 } });
  if (typeof rig === "string") return skip(rig);
  try {
    rig.setCursor("readsPerConn", 64);
    const l = rig.listen(10, 1);
    const p = rig.pair(l, 10, 1, 1, 1, 2, 1);
    for (let c = 256; c < 512; c++) rig.supply(c);
    rig.turn();
    const WRITES = 2100, N = WINDOW_CHUNKS + 1;
    for (let c = 0; c < N; c++) { rig.core.u8[rig.core.chunkDataOffset(c)] = 0x78; rig.chunk(c, 0, 1, c + 1 < N ? c + 1 : K.NONE); }
    const s0 = rig.nativeStats();
    for (let i = 0; i < WRITES; i++) rig.submit(K.SQ_WRITE, 2, 1, p.server, 0, N);
    let got = 0;
    const take = (evs: Ev[]) => {
      for (const e of evs) if (e.type === K.EV_READ && e.slot === 1 && e.b > 0) {
        const u8 = rig.core.u8, off = rig.core.chunkDataOffset(e.a);
        for (let j = 0; j < e.b; j++) if (u8[off + j] !== 0x78) throw new Error(`byte ${got + j} is ${u8[off + j]}, not one written`);
        got += e.b;
        rig.supply(e.a);
      }
    };
    const evs = rig.turn();
    take(evs);
    const done = writeDones(evs, 2);
    const s1 = rig.nativeStats();
    assert.is(done.length, WRITES, "every WRITE's EV_WRITE_DONE, in the turn of the WRITEs");
    assert.equal(done.filter((e) => e.b !== N || e.err !== 0).slice(0, 3), [], "each with all its bytes, no error");
    assert.is(s1.writeCalls - s0.writeCalls, 2 * WRITES, "two sends each");
    for (let i = 0; i < 300 && got < WRITES * N; i++) { rig.n.turn(rig.h, i < 5 ? 0 : 5); const more = rig.events(); take(more); assert.is(writeDones(more, 2).length, 0, "no second EV_WRITE_DONE"); }
    assert.is(got, WRITES * N, "the peer got every byte");
    assert.is(rig.violations(), 0);
  } finally { rig.destroy(); }
});

// The faults build (-DWR_FAULTS): each window draws the faults a send can meet (faults.c, as
// epoll's wr_sys_sendmsg draws them for each sendmsg), so a window after the first may be cut
// short or refused with EAGAIN: the WRITE then ends there, in one EV_WRITE_DONE counting the
// windows before, and the rest is written after EV_WRITABLE.
test("faults build: windows cut short or refused (EAGAIN) end their WRITE with what the windows before moved, and every byte arrives in order", async () => {
  const probe = await uringRig();
  if (typeof probe === "string") return skip(probe);
  probe.destroy();
  let rig: ShimRig;
  try { rig = await ShimRig.create("faults", { backend: "uring", caps: { chunkCount: 4096, chunkSize: 512, eventCap: 4096, submitCap: 256, supplyCap: 128 } }); }
  catch (err) { return skip(`the faults build's uring backend cannot start here: ${(err as Error).message}`); }
  try {
    const { p, reader } = connected(rig, 3000, 3128);
    const N = 2048, LEN = 512, BYTES = N * LEN;
    chain(rig, 0, N, LEN);
    const s0 = rig.nativeStats();
    rig.faults({ seed: 11, writeShortProbability: 0.15, writeEagainProbability: 0.05 });
    const rest = writeRest(rig, p.server, reader, N, LEN, 0);
    const s1 = rig.nativeStats();
    rig.faults({});
    assert.is(rest.done, BYTES, `every byte written (${rest.writes} WRITEs)`);
    assert.is(reader.got, BYTES, "the reader got every byte, in order");
    assert.ok(s1.faultWriteShort - s0.faultWriteShort > 0 && s1.faultWriteEagain - s0.faultWriteEagain > 0, "both kinds were injected");
    assert.ok(s1.writeCalls - s0.writeCalls > rest.writes + 2, `windows followed windows (${s1.writeCalls - s0.writeCalls} sends for ${rest.writes} WRITEs)`);
    assert.is(rig.violations(), 0);
  } finally { rig.destroy(); }
});

test.run();
