// How the CLI suites start `wasm-reactor` (dist/cli.js): with the runtime that runs the suite,
// as a user of that runtime would: `node dist/cli.js`, `bun dist/cli.js`, `deno run -A
// dist/cli.js` (or, to test what Deno refuses, with the permission flags given). One place, so
// that every CLI test runs the same commands on Node, Deno and Bun.
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { fileURLToPath } from "node:url";

export type Runtime = "node" | "deno" | "bun";
const g = globalThis as { Deno?: { execPath(): string }; Bun?: unknown };
export const RUNTIME: Runtime = g.Deno !== undefined ? "deno" : g.Bun !== undefined ? "bun" : "node";

/** The CLI's bundle (npm test builds it first). */
export const CLI = fileURLToPath(new URL("../../dist/cli.js", import.meta.url));

export interface CliOptions {
  /** Deno only: the permission flags (default ["-A"], what docs/runtimes.md tells users to run). */
  deno?: string[];
  /** Another copy of the bundle (e.g. one without the native shim beside it). */
  cli?: string;
}

/** A command line: the program, its arguments, and variables to add to the environment. */
export interface Command { cmd: string; args: string[]; env?: Record<string, string> }

/** The command that runs `wasm-reactor ...args` under this runtime. */
export function cliCommand(args: string[], o: CliOptions = {}): Command {
  const cli = o.cli ?? CLI;
  // process.execPath is node for Node and bun for Bun; Deno's own path comes from Deno.execPath().
  // --no-lock: the bundle imports only node:*, and no deno.lock belongs in the tree.
  if (RUNTIME === "deno") return denoCommand(["run", ...(o.deno ?? ["-A"]), "--no-lock", cli, ...args]);
  return { cmd: process.execPath, args: [cli, ...args] };
}

/**
 * `deno ...args`, with the path to deno passed in the environment to a shell that execs it.
 * Deno's node:child_process rewrites any argument list holding Deno's own path followed by
 * `run` into `run -A` (seen with Deno 2.9.6: `/bin/echo <deno> run x` printed `<deno> run -A
 * x`), so a child started with no --allow-* flag found every permission granted, hiding exactly
 * what the permission tests look at.
 */
export function denoCommand(args: string[]): Command {
  return { cmd: "/bin/sh", args: ["-c", 'exec "$WR_DENO" "$@"', "sh", ...args], env: { WR_DENO: g.Deno!.execPath() } };
}

const envOf = (c: Command) => ({ ...process.env, ...c.env });

/** Runs the CLI to its end (at most timeoutMs); stdout and stderr apart. */
export function runCli(args: string[], o: CliOptions & { timeoutMs?: number } = {}): { code: number | null; out: string; err: string } {
  const c = cliCommand(args, o);
  const r = spawnSync(c.cmd, c.args, { encoding: "utf8", timeout: o.timeoutMs ?? 30_000, env: envOf(c) });
  return { code: r.status, out: r.stdout, err: r.stderr };
}

/** Starts the CLI as a child with its stdout and stderr piped (the caller ends it). */
export function spawnCli(args: string[], o: CliOptions = {}): ChildProcess {
  const c = cliCommand(args, o);
  return spawn(c.cmd, c.args, { stdio: ["ignore", "pipe", "pipe"], env: envOf(c) });
}

/**
 * Sends `sig` to a child by its PID. Not child.kill(): Deno's node:child_process then reports the
 * child's exit as (null, sig) even when the child caught the signal and exited with a code of
 * its own (seen with Deno 2.9.6; Node and Bun report the code), and the tests check that code.
 */
export function signal(child: ChildProcess, sig: "SIGTERM" | "SIGINT"): void {
  process.kill(child.pid!, sig);
}
