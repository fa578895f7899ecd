/* test_threads.h - what the multi-thread suites share (test_threads.c,
 * test_thread_exit.c): the iteration scale of a build (full, /4 under the
 * sanitizers, /30 under valgrind) and the failure count that worker threads
 * fill in, since only the main thread may call Criterion's asserts. Each
 * suite's file has its own count. */
#ifndef OH_TEST_THREADS_H
#define OH_TEST_THREADS_H

#include "test_util.h"

#include <stdarg.h>
#include <stdio.h>

#if defined(__SANITIZE_THREAD__) || defined(__SANITIZE_ADDRESS__)
#define T_SANITIZED 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer) || __has_feature(address_sanitizer)
#define T_SANITIZED 1
#endif
#endif
#ifndef T_SANITIZED
#define T_SANITIZED 0
#endif

/* iterations: full in the plain build, /4 under sanitizers, /30 under valgrind */
static inline size_t iters(size_t n) {
  if (t_small()) return n / 30 ? n / 30 : 1;
  return T_SANITIZED ? n / 4 : n;
}

/* Failures seen by worker threads; checked by the main thread. */
typedef struct fails_s {
  pthread_mutex_t mu;
  int count;
  char first[256];
} fails_t;
static fails_t fails = {.mu = PTHREAD_MUTEX_INITIALIZER};
static inline void fail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static inline void fail(const char *fmt, ...) {
  pthread_mutex_lock(&fails.mu);
  if (fails.count++ == 0) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(fails.first, sizeof fails.first, fmt, ap);
    va_end(ap);
  }
  pthread_mutex_unlock(&fails.mu);
}
#define EXPECT_NO_WORKER_FAILURES()                                                        \
  cr_expect_eq(fails.count, 0, "%d failures in worker threads; first: %s", fails.count,   \
               fails.first)

#endif
