// The wasm-reactor command line: one file per command (serve.ts, replay.ts, fuzz.ts), this one
// only dispatches. `npm start` runs `wasm-reactor serve`. The same bundle (dist/cli.js) is the
// entry point of serve's worker threads, which the branch at the bottom starts.
import { ReactorError } from "../errors.ts";
import { isMainThread, workerData } from "node:worker_threads";
import { fail } from "./common.ts";
import { serve, serveWorker, type ServeArgs } from "./serve.ts";
import { replay } from "./replay.ts";
import { fuzzCommand } from "./fuzz.ts";

const HELP = `wasm-reactor — massive numbers of sockets from one WebAssembly core

Usage: wasm-reactor <command> [options]

Commands:
  serve     run the echo server (what \`npm start\` runs)
  replay    run a recorded trace again and check it turn by turn
  fuzz      swarm-fuzz the core (simulated network or real sockets); shrink and record what fails
  help      show this text; \`wasm-reactor serve --help\` shows serve's options
`;

async function main(): Promise<void> {
  const [cmd, ...rest] = process.argv.slice(2);
  switch (cmd) {
    case "serve": return serve(rest);
    case "replay": return replay(rest);
    case "fuzz": return fuzzCommand(rest);
    case undefined: case "help": case "-h": case "--help": process.stdout.write(HELP); return;
    default: fail(`unknown command '${cmd}' (commands: serve, replay, fuzz, help)`);
  }
}

if (isMainThread) main().catch((err) => {
  if (err instanceof ReactorError) fail(err.message.replace(/^wasm-reactor: /, ""));
  console.error(err);
  process.exit(1);
});
else if ((workerData as { serve?: ServeArgs })?.serve) {
  const wd = workerData as { serve: ServeArgs; share?: { fdLimit?: number; reusePort?: boolean; index?: number } };
  void serveWorker(wd.serve, wd.share ?? {});
}

