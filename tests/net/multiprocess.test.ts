// runtimes: node
// Past one process's descriptor limit (docs/scaling.md): three `wasm-reactor serve --reuse-port`
// processes share one port, and four client processes together open and HOLD 30,000
// connections at once, more than any one process here may have open (RLIMIT_NOFILE hard 20,000).
// Node only: it orchestrates processes (servers started with node, the CLI's shebang; clients
// in C), whatever runtime the library would run on.
//
// How it works:
//   1. The client is tests/bench/loadgen.c in its hold mode, built with `cc -O2` into
//      build/net/loadgen (skipped, with one line, where there is no C compiler). Each client
//      process opens PER_CLIENT connections (well under its own descriptor limit) from 32 source
//      addresses 127.0.0.2..33 (IP_BIND_ADDRESS_NO_PORT: no ephemeral port exhaustion), at most
//      128 handshakes in flight, and counts a connection only once one 64-byte echo came back
//      (proof that a server accepted it, not only that the kernel queued it). It prints
//      {"event":"held"} when all are established, holds them until its stdin closes, then closes
//      them and prints its report (errors by kind, connections still open at the end).
//   2. Server 0 takes a free port (port 0) with SO_REUSEPORT; servers 1 and 2 join it. The kernel
//      spreads new connections over the three listeners by a hash of the 4-tuple. Each server's
//      reactor thread is pinned (--cpus) to one of the CPUs this process may use, in turn.
//   3. Held: every client has its connections; each server's status line (its reactor's own
//      count) must show its share, the shares summing to TOTAL, and each server's descriptor
//      table (/proc/PID/fd) must hold them: none lost, none refused, more than one process may.
//   4. Released: the clients close; each server's count falls to 0 and its descriptor table
//      back to where it was before the load; then SIGTERM, and each server's JSON report must
//      say no descriptor leaked, as many closed as opened, and the accepts sum to TOTAL.
// Every wait has a deadline; the children are killed by PID at the end whatever happened.
import { suite } from "uvu";
import * as assert from "uvu/assert";
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { existsSync, mkdirSync, readdirSync, readFileSync, statSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { onLines } from "../helpers/lines.ts";
import { skip } from "../helpers/skip.ts";

const test = suite("net: several serve processes share one port past one process's descriptor limit");
const path = (p: string) => fileURLToPath(new URL(`../../${p}`, import.meta.url));
const CLI = path("dist/cli.js");
const LOADGEN = { src: path("tests/bench/loadgen.c"), bin: path("build/net/loadgen") };

const SERVERS = 3;
const CLIENTS = 4;
const PER_CLIENT = 7_500;
const TOTAL = CLIENTS * PER_CLIENT; // 30,000: more than the 20,000 one process may open here
/** Each phase's deadline: the whole test takes ~10 s on this 2-core machine. */
const START_MS = 15_000, HOLD_MS = 30_000, SETTLE_MS = 15_000;

const children = new Set<ChildProcess>();
test.after(() => { for (const c of children) { try { process.kill(c.pid!, "SIGKILL"); } catch { /* gone */ } } });

/** A child whose output is kept line by line. */
interface Child { child: ChildProcess; lines: string[]; exited: Promise<number | null> }
function start(cmd: string, args: string[], stdin: "pipe" | "ignore"): Child {
  const child = spawn(cmd, args, { stdio: [stdin, "pipe", "pipe"] });
  children.add(child);
  const lines: string[] = [];
  onLines(child.stdout!, (l) => lines.push(l));
  onLines(child.stderr!, (l) => lines.push(l));
  // "close", not "exit": after the last line of output has been read.
  const exited = new Promise<number | null>((r) => child.on("close", (code) => { children.delete(child); r(code); }));
  return { child, lines, exited };
}

async function until<T>(what: string, ms: number, probe: () => T | undefined | false, out: () => string = () => ""): Promise<T> {
  const t0 = Date.now();
  for (;;) {
    const v = probe();
    if (v !== undefined && v !== false) return v;
    if (Date.now() - t0 > ms) throw new Error(`${what}: not within ${ms} ms\n${out()}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** The limit of a process (from /proc/PID/limits): [soft, hard] of "Max open files". */
function nofile(pid: number | "self"): [number, number] {
  const m = /^Max open files\s+(\S+)\s+(\S+)/m.exec(readFileSync(`/proc/${pid}/limits`, "utf8"));
  const n = (s: string | undefined) => (s === undefined || s === "unlimited" ? Infinity : Number(s));
  return [n(m?.[1]), n(m?.[2])];
}
const fdCount = (pid: number) => readdirSync(`/proc/${pid}/fd`).length;
const rssMiB = (pid: number) => Number(/^VmRSS:\s+(\d+) kB/m.exec(readFileSync(`/proc/${pid}/status`, "utf8"))![1]) / 1024;
/** The last status line's connection count ("[   3 s] connections 10,012 | ..."). */
function connections(s: Child): number | undefined {
  for (let i = s.lines.length - 1; i >= 0; i--) {
    const m = /^\[\s*\d+ s\] connections ([\d,]+) \|/.exec(s.lines[i]);
    if (m) return Number(m[1].replaceAll(",", ""));
  }
  return undefined;
}
/** The first status line written after `after` lines (a fresh reading). */
function connectionsAfter(s: Child, after: number): number | undefined {
  return connections({ ...s, lines: s.lines.slice(after) });
}

/** The last line of a child's output that is a JSON object (its report). */
function lastJson(c: Child): unknown {
  const line = [...c.lines].reverse().find((l) => l.startsWith("{"));
  if (line === undefined) throw new Error(`no JSON report in:\n${c.lines.slice(-5).join("\n")}`);
  return JSON.parse(line);
}

/** Builds the hold client when its source is newer; a reason to skip when it cannot. */
function buildLoadgen(): string | undefined {
  if (!existsSync(LOADGEN.src)) return `the hold client's source ${LOADGEN.src} is missing`;
  if (existsSync(LOADGEN.bin) && statSync(LOADGEN.bin).mtimeMs >= statSync(LOADGEN.src).mtimeMs) return undefined;
  mkdirSync(path("build/net"), { recursive: true });
  const cc = process.env.CC || "cc";
  const r = spawnSync(cc, ["-O2", "-o", LOADGEN.bin, LOADGEN.src], { encoding: "utf8", timeout: 60_000 });
  if (r.error) return `no C compiler to build the hold client ('${cc}': ${r.error.message})`;
  if (r.status !== 0) throw new Error(`building ${LOADGEN.src} failed:\n${r.stderr}`);
  return undefined;
}

test("3 serve --reuse-port processes on one port hold 30,000 connections from 4 client processes at once; none lost, none refused, none leaked", async () => {
  if (process.platform !== "linux") return skip(`serve's epoll host and /proc are Linux's (this is ${process.platform})`);
  const [, hard] = nofile("self");
  const perServer = Math.ceil((TOTAL / SERVERS) * 1.15) + 64; // the kernel's spread is a hash, not exact
  if (hard < perServer || hard < PER_CLIENT + 16) return skip(`RLIMIT_NOFILE hard limit ${hard} is below what one process needs here (${Math.max(perServer, PER_CLIENT + 16)})`);
  const why = buildLoadgen();
  if (why) return skip(why);

  // 2. Servers: the first picks the port, the others join it.
  const serveArgs = ["serve", "--reuse-port", "--warmup", "0", "--status-ms", "200", "--drain-ms", "2000", "--json"];
  const listening = (s: Child) => s.lines.map((l) => /^listening on 127\.0\.0\.1:(\d+)$/.exec(l)).find((m) => m)?.[1];
  const allowed = /^Cpus_allowed_list:\s*(\d+)(?:-(\d+))?/m.exec(readFileSync("/proc/self/status", "utf8"))!;
  const cpuOf = (i: number) => Number(allowed[1]) + (i % (Number(allowed[2] ?? allowed[1]) - Number(allowed[1]) + 1));
  const s0 = start(process.execPath, [CLI, ...serveArgs, "--cpus", String(cpuOf(0)), "--port", "0"], "ignore");
  const port = Number(await until("server 0 listening", START_MS, () => listening(s0), () => s0.lines.join("\n")));
  const servers = [s0];
  for (let i = 1; i < SERVERS; i++) servers.push(start(process.execPath, [CLI, ...serveArgs, "--cpus", String(cpuOf(i)), "--port", String(port)], "ignore"));
  for (const [i, s] of servers.entries()) {
    await until(`server ${i} listening on ${port}`, START_MS, () => listening(s) === String(port) && s.lines.some((l) => l.startsWith("[")), () => s.lines.join("\n"));
    assert.ok(s.lines.some((l) => l.includes(`port shared with other processes (SO_REUSEPORT); threads on CPUs ${cpuOf(i)};`)), `server ${i}'s banner: shared port, pinned to CPU ${cpuOf(i)}: ${s.lines.join("\n")}`);
  }
  const pids = servers.map((s) => s.child.pid!);
  const fdsBefore = pids.map(fdCount);
  for (const pid of pids) assert.ok(nofile(pid)[1] < TOTAL, `server ${pid} may not open ${TOTAL} descriptors on its own (hard limit ${nofile(pid)[1]})`);

  // 1. Clients: each holds PER_CLIENT connections until its stdin closes.
  const t0 = Date.now();
  const clients = Array.from({ length: CLIENTS }, () => start(LOADGEN.bin, ["--host", "127.0.0.1", "--port", String(port), "--mode", "hold",
    "--conns", String(PER_CLIENT), "--sources", "32", "--max-handshakes", "128", "--ramp-timeout-s", "30", "--seconds", String(HOLD_MS / 1000)], "pipe"));
  const clientOut = () => clients.map((c, i) => `client ${i}: ${c.lines.join("\n")}`).join("\n");
  const held = await until("every client holding its connections", HOLD_MS, () => {
    const ev = clients.map((c) => c.lines.map((l) => { try { return JSON.parse(l) as { event?: string; conns?: number }; } catch { return undefined; } }).find((o) => o?.event === "held"));
    return ev.every((e) => e) ? ev.map((e) => e!.conns!) : undefined;
  }, clientOut);
  const rampMs = Date.now() - t0;
  assert.equal(held, clients.map(() => PER_CLIENT), "every client established all its connections (each one echoed once)");

  // 3. Held at once: the servers' own counts (a status line written after the last client was done) and their descriptor tables.
  const mark = servers.map((s) => s.lines.length);
  const counts = await until(`the servers' connections summing to ${TOTAL}`, SETTLE_MS, () => {
    const c = servers.map((s, i) => connectionsAfter(s, mark[i]));
    return c.every((n) => n !== undefined) && c.reduce((a, b) => a + b!, 0) === TOTAL ? (c as number[]) : undefined;
  }, () => servers.map((s) => s.lines.slice(-2).join("\n")).join("\n"));
  const fdsHeld = pids.map(fdCount);
  const rss = pids.map(rssMiB);
  for (let i = 0; i < SERVERS; i++) {
    assert.ok(counts[i] > 0 && counts[i] < nofile(pids[i])[1], `server ${i} holds a share under its own limit (${counts[i]})`);
    assert.ok(fdsHeld[i] >= fdsBefore[i] + counts[i], `server ${i}'s descriptor table holds its ${counts[i]} connections (${fdsHeld[i]} open, ${fdsBefore[i]} before)`);
  }
  console.log(`\n  held ${TOTAL} connections at once (${counts.join(" + ")}), ramp ${rampMs} ms from ${CLIENTS} clients; server RSS ${rss.map((r) => `${r.toFixed(1)} MiB`).join(", ")}; descriptors open ${fdsHeld.join(", ")}`);

  // 4. Released: clients close theirs and report; every server's count and table go back.
  for (const c of clients) c.child.stdin!.end();
  const codes = await Promise.all(clients.map((c) => c.exited));
  for (const [i, c] of clients.entries()) {
    assert.is(codes[i], 0, `client ${i} exit status: ${c.lines.join("\n")}`);
    const rep = lastJson(c) as { established: number; errors: number; openAtEnd: number; rampTimedOut: boolean };
    assert.is(rep.errors, 0, `client ${i}: no connection refused, reset or timed out: ${c.lines.at(-1)}`);
    assert.is(rep.openAtEnd, PER_CLIENT, `client ${i}: none lost while held`);
  }
  const mark2 = servers.map((s) => s.lines.length);
  await until("every server back to 0 connections", SETTLE_MS, () => servers.every((s, i) => connectionsAfter(s, mark2[i]) === 0));
  await until("every server's descriptor table back to before the load", SETTLE_MS, () => pids.every((pid, i) => fdCount(pid) <= fdsBefore[i]),
    () => `before ${fdsBefore.join(", ")}, now ${pids.map(fdCount).join(", ")}`);

  for (const s of servers) process.kill(s.child.pid!, "SIGTERM");
  const exits = await Promise.all(servers.map((s) => Promise.race([s.exited, new Promise((r) => setTimeout(() => r("timeout"), SETTLE_MS).unref())])));
  let accepts = 0;
  for (const [i, s] of servers.entries()) {
    assert.is(exits[i], 0, `server ${i} exit status (1: descriptors leaked): ${s.lines.slice(-3).join("\n")}`);
    const rep = lastJson(s) as { leakedDescriptors: number; accepts: number; fdOpens: number; fdCloses: number };
    assert.is(rep.leakedDescriptors, 0, `server ${i}: no descriptor leaked`);
    assert.is(rep.fdOpens, rep.fdCloses, `server ${i}: every descriptor it opened closed`);
    assert.is(rep.accepts, counts[i], `server ${i}: it accepted exactly the connections it held`);
    accepts += rep.accepts;
  }
  assert.is(accepts, TOTAL, "the servers accepted every connection once, together");
});

test.run();
