// The portable host's driver for Bun: Bun.listen / Bun.connect.
//
// Bun.listen binds synchronously and throws EADDRINUSE with errno 98 at once. A Bun socket's
// write() writes to the kernel there and then and returns what it took: nothing is buffered,
// so a write straight out of pool memory needs no copy, a short count is the kernel's EAGAIN,
// and the `drain` handler says the kernel takes more. Bun accepts as connections come (no
// pause): the host holds arrivals until the core takes them (portable.ts).
import type { BoundAddress, ConnectSpec, ListenSpec } from "../../contract/contract.ts";
import { type Driver, type DriverConn, type DriverListener, type Sink, ListenFailure, errnoOf } from "./driver.ts";
import { ERRNO_BY_NAME } from "../../errors.ts";

/** The part of Bun's socket API used here (bun-types is not a dependency). */
interface BunSocket {
  data: BunConn | undefined;
  write(b: Uint8Array, byteOffset?: number, byteLength?: number): number;
  pause(): void;
  resume(): void;
  shutdown(halfClose?: boolean): void;
  end(): void;
  terminate(): void;
  setNoDelay(on: boolean): void;
  setKeepAlive?(on: boolean, initialDelayMs?: number): boolean;
  readonly remoteAddress: string;
  readonly remotePort: number;
}
interface BunHandlers {
  open?(s: BunSocket): void;
  data(s: BunSocket, b: Uint8Array): void;
  drain(s: BunSocket): void;
  end(s: BunSocket): void;
  error(s: BunSocket, e: unknown): void;
  close(s: BunSocket, e?: unknown): void;
}
interface BunListener { readonly port: number; stop(closeActive?: boolean): void }
interface BunApi {
  listen(o: { hostname: string; port: number; backlog?: number; reusePort?: boolean; allowHalfOpen?: boolean; socket: BunHandlers }): BunListener;
  connect(o: { hostname: string; port: number; allowHalfOpen?: boolean; socket: BunHandlers }): Promise<BunSocket>;
}
const bun = (): BunApi => (globalThis as unknown as { Bun: BunApi }).Bun;

class BunConn implements DriverConn {
  s: BunSocket | undefined;
  closed = false;
  reading = true;
  constructor(readonly sink: Sink) {}
  attach(s: BunSocket, noDelay: boolean, keepAliveMs = 0): void {
    this.s = s;
    s.data = this;
    if (noDelay) s.setNoDelay(true);
    if (keepAliveMs > 0) s.setKeepAlive?.(true, keepAliveMs);
    if (!this.reading) s.pause();
  }
  /** Straight from the caller's memory (Bun writes to the kernel now, keeps nothing): no copy, no view. -1 once closed. */
  write(buf: Uint8Array, off: number, len: number): number { return this.s && !this.closed ? this.s.write(buf, off, len) : -1; }
  buffered(): number { return 0; }
  setReading(on: boolean): void {
    if (on === this.reading) return;
    this.reading = on;
    if (this.s) { if (on) this.s.resume(); else this.s.pause(); }
  }
  shutdown(): void { this.s?.shutdown(); } // no argument: shutdown(true) here sent no FIN
  close(reset: boolean): void {
    if (this.closed) return;
    this.closed = true;
    if (!this.s) return; // still connecting: closed when it connects
    if (reset) this.s.terminate(); else this.s.end();
  }
  remote(): BoundAddress | undefined { return this.s ? { host: this.s.remoteAddress, port: this.s.remotePort } : undefined; }
}

/** The same handlers for every socket: the connection is the socket's `data`. */
const HANDLERS: BunHandlers = {
  data(s, b) { const c = s.data; if (c && !c.closed) c.sink.onData(b); },
  drain(s) { const c = s.data; if (c && !c.closed) c.sink.onWritable(); },
  end(s) { const c = s.data; if (c && !c.closed) c.sink.onEnd(); },
  error(s, e) { const c = s.data; if (c && !c.closed) c.sink.onError(errnoOf(e)); },
  // After our shutdown(), the peer's FIN comes as a close without an end: it is the EOF.
  close(s, e) { const c = s.data; if (c && !c.closed) { if (e !== undefined && e !== null) c.sink.onError(errnoOf(e)); else c.sink.onEnd(); } },
};

class BunListenerRec implements DriverListener {
  constructor(private readonly l: BunListener) {}
  setAccepting(): void { /* Bun cannot stop accepting: the host holds arrivals */ }
  close(): void { this.l.stop(false); }
}

export const bunDriver: Driver = {
  runtime: "bun",
  canBindSource: false,
  canReset: true,
  mayRead: () => true,
  afterIo: (fn) => { setImmediate(fn); },
  keepAlive: "idle",
  listen(spec: ListenSpec, noDelay: boolean, accept: () => Sink & { d?: DriverConn }, _acceptError: (errno: number) => void, keepAliveMs = 0) { // Bun does not tell of failed accepts
    let l: BunListener;
    try {
      l = bun().listen({
        hostname: spec.host, port: spec.port, backlog: spec.backlog, reusePort: spec.reusePort ?? false, allowHalfOpen: true,
        socket: { ...HANDLERS, open(s) { const sink = accept(); const c = new BunConn(sink); sink.d = c; c.attach(s, noDelay, keepAliveMs); } },
      });
    } catch (err) {
      const e = err as { code?: string; syscall?: string; message?: string };
      const code = e.code ?? "EINVAL";
      throw new ListenFailure(ERRNO_BY_NAME[code] ?? ERRNO_BY_NAME.EINVAL, code, e.syscall ?? "listen", e.message ?? code);
    }
    return { listener: new BunListenerRec(l), port: l.port };
  },
  connect(spec: ConnectSpec, noDelay: boolean, sink: Sink, keepAliveMs = 0): DriverConn {
    const c = new BunConn(sink);
    // `open` runs when the connection is up, before any of its data and before the promise settles.
    const open = (s: BunSocket) => {
      if (c.closed) { s.terminate(); return; }
      c.attach(s, noDelay, keepAliveMs);
      sink.onConnect();
    };
    bun().connect({ hostname: spec.host, port: spec.port, allowHalfOpen: true, socket: { ...HANDLERS, open } })
      .catch((err) => { if (!c.closed && !c.s) sink.onConnectFail(errnoOf(err)); });
    return c;
  },
};
