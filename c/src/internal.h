/* internal.h - what the sources of the offheap core share and nothing else sees.
 *
 * Layers, each calling only the ones below it:
 *   os_unix.c / os_windows.c   the OS primitives (ohi_os_*): the only files that
 *                              name mmap, madvise, VirtualAlloc ...
 *   region.c                   the region map (which 64 KiB granules are ours and
 *                              what they hold), raw page mappings (oh_map), the
 *                              decommit entry point, type-stable metadata memory,
 *                              the cache of free slab segments, global counters
 *   slab.c                     size classes, slabs, reference counts, thread caches
 *   purge.c                    the purge policy: when freed memory is decommitted
 *   pool.c, arena.c            built on slab.c and region.c
 *   options.c                  tunables, error reporting, version
 *
 * Internal names carry the prefix ohi_ and are hidden from the shared object's
 * symbol table (-fvisibility=hidden; only OH_API names are exported).
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

/* Fault injection for tests (region.c): when armed, the next OS mapping calls
 * fail with ENOMEM. fail_every = k fails every k-th map call; fail_after_bytes
 * fails every map once that many bytes have been mapped since arming.
 * Both 0 = disarmed. */
void ohi_test_fail_os(uint64_t fail_every, uint64_t fail_after_bytes);

/* ---- options and errors (options.c) ------------------------------------- */

extern long long ohi_options[OH_OPT_COUNT_];
void ohi_options_init(void); /* idempotent, thread safe */
OHI_INLINE long long ohi_opt(oh_option_t o) { return OHI_LOAD_RELAXED(&ohi_options[o]); }

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

/* Page mappings with accounting (mapped/committed counters) and fault
 * injection. align: a power of two >= the granule. */
void *ohi_pages_map(size_t size, size_t align);
void ohi_pages_unmap(void *addr, size_t size);
/* Decommits page-aligned [addr, addr+size) of the library's own memory and
 * accounts for it; returns bytes decommitted (0 on failure). */
size_t ohi_pages_decommit(void *addr, size_t size);
/* The page-aligned part of a mapping that was decommitted is committed again
 * (touched by the user): only accounting, the OS commits on first touch. */
void ohi_pages_recommit_account(size_t size);

/* Type-stable metadata memory: blocks handed out here are never unmapped, so a
 * racing lookup of a stale pointer reads old or zeroed metadata, never faults.
 * Freed blocks are decommitted (they read as zero when reused). */
void *ohi_meta_alloc(size_t size); /* zeroed, page aligned; NULL on ENOMEM */
void ohi_meta_free(void *p, size_t size);

/* A cache of free slab segments (data only, decommitted, unregistered),
 * shared by every heap and size class: take one of the given size or map new.
 * seg_shift = log2(segment size). */
void *ohi_segment_take(unsigned seg_shift);
void ohi_segment_give(void *seg, unsigned seg_shift); /* must be decommitted */
size_t ohi_segment_cache_count(void);

/* Global counters (bytes unless said otherwise). */
typedef struct ohi_counters_s {
  uint64_t mapped, committed, decommitted_total, purges;
} ohi_counters_t;
extern ohi_counters_t ohi_counters;

/* ---- slabs and heaps (slab.c) --------------------------------------------- */

/* Per-chunk state word (words[i] of its slab):
 *   0                          never handed out (index >= bump), free
 *   1 .. OH_REFCOUNT_MAX       allocated, the value is the reference count
 *   OHI_W_CACHED               free, claimed by a thread cache or a free in progress
 *   OHI_W_FREE | [OHI_W_GUARD] | next
 *                              free, on the slab's free list; next = index of the
 *                              next free chunk or OHI_W_END; GUARD = its whole pages
 *                              are inaccessible (debug level 2) until handed out
 * Free chunks are never written to by the allocator: free lists live in these
 * words, so decommitting free chunks loses nothing and a use-after-free write
 * cannot corrupt the allocator. */
#define OHI_W_CACHED 0x40000000u
#define OHI_W_FREE 0x80000000u
#define OHI_W_GUARD 0x20000000u
#define OHI_W_NEXT 0x1fffffffu /* chunk indices: at most 2^26 per slab (16 B in 1 GiB) */
#define OHI_W_END OHI_W_NEXT
#define OHI_W_IS_FREE(w) ((w) == 0 || (w) >= OHI_W_CACHED)

typedef struct ohi_slab_s ohi_slab_t;
struct ohi_slab_s {
  ohi_span_t span;        /* kind OHI_SPAN_SLAB; owner = heap */
  uint32_t chunk_size;
  uint32_t nchunks;       /* chunk_size * nchunks <= span.size */
  uint64_t div_magic;     /* index = (offset * div_magic) >> 64, exact for offset < 2^32 */
  uint32_t *words;        /* nchunks state words, after this struct */
  size_t meta_size;       /* bytes of this struct + words (for ohi_meta_free) */
  /* Under the class lock: */
  ohi_slab_t *next, *prev; /* in the class's partial, full or empty list */
  uint32_t free_head;     /* first free-list index or OHI_W_END */
  uint32_t nfree;         /* chunks on the free list */
  uint32_t bump;          /* chunks [bump, nchunks) never handed out */
  uint32_t in_use;        /* chunks allocated or in thread caches */
  uint32_t class_index;
  uint32_t list;          /* which class list holds it (enum ohi_slab_list) */
  uint64_t empty_since_ms;/* when in_use fell to 0 */
  uint32_t claim;         /* token of the cache drawing from it (0 = none); a hint */
  uint32_t guarded;       /* free chunks whose pages are inaccessible (debug level 2) */
};

/* A cache's preference for one slab per class, kept in the cache's memory
 * (a C thread cache's bin, a Go shard's magazine). Chunks that two threads
 * cache side by side share the cache lines of their state words, and every
 * CAS on them bounces between cores (2 threads ran at 0.4x the throughput
 * of 1): a cache that keeps drawing from a slab of its own avoids that. The
 * base is re-validated through the region map on each use, so a stale
 * preference is never dereferenced; the claim on the slab is only a hint
 * (two caches may still share a slab when no other has room). */
typedef struct ohi_affinity_s {
  uintptr_t base;  /* the preferred slab's first byte, 0 = none */
  uint32_t token;  /* names the cache; from ohi_affinity_token */
  uint32_t pad_;
} ohi_affinity_t;
uint32_t ohi_affinity_token(void);

/* A large allocation (bigger than a slab): its own mapping, one refcount. */
typedef struct ohi_large_s {
  ohi_span_t span;        /* kind OHI_SPAN_LARGE; owner = heap */
  uint32_t refcount;      /* state word as for chunks; 0 while cached free */
  uint32_t guarded;       /* cached free and made inaccessible (debug level 2) */
  uint64_t freed_ms;      /* when it went to the heap's cache of free spans */
  struct ohi_large_s *next, *prev; /* the heap's live list, or its free cache */
} ohi_large_t;

#define OHI_EXACT_DIV_MAGIC(d) (UINT64_MAX / (uint64_t)(d) + 1)
OHI_INLINE uint32_t ohi_fast_div(uint64_t magic, uint32_t n) {
  return (uint32_t)(((unsigned __int128)magic * n) >> 64);
}

/* Heaps (oh_slab_t) as used by pool.c and the bindings. fn names the public
 * function for error messages. mode: 0 = free (count must be 1), 1 = decref. */
oh_slab_t *ohi_heap_new_single(size_t object_size, size_t slab_size, size_t max_objects);
void *ohi_heap_alloc(oh_slab_t *h, size_t n, const char *fn);
int ohi_heap_release(oh_slab_t *h, void *p, int mode, const char *fn);
int ohi_heap_destroy(oh_slab_t *h, const char *fn);
/* Batch transfer of chunks in the CACHED state for caches kept by a language
 * binding (slab.c explains the protocol). allocs/frees: operations the binding
 * served from its cache since its last return, for the statistics. */
size_t ohi_heap_take_cached(oh_slab_t *h, int cls, void **out, size_t n, ohi_affinity_t *aff);
void ohi_heap_return_cached(oh_slab_t *h, int cls, void *const *ptrs, size_t n, uint64_t allocs, uint64_t frees);

/* Purging (purge.c). */
void ohi_purge_notify(void);  /* an empty slab is waiting: make sure the purger runs */
void ohi_purge_wake(void);    /* run a purge pass now, whatever the purger's deadline */
/* How long a thread cache must sit unused to be drained, and the purger's
 * shortest re-arm: the purge delay, but at least 100 ms, so that a delay of 0
 * (empty slabs released by the free itself) does not wake the purger, nor
 * steal a busy thread's cache, on every refill. */
#define OHI_IDLE_MS(delay) ((delay) > 100 ? (uint64_t)(delay) : (uint64_t)100)
size_t ohi_heap_purge(oh_slab_t *h, uint64_t now_ms, bool force, uint64_t *next_deadline);
size_t ohi_heaps_purge_all(uint64_t now_ms, bool force, uint64_t *next_deadline);

#endif /* OFFHEAP_INTERNAL_H */
