/* soak.c - long stress of the C core: T threads x N mixed operations across
 * every allocator kind, checked against a model.
 *
 *   soak [-t threads] [-n ops-per-thread] [-s seed] [-f]
 *
 * Each thread allocates (oh_alloc, oh_calloc, oh_slab_alloc and batches from
 * one shared slab instance, a bounded and an unbounded pool, its own arena,
 * oh_map), releases, takes and drops references, decommits parts of live
 * buffers, and hands buffers (and references) to other threads through shared
 * slots, so that frees and decrefs happen on other threads than the
 * allocation. Every buffer carries a pattern of its own, checked before every
 * release (sparsely beyond 1 KiB: both ends whole, one word in 512 between);
 * a mismatch is a corruption and fails the run at once.
 *
 * At the end the threads stop, the buffers they and the slots hold are
 * gathered, and the statistics must equal the model exactly: in-use bytes and
 * large allocations of each instance, and the live-allocation lists of
 * oh_slab_leaks / oh_pool_leaks. Everything is then released (checked) and
 * every instance must report zero bytes in use.
 *
 * With -f a further thread flips the options every 200 us while the workers
 * run - debug level 0/1/2, purge delay 0/1/1000 ms, decommit advice - so that
 * chunks move between the cached, poisoned and guarded paths under load.
 *
 * Exit status 0 and a summary line on success; 1 with a message on the first
 * failure.
 */
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

__attribute__((noreturn, format(printf, 1, 2))) static void fail(const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  fprintf(stderr, "soak: FAILED: ");
  vfprintf(stderr, fmt, ap);
  fprintf(stderr, "\n");
  va_end(ap);
  exit(1);
}

/* ---- patterns (sparse beyond 1 KiB) ------------------------------------------- */

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

static void fill(unsigned char *b, size_t n, uint64_t seed) {
  for (size_t off = 0; off < n; off = next_off(off, n)) {
    uint64_t w = pat_word(seed, off / 8);
    if (off + 8 <= n) {
      memcpy(b + off, &w, 8);
    } else {
      for (size_t j = off; j < n; j++) b[j] = (unsigned char)(w >> (8 * (j - off)));
    }
  }
}

/* First bad byte, or SIZE_MAX; bytes in [zlo, zhi) may also read as zero. */
static size_t check(const unsigned char *b, size_t n, uint64_t seed, size_t zlo, size_t zhi) {
  for (size_t off = 0; off < n; off = next_off(off, n)) {
    uint64_t w = pat_word(seed, off / 8);
    size_t end = off + 8 < n ? off + 8 : n;
    if (end - off == 8 && memcmp(b + off, &w, 8) == 0) continue;
    for (size_t j = off; j < end; j++) {
      unsigned char want = (unsigned char)(w >> (8 * (j - off)));
      if (b[j] != want && !(b[j] == 0 && j >= zlo && j < zhi)) return j;
    }
  }
  return SIZE_MAX;
}

/* ---- shared state ---------------------------------------------------------------- */

enum kind { K_ALLOC, K_SLAB, K_UPOOL, K_POOL, K_ARENA, K_MAP, K_COUNT };
static const char *kind_name[K_COUNT] = {"oh_alloc", "oh_slab_alloc", "oh_pool_get", "oh_pool_get (bounded)",
                                         "oh_arena_alloc", "oh_map"};

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

static oh_slab_t *slab;
static oh_pool_t *pool, *upool;
static _Atomic(rec_t *) slots[NSLOTS];
static atomic_long pool_out;
static atomic_ullong slab_allocs, slab_frees; /* chunks allocated / decrefs that freed */
static size_t page;

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

static size_t gen_size(worker_t *w) {
  uint64_t r = rnd(w) % 10000;
  if (r < 8000) return 1 + rnd(w) % 512;
  if (r < 9700) return 513 + rnd(w) % (16 << 10);
  if (r < 9995) return (16 << 10) + rnd(w) % (240 << 10);
  return SLAB_SIZE + 1 + rnd(w) % (1 << 20); /* whole pages for the slab, and for oh_alloc above 1 MiB */
}

static uint64_t new_seed(worker_t *w) { return rnd(w) | 1; }

static void verify(worker_t *w, const rec_t *r, const char *when) {
  w->c.checks++;
  size_t bad = check(r->p, r->n, r->seed, 0, 0);
  if (bad != SIZE_MAX)
    fail("CORRUPTION: thread %d: %s buffer %p (%zu bytes) %s: byte %zu is 0x%02x, not its pattern", w->id,
         kind_name[r->kind], (void *)r->p, r->n, when, bad, r->p[bad]);
}

static void push(worker_t *w, rec_t *r) { w->live[w->nlive++] = r; }

static rec_t *take(worker_t *w, int i) {
  rec_t *r = w->live[i];
  w->live[i] = w->live[--w->nlive];
  return r;
}

static rec_t *new_rec(unsigned char *p, size_t n, size_t usable, int kind, int large, uint64_t seed) {
  rec_t *r = malloc(sizeof *r);
  if (r == NULL) fail("malloc");
  *r = (rec_t){p, n, usable, seed, kind, large, NULL};
  return r;
}

/* ---- operations ---------------------------------------------------------------- */

static void op_alloc(worker_t *w) {
  uint64_t k = rnd(w) % 100;
  size_t n = gen_size(w);
  unsigned char *p = NULL;
  size_t usable = 0;
  int kind, large = 0;
  if (k < 28) {
    kind = K_ALLOC;
    int zero = k < 4;
    p = zero ? oh_calloc(n) : oh_alloc(n);
    if (p == NULL) fail("%s(%zu): %s", zero ? "oh_calloc" : "oh_alloc", n, oh_last_error());
    if (zero)
      for (size_t i = 0; i < n; i += 64)
        if (p[i] != 0) fail("oh_calloc(%zu) = %p: byte %zu is not zero", n, (void *)p, i);
    usable = oh_usable_size(p);
    large = n > ((size_t)1 << 20);
  } else if (k < 60) {
    kind = K_SLAB;
    if (k < 34) { /* a batch of small chunks */
      int cls = (int)(rnd(w) % 8);
      void *out[16];
      size_t want = 1 + rnd(w) % 16, csize = oh_slab_class_size(slab, cls);
      if (w->nlive + (int)want >= MAX_LIVE) return;
      size_t got = oh_slab_alloc_batch(slab, cls, out, want);
      if (got != want) fail("oh_slab_alloc_batch(%zu) = %zu: %s", want, got, oh_last_error());
      for (size_t i = 0; i < got; i++) {
        rec_t *r = new_rec(out[i], csize, csize, K_SLAB, 0, new_seed(w));
        r->ref = malloc(sizeof *r->ref);
        atomic_init(&r->ref->refs, 1);
        fill(r->p, r->n, r->seed);
        push(w, r);
      }
      atomic_fetch_add(&slab_allocs, got);
      w->c.batches++;
      w->c.allocs += got;
      return;
    }
    p = oh_slab_alloc(slab, n);
    if (p == NULL) fail("oh_slab_alloc(%zu): %s", n, oh_last_error());
    usable = oh_slab_usable_size(slab, p);
    large = n > SLAB_SIZE;
    atomic_fetch_add(&slab_allocs, 1);
  } else if (k < 72) {
    kind = K_UPOOL;
    n = UPOOL_SIZE;
    p = oh_pool_get(upool);
    if (p == NULL) fail("oh_pool_get: %s", oh_last_error());
    usable = (UPOOL_SIZE + 15) & ~(size_t)15;
  } else if (k < 78) {
    kind = K_POOL;
    n = POOL_SIZE;
    /* Counted out before the core sees the get, and back after the put; a
     * thread whose count would pass the maximum does not ask. So the core
     * never holds more objects than the count, and while this get is pending
     * at most POOL_MAX - 1 others: it must succeed. */
    long out = atomic_fetch_add(&pool_out, 1) + 1;
    if (out > POOL_MAX) {
      atomic_fetch_sub(&pool_out, 1);
      return;
    }
    p = oh_pool_get(pool);
    if (p == NULL) {
      atomic_fetch_sub(&pool_out, 1);
      fail("bounded oh_pool_get with %ld out of %d: %s", out, POOL_MAX, oh_last_error());
    }
    usable = (POOL_SIZE + 15) & ~(size_t)15;
  } else if (k < 98) {
    kind = K_ARENA;
    size_t align = (size_t)1 << (rnd(w) % 7 + 3);
    p = oh_arena_alloc(w->arena, n, align);
    if (p == NULL || (uintptr_t)p % align) fail("oh_arena_alloc(%zu, %zu) = %p: %s", n, align, (void *)p, oh_last_error());
  } else {
    if (rnd(w) % 8) return; /* oh_map is a system call each way: rare */
    kind = K_MAP;
    n = 1 + rnd(w) % (4 * page);
    p = oh_map(n);
    if (p == NULL) fail("oh_map(%zu): %s", n, oh_last_error());
    usable = (n + page - 1) & ~(page - 1);
  }
  if (kind != K_ARENA && (uintptr_t)p % 16) fail("%s(%zu) = %p: misaligned", kind_name[kind], n, (void *)p);
  rec_t *r = new_rec(p, n, usable, kind, large, new_seed(w));
  if (kind == K_SLAB) {
    r->ref = malloc(sizeof *r->ref);
    atomic_init(&r->ref->refs, 1);
  }
  fill(p, n, r->seed);
  push(w, r);
  w->c.allocs++;
}

/* Releases record r (taken out of the thread's list). */
static void release(worker_t *w, rec_t *r) {
  verify(w, r, "before its release");
  int rc = 0;
  switch (r->kind) {
  case K_ALLOC:
    rc = oh_free(r->p);
    break;
  case K_SLAB: {
    atomic_fetch_sub(&r->ref->refs, 1);
    int f = oh_slab_decref(slab, r->p);
    if (f < 0) fail("oh_slab_decref(%p): %s", (void *)r->p, oh_last_error());
    if (f == 1) {
      atomic_fetch_add(&slab_frees, 1);
      free(r->ref); /* every other reference is gone: no record points at it */
    }
    break;
  }
  case K_UPOOL:
    rc = oh_pool_put(upool, r->p);
    break;
  case K_POOL:
    rc = oh_pool_put(pool, r->p);
    atomic_fetch_sub(&pool_out, 1);
    break;
  case K_MAP:
    rc = oh_unmap(r->p, r->n);
    break;
  case K_ARENA:
    fail("internal: an arena buffer released one by one");
  }
  if (rc != 0) fail("release of %s buffer %p: %s", kind_name[r->kind], (void *)r->p, oh_last_error());
  free(r);
  w->c.releases++;
}

static void arena_reset(worker_t *w) {
  for (int i = 0; i < w->nlive;) {
    if (w->live[i]->kind == K_ARENA) {
      rec_t *r = take(w, i);
      verify(w, r, "before oh_arena_reset");
      free(r);
    } else {
      i++;
    }
  }
  oh_arena_reset(w->arena, rnd(w) % 4 ? OH_ARENA_KEEP : OH_ARENA_DECOMMIT);
}

static void op_release(worker_t *w) {
  if (w->nlive == 0) return;
  int i = (int)(rnd(w) % (uint64_t)w->nlive);
  if (w->live[i]->kind == K_ARENA) {
    if (w->nlive > MAX_LIVE / 2) arena_reset(w);
    return;
  }
  release(w, take(w, i));
}

static void op_addref(worker_t *w) {
  if (w->nlive == 0 || w->nlive >= MAX_LIVE - 1) return;
  rec_t *r = w->live[rnd(w) % (uint64_t)w->nlive];
  if (r->kind != K_SLAB) return;
  atomic_fetch_add(&r->ref->refs, 1);
  if (oh_slab_addref(slab, r->p) != 0) fail("oh_slab_addref(%p): %s", (void *)r->p, oh_last_error());
  rec_t *dup = malloc(sizeof *dup);
  *dup = *r;
  push(w, dup);
  w->c.addrefs++;
}

static void op_handoff(worker_t *w) {
  rec_t *give = NULL;
  if (w->nlive > 0) {
    int i = (int)(rnd(w) % (uint64_t)w->nlive);
    if (w->live[i]->kind != K_ARENA) give = take(w, i);
  }
  rec_t *got = atomic_exchange(&slots[rnd(w) % NSLOTS], give);
  if (got != NULL) {
    verify(w, got, "handed over from another thread");
    push(w, got);
  }
  w->c.handoffs++;
}

/* Whether this thread holds the only reference: it may write the buffer. */
static int writable(const rec_t *r) { return r->ref == NULL || atomic_load(&r->ref->refs) == 1; }

static void op_decommit(worker_t *w) {
  if (w->nlive == 0) return;
  rec_t *r = w->live[rnd(w) % (uint64_t)w->nlive];
  if (!writable(r) || r->n < page) return;
  size_t off = rnd(w) % r->n, len = 1 + rnd(w) % (r->n - off);
  uintptr_t base = (uintptr_t)r->p;
  uintptr_t s = (base + off + page - 1) & ~(uintptr_t)(page - 1), e = (base + off + len) & ~(uintptr_t)(page - 1);
  size_t lo = 0, hi = 0;
  if (e > s) lo = s - base, hi = e - base;
  size_t got = oh_decommit(r->p + off, len);
  if (got != hi - lo) fail("oh_decommit(%p+%zu, %zu) = %zu, want %zu", (void *)r->p, off, len, got, hi - lo);
  size_t bad = check(r->p, r->n, r->seed, lo, hi);
  if (bad != SIZE_MAX)
    fail("CORRUPTION: oh_decommit of [%zu, %zu) of %p changed byte %zu outside [%zu, %zu)", off, off + len,
         (void *)r->p, bad, lo, hi);
  fill(r->p, r->n, r->seed);
  w->c.decommits++;
}

/* Misuse that is safe while other threads run: foreign and interior pointers
 * of buffers this thread holds. */
static void op_misuse(worker_t *w) {
  unsigned char stack[32];
  if (oh_free(stack) != -1 || errno != EINVAL) fail("oh_free(stack %p) did not fail with EINVAL", (void *)stack);
  if (w->nlive == 0) return;
  rec_t *r = w->live[rnd(w) % (uint64_t)w->nlive];
  if (r->n < 2 || r->kind == K_ARENA || r->kind == K_MAP) return;
  void *q = r->p + 1 + rnd(w) % (r->n - 1);
  int rc, want = EFAULT;
  switch (r->kind) {
  case K_ALLOC:
    rc = oh_free(q);
    break;
  case K_SLAB:
    rc = oh_slab_decref(slab, q);
    break;
  case K_UPOOL:
    rc = oh_pool_put(upool, q);
    break;
  default: /* K_POOL: put back into the other pool */
    rc = oh_pool_put(upool, r->p);
    want = EXDEV;
    break;
  }
  if (rc != -1 || errno != want)
    fail("misuse of %s buffer %p (%p) was not refused with %s: rc %d errno %d", kind_name[r->kind], (void *)r->p, q,
         want == EFAULT ? "EFAULT" : "EXDEV", rc, errno);
  verify(w, r, "after a refused misuse");
  w->c.misuses++;
}

static void *worker_main(void *arg) {
  worker_t *w = arg;
  w->arena = oh_arena_new(64 << 10);
  if (w->arena == NULL) fail("oh_arena_new: %s", oh_last_error());
  for (w->ops = 0; w->ops < w->nops; w->ops++) {
    uint64_t op = rnd(w) % 1000;
    if (w->nlive >= MAX_LIVE - 20) op = 400;
    if (op < 380)
      op_alloc(w);
    else if (op < 760)
      op_release(w);
    else if (op < 800)
      op_addref(w);
    else if (op < 880)
      op_handoff(w);
    else if (op < 882)
      op_decommit(w);
    else if (op < 884)
      op_misuse(w);
    else if (op < 886)
      arena_reset(w);
    else if (op == 886 && rnd(w) % 64 == 0)
      oh_thread_flush();
    else if (op == 887 && rnd(w) % 4096 == 0)
      oh_purge();
    else if (w->nlive > 0)
      verify(w, w->live[rnd(w) % (uint64_t)w->nlive], "on a check");
  }
  arena_reset(w);
  oh_arena_destroy(w->arena);
  return NULL; /* the thread's caches are flushed as it exits */
}

static atomic_int flipper_stop;
static unsigned long long flips;

static void *flipper_main(void *arg) {
  uint64_t x = 12345;
  static const long long delays[] = {0, 1, 1000};
  (void)arg;
  while (!atomic_load(&flipper_stop)) {
    x ^= x << 13, x ^= x >> 7, x ^= x << 17;
    switch (x % 3) {
    case 0:
      oh_option_set(OH_OPT_DEBUG, (long long)(x >> 8) % 3);
      break;
    case 1:
      oh_option_set(OH_OPT_PURGE_DELAY_MS, delays[(x >> 8) % 3]);
      break;
    case 2:
      oh_option_set(OH_OPT_DECOMMIT_ADVICE, (long long)(x >> 8) % 2);
      break;
    }
    flips++;
    struct timespec ts = {0, 200000};
    nanosleep(&ts, NULL);
  }
  return NULL;
}

/* ---- final checks ---------------------------------------------------------------- */

typedef struct leaks_s {
  void **p;
  long *refs;
  size_t n, cap;
} leaks_t;

static void leak_cb(void *p, size_t size, long refs, int cls, void *arg) {
  leaks_t *l = arg;
  (void)size;
  (void)cls;
  if (l->n == l->cap) {
    l->cap = l->cap ? 2 * l->cap : 256;
    l->p = realloc(l->p, l->cap * sizeof *l->p);
    l->refs = realloc(l->refs, l->cap * sizeof *l->refs);
  }
  l->p[l->n] = p;
  l->refs[l->n++] = refs;
}

static int cmp_ptr(const void *a, const void *b) {
  uintptr_t x = (uintptr_t)((const rec_t *const *)a)[0]->p, y = (uintptr_t)((const rec_t *const *)b)[0]->p;
  return x < y ? -1 : x > y;
}

/* Compares an instance's statistics and leak list with the records of kind. */
static void compare(const char *name, int kind, oh_stats_t *st, size_t (*leaks)(void *, oh_leak_fn, void *), void *inst,
                    rec_t **all, size_t nall, uint64_t base) {
  uint64_t bytes = 0, large = 0, distinct = 0;
  for (size_t i = 0; i < nall; i++) {
    if (all[i]->kind != kind) continue;
    if (i > 0 && all[i - 1]->kind == kind && all[i - 1]->p == all[i]->p) continue; /* another reference */
    bytes += all[i]->usable;
    large += all[i]->large;
    distinct++;
  }
  printf("soak: %-22s in use %12" PRIu64 " bytes, model %12" PRIu64 " (+%" PRIu64 " before); large %" PRIu64
         ", model %" PRIu64 "\n",
         name, st->in_use_bytes, bytes + base, base, st->large_in_use, large);
  if (st->in_use_bytes != bytes + base || st->large_in_use != large)
    fail("%s: statistics differ from the model (%" PRIu64 " distinct allocations)", name, distinct);
  if (leaks == NULL) return;
  leaks_t l = {0};
  leaks(inst, leak_cb, &l);
  if (l.n != distinct) fail("%s: the leak list has %zu allocations, the model %" PRIu64, name, l.n, distinct);
  for (size_t j = 0; j < l.n; j++) {
    long refs = 0;
    for (size_t i = 0; i < nall; i++)
      if (all[i]->kind == kind && all[i]->p == l.p[j]) refs++;
    if (refs == 0 || refs != l.refs[j])
      fail("%s: the leak list has %p with %ld references, the model %ld", name, l.p[j], l.refs[j], refs);
  }
  free(l.p);
  free(l.refs);
}

static size_t slab_leaks_fn(void *s, oh_leak_fn fn, void *arg) { return oh_slab_leaks(s, fn, arg); }
static size_t pool_leaks_fn(void *p, oh_leak_fn fn, void *arg) { return oh_pool_leaks(p, fn, arg); }

static void check_all(rec_t **all, size_t nall, uint64_t base_default) {
  qsort(all, nall, sizeof *all, cmp_ptr);
  oh_stats_t st;
  oh_slab_stats(slab, &st);
  compare("slab", K_SLAB, &st, slab_leaks_fn, slab, all, nall, 0);
  oh_pool_stats(upool, &st);
  compare("pool", K_UPOOL, &st, pool_leaks_fn, upool, all, nall, 0);
  oh_pool_stats(pool, &st);
  compare("bounded pool", K_POOL, &st, pool_leaks_fn, pool, all, nall, 0);
  oh_slab_stats(oh_default_slab(), &st);
  compare("process-wide allocator", K_ALLOC, &st, NULL, NULL, all, nall, base_default);
}

int main(int argc, char **argv) {
  int nthreads = 8, flip = 0;
  unsigned long long nops = 10000000ULL;
  uint64_t seed = 1;
  int opt;
  while ((opt = getopt(argc, argv, "t:n:s:f")) != -1) {
    switch (opt) {
    case 't':
      nthreads = atoi(optarg);
      break;
    case 'n':
      nops = strtoull(optarg, NULL, 10);
      break;
    case 's':
      seed = strtoull(optarg, NULL, 10);
      break;
    case 'f':
      flip = 1;
      break;
    default:
      fprintf(stderr, "usage: %s [-t threads] [-n ops-per-thread] [-s seed] [-f]\n", argv[0]);
      return 2;
    }
  }
  if (nthreads < 1 || nthreads > 256) fail("bad thread count");
  page = oh_page_size();
  oh_slab_config_t sc = {16, SLAB_SIZE, 1.25};
  slab = oh_slab_new(&sc);
  oh_pool_config_t pc = {POOL_MAX, 16};
  pool = oh_pool_new(POOL_SIZE, &pc);
  upool = oh_pool_new(UPOOL_SIZE, NULL);
  if (!slab || !pool || !upool) fail("creating instances: %s", oh_last_error());
  oh_stats_t st;
  oh_slab_stats(oh_default_slab(), &st);
  uint64_t base_default = st.in_use_bytes;

  struct timespec t0, t1;
  clock_gettime(CLOCK_MONOTONIC, &t0);
  long long saved[OH_OPT_COUNT_];
  for (int o = 0; o < OH_OPT_COUNT_; o++) saved[o] = oh_option_get((oh_option_t)o);
  pthread_t flipper;
  if (flip && pthread_create(&flipper, NULL, flipper_main, NULL) != 0) fail("pthread_create");
  worker_t *w = calloc((size_t)nthreads, sizeof *w);
  for (int i = 0; i < nthreads; i++) {
    w[i].id = i;
    w[i].rng = ((seed * 0x9E3779B97F4A7C15ULL) ^ ((uint64_t)(i + 1) * 0xD6E8FEB86659FD93ULL)) | 1;
    w[i].nops = nops;
    if (pthread_create(&w[i].thread, NULL, worker_main, &w[i]) != 0) fail("pthread_create");
  }
  for (int i = 0; i < nthreads; i++) pthread_join(w[i].thread, NULL);
  clock_gettime(CLOCK_MONOTONIC, &t1);
  if (flip) {
    atomic_store(&flipper_stop, 1);
    pthread_join(flipper, NULL);
    for (int o = 0; o < OH_OPT_COUNT_; o++) oh_option_set((oh_option_t)o, saved[o]);
  }

  /* Gather every live record: the threads' and the slots'. */
  size_t nall = 0, cap = 1024;
  rec_t **all = malloc(cap * sizeof *all);
  for (int i = 0; i < nthreads; i++)
    for (int j = 0; j < w[i].nlive; j++) {
      if (nall == cap) all = realloc(all, (cap *= 2) * sizeof *all);
      all[nall++] = w[i].live[j];
    }
  for (int s = 0; s < NSLOTS; s++) {
    rec_t *r = atomic_exchange(&slots[s], NULL);
    if (r == NULL) continue;
    if (nall == cap) all = realloc(all, (cap *= 2) * sizeof *all);
    all[nall++] = r;
  }
  check_all(all, nall, base_default);

  /* Release everything from this thread, checked. */
  worker_t fin = {.id = -1, .rng = seed | 1};
  for (size_t i = 0; i < nall; i++) release(&fin, all[i]);
  oh_thread_flush();
  check_all(all, 0, base_default);
  if (atomic_load(&slab_allocs) != atomic_load(&slab_frees))
    fail("%llu slab chunks allocated, %llu decrefs reported freeing one", (unsigned long long)slab_allocs,
         (unsigned long long)slab_frees);

  unsigned long long ops = 0, allocs = 0, releases = 0, handoffs = 0, addrefs = 0, decommits = 0, misuses = 0,
                     checks = 0;
  for (int i = 0; i < nthreads; i++) {
    ops += w[i].ops;
    allocs += w[i].c.allocs;
    releases += w[i].c.releases;
    handoffs += w[i].c.handoffs;
    addrefs += w[i].c.addrefs;
    decommits += w[i].c.decommits;
    misuses += w[i].c.misuses;
    checks += w[i].c.checks;
  }
  double secs = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
  printf("soak: %d threads x %llu ops = %llu operations in %.1f s (%llu option flips): %llu allocations, %llu releases, %llu addrefs, "
         "%llu hand-offs, %llu decommits, %llu refused misuses, %llu pattern checks; corruptions: 0; "
         "%zu live at the end matched the statistics and leak lists exactly, then released to 0 bytes in use\n",
         nthreads, nops, ops, secs, flips, allocs, releases + fin.c.releases, addrefs, handoffs, decommits, misuses,
         checks + fin.c.checks, nall);
  if (oh_slab_destroy(slab) || oh_pool_destroy(pool) || oh_pool_destroy(upool)) fail("destroy: %s", oh_last_error());
  free(all);
  free(w);
  return 0;
}
