// The component build's stand-in for the WASI module the core imports (assembly/clock.ts):
// the same three names, answered by the component's own imports (core.wit), not by WASI. The
// host decides what time and randomness are, as the shared-memory host does through WASI, so a
// replay feeds both from the trace. Only what the core uses is here.
// @ts-ignore: decorator
@external("$root", "clock-ns")
declare function hostClockNs(): u64;
// @ts-ignore: decorator
@external("$root", "random-bytes")
declare function hostRandomBytes(len: u32, ret: usize): void;

export type clockid = u32;
export type errno = u16;
export type timestamp = u64;

export namespace clockid {
  // @ts-ignore: decorator
  @inline export const REALTIME: clockid = 0;
  // @ts-ignore: decorator
  @inline export const MONOTONIC: clockid = 1;
}

/** The list random-bytes returns: (ptr, len), written by the canonical ABI. */
const ret = memory.data(8);

/** The host's monotonic clock (whatever `clock` asks for: the core asks only for MONOTONIC). */
export function clock_time_get(clock: clockid, precision: timestamp, time: usize): errno {
  store<u64>(time, hostClockNs());
  return 0;
}

/**
 * `len` bytes from the host's random source. The host writes the list through the component's
 * cabi_realloc (into the arena, assembly/component/index.ts), where it stays until the call ends.
 */
export function random_get(buf: usize, len: usize): errno {
  hostRandomBytes(<u32>len, ret);
  const p = load<u32>(ret), n = load<u32>(ret, 4);
  assert(n == <u32>len, "random-bytes returned another length than asked");
  memory.copy(buf, p, n);
  return 0;
}
