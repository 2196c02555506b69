// Fixed in a77f006 (a window of empty chunks is stepped over); what follows is the bug as review
// found it.
// Found while reviewing the io_uring long writes (not part of that change): epoll's wr_write
// (shims/native/io.c) loops for ever on a chain whose window holds no byte. A WRITE of 1 byte over
// 64 chunks of length 0 and then one of 1 byte passes check_chain (it counts bytes, and a chunk may
// be empty); the loop builds 64 empty iovecs (MAX_IOV), sendmsg returns 0, which is not less than
// the window's 0 bytes, the position does not move, and the same window is sent again, for ever:
// the turn never returns. The core never queues an empty chunk (commands.ts refuses len 0), but the
// shim's rule is that a broken core gets an answer and a violation, never a hang (docs/backends.md:
// "so nothing waits forever"); io_uring's send_window ends the same WRITE at once (0 bytes,
// EAGAIN). The turn runs in a child process of this runtime with a time limit, since a hung turn
// cannot be interrupted from JS. Expected: the child's turn returns (with an EV_WRITE_DONE).
import { suite } from "uvu";
import * as assert from "uvu/assert";
import { spawnSync } from "node:child_process";
import { fileURLToPath } from "node:url";
import { K, ShimRig } from "../helpers/native.ts";
import { runtimeName, selfCommand } from "../helpers/net.ts";

const CHILD_ENV = "WASM_REACTOR_REVIEW_ZERO_CHILD";

async function child(backend: "epoll" | "uring"): Promise<void> {
  const rig = await ShimRig.create("release", { backend, caps: { chunkCount: 512, chunkSize: 1024, eventCap: 1024, submitCap: 256, supplyCap: 64 } });
  try {
    const l = rig.listen(10, 1);
    const p = rig.pair(l, 10, 1, 1, 1, 2, 1);
    for (let c = 400; c < 464; c++) rig.supply(c);
    rig.turn();
    for (let k = 0; k < 64; k++) rig.chunk(k, 0, 0, k + 1);
    rig.fillChunk(64, "x");
    rig.chunk(64, 0, 1, K.NONE);
    rig.submit(K.SQ_WRITE, 2, 1, p.server, 0, 1);
    const evs = rig.turn();
    const done = evs.filter((e) => e.type === K.EV_WRITE_DONE && e.slot === 2).map((e) => [e.b, e.err]);
    console.log(JSON.stringify({ returned: true, done }));
  } finally { rig.destroy(); }
}

const which = process.env[CHILD_ENV];
if (which === "epoll" || which === "uring") {
  await child(which);
} else {
  const test = suite(`native: review, a WRITE window of empty chunks (${runtimeName()})`);
  test("epoll: a WRITE whose first 64 chunks are empty: the turn returns (was: sendmsg of 0 bytes for ever)", () => {
    const [cmd, args] = selfCommand(fileURLToPath(import.meta.url));
    const r = spawnSync(cmd, args, { env: { ...process.env, [CHILD_ENV]: "epoll", DENO_NO_UPDATE_CHECK: "1" }, encoding: "utf8", timeout: 15_000 });
    const out = (r.stdout ?? "").trim();
    assert.ok(/"returned":true/.test(out), `the child's turn returned (status ${r.status}, signal ${r.signal}${r.signal === "SIGTERM" ? ": killed after 15 s, the turn never returned" : ""}; stdout ${out.slice(0, 200)}; stderr ${(r.stderr ?? "").slice(0, 300)})`);
  });
  test.run();
}
