/* base.h - what every file of the core shares below the slab tier: compiler
 * and atomic macros, locks, the OS primitives contract (os_unix.c,
 * os_windows.c), options and errors, the purge policy's questions and the
 * purger's wake-ups (wake.c), the memory limit, the region map, page
 * mappings, metadata memory and the segment cache. internal.h includes it;
 * see there for the map of the sources and its layers.
 */
#ifndef OFFHEAP_BASE_H
#define OFFHEAP_BASE_H


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
#define ohi_trylock(l) (pthread_mutex_trylock(l) == 0)
#define ohi_lock_destroy(l) pthread_mutex_destroy(l)
/* fork: a lock taken before fork is released after it in the parent and
 * made anew in the child (where no other thread exists). Returns child, for
 * the caller to start the rest of its state over. */
OHI_INLINE bool ohi_lock_after_fork(ohi_lock_t *l, bool child) {
  if (child) ohi_lock_init(l);
  else ohi_unlock(l);
  return child;
}

/* ---- bitmaps of n bits (runpage.c's free pages, purge.c's due chunks) ------ */

/* Whether bit i of m is set. */
OHI_INLINE bool ohi_bit(const uint64_t *m, uint32_t i) { return (m[i / 64] >> (i % 64) & 1) != 0; }

/* The first set bit of m at or after from (n when none). */
OHI_INLINE uint32_t ohi_bits_next_set(const uint64_t *m, uint32_t n, uint32_t from) {
  if (from >= n) return n;
  uint32_t wi = from / 64;
  uint64_t x = m[wi] & (~(uint64_t)0 << (from % 64));
  for (;;) {
    if (x != 0) {
      uint32_t i = wi * 64 + (uint32_t)__builtin_ctzll(x);
      return i < n ? i : n;
    }
    if (++wi >= (n + 63) / 64) return n;
    x = m[wi];
  }
}

/* The first clear bit of m at or after from (n when none). */
OHI_INLINE uint32_t ohi_bits_next_clear(const uint64_t *m, uint32_t n, uint32_t from) {
  if (from >= n) return n;
  uint32_t wi = from / 64;
  uint64_t x = ~m[wi] & (~(uint64_t)0 << (from % 64));
  for (;;) {
    if (x != 0) {
      uint32_t i = wi * 64 + (uint32_t)__builtin_ctzll(x);
      return i < n ? i : n;
    }
    if (++wi >= (n + 63) / 64) return n;
    x = ~m[wi];
  }
}

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
/* A page-aligned range, for the vector calls below. */
typedef struct ohi_range_s {
  void *addr;
  size_t size;
} ohi_range_t;
#define OHI_OS_RANGES_MAX 64 /* ranges per ohi_os_decommit_ranges call */
/* Decommits n <= OHI_OS_RANGES_MAX ranges as ohi_os_decommit does, in one
 * system call where the OS takes a vector (Linux 6.13+: process_madvise of
 * the calling process), else one by one; ok[i]: range i went. Returns how
 * many went. */
size_t ohi_os_decommit_ranges(const ohi_range_t *r, size_t n, int advice, bool *ok);
/* Tests: 0 keeps the vector call off (as on a kernel without it). */
void ohi_test_os_vector(int on);
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
/* Whether any page-aligned part of a mapping can be unmapped on its own
 * (munmap can; VirtualFree releases only a whole reservation): then slab
 * segments are reserved several at a time (segment.c). */
#if defined(_WIN32)
#define OHI_OS_PARTIAL_UNMAP 0
#else
#define OHI_OS_PARTIAL_UNMAP 1
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

/* ---- the purge policy's questions (inline: purge.c decides the rest) ------
 * The tiers ask these on their paths instead of reading the delay. */
OHI_INLINE long long ohi_purge_delay(void) { return ohi_opt(OH_OPT_PURGE_DELAY_MS); }
/* Is freed memory released at the free (a delay of 0) instead of waiting for
 * the policy's passes? */
OHI_INLINE bool ohi_purge_at_free(void) { return ohi_purge_delay() == 0; }
/* A delay of -1: the policy never purges (oh_purge and the limit still do). */
OHI_INLINE bool ohi_purge_never(void) { return ohi_purge_delay() < 0; }
/* When memory freed at freed_ms falls due (a delay of -1: never). */
OHI_INLINE uint64_t ohi_purge_deadline(uint64_t freed_ms) {
  long long delay = ohi_purge_delay();
  return delay < 0 ? UINT64_MAX : freed_ms + (uint64_t)delay;
}
/* Is memory freed at freed_ms due at now? (force: everything is) */
OHI_INLINE bool ohi_purge_due(uint64_t freed_ms, uint64_t now, bool force) {
  return force || now >= ohi_purge_deadline(freed_ms);
}
/* Passes come every quarter delay, at least every 25 ms, while anything waits. */
#define OHI_PURGE_PASSES_PER_DELAY 4
OHI_INLINE uint64_t ohi_purge_pass_period(long long delay) {
  return delay / OHI_PURGE_PASSES_PER_DELAY > 25 ? (uint64_t)(delay / OHI_PURGE_PASSES_PER_DELAY) : 25;
}

/* ---- the purger's wake-ups (wake.c) ----------------------------------------
 * A leaf every tier calls when memory starts to wait for the purge policy;
 * the policy (purge.c) hooks its work in when the first heap is made. */
extern uint64_t ohi_dirty_epoch; /* atomic: bumped when a slab gets free chunks to age */
extern uint64_t ohi_purge_tick;  /* atomic: purge passes so far */
struct ohi_tcache_s;
typedef struct ohi_purger_s {
  /* One pass of the purger thread: returns the next deadline (0: none);
   * *soon: it comes within a pass period. force: urgent (the limit). */
  uint64_t (*pass)(bool notified, bool force, bool pressure, bool *soon);
  void (*heap_now)(oh_slab_t *h); /* delay 0: a slab of h emptied */
  void (*owner_pass)(oh_slab_t *h, struct ohi_tcache_s *tc);
  size_t (*for_limit)(void);
} ohi_purger_t;
void ohi_wake_hook(const ohi_purger_t *p); /* purge.c, once */
void ohi_purge_notify(void);  /* something waits for the delay: make sure the purger runs */
void ohi_purge_wake(void);    /* run a purge pass now, whatever the purger's deadline */
/* Tests that move ohi_purge_tick themselves: hold (true) keeps the purger
 * thread from starting a pass, and returns once none runs; false lets it go
 * on (a wake-up or a deadline that came meanwhile is served then). */
void ohi_test_purger_hold(bool hold);
/* A slab got free chunks to age: make sure passes come every pass period. */
void ohi_purge_notify_dirty(void);
/* A heap maps fresh memory: free pages a pass has seen once are decommitted
 * now rather than after the delay (rate-limited: ohi_pressure_admit). */
void ohi_purge_pressure(void);
/* Whether a pressure signal at now (ms) is admitted, and if so recorded in
 * *last (a relaxed atomic: the last one admitted; 0: none): at most one a
 * quarter period, and 25 ms. */
bool ohi_pressure_admit(uint64_t *last, uint64_t now, uint64_t period);
/* The memory limit is near: the purger's next pass (now) decommits every
 * free page and empty slab whatever their age (at most one such pass per
 * 10 ms). */
void ohi_purge_urgent(void);
/* Near or past the limit: purges the heaps' shared lists and large spans at
 * once (not thread caches: see ohi_memlimit_grow) and asks for an urgent
 * pass. Returns bytes decommitted. */
size_t ohi_purge_for_limit(void);
/* A slab of h emptied: released now with a delay of 0, else the purger is
 * notified. */
void ohi_after_empty(oh_slab_t *h);
/* The owner purges its own slabs (from a refill) when a pass has come since
 * it last did: busy caches are not stolen for it. */
void ohi_tcache_purge_self(oh_slab_t *h, struct ohi_tcache_s *tc);
void ohi_wake_lock_all(void); /* fork */
void ohi_wake_unlock_all(bool child);

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

/* RUNS: a slab of pages handing out runs of whole pages (runpage.c, runs.c). */
enum ohi_span_kind { OHI_SPAN_SLAB = 1, OHI_SPAN_LARGE = 2, OHI_SPAN_MAP = 3, OHI_SPAN_ARENA = 4, OHI_SPAN_RUNS = 5 };

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
/* The same for n <= OHI_OS_RANGES_MAX ranges at once (ohi_os_decommit_ranges);
 * ok[i]: range i went. Returns bytes decommitted. */
size_t ohi_pages_decommit_ranges(const ohi_range_t *r, size_t n, bool *ok);
/* Calls of the two above (atomic), for the tests: the purge walks' decommits
 * go in batches. */
extern uint64_t ohi_pages_decommit_requests;
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
/* zeroed; cache-line aligned (blocks beyond the largest cell: page
 * aligned); NULL on ENOMEM */
void *ohi_meta_alloc(size_t size);
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
/* The absolute time ms milliseconds from now on such a variable's clock, for
 * pthread_cond_timedwait. */
OHI_INLINE struct timespec ohi_cond_deadline(uint64_t ms) {
  struct timespec ts;
#if defined(__linux__)
  clock_gettime(CLOCK_MONOTONIC, &ts);
#else
  clock_gettime(CLOCK_REALTIME, &ts);
#endif
  ts.tv_sec += (time_t)(ms / 1000);
  ts.tv_nsec += (long)(ms % 1000) * 1000000L;
  if (ts.tv_nsec >= 1000000000L) {
    ts.tv_sec++;
    ts.tv_nsec -= 1000000000L;
  }
  return ts;
}

#endif /* OFFHEAP_BASE_H */
