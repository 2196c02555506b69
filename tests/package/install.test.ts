// runtimes: node
// The package as a user gets it: `npm pack` this checkout, install the tarball into a fresh project
// under the OS's temp directory (its own package.json, which approves our install script as a user
// would), with no path back to this checkout, then run a tiny echo program there
// (tests/package/fixtures/echo-app.mjs, importing "wasm-reactor" by name) on Node, Deno and Bun.
// A second project installs with CC pointing at no compiler: the install succeeds with one line
// saying the portable host will be used. Node only as a runner: it spawns npm and the three
// runtimes itself. npm runs --prefer-offline: the package's one dependency, node-api-headers, comes
// from npm's cache when it is there (npm 11 wants its full metadata, which `npm ci` does not
// cache: the first run may fetch that once; with neither cache nor registry the install tests skip
// and say why).
import { suite } from "uvu";
import * as assert from "uvu/assert";
import { spawnSync, type SpawnSyncReturns } from "node:child_process";
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { skip } from "../helpers/skip.ts";
import { LAYOUT_VERSION } from "../../host/core/layout.gen.ts";
import { unavailable } from "../helpers/contract.ts";

const test = suite("package: npm pack, install into a fresh project, echo on Node, Deno and Bun");
const ROOT = fileURLToPath(new URL("../../", import.meta.url));
const APP = fileURLToPath(new URL("../../tests/package/fixtures/echo-app.mjs", import.meta.url));
const BIN = (name: string) => join(ROOT, "node_modules/.bin", name);
/** The native host this OS gets (host/backends/registry.ts): on Linux io_uring where this kernel allows it, else epoll; the portable host elsewhere. */
const URING_HERE = process.platform === "linux" && unavailable({ name: "uring", options: { host: "uring", wait: "thread" } }) === undefined;
const NATIVE = URING_HERE ? "uring" : ({ linux: "epoll", darwin: "kqueue", freebsd: "kqueue" } as Record<string, string>)[process.platform] ?? "portable";

let tmp = "";
let tarball = "";
let packed: string[] = [];
/** A project with the package installed (with a compiler), and one installed with CC=nowhere. */
let withCc = "";
let withoutCc = "";
/** Why the installs could not run here (no registry and nothing cached), when they could not. */
let noInstall = "";

/** The environment without the npm_* variables of an `npm test` around us (they would steer the child npm). */
function cleanEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) if (!/^npm_/i.test(k) && k !== "WASM_REACTOR_HOST" && k !== "CC") env[k] = v;
  return { ...env, NO_COLOR: "1", DENO_NO_UPDATE_CHECK: "1", npm_config_update_notifier: "false", npm_config_audit: "false", npm_config_fund: "false", ...extra };
}

function run(cmd: string, args: string[], cwd: string, env: NodeJS.ProcessEnv, timeout = 60_000): SpawnSyncReturns<string> & { out: string } {
  const r = spawnSync(cmd, args, { cwd, env, encoding: "utf8", timeout });
  return Object.assign(r, { out: `${r.stdout ?? ""}${r.stderr ?? ""}${r.error ? `\n(${r.error.message})` : ""}` });
}

/** A fresh project that depends on the tarball and approves its install script, as a user would. */
function install(name: string, env: NodeJS.ProcessEnv): { dir: string; out: string } {
  const dir = join(tmp, name);
  rmSync(dir, { recursive: true, force: true });
  // A local tarball's approval is keyed by its spec (what `npm install-scripts approve` writes);
  // from the registry it would be the name.
  const pkg = { name, version: "1.0.0", private: true, type: "module", allowScripts: { [`file:${tarball}`]: true, "wasm-reactor": true } };
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, "package.json"), JSON.stringify(pkg, null, 2) + "\n");
  const r = run("npm", ["install", "--prefer-offline", "--foreground-scripts", "--no-audit", "--no-fund", tarball], dir, env, 180_000);
  if (r.status !== 0 && /ENOTCACHED|ENOTFOUND|EAI_AGAIN|ECONNREFUSED|ETIMEDOUT|ENETUNREACH/.test(r.out)) {
    return { dir: "", out: `npm could not fetch node-api-headers' metadata (not in npm's cache, and no registry): ${r.out.split("\n").find((l) => /npm error/.test(l)) ?? r.out}` };
  }
  assert.is(r.status, 0, `npm install in ${dir} failed:\n${r.out}`);
  copyFileSync(APP, join(dir, "echo-app.mjs"));
  return { dir, out: r.out };
}

interface AppResult {
  runtime: string; host?: string; echoed?: boolean; got?: string; logs: string[]; leaked?: number;
  broken?: { code: string; message?: string }; component?: { version?: number; error?: string }; error?: { code: string; message: string };
}
function runApp(runtime: "node" | "deno" | "bun", dir: string, env: NodeJS.ProcessEnv): AppResult {
  let file = "echo-app.mjs";
  if (runtime === "deno") {
    // Deno imports the package through the npm: specifier (the issue's "Deno (npm: specifier)").
    // In a project with a package.json and node_modules, Deno resolves npm:wasm-reactor (and the
    // bare name) to node_modules/wasm-reactor: the copy npm installed and built the shim into.
    // Deno's own installer cannot install a local tarball (it links the .tgz file), so npm
    // installs here. --no-lock: no deno.lock written into the project.
    file = "echo-app.deno.mjs";
    const source = readFileSync(APP, "utf8").replace('from "wasm-reactor"', 'from "npm:wasm-reactor"').replace('"wasm-reactor/component"', '"npm:wasm-reactor/component"');
    assert.match(source, /from "npm:wasm-reactor"/);
    writeFileSync(join(dir, file), source);
  }
  const [cmd, args] = runtime === "node" ? [process.execPath, [file]]
    : runtime === "deno" ? [BIN("deno"), ["run", "-A", "--no-lock", file]]
    : [BIN("bun"), [file]];
  const r = run(cmd, args, dir, env, 30_000);
  const line = r.stdout?.split("\n").find((l) => l.startsWith("{"));
  assert.ok(line, `${runtime}: no result line (exit ${r.status}):\n${r.out}`);
  return JSON.parse(line!) as AppResult;
}

/** Our install script's lines in npm's output (they all start "wasm-reactor: "). */
const ourLines = (out: string) => out.split("\n").filter((l) => l.startsWith("wasm-reactor: "));

test.before(() => { tmp = mkdtempSync(join(tmpdir(), "wasm-reactor-package-")); });
test.after(() => { if (tmp) rmSync(tmp, { recursive: true, force: true }); });

test("npm pack: dist/ (bundles, types, each core once), the shim's C sources and the install tools; no .node, no broken core, no tests", () => {
  assert.ok(existsSync(join(ROOT, "dist/index.js")), "dist/ is built (npm test builds first)");
  // --ignore-scripts: prepack would rebuild, and the suite runs after a build.
  const r = run("npm", ["pack", "--ignore-scripts", "--json", "--pack-destination", tmp], ROOT, cleanEnv());
  assert.is(r.status, 0, r.out);
  const info = JSON.parse(r.stdout.slice(r.stdout.indexOf("["))) as { filename: string; files: { path: string }[] }[];
  tarball = join(tmp, info[0]!.filename);
  packed = info[0]!.files.map((f) => f.path);
  for (const f of ["package.json", "dist/index.js", "dist/index.d.ts", "dist/cli.js", "dist/core.release.wasm", "dist/core.debug.wasm",
    "tools/install.mjs", "tools/shim.mjs", "shims/native/napi.c", "shims/native/shim.h", "shims/native/layout.gen.h", "host/backends/epoll/epoll.c"]) {
    assert.ok(packed.includes(f), `${f} is in the package`);
  }
  const unwanted = packed.filter((f) => f.endsWith(".node") || f.includes("core.broken") || /^(build|tests|assembly)\//.test(f) ||
    f === "tools/build.mjs" || /^dist\/(internal|fuzz)\.js/.test(f) || f.endsWith(".log"));
  assert.equal(unwanted, [], "nothing built on the packing machine, nothing test-only");
  const cores = packed.filter((f) => f.endsWith(".wasm"));
  assert.equal(cores.sort(), ["dist/component/core.release.component.wasm", "dist/component/release/core.core.wasm", "dist/component/release/core.core2.wasm",
    "dist/component/release/core.core3.wasm", "dist/core.debug.wasm", "dist/core.release.wasm"], "each core once, and the release component (docs/component.md)");
  assert.ok(packed.includes("dist/component/release/core.js") && packed.includes("dist/component/core.wit"), "the component's module and WIT");
  assert.ok(packed.some((f) => f.startsWith("dist/types/")), "the declarations");
});

test("npm install <tarball> in a fresh project: the install script builds the shim into dist/ and says so in one line; npm warns of nothing", () => {
  assert.ok(tarball, "packed");
  const { dir, out } = install("app-with-cc", cleanEnv());
  if (!dir) { noInstall = out; return skip(out); }
  withCc = dir;
  assert.not.match(out, /install-scripts/, `the project's allowScripts covers our install script:\n${out}`);
  assert.equal(ourLines(out).length, 1, `one line from the install script:\n${out}`);
  const pkg = join(dir, "node_modules/wasm-reactor");
  if (process.platform !== "linux") return skip(`the native shim builds on Linux here; this is ${process.platform}`);
  assert.match(ourLines(out)[0]!, /built the native shim/, out);
  for (const f of ["wasm_reactor.node", "wasm_reactor_faults.node"]) assert.ok(existsSync(join(pkg, "dist", f)), `dist/${f} built at install`);
  assert.not.ok(existsSync(join(pkg, "dist/wasm_reactor_planted.node")), "no test-only build");
  assert.not.ok(existsSync(join(pkg, "build")), "no build/ left behind");
  assert.not.ok(existsSync(join(pkg, "dist/native-shim.log")), "no failure log");
});

for (const runtime of ["node", "deno", "bun"] as const) {
  test(`${runtime}: the installed package echoes on host 'auto' (${NATIVE} here), and refuses the broken core it does not ship`, () => {
    if (noInstall) return skip(noInstall);
    assert.ok(withCc, "installed");
    const r = runApp(runtime, withCc, cleanEnv());
    assert.not.ok(r.error, `${runtime}: ${JSON.stringify(r.error)}\n${r.logs.join("\n")}`);
    assert.is(r.host, NATIVE);
    assert.ok(r.echoed, `${runtime} got back ${JSON.stringify(r.got)}`);
    assert.is(r.leaked, 0);
    assert.is(r.broken?.code, "ERR_INVALID_OPTION", JSON.stringify(r.broken));
    assert.match(r.broken!.message!, /build 'broken'.*not in this installation/);
    assert.equal(r.component, { version: LAYOUT_VERSION }, `${runtime}: "wasm-reactor/component" instantiates and reports this layout`);
  });
}

for (const runtime of ["node", "deno", "bun"] as const) {
  test(`${runtime}: WASM_REACTOR_HOST=portable: the same installed package echoes on the portable host`, () => {
    if (noInstall) return skip(noInstall);
    assert.ok(withCc, "installed");
    const r = runApp(runtime, withCc, cleanEnv({ WASM_REACTOR_HOST: "portable" }));
    assert.not.ok(r.error, `${runtime}: ${JSON.stringify(r.error)}\n${r.logs.join("\n")}`);
    assert.is(r.host, "portable");
    assert.ok(r.echoed, `${runtime} got back ${JSON.stringify(r.got)}`);
    assert.is(r.leaked, 0);
  });
}

test("no C compiler (CC=a path that does not exist): the install succeeds with one line saying why and that the portable host will be used", () => {
  assert.ok(tarball, "packed");
  const { dir, out } = install("app-without-cc", cleanEnv({ CC: join(tmp, "no-such-compiler") }));
  if (!dir) { noInstall = out; return skip(out); }
  withoutCc = dir;
  const lines = ourLines(out);
  assert.equal(lines.length, 1, `one line from the install script:\n${out}`);
  assert.match(lines[0]!, /native shim not built, host 'auto' will use the portable host/);
  if (process.platform === "linux") assert.match(lines[0]!, /no C compiler found \('.*no-such-compiler'/);
  const dist = join(dir, "node_modules/wasm-reactor/dist");
  assert.equal(readdirSync(dist).filter((f) => f.endsWith(".node")), [], "no shim");
  assert.ok(existsSync(join(dist, "index.js")));
});

for (const runtime of ["node", "deno", "bun"] as const) {
  test(`${runtime}: without the shim, host 'auto' falls back to the portable host with one line saying why, and echoes`, () => {
    if (noInstall) return skip(noInstall);
    assert.ok(withoutCc, "installed");
    const r = runApp(runtime, withoutCc, cleanEnv());
    assert.not.ok(r.error, `${runtime}: ${JSON.stringify(r.error)}\n${r.logs.join("\n")}`);
    assert.is(r.host, "portable");
    assert.ok(r.echoed, `${runtime} got back ${JSON.stringify(r.got)}`);
    if (process.platform !== "linux") return skip(`the shim's fallback line is checked on Linux; this is ${process.platform}`);
    const why = r.logs.filter((l) => /host 'auto' is using the portable host/.test(l));
    assert.is(why.length, 1, r.logs.join("\n"));
    assert.match(why[0]!, /native shim is not built .*`npm rebuild wasm-reactor`/);
  });
}

test.run();
