// The wasm-reactor command line: one file per command (serve.ts, replay.ts, fuzz.ts), this one
// only dispatches. `npm start` runs `wasm-reactor serve`. The same bundle (dist/cli.js) is the
// entry point of serve's worker threads: there startWorkers' own guard (host/reactor/worker.ts)
// runs and imports serveSetup from this bundle, and main() does not run.
import { ReactorError } from "../errors.ts";
import { isMainThread } from "node:worker_threads";
import { fail } from "./common.ts";
import { serve } from "./serve.ts";

const HELP = `wasm-reactor — massive numbers of sockets from one WebAssembly core

Usage: wasm-reactor <command> [options]

Commands:
  serve     run the echo server (what \`npm start\` runs)
  replay    run a recorded trace again and check it turn by turn
  fuzz      swarm-fuzz the core (simulated network or real sockets); shrink and record what fails
  doctor    read this machine's limits and kernel knobs, judge them against a forecast, print fixes
  top       a live view of a running server's metrics (serve --metrics-port), or plain lines in a pipe
  help      show this text; \`wasm-reactor serve --help\` shows serve's options
`;

async function main(): Promise<void> {
  const [cmd, ...rest] = process.argv.slice(2);
  switch (cmd) {
    case "serve": return serve(rest);
    // Loaded when asked for (separate chunks, tools/build.mjs): a server and each of its
    // workers then parse 0.2 MB of JS rather than 0.65 MB (fast-check alone is 0.37 MB).
    case "replay": return (await import("./replay.ts")).replay(rest);
    case "fuzz": return (await import("./fuzz.ts")).fuzzCommand(rest);
    case "doctor": return (await import("./doctor.ts")).doctor(rest);
    case "top": return (await import("./top.ts")).top(rest);
    case undefined: case "help": case "-h": case "--help": process.stdout.write(HELP); return;
    default: fail(`unknown command '${cmd}' (commands: serve, replay, fuzz, doctor, top, help)`);
  }
}

if (isMainThread) main().catch((err) => {
  if (err instanceof ReactorError) fail(err.message.replace(/^wasm-reactor: /, ""));
  console.error(err);
  process.exit(1);
});

/** What serve's workers import from this bundle (startWorkers' module is dist/cli.js itself). */
export { serveSetup } from "./serve.ts";

