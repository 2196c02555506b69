// Reference echo server for tests/bench/net.mjs: one thread, level-triggered epoll.
//
//   c-epoll --host 127.0.0.1 --port 0      (prints "listening on HOST:PORT" when ready)
//
// Built by the driver: cc -O2 -o build/bench/c-epoll tests/bench/servers/c-epoll.c
//
// Listening socket: backlog 4096, non-blocking; accept4 until EAGAIN on each readiness.
// Connections: TCP_NODELAY; on EPOLLIN one read of up to 64 KiB and a write of it back. If the
// write is partial, the rest is kept and the connection waits for EPOLLOUT alone (no reading
// meanwhile), then goes back to EPOLLIN. EOF or an error closes it. On EMFILE/ENFILE the listener
// leaves the interest set for 10 ms instead of spinning. SIGTERM/SIGINT: the loop stops, exit 0
// (the kernel closes the connections).
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

typedef struct { char *buf; uint32_t len, off; } pend_t;

static volatile sig_atomic_t stopping;
static void on_signal(int sig) { (void)sig; stopping = 1; }

static int ep, lfd;
static pend_t *pend;
static size_t maxfd;
static char buf[65536];

static void close_conn(int fd) {
  if ((size_t)fd < maxfd && pend[fd].buf) { free(pend[fd].buf); pend[fd].buf = NULL; }
  close(fd); // also leaves the epoll set (no dup'd descriptors here)
}

int main(int argc, char **argv) {
  const char *host = "127.0.0.1";
  int port = 0;
  for (int i = 1; i + 1 < argc; i += 2) {
    if (!strcmp(argv[i], "--host")) host = argv[i + 1];
    else if (!strcmp(argv[i], "--port")) port = atoi(argv[i + 1]);
    else { fprintf(stderr, "usage: c-epoll --host H --port P\n"); return 2; }
  }

  struct sigaction sa = {0};
  sa.sa_handler = on_signal; // no SA_RESTART: epoll_wait returns EINTR
  sigaction(SIGTERM, &sa, NULL);
  sigaction(SIGINT, &sa, NULL);
  signal(SIGPIPE, SIG_IGN);

  struct rlimit rl;
  getrlimit(RLIMIT_NOFILE, &rl);
  if (rl.rlim_cur < rl.rlim_max) { rl.rlim_cur = rl.rlim_max; setrlimit(RLIMIT_NOFILE, &rl); }
  getrlimit(RLIMIT_NOFILE, &rl);
  maxfd = rl.rlim_cur == RLIM_INFINITY ? 1 << 20 : (size_t)rl.rlim_cur;
  pend = calloc(maxfd, sizeof *pend);

  struct sockaddr_in addr = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
  if (inet_pton(AF_INET, host, &addr.sin_addr) != 1) { fprintf(stderr, "c-epoll: bad --host %s\n", host); return 2; }
  lfd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  int one = 1;
  setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  if (bind(lfd, (struct sockaddr *)&addr, sizeof addr) < 0 || listen(lfd, 4096) < 0) {
    fprintf(stderr, "c-epoll: listen on %s:%d: %s\n", host, port, strerror(errno));
    return 1;
  }
  socklen_t alen = sizeof addr;
  getsockname(lfd, (struct sockaddr *)&addr, &alen);

  ep = epoll_create1(EPOLL_CLOEXEC);
  struct epoll_event ev = {.events = EPOLLIN, .data.fd = lfd};
  epoll_ctl(ep, EPOLL_CTL_ADD, lfd, &ev);
  printf("listening on %s:%d\n", host, ntohs(addr.sin_port));
  fflush(stdout);

  struct epoll_event evs[1024];
  int listen_paused = 0;
  while (!stopping) {
    int n = epoll_wait(ep, evs, 1024, listen_paused ? 10 : -1);
    if (n < 0) {
      if (errno == EINTR) continue;
      perror("c-epoll: epoll_wait");
      return 1;
    }
    if (listen_paused && n == 0) {
      ev.events = EPOLLIN; ev.data.fd = lfd;
      epoll_ctl(ep, EPOLL_CTL_ADD, lfd, &ev);
      listen_paused = 0;
    }
    for (int i = 0; i < n; i++) {
      int fd = evs[i].data.fd;
      uint32_t e = evs[i].events;
      if (fd == lfd) {
        for (;;) {
          int c = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
          if (c < 0) {
            if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM) {
              epoll_ctl(ep, EPOLL_CTL_DEL, lfd, NULL);
              listen_paused = 1;
            }
            break; // EAGAIN, or an error on one pending connection: try again at the next readiness
          }
          setsockopt(c, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
          struct epoll_event cev = {.events = EPOLLIN, .data.fd = c};
          if ((size_t)c >= maxfd || epoll_ctl(ep, EPOLL_CTL_ADD, c, &cev) < 0) close(c);
        }
        continue;
      }
      pend_t *p = &pend[fd];
      if (p->buf) { // waiting to finish a partial write
        if (!(e & (EPOLLOUT | EPOLLERR | EPOLLHUP))) continue;
        ssize_t w = write(fd, p->buf + p->off, p->len - p->off);
        if (w < 0 && errno != EAGAIN && errno != EINTR) { close_conn(fd); continue; }
        if (w > 0) p->off += (uint32_t)w;
        if (p->off == p->len) {
          free(p->buf); p->buf = NULL;
          struct epoll_event cev = {.events = EPOLLIN, .data.fd = fd};
          epoll_ctl(ep, EPOLL_CTL_MOD, fd, &cev);
        }
        continue;
      }
      ssize_t r = read(fd, buf, sizeof buf);
      if (r == 0 || (r < 0 && errno != EAGAIN && errno != EINTR)) { close_conn(fd); continue; }
      if (r < 0) continue;
      ssize_t w = write(fd, buf, (size_t)r);
      if (w < 0 && errno != EAGAIN && errno != EINTR) { close_conn(fd); continue; }
      if (w < 0) w = 0;
      if (w < r) {
        p->len = (uint32_t)(r - w); p->off = 0;
        p->buf = malloc(p->len);
        memcpy(p->buf, buf + w, p->len);
        struct epoll_event cev = {.events = EPOLLOUT, .data.fd = fd};
        epoll_ctl(ep, EPOLL_CTL_MOD, fd, &cev);
      }
    }
  }
  for (size_t fd = 0; fd < maxfd; fd++) if (pend[fd].buf) free(pend[fd].buf);
  close(lfd);
  close(ep);
  return 0; // the kernel closes the connections
}
