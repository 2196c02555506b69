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
 * file beside its TypeScript (host/backends/<name>/<name>.c), built for this OS into one .node.
 * Variants of the same sources: `faults` (-DWR_FAULTS: fault-injecting syscall wrappers, for
 * the reactor option `faults` and `fuzz --host epoll`) and, for the tests only, `planted`
 * (-DWR_PLANTED_BUG: one check removed, which tests/native/violations.test.ts must catch).
 * Each is recompiled only when a source or header is newer than it. Returns the paths built,
 * or null (not Linux, no compiler): then the build goes on and host 'epoll' says why it
 * cannot start.
 */
export function buildShim(root, { tests = false } = {}) {
  if (process.platform !== "linux") { console.warn(`build: native shim skipped: the epoll shim is Linux-only (this is ${process.platform}); host 'sim' works`); return null; }
  const shared = readdirSync(join(root, "shims/native")).filter((f) => /\.[ch]$/.test(f)).map((f) => join(root, "shims/native", f));
  const backends = ["epoll"].map((b) => join(root, `host/backends/${b}/${b}.c`)); // the backends this OS has
  const srcs = [...shared, ...backends];
  const units = srcs.filter((f) => f.endsWith(".c"));
  mkdirSync(join(root, "build"), { recursive: true });
  const cc = process.env.CC || "cc";
  const variants = [["release", "wasm_reactor.node", []], ["faults", "wasm_reactor_faults.node", ["-DWR_FAULTS"]]];
  if (tests) variants.push(["planted", "wasm_reactor_planted.node", ["-DWR_PLANTED_BUG"]]); // test-only: never shipped
  const built = {};
  for (const [name, file, defines] of variants) {
    const out = join(root, "build", file);
    built[name] = out;
    if (existsSync(out) && srcs.every((s) => statSync(s).mtimeMs <= statSync(out).mtimeMs)) continue;
    const argv = ["-O2", "-Wall", "-Wextra", "-Wno-unused-parameter", "-shared", "-fPIC", "-DNAPI_VERSION=8", ...defines,
      "-I", napiInclude(root), "-I", join(root, "shims/native"), ...units, "-o", out + ".tmp", "-lpthread", "-lm"];
    try {
      execFileSync(cc, argv, { cwd: root, stdio: "inherit" });
      renameSync(out + ".tmp", out); // a new inode: processes running the old shim keep theirs
    } catch (err) {
      const why = err.code === "ENOENT" ? `no C compiler found ('${cc}'; set CC or install gcc/clang)` : `the C compiler failed (${err.message.split("\n")[0]})`;
      console.warn(`\nbuild: WARNING: the native epoll shim (${name}) was NOT built: ${why}.\n` +
        "build: host 'epoll' (and `wasm-reactor serve` on real sockets) will refuse to start and say so; host 'sim' works.\n" +
        "build: fix the compiler, then run `npm run build`.\n");
      for (const [, f] of variants) rmSync(join(root, "build", f), { force: true });
      rmSync(out + ".tmp", { force: true });
      return null;
    }
  }
  return built;
}


/** node-api-headers' include directory, wherever npm put it (this checkout, or beside an installed package). */
export function napiInclude(root) {
  try { return join(dirname(createRequire(join(root, "package.json")).resolve("node-api-headers/package.json")), "include"); }
  catch { return join(root, "node_modules/node-api-headers/include"); }
}
