/*
 * The core's memory from the shim's side: the regions (validated once at attach: nothing
 * moves), the ring cursors (checked once a turn), the event ring the shim produces into, the
 * overflow ring for completions that do not fit it, and contract violations.
 *
 * Completions are never dropped: whatever execute() posts reaches the core, in order, even
 * when the ring is full.
 */
#include "shim.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

/* A region of `bytes` at `off` lies past the header and inside the memory, 4-byte aligned. */
static int region_ok(uint64_t memLen, uint32_t off, uint64_t bytes) {
  return off % 4 == 0 && off >= K_LAYOUT_BASE + K_HEADER_BYTES && (uint64_t)off + bytes <= memLen;
}

static int pow2(uint32_t x) { return x != 0 && (x & (x - 1)) == 0; }

/*
 * Reads the header once, checks every region the shim touches against the memory's length,
 * and caches the geometry: from here on no offset or capacity is read from memory again, so a
 * core that later scribbles over its header cannot steer the shim outside the memory.
 */
const char *wr__attach_regions(wr_reactor *r, uint8_t *mem, uint64_t len) {
  if (len < K_LAYOUT_BASE + K_HEADER_BYTES) return "the memory is smaller than the layout's header";
  const uint8_t *h = mem + K_LAYOUT_BASE;
  /* magic and layout version: checked before this by wr_layout_check (layout.gen.h), whose
   * message names both versions */
  uint32_t eventsOff = wr__u32(h + L_Header_eventsOff), eventCap = wr__u32(h + L_Header_eventCap);
  uint32_t submitsOff = wr__u32(h + L_Header_submitsOff), submitCap = wr__u32(h + L_Header_submitCap);
  uint32_t supplyOff = wr__u32(h + L_Header_supplyOff), supplyCap = wr__u32(h + L_Header_supplyCap);
  uint32_t metaOff = wr__u32(h + L_Header_chunkMetaOff), dataOff = wr__u32(h + L_Header_chunkDataOff);
  uint32_t chunkSize = wr__u32(h + L_Header_chunkSize), chunkCount = wr__u32(h + L_Header_chunkCount);
  uint32_t slotCap = wr__u32(h + L_Header_slotCap);
  if (!pow2(eventCap) || !pow2(submitCap) || !pow2(supplyCap)) return "a ring capacity in the header is not a power of two";
  if (chunkSize < 64 || chunkCount == 0 || slotCap == 0) return "the header's chunk size, chunk count or slot count is out of range";
  if (!region_ok(len, eventsOff, (uint64_t)eventCap * L_EventRec_BYTES)) return "the event ring lies outside the memory";
  if (!region_ok(len, submitsOff, (uint64_t)submitCap * L_SubmitRec_BYTES)) return "the submit ring lies outside the memory";
  if (!region_ok(len, supplyOff, (uint64_t)supplyCap * 4)) return "the supply ring lies outside the memory";
  if (!region_ok(len, metaOff, (uint64_t)chunkCount * L_ChunkMeta_BYTES)) return "the chunk metadata lies outside the memory";
  if (!region_ok(len, dataOff, (uint64_t)chunkCount * chunkSize)) return "the chunk data lies outside the memory";
  /* slotCap bounds the CONNECT address table: one slot per 64-byte Slot record must fit too */
  if ((uint64_t)slotCap * L_Slot_BYTES > len) return "the header's slot count does not fit the memory";
  r->mem = mem; r->memLen = len;
  r->eventsOff = eventsOff; r->eventCap = eventCap;
  r->submitsOff = submitsOff; r->submitCap = submitCap;
  r->supplyOff = supplyOff; r->supplyCap = supplyCap;
  r->metaOff = metaOff; r->dataOff = dataOff;
  r->chunkSize = chunkSize; r->chunkCount = chunkCount;
  r->slotCap = slotCap;
  return NULL;
}

/*
 * Snapshots the cursors the core writes (event head, supply tail) and the shim's own, once a
 * turn (the core does not run during a turn). Cursors that claim more than a ring holds are a
 * violation: the event ring then takes nothing this turn (completions wait in the overflow
 * ring) and the supply ring gives nothing.
 */
void wr__cursors_begin(wr_reactor *r) {
  r->evHead = WR_HDR(r, eventHead);
  r->evTail = WR_HDR(r, eventTail);
  if (r->evTail - r->evHead > r->eventCap) {
    wr_violation(r, "event ring cursors out of range: head %u, tail %u, capacity %u", r->evHead, r->evTail, r->eventCap);
    r->evHead = r->evTail - r->eventCap;
  }
  r->supHead = WR_HDR(r, supplyHead);
  r->supTail = WR_HDR(r, supplyTail);
  if (r->supTail - r->supHead > r->supplyCap) {
    wr_violation(r, "supply ring cursors out of range: head %u, tail %u, capacity %u", r->supHead, r->supTail, r->supplyCap);
    r->supTail = r->supHead;
  }
}

int wr_reads_blocked(const wr_reactor *r) {
  return (WR_HDR(r, hostFlags) & K_HOST_READS_PAUSED) != 0 || r->supTail == r->supHead;
}

static inline uint32_t ring_room(const wr_reactor *r) { return r->eventCap - (r->evTail - r->evHead); }

/* Room for events now; none while older completions wait in the overflow ring (order). */
uint32_t wr_event_room(const wr_reactor *r) {
  if (r->ovN) return 0;
  return ring_room(r);
}

/* Grows the overflow ring, unrolled into the new block; the old one is kept if that fails. */
static int ov_grow(wr_reactor *r) {
  uint32_t ncap = r->ovCap ? r->ovCap * 2 : 64;
  if (ncap <= r->ovCap) return ENOMEM;
  wr_ovrec *n = malloc(sizeof(wr_ovrec) * (size_t)ncap);
  if (!n) return ENOMEM;
  for (uint32_t i = 0; i < r->ovN; i++) n[i] = r->ov[(r->ovHead + i) % r->ovCap];
  free(r->ov);
  r->ov = n; r->ovHead = 0; r->ovCap = ncap;
  return 0;
}

int wr__overflow_init(wr_reactor *r) { return ov_grow(r); }

static void ov_push(wr_reactor *r, const wr_ovrec *rec) {
  /* A completion that cannot be kept would leave the core waiting forever: out of memory
   * here ends the reactor loudly instead (turn() throws). */
  if (r->ovN == r->ovCap && ov_grow(r) != 0) { wr_fail(r, ENOMEM, "growing the overflow list (an event that had to be kept)"); return; }
  r->ov[(r->ovHead + r->ovN) % r->ovCap] = *rec;
  r->ovN++;
  r->stats[S_OVERFLOW]++;
}

/* The index is masked with the cached capacity: whatever the cursors say, the write stays in
 * the event ring. */
static inline void ring_put(wr_reactor *r, const wr_ovrec *rec) {
  memcpy(r->mem + r->eventsOff + (uint64_t)(r->evTail & (r->eventCap - 1)) * L_EventRec_BYTES, rec->b, L_EventRec_BYTES);
  r->evTail++;
  WR_HDR_STORE(r, eventTail, r->evTail);
  r->stats[S_EVENTS]++;
}

/* Posts an event; a completion that does not fit waits in the overflow ring, in order. */
void wr_post(wr_reactor *r, uint32_t type, uint32_t slot, uint32_t gen, int32_t fd, uint32_t a, uint32_t b, uint32_t err) {
  wr_ovrec rec;
  wr_event_pack(rec.b, type, wr_errno_linux(err), slot, gen, fd, a, b); /* the core numbers errors as Linux does */
  if (wr_event_room(r) > 0) ring_put(r, &rec);
  else ov_push(r, &rec);
}

void wr__overflow_flush(wr_reactor *r) {
  while (r->ovN && ring_room(r) > 0) {
    ring_put(r, &r->ov[r->ovHead]);
    r->ovHead = (r->ovHead + 1) % r->ovCap;
    r->ovN--;
  }
}

/*
 * A contract violation: a record the shim must not act on. Counted; the first one's text is
 * kept for a clear error (JS reads it with violation(h)); the caller reports it to the core
 * as the completion the record would have had, and makes no syscall for it.
 */
void wr_violation(wr_reactor *r, const char *fmt, ...) {
  r->stats[S_VIOLATIONS]++;
  if (r->violation[0]) return;
  int n = snprintf(r->violation, sizeof r->violation, "host contract violation: ");
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(r->violation + n, sizeof r->violation - (size_t)n, fmt, ap);
  va_end(ap);
}

/* A shim error the reactor cannot go on after (an allocation failed where a completion had to
 * be kept, a ring that refuses submissions): the next turn() throws, naming what failed. */
void wr_fail(wr_reactor *r, int err, const char *what) {
  if (!r->fatal) { r->fatal = err; r->fatalWhat = what; }
}
