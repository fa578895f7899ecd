/* test_calloc.c - oh_calloc skips the memset only where the bytes are known
 * to be zero: fresh pages, or pages decommitted with MADV_DONTNEED. Pages
 * decommitted with lazy advice (OFFHEAP_DECOMMIT=1, MADV_FREE) keep their old
 * contents until the kernel reclaims them, so after one such decommit every
 * oh_calloc zeroes. (The C fuzzer found oh_calloc returning old bytes there.)
 */
#include "test_util.h"

static void calloc_after_purge_is_zero(long long advice) {
  t_opt_save_t adv = t_opt_set(OH_OPT_DECOMMIT_ADVICE, advice);
  t_opt_save_t delay = t_opt_set(OH_OPT_PURGE_DELAY_MS, -1);
  enum { N = 64, SIZE = 128 * KiB };
  unsigned char *p[N];
  for (int i = 0; i < N; i++) {
    p[i] = oh_alloc(SIZE);
    cr_assert(p[i] != NULL);
    memset(p[i], 0xAB, SIZE);
  }
  /* one chunk in eight stays: the slabs stay, partly used, and the purge
   * decommits the free chunks' pages inside them */
  for (int i = 0; i < N; i++)
    if (i % 8 != 7) cr_assert_eq(oh_free(p[i]), 0);
  oh_purge(); /* every page of the free chunks decommitted with this advice */
  int dirty = 0, n = 0;
  for (int i = 0; i < N; i++) {
    if (i % 8 == 7) continue;
    unsigned char *q = oh_calloc(SIZE);
    cr_assert(q != NULL);
    if (!t_all_zero(q, SIZE)) dirty++;
    p[i] = q;
    n++;
  }
  cr_expect_eq(dirty, 0, "advice %lld: %d of %d oh_calloc(%d) results held old bytes", advice, dirty, n, SIZE);
  for (int i = 0; i < N; i++) oh_free(p[i]);
  t_opt_restore(delay);
  t_opt_restore(adv);
}

Test(calloc, zero_after_eager_decommit) { calloc_after_purge_is_zero(0); }
Test(calloc, zero_after_lazy_decommit) { calloc_after_purge_is_zero(1); }
