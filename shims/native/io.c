/*
 * The syscalls of a turn, the same for every readiness backend: write a chunk chain, shut
 * down, close, connect; then, for what the kernel reported ready, accept and read (straight
 * into pool chunks from the supply ring) and report writability, within the core's budgets.
 *
 * Descriptors: every descriptor opened here is reported to the core (EV_ACCEPTED,
 * EV_SOCKET_OPENED) and closed only on the core's CLOSE, exactly once; the one exception is
 * the EMFILE shedding trick, which opens and closes within one call. No SIGPIPE: writes go
 * through send/sendmsg with MSG_NOSIGNAL (macOS: SO_NOSIGPIPE on each socket; shim.h).
 */
#include "shim.h"

#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <unistd.h>

/* Linux only: bind() before connect() leaves the port to connect() (spreads clients over many
 * source addresses without each bind taking an ephemeral port). Elsewhere bind picks a port. */
#if defined(__linux__) && !defined(IP_BIND_ADDRESS_NO_PORT)
#define IP_BIND_ADDRESS_NO_PORT 24
#endif

#define MAX_IOV 64 /* iovecs per sendmsg: a 64-chunk window is 1 MiB at 16 KiB chunks */

/* ── submissions ───────────────────────────────────────────────────────────────────────── */

/*
 * Checks a WRITE's chain before a byte moves, so a bad one is refused whole (b = 0): every
 * chunk index below the chunk count, each [start, start + len) inside its chunk, no chunk
 * twice (a loop: a chain can hold each chunk at most once, so the walk is bounded by the chunk
 * count), and at least `bytes` bytes before the chain ends. O(1) per chunk. Returns 0, or
 * EINVAL with the violation recorded.
 */
static int check_chain(wr_reactor *r, const wr_submit *s) {
  uint32_t seq = ++r->writeSeq;
  if (seq == 0) { memset(r->chunkMark, 0, sizeof(uint32_t) * r->chunkCount); seq = r->writeSeq = 1; }
  uint64_t have = 0;
  uint32_t c = s->a;
  while (have < s->b) {
    if (c == K_NONE) {
      wr_violation(r, "WRITE of slot %u gen %u: the chain from chunk %u holds %llu bytes, fewer than the %u submitted", s->slot, s->gen, s->a, (unsigned long long)have, s->b);
      return EINVAL;
    }
    if (!WR_CHUNK_OK(r, c)) {
      wr_violation(r, "WRITE of slot %u gen %u: chunk %u is past the chunk count (%u)", s->slot, s->gen, c, r->chunkCount);
      return EINVAL;
    }
    if (r->chunkMark[c] == seq) {
      wr_violation(r, "WRITE of slot %u gen %u: chunk %u comes twice in the chain (it loops)", s->slot, s->gen, c);
      return EINVAL;
    }
    r->chunkMark[c] = seq;
    wr_chunk k;
    wr_chunk_read(r, c, &k);
    if (k.start > r->chunkSize || k.len > r->chunkSize - k.start) {
      wr_violation(r, "WRITE of slot %u gen %u: chunk %u has start %u + len %u past the chunk size (%u)", s->slot, s->gen, c, k.start, k.len, r->chunkSize);
      return EINVAL;
    }
    have += k.len;
    c = k.next;
  }
  return 0;
}

/*
 * Writes a checked chain with sendmsg, MAX_IOV chunks a call, until done or EAGAIN, and posts
 * exactly one EV_WRITE_DONE. Each chunk is checked again as it is used (O(1)), so even memory
 * changed under the write (no thread does that) cannot steer it outside a chunk.
 */
void wr_write(wr_reactor *r, const wr_submit *s) {
  int fd = s->fd;
  uint32_t bytes = s->b, done = 0, c = s->a, cOff = 0; /* cOff: bytes of chunk c already written */
  wr_fd *f;
  int err = wr_fd_owner(r, "WRITE", s, &f);
  if (!err) err = check_chain(r, s);
  if (err) { wr_post(r, K_EV_WRITE_DONE, s->slot, s->gen, fd, 0, 0, (uint32_t)err); return; }
  if (r->ops->write) { r->ops->write(r, s, f); return; } /* io_uring: an operation, completed later */
  int eintrs = 0;
  while (done < bytes) {
    struct iovec iov[MAX_IOV];
    int n = 0;
    uint32_t want = 0, cc = c, co = cOff;
    while (n < MAX_IOV && done + want < bytes) {
      wr_chunk k;
      if (cc == K_NONE || !WR_CHUNK_OK(r, cc)) { err = EINVAL; break; }
      wr_chunk_read(r, cc, &k);
      if (k.start > r->chunkSize || k.len > r->chunkSize - k.start || co > k.len) { err = EINVAL; break; }
      uint32_t take = k.len - co;
      if (take > bytes - done - want) take = bytes - done - want;
      iov[n].iov_base = wr_chunk_data(r, cc) + k.start + co;
      iov[n].iov_len = take;
      n++; want += take; co = 0;
      cc = k.next;
    }
    if (err) { wr_violation(r, "WRITE of slot %u gen %u: the chain changed while it was written", s->slot, s->gen); break; }
    if (want == 0) { c = cc; cOff = 0; continue; } /* a window of empty chunks: past them, no syscall (sendmsg of 0 bytes moved nothing, for ever) */
    struct msghdr mh = { .msg_iov = iov, .msg_iovlen = n };
    int injected;
    ssize_t w = wr_sys_sendmsg(r, fd, &mh, &injected);
    r->stats[S_WRITE_CALLS]++;
    if (w < 0) {
      int e = errno;
      if (e == EINTR && ++eintrs < WR_EINTR_RETRIES) continue;
      /* EAGAIN, or interrupted too often: the core waits for EV_WRITABLE. When the socket is
       * in fact writable (an injected EAGAIN, EINTRs), writability is kept pending, as the
       * kernel's next edge would report it; when it is full, a writability seen before is
       * stale and dropped (edge mode kept it, and the next IN_WRITE was answered at once with an
       * EV_WRITABLE whose WRITE then took 0 bytes: tests/contract/submissions.test.ts); the
       * kernel reports the next edge once there is room. */
      if (e == EWOULDBLOCK || e == EINTR) { err = EAGAIN; if (injected || e == EINTR) f->pend |= WR_P_WRITE; else f->pend &= (uint8_t)~WR_P_WRITE; }
      else err = e;
      break;
    }
    done += (uint32_t)w;
    /* advance (c, cOff) by w bytes, over the iovecs just built (each one chunk, in order) */
    uint32_t adv = (uint32_t)w;
    for (int i = 0; i < n && adv > 0; i++) {
      uint32_t left = (uint32_t)iov[i].iov_len;
      if (adv < left) { cOff += adv; adv = 0; break; }
      adv -= left; cOff = 0;
      wr_chunk k;
      wr_chunk_read(r, c, &k); /* c was checked when its iovec was built */
      c = k.next;
    }
    if ((uint32_t)w < want) { err = EAGAIN; if (injected) f->pend |= WR_P_WRITE; else f->pend &= (uint8_t)~WR_P_WRITE; break; } /* the socket buffer is full */
  }
  if (done == bytes) err = 0;
  wr_post(r, K_EV_WRITE_DONE, s->slot, s->gen, fd, 0, done, (uint32_t)err);
}

void wr_shutdown(wr_reactor *r, const wr_submit *s) {
  wr_fd *f;
  if (wr_fd_owner(r, "SHUTDOWN", s, &f) != 0) { wr_post(r, K_EV_READ_ERROR, s->slot, s->gen, s->fd, 0, 0, EBADF); return; }
  if (r->ops->shutdown) { r->ops->shutdown(r, s->fd, f); return; } /* io_uring: after the sends queued before it */
  shutdown(s->fd, SHUT_WR);
}

void wr_close(wr_reactor *r, const wr_submit *s) {
  wr_fd *f;
  if (wr_fd_owner(r, "CLOSE", s, &f) != 0) return; /* the core thinks it closed: no event */
  wr_close_fd(r, s->fd, f, (s->flags & K_SQF_RESET) != 0);
}

/* Closes a descriptor the shim owns (the caller checked), once. */
void wr_close_fd(wr_reactor *r, int fd, wr_fd *f, int reset) {
  if (reset) { struct linger l = { 1, 0 }; setsockopt(fd, SOL_SOCKET, SO_LINGER, &l, sizeof l); }
  int closed = r->ops->forget ? r->ops->forget(r, fd, f) : 0;
  f->want = 0; f->pend = 0; f->reg = 0; f->err = 0; f->slot = K_NONE; f->gen = 0;
  f->flags &= ~WR_F_STATE; /* list memberships stay: their entries see KIND_NONE and drop */
  if (f->kind == WR_KIND_LISTENER) r->listenersN--;
  wr_fd_set_kind(f, WR_KIND_NONE);
  /* close(), now or just after the queue sampler's ioctls on it (queues.c): the last reference
   * (the shim never dups), so it leaves the kernel queue too */
  if (!closed) wr__queues_close(r, fd);
  r->openFds--;
}

void wr_connect(wr_reactor *r, const wr_submit *s) {
  uint32_t slot = s->slot, gen = s->gen;
  wr_pending *p = slot < r->slotCap ? &r->pc[slot] : NULL;
  if (!p || !p->used || p->gen != gen) {
    wr_violation(r, "CONNECT for slot %u gen %u with no address prepared", slot, gen);
    wr_post(r, K_EV_SOCKET_OPENED, slot, gen, -1, 0, 0, EINVAL);
    return;
  }
  p->used = 0;
  int fd = wr_sys_socket(r, p->addr.ss_family);
  if (fd < 0) { wr_post(r, K_EV_SOCKET_OPENED, slot, gen, -1, 0, 0, errno); return; }
  wr_fd *f = wr_fd_open(r, fd, WR_KIND_CONN);
  if (!f) { close(fd); wr_post(r, K_EV_SOCKET_OPENED, slot, gen, -1, 0, 0, ENOMEM); return; }
  f->slot = slot; f->gen = gen; f->flags |= WR_F_BOUND; /* bound now, adopted when the core names it */
  wr_post(r, K_EV_SOCKET_OPENED, slot, gen, fd, 0, 0, 0);
  if (r->nodelay) { int one = 1; setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one); }
  wr_sockopts_conn(r, fd); /* keepalive, TCP_USER_TIMEOUT (sockopts.c): before connect, so the SYN's retries obey the user timeout */
  if (p->llen) {
    int one = 1;
#ifdef IP_BIND_ADDRESS_NO_PORT
    if (p->local.ss_family == AF_INET) setsockopt(fd, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one, sizeof one);
#else
    (void)one;
#endif
    if (bind(fd, (struct sockaddr *)&p->local, p->llen) < 0) { wr_post(r, K_EV_CONNECT_FAILED, slot, gen, fd, 0, 0, errno); return; }
  }
  int rc, hang = 0, eintrs = 0;
  do rc = wr_sys_connect(r, fd, (struct sockaddr *)&p->addr, p->alen, &hang); while (rc < 0 && errno == EINTR && ++eintrs < WR_EINTR_RETRIES);
  if (rc == 0) { wr_post(r, K_EV_CONNECTED, slot, gen, fd, 0, 0, 0); return; }
  if (errno != EINPROGRESS) { wr_post(r, K_EV_CONNECT_FAILED, slot, gen, fd, 0, 0, errno); return; }
  wr_fd_set_kind(f, WR_KIND_CONNECTING);
  if (hang) { f->flags |= WR_F_HUNG; return; } /* faults build: in progress for ever, never registered */
  wr_apply_interest(r, fd, f);
}

/* ── readiness → events ────────────────────────────────────────────────────────────────── */

/* An accept on lfd failed with EMFILE or ENFILE: counted, and with the reserve descriptor (option
 * shedOnEmfile) one waiting client is shed: free the reserve, accept and close at once (the client
 * sees a reset, not a hang in the accept queue), take the reserve back. */
static void accept_emfile(wr_reactor *r, int lfd) {
  r->stats[S_ACCEPT_EMFILE]++;
  if (r->reservefd < 0) return;
  close(r->reservefd);
  int s = wr_accept_nb(lfd, 0);
  if (s >= 0) { struct linger l = { 1, 0 }; setsockopt(s, SOL_SOCKET, SO_LINGER, &l, sizeof l); close(s); r->stats[S_ACCEPT_SHED]++; }
  r->reservefd = open("/dev/null", O_RDONLY | O_CLOEXEC);
}
/*
 * Accepts from listener lfd, at most `cap` of the turn's budget. Listeners share the budget: in
 * a turn's first round (the backend's readiness) one takes at most acceptShare, the budget over
 * the listeners open (0 when the budget is below their number); one that stops there with clients
 * still waiting is remembered, and once the readiness is served the rest of the budget is shared
 * among those, starting from a place that turns round each turn (wr_accept_rest): a remainder,
 * or a budget smaller than the listeners, is handed round, not always to the same one. Before,
 * the listener reported first took the whole budget, turn after turn, until its backlog was
 * empty: a flood on one port starved the server's other ports (tests/native/fairness.test.ts).
 */
static void accept_upto(wr_reactor *r, int lfd, uint32_t cap, int firstRound) {
  if (WR_HDR(r, hostFlags) & K_HOST_ACCEPTS_PAUSED) return;
  int eintrs = 0;
  uint32_t took = 0;
  while (r->acceptLeft > 0 && wr_event_room(r) > 0) {
    if (took == cap) {
      if (!firstRound || r->accMoreN == WR_ACC_MORE) return; /* the readiness stays: next turn */
      for (int i = 0; i < r->accMoreN; i++) if (r->accMore[i] == lfd) return;
      r->accMore[r->accMoreN++] = lfd;
      return;
    }
    int fd = wr_sys_accept(r, lfd);
    wr_fd *lf;
    if (fd >= 0) {
      wr_fd *f = wr_fd_open(r, fd, WR_KIND_CONN); /* unbound until the core names it (wr_fd_owner) */
      lf = &r->fds[lfd]; /* the table may have moved */
      if (!f) { close(fd); wr_post(r, K_EV_ACCEPT_ERROR, lf->slot, lf->gen, lfd, 0, 0, ENOMEM); return; }
      if (r->nodelay) { int one = 1; setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one); }
#if !WR_SOCKOPTS_INHERITED
      wr_sockopts_conn(r, fd); /* keepalive, TCP_USER_TIMEOUT (sockopts.c); buffers came from the listener */
#endif
      r->acceptLeft--;
      took++;
      r->stats[S_ACCEPTS]++;
      wr_post(r, K_EV_ACCEPTED, lf->slot, lf->gen, fd, 0, 0, 0);
      continue;
    }
    int e = errno;
    lf = &r->fds[lfd];
    if (e == EINTR) { if (++eintrs < WR_EINTR_RETRIES) continue; return; } /* readiness kept: next turn */
    if (e == ECONNABORTED || e == EPROTO) continue; /* each one took a dead client off the queue */
    if (e == EAGAIN || e == EWOULDBLOCK) { lf->pend &= ~WR_P_READ; return; }
    if (e == EMFILE || e == ENFILE) accept_emfile(r, lfd);
    wr_post(r, K_EV_ACCEPT_ERROR, lf->slot, lf->gen, lfd, 0, 0, (uint32_t)e);
    /* Out of descriptors or memory: the clients are still queued, and the core pauses the
     * listener and re-arms it after a back-off. Keep the readiness, so that edge mode accepts
     * them when interest returns (no new edge would come for clients already queued; found by
     * the faults build). Other errors: this attempt is over. */
    if (!(e == EMFILE || e == ENFILE || e == ENOBUFS || e == ENOMEM)) lf->pend &= ~WR_P_READ;
    return;
  }
}
static void accept_some(wr_reactor *r, int lfd) { accept_upto(r, lfd, r->acceptShare, 1); }

/* The turn's second round: what the budget has left, split evenly among the listeners that
 * stopped at their share (those still with clients waiting after it keep their readiness). */
void wr_accept_rest(wr_reactor *r) {
  int n = r->accMoreN;
  r->accMoreN = 0;
  int rot = n ? (int)(r->accRot++ % (uint32_t)n) : 0;
  for (int j = 0; j < n && r->acceptLeft > 0; j++) {
    int i = (j + rot) % n;
    int lfd = r->accMore[i];
    wr_fd *f = wr_fd_get(r, lfd);
    if (!f || f->kind != WR_KIND_LISTENER || !(f->want & K_IN_READ)) continue;
    uint32_t others = (uint32_t)(n - j);
    f->pend |= WR_P_READ; /* level mode cleared it after the first round: the kernel will say it again */
    accept_upto(r, lfd, (r->acceptLeft + others - 1) / others, 0);
    if (!r->edge) r->fds[lfd].pend = 0;
  }
}

static void read_some(wr_reactor *r, int fd, wr_fd *f) {
  uint32_t budget = WR_HDR(r, readsPerConn);
  uint32_t csize = r->chunkSize;
  int eintrs = 0;
  for (uint32_t n = 0; n < budget; n++) {
    if (wr_event_room(r) == 0) return; /* next turn: level mode sees it again, edge keeps P_READ */
    if (wr_reads_blocked(r)) {
      /* Pool pressure (no chunk at the start of the poll): park the socket so level mode does
       * not spin. A supply used up by this turn's reads is only the turn's budget: leave the
       * registration alone, the socket is reported again next turn. */
      if (r->readsBlockedAtStart) wr_starve(r, fd, f);
      return;
    }
    uint32_t c = wr_supply_at(r, r->supHead);
    if (!WR_CHUNK_OK(r, c)) {
      /* not a chunk: skip the entry (the core gave it; it cannot be read into) */
      wr_violation(r, "supply ring entry %u names chunk %u, past the chunk count (%u)", r->supHead, c, r->chunkCount);
      WR_HDR_STORE(r, supplyHead, ++r->supHead);
      n--;
      continue;
    }
    int injected;
    ssize_t got = wr_sys_recv(r, fd, wr_chunk_data(r, c), csize, &injected);
    r->stats[S_READ_CALLS]++;
    if (got > 0) {
      WR_HDR_STORE(r, supplyHead, ++r->supHead);
      wr_post(r, K_EV_READ, f->slot, f->gen, fd, c, (uint32_t)got, 0);
      /* A short read empties the queue, unless a FIN came with the data: read on to the 0 (in
       * edge mode no new edge would ever report it). An injected short read left bytes: read on. */
      if ((uint32_t)got < csize && !(f->pend & WR_P_HUP) && !injected) { f->pend &= ~WR_P_READ; return; }
      continue;
    }
    if (got == 0) {
      /* the end, or a reset whose error the backend saw first (f->err: libkqueue consumed SO_ERROR) */
      if (f->err) wr_post(r, K_EV_READ_ERROR, f->slot, f->gen, fd, 0, 0, f->err);
      else wr_post(r, K_EV_READ, f->slot, f->gen, fd, K_NONE, 0, 0);
      f->pend &= ~(WR_P_READ | WR_P_HUP);
      f->flags |= WR_F_RDEND;
      return;
    }
    if (errno == EINTR) { if (++eintrs < WR_EINTR_RETRIES) { n--; continue; } return; } /* readiness kept: next turn */
    if (errno == EAGAIN || errno == EWOULDBLOCK) { if (!injected) f->pend &= ~WR_P_READ; return; } /* injected: the bytes "arrive" next turn */
    wr_post(r, K_EV_READ_ERROR, f->slot, f->gen, fd, 0, 0, (uint32_t)errno);
    f->pend &= ~(WR_P_READ | WR_P_HUP);
    f->flags |= WR_F_RDEND;
    return;
  }
}

static void finish_connect(wr_reactor *r, int fd, wr_fd *f) {
  int err = 0;
  socklen_t len = sizeof err;
  if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0) err = errno;
  if (err == 0) err = f->err; /* libkqueue read SO_ERROR first (which clears it) and gave it in the event */
  if (err == EINPROGRESS || err == EALREADY) return;
  wr_fd_set_kind(f, WR_KIND_CONN);
  f->pend &= ~WR_P_WRITE;
  if (err == 0) wr_post(r, K_EV_CONNECTED, f->slot, f->gen, fd, 0, 0, 0);
  else wr_post(r, K_EV_CONNECT_FAILED, f->slot, f->gen, fd, 0, 0, (uint32_t)err);
  wr_mark_chg(r, fd, f); /* write interest off (level mode) until the core says what it wants */
}

/* Does what readiness allows for one descriptor. Returns 1 if work is left (edge mode). */
int wr__service(wr_reactor *r, int fd) {
  wr_fd *f = &r->fds[fd];
  switch (f->kind) {
    case WR_KIND_LISTENER:
      if ((f->pend & WR_P_READ) && (f->want & K_IN_READ)) accept_some(r, fd);
      f = &r->fds[fd];
      if (!((f->pend & WR_P_READ) && (f->want & K_IN_READ))) return 0;
      if (!(WR_HDR(r, hostFlags) & K_HOST_ACCEPTS_PAUSED)) return 1;
      if (r->edge) wr_park_listener(r, fd, f); /* clients wait; back on the ready list when accepting resumes */
      return 0;
    case WR_KIND_CONNECTING:
      if (f->pend & WR_P_WRITE) finish_connect(r, fd, f);
      return 0;
    case WR_KIND_CONN: {
      if (f->flags & WR_F_RDEND) f->pend &= ~(WR_P_READ | WR_P_HUP); /* its end is posted: nothing more to read */
      if ((f->pend & WR_P_READ) && (f->want & K_IN_READ) && !(f->flags & WR_F_STARVED)) read_some(r, fd, f);
      if ((f->pend & WR_P_WRITE) && (f->want & K_IN_WRITE) && wr_event_room(r) > 0) {
        wr_post(r, K_EV_WRITABLE, f->slot, f->gen, fd, 0, 0, 0);
        f->pend &= ~WR_P_WRITE;
      }
      return ((f->pend & WR_P_READ) && (f->want & K_IN_READ) && !(f->flags & WR_F_STARVED)) ||
             ((f->pend & WR_P_WRITE) && (f->want & K_IN_WRITE));
    }
    default:
      return 0;
  }
}

/* Readiness a backend decoded for fd: serve it now, or keep it for the next turn. */
void wr_ready(wr_reactor *r, int fd, uint8_t pend) {
  if (fd < 0 || fd >= r->fdCap) return;
  wr_fd *f = &r->fds[fd];
  if (f->kind == WR_KIND_NONE) return;
  f->pend |= pend;
  if (wr_event_room(r) == 0) { if (r->edge) wr_mark_ready(r, fd, f); else f->pend = 0; return; }
  if (wr__service(r, fd) && r->edge) wr_mark_ready(r, fd, &r->fds[fd]);
  if (!r->edge) r->fds[fd].pend = 0; /* level mode: the kernel says it again next time */
}
