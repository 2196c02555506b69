// Replay time of the committed traces through the core component against the shared-memory
// core, and what a call across the component's boundary costs (quoted in docs/component.md):
//
//   node tests/component/bench.mjs [--runtime node|deno|bun]... [--runs N]
//
// Needs a build (`npm run build`). Bundles tests/component/bench.ts with esbuild into
// build/bench-component/ (with the shared-memory cores beside it, where host/core/core.ts looks
// for them; the components are found in build/component/) and runs it on each runtime asked
// (default: node). Figures only: nothing here passes or fails on speed.
import { execFileSync } from "node:child_process";
import { copyFileSync, mkdirSync } from "node:fs";
import { join, dirname } from "node:path";
import { fileURLToPath } from "node:url";

const root = join(dirname(fileURLToPath(import.meta.url)), "../..");
const argv = process.argv.slice(2);
const runtimes = [];
let runs = "20";
for (let i = 0; i < argv.length; i++) {
  if (argv[i] === "--runtime") runtimes.push(argv[++i]);
  else if (argv[i] === "--runs") runs = argv[++i];
  else throw new Error(`tests/component/bench.mjs: unknown argument ${argv[i]} (usage: [--runtime node|deno|bun]... [--runs N])`);
}
const out = join(root, "build/bench-component");
mkdirSync(out, { recursive: true });
const esbuild = await import("esbuild");
await esbuild.build({ entryPoints: [join(root, "tests/component/bench.ts")], outfile: join(out, "bench.mjs"), bundle: true, format: "esm", platform: "neutral",
  target: "es2022", mainFields: ["browser", "module", "main"], conditions: ["import", "default"], external: ["node:*"], logLevel: "warning" });
for (const b of ["debug", "broken"]) copyFileSync(join(root, `build/core.${b}.wasm`), join(out, `core.${b}.wasm`));
const bins = { node: [process.execPath], deno: [join(root, "node_modules/.bin/deno"), "run", "-A"], bun: [join(root, "node_modules/.bin/bun")] };
for (const rt of runtimes.length ? runtimes : ["node"]) {
  const [cmd, ...pre] = bins[rt] ?? [];
  if (!cmd) throw new Error(`tests/component/bench.mjs: unknown runtime ${rt} (node, deno or bun)`);
  execFileSync(cmd, [...pre, join(out, "bench.mjs"), "--runs", runs], { stdio: "inherit", cwd: root });
}
