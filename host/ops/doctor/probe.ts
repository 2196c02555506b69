// The doctor's eyes: reads the limits and kernel knobs that bound a many-connection server, and
// changes nothing. Every reading is either a value with where it came from, or "unknown" with
// why (a file that is not there, a command that failed): a probe never throws, so one missing
// file cannot hide the rest of the report.
//
// Where each reading comes from:
//   RLIMIT_NOFILE   Linux: /proc/self/limits ("Max open files"); elsewhere `sh -c 'ulimit -Sn;
//                   ulimit -Hn'` (the shell inherits our limits; no runtime exposes getrlimit)
//   sysctls         Linux: /proc/sys/<name with dots as slashes>; macOS/FreeBSD: `sysctl -n name`
//   memory          /proc/meminfo (MemTotal, MemAvailable); elsewhere os.totalmem()/freemem()
//   cgroup          /proc/self/cgroup, then the limits of our group and each of its ancestors
//                   under /sys/fs/cgroup (v2: memory.max, pids.max; v1: memory/…/memory.limit_in_bytes,
//                   pids/…/pids.max): the smallest one on the way up is the one that binds
//   systemd         the unit (.service or .scope) named in /proc/self/cgroup, then
//                   `systemctl show -p LimitNOFILE -p LimitNOFILESoft <unit>`, when systemd runs
//                   (/run/systemd/system exists, as sd_booted(3) checks)
//   network         network.ts (per-core softirqs and interrupts, RPS/RFS/XPS, softnet drops)
//   io_uring        uring.ts (kernel version, kernel.io_uring_disabled, seccomp mode, RLIMIT_MEMLOCK)
//
// Tests point the probe at a fake machine: `root` (or the environment variable
// WASM_REACTOR_DOCTOR_ROOT, read by the CLI only) prefixes every /proc and /sys path, and no
// command is run then (their readings say so). Nothing else reads that variable.
import { spawnSync } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import * as os from "node:os";
import { join } from "node:path";
import { probeNetwork, type NetworkReadings } from "./network.ts";
import { probeUring, type UringReadings } from "./uring.ts";

/** A value and where it came from, or why it could not be read. Infinity means "unlimited". */
export type Reading<T> = { value: T; source: string } | { unknown: string; source: string };

export const known = <T>(r: Reading<T>): r is { value: T; source: string } => "value" in r;
export const valueOf = <T>(r: Reading<T>): T | undefined => ("value" in r ? r.value : undefined);

/** Runs a command; the output, or why it failed (never throws). */
export type Runner = (cmd: string, args: string[]) => { ok: true; out: string } | { ok: false; why: string };

export interface ProbeOptions {
  /** Prefix for every /proc and /sys path (a fake machine in tests); default "/". */
  root?: string;
  /** The OS to probe as (default process.platform); tests probe "darwin" with a fake runner. */
  platform?: string;
  /** How commands run (default: spawnSync with a 5 s bound; under a fake root: none run). */
  run?: Runner;
}

export interface Readings {
  platform: string;
  /** "/" or the fake root the probe read. */
  root: string;
  cpus: number;
  nofileSoft: Reading<number>;
  nofileHard: Reading<number>;
  /** By sysctl name (fs.nr_open, kern.maxfiles, …): the value's numbers (ranges and triples have several). */
  sysctl: Record<string, Reading<number[]>>;
  memTotalBytes: Reading<number>;
  memAvailableBytes: Reading<number>;
  /** Descriptors allocated system-wide now (fs.file-nr's first field). */
  filesInUse: Reading<number>;
  cgroupVersion: Reading<string>;
  cgroupMemoryMaxBytes: Reading<number>;
  cgroupPidsMax: Reading<number>;
  systemdUnit: Reading<string>;
  systemdLimitNofile: Reading<{ soft: number; hard: number }>;
  clocksource: Reading<string>;
  network: NetworkReadings;
  uring: UringReadings;
}

/** The sysctls read on Linux (from /proc/sys) and on macOS/FreeBSD (with `sysctl -n`). */
export const LINUX_SYSCTLS = [
  "fs.nr_open", "fs.file-max", "net.core.somaxconn", "net.ipv4.tcp_max_syn_backlog", "net.ipv4.tcp_syncookies",
  "net.ipv4.ip_local_port_range", "net.ipv4.tcp_tw_reuse", "net.ipv4.tcp_fin_timeout", "net.core.netdev_max_backlog",
  "net.ipv4.tcp_rmem", "net.ipv4.tcp_wmem", "net.ipv4.tcp_mem", "vm.overcommit_memory", "net.core.rps_sock_flow_entries",
] as const;
export const BSD_SYSCTLS = ["kern.maxfiles", "kern.maxfilesperproc", "kern.ipc.somaxconn", "net.inet.ip.portrange.first", "net.inet.ip.portrange.last"] as const;

/** cgroup values at or above this mean "no limit" (v1 writes 2^63 rounded down to a page). */
const CGROUP_UNLIMITED = 2 ** 60;

/** A file under the probe's root: its text, or why it could not be read. */
export class Files {
  constructor(readonly root: string) {}
  path(p: string): string { return this.root === "/" ? p : join(this.root, p); }
  read(p: string): { ok: true; text: string } | { ok: false; why: string } {
    try { return { ok: true, text: readFileSync(this.path(p), "utf8") }; }
    catch (e) { return { ok: false, why: whyNot(e, p) }; }
  }
  exists(p: string): boolean { try { return existsSync(this.path(p)); } catch { return false; } }
}

/** Why a read failed, in a few words ("no such file", "permission denied"). */
export function whyNot(e: unknown, what: string): string {
  const code = (e as { code?: string }).code;
  if (code === "ENOENT") return `${what}: no such file`;
  if (code === "EACCES" || code === "EPERM") return `${what}: permission denied`;
  const name = (e as { name?: string }).name;
  if (name === "NotCapable" || name === "PermissionDenied") return `${what}: Deno refused (run with -A)`;
  return `${what}: ${(e as Error).message?.split("\n")[0] ?? String(e)}`;
}

export function defaultRunner(): Runner {
  return (cmd, args) => {
    try {
      const r = spawnSync(cmd, args, { encoding: "utf8", timeout: 5_000, stdio: ["ignore", "pipe", "pipe"] });
      if (r.error) return { ok: false, why: `${cmd}: ${(r.error as NodeJS.ErrnoException).code === "ENOENT" ? "not installed" : r.error.message}` };
      if (r.status !== 0) return { ok: false, why: `${cmd} ${args.join(" ")}: exit ${r.status}${r.stderr.trim() ? `: ${r.stderr.trim().split("\n")[0]}` : ""}` };
      return { ok: true, out: r.stdout };
    } catch (e) { return { ok: false, why: whyNot(e, cmd) }; }
  };
}

const noCommands: Runner = (cmd) => ({ ok: false, why: `${cmd} not run: the probe reads a fake root` });

/** Reads everything. Never throws. */
export function probe(o: ProbeOptions = {}): Readings {
  const root = o.root ?? "/";
  const platform = o.platform ?? process.platform;
  const run = o.run ?? (root === "/" ? defaultRunner() : noCommands);
  const f = new Files(root);
  const linux = platform === "linux";
  const [nofileSoft, nofileHard] = linux ? nofileLinux(f) : nofileShell(run);
  const sysctl: Record<string, Reading<number[]>> = {};
  if (linux) for (const name of LINUX_SYSCTLS) sysctl[name] = sysctlLinux(f, name);
  else if (platform === "darwin" || platform === "freebsd") for (const name of BSD_SYSCTLS) sysctl[name] = sysctlCommand(run, name);
  const mem = linux ? meminfo(f) : { total: { value: os.totalmem(), source: "os.totalmem()" }, available: { value: os.freemem(), source: "os.freemem()" } };
  const cg = linux ? cgroup(f) : { version: na("cgroups are Linux's"), memory: na("cgroups are Linux's"), pids: na("cgroups are Linux's") };
  const sd = linux ? systemd(f, run) : { unit: na("systemd is Linux's"), limit: na("systemd is Linux's") };
  const network = probeNetwork(f, linux);
  const cpus = network.cpus ?? (root === "/" ? os.cpus().length || 1 : 1);
  return {
    platform, root, cpus, nofileSoft, nofileHard, sysctl,
    memTotalBytes: mem.total, memAvailableBytes: mem.available,
    filesInUse: linux ? filesInUse(f) : na("fs.file-nr is Linux's"),
    cgroupVersion: cg.version, cgroupMemoryMaxBytes: cg.memory, cgroupPidsMax: cg.pids,
    systemdUnit: sd.unit, systemdLimitNofile: sd.limit,
    clocksource: linux ? clocksource(f) : na("the clocksource file is Linux's"),
    network, uring: probeUring(f, linux),
  };
}

function na(why: string): { unknown: string; source: string } { return { unknown: why, source: "-" }; }

/** "unlimited" or a number; undefined when neither. */
function limitNumber(s: string | undefined): number | undefined {
  if (s === undefined) return undefined;
  if (s === "unlimited" || s === "infinity") return Infinity;
  const n = Number(s);
  return Number.isFinite(n) && n >= 0 && s.trim() !== "" ? n : undefined;
}

function nofileLinux(f: Files): [Reading<number>, Reading<number>] {
  const src = "/proc/self/limits";
  const r = f.read(src);
  if (!r.ok) return [{ unknown: r.why, source: src }, { unknown: r.why, source: src }];
  const m = /^Max open files\s+(\S+)\s+(\S+)/m.exec(r.text);
  const soft = limitNumber(m?.[1]), hard = limitNumber(m?.[2]);
  const bad = (which: string): Reading<number> => ({ unknown: `no "Max open files" ${which} limit in ${src}`, source: src });
  return [soft === undefined ? bad("soft") : { value: soft, source: src }, hard === undefined ? bad("hard") : { value: hard, source: src }];
}

function nofileShell(run: Runner): [Reading<number>, Reading<number>] {
  const src = "sh -c 'ulimit -Sn; ulimit -Hn'";
  const r = run("sh", ["-c", "ulimit -Sn; ulimit -Hn"]);
  if (!r.ok) return [{ unknown: r.why, source: src }, { unknown: r.why, source: src }];
  const [s, h] = r.out.trim().split(/\s+/);
  const soft = limitNumber(s), hard = limitNumber(h);
  return [soft === undefined ? { unknown: `unexpected output ${JSON.stringify(r.out.trim())}`, source: src } : { value: soft, source: src },
    hard === undefined ? { unknown: `unexpected output ${JSON.stringify(r.out.trim())}`, source: src } : { value: hard, source: src }];
}

/** Whitespace-separated numbers, or undefined when any part is not one. */
function numbers(text: string): number[] | undefined {
  const parts = text.trim().split(/\s+/);
  if (parts.length === 0 || parts[0] === "") return undefined;
  const ns = parts.map(Number);
  return ns.every((n) => Number.isFinite(n)) ? ns : undefined;
}

export function sysctlLinux(f: Files, name: string): Reading<number[]> {
  const src = `/proc/sys/${name.replaceAll(".", "/")}`;
  const r = f.read(src);
  if (!r.ok) return { unknown: r.why, source: src };
  const ns = numbers(r.text);
  return ns ? { value: ns, source: src } : { unknown: `${src}: not a number: ${JSON.stringify(r.text.trim().slice(0, 40))}`, source: src };
}

function sysctlCommand(run: Runner, name: string): Reading<number[]> {
  const src = `sysctl -n ${name}`;
  const r = run("sysctl", ["-n", name]);
  if (!r.ok) return { unknown: r.why, source: src };
  const ns = numbers(r.out);
  return ns ? { value: ns, source: src } : { unknown: `not a number: ${JSON.stringify(r.out.trim().slice(0, 40))}`, source: src };
}

function meminfo(f: Files): { total: Reading<number>; available: Reading<number> } {
  const src = "/proc/meminfo";
  const r = f.read(src);
  if (!r.ok) return { total: { unknown: r.why, source: src }, available: { unknown: r.why, source: src } };
  const kb = (key: string): Reading<number> => {
    const m = new RegExp(`^${key}:\\s+(\\d+) kB`, "m").exec(r.text);
    return m ? { value: Number(m[1]) * 1024, source: src } : { unknown: `no ${key} line in ${src}`, source: src };
  };
  return { total: kb("MemTotal"), available: kb("MemAvailable") };
}

function filesInUse(f: Files): Reading<number> {
  const src = "/proc/sys/fs/file-nr";
  const r = f.read(src);
  if (!r.ok) return { unknown: r.why, source: src };
  const ns = numbers(r.text);
  return ns ? { value: ns[0], source: src } : { unknown: `${src}: not numbers`, source: src };
}

function clocksource(f: Files): Reading<string> {
  const src = "/sys/devices/system/clocksource/clocksource0/current_clocksource";
  const r = f.read(src);
  return r.ok && r.text.trim() ? { value: r.text.trim(), source: src } : { unknown: r.ok ? `${src} is empty` : r.why, source: src };
}

/** The lines of /proc/self/cgroup: hierarchy id, controllers, path. */
export function parseCgroupFile(text: string): { id: string; controllers: string[]; path: string }[] {
  const out = [];
  for (const line of text.split("\n")) {
    const m = /^(\d+):([^:]*):(.*)$/.exec(line.trim());
    if (m) out.push({ id: m[1], controllers: m[2] ? m[2].split(",") : [], path: m[3] || "/" });
  }
  return out;
}

/** The group's path and each ancestor's, deepest first ("/a/b" → "/a/b", "/a", "/"). */
function upward(path: string): string[] {
  const parts = path.split("/").filter(Boolean);
  const out = [];
  for (let i = parts.length; i >= 0; i--) out.push("/" + parts.slice(0, i).join("/"));
  return out;
}

/**
 * The smallest limit in a file named `file` in the group's directory under `mount` or in any
 * ancestor's. A container sees its own group as the root of the mount while /proc/self/cgroup
 * names the host's path; then only the mount's root exists, and it is the container's limit.
 */
function cgroupLimit(f: Files, mount: string, path: string, file: string): Reading<number> {
  let best = Infinity, where = "", seen = 0;
  for (const p of upward(path)) {
    const src = join(mount, p, file);
    const r = f.read(src);
    if (!r.ok) continue;
    seen++;
    const t = r.text.trim();
    const v = t === "max" ? Infinity : Number(t);
    if (!Number.isFinite(v) && t !== "max") continue;
    const lim = v >= CGROUP_UNLIMITED ? Infinity : v;
    if (lim < best) { best = lim; where = src; }
  }
  if (seen === 0) {
    // The root group has no limit file (v1 and v2 alike): with the controller mounted, none set.
    if (f.exists(mount)) return { value: Infinity, source: `no ${file} in ${join(mount, path)} or its parents: none set` };
    return { unknown: `${mount} is not mounted`, source: join(mount, path, file) };
  }
  return { value: best, source: best === Infinity ? `${join(mount, path, file)} and parents: none set` : where };
}

function cgroup(f: Files): { version: Reading<string>; memory: Reading<number>; pids: Reading<number> } {
  const src = "/proc/self/cgroup";
  const r = f.read(src);
  if (!r.ok) return { version: { unknown: r.why, source: src }, memory: { unknown: r.why, source: src }, pids: { unknown: r.why, source: src } };
  const lines = parseCgroupFile(r.text);
  const v1 = (c: string) => lines.find((l) => l.controllers.includes(c));
  const v2 = lines.find((l) => l.id === "0" && l.controllers.length === 0);
  const mem1 = v1("memory"), pids1 = v1("pids");
  // A controller bound to a v1 hierarchy is read there; otherwise from the v2 tree, which is
  // /sys/fs/cgroup itself (unified) or /sys/fs/cgroup/unified (hybrid).
  const v2mount = f.exists("/sys/fs/cgroup/cgroup.controllers") ? "/sys/fs/cgroup" : "/sys/fs/cgroup/unified";
  const memory = mem1 ? cgroupLimit(f, "/sys/fs/cgroup/memory", mem1.path, "memory.limit_in_bytes")
    : v2 ? cgroupLimit(f, v2mount, v2.path, "memory.max") : { unknown: `${src} names no memory controller`, source: src };
  const pids = pids1 ? cgroupLimit(f, "/sys/fs/cgroup/pids", pids1.path, "pids.max")
    : v2 ? cgroupLimit(f, v2mount, v2.path, "pids.max") : { unknown: `${src} names no pids controller`, source: src };
  const version: Reading<string> = mem1 || pids1 ? { value: v2 ? "v1 (hybrid)" : "v1", source: src }
    : v2 ? { value: "v2", source: src } : { unknown: `${src} has no cgroup lines`, source: src };
  return { version, memory, pids };
}

/** The systemd unit a cgroup path names (its last .service or .scope), or undefined. */
export function unitOf(path: string): string | undefined {
  return path.split("/").filter((p) => /\.(service|scope)$/.test(p)).pop();
}

function systemd(f: Files, run: Runner): { unit: Reading<string>; limit: Reading<{ soft: number; hard: number }> } {
  const src = "/proc/self/cgroup";
  if (!f.exists("/run/systemd/system")) {
    const why = "systemd is not running here: no /run/systemd/system";
    return { unit: { unknown: why, source: "/run/systemd/system" }, limit: { unknown: why, source: "/run/systemd/system" } };
  }
  const r = f.read(src);
  if (!r.ok) return { unit: { unknown: r.why, source: src }, limit: { unknown: r.why, source: src } };
  const lines = parseCgroupFile(r.text);
  const path = (lines.find((l) => l.controllers.includes("name=systemd")) ?? lines.find((l) => l.id === "0"))?.path ?? "/";
  const unit = unitOf(path);
  if (!unit) {
    const why = `not under a systemd unit (${src}: ${path})`;
    return { unit: { unknown: why, source: src }, limit: { unknown: why, source: src } };
  }
  // A scope holds processes started elsewhere (a login session, a container): they keep the
  // limits they started with, and a scope has no LimitNOFILE of its own.
  if (unit.endsWith(".scope")) return { unit: { value: unit, source: src }, limit: { unknown: `${unit} is a scope, not a service: its processes keep the limits they started with (a login's come from pam_limits)`, source: src } };
  // A unit below user@UID.service belongs to that user's manager (systemctl --user).
  const user = /\/user@\d+\.service\/./.test(path) && !unit.startsWith("user@");
  const args = [...(user ? ["--user"] : []), "show", "-p", "LimitNOFILE", "-p", "LimitNOFILESoft", unit];
  const cmd = `systemctl ${args.join(" ")}`;
  const out = run("systemctl", args);
  if (!out.ok) return { unit: { value: unit, source: src }, limit: { unknown: out.why, source: cmd } };
  const hard = limitNumber(/^LimitNOFILE=(\S+)/m.exec(out.out)?.[1]);
  const soft = limitNumber(/^LimitNOFILESoft=(\S+)/m.exec(out.out)?.[1]) ?? hard;
  if (hard === undefined || soft === undefined) return { unit: { value: unit, source: src }, limit: { unknown: `no LimitNOFILE in: ${out.out.trim().slice(0, 60)}`, source: cmd } };
  return { unit: { value: unit, source: src }, limit: { value: { soft, hard }, source: cmd } };
}
