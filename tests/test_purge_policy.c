/* test_purge_policy.c - the time-based purge policy (purge.c): freed memory
 * stays committed for OFFHEAP_PURGE_DELAY_MS, then goes back to the OS
 * without anyone calling oh_purge; -1 = never, 0 = at once; a retained margin
 * (OFFHEAP_RETAIN_BYTES) absorbs steady churn; idle thread caches are drained;
 * decommitted slabs are reused by any size class; the delay may change at run
 * time. Steady churn, the retained margin and the reuse of decommitted slabs
 * are in test_purge_policy_reuse.c.
 *
 * The only timing assertions are the "within 2x the delay" bounds,
 * with slack for a busy 2-core machine: a condition is polled every few ms
 * for at most 2 x delay + SLACK_MS and the time it took is logged
 * (cr_log_info, shown with --verbose). Under OH_TEST_NO_RSS (sanitizers,
 * valgrind) RSS is meaningless and the machine is 10-50x slower: the tests
 * then poll the library's own counters (committed bytes, purges, cached
 * chunks) instead, with a bound 10x longer, and skip only the RSS asserts.
 */
#include "test_purge_policy.h"

/* ---- bursts: released within 2x the delay, never with -1, at once with 0 ---- */

Test(purge_policy, burst_is_released_within_twice_the_delay) {
  opts_t o = opts_begin(DELAY_MS);
  size_t total = t_small() ? 16 * MiB : 256 * MiB;
  level_t start = quiet_start();
  oh_stats_t g0 = global_stats();
  burst_t b = burst_alloc(NULL, total, 16 * KiB);
  uint64_t t_alloc = now_ms();
  burst_free(&b);
  cr_log_info("freeing %zu x 16 KiB took %llu ms", b.n, (unsigned long long)(now_ms() - t_alloc));
  /* nobody calls oh_purge or oh_thread_flush: the purger alone releases it */
  expect_level_near_within(start, bound_ms(DELAY_MS), "256 MiB of 16 KiB freed, delay 100 ms");
  oh_stats_t g1 = global_stats();
  uint64_t slabs = (g1.decommitted_bytes - g0.decommitted_bytes) / MiB;
  cr_expect(g1.purges > g0.purges, "the RSS fell but the purges counter did not move (%llu)",
            (unsigned long long)g1.purges);
  cr_expect(g1.decommitted_bytes - g0.decommitted_bytes + RSS_NEAR >= total,
            "decommitted_bytes grew by %llu MiB only after %zu MiB were freed",
            (unsigned long long)((g1.decommitted_bytes - g0.decommitted_bytes) / MiB), total / MiB);
  cr_log_info("purges +%llu, decommitted +%llu MiB", (unsigned long long)(g1.purges - g0.purges),
              (unsigned long long)slabs);
  opts_end(o);
}

Test(purge_policy, freed_memory_stays_committed_for_the_delay) {
  /* a delay far longer than the test: the burst must still be committed and
   * resident, no purge counted, until the delay drops */
  opts_t o = opts_begin(3600 * 1000);
  size_t total = t_small() ? 16 * MiB : 128 * MiB;
  level_t start = quiet_start();
  oh_stats_t g0 = global_stats();
  burst_t b = burst_alloc(NULL, total, 16 * KiB);
  burst_free(&b);
  sleep_ms(2 * DELAY_MS); /* what a 100 ms delay would have needed */
  expect_level_up(start, total, "delay 1 h, 200 ms after the free");
  oh_stats_t g1 = global_stats();
  cr_expect_eq(g1.purges, g0.purges, "delay 1 h: %llu purges within 200 ms of the free",
               (unsigned long long)(g1.purges - g0.purges));
  cr_expect(g1.slabs_empty * MiB + RSS_NEAR >= total, "delay 1 h: only %llu empty slabs kept for %zu MiB freed",
            (unsigned long long)g1.slabs_empty, total / MiB);
  opts_end(o);
}

Test(purge_policy, delay_never_holds_memory_until_oh_purge) {
  opts_t o = opts_begin(-1);
  size_t total = t_small() ? 16 * MiB : 128 * MiB;
  level_t start = quiet_start();
  oh_stats_t g0 = global_stats();
  burst_t b = burst_alloc(NULL, total, 16 * KiB);
  burst_free(&b);
  /* longer than the bound a 100 ms delay gets */
  sleep_ms((unsigned)(2 * DELAY_MS + SLACK_MS));
  expect_level_up(start, total, "delay -1, 700 ms after the free");
  oh_stats_t g1 = global_stats();
  cr_expect_eq(g1.purges, g0.purges, "delay -1 but the policy purged %llu times",
               (unsigned long long)(g1.purges - g0.purges));
  size_t got = oh_purge();
  cr_expect(got + RSS_NEAR >= total, "oh_purge() with delay -1 decommitted %zu MiB of %zu MiB freed", got / MiB,
            total / MiB);
  level_t l = level_now();
  cr_expect(level_near(start, l), "delay -1, after oh_purge: RSS %zu MiB (start %zu), committed %llu MiB (start %llu)",
            l.rss / MiB, start.rss / MiB, (unsigned long long)(l.committed / MiB),
            (unsigned long long)(start.committed / MiB));
  opts_end(o);
}

Test(purge_policy, delay_zero_releases_at_the_free) {
  /* the retained margin is left at its default: delay 0 means at once */
  opts_t o = opts_begin(0);
  size_t total = t_small() ? 16 * MiB : 128 * MiB;
  level_t start = quiet_start();
  oh_stats_t g0 = global_stats();
  burst_t b = burst_alloc(NULL, total, 16 * KiB);
  burst_free(&b);
  /* no wait, no flush, no oh_purge: the frees released the slabs themselves */
  level_t l = level_now();
  cr_expect(level_near(start, l),
            "delay 0, right after the frees: RSS %zu MiB (start %zu), committed %llu MiB (start %llu)", l.rss / MiB,
            start.rss / MiB, (unsigned long long)(l.committed / MiB), (unsigned long long)(start.committed / MiB));
  oh_stats_t g1 = global_stats();
  cr_expect(g1.purges - g0.purges + RSS_NEAR / MiB >= total / MiB,
            "delay 0: %llu purges for %zu one-MiB slabs freed", (unsigned long long)(g1.purges - g0.purges),
            total / MiB);
  cr_expect_eq(g1.slabs_empty, 0, "delay 0: %llu empty slabs kept committed", (unsigned long long)g1.slabs_empty);
  opts_end(o);
}

Test(purge_policy, pool_burst_is_released_within_twice_the_delay) {
  opts_t o = opts_begin(DELAY_MS);
  size_t total = t_small() ? 16 * MiB : 128 * MiB;
  level_t start = quiet_start();
  oh_pool_t *pool = oh_pool_new(16 * KiB, NULL);
  cr_assert(pool != NULL);
  size_t n = total / (16 * KiB);
  void **p = calloc(n, sizeof *p);
  for (size_t i = 0; i < n; i++) {
    p[i] = oh_pool_get(pool);
    cr_assert(p[i] != NULL);
    t_touch(p[i], 16 * KiB);
  }
  for (size_t i = 0; i < n; i++) cr_assert_eq(oh_pool_put(pool, p[i]), 0);
  free(p);
  expect_level_near_within(start, bound_ms(DELAY_MS), "pool of 16 KiB objects, 128 MiB put back, delay 100 ms");
  oh_stats_t ps;
  cr_assert_eq(oh_pool_stats(pool, &ps), 0);
  cr_expect(ps.purges > 0, "the pool's memory went back but its purges counter is 0");
  oh_pool_destroy(pool);
  opts_end(o);
}

Test(purge_policy, released_slabs_leave_no_resident_metadata) {
  /* a pool of 16 KiB objects grows by 128 KiB blocks: 1024 slabs, and as
   * many slab descriptors, for a 128 MiB burst. Once the pool is destroyed
   * nothing of it may stay resident, descriptors included. */
  opts_t o = opts_begin(DELAY_MS);
  size_t total = t_small() ? 16 * MiB : 128 * MiB;
  level_t start = quiet_start();
  oh_pool_t *pool = oh_pool_new(16 * KiB, NULL);
  cr_assert(pool != NULL);
  size_t n = total / (16 * KiB);
  void **p = calloc(n, sizeof *p);
  for (size_t i = 0; i < n; i++) {
    p[i] = oh_pool_get(pool);
    cr_assert(p[i] != NULL);
    t_touch(p[i], 16 * KiB);
  }
  for (size_t i = 0; i < n; i++) cr_assert_eq(oh_pool_put(pool, p[i]), 0);
  free(p);
  cr_assert_eq(oh_pool_destroy(pool), 0);
  oh_purge();
  level_t l = level_now();
  /* free descriptor cells stay committed for reuse: ~300 B per slab */
  cr_expect(l.committed <= start.committed + MiB, "committed %llu KiB above the start after destroy",
            (unsigned long long)((l.committed - start.committed) / KiB));
  cr_log_info("after a %zu MiB pool burst was destroyed: RSS %zu KiB, committed %llu KiB above the start", total / MiB,
              t_no_rss() ? 0 : (l.rss - start.rss) / KiB, (unsigned long long)((l.committed - start.committed) / KiB));
  if (!t_no_rss())
    cr_expect(l.rss <= start.rss + 2 * MiB,
              "%zu KiB still resident after a %zu MiB pool burst was destroyed and purged (%zu slabs; the library "
              "counts %llu KiB committed)",
              (l.rss - start.rss) / KiB, total / MiB, total / (128 * KiB),
              (unsigned long long)((l.committed - start.committed) / KiB));
  opts_end(o);
}

Test(purge_policy, freed_large_spans_are_unmapped_within_twice_the_delay) {
  opts_t o = opts_begin(DELAY_MS);
  level_t start = quiet_start();
  oh_stats_t g0 = global_stats();
  enum { N = 8 };
  size_t size = t_small() ? 2 * MiB : 8 * MiB; /* page-served: larger than a 1 MiB slab */
  void *p[N];
  for (int i = 0; i < N; i++) {
    p[i] = oh_alloc(size);
    cr_assert(p[i] != NULL);
    t_touch(p[i], size);
  }
  for (int i = 0; i < N; i++) cr_assert_eq(oh_free(p[i]), 0);
  expect_level_near_within(start, bound_ms(DELAY_MS), "8 large allocations freed, delay 100 ms");
  /* the level is near once all but one are gone: give the last its pass */
  oh_stats_t g1 = global_stats();
  for (uint64_t t0 = now_ms(); g1.purges < g0.purges + N && now_ms() - t0 < bound_ms(DELAY_MS);) {
    sleep_ms(10);
    g1 = global_stats();
  }
  cr_expect(g1.mapped_bytes <= g0.mapped_bytes + RSS_NEAR, "mapped %llu MiB -> %llu MiB: freed spans kept mapped",
            (unsigned long long)(g0.mapped_bytes / MiB), (unsigned long long)(g1.mapped_bytes / MiB));
  cr_expect(g1.purges >= g0.purges + N, "%llu purges for %d freed large spans",
            (unsigned long long)(g1.purges - g0.purges), N);
  opts_end(o);
}

/* ---- idle thread caches ------------------------------------------------------- */

typedef struct sleeper_s {
  oh_slab_t *s;
  t_stage_t stage; /* 1: cache filled (thread idle); 2: main says go on */
  int failures;
} sleeper_t;

static void *sleeper(void *arg) {
  sleeper_t *z = arg;
  void *p[64];
  size_t sizes[2] = {128, 16 * KiB};
  for (int k = 0; k < 2; k++) {
    for (int i = 0; i < 64; i++) {
      p[i] = oh_slab_alloc(z->s, sizes[k]);
      if (!p[i]) z->failures++;
      else t_fill(p[i], sizes[k], t_seed(70, (uint64_t)i));
    }
    for (int i = 0; i < 64; i++)
      if (p[i] && oh_slab_decref(z->s, p[i]) != 1) z->failures++;
  }
  t_stage_set(&z->stage, 1);
  t_stage_wait(&z->stage, 2); /* idle: no offheap call until the main thread says so */
  for (int i = 0; i < 64; i++) { /* the drained cache still works */
    p[i] = oh_slab_alloc(z->s, 128);
    if (!p[i]) {
      z->failures++;
      continue;
    }
    t_fill(p[i], 128, t_seed(71, (uint64_t)i));
  }
  for (int i = 0; i < 64; i++) {
    if (!p[i]) continue;
    if (t_check(p[i], 128, t_seed(71, (uint64_t)i)) != SIZE_MAX) z->failures++;
    if (oh_slab_decref(z->s, p[i]) != 1) z->failures++;
  }
  return NULL;
}

Test(purge_policy, idle_thread_caches_are_drained_within_twice_the_delay) {
  opts_t o = opts_begin(DELAY_MS);
  t_opt_save_t retain = t_opt_set(OH_OPT_RETAIN_BYTES, 0);
  oh_slab_t *s = oh_slab_new(NULL);
  cr_assert(s != NULL);
  sleeper_t z = {s, T_STAGE_INIT, 0};
  pthread_t t;
  cr_assert_eq(pthread_create(&t, NULL, sleeper, &z), 0);
  t_stage_wait(&z.stage, 1);
  uint64_t t0 = now_ms();
  uint64_t before = cached_chunks(s);
  cr_expect(before > 0, "the thread cached nothing: nothing to drain");
  uint64_t limit = bound_ms(DELAY_MS), cached = before;
  while (cached > 0 && now_ms() - t0 <= limit) {
    sleep_ms(5);
    cached = cached_chunks(s);
  }
  uint64_t drained_ms = now_ms() - t0;
  cr_expect_eq(cached, 0, "%llu of %llu chunks still cached by a thread idle for %llu ms (delay %d ms)",
               (unsigned long long)cached, (unsigned long long)before, (unsigned long long)drained_ms, DELAY_MS);
  cr_log_info("idle thread cache: %llu chunks drained %llu ms after the thread went idle", (unsigned long long)before,
              (unsigned long long)drained_ms);
  /* drained chunks emptied their slabs: with no margin the policy releases
   * them one delay later */
  oh_stats_t st = slab_stats(s);
  while (st.mapped_bytes > 0 && now_ms() - t0 <= limit + bound_ms(DELAY_MS)) {
    sleep_ms(5);
    st = slab_stats(s);
  }
  cr_expect_eq(st.mapped_bytes, 0, "the idle thread's slabs (%llu KiB) were not released %llu ms after it went idle",
               (unsigned long long)(st.mapped_bytes / KiB), (unsigned long long)(now_ms() - t0));
  cr_expect_eq(st.in_use_bytes, 0);
  t_stage_set(&z.stage, 2);
  pthread_join(t, NULL);
  cr_expect_eq(z.failures, 0, "%d failures in the thread whose cache was drained", z.failures);
  oh_slab_destroy(s);
  t_opt_restore(retain);
  opts_end(o);
}

/* ---- the delay changes at run time --------------------------------------------- */

Test(purge_policy, shortening_the_delay_at_run_time_releases_waiting_memory) {
  opts_t o = opts_begin(3600 * 1000);
  size_t total = t_small() ? 16 * MiB : 128 * MiB;
  level_t start = quiet_start();
  burst_t b = burst_alloc(NULL, total, 16 * KiB);
  burst_free(&b);
  sleep_ms(DELAY_MS);
  expect_level_up(start, total, "delay 1 h, 100 ms after the free");
  /* from 1 h to 100 ms: the slabs empty for 100 ms already are due now */
  cr_assert_eq(oh_option_set(OH_OPT_PURGE_DELAY_MS, DELAY_MS), 0);
  expect_level_near_within(start, bound_ms(DELAY_MS), "delay set from 1 h to 100 ms after the free");
  /* from 100 ms to 0: the next burst goes back at the free */
  b = burst_alloc(NULL, total, 16 * KiB);
  cr_assert_eq(oh_option_set(OH_OPT_PURGE_DELAY_MS, 0), 0);
  burst_free(&b);
  level_t l = level_now();
  cr_expect(level_near(start, l), "delay set to 0 before the free: RSS %zu MiB (start %zu), committed %llu MiB",
            l.rss / MiB, start.rss / MiB, (unsigned long long)(l.committed / MiB));
  opts_end(o);
}

Test(purge_policy, never_then_zero_at_run_time) {
  opts_t o = opts_begin(-1);
  size_t total = t_small() ? 16 * MiB : 128 * MiB;
  level_t start = quiet_start();
  burst_t b = burst_alloc(NULL, total, 16 * KiB);
  burst_free(&b);
  sleep_ms(DELAY_MS);
  expect_level_up(start, total, "delay -1, 100 ms after the free");
  cr_assert_eq(oh_option_set(OH_OPT_PURGE_DELAY_MS, 0), 0);
  /* the change wakes the purger; with delay 0 everything waiting is due */
  expect_level_near_within(start, bound_ms(0), "delay set from -1 to 0 after the free");
  opts_end(o);
}

Test(purge_policy, lengthening_the_delay_to_never_keeps_waiting_memory) {
  const long long delay = 300;
  opts_t o = opts_begin(delay);
  size_t total = t_small() ? 16 * MiB : 128 * MiB;
  level_t start = quiet_start();
  oh_stats_t g0 = global_stats();
  burst_t b = burst_alloc(NULL, total, 16 * KiB);
  burst_free(&b);
  /* well before the 300 ms are up */
  cr_assert_eq(oh_option_set(OH_OPT_PURGE_DELAY_MS, -1), 0);
  sleep_ms((unsigned)(2 * delay + 100));
  expect_level_up(start, total, "delay 300 ms changed to -1 right after the free, 700 ms later");
  oh_stats_t g1 = global_stats();
  cr_expect_eq(g1.purges, g0.purges, "the delay was -1 before it passed, yet %llu purges",
               (unsigned long long)(g1.purges - g0.purges));
  opts_end(o);
}
