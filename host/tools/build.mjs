// `npm run build` (also run by `npm ci` through `prepare`, and by `npm test`):
//   1. generate the layout mirror from assembly/layout.ts
//   2. compile the core with asc: debug (assertions on; tests), release (benchmarks, default),
//      broken (debug plus a deliberately reintroduced bug, for the fuzzer's own test)
//   3. bundle the host (public API, CLI) with esbuild to ESM in dist/, with the cores beside it
//   4. bundle the uvu suites in tests/ to build/tests/, one file per suite, same cores beside
//   5. emit dist/index.d.ts with tsc (types only; esbuild does not type-check)
// Flags: --no-types skips 5, --core-only stops after 2.
import { execFileSync } from "node:child_process";
import { copyFileSync, mkdirSync, readdirSync, statSync, rmSync, existsSync, writeFileSync } from "node:fs";
import { join, dirname, relative } from "node:path";
import { fileURLToPath } from "node:url";

const root = join(dirname(fileURLToPath(import.meta.url)), "..", "..");
const args = new Set(process.argv.slice(2));
const t0 = Date.now();
const run = (cmd, argv) => execFileSync(cmd, argv, { cwd: root, stdio: "inherit" });

run(process.execPath, ["host/tools/gen-layout.mjs"]);
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
await esbuild.build({ ...common, entryPoints: { index: "host/index.ts" }, outdir: join(root, "dist"), absWorkingDir: root });
await esbuild.build({ ...common, entryPoints: { cli: "host/cli.ts" }, outdir: join(root, "dist"), absWorkingDir: root,
  banner: { js: "#!/usr/bin/env node" } });
for (const c of cores) copyFileSync(c, join(root, "dist", c.split("/").pop()));

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

if (!args.has("--no-types")) {
  run(process.execPath, [join(root, "node_modules/typescript/bin/tsc"), "-p", "host/tsconfig.json"]);
  writeFileSync(join(root, "dist/index.d.ts"), 'export * from "./types/host/index.js";\n');
}
console.log(`build: ${suites.length} test suites, ${((Date.now() - t0) / 1000).toFixed(1)} s`);
