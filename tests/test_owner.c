/* test_owner.c - owner handles (c/src/owner.c, issue 17): the slab owners a
 * binding holds per P keep the statistics exact, keep chunks with the owner
 * that took them, send other owners' chunks home through their cross-owner
 * stacks, exclude two threads that reach one owner at once, and hand their
 * slabs back when deleted, when idle (the purger) and when their heap dies.
 */
#include "test_util.h"

#include "chunk.h"

#include <pthread.h>

enum { BATCH = 64 };

static oh_slab_t *new_heap(void) {
  oh_slab_config_t cfg = {.min_chunk = 64, .slab_size = 256 * KiB, .growth = 2.0};
  oh_slab_t *h = oh_slab_new(&cfg);
  cr_assert(h != NULL);
  return h;
}

static uint64_t in_use(oh_slab_t *h) {
  oh_stats_t st;
  cr_assert_eq(oh_slab_stats(h, &st), 0);
  return st.in_use_bytes;
}

/* The same chunks, whatever the order. */
static int same_set(void **a, void **b, size_t n) {
  t_sort_ptrs(a, n);
  t_sort_ptrs(b, n);
  return memcmp(a, b, n * sizeof *a) == 0;
}

/* h's class of size bytes (asserted to exist). */
static int class_of(oh_slab_t *h, size_t size) {
  for (int c = 0; c < oh_slab_class_count(h); c++)
    if (oh_slab_class_size(h, c) == size) return c;
  cr_assert_fail("no class of %zu bytes", size);
  return -1;
}

static uint32_t word_of(oh_slab_t *h, void *p) {
  ohi_span_t *sp = NULL;
  uint32_t *w = NULL;
  cr_assert_eq(ohi_chunk_find(h, p, "test", &sp, &w), 0);
  return __atomic_load_n(w, __ATOMIC_ACQUIRE);
}

/* The purger may steal an owner at any moment (its take then falls back to
 * the central lists, as tested below): tests of where chunks go keep it out. */
Test(owner, take_and_return_keep_statistics_exact_and_chunks_with_their_owner) {
  t_opt_save_t saved = t_opt_set(OH_OPT_PURGE_DELAY_MS, -1);
  oh_slab_t *h = new_heap();
  ohi_tcache_t *o = ohi_owner_new(h);
  cr_assert(o != NULL);
  void *a[BATCH], *b[BATCH];
  size_t chunk = oh_slab_class_size(h, 1);
  cr_assert_eq(ohi_owner_take(h, o, 1, a, BATCH), BATCH);
  cr_expect_eq(in_use(h), BATCH * chunk, "taken chunks count as in use");
  for (int i = 0; i < BATCH; i++) {
    cr_expect_eq(word_of(h, a[i]), OHI_W_CACHED, "chunk %d is not CACHED", i);
    cr_expect_eq(((ohi_slab_t *)ohi_region_lookup(a[i]))->owner, o, "chunk %d is not in a slab of the owner", i);
    memset(a[i], i, chunk);
  }
  /* The binding served 10 allocations and 10 frees from its cache meanwhile. */
  ohi_owner_return(h, o, 1, a, BATCH, 10, 10);
  cr_expect_eq(in_use(h), 0, "returned chunks still count as in use");
  oh_stats_t st;
  cr_assert_eq(oh_slab_stats(h, &st), 0);
  cr_expect_eq(st.allocs, 10);
  cr_expect_eq(st.frees, 10);
  /* The owner's own frees went to its free lists: the next batch is them. */
  memcpy(b, a, sizeof a);
  void *again[BATCH];
  cr_assert_eq(ohi_owner_take(h, o, 1, again, BATCH), BATCH);
  cr_expect(same_set(b, again, BATCH), "the owner did not reuse its own chunks");
  ohi_owner_return(h, o, 1, again, BATCH, 0, 0);
  ohi_owner_delete(h, o);
  cr_expect_eq(in_use(h), 0);
  cr_expect_eq(oh_slab_destroy(h), 0);
  t_opt_restore(saved);
}

Test(owner, another_owners_chunks_go_home_through_its_cross_owner_stack) {
  t_opt_save_t saved = t_opt_set(OH_OPT_PURGE_DELAY_MS, -1);
  oh_slab_t *h = new_heap();
  ohi_tcache_t *o1 = ohi_owner_new(h), *o2 = ohi_owner_new(h);
  cr_assert(o1 != NULL && o2 != NULL);
  void *a[BATCH], *keep[BATCH], *again[BATCH];
  cr_assert_eq(ohi_owner_take(h, o1, 2, a, BATCH), BATCH);
  memcpy(keep, a, sizeof a);
  ohi_owner_return(h, o2, 2, a, BATCH, 0, 0); /* o2 returns o1's chunks */
  cr_expect_eq(in_use(h), 0);
  for (int i = 0; i < BATCH; i++) {
    ohi_slab_t *s = (ohi_slab_t *)ohi_region_lookup(keep[i]);
    cr_expect_eq(s->owner, o1, "chunk %d changed owner", i);
    cr_expect(OHI_W_IS_FREE(word_of(h, keep[i])), "chunk %d is not free", i);
  }
  /* o2 holds no slab of the class: its take adopts another slab. o1 counts
   * as running (under valgrind the calls above outlast the quiet threshold,
   * and a quiet owner's current slab with free chunks would go to o2). */
  OHI_STORE_RELAXED(&o1->last_call_ms, ohi_os_now_ms_coarse() + 60000);
  void *b[BATCH];
  cr_assert_eq(ohi_owner_take(h, o2, 2, b, BATCH), BATCH);
  for (int i = 0; i < BATCH; i++)
    cr_expect_neq(((ohi_slab_t *)ohi_region_lookup(b[i]))->owner, o1, "o2 took from o1's slab");
  /* o1 collects its stack and gets its chunks back. */
  cr_assert_eq(ohi_owner_take(h, o1, 2, again, BATCH), BATCH);
  cr_expect(same_set(keep, again, BATCH), "o1 did not get its chunks back from the cross-owner stack");
  ohi_owner_return(h, o1, 2, again, BATCH, 0, 0);
  ohi_owner_return(h, o1, 2, b, BATCH, 0, 0); /* and o2's go home the other way */
  cr_expect_eq(in_use(h), 0);
  ohi_owner_delete(h, o1);
  ohi_owner_delete(h, o2);
  cr_expect_eq(oh_slab_destroy(h), 0);
  t_opt_restore(saved);
}

typedef struct {
  oh_slab_t *h;
  ohi_tcache_t *o;
  int id, rounds, bad;
} sharer_t;

/* Takes and returns batches through one shared owner, checking that nobody
 * else wrote its chunks while it held them. */
static void *share_owner(void *arg) {
  sharer_t *t = arg;
  void *p[16];
  size_t chunk = oh_slab_class_size(t->h, 0);
  for (int r = 0; r < t->rounds; r++) {
    size_t got = ohi_owner_take(t->h, t->o, 0, p, 16);
    if (got != 16) t->bad++;
    for (size_t i = 0; i < got; i++) t_fill(p[i], chunk, t_seed((unsigned)t->id, (uint64_t)r * 16 + i));
    sched_yield();
    for (size_t i = 0; i < got; i++)
      if (t_check(p[i], chunk, t_seed((unsigned)t->id, (uint64_t)r * 16 + i)) != SIZE_MAX) t->bad++;
    ohi_owner_return(t->h, t->o, 0, p, got, 0, 0);
  }
  return NULL;
}

Test(owner, two_threads_on_one_owner_never_share_a_chunk, .timeout = 120) {
  oh_slab_t *h = new_heap();
  ohi_tcache_t *o = ohi_owner_new(h);
  cr_assert(o != NULL);
  int rounds = (int)t_scaled(20000, 20);
  sharer_t t[2] = {{h, o, 1, rounds, 0}, {h, o, 2, rounds, 0}};
  pthread_t th;
  cr_assert_eq(pthread_create(&th, NULL, share_owner, &t[1]), 0);
  share_owner(&t[0]);
  pthread_join(th, NULL);
  cr_expect_eq(t[0].bad + t[1].bad, 0, "%d chunks were written by the other thread, or batches came short",
               t[0].bad + t[1].bad);
  cr_expect_eq(in_use(h), 0);
  ohi_owner_delete(h, o);
  cr_expect_eq(oh_slab_destroy(h), 0);
}

Test(owner, delete_hands_the_slabs_back_for_others_to_reuse) {
  t_opt_save_t saved = t_opt_set(OH_OPT_PURGE_DELAY_MS, -1); /* nothing purged behind the test's back */
  oh_slab_t *h = new_heap();
  ohi_tcache_t *o = ohi_owner_new(h);
  cr_assert(o != NULL);
  void *a[BATCH];
  cr_assert_eq(ohi_owner_take(h, o, 3, a, BATCH), BATCH);
  ohi_owner_return(h, o, 3, a, BATCH / 2, 0, 0); /* half back, half still held */
  oh_stats_t before;
  cr_assert_eq(oh_slab_stats(h, &before), 0);
  ohi_owner_delete(h, o);
  for (int i = BATCH / 2; i < BATCH; i++) {
    ohi_slab_t *s = (ohi_slab_t *)ohi_region_lookup(a[i]);
    cr_expect_eq(s->owner, NULL, "a deleted owner still owns chunk %d's slab", i);
  }
  /* The held half goes back through the central path and the memory is
   * reused by a new owner without a new mapping. */
  ohi_owner_return(h, NULL, 3, a + BATCH / 2, BATCH / 2, 0, 0);
  cr_expect_eq(in_use(h), 0);
  ohi_tcache_t *o2 = ohi_owner_new(h);
  cr_assert_eq(ohi_owner_take(h, o2, 3, a, BATCH), BATCH);
  oh_stats_t after;
  cr_assert_eq(oh_slab_stats(h, &after), 0);
  cr_expect_eq(after.mapped_bytes, before.mapped_bytes, "a new owner mapped memory the deleted one gave back");
  ohi_owner_return(h, o2, 3, a, BATCH, 0, 0);
  ohi_owner_delete(h, o2);
  cr_expect_eq(oh_slab_destroy(h), 0);
  t_opt_restore(saved);
}

Test(owner, an_idle_owner_is_drained_by_the_purger, .timeout = 60) {
  t_opt_save_t saved = t_opt_set(OH_OPT_PURGE_DELAY_MS, 100);
  oh_slab_t *h = new_heap();
  ohi_tcache_t *o = ohi_owner_new(h);
  cr_assert(o != NULL);
  void *a[BATCH];
  cr_assert_eq(ohi_owner_take(h, o, 4, a, BATCH), BATCH);
  ohi_owner_return(h, o, 4, a, BATCH, 0, 0);
  cr_expect(__atomic_load_n(&o->holds, __ATOMIC_ACQUIRE) != 0, "the owner holds no slab after a take");
  /* No call for several delays: the purger hands its slabs back. */
  uint64_t deadline = t_now_ms() + 20000;
  while (__atomic_load_n(&o->holds, __ATOMIC_ACQUIRE) != 0 && t_now_ms() < deadline) t_sleep_ms(20);
  cr_expect_eq(__atomic_load_n(&o->holds, __ATOMIC_ACQUIRE), 0, "an idle owner kept its slabs for 20 s");
  /* and the owner still works */
  cr_assert_eq(ohi_owner_take(h, o, 4, a, BATCH), BATCH);
  ohi_owner_return(h, o, 4, a, BATCH, 0, 0);
  ohi_owner_delete(h, o);
  cr_expect_eq(oh_slab_destroy(h), 0);
  t_opt_restore(saved);
}

Test(owner, destroying_the_heap_orphans_its_owners) {
  oh_slab_t *h = new_heap();
  ohi_tcache_t *o = ohi_owner_new(h);
  cr_assert(o != NULL);
  void *a[BATCH];
  cr_assert_eq(ohi_owner_take(h, o, 0, a, BATCH), BATCH);
  cr_expect_eq(oh_slab_destroy(h), 0); /* its slabs go with the heap */
  cr_expect_eq(o->heap_id, 0, "the owner of a destroyed heap is not orphaned");
  ohi_owner_delete(h, o); /* frees only the owner (ASan and valgrind watch) */
}

Test(owner, busy_or_stolen_owner_falls_back_to_the_central_lists) {
  t_opt_save_t saved = t_opt_set(OH_OPT_PURGE_DELAY_MS, -1); /* the purger's unsteal would end ours */
  oh_slab_t *h = new_heap();
  ohi_tcache_t *o = ohi_owner_new(h);
  cr_assert(o != NULL);
  void *a[8];
  __atomic_store_n(&o->in_op, 1u, __ATOMIC_SEQ_CST); /* another thread inside */
  cr_assert_eq(ohi_owner_take(h, o, 0, a, 8), 8);
  for (int i = 0; i < 8; i++)
    cr_expect_eq(((ohi_slab_t *)ohi_region_lookup(a[i]))->owner, NULL, "a busy owner's take used its slabs");
  ohi_owner_return(h, o, 0, a, 8, 0, 0);
  __atomic_store_n(&o->in_op, 0u, __ATOMIC_SEQ_CST);
  cr_expect_eq(in_use(h), 0);
  __atomic_store_n(&o->steal, 1u, __ATOMIC_SEQ_CST); /* a stealer holds it */
  cr_assert_eq(ohi_owner_take(h, o, 0, a, 8), 8);
  for (int i = 0; i < 8; i++)
    cr_expect_eq(((ohi_slab_t *)ohi_region_lookup(a[i]))->owner, NULL, "a stolen owner's take used its slabs");
  ohi_owner_return(h, o, 0, a, 8, 0, 0);
  __atomic_store_n(&o->steal, 0u, __ATOMIC_SEQ_CST);
  cr_expect_eq(in_use(h), 0);
  ohi_owner_delete(h, o);
  cr_expect_eq(oh_slab_destroy(h), 0);
  t_opt_restore(saved);
}

/* Two owner handles of a heap of 256 KiB slabs (new_heap), no purger, and
 * its class of 16 KiB chunks; owners_free checks nothing is left in use. */
typedef struct {
  t_opt_save_t saved;
  oh_slab_t *h;
  int cls;
  ohi_tcache_t *o1, *o2;
} owners_t;

static owners_t owners_new(void) {
  owners_t t = {.saved = t_opt_set(OH_OPT_PURGE_DELAY_MS, -1), .h = new_heap()};
  t.cls = class_of(t.h, 16 * KiB);
  t.o1 = ohi_owner_new(t.h);
  t.o2 = ohi_owner_new(t.h);
  cr_assert(t.o1 != NULL && t.o2 != NULL);
  return t;
}

static void owners_free(owners_t *t) {
  cr_expect_eq(in_use(t->h), 0);
  ohi_owner_delete(t->h, t->o1);
  ohi_owner_delete(t->h, t->o2);
  cr_expect_eq(oh_slab_destroy(t->h), 0);
  t_opt_restore(t->saved);
}

/* A refill that would make a new slab first takes the slabs with free chunks
 * of an owner that has made no call for a while (a P the goroutine left):
 * they go to the central lists and serve the refill, so no slab is made
 * while free chunks wait on the quiet owner. Its current slab, which has
 * free chunks too, goes with them. */
Test(owner, a_quiet_owners_free_chunks_serve_another_owner_before_a_new_slab) {
  owners_t t = owners_new();
  oh_slab_t *h = t.h;
  int cls = t.cls;
  ohi_tcache_t *o1 = t.o1, *o2 = t.o2;
  enum { PER = 16, SLABS = 4, N = PER * SLABS };
  void *a[N], *ret[N], *kept[SLABS];
  cr_assert_eq(ohi_owner_take(h, o1, cls, a, N), N);
  /* one chunk kept per slab, the rest returned: every slab of o1 has room */
  size_t nret = 0, nkept = 0;
  for (int i = 0; i < N; i++) {
    uintptr_t base = (uintptr_t)a[i] & ~(uintptr_t)(256 * KiB - 1);
    bool first = true;
    for (size_t k = 0; k < nkept; k++)
      if (((uintptr_t)kept[k] & ~(uintptr_t)(256 * KiB - 1)) == base) first = false;
    if (first && nkept < SLABS) kept[nkept++] = a[i];
    else ret[nret++] = a[i];
  }
  cr_assert_eq(nkept, SLABS, "the chunks did not come from %d slabs", SLABS);
  ohi_owner_return(h, o1, cls, ret, nret, 0, 0);
  oh_stats_t st;
  cr_assert_eq(oh_slab_stats(h, &st), 0);
  uint64_t slabs = st.classes[cls].slabs;
  t_sleep_ms(30); /* o1 quiet */
  void *b[PER];
  cr_assert_eq(ohi_owner_take(h, o2, cls, b, PER), PER);
  cr_assert_eq(oh_slab_stats(h, &st), 0);
  cr_expect_eq(st.classes[cls].slabs, slabs, "a new slab was made (%llu -> %llu slabs) while o1's waited",
               (unsigned long long)slabs, (unsigned long long)st.classes[cls].slabs);
  int from_o1 = 0;
  for (int i = 0; i < PER; i++)
    for (size_t k = 0; k < nkept; k++)
      if (((uintptr_t)b[i] & ~(uintptr_t)(256 * KiB - 1)) == ((uintptr_t)kept[k] & ~(uintptr_t)(256 * KiB - 1)))
        from_o1++;
  cr_expect_eq(from_o1, PER, "%d of %d chunks came from o1's old slabs", from_o1, PER);
  int still_o1 = 0;
  for (size_t k = 0; k < nkept; k++)
    if (((ohi_slab_t *)ohi_region_lookup(kept[k]))->owner == o1) still_o1++;
  cr_expect_eq(still_o1, 0, "o1 kept %d of its slabs with free chunks", still_o1);
  ohi_owner_return(h, o2, cls, b, PER, 0, 0);
  ohi_owner_return(h, o1, cls, kept, nkept, 0, 0);
  owners_free(&t);
}

/* The same look takes the full slabs too (all but the current one) of an
 * owner quiet for longer: the goroutine that left that P frees their chunks
 * from the other P soon after, and they must land where any refill finds them, not empty out
 * in the quiet owner until the purge policy decommits them (issue 18: steady
 * churn from Go decommitted 47-91 slabs and faulted them in again in about
 * one run of three, the active owner being fed from the central lists
 * meanwhile and not looking again). */
Test(owner, a_quiet_owners_full_slabs_go_central_with_the_rest) {
  owners_t t = owners_new();
  oh_slab_t *h = t.h;
  int cls = t.cls;
  ohi_tcache_t *o1 = t.o1, *o2 = t.o2;
  enum { PER = 16, SLABS = 4, N = PER * SLABS };
  void *a[N], *b[N];
  cr_assert_eq(ohi_owner_take(h, o1, cls, a, N), N); /* SLABS full slabs */
  t_sleep_ms(150); /* o1 quiet long enough for its full slabs to go (tcache.c: 100 ms) */
  cr_assert_eq(ohi_owner_take(h, o2, cls, b, 1), 1); /* a refill that looks at o1 */
  int still_o1 = 0;
  for (int i = 0; i < N; i += PER)
    if (((ohi_slab_t *)ohi_region_lookup(a[i]))->owner == o1) still_o1++;
  cr_expect_eq(still_o1, 1, "o1 kept %d of its %d full slabs; only its current one should stay", still_o1, SLABS);
  /* their chunks freed through o2 serve o2's refills: no slab is made */
  oh_stats_t st;
  cr_assert_eq(oh_slab_stats(h, &st), 0);
  uint64_t slabs = st.classes[cls].slabs;
  void *mine[N];
  int nmine = 0, nother = 0;
  for (int i = 0; i < N; i++)
    if (((ohi_slab_t *)ohi_region_lookup(a[i]))->owner == o1) mine[nmine++] = a[i];
    else a[nother++] = a[i];
  ohi_owner_return(h, o2, cls, a, (size_t)nother, 0, 0);
  cr_assert_eq(ohi_owner_take(h, o2, cls, b + 1, (size_t)nother), (size_t)nother);
  cr_assert_eq(oh_slab_stats(h, &st), 0);
  cr_expect(st.classes[cls].slabs <= slabs, "o2 made %llu new slabs while o1's freed ones waited",
            (unsigned long long)(st.classes[cls].slabs - slabs));
  ohi_owner_return(h, o2, cls, b, (size_t)nother + 1, 0, 0);
  ohi_owner_return(h, o1, cls, mine, (size_t)nmine, 0, 0);
  owners_free(&t);
}

/* o's slabs among those of the chunks in p (one per slab). */
static int owned_by(ohi_tcache_t *o, void **p, int n) {
  int k = 0;
  for (int i = 0; i < n; i++)
    if (((ohi_slab_t *)ohi_region_lookup(p[i]))->owner == o) k++;
  return k;
}

/* o takes SLABS slabs of class cls and returns all but one chunk of each:
 * every one has room, its current one aside. kept[] gets the chunks left. */
enum { PER = 16, SLABS = 4 };
static void take_with_room(oh_slab_t *h, ohi_tcache_t *o, int cls, void **kept) {
  void *a[PER * SLABS];
  cr_assert_eq(ohi_owner_take(h, o, cls, a, PER * SLABS), PER * SLABS);
  for (int k = 0; k < SLABS; k++) {
    cr_assert_eq((uintptr_t)a[k * PER] & (256 * KiB - 1), 0, "chunk %d does not start a slab", k * PER);
    kept[k] = a[k * PER];
    ohi_owner_return(h, o, cls, a + k * PER + 1, PER - 1, 0, 0);
  }
}

/* The look takes the quiet owner's slabs with room of every class, not only
 * of the class the refill is short of: a goroutine that moved to another P
 * frees into the old P's slabs of every size while the new P allocates from
 * its own, so each class held free chunks twice over, once per P (issue 18:
 * the Go cache kept 1.21-1.22x its live bytes; bench/RESULTS.md, session 15). */
Test(owner, a_refill_takes_a_quiet_owners_slabs_of_every_class) {
  owners_t t = owners_new();
  oh_slab_t *h = t.h;
  int other = class_of(h, 8 * KiB);
  void *kept[SLABS], *b;
  take_with_room(h, t.o1, t.cls, kept);
  t_sleep_ms(30); /* o1 quiet */
  cr_assert_eq(ohi_owner_take(h, t.o2, other, &b, 1), 1); /* a new slab of another class */
  cr_expect_eq(owned_by(t.o1, kept, SLABS), 0, "o1 kept %d of its %d slabs with free chunks", owned_by(t.o1, kept, SLABS),
               SLABS);
  ohi_owner_return(h, t.o2, other, &b, 1, 0, 0);
  ohi_owner_return(h, t.o1, t.cls, kept, SLABS, 0, 0);
  owners_free(&t);
}

/* And it is made each time an owner moves past a full slab, not only before
 * a new one: the new P has room of its own (the chunks it frees into its own
 * slabs) and would seldom make a slab while the old P's room waits. */
Test(owner, moving_past_a_full_slab_takes_a_quiet_owners_room) {
  owners_t t = owners_new();
  oh_slab_t *h = t.h;
  int other = class_of(h, 8 * KiB);
  enum { OPER = 32 };
  void *b[2 * OPER + 1], *kept[SLABS];
  cr_assert_eq(ohi_owner_take(h, t.o2, other, b, 2 * OPER), 2 * OPER); /* two full slabs of o2 */
  ohi_owner_return(h, t.o2, other, b, 1, 0, 0);                        /* room in the first */
  ohi_tcache_t *o3 = ohi_owner_new(h);
  cr_assert(o3 != NULL);
  take_with_room(h, o3, t.cls, kept);
  t_sleep_ms(30); /* o3 quiet, and o2's last look long past */
  oh_stats_t st;
  cr_assert_eq(oh_slab_stats(h, &st), 0);
  uint64_t slabs = st.classes[other].slabs;
  cr_assert_eq(ohi_owner_take(h, t.o2, other, b, 1), 1); /* past the full current slab, into the first */
  cr_assert_eq(oh_slab_stats(h, &st), 0);
  cr_assert_eq(st.classes[other].slabs, slabs, "o2 made a slab: the look was the one before a new slab");
  cr_expect_eq(owned_by(o3, kept, SLABS), 0, "o3 kept %d of its %d slabs with free chunks", owned_by(o3, kept, SLABS), SLABS);
  ohi_owner_return(h, t.o2, other, b, 2 * OPER, 0, 0);
  ohi_owner_return(h, o3, t.cls, kept, SLABS, 0, 0);
  ohi_owner_delete(h, o3);
  owners_free(&t);
}

/* A quiet owner's current slab goes with the rest when it holds freed chunks
 * (in a small heap it is each class's only slab, and a goroutine that moved
 * to another P left a class's free chunks there while the new P touched
 * fresh pages of its own: the Go cache at 32 MiB held 1.4-1.9x its live
 * bytes). One whose room is only its untouched tail stays: nothing would be
 * reused. The quiet owner, called again, takes a slab as any refill does. */
Test(owner, a_quiet_owners_current_slab_goes_when_it_holds_free_chunks) {
  owners_t t = owners_new();
  oh_slab_t *h = t.h;
  int fresh = class_of(h, 4 * KiB), other = class_of(h, 8 * KiB);
  void *a[PER], *one, *b;
  cr_assert_eq(ohi_owner_take(h, t.o1, t.cls, a, PER), PER);
  ohi_owner_return(h, t.o1, t.cls, a + 1, PER - 1, 0, 0); /* its current slab of cls: free chunks */
  cr_assert_eq(ohi_owner_take(h, t.o1, fresh, &one, 1), 1); /* of fresh: only the untouched tail */
  ohi_slab_t *with_free = (ohi_slab_t *)ohi_region_lookup(a[0]), *tail_only = (ohi_slab_t *)ohi_region_lookup(one);
  cr_assert(with_free->owner == t.o1 && tail_only->owner == t.o1);
  t_sleep_ms(30); /* o1 quiet */
  cr_assert_eq(ohi_owner_take(h, t.o2, other, &b, 1), 1); /* a new slab: the look first */
  cr_expect_neq(with_free->owner, t.o1, "o1 kept its current slab with %d free chunks", PER - 1);
  cr_expect_eq(tail_only->owner, t.o1, "o1 gave up a current slab whose room is only its untouched tail");
  void *again[PER];
  cr_assert_eq(ohi_owner_take(h, t.o1, t.cls, again, PER), PER, "o1 could not take chunks of cls again");
  ohi_owner_return(h, t.o1, t.cls, again, PER, 0, 0);
  ohi_owner_return(h, t.o1, t.cls, a, 1, 0, 0);
  ohi_owner_return(h, t.o1, fresh, &one, 1, 0, 0);
  ohi_owner_return(h, t.o2, other, &b, 1, 0, 0);
  owners_free(&t);
}
