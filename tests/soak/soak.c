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
 *
 * The operations a worker performs are in soak_ops.c; soak.h is what the two
 * files share.
 */
#include "soak.h"

__attribute__((noreturn, format(printf, 1, 2))) void fail(const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  fprintf(stderr, "soak: FAILED: ");
  vfprintf(stderr, fmt, ap);
  fprintf(stderr, "\n");
  va_end(ap);
  exit(1);
}

/* ---- patterns (sparse beyond 1 KiB) ------------------------------------------- */

void fill(unsigned char *b, size_t n, uint64_t seed) {
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
size_t check(const unsigned char *b, size_t n, uint64_t seed, size_t zlo, size_t zhi) {
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

const char *kind_name[K_COUNT] = {"oh_alloc", "oh_slab_alloc", "oh_pool_get", "oh_pool_get (bounded)",
                           "oh_arena_alloc", "oh_map"};
oh_slab_t *slab;
oh_pool_t *pool, *upool;
_Atomic(rec_t *) slots[NSLOTS];
atomic_long pool_out;
atomic_ullong slab_allocs, slab_frees; /* chunks allocated / decrefs that freed */
size_t page;

/* ---- shared state ---------------------------------------------------------------- */

size_t gen_size(worker_t *w) {
  uint64_t r = rnd(w) % 10000;
  if (r < 8000) return 1 + rnd(w) % 512;
  if (r < 9700) return 513 + rnd(w) % (16 << 10);
  if (r < 9995) return (16 << 10) + rnd(w) % (240 << 10);
  return SLAB_SIZE + 1 + rnd(w) % (1 << 20); /* whole pages for the slab, and for oh_alloc above 1 MiB */
}

uint64_t new_seed(worker_t *w) { return rnd(w) | 1; }

void verify(worker_t *w, const rec_t *r, const char *when) {
  w->c.checks++;
  size_t bad = check(r->p, r->n, r->seed, 0, 0);
  if (bad != SIZE_MAX)
    fail("CORRUPTION: thread %d: %s buffer %p (%zu bytes) %s: byte %zu is 0x%02x, not its pattern", w->id,
         kind_name[r->kind], (void *)r->p, r->n, when, bad, r->p[bad]);
}

void push(worker_t *w, rec_t *r) { w->live[w->nlive++] = r; }

rec_t *take(worker_t *w, int i) {
  rec_t *r = w->live[i];
  w->live[i] = w->live[--w->nlive];
  return r;
}

rec_t *new_rec(unsigned char *p, size_t n, size_t usable, int kind, int large, uint64_t seed) {
  rec_t *r = malloc(sizeof *r);
  if (r == NULL) fail("malloc");
  *r = (rec_t){p, n, usable, seed, kind, large, NULL};
  return r;
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
