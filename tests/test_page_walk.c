/* test_page_walk.c - the purge walk's summary of wholly free pages
 * (purgewalk.c, issue 18): slabs of small chunks remember which pages were
 * wholly free at the last walk and for how many passes, so that a walk after
 * which only frees happened ages those pages without reading their words -
 * and never trusts the summary across a pop, which could have handed out a
 * chunk of such a page (decommitting it then would lose data).
 *
 * The walk is driven directly (ohi_slab_walk, by the owning thread, nothing
 * else running on the slab) where the count of passes matters, and through
 * the policy's own passes where what matters is that purge.c tells the walk
 * about pops.
 */
#include "test_util.h"

#include "internal.h" /* ohi_slab_walk, ohi_purge_walked (tests are built with -Ic/src) */

#define DELAY 100
#define NEED 5 /* the age a page needs in the walks driven here */

static uint64_t words_walked(void) { return __atomic_load_n(&ohi_purge_walked, __ATOMIC_RELAXED); }

/* One 1 MiB slab filled with 64 B chunks, in address order (t_held_new). */
typedef struct {
  t_held_t c;
  ohi_slab_t *s;
  size_t cpp, pages; /* chunks per page, pages */
} slab64_t;

static slab64_t slab64_new(long long delay) {
  slab64_t t = {.c = t_held_new(delay, 64, 1 * MiB / 64)};
  size_t ps = ohi_os_page_size();
  t.cpp = ps / 64;
  t.pages = t.c.n / t.cpp;
  t.s = (ohi_slab_t *)ohi_region_lookup(t.c.p[0]);
  cr_assert(t.s != NULL && t.s->pw_free != NULL, "a slab of 64 B chunks keeps no page summary");
  for (size_t i = 0; i < t.c.n; i++)
    cr_assert_eq((uintptr_t)t.c.p[i], t.s->span.base + i * 64, "chunk %zu is not where the test expects it", i);
  return t;
}

static void slab64_free(slab64_t *t) { t_held_free(&t->c); }

/* Frees all but the first chunk of the odd pages, then every chunk of the
 * even ones (so the free list's head is in the last even page). */
static void free_even_pages(slab64_t *t) {
  for (int pass = 0; pass < 2; pass++) {
    size_t odd = pass == 0;
    for (size_t i = 0; i < t->c.n; i++) {
      if ((i / t->cpp) % 2 != odd || (odd && i % t->cpp == 0)) continue;
      cr_assert_eq(oh_slab_decref(t->c.h, t->c.p[i]), 1);
      t->c.p[i] = NULL;
    }
  }
}

typedef struct {
  size_t bytes;
  uint64_t words;
  bool dirty;
  uint32_t min_age;
} walked_t;

static walked_t walk(slab64_t *t, bool popped) {
  walked_t w = {0};
  bool failed = false;
  uint64_t w0 = words_walked();
  w.bytes = ohi_slab_walk(t->s, NEED, 0, popped, &w.dirty, &failed, &w.min_age);
  w.words = words_walked() - w0;
  cr_assert(!failed);
  return w;
}

/* Only frees since the last walk: the pages found wholly free then age in
 * the summary, and the walk reads one word of each page with a live chunk
 * (a page that a free made wholly free since is read whole, once). */
Test(page_walk, wholly_free_pages_age_without_a_read_while_nothing_is_popped, .timeout = 60) {
  slab64_t t = slab64_new(-1);
  size_t ps = ohi_os_page_size(), half = t.pages / 2;
  free_even_pages(&t);
  walked_t w = walk(&t, true);
  cr_expect_eq(w.words, half * t.cpp + half, "the first walk read %llu words, not every word of the %zu free pages "
               "and one of each other", (unsigned long long)w.words, half);
  cr_expect(w.bytes == 0 && w.dirty && w.min_age == 1, "first walk: %zu bytes, dirty %d, min age %u", w.bytes, w.dirty,
            w.min_age);
  /* the first chunk of odd page 1 freed: that page is read whole at the next
   * walk, and starts its age there */
  cr_assert_eq(oh_slab_decref(t.c.h, t.c.p[t.cpp]), 1);
  t.c.p[t.cpp] = NULL;
  for (uint32_t k = 2; k < NEED; k++) {
    w = walk(&t, false);
    size_t want = k == 2 ? (half - 1) + t.cpp : half - 1;
    cr_expect_eq(w.words, want, "walk %u read %llu words, not %zu", k, (unsigned long long)w.words, want);
    cr_expect(w.bytes == 0 && w.min_age == (k == 2 ? 1 : k - 1), "walk %u: %zu bytes, min age %u", k, w.bytes,
              w.min_age);
  }
  w = walk(&t, false);
  cr_expect_eq(w.bytes, half * ps, "walk %d decommitted %zu bytes, not the %zu pages free since the first", NEED,
               w.bytes, half);
  w = walk(&t, false);
  cr_expect_eq(w.bytes, ps, "page 1, wholly free a walk later, went back %zu bytes at its own walk", w.bytes);
  for (size_t pg = 0; pg < t.pages; pg++)
    cr_expect_eq(ohi_slab_page_decommitted(t.s, pg), pg % 2 == 0 || pg == 1, "page %zu", pg);
  /* the chunks of the pages that went are handed out again and written */
  for (size_t i = 0; i < t.c.n; i++)
    if (t.c.p[i] == NULL) cr_assert((t.c.p[i] = oh_slab_alloc(t.c.h, 64)) != NULL);
  for (size_t i = 0; i < t.c.n; i++) memset(t.c.p[i], 0x5a, 64);
  slab64_free(&t);
}

/* A chunk of a wholly free page handed out and freed again between walks:
 * the page is read again (the walk is told of the pop) and its age restarts,
 * so it goes back a delay after that free, not with the pages free since
 * before it. */
Test(page_walk, a_page_whose_chunk_was_reused_restarts_its_age, .timeout = 60) {
  slab64_t t = slab64_new(-1);
  size_t ps = ohi_os_page_size(), half = t.pages / 2;
  free_even_pages(&t);
  walk(&t, true);
  walk(&t, false);
  void *q = oh_slab_alloc(t.c.h, 64); /* the last chunk freed: in the last even page */
  size_t pg = ((uintptr_t)q - t.s->span.base) / ps;
  cr_assert(q != NULL && pg % 2 == 0, "the reused chunk is not in a wholly free page");
  cr_assert_eq(oh_slab_decref(t.c.h, q), 1);
  walked_t w = walk(&t, true);
  cr_expect_eq(w.words, half * t.cpp + half, "a walk after a pop read %llu words, not every word of the free pages "
               "and one of each other", (unsigned long long)w.words);
  cr_expect_eq(w.min_age, 1, "the page of the reused chunk kept its age");
  w = walk(&t, false);
  w = walk(&t, false);
  cr_expect_eq(w.bytes, (half - 1) * ps, "%zu bytes went back when the pages free since the first walk came due, not "
               "theirs alone", w.bytes);
  cr_expect(!ohi_slab_page_decommitted(t.s, pg), "the page of the reused chunk went back early");
  w = walk(&t, false);
  w = walk(&t, false);
  cr_expect_eq(w.bytes, ps, "the page of the reused chunk went back with %zu bytes at its own walk", w.bytes);
  slab64_free(&t);
}

/* The policy's passes tell the walk about pops: chunks handed out of pages
 * the summary holds as wholly free, and written, keep their bytes while the
 * other pages come due and go back. */
Test(page_walk, chunks_handed_out_of_summarised_pages_keep_their_bytes, .timeout = 60) {
  slab64_t t = slab64_new(DELAY);
  size_t ps = ohi_os_page_size(), half = t.pages / 2;
  free_even_pages(&t);
  t_sleep_ms(2 * DELAY / 4 + DELAY / 8); /* two passes: every even page in the summary, none due */
  oh_stats_t st;
  cr_assert_eq(oh_slab_stats(t.c.h, &st), 0);
  cr_assert_eq(st.decommitted_bytes, 0, "pages went back before the delay");
  enum { TAKEN = 256 }; /* 4 pages' worth, from the last even pages freed */
  unsigned char *q[TAKEN];
  for (int i = 0; i < TAKEN; i++) {
    cr_assert((q[i] = oh_slab_alloc(t.c.h, 64)) != NULL);
    memset(q[i], 0xa0 + i % 16, 64);
  }
  size_t kept = 0; /* pages holding a chunk taken */
  for (size_t pg = 0; pg < t.pages; pg += 2) {
    uintptr_t lo = t.s->span.base + pg * ps;
    for (int i = 0; i < TAKEN; i++)
      if ((uintptr_t)q[i] - lo < ps) {
        kept++;
        break;
      }
  }
  cr_assert(kept >= 4, "the chunks taken are in %zu pages", kept);
  uint64_t want = (uint64_t)(half - kept) * ps, t0 = t_now_ms(), limit = t_no_rss() ? 60 * DELAY : 20 * DELAY;
  do {
    t_sleep_ms(10);
    cr_assert_eq(oh_slab_stats(t.c.h, &st), 0);
  } while (st.decommitted_bytes < want && t_now_ms() - t0 < limit);
  cr_expect_eq(st.decommitted_bytes, want, "%llu KiB went back, not the %llu KiB of the pages nothing was taken from",
               (unsigned long long)(st.decommitted_bytes / KiB), (unsigned long long)(want / KiB));
  for (int i = 0; i < TAKEN; i++)
    for (int b = 0; b < 64; b++)
      cr_assert_eq(q[i][b], 0xa0 + i % 16, "chunk %d taken from a free page lost its bytes (byte %d)", i, b);
  for (int i = 0; i < TAKEN; i++) cr_assert_eq(oh_slab_decref(t.c.h, q[i]), 1);
  slab64_free(&t);
}

/* A run of free pages that reaches the chunks never handed out goes back to
 * the end of what the slab counts as touched (its commit runs a step ahead
 * of the bump), as the chunk walk's runs do: the slab's committed bytes fall
 * to its live pages. */
Test(page_walk, a_free_run_reaching_the_bump_takes_the_touched_tail, .timeout = 60) {
  t_opt_save_t delay = t_opt_set(OH_OPT_PURGE_DELAY_MS, -1), retain = t_opt_set(OH_OPT_RETAIN_BYTES, 0);
  oh_slab_t *h = oh_slab_new(&(oh_slab_config_t){.slab_size = 1 * MiB});
  cr_assert(h != NULL);
  size_t ps = ohi_os_page_size(), cpp = ps / 64, n = 16 * cpp + 8;
  void **p = calloc(n, sizeof *p);
  cr_assert(p != NULL);
  for (size_t i = 0; i < n; i++) cr_assert((p[i] = oh_slab_alloc(h, 64)) != NULL);
  ohi_slab_t *s = (ohi_slab_t *)ohi_region_lookup(p[0]);
  cr_assert(s->pw_free != NULL && s->bump == n);
  size_t tail = s->touched / ps;
  cr_assert(tail > 17, "the slab touched %zu pages for %zu handed out", tail, (n * 64 + ps - 1) / ps);
  for (size_t i = cpp; i < n; i++) cr_assert_eq(oh_slab_decref(h, p[i]), 1); /* the first page stays */
  size_t got = oh_slab_purge(h);
  cr_expect_eq(got, (tail - 1) * ps, "a forced purge decommitted %zu pages, not the %zu touched past the first", got / ps,
               tail - 1);
  for (size_t i = 0; i < cpp; i++) cr_assert_eq(oh_slab_decref(h, p[i]), 1);
  free(p);
  oh_slab_destroy(h);
  t_opt_restore(retain);
  t_opt_restore(delay);
}

/* A decommit the OS refuses (injected: the batch's first range) leaves its
 * pages committed, unmarked and in the summary, the others go; the next
 * purge takes them. */
Test(page_walk, a_refused_range_stays_committed_and_goes_at_the_next_purge, .timeout = 60) {
  slab64_t t = slab64_new(-1);
  size_t ps = ohi_os_page_size(), half = t.pages / 2;
  free_even_pages(&t);
  ohi_test_fail_decommit(1);
  size_t got = oh_slab_purge(t.c.h);
  ohi_test_fail_decommit(0);
  cr_expect_eq(got, (half - 1) * ps, "a purge with page 0's decommit refused took %zu pages, not %zu", got / ps,
               half - 1);
  cr_expect(!ohi_slab_page_decommitted(t.s, 0), "page 0, whose decommit was refused, is marked decommitted");
  for (size_t i = 0; i < t.cpp; i++)
    cr_expect_eq(ohi_slab_words(t.s)[i] & OHI_W_DECOMMITTED, 0, "chunk %zu of page 0 is marked decommitted", i);
  for (size_t pg = 2; pg < t.pages; pg += 2) cr_expect(ohi_slab_page_decommitted(t.s, pg), "page %zu", pg);
  cr_expect_eq(oh_slab_purge(t.c.h), ps, "the next purge did not take page 0");
  cr_expect(ohi_slab_page_decommitted(t.s, 0));
  slab64_free(&t);
}
