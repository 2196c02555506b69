import { suite } from "uvu";
import * as assert from "uvu/assert";
import { Reactor, ReactorError } from "../../host/index.ts";
import { simReactor, runUntil, closeClean, logLines } from "../helpers/sim.ts";
import { writeSubmit, K } from "../../host/core/layout.ts";
import { throwsCode, rejectsCode } from "../helpers/errors.ts";
import { headerWord } from "../../host/core/core.ts";
import { createWasi, CoreExitError } from "../../shims/wasi.ts";

const er = suite("api: bad input gets a clear error and loses nothing");

async function rejects(options: unknown, pattern: RegExp): Promise<void> {
  try {
    await Reactor.create(options as never);
  } catch (err) {
    assert.instance(err, ReactorError);
    assert.is((err as ReactorError).code, "ERR_INVALID_OPTION");
    assert.match((err as Error).message, pattern);
    return;
  }
  assert.unreachable(`Reactor.create(${JSON.stringify(options)}) should have thrown`);
}

er("invalid options name the option, the value and what is allowed", async () => {
  await rejects({ host: "sim", maxConnections: 0 }, /option 'maxConnections' must be an integer from 1 to 4000000, got 0/);
  await rejects({ host: "sim", chunkSize: 1000 }, /option 'chunkSize' must be a power of two from 256 to 1048576, got 1000/);
  await rejects({ host: "sim", idleTimeoutMs: -5 }, /option 'idleTimeoutMs' must be an integer from 0 to 2147483647, got -5/);
  await rejects({ host: "sim", allowHalfOpen: "yes" }, /option 'allowHalfOpen' must be true or false, got "yes"/);
  await rejects({ host: "bogus" }, /option 'host' must be one of 'sim', 'epoll', 'kqueue', 'portable', 'uring', 'auto', got "bogus"/);
  await rejects({ host: "sim", maxconnections: 5 }, /unknown option 'maxconnections' \(did you mean 'maxConnections'\?\)/);
  await rejects({ host: "sim", lowWaterBytes: 10, highWaterBytes: 5 }, /option 'lowWaterBytes' must be at most highWaterBytes \(5\), got 10/);
  await rejects({ host: "sim", sim: { faults: { resetProbability: 2 } } }, /sim fault 'resetProbability' must be a probability from 0 to 1, got 2/);
  await rejects("fast", /options must be an object/);
});

er("fault odds for a host that has no faults build are refused, naming the hosts that do", async () => {
  try { await Reactor.create({ host: "portable", faults: { resetProbability: 0.1 } }); assert.unreachable("should throw"); }
  catch (err) { assert.is((err as ReactorError).code, "ERR_INVALID_OPTION"); assert.match((err as Error).message, /option 'faults' is for hosts 'epoll' and 'uring'.*not 'portable'/); }
});

er("a port in use: EADDRINUSE, and the first listener keeps working", async () => {
  const r = await simReactor();
  r.listen({ port: 7 }, { data(c, d) { c.write(d); } });
  try { r.listen({ port: 7 }, {}); assert.unreachable("should throw"); }
  catch (err) { assert.is((err as ReactorError).errno, 98); assert.match((err as Error).message, /cannot listen on 127\.0\.0\.1:7: EADDRINUSE/); }
  const p = r.sim!.connect(7);
  p.send("still here");
  runUntil(r, () => p.receivedText() === "still here", "echo on the first listener");
  await closeClean(r);
});

er("listen/connect arguments and handlers are checked", async () => {
  const r = await simReactor();
  // The messages are what this test is about: each names the argument, the value and what is allowed.
  throwsCode(() => r.listen({ port: 70000 }, {}), "ERR_INVALID_OPTION", /listen port must be an integer from 0 to 65535, got 70000/);
  throwsCode(() => r.listen({ port: 1, backlog: 0 }, {}), "ERR_INVALID_OPTION", /backlog must be an integer from 1 to 65535, got 0/);
  throwsCode(() => r.listen({ port: 1 }, { dat() {} } as never), "ERR_INVALID_OPTION", /unknown handler 'dat'/);
  throwsCode(() => r.listen({ port: 1 }, { data: 5 } as never), "ERR_INVALID_OPTION", /handler 'data' must be a function, got number/);
  throwsCode(() => r.connect({ port: 0 }, {}), "ERR_INVALID_OPTION", /connect port must be an integer from 1 to 65535, got 0/);
  throwsCode(() => r.setTimeout(() => {}, -1), "ERR_INVALID_OPTION", /setTimeout delay must be an integer/);
  assert.equal(r.sim!.violations, []);
  await closeClean(r);
});

er("write after end, write to a closed connection, and bad data are refused clearly", async () => {
  const r = await simReactor();
  let saved: import("../../host/index.ts").Connection | undefined;
  const errors: string[] = [];
  r.listen({ port: 7 }, {
    open(c) {
      saved = c;
      c.end("bye");
      try { c.write("more"); } catch (e) { errors.push((e as ReactorError).code as string); }
      try { c.write(42 as never); } catch (e) { errors.push((e as ReactorError).code as string); }
    },
  });
  const p = r.sim!.connect(7);
  p.onend = (q) => q.end();
  runUntil(r, () => r.metrics().connections === 0 && r.metrics().accepts === 1, "closed");
  assert.equal(errors, ["ERR_WRITE_AFTER_END", "ERR_INVALID_OPTION"]);
  assert.is(p.receivedText(), "bye", "what was queued before end() still went out");
  throwsCode(() => saved!.write("late"), "ERR_CONNECTION_CLOSED");
  saved!.close(); // closing what is gone is quiet
  assert.is(saved!.state, "closed");
  await closeClean(r);
});

er("a handler that throws closes only its connection; the reactor goes on", async () => {
  const lines: string[] = [];
  const r = await Reactor.create({ host: "sim", build: "debug", log: (l) => lines.push(l) });
  r.listen({ port: 7 }, { data(c, d) { if (d[0] === 0x21) throw new Error("boom"); c.write(d); } });
  const bad = r.sim!.connect(7), good = r.sim!.connect(7);
  bad.send("!"); good.send("ok");
  assert.ok(r.runUntil(() => good.receivedText() === "ok" && bad.state !== "open", { maxTurns: 1000 }), "both settled");
  assert.is(good.receivedText(), "ok");
  assert.is(bad.state, "reset");
  assert.ok(lines.some((l) => l.includes("the data handler threw") && l.includes("boom")));
  const report = await r.close();
  assert.is(report.leakedDescriptors, 0);
  assert.equal(r.sim!.violations, []);
});

er("after close(), the API refuses new work", async () => {
  const r = await simReactor();
  await closeClean(r);
  throwsCode(() => r.listen({ port: 7 }, {}), "ERR_CLOSED", /listen\(\) after the reactor was closed/);
  throwsCode(() => r.connect({ port: 7 }, {}), "ERR_CLOSED", /connect\(\) after the reactor was closed/);
});

er("a core that stops on a failed check: ERR_CORE_ASSERTION (typed, with the core's exit as its cause), and the reactor stays dead", async () => {
  const lines: string[] = [];
  const r = await Reactor.create({ host: "sim", build: "debug", log: (l) => lines.push(l) });
  r.listen({ port: 7 }, { data(c, d) { c.write(d); } });
  const p = r.sim!.connect(7);
  p.send("x");
  runUntil(r, () => p.receivedText() === "x", "one echo");
  // Corrupt what the core trusts (as a broken host would): events announced that were never posted.
  const tail = headerWord("eventTail");
  r.core.u32[tail] = r.core.u32[tail] + 100_000;
  const first = throwsCode(() => r.step(0), "ERR_CORE_ASSERTION");
  const cause = (first as { cause?: unknown }).cause;
  assert.instance(cause, CoreExitError, "the cause is the core's own exit");
  assert.is((cause as CoreExitError).code, "ERR_CORE_ASSERTION");
  assert.is((cause as CoreExitError).exitCode, 255);
  assert.ok(lines.some((l) => l.startsWith("abort:")), "the core said which check failed");
  assert.is(throwsCode(() => r.step(0), "ERR_CORE_ASSERTION"), first, "every later turn throws the same error");
  await rejectsCode(r.close({ drainMs: 0 }), "ERR_CORE_ASSERTION"); // the host is released all the same
  throwsCode(() => r.listen({ port: 8 }, {}), "ERR_CLOSED");
});

er("the WASI shim turns the core's exit into a CoreExitError, never a plain Error", () => {
  const wasi = createWasi({ clockNs: () => 0n, random: () => {}, log: () => {} });
  const exit = wasi.imports.proc_exit as (code: number) => void;
  const err = throwsCode(() => exit(3), "ERR_CORE_ASSERTION");
  assert.instance(err, CoreExitError);
  assert.is((err as CoreExitError).exitCode, 3);
});

er("a submission that breaks the host contract: an error on that connection, one clear log line, the foreign descriptor untouched", async () => {
  const r = await simReactor();
  const sim = r.sim!;
  let conn: { slot: number; gen: number } | undefined;
  const errors: string[] = [];
  let closed = "";
  r.listen({ port: 7 }, { open(c) { conn = { slot: c.slot, gen: c.gen }; }, error(_c, err) { errors.push(String(err.code)); }, close(_c, info) { closed = info.reason; } });
  const peer = sim.connect(7);
  runUntil(r, () => conn !== undefined, "accepted");
  // Play a broken core: an INTEREST naming this connection with a descriptor it does not own.
  const core = (r as unknown as { core: import("../../host/core/core.ts").Core }).core;
  const execute = sim.execute.bind(sim);
  let planted = false;
  sim.execute = () => {
    if (!planted) {
      planted = true;
      const u = core.u32, W = headerWord("submitTail"), tail = u[W];
      writeSubmit(u, core.submitOffset(tail), K.SQ_INTEREST, 0, conn!.slot, conn!.gen, 999, K.IN_READ, 0);
      u[W] = (tail + 1) >>> 0;
    }
    execute();
  };
  r.setTimeout(() => {}, 1); // a turn to carry it
  runUntil(r, () => closed !== "", "the connection closed");
  assert.equal(errors, ["EBADF"]);
  assert.is(closed, "error");
  assert.is(sim.violations.length, 1);
  assert.ok(logLines(r).some((l) => /refused a submission that breaks the host contract \(a bug in the core, not the network\)/.test(l)), logLines(r).join("\n"));
  assert.is(r.metrics().host?.violations, 1);
  sim.execute = execute;
  void peer;
  sim.violations.length = 0; // planted on purpose: closeClean fails on any other
  await closeClean(r);
});

er.run();
