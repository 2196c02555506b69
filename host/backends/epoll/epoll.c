/*
 * The epoll backend: what is epoll's own in the native shim. Everything else (the descriptor
 * table, the trust checks, write/close/connect, the accept and read loops, the event and
 * overflow rings, the poller thread, Node-API) is shared, in shims/native/ (shim.h says where).
 *
 * Level-triggered (default): a socket is registered with exactly the events the core wants
 * (EPOLLIN|EPOLLRDHUP for IN_READ, EPOLLOUT for IN_WRITE) and removed when it wants none.
 * Edge-triggered (`edge`): each socket is registered once, EPOLLIN|EPOLLOUT|EPOLLRDHUP|EPOLLET,
 * and never modified; the shared code remembers readiness per descriptor and keeps a ready list
 * of sockets with work left (budgets, a full ring), so no MOD calls.
 *
 * The wake eventfd (the backend's own) is in the set, so a wake ends epoll_wait and the poller
 * thread's poll(2) on the epoll descriptor alike.
 */
#include "shim.h"

#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <sys/epoll.h>
#include <unistd.h>

typedef struct {
  int epfd;
  int wakefd;              /* an eventfd in the set: wake() writes it */
  int cap;                 /* events per epoll_wait at most (the reactor's maxEvents) */
  struct epoll_event *evs; /* preallocated: epoll_wait writes here */
} epoll_state;

#define EP(r) ((epoll_state *)(r)->bk)

static int ep_init(wr_reactor *r) {
  epoll_state *s = calloc(1, sizeof *s);
  if (!s) return ENOMEM;
  s->cap = r->maxEvents;
  s->evs = calloc((size_t)s->cap, sizeof(struct epoll_event));
  s->epfd = epoll_create1(EPOLL_CLOEXEC);
  if (!s->evs || s->epfd < 0) {
    int e = s->evs ? errno : ENOMEM;
    if (s->epfd >= 0) close(s->epfd);
    free(s->evs); free(s);
    return e;
  }
  int err = wr_wakefd_open(&s->wakefd, &s->wakefd); /* Linux: one eventfd, both ends */
  struct epoll_event e = { .events = EPOLLIN, .data = { .u64 = (uint64_t)(uint32_t)s->wakefd } };
  if (err == 0 && epoll_ctl(s->epfd, EPOLL_CTL_ADD, s->wakefd, &e) < 0) { err = errno; close(s->wakefd); }
  if (err) {
    close(s->epfd); free(s->evs); free(s);
    return err;
  }
  r->bk = s;
  return 0;
}

static void ep_destroy(wr_reactor *r) {
  epoll_state *s = EP(r);
  if (!s) return;
  close(s->epfd);
  close(s->wakefd);
  free(s->evs); free(s);
  r->bk = NULL;
}

static uint32_t ep_events(uint8_t reg) {
  if (reg & WR_R_EDGE) return EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET;
  uint32_t ev = 0;
  if (reg & WR_R_READ) ev |= EPOLLIN | EPOLLRDHUP;
  if (reg & WR_R_WRITE) ev |= EPOLLOUT;
  return ev;
}

/* Makes fd's registration `to`. ADD on a descriptor already in the set (EEXIST) and MOD on one
 * not in it (ENOENT) fall back to each other. */
static int ep_interest(wr_reactor *r, int fd, uint8_t from, uint8_t to) {
  int epfd = EP(r)->epfd;
  struct epoll_event e = { .events = ep_events(to), .data = { .u64 = (uint64_t)(uint32_t)fd } };
  int rc;
  if (to == 0) rc = epoll_ctl(epfd, EPOLL_CTL_DEL, fd, &e);
  else if (from == 0) {
    rc = epoll_ctl(epfd, EPOLL_CTL_ADD, fd, &e);
    if (rc < 0 && errno == EEXIST) rc = epoll_ctl(epfd, EPOLL_CTL_MOD, fd, &e);
  } else {
    rc = epoll_ctl(epfd, EPOLL_CTL_MOD, fd, &e);
    if (rc < 0 && errno == ENOENT) rc = epoll_ctl(epfd, EPOLL_CTL_ADD, fd, &e);
  }
  return rc < 0 ? errno : 0;
}

static int ep_wait(wr_reactor *r, int max, int timeoutMs) {
  epoll_state *s = EP(r);
  if (max > s->cap) max = s->cap;
  int n;
  do n = epoll_wait(s->epfd, s->evs, max, timeoutMs); while (n < 0 && errno == EINTR && timeoutMs == 0);
  return n < 0 ? 0 : n; /* EINTR while blocking: a signal; the caller runs a turn and comes back */
}

static void ep_decode(wr_reactor *r, int n) {
  epoll_state *s = EP(r);
  for (int i = 0; i < n; i++) {
    int fd = (int)(uint32_t)s->evs[i].data.u64;
    uint32_t ev = s->evs[i].events;
    if (fd == s->wakefd) {
      wr_wakefd_drain(fd);
      r->woken = 1;
      r->stats[S_WAKEUPS]++;
      continue;
    }
    uint8_t pend = 0;
    if (ev & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR)) pend |= WR_P_READ;
    if (ev & (EPOLLRDHUP | EPOLLHUP | EPOLLERR)) pend |= WR_P_HUP;
    if (ev & (EPOLLOUT | EPOLLHUP | EPOLLERR)) pend |= WR_P_WRITE;
    wr_ready(r, fd, pend);
  }
}

static int ep_wake(wr_reactor *r) { return wr_wakefd_signal(EP(r)->wakefd); }

/* The epoll set is readable while an event waits; poll(2) does not consume it. */
static void ep_poll_wait(wr_reactor *r, int timeoutMs) {
  struct pollfd p = { .fd = EP(r)->epfd, .events = POLLIN };
  poll(&p, 1, timeoutMs);
}

const wr_backend wr_epoll_backend = {
  .name = "epoll",
  .init = ep_init,
  .destroy = ep_destroy,
  .interest = ep_interest,
  .forget = NULL, /* close() of the last reference (the shim never dups) removes it from the epoll set */
  .wait = ep_wait,
  .decode = ep_decode,
  .wake = ep_wake,
  .poll_wait = ep_poll_wait,
};
