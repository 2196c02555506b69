// The host contract, part 6: waiting. wait(-1) waits for I/O only and returns once there is
// some (the next poll reports it); wait(ms) with nothing to report lets the time pass (the
// reads suite checks that a socket the host may not read does not cut it short); a host that
// offers wake() ends a wait in progress when the app acts between turns, and says so (woken).
import { suite } from "uvu";
import * as assert from "uvu/assert";
import { contractTest, K, evsText, type Ev } from "../helpers/contract.ts";

const test = suite("contract: wait");

/** A turn that may wait up to ms (-1: for I/O only), bounded in real time so a host that never returns fails instead of hanging. */
async function boundedTurn(rig: Parameters<Parameters<typeof contractTest>[2]>[0], ms: number): Promise<Ev[]> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const limit = new Promise<never>((_, rej) => { timer = setTimeout(() => rej(new Error(`wait(${ms}) did not return within 5 s of I/O being ready`)), 5000); });
  try { return await Promise.race([rig.turn(ms), limit]); } finally { clearTimeout(timer); }
}

contractTest(test, "wait(-1) waits for I/O only and returns once there is some; the poll after it reports it", async (rig) => {
  const l = await rig.listen();
  const [c] = await rig.accept(l);
  assert.equal(await rig.turn(), []);
  rig.world.after(20, () => c.peer.send("wake up"));
  const t0 = rig.world.now();
  let evs: Ev[] = [];
  for (let i = 0; i < 5 && !evs.some((e) => e.slot === c.slot && e.type === K.EV_READ); i++) evs = evs.concat(await boundedTurn(rig, -1));
  assert.ok(evs.some((e) => e.slot === c.slot && e.type === K.EV_READ && e.b === 7), `the bytes were read: ${evsText(evs)}`);
  assert.ok(rig.world.now() - t0 >= (rig.world.real ? 10 : 20), "it did wait for them");
});

contractTest(test, "wake() (where a host has it) ends a wait in progress, and the host says it was woken", async (rig) => {
  const host = rig.host;
  if (!host.wake) return; // the simulator never sleeps: nothing to wake
  await rig.listen();
  rig.world.after(20, () => host.wake!());
  const evs = await boundedTurn(rig, 60_000);
  assert.equal(evs, []);
  assert.is(host.woken, true, "woken: the wait ended because of wake()");
  await rig.turn();
  assert.is(host.woken, false, "the next turn was not woken");
});

test.run();
