// The assertion policy (docs/assertions.md): which checks the release core keeps, shown four ways.
//   1. Every assert in assembly/ is listed in docs/assertions.md, in the section its form says:
//      a plain `assert()` under "Kept in release", an `if (DEBUG) assert()` under "Debug only".
//   2. The release binary holds every kept assertion's message and no debug-only one (the
//      messages are its string data: what is not there cannot fire).
//   3. On the release core, each kept check that a bad index or a bad host record can reach
//      traps with its reason, as on the debug core; a debug-only one does not.
//   4. Through the reactor, a release assertion that fires is ERR_CORE_ASSERTION carrying the
//      reason, and the reactor refuses to run on.
import { suite } from "uvu";
import * as assert from "uvu/assert";
import { readdirSync, readFileSync } from "node:fs";
import { makeCore, trap, SMALL_CAPS, K, type TestCore } from "../helpers/core.ts";
import { Reactor, type ReactorError } from "../../host/index.ts";
import type { Build } from "../../host/core/core.ts";

type Assertion = { file: string; line: number; message: string; release: boolean };

/** Every assert() in the core's sources, with its message and whether it stays on in release. */
function coreAssertions(): Assertion[] {
  const dir = new URL("../../assembly/", import.meta.url);
  const out: Assertion[] = [];
  for (const file of readdirSync(dir).filter((f) => f.endsWith(".ts") && !f.endsWith(".gen.ts") && f !== "layout_exports.ts")) {
    readFileSync(new URL(file, dir), "utf8").split("\n").forEach((text, i) => {
      for (const m of text.matchAll(/(if \(DEBUG\) )?\bassert\(.*?,\s*"([^"]+)"\)/g)) out.push({ file, line: i + 1, message: m[2], release: !m[1] });
    });
  }
  return out;
}

const policy = suite("asserts: the policy, written down and compiled");

policy("every assertion in assembly/ is listed in docs/assertions.md under the section its form says", () => {
  const doc = readFileSync(new URL("../../docs/assertions.md", import.meta.url), "utf8");
  const kept = doc.indexOf("## Kept in release"), debug = doc.indexOf("## Debug only"), after = doc.indexOf("\n## ", debug + 1);
  assert.ok(kept >= 0 && debug > kept, "docs/assertions.md has a 'Kept in release' then a 'Debug only' section");
  const sections = { release: doc.slice(kept, debug), debug: doc.slice(debug, after < 0 ? undefined : after) };
  const all = coreAssertions();
  assert.ok(all.filter((a) => a.release).length >= 15 && all.filter((a) => !a.release).length >= 8, `found ${all.length}`);
  for (const a of all) {
    const where = `${a.file}:${a.line} "${a.message}"`;
    assert.ok(sections[a.release ? "release" : "debug"].includes(a.message), `${where} is listed under ${a.release ? "Kept in release" : "Debug only"}`);
  }
});

/**
 * Kept assertions that the optimizer proves at every call site and so removes from the release
 * binary (they cost nothing there); the debug core still holds them.
 */
const PROVEN: Record<string, string> = {
  "supply ring overflow": "flush pushes only while supplyCount() < supplyMax <= supplyCap (flush.ts)",
};

policy("the release core holds every kept assertion (unless proven) and no debug-only one; the debug core holds all", () => {
  const utf16 = (s: string) => new Uint8Array(new Uint16Array([...s].map((ch) => ch.charCodeAt(0))).buffer);
  const contains = (hay: Uint8Array, needle: Uint8Array) => {
    outer: for (let i = 0; i + needle.length <= hay.length; i++) {
      for (let k = 0; k < needle.length; k++) if (hay[i + k] !== needle[k]) continue outer;
      return true;
    }
    return false;
  };
  const release = new Uint8Array(readFileSync(new URL("./core.release.wasm", import.meta.url)));
  const debug = new Uint8Array(readFileSync(new URL("./core.debug.wasm", import.meta.url)));
  for (const a of coreAssertions()) {
    const m = utf16(a.message);
    if (!(a.message in PROVEN)) assert.is(contains(release, m), a.release, `release core ${a.release ? "holds" : "does not hold"} "${a.message}"`);
    assert.ok(contains(debug, m), `debug core holds "${a.message}"`);
  }
});
policy.run();

const fire = suite("asserts: kept checks fire on the release core");

/** A live connection slot (OPEN) and its generation, made with the unit-test exports. */
function liveSlot(t: TestCore): { slot: number; gen: number } {
  const slot = t.e.t_slotAlloc(K.ST_OPEN) >>> 0;
  return { slot, gen: t.e.genOf(slot) };
}

for (const build of ["release", "debug"] as Build[]) {
  fire(`${build}: indexes out of range (chunk, slot, timer node) trap with their reason`, async () => {
    const t = await makeCore({}, build);
    assert.match(trap(t, () => t.e.t_poolRelease(SMALL_CAPS.chunkCount + 3, K.CH_APP)), /chunk index out of range/);
    assert.match(trap(t, () => t.e.t_slotFree(SMALL_CAPS.slotCap + 1)), /slot index out of range/);
    assert.match(trap(t, () => t.e.t_wheelCancel(2 * SMALL_CAPS.slotCap + SMALL_CAPS.appTimerCap)), /timer node out of range/);
    assert.is(t.e.checkInvariants(), 0, "nothing changed before the traps");
  });

  fire(`${build}: one owner per chunk: a double release traps`, async () => {
    const t = await makeCore({}, build);
    const c = t.e.t_poolAcquire(K.CH_APP) >>> 0;
    t.e.t_poolRelease(c, K.CH_APP);
    assert.match(trap(t, () => t.e.t_poolRelease(c, K.CH_APP)), /double release/);
    assert.is(t.e.t_poolCheck(), 0);
  });

  fire(`${build}: host records the core cannot survive trap: unknown type, more read than a chunk, more written than submitted`, async () => {
    const cases: [string, (t: TestCore, s: { slot: number; gen: number }) => void, RegExp][] = [
      ["type", (t, s) => t.core.pushEvent(77, s.slot, s.gen, 5, 0, 0), /unknown event type/],
      ["read", (t, s) => { t.core.pushEvent(K.EV_READ, s.slot, s.gen, 5, 0, SMALL_CAPS.chunkSize + 1); }, /host read more bytes than a chunk holds/],
      ["write", (t, s) => t.core.pushEvent(K.EV_WRITE_DONE, s.slot, s.gen, 5, 0, 100), /host wrote more than was submitted/],
      ["chunk", (t) => t.core.pushEvent(K.EV_READ, 0, 12345, 5, 0x7fffffff, 10), /chunk index out of range/], // stale: its chunk is still released
    ];
    for (const [name, push, re] of cases) {
      const t = await makeCore({}, build);
      push(t, liveSlot(t));
      assert.match(trap(t, () => t.e.ingest()), re, name);
    }
  });
}

fire("debug-only checks: an illegal state transition traps on debug, not on release", async () => {
  for (const build of ["debug", "release"] as Build[]) {
    const t = await makeCore({}, build);
    const { slot } = liveSlot(t);
    if (build === "debug") assert.match(trap(t, () => t.e.t_transition(slot, K.ST_LISTENING)), /illegal connection state transition/);
    else { t.e.t_transition(slot, K.ST_LISTENING); assert.is(t.e.stateOf(slot), K.ST_LISTENING); }
  }
});
fire.run();

const reactor = suite("asserts: through the reactor");

reactor("a release assertion that fires is ERR_CORE_ASSERTION with its reason, and the reactor stays dead", async () => {
  const lines: string[] = [];
  const r = await Reactor.create({ host: "sim", build: "release", seed: 1, maxConnections: 16, poolChunks: 32, log: (l) => lines.push(l) });
  r.listen({ port: 7 }, { data(c, d) { c.write(d); } });
  r.step(0);
  // As a broken host would: a read into a chunk index past the pool.
  r.core.pushEvent(K.EV_READ, 0, 12345, 5, 0x7fffffff, 10);
  let first: ReactorError | undefined;
  try { r.step(0); } catch (err) { first = err as ReactorError; }
  assert.ok(first, "the turn threw");
  assert.is(first!.code, "ERR_CORE_ASSERTION");
  assert.match(first!.message, /abort: chunk index out of range in assembly\/pool\.ts\(\d+:\d+\)/);
  assert.ok(lines.some((l) => /chunk index out of range/.test(l)), "the core's line is logged too");
  try { r.step(0); assert.unreachable("a dead reactor does not run on"); }
  catch (err) { assert.is(err, first); }
});
reactor.run();
