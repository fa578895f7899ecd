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
 *   and, only when named: none (no allocator), jemalloc-claim and
 *   mimalloc-claim (the peer with one compare-and-swap per release,
 *   allocators.c).
 */
#include "cbench.h"

static const char *const pattern_names[PAT_COUNT] = {"pair", "batch-256", "prod-cons"};

/* ---- flags ----------------------------------------------------------------- */

#define MAX_LIST 16

static void usage(FILE *f) {
  fprintf(f,
          "usage: cbench [flags]\n"
          "  --sizes LIST        allocation sizes (default 64,1K,16K,256K; suffixes B, K/KiB, M/MiB)\n"
          "  --threads LIST      thread counts (default 1,2)\n"
          "  --allocators LIST   glibc,jemalloc,mimalloc,offheap,offheap-slab (default), none,\n"
          "                      jemalloc-claim, mimalloc-claim (none: no allocator, the\n"
          "                      pattern's own memory traffic: the machine's ceiling for\n"
          "                      2T/1T; *-claim: the peer plus one compare-and-swap per\n"
          "                      release, the floor of catching double frees across threads\n"
          "                      at the call)\n"
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
  int n_allocs = n_allocators - 3; /* the last three, "none" and the claim rows, only when asked for */
  for (int i = 0; i < n_allocs; i++) allocs[i] = i;
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
        for (int a = 0; a < n_allocators; a++)
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
    printf("%-10s %-7s %-15s", "pattern", "size", "allocator");
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
        printf("%-10s %-7s %-15s", pattern_names[pats[p]], sz, allocators[allocs[a]].name);
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
