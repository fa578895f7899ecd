/* large.c - allocations bigger than a slab. See heap.c for the overview.
 *
 * Each is its own mapping of whole pages with one reference-count word (its
 * state word: the release's CAS claims it, so a double free is caught as for
 * chunks). A freed span is kept mapped for reuse until the purge delay passes
 * (a map + unmap pair costs ~10-15 us against ~20 ns for a reuse):
 *
 *   thread caches  the freeing thread's cache keeps it (tc->lfree, bounded by
 *                  OH_OPT_LARGE_CACHE_BYTES), and that thread's next large
 *                  allocation of a fitting size takes it back with plain
 *                  stores inside the cache's steal handshake: no lock, no
 *                  atomic read-modify-write. The purge policy ages these like
 *                  a thread's free slabs (purge.c: ohi_large_cache_purge, by
 *                  the owner at a refill or a large operation, or by the purger
 *                  through a steal), and an idle, exiting or deleted cache
 *                  hands them to the shared cache (ohi_large_cache_drain).
 *   shared cache   spans freed where there is no thread cache (debug mode,
 *                  heaps past the cache slots) or handed back: a short list
 *                  under the heap's large_lock, unmapped after the delay.
 *
 * The heap's list of every mapped span (live or cached) changes only with a
 * mapping or an unmapping, which cost a system call anyway: the leak report
 * and destroy walk it. Operation counts are kept like the classes' (stats.c):
 * owner-written per thread cache, atomics in the heap otherwise, so
 * in use = allocs - frees is exact without a shared counter on the hot path.
 */
#include "internal.h"

#define LARGE_MAX ((size_t)1 << 46)
/* The shared cache: bounded so a burst of huge frees cannot pin much memory
 * past the delay. */
#define LARGE_CACHE_COUNT 16
#define LARGE_CACHE_BYTES ((uint64_t)256 << 20)
/* A thread cache's list is searched first-fit: bounded so a miss stays cheap
 * next to the mapping it then pays. */
#define LARGE_TCACHE_COUNT 512

uint64_t ohi_large_lock_taken;

static void large_lock(oh_slab_t *h) {
  ohi_lock(&h->large_lock);
  OHI_FETCH_ADD(&ohi_large_lock_taken, 1);
}

/* The heap's list of mapped spans (large_lock held). */
static void mapped_unlink(oh_slab_t *h, ohi_large_t *l) {
  if (l->prev) l->prev->next = l->next;
  else OHI_STORE_RELAXED(&h->large, l->next);
  if (l->next) l->next->prev = l->prev;
  l->next = l->prev = NULL;
}

static void mapped_push(oh_slab_t *h, ohi_large_t *l) {
  l->prev = NULL;
  l->next = h->large;
  if (h->large) h->large->prev = l;
  OHI_STORE_RELAXED(&h->large, l);
}

/* Unmaps a span that is on no cache. */
void ohi_large_unmap(oh_slab_t *h, ohi_large_t *l) {
  large_lock(h);
  mapped_unlink(h, l);
  ohi_unlock(&h->large_lock);
  OHI_FETCH_SUB(&h->large_mapped, l->span.size);
  ohi_region_set(l->span.base, l->span.size, NULL);
  ohi_pages_unmap((void *)l->span.base, l->span.size);
  ohi_meta_free(l, sizeof *l);
}

/* Takes a span of size bytes (at most 25% waste) off a cache list. */
static ohi_large_t *cache_take(ohi_large_t **head, size_t size) {
  for (ohi_large_t **pp = head, *c; (c = *pp) != NULL; pp = &c->fnext) {
    if (c->span.size >= size && c->span.size - size <= size / 4) {
      OHI_STORE_RELAXED(pp, c->fnext);
      c->fnext = NULL;
      return c;
    }
  }
  return NULL;
}

/* Cuts a cache list after its first keep_count spans / keep_bytes bytes
 * (newest first: the oldest go), returning the cut tail. */
static ohi_large_t *cache_cut(ohi_large_t **head, uint64_t keep_count, uint64_t keep_bytes, uint64_t *count,
                              uint64_t *bytes) {
  uint64_t n = 0, b = 0;
  ohi_large_t **pp = head;
  for (ohi_large_t *c; (c = *pp) != NULL; pp = &c->fnext) {
    if (n + 1 > keep_count || b + c->span.size > keep_bytes) break;
    n++;
    b += c->span.size;
  }
  ohi_large_t *tail = *pp;
  OHI_STORE_RELAXED(pp, (ohi_large_t *)NULL);
  *count = n;
  *bytes = b;
  return tail;
}

static void unmap_chain(oh_slab_t *h, ohi_large_t *l, bool purged) {
  while (l != NULL) {
    ohi_large_t *next = l->fnext;
    if (purged) {
      OHI_FETCH_ADD(&ohi_counters.decommitted_total, l->span.size);
      OHI_FETCH_ADD(&ohi_counters.purges, 1);
      OHI_FETCH_ADD(&h->purge_count, 1);
      OHI_FETCH_ADD(&h->purged_bytes, l->span.size);
    }
    ohi_large_unmap(h, l);
    l = next;
  }
}

/* A span taken from a cache is handed out again. */
static void reuse(ohi_large_t *l, size_t n, bool zero) {
  OHI_ASAN_UNPOISON((void *)l->span.base, l->span.size);
  if (l->guarded) {
    ohi_os_protect((void *)l->span.base, l->span.size, 1);
    l->guarded = 0;
  }
  if (zero) memset((void *)l->span.base, 0, n);
}

static ohi_large_t *map_new(oh_slab_t *h, size_t n, size_t size, const char *fn) {
  size_t held;
  if (!ohi_memlimit_grow(size, &held)) return ohi_fail_null(ENOMEM, "%s: no memory for %zu bytes", fn, size);
  ohi_large_t *l = ohi_meta_alloc(sizeof *l);
  if (l == NULL) {
    ohi_memlimit_settle(held);
    return ohi_fail_null(ENOMEM, "%s: out of memory for metadata (size %zu)", fn, n);
  }
  void *p = ohi_pages_map(size, OHI_GRANULE);
  ohi_memlimit_settle(held); /* counted as committed now, or failed */
  if (p == NULL) {
    ohi_meta_free(l, sizeof *l);
    return ohi_fail_null(ENOMEM, "%s: the OS refused %zu bytes", fn, size);
  }
  ohi_span_publish(&l->span, (uintptr_t)p, size, OHI_SPAN_LARGE, h);
  if (ohi_region_set(l->span.base, size, &l->span) != 0) {
    ohi_pages_unmap(p, size);
    ohi_meta_free(l, sizeof *l);
    return ohi_fail_null(ENOMEM, "%s: out of memory for the region map", fn);
  }
  large_lock(h);
  mapped_push(h, l);
  ohi_unlock(&h->large_lock);
  OHI_FETCH_ADD(&h->large_mapped, size);
  return l;
}

/* The thread's cache for large operations on h, or NULL (debug mode: none). */
static ohi_tcache_t *large_tcache(oh_slab_t *h) {
  if (OHI_UNLIKELY(ohi_opt(OH_OPT_DEBUG) != 0)) return NULL;
  ohi_tcache_t *tc = ohi_tcache_get(h);
  /* A thread doing only large operations never refills a class: it ages its
   * cache's free spans (and slabs) itself when a pass has come. */
  if (tc != NULL && OHI_UNLIKELY(OHI_LOAD_RELAXED(&ohi_purge_tick) != OHI_LOAD_RELAXED(&tc->purged_tick)) &&
      ohi_tcache_enter(tc)) {
    ohi_tcache_purge_self(h, tc);
    ohi_tcache_leave(tc);
  }
  return tc;
}

OHI_NOINLINE void *ohi_large_alloc(oh_slab_t *h, size_t n, bool zero, const char *fn) {
  if (n > LARGE_MAX) return ohi_fail_null(EINVAL, "%s: size %zu is larger than the maximum (2^46)", fn, n);
  size_t size = ohi_round_pages(n);
  ohi_large_t *l = NULL;
  ohi_tcache_t *tc = large_tcache(h);
  if (tc != NULL && OHI_LOAD_RELAXED(&tc->lfree) != NULL && ohi_tcache_enter(tc)) {
    l = cache_take(&tc->lfree, size);
    if (l != NULL) {
      OHI_STORE_RELAXED(&tc->lfree_bytes, tc->lfree_bytes - l->span.size);
      OHI_STORE_RELAXED(&tc->lfree_count, tc->lfree_count - 1);
    }
    ohi_tcache_leave(tc);
  }
  if (l == NULL && OHI_LOAD_RELAXED(&h->large_free) != NULL) {
    large_lock(h);
    l = cache_take(&h->large_free, size);
    if (l != NULL) {
      h->large_free_count--;
      h->large_free_bytes -= l->span.size;
    }
    ohi_unlock(&h->large_lock);
  }
  if (l != NULL) reuse(l, n, zero);
  else if ((l = map_new(h, n, size, fn)) == NULL) return NULL;
  OHI_STORE_RELEASE(&l->refcount, 1u);
  if (tc != NULL) {
    OHI_OWNER_INC(&tc->lallocs, 1);
    OHI_OWNER_INC(&tc->lalloc_bytes, l->span.size);
  } else {
    OHI_FETCH_ADD(&h->large_allocs, 1);
    OHI_FETCH_ADD(&h->large_alloc_bytes, l->span.size);
  }
  return (void *)l->span.base;
}

/* Pushes free spans (a chain through fnext, oldest last) on the shared cache,
 * unmapping what exceeds its bounds. The caller makes sure the purger comes. */
static void shared_push(oh_slab_t *h, ohi_large_t *chain) {
  ohi_large_t *last = chain;
  while (last->fnext != NULL) last = last->fnext;
  large_lock(h);
  last->fnext = h->large_free;
  OHI_STORE_RELAXED(&h->large_free, chain);
  uint64_t kc, kb;
  ohi_large_t *evict = cache_cut(&h->large_free, LARGE_CACHE_COUNT, LARGE_CACHE_BYTES, &kc, &kb);
  h->large_free_count = kc;
  h->large_free_bytes = kb;
  ohi_unlock(&h->large_lock);
  unmap_chain(h, evict, false);
}

/* A large span whose count just reached zero (state CACHED): keep it for
 * reuse under the purge policy, or unmap it. */
void ohi_large_free(oh_slab_t *h, ohi_large_t *l) {
  int debug = (int)ohi_opt(OH_OPT_DEBUG);
  ohi_tcache_t *tc = large_tcache(h);
  if (tc != NULL) {
    OHI_OWNER_INC(&tc->lfrees, 1);
    OHI_OWNER_INC(&tc->lfree_bytes_total, l->span.size);
  } else {
    OHI_FETCH_ADD(&h->large_frees, 1);
    OHI_FETCH_ADD(&h->large_free_bytes_total, l->span.size);
  }
  if (ohi_purge_at_free() && debug == 0) {
    ohi_large_unmap(h, l);
    return;
  }
  l->freed_ms = ohi_os_now_ms_coarse(); /* a tick early at most: the delay is in ms */
  l->fnext = NULL;
  OHI_STORE_RELEASE(&l->refcount, 0u); /* free: a second free says so */
  OHI_ASAN_POISON((void *)l->span.base, l->span.size);
  if (OHI_UNLIKELY(debug >= 1)) /* a use after free faults at the guilty access */
    l->guarded = ohi_os_protect((void *)l->span.base, l->span.size, 0) == 0;
  uint64_t cap = (uint64_t)ohi_opt(OH_OPT_LARGE_CACHE_BYTES);
  if (tc != NULL && l->span.size <= cap && ohi_tcache_enter(tc)) {
    l->fnext = tc->lfree;
    OHI_STORE_RELAXED(&tc->lfree, l);
    uint64_t count = tc->lfree_count + 1, bytes = tc->lfree_bytes + l->span.size;
    ohi_large_t *evict = NULL;
    if (count > LARGE_TCACHE_COUNT || bytes > cap) evict = cache_cut(&tc->lfree, LARGE_TCACHE_COUNT, cap, &count, &bytes);
    OHI_STORE_RELAXED(&tc->lfree_count, count);
    OHI_STORE_RELAXED(&tc->lfree_bytes, bytes);
    bool notify = OHI_LOAD_RELAXED(&tc->holds) == 0 || OHI_LOAD_RELAXED(&tc->pending) == 0;
    if (OHI_LOAD_RELAXED(&tc->holds) == 0) OHI_STORE_RELAXED(&tc->holds, 1u); /* on the purger's watch */
    if (OHI_LOAD_RELAXED(&tc->pending) == 0) OHI_STORE_RELAXED(&tc->pending, 1u); /* spans to age */
    ohi_tcache_leave(tc);
    unmap_chain(h, evict, false);
    if (notify) ohi_purge_notify();
    return;
  }
  if (l->span.size > LARGE_CACHE_BYTES / 4) {
    ohi_large_unmap(h, l);
    return;
  }
  shared_push(h, l);
  ohi_purge_notify();
}

size_t ohi_large_cache_purge(oh_slab_t *h, ohi_tcache_t *tc, bool force, uint64_t *more) {
  if (OHI_LOAD_RELAXED(&tc->lfree) == NULL) return 0;
  if (ohi_purge_never() && !force) return 0;
  uint64_t now = ohi_os_now_ms();
  /* newest first: the list is cut at the first span due */
  ohi_large_t **pp = &tc->lfree;
  uint64_t count = 0, bytes = 0;
  for (ohi_large_t *c; (c = *pp) != NULL; pp = &c->fnext) {
    if (ohi_purge_due(c->freed_ms, now, force)) break;
    count++;
    bytes += c->span.size;
  }
  ohi_large_t *victims = *pp;
  OHI_STORE_RELAXED(pp, (ohi_large_t *)NULL);
  OHI_STORE_RELAXED(&tc->lfree_count, count);
  OHI_STORE_RELAXED(&tc->lfree_bytes, bytes);
  if (count != 0) {
    OHI_STORE_RELAXED(&tc->pending, 1u);
    if (more) *more = 1;
  }
  size_t freed = 0;
  for (ohi_large_t *c = victims; c != NULL; c = c->fnext) freed += c->span.size;
  unmap_chain(h, victims, true);
  return freed;
}

bool ohi_large_cache_drain(oh_slab_t *h, ohi_tcache_t *tc) {
  ohi_large_t *chain = tc->lfree;
  if (chain == NULL) return false;
  OHI_STORE_RELAXED(&tc->lfree, (ohi_large_t *)NULL);
  OHI_STORE_RELAXED(&tc->lfree_count, 0);
  OHI_STORE_RELAXED(&tc->lfree_bytes, 0);
  shared_push(h, chain);
  return true;
}

/* Unmaps the shared cache's free spans older than the delay (all when force). */
size_t ohi_large_purge(oh_slab_t *h, uint64_t now, bool force, uint64_t *next_deadline) {
  if (OHI_LOAD_RELAXED(&h->large_free) == NULL) return 0;
  ohi_large_t *victims = NULL;
  size_t bytes = 0;
  large_lock(h);
  for (ohi_large_t **pp = &h->large_free, *l; (l = *pp) != NULL;) {
    if (ohi_purge_due(l->freed_ms, now, force)) {
      OHI_STORE_RELAXED(pp, l->fnext); /* the head is peeked without the lock */
      h->large_free_count--;
      h->large_free_bytes -= l->span.size;
      l->fnext = victims;
      victims = l;
      bytes += l->span.size;
    } else {
      uint64_t due = ohi_purge_deadline(l->freed_ms);
      if (next_deadline && (*next_deadline == 0 || due < *next_deadline)) *next_deadline = due;
      pp = &l->fnext;
    }
  }
  ohi_unlock(&h->large_lock);
  unmap_chain(h, victims, true);
  return bytes;
}
