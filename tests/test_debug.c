/* test_debug.c - debug mode and the leak report.
 *
 * - oh_slab_leaks / oh_pool_leaks list exactly the live allocations (address,
 *   usable size, reference count, class; -1 for whole pages): not the chunks
 *   freed, nor those waiting free in thread caches.
 * - OH_OPT_DEBUG 1 poisons freed memory (0xdf), slab chunks and whole-page
 *   allocations alike, makes the whole pages of a freed allocation of a page
 *   or more inaccessible, and verifies the poison of a smaller chunk when it
 *   is handed out again.
 * - OH_OPT_DEBUG 2 makes the whole pages of a freed allocation inaccessible
 *   (PROT_NONE) until it is handed out again, whether the chunk comes back
 *   from its slab's free list, from a batch, after the debug level was
 *   switched off, or as part of a slab segment reused by another instance.
 *
 * Protection is read from /proc/self/maps rather than by touching the page,
 * so the checks run the same under ASan and valgrind (which would report the
 * faulting access itself); the Go tests (go/offheap/debug_test.go) take the
 * actual fault.
 */
#include "test_util.h"

#include <pthread.h>

#include <stdlib.h>

/* ---- helpers ----------------------------------------------------------------- */

/* The permissions ("rw-p", "---p") of the mapping holding addr, from
 * /proc/self/maps. */
static void prot_of(const void *addr, char out[5]) {
  FILE *f = fopen("/proc/self/maps", "r");
  cr_assert(f != NULL, "cannot open /proc/self/maps: %s", strerror(errno));
  char line[512];
  strcpy(out, "none");
  while (fgets(line, sizeof line, f)) {
    unsigned long lo, hi;
    char perms[5];
    if (sscanf(line, "%lx-%lx %4s", &lo, &hi, perms) != 3) continue;
    if ((uintptr_t)addr >= lo && (uintptr_t)addr < hi) {
      memcpy(out, perms, 5);
      break;
    }
  }
  fclose(f);
}

static int accessible(const void *addr) {
  char p[5];
  prot_of(addr, p);
  return p[0] == 'r' && p[1] == 'w';
}

static int guarded(const void *addr) {
  char p[5];
  prot_of(addr, p);
  return strncmp(p, "---", 3) == 0;
}

typedef struct seen_s {
  void *ptr[64];
  size_t size[64];
  long refs[64];
  int cls[64];
  size_t n;
} seen_t;

static void record(void *p, size_t size, long refs, int cls, void *arg) {
  seen_t *s = arg;
  if (s->n < 64) {
    s->ptr[s->n] = p;
    s->size[s->n] = size;
    s->refs[s->n] = refs;
    s->cls[s->n] = cls;
  }
  s->n++;
}

static int find(const seen_t *s, const void *p) {
  for (size_t i = 0; i < s->n && i < 64; i++)
    if (s->ptr[i] == p) return (int)i;
  return -1;
}

/* ---- leak reports -------------------------------------------------------------- */

Test(debug, slab_leaks_list_exactly_the_live_allocations) {
  oh_slab_config_t cfg = {16, 64 * KiB, 2.0};
  oh_slab_t *s = oh_slab_new(&cfg);
  cr_assert(s != NULL);
  void *a = oh_slab_alloc(s, 100), *b = oh_slab_alloc(s, 5000), *c = oh_slab_alloc(s, 200 * KiB);
  void *d = oh_slab_alloc(s, 100), *e = oh_slab_alloc(s, 100);
  void *batch[4];
  cr_assert_eq(oh_slab_alloc_batch(s, 1, batch, 4), 4);
  cr_assert(a && b && c && d && e);
  cr_assert_eq(oh_slab_addref(s, b), 0);
  cr_assert_eq(oh_slab_addref(s, b), 0);
  cr_assert_eq(oh_slab_decref(s, d), 1);          /* freed: not listed */
  cr_assert_eq(oh_slab_decref(s, e), 1);          /* freed into this thread's cache */
  size_t bad;
  cr_assert_eq(oh_slab_free_batch(s, batch, 2, &bad), 0); /* half the batch */

  seen_t seen = {0};
  size_t n = oh_slab_leaks(s, record, &seen);
  cr_expect_eq(n, 5, "oh_slab_leaks counts %zu live allocations, want 5 (a, b, c, 2 of the batch)", n);
  cr_expect_eq(seen.n, n, "the callback ran %zu times for a count of %zu", seen.n, n);
  cr_expect_eq(oh_slab_leaks(s, NULL, NULL), n, "a NULL callback changes the count");
  struct {
    void *p;
    long refs;
  } want[] = {{a, 1}, {b, 3}, {c, 1}, {batch[2], 1}, {batch[3], 1}};
  for (size_t k = 0; k < sizeof want / sizeof want[0]; k++) {
    int i = find(&seen, want[k].p);
    cr_expect(i >= 0, "live allocation %p is not listed", want[k].p);
    if (i < 0) continue;
    cr_expect_eq(seen.refs[i], want[k].refs, "%p listed with %ld references, want %ld", want[k].p, seen.refs[i],
                 want[k].refs);
    cr_expect_eq(seen.size[i], oh_slab_usable_size(s, want[k].p), "%p listed with size %zu, usable size %zu",
                 want[k].p, seen.size[i], oh_slab_usable_size(s, want[k].p));
    if (want[k].p == c) {
      cr_expect_eq(seen.cls[i], -1, "a whole-page allocation is listed with class %d", seen.cls[i]);
    } else {
      cr_expect(seen.cls[i] >= 0 && oh_slab_class_size(s, seen.cls[i]) == seen.size[i],
                "%p listed with class %d, whose size is not %zu", want[k].p, seen.cls[i], seen.size[i]);
    }
  }
  cr_expect(find(&seen, d) < 0 && find(&seen, e) < 0 && find(&seen, batch[0]) < 0 && find(&seen, batch[1]) < 0,
            "freed chunks are listed as live");
  oh_slab_decref(s, a);
  for (int i = 0; i < 3; i++) oh_slab_decref(s, b);
  oh_slab_decref(s, c);
  cr_expect_eq(oh_slab_free_batch(s, batch + 2, 2, &bad), 0);
  cr_expect_eq(oh_slab_leaks(s, NULL, NULL), 0, "allocations listed after everything was freed");
  oh_slab_destroy(s);
}

Test(debug, pool_and_default_instance_leaks) {
  oh_pool_config_t pc = {8, 0};
  oh_pool_t *bounded = oh_pool_new(40, &pc), *pool = oh_pool_new(300, NULL);
  cr_assert(bounded && pool);
  void *x = oh_pool_get(bounded), *y = oh_pool_get(bounded), *z = oh_pool_get(pool);
  cr_assert(x && y && z);
  cr_assert_eq(oh_pool_put(bounded, y), 0);
  seen_t seen = {0};
  cr_expect_eq(oh_pool_leaks(bounded, record, &seen), 1);
  cr_expect(find(&seen, x) == 0 && seen.size[0] == 48 && seen.refs[0] == 1 && seen.cls[0] == 0,
            "bounded pool lists %p size %zu refs %ld class %d; want %p, 48, 1, 0", seen.ptr[0], seen.size[0],
            seen.refs[0], seen.cls[0], x);
  memset(&seen, 0, sizeof seen);
  cr_expect_eq(oh_pool_leaks(pool, record, &seen), 1);
  cr_expect(find(&seen, z) == 0, "the pool does not list its object out");

  /* NULL is the process-wide instance. */
  void *g = oh_alloc(777);
  cr_assert(g != NULL);
  size_t before = oh_slab_leaks(NULL, NULL, NULL);
  cr_expect(before >= 1);
  cr_expect_eq(oh_free(g), 0);
  cr_expect_eq(oh_slab_leaks(NULL, NULL, NULL), before - 1, "a freed oh_alloc is still listed");

  t_cap_install();
  errno = 0;
  size_t n = oh_pool_leaks(NULL, NULL, NULL);
  int e = errno;
  T_EXPECT_ERR("oh_pool_leaks(NULL)", n == 0, e, NULL, EINVAL);
  t_cap_remove();
  oh_pool_put(bounded, x);
  oh_pool_put(pool, z);
  cr_expect_eq(oh_pool_leaks(bounded, NULL, NULL), 0);
  oh_pool_destroy(bounded);
  oh_pool_destroy(pool);
}

typedef struct th_job_s {
  oh_slab_t *s;
  void *kept[16];
} th_job_t;

static void *alloc_free_keep(void *arg) {
  th_job_t *j = arg;
  for (int i = 0; i < 16; i++) {
    void *p = oh_slab_alloc(j->s, 64);
    void *q = oh_slab_alloc(j->s, 64);
    oh_slab_decref(j->s, q); /* stays in this thread's cache until it exits */
    j->kept[i] = p;
  }
  cr_expect_eq(oh_slab_leaks(j->s, NULL, NULL), 16, "chunks in a thread cache are listed as live");
  return NULL;
}

Test(debug, leaks_ignore_chunks_in_thread_caches) {
  oh_slab_t *s = oh_slab_new(NULL);
  cr_assert(s != NULL);
  th_job_t j = {s, {0}};
  pthread_t t;
  pthread_create(&t, NULL, alloc_free_keep, &j);
  pthread_join(t, NULL);
  seen_t seen = {0};
  cr_expect_eq(oh_slab_leaks(s, record, &seen), 16);
  for (int i = 0; i < 16; i++) cr_expect(find(&seen, j.kept[i]) >= 0, "kept chunk %p not listed", j.kept[i]);
  for (int i = 0; i < 16; i++) oh_slab_decref(s, j.kept[i]); /* from another thread than the allocation */
  cr_expect_eq(oh_slab_leaks(s, NULL, NULL), 0);
  oh_slab_destroy(s);
}

/* ---- poisoning ------------------------------------------------------------------- */

Test(debug, level1_poisons_and_guards_whole_pages) {
  t_opt_save_t dbg = t_opt_set(OH_OPT_DEBUG, 1);
  t_opt_save_t delay = t_opt_set(OH_OPT_PURGE_DELAY_MS, -1); /* freed spans stay mapped */
  oh_slab_config_t cfg = {16, 64 * KiB, 1.25};
  oh_slab_t *s = oh_slab_new(&cfg);
  cr_assert(s != NULL);
  size_t ps = t_page();
  unsigned char *big = oh_slab_alloc(s, 3 * ps + 100 * KiB); /* whole pages */
  unsigned char *chunk = oh_slab_alloc(s, 2 * ps), *keep = oh_slab_alloc(s, 2 * ps);
  unsigned char *small = oh_slab_alloc(s, 100), *small_keep = oh_slab_alloc(s, 100);
  cr_assert(big && chunk && keep && small && small_keep);
  memset(big, 0x11, 3 * ps + 100 * KiB);
  memset(chunk, 0x22, 2 * ps);
  memset(small, 0x33, 100);
  cr_assert_eq(oh_slab_decref(s, big), 1);
  cr_assert_eq(oh_slab_decref(s, chunk), 1);
  cr_assert_eq(oh_slab_decref(s, small), 1);
  /* A use after free of a page or more faults at the guilty access. */
  cr_expect(!accessible(big) && !accessible(big + 100 * KiB), "level 1 left a freed large buffer accessible");
  cr_expect(!accessible(chunk) && !accessible(chunk + ps), "level 1 left a freed two-page chunk accessible");
  cr_expect(accessible(keep) && accessible(small_keep), "a live neighbour was guarded");
  /* A smaller chunk is poisoned (its page is shared with live chunks). */
  T_ASAN_LIFT(small, 100);
  size_t poisoned = 0;
  for (size_t i = 0; i < 100; i++) poisoned += small[i] == 0xdf;
  cr_expect_eq(poisoned, 100, "level 1: only %zu of 100 freed bytes hold the poison 0xdf", poisoned);
  oh_slab_decref(s, keep);
  oh_slab_decref(s, small_keep);
  oh_slab_destroy(s);
  t_opt_restore(delay);
  t_opt_restore(dbg);
}

Test(debug, level1_reports_a_write_after_free_when_the_chunk_is_handed_out) {
  t_opt_save_t dbg = t_opt_set(OH_OPT_DEBUG, 1);
  t_opt_save_t delay = t_opt_set(OH_OPT_PURGE_DELAY_MS, -1);
  t_cap_install();
  oh_slab_config_t cfg = {16, 64 * KiB, 1.25};
  oh_slab_t *s = oh_slab_new(&cfg);
  cr_assert(s != NULL);
  unsigned char *p = oh_slab_alloc(s, 200), *keep = oh_slab_alloc(s, 200);
  cr_assert(p && keep);
  cr_assert_eq(oh_slab_decref(s, p), 1);
  T_ASAN_LIFT(p, 200);
  p[37] = 0x42; /* the bug: a write through a stale pointer */
  unsigned char *q = oh_slab_alloc(s, 200); /* the same chunk comes back (LIFO) */
  cr_assert_eq(q, p, "the freed chunk %p was not handed out again (got %p)", (void *)p, (void *)q);
  cr_expect_eq(t_cap_count(), 1, "the write after free was reported %d times", t_cap_count());
  char want[64];
  snprintf(want, sizeof want, "%p", (void *)p);
  cr_expect(strstr(t_cap.first_msg, want) != NULL && strstr(t_cap.first_msg, "offset 37") != NULL,
            "the report does not name the chunk and the offset: %s", t_cap.first_msg);
  oh_slab_decref(s, q);
  oh_slab_decref(s, keep);
  oh_slab_destroy(s);
  t_cap_remove();
  t_opt_restore(delay);
  t_opt_restore(dbg);
}

/* ---- guard pages ------------------------------------------------------------------ */

Test(debug, level2_guards_freed_pages_until_reuse) {
  t_opt_save_t dbg = t_opt_set(OH_OPT_DEBUG, 2);
  t_opt_save_t delay = t_opt_set(OH_OPT_PURGE_DELAY_MS, -1);
  size_t ps = t_page();
  oh_slab_config_t cfg = {16, 256 * KiB, 2.0};
  oh_slab_t *s = oh_slab_new(&cfg);
  cr_assert(s != NULL);
  /* A chunk of two pages (a page-multiple class: page aligned), a small chunk
   * (no whole page: never guarded), and whole pages. */
  unsigned char *p = oh_slab_alloc(s, 2 * ps), *small = oh_slab_alloc(s, 100);
  unsigned char *keep = oh_slab_alloc(s, 2 * ps), *big = oh_slab_alloc(s, 300 * KiB);
  cr_assert(p && small && keep && big);
  cr_assert_eq((uintptr_t)p % ps, 0, "a two-page chunk at %p is not page aligned", (void *)p);
  memset(p, 1, 2 * ps);
  memset(big, 1, 300 * KiB);
  cr_assert_eq(oh_slab_decref(s, p), 1);
  cr_assert_eq(oh_slab_decref(s, small), 1);
  cr_assert_eq(oh_slab_decref(s, big), 1);
  cr_expect(guarded(p) && guarded(p + ps), "a freed two-page chunk is still accessible");
  cr_expect(guarded(big) && guarded(big + 200 * KiB), "freed whole pages are still accessible");
  cr_expect(accessible(keep), "a live neighbour was guarded");
  cr_expect(accessible(small), "the page of a freed sub-page chunk (shared with live ones) was guarded");
  /* Double free and decref below zero are still caught, without touching the pages. */
  cr_expect_eq(oh_slab_decref(s, p), -1);
  cr_expect_eq(errno, EALREADY);

  /* Handed out again: accessible, and writable right away. */
  unsigned char *q = oh_slab_alloc(s, 2 * ps);
  cr_assert(q != NULL);
  cr_expect(accessible(q) && accessible(q + ps), "a reused chunk at %p is still guarded", (void *)q);
  memset(q, 2, 2 * ps);
  unsigned char *big2 = oh_slab_alloc(s, 300 * KiB);
  cr_assert(big2 != NULL);
  cr_expect(accessible(big2) && accessible(big2 + 200 * KiB), "reused whole pages are still guarded");
  memset(big2, 2, 300 * KiB);

  oh_slab_decref(s, big2);
  oh_slab_decref(s, q);
  oh_slab_decref(s, keep);
  oh_slab_destroy(s);
  t_opt_restore(delay);
  t_opt_restore(dbg);
}

Test(debug, guarded_chunks_are_opened_when_handed_out_after_debug_is_switched_off) {
  t_opt_save_t delay = t_opt_set(OH_OPT_PURGE_DELAY_MS, -1);
  size_t ps = t_page();
  oh_slab_config_t cfg = {16, 256 * KiB, 2.0};
  oh_slab_t *s = oh_slab_new(&cfg);
  cr_assert(s != NULL);
  enum { N = 8 };
  unsigned char *p[N], *keep = oh_slab_alloc(s, 4 * ps); /* keeps the slab from emptying */
  cr_assert(keep != NULL);
  t_opt_save_t dbg = t_opt_set(OH_OPT_DEBUG, 2);
  for (int i = 0; i < N; i++) {
    p[i] = oh_slab_alloc(s, 4 * ps);
    cr_assert(p[i] != NULL);
  }
  for (int i = 0; i < N; i++) cr_assert_eq(oh_slab_decref(s, p[i]), 1);
  for (int i = 0; i < N; i++) cr_expect(guarded(p[i]), "chunk %d not guarded", i);
  t_opt_restore(dbg); /* debug off: the chunks come back through caches and batches */
  void *out[N];
  int cls = -1;
  for (int i = 0; i < oh_slab_class_count(s); i++)
    if (oh_slab_class_size(s, i) == 4 * ps) cls = i;
  cr_assert(cls >= 0, "no class of 4 pages");
  size_t n = oh_slab_alloc_batch(s, cls, out, N / 2);
  cr_expect_eq(n, N / 2);
  for (size_t i = 0; i < n; i++) {
    cr_expect(accessible(out[i]), "a chunk from a batch is still guarded");
    memset(out[i], 3, 4 * ps);
  }
  for (int i = 0; i < N / 2; i++) {
    unsigned char *q = oh_slab_alloc(s, 4 * ps); /* through this thread's cache */
    cr_assert(q != NULL);
    cr_expect(accessible(q), "a chunk from a thread cache is still guarded");
    memset(q, 4, 4 * ps);
  }
  oh_slab_destroy(s); /* everything, guarded or not, goes */
  t_opt_restore(delay);
}

/* Instance b takes 64 chunks of 1000 bytes, each written whole; reused:
 * one lies in the 64 KiB segment of one of the n chunks p. */
typedef struct {
  oh_slab_t *b;
  unsigned char **p;
  int n, failed, inaccessible, reused;
} reuse_t;

static void *reuse_segments(void *arg) {
  reuse_t *r = arg;
  for (int i = 0; i < 64; i++) {
    unsigned char *q = oh_slab_alloc(r->b, 1000);
    if (q == NULL) {
      r->failed++;
      continue;
    }
    if (!accessible(q)) r->inaccessible++;
    else memset(q, 5, 1000);
    for (int k = 0; k < r->n; k++)
      if ((uintptr_t)q >> 16 == (uintptr_t)r->p[k] >> 16) r->reused = 1;
  }
  return NULL;
}

Test(debug, segments_of_guarded_slabs_are_reused_whole) {
  t_opt_save_t delay = t_opt_set(OH_OPT_PURGE_DELAY_MS, 0); /* empty slabs go back at once */
  t_opt_save_t retain = t_opt_set(OH_OPT_RETAIN_BYTES, 0);
  t_opt_save_t dbg = t_opt_set(OH_OPT_DEBUG, 2);
  size_t ps = t_page();
  oh_slab_config_t cfg = {16, 64 * KiB, 2.0};
  oh_slab_t *a = oh_slab_new(&cfg);
  cr_assert(a != NULL);
  enum { N = 8 };
  unsigned char *p[N];
  for (int i = 0; i < N; i++) p[i] = oh_slab_alloc(a, 2 * ps);
  for (int i = 0; i < N; i++) cr_assert_eq(oh_slab_decref(a, p[i]), 1);
  oh_slab_purge(a); /* the empty slabs' segments go to the shared cache */
  t_opt_restore(dbg);
  /* Another instance with another class takes the segments, on a thread of
   * its own (this one's next slab goes next to its last, which may be a
   * segment never used): every byte of them must be usable. */
  reuse_t r = {.b = oh_slab_new(&cfg), .p = p, .n = N};
  cr_assert(r.b != NULL);
  pthread_t t;
  cr_assert_eq(pthread_create(&t, NULL, reuse_segments, &r), 0);
  cr_assert_eq(pthread_join(t, NULL), 0);
  cr_expect_eq(r.failed, 0, "%d allocations of the other instance failed", r.failed);
  cr_expect_eq(r.inaccessible, 0, "%d chunks of reused segments were inaccessible", r.inaccessible);
  cr_expect(r.reused, "no segment of the purged slabs was reused by the other instance: the test proves nothing");
  oh_slab_destroy(r.b);
  oh_slab_destroy(a);
  t_opt_restore(retain);
  t_opt_restore(delay);
}
