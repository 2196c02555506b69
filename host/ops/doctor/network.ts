// Per-core network load (Linux): does one core carry the network alone?
//
// A NIC with one receive queue raises its interrupts on one core, and that core then runs all
// the NET_RX softirq work (the kernel's TCP receive path) for every connection, however many
// reactors run on the others. RPS (rps_cpus) hands that work on to other cores by a hash of
// the flow, RFS (rps_sock_flow_entries, rps_flow_cnt) steers it to the core where the socket's
// reader runs, XPS (xps_cpus) picks the transmit queue by core. These readings show it:
//   /proc/softirqs      NET_RX and NET_TX per core (counts since boot)
//   /proc/interrupts    per core, the lines of the network devices (by interface name, or the
//                       device's name under /sys/class/net/<if>/device, e.g. virtio2-input.0)
//   /proc/net/softnet_stat  per core: packets dropped because the input queue
//                       (net.core.netdev_max_backlog) was full, and "time squeezes" (the softirq
//                       ran out of budget with work left)
//   /sys/class/net/<if>/queues/rx-N/rps_cpus, rps_flow_cnt; tx-N/xps_cpus
// Counts are totals since boot: they say where the load has gone, not where it is this second.
// `doctor --sample-ms N` reads them twice, N ms apart, and judges the difference (sampleNetwork).
import { readdirSync, readlinkSync } from "node:fs";
import type { Files, Reading } from "./probe.ts";

export interface NicQueues { iface: string; rx: { queue: string; rpsCpus: string; rpsFlowCnt: number }[]; tx: { queue: string; xpsCpus: string }[] }

export interface NetworkReadings {
  /** CPUs counted in /proc/softirqs (or /proc/interrupts), when readable. */
  cpus?: number;
  /** When set, the counts are what happened in this many ms (sampleNetwork), not since boot. */
  sampleMs?: number;
  softirqs: Reading<{ rx: number[]; tx: number[] }>;
  nicInterrupts: Reading<{ perCpu: number[]; lines: string[] }>;
  softnet: Reading<{ dropped: number[]; squeezed: number[] }>;
  queues: Reading<NicQueues[]>;
}

const unknownAll = (why: string): NetworkReadings => ({
  softirqs: { unknown: why, source: "-" }, nicInterrupts: { unknown: why, source: "-" },
  softnet: { unknown: why, source: "-" }, queues: { unknown: why, source: "-" },
});

export function probeNetwork(f: Files, linux: boolean): NetworkReadings {
  if (!linux) return unknownAll("per-core network counters are read on Linux only");
  const out: NetworkReadings = { ...unknownAll(""), softirqs: softirqs(f), softnet: softnet(f) };
  const ifaces = interfaces(f);
  out.queues = ifaces.ok ? queues(f, ifaces.names) : { unknown: ifaces.why, source: "/sys/class/net" };
  out.nicInterrupts = ifaces.ok ? interrupts(f, ifaces.names) : { unknown: ifaces.why, source: "/proc/interrupts" };
  const rx = "value" in out.softirqs ? out.softirqs.value.rx.length : undefined;
  const irq = "value" in out.nicInterrupts ? out.nicInterrupts.value.perCpu.length : undefined;
  out.cpus = rx ?? irq;
  return out;
}

/** Parses /proc/softirqs: NET_RX and NET_TX per core. */
export function parseSoftirqs(text: string): { rx: number[]; tx: number[] } | undefined {
  const lines = text.split("\n");
  const ncpu = (lines[0] ?? "").trim().split(/\s+/).filter((c) => /^CPU\d+$/.test(c)).length;
  const row = (name: string) => {
    const l = lines.find((x) => x.trim().startsWith(name + ":"));
    if (!l) return undefined;
    const ns = l.trim().split(/\s+/).slice(1, 1 + ncpu).map(Number);
    return ns.length === ncpu && ns.every(Number.isFinite) ? ns : undefined;
  };
  const rx = row("NET_RX"), tx = row("NET_TX");
  return ncpu > 0 && rx && tx ? { rx, tx } : undefined;
}

function softirqs(f: Files): Reading<{ rx: number[]; tx: number[] }> {
  const src = "/proc/softirqs";
  const r = f.read(src);
  if (!r.ok) return { unknown: r.why, source: src };
  const v = parseSoftirqs(r.text);
  return v ? { value: v, source: src } : { unknown: `${src}: no NET_RX/NET_TX rows`, source: src };
}

function softnet(f: Files): Reading<{ dropped: number[]; squeezed: number[] }> {
  const src = "/proc/net/softnet_stat";
  const r = f.read(src);
  if (!r.ok) return { unknown: r.why, source: src };
  const rows = r.text.trim().split("\n").filter(Boolean).map((l) => l.trim().split(/\s+/).map((h) => parseInt(h, 16)));
  if (!rows.length || rows.some((c) => c.length < 3 || c.some((n) => !Number.isFinite(n)))) return { unknown: `${src}: unexpected format`, source: src };
  return { value: { dropped: rows.map((c) => c[1]), squeezed: rows.map((c) => c[2]) }, source: src };
}

/** The network interfaces but loopback, each with the names its interrupts may carry. */
function interfaces(f: Files): { ok: true; names: { iface: string; ids: string[] }[] } | { ok: false; why: string } {
  let names: string[];
  try { names = readdirSync(f.path("/sys/class/net")).filter((n) => n !== "lo").sort(); }
  catch (e) { return { ok: false, why: `/sys/class/net: ${(e as { code?: string }).code === "ENOENT" ? "no such directory" : (e as Error).message}` }; }
  return { ok: true, names: names.map((iface) => {
    const ids = [iface];
    // The device's own name (virtio2, 0000:3b:00.0): drivers name their interrupts after it.
    try { const dev = readlinkSync(f.path(`/sys/class/net/${iface}/device`)).split("/").pop(); if (dev) ids.push(dev); } catch { /* virtual: no device */ }
    return { iface, ids };
  }) };
}

const escape = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");

/** Parses /proc/interrupts: per core, the sum of the lines whose name carries one of `ids`. */
export function parseInterrupts(text: string, ids: string[]): { perCpu: number[]; lines: string[] } | undefined {
  const lines = text.split("\n");
  const ncpu = (lines[0] ?? "").trim().split(/\s+/).filter((c) => /^CPU\d+$/.test(c)).length;
  if (ncpu === 0) return undefined;
  const res = ids.map((id) => new RegExp(`(?<![\\w])${escape(id)}(?![\\w])`));
  const perCpu = new Array<number>(ncpu).fill(0);
  const names: string[] = [];
  for (const l of lines.slice(1)) {
    const parts = l.trim().split(/\s+/);
    if (!/^\d+:$/.test(parts[0] ?? "")) continue; // NMI, LOC, ... are not devices'
    const desc = parts.slice(1 + ncpu).join(" ");
    if (!res.some((re) => re.test(desc))) continue;
    const counts = parts.slice(1, 1 + ncpu).map(Number);
    if (counts.length !== ncpu || !counts.every(Number.isFinite)) continue;
    counts.forEach((c, i) => { perCpu[i] += c; });
    names.push(parts[parts.length - 1]);
  }
  return { perCpu, lines: names };
}

function interrupts(f: Files, ifaces: { iface: string; ids: string[] }[]): Reading<{ perCpu: number[]; lines: string[] }> {
  const src = "/proc/interrupts";
  const r = f.read(src);
  if (!r.ok) return { unknown: r.why, source: src };
  const v = parseInterrupts(r.text, ifaces.flatMap((i) => i.ids));
  if (!v) return { unknown: `${src}: no CPU header`, source: src };
  if (!v.lines.length) return { unknown: `no interrupt line names ${ifaces.map((i) => i.iface).join(", ") || "a network device"} (virtual or polled devices)`, source: src };
  return { value: v, source: src };
}

function queues(f: Files, ifaces: { iface: string }[]): Reading<NicQueues[]> {
  const src = "/sys/class/net/*/queues";
  const out: NicQueues[] = [];
  for (const { iface } of ifaces) {
    let qs: string[];
    try { qs = readdirSync(f.path(`/sys/class/net/${iface}/queues`)).sort(); } catch { continue; }
    const read = (p: string) => { const r = f.read(p); return r.ok ? r.text.trim() : ""; };
    out.push({
      iface,
      rx: qs.filter((q) => q.startsWith("rx-")).map((q) => ({ queue: q, rpsCpus: read(`/sys/class/net/${iface}/queues/${q}/rps_cpus`), rpsFlowCnt: Number(read(`/sys/class/net/${iface}/queues/${q}/rps_flow_cnt`)) || 0 })),
      tx: qs.filter((q) => q.startsWith("tx-")).map((q) => ({ queue: q, xpsCpus: read(`/sys/class/net/${iface}/queues/${q}/xps_cpus`) })),
    });
  }
  return out.length ? { value: out, source: src } : { unknown: "no interface but lo has queues under /sys/class/net", source: src };
}

/** True when a CPU mask ("0", "00000000,00000003") selects no CPU. */
export const maskEmpty = (mask: string) => !/[1-9a-f]/i.test(mask);

/** The busiest core's share of a per-core count, when the total is worth judging. */
export function busiest(perCpu: number[]): { cpu: number; share: number; total: number } {
  const total = perCpu.reduce((a, b) => a + b, 0);
  let cpu = 0;
  perCpu.forEach((v, i) => { if (v > perCpu[cpu]) cpu = i; });
  return { cpu, share: total ? perCpu[cpu] / total : 0, total };
}

/**
 * The counts of `b` less those of `a` (two probes `ms` apart): what the cores did in that window.
 * A reading unknown in either stays unknown; one whose cores differ (a CPU came online) too.
 */
export function sampleNetwork(a: NetworkReadings, b: NetworkReadings, ms: number): NetworkReadings {
  const minus = (x: number[], y: number[]) => (x.length === y.length ? y.map((v, i) => Math.max(0, v - x[i])) : undefined);
  const src = (s: string) => `${s}, difference over ${ms} ms`;
  const out: NetworkReadings = { ...b, sampleMs: ms };
  if ("value" in a.softirqs && "value" in b.softirqs) {
    const rx = minus(a.softirqs.value.rx, b.softirqs.value.rx), tx = minus(a.softirqs.value.tx, b.softirqs.value.tx);
    out.softirqs = rx && tx ? { value: { rx, tx }, source: src(b.softirqs.source) } : { unknown: "the number of cores changed during the sample", source: b.softirqs.source };
  }
  if ("value" in a.nicInterrupts && "value" in b.nicInterrupts) {
    const perCpu = minus(a.nicInterrupts.value.perCpu, b.nicInterrupts.value.perCpu);
    out.nicInterrupts = perCpu ? { value: { perCpu, lines: b.nicInterrupts.value.lines }, source: src(b.nicInterrupts.source) } : { unknown: "the number of cores changed during the sample", source: b.nicInterrupts.source };
  }
  if ("value" in a.softnet && "value" in b.softnet) {
    const dropped = minus(a.softnet.value.dropped, b.softnet.value.dropped), squeezed = minus(a.softnet.value.squeezed, b.softnet.value.squeezed);
    out.softnet = dropped && squeezed ? { value: { dropped, squeezed }, source: src(b.softnet.source) } : { unknown: "the number of cores changed during the sample", source: b.softnet.source };
  }
  return out;
}
