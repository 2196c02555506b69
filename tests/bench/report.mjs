// The benchmark report people look at: one self-contained HTML file from a bench JSON.
//
//   node tests/bench/report.mjs bench-results/latest.json [-o out.html]   (default: beside it, .html)
//   deno run -A tests/bench/report.mjs …   ·   bun tests/bench/report.mjs …
//   `npm run bench` writes it beside its JSON (tests/bench/run.mjs calls writeReportBeside()).
//
// How it works:
//   1. The input is what run.mjs writes (format 1): the run's metadata (machine, commit, command,
//      load average), every bench's record, and the figures with PASS/MISS. The net bench's
//      `extra.summary` has, per server, the medians at each connection count (ping-pong msgs/s,
//      latency percentiles in µs, server CPU per message; the same for the pipelined case,
//      `pipelined`, at params.depthPoints with params.depth messages in flight; idle RSS at each
//      held count); its
//      `params.servers` names them and `extra.raw[key].skipped` says why one was unavailable.
//   2. Plots are SVG written here, not a library: two kinds of chart (lines against a log
//      connection axis, grouped bars) are ~180 lines. The small libraries draw on a canvas from a
//      script (no points in the DOM for a screen reader or the test); the SVG ones are bigger than
//      the report (docs/benchmarks.md, "The HTML report").
//   3. Each server keeps one look across every chart: its runtime's colour, and a dash and a marker
//      for its role (ours native: solid, circle; portable: dashed, square; the runtime's own
//      sockets: dotted, triangle; C: grey, diamond), so nothing depends on colour alone.
//      Colours are CSS custom properties that change with prefers-color-scheme.
//   4. Every chart is a <figure> with an SVG role="img" (its <title> and <desc> say what it
//      plots), a legend, a <title> per point (hover), data-* attributes with the plotted value
//      (the browser test reads them back), and the same data as a table under <details>.
//   5. Self-contained: inline CSS and SVG, no script, no fonts, no URL in any src or href.
//      Strings from the JSON are HTML-escaped.
// Runs on Node, Deno and Bun (node:fs, node:path only).
import { readFileSync, writeFileSync } from "node:fs";
import { basename, dirname, join, resolve } from "node:path";
import process from "node:process";
import { fileURLToPath } from "node:url";
import { fmtValue, targetText } from "./lib.mjs";

// ── escaping and number formats ────────────────────────────────────────────────────────────
const esc = (s) => String(s ?? "").replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" })[c]);
const isNum = (v) => typeof v === "number" && Number.isFinite(v);
const num = (v, d = 0) => (isNum(v) ? v.toLocaleString("en-US", { maximumFractionDigits: d, minimumFractionDigits: d }) : "—");
/** Three significant digits, for values of any size (latency from 0.05 to 500 ms). */
const sig = (v) => (!isNum(v) ? "—" : Math.abs(v) >= 1000 ? num(v) : Math.abs(v) >= 100 ? num(v, 0) : Math.abs(v) >= 10 ? num(v, 1) : Math.abs(v) >= 1 ? num(v, 2) : Number(v.toPrecision(3)).toString());
const kConns = (n) => (n >= 1e6 ? `${n / 1e6}M` : n >= 1000 ? `${n / 1000}k` : `${n}`);
const compact = (v) => {
  if (!isNum(v)) return "—";
  const a = Math.abs(v);
  if (a >= 1e9) return `${+(v / 1e9).toPrecision(3)}G`;
  if (a >= 1e6) return `${+(v / 1e6).toPrecision(3)}M`;
  if (a >= 1e3) return `${+(v / 1e3).toPrecision(3)}k`;
  return `${+v.toPrecision(3)}`;
};
const round2 = (v) => Math.round(v * 100) / 100;

// ── series look: colour by runtime, dash and marker by role ────────────────────────────────
const RUNTIME_COLOUR = { node: "node", bun: "bun", deno: "deno" };
/** net.mjs's standard servers (GROUPS in net-runtimes.mjs, and C): these take their runtime's colour. */
const STANDARD = new Set(["ours", "portable-node", "node", "ours-bun", "portable-bun", "bun", "ours-deno", "portable-deno", "deno", "c"]);
const SPARE = ["x0", "x1", "x2"];
function roleOf(key) {
  if (key === "c" || key.startsWith("c-")) return "c"; // C epoll, and the C io_uring references (c-uring, c-uring-any)
  if (key.startsWith("portable")) return "portable";
  if (key.startsWith("ours")) return "ours";
  return "own"; // a runtime's own sockets, or another peer (uWS, ...): drawn as a peer, never as ours
}
const ROLE_LOOK = {
  ours: { dash: "", marker: "circle", roleName: "ours, native host" },
  portable: { dash: "7 4", marker: "square", roleName: "ours, portable host" },
  own: { dash: "2 3", marker: "triangle", roleName: "the runtime's own sockets" },
  c: { dash: "", marker: "diamond", roleName: "reference" },
};
const ROLE_ORDER = { ours: 0, portable: 1, own: 2, c: 3 };
const RUNTIME_ORDER = { node: 0, bun: 1, deno: 2 };

/** The servers of a net record, each with its look; extra ones (ours-prefault, ours-before) get spare colours. */
function seriesOf(net) {
  const list = net.params?.servers ?? Object.keys(net.extra?.summary ?? {}).map((key) => ({ key, name: net.extra.raw?.[key]?.name ?? key, runtime: net.extra.raw?.[key]?.runtime ?? null }));
  let spare = 0;
  return list.map((s) => {
    const role = roleOf(s.key);
    // Any other server (ours-prefault, ours-before, a peer net.mjs may add) gets a colour of its own.
    const colour = s.key === "c" ? "c" : STANDARD.has(s.key) && RUNTIME_COLOUR[s.runtime] ? RUNTIME_COLOUR[s.runtime] : SPARE[spare++ % SPARE.length];
    const raw = net.extra?.raw?.[s.key];
    return { ...s, role, colour, ...ROLE_LOOK[role], unavailable: raw?.skipped ?? null, summary: net.extra?.summary?.[s.key] ?? null };
  }).sort((a, b) => (RUNTIME_ORDER[a.runtime] ?? 9) - (RUNTIME_ORDER[b.runtime] ?? 9) || ROLE_ORDER[a.role] - ROLE_ORDER[b.role]);
}

function markerSvg(kind, x, y, r, attrs) {
  switch (kind) {
    case "square": return `<rect x="${round2(x - r * 0.85)}" y="${round2(y - r * 0.85)}" width="${round2(r * 1.7)}" height="${round2(r * 1.7)}"${attrs}/>`;
    case "triangle": return `<path d="M${round2(x)} ${round2(y - r * 1.1)}L${round2(x + r)} ${round2(y + r * 0.75)}L${round2(x - r)} ${round2(y + r * 0.75)}Z"${attrs}/>`;
    case "diamond": return `<path d="M${round2(x)} ${round2(y - r * 1.2)}L${round2(x + r * 1.1)} ${round2(y)}L${round2(x)} ${round2(y + r * 1.2)}L${round2(x - r * 1.1)} ${round2(y)}Z"${attrs}/>`;
    default: return `<circle cx="${round2(x)}" cy="${round2(y)}" r="${r}"${attrs}/>`;
  }
}
/** A small inline SVG sample of a series' line and marker, for legends. */
const swatch = (s) => `<svg class="swatch" width="34" height="14" viewBox="0 0 34 14" aria-hidden="true"><line x1="1" y1="7" x2="33" y2="7" class="ln c-${s.colour}"${s.dash ? ` stroke-dasharray="${s.dash}"` : ""}/>${markerSvg(s.marker, 17, 7, 4, ` class="pt c-${s.colour}"`)}</svg>`;
const legend = (series, label) => `<ul class="legend" aria-label="${esc(label)}">${series.map((s) => `<li>${swatch(s)}<span>${esc(s.name)}</span></li>`).join("")}</ul>`;

// ── scales and ticks ───────────────────────────────────────────────────────────────────────
function linearTicks(lo, hi, count = 5) {
  const span = hi - lo || Math.abs(hi) || 1;
  const step0 = span / count, mag = 10 ** Math.floor(Math.log10(step0));
  const step = [1, 2, 2.5, 5, 10].map((m) => m * mag).find((s) => s >= step0) ?? 10 * mag;
  const start = Math.floor(lo / step) * step, end = Math.ceil(hi / step) * step;
  const ticks = [];
  for (let t = start; t <= end + step / 2; t += step) ticks.push(+t.toPrecision(12));
  return ticks;
}
/** Decades, with 2 and 5 in between when the range spans less than three decades. */
function logTicks(lo, hi) {
  const a = Math.floor(Math.log10(lo)), b = Math.ceil(Math.log10(hi));
  const mult = b - a <= 2 ? [1, 2, 5] : [1];
  const ticks = [];
  for (let e = a; e <= b; e++) for (const m of mult) { const t = +(m * 10 ** e).toPrecision(12); if (t >= lo * 0.999 && t <= hi * 1.001) ticks.push(t); }
  return ticks;
}
function scale(kind, lo, hi, a, b) {
  if (kind === "log") { const l0 = Math.log10(lo), l1 = Math.log10(hi); return (v) => a + ((Math.log10(v) - l0) / (l1 - l0 || 1)) * (b - a); }
  return (v) => a + ((v - lo) / (hi - lo || 1)) * (b - a);
}

// ── charts ─────────────────────────────────────────────────────────────────────────────────
let chartSeq = 0;
const W = 640, H = 340, M = { l: 74, r: 18, t: 16, b: 52 };

/**
 * Lines against connection count (log x). `series`: [{ name, colour, dash, marker, key, points: [[conns, value|null], …] }].
 * `y`: { label, unit, log?, fmt }. Returns a <figure> with the SVG, a legend and the data table.
 */
function lineChart({ id, title, desc, series, y, note }) {
  const n = ++chartSeq;
  const plotted = series.filter((s) => s.points.some(([, v]) => isNum(v) && (!y.log || v > 0)));
  const xs = [...new Set(series.flatMap((s) => s.points.map(([c]) => c)))].sort((a, b) => a - b);
  const vals = plotted.flatMap((s) => s.points.map(([, v]) => v).filter((v) => isNum(v) && (!y.log || v > 0)));
  if (!xs.length || !vals.length) return `<figure class="chart" id="${esc(id)}"><figcaption>${esc(title)}</figcaption><p class="empty">No data for this chart in this run.</p></figure>`;
  const xLo = xs.length > 1 ? xs[0] / 1.6 : xs[0] / 4, xHi = xs.length > 1 ? xs[xs.length - 1] * 1.6 : xs[0] * 4;
  let yLo, yHi, yTicks;
  if (y.log) {
    yLo = Math.min(...vals); yHi = Math.max(...vals);
    if (yHi / yLo < 10) { const mid = Math.sqrt(yLo * yHi); yLo = Math.min(yLo, mid / Math.sqrt(10)); yHi = Math.max(yHi, mid * Math.sqrt(10)); }
    // Half-decade bounds: room above and below the data, ticks still at 1, 2, 5 × 10^n.
    yLo = 10 ** (Math.floor(Math.log10(yLo) * 2) / 2);
    yHi = 10 ** (Math.ceil(Math.log10(yHi) * 2) / 2);
    yTicks = logTicks(yLo, yHi);
  } else {
    yLo = Math.min(0, ...vals); yHi = Math.max(...vals) * 1.08 || 1;
    yTicks = linearTicks(yLo, yHi);
    yLo = Math.min(yLo, yTicks[0]); yHi = yTicks[yTicks.length - 1];
  }
  const X = scale("log", xLo, xHi, M.l, W - M.r), Y = scale(y.log ? "log" : "linear", yLo, yHi, H - M.b, M.t);
  const xTicks = logTicks(xLo, xHi).filter((t) => xs.includes(t) || /^[15]/.test(String(t)));
  const parts = [];
  parts.push(`<g class="grid" aria-hidden="true">${yTicks.map((t) => `<line x1="${M.l}" x2="${W - M.r}" y1="${round2(Y(t))}" y2="${round2(Y(t))}"/>`).join("")}</g>`);
  parts.push(`<g class="axis" aria-hidden="true"><line x1="${M.l}" x2="${W - M.r}" y1="${H - M.b}" y2="${H - M.b}"/><line x1="${M.l}" x2="${M.l}" y1="${M.t}" y2="${H - M.b}"/>` +
    xTicks.map((t) => `<line x1="${round2(X(t))}" x2="${round2(X(t))}" y1="${H - M.b}" y2="${H - M.b + 5}"/><text x="${round2(X(t))}" y="${H - M.b + 19}" text-anchor="middle"${xs.includes(t) ? ' class="measured"' : ""}>${kConns(t)}</text>`).join("") +
    yTicks.map((t) => `<text x="${M.l - 8}" y="${round2(Y(t) + 4)}" text-anchor="end">${esc(y.tick ? y.tick(t) : compact(t))}</text>`).join("") +
    `<text class="label" x="${(M.l + W - M.r) / 2}" y="${H - 10}" text-anchor="middle">connections (log scale)</text>` +
    `<text class="label" transform="translate(16 ${(M.t + H - M.b) / 2}) rotate(-90)" text-anchor="middle">${esc(y.label)}${y.log ? " (log scale)" : ""}</text></g>`);
  for (const s of plotted) {
    const pts = s.points.filter(([, v]) => isNum(v) && (!y.log || v > 0)).map(([c, v]) => ({ c, v, x: X(c), y: Y(v) }));
    // A missing point breaks the line (no segment is drawn across a count that was not measured).
    const segs = [];
    let cur = [];
    for (const [c, v] of s.points) {
      if (isNum(v) && (!y.log || v > 0)) cur.push(`${round2(X(c))} ${round2(Y(v))}`);
      else { if (cur.length) segs.push(cur); cur = []; }
    }
    if (cur.length) segs.push(cur);
    const d = segs.filter((g) => g.length > 1).map((g) => `M${g.join("L")}`).join("");
    parts.push(`<g class="series" data-series="${esc(s.key)}" aria-label="${esc(s.name)}">` +
      (d ? `<path class="ln c-${s.colour}" d="${d}"${s.dash ? ` stroke-dasharray="${s.dash}"` : ""}/>` : "") +
      pts.map((p) => `<g class="point" data-server="${esc(s.key)}" data-conns="${p.c}" data-value="${p.v}"><title>${esc(`${s.name}, ${kConns(p.c)} connections: ${y.fmt(p.v)} ${y.unit}`)}</title>${markerSvg(s.marker, p.x, p.y, 4.5, ` class="pt c-${s.colour}"`)}</g>`).join("") +
      `</g>`);
  }
  const missing = series.filter((s) => !plotted.includes(s));
  const table = `<details><summary>Data table: ${esc(title)}</summary><div class="scroll"><table class="data"><caption>${esc(title)} (${esc(y.unit)})</caption><thead><tr><th scope="col">server</th>${xs.map((c) => `<th scope="col" class="n">${kConns(c)} conns</th>`).join("")}</tr></thead><tbody>` +
    series.map((s) => `<tr><th scope="row">${esc(s.name)}</th>${xs.map((c) => { const v = s.points.find(([x]) => x === c)?.[1]; return `<td class="n">${isNum(v) ? esc(y.fmt(v)) : s.unavailable ? "unavailable" : "—"}</td>`; }).join("")}</tr>`).join("") +
    `</tbody></table></div></details>`;
  return `<figure class="chart" id="${esc(id)}" aria-labelledby="cap${n}">
<figcaption id="cap${n}">${esc(title)}</figcaption>
<svg viewBox="0 0 ${W} ${H}" role="img" aria-labelledby="t${n} d${n}" preserveAspectRatio="xMidYMid meet"><title id="t${n}">${esc(title)}</title><desc id="d${n}">${esc(desc)} Servers: ${esc(plotted.map((s) => s.name).join(", ") || "none")}.</desc>${parts.join("")}</svg>
${legend(plotted, `legend: ${title}`)}${missing.length ? `<p class="muted small">Not plotted (no value): ${esc(missing.map((s) => s.name).join(", "))}.</p>` : ""}${note ? `<p class="muted small">${note}</p>` : ""}
${table}
</figure>`;
}

/** Grouped bars: one group per server, one bar per held count. `groups`: [{ series, values: [[conns, v|null], …] }]. */
function barChart({ id, title, desc, groups, y, note }) {
  const n = ++chartSeq;
  const counts = [...new Set(groups.flatMap((g) => g.values.map(([c]) => c)))].sort((a, b) => a - b);
  const shown = groups.filter((g) => g.values.some(([, v]) => isNum(v)));
  const vals = shown.flatMap((g) => g.values.map(([, v]) => v).filter(isNum));
  if (!vals.length) return `<figure class="chart" id="${esc(id)}"><figcaption>${esc(title)}</figcaption><p class="empty">No data for this chart in this run.</p></figure>`;
  let yLo, yHi, yTicks;
  if (y.log) {
    const pos = vals.filter((v) => v > 0);
    yLo = 10 ** Math.floor(Math.log10(Math.min(...pos))); yHi = 10 ** Math.ceil(Math.log10(Math.max(...pos)));
    if (yHi / yLo < 100) yLo = yHi / 100;
    yTicks = logTicks(yLo, yHi);
  } else {
    yLo = Math.min(0, ...vals); yHi = Math.max(0, ...vals) * 1.08 || 1;
    yTicks = linearTicks(yLo, yHi); yLo = Math.min(yLo, yTicks[0]); yHi = yTicks[yTicks.length - 1];
  }
  const Hb = H + 40, Mb = { ...M, b: 92 };
  const Y = scale(y.log ? "log" : "linear", yLo, yHi, Hb - Mb.b, Mb.t);
  const base = y.log ? Hb - Mb.b : Y(0);
  const gw = (W - Mb.l - Mb.r) / shown.length, bw = Math.min(22, (gw * 0.78) / counts.length);
  const parts = [];
  parts.push(`<g class="grid" aria-hidden="true">${yTicks.map((t) => `<line x1="${Mb.l}" x2="${W - Mb.r}" y1="${round2(Y(t))}" y2="${round2(Y(t))}"/>`).join("")}</g>`);
  parts.push(`<g class="axis" aria-hidden="true"><line x1="${Mb.l}" x2="${W - Mb.r}" y1="${round2(base)}" y2="${round2(base)}"/><line x1="${Mb.l}" x2="${Mb.l}" y1="${Mb.t}" y2="${Hb - Mb.b}"/>` +
    yTicks.map((t) => `<text x="${Mb.l - 8}" y="${round2(Y(t) + 4)}" text-anchor="end">${esc(compact(t))}</text>`).join("") +
    shown.map((g, i) => `<text class="cat" transform="translate(${round2(Mb.l + gw * (i + 0.5) + 4)} ${Hb - Mb.b + 12}) rotate(-35)" text-anchor="end">${esc(g.series.name)}</text>`).join("") +
    `<text class="label" transform="translate(16 ${(Mb.t + Hb - Mb.b) / 2}) rotate(-90)" text-anchor="middle">${esc(y.label)}${y.log ? " (log scale)" : ""}</text></g>`);
  shown.forEach((g, i) => {
    const x0 = Mb.l + gw * (i + 0.5) - (bw * counts.length) / 2;
    parts.push(`<g class="series" data-series="${esc(g.series.key)}" aria-label="${esc(g.series.name)}">` + counts.map((c, j) => {
      const v = g.values.find(([x]) => x === c)?.[1];
      if (!isNum(v)) return "";
      const yv = y.log ? Y(Math.max(v, yLo)) : Y(v);
      const top = Math.min(yv, base), h = Math.max(1, Math.abs(base - yv));
      return `<g class="point" data-server="${esc(g.series.key)}" data-conns="${c}" data-value="${v}"><title>${esc(`${g.series.name}, ${kConns(c)} held: ${y.fmt(v)} ${y.unit}`)}</title><rect class="bar c-${g.series.colour} shade${j % 3}" x="${round2(x0 + j * bw)}" y="${round2(top)}" width="${round2(bw - 2)}" height="${round2(h)}"/></g>`;
    }).join("") + `</g>`);
  });
  const key = counts.length > 1 ? `<p class="small muted">Bars left to right: ${counts.map((c, j) => `<span class="shade-key shade${j % 3}"></span> ${kConns(c)} held`).join(", ")}.</p>` : `<p class="small muted">${kConns(counts[0])} connections held.</p>`;
  const table = `<details><summary>Data table: ${esc(title)}</summary><div class="scroll"><table class="data"><caption>${esc(title)} (${esc(y.unit)})</caption><thead><tr><th scope="col">server</th>${counts.map((c) => `<th scope="col" class="n">${kConns(c)} held</th>`).join("")}</tr></thead><tbody>` +
    groups.map((g) => `<tr><th scope="row">${esc(g.series.name)}</th>${counts.map((c) => { const v = g.values.find(([x]) => x === c)?.[1]; return `<td class="n">${isNum(v) ? esc(y.fmt(v)) : g.series.unavailable ? "unavailable" : "—"}</td>`; }).join("")}</tr>`).join("") +
    `</tbody></table></div></details>`;
  return `<figure class="chart" id="${esc(id)}" aria-labelledby="cap${n}">
<figcaption id="cap${n}">${esc(title)}</figcaption>
<svg viewBox="0 0 ${W} ${Hb}" role="img" aria-labelledby="t${n} d${n}" preserveAspectRatio="xMidYMid meet"><title id="t${n}">${esc(title)}</title><desc id="d${n}">${esc(desc)}</desc>${parts.join("")}</svg>
${key}${note ? `<p class="muted small">${note}</p>` : ""}
${table}
</figure>`;
}

// ── sections ───────────────────────────────────────────────────────────────────────────────
function netSection(net) {
  const series = seriesOf(net);
  const P = net.params ?? {};
  const points = P.points ?? [...new Set(series.flatMap((s) => Object.keys(s.summary?.pingpong ?? {}).map(Number)))].sort((a, b) => a - b);
  const holds = P.holdPoints ?? [];
  const pp = (s, c, f) => s.summary?.pingpong?.[c]?.[f] ?? null;
  const line = (f, scaleBy = 1) => series.map((s) => ({ ...s, points: points.map((c) => [c, isNum(pp(s, c, f)) ? pp(s, c, f) * scaleBy : null]) }));
  const fmtMs = (v) => sig(v);
  const charts = [];
  charts.push(lineChart({ id: "msgs", title: "Ping-pong throughput against connection count", desc: `Messages per second (64-byte echo, one in flight per connection) at ${points.map(kConns).join(", ")} connections; higher is better.`,
    series: line("msgsPerS"), y: { label: "messages per second (msgs/s)", unit: "msgs/s", fmt: (v) => num(v) } }));
  for (const [f, name] of [["p50Us", "p50"], ["p99Us", "p99"], ["p999Us", "p99.9"]]) {
    charts.push(lineChart({ id: `lat-${name.replace(".", "")}`, title: `Latency ${name} against connection count`, desc: `Round-trip latency, ${name} percentile, in milliseconds; lower is better.`,
      series: line(f, 1 / 1000), y: { label: `${name} latency (ms)`, unit: "ms", log: true, fmt: fmtMs } }));
  }
  charts.push(lineChart({ id: "cpu", title: "Server CPU per message against connection count", desc: "Server user+system CPU time per echoed message, in microseconds; lower is better.",
    series: line("cpuUsPerMsg"), y: { label: "server CPU per message (µs)", unit: "µs/msg", fmt: (v) => num(v, 2) } }));
  // Pipelined ping-pong (issue 11: where one in flight is bound by the load generator, 8 in flight shows the server's rate).
  const depthPoints = P.depthPoints ?? [...new Set(series.flatMap((s) => Object.keys(s.summary?.pipelined ?? {}).map(Number)))].sort((a, b) => a - b);
  const pipe = (f) => series.map((s) => ({ ...s, points: depthPoints.map((c) => { const v = s.summary?.pipelined?.[c]?.[f]; return [c, isNum(v) ? v : null]; }) }));
  if (depthPoints.length && series.some((s) => depthPoints.some((c) => isNum(s.summary?.pipelined?.[c]?.msgsPerS)))) {
    const inFlight = `${P.depth ?? "several"} in flight per connection`;
    charts.push(lineChart({ id: "pipe-msgs", title: `Pipelined throughput (${inFlight}) against connection count`, desc: `Messages per second (64-byte echo, ${inFlight}) at ${depthPoints.map(kConns).join(", ")} connections; higher is better.`,
      series: pipe("msgsPerS"), y: { label: "messages per second (msgs/s)", unit: "msgs/s", fmt: (v) => num(v) },
      note: "One in flight, the load generator pays a wake-up per message too and can be the bound; pipelined, the server's own rate shows (the targets table marks which windows were loadgen-bound)." }));
    charts.push(lineChart({ id: "pipe-cpu", title: `Pipelined: server CPU per message (${inFlight})`, desc: "Server user+system CPU time per echoed message with several messages in flight, in microseconds; lower is better.",
      series: pipe("cpuUsPerMsg"), y: { label: "server CPU per message (µs)", unit: "µs/msg", fmt: (v) => num(v, 2) } }));
  }
  const hold = (f, scaleBy = 1) => series.map((s) => ({ series: s, values: holds.map((c) => { const v = s.summary?.holdAt?.[c]?.[f]; return [c, isNum(v) ? v * scaleBy : null]; }) }));
  if (holds.length) {
    charts.push(barChart({ id: "rss-per-conn", title: "Memory per idle connection", desc: `RSS growth per held idle connection, in bytes, at ${holds.map(kConns).join(" and ")} connections held; lower is better.`,
      groups: hold("rssPerConn"), y: { label: "RSS per connection (bytes)", unit: "B", log: true, fmt: (v) => num(v) },
      note: "Growth of the server's resident memory from before the first connection to while all are held, divided by their count. Values at or below 0 (RSS read noise) are not drawn on the log axis; the table has them." }));
    charts.push(barChart({ id: "rss-held", title: "Total memory holding the idle connections", desc: "The server's whole RSS while holding the idle connections, in MiB, start-up included; lower is better.",
      groups: hold("rssHeld", 1 / 2 ** 20), y: { label: "RSS held (MiB)", unit: "MiB", fmt: (v) => num(v, 1) } }));
  }
  const storm = series.map((s) => ({ series: s, values: [[P.stormConns ?? 0, s.summary?.acceptsPerS ?? null]] }));
  if (storm.some((g) => isNum(g.values[0][1]))) {
    charts.push(barChart({ id: "storm", title: `Accept storm: ${kConns(P.stormConns ?? 0)} connections`, desc: `Connections accepted per second, at most ${P.maxHandshakes ?? 256} handshakes in flight, each proven by an echo; higher is better.`,
      groups: storm, y: { label: "accepts per second", unit: "conns/s", fmt: (v) => num(v) } }));
  }
  const unavailable = series.filter((s) => s.unavailable);
  const runtimes = [...new Set(series.map((s) => s.runtime).filter((r) => RUNTIME_COLOUR[r]))];
  const others = series.filter((s) => /^x/.test(s.colour));
  return `<section aria-labelledby="h-net"><h2 id="h-net">Real sockets on loopback (net)</h2>
<p>Every server side by side, each a fresh process pinned to one core, the load generator on the other. Colour is the runtime (${runtimes.map((r) => `<span class="chip c-${RUNTIME_COLOUR[r]}">${esc(r)}</span>`).join(" ")}, <span class="chip c-c">C</span>${others.length ? `; ${esc(others.map((s) => s.name).join(", "))}: a colour of ${others.length === 1 ? "its" : "their"} own` : ""}); line and marker are the role: solid ● ours (native host), dashed ■ ours (portable host), dotted ▲ the runtime's own sockets (or another peer), ◆ the C references (epoll; io_uring in a colour of its own where it ran). Hover a point for its value; each chart's data is also in a table under it.</p>
${unavailable.length ? `<div class="callout" role="note"><strong>Unavailable in this run:</strong><ul>${unavailable.map((s) => `<li>${esc(s.name)}: ${esc(s.unavailable)}</li>`).join("")}</ul></div>` : ""}
<p class="small muted">Ping-pong: ${esc(P.messageBytes ?? 64)} B messages, ${esc(P.windowS ?? "?")} s window after ${esc(P.warmupMs ?? "?")} ms warm-up, ${esc(P.rounds ?? net.rounds ?? 1)} round(s), medians. Points: ${points.map(kConns).join(", ") || "none"}${depthPoints.length ? `; pipelined (${esc(P.depth ?? "?")} in flight) at ${depthPoints.map(kConns).join(", ")}` : ""}; idle memory at ${holds.map(kConns).join(", ") || "none"}.</p>
<div class="grid">${charts.join("\n")}</div>
</section>`;
}

function targetsSection(report) {
  const figs = report.figures ?? [];
  const count = (r) => figs.filter((f) => f.result === r).length;
  const results = ["PASS", "MISS", "SKIP", "ERROR", "info"].filter((r) => count(r));
  const ratio = (r) => (!isNum(r) ? "—" : r >= 10 ? `${r.toFixed(0)}x` : r >= 0.1 ? `${r.toFixed(2)}x` : `${r.toFixed(3)}x`);
  const rows = figs.map((f) => `<tr class="r-${esc(String(f.result).toLowerCase())}"><td>${esc(f.bench ?? "")}</td><td>${esc(f.title)}<div class="small muted mono">${esc(f.id)}</div>${f.note ? `<div class="small muted">${esc(f.note)}</div>` : ""}</td>` +
    `<td class="n">${esc(fmtValue(f.ours?.value, f.unit))}<div class="small muted">${esc(f.ours?.name ?? "")}</div></td>` +
    `<td class="n">${f.baseline ? `${esc(fmtValue(f.baseline.value, f.unit))}<div class="small muted">${esc(f.baseline.name)}</div>` : "—"}</td>` +
    `<td class="n">${ratio(f.ratio)}</td><td>${esc(targetText(f.target, f.unit))}</td><td><span class="badge b-${esc(String(f.result).toLowerCase())}">${esc(f.result)}</span></td></tr>`).join("\n");
  return `<section aria-labelledby="h-targets"><h2 id="h-targets">Targets: PASS / MISS</h2>
<p>${results.map((r) => `<span class="badge b-${r.toLowerCase()}">${r}</span> ${count(r)}`).join(" &nbsp; ") || "No figures."} <span class="muted">of ${figs.length} figures. ratio = ours ÷ baseline, both measured in the same run.</span></p>
<div class="scroll"><table class="targets"><caption class="sr-only">Every figure of the run with its target and result</caption>
<thead><tr><th scope="col">bench</th><th scope="col">figure</th><th scope="col" class="n">ours</th><th scope="col" class="n">baseline (same run)</th><th scope="col" class="n">ratio</th><th scope="col">target</th><th scope="col">result</th></tr></thead>
<tbody>${rows}</tbody></table></div></section>`;
}

function metaSection(report) {
  const m = report.machine ?? {};
  const net = (report.benches ?? []).find((b) => b.name === "net" && b.type === "result");
  const versions = [...new Set((net?.params?.servers ?? []).map((s) => s.version).filter((v) => v && !/^wasm-reactor/.test(v)))];
  const la = report.loadavg ?? {};
  const row = (k, v) => `<tr><th scope="row">${esc(k)}</th><td>${v}</td></tr>`;
  const benchRows = (report.benches ?? []).map((b) => `<tr><td>${esc(b.name)}</td><td>${b.type === "result" ? "ran" : b.type === "skipped" ? `skipped: ${esc(b.reason)}` : `<strong>error</strong>: ${esc(String(b.error ?? "").split("\n")[0])}`}</td><td class="n">${isNum(b.wallMs) ? num(b.wallMs / 1000, 1) : "—"} s</td></tr>`).join("");
  return `<section aria-labelledby="h-meta"><h2 id="h-meta">Run and machine</h2>
<div class="cols"><table class="meta"><caption class="sr-only">Run metadata</caption><tbody>
${row("started", esc(report.startedAt ?? "?"))}${row("finished", esc(report.finishedAt ?? "?"))}${row("duration", isNum(report.durationMs) ? `${num(report.durationMs / 1000, 1)} s` : "?")}
${row("command", `<code>${esc(report.command ?? "?")}</code>`)}${row("commit", `<code>${esc(report.git?.commit?.slice(0, 12) ?? "?")}</code>${report.git?.dirty ? " (uncommitted changes)" : ""}`)}
${row("CPU", `${esc(m.cpu ?? "?")}, ${esc(m.cores ?? "?")} cores`)}${row("Node", `${esc(m.node ?? "?")} (V8 ${esc(m.v8 ?? "?")})`)}
${versions.length ? row("runtimes measured", esc(versions.join(", "))) : ""}
${row("load average", `${esc((la.start ?? []).join(" "))} at start → ${esc((la.end ?? []).join(" "))} at end (1, 5, 15 min)`)}
${net?.params ? row("pinning", `server on CPU ${esc(net.params.serverCpu)}, load generator on CPU ${esc(net.params.loadgenCpu)}`) : ""}
</tbody></table>
<table class="meta"><caption>Benchmarks in this run</caption><thead><tr><th scope="col">bench</th><th scope="col">status</th><th scope="col" class="n">wall</th></tr></thead><tbody>${benchRows}</tbody></table></div>
</section>`;
}

function notesSection(report) {
  const withNotes = (report.benches ?? []).filter((b) => b.notes?.length);
  if (!withNotes.length) return "";
  return `<section aria-labelledby="h-notes"><h2 id="h-notes">Notes from each benchmark</h2>
${withNotes.map((b) => `<details><summary>${esc(b.name)} (${b.notes.length} note${b.notes.length === 1 ? "" : "s"})</summary><pre>${esc(b.notes.join("\n\n"))}</pre></details>`).join("\n")}
</section>`;
}

const CSS = `
:root{color-scheme:light dark;--bg:#ffffff;--fg:#1b1f24;--muted:#57606a;--grid:#e4e7eb;--axis:#6e7781;--card:#f6f8fa;--border:#d0d7de;
--node:#2e7d32;--bun:#c2185b;--deno:#1565c0;--c:#4a4a4a;--x0:#e65100;--x1:#6a1b9a;--x2:#00838f;
--pass:#1a7f37;--miss:#cf222e;--skip:#9a6700;--info:#57606a;--link:#0969da}
@media (prefers-color-scheme:dark){:root{--bg:#0d1117;--fg:#e6edf3;--muted:#9198a1;--grid:#262c36;--axis:#8b949e;--card:#161b22;--border:#30363d;
--node:#6fcf73;--bun:#f47fb0;--deno:#6cb6ff;--c:#c9d1d9;--x0:#ffa657;--x1:#d2a8ff;--x2:#56d4dd;--pass:#3fb950;--miss:#ff7b72;--skip:#d29922;--info:#9198a1;--link:#4493f8}}
*{box-sizing:border-box}
body{margin:0 auto;max-width:1320px;padding:24px;background:var(--bg);color:var(--fg);font:15px/1.5 system-ui,-apple-system,"Segoe UI",Roboto,"Noto Sans",sans-serif}
h1{font-size:1.6em;margin:0 0 4px}h2{font-size:1.25em;margin:32px 0 8px;padding-bottom:4px;border-bottom:1px solid var(--border)}
a{color:var(--link)}.muted{color:var(--muted)}.small{font-size:.85em}.mono,code,pre{font-family:ui-monospace,SFMono-Regular,Menlo,Consolas,monospace;font-size:.85em}
pre{white-space:pre;overflow:auto;background:var(--card);border:1px solid var(--border);padding:12px;border-radius:6px}
.sr-only{position:absolute;width:1px;height:1px;overflow:hidden;clip:rect(0 0 0 0);white-space:nowrap}
.grid{display:grid;grid-template-columns:repeat(auto-fit,minmax(min(100%,540px),1fr));gap:18px}
.chart{margin:0;padding:12px 14px;background:var(--card);border:1px solid var(--border);border-radius:8px;min-width:0}
.chart figcaption{font-weight:600;margin-bottom:4px}
.chart svg{width:100%;max-width:760px;height:auto;display:block;margin:0 auto}
.chart svg.swatch,svg.swatch{width:34px;height:14px;display:inline-block;flex:none}
.chart .grid line{stroke:var(--grid);stroke-width:1}
.chart .axis line{stroke:var(--axis);stroke-width:1}
.chart text{fill:var(--muted);font-size:13px;font-family:inherit}
.chart text.label{fill:var(--fg);font-size:14px}.chart text.measured{fill:var(--fg);font-weight:600}.chart text.cat{fill:var(--fg);font-size:11.5px}
.ln{fill:none;stroke-width:2.2;stroke-linejoin:round;stroke-linecap:round}
.pt{stroke:var(--card);stroke-width:1.2}
.c-node{stroke:var(--node);--s:var(--node)}.c-bun{stroke:var(--bun);--s:var(--bun)}.c-deno{stroke:var(--deno);--s:var(--deno)}.c-c{stroke:var(--c);--s:var(--c)}.c-x0{stroke:var(--x0);--s:var(--x0)}.c-x1{stroke:var(--x1);--s:var(--x1)}.c-x2{stroke:var(--x2);--s:var(--x2)}
.ln.c-node,.ln.c-bun,.ln.c-deno,.ln.c-c,.ln.c-x0,.ln.c-x1,.ln.c-x2{stroke:var(--s)}
.pt.c-node,.pt.c-bun,.pt.c-deno,.pt.c-c,.pt.c-x0,.pt.c-x1,.pt.c-x2{fill:var(--s);stroke:var(--card)}
.bar{fill:var(--s);stroke:none}.bar.shade1{fill-opacity:.55}.bar.shade2{fill-opacity:.3}
.point:hover .pt,.point:hover .bar{stroke:var(--fg);stroke-width:2}
.shade-key{display:inline-block;width:12px;height:10px;background:var(--muted);vertical-align:baseline}.shade-key.shade1{opacity:.55}.shade-key.shade2{opacity:.3}
.legend{list-style:none;display:flex;flex-wrap:wrap;gap:4px 16px;margin:6px 0 0;padding:0;font-size:.88em}
.legend li{display:flex;align-items:center;gap:6px;white-space:nowrap}.swatch .ln{stroke-width:2}
.chip{display:inline-block;padding:0 8px;border-radius:10px;color:var(--bg);background:var(--s);font-weight:600;font-size:.85em}
.chip.c-node{background:var(--node)}.chip.c-bun{background:var(--bun)}.chip.c-deno{background:var(--deno)}.chip.c-c{background:var(--c)}
details{margin-top:8px}summary{cursor:pointer;color:var(--muted);font-size:.88em}
.scroll{overflow-x:auto}
table{border-collapse:collapse;font-size:.9em}
th,td{text-align:left;padding:5px 10px;border-bottom:1px solid var(--border);vertical-align:top}
.n{text-align:right;font-variant-numeric:tabular-nums}
table.data{margin-top:6px}table.data caption{text-align:left;color:var(--muted);font-size:.9em;padding:4px 0}
table.targets{width:100%}table.targets thead th{position:sticky;top:0;background:var(--bg)}
.badge{display:inline-block;min-width:48px;text-align:center;padding:1px 8px;border-radius:10px;font-weight:700;font-size:.8em;border:1.5px solid currentColor}
.b-pass{color:var(--pass)}.b-miss{color:var(--miss)}.b-skip,.b-error{color:var(--skip)}.b-info{color:var(--info)}
tr.r-miss td{background:color-mix(in srgb,var(--miss) 7%,transparent)}
.callout{border:1px solid var(--skip);border-left-width:5px;background:var(--card);padding:8px 14px;border-radius:6px;margin:12px 0}
.callout ul{margin:4px 0;padding-left:20px}
.cols{display:flex;flex-wrap:wrap;gap:24px;align-items:flex-start}
table.meta th{color:var(--muted);font-weight:500;white-space:nowrap}
.empty{color:var(--muted);font-style:italic}
header .summary{margin-top:10px}
`;

/** The whole HTML document for a bench report object (what run.mjs writes as JSON). */
export function renderReport(report, { source } = {}) {
  if (!report || typeof report !== "object" || !Array.isArray(report.benches)) {
    throw new Error(`not a bench report: expected an object with a "benches" array (run.mjs's JSON, format 1)${source ? `: ${source}` : ""}`);
  }
  if (report.format !== undefined && report.format !== 1) throw new Error(`bench report format ${report.format} is not supported (this generator reads format 1)${source ? `: ${source}` : ""}`);
  chartSeq = 0;
  const net = report.benches.find((b) => b.name === "net" && b.type === "result");
  const figs = report.figures ?? [];
  const pass = figs.filter((f) => f.result === "PASS").length, miss = figs.filter((f) => f.result === "MISS").length;
  const when = report.startedAt ? report.startedAt.replace("T", " ").replace(/\.\d+Z$/, " UTC") : "?";
  const title = `wasm-reactor benchmarks, ${when}`;
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="color-scheme" content="light dark">
<title>${esc(title)}</title>
<style>${CSS}</style>
</head>
<body>
<header>
<h1>${esc(title)}</h1>
<p class="muted">${esc(report.machine?.cpu ?? "?")}, ${esc(report.machine?.cores ?? "?")} cores · commit <code>${esc(report.git?.commit?.slice(0, 10) ?? "?")}</code>${report.git?.dirty ? " (dirty)" : ""} · <code>${esc(report.command ?? "")}</code>${source ? ` · from <code>${esc(source)}</code>` : ""}</p>
${report.quick ? `<div class="callout" role="note"><strong>Quick run:</strong> reduced sizes and short windows, a smoke run. Not figures to quote.</div>` : ""}
<p class="summary"><span class="badge b-pass">PASS</span> ${pass} &nbsp; <span class="badge b-miss">MISS</span> ${miss} &nbsp; <span class="muted">of ${figs.length} figures · <a href="#h-targets">targets table</a>${net ? ' · <a href="#h-net">plots</a>' : ""} · <a href="#h-meta">run and machine</a></span></p>
</header>
<main>
${net ? netSection(net) : `<p class="muted">This run has no net benchmark result, so there is nothing to plot against connection count; the figures are below.</p>`}
${targetsSection(report)}
${metaSection(report)}
${notesSection(report)}
</main>
<footer><p class="small muted">Written by tests/bench/report.mjs from the bench JSON; self-contained (no scripts, fonts or network).</p></footer>
</body>
</html>
`;
}

/** Reads a bench JSON file, writes the report; returns the HTML path. `out` defaults to the JSON's path with .html. */
export function writeReport(jsonPath, out) {
  let report;
  try {
    report = JSON.parse(readFileSync(jsonPath, "utf8"));
  } catch (err) {
    throw new Error(`cannot read bench JSON ${jsonPath}: ${err.message}`);
  }
  const html = renderReport(report, { source: basename(jsonPath) });
  const target = out ?? join(dirname(jsonPath), `${basename(jsonPath).replace(/\.json$/i, "")}.html`);
  writeFileSync(target, html);
  return target;
}

/**
 * For run.mjs: the report object it just wrote as JSON, an HTML file beside each of `jsonPaths`.
 * A report that fails to render does not fail the bench (its results are already written): the
 * error is printed, and the paths written are returned.
 */
export function writeReportBeside(report, jsonPaths) {
  const written = [];
  try {
    const html = renderReport(report);
    for (const p of jsonPaths) { const h = p.replace(/\.json$/i, "") + ".html"; writeFileSync(h, html); written.push(h); }
    console.error(`bench: report ${written.map((p) => basename(p)).join(", ")} (open in a browser)`);
  } catch (err) {
    console.error(`bench: the HTML report failed (the JSON is written): ${err?.stack ?? err}`);
  }
  return written;
}

// ── command line ───────────────────────────────────────────────────────────────────────────
const isMain = process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url);
if (isMain) {
  const args = process.argv.slice(2);
  const usage = "usage: node tests/bench/report.mjs <bench.json> [-o out.html]";
  if (args.includes("-h") || args.includes("--help")) { console.log(usage); process.exit(0); }
  const o = args.findIndex((a) => a === "-o" || a === "--out");
  const out = o >= 0 ? args[o + 1] : undefined;
  const rest = args.filter((_, i) => o < 0 || (i !== o && i !== o + 1));
  if (rest.length !== 1 || (o >= 0 && !out)) { console.error(usage); process.exit(2); }
  try {
    console.log(writeReport(rest[0], out));
  } catch (err) {
    console.error(`report: ${err.message}`);
    process.exit(1);
  }
}
