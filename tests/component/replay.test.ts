// The core as a WebAssembly component (assembly/component/, host/component/): the committed
// traces replay through the transpiled component with the same per-turn hashes as through the
// shared-memory core, on every runtime; a tampered trace, a tampered hash or a failed assertion
// inside the component is reported, never passed over.
import { suite } from "uvu";
import * as assert from "uvu/assert";
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { replayFile, replayTrace, readTrace } from "../../host/trace/replay.ts";
import { Core } from "../../host/core/core.ts";
import { T_CALL, T_INPUT, T_TURN, RECORDED } from "../../host/trace/format.ts";
import { replayComponentFile, replayComponentTrace, COMPONENT_OPS } from "../../host/component/replay.ts";
import { ComponentCore } from "../../host/component/component.ts";

const test = suite("component: the core as a WebAssembly component");
const traces = (name: string) => fileURLToPath(new URL(`../../tests/traces/${name}`, import.meta.url));
const TRACES = ["fault-storm.trace", "broken-double-release.trace"];

for (const name of TRACES) {
  test(`${name}: the component's per-turn hashes are the shared-memory core's`, async () => {
    const shared: number[] = [], component: number[] = [];
    const a = await replayFile(traces(name), { force: true, checkInvariants: true, onTurn: (t, h) => { shared[t] = h; } });
    const b = await replayComponentFile(traces(name), { force: true, checkInvariants: true, onTurn: (t, h) => { component[t] = h; } });
    assert.ok(a.identical, JSON.stringify(a.divergence));
    assert.ok(b.identical, JSON.stringify(b.divergence));
    assert.ok(b.turns > 30, `${b.turns} turns`);
    assert.is(b.turns, a.turns);
    assert.is(b.calls, a.calls);
    assert.equal(component, shared);
    assert.is(component.filter((h) => h !== undefined).length, b.turns);
    // The audit runs inside the component too: the broken core's invariant breaks at the same turn.
    assert.equal(b.broken, a.broken);
  });
}

test("the release component (the one the package ships) replays fault-storm.trace like the release shared-memory core", async () => {
  // The trace was recorded on the debug core; the release builds differ only in debug-only audits.
  const parsed = readTrace(new Uint8Array(readFileSync(traces("fault-storm.trace"))));
  const release = { ...parsed, header: { ...parsed.header, build: "release" } };
  const shared: number[] = [], component: number[] = [];
  const a = await replayTrace(release, (hooks) => Core.create("release", release.header.caps as never, release.header.config, hooks), { onTurn: (t, h) => { shared[t] = h; } });
  const b = await replayComponentTrace(release, { onTurn: (t, h) => { component[t] = h; } });
  assert.ok(a.identical && b.identical, JSON.stringify([a.divergence, b.divergence]));
  assert.is(b.core.build, "release");
  assert.ok(b.turns > 100);
  assert.equal(component, shared);
});

test("the broken core's trace shows its broken invariant through the component (pool conservation, 3)", async () => {
  const b = await replayComponentFile(traces("broken-double-release.trace"), { force: true, checkInvariants: true });
  assert.is(b.broken?.invariant, 3);
});

/** The trace's bytes with one record changed by `edit` (the first record with `tag` after `skip` of them). */
function tampered(name: string, tag: number, skip: number, edit: (bytes: Uint8Array, bodyAt: number) => void): { header: ReturnType<typeof readTrace>["header"]; records: ReturnType<typeof readTrace>["records"]; offset: number } {
  const bytes = new Uint8Array(readFileSync(traces(name)));
  const parsed = readTrace(bytes, name);
  const rec = parsed.records.filter((r) => r.tag === tag)[skip];
  edit(bytes, rec.offset + 5);
  return { ...readTrace(bytes, name), offset: rec.offset };
}

test("a tampered turn hash is reported at that turn, not passed", async () => {
  const t = tampered("fault-storm.trace", T_TURN, 40, (b, at) => { b[at + 4] ^= 0x01; });
  const turn = t.records.find((r) => r.offset === t.offset)!.body.getUint32(0, true);
  const r = await replayComponentTrace(t);
  assert.not.ok(r.identical);
  assert.is(r.divergence?.turn, turn);
  assert.is(r.divergence?.offset, t.offset);
  assert.match(r.divergence!.what, /the turn's outputs hash to [0-9a-f]{8}; the recorded run's to [0-9a-f]{8}/);
});

test("a tampered event record makes the component diverge, and the replay says where", async () => {
  // The type byte of the first event of an INPUT that carries events: another event kind.
  const bytes = new Uint8Array(readFileSync(traces("fault-storm.trace")));
  const parsed = readTrace(bytes);
  const withEvents = parsed.records.filter((r) => r.tag === T_INPUT && (r.body.getUint8(0) & 1) && r.body.byteLength > 1 + 4 * 4);
  const rec = withEvents[10];
  const mask = rec.body.getUint8(0);
  let at = 1; for (const w of [1, 2, 4, 8]) if (mask & w) at += 4;
  bytes[rec.offset + 5 + at + 4] ^= 0x05; // the event's slot: another connection
  const r = await replayComponentTrace(readTrace(bytes));
  assert.not.ok(r.identical);
  assert.ok(r.divergence && r.divergence.offset > rec.offset, JSON.stringify(r.divergence));
  // The shared-memory core diverges at the same place.
  const s = await replayTrace(readTrace(bytes), (hooks) => Core.create("debug", parsed.header.caps as never, parsed.header.config, hooks));
  assert.equal(r.divergence, s.divergence);
});

test("a tampered call is reported by the component as by the shared-memory core", async () => {
  // Call 25 becomes timerArm(…) with other arguments: the core then reads the clock where the
  // recorded run did not, or returns another result. Either way the replay says so.
  const t = tampered("fault-storm.trace", T_CALL, 25, (b, at) => { b[at] = RECORDED.indexOf("timerArm"); b[at + 1] = 2; });
  const outcome = async (run: () => Promise<{ identical: boolean; divergence?: unknown }>) => {
    try { const r = await run(); return r.identical ? "identical" : JSON.stringify(r.divergence); }
    catch (err) { assert.is((err as { code?: string }).code, "ERR_TRACE"); return (err as Error).message; }
  };
  const viaComponent = await outcome(() => replayComponentTrace(t));
  const viaShared = await outcome(() => replayTrace(t, (hooks) => Core.create("debug", t.header.caps as never, t.header.config, hooks)));
  assert.is.not(viaComponent, "identical");
  assert.match(viaComponent, /diverged|returned|hash/);
  assert.is(viaComponent, viaShared);
});

test("the WIT's op enum lists the recorded functions in the trace's order", () => {
  const wit = readFileSync(fileURLToPath(new URL("../../assembly/component/core.wit", import.meta.url)), "utf8");
  const body = /enum op \{([^}]*)\}/.exec(wit)![1];
  const cases = body.split(",").map((c) => c.trim()).filter(Boolean);
  assert.equal(cases, [...COMPONENT_OPS]);
});

test("a failed assertion inside the component is an ERR_CORE_ASSERTION error naming it", async () => {
  const lines: string[] = [];
  const { header } = readTrace(new Uint8Array(readFileSync(traces("fault-storm.trace"))));
  const core = await ComponentCore.create("debug", header.caps as never, header.config, { clockNs: () => 0n, random: (v) => v.fill(7), log: (l) => lines.push(l) });
  core.pushEvents(new Uint8Array(10)); // not a whole event record
  try { core.step("ingest", []); assert.unreachable("a torn event record should trap"); }
  catch (err) {
    assert.is((err as { code?: string }).code, "ERR_CORE_ASSERTION");
    assert.match((err as Error).message, /abort: events must be whole EventRec records in .*index\.ts\(\d+:\d+\)/);
  }
  assert.ok(lines.some((l) => l.startsWith("abort: events must be whole EventRec records")), lines.join("\n"));
});

test.run();
