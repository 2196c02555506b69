// Fixed in a77f006 (a SHUTDOWN behind a long write waits for its last window: O_WIN, O_SHUT in
// uring.c); what follows is the bug as review found it.
// Review of the io_uring long writes (1f57323..8515e49): a WRITE of more than 64 chunks (MAX_IOV)
// and a SHUTDOWN of the same connection in one turn. uring.c's contract for SHUTDOWN is "after
// submitting the sends queued before it" (docs/backends.md; tests/native/uring-shutdown.test.ts
// checks it for a short WRITE), and a long WRITE now ends "in one EV_WRITE_DONE, as epoll's sendmsg
// loop gives". But ur_shutdown submits only the first window: the next one is queued later, from
// that window's completion in ur_decode, after shutdown(2) already ran, so it meets EPIPE. The
// peer gets 64 chunks and then the end; epoll's WRITE (run to the end before the SHUTDOWN) sends
// every byte first. The core itself sends its FIN only once the queued bytes are written, so the
// shim is driven by hand through a core's memory (tests/helpers/native.ts), as uring-shutdown does.
// Expected on every backend: the WRITE done whole, the peer gets every byte, then the end.
import { suite } from "uvu";
import * as assert from "uvu/assert";
import { K, ShimRig, uringRig } from "../helpers/native.ts";
import { runtimeName } from "../helpers/net.ts";
import { skip } from "../helpers/skip.ts";

const test = suite(`native: review, a long WRITE then a SHUTDOWN in one turn (${runtimeName()})`);

const N = 200, LEN = 100, BYTES = N * LEN; // 20,000 bytes: the socket buffers hold them all

async function run(rig: ShimRig): Promise<void> {
  rig.setCursor("readsPerConn", 64);
  const l = rig.listen(10, 1);
  const p = rig.pair(l, 10, 1, 1, 1, 2, 1); // the server's side (slot 2) writes and shuts down
  for (let c = 400; c < 464; c++) rig.supply(c);
  rig.turn();
  for (let k = 0; k < N; k++) { rig.fillChunk(k, String.fromCharCode(97 + (k % 26)).repeat(LEN)); rig.chunk(k, 0, LEN, k + 1 < N ? k + 1 : K.NONE); }
  rig.submit(K.SQ_WRITE, 2, 1, p.server, 0, BYTES);
  rig.submit(K.SQ_SHUTDOWN, 2, 1, p.server);
  const { got, end, done } = rig.readToEnd(rig.turn(), 2, 1);
  assert.equal(done, [BYTES, 0], "the WRITE was done whole before the FIN (EPIPE after the first 64 chunks if the FIN overtook the next window)");
  assert.is(got, BYTES, "the peer got every byte before the end");
  assert.ok(end, "then the end of the stream");
  assert.is(rig.violations(), 0);
}

for (const blockWait of [true, false]) {
  test(`uring (${blockWait ? "DEFER_TASKRUN" : "poller thread"}): 200 chunks then SHUTDOWN: every byte, then the end`, async () => {
    const rig = await uringRig({ blockWait, caps: { chunkCount: 512, chunkSize: 1024, eventCap: 1024, submitCap: 256, supplyCap: 64 } });
    if (typeof rig === "string") return skip(rig);
    try { await run(rig); } finally { rig.destroy(); }
  });
}

test("epoll: 200 chunks then SHUTDOWN: every byte, then the end (the behaviour the io_uring host should match)", async () => {
  const rig = await ShimRig.create("release", { backend: "epoll", caps: { chunkCount: 512, chunkSize: 1024, eventCap: 1024, submitCap: 256, supplyCap: 64 } });
  try { await run(rig); } finally { rig.destroy(); }
});

test.run();
