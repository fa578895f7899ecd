/* fuzz_ops.h - what the parts of the libFuzzer target share (fuzz_ops.c has
 * the overview): the model's types and the run's state F, the input readers,
 * the pattern word, the error contract's capture and EXPECT_ERR, and each
 * part's functions. One run is one thread's sequence of operations at a time
 * (op_thread joins before the next), so the state needs no lock. */
#ifndef OH_FUZZ_OPS_H
#define OH_FUZZ_OPS_H

#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "internal.h"
#include "offheap.h"

/* The pattern loops run over every byte handed out: left out of the coverage
 * instrumentation (its comparisons would dominate the run time and steer
 * nothing), still checked by ASan. */
#if defined(__clang__)
#define NO_COVERAGE __attribute__((no_sanitize("coverage"), noinline))
#define NO_COVERAGE_INLINE __attribute__((no_sanitize("coverage"), always_inline)) inline
#else
#define NO_COVERAGE
#define NO_COVERAGE_INLINE inline
#endif

NO_COVERAGE_INLINE static uint64_t pat_word(uint64_t seed, size_t i) {
  uint64_t x = seed ^ (uint64_t)(i + 1) * 0x9E3779B97F4A7C15ULL;
  x ^= x >> 31;
  x *= 0xBF58476D1CE4E5B9ULL;
  x ^= x >> 29;
  return x;
}

enum kind { K_ALLOC, K_CALLOC, K_SLAB, K_POOL, K_UPOOL, K_ARENA, K_MAP, K_COUNT };
extern const char *kind_name[K_COUNT];

typedef struct live_s {
  unsigned char *p;
  size_t n;      /* bytes filled with the pattern */
  size_t usable; /* bytes the statistics count (0 for arena) */
  uint64_t seed;
  long refs;     /* K_SLAB (and K_ALLOC after an addref through the default slab) */
  int kind, large, gen;
} live_t;

#define MAX_LIVE 256
#define MAX_DEAD 64
#define POOL_SIZE 40
#define POOL_MAX 24
#define UPOOL_SIZE 200
#define MAX_BYTES ((size_t)48 << 20)

typedef struct fuzz_s {
  const uint8_t *data;
  size_t len, pos;
  oh_slab_t *s, *other;
  size_t slab_size;
  oh_pool_t *pool, *upool;
  oh_arena_t *arena;
  int gen;
  live_t live[MAX_LIVE];
  int nlive;
  size_t live_bytes;
  struct {
    void *p;
    size_t n;
    int kind;
  } dead[MAX_DEAD];
  int ndead;
  int fault_ops;
  uint64_t seq;
  uint64_t base_default; /* in-use bytes of the process-wide allocator at the start */
  int pool_out;
} fuzz_t;

/* The run: its input, its instances and the model (fuzz_ops.c defines it). */
extern fuzz_t F;

static inline uint8_t next(void) { return F.pos < F.len ? F.data[F.pos++] : (F.pos++, 0); }
static inline int done(void) { return F.pos >= F.len; }
static inline size_t u16(void) { return (size_t)next() << 8 | next(); }
static inline size_t u24(void) { return u16() << 8 | next(); }

extern size_t page; /* oh_page_size() */
static inline size_t round_pages(size_t n) { return (n + page - 1) & ~(page - 1); }

/* What the error handler (capture) saw since cap_reset. */
struct fuzz_cap {
  int count, err;
  char msg[512];
};
extern struct fuzz_cap cap;

#define EXPECT_ERR(what, failed_expr, ptr, ...)                                                        \
  do {                                                                                                 \
    cap_reset();                                                                                       \
    errno = 0;                                                                                         \
    int failed_ = (failed_expr);                                                                       \
    int e_ = errno;                                                                                    \
    static const int wants_[] = {__VA_ARGS__};                                                         \
    expect_err_(what, failed_, e_, ptr, wants_, (int)(sizeof wants_ / sizeof wants_[0]));              \
  } while (0)

extern unsigned long long op_index; /* the operation running, for fail's message */

/* fuzz_model.c: failures, patterns, the error contract, the model and its checks */
__attribute__((noreturn, format(printf, 1, 2))) void fail(const char *fmt, ...);
void fill(void *p, size_t n, uint64_t seed);
size_t check(const void *p, size_t n, uint64_t seed, size_t zlo, size_t zhi);
size_t first_nonzero(const void *p, size_t n);
void capture(int err, const char *msg, void *arg);
void cap_reset(void);
void expect_err_(const char *what, int failed, int e, const void *ptr, const int *wants, int n);
size_t gen_size(void);
void add_live(live_t lv);
live_t take_live(int i);
int find_live(const void *p);
void verify(const live_t *lv, const char *when);
void add_dead(void *p, size_t n, int kind);
void alloc_failed(const char *what, int e, int allowed);
void check_usable(const char *what, oh_slab_t *s, size_t slab_size, size_t n, size_t usable);
void check_model(void);

/* fuzz_steps.c: the operations on live allocations */
void op_alloc(void);
int pick(void);
void release_at(int i);
void op_release(void);
void op_free_batch(void);
void op_addref(void);
void op_decommit(void);
void op_arena_reset(void);
void op_rewrite(void);

/* fuzz_misuse.c: misuse and lifecycles */
void op_misuse(void);
void op_lifecycle(void);

#endif
