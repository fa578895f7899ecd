/* internal.h - what the sources of the offheap core share and nothing else sees.
 *
 * It is split by concern: base.h (macros, locks, the OS contract, options,
 * the purge policy's questions and the purger's wake-ups, the memory limit,
 * region map, pages, metadata, segments), slab_types.h (the slab tier's data
 * model, part of which the Go binding reads), and here the slab tier's
 * per-file prototypes. Together they are the map of the sources.
 *
 * THE LAYERS, lowest first: a file calls only the files on its own line and
 * on the lines above it. make test-layers (tests/layers.sh) reads this list
 * and the symbols each object defines and uses, and fails on any other call.
 *
 *   -- layers --
 *   os_unix.c / os_windows.c  OS primitives (ohi_os_*): the only files that name
 *                             mmap, madvise, VirtualAlloc ...
 *   options.c                 tunables, error reporting, version (other files
 *                             register change hooks with it)
 *   wake.c                    the purger's wake-ups and its thread: the leaf
 *                             every tier calls when memory starts waiting for
 *                             the purge policy, which hooks its work in
 *   pages.c                   page mappings with accounting, fault injection,
 *                             oh_decommit
 *   region.c                  the region map: which span owns an address
 *   meta.c                    type-stable metadata memory
 *   memlimit.c, cgroup.c      the memory limit (OH_OPT_MEMORY_LIMIT, auto)
 *   segment.c                 the cache of free slab segments (address space)
 *   map.c                     oh_map / oh_unmap, oh_kind_of
 *                             -- the slab tier (overview: heap.c) --
 *   sizeclass.c               size classes of a heap
 *   heap.c                    heaps: creation and the registry every tier reads
 *   runpage.c                 a run slab's pages: free bitmap, take and put a run,
 *                             quick lists; run slabs filed by their reach
 *   central.c                 per-class central lists, slab creation and release
 *   tcache.c                  thread caches: slabs owned by a thread
 *   runs.c                    runs of pages: sizes run_min .. run_max
 *   large.c                   allocations bigger than a slab
 *   release.c                 pointer classification, alloc/free entry points
 *   owner.c                   owner handles: the caches of tcache.c held by a binding
 *   purgewalk.c               the purge walk of one slab: ages, due pages decommitted
 *   purge.c                   the purge policy: its passes over every tier
 *   stats.c                   statistics and the leak report
 *   lifecycle.c               the first heap's start-up, destroy, fork: they
 *                             call every tier, so they come last
 *   pool.c, arena.c           built on the slab tier and the page layer
 *   -- end of layers --
 *
 * The purge policy sits below the tiers it walks, and they reach it only
 * through wake.c: the wake-ups (ohi_purge_notify, _dirty, _pressure,
 * _urgent), the delay-0 purge of an emptied slab (ohi_after_empty), an
 * owner's share of a pass (ohi_tcache_purge_self) and the limit's purge
 * before a refusal (ohi_purge_for_limit) go through the hooks purge.c sets
 * (ohi_wake_hook). The tiers ask the policy's questions about the delay
 * through base.h's inline functions (ohi_purge_at_free, _never, _due,
 * _deadline), never by reading OH_OPT_PURGE_DELAY_MS. Inline functions of
 * the headers are compiled into their callers: the layers are about the calls
 * between the files.
 *
 * Calls up the list where that is the natural direction - the only ones:
 *
 *   allow options.c -> memlimit.c ohi_memlimit_apply: setting the option is
 *         what applies the limit
 *   allow options.c -> cgroup.c oh_memory_limit_parse: the option's value
 *         ("auto", "80%", "2GiB") is parsed where oh_memory_limit_parse is
 *   allow pages.c -> memlimit.c ohi_memlimit_shift, ohi_memlimit_crossed: the
 *         commit accounting tells the limit when committed bytes change step
 *         (inline ohi_memlimit_note: a load and a shift on every change)
 *   allow heap.c -> lifecycle.c ohi_lifecycle_init: making the first heap
 *         starts what destroy and fork rely on (once)
 *   allow tcache.c -> large.c ohi_large_cache_drain: a cache handed back
 *         hands its free large spans to the heap's shared cache too (large.c
 *         keeps them in the thread cache, so it sits below tcache.c)
 *
 * Internal names carry the prefix ohi_ and are hidden from the shared object's
 * symbol table (-fvisibility=hidden; only OH_API names are exported). The
 * cgo binding compiles every file into one translation unit
 * (bindings/offheap_unity.c), so file-local (static) names must be distinct
 * across files too.
 *
 * Atomics: shared words are plain integer types accessed through the OHI_ATOMIC_*
 * macros (GCC/Clang __atomic builtins). Plain types keep the structures readable
 * from Go through cgo without a call.
 */
#ifndef OFFHEAP_INTERNAL_H
#define OFFHEAP_INTERNAL_H

#include "slab_types.h" /* and base.h */

/* ---- size classes (sizeclass.c) ---- */
/* Grid index of n: (n + 15) / 16 up to 1 KiB (0 for n = 0, which shares the
 * smallest class: no test for it), then 64 steps per power of two. */
OHI_INLINE unsigned ohi_grid_index(size_t n) {
  if (n <= 1024) return (unsigned)((n + 15) >> 4);
  unsigned e = 63u - (unsigned)__builtin_clzll((unsigned long long)(n - 1));
  unsigned j = (unsigned)((n - 1) >> (e - 6)) & 63u;
  return 65u + (e - 10u) * 64u + j;
}
size_t ohi_grid_value(unsigned i);
/* The chunk sizes of a heap (ascending, at most OH_MAX_CLASSES); returns the
 * count, or 0 with the error reported. */
unsigned ohi_classes_build(const oh_slab_config_t *c, uint32_t *sizes, const char *fn);
void ohi_class_init(ohi_class_t *c, size_t chunk, size_t slab_size);
/* n <= h->max_chunk. A pool's grid is all zeros (its one class): no branch. */
OHI_INLINE unsigned ohi_class_of(oh_slab_t *h, size_t n) { return h->grid[ohi_grid_index(n)]; }

/* ---- heaps: creation and the registry (heap.c) ---- */
extern ohi_lock_t ohi_registry_lock;
extern oh_slab_t *ohi_heaps;          /* under ohi_registry_lock */
extern oh_slab_t *ohi_slots[OHI_MAX_SLOTS];
extern oh_slab_t *ohi_default_heap;   /* atomic */
extern ohi_lock_t ohi_default_lock;   /* made under it: the default heap (fork takes it first) */
oh_slab_t *ohi_get_default(void);
oh_slab_t *ohi_heap_new_single(size_t object_size, size_t slab_size, size_t max_objects);
/* A handle that is not a live heap is refused (EINVAL) with fn's name. */
bool ohi_heap_check(oh_slab_t *h, const char *fn);
/* ohi_heap_check for a call about pointer p, which the message names. */
bool ohi_heap_check_ptr(oh_slab_t *h, const char *fn, const void *p);
void ohi_tls_register(void); /* thread-exit destructor for this thread's caches */

/* ---- a run slab's pages (runpage.c) ---- */
/* Every page free and not committed (a new run slab). */
void ohi_run_init(ohi_slab_t *s);
/* The first page of the free run that fits k pages best (*len its pages),
 * or OHI_W_END. */
uint32_t ohi_run_fit(ohi_slab_t *s, uint32_t k, uint32_t *len);
/* Hands out the pages [i, i + k) of the free run of len pages (ohi_run_fit)
 * as a run whose first page's word is state (1: one reference; CACHED: for a
 * binding's cache, which hands it out without a call); *zeroed: every page
 * was uncommitted (reads as zero). */
void *ohi_run_take(ohi_slab_t *s, uint32_t i, uint32_t k, uint32_t len, uint32_t state, bool *zeroed);
/* The pages of the run whose first page's word is *head: the length its
 * second page's word holds (a run's pages are 2 or more; the binding's
 * mirror, Word.RunPages, is tested against this). */
OHI_INLINE uint32_t ohi_run_head_pages(const uint32_t *head) { return OHI_W_TAIL_LEN(OHI_LOAD_RELAXED(&head[1])); }
/* The pages of the run starting at page idx of s. */
OHI_INLINE uint32_t ohi_run_pages(const ohi_slab_t *s, uint32_t idx) {
  return ohi_run_head_pages(ohi_slab_words((ohi_slab_t *)s) + idx);
}
/* A claimed run's pages go free; returns how many. */
uint32_t ohi_run_put(ohi_slab_t *s, uint32_t idx);
/* ohi_slab_collect for a run slab: returns the pages freed. */
uint32_t ohi_run_collect(ohi_slab_t *s);
/* A run slab on the bucket of its reach in rb (an owner's, by the owner or
 * a stealer; the heap's central ones, under the run class's lock), off it,
 * or moved to it after a change; and the slab of rb that serves k pages and
 * the fewest beyond (the lowest bucket of k or more), or NULL. */
void ohi_rbucket_link(ohi_rbuckets_t *rb, ohi_slab_t *s);
void ohi_rbucket_unlink(ohi_rbuckets_t *rb, ohi_slab_t *s);
void ohi_rbucket_update(ohi_rbuckets_t *rb, ohi_slab_t *s);
ohi_slab_t *ohi_rbucket_pick(const ohi_rbuckets_t *rb, uint32_t k);
/* The quick lists (the owner's): a claimed run of k pages (2 <= k <=
 * OHI_RUNC_PAGES) kept on list k, out of used; the first run of list k
 * (which holds one) taken off, back in used, its word for the caller to set;
 * every list's runs back to the page map (free pages in fmap; used stands),
 * returning their pages. */
OHI_INLINE void ohi_runq_push(ohi_slab_t *s, uint32_t idx, uint32_t k) {
  OHI_STORE_RELAXED(&ohi_slab_words(s)[idx], OHI_W_CACHED | s->qhead[k]);
  s->qhead[k] = idx;
  s->qmask |= (uint64_t)1 << (k - 1);
  s->used -= k;
  s->puts += k; /* the purge walk's summary sees a change */
}
OHI_INLINE uint32_t ohi_runq_pop(ohi_slab_t *s, uint32_t k) {
  uint32_t idx = s->qhead[k];
  s->qhead[k] = OHI_LOAD_RELAXED(&ohi_slab_words(s)[idx]) & OHI_W_NEXT;
  if (s->qhead[k] == OHI_W_END) s->qmask &= ~((uint64_t)1 << (k - 1));
  s->used += k;
  return idx;
}
uint32_t ohi_runq_settle(ohi_slab_t *s);
OHI_INLINE bool ohi_runq_has(const ohi_slab_t *s, uint32_t k) {
  return k <= OHI_RUNC_PAGES && (s->qmask >> (k - 1) & 1) != 0;
}
/* The longest run s can serve without a new slab: its longest free run, or
 * its longest quick list's run count (settled, that run is free pages). */
OHI_INLINE uint32_t ohi_run_reach(const ohi_slab_t *s) {
  uint32_t q = s->qmask != 0 ? 64u - (uint32_t)__builtin_clzll(s->qmask) : 0;
  return q > s->maxrun ? q : s->maxrun;
}

/* ---- central lists (central.c) ---- */
void ohi_list_remove(ohi_slab_t **head, ohi_slab_t *s);
void ohi_list_push(ohi_slab_t **head, ohi_slab_t *s);
ohi_slab_t **ohi_central_list(ohi_class_t *c, uint32_t list);
/* A central slab off its list (and a run slab off the heap's buckets);
 * class lock held. */
void ohi_central_unlink(oh_slab_t *h, ohi_class_t *c, ohi_slab_t *s);
ohi_slab_t *ohi_slab_create(oh_slab_t *h, unsigned cls);
/* Gives an empty slab's memory away (decommitting what is still committed);
 * the slab is on no list. Returns bytes decommitted. */
size_t ohi_slab_release(oh_slab_t *h, ohi_slab_t *s);
/* Decommits the pages [first, last) of s not decommitted yet; returns bytes. */
size_t ohi_slab_decommit_pages(ohi_slab_t *s, size_t first, size_t last, bool *failed);
/* The first run of committed pages of s in [*pg, last): [*pg, *end); false: none. */
bool ohi_slab_committed_run(const ohi_slab_t *s, size_t *pg, size_t last, size_t *end);
/* Marks pages [first, last) of s decommitted (they went by ohi_pages_decommit_ranges). */
void ohi_slab_mark_decommitted(ohi_slab_t *s, size_t first, size_t last);
/* Whether page pg of s is decommitted (the slab's bitmap). */
OHI_INLINE bool ohi_slab_page_decommitted(const ohi_slab_t *s, size_t pg) { return (s->dpages[pg / 64] >> (pg % 64)) & 1; }
/* Moves the cross-thread free stack to the local free list; returns how many. */
uint32_t ohi_slab_collect(ohi_slab_t *s);
/* Pops one chunk from s's local free list or bump tail (the caller owns s or
 * holds the class lock), setting its word to state; *zeroed tells whether its
 * bytes are known to be zero. NULL when s has no room. */
void *ohi_slab_pop_slow(oh_slab_t *h, ohi_slab_t *s, uint32_t state, bool *zeroed);
/* A slab got free chunks the purge policy must age (first free since clean). */
void ohi_slab_mark_dirty(ohi_slab_t *s);
/* Pushes a claimed chunk on s's local free list (owner or class lock). */
void ohi_slab_push(ohi_slab_t *s, uint32_t idx, uint32_t flags);
/* Pushes a claimed chunk on s's cross-thread free stack (any thread). */
void ohi_slab_push_remote(oh_slab_t *h, ohi_slab_t *s, uint32_t idx, uint32_t flags);
/* The list a central slab belongs on given its counts (class lock held). */
void ohi_central_place(oh_slab_t *h, ohi_class_t *c, ohi_slab_t *s, uint64_t *now);
/* Allocation and release on the locked path. */
size_t ohi_central_take(oh_slab_t *h, unsigned cls, void **out, size_t n, uint32_t state, bool *zeroed);
void ohi_central_release(oh_slab_t *h, ohi_slab_t *s, uint32_t idx, uint32_t flags);
/* A slab for a thread cache: from the central lists or new (owner set). */
ohi_slab_t *ohi_central_adopt(oh_slab_t *h, unsigned cls, ohi_tcache_t *tc);
/* Hands an owned slab back to the central lists (owner or stealer). */
void ohi_central_abandon(oh_slab_t *h, ohi_slab_t *s, uint64_t *now);
/* Run slabs' locked paths: a central run slab with room for k pages adopted
 * by tc (*at: its fit) or a new one; k pages taken from the central
 * lists; a claimed run put back on a central slab. *at, *len: the fit
 * (ohi_run_fit). */
ohi_slab_t *ohi_central_adopt_run(oh_slab_t *h, uint32_t k, ohi_tcache_t *tc, uint32_t *at, uint32_t *len);
void *ohi_central_take_run(oh_slab_t *h, uint32_t k, uint32_t state, bool *zeroed); /* state as ohi_run_take's */
void ohi_central_release_run(oh_slab_t *h, ohi_slab_t *s, uint32_t idx);
/* Debug: page guards and poison of a chunk. */
bool ohi_chunk_guard(void *p, size_t size, bool guard);
uint32_t ohi_chunk_debug_free(ohi_slab_t *s, void *p);
void ohi_chunk_debug_handout(ohi_slab_t *s, uint32_t idx, uint32_t w);

/* ---- thread caches (tcache.c) ---- */
/* One entry per slot, and the always-NULL one of OHI_NO_SLOT. */
extern __thread ohi_tcache_t *ohi_tls_caches[OHI_MAX_SLOTS + 1] __attribute__((tls_model("initial-exec")));
ohi_tcache_t *ohi_tcache_create(oh_slab_t *h);
/* A cache with its counters, registered with h (tcache.c); NULL when out of
 * metadata memory or h is destroyed. explicit_owner: an owner handle. */
ohi_tcache_t *ohi_tcache_new(oh_slab_t *h, bool explicit_owner);
/* The thread's cache for h when it has one already (NULL for OHI_NO_SLOT):
 * no call, so the fast paths that use it need no stack frame. */
OHI_INLINE ohi_tcache_t *ohi_tcache_peek(oh_slab_t *h) {
  ohi_tcache_t *tc = ohi_tls_caches[h->slot];
  return OHI_LIKELY(tc != NULL && OHI_LOAD_RELAXED(&tc->heap_id) == h->id) ? tc : NULL;
}
/* The thread's cache for h, made on first use (NULL: none for h). */
OHI_INLINE ohi_tcache_t *ohi_tcache_get(oh_slab_t *h) {
  ohi_tcache_t *tc = ohi_tcache_peek(h);
  return OHI_LIKELY(tc != NULL) ? tc : ohi_tcache_create(h);
}
/* The owner's side of the steal handshake (struct ohi_tcache_s). */
bool ohi_tcache_enter_stolen(ohi_tcache_t *tc); /* out of line: waits out a YIELD steal */
/* The owner's entry without waiting, for the fast paths that call nothing:
 * in_op set, true when no stealer holds the cache (nothing of the cache may
 * be read before it). On false the caller leaves and starts over on a path
 * that waits (ohi_tcache_enter). */
OHI_INLINE bool ohi_tcache_try_enter(ohi_tcache_t *tc) {
  OHI_STORE_RELAXED(&tc->in_op, 1u);
  __atomic_signal_fence(__ATOMIC_SEQ_CST);
  return OHI_LOAD_ACQUIRE(&tc->steal) == 0;
}
OHI_INLINE bool ohi_tcache_enter(ohi_tcache_t *tc) {
  if (OHI_LIKELY(ohi_tcache_try_enter(tc))) return true;
  return ohi_tcache_enter_stolen(tc);
}
OHI_INLINE void ohi_tcache_leave(ohi_tcache_t *tc) { OHI_STORE_RELEASE(&tc->in_op, 0u); }
/* A slab leaves its owner (the owner, or a stealer, holding the cache): the
 * owner's release shortcuts to it (tc->last_free, last_run) go first. */
OHI_INLINE void ohi_slab_unown(ohi_slab_t *s) {
  ohi_tcache_t *o = OHI_LOAD_RELAXED(&s->owner);
  if (o != NULL && o->last_free == s) o->last_free = NULL;
  if (o != NULL && o->last_run == s) o->last_run = NULL;
  OHI_STORE_RELEASE(&s->owner, (ohi_tcache_t *)NULL);
}
void *ohi_tcache_refill_alloc(oh_slab_t *h, ohi_tcache_t *tc, unsigned cls, uint32_t state, bool *zeroed);
void ohi_tcache_local_free_slow(oh_slab_t *h, ohi_tcache_t *tc, ohi_slab_t *s, bool was_full);
/* The owned list of a bin (owner or stealer). */
void ohi_bin_remove(ohi_tbin_t *b, ohi_slab_t *s);
void ohi_bin_disown(ohi_tbin_t *b, ohi_slab_t *s); /* off the list, counts kept */
void ohi_bin_note_emptied(ohi_tbin_t *b, ohi_slab_t *s); /* used fell to 0 */
void ohi_bin_push_front(ohi_tbin_t *b, ohi_slab_t *s);
void ohi_bin_to_back(ohi_tbin_t *b, ohi_slab_t *s);
void ohi_bin_own(ohi_tbin_t *b, ohi_slab_t *s);      /* an adopted slab joins the bin */
void ohi_bin_set_cur(ohi_tbin_t *b, ohi_slab_t *s);  /* the slab allocations come from */
/* Collects an owned slab's cross-thread frees into its bin (owner); with a
 * zero delay a slab they emptied is released unless current: false then. */
bool ohi_bin_collect(oh_slab_t *h, ohi_tbin_t *b, ohi_slab_t *s);
/* A slab adopted from the central lists (or new) joins tc's bin b as its
 * current slab, and the purger is told what it must now watch. */
void ohi_tcache_adopted(ohi_tcache_t *tc, ohi_tbin_t *b, ohi_slab_t *s);
/* An owner handle about to adopt a slab, or moving past a full one, first
 * moves the slabs with free chunks of quiet owner handles, every class's, to
 * the central lists (tcache.c). */
void ohi_tcache_reclaim(oh_slab_t *h, ohi_tcache_t *tc);
/* The buckets of tc's run slabs. */
OHI_INLINE ohi_rbuckets_t *ohi_owner_runs(ohi_tcache_t *tc) { return &tc->rc->rb; }
/* The runs tc keeps for reuse (struct ohi_tcache_s: runc) go back to their
 * slabs' page maps (owner, or a stealer). */
void ohi_tcache_flush_runs(oh_slab_t *h, ohi_tcache_t *tc);
/* Releases an empty owned slab (owner, no cross-thread frees pending). */
void ohi_tcache_release_owned(oh_slab_t *h, ohi_tbin_t *b, ohi_slab_t *s);
/* Stealer side: take the cache away from its owner / give it back. */
bool ohi_tcache_steal(ohi_tcache_t *tc);
/* ohi_tcache_steal that gives up after spins yields while the owner is in an
 * operation (which may be the caller's own, on a refusal path). */
bool ohi_tcache_try_steal(ohi_tcache_t *tc, unsigned spins); /* BYPASS */
bool ohi_tcache_steal_yielding(ohi_tcache_t *tc); /* YIELD: the owner waits, sets want */
void ohi_tcache_unsteal(ohi_tcache_t *tc);
/* Hands every slab of tc back to the central lists (owner, or stealer). */
bool ohi_tcache_abandon_all(oh_slab_t *h, ohi_tcache_t *tc); /* true: some slab emptied */
void ohi_tcache_unlink(oh_slab_t *h, ohi_tcache_t *tc); /* registry lock held */
void ohi_tcache_retire(oh_slab_t *h, ohi_tcache_t *tc); /* counters to the classes */

/* ---- runs of pages (runs.c) ---- */
/* Whether n is in h's run range (none: run_min is SIZE_MAX; the run class's
 * own chunk, a page, is below it). */
OHI_INLINE bool ohi_run_range(const oh_slab_t *h, size_t n) { return n <= h->run_max && n >= h->run_min; }
/* Whether h serves n bytes as a run of pages: in its run range, outside
 * debug mode (where those sizes keep their size classes). */
OHI_INLINE bool ohi_run_size(const oh_slab_t *h, size_t n) {
  return ohi_run_range(h, n) && OHI_LIKELY(ohi_opt(OH_OPT_DEBUG) == 0);
}
/* Whether size class cls stands for runs of its pages in a binding's cache
 * (runs.c; whatever the debug mode, so that runs taken before it go back). */
OHI_INLINE bool ohi_run_class(const oh_slab_t *h, int cls) { return ohi_run_range(h, h->classes[cls].chunk_size); }
/* The pages of the run that serves n bytes (run_min <= n <= run_max). */
OHI_INLINE uint32_t ohi_run_pages_for(oh_slab_t *h, size_t n) {
  return (uint32_t)((n + ((size_t)1 << h->page_shift) - 1) >> h->page_shift);
}
/* A run of k pages that cache tc kept (entered, h's run tier), handed out:
 * its word from CACHED to 1; NULL when it keeps none. The fast paths' and
 * runs.c's one way to take a kept run. */
OHI_INLINE void *ohi_runc_pop(oh_slab_t *h, ohi_tcache_t *tc, uint32_t k) {
  if (k > OHI_RUNC_PAGES || tc->rc->runc_n[k] == 0) return NULL;
  uint32_t i = --tc->rc->runc_n[k];
  OHI_STORE_RELAXED(&tc->rc->runc_bytes, tc->rc->runc_bytes - ((uint64_t)k << h->page_shift));
  OHI_STORE_RELEASE(tc->rc->runw[k][i], 1u);
  OHI_OWNER_INC(&tc->bins[h->run_class].allocs, k); /* and k pages fewer free (ohi_bin_nfree) */
  OHI_OWNER_INC(&tc->rallocs, 1);
  void *p = tc->rc->runc[k][i];
  OHI_ASAN_UNPOISON(p, (size_t)k << h->page_shift);
  return p;
}
/* Whether cache tc (entered) has room to keep a run of k pages. */
OHI_INLINE bool ohi_runc_room(oh_slab_t *h, ohi_tcache_t *tc, uint32_t k) {
  return k <= OHI_RUNC_PAGES && tc->rc->runc_n[k] < OHI_RUNC_N &&
         tc->rc->runc_bytes + ((uint64_t)k << h->page_shift) <= (uint64_t)ohi_opt(OH_OPT_TCACHE_BYTES);
}
/* The owner's free of its claimed run of k pages at page idx of s, counted
 * by tc (entered): k pages more free - kept and listed ones count as free -
 * and one operation; its pages poisoned. */
OHI_INLINE void ohi_runs_count_free(oh_slab_t *h, ohi_tcache_t *tc, ohi_slab_t *s, uint32_t idx, uint32_t k) {
  OHI_ASAN_POISON(ohi_chunk_ptr(s, idx), (size_t)k << h->page_shift);
  OHI_OWNER_INC(&tc->bins[h->run_class].frees, k);
  OHI_OWNER_INC(&tc->rfrees, 1);
}
/* That run kept by tc (ohi_runc_room); its word stays CACHED. The fast
 * path's and runs.c's one way to keep a run. */
OHI_INLINE void ohi_runc_push(oh_slab_t *h, ohi_tcache_t *tc, ohi_slab_t *s, uint32_t idx, uint32_t k) {
  ohi_runcache_t *rc = tc->rc;
  rc->runw[k][rc->runc_n[k]] = ohi_slab_words(s) + idx;
  rc->runc[k][rc->runc_n[k]++] = ohi_chunk_ptr(s, idx);
  OHI_STORE_RELAXED(&rc->runc_bytes, rc->runc_bytes + ((uint64_t)k << h->page_shift));
}
/* Whether the owner's claimed run of k pages at page idx of its slab s
 * goes on s's quick list when it is freed (runs_owner_put): a listed
 * length, a delay (a zero one returns pages at each free), and neither
 * neighbouring page free. A run next to free pages joins them at once, so a
 * hole grows to serve any size: listed, it waited for a request of exactly
 * its length while the pages beside it served others: a cache of mixed
 * sizes (bench/frag, 4x its default length, in C) held 1.14x its live bytes
 * with 11-28 MiB on quick lists, and purged 1371-1911 times in its second
 * half; with such runs joined, 1.13 and 360-821 (bench/RESULTS.md, session
 * 18). Runs between live runs - a batch freed in any order - are listed as
 * before. */
OHI_INLINE bool ohi_runq_listable(const ohi_slab_t *s, uint32_t idx, uint32_t k) {
  if (k > OHI_RUNC_PAGES || ohi_purge_at_free()) return false;
  return (idx == 0 || !ohi_bit(s->fmap, idx - 1)) && (idx + k >= s->nchunks || !ohi_bit(s->fmap, idx + k));
}
/* Whether that run can go on the list with nothing else to do -
 * runs_owner_put's list branch without its calls, for the fast release:
 * listable, the slab dirty already and filed at k or above, and not emptied
 * by it. */
OHI_INLINE bool ohi_runq_plain(const ohi_slab_t *s, uint32_t idx, uint32_t k) {
  return k <= s->rbucket && s->used > k && OHI_LOAD_RELAXED(&s->dirty) != 0 && ohi_runq_listable(s, idx, k);
}
/* tc's claimed run of k pages at page idx of its slab s on s's quick list. */
OHI_INLINE void ohi_runq_add(ohi_tcache_t *tc, ohi_slab_t *s, uint32_t idx, uint32_t k) {
  ohi_runq_push(s, idx, k);
  tc->rc->quick_pages += k;
}
/* The first run of the quick list for k of tc's slab s (entered; the list
 * holds one) handed out, its word state; not counted, s not refiled. */
OHI_INLINE void *ohi_runq_take(ohi_tcache_t *tc, ohi_slab_t *s, uint32_t k, uint32_t state) {
  tc->rc->quick_pages -= k;
  uint32_t idx = ohi_runq_pop(s, k);
  OHI_STORE_RELEASE(&ohi_slab_words(s)[idx], state);
  void *p = ohi_chunk_ptr(s, idx);
  OHI_ASAN_UNPOISON(p, (size_t)k * s->chunk_size);
  return p;
}
/* A run of k pages off the quick list of tc's current run slab (entered),
 * when it has one and no purge pass is due, handed out and counted: a
 * batch's next run; NULL otherwise. When the take emptied the list, the slab
 * goes in *refile: its reach may have fallen, and the caller refiles it
 * (ohi_rbucket_update) before it leaves tc - release.c's allocation fast
 * path does that in a tail call. */
OHI_INLINE void *ohi_runq_take_cur(oh_slab_t *h, ohi_tcache_t *tc, uint32_t k, ohi_slab_t **refile) {
  ohi_tbin_t *b = &tc->bins[h->run_class];
  ohi_slab_t *s = b->cur;
  if (s == NULL || !ohi_runq_has(s, k) || OHI_LOAD_RELAXED(&ohi_purge_tick) != OHI_LOAD_RELAXED(&tc->purged_tick))
    return NULL;
  void *p = ohi_runq_take(tc, s, k, 1);
  if (OHI_UNLIKELY(!ohi_runq_has(s, k))) *refile = s;
  OHI_OWNER_INC(&b->allocs, k); /* and k pages fewer free */
  OHI_OWNER_INC(&tc->rallocs, 1);
  return p;
}
/* n bytes (run_min <= n <= run_max) as a run of pages; NULL with the error
 * reported. *zeroed: known to read as zero. Through the calling thread's
 * slabs (the caller, release.c, tried the runs its cache keeps and its
 * current slab's quick list), or from the central lists. */
void *ohi_runs_alloc(oh_slab_t *h, size_t n, bool *zeroed, const char *fn);
void *ohi_runs_alloc_central(oh_slab_t *h, size_t n, bool *zeroed, const char *fn);
/* A claimed run (its first page's word CACHED) goes back: through the
 * calling thread's cache; or counted in tc, entered by the caller, which
 * frees it when it owns the run's slab (true) and otherwise leaves it to
 * ohi_runs_send once it has left tc. */
void ohi_runs_free(oh_slab_t *h, ohi_slab_t *s, uint32_t idx);
bool ohi_runs_free_in(oh_slab_t *h, ohi_tcache_t *tc, ohi_slab_t *s, uint32_t idx);
/* The quick lists of tc's run slab s go back to its pages (the owner, or a
 * stealer; tcache.c): s refiled, kept dirty. */
void ohi_tcache_settle_runs(ohi_tcache_t *tc, ohi_slab_t *s);
void ohi_runs_send(oh_slab_t *h, ohi_slab_t *s, uint32_t idx);
/* A binding's cache of runs (release.c's batch transfer for a size class of
 * the run range, cls: runs of its chunk size's pages, CACHED): taken through
 * tc (entered) or, tc NULL, from the central lists (none in debug mode);
 * returned with the operations they served, each to its slab's owner. */
size_t ohi_runs_take_cached(oh_slab_t *h, ohi_tcache_t *tc, int cls, void **out, size_t n);
void ohi_runs_return_cached(oh_slab_t *h, ohi_tcache_t *tc, int cls, void *const *ptrs, size_t n, uint64_t allocs,
                            uint64_t frees);

/* ---- large spans (large.c) ---- */
void *ohi_large_alloc(oh_slab_t *h, size_t n, bool zero, const char *fn);
void ohi_large_free(oh_slab_t *h, ohi_large_t *l);
/* The heap's shared cache: spans the purge policy finds due unmapped (all
 * when force); *next_deadline lowered to when the next one falls due. */
size_t ohi_large_purge(oh_slab_t *h, uint64_t now, bool force, uint64_t *next_deadline);
/* Unmaps a span that is on no cache (taking it off the heap's list). */
void ohi_large_unmap(oh_slab_t *h, ohi_large_t *l);
/* A thread cache's free spans: those older than the delay unmapped (all when
 * force); *more set while some wait. Owner, or a stealer. */
size_t ohi_large_cache_purge(oh_slab_t *h, ohi_tcache_t *tc, bool force, uint64_t *more);
/* A thread cache hands its free spans to the heap's shared cache (owner, or
 * a stealer: idle, exiting or deleted caches); true when it had some (the
 * caller makes sure the purger comes: ohi_after_empty). */
bool ohi_large_cache_drain(oh_slab_t *h, ohi_tcache_t *tc);
/* Times h's large_lock was taken (tests: the thread-cached path takes none). */
extern uint64_t ohi_large_lock_taken;

/* ---- allocation and release (release.c) ---- */
void *ohi_heap_alloc(oh_slab_t *h, size_t n, const char *fn);
void *ohi_heap_alloc_zeroed(oh_slab_t *h, size_t n, const char *fn);
int ohi_heap_release(oh_slab_t *h, void *p, int mode, const char *fn);
/* A chunk just claimed (word CACHED) goes back: to its owner's free list when
 * the caller is the owner, else to the cross-thread stack or the central lists. */
void ohi_chunk_released(oh_slab_t *h, ohi_slab_t *s, uint32_t idx, uint32_t flags);
/* Batch transfer of chunks in the CACHED state for caches kept by a language
 * binding (release.c explains the protocol). allocs/frees: operations the
 * binding served from its cache since its last return, for the statistics. */
size_t ohi_heap_take_cached(oh_slab_t *h, int cls, void **out, size_t n);
void ohi_heap_return_cached(oh_slab_t *h, int cls, void *const *ptrs, size_t n, uint64_t allocs, uint64_t frees);

/* ---- owner handles (owner.c) ---- */
/* An owner a binding holds per worker (the Go package: one per P and heap):
 * a thread cache that no thread's TLS points at, registered with its heap so
 * the purger ages, drains and hands back its slabs like any thread's. Its
 * operations exclude each other with a CAS on in_op (a goroutine may lose its
 * P in a call, and another then uses the same owner): a caller that finds the
 * owner busy or stolen falls back to the central lists. */
ohi_tcache_t *ohi_owner_new(oh_slab_t *h); /* NULL: out of metadata memory, or h destroyed */
void ohi_owner_delete(oh_slab_t *h, ohi_tcache_t *tc); /* nobody uses tc any more */
size_t ohi_owner_take(oh_slab_t *h, ohi_tcache_t *tc, int cls, void **out, size_t n);
void ohi_owner_return(oh_slab_t *h, ohi_tcache_t *tc, int cls, void *const *ptrs, size_t n, uint64_t allocs,
                      uint64_t frees);
/* A size class of the run range (ohi_run_class) takes and returns runs of
 * its pages through ohi_owner_take and _return (runs.c). A release of any
 * pointer of h, a run's pages going back through tc (the Go package: a run
 * no class's cache holds; others as ohi_heap_release). */
int ohi_owner_release(oh_slab_t *h, ohi_tcache_t *tc, void *p, int mode, const char *fn);
/* The owner's free of its own slab's claimed chunk (release.c; owner entered). */
void ohi_tcache_free_owned(oh_slab_t *h, ohi_tcache_t *tc, ohi_slab_t *s, uint32_t idx, bool count);

/* ---- purging (purge.c) ----
 * The tiers do not call here: they wake the purger and ask for the policy's
 * work through wake.c (base.h), where this file hooks it in. */
extern uint64_t ohi_purge_walked; /* atomic: state words the purge walks read (tests) */
/* The purge walk of slab s (purgewalk.c; its holder's): free chunks (or
 * wholly free pages) aged by this pass, and by credit passes more those free
 * since the last walk, the whole pages that runs of chunks of age need or
 * more cover decommitted. popped: a chunk may have left the local free list since the
 * last walk (used and puts moved, or no walk yet). Returns the bytes
 * decommitted; *dirty: free chunks not yet due remain, *failed: a decommit
 * was refused, *min_age: the lowest age of those not due. */
size_t ohi_slab_walk(ohi_slab_t *s, uint32_t need, uint32_t credit, bool popped, bool *dirty, bool *failed,
                     uint32_t *min_age);
/* Pages of slabs an owner's share of a pass walks per refill (purge.c,
 * owner_pass): 32 MiB of 4 KiB pages, ~0.5-1 ms of walking. */
#define OHI_OWNER_PASS_PAGES 8192
/* Tests: called before each slab of a stolen cache a pass ages (not the
 * owner's own pass), with the pass's tick. */
extern void (*ohi_test_purge_slab_hook)(oh_slab_t *h, uint64_t tick);
/* How long a thread cache must sit unused to be drained, and the purger's
 * shortest re-arm: the purge delay, but at least 100 ms, so that a delay of 0
 * does not wake the purger, nor steal a busy thread's cache, on every refill. */
#define OHI_IDLE_MS(delay) ((delay) > 100 ? (uint64_t)(delay) : (uint64_t)100)
/* One pass over every heap (oh_purge, the purger, tests): all that is free
 * when force; pressed: a pass under pressure (purge.c). */
size_t ohi_heaps_purge_all(uint64_t now, bool force, bool pressed, uint64_t *next_deadline);
void ohi_purge_init(void); /* once, when the first heap is made: hooks the purger into wake.c */

/* ---- statistics (stats.c) ---- */
void ohi_heap_stats_locked(oh_slab_t *h, oh_stats_t *out, bool classes);
extern uint64_t ohi_retired_allocs, ohi_retired_frees; /* under the registry lock */

/* ---- the lifecycle of heaps (lifecycle.c) ---- */
/* Once, when the first heap is made: the thread-exit destructor, the purge
 * policy's hooks and the fork handlers. */
void ohi_lifecycle_init(void);
int ohi_heap_destroy(oh_slab_t *h, const char *fn);

/* ---- arenas (arena.c) ----
 * Blocks a language binding bumps through itself (arena.c explains): take
 * one with room for need bytes aligned to align (*cap usable bytes from the
 * returned address, which is aligned to 16; NULL with the error reported),
 * and settle how many bytes from its start were handed out. */
void *ohi_arena_take_block(oh_arena_t *a, size_t need, size_t align, size_t *cap);
void ohi_arena_settle(oh_arena_t *a, void *data, size_t used);

#endif /* OFFHEAP_INTERNAL_H */
