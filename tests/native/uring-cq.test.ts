// More completions in one turn than the io_uring completion queue holds (CQ_ENTRIES = 16,384 in
// uring.c): the kernel keeps the rest (IORING_FEAT_NODROP, required at setup) and hands them
// over as the queue drains. None may be lost or repeated, the reactor must not fail, and the
// turn that found the queue overflowed is counted (uringCqOverflows, exported as
// wasm_reactor_host_uring_cq_overflow_turns_total), since a server that sees it often wants its
// turns closer together or fewer connections per reactor. Driven by hand through a core's memory
// (tests/helpers/native.ts): one turn submits 17,000 one-byte WRITEs on one connection, each a
// SEND that completes during the submit (MSG_DONTWAIT), before the turn reads any completion.
import { suite } from "uvu";
import * as assert from "uvu/assert";
import { K, uringRig } from "../helpers/native.ts";
import { runtimeName } from "../helpers/net.ts";
import { skip } from "../helpers/skip.ts";

const test = suite(`native: io_uring, a completion queue overflowed (${runtimeName()})`);
const CQ_ENTRIES = 16384, WRITES = 17000, CAP = 32768;

for (const blockWait of [true, false]) {
  const mode = blockWait ? "DEFER_TASKRUN" : "a poller thread's ring";
  test(`${WRITES} sends in one turn: every WRITE gets one EV_WRITE_DONE, the peer every byte, the overflow is counted (${mode})`, async () => {
    const rig = await uringRig({ blockWait, caps: { submitCap: CAP, eventCap: CAP } });
    if (typeof rig === "string") return skip(rig);
    try {
      rig.setCursor("readsPerConn", 64);
      const l = rig.listen(10, 1);
      const a = rig.pair(l, 10, 1, 1, 1, 2, 1);
      rig.supply(16, 17, 18, 19, 20, 21, 22, 23);
      rig.turn();
      rig.fillChunk(0, "x");
      for (let i = 0; i < WRITES; i++) rig.submit(K.SQ_WRITE, 2, 1, a.server, 0, 1);
      const s0 = rig.nativeStats();
      let done = 0, bad = 0, got = 0;
      for (let i = 0; i < 400 && (done < WRITES || got < WRITES); i++) {
        if (i > 0) rig.n.turn(rig.h, i < 20 ? 0 : 5);
        const evs = i === 0 ? rig.turn() : rig.events();
        for (const e of evs) {
          if (e.type === K.EV_WRITE_DONE && e.slot === 2) { done++; if (e.b !== 1 || e.err !== 0) bad++; }
          if (e.type === K.EV_READ && e.slot === 1 && e.b > 0) { got += e.b; rig.supply(e.a); }
        }
      }
      const s1 = rig.nativeStats();
      assert.is(done, WRITES, "one EV_WRITE_DONE per WRITE, none lost, none repeated");
      assert.is(bad, 0, "each with its byte, no error");
      assert.is(got, WRITES, "the peer read every byte");
      assert.ok(s1.uringCqOverflows - s0.uringCqOverflows >= 1, `the overflow was counted (${s1.uringCqOverflows - s0.uringCqOverflows} turns; ${WRITES} completions against a queue of ${CQ_ENTRIES})`);
      assert.is(rig.violations(), 0);
      assert.is(rig.n.violation(rig.h) ?? undefined, undefined);
    } finally { rig.destroy(); }
  });
}

test.run();
