/*
 * Waiting without blocking the JS thread (main-thread mode): a poller thread poll(2)s the
 * backend's descriptor (the epoll set reports readiness without consuming it), then calls JS
 * back through a thread-safe function. It works the same in Node, Deno and Bun; uv_poll does
 * not exist in Bun (Bun 1.4 panics: "unsupported uv function: uv_poll_init").
 *
 * Waking from any thread goes through a handle, not a descriptor number: a process-wide table
 * of wake slots, each with a generation, under one mutex. A reactor's slot is released (its
 * generation moves on) before its eventfd is closed, so a wake that arrives after the reactor
 * is gone (a signal handler in another thread, a late timer) finds a stale generation and
 * writes to no descriptor, not even to one that reused the number.
 */
#include "shim.h"

#include <errno.h>
#include <poll.h>
#include <stdint.h>
#include <stdlib.h>
#include <unistd.h>

/* ── wake handles ──────────────────────────────────────────────────────────────────────── */
typedef struct { uint32_t gen; int used; int fd; } wake_slot;

static pthread_mutex_t wake_mu = PTHREAD_MUTEX_INITIALIZER;
static wake_slot *wakes;   /* grows by doubling (old block kept on failure); never shrinks */
static uint32_t wakeCap;

#define WAKE_SLOTS_MAX 65536u /* live reactors per process: the handle keeps 16 bits for the index */
/* Which build made the handle: a release handle passed to the faults build (or the other way
 * round) names no slot there. */
#define WAKE_TAG (WR_FAULTS_BUILD ? 1.0 : 0.0)

/* handle = (gen * 65536 + index) * 2 + tag: an integer below 2^49, exact in a double. */
static double wake_encode(uint32_t index, uint32_t gen) { return ((double)gen * WAKE_SLOTS_MAX + index) * 2 + WAKE_TAG; }

int wr__wake_register(wr_reactor *r) {
  pthread_mutex_lock(&wake_mu);
  uint32_t i = 0;
  while (i < wakeCap && wakes[i].used) i++;
  if (i == wakeCap) {
    uint32_t ncap = wakeCap ? wakeCap * 2 : 16;
    wake_slot *n = ncap <= WAKE_SLOTS_MAX ? realloc(wakes, sizeof(wake_slot) * ncap) : NULL;
    if (!n) { pthread_mutex_unlock(&wake_mu); return ENOMEM; }
    memset(n + wakeCap, 0, sizeof(wake_slot) * (ncap - wakeCap));
    for (uint32_t k = wakeCap; k < ncap; k++) n[k].gen = 1;
    wakes = n; wakeCap = ncap;
  }
  wakes[i].used = 1;
  wakes[i].fd = r->wakefd;
  r->wakeSlot = i;
  r->wakeHandle = wake_encode(i, wakes[i].gen);
  pthread_mutex_unlock(&wake_mu);
  return 0;
}

void wr__wake_unregister(wr_reactor *r) {
  pthread_mutex_lock(&wake_mu);
  wake_slot *w = &wakes[r->wakeSlot];
  w->used = 0;
  w->fd = -1;
  w->gen = w->gen == UINT32_MAX ? 1 : w->gen + 1;
  pthread_mutex_unlock(&wake_mu);
}

/* Any thread. 1: the reactor is woken (or a wake is pending already); 0: no such reactor. */
int wr__wake(double handle) {
  if (!(handle >= 0 && handle < 9007199254740992.0) || handle != (double)(uint64_t)handle) return 0;
  uint64_t h = (uint64_t)handle;
  if ((double)(h & 1) != WAKE_TAG) return 0;
  h >>= 1;
  uint32_t index = (uint32_t)(h % WAKE_SLOTS_MAX);
  uint64_t gen = h / WAKE_SLOTS_MAX;
  int ok = 0;
  pthread_mutex_lock(&wake_mu);
  if (index < wakeCap && wakes[index].used && wakes[index].gen == gen) {
    uint64_t one = 1;
    /* the write happens under the mutex: the reactor cannot close the eventfd meanwhile */
    ssize_t w = write(wakes[index].fd, &one, 8);
    ok = w == 8 || errno == EAGAIN; /* EAGAIN: the counter is full, a wake is pending anyway */
  }
  pthread_mutex_unlock(&wake_mu);
  return ok;
}

static void *poller_main(void *arg) {
  wr_reactor *r = arg;
  pthread_mutex_lock(&r->mu);
  for (;;) {
    while (!r->armed && !r->stop) pthread_cond_wait(&r->cv, &r->mu);
    if (r->stop) break;
    int t = r->armTimeout;
    pthread_mutex_unlock(&r->mu);
    struct pollfd p = { .fd = r->ops->poll_fd(r), .events = POLLIN };
    poll(&p, 1, t); /* readiness of the kernel queue, not consumed; the wake eventfd is in it */
    pthread_mutex_lock(&r->mu);
    r->armed = 0;
    if (r->stop) break;
    napi_call_threadsafe_function(r->tsfn, NULL, napi_tsfn_nonblocking);
  }
  pthread_mutex_unlock(&r->mu);
  return NULL;
}

static void tsfn_call_js(napi_env env, napi_value js_cb, void *context, void *data) {
  (void)context; (void)data;
  if (env == NULL || js_cb == NULL) return;
  napi_value undef;
  napi_get_undefined(env, &undef);
  napi_call_function(env, undef, js_cb, 0, NULL, NULL);
}

/* Arms one wait: cb runs on the JS thread once the kernel queue is ready or timeoutMs passed. */
int wr__poller_arm(wr_reactor *r, napi_env env, napi_value cb, int timeoutMs) {
  if (!r->thrStarted) {
    napi_value name;
    napi_create_string_utf8(env, "wasm-reactor poller", NAPI_AUTO_LENGTH, &name);
    if (napi_create_threadsafe_function(env, cb, NULL, name, 0, 1, NULL, NULL, NULL, tsfn_call_js, &r->tsfn) != napi_ok) return ENOMEM;
    int e = pthread_create(&r->thr, NULL, poller_main, r);
    if (e != 0) { napi_release_threadsafe_function(r->tsfn, napi_tsfn_abort); return e; }
    r->thrStarted = 1;
  }
  napi_ref_threadsafe_function(env, r->tsfn); /* a pending wait keeps the process alive */
  pthread_mutex_lock(&r->mu);
  r->armTimeout = timeoutMs;
  r->armed = 1;
  pthread_cond_signal(&r->cv);
  pthread_mutex_unlock(&r->mu);
  return 0;
}

/* Stops the poller thread (it may be inside poll(): the wake eventfd ends that) and joins it. */
void wr__poller_stop(wr_reactor *r) {
  if (!r->thrStarted) return;
  pthread_mutex_lock(&r->mu);
  r->stop = 1;
  pthread_cond_signal(&r->cv);
  pthread_mutex_unlock(&r->mu);
  uint64_t one = 1;
  if (write(r->wakefd, &one, 8) < 0) { /* the poller also wakes by its timeout */ }
  pthread_join(r->thr, NULL);
  napi_release_threadsafe_function(r->tsfn, napi_tsfn_abort);
  r->thrStarted = 0;
}
