// Record and replay (host/trace/): a trace of a run replays identically on a fresh core, on
// every runtime; a truncated, corrupt, other-version, other-layout or other-core trace is refused
// with a clear error naming the byte offset or the version; a tampered trace diverges at the turn it changed.
import { suite } from "uvu";
import * as assert from "uvu/assert";
import { readFileSync, writeFileSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Reactor, replayFile, readTrace, TraceFormatError, type ReactorError } from "../../host/index.ts";
import { K } from "../../host/core/layout.ts";
import { T_CALL, T_INPUT, T_TURN } from "../../host/trace/trace.ts";

const test = suite("api: record and replay");
const dir = mkdtempSync(join(tmpdir(), "wr-trace-"));
test.after(() => rmSync(dir, { recursive: true, force: true }));

/** A faulty simulated echo run, recorded; returns the trace path and the turns recorded. */
async function recordRun(name: string, extra: Record<string, unknown> = {}): Promise<{ path: string; turns: number; lines: string[] }> {
  const path = join(dir, name);
  const lines: string[] = [];
  const r = await Reactor.create({
    host: "sim", build: "debug", seed: 11, maxConnections: 128, poolChunks: 64, chunkSize: 2048, lingerMs: 200, idleTimeoutMs: 500,
    log: (l) => lines.push(l), record: { path, ...extra },
    sim: { windowBytes: 4096, faults: { readPartialProbability: 0.05, writePartialProbability: 0.05, writeEagainProbability: 0.05, resetProbability: 0.003, acceptEmfileProbability: 0.02, clockJumpProbability: 0.01, clockJumpMaxMs: 300 } },
  });
  const sim = r.sim!;
  r.listen({ port: 7 }, { data(c, d) { if (c.writable) c.write(d); } });
  const t = r.setTimeout(() => {}, 50);
  r.clearTimeout(t);
  r.setTimeout(() => {}, 120);
  for (let i = 0; i < 40; i++) {
    const p = sim.connect(7);
    if (p.state === "refused") continue;
    p.send(new Uint8Array(200 + 97 * i).fill(i));
    if (i % 5 === 0) sim.schedule(sim.nowMs + 30 + i, () => { if (p.state === "open") p.end(); });
  }
  r.runFor(1_500);
  await r.close({ drainMs: 300 });
  return { path, turns: r.recorder!.turns, lines };
}

test("a recorded simulator run with faults replays identically, turn by turn", async () => {
  const { path, turns } = await recordRun("run.trace");
  assert.ok(turns > 20, `recorded ${turns} turns`);
  const res = await replayFile(path);
  assert.ok(res.identical, JSON.stringify(res.divergence));
  assert.is(res.turns, turns);
  assert.ok(res.calls > turns * 2);
  assert.is(res.core.exports.checkInvariants(), 0);
});

test("--until: a replay stops after the turn asked for", async () => {
  const { path } = await recordRun("until.trace");
  const res = await replayFile(path, { untilTurn: 7 });
  assert.ok(res.identical);
  assert.is(res.turns, 7);
});

test("a truncated trace is refused with the byte offset, never a partial replay", async () => {
  const { path } = await recordRun("full.trace");
  const bytes = readFileSync(path);
  for (const cut of [5, 15, 40, Math.floor(bytes.length / 2), bytes.length - 1]) {
    const p = join(dir, `cut-${cut}.trace`);
    writeFileSync(p, bytes.subarray(0, cut));
    try { await replayFile(p); assert.unreachable(`a ${cut}-byte copy should be refused`); }
    catch (err) {
      assert.is((err as ReactorError).code, "ERR_TRACE");
      assert.match((err as Error).message, new RegExp(`is truncated at byte ${cut}`));
    }
  }
});

test("another format version, bad magic, a corrupt header or record tag: each named", async () => {
  const { path } = await recordRun("v.trace");
  const bytes = new Uint8Array(readFileSync(path));
  const cases: [string, (b: Uint8Array) => void, RegExp][] = [
    ["version", (b) => { new DataView(b.buffer).setUint32(8, 9, true); }, /is trace format version 9; this build reads version 3: record it again/],
    ["version 2", (b) => { new DataView(b.buffer).setUint32(8, 2, true); }, /is trace format version 2 \(written before traces named their memory layout, so its event records cannot be trusted here\); this build reads version 3: record it again with this build/],
    ["magic", (b) => { b[0] = 0x58; }, /is not a wasm-reactor trace \(bad magic at byte 0\)/],
    ["header", (b) => { b[16] = 0xff; }, /has a corrupt header at byte 16/],
    ["tag", (b) => { const h = new DataView(b.buffer).getUint32(12, true); b[16 + h] = 99; }, /is corrupt at byte \d+: unknown record tag 99/],
  ];
  for (const [name, mutate, re] of cases) {
    const b = bytes.slice();
    mutate(b);
    const p = join(dir, `bad-${name}.trace`);
    writeFileSync(p, b);
    try { await replayFile(p); assert.unreachable(`${name} should be refused`); }
    catch (err) { assert.is((err as ReactorError).code, "ERR_TRACE", name); assert.match((err as Error).message, re, name); }
  }
});

test("a trace from a different core is refused unless forced", async () => {
  const { path } = await recordRun("core.trace");
  const bytes = new Uint8Array(readFileSync(path));
  const dv = new DataView(bytes.buffer);
  const hlen = dv.getUint32(12, true);
  const header = JSON.parse(new TextDecoder().decode(bytes.subarray(16, 16 + hlen)));
  header.coreHash = "0".repeat(64);
  const json = new TextEncoder().encode(JSON.stringify(header));
  assert.is(json.length, hlen);
  bytes.set(json, 16);
  const p = join(dir, "other-core.trace");
  writeFileSync(p, bytes);
  try { await replayFile(p); assert.unreachable("should be refused"); }
  catch (err) { assert.is((err as ReactorError).code, "ERR_TRACE"); assert.match((err as Error).message, /was recorded with a different debug core \(sha256 000000000000…/); }
  assert.ok((await replayFile(p, { force: true })).identical);
});

/** The trace at `path` with its JSON header rewritten by `edit` (which must keep its length). */
function withHeader(path: string, name: string, edit: (h: Record<string, unknown>) => void): string {
  const bytes = new Uint8Array(readFileSync(path));
  const hlen = new DataView(bytes.buffer).getUint32(12, true);
  const header = JSON.parse(new TextDecoder().decode(bytes.subarray(16, 16 + hlen)));
  edit(header);
  const json = new TextEncoder().encode(JSON.stringify(header).padEnd(hlen, " "));
  assert.is(json.length, hlen, "the edited header keeps its length");
  bytes.set(json, 16);
  const p = join(dir, name);
  writeFileSync(p, bytes);
  return p;
}

test("a trace recorded under another memory layout is refused, even with force, naming both layouts", async () => {
  const { path } = await recordRun("layout.trace");
  const mine = readTrace(readFileSync(path)).header.layoutVersion;
  assert.is(mine, K.LAYOUT_VERSION, "the header names the recording core's layout");
  const other = (mine ^ 0x5a5a5a5a) >>> 0;
  const hex = (v: number) => "0x" + v.toString(16).padStart(8, "0");
  const p = withHeader(path, "other-layout.trace", (h) => { h.layoutVersion = other; delete h.createdAt; });
  for (const force of [false, true]) {
    try { await replayFile(p, { force }); assert.unreachable(`refused (force: ${force})`); }
    catch (err) {
      assert.instance(err, TraceFormatError);
      assert.is((err as ReactorError).code, "ERR_TRACE");
      assert.match((err as Error).message, `was recorded under memory layout ${hex(other)}, and this build's layout is ${hex(mine)}: its event records would be misread`);
      assert.match((err as Error).message, /record it again with this build/);
    }
  }
  const none = withHeader(path, "no-layout.trace", (h) => { delete h.layoutVersion; });
  try { await replayFile(none, { force: true }); assert.unreachable("refused"); }
  catch (err) { assert.match((err as Error).message, /has a corrupt header at byte 16: it names no memory layout/); }
});

test("a tampered trace diverges at the turn it changed, and says what differed", async () => {
  const { path } = await recordRun("tamper.trace");
  const bytes = new Uint8Array(readFileSync(path));
  const { records } = readTrace(bytes);
  // 1. A recorded result: the replay's call returns something else.
  const call = records.find((r) => r.tag === T_CALL && (r.body.getUint8(0) & 0x7f) === 4 /* appAcquire */) ?? records.filter((r) => r.tag === T_CALL)[40];
  const b1 = bytes.slice();
  const argc = call.body.getUint8(1);
  new DataView(b1.buffer).setUint32(call.offset + 5 + 2 + argc * 4, 12345, true);
  writeFileSync(join(dir, "t1.trace"), b1);
  const r1 = await replayFile(join(dir, "t1.trace"));
  assert.not.ok(r1.identical);
  assert.match(r1.divergence!.what, /returned .*; the recorded run got 12345/);
  // 2. An event the host reported: a read error instead of what happened.
  // The first INPUT that brings events (mask bit 1); its events follow the cursors it lists.
  const input = records.find((r) => r.tag === T_INPUT && (r.body.getUint8(0) & 1) !== 0)!;
  const mask = input.body.getUint8(0);
  const cursors = [1, 2, 4, 8].filter((w) => mask & w).length;
  const b2 = bytes.slice();
  const ev = input.offset + 5 + 1 + cursors * 4;
  b2[ev] = 4; // EV_READ_ERROR
  new DataView(b2.buffer).setUint16(ev + 2, 104, true); // ECONNRESET
  writeFileSync(join(dir, "t2.trace"), b2);
  const r2 = await replayFile(join(dir, "t2.trace"));
  assert.not.ok(r2.identical);
  assert.ok(r2.divergence!.turn >= 1);
});

test("with outputs recorded, a divergence says which submission or note differed", async () => {
  const { path } = await recordRun("outputs.trace", { outputs: true });
  assert.ok((await replayFile(path)).identical);
  const bytes = new Uint8Array(readFileSync(path));
  const { records } = readTrace(bytes);
  // A turn whose recorded notes we alter (as if the recorded core had behaved differently).
  const turn = records.find((r) => r.tag === T_TURN && r.body.byteLength > 12 && r.body.getUint32(12 + r.body.getUint32(8, true) * 4, true) > 0)!;
  const b = bytes.slice();
  const dv = new DataView(b.buffer, turn.offset + 5);
  const subsWords = dv.getUint32(8, true);
  const note0 = 12 + subsWords * 4 + 4;
  dv.setUint32(4, 0, true); // the recorded hash no longer matches
  dv.setUint8(note0, 6); // its first note was an ERROR
  writeFileSync(join(dir, "outputs-tampered.trace"), b);
  const r = await replayFile(join(dir, "outputs-tampered.trace"));
  assert.not.ok(r.identical);
  assert.match(r.divergence!.what, /note #1 of the turn: recorded note ERROR .*; replayed note \w+ slot \d+ gen \d+/, r.divergence!.what);
});

test("recording stops at maxBytes with a log line; what was written still replays", async () => {
  const { path, lines } = await recordRun("small.trace", { maxBytes: 4096 });
  assert.ok(lines.some((l) => /reached its limit of 4096 bytes; recording stopped/.test(l)), lines.join("\n"));
  assert.ok(readFileSync(path).length <= 4096);
  const res = await replayFile(path);
  assert.ok(res.identical);
  assert.ok(res.turns >= 1);
});

test("a bad record option is refused clearly", async () => {
  for (const [rec, re] of [[{}, /option 'record' needs \{ path: string, maxBytes\?: number \}/], [{ path: join(dir, "x"), maxBytes: 5 }, /record.maxBytes must be an integer of at least 1024, got 5/], [{ path: join(dir, "no/such/dir/x") }, /cannot open the trace file/]] as const) {
    try { await Reactor.create({ host: "sim", record: rec as never }); assert.unreachable(); }
    catch (err) { assert.is((err as ReactorError).code, "ERR_INVALID_OPTION"); assert.match((err as Error).message, re); }
  }
});

test.run();
