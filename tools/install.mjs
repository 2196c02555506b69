// The package's `install` script: npm runs it on `npm install` and `npm ci`, both in this
// repository and in a project that installs the package (there only when that project allows the
// package's install scripts: its `allowScripts`, see docs/install.md). Two cases:
//
//   - A development checkout: tools/build.mjs is here (the package never ships it) and the
//     devDependencies are installed. Runs the full build, `node tools/build.mjs` (the cores, the
//     native shim and its test variants, dist/, the test bundles, the types), as `prepare` used to:
//     `npm ci && npm start` works on a fresh clone. A build failure fails the install, as it should
//     for a developer.
//   - An installed package (dist/ shipped, no build tools): compiles only the native shim, the
//     release and faults builds (tools/shim.mjs, with the system C compiler against
//     node-api-headers), into dist/ where host/backends/native.ts loads it. Where it cannot (no C
//     compiler, an OS without a native backend, a compile error) it prints ONE line saying why and
//     that host 'auto' will use the portable host, keeps the compiler's output in
//     dist/native-shim.log, and exits 0: the shim is optional, the install never fails for it.
//     `npm rebuild wasm-reactor` runs it again (after installing a compiler, say).
//
// npm shows an install script's output only with --foreground-scripts (or when it fails); the
// line is for that, for `npm rebuild`, and for logs. At run time host 'auto' says again, in its own
// log line, why it did not pick the native host.
//
// Runs on Node, and under Deno's and Bun's own installers (each runs `node` scripts with itself),
// with nothing but built-in modules and tools/shim.mjs.
import { execFileSync, spawnSync } from "node:child_process";
import { existsSync, mkdirSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join, relative } from "node:path";
import { fileURLToPath } from "node:url";

const self = fileURLToPath(import.meta.url);
const root = join(dirname(self), "..");
const dist = join(root, "dist");
const LOG = join(dist, "native-shim.log");
/** What the installed package keeps of tools/shim.mjs's builds: the library loads these from dist/. */
const SHIPPED = { release: "wasm_reactor.node", faults: "wasm_reactor_faults.node" };
/** The native host each OS gets when the shim loads (host/backends/registry.ts, nativeKind()). */
const NATIVE = { linux: "epoll", darwin: "kqueue", freebsd: "kqueue", openbsd: "kqueue", netbsd: "kqueue" };

if (process.argv[2] === "--compile") {
  // The child (below): the build itself, its output captured by the parent.
  const { buildShim } = await import("./shim.mjs");
  const built = buildShim(root, { tests: false });
  if (!built) process.exit(3);
  mkdirSync(dist, { recursive: true });
  for (const [name, file] of Object.entries(SHIPPED)) {
    if (!built[name]) { console.error(`install: the shim build gave no '${name}' variant`); process.exit(4); }
    renameSync(built[name], join(dist, file)); // a new inode: nothing has the package's shim mapped yet, but no harm
  }
  rmSync(join(root, "build"), { recursive: true, force: true }); // only the shim's objects were there
  process.exit(0);
}

if (existsSync(join(root, "tools/build.mjs"))) developmentBuild();
else installedBuild();

function developmentBuild() {
  const req = createRequire(join(root, "package.json"));
  const missing = ["assemblyscript", "esbuild", "typescript"].filter((p) => {
    try { req.resolve(`${p}/package.json`); return false; } catch { return true; }
  });
  if (missing.length) {
    console.warn(`wasm-reactor: a development checkout without its devDependencies (${missing.join(", ")} missing, e.g. installed with --omit=dev): nothing built; run \`npm ci\` to install them and build`);
    return;
  }
  try {
    execFileSync(process.execPath, [join(root, "tools/build.mjs")], { cwd: root, stdio: "inherit" });
  } catch (err) {
    process.exit(typeof err.status === "number" && err.status !== 0 ? err.status : 1);
  }
}

function installedBuild() {
  // Never a shim left from an earlier install beside this package's core: it is rebuilt or gone.
  for (const f of Object.values(SHIPPED)) rmSync(join(dist, f), { force: true });
  rmSync(LOG, { force: true });
  const cc = process.env.CC || "cc";
  const native = NATIVE[process.platform];
  const fallback = "host 'auto' will use the portable host (the runtime's own sockets)";
  let why;
  const retry = "; to build it later: `npm rebuild wasm-reactor`";
  if (!native) why = `no native host for ${process.platform}`;
  else if (!compilerRuns(cc)) why = `no C compiler found ('${cc}': install gcc or clang, or set CC)${retry}`;
  else {
    const argv = process.versions.deno ? ["run", "-A", self, "--compile"] : [self, "--compile"];
    const r = spawnSync(process.execPath, argv, { cwd: root, encoding: "utf8", timeout: 300_000 });
    const output = `${r.stdout ?? ""}${r.stderr ?? ""}`;
    if (r.status === 0) {
      console.log(`wasm-reactor: built the native shim with ${cc} (${relative(root, join(dist, SHIPPED.release))}): host 'auto' will use ${native}`);
      return;
    }
    // tools/shim.mjs says why in a line ending "... skipped: WHY" or "... was NOT built: WHY."
    // (the compiler's command line, which it quotes, is long: the log has it).
    const said = /(?:skipped|NOT built): (.*?)\.?$/m.exec(output)?.[1]?.replace(/\s*\(Command failed:.*$/, "");
    why = `${said ?? (r.error ? `the build did not finish (${r.error.message})` : "the C compiler failed")} (its output: ${relative(root, LOG)})${retry}`;
    try { mkdirSync(dist, { recursive: true }); writeFileSync(LOG, output); } catch { /* a read-only package: the line still says why */ }
    rmSync(join(root, "build"), { recursive: true, force: true });
  }
  console.warn(`wasm-reactor: native shim not built, ${fallback}: ${why}`);
}

/** True when `cc --version` runs (the compiler exists and starts). */
function compilerRuns(cc) {
  const r = spawnSync(cc, ["--version"], { stdio: "ignore", timeout: 30_000 });
  return !r.error && r.status === 0;
}
