/* test_purge_steal.c - how long the purger may hold a busy thread's cache.
 *
 * A policy pass ages a busy owner's slabs by stealing its cache (a BYPASS
 * steal: the owner's allocations go to the central lists and its frees to
 * the cross-thread stacks meanwhile). A steal that lasted for the whole
 * cache's purge stranded frees for milliseconds (a freed chunk not handed
 * out again within 4096 allocations), so the pass gives the cache back after
 * the slab in hand as soon as the owner has bypassed it once; forced purges
 * (oh_purge, oh_slab_purge) finish what they started. Pressure (a heap
 * mapping fresh memory) does not steal a busy cache at all: the owner's next
 * refill ages its slabs with the pressure's rule. The passes run here on the
 * test's thread (ohi_heaps_purge_all) and a hook stands between slabs. */
#include "test_util.h"

#include "internal.h" /* ohi_heaps_purge_all, ohi_test_purge_slab_hook, ohi_os_now_ms */

#include <pthread.h>
#include <sched.h>

#define NCLASSES 6 /* the owner's cache holds one slab of each of these sizes */
static const size_t sizes[NCLASSES] = {64, 256, 1024, 2048, 4096, 8192};

typedef struct {
  oh_slab_t *h;
  t_stage_t step;  /* 1: owner ready; 2: hook asks the owner for an allocation; 3: done */
  bool armed;      /* the hook counts */
  bool ask_owner;  /* and the first time, asks the owner thread for an allocation */
  bool one_pass;   /* count the slabs of one pass only: */
  uint64_t tick;   /* the pass the hook first saw (the purger's own passes run too) */
  int calls;       /* slabs the passes (that pass) came to */
  bool asked_seen; /* the owner's allocation ran into the steal */
  void *late;      /* that allocation */
  ohi_tcache_t *tc; /* the owner's cache, as the hook found it */
  int failures;
} steal_t;

static steal_t g = {.step = T_STAGE_INIT};

/* The owner: one slab per class with free chunks in it, then one allocation
 * when the hook asks, made while its cache is stolen. */
static void *owner(void *arg) {
  (void)arg;
  void *keep[NCLASSES], *drop[NCLASSES];
  for (int i = 0; i < NCLASSES; i++) {
    keep[i] = oh_slab_alloc(g.h, sizes[i]);
    drop[i] = oh_slab_alloc(g.h, sizes[i]);
    if (keep[i] == NULL || drop[i] == NULL) g.failures++;
  }
  for (int i = 0; i < NCLASSES; i++)
    if (oh_slab_decref(g.h, drop[i]) != 1) g.failures++;
  t_stage_set(&g.step, 1);
  t_stage_wait(&g.step, 2);
  g.late = oh_slab_alloc(g.h, 64); /* the cache is stolen: this bypasses it */
  if (g.late == NULL) g.failures++;
  t_stage_wait(&g.step, 3);
  for (int i = 0; i < NCLASSES; i++)
    if (oh_slab_decref(g.h, keep[i]) != 1) g.failures++;
  if (g.late != NULL && oh_slab_decref(g.h, g.late) != 1) g.failures++;
  return NULL;
}

/* Between slabs of a stolen cache of the test's heap (with one_pass: in the
 * first pass the hook sees, the test's or the purger's own): the first
 * time, ask the owner for an allocation and wait until it has asked for its
 * cache back. */
static void hook(oh_slab_t *h, uint64_t tick) {
  if (h != g.h || !__atomic_load_n(&g.armed, __ATOMIC_SEQ_CST)) return;
  if (g.tick == 0) g.tick = tick;
  if (g.one_pass && tick != g.tick) return;
  if (++g.calls != 1 || !g.ask_owner) return;
  t_stage_set(&g.step, 2);
  ohi_tcache_t *tc = NULL;
  for (ohi_tcache_t *t = h->tcaches; t != NULL; t = t->next) /* registry lock held by the pass */
    if (OHI_LOAD_RELAXED(&t->holds) != 0) tc = t;
  g.tc = tc; /* checked by the test (the purger's own pass may be the one here: no assert) */
  if (tc == NULL) return;
  uint64_t t0 = ohi_os_now_ms();
  while (OHI_LOAD_ACQUIRE(&tc->want) == 0 && ohi_os_now_ms() - t0 < 30000) sched_yield();
  g.asked_seen = OHI_LOAD_ACQUIRE(&tc->want) != 0;
}

static pthread_t start(long long delay_ms, t_opt_save_t *saved) {
  *saved = t_opt_set(OH_OPT_PURGE_DELAY_MS, delay_ms);
  g.h = oh_slab_new(NULL);
  cr_assert(g.h != NULL);
  g.ask_owner = true;
  ohi_test_purge_slab_hook = hook;
  pthread_t t;
  cr_assert_eq(pthread_create(&t, NULL, owner, NULL), 0);
  t_stage_wait(&g.step, 1);
  return t;
}

static void finish(pthread_t t, t_opt_save_t saved) {
  __atomic_store_n(&g.armed, false, __ATOMIC_SEQ_CST);
  t_stage_set(&g.step, 3);
  cr_assert_eq(pthread_join(t, NULL), 0);
  ohi_test_purge_slab_hook = NULL;
  cr_expect_eq(g.failures, 0, "%d failed allocations or releases in the owner", g.failures);
  cr_expect_eq(oh_slab_destroy(g.h), 0);
  t_opt_restore(saved);
}

Test(purge_steal, a_busy_owner_gets_its_cache_back_after_the_slab_in_hand) {
  /* A long delay: the owner is neither idle nor quiet, so the policy steals
   * its cache (BYPASS) once it has not purged for two delays' worth of
   * passes. */
  t_opt_save_t saved;
  pthread_t t = start(60 * 1000, &saved);
  g.one_pass = true;
  __atomic_store_n(&g.armed, true, __ATOMIC_SEQ_CST);
  for (int pass = 0; pass < 64 && g.calls == 0; pass++) {
    uint64_t next = 0;
    ohi_heaps_purge_all(ohi_os_now_ms(), false, false, &next);
  }
  cr_assert(g.calls > 0, "64 policy passes never aged the busy owner's slabs");
  cr_assert(g.tc != NULL, "the pass came to a slab of a cache that holds none");
  cr_expect(g.asked_seen, "the owner's allocation did not ask for its stolen cache back");
  cr_expect_eq(g.calls, 1, "the pass went on to %d slabs after the owner asked for its cache back (%d slabs owned)",
               g.calls, NCLASSES);
  /* Given back midway, the cache still counts as purged in this pass: its
   * owner's next refill must not age again what the pass aged (a chunk would
   * count one pass twice and go back before the delay). */
  cr_expect_geq(OHI_LOAD_RELAXED(&g.tc->purged_tick), g.tick,
                "the interrupted pass (tick %llu) left the owner's purged tick at %llu", (unsigned long long)g.tick,
                (unsigned long long)g.tc->purged_tick);
  finish(t, saved);
}

Test(purge_steal, a_forced_purge_finishes_a_busy_owners_slabs) {
  t_opt_save_t saved;
  pthread_t t = start(60 * 1000, &saved);
  __atomic_store_n(&g.armed, true, __ATOMIC_SEQ_CST);
  oh_slab_purge(g.h); /* force: every slab of the cache, whatever the owner does */
  cr_expect(g.asked_seen, "the owner's allocation did not run into the steal");
  cr_expect_geq(g.calls, NCLASSES, "a forced purge stopped after %d of the owner's %d slabs", g.calls, NCLASSES);
  finish(t, saved);
}

/* ---- pressure: the owner's own pass, not a steal ---------------------------------- */

#define PCHUNK (16 * KiB)
#define PCOUNT 128 /* 2 MiB of 16 KiB chunks: a few slabs */

/* The busy owner fills and frees (stage 1), then makes one refill per stage
 * the main thread asks for (go n: a class it has no slab of), until quit. */
typedef struct {
  t_stage_t go, done;
  bool quit;
  void *p[PCOUNT], *extra[8];
  int failures;
} busy_t;

static busy_t b = {.go = T_STAGE_INIT, .done = T_STAGE_INIT};

static void *busy_owner(void *arg) {
  (void)arg;
  for (int i = 0; i < PCOUNT; i++) {
    b.p[i] = oh_slab_alloc(g.h, PCHUNK);
    if (b.p[i] == NULL) b.failures++;
    else memset(b.p[i], 1, PCHUNK);
  }
  for (int i = 0; i < PCOUNT; i++) /* 3/4 of its 16 KiB chunks free in its own slabs */
    if (i % 4 != 0 && oh_slab_decref(g.h, b.p[i]) != 1) b.failures++;
  t_stage_set(&b.done, 1);
  int n_extra = 0;
  for (int n = 2;; n++) {
    t_stage_wait(&b.go, n);
    if (b.quit || n_extra == 8) break;
    b.extra[n_extra] = oh_slab_alloc(g.h, (size_t)32 << n_extra);
    if (b.extra[n_extra++] == NULL) b.failures++;
    t_stage_set(&b.done, n);
  }
  for (int i = 0; i < PCOUNT; i += 4)
    if (oh_slab_decref(g.h, b.p[i]) != 1) b.failures++;
  for (int i = 0; i < n_extra; i++)
    if (oh_slab_decref(g.h, b.extra[i]) != 1) b.failures++;
  return NULL;
}

/* The busy owner's refill number n (n >= 2), waited for. */
static void refill(int n) {
  t_stage_set(&b.go, n);
  t_stage_wait(&b.done, n);
}

static uint64_t decommitted(void) {
  oh_stats_t st;
  cr_assert_eq(oh_slab_stats(g.h, &st), 0);
  return st.decommitted_bytes;
}

Test(purge_steal, pressure_ages_a_busy_owners_slabs_at_its_refill_without_stealing_it) {
  t_opt_save_t delay = t_opt_set(OH_OPT_PURGE_DELAY_MS, 60 * 1000);
  t_opt_save_t retain = t_opt_set(OH_OPT_RETAIN_BYTES, 0);
  g.h = oh_slab_new(NULL);
  cr_assert(g.h != NULL);
  ohi_test_purge_slab_hook = hook;
  pthread_t t;
  cr_assert_eq(pthread_create(&t, NULL, busy_owner, NULL), 0);
  t_stage_wait(&b.done, 1); /* 3/4 of its 16 KiB chunks free in its own slabs */
  uint64_t d0 = decommitted();
  __atomic_store_n(&g.armed, true, __ATOMIC_SEQ_CST);
  ohi_heaps_purge_all(ohi_os_now_ms(), false, false, NULL); /* a pass sees the free chunks... */
  refill(2); /* (the owner's own pass ages them) */
  ohi_heaps_purge_all(ohi_os_now_ms(), false, true, NULL); /* ...the heap grows: a pass under pressure */
  cr_expect_eq(g.calls, 0, "a pass under pressure stole the busy owner's cache (%d slabs)", g.calls);
  uint64_t d1 = decommitted();
  refill(3); /* its next refill ages its slabs with the pressure's rule */
  uint64_t d2 = decommitted();
  __atomic_store_n(&g.armed, false, __ATOMIC_SEQ_CST);
  uint64_t freed = (uint64_t)(PCOUNT - PCOUNT / 4) * PCHUNK;
  cr_expect(d1 - d0 < freed / 4, "the passes before the refill decommitted %llu KiB of the busy owner's",
            (unsigned long long)((d1 - d0) / KiB));
  cr_expect(d2 - d1 >= freed * 3 / 4, "the owner's refill after the pressure decommitted %llu KiB of %llu KiB free",
            (unsigned long long)((d2 - d1) / KiB), (unsigned long long)(freed / KiB));
  b.quit = true;
  t_stage_set(&b.go, 1 << 30);
  cr_assert_eq(pthread_join(t, NULL), 0);
  ohi_test_purge_slab_hook = NULL;
  cr_expect_eq(b.failures, 0, "%d failed allocations or releases in the owner", b.failures);
  cr_expect_eq(oh_slab_destroy(g.h), 0);
  t_opt_restore(retain);
  t_opt_restore(delay);
}

/* The pressure signals' rate limit (wake.c): one a quarter period (25 ms at
 * least). A pass under pressure decommits what an earlier pass saw free, so
 * the chunks freed just before a growth, which the first such pass only ages
 * when no pass saw them yet, go at the next signal: with one a period, the
 * growth mapped up to two periods' worth first (bench/frag's phase change in
 * C peaked at 1390-1769 MiB in 5 runs of 22, against 1288). */
Test(purge_steal, pressure_signals_are_admitted_a_quarter_period_apart) {
  uint64_t last = 0;
  const uint64_t t0 = 1000000, per = 250, q = per / 4;
  cr_expect(ohi_pressure_admit(&last, t0, per), "the first signal was refused");
  cr_expect_eq(last, t0, "the admitted signal was not recorded");
  cr_expect(!ohi_pressure_admit(&last, t0 + q - 1, per), "a signal was admitted within a quarter period");
  cr_expect_eq(last, t0, "a refused signal moved the clock");
  for (uint64_t k = 1; k <= 8; k++) /* a growth that goes on: one every quarter period */
    cr_expect(ohi_pressure_admit(&last, t0 + k * q, per), "signal %llu, a quarter period after the last, was refused",
              (unsigned long long)k);
  cr_expect(!ohi_pressure_admit(&last, t0 + 8 * q + q / 2, per), "a signal was admitted within a quarter period");
  cr_expect(ohi_pressure_admit(&last, t0 + 100 * per, per), "a signal after a quiet spell was refused");
  /* short periods (short delays): never closer than 25 ms */
  last = 0;
  cr_expect(ohi_pressure_admit(&last, t0, 25), "the first signal was refused");
  cr_expect(!ohi_pressure_admit(&last, t0 + 24, 25), "signals came closer than 25 ms");
  cr_expect(ohi_pressure_admit(&last, t0 + 25, 25), "a signal 25 ms on was refused");
}
