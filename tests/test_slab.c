/* test_slab.c - the size-class allocator: oh_alloc / oh_calloc / oh_free /
 * oh_usable_size on the default instance, page-served large sizes, class
 * tables, oh_slab_* instances with custom configurations, and bad
 * configurations. Several instances at once and the batch interface are in
 * test_slab_instances.c. */
#include "test_util.h"

#include <math.h>
#include <stdlib.h>

/* ---- default allocator: every small size --------------------------------- */

Test(slab_sizes, every_size_up_to_8k_is_aligned_usable_and_disjoint) {
  size_t max = t_small() ? 2048 : 8192;
  void **ptrs = calloc(max + 1, sizeof *ptrs);
  t_range_t *r = calloc(max + 1, sizeof *r);
  for (size_t n = 1; n <= max; n++) {
    unsigned char *p = oh_alloc(n);
    cr_assert(p != NULL, "oh_alloc(%zu) failed: %s", n, t_errname(errno));
    cr_expect_eq((uintptr_t)p % 16, 0, "oh_alloc(%zu) = %p is not 16-byte aligned", n, (void *)p);
    size_t u = oh_usable_size(p);
    cr_expect(u >= n, "oh_usable_size(oh_alloc(%zu)) = %zu", n, u);
    t_fill(p, u, t_seed(1, n));
    ptrs[n] = p;
    r[n - 1].addr = (uintptr_t)p;
    r[n - 1].len = u;
  }
  int bad = 0;
  for (size_t n = 1; n <= max; n++)
    if (t_check(ptrs[n], oh_usable_size(ptrs[n]), t_seed(1, n)) != SIZE_MAX && bad++ < 5)
      cr_expect_fail("oh_alloc(%zu) contents were overwritten by another allocation", n);
  size_t at = 0;
  cr_expect(!t_ranges_overlap(r, max, &at), "two allocations overlap (sorted index %zu)", at);
  for (size_t n = 1; n <= max; n++) cr_expect_eq(oh_free(ptrs[n]), 0, "oh_free(#%zu) failed", n);
  free(ptrs);
  free(r);
}

/* Sizes around powers of two and 1.25 steps, from 8 KiB to 4x the slab size,
 * which crosses from slab classes to page-served allocations. */
static size_t sweep_sizes(size_t *out, size_t cap, size_t max) {
  size_t k = 0;
  for (double s = 8192; s <= (double)max && k + 3 <= cap; s *= 1.25) {
    size_t base = (size_t)s;
    out[k++] = base - 1;
    out[k++] = base;
    out[k++] = base + 1;
  }
  for (size_t s = 8192; s <= max && k + 3 <= cap; s *= 2) {
    out[k++] = s - 1;
    out[k++] = s;
    out[k++] = s + 1;
  }
  return k;
}

Test(slab_sizes, sweep_of_large_sizes_beyond_slab_size) {
  size_t sizes[256], ps = t_page();
  size_t k = sweep_sizes(sizes, 256, 4 * MiB + 1);
  for (size_t i = 0; i < k; i++) {
    size_t n = sizes[i];
    unsigned char *p = oh_alloc(n);
    cr_assert(p != NULL, "oh_alloc(%zu) failed: %s", n, t_errname(errno));
    cr_expect_eq((uintptr_t)p % 16, 0, "oh_alloc(%zu) = %p not 16-byte aligned", n, (void *)p);
    if (n % ps == 0)
      cr_expect_eq((uintptr_t)p % ps, 0, "oh_alloc(%zu) (a multiple of the page) = %p not page aligned",
                   n, (void *)p);
    size_t u = oh_usable_size(p);
    cr_expect(u >= n, "oh_usable_size(oh_alloc(%zu)) = %zu", n, u);
    t_fill_sparse(p, u, t_seed(2, n));
    cr_expect_eq(t_check_sparse(p, u, t_seed(2, n)), SIZE_MAX);
    cr_expect_eq(oh_slab_refcount(oh_default_slab(), p), 1, "oh_alloc(%zu) refcount", n);
    cr_expect_eq(oh_free(p), 0, "oh_free(oh_alloc(%zu)) failed: %s", n, t_errname(errno));
  }
}

/* "allocations of a page or more are page aligned when their size is a
 * multiple of the page size": three of each page multiple, so that chunks at
 * index > 0 of a slab are checked too. */
static void page_multiples_aligned(oh_slab_t *s, size_t max, const char *cfg) {
  size_t ps = t_page();
  int bad = 0;
  for (size_t n = ps; n <= max; n += ps) {
    void *p[3];
    for (int k = 0; k < 3; k++) {
      p[k] = oh_slab_alloc(s, n);
      cr_assert(p[k] != NULL, "%s: alloc(%zu) failed", cfg, n);
      if ((uintptr_t)p[k] % ps != 0 && bad++ < 5)
        cr_expect_fail("%s: alloc(%zu pages) = %p is not page aligned (usable %zu)", cfg, n / ps,
                       p[k], oh_slab_usable_size(s, p[k]));
    }
    for (int k = 0; k < 3; k++) oh_slab_decref(s, p[k]);
  }
  cr_expect_eq(bad, 0, "%s: %d page-multiple allocations not page aligned", cfg, bad);
}

Test(slab_sizes, page_multiples_are_page_aligned_default) {
  page_multiples_aligned(oh_default_slab(), t_small() ? 256 * KiB : 2 * MiB, "default");
}
Test(slab_sizes, page_multiples_are_page_aligned_growth_1_5) {
  oh_slab_config_t cfg = {16, MiB, 1.5};
  oh_slab_t *s = oh_slab_new(&cfg);
  cr_assert(s != NULL);
  page_multiples_aligned(s, t_small() ? 256 * KiB : MiB, "{16, 1 MiB, 1.5}");
  oh_slab_destroy(s);
}
Test(slab_sizes, page_multiples_are_page_aligned_growth_1_1) {
  oh_slab_config_t cfg = {16, MiB, 1.1};
  oh_slab_t *s = oh_slab_new(&cfg);
  cr_assert(s != NULL, "{16, 1 MiB, 1.1} refused: %s", t_errname(errno));
  page_multiples_aligned(s, t_small() ? 256 * KiB : MiB, "{16, 1 MiB, 1.1}");
  oh_slab_destroy(s);
}

/* With OH_OPT_PAGE_RUNS, sizes from 16 KiB to a quarter slab are runs of
 * whole pages (runs.c). */
Test(slab_sizes, usable_size_is_the_smallest_fitting_class_or_whole_pages) {
  oh_slab_t *d = oh_default_slab();
  int nc = oh_slab_class_count(d);
  cr_assert(nc > 0);
  size_t last = oh_slab_class_size(d, nc - 1);
  bool runs = oh_option_get(OH_OPT_PAGE_RUNS) != 0; /* the default; OFFHEAP_PAGE_RUNS=0: make test-c-classes */
  uint64_t rng = 7;
  for (int i = 0; i < 2000; i++) {
    size_t n = 1 + t_rand(&rng) % last;
    void *p = oh_alloc(n);
    cr_assert(p != NULL);
    size_t u = oh_usable_size(p);
    size_t want = 0;
    if (runs && n >= 16 * KiB && n <= 256 * KiB) want = (n + 4095) / 4096 * 4096; /* a run of whole pages */
    for (int c = 0; c < nc && want == 0; c++) {
      size_t cs = oh_slab_class_size(d, c);
      if (cs >= n) {
        want = cs;
        break;
      }
    }
    cr_expect_eq(u, want, "oh_alloc(%zu): usable %zu, smallest fitting class is %zu", n, u, want);
    cr_expect_eq(oh_slab_usable_size(d, p), u, "oh_slab_usable_size differs from oh_usable_size");
    oh_free(p);
  }
}

Test(slab_sizes, alloc_zero_is_a_minimal_distinct_allocation) {
  t_cap_install();
  void *a = oh_alloc(0), *b = oh_alloc(0);
  cr_assert(a != NULL && b != NULL, "oh_alloc(0) returned NULL: %s", t_errname(errno));
  cr_expect_neq(a, b, "two oh_alloc(0) returned the same pointer");
  cr_expect(oh_usable_size(a) >= 1, "oh_usable_size(oh_alloc(0)) = 0");
  cr_expect_eq((uintptr_t)a % 16, 0);
  cr_expect_eq(oh_free(a), 0);
  cr_expect_eq(oh_free(b), 0);
  void *c = oh_calloc(0);
  cr_expect(c != NULL, "oh_calloc(0) returned NULL");
  cr_expect_eq(oh_free(c), 0);
  T_EXPECT_NO_HANDLER("oh_alloc(0)/oh_free");
  t_cap_remove();
}

Test(slab_sizes, calloc_zeroes_reused_chunks) {
  const size_t sizes[] = {1, 16, 100, 1000, 4096, 40000, 300 * KiB, MiB, 3 * MiB};
  for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
    size_t n = sizes[i];
    for (int round = 0; round < (t_small() ? 1 : 4); round++) {
      /* dirty chunks of this class, free them, then calloc: the cache hands the
       * same chunks back, and they must come back zeroed */
      void *dirty[8];
      for (int k = 0; k < 8; k++) {
        dirty[k] = oh_alloc(n);
        cr_assert(dirty[k] != NULL);
        memset(dirty[k], 0xA5, oh_usable_size(dirty[k]));
      }
      for (int k = 0; k < 8; k++) oh_free(dirty[k]);
      void *z[8];
      for (int k = 0; k < 8; k++) {
        z[k] = oh_calloc(n);
        cr_assert(z[k] != NULL, "oh_calloc(%zu) failed", n);
        cr_expect(t_all_zero(z[k], n), "oh_calloc(%zu) returned non-zero bytes (round %d)", n,
                  round);
      }
      for (int k = 0; k < 8; k++) oh_free(z[k]);
    }
  }
}

Test(slab_sizes, huge_sizes_fail_cleanly) {
  t_cap_install();
  /* initialise the default instance and its metadata before measuring */
  cr_assert_eq(oh_free(oh_alloc(100)), 0);
  cr_assert_eq(oh_free(oh_alloc(2 * MiB)), 0);
  t_counters_t before = t_counters(NULL);
  const size_t sizes[] = {SIZE_MAX, SIZE_MAX - 15, SIZE_MAX - t_page() + 2, SIZE_MAX / 2,
                          (size_t)1 << 56};
  for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
    char what[80];
    snprintf(what, sizeof what, "oh_alloc(%zu)", sizes[i]);
    t_cap_reset();
    errno = 0;
    void *p = oh_alloc(sizes[i]);
    int e = errno;
    T_EXPECT_ERR(what, p == NULL, e, NULL, EINVAL, ENOMEM);
    snprintf(what, sizeof what, "oh_calloc(%zu)", sizes[i]);
    t_cap_reset();
    errno = 0;
    p = oh_calloc(sizes[i]);
    e = errno;
    T_EXPECT_ERR(what, p == NULL, e, NULL, EINVAL, ENOMEM);
  }
  /* sizes that cannot be represented after rounding are EINVAL, not ENOMEM */
  errno = 0;
  cr_expect(oh_alloc(SIZE_MAX) == NULL);
  cr_expect_eq(errno, EINVAL, "oh_alloc(SIZE_MAX): errno %s, want EINVAL", t_errname(errno));
  t_counters_t after = t_counters(NULL);
  EXPECT_COUNTERS_UNCHANGED(before, after, "failed huge oh_alloc");
  cr_expect_eq(after.mapped_bytes, before.mapped_bytes, "failed huge oh_alloc changed mapped_bytes");
  /* still works */
  void *p = oh_alloc(100);
  cr_expect(p != NULL);
  cr_expect_eq(oh_free(p), 0);
  t_cap_remove();
}

Test(slab_sizes, free_null_is_a_silent_no_op) {
  t_cap_install();
  errno = 0;
  cr_expect_eq(oh_free(NULL), 0);
  T_EXPECT_NO_HANDLER("oh_free(NULL)");
  t_cap_remove();
}

/* ---- class tables -------------------------------------------------------- */

/* For growth <= 2 the step between classes is checked against the growth
 * factor; larger factors are not checked for it. */
static void expect_sane_classes(oh_slab_t *s, size_t min_chunk, size_t slab_size, double growth,
                                const char *cfg) {
  int nc = oh_slab_class_count(s);
  cr_assert(nc > 0 && nc <= OH_MAX_CLASSES, "%s: class count %d", cfg, nc);
  size_t prev = 0;
  for (int i = 0; i < nc; i++) {
    size_t c = oh_slab_class_size(s, i);
    cr_expect(c > prev, "%s: class %d size %zu not above class %d size %zu", cfg, i, c, i - 1, prev);
    cr_expect_eq(c % 16, 0, "%s: class %d size %zu not a multiple of 16", cfg, i, c);
    cr_expect(c <= slab_size, "%s: class %d size %zu above the slab size %zu", cfg, i, c, slab_size);
    /* consecutive classes differ by at most the growth factor, give or take
     * the grid (16 bytes, or 1/64 of the power of two) */
    if (i > 0 && growth <= 2.0)
      cr_expect((double)c <= (double)prev * growth * (1.0 + 1.0 / 64) + 16, "%s: class %d jumps from %zu to %zu", cfg, i, prev, c);
    prev = c;
  }
  cr_expect_eq(oh_slab_class_size(s, 0), min_chunk, "%s: first class %zu, want %zu", cfg,
               oh_slab_class_size(s, 0), min_chunk);
}

Test(slab_classes, default_instance_table_is_monotonic) {
  oh_slab_t *d = oh_default_slab();
  cr_assert(d != NULL);
  cr_expect_eq(oh_default_slab(), d, "oh_default_slab() not stable");
  expect_sane_classes(d, 16, MiB, 1.125, "default");
}

/* x and y have the same classes. */
static void expect_same_classes(oh_slab_t *x, oh_slab_t *y, const char *what) {
  cr_assert_eq(oh_slab_class_count(x), oh_slab_class_count(y), "%s: %d classes against %d", what, oh_slab_class_count(x),
               oh_slab_class_count(y));
  for (int i = 0; i < oh_slab_class_count(y); i++)
    cr_expect_eq(oh_slab_class_size(x, i), oh_slab_class_size(y, i), "class %d differs (%s)", i, what);
}

/* The process-wide instance's classes are those of growth 1.125 (heap.c:
 * it serves every size at once); an instance's default is 1.25. */
Test(slab_classes, null_and_zero_config_equal_the_defaults) {
  oh_slab_config_t zero = {0, 0, 0}, fine = {0, 0, 1.125}, coarse = {16, MiB, 1.25};
  oh_slab_t *a = oh_slab_new(NULL), *b = oh_slab_new(&zero), *f = oh_slab_new(&fine), *c = oh_slab_new(&coarse);
  oh_slab_t *d = oh_default_slab();
  cr_assert(a && b && f && c, "oh_slab_new with defaults failed: %s", t_errname(errno));
  expect_same_classes(a, c, "NULL");
  expect_same_classes(b, c, "zero");
  expect_same_classes(f, d, "process-wide");
  cr_expect_gt(oh_slab_class_count(d), oh_slab_class_count(c) + 30, "the process-wide instance has %d classes, an instance %d",
               oh_slab_class_count(d), oh_slab_class_count(c));
  cr_expect_eq(oh_slab_destroy(a), 0);
  cr_expect_eq(oh_slab_destroy(b), 0);
  cr_expect_eq(oh_slab_destroy(f), 0);
  cr_expect_eq(oh_slab_destroy(c), 0);
}

Test(slab_classes, go_slab_config_starts_at_48_and_at_most_doubles) {
  oh_slab_config_t cfg = {48, MiB, 2.0};
  oh_slab_t *s = oh_slab_new(&cfg);
  cr_assert(s != NULL, "oh_slab_new{48, 1 MiB, 2} failed: %s", t_errname(errno));
  int nc = oh_slab_class_count(s);
  /* 48 .. 1 MiB with steps of at most 2x: 15 (48 * 2^k) to 17 classes, plus
   * up to 6 page multiples below 8 pages (3, 5, 6, 7 pages ...) that keep
   * page-multiple requests page aligned */
  cr_expect(nc >= 15 && nc <= 23, "class count %d for {48, 1 MiB, 2}", nc);
  expect_sane_classes(s, 48, MiB, 2.0, "{48, 1 MiB, 2}");
  /* go-slab's sizes are served with at most 2x waste */
  for (size_t n = 48; n <= MiB / 2; n *= 2) {
    void *p = oh_slab_alloc(s, n);
    cr_assert(p != NULL);
    size_t u = oh_slab_usable_size(s, p);
    cr_expect(u >= n && u <= 2 * n, "{48, 1 MiB, 2}: alloc(%zu) usable %zu", n, u);
    oh_slab_decref(s, p);
  }
  cr_expect_eq(oh_slab_destroy(s), 0);
}

Test(slab_classes, min_chunk_rounds_up_to_16) {
  const size_t mins[][2] = {{1, 16}, {16, 16}, {17, 32}, {100, 112}, {48, 48}};
  for (size_t i = 0; i < sizeof mins / sizeof mins[0]; i++) {
    oh_slab_config_t cfg = {mins[i][0], 0, 0};
    oh_slab_t *s = oh_slab_new(&cfg);
    cr_assert(s != NULL, "oh_slab_new(min_chunk %zu) failed", mins[i][0]);
    cr_expect_eq(oh_slab_class_size(s, 0), mins[i][1], "min_chunk %zu: first class %zu, want %zu",
                 mins[i][0], oh_slab_class_size(s, 0), mins[i][1]);
    void *p = oh_slab_alloc(s, 1);
    cr_assert(p != NULL);
    cr_expect_eq(oh_slab_usable_size(s, p), mins[i][1], "min_chunk %zu: usable size of alloc(1)",
                 mins[i][0]);
    oh_slab_destroy(s);
  }
}

Test(slab_classes, class_queries_reject_bad_arguments) {
  t_cap_install();
  oh_slab_t *d = oh_default_slab();
  int nc = oh_slab_class_count(d);
  const int bad[] = {-1, nc, nc + 1, OH_MAX_CLASSES, 1 << 30};
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    char what[64];
    snprintf(what, sizeof what, "oh_slab_class_size(default, %d)", bad[i]);
    t_cap_reset();
    errno = 0;
    size_t c = oh_slab_class_size(d, bad[i]);
    int e = errno;
    T_EXPECT_ERR(what, c == 0, e, NULL, EINVAL);
  }
  t_cap_reset();
  errno = 0;
  int n = oh_slab_class_count(NULL);
  int e = errno;
  T_EXPECT_ERR("oh_slab_class_count(NULL)", n == -1, e, NULL, EINVAL);
  t_cap_reset();
  errno = 0;
  size_t c = oh_slab_class_size(NULL, 0);
  e = errno;
  T_EXPECT_ERR("oh_slab_class_size(NULL, 0)", c == 0, e, NULL, EINVAL);
  t_cap_remove();
}

/* ---- custom configurations ----------------------------------------------- */

static void exercise_config(size_t min_chunk, size_t slab_size, double growth) {
  char cfgname[96];
  snprintf(cfgname, sizeof cfgname, "{min %zu, slab %zu, growth %g}", min_chunk, slab_size, growth);
  oh_slab_config_t cfg = {min_chunk, slab_size, growth};
  oh_slab_t *s = oh_slab_new(&cfg);
  cr_assert(s != NULL, "oh_slab_new%s failed: %s", cfgname, t_errname(errno));
  size_t eff_slab = slab_size ? slab_size : MiB;
  size_t eff_min = min_chunk ? (min_chunk + 15) / 16 * 16 : 16;
  expect_sane_classes(s, eff_min, eff_slab, growth ? growth : 1.25, cfgname);

  /* sizes from 1 to 3x the slab size */
  size_t step = t_small() ? 4099 : 997;
  size_t count = 0, large = 0;
  void *live[4096];
  size_t lsz[4096];
  for (size_t n = 1; n <= 3 * eff_slab && count < 4096; n += (n < 4096 ? 13 : step + n / 8)) {
    unsigned char *p = oh_slab_alloc(s, n);
    cr_assert(p != NULL, "%s: oh_slab_alloc(%zu) failed: %s", cfgname, n, t_errname(errno));
    cr_expect_eq((uintptr_t)p % 16, 0, "%s: alloc(%zu) misaligned", cfgname, n);
    size_t u = oh_slab_usable_size(s, p);
    cr_expect(u >= n, "%s: usable %zu < %zu", cfgname, u, n);
    cr_expect_eq(oh_slab_refcount(s, p), 1, "%s: alloc(%zu) refcount", cfgname, n);
    t_fill_sparse(p, u, t_seed(3, count));
    if (n > eff_slab) large++;
    live[count] = p;
    lsz[count++] = u;
  }
  oh_stats_t st;
  oh_thread_flush();
  cr_assert_eq(oh_slab_stats(s, &st), 0);
  cr_expect_eq(st.large_in_use, large, "%s: large_in_use %llu, want %zu", cfgname,
               (unsigned long long)st.large_in_use, large);
  cr_expect_eq(st.allocs, count, "%s: allocs %llu, want %zu", cfgname,
               (unsigned long long)st.allocs, count);
  for (size_t i = 0; i < count; i++) {
    cr_expect_eq(t_check_sparse(live[i], lsz[i], t_seed(3, i)), SIZE_MAX,
                 "%s: allocation #%zu (%zu bytes) overwritten", cfgname, i, lsz[i]);
    /* large ones are reference counted too */
    cr_expect_eq(oh_slab_addref(s, live[i]), 0, "%s: addref #%zu", cfgname, i);
    cr_expect_eq(oh_slab_decref(s, live[i]), 0, "%s: decref #%zu with 2 refs", cfgname, i);
    cr_expect_eq(oh_slab_decref(s, live[i]), 1, "%s: last decref #%zu", cfgname, i);
  }
  oh_thread_flush();
  cr_assert_eq(oh_slab_stats(s, &st), 0);
  cr_expect_eq(st.in_use_bytes, 0, "%s: in_use %llu after freeing everything", cfgname,
               (unsigned long long)st.in_use_bytes);
  cr_expect_eq(st.large_in_use, 0);
  cr_expect_eq(oh_slab_destroy(s), 0);
}

Test(slab_config, small_slabs_fine_classes) { exercise_config(16, 64 * KiB, 1.25); }
Test(slab_config, go_slab_like) { exercise_config(48, MiB, 2.0); }
Test(slab_config, odd_min_chunk_mid_slab_growth_1_5) { exercise_config(100, 256 * KiB, 1.5); }
Test(slab_config, big_slabs) { exercise_config(16, 4 * MiB, 1.25); }
Test(slab_config, defaults_by_zero_fields) { exercise_config(0, 0, 0); }
/* One or two classes: sizes between the last class and the slab size must
 * still be served (by a class or by pages). */
Test(slab_config, huge_growth_still_serves_every_size) { exercise_config(16, 64 * KiB, 1000.0); }

Test(slab_config, infinite_growth_refused_or_working) {
  oh_slab_config_t cfg = {16, 64 * KiB, INFINITY};
  errno = 0;
  oh_slab_t *s = oh_slab_new(&cfg);
  if (s == NULL) {
    cr_expect_eq(errno, EINVAL, "growth inf: errno %s", t_errname(errno));
    return;
  }
  void *p = oh_slab_alloc(s, 100), *q = oh_slab_alloc(s, 60000);
  cr_expect(p && q, "growth inf accepted but allocations fail");
  cr_expect(oh_slab_usable_size(s, q) >= 60000);
  oh_slab_destroy(s);
}

Test(slab_config, bad_configs_are_einval) {
  t_cap_install();
  struct {
    oh_slab_config_t cfg;
    const char *what;
  } bad[] = {
      {{16, MiB, 1.0}, "growth 1.0"},
      {{16, MiB, 0.5}, "growth 0.5"},
      {{16, MiB, -1.0}, "growth -1"},
      {{16, MiB, NAN}, "growth NaN"},
      {{16, MiB, 1.0 + 1e-12}, "growth 1+1e-12 (too many classes)"},
      {{16, MiB, 1.001}, "growth 1.001 (too many classes)"},
      {{16, MiB, 1.01}, "growth 1.01 (too many classes)"},
      {{16, 32 * KiB, 1.25}, "slab 32 KiB (< 64 KiB)"},
      {{16, 4096, 1.25}, "slab 4 KiB"},
      {{16, 1, 1.25}, "slab 1"},
      {{16, 64 * KiB + 1, 1.25}, "slab 64 KiB + 1 (not a power of two)"},
      {{16, 3 * MiB, 1.25}, "slab 3 MiB (not a power of two)"},
      {{16, MiB + 64 * KiB, 1.25}, "slab 1 MiB + 64 KiB"},
      {{16, SIZE_MAX, 1.25}, "slab SIZE_MAX"},
      {{2 * MiB, MiB, 1.25}, "min_chunk above slab size"},
      {{SIZE_MAX, MiB, 1.25}, "min_chunk SIZE_MAX (rounding to 16 overflows)"},
      {{SIZE_MAX - 7, MiB, 1.25}, "min_chunk SIZE_MAX-7"},
  };
  t_counters_t before = t_counters(NULL);
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    char what[128];
    snprintf(what, sizeof what, "oh_slab_new(%s)", bad[i].what);
    t_cap_reset();
    errno = 0;
    oh_slab_t *s = oh_slab_new(&bad[i].cfg);
    int e = errno;
    T_EXPECT_ERR(what, s == NULL, e, NULL, EINVAL);
    if (s) oh_slab_destroy(s);
  }
  t_counters_t after = t_counters(NULL);
  cr_expect_eq(after.mapped_bytes, before.mapped_bytes, "refused configs left memory mapped");
  t_cap_remove();
}

Test(slab_config, null_instance_is_einval_everywhere) {
  t_cap_install();
  void *p = oh_alloc(32);
  cr_assert(p != NULL);
  oh_stats_t st;
  int e;
#define NULL_CASE(what, failed_expr)                                                       \
  do {                                                                                     \
    t_cap_reset();                                                                         \
    errno = 0;                                                                             \
    int failed_ = (failed_expr);                                                           \
    e = errno;                                                                             \
    T_EXPECT_ERR(what, failed_, e, NULL, EINVAL);                                          \
  } while (0)
  NULL_CASE("oh_slab_alloc(NULL, 16)", oh_slab_alloc(NULL, 16) == NULL);
  NULL_CASE("oh_slab_addref(NULL, p)", oh_slab_addref(NULL, p) == -1);
  NULL_CASE("oh_slab_decref(NULL, p)", oh_slab_decref(NULL, p) == -1);
  NULL_CASE("oh_slab_refcount(NULL, p)", oh_slab_refcount(NULL, p) == -1);
  NULL_CASE("oh_slab_usable_size(NULL, p)", oh_slab_usable_size(NULL, p) == 0);
  NULL_CASE("oh_slab_destroy(NULL)", oh_slab_destroy(NULL) == -1);
  NULL_CASE("oh_slab_stats(NULL, &st)", oh_slab_stats(NULL, &st) == -1);
  NULL_CASE("oh_slab_stats(default, NULL)", oh_slab_stats(oh_default_slab(), NULL) == -1);
  NULL_CASE("oh_stats(NULL)", oh_stats(NULL) == -1);
  void *out[4];
  size_t badi = 0;
  NULL_CASE("oh_slab_alloc_batch(NULL, ...)", oh_slab_alloc_batch(NULL, 0, out, 4) == 0);
  NULL_CASE("oh_slab_alloc_batch(s, 0, NULL, 4)",
            oh_slab_alloc_batch(oh_default_slab(), 0, NULL, 4) == 0);
  NULL_CASE("oh_slab_free_batch(NULL, ...)", oh_slab_free_batch(NULL, &p, 1, &badi) == -1);
#undef NULL_CASE
  /* p survived all of that */
  cr_expect_eq(oh_slab_refcount(oh_default_slab(), p), 1);
  cr_expect_eq(oh_free(p), 0);
  t_cap_remove();
}

Test(slab_config, destroying_the_default_instance_is_refused) {
  t_cap_install();
  void *p = oh_alloc(64);
  cr_assert(p != NULL);
  memset(p, 1, 64);
  errno = 0;
  int rc = oh_slab_destroy(oh_default_slab());
  int e = errno;
  T_EXPECT_ERR("oh_slab_destroy(oh_default_slab())", rc == -1, e, NULL, EINVAL, EBUSY);
  cr_expect_eq(oh_free(p), 0, "default allocator broken after refused destroy");
  void *q = oh_alloc(64);
  cr_expect(q != NULL);
  oh_free(q);
  t_cap_remove();
}

Test(slab_config, zero_size_slab_alloc_is_minimal_or_einval) {
  oh_slab_t *s = oh_slab_new(NULL);
  cr_assert(s != NULL);
  errno = 0;
  void *p = oh_slab_alloc(s, 0);
  if (p == NULL) {
    cr_expect_eq(errno, EINVAL, "oh_slab_alloc(s, 0) = NULL with errno %s", t_errname(errno));
  } else {
    cr_expect_eq(oh_slab_refcount(s, p), 1);
    cr_expect_eq(oh_slab_decref(s, p), 1);
  }
  oh_slab_destroy(s);
}

Test(slab_config, huge_slab_alloc_sizes_fail) {
  t_cap_install();
  oh_slab_t *s = oh_slab_new(NULL);
  cr_assert(s != NULL);
  const size_t sizes[] = {SIZE_MAX, SIZE_MAX / 2, (size_t)1 << 56};
  for (size_t i = 0; i < 3; i++) {
    char what[64];
    snprintf(what, sizeof what, "oh_slab_alloc(s, %zu)", sizes[i]);
    t_cap_reset();
    errno = 0;
    void *p = oh_slab_alloc(s, sizes[i]);
    int e = errno;
    T_EXPECT_ERR(what, p == NULL, e, NULL, EINVAL, ENOMEM);
  }
  oh_stats_t st;
  cr_assert_eq(oh_slab_stats(s, &st), 0);
  cr_expect_eq(st.allocs, 0, "failed allocations counted: %llu", (unsigned long long)st.allocs);
  cr_expect_eq(st.large_in_use, 0);
  oh_slab_destroy(s);
  t_cap_remove();
}
