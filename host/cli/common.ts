// What every command shares: how a command fails (one line, exit status 2), how numbers print,
// and the check of what Deno must grant a command before it starts.
import { fileURLToPath } from "node:url";

/** Prints one line saying what was wrong and exits with status 2 (a bad option, a port that cannot be used, a permission Deno did not grant). */
export function fail(msg: string): never {
  console.error(`wasm-reactor: ${msg}`);
  process.exit(2);
}

/**
 * 12,345. Not toLocaleString: its first call loads ICU's number formatting, which cost serve
 * 8 MB of RSS at start (measured with /proc/self/smaps: node's read-only data +4.6 MB, heap +2.3).
 */
export const fmt = (n: number) => String(Math.round(n)).replace(/\B(?=(\d{3})+(?!\d))/g, ",");

/** The folder of the CLI's bundle (dist/): the cores and the native shim sit beside it. */
export const DIST_DIR = fileURLToPath(new URL(".", import.meta.url));
/** The native shim the epoll (and kqueue) host loads. */
export const SHIM_FILE = fileURLToPath(new URL("./wasm_reactor.node", import.meta.url));

/** A Deno permission: its name in Deno.permissions and the flag that grants it. */
export type DenoPermission = "read" | "write" | "net" | "ffi" | "env" | "sys" | "run" | "import";

/**
 * What a command needs from Deno: each entry is one permission (optionally only for one path),
 * with why; `anyOf` entries are alternatives (host 'auto': the native shim, or else the
 * portable host's sockets). "all": only -A will do (Deno opens /proc/self to --allow-all alone).
 */
export type DenoNeed = { name: DenoPermission; path?: string; why: string } | { anyOf: { name: DenoPermission; path?: string; why: string }[] };

interface DenoPermissions { querySync?(d: { name: string; path?: string }): { state: string } }
const denoPermissions = (): DenoPermissions | undefined => (globalThis as { Deno?: { permissions?: DenoPermissions } }).Deno?.permissions;

/**
 * Under Deno, checks before the command starts that every permission it needs was granted, and
 * if one was not, fails with one line naming the flags to run it with (rather than a stack
 * trace from wherever the first refused call happens). Does nothing on Node and Bun, which have
 * no permissions, or on a Deno without Deno.permissions.querySync. A permission Deno would ask
 * for at a terminal ("prompt") counts as not granted: the line says which flags to pass.
 */
export function requireDeno(command: string, needs: DenoNeed[] | "all", allWhy = ""): void {
  const perms = denoPermissions();
  if (!perms?.querySync) return;
  const granted = (name: DenoPermission, path?: string) => perms.querySync!(path === undefined ? { name } : { name, path }).state === "granted";
  const script = process.argv[1] ?? "dist/cli.js";
  if (needs === "all") {
    // -A grants every kind, --allow-import included; separate --allow-* flags leave /proc/self shut.
    const kinds: DenoPermission[] = ["read", "write", "net", "ffi", "env", "sys", "run", "import"];
    if (kinds.every((k) => granted(k))) return;
    fail(`${command} under Deno needs -A (${allWhy}): run \`deno run -A ${script} ${command} …\`; docs/runtimes.md lists what each command needs`);
  }
  const flag = (n: DenoPermission) => `--allow-${n}`;
  const missing = new Map<string, string[]>(); // flag (or alternatives) → why, each once
  const miss = (key: string, why: string) => { const w = missing.get(key) ?? []; if (!w.includes(why)) w.push(why); missing.set(key, w); };
  const flags = new Set<string>();
  for (const need of needs) {
    if ("anyOf" in need) {
      flags.add(flag(need.anyOf[0].name));
      if (!need.anyOf.some((n) => granted(n.name, n.path))) miss(`one of ${need.anyOf.map((n) => `${flag(n.name)} (${n.why})`).join(" or ")}`, "");
    } else {
      flags.add(flag(need.name));
      if (!granted(need.name, need.path)) miss(flag(need.name), need.why);
    }
  }
  if (!missing.size) return;
  const list = [...missing].map(([f, whys]) => whys.filter(Boolean).length ? `${f} (${whys.filter(Boolean).join("; ")})` : f).join(", ");
  fail(`${command} under Deno needs ${list}: run \`deno run ${[...flags].join(" ")} ${script} ${command} …\` (or deno run -A); docs/runtimes.md lists what each command needs`);
}
