// A pause the core sets before a listener's interest reaches the host holds from that first
// moment: with HOST_ACCEPTS_PAUSED set, a listener registered now opens no descriptor, even with
// clients already in its backlog, until the pause lifts. The core pauses accepting for its
// descriptor budget (among other reasons): an accept behind its back spends descriptors it has
// not got. Regression, was (io_uring, found by review): the listener's multishot ACCEPT (now a
// poll) was armed and cancelled in the same submission; it ran inline at the submit first and
// took the whole backlog, held out of the core's sight but open. Driven by hand through a core's memory
// (tests/helpers/native.ts) on every backend this machine can run. Linux only: which of the
// process's descriptors are the listener's connections is read from /proc.
import { suite } from "uvu";
import * as net from "node:net";
import * as assert from "uvu/assert";
import { readFileSync, readdirSync, readlinkSync } from "node:fs";
import { platform } from "node:os";
import { ShimRig, K, shimTargets } from "../helpers/native.ts";
import { runtimeName } from "../helpers/net.ts";
import { kqueueBuild } from "../../host/backends/kqueue/kqueue.ts";
import { headerWord } from "../../host/core/core.ts";
import { skip } from "../helpers/skip.ts";

const test = suite(`native: pauses hold from the first interest (${runtimeName()})`);
const HOST_FLAGS = headerWord("hostFlags");

/** Descriptors of this process that are TCP sockets with local port `port`, the listener's included. */
function socketsOnPort(port: number): number {
  const inodes = new Set<string>();
  for (const file of ["/proc/net/tcp", "/proc/net/tcp6"]) {
    let text = "";
    try { text = readFileSync(file, "utf8"); } catch { continue; }
    for (const line of text.split("\n").slice(1)) {
      const f = line.trim().split(/\s+/);
      if (f.length > 9 && parseInt(f[1].split(":")[1], 16) === port) inodes.add(f[9]);
    }
  }
  let n = 0;
  for (const name of readdirSync("/proc/self/fd")) {
    let target = "";
    try { target = readlinkSync(`/proc/self/fd/${name}`); } catch { continue; } // closed while listing
    const m = /^socket:\[(\d+)\]$/.exec(target);
    if (m && inodes.has(m[1])) n++;
  }
  return n;
}

for (const { build, backend, label, why } of shimTargets(kqueueBuild())) {
  test(`${label}a listener registered while accepts are paused opens no descriptor for its waiting clients until they resume`, async () => {
    if (why) return skip(why);
    if (platform() !== "linux") return skip("reads the process's sockets from /proc (Linux)");
    const rig = await ShimRig.create(build, { backend });
    const clients: net.Socket[] = [];
    try {
      const u = rig.core.u32;
      const [lfd, port] = rig.n.listen(rig.h, "127.0.0.1", 0, 64, 0);
      // Four clients wait in the backlog (connected: the kernel completed their handshakes).
      for (let i = 0; i < 4; i++) clients.push(await new Promise<net.Socket>((ok, ko) => { const c = net.connect(port, "127.0.0.1", () => ok(c)).on("error", ko); }));
      assert.is(socketsOnPort(port), 1, "only the listener is ours before its interest");
      u[HOST_FLAGS] = K.HOST_ACCEPTS_PAUSED;
      const sqes0 = rig.nativeStats().uringSqes;
      rig.submit(K.SQ_INTEREST, 10, 1, lfd, K.IN_READ);
      for (let i = 0; i < 6; i++) {
        rig.n.turn(rig.h, i < 3 ? 0 : 5);
        assert.equal(rig.events().filter((e) => e.type === K.EV_ACCEPTED), [], "nothing accepted while paused");
      }
      assert.is(socketsOnPort(port), 1, "no client accepted behind the core's back while accepts are paused");
      // io_uring: nothing armed (a poll armed and cancelled in one submission now accepts nothing,
      // but arming it at all is what let the multishot accept in; 2 operations if it is)
      assert.is(rig.nativeStats().uringSqes - sqes0, 0, "no operation submitted for the paused listener");
      u[HOST_FLAGS] = 0;
      let accepted = 0;
      for (let i = 0; i < 200 && accepted < 4; i++) {
        rig.n.turn(rig.h, i < 3 ? 0 : 5);
        accepted += rig.events().filter((e) => e.type === K.EV_ACCEPTED && e.slot === 10 && e.fd >= 0).length;
      }
      assert.is(accepted, 4, "the waiting clients are accepted once accepts resume");
      assert.is(socketsOnPort(port), 5, "the listener and its four connections");
    } finally {
      rig.destroy();
      for (const c of clients) c.destroy();
    }
  });
}

test.run();
