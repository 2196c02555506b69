// The native shim's lifecycle edges: a wake from another thread's point of view after the
// reactor is gone (a handle, never a descriptor number), and destroy() while the poller thread
// waits or has a callback queued. On the release build, on its io_uring backend (Linux: the
// poller thread polls the ring's registered eventfd; a skip line where io_uring cannot start)
// and on the kqueue backend (on Linux its libkqueue test build, whose poller thread waits in
// kevent(); a skip line where not built).
import { suite } from "uvu";
import * as assert from "uvu/assert";
import { ShimRig, ForeignFile, K, shimTargets, type ShimBackend } from "../helpers/native.ts";
import { runtimeName } from "../helpers/net.ts";
import type { NativeBuild } from "../../host/backends/native.ts";
import { kqueueBuild } from "../../host/backends/kqueue/kqueue.ts";
import { skip } from "../helpers/skip.ts";

const test = suite(`native: lifecycle (${runtimeName()})`);
for (const { build, backend, label, why } of shimTargets(kqueueBuild())) {
  if (why) test(`${label}every test`, () => skip(why));
  else cases(build, backend, label);
}

function cases(build: NativeBuild, backend: ShimBackend, label: string): void {
  const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

  test(`${label}wake(handle) after destroy writes to no descriptor, even one that reused the number`, async () => {
    const rig = await ShimRig.create(build, { backend });
    const n = rig.n;
    const handle = n.wakeHandle(rig.h);
    assert.ok(n.wake(handle), "a live reactor is woken");
    rig.destroy();
    // Descriptors freed by destroy (the eventfd among them) are reused lowest first: open a few.
    const files = Array.from({ length: 4 }, () => new ForeignFile());
    try {
      assert.is(n.wake(handle), false, "a destroyed reactor's handle wakes nothing");
      for (const f of files) assert.is(f.intact(), undefined);
    } finally { for (const f of files) f.close(); }
    const again = await ShimRig.create(build, { backend }); // may take the same wake slot: a new generation
    try {
      assert.is(n.wake(handle), false, "the old handle does not wake the slot's next reactor");
      assert.ok(n.wake(n.wakeHandle(again.h)));
    } finally { again.destroy(); }
  });

  test(`${label}wake() refuses what is not a handle`, async () => {
    const rig = await ShimRig.create(build, { backend });
    try {
      const n = rig.n, h = n.wakeHandle(rig.h);
      for (const bad of [-1, 0.5, h + 0.5, NaN, Infinity, 2 ** 60, h + 1 /* the other build's tag */]) assert.is(n.wake(bad), false, `wake(${bad})`);
    } finally { rig.destroy(); }
  });

  test(`${label}destroy while the poller thread waits: joined at once, the callback never runs`, async () => {
    const rig = await ShimRig.create(build, { backend });
    let called = 0;
    rig.n.waitAsync(rig.h, 60_000, () => { called++; }); // the poller sits in poll() for up to a minute
    await sleep(20);
    assert.is(rig.destroy(), 0, "returns (a hang here is the failure), no descriptor left open");
    await sleep(50);
    assert.is(called, 0);
  });

  test(`${label}destroy with a wake-up already queued for JS: the queued callback calls nothing`, async () => {
    const rig = await ShimRig.create(build, { backend });
    let called = 0;
    rig.n.waitAsync(rig.h, 60_000, () => { called++; });
    assert.ok(rig.n.wake(rig.n.wakeHandle(rig.h)));
    // the poller returns from poll() and queues the call for this thread; destroy before it runs
    for (let i = 0; i < 1000; i++) { /* give the poller a moment without yielding to the loop */ }
    rig.destroy();
    await sleep(50);
    assert.is(called, 0, "the aborted thread-safe function drops the queued call");
  });

  test(`${label}kernel queues are sampled off the reactor's thread, and closes during a sweep are safe`, async () => {
    const rig = await ShimRig.create(build, { backend });
    try {
      const l = rig.listen(10, 1);
      const pairs: { client: number; server: number }[] = [];
      for (let i = 0; i < 6; i++) pairs.push(rig.pair(l, 10, 1, 2 * i + 1, 1, 2 * i + 2, 1));
      // each client sends 100 bytes its server never reads: they sit in the server's receive queue
      rig.fillChunk(0, "x".repeat(100));
      for (const [i, p] of pairs.entries()) rig.submit(K.SQ_WRITE, 2 * i + 1, 1, p.client, 0, 100);
      for (const [i, p] of pairs.entries()) rig.submit(K.SQ_INTEREST, 2 * i + 2, 1, p.server, 0); // nobody reads
      rig.turn();
      const sweeps = rig.nativeStats().queueSweeps;
      rig.n.sampleQueues(rig.h, 4096); // returns at once: the sampler thread sweeps
      for (let i = 0; i < 200 && rig.nativeStats().queueSweeps === sweeps; i++) await sleep(5);
      const s = rig.nativeStats();
      assert.is(s.queueSweeps, sweeps + 1, "one sweep done");
      assert.is(s.queueSockets, 12, "every connection of ours: 6 clients, 6 servers (not the listener)");
      assert.is(s.recvQueueBytes, 600, "the unread bytes, as the kernel counts them");
      // Closes on this thread while sweeps run: each close waits for at most one slice.
      for (let round = 0; round < 20; round++) rig.n.sampleQueues(rig.h, 4096);
      for (const [i, p] of pairs.entries()) { rig.submit(K.SQ_CLOSE, 2 * i + 1, 1, p.client); rig.submit(K.SQ_CLOSE, 2 * i + 2, 1, p.server); }
      rig.turn();
      assert.is(rig.nativeStats().fdsOpen, 1, "only the listener is left");
    } finally { rig.destroy(); }
  });
}

test.run();
