/* test_runs_quick.c - the run tier's quick lists (c/src/runpage.c, runs.c):
 * a run its slab's owner frees, beyond the few its cache keeps, goes claimed
 * on its slab's list for its page count, and the next request of as many
 * pages takes it back without the page map - what lets a batch of buffers
 * cost what a size class's free list costs. The lists must lose nothing the
 * page map promised: a listed run is free to the statistics and to a double
 * free's check, its pages serve other sizes (settled) before a new slab is
 * mapped, a purge decommits them, and a slab leaves its owner with none. */
#include "test_util.h"

#include "chunk.h" /* run slabs' descriptors and state words */

/* The run slab holding p, and p's page index in it. */
static ohi_slab_t *slab_of(oh_slab_t *h, void *p, uint32_t *idx) {
  ohi_span_t *sp = NULL;
  uint32_t *w = NULL;
  cr_assert_eq(ohi_chunk_find(h, p, "test", &sp, &w), 0);
  cr_assert_eq(sp->kind, OHI_SPAN_RUNS);
  ohi_slab_t *s = (ohi_slab_t *)sp;
  if (idx) *idx = (uint32_t)(w - ohi_slab_words(s));
  return s;
}

/* Whether the run at p is on its slab's quick list for k pages: its word
 * claimed (CACHED, so free to a release's check) and the list reaching it. */
static bool listed(oh_slab_t *h, void *p, uint32_t k) {
  uint32_t idx;
  ohi_slab_t *s = slab_of(h, p, &idx);
  uint32_t w = __atomic_load_n(&ohi_slab_words(s)[idx], __ATOMIC_ACQUIRE);
  if ((w & (OHI_W_FREE | OHI_W_CACHED)) != OHI_W_CACHED || !ohi_runq_has(s, k)) return false;
  for (uint32_t i = s->qhead[k]; i != OHI_W_END; i = ohi_slab_words(s)[i] & OHI_W_NEXT)
    if (i == idx) return true;
  return false;
}

enum { PER_SLAB = 64 }; /* runs of 16 KiB in a slab of 1 MiB */

/* n runs of 16 KiB from s into p. */
static void alloc_runs(oh_slab_t *s, char **p, int n) {
  for (int i = 0; i < n; i++) cr_assert((p[i] = oh_slab_alloc(s, 16 * KiB)) != NULL, "run %d of %d: allocation failed", i, n);
}

/* A batch freed in allocation order, then allocated again: the runs beyond
 * the cache's few wait on their slabs' lists, free to the statistics (the
 * emptied slab counted empty), and the next batch takes exactly those runs
 * back without a new mapping. */
Test(runs_quick, a_freed_batch_serves_the_next_batch) {
  t_opt_save_t delay = t_opt_set(OH_OPT_PURGE_DELAY_MS, -1); /* the tests purge */
  oh_slab_t *s = t_runs_heap();
  enum { N = 3 * PER_SLAB }; /* the first slab holds the cache's kept runs, the last is the current one */
  char *p[N];
  for (int i = 0; i < N; i++) {
    cr_assert((p[i] = oh_slab_alloc(s, 16 * KiB)) != NULL);
    t_fill(p[i], 16 * KiB, (uint64_t)i);
  }
  oh_stats_t a = t_stats_now(s);
  for (int i = 0; i < N; i++) cr_assert_eq(oh_slab_decref(s, p[i]), 1);
  int on_lists = 0;
  for (int i = 0; i < N; i++) on_lists += listed(s, p[i], 4);
  cr_expect(on_lists >= N - OHI_RUNC_N, "%d of %d freed runs are on their slabs' quick lists", on_lists, N);
  oh_stats_t b = t_stats_now(s);
  cr_expect_eq(b.in_use_bytes, 0, "listed runs counted in use: %llu bytes", (unsigned long long)b.in_use_bytes);
  cr_expect_eq(b.frees, (uint64_t)N);
  cr_expect_eq(b.slabs_empty, 1, "%llu slabs counted empty; want the middle one, whose runs are all listed",
               (unsigned long long)b.slabs_empty);
  char *q[N];
  for (int i = 0; i < N; i++) {
    cr_assert((q[i] = oh_slab_alloc(s, 16 * KiB)) != NULL);
    bool known = false;
    for (int j = 0; j < N && !known; j++) known = q[i] == p[j];
    cr_expect(known, "run %d of the second batch (%p) is not one the first batch freed", i, (void *)q[i]);
    for (int j = 0; j < i; j++) cr_assert_neq(q[i], q[j], "run %p handed out twice", (void *)q[i]);
    t_fill(q[i], 16 * KiB, 500 + (uint64_t)i);
  }
  t_expect_no_mapping(s, a, "the second batch");
  cr_expect_eq(t_stats_now(s).in_use_bytes, (uint64_t)N * 16 * KiB);
  for (int i = 0; i < N; i++) {
    cr_expect_eq(t_check(q[i], 16 * KiB, 500 + (uint64_t)i), SIZE_MAX, "run %d changed under its owner", i);
    cr_assert_eq(oh_slab_decref(s, q[i]), 1);
  }
  cr_assert_eq(oh_slab_destroy(s), 0);
  t_opt_restore(delay);
}

/* A listed run freed again is a double free (EALREADY), whether by free or
 * by decref, and it stays on its list once: handed out once. */
Test(runs_quick, a_listed_run_freed_twice_is_caught) {
  t_opt_save_t delay = t_opt_set(OH_OPT_PURGE_DELAY_MS, -1); /* the tests purge */
  oh_slab_t *s = t_runs_heap();
  enum { N = 16 };
  char *p[N];
  alloc_runs(s, p, N);
  for (int i = 0; i < N; i++) cr_assert_eq(oh_slab_decref(s, p[i]), 1);
  char *v = p[N - 2]; /* past the cache's few, between runs (the last one joined the slab's free pages) */
  cr_assert(listed(s, v, 4), "the run is not on its quick list");
  oh_stats_t a = t_stats_now(s);
  errno = 0;
  cr_expect_eq(oh_slab_decref(s, v), -1, "a listed run's decref was accepted");
  cr_expect_eq(errno, EALREADY);
  cr_expect_eq(oh_slab_addref(s, v), -1, "a listed run's addref was accepted");
  cr_expect_eq(oh_slab_refcount(s, v), 0);
  oh_stats_t b = t_stats_now(s);
  cr_expect_eq(b.frees, a.frees, "the refused free was counted");
  cr_expect(listed(s, v, 4), "the refused free took the run off its list");
  char *q[N];
  int seen = 0;
  for (int i = 0; i < N; i++) {
    cr_assert((q[i] = oh_slab_alloc(s, 16 * KiB)) != NULL);
    seen += q[i] == v;
  }
  cr_expect_eq(seen, 1, "the run freed twice was handed out %d times", seen);
  for (int i = 0; i < N; i++) cr_assert_eq(oh_slab_decref(s, q[i]), 1);
  cr_assert_eq(oh_slab_destroy(s), 0);
  t_opt_restore(delay);
}

/* Whether run slab s is filed by what it can serve now: the bucket of its
 * reach (its longest free or listed run), which the owner's pick trusts. */
static bool filed_by_reach(const ohi_slab_t *s) {
  uint32_t r = ohi_run_reach(s);
  return s->rbucket == (r < OHI_RUN_BUCKETS ? r : OHI_RUN_BUCKETS);
}

/* The allocation that takes a slab's last listed run (the fast path's
 * take) leaves the slab filed by what remains, at once: with nothing else
 * free in it, on no bucket - not on the bucket of the runs it no longer
 * lists, where the next pick would find a slab that cannot serve. */
Test(runs_quick, taking_the_last_listed_run_refiles_the_slab) {
  t_opt_save_t delay = t_opt_set(OH_OPT_PURGE_DELAY_MS, -1); /* the tests purge */
  oh_slab_t *s = t_runs_heap();
  enum { N = PER_SLAB, F = 12 };
  char *p[N];
  alloc_runs(s, p, N);
  ohi_slab_t *a = slab_of(s, p[N - 1], NULL);
  for (int i = 0; i < N; i++) cr_assert(slab_of(s, p[i], NULL) == a, "run %d is not in the first slab", i);
  for (int i = N - F; i < N; i++) cr_assert_eq(oh_slab_decref(s, p[i]), 1);
  int on_lists = 0;
  for (int i = N - F; i < N; i++) on_lists += listed(s, p[i], 4);
  cr_assert_geq(on_lists, 2, "only %d of %d freed runs are listed", on_lists, F);
  cr_assert(filed_by_reach(a), "the slab is on bucket %u with a reach of %u after the frees", a->rbucket,
            ohi_run_reach(a));
  for (int i = N - F; i < N; i++) {
    cr_assert((p[i] = oh_slab_alloc(s, 16 * KiB)) != NULL);
    cr_expect(filed_by_reach(a), "after allocation %d of %d the slab is on bucket %u with a reach of %u (%s)",
              i - (N - F) + 1, F, a->rbucket, ohi_run_reach(a), ohi_runq_has(a, 4) ? "listed runs left" : "none listed");
  }
  cr_expect_eq(ohi_run_reach(a), 0, "the slab has %u pages of room after its %d runs came back", ohi_run_reach(a), N);
  for (int i = 0; i < N; i++) cr_assert_eq(oh_slab_decref(s, p[i]), 1);
  cr_assert_eq(oh_slab_destroy(s), 0);
  t_opt_restore(delay);
}

/* Listed 16 KiB runs settle into the page map before a longer request maps
 * a slab: three neighbours become a 48 KiB run in place; and a 16 KiB
 * request splits a listed 64 KiB run rather than map. */
Test(runs_quick, listed_runs_serve_other_sizes_before_a_new_slab) {
  t_opt_save_t delay = t_opt_set(OH_OPT_PURGE_DELAY_MS, -1); /* the tests purge */
  oh_slab_t *s = t_runs_heap();
  enum { N = PER_SLAB };
  char *p[N];
  alloc_runs(s, p, N);
  for (int i = 0; i < N; i++)
    if (i % 4 != 0) cr_assert_eq(oh_slab_decref(s, p[i]), 1);
  int on_lists = 0;
  for (int i = 0; i < N; i++) on_lists += i % 4 != 0 && listed(s, p[i], 4);
  cr_assert(on_lists >= 3 * N / 4 - OHI_RUNC_N, "only %d freed runs are listed", on_lists);
  oh_stats_t a = t_stats_now(s);
  for (int j = 0; j < N / 4; j++) {
    char *q = oh_slab_alloc(s, 48 * KiB);
    cr_assert(q != NULL);
    int hole = -1;
    for (int i = 1; i < N; i += 4)
      if (q == p[i]) hole = i;
    cr_expect(hole >= 0, "48 KiB run %d at %p is not in a hole three listed runs left", j, (void *)q);
  }
  t_expect_no_mapping(s, a, "the 48 KiB runs");
  cr_assert_eq(oh_slab_destroy(s), 0);

  /* 64 KiB runs: one slab of 16, all but one freed (listed past the cache's
   * few), then 16 KiB requests */
  s = t_runs_heap();
  enum { M = 16 };
  char *r[M];
  for (int i = 0; i < M; i++) cr_assert((r[i] = oh_slab_alloc(s, 64 * KiB)) != NULL);
  for (int i = 0; i < M - 1; i++) cr_assert_eq(oh_slab_decref(s, r[i]), 1);
  cr_assert(listed(s, r[M - 2], 16));
  a = t_stats_now(s);
  for (int j = 0; j < 4 * (M - 1); j++) {
    char *q = oh_slab_alloc(s, 16 * KiB);
    cr_assert(q != NULL);
    cr_expect(q >= r[0] && q < r[M - 1], "16 KiB run %d at %p is outside the freed 64 KiB runs", j, (void *)q);
  }
  t_expect_no_mapping(s, a, "the 16 KiB runs");
  cr_assert_eq(oh_slab_destroy(s), 0);
  t_opt_restore(delay);
}

/* A purge settles the lists: it decommits exactly the listed runs' pages
 * and nothing live, and a slab whose runs were all listed is released. */
Test(runs_quick, a_purge_decommits_listed_runs) {
  t_opt_save_t delay = t_opt_set(OH_OPT_PURGE_DELAY_MS, -1); /* the tests purge */
  oh_slab_t *s = t_runs_heap();
  enum { N = PER_SLAB };
  char *p[N];
  for (int i = 0; i < N; i++) {
    cr_assert((p[i] = oh_slab_alloc(s, 16 * KiB)) != NULL);
    t_fill(p[i], 16 * KiB, (uint64_t)i);
  }
  for (int i = 0; i < N; i += 2) cr_assert_eq(oh_slab_decref(s, p[i]), 1);
  cr_assert(listed(s, p[N - 2], 4));
  oh_stats_t a = t_stats_now(s);
  size_t bytes = oh_slab_purge(s);
  cr_expect_eq(bytes, (size_t)N / 2 * 16 * KiB, "the purge decommitted %zu bytes, want the %zu the freed runs held",
               bytes, (size_t)N / 2 * 16 * KiB);
  oh_stats_t b = t_stats_now(s);
  cr_expect_eq(b.in_use_bytes, a.in_use_bytes);
  for (int i = 1; i < N; i += 2) cr_expect_eq(t_check(p[i], 16 * KiB, (uint64_t)i), SIZE_MAX, "live run %d lost", i);
  /* the runs left each border pages the purge settled: they join them */
  for (int i = 1; i < N; i += 2) cr_assert_eq(oh_slab_decref(s, p[i]), 1);
  cr_assert(!listed(s, p[N - 1], 4), "a run freed next to free pages was listed");
  cr_expect(oh_slab_purge(s) > 0, "the second purge decommitted nothing");
  cr_expect_eq(t_stats_now(s).mapped_bytes, 0, "an emptied slab stayed mapped after a purge");
  cr_assert_eq(oh_slab_destroy(s), 0);

  /* a full slab freed in order: every run past the cache's few is listed */
  s = t_runs_heap();
  alloc_runs(s, p, N);
  cr_assert(slab_of(s, p[0], NULL) == slab_of(s, p[N - 1], NULL), "%d runs of 16 KiB took two slabs", N);
  for (int i = 0; i < N; i++) cr_assert_eq(oh_slab_decref(s, p[i]), 1);
  int on_lists = 0;
  for (int i = 0; i < N; i++) on_lists += listed(s, p[i], 4);
  cr_assert_eq(on_lists, N - OHI_RUNC_N, "%d of the %d runs past the cache's few are listed", on_lists, N - OHI_RUNC_N);
  size_t got = oh_slab_purge(s);
  cr_expect_geq(got, (size_t)(N - OHI_RUNC_N) * 16 * KiB, "the purge decommitted %zu bytes, less than the listed runs", got);
  cr_expect_eq(t_stats_now(s).mapped_bytes, 0, "a slab whose runs were all listed stayed mapped after a purge");
  cr_assert_eq(oh_slab_destroy(s), 0);
  t_opt_restore(delay);
}

/* A run freed next to free pages joins them at once - the page map's hole
 * grows to serve any size - where a run freed between live runs waits on
 * the quick list for its length (ohi_runq_listable). */
Test(runs_quick, a_run_next_to_free_pages_joins_them) {
  t_opt_save_t delay = t_opt_set(OH_OPT_PURGE_DELAY_MS, -1); /* the tests purge */
  oh_slab_t *s = t_runs_heap();
  enum { N = 16 };
  char *p[N];
  alloc_runs(s, p, N);
  ohi_slab_t *a = slab_of(s, p[0], NULL);
  for (int i = 0; i < N; i++) cr_assert(slab_of(s, p[i], NULL) == a, "run %d is not in the first slab", i);
  for (int i = 0; i < OHI_RUNC_N; i++) cr_assert_eq(oh_slab_decref(s, p[i]), 1); /* the cache keeps these */
  uint32_t tail = a->maxrun; /* the slab's pages after p[N - 1], never handed out */
  cr_assert_gt(tail, 0);
  cr_assert_eq(oh_slab_decref(s, p[N - 1]), 1);
  cr_expect(!listed(s, p[N - 1], 4), "the run beside the slab's free pages was listed");
  cr_expect_eq(a->maxrun, tail + 4, "the free pages after the last run are %u long, want %u", a->maxrun, tail + 4);
  cr_assert_eq(oh_slab_decref(s, p[8]), 1);
  cr_assert_eq(oh_slab_decref(s, p[9]), 1);
  cr_expect(listed(s, p[8], 4) && listed(s, p[9], 4), "runs freed between live runs are not listed");
  cr_assert_eq(oh_slab_decref(s, p[N - 2]), 1);
  cr_expect(!listed(s, p[N - 2], 4), "the run beside a freed run's pages was listed");
  /* the hole p[N - 2], p[N - 1] and the tail form serves a longer run */
  oh_stats_t st = t_stats_now(s);
  char *q = oh_slab_alloc(s, 32 * KiB);
  cr_assert(q != NULL);
  cr_expect_eq(q, p[N - 2], "a run of 32 KiB went to %p, not to the hole at %p", (void *)q, (void *)p[N - 2]);
  t_expect_no_mapping(s, st, "the 32 KiB run");
  cr_assert_eq(oh_slab_decref(s, q), 1);
  for (int i = OHI_RUNC_N; i < N - 2; i++)
    if (i != 8 && i != 9) cr_assert_eq(oh_slab_decref(s, p[i]), 1);
  cr_assert_eq(oh_slab_destroy(s), 0);
  t_opt_restore(delay);
}

typedef struct {
  oh_slab_t *s;
  char *p[PER_SLAB];
} batch_t;

static void *alloc_all_free_all(void *arg) {
  batch_t *b = arg;
  for (int i = 0; i < PER_SLAB; i++) b->p[i] = oh_slab_alloc(b->s, 16 * KiB);
  for (int i = 0; i < PER_SLAB; i++) oh_slab_decref(b->s, b->p[i]);
  return NULL;
}

/* A thread that exits with runs on its lists hands its slab back with them
 * settled: another thread's 256 KiB runs fill that slab without mapping. */
Test(runs_quick, a_slab_leaves_its_owner_with_its_lists_settled) {
  t_opt_save_t delay = t_opt_set(OH_OPT_PURGE_DELAY_MS, -1); /* the tests purge */
  oh_slab_t *s = t_runs_heap();
  batch_t b = {.s = s};
  pthread_t t;
  cr_assert_eq(pthread_create(&t, NULL, alloc_all_free_all, &b), 0);
  pthread_join(t, NULL);
  for (int i = 0; i < PER_SLAB; i++) cr_assert(b.p[i] != NULL);
  oh_stats_t a = t_stats_now(s);
  cr_assert_eq(a.in_use_bytes, 0);
  char *lo = b.p[0], *hi = b.p[PER_SLAB - 1];
  for (int j = 0; j < 4; j++) {
    char *q = oh_slab_alloc(s, 256 * KiB);
    cr_assert(q != NULL);
    cr_expect(q >= lo && q <= hi, "256 KiB run %d at %p is outside the exited thread's slab", j, (void *)q);
  }
  t_expect_no_mapping(s, a, "the 256 KiB runs");
  cr_assert_eq(oh_slab_destroy(s), 0);
  t_opt_restore(delay);
}
