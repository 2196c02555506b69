// The native shim's lifecycle edges: a wake from another thread's point of view after the
// reactor is gone (a handle, never a descriptor number), and destroy() while the poller thread
// waits or has a callback queued.
import { suite } from "uvu";
import * as assert from "uvu/assert";
import { ShimRig, ForeignFile } from "../helpers/native.ts";
import { runtimeName } from "../helpers/net.ts";

const test = suite(`native: lifecycle (${runtimeName()})`);
const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

test("wake(handle) after destroy writes to no descriptor, even one that reused the number", async () => {
  const rig = await ShimRig.create();
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
  const again = await ShimRig.create(); // may take the same wake slot: a new generation
  try {
    assert.is(n.wake(handle), false, "the old handle does not wake the slot's next reactor");
    assert.ok(n.wake(n.wakeHandle(again.h)));
  } finally { again.destroy(); }
});

test("wake() refuses what is not a handle", async () => {
  const rig = await ShimRig.create();
  try {
    const n = rig.n, h = n.wakeHandle(rig.h);
    for (const bad of [-1, 0.5, h + 0.5, NaN, Infinity, 2 ** 60, h + 1 /* the other build's tag */]) assert.is(n.wake(bad), false, `wake(${bad})`);
  } finally { rig.destroy(); }
});

test("destroy while the poller thread waits: joined at once, the callback never runs", async () => {
  const rig = await ShimRig.create();
  let called = 0;
  rig.n.waitAsync(rig.h, 60_000, () => { called++; }); // the poller sits in poll() for up to a minute
  await sleep(20);
  assert.is(rig.destroy(), 0, "returns (a hang here is the failure), no descriptor left open");
  await sleep(50);
  assert.is(called, 0);
});

test("destroy with a wake-up already queued for JS: the queued callback calls nothing", async () => {
  const rig = await ShimRig.create();
  let called = 0;
  rig.n.waitAsync(rig.h, 60_000, () => { called++; });
  assert.ok(rig.n.wake(rig.n.wakeHandle(rig.h)));
  // the poller returns from poll() and queues the call for this thread; destroy before it runs
  for (let i = 0; i < 1000; i++) { /* give the poller a moment without yielding to the loop */ }
  rig.destroy();
  await sleep(50);
  assert.is(called, 0, "the aborted thread-safe function drops the queued call");
});

test.run();
