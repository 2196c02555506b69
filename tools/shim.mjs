// The native shim's build, shared by `npm run build` (tools/build.mjs) and the package's install
// step: compiles shims/native/*.c plus each backend's C file for this OS into .node files under
// build/, with the system C compiler against node-api-headers. Plain Node (no dev dependencies
// but node-api-headers), so an installed package can run it.
import { execFileSync } from "node:child_process";
import { existsSync, mkdirSync, readdirSync, renameSync, rmSync, statSync } from "node:fs";
import { dirname, join } from "node:path";
import { createRequire } from "node:module";

/**
 * The native shim: every C file of shims/native/ (backend-neutral) plus each backend's own C
 * file beside its TypeScript (host/backends/<name>/<name>.c), built for this OS into one .node:
 * epoll on Linux, kqueue on macOS and FreeBSD (against the system's kqueue).
 * Variants of the same sources: `faults` (-DWR_FAULTS: fault-injecting syscall wrappers, for
 * the reactor option `faults` and `fuzz --host epoll`) and, for the tests only, `planted`
 * (-DWR_PLANTED_BUG: one check removed, which tests/native/violations.test.ts must catch) and,
 * on Linux, `kqueue`: the kqueue backend linked against libkqueue (kqueue over epoll), built
 * from tests/third_party/ under build/libkqueue/, so that the kqueue suites run here too.
 * Each is recompiled only when a source or header is newer than it. Returns the paths built
 * (by variant), or null (no backend for this OS, no compiler): then the build goes on and the
 * native hosts say why they cannot start.
 */
export function buildShim(root, { tests = false } = {}) {
  const os = process.platform;
  const backend = os === "linux" ? "epoll" : ["darwin", "freebsd"].includes(os) ? "kqueue" : undefined;
  if (!backend) { console.warn(`build: native shim skipped: no native backend for ${os} (epoll: Linux; kqueue: macOS, FreeBSD); host 'sim' works`); return null; }
  const shared = readdirSync(join(root, "shims/native")).filter((f) => /\.[ch]$/.test(f)).map((f) => join(root, "shims/native", f));
  const backendSrc = (b) => join(root, `host/backends/${b}/${b}.c`);
  mkdirSync(join(root, "build"), { recursive: true });
  const cc = process.env.CC || "cc";
  // Linux: epoll and io_uring in one .node (io_uring needs 6.1+ headers; uring.c says why not otherwise)
  const macro = os === "linux" ? ["-DWR_BACKEND_EPOLL", "-DWR_BACKEND_URING"] : [`-DWR_BACKEND_${backend.toUpperCase()}`];
  const sources = (b) => (b === "epoll" ? ["epoll", "uring"] : [b]).map(backendSrc);
  // [name, file, defines, backend, extra sources/flags at the end of the command line, extra inputs for the mtime check]
  const variants = [
    ["release", "wasm_reactor.node", [...macro], backend, [], []],
    ["faults", "wasm_reactor_faults.node", [...macro, "-DWR_FAULTS"], backend, [], []],
  ];
  if (tests) variants.push(["planted", "wasm_reactor_planted.node", [...macro, "-DWR_PLANTED_BUG"], backend, [], []]); // test-only: never shipped
  if (tests && os === "linux") {
    const kq = libkqueue(root);
    if (kq) variants.push(["kqueue", "wasm_reactor_kqueue.node", ["-DWR_BACKEND_KQUEUE", "-DWR_LIBKQUEUE", "-I", kq.include], "kqueue", [kq.lib], [kq.lib]]);
  }
  const built = {};
  for (const [name, file, defines, b, tail, inputs] of variants) {
    const out = join(root, "build", file);
    const srcs = [...shared, ...sources(b)];
    if (existsSync(out) && [...srcs, ...inputs].every((s) => statSync(s).mtimeMs <= statSync(out).mtimeMs)) { built[name] = out; continue; }
    const argv = ["-O2", "-Wall", "-Wextra", "-Wno-unused-parameter", "-shared", "-fPIC", "-DNAPI_VERSION=8", ...defines,
      "-I", napiInclude(root), "-I", join(root, "shims/native"), ...srcs.filter((f) => f.endsWith(".c")), ...tail, "-o", out + ".tmp", "-lpthread", "-lm"];
    if (os === "darwin") argv.splice(argv.indexOf("-shared"), 1, "-bundle", "-undefined", "dynamic_lookup"); // Node-API symbols come from the runtime
    try {
      execFileSync(cc, argv, { cwd: root, stdio: "inherit" });
      renameSync(out + ".tmp", out); // a new inode: processes running the old shim keep theirs
      built[name] = out;
    } catch (err) {
      rmSync(out + ".tmp", { force: true });
      if (name === "kqueue") { // test-only: the kqueue suites say they skip
        rmSync(out, { force: true });
        console.warn(`build: the kqueue test shim (libkqueue) was NOT built: ${err.message.split("\n")[0]}; the kqueue suites will skip`);
        continue;
      }
      const why = err.code === "ENOENT" ? `no C compiler found ('${cc}'; set CC or install gcc/clang)` : `the C compiler failed (${err.message.split("\n")[0]})`;
      console.warn(`\nbuild: WARNING: the native ${backend} shim (${name}) was NOT built: ${why}.\n` +
        `build: host '${backend}' (and \`wasm-reactor serve\` on real sockets) will refuse to start and say so; host 'sim' works.\n` +
        "build: fix the compiler, then run `npm run build`.\n");
      for (const [, f] of variants) rmSync(join(root, "build", f), { force: true });
      return null;
    }
  }
  return built;
}

/** The libkqueue source tarball kept for the tests (tests/third_party/README.md). */
const LIBKQUEUE = "tests/third_party/libkqueue-f966089.tar.gz";

/**
 * libkqueue built static under build/libkqueue/ from the committed tarball (never in the source
 * tree), once: { include, lib }, or null with one line saying why the kqueue suites will skip.
 * VERSION_OVERRIDE keeps its CMake from running `git describe` in whatever repository holds it.
 */
function libkqueue(root) {
  const tarball = join(root, LIBKQUEUE);
  const dir = join(root, "build/libkqueue");
  const src = join(dir, "libkqueue"), bdir = join(src, "build");
  const lib = join(bdir, "libkqueue.a"), include = join(bdir, "include");
  const skip = (why) => { console.warn(`build: kqueue test shim skipped: ${why}; the kqueue suites will skip (say so) on this machine`); return null; };
  if (!existsSync(tarball)) return skip(`${LIBKQUEUE} is missing`);
  if (existsSync(lib) && statSync(lib).mtimeMs >= statSync(tarball).mtimeMs) return { include, lib };
  const has = (cmd) => { try { execFileSync(cmd, ["--version"], { stdio: "ignore" }); return true; } catch { return false; } };
  if (!has("cmake")) return skip("cmake is not installed (libkqueue builds with it)");
  try {
    rmSync(dir, { recursive: true, force: true });
    mkdirSync(dir, { recursive: true });
    execFileSync("tar", ["xzf", tarball, "-C", dir], { stdio: "inherit" });
    execFileSync("cmake", ["-S", src, "-B", bdir, "-DENABLE_SHARED=OFF", "-DVERSION_OVERRIDE=2.7.0", "-DCMAKE_BUILD_TYPE=Release", "-DCMAKE_POSITION_INDEPENDENT_CODE=ON"], { stdio: "ignore" });
    execFileSync("make", ["-C", bdir, "-j2"], { stdio: "ignore" });
  } catch (err) {
    return skip(`building libkqueue failed (${String(err.message).split("\n")[0]})`);
  }
  return existsSync(lib) ? { include, lib } : skip(`building libkqueue left no ${lib}`);
}

/** node-api-headers' include directory, wherever npm put it (this checkout, or beside an installed package). */
export function napiInclude(root) {
  try { return join(dirname(createRequire(join(root, "package.json")).resolve("node-api-headers/package.json")), "include"); }
  catch { return join(root, "node_modules/node-api-headers/include"); }
}
