/* test_large.c - allocations bigger than a slab (issue 18 item 3): threads
 * reuse the large spans they free without the heap's lock, the purge policy
 * unmaps cached spans after the delay even when their thread stays idle, an
 * exiting thread hands its spans back, destroy unmaps what the caches hold,
 * and a racing double free of a large span has exactly one winner.
 *
 * The lock is observed through the core's count of large_lock acquisitions
 * (ohi_large_lock_taken; every Criterion test runs in its own process).
 */
#include "test_util.h"

#include "internal.h" /* ohi_large_lock_taken (tests are built with -Ic/src) */

#define BIG (2 * MiB) /* the default slab is 1 MiB: 2 MiB is a large span */
#define BATCH 8

static uint64_t lock_taken(void) { return __atomic_load_n(&ohi_large_lock_taken, __ATOMIC_RELAXED); }

/* A batch of BATCH large spans, written, checked and freed. */
static void batch(oh_slab_t *h, unsigned tag, uint64_t round) {
  void *p[BATCH];
  for (int i = 0; i < BATCH; i++) {
    p[i] = oh_slab_alloc(h, BIG);
    cr_assert(p[i] != NULL, "large allocation %d failed", i);
    t_fill_sparse(p[i], BIG, t_seed(tag, round * BATCH + (uint64_t)i));
  }
  for (int i = 0; i < BATCH; i++) {
    cr_assert_eq(t_check_sparse(p[i], BIG, t_seed(tag, round * BATCH + (uint64_t)i)), SIZE_MAX,
                 "span %d of round %llu corrupted", i, (unsigned long long)round);
    cr_assert_eq(oh_slab_decref(h, p[i]), 1);
  }
}

typedef struct {
  oh_slab_t *h;
  pthread_barrier_t *go;
  unsigned tag;
  int rounds;
  uint64_t locks; /* lock acquisitions the process made during the rounds */
} worker_t;

static void *batch_worker(void *arg) {
  worker_t *w = arg;
  batch(w->h, w->tag, 0); /* warm-up: the spans are mapped once */
  pthread_barrier_wait(w->go);
  uint64_t before = lock_taken();
  pthread_barrier_wait(w->go);
  for (int r = 1; r <= w->rounds; r++) batch(w->h, w->tag, (uint64_t)r);
  pthread_barrier_wait(w->go);
  w->locks = lock_taken() - before;
  pthread_barrier_wait(w->go); /* read before either thread exits (an exit hands spans back) */
  return NULL;
}

Test(large, two_threads_batch_without_the_lock) {
  t_opt_save_t d = t_opt_set(OH_OPT_PURGE_DELAY_MS, 60000); /* nothing ages out meanwhile */
  oh_slab_t *h = oh_slab_new(NULL);
  cr_assert(h != NULL);
  pthread_barrier_t go;
  pthread_barrier_init(&go, NULL, 2);
  int rounds = (int)t_scaled(200, 20);
  worker_t w[2] = {{h, &go, 1, rounds, 0}, {h, &go, 2, rounds, 0}};
  pthread_t t[2];
  for (int i = 0; i < 2; i++) cr_assert_eq(pthread_create(&t[i], NULL, batch_worker, &w[i]), 0);
  for (int i = 0; i < 2; i++) pthread_join(t[i], NULL);
  pthread_barrier_destroy(&go);
  cr_assert_eq(w[0].locks, 0, "the heap's large lock was taken %llu times in %d rounds of %d spans per thread",
               (unsigned long long)w[0].locks, rounds, BATCH);
  oh_stats_t st = t_stats_now(h);
  uint64_t ops = 2 * (uint64_t)(rounds + 1) * BATCH;
  cr_assert_eq(st.large_in_use, 0);
  cr_assert_eq(st.in_use_bytes, 0);
  cr_assert_eq(st.allocs, ops, "allocs %llu, expected %llu", (unsigned long long)st.allocs, (unsigned long long)ops);
  cr_assert_eq(st.frees, ops);
  /* each thread mapped its batch once and reused it */
  cr_assert_eq(st.mapped_bytes, 2 * BATCH * BIG, "mapped %llu", (unsigned long long)st.mapped_bytes);
  cr_assert_eq(oh_slab_destroy(h), 0);
  t_opt_restore(d);
}

Test(large, stats_exact_while_live) {
  t_opt_save_t d = t_opt_set(OH_OPT_PURGE_DELAY_MS, 60000);
  oh_slab_t *h = oh_slab_new(NULL);
  void *a = oh_slab_alloc(h, BIG), *b = oh_slab_alloc(h, 3 * MiB);
  cr_assert(a != NULL && b != NULL);
  oh_stats_t st = t_stats_now(h);
  cr_assert_eq(st.large_in_use, 2);
  cr_assert_eq(st.in_use_bytes, BIG + 3 * MiB);
  cr_assert_eq(oh_slab_leaks(h, NULL, NULL), 2);
  cr_assert_eq(oh_slab_decref(h, a), 1);
  st = t_stats_now(h);
  cr_assert_eq(st.large_in_use, 1);
  cr_assert_eq(st.in_use_bytes, 3 * MiB);
  cr_assert_eq(st.mapped_bytes, BIG + 3 * MiB); /* a is cached, still mapped */
  cr_assert_eq(oh_slab_leaks(h, NULL, NULL), 1, "a cached free span is no leak");
  void *c = oh_slab_alloc(h, BIG);
  cr_assert_eq(c, a, "the thread's freed span is reused");
  cr_assert_eq(oh_slab_decref(h, b), 1);
  cr_assert_eq(oh_slab_decref(h, c), 1);
  cr_assert_eq(t_stats_now(h).large_in_use, 0);
  cr_assert_eq(oh_slab_destroy(h), 0);
  t_opt_restore(d);
}

/* Waits until h maps at most `limit` bytes (or 5 s); returns them. */
static uint64_t wait_mapped(oh_slab_t *h, uint64_t limit) {
  uint64_t m = t_stats_now(h).mapped_bytes, t0 = t_now_ms();
  while (m > limit && t_now_ms() - t0 < 5000) {
    t_sleep_ms(10);
    m = t_stats_now(h).mapped_bytes;
  }
  return m;
}

Test(large, idle_thread_cached_spans_unmapped_after_delay) {
  t_opt_save_t d = t_opt_set(OH_OPT_PURGE_DELAY_MS, 100);
  oh_slab_t *h = oh_slab_new(NULL);
  batch(h, 3, 0); /* this thread caches BATCH spans and then makes no call on h */
  cr_assert_eq(t_stats_now(h).mapped_bytes, BATCH * BIG);
  uint64_t purged0 = t_stats_now(h).purges;
  cr_assert_eq(wait_mapped(h, 0), 0, "an idle thread's cached spans stay mapped");
  cr_assert_geq(t_stats_now(h).purges, purged0 + BATCH);
  cr_assert_eq(t_stats_now(h).large_in_use, 0);
  cr_assert_eq(oh_slab_destroy(h), 0);
  t_opt_restore(d);
}

Test(large, busy_thread_cached_spans_unmapped_after_delay) {
  t_opt_save_t d = t_opt_set(OH_OPT_PURGE_DELAY_MS, 100);
  oh_slab_t *h = oh_slab_new(NULL);
  batch(h, 4, 0);
  /* busy with one 4 MiB span (no fit among the 2 MiB ones): the thread's own
   * large operations age its cache */
  uint64_t t0 = t_now_ms(), m = 0;
  do {
    void *p = oh_slab_alloc(h, 4 * MiB);
    cr_assert(p != NULL);
    cr_assert_eq(oh_slab_decref(h, p), 1);
    t_sleep_ms(5);
    m = t_stats_now(h).mapped_bytes;
  } while (m > 4 * MiB && t_now_ms() - t0 < 5000);
  cr_assert_leq(m, 4 * MiB, "a busy thread's old cached spans stay mapped (%llu bytes)", (unsigned long long)m);
  cr_assert_eq(oh_slab_destroy(h), 0);
  t_opt_restore(d);
}

static void *exit_worker(void *arg) {
  worker_t *w = arg;
  batch(w->h, w->tag, 0);
  return NULL;
}

Test(large, exiting_thread_hands_spans_back) {
  t_opt_save_t d = t_opt_set(OH_OPT_PURGE_DELAY_MS, 60000);
  oh_slab_t *h = oh_slab_new(NULL);
  worker_t w = {h, NULL, 5, 0, 0};
  pthread_t t;
  cr_assert_eq(pthread_create(&t, NULL, exit_worker, &w), 0);
  pthread_join(t, NULL);
  cr_assert_eq(t_stats_now(h).mapped_bytes, BATCH * BIG);
  /* the exited thread's spans are in the heap's shared cache: reused */
  void *p[BATCH];
  for (int i = 0; i < BATCH; i++) cr_assert((p[i] = oh_slab_alloc(h, BIG)) != NULL);
  cr_assert_eq(t_stats_now(h).mapped_bytes, BATCH * BIG, "an exited thread's spans were not reused");
  for (int i = 0; i < BATCH; i++) cr_assert_eq(oh_slab_decref(h, p[i]), 1);
  cr_assert_eq(oh_slab_purge(h) >= BATCH * BIG, 1, "oh_slab_purge unmaps the cached spans");
  cr_assert_eq(t_stats_now(h).mapped_bytes, 0);
  cr_assert_eq(oh_slab_destroy(h), 0);
  t_opt_restore(d);
}

Test(large, destroy_unmaps_cached_and_live_spans) {
  t_opt_save_t d = t_opt_set(OH_OPT_PURGE_DELAY_MS, 60000);
  oh_stats_t st0;
  cr_assert_eq(oh_stats(&st0), 0);
  oh_slab_t *h = oh_slab_new(NULL);
  batch(h, 6, 0); /* cached by this thread */
  void *live = oh_slab_alloc(h, 3 * MiB); /* leaked into destroy */
  cr_assert(live != NULL);
  worker_t w = {h, NULL, 7, 0, 0};
  pthread_t t;
  cr_assert_eq(pthread_create(&t, NULL, exit_worker, &w), 0); /* shared cache */
  pthread_join(t, NULL);
  oh_stats_t st1;
  cr_assert_eq(oh_stats(&st1), 0);
  cr_assert_geq(st1.mapped_bytes, st0.mapped_bytes + 2 * BATCH * BIG + 3 * MiB);
  cr_assert_eq(oh_slab_destroy(h), 0);
  oh_stats_t st2;
  cr_assert_eq(oh_stats(&st2), 0);
  cr_assert_leq(st2.mapped_bytes + 2 * BATCH * BIG + 3 * MiB, st1.mapped_bytes, "destroy left large spans mapped");
  /* a later heap in the same slot starts with an empty cache */
  oh_slab_t *h2 = oh_slab_new(NULL);
  void *p = oh_slab_alloc(h2, BIG);
  cr_assert(p != NULL);
  cr_assert_eq(oh_slab_decref(h2, p), 1);
  cr_assert_eq(oh_slab_destroy(h2), 0);
  t_opt_restore(d);
}

typedef struct {
  oh_slab_t *h;
  pthread_barrier_t *go;
  void *volatile *slot;
  int rounds;
  int wins, errs;
} racer_t;

static void *racer(void *arg) {
  racer_t *r = arg;
  for (int i = 0; i < r->rounds; i++) {
    pthread_barrier_wait(r->go); /* the pointer is set */
    int rc = oh_slab_decref(r->h, *r->slot);
    int e = errno;
    if (rc == 1) r->wins++;
    else if (rc == -1 && e == EALREADY) r->errs++;
    pthread_barrier_wait(r->go); /* both done */
  }
  return NULL;
}

Test(large, racing_double_free_has_one_winner) {
  t_opt_save_t d = t_opt_set(OH_OPT_PURGE_DELAY_MS, 60000);
  oh_slab_t *h = oh_slab_new(NULL);
  t_cap_install();
  int rounds = (int)t_scaled(400, 20);
  pthread_barrier_t go;
  pthread_barrier_init(&go, NULL, 3);
  void *volatile slot = NULL;
  racer_t r[2] = {{h, &go, &slot, rounds, 0, 0}, {h, &go, &slot, rounds, 0, 0}};
  pthread_t t[2];
  for (int i = 0; i < 2; i++) cr_assert_eq(pthread_create(&t[i], NULL, racer, &r[i]), 0);
  for (int i = 0; i < rounds; i++) {
    slot = oh_slab_alloc(h, BIG);
    cr_assert(slot != NULL);
    pthread_barrier_wait(&go);
    pthread_barrier_wait(&go);
  }
  for (int i = 0; i < 2; i++) pthread_join(t[i], NULL);
  pthread_barrier_destroy(&go);
  cr_assert_eq(r[0].wins + r[1].wins, rounds, "wins %d + %d of %d rounds", r[0].wins, r[1].wins, rounds);
  cr_assert_eq(r[0].errs + r[1].errs, rounds, "EALREADY %d + %d of %d rounds", r[0].errs, r[1].errs, rounds);
  cr_assert_eq(t_cap_count(), rounds);
  oh_stats_t st = t_stats_now(h);
  cr_assert_eq(st.large_in_use, 0);
  cr_assert_eq(st.frees, (uint64_t)rounds);
  t_cap_remove();
  cr_assert_eq(oh_slab_destroy(h), 0);
  t_opt_restore(d);
}
