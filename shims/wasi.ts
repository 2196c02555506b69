// The WASI shim: besides its memory the core imports only wasi_snapshot_preview1 functions:
// clock_time_get and random_get, plus fd_write and proc_exit in builds that keep assertions
// (a failed check prints its message and exits). We use
// wasi-js for them, with our own bindings: the clock is whatever the host says time is (the
// real monotonic clock, the simulator's virtual clock, or a recorded one for replay), random is
// the host's (seeded in the simulator), and the core's log lines go to the host's logger.
// wasi-js is pinned to 1.7.2 (1.7.3's preinstall runs `npx only-allow pnpm`; see docs/libraries.md).
import * as wasiJs from "wasi-js/dist/wasi.js";
import { ReactorError } from "../host/errors.ts";
const WASI: any = (wasiJs as any).default?.default ?? (wasiJs as any).default ?? wasiJs;

export interface WasiHooks {
  /** Monotonic time in nanoseconds. */
  clockNs(): bigint;
  /** Fills `view` with random bytes. */
  random(view: Uint8Array): void;
  /** A line the core logged (stderr/stdout). */
  log(line: string): void;
}

export interface WasiShim {
  readonly imports: WebAssembly.ModuleImports;
  /** Must be called once the instance exists (wasi-js reads the instance's memory). */
  attach(memory: WebAssembly.Memory): void;
}

const decoder = new TextDecoder();

/**
 * The core stopped itself: AssemblyScript's abort (a failed assertion) ends in proc_exit, which
 * this shim turns into an exception. Code ERR_CORE_ASSERTION, so callers decide by the code (a
 * trap inside the core is a WebAssembly.RuntimeError instead; see isCoreFailure).
 */
export class CoreExitError extends ReactorError {
  readonly exitCode: number | undefined;
  constructor(message: string, exitCode?: number) {
    super("ERR_CORE_ASSERTION", message);
    this.name = "CoreExitError";
    this.exitCode = exitCode;
  }
}

/** Whether err says the core itself failed (a trap, or its exit): its memory may be mid-update. */
export function isCoreFailure(err: unknown): boolean {
  return err instanceof WebAssembly.RuntimeError || (err instanceof ReactorError && err.code === "ERR_CORE_ASSERTION");
}

export function createWasi(hooks: WasiHooks): WasiShim {
  // A failed assertion logs "abort: <why> in <file>(<line>:<col>)" and exits: the error carries that line.
  let lastAbort = "";
  const exit = (code: number) => {
    throw new CoreExitError(`wasm-reactor: the core exited with code ${code} (an assertion failed${lastAbort ? `: ${lastAbort}` : "; see the line above"})`, code);
  };
  let pending = "";
  const out = (buf: Uint8Array) => {
    // The core may write a line in pieces; split on newlines. Copy first: the view is shared.
    pending += decoder.decode(buf.slice());
    let nl: number;
    while ((nl = pending.indexOf("\n")) >= 0) {
      const line = pending.slice(0, nl);
      if (line.startsWith("abort: ")) lastAbort = line;
      hooks.log(line);
      pending = pending.slice(nl + 1);
    }
  };
  const wasi = new WASI({
    args: [],
    env: {},
    bindings: {
      hrtime: () => hooks.clockNs(),
      randomFillSync: (buf: Uint8Array, offset: number, size: number) => {
        const tmp = new Uint8Array(size);
        hooks.random(tmp);
        buf.set(tmp, offset);
        return buf;
      },
      exit,
      kill: (signal: string) => { throw new CoreExitError(`wasm-reactor: the core raised ${signal}`); },
      isTTY: () => false,
      fs: {},
      path: {},
    },
    sendStdout: out,
    sendStderr: out,
  });
  const imp = wasi.wasiImport as Record<string, Function>;
  // proc_exit is how AssemblyScript's abort ends: surface the assertion as an exception.
  const imports = {
    clock_time_get: imp.clock_time_get,
    random_get: imp.random_get,
    fd_write: imp.fd_write,
    proc_exit: (code: number) => exit(code),
  };
  return {
    imports,
    attach(memory: WebAssembly.Memory) {
      // The memory never grows (sized once at init), so wasi-js's cached DataView stays valid.
      wasi.setMemory(memory);
    },
  };
}
