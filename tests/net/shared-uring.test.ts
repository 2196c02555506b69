// The shared API tests (tests/net/shared.ts) on the io_uring host: the same test code as
// shared-sim.test.ts and shared-epoll.test.ts, with the server reactor on host "uring" and its
// peers on epoll. uring works on completions, so there is no level/edge pair: one run, in
// wait "thread" (the poller thread waits on the ring's registered eventfd). Where io_uring
// cannot run (kernel, seccomp, headers older than 6.1 at build time) one skip line says why.
import { suite } from "uvu";
import { defineSharedTests } from "./shared.ts";
import { uringHarness } from "../helpers/peer.ts";
import { abandonAll } from "../helpers/net.ts";
import { unavailable } from "../helpers/contract.ts";
import { skip } from "../helpers/skip.ts";

const why = unavailable({ name: "uring", options: { host: "uring", wait: "thread" } });
if (why) {
  const none = suite("net: shared API tests on uring");
  none("uring host", () => skip(`host 'uring' cannot run here: ${why}`));
  none.run();
} else {
  const test = suite("net: shared API tests on uring (io_uring completions)");
  test.after(abandonAll);
  defineSharedTests(test, uringHarness());
  test.run();
}
