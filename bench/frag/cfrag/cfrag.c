/* cfrag.c - the C side of bench/frag: the phase change (fill -live of 16 KiB
 * buffers, free a random 75 %, fill -live of 48 KiB, free all but a random
 * 10 %, wait, scavenge) against one allocator, reported as the same JSON
 * lines a Go child of frag writes ({"step":...} per step, {"result":...}
 * last). It exists so that offheap's C API can be set beside glibc, jemalloc
 * and mimalloc on exactly the same frees: the random choices come from the
 * same splitmix64 stream as the Go child's.
 *
 * One source, one binary per allocator (mk/frag.mk), as bench/burst/cburst
 * does, so that no allocator replaces another's malloc behind the
 * measurement's back:
 *   cfrag-offheap   oh_alloc / oh_free, scavenge = oh_purge()
 *   cfrag-glibc     malloc / free, scavenge = malloc_trim(0)
 *   cfrag-jemalloc  malloc / free from -ljemalloc (checked with dladdr),
 *                   scavenge = thread.tcache.flush + arena.<all>.purge
 *   cfrag-mimalloc  mi_malloc / mi_free, scavenge = mi_collect(true)
 *
 * Usage (normally run by frag): cfrag-X -workload phase -mode c-X -live BYTES
 *   [-pool BYTES] [-seed N] [-wait-ms N]
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <dlfcn.h>
#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#if defined(CF_OFFHEAP)
#include "offheap.h"
#define CF_MODE "c-offheap"
#define A(n) oh_alloc(n)
#define F(p) oh_free(p)
#elif defined(CF_JEMALLOC)
#define CF_MODE "c-jemalloc"
/* Declared here rather than through <jemalloc/jemalloc.h>, whose unprefixed
 * build redefines malloc & co (as in cburst.c). */
extern int mallctl(const char *name, void *oldp, size_t *oldlenp, void *newp, size_t newlen);
#define A(n) malloc(n)
#define F(p) free(p)
#elif defined(CF_MIMALLOC)
#include <mimalloc.h>
#define CF_MODE "c-mimalloc"
#define A(n) mi_malloc(n)
#define F(p) mi_free(p)
#elif defined(CF_GLIBC)
#include <gnu/libc-version.h>
#include <malloc.h>
#define CF_MODE "c-glibc"
#define A(n) malloc(n)
#define F(p) free(p)
#else
#error "define one of CF_OFFHEAP, CF_JEMALLOC, CF_MIMALLOC, CF_GLIBC"
#endif

#define SIZE16 (16u << 10)
#define SIZE48 (48u << 10)
#define STAMP_KEY 0x5a5aa5a5f00dcafeull

static void die(const char *fmt, ...) __attribute__((noreturn, format(printf, 1, 2)));
static void die(const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  fputs("cfrag (" CF_MODE "): ", stderr);
  vfprintf(stderr, fmt, ap);
  fputc('\n', stderr);
  va_end(ap);
  exit(1);
}

static uint64_t now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void sleep_ms(uint64_t ms) {
  struct timespec ts = {(time_t)(ms / 1000), (long)(ms % 1000) * 1000000L};
  while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
  }
}

static double cpu_s(void) {
  struct rusage ru;
  getrusage(RUSAGE_SELF, &ru);
  return (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 + (double)ru.ru_stime.tv_sec +
         (double)ru.ru_stime.tv_usec / 1e6;
}

static long long rss(void) {
  FILE *f = fopen("/proc/self/statm", "r");
  long long size = 0, res = 0;
  if (f == NULL) return 0;
  if (fscanf(f, "%lld %lld", &size, &res) != 2) res = 0;
  fclose(f);
  return res * sysconf(_SC_PAGESIZE);
}

static long long peak_rss(void) {
  FILE *f = fopen("/proc/self/status", "r");
  if (f == NULL) return 0;
  char line[256];
  long long kb = 0;
  while (fgets(line, sizeof line, f) != NULL)
    if (strncmp(line, "VmHWM:", 6) == 0) kb = atoll(line + 6);
  fclose(f);
  return kb * 1024;
}

static __attribute__((unused)) const char *lib_of(void *fn) {
  Dl_info info;
  if (fn == NULL || dladdr(fn, &info) == 0 || info.dli_fname == NULL) return "?";
  return info.dli_fname;
}

/* ---- the allocator: identity, decommit counts, scavenge --------------------- */

static void describe(char *out, size_t n) {
#if defined(CF_OFFHEAP)
  snprintf(out, n, "liboffheap %s (static) oh_alloc/oh_free; purge delay %lld ms, retain %lld bytes, thread cache %lld bytes",
           oh_version(), oh_option_get(OH_OPT_PURGE_DELAY_MS), oh_option_get(OH_OPT_RETAIN_BYTES),
           oh_option_get(OH_OPT_TCACHE_BYTES));
#elif defined(CF_JEMALLOC)
  const char *version = "?";
  size_t sz = sizeof version;
  mallctl("version", &version, &sz, NULL, 0);
  ssize_t dirty = -2, muzzy = -2;
  sz = sizeof dirty;
  mallctl("opt.dirty_decay_ms", &dirty, &sz, NULL, 0);
  sz = sizeof muzzy;
  mallctl("opt.muzzy_decay_ms", &muzzy, &sz, NULL, 0);
  snprintf(out, n, "jemalloc %s (malloc from %s); dirty_decay_ms %zd, muzzy_decay_ms %zd", version,
           lib_of((void *)malloc), dirty, muzzy);
#elif defined(CF_MIMALLOC)
  int v = mi_version();
  snprintf(out, n, "mimalloc %d.%d.%d (mi_malloc from %s), its defaults", v / 100, (v / 10) % 10, v % 10,
           lib_of((void *)mi_malloc));
#else
  snprintf(out, n, "glibc %s malloc (from %s), default mallopt settings", gnu_get_libc_version(),
           lib_of((void *)malloc));
#endif
}

static void check_allocator(void) {
#if defined(CF_JEMALLOC)
  if (strstr(lib_of((void *)malloc), "jemalloc") == NULL)
    die("malloc resolves into %s, not libjemalloc: the measurement would be glibc's", lib_of((void *)malloc));
#elif defined(CF_GLIBC)
  if (strstr(lib_of((void *)malloc), "libc.so") == NULL) die("malloc resolves into %s, not glibc", lib_of((void *)malloc));
#endif
}

/* offheap's decommits by the purge policy and bytes decommitted; -1 elsewhere. */
static void decommits(long long *purges, long long *bytes) {
  *purges = *bytes = -1;
#if defined(CF_OFFHEAP)
  oh_stats_t st;
  if (oh_stats(&st) == 0) {
    *purges = (long long)st.purges;
    *bytes = (long long)st.decommitted_bytes;
  }
#endif
}

static void scavenge(void) {
#if defined(CF_OFFHEAP)
  oh_purge();
#elif defined(CF_JEMALLOC)
  mallctl("thread.tcache.flush", NULL, NULL, NULL, 0);
  char name[64];
  snprintf(name, sizeof name, "arena.%u.purge", 4096u); /* MALLCTL_ARENAS_ALL */
  if (mallctl(name, NULL, NULL, NULL, 0) != 0) die("mallctl(%s) failed", name);
#elif defined(CF_MIMALLOC)
  mi_collect(true);
#else
  malloc_trim(0);
#endif
}

/* ---- the same random stream as the Go child (splitmix64) --------------------- */

static uint64_t rng_state;
static uint64_t rng_next(void) {
  uint64_t z = (rng_state += 0x9e3779b97f4a7c15ull);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}

/* ---- the workload -------------------------------------------------------------- */

static unsigned char **bufs; /* mmap'ed: outside every allocator under test */
static uint32_t *lens;
static size_t *idx;
static long long live, ops;
static double busy_s;
static uint64_t start_ns;

#define MAX_STEPS 16
static char steps_json[MAX_STEPS][512];
static int nsteps;

static void step(const char *name) {
  long long p, d;
  decommits(&p, &d);
  char *s = steps_json[nsteps < MAX_STEPS ? nsteps++ : MAX_STEPS - 1];
  snprintf(s, 512,
           "{\"name\":\"%s\",\"t\":%.6f,\"rss\":%lld,\"live\":%lld,\"ops\":%lld,\"busy_s\":%.6f,\"purges\":%lld,"
           "\"decommitted_bytes\":%lld}",
           name, (double)(now_ns() - start_ns) / 1e9, rss(), live, ops, busy_s, p, d);
  printf("{\"step\":%s}\n", s);
  fflush(stdout);
}

static void alloc_write(size_t i, uint32_t n) {
  unsigned char *p = A(n);
  if (p == NULL) die("allocation of %u bytes failed (buffer %zu)", n, i);
  memset(p, 0xa5, n);
  uint64_t st = (uint64_t)i ^ STAMP_KEY;
  memcpy(p, &st, 8);
  memcpy(p + n - 8, &st, 8);
  bufs[i] = p;
  lens[i] = n;
  live += n;
  ops++;
}

static void check_free(size_t i) {
  unsigned char *p = bufs[i];
  uint32_t n = lens[i];
  uint64_t st = (uint64_t)i ^ STAMP_KEY, a, b;
  memcpy(&a, p, 8);
  memcpy(&b, p + n - 8, 8);
  if (a != st || b != st || p[8] != 0xa5) die("buffer %zu (%u bytes) changed while live", i, n);
  F(p);
  bufs[i] = NULL;
  live -= n;
  ops++;
}

/* Frees k of the m buffers listed in idx: a partial Fisher-Yates shuffle,
 * drawing exactly what the Go child's freeRandom draws. */
static void free_random(size_t m, size_t k) {
  for (size_t j = 0; j < k; j++) {
    size_t x = j + (size_t)(rng_next() % (uint64_t)(m - j));
    size_t t = idx[j];
    idx[j] = idx[x];
    idx[x] = t;
    check_free(idx[j]);
  }
}

static void *map_table(size_t bytes) {
  bytes = (bytes + 4095) & ~(size_t)4095;
  void *p = mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (p == MAP_FAILED) die("mmap of %zu bytes failed", bytes);
  memset(p, 0, bytes); /* resident before the baseline */
  return p;
}

static uint64_t num(const char *flag, const char *v) {
  char *end = NULL;
  errno = 0;
  unsigned long long x = strtoull(v, &end, 10);
  if (errno != 0 || end == v || *end != '\0') die("%s %s: not a non-negative integer", flag, v);
  return x;
}

int main(int argc, char **argv) {
  const char *workload = NULL, *mode = NULL;
  uint64_t live_target = 0, seed = 1, wait_ms = 2000;
  for (int i = 1; i < argc; i++) {
    const char *f = argv[i];
    if (i + 1 >= argc) die("%s: missing value", f);
    const char *v = argv[++i];
    if (!strcmp(f, "-workload")) workload = v;
    else if (!strcmp(f, "-mode")) mode = v;
    else if (!strcmp(f, "-live")) live_target = num(f, v);
    else if (!strcmp(f, "-seed")) seed = num(f, v);
    else if (!strcmp(f, "-wait-ms")) wait_ms = num(f, v);
    else if (!strcmp(f, "-pool")) (void)num(f, v);
    else die("unknown flag %s", f);
  }
  if (workload == NULL || strcmp(workload, "phase") != 0) die("-workload %s: only phase", workload ? workload : "(none)");
  if (mode == NULL || strcmp(mode, CF_MODE) != 0) die("-mode %s is not served by this binary (%s)", mode ? mode : "(none)", CF_MODE);
  if (live_target < (1u << 20)) die("-live %llu: at least 1 MiB", (unsigned long long)live_target);
  check_allocator();

  size_t n16 = live_target / SIZE16, n48 = live_target / SIZE48, n = n16 + n48;
  bufs = map_table(n * sizeof *bufs);
  lens = map_table(n * sizeof *lens);
  idx = map_table(n * sizeof *idx);
  F(A(SIZE16)); /* set the allocator up before the baseline */
  F(A(SIZE48));
  long long base = rss();
  double cpu0 = cpu_s();
  rng_state = seed;
  start_ns = now_ns();
  step("start");

  uint64_t t = now_ns();
  for (size_t i = 0; i < n16; i++) alloc_write(i, SIZE16);
  busy_s += (double)(now_ns() - t) / 1e9;
  step("fill 16K");

  for (size_t i = 0; i < n16; i++) idx[i] = i;
  t = now_ns();
  free_random(n16, n16 * 3 / 4);
  busy_s += (double)(now_ns() - t) / 1e9;
  step("free 75%");

  t = now_ns();
  for (size_t i = n16; i < n; i++) alloc_write(i, SIZE48);
  busy_s += (double)(now_ns() - t) / 1e9;
  step("fill 48K");

  size_t m = 0;
  for (size_t i = 0; i < n; i++)
    if (bufs[i] != NULL) idx[m++] = i;
  t = now_ns();
  free_random(m, m - m / 10);
  busy_s += (double)(now_ns() - t) / 1e9;
  step("free to 10%");

  sleep_ms(wait_ms);
  step("idle");
  scavenge();
  step("scavenge");

  long long peak = peak_rss();
  char info[512], esc[1024];
  describe(info, sizeof info);
  size_t j = 0;
  for (const char *s = info; *s && j + 2 < sizeof esc; s++) {
    if (*s == '"' || *s == '\\') esc[j++] = '\\';
    esc[j++] = *s;
  }
  esc[j] = '\0';
  printf("{\"result\":{\"workload\":\"phase\",\"mode\":\"%s\",\"info\":\"%s\",\"base_rss\":%lld,\"peak_rss\":%lld,"
         "\"ops\":%lld,\"busy_s\":%.6f,\"ops_per_s\":%.1f,\"cpu_s\":%.6f,\"wall_s\":%.6f,\"steps\":[",
         CF_MODE, esc, base, peak, ops, busy_s, busy_s > 0 ? (double)ops / busy_s : 0.0, cpu_s() - cpu0,
         (double)(now_ns() - start_ns) / 1e9);
  for (int k = 0; k < nsteps; k++) printf("%s%s", k ? "," : "", steps_json[k]);
  printf("]}}\n");
  fflush(stdout);
  for (size_t i = 0; i < n; i++)
    if (bufs[i] != NULL) check_free(i);
  return 0;
}
