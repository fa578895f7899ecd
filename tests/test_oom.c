/* test_oom.c - running out of memory. The library's fault injection
 * (ohi_test_fail_os in internal.h; tests are built with -Ic/src) makes OS
 * mappings fail, so every allocating function's ENOMEM path runs: it must
 * return NULL / 0 with errno ENOMEM, report to the error handler, count
 * nothing, corrupt nothing, and work again once memory is back. */
#include "test_util.h"

#include <stdlib.h>

#include "internal.h"

static void disarm(void) { ohi_test_fail_os(0, 0); }

Test(oom, every_allocating_function_reports_enomem_then_recovers) {
  t_cap_install();
  /* instances made before the OS starts refusing (the default one too) */
  cr_assert(oh_default_slab() != NULL);
  oh_slab_t *s = oh_slab_new(NULL);
  oh_arena_t *a = oh_arena_new(64 * KiB);
  oh_pool_t *pool = oh_pool_new(100, NULL);
  cr_assert(s && a && pool);
  t_counters_t before = t_counters(s);

  ohi_test_fail_os(1, 0); /* every mapping fails */
  size_t ps = t_page();
  int e;
  void *p;
#define OOM_CASE(what, failed_expr)                                                      \
  do {                                                                                   \
    t_cap_reset();                                                                       \
    errno = 0;                                                                           \
    int failed_ = (failed_expr);                                                         \
    e = errno;                                                                           \
    T_EXPECT_ERR(what, failed_, e, NULL, ENOMEM);                                        \
  } while (0)
  OOM_CASE("oh_map(page)", (p = oh_map(ps)) == NULL);
  OOM_CASE("oh_alloc(3 MiB)", (p = oh_alloc(3 * MiB)) == NULL);
  OOM_CASE("oh_slab_alloc(s, 3 MiB)", (p = oh_slab_alloc(s, 3 * MiB)) == NULL);
  OOM_CASE("oh_slab_alloc(s, 100) (first slab)", (p = oh_slab_alloc(s, 100)) == NULL);
  OOM_CASE("oh_calloc(5000) (first slab)", (p = oh_calloc(5000)) == NULL);
  void *out[8];
  OOM_CASE("oh_slab_alloc_batch(s, 3, ...)", oh_slab_alloc_batch(s, 3, out, 8) == 0);
  OOM_CASE("oh_arena_alloc (first block)", (p = oh_arena_alloc(a, 100, 0)) == NULL);
  OOM_CASE("oh_pool_get (first block)", (p = oh_pool_get(pool)) == NULL);
#undef OOM_CASE
  /* constructors may or may not need a mapping; if they fail, with ENOMEM */
  errno = 0;
  oh_slab_t *s2 = oh_slab_new(NULL);
  if (s2 == NULL)
    cr_expect_eq(errno, ENOMEM, "oh_slab_new under OOM: errno %s", t_errname(errno));
  else
    oh_slab_destroy(s2);
  errno = 0;
  oh_pool_t *p2 = oh_pool_new(64, NULL);
  if (p2 == NULL)
    cr_expect_eq(errno, ENOMEM, "oh_pool_new under OOM: errno %s", t_errname(errno));
  else
    oh_pool_destroy(p2);

  t_counters_t during = t_counters(s);
  EXPECT_COUNTERS_UNCHANGED(before, during, "failed allocations");
  disarm();

  /* everything works again */
  void *m = oh_map(ps);
  cr_expect(m != NULL, "oh_map after OOM: %s", t_errname(errno));
  cr_expect(t_all_zero(m, ps));
  oh_unmap(m, ps);
  void *big = oh_alloc(3 * MiB), *small = oh_slab_alloc(s, 100), *z = oh_calloc(5000);
  cr_expect(big && small && z, "allocation after OOM failed: %s", t_errname(errno));
  cr_expect(z == NULL || t_all_zero(z, 5000));
  size_t got = oh_slab_alloc_batch(s, 3, out, 8);
  cr_expect_eq(got, 8, "alloc_batch after OOM got %zu", got);
  void *ap = oh_arena_alloc(a, 100, 0), *po = oh_pool_get(pool);
  cr_expect(ap && po, "arena/pool after OOM: %s", t_errname(errno));
  oh_free(big);
  oh_free(z);
  oh_slab_decref(s, small);
  size_t bad;
  cr_expect_eq(oh_slab_free_batch(s, out, got, &bad), 0);
  oh_pool_put(pool, po);
  t_counters_t after = t_counters(s);
  cr_expect_eq(after.in_use_bytes, 0, "in use after OOM and frees: %llu",
               (unsigned long long)after.in_use_bytes);
  cr_expect_eq(after.allocs, after.frees);
  cr_expect_eq(after.allocs, 9, "allocs %llu, want 9 (1 + a batch of 8): failed attempts counted?",
               (unsigned long long)after.allocs);
  oh_slab_destroy(s);
  oh_arena_destroy(a);
  oh_pool_destroy(pool);
  t_cap_remove();
}

/* The process-wide instance is created on first use; if that first use
 * meets ENOMEM it must fail like any allocation, and work once memory is back. */
Test(oom, default_instance_first_used_under_oom) {
  t_cap_install();
  ohi_test_fail_os(1, 0);
  t_cap_reset();
  errno = 0;
  void *p = oh_alloc(100);
  int e = errno;
  T_EXPECT_ERR("first oh_alloc(100) under OOM", p == NULL, e, NULL, ENOMEM);
  disarm();
  errno = 0;
  p = oh_alloc(100);
  cr_expect(p != NULL, "oh_alloc after the OOM at first use failed: %s", t_errname(errno));
  cr_expect(oh_default_slab() != NULL, "no default instance after the OOM at first use");
  if (p) cr_expect_eq(oh_free(p), 0);
  t_cap_remove();
}

Test(oom, running_out_mid_way_keeps_every_allocation_intact) {
  t_cap_install();
  oh_slab_t *s = oh_slab_new(NULL);
  cr_assert(s != NULL);
  size_t limit = t_small() ? 4 * MiB : 32 * MiB;
  ohi_test_fail_os(0, limit);
  size_t cap = limit / (4 * KiB) + 16, n = 0;
  void **p = calloc(cap, sizeof *p);
  uint64_t rng = 3;
  int e = 0;
  while (n < cap) {
    /* one slab class (so the budget is not spent on one slab per class) and
     * some page-served allocations */
    size_t size = (t_rand(&rng) % 8 == 0) ? 2 * MiB : 16 * KiB;
    p[n] = oh_slab_alloc(s, size);
    e = errno;
    if (p[n] == NULL) break;
    t_fill_sparse(p[n], oh_slab_usable_size(s, p[n]), t_seed(7, n));
    n++;
  }
  cr_assert(n < cap, "never ran out with a %zu byte budget", limit);
  cr_expect_eq(e, ENOMEM, "allocation failed with %s", t_errname(e));
  cr_expect(t_cap_count() >= 1);
  size_t live = 0;
  for (size_t i = 0; i < n; i++) live += oh_slab_usable_size(s, p[i]);
  cr_expect(live >= limit / 4, "only %zu bytes in %zu allocations fit in a %zu byte budget", live,
            n, limit);
  /* more failures do not break anything */
  for (int i = 0; i < 100; i++) cr_expect(oh_slab_alloc(s, 2 * MiB) == NULL);
  for (size_t i = 0; i < n; i++)
    cr_expect_eq(t_check_sparse(p[i], oh_slab_usable_size(s, p[i]), t_seed(7, i)), SIZE_MAX,
                 "allocation %zu corrupted after OOM", i);
  size_t bad_i = 0;
  t_range_t *r = calloc(n, sizeof *r);
  for (size_t i = 0; i < n; i++) {
    r[i].addr = (uintptr_t)p[i];
    r[i].len = oh_slab_usable_size(s, p[i]);
  }
  cr_expect(!t_ranges_overlap(r, n, &bad_i), "allocations overlap after OOM");
  free(r);
  for (size_t i = 0; i < n; i++) cr_expect_eq(oh_slab_decref(s, p[i]), 1);
  disarm();
  t_counters_t c = t_counters(s);
  cr_expect_eq(c.in_use_bytes, 0);
  cr_expect_eq(c.allocs, n, "allocs %llu, successful allocations %zu", (unsigned long long)c.allocs, n);
  cr_expect_eq(c.frees, n);
  for (size_t i = 0; i < 100; i++) {
    p[i] = oh_slab_alloc(s, 10 * KiB);
    cr_expect(p[i] != NULL, "allocation after recovery failed");
  }
  free(p);
  oh_slab_destroy(s);
  t_cap_remove();
}

typedef struct oom_job_s {
  oh_slab_t *s;
  int id;
  size_t n, failures, corrupt, bad_errno;
  void *p[4096];
} oom_job_t;

static void *oom_worker(void *arg) {
  oom_job_t *j = arg;
  uint64_t rng = 11 + (uint64_t)j->id;
  for (int round = 0; round < 3000 && j->n < 4096; round++) {
    size_t size = 16 + t_rand(&rng) % (32 * KiB);
    void *q = oh_slab_alloc(j->s, size);
    if (q == NULL) {
      j->failures++;
      if (errno != ENOMEM) j->bad_errno++;
      continue;
    }
    size_t len = oh_slab_usable_size(j->s, q);
    t_fill(q, len < 256 ? len : 256, t_seed((unsigned)j->id, j->n));
    j->p[j->n++] = q;
  }
  for (size_t i = 0; i < j->n; i++) {
    size_t len = oh_slab_usable_size(j->s, j->p[i]);
    if (t_check(j->p[i], len < 256 ? len : 256, t_seed((unsigned)j->id, i)) != SIZE_MAX)
      j->corrupt++;
  }
  return NULL;
}

Test(oom, threads_hitting_the_limit_together) {
  t_cap_install();
  oh_slab_t *s = oh_slab_new(NULL);
  cr_assert(s != NULL);
  ohi_test_fail_os(0, t_small() ? 8 * MiB : 24 * MiB);
  enum { NT = 4 };
  oom_job_t *j = calloc(NT, sizeof *j);
  pthread_t t[NT];
  for (int i = 0; i < NT; i++) {
    j[i].s = s;
    j[i].id = i;
    pthread_create(&t[i], NULL, oom_worker, &j[i]);
  }
  for (int i = 0; i < NT; i++) pthread_join(t[i], NULL);
  size_t failures = 0, corrupt = 0, bad_errno = 0, total = 0;
  for (int i = 0; i < NT; i++) {
    failures += j[i].failures;
    corrupt += j[i].corrupt;
    bad_errno += j[i].bad_errno;
    total += j[i].n;
  }
  cr_expect(failures > 0, "the limit was never reached (%zu allocations)", total);
  cr_expect_eq(bad_errno, 0, "%zu failures with an errno other than ENOMEM", bad_errno);
  cr_expect_eq(corrupt, 0, "%zu allocations corrupted", corrupt);
  disarm();
  for (int i = 0; i < NT; i++)
    for (size_t k = 0; k < j[i].n; k++) cr_expect_eq(oh_slab_decref(s, j[i].p[k]), 1);
  t_counters_t c = t_counters(s);
  cr_expect_eq(c.in_use_bytes, 0);
  cr_expect_eq(c.allocs, total, "allocs %llu, successful %zu", (unsigned long long)c.allocs, total);
  cr_expect_eq(c.frees, total);
  free(j);
  oh_slab_destroy(s);
  t_cap_remove();
}
