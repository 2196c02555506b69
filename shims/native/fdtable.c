/*
 * The descriptor table and the work lists: what the shim knows about each descriptor it opened
 * (its owner, what the core wants, readiness not yet served, what the kernel has registered),
 * and the lists of descriptors with something left to do.
 */
#include "shim.h"

#include <stdlib.h>
#include <sys/resource.h>

wr_fd *wr_fd_get(wr_reactor *r, int fd) {
  if (fd < 0) return NULL;
  if (fd >= r->fdCap) {
    int ncap = r->fdCap ? r->fdCap : 1024;
    while (ncap <= fd) ncap *= 2;
    wr_fd *n = realloc(r->fds, sizeof(wr_fd) * ncap);
    if (!n) return NULL;
    memset(n + r->fdCap, 0, sizeof(wr_fd) * (ncap - r->fdCap));
    r->fds = n; r->fdCap = ncap;
  }
  return &r->fds[fd];
}

void wr__fd_table_init(wr_reactor *r) {
  /* sized once for the process's limit (it grows past it if it must) */
  struct rlimit rl;
  if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY && rl.rlim_cur < (1u << 22)) wr_fd_get(r, (int)rl.rlim_cur - 1);
}

void wr__fd_table_free(wr_reactor *r) {
  free(r->fds); free(r->chg); free(r->rdy); free(r->stv);
  r->fds = NULL; r->fdCap = 0;
  r->chg = r->rdy = r->stv = NULL;
}

static void list_push(int **arr, int *n, int *cap, int v) {
  if (*n == *cap) { *cap = *cap ? *cap * 2 : 256; *arr = realloc(*arr, sizeof(int) * *cap); }
  (*arr)[(*n)++] = v;
}

void wr_mark_ready(wr_reactor *r, int fd, wr_fd *f) {
  if (f->flags & WR_F_READY) return;
  f->flags |= WR_F_READY;
  list_push(&r->rdy, &r->rdyN, &r->rdyCap, fd);
}

void wr_mark_chg(wr_reactor *r, int fd, wr_fd *f) {
  if (f->flags & WR_F_CHG) return;
  f->flags |= WR_F_CHG;
  list_push(&r->chg, &r->chgN, &r->chgCap, fd);
}

/* The registration a descriptor needs now, in WR_R_* bits. */
uint8_t wr_fd_wanted(const wr_reactor *r, const wr_fd *f) {
  if (r->edge) return f->kind == WR_KIND_NONE ? 0 : (WR_R_READ | WR_R_WRITE | WR_R_EDGE);
  if (f->kind == WR_KIND_CONNECTING) return WR_R_WRITE;
  uint8_t ev = 0;
  if ((f->want & K_IN_READ) && !(f->flags & WR_F_STARVED)) ev |= WR_R_READ;
  if ((f->want & K_IN_WRITE) && f->kind == WR_KIND_CONN) ev |= WR_R_WRITE;
  return ev;
}

void wr_apply_interest(wr_reactor *r, int fd, wr_fd *f) {
  uint8_t want = wr_fd_wanted(r, f);
  if (want == f->reg) return;
  r->ops->interest(r, fd, f->reg, want);
  r->stats[S_CTL]++;
  f->reg = want;
}

/* Parks a readable socket that has no chunk to read into. */
void wr_starve(wr_reactor *r, int fd, wr_fd *f) {
  if (f->flags & WR_F_STARVED) return;
  f->flags |= WR_F_STARVED;
  if (!(f->flags & WR_F_IN_STV)) { f->flags |= WR_F_IN_STV; list_push(&r->stv, &r->stvN, &r->stvCap, fd); }
  r->stats[S_STARVED]++;
  if (!r->edge) wr_apply_interest(r, fd, f); /* read interest off until chunks return: no spinning */
}

/* Chunks came back: starved sockets may read again. */
void wr_unstarve(wr_reactor *r) {
  if (r->stvN == 0 || wr_reads_blocked(r)) return;
  for (int i = 0; i < r->stvN; i++) {
    int fd = r->stv[i];
    wr_fd *f = &r->fds[fd];
    f->flags &= ~WR_F_IN_STV;
    if (!(f->flags & WR_F_STARVED)) continue;
    f->flags &= ~WR_F_STARVED;
    if (f->kind == WR_KIND_NONE) continue;
    if (r->edge) wr_mark_ready(r, fd, f);
    else wr_apply_interest(r, fd, f);
  }
  r->stvN = 0;
}
