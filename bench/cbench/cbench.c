/* cbench - alloc+free micro-benchmark of offheap against glibc malloc,
 * jemalloc and mimalloc.
 *
 * Built by `make bench-c` (the .c files of bench/cbench + build/liboffheap.a + -ljemalloc
 * -lmimalloc) and run as build/bench/cbench [flags]; see --help and
 * bench/README.md.
 *
 * What one measurement is
 *   pattern "pair":      loop { p = alloc(n); p[0] = 1; free(p); }
 *   pattern "batch-256": loop { 256 x (p[i] = alloc(n); p[i][0] = 1);
 *                               free p[0] .. p[255] in allocation order }
 *   pattern "prod-cons": T pairs of threads; in each, a producer allocates
 *                        (and writes the first byte) and hands the pointer
 *                        through a 1024-slot ring to a consumer that frees
 *                        it: every free is a free from another thread. Per-op
 *                        time is per pair.
 *   One op is one alloc plus one free. Every allocation's first byte is
 *   written, so lazily committed memory is paid for the same way by everyone.
 *   T threads (fresh pthreads, each warmed up, then released together by a
 *   barrier) each run the loop for --ms milliseconds on their own pointers.
 *   Per-op time is per thread (T / aggregate throughput); the "xT/1T" column
 *   is aggregate throughput at T threads over throughput at 1 thread (2.00 is
 *   perfect scaling on 2 cores).
 *   The wall clock decides (it sees lock waiting and cache-line transfers);
 *   the thread CPU time of the best repetition is printed beside it ("cpu
 *   min"), the figure an earlier version reported alone and that hid a
 *   2-thread slowdown.
 *   Every cell is measured --reps times; repetitions are interleaved (rep 1 of
 *   every cell, then rep 2, ...) so that a noisy period on a shared machine
 *   hits every allocator, and the median is reported with the spread
 *   (max-min)/median.
 *
 * Which malloc is which
 *   libjemalloc.so and libmimalloc.so both export malloc/free; linked into this
 *   binary, the first one in link order (jemalloc) becomes the process malloc
 *   and would silently replace glibc's. So no row calls the plain malloc symbol:
 *     glibc     malloc/free looked up with dlsym() in libc.so.6's own handle
 *               (not __libc_malloc: libmimalloc exports that name too)
 *     jemalloc  malloc/free looked up with dlsym() in libjemalloc.so.2's handle
 *     mimalloc  mi_malloc/mi_free
 *   The library each function pointer really lives in is checked with dladdr()
 *   and printed in the header; the program refuses to run if a check fails.
 *     offheap       oh_alloc/oh_free (the process-wide default instance)
 *     offheap-slab  oh_slab_alloc/oh_slab_decref on oh_slab_new(NULL), an
 *                   instance with the default configuration
 */
#include "charness.h" /* die, now_ns, lib_of */

#include <pthread.h>
#include <sched.h>

#include <mimalloc.h>

#include "offheap.h"

/* jemalloc's non-standard API, declared here rather than through
 * <jemalloc/jemalloc.h>, whose unprefixed build redefines malloc & co. The
 * direct references keep libjemalloc a DT_NEEDED dependency even when the
 * linker runs with --as-needed. */
extern void *mallocx(size_t size, int flags);
extern void dallocx(void *ptr, int flags);
extern int mallctl(const char *name, void *oldp, size_t *oldlenp, void *newp, size_t newlen);

#define BATCH 256
#define CHUNK 256 /* ops between two reads of the clock in "pair" */

typedef void *(*malloc_fn)(size_t);
typedef void (*free_fn)(void *);

static malloc_fn glibc_malloc, je_malloc;
static free_fn glibc_free, je_free;
static oh_slab_t *bench_slab;

static void oh_die(const char *what, size_t n) __attribute__((noreturn, cold));
static void oh_die(const char *what, size_t n) {
  die("%s (size %zu) failed: errno %d: %s", what, n, errno, oh_last_error());
}
static void alloc_die(const char *who, size_t n) __attribute__((noreturn, cold));
static void alloc_die(const char *who, size_t n) { die("%s: allocation of %zu bytes failed", who, n); }

/* --clock cpu: time is the thread's CPU time (user + system, so page faults
 * count) instead of wall time; preemption by other processes on a shared
 * machine then stops counting, but so does time spent blocked on a lock. */
static int use_cpu_clock;

static inline uint64_t thread_ns(void) {
  if (!use_cpu_clock) return now_ns();
  struct timespec ts;
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static inline void touch(void *p) { *(volatile unsigned char *)p = 1; }

/* ---- per-allocator loops -------------------------------------------------- */
/* The loops are generated per allocator (no function-pointer dispatch inside
 * them beyond what the allocator itself needs): ALLOC(n) returns a pointer or
 * NULL, FREE(p) frees it and dies on error. */

#define A_GLIBC(n) glibc_malloc(n)
#define F_GLIBC(p, n) glibc_free(p)
#define A_JE(n) je_malloc(n)
#define F_JE(p, n) je_free(p)
#define A_MI(n) mi_malloc(n)
#define F_MI(p, n) mi_free(p)
#define A_OH(n) oh_alloc(n)
#define F_OH(p, n) do { if (__builtin_expect(oh_free(p) != 0, 0)) oh_die("oh_free", n); } while (0)
#define A_SLAB(n) oh_slab_alloc(bench_slab, n)
#define F_SLAB(p, n) do { if (__builtin_expect(oh_slab_decref(bench_slab, p) != 1, 0)) oh_die("oh_slab_decref", n); } while (0)

#define DEFINE_LOOPS(NAME, ALLOC, FREE)                                             \
  static uint64_t pair_##NAME(size_t n, uint64_t dur_ns, void **ptrs) {             \
    (void)ptrs;                                                                     \
    uint64_t ops = 0, end = now_ns() + dur_ns;                                      \
    do {                                                                            \
      for (int k = 0; k < CHUNK; k++) {                                             \
        void *p = ALLOC(n);                                                         \
        if (__builtin_expect(p == NULL, 0)) alloc_die(#NAME, n);                    \
        touch(p);                                                                   \
        FREE(p, n);                                                                 \
      }                                                                             \
      ops += CHUNK;                                                                 \
    } while (now_ns() < end);                                                       \
    return ops;                                                                     \
  }                                                                                 \
  static uint64_t batch_##NAME(size_t n, uint64_t dur_ns, void **ptrs) {            \
    uint64_t ops = 0, end = now_ns() + dur_ns;                                      \
    do {                                                                            \
      for (int k = 0; k < BATCH; k++) {                                             \
        void *p = ALLOC(n);                                                         \
        if (__builtin_expect(p == NULL, 0)) alloc_die(#NAME, n);                    \
        touch(p);                                                                   \
        ptrs[k] = p;                                                                \
      }                                                                             \
      for (int k = 0; k < BATCH; k++) FREE(ptrs[k], n);                             \
      ops += BATCH;                                                                 \
    } while (now_ns() < end);                                                       \
    return ops;                                                                     \
  }

DEFINE_LOOPS(glibc, A_GLIBC, F_GLIBC)
DEFINE_LOOPS(jemalloc, A_JE, F_JE)
DEFINE_LOOPS(mimalloc, A_MI, F_MI)
DEFINE_LOOPS(offheap, A_OH, F_OH)
DEFINE_LOOPS(offheap_slab, A_SLAB, F_SLAB)

typedef uint64_t (*loop_fn)(size_t n, uint64_t dur_ns, void **ptrs);

/* Single calls, for the producer/consumer pattern (the ring costs more than
 * the indirect call). */
#define DEFINE_CALLS(NAME, ALLOC, FREE)                    \
  static void *alloc_##NAME(size_t n) { return ALLOC(n); } \
  static void free_##NAME(void *p, size_t n) { (void)n; FREE(p, n); }
DEFINE_CALLS(glibc, A_GLIBC, F_GLIBC)
DEFINE_CALLS(jemalloc, A_JE, F_JE)
DEFINE_CALLS(mimalloc, A_MI, F_MI)
DEFINE_CALLS(offheap, A_OH, F_OH)
DEFINE_CALLS(offheap_slab, A_SLAB, F_SLAB)

enum { PAT_PAIR, PAT_BATCH, PAT_PC, PAT_COUNT };
static const char *const pattern_names[PAT_COUNT] = {"pair", "batch-256", "prod-cons"};

typedef struct {
  const char *name;
  loop_fn loop[2];
  void *(*alloc)(size_t);
  void (*free)(void *, size_t);
} allocator_t;

#define ALLOCATOR(label, NAME) {label, {pair_##NAME, batch_##NAME}, alloc_##NAME, free_##NAME}
static const allocator_t allocators[] = {
    ALLOCATOR("glibc", glibc),     ALLOCATOR("jemalloc", jemalloc),         ALLOCATOR("mimalloc", mimalloc),
    ALLOCATOR("offheap", offheap), ALLOCATOR("offheap-slab", offheap_slab),
};
#define N_ALLOCATORS (int)(sizeof allocators / sizeof allocators[0])

/* ---- resolving glibc and jemalloc ---------------------------------------- */

static void *sym_in(const char *lib, const char *sym, const char *must_contain) {
  void *h = dlopen(lib, RTLD_NOW | RTLD_NOLOAD);
  if (h == NULL) h = dlopen(lib, RTLD_NOW | RTLD_LOCAL);
  if (h == NULL) die("dlopen(%s): %s", lib, dlerror());
  void *p = dlsym(h, sym);
  if (p == NULL) die("dlsym(%s, %s): %s", lib, sym, dlerror());
  if (strstr(lib_of(p), must_contain) == NULL)
    die("%s from %s resolved into %s, not %s: refusing to mislabel a row", sym, lib, lib_of(p),
        must_contain);
  return p;
}

static void resolve(void) {
  glibc_malloc = (malloc_fn)sym_in("libc.so.6", "malloc", "libc.so");
  glibc_free = (free_fn)sym_in("libc.so.6", "free", "libc.so");
  je_malloc = (malloc_fn)sym_in("libjemalloc.so.2", "malloc", "jemalloc");
  je_free = (free_fn)sym_in("libjemalloc.so.2", "free", "jemalloc");
  /* Sanity: the jemalloc handle's malloc and jemalloc's own mallocx come from
   * the same library; mimalloc's entry points from libmimalloc. */
  if (strcmp(lib_of((void *)je_malloc), lib_of((void *)mallocx)) != 0)
    die("jemalloc malloc (%s) and mallocx (%s) differ", lib_of((void *)je_malloc),
        lib_of((void *)mallocx));
  void *q = mallocx(64, 0);
  if (q == NULL) die("mallocx failed");
  dallocx(q, 0);
  if (strstr(lib_of((void *)mi_malloc), "mimalloc") == NULL)
    die("mi_malloc resolved into %s", lib_of((void *)mi_malloc));
}

/* ---- one measurement -------------------------------------------------------- */

typedef struct {
  loop_fn loop;
  size_t size;
  uint64_t warm_ns, dur_ns;
  pthread_barrier_t *bar;
  uint64_t ops, elapsed_ns, cpu_ns;
} job_t;

static uint64_t cpu_now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void *worker(void *arg) {
  job_t *j = arg;
  void *ptrs[BATCH];
  j->loop(j->size, j->warm_ns, ptrs);
  pthread_barrier_wait(j->bar);
  uint64_t t0 = thread_ns(), c0 = cpu_now_ns();
  j->ops = j->loop(j->size, j->dur_ns, ptrs);
  j->elapsed_ns = thread_ns() - t0;
  j->cpu_ns = cpu_now_ns() - c0;
  return NULL;
}

typedef struct {
  double wall, cpu; /* aggregate throughput, ops per second, by either clock */
} tput_t;

/* ---- producer/consumer: a single-producer single-consumer ring ---- */

#define RING 1024
typedef struct {
  void *slot[RING];
  uint64_t head __attribute__((aligned(64))); /* written by the producer */
  uint64_t tail __attribute__((aligned(64))); /* written by the consumer */
  const allocator_t *a;
  size_t size;
  uint64_t warm_ns, dur_ns;
  pthread_barrier_t *bar;
  uint64_t ops, elapsed_ns, cpu_ns;
} ring_t;

static void ring_push(ring_t *r, void *p) {
  uint64_t h = r->head;
  while (h - __atomic_load_n(&r->tail, __ATOMIC_ACQUIRE) == RING) sched_yield();
  r->slot[h % RING] = p;
  __atomic_store_n(&r->head, h + 1, __ATOMIC_RELEASE);
}

static void *ring_pop(ring_t *r) {
  uint64_t t = r->tail;
  while (__atomic_load_n(&r->head, __ATOMIC_ACQUIRE) == t) sched_yield();
  void *p = r->slot[t % RING];
  __atomic_store_n(&r->tail, t + 1, __ATOMIC_RELEASE);
  return p;
}

static uint64_t produce(ring_t *r, uint64_t dur_ns) {
  uint64_t ops = 0, end = now_ns() + dur_ns;
  do {
    for (int k = 0; k < CHUNK; k++) {
      void *p = r->a->alloc(r->size);
      if (__builtin_expect(p == NULL, 0)) alloc_die(r->a->name, r->size);
      touch(p);
      ring_push(r, p);
    }
    ops += CHUNK;
  } while (now_ns() < end);
  ring_push(r, NULL); /* end of this run */
  return ops;
}

static void *producer(void *arg) {
  ring_t *r = arg;
  produce(r, r->warm_ns);
  pthread_barrier_wait(r->bar);
  uint64_t t0 = thread_ns(), c0 = cpu_now_ns();
  r->ops = produce(r, r->dur_ns);
  /* the pair is done when the consumer has freed everything */
  while (__atomic_load_n(&r->tail, __ATOMIC_ACQUIRE) != r->head) sched_yield();
  r->elapsed_ns = thread_ns() - t0;
  r->cpu_ns = cpu_now_ns() - c0;
  return NULL;
}

static void *consumer(void *arg) {
  ring_t *r = arg;
  for (int run = 0; run < 2; run++) /* warm-up, then the measured run */
    for (void *p; (p = ring_pop(r)) != NULL;) r->a->free(p, r->size);
  return NULL;
}

/* T pairs: aggregate throughput of alloc+free pairs. */
static tput_t measure_pc(const allocator_t *a, size_t size, int pairs, uint64_t warm_ns, uint64_t dur_ns) {
  pthread_t tid[2 * pairs];
  ring_t *rings = aligned_alloc(64, sizeof(ring_t) * (size_t)pairs);
  if (rings == NULL) die("out of memory");
  pthread_barrier_t bar;
  pthread_barrier_init(&bar, NULL, (unsigned)pairs);
  for (int i = 0; i < pairs; i++) {
    memset(&rings[i], 0, sizeof rings[i]);
    rings[i].a = a;
    rings[i].size = size;
    rings[i].warm_ns = warm_ns;
    rings[i].dur_ns = dur_ns;
    rings[i].bar = &bar;
    if (pthread_create(&tid[2 * i], NULL, consumer, &rings[i]) != 0 ||
        pthread_create(&tid[2 * i + 1], NULL, producer, &rings[i]) != 0)
      die("pthread_create failed");
  }
  tput_t t = {0, 0};
  for (int i = 0; i < 2 * pairs; i++) pthread_join(tid[i], NULL);
  for (int i = 0; i < pairs; i++) {
    t.wall += (double)rings[i].ops * 1e9 / (double)rings[i].elapsed_ns;
    t.cpu += (double)rings[i].ops * 1e9 / (double)(rings[i].cpu_ns ? rings[i].cpu_ns : 1);
  }
  pthread_barrier_destroy(&bar);
  free(rings);
  return t;
}

/* Aggregate throughput in ops per second. */
static tput_t measure(const allocator_t *a, int pat, size_t size, int threads, uint64_t warm_ns, uint64_t dur_ns) {
  if (pat == PAT_PC) return measure_pc(a, size, threads, warm_ns, dur_ns);
  pthread_t tid[threads];
  job_t jobs[threads];
  pthread_barrier_t bar;
  pthread_barrier_init(&bar, NULL, (unsigned)threads);
  for (int i = 0; i < threads; i++) {
    jobs[i] = (job_t){.loop = a->loop[pat], .size = size, .warm_ns = warm_ns, .dur_ns = dur_ns, .bar = &bar};
    int rc = pthread_create(&tid[i], NULL, worker, &jobs[i]);
    if (rc != 0) die("pthread_create: %s", strerror(rc));
  }
  tput_t t = {0, 0};
  for (int i = 0; i < threads; i++) {
    pthread_join(tid[i], NULL);
    t.wall += (double)jobs[i].ops * 1e9 / (double)jobs[i].elapsed_ns;
    t.cpu += (double)jobs[i].ops * 1e9 / (double)(jobs[i].cpu_ns ? jobs[i].cpu_ns : 1);
  }
  pthread_barrier_destroy(&bar);
  return t;
}

/* ---- flags ----------------------------------------------------------------- */

#define MAX_LIST 16

static void usage(FILE *f) {
  fprintf(f,
          "usage: cbench [flags]\n"
          "  --sizes LIST        allocation sizes (default 64,1K,16K,256K; suffixes B, K/KiB, M/MiB)\n"
          "  --threads LIST      thread counts (default 1,2)\n"
          "  --allocators LIST   glibc,jemalloc,mimalloc,offheap,offheap-slab (default all)\n"
          "  --patterns LIST     pair,batch-256,prod-cons (default all; prod-cons: T = pairs of threads)\n"
          "  --reps N            repetitions per cell, median reported (default 7)\n"
          "  --ms N              milliseconds per repetition (default 150; plus 10%% warm-up)\n"
          "  --stat median|min   summary of the repetitions (default median; min = best rep)\n"
          "  --clock wall|cpu    time each thread by wall clock (default) or by its CPU time\n"
          "                      (user+sys: ignores preemption on a busy machine, and lock waits)\n"
          "  --csv               print CSV (one line per cell and thread count) instead of the table\n"
          "  --help\n"
          "A default run measures 3 patterns x 4 sizes x 5 allocators x 2 thread counts\n"
          "x 7 reps x 165 ms: about 2.5 min.\n");
}

static size_t parse_size(const char *s) {
  char *end;
  errno = 0;
  unsigned long long v = strtoull(s, &end, 10);
  if (errno || end == s) die("bad size %s", s);
  unsigned long long mult = 1;
  if (*end == 'k' || *end == 'K') mult = 1024, end++;
  else if (*end == 'm' || *end == 'M') mult = 1024 * 1024, end++;
  if (mult > 1 && (*end == 'i' || *end == 'I')) end++;
  if (*end == 'b' || *end == 'B') end++;
  if (*end != '\0' || v == 0) die("bad size %s", s);
  return (size_t)(v * mult);
}

static const char *fmt_size(size_t n, char *buf, size_t len) {
  if (n >= 1024 * 1024 && n % (1024 * 1024) == 0) snprintf(buf, len, "%zuMiB", n >> 20);
  else if (n >= 1024 && n % 1024 == 0) snprintf(buf, len, "%zuKiB", n >> 10);
  else snprintf(buf, len, "%zuB", n);
  return buf;
}

/* Splits a comma-separated list in place. */
static int split(char *s, char **out, int max) {
  int n = 0;
  for (char *tok = strtok(s, ","); tok; tok = strtok(NULL, ",")) {
    if (n == max) die("list too long: at most %d items", max);
    out[n++] = tok;
  }
  if (n == 0) die("empty list");
  return n;
}

static int cmp_double(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return (x > y) - (x < y);
}

static int use_best; /* --stat min: the best repetition (highest throughput) */

/* Median (or best) of throughputs v[0..n), and (max-min)/median in *spread. */
static double median(const double *v, int n, double *spread) {
  double s[n];
  memcpy(s, v, sizeof s);
  qsort(s, (size_t)n, sizeof s[0], cmp_double);
  double med = n % 2 ? s[n / 2] : (s[n / 2 - 1] + s[n / 2]) / 2;
  double m = use_best ? s[n - 1] : med;
  if (spread) *spread = med > 0 ? (s[n - 1] - s[0]) / med : 0;
  return m;

}

int main(int argc, char **argv) {
  size_t sizes[MAX_LIST] = {64, 1024, 16384, 262144};
  int n_sizes = 4;
  int threads[MAX_LIST] = {1, 2};
  int n_threads = 2;
  int allocs[MAX_LIST];
  int n_allocs = N_ALLOCATORS;
  for (int i = 0; i < N_ALLOCATORS; i++) allocs[i] = i;
  int pats[PAT_COUNT] = {PAT_PAIR, PAT_BATCH, PAT_PC};
  int n_pats = PAT_COUNT;
  int reps = 7;
  long ms = 150;
  int csv = 0;

  for (int i = 1; i < argc; i++) {
    char *arg = argv[i], *val = NULL;
    if (strncmp(arg, "--", 2) != 0) die("unexpected argument %s (see --help)", arg);
    char *eq = strchr(arg, '=');
    if (eq) *eq = '\0', val = eq + 1;
    const char *name = arg + 2;
    if (!strcmp(name, "help") || !strcmp(name, "h")) {
      usage(stdout);
      return 0;
    }
    if (!strcmp(name, "csv")) {
      csv = 1;
      continue;
    }
    static const char *const valued[] = {"sizes", "threads", "allocators", "patterns",
                                         "reps",  "ms",      "stat",       "clock"};
    int known = 0;
    for (size_t k = 0; k < sizeof valued / sizeof valued[0]; k++) known |= !strcmp(name, valued[k]);
    if (!known) die("unknown flag --%s (see --help)", name);
    if (val == NULL) {
      if (i + 1 >= argc) die("--%s needs a value", name);
      val = argv[++i];
    }
    char *items[MAX_LIST];
    if (!strcmp(name, "sizes")) {
      n_sizes = split(val, items, MAX_LIST);
      for (int k = 0; k < n_sizes; k++) sizes[k] = parse_size(items[k]);
    } else if (!strcmp(name, "threads")) {
      n_threads = split(val, items, MAX_LIST);
      for (int k = 0; k < n_threads; k++) {
        threads[k] = atoi(items[k]);
        if (threads[k] < 1 || threads[k] > 256) die("bad thread count %s", items[k]);
      }
    } else if (!strcmp(name, "allocators")) {
      n_allocs = split(val, items, MAX_LIST);
      for (int k = 0; k < n_allocs; k++) {
        allocs[k] = -1;
        for (int a = 0; a < N_ALLOCATORS; a++)
          if (!strcmp(items[k], allocators[a].name)) allocs[k] = a;
        if (allocs[k] < 0) die("unknown allocator %s", items[k]);
      }
    } else if (!strcmp(name, "patterns")) {
      n_pats = split(val, items, PAT_COUNT);
      for (int k = 0; k < n_pats; k++) {
        pats[k] = -1;
        for (int p = 0; p < PAT_COUNT; p++)
          if (!strcmp(items[k], pattern_names[p])) pats[k] = p;
        if (pats[k] < 0) die("unknown pattern %s", items[k]);
      }
    } else if (!strcmp(name, "stat")) {
      if (!strcmp(val, "min")) use_best = 1;
      else if (strcmp(val, "median") != 0) die("bad --stat %s (median or min)", val);
    } else if (!strcmp(name, "clock")) {
      if (!strcmp(val, "cpu")) use_cpu_clock = 1;
      else if (strcmp(val, "wall") != 0) die("bad --clock %s (wall or cpu)", val);
    } else if (!strcmp(name, "reps")) {
      reps = atoi(val);
      if (reps < 1 || reps > 1000) die("bad --reps %s", val);
    } else if (!strcmp(name, "ms")) {
      ms = atol(val);
      if (ms < 1 || ms > 100000) die("bad --ms %s", val);
    } else {
      die("unknown flag --%s (see --help)", name);
    }
  }

  resolve();
  for (int k = 0; k < n_allocs; k++)
    if (!strcmp(allocators[allocs[k]].name, "offheap-slab") && bench_slab == NULL) {
      bench_slab = oh_slab_new(NULL);
      if (bench_slab == NULL) oh_die("oh_slab_new(NULL)", 0);
    }

  /* Header: everything needed to reproduce and interpret the run. It goes to
   * stderr with --csv so stdout stays pure CSV. */
  FILE *info = csv ? stderr : stdout;
  const char *je_version = "?";
  size_t vlen = sizeof je_version;
  mallctl("version", &je_version, &vlen, NULL, 0);
  fprintf(info, "# cbench: offheap %s (abi %d), jemalloc %s, mimalloc %d.%d.%d, %ld online CPUs\n",
          oh_version(), oh_abi_version(), je_version, mi_version() / 100, mi_version() / 10 % 10,
          mi_version() % 10, sysconf(_SC_NPROCESSORS_ONLN));
  fprintf(info, "# glibc    = malloc/free in %s\n", lib_of((void *)glibc_malloc));
  fprintf(info, "# jemalloc = malloc/free in %s\n", lib_of((void *)je_malloc));
  fprintf(info, "# mimalloc = mi_malloc/mi_free in %s\n", lib_of((void *)mi_malloc));
  fprintf(info, "# process-wide malloc() is the one in %s (not used by any row)\n",
          lib_of(dlsym(RTLD_DEFAULT, "malloc")));
  fprintf(info,
          "# offheap options: purge_delay_ms=%lld tcache_bytes=%lld retain_bytes=%lld "
          "decommit_advice=%lld hugepages=%lld debug=%lld\n",
          oh_option_get(OH_OPT_PURGE_DELAY_MS), oh_option_get(OH_OPT_TCACHE_BYTES),
          oh_option_get(OH_OPT_RETAIN_BYTES), oh_option_get(OH_OPT_DECOMMIT_ADVICE),
          oh_option_get(OH_OPT_HUGEPAGES), oh_option_get(OH_OPT_DEBUG));
  fprintf(info,
          "# %d reps x %ld ms per cell (%s; spread = (max-min)/median), %s clock; first byte of "
          "every allocation written; ns/op = one alloc + one free, per thread\n",
          reps, ms, use_best ? "best rep" : "median", use_cpu_clock ? "thread CPU-time" : "wall");
  fflush(info);

  /* cells[pattern][size][allocator][threads] -> reps throughputs */
  int n_cells = n_pats * n_sizes * n_allocs * n_threads;
  double *tput = calloc((size_t)n_cells * (size_t)reps, sizeof(double));
  double *tput_cpu = calloc((size_t)n_cells * (size_t)reps, sizeof(double));
  if (tput == NULL || tput_cpu == NULL) die("out of memory");
  uint64_t dur_ns = (uint64_t)ms * 1000000u;
  uint64_t warm_ns = dur_ns / 10 > 5000000u ? dur_ns / 10 : 5000000u;
  uint64_t t_start = now_ns();
  for (int r = 0; r < reps; r++) {
    int c = 0;
    for (int p = 0; p < n_pats; p++)
      for (int s = 0; s < n_sizes; s++)
        for (int a = 0; a < n_allocs; a++)
          for (int t = 0; t < n_threads; t++, c++)
          {
            tput_t m = measure(&allocators[allocs[a]], pats[p], sizes[s], threads[t], warm_ns, dur_ns);
            tput[c * reps + r] = use_cpu_clock ? m.cpu : m.wall;
            tput_cpu[c * reps + r] = m.cpu;
          }
    fprintf(stderr, "cbench: rep %d/%d done (%.0f s)\n", r + 1, reps,
            (double)(now_ns() - t_start) / 1e9);
  }

  /* Report. */
  int glibc_idx = -1;
  for (int a = 0; a < n_allocs; a++)
    if (!strcmp(allocators[allocs[a]].name, "glibc")) glibc_idx = a;
  int base_t = -1; /* column index of the 1-thread figures */
  for (int t = 0; t < n_threads; t++)
    if (threads[t] == 1) base_t = t;

  char sz[32];
  if (csv) {
    printf("pattern,size_bytes,size,allocator,threads,reps,ms,stat,clock,ns_per_op,spread,"
           "mops_total,scaling_vs_1T\n");
  } else {
    printf("%-10s %-7s %-13s", "pattern", "size", "allocator");
    for (int t = 0; t < n_threads; t++) {
      char h[32];
      snprintf(h, sizeof h, "%dT ns/op", threads[t]);
      printf(" %10s %6s", h, "spread");
    }
    for (int t = 0; t < n_threads; t++)
      if (t != base_t && base_t >= 0) {
        char h[32];
        snprintf(h, sizeof h, "%dT/1T", threads[t]);
        printf(" %6s", h);
      }
    if (glibc_idx >= 0 && base_t >= 0) printf(" %9s", "vs glibc");
    for (int t = 0; t < n_threads; t++) {
      char h[32];
      snprintf(h, sizeof h, "%dT cpu-min", threads[t]);
      printf(" %10s", h);
    }
    printf("\n");
  }
  int c = 0;
  for (int p = 0; p < n_pats; p++) {
    for (int s = 0; s < n_sizes; s++) {
      double glibc_ns = 0;
      if (glibc_idx >= 0 && base_t >= 0) {
        int gc = ((p * n_sizes + s) * n_allocs + glibc_idx) * n_threads + base_t;
        glibc_ns = 1e9 / median(&tput[gc * reps], reps, NULL);
      }
      for (int a = 0; a < n_allocs; a++) {
        double med[MAX_LIST], spread[MAX_LIST];
        for (int t = 0; t < n_threads; t++, c++) med[t] = median(&tput[c * reps], reps, &spread[t]);
        fmt_size(sizes[s], sz, sizeof sz);
        if (csv) {
          for (int t = 0; t < n_threads; t++) {
            printf("%s,%zu,%s,%s,%d,%d,%ld,%s,%s,%.2f,%.3f,%.3f,", pattern_names[pats[p]], sizes[s],
                   sz, allocators[allocs[a]].name, threads[t], reps, ms,
                   use_best ? "min" : "median", use_cpu_clock ? "cpu" : "wall",
                   threads[t] * 1e9 / med[t], spread[t], med[t] / 1e6);
            if (base_t >= 0) printf("%.3f", med[t] / med[base_t]);
            printf("\n");
          }
          continue;
        }
        printf("%-10s %-7s %-13s", pattern_names[pats[p]], sz, allocators[allocs[a]].name);
        for (int t = 0; t < n_threads; t++)
          printf(" %10.1f %5.0f%%", threads[t] * 1e9 / med[t], spread[t] * 100);
        for (int t = 0; t < n_threads; t++)
          if (t != base_t && base_t >= 0) printf(" %6.2f", med[t] / med[base_t]);
        if (glibc_idx >= 0 && base_t >= 0) printf(" %8.2fx", (1e9 / med[base_t]) / glibc_ns);
        for (int t = 0; t < n_threads; t++) {
          int cc = c - n_threads + t;
          double best = 0;
          for (int r = 0; r < reps; r++)
            if (tput_cpu[cc * reps + r] > best) best = tput_cpu[cc * reps + r];
          printf(" %10.1f", best > 0 ? threads[t] * 1e9 / best : 0.0);
        }
        printf("\n");
      }
    }
    if (!csv && p + 1 < n_pats) printf("\n");
  }
  free(tput);
  free(tput_cpu);
  if (bench_slab) oh_slab_destroy(bench_slab);
  return 0;
}
