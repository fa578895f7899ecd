/* release.c - allocation and release entry points: the fast paths through a
 * thread cache, the locked path behind them, the public oh_alloc / oh_free /
 * oh_slab_* calls, and the batch transfer for language-side caches. See heap.c
 * for the overview and chunk.h for the chunk protocol.
 */
#include "chunk.h"

static const char *owner_name(oh_slab_t *h) { return h->single ? "pool" : "slab"; }

/* Reports why find_chunk refused p (out of line: only misuse gets here). */
OHI_NOINLINE __attribute__((cold)) int ohi_chunk_find_fail(oh_slab_t *h, const void *p, const char *fn,
                                                              ohi_span_t *sp, uint32_t kind) {
  if (sp == NULL || kind == 0 || (uintptr_t)p < OHI_LOAD_RELAXED(&sp->base) ||
      (uintptr_t)p - OHI_LOAD_RELAXED(&sp->base) >= OHI_LOAD_RELAXED(&sp->size)) {
    if (p == NULL) return ohi_fail(EINVAL, "%s: NULL pointer", fn);
    return ohi_fail(EINVAL, "%s: pointer %p was not allocated by offheap (foreign memory, or memory already returned)",
                    fn, p);
  }
  if (kind == OHI_SPAN_MAP)
    return ohi_fail(EINVAL, "%s: pointer %p belongs to a mapping of oh_map; release it with oh_unmap", fn, p);
  if (kind == OHI_SPAN_ARENA)
    return ohi_fail(EXDEV, "%s: pointer %p belongs to an arena; arena memory is freed by oh_arena_reset", fn, p);
  oh_slab_t *owner = OHI_LOAD_RELAXED(&sp->owner);
  if (owner != h)
    return ohi_fail(EXDEV, "%s: pointer %p belongs to another %s instance", fn, p,
                    owner != NULL && owner->single ? "pool" : "slab");
  if (kind == OHI_SPAN_LARGE)
    return ohi_fail(EFAULT, "%s: pointer %p is inside the allocation at %p, not its start", fn, p,
                    (void *)OHI_LOAD_RELAXED(&sp->base));
  ohi_slab_t *s = (ohi_slab_t *)sp;
  uint32_t off = (uint32_t)((uintptr_t)p - OHI_LOAD_RELAXED(&sp->base));
  if (kind == OHI_SPAN_RUNS) { /* the page's word says whose run it is in, if any */
    uint32_t ps = OHI_LOAD_RELAXED(&s->chunk_size), pg = off / ps;
    uint32_t w = OHI_LOAD_RELAXED(&ohi_slab_words(s)[pg]);
    if (OHI_W_IS_TAIL(w)) pg -= OHI_W_TAIL_DIST(w);
    else if (OHI_W_IS_FREE(w))
      return ohi_fail(EFAULT, "%s: pointer %p is inside free pages of a %s, not an allocation", fn, p, owner_name(h));
    return ohi_fail(EFAULT, "%s: pointer %p is inside the allocation at %p, not its start", fn, p,
                    (void *)(OHI_LOAD_RELAXED(&sp->base) + (uintptr_t)pg * ps));
  }
  uint32_t chunk = OHI_LOAD_RELAXED(&s->chunk_size);
  uint32_t idx = chunk ? off / chunk : 0;
  if (idx >= OHI_LOAD_RELAXED(&s->nchunks))
    return ohi_fail(EFAULT, "%s: pointer %p lies in the unused tail of a %s slab", fn, p, owner_name(h));
  return ohi_fail(EFAULT, "%s: pointer %p is inside the chunk at %p (chunk size %u), not its start", fn, p,
                  (void *)(OHI_LOAD_RELAXED(&sp->base) + (uintptr_t)idx * chunk), chunk);
}


/* ---- allocation ------------------------------------------------------------------ */

/* The locked path: no thread cache (none for this heap, debug mode, or stolen
 * by the purger), or the cache could not get a slab. Reports the error. */
static OHI_NOINLINE void *alloc_central(oh_slab_t *h, unsigned cls, bool *zeroed, const char *fn) {
  void *p = NULL;
  if (ohi_central_take(h, cls, &p, 1, 1, zeroed) == 1) return p;
  ohi_class_t *c = &h->classes[cls];
  if (h->max_objects != 0 && OHI_LOAD_RELAXED(&c->allocs) - OHI_LOAD_RELAXED(&c->frees) >= h->max_objects)
    return ohi_fail_null(ENOMEM, "%s: the pool is at its maximum of %zu objects", fn, h->max_objects);
  return ohi_fail_null(ENOMEM, "%s: the OS refused a new slab of %zu bytes", fn, h->slab_size);
}

/* The owner pops a chunk of its current slab s from the local free list
 * (cache entered): plain loads and stores, the word from FREE|next to 1.
 * Returns its index, or OHI_W_END when the list is empty or its head needs
 * the slow path (guarded, poisoned or decommitted pages). */
OHI_INLINE uint32_t pop_current(ohi_tbin_t *b, ohi_slab_t *s) {
  uint32_t idx = s->free_head;
  if (OHI_UNLIKELY(idx == OHI_W_END)) return OHI_W_END;
  uint32_t *w = &ohi_slab_words(s)[idx];
  uint32_t fw = OHI_LOAD_RELAXED(w);
  if (OHI_UNLIKELY((fw & OHI_W_SLOW) != 0)) return OHI_W_END;
  s->free_head = fw & OHI_W_NEXT;
  s->used++; /* the current slab: its emptiness is not counted (nempty) */
  OHI_STORE_RELAXED(w, 1u);
  OHI_OWNER_INC(&b->allocs, 1); /* and one chunk fewer on the free lists (ohi_bin_nfree) */
  return idx;
}

/* Allocates a chunk of class cls; *zeroed tells whether it is known to read
 * as zero (fresh or decommitted pages). */
OHI_INLINE void *chunk_alloc(oh_slab_t *h, unsigned cls, bool *zeroed, const char *fn) {
  ohi_tcache_t *tc = OHI_LIKELY(ohi_opt(OH_OPT_DEBUG) == 0) ? ohi_tcache_get(h) : NULL; /* debug: no caches */
  if (OHI_LIKELY(tc != NULL) && OHI_LIKELY(ohi_tcache_enter(tc))) {
    ohi_tbin_t *b = &tc->bins[cls];
    ohi_slab_t *s = b->cur;
    uint32_t idx;
    if (OHI_LIKELY(s != NULL) && OHI_LIKELY((idx = pop_current(b, s)) != OHI_W_END)) {
      ohi_tcache_leave(tc);
      void *p = ohi_chunk_ptr(s, idx);
      OHI_ASAN_UNPOISON(p, s->chunk_size);
      *zeroed = false;
      return p;
    }
    void *p = ohi_tcache_refill_alloc(h, tc, cls, 1, zeroed);
    if (p != NULL) ohi_bin_count(&tc->bins[cls], 1, 0); /* the refill kept the free lists' count */
    ohi_tcache_leave(tc);
    if (p != NULL) return p;
  }
  return alloc_central(h, cls, zeroed, fn);
}

static void *too_large(oh_slab_t *h, size_t n, bool zero, const char *fn) {
  if (h->single)
    return ohi_fail_null(EINVAL, "%s: size %zu is larger than the pool's object size %u", fn, n,
                         h->classes[0].chunk_size);
  return ohi_large_alloc(h, n, zero, fn);
}

/* The fast paths' cache: the thread's, when it has one already and debug
 * mode is off (the slow paths make it; debug mode goes past the caches). */
OHI_INLINE ohi_tcache_t *tcache_peek(oh_slab_t *h) {
  return OHI_LIKELY(ohi_opt(OH_OPT_DEBUG) == 0) ? ohi_tcache_peek(h) : NULL;
}

/* A run for n bytes (n >= big_min) that needs no page map: one the thread
 * kept, or its current run slab's next listed run; NULL: none such. The
 * cache is left, except when the take emptied the list: then its slab is in
 * *refile and the cache in *tcp, still entered, for run_refile. */
OHI_INLINE void *run_kept(oh_slab_t *h, size_t n, ohi_tcache_t **tcp, ohi_slab_t **refile) {
  ohi_tcache_t *tc;
  if (OHI_UNLIKELY(n > h->run_max) || (tc = tcache_peek(h)) == NULL) return NULL;
  void *p = NULL;
  if (OHI_LIKELY(ohi_tcache_try_enter(tc))) {
    uint32_t k = ohi_run_pages_for(h, n);
    if ((p = ohi_runc_pop(h, tc, k)) == NULL) p = ohi_runq_take_cur(h, tc, k, refile);
  }
  if (OHI_UNLIKELY(*refile != NULL)) *tcp = tc;
  else ohi_tcache_leave(tc);
  return p;
}

/* run_kept's take emptied the quick list of tc's current run slab s: s is
 * refiled by its reach, then tc left; returns p (in ohi_heap_alloc a tail
 * call, so that it makes no call). */
static OHI_NOINLINE void *run_refile(ohi_tcache_t *tc, ohi_slab_t *s, void *p) {
  ohi_rbucket_update(ohi_owner_runs(tc), s);
  ohi_tcache_leave(tc);
  return p;
}

/* Sizes off the small fast path (n >= big_min) that run_kept did not serve:
 * runs of pages outside debug mode (runs.c), a size class above run_max (or
 * in debug mode), a large span above the classes. */
static OHI_NOINLINE void *alloc_big(oh_slab_t *h, size_t n, bool zero, const char *fn) {
  bool zeroed = false;
  void *p;
  if (ohi_run_size(h, n)) p = ohi_runs_alloc(h, n, &zeroed, fn);
  else if (n > h->max_chunk) return too_large(h, n, zero, fn);
  else p = chunk_alloc(h, ohi_class_of(h, n), &zeroed, fn);
  /* Never zero what the OS gave zeroed: fresh or decommitted pages. */
  if (zero && p != NULL && !zeroed) memset(p, 0, n);
  return p;
}

static OHI_NOINLINE void *alloc_slow(oh_slab_t *h, unsigned cls, const char *fn) {
  bool zeroed;
  return chunk_alloc(h, cls, &zeroed, fn);
}

/* The fast path of an allocation: the current slab's local free list (no
 * frame, no saved register), or for a run of pages run_kept, in a function
 * that calls nothing but in tail position; anything else - no cache yet, a
 * dry slab, a steal, debug mode - starts over in alloc_slow or alloc_big. */
void *ohi_heap_alloc(oh_slab_t *h, size_t n, const char *fn) {
  if (OHI_UNLIKELY(n >= h->big_min)) {
    ohi_tcache_t *tc;
    ohi_slab_t *refile = NULL;
    void *p = run_kept(h, n, &tc, &refile);
    if (OHI_UNLIKELY(refile != NULL)) return run_refile(tc, refile, p);
    if (OHI_LIKELY(p != NULL)) return p;
    return alloc_big(h, n, false, fn);
  }
  unsigned cls = ohi_class_of(h, n);
  ohi_tcache_t *tc = tcache_peek(h);
  if (OHI_LIKELY(tc != NULL)) {
    ohi_slab_t *s;
    uint32_t idx;
    if (OHI_LIKELY(ohi_tcache_try_enter(tc)) && OHI_LIKELY((s = tc->bins[cls].cur) != NULL) &&
        OHI_LIKELY((idx = pop_current(&tc->bins[cls], s)) != OHI_W_END)) {
      ohi_tcache_leave(tc);
      void *p = ohi_chunk_ptr(s, idx);
      OHI_ASAN_UNPOISON(p, s->chunk_size);
      return p;
    }
    ohi_tcache_leave(tc);
  }
  return alloc_slow(h, cls, fn);
}

void *ohi_heap_alloc_zeroed(oh_slab_t *h, size_t n, const char *fn) {
  if (OHI_UNLIKELY(n >= h->big_min)) {
    ohi_tcache_t *tc;
    ohi_slab_t *refile = NULL;
    void *p = run_kept(h, n, &tc, &refile);
    if (refile != NULL) p = run_refile(tc, refile, p);
    if (p != NULL) return memset(p, 0, n); /* a run used before */
    return alloc_big(h, n, true, fn);
  }
  bool zeroed = false;
  void *p = chunk_alloc(h, ohi_class_of(h, n), &zeroed, fn);
  /* Never zero what the OS gave zeroed: fresh or decommitted pages. */
  if (p != NULL && !zeroed) memset(p, 0, n);
  return p;
}

/* ---- release ------------------------------------------------------------------------ */

/* The owner frees a claimed chunk of its own slab s (cache entered): plain
 * stores, no lock. count: a user's free (statistics). */
OHI_INLINE void free_owned(oh_slab_t *h, ohi_tcache_t *tc, ohi_slab_t *s, uint32_t idx, bool count) {
  /* ohi_slab_push, inline */
  uint32_t cls = s->class_index, head = s->free_head;
  bool was_full = head == OHI_W_END && s->bump == s->nchunks;
  ohi_tbin_t *b = &tc->bins[cls];
  OHI_STORE_RELEASE(&ohi_slab_words(s)[idx], OHI_W_FREE | head);
  s->free_head = idx;
  ohi_slab_put_one(s);
  uint32_t used = s->used;
  if (OHI_UNLIKELY(OHI_LOAD_RELAXED(&s->dirty) == 0)) ohi_slab_mark_dirty(s);
  uint32_t got = 1;
  /* Frees other threads (or this one, while the purger held its cache)
   * left on the slab's stack come home with this one. */
  if (OHI_UNLIKELY(OHI_LOAD_RELAXED(&s->xfree) != OHI_W_END)) {
    got += ohi_slab_collect(s);
    used = s->used;
  }
  if (count) OHI_OWNER_INC(&b->frees, 1); /* and one chunk more on the free lists */
  if (got != (count ? 1u : 0u)) ohi_bin_nfree_add(b, (int64_t)got - (count ? 1 : 0));
  if (OHI_UNLIKELY(was_full) || (used == 0 && (b->cur != s || ohi_purge_at_free())))
    ohi_tcache_local_free_slow(h, tc, s, was_full);
}

void ohi_tcache_free_owned(oh_slab_t *h, ohi_tcache_t *tc, ohi_slab_t *s, uint32_t idx, bool count) {
  free_owned(h, tc, s, idx, count);
}

/* A claimed chunk goes back to its slab. count: a user's free (statistics). */
OHI_INLINE void chunk_put(oh_slab_t *h, ohi_slab_t *s, uint32_t idx, uint32_t flags, bool count) {
  ohi_tcache_t *tc = flags == 0 ? ohi_tcache_get(h) : NULL; /* debug: no caches */
  /* One window for both cases: a chunk of the cache's own slab is freed in
   * it, and a free into another owner's slab is counted in it - a bin's
   * counters, from which its free-chunk count is derived, change only inside
   * the window, where a stealer's reset (ohi_tcache_abandon_all) cannot
   * interleave. No cache, or a stolen one: the class counts. */
  if (OHI_LIKELY(tc != NULL) && OHI_LIKELY(ohi_tcache_enter(tc))) {
    if (OHI_LIKELY(OHI_LOAD_RELAXED(&s->owner) == tc)) {
      free_owned(h, tc, s, idx, count);
      ohi_tcache_leave(tc);
      return;
    }
    if (count) ohi_bin_count(&tc->bins[s->class_index], 0, 1);
    ohi_tcache_leave(tc);
  } else if (count) {
    OHI_FETCH_ADD(&h->classes[s->class_index].frees, 1);
  }
  if (OHI_LOAD_ACQUIRE(&s->owner) != NULL) ohi_slab_push_remote(h, s, idx, flags);
  else ohi_central_release(h, s, idx, flags);
}

void ohi_chunk_released(oh_slab_t *h, ohi_slab_t *s, uint32_t idx, uint32_t flags) { chunk_put(h, s, idx, flags, false); }

/* A claimed chunk or large span goes back (the release won its CAS). */
static OHI_NOINLINE int release_slow(oh_slab_t *h, ohi_span_t *sp, uint32_t *w, void *p) {
  if (OHI_UNLIKELY(sp->kind == OHI_SPAN_LARGE)) {
    if (OHI_UNLIKELY(ohi_opt(OH_OPT_DEBUG))) memset(p, 0xdf, sp->size);
    ohi_large_free(h, (ohi_large_t *)sp);
    return 1;
  }
  ohi_slab_t *s = (ohi_slab_t *)sp;
  if (sp->kind == OHI_SPAN_RUNS) {
    ohi_runs_free(h, s, (uint32_t)(w - ohi_slab_words(s)));
    return 1;
  }
  uint32_t flags = 0;
  if (OHI_UNLIKELY(ohi_opt(OH_OPT_DEBUG))) flags = ohi_chunk_debug_free(s, p);
  else OHI_ASAN_POISON(p, s->chunk_size);
  chunk_put(h, s, (uint32_t)(w - ohi_slab_words(s)), flags, true);
  return 1;
}

/* Whether p starts a chunk (a run slab's: a page) of s, the slab one of the
 * cache's release shortcuts names, while tc owns it (cache entered): its
 * index in *idx. That slab's descriptor is authoritative for its range while
 * this cache owns it, so the region map's loads leave the release's chain;
 * the range, owner, index and remainder checks are the map path's. */
OHI_INLINE bool shortcut_index(const ohi_tcache_t *tc, const ohi_slab_t *s, const void *p, uint32_t *idx) {
  uintptr_t off = (uintptr_t)p - OHI_LOAD_RELAXED(&s->span.base);
  return OHI_LIKELY(off < OHI_LOAD_RELAXED(&s->span.size)) && OHI_LIKELY(OHI_LOAD_RELAXED(&s->owner) == tc) &&
         OHI_LIKELY(ohi_chunk_index(s, (uint32_t)off, idx));
}

/* The owner's fast release of chunk w of its slab s (window entered, no
 * steal): free_owned without the cases it calls out for (a full slab, a
 * first free since the slab was clean, cross-thread frees to collect, an
 * empty slab that is not the current one or a zero delay), and only for a
 * word of 1 (a last reference; anything else - a count, a misuse - is left
 * to the caller, which reports). The slab's fields are read before the
 * claiming CAS - a full barrier on x86 - so their loads overlap the
 * classification's chain and only stores follow it; safe inside the window,
 * where only the owner (or a stealer, kept out) writes them. Calls nothing.
 * Returns true when the chunk is freed; false: nothing done. */
OHI_INLINE bool free_fast(ohi_tcache_t *tc, ohi_slab_t *s, uint32_t *w, void *p) {
  ohi_tbin_t *b = &tc->bins[s->class_index];
  uint32_t head = s->free_head, used = s->used - 1, one = 1;
  if (OHI_UNLIKELY(head == OHI_W_END && s->bump == s->nchunks) || OHI_UNLIKELY(OHI_LOAD_RELAXED(&s->dirty) == 0) ||
      OHI_UNLIKELY(OHI_LOAD_RELAXED(&s->xfree) != OHI_W_END) ||
      (OHI_UNLIKELY(used == 0) && (b->cur != s || ohi_purge_at_free())))
    return false;
  /* claimed and pushed in one step: 1 -> FREE|head (both free to a racing
   * release, so a double free still fails its CAS) */
  if (OHI_UNLIKELY(!OHI_CAS(w, &one, OHI_W_FREE | head))) return false;
  OHI_ASAN_POISON(p, s->chunk_size);
  s->free_head = (uint32_t)(w - ohi_slab_words(s));
  ohi_slab_put_one(s); /* used - 1, as computed above */
  OHI_OWNER_INC(&b->frees, 1); /* and one chunk more on the free lists (ohi_bin_nfree) */
  return true;
}

/* The owner's fast release of the run at page idx of its run slab s (window
 * entered, no steal): kept by the cache (ohi_runc_push) when it has room,
 * else on s's quick list when nothing more is due (ohi_runq_plain), for a
 * word of 1 only, as free_fast. Calls nothing. Returns true when the run is
 * freed; false: nothing done. */
OHI_INLINE bool run_keep_fast(oh_slab_t *h, ohi_tcache_t *tc, ohi_slab_t *s, uint32_t idx) {
  uint32_t *w = ohi_slab_words(s) + idx, one = 1;
  if (OHI_UNLIKELY(idx + 1 >= s->nchunks)) return false; /* the last page starts no run */
  uint32_t k = ohi_run_head_pages(w); /* a tail or free page's: refused below, or the CAS fails */
  bool keep = ohi_runc_room(h, tc, k);
  if ((!keep && !ohi_runq_plain(s, idx, k)) || OHI_UNLIKELY(!OHI_CAS(w, &one, OHI_W_CACHED))) return false;
  ohi_runs_count_free(h, tc, s, idx, k);
  if (keep) ohi_runc_push(h, tc, s, idx, k);
  else ohi_runq_add(tc, s, idx, k);
  return true;
}

/* The fast path of a release (frame free: it calls nothing): a chunk of the
 * slab of the owner's last release (tc->last_free, shortcut_index), freed by
 * free_fast, or a run of the run slab of its last release of a run
 * (tc->last_run), kept by run_keep_fast; the region map's two loads leave
 * the chain a release's latency is made of (pointer -> span -> state word ->
 * CAS). Returns true when p is freed; false: nothing done, release_full
 * decides. */
OHI_INLINE bool release_fast(oh_slab_t *h, void *p) {
  ohi_tcache_t *tc = tcache_peek(h);
  if (OHI_UNLIKELY(tc == NULL)) return false;
  ohi_slab_t *s;
  uint32_t idx;
  bool done = false;
  if (OHI_LIKELY(ohi_tcache_try_enter(tc))) {
    if (OHI_LIKELY((s = tc->last_free) != NULL) && OHI_LIKELY(shortcut_index(tc, s, p, &idx)))
      done = free_fast(tc, s, ohi_slab_words(s) + idx, p);
    else if ((s = tc->last_run) != NULL && shortcut_index(tc, s, p, &idx)) /* NULL without runs */
      done = run_keep_fast(h, tc, s, idx);
  }
  ohi_tcache_leave(tc);
  return done;
}

/* Every release is classified from the core's tables (the region map, or
 * one of release_fast's shortcuts) and claimed by one CAS (ohi_chunk_try_release,
 * or free_fast's, or a run's). Here, after release_fast declined: the region
 * map; a chunk of a slab the calling thread owns then goes through free_fast
 * (and its slab becomes the shortcut), a run of its own run slab is kept or
 * put back (and its slab becomes the run shortcut), and
 * anything else - a count above 1, a misuse, a slab of another owner or of
 * none, a large span - through the checked transition and release_slow. */
static OHI_NOINLINE int release_full(oh_slab_t *h, void *p, int mode, const char *fn) {
  ohi_span_t *sp = NULL;
  uint32_t *w = NULL;
  if (OHI_UNLIKELY(ohi_chunk_find(h, p, fn, &sp, &w) != 0)) return -1;
  ohi_slab_t *s = (ohi_slab_t *)sp;
  ohi_tcache_t *tc = tcache_peek(h);
  uint32_t kind = OHI_LOAD_RELAXED(&sp->kind);
  if (tc != NULL && kind == OHI_SPAN_SLAB && OHI_LOAD_RELAXED(&s->owner) == tc && ohi_tcache_enter(tc)) {
    bool done = OHI_LOAD_RELAXED(&s->owner) == tc && free_fast(tc, s, w, p);
    if (done) tc->last_free = s;
    ohi_tcache_leave(tc);
    if (done) return 1;
  } else if (tc != NULL && kind == OHI_SPAN_RUNS && OHI_LOAD_RELAXED(&s->owner) == tc && ohi_tcache_enter(tc)) {
    /* the run of a slab this thread owns: claimed and kept, or put back, in
     * one window (a count above 1, or a misuse, fails the CAS: below) */
    uint32_t one = 1, idx = (uint32_t)(w - ohi_slab_words(s));
    bool claimed = OHI_LOAD_RELAXED(&s->owner) == tc && OHI_CAS(w, &one, OHI_W_CACHED);
    bool home = claimed && ohi_runs_free_in(h, tc, s, idx); /* the owner's, inside its window: true */
    if (home) tc->last_run = s;
    ohi_tcache_leave(tc);
    if (claimed && !home) ohi_runs_send(h, s, idx);
    if (claimed) return 1;
  }
  uint32_t old = ohi_chunk_try_release(w, mode, p, fn);
  if (OHI_UNLIKELY(old == 0)) return -1;
  if (old > 1) return 0;
  return release_slow(h, sp, w, p);
}

int ohi_heap_release(oh_slab_t *h, void *p, int mode, const char *fn) {
  if (OHI_LIKELY(release_fast(h, p))) return 1;
  return release_full(h, p, mode, fn);
}

static OHI_NOINLINE int oh_free_full(oh_slab_t *h, void *p) {
  return release_full(h, p, OHI_RELEASE_FREE, "oh_free") < 0 ? -1 : 0;
}

/* ---- public API: the process-wide allocator ------------------------------------ */

void *oh_alloc(size_t n) {
  oh_slab_t *h = __atomic_load_n(&ohi_default_heap, __ATOMIC_ACQUIRE);
  if (OHI_UNLIKELY(h == NULL)) h = ohi_get_default();
  if (OHI_UNLIKELY(h == NULL)) return NULL; /* heap creation reported ENOMEM */
  return ohi_heap_alloc(h, n, "oh_alloc");
}

void *oh_calloc(size_t n) {
  oh_slab_t *h = ohi_get_default();
  if (OHI_UNLIKELY(h == NULL)) return NULL;
  return ohi_heap_alloc_zeroed(h, n, "oh_calloc");
}

int oh_free(void *p) {
  if (p == NULL) return 0;
  oh_slab_t *h = __atomic_load_n(&ohi_default_heap, __ATOMIC_ACQUIRE);
  if (h == NULL) /* nothing was ever allocated, so p cannot be ours */
    return ohi_fail(EINVAL, "oh_free: pointer %p was not allocated by offheap (nothing was allocated yet)", p);
  if (OHI_LIKELY(release_fast(h, p))) return 0;
  return oh_free_full(h, p);
}

size_t oh_usable_size(const void *p) {
  oh_slab_t *h = __atomic_load_n(&ohi_default_heap, __ATOMIC_ACQUIRE);
  if (h == NULL) {
    ohi_fail(EINVAL, "oh_usable_size: pointer %p was not allocated by offheap (nothing was allocated yet)", p);
    return 0;
  }
  return oh_slab_usable_size(h, p);
}

/* ---- public API: slab instances ------------------------------------------------ */

#define CHECK_HEAP(h, fn, ret)                   \
  do {                                           \
    if (OHI_UNLIKELY(!ohi_heap_check((h), fn))) \
      return ret;                                \
  } while (0)
/* CHECK_HEAP for a call about pointer p: the refusal names p too. */
#define CHECK_HEAP_PTR(h, fn, p, ret)                   \
  do {                                                  \
    if (OHI_UNLIKELY(!ohi_heap_check_ptr((h), fn, (p)))) \
      return ret;                                       \
  } while (0)

void *oh_slab_alloc(oh_slab_t *s, size_t n) {
  CHECK_HEAP(s, "oh_slab_alloc", NULL);
  return ohi_heap_alloc(s, n, "oh_slab_alloc");
}

int oh_slab_decref(oh_slab_t *s, void *p) {
  CHECK_HEAP_PTR(s, "oh_slab_decref", p, -1);
  return ohi_heap_release(s, p, OHI_RELEASE_DECREF, "oh_slab_decref");
}

int oh_slab_addref(oh_slab_t *s, void *p) {
  CHECK_HEAP_PTR(s, "oh_slab_addref", p, -1);
  ohi_span_t *sp = NULL;
  uint32_t *w = NULL;
  if (ohi_chunk_find(s, p, "oh_slab_addref", &sp, &w) != 0) return -1;
  return ohi_chunk_try_addref(w, p, "oh_slab_addref");
}

long oh_slab_refcount(oh_slab_t *s, const void *p) {
  CHECK_HEAP_PTR(s, "oh_slab_refcount", p, -1);
  ohi_span_t *sp = NULL;
  uint32_t *w = NULL;
  if (ohi_chunk_find(s, p, "oh_slab_refcount", &sp, &w) != 0) return -1;
  uint32_t v = OHI_LOAD_ACQUIRE(w);
  return OHI_W_IS_FREE(v) ? 0 : (long)v;
}

size_t oh_slab_usable_size(oh_slab_t *s, const void *p) {
  CHECK_HEAP_PTR(s, "oh_slab_usable_size", p, 0);
  ohi_span_t *sp = NULL;
  uint32_t *w = NULL;
  if (ohi_chunk_find(s, p, "oh_usable_size", &sp, &w) != 0) return 0;
  if (OHI_W_IS_FREE(OHI_LOAD_ACQUIRE(w))) {
    ohi_fail(EALREADY, "oh_usable_size: pointer %p is free", p);
    return 0;
  }
  if (sp->kind == OHI_SPAN_LARGE) return sp->size;
  ohi_slab_t *sl = (ohi_slab_t *)sp;
  if (sp->kind == OHI_SPAN_RUNS) return (size_t)ohi_run_pages(sl, (uint32_t)(w - ohi_slab_words(sl))) * sl->chunk_size;
  return sl->chunk_size;
}

int oh_slab_class_count(oh_slab_t *s) {
  CHECK_HEAP(s, "oh_slab_class_count", -1);
  return (int)ohi_public_classes(s);
}

size_t oh_slab_class_size(oh_slab_t *s, int i) {
  CHECK_HEAP(s, "oh_slab_class_size", 0);
  if (i < 0 || (unsigned)i >= ohi_public_classes(s)) {
    ohi_fail(EINVAL, "oh_slab_class_size: class %d is out of range (0 .. %u)", i, ohi_public_classes(s) - 1);
    return 0;
  }
  return s->classes[i].chunk_size;
}

/* ---- batches ----------------------------------------------------------------------- */

size_t oh_slab_alloc_batch(oh_slab_t *s, int cls, void **out, size_t n) {
  CHECK_HEAP(s, "oh_slab_alloc_batch", 0);
  if (cls < 0 || (unsigned)cls >= ohi_public_classes(s) || out == NULL) {
    ohi_fail(EINVAL, "oh_slab_alloc_batch: class %d is out of range (0 .. %u) or out is NULL", cls,
             ohi_public_classes(s) - 1);
    return 0;
  }
  size_t done = 0;
  bool zeroed;
  while (done < n) {
    void *p = chunk_alloc(s, (unsigned)cls, &zeroed, "oh_slab_alloc_batch");
    if (p == NULL) break;
    out[done++] = p;
  }
  return done;
}

int oh_slab_free_batch(oh_slab_t *s, void *const *ptrs, size_t n, size_t *bad) {
  CHECK_HEAP(s, "oh_slab_free_batch", -1);
  if (ptrs == NULL && n > 0) return ohi_fail(EINVAL, "oh_slab_free_batch: NULL array");
  for (size_t i = 0; i < n; i++) {
    if (ohi_heap_release(s, ptrs[i], OHI_RELEASE_FREE, "oh_slab_free_batch") < 0) {
      if (bad) *bad = i;
      return -1;
    }
  }
  return 0;
}

/* ---- batch transfer for language-side caches -------------------------------------
 * A binding that keeps its own cache (the Go package keeps one per P) moves
 * chunks in the CACHED state: it takes a batch, sets a chunk's word to 1 when
 * it hands the chunk out, claims a released chunk by a CAS of its word from 1
 * to CACHED after checking it through the region map (without a call), and
 * returns claimed chunks in batches. The chunks come from the calling thread's
 * cache like any allocation; a CACHED chunk counts as in use by its slab, and
 * the class's cached_out counts what the binding holds, so the statistics stay
 * exact: in use = allocs - frees + cached_out. A size class of the run range
 * moves runs of its chunk size's pages instead (runs.c). */

size_t ohi_heap_take_cached(oh_slab_t *h, int cls, void **out, size_t n) {
  if (ohi_run_class(h, cls)) return ohi_runs_take_cached(h, NULL, cls, out, n); /* runs of its pages */
  ohi_class_t *c = &h->classes[cls];
  /* From the central lists, not the calling thread's cache: a goroutine runs
   * on whichever OS thread, and chunks it frees must not land in slabs owned
   * by a thread that may never allocate again (the binding's per-P caches
   * give the locality). One class lock per batch. */
  size_t got = ohi_central_take(h, (unsigned)cls, out, n, OHI_W_CACHED, NULL);
  /* The binding hands them out without calling in again. */
  for (size_t i = 0; i < got; i++) OHI_ASAN_UNPOISON(out[i], c->chunk_size);
  OHI_FETCH_ADD(&c->cached_out, (int64_t)got);
  return got;
}

void ohi_heap_return_cached(oh_slab_t *h, int cls, void *const *ptrs, size_t n, uint64_t allocs, uint64_t frees) {
  if (ohi_run_class(h, cls)) {
    ohi_runs_return_cached(h, NULL, cls, ptrs, n, allocs, frees);
    return;
  }
  ohi_class_t *c = &h->classes[cls];
  if (allocs) OHI_FETCH_ADD(&c->allocs, allocs);
  if (frees) OHI_FETCH_ADD(&c->frees, frees);
  OHI_FETCH_ADD(&c->cached_out, (int64_t)frees - (int64_t)allocs - (int64_t)n);
  if (n == 0) return;
  uint64_t now = 0;
  bool emptied = false;
  ohi_lock(&c->lock); /* one lock for the batch */
  for (size_t i = 0; i < n; i++) {
    ohi_slab_t *s = (ohi_slab_t *)ohi_region_lookup(ptrs[i]);
    uint32_t idx = ohi_fast_div(s->div_magic, (uint32_t)((uintptr_t)ptrs[i] - s->span.base));
    OHI_ASAN_POISON(ptrs[i], s->chunk_size);
    if (OHI_LOAD_RELAXED(&s->owner) != NULL) { /* a thread cache's (a C caller's chunk freed from Go) */
      ohi_slab_push_remote(h, s, idx, 0);
      continue;
    }
    ohi_slab_push(s, idx, 0);
    ohi_central_place(h, c, s, &now);
    emptied |= s->list == OHI_LIST_EMPTY;
  }
  ohi_unlock(&c->lock);
  if (emptied) ohi_after_empty(h);
}
