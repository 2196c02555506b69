// Listeners share the turn's accept budget fairly: with two listeners whose backlogs both hold
// more clients than one turn's budget, each accepts within the first turns; neither waits while
// the other empties its backlog. The budget (acceptsPerTurn, lowered by the descriptor budget)
// bounds a turn's accepts in all; a flood on one port must not starve another port of the same
// server (a health check's port, an admin port). Was: the shim served the listeners in the order
// the backend reported them and each took what the budget had left, so the first took all of it,
// turn after turn, until its backlog was empty. Driven by hand through a core's memory
// (tests/helpers/native.ts) on every backend this machine can run.
import { suite } from "uvu";
import * as net from "node:net";
import * as assert from "uvu/assert";
import { ShimRig, K, shimTargets } from "../helpers/native.ts";
import { runtimeName } from "../helpers/net.ts";
import { kqueueBuild } from "../../host/backends/kqueue/kqueue.ts";
import { headerWord } from "../../host/core/core.ts";
import { skip } from "../helpers/skip.ts";

const test = suite(`native: listeners share the accept budget (${runtimeName()})`);
const ACCEPT_BUDGET = headerWord("acceptBudget");
const BUDGET = 4, CLIENTS = 12;

for (const { build, backend, label, why } of shimTargets(kqueueBuild())) {
  for (const edge of backend === "uring" ? [false] : [false, true]) {
    test(`${label}${edge ? "edge: " : ""}two flooded listeners both accept from the first turns, within the budget`, async () => {
      if (why) return skip(why);
      const rig = await ShimRig.create(build, { backend, edge, caps: { slotCap: 64 } });
      const clients: net.Socket[] = [];
      try {
        rig.core.u32[ACCEPT_BUDGET] = BUDGET;
        const a = rig.listen(10, 1), b = rig.listen(11, 1);
        // Both backlogs full before either listener is served again (connected: the kernel
        // completed their handshakes).
        const connect = (port: number) => new Promise<net.Socket>((ok, ko) => { const c = net.connect(port, "127.0.0.1", () => ok(c)).on("error", ko); });
        for (let i = 0; i < CLIENTS; i++) clients.push(await connect(a.port), await connect(b.port));
        const perTurn: [number, number][] = [];
        let total = 0;
        for (let i = 0; i < 100 && total < 2 * CLIENTS; i++) {
          rig.n.turn(rig.h, i < 3 ? 0 : 5);
          const acc = rig.events().filter((e) => e.type === K.EV_ACCEPTED && e.fd >= 0);
          const n: [number, number] = [acc.filter((e) => e.slot === 10).length, acc.filter((e) => e.slot === 11).length];
          if (n[0] + n[1] === 0) continue; // a turn that served nothing (the backend's wake-up)
          assert.ok(n[0] + n[1] <= BUDGET, `a turn accepted ${n[0] + n[1]}, above the budget ${BUDGET}`);
          perTurn.push(n);
          total += n[0] + n[1];
        }
        assert.is(total, 2 * CLIENTS, `every client accepted (per turn: ${JSON.stringify(perTurn)})`);
        // Fair: by the time two turns' budgets are spent, each listener has had some of them.
        let seenA = 0, seenB = 0, spent = 0;
        for (const [x, y] of perTurn) { seenA += x; seenB += y; spent += x + y; if (spent >= 2 * BUDGET) break; }
        assert.ok(seenA > 0 && seenB > 0, `both listeners accept within the first ${2 * BUDGET} accepts (per turn: ${JSON.stringify(perTurn)})`);
      } finally {
        rig.destroy();
        for (const c of clients) c.destroy();
      }
    });

    test(`${label}${edge ? "edge: " : ""}beside an idle listener, a flooded one still takes the whole budget each turn`, async () => {
      if (why) return skip(why);
      const rig = await ShimRig.create(build, { backend, edge, caps: { slotCap: 64 } });
      const clients: net.Socket[] = [];
      try {
        rig.core.u32[ACCEPT_BUDGET] = BUDGET;
        const a = rig.listen(10, 1);
        rig.listen(11, 1); // idle: its share goes to the other in the turn's second round
        for (let i = 0; i < CLIENTS; i++) clients.push(await new Promise<net.Socket>((ok, ko) => { const c = net.connect(a.port, "127.0.0.1", () => ok(c)).on("error", ko); }));
        const perTurn: number[] = [];
        let total = 0;
        for (let i = 0; i < 100 && total < CLIENTS; i++) {
          rig.n.turn(rig.h, i < 3 ? 0 : 5);
          const acc = rig.events().filter((e) => e.type === K.EV_ACCEPTED && e.fd >= 0);
          assert.ok(acc.every((e) => e.slot === 10), "only the flooded listener accepts");
          if (acc.length) { perTurn.push(acc.length); total += acc.length; }
        }
        assert.is(total, CLIENTS, "every client accepted");
        assert.equal(perTurn, Array(CLIENTS / BUDGET).fill(BUDGET), "a full budget every turn that accepted");
      } finally {
        rig.destroy();
        for (const c of clients) c.destroy();
      }
    });
  }
}

test.run();
