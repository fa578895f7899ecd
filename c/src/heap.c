/* heap.c - heaps: creation and the registry every tier reads (the list of
 * heaps, the thread-cache slots, the default heap, the checks of a handle).
 * Destroy, fork and the first heap's start-up call every tier, so they live
 * apart, at the bottom of the layers (lifecycle.c). This file also holds the
 * overview of the slab tier; each tier file points back here.
 *
 * THE SLAB TIER
 * A heap (oh_slab_t) is one allocator instance: oh_alloc uses the default one,
 * a pool is a heap with a single class, the Go package's BufferPool a pool.
 * Its memory comes in slabs: segments of slab_size bytes (aligned to their
 * size, registered in the region map) cut into chunks of one size class.
 *
 *   sizeclass.c  n -> class: one table read (grid snapped to 64 steps/octave)
 *   tcache.c     a thread's cache owns slabs and allocates from them without a
 *                lock; frees of its own chunks are plain stores
 *   owner.c      the same caches as handles a binding holds per worker (the
 *                Go package: one per P), not per thread
 *   central.c    slab free lists (local, and a lock-free cross-thread stack),
 *                the class's central lists under its lock, slab creation
 *   runpage.c    run slabs: pages handed out in runs (16 KiB .. a quarter slab)
 *   runs.c       the run tier: run slabs owned like any slab
 *   large.c      allocations bigger than a slab: their own mappings
 *   release.c    the entry points; chunk.h the chunk protocol
 *   purge.c      when free pages go back to the OS; the tiers wake its
 *                thread through wake.c
 *   stats.c      statistics and leak reports
 *   lifecycle.c  the first heap's start-up, destroy, fork
 *
 * The steps of an allocation of n bytes:
 *   1. n > the largest class: a large span of whole pages (large.c); n from
 *      16 KiB to a quarter slab, with OH_OPT_PAGE_RUNS: a run of pages of the
 *      heap's run slabs (runs.c), so freed pages serve every size (outside
 *      debug mode).
 *   2. class = grid[grid_index(n)].
 *   3. The thread's cache for (heap, class) pops its current slab's local free
 *      list: the state word goes from FREE|next to 1. No lock, no atomic RMW.
 *   4. Its current slab is dry: the cache collects the slab's cross-thread
 *      frees, or moves to another slab it owns, or adopts one from the
 *      class's central lists (a lock per slab, not per chunk), or a new slab
 *      from the shared segment cache or the OS.
 *   5. No cache (heaps past OHI_MAX_SLOTS, bounded pools, debug mode, or a
 *      cache the purger holds for a moment): the central lists, under the
 *      class lock.
 * And of a release (free, or the decref that reaches zero):
 *   1. The region map gives the span of the pointer without touching it:
 *      none = foreign, another owner = EXDEV, a large span = free whole pages.
 *   2. index = offset / chunk_size (a multiply); a remainder = interior pointer.
 *   3. A CAS on the state word: 1 -> CACHED claims the chunk (a free chunk =
 *      double free, so two racing frees of one pointer: one wins, one errs);
 *      a count above 1 is only decremented.
 *   4. Its slab's owner is the calling thread: onto the local free list, a
 *      plain store. Another thread owns it: onto the slab's cross-thread stack
 *      (one CAS). Nobody does: onto its local list under the class lock.
 *   5. Free pages: after the purge delay the purger decommits every whole page
 *      covered only by free chunks, in partly used slabs too, and hands slabs
 *      that stayed empty to the segment cache any class of any heap reuses.
 *
 * Thread exit, oh_thread_flush and an idle thread (one purge delay without an
 * operation) hand a cache's slabs back to the central lists, so memory never
 * stays stranded with a thread; an owner handle's slabs go back when the
 * binding deletes it or when it sits idle, like a thread's.
 *
 * The Go package keeps per-P magazines of chunks in the CACHED state in front
 * of this (go/offheap/cache.go); it refills and drains them in batches through
 * its P's owner handle (owner.c), so each P allocates only from slabs it owns
 * (the Go runtime's mcache model) and a chunk released on another P goes home
 * through its slab's cross-thread stack.
 */
#include "internal.h"

#define RUN_MIN ((size_t)16 << 10)
#define RUN_SLAB_PAGES_MIN 64
#define SLAB_SHIFT_MIN 16
#define SLAB_SHIFT_MAX 30

ohi_lock_t ohi_registry_lock = OHI_LOCK_INIT;
oh_slab_t *ohi_heaps;
oh_slab_t *ohi_slots[OHI_MAX_SLOTS];
oh_slab_t *ohi_default_heap;
static uint64_t next_heap_id = 1;
ohi_lock_t ohi_default_lock = OHI_LOCK_INIT;

static oh_slab_t *heap_alloc_struct(unsigned nclasses) {
  size_t size = sizeof(oh_slab_t) + nclasses * sizeof(ohi_class_t);
  oh_slab_t *h = ohi_meta_alloc(size);
  if (h == NULL) return NULL;
  h->meta_size = size;
  h->nclasses = nclasses;
  ohi_lock_init(&h->large_lock);
  h->page_shift = (uint32_t)__builtin_ctzll((unsigned long long)ohi_os_page_size());
  h->run_class = OHI_NO_RUNS; /* no runs unless heap_new makes the run class */
  h->run_min = SIZE_MAX;
  return h;
}

static void heap_register(oh_slab_t *h, bool want_slot) {
  ohi_lifecycle_init();
  ohi_lock(&ohi_registry_lock);
  h->id = next_heap_id++;
  h->slot = OHI_NO_SLOT;
  if (want_slot && ohi_opt(OH_OPT_TCACHE_BYTES) > 0) {
    for (int i = 0; i < OHI_MAX_SLOTS; i++) {
      if (ohi_slots[i] == NULL) {
        ohi_slots[i] = h;
        h->slot = i;
        break;
      }
    }
  }
  h->next = ohi_heaps;
  if (ohi_heaps) ohi_heaps->prev = h;
  ohi_heaps = h;
  OHI_STORE_RELEASE(&h->magic, OHI_HEAP_LIVE);
  ohi_unlock(&ohi_registry_lock);
}

static oh_slab_t *heap_new(const oh_slab_config_t *cfg, const char *fn) {
  ohi_options_init();
  oh_slab_config_t c = {16, (size_t)1 << 20, 1.25};
  if (cfg != NULL) {
    if (cfg->min_chunk) c.min_chunk = cfg->min_chunk;
    if (cfg->slab_size) c.slab_size = cfg->slab_size;
    if (cfg->growth != 0) c.growth = cfg->growth;
  }
  if (c.slab_size < ((size_t)1 << SLAB_SHIFT_MIN) || c.slab_size > ((size_t)1 << SLAB_SHIFT_MAX) ||
      (c.slab_size & (c.slab_size - 1)) != 0)
    return ohi_fail_null(EINVAL, "%s: slab size %zu must be a power of two from 64 KiB to 1 GiB", fn, c.slab_size);
  if (!(c.growth > 1.0) || c.growth > 1024.0)
    return ohi_fail_null(EINVAL, "%s: growth factor %g must be greater than 1 (and at most 1024)", fn, c.growth);
  if (c.min_chunk > c.slab_size)
    return ohi_fail_null(EINVAL, "%s: smallest chunk %zu is larger than the slab size %zu", fn, c.min_chunk, c.slab_size);
  uint32_t sizes[OH_MAX_CLASSES];
  unsigned n = ohi_classes_build(&c, sizes, fn);
  if (n == 0) return NULL;
  /* Runs of pages serve RUN_MIN (two pages at least) to a quarter slab, in
   * slabs of RUN_SLAB_PAGES_MIN .. OHI_RUN_MAX_PAGES pages (runs.c). */
  size_t ps = ohi_os_page_size(), npages = c.slab_size / ps;
  size_t run_min = RUN_MIN > 2 * ps ? RUN_MIN : 2 * ps;
  size_t run_max = c.slab_size / 4 < sizes[n - 1] ? c.slab_size / 4 : sizes[n - 1];
  /* An instance whose smallest class is run_min or more serves one size or
   * a few (go/offheap's BufferPool and Pool are such): it keeps its classes,
   * which fit its size exactly and which a binding's caches hold. */
  bool runs = ohi_opt(OH_OPT_PAGE_RUNS) != 0 && npages >= RUN_SLAB_PAGES_MIN && npages <= OHI_RUN_MAX_PAGES &&
              run_min <= run_max && sizes[0] < run_min;
  oh_slab_t *h = heap_alloc_struct(n + runs);
  if (h == NULL) return ohi_fail_null(ENOMEM, "%s: out of memory for the heap's metadata", fn);
  h->slab_size = c.slab_size;
  h->slab_shift = (unsigned)__builtin_ctzll((unsigned long long)c.slab_size);
  for (unsigned i = 0; i < n; i++) ohi_class_init(&h->classes[i], sizes[i], c.slab_size);
  h->max_chunk = sizes[n - 1];
  h->big_min = h->max_chunk + 1;
  if (runs) {
    ohi_class_init(&h->classes[n], ps, c.slab_size);
    h->run_class = n;
    h->run_min = h->big_min = run_min;
    h->run_max = run_max;
  }
  unsigned gmax = ohi_grid_index(c.slab_size);
  for (unsigned g = 0, k = 0; g <= gmax; g++) {
    while (sizes[k] < ohi_grid_value(g)) k++;
    h->grid[g] = (uint8_t)k;
  }
  heap_register(h, true);
  return h;
}

oh_slab_t *ohi_heap_new_single(size_t object_size, size_t slab_size, size_t max_objects) {
  ohi_options_init();
  oh_slab_t *h = heap_alloc_struct(1);
  if (h == NULL) return NULL;
  size_t chunk = (object_size + 15) & ~(size_t)15;
  h->single = true;
  h->max_objects = max_objects;
  h->slab_size = slab_size;
  h->slab_shift = (unsigned)__builtin_ctzll((unsigned long long)slab_size);
  ohi_class_init(&h->classes[0], chunk, slab_size);
  h->max_chunk = chunk; /* the grid stays zero: every size up to it is class 0 */
  h->big_min = chunk + 1; /* a pool has one size: no runs */
  /* A bounded pool counts every object against its bound on the locked path,
   * so bounded pools get no thread caches. */
  heap_register(h, max_objects == 0);
  return h;
}

/* The process-wide heap's classes grow by 1.125 (8 per power of two, as Go's
 * and mimalloc's do), where an oh_slab_new instance's default is 1.25: it
 * serves sizes of every kind at once, where rounding is most of what it
 * holds beyond the live bytes (a cache of log-normal values, 64 B - 256 KiB,
 * 1 GiB: 7.1 % rounding at 1.25, 4.9 % at 1.125, end RSS/live 1.13 -> 1.11
 * in C). An instance serves one kind of object, often one size. */
#define DEFAULT_GROWTH 1.125

/* Creates the process-wide heap on first use; a failure (the OS refusing
 * memory) is reported and retried by the next call, never cached. */
static OHI_NOINLINE oh_slab_t *default_create(void) {
  ohi_lock(&ohi_default_lock);
  oh_slab_t *h = __atomic_load_n(&ohi_default_heap, __ATOMIC_ACQUIRE);
  if (h == NULL) {
    oh_slab_config_t c = {0, 0, DEFAULT_GROWTH};
    h = heap_new(&c, "oh_alloc");
    if (h != NULL) __atomic_store_n(&ohi_default_heap, h, __ATOMIC_RELEASE);
  }
  ohi_unlock(&ohi_default_lock);
  return h;
}

oh_slab_t *ohi_get_default(void) {
  oh_slab_t *h = __atomic_load_n(&ohi_default_heap, __ATOMIC_ACQUIRE);
  if (OHI_LIKELY(h != NULL)) return h;
  return default_create();
}

oh_slab_t *oh_default_slab(void) { return ohi_get_default(); }
oh_slab_t *oh_slab_new(const oh_slab_config_t *cfg) { return heap_new(cfg, "oh_slab_new"); }

bool ohi_heap_check(oh_slab_t *h, const char *fn) {
  if (OHI_UNLIKELY(h == NULL)) {
    ohi_fail(EINVAL, "%s: NULL slab", fn);
    return false;
  }
  if (OHI_UNLIKELY(OHI_LOAD_ACQUIRE(&h->magic) != OHI_HEAP_LIVE)) {
    ohi_fail(EINVAL, "%s: %p is not a live instance (destroyed already?)", fn, (void *)h);
    return false;
  }
  return true;
}

bool ohi_heap_check_ptr(oh_slab_t *h, const char *fn, const void *p) {
  if (OHI_UNLIKELY(h == NULL)) {
    ohi_fail(EINVAL, "%s of pointer %p: NULL slab", fn, p);
    return false;
  }
  if (OHI_UNLIKELY(OHI_LOAD_ACQUIRE(&h->magic) != OHI_HEAP_LIVE)) {
    ohi_fail(EINVAL, "%s of pointer %p: slab %p is not a live instance (destroyed already?)", fn, p, (void *)h);
    return false;
  }
  return true;
}
