/*
 * Node-API glue: the module's exports (host/backends/native.ts types them). Plain C against
 * Node-API (NAPI_VERSION 8), so one binary loads in Node, Deno and Bun. One .node holds every
 * backend built for this OS; create() picks one by name.
 *
 * Every exported call is counted (stats `calls`) except the observing ones (stats,
 * sampleQueues), so `calls / turns` is the JS<->native crossings per turn.
 */
#include "shim.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>
#if defined(__APPLE__) || defined(__FreeBSD__) || defined(__OpenBSD__) || defined(__NetBSD__) || defined(__DragonFly__)
#include <sys/sysctl.h>
#define WR_HAVE_SYSCTLBYNAME 1
#endif

static const wr_backend *const BACKENDS[] = {
#ifdef WR_BACKEND_EPOLL
  &wr_epoll_backend,
#endif
#ifdef WR_BACKEND_KQUEUE
  &wr_kqueue_backend,
#endif
#ifdef WR_BACKEND_URING
  &wr_uring_backend,
#endif
  NULL,
};

#define CHECK(call) do { if ((call) != napi_ok) { napi_throw_error(env, "ERR_NATIVE", "wasm-reactor native shim: " #call " failed"); return NULL; } } while (0)

static napi_value throw_errno(napi_env env, const char *what, int err) {
  char msg[256];
  snprintf(msg, sizeof msg, "%s: %s", what, strerror(err));
  napi_value m, e, code, no;
  napi_create_string_utf8(env, msg, NAPI_AUTO_LENGTH, &m);
  napi_create_error(env, NULL, m, &e);
  napi_create_int32(env, (int32_t)wr_errno_linux((uint32_t)err), &no); /* Linux numbering, as host/errors.ts names them */
  napi_set_named_property(env, e, "errno", no);
  napi_create_string_utf8(env, "ERR_NATIVE_ERRNO", NAPI_AUTO_LENGTH, &code);
  napi_set_named_property(env, e, "code", code);
  napi_throw(env, e);
  return NULL;
}

static wr_reactor *get_r(napi_env env, napi_value v) {
  wr_reactor *r = NULL;
  if (napi_get_value_external(env, v, (void **)&r) != napi_ok || !r || r->destroyed) {
    napi_throw_error(env, "ERR_NATIVE", "wasm-reactor native shim: not a live reactor handle");
    return NULL;
  }
  r->stats[S_CALLS]++;
  return r;
}

static int32_t arg_i32(napi_env env, napi_value v) { int32_t x = 0; napi_get_value_int32(env, v, &x); return x; }

/* [a, b] as a JS array. */
static napi_value pair(napi_env env, napi_value a, napi_value b) {
  napi_value out;
  napi_create_array_with_length(env, 2, &out);
  napi_set_element(env, out, 0, a); napi_set_element(env, out, 1, b);
  return out;
}

/* The data of a typed array of the given type, or NULL (an error thrown) when it is not one. */
static void *arg_typed(napi_env env, napi_value v, napi_typedarray_type want, size_t *len, const char *what) {
  napi_typedarray_type t; void *data; napi_value ab; size_t off;
  if (napi_get_typedarray_info(env, v, &t, len, &data, &ab, &off) != napi_ok || t != want) {
    napi_throw_error(env, "ERR_NATIVE", what);
    return NULL;
  }
  return data;
}

static int parse_addr(napi_env env, napi_value v, int port, struct sockaddr_storage *ss, socklen_t *len) {
  char host[128];
  size_t n = 0;
  if (napi_get_value_string_utf8(env, v, host, sizeof host, &n) != napi_ok) return -1;
  memset(ss, 0, sizeof *ss);
  struct sockaddr_in *a4 = (struct sockaddr_in *)ss;
  struct sockaddr_in6 *a6 = (struct sockaddr_in6 *)ss;
  if (inet_pton(AF_INET, host, &a4->sin_addr) == 1) { a4->sin_family = AF_INET; a4->sin_port = htons(port); *len = sizeof *a4; return 0; }
  if (inet_pton(AF_INET6, host, &a6->sin6_addr) == 1) { a6->sin6_family = AF_INET6; a6->sin6_port = htons(port); *len = sizeof *a6; return 0; }
  return -1;
}

static void finalize_reactor(napi_env env, void *data, void *hint) {
  (void)env; (void)hint;
  wr_reactor *r = data;
  if (!r->destroyed) return; /* never destroyed: leave the descriptors to the process */
  free(r);
}

/* create(backend, edge, maxEvents, nodelay, shed, blockWait) */
static napi_value n_create(napi_env env, napi_callback_info info) {
  size_t argc = 6; napi_value argv[6];
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  char name[32] = { 0 };
  size_t nlen = 0;
  napi_get_value_string_utf8(env, argv[0], name, sizeof name, &nlen);
  const wr_backend *ops = NULL;
  for (int i = 0; BACKENDS[i]; i++) if (strcmp(BACKENDS[i]->name, name) == 0) ops = BACKENDS[i];
  if (!ops) {
    char msg[160] = "wasm-reactor native shim: this build has no backend named that; it has:";
    for (int i = 0; BACKENDS[i]; i++) { strncat(msg, " ", sizeof msg - strlen(msg) - 1); strncat(msg, BACKENDS[i]->name, sizeof msg - strlen(msg) - 1); }
    napi_throw_error(env, "ERR_NATIVE", msg);
    return NULL;
  }
  wr_reactor *r = calloc(1, sizeof *r);
  if (!r) return throw_errno(env, "create", ENOMEM);
  r->ops = ops;
  r->edge = arg_i32(env, argv[1]);
  r->maxEvents = arg_i32(env, argv[2]);
  if (r->maxEvents < 16) r->maxEvents = 16;
  r->nodelay = arg_i32(env, argv[3]);
  r->shed = arg_i32(env, argv[4]);
  r->blockWait = argc > 5 ? arg_i32(env, argv[5]) : 1;
  int e = ops->init(r);
  if (e) { free(r); return throw_errno(env, ops->name, e); }
  e = wr__wake_register(r);
  if (e) { ops->destroy(r); free(r); return throw_errno(env, "create: wake table", e); }
  r->reservefd = r->shed ? open("/dev/null", O_RDONLY | O_CLOEXEC) : -1;
  pthread_mutex_init(&r->mu, NULL);
  pthread_cond_init(&r->cv, NULL);
  napi_value ext;
  CHECK(napi_create_external(env, r, finalize_reactor, NULL, &ext));
  return ext;
}

/* attach(h, memoryU8): the core's whole memory; its regions are validated here, once */
static napi_value n_attach(napi_env env, napi_callback_info info) {
  size_t argc = 2; napi_value argv[2];
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  wr_reactor *r = get_r(env, argv[0]); if (!r) return NULL;
  const char *need = "wasm-reactor native shim: attach needs a Uint8Array over the core's whole memory";
  size_t len;
  void *data = arg_typed(env, argv[1], napi_uint8_array, &len, need);
  if (!data) return NULL;
  if (r->mem) { napi_throw_error(env, "ERR_NATIVE", "wasm-reactor native shim: attach: this reactor is attached already"); return NULL; }
  char stale[256];
  if (len >= K_LAYOUT_BASE + K_HEADER_BYTES && wr_layout_check(data, stale, sizeof stale) != 0) {
    napi_throw_error(env, "ERR_LAYOUT", stale); /* another layout: names both versions and the fix */
    return NULL;
  }
  const char *why = wr__attach_regions(r, data, len);
  if (why) {
    char msg[256];
    snprintf(msg, sizeof msg, "wasm-reactor native shim: attach: %s", why);
    napi_throw_error(env, "ERR_NATIVE", msg);
    return NULL;
  }
  r->pc = calloc(r->slotCap, sizeof(wr_pending));
  r->chunkMark = calloc(r->chunkCount, sizeof(uint32_t));
  if (!r->pc || !r->chunkMark || wr__fd_table_init(r) != 0 || wr__overflow_init(r) != 0) {
    free(r->pc); free(r->chunkMark); r->pc = NULL; r->chunkMark = NULL; r->mem = NULL;
    return throw_errno(env, "attach", ENOMEM);
  }
  return NULL;
}

/* listen(h, host, port, backlog, reuseport, rcvbuf, sndbuf, deferAcceptS) → [fd, port]; the
 * last three (0 or absent: the kernel's default) are set before listen() (sockopts.c) */
static napi_value n_listen(napi_env env, napi_callback_info info) {
  size_t argc = 8; napi_value argv[8];
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  wr_reactor *r = get_r(env, argv[0]); if (!r) return NULL;
  struct sockaddr_storage ss; socklen_t len;
  if (parse_addr(env, argv[1], arg_i32(env, argv[2]), &ss, &len) < 0) return throw_errno(env, "listen: not an IPv4 or IPv6 address", EINVAL);
  int fd = wr_socket_nb(ss.ss_family);
  if (fd < 0) return throw_errno(env, "socket", errno);
  int one = 1;
  setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  if (arg_i32(env, argv[4]) && setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one) < 0) { int e = errno; close(fd); return throw_errno(env, "SO_REUSEPORT", e); }
  if (ss.ss_family == AF_INET6) setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof one);
  const char *what = NULL;
  int se = wr_sockopts_listener(fd, arg_i32(env, argv[5]), arg_i32(env, argv[6]), arg_i32(env, argv[7]), &what);
  if (se) { close(fd); return throw_errno(env, what, se); }
#if WR_SOCKOPTS_INHERITED
  wr_sockopts_conn(r, fd); /* keepalive, TCP_USER_TIMEOUT once here: every accepted socket inherits them (sockopts.c) */
#endif
  if (bind(fd, (struct sockaddr *)&ss, len) < 0) { int e = errno; close(fd); return throw_errno(env, "bind", e); }
  if (listen(fd, arg_i32(env, argv[3])) < 0) { int e = errno; close(fd); return throw_errno(env, "listen", e); }
  struct sockaddr_storage got; socklen_t glen = sizeof got;
  getsockname(fd, (struct sockaddr *)&got, &glen);
  int port = ntohs(got.ss_family == AF_INET ? ((struct sockaddr_in *)&got)->sin_port : ((struct sockaddr_in6 *)&got)->sin6_port);
  if (!r->mem) { close(fd); napi_throw_error(env, "ERR_NATIVE", "wasm-reactor native shim: listen before attach"); return NULL; }
  if (!wr_fd_open(r, fd, WR_KIND_LISTENER)) { close(fd); return throw_errno(env, "listen", ENOMEM); } /* unbound until its first INTEREST */
  r->listenersN++;
  napi_value a, b;
  napi_create_int32(env, fd, &a); napi_create_int32(env, port, &b);
  return pair(env, a, b);
}

/* prepareConnect(h, slot, gen, host, port, localHost|null) → 0, or throws EINVAL */
static napi_value n_prepare_connect(napi_env env, napi_callback_info info) {
  size_t argc = 6; napi_value argv[6];
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  wr_reactor *r = get_r(env, argv[0]); if (!r) return NULL;
  uint32_t slot = (uint32_t)arg_i32(env, argv[1]);
  if (!r->pc || slot >= r->slotCap) return throw_errno(env, "prepareConnect: slot out of range", EINVAL);
  wr_pending *p = &r->pc[slot];
  if (parse_addr(env, argv[3], arg_i32(env, argv[4]), &p->addr, &p->alen) < 0) return throw_errno(env, "connect: not an IPv4 or IPv6 address", EINVAL);
  p->llen = 0;
  napi_valuetype vt; napi_typeof(env, argv[5], &vt);
  if (vt == napi_string && parse_addr(env, argv[5], 0, &p->local, &p->llen) < 0) return throw_errno(env, "connect: localAddress is not an IPv4 or IPv6 address", EINVAL);
  if (p->llen && p->local.ss_family != p->addr.ss_family) return throw_errno(env, "connect: localAddress and host are of different families", EINVAL);
  p->gen = (uint32_t)arg_i32(env, argv[2]);
  p->used = 1;
  return NULL;
}

/* turn()'s result: the events posted, and whether it was woken or has work in hand (bits 30, 29) */
static napi_value turn_result(napi_env env, wr_reactor *r, int n) {
  napi_value out;
  napi_create_int32(env, n | (r->woken ? 0x40000000 : 0) | ((r->ovN || (r->edge && r->rdyN)) ? 0x20000000 : 0), &out);
  return out;
}

/* turn(h, timeoutMs) → events posted | bit 30: woken by a wake | bit 29: work left that
 * needs no waiting (overflow, edge ready list) */
static napi_value n_turn(napi_env env, napi_callback_info info) {
  size_t argc = 2; napi_value argv[2];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  wr_reactor *r = get_r(env, argv[0]); if (!r) return NULL;
  if (!r->mem) { napi_throw_error(env, "ERR_NATIVE", "wasm-reactor native shim: turn before attach"); return NULL; }
  if (!r->fatal) { int n = wr_turn(r, arg_i32(env, argv[1])); if (!r->fatal) return turn_result(env, r, n); }
  char what[200];
  snprintf(what, sizeof what, "wasm-reactor native shim: %s failed; this reactor cannot go on", r->fatalWhat ? r->fatalWhat : "the host");
  return throw_errno(env, what, r->fatal);
}


/* waitAsync(h, timeoutMs, cb): cb() on the JS thread once the kernel queue is ready or the time passed */
static napi_value n_wait_async(napi_env env, napi_callback_info info) {
  size_t argc = 3; napi_value argv[3];
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  wr_reactor *r = get_r(env, argv[0]); if (!r) return NULL;
  r->stats[S_ASYNC_WAITS]++;
  int e = wr__poller_arm(r, env, argv[2], arg_i32(env, argv[1]));
  if (e) return throw_errno(env, "waitAsync", e);
  return NULL;
}

/* unref(h): nothing waits any more (called after the poller's callback) */
static napi_value n_unref(napi_env env, napi_callback_info info) {
  size_t argc = 1; napi_value argv[1];
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  wr_reactor *r = get_r(env, argv[0]); if (!r) return NULL;
  if (r->thrStarted) napi_unref_threadsafe_function(env, r->tsfn);
  return NULL;
}

/* wakeHandle(h) → a number any thread may pass to wake() (a handle, not a descriptor) */
static napi_value n_wake_handle(napi_env env, napi_callback_info info) {
  size_t argc = 1; napi_value argv[1];
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  wr_reactor *r = get_r(env, argv[0]); if (!r) return NULL;
  napi_value out; napi_create_double(env, r->wakeHandle, &out); return out;
}

/* wake(handle) → true when the reactor is woken; false when it is gone (nothing written) */
static napi_value n_wake(napi_env env, napi_callback_info info) {
  size_t argc = 1; napi_value argv[1];
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  double handle = -1;
  napi_get_value_double(env, argv[0], &handle);
  napi_value out; napi_get_boolean(env, wr__wake(handle), &out); return out;
}

/* closeFd(h, fd): a descriptor the core never took over (anything else: a violation, no close) */
static napi_value n_close_fd(napi_env env, napi_callback_info info) {
  size_t argc = 2; napi_value argv[2];
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  wr_reactor *r = get_r(env, argv[0]); if (!r) return NULL;
  int fd = arg_i32(env, argv[1]);
  wr_fd *f;
  if (wr_fd_may_close(r, fd, &f) == 0) wr_close_fd(r, fd, f, 0);
  return NULL;
}

/* peerName(h, fd) → [host, port] or undefined */
static napi_value n_peer_name(napi_env env, napi_callback_info info) {
  size_t argc = 2; napi_value argv[2];
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  wr_reactor *r = get_r(env, argv[0]); if (!r) return NULL;
  struct sockaddr_storage ss; socklen_t len = sizeof ss;
  napi_value out; napi_get_undefined(env, &out);
  int fd = arg_i32(env, argv[1]);
  wr_fd *f = wr_fd_get(r, fd);
  if (!f || f->kind == WR_KIND_NONE) return out; /* only a descriptor this shim owns */
  if (getpeername(fd, (struct sockaddr *)&ss, &len) < 0) return out;
  char buf[INET6_ADDRSTRLEN] = { 0 };
  int port;
  if (ss.ss_family == AF_INET) { inet_ntop(AF_INET, &((struct sockaddr_in *)&ss)->sin_addr, buf, sizeof buf); port = ntohs(((struct sockaddr_in *)&ss)->sin_port); }
  else { inet_ntop(AF_INET6, &((struct sockaddr_in6 *)&ss)->sin6_addr, buf, sizeof buf); port = ntohs(((struct sockaddr_in6 *)&ss)->sin6_port); }
  napi_value a, b;
  napi_create_string_utf8(env, buf, NAPI_AUTO_LENGTH, &a); napi_create_int32(env, port, &b);
  return pair(env, a, b);
}

/* sampleQueues(h, maxSockets): asks the sampler thread for a sweep of the kernel send/receive
 * queue depths of up to maxSockets connections (round robin over sweeps); returns at once.
 * stats() reports the last finished sweep (queues.c). Never per event. */
static napi_value n_sample_queues(napi_env env, napi_callback_info info) {
  size_t argc = 2; napi_value argv[2];
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  wr_reactor *r = get_r(env, argv[0]); if (!r) return NULL;
  r->stats[S_CALLS]--; /* observing is not a turn's crossing */
  if (!r->mem) return NULL;
  int e = wr__queues_request(r, arg_i32(env, argv[1]));
  if (e) return throw_errno(env, "sampleQueues", e);
  return NULL;
}

/* violation(h) → the first contract violation's text, or undefined while there was none */
static napi_value n_violation(napi_env env, napi_callback_info info) {
  size_t argc = 1; napi_value argv[1];
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  wr_reactor *r = get_r(env, argv[0]); if (!r) return NULL;
  r->stats[S_CALLS]--; /* observing is not a turn's crossing */
  napi_value out;
  if (r->violation[0]) napi_create_string_utf8(env, r->violation, NAPI_AUTO_LENGTH, &out);
  else napi_get_undefined(env, &out);
  return out;
}

#ifdef WR_FAULTS
/* setFaults(h, Float64Array [seed, probability per kind in WR_FK_* order]): faults build only */
static napi_value n_set_faults(napi_env env, napi_callback_info info) {
  size_t argc = 2; napi_value argv[2];
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  wr_reactor *r = get_r(env, argv[0]); if (!r) return NULL;
  r->stats[S_CALLS]--; /* setup, not a turn's crossing */
  size_t len;
  const double *cfg = arg_typed(env, argv[1], napi_float64_array, &len, "wasm-reactor native shim: setFaults needs a Float64Array");
  if (!cfg) return NULL;
  wr__faults_set(r, cfg, len);
  return NULL;
}
#endif

/* stats(h, Float64Array) */
static napi_value n_stats(napi_env env, napi_callback_info info) {
  size_t argc = 2; napi_value argv[2];
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  wr_reactor *r = get_r(env, argv[0]); if (!r) return NULL;
  size_t len;
  void *data = arg_typed(env, argv[1], napi_float64_array, &len, "wasm-reactor native shim: stats needs a Float64Array");
  if (!data) return NULL;
  r->stats[S_CALLS]--; /* observing is not a turn's crossing */
  wr__stats_copy(r, data, len);
  return NULL;
}

/* setSockopts(h, Float64Array [keepAlive, idleS, intervalS, count, userTimeoutMs]): for every
 * socket accepted or connected from now on (sockopts.c) */
static napi_value n_set_sockopts(napi_env env, napi_callback_info info) {
  size_t argc = 2; napi_value argv[2];
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  wr_reactor *r = get_r(env, argv[0]); if (!r) return NULL;
  r->stats[S_CALLS]--; /* setup, not a turn's crossing */
  size_t len;
  const double *o = arg_typed(env, argv[1], napi_float64_array, &len, "wasm-reactor native shim: setSockopts needs a Float64Array");
  if (!o) return NULL;
  if (len < 5) { napi_throw_error(env, "ERR_NATIVE", "wasm-reactor native shim: setSockopts needs 5 numbers"); return NULL; }
  r->keepAlive = o[0] > 0; r->keepIdleS = (int)o[1]; r->keepIntvlS = (int)o[2]; r->keepCnt = (int)o[3]; r->userTimeoutMs = (int)o[4];
  return NULL;
}

/* A JS array of n numbers (the small fixed-shape answers: sockopts, support, raised limit). */
static napi_value doubles_out(napi_env env, const double *v, uint32_t n) {
  napi_value out; napi_create_array_with_length(env, n, &out);
  for (uint32_t i = 0; i < n; i++) { napi_value x; napi_create_double(env, v[i], &x); napi_set_element(env, out, i, x); }
  return out;
}

/* sockopts(h, fd) → what getsockopt says for a descriptor this reactor owns (sockopts.c:
 * wr__sockopts_read), or undefined */
static napi_value n_sockopts(napi_env env, napi_callback_info info) {
  size_t argc = 2; napi_value argv[2];
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  wr_reactor *r = get_r(env, argv[0]); if (!r) return NULL;
  r->stats[S_CALLS]--; /* observing is not a turn's crossing */
  napi_value out; napi_get_undefined(env, &out);
  int fd = arg_i32(env, argv[1]);
  wr_fd *f = wr_fd_get(r, fd);
  if (!f || f->kind == WR_KIND_NONE) return out; /* only a descriptor this shim owns */
  double v[9];
  wr__sockopts_read(fd, v);
  return doubles_out(env, v, 9);
}

/* sockoptSupport() → [SO_KEEPALIVE, keepalive idle, interval+count, TCP_USER_TIMEOUT, buffers, TCP_DEFER_ACCEPT] as 0|1 */
static napi_value n_sockopt_support(napi_env env, napi_callback_info info) {
  (void)info;
  double v[6];
  wr__sockopts_support(v);
  return doubles_out(env, v, 6);
}

/* raiseFdLimit() → [soft before, soft after, hard, errno]: RLIMIT_NOFILE soft → hard (sockopts.c) */
static napi_value n_raise_fd_limit(napi_env env, napi_callback_info info) {
  (void)info;
  double v[4];
  wr__raise_nofile(v);
  return doubles_out(env, v, 4);
}

/* limits() → [soft, hard] RLIMIT_NOFILE */
static napi_value n_limits(napi_env env, napi_callback_info info) {
  (void)info;
  struct rlimit rl;
  getrlimit(RLIMIT_NOFILE, &rl);
  napi_value a, b;
  napi_create_double(env, rl.rlim_cur == RLIM_INFINITY ? 1e9 : (double)rl.rlim_cur, &a);
  napi_create_double(env, rl.rlim_max == RLIM_INFINITY ? 1e9 : (double)rl.rlim_max, &b);
  return pair(env, a, b);
}

/* sysctl(name) → the integer value of a sysctl (macOS, *BSD: kern.maxfiles, kern.ipc.somaxconn),
 * or undefined (no such name, not an integer, or not a system with sysctlbyname) */
static napi_value n_sysctl(napi_env env, napi_callback_info info) {
  size_t argc = 1; napi_value argv[1];
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  napi_value out; napi_get_undefined(env, &out);
#ifdef WR_HAVE_SYSCTLBYNAME
  char name[128] = { 0 };
  size_t n = 0;
  if (argc < 1 || napi_get_value_string_utf8(env, argv[0], name, sizeof name, &n) != napi_ok) return out;
  union { int32_t i32; int64_t i64; } v;
  size_t len = sizeof v;
  memset(&v, 0, sizeof v);
  if (sysctlbyname(name, &v, &len, NULL, 0) != 0) return out;
  if (len == 4) napi_create_double(env, (double)v.i32, &out);
  else if (len == 8) napi_create_double(env, (double)v.i64, &out);
#endif
  return out;
}

/*
 * destroy(h) → descriptors that were still open (closed now: a leak the caller reports).
 * Safe while the poller thread waits: it is stopped and joined first (the backend's wake ends
 * its wait), its thread-safe function is aborted (a callback still queued then runs with no
 * env and calls nothing), and the wake slot is released before the backend is destroyed.
 */
static napi_value n_destroy(napi_env env, napi_callback_info info) {
  size_t argc = 1; napi_value argv[1];
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  wr_reactor *r = get_r(env, argv[0]); if (!r) return NULL;
  int leaked = 0;
  wr__poller_stop(r);
  wr__queues_stop(r); /* before any descriptor closes: it may be asking about one */
  wr__wake_unregister(r);
  /* no forget: destroying the kernel queue next drops every registration at once */
  for (int fd = 0; fd < r->fdCap; fd++) if (r->fds[fd].kind != WR_KIND_NONE) { close(fd); leaked++; }
  r->ops->destroy(r);
  if (r->reservefd >= 0) close(r->reservefd);
  wr__fd_table_free(r);
  free(r->ov); free(r->pc); free(r->chunkMark);
  r->ov = NULL; r->pc = NULL; r->chunkMark = NULL;
  pthread_mutex_destroy(&r->mu); pthread_cond_destroy(&r->cv);
  r->destroyed = 1;
  napi_value out; napi_create_int32(env, leaked, &out); return out;
}

NAPI_MODULE_INIT() {
  napi_property_descriptor props[] = {
    { "create", NULL, n_create, NULL, NULL, NULL, napi_enumerable, NULL },
    { "attach", NULL, n_attach, NULL, NULL, NULL, napi_enumerable, NULL },
    { "listen", NULL, n_listen, NULL, NULL, NULL, napi_enumerable, NULL },
    { "prepareConnect", NULL, n_prepare_connect, NULL, NULL, NULL, napi_enumerable, NULL },
    { "turn", NULL, n_turn, NULL, NULL, NULL, napi_enumerable, NULL },
    { "waitAsync", NULL, n_wait_async, NULL, NULL, NULL, napi_enumerable, NULL },
    { "unref", NULL, n_unref, NULL, NULL, NULL, napi_enumerable, NULL },
    { "wakeHandle", NULL, n_wake_handle, NULL, NULL, NULL, napi_enumerable, NULL },
    { "wake", NULL, n_wake, NULL, NULL, NULL, napi_enumerable, NULL },
    { "closeFd", NULL, n_close_fd, NULL, NULL, NULL, napi_enumerable, NULL },
    { "peerName", NULL, n_peer_name, NULL, NULL, NULL, napi_enumerable, NULL },
    { "sampleQueues", NULL, n_sample_queues, NULL, NULL, NULL, napi_enumerable, NULL },
    { "violation", NULL, n_violation, NULL, NULL, NULL, napi_enumerable, NULL },
    { "stats", NULL, n_stats, NULL, NULL, NULL, napi_enumerable, NULL },
    { "limits", NULL, n_limits, NULL, NULL, NULL, napi_enumerable, NULL },
    { "raiseFdLimit", NULL, n_raise_fd_limit, NULL, NULL, NULL, napi_enumerable, NULL },
    { "setSockopts", NULL, n_set_sockopts, NULL, NULL, NULL, napi_enumerable, NULL },
    { "sockopts", NULL, n_sockopts, NULL, NULL, NULL, napi_enumerable, NULL },
    { "sockoptSupport", NULL, n_sockopt_support, NULL, NULL, NULL, napi_enumerable, NULL },
    { "sysctl", NULL, n_sysctl, NULL, NULL, NULL, napi_enumerable, NULL },
    { "destroy", NULL, n_destroy, NULL, NULL, NULL, napi_enumerable, NULL },
  };
  napi_define_properties(env, exports, sizeof props / sizeof props[0], props);
  { extern void wr__affinity_export(napi_env, napi_value); wr__affinity_export(env, exports); } /* getAffinity, setAffinity: affinity.c */
#ifdef WR_FAULTS
  napi_property_descriptor faults = { "setFaults", NULL, n_set_faults, NULL, NULL, NULL, napi_enumerable, NULL };
  napi_define_properties(env, exports, 1, &faults);
#endif
  return exports;
}
