// The component build's abort (asconfig.json: `use abort=component_abort`): a failed assertion
// logs "abort: <why> in <file>(<line>:<col>)" through the component's `log` import, the line the
// shared-memory core writes to stderr through WASI, and then traps. A trap reaches the host as
// an error from the call it was in (the shared-memory core exits through WASI proc_exit instead,
// which a component has no use for).
import { decimalCount32 } from "util/number";

// @ts-ignore: decorator
@external("$root", "log")
declare function hostLog(ptr: usize, len: usize): void;

/** The line is built below the static data (memoryBase leaves 4 KiB free there). */
const LINE: usize = 16;
const LINE_END: usize = 4000;

function put(ptr: usize, s: string | null): usize {
  if (s == null) return ptr;
  // At most 900 UTF-16 units: even at 3 bytes each the line stays below LINE_END.
  const n = min(s.length, 900);
  return ptr + String.UTF8.encodeUnsafe(changetype<usize>(s), n, ptr);
}

function digits(ptr: usize, v: u32): usize {
  const n = decimalCount32(v);
  let q = ptr + n;
  do { store<u8>(--q, 0x30 + v % 10); v /= 10; } while (v);
  return ptr + n;
}

export function component_abort(message: string | null = null, fileName: string | null = null, line: u32 = 0, column: u32 = 0): void {
  let p = LINE;
  store<u64>(p, 0x203A74726F6261); p += 7; // "abort: "
  p = put(p, message);
  store<u32>(p, 0x206E6920); p += 4; // " in "
  p = put(p, fileName);
  store<u8>(p++, 0x28); // (
  p = digits(p, line);
  store<u8>(p++, 0x3A); // :
  p = digits(p, column);
  store<u8>(p++, 0x29); // )
  assert(p <= LINE_END);
  hostLog(LINE, p - LINE);
  unreachable();
}
