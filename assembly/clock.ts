// The core's clock: WASI clock_time_get(MONOTONIC), so the host decides what time is (the
// real clock, the simulator's virtual clock, or a recorded one for replay). Core time is
// milliseconds since init, as u64.

import { clock_time_get, random_get, fd_write, clockid } from "bindings/wasi_snapshot_preview1";

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
export function nowMs(): u64 {
  const ns = clockNs();
  const ms = ns > epochNs ? (ns - epochNs) / 1_000_000 : 0;
  if (ms > lastMs) lastMs = ms;
  return lastMs;
}

export function clockReset(): void { lastMs = 0; }

export function random32(): u32 {
  random_get(scratch, 4);
  return load<u32>(scratch);
}

const logBuf = memory.data(256);
/** Logs "wasm-reactor core: <msg> <value>\n" to stderr without allocating. */
export function log(msg: string, value: i64): void {
  let p: usize = logBuf;
  const prefix = "wasm-reactor core: ";
  for (let i = 0; i < prefix.length; i++) store<u8>(p++, <u8>prefix.charCodeAt(i));
  for (let i = 0; i < msg.length && i < 160; i++) store<u8>(p++, <u8>msg.charCodeAt(i));
  store<u8>(p++, 0x20);
  let v = value;
  if (v < 0) { store<u8>(p++, 0x2d); v = -v; }
  const digits = memory.data(24);
  let n = 0;
  do { store<u8>(digits + n++, <u8>(0x30 + <i32>(v % 10))); v /= 10; } while (v > 0);
  while (n > 0) store<u8>(p++, load<u8>(digits + --n));
  store<u8>(p++, 0x0a);
  store<usize>(scratch, logBuf);
  store<usize>(scratch + 4, p - logBuf);
  fd_write(2, scratch, 1, scratch + 8);
}
