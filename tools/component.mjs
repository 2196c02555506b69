// The core as a WebAssembly component (docs/component.md), built from the same core source as
// the shared-memory cores. Called by tools/build.mjs (`buildComponent(root)`); alone:
// `node tools/component.mjs`. For each build (release, debug, broken: the builds traces name):
//   1. asc with assembly/component/asconfig.json: the entry assembly/component/index.ts around
//      the core, with its own unshared memory (a shared one cannot be part of a component), its
//      canonical ABI written by hand, and the WIT imports in place of WASI
//      → build/component/core.<build>.wasm (a core module)
//   2. jco's componentEmbed: the WIT world (assembly/component/core.wit) as a custom section,
//      passed as a string (`jco embed --wit FILE` cannot read files: its wasm-tools has no
//      filesystem); then componentNew wraps the module as a component. No WASI adapter: the
//      module imports only the world's functions → build/component/core.<build>.component.wasm
//   3. jco transpile (async instantiation: the host passes the imports per instance, so each
//      replay or simulation gets its own clock and random source) → build/component/<build>/
//      (core.js, its core module core.core.wasm, core.d.ts)
// The release component, its transpiled module and the WIT ship in dist/component/. Only
// changed inputs rebuild: a build is skipped when its outputs are newer than every input.
import { execFile } from "node:child_process";
import { mkdirSync, readFileSync, writeFileSync, readdirSync, statSync, existsSync, rmSync, cpSync, copyFileSync } from "node:fs";
import { join, dirname } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";

export const COMPONENT_BUILDS = ["release", "debug", "broken"];

/** Builds the components; returns { [build]: the component's path }. */
export async function buildComponent(root) {
  const out = join(root, "build/component");
  mkdirSync(out, { recursive: true });
  const witPath = join(root, "assembly/component/core.wit");
  const witSource = readFileSync(witPath, "utf8");
  const inputs = [...listTs(join(root, "assembly")), witPath, join(root, "assembly/component/asconfig.json"), fileURLToPath(import.meta.url)];
  const newest = Math.max(...inputs.map((f) => statSync(f).mtimeMs));
  const jco = await import(pathToFileURL(join(root, "node_modules/@bytecodealliance/jco/dist/api.js")).href);
  const asc = join(root, "node_modules/assemblyscript/bin/asc.js");
  const made = Object.fromEntries(COMPONENT_BUILDS.map((b) => [b, join(out, `core.${b}.component.wasm`)]));
  const fresh = (p) => existsSync(p) && statSync(p).mtimeMs > newest;
  const stale = COMPONENT_BUILDS.filter((b) => !fresh(made[b]) || !fresh(join(out, b, "core.js")));
  // asc takes most of the time: its runs go side by side.
  await Promise.all(stale.map((build) => new Promise((resolve, reject) => {
    execFile(process.execPath, [asc, "--config", "assembly/component/asconfig.json", "--target", build], { cwd: root }, (err, stdout, stderr) => {
      process.stdout.write(stdout); process.stderr.write(stderr);
      if (err) reject(new Error(`tools/component.mjs: asc failed for the ${build} component (above): ${err.message}`)); else resolve();
    });
  })));
  for (const build of stale) {
    const component = made[build];
    const module = readFileSync(join(out, `core.${build}.wasm`));
    const embedded = await jco.componentEmbed({ binary: module, witSource, world: "reactor-core" });
    const bytes = await jco.componentNew(embedded, []);
    writeFileSync(component, bytes);
    const { files } = await jco.transpile(bytes, { name: "core", instantiation: "async", quiet: true });
    rmSync(join(out, build), { recursive: true, force: true });
    for (const [name, data] of Object.entries(files)) {
      mkdirSync(dirname(join(out, build, name)), { recursive: true });
      writeFileSync(join(out, build, name), name === "core.js" ? readDebugFlagOnce(Buffer.from(data).toString("utf8")) : data);
    }
  }
  // What ships: the release component for any component runtime, its transpiled ES module, the WIT.
  const dist = join(root, "dist/component");
  rmSync(dist, { recursive: true, force: true });
  mkdirSync(dist, { recursive: true });
  cpSync(join(out, "release"), join(dist, "release"), { recursive: true });
  copyFileSync(made.release, join(dist, "core.release.component.wasm"));
  copyFileSync(witPath, join(dist, "core.wit"));
  return made;
}

/**
 * jco 1.35's glue logs through a `_debugLog` that reads process.env.JCO_DEBUG on every call, and
 * it calls it several times per call into the component; in Node each read of process.env is a
 * call into C++ (getenv). Measured with tests/component/bench.mjs: version() went from ~10 µs to
 * ~1 µs a call once the flag is read once, when the module loads. The text is jco's; if a later
 * jco writes it otherwise, nothing is changed and the build says so.
 */
function readDebugFlagOnce(js) {
  const slow = "const _debugLog = (...args) => {\n    if (!globalThis?.process?.env?.JCO_DEBUG) { return; }";
  if (!js.includes(slow)) {
    console.warn("tools/component.mjs: jco's _debugLog is not the one this build patches (jco 1.35): the component's calls keep reading process.env each time");
    return js;
  }
  return js.replace(slow, "const _jcoDebug = !!globalThis?.process?.env?.JCO_DEBUG;\n  const _debugLog = (...args) => {\n    if (!_jcoDebug) { return; }");
}

function listTs(dir) {
  const r = [];
  for (const f of readdirSync(dir)) {
    const p = join(dir, f);
    if (statSync(p).isDirectory()) r.push(...listTs(p));
    else if (f.endsWith(".ts")) r.push(p);
  }
  return r;
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const root = join(dirname(fileURLToPath(import.meta.url)), "..");
  const t0 = Date.now();
  const made = await buildComponent(root);
  for (const [build, p] of Object.entries(made)) console.log(`component ${build}: ${p} (${statSync(p).size} bytes)`);
  console.log(`component: ${((Date.now() - t0) / 1000).toFixed(1)} s`);
}
