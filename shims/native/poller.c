/*
 * Waiting without blocking the JS thread (main-thread mode): a poller thread poll(2)s the
 * backend's descriptor (the epoll set reports readiness without consuming it), then calls JS
 * back through a thread-safe function. It works the same in Node, Deno and Bun; uv_poll does
 * not exist in Bun (see ENV notes).
 */
#include "shim.h"

#include <errno.h>
#include <poll.h>
#include <stdint.h>
#include <unistd.h>

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
