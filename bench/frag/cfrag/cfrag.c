/* cfrag.c - the C side of bench/frag: the phase change (fill -live of 16 KiB
 * buffers, free a random 75 %, fill -live of 48 KiB, free all but a random
 * 10 %, wait, scavenge) against one allocator, reported as the same JSON
 * lines a Go child of frag writes ({"step":...} per step, {"result":...}
 * last). It exists so that offheap's C API can be set beside glibc, jemalloc
 * and mimalloc on exactly the same frees: the random choices come from the
 * same splitmix64 stream as the Go child's.
 *
 * One source, one binary per allocator (mk/frag.mk; charness.h), as
 * bench/burst/cburst does, so that no allocator replaces another's malloc behind the
 * measurement's back:
 *   cfrag-offheap   oh_alloc / oh_free, scavenge = oh_purge()
 *   cfrag-glibc     malloc / free, scavenge = malloc_trim(0)
 *   cfrag-jemalloc  malloc / free from -ljemalloc (checked with dladdr),
 *                   scavenge = thread.tcache.flush + arena.<all>.purge
 *   cfrag-mimalloc  mi_malloc / mi_free, scavenge = mi_collect(true)
 *
 * Usage (normally run by frag): cfrag-X -workload phase|cache -mode c-X -live BYTES
 *   [-pool BYTES] [-seed N] [-wait-ms N] [-cache-ops N]
 * (-workload cache is in cache.c: the Go child's cache, same draws.)
 *
 * -workload churn (run directly, not by frag) fills -live bytes of -size
 * buffers, frees a random -drop percent of them, and replaces random live
 * ones for -secs seconds - a busy worker whose free chunks are reused at once
 * (or, with -drop, a worker that shrank and goes on) - and reports its rate
 * and the tail of its per-operation latency: the cost the purge policy's
 * passes put on a busy owner (issue 18: one walk of every state word of 1 GiB
 * of 64 B chunks was a 20-30 ms stall, 4 times a second; with 90 % dropped,
 * decommitting it all in one pass was a 50-100 ms stall).
 *   cfrag-X -workload churn -mode c-X -live BYTES -size BYTES [-drop PERCENT] [-secs N] [-seed N]
 *
 * -workload scavenge (run directly) fills -live bytes of -size buffers, frees
 * a random -drop percent (default 75), and times the allocator's scavenge
 * right after (oh_purge, malloc_trim, the jemalloc arena purge, mi_collect):
 * the cost of handing scattered free memory back at once, which offheap's
 * pressure passes pay on the owner's refill and Scavenge on the caller.
 *   cfrag-X -workload scavenge -mode c-X -live BYTES -size BYTES [-drop PERCENT] [-seed N]
 */
#include "cfrag.h"

#define SIZE16 (16u << 10)
#define SIZE48 (48u << 10)

/* ---- the same random stream as the Go child (splitmix64) --------------------- */

uint64_t rng_state;
uint64_t rng_next(void) {
  uint64_t z = (rng_state += 0x9e3779b97f4a7c15ull);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}

/* ---- per-operation latency: the Go child's histogram (bench/internal/latency) --- */

/* Below 64 ns exact; above, each power of two split into 64 buckets. */
#define LAT_SUB 64
static uint64_t lat_counts[LAT_SUB + 58 * LAT_SUB], lat_n, lat_max, lat_over_ms;

static void lat_record(uint64_t v) {
  if (v > lat_max) lat_max = v;
  if (v > 1000000) lat_over_ms++;
  size_t b = v;
  if (v >= LAT_SUB) {
    int shift = 63 - __builtin_clzll(v) - 6;
    b = LAT_SUB + (size_t)shift * LAT_SUB + ((v >> shift) & (LAT_SUB - 1));
  }
  lat_counts[b]++;
  lat_n++;
}

/* The nearest-rank q-quantile: the midpoint of the bucket that holds it. */
static double lat_quantile(double q) {
  uint64_t rank = (uint64_t)(q * (double)lat_n), cum = 0;
  if ((double)rank < q * (double)lat_n) rank++;
  if (rank < 1) rank = 1;
  for (size_t i = 0; i < sizeof lat_counts / sizeof lat_counts[0]; i++) {
    if ((cum += lat_counts[i]) < rank) continue;
    if (i < LAT_SUB) return (double)i;
    uint64_t shift = (i - LAT_SUB) / LAT_SUB, lo = (LAT_SUB + (i - LAT_SUB) % LAT_SUB) << shift;
    return (double)lo + (double)((1ull << shift) - 1) / 2;
  }
  return 0;
}

/* ---- the workload -------------------------------------------------------------- */

static unsigned char **bufs; /* mmap'ed: outside every allocator under test */
static uint32_t *lens;
static size_t *idx;
long long live, ops;
double busy_s;
uint64_t start_ns;

#define MAX_STEPS 16
static char steps_json[MAX_STEPS][512];
static int nsteps;

void step(const char *name) {
  long long p, d;
  ch_decommits(&p, &d);
  char *s = steps_json[nsteps < MAX_STEPS ? nsteps++ : MAX_STEPS - 1];
  snprintf(s, 512,
           "{\"name\":\"%s\",\"t\":%.6f,\"rss\":%lld,\"live\":%lld,\"ops\":%lld,\"busy_s\":%.6f,\"purges\":%lld,"
           "\"decommitted_bytes\":%lld}",
           name, (double)(now_ns() - start_ns) / 1e9, rss(), live, ops, busy_s, p, d);
  printf("{\"step\":%s}\n", s);
  fflush(stdout);
}

void print_steps(void) {
  for (int k = 0; k < nsteps; k++) printf("%s%s", k ? "," : "", steps_json[k]);
}

static void alloc_write(size_t i, uint32_t n) {
  uint64_t t0 = now_ns();
  unsigned char *p = CH_ALLOC(n);
  lat_record(now_ns() - t0);
  if (p == NULL) die("allocation of %u bytes failed (buffer %zu)", n, i);
  ch_stamp(p, n, i);
  bufs[i] = p;
  lens[i] = n;
  live += n;
  ops++;
}

static void check_free(size_t i) {
  unsigned char *p = bufs[i];
  uint32_t n = lens[i];
  if (!ch_stamp_ok(p, n, i)) die("buffer %zu (%u bytes) changed while live", i, n);
  uint64_t t0 = now_ns();
  CH_FREE(p);
  lat_record(now_ns() - t0);
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

/* The set-up churn and scavenge share: -live of -size buffers filled and a
 * random drop percent of them freed (idx[dropped..n) stay live). Returns n;
 * *base: RSS before the fill, *dropped: how many were freed. */
static size_t fill_and_drop(uint64_t live_target, uint64_t size, uint64_t drop, long long *base, size_t *dropped) {
  if (size == 0 || size > (1u << 30)) die("-size %llu: 1 byte to 1 GiB", (unsigned long long)size);
  if (drop > 99) die("-drop %llu: 0 to 99 percent", (unsigned long long)drop);
  size_t n = live_target / size;
  bufs = map_table(n * sizeof *bufs);
  lens = map_table(n * sizeof *lens);
  idx = map_table(n * sizeof *idx);
  CH_FREE(CH_ALLOC(size));
  *base = rss();
  for (size_t i = 0; i < n; i++) alloc_write(i, (uint32_t)size);
  for (size_t i = 0; i < n; i++) idx[i] = i;
  *dropped = n * drop / 100;
  free_random(n, *dropped);
  return n;
}

/* Frees (checked) every buffer still live. */
static void free_live(size_t n) {
  for (size_t i = 0; i < n; i++)
    if (bufs[i] != NULL) check_free(i);
}

/* The churn workload: fill, then replace random buffers for secs seconds. */
static void churn(uint64_t live_target, uint64_t size, uint64_t drop, uint64_t secs) {
  long long base;
  size_t dropped, n = fill_and_drop(live_target, size, drop, &base, &dropped);
  memset(lat_counts, 0, sizeof lat_counts); /* the fill's faults are not the churn's */
  lat_n = lat_max = lat_over_ms = 0;
  double cpu0 = ch_usage().cpu_s;
  long long p0, d0, p1, d1;
  ch_decommits(&p0, &d0);
  uint64_t t0 = now_ns(), end = t0 + secs * 1000000000ull, replaced = 0;
  for (uint64_t t = t0; t < end; t = now_ns())
    for (int k = 0; k < 64; k++, replaced++) {
      size_t i = idx[dropped + (size_t)(rng_next() % (n - dropped))];
      check_free(i);
      alloc_write(i, (uint32_t)size);
    }
  double wall = (double)(now_ns() - t0) / 1e9;
  ch_decommits(&p1, &d1);
  char info[512], esc[1024];
  ch_describe(info, sizeof info);
  fprintf(stderr, "%s churn of %llu x %llu B (%llu %% dropped): %.2f M replaced/s, op p99 %.0f ns, p99.9 %.0f ns, max %.2f ms, %llu ops over 1 ms, %lld purges\n",
          CF_MODE, (unsigned long long)n, (unsigned long long)size, (unsigned long long)drop, (double)replaced / wall / 1e6, lat_quantile(0.99),
          lat_quantile(0.999), (double)lat_max / 1e6, (unsigned long long)lat_over_ms, p1 >= 0 ? p1 - p0 : -1);
  printf("{\"result\":{\"workload\":\"churn\",\"mode\":\"%s\",\"info\":\"%s\",\"size\":%llu,\"drop\":%llu,\"live\":%lld,\"base_rss\":%lld,"
         "\"rss\":%lld,\"replaced_per_s\":%.1f,\"op_p99_ns\":%.1f,\"op_p999_ns\":%.1f,\"op_max_ns\":%llu,"
         "\"ops_over_1ms\":%llu,\"purges\":%lld,\"cpu_s\":%.6f,\"wall_s\":%.6f}}\n",
         CF_MODE, json_escape(info, esc, sizeof esc), (unsigned long long)size, (unsigned long long)drop, live, base, rss(), (double)replaced / wall,
         lat_quantile(0.99), lat_quantile(0.999), (unsigned long long)lat_max, (unsigned long long)lat_over_ms,
         p1 >= 0 ? p1 - p0 : -1, ch_usage().cpu_s - cpu0, wall);
  fflush(stdout);
  free_live(n);
}

/* The scavenge workload: fill, free a random share, time the scavenge. */
static void scavenge(uint64_t live_target, uint64_t size, uint64_t drop) {
  long long base;
  size_t dropped, n = fill_and_drop(live_target, size, drop, &base, &dropped);
  long long before = rss();
  uint64_t t0 = now_ns();
  ch_scavenge();
  double ms = (double)(now_ns() - t0) / 1e6;
  long long after = rss();
  fprintf(stderr, "%s scavenge of %llu x %llu B, %llu %% freed at random: %.1f ms, RSS %lld -> %lld MiB\n", CF_MODE,
          (unsigned long long)n, (unsigned long long)size, (unsigned long long)drop, ms, (before - base) >> 20, (after - base) >> 20);
  printf("{\"result\":{\"workload\":\"scavenge\",\"mode\":\"%s\",\"size\":%llu,\"drop\":%llu,\"live\":%lld,\"base_rss\":%lld,"
         "\"rss_before\":%lld,\"rss_after\":%lld,\"scavenge_ms\":%.3f}}\n",
         CF_MODE, (unsigned long long)size, (unsigned long long)drop, live, base, before, after, ms);
  fflush(stdout);
  free_live(n);
}

int main(int argc, char **argv) {
  const char *workload = NULL, *mode = NULL;
  uint64_t live_target = 0, seed = 1, wait_ms = 2000, size = 64, secs = 4, drop = UINT64_MAX, cache_ops = 0;
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
    else if (!strcmp(f, "-size")) size = num(f, v);
    else if (!strcmp(f, "-secs")) secs = num(f, v);
    else if (!strcmp(f, "-drop")) drop = num(f, v);
    else if (!strcmp(f, "-cache-ops")) cache_ops = num(f, v);
    else die("unknown flag %s", f);
  }
  bool is_churn = workload != NULL && !strcmp(workload, "churn");
  bool is_scavenge = workload != NULL && !strcmp(workload, "scavenge");
  bool is_cache = workload != NULL && !strcmp(workload, "cache");
  if (workload == NULL || (strcmp(workload, "phase") != 0 && !is_churn && !is_scavenge && !is_cache))
    die("-workload %s: phase, cache, churn or scavenge", workload ? workload : "(none)");
  if (mode == NULL || strcmp(mode, CF_MODE) != 0) die("-mode %s is not served by this binary (%s)", mode ? mode : "(none)", CF_MODE);
  if (live_target < (1u << 20)) die("-live %llu: at least 1 MiB", (unsigned long long)live_target);
  ch_check();
  rng_state = seed;
  if (is_churn) {
    churn(live_target, size, drop == UINT64_MAX ? 0 : drop, secs);
    return 0;
  }
  if (is_scavenge) {
    scavenge(live_target, size, drop == UINT64_MAX ? 75 : drop);
    return 0;
  }
  if (is_cache) {
    cache(live_target, cache_ops, seed);
    return 0;
  }

  size_t n16 = live_target / SIZE16, n48 = live_target / SIZE48, n = n16 + n48;
  bufs = map_table(n * sizeof *bufs);
  lens = map_table(n * sizeof *lens);
  idx = map_table(n * sizeof *idx);
  CH_FREE(CH_ALLOC(SIZE16)); /* set the allocator up before the baseline */
  CH_FREE(CH_ALLOC(SIZE48));
  long long base = rss();
  double cpu0 = ch_usage().cpu_s;
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
  ch_scavenge();
  step("scavenge");

  long long peak = peak_rss();
  char info[512], esc[1024];
  ch_describe(info, sizeof info);
  printf("{\"result\":{\"workload\":\"phase\",\"mode\":\"%s\",\"info\":\"%s\",\"base_rss\":%lld,\"peak_rss\":%lld,"
         "\"ops\":%lld,\"busy_s\":%.6f,\"ops_per_s\":%.1f,\"op_p99_ns\":%.1f,\"cpu_s\":%.6f,\"wall_s\":%.6f,\"steps\":[",
         CF_MODE, json_escape(info, esc, sizeof esc), base, peak, ops, busy_s, busy_s > 0 ? (double)ops / busy_s : 0.0, lat_quantile(0.99),
         ch_usage().cpu_s - cpu0,
         (double)(now_ns() - start_ns) / 1e9);
  print_steps();
  printf("]}}\n");
  fflush(stdout);
  for (size_t i = 0; i < n; i++)
    if (bufs[i] != NULL) check_free(i);
  return 0;
}
