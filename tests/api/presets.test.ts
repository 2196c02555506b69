// Presets: `Reactor.create({ preset })` takes a named set of options (PRESETS in
// host/options.ts), each value with its reason; options given explicitly win over the preset's.
import { suite } from "uvu";
import * as assert from "uvu/assert";
import { Reactor, ReactorError, OPTION_SPECS, PRESETS, presetOptions, describeOptions } from "../../host/index.ts";
import { resolveOptions } from "../../host/options.ts";
import { closeClean } from "../helpers/sim.ts";

const test = suite("api: presets");

test("every preset value is a valid option with a reason, and every preset resolves", () => {
  const names = Object.keys(PRESETS);
  assert.equal(names, OPTION_SPECS.preset.values.filter((v) => v !== "none"), "OPTION_SPECS.preset lists exactly the presets");
  for (const [name, p] of Object.entries(PRESETS)) {
    assert.ok(p.why.length > 20, `${name} says what it is for`);
    for (const [k, v] of Object.entries(p.values)) {
      assert.ok(k in OPTION_SPECS, `${name}.${k} is an option`);
      assert.ok((v as { why: string }).why.length > 10, `${name}.${k} says why`);
    }
    const o = resolveOptions({ preset: name as keyof typeof PRESETS });
    for (const [k, v] of Object.entries(presetOptions(name as keyof typeof PRESETS))) {
      assert.equal((o as Record<string, unknown>)[k], v, `${name}: ${k}`);
    }
  }
});

test("server and echo carry the settings serve uses; echo adds read pausing; none of them sets how to wait", () => {
  const server = resolveOptions({ preset: "server" }), echo = resolveOptions({ preset: "echo" });
  for (const o of [server, echo]) {
    assert.is(o.edgeTriggered, true);
    assert.is(o.poolChunks, 2048);
    assert.is(o.supplyTarget, 512);
    assert.is(o.prefaultPool, false);
    assert.is(o.wait, OPTION_SPECS.wait.def, "wait: 'block' only suits a worker: startWorkers() sets it, no preset does");
  }
  assert.is(server.pauseReadsAtHighWater, false);
  assert.is(echo.pauseReadsAtHighWater, true);
});

test("explicit options override the preset's; an explicit undefined does not", () => {
  const o = resolveOptions({ preset: "echo", edgeTriggered: false, poolChunks: 4096, pauseReadsAtHighWater: undefined });
  assert.is(o.edgeTriggered, false);
  assert.is(o.poolChunks, 4096);
  assert.is(o.pauseReadsAtHighWater, true);
  assert.is(o.supplyTarget, 512, "what was not given comes from the preset");
  assert.is(o.preset, "echo");
  const d = resolveOptions({});
  assert.is(d.preset, "none");
  assert.is(d.edgeTriggered, false, "no preset: the defaults");
});

test("an unknown preset is refused with the known ones; a bad override still names the option", async () => {
  for (const [opts, re] of [
    [{ host: "sim", preset: "fast" }, /option 'preset' must be one of 'none', 'server', 'echo', 'small', got "fast"/],
    [{ host: "sim", preset: "small", poolChunks: 2 }, /option 'poolChunks' must be an integer from 4 to 1048576, got 2/],
    [{ host: "sim", preset: "small", supplyTarget: 1024 }, /option 'supplyTarget' must be at most eventRing \(256\), got 1024/],
  ] as const) {
    try { await Reactor.create(opts as never); assert.unreachable(`${JSON.stringify(opts)} should throw`); }
    catch (err) {
      assert.instance(err, ReactorError);
      assert.is((err as ReactorError).code, "ERR_INVALID_OPTION");
      assert.match((err as Error).message, re);
    }
  }
});

test("a reactor made from the small preset echoes, with a core a fraction of the default's", async () => {
  const small = await Reactor.create({ host: "sim", preset: "small" });
  const dflt = await Reactor.create({ host: "sim" });
  try {
    assert.is(small.options.maxConnections, 1024);
    assert.ok(small.core.memory.buffer.byteLength * 8 < dflt.core.memory.buffer.byteLength, `small ${small.core.memory.buffer.byteLength} B, default ${dflt.core.memory.buffer.byteLength} B`);
    const l = small.listen({ port: 7 }, { data(c, d) { c.write(d); } });
    const peer = small.sim!.connect(l.port);
    let got = 0;
    peer.ondata = (b) => { got += b.length; };
    peer.send(new Uint8Array(3000).fill(1));
    small.runUntil(() => got === 3000, { maxMs: 5000 });
    assert.is(got, 3000);
    peer.end();
  } finally {
    await closeClean(small);
    await closeClean(dflt);
  }
});

test("describeOptions() lists every preset value with its reason", () => {
  const text = describeOptions();
  for (const [name, p] of Object.entries(PRESETS)) {
    assert.ok(text.includes(`preset "${name}"`), name);
    for (const k of Object.keys(p.values)) assert.match(text, new RegExp(`\\n    ${k} +\\S+: `));
  }
});

test.run();
