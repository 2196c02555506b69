// Snippets an operator applies by hand (the doctor changes nothing itself): each is a whole file
// with its path in a comment at the top, in the form that survives a reboot.
//   sysctl    /etc/sysctl.d/90-wasm-reactor.conf, read at boot by systemd-sysctl (or procps'
//             init script); `sysctl --system` applies it now. macOS/FreeBSD: /etc/sysctl.conf
//   limits    /etc/security/limits.d/90-wasm-reactor.conf: pam_limits sets it at each login
//             (for shells and cron, not for systemd services: those take LimitNOFILE)
//   systemd   a drop-in /etc/systemd/system/<unit>.d/90-wasm-reactor.conf with LimitNOFILE
//   launchd   /Library/LaunchDaemons/limit.maxfiles.plist: runs `launchctl limit maxfiles` at
//             every boot (macOS has no file that persists the limit otherwise)
import type { Forecast, Plan } from "./plan.ts";

export const EMIT_KINDS = ["sysctl", "limits", "systemd", "launchd"] as const;
export type EmitKind = (typeof EMIT_KINDS)[number];

function forecastLine(f: Forecast): string {
  return `wasm-reactor doctor --connections ${f.connections}${f.outbound ? ` --outbound ${f.outbound}` : ""}${f.msgRate !== undefined ? ` --msg-rate ${f.msgRate} --msg-size ${f.msgSize}` : ""}`;
}

export function emit(kind: EmitKind, plan: Plan, o: { platform: string; unit?: string }): string {
  const by = forecastLine(plan.forecast);
  const nofile = plan.recommend.nofile;
  switch (kind) {
    case "sysctl": {
      const bsd = o.platform === "darwin" || o.platform === "freebsd";
      const path = bsd ? "/etc/sysctl.conf (append)" : "/etc/sysctl.d/90-wasm-reactor.conf";
      const lines = [`# ${path}`, `# from: ${by}`,
        bsd ? "# applied at boot; now: sudo sysctl name=value for each line" : "# applied at every boot by systemd-sysctl; now: sudo sysctl --system"];
      if (!plan.recommend.sysctl.length) lines.push("# nothing to change: every kernel knob the forecast depends on is already enough");
      for (const s of plan.recommend.sysctl) lines.push("", `# ${s.why}`, bsd ? `${s.name}=${s.value}` : `${s.name} = ${s.value}`);
      return lines.join("\n") + "\n";
    }
    case "limits":
      return [
        "# /etc/security/limits.d/90-wasm-reactor.conf",
        `# from: ${by}`,
        "# pam_limits applies it at the next login (shells, cron, su); systemd services take",
        "# LimitNOFILE from their unit instead (--emit systemd). Replace * with the server's user.",
        `# ${plan.descriptorsOneProcess} descriptors for one process holding the forecast, with 10% to spare.`,
        `*    soft    nofile    ${nofile}`,
        `*    hard    nofile    ${nofile}`,
      ].join("\n") + "\n";
    case "systemd": {
      const unit = o.unit ?? "wasm-reactor@.service";
      return [
        `# /etc/systemd/system/${unit}.d/90-wasm-reactor.conf`,
        `# from: ${by}`,
        `# then: sudo systemctl daemon-reload && sudo systemctl restart ${unit.replace("@.", "@1.")}`,
        `# LimitNOFILE sets the soft and the hard limit: ${plan.descriptorsOneProcess} descriptors for one process`,
        "# holding the forecast, with 10% to spare (it may not exceed fs.nr_open).",
        "[Service]",
        `LimitNOFILE=${nofile}`,
        ...(plan.processes > 1 ? [`# or keep the limit and run ${plan.processes} instances (wasm-reactor@1 … @${plan.processes}) with --reuse-port,`, `# each needing ${plan.descriptorsPerProcess}: docs/scaling.md`] : []),
      ].join("\n") + "\n";
    }
    case "launchd":
      return [
        '<?xml version="1.0" encoding="UTF-8"?>',
        '<!DOCTYPE plist PUBLIC "-//Apple//DTD PLIST 1.0//EN" "http://www.apple.com/DTDs/PropertyList-1.0.dtd">',
        // "--" may not appear inside an XML comment: the forecast is said without the flags.
        `<!-- /Library/LaunchDaemons/limit.maxfiles.plist, from wasm-reactor doctor: ${plan.forecast.connections} connections, ${plan.forecast.outbound} outbound -->`,
        "<!-- sudo chown root:wheel it, then: sudo launchctl load -w /Library/LaunchDaemons/limit.maxfiles.plist -->",
        `<!-- ${plan.descriptorsOneProcess} descriptors for one process with 10% to spare; kern.maxfilesperproc must allow it -->`,
        '<plist version="1.0">',
        "<dict>",
        "  <key>Label</key>",
        "  <string>limit.maxfiles</string>",
        "  <key>ProgramArguments</key>",
        "  <array>",
        "    <string>/bin/launchctl</string>",
        "    <string>limit</string>",
        "    <string>maxfiles</string>",
        `    <string>${nofile}</string>`,
        `    <string>${nofile}</string>`,
        "  </array>",
        "  <key>RunAtLoad</key>",
        "  <true/>",
        "  <key>ServiceIPC</key>",
        "  <false/>",
        "</dict>",
        "</plist>",
      ].join("\n") + "\n";
  }
}
