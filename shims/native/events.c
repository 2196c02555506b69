/*
 * The core's memory from the shim's side: the regions' geometry (read once at attach: nothing
 * moves), the event ring the shim produces into, and the overflow ring for completions that
 * do not fit it. Completions are never dropped: whatever execute() posts reaches the core, in
 * order, even when the ring is full.
 */
#include "shim.h"

#include <stdlib.h>

void wr__attach_regions(wr_reactor *r, uint8_t *mem, uint64_t len) {
  r->mem = mem;
  r->memLen = len;
  r->eventsOff = WR_HDR(r, eventsOff); r->eventCap = WR_HDR(r, eventCap);
  r->submitsOff = WR_HDR(r, submitsOff); r->submitCap = WR_HDR(r, submitCap);
  r->supplyOff = WR_HDR(r, supplyOff); r->supplyCap = WR_HDR(r, supplyCap);
  r->metaOff = WR_HDR(r, chunkMetaOff); r->dataOff = WR_HDR(r, chunkDataOff);
  r->chunkSize = WR_HDR(r, chunkSize); r->chunkCount = WR_HDR(r, chunkCount);
  r->slotCap = WR_HDR(r, slotCap);
}

int wr_reads_blocked(const wr_reactor *r) {
  return (WR_HDR(r, hostFlags) & K_HOST_READS_PAUSED) != 0 || WR_HDR(r, supplyTail) == WR_HDR(r, supplyHead);
}

static inline uint32_t ring_room(const wr_reactor *r) {
  return r->eventCap - (WR_HDR(r, eventTail) - WR_HDR(r, eventHead));
}

/* Room for events now; none while older completions wait in the overflow ring (order). */
uint32_t wr_event_room(const wr_reactor *r) {
  if (r->ovN) return 0;
  return ring_room(r);
}

static void ov_push(wr_reactor *r, const wr_ovrec *rec) {
  if (r->ovN == r->ovCap) {
    uint32_t ncap = r->ovCap ? r->ovCap * 2 : 64;
    wr_ovrec *n = malloc(sizeof(wr_ovrec) * ncap);
    for (uint32_t i = 0; i < r->ovN; i++) n[i] = r->ov[(r->ovHead + i) % r->ovCap];
    free(r->ov);
    r->ov = n; r->ovHead = 0; r->ovCap = ncap;
  }
  r->ov[(r->ovHead + r->ovN) % r->ovCap] = *rec;
  r->ovN++;
  r->stats[S_OVERFLOW]++;
}

static inline void ring_put(wr_reactor *r, const wr_ovrec *rec) {
  uint32_t tail = WR_HDR(r, eventTail);
  memcpy(r->mem + r->eventsOff + (uint64_t)(tail & (r->eventCap - 1)) * L_EventRec_BYTES, rec->b, L_EventRec_BYTES);
  WR_HDR_STORE(r, eventTail, tail + 1);
  r->stats[S_EVENTS]++;
}

/* Posts an event; a completion that does not fit waits in the overflow ring, in order. */
void wr_post(wr_reactor *r, uint32_t type, uint32_t slot, uint32_t gen, int32_t fd, uint32_t a, uint32_t b, uint32_t err) {
  wr_ovrec rec;
  wr_event_pack(rec.b, type, err, slot, gen, fd, a, b);
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
