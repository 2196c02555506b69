// The doctor's two outputs: a table for people (at most 100 columns: verdict, knob, value now,
// then the reason, fix and runbook wrapped under it), and JSON for scripts (shape in
// docs/doctor.md; Infinity, which JSON lacks, is written "unlimited").
import { fmt, mib, type Plan } from "./plan.ts";
import type { Readings } from "./probe.ts";

export const WIDTH = 100;

/** Words of `text` in lines of at most `width` columns, each line starting with `indent`. */
export function wrap(text: string, width: number, indent: string, first = indent): string[] {
  const out: string[] = [];
  let line = first;
  for (const word of text.split(/\s+/).filter(Boolean)) {
    const start = line === first || line === indent;
    if (!start && line.length + 1 + word.length > width) { out.push(line); line = indent + word; }
    else line += (start ? "" : " ") + word;
  }
  out.push(line);
  return out;
}

export function table(r: Readings, plan: Plan, about: string): string {
  const f = plan.forecast;
  const lines: string[] = [];
  lines.push(...wrap(`wasm-reactor doctor: ${about}; forecast ${fmt(f.connections)} connections${f.outbound ? `, ${fmt(f.outbound)} outbound` : ""}${f.msgRate !== undefined ? `, ${fmt(f.msgRate)} msgs/s of ${fmt(f.msgSize!)} B` : ""}${r.root !== "/" ? ` (fake root ${r.root})` : ""}`, WIDTH, "  ", ""));
  lines.push("");
  lines.push(...wrap(`plan: ${plan.processes === 0 ? "no number of processes fits" : `${fmt(plan.processes)} process${plan.processes > 1 ? "es" : ""} of up to ${fmt(plan.connectionsPerProcess)} connections, ${fmt(plan.descriptorsPerProcess)} descriptors each`}; memory up to ${mib(plan.memory.totalBytes)}${plan.ports.sourcesNeeded ? `; ${fmt(plan.ports.sourcesNeeded)} source address${plan.ports.sourcesNeeded > 1 ? "es" : ""} for outbound` : ""}`, WIDTH, "  ", ""));
  lines.push("");
  // One line per knob (verdict, knob, value now), then why, the fix and the runbook under it.
  const KNOB = 31;
  for (const v of plan.verdicts) {
    const mark = v.verdict === "ok" ? "ok" : v.verdict.toUpperCase();
    lines.push(...wrap(v.now, WIDTH, " ".repeat(5 + KNOB), `${mark.padEnd(5)}${v.knob.padEnd(KNOB - 1)} `));
    lines.push(...wrap(v.reason, WIDTH, "       ", "       "));
    if (v.verdict !== "ok") {
      if (v.fix) lines.push(...wrap(`fix: ${v.fix}`, WIDTH, "            ", "       "));
      lines.push(`       runbook: ${v.runbook}`);
    }
  }
  const counts = { ok: 0, warn: 0, fail: 0 };
  for (const v of plan.verdicts) counts[v.verdict]++;
  lines.push("");
  lines.push(...wrap(`${counts.fail} fail, ${counts.warn} warn, ${counts.ok} ok. ${plan.worst === "fail" ? "This machine cannot hold the forecast as it is: see the fixes; --emit sysctl|limits|systemd|launchd prints them as files." : plan.worst === "warn" ? "It can hold the forecast; the warnings say where it is thin." : "Nothing to change."} The doctor changed nothing.`, WIDTH, "", ""));
  return lines.join("\n") + "\n";
}

export function json(r: Readings, plan: Plan, about: { runtime: string; kernel: string }): string {
  const { verdicts, forecast, worst, ...rest } = plan;
  return JSON.stringify({ version: 1, platform: r.platform, kernel: about.kernel, runtime: about.runtime, root: r.root, cpus: r.cpus, forecast, worst, verdicts, plan: rest, readings: r },
    (_k, v) => (v === Infinity ? "unlimited" : v), 2) + "\n";
}
