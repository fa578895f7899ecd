/* test_owner_slices.c - a busy owner's share of a purge pass in slices
 * (purge.c, owner_pass; issue 18): a thread that holds many slabs with free
 * pages walks at most OHI_OWNER_PASS_PAGES pages of them per refill, so a
 * pass over 1 GiB of small chunks is not one 20-50 ms stall; a pass that
 * takes several refills is still one pass (no slab is aged twice in it), and
 * a slab is aged by the passes since it was last looked at, so its free
 * pages come due on the policy's clock - not early, not lost.
 *
 * The owner's pass is called directly (as a refill does), with the purge
 * delay at a day so the purger never looks at the cache on its own, and the
 * pass counter (ohi_purge_tick) moved on by the test alone: the purger
 * thread is held (ohi_test_purger_hold), whose own passes - one at least,
 * when the cache first holds slabs - moved it too and made a slab owe a pass
 * more than the test counted (1 run in about 10 under make test's load).
 */
#include "test_util.h"

#include <unistd.h>

#include "internal.h" /* ohi_tcache_purge_self, ohi_purge_tick, slab fields (tests are built with -Ic/src) */

#define DAY_MS (24LL * 3600 * 1000)
#define NSLABS (3 * OHI_OWNER_PASS_PAGES / 256) /* three slices' worth of 1 MiB slabs of 4 KiB pages */
#define CHUNK 512 /* the largest size with a page summary (8 per page): fewest allocations (valgrind) */

typedef struct {
  t_held_t c;
  ohi_tcache_t *tc;
  ohi_slab_t *slabs[NSLABS];
} owner_t;

/* NSLABS slabs of CHUNK-byte chunks; every chunk of their even pages freed. */
static void owner_new(owner_t *o) {
  cr_assert_eq(ohi_os_page_size(), 4096, "the test counts 4 KiB pages");
  ohi_test_purger_hold(true);
  o->c = t_held_new(DAY_MS, CHUNK, NSLABS * (1 * MiB / CHUNK));
  size_t k = 0;
  for (size_t i = 0; i < o->c.n; i += 1 * MiB / CHUNK) {
    ohi_slab_t *s = (ohi_slab_t *)ohi_region_lookup(o->c.p[i]);
    cr_assert(s != NULL && s->pw_free != NULL && k < NSLABS);
    o->slabs[k++] = s;
  }
  cr_assert_eq(k, NSLABS);
  for (size_t i = 0; i < o->c.n; i++) {
    if ((((uintptr_t)o->c.p[i] >> 12) & 1) != 0) continue;
    cr_assert_eq(oh_slab_decref(o->c.h, o->c.p[i]), 1);
    o->c.p[i] = NULL;
  }
  o->tc = ohi_tcache_get(o->c.h);
  cr_assert(o->tc != NULL);
}

static void owner_free(owner_t *o) {
  t_held_free(&o->c);
  ohi_test_purger_hold(false);
}

static uint64_t next_pass(void) { return __atomic_add_fetch(&ohi_purge_tick, 1, __ATOMIC_RELAXED); }

/* One refill's share: the owner's pass, inside its window. */
static void owner_slice(owner_t *o) {
  cr_assert(ohi_tcache_enter(o->tc));
  ohi_tcache_purge_self(o->c.h, o->tc);
  ohi_tcache_leave(o->tc);
}

static size_t looked_at(owner_t *o, uint64_t tick) {
  size_t n = 0;
  for (int i = 0; i < NSLABS; i++) n += o->slabs[i]->walk_tick == tick;
  return n;
}

static size_t decommitted_pages(owner_t *o) {
  size_t n = 0;
  for (int i = 0; i < NSLABS; i++)
    for (size_t pg = 0; pg < 256; pg++) n += ohi_slab_page_decommitted(o->slabs[i], pg);
  return n;
}

/* A pass over three slices' worth of slabs takes three refills, each
 * walking a slice; the pass then counts as done. */
Test(owner_slices, a_pass_over_many_slabs_is_walked_a_slice_per_refill, .timeout = 60) {
  owner_t o;
  owner_new(&o);
  uint64_t tick = next_pass();
  size_t per = OHI_OWNER_PASS_PAGES / 256;
  for (size_t slice = 1; slice <= 3; slice++) {
    owner_slice(&o);
    cr_expect_eq(looked_at(&o, tick), slice * per, "after refill %zu: %zu slabs looked at, not %zu", slice,
                 looked_at(&o, tick), slice * per);
    cr_expect_eq(o.tc->purged_tick == tick, slice == 3, "after refill %zu the pass is %sdone", slice,
                 o.tc->purged_tick == tick ? "" : "not ");
  }
  owner_slice(&o); /* the pass is done: nothing more at this tick */
  cr_expect_eq(looked_at(&o, tick), NSLABS);
  owner_free(&o);
}

/* One more chunk of every slab freed (a put, no pop): every slab is walked
 * at the next pass rather than skipped as unchanged. */
static void put_each(owner_t *o, size_t round) {
  for (int i = 0; i < NSLABS; i++) {
    size_t k = (size_t)i * (1 * MiB / CHUNK) + 4096 / CHUNK + round; /* page 1 (odd) */
    cr_assert(o->c.p[k] != NULL && (uintptr_t)o->c.p[k] >> 12 & 1);
    cr_assert_eq(oh_slab_decref(o->c.h, o->c.p[k]), 1);
    o->c.p[k] = NULL;
  }
}

/* A wholly free page's age: the summary's, plus passes a skipped walk owes. */
static unsigned page0_age(const ohi_slab_t *s) { return s->pw_age[0] + s->pg_credit; }

/* A pass that spans ticks is one pass, and each slab is aged by the passes
 * since it was last looked at: every even page comes due at the pass that
 * brings its age to the need (5), none before, whichever slice saw it. */
Test(owner_slices, slabs_age_by_the_passes_since_they_were_looked_at, .timeout = 60) {
  owner_t o;
  owner_new(&o);
  size_t per = OHI_OWNER_PASS_PAGES / 256, half = NSLABS * 128;
  next_pass();
  for (int i = 0; i < 3; i++) owner_slice(&o); /* every even page seen free: age 1 */
  put_each(&o, 1);
  uint64_t t2 = next_pass();
  owner_slice(&o); /* a slice of the pass at t2 */
  uint64_t t3 = next_pass();
  owner_slice(&o); /* the same pass, going on at t3 */
  owner_slice(&o);
  cr_expect_eq(o.tc->purged_tick, t3, "the pass begun at t2 is not done after its three slices");
  size_t at2 = 0, at3 = 0;
  for (int i = 0; i < NSLABS; i++) {
    ohi_slab_t *s = o.slabs[i];
    at2 += s->walk_tick == t2;
    at3 += s->walk_tick == t3;
    unsigned want = s->walk_tick == t2 ? 2 : 3; /* free since t1: one pass, or two */
    cr_expect_eq(page0_age(s), want, "slab %d, looked at in pass %llu, has age %u, not %u", i,
                 (unsigned long long)s->walk_tick, page0_age(s), want);
  }
  cr_expect(at2 == per && at3 == NSLABS - per, "%zu slabs looked at at t2 and %zu at t3, not %zu and %zu", at2, at3,
            per, NSLABS - per);
  put_each(&o, 2);
  next_pass();
  for (int i = 0; i < 3; i++) owner_slice(&o);
  cr_expect_eq(decommitted_pages(&o), 0, "%zu pages went before they were free for the need", decommitted_pages(&o));
  for (int i = 0; i < NSLABS; i++) cr_expect_eq(page0_age(o.slabs[i]), 4, "slab %d has age %u", i, page0_age(o.slabs[i]));
  put_each(&o, 3);
  uint64_t t5 = next_pass();
  int slices = 0; /* more than three now: a page decommitted counts as eight walked */
  while (o.tc->purged_tick != t5 && slices < 100) {
    owner_slice(&o);
    slices++;
  }
  cr_expect(slices > 3, "a pass that decommitted %zu pages took %d slices", decommitted_pages(&o), slices);
  cr_expect_eq(decommitted_pages(&o), half, "%zu of %zu pages went at the pass that made them due",
               decommitted_pages(&o), half);
  owner_free(&o);
}

/* The hold the tests above stand on: a held purger, woken, starts no pass
 * (the pass counter stays); let go, it passes at once. */
Test(owner_slices, a_held_purger_starts_no_pass) {
  t_opt_save_t delay = t_opt_set(OH_OPT_PURGE_DELAY_MS, 1000);
  oh_slab_t *h = oh_slab_new(NULL);
  cr_assert(h != NULL);
  void *p = oh_slab_alloc(h, 4096); /* a heap with a cache: the purger has something to look at */
  cr_assert(p != NULL);
  ohi_test_purger_hold(true);
  uint64_t t0 = __atomic_load_n(&ohi_purge_tick, __ATOMIC_RELAXED);
  for (int i = 0; i < 20; i++) {
    ohi_purge_wake();
    usleep(5000);
  }
  cr_expect_eq(__atomic_load_n(&ohi_purge_tick, __ATOMIC_RELAXED), t0, "a held purger passed (tick %llu -> %llu)",
               (unsigned long long)t0, (unsigned long long)__atomic_load_n(&ohi_purge_tick, __ATOMIC_RELAXED));
  ohi_test_purger_hold(false);
  uint64_t start = ohi_os_now_ms();
  while (__atomic_load_n(&ohi_purge_tick, __ATOMIC_RELAXED) == t0 && ohi_os_now_ms() - start < 10000) usleep(1000);
  cr_expect_neq(__atomic_load_n(&ohi_purge_tick, __ATOMIC_RELAXED), t0, "the purger, let go, did not pass in 10 s");
  cr_assert_eq(oh_slab_decref(h, p), 1);
  cr_assert_eq(oh_slab_destroy(h), 0);
  t_opt_restore(delay);
}
