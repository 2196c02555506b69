// The io_uring backend closes a connection with two operations: an ASYNC_CANCEL of everything
// armed on the descriptor, hard-linked (IOSQE_IO_HARDLINK) to a CLOSE. The two must reach the
// kernel in one io_uring_enter. When the submission queue (SQ_ENTRIES = 2048 in uring.c) had
// one slot left, the cancel took it, the full queue was submitted, and the CLOSE went in the
// next batch: the kernel runs a link cut at the end of a batch in a worker, the CLOSE (inline)
// ran first, the cancel then found no descriptor, and the armed multishot receive kept the socket
// open: the peer never saw a FIN. uring.c now submits first when fewer than two slots are left
// (ur_forget, sq_room).
//
// tests/net/uring.test.ts closes 1,100 connections in one turn, but what else that turn queued
// decides whether a pair straddles the boundary. Here the shim is driven by hand through a core's
// memory (tests/helpers/native.ts), so one turn's operations are exactly these, in this order:
//   1. a SHUTDOWN of a spare connection: uring.c submits everything queued before a shutdown,
//      so the queue is empty after it, whatever earlier turns left;
//   2. SQ_ENTRIES - 1 one-chunk WRITEs of one byte each from the closing connection to its peer,
//      one SEND each: the queue has one slot left;
//   3. the CLOSE of that connection, whose multishot receive is armed: its cancel would take the
//      last slot and its CLOSE the first of the next batch.
// The turn's operation count (the shim's uringSqes) is checked, so a change in what an operation
// costs fails here by name rather than silently moving the pair off the boundary.
// Then the peer must read every byte and then the end of the stream, and the descriptor is
// closed exactly once: no descriptor of the process is that socket any more, and a file opened
// after the close (which may get its number) is untouched while the stale completions drain.
//
// Shown to catch the bug: with uring.c's `if (armed && sq_room(s) < 2) submit_now(r);` removed,
// the peer saw no end of stream in 5 runs of 5 on each runtime (its socket stays open until the
// ring is destroyed); with it, every run passes.
import { suite } from "uvu";
import * as assert from "uvu/assert";
import { readdirSync, readlinkSync } from "node:fs";
import { ShimRig, ForeignFile, K, shimTargets } from "../helpers/native.ts";
import { runtimeName } from "../helpers/net.ts";
import { kqueueBuild } from "../../host/backends/kqueue/kqueue.ts";
import { skip } from "../helpers/skip.ts";

const test = suite(`native: io_uring, a close's cancel and CLOSE never straddle a full submission queue (${runtimeName()})`);

/** uring.c's SQ_ENTRIES: the submission queue's size (io_uring_setup keeps a power of two as asked). */
const SQ_ENTRIES = 2048;
/** Submissions in the turn under test: the SHUTDOWN, the WRITEs, the CLOSE (the submit ring holds them all). */
const SUBMIT_CAP = 4096;

/** The kernel object behind a descriptor of this process ("socket:[inode]"), or undefined. */
function fdTarget(fd: number): string | undefined {
  try { return readlinkSync(`/proc/self/fd/${fd}`); } catch { return undefined; }
}
/** Descriptors of this process that name `target`. */
function holders(target: string): number[] {
  const out: number[] = [];
  for (const name of readdirSync("/proc/self/fd")) if (fdTarget(Number(name)) === target) out.push(Number(name));
  return out;
}

const uring = shimTargets(kqueueBuild()).find((t) => t.backend === "uring");

for (const blockWait of [true, false]) {
  const mode = blockWait ? "turns block in the ring (DEFER_TASKRUN)" : "a poller thread's ring (no DEFER_TASKRUN)";
  test(`the CLOSE of a connection whose cancel would take the queue's last slot: the peer reads every byte, then the end, and the descriptor is closed once (${mode})`, async () => {
    if (!uring) return skip("io_uring is Linux only: this OS's shim has no uring backend");
    if (uring.why) return skip(uring.why);
    const rig = await ShimRig.create(uring.build, { backend: "uring", blockWait, caps: { submitCap: SUBMIT_CAP, eventCap: SUBMIT_CAP } });
    let foreign: ForeignFile | undefined;
    try {
      const l = rig.listen(10, 1);
      // A: the connection closed (server side, slot 2) and its peer (slot 1); B: the spare one shut down.
      const a = rig.pair(l, 10, 1, 1, 1, 2, 1);
      const b = rig.pair(l, 10, 1, 3, 1, 4, 1);
      rig.supply(16, 17, 18, 19, 20, 21, 22, 23);
      for (let i = 0; i < 3; i++) rig.turn(); // quiet: the receives armed, nothing left to re-arm
      const socket = fdTarget(a.server);
      assert.match(socket ?? "", /^socket:\[\d+\]$/, `descriptor ${a.server} is the accepted socket`);
      const openBefore = rig.nativeStats().fdsOpen;

      // The turn under test.
      rig.submit(K.SQ_SHUTDOWN, 4, 1, b.server);
      rig.fillChunk(0, "x");
      const writes = SQ_ENTRIES - 1;
      for (let i = 0; i < writes; i++) rig.submit(K.SQ_WRITE, 2, 1, a.server, 0, 1);
      rig.submit(K.SQ_CLOSE, 2, 1, a.server);
      const sqesBefore = rig.nativeStats().uringSqes;
      let evs = rig.turn();
      const sqes = rig.nativeStats().uringSqes - sqesBefore;
      assert.is(sqes, writes + 2, `the turn queued ${writes} SENDs, then the cancel and the CLOSE (${sqes} operations): the cancel came to the queue's last slot`);
      assert.is(rig.violations(), 0, rig.violation());
      assert.is(rig.nativeStats().fdsOpen, openBefore - 1, "one descriptor fewer");

      // A file opened now may take the closed number: nothing may close that number again.
      foreign = new ForeignFile();
      let written = 0, got = 0, end = false;
      for (let i = 0; i < 400 && !end; i++) {
        for (const e of evs) {
          if (e.type === K.EV_WRITE_DONE && e.slot === 2) { assert.equal([e.b, e.err], [1, 0], "each byte sent"); written++; }
          if (e.type === K.EV_READ && e.slot === 1) {
            if (e.b > 0) { got += e.b; rig.supply(e.a); } else end = true;
          }
          assert.ok(e.type !== K.EV_READ_ERROR || e.slot !== 1, `the peer's read failed (errno ${e.err}) instead of ending`);
        }
        if (!end) { rig.n.turn(rig.h, i < 20 ? 0 : 5); evs = rig.events(); }
      }
      assert.is(written, writes, "every WRITE completed");
      assert.is(got, writes, "the peer read every byte before the end");
      assert.ok(end, `the peer saw the end of the stream (the closed connection's FIN) within 400 turns`);
      for (let i = 0; i < 5; i++) rig.turn(); // stale completions of the closed descriptor drain
      assert.equal(holders(socket!), [], `no descriptor is ${socket} any more`);
      assert.is(foreign.intact(), undefined, `a file opened after the close (descriptor ${foreign.fd}) is untouched`);
      assert.is(rig.violations(), 0, rig.violation());
    } finally {
      rig.destroy();
      foreign?.close();
    }
  });
}

test.run();
