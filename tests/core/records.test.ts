// The ring records' generated helpers (tools/gen-layout.mjs) and the C view of the layout:
//   1. the TS helpers write and read each field at the mirror's offset and width (checked with
//      a DataView, field by field, over random values), pads written as zero;
//   2. the core reads what writeEvent() wrote (an event pushed through Core, ingested);
//   3. the C header compiles, its _Static_asserts hold, and a header whose offset disagrees with
//      the compiler's layout fails to compile, naming the field;
//   4. the C helpers (wr_*_put / wr_*_get) write the same bytes as the TS ones and read them back.
// 3 and 4 need a C compiler (`cc`, or $CC); without one they are skipped, and say so.
import { suite } from "uvu";
import * as assert from "uvu/assert";
import fc from "fast-check";
import { execFileSync, spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import * as L from "../../host/core/layout.gen.ts";
import { makeCore, K } from "../helpers/core.ts";
import { checkProperty } from "../helpers/prop.ts";

type Field = { name: string; type: "u8" | "u16" | "u32" | "i32"; offset: number };
/** Each record's named fields, in order, with their types as assembly/layout.ts declares them. */
const RECORDS = {
  event: { bytes: L.EventRec_BYTES, offsets: L.EventRec as Record<string, number>, types: { type: "u8", flags: "u8", err: "u16", slot: "u32", gen: "u32", fd: "i32", a: "u32", b: "u32" } },
  submit: { bytes: L.SubmitRec_BYTES, offsets: L.SubmitRec as Record<string, number>, types: { op: "u8", flags: "u8", slot: "u32", gen: "u32", fd: "i32", a: "u32", b: "u32" } },
  note: { bytes: L.NoteRec_BYTES, offsets: L.NoteRec as Record<string, number>, types: { kind: "u8", flags: "u8", err: "u16", slot: "u32", gen: "u32", a: "u32" } },
} as const;
type Kind = keyof typeof RECORDS;
const fields = (k: Kind): Field[] => Object.entries(RECORDS[k].types).map(([name, type]) => ({ name, type, offset: RECORDS[k].offsets[name] }) as Field);
const cap = (s: string) => s[0].toUpperCase() + s.slice(1);
const helpers = L as unknown as Record<string, (...a: unknown[]) => number>;
const write = (k: Kind, u32: Uint32Array, p: number, v: number[]) => helpers[`write${cap(k)}`](u32, p, ...v);
const get = (k: Kind, f: string, u32: Uint32Array, p: number) => helpers[`${k}${cap(f)}`](u32, p);
/** What a field holds after writing v: masked to its width, signed for i32. */
const stored = (f: Field, v: number) => (f.type === "u8" ? v & 0xff : f.type === "u16" ? v & 0xffff : f.type === "i32" ? v | 0 : v >>> 0);
const readField = (dv: DataView, p: number, f: Field) =>
  f.type === "u8" ? dv.getUint8(p + f.offset) : f.type === "u16" ? dv.getUint16(p + f.offset, true) : f.type === "i32" ? dv.getInt32(p + f.offset, true) : dv.getUint32(p + f.offset, true);
const anyWord = fc.oneof(fc.integer({ min: 0, max: 0xffffffff }), fc.integer({ min: -0x80000000, max: -1 }), fc.constantFrom(0, 0xff, 0xffff, 0xffffffff, -1));

const ts = suite("records: TS helpers");

for (const kind of Object.keys(RECORDS) as Kind[]) {
  ts(`${kind}: every field at the mirror's offset and width; pads zero; getters read it back`, () =>
    checkProperty("core/records", `${kind} helpers`, fc.property(fc.array(anyWord, { minLength: 8, maxLength: 8 }), fc.integer({ min: 0, max: 3 }), (values, slotIndex) => {
      const fs = fields(kind), bytes = RECORDS[kind].bytes;
      const buf = new ArrayBuffer(bytes * 4), u32 = new Uint32Array(buf), dv = new DataView(buf);
      u32.fill(0xdeadbeef);
      const p = slotIndex * bytes;
      write(kind, u32, p, values.slice(0, fs.length));
      for (const [i, f] of fs.entries()) {
        assert.is(readField(dv, p, f), stored(f, values[i]), `${kind}.${f.name} in memory`);
        assert.is(get(kind, f.name, u32, p), stored(f, values[i]), `${kind}${cap(f.name)}()`);
      }
      const named = new Set(fs.flatMap((f) => Array.from({ length: f.type === "u8" ? 1 : f.type === "u16" ? 2 : 4 }, (_, j) => f.offset + j)));
      for (let b = 0; b < bytes; b++) if (!named.has(b)) assert.is(dv.getUint8(p + b), 0, `${kind} pad byte ${b}`);
      // Neighbours untouched.
      for (let w = 0; w < u32.length; w++) if (w < p / 4 || w >= (p + bytes) / 4) assert.is(u32[w], 0xdeadbeef, `word ${w} outside the record`);
    }), 200));
}
ts.run();

const core = suite("records: through the core");

core("an event written with writeEvent (via Core.pushEvent) is what the core ingests", async () => {
  const t = await makeCore();
  const c = t.core;
  const before = t.e.stateOf(0);
  // A write completion for a slot that is not live: the core counts it stale (it read slot and gen).
  c.pushEvent(K.EV_WRITE_DONE, 3, 12345, 7, 0, 0, 0);
  const stale0 = c.f64[(c.regions.metricsOff + L.Metrics.staleEvents) >> 3];
  t.e.ingest();
  assert.is(c.f64[(c.regions.metricsOff + L.Metrics.staleEvents) >> 3], stale0 + 1);
  assert.is(t.e.stateOf(0), before);
  const p = c.eventOffset(0);
  assert.is(L.eventType(c.u32, p), K.EV_WRITE_DONE);
  assert.is(L.eventSlot(c.u32, p), 3);
  assert.is(L.eventGen(c.u32, p), 12345);
  assert.is(L.eventFd(c.u32, p), 7);
});
core.run();

// ── C ─────────────────────────────────────────────────────────────────────────────────────
const CC = (globalThis as any).process?.env?.CC || "cc";
const hasCc = (() => { try { execFileSync(CC, ["--version"], { stdio: "ignore" }); return true; } catch { return false; } })();
const header = fileURLToPath(new URL("../../shims/native/layout.gen.h", import.meta.url));
const c = suite("records: the C header");
const cTest = hasCc ? c : c.skip;
if (!hasCc) console.log(`records: no C compiler ('${CC}'): the C header checks are skipped`);

function compile(dir: string, src: string, args: string[] = []): { ok: boolean; stderr: string } {
  const file = join(dir, "t.c");
  writeFileSync(file, src);
  const r = spawnSync(CC, ["-std=c11", "-Wall", "-Wextra", "-Werror", ...args, file, "-o", join(dir, "t")], { encoding: "utf8" });
  return { ok: r.status === 0, stderr: r.stderr ?? "" };
}

cTest("layout.gen.h compiles: every _Static_assert on offsets and sizes holds", () => {
  const dir = mkdtempSync(join(tmpdir(), "wr-layout-"));
  try {
    const r = compile(dir, `#include "${header}"\nint main(void) { return 0; }\n`);
    assert.ok(r.ok, r.stderr);
  } finally { rmSync(dir, { recursive: true, force: true }); }
});

cTest("a header that disagrees with the compiler's layout fails the build, naming the field", () => {
  const dir = mkdtempSync(join(tmpdir(), "wr-layout-"));
  try {
    // As if the generator had computed SubmitRec.fd one word off: the compiler's offsetof disagrees.
    const text = readFileSync(header, "utf8").replace(`#define L_SubmitRec_fd ${L.SubmitRec.fd} `, `#define L_SubmitRec_fd ${L.SubmitRec.fd + 4} `);
    assert.ok(text.includes(`L_SubmitRec_fd ${L.SubmitRec.fd + 4}`), "tampered");
    writeFileSync(join(dir, "layout.gen.h"), text);
    const r = compile(dir, `#include "layout.gen.h"\nint main(void) { return 0; }\n`, ["-I", dir]);
    assert.not.ok(r.ok, "the tampered header compiled");
    assert.match(r.stderr, /wr_SubmitRec\.fd: the C compiler's offset differs from the core's layout/);
  } finally { rmSync(dir, { recursive: true, force: true }); }
});

cTest("the C helpers write the bytes the TS helpers write, and read them back", () => {
  const dir = mkdtempSync(join(tmpdir(), "wr-layout-"));
  try {
    // For each line "kind v0 v1 ...": put the record, print its bytes in hex, get it, print its fields.
    const putArgs = (k: Kind) => fields(k).map((f, i) => `(${f.type === "i32" ? "int32_t" : "uint32_t"})v[${i}]`).join(", ");
    const printFields = (k: Kind) => fields(k).map((f) => `printf(" ${f.type === "i32" ? "%d" : "%u"}", (${f.type === "i32" ? "int" : "unsigned"})r.${f.name});`).join(" ");
    const src = `#include "${header}"
#include <stdlib.h>
static void hex(const uint8_t *b, size_t n) { for (size_t i = 0; i < n; i++) printf("%02x", b[i]); }
int main(void) {
  char kind[16]; long long v[8];
  while (scanf("%15s %lld %lld %lld %lld %lld %lld %lld %lld", kind, &v[0], &v[1], &v[2], &v[3], &v[4], &v[5], &v[6], &v[7]) == 9) {
    uint8_t buf[64]; memset(buf, 0xee, sizeof buf);
    if (!strcmp(kind, "event")) { wr_event_put(buf, ${putArgs("event")}); hex(buf, L_EventRec_BYTES); wr_EventRec r = wr_event_get(buf); ${printFields("event")} }
    else if (!strcmp(kind, "submit")) { wr_submit_put(buf, ${putArgs("submit")}); hex(buf, L_SubmitRec_BYTES); wr_SubmitRec r = wr_submit_get(buf); ${printFields("submit")} }
    else { wr_note_put(buf, ${putArgs("note")}); hex(buf, L_NoteRec_BYTES); wr_NoteRec r = wr_note_get(buf); ${printFields("note")} }
    printf("\\n");
  }
  return 0;
}
`;
    const r = compile(dir, src);
    assert.ok(r.ok, r.stderr);
    const cases: [Kind, number[]][] = [];
    let x = 0x9e3779b9;
    const next = () => { x ^= x << 13; x ^= x >>> 17; x ^= x << 5; return x >>> 0; };
    for (let i = 0; i < 60; i++) for (const k of Object.keys(RECORDS) as Kind[]) cases.push([k, Array.from({ length: 8 }, (_, j) => (j === 5 && i % 3 === 0 ? -1 - (next() & 0xffff) : next()))]);
    cases.push(["event", [K.EV_READ, 0, 104, 7, 3, -1, K.NONE, 0]], ["submit", [K.SQ_CLOSE, K.SQF_RESET, K.NONE, 0, 42, 0, 0, 0]]);
    const input = cases.map(([k, v]) => `${k} ${v.join(" ")}`).join("\n") + "\n";
    const out = execFileSync(join(dir, "t"), { input, encoding: "utf8" }).trim().split("\n");
    assert.is(out.length, cases.length);
    for (const [i, [k, v]] of cases.entries()) {
      const fs = fields(k), bytes = RECORDS[k].bytes;
      const u32 = new Uint32Array(bytes / 4);
      write(k, u32, 0, v.slice(0, fs.length));
      const want = [...new Uint8Array(u32.buffer)].map((b) => b.toString(16).padStart(2, "0")).join("");
      const [gotHex, ...gotFields] = out[i].trim().split(" ");
      assert.is(gotHex, want, `${k} ${v.join(" ")}: C bytes vs TS bytes`);
      assert.equal(gotFields.map(Number), fs.map((f) => get(k, f.name, u32, 0)), `${k}: C get vs TS get`);
    }
  } finally { rmSync(dir, { recursive: true, force: true }); }
});
c.run();
