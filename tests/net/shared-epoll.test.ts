// The shared API tests (tests/net/shared.ts) on real sockets: the same test code as
// shared-sim.test.ts. The server reactor and the peers' reactor (client connections on
// 127.0.0.1) both run in wait: "thread"; once level-triggered, once edge-triggered.
import { suite } from "uvu";
import { defineSharedTests } from "./shared.ts";
import { epollHarness } from "../helpers/peer.ts";
import { abandonAll } from "../helpers/net.ts";

// The half-close test pins a regression in edge mode: a FIN that arrived with the last bytes
// was never read (a short read was taken for "drained"; no new edge comes for the EOF).

const level = suite("net: shared API tests on epoll (level-triggered)");
level.after(abandonAll);
defineSharedTests(level, epollHarness({ edgeTriggered: false }));
level.run();

const edge = suite("net: shared API tests on epoll (edge-triggered)");
edge.after(abandonAll);
defineSharedTests(edge, epollHarness({ edgeTriggered: true }));
edge.run();
