// `wasm-reactor doctor` as a user runs it, on the runtime that runs this suite (tests/helpers/cli.ts),
// and its parts (host/ops/doctor/) called directly:
//   - on this machine, --connections 100000 says several processes when the hard RLIMIT_NOFILE is
//     below what one process needs (20,000 here), and exits 1 (a fail verdict);
//   - --json parses and carries a verdict, reason and existing runbook for every knob;
//   - --emit sysctl|limits|systemd|launchd print files that parse as what they claim to be
//     (systemd-analyze verify reads the drop-in where it is installed);
//   - a fake /proc and /sys (WASM_REACTOR_DOCTOR_ROOT) of a starved machine: somaxconn 128, a
//     small fs.nr_open, one core taking every NET_RX softirq and NIC interrupt, cgroup limits;
//     the verdicts and figures the plan must give for it, worked out by hand below;
//   - an empty root: every reading "unknown (why)", nothing thrown;
//   - the macOS/FreeBSD probe through a fake command runner (sysctl -n, ulimit);
//   - bad options exit 2 with one line; under Deno, doctor without -A says it needs -A.
import { suite } from "uvu";
import * as assert from "uvu/assert";
import { spawnSync } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { cliCommand, runCli, RUNTIME } from "../helpers/cli.ts";
import { skip } from "../helpers/skip.ts";
import { makePlan, type Plan } from "../../host/ops/doctor/plan.ts";
import { probe, parseCgroupFile, unitOf, type Runner } from "../../host/ops/doctor/probe.ts";
import { parseInterrupts, parseSoftirqs, sampleNetwork } from "../../host/ops/doctor/network.ts";
import { table } from "../../host/ops/doctor/render.ts";
import { parseRelease, parseSeccomp } from "../../host/ops/doctor/uring.ts";
import { createHost } from "../../host/backends/registry.ts";
import { resolveOptions } from "../../host/options.ts";

const test = suite(`net: wasm-reactor doctor (under ${RUNTIME})`);
const REPO = fileURLToPath(new URL("../../", import.meta.url));
const dirs: string[] = [];
test.after(() => { for (const d of dirs) rmSync(d, { recursive: true, force: true }); });
const tmp = (p: string) => { const d = mkdtempSync(join(tmpdir(), p)); dirs.push(d); return d; };

/** The CLI with the probe pointed at `root` (the variable is set for the child only). */
function doctorAt(root: string | undefined, args: string[]) {
  const before = process.env.WASM_REACTOR_DOCTOR_ROOT;
  if (root === undefined) delete process.env.WASM_REACTOR_DOCTOR_ROOT; else process.env.WASM_REACTOR_DOCTOR_ROOT = root;
  try { return runCli(["doctor", ...args]); }
  finally { if (before === undefined) delete process.env.WASM_REACTOR_DOCTOR_ROOT; else process.env.WASM_REACTOR_DOCTOR_ROOT = before; }
}
interface Json { worst: string; verdicts: { knob: string; now: string; verdict: string; reason: string; fix?: string; runbook: string }[]; plan: Omit<Plan, "verdicts" | "forecast" | "worst">; readings: Record<string, unknown> }
const verdictOf = (j: Json, knob: string) => { const v = j.verdicts.find((x) => x.knob === knob); assert.ok(v, `a verdict for ${knob}: ${j.verdicts.map((x) => x.knob).join(", ")}`); return v!; };

/** The hard RLIMIT_NOFILE of this process (Linux), to say what the machine test must find. */
function hardLimitHere(): number | undefined {
  try { const m = /^Max open files\s+\S+\s+(\S+)/m.exec(readFileSync("/proc/self/limits", "utf8")); return m ? (m[1] === "unlimited" ? Infinity : Number(m[1])) : undefined; }
  catch { return undefined; }
}

// ── a fake machine ─────────────────────────────────────────────────────────────────────────
function write(root: string, path: string, text: string): void {
  mkdirSync(dirname(join(root, path)), { recursive: true });
  writeFileSync(join(root, path), text);
}
interface Fake { soft: number; hard: number; nrOpen: number; fileMax: number; somaxconn: number; netRx: number[]; nicIrq: number[]; drops: number[]; pidsMax?: string; memoryMax?: string; systemd?: boolean }
/** /proc and /sys of a 4-core Linux machine, tuned by `o`. */
function fakeMachine(o: Fake): string {
  const root = tmp("wr-doctor-root-");
  const n = o.netRx.length;
  const cpus = Array.from({ length: n }, (_, i) => `CPU${i}`.padStart(11)).join("");
  write(root, "proc/self/limits", `Limit                     Soft Limit           Hard Limit           Units\nMax processes             1000                 1000                 processes\nMax open files            ${o.soft}                 ${o.hard}                 files\n`);
  const sysctls: Record<string, string> = {
    "fs/nr_open": `${o.nrOpen}`, "fs/file-max": `${o.fileMax}`, "fs/file-nr": "1000\t0\t" + o.fileMax, "net/core/somaxconn": `${o.somaxconn}`,
    "net/ipv4/tcp_max_syn_backlog": "128", "net/ipv4/tcp_syncookies": "0", "net/ipv4/ip_local_port_range": "32768\t60999",
    "net/ipv4/tcp_tw_reuse": "0", "net/ipv4/tcp_fin_timeout": "60", "net/core/netdev_max_backlog": "1000",
    "net/ipv4/tcp_rmem": "4096\t131072\t6291456", "net/ipv4/tcp_wmem": "4096\t16384\t4194304", "net/ipv4/tcp_mem": "20000\t30000\t40000",
    "vm/overcommit_memory": "2", "net/core/rps_sock_flow_entries": "0",
  };
  for (const [k, v] of Object.entries(sysctls)) write(root, `proc/sys/${k}`, v + "\n");
  write(root, "proc/meminfo", "MemTotal:        2097152 kB\nMemFree:          524288 kB\nMemAvailable:    1048576 kB\n");
  write(root, "proc/softirqs", `       ${cpus}\n          HI:${o.netRx.map(() => "0".padStart(11)).join("")}\n      NET_TX:${o.netRx.map(() => "5".padStart(11)).join("")}\n      NET_RX:${o.netRx.map((x) => String(x).padStart(11)).join("")}\n`);
  write(root, "proc/interrupts", `       ${cpus}\n 24:${o.nicIrq.map(() => "3".padStart(11)).join("")}  IO-APIC   5-edge      ACPI:Ged\n 41:${o.nicIrq.map((x) => String(x).padStart(11)).join("")}  PCI-MSIX-0000:00:04.0   1-edge      virtio3-input.0\n 42:${o.nicIrq.map(() => "0".padStart(11)).join("")}  PCI-MSIX-0000:00:05.0   1-edge      virtio30-input.0\nLOC:${o.nicIrq.map(() => "99999".padStart(11)).join("")}   Local timer interrupts\n`);
  write(root, "proc/net/softnet_stat", o.drops.map((d) => `00a00000 ${d.toString(16).padStart(8, "0")} 00000003 00000000 00000000`).join("\n") + "\n");
  mkdirSync(join(root, "devices/virtio3"), { recursive: true });
  mkdirSync(join(root, "sys/class/net/eth0"), { recursive: true });
  symlinkSync("../../../devices/virtio3", join(root, "sys/class/net/eth0/device"));
  write(root, "sys/class/net/eth0/queues/rx-0/rps_cpus", "0\n");
  write(root, "sys/class/net/eth0/queues/rx-0/rps_flow_cnt", "0\n");
  write(root, "sys/class/net/eth0/queues/tx-0/xps_cpus", "0\n");
  write(root, "sys/class/net/lo/queues/rx-0/rps_cpus", "0\n");
  write(root, "proc/self/cgroup", "0::/system.slice/app.service\n");
  write(root, "sys/fs/cgroup/cgroup.controllers", "cpu memory pids\n");
  if (o.memoryMax) write(root, "sys/fs/cgroup/system.slice/app.service/memory.max", o.memoryMax + "\n");
  if (o.pidsMax) write(root, "sys/fs/cgroup/system.slice/pids.max", o.pidsMax + "\n");
  write(root, "sys/devices/system/clocksource/clocksource0/current_clocksource", "hpet\n");
  if (o.systemd) mkdirSync(join(root, "run/systemd/system"), { recursive: true });
  return root;
}
const STARVED: Fake = { soft: 256, hard: 4096, nrOpen: 8192, fileMax: 50_000, somaxconn: 128, netRx: [900_000, 100, 120, 90], nicIrq: [500_000, 0, 0, 0], drops: [7, 0, 0, 0], pidsMax: "64", memoryMax: "1073741824", systemd: true };

// ── this machine ───────────────────────────────────────────────────────────────────────────
test("doctor --connections 100000 on this machine: several processes when the hard limit is below one process's need", () => {
  const r = doctorAt(undefined, ["--connections", "100000"]);
  assert.is(r.err, "", "nothing on stderr");
  const hard = hardLimitHere();
  if (hard === undefined) return skip("no /proc/self/limits here (not Linux): the machine's limit is unknown to the test");
  const need = 100_000 + 1 + 32; // connections, the listener, fdReserve
  if (hard >= need) {
    assert.match(r.out, /ok   processes\s+1\n/);
    return skip(`the hard RLIMIT_NOFILE here is ${hard}, enough for one process: the several-processes case runs only on the fake root below`);
  }
  assert.is(r.code, 1, `a fail verdict exits 1: ${r.out}`);
  assert.match(r.out, /^FAIL RLIMIT_NOFILE\s+soft [\d,]+ \/ hard ([\d,]+)/m);
  const shown = String(hard).replace(/\B(?=(\d{3})+(?!\d))/g, ",");
  assert.match(r.out.replace(/\s+/g, " "), new RegExp(`the hard limit is ${shown} and only root`), "names the hard limit");
  const m = /^WARN processes\s+(\d+)\n/m.exec(r.out);
  assert.ok(m && Number(m[1]) > 1, `several processes: ${r.out}`);
  assert.match(r.out, new RegExp(`100,000 connections need ${m![1]} processes`));
  for (const line of r.out.split("\n")) assert.ok(line.length <= 100, `fits 100 columns: ${JSON.stringify(line)}`);
});

test("--json parses, has a verdict for every knob, each with a reason and a runbook that exists", () => {
  const r = doctorAt(undefined, ["--connections", "100000", "--outbound", "30000", "--msg-rate", "200000", "--msg-size", "128", "--json"]);
  assert.is(r.err, "");
  const j = JSON.parse(r.out) as Json & { version: number; forecast: { connections: number; outbound: number; msgRate: number; msgSize: number } };
  assert.is(j.version, 1);
  assert.equal(j.forecast, { connections: 100_000, outbound: 30_000, msgRate: 200_000, msgSize: 128 });
  assert.ok(j.verdicts.length >= 10, `${j.verdicts.length} verdicts`);
  for (const v of j.verdicts) {
    assert.ok(["ok", "warn", "fail"].includes(v.verdict), `${v.knob}: ${v.verdict}`);
    assert.ok(v.reason.length > 10 && v.now.length > 0, `${v.knob} says why and what it is now`);
    assert.ok(existsSync(join(REPO, v.runbook)), `${v.knob}'s runbook ${v.runbook} exists`);
    if (v.verdict !== "ok") assert.ok(v.fix, `${v.knob} (${v.verdict}) has a fix`);
  }
  assert.is(j.worst, j.verdicts.some((v) => v.verdict === "fail") ? "fail" : j.verdicts.some((v) => v.verdict === "warn") ? "warn" : "ok");
  assert.is(r.code, j.worst === "fail" ? 1 : 0, "exit status follows the worst verdict");
  // The shape docs/doctor.md documents.
  assert.equal(Object.keys(j).sort(), ["cpus", "forecast", "kernel", "plan", "platform", "readings", "root", "runtime", "verdicts", "version", "worst"]);
  assert.equal(Object.keys(j.plan).sort(), ["connectionsPerProcess", "descriptorsOneProcess", "descriptorsPerProcess", "descriptorsPerProcessMax", "memory", "ports", "processes", "recommend"]);
  assert.equal(Object.keys(j.plan.memory).sort(), ["coreBytes", "kernelBufferBytes", "kernelIdleBytes", "poolBytes", "runtimeBytes", "slotBytes", "totalBytes"]);
  assert.is(j.plan.memory.slotBytes % 96, 0, "96 B a slot");
  if (process.platform === "linux") {
    // 30,000 outbound from one source address against 28,232 ports (or whatever this range is).
    const range = readFileSync("/proc/sys/net/ipv4/ip_local_port_range", "utf8").trim().split(/\s+/).map(Number);
    const ports = range[1] - range[0] + 1;
    assert.is(j.plan.ports.perSource, ports);
    assert.is(verdictOf(j, "net.ipv4.ip_local_port_range").verdict, 30_000 > ports ? "fail" : 30_000 > 0.8 * ports ? "warn" : "ok");
    assert.is(typeof (j.readings.nofileHard as { value?: unknown }).value !== "undefined", true, "the hard limit was read");
  }
});

// ── --emit ─────────────────────────────────────────────────────────────────────────────────
/** sysctl.d syntax (sysctl.d(5)): comments, blank lines, `key = value`. Returns the settings. */
function parseSysctlConf(text: string): Map<string, string> {
  const out = new Map<string, string>();
  for (const line of text.split("\n")) {
    if (line.trim() === "" || /^[#;]/.test(line)) continue;
    const m = /^([a-z0-9_]+(?:\.[a-z0-9_]+)+)\s*=\s*(\S(?:.*\S)?)$/.exec(line);
    assert.ok(m, `a key = value line: ${JSON.stringify(line)}`);
    assert.ok(m![2].split(/\s+/).every((x) => /^\d+$/.test(x)), `integer values: ${line}`);
    out.set(m![1], m![2]);
  }
  return out;
}

test("--emit sysctl: a sysctl.d file of key = value lines naming real knobs", () => {
  const r = doctorAt(undefined, ["--connections", "100000", "--outbound", "40000", "--emit", "sysctl"]);
  assert.is(r.code, 0, r.err);
  assert.match(r.out, /^# \/etc\/sysctl\.d\/90-wasm-reactor\.conf\n/);
  const set = parseSysctlConf(r.out);
  if (process.platform !== "linux") return skip("the keys are checked against /proc/sys on Linux only");
  for (const k of set.keys()) assert.ok(existsSync(`/proc/sys/${k.replaceAll(".", "/")}`), `${k} is a knob of this kernel`);
  // 40,000 outbound connections exceed one source address's ports unless the range is already wide.
  const range = readFileSync("/proc/sys/net/ipv4/ip_local_port_range", "utf8").trim().split(/\s+/).map(Number);
  if (range[1] - range[0] + 1 < 40_000 && range[0] > 10_000) assert.is(set.get("net.ipv4.ip_local_port_range"), "10000 65535");
});

test("--emit limits: limits.d lines (domain, soft|hard, nofile, value) at least one process's need", () => {
  const r = doctorAt(undefined, ["--connections", "100000", "--emit", "limits"]);
  assert.is(r.code, 0, r.err);
  const rows = r.out.split("\n").filter((l) => l.trim() && !l.startsWith("#")).map((l) => l.trim().split(/\s+/));
  assert.equal(rows.map((x) => x.slice(0, 3).join(" ")), ["* soft nofile", "* hard nofile"]);
  for (const x of rows) assert.ok(Number(x[3]) >= 100_033 && Number.isInteger(Number(x[3])), `value ${x[3]}`);
});

/** systemd-analyze verify on a unit with the drop-in installed beside it: its complaints about the drop-in. */
function verifyDropIn(dropIn: string): string | undefined {
  const which = spawnSync("systemd-analyze", ["--version"], { encoding: "utf8" });
  if (which.error || which.status !== 0) return undefined;
  const dir = tmp("wr-doctor-unit-");
  write(dir, "wr-doctor-test.service", "[Unit]\nDescription=doctor test\n[Service]\nExecStart=/bin/true\n");
  write(dir, "wr-doctor-test.service.d/90-wasm-reactor.conf", dropIn);
  const r = spawnSync("systemd-analyze", ["verify", "--man=no", join(dir, "wr-doctor-test.service")], { encoding: "utf8", env: { ...process.env, SYSTEMD_UNIT_PATH: `${dir}:` } });
  return (r.stdout + r.stderr).split("\n").filter((l) => l.includes("90-wasm-reactor.conf")).join("\n");
}

test("--emit systemd: a drop-in with [Service] LimitNOFILE= that systemd-analyze verify accepts", () => {
  const r = doctorAt(undefined, ["--connections", "100000", "--emit", "systemd"]);
  assert.is(r.code, 0, r.err);
  assert.match(r.out, /^# \/etc\/systemd\/system\/[\w@.-]+\.service\.d\/90-wasm-reactor\.conf\n/);
  const body = r.out.split("\n").filter((l) => l.trim() && !l.startsWith("#"));
  assert.equal(body, ["[Service]", "LimitNOFILE=131072"], "one section, one setting (131,072 ≥ 100,033 × 1.1)");
  const complaints = verifyDropIn(r.out);
  if (complaints === undefined) return skip("systemd-analyze is not installed: the drop-in was checked by parsing only");
  assert.is(complaints, "", "systemd-analyze verify has nothing to say about the drop-in");
  // The check can fail: a misspelt key and a bad value are reported.
  assert.match(verifyDropIn("[Service]\nLimitNOFILEX=3\nLimitNOFILE=abc\n")!, /Unknown key[\s\S]*Failed to parse/);
});

test("--emit launchd: a well-formed plist running launchctl limit maxfiles N N", () => {
  const r = doctorAt(undefined, ["--connections", "100000", "--emit", "launchd"]);
  assert.is(r.code, 0, r.err);
  // Well-formed: tags nest, comments hold no "--", one root element.
  const noComments = r.out.replace(/<!--([\s\S]*?)-->/g, (_m, c: string) => { assert.not.ok(c.includes("--"), `comment without --: ${c}`); return ""; });
  const stack: string[] = [];
  for (const m of noComments.matchAll(/<(\/?)([A-Za-z]+)[^>]*?(\/?)>/g)) {
    if (m[3]) continue;
    if (m[1]) assert.is(stack.pop(), m[2], `</${m[2]}> closes what is open`);
    else stack.push(m[2]);
  }
  assert.equal(stack, []);
  assert.match(r.out, /<key>Label<\/key>\s*<string>limit\.maxfiles<\/string>/);
  const args = [.../<key>ProgramArguments<\/key>\s*<array>([\s\S]*?)<\/array>/.exec(r.out)![1].matchAll(/<string>([^<]*)<\/string>/g)].map((m) => m[1]);
  assert.equal(args.slice(0, 3), ["/bin/launchctl", "limit", "maxfiles"]);
  assert.is(args[3], args[4]);
  assert.ok(Number(args[3]) >= 100_033);
});

// ── a starved machine (fake root) ──────────────────────────────────────────────────────────
test("fake root, starved machine: somaxconn 128, nr_open 8,192, one core doing all NET_RX: the verdicts", () => {
  const root = fakeMachine(STARVED);
  const r = doctorAt(root, ["--connections", "10000", "--json"]);
  assert.is(r.err, "");
  assert.is(r.code, 1, "fail verdicts exit 1");
  const j = JSON.parse(r.out) as Json;
  assert.is(j.worst, "fail");
  const want: Record<string, string> = {
    "RLIMIT_NOFILE": "fail", // 10,033 > hard 4,096
    "fs.nr_open": "fail", // 10,033 > 8,192
    "processes": "warn", // fits in 3 (below)
    "net.core.somaxconn": "fail", // 128 < 1,024
    "net.ipv4.tcp_max_syn_backlog": "warn",
    "net.ipv4.tcp_syncookies": "warn", // 0
    "net.core.netdev_max_backlog": "warn", // 7 drops
    "cgroup pids.max": "fail", // 64 < 3 × 32
    "systemd LimitNOFILE": "warn", // under app.service, systemctl not run on a fake root
    "vm.overcommit_memory": "warn", // 2
    "clocksource": "warn", // hpet
    "NET_RX softirqs/core": "warn",
    "NIC interrupts/core": "warn",
    "RPS/RFS/XPS": "warn",
    "net.ipv4.tcp_tw_reuse": "ok", // no outbound forecast
  };
  for (const [knob, verdict] of Object.entries(want)) assert.is(verdictOf(j, knob).verdict, verdict, `${knob}: ${JSON.stringify(verdictOf(j, knob))}`);
  // Processes: a process may open min(hard 4,096, nr_open 8,192) = 4,096; with P processes each
  // needs ceil(1.15 × 10,000 / P) + 33: P = 2 gives 5,783, P = 3 gives 3,834 + 33 = 3,867 ≤ 4,096.
  assert.is(j.plan.processes, 3);
  assert.is(j.plan.connectionsPerProcess, 3834);
  assert.is(j.plan.descriptorsPerProcess, 3867);
  assert.match(verdictOf(j, "NET_RX softirqs/core").reason, /CPU0 ran 100% of the receive softirqs/);
  assert.match(verdictOf(j, "NIC interrupts/core").reason, /CPU0 took 100% of virtio3-input\.0 since boot$/, "virtio30's line is not eth0's");
  assert.match(verdictOf(j, "net.core.somaxconn").fix!, /net\.core\.somaxconn = 4096/);
  assert.match(verdictOf(j, "systemd LimitNOFILE").now, /unknown \(systemctl not run: the probe reads a fake root\)/);
  assert.match(verdictOf(j, "cgroup pids.max").now, /^64$/, "the parent's pids.max binds");
  assert.is(verdictOf(j, "net.core.somaxconn").runbook, "docs/runbooks/accept-queue-overflow.md");
  assert.is(verdictOf(j, "fs.nr_open").runbook, "docs/runbooks/descriptor-exhaustion.md");
  // The same through the table: fits 100 columns, FAIL lines name a fix and a runbook.
  const t = doctorAt(root, ["--connections", "10000"]);
  assert.is(t.code, 1);
  for (const line of t.out.split("\n")) assert.ok(line.length <= 100, `fits 100 columns: ${JSON.stringify(line)}`);
  assert.match(t.out, /^FAIL net\.core\.somaxconn\s+128\n[\s\S]*?\n {7}fix: net\.core\.somaxconn = 4096[\s\S]*?\n {7}runbook: docs\/runbooks\/accept-queue-overflow\.md\n/m);
  // And the snippets it prints for that machine.
  const s = parseSysctlConf(doctorAt(root, ["--connections", "10000", "--emit", "sysctl"]).out);
  assert.is(s.get("net.core.somaxconn"), "4096");
  assert.is(s.get("fs.nr_open"), "65536");
  assert.is(s.get("net.ipv4.tcp_syncookies"), "1");
  assert.is(s.get("net.core.rps_sock_flow_entries"), "32768");
  assert.is(s.get("vm.overcommit_memory"), "0");
});

test("fake root with a 20,000 hard limit: --connections 100000 needs exactly 6 processes", () => {
  const root = fakeMachine({ ...STARVED, soft: 1024, hard: 20_000, nrOpen: 1_048_576, fileMax: 2_000_000, somaxconn: 4096 });
  const j = JSON.parse(doctorAt(root, ["--connections", "100000", "--json"]).out) as Json;
  // P = 5: ceil(115,000 / 5) + 33 = 23,033 > 20,000; P = 6: 19,167 + 33 = 19,200 ≤ 20,000.
  assert.is(j.plan.processes, 6);
  assert.is(verdictOf(j, "RLIMIT_NOFILE").verdict, "fail");
  assert.match(verdictOf(j, "processes").reason, /100,000 connections need 6 processes of up to 19,167 each/);
  // The limit recommended stays within fs.nr_open when that allows the need: 95,033 ≤ 100,000 < 131,072.
  const tight = fakeMachine({ ...STARVED, soft: 1024, hard: 20_000, nrOpen: 100_000, fileMax: 2_000_000 });
  const limits = doctorAt(tight, ["--connections", "95000", "--emit", "limits"]).out;
  assert.match(limits, /^\*    hard    nofile    100000$/m);
});

test("fake root, a hard limit that cannot be read: warn (not fail), and processes sized from the soft limit", () => {
  const root = fakeMachine({ ...STARVED, soft: 8192, nrOpen: 1_048_576 });
  write(root, "proc/self/limits", "Limit  Soft Limit  Hard Limit  Units\nMax open files  8192  ???  files\n");
  const j = JSON.parse(doctorAt(root, ["--connections", "10000", "--json"]).out) as Json;
  const v = verdictOf(j, "RLIMIT_NOFILE");
  assert.is(v.verdict, "warn");
  assert.is(v.now, "soft 8,192 / hard unknown");
  assert.match(v.reason, /above the soft limit; the hard limit could not be read \(no "Max open files" hard limit in \/proc\/self\/limits\)/);
  // ceil(1.15 × 10,000 / 2) + 33 = 5,783 ≤ 8,192.
  assert.is(j.plan.processes, 2);
  assert.match(verdictOf(j, "processes").reason, /a process may open 8,192 \(the soft RLIMIT_NOFILE: the hard one is unknown\)/);
});

test("fake root, empty: every reading says unknown (why), nothing throws", () => {
  const root = tmp("wr-doctor-empty-");
  const r = doctorAt(root, ["--json"]);
  assert.is(r.err, "", "no stack trace");
  assert.ok(r.code === 0 || r.code === 1, `exit ${r.code}`);
  const j = JSON.parse(r.out) as Json;
  for (const [name, reading] of Object.entries(j.readings)) {
    if (name === "sysctl") for (const [k, s] of Object.entries(reading as Record<string, { unknown?: string }>)) assert.match(s.unknown ?? "", /no such file/, k);
    else if (name === "uring") for (const [k, u] of Object.entries(reading as Record<string, object>)) assert.ok("unknown" in u, `uring.${k} unknown: ${JSON.stringify(u)}`);
    else if (reading && typeof reading === "object" && name !== "network") assert.ok("unknown" in reading, `${name} unknown: ${JSON.stringify(reading)}`);
  }
  assert.match(verdictOf(j, "RLIMIT_NOFILE").now, /^unknown \(\/proc\/self\/limits: no such file\)$/);
  assert.match(doctorAt(root, []).out, /unknown \(/);
  assert.match(verdictOf(j, "host 'uring'").reason, /not tried: the probe reads a fake root/);
});

// ── io_uring: would host 'uring' start here ───────────────────────────────────────────────
/** A fake machine's io_uring files: the kernel release, kernel.io_uring_disabled (undefined: absent, as before 6.6), seccomp, RLIMIT_MEMLOCK. */
function uringFiles(root: string, o: { release: string; disabled?: string; seccomp: [number, number]; memlock: [string, string] }): void {
  write(root, "proc/sys/kernel/osrelease", o.release + "\n");
  if (o.disabled !== undefined) write(root, "proc/sys/kernel/io_uring_disabled", o.disabled + "\n");
  write(root, "proc/self/status", `Name:\tnode\nUmask:\t0022\nState:\tR (running)\nNoNewPrivs:\t${o.seccomp[0] ? 1 : 0}\nSeccomp:\t${o.seccomp[0]}\nSeccomp_filters:\t${o.seccomp[1]}\nSpeculation_Store_Bypass:\tthread vulnerable\n`);
  write(root, "proc/self/limits", `Limit                     Soft Limit           Hard Limit           Units\nMax locked memory         ${o.memlock[0]}                ${o.memlock[1]}                bytes\nMax open files            65536                65536                files\n`);
}
const URING_KNOBS = ["kernel (io_uring)", "kernel.io_uring_disabled", "seccomp", "RLIMIT_MEMLOCK", "host 'uring'"];

test("fake root, Linux 5.15 in a container (a seccomp filter): host 'uring' cannot start, said with the version; never a fail", () => {
  const root = fakeMachine({ ...STARVED, soft: 65536, hard: 65536, nrOpen: 1_048_576, fileMax: 2_000_000, somaxconn: 4096 });
  uringFiles(root, { release: "5.15.0-91-generic", seccomp: [2, 1], memlock: ["65536", "65536"] });
  const r = doctorAt(root, ["--connections", "1000", "--json"]);
  assert.is(r.err, "");
  const j = JSON.parse(r.out) as Json & { readings: { uring: Record<string, { value?: unknown; source: string }> } };
  assert.equal(j.readings.uring.kernel.value, { release: "5.15.0-91-generic", major: 5, minor: 15 });
  assert.equal(j.readings.uring.seccomp.value, { mode: 2, filters: 1 });
  assert.equal(j.readings.uring.memlock.value, { soft: 65536, hard: 65536 });
  assert.is(j.readings.uring.disabled.value, 0, "no io_uring_disabled file before 6.6: allowed");
  const k = verdictOf(j, "kernel (io_uring)");
  assert.is(k.verdict, "warn");
  assert.match(k.reason, /needs Linux 6\.1 .*this is 5\.15, so it cannot start here; epoll serves/);
  assert.is(k.runbook, "docs/runbooks/io-uring-unavailable.md");
  assert.ok(existsSync(join(REPO, k.runbook)), "the runbook exists");
  assert.is(verdictOf(j, "kernel.io_uring_disabled").now, "absent (0)");
  const sc = verdictOf(j, "seccomp");
  assert.is(sc.verdict, "ok", "a filter alone proves nothing");
  assert.match(sc.reason, /may refuse io_uring's system calls .*only tried/);
  assert.is(verdictOf(j, "RLIMIT_MEMLOCK").now, "soft 64 KiB / hard 64 KiB");
  const h = verdictOf(j, "host 'uring'");
  assert.is(h.verdict, "warn");
  assert.is(h.now, "cannot start");
  assert.match(h.reason, /not tried: the probe reads a fake root/);
  for (const knob of URING_KNOBS) assert.not.equal(verdictOf(j, knob).verdict, "fail", `${knob}: io_uring is never a fail (epoll serves)`);
  const t = doctorAt(root, ["--connections", "1000"]);
  assert.match(t.out, /^WARN kernel \(io_uring\)\s+5\.15\.0-91-generic\n/m);
  assert.match(t.out, /runbook: docs\/runbooks\/io-uring-unavailable\.md/);
  for (const line of t.out.split("\n")) assert.ok(line.length <= 100, `fits 100 columns: ${JSON.stringify(line)}`);
});

test("fake root, Linux 6.8 with kernel.io_uring_disabled 2 or 1, and 6.1 with nothing in the way", () => {
  const base = { ...STARVED, soft: 65536, hard: 65536, nrOpen: 1_048_576, fileMax: 2_000_000, somaxconn: 4096 };
  const off = fakeMachine(base);
  uringFiles(off, { release: "6.8.0-45-generic", disabled: "2", seccomp: [0, 0], memlock: ["8388608", "8388608"] });
  let j = JSON.parse(doctorAt(off, ["--connections", "1000", "--json"]).out) as Json;
  assert.is(verdictOf(j, "kernel (io_uring)").verdict, "ok");
  const d = verdictOf(j, "kernel.io_uring_disabled");
  assert.is(d.verdict, "warn");
  assert.is(d.now, "2");
  assert.match(d.reason, /off for every process/);
  assert.match(d.fix!, /kernel\.io_uring_disabled = 0/);
  assert.is(verdictOf(j, "host 'uring'").now, "cannot start");
  assert.is(verdictOf(j, "seccomp").now, "none (0, 0 filters)");

  const group = fakeMachine(base);
  uringFiles(group, { release: "6.8.0-45-generic", disabled: "1", seccomp: [0, 0], memlock: ["unlimited", "unlimited"] });
  j = JSON.parse(doctorAt(group, ["--connections", "1000", "--json"]).out) as Json;
  assert.match(verdictOf(j, "kernel.io_uring_disabled").reason, /kernel\.io_uring_group/);
  assert.is(verdictOf(j, "RLIMIT_MEMLOCK").now, "soft unlimited / hard unlimited");

  const fine = fakeMachine(base);
  uringFiles(fine, { release: "6.1.0-18-amd64", disabled: "0", seccomp: [0, 0], memlock: ["65536", "65536"] });
  j = JSON.parse(doctorAt(fine, ["--connections", "1000", "--json"]).out) as Json;
  for (const knob of URING_KNOBS) assert.is(verdictOf(j, knob).verdict, "ok", `${knob}: ${JSON.stringify(verdictOf(j, knob))}`);
  assert.is(verdictOf(j, "host 'uring'").now, "not tried");
  assert.match(verdictOf(j, "host 'uring'").reason, /^nothing above rules it out; not tried: the probe reads a fake root/);
  assert.match(verdictOf(j, "RLIMIT_MEMLOCK").reason, /5\.12/);
});

/** Whether this process can create a host 'uring' (the library, as the doctor tries it). */
function uringHere(): { ok: true } | { ok: false; why: string } {
  try { createHost(resolveOptions({ host: "uring", raiseFdLimit: false }), () => {}).close(); return { ok: true }; }
  catch (e) { return { ok: false, why: (e as Error).message }; }
}

test("this machine: the doctor's host 'uring' verdict is what creating a host 'uring' in this process gives", () => {
  if (process.platform !== "linux") return skip("io_uring is Linux's: the doctor gives no io_uring verdicts here");
  if (!existsSync(join(REPO, "dist/wasm_reactor.node"))) return skip("no native shim beside the CLI (dist/wasm_reactor.node): the doctor does not try");
  const j = JSON.parse(doctorAt(undefined, ["--connections", "100", "--json"]).out) as Json;
  const h = verdictOf(j, "host 'uring'");
  const here = uringHere();
  if (here.ok) {
    assert.is(h.now, "starts", JSON.stringify(h));
    assert.is(h.verdict, "ok");
  } else {
    assert.match(h.now, /^cannot start \(ERR_HOST_UNAVAILABLE\)$/, JSON.stringify(h));
    assert.is(h.verdict, "warn");
    assert.ok(h.reason.includes(here.why.replace(/^wasm-reactor: /, "").replace(/; use host 'epoll'.*$/, "")), `the library's own words: ${h.reason} / ${here.why}`);
  }
  // The poller line names what host 'auto' picks: io_uring where it starts, else epoll.
  assert.is(verdictOf(j, "poller").now, here.ok ? "uring" : "epoll", JSON.stringify(verdictOf(j, "poller")));
  // Trying did not raise the doctor's own descriptor limit (raiseFdLimit off): the reading is the process's.
  assert.is(verdictOf(j, "RLIMIT_NOFILE").now.startsWith("soft "), true);
});

test("under a seccomp filter that refuses io_uring_setup (tests/bench/servers/no-io-uring.c): WARN host 'uring' naming seccomp; exit 0", () => {
  if (process.platform !== "linux") return skip("seccomp is Linux's");
  if (!existsSync(join(REPO, "dist/wasm_reactor.node"))) return skip("no native shim beside the CLI: the doctor does not try io_uring");
  const dir = tmp("wr-doctor-seccomp-");
  const bin = join(dir, "no-io-uring");
  const cc = spawnSync("cc", ["-O2", "-o", bin, join(REPO, "tests/bench/servers/no-io-uring.c")], { encoding: "utf8" });
  if (cc.error || cc.status !== 0) return skip(`no C compiler to build the seccomp wrapper (${cc.error ? "cc not installed" : cc.stderr.trim().split("\n")[0]})`);
  const c = cliCommand(["doctor", "--connections", "100"]);
  const r = spawnSync(bin, [c.cmd, ...c.args], { encoding: "utf8", env: { ...process.env, ...c.env }, timeout: 60_000 });
  assert.is(r.status, 0, `warnings only: ${r.stdout}${r.stderr}`);
  assert.match(r.stdout, /^WARN host 'uring'\s+cannot start \(ERR_HOST_UNAVAILABLE\)\n/m, r.stdout);
  const flat = r.stdout.replace(/\s+/g, " ");
  assert.match(flat, /io_uring is refused here \(uring: Operation not permitted\): a seccomp profile/);
  assert.match(flat, /WARN seccomp filter \(2, \d+ filters?\) a seccomp filter refused io_uring_setup/);
  assert.match(flat, /fix: allow io_uring_setup, io_uring_enter and io_uring_register/);
  assert.match(flat, /ok processes 1 /, "the rest of the report as usual");
  assert.match(flat, /ok poller epoll .*so host 'auto' uses epoll/, "auto falls back to epoll there");
});

// ── the parts ──────────────────────────────────────────────────────────────────────────────
test("macOS/FreeBSD: kern.* by sysctl -n, limits by ulimit; a failing command reads unknown (why)", () => {
  const calls: string[] = [];
  const values: Record<string, string> = { "kern.maxfiles": "24576", "kern.maxfilesperproc": "12288", "kern.ipc.somaxconn": "128", "net.inet.ip.portrange.first": "49152", "net.inet.ip.portrange.last": "65535" };
  const run: Runner = (cmd, args) => {
    calls.push([cmd, ...args].join(" "));
    if (cmd === "sh") return { ok: true, out: "256\nunlimited\n" };
    if (cmd === "sysctl" && values[args[1]]) return { ok: true, out: values[args[1]] + "\n" };
    return { ok: false, why: `${cmd}: exit 1: unknown oid` };
  };
  const r = probe({ platform: "darwin", root: tmp("wr-doctor-mac-"), run });
  assert.ok(calls.includes("sysctl -n kern.maxfilesperproc") && calls.includes("sh -c ulimit -Sn; ulimit -Hn"), calls.join("; "));
  assert.equal(r.nofileSoft, { value: 256, source: "sh -c 'ulimit -Sn; ulimit -Hn'" });
  assert.is((r.nofileHard as { value: number }).value, Infinity);
  assert.equal(r.sysctl["kern.maxfiles"], { value: [24576], source: "sysctl -n kern.maxfiles" });
  const plan = makePlan(r, { connections: 20_000, outbound: 0 }, { poller: { kind: "kqueue", why: "test" } });
  const v = (k: string) => plan.verdicts.find((x) => x.knob === k)!;
  assert.is(v("kern.maxfilesperproc").verdict, "fail"); // 20,033 > 12,288
  assert.is(v("kern.ipc.somaxconn").verdict, "fail");
  assert.is(v("net.inet.ip.portrange.first/last").now, "49152–65535");
  assert.is(plan.processes, 2); // min(unlimited, 12,288): ceil(23,000 / 2) + 33 = 11,533
  assert.not.ok(plan.verdicts.some((x) => x.knob.startsWith("net.ipv4") || x.knob.startsWith("cgroup")), "no Linux knobs on macOS");
  const failing = probe({ platform: "freebsd", root: tmp("wr-doctor-bsd-"), run: () => ({ ok: false, why: "sysctl: not installed" }) });
  assert.equal(failing.sysctl["kern.maxfiles"], { unknown: "sysctl: not installed", source: "sysctl -n kern.maxfiles" });
  for (const line of table(failing, makePlan(failing, { connections: 10, outbound: 0 }, { poller: { kind: "kqueue", why: "test" } }), "test").split("\n")) assert.ok(line.length <= 100, line);
});

test("systemd: a service's LimitNOFILE by systemctl show (a user unit's with --user), a scope has none", () => {
  const root = fakeMachine({ ...STARVED, soft: 65_536, hard: 65_536, nrOpen: 1_048_576 });
  const calls: string[][] = [];
  const run: Runner = (cmd, args) => { calls.push([cmd, ...args]); return cmd === "systemctl" ? { ok: true, out: "LimitNOFILE=4096\nLimitNOFILESoft=1024\n" } : { ok: false, why: `${cmd}: not here` }; };
  const ctx = { poller: { kind: "epoll" as const, why: "test" } };
  const r = probe({ root, run });
  assert.equal(calls, [["systemctl", "show", "-p", "LimitNOFILE", "-p", "LimitNOFILESoft", "app.service"]]);
  assert.equal(r.systemdLimitNofile, { value: { soft: 1024, hard: 4096 }, source: "systemctl show -p LimitNOFILE -p LimitNOFILESoft app.service" });
  const v = makePlan(r, { connections: 10_000, outbound: 0 }, ctx).verdicts.find((x) => x.knob === "systemd LimitNOFILE")!;
  assert.is(v.verdict, "fail");
  assert.match(v.reason, /app\.service caps its processes at 4,096/);
  assert.match(v.fix!, /LimitNOFILE=65536 \(--emit systemd\)/);
  // A user manager's unit, and a login session's scope.
  write(root, "proc/self/cgroup", "0::/user.slice/user-1000.slice/user@1000.service/app.slice/chat.service\n");
  calls.length = 0;
  probe({ root, run });
  assert.equal(calls[0], ["systemctl", "--user", "show", "-p", "LimitNOFILE", "-p", "LimitNOFILESoft", "chat.service"]);
  write(root, "proc/self/cgroup", "0::/user.slice/user-1000.slice/session-4.scope\n");
  calls.length = 0;
  const scope = probe({ root, run });
  assert.equal(calls, [], "no systemctl for a scope");
  const sv = makePlan(scope, { connections: 10_000, outbound: 0 }, ctx).verdicts.find((x) => x.knob === "systemd LimitNOFILE")!;
  assert.is(sv.verdict, "ok");
  assert.match(sv.reason, /session-4\.scope is a scope, not a service/);
});

test("one core taking the NIC's interrupts is fine when RPS hands the receive work on", () => {
  const root = fakeMachine({ ...STARVED, netRx: [300_000, 300_000, 300_000, 300_000] });
  write(root, "sys/class/net/eth0/queues/rx-0/rps_cpus", "f\n");
  const plan = makePlan(probe({ root }), { connections: 1000, outbound: 0 }, { poller: { kind: "epoll", why: "test" } });
  const v = (k: string) => plan.verdicts.find((x) => x.knob === k)!;
  assert.is(v("NIC interrupts/core").verdict, "ok");
  assert.match(v("NIC interrupts/core").reason, /CPU0 took 100% of virtio3-input\.0 since boot; RPS hands the receive work on/);
  assert.is(v("NET_RX softirqs/core").verdict, "ok");
  assert.is(v("RPS/RFS/XPS").verdict, "ok");
  assert.match(v("RPS/RFS/XPS").now, /eth0: 1 rx queue, RPS on/);
});

test("--sample-ms judges the cores over a window: the counts' difference, not their totals since boot", () => {
  // A fake machine does nothing during the window: its boot-time imbalance is no finding then.
  const root = fakeMachine(STARVED);
  const j = JSON.parse(doctorAt(root, ["--connections", "1000", "--sample-ms", "50", "--json"]).out) as Json;
  assert.is(verdictOf(j, "NET_RX softirqs/core").verdict, "ok");
  assert.match(verdictOf(j, "NET_RX softirqs/core").reason, /^no receive softirqs in the 50 ms sample$/);
  assert.match(verdictOf(j, "net.core.netdev_max_backlog").reason, /no drops in the 50 ms sample/);
  // Two readings a window apart: CPU1 did the window's receive work alone.
  const before = probe({ root }).network;
  write(root, "proc/softirqs", "   CPU0 CPU1 CPU2 CPU3\n NET_TX: 5 5 5 5\n NET_RX: 900000 5100 120 90\n");
  write(root, "proc/net/softnet_stat", "00a00000 00000009 00000003\n00a00000 00000000 00000003\n00a00000 00000000 00000003\n00a00000 00000000 00000003\n");
  const window = sampleNetwork(before, probe({ root }).network, 1000);
  assert.equal((window.softirqs as { value: unknown }).value, { rx: [0, 5000, 0, 0], tx: [0, 0, 0, 0] });
  assert.equal((window.softnet as { value: { dropped: number[] } }).value.dropped, [2, 0, 0, 0]);
  const r = { ...probe({ root }), network: window };
  const plan = makePlan(r, { connections: 1000, outbound: 0 }, { poller: { kind: "epoll", why: "test" } });
  const v = (k: string) => plan.verdicts.find((x) => x.knob === k)!;
  assert.is(v("NET_RX softirqs/core").verdict, "warn");
  assert.match(v("NET_RX softirqs/core").reason, /^CPU1 ran 100% of the receive softirqs in the 1000 ms sample/);
  assert.match(v("net.core.netdev_max_backlog").reason, /^2 packets were dropped in the 1000 ms sample/);
  const few = makePlan({ ...r, network: { ...window, softirqs: { value: { rx: [0, 50, 0, 0], tx: [0, 0, 0, 0] }, source: "x" } } }, { connections: 1000, outbound: 0 }, { poller: { kind: "epoll", why: "test" } });
  const fv = few.verdicts.find((x) => x.knob === "NET_RX softirqs/core")!;
  assert.is(fv.verdict, "ok");
  assert.match(fv.reason, /^too little receive work in the 1000 ms sample to judge \(50 softirqs\)$/);
  const changed = sampleNetwork(before, { ...window, softirqs: { value: { rx: [1, 2], tx: [1, 2] }, source: "x" } }, 10);
  assert.match((changed.softirqs as { unknown: string }).unknown, /number of cores changed/);
});

// Deno's permissions exist only under Deno (cli-deno.test.ts holds the other commands' cases).
if (RUNTIME === "deno") test("under Deno without -A: exit 2, one line naming -A", () => {
  const r = runCli(["doctor"], { deno: ["--allow-read"] });
  assert.is(r.code, 2, r.out + r.err);
  assert.is(r.err.trim().split("\n").length, 1, r.err);
  assert.match(r.err, /^wasm-reactor: doctor under Deno needs -A \(it reads \/proc\/self and runs sh, sysctl and systemctl\): run `deno run -A /);
});

test("parsers: kernel releases and /proc/self/status's seccomp lines", () => {
  assert.equal(parseRelease("6.1.0-18-amd64\n"), { major: 6, minor: 1 });
  assert.equal(parseRelease("6.18.44-fc-v1272"), { major: 6, minor: 18 });
  assert.equal(parseRelease("5.15.0-91-generic"), { major: 5, minor: 15 });
  assert.is(parseRelease("linux"), undefined);
  assert.equal(parseSeccomp("Name:\tx\nSeccomp:\t2\nSeccomp_filters:\t3\n"), { mode: 2, filters: 3 });
  assert.equal(parseSeccomp("Seccomp:\t0\n"), { mode: 0 }, "before 5.9: no Seccomp_filters line");
  assert.is(parseSeccomp("Name:\tx\n"), undefined);
});

test("parsers: /proc/interrupts by device name (virtio3 is not virtio30), softirqs, /proc/self/cgroup, unit names", () => {
  const irq = "           CPU0       CPU1\n 41:  10  20  PCI-MSIX  1-edge  virtio3-input.0\n 42:  5  6  PCI-MSIX  1-edge  virtio30-input.0\n 43:  1  0  PCI-MSIX  eth1-TxRx-0\nNMI:  0  0  Non-maskable\n";
  assert.equal(parseInterrupts(irq, ["virtio3", "eth1"]), { perCpu: [11, 20], lines: ["virtio3-input.0", "eth1-TxRx-0"] });
  assert.is(parseInterrupts("no header\n", ["x"]), undefined);
  assert.equal(parseSoftirqs("   CPU0 CPU1\n NET_TX: 1 2\n NET_RX: 30 40\n"), { rx: [30, 40], tx: [1, 2] });
  assert.is(parseSoftirqs("   CPU0 CPU1\n NET_RX: 30\n"), undefined);
  assert.equal(parseCgroupFile("12:pids:/user.slice\n4:memory:/a/b\n1:name=systemd:/system.slice/x.service\n0::/system.slice/x.service\n").map((l) => [l.id, l.controllers.join(","), l.path]),
    [["12", "pids", "/user.slice"], ["4", "memory", "/a/b"], ["1", "name=systemd", "/system.slice/x.service"], ["0", "", "/system.slice/x.service"]]);
  assert.is(unitOf("/user.slice/user-1000.slice/session-3.scope"), "session-3.scope");
  assert.is(unitOf("/system.slice/nginx.service/worker"), "nginx.service");
  assert.is(unitOf("/"), undefined);
});

// ── bad options ────────────────────────────────────────────────────────────────────────────
test("bad options exit 2 with one line naming the option and the value", () => {
  for (const [args, re] of [
    [["--connections", "abc"], /--connections must be an integer from 1 to 100000000, got "abc"/],
    [["--connections", "0"], /--connections must be an integer from 1 to 100000000, got "0"/],
    [["--connections"], /--connections needs a value/],
    [["--outbound", "-5"], /--outbound must be an integer from 0 to 100000000, got "-5"/],
    [["--msg-size", "100"], /--msg-size needs --msg-rate/],
    [["--emit", "yaml"], /--emit must be one of sysctl, limits, systemd, launchd, got "yaml"/],
    [["--emit"], /--emit must be one of sysctl, limits, systemd, launchd, got nothing/],
    [["--json", "--emit", "sysctl"], /--json and --emit cannot be combined/],
    [["--bogus"], /doctor: unknown option "--bogus"/],
    [["--sample-ms", "0"], /--sample-ms must be an integer from 1 to 60000, got "0"/],
  ] as const) {
    const r = doctorAt(undefined, [...args]);
    assert.is(r.code, 2, `doctor ${args.join(" ")}: ${r.out}${r.err}`);
    assert.is(r.err.trim().split("\n").length, 1, `one line: ${r.err}`);
    assert.match(r.err, /^wasm-reactor: /);
    assert.match(r.err, re);
    assert.is(r.out, "");
  }
  const h = doctorAt(undefined, ["--help"]);
  assert.is(h.code, 0);
  for (const opt of ["--connections", "--outbound", "--msg-rate", "--msg-size", "--sample-ms", "--json", "--emit", "Exit status"]) assert.ok(h.out.includes(opt), `--help mentions ${opt}`);
});

test.run();
