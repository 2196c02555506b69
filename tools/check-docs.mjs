// `node tools/check-docs.mjs [--strict]`: catches the easy ways the docs drift from the code. `npm test`
// runs it (tests/docs/check-docs.test.ts, which also plants one drift of each kind and expects each caught).
//
// In README.md, docs/*.md and docs/runbooks/*.md (code spans, fenced blocks and links; prose is left alone):
//   1. every `wasm-reactor <command>` is a command in the CLI's help (host/cli/main.ts). A command
//      still to come is allowed only as "coming in `wasm-reactor <command>`";
//   2. every `--option` exists where it belongs: after `wasm-reactor serve` or `npm start --` in
//      serve's help text (host/cli/serve.ts), after `npm run bench --` in tests/bench/run.mjs, after
//      one of our scripts in that script; after a tool not ours (node, deno, npx, cc) it is not
//      checked; on its own, in any of those (the CLI's help texts first);
//   3. every option of Reactor.create() used in the docs (keys of `Reactor.create({ ... })`,
//      "option `x`", the README's options table) is in OPTION_SPECS (host/options.ts), and every
//      option in OPTION_SPECS is named in README.md;
//   4. every relative link, and every repo path in code (`host/options.ts`, `tests/api/*.test.ts`)
//      exists; a link to a heading (#anchor) finds that heading; generated paths (build/, dist/,
//      bench-results/) are not required to exist;
//   5. nothing points outside the repo (`../shared/...`, /work/...), and every *.md file named
//      exists in the repo: the docs cite only what a user of the repo can open;
//   6. every `npm run <script>`, `npm test` and `npm start` is a script in package.json.
// Also, in the library's own source (host/, shims/, assembly/, tools/): `wasm-reactor <command>`
// pointers to commands that do not exist are listed as notes (`--strict`: as problems).
//
// Output: one line per problem, `file:line: what`, then a summary; exit 1 when there is any.
import { existsSync, readFileSync, readdirSync, statSync } from "node:fs";
import { dirname, join, relative, resolve } from "node:path";
import { fileURLToPath } from "node:url";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const argv = process.argv.slice(2);
const strict = argv.includes("--strict");
/** `--doc FILE` (repeatable): check these docs only (repo-relative), not the source (the check's own test). */
const only = argv.flatMap((a, i) => (a === "--doc" && argv[i + 1] ? [argv[i + 1]] : []));
const read = (p) => readFileSync(join(root, p), "utf8");
const problems = [];
const notes = [];
const counts = { commands: 0, options: 0, specs: 0, paths: 0, links: 0, scripts: 0 };
const problem = (file, line, what) => problems.push(`${file}:${line}: ${what}`);

// ── what exists ──────────────────────────────────────────────────────────────────────────
const cliFiles = readdirSync(join(root, "host/cli")).filter((f) => f.endsWith(".ts"));
/** The help texts: `const X_HELP = \`...\`` in host/cli/*.ts, by command (the file's name). */
const helps = new Map();
for (const f of cliFiles) {
  for (const m of read(`host/cli/${f}`).matchAll(/const \w*HELP = `([\s\S]*?)`;/g)) helps.set(f.replace(/\.ts$/, ""), m[1]);
}
const mainHelp = helps.get("main") ?? "";
const commandBlock = /Commands:\n([\s\S]*?)(\n\S|\n*$)/.exec(mainHelp)?.[1] ?? "";
const COMMANDS = new Set([...commandBlock.matchAll(/^ {2}([a-z][a-z-]*)\s/gm)].map((m) => m[1]));
const optionsIn = (text) => new Set([...text.matchAll(/(?<![\w-])--[a-z][a-z0-9-]*/g)].map((m) => m[0]));
const cliOptions = (cmd) => optionsIn(helps.get(cmd) ?? "");
const allCliOptions = new Set([...helps.values()].flatMap((t) => [...optionsIn(t)]));
/** Our scripts that take options: their own source is their help. */
const SCRIPTS = ["tests/run.mjs", "tests/bench/run.mjs", "tools/build.mjs", "tools/check-docs.mjs", "tests/bench/loadgen.c", "tests/component/bench.mjs",
  ...readdirSync(join(root, "tests/bench")).filter((f) => f.endsWith(".mjs")).map((f) => `tests/bench/${f}`)];
// A benchmark module also takes what tests/bench/lib.mjs parses for it (--quick, --rounds).
const scriptOptions = new Map(SCRIPTS.filter((s) => existsSync(join(root, s)))
  .map((s) => [s, optionsIn(read(s) + (/^tests\/bench\/\w+\.mjs$/.test(s) && existsSync(join(root, "tests/bench/lib.mjs")) ? read("tests/bench/lib.mjs") : ""))]));
const everyOption = new Set([...allCliOptions, ...[...scriptOptions.values()].flatMap((s) => [...s])]);
const specsText = read("host/options.ts");
const specsBody = specsText.slice(specsText.indexOf("export const OPTION_SPECS"), specsText.indexOf("} as const"));
const SPECS = new Set([...specsBody.matchAll(/^ {2}(\w+): \{ kind:/gm)].map((m) => m[1]));
const pkg = JSON.parse(read("package.json"));
const GENERATED = new Set(["build", "dist", "bench-results", "node_modules"]);
const TOP = new Set([...readdirSync(root).filter((f) => !f.startsWith(".")), ...GENERATED]);
const mdFiles = new Set();
(function walk(dir) {
  for (const f of readdirSync(dir)) {
    if (f.startsWith(".") || GENERATED.has(f)) continue;
    const p = join(dir, f);
    if (statSync(p).isDirectory()) walk(p); else if (f.endsWith(".md")) mdFiles.add(f);
  }
})(root);

// ── reading a doc ────────────────────────────────────────────────────────────────────────
/** Each piece of code in a doc: { line, text, fenced }: inline code spans and fenced lines. */
function codeOf(lines) {
  const out = [];
  let fence = false;
  lines.forEach((l, i) => {
    if (/^\s*```/.test(l)) { fence = !fence; return; }
    if (fence) { out.push({ line: i + 1, text: l, fenced: true }); return; }
    for (const m of l.matchAll(/(`+)([^`]+?)\1/g)) out.push({ line: i + 1, text: m[2], fenced: false });
  });
  return out;
}

/** GitHub's heading anchors: lower case, punctuation dropped, spaces to hyphens. */
function anchorsOf(text) {
  const seen = new Map();
  const out = new Set();
  let fence = false;
  for (const l of text.split("\n")) {
    if (/^\s*```/.test(l)) fence = !fence;
    const m = !fence && /^#{1,6}\s+(.*)$/.exec(l);
    if (!m) continue;
    const base = m[1].trim().toLowerCase().replace(/[^\p{L}\p{N} _-]/gu, "").replace(/ /g, "-");
    const n = seen.get(base) ?? 0;
    seen.set(base, n + 1);
    out.add(n ? `${base}-${n}` : base);
  }
  return out;
}

/** Where a path or link lands, and whether that is inside the repo. */
function landing(from, target) {
  const abs = target.startsWith("/") ? target : resolve(dirname(join(root, from)), target);
  const rel = relative(root, abs);
  return { abs, inside: !rel.startsWith("..") && !rel.startsWith("/") };
}

/** The command a `--option` at `pos` of `text` belongs to: the last one named before it. */
const HEADS = [ // on a tie (`npm start`, `npm`), the later entry wins
  [/(?:^|[;&|]\s*|\$\s+)(?:node|deno|bun|npx|npm|jco|cc|gcc|clang|tsc|cmake|make|git|strace|perf|taskset|prlimit|docker|sudo|sysctl|systemctl)(?=\s)/g, () => ({ external: true })],
  [/wasm-reactor\s+([a-z][a-z-]*)/g, (m) => ({ cli: m[1] })],
  [/npm start\b/g, () => ({ cli: "serve" })],
  [/npm run bench\b/g, () => ({ script: "tests/bench/run.mjs" })],
  [/npm run build\b/g, () => ({ script: "tools/build.mjs" })],
  [/build\/bench\/loadgen\b/g, () => ({ script: "tests/bench/loadgen.c" })],
  [/(?:tests|tools)\/[\w/-]+\.mjs\b/g, (m) => ({ script: m[0] })],
];
function ownerOf(text, pos) {
  let best = null, at = -1;
  for (const [re, make] of HEADS) {
    for (const m of text.matchAll(re)) if (m.index < pos && m.index >= at) { at = m.index; best = make(m); }
  }
  return best;
}

/** Top-level keys of each `Reactor.create({ ... })` in a piece of code. */
function createKeys(text) {
  const keys = [];
  for (const m of text.matchAll(/Reactor\.create\(\{/g)) {
    let depth = 1, i = m.index + m[0].length, token = "";
    for (; i < text.length && depth > 0; i++) {
      const c = text[i];
      if (c === '"' || c === "'" || c === "`") { const j = text.indexOf(c, i + 1); i = j < 0 ? text.length : j; token = ""; continue; }
      if ("{[(".includes(c)) depth++;
      else if ("}])".includes(c)) depth--;
      else if (c === ":" && depth === 1 && /^\w+$/.test(token.trim())) keys.push(token.trim());
      token = c === "," || c === "{" ? "" : token + c;
    }
  }
  return keys;
}

// ── the checks ───────────────────────────────────────────────────────────────────────────
// docs/runbooks/ too: errors, doctor verdicts and alert rules link there.
const docs = only.length ? only : ["README.md", ...readdirSync(join(root, "docs")).filter((f) => f.endsWith(".md")).map((f) => `docs/${f}`),
  ...(existsSync(join(root, "docs/runbooks")) ? readdirSync(join(root, "docs/runbooks")).filter((f) => f.endsWith(".md")).map((f) => `docs/runbooks/${f}`) : [])];
// What the checks stand on: if the code's shape changed so that these read nothing, say so.
if (!COMMANDS.size) problem("host/cli/main.ts", 1, "check-docs read no command from the help text's \"Commands:\" block");
if (!helps.has("serve")) problem("host/cli/serve.ts", 1, "check-docs found no `const SERVE_HELP = \`...\`` help text");
if (SPECS.size < 10) problem("host/options.ts", 1, `check-docs read ${SPECS.size} options from OPTION_SPECS (a line per option: \`  name: { kind: ...\`)`);
const named = new Set(); // OPTION_SPECS names seen in README.md

for (const doc of docs) {
  const text = read(doc);
  const lines = text.split("\n");
  const code = codeOf(lines);

  for (const { line, text: t, fenced } of code) {
    const full = lines[line - 1];
    // 1. commands
    for (const m of t.matchAll(/\bwasm-reactor\s+([a-z][a-z-]*)\b/g)) {
      counts.commands++;
      if (COMMANDS.has(m[1])) continue;
      const before = full.slice(0, Math.max(0, full.indexOf(t))) + t.slice(0, m.index);
      if (/coming in\s*`*$/.test(before)) continue;
      problem(doc, line, `\`wasm-reactor ${m[1]}\` is not a command (host/cli/main.ts has: ${[...COMMANDS].join(", ")}); a command still to come: "(coming in \`wasm-reactor ${m[1]}\`)"`);
    }
    // 2. --options
    for (const m of t.matchAll(/(?<![\w-])--[a-z][a-z0-9-]*/g)) {
      const opt = m[0];
      counts.options++;
      const owner = ownerOf(t, m.index);
      if (owner?.external) continue;
      if (owner?.cli) {
        if (!COMMANDS.has(owner.cli)) continue; // reported as a command above
        const known = owner.cli === "help" ? cliOptions("main") : cliOptions(owner.cli);
        if (!known.has(opt)) problem(doc, line, `\`${opt}\` is not an option of \`wasm-reactor ${owner.cli}\` (its --help: ${[...known].join(" ") || "none"})`);
      } else if (owner?.script) {
        const known = scriptOptions.get(owner.script);
        if (!known) problem(doc, line, `${owner.script} does not exist (named with \`${opt}\`)`);
        else if (!known.has(opt)) problem(doc, line, `\`${opt}\` is not an option of ${owner.script}`);
      } else if (!everyOption.has(opt)) {
        problem(doc, line, `\`${opt}\` is in no help text of host/cli/*.ts nor in any of our scripts`);
      }
    }
    // 3. options of Reactor.create()
    for (const k of createKeys(t)) {
      counts.specs++;
      if (!SPECS.has(k)) problem(doc, line, `Reactor.create() option '${k}' is not in OPTION_SPECS (host/options.ts)`);
    }
    // 4, 5. paths
    for (const word of t.split(/[\s,;()"'=]+/)) {
      const w = word.replace(/[.:]+$/, "");
      if (!/\//.test(w) || /:\/\//.test(w) || !/^(\.{1,2}\/|\/)?[\w.@<>*{}[\]|-]+(\/[\w.@<>*{}[\]|-]*)+$/.test(w)) continue;
      if (w.startsWith("/")) {
        if (/^\/(work|home|tmp|Users)\//.test(w)) problem(doc, line, `\`${w}\` is a path on one machine, not in the repo`);
        continue; // /proc/..., /usr/bin/...: the system's
      }
      if (w.startsWith("../") || w.startsWith("./")) {
        if (fenced) continue; // code in a block (an import in an example) is relative to its own file
        const { inside } = landing(doc, w);
        if (!inside) { problem(doc, line, `\`${w}\` points outside the repo: quote what it says instead`); continue; }
      }
      const first = w.replace(/^\.\//, "").split("/")[0];
      if (!TOP.has(first)) continue; // not a repo path (core/wheel, node:fs/promises, a/b prose)
      counts.paths++;
      if (GENERATED.has(first)) continue;
      const cut = w.search(/[<*{[|]/);
      const p = cut < 0 ? w : w.slice(0, w.lastIndexOf("/", cut) + 1);
      if (!existsSync(join(root, p))) problem(doc, line, `\`${w}\` does not exist in the repo`);
    }
    // 6. npm scripts
    for (const m of t.matchAll(/\bnpm (?:run ([\w:-]+)|(test|start))\b/g)) {
      counts.scripts++;
      const s = m[1] ?? m[2];
      if (!pkg.scripts?.[s]) problem(doc, line, `\`npm ${m[1] ? "run " : ""}${s}\`: package.json has no script '${s}' (scripts: ${Object.keys(pkg.scripts ?? {}).join(", ")})`);
    }
  }

  let optionsTable = false;
  lines.forEach((l, i) => {
    const line = i + 1;
    // 3. "option `x`", "`x` option", and the options table (a table whose header names "options
    //    (default)"): there, each `name` outside parentheses is an option
    for (const m of l.matchAll(/\boptions? `(\w+)`|`(\w+)` option\b/g)) {
      const k = m[1] ?? m[2];
      counts.specs++;
      if (!SPECS.has(k) && /^[a-z][a-zA-Z]+$/.test(k)) problem(doc, line, `option \`${k}\` is not in OPTION_SPECS (host/options.ts)`);
    }
    if (/^\|.*options \(default\)/.test(l)) optionsTable = true;
    else if (!l.startsWith("|")) optionsTable = false;
    else if (optionsTable && !/^\|\s*-/.test(l)) {
      const cell = l.split("|").slice(2).join("|");
      let depth = 0, outer = "";
      for (const c of cell) { if (c === "(") depth++; else if (c === ")") depth--; else if (depth === 0) outer += c; }
      for (const m of outer.matchAll(/`(\w+)`/g)) {
        counts.specs++;
        if (!SPECS.has(m[1])) problem(doc, line, `the options table names '${m[1]}', which is not in OPTION_SPECS (host/options.ts)`);
      }
    }
    if (doc === "README.md") for (const m of l.matchAll(/`(\w+)`/g)) if (SPECS.has(m[1])) named.add(m[1]);
    // 4, 5. links (outside code spans)
    const prose = l.replace(/(`+)[^`]+?\1/g, "");
    for (const m of prose.matchAll(/\[[^\]]*\]\(([^)\s]+)\)/g)) {
      const target = m[1];
      if (/^[a-z]+:/i.test(target)) continue; // https:, mailto:
      counts.links++;
      const [path, anchor] = target.split("#");
      const file = path ? relative(root, landing(doc, path).abs) : doc;
      if (path && !landing(doc, path).inside) { problem(doc, line, `link ${target} points outside the repo: quote what it says instead`); continue; }
      if (!existsSync(join(root, file))) { problem(doc, line, `link ${target}: ${file} does not exist`); continue; }
      if (anchor && file.endsWith(".md") && !anchorsOf(read(file)).has(anchor)) problem(doc, line, `link ${target}: ${file} has no heading #${anchor}`);
    }
    // 5. *.md files named anywhere must be in the repo
    for (const m of l.matchAll(/(?<![\w/.-])([\w-]+\.md)\b/g)) {
      if (!mdFiles.has(m[1])) problem(doc, line, `${m[1]} is not in the repo: the docs cite only what a user of the repo can open`);
    }
  });
}

// 3. every option is documented
if (!only.length) for (const k of SPECS) if (!named.has(k)) problem("README.md", 1, `option '${k}' (OPTION_SPECS) is not named in the README`);

// The library's source: pointers to commands that do not exist (`wasm-reactor x ...` in backticks,
// or after "see"/"run"; "wasm-reactor native shim" in a message is a name, not a pointer).
function walkSource(dir) {
  for (const f of readdirSync(join(root, dir))) {
    const p = `${dir}/${f}`;
    if (statSync(join(root, p)).isDirectory()) { walkSource(p); continue; }
    if (!/\.(ts|c|h|mjs)$/.test(f) || /\.gen\./.test(f) || p === "tools/check-docs.mjs") continue;
    read(p).split("\n").forEach((l, i) => {
      for (const m of l.matchAll(/\\?`wasm-reactor ([a-z][a-z-]*)(?: [^`]{0,40})?\\?`|\b(?:see|run|use|try) wasm-reactor ([a-z][a-z-]*)\b/g)) {
        m[1] ??= m[2];
        if (m[0].includes("${")) continue; // a message in a template literal that starts with our name
        if (COMMANDS.has(m[1]) || /coming in \\?`?wasm-reactor/.test(l)) continue;
        (strict ? problems : notes).push(`${p}:${i + 1}: points at \`wasm-reactor ${m[1]}\`, which is not a command`);
      }
    });
  }
}
if (!only.length) for (const d of ["host", "shims", "assembly", "tools"]) if (existsSync(join(root, d))) walkSource(d);
for (const n of notes) console.log(`note: ${n}`);
for (const p of problems) console.log(p);
const checked = `${docs.length} docs: ${counts.commands} commands, ${counts.options} options, ${counts.specs} Reactor options, ${counts.paths} paths, ${counts.links} links, ${counts.scripts} npm scripts`;
if (problems.length) {
  console.log(`check-docs: ${problems.length} problem${problems.length === 1 ? "" : "s"} (${checked})`);
  process.exitCode = 1;
} else console.log(`check-docs: ok (${checked})`);
