/*
 * CPU pinning for startWorkers({ cpus }): two exports on the shim, both about the CALLING thread
 * (a worker calls setAffinity on itself before it creates its reactor, so nothing has to name
 * another thread):
 *
 *   getAffinity()      → { tid, cpus } : this thread's kernel id and the CPUs it may run on
 *                        (sorted), or null where the OS has no hard affinity (macOS).
 *   setAffinity(cpus)  → { tid, cpus } : pins this thread to exactly `cpus`, then reads the set
 *                        back (what the kernel accepted, not what was asked); null on macOS.
 *                        Throws (code ERR_NATIVE_ERRNO, errno) when the kernel refuses, e.g.
 *                        EINVAL when none of those CPUs is online or allowed to this process.
 *
 * Linux: pthread_setaffinity_np / pthread_getaffinity_np on pthread_self(); tid from gettid, as
 * /proc/self/task/<tid>/status shows it (Cpus_allowed_list). FreeBSD: cpuset_setaffinity with
 * CPU_WHICH_TID (-1: this thread); tid from thr_self. macOS: thread_policy_set's affinity tags
 * are only hints (and ignored on Apple silicon), so there is nothing to pin: null, and the
 * caller logs one line and goes on.
 *
 * Self-contained (no shim.h): registered by one call in napi.c's module init.
 */
#define _GNU_SOURCE
#include <node_api.h>

#include <errno.h>
#include <stdio.h>
#include <string.h>

#if defined(__linux__)
#include <pthread.h>
#include <sched.h>
#include <sys/syscall.h>
#include <unistd.h>
typedef cpu_set_t wr__cpuset;
#define WR_HAVE_AFFINITY 1
static double wr__tid(void) { return (double)syscall(SYS_gettid); }
static int wr__get(wr__cpuset *s) { return pthread_getaffinity_np(pthread_self(), sizeof *s, s); }
static int wr__set(const wr__cpuset *s) { return pthread_setaffinity_np(pthread_self(), sizeof *s, s); }
#elif defined(__FreeBSD__)
#include <pthread_np.h>
#include <sys/param.h>
#include <sys/cpuset.h>
#include <sys/thr.h>
typedef cpuset_t wr__cpuset;
#define WR_HAVE_AFFINITY 1
static double wr__tid(void) { long t = 0; thr_self(&t); return (double)t; }
static int wr__get(wr__cpuset *s) { return cpuset_getaffinity(CPU_LEVEL_WHICH, CPU_WHICH_TID, -1, sizeof *s, s) ? errno : 0; }
static int wr__set(const wr__cpuset *s) { return cpuset_setaffinity(CPU_LEVEL_WHICH, CPU_WHICH_TID, -1, sizeof *s, s) ? errno : 0; }
#else
#define WR_HAVE_AFFINITY 0
static napi_value wr__null(napi_env env) { napi_value v; napi_get_null(env, &v); return v; }
#endif

static napi_value wr__throw(napi_env env, const char *what, int err) {
  char msg[256];
  snprintf(msg, sizeof msg, "%s: %s", what, strerror(err));
  napi_value m, e, code, no;
  napi_create_string_utf8(env, msg, NAPI_AUTO_LENGTH, &m);
  napi_create_error(env, NULL, m, &e);
  napi_create_int32(env, err, &no);
  napi_set_named_property(env, e, "errno", no);
  napi_create_string_utf8(env, "ERR_NATIVE_ERRNO", NAPI_AUTO_LENGTH, &code);
  napi_set_named_property(env, e, "code", code);
  napi_throw(env, e);
  return NULL;
}

#if WR_HAVE_AFFINITY
/* { tid, cpus } for the calling thread's current set. */
static napi_value wr__report(napi_env env) {
  wr__cpuset s;
  CPU_ZERO(&s);
  int err = wr__get(&s);
  if (err) return wr__throw(env, "wasm-reactor native shim: reading this thread's CPU affinity failed", err);
  napi_value out, tid, cpus, v;
  napi_create_object(env, &out);
  napi_create_double(env, wr__tid(), &tid);
  napi_create_array(env, &cpus);
  uint32_t n = 0;
  for (int c = 0; c < CPU_SETSIZE; c++) {
    if (!CPU_ISSET(c, &s)) continue;
    napi_create_int32(env, c, &v);
    napi_set_element(env, cpus, n++, v);
  }
  napi_set_named_property(env, out, "tid", tid);
  napi_set_named_property(env, out, "cpus", cpus);
  return out;
}
#endif

static napi_value wr__get_affinity(napi_env env, napi_callback_info info) {
  (void)info;
#if WR_HAVE_AFFINITY
  return wr__report(env);
#else
  return wr__null(env);
#endif
}

static napi_value wr__set_affinity(napi_env env, napi_callback_info info) {
  size_t argc = 1; napi_value argv[1];
  bool is_array = false;
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc < 1 ||
      napi_is_array(env, argv[0], &is_array) != napi_ok || !is_array)
    return wr__throw(env, "wasm-reactor native shim: setAffinity needs an array of CPU numbers", EINVAL);
  uint32_t len = 0;
  napi_get_array_length(env, argv[0], &len);
  if (len == 0) return wr__throw(env, "wasm-reactor native shim: setAffinity needs at least one CPU", EINVAL);
#if WR_HAVE_AFFINITY
  wr__cpuset s;
  CPU_ZERO(&s);
  for (uint32_t i = 0; i < len; i++) {
    napi_value v; int32_t c = -1;
    if (napi_get_element(env, argv[0], i, &v) != napi_ok || napi_get_value_int32(env, v, &c) != napi_ok || c < 0 || c >= CPU_SETSIZE)
      return wr__throw(env, "wasm-reactor native shim: setAffinity: a CPU number is not an integer from 0 to CPU_SETSIZE-1", EINVAL);
    CPU_SET(c, &s);
  }
  int err = wr__set(&s);
  if (err) return wr__throw(env, "wasm-reactor native shim: pinning this thread failed", err);
  return wr__report(env);
#else
  return wr__null(env);
#endif
}

/* Called once from the module init in napi.c. */
void wr__affinity_export(napi_env env, napi_value exports) {
  napi_property_descriptor props[] = {
    { "getAffinity", NULL, wr__get_affinity, NULL, NULL, NULL, napi_enumerable, NULL },
    { "setAffinity", NULL, wr__set_affinity, NULL, NULL, NULL, napi_enumerable, NULL },
  };
  napi_define_properties(env, exports, sizeof props / sizeof props[0], props);
}
