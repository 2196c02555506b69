// Property tests: one seed per process, printed with the command that replays it.
//
// `npm test` is a gate, so it runs a fixed seed: the same cases every time, on every runtime.
// Fresh seeds are for hunting (`npm run fuzz` runs the property suites with FC_SEED=fresh).
//
//   FC_SEED=<n>   use this seed (every property in the process uses it; each is deterministic)
//   FC_SEED=fresh draw a new seed (printed, with the command that replays it)
//   FC_PATH=<p>   with FC_SEED: replay only the counterexample fast-check reported (its "path")
//   FC_RUNS=<n>   runs per property instead of the suite's default (e.g. 5000 for a long soak)
import fc from "fast-check";

const env: Record<string, string | undefined> = (globalThis as any).process?.env ?? {};

export const runtime: string =
  typeof (globalThis as any).Deno !== "undefined" ? "deno" : typeof (globalThis as any).Bun !== "undefined" ? "bun" : "node";

/** The gate's seed: any fixed value; changing it is a deliberate change of the cases CI runs. */
const FIXED_SEED = 20261206;

export const seed: number = env.FC_SEED === "fresh"
  ? (Date.now() ^ Math.floor(Math.random() * 0x100000000)) | 0
  : env.FC_SEED !== undefined && env.FC_SEED !== "" ? Number(env.FC_SEED) | 0 : FIXED_SEED;

/**
 * fc.assert with the process seed. `suite` is the runner's name for the suite (e.g.
 * "core/wheel") so the printed command replays exactly this file on this runtime.
 */
export async function checkProperty<T>(
  suite: string, name: string, property: fc.IAsyncProperty<T> | fc.IProperty<T>, numRuns: number,
): Promise<void> {
  const runs = env.FC_RUNS ? Number(env.FC_RUNS) : numRuns;
  const replay = `FC_SEED=${seed} node tests/run.mjs --runtime ${runtime} ${suite}`;
  console.log(`[fc] ${suite} "${name}": seed=${seed} runs=${runs}; replay: ${replay}`);
  const path = env.FC_PATH || undefined;
  try {
    await fc.assert(property as fc.IAsyncProperty<T>, { seed, numRuns: runs, path, endOnFailure: path !== undefined, includeErrorInReport: true });
  } catch (err) {
    // fast-check's message names the seed and the shrunk path; add the exact replay command.
    (err as Error).message += `\n    replay: ${replay}  (add FC_PATH=<path above> for the shrunk case only)`;
    throw err;
  }
}
