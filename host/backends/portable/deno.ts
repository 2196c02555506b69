// The portable host's driver for Deno: Deno.listen / Deno.connect (no FFI, no native shim:
// only --allow-net).
//
// Deno.listen binds synchronously and throws AddrInUse (code "EADDRINUSE") at once. Deno's
// sockets are pulled, not pushed: a connection is taken off the kernel's queue only when
// accept() is called, and bytes are read only when read() is called. So this driver accepts
// only while the host asks for more (setAccepting: the kernel's backlog holds the rest, as it
// does for a native host), and reads only while the host wants bytes (setReading). Reads go
// into one buffer per connection and are handed over as a copy of what came. Writes are
// asynchronous: each is a copy, queued, and written in order; `buffered()` is what waits.
//
// Deno's sockets have no SO_LINGER, so CLOSE with SQF_RESET is a plain close (canReset
// false): the peer sees a FIN unless unread bytes were still in the kernel's buffer.
import type { BoundAddress, ConnectSpec, ListenSpec } from "../../contract/contract.ts";
import { type Driver, type DriverConn, type DriverListener, type Sink, ListenFailure, errnoOf, own } from "./driver.ts";
import { ERRNO_BY_NAME } from "../../errors.ts";

/** The part of Deno's API used here (a minimal local declaration: Deno's types are not a dependency). */
interface DenoConn {
  read(b: Uint8Array): Promise<number | null>;
  write(b: Uint8Array): Promise<number>;
  closeWrite(): Promise<void>;
  close(): void;
  setNoDelay?(on: boolean): void;
  setKeepAlive?(on: boolean): void;
  readonly remoteAddr: { hostname: string; port: number };
}
interface DenoListener { readonly addr: { port: number }; accept(): Promise<DenoConn>; close(): void }
interface DenoApi {
  listen(o: { hostname: string; port: number; reusePort?: boolean }): DenoListener;
  connect(o: { hostname: string; port: number }): Promise<DenoConn>;
  permissions: { querySync(d: { name: "read"; path: string }): { state: string } };
}
const deno = (): DenoApi => (globalThis as unknown as { Deno: DenoApi }).Deno;

/** One read's buffer (64 KiB, as node:net and libuv read). */
const READ_BYTES = 65536;

class DenoConnRec implements DriverConn {
  conn: DenoConn | undefined;
  private readBuf: Uint8Array | undefined;
  private reading = true;
  private readLoop = false;
  private readonly out: Uint8Array[] = [];
  private outBytes = 0;
  private pumping = false;
  private finWanted = false;
  private closeWanted = false;
  closed = false;
  private failed = false;
  constructor(readonly sink: Sink) {}

  attach(conn: DenoConn, noDelay: boolean, keepAlive = false): void {
    this.conn = conn;
    try { conn.setNoDelay?.(noDelay); if (keepAlive) conn.setKeepAlive?.(true); } catch { /* a socket closed already: the read says so */ }
    this.startReading();
  }
  write(buf: Uint8Array, off: number, len: number): number {
    if (this.closed || this.failed || !this.conn) return -1;
    this.out.push(own(buf.subarray(off, off + len)));
    this.outBytes += len;
    if (!this.pumping) this.pump();
    return len;
  }
  buffered(): number { return this.outBytes; }
  setReading(on: boolean): void {
    this.reading = on;
    if (on) this.startReading();
  }
  shutdown(): void { this.finWanted = true; if (!this.pumping) this.pump(); }
  close(reset: boolean): void {
    if (this.closed) return;
    this.closed = true;
    if (!this.conn) return; // still connecting: closed once it connects
    if (reset || this.outBytes === 0) { this.closeNow(); return; }
    this.closeWanted = true; // the bytes written first, then the close
  }
  remote(): BoundAddress | undefined { return this.conn ? { host: this.conn.remoteAddr.hostname, port: this.conn.remoteAddr.port } : undefined; }

  private closeNow(): void { try { this.conn?.close(); } catch { /* closed already */ } }

  private startReading(): void {
    if (this.readLoop || !this.conn || this.closed || this.failed) return;
    this.readLoop = true;
    void this.readAll();
  }

  private async readAll(): Promise<void> {
    const conn = this.conn!;
    this.readBuf ??= new Uint8Array(READ_BYTES);
    try {
      while (this.reading && !this.closed) {
        const n = await conn.read(this.readBuf);
        if (this.closed) return;
        if (n === null) { this.sink.onEnd(); return; }
        this.sink.onData(this.readBuf.slice(0, n));
      }
    } catch (err) {
      if (!this.closed && !this.failed) { this.failed = true; this.sink.onError(errnoOf(err)); }
      return;
    } finally {
      this.readLoop = false;
    }
  }

  /**
   * Writes the queue in order, one write op at a time, with plain callbacks (not an async
   * function: one promise per write, as an app's own `await conn.write()` costs).
   */
  private pump(): void {
    const conn = this.conn!;
    const b = this.out[0];
    if (b !== undefined) { this.pumping = true; conn.write(b).then(this.wrote, this.writeFailed); return; }
    this.pumping = false;
    if (this.closeWanted) { this.closeNow(); return; }
    if (this.finWanted && !this.closed) { this.finWanted = false; conn.closeWrite().catch(this.writeFailed); }
    if (!this.closed) this.sink.onWritable();
  }
  private readonly wrote = (n: number): void => {
    this.outBytes -= n;
    const b = this.out[0];
    if (n < b.length) this.out[0] = b.subarray(n); else this.out.shift();
    this.pump();
  };
  private readonly writeFailed = (err: unknown): void => {
    this.pumping = false;
    this.out.length = 0;
    this.outBytes = 0;
    if (this.closeWanted) { this.closeNow(); return; }
    if (!this.closed && !this.failed) { this.failed = true; this.sink.onError(errnoOf(err)); }
  };
}

class DenoListenerRec implements DriverListener {
  private accepting = true;
  private pulling = false;
  private closed = false;
  constructor(private readonly l: DenoListener, private readonly noDelay: boolean, private readonly accept: () => Sink & { d?: DriverConn }, private readonly acceptError: (errno: number) => void, private readonly keepAlive = false) {}
  setAccepting(on: boolean): void {
    this.accepting = on;
    if (on && !this.pulling) void this.pull();
  }
  close(): void { this.closed = true; try { this.l.close(); } catch { /* closed already */ } }
  /** Takes connections off the kernel's queue while the host asks for more. */
  private async pull(): Promise<void> {
    this.pulling = true;
    try {
      while (this.accepting && !this.closed) {
        let conn: DenoConn;
        try { conn = await this.l.accept(); }
        catch (err) {
          if (this.closed) return;
          // EMFILE and kin: told once; no retry until the host asks again (the core re-arms
          // its interest after backing off), so a full descriptor table is not a busy loop.
          this.accepting = false;
          this.acceptError(errnoOf(err));
          return;
        }
        if (this.closed) { conn.close(); return; }
        const sink = this.accept();
        const c = new DenoConnRec(sink);
        sink.d = c;
        c.attach(conn, this.noDelay, this.keepAlive);
      }
    } finally {
      this.pulling = false;
    }
  }
}

export const denoDriver: Driver = {
  runtime: "deno",
  canBindSource: false,
  canReset: false,
  afterIo: (fn) => { queueMicrotask(fn); },
  mayRead(path: string): boolean {
    try { return deno().permissions.querySync({ name: "read", path }).state === "granted"; } catch { return false; }
  },
  keepAlive: "on",
  listen(spec: ListenSpec, noDelay: boolean, accept: () => Sink & { d?: DriverConn }, acceptError: (errno: number) => void, keepAliveMs = 0) {
    let l: DenoListener;
    try {
      l = deno().listen({ hostname: spec.host, port: spec.port, ...(spec.reusePort ? { reusePort: true } : {}) });
    } catch (err) {
      const e = err as { code?: string; message?: string };
      const code = e.code ?? "EINVAL";
      throw new ListenFailure(ERRNO_BY_NAME[code] ?? ERRNO_BY_NAME.EINVAL, code, "listen", e.message ?? code);
    }
    const rec = new DenoListenerRec(l, noDelay, accept, acceptError, keepAliveMs > 0);
    rec.setAccepting(true);
    return { listener: rec, port: l.addr.port };
  },
  connect(spec: ConnectSpec, noDelay: boolean, sink: Sink, keepAliveMs = 0): DriverConn {
    const c = new DenoConnRec(sink);
    deno().connect({ hostname: spec.host, port: spec.port }).then((conn) => {
      if (c.closed) { try { conn.close(); } catch { /* closed */ } return; }
      c.attach(conn, noDelay, keepAliveMs > 0);
      sink.onConnect();
    }, (err) => { if (!c.closed) sink.onConnectFail(errnoOf(err)); });
    return c;
  },
};
