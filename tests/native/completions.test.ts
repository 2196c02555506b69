// Completions the core waits for are never held behind work the shim holds back. A host may
// hold a connection's reads (past readsPerConn this turn, or while the core has paused reads
// under pool pressure, HOST_READS_PAUSED), but a WRITE's completion is what frees the chunks
// the core needs to resume reading: holding it behind those reads is a deadlock (seen on the
// io_uring backend, which keeps a descriptor's completions in order: a 1 MiB echo stopped with
// 64 KiB read and nothing written back, tests/net/shared-uring.test.ts). Driven by hand through a
// core's memory (tests/helpers/native.ts), on every backend this machine can run.
import { suite } from "uvu";
import * as net from "node:net";
import * as assert from "uvu/assert";
import { ShimRig, K, shimTargets } from "../helpers/native.ts";
import { runtimeName } from "../helpers/net.ts";
import { kqueueBuild } from "../../host/backends/kqueue/kqueue.ts";
import { headerWord } from "../../host/core/core.ts";
import { skip } from "../helpers/skip.ts";

const test = suite(`native: completions are not held behind held reads (${runtimeName()})`);
const HOST_FLAGS = headerWord("hostFlags"), READS_PER_CONN = headerWord("readsPerConn");
const READS_PAUSED = K.HOST_READS_PAUSED;
const ACCEPT_BUDGET = headerWord("acceptBudget");
const u32Of = (rig: ShimRig) => rig.core.u32;

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

  // Regression, was (io_uring, found by review): a receive's completion held while the core had
  // reads paused did not count as work once the core lifted the pause, so the next blocking turn
  // slept in io_uring_enter until its timeout (or some other arrival) before serving the data: a
  // peer waiting for its reply waited with it. Epoll and kqueue see the socket ready again at once.
  test(`${label}data held while reads were paused is served by the first blocking turn after they resume, not after its timeout`, async () => {
    if (why) return skip(why);
    const rig = await ShimRig.create(build, { backend });
    try {
      const u = rig.core.u32;
      u[READS_PER_CONN] = 8;
      const l = rig.listen(10, 1);
      const { client } = rig.pair(l, 10, 1, 1, 1, 2, 1);
      rig.supply(10, 11, 12, 13, 14, 15, 16, 17);
      for (let i = 0; i < 3; i++) { rig.n.turn(rig.h, 0); rig.events(); }
      u[HOST_FLAGS] = READS_PAUSED;
      rig.fillChunk(0, "ping");
      rig.submit(K.SQ_WRITE, 1, 1, client, 0, 4);
      for (let i = 0; i < 20; i++) {
        rig.n.turn(rig.h, i < 10 ? 0 : 5);
        assert.equal(rig.events().filter((e) => e.type === K.EV_READ && e.slot === 2), [], "no read while reads are paused");
      }
      u[HOST_FLAGS] = 0;
      const t0 = performance.now();
      rig.n.turn(rig.h, 4000);
      const ms = performance.now() - t0;
      const read = rig.events().find((e) => e.type === K.EV_READ && e.slot === 2);
      assert.ok(read && read.b === 4, "the held bytes came in that turn");
      assert.ok(ms < 2000, `the turn slept ${Math.round(ms)} ms with the data ready (its timeout: 4000 ms)`);
    } finally { rig.destroy(); }
  });

  // Regression, was (io_uring, found by review): a multishot accept took every queued client at
  // once; those past the turn's acceptBudget waited in the host, already accepted, and destroying
  // the reactor freed them without closing them: sockets the core never heard of, left open
  // (their clients connected) until the process ended. The host now accepts as epoll does, up to
  // the budget; either way, every client past it must see its close when the reactor goes.
  test(`${label}destroy closes clients accepted but not yet handed to the core (past acceptBudget)`, async () => {
    if (why) return skip(why);
    const rig = await ShimRig.create(build, { backend });
    const clients: net.Socket[] = [];
    let port = 0;
    try {
      const l = rig.listen(10, 1);
      port = l.port;
      u32Of(rig)[ACCEPT_BUDGET] = 1;
      for (let i = 0; i < 4; i++) clients.push(await new Promise<net.Socket>((ok, ko) => { const c = net.connect(l.port, "127.0.0.1", () => ok(c)).on("error", ko); }));
      let accepted = 0;
      for (let i = 0; i < 20 && accepted === 0; i++) { rig.n.turn(rig.h, i < 5 ? 0 : 5); accepted += rig.events().filter((e) => e.type === K.EV_ACCEPTED).length; u32Of(rig)[ACCEPT_BUDGET] = 0; }
      assert.is(accepted, 1, "one accepted within the budget");
    } finally { rig.destroy(); }
    // every client sees its server side closed: none is left open behind the reactor's back
    const closedAll = await Promise.all(clients.map((c) => new Promise<boolean>((ok) => {
      const t = setTimeout(() => ok(false), 3000);
      c.on("close", () => { clearTimeout(t); ok(true); }).on("end", () => c.destroy()).on("error", () => c.destroy());
      c.resume();
    })));
    for (const c of clients) c.destroy(); // a failure leaves none open to hold the runtime
    assert.equal(closedAll, clients.map(() => true), `clients of port ${port} whose server socket was closed`);
  });
}

test.run();
