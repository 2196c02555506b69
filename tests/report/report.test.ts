// The bench's HTML report (tests/bench/report.mjs), generated from a real bench output and opened in
// a real browser. Runs on Node, Deno and Bun: the generator runs in-process and as a command under
// the suite's runtime; Chromium is a child process, started the same way from all three.
//
// How it works:
//   1. The fixture, tests/report/fixtures/net-quick.json, is a real run on the team's 2-core machine:
//      `node tests/bench/net.mjs --quick --points 100,1000,10000 --hold 1000,10000`, forked the way
//      run.mjs forks it, written in run.mjs's JSON (format 1); trimmed: every sample list and the
//      raw per-window records removed (the report reads the medians in extra.summary). Expected
//      values are read from the fixture here, never typed in.
//   2. The generator is loaded from its source file (not bundled into this suite), so each runtime
//      runs report.mjs and its import of lib.mjs as a user's would.
//   3. Chromium (system package; CHROMIUM=path overrides the PATH search): `--dump-dom` must give back
//      every plotted point with the fixture's value, and `--screenshot`, light and dark
//      (`--force-dark-mode` sets prefers-color-scheme: dark), must not be blank: a PNG decoded
//      here (node:zlib), with the runtimes' series colours drawn in thousands of pixels and the
//      dark page's background dark. Where Chromium is absent, those tests skip with one line.
//   4. Each run writes under build/report-test-<runtime>-<pid>/ (a profile of its own: suites on
//      three runtimes may run at once), removed afterwards unless KEEP_REPORT=1 (to look at the PNGs).
import { suite } from "uvu";
import * as assert from "uvu/assert";
import { spawnSync } from "node:child_process";
import { accessSync, constants, existsSync, mkdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { inflateSync } from "node:zlib";
import { RUNTIME, denoCommand } from "../helpers/cli.ts";
import { skip } from "../helpers/skip.ts";

const test = suite("report: the bench's HTML report is self-contained and renders its data in Chromium");
const root = process.cwd(); // tests/run.mjs starts every suite in the repo's root
const GENERATOR = join(root, "tests/bench/report.mjs");
const FIXTURE = join(root, "tests/report/fixtures/net-quick.json");
const OUT = join(root, "build", `report-test-${RUNTIME}-${process.pid}`);

interface Point { msgsPerS: number | null; p50Us: number | null; p99Us: number | null; p999Us: number | null; cpuUsPerMsg: number | null }
interface Summary { pingpong: Record<string, Point | null>; holdAt: Record<string, { rssPerConn: number | null; rssHeld: number | null } | null> }
interface Bench { name: string; type: string; params?: { points: number[]; holdPoints: number[]; servers: { key: string; name: string }[] }; extra?: { summary: Record<string, Summary> } }
interface Report { benches: Bench[]; figures: { id: string; result: string }[]; [k: string]: unknown }
interface Generator {
  renderReport(report: unknown, o?: { source?: string }): string;
  writeReport(jsonPath: string, out?: string): string;
}

let gen: Generator | null = null;
const load = async (): Promise<Generator> => (gen ??= (await import(pathToFileURL(GENERATOR).href)) as Generator);
const fixture = (): Report => JSON.parse(readFileSync(FIXTURE, "utf8")) as Report;
const netOf = (r: Report): Bench => r.benches.find((b) => b.name === "net")!;
const out = (name: string): string => { mkdirSync(OUT, { recursive: true }); return join(OUT, name); };

/** The part of the HTML from the element with this id to the end of its <figure>. */
function figureOf(html: string, id: string): string {
  const i = html.indexOf(`id="${id}"`);
  assert.ok(i >= 0, `no element with id="${id}"`);
  return html.slice(i, html.indexOf("</figure>", i));
}

/** Every point the fixture has for one measure, as the attributes the report writes on it. */
function expectedPoints(r: Report, field: keyof Point, scale = 1): string[] {
  const net = netOf(r);
  const want: string[] = [];
  for (const s of net.params!.servers) {
    for (const c of net.params!.points) {
      const v = net.extra!.summary[s.key]?.pingpong[c]?.[field];
      if (typeof v === "number" && v > 0) want.push(`data-server="${s.key}" data-conns="${c}" data-value="${v * scale}"`);
    }
  }
  return want;
}

// ── generation (every runtime) ───────────────────────────────────────────────────────────
test("generated from the fixture: every server and point plotted, with its value, in each chart", async () => {
  const { renderReport } = await load();
  const r = fixture();
  const html = renderReport(r);
  const net = netOf(r);
  assert.ok(net.params!.servers.length >= 4, "the fixture has the peers side by side");
  for (const [id, field, scale] of [["msgs", "msgsPerS", 1], ["lat-p50", "p50Us", 1 / 1000], ["lat-p99", "p99Us", 1 / 1000], ["lat-p999", "p999Us", 1 / 1000], ["cpu", "cpuUsPerMsg", 1]] as const) {
    const fig = figureOf(html, id);
    const want = expectedPoints(r, field, scale);
    assert.ok(want.length >= net.params!.points.length * 4, `${id}: the fixture has values`);
    for (const w of want) assert.ok(fig.includes(w), `${id}: missing point ${w}`);
    assert.is(fig.split('class="point"').length - 1, want.length, `${id}: one marker per value`);
    // A line through each server's points, one segment per count (M, then an L per further point).
    for (const s of net.params!.servers) {
      const n = net.params!.points.filter((c) => typeof net.extra!.summary[s.key]?.pingpong[c]?.[field] === "number").length;
      if (n < 2) continue;
      const d = new RegExp(`data-series="${s.key}"[^>]*><path [^>]*d="(M[^"]+)"`).exec(fig)?.[1];
      assert.ok(d, `${id}: no line for ${s.key}`);
      assert.is(d.split("L").length, n, `${id}: ${s.key}'s line has ${n} points`);
    }
  }
  // Memory per connection: a bar per server and held count, positive values (the axis is log).
  const mem = figureOf(html, "rss-per-conn");
  for (const s of net.params!.servers) {
    for (const c of net.params!.holdPoints) {
      const v = net.extra!.summary[s.key]?.holdAt[c]?.rssPerConn;
      if (typeof v === "number" && v > 0) assert.ok(mem.includes(`data-server="${s.key}" data-conns="${c}" data-value="${v}"`), `rss-per-conn: ${s.key} at ${c}`);
    }
  }
  // The PASS/MISS table: every figure, with its result.
  const rows = html.slice(html.indexOf('<table class="targets"')).split("</table>")[0].split('<tr class="r-').slice(1);
  assert.is(rows.length, r.figures.length, "one row per figure");
  r.figures.forEach((f, i) => assert.ok(rows[i].includes(`>${f.result}</span>`) && rows[i].includes(f.id), `row ${i}: ${f.id} ${f.result}`));
  // Accessible: a title, every chart an image with a title and description, and a data table.
  assert.match(html, /<html lang="en">/);
  assert.match(html, /<title>wasm-reactor benchmarks, /);
  const svgs = [...html.matchAll(/<svg viewBox[^>]*role="img" aria-labelledby="(t\d+) (d\d+)"/g)];
  assert.ok(svgs.length >= 7, `${svgs.length} charts`);
  for (const [, t, d] of svgs) assert.ok(html.includes(`<title id="${t}">`) && html.includes(`<desc id="${d}">`), `chart ${t}: title and desc`);
  assert.is(html.split("<details><summary>Data table:").length - 1, svgs.length, "a data table per chart");
  // Run metadata.
  for (const v of [(r.machine as { cpu: string }).cpu, (r.git as { commit: string }).commit.slice(0, 10), r.command as string]) assert.ok(html.includes(v), `metadata: ${v}`);
});

test("self-contained: no URL in any src or href, no script, stylesheet link, font or import", async () => {
  const { renderReport } = await load();
  const html = renderReport(fixture());
  const refs = [...html.matchAll(/\s(?:src|href|xlink:href)\s*=\s*["']?([^"'\s>]*)/gi)].map((m) => m[1]);
  assert.ok(refs.length > 0, "the page has in-page links (#h-targets)");
  for (const ref of refs) assert.ok(ref.startsWith("#"), `only in-page links, found ${ref}`);
  assert.not.match(html, /https?:\/\//i);
  assert.not.match(html, /<script|<link\b|@import|@font-face|url\(/i);
});

test("strings from the JSON are escaped; a run without net still has its table and metadata", async () => {
  const { renderReport } = await load();
  const r = fixture();
  const net = netOf(r);
  net.params!.servers[0].name = `<img src=x onerror="alert(1)">`;
  r.command = "run.mjs --only <wheel> & more";
  const html = renderReport(r);
  assert.not.ok(html.includes("<img src=x"), "a server name is escaped");
  assert.ok(html.includes("&lt;img src=x onerror=&quot;alert(1)&quot;&gt;"));
  assert.ok(html.includes("run.mjs --only &lt;wheel&gt; &amp; more"));
  // A server the run could not start: listed with its reason, no point of its own, "unavailable" in the tables.
  const gone = fixture();
  const g = netOf(gone) as Bench & { extra: { raw: Record<string, { skipped?: string }> } };
  const key = g.params!.servers[1].key;
  g.extra.raw[key].skipped = "no deno binary in node_modules/deno or on PATH";
  g.extra.summary[key] = { pingpong: {}, holdAt: {} };
  const h = renderReport(gone);
  assert.match(h, new RegExp(`Unavailable in this run:.*${g.params!.servers[1].name.replace(/[()]/g, "\\$&")}: no deno binary`, "s"));
  assert.not.ok(h.includes(`data-server="${key}"`), "no point for it");
  assert.ok(figureOf(h, "msgs").includes(">unavailable</td>"));
  // A server net.mjs does not list today (a uWS column, say): its own colour, drawn as a peer, not as ours.
  const more = fixture();
  const m = netOf(more) as Bench & { extra: { raw: Record<string, object> } };
  m.params!.servers.push({ key: "uws", name: "uWS (node)", runtime: "node" } as { key: string; name: string });
  m.extra.raw.uws = { name: "uWS (node)", runtime: "node" };
  m.extra.summary.uws = { pingpong: { 1000: { msgsPerS: 123456.5, p50Us: 1, p99Us: 2, p999Us: 3, cpuUsPerMsg: 4 } }, holdAt: {} };
  const hm = renderReport(more);
  const uws = /<g class="series" data-series="uws"[^>]*>(.*?)<\/g><\/g>/.exec(figureOf(hm, "msgs"))?.[1] ?? "";
  assert.ok(uws.includes('data-conns="1000" data-value="123456.5"'), "its point is plotted");
  assert.match(uws, /<path d="[^"]+" class="pt c-x0"/, "a spare colour and the peers' triangle");
  assert.match(hm, /uWS \(node\): a colour of its own/);
  const noNet = renderReport({ ...fixture(), benches: [{ type: "result", name: "wheel", figures: [], notes: [] }], figures: fixture().figures.slice(0, 2) });
  assert.match(noNet, /no net benchmark result/);
  assert.is(noNet.split('<tr class="r-').length - 1, 2);
});

test("the pipelined case (issue 11, 8 in flight): its charts where the run has it, none where not; figure notes in the targets table", async () => {
  const { renderReport } = await load();
  // The fixture predates the pipelined case: no chart for it, and the one-in-flight charts as before.
  const plain = renderReport(fixture());
  assert.not.ok(plain.includes('id="pipe-msgs"') || plain.includes('id="pipe-cpu"'), "no pipelined chart without pipelined data");
  // A run with it: net.mjs's shape (params.depth, params.depthPoints, summary[key].pipelined), its
  // values taken from the fixture's one-in-flight medians at the same counts (never typed in).
  const r = fixture();
  const net = netOf(r) as Bench & { params: { depth?: number; depthPoints?: number[] }; extra: { summary: Record<string, Summary & { pipelined?: Record<string, Point | null> }> } };
  const depthPoints = net.params.points.slice(0, 2);
  net.params.depth = 8;
  net.params.depthPoints = depthPoints;
  for (const s of net.params.servers) {
    const sum = net.extra.summary[s.key];
    if (sum) sum.pipelined = Object.fromEntries(depthPoints.map((c) => [c, sum.pingpong[c] ? { ...sum.pingpong[c]!, msgsPerS: sum.pingpong[c]!.msgsPerS === null ? null : sum.pingpong[c]!.msgsPerS! * 8 } : null]));
  }
  const note = "paired per round: median 1.08x (1.16, 0.99); not loadgen-bound: loadgen CPU 48% with ours, 45% with C epoll";
  r.figures[0] = { ...r.figures[0], note } as Report["figures"][number];
  const html = renderReport(r);
  for (const [id, field] of [["pipe-msgs", "msgsPerS"], ["pipe-cpu", "cpuUsPerMsg"]] as const) {
    const fig = figureOf(html, id);
    const want = net.params.servers.flatMap((s) => depthPoints.flatMap((c) => {
      const v = net.extra.summary[s.key]?.pipelined?.[c]?.[field];
      return typeof v === "number" && v > 0 ? [`data-server="${s.key}" data-conns="${c}" data-value="${v}"`] : [];
    }));
    assert.ok(want.length >= 4, `${id}: the derived run has values`);
    for (const w of want) assert.ok(fig.includes(w), `${id}: missing point ${w}`);
    assert.is(fig.split('class="point"').length - 1, want.length, `${id}: one marker per value`);
    assert.ok(fig.includes("8 in flight per connection"), `${id}: says how many in flight`);
  }
  assert.match(html, new RegExp(`pipelined \\(8 in flight\\) at ${depthPoints.map((c) => (c >= 1000 ? `${c / 1000}k` : `${c}`)).join(", ")}`), "the run's parameters name the pipelined points");
  const rows = html.slice(html.indexOf('<table class="targets"')).split("</table>")[0].split('<tr class="r-').slice(1);
  assert.ok(rows[0].includes(`<div class="small muted">${note}</div>`), "a figure's note (pairs, loadgen-bound) under its title");
});

test("bad input: a clear error, naming what was expected", async () => {
  const { renderReport, writeReport } = await load();
  assert.throws(() => renderReport({}), /not a bench report: expected an object with a "benches" array/);
  assert.throws(() => renderReport(null), /not a bench report/);
  assert.throws(() => renderReport({ format: 2, benches: [] }), /format 2 is not supported/);
  const bad = out("bad.json");
  writeFileSync(bad, "{ not json");
  assert.throws(() => writeReport(bad), /cannot read bench JSON .*bad\.json/);
  assert.throws(() => writeReport(join(OUT, "missing.json")), /cannot read bench JSON .*missing\.json/);
});

/** `report.mjs ...args` as a user of this suite's runtime runs it. */
function runGenerator(args: string[]): { code: number | null; out: string; err: string } {
  const c = RUNTIME === "deno" ? denoCommand(["run", "-A", "--no-lock", GENERATOR, ...args]) : { cmd: process.execPath, args: [GENERATOR, ...args], env: {} };
  const r = spawnSync(c.cmd, c.args, { cwd: root, encoding: "utf8", timeout: 60_000, env: { ...process.env, ...c.env } });
  return { code: r.status, out: r.stdout ?? "", err: r.stderr ?? "" };
}

test(`the command, under ${RUNTIME}: writes beside the JSON, or where -o says; usage on bad arguments`, () => {
  const json = out("run.json");
  writeFileSync(json, readFileSync(FIXTURE));
  let r = runGenerator([json]);
  assert.is(r.code, 0, r.err);
  assert.is(r.out.trim(), join(OUT, "run.html"));
  assert.ok(statSync(join(OUT, "run.html")).size > 20_000);
  r = runGenerator([json, "-o", out("other.html")]);
  assert.is(r.code, 0, r.err);
  assert.match(readFileSync(out("other.html"), "utf8"), /^<!doctype html>/);
  r = runGenerator([]);
  assert.is(r.code, 2);
  assert.match(r.err, /usage: node tests\/bench\/report\.mjs <bench\.json> \[-o out\.html\]/);
  r = runGenerator([out("nope.json")]);
  assert.is(r.code, 1);
  assert.match(r.err, /report: cannot read bench JSON/);
});

// ── Chromium ─────────────────────────────────────────────────────────────────────────────
function findChromium(): string | null {
  if (process.env.CHROMIUM) return process.env.CHROMIUM;
  for (const dir of (process.env.PATH ?? "").split(":")) {
    for (const name of ["chromium", "chromium-browser", "google-chrome", "google-chrome-stable"]) {
      try { accessSync(join(dir, name), constants.X_OK); return join(dir, name); } catch { /* next */ }
    }
  }
  return null;
}
const CHROMIUM = findChromium();
const NO_CHROMIUM = "no Chromium on PATH (chromium, chromium-browser, google-chrome; or set CHROMIUM): the report's browser check needs one";

/** Runs headless Chromium on a file with these extra flags; stdout is what --dump-dom prints. */
function chromium(file: string, flags: string[], profile: string): string {
  const r = spawnSync(CHROMIUM!, ["--headless", "--disable-gpu", "--no-sandbox", "--disable-dev-shm-usage", "--no-first-run", "--disable-extensions", "--hide-scrollbars",
    "--force-color-profile=srgb", `--user-data-dir=${join(OUT, profile)}`, ...flags, pathToFileURL(file).href], { encoding: "utf8", timeout: 90_000, maxBuffer: 64 << 20 });
  assert.is(r.status, 0, `chromium ${flags.join(" ")} exited ${r.status ?? r.signal}: ${(r.stderr ?? "").slice(-600)}`);
  return r.stdout;
}

/** Decodes an 8-bit RGB/RGBA, non-interlaced PNG (what Chromium's --screenshot writes) to RGBA. */
function decodePng(buf: Uint8Array): { width: number; height: number; rgba: Uint8Array } {
  const sig = [137, 80, 78, 71, 13, 10, 26, 10];
  assert.ok(sig.every((b, i) => buf[i] === b), "not a PNG");
  const dv = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  let width = 0, height = 0, depth = 0, type = 0, interlace = 0;
  const idat: Uint8Array[] = [];
  for (let p = 8; p < buf.length;) {
    const len = dv.getUint32(p), kind = String.fromCharCode(...buf.subarray(p + 4, p + 8));
    const data = buf.subarray(p + 8, p + 8 + len);
    if (kind === "IHDR") { width = dv.getUint32(p + 8); height = dv.getUint32(p + 12); depth = data[8]; type = data[9]; interlace = data[12]; }
    else if (kind === "IDAT") idat.push(data);
    else if (kind === "IEND") break;
    p += 12 + len;
  }
  if (depth !== 8 || (type !== 2 && type !== 6) || interlace !== 0) throw new Error(`PNG kind not decoded here: depth ${depth}, colour type ${type}, interlace ${interlace}`);
  const bpp = type === 6 ? 4 : 3, stride = width * bpp;
  const total = idat.reduce((a, d) => a + d.length, 0), joined = new Uint8Array(total);
  let o = 0;
  for (const d of idat) { joined.set(d, o); o += d.length; }
  const raw = new Uint8Array(inflateSync(joined));
  const px = new Uint8Array(height * stride), rgba = new Uint8Array(width * height * 4);
  for (let y = 0; y < height; y++) {
    const f = raw[y * (stride + 1)], line = raw.subarray(y * (stride + 1) + 1, (y + 1) * (stride + 1)), row = y * stride;
    for (let x = 0; x < stride; x++) {
      const a = x >= bpp ? px[row + x - bpp] : 0, b = y ? px[row - stride + x] : 0, c = x >= bpp && y ? px[row - stride + x - bpp] : 0;
      const pred = f === 0 ? 0 : f === 1 ? a : f === 2 ? b : f === 3 ? (a + b) >> 1 : (() => { const p = a + b - c, pa = Math.abs(p - a), pb = Math.abs(p - b), pc = Math.abs(p - c); return pa <= pb && pa <= pc ? a : pb <= pc ? b : c; })();
      px[row + x] = (line[x] + pred) & 255;
    }
  }
  for (let i = 0; i < width * height; i++) { rgba.set(px.subarray(i * bpp, i * bpp + 3), i * 4); rgba[i * 4 + 3] = bpp === 4 ? px[i * bpp + 3] : 255; }
  return { width, height, rgba };
}

/** Pixels within ±tol of each colour (#rrggbb), the distinct colours, and the share unlike the top-left pixel. */
function pixelStats(img: { width: number; height: number; rgba: Uint8Array }, colours: Record<string, string>, tol = 14) {
  const want = Object.entries(colours).map(([k, hex]) => [k, [1, 3, 5].map((i) => parseInt(hex.slice(i, i + 2), 16))] as const);
  const counts: Record<string, number> = Object.fromEntries(want.map(([k]) => [k, 0]));
  const distinct = new Set<number>();
  const { rgba } = img, bg = [rgba[0], rgba[1], rgba[2]];
  let unlike = 0;
  for (let i = 0; i < rgba.length; i += 4) {
    const r = rgba[i], g = rgba[i + 1], b = rgba[i + 2];
    if (distinct.size < 100_000) distinct.add((r << 16) | (g << 8) | b);
    if (Math.abs(r - bg[0]) + Math.abs(g - bg[1]) + Math.abs(b - bg[2]) > 30) unlike++;
    for (const [k, c] of want) if (Math.abs(r - c[0]) <= tol && Math.abs(g - c[1]) <= tol && Math.abs(b - c[2]) <= tol) counts[k]++;
  }
  return { counts, distinct: distinct.size, unlikeShare: unlike / (rgba.length / 4), bg };
}

// The series colours of the CSS in report.mjs (light, then dark): the runtimes and the C reference.
const LIGHT = { node: "#2e7d32", bun: "#c2185b", deno: "#1565c0", c: "#4a4a4a" };
const DARK = { node: "#6fcf73", bun: "#f47fb0", deno: "#6cb6ff", c: "#c9d1d9" };

test("Chromium: the DOM it builds has every chart's points with the fixture's values", async () => {
  if (!CHROMIUM) return skip(NO_CHROMIUM);
  const { writeReport } = await load();
  const r = fixture();
  const html = writeReport(FIXTURE, out("report.html"));
  const dom = chromium(html, ["--dump-dom"], "profile-dom");
  assert.match(dom, /<title>wasm-reactor benchmarks, /);
  for (const [id, field, scale] of [["msgs", "msgsPerS", 1], ["lat-p99", "p99Us", 1 / 1000], ["lat-p999", "p999Us", 1 / 1000], ["cpu", "cpuUsPerMsg", 1]] as const) {
    const fig = figureOf(dom, id);
    const want = expectedPoints(r, field, scale);
    for (const w of want) assert.ok(fig.includes(w), `${id}: the browser's DOM lacks ${w}`);
    assert.ok((fig.match(/<path class="ln /g) ?? []).length >= 4, `${id}: lines drawn`);
  }
  const rows = dom.slice(dom.indexOf('<table class="targets"')).split("</table>")[0].split('<tr class="r-').length - 1;
  assert.is(rows, r.figures.length, "the target table's rows");
});

test("Chromium: the screenshots, light and dark, show the plots (not blank, series colours drawn)", async () => {
  if (!CHROMIUM) return skip(NO_CHROMIUM);
  const { writeReport } = await load();
  const html = writeReport(FIXTURE, out("report.html"));
  for (const [mode, colours, flags] of [["light", LIGHT, []], ["dark", DARK, ["--force-dark-mode"]]] as const) {
    const png = out(`report-${mode}.png`);
    chromium(html, ["--window-size=1320,2400", `--screenshot=${png}`, ...flags], `profile-${mode}`);
    assert.ok(existsSync(png), `${mode}: no screenshot`);
    const bytes = new Uint8Array(readFileSync(png));
    assert.ok(bytes.length > 50_000, `${mode}: screenshot is ${bytes.length} bytes`);
    const img = decodePng(bytes);
    assert.equal([img.width, img.height], [1320, 2400], `${mode}: the window's size`);
    const s = pixelStats(img, colours);
    console.log(`${mode}: ${png}: ${bytes.length} B, ${s.distinct} colours, ${(100 * s.unlikeShare).toFixed(1)}% unlike the background, series pixels ${JSON.stringify(s.counts)}`);
    assert.ok(s.distinct > 200, `${mode}: ${s.distinct} distinct colours (blank?)`);
    assert.ok(s.unlikeShare > 0.05, `${mode}: only ${(100 * s.unlikeShare).toFixed(1)}% of the page differs from its background`);
    for (const [k, n] of Object.entries(s.counts)) assert.ok(n > 1500, `${mode}: ${k}'s series colour in only ${n} pixels`);
    const luma = (0.2126 * s.bg[0] + 0.7152 * s.bg[1] + 0.0722 * s.bg[2]);
    if (mode === "light") assert.ok(luma > 200, `light page background ${s.bg}`);
    else assert.ok(luma < 50, `dark page background ${s.bg} (prefers-color-scheme: dark not applied?)`);
  }
});

test("clean up", () => {
  if (process.env.KEEP_REPORT !== "1") rmSync(OUT, { recursive: true, force: true });
  else console.log(`kept ${OUT}`);
});

test.run();
