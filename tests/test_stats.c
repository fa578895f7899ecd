/* test_stats.c - oh_stats / oh_slab_stats: versions, exact in_use and counters
 * after a known sequence, per-class figures, mapped/committed around destroy,
 * oh_purge and the purge delay, thread caches and oh_thread_flush. */
#include "test_util.h"

#include <stdlib.h>

static oh_stats_t slab_stats(oh_slab_t *s) {
  oh_stats_t st;
  memset(&st, 0xFF, sizeof st);
  oh_thread_flush();
  cr_assert_eq(oh_slab_stats(s, &st), 0, "oh_slab_stats failed: %s", t_errname(errno));
  return st;
}

static int class_of(oh_slab_t *s, size_t usable) {
  for (int i = 0; i < oh_slab_class_count(s); i++)
    if (oh_slab_class_size(s, i) == usable) return i;
  return -1;
}

Test(stats, versions_and_class_tables) {
  oh_stats_t st;
  memset(&st, 0xFF, sizeof st);
  cr_assert_eq(oh_stats(&st), 0);
  cr_expect_eq(st.version, OH_STATS_VERSION);
  cr_expect_eq(st.class_count, 0, "oh_stats class_count %u, documented 0", st.class_count);
  cr_expect(st.committed_bytes <= st.mapped_bytes, "committed %llu > mapped %llu",
            (unsigned long long)st.committed_bytes, (unsigned long long)st.mapped_bytes);

  oh_slab_config_t cfg = {48, 256 * KiB, 1.5};
  oh_slab_t *s = oh_slab_new(&cfg);
  cr_assert(s != NULL);
  st = slab_stats(s);
  cr_expect_eq(st.version, OH_STATS_VERSION);
  cr_expect_eq((int)st.class_count, oh_slab_class_count(s));
  for (int i = 0; i < oh_slab_class_count(s); i++) {
    cr_expect_eq(st.classes[i].chunk_size, oh_slab_class_size(s, i), "class %d size", i);
    cr_expect_eq(st.classes[i].chunks_in_use, 0);
    cr_expect_eq(st.classes[i].allocs, 0);
  }
  cr_expect_eq(st.in_use_bytes, 0);
  cr_expect_eq(st.allocs, 0);
  cr_expect_eq(st.frees, 0);
  cr_expect_eq(st.large_in_use, 0);
  oh_slab_destroy(s);
}

/* Sizes a heap of 1 MiB slabs serves as runs of pages (runs.c), when the
 * option is on (make test runs the suite both ways). */
static bool is_run(size_t n) { return oh_option_get(OH_OPT_PAGE_RUNS) && n >= 16 * KiB && n <= 256 * KiB; }

Test(stats, exact_counts_after_a_known_sequence) {
  t_opt_save_t delay = t_opt_set(OH_OPT_PURGE_DELAY_MS, -1);
  oh_slab_t *s = oh_slab_new(NULL);
  cr_assert(s != NULL);
  const size_t sizes[] = {1, 16, 17, 100, 1000, 5000, 70000, 2 * MiB + 3, 16, 16};
  enum { N = sizeof sizes / sizeof sizes[0] };
  void *p[N];
  uint64_t in_use = 0, per_class[OH_MAX_CLASSES] = {0};
  size_t large = 0;
  for (int i = 0; i < N; i++) {
    p[i] = oh_slab_alloc(s, sizes[i]);
    cr_assert(p[i] != NULL);
    size_t u = oh_slab_usable_size(s, p[i]);
    in_use += u;
    int c = class_of(s, u);
    if (sizes[i] > MiB)
      large++;
    else if (is_run(sizes[i])) /* a run of pages (runs.c): no class row */
      cr_assert_eq(u, (sizes[i] + 4095) / 4096 * 4096, "%zu bytes: a run of %zu bytes, want whole pages", sizes[i], u);
    else {
      cr_assert(c >= 0, "usable size %zu of a slab chunk is not a class size", u);
      per_class[c]++;
    }
  }
  oh_stats_t st = slab_stats(s);
  cr_expect_eq(st.in_use_bytes, in_use, "in_use %llu, want %llu (sum of usable sizes)",
               (unsigned long long)st.in_use_bytes, (unsigned long long)in_use);
  cr_expect_eq(st.allocs, N);
  cr_expect_eq(st.frees, 0);
  cr_expect_eq(st.large_in_use, large);
  for (int c = 0; c < (int)st.class_count; c++) {
    cr_expect_eq(st.classes[c].chunks_in_use, per_class[c], "class %d (%llu B) in use %llu, want %llu",
                 c, (unsigned long long)st.classes[c].chunk_size,
                 (unsigned long long)st.classes[c].chunks_in_use, (unsigned long long)per_class[c]);
    cr_expect_eq(st.classes[c].allocs, per_class[c], "class %d allocs", c);
    cr_expect_eq(st.classes[c].frees, 0);
    if (per_class[c]) cr_expect(st.classes[c].slabs >= 1, "class %d has chunks but no slab", c);
  }
  cr_expect(st.committed_bytes >= in_use, "committed %llu < in use %llu",
            (unsigned long long)st.committed_bytes, (unsigned long long)in_use);
  cr_expect(st.mapped_bytes >= st.committed_bytes);

  /* addref/decref that does not free changes nothing; the freeing decref does */
  cr_assert_eq(oh_slab_addref(s, p[3]), 0);
  cr_assert_eq(oh_slab_decref(s, p[3]), 0);
  oh_stats_t st2 = slab_stats(s);
  cr_expect_eq(st2.frees, 0, "a non-freeing decref counted as a free");
  cr_expect_eq(st2.in_use_bytes, in_use);

  /* free the even ones */
  for (int i = 0; i < N; i += 2) {
    size_t u = oh_slab_usable_size(s, p[i]);
    cr_assert_eq(oh_slab_decref(s, p[i]), 1);
    in_use -= u;
    if (sizes[i] > MiB)
      large--;
    else if (!is_run(sizes[i]))
      per_class[class_of(s, u)]--;
  }
  st = slab_stats(s);
  cr_expect_eq(st.in_use_bytes, in_use, "in_use %llu after freeing half, want %llu",
               (unsigned long long)st.in_use_bytes, (unsigned long long)in_use);
  cr_expect_eq(st.frees, N / 2);
  cr_expect_eq(st.large_in_use, large);
  for (int c = 0; c < (int)st.class_count; c++) {
    cr_expect_eq(st.classes[c].chunks_in_use, per_class[c], "class %d in use after frees", c);
    cr_expect_eq(st.classes[c].chunks_cached, 0, "class %d: %llu chunks cached after flush", c,
                 (unsigned long long)st.classes[c].chunks_cached);
  }
  for (int i = 1; i < N; i += 2) cr_assert_eq(oh_slab_decref(s, p[i]), 1);
  st = slab_stats(s);
  cr_expect_eq(st.in_use_bytes, 0);
  cr_expect_eq(st.allocs, st.frees);
  cr_expect_eq(st.large_in_use, 0);
  uint64_t ca = 0, cf = 0;
  for (int c = 0; c < (int)st.class_count; c++) {
    cr_expect_eq(st.classes[c].chunks_in_use, 0);
    ca += st.classes[c].allocs;
    cf += st.classes[c].frees;
  }
  int runs = is_run(70000) ? 1 : 0;
  cr_expect_eq(ca, N - 1 - runs, "per-class allocs sum %llu, want %d (one large, %d run)", (unsigned long long)ca,
               N - 1 - runs, runs);
  cr_expect_eq(cf, N - 1 - runs);
  oh_slab_destroy(s);
  t_opt_restore(delay);
}

/* Fills an instance with 8000-byte chunks and one page-served allocation;
 * checks that the process totals include it; destroys it. */
static void fill_and_destroy(size_t n) {
  oh_stats_t g0;
  oh_purge(); /* no segments left in the cache from a batch reservation: the fill maps what it uses */
  oh_thread_flush();
  cr_assert_eq(oh_stats(&g0), 0);
  oh_slab_t *s = oh_slab_new(NULL);
  cr_assert(s != NULL);
  size_t got = 0, count = 0;
  while (got < n) {
    void *p = oh_slab_alloc(s, 8000);
    cr_assert(p != NULL);
    t_touch(p, 8000);
    got += 8000;
    count++;
  }
  void *big = oh_slab_alloc(s, 3 * MiB);
  cr_assert(big != NULL);
  oh_stats_t st = slab_stats(s), g1;
  cr_assert_eq(oh_stats(&g1), 0);
  cr_expect(g1.in_use_bytes - g0.in_use_bytes >= st.in_use_bytes,
            "process in_use grew by %llu, the instance holds %llu",
            (unsigned long long)(g1.in_use_bytes - g0.in_use_bytes),
            (unsigned long long)st.in_use_bytes);
  cr_expect(g1.mapped_bytes - g0.mapped_bytes >= n + 3 * MiB, "process mapped grew by only %llu",
            (unsigned long long)(g1.mapped_bytes - g0.mapped_bytes));
  cr_expect(g1.committed_bytes - g0.committed_bytes >= n + 3 * MiB,
            "process committed grew by only %llu",
            (unsigned long long)(g1.committed_bytes - g0.committed_bytes));
  cr_expect(g1.allocs - g0.allocs >= count + 1);
  cr_expect_eq(g1.large_in_use - g0.large_in_use, 1);
  cr_assert_eq(oh_slab_destroy(s), 0);
  oh_stats_t g2;
  oh_thread_flush();
  cr_assert_eq(oh_stats(&g2), 0);
  cr_expect_eq(g2.in_use_bytes, g0.in_use_bytes, "destroy left %lld bytes counted in use",
               (long long)(g2.in_use_bytes - g0.in_use_bytes));
  cr_expect_eq(g2.large_in_use, g0.large_in_use);
}

Test(stats, process_totals_include_instances_and_destroy_returns_everything) {
  /* no purge passes in the background: they would move slabs to the shared
   * segment cache at unpredictable moments */
  t_opt_save_t delay = t_opt_set(OH_OPT_PURGE_DELAY_MS, -1);
  size_t n = t_scaled(20 * MiB, 10);
  fill_and_destroy(n); /* creates metadata blocks the library keeps for reuse */
  oh_purge(); /* and the segment cache, which holds address space of batch reservations, emptied */
  t_counters_t c0 = t_counters(NULL);
  fill_and_destroy(n);
  oh_purge();
  t_counters_t c1 = t_counters(NULL);
  cr_expect_eq(c1.mapped_bytes, c0.mapped_bytes, "mapped %llu after destroy, %llu before new",
               (unsigned long long)c1.mapped_bytes, (unsigned long long)c0.mapped_bytes);
  cr_expect_eq(c1.committed_bytes, c0.committed_bytes,
               "committed %llu after destroy, %llu before new",
               (unsigned long long)c1.committed_bytes, (unsigned long long)c0.committed_bytes);
  t_opt_restore(delay);
}

Test(stats, instance_stats_describe_that_instance) {
  /* oh_slab_stats is "one instance": an idle instance must not report the
   * memory of a busy one */
  oh_slab_t *busy = oh_slab_new(NULL), *idle = oh_slab_new(NULL);
  cr_assert(busy && idle);
  for (int i = 0; i < 64; i++) {
    void *p = oh_slab_alloc(busy, 256 * KiB);
    cr_assert(p != NULL);
    t_touch(p, 256 * KiB);
  }
  oh_stats_t b = slab_stats(busy), i = slab_stats(idle);
  cr_expect(b.mapped_bytes >= 16 * MiB, "busy instance maps %llu bytes", (unsigned long long)b.mapped_bytes);
  cr_expect(i.mapped_bytes < MiB, "an idle instance reports %llu mapped bytes (the busy one's?)",
            (unsigned long long)i.mapped_bytes);
  cr_expect(i.committed_bytes < MiB, "an idle instance reports %llu committed bytes",
            (unsigned long long)i.committed_bytes);
  cr_expect_eq(i.in_use_bytes, 0);
  oh_slab_destroy(busy);
  oh_slab_destroy(idle);
}

/* n chunks of 16 KiB from s, each touched (committed). */
static void fill(oh_slab_t *s, void **p, int n, size_t size) {
  for (int i = 0; i < n; i++) {
    p[i] = oh_slab_alloc(s, size);
    cr_assert(p[i] != NULL);
    t_touch(p[i], size);
  }
}

/* Released slabs wait decommitted in the segment cache, and any class takes
 * them before mapping new memory. Sizes below 16 KiB: size classes (from 16
 * KiB up, runs of pages share their slabs already: test_runs.c). */
Test(stats, released_slabs_are_reused_by_another_class) {
  t_opt_save_t delay = t_opt_set(OH_OPT_PURGE_DELAY_MS, 50);
  t_opt_save_t retain = t_opt_set(OH_OPT_RETAIN_BYTES, 0);
  oh_slab_t *s = oh_slab_new(NULL);
  cr_assert(s != NULL);
  enum { N = 800 }; /* 8 KiB chunks, 128 per slab: 7 slabs */
  void *p[N];
  fill(s, p, N, 8 * KiB);
  for (int i = 0; i < N; i++) cr_assert_eq(oh_slab_decref(s, p[i]), 1);
  oh_stats_t g1;
  uint64_t t0 = t_now_ms();
  do {
    t_sleep_ms(20);
    cr_assert_eq(oh_stats(&g1), 0);
  } while (g1.slabs_decommitted < 5 && t_now_ms() - t0 < 5000);
  cr_assert(g1.slabs_decommitted >= 5, "%llu segments cached %llu ms after ~7 slabs were freed",
            (unsigned long long)g1.slabs_decommitted, (unsigned long long)(t_now_ms() - t0));
  /* 425 x 12 KiB (85 per slab: 5 slabs) fit in the freed slabs */
  enum { Q = 425 };
  void *q[Q];
  fill(s, q, Q, 12 * KiB);
  oh_stats_t g2;
  cr_assert_eq(oh_stats(&g2), 0);
  cr_expect(g2.mapped_bytes <= g1.mapped_bytes + MiB,
            "reusing decommitted slabs for another class mapped %llu more bytes",
            (unsigned long long)(g2.mapped_bytes - g1.mapped_bytes));
  cr_expect(g2.slabs_decommitted + 5 <= g1.slabs_decommitted, "cached decommitted slabs %llu -> %llu: not reused",
            (unsigned long long)g1.slabs_decommitted, (unsigned long long)g2.slabs_decommitted);
  for (int i = 0; i < Q; i++) oh_slab_decref(s, q[i]);
  oh_slab_destroy(s);
  t_opt_restore(retain);
  t_opt_restore(delay);
}

Test(stats, purge_decommits_empty_slabs_and_counts_it) {
  t_opt_save_t delay = t_opt_set(OH_OPT_PURGE_DELAY_MS, -1); /* never on its own */
  oh_slab_t *s = oh_slab_new(NULL);
  cr_assert(s != NULL);
  enum { N = 800 }; /* 8 KiB chunks, 128 per slab: 7 slabs */
  void *p[N];
  fill(s, p, N, 8 * KiB);
  for (int i = 0; i < N; i++) cr_assert_eq(oh_slab_decref(s, p[i]), 1);
  oh_stats_t a = slab_stats(s);
  cr_expect(a.slabs_empty >= 1, "no empty slab kept with purge delay -1 (slabs_empty %llu)",
            (unsigned long long)a.slabs_empty);
  cr_expect(a.committed_bytes >= 5 * MiB, "committed %llu: freed slabs decommitted despite delay -1",
            (unsigned long long)a.committed_bytes);
  oh_stats_t g0;
  cr_assert_eq(oh_stats(&g0), 0);
  size_t purged = oh_purge();
  cr_expect(purged >= 5 * MiB, "oh_purge() returned %zu bytes", purged);
  oh_stats_t b = slab_stats(s), g1;
  cr_assert_eq(oh_stats(&g1), 0);
  cr_expect_eq(b.slabs_empty, 0, "slabs_empty %llu after oh_purge", (unsigned long long)b.slabs_empty);
  cr_expect(g1.committed_bytes + 5 * MiB <= g0.committed_bytes, "committed %llu -> %llu",
            (unsigned long long)g0.committed_bytes, (unsigned long long)g1.committed_bytes);
  cr_expect(g1.decommitted_bytes - g0.decommitted_bytes >= purged,
            "decommitted_bytes grew by %llu, oh_purge reported %zu",
            (unsigned long long)(g1.decommitted_bytes - g0.decommitted_bytes), purged);
  cr_expect(g1.purges > g0.purges, "purges counter did not move");
  /* oh_purge gives the address space back too: no free segment stays mapped */
  cr_expect(g1.mapped_bytes + 5 * MiB <= g0.mapped_bytes, "oh_purge left mapped %llu -> %llu bytes",
            (unsigned long long)g0.mapped_bytes, (unsigned long long)g1.mapped_bytes);
  cr_expect_eq(g1.slabs_decommitted, 0, "%llu free segments still mapped after oh_purge",
               (unsigned long long)g1.slabs_decommitted);
  oh_slab_destroy(s);
  t_opt_restore(delay);
}

Test(stats, purge_delay_zero_decommits_at_once) {
  t_opt_save_t delay = t_opt_set(OH_OPT_PURGE_DELAY_MS, 0);
  t_opt_save_t retain = t_opt_set(OH_OPT_RETAIN_BYTES, 0);
  oh_slab_t *s = oh_slab_new(NULL);
  cr_assert(s != NULL);
  enum { N = 800 }; /* 8 KiB chunks, 128 per slab: 7 slabs */
  void *p[N];
  fill(s, p, N, 8 * KiB);
  oh_stats_t a = slab_stats(s);
  for (int i = 0; i < N; i++) cr_assert_eq(oh_slab_decref(s, p[i]), 1);
  oh_stats_t b = slab_stats(s);
  cr_expect_eq(b.slabs_empty, 0, "purge delay 0 / retain 0 but %llu empty slabs kept committed",
               (unsigned long long)b.slabs_empty);
  cr_expect(b.committed_bytes + 5 * MiB <= a.committed_bytes,
            "committed %llu -> %llu after freeing %d x 16 KiB with purge delay 0",
            (unsigned long long)a.committed_bytes, (unsigned long long)b.committed_bytes, N);
  oh_slab_destroy(s);
  t_opt_restore(retain);
  t_opt_restore(delay);
}

Test(stats, thread_cache_holds_chunks_until_flush) {
  /* no purger pass may drain thread caches behind the test's back */
  t_opt_save_t delay = t_opt_set(OH_OPT_PURGE_DELAY_MS, -1);
  t_opt_save_t tc = t_opt_set(OH_OPT_TCACHE_BYTES, 256 * KiB);
  oh_slab_t *s = oh_slab_new(NULL);
  cr_assert(s != NULL);
  void *p[32];
  for (int i = 0; i < 32; i++) p[i] = oh_slab_alloc(s, 64);
  for (int i = 0; i < 32; i++) cr_assert_eq(oh_slab_decref(s, p[i]), 1);
  oh_stats_t st;
  cr_assert_eq(oh_slab_stats(s, &st), 0); /* no flush */
  int c = class_of(s, 64);
  cr_assert(c >= 0);
  cr_expect(st.classes[c].chunks_cached > 0,
            "32 freed 64-byte chunks, none in the thread cache (cache bound 256 KiB)");
  cr_expect(st.classes[c].chunks_cached * 64 <= 256 * KiB, "thread cache above its bound");
  cr_expect_eq(st.classes[c].chunks_in_use, 0, "cached chunks counted as in use");
  oh_thread_flush();
  cr_assert_eq(oh_slab_stats(s, &st), 0);
  cr_expect_eq(st.classes[c].chunks_cached, 0, "%llu chunks cached after oh_thread_flush",
               (unsigned long long)st.classes[c].chunks_cached);
  oh_slab_destroy(s);
  t_opt_restore(tc);
  t_opt_restore(delay);
}

/* chunks_cached is the free chunks on the local free lists of slabs thread
 * caches own, kept without a store of its own on the fast paths (tcache
 * counts: nfree_adj - allocs + frees): exact through fresh chunks (refills),
 * the first free into a full slab (slow path) and the others (fast path),
 * allocations from the free list, another thread's frees (on the slab's
 * stack, not the list), a free that collects that stack, and a flush. One
 * slab of 64 chunks, so every figure is known. */
typedef struct {
  oh_slab_t *s;
  void **p;
  int n;
  int failed; /* asserted on the test's thread */
} remote_free_t;

static void *free_remotely(void *arg) {
  remote_free_t *r = arg;
  for (int i = 0; i < r->n; i++) r->failed += oh_slab_decref(r->s, r->p[i]) != 1;
  return NULL;
}

/* Frees r->p[0 .. r->n) on a thread of their own; every free must succeed. */
static void free_on_another_thread(remote_free_t *r) {
  pthread_t t;
  r->failed = 0;
  cr_assert_eq(pthread_create(&t, NULL, free_remotely, r), 0);
  cr_assert_eq(pthread_join(t, NULL), 0);
  cr_assert_eq(r->failed, 0, "%d of the other thread's frees failed", r->failed);
}

#define EXPECT_CACHED(st, c, want, what)                                                                 \
  cr_expect_eq((st).classes[c].chunks_cached, (uint64_t)(want), "%llu chunks cached %s, want %d",        \
               (unsigned long long)(st).classes[c].chunks_cached, what, (int)(want))

Test(stats, chunks_cached_counts_local_free_lists_exactly) {
  t_opt_save_t delay = t_opt_set(OH_OPT_PURGE_DELAY_MS, -1); /* no pass drains the cache meanwhile */
  t_opt_save_t tc = t_opt_set(OH_OPT_TCACHE_BYTES, 1024 * KiB);
  oh_slab_t *s = oh_slab_new(&(oh_slab_config_t){.slab_size = 64 * KiB, .min_chunk = 1024, .growth = 2});
  cr_assert(s != NULL);
  int c = class_of(s, 1024);
  cr_assert(c >= 0);
  enum { N = 64 }; /* one slab */
  void *p[N], *q[N / 2], *extra;
  for (int i = 0; i < N; i++) cr_assert(p[i] = oh_slab_alloc(s, 1024));
  oh_stats_t st = t_stats_now(s);
  EXPECT_CACHED(st, c, 0, "after 64 fresh chunks (bump, through refills)");
  cr_expect_eq(st.classes[c].chunks_in_use, N);
  for (int i = 0; i < N; i += 2) cr_assert_eq(oh_slab_decref(s, p[i]), 1);
  st = t_stats_now(s);
  EXPECT_CACHED(st, c, N / 2, "after 32 frees (the first into a full slab)");
  for (int i = 0; i < N / 2; i++) cr_assert(p[2 * i] = oh_slab_alloc(s, 1024)); /* the free list */
  st = t_stats_now(s);
  EXPECT_CACHED(st, c, 0, "after 32 allocations from the free list");
  cr_expect_eq(st.classes[c].chunks_in_use, N);
  for (int i = 0; i < N / 2; i++) q[i] = p[2 * i + 1];
  remote_free_t r = {s, q, N / 2, 0};
  free_on_another_thread(&r);
  st = t_stats_now(s);
  EXPECT_CACHED(st, c, 0, "after another thread's 32 frees (on the slab's stack)");
  cr_expect_eq(st.classes[c].chunks_in_use, N / 2);
  cr_assert(extra = oh_slab_alloc(s, 1024)); /* a refill: collects the stack, pops one */
  st = t_stats_now(s);
  EXPECT_CACHED(st, c, N / 2 - 1, "after a refill that collected the stack");
  for (int i = 0; i < N / 4; i++) q[i] = p[2 * i];
  r.n = N / 4;
  free_on_another_thread(&r);
  cr_assert_eq(oh_slab_decref(s, p[2 * (N / 4)]), 1); /* a local free: brings the stack home */
  st = t_stats_now(s);
  EXPECT_CACHED(st, c, N / 2 - 1 + N / 4 + 1, "after a free that collected 16 more");
  cr_expect_eq(st.classes[c].chunks_in_use, N / 4);
  for (int i = N / 4 + 1; i < N / 2; i++) cr_assert_eq(oh_slab_decref(s, p[2 * i]), 1);
  cr_assert_eq(oh_slab_decref(s, extra), 1);
  st = t_stats_now(s);
  EXPECT_CACHED(st, c, N, "with every chunk free");
  cr_expect_eq(st.classes[c].chunks_in_use, 0);
  oh_thread_flush();
  st = t_stats_now(s);
  EXPECT_CACHED(st, c, 0, "after oh_thread_flush");
  /* The drain left the count consistent with this cache's counters (97
   * allocations, 49 frees): adopting the slab back brings exactly its 64. */
  cr_assert(extra = oh_slab_alloc(s, 1024));
  st = t_stats_now(s);
  EXPECT_CACHED(st, c, N - 1, "after a refill that adopted the drained slab");
  cr_assert_eq(oh_slab_decref(s, extra), 1);
  oh_slab_destroy(s);
  t_opt_restore(tc);
  t_opt_restore(delay);
}

Test(stats, tcache_bytes_zero_disables_caching) {
  t_opt_save_t tc = t_opt_set(OH_OPT_TCACHE_BYTES, 0);
  oh_slab_t *s = oh_slab_new(NULL);
  cr_assert(s != NULL);
  void *p[32];
  for (int i = 0; i < 32; i++) p[i] = oh_slab_alloc(s, 64);
  for (int i = 0; i < 32; i++) cr_assert_eq(oh_slab_decref(s, p[i]), 1);
  oh_stats_t st;
  cr_assert_eq(oh_slab_stats(s, &st), 0);
  uint64_t cached = 0;
  for (unsigned c = 0; c < st.class_count; c++) cached += st.classes[c].chunks_cached;
  cr_expect_eq(cached, 0, "thread cache disabled but %llu chunks cached",
               (unsigned long long)cached);
  cr_expect_eq(st.frees, 32);
  oh_slab_destroy(s);
  t_opt_restore(tc);
}

Test(stats, failed_calls_do_not_move_counters) {
  t_cap_install();
  oh_slab_t *s = oh_slab_new(NULL);
  cr_assert(s != NULL);
  void *p = oh_slab_alloc(s, 64);
  cr_assert(p != NULL);
  oh_stats_t a = slab_stats(s);
  int local;
  oh_slab_decref(s, &local);
  oh_slab_addref(s, (char *)p + 16);
  oh_slab_alloc(s, SIZE_MAX);
  cr_assert_eq(oh_slab_decref(s, p), 1);
  oh_slab_decref(s, p);
  oh_stats_t b = slab_stats(s);
  cr_expect_eq(t_cap_count(), 4, "%d errors reported, want 4", t_cap_count());
  cr_expect_eq(b.allocs, a.allocs);
  cr_expect_eq(b.frees, a.frees + 1);
  cr_expect_eq(b.in_use_bytes, 0);
  oh_slab_destroy(s);
  t_cap_remove();
}

/* A thread's cache owns slabs: the chunks it frees wait there for its next
 * allocations (counted as cached, never as in use), and once it stops their
 * pages go back to the OS within the purge delay. */
Test(stats, thread_cache_free_memory_goes_back_within_the_delay) {
  /* the rounds run at a delay long enough that nothing is purged meanwhile */
  t_opt_save_t delay = t_opt_set(OH_OPT_PURGE_DELAY_MS, 5000);
  t_opt_save_t retain = t_opt_set(OH_OPT_RETAIN_BYTES, 0);
  oh_slab_t *s = oh_slab_new(NULL);
  cr_assert(s != NULL);
  oh_stats_t g0;
  cr_assert_eq(oh_stats(&g0), 0);
  uint64_t rng = 9;
  void *p[512];
  for (int round = 0; round < 20; round++) {
    for (int n = 0; n < 512; n++) {
      p[n] = oh_slab_alloc(s, 16 + t_rand(&rng) % (8 * KiB));
      cr_assert(p[n] != NULL);
      t_touch(p[n], 16);
    }
    for (int i = 0; i < 512; i++) cr_assert_eq(oh_slab_decref(s, p[i]), 1);
    oh_stats_t st;
    cr_assert_eq(oh_slab_stats(s, &st), 0);
    uint64_t cached = 0;
    for (unsigned c = 0; c < st.class_count; c++) cached += st.classes[c].chunks_cached;
    cr_expect(cached > 0, "round %d: the freed chunks are not reported in the thread's cache", round);
    cr_expect_eq(st.in_use_bytes, 0, "round %d: cached chunks counted in use", round);
  }
  oh_stats_t g1;
  cr_assert_eq(oh_option_set(OH_OPT_PURGE_DELAY_MS, 100), 0); /* and now the thread stops */
  uint64_t t0 = t_now_ms();
  do {
    t_sleep_ms(20);
    cr_assert_eq(oh_stats(&g1), 0);
  } while (g1.committed_bytes > g0.committed_bytes + 256 * KiB && t_now_ms() - t0 < 2000);
  cr_expect(g1.committed_bytes <= g0.committed_bytes + 256 * KiB,
            "%llu KiB still committed %llu ms after the thread stopped (delay 100 ms)",
            (unsigned long long)((g1.committed_bytes - g0.committed_bytes) / KiB),
            (unsigned long long)(t_now_ms() - t0));
  cr_log_info("thread cache released in %llu ms", (unsigned long long)(t_now_ms() - t0));
  oh_slab_destroy(s);
  t_opt_restore(retain);
  t_opt_restore(delay);
}
