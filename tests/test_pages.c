/* test_pages.c - oh_page_size, oh_map, oh_unmap: alignment, zeroing, rounding,
 * accounting, and every way of unmapping the wrong thing. */
#include "test_util.h"

#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>

static unsigned char static_area[1 << 16] __attribute__((aligned(65536)));

static size_t round_pages(size_t n) {
  size_t ps = t_page();
  return (n + ps - 1) / ps * ps;
}

Test(pages, page_size_matches_sysconf) {
  size_t ps = oh_page_size();
  cr_expect_eq(ps, (size_t)sysconf(_SC_PAGESIZE), "oh_page_size() = %zu, sysconf = %ld", ps,
               sysconf(_SC_PAGESIZE));
  cr_expect(ps >= 4096 && (ps & (ps - 1)) == 0, "page size %zu is not a power of two >= 4096", ps);
}

Test(pages, map_is_page_aligned_zeroed_and_writable_for_many_sizes) {
  size_t ps = t_page();
  const size_t sizes[] = {1, 15, ps - 1, ps, ps + 1, 3 * ps + 5, 64 * KiB + 1, MiB - 1, MiB + 1,
                          5 * MiB + 3};
  for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
    size_t n = sizes[i], full = round_pages(n);
    unsigned char *p = oh_map(n);
    cr_assert(p != NULL, "oh_map(%zu) failed: %s", n, t_errname(errno));
    cr_expect_eq((uintptr_t)p % ps, 0, "oh_map(%zu) = %p is not page aligned", n, (void *)p);
    cr_expect(t_all_zero(p, full), "oh_map(%zu) is not zeroed over its %zu rounded bytes", n,
              full);
    t_fill(p, full, t_seed(1, i));
    cr_expect_eq(t_check(p, full, t_seed(1, i)), SIZE_MAX, "oh_map(%zu) did not keep a pattern",
                 n);
    cr_expect_eq(oh_unmap(p, n), 0, "oh_unmap(%p, %zu) failed: %s", (void *)p, n,
                 t_errname(errno));
  }
}

Test(pages, map_reused_address_is_zeroed_again) {
  size_t n = 4 * t_page();
  for (int round = 0; round < 8; round++) {
    unsigned char *p = oh_map(n);
    cr_assert(p != NULL, "oh_map failed: %s", t_errname(errno));
    cr_expect(t_all_zero(p, n), "oh_map round %d returned non-zero memory", round);
    memset(p, 0xA5, n);
    cr_assert_eq(oh_unmap(p, n), 0);
  }
}

Test(pages, unmap_accepts_the_rounded_size) {
  size_t ps = t_page();
  void *p = oh_map(ps + 1);
  cr_assert(p != NULL);
  cr_expect_eq(oh_unmap(p, 2 * ps), 0, "oh_unmap with the size rounded to pages failed: %s",
               t_errname(errno));
}

Test(pages, map_zero_and_huge_sizes_fail_without_mapping_anything) {
  t_cap_install();
  t_counters_t before = t_counters(NULL);
  struct {
    size_t n;
    int want2; /* second acceptable errno, 0 = only EINVAL */
  } cases[] = {{0, 0}, {SIZE_MAX, 0}, {SIZE_MAX - t_page() + 2, 0}, {SIZE_MAX / 2, ENOMEM},
               {SIZE_MAX / 2 + 1, ENOMEM}, {(size_t)1 << 56, ENOMEM}};
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    char what[64];
    snprintf(what, sizeof what, "oh_map(%zu)", cases[i].n);
    t_cap_reset();
    errno = 0;
    void *p = oh_map(cases[i].n);
    int e = errno;
    if (cases[i].want2)
      T_EXPECT_ERR(what, p == NULL, e, NULL, EINVAL, cases[i].want2);
    else
      T_EXPECT_ERR(what, p == NULL, e, NULL, EINVAL);
  }
  t_counters_t after = t_counters(NULL);
  cr_expect_eq(after.mapped_bytes, before.mapped_bytes,
               "failed oh_map calls changed mapped_bytes %llu -> %llu",
               (unsigned long long)before.mapped_bytes, (unsigned long long)after.mapped_bytes);
  t_cap_remove();
}

Test(pages, mapped_bytes_follow_map_and_unmap) {
  size_t n = 3 * t_page() + 5;
  /* the first oh_map also maps a block of metadata cells, kept for reuse */
  cr_assert_eq(oh_unmap(oh_map(1), 1), 0);
  t_counters_t c0 = t_counters(NULL);
  void *p = oh_map(n);
  cr_assert(p != NULL);
  t_counters_t c1 = t_counters(NULL);
  cr_expect_eq(c1.mapped_bytes - c0.mapped_bytes, round_pages(n),
               "oh_map(%zu) raised mapped_bytes by %llu, want %zu", n,
               (unsigned long long)(c1.mapped_bytes - c0.mapped_bytes), round_pages(n));
  cr_assert_eq(oh_unmap(p, n), 0);
  t_counters_t c2 = t_counters(NULL);
  cr_expect_eq(c2.mapped_bytes, c0.mapped_bytes, "mapped_bytes %llu after unmap, %llu before map",
               (unsigned long long)c2.mapped_bytes, (unsigned long long)c0.mapped_bytes);
}

Test(pages, many_mappings_do_not_overlap) {
  size_t n = t_scaled(200, 10);
  t_range_t *r = calloc(n, sizeof *r);
  uint64_t rng = 42;
  for (size_t i = 0; i < n; i++) {
    size_t len = 1 + t_rand(&rng) % (256 * KiB);
    void *p = oh_map(len);
    cr_assert(p != NULL, "oh_map(%zu) #%zu failed", len, i);
    t_fill_sparse(p, len, t_seed(2, i));
    r[i].addr = (uintptr_t)p;
    r[i].len = len;
  }
  size_t bad = 0;
  /* check patterns before sorting loses the index->seed mapping */
  for (size_t i = 0; i < n; i++)
    cr_expect_eq(t_check_sparse((void *)r[i].addr, r[i].len, t_seed(2, i)), SIZE_MAX,
                 "mapping #%zu was overwritten by another", i);
  cr_expect(!t_ranges_overlap(r, n, &bad), "mappings overlap at sorted index %zu", bad);
  for (size_t i = 0; i < n; i++) cr_expect_eq(oh_unmap((void *)r[i].addr, r[i].len), 0);
  free(r);
}

/* ---- unmap misuse ----------------------------------------------------------- */

/* A mapping with a pattern that every failed unmap must leave intact. */
typedef struct victim_s {
  unsigned char *p;
  size_t n;
} victim_t;

static victim_t victim_new(size_t pages) {
  victim_t v = {NULL, pages * t_page()};
  v.p = oh_map(v.n);
  cr_assert(v.p != NULL);
  t_fill(v.p, v.n, t_seed(3, pages));
  return v;
}
static void victim_check_and_free(victim_t v, const char *after) {
  cr_expect_eq(t_check(v.p, v.n, t_seed(3, v.n / t_page())), SIZE_MAX,
               "mapping contents changed after %s", after);
  cr_expect_eq(oh_unmap(v.p, v.n), 0, "valid oh_unmap after %s failed: %s", after,
               t_errname(errno));
}

static void expect_unmap_fails(void *p, size_t n, const char *what, int want, int want2) {
  t_cap_reset();
  errno = 0;
  int rc = oh_unmap(p, n);
  int e = errno;
  if (want2)
    T_EXPECT_ERR(what, rc == -1, e, p, want, want2);
  else
    T_EXPECT_ERR(what, rc == -1, e, p, want);
}

Test(pages_misuse, unmap_foreign_pointers_is_einval) {
  t_cap_install();
  victim_t v = victim_new(4);
  size_t ps = t_page();
  char stack_buf[64];
  void *heap = malloc(4 * ps);
  void *raw = mmap(NULL, 2 * ps, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  cr_assert(raw != MAP_FAILED);
  memset(raw, 0x5C, 2 * ps);

  t_counters_t before = t_counters(NULL);
  expect_unmap_fails(NULL, ps, "oh_unmap(NULL)", EINVAL, 0);
  expect_unmap_fails(stack_buf, ps, "oh_unmap(stack address)", EINVAL, 0);
  expect_unmap_fails(heap, 4 * ps, "oh_unmap(malloc'd pointer)", EINVAL, 0);
  expect_unmap_fails(static_area, ps, "oh_unmap(static array)", EINVAL, 0);
  expect_unmap_fails((void *)0x1000, ps, "oh_unmap(0x1000)", EINVAL, 0);
  expect_unmap_fails((void *)(uintptr_t)0xc000010000ULL, ps, "oh_unmap(Go-heap-like address)",
                     EINVAL, 0);
  expect_unmap_fails(raw, 2 * ps, "oh_unmap(mapping made by mmap(2), not offheap)", EINVAL, 0);
  t_counters_t after = t_counters(NULL);
  cr_expect_eq(after.mapped_bytes, before.mapped_bytes, "failed unmaps changed mapped_bytes");

  /* nothing foreign was unmapped */
  unsigned char *rb = raw;
  cr_expect(rb[0] == 0x5C && rb[2 * ps - 1] == 0x5C, "foreign mmap(2) region was modified");
  cr_expect_eq(munmap(raw, 2 * ps), 0, "foreign mmap(2) region is no longer mapped");
  free(heap);
  victim_check_and_free(v, "foreign unmaps");
  t_cap_remove();
}

Test(pages_misuse, unmap_interior_pointer_is_efault) {
  t_cap_install();
  victim_t v = victim_new(4);
  size_t ps = t_page();
  expect_unmap_fails(v.p + ps, 3 * ps, "oh_unmap(start + 1 page)", EFAULT, 0);
  expect_unmap_fails(v.p + 16, v.n - 16, "oh_unmap(start + 16)", EFAULT, 0);
  expect_unmap_fails(v.p + 1, v.n - 1, "oh_unmap(start + 1)", EFAULT, 0);
  expect_unmap_fails(v.p + v.n - 1, 1, "oh_unmap(last byte)", EFAULT, 0);
  victim_check_and_free(v, "interior unmaps");
  t_cap_remove();
}

Test(pages_misuse, unmap_wrong_size_is_einval) {
  t_cap_install();
  victim_t v = victim_new(4);
  size_t ps = t_page();
  expect_unmap_fails(v.p, 3 * ps, "oh_unmap(size one page short)", EINVAL, 0);
  expect_unmap_fails(v.p, 5 * ps, "oh_unmap(size one page too long)", EINVAL, 0);
  expect_unmap_fails(v.p, 1, "oh_unmap(size 1)", EINVAL, 0);
  expect_unmap_fails(v.p, 0, "oh_unmap(size 0)", EINVAL, 0);
  expect_unmap_fails(v.p, SIZE_MAX, "oh_unmap(size SIZE_MAX)", EINVAL, 0);
  victim_check_and_free(v, "wrong-size unmaps");
  t_cap_remove();
}

Test(pages_misuse, unmap_twice_fails) {
  t_cap_install();
  size_t ps = t_page();
  void *p = oh_map(ps);
  cr_assert(p != NULL);
  cr_assert_eq(oh_unmap(p, ps), 0);
  t_counters_t before = t_counters(NULL);
  expect_unmap_fails(p, ps, "second oh_unmap of the same mapping", EINVAL, EALREADY);
  t_counters_t after = t_counters(NULL);
  cr_expect_eq(after.mapped_bytes, before.mapped_bytes, "failed unmap changed mapped_bytes");
  t_cap_remove();
}

Test(pages_misuse, unmap_of_allocator_chunks_fails_and_keeps_them) {
  t_cap_install();
  size_t ps = t_page();
  unsigned char *small = oh_alloc(64);
  unsigned char *large = oh_alloc(4 * MiB); /* page-served */
  cr_assert(small && large);
  t_fill(small, 64, 11);
  t_fill_sparse(large, 4 * MiB, 12);
  t_cap_reset();
  errno = 0;
  int rc = oh_unmap(small, 64);
  int e = errno;
  T_EXPECT_ERR("oh_unmap(oh_alloc(64) chunk)", rc == -1, e, small, EINVAL, EFAULT, EXDEV);
  t_cap_reset();
  errno = 0;
  rc = oh_unmap(large, 4 * MiB);
  e = errno;
  T_EXPECT_ERR("oh_unmap(oh_alloc(4 MiB) chunk)", rc == -1, e, large, EINVAL, EFAULT, EXDEV);
  cr_expect_eq(t_check(small, 64, 11), SIZE_MAX, "small chunk damaged by oh_unmap attempt");
  cr_expect_eq(t_check_sparse(large, 4 * MiB, 12), SIZE_MAX,
               "large chunk damaged by oh_unmap attempt");
  cr_expect_eq(oh_free(small), 0, "oh_free after failed oh_unmap: %s", t_errname(errno));
  cr_expect_eq(oh_free(large), 0, "oh_free after failed oh_unmap: %s", t_errname(errno));
  (void)ps;
  t_cap_remove();
}

Test(pages, large_map_is_zeroed) {
  size_t n = t_small() ? 4 * MiB : 64 * MiB;
  unsigned char *p = oh_map(n);
  cr_assert(p != NULL, "oh_map(%zu) failed: %s", n, t_errname(errno));
  cr_expect(t_all_zero(p, n), "oh_map(%zu) is not zeroed", n);
  cr_expect_eq(oh_unmap(p, n), 0);
}
