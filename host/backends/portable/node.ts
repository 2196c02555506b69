// The portable host's driver for Node: node:net.
//
// listen() must be synchronous (the contract: a port in use is an error at once), but
// net.Server#listen(port, host) resolves the host with dns.lookup first, even for an address,
// so it binds a tick later and reports EADDRINUSE as an 'error' event. So the listening handle
// is made by hand with Node's own TCP binding (process.binding("tcp_wrap"): bind + listen,
// synchronous, each returning a libuv error number), then given to net.Server#listen(handle),
// which takes it over synchronously. That binding is what net.Server uses itself; it is
// undocumented (DEP0111, a documentation-only deprecation: no warning is printed), so a Node
// without it is refused with a clear error rather than served differently.
//
// Accepts: libuv accepts as fast as connections come (node:net cannot pause a server), so the
// host holds arrivals until the core takes them (portable.ts). Writes: node:net buffers what
// the kernel does not take; `writableLength` is that buffer, 'drain' says it emptied.
import * as net from "node:net";
import { getSystemErrorName } from "node:util";
import type { BoundAddress, ConnectSpec, ListenSpec } from "../../contract/contract.ts";
import { type Driver, type DriverConn, type DriverListener, type Sink, ListenFailure, errnoOf } from "./driver.ts";
import { ERRNO_BY_NAME } from "../../errors.ts";

interface TcpHandle {
  bind(host: string, port: number): number;
  bind6(host: string, port: number, flags: number): number;
  listen(backlog: number): number;
  getsockname(out: { port?: number }): number;
  close(): void;
}
interface TcpWrap { TCP: new (type: number) => TcpHandle; constants: { SERVER: number } }

let tcpWrap: TcpWrap | undefined;
function binding(): TcpWrap {
  if (tcpWrap) return tcpWrap;
  const p = (globalThis as { process?: { binding?: (name: string) => unknown } }).process;
  try { tcpWrap = p?.binding?.("tcp_wrap") as TcpWrap | undefined; } catch { tcpWrap = undefined; }
  if (!tcpWrap?.TCP) throw new ListenFailure(0, "ENOSYS", "listen", "this Node has no process.binding('tcp_wrap'), which the portable host needs to bind synchronously");
  return tcpWrap;
}

class NodeConn implements DriverConn {
  constructor(readonly s: net.Socket, readonly sink: Sink) {
    s.on("data", (b: Uint8Array) => sink.onData(b));
    s.on("end", () => sink.onEnd());
    s.on("error", (e: Error) => sink.onError(errnoOf(e)));
    s.on("drain", () => sink.onWritable());
  }
  write(buf: Uint8Array, off: number, len: number): number {
    if (this.s.destroyed || !this.s.writable) return -1;
    const b = Buffer.allocUnsafe(len); // node:net keeps what it cannot write at once: a copy of our bytes
    b.set(buf.subarray(off, off + len));
    this.s.write(b);
    return len;
  }
  buffered(): number { return this.s.writableLength; }
  setReading(on: boolean): void { if (on) this.s.resume(); else this.s.pause(); }
  shutdown(): void { this.s.end(); }
  close(reset: boolean): void {
    const s = this.s;
    s.removeAllListeners("data"); s.removeAllListeners("end"); s.removeAllListeners("drain");
    s.on("error", () => {}); // after CLOSE nothing is reported: the contract posts nothing more
    if (reset) { s.resetAndDestroy(); return; }
    if (s.writableLength > 0) { s.end(); s.once("finish", () => s.destroy()); s.pause(); return; }
    s.destroy();
  }
  remote(): BoundAddress | undefined {
    return this.s.remoteAddress !== undefined && this.s.remotePort !== undefined ? { host: this.s.remoteAddress, port: this.s.remotePort } : undefined;
  }
}

class NodeListener implements DriverListener {
  constructor(private readonly server: net.Server) {}
  setAccepting(): void { /* node:net cannot stop accepting: the host holds arrivals */ }
  close(): void { this.server.close(); }
}

export const nodeDriver: Driver = {
  runtime: "node",
  canBindSource: true,
  canReset: true,
  mayRead: () => true,
  afterIo: (fn) => { setImmediate(fn); },
  keepAlive: "idle",
  listen(spec: ListenSpec, noDelay: boolean, accept: () => Sink & { d?: DriverConn }, acceptError: (errno: number) => void, keepAliveMs = 0) {
    if (spec.reusePort) throw new ListenFailure(ERRNO_BY_NAME.EINVAL, "EINVAL", "listen", "node:net in Node 20 cannot set SO_REUSEPORT");
    const { TCP, constants } = binding();
    const h = new TCP(constants.SERVER);
    let err = spec.host.includes(":") ? h.bind6(spec.host, spec.port, 0) : h.bind(spec.host, spec.port);
    const syscall = err ? "bind" : "listen";
    if (!err) err = h.listen(spec.backlog);
    if (err) {
      h.close();
      const code = getSystemErrorName(err);
      throw new ListenFailure(ERRNO_BY_NAME[code] ?? -err, code, syscall, code);
    }
    const out: { port?: number } = {};
    h.getsockname(out);
    const server = net.createServer({ allowHalfOpen: true, noDelay, keepAlive: keepAliveMs > 0, keepAliveInitialDelay: keepAliveMs }, (s) => { const sink = accept(); sink.d = new NodeConn(s, sink); });
    // An accept that failed (EMFILE: libuv's reserve descriptor already shed the waiting clients).
    server.on("error", (e) => acceptError(errnoOf(e)));
    server.listen(h as never);
    return { listener: new NodeListener(server), port: out.port ?? spec.port };
  },
  connect(spec: ConnectSpec, noDelay: boolean, sink: Sink, keepAliveMs = 0): DriverConn {
    const s = net.connect({ host: spec.host, port: spec.port, localAddress: spec.localAddress, allowHalfOpen: true, noDelay, keepAlive: keepAliveMs > 0, keepAliveInitialDelay: keepAliveMs });
    let up = false;
    s.once("connect", () => { up = true; sink.onConnect(); });
    const c = new NodeConn(s, {
      onData: (b) => sink.onData(b), onEnd: () => sink.onEnd(), onWritable: () => sink.onWritable(),
      onConnect: () => {}, onConnectFail: () => {},
      onError: (errno) => { if (up) sink.onError(errno); else sink.onConnectFail(errno); },
    });
    return c;
  },
};
