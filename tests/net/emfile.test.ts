// Running out of descriptors, for real: the suite starts a child of the same runtime under
// `prlimit --nofile=128:128` (the same bundle; the environment variable below makes it the
// child), which serves echo on an epoll or an io_uring reactor and answers commands on stdin with
// JSON lines on stdout. The parent opens 200 connections to it from a thread-mode reactor.
// Every variant runs on both hosts: on io_uring the listener's poll leads to the same accept4
// path as epoll's, so at EMFILE the core backs off and re-arms it, and it must not spin either (its turns
// and its CPU time over one second at the limit are bounded, as epoll's are).
//
//   fdLimit 1000     the core believes it has 1000 descriptors, so the kernel's EMFILE comes
//                    first: the listener must back off (not spin), keep serving what it has,
//                    and accept again once descriptors are free.
//   + shedOnEmfile   the shim keeps a spare descriptor and, on EMFILE, accepts and resets one
//                    pending client instead of leaving it in the queue.
//   real budget      no override: the core's own budget (RLIMIT_NOFILE − fdReserve) stops
//                    accepting before the kernel ever says EMFILE.
import { suite } from "uvu";
import * as assert from "uvu/assert";
import process from "node:process";
import { spawn, type ChildProcess } from "node:child_process";
import { fileURLToPath } from "node:url";
import { existsSync, readFileSync, readdirSync } from "node:fs";
import { Reactor, type Connection, type Handlers } from "../../host/index.ts";
import { netReactor, until, closeClean, abandonAll, sleep, selfCommand, runtimeName } from "../helpers/net.ts";
import { skip } from "../helpers/skip.ts";
import { unavailable } from "../helpers/contract.ts";
import { onJsonLines, onLines } from "../helpers/lines.ts";
import type { Readable } from "node:stream";

const CHILD_ENV = "WASM_REACTOR_EMFILE_CHILD";
const LIMIT = 128;
const CLIENTS = 200;

interface ChildConfig { fdLimit?: number; shed?: boolean; host?: "epoll" | "uring" }
interface ChildStats {
  accepts: number; acceptErrors: number; acceptBackoffs: number; admissionPauses: number;
  connections: number; fdsOpen: number; fdBudget: number; errorsByErrno: Record<string, number>;
  host: { accepts: number; acceptEmfile: number; acceptShed: number; fdsOpen: number; calls: number; turns: number; starved: number; uringEnobufs: number; uringBuffers: number; wakeups: number; asyncWaits: number; [k: string]: number };
  pool: { free: number; queued: number; lent: number; writing: number };
  listenerErrors: Record<string, number>; threw: string[]; log: string[];
  /** the process's open descriptors (/proc/self/fd), or the error code listing them failed with */
  procFds: number | string;
}

// ── the child ───────────────────────────────────────────────────────────────────────────
async function child(cfg: ChildConfig): Promise<void> {
  // Deno sets up its signal handling lazily, a few hundred ms after start, and panics
  // ("Too many open files" in ext/signals) if the process is out of descriptors by then:
  // registering a listener now sets it up while descriptors are free. (Its update check, which
  // loads certificates, is off through DENO_NO_UPDATE_CHECK in our environment.)
  if (runtimeName() === "deno") process.on("SIGTERM", () => process.exit(143));
  const out = (o: unknown, then?: () => void) => process.stdout.write(JSON.stringify(o) + "\n", then);
  const lines: string[] = [];
  const r = await Reactor.create({
    host: cfg.host ?? "epoll", wait: "thread", build: "debug", maxConnections: 1024, poolChunks: 128, chunkSize: 4096,
    acceptBackoffMs: 10, acceptBackoffMaxMs: 100, shedOnEmfile: cfg.shed === true,
    ...(cfg.fdLimit ? { fdLimit: cfg.fdLimit } : {}), log: (l) => lines.push(l),
  });
  const running = r.run();
  const listenerErrors: Record<string, number> = {};
  const l = r.listen({ port: 0 }, {
    data(c, d) { if (c.writable) c.write(d); },
    error(_c, e) { listenerErrors[e.code] = (listenerErrors[e.code] ?? 0) + 1; },
  });
  const stats = (): ChildStats => {
    const m = r.metrics(), h = m.host!;
    return {
      accepts: m.accepts, acceptErrors: m.acceptErrors, acceptBackoffs: m.acceptBackoffs, admissionPauses: m.admissionPauses,
      connections: m.connections, fdsOpen: m.fdsOpen, fdBudget: m.fdBudget, errorsByErrno: m.errorsByErrno,
      host: { accepts: h.accepts, acceptEmfile: h.acceptEmfile, acceptShed: h.acceptShed, fdsOpen: h.fdsOpen, calls: h.calls, turns: h.turns,
        starved: h.starved, uringEnobufs: h.uringEnobufs, uringBuffers: h.uringBuffers, wakeups: h.wakeups, asyncWaits: h.asyncWaits,
        waits: h.waits, events: h.events, readCalls: h.readCalls, uringSqes: h.uringSqes, uringCqes: h.uringCqes, violations: h.violations, coreTurns: m.turns },
      pool: { free: m.poolFree, queued: m.poolQueued, lent: m.poolLent, writing: m.poolWriting },
      listenerErrors, threw: lines.filter((x) => x.includes("threw")), log: lines.slice(0, 5),
      procFds: (() => { try { return readdirSync("/proc/self/fd").length; } catch (err) { return (err as { code?: string }).code ?? String(err); } })(),
    };
  };
  out({ port: l.port, stats: stats() });
  onLines(process.stdin as unknown as Readable, async (line) => {
    const cmd = line.trim();
    if (cmd === "stats") out({ stats: stats() });
    else if (cmd === "close") {
      const report = await r.close({ drainMs: 1000 });
      await running;
      const m = r.metrics();
      out({ report, stats: stats(), fdOpens: m.fdOpens, fdCloses: m.fdCloses, poolHeld: m.poolQueued + m.poolLent + m.poolWriting, invariants: r.checkInvariants() }, () => process.exit(0));
    }
  });
}

// ── the parent's side of the conversation ───────────────────────────────────────────────
class ChildServer {
  readonly proc: ChildProcess;
  port = 0;
  stderr = "";
  private waiting: ((o: Record<string, unknown>) => void)[] = [];
  private exited = false;
  readonly first: Promise<Record<string, unknown>>;

  constructor(cfg: ChildConfig) {
    const bundle = fileURLToPath(import.meta.url);
    const [cmd, args] = selfCommand(bundle);
    this.proc = spawn("prlimit", [`--nofile=${LIMIT}:${LIMIT}`, "--", cmd, ...args], {
      stdio: ["pipe", "pipe", "pipe"], env: { ...process.env, [CHILD_ENV]: JSON.stringify(cfg), DENO_NO_UPDATE_CHECK: "1" },
    });
    this.proc.stderr!.setEncoding("utf8");
    this.proc.stderr!.on("data", (d: string) => { this.stderr += d; });
    onJsonLines(this.proc.stdout!, (o) => { this.waiting.shift()?.(o); }, (line) => { this.stderr += `(stdout) ${line}\n`; });
    this.proc.on("exit", () => { this.exited = true; });
    this.first = this.next(10_000, "the child's port");
    this.first.then((o) => { this.port = o.port as number; }, () => {});
  }

  private next(ms: number, what: string): Promise<Record<string, unknown>> {
    return new Promise((resolve, reject) => {
      const t = setTimeout(() => reject(new Error(`child: no answer within ${ms} ms for ${what}; exited: ${this.exited}; stderr: ${this.stderr.slice(0, 2000)}`)), ms);
      this.waiting.push((o) => { clearTimeout(t); resolve(o); });
    });
  }

  async stats(): Promise<ChildStats> {
    const p = this.next(5_000, "stats");
    this.proc.stdin!.write("stats\n");
    return (await p).stats as ChildStats;
  }

  async close(): Promise<Record<string, unknown>> {
    const p = this.next(10_000, "close");
    this.proc.stdin!.write("close\n");
    const o = await p;
    for (let i = 0; i < 200 && !this.exited; i++) await sleep(10);
    return o;
  }

  kill(): void { if (!this.exited && this.proc.pid !== undefined) { try { process.kill(this.proc.pid, "SIGKILL"); } catch { /* gone */ } } }
}

/** The parent's clients: each sends `ping <i>` when it opens and counts what comes back. */
interface Client { i: number; text: string; echoes: number; closed?: string }
function clientHandlers(): Handlers {
  return {
    open(c) { c.write(`ping ${(c.data as Client).i};`); },
    data(c, d) {
      const cl = c.data as Client;
      cl.text += new TextDecoder().decode(d);
      cl.echoes = cl.text.split(";").length - 1;
    },
    error() { /* the close reason says it */ },
    close(c, info) { (c.data as Client).closed = info.reason; },
  };
}

/** A process's CPU time so far (user + system, s), from /proc/PID/stat (clock ticks of 1/100 s). */
function cpuSeconds(pid: number): number {
  const f = readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1].split(" ");
  return (Number(f[11]) + Number(f[12])) / 100;
}

/** Waits until `f()` has not changed for `quietMs` (bounded). */
async function settle(rs: Reactor, f: () => number, quietMs: number, what: string, maxMs = 5_000): Promise<void> {
  let last = f(), lastAt = performance.now();
  await until(rs, () => {
    const v = f();
    if (v !== last) { last = v; lastAt = performance.now(); }
    return performance.now() - lastAt >= quietMs;
  }, what, maxMs);
}

type Variant = { name: string; cfg: ChildConfig; expectEmfile: boolean };

const VARIANTS: Variant[] = [
  { name: "fdLimit 1000: EMFILE from the kernel, back-off, recovery", cfg: { fdLimit: 1000 }, expectEmfile: true },
  { name: "fdLimit 1000 + shedOnEmfile: pending clients are shed with a reset", cfg: { fdLimit: 1000, shed: true }, expectEmfile: true },
  { name: "the real budget (RLIMIT_NOFILE − fdReserve): admission stops accepting before EMFILE", cfg: {}, expectEmfile: false },
];

async function scenario(v: Variant): Promise<void> {
  const srv = new ChildServer(v.cfg);
  const host = v.cfg.host ?? "epoll";
  const r = await netReactor({ wait: "thread", maxConnections: 512, poolChunks: 256 });
  try {
    const hello = await srv.first;
    const s0 = hello.stats as ChildStats;
    assert.is(s0.host.fdsOpen, 1, "the child listens");
    if (!v.cfg.fdLimit) assert.is(s0.fdBudget, LIMIT - 32, "the child's budget: RLIMIT_NOFILE 128 − fdReserve 32");

    const handlers = clientHandlers();
    const clients: Client[] = [];
    const conns: Connection[] = [];
    for (let i = 0; i < CLIENTS; i++) {
      const c = r.connect({ port: srv.port }, handlers);
      const cl: Client = { i, text: "", echoes: 0 };
      c.data = cl;
      clients.push(cl);
      conns.push(c);
    }
    const served = () => clients.filter((c) => c.echoes >= 1).length;
    const closedBy = (reason: string) => clients.filter((c) => c.closed === reason).length;

    // 1. The child fills up: accepts what it can, then EMFILE (or its budget) stops it.
    await until(r, () => served() > 20, "the child serves some clients", 5_000);
    // (With shedOnEmfile the resets go on, one per back-off: only the served count settles.)
    await settle(r, served, 250, "the child stops accepting");
    const firstServed = served();
    const s1 = await srv.stats();
    assert.ok(firstServed < CLIENTS, `the limit bites: ${firstServed} of ${CLIENTS} served`);
    assert.ok(firstServed > 50, `but most of the descriptors serve clients: ${firstServed}`);
    assert.is(s1.connections, firstServed, "the child holds exactly the connections it serves");
    if (v.expectEmfile) {
      assert.ok(s1.host.acceptEmfile >= 1, `accept4 hit EMFILE (${s1.host.acceptEmfile})`);
      assert.ok((s1.errorsByErrno.EMFILE ?? 0) >= 1, `the core counted EMFILE (${JSON.stringify(s1.errorsByErrno)})`);
      assert.ok(s1.acceptBackoffs >= 1, `the listener backed off (${s1.acceptBackoffs})`);
      assert.ok((s1.listenerErrors.EMFILE ?? 0) >= 1, "the listener's error handler saw EMFILE");
    } else {
      assert.is(s1.host.acceptEmfile, 0, "the kernel never said EMFILE");
      assert.is(s1.errorsByErrno.EMFILE, undefined);
      assert.ok(s1.admissionPauses >= 1, `admission control paused accepting (${s1.admissionPauses})`);
      assert.ok(s1.fdsOpen <= s1.fdBudget, `within the budget: ${s1.fdsOpen} of ${s1.fdBudget}`);
      // What the process holds, not only what the core counts: clients accepted behind the
      // budget's back (io_uring's multishot accept, before, took the whole backlog) filled the process to
      // its limit, and its own open()s failed (listing /proc/self/fd: EMFILE).
      assert.ok(typeof s1.procFds === "number" && s1.procFds < LIMIT, `the process kept descriptors for itself: ${s1.procFds} open of ${LIMIT}`);
    }

    // 2. No spinning: over one second at the limit, few EMFILE accepts (back-off doubles to 100 ms),
    // few turns, and little CPU (a spinning accept takes the whole second; /proc/PID/stat counts
    // the child's CPU, prlimit having exec'd the runtime in place).
    const turns0 = s1.host.turns;
    const cpu0 = cpuSeconds(srv.proc.pid!);
    await sleep(1000);
    const s2 = await srv.stats();
    const cpu = cpuSeconds(srv.proc.pid!) - cpu0;
    assert.ok(cpu < 0.5, `the child's CPU in 1 s at the limit: ${cpu.toFixed(2)} s (spinning?)`);
    const emfilePerSec = s2.host.acceptEmfile - s1.host.acceptEmfile;
    assert.ok(emfilePerSec < 50, `EMFILE accepts in 1 s at the limit: ${emfilePerSec}`);
    assert.ok(s2.host.turns - turns0 < 500, `the child's turns in 1 s at the limit: ${s2.host.turns - turns0}`);
    if (v.cfg.shed) {
      assert.ok(s2.host.acceptShed >= 1, `pending clients were shed (${s2.host.acceptShed})`);
      assert.ok(closedBy("reset") >= 1, `shed clients saw a reset (${closedBy("reset")})`);
      assert.ok(s2.host.acceptShed <= s2.host.acceptEmfile, "at most one shed per EMFILE");
    } else {
      assert.is(s2.host.acceptShed, 0);
      assert.is(closedBy("reset"), 0, "nobody was reset: the rest wait in the accept queue");
    }

    // 3. It keeps serving what it has.
    const servedNow = clients.filter((c) => c.echoes >= 1 && !c.closed);
    for (const cl of servedNow) conns[cl.i].write("again;");
    try {
      await until(r, () => servedNow.every((c) => c.echoes >= 2), "a second echo on every served connection", 5_000);
    } catch (err) {
      throw new Error(`${(err as Error).message}; ${servedNow.filter((c) => c.echoes >= 2).length} of ${servedNow.length} echoed twice, ${servedNow.filter((c) => c.closed).length} closed since; child: ${JSON.stringify(await srv.stats())}`);
    }

    // 4. Recovery: half of the served clients leave, and the child accepts waiting ones.
    // (Regression: with the real budget the listener used to stay paused here, because the
    // closes that free descriptors post no event; admission is re-checked after teardowns now.)
    const leaving = servedNow.slice(0, Math.floor(servedNow.length / 2));
    for (const cl of leaving) conns[cl.i].end();
    const waiting = clients.filter((c) => c.echoes === 0 && !c.closed).length;
    assert.ok(waiting > 0, "clients still wait in the accept queue");
    try {
      await until(r, () => served() >= firstServed + Math.min(waiting, leaving.length) / 2, "the child accepts again", 5_000);
    } catch (err) {
      throw new Error(`${(err as Error).message}; served ${served()} (was ${firstServed}), ${leaving.length} left, ${waiting} waiting; child: ${JSON.stringify(await srv.stats())}`);
    }
    const s3 = await srv.stats();
    assert.ok(s3.accepts > s1.accepts, `more accepts after recovery (${s1.accepts} → ${s3.accepts})`);
    assert.is(s3.threw.length, 0, `no handler threw in the child: ${s3.threw.join(" | ")}`);

    console.log(`    [${runtimeName()}, ${host}] served ${firstServed}/${CLIENTS} at the limit, then ${served()}; EMFILE accepts ${s3.host.acceptEmfile} ` +
      `(${emfilePerSec} in 1 s, ${s2.host.turns - turns0} turns, ${cpu.toFixed(2)} s CPU), back-offs ${s3.acceptBackoffs}, shed ${s3.host.acceptShed}, admission pauses ${s3.admissionPauses}`);

    // 5. The child closes cleanly: every descriptor it opened is closed, nothing leaked.
    const end = await srv.close();
    const report = end.report as { leakedDescriptors: number; graceful: number; aborted: number };
    const fin = end.stats as ChildStats;
    assert.is(report.leakedDescriptors, 0, "close() reports no leak");
    assert.is(end.fdOpens, end.fdCloses, "the core: every descriptor opened was closed");
    assert.is(fin.host.fdsOpen, 0, "the shim holds no descriptor");
    assert.is(end.poolHeld, 0, "no chunk held");
    assert.is(end.invariants, 0);
    assert.is(fin.threw.length, 0);
    assert.is(srv.stderr.trim(), "", "the child wrote nothing to stderr");
    await until(r, () => clients.every((c) => c.closed !== undefined), "every client closed once the child is gone", 5_000);
    await closeClean(r);
  } finally {
    srv.kill(); // by its PID, if it has not exited by itself
  }
}

// ── entry ───────────────────────────────────────────────────────────────────────────────
const childCfg = process.env[CHILD_ENV];
if (childCfg) {
  child(JSON.parse(childCfg)).catch((err) => { console.error(err); process.exit(1); });
} else {
  const test = suite("net: EMFILE in a child process");
  test.after(abandonAll);
  const prlimit = ["/usr/bin/prlimit", "/bin/prlimit"].some((p) => existsSync(p));
  const uringWhy = unavailable({ name: "uring", options: { host: "uring", wait: "thread" } });
  for (const host of ["epoll", "uring"] as const) {
    for (const v of VARIANTS) {
      test(`${host}: ${v.name} (${runtimeName()})`, () => !prlimit ? skip("no prlimit on this machine (util-linux)")
        : host === "uring" && uringWhy ? skip(`host 'uring' cannot run here: ${uringWhy}`)
        : scenario({ ...v, cfg: { ...v.cfg, host } }));
    }
  }
  test.run();
}
