// The formatting behind `wasm-reactor top` (host/cli/top.ts) and the progress line
// (host/cli/progress.ts), without a terminal: ETA arithmetic and durations, widths (never past
// the terminal's last column, whatever the state), rates from two samples (computed from a real
// simulated reactor's metrics), the URL forms top accepts and the document shapes it refuses, and
// no escape code where there is no terminal. tests/net/top.test.ts drives both in a real terminal.
import { suite } from "uvu";
import * as assert from "uvu/assert";
import { Progress, progressLine, formatDuration, etaMs, type ProgressStream } from "../../host/cli/progress.ts";
import { metricsUrl, checkDoc, viewOf, renderScreen, plainLine, unreachableLine, short, bytes, describeFetchError, DEFAULT_URL, type MetricsDoc } from "../../host/cli/top.ts";
import { simReactor, closeClean } from "../helpers/sim.ts";
import type { MetricsSnapshot } from "../../host/index.ts";

const test = suite("api: top's screen and lines, the progress line");
const ESC = /[\x1b\r]/;

test("durations: m:ss, h:mm:ss, and ? for what is not known", () => {
  assert.is(formatDuration(0), "0:00");
  assert.is(formatDuration(7_400), "0:07");
  assert.is(formatDuration(65_000), "1:05");
  assert.is(formatDuration(3_723_000), "1:02:03");
  assert.is(formatDuration(400 * 3600_000), ">99h");
  for (const bad of [NaN, -1, Infinity]) assert.is(formatDuration(bad), "?");
});

test("ETA: elapsed ÷ done × what is left; unknown before the first unit or without a total", () => {
  assert.is(etaMs(25, 100, 10_000), 30_000);
  assert.is(etaMs(1, 3, 2_000), 4_000);
  assert.is(etaMs(100, 100, 9_000), 0);
  assert.is(etaMs(120, 100, 9_000), 0);
  assert.is(etaMs(0, 100, 5_000), undefined);
  assert.is(etaMs(5, undefined, 5_000), undefined);
  assert.is(etaMs(5, 0, 5_000), undefined);
});

test("the progress line: its parts, and never wider than the terminal less one column", () => {
  const s = { label: "fuzz", done: 37, total: 100, elapsedMs: 12_000, detail: "0 failures" };
  assert.is(progressLine(s, 80), "fuzz  37/100   37% [#######-------------]  0:12 elapsed, ETA 0:20  0 failures");
  assert.is(progressLine({ ...s, etaMs: 90_000 }, 80), "fuzz  37/100   37% [#######-------------]  0:12 elapsed, ETA 1:30  0 failures");
  assert.is(progressLine({ ...s, etaMs: Infinity }, 80), "fuzz  37/100   37% [#######-------------]  0:12 elapsed, ETA ?  0 failures");
  assert.is(progressLine({ label: "replay", done: 5, elapsedMs: 1000 }, 80), "replay  5  0:01 elapsed", "no total: no bar, no ETA");
  assert.is(progressLine(s, 60), "fuzz  37/100   37%  0:12 elapsed, ETA 0:20  0 failures", "narrow: the bar goes first");
  assert.is(progressLine(s, 30), "fuzz  37/100   37%  0:12 ela…");
  for (let width = 1; width <= 200; width += 7) {
    for (const st of [s, { ...s, done: 0 }, { ...s, done: 100 }, { ...s, detail: "x".repeat(300) }, { label: "bench", done: 3, total: 7, elapsedMs: 7_200_000 }]) {
      const line = progressLine(st, width);
      assert.ok(line.length <= Math.max(10, width - 1), `width ${width}: ${line.length}`);
      assert.not.match(line, ESC);
    }
  }
});

/** A stream that records writes, with a clock the test moves. */
function fakeStream(isTTY: boolean): ProgressStream & { out: string[] } {
  const out: string[] = [];
  return { isTTY, columns: 80, out, write(s: string) { out.push(s); return true; } };
}

test("Progress: nothing at all when the stream is not a terminal, but log() still prints", () => {
  const err = fakeStream(false), out = fakeStream(false);
  let t = 0;
  const p = new Progress({ label: "fuzz", total: 10, stream: err, now: () => t, showAfterMs: 0 });
  assert.not.ok(p.active);
  for (let i = 0; i <= 10; i++) { t += 1000; p.update(i); }
  p.log("a line", out);
  p.end();
  assert.equal(err.out, []);
  assert.equal(out.out, ["a line\n"]);
});

test("Progress on a terminal: waits showAfterMs, draws at most every minIntervalMs, log() keeps the line, end() clears it", () => {
  const err = fakeStream(true), out = fakeStream(true);
  let t = 0;
  const p = new Progress({ label: "replay", total: 1000, stream: err, now: () => t, showAfterMs: 500, minIntervalMs: 100 });
  for (let i = 1; i <= 40; i++) { t = i * 10; p.update(i); } // the first 400 ms: nothing
  assert.equal(err.out, []);
  for (let i = 41; i <= 1000; i++) { t = i * 10; p.update(i); } // 10 s more, an update every 10 ms
  const draws = err.out.length;
  assert.ok(draws >= 90 && draws <= 96, `about 10 draws a second over 9.6 s: ${draws}`);
  for (const w of err.out) { assert.match(w, /^\r[^\r\x1b]+\x1b\[K$/); assert.ok(w.length - 4 <= 79); }
  assert.match(err.out.at(-1)!, /^\rreplay {2}1000\/1000 {2}100% \[#{20}\] {2}0:10 elapsed, ETA 0:00\x1b\[K$/);
  err.out.length = 0;
  p.log("run 7 failed", out);
  assert.equal(out.out, ["run 7 failed\n"]);
  assert.is(err.out[0], "\r\x1b[K", "the line is cleared before the output");
  assert.match(err.out[1], /^\rreplay /, "and drawn again after it");
  p.end();
  assert.is(err.out.at(-1), "\r\x1b[K");
  const n = err.out.length;
  p.update(1000); p.end();
  assert.is(err.out.length, n, "nothing after end()");
});

test("top's URL: a port, HOST:PORT, a base URL or the full one; anything else is refused", () => {
  assert.is(metricsUrl(undefined), DEFAULT_URL);
  assert.is(DEFAULT_URL, "http://127.0.0.1:9464/metrics.json");
  assert.is(metricsUrl("9100"), "http://127.0.0.1:9100/metrics.json");
  assert.is(metricsUrl(":9100"), "http://127.0.0.1:9100/metrics.json");
  assert.is(metricsUrl("example.com:80"), "http://example.com/metrics.json");
  assert.is(metricsUrl("10.0.0.5:9464"), "http://10.0.0.5:9464/metrics.json");
  assert.is(metricsUrl("http://h:1"), "http://h:1/metrics.json");
  assert.is(metricsUrl("http://h:1/"), "http://h:1/metrics.json");
  assert.is(metricsUrl("http://h:1/ops/"), "http://h:1/ops/metrics.json");
  assert.is(metricsUrl("http://h:1/metrics"), "http://h:1/metrics.json");
  assert.is(metricsUrl("https://h/x/metrics.json"), "https://h/x/metrics.json");
  assert.is(metricsUrl("[::1]:9464"), "http://[::1]:9464/metrics.json");
  for (const [bad, why] of [["", /empty/], ["ftp://h/", /only http/], ["http://", /not a URL/], ["99999", /not a URL/], ["h:port", /not a URL/]] as const) {
    assert.throws(() => metricsUrl(bad), why, JSON.stringify(bad));
  }
});

/** Two documents from a real (simulated) reactor: before and after traffic, 2 s apart. */
async function twoSamples(): Promise<[MetricsDoc, MetricsDoc]> {
  const r = await simReactor();
  const l = r.listen({ port: 7000 }, { data(c, b) { c.write(b); } });
  const doc = (time: number, cpuUs: number): MetricsDoc => ({
    version: 1, time, ready: true,
    process: { pid: 42, rssBytes: 50 * 2 ** 20, cpuUserUs: cpuUs, cpuSystemUs: cpuUs / 2, uptimeS: 3725, runtime: "node" },
    reactors: [{ index: 0, host: "sim", metrics: r.metrics() }],
  });
  const a = doc(1_000_000, 1_000_000);
  const peers = Array.from({ length: 4 }, () => r.sim!.connect(l.port));
  r.runUntil(() => r.metrics().connections === 4);
  for (const p of peers) p.send(new Uint8Array(100));
  r.runUntil(() => r.metrics().bytesOut >= 400);
  peers[0].reset();
  r.runUntil(() => r.metrics().connections === 3);
  const b = doc(1_002_000, 1_300_000);
  for (const p of peers.slice(1)) p.reset();
  r.runUntil(() => r.metrics().connections === 0);
  await closeClean(r);
  return [a, b];
}

test("rates come from two samples and the server's clock; the total row sums, latencies take the worst", async () => {
  const [a, b] = await twoSamples();
  const m: MetricsSnapshot = b.reactors[0].metrics, m0 = a.reactors[0].metrics;
  const v = viewOf("http://x/metrics.json", b, a);
  const r = v.reactors[0];
  assert.is(r.conns, 3);
  assert.is(r.acceptsPerS, (m.accepts - m0.accepts) / 2);
  assert.is(r.acceptsPerS, 2, "4 accepts in 2 s");
  assert.is(r.closesPerS, 0.5, "1 close in 2 s");
  assert.is(r.readsPerS, (m.reads - m0.reads) / 2);
  assert.is(r.bytesInPerS, 200, "400 bytes in 2 s");
  assert.is(r.bytesOutPerS, 200);
  assert.is(v.cpuPct, 22.5, "0.45 s of CPU in 2 s");
  assert.is(viewOf("u", b).reactors[0].acceptsPerS, undefined, "one sample: no rate");
  assert.is(viewOf("u", a, b).reactors[0].acceptsPerS, undefined, "counters going down (a restart): no rate");
  // Two reactors: sums and worst-of.
  const two: MetricsDoc = { ...b, reactors: [b.reactors[0], { index: 1, host: "sim", metrics: { ...m, connections: 10, turnUs: { ...m.turnUs, p99: m.turnUs.p99 + 500 } } }] };
  const two0: MetricsDoc = { ...a, reactors: [a.reactors[0], { index: 1, host: "sim", metrics: m0 }] };
  const t = viewOf("u", two, two0).total;
  assert.is(t.conns, 13);
  assert.is(t.acceptsPerS, 4);
  assert.is(t.turnP99Us, m.turnUs.p99 + 500);
  assert.is(t.fdBudget, 2 * m.fdBudget);
});

test("the screen: within width − 1 columns and the height, with every reactor or a '… more' line; no escape codes", async () => {
  const [a, b] = await twoSamples();
  const many = (d: MetricsDoc, n: number): MetricsDoc => ({ ...d, reactors: Array.from({ length: n }, (_, i) => ({ ...d.reactors[0], index: i })) });
  for (const n of [1, 3, 12]) {
    const v = viewOf("http://127.0.0.1:9464/metrics.json", many(b, n), many(a, n));
    for (const [w, h] of [[80, 24], [60, 16], [132, 50], [40, 10]]) {
      for (const reach of [{ intervalMs: 1000, lastOkAgoMs: 300 }, { intervalMs: 1000, lastOkAgoMs: 12_000, error: "ECONNREFUSED" }]) {
        const lines = renderScreen(v, reach, w, h);
        assert.ok(lines.length <= h, `${n} reactors at ${w}×${h}: ${lines.length} lines`);
        for (const l of lines) { assert.ok(l.length <= w - 1, `${w} columns: ${JSON.stringify(l)}`); assert.not.match(l, ESC); }
      }
    }
    const lines = renderScreen(v, { intervalMs: 1000, lastOkAgoMs: 300 }, 80, 24);
    const rows = lines.filter((l) => /^ #\d+ /.test(l)).length;
    if (n <= 7) assert.is(rows, 2 * n, `${n} reactors: each in both tables`);
    else assert.ok(lines.some((l) => /^ {2}… \d+ more reactors/.test(l)), "12 reactors on 24 lines: the rest counted");
    assert.is(lines.filter((l) => l.startsWith(" all ")).length, 2);
  }
  const v = viewOf("http://127.0.0.1:9464/metrics.json", b, a);
  const screen = renderScreen(v, { intervalMs: 1000, lastOkAgoMs: 300 }, 80, 24);
  assert.match(screen[1], /^pid 42 node {2}up 1:02:05 {2}rss 50\.0M {2}cpu 22\.5% {2}1 reactor \(sim\)$/);
  assert.match(renderScreen({ ...v, ready: false }, { intervalMs: 1000, lastOkAgoMs: 300 }, 80, 24)[0], /^wasm-reactor top {2}127\.0\.0\.1:9464 {2}NOT READY \(draining\) +\d\d:\d\d:\d\d UTC$/);
  assert.match(plainLine({ ...v, ready: false }), /Z not-ready reactors=1 /);
  const gone = renderScreen(v, { intervalMs: 1000, lastOkAgoMs: 12_400, error: "ECONNREFUSED" }, 80, 24);
  assert.is(gone[1], "UNREACHABLE: ECONNREFUSED; last sample 12 s ago; retrying every 1 s");
  const never = renderScreen(undefined, { intervalMs: 500, error: "ECONNREFUSED" }, 80, 24, "http://127.0.0.1:1/metrics.json");
  assert.is(never[1], "UNREACHABLE: ECONNREFUSED; no sample yet; retrying every 0.5 s");
  assert.is(never.length, 24);
});

test("plain lines: exact integers, no escape codes; the unreachable line", async () => {
  const [a, b] = await twoSamples();
  const line = plainLine(viewOf("u", b, a));
  assert.not.match(line, ESC);
  assert.match(line, / ready reactors=1 conns=3 fds=\d+\/\d+ fd_hw=\d+ accepts\/s=2 closes\/s=1 msgs\/s=\d+ in_bytes\/s=200 out_bytes\/s=200 /);
  const errs = Object.entries(b.reactors[0].metrics.errorsByErrno).map(([k, n]) => `${k}:${n}`).join(",") || "none";
  // Last, the reactors' host kinds (here the simulator), after the fields scripts read before it.
  assert.ok(line.endsWith(` rss_bytes=52428800 cpu=22.5% errors=${errs} host=${b.reactors[0].host}`), line);
  assert.is(unreachableLine("http://h/metrics.json", "ECONNREFUSED", 1500, Date.UTC(2026, 0, 2, 3, 4, 5)), "2026-01-02T03:04:05Z unreachable http://h/metrics.json: ECONNREFUSED; last sample 1.5 s ago");
});

test("numbers fit six characters; fetch errors in a few words", () => {
  assert.equal([0, 999, 9999, 12_345, 123_456, 1_234_567, 12_345_678, 987_654_321, 2.5e9].map(short), ["0", "999", "9,999", "12.3k", "123k", "1.23M", "12.3M", "988M", "2.50G"]);
  assert.is(short(undefined), "-");
  assert.equal([0.5, 2.25, 9.94, 9.96, 12.4].map(short), ["0.5", "2.3", "9.9", "10", "12"], "slow rates keep a decimal");
  assert.equal([0, 1023, 1536, 50 * 2 ** 20, 3 * 2 ** 30].map(bytes), ["0B", "1023B", "1.50K", "50.0M", "3.00G"]);
  assert.is(describeFetchError(Object.assign(new TypeError("fetch failed"), { cause: { code: "ECONNREFUSED" } }), 1000), "ECONNREFUSED", "Node");
  assert.is(describeFetchError(Object.assign(new Error("Unable to connect"), { code: "ConnectionRefused" }), 1000), "ECONNREFUSED", "Bun");
  assert.is(describeFetchError(new TypeError("error sending request: Connection refused (os error 111)"), 1000), "ECONNREFUSED", "Deno");
  assert.is(describeFetchError(Object.assign(new Error("aborted"), { name: "AbortError" }), 1500), "no answer within 1500 ms");
});

test("documents that are not the agreed shape are refused with what is wrong", () => {
  const ok = { version: 1, time: 1, ready: true, process: { pid: 1 }, reactors: [{ index: 0, host: "sim", metrics: { connections: 0 } }] };
  assert.is(checkDoc(ok), ok as unknown);
  for (const [doc, why] of [[null, /not a JSON object/], [[], /not a JSON object/], [{ ...ok, version: 2 }, /version is 2; this top reads version 1/],
    [{ ...ok, time: "x" }, /numeric time/], [{ ...ok, process: {} }, /process\.pid/], [{ ...ok, ready: "yes" }, /boolean ready/],
    [{ ...ok, reactors: {} }, /reactors array/], [{ ...ok, reactors: [{ index: 0 }] }, /reactors\[0\] has no metrics/]] as const) {
    assert.throws(() => checkDoc(doc), why);
  }
});

test.run();
