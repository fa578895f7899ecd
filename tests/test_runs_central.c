/* test_runs_central.c - the run class's central slabs (c/src/central.c,
 * central_pick_run): slabs other threads (or a Go program's other Ps) hand
 * back are filed by their longest free run, so a thread that needs a run
 * takes the central slab that fits it, however many central slabs cannot,
 * before it maps a new one - the page reuse the run tier exists for, across
 * owners. */
#include "test_util.h"

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
