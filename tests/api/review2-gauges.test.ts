// Fixed in 8e9cebb (the core's turnEnd(), called after the second dispatch, clears the gauge);
// what follows is the bug as review found it.
// Review (session 13): the core's inTurn gauge (wasm_reactor_turn_in_progress) must be 1 while
// any handler of a turn runs: WasmReactorTurnStuck (docs/alerts.yml) reads it to tell a turn that
// never ends. A turn dispatches twice (host/reactor/drive.ts: notes from ingest, then the notes
// flush itself wrote, e.g. the close a handler's close() or end() caused); the gauge is set at
// ingest's start and cleared at flush's end, so handlers of the second dispatch run with it at 0.
import { suite } from "uvu";
import * as assert from "uvu/assert";
import { simReactor, runUntil, closeClean, bytes } from "../helpers/sim.ts";

const t = suite("api: review2 turn gauge");

t("inTurn is 1 inside a close handler whose close the app's close() caused (dispatched after flush)", async () => {
  const r = await simReactor();
  const seen: Record<string, number> = {};
  r.listen({ port: 7 }, {
    data(c) { seen.data = r.metrics().inTurn; c.close(); },
    close() { seen.close = r.metrics().inTurn; },
  });
  const p = r.sim!.connect(7);
  p.send(bytes(10, 1));
  runUntil(r, () => "close" in seen, "the close handler ran");
  assert.is(seen.data, 1, "1 in the data handler");
  assert.is(seen.close, 1, `1 in the close handler too (a close handler stuck in a loop is a stuck turn): ${JSON.stringify(seen)}`);
  await closeClean(r);
});

t("inTurn is 1 inside a close handler after end() (the FIN sent, the peer's FIN back)", async () => {
  const r = await simReactor();
  const seen: number[] = [];
  r.listen({ port: 7 }, {
    data(c) { c.end(); },
    close() { seen.push(r.metrics().inTurn); },
  });
  const p = r.sim!.connect(7);
  p.send(bytes(10, 1));
  runUntil(r, () => p.gotFin, "the server ended");
  p.end();
  runUntil(r, () => seen.length > 0, "the close handler ran");
  assert.equal(seen, [1], "1 in the close handler");
  await closeClean(r);
});

t.run();
