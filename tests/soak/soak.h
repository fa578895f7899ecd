/* soak.h - what the soak's two parts share (soak.c has the overview): the
 * pattern word, the records of live buffers and the instances and counters
 * every thread shares, the per-thread state, and each part's functions. */
#ifndef OH_SOAK_H
#define OH_SOAK_H

#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "offheap.h"

#define EDGE 512

static inline uint64_t pat_word(uint64_t seed, size_t i) {
  uint64_t x = seed ^ (uint64_t)(i + 1) * 0x9E3779B97F4A7C15ULL;
  x ^= x >> 31;
  x *= 0xBF58476D1CE4E5B9ULL;
  x ^= x >> 29;
  return x;
}

static inline size_t next_off(size_t off, size_t n) {
  off += 8;
  if (off < EDGE || n < 2 * EDGE) return off;
  size_t tail = (n - EDGE) & ~(size_t)7;
  if (off >= tail) return off;
  size_t up = (off + 511) & ~(size_t)511;
  return up < tail ? up : tail;
}

enum kind { K_ALLOC, K_SLAB, K_UPOOL, K_POOL, K_ARENA, K_MAP, K_COUNT };
extern const char *kind_name[K_COUNT];

/* References to one slab chunk, shared by the records that hold them. */
typedef struct shared_ref_s {
  atomic_int refs;
} shared_ref_t;

/* One live buffer (for a slab chunk: one reference to it). */
typedef struct rec_s {
  unsigned char *p;
  size_t n, usable;
  uint64_t seed;
  int kind, large;
  shared_ref_t *ref;
} rec_t;

#define POOL_SIZE 48
#define POOL_MAX 64
#define UPOOL_SIZE 176
#define NSLOTS 64
#define MAX_LIVE 512
#define SLAB_SIZE ((size_t)256 << 10)

/* The instances and counters every thread shares (soak.c defines them). */
extern oh_slab_t *slab;
extern oh_pool_t *pool, *upool;
extern _Atomic(rec_t *) slots[NSLOTS];
extern atomic_long pool_out;
extern atomic_ullong slab_allocs, slab_frees; /* chunks allocated / decrefs that freed */
extern size_t page;

typedef struct worker_s {
  int id;
  uint64_t rng;
  unsigned long long ops, nops;
  oh_arena_t *arena;
  rec_t *live[MAX_LIVE];
  int nlive;
  struct {
    unsigned long long allocs, releases, handoffs, addrefs, decommits, misuses, checks, batches;
  } c;
  pthread_t thread;
} worker_t;

static inline uint64_t rnd(worker_t *w) {
  uint64_t x = w->rng;
  x ^= x >> 12;
  x ^= x << 25;
  x ^= x >> 27;
  w->rng = x;
  return x * 0x2545F4914F6CDD1DULL;
}

/* soak.c: failure, patterns and the model's bookkeeping */
__attribute__((noreturn, format(printf, 1, 2))) void fail(const char *fmt, ...);
void fill(unsigned char *b, size_t n, uint64_t seed);
size_t check(const unsigned char *b, size_t n, uint64_t seed, size_t zlo, size_t zhi);
size_t gen_size(worker_t *w);
uint64_t new_seed(worker_t *w);
void verify(worker_t *w, const rec_t *r, const char *when);
void push(worker_t *w, rec_t *r);
rec_t *take(worker_t *w, int i);
rec_t *new_rec(unsigned char *p, size_t n, size_t usable, int kind, int large, uint64_t seed);

/* soak_ops.c: the operations */
void op_alloc(worker_t *w);
void release(worker_t *w, rec_t *r);
void arena_reset(worker_t *w);
void op_release(worker_t *w);
void op_addref(worker_t *w);
void op_handoff(worker_t *w);
void op_decommit(worker_t *w);
void op_misuse(worker_t *w);

#endif
