// A user's file, type-checked against dist/index.d.ts as published (the package's own name
// resolves through its `exports` map). It must compile with no @types/node.
import { Reactor, ReactorError, ERROR_CODES, type Connection, type Handlers, type MetricsSnapshot, type CloseReport, readTrace, type TraceHeader } from "wasm-reactor";

const handlers: Handlers = {
  data(conn: Connection, data: Uint8Array) { if (!conn.write(data)) conn.pause(); },
  drain(conn) { conn.resume(); },
  error(_conn, err: ReactorError) { const code: string = err.code; void code; },
};

export async function main(): Promise<CloseReport> {
  const r = await Reactor.create({ host: "sim", maxConnections: 100 });
  const l = r.listen({ port: 7 }, handlers);
  const peer = r.sim?.connect(l.port);
  peer?.send("hello");
  r.runUntil(() => r.metrics().bytesIn > 0, { maxTurns: 100 });
  const m: MetricsSnapshot = r.metrics();
  void m.connections;
  void ERROR_CODES.ERR_WAIT_MODE;
  return r.close({ drainMs: 0 });
}

export function header(bytes: Uint8Array): TraceHeader { return readTrace(bytes).header; }
