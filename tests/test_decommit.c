/* test_decommit.c - oh_decommit: exactly the whole pages strictly inside the
 * range, never a byte outside it, on any memory (offheap's, mmap(2)'s, malloc's,
 * static, stack), the range stays usable, and RSS really drops. */
#include "test_util.h"

#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>

/* Bytes oh_decommit must report for [addr, addr+len). */
static size_t expected_decommit(uintptr_t addr, size_t len) {
  uintptr_t ps = t_page();
  uintptr_t lo = (addr + ps - 1) / ps * ps;
  uintptr_t hi = (addr + len) / ps * ps;
  return hi > lo ? (size_t)(hi - lo) : 0;
}

/* Fills buf[0, n) with a pattern, decommits [buf+off, buf+off+len), then checks
 * the return value, that every byte outside the decommitted pages kept the
 * pattern, that bytes inside read as zero or as the old data, and that the
 * pages are writable again. Returns 0 if something failed. */
static int decommit_and_verify(unsigned char *buf, size_t n, size_t off, size_t len,
                               const char *where) {
  uint64_t seed = t_seed(7, off * 131 + len);
  t_fill(buf, n, seed);
  size_t want = expected_decommit((uintptr_t)(buf + off), len);
  errno = 0;
  size_t got = oh_decommit(buf + off, len);
  int ok = 1;
  cr_expect_eq(got, want, "%s: oh_decommit(base+%zu, %zu) = %zu, want %zu", where, off, len, got,
               want);
  ok &= got == want;
  size_t ps = t_page();
  uintptr_t a = (uintptr_t)(buf + off);
  size_t lo = want ? (size_t)((a + ps - 1) / ps * ps - (uintptr_t)buf) : 0;
  size_t hi = want ? lo + want : 0;
  size_t bad = t_check_range(buf, 0, lo, seed);
  if (bad == SIZE_MAX) bad = t_check_range(buf, hi, n - hi, seed);
  cr_expect_eq(bad, SIZE_MAX,
               "%s: oh_decommit(base+%zu, %zu) changed byte %zu outside the decommitted pages "
               "[%zu, %zu)",
               where, off, len, bad, lo, hi);
  ok &= bad == SIZE_MAX;
  /* inside: zero or the old data, byte by byte */
  size_t odd = SIZE_MAX;
  for (size_t i = lo; i < hi && odd == SIZE_MAX; i++)
    if (buf[i] != 0 && t_check_range(buf, i, 1, seed) != SIZE_MAX) odd = i;
  cr_expect_eq(odd, SIZE_MAX, "%s: decommitted byte %zu is neither zero nor the old data", where,
               odd);
  ok &= odd == SIZE_MAX;
  /* still usable */
  t_fill(buf, n, seed ^ 1);
  bad = t_check(buf, n, seed ^ 1);
  cr_expect_eq(bad, SIZE_MAX, "%s: range not writable after decommit (byte %zu)", where, bad);
  return ok && bad == SIZE_MAX;
}

static void decommit_grid(unsigned char *region, size_t region_len, const char *where) {
  size_t ps = t_page();
  const size_t offs[] = {0, 1, 15, ps - 1, ps, ps + 1, 2 * ps - 3};
  const size_t lens[] = {0, 1, ps - 1, ps, ps + 1, 2 * ps - 1, 2 * ps, 2 * ps + 1, 3 * ps,
                         5 * ps + 7};
  cr_assert(region_len >= 2 * ps + 5 * ps + 7 + ps, "region too small for the grid");
  int failures = 0;
  for (size_t i = 0; i < sizeof offs / sizeof offs[0]; i++)
    for (size_t j = 0; j < sizeof lens / sizeof lens[0]; j++)
      if (!decommit_and_verify(region, region_len, offs[i], lens[j], where)) failures++;
  cr_expect_eq(failures, 0, "%s: %d offset/length combinations failed", where, failures);
}

Test(decommit, exact_pages_on_offheap_mapping) {
  size_t n = 10 * t_page();
  unsigned char *p = oh_map(n);
  cr_assert(p != NULL);
  decommit_grid(p, n, "oh_map region");
  cr_expect_eq(oh_unmap(p, n), 0);
}

Test(decommit, exact_pages_on_foreign_mmap) {
  size_t ps = t_page(), n = 10 * ps;
  unsigned char *p = mmap(NULL, n, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  cr_assert(p != MAP_FAILED);
  decommit_grid(p, n, "mmap(2) region");
  /* the region is still ours and mapped */
  cr_expect_eq(munmap(p, n), 0);
}

Test(decommit, exact_pages_with_lazy_madv_free_advice) {
  t_opt_save_t saved = t_opt_set(OH_OPT_DECOMMIT_ADVICE, 1);
  size_t n = 10 * t_page();
  unsigned char *p = oh_map(n);
  cr_assert(p != NULL);
  decommit_grid(p, n, "oh_map region, MADV_FREE");
  cr_expect_eq(oh_unmap(p, n), 0);
  t_opt_restore(saved);
}

Test(decommit, malloced_memory_keeps_bytes_outside_range) {
  size_t ps = t_page(), n = 10 * ps + 123;
  unsigned char *m = malloc(n);
  cr_assert(m != NULL);
  /* odd offsets and lengths: malloc's block is not page aligned */
  cr_expect(decommit_and_verify(m, n, 5, n - 9, "malloc'd block"));
  cr_expect(decommit_and_verify(m, n, 3 * ps / 2, 2 * ps, "malloc'd block"));
  cr_expect(decommit_and_verify(m, n, 0, n, "malloc'd block"));
  free(m);
  /* the malloc heap is not corrupted */
  void *again = malloc(n);
  cr_expect(again != NULL);
  free(again);
}

static unsigned char static_buf[1 << 20];

Test(decommit, static_buffer_of_several_pages) {
  size_t ps = t_page(), n = 8 * ps + 100;
  cr_assert(n <= sizeof static_buf, "page size %zu too large for the static buffer", ps);
  cr_expect(decommit_and_verify(static_buf, n, 7, 6 * ps, "static buffer"));
  cr_expect(decommit_and_verify(static_buf, n, 0, n, "static buffer"));
}

Test(decommit, stack_buffer_of_several_pages) {
  size_t ps = t_page(), n = 6 * ps + 100;
  unsigned char buf[n];
  cr_expect(decommit_and_verify(buf, n, 3, n - 6, "stack buffer"));
  cr_expect(decommit_and_verify(buf, n, ps / 2, 2 * ps, "stack buffer"));
}

Test(decommit, inside_a_live_allocation_keeps_it_valid) {
  size_t n = 3 * MiB; /* page-served */
  unsigned char *p = oh_alloc(n);
  cr_assert(p != NULL);
  cr_expect(decommit_and_verify(p, n, 100, 2 * MiB, "live oh_alloc(3 MiB)"));
  t_fill_sparse(p, n, 99);
  cr_expect_eq(t_check_sparse(p, n, 99), SIZE_MAX);
  cr_expect_eq(oh_free(p), 0, "oh_free after decommitting inside the allocation: %s",
               t_errname(errno));
  unsigned char *q = oh_alloc(256 * KiB); /* slab-served */
  cr_assert(q != NULL);
  cr_expect(decommit_and_verify(q, 256 * KiB, 1, 200 * KiB, "live oh_alloc(256 KiB)"));
  cr_expect_eq(oh_free(q), 0);
}

Test(decommit, null_and_sub_page_ranges_return_zero) {
  size_t ps = t_page();
  cr_expect_eq(oh_decommit(NULL, 0), 0);
  cr_expect_eq(oh_decommit(NULL, 16 * ps), 0, "oh_decommit(NULL, 16 pages) decommitted something");
  unsigned char *p = oh_map(4 * ps);
  cr_assert(p != NULL);
  t_fill(p, 4 * ps, 5);
  cr_expect_eq(oh_decommit(p, 0), 0);
  cr_expect_eq(oh_decommit(p, ps - 1), 0);
  cr_expect_eq(oh_decommit(p + 1, ps), 0, "[p+1, p+1+page) holds no whole page");
  cr_expect_eq(oh_decommit(p + ps - 1, ps), 0, "[p+ps-1, p+2ps-1) holds no whole page");
  cr_expect_eq(oh_decommit(p + 1, 2 * ps - 2), 0, "[p+1, p+2ps-1) holds no whole page");
  cr_expect_eq(t_check(p, 4 * ps, 5), SIZE_MAX, "a sub-page decommit changed memory");
  cr_expect_eq(oh_unmap(p, 4 * ps), 0);
}

Test(decommit, wrapping_range_decommits_nothing) {
  t_cap_install();
  size_t ps = t_page();
  unsigned char *p = oh_map(16 * ps);
  cr_assert(p != NULL);
  t_fill(p, 16 * ps, 6);
  /* addr + len wraps around the address space: the range is not
   * representable, and "the pages inside" must not become "everything above
   * addr", which would zero this very mapping and everything after it. */
  size_t got = oh_decommit(p + ps, SIZE_MAX);
  cr_expect_eq(got, 0, "oh_decommit(p, SIZE_MAX) returned %zu", got);
  got = oh_decommit(p + ps, SIZE_MAX - (uintptr_t)p + 2 * ps);
  cr_expect_eq(got, 0, "oh_decommit with addr+len wrapping to a small address returned %zu", got);
  cr_expect_eq(t_check(p, 16 * ps, 6), SIZE_MAX,
               "a wrapping oh_decommit destroyed memory after addr");
  cr_expect_eq(oh_unmap(p, 16 * ps), 0);
  t_cap_remove();
}

Test(decommit, unmapped_range_reports_os_error) {
  t_cap_install();
  size_t ps = t_page();
  void *p = mmap(NULL, 4 * ps, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  cr_assert(p != MAP_FAILED);
  cr_assert_eq(munmap(p, 4 * ps), 0);
  t_cap_reset();
  errno = 0;
  size_t got = oh_decommit(p, 4 * ps);
  int e = errno;
  T_EXPECT_ERR("oh_decommit(unmapped range)", got == 0, e, p, ENOMEM, EINVAL, EFAULT);
  t_cap_remove();
}

/* ---- RSS ------------------------------------------------------------------- */

static void decommit_rss(unsigned char *p, size_t n, const char *what) {
  t_touch(p, n);
  size_t before = t_rss();
  size_t got = oh_decommit(p, n);
  size_t after = t_rss();
  cr_expect_eq(got, n, "%s: oh_decommit(%zu bytes) returned %zu", what, n, got);
  if (t_no_rss()) {
    cr_log_info("%s: OH_TEST_NO_RSS set, RSS comparison skipped", what);
  } else {
    size_t drop = before > after ? before - after : 0;
    cr_expect(drop >= n - n / 16, "%s: RSS fell by %zu KiB after decommitting %zu KiB", what,
              drop / KiB, n / KiB);
  }
  /* still mapped, usable and writable */
  t_fill_sparse(p, n, 77);
  cr_expect_eq(t_check_sparse(p, n, 77), SIZE_MAX, "%s: range not usable after decommit", what);
}

Test(decommit_rss, rss_drops_by_decommitted_bytes_on_oh_map) {
  t_opt_save_t saved = t_opt_set(OH_OPT_DECOMMIT_ADVICE, 0);
  size_t n = t_small() ? 8 * MiB : 64 * MiB;
  unsigned char *p = oh_map(n);
  cr_assert(p != NULL);
  decommit_rss(p, n, "oh_map region");
  cr_expect_eq(oh_unmap(p, n), 0);
  t_opt_restore(saved);
}

Test(decommit_rss, rss_drops_on_foreign_mmap_and_partial_range) {
  t_opt_save_t saved = t_opt_set(OH_OPT_DECOMMIT_ADVICE, 0);
  size_t n = t_small() ? 8 * MiB : 64 * MiB, ps = t_page();
  unsigned char *p = mmap(NULL, n, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  cr_assert(p != MAP_FAILED);
  decommit_rss(p, n, "mmap(2) region");
  /* a range one byte short of page boundaries on both ends decommits two
   * pages fewer and keeps the edge pages resident */
  t_touch(p, n);
  size_t got = oh_decommit(p + 1, n - 2);
  cr_expect_eq(got, n - 2 * ps, "unaligned whole-region decommit returned %zu, want %zu", got,
               n - 2 * ps);
  cr_expect_eq(munmap(p, n), 0);
  t_opt_restore(saved);
}
