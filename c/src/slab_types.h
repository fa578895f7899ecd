/* slab_types.h - the data model of the slab tier: state words, slabs, thread
 * caches and owner handles, large spans, heaps and size classes, with their
 * invariants. The Go binding reads some of these layouts directly
 * (bindings/chunk_bundled.go, through chunk.h): a change here is a change of
 * that contract, which bindings/chunk_test.go checks. internal.h includes it.
 */
#ifndef OFFHEAP_SLAB_TYPES_H
#define OFFHEAP_SLAB_TYPES_H

#include "base.h"

/* ---- the slab tier: shared types ---------------------------------------------
 * heap.c holds the overview. A heap (oh_slab_t) has size classes; each slab is
 * one segment of slab_size bytes cut into chunks of one class. A slab is owned
 * either by one thread's cache (ohi_tcache_t, tcache.c), which allocates and
 * frees its chunks without a lock, or by its class's central lists
 * (central.c), under the class lock.
 *
 * Per-chunk state word (words[i] of its slab):
 *   0                          never handed out (index >= bump)
 *   1 .. OH_REFCOUNT_MAX       allocated; the value is the reference count
 *   OHI_W_CACHED | [GUARD] | [POISON] | next
 *                              free but not on the slab's free list: claimed
 *                              by a release in progress, held by a binding's
 *                              cache (next = END), or on the slab's
 *                              cross-thread free stack (next = the next index)
 *   OHI_W_FREE | flags | next  free, on the slab's local free list
 * Flags of a free chunk: GUARD = its whole pages are inaccessible (debug);
 * POISON = its bytes hold the 0xdf poison (debug, verified at hand-out);
 * DECOMMITTED = some page it overlaps is decommitted (the slab's bitmap says
 * which); AGE = purge passes it has sat through on the free list (0..7).
 * The allocator never writes to free chunk memory: free lists live in these
 * words, so decommitting free chunks loses nothing and a use-after-free write
 * cannot corrupt the allocator. */
#define OHI_W_FREE 0x80000000u
#define OHI_W_CACHED 0x40000000u
#define OHI_W_GUARD 0x20000000u
#define OHI_W_AGE_SHIFT 26
#define OHI_W_AGE_MAX 7u
#define OHI_W_AGE (OHI_W_AGE_MAX << OHI_W_AGE_SHIFT)
#define OHI_W_DECOMMITTED 0x02000000u
#define OHI_W_POISON 0x01000000u
#define OHI_W_NEXT 0x00ffffffu /* chunk indices: below 2^24 - 1 per slab */
#define OHI_W_END OHI_W_NEXT
#define OHI_W_MAX_CHUNKS (OHI_W_END - 1)
#define OHI_W_IS_FREE(w) ((w) == 0 || (w) >= OHI_W_CACHED)
/* Run slabs (span kind OHI_SPAN_RUNS, runpage.c) have one word per page: a
 * run's first page holds its reference count (or the CACHED states above),
 * a free page OHI_W_FREE | flags (no next: free pages are found in the
 * slab's bitmap), and every other page of a run
 *   OHI_W_TAIL | length << 12 | distance from the first page
 * - free to the release's test (no claim can succeed on it) and neither
 * free nor cached to the purge walk's. */
#define OHI_W_TAIL (OHI_W_FREE | OHI_W_CACHED)
#define OHI_W_IS_TAIL(w) (((w) & OHI_W_TAIL) == OHI_W_TAIL)
#define OHI_W_TAIL_LEN_SHIFT 12
#define OHI_W_TAIL_LEN_MASK 0xfffu
#define OHI_W_TAIL_LEN(w) (((w) >> OHI_W_TAIL_LEN_SHIFT) & OHI_W_TAIL_LEN_MASK)
#define OHI_W_TAIL_DIST(w) ((w) & 0xfffu)
#define OHI_RUN_MAX_PAGES 4096u
/* Flags that send a hand-out to the slow path. */
#define OHI_W_SLOW (OHI_W_GUARD | OHI_W_DECOMMITTED | OHI_W_POISON)

typedef struct ohi_tcache_s ohi_tcache_t;

/* Which list holds a slab (ohi_slab_t.list). */
enum ohi_slab_list { OHI_LIST_NONE = 0, OHI_LIST_PARTIAL, OHI_LIST_FULL, OHI_LIST_EMPTY, OHI_LIST_OWNED };

typedef struct ohi_slab_s ohi_slab_t;
struct ohi_slab_s {
  ohi_span_t span;        /* kind OHI_SPAN_SLAB; owner = heap */
  /* Read by releases without a lock (relaxed atomics, see ohi_span_publish);
   * fixed for the descriptor's life: */
  uint32_t chunk_size;
  uint32_t nchunks;       /* chunk_size * nchunks <= span.size */
  uint64_t div_magic;     /* index = (offset * div_magic) >> 64, exact for offset < 2^32 */
  uint32_t *words;        /* nchunks state words, after this struct */
  uint64_t *dpages;       /* bitmap of decommitted pages, after the words
                           * (a run slab's: every page not committed) */
  uint64_t *fmap;         /* run slabs: bitmap of free pages, after dpages */
  size_t meta_size;       /* bytes of this struct + words + bitmap */
  uint32_t class_index;
  /* Shared between threads (atomics): */
  uint32_t xfree;         /* head of the cross-thread free stack, or OHI_W_END */
  ohi_tcache_t *owner;    /* the owning thread cache; NULL = central. Changed
                           * under the class lock, by the owner or a stealer */
  uint32_t dirty;         /* free chunks may hold committed pages: the purger looks */
  uint32_t pad0_;
  /* The owner's (or, for a central slab, the class lock's): */
  ohi_slab_t *next, *prev; /* in an owner's or a central list */
  uint32_t free_head;     /* first index of the local free list, or OHI_W_END;
                           * a run slab's lowest free page (or OHI_W_END) */
  uint32_t pad1_;
  uint32_t bump;          /* chunks [bump, nchunks) never handed out */
  uint32_t list;          /* enum ohi_slab_list */
  union {
    struct {
      uint32_t used;      /* handed out and not on the local free list */
      uint32_t puts;      /* chunks put on the local free list, ever (wraps) */
    };
    uint64_t used_puts;   /* both, for a free's one store (ohi_slab_put_one) */
  };
  uint32_t guarded;       /* free chunks whose pages are inaccessible (debug) */
  uint16_t maxrun;        /* run slabs: the longest run of free pages (runpage.c) */
  uint16_t rbucket;       /* run slabs: the bucket it is on, its owner's or the heap's
                           * central ones (0: none; runpage.c) */
  ohi_slab_t *rnext, *rprev; /* run slabs: in that bucket */
  /* Run slabs: the owner's quick lists (runpage.c) - runs it freed, kept
   * claimed per page count k <= OHI_RUNC_PAGES, qhead[k] the first (or
   * OHI_W_END), bit k - 1 of qmask set while list k holds one. The owner's;
   * empty on a slab no cache owns. */
  uint64_t qmask;
  uint32_t *qhead;        /* OHI_RUNC_PAGES + 1 heads, after fmap */
  uint64_t empty_since_ms;/* central empty list: when it got there */
  size_t touched;         /* bytes from the base handed out at least once (page rounded) */
  /* The purge walk's summary (purge.c), kept by whoever holds the slab: the
   * used and puts it saw, the lowest age among free chunks not yet due, and
   * passes skipped since (their ages owed to chunks free at that walk). */
  uint32_t pg_valid, pg_used, pg_puts, pg_min_age, pg_credit;
  uint64_t walk_tick;     /* the pass (ohi_purge_tick) that last looked at it; 0: none */
  /* The page walk's summary (purgewalk.c), for slabs of chunks of at most
   * an eighth of a page (NULL otherwise): the pages every chunk of which was
   * free (and none cached) at the last walk, committed, and the passes each
   * has been so. A walk after which no chunk left the local free list (used
   * and puts say so) ages those pages here without reading their words. */
  uint64_t *pw_free;      /* bitmap, after the words and dpages */
  uint8_t *pw_age;        /* one per page, after pw_free */
};
/* Slabs whose pages hold this many chunks or more keep the page walk's summary. */
#define OHI_PW_CHUNKS 8u
/* Invariants (owner or class lock held; xfree collected):
 *   nchunks = used + nfree + (nchunks - bump), nfree = chunks on the local
 *   free list (ohi_slab_nfree)
 *   a chunk on the local free list has word OHI_W_FREE | flags | next
 *   used = 0 <=> the slab is empty; pages in [touched, size) were never touched */

/* A large allocation (bigger than a slab): its own mapping, one refcount. */
typedef struct ohi_large_s {
  ohi_span_t span;        /* kind OHI_SPAN_LARGE; owner = heap */
  uint32_t refcount;      /* state word as for chunks; 0 while cached free */
  uint32_t guarded;       /* cached free and made inaccessible (debug level 2) */
  uint64_t freed_ms;      /* when it went to a cache of free spans */
  struct ohi_large_s *next, *prev; /* the heap's list of mapped spans (large_lock) */
  struct ohi_large_s *fnext;       /* in a thread's or the heap's cache of free spans */
} ohi_large_t;

#define OHI_EXACT_DIV_MAGIC(d) (UINT64_MAX / (uint64_t)(d) + 1)
OHI_INLINE uint32_t ohi_fast_div(uint64_t magic, uint32_t n) {
  return (uint32_t)(((unsigned __int128)magic * n) >> 64);
}
OHI_INLINE uint32_t *ohi_slab_words(ohi_slab_t *s) { return (uint32_t *)(s + 1); }
/* A chunk went on the local free list: used - 1 and puts + 1 (wrapping), in
 * one store where the two halves of used_puts allow it (used >= 1, so the
 * low half does not borrow; the high half's carry leaves the word). */
OHI_INLINE void ohi_slab_put_one(ohi_slab_t *s) {
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
  s->used_puts += ((uint64_t)1 << 32) - 1;
#else
  s->used--;
  s->puts++;
#endif
}
OHI_INLINE uint32_t ohi_slab_nfree(const ohi_slab_t *s) { return s->bump - s->used; }
OHI_INLINE void *ohi_chunk_ptr(const ohi_slab_t *s, uint32_t idx) {
  return (void *)(s->span.base + (uintptr_t)idx * s->chunk_size);
}

/* One size class of a heap: its central lists and counters. */
typedef struct ohi_class_s {
  ohi_lock_t lock;
  ohi_slab_t *partial, *full, *empty; /* central slabs, doubly linked */
  uint32_t chunk_size;
  uint32_t nchunks;       /* per slab */
  uint64_t div_magic;
  uint64_t slabs;         /* atomic: slabs of the class, owned or central */
  uint64_t empty_count;   /* central empty slabs */
  uint64_t allocs, frees; /* operations on the locked path, and retired caches' */
  int64_t cached_out;     /* chunks held by a binding's cache (take - return) */
  uint64_t remote_epoch;  /* atomic: a slab's cross-thread stack went from empty
                           * to non-empty (owners rescan their slabs) */
} __attribute__((aligned(OHI_CACHE_LINE))) ohi_class_t;

/* A thread's share of a heap, for one class: the slabs it owns. */
typedef struct ohi_tbin_s {
  ohi_slab_t *cur;        /* allocating from: has local free chunks or bump room */
  ohi_slab_t *owned;      /* every owned slab of the class (cur included): those
                           * with room first, full ones at the back */
  ohi_slab_t *owned_tail;
  uint32_t nowned;
  uint32_t nempty;        /* owned slabs with used == 0, the current one aside
                           * (owner-written; stats read) */
  /* Chunks on the owned slabs' local free lists = nfree_adj - allocs + frees
   * (ohi_bin_nfree): a fast allocation pops one chunk and counts one alloc,
   * a fast free pushes one and counts one free, so the fast paths keep the
   * figure with the counter stores they make anyway; every other change of
   * either side goes through ohi_bin_nfree_add or ohi_bin_count. All three
   * change only inside the cache's window (or under a steal). Two stores
   * fewer per alloc+free pair (bench/RESULTS.md, session 6). */
  int64_t nfree_adj;
  uint64_t seen_remote;   /* the class's remote_epoch at the last full scan */
  /* The class's operations through this cache (owner-written; stats read):
   * next to cur, so the fast paths touch one line of the bin. */
  uint64_t allocs, frees;
} ohi_tbin_t;

/* Owner-written, stats read (relaxed; exact once the owner is quiet). */
OHI_INLINE int64_t ohi_bin_nfree(const ohi_tbin_t *b) {
  return OHI_LOAD_RELAXED(&b->nfree_adj) - (int64_t)OHI_LOAD_RELAXED(&b->allocs) + (int64_t)OHI_LOAD_RELAXED(&b->frees);
}
/* The free lists gained d chunks (lost, for d < 0) other than by a fast path. */
OHI_INLINE void ohi_bin_nfree_add(ohi_tbin_t *b, int64_t d) { OHI_OWNER_INC(&b->nfree_adj, d); }
/* The free lists hold n chunks, whatever the counters say (a drain, or the
 * counters handed to the class): the owner is out of its window. */
OHI_INLINE void ohi_bin_nfree_set(ohi_tbin_t *b, int64_t n) {
  OHI_STORE_RELAXED(&b->nfree_adj, n + (int64_t)OHI_LOAD_RELAXED(&b->allocs) - (int64_t)OHI_LOAD_RELAXED(&b->frees));
}
/* Operations counted without a matching change of the free lists (a refill's
 * allocation, a release into another owner's slab, a binding's batch). */
OHI_INLINE void ohi_bin_count(ohi_tbin_t *b, uint64_t allocs, uint64_t frees) {
  if (allocs) OHI_OWNER_INC(&b->allocs, allocs);
  if (frees) OHI_OWNER_INC(&b->frees, frees);
  OHI_OWNER_INC(&b->nfree_adj, (int64_t)allocs - (int64_t)frees);
}

/* Draining or inspecting a thread cache from another thread (the purger)
 * without a lock or an atomic read-modify-write on the owner's fast path:
 *   owner:   in_op = 1; [compiler barrier]; if (steal) see below;
 *            ... use the cache and its slabs ...; in_op = 0 (release)
 *   stealer: steal = kind; ohi_os_process_barrier(); wait until in_op == 0;
 *            work on the cache's slabs; steal = 0 (release)
 * The process-wide barrier stands in for the fence the owner leaves out:
 * after it, either the stealer sees in_op == 1 (and waits) or the owner's
 * next check sees steal != 0. Without the barrier (ENOSYS) the purger leaves
 * the cache to its owner. What an owner that finds its cache stolen does
 * depends on the kind of steal:
 *   BYPASS  it bypasses the cache: its allocations go to the central lists,
 *           its frees to the cross-thread stacks (fork, destroy, a busy
 *           cache the purger must age, leak reports), and it sets want:
 *           the purger's pass gives a busy cache back after the slab it is
 *           on, so a busy owner is bypassed for one slab's purge at most;
 *   YIELD   it asks for the cache back (want = 1) and waits: the purger
 *           ages a quiet owner's slabs this way and gives them back after
 *           the slab it is on, so an owner misjudged quiet (descheduled
 *           mid-burst, valgrind's one-thread-at-a-time) loses nothing of its
 *           cache's behaviour - a free still releases the slab it empties
 *           under a zero delay - and waits at most one slab's purge. */
#define OHI_RUN_BUCKETS 64
#define OHI_RUNC_PAGES 64
#define OHI_RUNC_N 4
#define OHI_STEAL_BYPASS 1u
#define OHI_STEAL_YIELD 2u
/* Run slabs by the longest run they can serve (ohi_run_reach: 1 .. 63
 * pages, and 64 or more: OHI_RUN_BUCKETS), so a refill finds the slab that
 * fits best without a search (bit b-1 of rmask: bucket b holds one); linked
 * through the slabs' rnext/rprev, the bucket in their rbucket. An owner's
 * (ohi_runcache_t) or the heap's central run slabs' (oh_slab_s). */
typedef struct ohi_rbuckets_s {
  uint64_t rmask;
  ohi_slab_t *rbuckets[OHI_RUN_BUCKETS + 1];
} ohi_rbuckets_t;

/* A thread cache's part in the run tier (runs.c), allocated with it for a
 * heap with runs only. */
typedef struct ohi_runcache_s {
  /* Owned run slabs by their reach. The owner keeps them; a collect by
   * anyone else may leave a slab on a lower bucket than its due, which a
   * refill's sweep corrects. */
  ohi_rbuckets_t rb;
  /* Runs of pages this cache freed into its own run slabs, kept claimed
   * (first page's word CACHED, pages still used) for the next allocation of
   * as many pages: a pair of alloc and free then costs two stores and no
   * page map, as a chunk's does. Per page count up to OHI_RUNC_PAGES,
   * OHI_RUNC_N each, within OH_OPT_TCACHE_BYTES; handed to the page maps
   * (ohi_tcache_flush_runs) before the cache adopts or makes a run slab, at
   * each purge pass over the cache, and when it is drained. */
  uint64_t runc_bytes;
  /* Pages of runs on the owned slabs' quick lists (runpage.c): those runs
   * go back to their page maps where kept runs do, and when a slab leaves. */
  uint64_t quick_pages;
  uint8_t runc_n[OHI_RUNC_PAGES + 1];
  void *runc[OHI_RUNC_PAGES + 1][OHI_RUNC_N];
  uint32_t *runw[OHI_RUNC_PAGES + 1][OHI_RUNC_N]; /* their state words */
} ohi_runcache_t;

struct ohi_tcache_s {
  uint32_t in_op;   /* owner: inside a cache operation */
  uint32_t steal;   /* stealer: keep out */
  uint32_t holds;   /* owner sets, stealer clears: the cache owns slabs */
  uint32_t want;    /* owner: wants its stolen cache back (stealer clears) */
  uint64_t seen_ops, seen_ms; /* purger's idle detection, under registry lock */
  uint64_t seen_ops_tick;     /* purger: the pass (ohi_purge_tick) that last saw ops change */
  uint64_t seen_dirty;        /* purger: ohi_dirty_epoch at its last look */
  uint64_t purged_tick;       /* owner: ohi_purge_tick when it last finished a pass over its own slabs */
  uint64_t pass_start;        /* owner: ohi_purge_tick when its unfinished pass began (0: none) */
  uint32_t pending;           /* purger: dirty slabs were left for a later pass */
  uint32_t explicit_owner;    /* 1: an owner handle a binding holds (owner.c), not a thread's */
  uint64_t calls;             /* owner-written: a binding's calls through an owner handle
                               * (the purger's idle test counts them with allocs and frees) */
  uint64_t last_call_ms;      /* owner-written (coarse clock): an owner handle's last call */
  uint64_t reclaim_ms;        /* owner-written: no look at other owners before (tcache.c) */
  uint64_t heap_id; /* 0 once the heap is destroyed */
  oh_slab_t *heap;
  size_t meta_size;
  ohi_tcache_t *next, *prev; /* the heap's list, under the registry lock */
  int64_t *cached;           /* per class, owner-written: chunks a binding holds
                              * through this owner (its share of cached_out) */
  /* Large spans (large.c): freed ones kept for reuse, newest first (owner,
   * or a stealer), and the owner-written counts of large operations. */
  ohi_large_t *lfree;
  uint64_t lfree_bytes, lfree_count;
  /* Operations of the run tier (runs.c; its bin counts pages), owner-written. */
  uint64_t rallocs, rfrees;
  /* The slab of the owner's last fast release: a release into it skips the
   * region map (release.c). Trusted only while the slab's owner is this
   * cache (checked inside the cache's window); cleared when a slab leaves.
   * last_run: the same for the run slab of its last release of a run. */
  ohi_slab_t *last_free, *last_run;
  uint64_t lallocs, lfrees, lalloc_bytes, lfree_bytes_total;
  /* The run tier's part of the cache (runs.c), after the bins and counts;
   * NULL for a heap without runs, whose caches do not carry it. */
  struct ohi_runcache_s *rc;
  ohi_tbin_t bins[];
};

#define OHI_MAX_SLOTS 64 /* heaps that get thread caches at once */
/* The slot of a heap without thread caches: its entry of every thread's
 * cache array stays NULL, so the fast paths index without a test. */
#define OHI_NO_SLOT OHI_MAX_SLOTS
#define OHI_GRID_MAX (65 + 64 * 21) /* slab sizes up to 2^31 */

struct oh_slab_s {
  uint64_t id;
  uint32_t magic;   /* OHI_HEAP_LIVE while registered; 0 once destroyed */
  int slot;         /* thread-cache slot, OHI_NO_SLOT = none */
  uint32_t nclasses;
  size_t slab_size;
  size_t max_chunk; /* the largest class's chunk size: bigger requests are large spans (or refused, pools) */
  /* Runs of pages (runs.c): sizes run_min .. run_max are served by the run
   * class (the last one, run_class) rather than their size class, outside
   * debug mode; big_min is the smallest size off the small fast path. A heap
   * without runs has run_class = OHI_NO_RUNS and run_min > run_max. */
  size_t run_min, run_max, big_min;
  uint32_t run_class;
  uint32_t page_shift;
  /* The run class's central slabs by their longest free run (under its
   * lock), so a pick finds one that fits at once. */
  ohi_rbuckets_t central_runs;
  unsigned slab_shift;
  bool single;      /* a pool: one class of exactly classes[0].chunk_size */
  size_t max_objects;
  size_t meta_size;
  uint64_t empty_bytes; /* atomic: bytes of central empty slabs */
  /* Large spans (large.c). The lock covers the list of every mapped span
   * (changed only with a mapping or an unmapping) and the shared cache of
   * free spans; threads reuse their own freed spans without it. */
  ohi_lock_t large_lock;
  ohi_large_t *large;      /* every mapped large span: live or cached free */
  ohi_large_t *large_free; /* the shared cache: freed spans kept for reuse, newest first */
  uint64_t large_free_count, large_free_bytes;
  uint64_t large_mapped;   /* atomic: bytes of the spans on the list */
  /* atomic: large operations not counted by a thread cache (no cache, or a
   * retired one's): in use = allocs - frees over these and the caches' */
  uint64_t large_allocs, large_frees, large_alloc_bytes, large_free_bytes_total;
  uint64_t purged_bytes, purge_count; /* atomic: this heap's share of the purge counters */
  uint64_t run_allocs, run_frees; /* atomic: run operations not counted by a thread cache */
  ohi_tcache_t *tcaches; /* under the registry lock */
  uint32_t owner_handles; /* of tcaches, the binding's owner handles (owner.c); written under the registry lock */
  oh_slab_t *next, *prev; /* the registry, under the registry lock */
  uint8_t grid[OHI_GRID_MAX];
  ohi_class_t classes[];
};
#define OHI_HEAP_LIVE 0x6f686870u
#define OHI_NO_RUNS UINT32_MAX
/* The size classes a user sees (the run class is the core's own). */
OHI_INLINE unsigned ohi_public_classes(const oh_slab_t *h) { return h->nclasses - (h->run_class != OHI_NO_RUNS); }

enum ohi_release_mode { OHI_RELEASE_FREE = 0, OHI_RELEASE_DECREF = 1 };

#endif /* OFFHEAP_SLAB_TYPES_H */
