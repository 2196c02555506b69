// Dispatch: the core's notes (NoteRec, in the note ring) → the app's handlers.
//
// Which handlers a slot's connection has is kept here, per slot, with the generation it
// belongs to: a note for an earlier occupant of a slot calls nothing of the new one's. An
// accepted connection takes its listener's handlers. A handler that throws is reported to
// `error` (or the log) and its connection is reset; the reactor goes on.
//
// Notes are decoded in one place, run() below (the ring's consumer).
import { headerWord, K, type Core } from "../core/core.ts";
import { noteKind, noteErr, noteSlot, noteGen, noteA } from "../core/layout.ts";
import { ReactorError, socketError, errnoName, ERRNO_BY_NAME, EADDRNOTAVAIL, ephemeralPortsError } from "../errors.ts";

const EBADF = ERRNO_BY_NAME.EBADF, EINVAL = ERRNO_BY_NAME.EINVAL;
import type { Handlers, CloseInfo, CloseReason, TimeoutKind, Listener } from "./connection.ts";
import type { Reactor } from "./reactor.ts";
import { ProxyHeaders } from "./proxy.ts";

// Indexed by TO_*; TO_LINGER never reaches the app (a linger expiry closes with reason "timeout").
const TIMEOUT_KINDS: TimeoutKind[] = ["idle", "idle", "connect", "handshake", "writeStall"];
const CLOSE_REASONS: CloseReason[] = ["normal", "abort", "reset", "error", "timeout", "connectFailed", "shutdown"];
const HANDLER_NAMES = ["open", "data", "drain", "end", "timeout", "close", "error"];
const W_NOTE_HEAD = headerWord("noteHead");

export class Dispatch {
  private readonly r: Reactor;
  private readonly core: Core;
  private readonly log: (line: string) => void;
  private readonly handlerSets: Handlers[] = [{}];
  /** Index into handlerSets, per slot (0: none). */
  private readonly slotHandlers: Uint16Array;
  /** The generation slotHandlers[slot] belongs to. */
  private readonly handlerGen: Uint32Array;
  private readonly userValues = new Map<number, { gen: number; value: unknown }>();
  /** Listeners by slot: their close note is not a connection's. */
  readonly listeners = new Map<number, Listener>();
  /** PROXY protocol headers of connections accepted by listeners that ask for them (proxy.ts). */
  readonly proxy: ProxyHeaders;

  constructor(r: Reactor, core: Core, log: (line: string) => void) {
    this.r = r;
    this.core = core;
    this.log = log;
    this.slotHandlers = new Uint16Array(core.caps.slotCap);
    this.handlerGen = new Uint32Array(core.caps.slotCap);
    this.proxy = new ProxyHeaders(r, core.caps.slotCap, log);
  }

  /** Gives (slot, gen) these handlers (listen, connect). */
  bind(slot: number, gen: number, h: Handlers): void {
    this.slotHandlers[slot] = this.handlersIndex(h);
    this.handlerGen[slot] = gen;
  }

  userData(slot: number, gen: number): unknown { const d = this.userValues.get(slot); return d && d.gen === gen ? d.value : undefined; }
  setUserData(slot: number, gen: number, value: unknown): void { this.userValues.set(slot, { gen, value }); }

  private handlersIndex(h: Handlers): number {
    let i = this.handlerSets.indexOf(h);
    if (i < 0) {
      if (this.handlerSets.length >= 65535) throw new ReactorError("ERR_INVALID_OPTION", "wasm-reactor: more than 65535 distinct handlers objects: reuse one object per kind of connection");
      i = this.handlerSets.push(h) - 1;
    }
    return i;
  }

  private violationLogged = false;
  /**
   * A socket error for the app. EBADF and EINVAL are what a host answers a submission that
   * broke the host contract with (a core bug, never the peer): the first time, say so loudly,
   * with the host's own account of what it refused.
   */
  private socketError(err: number): ReactorError {
    // EADDRNOTAVAIL comes only from an outbound connect's bind or connect: ephemeral ports ran out (errors.ts)
    if (err === EADDRNOTAVAIL) return ephemeralPortsError();
    const e = socketError(err, "socket");
    if ((err === EBADF || err === EINVAL) && !this.violationLogged) {
      const why = this.r.host.firstViolation;
      if (why) {
        this.violationLogged = true;
        this.log(`wasm-reactor: the ${this.r.host.kind} host refused a submission that breaks the host contract (a bug in the core, not the network): ${why}; the connection is closed, the descriptor untouched; metrics().host.violations counts them`);
      }
    }
    return e;
  }

  /** Calls the app's handlers for every pending note. */
  run(): void {
    const core = this.core, r = this.r;
    const u32 = core.u32;
    let head = u32[W_NOTE_HEAD];
    const tail = core.header("noteTail");
    while (head !== tail) {
      const p = core.noteOffset(head);
      const kind = noteKind(u32, p), err = noteErr(u32, p), slot = noteSlot(u32, p), gen = noteGen(u32, p), a = noteA(u32, p);
      head = (head + 1) >>> 0;
      u32[W_NOTE_HEAD] = head; // before the handler: a throw below must not deliver this note twice
      // A connection still waiting for its PROXY header is not the app's yet: its notes go to
      // proxy.ts (one comparison per note while any connection waits, none otherwise).
      if (this.proxy.pendingCount !== 0 && kind !== K.NT_CLOSE && kind !== K.NT_TIMER && this.proxy.pending(slot, gen)) {
        if (kind === K.NT_DATA) this.proxyData(slot, gen, core.chunkView(a));
        else if (kind === K.NT_END) this.proxy.ended(slot, gen); // FIN before the header completed
        else if (kind === K.NT_TIMEOUT) this.proxy.abandon(slot, gen, true); // the core's idle or handshake deadline came first
        // NT_ERROR: the core closes it (and counts the errno); NT_DRAIN cannot happen (nothing written)
        continue;
      }
      switch (kind) {
        case K.NT_OPEN:
          if (a !== K.NONE) { // accepted: the listener's handlers
            this.slotHandlers[slot] = this.slotHandlers[a]; this.handlerGen[slot] = gen;
            if (this.proxy.wants(a)) { this.proxy.begin(slot, gen, a); break; } // open waits for the PROXY header
          }
          this.call(slot, gen, "open");
          break;
        case K.NT_DATA: {
          // the hot path (one per read): the data handler looked up by name, not by a key
          const h = this.handlerGen[slot] === gen ? this.handlerSets[this.slotHandlers[slot]] : undefined;
          if (h?.data) this.invoke(h, h.data as (c: unknown, a?: unknown) => void, slot, gen, "data", core.chunkView(a));
          break;
        }
        case K.NT_END: this.call(slot, gen, "end"); break;
        case K.NT_DRAIN: if (!r.writes.waiting(slot)) this.call(slot, gen, "drain"); break;
        case K.NT_TIMEOUT: this.call(slot, gen, "timeout", TIMEOUT_KINDS[a] ?? "idle"); break;
        case K.NT_ERROR: this.call(slot, gen, "error", this.socketError(err)); break;
        case K.NT_LISTEN_ERROR: this.call(slot, gen, "error", socketError(err, "accept")); break;
        case K.NT_CLOSE: {
          const info: CloseInfo = { reason: CLOSE_REASONS[a] ?? "error" };
          if (err) { info.errno = err; info.code = errnoName(err); }
          r.writes.closed(slot, gen);
          const isListener = this.listeners.get(slot)?.handle.gen === gen;
          const proxyPending = this.proxy.pendingCount !== 0 && this.proxy.pending(slot, gen);
          if (!isListener && !proxyPending) this.call(slot, gen, "close", info); // a listener's end is not a connection's; one whose PROXY header never completed was never opened
          this.proxy.closed(slot, gen);
          if (isListener) this.proxy.listenerClosed(slot);
          // Forget this occupant, unless the handler already gave the slot to a new one (a reconnect).
          if (this.userValues.get(slot)?.gen === gen) this.userValues.delete(slot);
          if (this.handlerGen[slot] === gen) { this.slotHandlers[slot] = 0; this.handlerGen[slot] = 0; }
          if (isListener) this.listeners.delete(slot);
          r.kept.closed(slot, gen); // after its close handler: what it kept goes back to the pool
          break;
        }
        case K.NT_TIMER: r.timers.fire(a); break;
        default: throw new ReactorError("ERR_CORE_ASSERTION", `wasm-reactor: unknown note kind ${kind} from the core`);
      }
    }
  }

  /** Header bytes for a pending PROXY connection; once it is complete: open, then data with what followed it. */
  private proxyData(slot: number, gen: number, view: Uint8Array): void {
    const at = this.proxy.feed(slot, gen, view);
    if (at === undefined) return;
    this.call(slot, gen, "open");
    // The rest of the chunk is the app's first bytes (a view into the same lent chunk), unless open closed it.
    if (at < view.length && this.core.exports.genOf(slot) === gen && (this.core.slotField(slot, "flags2") & K.G_CLOSE_REQ) === 0) {
      this.call(slot, gen, "data", view.subarray(at));
    }
  }

  /** Calls handler `name` of (slot, gen), if that occupant has one; a throw resets the connection. */
  call(slot: number, gen: number, name: keyof Handlers, arg?: unknown): void {
    if (this.handlerGen[slot] !== gen) return; // a note for an earlier occupant of the slot
    const h = this.handlerSets[this.slotHandlers[slot]];
    const fn = h?.[name] as ((c: unknown, a?: unknown) => void) | undefined;
    if (!fn) return;
    this.invoke(h!, fn, slot, gen, name, arg);
  }

  private invoke(h: Handlers, fn: (c: unknown, a?: unknown) => void, slot: number, gen: number, name: keyof Handlers, arg?: unknown): void {
    const conn = this.r.handle(slot, gen);
    try {
      fn.call(h, conn, arg);
    } catch (err) {
      // A throwing handler must not take the reactor down with it: report, then close that connection.
      let reported = false;
      if (name !== "error" && h.error) {
        try { h.error.call(h, conn, err instanceof ReactorError ? err : handlerError(err, name)); reported = true; }
        catch (err2) { this.log(`wasm-reactor: the error handler threw while reporting that the ${name} handler threw: ${(err2 as Error)?.stack ?? String(err2)}`); }
      }
      if (!reported) this.log(`wasm-reactor: the ${name} handler threw: ${(err as Error)?.stack ?? String(err)}`);
      if (conn.live && name !== "close") this.core.exports.close(slot, gen, 1);
    }
  }
}

/** listen()/connect(): a handlers object with known handler names, each a function. */
export function checkHandlers(h: Handlers): void {
  if (typeof h !== "object" || h === null) throw new ReactorError("ERR_INVALID_OPTION", `wasm-reactor: handlers must be an object with open/data/drain/end/timeout/close/error functions, got ${h === null ? "null" : typeof h}`);
  for (const k of Object.keys(h)) {
    if (!HANDLER_NAMES.includes(k)) throw new ReactorError("ERR_INVALID_OPTION", `wasm-reactor: unknown handler '${k}'; handlers are open, data, drain, end, timeout, close, error`);
    if (typeof (h as Record<string, unknown>)[k] !== "function") throw new ReactorError("ERR_INVALID_OPTION", `wasm-reactor: handler '${k}' must be a function, got ${typeof (h as Record<string, unknown>)[k]}`);
  }
}

function handlerError(err: unknown, where: string): ReactorError {
  return new ReactorError("ERR_HANDLER", `wasm-reactor: the ${where} handler threw: ${(err as Error)?.message ?? String(err)}`, { cause: err });
}
