/* test_refcount.c - per-chunk reference counts: the life cycle, counts on
 * freed chunks, EBUSY for oh_free of a shared chunk, EOVERFLOW at
 * OH_REFCOUNT_MAX, and concurrent addref/decref where exactly one decref frees. */
#include "test_util.h"

#include <stdlib.h>

/* White-box access to a chunk's reference-count word, so that EOVERFLOW can
 * be reached without 2^30 addref calls (tests are built with -Ic/src). */
#include "internal.h"

/* page_served: the allocation is a whole-page span that is unmapped when
 * freed; its pointer is then foreign to the region map, so EINVAL (and a
 * refcount of -1) are accepted besides EALREADY (and 0). */
static void lifecycle(oh_slab_t *s, size_t n, const char *what, int page_served) {
  t_cap_install();
  unsigned char *p = oh_slab_alloc(s, n);
  cr_assert(p != NULL, "%s: oh_slab_alloc(%zu) failed: %s", what, n, t_errname(errno));
  t_fill_sparse(p, n, 1);
  cr_expect_eq(oh_slab_refcount(s, p), 1, "%s: new chunk refcount", what);
  cr_expect_eq(oh_slab_addref(s, p), 0, "%s: addref", what);
  cr_expect_eq(oh_slab_refcount(s, p), 2, "%s: refcount after addref", what);
  cr_expect_eq(oh_slab_addref(s, p), 0);
  cr_expect_eq(oh_slab_refcount(s, p), 3);
  cr_expect_eq(oh_slab_decref(s, p), 0, "%s: decref 3->2 must return 0", what);
  cr_expect_eq(oh_slab_decref(s, p), 0, "%s: decref 2->1 must return 0", what);
  cr_expect_eq(oh_slab_refcount(s, p), 1);
  cr_expect_eq(t_check_sparse(p, n, 1), SIZE_MAX, "%s: contents changed while referenced", what);
  T_EXPECT_NO_HANDLER(what);
  cr_expect_eq(oh_slab_decref(s, p), 1, "%s: decref 1->0 must return 1 (freed)", what);
  long rc0 = oh_slab_refcount(s, p);
  cr_expect(rc0 == 0 || (page_served && rc0 == -1), "%s: refcount of a freed chunk is %ld", what,
            rc0);
  int alt = page_served ? EINVAL : EALREADY;

  char buf[128];
  t_cap_reset();
  errno = 0;
  int rc = oh_slab_decref(s, p);
  int e = errno;
  snprintf(buf, sizeof buf, "%s: decref below zero", what);
  T_EXPECT_ERR(buf, rc == -1, e, p, EALREADY, alt);

  t_cap_reset();
  errno = 0;
  rc = oh_slab_addref(s, p);
  e = errno;
  snprintf(buf, sizeof buf, "%s: addref of a freed chunk", what);
  T_EXPECT_ERR(buf, rc == -1, e, p, EALREADY, alt);
  cr_expect(oh_slab_refcount(s, p) <= 0, "%s: addref of a freed chunk revived it", what);

  t_cap_reset();
  errno = 0;
  size_t u = oh_slab_usable_size(s, p);
  e = errno;
  snprintf(buf, sizeof buf, "%s: usable size of a freed chunk", what);
  T_EXPECT_ERR(buf, u == 0, e, p, EALREADY, alt);
  t_cap_remove();
}

Test(refcount, lifecycle_small_chunk_custom_instance) {
  oh_slab_t *s = oh_slab_new(NULL);
  cr_assert(s != NULL);
  lifecycle(s, 100, "custom 100 B", 0);
  oh_slab_destroy(s);
}
Test(refcount, lifecycle_mid_chunk_custom_instance) {
  oh_slab_t *s = oh_slab_new(NULL);
  cr_assert(s != NULL);
  lifecycle(s, 200 * KiB, "custom 200 KiB", 0);
  oh_slab_destroy(s);
}
Test(refcount, lifecycle_page_served_chunk_custom_instance) {
  oh_slab_t *s = oh_slab_new(NULL);
  cr_assert(s != NULL);
  lifecycle(s, 3 * MiB + 5, "custom 3 MiB+5 (pages)", 1);
  oh_slab_destroy(s);
}
Test(refcount, lifecycle_default_instance) {
  lifecycle(oh_default_slab(), 48, "default 48 B", 0);
  lifecycle(oh_default_slab(), 2 * MiB, "default 2 MiB (pages)", 1);
}

Test(refcount, free_of_shared_chunk_is_ebusy_and_keeps_it) {
  t_cap_install();
  oh_slab_t *d = oh_default_slab();
  const size_t sizes[] = {64, 5000, 2 * MiB};
  for (int i = 0; i < 3; i++) {
    unsigned char *p = oh_alloc(sizes[i]);
    cr_assert(p != NULL);
    t_fill_sparse(p, sizes[i], 3);
    cr_assert_eq(oh_slab_addref(d, p), 0);
    t_counters_t before = t_counters(d);
    t_cap_reset();
    errno = 0;
    int rc = oh_free(p);
    int e = errno;
    char what[64];
    snprintf(what, sizeof what, "oh_free(%zu-byte chunk with refcount 2)", sizes[i]);
    T_EXPECT_ERR(what, rc == -1, e, p, EBUSY);
    t_counters_t after = t_counters(d);
    EXPECT_COUNTERS_UNCHANGED(before, after, what);
    cr_expect_eq(oh_slab_refcount(d, p), 2, "EBUSY free changed the refcount");
    cr_expect_eq(t_check_sparse(p, sizes[i], 3), SIZE_MAX, "EBUSY free changed the contents");
    cr_expect_eq(oh_slab_decref(d, p), 0);
    cr_expect_eq(oh_free(p), 0, "oh_free at refcount 1 failed: %s", t_errname(errno));
  }
  t_cap_remove();
}

/* The state word of a chunk or page-served allocation (internal.h). */
static uint32_t *state_word(const void *p) {
  ohi_span_t *sp = ohi_region_lookup(p);
  cr_assert(sp != NULL, "%p not in the region map", p);
  if (sp->kind == OHI_SPAN_LARGE) return &((ohi_large_t *)sp)->refcount;
  cr_assert_eq(sp->kind, OHI_SPAN_SLAB);
  ohi_slab_t *s = (ohi_slab_t *)sp;
  return &s->words[((uintptr_t)p - sp->base) / s->chunk_size];
}

static void overflow_at_max(oh_slab_t *s, size_t n, const char *what) {
  t_cap_install();
  void *p = oh_slab_alloc(s, n);
  cr_assert(p != NULL);
  uint32_t *w = state_word(p);
  cr_assert_eq(*w, 1, "%s: state word of a new chunk is %u, not its refcount 1", what, *w);
  /* as if OH_REFCOUNT_MAX - 4 addrefs had been made */
  __atomic_store_n(w, OH_REFCOUNT_MAX - 3, __ATOMIC_RELAXED);
  for (int i = 0; i < 3; i++)
    cr_assert_eq(oh_slab_addref(s, p), 0, "%s: addref %d below the maximum failed: %s", what, i,
                 t_errname(errno));
  cr_assert_eq(oh_slab_refcount(s, p), (long)OH_REFCOUNT_MAX);
  T_EXPECT_NO_HANDLER(what);
  for (int i = 0; i < 2; i++) {
    char buf[96];
    snprintf(buf, sizeof buf, "%s: addref at OH_REFCOUNT_MAX (#%d)", what, i);
    t_cap_reset();
    errno = 0;
    int rc = oh_slab_addref(s, p);
    int e = errno;
    T_EXPECT_ERR(buf, rc == -1, e, p, EOVERFLOW);
    cr_expect_eq(oh_slab_refcount(s, p), (long)OH_REFCOUNT_MAX, "%s: overflowing addref changed the count", what);
  }
  cr_expect_eq(oh_slab_decref(s, p), 0, "%s: decref from the maximum", what);
  cr_expect_eq(oh_slab_refcount(s, p), (long)OH_REFCOUNT_MAX - 1);
  cr_expect_eq(oh_slab_addref(s, p), 0, "%s: addref back to the maximum", what);
  /* oh_free at a count above one is EBUSY, not a silent wrap */
  if (s == oh_default_slab()) {
    t_cap_reset();
    errno = 0;
    int rc = oh_free(p);
    int e = errno;
    T_EXPECT_ERR("oh_free at OH_REFCOUNT_MAX", rc == -1, e, p, EBUSY);
  }
  __atomic_store_n(w, 1u, __ATOMIC_RELAXED);
  cr_expect_eq(oh_slab_decref(s, p), 1, "%s: chunk not freeable afterwards", what);
  t_cap_remove();
}

Test(refcount, addref_past_max_is_eoverflow_small_chunk) {
  oh_slab_t *s = oh_slab_new(NULL);
  cr_assert(s != NULL);
  overflow_at_max(s, 64, "64 B chunk");
  oh_slab_destroy(s);
}
Test(refcount, addref_past_max_is_eoverflow_page_served) {
  oh_slab_t *s = oh_slab_new(NULL);
  cr_assert(s != NULL);
  overflow_at_max(s, 2 * MiB, "2 MiB page-served");
  oh_slab_destroy(s);
}
Test(refcount, addref_past_max_is_eoverflow_default_instance) {
  overflow_at_max(oh_default_slab(), 1000, "default 1000 B");
}

/* A black-box climb to the maximum is 2^30 calls; this climbs a long way
 * (without white-box help) to check that counts do not wrap or saturate early. */
Test(refcount, many_addrefs_then_as_many_decrefs) {
  oh_slab_t *s = oh_slab_new(NULL);
  cr_assert(s != NULL);
  void *p = oh_slab_alloc(s, 64);
  cr_assert(p != NULL);
  long n = (long)t_scaled(1000000, 50);
  long fails = 0;
  for (long i = 0; i < n; i++) fails += oh_slab_addref(s, p) != 0;
  cr_expect_eq(fails, 0);
  cr_expect_eq(oh_slab_refcount(s, p), n + 1);
  for (long i = 0; i < n; i++) fails += oh_slab_decref(s, p) != 0;
  cr_expect_eq(fails, 0, "%ld decrefs above one did not return 0", fails);
  cr_expect_eq(oh_slab_decref(s, p), 1);
  oh_slab_destroy(s);
}

/* ---- concurrency ---------------------------------------------------------- */

enum { RC_THREADS = 4 };

typedef struct rc_shared_s {
  oh_slab_t *s;
  void *volatile chunk;
  pthread_barrier_t start, done;
  int rounds;
  int freed_by[RC_THREADS];
  int errors[RC_THREADS];
} rc_shared_t;

static void *rc_worker(void *arg) {
  rc_shared_t *sh = ((void **)arg)[0];
  int id = (int)(uintptr_t)((void **)arg)[1];
  for (int r = 0; r < sh->rounds; r++) {
    pthread_barrier_wait(&sh->start);
    void *p = sh->chunk;
    /* churn: every thread adds and drops references concurrently */
    for (int k = 0; k < 50; k++) {
      if (oh_slab_addref(sh->s, p) != 0) sh->errors[id]++;
      if (oh_slab_decref(sh->s, p) != 0) sh->errors[id]++;
    }
    /* each thread owns one reference: drop it; exactly one call frees */
    int rc = oh_slab_decref(sh->s, p);
    if (rc == 1)
      sh->freed_by[id]++;
    else if (rc != 0)
      sh->errors[id]++;
    pthread_barrier_wait(&sh->done);
  }
  return NULL;
}

Test(refcount, concurrent_decref_frees_exactly_once) {
  rc_shared_t sh = {.rounds = (int)t_scaled(2000, 20)};
  sh.s = oh_slab_new(NULL);
  cr_assert(sh.s != NULL);
  pthread_barrier_init(&sh.start, NULL, RC_THREADS + 1);
  pthread_barrier_init(&sh.done, NULL, RC_THREADS + 1);
  pthread_t t[RC_THREADS];
  void *args[RC_THREADS][2];
  for (int i = 0; i < RC_THREADS; i++) {
    args[i][0] = &sh;
    args[i][1] = (void *)(uintptr_t)i;
    pthread_create(&t[i], NULL, rc_worker, args[i]);
  }
  int total_freed = 0, bad_rounds = 0;
  for (int r = 0; r < sh.rounds; r++) {
    void *p = oh_slab_alloc(sh.s, 32 + (size_t)(r % 8) * 16);
    cr_assert(p != NULL);
    for (int i = 1; i < RC_THREADS; i++) cr_assert_eq(oh_slab_addref(sh.s, p), 0);
    sh.chunk = p;
    int before = 0;
    for (int i = 0; i < RC_THREADS; i++) before += sh.freed_by[i];
    pthread_barrier_wait(&sh.start);
    pthread_barrier_wait(&sh.done);
    int after = 0;
    for (int i = 0; i < RC_THREADS; i++) after += sh.freed_by[i];
    if (after - before != 1) bad_rounds++;
    if (oh_slab_refcount(sh.s, p) != 0) bad_rounds++;
    total_freed = after;
  }
  for (int i = 0; i < RC_THREADS; i++) pthread_join(t[i], NULL);
  int errors = 0;
  for (int i = 0; i < RC_THREADS; i++) errors += sh.errors[i];
  cr_expect_eq(errors, 0, "%d addref/decref calls failed", errors);
  cr_expect_eq(bad_rounds, 0, "%d rounds did not free exactly once", bad_rounds);
  cr_expect_eq(total_freed, sh.rounds);
  oh_thread_flush();
  oh_stats_t st;
  cr_assert_eq(oh_slab_stats(sh.s, &st), 0);
  cr_expect_eq(st.in_use_bytes, 0);
  cr_expect_eq(st.frees, (uint64_t)sh.rounds, "frees %llu, want %d", (unsigned long long)st.frees,
               sh.rounds);
  oh_slab_destroy(sh.s);
  pthread_barrier_destroy(&sh.start);
  pthread_barrier_destroy(&sh.done);
}
