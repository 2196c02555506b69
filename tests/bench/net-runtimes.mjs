// Part of tests/bench/net.mjs (not a benchmark itself): the per-runtime columns of issue 9.
//
// For each runtime (node, bun, deno) three servers run in the same net run, one fresh process per
// measurement, all pinned the same way:
//   native    our server on that runtime with the OS's native host: `<runtime> dist/cli.js serve`
//   portable  our server on that runtime with the portable host: `… serve --backend portable`
//   own       that runtime's own sockets, the way an app writes them (tests/bench/servers/)
// and this module turns their medians into figures against the targets below and into one table,
// grouped by runtime, with the C epoll server beside each row as the reference. A server that could
// not start is "unavailable: <its one-line error>" in the table, the notes and the JSON, and its
// figures read SKIP; nothing here throws for a missing column.

/** Server keys per runtime (the keys of net.mjs's server list). */
export const GROUPS = {
  node: { native: "ours", portable: "portable-node", own: "node" },
  bun: { native: "ours-bun", portable: "portable-bun", own: "bun" },
  deno: { native: "ours-deno", portable: "portable-deno", own: "deno" },
};
export const RUNTIMES = Object.keys(GROUPS);
const OWN_NAMES = { node: "node:net", bun: "Bun.listen", deno: "Deno.listen" };

/**
 * Issue 9's targets, per runtime and per connection count in `points`: the native host beats the
 * runtime's own sockets on msgs/s (ratio ≥ 1), on server CPU per message (≤ 1) and on idle memory,
 * read two ways, each its own figure: the total RSS of the process holding that many idle
 * connections (what a user pays, start-up included) and the RSS each added connection costs (≤ 1
 * each); the portable host costs at most 1.25x the own sockets' CPU per message.
 */
export const RUNTIME_TARGETS = {
  points: [1000, 10_000],
  nativeMsgsRatioMin: 1,
  nativeCpuRatioMax: 1,
  nativeRssRatioMax: 1,
  portableCpuRatioMax: 1.25,
};

const k = (n) => (n >= 1000 ? `${n / 1000}k` : `${n}`);
const num = (v, d = 0) => (v === null || v === undefined || Number.isNaN(v) ? "—" : v.toLocaleString("en-US", { maximumFractionDigits: d, minimumFractionDigits: d }));
const ratioText = (r) => (r === null || r === undefined ? "—" : `${r.toFixed(2)}x`);
const ratioOf = (a, b) => (a !== null && a !== undefined && b !== null && b !== undefined && b > 0 ? a / b : null);

/**
 * `servers`: net.mjs's selected servers ({ key, name, cmdline, runtime }); `results[key]`: raw
 * results ({ skipped?, broken?, errors }); `S[key]`: medians ({ pingpong: { [c]: { msgsPerS,
 * cpuUsPerMsg } }, holdAt: { [c]: { rssHeld, rssPerConn } } }); `P`: the run's parameters
 * (points, holdPoints); `figure`: lib.mjs's; a ping-pong cell whose window others disturbed by more
 * than `disturbedPct` % of a core is marked with *. Returns { figures, notes, json }.
 */
export function runtimeReport({ servers, results, S, P, figure, textTable, disturbedPct }) {
  const byKey = new Map(servers.map((s) => [s.key, s]));
  /** What became of one column: measured, unavailable (could not start), broken, or not selected. */
  const status = (key) => {
    const s = byKey.get(key);
    if (!s) return { state: "not selected" };
    const R = results[key];
    // A server that stopped starting part-way (a start-up timeout on a busy machine) keeps what it measured.
    const measuredAny = Object.keys(R.pingpong).length || Object.keys(R.holdAt ?? {}).length;
    if (R.skipped && !measuredAny) return { state: "unavailable", why: R.skipped, name: s.name, cmd: s.cmdline };
    if (R.broken && !measuredAny) return { state: "error", why: R.broken, name: s.name, cmd: s.cmdline };
    return { state: "measured", name: s.name, cmd: s.cmdline, ...(R.skipped ? { stoppedAfter: R.skipped } : {}) };
  };
  const cellOf = (st, v, fmt, disturbed) => (st.state === "measured" ? `${fmt(v)}${disturbed ? " *" : ""}` : st.state === "not selected" ? "not run" : st.state);
  let anyDisturbed = false;

  const runtimes = RUNTIMES.filter((rt) => Object.values(GROUPS[rt]).some((key) => byKey.has(key)));
  const points = [...new Set([...P.points, ...P.holdPoints])].sort((a, b) => a - b);
  const targetPoints = RUNTIME_TARGETS.points.filter((c) => points.includes(c));
  const figures = [], notes = [], json = {};
  const rows = [];
  for (const rt of runtimes) {
    const g = GROUPS[rt];
    const st = { native: status(g.native), portable: status(g.portable), own: status(g.own) };
    const ownName = byKey.get(g.own)?.name ?? OWN_NAMES[rt];
    const value = (role, c, what) => {
      if (st[role].state !== "measured") return null;
      const x = S[g[role]];
      if (what === "msgsPerS" || what === "cpuUsPerMsg") return x.pingpong[c]?.[what] ?? null;
      return x.holdAt?.[c]?.[what] ?? null;
    };
    const cValue = (c, what) => S.c?.pingpong[c]?.[what] ?? null;
    const J = { servers: {}, points: {}, targets: [] };
    for (const role of ["native", "portable", "own"]) J.servers[role] = { key: g[role], ...st[role] };
    for (const role of ["native", "portable", "own"]) {
      if (st[role].state === "unavailable" || st[role].state === "error") notes.push(`${rt}: ${st[role].name} (\`${st[role].cmd}\`): ${st[role].state}: ${st[role].why}`);
      if (st[role].stoppedAfter) notes.push(`${rt}: ${st[role].name} could not start again part-way through the run (${st[role].stoppedAfter}); what it measured before is kept`);
    }

    // The targets: one figure each, at each target point this run measured.
    const targetFig = ({ id, title, unit, better, role, c, what, target, scale = 1 }) => {
      const ours = value(role, c, what), base = value("own", c, what);
      const oursName = st[role].state === "measured" ? st[role].name : `${st[role].name ?? g[role]}: ${st[role].state}${st[role].why ? `: ${st[role].why}` : ""}`;
      const baseName = st.own.state === "measured" ? ownName : `${ownName}: ${st.own.state}${st.own.why ? `: ${st.own.why}` : ""}`;
      const f = figure({ id, title, unit, better, target,
        ours: { name: oursName, value: ours === null ? null : ours * scale },
        baseline: { name: baseName, value: base === null ? null : base * scale } });
      if (ours === null || base === null) {
        f.ratio = null;
        // Not measured: SKIP when a column could not run at all, ERROR when it ran and gave nothing.
        f.result = [st[role], st.own].some((s) => s.state === "unavailable" || s.state === "not selected") ? "SKIP" : "ERROR";
      }
      figures.push(f);
      J.targets.push({ id, role, conns: c, what, ratio: f.ratio, target, result: f.result });
      return f;
    };
    const T = RUNTIME_TARGETS;
    const results1 = {}; // `${c}:${what}` → text for the table's target column
    const note = (c, what, text) => { results1[`${c}:${what}`] = [results1[`${c}:${what}`], text].filter(Boolean).join("; "); };
    for (const c of targetPoints) {
      if (P.points.includes(c)) {
        let f = targetFig({ id: `net.${rt}.native.msgs.${c}`, title: `${rt}: native host vs ${ownName}, msgs/s, ${k(c)} conns (beats it)`, unit: "msgs/s", better: "higher", role: "native", c, what: "msgsPerS", target: { ratioMin: T.nativeMsgsRatioMin } });
        note(c, "msgsPerS", `ours ≥ ${T.nativeMsgsRatioMin}x: ${f.result}`);
        f = targetFig({ id: `net.${rt}.native.cpu.${c}`, title: `${rt}: native host vs ${ownName}, CPU per message, ${k(c)} conns (beats it)`, unit: "µs/msg", better: "lower", role: "native", c, what: "cpuUsPerMsg", target: { ratioMax: T.nativeCpuRatioMax } });
        note(c, "cpuUsPerMsg", `ours ≤ ${T.nativeCpuRatioMax}x: ${f.result}`);
        f = targetFig({ id: `net.${rt}.portable.cpu.${c}`, title: `${rt}: portable host vs ${ownName}, CPU per message, ${k(c)} conns (≤ ${T.portableCpuRatioMax}x)`, unit: "µs/msg", better: "lower", role: "portable", c, what: "cpuUsPerMsg", target: { ratioMax: T.portableCpuRatioMax } });
        note(c, "cpuUsPerMsg", `portable ≤ ${T.portableCpuRatioMax}x: ${f.result}`);
      }
      if (P.holdPoints.includes(c)) {
        let f = targetFig({ id: `net.${rt}.native.rss.${c}`, title: `${rt}: native host vs ${ownName}, total RSS holding ${k(c)} idle conns (beats it)`, unit: "MB", better: "lower", role: "native", c, what: "rssHeld", target: { ratioMax: T.nativeRssRatioMax }, scale: 1 / 2 ** 20 });
        note(c, "rssHeld", `ours ≤ ${T.nativeRssRatioMax}x: ${f.result}`);
        f = targetFig({ id: `net.${rt}.native.rssPerConn.${c}`, title: `${rt}: native host vs ${ownName}, RSS per added idle conn, ${k(c)} held (beats it)`, unit: "B", better: "lower", role: "native", c, what: "rssPerConn", target: { ratioMax: T.nativeRssRatioMax } });
        // Growth can read ≤ 0 (RSS noise, pages freed): then ours beats any positive own growth.
        if (f.ours.value !== null && f.ours.value <= 0 && f.baseline.value > 0) { f.ratio = 0; f.result = "PASS"; J.targets[J.targets.length - 1].ratio = 0; J.targets[J.targets.length - 1].result = "PASS"; }
        note(c, "rssPerConn", `ours ≤ ${T.nativeRssRatioMax}x: ${f.result}`);
      }
    }

    // The table: every point and measure, the three columns, both ratios, C beside it.
    const MEASURES = [
      { what: "msgsPerS", label: "msgs/s", fmt: (v) => num(v), from: "pingpong" },
      { what: "cpuUsPerMsg", label: "CPU µs/msg", fmt: (v) => num(v, 2), from: "pingpong" },
      { what: "rssHeld", label: "RSS held MiB", fmt: (v) => num(v / 2 ** 20, 1), from: "hold" },
      { what: "rssPerConn", label: "RSS B/conn", fmt: (v) => num(v), from: "hold" },
    ];
    for (const c of points) {
      J.points[c] = {};
      for (const m of MEASURES) {
        if (!(m.from === "pingpong" ? P.points : P.holdPoints).includes(c)) continue;
        const v = { native: value("native", c, m.what), portable: value("portable", c, m.what), own: value("own", c, m.what) };
        const r = { native: ratioOf(v.native, v.own), portable: ratioOf(v.portable, v.own) };
        // rssPerConn can be 0 or negative (RSS read noise): no ratio then.
        if (m.what === "rssPerConn") for (const role of ["native", "portable"]) if (!(v[role] >= 0)) r[role] = null;
        const cRef = m.from === "pingpong" ? cValue(c, m.what) : null;
        J.points[c][m.what] = { ...v, nativeRatio: r.native, portableRatio: r.portable, c: cRef };
        const dist = (key) => {
          const d = m.from === "pingpong" && (S[key]?.pingpong[c]?.otherPct ?? 0) > disturbedPct;
          if (d) anyDisturbed = true;
          return d;
        };
        rows.push([rt, k(c), m.label, cellOf(st.native, v.native, m.fmt, dist(g.native)), cellOf(st.portable, v.portable, m.fmt, dist(g.portable)), cellOf(st.own, v.own, m.fmt, dist(g.own)),
          ratioText(r.native), ratioText(r.portable), cRef === null ? "—" : `${m.fmt(cRef)}${dist("c") ? " *" : ""}`, results1[`${c}:${m.what}`] ?? ""]);
      }
    }
    json[rt] = J;
  }
  if (rows.length) {
    const own = runtimes.map((rt) => `${rt}: ${OWN_NAMES[rt]}`).join(", ");
    notes.unshift(`per runtime (issue 9): ours = our server on that runtime with the native host, portable = the same with \`--backend portable\`, own = the runtime's own sockets (${own}), each a fresh process per measurement in the same run; ratios ÷ own; C epoll is the reference; targets at ${RUNTIME_TARGETS.points.map(k).join(" and ")}: ours beats own on msgs/s (≥ ${RUNTIME_TARGETS.nativeMsgsRatioMin}x), CPU per message, total RSS holding idle connections and RSS per added connection (≤ ${RUNTIME_TARGETS.nativeCpuRatioMax}x), portable CPU per message ≤ ${RUNTIME_TARGETS.portableCpuRatioMax}x own's\n` +
      textTable(["runtime", "conns", "measure", "ours (native)", "portable", "own sockets", "ours÷own", "portable÷own", "C epoll", "target: result"], rows) +
      (anyDisturbed ? `\n    * other processes used more than ${disturbedPct}% of a core during that window (after any redos): a noisy value` : ""));
  }
  return { figures, notes, json };
}
