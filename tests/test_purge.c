/* test_purge.c - oh_slab_purge: one instance's free memory now, the retained
 * margin and freed page-served spans included, every thread's cached chunks
 * of it, and nothing of other instances. */
#include "test_util.h"

#include <stdlib.h>

static uint64_t cached_chunks(oh_slab_t *s) {
  oh_stats_t st = t_stats_now(s);
  uint64_t n = 0;
  for (unsigned c = 0; c < st.class_count; c++) n += st.classes[c].chunks_cached;
  return n;
}

/* Allocates and frees n chunks of size bytes (touched) so that whole slabs
 * become empty. */
static void churn(oh_slab_t *s, int n, size_t size) {
  void **p = calloc((size_t)n, sizeof *p);
  for (int i = 0; i < n; i++) {
    p[i] = oh_slab_alloc(s, size);
    cr_assert(p[i] != NULL);
    t_touch(p[i], size);
  }
  for (int i = 0; i < n; i++) cr_assert_eq(oh_slab_decref(s, p[i]), 1);
  free(p);
}

Test(slab_purge, null_instance_is_einval) {
  t_cap_install();
  errno = 0;
  size_t got = oh_slab_purge(NULL);
  int e = errno;
  T_EXPECT_ERR("oh_slab_purge(NULL)", got == 0, e, NULL, EINVAL);
  t_cap_remove();
}

Test(slab_purge, purges_the_retained_margin_of_one_instance_only) {
  /* a long delay and a large retained margin: nothing is purged by policy */
  t_opt_save_t delay = t_opt_set(OH_OPT_PURGE_DELAY_MS, 3600 * 1000);
  t_opt_save_t retain = t_opt_set(OH_OPT_RETAIN_BYTES, 256LL << 20);
  oh_slab_t *a = oh_slab_new(NULL), *b = oh_slab_new(NULL);
  cr_assert(a && b);
  churn(a, 400, 16 * KiB);
  churn(b, 400, 16 * KiB);
  oh_thread_flush();
  oh_stats_t a0 = t_stats_now(a), b0 = t_stats_now(b), g0;
  cr_assert_eq(oh_stats(&g0), 0);
  cr_expect(a0.slabs_empty >= 5, "instance a keeps %llu empty slabs",
            (unsigned long long)a0.slabs_empty);
  size_t got = oh_slab_purge(a);
  cr_expect(got >= 5 * MiB, "oh_slab_purge(a) returned %zu bytes", got);
  oh_stats_t a1 = t_stats_now(a), b1 = t_stats_now(b), g1;
  cr_assert_eq(oh_stats(&g1), 0);
  cr_expect_eq(a1.slabs_empty, 0, "a still keeps %llu empty slabs", (unsigned long long)a1.slabs_empty);
  cr_expect_eq(b1.slabs_empty, b0.slabs_empty, "purging a changed b's empty slabs %llu -> %llu",
               (unsigned long long)b0.slabs_empty, (unsigned long long)b1.slabs_empty);
  /* metadata (cache nodes) may commit a block meanwhile */
  cr_expect(g0.committed_bytes - g1.committed_bytes + 256 * KiB >= got,
            "committed fell by %llu, oh_slab_purge reported %zu",
            (unsigned long long)(g0.committed_bytes - g1.committed_bytes), got);
  /* a still works, and b's memory was not touched */
  churn(a, 10, 16 * KiB);
  cr_expect_eq(oh_slab_purge(b) >= 5 * MiB, 1, "b had nothing to purge");
  oh_slab_destroy(a);
  oh_slab_destroy(b);
  t_opt_restore(retain);
  t_opt_restore(delay);
}

Test(slab_purge, unmaps_cached_page_served_spans) {
  t_opt_save_t delay = t_opt_set(OH_OPT_PURGE_DELAY_MS, 3600 * 1000);
  oh_slab_t *s = oh_slab_new(NULL);
  cr_assert(s != NULL);
  void *p = oh_slab_alloc(s, 4 * MiB);
  cr_assert(p != NULL);
  t_touch(p, 4 * MiB);
  cr_assert_eq(oh_slab_decref(s, p), 1);
  oh_stats_t g0, g1;
  cr_assert_eq(oh_stats(&g0), 0);
  size_t got = oh_slab_purge(s);
  cr_assert_eq(oh_stats(&g1), 0);
  cr_expect(got >= 4 * MiB, "oh_slab_purge returned %zu with a freed 4 MiB span", got);
  cr_expect(g0.mapped_bytes - g1.mapped_bytes >= 4 * MiB || g0.committed_bytes - g1.committed_bytes >= 4 * MiB,
            "the freed 4 MiB span is still mapped and committed after oh_slab_purge");
  /* the span is gone or free: never a live allocation */
  long rc = oh_slab_refcount(s, p);
  cr_expect(rc <= 0, "refcount of a purged span is %ld", rc);
  void *q = oh_slab_alloc(s, 4 * MiB);
  cr_expect(q != NULL);
  oh_slab_destroy(s);
  t_opt_restore(delay);
}

typedef struct holder_s {
  oh_slab_t *s;
  pthread_barrier_t *bar;
  int failures;
} holder_t;

static void *holder(void *arg) {
  holder_t *h = arg;
  void *p[64];
  for (int i = 0; i < 64; i++) {
    p[i] = oh_slab_alloc(h->s, 128);
    if (!p[i]) h->failures++;
  }
  for (int i = 0; i < 64; i++)
    if (p[i] && oh_slab_decref(h->s, p[i]) != 1) h->failures++;
  pthread_barrier_wait(h->bar); /* cache full of chunks of s */
  pthread_barrier_wait(h->bar); /* main purged s */
  /* the cache still works after being drained from outside */
  for (int i = 0; i < 64; i++) {
    p[i] = oh_slab_alloc(h->s, 128);
    if (!p[i]) {
      h->failures++;
      continue;
    }
    t_fill(p[i], 128, t_seed(60, (uint64_t)i));
  }
  for (int i = 0; i < 64; i++) {
    if (!p[i]) continue;
    if (t_check(p[i], 128, t_seed(60, (uint64_t)i)) != SIZE_MAX) h->failures++;
    if (oh_slab_decref(h->s, p[i]) != 1) h->failures++;
  }
  return NULL;
}

Test(slab_purge, drains_other_live_threads_caches) {
  t_opt_save_t delay = t_opt_set(OH_OPT_PURGE_DELAY_MS, -1); /* no background drains */
  t_opt_save_t tc = t_opt_set(OH_OPT_TCACHE_BYTES, 256 * KiB);
  oh_slab_t *s = oh_slab_new(NULL);
  cr_assert(s != NULL);
  pthread_barrier_t bar;
  pthread_barrier_init(&bar, NULL, 3);
  holder_t h[2] = {{s, &bar, 0}, {s, &bar, 0}};
  pthread_t t[2];
  for (int i = 0; i < 2; i++) pthread_create(&t[i], NULL, holder, &h[i]);
  pthread_barrier_wait(&bar);
  uint64_t before = cached_chunks(s);
  cr_expect(before > 0, "the threads cached nothing: nothing to test");
  oh_slab_purge(s);
  uint64_t after = cached_chunks(s);
  cr_expect_eq(after, 0, "%llu chunks still in live threads' caches after oh_slab_purge (were %llu)",
               (unsigned long long)after, (unsigned long long)before);
  pthread_barrier_wait(&bar);
  for (int i = 0; i < 2; i++) pthread_join(t[i], NULL);
  cr_expect_eq(h[0].failures + h[1].failures, 0, "%d failures in the threads",
               h[0].failures + h[1].failures);
  oh_thread_flush();
  oh_stats_t st = t_stats_now(s);
  cr_expect_eq(st.in_use_bytes, 0);
  cr_expect_eq(st.allocs, st.frees);
  cr_expect_eq(st.allocs, 256, "allocs %llu, want 256", (unsigned long long)st.allocs);
  oh_slab_destroy(s);
  pthread_barrier_destroy(&bar);
  t_opt_restore(tc);
  t_opt_restore(delay);
}
