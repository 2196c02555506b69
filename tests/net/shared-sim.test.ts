// The shared API tests (tests/net/shared.ts) on the simulator: the same test code as
// shared-epoll.test.ts, with SimPeers as the remote ends and virtual time.
import { suite } from "uvu";
import * as assert from "uvu/assert";
import { defineSharedTests } from "./shared.ts";
import { simHarness } from "../helpers/peer.ts";
import { abandonAll, netReactor } from "../helpers/net.ts";

const test = suite("net: shared API tests on the simulator");
test.after(abandonAll);
defineSharedTests(test, simHarness);

// Regression, was (sim host): SimNetwork.wait(timeoutMs) ignores completions that execute() has already
// posted to the core's event ring (WRITE_DONE here): hasImmediate() looks only at sockets and
// the overflow list, so with a finite timeout virtual time jumps to the deadline before the
// next turn ingests them. A FIN queued behind a write goes out only after the jump. With
// timeout -1 the wait reports idle and runUntil() recovers (busy()), which hides it.
test("regression (sim): a FIN queued behind a write goes out without a jump in virtual time", async () => {
  const r = await netReactor({ host: "sim", allowHalfOpen: true });
  let wroteAt = -1;
  const l = r.listen({ port: 0 }, { end(c) { r.setTimeout(() => { wroteAt = r.nowMs(); c.end("reply"); }, 50); } });
  const p = r.sim!.connect(l.port);
  p.send("request");
  p.end();
  const ok = r.runUntil(() => p.gotFin, { maxMs: 5000 });
  assert.ok(ok, "our FIN arrived");
  assert.is(wroteAt, 50);
  assert.ok(r.nowMs() <= 51, `no jump in virtual time (now ${r.nowMs()} ms, expected about 50)`);
  await r.close({ drainMs: 0 });
});

test.run();
