/* test_util.h - helpers shared by the offheap C tests (Criterion).
 *
 * - environment switches set by the Makefile: OH_TEST_NO_RSS (sanitizer and
 *   valgrind runs: RSS numbers are meaningless, so RSS comparisons are skipped
 *   while the allocation logic still runs) and OH_TEST_SMALL (valgrind: shrink
 *   sizes and iteration counts);
 * - resident set size from /proc/self/statm;
 * - owner-specific byte patterns, so a buffer that two owners write to, or that
 *   the allocator hands out twice, is caught when its owner checks it;
 * - an error-handler capture (oh_set_error_handler) and one checker for the
 *   whole error contract: return value, errno, the handler's errno and message
 *   (which must name the pointer at fault in hex), and oh_last_error().
 */
#ifndef OH_TEST_UTIL_H
#define OH_TEST_UTIL_H

#include <errno.h>
#include <pthread.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <criterion/criterion.h>
#include <criterion/logging.h>

#include "offheap.h"

#define KiB ((size_t)1 << 10)
#define MiB ((size_t)1 << 20)

/* ---- environment ---------------------------------------------------------- */

int t_small(void);  /* OH_TEST_SMALL set: valgrind-sized run */
int t_no_rss(void); /* OH_TEST_NO_RSS set: skip RSS comparisons */
/* n, or n/div (at least 1) in a small run. */
size_t t_scaled(size_t n, size_t div);
/* T_TSAN: built with -fsanitize=thread (GCC and clang define the macro).
 * TSan makes every access and atomic some ten times dearer, and its reports
 * come from the order of accesses, not from how often they race: the race
 * storms run fewer rounds under it and still race every path. */
#if defined(__SANITIZE_THREAD__)
#define T_TSAN 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define T_TSAN 1
#endif
#endif
#ifndef T_TSAN
#define T_TSAN 0
#endif

/* ---- memory measurement ----------------------------------------------------- */

size_t t_page(void);     /* sysconf page size */
uint64_t t_now_ms(void); /* monotonic milliseconds */
void t_sleep_ms(unsigned ms);
size_t t_rss(void);      /* resident bytes of this process, from /proc/self/statm */
/* Writes one byte per page of [p, p+n) so every page is resident. */
void t_touch(void *p, size_t n);

/* Snapshot of the counters that a failing call must leave unchanged. Takes
 * oh_thread_flush() first so per-thread counters are folded in. */
typedef struct t_counters_s {
  uint64_t allocs, frees, in_use_bytes, large_in_use, mapped_bytes, committed_bytes;
} t_counters_t;
t_counters_t t_counters(oh_slab_t *s); /* s NULL: process-wide oh_stats */
#define EXPECT_COUNTERS_UNCHANGED(before, after, what)                                   \
  do {                                                                                   \
    cr_expect_eq((after).allocs, (before).allocs, "%s changed allocs %llu -> %llu", what, \
                 (unsigned long long)(before).allocs, (unsigned long long)(after).allocs); \
    cr_expect_eq((after).frees, (before).frees, "%s changed frees %llu -> %llu", what,    \
                 (unsigned long long)(before).frees, (unsigned long long)(after).frees);   \
    cr_expect_eq((after).in_use_bytes, (before).in_use_bytes,                            \
                 "%s changed in_use_bytes %llu -> %llu", what,                           \
                 (unsigned long long)(before).in_use_bytes,                              \
                 (unsigned long long)(after).in_use_bytes);                              \
    cr_expect_eq((after).large_in_use, (before).large_in_use,                            \
                 "%s changed large_in_use %llu -> %llu", what,                           \
                 (unsigned long long)(before).large_in_use,                              \
                 (unsigned long long)(after).large_in_use);                              \
  } while (0)

/* ---- patterns --------------------------------------------------------------- */

/* Byte i of the pattern of seed depends on (seed, i): two owners (seeds) never
 * agree on a whole buffer, and a shifted copy does not match either. */
uint64_t t_seed(unsigned owner, uint64_t seq);
void t_fill(void *p, size_t n, uint64_t seed);
/* Offset of the first byte differing from the pattern, or SIZE_MAX if none. */
size_t t_check(const void *p, size_t n, uint64_t seed);
/* Like t_fill/t_check on [off, off+len) with the same offsets as the whole
 * buffer's pattern (so a range can be checked against a full fill). */
void t_fill_range(void *p, size_t off, size_t len, uint64_t seed);
size_t t_check_range(const void *p, size_t off, size_t len, uint64_t seed);
/* Sparse versions for big buffers: the first and last 4 KiB and one word per
 * 4 KiB in between; buffers up to 16 KiB are filled whole. */
void t_fill_sparse(void *p, size_t n, uint64_t seed);
size_t t_check_sparse(const void *p, size_t n, uint64_t seed);
/* Whether every byte of [p, p+n) is zero. */
int t_all_zero(const void *p, size_t n);

/* ---- the error contract ----------------------------------------------------- */

typedef struct t_capture_s {
  pthread_mutex_t mu;
  int count;        /* handler calls since the last t_cap_reset */
  int last_err;     /* errno passed to the last call */
  char last_msg[512];
  char first_msg[512];
} t_capture_t;
extern t_capture_t t_cap;

void t_cap_install(void); /* oh_set_error_handler(capture) and reset */
void t_cap_reset(void);
void t_cap_remove(void);  /* oh_set_error_handler(NULL) */
int t_cap_count(void);

/* Whether msg contains p in hex (case-insensitive, with or without 0x / zero
 * padding: the digits of p must appear). */
int t_msg_names_ptr(const char *msg, const void *p);

/* Checks one failed call against the header's error contract:
 *   failed           the return value said "error" (NULL / -1 / 0 ...)
 *   got_errno        errno right after the call
 *   wants/nwants     acceptable errno values
 *   ptr              the pointer at fault (its hex must be in the message); or
 *                    NULL when the fault is not a pointer (the message must
 *                    still be non-empty)
 * The capture must have been reset just before the call. */
void t_expect_error_(const char *file, int line, const char *what, int failed, int got_errno,
                     const int *wants, int nwants, const void *ptr);
#define T_EXPECT_ERR(what, failed, got_errno, ptr, ...)                                     \
  t_expect_error_(__FILE__, __LINE__, what, failed, got_errno, (const int[]){__VA_ARGS__}, \
                  (int)(sizeof((const int[]){__VA_ARGS__}) / sizeof(int)), ptr)

const char *t_errname(int e);

/* A call that must succeed did: checks the handler was not called. */
#define T_EXPECT_NO_HANDLER(what)                                                           \
  cr_expect_eq(t_cap_count(), 0, "%s: error handler was called (%d) with: %s", what,       \
               t_cap_count(), t_cap.last_msg)

/* ---- misc ------------------------------------------------------------------- */

/* Small deterministic PRNG (xorshift64*), one state per thread. */
static inline uint64_t t_rand(uint64_t *state) {
  uint64_t x = *state;
  x ^= x >> 12;
  x ^= x << 25;
  x ^= x >> 27;
  *state = x;
  return x * 0x2545F4914F6CDD1DULL;
}

/* Sorts n pointers by address. */
void t_sort_ptrs(void **p, size_t n);

/* Saves an option and restores it at the end of a scope-like pair. */
typedef struct t_opt_save_s {
  oh_option_t opt;
  long long value;
} t_opt_save_t;
t_opt_save_t t_opt_set(oh_option_t opt, long long value); /* asserts the set succeeded */
void t_opt_restore(t_opt_save_t saved);

/* An instance with runs of pages (OH_OPT_PAGE_RUNS on while it is made,
 * whatever the option says around it). */
oh_slab_t *t_runs_heap(void);
/* s's statistics as they stand (no flush: the thread keeps its slabs and
 * the runs its cache keeps). */
oh_stats_t t_stats_now(oh_slab_t *s);
/* Expects s to have mapped nothing since before was read (t_stats_now): what
 * did it is named in the message. */
void t_expect_no_mapping(oh_slab_t *s, oh_stats_t before, const char *what);

/* A heap of 1 MiB slabs holding n chunks of size bytes (p[i], in the order
 * handed out; a test sets p[i] to NULL when it frees one), with the purge
 * delay set for the test and no retained margin. t_held_free releases the
 * chunks still held, destroys the heap and restores both options. */
typedef struct t_held_s {
  t_opt_save_t delay, retain;
  oh_slab_t *h;
  void **p;
  size_t n;
} t_held_t;
t_held_t t_held_new(long long delay, size_t size, size_t n);
void t_held_free(t_held_t *t);

/* A stage two threads hand each other: a worker says how far it got, the
 * main thread says when it may go on. t_stage_wait returns once the stage is
 * at least value; what was written before the t_stage_set is seen after. */
typedef struct t_stage_s {
  pthread_mutex_t mu;
  pthread_cond_t cv;
  int value;
} t_stage_t;
#define T_STAGE_INIT {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, 0}
void t_stage_set(t_stage_t *st, int value);
void t_stage_wait(t_stage_t *st, int value);

/* Sorts (addr, len) ranges and reports whether any two overlap. */
typedef struct t_range_s {
  uintptr_t addr;
  size_t len;
} t_range_t;
int t_ranges_overlap(t_range_t *ranges, size_t n, size_t *first_bad);

/* ASan builds: the core poisons freed chunks for ASan, so a test that reads
 * freed memory on purpose (to check the debug poison byte) first checks that
 * ASan sees the region as poisoned, then lifts the poison. A no-op elsewhere. */
#if defined(__SANITIZE_ADDRESS__)
#include <sanitizer/asan_interface.h>
#define T_ASAN_LIFT(p, n)                                                                                 \
  do {                                                                                                    \
    cr_expect(__asan_region_is_poisoned((void *)(p), (n)) != NULL,                                        \
              "ASan build: freed memory at %p (%zu bytes) is not poisoned for ASan", (void *)(p), (size_t)(n)); \
    ASAN_UNPOISON_MEMORY_REGION((p), (n));                                                                \
  } while (0)
#else
#define T_ASAN_LIFT(p, n) ((void)(p), (void)(n))
#endif

#endif /* OH_TEST_UTIL_H */
