// `wasm-reactor fuzz`: swarm-fuzz the core on the simulated network; shrink and record what fails.
import { fail, fmt } from "./common.ts";

const FUZZ_HELP = `wasm-reactor fuzz — swarm-fuzz the core on the simulated network

Usage: wasm-reactor fuzz [options]

Each run draws its own scenario (connections, arrival bursts, message sizes, slow readers,
half-closes, resets, aborts, descriptor limits low enough for EMFILE storms, pool pressure, clock
jumps) and its own fault odds, checks every invariant after every turn, and checks liveness and
leaks at the end. A failure is shrunk (fast-check) to a small scenario, recorded as a trace, and
the command that replays it is printed.

Options:
  --seed S       the generator's seed (default: from the clock; printed)
  --seeds N      how many scenarios (default 100)
  --minutes M    stop after M minutes even if scenarios remain
  --build NAME   debug (default), release, or broken (the deliberately broken core, to see the
                 fuzzer catch a double release)
  --out DIR      where failing traces go (default: the current directory)
  --scenario F   run one saved scenario (F.json, as a failure saves it) instead of drawing
  --record F     with --scenario: record that run's trace to F
  --json         print the report as JSON
  -h, --help     this text

Exit status: 0 when every scenario passed, 1 when one failed (with its shrunk trace saved).
`;

export async function fuzzCommand(argv: string[]): Promise<void> {
  let seed = Date.now() % 1_000_000, runs = 100, minutes = 0, build: "debug" | "release" | "broken" = "debug", out = ".", json = false;
  let scenarioFile: string | undefined, recordFile: string | undefined;
  const num = (i: number, min: number, what: string) => {
    const v = Number(argv[i]);
    if (argv[i] === undefined || !Number.isInteger(v) || v < min) fail(`fuzz: ${argv[i - 1]} must be an integer of at least ${min} (${what}), got ${JSON.stringify(argv[i] ?? "nothing")}`);
    return v;
  };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    if (arg === "-h" || arg === "--help") { process.stdout.write(FUZZ_HELP); process.exit(0); }
    else if (arg === "--seed") seed = num(++i, 0, "a seed");
    else if (arg === "--seeds") runs = num(++i, 1, "scenarios");
    else if (arg === "--minutes") minutes = num(++i, 1, "minutes");
    else if (arg === "--json") json = true;
    else if (arg === "--out") out = argv[++i] ?? fail("fuzz: --out needs a directory");
    else if (arg === "--scenario") scenarioFile = argv[++i] ?? fail("fuzz: --scenario needs a file (a scenario JSON the fuzzer saved)");
    else if (arg === "--record") recordFile = argv[++i] ?? fail("fuzz: --record needs a file name");
    else if (arg === "--build") {
      const b = argv[++i];
      if (b !== "debug" && b !== "release" && b !== "broken") fail(`fuzz: --build must be debug, release or broken, got ${JSON.stringify(b ?? "nothing")}`);
      build = b;
    } else fail(`fuzz: unknown option '${arg}' (see wasm-reactor fuzz --help)`);
  }
  if (scenarioFile) {
    // One saved scenario, again (optionally recorded): how a failure is reproduced and how the
    // regression traces under tests/traces/ are made.
    const { readFileSync } = await import("node:fs");
    let sc;
    try { sc = JSON.parse(readFileSync(scenarioFile, "utf8")); }
    catch (err) { fail(`fuzz: cannot read the scenario ${scenarioFile}: ${(err as Error).message}`); }
    const { runScenario } = await import("../fuzz/fuzz.ts");
    const res = await runScenario(sc, { build, record: recordFile });
    if (json) console.log(JSON.stringify(res));
    else console.log(res.ok ? `passed: ${fmt(res.turns)} turns, ${fmt(res.accepts ?? 0)} connections, ${fmt(res.faults ?? 0)} faults${recordFile ? `; trace: ${recordFile}` : ""}` : `FAILED: ${res.failure}${recordFile ? `; trace: ${recordFile}` : ""}`);
    process.exit(res.ok ? 0 : 1);
  }
  if (!json) console.log(`wasm-reactor fuzz: ${runs} scenarios from seed ${seed} on the ${build} core (reproduce: wasm-reactor fuzz --seed ${seed} --seeds ${runs}${build !== "debug" ? ` --build ${build}` : ""})`);
  const { fuzz, runScenario } = await import("../fuzz/fuzz.ts");
  let done = 0;
  const rep = await fuzz({ seed, runs, build, timeLimitMs: minutes ? minutes * 60_000 : undefined,
    onRun: () => { if (!json && ++done % 25 === 0) console.log(`  ${done} runs (shrinking included)`); } });
  const result: Record<string, unknown> = { seed, build, scenarios: rep.runs, failed: rep.failed, turns: rep.turns, accepts: rep.accepts, connects: rep.connects, bytesIn: rep.bytesIn, faults: rep.faults, seconds: +(rep.ms / 1000).toFixed(1), turnsPerSecond: Math.round(rep.turns / (rep.ms / 1000)) };
  if (rep.failed && rep.counterexample) {
    const { mkdirSync, writeFileSync, statSync } = await import("node:fs");
    mkdirSync(out, { recursive: true });
    const base = `${out.replace(/\/$/, "")}/fuzz-${seed}-${build}`;
    writeFileSync(`${base}.json`, JSON.stringify(rep.counterexample, null, 2) + "\n");
    const again = await runScenario(rep.counterexample, { build, record: `${base}.trace` });
    if (rep.original) { // the failure as first found, before shrinking: kept beside the shrunk one
      writeFileSync(`${base}-original.json`, JSON.stringify(rep.original, null, 2) + "\n");
      await runScenario(rep.original, { build, record: `${base}-original.trace` });
    }
    Object.assign(result, { failure: rep.failure, shrinks: rep.shrinks, scenario: rep.counterexample, trace: `${base}.trace`, traceBytes: statSync(`${base}.trace`).size, traceTurns: again.turns });
    if (!json) {
      console.log(`FAILED: ${rep.failure}`);
      console.log(`shrunk ${rep.shrinks} times to: ${JSON.stringify(rep.counterexample)}`);
      console.log(`trace: ${base}.trace (${statSync(`${base}.trace`).size} bytes, ${again.turns} turns); scenario: ${base}.json`);
      if (rep.original) console.log(`before shrinking: ${base}-original.trace (${statSync(`${base}-original.trace`).size} bytes, ${rep.original.conns} connections)`);
      console.log(`replay it: wasm-reactor replay ${base}.trace`);
    }
  } else if (!json) console.log(`passed: ${rep.runs} scenarios, ${fmt(rep.turns)} turns in ${(rep.ms / 1000).toFixed(1)} s (${fmt(rep.turns / (rep.ms / 1000))} turns/s); ${fmt(rep.accepts)} connections accepted and ${fmt(rep.connects)} made, ${fmt(rep.bytesIn)} bytes read, ${fmt(rep.faults)} faults injected`);
  if (json) console.log(JSON.stringify(result));
  process.exit(rep.failed ? 1 : 0);
}

