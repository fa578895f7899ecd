/* test_runs.c - runs of pages (c/src/runpage.c, runs.c; OH_OPT_PAGE_RUNS):
 * sizes from 16 KiB to a quarter slab are runs of whole pages, so the pages
 * one size freed serve another at once, committed, without a new slab; the
 * instances here turn them on whatever the option says (they are the default;
 * make test also runs every suite with OFFHEAP_PAGE_RUNS=0: test-c-classes).
 * The release protocol stays
 * the chunks' (one claiming CAS, double frees caught, interior and tail
 * pointers refused); statistics, leak reports, purges, thread exit and the
 * instances without runs keep their contracts. */
#include "test_util.h"

#include "chunk.h" /* run slabs' descriptors and state words: the tests check their pages */

static oh_stats_t stats_of(oh_slab_t *s) {
  oh_stats_t st;
  oh_thread_flush();
  cr_assert_eq(oh_slab_stats(s, &st), 0);
  return st;
}

/* The process-wide instance, made now with runs (each test runs in a
 * process of its own, where nothing has made it yet). */
static void default_with_runs(void) {
  t_opt_save_t on = t_opt_set(OH_OPT_PAGE_RUNS, 1);
  void *p = oh_alloc(20 * KiB + 1);
  t_opt_restore(on);
  cr_assert(p != NULL);
  cr_assert_eq(oh_usable_size(p), 24 * KiB, "the process-wide instance was made before the test: no runs");
  oh_free(p);
}

static size_t pages_of(size_t n) { return (n + t_page() - 1) / t_page() * t_page(); }

/* The phase change in small: 16 KiB buffers, three of every four freed, then
 * 48 KiB ones - each lands in a hole the frees left, and no slab is added. */
Test(runs, freed_pages_serve_another_size_without_a_new_slab) {
  t_opt_save_t delay = t_opt_set(OH_OPT_PURGE_DELAY_MS, -1);
  oh_slab_t *s = t_runs_heap();
  enum { N = 256 };
  char *p[N];
  for (int i = 0; i < N; i++) {
    p[i] = oh_slab_alloc(s, 16 * KiB);
    cr_assert(p[i] != NULL);
    t_fill(p[i], 16 * KiB, (uint64_t)i);
  }
  for (int i = 0; i < N; i++)
    if (i % 4 != 0) cr_assert_eq(oh_slab_decref(s, p[i]), 1);
  oh_stats_t a = stats_of(s);
  char *q[N / 4];
  for (int j = 0; j < N / 4; j++) {
    q[j] = oh_slab_alloc(s, 48 * KiB);
    cr_assert(q[j] != NULL);
    int hole = -1;
    for (int i = 1; i < N; i += 4)
      if (q[j] == p[i]) hole = i;
    cr_expect(hole >= 0, "48 KiB run %d at %p is not in a hole three freed 16 KiB runs left", j, (void *)q[j]);
    t_fill(q[j], 48 * KiB, 1000 + (uint64_t)j);
  }
  oh_stats_t b = stats_of(s);
  cr_expect_eq(b.mapped_bytes, a.mapped_bytes, "the 48 KiB runs mapped %lld more bytes",
               (long long)(b.mapped_bytes - a.mapped_bytes));
  cr_expect_eq(b.in_use_bytes, (uint64_t)(N / 4) * (16 + 48) * KiB);
  for (int i = 0; i < N; i += 4) cr_expect_eq(t_check(p[i], 16 * KiB, (uint64_t)i), SIZE_MAX, "16 KiB run %d lost", i);
  for (int j = 0; j < N / 4; j++) cr_expect_eq(t_check(q[j], 48 * KiB, 1000 + (uint64_t)j), SIZE_MAX);
  cr_assert_eq(oh_slab_destroy(s), 0);
  t_opt_restore(delay);
}

Test(runs, sizes_round_to_whole_pages_and_reused_pages_read_zero_through_calloc) {
  default_with_runs();
  const size_t sizes[] = {16 * KiB, 16 * KiB + 1, 20 * KiB - 1, 48 * KiB, 100 * KiB + 7, 256 * KiB};
  for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
    void *p = oh_alloc(sizes[i]);
    cr_assert(p != NULL);
    cr_expect_eq(oh_usable_size(p), pages_of(sizes[i]), "oh_alloc(%zu): usable %zu", sizes[i], oh_usable_size(p));
    cr_expect_eq(oh_kind_of(p), OH_KIND_LARGE, "a run is a whole-page allocation");
    cr_expect_eq((uintptr_t)p % t_page(), 0, "a run starts on a page");
    memset(p, 0xab, sizes[i]);
    cr_assert_eq(oh_free(p), 0);
    unsigned char *z = oh_calloc(sizes[i]); /* the same pages, first fit: written, so zeroed here */
    cr_assert(z != NULL);
    cr_expect(t_all_zero(z, sizes[i]), "oh_calloc(%zu) over reused pages is not zero", sizes[i]);
    cr_assert_eq(oh_free(z), 0);
  }
  void *big = oh_alloc(256 * KiB + 1); /* past a quarter slab: its size class again */
  cr_assert(big != NULL);
  cr_expect_eq(oh_kind_of(big), OH_KIND_SLAB);
  oh_free(big);
}

/* Every page of a run but its first is inside an allocation; a freed run's
 * pages are free: each release says which, naming the run's start. */
Test(runs, releases_inside_or_after_a_run_are_refused) {
  default_with_runs();
  t_cap_install();
  char *p = oh_alloc(48 * KiB);
  cr_assert(p != NULL);
  char *bad[] = {p + 16, p + t_page(), p + 11 * t_page(), p + 11 * t_page() + 8};
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    t_cap_reset();
    int r = oh_free(bad[i]);
    T_EXPECT_ERR("oh_free inside a run", r == -1, errno, bad[i], EFAULT);
    cr_expect(t_msg_names_ptr(t_cap.last_msg, p), "the message does not name the run at %p: %s", (void *)p,
              t_cap.last_msg);
    t_cap_reset();
    long rc = oh_slab_refcount(oh_default_slab(), bad[i]);
    T_EXPECT_ERR("oh_slab_refcount inside a run", rc == -1, errno, bad[i], EFAULT);
    t_cap_reset();
    int ar = oh_slab_addref(oh_default_slab(), bad[i]);
    T_EXPECT_ERR("oh_slab_addref inside a run", ar == -1, errno, bad[i], EFAULT);
    t_cap_reset();
    size_t u = oh_usable_size(bad[i]);
    T_EXPECT_ERR("oh_usable_size inside a run", u == 0, errno, bad[i], EFAULT);
  }
  cr_expect_eq(oh_slab_refcount(oh_default_slab(), p), 1, "the refusals changed the run's count");
  cr_assert_eq(oh_free(p), 0);
  t_cap_reset();
  int r = oh_free(p);
  T_EXPECT_ERR("double free of a run", r == -1, errno, p, EALREADY);
  t_cap_reset();
  r = oh_free(p + t_page());
  T_EXPECT_ERR("free of a freed run's page", r == -1, errno, p + t_page(), EALREADY, EFAULT);
  t_cap_remove();
}

Test(runs, reference_counts_hold_a_run_until_the_last_decref) {
  oh_slab_t *s = t_runs_heap();
  void *p = oh_slab_alloc(s, 40 * KiB);
  cr_assert(p != NULL);
  cr_assert_eq(oh_slab_addref(s, p), 0);
  cr_assert_eq(oh_slab_addref(s, p), 0);
  cr_expect_eq(oh_slab_refcount(s, p), 3);
  cr_expect_eq(oh_slab_decref(s, p), 0);
  cr_expect_eq(oh_slab_decref(s, p), 0);
  void *other = oh_slab_alloc(s, 40 * KiB);
  cr_expect(other != p, "a run with a reference left was handed out again");
  cr_expect_eq(oh_slab_decref(s, p), 1);
  cr_expect_eq(oh_slab_refcount(s, p), 0);
  cr_expect_eq(oh_slab_decref(s, other), 1);
  cr_assert_eq(oh_slab_destroy(s), 0);
}

/* ---- threads ---------------------------------------------------------------- */

typedef struct {
  char **p;
  int n;
  pthread_barrier_t *go;
  int ok, already;
} racer_t;

static void *racer(void *arg) {
  racer_t *r = arg;
  pthread_barrier_wait(r->go);
  for (int i = 0; i < r->n; i++) {
    int rc = oh_free(r->p[i]);
    if (rc == 0) r->ok++;
    else if (errno == EALREADY) r->already++;
  }
  return NULL;
}

/* Two threads free the same runs at once: each run is freed exactly once,
 * the other release is a double free - N of N, as for chunks. */
Test(runs, racing_double_frees_are_caught_every_time) {
  default_with_runs();
  enum { N = 512 };
  t_cap_install();
  char **p = malloc(N * sizeof *p);
  cr_assert(p != NULL);
  for (int round = 0; round < 4; round++) {
    for (int i = 0; i < N; i++) cr_assert((p[i] = oh_alloc(16 * KiB + (size_t)(i % 7) * 4 * KiB)) != NULL);
    pthread_barrier_t go;
    pthread_barrier_init(&go, NULL, 2);
    racer_t r[2] = {{p, N, &go, 0, 0}, {p, N, &go, 0, 0}};
    pthread_t t[2];
    for (int k = 0; k < 2; k++) cr_assert_eq(pthread_create(&t[k], NULL, racer, &r[k]), 0);
    for (int k = 0; k < 2; k++) pthread_join(t[k], NULL);
    pthread_barrier_destroy(&go);
    cr_expect_eq(r[0].ok + r[1].ok, N, "round %d: %d frees succeeded for %d runs", round, r[0].ok + r[1].ok, N);
    cr_expect_eq(r[0].already + r[1].already, N, "round %d: %d double frees caught of %d", round,
                 r[0].already + r[1].already, N);
  }
  free(p);
  t_cap_remove();
}

typedef struct {
  oh_slab_t *s;
  char **p;
  int n;
} freer_t;

static void *free_all_of(void *arg) {
  freer_t *f = arg;
  for (int i = 0; i < f->n; i++)
    if (f->p[i] != NULL && oh_slab_decref(f->s, f->p[i]) != 1) return (void *)1;
  return NULL;
}

/* Runs freed by another thread go home through their slab's cross-thread
 * stack: the owner allocates them again without a new slab, and the counts
 * come out exact. */
Test(runs, runs_freed_by_another_thread_come_home) {
  t_opt_save_t delay = t_opt_set(OH_OPT_PURGE_DELAY_MS, -1);
  oh_slab_t *s = t_runs_heap();
  enum { N = 200 };
  char *p[N];
  for (int i = 0; i < N; i++) cr_assert((p[i] = oh_slab_alloc(s, 24 * KiB)) != NULL);
  oh_stats_t a = stats_of(s);
  freer_t f = {s, p, N};
  pthread_t t;
  cr_assert_eq(pthread_create(&t, NULL, free_all_of, &f), 0);
  void *failed;
  pthread_join(t, &failed);
  cr_assert(failed == NULL, "a remote free failed");
  for (int i = 0; i < N; i++) cr_assert((p[i] = oh_slab_alloc(s, i % 2 ? 16 * KiB : 32 * KiB)) != NULL);
  oh_stats_t b = stats_of(s);
  cr_expect_eq(b.mapped_bytes, a.mapped_bytes, "reallocating after remote frees mapped %lld more bytes",
               (long long)(b.mapped_bytes - a.mapped_bytes));
  cr_expect_eq(b.in_use_bytes, N * 24 * KiB);
  for (int i = 0; i < N; i++) cr_assert_eq(oh_slab_decref(s, p[i]), 1);
  oh_stats_t c = stats_of(s);
  cr_expect_eq(c.in_use_bytes, 0);
  cr_expect_eq(c.allocs, 2 * N, "allocs %llu: one per run, not per page", (unsigned long long)c.allocs);
  cr_expect_eq(c.frees, 2 * N);
  cr_assert_eq(oh_slab_destroy(s), 0);
  t_opt_restore(delay);
}

static void *alloc_free_half_and_exit(void *arg) {
  freer_t *f = arg;
  for (int i = 0; i < f->n; i++) f->p[i] = oh_slab_alloc(f->s, 16 * KiB);
  for (int i = 0; i < f->n; i += 2) {
    oh_slab_decref(f->s, f->p[i]);
    f->p[i] = NULL;
  }
  return NULL;
}

/* A thread that exits hands its run slabs back: another thread fills the
 * pages it left free without mapping, and its live runs stay intact. */
Test(runs, thread_exit_hands_run_slabs_back) {
  t_opt_save_t delay = t_opt_set(OH_OPT_PURGE_DELAY_MS, -1);
  oh_slab_t *s = t_runs_heap();
  enum { N = 256 };
  char *p[N];
  freer_t f = {s, p, N};
  pthread_t t;
  cr_assert_eq(pthread_create(&t, NULL, alloc_free_half_and_exit, &f), 0);
  pthread_join(t, NULL);
  for (int i = 1; i < N; i += 2) cr_assert(p[i] != NULL);
  oh_stats_t a = stats_of(s);
  char *q[N / 2];
  for (int i = 0; i < N / 2; i++) cr_assert((q[i] = oh_slab_alloc(s, 16 * KiB)) != NULL);
  oh_stats_t b = stats_of(s);
  cr_expect_eq(b.mapped_bytes, a.mapped_bytes, "the exited thread's free pages were not reused (+%lld bytes)",
               (long long)(b.mapped_bytes - a.mapped_bytes));
  f.n = N;
  cr_assert(free_all_of(&f) == NULL);
  for (int i = 0; i < N / 2; i++) cr_assert_eq(oh_slab_decref(s, q[i]), 1);
  cr_expect_eq(stats_of(s).in_use_bytes, 0);
  cr_assert_eq(oh_slab_destroy(s), 0);
  t_opt_restore(delay);
}

/* ---- pages: purge, statistics, leaks ------------------------------------------------ */

/* A forced purge decommits exactly the free pages the runs left (the slab's
 * other pages were never committed), and a run taken over decommitted pages
 * reads as zero. */
Test(runs, a_purge_decommits_exactly_the_free_pages) {
  t_opt_save_t delay = t_opt_set(OH_OPT_PURGE_DELAY_MS, -1);
  oh_slab_t *s = t_runs_heap();
  enum { N = 32 };
  char *p[N];
  for (int i = 0; i < N; i++) {
    cr_assert((p[i] = oh_slab_alloc(s, 16 * KiB)) != NULL);
    memset(p[i], 0x5a, 16 * KiB);
  }
  for (int i = 0; i < N; i += 2) cr_assert_eq(oh_slab_decref(s, p[i]), 1);
  size_t bytes = oh_slab_purge(s);
  cr_expect_eq(bytes, N / 2 * 16 * KiB, "the purge decommitted %zu bytes, want the %zu the freed runs held", bytes,
               (size_t)(N / 2 * 16 * KiB));
  cr_expect_eq(oh_slab_purge(s), 0, "a second purge decommitted again");
  unsigned char *z = oh_slab_alloc(s, 16 * KiB); /* first fit: the first freed run */
  cr_assert(z == (unsigned char *)p[0], "first fit took %p, not the first hole %p", (void *)z, (void *)p[0]);
  cr_expect(t_all_zero(z, 16 * KiB), "a run over decommitted pages kept old bytes");
  for (int i = 1; i < N; i += 2) {
    unsigned char *b = (unsigned char *)p[i];
    cr_assert(b[0] == 0x5a && b[16 * KiB - 1] == 0x5a, "live run %d lost its bytes", i);
    cr_assert_eq(oh_slab_decref(s, p[i]), 1);
  }
  cr_assert_eq(oh_slab_decref(s, z), 1);
  oh_stats_t a = stats_of(s);
  cr_expect(a.mapped_bytes >= MiB, "no run slab counted in mapped bytes");
  oh_slab_purge(s); /* empty now: released */
  oh_stats_t b = stats_of(s);
  cr_expect_eq(b.mapped_bytes, 0, "an empty run slab was not released by a forced purge (%llu bytes)",
               (unsigned long long)b.mapped_bytes);
  cr_assert_eq(oh_slab_destroy(s), 0);
  t_opt_restore(delay);
}

typedef struct {
  size_t n, bytes;
  int cls;
} leak_sum_t;

static void sum_leak(void *p, size_t size, long refs, int cls, void *arg) {
  (void)p;
  (void)refs;
  leak_sum_t *l = arg;
  l->n++;
  l->bytes += size;
  l->cls = cls;
}

Test(runs, statistics_and_leaks_count_runs_by_their_pages) {
  oh_slab_t *s = t_runs_heap();
  const size_t sizes[] = {16 * KiB, 17 * KiB, 60 * KiB, 200 * KiB};
  void *p[4];
  size_t want = 0;
  for (int i = 0; i < 4; i++) {
    cr_assert((p[i] = oh_slab_alloc(s, sizes[i])) != NULL);
    want += pages_of(sizes[i]);
  }
  oh_stats_t st = stats_of(s);
  cr_expect_eq(st.in_use_bytes, want, "in use %llu, want %zu", (unsigned long long)st.in_use_bytes, want);
  cr_expect_eq(st.allocs, 4);
  cr_expect_eq(st.large_in_use, 0);
  for (unsigned c = 0; c < st.class_count; c++) cr_expect_eq(st.classes[c].chunks_in_use, 0, "class %u", c);
  cr_expect_eq(st.class_count, (uint32_t)oh_slab_class_count(s), "a class row for the run class");
  leak_sum_t l = {0, 0, 0};
  cr_expect_eq(oh_slab_leaks(s, sum_leak, &l), 4);
  cr_expect_eq(l.bytes, want, "leaks reported %zu bytes, want %zu", l.bytes, want);
  cr_expect_eq(l.cls, -1, "a run is reported as a whole-page allocation");
  for (int i = 0; i < 4; i++) cr_assert_eq(oh_slab_decref(s, p[i]), 1);
  st = stats_of(s);
  cr_expect_eq(st.in_use_bytes, 0);
  cr_expect_eq(st.frees, 4);
  cr_expect_eq(oh_slab_leaks(s, NULL, NULL), 0);
  cr_assert_eq(oh_slab_destroy(s), 0);
}

/* ---- where runs are not used --------------------------------------------------------- */

/* 44 KiB: a run of 11 pages, or the 48 KiB class. */
static size_t usable_of_44k(oh_slab_t *s) {
  void *p = oh_slab_alloc(s, 44 * KiB);
  cr_assert(p != NULL);
  size_t u = oh_slab_usable_size(s, p);
  cr_assert_eq(oh_slab_decref(s, p), 1);
  return u;
}

Test(runs, debug_mode_option_off_and_single_size_instances_keep_size_classes) {
  oh_slab_t *s = t_runs_heap();
  cr_expect_eq(usable_of_44k(s), 44 * KiB, "a run of 11 pages");
  void *before = oh_slab_alloc(s, 44 * KiB); /* a run, freed in debug mode below */
  cr_assert(before != NULL);
  t_opt_save_t dbg = t_opt_set(OH_OPT_DEBUG, 1);
  size_t u = usable_of_44k(s); /* debug mode: the size class, poisoned and guarded when freed */
  cr_expect_eq(u, 48 * KiB, "debug mode used a run (usable %zu)", u);
  cr_expect_eq(oh_slab_decref(s, before), 1, "a run allocated before debug mode could not be freed in it");
  t_opt_restore(dbg);
  cr_assert_eq(oh_slab_destroy(s), 0);

  t_opt_save_t on = t_opt_set(OH_OPT_PAGE_RUNS, 0);
  s = oh_slab_new(NULL);
  t_opt_restore(on);
  cr_assert(s != NULL);
  cr_expect_eq(usable_of_44k(s), 48 * KiB, "OFFHEAP_PAGE_RUNS=0 still made runs");
  cr_assert_eq(oh_slab_destroy(s), 0);

  /* smallest chunk 44 KiB: an instance for one size (a BufferPool's) */
  oh_slab_config_t one = {44 * KiB, MiB, 2.0};
  on = t_opt_set(OH_OPT_PAGE_RUNS, 1);
  s = oh_slab_new(&one);
  t_opt_restore(on);
  cr_assert(s != NULL);
  cr_expect_eq(usable_of_44k(s), oh_slab_class_size(s, 0), "a single-size instance got runs");
  void *p = oh_slab_alloc(s, 48 * KiB);
  cr_expect_eq(oh_kind_of(p), OH_KIND_SLAB);
  oh_slab_decref(s, p);
  cr_assert_eq(oh_slab_destroy(s), 0);
}

/* ---- the runs a cache keeps, and owner handles -------------------------------------- */

/* A run freed by its slab's owner is kept for the next allocation of as many
 * pages (no page map); kept runs go back to the page map before a size that
 * needs their pages makes a new slab. */
Test(runs, a_kept_run_serves_its_size_and_is_flushed_before_a_new_slab) {
  t_opt_save_t delay = t_opt_set(OH_OPT_PURGE_DELAY_MS, -1);
  oh_slab_t *s = t_runs_heap();
  /* one slab of exactly 64 runs of 16 KiB */
  enum { N = 64 };
  char *p[N];
  for (int i = 0; i < N; i++) cr_assert((p[i] = oh_slab_alloc(s, 16 * KiB)) != NULL);
  oh_stats_t a0 = t_stats_now(s);
  for (int i = 0; i < 4; i++) cr_assert_eq(oh_slab_decref(s, p[i]), 1); /* kept: 4 runs of 4 pages */
  void *q = oh_slab_alloc(s, 64 * KiB); /* their 16 pages, once back in the page map */
  cr_assert(q != NULL);
  cr_expect_eq(q, p[0], "the 64 KiB run is not where the four kept runs were");
  oh_stats_t a1 = t_stats_now(s);
  cr_expect(a1.mapped_bytes <= a0.mapped_bytes, "the kept runs' pages were not used: %lld more bytes mapped",
            (long long)(a1.mapped_bytes - a0.mapped_bytes));
  cr_expect_eq(a1.in_use_bytes, (N - 4) * 16 * KiB + 64 * KiB);
  cr_expect_eq(a1.allocs, N + 1);
  cr_assert_eq(oh_slab_decref(s, q), 1);
  for (int i = 4; i < N; i++) cr_assert_eq(oh_slab_decref(s, p[i]), 1);
  void *a = oh_slab_alloc(s, 20 * KiB);
  cr_assert(a != NULL);
  cr_assert_eq(oh_slab_decref(s, a), 1);
  cr_expect_eq(oh_slab_alloc(s, 20 * KiB), a, "the kept run was not handed out again");
  cr_expect_eq(oh_slab_refcount(s, a), 1);
  cr_assert_eq(oh_slab_decref(s, a), 1);
  cr_expect_eq(oh_slab_decref(s, a), -1, "a kept run freed twice");
  cr_expect_eq(errno, EALREADY);

  oh_stats_t a2 = stats_of(s);
  cr_expect_eq(a2.in_use_bytes, 0);
  cr_expect_eq(a2.allocs, a2.frees);
  cr_expect_eq(oh_slab_purge(s) > 0, 1, "a forced purge released nothing though every run is free");
  cr_expect_eq(stats_of(s).mapped_bytes, 0, "a slab whose runs were kept stayed mapped after the purge");
  cr_assert_eq(oh_slab_destroy(s), 0);
  t_opt_restore(delay);
}

/* The class of size n in h (a size class of the run range here). */
static int class_of(oh_slab_t *h, size_t n) {
  for (unsigned i = 0; i < h->nclasses; i++)
    if (i != h->run_class && h->classes[i].chunk_size >= n) return (int)i;
  cr_assert_fail("no class of %zu bytes", n);
  return -1;
}

/* The state word of the run at p (which the release protocol accepts). */
static uint32_t *run_word(oh_slab_t *h, void *p) {
  ohi_span_t *sp = NULL;
  uint32_t *w = NULL;
  cr_assert_eq(ohi_chunk_find(h, p, "test", &sp, &w), 0);
  cr_assert_eq(sp->kind, OHI_SPAN_RUNS);
  return w;
}

/* Runs through owner handles (the Go package's per-P owners, whose caches
 * hold runs of a class's pages): an owner's runs come from its slabs, CACHED
 * and counted in use until it returns them with the operations they served;
 * another owner's return sends them home; the release protocol refuses what
 * it refuses for chunks; a quiet owner's free pages serve another owner
 * before a new slab; the statistics are exact throughout. */
Test(runs, owner_handles_take_and_return_runs) {
  t_opt_save_t delay = t_opt_set(OH_OPT_PURGE_DELAY_MS, -1);
  oh_slab_t *h = t_runs_heap();
  ohi_tcache_t *a = ohi_owner_new(h), *b = ohi_owner_new(h);
  cr_assert(a != NULL && b != NULL);
  int cls = class_of(h, 16 * KiB);
  cr_assert(ohi_run_class(h, cls), "the 16 KiB class does not hold runs");
  cr_expect(!ohi_run_class(h, class_of(h, 4 * KiB)), "a class below the run range holds runs");
  enum { N = 128 };
  void *p[N];
  cr_assert_eq(ohi_owner_take(h, a, cls, p, N), N);
  for (int i = 0; i < N; i++) {
    ohi_slab_t *s = (ohi_slab_t *)ohi_region_lookup(p[i]);
    cr_assert_eq(OHI_LOAD_RELAXED(&s->owner), a, "run %d is not in a slab of the owner that took it", i);
    cr_assert_eq(ohi_run_pages(s, (uint32_t)((char *)p[i] - (char *)s->span.base) / s->chunk_size), 4);
    uint32_t *w = run_word(h, p[i]);
    cr_assert_eq(*w, OHI_W_CACHED, "a run taken for a cache is not CACHED: %#x", *w);
    OHI_STORE_RELEASE(w, 1u); /* handed out, as the binding does without a call */
  }
  oh_stats_t s0 = stats_of(h);
  cr_expect_eq(s0.in_use_bytes, N * 16 * KiB, "runs a cache holds are in use: %llu", (unsigned long long)s0.in_use_bytes);
  cr_expect_eq(s0.allocs, 0, "operations a cache served are counted when it returns");
  t_cap_install();
  t_cap_reset();
  cr_expect_eq(ohi_owner_release(h, b, (char *)p[1] + t_page(), OHI_RELEASE_FREE, "test"), -1);
  cr_expect_eq(errno, EFAULT, "a release inside a run: %s", t_errname(errno));
  t_cap_remove();
  for (int i = 0; i < N; i++) cr_assert_eq(ohi_chunk_try_release(run_word(h, p[i]), OHI_RELEASE_FREE, p[i], "test"), 1);
  ohi_owner_return(h, b, cls, p, N, N, N); /* home to a, through its slabs' stacks */
  oh_stats_t s1 = stats_of(h);
  cr_expect_eq(s1.in_use_bytes, 0);
  cr_expect_eq(s1.allocs, N);
  cr_expect_eq(s1.frees, N);
  t_cap_install();
  t_cap_reset();
  cr_expect_eq(ohi_owner_release(h, a, p[0], OHI_RELEASE_FREE, "test"), -1);
  cr_expect_eq(errno, EALREADY, "a double release of a run: %s", t_errname(errno));
  t_cap_remove();
  t_sleep_ms(30); /* a quiet for longer than an owner counts as running */
  void *q[N];
  cr_assert_eq(ohi_owner_take(h, b, cls, q, N), N);
  oh_stats_t s2 = stats_of(h);
  /* a's two slabs hold the free pages; its current one stays with it (as for
   * size classes: tcache.c), the other serves b */
  cr_expect(s2.mapped_bytes <= s0.mapped_bytes + MiB, "owner b mapped %lld bytes where a quiet owner's pages were free",
            (long long)(s2.mapped_bytes - s0.mapped_bytes));
  ohi_owner_return(h, a, cls, q, N, 0, 0); /* never handed out */
  cr_expect_eq(stats_of(h).in_use_bytes, 0);
  /* without an owner (a busy or stolen one): from and to the central lists */
  cr_assert_eq(ohi_owner_take(h, NULL, cls, q, 8), 8);
  cr_expect_eq(stats_of(h).in_use_bytes, 8 * 16 * KiB);
  ohi_owner_return(h, NULL, cls, q, 8, 0, 0);
  ohi_owner_delete(h, a);
  ohi_owner_delete(h, b);
  oh_stats_t s3 = stats_of(h);
  cr_expect_eq(s3.in_use_bytes, 0);
  cr_expect_eq(s3.allocs, N);
  cr_expect_eq(s3.frees, N);
  cr_expect_eq(oh_slab_purge(h) > 0, 1, "a forced purge released nothing though every run is free");
  cr_expect_eq(stats_of(h).mapped_bytes, 0, "run slabs stayed mapped after every run went back");
  cr_assert_eq(oh_slab_destroy(h), 0);
  t_opt_restore(delay);
}
