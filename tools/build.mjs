// `npm run build` (also run by `npm ci` and `npm install` in this checkout, through the install
// script tools/install.mjs; by `npm pack`/`npm publish` through `prepack`; and by `npm test`):
//   1. generate the layout mirror from assembly/layout.ts (TS, and C for the shim)
//   1b. compile the native shim (shims/native/*.c + host/backends/epoll/epoll.c → build/wasm_reactor.node) with the system C
//      compiler against node-api-headers; without a compiler, say so loudly and go on: the
//      sim host still works, and host 'epoll' then fails with a message that says why
//   2. compile the core with asc: debug (assertions on; tests), release (benchmarks, default),
//      broken (debug plus a deliberately reintroduced bug, for the fuzzer's own test)
//   3. bundle the host (public API, CLI) with esbuild to ESM in dist/, with the cores beside it.
//      dist/ here is also the development CLI: it holds the broken core (`fuzz --build broken`)
//      and the shim built on this machine, which package.json's `files` leave out of the
//      package (an installed package builds its own shim: tools/install.mjs)
//   4. bundle the uvu suites in tests/ to build/tests/, one file per suite, same cores beside
//   5. one tsc run (tests/tsconfig.json): strict type-check of the library and the tests, and
//      the library's declarations (build/types/ → dist/types/, dist/index.d.ts); then a tiny
//      consumer (tests/types/) compiles against dist/index.d.ts with no @types/node
// Flags: --no-types skips 5, --core-only stops after 2.
import { execFileSync } from "node:child_process";
import { copyFileSync, cpSync, mkdirSync, readdirSync, statSync, rmSync, existsSync, writeFileSync, readFileSync, renameSync } from "node:fs";
import { join, dirname, relative } from "node:path";
import { buildShim } from "./shim.mjs";
import { fileURLToPath } from "node:url";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const args = new Set(process.argv.slice(2));
const t0 = Date.now();
const run = (cmd, argv) => execFileSync(cmd, argv, { cwd: root, stdio: "inherit" });

run(process.execPath, ["tools/gen-layout.mjs"]);
const shim = buildShim(root, { tests: true });
const asc = join(root, "node_modules/assemblyscript/bin/asc.js");
for (const target of ["debug", "release", "broken"]) run(process.execPath, [asc, "--config", "asconfig.json", "--target", target]);
await (await import("./component.mjs")).buildComponent(root); // the core as a WebAssembly component: build/component/, dist/component/ (docs/component.md)
if (args.has("--core-only")) process.exit(0);

const esbuild = await import("esbuild");
const cores = ["debug", "release", "broken"].map((t) => join(root, `build/core.${t}.wasm`));
const common = { bundle: true, format: "esm", platform: "neutral", target: "es2022", sourcemap: true, logLevel: "warning",
  mainFields: ["browser", "module", "main"], conditions: ["import", "default"], external: ["node:*"],
  // wasi-js pulls in `debug` (swapped for shims/debug.ts, which says why) and
  // `typedarray-to-buffer` (not reached on our paths).
  alias: { debug: "./shims/debug.ts" }, define: {} };

// dist/ is overwritten in place (not emptied): a --no-types build keeps the last declarations.
mkdirSync(join(root, "dist"), { recursive: true });
await esbuild.build({ ...common, entryPoints: { index: "host/index.ts", internal: "host/internal.ts", fuzz: "host/fuzz/fuzz.ts" }, outdir: join(root, "dist"), absWorkingDir: root });
// The CLI is split: serve and the library in cli.js and its chunks, fuzz (with fast-check) and
// replay in chunks loaded on demand, so a server and each of its workers parse 0.2 MB of
// JS, not 0.65 MB (measured: 3.9 MB less RSS in worker mode). Old chunks go first.
for (const f of readdirSync(join(root, "dist"))) if (/^cli-.+-[A-Z0-9]{8}\.js(\.map)?$/.test(f)) rmSync(join(root, "dist", f));
await esbuild.build({ ...common, entryPoints: { cli: "host/cli/main.ts" }, outdir: join(root, "dist"), absWorkingDir: root,
  splitting: true, chunkNames: "cli-[name]-[hash]", banner: { js: "#!/usr/bin/env node" } });
for (const c of cores) copyFileSync(c, join(root, "dist", c.split("/").pop()));
for (const [name, file] of [["release", "wasm_reactor.node"], ["faults", "wasm_reactor_faults.node"]]) { // what the package ships
  if (shim) replaceFile(shim[name], join(root, "dist", file));
  else rmSync(join(root, "dist", file), { force: true }); // never a stale shim beside a new core
}

// Tests: every tests/**/*.test.ts becomes build/tests/<dir>__<name>.mjs.
const suites = [];
const walk = (d) => { for (const f of readdirSync(d)) { const p = join(d, f); if (statSync(p).isDirectory()) walk(p); else if (f.endsWith(".test.ts")) suites.push(p); } };
if (existsSync(join(root, "tests"))) walk(join(root, "tests"));
const testOut = join(root, "build/tests");
rmSync(testOut, { recursive: true, force: true });
mkdirSync(testOut, { recursive: true });
const entries = Object.fromEntries(suites.map((p) => [relative(join(root, "tests"), p).replace(/\.test\.ts$/, "").replaceAll("/", "__"), p]));
if (suites.length) await esbuild.build({ ...common, entryPoints: entries, outdir: testOut, outExtension: { ".js": ".mjs" }, absWorkingDir: root });
for (const c of cores) copyFileSync(c, join(testOut, c.split("/").pop()));
if (shim) for (const p of Object.values(shim)) replaceFile(p, join(testOut, p.split("/").pop()));

if (!args.has("--no-types")) {
  const tsc = join(root, "node_modules/typescript/bin/tsc");
  rmSync(join(root, "build/types"), { recursive: true, force: true });
  run(process.execPath, [tsc, "-p", "tests/tsconfig.json"]);
  // Only the library's declarations ship (the tests' stay in build/types/tests).
  rmSync(join(root, "dist/types"), { recursive: true, force: true });
  for (const d of ["host", "shims"]) cpSync(join(root, "build/types", d), join(root, "dist/types", d), { recursive: true });
  writeFileSync(join(root, "dist/index.d.ts"), 'export * from "./types/host/index.js";\n');
  run(process.execPath, [tsc, "-p", "tests/types/tsconfig.json"]);
}
console.log(`build: ${suites.length} test suites, ${((Date.now() - t0) / 1000).toFixed(1)} s`);

/**
 * Puts a native module in place without writing into the old file: a running process has it
 * mapped, and rewriting those pages under it ends in SIGBUS (seen: a server died mid-benchmark
 * when a build copied over dist/wasm_reactor.node). Unchanged files are left alone.
 */
function replaceFile(from, to) {
  if (existsSync(to) && readFileSync(from).equals(readFileSync(to))) return;
  copyFileSync(from, to + ".tmp");
  renameSync(to + ".tmp", to);
}
