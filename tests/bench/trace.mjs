// Record, replay and fuzz: what tracing costs a live server, how fast a trace replays, and how
// many simulated turns the fuzzer checks per second.
//
// How it works:
//   1. Recording overhead: `node dist/cli.js serve` pinned to CPU 0, build/bench/loadgen (built
//      by net.mjs; built here too if missing) on CPU 1, 64-byte ping-pong at 1,000 connections.
//      Rounds alternate plain and `--record FILE`; msgs/s medians, ratio recording ÷ plain
//      (target ≥ 0.9: at most 10% fewer messages). The last recorded trace is kept for step 2.
//   2. Replay speed: that trace through `replayFile()` (a fresh core, no app, no network, the
//      invariant audit after every turn off): turns/s and replay time ÷ the recorded run's wall time.
//   3. Fuzz throughput: `fuzz()` on the debug core, a fixed seed: simulated turns checked per
//      second (every invariant audited after every turn).
import { spawn, execFileSync } from "node:child_process";
import { existsSync, mkdtempSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { runBench, figure, median, sleep, root } from "./lib.mjs";

const ROOT = fileURLToPath(root);
const LOADGEN = join(ROOT, "build/bench/loadgen");

function ensureLoadgen() {
  const src = join(ROOT, "tests/bench/loadgen.c");
  if (!existsSync(LOADGEN) || statSync(src).mtimeMs > statSync(LOADGEN).mtimeMs) {
    execFileSync("cc", ["-O2", "-o", LOADGEN, src], { stdio: "inherit" });
  }
}

/** Starts serve pinned to CPU 0; resolves with { child, port } once it listens. */
function startServe(extra) {
  return new Promise((resolve, reject) => {
    const child = spawn("taskset", ["-c", "0", process.execPath, join(ROOT, "dist/cli.js"), "serve", "--port", "0", "--status-ms", "0", ...extra], { stdio: ["ignore", "pipe", "pipe"] });
    let out = "";
    const timer = setTimeout(() => { child.kill("SIGKILL"); reject(new Error(`serve did not start: ${out}`)); }, 15_000);
    child.stdout.on("data", (b) => {
      out += b;
      const m = /listening on [\d.]+:(\d+)/.exec(out);
      if (m) { clearTimeout(timer); resolve({ child, port: Number(m[1]), t0: performance.now() }); }
    });
    child.stderr.on("data", (b) => { out += b; });
  });
}

function loadgen(port, conns, seconds) {
  const out = execFileSync("taskset", ["-c", "1", LOADGEN, "--host", "127.0.0.1", "--port", String(port), "--mode", "pingpong", "--conns", String(conns), "--seconds", String(seconds), "--warmup-ms", "500"], { encoding: "utf8", timeout: (seconds + 30) * 1000 });
  return JSON.parse(out.trim().split("\n").pop());
}

async function stop(child) {
  const done = new Promise((r) => child.on("exit", r));
  child.kill("SIGTERM");
  const t = setTimeout(() => child.kill("SIGKILL"), 5_000);
  await done;
  clearTimeout(t);
}

runBench("trace", async (ctx) => {
  const { replayFile } = await import(new URL("dist/index.js", root).href);
  const figures = [];
  const notes = [];
  const dir = mkdtempSync(join(tmpdir(), "wr-bench-trace-"));
  try {
    // 1. Recording overhead on the epoll echo server.
    ensureLoadgen();
    const conns = 1000, seconds = ctx.quick ? 2 : 4;
    const plain = [], rec = [];
    let lastTrace, lastWallMs = 0, lastBytes = 0;
    for (let round = 0; round < ctx.rounds; round++) {
      for (const recording of round % 2 ? [true, false] : [false, true]) {
        const path = join(dir, `serve-${round}.trace`);
        const s = await startServe(recording ? ["--record", path] : []);
        const r = loadgen(s.port, conns, seconds);
        await stop(s.child);
        (recording ? rec : plain).push(r.msgsPerS);
        if (recording) { lastTrace = path; lastWallMs = performance.now() - s.t0; lastBytes = statSync(path).size; }
        ctx.log?.(`trace: ${recording ? "recording" : "plain"} ${Math.round(r.msgsPerS)} msgs/s`);
        await sleep(200);
      }
    }
    figures.push(figure({ id: "trace.record.1k", title: "echo msgs/s while recording, 1k conns", unit: "msgs/s",
      ours: { name: "recording", value: median(rec), samples: rec }, baseline: { name: "not recording", value: median(plain), samples: plain },
      target: { ratioMin: 0.9 }, note: "serve --record on epoll; loadgen ping-pong 64 B" }));
    // 2. Replay speed of the last recorded trace.
    const t0 = performance.now();
    const res = await replayFile(lastTrace, { checkInvariants: false });
    const ms = performance.now() - t0;
    if (!res.identical) throw new Error(`the recorded serve trace did not replay identically: ${JSON.stringify(res.divergence)}`);
    figures.push(figure({ id: "trace.replay.turns", title: "replay speed (serve trace, 1k conns)", unit: "turns/s", ours: { name: "replay", value: res.turns / (ms / 1000) } }));
    figures.push(figure({ id: "trace.replay.ratio", title: "replay time ÷ recorded wall time", unit: "x", better: "lower", ours: { name: "replay", value: ms / lastWallMs } }));
    notes.push(`replayed ${res.turns.toLocaleString("en-US")} turns (${res.calls.toLocaleString("en-US")} core calls) of a ${(lastBytes / 1e6).toFixed(1)} MB trace in ${ms.toFixed(0)} ms; the recorded run took ${(lastWallMs / 1000).toFixed(1)} s (serve start to stop)`);
    // 3. Fuzz throughput.
    const { fuzz } = await import(new URL("dist/fuzz.js", root).href);
    {
      const rep = await fuzz({ seed: 7, runs: ctx.quick ? 30 : 200 });
      if (rep.failed) throw new Error(`fuzz seed 7 failed: ${rep.failure}`);
      figures.push(figure({ id: "trace.fuzz", title: "fuzz: simulated turns checked per second", unit: "turns/s", ours: { name: "debug core", value: rep.turns / (rep.ms / 1000) } }));
      notes.push(`fuzz: ${rep.runs} scenarios, ${rep.turns.toLocaleString("en-US")} turns, ${rep.accepts.toLocaleString("en-US")} connections, ${rep.faults.toLocaleString("en-US")} faults in ${(rep.ms / 1000).toFixed(1)} s (every invariant audited after every turn)`);
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  return { figures, notes, params: { rounds: ctx.rounds, quick: ctx.quick } };
});
