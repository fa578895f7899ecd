/* purge.c - the purge policy: when freed memory goes back to the OS. See heap.c
 * for the overview of the slab tier.
 *
 * One mechanism serves every heap (slab instances, pools, the process-wide
 * allocator, and through them BufferPool), whatever the order of frees:
 *
 *   free pages    Every whole page covered only by free chunks - in partly
 *                 used slabs too - is decommitted once those chunks have sat
 *                 free for the delay. A free chunk's age (internal.h, the AGE
 *                 bits of its word) counts the passes it sat through; passes
 *                 come every half delay while anything is dirty, and a chunk
 *                 qualifies at age 3: free for at least one delay and at most
 *                 one and a half. A chunk handed out meanwhile starts again
 *                 at 0, so steady churn never decommits. The slab's bitmap
 *                 records decommitted pages: none is decommitted twice, and a
 *                 chunk handed out over them is known to read as zero.
 *   empty slabs   A slab whose chunks are all free for the delay is released:
 *                 its segment (all decommitted by then) goes to the shared
 *                 segment cache, where any class of any heap takes it.
 *   idle caches   A thread cache with no operation for the delay (at least
 *                 100 ms) hands its slabs to the central lists, so a thread
 *                 that stops allocating strands nothing.
 *   large spans   Freed spans kept for reuse (by the freeing thread's cache,
 *                 or the heap's shared cache) are unmapped after the delay.
 *
 *   delay  0   empty slabs released by the free that emptied them, free
 *              pages at the next pass (50 ms)
 *   delay > 0  as above, by the purger thread
 *   delay -1   never by the policy; oh_purge still does
 * OFFHEAP_RETAIN_BYTES of empty slabs per heap stay committed regardless, so
 * a steady churn around a slab boundary never decommits. oh_purge, Scavenge
 * and the per-instance purges (force) release everything free at once and
 * unmap the cached segments.
 *
 * The purger is one C thread (wake.c), started on first need and sleeping on
 * a condition variable until the next deadline; the tiers wake it through
 * wake.c, never by calling here, and this file hooks its passes in there
 * (ohi_purge_init). A pass inspects a thread's slabs through the steal
 * handshake (struct ohi_tcache_s), central slabs under their class lock. It
 * never calls into Go. After fork() the child starts its own purger on first
 * need.
 */
#include "internal.h"

void (*ohi_test_purge_slab_hook)(oh_slab_t *h, uint64_t tick);

/* Purge passes come every quarter delay (at least 25 ms: ohi_purge_pass_period)
 * while anything waits, and a free chunk qualifies at age 5: free for at
 * least the delay and at most 1.25 delays (a delay of 0: at the next pass). */
static uint32_t age_needed(long long delay) { return delay == 0 ? 1 : OHI_PURGE_PASSES_PER_DELAY + 1; }

/* Pressure: a heap mapped fresh memory while free pages wait for their delay
 * (wake.c, ohi_purge_pressure). The next pass decommits free chunks an
 * earlier pass has seen too (age 2) in every slab - a busy owner's at its
 * next refill, by the owner (pressure_tick) - so a phase change (say
 * 16 KiB buffers freed, 48 KiB ones allocated) does not hold both working
 * sets resident. Steady churn maps nothing new and is never under pressure. */
/* atomic: ohi_purge_tick of the last pass run under pressure. A busy owner
 * is not stolen for pressure: its own pass at its next refill ages its slabs
 * as that pass would have (owner_pass). */
static uint64_t pressure_tick;

/* One pass over the heaps (the purger's, a forced purge, an owner's own):
 * what its parts share. */
typedef struct pass_s {
  uint64_t now;            /* the pass's clock */
  uint64_t tick;           /* its number (ohi_purge_tick) */
  bool force;              /* everything free goes back now, whatever its age */
  bool pressed;            /* under pressure: free for one earlier pass suffices */
  uint64_t *next_deadline; /* lowered to when something falls due (NULL: not asked) */
  uint64_t retained;       /* the margin kept so far in the current heap */
} pass_t;

/* A pass now, outside the purger's numbering (forced purges, the limit's, a
 * zero delay's release): it counts as the current tick. */
static pass_t pass_now(bool force) {
  return (pass_t){.now = ohi_os_now_ms(), .tick = OHI_LOAD_RELAXED(&ohi_purge_tick), .force = force};
}

static void due(uint64_t *next_deadline, uint64_t at) {
  if (next_deadline && (*next_deadline == 0 || at < *next_deadline)) *next_deadline = at;
}

/* ---- free pages of one slab ------------------------------------------------------ */

/* ps: the pass (pressed: under pressure, or an owner's pass standing in for
 * one, which decommits what an earlier pass saw free). *work grows by the
 * pages of a slab walked, and eight per page decommitted (an owner's pass
 * in slices counts them).
 *
 * The walk costs O(chunks), so it is skipped while it could decommit
 * nothing: no chunk was allocated or freed since the last walk (used and
 * puts as it left them) and the lowest age of a chunk not yet due, plus the
 * passes skipped since, is still short of the age needed. The passes a skip
 * owes are paid at the next walk to the chunks whose age is not 0: a chunk
 * handed out and freed again restarts at 0, so a non-zero age means free
 * since that walk. So are the passes that did not look at the slab at all
 * (walk_tick: an owner that refilled too rarely to pass at each, a quiet
 * cache the purger missed). */
static size_t slab_purge(oh_slab_t *h, ohi_slab_t *s, const pass_t *ps, uint64_t *more, size_t *work) {
  bool force = ps->force;
  uint64_t last = s->walk_tick;
  s->walk_tick = ps->tick;
  ohi_slab_collect(s);
  if (!force && OHI_LOAD_RELAXED(&s->dirty) == 0) return 0;
  long long delay = ohi_opt(OH_OPT_PURGE_DELAY_MS);
  uint32_t need = force ? 0 : age_needed(delay);
  if (ps->pressed && need > 2) need = 2; /* seen by an earlier pass too */
  uint32_t credit = s->pg_credit;
  if (!force && last != 0 && ps->tick > last + 1) /* passes it missed */
    credit += ps->tick - last - 1 < OHI_W_AGE_MAX ? (uint32_t)(ps->tick - last - 1) : OHI_W_AGE_MAX;
  /* pops since the last walk: used went up by each, and down by each put */
  bool popped = !s->pg_valid || (uint32_t)(s->used - s->pg_used) + (uint32_t)(s->puts - s->pg_puts) != 0;
  if (!force && s->pg_valid && s->pg_used == s->used && s->pg_puts == s->puts &&
      s->pg_min_age + credit + 1 < need) { /* this pass's step included */
    s->pg_credit = credit + 1;
    if (more) *more = 1; /* still dirty: passes must go on */
    return 0;
  }
  if (work) *work += s->span.size / ohi_os_page_size();
  s->pg_credit = 0;
  OHI_STORE_RELAXED(&s->dirty, 0u);
  bool dirty = false, failed = false;
  uint32_t min_age = OHI_W_AGE_MAX;
  size_t bytes = ohi_slab_walk(s, need, credit, popped, &dirty, &failed, &min_age);
  s->pg_valid = !failed; /* a refused decommit is retried at the next pass */
  s->pg_used = s->used;
  s->pg_puts = s->puts;
  s->pg_min_age = min_age;
  if (dirty || failed) {
    OHI_STORE_RELAXED(&s->dirty, 1u);
    if (more) *more = 1;
  }
  /* a page decommitted costs about what eight walked do (the call's share, the marks) */
  if (work) *work += 8 * (bytes / ohi_os_page_size());
  if (bytes) {
    OHI_FETCH_ADD(&h->purged_bytes, bytes);
    OHI_FETCH_ADD(&h->purge_count, 1);
    OHI_FETCH_ADD(&ohi_counters.purges, 1);
  }
  return bytes;
}

/* ---- a heap's central slabs and large spans ---------------------------------------- */

/* The retained margin's bound, per heap and pass: OFFHEAP_RETAIN_BYTES, but
 * none for a forced pass or a zero delay. */
static uint64_t retain_bound(const pass_t *ps) {
  return ohi_opt(OH_OPT_PURGE_DELAY_MS) > 0 && !ps->force ? (uint64_t)ohi_opt(OH_OPT_RETAIN_BYTES) : 0;
}

/* The retained margin: free bytes of a slab the pass keeps committed (within
 * retain_bound), so a live size swinging within it never decommits. */
static bool keep_in_margin(oh_slab_t *h, ohi_slab_t *s, pass_t *ps) {
  uint64_t retain = retain_bound(ps);
  uint64_t bytes = s->used == 0 ? h->slab_size : (uint64_t)ohi_slab_nfree(s) * s->chunk_size;
  if (bytes == 0 || ps->retained + bytes > retain) return false;
  ps->retained += bytes;
  return true;
}

static size_t heap_purge(oh_slab_t *h, pass_t *ps) {
  uint64_t now = ps->now;
  bool force = ps->force;
  long long delay = ohi_opt(OH_OPT_PURGE_DELAY_MS);
  if (delay < 0 && !force) return 0;
  uint64_t retain = retain_bound(ps);
  size_t bytes = ohi_large_purge(h, now, force, ps->next_deadline);
  uint64_t more = 0, kept_due = 0;
  for (unsigned i = 0; i < h->nclasses; i++) {
    ohi_class_t *c = &h->classes[i];
    if (OHI_LOAD_RELAXED(&c->partial) == NULL && OHI_LOAD_RELAXED(&c->full) == NULL &&
        OHI_LOAD_RELAXED(&c->empty) == NULL)
      continue;
    ohi_slab_t *victims = NULL;
    ohi_lock(&c->lock);
    /* Other threads' frees waiting on central slabs' stacks: collected. */
    uint32_t lists[2] = {OHI_LIST_PARTIAL, OHI_LIST_FULL};
    for (int l = 0; l < 2; l++) {
      for (ohi_slab_t *s = *ohi_central_list(c, lists[l]), *next; s != NULL; s = next) {
        next = s->next;
        ohi_slab_collect(s);
        ohi_central_place(h, c, s, &now);
        if (s->list != OHI_LIST_EMPTY && !keep_in_margin(h, s, ps))
          bytes += slab_purge(h, s, ps, &more, NULL);
      }
    }
    ohi_slab_t *s = c->empty;
    while (s != NULL && s->next != NULL) s = s->next; /* oldest at the tail */
    while (s != NULL) {
      ohi_slab_t *prev = s->prev;
      if (!force && OHI_LOAD_RELAXED(&h->empty_bytes) <= retain) break;
      /* Due once empty for the delay, or once every chunk has aged out (a
       * slab a thread cache handed back keeps the age its chunks had). */
      if (!force && now < s->empty_since_ms + (uint64_t)delay) {
        bytes += slab_purge(h, s, ps, &more, NULL);
        if (OHI_LOAD_RELAXED(&s->dirty) != 0) {
          due(ps->next_deadline, s->empty_since_ms + (uint64_t)delay);
          s = prev;
          continue;
        }
      }
      /* Due, and within the margin: kept. The margin counts the due slabs,
       * not only all the empty ones: a churn that empties many slabs
       * between its frees and its allocations (FIFO replacement, a pause
       * between the two) swamped it, and the one slab a round did not need
       * - a P's cache held its share - was decommitted once it had sat
       * empty for the delay, and faulted in again the next time it was
       * needed (BufferPool under steady churn: 1 MiB after the warm-up in
       * 3 of 8 runs, none with this; bench/RESULTS.md, session 18). */
      if (!force && kept_due + h->slab_size <= retain) {
        kept_due += h->slab_size;
        s = prev;
        continue;
      }
      ohi_central_unlink(h, c, s);
      s->next = victims;
      victims = s;
      s = prev;
    }
    ohi_unlock(&c->lock);
    while (victims != NULL) {
      ohi_slab_t *next = victims->next;
      size_t dec = ohi_slab_release(h, victims);
      bytes += dec;
      OHI_FETCH_ADD(&ohi_counters.purges, 1);
      OHI_FETCH_ADD(&h->purge_count, 1);
      OHI_FETCH_ADD(&h->purged_bytes, dec);
      victims = next;
    }
  }
  if (more && delay >= 0) due(ps->next_deadline, now + ohi_purge_pass_period(delay));
  return bytes;
}

/* ---- thread caches ------------------------------------------------------------------- */

static uint64_t tcache_ops(oh_slab_t *h, ohi_tcache_t *tc) {
  uint64_t ops = OHI_LOAD_RELAXED(&tc->calls) + OHI_LOAD_RELAXED(&tc->lallocs) + OHI_LOAD_RELAXED(&tc->lfrees);
  for (unsigned i = 0; i < h->nclasses; i++) ops += OHI_LOAD_RELAXED(&tc->bins[i].allocs) + OHI_LOAD_RELAXED(&tc->bins[i].frees);
  return ops;
}

/* The slabs of a cache in use: free pages decommitted, slabs empty for the
 * delay released (beyond the retained margin). stolen: a pass holds the
 * cache (else its owner purges it); unless forced, it gives the cache back
 * after the slab in hand as soon as the owner wants it (want: an owner
 * waiting out a YIELD steal, or one that bypassed a BYPASS steal), and the
 * rest waits (pending) for the next pass. A busy owner so loses its cache
 * for one slab's purge at most, not for the whole cache's (its frees
 * meanwhile go to the cross-thread stacks, its allocations to the central
 * lists).
 *
 * since: slabs a pass looked at from that tick on are passed over (the
 * owner's pass in slices, below, and a purger's pass after the owner's).
 * budget: pages of slabs walked after which an owner's pass stops (0: no
 * bound), leaving the rest to its next refill. *done: every slab was looked
 * at. */
static size_t purge_owned(oh_slab_t *h, ohi_tcache_t *tc, pass_t *ps, bool stolen, uint64_t since, size_t budget,
                          uint64_t *more, bool *done) {
  size_t bytes = ohi_large_cache_purge(h, tc, ps->force, more), work = 0; /* its free large spans */
  *done = false;
  if (h->run_class != OHI_NO_RUNS) ohi_tcache_flush_runs(h, tc); /* its kept runs: their pages age from now */
  for (unsigned cls = 0; cls < h->nclasses; cls++) {
    ohi_tbin_t *b = &tc->bins[cls];
    for (ohi_slab_t *s = b->owned, *next; s != NULL; s = next) {
      next = s->next;
      if (!ps->force && s->walk_tick >= since) continue; /* looked at in this pass */
      if (stolen && ohi_test_purge_slab_hook != NULL) ohi_test_purge_slab_hook(h, ps->tick);
      if ((stolen && !ps->force && OHI_LOAD_RELAXED(&tc->want) != 0) || (budget != 0 && work >= budget)) {
        OHI_STORE_RELAXED(&tc->pending, 1u);
        *more = 1;
        return bytes;
      }
      bool was_empty = s->used == 0;
      ohi_bin_nfree_add(b, ohi_slab_collect(s));
      if (s->used == 0 && !was_empty) ohi_bin_note_emptied(b, s);
      if (keep_in_margin(h, s, ps)) continue;
      bytes += slab_purge(h, s, ps, more, &work);
      if (OHI_LOAD_RELAXED(&s->dirty) != 0) OHI_STORE_RELAXED(&tc->pending, 1u);
      if (s->used != 0 || OHI_LOAD_RELAXED(&s->dirty) != 0 || OHI_LOAD_RELAXED(&s->xfree) != OHI_W_END) continue;
      /* Empty for the delay (every chunk aged): released. */
      ohi_bin_disown(b, s);
      ohi_slab_unown(s);
      s->list = OHI_LIST_NONE;
      bytes += ohi_slab_release(h, s);
      OHI_FETCH_ADD(&ohi_counters.purges, 1);
      OHI_FETCH_ADD(&h->purge_count, 1);
    }
  }
  *done = true;
  return bytes;
}

/* Looks at every thread cache of h (registry lock held): an idle one hands
 * its slabs to the central lists, a busy one gets its free pages purged. */
static size_t purge_caches(oh_slab_t *h, pass_t *ps) {
  uint64_t now = ps->now, tick = ps->tick;
  bool force = ps->force;
  long long delay = ohi_opt(OH_OPT_PURGE_DELAY_MS);
  if (delay < 0 && !force) return 0;
  uint64_t idle_ms = OHI_IDLE_MS(delay), more = 0;
  size_t bytes = 0;
  for (ohi_tcache_t *tc = h->tcaches; tc != NULL; tc = tc->next) {
    uint64_t ops = tcache_ops(h, tc);
    if (ops != tc->seen_ops) {
      tc->seen_ops = ops;
      tc->seen_ms = now;
      tc->seen_ops_tick = tick;
    }
    if (OHI_LOAD_RELAXED(&tc->holds) == 0) continue;
    bool idle = now >= tc->seen_ms + idle_ms;
    /* An idle cache whose slabs are still aging in place (quiet, below) is
     * drained once they are clean, or after a second idle period at most:
     * handed to the central lists midway, they would lose a pass. */
    if (idle && !force && OHI_LOAD_RELAXED(&tc->pending) && now < tc->seen_ms + 2 * idle_ms) idle = false;
    if (!idle) due(ps->next_deadline, tc->seen_ms + idle_ms);
    /* A busy cache is looked into only when something may wait for the
     * policy: a slab got free chunks since the last look, or was left dirty. */
    uint64_t dirty = OHI_LOAD_RELAXED(&ohi_dirty_epoch);
    if (!force && !idle && !OHI_LOAD_RELAXED(&tc->pending) && dirty == tc->seen_dirty) continue;
    /* A busy owner purges its own slabs on its next refill; a quiet one (no
     * operation since the last pass) is aged by the purger through a YIELD
     * steal, which it waits out if it wakes meanwhile, so a thread that frees
     * and then blocks has its pages back on the policy's clock. A busy cache
     * is stolen (BYPASS) only when its owner has not purged for two delays'
     * worth of passes (it stays on its fast path, say, in one class while
     * others hold free pages): while stolen so, its allocations go to the
     * central lists and its frees to the cross-thread stacks, so stealing a
     * busy cache is itself a cost, and one the owner pays for as long as the
     * purger holds it, descheduled or not. Not under pressure, then: the
     * owner's next refill ages its slabs with the pressure's rule. */
    uint64_t purged = OHI_LOAD_RELAXED(&tc->purged_tick);
    /* quiet: no operation since the last pass, a whole period ago */
    bool quiet = !force && !idle && tc->seen_ops_tick < tick && now >= tc->seen_ms + ohi_purge_pass_period(delay);
    if (!force && !idle && !quiet && tick < purged + 2 * OHI_PURGE_PASSES_PER_DELAY) {
      more = 1;
      continue;
    }
    tc->seen_dirty = dirty;
    OHI_STORE_RELAXED(&tc->pending, 0u);
    if (!(quiet ? ohi_tcache_steal_yielding(tc) : ohi_tcache_steal(tc))) continue; /* no process barrier */
    if (idle && !force) {
      if (ohi_tcache_abandon_all(h, tc)) more = 1;
    } else {
      /* (a quiet cache's slabs that missed the pass before are owed it:
       * slab_purge counts it from their walk_tick) */
      bool done;
      bytes += purge_owned(h, tc, ps, true, tick, 0, &more, &done);
      /* its owner need not purge again this pass; a pass it had begun is
       * over, the slabs this one did not reach counting the passes they
       * miss at their next walk */
      OHI_STORE_RELAXED(&tc->purged_tick, tick);
      OHI_STORE_RELAXED(&tc->pass_start, 0);
      if (OHI_LOAD_RELAXED(&tc->pending)) more = 1;
    }
    ohi_tcache_unsteal(tc);
  }
  if (more && delay >= 0) due(ps->next_deadline, now + ohi_purge_pass_period(delay));
  return bytes;
}

/* The owner purges its own slabs (wake.c: ohi_tcache_purge_self, at its
 * refills while a pass is new to it), with the pressure's rule when a pass
 * under pressure came since it last finished one - in slices of
 * OHI_OWNER_PASS_PAGES pages of slabs walked, one per refill, so that a pass
 * over a large cache is not one long stall of the owner (issue 18: a worker
 * holding 1 GiB of 64 B chunks, 90 % freed, stalled 20-50 ms four times a
 * second). A pass that takes several refills is one pass: slabs it looked
 * at are passed over until it is done, and each is aged by the passes since
 * it was last looked at (walk_tick), so none comes due early. A pass under
 * pressure (fresh memory mapped while free pages wait) is done whole: a
 * phase change must not hold both working sets resident while its slices
 * trickle (bench/frag's phase peaked at 1690 MiB once against 1288). */
static void owner_pass(oh_slab_t *h, ohi_tcache_t *tc) {
  uint64_t tick = OHI_LOAD_RELAXED(&ohi_purge_tick), last = OHI_LOAD_RELAXED(&tc->purged_tick);
  if (ohi_purge_never()) {
    OHI_STORE_RELAXED(&tc->purged_tick, tick);
    return;
  }
  uint64_t since = OHI_LOAD_RELAXED(&tc->pass_start);
  if (since == 0) OHI_STORE_RELAXED(&tc->pass_start, since = tick);
  pass_t ps = {.tick = tick, .pressed = OHI_LOAD_RELAXED(&pressure_tick) > last};
  uint64_t more = 0;
  bool done;
  /* under pressure memory comes first: the pass is done at once */
  purge_owned(h, tc, &ps, false, since, ps.pressed ? 0 : OHI_OWNER_PASS_PAGES, &more, &done);
  if (done) {
    OHI_STORE_RELAXED(&tc->purged_tick, tick);
    OHI_STORE_RELAXED(&tc->pass_start, 0);
  }
  if (OHI_LOAD_RELAXED(&tc->pending)) ohi_purge_notify(); /* chunks still aging: passes must go on */
}

size_t ohi_heaps_purge_all(uint64_t now, bool force, bool pressed, uint64_t *next_deadline) {
  size_t bytes = 0;
  pass_t ps = {now, OHI_FETCH_ADD(&ohi_purge_tick, 1) + 1, force, pressed, next_deadline, 0};
  if (pressed) OHI_STORE_RELAXED(&pressure_tick, ps.tick);
  ohi_lock(&ohi_registry_lock);
  for (oh_slab_t *h = ohi_heaps; h != NULL; h = h->next) {
    ps.retained = 0;
    bytes += purge_caches(h, &ps);
    bytes += heap_purge(h, &ps);
  }
  ohi_unlock(&ohi_registry_lock);
  ohi_segment_cache_trim(force ? 0 : (size_t)ohi_opt(OH_OPT_SEGMENT_CACHE_BYTES));
  return bytes;
}

/* Near or past the limit (wake.c: ohi_purge_for_limit, which asks for an
 * urgent pass after it). */
static size_t for_limit(void) {
  pass_t ps = pass_now(true);
  size_t bytes = 0;
  ohi_lock(&ohi_registry_lock);
  for (oh_slab_t *h = ohi_heaps; h != NULL; h = h->next) {
    uint64_t more = 0;
    ps.retained = 0;
    bytes += heap_purge(h, &ps);
    /* Large spans kept by thread caches (a freed 256 MiB buffer, say) are
     * whole mappings the refusal can get back at once; a cache whose owner
     * is inside an operation - the caller's own, maybe - is left to the
     * urgent pass below. */
    for (ohi_tcache_t *tc = h->tcaches; tc != NULL; tc = tc->next) {
      if (!ohi_tcache_try_steal(tc, 64)) continue;
      bytes += ohi_large_cache_purge(h, tc, true, &more);
      ohi_tcache_unsteal(tc);
    }
  }
  ohi_unlock(&ohi_registry_lock);
  return bytes;
}

size_t oh_slab_purge(oh_slab_t *s) {
  if (!ohi_heap_check(s, "oh_slab_purge")) return 0;
  pass_t ps = pass_now(true);
  ohi_lock(&ohi_registry_lock);
  size_t bytes = purge_caches(s, &ps);
  bytes += heap_purge(s, &ps);
  ohi_unlock(&ohi_registry_lock);
  return bytes;
}

size_t oh_purge(void) {
  ohi_options_init();
  return ohi_heaps_purge_all(ohi_os_now_ms(), true, false, NULL);
}

/* ---- the purger's pass, and the hooks ------------------------------------------------ */

/* One pass of the purger thread (wake.c runs it when woken or due): returns
 * its next deadline (0: none) and whether that comes within a pass period
 * (*soon: chunks are aging). */
static uint64_t purger_pass(bool notified, bool force, bool pressed, bool *soon) {
  long long delay = ohi_opt(OH_OPT_PURGE_DELAY_MS);
  uint64_t now = ohi_os_now_ms(), deadline = 0;
  if (delay >= 0) ohi_heaps_purge_all(now, force, pressed, &deadline);
  /* A pass that was asked for (rather than due) keeps the purger armed for
   * one more delay even when it found nothing to do: under churn, slabs
   * empty and refill continuously, and each of them must not cost a
   * wake-up; they are looked at together when that delay is up. */
  if (notified && delay >= 0 && deadline == 0) deadline = now + ohi_purge_pass_period(delay);
  *soon = deadline != 0 && delay >= 0 && deadline <= now + ohi_purge_pass_period(delay);
  return deadline;
}

/* A slab emptied with a delay of 0: released by the free that emptied it. */
static void heap_now(oh_slab_t *h) {
  pass_t ps = pass_now(false);
  heap_purge(h, &ps);
}

static const ohi_purger_t purge_hooks = {purger_pass, heap_now, owner_pass, for_limit};

static void on_option_change(oh_option_t opt) {
  if (opt == OH_OPT_PURGE_DELAY_MS || opt == OH_OPT_RETAIN_BYTES) ohi_purge_wake(); /* deadlines change */
  if (opt == OH_OPT_SEGMENT_CACHE_BYTES) ohi_segment_cache_trim((size_t)ohi_opt(OH_OPT_SEGMENT_CACHE_BYTES));
}

static pthread_once_t purge_once = PTHREAD_ONCE_INIT;

static void purge_init(void) {
  ohi_wake_hook(&purge_hooks);
  ohi_option_hook(on_option_change);
}

void ohi_purge_init(void) { pthread_once(&purge_once, purge_init); }
