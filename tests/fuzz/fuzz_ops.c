/* fuzz_ops.c - libFuzzer target: random sequences of operations on the C ABI
 * (oh_alloc / oh_calloc / oh_free, slab instances with reference counts and
 * batches, bounded and unbounded pools, arenas, oh_map, oh_decommit, purging,
 * options, fault injection, misuse) checked against a simple model.
 *
 * The model is a table of live allocations: address, size, kind, pattern
 * seed, reference count, the bytes the statistics count for it. Every
 * allocation is filled with its own pattern and checked before it is
 * released; every error must come with the errno the header promises, a call
 * of the error handler naming the pointer, and no change to the model; the
 * statistics (in-use bytes, large allocations) and the leak lists
 * (oh_slab_leaks, oh_pool_leaks) must equal the model exactly.
 *
 * Input format: byte 0 configures the run (slab geometry, thread cache
 * bound); then one byte picks each operation and the following bytes its
 * arguments. op_lifecycle races two oh_unmap calls, destroys pools and
 * arenas twice and runs arena reset sequences (issue 13). An exhausted input reads as zeros and ends the run.
 *
 * Built with clang -fsanitize=fuzzer,address,undefined against the core sources and
 * -Ic/src, so it can call ohi_test_fail_os (fault injection). Each run leaves
 * the process as it found it: instances destroyed, options restored, fault
 * injection disarmed, the process-wide allocator's in-use bytes unchanged.
 */
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

/* ---- failures ---------------------------------------------------------------- */

static unsigned long long op_index;

__attribute__((noreturn, format(printf, 1, 2))) static void fail(const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  fprintf(stderr, "fuzz_ops: FAILED at operation %llu: ", op_index);
  vfprintf(stderr, fmt, ap);
  fprintf(stderr, "\n");
  va_end(ap);
  abort();
}

/* ---- patterns ---------------------------------------------------------------- */

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

NO_COVERAGE static void fill(void *p, size_t n, uint64_t seed) {
  unsigned char *b = p;
  size_t i = 0;
  for (; i + 8 <= n; i += 8) {
    uint64_t w = pat_word(seed, i / 8);
    memcpy(b + i, &w, 8);
  }
  if (i < n) {
    uint64_t w = pat_word(seed, i / 8);
    for (size_t j = i; j < n; j++) b[j] = (unsigned char)(w >> (8 * (j - i)));
  }
}

/* The first byte of p that differs from seed's pattern (bytes in [zlo, zhi)
 * may also be zero), or SIZE_MAX. */
NO_COVERAGE static size_t check(const void *p, size_t n, uint64_t seed, size_t zlo, size_t zhi) {
  const unsigned char *b = p;
  for (size_t i = 0; i < n; i += 8) {
    uint64_t w = pat_word(seed, i / 8);
    size_t end = i + 8 < n ? i + 8 : n;
    uint64_t got;
    if (end - i == 8 && (memcpy(&got, b + i, 8), got == w)) continue; /* an 8-byte load */
    for (size_t j = i; j < end; j++) {
      unsigned char want = (unsigned char)(w >> (8 * (j - i)));
      if (b[j] != want && !(b[j] == 0 && j >= zlo && j < zhi)) return j;
    }
  }
  return SIZE_MAX;
}

NO_COVERAGE static size_t first_nonzero(const void *p, size_t n) {
  const unsigned char *b = p;
  for (size_t i = 0; i < n; i++)
    if (b[i] != 0) return i;
  return SIZE_MAX;
}

/* ---- the error contract -------------------------------------------------------- */

static struct {
  int count, err;
  char msg[512];
} cap;

static void capture(int err, const char *msg, void *arg) {
  (void)arg;
  cap.count++;
  cap.err = err;
  snprintf(cap.msg, sizeof cap.msg, "%s", msg);
}

static void cap_reset(void) {
  cap.count = 0;
  cap.err = 0;
  cap.msg[0] = '\0';
}

/* Whether msg names p in hex (with or without 0x and zero padding). */
static int names_ptr(const char *msg, const void *p) {
  char hex[32];
  snprintf(hex, sizeof hex, "%" PRIxPTR, (uintptr_t)p);
  for (const char *m = msg; *m; m++)
    if (strncasecmp(m, hex, strlen(hex)) == 0) return 1;
  return 0;
}

static int errno_in(int e, const int *set, int n) {
  for (int i = 0; i < n; i++)
    if (set[i] == e) return 1;
  return 0;
}

/* A call failed (failed != 0) with errno e: it must be one of wants, the
 * handler must have been called once with it, the message must name ptr (if
 * not NULL), and oh_last_error must say the same. */
static void expect_err_(const char *what, int failed, int e, const void *ptr, const int *wants, int n) {
  if (!failed) fail("%s: succeeded, an error was expected", what);
  if (!errno_in(e, wants, n)) fail("%s: errno %d (%s), not an expected one", what, e, strerror(e));
  if (cap.count != 1 || cap.err != e)
    fail("%s: the error handler was called %d times, last with errno %d (want once with %d)", what, cap.count,
         cap.err, e);
  if (cap.msg[0] == '\0') fail("%s: empty error message", what);
  if (ptr != NULL && !names_ptr(cap.msg, ptr)) fail("%s: message \"%s\" does not name %p", what, cap.msg, ptr);
  if (strcmp(oh_last_error(), cap.msg) != 0)
    fail("%s: oh_last_error() \"%s\" differs from the handler's \"%s\"", what, oh_last_error(), cap.msg);
}
#define EXPECT_ERR(what, failed_expr, ptr, ...)                                                        \
  do {                                                                                                 \
    cap_reset();                                                                                       \
    errno = 0;                                                                                         \
    int failed_ = (failed_expr);                                                                       \
    int e_ = errno;                                                                                    \
    static const int wants_[] = {__VA_ARGS__};                                                         \
    expect_err_(what, failed_, e_, ptr, wants_, (int)(sizeof wants_ / sizeof wants_[0]));              \
  } while (0)

/* ---- the model ----------------------------------------------------------------- */

enum kind { K_ALLOC, K_CALLOC, K_SLAB, K_POOL, K_UPOOL, K_ARENA, K_MAP, K_COUNT };
static const char *kind_name[K_COUNT] = {"oh_alloc", "oh_calloc", "oh_slab_alloc", "oh_pool_get (bounded)",
                                         "oh_pool_get", "oh_arena_alloc", "oh_map"};

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

static struct {
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
} F;

static uint8_t next(void) { return F.pos < F.len ? F.data[F.pos++] : (F.pos++, 0); }
static int done(void) { return F.pos >= F.len; }
static size_t u16(void) { return (size_t)next() << 8 | next(); }
static size_t u24(void) { return u16() << 8 | next(); }

static size_t page;
static size_t round_pages(size_t n) { return (n + page - 1) & ~(page - 1); }

static size_t gen_size(void) {
  uint8_t b = next();
  if (b < 150) return 1 + next();
  if (b < 215) return 257 + u16() % (16 << 10);
  if (b < 245) return (16 << 10) + u24() % (112 << 10);
  if (b < 254) return (128 << 10) + u24() % (192 << 10); /* around the 64 and 256 KiB slab sizes */
  return (1 << 20) + 1 + u24() % (1 << 20);              /* whole pages for every instance */
}

static void add_live(live_t lv) {
  if (F.nlive >= MAX_LIVE) fail("model table full");
  F.live[F.nlive++] = lv;
  F.live_bytes += lv.n;
}

static live_t take_live(int i) {
  live_t lv = F.live[i];
  F.live[i] = F.live[--F.nlive];
  F.live_bytes -= lv.n;
  return lv;
}

NO_COVERAGE static int find_live(const void *p) {
  for (int i = 0; i < F.nlive; i++)
    if (F.live[i].p == p) return i;
  return -1;
}

NO_COVERAGE static void verify(const live_t *lv, const char *when) {
  size_t bad = check(lv->p, lv->n, lv->seed, 0, 0);
  if (bad != SIZE_MAX)
    fail("CORRUPTION: %s allocation %p (%zu bytes) %s: byte %zu is 0x%02x, not its pattern", kind_name[lv->kind],
         (void *)lv->p, lv->n, when, bad, lv->p[bad]);
}

static void add_dead(void *p, size_t n, int kind) {
  if (F.ndead == MAX_DEAD) {
    memmove(&F.dead[0], &F.dead[1], (MAX_DEAD - 1) * sizeof F.dead[0]);
    F.ndead--;
  }
  F.dead[F.ndead].p = p;
  F.dead[F.ndead].n = n;
  F.dead[F.ndead].kind = kind;
  F.ndead++;
}

/* An allocation returned NULL: allowed only with faults armed (or a bounded
 * pool at its maximum); it must be ENOMEM through the whole error contract. */
static void alloc_failed(const char *what, int e, int allowed) {
  if (!allowed && F.fault_ops == 0) fail("%s failed (%s) with no fault injected: %s", what, strerror(e), cap.msg);
  int wants[] = {ENOMEM};
  expect_err_(what, 1, e, NULL, wants, 1);
}

/* The chunk size the classes of s give n bytes, or 0 for whole pages. */
static size_t class_size_for(oh_slab_t *s, size_t slab_size, size_t n) {
  if (n > slab_size) return 0;
  int nc = oh_slab_class_count(s);
  for (int i = 0; i < nc; i++)
    if (oh_slab_class_size(s, i) >= n) return oh_slab_class_size(s, i);
  fail("no class of %p holds %zu bytes (slab size %zu)", (void *)s, n, slab_size);
}

static void check_usable(const char *what, oh_slab_t *s, size_t slab_size, size_t n, size_t usable) {
  size_t want = class_size_for(s, slab_size, n);
  if (want != 0 && usable != want) fail("%s(%zu): usable size %zu, want the class size %zu", what, n, usable, want);
  if (want == 0 && (usable < round_pages(n) || usable > round_pages(n) + round_pages(n) / 4))
    fail("%s(%zu): usable size %zu, want whole pages (%zu, up to 25%% more when reused)", what, n, usable,
         round_pages(n));
}

/* ---- operations ---------------------------------------------------------------- */

static void op_alloc(void) {
  int kind = next() % K_COUNT;
  size_t n = gen_size();
  live_t lv = {0};
  lv.kind = kind;
  lv.refs = 1;
  char what[64];
  snprintf(what, sizeof what, "%s(%zu)", kind_name[kind], n);
  void *p = NULL;
  cap_reset();
  errno = 0;
  switch (kind) {
  case K_ALLOC:
    p = oh_alloc(n);
    break;
  case K_CALLOC:
    p = oh_calloc(n);
    break;
  case K_SLAB:
    if (next() % 4 == 0) { /* a batch of one class */
      int cls = next() % oh_slab_class_count(F.s);
      void *out[16];
      size_t want = 1 + next() % 16, csize = oh_slab_class_size(F.s, cls);
      if (F.nlive + (int)want >= MAX_LIVE) return;
      size_t got = oh_slab_alloc_batch(F.s, cls, out, want);
      int e = errno;
      if (got == 0) {
        alloc_failed("oh_slab_alloc_batch", e, 0);
        return;
      }
      if (got > want) fail("oh_slab_alloc_batch(%zu) returned %zu", want, got);
      if (got < want && F.fault_ops == 0) fail("oh_slab_alloc_batch(%zu) returned only %zu", want, got);
      for (size_t i = 0; i < got; i++) {
        live_t b = {.p = out[i], .n = csize, .usable = csize, .seed = ++F.seq, .refs = 1, .kind = K_SLAB};
        if (oh_slab_usable_size(F.s, out[i]) != csize || oh_slab_refcount(F.s, out[i]) != 1)
          fail("batch chunk %p: usable %zu refcount %ld, want %zu, 1", out[i], oh_slab_usable_size(F.s, out[i]),
               oh_slab_refcount(F.s, out[i]), csize);
        fill(b.p, b.n, b.seed);
        add_live(b);
      }
      return;
    }
    p = oh_slab_alloc(F.s, n);
    break;
  case K_POOL:
    n = POOL_SIZE;
    p = oh_pool_get(F.pool);
    if (p == NULL) {
      int e = errno;
      alloc_failed("oh_pool_get (bounded)", e, F.pool_out == POOL_MAX);
      return;
    }
    if (F.pool_out == POOL_MAX) fail("bounded pool handed out object %d of %d", POOL_MAX + 1, POOL_MAX);
    F.pool_out++;
    break;
  case K_UPOOL:
    n = UPOOL_SIZE;
    p = oh_pool_get(F.upool);
    break;
  case K_ARENA: {
    size_t aligns[] = {0, 16, 8, 64, 4096};
    size_t align = aligns[next() % 5];
    p = oh_arena_alloc(F.arena, n, align);
    if (p != NULL && ((uintptr_t)p % (align ? align : 16)) != 0) fail("%s align %zu = %p", what, align, p);
    if (p != NULL && oh_arena_owns(F.arena, p) != 1) fail("oh_arena_owns(%p) is not 1 right after allocation", p);
    break;
  }
  case K_MAP:
    n = 1 + u16() % (3 * page);
    p = oh_map(n);
    break;
  }
  int e = errno;
  if (p == NULL) {
    alloc_failed(what, e, 0);
    return;
  }
  if (cap.count != 0) fail("%s succeeded but called the error handler: %s", what, cap.msg);
  if (kind != K_ARENA && (uintptr_t)p % 16 != 0) fail("%s = %p: not 16-byte aligned", what, p);
  lv.p = p;
  lv.n = n;
  lv.seed = ++F.seq;
  switch (kind) {
  case K_ALLOC:
  case K_CALLOC:
    lv.usable = oh_usable_size(p);
    check_usable(what, oh_default_slab(), (size_t)1 << 20, n, lv.usable);
    lv.large = n > ((size_t)1 << 20);
    if (n % page == 0 && (uintptr_t)p % page != 0) fail("%s = %p: a page multiple, not page aligned", what, p);
    if (kind == K_CALLOC && first_nonzero(p, n) != SIZE_MAX) fail("%s = %p: not zeroed", what, p);
    break;
  case K_SLAB:
    lv.usable = oh_slab_usable_size(F.s, p);
    check_usable(what, F.s, F.slab_size, n, lv.usable);
    lv.large = n > F.slab_size;
    if (oh_slab_refcount(F.s, p) != 1) fail("%s = %p: refcount %ld", what, p, oh_slab_refcount(F.s, p));
    break;
  case K_POOL:
    lv.usable = (POOL_SIZE + 15) & ~(size_t)15;
    break;
  case K_UPOOL:
    lv.usable = (UPOOL_SIZE + 15) & ~(size_t)15;
    break;
  case K_ARENA:
    lv.gen = F.gen;
    break;
  case K_MAP:
    lv.usable = round_pages(n);
    if ((uintptr_t)p % page != 0 || first_nonzero(p, round_pages(n)) != SIZE_MAX)
      fail("%s = %p: not page aligned and zeroed", what, p);
    break;
  }
  fill(p, n, lv.seed);
  add_live(lv);
}

static int pick(void) { return F.nlive == 0 ? -1 : (int)(u16() % (size_t)F.nlive); }

/* Releases live allocation i the way its kind is released. */
static void release_at(int i) {
  live_t *l = &F.live[i];
  if (l->kind == K_ARENA) {
    verify(l, "in the arena");
    return;
  }
  verify(l, "before its release");
  int r;
  cap_reset();
  errno = 0;
  switch (l->kind) {
  case K_ALLOC:
  case K_CALLOC:
    if (l->refs > 1) { /* an extra reference through the default slab */
      EXPECT_ERR("oh_free of an allocation with 2 references", oh_free(l->p) != 0, l->p, EBUSY);
      cap_reset();
      r = oh_slab_decref(oh_default_slab(), l->p);
      if (r != 0) fail("oh_slab_decref(default, %p) with 2 references = %d (%s)", (void *)l->p, r, cap.msg);
      l->refs--;
      return;
    }
    r = oh_free(l->p);
    if (r != 0) fail("oh_free(%p) = %d: %s", (void *)l->p, r, cap.msg);
    break;
  case K_SLAB:
    r = oh_slab_decref(F.s, l->p);
    if (r != (l->refs == 1)) fail("oh_slab_decref(%p) with %ld references = %d: %s", (void *)l->p, l->refs, r, cap.msg);
    if (--l->refs > 0) {
      if (oh_slab_refcount(F.s, l->p) != l->refs) fail("refcount of %p is not %ld", (void *)l->p, l->refs);
      return;
    }
    break;
  case K_POOL:
    r = oh_pool_put(F.pool, l->p);
    if (r != 0) fail("oh_pool_put(bounded, %p) = %d: %s", (void *)l->p, r, cap.msg);
    F.pool_out--;
    break;
  case K_UPOOL:
    r = oh_pool_put(F.upool, l->p);
    if (r != 0) fail("oh_pool_put(%p) = %d: %s", (void *)l->p, r, cap.msg);
    break;
  case K_MAP:
    r = oh_unmap(l->p, next() % 2 ? l->n : l->usable);
    if (r != 0) fail("oh_unmap(%p, %zu) = %d: %s", (void *)l->p, l->n, r, cap.msg);
    break;
  }
  if (cap.count != 0) fail("a release succeeded but called the error handler: %s", cap.msg);
  live_t lv = take_live(i);
  add_dead(lv.p, lv.n, lv.kind);
}

static void op_release(void) {
  int i = pick();
  if (i >= 0) release_at(i);
}

/* Frees several refcount-1 slab chunks in one oh_slab_free_batch call,
 * sometimes with a bad pointer in the middle. */
static void op_free_batch(void) {
  void *ptrs[16];
  int idx[16], k = 0;
  for (int i = 0; i < F.nlive && k < 16; i++)
    if (F.live[i].kind == K_SLAB && F.live[i].refs == 1 && !F.live[i].large && next() % 2) {
      verify(&F.live[i], "before a batch free");
      idx[k] = i;
      ptrs[k++] = F.live[i].p;
    }
  if (k == 0) return;
  size_t badpos = SIZE_MAX, bad = 0;
  unsigned char foreign[32];
  if (next() % 3 == 0) {
    badpos = next() % (size_t)k;
    ptrs[badpos] = foreign;
  }
  cap_reset();
  errno = 0;
  int r = oh_slab_free_batch(F.s, ptrs, (size_t)k, &bad);
  int e = errno;
  size_t freed = (size_t)k;
  if (badpos != SIZE_MAX) {
    int wants[] = {EINVAL};
    expect_err_("oh_slab_free_batch with a foreign pointer", r == -1, e, foreign, wants, 1);
    if (bad != badpos) fail("oh_slab_free_batch: bad index %zu, want %zu", bad, badpos);
    freed = badpos;
  } else if (r != 0) {
    fail("oh_slab_free_batch of %d chunks = %d: %s", k, r, cap.msg);
  }
  /* The chunks before the bad one are freed, the others still live. */
  void *gone[16];
  for (size_t j = 0; j < freed; j++) gone[j] = ptrs[j];
  for (size_t j = 0; j < freed; j++) {
    int i = find_live(gone[j]);
    live_t lv = take_live(i);
    add_dead(lv.p, lv.n, lv.kind);
  }
  for (int j = (int)freed + 1; j < k; j++)
    if (oh_slab_refcount(F.s, ptrs[j]) != 1) fail("a chunk after the bad one was freed by oh_slab_free_batch");
  (void)idx;
}

static void op_addref(void) {
  int i = pick();
  if (i < 0) return;
  live_t *l = &F.live[i];
  if (l->kind == K_SLAB) {
    if (oh_slab_addref(F.s, l->p) != 0) fail("oh_slab_addref(%p): %s", (void *)l->p, cap.msg);
    l->refs++;
    if (oh_slab_refcount(F.s, l->p) != l->refs) fail("refcount of %p is not %ld", (void *)l->p, l->refs);
  } else if ((l->kind == K_ALLOC || l->kind == K_CALLOC) && l->refs == 1) {
    /* The process-wide allocator is a slab instance too. */
    if (oh_slab_addref(oh_default_slab(), l->p) != 0) fail("oh_slab_addref(default, %p): %s", (void *)l->p, cap.msg);
    l->refs++;
  }
}

static void op_decommit(void) {
  int i = pick();
  if (i < 0) return;
  live_t *l = &F.live[i];
  size_t off = u24() % l->n, len = 1 + u24() % (l->n - off);
  if (next() % 4 == 0) off = 0, len = l->n;
  uintptr_t base = (uintptr_t)l->p;
  uintptr_t start = (base + off + page - 1) & ~(uintptr_t)(page - 1), end = (base + off + len) & ~(uintptr_t)(page - 1);
  size_t lo = 0, hi = 0;
  if (end > start) lo = start - base, hi = end - base;
  size_t got = oh_decommit(l->p + off, len);
  if (got != hi - lo) fail("oh_decommit(%p+%zu, %zu) = %zu, want %zu", (void *)l->p, off, len, got, hi - lo);
  size_t bad = check(l->p, l->n, l->seed, lo, hi);
  if (bad != SIZE_MAX)
    fail("CORRUPTION: oh_decommit of [%zu, %zu) of %p changed byte %zu (0x%02x) outside [%zu, %zu) or not to zero",
         off, off + len, (void *)l->p, bad, l->p[bad], lo, hi);
  fill(l->p, l->n, l->seed);
}

static void op_arena_reset(void) {
  for (int i = 0; i < F.nlive;) {
    if (F.live[i].kind == K_ARENA) {
      verify(&F.live[i], "before oh_arena_reset");
      take_live(i);
    } else {
      i++;
    }
  }
  oh_arena_reset(F.arena, next() % 2 ? OH_ARENA_KEEP : OH_ARENA_DECOMMIT);
  F.gen++;
}

static void op_rewrite(void) {
  int i = pick();
  if (i < 0) return;
  verify(&F.live[i], "before a rewrite");
  F.live[i].seed = ++F.seq;
  fill(F.live[i].p, F.live[i].n, F.live[i].seed);
}

/* ---- misuse ---------------------------------------------------------------------- */

static const int release_errs[] = {EINVAL, EFAULT, EALREADY, EXDEV};

static void op_misuse(void) {
  unsigned char stack[64];
  int i;
  switch (next() % 8) {
  case 0: /* foreign pointers: stack, malloc */ {
    void *m = malloc(64);
    void *foreign = next() % 2 ? (void *)stack : m;
    EXPECT_ERR("oh_free(foreign)", oh_free(foreign) != 0, foreign, EINVAL);
    EXPECT_ERR("oh_slab_decref(foreign)", oh_slab_decref(F.s, foreign) == -1, foreign, EINVAL);
    EXPECT_ERR("oh_slab_addref(foreign)", oh_slab_addref(F.s, foreign) != 0, foreign, EINVAL);
    EXPECT_ERR("oh_pool_put(foreign)", oh_pool_put(F.upool, foreign) != 0, foreign, EINVAL);
    EXPECT_ERR("oh_unmap(foreign)", oh_unmap(foreign, page) != 0, foreign, EINVAL);
    EXPECT_ERR("oh_usable_size(foreign)", oh_usable_size(foreign) == 0, foreign, EINVAL);
    if (oh_arena_owns(F.arena, foreign) != 0) fail("oh_arena_owns(foreign %p) != 0", foreign);
    free(m);
    break;
  }
  case 1: /* interior pointers */
    i = pick();
    if (i < 0 || F.live[i].n < 2 || F.live[i].kind == K_ARENA) return;
    {
      live_t *l = &F.live[i];
      void *q = l->p + 1 + next() % (l->n - 1);
      switch (l->kind) {
      case K_ALLOC:
      case K_CALLOC:
        EXPECT_ERR("oh_free(interior)", oh_free(q) != 0, q, EFAULT);
        break;
      case K_SLAB:
        EXPECT_ERR("oh_slab_decref(interior)", oh_slab_decref(F.s, q) == -1, q, EFAULT);
        EXPECT_ERR("oh_slab_addref(interior)", oh_slab_addref(F.s, q) != 0, q, EFAULT);
        EXPECT_ERR("oh_slab_refcount(interior)", oh_slab_refcount(F.s, q) == -1, q, EFAULT);
        break;
      case K_POOL:
        EXPECT_ERR("oh_pool_put(interior)", oh_pool_put(F.pool, q) != 0, q, EFAULT);
        break;
      case K_UPOOL:
        EXPECT_ERR("oh_pool_put(interior)", oh_pool_put(F.upool, q) != 0, q, EFAULT);
        break;
      case K_MAP:
        EXPECT_ERR("oh_unmap(interior)", oh_unmap(q, page) != 0, q, EFAULT);
        break;
      }
      verify(l, "after a misuse");
    }
    break;
  case 2: /* another instance's allocation */
    i = pick();
    if (i < 0) return;
    {
      live_t *l = &F.live[i];
      switch (l->kind) {
      case K_ALLOC:
      case K_CALLOC:
        EXPECT_ERR("oh_slab_decref(s, default allocation)", oh_slab_decref(F.s, l->p) == -1, l->p, EXDEV);
        EXPECT_ERR("oh_pool_put(default allocation)", oh_pool_put(F.upool, l->p) != 0, l->p, EXDEV);
        break;
      case K_SLAB:
        EXPECT_ERR("oh_free(slab chunk)", oh_free(l->p) != 0, l->p, EXDEV);
        EXPECT_ERR("oh_slab_decref(other, chunk)", oh_slab_decref(F.other, l->p) == -1, l->p, EXDEV);
        EXPECT_ERR("oh_slab_addref(other, chunk)", oh_slab_addref(F.other, l->p) != 0, l->p, EXDEV);
        break;
      case K_POOL:
        EXPECT_ERR("oh_pool_put(other pool)", oh_pool_put(F.upool, l->p) != 0, l->p, EXDEV);
        EXPECT_ERR("oh_free(pool object)", oh_free(l->p) != 0, l->p, EXDEV);
        break;
      case K_UPOOL:
        EXPECT_ERR("oh_pool_put(other pool)", oh_pool_put(F.pool, l->p) != 0, l->p, EXDEV);
        break;
      case K_ARENA:
        if (l->gen != F.gen) return;
        EXPECT_ERR("oh_free(arena memory)", oh_free(l->p) != 0, l->p, EXDEV);
        break;
      case K_MAP:
        EXPECT_ERR("oh_free(oh_map memory)", oh_free(l->p) != 0, l->p, EINVAL, EXDEV);
        EXPECT_ERR("oh_unmap(wrong size)", oh_unmap(l->p, l->usable + page) != 0, l->p, EINVAL);
        break;
      }
      verify(l, "after a misuse");
      if (l->kind == K_SLAB && oh_slab_refcount(F.s, l->p) != l->refs)
        fail("a refused release changed the refcount of %p", (void *)l->p);
    }
    break;
  case 3: /* stale pointers: double free, decref below zero, addref after free */ {
    if (F.ndead == 0) return;
    int d = next() % F.ndead;
    void *p = F.dead[d].p;
    if (find_live(p) >= 0) return; /* handed out again: the new owner's */
    switch (F.dead[d].kind) {
    case K_ALLOC:
    case K_CALLOC:
      cap_reset();
      errno = 0;
      {
        int r = oh_free(p), e = errno;
        expect_err_("double oh_free", r != 0, e, p, release_errs, 4);
      }
      break;
    case K_SLAB:
      cap_reset();
      errno = 0;
      {
        int r = next() % 2 ? oh_slab_decref(F.s, p) : oh_slab_addref(F.s, p), e = errno;
        expect_err_("oh_slab_decref/addref of a freed chunk", r == -1, e, p, release_errs, 4);
      }
      break;
    case K_POOL:
    case K_UPOOL:
      cap_reset();
      errno = 0;
      {
        int r = oh_pool_put(F.dead[d].kind == K_POOL ? F.pool : F.upool, p), e = errno;
        expect_err_("double oh_pool_put", r != 0, e, p, release_errs, 4);
      }
      break;
    case K_MAP:
      cap_reset();
      errno = 0;
      {
        int r = oh_unmap(p, F.dead[d].n), e = errno;
        expect_err_("double oh_unmap", r != 0, e, p, release_errs, 4);
      }
      break;
    }
    break;
  }
  case 4: /* NULL and bad arguments */
    cap_reset();
    if (oh_free(NULL) != 0 || cap.count != 0) fail("oh_free(NULL) is not a silent no-op");
    EXPECT_ERR("oh_slab_alloc(NULL)", oh_slab_alloc(NULL, 10) == NULL, NULL, EINVAL);
    EXPECT_ERR("oh_pool_get(NULL)", oh_pool_get(NULL) == NULL, NULL, EINVAL);
    EXPECT_ERR("oh_map(0)", oh_map(0) == NULL, NULL, EINVAL);
    EXPECT_ERR("oh_arena_alloc(0)", oh_arena_alloc(F.arena, 0, 0) == NULL, NULL, EINVAL);
    EXPECT_ERR("oh_arena_alloc(align 24)", oh_arena_alloc(F.arena, 8, 24) == NULL, NULL, EINVAL);
    EXPECT_ERR("oh_alloc(SIZE_MAX)", oh_alloc(SIZE_MAX) == NULL, NULL, EINVAL, ENOMEM);
    EXPECT_ERR("oh_slab_alloc(huge)", oh_slab_alloc(F.s, (size_t)1 << 62) == NULL, NULL, EINVAL, ENOMEM);
    EXPECT_ERR("oh_option_set(debug 7)", oh_option_set(OH_OPT_DEBUG, 7) != 0, NULL, EINVAL);
    break;
  case 5: /* a destroyed instance's memory */ {
    cap_reset();
    errno = 0;
    oh_slab_t *t = oh_slab_new(NULL);
    if (t == NULL) {
      alloc_failed("oh_slab_new", errno, 0);
      return;
    }
    cap_reset();
    errno = 0;
    void *p = oh_slab_alloc(t, 1 + next());
    int e = errno;
    if (p == NULL) alloc_failed("oh_slab_alloc(fresh)", e, 0);
    oh_slab_destroy(t);
    if (p != NULL && find_live(p) < 0) {
      cap_reset();
      errno = 0;
      int r = oh_free(p);
      e = errno;
      expect_err_("oh_free of a destroyed slab's chunk", r != 0, e, p, release_errs, 4);
    }
    break;
  }
  case 6: /* usable size and refcount of a live allocation */
    i = pick();
    if (i < 0) return;
    if ((F.live[i].kind == K_ALLOC || F.live[i].kind == K_CALLOC) && oh_usable_size(F.live[i].p) != F.live[i].usable)
      fail("oh_usable_size(%p) changed", (void *)F.live[i].p);
    if (F.live[i].kind == K_SLAB && oh_slab_refcount(F.s, F.live[i].p) != F.live[i].refs)
      fail("oh_slab_refcount(%p) = %ld, model %ld", (void *)F.live[i].p, oh_slab_refcount(F.s, F.live[i].p),
           F.live[i].refs);
    break;
  case 7: /* arena memory that is not handed out */
    if (oh_arena_owns(F.arena, stack) != 0) fail("oh_arena_owns(stack)");
    i = pick();
    if (i >= 0 && F.live[i].kind != K_ARENA && oh_arena_owns(F.arena, F.live[i].p) != 0)
      fail("oh_arena_owns(%p) of a %s allocation", (void *)F.live[i].p, kind_name[F.live[i].kind]);
    break;
  }
}

/* Lifecycles (issue 13): two threads racing to unmap one mapping (exactly one
 * wins), oh_unmap of an allocator's memory, a pool and an arena destroyed
 * twice and used after destroy, and arena reset sequences under the debug
 * level in force (memory handed out again must be writable: a guard left
 * behind would fault). */
static void *unmap_racer(void *arg) {
  void **pn = arg;
  return (void *)(intptr_t)(oh_unmap(pn[0], (size_t)(uintptr_t)pn[1]) == 0);
}

static void op_lifecycle(void) {
  switch (next() % 3) {
  case 0: { /* racing double unmap */
    size_t n = page * (1 + next() % 4);
    cap_reset();
    void *m = oh_map(n), *pn[2] = {m, (void *)(uintptr_t)n};
    if (m == NULL) {
      alloc_failed("oh_map(lifecycle)", errno, 0);
      return;
    }
    pthread_t t;
    if (pthread_create(&t, NULL, unmap_racer, pn) != 0) {
      if (oh_unmap(m, n) != 0) fail("oh_unmap(%p): %s", m, oh_last_error());
      return;
    }
    int mine = oh_unmap(m, n) == 0;
    void *theirs;
    pthread_join(t, &theirs);
    if (mine + (int)(intptr_t)theirs != 1) fail("racing oh_unmap(%p): %d winners", m, mine + (int)(intptr_t)theirs);
    int i = pick();
    if (i >= 0 && F.live[i].kind != K_MAP)
      EXPECT_ERR("oh_unmap(allocator memory)", oh_unmap(F.live[i].p, page) != 0, F.live[i].p, EINVAL, EFAULT);
    break;
  }
  case 1: { /* a pool destroyed twice */
    cap_reset();
    oh_pool_t *p = oh_pool_new(1 + next(), NULL);
    if (p == NULL) {
      alloc_failed("oh_pool_new", errno, 0);
      return;
    }
    void *o = oh_pool_get(p);
    if (o == NULL && F.fault_ops == 0) fail("oh_pool_get(fresh pool): %s", oh_last_error());
    if (oh_pool_destroy(p) != 0) fail("oh_pool_destroy(%p): %s", (void *)p, oh_last_error());
    EXPECT_ERR("oh_pool_destroy twice", oh_pool_destroy(p) != 0, p, EINVAL);
    EXPECT_ERR("oh_pool_get(destroyed)", oh_pool_get(p) == NULL, p, EINVAL);
    break;
  }
  case 2: { /* arena reset sequences, then destroy twice */
    cap_reset();
    oh_arena_t *a = oh_arena_new((size_t)(1 + next() % 8) * page);
    if (a == NULL) {
      alloc_failed("oh_arena_new", errno, 0);
      return;
    }
    for (int k = 1 + next() % 6; k > 0; k--) {
      size_t n = 1 + u16() % (12 * page);
      unsigned char *q = oh_arena_alloc(a, n, next() % 2 ? 0 : page);
      if (q == NULL) {
        if (F.fault_ops == 0) fail("oh_arena_alloc(lifecycle, %zu): %s", n, oh_last_error());
        continue;
      }
      fill(q, n, ++F.seq);
      if (check(q, n, F.seq, 0, 0) != SIZE_MAX) fail("CORRUPTION: lifecycle arena allocation %p", (void *)q);
      if (next() % 3 == 0) oh_arena_reset(a, next() % 2 ? OH_ARENA_KEEP : OH_ARENA_DECOMMIT);
    }
    if (oh_arena_destroy(a) != 0) fail("oh_arena_destroy(%p): %s", (void *)a, oh_last_error());
    EXPECT_ERR("oh_arena_destroy twice", oh_arena_destroy(a) != 0, a, EINVAL);
    EXPECT_ERR("oh_arena_alloc(destroyed)", oh_arena_alloc(a, 8, 0) == NULL, a, EINVAL);
    break;
  }
  }
}

/* ---- knobs ------------------------------------------------------------------------- */

static long long saved_opts[OH_OPT_COUNT_];

static void op_faults(void) {
  uint8_t b = next();
  if (b % 2 == 0)
    ohi_test_fail_os(1 + (b / 2) % 4, 0);
  else
    ohi_test_fail_os(0, (uint64_t)(b / 2) * (64 << 10) + 1);
  F.fault_ops = 1 + next() % 32;
}

static void op_option(void) {
  uint8_t v = next();
  switch (v % 4) {
  case 0: {
    long long delays[] = {0, 1, 1000, -1};
    oh_option_set(OH_OPT_PURGE_DELAY_MS, delays[(v / 4) % 4]);
    break;
  }
  case 1:
    oh_option_set(OH_OPT_DEBUG, (v / 4) % 3);
    break;
  case 2:
    oh_option_set(OH_OPT_DECOMMIT_ADVICE, (v / 4) % 2);
    break;
  case 3:
    oh_option_set(OH_OPT_RETAIN_BYTES, (v / 4) % 2 ? 0 : 4LL << 20);
    break;
  }
}

static void step(void);

static void *thread_ops(void *arg) {
  int k = *(int *)arg;
  for (int i = 0; i < k && !done(); i++) step();
  return NULL; /* the thread's caches are flushed by its exit */
}

/* Runs the next few operations on a new thread. */
static void op_thread(void) {
  int k = 1 + next() % 16;
  pthread_t t;
  if (pthread_create(&t, NULL, thread_ops, &k) != 0) return;
  pthread_join(t, NULL);
}

static void op_purge(void) {
  switch (next() % 3) {
  case 0:
    oh_purge();
    break;
  case 1:
    oh_slab_purge(next() % 2 ? F.s : oh_default_slab());
    break;
  case 2:
    oh_thread_flush();
    break;
  }
}

/* ---- model checks ------------------------------------------------------------------- */

typedef struct leak_s {
  void *p;
  size_t size;
  long refs;
} leak_t;
typedef struct leaks_s {
  leak_t *v;
  size_t n, cap;
} leaks_t;

NO_COVERAGE static void leak_cb(void *p, size_t size, long refs, int cls, void *arg) {
  (void)cls;
  leaks_t *l = arg;
  if (l->n == l->cap) {
    l->cap = l->cap ? 2 * l->cap : 64;
    l->v = realloc(l->v, l->cap * sizeof *l->v);
  }
  l->v[l->n].p = p;
  l->v[l->n].size = size;
  l->v[l->n].refs = refs;
  l->n++;
}

NO_COVERAGE static void check_instance(const char *name, int kind, int (*stats)(void *, oh_stats_t *), void *inst,
                           size_t (*leaks)(void *, oh_leak_fn, void *)) {
  oh_stats_t st;
  if (stats(inst, &st) != 0) fail("%s stats failed", name);
  uint64_t bytes = 0, large = 0, count = 0;
  for (int i = 0; i < F.nlive; i++)
    if (F.live[i].kind == kind) bytes += F.live[i].usable, large += F.live[i].large, count++;
  if (st.in_use_bytes != bytes || st.large_in_use != large)
    fail("%s: stats say %" PRIu64 " bytes in use, %" PRIu64 " large; the model holds %" PRIu64 " bytes in %" PRIu64
         " allocations, %" PRIu64 " large",
         name, st.in_use_bytes, st.large_in_use, bytes, count, large);
  leaks_t l = {0};
  size_t n = leaks(inst, leak_cb, &l);
  if (n != l.n || n != count) fail("%s: leaks reports %zu (called back %zu), the model holds %" PRIu64, name, n, l.n, count);
  for (size_t j = 0; j < l.n; j++) {
    int i = find_live(l.v[j].p);
    if (i < 0 || F.live[i].kind != kind) fail("%s: leaks lists %p, which the model does not hold", name, l.v[j].p);
    if (l.v[j].size != F.live[i].usable || l.v[j].refs != F.live[i].refs)
      fail("%s: leaks lists %p as %zu bytes, %ld refs; model %zu, %ld", name, l.v[j].p, l.v[j].size, l.v[j].refs,
           F.live[i].usable, F.live[i].refs);
  }
  free(l.v);
}

static int slab_stats_fn(void *s, oh_stats_t *st) { return oh_slab_stats(s, st); }
static int pool_stats_fn(void *p, oh_stats_t *st) { return oh_pool_stats(p, st); }
static size_t slab_leaks_fn(void *s, oh_leak_fn fn, void *arg) { return oh_slab_leaks(s, fn, arg); }
static size_t pool_leaks_fn(void *p, oh_leak_fn fn, void *arg) { return oh_pool_leaks(p, fn, arg); }

NO_COVERAGE static void check_model(void) {
  check_instance("slab", K_SLAB, slab_stats_fn, F.s, slab_leaks_fn);
  check_instance("bounded pool", K_POOL, pool_stats_fn, F.pool, pool_leaks_fn);
  check_instance("pool", K_UPOOL, pool_stats_fn, F.upool, pool_leaks_fn);
  oh_stats_t st;
  oh_slab_stats(oh_default_slab(), &st);
  uint64_t bytes = 0;
  for (int i = 0; i < F.nlive; i++)
    if (F.live[i].kind == K_ALLOC || F.live[i].kind == K_CALLOC) bytes += F.live[i].usable;
  if (st.in_use_bytes != F.base_default + bytes)
    fail("process-wide allocator: %" PRIu64 " bytes in use, want %" PRIu64 " (%" PRIu64 " before + %" PRIu64
         " in the model)",
         st.in_use_bytes, F.base_default + bytes, F.base_default, bytes);
  leaks_t l = {0};
  oh_slab_leaks(NULL, leak_cb, &l);
  for (int i = 0; i < F.nlive; i++) {
    if (F.live[i].kind != K_ALLOC && F.live[i].kind != K_CALLOC) continue;
    size_t j = 0;
    while (j < l.n && l.v[j].p != F.live[i].p) j++;
    if (j == l.n || l.v[j].refs != F.live[i].refs || l.v[j].size != F.live[i].usable)
      fail("oh_slab_leaks(NULL) does not list the live %p as it is", (void *)F.live[i].p);
  }
  for (int d = 0; d < F.ndead; d++) {
    if ((F.dead[d].kind != K_ALLOC && F.dead[d].kind != K_CALLOC) || find_live(F.dead[d].p) >= 0) continue;
    for (size_t j = 0; j < l.n; j++)
      if (l.v[j].p == F.dead[d].p) fail("oh_slab_leaks(NULL) lists the freed %p", F.dead[d].p);
  }
  free(l.v);
  for (int i = 0; i < F.nlive; i++)
    if (F.live[i].kind == K_ARENA && F.live[i].gen == F.gen && oh_arena_owns(F.arena, F.live[i].p) != 1)
      fail("oh_arena_owns(%p) is not 1 for a live arena allocation", (void *)F.live[i].p);
}

/* ---- the driver ----------------------------------------------------------------------- */

static void step(void) {
  op_index++;
  if (F.fault_ops > 0 && --F.fault_ops == 0) ohi_test_fail_os(0, 0);
  uint8_t op = next() % 32;
  if (F.nlive >= MAX_LIVE - 20 || F.live_bytes > MAX_BYTES) op = 10;
  if (op < 10)
    op_alloc();
  else if (op < 16)
    op_release();
  else if (op < 18)
    op_addref();
  else if (op == 18)
    op_free_batch();
  else if (op == 19)
    op_decommit();
  else if (op == 20)
    op_arena_reset();
  else if (op == 21)
    op_rewrite();
  else if (op == 22)
    check_model();
  else if (op < 25)
    op_misuse();
  else if (op == 25)
    op_purge();
  else if (op == 26)
    op_faults();
  else if (op == 27)
    op_option();
  else if (op == 28)
    op_thread();
  else if (op == 29)
    op_lifecycle();
  else {
    int i = pick();
    if (i >= 0) verify(&F.live[i], "on a check");
  }
}

static void setup(void) {
  static const size_t slab_sizes[] = {64 << 10, 256 << 10, 1 << 20, 2 << 20};
  static const double growths[] = {1.25, 1.5, 2.0, 1.125};
  static const long long tcache[] = {1 << 20, 0, 4096, 256 << 10};
  uint8_t cfg = next();
  for (int o = 0; o < OH_OPT_COUNT_; o++) saved_opts[o] = oh_option_get((oh_option_t)o);
  oh_option_set(OH_OPT_TCACHE_BYTES, tcache[(cfg >> 4) % 4]);
  oh_slab_config_t sc = {16 * (1 + (cfg >> 6) % 3), slab_sizes[cfg % 4], growths[(cfg >> 2) % 4]};
  F.s = oh_slab_new(&sc);
  if (F.s == NULL) fail("oh_slab_new(%zu, %zu, %g): %s", sc.min_chunk, sc.slab_size, sc.growth, oh_last_error());
  F.slab_size = sc.slab_size;
  F.other = oh_slab_new(NULL);
  oh_pool_config_t pc = {POOL_MAX, 8};
  F.pool = oh_pool_new(POOL_SIZE, &pc);
  F.upool = oh_pool_new(UPOOL_SIZE, NULL);
  F.arena = oh_arena_new(64 << 10);
  if (!F.other || !F.pool || !F.upool || !F.arena) fail("creating the instances: %s", oh_last_error());
  oh_stats_t st;
  oh_thread_flush();
  oh_slab_stats(oh_default_slab(), &st);
  F.base_default = st.in_use_bytes;
}

static void teardown(void) {
  if (F.fault_ops > 0) ohi_test_fail_os(0, 0);
  F.fault_ops = 0;
  check_model();
  while (F.nlive > 0) {
    int i = F.nlive - 1;
    if (F.live[i].kind == K_ARENA) {
      verify(&F.live[i], "at the end");
      take_live(i);
      continue;
    }
    release_at(i);
  }
  oh_arena_reset(F.arena, OH_ARENA_KEEP);
  oh_purge();
  check_model();
  if (oh_slab_destroy(F.s) || oh_slab_destroy(F.other) || oh_pool_destroy(F.pool) || oh_pool_destroy(F.upool) ||
      oh_arena_destroy(F.arena))
    fail("destroying the instances: %s", oh_last_error());
  for (int o = 0; o < OH_OPT_COUNT_; o++) oh_option_set((oh_option_t)o, saved_opts[o]);
}

int LLVMFuzzerInitialize(int *argc, char ***argv) {
  (void)argc;
  (void)argv;
  page = oh_page_size();
  oh_set_error_handler(capture, NULL);
  return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  memset(&F, 0, sizeof F);
  F.data = data;
  F.len = size;
  op_index = 0;
  setup();
  while (!done()) step();
  teardown();
  return 0;
}
