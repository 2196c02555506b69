// runtimes: node
// The docs tell the truth about the code, as far as a script can tell: tools/check-docs.mjs (what it
// checks is at its top). Run it alone for the same report: `node tools/check-docs.mjs`. Its own test:
// a doc with one planted drift of each kind must give exactly those problems, at those lines.
import { suite } from "uvu";
import * as assert from "uvu/assert";
import { spawnSync } from "node:child_process";
import { mkdirSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";

const test = suite("docs: commands, options, paths, links and scripts named in the docs exist");
const root = process.cwd(); // tests/run.mjs starts every suite in the repo's root

function check(...args: string[]): { out: string; status: number | null } {
  const r = spawnSync(process.execPath, [join(root, "tools/check-docs.mjs"), ...args], { cwd: root, encoding: "utf8", timeout: 60_000 });
  return { out: `${r.stdout ?? ""}${r.stderr ?? ""}`, status: r.status };
}

test("README.md and docs/*.md: no problem", () => {
  const { out, status } = check();
  console.log(out.trimEnd().split("\n").filter((l) => l.startsWith("note:") || l.startsWith("check-docs:")).join("\n"));
  assert.is(status, 0, `\n${out}`);
});

test("each kind of drift is caught, with its file and line; what is right passes", () => {
  const dir = join(root, "build", `check-docs-${process.pid}`);
  mkdirSync(dir, { recursive: true });
  const doc = `build/check-docs-${process.pid}/planted.md`;
  const lines = [
    "# Planted",                                                                   // 1
    "Right: `wasm-reactor serve --port 0`, `npm start -- --workers 2`, `npm test`.", // 2
    "Right: coming in `wasm-reactor bench`; `node tests/run.mjs --runtime node`.", // 3
    "Right: `Reactor.create({ host: \"sim\", sim: { fdLimit: 3 } })`, [up](../../README.md#licence).", // 4
    "Wrong: `wasm-reactor bench` and `npm start -- --bogus`.",                      // 5
    "Wrong: `Reactor.create({ maxConn: 1 })`, the option `idleTimeout`.",           // 6
    "Wrong: `host/missing.ts`, [gone](../../docs/nope.md), [h](../../README.md#no-such-heading).", // 7
    "Wrong: [out](../../../shared/ANCHORS.md), `/work/shared/DESIGN.md`, `npm run nope`.", // 8
    "Wrong: figures from ANCHORS.md.",                                              // 9
  ];
  writeFileSync(join(root, doc), `${lines.join("\n")}\n`);
  try {
    const { out, status } = check("--doc", doc);
    assert.is(status, 1, out);
    const got = out.split("\n").filter((l) => l.startsWith(`${doc}:`)).map((l) => l.slice(doc.length + 1));
    const want = [
      "5: `wasm-reactor bench` is not a command", "5: `--bogus` is not an option of `wasm-reactor serve`",
      "6: Reactor.create() option 'maxConn' is not in OPTION_SPECS", "6: option `idleTimeout` is not in OPTION_SPECS",
      "7: `host/missing.ts` does not exist", "7: link ../../docs/nope.md: docs/nope.md does not exist",
      "7: link ../../README.md#no-such-heading: README.md has no heading", "8: link ../../../shared/ANCHORS.md points outside the repo",
      "8: `/work/shared/DESIGN.md` is a path on one machine", "8: `npm run nope`: package.json has no script 'nope'",
      "9: ANCHORS.md is not in the repo",
    ];
    for (const w of want) assert.ok(got.some((g) => g.startsWith(w)), `missing "${w}…" in:\n${out}`);
    assert.is(got.length, want.length, `only those:\n${out}`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test.run();
