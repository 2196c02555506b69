// io_uring: readers parked while the core paused reads, and readers whose receive ran out of
// buffers (ENOBUFS), wait in one list; when chunks are back, a turn wakes as many of them as the
// buffer ring has chunks for, first come first served (shims/native/fdtable.c wr_unstarve). A
// reader parked idle (its read interest arrived during the pause, no data) may be woken first:
// it arms a receive that completes nothing, while a reader behind it with data waiting in its
// socket stays parked. Regression, was (found by review): the turn then slept in io_uring_enter
// until its timeout (the core's deadline: forever with no timers) before a later turn woke the
// reader with data. Now a turn that leaves readers parked only for want of room it has does not
// sleep. Driven by hand through a core's memory (tests/helpers/native.ts).
import { suite } from "uvu";
import * as assert from "uvu/assert";
import { K, uringRig } from "../helpers/native.ts";
import { runtimeName } from "../helpers/net.ts";
import { headerWord } from "../../host/core/core.ts";
import { skip } from "../helpers/skip.ts";

const test = suite(`native: io_uring, parked readers are woken without waiting out a timeout (${runtimeName()})`);
const HOST_FLAGS = headerWord("hostFlags");

test("an idle reader woken first does not leave a reader with data parked behind it until the turn's timeout", async () => {
  const rig = await uringRig();
  if (typeof rig === "string") return skip(rig);
  try {
    const u = rig.core.u32;
    const l = rig.listen(10, 1);
    const a = rig.pair(l, 10, 1, 1, 1, 2, 1); // A: its server side (slot 2) will be the idle reader
    const b = rig.pair(l, 10, 1, 3, 1, 4, 1); // B: its server side (slot 4) gets data, no buffer
    // A's server side stops reading, and comes back while reads are paused: parked, idle.
    rig.submit(K.SQ_INTEREST, 2, 1, a.server, 0);
    for (let i = 0; i < 5; i++) rig.turn();
    u[HOST_FLAGS] = K.HOST_READS_PAUSED;
    rig.submit(K.SQ_INTEREST, 2, 1, a.server, K.IN_READ);
    rig.turn();
    // B's client sends; no chunk was ever supplied, so B's receive ends with ENOBUFS: parked, behind A.
    rig.fillChunk(0, "hello");
    rig.submit(K.SQ_WRITE, 3, 1, b.client, 0, 5);
    for (let i = 0; i < 20 && rig.nativeStats().uringEnobufs === 0; i++) rig.n.turn(rig.h, i < 5 ? 0 : 5), rig.events();
    assert.ok(rig.nativeStats().uringEnobufs > 0, "B's receive ran out of buffers");
    // Reads resume with one chunk: room for one reader, and A is first.
    { const s = rig.nativeStats(); console.log("DBG before", JSON.stringify({ sq: s.uringSqes, cq: s.uringCqes, buf: s.uringBuffers, enobufs: s.uringEnobufs, starved: s.starved })); }
    u[HOST_FLAGS] = 0;
    rig.supply(16);
    let got = 0;
    const t0 = performance.now();
    for (let i = 0; i < 4 && got === 0; i++) {
      rig.n.turn(rig.h, 1000); { const s = rig.nativeStats(); console.log("DBG", i, JSON.stringify({ sq: s.uringSqes, cq: s.uringCqes, buf: s.uringBuffers, enobufs: s.uringEnobufs, starved: s.starved, readCalls: s.readCalls })); }
      for (const e of rig.events()) if (e.type === K.EV_READ && e.slot === 4 && e.b > 0) got += e.b;
    }
    const ms = performance.now() - t0;
    assert.is(got, 5, "B's bytes were read");
    assert.ok(ms < 2000, `B's bytes took ${Math.round(ms)} ms of turns whose timeout is 4000 ms (a turn slept with a reader parked and a chunk for it)`);
  } finally { rig.destroy(); }
});

test.run();
