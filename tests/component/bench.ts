// The body of tests/component/bench.mjs (which bundles this file and runs it): replay time of
// the committed traces through the core component and through the shared-memory core, what
// crosses the component's boundary per call, and the bare cost of a call across it.
import { fileURLToPath } from "node:url";
import { replayFile, openTrace, replayVia } from "../../host/trace/replay.ts";
import { Core } from "../../host/core/core.ts";
import { replayComponentFile, componentTarget } from "../../host/component/replay.ts";
import { ComponentCore } from "../../host/component/component.ts";

const runs = Number(process.argv[process.argv.indexOf("--runs") + 1]) || 20;
const traces = ["fault-storm.trace", "broken-double-release.trace"];
const path = (name: string) => fileURLToPath(new URL(`../../tests/traces/${name}`, import.meta.url));
const median = (xs: number[]) => { const s = [...xs].sort((a, b) => a - b); return s[s.length >> 1]; };
const runtime = (globalThis as { Deno?: unknown }).Deno ? "deno" : (globalThis as { Bun?: unknown }).Bun ? "bun" : "node";

console.log(`runtime ${runtime}, ${runs} runs each (alternating), medians`);
for (const name of traces) {
  const shared: number[] = [], comp: number[] = [];
  let calls = 0, turns = 0;
  for (let i = 0; i < runs + 5; i++) { // the first five of each are warm-up (the glue jco generates takes a while to warm up)
    const a = await replayFile(path(name), { force: true });
    const b = await replayComponentFile(path(name), { force: true });
    if (!a.identical || !b.identical) throw new Error(`${name} did not replay identically`);
    if (i >= 5) { shared.push(a.ms); comp.push(b.ms); }
    calls = b.calls; turns = b.turns;
  }
  // What crosses the boundary: a replay whose steps are counted.
  const { parsed } = await openTrace(path(name), { force: true });
  let bytesIn = 0, bytesOut = 0;
  await replayVia(parsed, (hooks) => ComponentCore.create(parsed.header.build as never, parsed.header.caps as never, parsed.header.config, hooks), (core) => {
    const t = componentTarget(core);
    const step = core.step.bind(core);
    core.step = (op, args) => {
      const o = step(op, args);
      bytesOut += 4 + o.submissions.byteLength + o.notes.byteLength + 16;
      return o;
    };
    const input = t.input;
    t.input = (body, at, n, sh, sp, nh) => { bytesIn += n * 24; input(body, at, n, sh, sp, nh); };
    return t;
  });
  bytesIn += calls * (4 + 12); // op, the three cursors; arguments are counted below
  for (const r of parsed.records) if (r.tag === 1) bytesIn += 4 * r.body.getUint8(1);
  const s = median(shared), c = median(comp);
  console.log(`${name}: ${turns} turns, ${calls} calls; shared-memory core ${s.toFixed(1)} ms, component ${c.toFixed(1)} ms (× ${(c / s).toFixed(2)}); ` +
    `component − shared ${(((c - s) * 1000) / calls).toFixed(2)} µs per call; per call in ${(bytesIn / calls).toFixed(1)} B, out ${(bytesOut / calls).toFixed(1)} B`);
}

// The bare call: a component export with no lists (audit) against the shared core's (checkInvariants).
{
  const { parsed } = await openTrace(path("fault-storm.trace"), { force: true });
  const h = parsed.header;
  const hooks = { clockNs: () => 0n, random: (v: Uint8Array) => { v.fill(1); }, log: () => {} };
  const core = await Core.create("debug", h.caps as never, h.config, hooks);
  const comp = await ComponentCore.create("debug", h.caps as never, h.config, hooks);
  const n = 20_000;
  const time = (f: () => void) => { const t0 = performance.now(); for (let i = 0; i < n; i++) f(); return ((performance.now() - t0) * 1000) / n; };
  const ts: number[] = [], tc: number[] = [], fs: number[] = [], fc: number[] = [];
  const args: number[] = [];
  for (let r = 0; r < 5; r++) {
    ts.push(time(() => core.exports.checkInvariants()));
    tc.push(time(() => comp.audit()));
    // flush on an idle core: no events in, nothing out but the published words.
    fs.push(time(() => core.exports.flush()));
    fc.push(time(() => comp.step("flush", args)));
  }
  console.log(`one call on an idle core (µs, median of 5 × ${n}): checkInvariants ${median(ts).toFixed(2)} shared, audit ${median(tc).toFixed(2)} component; ` +
    `flush ${median(fs).toFixed(2)} shared, step(flush) with empty lists ${median(fc).toFixed(2)} component`);
}

// List copies by size: a step(ingest) carrying k stale EV_WRITABLE events (the core drops each
// after one check) against the shared-memory core, where the host writes the same records in
// place and calls ingest(). The slope of the difference is what each event byte costs to cross.
{
  const { parsed } = await openTrace(path("fault-storm.trace"), { force: true });
  const h = parsed.header;
  const hooks = { clockNs: () => 0n, random: (v: Uint8Array) => { v.fill(1); }, log: () => {} };
  const core = await Core.create("debug", h.caps as never, h.config, hooks);
  const comp = await ComponentCore.create("debug", h.caps as never, h.config, hooks);
  const line: string[] = [];
  const perCall: [number, number][] = [];
  for (const k of [0, 16, 256, 2048]) {
    const batch = new Uint8Array(k * 24);
    const dv = new DataView(batch.buffer);
    for (let i = 0; i < k; i++) { dv.setUint8(i * 24, 6); dv.setUint32(i * 24 + 8, 0x7fff0000, true); } // EV_WRITABLE, slot 0, a generation no slot has
    const n = Math.max(20, Math.floor(200_000 / (k + 10)));
    const shared: number[] = [], viaComp: number[] = [];
    for (let r = 0; r < 5; r++) {
      let t0 = performance.now();
      for (let i = 0; i < n; i++) {
        for (let j = 0; j < k; j++) core.pushEvent(6, 0, 0x7fff0000, 0, 0, 0);
        core.exports.ingest();
      }
      shared.push(((performance.now() - t0) * 1000) / n);
      t0 = performance.now();
      for (let i = 0; i < n; i++) { if (k) comp.pushEvents(batch); comp.step("ingest", []); }
      viaComp.push(((performance.now() - t0) * 1000) / n);
    }
    const s = median(shared), c = median(viaComp);
    perCall.push([k * 24, c - s]);
    line.push(`${k} events (${k * 24} B): ${s.toFixed(1)} µs shared, ${c.toFixed(1)} µs component`);
  }
  const [b0, d0] = perCall[0], [b1, d1] = perCall[perCall.length - 1];
  console.log(`step(ingest) with k events in: ${line.join("; ")}; the component's extra cost ${(((d1 - d0) * 1000) / (b1 - b0)).toFixed(2)} ns per event byte (${((b1 - b0) / (d1 - d0)).toFixed(0)} MB/s) on top of ${d0.toFixed(1)} µs per call`);
}

