// The host contract, part 5: out of descriptors. An accept that fails with EMFILE posts one
// EV_ACCEPT_ERROR (Linux's 24) for that listener and stops accepting on it for the turn; once
// descriptors are free (the core closed some) and it asks to accept again, the peers still
// waiting are accepted. The simulator takes the limit as an option; a real host runs in a child
// process under `prlimit --nofile` (tests/helpers/contract.ts runLimited), with its peers dialled
// from this process.
import { suite } from "uvu";
import * as assert from "uvu/assert";
import { K, evsText, contractChild, runLimited, selectedBackends, limitedUnavailable, skipBackend, scopedOut, type Ev, type Scenario } from "../helpers/contract.ts";
import { skip } from "../helpers/skip.ts";

const scenarios: Record<string, Scenario> = {
  async emfile(rig, fdLimit) {
    const l = await rig.listen();
    const n = fdLimit + 16;
    await rig.world.dialAll(l.port, n);
    rig.ring.budgets({ acceptBudget: 10_000 }); // the budget is not what stops the accepts here
    const isErr = (e: Ev) => e.slot === l.slot && e.type === K.EV_ACCEPT_ERROR;
    const isAcc = (e: Ev) => e.slot === l.slot && e.type === K.EV_ACCEPTED;
    const perTurn = (turn: Ev[]) => {
      const mine = turn.filter((e) => e.slot === l.slot);
      const errs = mine.filter(isErr);
      assert.ok(errs.length <= 1, `one EV_ACCEPT_ERROR per listener per turn at most: ${evsText(mine)}`);
      if (errs.length) {
        assert.ok(mine.indexOf(errs[0]) === mine.length - 1, `nothing accepted on the listener after its EV_ACCEPT_ERROR in that turn: ${evsText(mine)}`);
        rig.ring.interest(l.slot, l.gen, l.fd, 0); // the core backs off: it stops asking to accept
      }
    };
    const evs = await rig.until((all) => all.some(isErr), "EV_ACCEPT_ERROR", perTurn);
    const err = evs.find(isErr)!;
    assert.equal([err.gen, err.fd, err.err], [l.gen, l.fd, K.E_MFILE], `EMFILE (24) on the listener: ${evsText([err])}`);
    const accepted = evs.filter(isAcc).map((e) => e.fd);
    assert.ok(accepted.length > 0 && accepted.length < n, `some accepted before the limit: ${accepted.length} of ${n}`);
    for (const fd of accepted.slice(0, 3)) rig.close({ fd, slot: K.NONE, gen: 0 });
    await rig.turn();
    rig.ring.interest(l.slot, l.gen, l.fd, K.IN_READ); // the back-off is over
    const more = await rig.until((all) => all.some(isAcc), "accepting again once descriptors are free", perTurn);
    return `${accepted.length} of ${n} accepted before EMFILE, ${more.filter(isAcc).length} more after 3 closed`;
  },
};

if (!contractChild(scenarios)) {
  const test = suite("contract: EMFILE");
  for (const b of selectedBackends()) {
    const name = `${b.name}: EMFILE on accept: one EV_ACCEPT_ERROR (24) for the listener, no accept after it that turn; accepting again once descriptors are free`;
    const why = limitedUnavailable(b);
    if (why) { skipBackend(test, b, why); continue; }
    const out = scopedOut(b, "EMFILE on accept");
    if (out) { test(name, () => skip(out)); continue; }
    test(name, async () => {
      const out = await runLimited(b, scenarios, "emfile");
      console.log(`    ${b.name}: ${out}`);
    });
  }
  test.run();
}
