/*
 * One turn, steps 4-6 of the turn table in docs/architecture.md, in one crossing: execute the
 * whole submission ring, wait in the backend (at most until the core's next deadline), and
 * turn what became ready into events, within the core's budgets. The number of JS<->native
 * crossings per turn does not grow with the number of ready sockets.
 */
#include "shim.h"

#include <errno.h>
#include <sys/socket.h>

/* Executes the whole submission ring, then applies the interest changes it asked for (the
 * last word per descriptor wins: one kernel call per descriptor at most). */
static void execute(wr_reactor *r) {
  uint32_t head = WR_HDR(r, submitHead), tail = WR_HDR(r, submitTail);
  if (tail - head > r->submitCap) {
    /* Cursors that claim more than the ring holds: none of it can be trusted. Drop the batch
     * (the core is broken; the violation says so) rather than act on garbage. */
    wr_violation(r, "submit ring cursors out of range: head %u, tail %u, capacity %u (the batch was dropped)", head, tail, r->submitCap);
    head = tail;
  }
  while (head != tail) {
    wr_submit s;
    wr_submit_read(r, head, &s);
    switch (s.op) {
      case K_SQ_INTEREST: {
        wr_fd *f;
        if (wr_fd_owner(r, "INTEREST", &s, &f) != 0) { wr_post(r, K_EV_READ_ERROR, s.slot, s.gen, s.fd, 0, 0, EBADF); break; }
        uint8_t want = (uint8_t)(s.a & (K_IN_READ | K_IN_WRITE));
        uint8_t added = (uint8_t)(want & ~f->want);
        f->want = want;
        if (r->edge) {
          if (f->reg == 0) wr_mark_chg(r, s.fd, f);          /* first interest: register once, for good */
          else if (added & f->pend) wr_mark_ready(r, s.fd, f); /* readiness seen while not wanted */
        } else wr_mark_chg(r, s.fd, f);
        break;
      }
      case K_SQ_WRITE: wr_write(r, &s); break;
      case K_SQ_SHUTDOWN: wr_shutdown(r, &s); break;
      case K_SQ_CLOSE: wr_close(r, &s); break;
      case K_SQ_CONNECT: wr_connect(r, &s); break;
      default: wr_violation(r, "unknown submission op %u (slot %u gen %u, descriptor %d)", s.op, s.slot, s.gen, s.fd); break;
    }
    head++;
  }
  WR_HDR_STORE(r, submitHead, head);
  for (int i = 0; i < r->chgN; i++) {
    int fd = r->chg[i];
    wr_fd *f = &r->fds[fd];
    f->flags &= ~WR_F_CHG;
    if (f->kind != WR_KIND_NONE) wr_apply_interest(r, fd, f);
  }
  r->chgN = 0;
}

/* Edge mode: what was left over from earlier turns goes first. */
static void serve_ready_list(wr_reactor *r) {
  int keep = 0, len = r->rdyN;
  for (int i = 0; i < len; i++) {
    int fd = r->rdy[i];
    wr_fd *f = &r->fds[fd];
    if (f->kind != WR_KIND_NONE && wr_event_room(r) > 0 && wr__service(r, fd)) { r->rdy[keep++] = fd; continue; }
    f = &r->fds[fd];
    if (f->kind != WR_KIND_NONE && wr_event_room(r) == 0 && f->pend) { r->rdy[keep++] = fd; continue; }
    f->flags &= ~WR_F_READY;
  }
  /* entries pushed while servicing (none expected) stay after the kept ones */
  for (int i = len; i < r->rdyN; i++) r->rdy[keep++] = r->rdy[i];
  r->rdyN = keep;
}

int wr_turn(wr_reactor *r, int timeoutMs) {
  wr__cursors_begin(r);
  uint32_t before = r->evTail;
  r->woken = 0;
  wr_unstarve(r);
  execute(r);
  r->stats[S_TURNS]++;
  /* Never sleep on work in hand: completions execute just posted (a write done frees chunks
   * that starved reads wait for), overflow, or an edge-mode ready list. */
  if (r->ovN || (r->edge && r->rdyN) || r->evTail != before) timeoutMs = 0;
  /* Ask only for what this turn can serve: event ring room, and a supply chunk per socket
   * (each may be a read). A socket the kernel reports in level mode but we cannot read goes to
   * the back of epoll's ready list, behind every socket that became ready meanwhile: a few
   * unlucky ones per turn starved (p99.9 at 10k connections 3x the median). Those never
   * reported keep their place: first come, first served. With no supply at all, readable
   * sockets are parked (see wr_starve), so a few events still serve accepts and writables. */
  int want = r->maxEvents;
  uint32_t room = r->eventCap - (r->evTail - r->evHead);
  uint32_t supply = r->supTail - r->supHead;
  if ((uint32_t)want > room) want = (int)room;
  if (supply > 0 && (uint32_t)want > supply) want = (int)supply;
  if (supply == 0 && want > 64) want = 64;
  if (want < 1) want = 1;
  int n = r->ops->wait(r, want, timeoutMs);
  r->stats[S_WAITS]++;
  r->acceptLeft = WR_HDR(r, acceptBudget);
  r->acceptShare = r->listenersN > 1 ? r->acceptLeft / (uint32_t)r->listenersN : r->acceptLeft;
  /* a budget below the listeners: share 0, so every one goes to the second round, which rotates */
  r->accMoreN = 0;
  r->readsBlockedAtStart = wr_reads_blocked(r);
  wr__overflow_flush(r);
  if (r->edge && r->rdyN) serve_ready_list(r);
  r->ops->decode(r, n);
  if (r->accMoreN) wr_accept_rest(r);
  return (int)(r->evTail - before);
}
