// A process where io_uring is forbidden, as a container runtime's default seccomp profile
// forbids it: tests/bench/servers/no-io-uring.c installs a filter that makes io_uring_setup fail
// with EPERM and execs the command (the filter is inherited by its children). The suites compile
// it with the system's cc into build/test-bin/ (once, when the source is newer) rather than
// change the machine: kernel.io_uring_disabled is system-wide and needs root.
import process from "node:process";
import { execFileSync, spawnSync } from "node:child_process";
import { existsSync, mkdirSync, renameSync, statSync } from "node:fs";
import { fileURLToPath } from "node:url";

const SRC = fileURLToPath(new URL("../../tests/bench/servers/no-io-uring.c", import.meta.url));
const BIN = fileURLToPath(new URL("../../build/test-bin/no-io-uring", import.meta.url));

/** The wrapper's path, or why it cannot be had here (not Linux, no cc, a build error). */
export function noIoUring(): { bin: string } | { why: string } {
  if (process.platform !== "linux") return { why: `seccomp filters and io_uring are Linux's (this is ${process.platform})` };
  if (!existsSync(SRC)) return { why: `${SRC} is missing` };
  if (!existsSync(BIN) || statSync(BIN).mtimeMs < statSync(SRC).mtimeMs) {
    const cc = process.env.CC || "cc";
    if (spawnSync(cc, ["--version"], { stdio: "ignore" }).status !== 0) return { why: `no C compiler (${cc}) to build the seccomp wrapper` };
    mkdirSync(fileURLToPath(new URL("../../build/test-bin/", import.meta.url)), { recursive: true });
    try {
      // into a temporary name, then renamed: suites on other runtimes may be running the old file
      execFileSync(cc, ["-O2", "-Wall", "-Wextra", "-o", `${BIN}.${process.pid}`, SRC], { stdio: ["ignore", "ignore", "pipe"] });
      renameSync(`${BIN}.${process.pid}`, BIN);
    } catch (err) { return { why: `the seccomp wrapper did not build: ${String((err as { stderr?: unknown }).stderr ?? err).trim()}` }; }
  }
  // A kernel without seccomp filters (or one that forbids installing them) fails here, once.
  const probe = spawnSync(BIN, ["true"], { encoding: "utf8" });
  if (probe.status !== 0) return { why: `the seccomp wrapper cannot install its filter here: ${probe.stderr.trim()}` };
  return { bin: BIN };
}
