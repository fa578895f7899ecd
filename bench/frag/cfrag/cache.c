/* cache.c - frag's cache workload in C: a -live cache of values of
 * log-normal size (64 B - 256 KiB, median 2 KiB), Zipf keys, random
 * eviction, run as the Go child's runCache runs it (bench/frag/workloads.go).
 * It exists so that the cache's figure (RSS / live, target <= 1.12) can be
 * set beside what glibc, jemalloc and mimalloc hold on the same operations,
 * and beside offheap's C API without the Go binding's per-P caches.
 *
 * The draws are the Go child's: sizes from the splitmix64 stream (Box-Muller,
 * as drawSize), keys from math/rand/v2's PCG (DXSM output) and its Zipf
 * generator (rejection-inversion), both ported below from Go's sources. Go's
 * math.Log / Exp and libm's may round one draw in many millions differently;
 * frag_test.go checks on a small run that both sides count the same hits,
 * misses, evictions and updates.
 *
 * A value is stamped whole (ch_stamp) and checked at its ends on every hit
 * and before its free; the Go child checks every byte, so C and Go operation
 * rates are not comparable, only the C allocators among themselves. */
#include <math.h>

#include "cfrag.h"

#define CACHE_MIN 64
#define CACHE_MAX (256u << 10)
#define CACHE_MEDIAN 2048.0
#define CACHE_SIGMA 1.5
#define ZIPF_S 1.05
#define CACHE_UPDATE 0.1
#define KEYS_PER_VALUE 4
#define OPS_PER_VALUE 30

/* ---- the Go child's draws -------------------------------------------------- */

static double rng_float64(void) { return (double)(rng_next() >> 11) / 9007199254740992.0; }

/* drawSize: Box-Muller from two uniforms in (0, 1]. */
static uint32_t draw_size(void) {
  double u1 = 1 - rng_float64(), u2 = rng_float64();
  double z = sqrt(-2 * log(u1)) * cos(2 * M_PI * u2);
  double v = round(CACHE_MEDIAN * exp(CACHE_SIGMA * z));
  if (v < CACHE_MIN) v = CACHE_MIN;
  if (v > CACHE_MAX) v = CACHE_MAX;
  return (uint32_t)v;
}

/* meanSize: the mean of a fixed sample (its own stream, seed 12345). */
static double mean_size(void) {
  uint64_t saved = rng_state;
  rng_state = 12345;
  long long sum = 0;
  for (int i = 0; i < 200000; i++) sum += draw_size();
  rng_state = saved;
  return (double)sum / 200000;
}

/* math/rand/v2 PCG: a 128-bit LCG with the DXSM output function. */
static unsigned __int128 pcg;
static uint64_t pcg_u64(void) {
  const unsigned __int128 mul = (unsigned __int128)2549297995355413924ull << 64 | 4865540595714422341ull;
  const unsigned __int128 inc = (unsigned __int128)6364136223846793005ull << 64 | 1442695040888963407ull;
  pcg = pcg * mul + inc;
  uint64_t hi = (uint64_t)(pcg >> 64), lo = (uint64_t)pcg;
  hi ^= hi >> 32;
  hi *= 0xda942042e4dd58b5ull;
  hi ^= hi >> 48;
  return hi * (lo | 1);
}
static double pcg_float64(void) { return (double)(pcg_u64() << 11 >> 11) / 9007199254740992.0; }

/* math/rand/v2 Zipf: P(k) proportional to (v + k)^-s over [0, imax]. */
static struct {
  double imax, v, q, s, one_minus_q, one_minus_q_inv, hxm, hx0_minus_hxm;
} zf;
static double zipf_h(double x) { return exp(zf.one_minus_q * log(zf.v + x)) * zf.one_minus_q_inv; }
static double zipf_hinv(double x) { return exp(zf.one_minus_q_inv * log(zf.one_minus_q * x)) - zf.v; }
static void zipf_init(double s, double v, uint64_t imax) {
  zf.imax = (double)imax;
  zf.v = v;
  zf.q = s;
  zf.one_minus_q = 1.0 - zf.q;
  zf.one_minus_q_inv = 1.0 / zf.one_minus_q;
  zf.hxm = zipf_h(zf.imax + 0.5);
  zf.hx0_minus_hxm = zipf_h(0.5) - exp(log(zf.v) * (-zf.q)) - zf.hxm;
  zf.s = 1 - zipf_hinv(zipf_h(1.5) - exp(-zf.q * log(zf.v + 1.0)));
}
static uint64_t zipf_next(void) {
  double k;
  for (;;) {
    double r = pcg_float64();
    double ur = zf.hxm + r * zf.hx0_minus_hxm;
    double x = zipf_hinv(ur);
    k = floor(x + 0.5);
    if (k - x <= zf.s) break;
    if (ur >= zipf_h(k + 0.5) - exp(-log(k + zf.v) * zf.q)) break;
  }
  return (uint64_t)k;
}

/* ---- the cache ------------------------------------------------------------- */

typedef struct {
  uint32_t key, ver;
  unsigned char *b;
  uint32_t n;
} entry_t;

static entry_t *entries;
static size_t nentries, max_entries;
static uint32_t ver;

/* word's counterpart: the stamp of a key's version. */
static uint64_t stamp_id(uint32_t key, uint32_t v) { return (uint64_t)key << 32 | v; }

static void new_value(entry_t *e, uint32_t key) {
  ver++;
  uint32_t n = draw_size();
  unsigned char *b = CH_ALLOC(n);
  if (b == NULL) die("allocation of %u bytes failed (key %u)", n, key);
  ch_stamp(b, n, stamp_id(key, ver));
  e->key = key;
  e->ver = ver;
  e->b = b;
  e->n = n;
  live += n;
}

/* Dies unless e's value still holds its stamp. */
static void check(const entry_t *e) {
  if (!ch_stamp_ok(e->b, e->n, stamp_id(e->key, e->ver)))
    die("value of key %u (version %u, %u bytes) changed while cached", e->key, e->ver, e->n);
}

static void drop(entry_t *e) {
  check(e);
  live -= e->n;
  CH_FREE(e->b);
  e->b = NULL;
}

void cache(uint64_t capacity, uint64_t cache_ops, uint64_t seed) {
  double mean = mean_size();
  size_t nvals = (size_t)((double)capacity / mean);
  if (nvals < 16) nvals = 16;
  size_t nkeys = KEYS_PER_VALUE * nvals;
  uint64_t total = cache_ops ? cache_ops : (uint64_t)OPS_PER_VALUE * nvals;
  int32_t *where = map_table(nkeys * sizeof *where); /* key -> index in entries, -1 = absent */
  for (size_t i = 0; i < nkeys; i++) where[i] = -1;
  max_entries = 4 * nvals; /* about 1.3 x the values held at any time */
  entries = map_table(max_entries * sizeof *entries);
  CH_FREE(CH_ALLOC(CACHE_MAX)); /* set the allocator up before the baseline */
  long long base = rss();
  double cpu0 = ch_usage().cpu_s;
  rng_state = seed;
  pcg = (unsigned __int128)seed << 64 | 2; /* rand.NewPCG(seed, 2) */
  zipf_init(ZIPF_S, 1, nkeys - 1);
  long long hits = 0, misses = 0, updates = 0, evictions = 0, verified = 0;
  bool full = false;
  start_ns = now_ns();
  step("start");
  uint64_t next = 1, t = now_ns();
  for (uint64_t op = 1; op <= total; op++) {
    uint32_t key = (uint32_t)zipf_next();
    int32_t i = where[key];
    if (i >= 0) {
      entry_t *e = &entries[i];
      check(e);
      hits++;
      verified += e->n;
      if (rng_float64() < CACHE_UPDATE) {
        drop(e);
        new_value(e, key);
        updates++;
      }
    } else {
      misses++;
      if (nentries == max_entries) die("more than %zu values cached at once (mean size %.0f B)", max_entries, mean);
      where[key] = (int32_t)nentries;
      new_value(&entries[nentries++], key);
    }
    while ((uint64_t)live > capacity) {
      size_t x = (size_t)(rng_next() % nentries);
      drop(&entries[x]);
      where[entries[x].key] = -1;
      if (x != nentries - 1) {
        entries[x] = entries[nentries - 1];
        where[entries[x].key] = (int32_t)x;
      }
      nentries--;
      evictions++;
    }
    ops++;
    if (!full && (uint64_t)live + CACHE_MAX > capacity) {
      full = true;
      busy_s += (double)(now_ns() - t) / 1e9;
      step("full");
      t = now_ns();
    }
    if (op * 10 >= next * total) {
      busy_s += (double)(now_ns() - t) / 1e9;
      char name[16];
      snprintf(name, sizeof name, "%llu%%", (unsigned long long)next * 10);
      step(name);
      next++;
      t = now_ns();
    }
  }
  busy_s += (double)(now_ns() - t) / 1e9;
  long long peak = peak_rss();
  char info[512], esc[1024];
  ch_describe(info, sizeof info);
  printf("{\"result\":{\"workload\":\"cache\",\"mode\":\"%s\",\"info\":\"%s\",\"base_rss\":%lld,\"peak_rss\":%lld,"
         "\"ops\":%lld,\"busy_s\":%.6f,\"ops_per_s\":%.1f,\"cpu_s\":%.6f,\"values\":%zu,\"hits\":%lld,\"misses\":%lld,"
         "\"evictions\":%lld,\"updates\":%lld,\"verified_bytes\":%lld,\"steps\":[",
         CF_MODE, json_escape(info, esc, sizeof esc), base, peak, ops, busy_s, busy_s > 0 ? (double)ops / busy_s : 0.0,
         ch_usage().cpu_s - cpu0, nentries, hits, misses, evictions, updates, verified);
  print_steps();
  printf("],\"wall_s\":%.6f}}\n", (double)(now_ns() - start_ns) / 1e9);
  fflush(stdout);
  for (size_t k = 0; k < nentries; k++) drop(&entries[k]);
}
