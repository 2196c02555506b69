// Completions the core waits for are never held behind work the shim holds back. A host may
// hold a connection's reads (past readsPerConn this turn, or while the core has paused reads
// under pool pressure, HOST_READS_PAUSED), but a WRITE's completion is what frees the chunks
// the core needs to resume reading: holding it behind those reads is a deadlock (seen on the
// io_uring backend, which keeps a descriptor's completions in order: a 1 MiB echo stopped with
// 64 KiB read and nothing written back, tests/net/shared-uring.test.ts). Driven by hand through a
// core's memory (tests/helpers/native.ts), on every backend this machine can run.
import { suite } from "uvu";
import * as assert from "uvu/assert";
import { ShimRig, K, shimTargets } from "../helpers/native.ts";
import { runtimeName } from "../helpers/net.ts";
import { kqueueBuild } from "../../host/backends/kqueue/kqueue.ts";
import { headerWord } from "../../host/core/core.ts";
import { skip } from "../helpers/skip.ts";

const test = suite(`native: completions are not held behind held reads (${runtimeName()})`);
const HOST_FLAGS = headerWord("hostFlags"), READS_PER_CONN = headerWord("readsPerConn");
const READS_PAUSED = K.HOST_READS_PAUSED;

for (const { build, backend, label, why } of shimTargets(kqueueBuild())) {
  test(`${label}a WRITE's completion comes while the connection's reads are held (reads paused)`, async () => {
    if (why) return skip(why);
    const rig = await ShimRig.create(build, { backend });
    try {
      const u = rig.core.u32;
      u[READS_PER_CONN] = 1;
      const l = rig.listen(10, 1);
      const { client, server } = rig.pair(l, 10, 1, 1, 1, 2, 1);
      // The client sends 6 chunks' worth; the server reads one this turn.
      rig.fillChunk(0, "y".repeat(1000));
      for (let i = 0; i < 6; i++) rig.submit(K.SQ_WRITE, 1, 1, client, 0, 1000);
      rig.supply(10, 11, 12, 13, 14, 15, 16, 17);
      const first = rig.turnUntil((e) => e.type === K.EV_READ && e.slot === 2, "the server's first read");
      assert.ok(first.b > 0);
      // Now the core pauses reads (its pool at the reserve) and writes back what it read.
      u[HOST_FLAGS] = READS_PAUSED;
      rig.fillChunk(1, "echo");
      rig.submit(K.SQ_WRITE, 2, 1, server, 1, 4);
      let done;
      for (let i = 0; i < 50 && !done; i++) {
        rig.n.turn(rig.h, i < 3 ? 0 : 5);
        const evs = rig.events();
        assert.equal(evs.filter((e) => e.type === K.EV_READ && e.slot === 2), [], "no read while reads are paused");
        done = evs.find((e) => e.type === K.EV_WRITE_DONE && e.slot === 2);
      }
      assert.ok(done, "the server's WRITE_DONE came although its reads are held");
      assert.equal([done!.b, done!.err], [4, 0]);
      // Reads resume: the rest arrives, in order, nothing lost.
      u[HOST_FLAGS] = 0;
      let total = first.b;
      for (let i = 0; i < 200 && total < 6000; i++) {
        rig.n.turn(rig.h, i < 3 ? 0 : 5);
        for (const e of rig.events()) {
          if (e.type === K.EV_READ && e.slot === 2) { total += e.b; rig.supply(e.a); }
        }
      }
      assert.is(total, 6000, "every byte the client sent was read once reads resumed");
    } finally { rig.destroy(); }
  });
}

test.run();
