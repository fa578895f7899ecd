/* offheap.h - the public C ABI of offheap, an allocator core for byte data that
 * must live outside a garbage-collected heap.
 *
 * Everything public carries the prefix oh_ (functions, types) or OH_ (macros).
 *
 * Concepts
 *   pages     raw page-granular mappings (oh_map / oh_unmap), zeroed.
 *   decommit  oh_decommit hands the whole pages strictly inside any range back to
 *             the OS; the range stays mapped and usable, its contents undefined.
 *   slab      a size-class allocator with per-chunk reference counts
 *             (oh_slab_*). The process-wide allocator (oh_alloc / oh_free) is one
 *             slab instance with default settings.
 *   pool      fixed object size, grows by whole slabs (oh_pool_*); one slab class.
 *   arena     bump allocation, everything freed at once by reset (oh_arena_*).
 *
 * Errors
 *   Functions that return a pointer return NULL and set errno; functions that
 *   return int return -1 and set errno. Every error is also passed to the error
 *   handler (oh_set_error_handler) with a message naming the value at fault.
 *     ENOMEM     the OS refused memory, or a pool reached its maximum
 *     EINVAL     a bad argument (size 0 where not allowed, a size too large, a bad
 *                configuration, NULL), or a pointer this allocator never handed
 *                out: foreign memory (a Go-heap or stack address, another library's)
 *     EFAULT     a pointer inside this allocator's memory that is not the start of
 *                an allocation (an interior pointer)
 *     EALREADY   the allocation is already free (double free, stale pointer,
 *                reference count below zero)
 *     EXDEV      the pointer belongs to another slab, pool or arena instance
 *     EBUSY      oh_free / oh_pool_put on an allocation whose reference count is
 *                above one
 *     EOVERFLOW  a reference count would exceed OH_REFCOUNT_MAX
 *   Ownership is always decided from the library's own tables (a region map of
 *   its mappings); it never reads memory at a pointer it does not own, so a
 *   foreign pointer cannot crash or corrupt it.
 *
 * Thread safety
 *   Every function may be called from any thread at any time, except that a
 *   slab, pool or arena must not be used while (or after) it is destroyed, nor
 *   an arena while it is reset.
 *   Each thread's cache owns slabs and allocates from them without a lock;
 *   other threads' frees into them go on lock-free per-slab stacks. A thread
 *   that exits, calls oh_thread_flush or sits idle for the purge delay hands
 *   its slabs back to the shared lists; what it holds free is decommitted
 *   after the delay like everything else.
 *   Racing releases of one allocation (two oh_unmap of a mapping, two
 *   oh_pool_destroy or oh_arena_destroy of an instance, ...) are misuse that
 *   cannot corrupt: exactly one call wins, the others fail with EINVAL.
 *
 * Signals
 *   offheap is NOT async-signal-safe: no oh_ function may be called from a
 *   signal handler (nor from code a handler interrupted and re-enters). The
 *   allocator takes locks and updates per-thread caches without blocking
 *   signals, so a handler that allocates or frees can deadlock on a lock its
 *   own thread holds, or hand one chunk out twice. Record the event in the
 *   handler (a sig_atomic_t, a pipe) and allocate outside it.
 *
 * Memory rules
 *   Memory handed out never moves and stays valid until it is freed (or its
 *   arena reset, or its instance destroyed). Contents of oh_alloc / oh_slab_alloc
 *   / oh_pool_get / oh_arena_alloc are unspecified; oh_calloc and oh_map zero.
 *   Allocations are aligned to 16 bytes; allocations of a page or more are page
 *   aligned when their size is a multiple of the page size.
 */
#ifndef OFFHEAP_H
#define OFFHEAP_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define OH_VERSION_MAJOR 0
#define OH_VERSION_MINOR 3
#define OH_VERSION_PATCH 0
/* Bumped whenever a public type, function or the exported symbol list changes
 * incompatibly; it is the soname's number (liboffheap.so.OH_ABI_VERSION). */
#define OH_ABI_VERSION 1

#if defined(_WIN32) && defined(OH_SHARED_LIB_BUILD)
#define OH_API __declspec(dllexport)
#elif defined(__GNUC__)
#define OH_API __attribute__((visibility("default")))
#else
#define OH_API
#endif

/* ---- version -------------------------------------------------------------- */

/* "MAJOR.MINOR.PATCH" of the library actually linked. */
OH_API const char *oh_version(void);
/* OH_ABI_VERSION of the library actually linked; compare to the macro. */
OH_API int oh_abi_version(void);

/* ---- errors --------------------------------------------------------------- */

/* Called for every error before the failing function returns, with the errno
 * value and a message such as
 *   "oh_free: pointer 0x7f12... was not allocated by offheap".
 * The handler runs on the calling thread and must not call back into offheap.
 * NULL restores the default (silent: only errno and the return value). */
typedef void (*oh_error_fn)(int err, const char *message, void *arg);
OH_API void oh_set_error_handler(oh_error_fn fn, void *arg);

/* The message of the last error on this thread ("" if none). Valid until the
 * next offheap call on this thread. */
OH_API const char *oh_last_error(void);

/* ---- options -------------------------------------------------------------- */

/* Tunables. Each is read once from its environment variable at first use and
 * may be changed at run time with oh_option_set. */
typedef enum oh_option_e {
  OH_OPT_PURGE_DELAY_MS = 0, /* OFFHEAP_PURGE_DELAY_MS: ms freed memory stays committed;
                                0 = decommit at once, -1 = never */
  OH_OPT_DEBUG,              /* OFFHEAP_DEBUG: 0 = off; 1 = freed memory is poisoned
                                (0xdf; verified when the chunk is handed out again: a
                                write after free is reported through the error
                                handler with the address and the first modified
                                offset), the whole pages of freed chunks and large
                                allocations are made inaccessible (a use after free
                                of a page or more faults at the guilty access), and
                                thread caches stand aside. Arenas: a reset poisons
                                what was handed out (level 1) and makes the blocks it
                                keeps inaccessible until reused (level 2) */
  OH_OPT_DECOMMIT_ADVICE,    /* OFFHEAP_DECOMMIT: 0 = MADV_DONTNEED (RSS drops at once),
                                1 = MADV_FREE (lazy; RSS drops under memory pressure) */
  OH_OPT_TCACHE_BYTES,       /* OFFHEAP_TCACHE_BYTES: 0 disables thread caches (every
                                operation takes its class's lock); otherwise threads
                                own slabs and bindings size their caches from it */
  OH_OPT_RETAIN_BYTES,       /* OFFHEAP_RETAIN_BYTES: empty slabs kept committed
                                despite the purge delay, to absorb steady churn */
  OH_OPT_HUGEPAGES,          /* OFFHEAP_HUGEPAGES: 1 = advise transparent huge pages on slabs */
  OH_OPT_SEGMENT_CACHE_BYTES, /* OFFHEAP_SEGMENT_CACHE_BYTES: address space of free,
                                decommitted slab segments kept mapped for reuse;
                                beyond it they are unmapped (oh_purge unmaps all) */
  OH_OPT_MEMORY_LIMIT,       /* OFFHEAP_MEMORY_LIMIT: the process budget in bytes (see
                                "memory limit" below); -1 = none (the default). The
                                variable takes a size with a unit (2GiB, 1536MiB, 1.5GiB,
                                512M, or bytes), `none`, or `auto`: the cgroup's limit
                                (v2 memory.max, v1 memory.limit_in_bytes) less 10%
                                headroom, no limit when none is found. A bad value is
                                reported through the error handler (and on stderr):
                                no limit */
  OH_OPT_MEMORY_LIMIT_SOFT,  /* OFFHEAP_MEMORY_LIMIT_SOFT: 1 = the core never refuses
                                growth for the limit (it still purges early and counts
                                steps); a binding then admits its own error-returning
                                calls with oh_memory_reserve. 0 (default) = refuse */
  OH_OPT_LARGE_CACHE_BYTES,  /* OFFHEAP_LARGE_CACHE_BYTES: bytes of freed allocations
                                larger than a slab each thread keeps mapped for reuse
                                (until the purge delay passes); 0 = none kept per
                                thread (a small shared cache under a lock only) */
  OH_OPT_PAGE_RUNS,          /* OFFHEAP_PAGE_RUNS: 1 (default) = sizes from 16 KiB to
                                a quarter slab are runs of whole pages, so pages one
                                size freed serve any other at once (an instance whose
                                smallest class is below 16 KiB); 0 = size classes.
                                Read when an instance is created */
  OH_OPT_COUNT_
} oh_option_t;
OH_API long long oh_option_get(oh_option_t opt);
/* Returns 0, or -1 with EINVAL for an unknown option or an out-of-range value. */
OH_API int oh_option_set(oh_option_t opt, long long value);

/* ---- pages ---------------------------------------------------------------- */

/* The OS page size in bytes. */
OH_API size_t oh_page_size(void);

/* Maps n bytes rounded up to whole pages: page aligned, zeroed, read-write.
 * n == 0 or too large: NULL, EINVAL. OS refusal: NULL, ENOMEM. */
OH_API void *oh_map(size_t n);

/* Unmaps a mapping made by oh_map; n must be the size passed to oh_map (or the
 * same size rounded to pages). Foreign or interior p: EINVAL / EFAULT; wrong n:
 * EINVAL; memory of an allocator (oh_alloc, slab, pool, arena): EINVAL; a
 * mapping already unmapped, or being unmapped by a racing call: EINVAL. */
OH_API int oh_unmap(void *p, size_t n);

/* Which kind of offheap memory p lies in, from the library's own tables and
 * without touching p: OH_KIND_NONE (not offheap's, or released), a chunk of a
 * slab or pool (OH_KIND_SLAB), a whole-page allocation of oh_alloc or a slab
 * (OH_KIND_LARGE: an allocation larger than a slab, or a run of pages under
 * OH_OPT_PAGE_RUNS), an oh_map mapping (OH_KIND_MAP) or an arena block
 * (OH_KIND_ARENA). The answer can be stale if another thread releases the
 * memory meanwhile: use it to word a message, never to decide a release. */
enum { OH_KIND_NONE = 0, OH_KIND_SLAB = 1, OH_KIND_LARGE = 2, OH_KIND_MAP = 3, OH_KIND_ARENA = 4 };
OH_API int oh_kind_of(const void *p);

/* Decommits the whole pages lying strictly inside [addr, addr+len): never a byte
 * outside the range. Any memory works, including memory offheap did not
 * allocate. The range stays usable; it reads as zero or as old data afterwards.
 * Returns the number of bytes decommitted: 0 when no whole page lies inside
 * (or addr is NULL); 0 with EINVAL when the range wraps around the address
 * space; on an OS error 0 with errno set. */
OH_API size_t oh_decommit(void *addr, size_t len);

/* ---- the process-wide allocator -------------------------------------------- */

/* n == 0 returns a minimal allocation (like malloc). Sizes up to the default
 * slab size (1 MiB) come from slab classes - with OH_OPT_PAGE_RUNS, 16 KiB to
 * 256 KiB (a quarter slab) are runs of whole pages instead, which the pages
 * one size frees serve at once (size classes still in debug mode); larger
 * sizes are whole pages of their own.
 * Failure: NULL with ENOMEM (or EINVAL when n cannot be represented). */
OH_API void *oh_alloc(size_t n);
OH_API void *oh_calloc(size_t n);
/* Frees an allocation of oh_alloc/oh_calloc. NULL is a no-op returning 0.
 * Errors: EINVAL (foreign), EFAULT (interior), EALREADY (double free), EXDEV
 * (from another instance), EBUSY (reference count above one). */
OH_API int oh_free(void *p);
/* The usable size of an allocation (its size class, or its whole pages), 0
 * with errno on error. */
OH_API size_t oh_usable_size(const void *p);

/* ---- slab allocator with reference counts --------------------------------- */

#define OH_REFCOUNT_MAX 0x3fffffffu

typedef struct oh_slab_config_s {
  size_t min_chunk; /* smallest chunk; rounded up to 16. 0 = 16 */
  size_t slab_size; /* bytes per slab; a power of two >= 64 KiB. 0 = 1 MiB */
  double growth;    /* chunk size growth factor, > 1.0. 0 = 1.25 */
} oh_slab_config_t;

typedef struct oh_slab_s oh_slab_t;

/* cfg NULL = defaults. Chunk sizes are snapped up to a grid of 64 steps per
 * power of two, so class lookup is one table read; a configuration needing more
 * than OH_MAX_CLASSES classes is refused with EINVAL. */
OH_API oh_slab_t *oh_slab_new(const oh_slab_config_t *cfg);
/* The process-wide instance behind oh_alloc / oh_free: the defaults, but for
 * classes that grow by 1.125 (it serves every size at once, so rounding is
 * most of what it holds beyond the live bytes). Never destroy it. */
OH_API oh_slab_t *oh_default_slab(void);
/* Frees every allocation and returns all memory to the OS. Pointers from this
 * instance must not be used afterwards. */
OH_API int oh_slab_destroy(oh_slab_t *s);

/* Returns a chunk with reference count 1. With OH_OPT_PAGE_RUNS, n from 16
 * KiB to a quarter slab is a run of whole pages in an instance whose smallest
 * class is below 16 KiB (as oh_alloc); n larger than the slab size is served
 * by whole pages (still reference counted), never refused for size. */
OH_API void *oh_slab_alloc(oh_slab_t *s, size_t n);
/* Reference count + 1. Errors as oh_free, plus EOVERFLOW. */
OH_API int oh_slab_addref(oh_slab_t *s, void *p);
/* Reference count - 1: returns 1 when this call freed p, 0 when references
 * remain, -1 on error (EALREADY when the count is already zero). */
OH_API int oh_slab_decref(oh_slab_t *s, void *p);
/* Current reference count of p (0 for a free chunk of this instance), or -1. */
OH_API long oh_slab_refcount(oh_slab_t *s, const void *p);
OH_API size_t oh_slab_usable_size(oh_slab_t *s, const void *p);

/* Size classes of an instance: their count, and the chunk size of class i. */
OH_API int oh_slab_class_count(oh_slab_t *s);
OH_API size_t oh_slab_class_size(oh_slab_t *s, int i);

/* Batch interface for language bindings: allocate up to n chunks of class
 * cls (refcount 1) into out, returning how many were allocated (0 with ENOMEM);
 * free n chunks (each must have refcount 1), returning 0, or -1 at the first
 * bad pointer, whose index is stored in *bad (the chunks before it are freed,
 * those after it are not). */
OH_API size_t oh_slab_alloc_batch(oh_slab_t *s, int cls, void **out, size_t n);
OH_API int oh_slab_free_batch(oh_slab_t *s, void *const *ptrs, size_t n, size_t *bad);

/* ---- fixed-size pool ------------------------------------------------------ */

typedef struct oh_pool_config_s {
  size_t max_objects;   /* 0 = unbounded; past it oh_pool_get fails with ENOMEM */
  size_t block_objects; /* objects per growth step; 0 = about 64 KiB worth */
} oh_pool_config_t;

typedef struct oh_pool_s oh_pool_t;

OH_API oh_pool_t *oh_pool_new(size_t object_size, const oh_pool_config_t *cfg);
OH_API void *oh_pool_get(oh_pool_t *p);
OH_API int oh_pool_put(oh_pool_t *p, void *obj);
OH_API size_t oh_pool_object_size(oh_pool_t *p);
/* A pool destroyed already (or being destroyed by a racing call) is refused
 * with EINVAL, as is any other call on it, unless a new pool has reused its
 * handle's memory meanwhile. */
OH_API int oh_pool_destroy(oh_pool_t *p);

/* ---- arena ---------------------------------------------------------------- */

typedef struct oh_arena_s oh_arena_t;

/* block_size: bytes mapped per growth step (rounded to pages; 0 = 1 MiB).
 * Allocations larger than a block get a block of their own. */
OH_API oh_arena_t *oh_arena_new(size_t block_size);
/* align: a power of two up to the page size; 0 = 16. n == 0: EINVAL. */
OH_API void *oh_arena_alloc(oh_arena_t *a, size_t n, size_t align);
/* Frees every allocation at once. Flags: OH_ARENA_KEEP keeps all blocks
 * committed for reuse; OH_ARENA_DECOMMIT (default 0) keeps the first block
 * mapped but decommits it and unmaps the others. Like oh_arena_destroy, it
 * must not run concurrently with other calls on the same arena: it ends the
 * life of every allocation, including one a racing oh_arena_alloc returns. */
#define OH_ARENA_DECOMMIT 0
#define OH_ARENA_KEEP 1
OH_API void oh_arena_reset(oh_arena_t *a, int flags);
/* Whether p lies inside memory currently handed out by a (1), or not (0). */
OH_API int oh_arena_owns(oh_arena_t *a, const void *p);
/* A destroyed arena is refused like a destroyed pool (EINVAL). */
OH_API int oh_arena_destroy(oh_arena_t *a);

/* ---- purging -------------------------------------------------------------- */

/* Decommits all free memory now (like Go's debug.FreeOSMemory): every whole
 * page covered only by free chunks, in partly used slabs too and in every
 * thread's cache, empty slabs and large spans; and unmaps the cached free
 * segments (address space back). Returns bytes decommitted. */
OH_API size_t oh_purge(void);
/* Decommits all free memory of one instance now: empty slabs (the retained
 * margin included) and every thread's cached chunks of it. Returns bytes
 * decommitted, or 0 with EINVAL for NULL. */
OH_API size_t oh_slab_purge(oh_slab_t *s);
/* Hands the calling thread's slabs back to the shared lists (so that other
 * threads allocate from what it freed). */
OH_API void oh_thread_flush(void);

/* ---- memory limit --------------------------------------------------------- */

/* One budget for the process (OH_OPT_MEMORY_LIMIT = L). The total it counts is
 *   offheap's committed bytes + external bytes + bytes reserved in flight
 * where external is what a language binding reports as used outside offheap
 * (the Go runtime's memory) and reserved what oh_memory_reserve admitted and
 * the caller has not settled yet. While L is set:
 *   - growth (a new slab, a large allocation, oh_map, an arena block) that
 *     would take the total past L first purges the free memory of the heaps'
 *     shared lists and large spans at once, then is refused with ENOMEM and a
 *     message naming the limit, the total and the request (through the error
 *     handler); concurrent growers exceed L by at most the pages one
 *     admission commits beyond its request, per thread;
 *   - when the committed bytes climb within two steps of L, the purger
 *     decommits every free page at once instead of after the delay;
 *   - the committed bytes are followed in steps of L/64 (at least 1 MiB): each
 *     step crossed wakes oh_memory_wait.
 * Without a limit every function here costs a load and does nothing else. */
typedef struct oh_memory_status_s {
  int64_t limit;      /* OH_OPT_MEMORY_LIMIT; -1 = none */
  uint64_t committed; /* offheap's committed bytes (oh_stats' committed_bytes) */
  uint64_t external;  /* last value given to oh_memory_set_external */
  uint64_t reserved;  /* admitted by oh_memory_reserve, not yet unreserved */
  uint64_t step;      /* bytes per step; 0 without a limit */
  uint64_t seq;       /* bumped at each step crossed and each change of the limit */
} oh_memory_status_t;
OH_API void oh_memory_status(oh_memory_status_t *out);
/* Bytes the process uses outside offheap, counted in the total (a binding
 * refreshes it; 0 by default). */
OH_API void oh_memory_set_external(uint64_t bytes);
/* Admits n bytes of growth that the caller allocates next (a binding's
 * error-returning allocation): 1 when a limit is set and n bytes are now
 * reserved - give them back with oh_memory_unreserve(n) once the allocation
 * is made (its pages then count as committed) or has failed; 0 when no limit
 * is set (nothing reserved); -1 with ENOMEM when total + n would pass the
 * limit even after purging. */
OH_API int oh_memory_reserve(size_t n);
OH_API void oh_memory_unreserve(size_t n);
/* Blocks until the step sequence differs from seen (a step was crossed or the
 * limit changed) or timeout_ms passed; returns the sequence. For a binding's
 * background thread that keeps another limit (the Go runtime's) in line. */
OH_API uint64_t oh_memory_wait(uint64_t seen, unsigned timeout_ms);
/* Parses an OFFHEAP_MEMORY_LIMIT value into *limit (-1 = none). cgroup_root
 * prefixes the /proc and /sys paths `auto` reads (NULL or "" = the real
 * ones; tests point it at fixture trees). 0, or -1 with EINVAL and a message
 * naming the value. */
OH_API int oh_memory_limit_parse(const char *text, const char *cgroup_root, long long *limit);

/* ---- debugging ------------------------------------------------------------ */

/* Called by oh_slab_leaks for each live allocation: its address, its usable
 * size, its reference count and its size class (-1 for whole pages). */
typedef void (*oh_leak_fn)(void *ptr, size_t size, long refcount, int size_class, void *arg);
/* Reports every live allocation of s (NULL = the process-wide instance):
 * calls fn for each (fn may be NULL) and returns how many there are. A
 * snapshot taken class by class under the class locks; allocations made or
 * freed meanwhile may or may not appear. fn must not call into offheap. */
OH_API size_t oh_slab_leaks(oh_slab_t *s, oh_leak_fn fn, void *arg);
/* The same for a pool. */
OH_API size_t oh_pool_leaks(oh_pool_t *p, oh_leak_fn fn, void *arg);

/* ---- statistics ----------------------------------------------------------- */

#define OH_STATS_VERSION 1
#define OH_MAX_CLASSES 256

typedef struct oh_class_stats_s {
  uint64_t chunk_size;
  uint64_t slabs;          /* slabs currently owned by the class */
  uint64_t chunks_in_use;  /* allocated chunks (reference count >= 1) */
  uint64_t chunks_cached;  /* free chunks in slabs thread caches own (only their
                              owner allocates them until it hands the slabs back) */
  uint64_t allocs, frees;  /* cumulative */
} oh_class_stats_t;

typedef struct oh_stats_s {
  uint32_t version;          /* OH_STATS_VERSION */
  uint32_t class_count;      /* entries of classes[] filled (0 for oh_stats) */
  uint64_t mapped_bytes;     /* address space mapped by offheap now */
  uint64_t committed_bytes;  /* mapped and not decommitted: an upper bound on RSS */
  uint64_t in_use_bytes;     /* bytes of live allocations (chunk sizes) */
  uint64_t decommitted_bytes;/* cumulative bytes decommitted */
  uint64_t allocs, frees;    /* cumulative allocations and frees (oh_stats: destroyed
                                instances included) */
  uint64_t purges;           /* cumulative decommit operations by the purge policy */
  uint64_t slabs_empty;      /* empty slabs kept committed for reuse */
  uint64_t slabs_decommitted;/* empty slabs decommitted and cached for any class */
  uint64_t large_in_use;     /* live allocations served by whole pages */
  oh_class_stats_t classes[OH_MAX_CLASSES];
} oh_stats_t;

/* Process-wide totals (every instance, metadata and the shared cache of
 * decommitted slab segments included in mapped_bytes). */
OH_API int oh_stats(oh_stats_t *out);
/* One instance, with per-class figures: mapped/committed count the slabs and
 * large spans it holds now; decommitted_bytes and purges what the purge
 * policy released from it. */
OH_API int oh_slab_stats(oh_slab_t *s, oh_stats_t *out);
/* A pool's figures (its one class). */
OH_API int oh_pool_stats(oh_pool_t *p, oh_stats_t *out);

#ifdef __cplusplus
}
#endif
#endif /* OFFHEAP_H */
