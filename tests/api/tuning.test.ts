// Guarded live tuning (host/ops/tuning.ts, host/ops/admin.ts) on the simulator: its virtual clock
// makes every window, turn time and verdict exact, so nothing here depends on the machine's speed.
// Turn cost is simulated where a test needs it: a handler moves the virtual clock on by 1 ms per
// read, as a handler doing 1 ms of work per read would.
import { suite } from "uvu";
import * as assert from "uvu/assert";
import { mkdtempSync, rmSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Tuner, adminHandler, replayFile, readTrace, type Reactor, type Connection, type AdminRequest } from "../../host/index.ts";
import { RECORDED, T_CALL } from "../../host/trace/format.ts";
import { replayComponentFile } from "../../host/component/replay.ts";
import { simReactor, runUntil, closeClean, logLines, bytes } from "../helpers/sim.ts";

const test = suite("api: guarded live tuning");

/** A peer that sends `size` bytes every `everyMs` virtual ms, `times` times (bounded). */
function steady(r: Reactor, port: number, size: number, everyMs: number, times: number): { peer: ReturnType<NonNullable<Reactor["sim"]>["connect"]>; stop: () => void } {
  const sim = r.sim!;
  const peer = sim.connect(port);
  let left = times, stopped = false;
  const tick = () => { if (stopped || left-- <= 0 || peer.state !== "open") return; peer.send(bytes(size, left + 1)); sim.schedule(sim.nowMs + everyMs, tick); };
  sim.schedule(sim.nowMs + 1, tick);
  return { peer, stop: () => { stopped = true; } };
}

/** Accepts per step while `n` new clients connect at once. */
function acceptsPerTurn(r: Reactor, n: number, port: number): number[] {
  for (let i = 0; i < n; i++) r.sim!.connect(port);
  const per: number[] = [];
  const target = r.metrics().accepts + n;
  for (let k = 0; k < 1000 && r.metrics().accepts < target; k++) {
    const before = r.metrics().accepts;
    r.step(0);
    per.push(r.metrics().accepts - before);
  }
  assert.is(r.metrics().accepts, target, `all ${n} clients accepted`);
  return per;
}

test("lowering acceptsPerTurn live changes how many clients one turn accepts", async () => {
  const r = await simReactor({ acceptsPerTurn: 64 });
  const t = new Tuner(r, { sampleMs: 10 });
  const conns: Connection[] = [];
  r.listen({ port: 7 }, { open(c) { conns.push(c); } });
  const before = acceptsPerTurn(r, 40, 7);
  assert.is(Math.max(...before), 40, `one turn accepted all 40 at acceptsPerTurn 64 (${before})`);
  const { id } = t.apply({ acceptsPerTurn: 5 }, { windowMs: 1000 });
  assert.is(id, 1);
  assert.is(r.core.config("acceptsPerTurn"), 5, "outside a turn the change is written at once");
  assert.is(r.options.acceptsPerTurn, 5, "reactor.options says what runs now");
  const after = acceptsPerTurn(r, 40, 7);
  assert.is(Math.max(...after), 5, `at most 5 a turn after the change (${after})`);
  assert.ok(after.filter((n) => n > 0).length >= 8, "the 40 took at least 8 turns");
  for (const c of conns) c.close();
  t.close();
  await closeClean(r);
});

test("lowering the descriptor budget live stops accepting at it; rolling back lets the rest in", async () => {
  const r = await simReactor();
  const t = new Tuner(r);
  const conns: Connection[] = [];
  r.listen({ port: 7 }, { open(c) { conns.push(c); } });
  for (let i = 0; i < 3; i++) r.sim!.connect(7);
  runUntil(r, () => conns.length === 3, "3 open");
  assert.is(r.metrics().fdsOpen, 4, "the listener and 3 connections");
  t.apply({ fdLimit: 38 }, { windowMs: 1000 }); // budget 38 - 32 = 6
  assert.is(r.metrics().fdBudget, 6, "the gauge says the new budget at once");
  for (let i = 0; i < 5; i++) r.sim!.connect(7);
  r.runFor(100);
  assert.is(conns.length, 5, "2 more accepted, up to the budget of 6 descriptors");
  assert.ok(r.metrics().admissionPauses >= 1, "admission closed");
  t.rollback();
  runUntil(r, () => conns.length === 8, "the 3 waiting in the backlog are accepted once the budget is back");
  assert.is(r.metrics().fdBudget, 1_048_576 - 32);
  for (const c of conns) c.close();
  t.close();
  await closeClean(r);
});

test("lowering highWaterBytes live makes write() report backpressure sooner", async () => {
  const r = await simReactor({ highWaterBytes: 65_536, lowWaterBytes: 16_384, sim: { windowBytes: 1024 } });
  const t = new Tuner(r);
  let conn: Connection | undefined;
  r.listen({ port: 7 }, { open(c) { conn = c; } });
  const p = r.sim!.connect(7);
  r.sim!.setReadRate(p, 0); // the peer reads nothing: what does not fit its 1 KiB window stays queued
  runUntil(r, () => conn !== undefined, "open");
  assert.is(conn!.write(bytes(8192)), true, "8 KiB under a 64 KiB high-water mark: go on");
  r.runFor(10);
  const queued = conn!.queuedBytes;
  assert.ok(queued > 4096, `bytes stay queued (${queued})`);
  assert.is(conn!.write(bytes(16)), true, "still under 64 KiB: go on");
  t.apply({ highWaterBytes: 4096, lowWaterBytes: 1024 }, { windowMs: 1000 });
  assert.is(conn!.write(bytes(16)), false, `over the new 4 KiB mark with ${conn!.queuedBytes} queued: wait`);
  conn!.reset();
  t.close();
  await closeClean(r);
});

test("an idle timeout turned on live reaches connections already open, and a lowering is not an old timeout late", async () => {
  const r = await simReactor();
  const t = new Tuner(r);
  const timedOut: number[] = [];
  r.listen({ port: 7 }, { timeout(_c, kind) { if (kind === "idle") timedOut.push(r.nowMs()); } });
  r.sim!.connect(7);
  r.runFor(50);
  assert.is(r.metrics().connections, 1);
  t.apply({ idleTimeoutMs: 100 }, { windowMs: 1000 });
  runUntil(r, () => timedOut.length === 1, "the idle connection times out");
  assert.ok(timedOut[0] <= 150, `timed out by the new timeout, counted from its last activity (at ${timedOut[0]} ms)`);
  t.rollback(); // back to 0: off
  // Lowering: 60 s → 100 ms on a connection open under the 60 s timeout.
  t.apply({ idleTimeoutMs: 60_000 }, { windowMs: 1000 });
  r.sim!.connect(7);
  r.runFor(20);
  const at = r.nowMs();
  t.rollback(); // one change at a time: the 60 s one is still watched; back to 0, then 100 ms anew
  t.apply({ idleTimeoutMs: 100 }, { windowMs: 1000 });
  runUntil(r, () => timedOut.length === 2, "the second idle connection times out");
  assert.ok(timedOut[1] - at <= 100, `timed out ${timedOut[1] - at} ms after the lowering, not a minute`);
  t.close();
  await closeClean(r);
});

test("a change that leaves turns as they were is kept after its window, with one log line", async () => {
  const r = await simReactor();
  const t = new Tuner(r, { sampleMs: 50 });
  r.listen({ port: 7 }, { data(c, d) { c.write(d); } });
  const load = steady(r, 7, 200, 5, 400);
  r.runFor(600); // history: the window before the change
  t.apply({ acceptsPerTurn: 32, expiriesPerTurn: 1024 }, { windowMs: 500, minSamples: 20 });
  assert.is(t.state, "watching");
  r.runFor(400);
  assert.is(t.state, "watching", "still inside the window");
  r.runFor(200);
  const s = t.status();
  assert.is(s.state, "kept", JSON.stringify(s));
  assert.is(s.settings.acceptsPerTurn, 32);
  assert.ok(s.before!.turns >= 20 && s.after!.turns >= 20, `both windows judged (${s.before!.turns}, ${s.after!.turns} turns)`);
  const lines = logLines(r).filter((l) => l.includes("tuning #1"));
  assert.is(lines.length, 2, lines.join("\n"));
  assert.match(lines[0], /tuning #1: acceptsPerTurn 32, expiriesPerTurn 1024 \(was acceptsPerTurn 128, expiriesPerTurn 4096\); watching/);
  assert.match(lines[1], /tuning #1 kept: turn p99 \d+ µs against \d+ µs before/);
  load.stop(); r.runFor(50); // what is in flight arrives before close() ends our side
  t.close();
  await closeClean(r);
});

test("a change that makes turns slower is rolled back by itself, saying why with the figures", async () => {
  const r = await simReactor({ readsPerConnPerTurn: 1, poolChunks: 128 });
  const t = new Tuner(r, { sampleMs: 50 });
  // Each read costs 1 ms of (simulated) work: more reads per turn make longer turns.
  r.listen({ port: 7 }, { data() { r.sim!.nowMs += 1; } });
  const load = steady(r, 7, 64 * 1024, 100, 40);
  r.runFor(1000);
  const before = r.metrics().turnUs;
  assert.ok(before.max < 2000, `one read a turn: turns of about 1 ms (max ${before.max} µs)`);
  t.apply({ readsPerConnPerTurn: 64 }, { windowMs: 1000, minSamples: 10 });
  runUntil(r, () => t.state !== "watching", "a verdict");
  const s = t.status();
  assert.is(s.state, "rolled-back", JSON.stringify(s));
  assert.ok(s.after!.p99Us > 1.5 * s.before!.p99Us, `p99 ${s.before!.p99Us} → ${s.after!.p99Us} µs`);
  assert.is(s.settings.readsPerConnPerTurn, 1, "the old value is back");
  assert.is(r.core.config("readsPerConnPerTurn"), 1);
  const line = logLines(r).find((l) => l.includes("tuning #1 rolled back"));
  assert.ok(line, logLines(r).join("\n"));
  assert.match(line!, /rolled back: turn p99 \d+ µs over \d+ turns against \d+ µs over \d+ before \(limit \d+ µs: 1.5x, floor 100 µs\); settings back to readsPerConnPerTurn 1 \(was readsPerConnPerTurn 64\)/);
  load.stop(); r.runFor(50); // what is in flight arrives before close() ends our side
  t.close();
  await closeClean(r);
});

test("a change followed by errors is rolled back before its window ends", async () => {
  const r = await simReactor();
  const t = new Tuner(r, { sampleMs: 50 });
  r.listen({ port: 7 }, { data(c, d) { c.write(d); } });
  const load = steady(r, 7, 100, 10, 300);
  r.runFor(500);
  t.apply({ lowWaterBytes: 8192 }, { windowMs: 2000, minSamples: 10 });
  const applied = t.status().appliedAtMs!;
  const peers = Array.from({ length: 5 }, () => r.sim!.connect(7));
  r.runFor(20);
  for (const p of peers) p.reset();
  runUntil(r, () => t.state !== "watching", "a verdict");
  const s = t.status();
  assert.is(s.state, "rolled-back");
  assert.ok(s.decidedAtMs! < applied + 2000, `rolled back at ${s.decidedAtMs} ms, before the window's end at ${applied + 2000}`);
  assert.match(s.reason!, /5 errors in \d+ ms \([\d.]+\/s\) against 0 in \d+ ms before/);
  assert.is(s.settings.lowWaterBytes, 16_384);
  load.stop(); r.runFor(50); // what is in flight arrives before close() ends our side
  t.close();
  await closeClean(r);
});

test("a change asked for inside a turn is written at its end, never in the middle", async () => {
  const r = await simReactor();
  const t = new Tuner(r);
  let seenInTurn = -1, pending: string | undefined;
  r.listen({ port: 7 }, { data(c) { if (seenInTurn < 0) { t.apply({ acceptsPerTurn: 7 }, { windowMs: 100 }); seenInTurn = r.core.config("acceptsPerTurn"); pending = t.status().pending; } c.close(); } });
  r.sim!.connect(7).send("x");
  runUntil(r, () => seenInTurn >= 0, "the handler ran");
  assert.is(seenInTurn, 128, "still the old value inside the turn");
  assert.is(pending, "apply", "the status says the change waits for the turn's end");
  assert.is(r.core.config("acceptsPerTurn"), 7, "written once the turn ended");
  assert.is(t.status().appliedAtMs !== undefined, true);
  assert.is(t.status().pending, undefined);
  t.close();
  await closeClean(r);
});

test("bad changes are refused with the option's own rules and clear messages", async () => {
  const r = await simReactor();
  const t = new Tuner(r, { historyMs: 60_000 });
  const refused = (f: () => unknown, re: RegExp, code = "ERR_INVALID_OPTION") => {
    try { f(); assert.unreachable(`should be refused: ${re}`); }
    catch (err) {
      assert.is((err as { code?: string }).code, code, (err as Error).message);
      assert.match((err as Error).message, re);
    }
  };
  refused(() => t.apply({ acceptsPerTun: 4 }), /unknown setting 'acceptsPerTun'; the live ones are idleTimeoutMs, highWaterBytes/);
  refused(() => t.apply({ edgeTriggered: true }), /'edgeTriggered' cannot change live: the trigger mode is fixed when the native poller is created/);
  refused(() => t.apply({ poolChunks: 8 }), /'poolChunks' cannot change live: a capacity/);
  refused(() => t.apply({ connectTimeoutMs: 5 }), /'connectTimeoutMs' cannot change live \(set it when the reactor is created\)/);
  refused(() => t.apply({ acceptsPerTurn: 0 }), /option 'acceptsPerTurn' must be an integer from 1 to 65536, got 0/);
  refused(() => t.apply({ readsPerConnPerTurn: 2.5 }), /option 'readsPerConnPerTurn' must be an integer from 1 to 1024, got 2.5/);
  refused(() => t.apply({ highWaterBytes: "big" }), /option 'highWaterBytes' must be an integer/);
  refused(() => t.apply({ lowWaterBytes: 100_000 }), /option 'lowWaterBytes' must be at most highWaterBytes \(65536\), got 100000/);
  refused(() => t.apply({ fdLimit: 10, fdReserve: 10 }), /descriptor budget fdLimit - fdReserve \(10 - 10 = 0\) must stay at least 1/);
  refused(() => t.apply({ fdLimit: 2_000_000 }), /option 'fdLimit' must be at most the host's descriptor limit live \(1048576: sim fdLimit; raise that limit/);
  refused(() => t.apply({}), /no settings to change were given/);
  refused(() => t.apply([] as never), /must be an object of \{ name: value \}, got an array/);
  refused(() => t.apply({ acceptsPerTurn: 8 }, { windowMs: 0 }), /watch option 'windowMs' must be an integer from 1 to 60000/);
  refused(() => t.apply({ acceptsPerTurn: 8 }, { maxP99Ratio: 0.5 }), /watch option 'maxP99Ratio' must be a number of at least 1, got 0.5/);
  refused(() => t.apply({ acceptsPerTurn: 8 }, { window: 5 } as never), /unknown watch option 'window'/);
  refused(() => t.rollback(), /nothing to roll back: no change was applied/, "ERR_TUNING");
  assert.is(t.state, "idle", "nothing refused left a trace");
  assert.is(r.core.config("acceptsPerTurn"), 128);
  // The descriptor budget may not fall below what is open now.
  const conns: Connection[] = [];
  r.listen({ port: 7 }, { open(c) { conns.push(c); } });
  for (let i = 0; i < 5; i++) r.sim!.connect(7);
  runUntil(r, () => conns.length === 5, "5 open");
  refused(() => t.apply({ fdLimit: 36 }), /\(36 - 32 = 4\) must stay at least 1 and at least the 6 descriptors open or connecting now/);
  // One change at a time.
  t.apply({ acceptsPerTurn: 8 }, { windowMs: 1000 });
  refused(() => t.apply({ acceptsPerTurn: 9 }), /change #1 \(acceptsPerTurn 8\) is being watched \(applied at \d+ ms, watched until \d+ ms\): one change at a time/, "ERR_TUNING");
  assert.is(t.rollback().state, "rolled-back");
  refused(() => t.rollback(), /nothing to roll back: change #1 was already rolled back/, "ERR_TUNING");
  refused(() => new Tuner(r), /already has a Tuner/, "ERR_TUNING");
  refused(() => new Tuner(r, { sampleMs: 0 }), /Tuner option 'sampleMs' must be an integer of at least 1, got 0/);
  t.close();
  const again = new Tuner(r); // close() gave the hook back
  again.close();
  for (const c of conns) c.close();
  await closeClean(r);
});

test("a live change is a recorded input: the trace replays identically", async () => {
  const dir = mkdtempSync(join(tmpdir(), "wr-tuning-"));
  try {
    const path = join(dir, "tuning.trace");
    const r = await simReactor({ record: { path } });
    const t = new Tuner(r, { sampleMs: 20 });
    r.listen({ port: 7 }, { data(c, d) { c.write(d); } });
    const load = steady(r, 7, 3000, 5, 100);
    r.runFor(100);
    t.apply({ readsPerConnPerTurn: 1, highWaterBytes: 4096, lowWaterBytes: 1024, idleTimeoutMs: 2000 }, { windowMs: 100, minSamples: 1 });
    r.runFor(300);
    load.stop(); r.runFor(50);
    t.close();
    await closeClean(r);
    r.recorder!.close();
    const { records } = readTrace(new Uint8Array(readFileSync(path)));
    const fn = RECORDED.indexOf("configSet");
    const calls = records.filter((x) => x.tag === T_CALL && (x.body.getUint8(0) & 0x7f) === fn);
    assert.ok(calls.length >= 4, `the trace holds the configSet calls (${calls.length})`);
    const res = await replayFile(path);
    assert.ok(res.identical, JSON.stringify(res.divergence));
    assert.ok(res.turns > 50, `${res.turns} turns replayed`);
    // The component core (assembly/component/: its step op config-set) replays it the same way.
    const viaComponent = await replayComponentFile(path);
    assert.ok(viaComponent.identical, JSON.stringify(viaComponent.divergence));
    assert.is(viaComponent.turns, res.turns);
  } finally { rmSync(dir, { recursive: true, force: true }); }
});

test("random live changes under faults, from inside and outside turns: every invariant holds after every turn, and the run replays", async () => {
  const seed = Number(process.env.TUNING_SEED ?? 7);
  console.log(`  seed ${seed} (replay this run: TUNING_SEED=${seed} node tests/run.mjs api/tuning)`);
  let x = seed >>> 0 || 1;
  const rnd = (n: number) => { x ^= x << 13; x >>>= 0; x ^= x >>> 17; x ^= x << 5; x >>>= 0; return x % n; };
  const pick = <T>(a: readonly T[]): T => a[rnd(a.length)];
  const dir = mkdtempSync(join(tmpdir(), "wr-tuning-"));
  try {
    const path = join(dir, "random.trace");
    const r = await simReactor({
      seed, record: { path }, poolChunks: 128, timers: 64,
      sim: { faults: { readPartialProbability: 0.2, writePartialProbability: 0.2, writeEagainProbability: 0.05, resetProbability: 0.002, epipeProbability: 0.002, acceptEmfileProbability: 0.02 } },
    });
    const t = new Tuner(r, { sampleMs: 10, historyMs: 1000 });
    let midTurn: (() => void) | undefined;
    r.listen({ port: 7 }, {
      // An idle timeout may have ended our side while the peer still sends: echo only while writable.
      data(c, d) { if (c.writable && c.write(d) === false) c.pause(); midTurn?.(); midTurn = undefined; },
      drain(c) { if (c.live) c.resume(); },
    });
    const inUse = () => { const m = r.metrics(); return m.fdsOpen + m.connectsPending; };
    const change = (): Record<string, number> => {
      const out: Record<string, number> = {};
      for (let k = 1 + rnd(3); k > 0; k--) {
        switch (rnd(6)) {
          case 0: out.idleTimeoutMs = pick([0, 30, 200, 5000]); break;
          case 1: { const high = pick([2048, 8192, 65_536]); out.highWaterBytes = high; out.lowWaterBytes = pick([0, high >> 2, high]); break; }
          case 2: out.acceptsPerTurn = pick([1, 4, 128]); break;
          case 3: out.readsPerConnPerTurn = pick([1, 2, 16]); break;
          case 4: out.expiriesPerTurn = pick([1, 8, 4096]); break;
          case 5: out.fdLimit = pick([0, 32 + inUse() + 2 + rnd(20)]); break;
        }
      }
      return out;
    };
    let applied = 0, rolledBack = 0, refused = 0;
    const act = () => {
      if (t.state === "watching" && rnd(2) === 0) { t.rollback(); rolledBack++; return; }
      if (t.state === "watching") return;
      try { t.apply(change(), { windowMs: pick([20, 50, 200]), minSamples: 5 }); applied++; }
      catch (err) { assert.is((err as { code?: string }).code, "ERR_INVALID_OPTION", (err as Error).message); refused++; }
    };
    const peers: ReturnType<NonNullable<Reactor["sim"]>["connect"]>[] = [];
    for (let turn = 0; turn < 3000; turn++) {
      if (turn % 50 === 0 && peers.length < 40) peers.push(r.sim!.connect(7));
      if (turn % 7 === 0) for (const p of peers) if (p.state === "open" && rnd(3) === 0) p.send(bytes(1 + rnd(6000), turn));
      if (turn % 23 === 0) { if (rnd(2) === 0) act(); else midTurn = act; }
      r.step(5);
      const inv = r.checkInvariants();
      if (inv !== 0) throw new Error(`invariant ${inv} broken after turn ${turn} (seed ${seed}; status ${JSON.stringify(t.status())})`);
    }
    console.log(`  ${applied} changes applied, ${rolledBack} rolled back by request, ${refused} refused, verdicts: ${logLines(r).filter((l) => / kept: | rolled back: /.test(l)).length}`);
    assert.ok(applied >= 20, `${applied} changes applied (${rolledBack} rolled back by request, ${refused} refused)`);
    assert.is(r.sim!.violations.length, 0, r.sim!.violations.slice(0, 3).join("; "));
    t.close();
    await closeClean(r);
    r.recorder!.close();
    const res = await replayFile(path, { checkInvariants: true });
    assert.ok(res.identical, JSON.stringify(res.divergence));
    assert.is(res.broken, undefined);
  } finally { rmSync(dir, { recursive: true, force: true }); }
});

const enc = (s: string) => new TextEncoder().encode(s);
const req = (method: string, path: string, o: { body?: string; headers?: Record<string, string>; from?: string } = {}): AdminRequest =>
  ({ method, path, headers: o.headers ?? {}, body: enc(o.body ?? ""), remoteAddress: o.from ?? "127.0.0.1" });

test("admin handler: loopback only without a token; a token lets remote peers in", async () => {
  const r = await simReactor();
  const t = new Tuner(r);
  const open = adminHandler(t);
  const ok = open(req("GET", "/admin/settings"));
  assert.is(ok.status, 200);
  assert.is(ok.headers!["content-type"], "application/json; charset=utf-8");
  const body = JSON.parse(ok.body);
  assert.is(body.settings.acceptsPerTurn, 128);
  assert.match(body.notLive.edgeTriggered, /trigger mode/);
  assert.is(open(req("GET", "/admin/settings", { from: "::1" })).status, 200);
  assert.is(open(req("GET", "/admin/settings", { from: "::ffff:127.0.0.5" })).status, 200);
  // An address from a PROXY header is a claim, not a loopback peer (host/ops/http.ts sets proxied).
  const claimed = open({ ...req("GET", "/admin/settings"), proxied: true });
  assert.is(claimed.status, 403);
  assert.match(JSON.parse(claimed.body).error, /PROXY header \(127\.0\.0\.1\) proves nothing; configure a token/);
  const remote = open(req("GET", "/admin/settings", { from: "10.1.2.3" }));
  assert.is(remote.status, 403);
  assert.match(JSON.parse(remote.body).error, /loopback peers only \(this one is 10\.1\.2\.3\); configure a token/);

  const token = "s3cret-token-0123456789";
  const guarded = adminHandler(t, { token });
  const bearer = (v: string) => ({ authorization: `Bearer ${v}` });
  assert.is(guarded(req("GET", "/admin/tune", { from: "10.1.2.3", headers: bearer(token) })).status, 200, "remote with the token");
  assert.is(guarded(req("GET", "/admin/tune", { headers: { Authorization: `bearer ${token}` } })).status, 200, "header names and the scheme in any case");
  assert.is(guarded({ ...req("GET", "/admin/tune", { headers: bearer(token) }), proxied: true }).status, 200, "behind a PROXY header, with the token");
  const none = guarded(req("GET", "/admin/tune"));
  assert.is(none.status, 401, "with a token configured, loopback needs it too");
  assert.is(none.headers!["www-authenticate"], 'Bearer realm="wasm-reactor admin"');
  assert.is(guarded(req("GET", "/admin/tune", { from: "10.1.2.3", headers: bearer(token.slice(0, -1) + "X") })).status, 401, "one byte wrong");
  assert.is(guarded(req("GET", "/admin/tune", { headers: bearer(token + "X") })).status, 401, "one byte more");
  assert.match(JSON.parse(guarded(req("GET", "/admin/tune", { headers: bearer("nope") })).body).error, /wrong admin token/);
  const local = adminHandler(t, { token, allowRemote: false });
  assert.is(local(req("GET", "/admin/tune", { from: "192.168.0.9", headers: bearer(token) })).status, 403);
  assert.is(local(req("GET", "/admin/tune", { headers: bearer(token) })).status, 200);

  for (const [o, re] of [[{ allowRemote: true }, /allowRemote needs a token/], [{ token: "short" }, /at least 16 characters, got 5 characters/]] as const) {
    try { adminHandler(t, o); assert.unreachable(); }
    catch (err) { assert.is((err as { code?: string }).code, "ERR_INVALID_OPTION"); assert.match((err as Error).message, re); }
  }
  t.close();
  await closeClean(r);
});

test("admin handler: tune, status, rollback; bad bodies are 400, a busy tuner 409", async () => {
  const r = await simReactor();
  const t = new Tuner(r);
  const h = adminHandler(t);
  const call = (method: string, path: string, body?: string) => { const res = h(req(method, path, { body })); return { status: res.status, json: JSON.parse(res.body), headers: res.headers }; };
  assert.is(call("GET", "/admin/tune").json.state, "idle");
  for (const [body, re] of [
    ["{", /the body is not JSON/],
    ["[1]", /must be a JSON object, got an array/],
    ['{"acceptsPerTurn": 8}', /the body needs "settings"/],
    ['{"settings": {"nope": 1}}', /unknown setting 'nope'/],
    ['{"settings": {"acceptsPerTurn": -1}}', /option 'acceptsPerTurn' must be an integer from 1 to 65536, got -1/],
    ['{"settings": {"acceptsPerTurn": 8}, "windowMs": "soon"}', /watch option 'windowMs' must be an integer/],
  ] as const) {
    const res = call("POST", "/admin/tune", body);
    assert.is(res.status, 400, body);
    assert.match(res.json.error, re);
    assert.not.match(res.json.error, /^wasm-reactor: /);
  }
  const posted = call("POST", "/admin/tune", '{"settings": {"acceptsPerTurn": 8, "readsPerConnPerTurn": 2}, "windowMs": 500}');
  assert.is(posted.status, 202);
  assert.is(posted.json.id, 1);
  assert.is(posted.json.status.state, "watching");
  assert.equal(posted.json.status.previous, { acceptsPerTurn: 128, readsPerConnPerTurn: 4 });
  assert.is(call("POST", "/admin/tune", '{"settings": {"acceptsPerTurn": 9}}').status, 409);
  const status = call("GET", "/admin/tune?verbose=1");
  assert.is(status.json.settings.acceptsPerTurn, 8);
  assert.is(status.json.endsAtMs, status.json.appliedAtMs + 500);
  const back = call("POST", "/admin/rollback");
  assert.is(back.status, 200);
  assert.is(back.json.status.state, "rolled-back");
  assert.is(back.json.status.settings.acceptsPerTurn, 128);
  assert.match(back.json.status.reason, /rolled back through the admin endpoint; settings back to acceptsPerTurn 128, readsPerConnPerTurn 4/);
  assert.is(call("POST", "/admin/rollback").status, 409);
  const wrong = call("DELETE", "/admin/tune");
  assert.is(wrong.status, 405);
  assert.is(wrong.headers!.allow, "GET, POST");
  assert.is(call("GET", "/admin/nothing").status, 404);
  assert.is(h(req("POST", "/admin/tune", { body: "x".repeat(70_000) })).status, 413);
  // Mounted on a server on the same reactor, the handler runs inside a turn: 202 at once, the
  // change written at the turn's end.
  let inTurn: { status: number; json: { status: { pending?: string; settings: { acceptsPerTurn: number } } } } | undefined;
  r.listen({ port: 8 }, { data(c) { inTurn = call("POST", "/admin/tune", '{"settings": {"acceptsPerTurn": 16}}'); c.close(); } });
  r.sim!.connect(8).send("POST /admin/tune");
  runUntil(r, () => inTurn !== undefined, "the request was handled");
  assert.is(inTurn!.status, 202);
  assert.is(inTurn!.json.status.pending, "apply");
  assert.is(inTurn!.json.status.settings.acceptsPerTurn, 128, "not written inside the turn");
  assert.is(call("GET", "/admin/tune").json.settings.acceptsPerTurn, 16, "written at its end");
  t.close();
  await closeClean(r);
});

test.run();
