/* owner.c - owner handles: thread caches that a language binding holds per
 * worker rather than per thread. See heap.c for the overview and tcache.c for
 * what a cache that owns slabs does.
 *
 * The Go package's owners are Ps, not OS threads. Goroutines move between
 * threads, so routing their batches through the calling thread's cache
 * stranded freed chunks in slabs of threads that might never allocate again;
 * routing them through the central lists instead made two Ps take chunks from
 * one slab (the state words of 16 chunks share a cache line) under one class
 * lock per batch: two goroutines ran batches of live buffers 2.8-4.5x slower
 * than one (bench/RESULTS.md). An owner handle is the Go runtime's mcache
 * model: each P's owner adopts whole slabs and hands out only from them; a
 * chunk another P returns goes onto the owning slab's cross-owner stack (one
 * CAS, the path every cross-thread free takes), and a class lock is taken once
 * per slab adopted, never per batch.
 *
 * An owner is a struct ohi_tcache_s that no thread's TLS points at,
 * registered with its heap like any thread's cache, so the purger ages its
 * free pages, drains it once idle and hands its slabs back (a P that stops
 * allocating strands nothing), and fork and heap destruction handle it too.
 * The binding calls it after unpinning from its P, so two threads may reach
 * one owner at once (a goroutine that lost its P inside a call, and the next
 * goroutine on that P): an operation enters with a CAS of in_op from 0 to 1
 * instead of the thread cache's plain store, and a caller that finds the
 * owner busy, or stolen by the purger, takes the central path for that batch.
 * The CAS is a full barrier, so the steal handshake holds without the
 * stealer's process barrier (which stays, for the thread caches).
 */
#include "chunk.h"


static bool owner_enter(ohi_tcache_t *tc) {
  uint32_t idle = 0;
  if (!__atomic_compare_exchange_n(&tc->in_op, &idle, 1u, false, __ATOMIC_SEQ_CST, __ATOMIC_RELAXED)) return false;
  if (OHI_LIKELY(__atomic_load_n(&tc->steal, __ATOMIC_SEQ_CST) == 0)) return true;
  OHI_STORE_RELEASE(&tc->in_op, 0u);
  return false;
}

/* A binding's call through owner tc (entered): counted for the purger's idle
 * test, and stamped for other owners' refills (tcache.c: ohi_tcache_reclaim). */
static void note_call(ohi_tcache_t *tc) {
  OHI_OWNER_INC(&tc->calls, 1);
  OHI_STORE_RELAXED(&tc->last_call_ms, ohi_os_now_ms_coarse());
}

ohi_tcache_t *ohi_owner_new(oh_slab_t *h) { return ohi_tcache_new(h, true); }

void ohi_owner_delete(oh_slab_t *h, ohi_tcache_t *tc) {
  if (tc == NULL) return;
  bool emptied = false;
  ohi_lock(&ohi_registry_lock);
  /* Stealers (the purger, fork) hold the registry lock while they hold a
   * cache, so none holds this one now; heap_id is 0 once the heap is
   * destroyed, its slabs gone with it. */
  if (OHI_LOAD_RELAXED(&tc->heap_id) != 0) {
    emptied = ohi_tcache_abandon_all(h, tc);
    ohi_tcache_retire(h, tc);
    ohi_tcache_unlink(h, tc);
    OHI_STORE_RELAXED(&h->owner_handles, h->owner_handles - 1);
    OHI_STORE_RELAXED(&tc->heap_id, 0);
  } else {
    h = NULL;
  }
  ohi_unlock(&ohi_registry_lock);
  if (emptied) ohi_after_empty(h);
  ohi_meta_free(tc, tc->meta_size);
}

/* A batch of class cls from tc's own slabs (entered): chunks CACHED, which
 * the binding hands out without a call, counted as its own. */
static size_t owned_take(oh_slab_t *h, ohi_tcache_t *tc, int cls, void **out, size_t n) {
  size_t got = 0;
  bool zeroed;
  while (got < n) {
    void *p = ohi_tcache_refill_alloc(h, tc, (unsigned)cls, OHI_W_CACHED, &zeroed);
    if (p == NULL) break;
    OHI_ASAN_UNPOISON(p, h->classes[cls].chunk_size); /* the binding hands it out without a call */
    out[got++] = p;
  }
  OHI_OWNER_INC(&tc->cached[cls], (int64_t)got);
  return got;
}

size_t ohi_owner_take(oh_slab_t *h, ohi_tcache_t *tc, int cls, void **out, size_t n) {
  if (tc == NULL || ohi_opt(OH_OPT_DEBUG) != 0 || !owner_enter(tc)) return ohi_heap_take_cached(h, cls, out, n);
  size_t got = ohi_run_class(h, cls) ? ohi_runs_take_cached(h, tc, cls, out, n) : owned_take(h, tc, cls, out, n);
  note_call(tc);
  ohi_tcache_leave(tc);
  if (got < n) { /* the owner could not adopt a slab: the central lists say why */
    got += ohi_heap_take_cached(h, cls, out + got, n - got);
  }
  return got;
}

/* Chunks of class cls the binding held go back through tc (entered), with
 * the operations they served: its own slabs' to their free lists, others'
 * home. */
static void owned_return(oh_slab_t *h, ohi_tcache_t *tc, int cls, void *const *ptrs, size_t n, uint64_t allocs,
                         uint64_t frees) {
  ohi_bin_count(&tc->bins[cls], allocs, frees); /* served from the binding's cache */
  OHI_OWNER_INC(&tc->cached[cls], (int64_t)frees - (int64_t)allocs - (int64_t)n);
  for (size_t i = 0; i < n; i++) {
    ohi_slab_t *s = (ohi_slab_t *)ohi_region_lookup(ptrs[i]);
    uint32_t idx = ohi_fast_div(s->div_magic, (uint32_t)((uintptr_t)ptrs[i] - s->span.base));
    OHI_ASAN_POISON(ptrs[i], s->chunk_size);
    ohi_tcache_t *owner = OHI_LOAD_ACQUIRE(&s->owner);
    if (owner == tc) ohi_tcache_free_owned(h, tc, s, idx, false);
    else if (owner != NULL) ohi_slab_push_remote(h, s, idx, 0); /* another P's, or a C thread's */
    else ohi_central_release(h, s, idx, 0); /* a slab handed back meanwhile */
  }
}

void ohi_owner_return(oh_slab_t *h, ohi_tcache_t *tc, int cls, void *const *ptrs, size_t n, uint64_t allocs,
                      uint64_t frees) {
  if (tc == NULL || !owner_enter(tc)) {
    ohi_heap_return_cached(h, cls, ptrs, n, allocs, frees);
    return;
  }
  note_call(tc);
  if (ohi_run_class(h, cls)) ohi_runs_return_cached(h, tc, cls, ptrs, n, allocs, frees);
  else owned_return(h, tc, cls, ptrs, n, allocs, frees);
  ohi_tcache_leave(tc);
}

/* ---- runs of pages ---------------------------------------------------------------------- */

int ohi_owner_release(oh_slab_t *h, ohi_tcache_t *tc, void *p, int mode, const char *fn) {
  ohi_span_t *sp = NULL;
  uint32_t *w = NULL;
  if (ohi_chunk_find(h, p, fn, &sp, &w) != 0) return -1;
  if (tc == NULL || OHI_LOAD_RELAXED(&sp->kind) != OHI_SPAN_RUNS) return ohi_heap_release(h, p, mode, fn);
  uint32_t old = ohi_chunk_try_release(w, mode, p, fn);
  if (old == 0) return -1;
  if (old > 1) return 0;
  ohi_slab_t *s = (ohi_slab_t *)sp;
  uint32_t idx = (uint32_t)(w - ohi_slab_words(s));
  if (!owner_enter(tc)) { /* busy or stolen: as a thread without a cache */
    ohi_runs_free(h, s, idx);
    return 1;
  }
  bool done = ohi_runs_free_in(h, tc, s, idx);
  note_call(tc);
  ohi_tcache_leave(tc);
  if (!done) ohi_runs_send(h, s, idx);
  return 1;
}
