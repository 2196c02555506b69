// Generates every mirror of the core's memory layout from the one place it is written: the
// @unmanaged classes and `@inline export const`s of assembly/layout.ts, conn.ts and commands.ts.
// Run by `npm run build` before asc and esbuild. It writes:
//   host/core/layout.gen.ts       field offsets, sizes and constants for TypeScript, the layout
//                                 version, and the record helpers (pack/unpack of EventRec,
//                                 SubmitRec, NoteRec over a Uint32Array and a byte offset)
//   shims/native/layout.gen.h     the same for C: L_*/K_* macros, a struct per class with
//                                 _Static_assert(offsetof(...)) and sizeof checks (a compiler that
//                                 lays a struct out differently fails the build), static inline
//                                 record helpers, and wr_layout_check() for attach
//   assembly/layout_version.gen.ts  LAYOUT_VERSION, which init() writes into the header
//   assembly/layout_exports.ts    the compiler's offsetof<>() values, exported for
//                                 tests/core/layout.test.ts to compare with the TS mirror
//
// The layout version is a hash (the first 32 bits of SHA-256) over every struct's name, size and
// fields (name, type, offset) and every constant's name and value: any change a mirror would
// show changes it, so a stale shim, TS mirror or trace is refused instead of misreading memory.
// A change of meaning that shows in none of them (a record field reused for something else)
// must bump LAYOUT_EPOCH in assembly/layout.ts, which is one of those constants.
import { readFileSync, writeFileSync, existsSync } from "node:fs";
import { createHash } from "node:crypto";
import { fileURLToPath } from "node:url";
import { dirname, join } from "node:path";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const SIZES = { u8: 1, i8: 1, u16: 2, i16: 2, u32: 4, i32: 4, f32: 4, u64: 8, i64: 8, f64: 8, usize: 4 };
const C_TYPES = { u8: "uint8_t", i8: "int8_t", u16: "uint16_t", i16: "int16_t", u32: "uint32_t", i32: "int32_t",
  f32: "float", u64: "uint64_t", i64: "int64_t", f64: "double", usize: "uint32_t" };
const SOURCES = ["assembly/layout.ts", "assembly/conn.ts", "assembly/commands.ts"];
/** The ring records, with the short name their helpers carry (eventType(), writeEvent(), wr_event_get()). */
const RECORDS = { EventRec: "event", SubmitRec: "submit", NoteRec: "note" };
const isPad = (name) => /^(pad|reserved)\d*$/.test(name);

// ── parse ────────────────────────────────────────────────────────────────────────────────
const structs = [];   // { name, fields: [{ name, type, offset, size }], size }
const consts = [];    // { name, value }
const known = {};

for (const file of SOURCES) {
  const src = readFileSync(join(root, file), "utf8");
  // @unmanaged classes: one `name: type;` per line.
  for (const m of src.matchAll(/@unmanaged export class (\w+) \{([\s\S]*?)\n\}/g)) {
    let offset = 0;
    const fields = [];
    for (const line of m[2].split("\n")) {
      const f = line.match(/^\s*(\w+):\s*(\w+);/);
      if (!f) continue;
      const size = SIZES[f[2]];
      if (!size) throw new Error(`${file}: ${m[1]}.${f[1]}: unsupported type ${f[2]}`);
      offset = (offset + size - 1) & ~(size - 1); // natural alignment, as asc lays fields out
      fields.push({ name: f[1], type: f[2], offset, size });
      offset += size;
    }
    structs.push({ name: m[1], fields, size: offset });
  }
  // Inline constants with literal or earlier-constant expressions.
  for (const m of src.matchAll(/@inline export const (\w+): (\w+) = ([^;]+);/g)) {
    const signed = m[2].startsWith("i");
    const expr = m[3].replace(/\b([A-Z_][A-Z0-9_]*)\b/g, (n) => {
      if (!(n in known)) throw new Error(`${file}: ${m[1]} uses unknown constant ${n}`);
      return String(known[n]);
    });
    if (!/^[\d\sxa-fA-F()<>|&+*~-]+$/.test(expr)) throw new Error(`${file}: ${m[1]}: cannot evaluate ${m[3]}`);
    const value = Function(`return (${expr}) ${signed ? "| 0" : ">>> 0"}`)();
    known[m[1]] = value;
    consts.push({ name: m[1], value });
  }
}
if ("LAYOUT_VERSION" in known) throw new Error("LAYOUT_VERSION is generated (the layout's hash): remove it from the sources; bump LAYOUT_EPOCH for a change of meaning");
for (const r of Object.keys(RECORDS)) {
  const s = structs.find((x) => x.name === r);
  if (!s) throw new Error(`record ${r} not found in ${SOURCES.join(", ")}`);
  if (s.size % 4 || s.fields.some((f) => f.size > 4 || (f.offset & 3) + f.size > 4)) throw new Error(`${r}: records must be whole 32-bit words with no field across two`);
}

// ── the layout version ───────────────────────────────────────────────────────────────────
const canonical = JSON.stringify({
  structs: structs.map((s) => [s.name, s.size, s.fields.map((f) => [f.name, f.type, f.offset])]),
  consts: consts.map((c) => [c.name, c.value]),
});
const LAYOUT_VERSION = (parseInt(createHash("sha256").update(canonical).digest("hex").slice(0, 8), 16) >>> 0) || 1;
const hex = (v) => "0x" + v.toString(16).padStart(8, "0");
const allConsts = [...consts, { name: "LAYOUT_VERSION", value: LAYOUT_VERSION }];

const banner = "// GENERATED by tools/gen-layout.mjs from assembly/layout.ts, conn.ts, commands.ts.\n// Do not edit: change the core and run `npm run build`.\n";
const mask = (bits) => "0x" + ((2 ** bits) - 1).toString(16);
const cap = (s) => s[0].toUpperCase() + s.slice(1);

// ── TypeScript mirror ────────────────────────────────────────────────────────────────────
let ts = banner + "\n";
ts += `/** The layout version: a hash of every struct and constant below; init() writes it into Header.version. */\n`;
ts += `export const LAYOUT_VERSION = ${hex(LAYOUT_VERSION)};\n\n`;
for (const s of structs) {
  ts += `/** ${s.name}: ${s.size} bytes. Field byte offsets. */\n`;
  ts += `export const ${s.name} = {\n` + s.fields.map((f) => `  ${f.name}: ${f.offset}, // ${f.type}`).join("\n") + `\n} as const;\n`;
  ts += `export const ${s.name}_BYTES = ${s.size};\n\n`;
}
ts += "/** Constants shared with the core (states, flags, record types, codes). */\nexport const K = {\n";
ts += allConsts.map((c) => `  ${c.name}: ${c.name === "LAYOUT_VERSION" ? hex(c.value) : c.value},`).join("\n") + "\n} as const;\n\n";
ts += `// ── ring records ────────────────────────────────────────────────────────────────────────
// Pack and unpack a record in place: \`u32\` is a Uint32Array over the core's memory and \`p\` the
// record's byte offset (records are whole words and rings 64-byte aligned, so p is a multiple
// of 4). Small functions with no allocation: the JIT inlines them on the hot path. Signed
// fields come back signed; a writer masks each field to its width and writes pads as 0.\n`;
for (const [name, short] of Object.entries(RECORDS)) {
  const s = structs.find((x) => x.name === name);
  const named = s.fields.filter((f) => !isPad(f.name));
  ts += `\n/** ${name} (${s.size} B): ${named.map((f) => f.name).join(", ")}. */\n`;
  for (const f of named) {
    const w = f.offset >> 2 ? `u32[(p >> 2) + ${f.offset >> 2}]` : "u32[p >> 2]", shift = (f.offset & 3) * 8, bits = f.size * 8;
    let expr;
    if (bits === 32) expr = f.type.startsWith("i") ? `${w} | 0` : w;
    else if (f.type.startsWith("i")) expr = `(${w} << ${32 - shift - bits}) >> ${32 - bits}`;
    else expr = shift + bits === 32 ? `${w} >>> ${shift}` : shift ? `(${w} >>> ${shift}) & ${mask(bits)}` : `${w} & ${mask(bits)}`;
    ts += `export function ${short}${cap(f.name)}(u32: Uint32Array, p: number): number { return ${expr}; }\n`;
  }
  ts += `/** Writes a whole ${name} at byte offset p. */\n`;
  ts += `export function write${cap(short)}(u32: Uint32Array, p: number, ${named.map((f) => `${f.name}: number`).join(", ")}): void {\n  const q = p >> 2;\n`;
  for (let w = 0; w < s.size / 4; w++) {
    const parts = s.fields.filter((f) => f.offset >> 2 === w && !isPad(f.name)).map((f) => {
      const shift = (f.offset & 3) * 8;
      if (f.size === 4) return f.name;
      const masked = `(${f.name} & ${mask(f.size * 8)})`;
      return shift ? `(${masked} << ${shift})` : masked;
    });
    ts += `  u32[${w ? `q + ${w}` : "q"}] = ${parts.length ? parts.join(" | ") : "0"};\n`;
  }
  ts += `}\n`;
}
writeIfChanged("host/core/layout.gen.ts", ts);

// ── the core's side: the version it writes, and the compiler's offsets for the test ──────
writeIfChanged("assembly/layout_version.gen.ts", banner +
  "// The layout version (tools/gen-layout.mjs explains the hash); init() writes it into Header.version.\n" +
  `// @ts-ignore: decorator\n@inline export const LAYOUT_VERSION: u32 = ${hex(LAYOUT_VERSION)};\n`);

let as = banner + "// Exported so tests/core/layout.test.ts can check the mirror against the compiler's layout.\n";
as += `import { ${structs.map((s) => s.name).join(", ")} } from "./layout";\n`;
const imports = {};
for (const file of SOURCES) {
  const src = readFileSync(join(root, file), "utf8");
  for (const m of src.matchAll(/@inline export const (\w+):/g)) (imports[file] ??= []).push(m[1]);
}
for (const [file, names] of Object.entries(imports)) {
  as += `import { ${names.join(", ")} } from "./${file.replace(/^assembly\//, "").replace(/\.ts$/, "")}";\n`;
}
as += `import { LAYOUT_VERSION } from "./layout_version.gen";\n`;
for (const s of structs) {
  for (const f of s.fields) as += `export const L_${s.name}_${f.name}: u32 = offsetof<${s.name}>("${f.name}");\n`;
  as += `export const L_${s.name}_BYTES: u32 = offsetof<${s.name}>();\n`;
}
for (const c of allConsts) as += c.value < 0 ? `export const L_K_${c.name}: i32 = <i32>${c.name};\n` : `export const L_K_${c.name}: u32 = <u32>${c.name};\n`;
writeIfChanged("assembly/layout_exports.ts", as);

// ── C mirror for the native shim ─────────────────────────────────────────────────────────
let h = banner.replaceAll("// ", "/* ").replaceAll("\n", " */\n") + "#ifndef WR_LAYOUT_GEN_H\n#define WR_LAYOUT_GEN_H\n\n";
h += "#include <stddef.h>\n#include <stdint.h>\n#include <stdio.h>\n#include <string.h>\n\n";
h += "/* Wasm memory is little-endian: the records below are read in place. */\n";
h += "#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__\n#error \"wasm-reactor: the native shim reads Wasm memory in place and needs a little-endian machine\"\n#endif\n\n";
for (const s of structs) {
  h += `/* ${s.name}: ${s.size} bytes */\n`;
  for (const f of s.fields) h += `#define L_${s.name}_${f.name} ${f.offset} /* ${f.type} */\n`;
  h += `#define L_${s.name}_BYTES ${s.size}\n\n`;
}
for (const c of allConsts) h += `#define K_${c.name} (${c.value < 0 ? c.value : c.name === "LAYOUT_VERSION" ? hex(c.value) + "u" : c.value + "u"})\n`;
h += "\n/* The structs as the C compiler lays them out; the asserts fail the build where it disagrees\n * with the core's layout (the offsets above, which tests/core/layout.test.ts checks against asc). */\n";
for (const s of structs) {
  h += `typedef struct wr_${s.name} {\n` + s.fields.map((f) => `  ${C_TYPES[f.type]} ${f.name};`).join("\n") + `\n} wr_${s.name};\n`;
  for (const f of s.fields) h += `_Static_assert(offsetof(wr_${s.name}, ${f.name}) == L_${s.name}_${f.name}, "wr_${s.name}.${f.name}: the C compiler's offset differs from the core's layout");\n`;
  h += `_Static_assert(sizeof(wr_${s.name}) == L_${s.name}_BYTES, "wr_${s.name}: the C compiler's size differs from the core's layout");\n\n`;
}
h += "/* Ring records, read and written whole (memcpy: no alignment or aliasing assumptions). */\n";
for (const [name, short] of Object.entries(RECORDS)) {
  const s = structs.find((x) => x.name === name);
  const named = s.fields.filter((f) => !isPad(f.name));
  h += `static inline wr_${name} wr_${short}_get(const void *p) { wr_${name} r; memcpy(&r, p, sizeof r); return r; }\n`;
  h += `static inline void wr_${short}_put(void *p, ${named.map((f) => `${C_TYPES[f.type]} ${f.name}`).join(", ")}) {\n`;
  h += `  wr_${name} r; memset(&r, 0, sizeof r);\n  ${named.map((f) => `r.${f.name} = ${f.name};`).join(" ")}\n  memcpy(p, &r, sizeof r);\n}\n`;
}
h += `
/* At attach: 0 when \`mem\` (the core's whole memory) holds a core of this layout; else -1 and
 * why, naming both versions. A shim built from another layout must not read this memory. */
static inline int wr_layout_check(const uint8_t *mem, char *why, size_t n) {
  uint32_t magic, version;
  memcpy(&magic, mem + K_LAYOUT_BASE + L_Header_magic, 4);
  memcpy(&version, mem + K_LAYOUT_BASE + L_Header_version, 4);
  if (magic != K_LAYOUT_MAGIC) {
    snprintf(why, n, "wasm-reactor native shim: the memory does not hold an initialised wasm-reactor core (magic 0x%08x, expected 0x%08x)", (unsigned)magic, (unsigned)K_LAYOUT_MAGIC);
    return -1;
  }
  if (version != K_LAYOUT_VERSION) {
    snprintf(why, n, "wasm-reactor native shim: the core's memory layout is version 0x%08x, this shim was built for layout 0x%08x: the shim is stale, rebuild it with \`npm run build\`", (unsigned)version, (unsigned)K_LAYOUT_VERSION);
    return -1;
  }
  return 0;
}
`;
h += "\n#endif\n";
writeIfChanged("shims/native/layout.gen.h", h);
console.log(`layout: version ${hex(LAYOUT_VERSION)}, ${structs.length} structs, ${allConsts.length} constants → host/core/layout.gen.ts, shims/native/layout.gen.h, assembly/layout_version.gen.ts, assembly/layout_exports.ts`);

/** Writes a generated file only when its text changed, so its mtime says when the layout did (the shim's rebuild keys on it). */
function writeIfChanged(rel, text) {
  const p = join(root, rel);
  if (existsSync(p) && readFileSync(p, "utf8") === text) return;
  writeFileSync(p, text);
}
