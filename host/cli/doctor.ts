// `wasm-reactor doctor`: reads this machine's limits and kernel knobs, turns a forecast into a
// plan, and judges each knob ok / warn / fail with the reason, the fix and the runbook. It
// changes nothing: --emit prints the files that would. The work is in host/ops/doctor/ (probe,
// network, plan, emit, render); this file parses the command line. docs/doctor.md is its page.
import { existsSync } from "node:fs";
import * as os from "node:os";
import { fail, requireDeno, SHIM_FILE } from "./common.ts";
import { EMIT_KINDS, emit, type EmitKind } from "../ops/doctor/emit.ts";
import { makePlan, type Forecast, type PlanContext } from "../ops/doctor/plan.ts";
import { probe, valueOf } from "../ops/doctor/probe.ts";
import { sampleNetwork } from "../ops/doctor/network.ts";
import { json, table } from "../ops/doctor/render.ts";
import { tryUring } from "../ops/doctor/uring.ts";
import { createHost } from "../backends/registry.ts";
import { resolveOptions } from "../options.ts";

const DOCTOR_HELP = `Usage: wasm-reactor doctor [--connections N] [--outbound M] [--msg-rate R --msg-size S]
                          [--sample-ms T] [--json | --emit sysctl|limits|systemd|launchd]

Reads this machine's descriptor limits (RLIMIT_NOFILE, fs.nr_open, fs.file-max, systemd's
LimitNOFILE, cgroup limits; kern.maxfiles* on macOS/FreeBSD), its TCP knobs (somaxconn, SYN
backlog and cookies, ephemeral ports, TIME_WAIT reuse, socket buffers and tcp_mem) and where its
network work runs (per-core softirqs and interrupts, RPS/RFS/XPS) and whether io_uring (host
'uring', serve --backend uring) can start here (kernel, kernel.io_uring_disabled, seccomp,
RLIMIT_MEMLOCK, and a host created and closed), then judges each against a forecast. Changes nothing. docs/doctor.md explains every line; docs/runbooks/ every fix.

Options:
  --connections N      inbound connections held at once, all processes together (default
                       10000, the library's default maxConnections)
  --outbound M         outbound connections held at once (default 0): ephemeral ports
  --msg-rate R         messages per second, all connections together: input-queue sizing
  --msg-size S         bytes per message (default 64 when --msg-rate is given)
  --sample-ms T        judge the per-core network load over the next T ms (counts read twice)
                       rather than since boot: run it while the server is under load
  --json               the readings, plan and verdicts as JSON (shape in docs/doctor.md)
  --emit KIND          print a file that applies the fixes and persists across reboots:
                         sysctl   /etc/sysctl.d/90-wasm-reactor.conf (kernel knobs)
                         limits   /etc/security/limits.d/90-wasm-reactor.conf (login sessions)
                         systemd  a drop-in with LimitNOFILE for the service's unit
                         launchd  a LaunchDaemon plist for macOS's maxfiles
  -h, --help           this text

Exit status: 0 no verdict is fail (warnings allowed; --emit always, once printed), 1 at least
one fail: this machine cannot hold the forecast as it is, 2 a bad option.
`;

interface DoctorArgs { forecast: Forecast; json: boolean; emit?: EmitKind; sampleMs: number }

function intArg(name: string, raw: string | undefined, min: number, max: number): number {
  if (raw === undefined || raw.startsWith("--")) fail(`${name} needs a value (an integer from ${min} to ${max})`);
  const n = /^\d+$/.test(raw) ? Number(raw) : NaN;
  if (!Number.isSafeInteger(n) || n < min || n > max) fail(`${name} must be an integer from ${min} to ${max}, got ${JSON.stringify(raw)}`);
  return n;
}

export function parseDoctorArgs(argv: string[]): DoctorArgs | "help" {
  const fc: Forecast = { connections: 10_000, outbound: 0 };
  let asJson = false, kind: EmitKind | undefined, size: number | undefined, sampleMs = 0;
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    switch (a) {
      case "-h": case "--help": return "help";
      case "--connections": fc.connections = intArg(a, argv[++i], 1, 100_000_000); break;
      case "--outbound": fc.outbound = intArg(a, argv[++i], 0, 100_000_000); break;
      case "--msg-rate": fc.msgRate = intArg(a, argv[++i], 1, 1_000_000_000); break;
      case "--msg-size": size = intArg(a, argv[++i], 1, 1 << 30); break;
      case "--sample-ms": sampleMs = intArg(a, argv[++i], 1, 60_000); break;
      case "--json": asJson = true; break;
      case "--emit": {
        const k = argv[++i];
        if (k === undefined || !(EMIT_KINDS as readonly string[]).includes(k)) fail(`--emit must be one of ${EMIT_KINDS.join(", ")}, got ${k === undefined ? "nothing" : JSON.stringify(k)}`);
        kind = k as EmitKind;
        break;
      }
      default: fail(`doctor: unknown option ${JSON.stringify(a)} (wasm-reactor doctor --help lists them)`);
    }
  }
  if (size !== undefined && fc.msgRate === undefined) fail("--msg-size needs --msg-rate (a size alone says nothing about load)");
  if (fc.msgRate !== undefined) fc.msgSize = size ?? 64;
  if (asJson && kind) fail("--json and --emit cannot be combined: --json describes, --emit prints one file");
  return { forecast: fc, json: asJson, emit: kind, sampleMs };
}

function runtimeName(): string {
  const g = globalThis as { Deno?: { version: { deno: string } }; Bun?: { version: string } };
  return g.Deno ? `deno ${g.Deno.version.deno}` : g.Bun ? `bun ${g.Bun.version}` : `node ${process.versions.node}`;
}

export async function doctor(argv: string[]): Promise<void> {
  const args = parseDoctorArgs(argv);
  if (args === "help") { process.stdout.write(DOCTOR_HELP); return; }
  requireDeno("doctor", "all", "it reads /proc/self and runs sh, sysctl and systemctl");
  // Tests point the probe at a fake machine (docs/doctor.md, "Testing"); nothing else sets it.
  const root = process.env.WASM_REACTOR_DOCTOR_ROOT || "/";
  let readings = probe({ root });
  if (args.sampleMs) {
    await new Promise((r) => setTimeout(r, args.sampleMs));
    const again = probe({ root });
    readings = { ...again, network: sampleNetwork(readings.network, again.network, args.sampleMs) };
  }
  const native = readings.platform === "linux" ? "epoll" : readings.platform === "darwin" || readings.platform === "freebsd" ? "kqueue" : undefined;
  const shim = existsSync(SHIM_FILE);
  // Would host 'uring' start? Tried on this machine only, after the probe (the try loads the shim).
  const uring: PlanContext["uring"] = readings.platform !== "linux" ? undefined
    : root !== "/" ? { notTried: `the probe reads a fake root (${root})` }
    : !shim ? { notTried: `no native shim beside the CLI (${SHIM_FILE})` }
    : { tried: tryUring(() => createHost(resolveOptions({ host: "uring", raiseFdLimit: false }), () => {})) };
  // What host 'auto' (and so serve) picks here: io_uring where it starts, else the OS's readiness host.
  const uringStarts = uring !== undefined && "tried" in uring && uring.tried.started;
  const ctx: PlanContext = {
    uring,
    poller: uringStarts
      ? { kind: "uring", why: "host 'auto' picks io_uring here (a host 'uring' started: see below): completions, one kernel entry per turn; serve --edge or --level picks epoll instead" }
      : native && shim
      ? { kind: native, why: `the native shim is built (${native})${native === "epoll" ? "; io_uring cannot start or was not tried here (see host 'uring' below), so host 'auto' uses epoll" : ""}; serve runs it edge-triggered (the server preset): at 10,000 busy connections p99.9 was 104–126 ms edge against 184–205 ms level` }
      : { kind: "portable", why: native ? `no native shim beside the CLI (${SHIM_FILE}): host 'auto' falls back to the runtime's own sockets` : `no native host for ${readings.platform}: the runtime's own sockets` },
  };
  const plan = makePlan(readings, args.forecast, ctx);
  if (args.emit) {
    process.stdout.write(emit(args.emit, plan, { platform: readings.platform, unit: valueOf(readings.systemdUnit) }));
    return;
  }
  const kernel = `${os.type()} ${os.release()}`;
  const about = `${kernel}, ${runtimeName()}, ${readings.cpus} core${readings.cpus === 1 ? "" : "s"}`;
  process.stdout.write(args.json ? json(readings, plan, { runtime: runtimeName(), kernel }) : table(readings, plan, about));
  if (plan.worst === "fail") process.exitCode = 1;
}
