/* test_rss.c - resident memory returns to the OS: after freeing and purging,
 * after destroying an instance or a pool, after an arena reset, and after
 * threads that allocated (or freed other threads' memory) exit.
 *
 * RSS is read from /proc/self/statm. Under OH_TEST_NO_RSS (sanitizers,
 * valgrind) every test still runs its allocation logic and its functional
 * checks; only the RSS comparisons are skipped (and logged). */
#include "test_util.h"

#include <stdlib.h>

#define RSS_SLACK (8 * MiB)

static void expect_rss_near(size_t start, size_t now, const char *what) {
  if (t_no_rss()) {
    cr_log_info("%s: OH_TEST_NO_RSS set, RSS comparison skipped", what);
    return;
  }
  cr_expect(now <= start + RSS_SLACK, "%s: RSS %zu MiB, started at %zu MiB (slack %zu MiB)", what,
            now / MiB, start / MiB, RSS_SLACK / MiB);
}
static void expect_rss_grew(size_t start, size_t now, size_t by, const char *what) {
  if (t_no_rss()) return;
  cr_expect(now >= start + by - by / 10, "%s: RSS grew by %zu MiB only, touched %zu MiB", what,
            (now > start ? now - start : 0) / MiB, by / MiB);
}

/* Settings for immediate, measurable behaviour; restored by rss_end. */
typedef struct rss_opts_s {
  t_opt_save_t advice, delay;
} rss_opts_t;
static rss_opts_t rss_begin(long long delay_ms) {
  rss_opts_t o;
  o.advice = t_opt_set(OH_OPT_DECOMMIT_ADVICE, 0); /* MADV_DONTNEED: RSS drops at once */
  o.delay = t_opt_set(OH_OPT_PURGE_DELAY_MS, delay_ms);
  return o;
}
static void rss_end(rss_opts_t o) {
  t_opt_restore(o.delay);
  t_opt_restore(o.advice);
}

static void alloc_touch_free_16k(size_t total, int purge, const char *what) {
  size_t n = total / (16 * KiB);
  void **p = calloc(n, sizeof *p);
  oh_free(oh_alloc(16 * KiB)); /* initialise the allocator before measuring */
  oh_purge();
  size_t start = t_rss();
  for (size_t i = 0; i < n; i++) {
    p[i] = oh_alloc(16 * KiB);
    cr_assert(p[i] != NULL, "%s: oh_alloc #%zu failed: %s", what, i, t_errname(errno));
    t_touch(p[i], 16 * KiB);
  }
  expect_rss_grew(start, t_rss(), total, what);
  for (size_t i = 0; i < n; i++) cr_assert_eq(oh_free(p[i]), 0);
  oh_thread_flush();
  if (purge) {
    size_t purged = oh_purge();
    cr_expect(purged >= total / 2, "%s: oh_purge() decommitted %zu MiB of %zu MiB freed", what,
              purged / MiB, total / MiB);
  }
  expect_rss_near(start, t_rss(), what);
  oh_stats_t st;
  cr_assert_eq(oh_stats(&st), 0);
  cr_expect(st.committed_bytes < total / 4 + RSS_SLACK,
            "%s: %llu MiB still counted committed", what,
            (unsigned long long)(st.committed_bytes / MiB));
  free(p);
}

Test(rss, alloc_256mib_in_16k_chunks_free_purge_returns_rss) {
  rss_opts_t o = rss_begin(-1); /* nothing until oh_purge */
  alloc_touch_free_16k(t_small() ? 16 * MiB : 256 * MiB, 1, "256 MiB / 16 KiB, oh_purge");
  rss_end(o);
}

Test(rss, purge_delay_zero_returns_rss_without_purge) {
  rss_opts_t o = rss_begin(0);
  t_opt_save_t retain = t_opt_set(OH_OPT_RETAIN_BYTES, 0);
  alloc_touch_free_16k(t_small() ? 16 * MiB : 128 * MiB, 0, "128 MiB / 16 KiB, delay 0");
  t_opt_restore(retain);
  rss_end(o);
}

Test(rss, mixed_sizes_and_page_served_allocations) {
  rss_opts_t o = rss_begin(-1);
  oh_free(oh_alloc(100));
  oh_purge();
  size_t start = t_rss();
  size_t total = t_small() ? 24 * MiB : 192 * MiB, got = 0, n = 0, cap = 200000;
  void **p = calloc(cap, sizeof *p);
  uint64_t rng = 5;
  while (got < total && n < cap) {
    size_t r = t_rand(&rng) % 100, size;
    if (r < 60)
      size = 16 + t_rand(&rng) % 2000;
    else if (r < 95)
      size = 2000 + t_rand(&rng) % (200 * KiB);
    else
      size = MiB + t_rand(&rng) % (4 * MiB);
    p[n] = oh_alloc(size);
    cr_assert(p[n] != NULL);
    t_touch(p[n], size);
    got += size;
    n++;
  }
  /* free in a different order than allocated: fragments every slab first */
  for (size_t i = 0; i < n; i += 2) cr_assert_eq(oh_free(p[i]), 0);
  for (size_t i = 1; i < n; i += 2) cr_assert_eq(oh_free(p[i]), 0);
  oh_thread_flush();
  oh_purge();
  expect_rss_near(start, t_rss(), "mixed sizes, oh_purge");
  free(p);
  rss_end(o);
}

Test(rss, destroying_an_instance_returns_rss) {
  rss_opts_t o = rss_begin(-1);
  size_t start = t_rss();
  oh_slab_t *s = oh_slab_new(NULL);
  cr_assert(s != NULL);
  size_t total = t_small() ? 16 * MiB : 128 * MiB;
  for (size_t got = 0; got < total; got += 48 * KiB) {
    void *p = oh_slab_alloc(s, 48 * KiB);
    cr_assert(p != NULL);
    t_touch(p, 48 * KiB);
  }
  void *big = oh_slab_alloc(s, 8 * MiB);
  cr_assert(big != NULL);
  t_touch(big, 8 * MiB);
  expect_rss_grew(start, t_rss(), total, "instance filled");
  cr_assert_eq(oh_slab_destroy(s), 0);
  expect_rss_near(start, t_rss(), "after oh_slab_destroy with live allocations");
  rss_end(o);
}

Test(rss, pool_put_purge_and_destroy_return_rss) {
  rss_opts_t o = rss_begin(-1);
  size_t start = t_rss();
  oh_pool_t *pool = oh_pool_new(4096, NULL);
  cr_assert(pool != NULL);
  size_t n = (t_small() ? 16 * MiB : 96 * MiB) / 4096;
  void **p = calloc(n, sizeof *p);
  for (size_t i = 0; i < n; i++) {
    p[i] = oh_pool_get(pool);
    cr_assert(p[i] != NULL);
    t_touch(p[i], 4096);
  }
  expect_rss_grew(start, t_rss(), n * 4096, "pool filled");
  for (size_t i = 0; i < n; i++) cr_assert_eq(oh_pool_put(pool, p[i]), 0);
  oh_thread_flush();
  oh_purge();
  expect_rss_near(start, t_rss(), "pool objects put back, oh_purge");
  /* and the pool still works afterwards */
  for (size_t i = 0; i < n; i++) {
    p[i] = oh_pool_get(pool);
    cr_assert(p[i] != NULL);
    t_touch(p[i], 4096);
  }
  cr_assert_eq(oh_pool_destroy(pool), 0);
  expect_rss_near(start, t_rss(), "pool destroyed with live objects");
  free(p);
  rss_end(o);
}

Test(rss, arena_reset_decommit_drops_and_keep_holds) {
  rss_opts_t o = rss_begin(-1);
  size_t start = t_rss();
  size_t total = t_small() ? 16 * MiB : 96 * MiB;
  oh_arena_t *a = oh_arena_new(MiB);
  cr_assert(a != NULL);
  for (int round = 0; round < 2; round++) {
    for (size_t got = 0; got < total; got += 10000) {
      void *p = oh_arena_alloc(a, 10000, 16);
      cr_assert(p != NULL);
      t_touch(p, 10000);
    }
    size_t full = t_rss();
    expect_rss_grew(start, full, total, "arena filled");
    if (round == 0) {
      oh_arena_reset(a, OH_ARENA_KEEP);
      if (!t_no_rss())
        cr_expect(t_rss() + MiB >= full, "OH_ARENA_KEEP reset dropped RSS from %zu to %zu MiB",
                  full / MiB, t_rss() / MiB);
    } else {
      oh_arena_reset(a, OH_ARENA_DECOMMIT);
      expect_rss_near(start, t_rss(), "after OH_ARENA_DECOMMIT reset");
    }
  }
  cr_assert_eq(oh_arena_destroy(a), 0);
  expect_rss_near(start, t_rss(), "arena destroyed");
  rss_end(o);
}

/* ---- threads ---------------------------------------------------------------------- */

typedef struct churn_s {
  size_t bytes;
  void **handoff; /* if set: allocate into it and return without freeing */
  size_t n;
  int failed;
} churn_t;

static void *churn_thread(void *arg) {
  churn_t *c = arg;
  size_t n = c->bytes / (16 * KiB);
  void **p = c->handoff ? c->handoff : malloc(n * sizeof *p);
  for (size_t i = 0; i < n; i++) {
    p[i] = oh_alloc(16 * KiB);
    if (!p[i]) {
      c->failed++;
      c->n = i;
      return NULL;
    }
    t_touch(p[i], 16 * KiB);
  }
  c->n = n;
  if (c->handoff) return NULL;
  for (size_t i = 0; i < n; i++) c->failed += oh_free(p[i]) != 0;
  free(p);
  return NULL;
}
static void *free_thread(void *arg) {
  churn_t *c = arg;
  for (size_t i = 0; i < c->n; i++) c->failed += oh_free(c->handoff[i]) != 0;
  return NULL;
}

Test(rss, exited_threads_leave_no_resident_memory) {
  rss_opts_t o = rss_begin(-1);
  oh_free(oh_alloc(16 * KiB));
  oh_purge();
  size_t start = t_rss();
  int rounds = t_small() ? 3 : 16;
  int failed = 0;
  for (int r = 0; r < rounds; r++) {
    churn_t c[2] = {{t_small() ? 4 * MiB : 16 * MiB, NULL, 0, 0},
                    {t_small() ? 4 * MiB : 16 * MiB, NULL, 0, 0}};
    pthread_t t[2];
    pthread_create(&t[0], NULL, churn_thread, &c[0]);
    pthread_create(&t[1], NULL, churn_thread, &c[1]);
    pthread_join(t[0], NULL);
    pthread_join(t[1], NULL);
    failed += c[0].failed + c[1].failed;
  }
  cr_expect_eq(failed, 0, "%d allocations or frees failed in threads", failed);
  oh_stats_t st;
  oh_thread_flush();
  cr_assert_eq(oh_slab_stats(oh_default_slab(), &st), 0);
  uint64_t cached = 0;
  for (unsigned c = 0; c < st.class_count; c++) cached += st.classes[c].chunks_cached;
  cr_expect_eq(cached, 0, "%llu chunks cached for exited threads", (unsigned long long)cached);
  oh_purge();
  expect_rss_near(start, t_rss(), "threads churned and exited, oh_purge");
  rss_end(o);
}

Test(rss, memory_freed_by_another_thread_is_returned) {
  rss_opts_t o = rss_begin(-1);
  oh_free(oh_alloc(16 * KiB));
  oh_purge();
  size_t start = t_rss();
  size_t bytes = t_small() ? 16 * MiB : 128 * MiB;
  churn_t c = {bytes, calloc(bytes / (16 * KiB), sizeof(void *)), 0, 0};
  pthread_t a, b;
  pthread_create(&a, NULL, churn_thread, &c);
  pthread_join(a, NULL); /* allocator thread exits holding nothing */
  cr_assert_eq(c.failed, 0);
  expect_rss_grew(start, t_rss(), bytes, "allocated by thread A");
  pthread_create(&b, NULL, free_thread, &c);
  pthread_join(b, NULL);
  cr_expect_eq(c.failed, 0, "%d frees by thread B failed", c.failed);
  oh_purge();
  expect_rss_near(start, t_rss(), "freed by thread B, both exited, oh_purge");
  free(c.handoff);
  rss_end(o);
}
