/* fuzz_model.c - the model of the libFuzzer target (fuzz_ops.c has the
 * overview): how a failure is reported, the pattern every allocation is
 * filled with, the error contract every failing call must keep, the table of
 * live allocations, and the checks of the statistics and leak lists against
 * it. */
#include "fuzz_ops.h"

/* ---- failures ---------------------------------------------------------------- */

unsigned long long op_index; /* the operation running, for the failure message */

void fail(const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  fprintf(stderr, "fuzz_ops: FAILED at operation %llu: ", op_index);
  vfprintf(stderr, fmt, ap);
  fprintf(stderr, "\n");
  va_end(ap);
  abort();
}

/* ---- patterns ---------------------------------------------------------------- */

NO_COVERAGE void fill(void *p, size_t n, uint64_t seed) {
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
NO_COVERAGE size_t check(const void *p, size_t n, uint64_t seed, size_t zlo, size_t zhi) {
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

NO_COVERAGE size_t first_nonzero(const void *p, size_t n) {
  const unsigned char *b = p;
  for (size_t i = 0; i < n; i++)
    if (b[i] != 0) return i;
  return SIZE_MAX;
}

struct fuzz_cap cap;

/* ---- the error contract -------------------------------------------------------- */



void capture(int err, const char *msg, void *arg) {
  (void)arg;
  cap.count++;
  cap.err = err;
  snprintf(cap.msg, sizeof cap.msg, "%s", msg);
}

void cap_reset(void) {
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
void expect_err_(const char *what, int failed, int e, const void *ptr, const int *wants, int n) {
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

const char *kind_name[K_COUNT] = {"oh_alloc", "oh_calloc", "oh_slab_alloc", "oh_pool_get (bounded)",
                           "oh_pool_get", "oh_arena_alloc", "oh_map"};
fuzz_t F;
size_t page;

/* ---- the model ----------------------------------------------------------------- */

size_t gen_size(void) {
  uint8_t b = next();
  if (b < 150) return 1 + next();
  if (b < 215) return 257 + u16() % (16 << 10);
  if (b < 245) return (16 << 10) + u24() % (112 << 10);
  if (b < 254) return (128 << 10) + u24() % (192 << 10); /* around the 64 and 256 KiB slab sizes */
  return (1 << 20) + 1 + u24() % (1 << 20);              /* whole pages for every instance */
}

void add_live(live_t lv) {
  if (F.nlive >= MAX_LIVE) fail("model table full");
  F.live[F.nlive++] = lv;
  F.live_bytes += lv.n;
}

live_t take_live(int i) {
  live_t lv = F.live[i];
  F.live[i] = F.live[--F.nlive];
  F.live_bytes -= lv.n;
  return lv;
}

NO_COVERAGE int find_live(const void *p) {
  for (int i = 0; i < F.nlive; i++)
    if (F.live[i].p == p) return i;
  return -1;
}

NO_COVERAGE void verify(const live_t *lv, const char *when) {
  size_t bad = check(lv->p, lv->n, lv->seed, 0, 0);
  if (bad != SIZE_MAX)
    fail("CORRUPTION: %s allocation %p (%zu bytes) %s: byte %zu is 0x%02x, not its pattern", kind_name[lv->kind],
         (void *)lv->p, lv->n, when, bad, lv->p[bad]);
}

void add_dead(void *p, size_t n, int kind) {
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
void alloc_failed(const char *what, int e, int allowed) {
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

void check_usable(const char *what, oh_slab_t *s, size_t slab_size, size_t n, size_t usable) {
  if (ohi_run_size(s, n)) { /* s's run range, outside debug mode: a run of whole pages (runs.c), exactly */
    if (usable != round_pages(n)) fail("%s(%zu): usable size %zu, want a run of %zu bytes", what, n, usable, round_pages(n));
    return;
  }
  size_t want = class_size_for(s, slab_size, n);
  if (want != 0 && usable != want) fail("%s(%zu): usable size %zu, want the class size %zu", what, n, usable, want);
  if (want == 0 && (usable < round_pages(n) || usable > round_pages(n) + round_pages(n) / 4))
    fail("%s(%zu): usable size %zu, want whole pages (%zu, up to 25%% more when reused)", what, n, usable,
         round_pages(n));
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

NO_COVERAGE void check_model(void) {
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
