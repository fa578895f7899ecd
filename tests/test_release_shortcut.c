/* test_release_shortcut.c - the owner's release shortcut (release.c:
 * release_fast). A thread's release into the slab of its last fast release
 * skips the region map; these tests prime that shortcut with a release and
 * then hand it every pointer it must not accept - interior, misaligned, the
 * slab's unused tail, a freed chunk, a chunk with references left - and check
 * the same verdicts as the map path, that the shortcut follows the slab when
 * it changes hands (flush, another thread's frees), and that no chunk is ever
 * handed out twice. The run tier has a shortcut of its own (tc->last_run):
 * the same refusals, and it follows its slab too. */
#include "test_util.h"

#include <pthread.h>

#include "internal.h" /* the thread's cache and its shortcuts (tests are built with -Ic/src) */

#define SLAB ((uintptr_t)1 << 20) /* the default instance's slab size */

/* n chunks of one class from the thread's current slab, the first one freed
 * to prime the shortcut (after a free of another chunk: a slab's first free
 * since it was clean takes the slow path, which sets no shortcut). */
static void prime(size_t size, void **p, int n) {
  void *first = oh_alloc(size);
  cr_assert(first != NULL);
  for (int i = 0; i < n; i++) {
    p[i] = oh_alloc(size);
    cr_assert(p[i] != NULL);
  }
  cr_assert_eq(oh_free(first), 0, "first free of a %zu-byte chunk", size);
  cr_assert_eq(oh_free(p[0]), 0, "priming free of a %zu-byte chunk", size);
}

static void expect_refused(const char *what, void *q, int want) {
  t_cap_reset();
  errno = 0;
  int rc = oh_free(q);
  int e = errno;
  T_EXPECT_ERR(what, rc == -1, e, q, want);
}

Test(release_shortcut, refuses_what_the_map_refuses) {
  t_cap_install();
  const size_t sizes[] = {48, 64, 1000, 16 * KiB};
  for (int i = 0; i < 4; i++) {
    void *p[4];
    prime(sizes[i], p, 4);
    unsigned char *b = p[1];
    expect_refused("interior +16 after a shortcut release", b + 16, EFAULT);
    expect_refused("misaligned +1 after a shortcut release", b + 1, EFAULT);
    expect_refused("double free through the shortcut", p[0], EALREADY);
    /* a last reference but one: oh_free refuses, decref only counts down */
    cr_assert_eq(oh_slab_addref(oh_default_slab(), p[2]), 0);
    expect_refused("oh_free with 2 references", p[2], EBUSY);
    cr_assert_eq(oh_slab_decref(oh_default_slab(), p[2]), 0);
    cr_assert_eq(oh_slab_refcount(oh_default_slab(), p[2]), 1);
    cr_assert_eq(oh_slab_decref(oh_default_slab(), p[2]), 1, "the last decref frees");
    expect_refused("double decref through the shortcut", p[2], EALREADY);
    cr_assert_eq(oh_slab_refcount(oh_default_slab(), p[1]), 1, "a refused call left a live chunk alone");
    cr_assert_eq(oh_slab_refcount(oh_default_slab(), p[3]), 1);
    cr_assert_eq(oh_free(p[1]), 0);
    cr_assert_eq(oh_free(p[3]), 0);
  }
  t_cap_remove();
}

Test(release_shortcut, refuses_the_unused_tail_of_its_slab) {
  t_cap_install();
  /* 48-byte chunks: 21845 per 1 MiB slab, 16 bytes of tail */
  void *p[2];
  prime(48, p, 2);
  uintptr_t base = (uintptr_t)p[1] & ~(SLAB - 1);
  size_t usable = oh_usable_size(p[1]);
  cr_assert_eq(usable, 48, "the 48-byte class (got %zu)", usable);
  uintptr_t tail = base + (SLAB / 48) * 48;
  cr_assert(tail < base + SLAB);
  expect_refused("the unused tail of a slab", (void *)tail, EFAULT);
  cr_expect(strstr(t_cap.first_msg, "tail") != NULL, "message names the tail: %s", t_cap.first_msg);
  cr_assert_eq(oh_free(p[1]), 0);
  t_cap_remove();
}

/* The slab leaves the thread (a flush hands it to the central lists): the
 * shortcut must not free into it as if the thread still owned it. */
Test(release_shortcut, follows_the_slab_when_it_changes_hands) {
  t_cap_install();
  enum { N = 64 };
  void *p[N];
  prime(96, p, N);
  oh_stats_t before, after;
  oh_thread_flush();
  cr_assert_eq(oh_stats(&before), 0);
  for (int i = 1; i < N; i += 2) cr_assert_eq(oh_free(p[i]), 0, "free %d after the flush", i);
  oh_thread_flush();
  cr_assert_eq(oh_stats(&after), 0);
  cr_expect_eq(after.frees - before.frees, (uint64_t)(N / 2), "frees %llu -> %llu", (unsigned long long)before.frees,
               (unsigned long long)after.frees);
  cr_expect_eq(before.in_use_bytes - after.in_use_bytes, (uint64_t)(N / 2) * 96, "in use %llu -> %llu",
               (unsigned long long)before.in_use_bytes, (unsigned long long)after.in_use_bytes);
  /* every freed chunk comes back exactly once, never over a live one */
  t_range_t r[N + N / 2];
  size_t n = 0;
  for (int i = 2; i < N; i += 2) r[n++] = (t_range_t){(uintptr_t)p[i], 96};
  void *got[N];
  for (int i = 0; i < N; i++) {
    got[i] = oh_alloc(96);
    cr_assert(got[i] != NULL);
    r[n++] = (t_range_t){(uintptr_t)got[i], 96};
  }
  size_t bad = 0;
  cr_expect(!t_ranges_overlap(r, n, &bad), "a chunk was handed out twice (range %zu)", bad);
  for (int i = 0; i < N; i++) cr_assert_eq(oh_free(got[i]), 0);
  for (int i = 2; i < N; i += 2) cr_assert_eq(oh_free(p[i]), 0);
  cr_expect_eq(t_cap_count(), 0);
  t_cap_remove();
}

typedef struct {
  void **p;
  int n;
  int failed;
} frees_t;

static void *free_all(void *arg) {
  frees_t *f = arg;
  void *mine = oh_alloc(96); /* this thread's own shortcut, on its own slab */
  if (mine == NULL || oh_free(mine) != 0) f->failed++;
  for (int i = 0; i < f->n; i++)
    if (oh_free(f->p[i]) != 0) f->failed++;
  for (int i = 0; i < f->n; i++) /* each already freed: refused, never accepted */
    if (oh_free(f->p[i]) != -1 || errno != EALREADY) f->failed++;
  return NULL;
}

/* Another thread frees chunks of the slab this thread's shortcut points at:
 * they go home through the slab's cross-thread stack, double frees are still
 * caught there, and this thread's next shortcut release collects them. */
Test(release_shortcut, other_threads_frees_into_the_shortcut_slab) {
  t_cap_install();
  enum { N = 200 };
  void *p[N + 1];
  prime(96, p, N + 1);
  frees_t f = {p + 1, N / 2, 0};
  pthread_t t;
  cr_assert_eq(pthread_create(&t, NULL, free_all, &f), 0);
  cr_assert_eq(pthread_join(t, NULL), 0);
  cr_expect_eq(f.failed, 0, "%d frees or refusals on the other thread went wrong", f.failed);
  for (int i = 1 + N / 2; i <= N; i++) cr_assert_eq(oh_free(p[i]), 0, "own free %d", i);
  for (int i = 1; i <= N; i++) expect_refused("a freed chunk, from its owner", p[i], EALREADY);
  t_range_t r[N];
  void *got[N];
  for (int i = 0; i < N; i++) {
    got[i] = oh_alloc(96);
    cr_assert(got[i] != NULL);
    r[i] = (t_range_t){(uintptr_t)got[i], 96};
  }
  size_t bad = 0;
  cr_expect(!t_ranges_overlap(r, N, &bad), "a chunk was handed out twice (range %zu)", bad);
  for (int i = 0; i < N; i++) cr_assert_eq(oh_free(got[i]), 0);
  t_cap_remove();
}

/* ---- runs of pages (release_fast's run shortcut) ----------------------------------- */

/* A release of a run into the run slab of the thread's last run release skips
 * the region map. Primed here with a release the map path serves (the first
 * run free of the slab: its kept-run cache is empty), then handed a tail
 * page, a misaligned pointer, a kept (CACHED) run, a run with references
 * left: the map's verdicts, and the live runs keep theirs. A flush hands the
 * slab back, and the shortcut goes with it. */
Test(release_shortcut, the_run_shortcut_refuses_what_the_map_refuses) {
  t_cap_install();
  t_opt_save_t on = t_opt_set(OH_OPT_PAGE_RUNS, 1); /* the process-wide instance is made below, with runs */
  oh_slab_t *h = oh_default_slab();
  t_opt_restore(on);
  enum { N = 6 };
  const size_t size = 20 * KiB; /* a run of 5 pages (4 KiB) */
  void *p[N];
  for (int i = 0; i < N; i++) {
    p[i] = oh_alloc(size);
    cr_assert(p[i] != NULL);
    memset(p[i], i + 1, size);
  }
  ohi_slab_t *s = (ohi_slab_t *)ohi_region_lookup(p[1]);
  cr_assert(s != NULL && OHI_LOAD_RELAXED(&s->span.kind) == OHI_SPAN_RUNS, "a %zu-byte allocation is not a run", size);
  ohi_tcache_t *tc = ohi_tcache_peek(h);
  cr_assert(tc != NULL);
  cr_assert_eq(oh_free(p[0]), 0);
  cr_expect_eq(tc->last_run, s, "a run release through the map left no shortcut to its slab");
  unsigned char *b = p[1];
  expect_refused("a run's second page after a shortcut release", b + t_page(), EFAULT);
  expect_refused("misaligned +16 after a shortcut release", b + 16, EFAULT);
  expect_refused("a freed (kept) run through the shortcut", p[0], EALREADY);
  cr_assert_eq(oh_slab_addref(h, p[2]), 0);
  expect_refused("oh_free of a run with 2 references", p[2], EBUSY);
  cr_assert_eq(oh_slab_decref(h, p[2]), 0);
  cr_assert_eq(oh_slab_decref(h, p[2]), 1, "the last decref frees");
  expect_refused("double decref through the shortcut", p[2], EALREADY);
  for (int i = 3; i < N; i++) cr_assert_eq(oh_free(p[i]), 0, "shortcut free of run %d", i);
  cr_expect_eq(tc->last_run, s, "the shortcut moved off the slab of the runs it freed");
  for (int i = 3; i < N; i++) expect_refused("a run freed through the shortcut, again", p[i], EALREADY);
  for (size_t k = 0; k < size; k += 512)
    cr_assert_eq(b[k], 2, "the live run lost byte %zu to a refused release", k);
  oh_thread_flush(); /* the slab goes to the central lists: the shortcut must not follow it there */
  cr_expect(tc->last_run == NULL, "the shortcut outlived its slab's owner");
  cr_assert_eq(oh_free(p[1]), 0, "a free through the map after the flush");
  expect_refused("a double free after the flush", p[1], EALREADY);
  t_cap_remove();
}
