/* test_segment.c - the shared segment cache (segment.c): a dry cache reserves
 * a batch of segments in one mapping and serves the next slabs from it
 * without mapping, the batch costs address space only, oh_purge gives it
 * back, and a batch the OS refuses falls back to a single segment. */
#include "test_util.h"

#include <pthread.h>

#include "internal.h" /* ohi_test_fail_os (tests are built with -Ic/src) */

static uint64_t mapped(void) {
  oh_stats_t st;
  cr_assert_eq(oh_stats(&st), 0);
  return st.mapped_bytes;
}

static uint64_t committed(void) {
  oh_stats_t st;
  cr_assert_eq(oh_stats(&st), 0);
  return st.committed_bytes;
}

/* One chunk of a class h has no slab of yet (sizes from 4 KiB up, so each
 * slab's descriptor is a small metadata cell, not a mapping of its own).
 * Returns the chunk; *size moves past its class. */
static void *next_class(oh_slab_t *h, size_t *size) {
  void *p = oh_slab_alloc(h, *size);
  cr_assert(p != NULL, "alloc %zu: %s", *size, t_errname(errno));
  *size = oh_slab_usable_size(h, p) + 1;
  return p;
}

Test(segment, a_dry_cache_reserves_a_batch_and_serves_the_next_slabs) {
  t_opt_save_t delay = t_opt_set(OH_OPT_PURGE_DELAY_MS, -1);
  /* size classes only: 17 classes, 17 slabs (runs of pages would serve
   * every size from 16 KiB up from one slab) */
  t_opt_save_t runs = t_opt_set(OH_OPT_PAGE_RUNS, 0);
  oh_slab_t *h = oh_slab_new(NULL); /* 1 MiB slabs */
  t_opt_restore(runs);
  cr_assert(h != NULL);
  oh_purge(); /* an empty segment cache */
  size_t size = 4 * KiB;
  void *p[40];
  uint64_t m0 = mapped(), c0 = committed();
  p[0] = next_class(h, &size);
  uint64_t m1 = mapped();
  cr_expect(m1 - m0 >= 16 * MiB, "the first new slab reserved %llu bytes, not a batch of 16 segments",
            (unsigned long long)(m1 - m0));
  for (int i = 1; i < 16; i++) p[i] = next_class(h, &size);
  uint64_t m2 = mapped();
  cr_expect(m2 - m1 < 1 * MiB, "15 more slabs mapped %llu bytes: the batch should have served them",
            (unsigned long long)(m2 - m1));
  /* address space only: committed grew by the chunks handed out, not the batch */
  cr_expect(committed() - c0 < 8 * MiB, "committed grew by %llu for 16 chunks of at most %zu bytes",
            (unsigned long long)(committed() - c0), size);
  p[16] = next_class(h, &size);
  cr_expect(mapped() - m2 >= 16 * MiB, "the 17th slab found the batch used up and reserved another (mapped +%llu)",
            (unsigned long long)(mapped() - m2));
  for (int i = 0; i < 17; i++) cr_assert_eq(oh_slab_decref(h, p[i]), 1);
  cr_assert_eq(oh_slab_destroy(h), 0);
  uint64_t before = mapped();
  oh_purge(); /* the cached segments are unmapped: the batches' address space goes back */
  cr_expect(before - mapped() >= 31 * MiB - 17 * MiB, "oh_purge unmapped only %llu bytes of two batches",
            (unsigned long long)(before - mapped()));
  t_opt_restore(delay);
}

Test(segment, a_refused_batch_falls_back_to_one_segment) {
  t_opt_save_t delay = t_opt_set(OH_OPT_PURGE_DELAY_MS, -1);
  oh_slab_t *h = oh_slab_new(NULL);
  cr_assert(h != NULL);
  oh_purge();
  size_t size = 4 * KiB;
  uint64_t m0 = mapped();
  ohi_test_fail_os(0, 4 * MiB); /* any mapping past 4 MiB from now on fails */
  void *a = next_class(h, &size);
  void *b = next_class(h, &size);
  ohi_test_fail_os(0, 0);
  uint64_t grew = mapped() - m0;
  cr_expect(grew >= 2 * MiB && grew < 4 * MiB, "two slabs of single segments: mapped +%llu", (unsigned long long)grew);
  t_fill(a, 4 * KiB, 1);
  t_fill(b, 4 * KiB, 2);
  cr_expect_eq(t_check(a, 4 * KiB, 1), SIZE_MAX);
  cr_expect_eq(t_check(b, 4 * KiB, 2), SIZE_MAX);
  cr_assert_eq(oh_slab_decref(h, a), 1);
  cr_assert_eq(oh_slab_decref(h, b), 1);
  cr_assert_eq(oh_slab_destroy(h), 0);
  t_opt_restore(delay);
}

/* A thread's next segment is the one after its last (or just before it)
 * when the cache holds it, whatever another thread took in between: two
 * threads that grow at once each get slabs side by side, not every other
 * segment of a batch. */
static void *take_one(void *arg) {
  *(void **)arg = ohi_segment_take(20); /* the cache's newest: this thread has no last segment */
  return NULL;
}

Test(segment, a_threads_segments_follow_each_other) {
  oh_purge(); /* an empty segment cache */
  const size_t seg = (size_t)1 << 20;
  void *a = ohi_segment_take(20); /* reserves a batch */
  cr_assert(a != NULL);
  void *mine[4], *theirs[4];
  for (int i = 0; i < 4; i++) {
    pthread_t t;
    cr_assert_eq(pthread_create(&t, NULL, take_one, &theirs[i]), 0);
    cr_assert_eq(pthread_join(t, NULL), 0);
    cr_assert(theirs[i] != NULL);
    mine[i] = ohi_segment_take(20);
    cr_assert(mine[i] != NULL);
  }
  void *last = a;
  for (int i = 0; i < 4; i++) {
    cr_expect_eq((uintptr_t)mine[i], (uintptr_t)last + seg, "take %d gave %p, not the segment after %p", i + 1,
                 mine[i], last);
    last = mine[i];
  }
  ohi_segment_give(a, 20);
  for (int i = 0; i < 4; i++) {
    ohi_segment_give(mine[i], 20);
    ohi_segment_give(theirs[i], 20);
  }
  /* given back, they serve this thread again from where it left off: just
   * below its last one when nothing follows it in the cache */
  void *again = ohi_segment_take(20);
  cr_expect((uintptr_t)again == (uintptr_t)last + seg || (uintptr_t)again == (uintptr_t)last - seg,
            "after the give-backs the take gave %p, not a neighbour of %p", again, last);
  ohi_segment_give(again, 20);
}
