import { suite } from "uvu";
import * as assert from "uvu/assert";
import { simReactor, runUntil, closeClean } from "../helpers/sim.ts";

const mt = suite("api: metrics as JSON and Prometheus text");

mt("counts, gauges, errno tallies and histograms reflect the run", async () => {
  const r = await simReactor();
  r.listen({ port: 7 }, { data(c, d) { c.write(d); } });
  const peers = Array.from({ length: 5 }, () => r.sim!.connect(7));
  peers.forEach((p) => p.send("12345678"));
  runUntil(r, () => peers.every((p) => p.receivedBytes === 8), "echo");
  peers[0].reset();
  runUntil(r, () => r.metrics().connections === 4, "reset seen");
  const m = r.metrics();
  assert.is(m.accepts, 5);
  assert.is(m.bytesIn, 40);
  assert.is(m.bytesOut, 40);
  assert.is(m.connections, 4);
  assert.is(m.listeners, 1);
  assert.is(m.fdsOpen, 5);
  assert.is(m.fdsHighWater, 6);
  assert.is(m.resets, 1);
  assert.is(m.errorsByErrno.ECONNRESET, 1);
  assert.ok(m.turns > 0 && m.turnUs.count === m.turns, "one turn-duration sample per turn");
  assert.ok(m.batchSize.count > 0 && m.batchSize.max >= 1);
  const json = JSON.parse(JSON.stringify(m));
  assert.is(json.accepts, 5);
  const prom = r.prometheus();
  assert.match(prom, /^# TYPE wasm_reactor_accepts_total counter$/m);
  assert.match(prom, /^wasm_reactor_accepts_total 5$/m);
  assert.match(prom, /^wasm_reactor_connections 4$/m);
  assert.match(prom, /^wasm_reactor_errors_by_errno_total\{errno="ECONNRESET"\} 1$/m);
  assert.match(prom, /^wasm_reactor_turn_us\{quantile="0.99"\} \d+$/m);
  for (const line of prom.trim().split("\n")) assert.match(line, /^(# TYPE \w+ (counter|gauge|summary)|\w+(\{[^}]*\})? -?\d+(\.\d+)?(e[+-]?\d+)?)$/, `valid exposition line: ${line}`);
  await closeClean(r);
});

mt.run();
