// The doctor's judgement: a forecast (connections, outbound, message rate and size) against the
// readings (probe.ts) gives a plan (descriptors, processes, memory, ports) and one verdict per
// knob: ok, warn or fail, with the reason, the fix and the runbook. Pure: same readings and
// forecast, same plan, so tests judge a fake machine exactly.
//
// The figures and where each comes from (docs/doctor.md repeats them):
//   descriptors   one per connection (in or out), one per listener, plus fdReserve (32, the
//                 library's default: host/options.ts) kept back for the process; the core's
//                 budget is the limit minus that reserve (assembly/budget.ts)
//   the limit     the reactor raises its soft RLIMIT_NOFILE to the hard limit at start, so a
//                 process can use up to min(hard, fs.nr_open) (kern.maxfilesperproc on BSD)
//   processes     past that, P processes share the port (SO_REUSEPORT). The kernel spreads by a
//                 hash, not by count: each gets 1.15 × N / P (docs/scaling.md measured 9,884–10,111
//                 of 30,000 over three)
//   memory        per process: 64 MiB for the runtime and code at rest (serve idle at 0
//                 connections, docs/scaling.md), 96 B per connection slot (a 64 B slot and two
//                 16 B timer nodes: host/core/layout.ts), the server preset's pool (2,048 × 16 KiB,
//                 resident only as used: counted whole, an upper bound); the kernel: 4.5 KiB per
//                 socket (measured here: Slab grew 3.7–4.7 KiB per idle loopback socket, ~3 KiB of
//                 it unreclaimable, tests/bench/kernel-socket-memory.mjs; MigratoryData reported
//                 ~3 KB at 12 M connections), plus tcp_rmem[0] + tcp_wmem[0] while data waits
//   ports         one outbound connection takes one port of ip_local_port_range per (source
//                 address, destination address and port)
import { BYTES_PER_CONNECTION, memoryBytes } from "../../core/layout.ts";
import { OPTION_SPECS, PRESETS } from "../../options.ts";
import { busiest, maskEmpty } from "./network.ts";
import { known, valueOf, type Reading, type Readings } from "./probe.ts";
import { RUNBOOK_URING, uringVerdicts, type UringTry } from "./uring.ts";

export type Level = "ok" | "warn" | "fail";

export interface Forecast {
  /** Inbound connections held at once (all processes together). */
  connections: number;
  /** Outbound connections held at once (0 when the server connects nowhere). */
  outbound: number;
  /** Messages per second, all connections together (undefined: not given). */
  msgRate?: number;
  /** Bytes per message (64 when a rate is given without a size). */
  msgSize?: number;
}

export interface Verdict {
  /** The knob or quantity judged (a sysctl name, RLIMIT_NOFILE, processes, …). */
  knob: string;
  /** What it is now, for people ("soft 1,024 / hard 20,000", "unknown (why)"). */
  now: string;
  verdict: Level;
  reason: string;
  /** What to do (omitted when nothing is to be done). */
  fix?: string;
  /** docs/runbooks/<name>.md */
  runbook: string;
}

export interface Plan {
  forecast: Forecast;
  /** Descriptors one process holding everything would need (connections + outbound + listener + reserve). */
  descriptorsOneProcess: number;
  /** What a process may open: min(hard RLIMIT_NOFILE, fs.nr_open); undefined when unknown. */
  descriptorsPerProcessMax?: number;
  processes: number;
  connectionsPerProcess: number;
  descriptorsPerProcess: number;
  memory: { runtimeBytes: number; slotBytes: number; poolBytes: number; coreBytes: number; kernelIdleBytes: number; kernelBufferBytes: number; totalBytes: number };
  ports: { range?: [number, number]; perSource?: number; sourcesNeeded?: number };
  /** What the snippets set (emit.ts): RLIMIT_NOFILE per process, and sysctls with why. */
  recommend: { nofile: number; sysctl: { name: string; value: string; why: string }[] };
  verdicts: Verdict[];
  worst: Level;
}

/** The library's figures the plan uses (each with its source above). */
export const FIGURES = {
  fdReserve: OPTION_SPECS.fdReserve.def,
  listenersPerProcess: 1,
  slotBytes: BYTES_PER_CONNECTION,
  poolChunks: PRESETS.server.values.poolChunks!.value,
  chunkSize: OPTION_SPECS.chunkSize.def,
  runtimeBytes: 64 * 1024 * 1024,
  kernelSocketBytes: 4.5 * 1024,
  spreadHeadroom: 1.15,
  /** Threads per process for cgroup pids: Node has 7 at rest here, serve adds its poller and workers. */
  threadsPerProcess: 32,
  expiriesPerTurn: OPTION_SPECS.expiriesPerTurn.def,
  acceptsPerTurn: OPTION_SPECS.acceptsPerTurn.def,
  serveBacklog: 4096,
  /** A core owning at least this share of a count (with enough counted) carries it alone. */
  concentratedShare: 0.9,
  /** tcp_mem is in pages; 4 KiB on x86-64 and most arm64 kernels. */
  pageBytes: 4096,
} as const;

export const RUNBOOK = {
  fds: "docs/runbooks/descriptor-exhaustion.md",
  accept: "docs/runbooks/accept-queue-overflow.md",
  memory: "docs/runbooks/backpressure-and-pool-exhaustion.md",
  ports: "docs/runbooks/ephemeral-port-exhaustion.md",
  poller: "docs/runbooks/poller-trigger-mode.md",
  timers: "docs/runbooks/timer-avalanche.md",
  uring: RUNBOOK_URING,
} as const;

/** 12,345 (no toLocaleString: see host/cli/common.ts). */
export const fmt = (n: number) => (n === Infinity ? "unlimited" : String(Math.round(n)).replace(/\B(?=(\d{3})+(?!\d))/g, ","));
export const mib = (b: number) => (b === Infinity ? "unlimited" : b >= 1 << 30 ? `${(b / 2 ** 30).toFixed(1)} GiB` : `${(b / 2 ** 20).toFixed(1)} MiB`);
const nextPow2 = (n: number) => 2 ** Math.ceil(Math.log2(Math.max(1, n)));
const shown = (r: Reading<unknown>, f: (v: never) => string) => (known(r) ? f(r.value as never) : `unknown (${r.unknown})`);

export interface PlanContext {
  /** The poller the CLI would use here (from the native shim's presence and the OS). */
  poller: { kind: "uring" | "epoll" | "kqueue" | "portable"; why: string };
  /**
   * Linux: the result of creating and closing a host 'uring' here (uring.ts), or why it was not
   * tried (a fake root, no native shim); without it the io_uring verdicts judge the readings only.
   */
  uring?: { tried: UringTry } | { notTried: string };
}

export function makePlan(r: Readings, fc: Forecast, ctx: PlanContext): Plan {
  const v: Verdict[] = [];
  const add = (x: Verdict) => v.push(x);
  const linux = r.platform === "linux";
  const bsd = r.platform === "darwin" || r.platform === "freebsd";
  const sys = (name: string) => r.sysctl[name] ?? { unknown: `not read on ${r.platform}`, source: "-" };
  const num = (name: string, i = 0) => valueOf(sys(name))?.[i];
  const recSysctl: Plan["recommend"]["sysctl"] = [];
  const recommend = (name: string, value: string, why: string) => { if (!recSysctl.some((s) => s.name === name)) recSysctl.push({ name, value, why }); };

  const N = fc.connections, M = fc.outbound;
  const reserve = FIGURES.fdReserve + FIGURES.listenersPerProcess;
  const D1 = N + M + reserve;

  // ── descriptors ────────────────────────────────────────────────────────────────────────
  const soft = valueOf(r.nofileSoft), hard = valueOf(r.nofileHard);
  const perProcName = linux ? "fs.nr_open" : bsd ? "kern.maxfilesperproc" : "";
  const perProc = perProcName ? num(perProcName) : undefined;
  // The limit to recommend: a power of two with 10% to spare, but never above a per-process
  // ceiling that already allows the need (setrlimit fails above fs.nr_open: a systemd service with
  // a LimitNOFILE above it does not start, status 205/LIMITS).
  const nofileWanted = Math.max(65_536, nextPow2(Math.ceil(D1 * 1.1)));
  const nofileRec = perProc !== undefined && perProc >= D1 ? Math.min(nofileWanted, perProc) : nofileWanted;
  const ceiling = hard === undefined ? soft : perProc === undefined ? hard : Math.min(hard, perProc);
  const nofileNow = `soft ${known(r.nofileSoft) ? fmt(r.nofileSoft.value) : "unknown"} / hard ${known(r.nofileHard) ? fmt(r.nofileHard.value) : "unknown"}`;
  const needs = `one process needs ${fmt(D1)} (${fmt(N)} connections${M ? ` + ${fmt(M)} outbound` : ""} + ${FIGURES.listenersPerProcess} listener + fdReserve ${FIGURES.fdReserve})`;
  if (hard === undefined && soft === undefined) {
    add({ knob: "RLIMIT_NOFILE", now: `unknown (${"unknown" in r.nofileHard ? r.nofileHard.unknown : ""})`, verdict: "warn", reason: `could not read the descriptor limit; ${needs}`, fix: "check `ulimit -Sn; ulimit -Hn` in the shell that starts the server", runbook: RUNBOOK.fds });
  } else if (soft !== undefined && D1 <= soft) {
    add({ knob: "RLIMIT_NOFILE", now: nofileNow, verdict: "ok", reason: `${needs}: within the soft limit`, runbook: RUNBOOK.fds });
  } else if (hard !== undefined && D1 <= hard) {
    add({ knob: "RLIMIT_NOFILE", now: nofileNow, verdict: "ok", reason: `${needs}: above the soft limit but within the hard one, which the reactor raises its soft limit to at start (raiseFdLimit)`, runbook: RUNBOOK.fds });
  } else if (hard === undefined) {
    add({ knob: "RLIMIT_NOFILE", now: nofileNow, verdict: "warn", reason: `${needs}, above the soft limit; the hard limit could not be read (${"unknown" in r.nofileHard ? r.nofileHard.unknown : ""})`,
      fix: "check `ulimit -Hn` where the server starts; raise it with --emit limits, systemd or launchd", runbook: RUNBOOK.fds });
  } else {
    add({ knob: "RLIMIT_NOFILE", now: nofileNow, verdict: "fail", reason: `${needs}; the hard limit is ${fmt(hard)} and only root or the service manager can raise it`,
      fix: `raise the hard limit to ${fmt(nofileRec)} (--emit limits, systemd or launchd), or run several processes (see processes)`, runbook: RUNBOOK.fds });
  }

  // Processes: the fewest P whose share fits one process's ceiling.
  const room = ceiling;
  const perProcessNeed = (P: number) => (P === 1 ? N : Math.ceil(FIGURES.spreadHeadroom * N / P)) + Math.ceil(M / P) + reserve;
  let P = 1;
  if (room !== undefined) while (P < 100_000 && perProcessNeed(P) > room) P++;
  const possible = room === undefined || perProcessNeed(P) <= room;
  const share = P === 1 ? N : Math.ceil(FIGURES.spreadHeadroom * N / P);
  const ceilingName = hard === undefined ? "the soft RLIMIT_NOFILE: the hard one is unknown" : perProc === undefined || hard <= perProc ? "the hard RLIMIT_NOFILE" : perProcName;
  const procLimitWhy = ceiling === undefined ? "" : `a process may open ${fmt(ceiling)} (${ceilingName})`;
  if (room === undefined) {
    add({ knob: "processes", now: "unknown", verdict: "warn", reason: "the descriptor limit is unknown, so the number of processes is too", runbook: RUNBOOK.fds });
  } else if (!possible) {
    add({ knob: "processes", now: `> ${fmt(P)}`, verdict: "fail", reason: `${procLimitWhy}: too few for even one connection each beside the reserve`, fix: `raise the hard limit to ${fmt(nofileRec)}`, runbook: RUNBOOK.fds });
  } else if (P === 1) {
    add({ knob: "processes", now: "1", verdict: "ok", reason: `one process holds the forecast (${procLimitWhy})`, runbook: RUNBOOK.fds });
  } else {
    add({ knob: "processes", now: fmt(P), verdict: "warn", reason: `${procLimitWhy}, so ${fmt(N)} connections need ${fmt(P)} processes of up to ${fmt(share)}${M ? ` connections and ${fmt(Math.ceil(M / P))} outbound` : ""} each (15% headroom: SO_REUSEPORT spreads by hash, not by count)`,
      fix: `run ${fmt(P)} \`wasm-reactor serve --reuse-port\` on one port (docs/scaling.md), or raise the hard limit to ${fmt(nofileRec)} for one process`, runbook: RUNBOOK.fds });
  }
  const perProcDescriptors = possible ? perProcessNeed(P) : D1;

  if (perProcName) {
    const nr = sys(perProcName);
    if (!known(nr)) add({ knob: perProcName, now: shown(nr, () => ""), verdict: "warn", reason: "the most descriptors any process may have is unknown", runbook: RUNBOOK.fds });
    else if (nr.value[0] >= D1) add({ knob: perProcName, now: fmt(nr.value[0]), verdict: "ok", reason: `the ceiling for any process's hard limit: above the ${fmt(D1)} one process would need`, runbook: RUNBOOK.fds });
    else {
      add({ knob: perProcName, now: fmt(nr.value[0]), verdict: "fail", reason: `no process may hold more than ${fmt(nr.value[0])} descriptors, not even root's: below the ${fmt(D1)} one process would need`, fix: `${perProcName} = ${nofileRec} (--emit sysctl), or run several processes`, runbook: RUNBOOK.fds });
      recommend(perProcName, String(nofileRec), `the most descriptors one process may have: ${fmt(D1)} needed in one process, with 10% to spare`);
    }
  }

  const sysName = linux ? "fs.file-max" : bsd ? "kern.maxfiles" : "";
  if (sysName) {
    const fm = sys(sysName);
    const inUse = valueOf(r.filesInUse) ?? 0;
    const total = N + M + P * reserve;
    if (!known(fm)) add({ knob: sysName, now: shown(fm, () => ""), verdict: "warn", reason: "the system-wide descriptor limit is unknown", runbook: RUNBOOK.fds });
    else {
      const avail = fm.value[0] - inUse;
      const rec = nextPow2(2 * (total + inUse));
      const inUseTxt = known(r.filesInUse) ? ` (${fmt(inUse)} in use now)` : "";
      if (total > avail) {
        add({ knob: sysName, now: fmt(fm.value[0]), verdict: "fail", reason: `all processes together need ${fmt(total)} descriptors, more than the ${fmt(avail)} the system has left${inUseTxt}`, fix: `${sysName} = ${rec} (--emit sysctl)`, runbook: RUNBOOK.fds });
        recommend(sysName, String(rec), `the whole system's open files: ${fmt(total)} for the forecast, twice that with what is open now`);
      } else if (total > 0.8 * avail) {
        add({ knob: sysName, now: fmt(fm.value[0]), verdict: "warn", reason: `the forecast's ${fmt(total)} descriptors take over 80% of the ${fmt(avail)} left${inUseTxt}`, fix: `${sysName} = ${rec} (--emit sysctl)`, runbook: RUNBOOK.fds });
        recommend(sysName, String(rec), `the whole system's open files: ${fmt(total)} for the forecast, twice that with what is open now`);
      } else add({ knob: sysName, now: fmt(fm.value[0]), verdict: "ok", reason: `the system-wide limit; the forecast needs ${fmt(total)} in all${inUseTxt}`, runbook: RUNBOOK.fds });
    }
  }

  if (linux) {
    const unit = r.systemdUnit, lim = r.systemdLimitNofile;
    if (!known(unit)) {
      add({ knob: "systemd LimitNOFILE", now: `unknown (${unit.unknown})`, verdict: "ok", reason: "nothing from systemd caps this process; a service you deploy takes its limit from its unit's LimitNOFILE", fix: "--emit systemd prints a drop-in for the service", runbook: RUNBOOK.fds });
    } else if (!known(lim) && unit.value.endsWith(".scope")) {
      add({ knob: "systemd LimitNOFILE", now: `none (${unit.value})`, verdict: "ok", reason: lim.unknown, fix: "a service you deploy takes its limit from its unit's LimitNOFILE: --emit systemd", runbook: RUNBOOK.fds });
    } else if (!known(lim)) {
      add({ knob: "systemd LimitNOFILE", now: `unknown (${lim.unknown})`, verdict: "warn", reason: `running under ${unit.value}, whose LimitNOFILE could not be read`, runbook: RUNBOOK.fds });
    } else {
      const ok = lim.value.hard >= perProcDescriptors;
      add({ knob: "systemd LimitNOFILE", now: `${fmt(lim.value.soft)}:${fmt(lim.value.hard)} (${unit.value})`, verdict: ok ? "ok" : "fail",
        reason: ok ? `the unit's limit covers the ${fmt(perProcDescriptors)} a process needs` : `the unit ${unit.value} caps its processes at ${fmt(lim.value.hard)}, below the ${fmt(perProcDescriptors)} each needs`,
        fix: ok ? undefined : `a drop-in with LimitNOFILE=${nofileRec} (--emit systemd), then systemctl daemon-reload and restart ${unit.value}`, runbook: RUNBOOK.fds });
    }
    const pids = r.cgroupPidsMax, pidsNeed = P * FIGURES.threadsPerProcess;
    if (!known(pids)) add({ knob: "cgroup pids.max", now: `unknown (${pids.unknown})`, verdict: "ok", reason: "no cgroup task limit could be read (none applies, or cgroups are not mounted here)", runbook: RUNBOOK.fds });
    else add({ knob: "cgroup pids.max", now: fmt(pids.value), verdict: pids.value >= pidsNeed ? "ok" : "fail",
      reason: `${P} process${P > 1 ? "es" : ""} of up to ${FIGURES.threadsPerProcess} threads each (Node runs 7 at rest; the poller and workers add theirs) need ${fmt(pidsNeed)} tasks`,
      fix: pids.value >= pidsNeed ? undefined : `raise the cgroup's pids.max (TasksMax= in a systemd unit) to ${fmt(nextPow2(pidsNeed))}`, runbook: RUNBOOK.fds });
  }

  // ── accept queue ───────────────────────────────────────────────────────────────────────
  // A restart or a network blip sends a process's whole share back at once; the reactor
  // accepts acceptsPerTurn (128) per turn, and what waits meanwhile waits in the accept queue.
  // Rule of thumb: room for a quarter of the share, at least serve's own --backlog (4096).
  const backlogRec = Math.min(65_535, Math.max(FIGURES.serveBacklog, nextPow2(Math.ceil(share / 4))));
  const somaxName = linux ? "net.core.somaxconn" : bsd ? "kern.ipc.somaxconn" : "";
  if (somaxName) {
    const s = sys(somaxName);
    const why = `each listener's accept queue is capped at this (serve asks for --backlog ${FIGURES.serveBacklog}); a reconnect storm of a process's ${fmt(share)} connections waits there while the reactor accepts ${FIGURES.acceptsPerTurn} per turn: room for a quarter of them is ${fmt(backlogRec)}`;
    if (!known(s)) add({ knob: somaxName, now: shown(s, () => ""), verdict: "warn", reason: why, runbook: RUNBOOK.accept });
    else {
      const val = s.value[0];
      const level: Level = val >= backlogRec ? "ok" : val >= Math.min(backlogRec, 1024) ? "warn" : "fail";
      add({ knob: somaxName, now: fmt(val), verdict: level, reason: why, fix: level === "ok" ? undefined : `${somaxName} = ${backlogRec} (--emit sysctl) and serve --backlog ${backlogRec}`, runbook: RUNBOOK.accept });
      if (level !== "ok") recommend(somaxName, String(backlogRec), `the accept queue's ceiling: a quarter of a process's ${fmt(share)} connections reconnecting at once`);
    }
  }
  if (linux) {
    const syn = sys("net.ipv4.tcp_max_syn_backlog");
    const why = "half-open connections (SYN received, handshake not done) wait here; past it SYNs are dropped or answered with cookies";
    if (!known(syn)) add({ knob: "net.ipv4.tcp_max_syn_backlog", now: shown(syn, () => ""), verdict: "warn", reason: why, runbook: RUNBOOK.accept });
    else {
      const ok = syn.value[0] >= backlogRec;
      add({ knob: "net.ipv4.tcp_max_syn_backlog", now: fmt(syn.value[0]), verdict: ok ? "ok" : "warn", reason: `${why}; ${fmt(backlogRec)} matches the accept queue`, fix: ok ? undefined : `net.ipv4.tcp_max_syn_backlog = ${backlogRec} (--emit sysctl)`, runbook: RUNBOOK.accept });
      if (!ok) recommend("net.ipv4.tcp_max_syn_backlog", String(backlogRec), "half-open connections: as many as the accept queue holds");
    }
    const sc = sys("net.ipv4.tcp_syncookies");
    if (!known(sc)) add({ knob: "net.ipv4.tcp_syncookies", now: shown(sc, () => ""), verdict: "warn", reason: "unknown whether SYN cookies take over when the SYN queue is full", runbook: RUNBOOK.accept });
    else {
      const c = sc.value[0];
      add({ knob: "net.ipv4.tcp_syncookies", now: String(c), verdict: c === 1 ? "ok" : "warn",
        reason: c === 1 ? "cookies answer SYNs only when the SYN queue is full: a storm is slowed, not dropped" : c === 0 ? "off: a SYN flood or reconnect storm past tcp_max_syn_backlog is dropped (clients retry after 1 s, 3 s, 7 s…)" : "2: cookies for every SYN, even with room in the queue",
        fix: c === 1 ? undefined : "net.ipv4.tcp_syncookies = 1 (--emit sysctl)", runbook: RUNBOOK.accept });
      if (c !== 1) recommend("net.ipv4.tcp_syncookies", "1", "SYN cookies only when the SYN queue overflows");
    }
    const nb = sys("net.core.netdev_max_backlog");
    const when = r.network.sampleMs ? `in the ${r.network.sampleMs} ms sample` : "since boot";
    const drops = valueOf(r.network.softnet);
    const dropped = drops ? drops.dropped.reduce((a, b) => a + b, 0) : 0;
    // Packets per core between two NET_RX softirq runs (a 4 ms tick at HZ=250): one packet per
    // message each way is the floor; cores taking NET_RX are those with a tenth of it or more.
    const rxCpus = (() => { const s = valueOf(r.network.softirqs); if (!s) return 1; const t = s.rx.reduce((a, b) => a + b, 0); return Math.max(1, s.rx.filter((x) => t && x / t >= 0.1).length); })();
    const burst = fc.msgRate ? Math.ceil(fc.msgRate / rxCpus * 0.004) : 0;
    if (!known(nb)) add({ knob: "net.core.netdev_max_backlog", now: shown(nb, () => ""), verdict: "warn", reason: "the per-core input queue's length is unknown", runbook: RUNBOOK.accept });
    else {
      const val = nb.value[0];
      const rec = Math.max(4096, nextPow2(burst * 2));
      const problems = [];
      if (dropped > 0) problems.push(`${fmt(dropped)} packets were dropped ${when} because this queue was full (/proc/net/softnet_stat)`);
      if (burst > val) problems.push(`${fmt(fc.msgRate!)} msgs/s over ${rxCpus} receiving core${rxCpus > 1 ? "s" : ""} is ${fmt(burst)} packets per 4 ms tick`);
      add({ knob: "net.core.netdev_max_backlog", now: fmt(val), verdict: problems.length ? "warn" : "ok",
        reason: problems.length ? problems.join("; ") : `packets waiting per core for the receive softirq; no drops ${when}${burst ? `, ${fmt(burst)} per 4 ms tick forecast` : ""}`,
        fix: problems.length ? `net.core.netdev_max_backlog = ${Math.max(rec, val * 2)} (--emit sysctl); see also the per-core network lines` : undefined, runbook: RUNBOOK.accept });
      if (problems.length) recommend("net.core.netdev_max_backlog", String(Math.max(rec, val * 2)), "packets queued per core before the receive softirq runs");
    }
  }

  // ── memory ─────────────────────────────────────────────────────────────────────────────
  const outPer = Math.ceil(M / P);
  const coreBytes = memoryBytes({ slotCap: share + outPer, chunkSize: FIGURES.chunkSize, chunkCount: FIGURES.poolChunks, appTimerCap: OPTION_SPECS.timers.def, eventCap: OPTION_SPECS.eventRing.def, submitCap: OPTION_SPECS.submitRing.def, noteCap: OPTION_SPECS.noteRing.def, supplyCap: PRESETS.server.values.supplyTarget!.value });
  const slotBytes = (share + outPer) * FIGURES.slotBytes;
  const poolBytes = FIGURES.poolChunks * FIGURES.chunkSize;
  const rmem0 = linux ? num("net.ipv4.tcp_rmem") : undefined, wmem0 = linux ? num("net.ipv4.tcp_wmem") : undefined;
  const bufPerSocket = (rmem0 ?? 4096) + (wmem0 ?? 4096);
  const kernelIdleBytes = (N + M) * FIGURES.kernelSocketBytes;
  const kernelBufferBytes = (N + M) * bufPerSocket;
  const totalBytes = P * (FIGURES.runtimeBytes + coreBytes) + kernelIdleBytes + kernelBufferBytes;
  const memory = { runtimeBytes: FIGURES.runtimeBytes, slotBytes, poolBytes, coreBytes, kernelIdleBytes, kernelBufferBytes, totalBytes };
  const memWhy = `${P} × (${mib(FIGURES.runtimeBytes)} runtime + ${mib(coreBytes)} core: ${mib(slotBytes)} of 96 B slots, ${mib(poolBytes)} pool) + kernel ${mib(kernelIdleBytes)} (4.5 KiB a socket: measured, tests/bench/kernel-socket-memory.mjs) + ${mib(kernelBufferBytes)} buffers (${fmt(bufPerSocket)} B a socket while data waits) = ${mib(totalBytes)}`;
  {
    const total = valueOf(r.memTotalBytes), avail = valueOf(r.memAvailableBytes);
    if (total === undefined) add({ knob: "memory", now: shown(r.memTotalBytes, () => ""), verdict: "warn", reason: `the machine's memory is unknown; the forecast needs up to ${memWhy}`, runbook: RUNBOOK.memory });
    else {
      const level: Level = totalBytes > total ? "fail" : avail !== undefined && totalBytes > avail ? "warn" : "ok";
      add({ knob: "memory", now: `${mib(total)}${avail !== undefined ? `, ${mib(avail)} available` : ""}`, verdict: level, reason: `up to ${memWhy}`,
        fix: level === "ok" ? undefined : "more memory, fewer connections per machine, or smaller pools (poolChunks) and socket buffers (tcp_rmem/tcp_wmem minimums)", runbook: RUNBOOK.memory });
    }
  }
  if (linux) {
    const cm = r.cgroupMemoryMaxBytes;
    if (!known(cm)) add({ knob: "cgroup memory limit", now: `unknown (${cm.unknown})`, verdict: "ok", reason: "no cgroup memory limit could be read (none applies, or cgroups are not mounted here)", runbook: RUNBOOK.memory });
    else {
      const level: Level = totalBytes > cm.value ? "fail" : totalBytes > 0.8 * cm.value ? "warn" : "ok";
      add({ knob: "cgroup memory limit", now: mib(cm.value), verdict: level, reason: cm.value === Infinity ? "no limit on this process's cgroup or its parents" : `the forecast needs up to ${mib(totalBytes)}; past the limit the kernel reclaims, then kills`,
        fix: level === "ok" ? undefined : `raise memory.max (MemoryMax= in a systemd unit) above ${mib(totalBytes * 1.25)}`, runbook: RUNBOOK.memory });
    }
    const tm = sys("net.ipv4.tcp_mem");
    if (!known(tm) || tm.value.length < 3) add({ knob: "net.ipv4.tcp_mem", now: shown(tm, () => "not three numbers"), verdict: "warn", reason: "the kernel's TCP memory thresholds are unknown", runbook: RUNBOOK.memory });
    else {
      const pages = Math.ceil(kernelBufferBytes / FIGURES.pageBytes);
      const [, pressure, max] = tm.value;
      const level: Level = pages > max ? "fail" : pages > pressure ? "warn" : "ok";
      add({ knob: "net.ipv4.tcp_mem", now: tm.value.map(fmt).join(" "), verdict: level,
        reason: `pages for all TCP buffers (low, pressure, max): with data waiting in every socket the forecast takes ${fmt(pages)} (${mib(kernelBufferBytes)})${level === "fail" ? "; past max, new buffers are refused: sends stall, packets drop" : level === "warn" ? "; past pressure, the kernel shrinks every socket's buffers" : ""}`,
        fix: level === "ok" ? undefined : `net.ipv4.tcp_mem = ${Math.max(tm.value[0], pages)} ${Math.max(pressure, Math.ceil(pages * 1.5))} ${Math.max(max, pages * 2)} (--emit sysctl)`, runbook: RUNBOOK.memory });
      if (level !== "ok") recommend("net.ipv4.tcp_mem", `${Math.max(tm.value[0], pages)} ${Math.max(pressure, Math.ceil(pages * 1.5))} ${Math.max(max, pages * 2)}`, `TCP buffer pages: ${fmt(pages)} with data waiting in every socket of the forecast`);
    }
    for (const name of ["net.ipv4.tcp_rmem", "net.ipv4.tcp_wmem"]) {
      const x = sys(name);
      if (!known(x)) { add({ knob: name, now: shown(x, () => ""), verdict: "warn", reason: "a socket's buffer sizes (min, default, max) are unknown", runbook: RUNBOOK.memory }); continue; }
      const big = x.value[0] > 16_384;
      add({ knob: name, now: x.value.map(fmt).join(" "), verdict: big ? "warn" : "ok",
        reason: `min ${fmt(x.value[0])} B: the least a socket holding data keeps, whatever the memory pressure (×${fmt(N + M)} sockets = ${mib(x.value[0] * (N + M))})`,
        fix: big ? `${name} = 4096 ${x.value[1]} ${x.value[2]} (the default minimum, --emit sysctl)` : undefined, runbook: RUNBOOK.memory });
      if (big) recommend(name, `4096 ${x.value[1]} ${x.value[2]}`, "the kernel's default minimum per socket");
    }
    const oc = sys("vm.overcommit_memory");
    if (!known(oc)) add({ knob: "vm.overcommit_memory", now: shown(oc, () => ""), verdict: "warn", reason: "the overcommit policy is unknown", runbook: RUNBOOK.memory });
    else add({ knob: "vm.overcommit_memory", now: String(oc.value[0]), verdict: oc.value[0] === 2 ? "warn" : "ok",
      reason: oc.value[0] === 2 ? "strict: every writable mapping counts against CommitLimit when mapped, not when touched (the core's memory is sized at init for every slot and the whole pool): a process can fail to start with RAM free" : "memory is committed as it is touched: the pool's untouched pages cost nothing",
      fix: oc.value[0] === 2 ? "vm.overcommit_memory = 0 (--emit sysctl), or leave room in vm.overcommit_ratio for each process's core memory" : undefined, runbook: RUNBOOK.memory });
    if (valueOf(oc)?.[0] === 2) recommend("vm.overcommit_memory", "0", "heuristic overcommit: the pool's reserved pages are paid for only when used");
  }

  // ── ephemeral ports ───────────────────────────────────────────────────────────────────
  let range: [number, number] | undefined;
  let rangeSrc = "";
  if (linux) { const x = valueOf(sys("net.ipv4.ip_local_port_range")); if (x && x.length >= 2) range = [x[0], x[1]]; rangeSrc = "net.ipv4.ip_local_port_range"; }
  else if (bsd) { const a = num("net.inet.ip.portrange.first"), b = num("net.inet.ip.portrange.last"); if (a !== undefined && b !== undefined) range = [a, b]; rangeSrc = "net.inet.ip.portrange.first/last"; }
  const perSource = range ? range[1] - range[0] + 1 : undefined;
  const sourcesNeeded = perSource && M ? Math.ceil(M / perSource) : undefined;
  if (rangeSrc) {
    if (!range) add({ knob: rangeSrc, now: "unknown", verdict: M ? "warn" : "ok", reason: "the ephemeral port range is unknown", runbook: RUNBOOK.ports });
    else {
      const level: Level = !M ? "ok" : M > perSource! ? "fail" : M > 0.8 * perSource! ? "warn" : "ok";
      add({ knob: rangeSrc, now: `${range[0]}–${range[1]}`, verdict: level,
        reason: !M ? `${fmt(perSource!)} ports per source address and destination; no outbound connections forecast (--outbound)` : `${fmt(M)} outbound connections, ${fmt(perSource!)} ports per source address and destination${level === "fail" ? `: ${fmt(sourcesNeeded!)} source addresses (or destinations) needed` : ""}`,
        fix: level === "ok" ? undefined : `connect from ${fmt(sourcesNeeded ?? 2)} source addresses (localAddress; IP_BIND_ADDRESS_NO_PORT lets the kernel pick the port per destination), or widen the range${linux ? " (net.ipv4.ip_local_port_range = 10000 65535, --emit sysctl)" : ""}`, runbook: RUNBOOK.ports });
      if (level !== "ok" && linux && range[0] > 10000) recommend("net.ipv4.ip_local_port_range", "10000 65535", `${fmt(M)} outbound connections: 55,536 ports per source address and destination (keep the low end above the ports servers listen on)`);
    }
  }
  if (linux) {
    const tw = sys("net.ipv4.tcp_tw_reuse");
    if (!known(tw)) add({ knob: "net.ipv4.tcp_tw_reuse", now: shown(tw, () => ""), verdict: M ? "warn" : "ok", reason: "unknown whether new outbound connections may reuse ports in TIME_WAIT", runbook: RUNBOOK.ports });
    else {
      const t = tw.value[0];
      const level: Level = !M || t === 1 ? "ok" : "warn";
      add({ knob: "net.ipv4.tcp_tw_reuse", now: String(t), verdict: level,
        reason: `${t === 1 ? "outbound connections reuse ports in TIME_WAIT" : t === 2 ? "only loopback connections reuse ports in TIME_WAIT" : "ports in TIME_WAIT are not reused"}${M ? "" : "; matters for outbound connections only"}: the side that closes first holds each port for 60 s`,
        fix: level === "ok" ? undefined : "net.ipv4.tcp_tw_reuse = 1 (--emit sysctl)", runbook: RUNBOOK.ports });
      if (level !== "ok") recommend("net.ipv4.tcp_tw_reuse", "1", "outbound connections may reuse a port in TIME_WAIT (safe with TCP timestamps)");
    }
    const fin = sys("net.ipv4.tcp_fin_timeout");
    if (!known(fin)) add({ knob: "net.ipv4.tcp_fin_timeout", now: shown(fin, () => ""), verdict: "ok", reason: "unknown: how long an orphaned connection waits in FIN_WAIT2", runbook: RUNBOOK.ports });
    else add({ knob: "net.ipv4.tcp_fin_timeout", now: `${fin.value[0]} s`, verdict: fin.value[0] > 60 ? "warn" : "ok",
      reason: "how long a connection we closed waits in FIN_WAIT2 for the peer's FIN: each holds a port and kernel memory meanwhile", fix: fin.value[0] > 60 ? "net.ipv4.tcp_fin_timeout = 60 (--emit sysctl)" : undefined, runbook: RUNBOOK.ports });
    if (valueOf(fin)?.[0] !== undefined && valueOf(fin)![0] > 60) recommend("net.ipv4.tcp_fin_timeout", "60", "the kernel's default FIN_WAIT2 time");
  }

  // ── the loop: poller, clock, timers ───────────────────────────────────────────────────
  add({ knob: "poller", now: ctx.poller.kind, verdict: ctx.poller.kind === "portable" && N >= 10_000 ? "warn" : "ok", reason: ctx.poller.why,
    fix: ctx.poller.kind === "portable" && N >= 10_000 ? "build the native shim (npm run build with a C compiler) for the epoll/kqueue host, edge-triggered as serve runs it" : undefined, runbook: RUNBOOK.poller });
  if (linux) {
    const cs = r.clocksource;
    const fast = ["tsc", "kvm-clock", "arch_sys_counter", "hyperv_clocksource_tsc_page", "xen", "riscv_clocksource"];
    if (!known(cs)) add({ knob: "clocksource", now: `unknown (${cs.unknown})`, verdict: "ok", reason: "the reactor reads the clock once per turn and per timer check", runbook: RUNBOOK.timers });
    else add({ knob: "clocksource", now: cs.value, verdict: fast.includes(cs.value) ? "ok" : "warn",
      reason: fast.includes(cs.value) ? "clock reads stay in user space (vDSO)" : `${cs.value}: each clock read is a slow hardware access or syscall; turns and timer lateness grow`,
      fix: fast.includes(cs.value) ? undefined : "boot with clocksource=tsc where the CPU's TSC is stable (check available_clocksource)", runbook: RUNBOOK.timers });
  }
  {
    const timers = 2 * (share + outPer);
    const turns = Math.ceil(timers / FIGURES.expiriesPerTurn);
    add({ knob: "timer expiries", now: `${fmt(timers)} / process`, verdict: turns > 64 ? "warn" : "ok",
      reason: `two timers per connection; if all fire at once (a clock jump, a burst of connects sharing an idle timeout) they spread over ${fmt(turns)} turn${turns > 1 ? "s" : ""} at expiriesPerTurn ${fmt(FIGURES.expiriesPerTurn)}`,
      fix: turns > 64 ? "more processes or workers (fewer connections each), or jitter idle timeouts" : undefined, runbook: RUNBOOK.timers });
  }

  // ── io_uring: would host 'uring' start here (uring.ts) ──────────────────────────────────
  if (linux) v.push(...uringVerdicts(r.uring, ctx.uring && "tried" in ctx.uring ? ctx.uring.tried : undefined, ctx.uring && "notTried" in ctx.uring ? ctx.uring.notTried : "the doctor was not asked to"));

  // ── per-core network load ──────────────────────────────────────────────────────────────
  let concentrated = false;
  if (linux) {
    const q = r.network.queues;
    // Since boot, a core needs 10,000 softirqs (1,000 interrupts) to be judged; in a sample, 100 (10).
    const sampled = r.network.sampleMs !== undefined, when = sampled ? `in the ${r.network.sampleMs} ms sample` : "since boot";
    const rpsOn = known(q) && q.value.some((n) => n.rx.some((x) => !maskEmpty(x.rpsCpus)));
    const si = r.network.softirqs;
    if (!known(si)) add({ knob: "NET_RX softirqs/core", now: `unknown (${si.unknown})`, verdict: "ok", reason: "where the kernel's receive work runs is unknown", runbook: RUNBOOK.accept });
    else {
      const b = busiest(si.value.rx);
      const enough = b.total >= (sampled ? 100 : 10_000);
      const alone = si.value.rx.length > 1 && enough && b.share >= FIGURES.concentratedShare;
      concentrated ||= alone;
      add({ knob: "NET_RX softirqs/core", now: si.value.rx.map((x) => pct(x, b.total)).join(" "), verdict: alone ? "warn" : "ok",
        reason: si.value.rx.length < 2 ? "one core" : b.total === 0 ? `no receive softirqs ${when}` : !enough ? `too little receive work ${when} to judge (${fmt(b.total)} softirqs)` : alone ? `CPU${b.cpu} ran ${pct(b.share * b.total, b.total)} of the receive softirqs ${when}: one core carries the network alone, whatever runs on the others` : `the receive work is spread: the busiest core (CPU${b.cpu}) ran ${pct(b.share * b.total, b.total)} ${when}`,
        fix: alone ? "spread the NIC's interrupts (irqbalance, /proc/irq/N/smp_affinity) or turn on RPS (see RPS/RFS/XPS)" : undefined, runbook: RUNBOOK.accept });
    }
    const ni = r.network.nicInterrupts;
    if (!known(ni)) add({ knob: "NIC interrupts/core", now: `unknown (${ni.unknown})`, verdict: "ok", reason: "no interrupt line of a network device to judge", runbook: RUNBOOK.accept });
    else {
      const b = busiest(ni.value.perCpu);
      // Interrupts on one core are the receive work on one core unless RPS hands it on.
      const enough = b.total >= (sampled ? 10 : 1_000);
      const one = ni.value.perCpu.length > 1 && enough && b.share >= FIGURES.concentratedShare;
      const alone = one && !rpsOn;
      concentrated ||= alone;
      add({ knob: "NIC interrupts/core", now: ni.value.perCpu.map((x) => pct(x, b.total)).join(" "), verdict: alone ? "warn" : "ok",
        reason: one ? `CPU${b.cpu} took ${pct(b.share * b.total, b.total)} of ${ni.value.lines.join(", ")} ${when}${alone ? "" : "; RPS hands the receive work on to other cores"}` : b.total === 0 ? `no interrupts from ${ni.value.lines.join(", ")} ${when}` : !enough ? `too few interrupts ${when} to judge (${fmt(b.total)})` : `spread over the cores (${ni.value.lines.join(", ")}) ${when}`,
        fix: alone ? `give the queues' interrupts to other cores (irqbalance, /proc/irq/N/smp_affinity_list), or RPS` : undefined, runbook: RUNBOOK.accept });
    }
    const rfs = num("net.core.rps_sock_flow_entries");
    if (!known(q)) add({ knob: "RPS/RFS/XPS", now: `unknown (${q.unknown})`, verdict: "ok", reason: "no network queues to judge", runbook: RUNBOOK.accept });
    else {
      const parts = q.value.map((n) => `${n.iface}: ${n.rx.length} rx queue${n.rx.length === 1 ? "" : "s"}, RPS ${n.rx.some((x) => !maskEmpty(x.rpsCpus)) ? "on" : "off"}, XPS ${n.tx.some((x) => x.xpsCpus && !maskEmpty(x.xpsCpus)) ? "on" : "off"}`);
      const rpsOff = q.value.every((n) => n.rx.every((x) => maskEmpty(x.rpsCpus)));
      const fewQueues = q.value.every((n) => n.rx.length < r.cpus);
      const level: Level = concentrated && rpsOff && fewQueues ? "warn" : "ok";
      const mask = ((1n << BigInt(Math.min(r.cpus, 64))) - 1n).toString(16);
      add({ knob: "RPS/RFS/XPS", now: `${parts.join("; ")}; RFS ${rfs ? `${fmt(rfs)} flows` : "off"}`, verdict: level,
        reason: level === "warn" ? "the receive work sits on one core and no RPS hands it on" : rpsOff && fewQueues ? "fewer receive queues than cores and RPS off: fine while the load spreads (above)" : "receive work can reach every core",
        fix: level === "warn" ? `echo ${mask} > /sys/class/net/<if>/queues/rx-<n>/rps_cpus (every core; a udev rule keeps it), and RFS: net.core.rps_sock_flow_entries = 32768 with rps_flow_cnt = 32768 / queues` : undefined, runbook: RUNBOOK.accept });
      if (level === "warn") recommend("net.core.rps_sock_flow_entries", "32768", "RFS: steer each flow's receive work to the core its reader runs on (set rps_cpus and rps_flow_cnt per queue too)");
    }
  }

  const worst: Level = v.some((x) => x.verdict === "fail") ? "fail" : v.some((x) => x.verdict === "warn") ? "warn" : "ok";
  return {
    forecast: fc, descriptorsOneProcess: D1, descriptorsPerProcessMax: ceiling, processes: possible ? P : 0, connectionsPerProcess: share, descriptorsPerProcess: perProcDescriptors,
    memory, ports: { range, perSource, sourcesNeeded }, recommend: { nofile: nofileRec, sysctl: recSysctl }, verdicts: v, worst,
  };
}

const pct = (x: number, total: number) => `${total ? Math.round((100 * x) / total) : 0}%`;
