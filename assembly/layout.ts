// The memory layout of the core: drawn once here, mirrored in host/layout.ts (checked by
// tests/core/layout.test.ts against the constants this module exports).
//
// Everything lives in one shared linear memory that the host creates with a fixed maximum
// and never grows. Nothing relocates, so the host (and the native shim) may hold pointers.
// The regions are laid out by `computeLayout()` at init, from the options, starting at
// LAYOUT_BASE (below it: the module's static data and the stub runtime's bump heap).
//
// ╒══════════════════ region ═══════════╤══ size ═════════════════════╤═ written by ══╤═ read by ══╕
// │ header (Header + Config)            │ HEADER_BYTES                 │ both          │ both       │
// │ metrics (Metrics + errno + hists)   │ METRICS_BYTES                │ core          │ host, ops  │
// │ event ring    (EventRec × cap)      │ EVENT_BYTES × eventCap       │ host          │ core       │
// │ submit ring   (SubmitRec × cap)     │ SUBMIT_BYTES × submitCap     │ core          │ host       │
// │ note ring     (NoteRec × cap)       │ NOTE_BYTES × noteCap         │ core          │ app (JS)   │
// │ supply ring   (u32 chunk × cap)     │ 4 × supplyCap                │ core          │ host       │
// │ lent list     (u32 chunk × cap)     │ 4 × eventCap                 │ core          │ core       │
// │ connection slots (Slot × cap)       │ SLOT_BYTES × slotCap         │ core          │ host (fd)  │
// │ timer nodes (TimerNode × n)         │ TIMER_BYTES × (2·slots+app)  │ core          │ core       │
// │ wheel (heads + bitmaps + due list)  │ WHEEL_BYTES                  │ core          │ core       │
// │ chunk meta (ChunkMeta × count)      │ CHUNK_META_BYTES × count     │ core          │ host       │
// │ chunk data (chunkSize × count)      │ chunkSize × count            │ host (reads)  │ host/app   │
// ╘═════════════════════════════════════╧══════════════════════════════╧═══════════════╧════════════╛
//
// Rings are single-producer single-consumer: `head` is owned by the consumer, `tail` by the
// producer, both free-running u32 counters (index = counter & (cap - 1), cap a power of two).
// A native shim executes a whole batch of submissions and fills a whole batch of events in one
// call; the records are fixed-size and self-contained, so an io_uring backend can map SubmitRec
// onto SQEs and CQEs onto EventRec, and the supply ring is a provided-buffer ring.

// @ts-ignore: decorator
@inline export const LAYOUT_VERSION: u32 = 1;
// @ts-ignore: decorator
@inline export const LAYOUT_MAGIC: u32 = 0x31585257; // "WRX1" little-endian
/** Start of the laid-out regions; the static data and stub heap must stay below. */
// @ts-ignore: decorator
@inline export const LAYOUT_BASE: u32 = 1 << 20;
/** "No index" for chunk, slot, timer node and list links. */
// @ts-ignore: decorator
@inline export const NONE: u32 = 0xffffffff;
// @ts-ignore: decorator
@inline export const HEADER_BYTES: u32 = 1024;
// @ts-ignore: decorator
@inline export const CONFIG_OFFSET: u32 = 512;
// @ts-ignore: decorator
@inline export const ERRNO_SLOTS: u32 = 134;
// @ts-ignore: decorator
@inline export const HIST_BUCKETS: u32 = 240;
// @ts-ignore: decorator
@inline export const HIST_COUNT: u32 = 3;
// @ts-ignore: decorator
@inline export const WHEEL_LEVELS: u32 = 6;
// @ts-ignore: decorator
@inline export const WHEEL_SLOTS: u32 = 64;

/** The header: ring cursors, region offsets and the per-turn budgets the host must honour. */
@unmanaged export class Header {
  magic: u32;
  version: u32;
  slotCap: u32;
  chunkSize: u32;
  chunkCount: u32;
  appTimerCap: u32;
  eventCap: u32;
  submitCap: u32;
  noteCap: u32;
  supplyCap: u32;
  // ring cursors (free-running)
  eventHead: u32;   // core
  eventTail: u32;   // host
  submitHead: u32;  // host
  submitTail: u32;  // core
  noteHead: u32;    // app dispatcher
  noteTail: u32;    // core
  supplyHead: u32;  // host
  supplyTail: u32;  // core
  // budgets for the host's next call, written by the core at flush
  acceptBudget: u32;      // accepts over all listeners this turn
  readsPerConn: u32;      // reads (chunks) per connection this turn
  hostFlags: u32;         // HOST_* bits
  nextDeadlineMs: i32;    // -1: no timer; 0: work pending now; else ms to wait at most
  turn: u32;              // turns completed
  reserved0: u32;
  // region offsets (absolute addresses in linear memory)
  metricsOff: u32;
  eventsOff: u32;
  submitsOff: u32;
  notesOff: u32;
  supplyOff: u32;
  lentOff: u32;
  slotsOff: u32;
  timersOff: u32;
  wheelOff: u32;
  chunkMetaOff: u32;
  chunkDataOff: u32;
  endOff: u32;
}

/** Host flags, written by the core. */
// @ts-ignore: decorator
@inline export const HOST_READS_PAUSED: u32 = 1;   // pool under its watermark: read nothing
// @ts-ignore: decorator
@inline export const HOST_ACCEPTS_PAUSED: u32 = 2; // admission closed (budget or pool)

/**
 * Config: written by the host before `configure()`. Each budget says why in host/options.ts,
 * where its default lives.
 */
@unmanaged export class Config {
  idleTimeoutMs: u32;       // 0 = off
  connectTimeoutMs: u32;    // 0 = off
  handshakeTimeoutMs: u32;  // accepted connection must send its first byte within; 0 = off
  writeStallTimeoutMs: u32; // queued bytes with no progress for this long: abort; 0 = off
  lingerMs: u32;            // graceful close: wait this long for the peer's FIN after ours
  highWaterBytes: u32;      // per-connection queued bytes: pause reading above
  lowWaterBytes: u32;       // resume reading and emit drain below
  acceptsPerTurn: u32;
  readsPerConnPerTurn: u32;
  expiriesPerTurn: u32;
  supplyTarget: u32;        // chunks kept in the supply ring for the host's reads
  poolReserveChunks: u32;   // below this many free chunks: pause reads and accepts
  fdLimit: u32;             // the real limit (min of RLIMIT_NOFILE soft, nr_open, ...)
  fdReserve: u32;           // kept back for the process (logs, files, the poller)
  fdHysteresis: u32;        // resume accepting at budget - hysteresis
  acceptBackoffMs: u32;     // first back-off after EMFILE/ENFILE on accept (doubles)
  acceptBackoffMaxMs: u32;
  allowHalfOpen: u32;       // 0: end our side when the peer ends
  maxConnections: u32;      // connections (not listeners) at most; the slot table has room for 64 listeners more
  pauseReadsAtHighWater: u32; // 1: stop reading a connection while its own write queue is above high water (echo-like)
}

/** One connection (or listener): 64 bytes, one cache line; each field's size in the comment. */
@unmanaged export class Slot {
  gen: u32;             // 4  bumped when the slot is freed; stale events carry the old one
  fd: i32;              // 4  host descriptor (-1: none)
  state: u8;            // 1  ST_*
  flags: u8;            // 1  F_* (see conn.ts)
  interest: u8;         // 1  interest registered with the host (IN_*)
  flags2: u8;           // 1  G_* (see conn.ts)
  queuedBytes: u32;     // 4  bytes queued for write (incl. in flight)
  queueHead: u32;       // 4  first queued chunk
  queueTail: u32;       // 4  last queued chunk
  inflightBytes: u32;   // 4  bytes in the WRITE submitted and not yet completed
  lastActivityMs: u32;  // 4  low 32 bits of the last read/write progress time (lazy idle timer)
  lastWriteMs: u32;     // 4  low 32 bits of the last write progress (lazy write-stall timer)
  owner: u32;           // 4  accepted: the listener's slot; listener: backoff ms
  dirtyNext: u32;       // 4  intrusive link of the dirty list (valid when F_DIRTY)
  closeReason: u8;      // 1  CR_* once closing was decided
  pad0: u8;             // 1
  closeErr: u16;        // 2  errno that caused the close
  pad1: u32;            // 4  free (user data lives beside the core: conn.data)
  freeNext: u32;        // 4  free-list link while FREE
  deadlineDueMs: u32;   // 4  connect or handshake deadline (low 32 bits; 0: none)
  lingerDueMs: u32;     // 4  graceful close: give up waiting for the peer's FIN (0: none)
}

/** A pool chunk's metadata; the bytes live in the chunk data region. */
@unmanaged export class ChunkMeta {
  next: u32;    // free list / write queue link
  start: u32;   // first valid byte within the chunk
  len: u32;     // valid bytes
  state: u8;    // CH_*
  pad0: u8;
  pad1: u16;
}

/** A timer node: two per connection slot (idle, deadline), then the app's timers. */
@unmanaged export class TimerNode {
  next: u32;    // 4
  prev: u32;    // 4
  key: u64;     // 8  expiry in core ms << 16 | bucket (level * 64 + slot, BUCKET_DUE, BUCKET_NONE):
                //    48 bits of ms (8,900 years) keep any clock jump exact in 16 B a node
}

/** Host → core. */
@unmanaged export class EventRec {
  type: u8;     // EV_*
  flags: u8;
  err: u16;     // errno (Linux numbering), 0 for none
  slot: u32;
  gen: u32;
  fd: i32;
  a: u32;
  b: u32;
}

/** Core → host. */
@unmanaged export class SubmitRec {
  op: u8;       // SQ_*
  flags: u8;
  pad: u16;
  slot: u32;
  gen: u32;
  fd: i32;
  a: u32;
  b: u32;
}

/** Core → app. */
@unmanaged export class NoteRec {
  kind: u8;     // NT_*
  flags: u8;
  err: u16;
  slot: u32;
  gen: u32;
  a: u32;
}

/** Counters and gauges; all f64 so JS reads them exactly (to 2^53) with one Float64Array. */
@unmanaged export class Metrics {
  turns: f64;
  eventsIn: f64;
  notesOut: f64;
  submissions: f64;
  accepts: f64;
  acceptErrors: f64;
  acceptBackoffs: f64;
  admissionPauses: f64;
  connectsStarted: f64;
  connectsOk: f64;
  connectsFailed: f64;
  fdOpens: f64;
  fdCloses: f64;
  resets: f64;
  errors: f64;
  bytesIn: f64;
  bytesOut: f64;
  reads: f64;
  writes: f64;
  writesPartial: f64;
  staleEvents: f64;
  timersArmed: f64;
  timersFired: f64;
  timersCarried: f64;
  idleTimeouts: f64;
  connectTimeouts: f64;
  handshakeTimeouts: f64;
  writeStallTimeouts: f64;
  lingerTimeouts: f64;
  backpressurePauses: f64;
  backpressureResumes: f64;
  poolPauses: f64;
  poolAcquireFails: f64;
  // gauges, refreshed at flush
  nowMs: f64;
  connections: f64;
  listeners: f64;
  fdsOpen: f64;
  fdsHighWater: f64;
  fdBudget: f64;
  poolFree: f64;
  poolSupply: f64;
  poolLent: f64;
  poolQueued: f64;
  poolWriting: f64;
  timersPending: f64;
  queuedBytes: f64;
  connectsPending: f64;
}

// @ts-ignore: decorator
@inline export const HIST_TURN_US: u32 = 0;
// @ts-ignore: decorator
@inline export const HIST_BATCH: u32 = 1;
// @ts-ignore: decorator
@inline export const HIST_LATENESS_MS: u32 = 2;

// Record and struct sizes, derived, never typed twice.
export const SLOT_BYTES: u32 = offsetof<Slot>();
export const CHUNK_META_BYTES: u32 = offsetof<ChunkMeta>();
export const TIMER_BYTES: u32 = offsetof<TimerNode>();
export const EVENT_BYTES: u32 = offsetof<EventRec>();
export const SUBMIT_BYTES: u32 = offsetof<SubmitRec>();
export const NOTE_BYTES: u32 = offsetof<NoteRec>();
export const METRICS_FIELDS_BYTES: u32 = offsetof<Metrics>();
export const ERRNO_OFFSET: u32 = METRICS_FIELDS_BYTES;                  // f64 × ERRNO_SLOTS
export const HIST_OFFSET: u32 = ERRNO_OFFSET + ERRNO_SLOTS * 8;         // u32 × HIST_BUCKETS × HIST_COUNT
export const METRICS_BYTES: u32 = (HIST_OFFSET + HIST_COUNT * HIST_BUCKETS * 4 + 63) & ~63;
// wheel: heads (u32 × levels × slots), occupancy (u64 × levels), due list head/tail/count, elapsed u64
export const WHEEL_HEADS_BYTES: u32 = WHEEL_LEVELS * WHEEL_SLOTS * 4;
export const WHEEL_BYTES: u32 = (2 * WHEEL_HEADS_BYTES + WHEEL_LEVELS * 8 + 64 + 63) & ~63; // heads, tails, bitmaps

// Event types (host → core).
// @ts-ignore: decorator
@inline export const EV_ACCEPTED: u8 = 1;       // slot/gen: listener; fd: new descriptor; a: peer id
// @ts-ignore: decorator
@inline export const EV_ACCEPT_ERROR: u8 = 2;   // slot/gen: listener; err
// @ts-ignore: decorator
@inline export const EV_READ: u8 = 3;           // a: chunk (NONE with b=0 at EOF); b: bytes
// @ts-ignore: decorator
@inline export const EV_READ_ERROR: u8 = 4;     // err (ECONNRESET, ...)
// @ts-ignore: decorator
@inline export const EV_WRITE_DONE: u8 = 5;     // b: bytes written; err: 0, EAGAIN (partial), EPIPE, ...
// @ts-ignore: decorator
@inline export const EV_WRITABLE: u8 = 6;
// @ts-ignore: decorator
@inline export const EV_CONNECTED: u8 = 7;
// @ts-ignore: decorator
@inline export const EV_CONNECT_FAILED: u8 = 8; // err; the descriptor (if any) is still open
// @ts-ignore: decorator
@inline export const EV_SOCKET_OPENED: u8 = 9;  // fd for a CONNECT submission (or err if socket() failed)

// Submission ops (core → host).
// @ts-ignore: decorator
@inline export const SQ_INTEREST: u8 = 1;  // a: IN_* mask
// @ts-ignore: decorator
@inline export const SQ_WRITE: u8 = 2;     // a: head chunk (chain via ChunkMeta.next); b: bytes
// @ts-ignore: decorator
@inline export const SQ_SHUTDOWN: u8 = 3;  // FIN (shutdown write side)
// @ts-ignore: decorator
@inline export const SQ_CLOSE: u8 = 4;     // flags: SQF_RESET for an abortive close
// @ts-ignore: decorator
@inline export const SQ_CONNECT: u8 = 5;   // address kept by the host, keyed by slot/gen
// @ts-ignore: decorator
@inline export const SQF_RESET: u8 = 1;

// Interest bits.
// @ts-ignore: decorator
@inline export const IN_READ: u8 = 1;
// @ts-ignore: decorator
@inline export const IN_WRITE: u8 = 2;

// Notes (core → app).
// @ts-ignore: decorator
@inline export const NT_OPEN: u8 = 1;
// @ts-ignore: decorator
@inline export const NT_DATA: u8 = 2;      // a: chunk (lent until flush)
// @ts-ignore: decorator
@inline export const NT_END: u8 = 3;       // the peer half-closed
// @ts-ignore: decorator
@inline export const NT_DRAIN: u8 = 4;
// @ts-ignore: decorator
@inline export const NT_TIMEOUT: u8 = 5;   // a: TO_*
// @ts-ignore: decorator
@inline export const NT_ERROR: u8 = 6;     // err
// @ts-ignore: decorator
@inline export const NT_CLOSE: u8 = 7;     // a: CR_*; err
// @ts-ignore: decorator
@inline export const NT_TIMER: u8 = 8;     // a: app timer id
// @ts-ignore: decorator
@inline export const NT_LISTEN_ERROR: u8 = 9; // slot: listener; err (accept failed; backing off)

// Timeout kinds.
// @ts-ignore: decorator
@inline export const TO_IDLE: u8 = 1;
// @ts-ignore: decorator
@inline export const TO_CONNECT: u8 = 2;
// @ts-ignore: decorator
@inline export const TO_HANDSHAKE: u8 = 3;
// @ts-ignore: decorator
@inline export const TO_WRITE_STALL: u8 = 4;
// @ts-ignore: decorator
@inline export const TO_LINGER: u8 = 5;

// Close reasons.
// @ts-ignore: decorator
@inline export const CR_NORMAL: u8 = 0;   // both sides ended
// @ts-ignore: decorator
@inline export const CR_ABORT: u8 = 1;    // the app closed it abortively
// @ts-ignore: decorator
@inline export const CR_RESET: u8 = 2;    // the peer reset it
// @ts-ignore: decorator
@inline export const CR_ERROR: u8 = 3;
// @ts-ignore: decorator
@inline export const CR_TIMEOUT: u8 = 4;
// @ts-ignore: decorator
@inline export const CR_CONNECT_FAILED: u8 = 5;
// @ts-ignore: decorator
@inline export const CR_SHUTDOWN: u8 = 6; // the reactor closed

// Chunk states (one owner at any time).
// @ts-ignore: decorator
@inline export const CH_FREE: u8 = 0;
// @ts-ignore: decorator
@inline export const CH_SUPPLY: u8 = 1;   // in the supply ring: the host may read into it
// @ts-ignore: decorator
@inline export const CH_LENT: u8 = 2;     // holds read bytes, lent to the app until flush
// @ts-ignore: decorator
@inline export const CH_QUEUED: u8 = 3;   // in a connection's write queue
// @ts-ignore: decorator
@inline export const CH_WRITING: u8 = 4;  // queued and part of a WRITE submitted to the host
// @ts-ignore: decorator
@inline export const CH_APP: u8 = 5;      // acquired by the app to fill before queueing

// Linux errno numbers used by the core (hosts translate theirs).
// @ts-ignore: decorator
@inline export const E_AGAIN: u16 = 11;
// @ts-ignore: decorator
@inline export const E_PIPE: u16 = 32;
// @ts-ignore: decorator
@inline export const E_NFILE: u16 = 23;
// @ts-ignore: decorator
@inline export const E_MFILE: u16 = 24;
// @ts-ignore: decorator
@inline export const E_CONNRESET: u16 = 104;
// @ts-ignore: decorator
@inline export const E_TIMEDOUT: u16 = 110;
// @ts-ignore: decorator
@inline export const E_CONNREFUSED: u16 = 111;

// @ts-ignore: decorator
@inline function align64(x: u32): u32 { return (x + 63) & ~63; }

/** Lays the regions out in the header; returns the first byte past them. */
export function computeLayout(h: Header): u32 {
  let off = LAYOUT_BASE + HEADER_BYTES;
  h.metricsOff = off; off = align64(off + METRICS_BYTES);
  h.eventsOff = off; off = align64(off + EVENT_BYTES * h.eventCap);
  h.submitsOff = off; off = align64(off + SUBMIT_BYTES * h.submitCap);
  h.notesOff = off; off = align64(off + NOTE_BYTES * h.noteCap);
  h.supplyOff = off; off = align64(off + 4 * h.supplyCap);
  h.lentOff = off; off = align64(off + 4 * h.eventCap);
  h.slotsOff = off; off = align64(off + SLOT_BYTES * h.slotCap);
  h.timersOff = off; off = align64(off + TIMER_BYTES * (2 * h.slotCap + h.appTimerCap));
  h.wheelOff = off; off = align64(off + WHEEL_BYTES);
  h.chunkMetaOff = off; off = align64(off + CHUNK_META_BYTES * h.chunkCount);
  off = (off + 4095) & ~4095; // chunk data page-aligned: friendlier to the kernel's copies
  h.chunkDataOff = off; off = off + h.chunkSize * h.chunkCount;
  h.endOff = off;
  return off;
}

// @ts-ignore: decorator
@inline export function header(): Header { return changetype<Header>(LAYOUT_BASE); }
// @ts-ignore: decorator
@inline export function config(): Config { return changetype<Config>(LAYOUT_BASE + CONFIG_OFFSET); }
// @ts-ignore: decorator
@inline export function metrics(): Metrics { return changetype<Metrics>(header().metricsOff); }
