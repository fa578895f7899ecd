/* test_thread_exit.c - the thread life cycle: a thread that exits returns
 * the chunks its cache holds, of its own instances and of the default one,
 * and an instance destroyed after (or while) threads cached its chunks is
 * gone without a trace. Worker threads count failures (test_threads.h); the
 * main thread asserts on the count. */
#include "test_threads.h"

/* ---- thread exit and destroy ---------------------------------------------------------- */

typedef struct exit_job_s {
  oh_slab_t *s;
  size_t size;
  int count;
  uint64_t cached_seen; /* chunks_cached of the class seen by the thread before exit */
  pthread_barrier_t *hold; /* optional: wait here twice (after caching, before continuing) */
  oh_slab_t **next;        /* optional: instance to use after the hold */
} exit_job_t;

static uint64_t cached_in_class(oh_slab_t *s, size_t usable) {
  oh_stats_t st;
  if (oh_slab_stats(s, &st) != 0) return UINT64_MAX;
  uint64_t n = 0;
  for (unsigned c = 0; c < st.class_count; c++)
    if (st.classes[c].chunk_size == usable) n += st.classes[c].chunks_cached;
  return n;
}

static void *exit_worker(void *arg) {
  exit_job_t *j = arg;
  void *p[256];
  for (int i = 0; i < j->count; i++) {
    p[i] = oh_slab_alloc(j->s, j->size);
    if (!p[i]) {
      fail("exit worker: alloc failed");
      return NULL;
    }
    memset(p[i], 0x3C, j->size);
  }
  size_t usable = oh_slab_usable_size(j->s, p[0]);
  for (int i = 0; i < j->count; i++)
    if (oh_slab_decref(j->s, p[i]) != 1) fail("exit worker: decref failed");
  j->cached_seen = cached_in_class(j->s, usable);
  if (j->hold) {
    pthread_barrier_wait(j->hold); /* main destroys j->s now */
    pthread_barrier_wait(j->hold); /* main made *j->next */
    oh_slab_t *s2 = *j->next;
    void *q[256];
    for (int i = 0; i < j->count; i++) {
      q[i] = oh_slab_alloc(s2, j->size);
      if (!q[i]) {
        fail("after destroy: alloc from the new instance failed");
        return NULL;
      }
      if (oh_slab_refcount(s2, q[i]) != 1)
        fail("after destroy: new chunk %p not owned by the new instance (refcount %ld, %s)", q[i],
             oh_slab_refcount(s2, q[i]), t_errname(errno));
      t_fill(q[i], j->size, t_seed(500, (uint64_t)i));
    }
    for (int i = 0; i < j->count; i++) {
      if (t_check(q[i], j->size, t_seed(500, (uint64_t)i)) != SIZE_MAX)
        fail("after destroy: chunk %d handed out twice", i);
      if (oh_slab_decref(s2, q[i]) != 1) fail("after destroy: decref failed: %s", t_errname(errno));
    }
  }
  return NULL;
}

Test(thread_exit, exiting_thread_returns_its_cached_chunks) {
  /* no purger pass may drain thread caches behind the test's back */
  t_opt_save_t delay = t_opt_set(OH_OPT_PURGE_DELAY_MS, -1);
  t_opt_save_t tc = t_opt_set(OH_OPT_TCACHE_BYTES, 256 * KiB);
  oh_slab_t *s = oh_slab_new(NULL);
  cr_assert(s != NULL);
  exit_job_t j = {s, 64, 100, 0, NULL, NULL};
  pthread_t t;
  pthread_create(&t, NULL, exit_worker, &j);
  pthread_join(t, NULL);
  EXPECT_NO_WORKER_FAILURES();
  cr_expect(j.cached_seen > 0 && j.cached_seen != UINT64_MAX,
            "the thread had no cached chunks before exiting (%llu): nothing to test",
            (unsigned long long)j.cached_seen);
  oh_stats_t st;
  cr_assert_eq(oh_slab_stats(s, &st), 0);
  uint64_t cached = 0;
  for (unsigned c = 0; c < st.class_count; c++) cached += st.classes[c].chunks_cached;
  cr_expect_eq(cached, 0, "%llu chunks still cached for a thread that exited",
               (unsigned long long)cached);
  cr_expect_eq(st.in_use_bytes, 0);
  cr_expect_eq(st.frees, 100);
  oh_slab_destroy(s);
  t_opt_restore(tc);
  t_opt_restore(delay);
}

Test(thread_exit, exiting_threads_return_default_instance_chunks) {
  t_opt_save_t tc = t_opt_set(OH_OPT_TCACHE_BYTES, 256 * KiB);
  oh_slab_t *d = oh_default_slab();
  int rounds = (int)t_scaled(32, 4);
  for (int r = 0; r < rounds; r++) {
    exit_job_t j[2] = {{d, 1000, 50, 0, NULL, NULL}, {d, 48, 200, 0, NULL, NULL}};
    pthread_t t[2];
    pthread_create(&t[0], NULL, exit_worker, &j[0]);
    pthread_create(&t[1], NULL, exit_worker, &j[1]);
    pthread_join(t[0], NULL);
    pthread_join(t[1], NULL);
  }
  EXPECT_NO_WORKER_FAILURES();
  oh_thread_flush(); /* the main thread's own cache */
  oh_stats_t st;
  cr_assert_eq(oh_slab_stats(d, &st), 0);
  uint64_t cached = 0;
  for (unsigned c = 0; c < st.class_count; c++) cached += st.classes[c].chunks_cached;
  cr_expect_eq(cached, 0, "%llu default-instance chunks cached after %d rounds of exited threads",
               (unsigned long long)cached, rounds);
  t_opt_restore(tc);
}

static void threads_cache_then_destroy(void) {
  oh_slab_t *s = oh_slab_new(NULL);
  cr_assert(s != NULL);
  exit_job_t j[4];
  pthread_t t[4];
  for (int i = 0; i < 4; i++) {
    j[i] = (exit_job_t){s, 64 + (size_t)i * 1000, 100, 0, NULL, NULL};
    pthread_create(&t[i], NULL, exit_worker, &j[i]);
  }
  for (int i = 0; i < 4; i++) pthread_join(t[i], NULL);
  EXPECT_NO_WORKER_FAILURES();
  cr_expect_eq(oh_slab_destroy(s), 0, "destroy failed: %s", t_errname(errno));
}

Test(thread_exit, destroy_after_joined_threads_cached_chunks) {
  /* no purge passes in the background: they would move slabs to the shared
   * segment cache at unpredictable moments */
  t_opt_save_t delay = t_opt_set(OH_OPT_PURGE_DELAY_MS, -1);
  threads_cache_then_destroy(); /* metadata blocks are kept for reuse */
  t_counters_t c0 = t_counters(NULL);
  threads_cache_then_destroy();
  t_counters_t c1 = t_counters(NULL);
  /* Thread-cache metadata is reused from free lists: how many blocks exist
   * depends on how the two runs' threads overlapped, so mapped bytes may grow
   * by a few such blocks; committed bytes may not. */
  cr_expect(c1.mapped_bytes <= c0.mapped_bytes + 256 * KiB, "destroy left %lld bytes mapped",
            (long long)(c1.mapped_bytes - c0.mapped_bytes));
  cr_expect_eq(c1.committed_bytes, c0.committed_bytes, "destroy left %lld bytes committed",
               (long long)(c1.committed_bytes - c0.committed_bytes));
  /* a new instance works from those threads' successors */
  oh_slab_t *s2 = oh_slab_new(NULL);
  cr_assert(s2 != NULL);
  exit_job_t k = {s2, 64, 100, 0, NULL, NULL};
  pthread_t u;
  pthread_create(&u, NULL, exit_worker, &k);
  pthread_join(u, NULL);
  EXPECT_NO_WORKER_FAILURES();
  oh_slab_destroy(s2);
  t_opt_restore(delay);
}

Test(thread_exit, destroy_while_live_threads_cache_its_chunks) {
  /* no purger pass may drain thread caches behind the test's back */
  t_opt_save_t delay = t_opt_set(OH_OPT_PURGE_DELAY_MS, -1);
  t_opt_save_t tc = t_opt_set(OH_OPT_TCACHE_BYTES, 256 * KiB);
  enum { NT = 3 };
  pthread_barrier_t hold;
  pthread_barrier_init(&hold, NULL, NT + 1);
  oh_slab_t *s = oh_slab_new(NULL), *s2 = NULL;
  cr_assert(s != NULL);
  exit_job_t j[NT];
  pthread_t t[NT];
  for (int i = 0; i < NT; i++) {
    j[i] = (exit_job_t){s, 64 + (size_t)i * 16, 100, 0, &hold, &s2};
    pthread_create(&t[i], NULL, exit_worker, &j[i]);
  }
  pthread_barrier_wait(&hold); /* every thread has chunks of s in its cache */
  cr_expect_eq(oh_slab_destroy(s), 0, "destroy failed: %s", t_errname(errno));
  /* a new instance, likely at the same address: stale cache entries of s
   * must not leak into it */
  s2 = oh_slab_new(NULL);
  cr_assert(s2 != NULL);
  pthread_barrier_wait(&hold);
  for (int i = 0; i < NT; i++) pthread_join(t[i], NULL);
  EXPECT_NO_WORKER_FAILURES();
  for (int i = 0; i < NT; i++)
    cr_expect(j[i].cached_seen > 0, "thread %d cached nothing before destroy", i);
  oh_stats_t st;
  cr_assert_eq(oh_slab_stats(s2, &st), 0);
  cr_expect_eq(st.in_use_bytes, 0);
  cr_expect_eq(st.allocs, NT * 100, "new instance allocs %llu", (unsigned long long)st.allocs);
  cr_expect_eq(st.frees, NT * 100, "new instance frees %llu", (unsigned long long)st.frees);
  uint64_t cached = 0;
  for (unsigned c = 0; c < st.class_count; c++) cached += st.classes[c].chunks_cached;
  cr_expect_eq(cached, 0, "new instance has %llu cached chunks after its threads exited",
               (unsigned long long)cached);
  cr_expect_eq(oh_slab_destroy(s2), 0);
  pthread_barrier_destroy(&hold);
  t_opt_restore(tc);
  t_opt_restore(delay);
}
