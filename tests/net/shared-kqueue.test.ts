// The shared API tests (tests/net/shared.ts) on the kqueue host: the same test code as
// shared-sim.test.ts and shared-epoll.test.ts, once level-triggered, once edge-triggered (EV_CLEAR).
// On Linux the server runs on the libkqueue test build of the shim and its peers on epoll; where
// that build is absent (no cmake at build time), the suite says so in one skip line.
import { suite } from "uvu";
import { defineSharedTests } from "./shared.ts";
import { kqueueHarness } from "../helpers/peer.ts";
import { abandonAll } from "../helpers/net.ts";
import { unavailable } from "../helpers/contract.ts";
import { skip } from "../helpers/skip.ts";

const why = unavailable({ name: "kqueue", options: { host: "kqueue", wait: "thread" } });
if (why) {
  const none = suite("net: shared API tests on kqueue");
  none("kqueue host", () => skip(`host 'kqueue' cannot run here: ${why}`));
  none.run();
} else {
  const level = suite("net: shared API tests on kqueue (level-triggered)");
  level.after(abandonAll);
  defineSharedTests(level, kqueueHarness({ edgeTriggered: false }));
  level.run();

  const edge = suite("net: shared API tests on kqueue (edge-triggered, EV_CLEAR)");
  edge.after(abandonAll);
  defineSharedTests(edge, kqueueHarness({ edgeTriggered: true }));
  edge.run();
}
