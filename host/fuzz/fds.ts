// This process's own descriptors, before and after a real-socket run (Linux /proc): the check
// that catches what the shim's own counters cannot, a descriptor it opened without counting or a
// close() of one it did not own.
//
// A bare count is not enough: runtimes open descriptors of their own on first use of a path
// (measured here: Node one after its first socket, Deno two sockets after its first socket end,
// that then stay), which would read as leaks. So a descriptor left over is blamed on the run only
// when it is something this run's code makes: an epoll, io_uring or eventfd instance (the shim's), or a TCP
// socket on one of the run's ports (found through /proc/net/tcp{,6} by inode). And a descriptor
// that was open before the run and is gone after it was closed by someone who did not own it.
import { readdirSync, readlinkSync, readFileSync } from "node:fs";
import { permissionError } from "../errors.ts";

/** Descriptor number → what it points at (readlink of /proc/self/fd/N). */
export type FdTable = Map<number, string>;

export function fdTable(): FdTable {
  const t: FdTable = new Map();
  let names: string[];
  // Deno lets only --allow-all read /proc/self (not --allow-read): say so rather than crash mid-run.
  try { names = readdirSync("/proc/self/fd"); }
  catch (err) { throw permissionError(err, "list this process's descriptors in /proc/self/fd (the leak check of real-socket runs)") ?? err; }
  for (const f of names) {
    try { t.set(Number(f), readlinkSync(`/proc/self/fd/${f}`)); } catch { /* the directory's own descriptor, gone already */ }
  }
  return t;
}

/** Socket inode → its local and remote ports, for this network namespace's TCP sockets. */
function tcpSockets(): Map<string, { local: number; remote: number }> {
  const out = new Map<string, { local: number; remote: number }>();
  for (const file of ["/proc/net/tcp", "/proc/net/tcp6"]) {
    let text = "";
    try { text = readFileSync(file, "utf8"); } catch { continue; }
    for (const line of text.split("\n").slice(1)) {
      const f = line.trim().split(/\s+/);
      if (f.length < 10) continue;
      const port = (a: string) => parseInt(a.slice(a.lastIndexOf(":") + 1), 16);
      out.set(f[9], { local: port(f[1]), remote: port(f[2]) });
    }
  }
  return out;
}

export interface FdDiff {
  /** Left open by the run: "fd 41 (TCP 127.0.0.1:40123 → the listener's port 38211)" and the like. */
  leaked: string[];
  /** Open before the run and closed by the end of it, although the run did not open them. */
  lost: string[];
  /** Left open, but not the run's (a runtime's lazily made descriptors): not counted. */
  other: number;
}

/**
 * What changed between `before` and now. `ports`: the run's listener port (sockets whose local
 * port it is are the reactor's accepted ones) and its servers' ports (remote port: the reactor's
 * outbound connections; local port: the servers' ends).
 */
export function fdDiff(before: FdTable, ports: { listener: number; servers: number[] }): FdDiff {
  const now = fdTable();
  const diff: FdDiff = { leaked: [], lost: [], other: 0 };
  for (const [fd, what] of before) if (now.get(fd) !== what && !/^\/proc\//.test(what)) diff.lost.push(`fd ${fd} (${what})`);
  let tcp: Map<string, { local: number; remote: number }> | undefined;
  const servers = new Set(ports.servers);
  for (const [fd, what] of now) {
    if (before.get(fd) === what || /^\/proc\//.test(what)) continue;
    if (/^anon_inode:\[?(eventpoll|eventfd|io_uring)\]?$/.test(what)) { diff.leaked.push(`fd ${fd} (${what})`); continue; }
    const inode = /^socket:\[(\d+)\]$/.exec(what)?.[1];
    const s = inode ? (tcp ??= tcpSockets()).get(inode) : undefined;
    if (s && (s.local === ports.listener || servers.has(s.remote))) diff.leaked.push(`fd ${fd} (the reactor's TCP socket, ports ${s.local} → ${s.remote})`);
    else if (s && (s.remote === ports.listener || servers.has(s.local))) diff.leaked.push(`fd ${fd} (a peer's TCP socket, ports ${s.local} → ${s.remote}: a fuzzer bug)`);
    else diff.other++;
  }
  return diff;
}
