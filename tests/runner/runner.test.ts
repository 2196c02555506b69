// runtimes: node
// The test runner (tests/run.mjs) itself: a suite of small fixture suites, each a way a suite can
// pass, skip or fail, is run through it (TEST_BUNDLES points it at them), and its verdict is
// checked line by line. The fixtures' skips use the real skip() from tests/helpers/skip.ts, so the
// marker the helper prints and the one the runner reads cannot drift apart. Node only: the runner
// is a Node script (it then runs the fixtures on node alone, to stay quick).
import { suite } from "uvu";
import * as assert from "uvu/assert";
import { spawnSync } from "node:child_process";
import { mkdirSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { SKIP_MARK, skip } from "../helpers/skip.ts";

const test = suite("runner: skips are skips, and every way to fail is counted");

const root = process.cwd(); // tests/run.mjs starts every suite in the repo's root
const dir = join(root, "build", `runner-fixtures-${process.pid}`); // inside the repo: "uvu" resolves

// The helper's own code, so a fixture skips exactly as a real test does.
const HELPER = `const SKIP_MARK = ${JSON.stringify(SKIP_MARK)};\nconst skip = ${skip.toString()};\n`;
const HEAD = `import { suite } from "uvu";\nimport * as assert from "uvu/assert";\n${HELPER}`;

const FIXTURES: Record<string, string> = {
  // one passes, one skips, one fails
  mixed: `const t = suite("mixed");
t("passes", () => { assert.is(1, 1); });
t("skips", () => { return skip("no widget on this machine"); });
t("fails", () => { assert.is(1, 2); });
t.run();`,
  // everything skipped: proves nothing, so not "ok"
  allskip: `const t = suite("allskip");
t("a", () => skip("no IPv6 here"));
t("b", () => skip("no prlimit here"));
t.run();`,
  // uvu's own test.skip(): counted, with no reason to show
  uvuskip: `const t = suite("uvuskip");
t.skip("never runs", () => {});
t("passes", () => {});
t.run();`,
  // a skip that then fails anyway is a failure
  skipfail: `const t = suite("skipfail");
t("skips, then asserts", () => { skip("half of it cannot run"); assert.ok(false, "the other half failed"); });
t.run();`,
  // .run() after an await: uvu prints two summaries
  twice: `const t = suite("twice");
t("once", () => {});
await new Promise((r) => setTimeout(r, 10));
t.run();
const u = suite("twice, later");
u("again", () => {});
await new Promise((r) => setTimeout(r, 10));
u.run();`,
  empty: `suite("empty").run();`,
  crash: `const t = suite("crash");
t("exits", () => { process.exit(3); });
t.run();`,
  nonzero: `const t = suite("nonzero");
t("passes", () => { setTimeout(() => process.exit(4), 50); });
t.run();`,
  hang: `const t = suite("hang");
t("never ends", () => new Promise(() => { setInterval(() => {}, 1000); }));
t.run();`,
};

function runner(...patterns: string[]): { out: string; status: number | null } {
  const env = { ...process.env, TEST_BUNDLES: dir, TEST_TIMEOUT_S: "2", TEST_JOBS: "3" };
  const r = spawnSync(process.execPath, [join(root, "tests/run.mjs"), "--runtime", "node", ...patterns], { cwd: root, env, encoding: "utf8", timeout: 60_000 });
  return { out: (r.stdout ?? "") + (r.stderr ?? ""), status: r.status };
}

/** The runner's line for one fixture: status and counts (the time varies). */
function line(out: string, name: string): string {
  const l = out.split("\n").find((x) => new RegExp(`^\\S+\\s+node\\s+${name}\\s`).test(x));
  if (!l) throw new Error(`no line for ${name} in:\n${out}`);
  return l.replace(/\s+[\d.]+ s(\s|$)/, "$1").replace(/\s+/g, " ").trim();
}

test.before(() => {
  mkdirSync(dir, { recursive: true });
  for (const [name, body] of Object.entries(FIXTURES)) writeFileSync(join(dir, `${name}.mjs`), `${HEAD}${body}\n`);
});
test.after(() => { rmSync(dir, { recursive: true, force: true }); });

test("every fixture gets the verdict it earns, and the last line adds them up", () => {
  const { out, status } = runner();
  assert.is(line(out, "mixed"), "FAIL node mixed 1 passed, 1 failed, 1 skipped");
  assert.is(line(out, "allskip"), "skip node allskip 0 passed, 0 failed, 2 skipped");
  assert.is(line(out, "uvuskip"), "ok node uvuskip 1 passed, 0 failed, 1 skipped");
  assert.is(line(out, "skipfail"), "FAIL node skipfail 0 passed, 1 failed");
  assert.match(line(out, "twice"), /^FAIL node twice \d+ passed, 1 failed \(uvu printed 2 summaries/);
  assert.is(line(out, "empty"), "FAIL node empty 0 passed, 1 failed (ran no tests)");
  assert.match(line(out, "crash"), /^FAIL node crash 0 passed, 1 failed \(exited 3 without uvu's summary\)/);
  assert.is(line(out, "nonzero"), "FAIL node nonzero 1 passed, 1 failed (exited 4 although every test passed)");
  assert.match(line(out, "hang"), /^FAIL node hang 0 passed, 1 failed \(timed out after 2 s \(killed\)\)/);
  // Every reason is listed under "skipped:", with the suite it came from.
  const listed = out.slice(out.indexOf("\nskipped:\n"));
  for (const why of ["mixed: no widget on this machine", "allskip: no IPv6 here", "allskip: no prlimit here",
    "uvuskip: 1 × uvu test.skip()", "skipfail: (failed after skip: half of it cannot run)"]) assert.ok(listed.includes(why), `"${why}" listed in:\n${listed}`);
  const twicePassed = Number(/twice (\d+) passed/.exec(line(out, "twice"))![1]);
  const last = out.trimEnd().split("\n").pop();
  assert.is(last, `${3 + twicePassed} passed, 7 failed, 4 skipped`, "the last line");
  assert.is(status, 1);
});

test("skips alone do not fail a run: exit 0, and the last line says how many were skipped", () => {
  const { out, status } = runner("allskip", "uvuskip");
  assert.is(out.trimEnd().split("\n").pop(), "1 passed, 0 failed, 3 skipped");
  assert.is(status, 0, out);
});

test("a run with no skip keeps the plain last line", () => {
  const { out, status } = runner("nonzero");
  assert.is(out.trimEnd().split("\n").pop(), "1 passed, 1 failed");
  assert.not.ok(out.includes("skipped"), out);
  assert.is(status, 1);
});

test.run();
