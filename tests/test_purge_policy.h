/* test_purge_policy.h - what the purge-policy suites share
 * (test_purge_policy.c, test_purge_policy_reuse.c): the delays and bounds
 * they run with, a monotonic clock, the statistics and RSS level they poll,
 * option save/restore, and bursts of allocations. */
#ifndef OH_TEST_PURGE_POLICY_H
#define OH_TEST_PURGE_POLICY_H

#include "test_util.h"

#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#define DELAY_MS 100   /* the short delay most tests run with */
#define SLACK_MS 500   /* added to every 2 x delay bound */
#define RSS_NEAR (8 * MiB) /* "within a few MiB": retained margin 4 MiB + thread cache 1 MiB + metadata */

/* ---- helpers ----------------------------------------------------------------- */

static inline uint64_t now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static inline void sleep_ms(unsigned ms) {
  struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
  while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
  }
}

/* The bound for "within 2x the delay": 2 x delay + slack, 10x that when the
 * build is instrumented (OH_TEST_NO_RSS). */
static inline uint64_t bound_ms(long long delay) {
  uint64_t b = 2 * (uint64_t)delay + SLACK_MS;
  return t_no_rss() ? 10 * b : b;
}

static inline oh_stats_t global_stats(void) {
  oh_stats_t st;
  memset(&st, 0, sizeof st);
  cr_assert_eq(oh_stats(&st), 0);
  return st;
}

static inline oh_stats_t slab_stats(oh_slab_t *s) {
  oh_stats_t st;
  memset(&st, 0, sizeof st);
  cr_assert_eq(oh_slab_stats(s, &st), 0);
  return st;
}

static inline uint64_t cached_chunks(oh_slab_t *s) {
  oh_stats_t st = slab_stats(s);
  uint64_t n = 0;
  for (unsigned c = 0; c < st.class_count; c++) n += st.classes[c].chunks_cached;
  return n;
}

/* Resident and committed bytes "near" a start: RSS within RSS_NEAR of
 * rss0 (skipped under OH_TEST_NO_RSS) and the library's committed bytes
 * within RSS_NEAR of committed0. */
typedef struct level_s {
  size_t rss;
  uint64_t committed;
} level_t;

static inline level_t level_now(void) {
  level_t l = {t_no_rss() ? 0 : t_rss(), global_stats().committed_bytes};
  return l;
}

static inline int level_near(level_t start, level_t now) {
  if (now.committed > start.committed + RSS_NEAR) return 0;
  return t_no_rss() || now.rss <= start.rss + RSS_NEAR;
}

/* Polls every 5 ms until the levels are near start, for at most limit ms.
 * Returns the ms it took, or -1 (and the last reading in *last). */
static inline long wait_level_near(level_t start, uint64_t limit, level_t *last) {
  uint64_t t0 = now_ms();
  for (;;) {
    level_t l = level_now();
    if (last) *last = l;
    uint64_t el = now_ms() - t0;
    if (level_near(start, l)) return (long)el;
    if (el > limit) return -1;
    sleep_ms(5);
  }
}

/* Expect the levels to be up by about total (RSS by 90 %: the policy must not
 * have released the burst). */
static inline void expect_level_up(level_t start, size_t total, const char *what) {
  level_t l = level_now();
  cr_expect(l.committed >= start.committed + total - total / 10,
            "%s: committed %llu MiB, started at %llu MiB: the freed %zu MiB were decommitted already", what,
            (unsigned long long)(l.committed / MiB), (unsigned long long)(start.committed / MiB), total / MiB);
  if (!t_no_rss())
    cr_expect(l.rss >= start.rss + total - total / 10,
              "%s: RSS %zu MiB, started at %zu MiB: the freed %zu MiB are no longer resident", what, l.rss / MiB,
              start.rss / MiB, total / MiB);
}

static inline void expect_level_near_within(level_t start, uint64_t limit, const char *what) {
  level_t last;
  long took = wait_level_near(start, limit, &last);
  cr_expect(took >= 0,
            "%s: not back within %llu ms: RSS %zu MiB (start %zu MiB), committed %llu MiB (start %llu MiB), "
            "slack %zu MiB",
            what, (unsigned long long)limit, last.rss / MiB, start.rss / MiB,
            (unsigned long long)(last.committed / MiB), (unsigned long long)(start.committed / MiB),
            RSS_NEAR / MiB);
  if (took >= 0)
    cr_log_info("%s: back within %zu MiB of the start %ld ms after (bound %llu ms)", what, RSS_NEAR / MiB, took,
                (unsigned long long)limit);
}

/* Settings shared by the tests: MADV_DONTNEED (RSS drops at once) and a
 * purge delay; restored by opts_end. */
typedef struct opts_s {
  t_opt_save_t advice, delay;
} opts_t;
static inline opts_t opts_begin(long long delay_ms) {
  opts_t o;
  o.advice = t_opt_set(OH_OPT_DECOMMIT_ADVICE, 0);
  o.delay = t_opt_set(OH_OPT_PURGE_DELAY_MS, delay_ms);
  return o;
}
static inline void opts_end(opts_t o) {
  t_opt_restore(o.delay);
  t_opt_restore(o.advice);
}

/* A burst: n chunks of size bytes from s (NULL = oh_alloc), every page
 * written. */
typedef struct burst_s {
  oh_slab_t *s;
  void **p;
  size_t n, size;
} burst_t;

static inline burst_t burst_alloc(oh_slab_t *s, size_t total, size_t size) {
  burst_t b = {s, NULL, total / size, size};
  b.p = calloc(b.n, sizeof *b.p);
  cr_assert(b.p != NULL);
  for (size_t i = 0; i < b.n; i++) {
    b.p[i] = s ? oh_slab_alloc(s, size) : oh_alloc(size);
    cr_assert(b.p[i] != NULL, "allocation %zu of %zu x %zu bytes failed: %s", i, b.n, size, t_errname(errno));
    t_touch(b.p[i], size);
  }
  return b;
}

static inline void burst_free(burst_t *b) {
  for (size_t i = 0; i < b->n; i++) {
    if (b->s) cr_assert_eq(oh_slab_decref(b->s, b->p[i]), 1);
    else cr_assert_eq(oh_free(b->p[i]), 0);
  }
  free(b->p);
  b->p = NULL;
}

/* The process-wide allocator initialised and nothing free left committed:
 * the level a burst must come back to. */
static inline level_t quiet_start(void) {
  oh_free(oh_alloc(16 * KiB));
  oh_purge();
  return level_now();
}

#endif
