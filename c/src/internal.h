/* internal.h - what the sources of the offheap core share and nothing else sees.
 *
 * This header doubles as the map of the sources: its sections follow the
 * files that define them, lowest layer first. Each layer calls only the ones
 * above it in this list:
 *
 *   os_unix.c / os_windows.c  OS primitives (ohi_os_*): the only files that name
 *                             mmap, madvise, VirtualAlloc ...
 *   options.c                 tunables, error reporting, version (a leaf: other
 *                             files register change hooks with it)
 *   pages.c                   page mappings with accounting, fault injection,
 *                             oh_decommit
 *   region.c                  the region map: which span owns an address
 *   meta.c                    type-stable metadata memory
 *   segment.c                 the cache of free slab segments (address space)
 *   map.c                     oh_map / oh_unmap
 *   -- the slab tier (overview: heap.c) --
 *   sizeclass.c               size classes of a heap
 *   heap.c                    heaps: creation, registry, destroy, fork
 *   central.c                 per-class central lists, slab creation and release
 *   tcache.c                  thread caches: slabs owned by a thread
 *   large.c                   allocations bigger than a slab
 *   release.c                 pointer classification, alloc/free entry points
 *   owner.c                   owner handles: the caches of tcache.c held by a binding
 *   purge.c                   the purge policy and the purger thread
 *   stats.c                   statistics and the leak report
 *   pool.c, arena.c           built on the slab tier and the page layer
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

#include "offheap.h"

#include <errno.h>
#include <pthread.h>
#include <time.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#define OHI_LIKELY(x) __builtin_expect(!!(x), 1)
#define OHI_UNLIKELY(x) __builtin_expect(!!(x), 0)
#define OHI_INLINE static inline __attribute__((always_inline))
#define OHI_NOINLINE __attribute__((noinline))
#define OHI_CACHE_LINE 64

#define OHI_LOAD_RELAXED(p) __atomic_load_n((p), __ATOMIC_RELAXED)
#define OHI_LOAD_ACQUIRE(p) __atomic_load_n((p), __ATOMIC_ACQUIRE)
#define OHI_STORE_RELAXED(p, v) __atomic_store_n((p), (v), __ATOMIC_RELAXED)
#define OHI_STORE_RELEASE(p, v) __atomic_store_n((p), (v), __ATOMIC_RELEASE)
#define OHI_CAS(p, expp, v) \
  __atomic_compare_exchange_n((p), (expp), (v), false, __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE)
#define OHI_FETCH_ADD(p, v) __atomic_fetch_add((p), (v), __ATOMIC_RELAXED)
#define OHI_FETCH_SUB(p, v) __atomic_fetch_sub((p), (v), __ATOMIC_RELAXED)
#define OHI_EXCHANGE(p, v) __atomic_exchange_n((p), (v), __ATOMIC_ACQ_REL)
/* A counter only its owner thread writes: a plain load and store, no lock prefix,
 * yet readable by other threads without a data race. */
#define OHI_OWNER_INC(p, v) OHI_STORE_RELAXED((p), OHI_LOAD_RELAXED(p) + (v))

/* ASan builds (C tests, go test -asan): a freed chunk is poisoned until it is
 * handed out again, so a use after free is reported at the guilty access. */
#if defined(__SANITIZE_ADDRESS__)
#define OHI_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define OHI_ASAN 1
#endif
#endif
#ifdef OHI_ASAN
#include <sanitizer/asan_interface.h>
#define OHI_ASAN_POISON(p, n) ASAN_POISON_MEMORY_REGION((p), (n))
#define OHI_ASAN_UNPOISON(p, n) ASAN_UNPOISON_MEMORY_REGION((p), (n))
#else
#define OHI_ASAN_POISON(p, n) ((void)(p), (void)(n))
#define OHI_ASAN_UNPOISON(p, n) ((void)(p), (void)(n))
#endif

/* ---- locks ---------------------------------------------------------------- */

typedef pthread_mutex_t ohi_lock_t;
#define OHI_LOCK_INIT PTHREAD_MUTEX_INITIALIZER
void ohi_lock_init(ohi_lock_t *l);
#define ohi_lock(l) pthread_mutex_lock(l)
#define ohi_unlock(l) pthread_mutex_unlock(l)
#define ohi_lock_destroy(l) pthread_mutex_destroy(l)

/* ---- OS primitives (os_unix.c, os_windows.c) -------------------------------
 * Each returns 0 or an errno value. Addresses and sizes marked "page aligned"
 * must be: a misaligned decommit or unmap is a bug in the caller (the OS would
 * round outward and destroy live neighbours), so the primitive refuses it with
 * EINVAL instead of rounding. */

size_t ohi_os_page_size(void);
/* Maps size bytes (page multiple) aligned to align (a power of two >= page
 * size), zeroed, read-write, into *out. */
int ohi_os_map(size_t size, size_t align, void **out);
/* addr, size page aligned; a whole mapping or a part of one. */
int ohi_os_unmap(void *addr, size_t size);
/* addr, size page aligned. advice: 0 = contents dropped now (MADV_DONTNEED /
 * DiscardVirtualMemory), 1 = lazily (MADV_FREE / MEM_RESET). */
int ohi_os_decommit(void *addr, size_t size, int advice);
/* addr, size page aligned; accessible = 0 makes any access fault. */
int ohi_os_protect(void *addr, size_t size, int accessible);
/* Best effort transparent huge page hint; never fails. */
void ohi_os_hugepage_hint(void *addr, size_t size);
/* Monotonic milliseconds. */
uint64_t ohi_os_now_ms(void);
/* The same clock read cheaply (Linux CLOCK_MONOTONIC_COARSE: no TSC read,
 * up to a tick behind): for stamps on hot paths (large.c). */
uint64_t ohi_os_now_ms_coarse(void);
/* A full memory barrier executed by every running thread of the process
 * (Linux membarrier PRIVATE_EXPEDITED, Windows FlushProcessWriteBuffers).
 * Lets one rare side of a Dekker-style handshake pay for the fence the
 * frequent side leaves out. ENOSYS where the OS has none. */
int ohi_os_process_barrier(void);
/* Whether memory decommitted with advice 0 reads as zero afterwards: Linux
 * MADV_DONTNEED on private anonymous memory does; MADV_FREE_REUSABLE (macOS),
 * MADV_FREE (the BSDs), DiscardVirtualMemory and MEM_RESET (Windows) leave
 * the contents undefined, so a caller that needs zeroes writes them. */
#if defined(__linux__)
#define OHI_OS_DECOMMIT_ZEROES 1
#else
#define OHI_OS_DECOMMIT_ZEROES 0
#endif

/* n rounded up to whole pages (n <= SIZE_MAX - page size). */
OHI_INLINE size_t ohi_round_pages(size_t n) {
  size_t ps = ohi_os_page_size();
  return (n + ps - 1) & ~(ps - 1);
}

/* Fault injection for tests (pages.c): when armed, the next OS mapping calls
 * fail with ENOMEM. fail_every = k fails every k-th map call; fail_after_bytes
 * fails every map once that many bytes have been mapped since arming.
 * Both 0 = disarmed. */
void ohi_test_fail_os(uint64_t fail_every, uint64_t fail_after_bytes);

/* ---- options and errors (options.c) ------------------------------------- */

extern long long ohi_options[OH_OPT_COUNT_];
void ohi_options_init(void); /* idempotent, thread safe */
/* Called after oh_option_set changes an option (at most 4 hooks; the purge
 * policy registers one). Keeps options.c a leaf. */
void ohi_option_hook(void (*fn)(oh_option_t));
OHI_INLINE long long ohi_opt(oh_option_t o) { return OHI_LOAD_RELAXED(&ohi_options[o]); }

/* ---- the memory limit (memlimit.c, cgroup.c) ------------------------------
 * OH_OPT_MEMORY_LIMIT's state, mirrored from the option by
 * ohi_memlimit_apply (options.c calls it on every change). */
#define OHI_MEMLIMIT_MAX (1LL << 62)
/* log2 of the step, 0 without a limit: the commit accounting (pages.c) tests
 * it and calls ohi_memlimit_crossed when the committed bytes change step. */
extern uint32_t ohi_memlimit_shift;
void ohi_memlimit_apply(long long limit);
void ohi_memlimit_crossed(uint64_t before, uint64_t after);
OHI_INLINE void ohi_memlimit_note(uint64_t before, uint64_t after) {
  uint32_t sh = OHI_LOAD_RELAXED(&ohi_memlimit_shift);
  if (OHI_LIKELY(sh == 0)) return;
  if ((before >> sh) != (after >> sh)) ohi_memlimit_crossed(before, after);
}
/* Growth of n bytes by the core itself (a slab segment, a large span, an
 * oh_map mapping, an arena block): true when admitted, *held = the bytes
 * reserved (give them back with ohi_memlimit_settle after the pages are
 * accounted); false with errno ENOMEM and the limit noted (ohi_error_note)
 * for the caller's report. Never purges a thread cache
 * synchronously: callable inside a thread cache operation, with no lock held. */
bool ohi_memlimit_grow(size_t n, size_t *held);
void ohi_memlimit_settle(size_t held);
/* The limit `auto` finds: the smallest cgroup memory limit on the way from
 * this process's cgroup to its hierarchy's root, v1 or v2; -1 when none.
 * root prefixes every path read (tests: fixture trees). */
long long ohi_cgroup_memory_limit(const char *root);
void ohi_memlimit_lock_all(void); /* fork */
void ohi_memlimit_unlock_all(bool child);

/* Record an error: sets errno, formats the thread's last-error message, calls
 * the error handler. ohi_fail returns -1, ohi_fail_null NULL. */
#if defined(__MINGW32__)
/* mingw-w64 formats with its own C99 stdio (enabled by -std=c11 and
 * _GNU_SOURCE); the printf archetype would check msvcrt's, which lacks %zu. */
#define OHI_PRINTF_FORMAT gnu_printf
#else
#define OHI_PRINTF_FORMAT printf
#endif
int ohi_fail(int err, const char *fmt, ...) __attribute__((format(OHI_PRINTF_FORMAT, 2, 3), cold));
void *ohi_fail_null(int err, const char *fmt, ...) __attribute__((format(OHI_PRINTF_FORMAT, 2, 3), cold));
/* Notes why a lower layer refused (NULL clears): the caller's next error
 * report on this thread carries it after its own message. */
void ohi_error_note(const char *fmt, ...) __attribute__((format(OHI_PRINTF_FORMAT, 1, 2), cold));

/* ---- the region map (region.c) ---------------------------------------------
 * Every mapping the library hands out data from is registered, per 64 KiB
 * granule, with a pointer to the span that describes it. Lookups are lock free
 * and never touch the looked-up address, so any pointer - foreign, interior,
 * stale - can be classified safely.
 *   granule(p) = p >> OHI_GRANULE_SHIFT            (48-bit user addresses)
 *   entry(p)   = ohi_region_l1[granule >> 16][granule & 0xffff]
 * Level-2 tables are mapped on first use and never freed. */

#define OHI_GRANULE_SHIFT 16
#define OHI_GRANULE ((size_t)1 << OHI_GRANULE_SHIFT)
#define OHI_ADDRESS_BITS 48
#define OHI_L2_BITS 16
#define OHI_L1_BITS (OHI_ADDRESS_BITS - OHI_GRANULE_SHIFT - OHI_L2_BITS)

enum ohi_span_kind { OHI_SPAN_SLAB = 1, OHI_SPAN_LARGE = 2, OHI_SPAN_MAP = 3, OHI_SPAN_ARENA = 4 };

/* The common head of everything the region map points to. */
typedef struct ohi_span_s {
  uintptr_t base;  /* first byte */
  size_t size;     /* bytes; a multiple of the page size */
  uint32_t kind;   /* enum ohi_span_kind */
  uint32_t pad_;
  void *owner;     /* the oh_slab_t heap, or NULL for oh_map */
} ohi_span_t;

/* Span headers (and the slab fields a release reads) are written and read
 * with relaxed atomics: a release of a stale or foreign pointer may read a
 * header at the moment its metadata is freed or reused - safe, because
 * metadata memory is never unmapped and every deciding field is checked -
 * and the atomics make that designed race a non-race (plain MOVs on x86). */
OHI_INLINE void ohi_span_publish(ohi_span_t *sp, uintptr_t base, size_t size, uint32_t kind, void *owner) {
  OHI_STORE_RELAXED(&sp->base, base);
  OHI_STORE_RELAXED(&sp->size, size);
  OHI_STORE_RELAXED(&sp->owner, owner);
  OHI_STORE_RELEASE(&sp->kind, kind); /* last: a reader sees a whole span or kind 0 */
}

typedef ohi_span_t *ohi_region_l2_t[(size_t)1 << OHI_L2_BITS];
extern ohi_region_l2_t *ohi_region_l1[(size_t)1 << OHI_L1_BITS];

OHI_INLINE ohi_span_t *ohi_region_lookup(const void *p) {
  uintptr_t g = (uintptr_t)p >> OHI_GRANULE_SHIFT;
  if (OHI_UNLIKELY(g >> (OHI_L1_BITS + OHI_L2_BITS))) return NULL;
  ohi_region_l2_t *l2 = OHI_LOAD_ACQUIRE(&ohi_region_l1[g >> OHI_L2_BITS]);
  if (OHI_UNLIKELY(l2 == NULL)) return NULL;
  return OHI_LOAD_ACQUIRE(&(*l2)[g & (((uintptr_t)1 << OHI_L2_BITS) - 1)]);
}
/* Points every granule of [base, base+size) at span (NULL unregisters).
 * base granule aligned. Returns 0 or ENOMEM (a level-2 table could not be
 * mapped). */
int ohi_region_set(uintptr_t base, size_t size, ohi_span_t *span);

/* ---- page mappings (pages.c) -----------------------------------------------
 * Memory states of a page the library maps:
 *   reserved     mapped, never touched: costs address space only
 *   committed    touched (or about to be) and possibly resident
 *   decommitted  contents dropped (madvise); reads as zero where
 *                OHI_OS_DECOMMIT_ZEROES, committed again by the OS on first touch
 * ohi_counters.committed counts pages the library touched or handed out and has
 * not decommitted since: an upper bound on what it holds resident. */

/* A mapping whose pages count as committed at once (metadata, large spans,
 * oh_map, arena blocks). align: a power of two >= the granule or the page. */
void *ohi_pages_map(size_t size, size_t align);
/* A mapping that stays reserved until its pages are handed out (slab
 * segments: ohi_pages_commit_account as they are). */
void *ohi_pages_reserve(size_t size, size_t align);
/* Unmaps: committed bytes of the range given separately. */
void ohi_pages_unmap_accounted(void *addr, size_t size, size_t committed);
/* Unmaps a range that is committed whole. */
void ohi_pages_unmap(void *addr, size_t size);
/* Decommits page-aligned [addr, addr+size) of the library's own memory and
 * accounts for it; returns bytes decommitted (0 on failure). */
size_t ohi_pages_decommit(void *addr, size_t size);
/* Accounting only: bytes that went from decommitted/reserved to committed
 * (the OS commits on first touch) or back. */
void ohi_pages_commit_account(size_t size);
void ohi_pages_uncommit_account(size_t size);
#define ohi_pages_recommit_account ohi_pages_commit_account
/* Set once a decommit used lazy advice (MADV_FREE): decommitted memory is no
 * longer known to read as zero. */
extern uint32_t ohi_lazy_decommitted;
OHI_INLINE bool ohi_decommitted_reads_zero(void) {
  return OHI_OS_DECOMMIT_ZEROES && OHI_LOAD_RELAXED(&ohi_lazy_decommitted) == 0;
}
/* Fault injection on decommit (tests): the next n decommits fail with EAGAIN. */
void ohi_test_fail_decommit(uint64_t n);

/* Global counters (bytes unless said otherwise). */
typedef struct ohi_counters_s {
  uint64_t mapped, committed, decommitted_total, purges;
} ohi_counters_t;
extern ohi_counters_t ohi_counters;

/* ---- metadata memory (meta.c) ----------------------------------------------
 * Blocks handed out here are never unmapped, so a racing lookup of a stale
 * pointer reads old or zeroed metadata, never faults. Freed blocks are
 * decommitted (they read as zero when reused). */
void *ohi_meta_alloc(size_t size); /* zeroed, page aligned; NULL on ENOMEM */
void ohi_meta_free(void *p, size_t size);
void ohi_meta_lock_all(void);   /* fork: prefork */
void ohi_meta_unlock_all(bool child);

/* ---- the segment cache (segment.c) -----------------------------------------
 * Free slab segments (data only: reserved or decommitted, unregistered), shared
 * by every heap and size class: take one of the given size or map new. Up to
 * OH_OPT_SEGMENT_CACHE_BYTES of them stay mapped; oh_purge unmaps them all.
 * seg_shift = log2(segment size). */
void *ohi_segment_take(unsigned seg_shift);
void ohi_segment_give(void *seg, unsigned seg_shift); /* must hold no committed page */
size_t ohi_segment_cache_count(void);
size_t ohi_segment_cache_trim(size_t keep_bytes); /* unmaps beyond keep; returns bytes unmapped */
void ohi_segment_lock_all(void);
void ohi_segment_unlock_all(bool child);
void ohi_region_lock_all(void);
void ohi_region_unlock_all(bool child);

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
  uint64_t *dpages;       /* bitmap of decommitted pages, after the words */
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
  uint32_t free_head;     /* first index of the local free list, or OHI_W_END */
  uint32_t pad1_;
  uint32_t bump;          /* chunks [bump, nchunks) never handed out */
  uint32_t used;          /* handed out and not on the local free list */
  uint32_t list;          /* enum ohi_slab_list */
  uint32_t guarded;       /* free chunks whose pages are inaccessible (debug) */
  uint64_t empty_since_ms;/* central empty list: when it got there */
  size_t touched;         /* bytes from the base handed out at least once (page rounded) */
  uint32_t puts;          /* chunks put on the local free list, ever (wraps) */
  /* The purge walk's summary (purge.c), kept by whoever holds the slab: the
   * used and puts it saw, the lowest age among free chunks not yet due, and
   * passes skipped since (their ages owed to chunks free at that walk). */
  uint32_t pg_valid, pg_used, pg_puts, pg_min_age, pg_credit;
};
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
  uint64_t nfree;         /* chunks on the owned slabs' local free lists (likewise) */
  uint64_t seen_remote;   /* the class's remote_epoch at the last full scan */
  /* The class's operations through this cache (owner-written; stats read):
   * next to cur and nfree, so the fast paths touch one line of the bin. */
  uint64_t allocs, frees;
} ohi_tbin_t;

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
 *           cache the purger must age, leak reports);
 *   YIELD   it asks for the cache back (want = 1) and waits: the purger
 *           ages a quiet owner's slabs this way and gives them back after
 *           the slab it is on, so an owner misjudged quiet (descheduled
 *           mid-burst, valgrind's one-thread-at-a-time) loses nothing of its
 *           cache's behaviour - a free still releases the slab it empties
 *           under a zero delay - and waits at most one slab's purge. */
#define OHI_STEAL_BYPASS 1u
#define OHI_STEAL_YIELD 2u
struct ohi_tcache_s {
  uint32_t in_op;   /* owner: inside a cache operation */
  uint32_t steal;   /* stealer: keep out */
  uint32_t holds;   /* owner sets, stealer clears: the cache owns slabs */
  uint32_t want;    /* owner: waiting for a YIELD steal to end (stealer clears) */
  uint64_t seen_ops, seen_ms; /* purger's idle detection, under registry lock */
  uint64_t seen_ops_tick;     /* purger: the pass (ohi_purge_tick) that last saw ops change */
  uint64_t seen_dirty;        /* purger: ohi_dirty_epoch at its last look */
  uint64_t purged_tick;       /* owner: ohi_purge_tick when it last purged its own slabs */
  uint32_t pending;           /* purger: dirty slabs were left for a later pass */
  uint32_t explicit_owner;    /* 1: an owner handle a binding holds (owner.c), not a thread's */
  uint64_t calls;             /* owner-written: a binding's calls through an owner handle
                               * (the purger's idle test counts them with allocs and frees) */
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
  uint64_t lallocs, lfrees, lalloc_bytes, lfree_bytes_total;
  ohi_tbin_t bins[];
};

#define OHI_MAX_SLOTS 64 /* heaps that get thread caches at once */
#define OHI_GRID_MAX (64 + 64 * 21) /* slab sizes up to 2^31 */

struct oh_slab_s {
  uint64_t id;
  uint32_t magic;   /* OHI_HEAP_LIVE while registered; 0 once destroyed */
  int slot;         /* thread-cache slot, -1 = none */
  uint32_t nclasses;
  size_t slab_size;
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
  ohi_tcache_t *tcaches; /* under the registry lock */
  oh_slab_t *next, *prev; /* the registry, under the registry lock */
  uint8_t grid[OHI_GRID_MAX];
  ohi_class_t classes[];
};
#define OHI_HEAP_LIVE 0x6f686870u

enum ohi_release_mode { OHI_RELEASE_FREE = 0, OHI_RELEASE_DECREF = 1 };

/* ---- size classes (sizeclass.c) ---- */
OHI_INLINE unsigned ohi_grid_index(size_t n) {
  if (n <= 1024) return n == 0 ? 0 : (unsigned)((n + 15) / 16 - 1);
  unsigned e = 63u - (unsigned)__builtin_clzll((unsigned long long)(n - 1));
  unsigned j = (unsigned)((n - 1) >> (e - 6)) & 63u;
  return 64u + (e - 10u) * 64u + j;
}
size_t ohi_grid_value(unsigned i);
/* The chunk sizes of a heap (ascending, at most OH_MAX_CLASSES); returns the
 * count, or 0 with the error reported. */
unsigned ohi_classes_build(const oh_slab_config_t *c, uint32_t *sizes, const char *fn);
void ohi_class_init(ohi_class_t *c, size_t chunk, size_t slab_size);
OHI_INLINE unsigned ohi_class_of(oh_slab_t *h, size_t n) { return h->single ? 0 : h->grid[ohi_grid_index(n)]; }

/* ---- heaps (heap.c) ---- */
extern ohi_lock_t ohi_registry_lock;
extern oh_slab_t *ohi_heaps;          /* under ohi_registry_lock */
extern oh_slab_t *ohi_slots[OHI_MAX_SLOTS];
extern oh_slab_t *ohi_default_heap;   /* atomic */
oh_slab_t *ohi_get_default(void);
oh_slab_t *ohi_heap_new_single(size_t object_size, size_t slab_size, size_t max_objects);
int ohi_heap_destroy(oh_slab_t *h, const char *fn);
/* A handle that is not a live heap is refused (EINVAL) with fn's name. */
bool ohi_heap_check(oh_slab_t *h, const char *fn);
/* ohi_heap_check for a call about pointer p, which the message names. */
bool ohi_heap_check_ptr(oh_slab_t *h, const char *fn, const void *p);
void ohi_tls_register(void); /* thread-exit destructor for this thread's caches */

/* ---- central lists (central.c) ---- */
void ohi_list_remove(ohi_slab_t **head, ohi_slab_t *s);
void ohi_list_push(ohi_slab_t **head, ohi_slab_t *s);
ohi_slab_t **ohi_central_list(ohi_class_t *c, uint32_t list);
ohi_slab_t *ohi_slab_create(oh_slab_t *h, unsigned cls);
/* Gives an empty slab's memory away (decommitting what is still committed);
 * the slab is on no list. Returns bytes decommitted. */
size_t ohi_slab_release(oh_slab_t *h, ohi_slab_t *s);
/* Decommits the pages [first, last) of s not decommitted yet; returns bytes. */
size_t ohi_slab_decommit_pages(ohi_slab_t *s, size_t first, size_t last, bool *failed);
bool ohi_slab_page_decommitted(const ohi_slab_t *s, size_t pg);
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
void ohi_after_empty(oh_slab_t *h);
/* Debug: page guards and poison of a chunk. */
bool ohi_chunk_guard(void *p, size_t size, bool guard);
uint32_t ohi_chunk_debug_free(ohi_slab_t *s, void *p);
void ohi_chunk_debug_handout(ohi_slab_t *s, uint32_t idx, uint32_t w);

/* ---- thread caches (tcache.c) ---- */
extern __thread ohi_tcache_t *ohi_tls_caches[OHI_MAX_SLOTS] __attribute__((tls_model("initial-exec")));
ohi_tcache_t *ohi_tcache_create(oh_slab_t *h);
/* A cache with its counters, registered with h (tcache.c); NULL when out of
 * metadata memory or h is destroyed. explicit_owner: an owner handle. */
ohi_tcache_t *ohi_tcache_new(oh_slab_t *h, bool explicit_owner);
OHI_INLINE ohi_tcache_t *ohi_tcache_get(oh_slab_t *h) {
  int slot = h->slot;
  if (OHI_UNLIKELY(slot < 0)) return NULL;
  ohi_tcache_t *tc = ohi_tls_caches[slot];
  if (OHI_LIKELY(tc != NULL && OHI_LOAD_RELAXED(&tc->heap_id) == h->id)) return tc;
  return ohi_tcache_create(h);
}
/* The owner's side of the steal handshake (struct ohi_tcache_s). */
bool ohi_tcache_enter_stolen(ohi_tcache_t *tc); /* out of line: waits out a YIELD steal */
OHI_INLINE bool ohi_tcache_enter(ohi_tcache_t *tc) {
  OHI_STORE_RELAXED(&tc->in_op, 1u);
  __atomic_signal_fence(__ATOMIC_SEQ_CST);
  if (OHI_LIKELY(OHI_LOAD_ACQUIRE(&tc->steal) == 0)) return true;
  return ohi_tcache_enter_stolen(tc);
}
OHI_INLINE void ohi_tcache_leave(ohi_tcache_t *tc) { OHI_STORE_RELEASE(&tc->in_op, 0u); }
void *ohi_tcache_refill_alloc(oh_slab_t *h, ohi_tcache_t *tc, unsigned cls, uint32_t state, bool *zeroed);
void ohi_tcache_local_free_slow(oh_slab_t *h, ohi_tcache_t *tc, ohi_slab_t *s, bool was_full);
/* The owned list of a bin (owner or stealer). */
void ohi_bin_remove(ohi_tbin_t *b, ohi_slab_t *s);
void ohi_bin_disown(ohi_tbin_t *b, ohi_slab_t *s); /* off the list, counts kept */
void ohi_bin_note_emptied(ohi_tbin_t *b, ohi_slab_t *s); /* used fell to 0 */
void ohi_bin_push_front(ohi_tbin_t *b, ohi_slab_t *s);
/* Stealer side: take the cache away from its owner / give it back. */
bool ohi_tcache_steal(ohi_tcache_t *tc);
/* ohi_tcache_steal that gives up after spins yields while the owner is in an
 * operation (which may be the caller's own, on a refusal path). */
bool ohi_tcache_try_steal(ohi_tcache_t *tc, unsigned spins); /* BYPASS */
bool ohi_tcache_steal_yielding(ohi_tcache_t *tc); /* YIELD: check want between slabs */
void ohi_tcache_unsteal(ohi_tcache_t *tc);
/* Hands every slab of tc back to the central lists (owner, or stealer). */
bool ohi_tcache_abandon_all(oh_slab_t *h, ohi_tcache_t *tc); /* true: some slab emptied */
void ohi_tcache_unlink(oh_slab_t *h, ohi_tcache_t *tc); /* registry lock held */
void ohi_tcache_retire(oh_slab_t *h, ohi_tcache_t *tc); /* counters to the classes */

/* ---- large spans (large.c) ---- */
void *ohi_large_alloc(oh_slab_t *h, size_t n, bool zero, const char *fn);
void ohi_large_free(oh_slab_t *h, ohi_large_t *l);
size_t ohi_large_purge(oh_slab_t *h, uint64_t now, long long delay, bool force, uint64_t *next_deadline);
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
/* The owner's free of its own slab's claimed chunk (release.c; owner entered). */
void ohi_tcache_free_owned(oh_slab_t *h, ohi_tcache_t *tc, ohi_slab_t *s, uint32_t idx, bool count);

/* ---- purging (purge.c) ---- */
extern uint64_t ohi_dirty_epoch; /* atomic: bumped when a slab gets free chunks to age */
extern uint64_t ohi_purge_tick;  /* atomic: purge passes so far */
extern uint64_t ohi_purge_walked; /* atomic: state words the purge walks read (tests) */
/* The owner purges its own slabs (from a refill) when a pass has come since
 * it last did: busy caches are not stolen for it. */
void ohi_tcache_purge_self(oh_slab_t *h, ohi_tcache_t *tc);
/* The one question of the purge policy the tiers ask on their fast paths: is
 * freed memory released at the free (a delay of 0) instead of waiting for the
 * policy's passes? (purge.c decides everything else.) */
OHI_INLINE bool ohi_purge_at_free(void) { return ohi_opt(OH_OPT_PURGE_DELAY_MS) == 0; }
void ohi_purge_notify(void);  /* something waits for the delay: make sure the purger runs */
void ohi_purge_wake(void);    /* run a purge pass now, whatever the purger's deadline */
/* A slab got free chunks to age: make sure passes come every pass period. */
void ohi_purge_notify_dirty(void);
/* A heap maps fresh memory: free pages a pass has seen once are decommitted
 * now rather than after the delay (rate-limited; purge.c). */
void ohi_purge_pressure(void);
/* The memory limit is near: the purger's next pass (now) decommits every
 * free page and empty slab whatever their age (at most one such pass per
 * 10 ms). */
void ohi_purge_urgent(void);
/* Near or past the limit: purges the heaps' shared lists and large spans at
 * once (not thread caches: see ohi_memlimit_grow) and asks for an urgent
 * pass. Returns bytes decommitted. */
size_t ohi_purge_for_limit(void);
/* How long a thread cache must sit unused to be drained, and the purger's
 * shortest re-arm: the purge delay, but at least 100 ms, so that a delay of 0
 * does not wake the purger, nor steal a busy thread's cache, on every refill. */
#define OHI_IDLE_MS(delay) ((delay) > 100 ? (uint64_t)(delay) : (uint64_t)100)
size_t ohi_heap_purge(oh_slab_t *h, uint64_t now, bool force, uint64_t *next_deadline);
size_t ohi_heaps_purge_all(uint64_t now, bool force, uint64_t *next_deadline);
/* Page purge of one slab the caller holds exclusively (owner side stolen, or
 * central under the class lock). */
size_t ohi_slab_purge_pages(oh_slab_t *h, ohi_slab_t *s, bool force, uint64_t *more);
void ohi_purge_init(void);    /* once, when the first heap is made */
void ohi_purge_lock_all(void); /* fork */
void ohi_purge_unlock_all(bool child);

/* ---- statistics (stats.c) ---- */
void ohi_heap_stats_locked(oh_slab_t *h, oh_stats_t *out, bool classes);
extern uint64_t ohi_retired_allocs, ohi_retired_frees; /* under the registry lock */

/* ---- arenas (arena.c) ----
 * Blocks a language binding bumps through itself (arena.c explains): take
 * one with room for need bytes aligned to align (*cap usable bytes from the
 * returned address, which is aligned to 16; NULL with the error reported),
 * and settle how many bytes from its start were handed out. */
void *ohi_arena_take_block(oh_arena_t *a, size_t need, size_t align, size_t *cap);
void ohi_arena_settle(oh_arena_t *a, void *data, size_t used);

/* A condition variable whose timed waits count CLOCK_MONOTONIC time where
 * the OS lets it (the purger's and the memory-limit follower's waits must not
 * jump with the wall clock). */
OHI_INLINE void ohi_cond_init_monotonic(pthread_cond_t *cv) {
  pthread_condattr_t attr;
  pthread_condattr_init(&attr);
#if defined(__linux__)
  pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
#endif
  pthread_cond_init(cv, &attr);
  pthread_condattr_destroy(&attr);
}

#endif /* OFFHEAP_INTERNAL_H */
