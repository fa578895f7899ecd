/* test_slab_instances.c - several oh_slab_* instances at once (independent of
 * each other, create/destroy cycles, more instances than thread-cache slots)
 * and the batch interface (oh_slab_alloc_batch / oh_slab_free_batch). One
 * instance's sizes, classes and configurations are in test_slab.c. */
#include "test_util.h"


/* ---- instances ----------------------------------------------------------- */

/* Six instances of different configurations, half of them destroyed with
 * live allocations. Run twice: the first pass also creates metadata blocks
 * that the library keeps for reuse; the second must return mapped and
 * committed bytes exactly to where they were. */
static void six_instances(void) {
  enum { NS = 6 };
  oh_slab_t *s[NS];
  void *p[NS][64];
  for (int i = 0; i < NS; i++) {
    oh_slab_config_t cfg = {16 * (size_t)(i + 1), (size_t)64 * KiB << (i % 3), 1.25 + 0.25 * i};
    s[i] = oh_slab_new(&cfg);
    cr_assert(s[i] != NULL, "instance %d: %s", i, t_errname(errno));
    for (int k = 0; k < 64; k++) {
      size_t n = 16 + (size_t)k * 997;
      p[i][k] = oh_slab_alloc(s[i], n);
      cr_assert(p[i][k] != NULL);
      t_fill(p[i][k], n, t_seed((unsigned)i, (uint64_t)k));
    }
  }
  for (int i = 0; i < NS; i++) {
    for (int k = 0; k < 64; k++) {
      size_t n = 16 + (size_t)k * 997;
      cr_expect_eq(t_check(p[i][k], n, t_seed((unsigned)i, (uint64_t)k)), SIZE_MAX,
                   "instance %d allocation %d overwritten", i, k);
      cr_expect_eq(oh_slab_refcount(s[i], p[i][k]), 1);
    }
    if (i % 2 == 0) /* free half of the instances' chunks first, leave the rest */
      for (int k = 0; k < 64; k++) cr_expect_eq(oh_slab_decref(s[i], p[i][k]), 1);
  }
  for (int i = 0; i < NS; i++) cr_expect_eq(oh_slab_destroy(s[i]), 0, "destroy %d", i);
}

Test(slab_instances, instances_are_independent_and_destroy_unmaps) {
  /* no purge passes in the background: they would move slabs to the shared
   * segment cache at unpredictable moments */
  t_opt_save_t delay = t_opt_set(OH_OPT_PURGE_DELAY_MS, -1);
  six_instances();
  /* the segment cache holds what is left of batch reservations (segment.c):
   * address space only, and emptied by oh_purge; compared without it */
  oh_purge();
  t_counters_t c0 = t_counters(NULL);
  six_instances();
  oh_purge();
  t_counters_t c1 = t_counters(NULL);
  cr_expect_eq(c1.mapped_bytes, c0.mapped_bytes,
               "mapped_bytes %llu after destroying every instance, %llu before",
               (unsigned long long)c1.mapped_bytes, (unsigned long long)c0.mapped_bytes);
  cr_expect_eq(c1.committed_bytes, c0.committed_bytes,
               "committed_bytes %llu after destroying every instance, %llu before",
               (unsigned long long)c1.committed_bytes, (unsigned long long)c0.committed_bytes);
  t_opt_restore(delay);
}

static void create_use_destroy(int round) {
  oh_slab_t *s = oh_slab_new(NULL);
  cr_assert(s != NULL, "round %d: %s", round, t_errname(errno));
  void *a = oh_slab_alloc(s, 100), *b = oh_slab_alloc(s, 2 * MiB);
  cr_assert(a && b);
  cr_assert_eq(oh_slab_destroy(s), 0);
}

Test(slab_instances, create_destroy_cycles_do_not_leak) {
  /* no purge passes in the background: they would move slabs to the shared
   * segment cache at unpredictable moments */
  t_opt_save_t delay = t_opt_set(OH_OPT_PURGE_DELAY_MS, -1);
  create_use_destroy(-1); /* metadata blocks kept for reuse */
  oh_purge(); /* segments left of a batch reservation wait in the cache: emptied */
  t_counters_t c0 = t_counters(NULL);
  for (int round = 0; round < (t_small() ? 20 : 200); round++) create_use_destroy(round);
  oh_purge();
  t_counters_t c1 = t_counters(NULL);
  cr_expect_eq(c1.mapped_bytes, c0.mapped_bytes, "create/destroy cycles leaked %lld mapped bytes",
               (long long)(c1.mapped_bytes - c0.mapped_bytes));
  cr_expect_eq(c1.committed_bytes, c0.committed_bytes,
               "create/destroy cycles leaked %lld committed bytes",
               (long long)(c1.committed_bytes - c0.committed_bytes));
  t_opt_restore(delay);
}

Test(slab_instances, more_instances_than_thread_cache_slots) {
  /* the library gives thread caches to a bounded number of instances; the
   * rest must work the same without */
  enum { NS = 100 };
  oh_slab_t *s[NS];
  void *p[NS][8];
  for (int i = 0; i < NS; i++) {
    s[i] = oh_slab_new(NULL);
    cr_assert(s[i] != NULL, "instance %d: %s", i, t_errname(errno));
    for (int k = 0; k < 8; k++) {
      p[i][k] = oh_slab_alloc(s[i], 64 + (size_t)k * 100);
      cr_assert(p[i][k] != NULL);
      t_fill(p[i][k], 64 + (size_t)k * 100, t_seed((unsigned)i, (uint64_t)k));
    }
  }
  for (int i = 0; i < NS; i++) {
    for (int k = 0; k < 8; k++) {
      cr_expect_eq(t_check(p[i][k], 64 + (size_t)k * 100, t_seed((unsigned)i, (uint64_t)k)),
                   SIZE_MAX, "instance %d chunk %d overwritten", i, k);
      cr_expect_eq(oh_slab_decref(s[i], p[i][k]), 1);
    }
    oh_stats_t st;
    oh_thread_flush();
    cr_assert_eq(oh_slab_stats(s[i], &st), 0);
    cr_expect_eq(st.in_use_bytes, 0, "instance %d in use after frees", i);
    cr_expect_eq(st.allocs, 8);
    cr_expect_eq(st.frees, 8, "instance %d frees %llu", i, (unsigned long long)st.frees);
  }
  for (int i = 0; i < NS; i++) cr_expect_eq(oh_slab_destroy(s[i]), 0);
}

/* ---- batch interface ------------------------------------------------------ */

Test(slab_batch, alloc_batch_then_free_batch) {
  oh_slab_t *s = oh_slab_new(NULL);
  cr_assert(s != NULL);
  int nc = oh_slab_class_count(s);
  const int classes[] = {0, 1, nc / 2, nc - 1};
  for (size_t ci = 0; ci < 4; ci++) {
    int cls = classes[ci];
    size_t csz = oh_slab_class_size(s, cls);
    void *out[300];
    size_t want = csz > 256 * KiB ? 10 : 300;
    size_t got = oh_slab_alloc_batch(s, cls, out, want);
    cr_assert(got >= 1 && got <= want, "alloc_batch(class %d, %zu) = %zu", cls, want, got);
    t_range_t r[300];
    for (size_t i = 0; i < got; i++) {
      cr_assert(out[i] != NULL);
      cr_expect_eq(oh_slab_usable_size(s, out[i]), csz, "batch chunk %zu of class %d", i, cls);
      cr_expect_eq(oh_slab_refcount(s, out[i]), 1);
      t_fill_sparse(out[i], csz, t_seed((unsigned)cls, i));
      r[i].addr = (uintptr_t)out[i];
      r[i].len = csz;
    }
    for (size_t i = 0; i < got; i++)
      cr_expect_eq(t_check_sparse(out[i], csz, t_seed((unsigned)cls, i)), SIZE_MAX);
    size_t bad = 0;
    t_range_t rs[300];
    memcpy(rs, r, got * sizeof *r);
    cr_expect(!t_ranges_overlap(rs, got, &bad), "batch chunks overlap");
    size_t badi = 12345;
    cr_expect_eq(oh_slab_free_batch(s, out, got, &badi), 0, "free_batch failed: %s",
                 t_errname(errno));
    for (size_t i = 0; i < got; i++) cr_expect_eq(oh_slab_refcount(s, out[i]), 0);
  }
  oh_thread_flush();
  oh_stats_t st;
  cr_assert_eq(oh_slab_stats(s, &st), 0);
  cr_expect_eq(st.in_use_bytes, 0);
  cr_expect_eq(st.allocs, st.frees, "allocs %llu != frees %llu", (unsigned long long)st.allocs,
               (unsigned long long)st.frees);
  oh_slab_destroy(s);
}

Test(slab_batch, alloc_batch_bad_class_is_einval) {
  t_cap_install();
  oh_slab_t *s = oh_slab_new(NULL);
  cr_assert(s != NULL);
  void *out[4] = {0};
  const int bad[] = {-1, oh_slab_class_count(s), OH_MAX_CLASSES + 5};
  for (int i = 0; i < 3; i++) {
    char what[64];
    snprintf(what, sizeof what, "oh_slab_alloc_batch(class %d)", bad[i]);
    t_cap_reset();
    errno = 0;
    size_t got = oh_slab_alloc_batch(s, bad[i], out, 4);
    int e = errno;
    T_EXPECT_ERR(what, got == 0, e, NULL, EINVAL);
  }
  oh_slab_destroy(s);
  t_cap_remove();
}

/* oh_slab_free_batch with the error capture reset first; *e = errno after. */
static int free_batch(oh_slab_t *s, void **ptrs, size_t n, size_t *bad, int *e) {
  t_cap_reset();
  errno = 0;
  int rc = oh_slab_free_batch(s, ptrs, n, bad);
  *e = errno;
  return rc;
}

Test(slab_batch, free_batch_stops_at_first_bad_pointer) {
  t_cap_install();
  oh_slab_t *s = oh_slab_new(NULL);
  cr_assert(s != NULL);
  void *out[10];
  cr_assert_eq(oh_slab_alloc_batch(s, 2, out, 10), 10);
  int local;
  void *ptrs[10];
  memcpy(ptrs, out, sizeof ptrs);
  ptrs[4] = &local; /* foreign */
  size_t bad = 999;
  int e;
  int rc = free_batch(s, ptrs, 10, &bad, &e);
  T_EXPECT_ERR("free_batch with a stack pointer at index 4", rc == -1, e, &local, EINVAL);
  cr_expect_eq(bad, 4, "*bad = %zu, want 4", bad);
  for (int i = 0; i < 4; i++) cr_expect_eq(oh_slab_refcount(s, out[i]), 0, "chunk %d not freed", i);
  for (int i = 4; i < 10; i++)
    cr_expect_eq(oh_slab_refcount(s, out[i]), 1, "chunk %d freed past the bad pointer", i);

  /* refcount 2 at index 1: EBUSY */
  cr_assert_eq(oh_slab_addref(s, out[6]), 0);
  void *rest[4] = {out[5], out[6], out[7], out[8]};
  rc = free_batch(s, rest, 4, &bad, &e);
  T_EXPECT_ERR("free_batch with a refcount-2 chunk at index 1", rc == -1, e, out[6], EBUSY);
  cr_expect_eq(bad, 1);
  cr_expect_eq(oh_slab_refcount(s, out[5]), 0);
  cr_expect_eq(oh_slab_refcount(s, out[6]), 2, "EBUSY chunk's refcount changed");

  /* the same pointer twice: EALREADY at the second */
  void *dup[3] = {out[7], out[7], out[8]};
  rc = free_batch(s, dup, 3, &bad, &e);
  T_EXPECT_ERR("free_batch with a duplicate pointer", rc == -1, e, out[7], EALREADY);
  cr_expect_eq(bad, 1);
  cr_expect_eq(oh_slab_refcount(s, out[8]), 1);

  /* interior pointer: EFAULT */
  void *inter[2] = {(char *)out[8] + 16, out[9]};
  rc = free_batch(s, inter, 2, &bad, &e);
  T_EXPECT_ERR("free_batch with an interior pointer", rc == -1, e, inter[0], EFAULT);
  cr_expect_eq(bad, 0);

  cr_expect_eq(oh_slab_decref(s, out[4]), 1, "chunk 4 (skipped by the first batch)");
  cr_expect_eq(oh_slab_decref(s, out[6]), 0);
  cr_expect_eq(oh_slab_decref(s, out[6]), 1);
  cr_expect_eq(oh_slab_decref(s, out[8]), 1);
  cr_expect_eq(oh_slab_decref(s, out[9]), 1);
  oh_thread_flush();
  oh_stats_t st;
  cr_assert_eq(oh_slab_stats(s, &st), 0);
  cr_expect_eq(st.in_use_bytes, 0, "in_use %llu after freeing all",
               (unsigned long long)st.in_use_bytes);
  cr_expect_eq(st.frees, 10, "frees %llu, want 10", (unsigned long long)st.frees);
  oh_slab_destroy(s);
  t_cap_remove();
}
