/* test_purge_policy_reuse.c - what the purge policy (purge.c) keeps rather
 * than releases: steady churn issues no decommits after warm-up, the
 * retained margin (OFFHEAP_RETAIN_BYTES) absorbs an oscillating live size,
 * and slabs the delay released are reused by any size class. The release
 * side (bursts, idle thread caches, run-time changes of the delay) is in
 * test_purge_policy.c, whose opening comment says how the tests time. */
#include "test_purge_policy.h"

/* ---- steady churn: no decommits after warm-up ---------------------------------- */

/* A FIFO of live 16 KiB chunks of one instance. */
typedef struct ring_s {
  oh_slab_t *s;
  void **p;
  size_t n, head; /* p[head] is the oldest */
} ring_t;

static ring_t ring_fill(oh_slab_t *s, size_t live) {
  ring_t r = {s, NULL, live / (16 * KiB), 0};
  r.p = calloc(r.n, sizeof *r.p);
  for (size_t i = 0; i < r.n; i++) {
    r.p[i] = oh_slab_alloc(s, 16 * KiB);
    cr_assert(r.p[i] != NULL);
    t_touch(r.p[i], 16 * KiB);
  }
  return r;
}

/* Replaces the k oldest chunks: k frees, then k allocations (written). The
 * oldest chunks share slabs, so whole slabs empty and fill again each round. */
static void ring_round(ring_t *r, size_t k) {
  for (size_t i = 0; i < k; i++) cr_assert_eq(oh_slab_decref(r->s, r->p[(r->head + i) % r->n]), 1);
  for (size_t i = 0; i < k; i++) {
    void *q = oh_slab_alloc(r->s, 16 * KiB);
    cr_assert(q != NULL);
    t_touch(q, 16 * KiB);
    r->p[(r->head + i) % r->n] = q;
  }
  r->head = (r->head + k) % r->n;
}

static void ring_free(ring_t *r) {
  for (size_t i = 0; i < r->n; i++) cr_assert_eq(oh_slab_decref(r->s, r->p[i]), 1);
  free(r->p);
}

Test(purge_policy, steady_churn_issues_no_decommits_after_warm_up) {
  /* 250 ms rather than 100: a round empties slabs for a few ms only, but a
   * busy machine may preempt the test mid-round */
  const long long delay = 250;
  opts_t o = opts_begin(delay);
  oh_slab_t *s = oh_slab_new(NULL);
  cr_assert(s != NULL);
  size_t live = t_small() ? 8 * MiB : 64 * MiB;
  ring_t r = ring_fill(s, live);
  size_t k = r.n / 10; /* 10 % of the live chunks per round: several whole slabs */
  for (int i = 0; i < 20; i++) ring_round(&r, k); /* warm-up */
  oh_stats_t a = slab_stats(s);
  /* churn for 4 purge delays: every slab the FIFO empties is refilled at once */
  uint64_t t0 = now_ms();
  unsigned rounds = 0;
  while (now_ms() - t0 < 4 * (uint64_t)delay || rounds < 20) {
    ring_round(&r, k);
    rounds++;
  }
  sleep_ms((unsigned)(2 * delay)); /* let a late purger pass show up in the counters */
  oh_stats_t b = slab_stats(s);
  cr_log_info("steady churn: %u rounds of %zu x 16 KiB in %llu ms, purges %llu -> %llu", rounds, k,
              (unsigned long long)(now_ms() - t0), (unsigned long long)a.purges, (unsigned long long)b.purges);
  cr_expect_eq(b.purges, a.purges, "steady churn at constant live size: %llu decommits after warm-up (%u rounds)",
               (unsigned long long)(b.purges - a.purges), rounds);
  cr_expect(b.mapped_bytes <= a.mapped_bytes + 2 * MiB, "slabs held grew from %llu to %llu MiB under steady churn",
            (unsigned long long)(a.mapped_bytes / MiB), (unsigned long long)(b.mapped_bytes / MiB));
  ring_free(&r);
  oh_slab_destroy(s);
  opts_end(o);
}

/* Live size oscillating by `swing` bytes with pauses longer than the delay:
 * returns the purges counted after the first cycle. */
static uint64_t oscillate(oh_slab_t *s, size_t base, size_t swing, int cycles) {
  ring_t r = ring_fill(s, base);
  size_t n = swing / (16 * KiB);
  void **extra = calloc(n, sizeof *extra);
  uint64_t p0 = 0;
  for (int c = 0; c < cycles; c++) {
    for (size_t i = 0; i < n; i++) {
      extra[i] = oh_slab_alloc(s, 16 * KiB);
      cr_assert(extra[i] != NULL);
      t_touch(extra[i], 16 * KiB);
    }
    for (size_t i = 0; i < n; i++) cr_assert_eq(oh_slab_decref(s, extra[i]), 1);
    sleep_ms(2 * DELAY_MS + DELAY_MS / 2); /* the empty slabs outlive the delay */
    if (c == 0) p0 = slab_stats(s).purges;
  }
  uint64_t purges = slab_stats(s).purges - p0;
  free(extra);
  ring_free(&r);
  return purges;
}

Test(purge_policy, retained_margin_absorbs_an_oscillating_live_size) {
  opts_t o = opts_begin(DELAY_MS);
  t_opt_save_t retain = t_opt_set(OH_OPT_RETAIN_BYTES, 8 * MiB);
  oh_slab_t *s = oh_slab_new(NULL);
  cr_assert(s != NULL);
  /* swings of 4 MiB, within the 8 MiB margin: after the first cycle the
   * empty slabs wait in the margin and are refilled by the next swing */
  uint64_t kept = oscillate(s, 16 * MiB, 4 * MiB, 4);
  cr_expect_eq(kept, 0, "live size swinging by 4 MiB with an 8 MiB margin: %llu decommits after the first cycle",
               (unsigned long long)kept);
  oh_slab_destroy(s);
  /* the same swings with no margin are decommitted every cycle: the counter
   * above could have seen them */
  t_opt_restore(retain);
  retain = t_opt_set(OH_OPT_RETAIN_BYTES, 0);
  s = oh_slab_new(NULL);
  cr_assert(s != NULL);
  uint64_t thrash = oscillate(s, 16 * MiB, 4 * MiB, 4);
  cr_expect(thrash >= 3, "live size swinging by 4 MiB with no margin and pauses of 2.5 delays: only %llu decommits",
            (unsigned long long)thrash);
  cr_log_info("oscillating live size: %llu decommits with an 8 MiB margin, %llu with none", (unsigned long long)kept,
              (unsigned long long)thrash);
  oh_slab_destroy(s);
  t_opt_restore(retain);
  opts_end(o);
}

/* ---- decommitted slabs serve any class ------------------------------------------ */

Test(purge_policy, slabs_released_by_the_delay_are_reused_by_other_classes) {
  opts_t o = opts_begin(DELAY_MS);
  t_opt_save_t retain = t_opt_set(OH_OPT_RETAIN_BYTES, 0);
  size_t total = t_small() ? 8 * MiB : 64 * MiB;
  oh_slab_t *s = oh_slab_new(NULL), *other = oh_slab_new(NULL);
  cr_assert(s && other);
  burst_t b = burst_alloc(s, total, 16 * KiB);
  burst_free(&b);
  /* wait for the policy (no oh_purge): the instance holds no slab any more */
  uint64_t t0 = now_ms(), limit = bound_ms(DELAY_MS);
  oh_stats_t st = slab_stats(s);
  while (st.mapped_bytes > 2 * MiB && now_ms() - t0 <= limit) {
    sleep_ms(5);
    st = slab_stats(s);
  }
  cr_assert(st.mapped_bytes <= 2 * MiB, "the instance still holds %llu MiB of slabs %llu ms after the free",
            (unsigned long long)(st.mapped_bytes / MiB), (unsigned long long)(now_ms() - t0));
  cr_log_info("%zu MiB of 16 KiB chunks released by the policy after %llu ms", total / MiB,
              (unsigned long long)(now_ms() - t0));
  oh_stats_t g1 = global_stats();
  cr_expect(g1.slabs_decommitted * MiB + 2 * MiB >= total, "only %llu decommitted slabs cached after %zu MiB freed",
            (unsigned long long)g1.slabs_decommitted, total / MiB);
  /* another class of the same instance, then another instance: both draw
   * on the decommitted slabs instead of mapping new ones */
  size_t half = total / 2 - 2 * MiB;
  burst_t c1 = burst_alloc(s, half, 48 * KiB);
  burst_t c2 = burst_alloc(other, half, 3000);
  oh_stats_t g2 = global_stats();
  cr_expect(g2.mapped_bytes <= g1.mapped_bytes + 2 * MiB,
            "switching to other classes mapped %llu MiB more (slabs decommitted %llu -> %llu)",
            (unsigned long long)((g2.mapped_bytes - g1.mapped_bytes) / MiB), (unsigned long long)g1.slabs_decommitted,
            (unsigned long long)g2.slabs_decommitted);
  cr_expect(g2.slabs_decommitted + (2 * half) / MiB <= g1.slabs_decommitted + 2,
            "decommitted slabs cached %llu -> %llu after %zu MiB of other classes",
            (unsigned long long)g1.slabs_decommitted, (unsigned long long)g2.slabs_decommitted, 2 * half / MiB);
  burst_free(&c1);
  burst_free(&c2);
  oh_slab_destroy(s);
  oh_slab_destroy(other);
  t_opt_restore(retain);
  opts_end(o);
}

/* ---- random replacement: the slabs with room serve it ---------------------------- */

/* A thread replacing random live chunks of slabs it freed to 10 % at random
 * (frees land all over, allocations fill the current slab) makes no new
 * slab while its own have room (issue 18: full slabs that had been current
 * piled up at the front of the thread's list, a refill found 16 of them and
 * made a new slab - fresh memory, and a pressure pass - at 1 GiB of 64 B
 * chunks with 900 MiB free). */
Test(purge_policy, random_replacement_makes_no_new_slab_while_owned_ones_have_room, .timeout = 60) {
  opts_t o = opts_begin(-1); /* no purges: the slabs stay as the frees left them */
  oh_slab_t *s = oh_slab_new(&(oh_slab_config_t){.slab_size = 64 * KiB});
  cr_assert(s != NULL);
  size_t n = 256 * (64 * KiB / 64), ops = 2000000;
  void **p = calloc(n, sizeof *p);
  size_t *live = calloc(n, sizeof *live);
  cr_assert(p != NULL && live != NULL);
  for (size_t i = 0; i < n; i++) cr_assert((p[i] = oh_slab_alloc(s, 64)) != NULL);
  uint64_t rng = 31;
  size_t m = 0;
  for (size_t i = 0; i < n; i++) {
    if (t_rand(&rng) % 10 == 0) {
      live[m++] = i;
      continue;
    }
    cr_assert_eq(oh_slab_decref(s, p[i]), 1);
  }
  oh_stats_t a = slab_stats(s);
  for (size_t k = 0; k < ops; k++) {
    size_t i = live[t_rand(&rng) % m];
    cr_assert_eq(oh_slab_decref(s, p[i]), 1);
    cr_assert((p[i] = oh_slab_alloc(s, 64)) != NULL);
  }
  oh_stats_t b = slab_stats(s);
  cr_expect_eq(b.mapped_bytes, a.mapped_bytes,
               "%zu random replacements of %zu live 64 B chunks in %llu KiB of slabs made %llu KiB of new ones", ops, m,
               (unsigned long long)(a.mapped_bytes / KiB), (unsigned long long)((b.mapped_bytes - a.mapped_bytes) / KiB));
  for (size_t k = 0; k < m; k++) cr_assert_eq(oh_slab_decref(s, p[live[k]]), 1);
  free(live);
  free(p);
  oh_slab_destroy(s);
  opts_end(o);
}
