// io_uring: a SHUTDOWN never overtakes a send of its own connection. Sends are operations in the
// ring, submitted with the turn's io_uring_enter; shutdown(2) is a plain call made as the core's
// SHUTDOWN is executed, so a send queued earlier in the same turn must be submitted first (it
// completes during the submit: MSG_DONTWAIT), or the peer gets the FIN before the bytes. uring.c
// submits first only when that connection has a send queued since the last submit (ur_shutdown);
// submitting whatever was queued made a turn that ended many connections enter once for each.
// The core itself never asks for this (it sends the FIN once the queued bytes are written), so the
// shim is driven by hand through a core's memory (tests/helpers/native.ts): a WRITE and then a
// SHUTDOWN of the same connection in one turn, alone or behind 2,100 sends of another connection
// (more than the submission queue holds: a full queue is submitted in between, which leaves the
// flag set though the send went). Without the submit the WRITE fails with EPIPE and the peer sees
// the end without the bytes (found by review, with the submit switched off).
import { suite } from "uvu";
import * as assert from "uvu/assert";
import { K, uringRig } from "../helpers/native.ts";
import { runtimeName } from "../helpers/net.ts";
import { skip } from "../helpers/skip.ts";

const test = suite(`native: io_uring, a SHUTDOWN after a WRITE in the same turn (${runtimeName()})`);

for (const blockWait of [true, false]) {
  for (const others of [0, 2100]) {
    test(`the peer gets the bytes, then the end (${blockWait ? "DEFER_TASKRUN" : "poller thread"}, ${others} other sends queued first)`, async () => {
      const rig = await uringRig({ blockWait, caps: { submitCap: 4096, eventCap: 4096 } });
      if (typeof rig === "string") return skip(rig);
      try {
        const l = rig.listen(10, 1);
        const a = rig.pair(l, 10, 1, 1, 1, 2, 1); // the server's side (slot 2) writes and shuts down
        const b = rig.pair(l, 10, 1, 3, 1, 4, 1); // the other connection's sends fill the queue
        rig.supply(16, 17, 18, 19, 20, 21, 22, 23);
        for (let i = 0; i < 10; i++) rig.turn();
        rig.fillChunk(0, "hello");
        rig.fillChunk(1, "x");
        rig.submit(K.SQ_WRITE, 2, 1, a.server, 0, 5);
        for (let i = 0; i < others; i++) rig.submit(K.SQ_WRITE, 4, 1, b.server, 1, 1);
        rig.submit(K.SQ_SHUTDOWN, 2, 1, a.server);
        const { got, end, done } = rig.readToEnd(rig.turn(), 2, 1);
        assert.equal(done, [5, 0], "the WRITE was done whole (it fails with EPIPE if the FIN went first)");
        assert.is(got, 5, "the peer got the five bytes before the end");
        assert.ok(end, "then the end of the stream");
      } finally { rig.destroy(); }
    });
  }
}

test.run();
