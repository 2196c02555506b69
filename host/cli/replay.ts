// `wasm-reactor replay FILE`: run a recorded trace again on a fresh core and check it turn by turn.
import { openTrace, replayTrace, T_TURN } from "../trace/trace.ts";
import { Core, type Build } from "../core/core.ts";
import { Progress } from "./progress.ts";
import { metricsSnapshot } from "../core/metrics.ts";
import { fail, requireDeno, DIST_DIR } from "./common.ts";

const REPLAY_HELP = `wasm-reactor replay — run a recorded trace again on a fresh core

Usage: wasm-reactor replay FILE [options]

Replays the inputs a core saw (events, the app's commands, clock and random readings), with no
app and no network, checks the hash of what each turn produced against the recorded one, and
runs the core's invariant audit after every turn (the first broken turn is printed).
Record with Reactor.create({ record: { path } }) or \`wasm-reactor serve --record FILE\`.

Options:
  --until TURN   stop after this turn
  --dump         print the core's state (metrics, invariant check) as JSON at the end
  --force        replay even if the trace names a different core build
  --json         print the result as JSON
  -h, --help     this text

Exit status: 0 identical, 1 diverged (the first differing turn is printed), 2 the file is not a
readable trace (truncated, corrupt, another format version: the message names the byte offset).
`;

export async function replay(argv: string[]): Promise<void> {
  let file: string | undefined, until: number | undefined, dump = false, force = false, json = false;
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    if (arg === "-h" || arg === "--help") { process.stdout.write(REPLAY_HELP); process.exit(0); }
    else if (arg === "--dump") dump = true;
    else if (arg === "--force") force = true;
    else if (arg === "--json") json = true;
    else if (arg === "--until") {
      const v = Number(argv[++i]);
      if (!Number.isInteger(v) || v < 1) fail(`replay: --until must be a turn number of at least 1, got ${JSON.stringify(argv[i] ?? "nothing")}`);
      until = v;
    } else if (arg.startsWith("-")) fail(`replay: unknown option '${arg}' (see wasm-reactor replay --help)`);
    else if (file === undefined) file = arg;
    else fail(`replay: one trace file at a time (got ${file} and ${arg})`);
  }
  if (!file) fail("replay: which trace? usage: wasm-reactor replay FILE [--until TURN] [--dump]");
  requireDeno("replay", [{ name: "read", path: DIST_DIR, why: "the core" }, { name: "read", path: file, why: "the trace" }]);
  const r = await replayWithProgress(file, { untilTurn: until, force, checkInvariants: true });
  const out: Record<string, unknown> = { identical: r.identical, turns: r.turns, calls: r.calls, ms: +r.ms.toFixed(1), bytes: r.bytes, build: r.header.build, host: r.header.host, recordedAt: r.header.createdAt };
  if (r.divergence) out.divergence = r.divergence;
  if (r.broken) out.broken = r.broken;
  if (dump) out.state = { metrics: metricsSnapshot(r.core), invariants: r.core.exports.checkInvariants() };
  if (json || dump) console.log(JSON.stringify(out, null, json ? 0 : 2));
  if (!json) {
    const inv = r.broken ? `; the core's invariant ${r.broken.invariant} is broken after turn ${r.broken.turn}, as in the recorded run` : "";
    if (r.identical) console.log(`identical, ${r.turns} turns (${r.calls} core calls) in ${r.ms.toFixed(1)} ms${until ? ` (stopped at turn ${until})` : ""}${inv}`);
    else console.log(`diverged at turn ${r.divergence!.turn} (trace byte ${r.divergence!.offset}): ${r.divergence!.what}`);
  }
  process.exit(r.identical ? 0 : 1);
}


/**
 * replayFile (host/trace/replay.ts) with a progress line on a terminal: turns done of the
 * trace's turns (or of --until), with an ETA. The total is the number of the trace's last turn
 * record, counted before the replay starts (one pass over records already parsed). A replay
 * that ends within half a second draws nothing (Progress's showAfterMs).
 */
async function replayWithProgress(file: string, opts: { untilTurn?: number; force: boolean; checkInvariants: boolean }) {
  const { parsed, bytes } = await openTrace(file, { force: opts.force });
  const h = parsed.header;
  let total = 0;
  for (const rec of parsed.records) if (rec.tag === T_TURN) total++;
  if (opts.untilTurn !== undefined) total = Math.min(total, opts.untilTurn);
  const progress = new Progress({ label: "replay", total });
  const t0 = performance.now();
  let done = 0;
  try {
    const r = await replayTrace(parsed, (hooks) => Core.create(h.build as Build, h.caps as never, h.config, hooks), {
      ...opts, onTurn: progress.active ? () => progress.update(++done, { detail: "turns" }) : undefined,
    });
    return { ...r, header: h, ms: performance.now() - t0, bytes: bytes.length };
  } finally { progress.end(); }
}
