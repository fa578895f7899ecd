/* test_page_purge.c - resident memory follows live bytes whatever the order
 * of frees (issue 10): free pages inside partly used slabs go back after the
 * delay, a phase change does not keep both working sets, and a refused
 * decommit loses neither data nor state.
 *
 * Levels are read from the library's committed bytes (every variant) and from
 * /proc/self/statm (plain runs only: sanitizers and valgrind keep shadow
 * memory resident, OH_TEST_NO_RSS).
 */
#include "test_util.h"

#include "internal.h" /* ohi_test_fail_decommit: fault injection (tests are built with -Ic/src) */

#define DELAY 100

typedef struct {
  void **p;
  size_t *size;
  uint64_t *seed;
  size_t n;
} set_t;

static uint64_t committed(void) {
  oh_stats_t st;
  cr_assert_eq(oh_stats(&st), 0);
  return st.committed_bytes;
}

/* Waits until committed bytes fall to at most `limit` (or 2 s); returns them. */
static uint64_t wait_committed(uint64_t limit) {
  uint64_t c = committed(), t0 = t_now_ms();
  while (c > limit && t_now_ms() - t0 < 2000) {
    t_sleep_ms(10);
    c = committed();
  }
  return c;
}

static void fill(set_t *s, size_t from, size_t to, size_t size, uint64_t tag) {
  for (size_t i = from; i < to; i++) {
    s->p[i] = oh_alloc(size);
    cr_assert(s->p[i] != NULL, "allocation %zu of %zu bytes failed", i, size);
    s->size[i] = size;
    s->seed[i] = t_seed((unsigned)tag, i);
    t_fill_sparse(s->p[i], size, s->seed[i]);
  }
}

/* Frees each live buffer with probability pct/100, in index order (random
 * against address order); checks every buffer first. Returns live bytes. */
static size_t free_random(set_t *s, size_t n, unsigned pct, uint64_t *rng) {
  size_t live = 0;
  for (size_t i = 0; i < n; i++) {
    if (s->p[i] == NULL) continue;
    cr_assert_eq(t_check_sparse(s->p[i], s->size[i], s->seed[i]), SIZE_MAX, "buffer %zu corrupted", i);
    if (t_rand(rng) % 100 < pct) {
      cr_assert_eq(oh_free(s->p[i]), 0);
      s->p[i] = NULL;
    } else {
      live += s->size[i];
    }
  }
  return live;
}

static void free_all(set_t *s, size_t n) {
  for (size_t i = 0; i < n; i++)
    if (s->p[i] != NULL) {
      cr_assert_eq(t_check_sparse(s->p[i], s->size[i], s->seed[i]), SIZE_MAX, "buffer %zu corrupted", i);
      cr_assert_eq(oh_free(s->p[i]), 0);
      s->p[i] = NULL;
    }
}

static set_t set_new(size_t n) {
  set_t s = {calloc(n, sizeof(void *)), calloc(n, sizeof(size_t)), calloc(n, sizeof(uint64_t)), n};
  cr_assert(s.p && s.size && s.seed);
  return s;
}

static void set_free(set_t *s) {
  free(s->p);
  free(s->size);
  free(s->seed);
}

/* Resident: committed (and RSS, where meaningful) over a base within ratio x
 * live + slack. */
static void expect_level(const char *step, uint64_t base_c, size_t base_rss, size_t live, double ratio) {
  uint64_t limit = base_c + (uint64_t)((double)live * ratio) + 2 * MiB;
  uint64_t c = wait_committed(limit);
  cr_expect(c <= limit, "%s: committed %llu MiB over the base for %zu MiB live (want <= %.2fx)", step,
            (unsigned long long)((c - base_c) / MiB), live / MiB, ratio);
  if (!t_no_rss()) {
    size_t rss = t_rss();
    cr_expect(rss <= base_rss + (size_t)((double)live * ratio) + 4 * MiB, "%s: RSS %zu MiB over the base for %zu MiB live",
              step, (rss - base_rss) / MiB, live / MiB);
  }
}

Test(page_purge, phase_change_in_random_order, .timeout = 60) {
  t_opt_save_t delay = t_opt_set(OH_OPT_PURGE_DELAY_MS, DELAY);
  t_opt_save_t retain = t_opt_set(OH_OPT_RETAIN_BYTES, 0);
  size_t total = t_small() ? 16 * MiB : 64 * MiB;
  size_t n16 = total / (16 * KiB), n48 = total / (48 * KiB);
  set_t a = set_new(n16), b = set_new(n48);
  uint64_t rng = 42;
  oh_purge();
  uint64_t base_c = committed();
  size_t base_rss = t_no_rss() ? 0 : t_rss();
  fill(&a, 0, n16, 16 * KiB, 1);
  size_t live = free_random(&a, n16, 75, &rng); /* a random 75 %: no slab empties */
  expect_level("16 KiB, 75 % freed at random", base_c, base_rss, live, 1.3);
  fill(&b, 0, n48, 48 * KiB, 2);
  size_t live_b = n48 * 48 * KiB;
  expect_level("then 48 KiB filled", base_c, base_rss, live + live_b, 1.3);
  size_t left = free_random(&a, n16, 60, &rng) + free_random(&b, n48, 90, &rng); /* down to ~10 % */
  expect_level("freed down to ~10 % at random", base_c, base_rss, left, 1.3);
  oh_purge();
  expect_level("after oh_purge", base_c, base_rss, left, 1.15);
  free_all(&a, n16);
  free_all(&b, n48);
  set_free(&a);
  set_free(&b);
  t_opt_restore(retain);
  t_opt_restore(delay);
}

/* The OS refusing to decommit: nothing is lost (live buffers intact, free
 * chunks still usable), nothing is counted as released, and a later pass
 * releases it once the OS agrees again. */
Test(page_purge, refused_decommits_lose_nothing, .timeout = 60) {
  t_opt_save_t delay = t_opt_set(OH_OPT_PURGE_DELAY_MS, DELAY);
  t_opt_save_t retain = t_opt_set(OH_OPT_RETAIN_BYTES, 0);
  size_t n = (t_small() ? 8 : 32) * MiB / (16 * KiB);
  set_t s = set_new(n);
  uint64_t rng = 9;
  oh_purge();
  uint64_t base_c = committed();
  size_t base_rss = t_no_rss() ? 0 : t_rss();
  fill(&s, 0, n, 16 * KiB, 6);
  ohi_test_fail_decommit(UINT64_MAX); /* every decommit fails from now on */
  size_t live = free_random(&s, n, 80, &rng);
  oh_stats_t a;
  cr_assert_eq(oh_stats(&a), 0);
  t_sleep_ms(4 * DELAY);
  oh_stats_t b;
  cr_assert_eq(oh_stats(&b), 0);
  cr_expect_eq(b.decommitted_bytes, a.decommitted_bytes, "refused decommits counted as %llu bytes released",
               (unsigned long long)(b.decommitted_bytes - a.decommitted_bytes));
  cr_expect(b.committed_bytes >= base_c + n * 16 * KiB - 2 * MiB, "committed fell to %llu MiB though every decommit failed",
            (unsigned long long)((b.committed_bytes - base_c) / MiB));
  /* the live buffers are intact and the free chunks serve allocations */
  for (size_t i = 0; i < n; i++)
    if (s.p[i] != NULL) cr_assert_eq(t_check_sparse(s.p[i], s.size[i], s.seed[i]), SIZE_MAX, "buffer %zu lost", i);
  void *q = oh_alloc(16 * KiB);
  cr_assert(q != NULL);
  t_fill(q, 16 * KiB, 99);
  cr_expect_eq(t_check(q, 16 * KiB, 99), SIZE_MAX);
  oh_free(q);
  ohi_test_fail_decommit(0); /* the OS agrees again: the next passes release */
  expect_level("after decommits work again", base_c, base_rss, live, 1.3);
  free_all(&s, n);
  set_free(&s);
  t_opt_restore(retain);
  t_opt_restore(delay);
}

/* ---- an idle worker: frees, then sleeps --------------------------------------- */

/* A C service's worker thread frees most of what it holds in random order and
 * then blocks (issue 18): nobody calls into the library any more - not the
 * worker, not oh_purge - yet its free pages go back on the policy's clock,
 * within about 1.25 delays like a busy thread's, not after it has counted as
 * idle for a delay and its slabs have aged again on the central lists. */
#define IDLE_DELAY 800

typedef struct {
  set_t s;
  size_t n, live;
  t_stage_t stage; /* 0 working, 1 freed (worker sleeps), 2 main says: finish */
} worker_t;

static void *idle_worker(void *arg) {
  worker_t *w = arg;
  uint64_t rng = 18;
  fill(&w->s, 0, w->n, 16 * KiB, 18);
  size_t live = free_random(&w->s, w->n, 90, &rng);
  w->live = live;
  t_stage_set(&w->stage, 1);
  t_stage_wait(&w->stage, 2); /* blocked: no call into offheap */
  free_all(&w->s, w->n);
  return NULL;
}

Test(page_purge, idle_worker_frees_go_back_without_a_call, .timeout = 60) {
  t_opt_save_t advice = t_opt_set(OH_OPT_DECOMMIT_ADVICE, 0);
  t_opt_save_t delay = t_opt_set(OH_OPT_PURGE_DELAY_MS, IDLE_DELAY);
  t_opt_save_t retain = t_opt_set(OH_OPT_RETAIN_BYTES, 0);
  size_t total = t_small() ? 16 * MiB : 128 * MiB;
  worker_t w = {set_new(total / (16 * KiB)), total / (16 * KiB), 0, T_STAGE_INIT};
  oh_purge();
  uint64_t base_c = committed();
  size_t base_rss = t_no_rss() ? 0 : t_rss();
  pthread_t t;
  cr_assert_eq(pthread_create(&t, NULL, idle_worker, &w), 0);
  t_stage_wait(&w.stage, 1);
  uint64_t t0 = t_now_ms();
  /* 1.3x live (the target), read every 5 ms for at most 1.75 delays
   * (the policy's bound is 1.25; instrumented builds run 10x slower) */
  uint64_t limit = base_c + (uint64_t)((double)w.live * 1.3) + 2 * MiB;
  uint64_t bound = t_no_rss() ? 10 * (IDLE_DELAY * 7 / 4) : IDLE_DELAY * 7 / 4;
  uint64_t c = committed();
  while (c > limit && t_now_ms() - t0 <= bound) {
    t_sleep_ms(5);
    c = committed();
  }
  uint64_t took = t_now_ms() - t0;
  cr_log_info("idle worker: %zu MiB live of %zu MiB, committed %.2fx live %llu ms after its last free (delay %d ms)",
              w.live / MiB, total / MiB, (double)(c - base_c) / (double)w.live, (unsigned long long)took, IDLE_DELAY);
  cr_expect(c <= limit, "idle worker: committed %llu MiB over the base for %zu MiB live %llu ms after its last free (delay %d ms)",
            (unsigned long long)((c - base_c) / MiB), w.live / MiB, (unsigned long long)took, IDLE_DELAY);
  if (!t_no_rss()) {
    size_t rss = t_rss();
    cr_expect(rss <= base_rss + (size_t)((double)w.live * 1.3) + 4 * MiB,
              "idle worker: RSS %zu MiB over the base for %zu MiB live", (rss - base_rss) / MiB, w.live / MiB);
  }
  t_stage_set(&w.stage, 2);
  pthread_join(t, NULL);
  set_free(&w.s);
  t_opt_restore(retain);
  t_opt_restore(delay);
  t_opt_restore(advice);
}

static size_t whole_pages(size_t start, size_t end, size_t ps);

/* A slab of more chunks than the walk's bitmap window (purge.c: 65536) is
 * walked window by window: runs of free chunks across a window's edge, at its
 * ends and in later windows are decommitted exactly, and live chunks keep
 * their bytes. */
Test(page_purge, large_slabs_are_walked_window_by_window, .timeout = 60) {
  t_opt_save_t delay = t_opt_set(OH_OPT_PURGE_DELAY_MS, -1);
  t_opt_save_t retain = t_opt_set(OH_OPT_RETAIN_BYTES, 0);
  enum { CS = 16, W = 65536, N = 4 * W }; /* one slab of 4 MiB: four windows */
  oh_slab_t *h = oh_slab_new(&(oh_slab_config_t){.slab_size = (size_t)N * CS});
  cr_assert(h != NULL);
  size_t ps = ohi_os_page_size();
  void **p = calloc(N, sizeof *p);
  cr_assert(p != NULL);
  for (size_t i = 0; i < N; i++) {
    p[i] = oh_slab_alloc(h, CS);
    cr_assert(p[i] != NULL);
    cr_assert_eq((char *)p[i], (char *)p[0] + i * CS, "chunk %zu is not where the test expects it", i);
    memset(p[i], (int)(i % 251) + 1, CS);
  }
  static const size_t runs[][2] = {{W - 600, W + 600}, {2 * W - 512, 2 * W}, {3 * W, 3 * W + 512}, {3 * W + 9000, 3 * W + 9300}};
  size_t want = 0;
  for (size_t r = 0; r < sizeof runs / sizeof runs[0]; r++) {
    for (size_t i = runs[r][0]; i < runs[r][1]; i++) cr_assert_eq(oh_slab_decref(h, p[i]), 1);
    want += whole_pages(runs[r][0] * CS, runs[r][1] * CS, ps);
  }
  size_t got = oh_slab_purge(h);
  cr_expect_eq(got, want, "a forced purge decommitted %zu bytes; the free runs cover %zu bytes of whole pages", got, want);
  for (size_t i = 0; i < N; i++) {
    bool freed = false;
    for (size_t r = 0; r < sizeof runs / sizeof runs[0]; r++) freed |= i >= runs[r][0] && i < runs[r][1];
    if (freed) continue;
    const unsigned char *b = p[i];
    for (size_t k = 0; k < CS; k++)
      cr_assert_eq(b[k], (unsigned char)(i % 251 + 1), "the live chunk %zu lost its byte %zu to a purge", i, k);
  }
  free(p);
  oh_slab_destroy(h);
  t_opt_restore(retain);
  t_opt_restore(delay);
}

/* ---- the walk's cost ----------------------------------------------------------- */

/* State words the purge walks have read so far. */
static uint64_t words_walked(void) { return __atomic_load_n(&ohi_purge_walked, __ATOMIC_RELAXED); }

/* The walk tests' set-up: 64 B chunks held in 1 MiB slabs, no purger (delay
 * -1) and no retained margin (t_held_new). */
#define CHUNKS64(n) t_held_new(-1, 64, (n))

/* A purge pass reads a slab's state words only when it could decommit
 * something (issue 18): free chunks that sit still age without a walk, so a
 * slab whose free chunks share every page with live ones is walked twice
 * (when they are first seen, and when they come due) rather than once per
 * pass until they are due. */
Test(page_purge, unchanged_slabs_are_not_walked_every_pass, .timeout = 60) {
  t_opt_save_t delay = t_opt_set(OH_OPT_PURGE_DELAY_MS, DELAY);
  t_opt_save_t retain = t_opt_set(OH_OPT_RETAIN_BYTES, 0);
  oh_slab_t *h = oh_slab_new(NULL);
  cr_assert(h != NULL);
  size_t n = (t_small() ? 1 : 4) * MiB / 64;
  void **p = calloc(n, sizeof *p);
  cr_assert(p != NULL);
  for (size_t i = 0; i < n; i++) {
    p[i] = oh_slab_alloc(h, 64);
    cr_assert(p[i] != NULL);
  }
  for (size_t i = 0; i < n; i += 2) cr_assert_eq(oh_slab_decref(h, p[i]), 1); /* every page keeps live chunks */
  uint64_t w0 = words_walked();
  /* ample time for every free chunk to come due (1.25 delays) and for
   * passes after that, which find the slabs clean */
  t_sleep_ms(t_no_rss() ? 40 * DELAY : 8 * DELAY);
  uint64_t walked = words_walked() - w0;
  cr_log_info("walk cost: %llu words read for %zu chunks", (unsigned long long)walked, n);
  cr_expect(walked <= 3 * n, "purge passes read %llu state words for %zu chunks whose state never changed (%.1f walks)",
            (unsigned long long)walked, n, (double)walked / (double)n);
  for (size_t i = 1; i < n; i += 2) cr_assert_eq(oh_slab_decref(h, p[i]), 1);
  free(p);
  oh_slab_destroy(h);
  t_opt_restore(retain);
  t_opt_restore(delay);
}

/* A walk visits a slab's free chunks, not its state words (issue 18: a busy
 * owner's pass over 1 GiB of 64 B chunks read 16 M words, a 20-30 ms stall):
 * a purge of slabs that are full but for a few free chunks reads those. */
Test(page_purge, a_walk_reads_the_free_chunks_only, .timeout = 60) {
  t_held_t c = CHUNKS64(4 * MiB / 64);
  enum { FREED = 10 };
  for (size_t i = 0; i < FREED; i++) {
    cr_assert_eq(oh_slab_decref(c.h, c.p[i * (c.n / FREED)]), 1);
    c.p[i * (c.n / FREED)] = NULL;
  }
  uint64_t w0 = words_walked();
  cr_expect_eq(oh_slab_purge(c.h), 0, "scattered free chunks of 64 B cover no whole page");
  uint64_t walked = words_walked() - w0;
  cr_expect_eq(walked, FREED, "a purge of %zu chunks, %d of them free, read %llu state words", c.n, FREED,
               (unsigned long long)walked);
  t_held_free(&c);
}

/* A slab freed at random to a few live chunks per page is scanned, not
 * listed, and the scan leaves a page at its first chunk in use (issue 18:
 * 16.7 M words and a 64-74 ms stall per pass at 1 GiB of 64 B chunks with
 * 10 % live): a forced purge of slabs whose every page starts with live
 * chunks reads one word per page. The free chunks it left unaged still go back
 * on time once those chunks are freed: their pages then age from that free,
 * as every page does. */
Test(page_purge, a_walk_leaves_a_page_at_its_first_chunk_in_use, .timeout = 60) {
  t_held_t c = CHUNKS64(4 * MiB / 64);
  oh_slab_t *h = c.h;
  void **p = c.p;
  size_t ps = ohi_os_page_size(), N = c.n;
  size_t pages = 0;
  for (size_t i = 0; i < N; i++) {
    if ((uintptr_t)p[i] % ps == 0) pages++;
    if ((uintptr_t)p[i] % ps <= 64) continue; /* each page's first two chunks stay */
    cr_assert_eq(oh_slab_decref(h, p[i]), 1);
    p[i] = NULL;
  }
  cr_assert_eq(pages, N * 64 / ps, "the slabs' chunks do not tile whole pages");
  uint64_t w0 = words_walked();
  cr_expect_eq(oh_slab_purge(h), 0, "pages that each start with a live chunk were decommitted");
  uint64_t walked = words_walked() - w0;
  cr_expect_eq(walked, pages, "a purge of %zu pages, each two live chunks and %zu free ones, read %llu state words",
               pages, ps / 64 - 2, (unsigned long long)walked);

  /* each page's second chunk freed: passes on the policy's clock walk the
   * slabs and leave its free chunks unaged; then the first chunks of all but
   * every 16th page are freed, and those pages go back */
  t_opt_set(OH_OPT_PURGE_DELAY_MS, DELAY);
  for (size_t i = 0; i < N; i++)
    if (p[i] != NULL && (uintptr_t)p[i] % ps != 0) {
      cr_assert_eq(oh_slab_decref(h, p[i]), 1);
      p[i] = NULL;
    }
  t_sleep_ms(4 * DELAY);
  oh_stats_t st;
  cr_assert_eq(oh_slab_stats(h, &st), 0);
  cr_expect_eq(st.decommitted_bytes, 0, "%llu bytes of pages that all hold a live chunk were decommitted",
               (unsigned long long)st.decommitted_bytes);
  size_t kept = 0;
  for (size_t i = 0; i < N; i++) {
    if (p[i] == NULL) continue;
    if (kept++ % 16 == 0) continue;
    cr_assert_eq(oh_slab_decref(h, p[i]), 1);
    p[i] = NULL;
  }
  uint64_t want = (uint64_t)(pages - (pages + 15) / 16) * ps, t0 = t_now_ms();
  uint64_t limit = t_no_rss() ? 60 * DELAY : 20 * DELAY;
  do {
    t_sleep_ms(10);
    cr_assert_eq(oh_slab_stats(h, &st), 0);
  } while (st.decommitted_bytes < want && t_now_ms() - t0 < limit);
  cr_expect(st.decommitted_bytes >= want,
            "%llu of %llu KiB decommitted %llu ms after the chunks of all but %zu of %zu pages were freed (delay %d ms)",
            (unsigned long long)(st.decommitted_bytes / KiB), (unsigned long long)(want / KiB),
            (unsigned long long)(t_now_ms() - t0), (pages + 15) / 16, pages, DELAY);
  t_held_free(&c);
}

/* Decommitted pages cost a walk no word: their chunks stay free and marked,
 * and the walk passes over them by the slab's bitmap (the pages decommitted
 * at random as a churned slab's live chunks move on piled up: a pass read
 * 2.8 M words at the start of 4 s of churn and 8.5 M at its end). */
Test(page_purge, a_walk_passes_over_decommitted_pages, .timeout = 60) {
  t_held_t c = CHUNKS64(4 * MiB / 64);
  oh_slab_t *h = c.h;
  void **p = c.p;
  size_t ps = ohi_os_page_size(), cpp = ps / 64, N = c.n;
  size_t pages = N / cpp;
  for (size_t i = 0; i < N; i++) {
    cr_assert_eq((uintptr_t)p[i] % ps, i % cpp * 64, "chunk %zu is not where the test expects it", i);
    if (i % (2 * cpp) == 0) continue; /* every other page keeps its first chunk */
    cr_assert_eq(oh_slab_decref(h, p[i]), 1);
    p[i] = NULL;
  }
  uint64_t w0 = words_walked();
  size_t got = oh_slab_purge(h);
  uint64_t walked = words_walked() - w0;
  cr_expect_eq(got, pages / 2 * ps, "a forced purge decommitted %zu bytes, not the %zu free pages' %zu", got, pages / 2,
               pages / 2 * ps);
  cr_expect_eq(walked, pages / 2 * (1 + cpp), "the first purge read %llu state words, not one per page with a live "
               "chunk and every word of the free ones (%zu)", (unsigned long long)walked, pages / 2 * (1 + cpp));
  w0 = words_walked();
  cr_expect_eq(oh_slab_purge(h), 0, "a second purge found more to decommit");
  walked = words_walked() - w0;
  cr_expect_eq(walked, pages / 2, "a purge of %zu pages, half of them decommitted, read %llu state words, not one "
               "per page with a live chunk", pages, (unsigned long long)walked);
  /* the chunks passed over are handed out again, and written */
  for (size_t i = 0; i < N; i++) {
    if (p[i] != NULL) continue;
    cr_assert((p[i] = oh_slab_alloc(h, 64)) != NULL);
  }
  for (size_t i = 0; i < N; i++) memset(p[i], 0x5a, 64);
  t_held_free(&c);
}

/* A forced purge decommits exactly the whole pages inside the runs of free
 * chunks, for chunk sizes that straddle pages too (the walk's scan leaves a
 * page at its first chunk in use and jumps to the chunk holding the next
 * page's first byte, and passes over decommitted pages): frees in random
 * blocks, every slab's last chunk kept (no never-handed-out tail), in two
 * rounds, the second's runs growing around the first's decommitted pages. */
static size_t free_pages_of(void **p, const bool *live, size_t n, size_t cs, size_t slab, size_t ps) {
  size_t want = 0;
  for (size_t i = 0; i < n;) {
    if (live[i]) {
      i++;
      continue;
    }
    size_t j = i + 1;
    uintptr_t base = (uintptr_t)p[i] & ~(uintptr_t)(slab - 1);
    while (j < n && !live[j] && (uintptr_t)p[j] == (uintptr_t)p[j - 1] + cs) j++;
    want += whole_pages((uintptr_t)p[i] - base, (uintptr_t)p[j - 1] + cs - base, ps);
    i = j;
  }
  return want;
}

Test(page_purge, forced_purges_decommit_the_free_pages_of_every_chunk_size, .timeout = 120) {
  t_opt_save_t delay = t_opt_set(OH_OPT_PURGE_DELAY_MS, -1);
  t_opt_save_t retain = t_opt_set(OH_OPT_RETAIN_BYTES, 0);
  static const size_t sizes[] = {16, 48, 80, 176, 1000, 3000, 6000, 12000};
  size_t ps = ohi_os_page_size(), slab = 1 * MiB;
  uint64_t rng = 77;
  for (size_t z = 0; z < sizeof sizes / sizeof sizes[0]; z++) {
    oh_slab_t *h = oh_slab_new(&(oh_slab_config_t){.slab_size = slab});
    cr_assert(h != NULL);
    size_t cs = 0, n = 0, cap = 3 * slab / sizes[z];
    void **p = calloc(cap, sizeof *p);
    bool *live = calloc(cap, sizeof *live);
    cr_assert(p != NULL && live != NULL);
    for (; n < cap; n++) {
      cr_assert((p[n] = oh_slab_alloc(h, sizes[z])) != NULL);
      cs = oh_slab_usable_size(h, p[n]);
      live[n] = true;
    }
    t_sort_ptrs(p, n);
    size_t before = 0; /* bytes the last round's purge left decommitted */
    for (int round = 0; round < 2; round++) {
      for (size_t i = 0; i < n;) { /* blocks of 1 to 3 pages' worth, freed with probability 0.5 */
        size_t len = 1 + (size_t)(t_rand(&rng) % (3 * ps / cs + 1));
        bool drop = t_rand(&rng) % 2 == 0;
        for (size_t k = i; k < n && k < i + len; k++) {
          bool last = k + 1 == n || (uintptr_t)p[k + 1] != (uintptr_t)p[k] + cs;
          if (!drop || !live[k] || last) continue;
          cr_assert_eq(oh_slab_decref(h, p[k]), 1);
          live[k] = false;
        }
        i += len;
      }
      /* the runs only grow: the pages the first round decommitted lie in
       * the second's runs, and the second decommits the rest */
      size_t want = free_pages_of(p, live, n, cs, slab, ps);
      size_t got = oh_slab_purge(h);
      cr_expect_eq(got, want - before, "%zu B chunks, round %d: a forced purge decommitted %zu bytes, not %zu", cs,
                   round, got, want - before);
      cr_expect_eq(oh_slab_purge(h), 0, "%zu B chunks, round %d: a second forced purge found more", cs, round);
      before = want;
    }
    for (size_t k = 0; k < n; k++)
      if (live[k]) cr_assert_eq(oh_slab_decref(h, p[k]), 1);
    free(live);
    free(p);
    oh_slab_destroy(h);
  }
  t_opt_restore(retain);
  t_opt_restore(delay);
}

/* Bytes of the whole pages inside [start, end). */
static size_t whole_pages(size_t start, size_t end, size_t ps) {
  size_t first = (start + ps - 1) / ps, last = end / ps;
  return last > first ? (last - first) * ps : 0;
}

/* A purge decommits exactly the whole pages that free chunks cover alone:
 * runs of free chunks between live ones, runs with no whole page, runs
 * across the 64-chunk boundaries a bitmap-based walk would have; a second
 * purge over other runs touches nothing the first one saw, and every live
 * chunk keeps its bytes. */
Test(page_purge, purges_decommit_exactly_the_pages_free_runs_cover, .timeout = 60) {
  t_opt_save_t delay = t_opt_set(OH_OPT_PURGE_DELAY_MS, -1); /* no purger pass meanwhile */
  t_opt_save_t retain = t_opt_set(OH_OPT_RETAIN_BYTES, 0);
  oh_slab_t *h = oh_slab_new(&(oh_slab_config_t){.slab_size = 1 * MiB});
  cr_assert(h != NULL);
  enum { CS = 1024, N = 1024 }; /* 1 KiB chunks, 4 per page of 4 KiB */
  size_t ps = ohi_os_page_size();
  static void *p[N];
  for (size_t i = 0; i < N; i++) {
    p[i] = oh_slab_alloc(h, CS);
    cr_assert(p[i] != NULL);
    cr_assert_eq((char *)p[i], (char *)p[0] + i * CS, "chunk %zu is not where the test expects it", i);
  }
  cr_assert_eq((uintptr_t)p[0] % (1 * MiB), 0, "the first chunk does not start a slab");
  void *base = p[0];
  /* With 4 KiB pages: [0, 3) has no whole page; [60, 70) pages 15-16 (it
   * crosses chunk 64); [128, 256) pages 32-63; [511, 513) no whole page;
   * [700, 764) pages 175-190. The last chunk stays live, so no run reaches
   * the never-used tail. */
  static const size_t runs[][2] = {{0, 3}, {60, 70}, {128, 256}, {511, 513}, {700, 764}};
  size_t nfree = 0, want = 0;
  for (size_t r = 0; r < sizeof runs / sizeof runs[0]; r++) {
    for (size_t i = runs[r][0]; i < runs[r][1]; i++) cr_assert_eq(oh_slab_decref(h, p[i]), 1);
    nfree += runs[r][1] - runs[r][0];
    want += whole_pages(runs[r][0] * CS, runs[r][1] * CS, ps);
  }
  size_t got = oh_slab_purge(h);
  cr_expect_eq(got, want, "a forced purge decommitted %zu bytes; the %zu free chunks' runs cover %zu bytes of whole pages",
               got, nfree, want);
  /* Everything free is handed out again (in another order: p[i] of the runs
   * no longer says where), over the decommitted pages. */
  for (size_t r = 0; r < sizeof runs / sizeof runs[0]; r++)
    for (size_t i = runs[r][0]; i < runs[r][1]; i++) {
      p[i] = oh_slab_alloc(h, CS);
      cr_assert(p[i] != NULL);
    }
  cr_expect_eq(oh_slab_purge(h), 0, "nothing is free");
  /* A second purge, over runs on either side of the first ones (live
   * again), decommits only its own (pages 25-26 and 200-201 of 4 KiB). */
  for (size_t i = 0; i < N; i++) memset(p[i], (int)(i % 251) + 1, CS);
  for (size_t i = 0; i < 10; i++) {
    cr_assert_eq(oh_slab_decref(h, p[100 + i]), 1);
    cr_assert_eq(oh_slab_decref(h, p[800 + i]), 1);
  }
  cr_expect_eq(oh_slab_purge(h), whole_pages(100 * CS, 110 * CS, ps) + whole_pages(800 * CS, 810 * CS, ps),
               "a second purge decommitted other bytes than its two runs'");
  for (size_t i = 0; i < N; i++) {
    if ((i >= 100 && i < 110) || (i >= 800 && i < 810)) continue;
    const unsigned char *b = p[i];
    for (size_t k = 0; k < CS; k++)
      cr_assert_eq(b[k], (unsigned char)(i % 251 + 1), "the live chunk at offset %zu lost its byte %zu to a purge",
                   (size_t)(b - (const unsigned char *)base), k);
  }
  oh_slab_destroy(h);
  t_opt_restore(retain);
  t_opt_restore(delay);
}
