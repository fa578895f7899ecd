/* test_meta.c - the metadata cells (meta.c): blocks of one cell size start
 * at many cache-line offsets of a page, so the same field of many slab
 * descriptors does not fall into one L1 set; cells are line aligned, zeroed,
 * and never overlap, also when freed cells come back. */
#include "test_util.h"

#include "internal.h" /* ohi_meta_alloc (tests are built with -Ic/src) */

#define LINE 64
#define N 64

/* The L1 set a block's first line falls into (a 4 KiB page of 64-byte lines). */
static unsigned line_of(const void *p) { return (unsigned)(((uintptr_t)p & 4095) / LINE); }

/* Distinct line offsets among n blocks. */
static int distinct_lines(void **p, int n) {
  bool seen[4096 / LINE] = {false};
  int d = 0;
  for (int i = 0; i < n; i++)
    if (!seen[line_of(p[i])]) {
      seen[line_of(p[i])] = true;
      d++;
    }
  return d;
}

/* Fills n blocks of size bytes with their index and checks each is zeroed,
 * line aligned and intact afterwards (no two overlap). */
static void fill_and_check(void **p, int n, size_t size) {
  for (int i = 0; i < n; i++) {
    cr_assert(p[i] != NULL, "block %d of %zu bytes", i, size);
    cr_expect_eq((uintptr_t)p[i] % LINE, 0, "block %d of %zu bytes at %p is not line aligned", i, size, p[i]);
    const unsigned char *b = p[i];
    for (size_t k = 0; k < size; k++)
      if (b[k] != 0) {
        cr_expect(false, "block %d of %zu bytes was not zeroed at byte %zu", i, size, k);
        break;
      }
    memset(p[i], i + 1, size);
  }
  for (int i = 0; i < n; i++) {
    const unsigned char *b = p[i];
    for (size_t k = 0; k < size; k++)
      if (b[k] != (unsigned char)(i + 1)) {
        cr_expect(false, "block %d of %zu bytes was overwritten at byte %zu (overlap)", i, size, k);
        break;
      }
  }
}

/* A run slab's descriptor (about 1.6 KiB for 256 pages) and a chunk slab's
 * of a mid-size class: 64 of one size start at many line offsets. With cells
 * of a power of two (2 KiB, 1 KiB) they started at 2 or 4. */
Test(meta, blocks_of_one_size_start_at_many_line_offsets) {
  const size_t sizes[] = {1600, 1900, 700, 1000, 300, 500};
  for (size_t s = 0; s < sizeof sizes / sizeof sizes[0]; s++) {
    void *p[N];
    for (int i = 0; i < N; i++) p[i] = ohi_meta_alloc(sizes[s]);
    fill_and_check(p, N, sizes[s]);
    int d = distinct_lines(p, N);
    cr_expect_geq(d, 16, "%d blocks of %zu bytes start at only %d of a page's 64 line offsets", N, sizes[s], d);
    for (int i = 0; i < N; i++) ohi_meta_free(p[i], sizes[s]);
  }
}

/* Freed cells come back zeroed, at offsets of their own size class (a
 * stale pointer to a freed descriptor must meet a block start of the same
 * size again, never the middle of another), and next to fresh ones without
 * overlap. */
Test(meta, freed_cells_come_back_zeroed_and_in_place) {
  const size_t size = 1900;
  void *p[N], *q[N];
  for (int i = 0; i < N; i++) p[i] = ohi_meta_alloc(size);
  fill_and_check(p, N, size);
  for (int i = 0; i < N; i += 2) ohi_meta_free(p[i], size);
  for (int i = 0; i < N / 2; i++) q[i] = ohi_meta_alloc(size);
  for (int i = 0; i < N / 2; i++) {
    bool was = false;
    for (int j = 0; j < N; j += 2) was |= q[i] == p[j];
    cr_expect(was, "a block of %zu bytes came back at %p, not where a freed one was", size, q[i]);
  }
  void *all[N];
  for (int i = 0; i < N / 2; i++) all[i] = q[i];
  for (int i = 0; i < N / 2; i++) all[N / 2 + i] = p[2 * i + 1];
  for (int i = 0; i < N / 2; i++) memset(all[N / 2 + i], 0, size); /* fill_and_check wants zeroes */
  fill_and_check(all, N, size);
  for (int i = 0; i < N; i++) ohi_meta_free(all[i], size);
}

/* Past the largest cell a block is whole pages, page aligned. */
Test(meta, blocks_past_the_cells_are_pages) {
  const size_t sizes[] = {1985, 2048, 5000};
  for (size_t s = 0; s < sizeof sizes / sizeof sizes[0]; s++) {
    void *p = ohi_meta_alloc(sizes[s]);
    cr_assert(p != NULL);
    cr_expect_eq((uintptr_t)p % t_page(), 0, "a block of %zu bytes at %p is not page aligned", sizes[s], p);
    fill_and_check(&p, 1, sizes[s]);
    ohi_meta_free(p, sizes[s]);
  }
}
