/* runs.c - the run tier: allocations of run_min .. run_max bytes (16 KiB to
 * a quarter slab in a heap of 1 MiB slabs) as runs of whole pages of the
 * heap's run slabs (runpage.c explains why, and how the pages are kept).
 * See heap.c for the overview of the slab tier.
 *
 * Ownership is the classes': a thread cache owns run slabs (its bin of the
 * run class) and takes runs from them and frees its own runs into them with
 * plain loads and stores; a run freed by another thread goes on its slab's
 * cross-thread stack (one CAS) and its pages come back when the owner
 * collects; slabs no cache owns sit on the run class's central lists, under
 * its lock. So two threads share no lock and no slab on their hot paths,
 * and the purge policy, thread exit, fork and destroy treat run slabs as the
 * slabs they are (they walk every class, the run class included).
 *
 * A free run is found best-fit: a run of as many pages on the current slab's
 * quick list (runpage.c), else the owned slab whose reach is the shortest
 * that fits (the owner files its run slabs by it: runpage.c, ohi_rbucket_*),
 * and in it a listed run of as many pages or the shortest free run that
 * fits, so long runs stay whole for long requests; then the runs the cache
 * keeps and lists, handed back to their slabs; then quiet owner handles'
 * slabs, the central lists (filed the same way),
 * a new slab. A phase that frees 16 KiB buffers and then allocates 48 KiB
 * ones so takes the freed pages - committed, no fault - before it maps a new
 * slab; a cache of mixed sizes keeps its holes filled rather than growing.
 *
 * The run class's counters count pages (allocs, frees, and the bins' free
 * counts derived from them), so its pages in use are allocs - frees like
 * any class's chunks; the operations are counted apart (rallocs and rfrees
 * in the thread caches, run_allocs and run_frees in the heap) for the
 * statistics' operation totals. Debug mode does not use runs (those sizes
 * go to their size classes, where freed chunks are poisoned and guarded);
 * runs allocated before it was turned on are still freed here.
 */
#include "internal.h"


/* A run of k pages from the owned slab s, which can serve it (reach k or
 * more; cache entered): off its quick list for k, else its best fit, with
 * its quick lists settled first if they alone hold the pages. Its first word
 * state, not counted. */
static void *runs_slab_take(ohi_tcache_t *tc, ohi_slab_t *s, uint32_t k, uint32_t state, bool *zeroed) {
  void *p;
  if (ohi_runq_has(s, k)) {
    p = ohi_runq_take(tc, s, k, state);
    *zeroed = false;
  } else {
    uint32_t len;
    if (s->maxrun < k) ohi_tcache_settle_runs(tc, s);
    uint32_t at = ohi_run_fit(s, k, &len);
    p = ohi_run_take(s, at, k, len, state, zeroed);
  }
  ohi_rbucket_update(ohi_owner_runs(tc), s);
  return p;
}

/* The sweep before a new slab: every owned run slab's waiting frees
 * collected and the slab refiled (a collect by the purger, say, can leave one
 * filed lower than its due). Returns whether one moved. */
static bool refile_all(oh_slab_t *h, ohi_tbin_t *b) {
  bool moved = false;
  for (ohi_slab_t *t = b->owned, *next; t != NULL; t = next) {
    next = t->next;
    if (!ohi_bin_collect(h, b, t)) continue; /* emptied and released */
    unsigned due = t->rbucket;
    ohi_rbucket_update(ohi_owner_runs(OHI_LOAD_RELAXED(&t->owner)), t);
    moved |= t->rbucket != due;
  }
  return moved;
}

/* The owned slab that can serve k pages and can serve the fewest beyond
 * (cache entered), made the current one, or NULL. */
static ohi_slab_t *runs_owned_fit(oh_slab_t *h, ohi_tcache_t *tc, uint32_t k) {
  ohi_tbin_t *b = &tc->bins[h->run_class];
  /* Other threads freed into run slabs since the last look: every owned
   * slab's stack is collected. */
  uint64_t epoch = __atomic_load_n(&h->classes[h->run_class].remote_epoch, __ATOMIC_ACQUIRE);
  if (epoch != b->seen_remote) {
    b->seen_remote = epoch;
    for (ohi_slab_t *t = b->owned, *next; t != NULL; t = next) {
      next = t->next;
      ohi_bin_collect(h, b, t);
    }
  }
  for (int sweep = 0;; sweep++) {
    for (ohi_slab_t *s; (s = ohi_rbucket_pick(ohi_owner_runs(tc), k)) != NULL;) {
      if (ohi_run_reach(s) >= k) {
        ohi_bin_set_cur(b, s);
        return s;
      }
      ohi_rbucket_update(ohi_owner_runs(tc), s); /* filed too high (never expected): refiled */
    }
    if (sweep == 1 || !refile_all(h, b)) return NULL;
  }
}

/* A binding's owner (a Go P) that needs a run none of its slabs can serve
 * hands the slabs that still have room back to the central lists before it
 * adopts one (cache entered, its kept runs flushed), when the heap has other
 * owner handles; the full ones stay, their frees come home here. Kept,
 * those holes served only this owner's smaller runs, and only while the
 * goroutine ran on its P; central, the next owner that needs a run their
 * size takes them, best fit first. The frag cache from Go held 1.15-1.17x
 * its live bytes with them owned, and 20 MiB more at its peak
 * (bench/RESULTS.md, session 16). An only owner keeps them, as a thread's
 * cache does: nobody else would take them, and the owner's own later
 * adoptions packed worse (one P: 6 MiB more at the peak; the same cache in
 * C, giving up a thread's slabs: 17 MiB). */
static void runs_owner_give_back(oh_slab_t *h, ohi_tcache_t *tc) {
  ohi_tbin_t *b = &tc->bins[h->run_class];
  uint64_t now = 0;
  for (ohi_slab_t *t = b->owned, *next; t != NULL; t = next) {
    next = t->next;
    if (ohi_run_reach(t) == 0) continue;
    ohi_bin_disown(b, t);
    ohi_central_abandon(h, t, &now);
  }
}

/* A run of k pages from the thread's own slabs, or an adopted or new one
 * (cache entered), its first word state (ohi_run_take), not counted. */
static void *runs_owner_find(oh_slab_t *h, ohi_tcache_t *tc, uint32_t k, uint32_t state, bool *zeroed) {
  ohi_tbin_t *b = &tc->bins[h->run_class];
  if (OHI_UNLIKELY(OHI_LOAD_RELAXED(&ohi_purge_tick) != OHI_LOAD_RELAXED(&tc->purged_tick)))
    ohi_tcache_purge_self(h, tc);
  ohi_slab_t *s = b->cur;
  if (s != NULL && ohi_runq_has(s, k)) return runs_slab_take(tc, s, k, state, zeroed); /* a batch's next run */
  if ((s = runs_owned_fit(h, tc, k)) != NULL) return runs_slab_take(tc, s, k, state, zeroed);
  if (OHI_LOAD_RELAXED(&tc->rc->runc_bytes) != 0 || tc->rc->quick_pages != 0) {
    ohi_tcache_flush_runs(h, tc); /* the runs it keeps serve any size first */
    if ((s = runs_owned_fit(h, tc, k)) != NULL) return runs_slab_take(tc, s, k, state, zeroed);
  }
  /* A goroutine that moved to another P frees its runs home to the old P's
   * slabs: an owner handle takes those of quiet owners before it maps, and
   * gives its own slabs with room back. */
  if (tc->explicit_owner) {
    ohi_tcache_reclaim(h, tc);
    if (OHI_LOAD_RELAXED(&h->owner_handles) > 1) runs_owner_give_back(h, tc);
  }
  uint32_t at, len;
  if ((s = ohi_central_adopt_run(h, k, tc, &at, &len)) == NULL) return NULL;
  ohi_tcache_adopted(tc, b, s);
  void *p = ohi_run_take(s, at, k, len, state, zeroed);
  ohi_rbucket_update(ohi_owner_runs(tc), s);
  return p;
}

void *ohi_runs_alloc_central(oh_slab_t *h, size_t n, bool *zeroed, const char *fn) {
  uint32_t k = ohi_run_pages_for(h, n);
  void *p = ohi_central_take_run(h, k, 1, zeroed);
  if (p == NULL) return ohi_fail_null(ENOMEM, "%s: the OS refused a new slab of %zu bytes", fn, h->slab_size);
  OHI_FETCH_ADD(&h->run_allocs, 1);
  return p;
}

void *ohi_runs_alloc(oh_slab_t *h, size_t n, bool *zeroed, const char *fn) {
  ohi_tcache_t *tc = ohi_tcache_get(h);
  if (OHI_LIKELY(tc != NULL) && OHI_LIKELY(ohi_tcache_enter(tc))) {
    uint32_t k = ohi_run_pages_for(h, n);
    void *p = runs_owner_find(h, tc, k, 1, zeroed);
    if (p != NULL) {
      OHI_OWNER_INC(&tc->bins[h->run_class].allocs, k); /* and k pages fewer on the free lists (ohi_bin_nfree) */
      OHI_OWNER_INC(&tc->rallocs, 1);
    }
    ohi_tcache_leave(tc);
    if (p != NULL) return p;
  }
  return ohi_runs_alloc_central(h, n, zeroed, fn);
}

/* A claimed run of the owner's own slab s goes on its quick list, or back to
 * its pages (cache entered; counted by the caller): to its pages where the
 * policy returns memory at each free (a zero delay), where it is too long
 * for a list, or where a neighbouring page is free (ohi_runq_listable). */
static void runs_owner_put(oh_slab_t *h, ohi_tcache_t *tc, ohi_slab_t *s, uint32_t idx) {
  ohi_tbin_t *b = &tc->bins[h->run_class];
  uint32_t k = ohi_run_pages(s, idx);
  if (ohi_runq_listable(s, idx, k)) {
    ohi_runq_add(tc, s, idx, k);
    if (OHI_UNLIKELY(OHI_LOAD_RELAXED(&s->dirty) == 0)) ohi_slab_mark_dirty(s); /* the purger settles and ages it */
    if (k > s->rbucket) ohi_rbucket_update(ohi_owner_runs(tc), s);
    if (s->used == 0 && b->cur != s) ohi_bin_note_emptied(b, s);
    return;
  }
  ohi_bin_collect(h, b, s); /* before the put: this run keeps s in use, so the collect releases nothing */
  ohi_run_put(s, idx);
  if (OHI_UNLIKELY(OHI_LOAD_RELAXED(&s->dirty) == 0)) ohi_slab_mark_dirty(s);
  ohi_rbucket_update(ohi_owner_runs(tc), s);
  /* Emptied: as a chunk slab's local free (a zero delay releases it), but
   * never the current one, which the next allocation would only make again. */
  if (s->used == 0 && b->cur != s) ohi_tcache_local_free_slow(h, tc, s, false);
}

/* The owner frees a claimed run of its own slab s (cache entered). */
static void runs_owner_free(oh_slab_t *h, ohi_tcache_t *tc, ohi_slab_t *s, uint32_t idx, uint32_t k) {
  ohi_runs_count_free(h, tc, s, idx, k);
  if (ohi_runc_room(h, tc, k)) ohi_runc_push(h, tc, s, idx, k); /* kept claimed for the next one */
  else runs_owner_put(h, tc, s, idx);
}

bool ohi_runs_free_in(oh_slab_t *h, ohi_tcache_t *tc, ohi_slab_t *s, uint32_t idx) {
  uint32_t k = ohi_run_pages(s, idx);
  if (OHI_LIKELY(OHI_LOAD_RELAXED(&s->owner) == tc)) {
    runs_owner_free(h, tc, s, idx, k);
    return true;
  }
  OHI_ASAN_POISON(ohi_chunk_ptr(s, idx), (size_t)k * s->chunk_size);
  ohi_bin_count(&tc->bins[h->run_class], 0, k);
  OHI_OWNER_INC(&tc->rfrees, 1);
  return false;
}

void ohi_runs_send(oh_slab_t *h, ohi_slab_t *s, uint32_t idx) {
  if (OHI_LOAD_ACQUIRE(&s->owner) != NULL) ohi_slab_push_remote(h, s, idx, 0);
  else ohi_central_release_run(h, s, idx);
}

void ohi_runs_free(oh_slab_t *h, ohi_slab_t *s, uint32_t idx) {
  ohi_tcache_t *tc = OHI_LIKELY(ohi_opt(OH_OPT_DEBUG) == 0) ? ohi_tcache_get(h) : NULL; /* debug: no caches */
  /* As chunk_put: the counters of a bin change only inside its window, and
   * a run of another owner goes home after the window closes. */
  if (OHI_LIKELY(tc != NULL) && OHI_LIKELY(ohi_tcache_enter(tc))) {
    bool done = ohi_runs_free_in(h, tc, s, idx);
    ohi_tcache_leave(tc);
    if (done) return;
  } else {
    uint32_t k = ohi_run_pages(s, idx);
    OHI_ASAN_POISON(ohi_chunk_ptr(s, idx), (size_t)k * s->chunk_size);
    OHI_FETCH_ADD(&h->classes[h->run_class].frees, k);
    OHI_FETCH_ADD(&h->run_frees, 1);
  }
  ohi_runs_send(h, s, idx);
}

/* ---- a binding's cache of runs --------------------------------------------------------
 * A binding's per-worker caches (the Go package's per-P magazines) hold runs
 * as they hold chunks (release.c, "batch transfer"): claimed, their first
 * page's word CACHED, counted in use by their slabs, the operations they
 * served reported when they go back. A size class of the run range stands for
 * runs of its chunk size's pages, so any request of the class takes any of
 * them; the run class's cached_out (an owner's cached) counts their pages. */

size_t ohi_runs_take_cached(oh_slab_t *h, ohi_tcache_t *tc, int cls, void **out, size_t n) {
  uint32_t k = ohi_run_pages_for(h, h->classes[cls].chunk_size);
  size_t got = 0;
  bool zeroed;
  if (tc != NULL) {
    ohi_tbin_t *b = &tc->bins[h->run_class];
    for (void *p; got < n && (p = runs_owner_find(h, tc, k, OHI_W_CACHED, &zeroed)) != NULL; got++) {
      ohi_bin_nfree_add(b, -(int64_t)k);
      out[got] = p;
    }
    OHI_OWNER_INC(&tc->cached[h->run_class], (int64_t)(got * k));
    return got;
  }
  if (ohi_opt(OH_OPT_DEBUG) != 0) return 0; /* debug mode makes no runs: the caller's uncached path */
  for (void *p; got < n && (p = ohi_central_take_run(h, k, OHI_W_CACHED, &zeroed)) != NULL; got++) out[got] = p;
  OHI_FETCH_ADD(&h->classes[h->run_class].cached_out, (int64_t)(got * k));
  return got;
}

void ohi_runs_return_cached(oh_slab_t *h, ohi_tcache_t *tc, int cls, void *const *ptrs, size_t n, uint64_t allocs,
                            uint64_t frees) {
  uint32_t k = ohi_run_pages_for(h, h->classes[cls].chunk_size);
  int64_t cached = ((int64_t)frees - (int64_t)allocs - (int64_t)n) * k;
  ohi_tbin_t *b = tc != NULL ? &tc->bins[h->run_class] : NULL;
  if (b != NULL) { /* served from the binding's cache: pages counted, none moved */
    ohi_bin_count(b, allocs * k, frees * k);
    OHI_OWNER_INC(&tc->rallocs, allocs);
    OHI_OWNER_INC(&tc->rfrees, frees);
    OHI_OWNER_INC(&tc->cached[h->run_class], cached);
  } else {
    ohi_class_t *c = &h->classes[h->run_class];
    if (allocs) OHI_FETCH_ADD(&c->allocs, allocs * k);
    if (frees) OHI_FETCH_ADD(&c->frees, frees * k);
    OHI_FETCH_ADD(&c->cached_out, cached);
    if (allocs) OHI_FETCH_ADD(&h->run_allocs, allocs);
    if (frees) OHI_FETCH_ADD(&h->run_frees, frees);
  }
  for (size_t i = 0; i < n; i++) {
    ohi_slab_t *s = (ohi_slab_t *)ohi_region_lookup(ptrs[i]);
    uint32_t idx = ohi_fast_div(s->div_magic, (uint32_t)((uintptr_t)ptrs[i] - s->span.base));
    uint32_t pages = ohi_run_pages(s, idx);
    OHI_ASAN_POISON(ptrs[i], (size_t)pages << h->page_shift);
    if (b != NULL && OHI_LOAD_RELAXED(&s->owner) == tc) {
      ohi_bin_nfree_add(b, pages);
      runs_owner_put(h, tc, s, idx);
    } else {
      ohi_runs_send(h, s, idx); /* another owner's (its stack), or a central slab's */
    }
  }
}
