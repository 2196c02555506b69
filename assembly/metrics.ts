// Metrics live in a fixed region (layout.ts: Metrics, then errno counters, then histograms)
// that the host reads without calling in. Counters are f64 (exact to 2^53); histograms are
// log-linear: 8 linear sub-buckets per power of two, so any value is within 12.5% of its
// bucket's lower bound, 240 u32 buckets cover 0 .. 2^32.

import { header, metrics, ERRNO_OFFSET, ERRNO_SLOTS, HIST_OFFSET, HIST_BUCKETS } from "./layout";

// @ts-ignore: decorator
@inline export function histIndex(v: u32): u32 {
  if (v < 8) return v;
  const e: u32 = 31 - clz<u32>(v); // >= 3
  return ((e - 2) << 3) | ((v >> (e - 3)) & 7);
}

export function histRecord(hist: u32, v: u32): void {
  const p = header().metricsOff + HIST_OFFSET + (hist * HIST_BUCKETS + histIndex(v)) * 4;
  store<u32>(p, load<u32>(p) + 1);
}

export function countErrno(err: u32): void {
  const p = header().metricsOff + ERRNO_OFFSET + (err < ERRNO_SLOTS ? err : 0) * 8;
  store<f64>(p, load<f64>(p) + 1);
}

export function metricsInit(): void {
  const h = header();
  memory.fill(h.metricsOff, 0, h.eventsOff - h.metricsOff);
  metrics().fdBudget = 0;
}
