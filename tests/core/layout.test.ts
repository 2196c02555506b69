// The memory layout, three ways: what the compiler laid out (the core's L_* exported globals),
// what host/core/layout.gen.ts says (generated from assembly/layout.ts by a regex-driven script), and
// what host/core/layout.ts computes for the regions vs what the core's computeLayout() wrote into
// its header. Any disagreement means the host reads the wrong bytes of the shared memory.
// Then the layout version (a hash of the layout, tools/gen-layout.mjs): the core writes it, and
// Core.create and the native shim's attach each refuse a core built from another layout.
import { suite } from "uvu";
import * as assert from "uvu/assert";
import fc from "fast-check";
import { readFileSync } from "node:fs";
import { Core, coreModule, coreBytes, type Build } from "../../host/core/core.ts";
import { loadNative, type NativeShim } from "../../host/backends/native.ts";
import * as L from "../../host/core/layout.gen.ts";
import { computeLayout, memoryBytes, BYTES_PER_CONNECTION, type Capacities, type Regions } from "../../host/core/layout.ts";
import { makeCore, u32, K, SMALL_CAPS, TEST_CONFIG } from "../helpers/core.ts";
import { checkProperty } from "../helpers/prop.ts";

const BUILDS: Build[] = ["debug", "release", "broken"];
const STRUCTS = {
  Header: [L.Header, L.Header_BYTES], Config: [L.Config, L.Config_BYTES], Slot: [L.Slot, L.Slot_BYTES],
  ChunkMeta: [L.ChunkMeta, L.ChunkMeta_BYTES], TimerNode: [L.TimerNode, L.TimerNode_BYTES],
  EventRec: [L.EventRec, L.EventRec_BYTES], SubmitRec: [L.SubmitRec, L.SubmitRec_BYTES],
  NoteRec: [L.NoteRec, L.NoteRec_BYTES], Metrics: [L.Metrics, L.Metrics_BYTES],
} as const satisfies Record<string, readonly [Record<string, number>, number]>;
const REGIONS: (keyof Regions)[] = [
  "metricsOff", "eventsOff", "submitsOff", "notesOff", "supplyOff", "lentOff", "slotsOff",
  "timersOff", "wheelOff", "chunkMetaOff", "chunkDataOff", "endOff",
];

/** The memory import's limits, read from the binary (the JS API does not show `shared`). */
function memoryImportLimits(bytes: Uint8Array): { shared: boolean; min: number; max: number | undefined } {
  let p = 8; // magic + version
  const leb = (): number => { let r = 0, shift = 0, b: number; do { b = bytes[p++]; r += (b & 0x7f) * 2 ** shift; shift += 7; } while (b & 0x80); return r; };
  const skipName = () => { const n = leb(); p += n; };
  while (p < bytes.length) {
    const id = bytes[p++];
    const size = leb();
    if (id !== 2) { p += size; continue; }
    const count = leb();
    for (let i = 0; i < count; i++) {
      skipName(); skipName();
      const kind = bytes[p++];
      if (kind === 0) leb();                                  // function: type index
      else if (kind === 1) { p++; const f = leb(); leb(); if (f & 1) leb(); } // table
      else if (kind === 3) { p += 2; }                         // global: valtype, mutability
      else if (kind === 2) { const flags = leb(); const min = leb(); const max = flags & 1 ? leb() : undefined; return { shared: (flags & 2) !== 0, min, max }; }
    }
  }
  throw new Error("no memory import");
}

const imports = suite("layout: imports");

for (const build of BUILDS) {
  imports(`${build}: only wasi_snapshot_preview1 functions and env.memory`, async () => {
    const module = await coreModule(build);
    const list = WebAssembly.Module.imports(module);
    const memories = list.filter((i) => i.kind === "memory");
    assert.equal(memories.map((i) => `${i.module}.${i.name}`), ["env.memory"]);
    const others = list.filter((i) => i.kind !== "memory");
    assert.ok(others.length > 0, "the core reads the clock through WASI");
    for (const i of others) {
      assert.is(i.module, "wasi_snapshot_preview1", `${i.module}.${i.name}`);
      assert.is(i.kind, "function", `${i.module}.${i.name}`);
    }
    // The shim in shims/wasi.ts provides exactly these four; anything else would fail to link.
    const known = ["clock_time_get", "fd_write", "proc_exit", "random_get"];
    for (const i of others) assert.ok(known.includes(i.name), `unexpected WASI import ${i.name}`);
  });

  imports(`${build}: the memory import is shared and bounded`, () => {
    const bytes = new Uint8Array(readFileSync(new URL(`./core.${build}.wasm`, import.meta.url)));
    const limits = memoryImportLimits(bytes);
    assert.ok(limits.shared, "shared memory");
    assert.ok(limits.max !== undefined, "a shared memory must declare its maximum");
    // Core.create sizes the memory to the capacities (memoryBytes) with maximum == initial:
    // that links only if the smallest layout meets the declared minimum and 4 GiB (the most
    // Core.create allows) stays within the declared maximum.
    const smallest = memoryBytes({ slotCap: 1, chunkSize: 64, chunkCount: 1, appTimerCap: 0, eventCap: 1, submitCap: 1, noteCap: 1, supplyCap: 1 });
    assert.ok(limits.min * 65536 <= smallest, `declared minimum ${limits.min} pages > ${smallest / 65536}`);
    assert.is(limits.max, 65536);
  });
}
imports.run();

const mirror = suite("layout: TS mirror vs compiler");

mirror("every struct field offset and size equals the core's offsetof<>()", async () => {
  const { e } = await makeCore();
  for (const [name, [fields, bytes]] of Object.entries(STRUCTS)) {
    for (const [field, offset] of Object.entries(fields)) {
      const g = e[`L_${name}_${field}`] as WebAssembly.Global | undefined;
      assert.ok(g, `core exports L_${name}_${field}`);
      assert.is(u32(g!.value), offset, `${name}.${field}`);
    }
    assert.is(u32(e[`L_${name}_BYTES`].value), bytes, `${name}_BYTES`);
  }
});

mirror("no core layout export is missing from the mirror", async () => {
  const { e } = await makeCore();
  const names = Object.keys(e).filter((n) => n.startsWith("L_") && !n.startsWith("L_K_"));
  assert.ok(names.length > 100);
  for (const n of names) {
    const m = /^L_([A-Za-z]+)_(\w+)$/.exec(n)!;
    const s = STRUCTS[m[1] as keyof typeof STRUCTS];
    assert.ok(s, `struct ${m[1]} is mirrored`);
    assert.ok(m[2] === "BYTES" || m[2] in s[0], `${m[1]}.${m[2]} is mirrored`);
  }
});

mirror("every constant in K equals the core's L_K_<NAME>, and vice versa", async () => {
  const { e } = await makeCore();
  for (const [name, value] of Object.entries(K)) {
    const g = e[`L_K_${name}`] as WebAssembly.Global | undefined;
    assert.ok(g, `core exports L_K_${name}`);
    // Signed constants (the R_* codes) are i32 on both sides; the rest u32.
    assert.is(value < 0 ? (g!.value as number) : u32(g!.value), value, `K.${name}`);
  }
  const exported = Object.keys(e).filter((n) => n.startsWith("L_K_")).map((n) => n.slice(4));
  assert.equal(exported.sort(), Object.keys(K).sort());
});

mirror("header and config fit the header block; records are 4-byte multiples", () => {
  assert.ok(L.Header_BYTES <= K.CONFIG_OFFSET, "Header overlaps Config");
  assert.ok(K.CONFIG_OFFSET + L.Config_BYTES <= K.HEADER_BYTES, "Config overruns the header block");
  for (const [name, [, bytes]] of Object.entries(STRUCTS)) assert.is(bytes % 4, 0, `${name}_BYTES`);
});

mirror("Slot <= 64 bytes; a connection (slot + 2 timer nodes) <= 128 bytes", async () => {
  const { e } = await makeCore();
  assert.ok(L.Slot_BYTES <= 64, `Slot is ${L.Slot_BYTES} bytes`);
  assert.ok(BYTES_PER_CONNECTION <= 128, `a connection is ${BYTES_PER_CONNECTION} bytes`);
  assert.is(BYTES_PER_CONNECTION, u32(e.L_Slot_BYTES.value) + 2 * u32(e.L_TimerNode_BYTES.value));
});
mirror.run();

const regions = suite("layout: computeLayout vs the core's header");

async function checkRegions(caps: Capacities): Promise<void> {
  const { core } = await makeCore(caps);
  const r = computeLayout(caps);
  for (const k of REGIONS) assert.is(core.header(k), r[k], `${k} for ${JSON.stringify(caps)}`);
  assert.is(core.header("magic"), K.LAYOUT_MAGIC);
  assert.is(core.header("version"), K.LAYOUT_VERSION);
  // Order and alignment: regions follow each other, 64-byte aligned, chunk data page-aligned.
  for (let i = 1; i < REGIONS.length; i++) assert.ok(r[REGIONS[i - 1]] <= r[REGIONS[i]], `${REGIONS[i - 1]} <= ${REGIONS[i]}`);
  for (const k of REGIONS.slice(0, -1)) assert.is(r[k] % 64, 0, `${k} is 64-byte aligned`);
  assert.is(r.chunkDataOff % 4096, 0);
  assert.is(r.metricsOff, K.LAYOUT_BASE + K.HEADER_BYTES);
  assert.is(r.timersOff + (2 * caps.slotCap + caps.appTimerCap) * L.TimerNode_BYTES <= r.wheelOff, true);
  assert.is(r.endOff, r.chunkDataOff + caps.chunkSize * caps.chunkCount);
  assert.ok(r.endOff <= core.memory.buffer.byteLength && core.memory.buffer.byteLength === memoryBytes(caps));
}

regions("the smoke capacities", () => checkRegions({
  slotCap: 16, chunkSize: 1024, chunkCount: 32, appTimerCap: 8, eventCap: 64, submitCap: 128, noteCap: 128, supplyCap: 32,
}));

regions("minimal and odd capacities", async () => {
  await checkRegions({ slotCap: 1, chunkSize: 64, chunkCount: 1, appTimerCap: 0, eventCap: 1, submitCap: 1, noteCap: 1, supplyCap: 1 });
  await checkRegions({ slotCap: 1001, chunkSize: 1500, chunkCount: 37, appTimerCap: 3, eventCap: 256, submitCap: 2, noteCap: 4096, supplyCap: 8 });
});

regions("random capacities (property)", () => checkProperty("core/layout", "computeLayout == header",
  fc.asyncProperty(
    fc.record({
      slotCap: fc.integer({ min: 1, max: 20000 }),
      chunkSize: fc.oneof(fc.constantFrom(64, 1024, 4096, 16384, 65536), fc.integer({ min: 64, max: 9000 })),
      chunkCount: fc.integer({ min: 1, max: 64 }),
      appTimerCap: fc.integer({ min: 0, max: 1000 }),
      eventCap: fc.integer({ min: 0, max: 12 }).map((b) => 2 ** b),
      submitCap: fc.integer({ min: 0, max: 12 }).map((b) => 2 ** b),
      noteCap: fc.integer({ min: 0, max: 12 }).map((b) => 2 ** b),
      supplyCap: fc.integer({ min: 0, max: 12 }).map((b) => 2 ** b),
    }),
    checkRegions,
  ), 40));
regions.run();

// ── the layout version: every mirror refuses a core built from another layout ─────────────
const versions = suite("layout: versions");
const hex = (v: number) => "0x" + (v >>> 0).toString(16).padStart(8, "0");

/** Signed LEB128, as an i32.const immediate. */
function sleb(v: number): number[] {
  const out: number[] = [];
  for (;;) {
    const b = v & 0x7f;
    v >>= 7;
    if ((v === 0 && (b & 0x40) === 0) || (v === -1 && (b & 0x40) !== 0)) { out.push(b); return out; }
    out.push(b | 0x80);
  }
}

versions("the core writes the generated LAYOUT_VERSION (a hash, not a hand-kept number) into its header", async () => {
  const { core, e } = await makeCore();
  assert.ok(K.LAYOUT_VERSION > 1, "a hash");
  assert.is(L.LAYOUT_VERSION, K.LAYOUT_VERSION);
  assert.is(core.header("version"), K.LAYOUT_VERSION);
  assert.is(u32(e.L_K_LAYOUT_VERSION.value), K.LAYOUT_VERSION);
  // And the C mirror carries the same number.
  const h = readFileSync(new URL("../../shims/native/layout.gen.h", import.meta.url), "utf8");
  assert.match(h, `#define K_LAYOUT_VERSION (${hex(K.LAYOUT_VERSION)}u)`);
});

versions("Core.create refuses a core built from another layout, naming both versions and `npm run build`", async () => {
  // A core from another layout: this build's module with every i32.const of the version changed.
  const bytes = new Uint8Array(await coreBytes("debug"));
  const want = [0x41, ...sleb(K.LAYOUT_VERSION | 0)];
  const other = (K.LAYOUT_VERSION ^ 1) >>> 0;
  const repl = [0x41, ...sleb(other | 0)];
  assert.is(repl.length, want.length);
  let patched = 0;
  for (let i = 0; i + want.length <= bytes.length; i++) {
    if (want.every((b, k) => bytes[i + k] === b)) { bytes.set(repl, i); patched++; }
  }
  assert.ok(patched >= 1, "found the version in the module");
  const module = await WebAssembly.compile(bytes);
  const hooks = { clockNs: () => 0n, random: (v: Uint8Array) => v.fill(1), log: () => {} };
  try { await Core.create("debug", SMALL_CAPS, TEST_CONFIG, hooks, module); assert.unreachable("refused"); }
  catch (err) {
    const m = (err as Error).message;
    assert.is((err as { code?: string }).code, "ERR_LAYOUT");
    assert.match(m, `the core's memory layout (layout ${hex(other)}) is not this host's mirror (layout ${hex(K.LAYOUT_VERSION)}`);
    assert.match(m, "rebuild both with `npm run build`");
  }
});

let native: NativeShim | undefined;
try { native = loadNative(); } catch { /* not Linux, or no compiler at build time */ }
const nativeTest = native ? versions : versions.skip;
if (!native) console.log("layout: the native shim is not built here: its attach check is skipped");

nativeTest("the native shim refuses at attach a core of another layout (both versions, `npm run build`), or no core at all", async () => {
  const n = native!;
  const { core } = await makeCore();
  const h = n.create("epoll", 0, 64, 1, 0);
  try {
    const other = (K.LAYOUT_VERSION ^ 0x00ff0000) >>> 0;
    core.setHeader("version", other);
    try { n.attach(h, core.u8); assert.unreachable("refused"); }
    catch (err) {
      assert.is((err as { code?: string }).code, "ERR_LAYOUT");
      assert.match((err as Error).message, `the core's memory layout is version ${hex(other)}, this shim was built for layout ${hex(K.LAYOUT_VERSION)}: the shim is stale, rebuild it with \`npm run build\``);
    }
    core.setHeader("version", K.LAYOUT_VERSION);
    core.setHeader("magic", 0);
    try { n.attach(h, core.u8); assert.unreachable("refused"); }
    catch (err) { assert.match((err as Error).message, "the memory does not hold an initialised wasm-reactor core (magic 0x00000000"); }
    // A refused attach leaves the handle unattached: a turn says so instead of reading the memory.
    try { n.turn(h, 0); assert.unreachable("turn refused"); }
    catch (err) { assert.match((err as Error).message, "turn before attach"); }
    core.setHeader("magic", K.LAYOUT_MAGIC);
    n.attach(h, core.u8); // the right layout attaches
  } finally { n.destroy(h); }
});
versions.run();
