/*
 * Waiting without blocking the JS thread (main-thread mode): a poller thread waits in the
 * backend's poll_wait (epoll: poll(2) on the epoll set, which reports readiness without
 * consuming it; kqueue: kevent(), keeping what it took for the next turn), then calls JS back
 * through a thread-safe function. It works the same in Node, Deno and Bun; uv_poll does not
 * exist in Bun (Bun 1.4 panics: "unsupported uv function: uv_poll_init").
 *
 * Waking from any thread goes through a handle, not a descriptor number: a process-wide table
 * of wake slots, each with a generation, under one mutex. A reactor's slot is released (its
 * generation moves on) before its backend is destroyed, so a wake that arrives after the
 * reactor is gone (a signal handler in another thread, a late timer) finds a stale generation
 * and touches nothing, not even a descriptor that reused the number.
 */
#include "shim.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <unistd.h>
#ifdef __linux__
#include <sys/eventfd.h>
#endif

/* ── wake descriptors: an eventfd on Linux, a nonblocking pipe elsewhere (macOS has no eventfd) ── */
int wr_wakefd_open(int *rd, int *wr) {
#ifdef __linux__
  int fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  if (fd < 0) return errno;
  *rd = *wr = fd;
  return 0;
#else
  int p[2];
  if (pipe(p) < 0) return errno;
  for (int i = 0; i < 2; i++) {
    int fl = fcntl(p[i], F_GETFL);
    if (fl < 0 || fcntl(p[i], F_SETFL, fl | O_NONBLOCK) < 0 || fcntl(p[i], F_SETFD, FD_CLOEXEC) < 0) {
      int e = errno; close(p[0]); close(p[1]); return e;
    }
  }
  *rd = p[0]; *wr = p[1];
  return 0;
#endif
}

void wr_wakefd_close(int rd, int wr) {
  close(rd);
  if (wr != rd) close(wr);
}

int wr_wakefd_signal(int wr) {
  uint64_t one = 1; /* an eventfd takes 8 bytes; a pipe takes any */
  if (write(wr, &one, 8) >= 0 || errno == EAGAIN) return 0; /* EAGAIN: full, a wake is pending anyway */
  return errno;
}

void wr_wakefd_drain(int rd) {
  uint64_t v[8];
  while (read(rd, v, sizeof v) > 0) {}
}

/* ── wake handles ──────────────────────────────────────────────────────────────────────── */
typedef struct { uint32_t gen; int used; wr_reactor *r; } wake_slot;

static pthread_mutex_t wake_mu = PTHREAD_MUTEX_INITIALIZER;
static wake_slot *wakes;   /* grows by doubling (old block kept on failure); never shrinks */
static uint32_t wakeCap;

#define WAKE_SLOTS_MAX 65536u /* live reactors per process: the handle keeps 16 bits for the index */
/* Which build made the handle: a handle passed to another build's module (release, faults,
 * the libkqueue test build: each keeps its own table) names no slot there. */
#if defined(WR_LIBKQUEUE)
#define WAKE_TAG 2u
#elif defined(WR_FAULTS)
#define WAKE_TAG 1u
#else
#define WAKE_TAG 0u
#endif

/* handle = (gen * 65536 + index) * 4 + tag: an integer below 2^50, exact in a double. */
static double wake_encode(uint32_t index, uint32_t gen) { return ((double)gen * WAKE_SLOTS_MAX + index) * 4 + WAKE_TAG; }

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
  wakes[i].r = r;
  r->wakeSlot = i;
  r->wakeHandle = wake_encode(i, wakes[i].gen);
  pthread_mutex_unlock(&wake_mu);
  return 0;
}

void wr__wake_unregister(wr_reactor *r) {
  pthread_mutex_lock(&wake_mu);
  wake_slot *w = &wakes[r->wakeSlot];
  w->used = 0;
  w->r = NULL;
  w->gen = w->gen == UINT32_MAX ? 1 : w->gen + 1;
  pthread_mutex_unlock(&wake_mu);
}

/* Any thread. 1: the reactor is woken (or a wake is pending already); 0: no such reactor. */
int wr__wake(double handle) {
  if (!(handle >= 0 && handle < 9007199254740992.0) || handle != (double)(uint64_t)handle) return 0;
  uint64_t h = (uint64_t)handle;
  if ((h & 3) != WAKE_TAG) return 0;
  h >>= 2;
  uint32_t index = (uint32_t)(h % WAKE_SLOTS_MAX);
  uint64_t gen = h / WAKE_SLOTS_MAX;
  int ok = 0;
  pthread_mutex_lock(&wake_mu);
  if (index < wakeCap && wakes[index].used && wakes[index].gen == gen) {
    /* under the mutex: the reactor cannot unregister and destroy its backend meanwhile */
    wr_reactor *r = wakes[index].r;
    ok = r->ops->wake(r) == 0;
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
    r->ops->poll_wait(r, t); /* until the kernel queue has work (a wake included) or t ms passed */
    pthread_mutex_lock(&r->mu);
    r->armed = 0;
    if (r->stop) break;
    napi_call_threadsafe_function(r->tsfn, NULL, napi_tsfn_nonblocking);
  }
  pthread_mutex_unlock(&r->mu);
  return NULL;
}

/*
 * Which pollers may still call JS. Node drops the calls queued for JS when wr__poller_stop aborts
 * the thread-safe function; Deno may still deliver one that was queued just before (seen in
 * tests/native/lifecycle.test.ts under load). So each poller's calls carry a token (the
 * tsfn's context: a number, never a pointer, so nothing is freed under a late call), and a call
 * whose token was retired calls nothing. Tokens are never reused; the live set is one per
 * poller thread, so a linear scan is short.
 */
static pthread_mutex_t live_mu = PTHREAD_MUTEX_INITIALIZER;
static uint64_t live_next = 1, *live;
static size_t live_n, live_cap;

static uint64_t live_add(void) {
  uint64_t t = 0;
  pthread_mutex_lock(&live_mu);
  if (live_n == live_cap) {
    size_t cap = live_cap ? live_cap * 2 : 16;
    uint64_t *p = realloc(live, cap * sizeof *live);
    if (p) { live = p; live_cap = cap; }
  }
  if (live_n < live_cap) { t = live_next++; live[live_n++] = t; }
  pthread_mutex_unlock(&live_mu);
  return t; /* 0: out of memory */
}

static void live_remove(uint64_t t) {
  pthread_mutex_lock(&live_mu);
  for (size_t i = 0; i < live_n; i++) if (live[i] == t) { live[i] = live[--live_n]; break; }
  pthread_mutex_unlock(&live_mu);
}

static int live_has(uint64_t t) {
  int found = 0;
  pthread_mutex_lock(&live_mu);
  for (size_t i = 0; i < live_n && !found; i++) found = live[i] == t;
  pthread_mutex_unlock(&live_mu);
  return found;
}

static void tsfn_call_js(napi_env env, napi_value js_cb, void *context, void *data) {
  (void)data;
  if (env == NULL || js_cb == NULL || !live_has((uint64_t)(uintptr_t)context)) return;
  napi_value undef;
  napi_get_undefined(env, &undef);
  napi_call_function(env, undef, js_cb, 0, NULL, NULL);
}

/* Arms one wait: cb runs on the JS thread once the kernel queue is ready or timeoutMs passed. */
int wr__poller_arm(wr_reactor *r, napi_env env, napi_value cb, int timeoutMs) {
  if (!r->thrStarted) {
    napi_value name;
    napi_create_string_utf8(env, "wasm-reactor poller", NAPI_AUTO_LENGTH, &name);
    r->tsfnToken = live_add();
    if (!r->tsfnToken) return ENOMEM;
    if (napi_create_threadsafe_function(env, cb, NULL, name, 0, 1, NULL, NULL, (void *)(uintptr_t)r->tsfnToken, tsfn_call_js, &r->tsfn) != napi_ok) { live_remove(r->tsfnToken); return ENOMEM; }
    int e = pthread_create(&r->thr, NULL, poller_main, r);
    if (e != 0) { live_remove(r->tsfnToken); napi_release_threadsafe_function(r->tsfn, napi_tsfn_abort); return e; }
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

/* Stops the poller thread (it may be inside poll_wait: the backend's wake ends that) and joins it. */
void wr__poller_stop(wr_reactor *r) {
  if (!r->thrStarted) return;
  pthread_mutex_lock(&r->mu);
  r->stop = 1;
  pthread_cond_signal(&r->cv);
  pthread_mutex_unlock(&r->mu);
  r->ops->wake(r); /* should it fail, the poller still ends by its timeout */
  pthread_join(r->thr, NULL);
  live_remove(r->tsfnToken); /* before the abort: a call Deno still delivers now calls nothing */
  napi_release_threadsafe_function(r->tsfn, napi_tsfn_abort);
  r->thrStarted = 0;
}
