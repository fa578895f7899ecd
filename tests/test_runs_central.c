/* test_runs_central.c - the run class's central slabs (c/src/central.c,
 * central_pick_run): slabs other threads (or a Go program's other Ps) hand
 * back are filed by their longest free run, so a thread that needs a run
 * takes the central slab that fits it, however many central slabs cannot,
 * before it maps a new one - the page reuse the run tier exists for, across
 * owners. */
#include "test_util.h"

#include "internal.h" /* owner handles (ohi_owner_*), slab owners (tests are built with -Ic/src) */

enum { PER_SLAB = 64 }; /* runs of 16 KiB in a slab of 1 MiB */

/* The 48 KiB hole: a slab of 16 KiB runs, three neighbours freed. */
typedef struct {
  oh_slab_t *s;
  char *p[PER_SLAB];
} holed_t;

static void *one_hole_exit(void *arg) {
  holed_t *o = arg;
  for (int i = 0; i < PER_SLAB; i++)
    if ((o->p[i] = oh_slab_alloc(o->s, 16 * KiB)) == NULL) return (void *)1;
  for (int i = 1; i <= 3; i++) oh_slab_decref(o->s, o->p[i]);
  return NULL;
}

/* Slabs whose holes are 16 KiB only, made without touching that hole: each
 * is 12 pairs of a 64 KiB and a 16 KiB run and one 64 KiB run more (a new
 * slab starts with a 64 KiB request, which the 48 KiB hole cannot serve, and
 * a 16 KiB one fits the owner's own slab first); the 16 KiB runs are freed. */
enum { MANY = 40, PAIRS = 12 };
typedef struct {
  oh_slab_t *s;
  char *small[MANY * PAIRS];
} small_holes_t;

static void *small_holes_exit(void *arg) {
  small_holes_t *o = arg;
  for (int k = 0; k < MANY; k++) {
    for (int i = 0; i < PAIRS; i++) {
      if (oh_slab_alloc(o->s, 64 * KiB) == NULL) return (void *)1;
      if ((o->small[k * PAIRS + i] = oh_slab_alloc(o->s, 16 * KiB)) == NULL) return (void *)1;
    }
    if (oh_slab_alloc(o->s, 64 * KiB) == NULL) return (void *)1;
  }
  for (int i = 0; i < MANY * PAIRS; i++) oh_slab_decref(o->s, o->small[i]);
  return NULL;
}

static void run_thread(void *(*fn)(void *), void *arg) {
  pthread_t t;
  void *ret = NULL;
  cr_assert_eq(pthread_create(&t, NULL, fn, arg), 0);
  pthread_join(t, &ret);
  cr_assert_null(ret, "an owner thread's allocation failed");
}

/* One central slab has a hole of 48 KiB; forty handed back after it (so
 * ahead of it on the central lists) have holes of 16 KiB only. A 48 KiB run
 * lands in the one hole, no slab is mapped; then 16 KiB runs fill the
 * forty's holes, still without a mapping. */
Test(runs_central, a_central_slab_that_fits_is_found_past_those_that_do_not) {
  t_opt_save_t delay = t_opt_set(OH_OPT_PURGE_DELAY_MS, -1); /* nothing released behind the test's back */
  oh_slab_t *s = t_runs_heap();
  static holed_t a;
  static small_holes_t b;
  a.s = b.s = s;
  run_thread(one_hole_exit, &a); /* its slab reaches the central lists first */
  run_thread(small_holes_exit, &b);
  oh_stats_t st0 = t_stats_now(s);
  cr_assert_eq(st0.mapped_bytes, (uint64_t)(MANY + 1) * MiB, "the owners mapped %llu MiB, not %d",
               (unsigned long long)(st0.mapped_bytes / MiB), MANY + 1);
  cr_assert(b.small[0] < a.p[0] || b.small[0] > a.p[PER_SLAB - 1], "a 16 KiB run of the second owner took the hole");

  char *q = oh_slab_alloc(s, 48 * KiB);
  cr_assert(q != NULL);
  cr_expect_eq(q, a.p[1], "the 48 KiB run is at %p, not in the one central hole that fits it (%p)", (void *)q,
               (void *)a.p[1]);
  t_expect_no_mapping(s, st0, "a 48 KiB run, with a fitting central slab,");

  for (int i = 0; i < MANY * PAIRS; i++) cr_assert(oh_slab_alloc(s, 16 * KiB) != NULL);
  t_expect_no_mapping(s, st0, "16 KiB runs, with as many central holes free,");
  cr_assert_eq(oh_slab_destroy(s), 0);
  t_opt_restore(delay);
}

/* ---- an owner's slabs side by side ------------------------------------------------ */

enum { SIDE_SLABS = 8, SIDE_RUNS = 3 }; /* 256 KiB runs: four to a slab, one kept live */

/* A thread that made SIDE_SLABS run slabs side by side (its segments follow
 * each other: ohi_segment_take), kept the first run of each and exited: the
 * slabs wait on the central lists, three runs free each. */
typedef struct {
  oh_slab_t *s;
  char *keep[SIDE_SLABS];
} side_t;

static void *side_slabs_exit(void *arg) {
  side_t *o = arg;
  char *p[SIDE_SLABS * 4];
  for (int i = 0; i < SIDE_SLABS * 4; i++)
    if ((p[i] = oh_slab_alloc(o->s, 256 * KiB)) == NULL) return (void *)1;
  for (int i = 0; i < SIDE_SLABS * 4; i++) {
    if (i % 4 == 0) o->keep[i / 4] = p[i];
    else oh_slab_decref(o->s, p[i]);
  }
  return NULL;
}

/* A second owner, driven by the test: at stage 1 and 3 it takes SIDE_RUNS
 * runs (a central slab's free ones), reports at 2 and 4. */
typedef struct {
  oh_slab_t *s;
  t_stage_t go, done;
  char *p[2][SIDE_RUNS];
} other_t;

static void *other_owner(void *arg) {
  other_t *o = arg;
  for (int round = 0; round < 2; round++) {
    t_stage_wait(&o->go, 2 * round + 1);
    for (int i = 0; i < SIDE_RUNS; i++) o->p[round][i] = oh_slab_alloc(o->s, 256 * KiB);
    t_stage_set(&o->done, 2 * round + 2);
  }
  t_stage_wait(&o->go, 5);
  for (int round = 0; round < 2; round++)
    for (int i = 0; i < SIDE_RUNS; i++)
      if (o->p[round][i] != NULL) oh_slab_decref(o->s, o->p[round][i]);
  return NULL;
}

static uintptr_t slab_base(const void *p) { return (uintptr_t)p & ~(uintptr_t)(MiB - 1); }
static bool side_by_side(const void *a, const void *b) {
  uintptr_t x = slab_base(a), y = slab_base(b);
  return x + MiB == y || y + MiB == x;
}

/* Two owners that adopt in turn from central slabs lying side by side each
 * take one next to a slab they hold, never one next to the other's while
 * another is free: alternate adoption gave each every other slab, and two
 * threads whose slabs alternate ran batches of 256 KiB runs 20-30 % slower
 * (bench/RESULTS.md, session 14). */
Test(runs_central, an_owner_adopts_next_to_its_own_slabs) {
  t_opt_save_t delay = t_opt_set(OH_OPT_PURGE_DELAY_MS, -1);
  oh_slab_t *s = t_runs_heap();
  static side_t h;
  h.s = s;
  run_thread(side_slabs_exit, &h);
  for (int i = 1; i < SIDE_SLABS; i++)
    cr_assert_eq(slab_base(h.keep[i]), slab_base(h.keep[i - 1]) + MiB, "the first owner's slabs %d and %d are apart",
                 i - 1, i);
  oh_stats_t st0 = t_stats_now(s);
  static other_t x = {.go = T_STAGE_INIT, .done = T_STAGE_INIT};
  x.s = s;
  pthread_t t;
  cr_assert_eq(pthread_create(&t, NULL, other_owner, &x), 0);
  char *mine[2][SIDE_RUNS];
  for (int round = 0; round < 2; round++) {
    for (int i = 0; i < SIDE_RUNS; i++) cr_assert((mine[round][i] = oh_slab_alloc(s, 256 * KiB)) != NULL);
    t_stage_set(&x.go, 2 * round + 1);
    t_stage_wait(&x.done, 2 * round + 2);
    for (int i = 0; i < SIDE_RUNS; i++) cr_assert(x.p[round][i] != NULL, "the other owner's run %d", i);
  }
  for (int round = 0; round < 2; round++)
    for (int i = 1; i < SIDE_RUNS; i++) {
      cr_assert_eq(slab_base(mine[round][i]), slab_base(mine[round][0]), "this owner's runs of round %d span slabs", round);
      cr_assert_eq(slab_base(x.p[round][i]), slab_base(x.p[round][0]), "the other's runs of round %d span slabs", round);
    }
  t_expect_no_mapping(s, st0, "four adoptions from eight central slabs");
  cr_expect(!side_by_side(x.p[0][0], mine[0][0]), "the second owner's first slab (%p) is next to the first's (%p)",
            (void *)slab_base(x.p[0][0]), (void *)slab_base(mine[0][0]));
  cr_expect(side_by_side(mine[1][0], mine[0][0]), "this owner's second slab (%p) is not next to its first (%p)",
            (void *)slab_base(mine[1][0]), (void *)slab_base(mine[0][0]));
  cr_expect(side_by_side(x.p[1][0], x.p[0][0]), "the other owner's second slab (%p) is not next to its first (%p)",
            (void *)slab_base(x.p[1][0]), (void *)slab_base(x.p[0][0]));
  t_stage_set(&x.go, 5);
  cr_assert_eq(pthread_join(t, NULL), 0);
  for (int round = 0; round < 2; round++)
    for (int i = 0; i < SIDE_RUNS; i++) cr_assert_eq(oh_slab_decref(s, mine[round][i]), 1);
  for (int i = 0; i < SIDE_SLABS; i++) cr_assert_eq(oh_slab_decref(s, h.keep[i]), 1);
  cr_assert_eq(oh_slab_destroy(s), 0);
  t_opt_restore(delay);
}

/* ---- a binding's owner gives its slabs with room back ----------------------------- */

static int class_of(oh_slab_t *h, size_t size) {
  for (int c = 0; c < oh_slab_class_count(h); c++)
    if (oh_slab_class_size(h, c) == size) return c;
  cr_assert_fail("no class of %zu bytes", size);
  return -1;
}

static ohi_tcache_t *owner_of(const void *p) {
  return __atomic_load_n(&((ohi_slab_t *)ohi_region_lookup(p))->owner, __ATOMIC_ACQUIRE);
}

/* Owner handle o took a slab's worth of 16 KiB runs and gave every other
 * one of its first slab back (holes of 16 KiB, at base holey); then it
 * needs a run of 64 KiB, 16 pages in a row, which no slab of o has. */
typedef struct {
  oh_slab_t *h;
  ohi_tcache_t *o;
  int c16, c64;
  uintptr_t holey;
  void *held[PER_SLAB], *ret[PER_SLAB], *big;
  size_t nheld, nret;
} holey_t;

static void holes_then_a_bigger_run(holey_t *t) {
  t->c16 = class_of(t->h, 16 * KiB);
  t->c64 = class_of(t->h, 64 * KiB);
  void *a[PER_SLAB];
  cr_assert_eq(ohi_owner_take(t->h, t->o, t->c16, a, PER_SLAB), PER_SLAB);
  t->holey = slab_base(a[0]);
  for (int i = 0; i < PER_SLAB; i++) {
    if (slab_base(a[i]) == t->holey && i % 2 == 1) t->ret[t->nret++] = a[i];
    else t->held[t->nheld++] = a[i];
  }
  cr_assert_geq(t->nret, 16, "only %zu runs of the first slab", t->nret);
  ohi_owner_return(t->h, t->o, t->c16, t->ret, t->nret, 0, 0);
  cr_assert_eq(owner_of((void *)t->holey), t->o);
  cr_assert_eq(ohi_owner_take(t->h, t->o, t->c64, &t->big, 1), 1);
}

/* o's runs back, o deleted, nothing left in use, the heap destroyed. */
static void holes_free(holey_t *t) {
  ohi_owner_return(t->h, t->o, t->c64, &t->big, 1, 0, 0);
  ohi_owner_return(t->h, t->o, t->c16, t->held, t->nheld, 0, 0);
  ohi_owner_delete(t->h, t->o);
  cr_expect_eq(t_stats_now(t->h).in_use_bytes, 0);
  cr_assert_eq(oh_slab_destroy(t->h), 0);
}

/* An owner handle (a Go P) whose slabs cannot serve a run hands the ones
 * with room back to the central lists before it adopts another: their holes
 * then serve any owner (runs.c, runs_owner_give_back). Kept, the holes of
 * the P a goroutine left served nobody (bench/RESULTS.md, session 16). */
Test(runs_central, an_owner_handle_gives_its_slabs_with_room_back_before_it_adopts) {
  t_opt_save_t delay = t_opt_set(OH_OPT_PURGE_DELAY_MS, -1);
  static holey_t t;
  t.h = t_runs_heap();
  t.o = ohi_owner_new(t.h);
  ohi_tcache_t *o2 = ohi_owner_new(t.h);
  cr_assert(t.o != NULL && o2 != NULL);
  holes_then_a_bigger_run(&t);
  cr_expect_null(owner_of((void *)t.holey), "o kept its slab with %zu holes of 16 KiB when it needed a run of 64 KiB",
                 t.nret);
  cr_expect_eq(owner_of(t.big), t.o, "the 64 KiB run is not in a slab of o");
  /* the holes serve another owner: no new slab for as many runs */
  oh_stats_t st0 = t_stats_now(t.h);
  void *b[PER_SLAB];
  cr_assert_eq(ohi_owner_take(t.h, o2, t.c16, b, t.nret), t.nret);
  t_expect_no_mapping(t.h, st0, "runs of 16 KiB, with as many holes central,");
  size_t in_holes = 0;
  for (size_t i = 0; i < t.nret; i++) in_holes += slab_base(b[i]) == t.holey;
  cr_expect_eq(in_holes, t.nret, "%zu of %zu runs of o2 are in the holes o gave back", in_holes, t.nret);
  ohi_owner_return(t.h, o2, t.c16, b, t.nret, 0, 0);
  ohi_owner_delete(t.h, o2);
  holes_free(&t);
  t_opt_restore(delay);
}

/* So does an only owner handle (a Go program with one P): nobody else would
 * take them. */
Test(runs_central, an_only_owner_handle_keeps_its_slabs_with_room) {
  t_opt_save_t delay = t_opt_set(OH_OPT_PURGE_DELAY_MS, -1);
  static holey_t t;
  t.h = t_runs_heap();
  t.o = ohi_owner_new(t.h);
  cr_assert(t.o != NULL);
  holes_then_a_bigger_run(&t);
  cr_expect_eq(owner_of((void *)t.holey), t.o, "the only owner handle gave its slab with holes up for a run of 64 KiB");
  holes_free(&t);
  t_opt_restore(delay);
}

/* A thread's cache keeps them: it is its slabs' only user. */
Test(runs_central, a_threads_cache_keeps_its_slabs_with_room) {
  t_opt_save_t delay = t_opt_set(OH_OPT_PURGE_DELAY_MS, -1);
  oh_slab_t *h = t_runs_heap();
  char *a[PER_SLAB];
  for (int i = 0; i < PER_SLAB; i++) cr_assert((a[i] = oh_slab_alloc(h, 16 * KiB)) != NULL);
  uintptr_t holey = slab_base(a[0]);
  for (int i = 1; i < PER_SLAB; i += 2)
    if (slab_base(a[i]) == holey) {
      cr_assert_eq(oh_slab_decref(h, a[i]), 1);
      a[i] = NULL;
    }
  ohi_tcache_t *mine = owner_of(a[0]);
  cr_assert_not_null(mine);
  char *big = oh_slab_alloc(h, 64 * KiB);
  cr_assert(big != NULL);
  cr_expect_eq(owner_of(a[0]), mine, "the thread gave its slab with holes up for a run of 64 KiB");
  cr_assert_eq(oh_slab_decref(h, big), 1);
  for (int i = 0; i < PER_SLAB; i++)
    if (a[i] != NULL) cr_assert_eq(oh_slab_decref(h, a[i]), 1);
  cr_assert_eq(oh_slab_destroy(h), 0);
  t_opt_restore(delay);
}
