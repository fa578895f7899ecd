/* test_decommit_ranges.c - decommitting many ranges in one call
 * (ohi_os_decommit_ranges, ohi_pages_decommit_ranges): the purge walk hands
 * its due runs of pages over in batches, which Linux 6.13+ takes in one
 * process_madvise call. Every range that goes reads as zero and is counted;
 * a range the OS refuses (or the tests' injection) stays as it was, and the
 * others go all the same - with the vector call and without it (a kernel
 * that lacks it).
 */
#include "test_util.h"

#include "internal.h" /* the OS layer and its test switch (tests are built with -Ic/src) */

enum { NPAGES = 12 };

static char *map_pages(size_t n, int fill) {
  void *p = NULL;
  cr_assert_eq(ohi_os_map(n * ohi_os_page_size(), ohi_os_page_size(), &p), 0);
  memset(p, fill, n * ohi_os_page_size());
  return p;
}

/* Whether page pg of p reads all zero (want) or all fill. */
static void expect_page(const char *p, size_t pg, bool zero, int fill, const char *how) {
  size_t ps = ohi_os_page_size();
  for (size_t i = 0; i < ps; i++)
    if (p[pg * ps + i] != (zero ? 0 : (char)fill)) {
      cr_expect_fail("%s: page %zu byte %zu is %d, not %d", how, pg, i, p[pg * ps + i], zero ? 0 : fill);
      return;
    }
}

static void scattered_ranges_go(bool vector) {
  size_t ps = ohi_os_page_size();
  char *p = map_pages(NPAGES, 0x5a);
  /* pages 0, 2-3, 6, 8-10: four ranges */
  ohi_range_t r[] = {{p, ps}, {p + 2 * ps, 2 * ps}, {p + 6 * ps, ps}, {p + 8 * ps, 3 * ps}};
  bool ok[4] = {false, false, false, false};
  ohi_test_os_vector(vector);
  size_t got = ohi_os_decommit_ranges(r, 4, 0, ok);
  ohi_test_os_vector(1);
  cr_expect_eq(got, 4, "%zu of 4 ranges went", got);
  for (int i = 0; i < 4; i++) cr_expect(ok[i], "range %d did not go", i);
  for (size_t pg = 0; pg < NPAGES; pg++) {
    bool gone = pg == 0 || pg == 2 || pg == 3 || pg == 6 || (pg >= 8 && pg <= 10);
    expect_page(p, pg, gone, 0x5a, vector ? "vector" : "one by one");
  }
  cr_assert_eq(ohi_os_unmap(p, NPAGES * ps), 0);
}

Test(decommit_ranges, scattered_ranges_read_as_zero_the_rest_is_kept) { scattered_ranges_go(true); }
Test(decommit_ranges, scattered_ranges_go_one_by_one_without_the_vector_call) { scattered_ranges_go(false); }

/* A range the OS refuses (unmapped memory: ENOMEM) fails alone. */
static void a_refused_range_fails_alone(bool vector) {
  size_t ps = ohi_os_page_size();
  char *p = map_pages(3, 0x33);
  cr_assert_eq(ohi_os_unmap(p + ps, ps), 0);
  ohi_range_t r[] = {{p, ps}, {p + ps, ps}, {p + 2 * ps, ps}};
  bool ok[3] = {false, true, false};
  ohi_test_os_vector(vector);
  size_t got = ohi_os_decommit_ranges(r, 3, 0, ok);
  ohi_test_os_vector(1);
  cr_expect(got == 2 && ok[0] && !ok[1] && ok[2], "%zu went: %d %d %d", got, ok[0], ok[1], ok[2]);
  expect_page(p, 0, true, 0x33, "before the hole");
  expect_page(p, 2, true, 0x33, "after the hole");
  cr_assert_eq(ohi_os_unmap(p, ps), 0);
  cr_assert_eq(ohi_os_unmap(p + 2 * ps, ps), 0);
}

Test(decommit_ranges, a_refused_range_fails_alone) { a_refused_range_fails_alone(true); }
Test(decommit_ranges, a_refused_range_fails_alone_one_by_one) { a_refused_range_fails_alone(false); }

/* The accounted layer: bytes that went are counted as decommitted and no
 * longer committed; a refusal (injected here) keeps its range's bytes. */
Test(decommit_ranges, accounting_counts_what_went) {
  size_t ps = ohi_os_page_size();
  char *p = ohi_pages_map(NPAGES * ps, ps);
  cr_assert(p != NULL);
  memset(p, 0x77, NPAGES * ps);
  ohi_range_t r[] = {{p, 2 * ps}, {p + 4 * ps, ps}, {p + 6 * ps, 3 * ps}};
  oh_stats_t a, b;
  cr_assert_eq(oh_stats(&a), 0);
  ohi_test_fail_decommit(1); /* the first range is refused */
  bool ok[3];
  size_t got = ohi_pages_decommit_ranges(r, 3, ok);
  ohi_test_fail_decommit(0);
  cr_assert_eq(oh_stats(&b), 0);
  cr_expect(!ok[0] && ok[1] && ok[2], "ok: %d %d %d", ok[0], ok[1], ok[2]);
  cr_expect_eq(got, 4 * ps, "%zu bytes went, not the 4 pages of the ranges not refused", got);
  cr_expect_eq(a.committed_bytes - b.committed_bytes, 4 * ps, "committed fell by %llu",
               (unsigned long long)(a.committed_bytes - b.committed_bytes));
  cr_expect_eq(b.decommitted_bytes - a.decommitted_bytes, 4 * ps, "decommitted grew by %llu",
               (unsigned long long)(b.decommitted_bytes - a.decommitted_bytes));
  for (size_t pg = 0; pg < NPAGES; pg++) expect_page(p, pg, pg == 4 || (pg >= 6 && pg <= 8), 0x77, "accounted");
  ohi_pages_unmap_accounted(p, NPAGES * ps, NPAGES * ps - 4 * ps);
}

/* The chunk walk (slabs of chunks above an eighth of a page) hands its due
 * runs to the batch too: one request per slab walked here, not one per run
 * (issue 18: a pressure pass over 16 KiB chunks freed at random paid one
 * madvise per run, tens of thousands of them). Every other 16 KiB chunk of
 * three slabs is freed, so each free chunk is a run of its own; a forced
 * purge decommits exactly them, and the live ones keep their bytes. */
Test(decommit_ranges, the_chunk_walk_decommits_its_runs_in_batches) {
  enum { CS = 16 * 1024, PER = (1 << 20) / CS, N = 3 * PER };
  t_held_t c = t_held_new(-1, CS, N); /* no purger pass meanwhile */
  size_t freed = 0;
  for (size_t i = 0; i < N; i++) memset(c.p[i], (int)(i % 251) + 1, CS);
  for (size_t i = 0; i < N; i++) /* the even chunks of each slab, by address */
    if (((uintptr_t)c.p[i] % MiB) / CS % 2 == 0) {
      cr_assert_eq(oh_slab_decref(c.h, c.p[i]), 1);
      c.p[i] = NULL;
      freed++;
    }
  cr_assert_eq(freed, N / 2, "%zu of %d chunks were at even places of their slabs", freed, N);
  uint64_t before = __atomic_load_n(&ohi_pages_decommit_requests, __ATOMIC_RELAXED);
  size_t got = oh_slab_purge(c.h);
  uint64_t requests = __atomic_load_n(&ohi_pages_decommit_requests, __ATOMIC_RELAXED) - before;
  cr_expect_eq(got, freed * CS, "a forced purge decommitted %zu bytes of %zu free", got, freed * CS);
  cr_expect(requests >= 1 && requests <= 3, "%zu isolated free runs in 3 slabs took %llu decommit requests", freed,
            (unsigned long long)requests);
  for (size_t i = 0; i < N; i++) {
    if (c.p[i] == NULL) continue;
    const unsigned char *b = c.p[i];
    for (size_t k = 0; k < CS; k += 512)
      cr_assert_eq(b[k], (unsigned char)(i % 251 + 1), "live chunk %zu lost byte %zu to the purge", i, k);
  }
  t_held_free(&c);
}
