// Ways of driving a reactor on real sockets, and what each must never do.
//
//   refused up front   step()/runUntil()/runFor() hold the thread until their wait returns, so
//                      with a host that waits asynchronously (epoll, wait: "thread") they throw
//                      ERR_WAIT_MODE at once, naming the option, instead of failing by timing.
//   never deaf         a process whose reactor waits (either mode, idle or under traffic) still
//                      runs its signal handlers: the suite starts a child of the same runtime
//                      (this bundle; the environment variable below makes it the child) that
//                      serves echo with run() and handles SIGINT/SIGTERM by closing gracefully,
//                      sends it the signal, and expects it to report and exit by itself. Before
//                      the fix, wait: "block" ignored SIGINT while idle for minutes.
import { suite } from "uvu";
import * as assert from "uvu/assert";
import process from "node:process";
import { spawn, type ChildProcess } from "node:child_process";
import { fileURLToPath } from "node:url";
import { Reactor, ReactorError, type CloseReport } from "../../host/index.ts";
import { netReactor, until, closeClean, abandonAll, sleep, selfCommand } from "../helpers/net.ts";
import { onJsonLines } from "../helpers/lines.ts";

const CHILD_ENV = "WASM_REACTOR_SIGNAL_CHILD";
/** Liveness bound, not a timing assertion: a deaf child never answers at all. */
const EXIT_BOUND_MS = 15_000;

interface ChildConfig { wait: "block" | "thread"; signal: "SIGINT" | "SIGTERM" }

// ── the child ───────────────────────────────────────────────────────────────────────────
async function child(cfg: ChildConfig): Promise<void> {
  const out = (o: unknown, then?: () => void) => process.stdout.write(JSON.stringify(o) + "\n", then);
  const r = await Reactor.create({ host: "epoll", wait: cfg.wait, build: "debug", maxConnections: 256, poolChunks: 64, chunkSize: 4096, log: () => {} });
  const l = r.listen({ port: 0 }, { data(c, d) { if (c.writable) c.write(d); } });
  process.on(cfg.signal, () => {
    out({ signal: cfg.signal });
    r.close({ drainMs: 500 }).then((report) => out({ report }, () => process.exit(0)), (err) => out({ error: String(err) }, () => process.exit(1)));
  });
  out({ port: l.port });
  await r.run();
}

const childCfg = process.env[CHILD_ENV];
if (childCfg) {
  child(JSON.parse(childCfg) as ChildConfig).catch((err) => { console.error(err); process.exit(1); });
} else {
  // ── the parent ────────────────────────────────────────────────────────────────────────
  const refused = suite("modes: a way of driving that cannot work is refused up front");

  refused("step(), runUntil() and runFor() with wait: 'thread' throw ERR_WAIT_MODE at once, naming the option", async () => {
    const r = await netReactor({ wait: "thread" }, { run: false });
    const callsBefore = r.metrics().host!.calls;
    for (const [what, call] of [["step", () => r.step(0)], ["runUntil", () => r.runUntil(() => false, { maxTurns: 3 })], ["runFor", () => r.runFor(5)]] as const) {
      let err: unknown;
      try { call(); } catch (e) { err = e; }
      assert.instance(err, ReactorError, `${what}() must throw`);
      assert.is((err as ReactorError).code, "ERR_WAIT_MODE", what);
      assert.match((err as Error).message, /wait: 'block'/, `${what}(): the message names the option to change`);
    }
    assert.is(r.metrics().host!.calls, callsBefore, "refused before the host was called");
    // run() drives the same reactor as usual.
    const running = r.run();
    const l = r.listen({ port: 0 }, { data(c, d) { c.write(d); } });
    let echoed = "";
    r.connect({ port: l.port }, { open(c) { c.write("still works"); }, data(_c, d) { echoed += new TextDecoder().decode(d); } });
    await until(r, () => echoed === "still works", "an echo through run()");
    await closeClean(r);
    await running;
  });

  // Regression, was: on the portable host (which always waits on the runtime's event loop) the
  // refusal said "create the reactor with wait: 'block'" to a reactor created with wait: 'block'.
  refused("step() on the portable host: ERR_WAIT_MODE says to use run() or a native host, not to set what is set", async () => {
    const r = await netReactor({ host: "portable", wait: "block" }, { run: false });
    let err: unknown;
    try { r.step(0); } catch (e) { err = e; }
    assert.is((err as ReactorError).code, "ERR_WAIT_MODE");
    assert.match((err as Error).message, /host 'portable' always does \(it waits on the runtime's own event loop\); use run\(\), or a native host/);
    assert.not.match((err as Error).message, /create the reactor with wait: 'block'/);
    await closeClean(r);
  });

  refused.after.each(() => abandonAll());
  refused.run();

  const signals = suite("modes: a waiting reactor never makes its process deaf to signals");

  class Child {
    readonly proc: ChildProcess;
    stderr = "";
    code: number | null | undefined;
    private readonly got: Record<string, unknown>[] = [];

    constructor(cfg: ChildConfig) {
      const [cmd, args] = selfCommand(fileURLToPath(import.meta.url));
      this.proc = spawn(cmd, args, { stdio: ["ignore", "pipe", "pipe"], env: { ...process.env, [CHILD_ENV]: JSON.stringify(cfg), DENO_NO_UPDATE_CHECK: "1" } });
      this.proc.stderr!.setEncoding("utf8");
      this.proc.stderr!.on("data", (d: string) => { this.stderr += d; });
      onJsonLines(this.proc.stdout!, (o) => { this.got.push(o); }, (line) => { this.stderr += `(stdout) ${line}\n`; });
      this.proc.on("exit", (code) => { this.code = code; });
    }

    /** The first message with `key`, waiting at most ms. */
    async message(key: string, ms: number): Promise<Record<string, unknown>> {
      const end = performance.now() + ms;
      for (;;) {
        const m = this.got.find((o) => key in o);
        if (m) return m;
        if (performance.now() > end || this.code !== undefined) throw new Error(`child: no '${key}' within ${ms} ms; exit code ${this.code}; got ${JSON.stringify(this.got)}; stderr: ${this.stderr.slice(0, 2000)}`);
        await sleep(20);
      }
    }

    async exited(ms: number): Promise<number | null> {
      const end = performance.now() + ms;
      while (this.code === undefined) {
        if (performance.now() > end) throw new Error(`child: still running ${ms} ms after the signal; stderr: ${this.stderr.slice(0, 2000)}`);
        await sleep(20);
      }
      return this.code;
    }

    kill(): void { if (this.code === undefined && this.proc.pid !== undefined) { try { process.kill(this.proc.pid, "SIGKILL"); } catch { /* gone */ } } }
  }

  const children = new Set<Child>();
  signals.after.each(async () => { for (const c of children) c.kill(); children.clear(); await abandonAll(); });

  async function heard(cfg: ChildConfig, traffic: boolean): Promise<void> {
    const c = new Child(cfg);
    children.add(c);
    const port = (await c.message("port", 10_000)).port as number;
    let echoes = 0;
    let parent: Reactor | undefined;
    if (traffic) {
      // Ping-pong on 8 connections from a thread-mode reactor here, running while the signal lands.
      parent = await netReactor({ wait: "thread" });
      const ping = new Uint8Array(64).fill(7);
      for (let i = 0; i < 8; i++) {
        parent.connect({ port }, { open(k) { k.write(ping); }, data(k, d) { echoes++; if (k.writable) k.write(d); }, error() { /* the child closes */ } });
      }
      await until(parent, () => echoes >= 200, "traffic through the child");
    } else {
      await sleep(600); // idle: the child sits in its wait (block mode: epoll_wait on the JS thread)
    }
    process.kill(c.proc.pid!, cfg.signal);
    assert.equal(await c.message("signal", EXIT_BOUND_MS), { signal: cfg.signal });
    const report = (await c.message("report", EXIT_BOUND_MS)).report as CloseReport;
    assert.is(await c.exited(EXIT_BOUND_MS), 0, "the child exits by itself after its graceful close");
    assert.is(report.leakedDescriptors, 0, "no descriptor leaked");
    if (parent) {
      assert.ok(echoes >= 200, `echoes ${echoes}`);
      await until(parent, () => parent!.metrics().connections === 0, "the child's close reaches the clients");
      await closeClean(parent);
    }
  }

  signals("wait: 'block', idle: SIGINT reaches the handler (was ignored before)", () => heard({ wait: "block", signal: "SIGINT" }, false));
  signals("wait: 'block', idle: SIGTERM reaches the handler", () => heard({ wait: "block", signal: "SIGTERM" }, false));
  signals("wait: 'block', under traffic: SIGINT reaches the handler", () => heard({ wait: "block", signal: "SIGINT" }, true));
  signals("wait: 'thread', idle: SIGINT reaches the handler", () => heard({ wait: "thread", signal: "SIGINT" }, false));
  signals("wait: 'thread', under traffic: SIGTERM reaches the handler", () => heard({ wait: "thread", signal: "SIGTERM" }, true));

  signals.run();
}
