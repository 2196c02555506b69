// `npm run build` (also run by `npm ci` through `prepare`, and by `npm test`):
//   1. generate the layout mirror from assembly/layout.ts (TS, and C for the shim)
//   1b. compile the native shim (host/backends/epoll/epoll.c → build/wasm_reactor.node) with the system C
//      compiler against node-api-headers; without a compiler, say so loudly and go on: the
//      sim host still works, and host 'epoll' then fails with a message that says why
//   2. compile the core with asc: debug (assertions on; tests), release (benchmarks, default),
//      broken (debug plus a deliberately reintroduced bug, for the fuzzer's own test)
//   3. bundle the host (public API, CLI) with esbuild to ESM in dist/, with the cores beside it
//   4. bundle the uvu suites in tests/ to build/tests/, one file per suite, same cores beside
//   5. emit dist/index.d.ts with tsc (types only; esbuild does not type-check)
// Flags: --no-types skips 5, --core-only stops after 2.
import { execFileSync } from "node:child_process";
import { copyFileSync, mkdirSync, readdirSync, statSync, rmSync, existsSync, writeFileSync, readFileSync, renameSync } from "node:fs";
import { join, dirname, relative } from "node:path";
import { fileURLToPath } from "node:url";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const args = new Set(process.argv.slice(2));
const t0 = Date.now();
const run = (cmd, argv) => execFileSync(cmd, argv, { cwd: root, stdio: "inherit" });

run(process.execPath, ["tools/gen-layout.mjs"]);
const shim = buildShim();
const asc = join(root, "node_modules/assemblyscript/bin/asc.js");
for (const target of ["debug", "release", "broken"]) run(process.execPath, [asc, "--config", "asconfig.json", "--target", target]);
if (args.has("--core-only")) process.exit(0);

const esbuild = await import("esbuild");
const cores = ["debug", "release", "broken"].map((t) => join(root, `build/core.${t}.wasm`));
const common = { bundle: true, format: "esm", platform: "neutral", target: "es2022", sourcemap: true, logLevel: "warning",
  mainFields: ["browser", "module", "main"], conditions: ["import", "default"], external: ["node:*"],
  // wasi-js pulls in `debug` and `typedarray-to-buffer`; neither is reached on our paths.
  alias: {}, define: {} };

// dist/ is overwritten in place (not emptied): a --no-types build keeps the last declarations.
mkdirSync(join(root, "dist"), { recursive: true });
await esbuild.build({ ...common, entryPoints: { index: "host/index.ts", fuzz: "host/fuzz/fuzz.ts" }, outdir: join(root, "dist"), absWorkingDir: root });
// The CLI is split: serve and the library in cli.js and its chunks, fuzz (with fast-check) and
// replay in chunks loaded on demand, so a server and each of its workers parse 0.2 MB of
// JS, not 0.65 MB (measured: 3.9 MB less RSS in worker mode). Old chunks go first.
for (const f of readdirSync(join(root, "dist"))) if (/^cli-.+-[A-Z0-9]{8}\.js(\.map)?$/.test(f)) rmSync(join(root, "dist", f));
await esbuild.build({ ...common, entryPoints: { cli: "host/cli/main.ts" }, outdir: join(root, "dist"), absWorkingDir: root,
  splitting: true, chunkNames: "cli-[name]-[hash]", banner: { js: "#!/usr/bin/env node" } });
for (const c of cores) copyFileSync(c, join(root, "dist", c.split("/").pop()));
if (shim) replaceFile(shim, join(root, "dist/wasm_reactor.node"));
else rmSync(join(root, "dist/wasm_reactor.node"), { force: true }); // never a stale shim beside a new core

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
if (shim) replaceFile(shim, join(testOut, "wasm_reactor.node"));

if (!args.has("--no-types")) {
  run(process.execPath, [join(root, "node_modules/typescript/bin/tsc"), "-p", "host/tsconfig.json"]);
  writeFileSync(join(root, "dist/index.d.ts"), 'export * from "./types/host/index.js";\n');
}
console.log(`build: ${suites.length} test suites, ${((Date.now() - t0) / 1000).toFixed(1)} s`);

/** Compiles the Node-API shim when its sources changed; returns its path, or null (no compiler, not Linux). */
function buildShim() {
  const out = join(root, "build/wasm_reactor.node");
  if (process.platform !== "linux") { console.warn(`build: native shim skipped: the epoll shim is Linux-only (this is ${process.platform}); host 'sim' works`); return null; }
  const srcs = ["host/backends/epoll/epoll.c", "shims/native/layout.gen.h"].map((f) => join(root, f));
  mkdirSync(join(root, "build"), { recursive: true });
  if (existsSync(out) && srcs.every((s) => statSync(s).mtimeMs <= statSync(out).mtimeMs)) return out;
  const cc = process.env.CC || "cc";
  const argv = ["-O2", "-Wall", "-Wextra", "-Wno-unused-parameter", "-shared", "-fPIC", "-DNAPI_VERSION=8",
    "-I", join(root, "node_modules/node-api-headers/include"), "-I", join(root, "shims/native"), join(root, "host/backends/epoll/epoll.c"), "-o", out + ".tmp", "-lpthread"];
  try {
    execFileSync(cc, argv, { cwd: root, stdio: "inherit" });
    renameSync(out + ".tmp", out); // a new inode: processes running the old shim keep theirs
    return out;
  } catch (err) {
    const why = err.code === "ENOENT" ? `no C compiler found ('${cc}'; set CC or install gcc/clang)` : `the C compiler failed (${err.message.split("\n")[0]})`;
    console.warn(`\nbuild: WARNING: the native epoll shim was NOT built: ${why}.\n` +
      "build: host 'epoll' (and `wasm-reactor serve` on real sockets) will refuse to start and say so; host 'sim' works.\n" +
      "build: fix the compiler, then run `npm run build`.\n");
    rmSync(out, { force: true });
    return null;
  }
}

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
