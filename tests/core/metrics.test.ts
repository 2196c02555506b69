// The latency/size histograms' bucket function (assembly/metrics.ts histIndex, via
// t_histIndex): log-linear, 8 linear sub-buckets per power of two. Checked: monotonic, every
// value within 12.5% above its bucket's lower bound, and 0 .. 2^32-1 onto exactly
// K.HIST_BUCKETS (240) buckets, each of them used.
import { suite } from "uvu";
import * as assert from "uvu/assert";
import fc from "fast-check";
import { makeCore, K, type TestCore } from "../helpers/core.ts";
import { checkProperty } from "../helpers/prop.ts";

const MAX = 0xffffffff;
let t: TestCore;
const idx = (v: number): number => t.e.t_histIndex(v) >>> 0;

/** The smallest v with idx(v) >= k, by binary search over the core's function. */
function lowerBound(k: number): number {
  let lo = 0, hi = MAX + 1; // idx(hi) is taken as +infinity
  while (lo < hi) { const mid = Math.floor((lo + hi) / 2); if (idx(mid) >= k) hi = mid; else lo = mid + 1; }
  return lo;
}

const hist = suite("metrics: histIndex");
hist.before(async () => { t = await makeCore(); });

hist("exact below 8, then 8 sub-buckets per power of two", () => {
  for (let v = 0; v < 8; v++) assert.is(idx(v), v);
  assert.is(idx(8), 8); assert.is(idx(9), 9); assert.is(idx(15), 15);
  assert.is(idx(16), 16); assert.is(idx(17), 16); assert.is(idx(18), 17);
  assert.is(idx(2 ** 31), 232); assert.is(idx(MAX), 239);
});

hist("monotonic over every value below 2^17 and across every bucket boundary", () => {
  let prev = idx(0);
  for (let v = 1; v < 1 << 17; v++) { const i = idx(v); assert.ok(i >= prev, `idx(${v})`); prev = i; }
  for (let k = 1; k < K.HIST_BUCKETS; k++) {
    const b = lowerBound(k);
    assert.is(idx(b - 1), k - 1, `just below bucket ${k}`);
    assert.is(idx(b), k, `bucket ${k} starts at ${b}`);
  }
});

hist("0 .. 2^32-1 covers exactly HIST_BUCKETS buckets, each used", () => {
  assert.is(K.HIST_BUCKETS, 240);
  assert.is(idx(0), 0);
  assert.is(idx(MAX), K.HIST_BUCKETS - 1);
  const bounds = Array.from({ length: K.HIST_BUCKETS }, (_, k) => lowerBound(k));
  for (let k = 1; k < bounds.length; k++) assert.ok(bounds[k] > bounds[k - 1], `bucket ${k} is not empty`);
  assert.ok(bounds[K.HIST_BUCKETS - 1] <= MAX);
});

hist("random values: monotonic pairs, within 12.5% of the bucket's lower bound (property)", () => checkProperty("core/metrics", "histIndex",
  fc.property(fc.oneof(fc.nat({ max: MAX }), fc.integer({ min: 0, max: 31 }).chain((e) => fc.integer({ min: 2 ** e, max: Math.min(MAX, 2 ** (e + 1) - 1) }))),
    fc.nat({ max: MAX }), (a, b) => {
      const [lo, hi] = a <= b ? [a, b] : [b, a];
      assert.ok(idx(lo) <= idx(hi), `idx(${lo}) <= idx(${hi})`);
      const k = idx(a);
      assert.ok(k < K.HIST_BUCKETS);
      const lower = lowerBound(k);
      assert.ok(lower <= a, `bucket ${k} starts at ${lower} <= ${a}`);
      assert.ok(a - lower <= lower * 0.125, `${a} is ${(((a - lower) / Math.max(lower, 1)) * 100).toFixed(2)}% above ${lower}`);
      if (a < MAX) assert.ok(idx(a + 1) - k <= 1, "no bucket is skipped");
    }), 2000));
hist.run();
