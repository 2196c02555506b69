// The core's clock: WASI clock_time_get(MONOTONIC), so the host decides what time is (the
// real clock, the simulator's virtual clock, or a recorded one for replay). Core time is
// milliseconds since init, as u64.

import { clock_time_get, random_get, clockid } from "bindings/wasi_snapshot_preview1";

const scratch = memory.data(64);
let epochNs: u64 = 0;

export function clockNs(): u64 {
  const err = clock_time_get(clockid.MONOTONIC, 1000, scratch);
  assert(err == 0, "clock_time_get failed");
  return load<u64>(scratch);
}

export function clockInit(): void { epochNs = clockNs(); }

/** Milliseconds since init. A clock that goes backwards reads as no time passing. */
let lastMs: u64 = 0;
export function nowMs(): u64 { return msAt(clockNs()); }

/** Core ms for a clock reading already taken (one WASI call serves the turn's timing and its time). */
export function msAt(ns: u64): u64 {
  const ms = ns > epochNs ? (ns - epochNs) / 1_000_000 : 0;
  if (ms > lastMs) lastMs = ms;
  return lastMs;
}

export function clockReset(): void { lastMs = 0; }

export function random32(): u32 {
  random_get(scratch, 4);
  return load<u32>(scratch);
}
