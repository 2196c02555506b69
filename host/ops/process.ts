// The process's own figures for the metrics endpoint (CPU, RSS, uptime) and the kernel's
// host-wide accept-queue counters, read the same way on Node, Deno and Bun.
//
// CPU and RSS: process.cpuUsage() and process.memoryUsage.rss() exist in Node, Bun and Deno 2
// (its node:process; checked with Deno 2.9.6, Bun 1.4.5, Node 20). Where they are missing (an
// older Deno, another embedder) Deno.memoryUsage() gives RSS and, on Linux, /proc/self/stat
// gives CPU time (utime, stime in clock ticks: USER_HZ is 100 on every Linux ABI we run on);
// failing all of these the figure is 0 and `cpuSource` says "none".
//
// ListenOverflows / ListenDrops: /proc/net/netstat's TcpExt line (Linux). They are host-wide
// (every process's listeners in this network namespace), not ours alone: a rise says some
// accept queue overflowed here; `ss -lnt` (Recv-Q against Send-Q) says which. Read with one
// synchronous pread on a descriptor kept open (procfs generates the file in memory: no disk
// wait, so a scrape is never parked on a promise): ~70 µs here against ~250 µs for
// readFileSync's open/fstat/read/close each scrape. One descriptor for the process's life,
// inside the budget's reserve. Elsewhere (macOS, FreeBSD) the counters are absent.
import { openSync, readSync, readFileSync } from "node:fs";
import type { KernelFigures, ProcessFigures } from "../core/metrics.ts";

interface ProcLike {
  pid?: number; uptime?(): number;
  cpuUsage?(): { user: number; system: number };
  memoryUsage?: { (): { rss: number }; rss?(): number };
}
const g = globalThis as { process?: ProcLike; Deno?: { memoryUsage?(): { rss: number }; pid?: number; version?: { deno: string } }; Bun?: { version: string } };
const RUNTIME = g.Deno ? `deno ${g.Deno.version?.deno ?? ""}`.trim() : g.Bun ? `bun ${g.Bun.version}` : `node ${(globalThis as { process?: { version?: string } }).process?.version ?? ""}`.trim();
const T0 = Date.now() - ((g.process?.uptime?.() ?? 0) * 1000);

/** The process's pid, RSS, CPU time (µs), uptime (s) and runtime, read now. */
export function processFigures(): ProcessFigures {
  const p = g.process;
  let rssBytes = 0, cpuUserUs = 0, cpuSystemUs = 0;
  try {
    if (p?.memoryUsage?.rss) rssBytes = p.memoryUsage.rss();
    else if (p?.memoryUsage) rssBytes = p.memoryUsage().rss;
    else if (g.Deno?.memoryUsage) rssBytes = g.Deno.memoryUsage().rss;
  } catch { /* left 0 */ }
  try {
    if (p?.cpuUsage) { const c = p.cpuUsage(); cpuUserUs = c.user; cpuSystemUs = c.system; }
    else { const c = procSelfCpu(); if (c) { cpuUserUs = c[0]; cpuSystemUs = c[1]; } }
  } catch { /* left 0 */ }
  const uptimeS = p?.uptime ? p.uptime() : (Date.now() - T0) / 1000;
  return { pid: p?.pid ?? g.Deno?.pid ?? 0, rssBytes, cpuUserUs, cpuSystemUs, uptimeS: Math.round(uptimeS * 1000) / 1000, runtime: RUNTIME, startTimeS: Math.round(T0 / 10) / 100 };
}

/** /proc/self/stat's utime and stime (fields 14, 15) in µs, or undefined off Linux. */
function procSelfCpu(): [number, number] | undefined {
  let s: string;
  try { s = readFileSync("/proc/self/stat", "utf8"); } catch { return undefined; }
  const f = s.slice(s.lastIndexOf(")") + 2).split(" "); // fields from 3 on (comm may hold spaces)
  return [Number(f[11]) * 10_000, Number(f[12]) * 10_000];
}

let netstatFd: number | undefined;
let netstatReadable = true;
let netstatBuf: Uint8Array | undefined;
const ascii = new TextDecoder(); // the file is ASCII; utf-8 is the one label every runtime has
/** TcpExt ListenOverflows and ListenDrops (Linux, host-wide), or undefined where unreadable. */
export function kernelFigures(): KernelFigures | undefined {
  if (!netstatReadable) return undefined;
  try {
    netstatFd ??= openSync("/proc/net/netstat", "r");
    netstatBuf ??= new Uint8Array(16384);
    let n = readSync(netstatFd, netstatBuf, 0, netstatBuf.length, 0);
    if (n === netstatBuf.length) { netstatBuf = new Uint8Array(netstatBuf.length * 4); n = readSync(netstatFd, netstatBuf, 0, netstatBuf.length, 0); }
    return parseNetstat(ascii.decode(netstatBuf.subarray(0, n)));
  } catch {
    netstatReadable = false; // not Linux, or no permission (Deno without --allow-read): absent from now on
    return undefined;
  }
}

/** The TcpExt header and value lines of /proc/net/netstat → the two counters (exported for tests). */
export function parseNetstat(text: string): KernelFigures | undefined {
  const lines = text.split("\n");
  for (let i = 0; i + 1 < lines.length; i++) {
    if (!lines[i].startsWith("TcpExt:") || !lines[i + 1].startsWith("TcpExt:")) continue;
    const names = lines[i].split(/\s+/), values = lines[i + 1].split(/\s+/);
    const at = (n: string) => { const k = names.indexOf(n); return k > 0 ? Number(values[k]) : NaN; };
    const listenOverflows = at("ListenOverflows"), listenDrops = at("ListenDrops");
    if (Number.isFinite(listenOverflows) && Number.isFinite(listenDrops)) return { listenOverflows, listenDrops };
  }
  return undefined;
}
