/* test_purge_margin.c - the retained margin (OFFHEAP_RETAIN_BYTES) and the
 * central empty slabs (c/src/purge.c, heap_purge): a heap keeps up to the
 * margin of slabs that have sat empty for the delay, however many slabs a
 * churn has just emptied besides. Those fresh empties are the delay's to
 * keep; counted against the margin, they let the slab a churn needs only
 * now and then - one round in several, when a P's cache holds its share -
 * be decommitted and faulted in again (BufferPool under steady churn, 1 MiB
 * in half the runs: bench/RESULTS.md, session 18). The passes run on the
 * test's thread (ohi_heaps_purge_all, with a clock of its own) while the
 * purger thread is held; threads that exit hand their empty slabs to the
 * central lists. */
#include "test_util.h"

#include "internal.h" /* ohi_heaps_purge_all, ohi_test_purger_hold, ohi_os_now_ms */

#include <pthread.h>
#include <unistd.h>

#define DELAY (10 * 1000) /* ms: nothing comes due on the real clock */

typedef struct {
  oh_slab_t *h;
  size_t size, n;
  int failures;
} fill_t;

/* Allocates n chunks of size and frees them all: the thread's slabs go to
 * the central empty list when it exits. */
static void *fill_free_exit(void *arg) {
  fill_t *f = arg;
  void **p = calloc(f->n, sizeof *p);
  if (p == NULL) {
    f->failures++;
    return NULL;
  }
  for (size_t i = 0; i < f->n; i++)
    if ((p[i] = oh_slab_alloc(f->h, f->size)) == NULL) f->failures++;
  for (size_t i = 0; i < f->n; i++)
    if (p[i] != NULL && oh_slab_decref(f->h, p[i]) != 1) f->failures++;
  free(p);
  return NULL;
}

static void run(fill_t *f) {
  pthread_t t;
  cr_assert_eq(pthread_create(&t, NULL, fill_free_exit, f), 0);
  cr_assert_eq(pthread_join(t, NULL), 0);
  cr_assert_eq(f->failures, 0, "%d allocations or releases failed", f->failures);
}

static uint64_t slabs_of(oh_slab_t *h, unsigned cls) {
  oh_stats_t st;
  cr_assert_eq(oh_slab_stats(h, &st), 0);
  cr_assert_lt(cls, st.class_count);
  return st.classes[cls].slabs;
}

Test(purge_margin, slabs_empty_for_the_delay_stay_within_the_margin_beside_fresh_ones) {
  t_opt_save_t delay = t_opt_set(OH_OPT_PURGE_DELAY_MS, DELAY);
  t_opt_save_t retain = t_opt_set(OH_OPT_RETAIN_BYTES, 2 * MiB);
  ohi_test_purger_hold(true);
  oh_slab_t *h = oh_slab_new(&(oh_slab_config_t){.slab_size = 1 * MiB}); /* classes 16 B, 20, 24, ... */
  cr_assert(h != NULL);
  unsigned x = 0, y = 0; /* the classes of 4 KiB and 8 KiB chunks (the smallest that hold them) */
  for (int i = oh_slab_class_count(h) - 1; i >= 0; i--) {
    if (oh_slab_class_size(h, i) >= 4 * KiB) x = (unsigned)i;
    if (oh_slab_class_size(h, i) >= 8 * KiB) y = (unsigned)i;
  }
  cr_assert(x != 0 && y > x, "no classes of 4 KiB and 8 KiB chunks (%u, %u)", x, y);
  size_t xs = oh_slab_class_size(h, (int)x), ys = oh_slab_class_size(h, (int)y);

  /* class x: two slabs emptied at t0 */
  fill_t a = {h, xs, 2 * (MiB / xs), 0};
  run(&a);
  uint64_t t0 = ohi_os_now_ms();
  cr_assert_eq(slabs_of(h, x), 2, "class %u holds %llu slabs, want 2", x, (unsigned long long)slabs_of(h, x));
  usleep(50 * 1000);
  /* class y: six slabs emptied later, not due when x's are */
  uint64_t t1 = ohi_os_now_ms();
  fill_t b = {h, ys, 6 * (MiB / ys), 0};
  run(&b);
  uint64_t ny = slabs_of(h, y);
  cr_assert_geq(ny, 6);

  ohi_heaps_purge_all(t0 + DELAY + 10, false, false, NULL); /* x's due (t1 >= t0 + 50), y's not */
  cr_expect_eq(slabs_of(h, x), 2,
               "%llu of the 2 slabs empty for the delay stay, with a margin of 2 MiB and %llu fresh empty slabs beside",
               (unsigned long long)slabs_of(h, x), (unsigned long long)ny);
  cr_expect_eq(slabs_of(h, y), ny, "a slab empty for less than the delay was released");

  ohi_heaps_purge_all(t1 + DELAY + 10, false, false, NULL); /* all due: the margin's worth stays */
  uint64_t left = slabs_of(h, x) + slabs_of(h, y);
  cr_expect_eq(left, 2, "%llu empty slabs stay once all are due, with a margin of 2 slabs", (unsigned long long)left);

  cr_assert_eq(oh_slab_destroy(h), 0);
  ohi_test_purger_hold(false);
  t_opt_restore(retain);
  t_opt_restore(delay);
}
