/* cburst.c - the C side of bench/burst: runs one allocator through the burst
 * (or steady-churn) pattern and reports its phases as JSON lines on stdout,
 * exactly like a Go child of the burst command. The parent samples this
 * process's RSS from /proc/<pid>/statm; this program only allocates, writes,
 * frees, sleeps, and says when each phase began and ended.
 *
 * One source, one binary per allocator (mk/burst.mk; charness.h), so that no
 * allocator replaces another's malloc behind the measurement's back:
 *   cburst-glibc     malloc/free, nothing else linked
 *   cburst-jemalloc  malloc/free with -ljemalloc (jemalloc becomes the process
 *                    malloc; checked with dladdr). Mode jemalloc-bg turns on
 *                    jemalloc's background purging thread first
 *                    (mallctl "background_thread").
 *   cburst-mimalloc  mi_malloc/mi_free
 *   cburst-offheap   oh_alloc/oh_free, build/liboffheap.a
 *
 * Usage (normally run by the burst command, never by hand):
 *   cburst-X -mode M [-pattern burst|steady] -peak BYTES -size BYTES
 *            [-floor BYTES] [-keep oldest|spread] [-pre-ms N] [-bursts N]
 *            [-idle-ms N] [-duration-ms N] [-warm-ms N] [-churn PCT] [-gap-ms N]
 * The buffer table (one pointer per buffer) is mapped with mmap, outside
 * every allocator under test, and touched before the measurement starts.
 */
#include "charness.h"

/* ---- output: JSON lines, no allocation ------------------------------------- */

static char outbuf[1 << 14];

static uint64_t start_ns;

/* One event line: {"event":NAME,"t":s,"minflt":n,"cpu_s":s,"purges":n,
 * "decommitted":bytes,"burst":i,<extra>}; purges and bytes decommitted as
 * the allocator counts them, where it does (-1 elsewhere). */
static void event(const char *name, int burst, const char *extra_fmt, ...) __attribute__((format(printf, 3, 4)));
static void event(const char *name, int burst, const char *extra_fmt, ...) {
  /* the time first: the counts take the allocator's registry lock, which a
   * purge pass in progress holds */
  double t = (double)(now_ns() - start_ns) / 1e9;
  ch_usage_t u = ch_usage();
  long long pg, dec;
  ch_decommits(&pg, &dec);
  char extra[512] = "";
  if (extra_fmt != NULL) {
    va_list ap;
    va_start(ap, extra_fmt);
    extra[0] = ',';
    vsnprintf(extra + 1, sizeof extra - 1, extra_fmt, ap);
    va_end(ap);
  }
  printf("{\"event\":\"%s\",\"t\":%.6f,\"burst\":%d,\"minflt\":%ld,\"cpu_s\":%.6f,\"purges\":%lld,\"decommitted\":%lld%s}\n",
         name, t, burst, u.minflt, u.cpu_s, pg, dec, extra);
  fflush(stdout);
}

static void setup(const char *mode) {
  ch_check();
#if defined(CH_JEMALLOC)
  if (strcmp(mode, "jemalloc-bg") == 0) {
    bool on = true;
    if (mallctl("background_thread", NULL, NULL, &on, sizeof on) != 0)
      die("mallctl(background_thread, true) failed");
  } else if (strcmp(mode, "jemalloc") != 0) {
    die("mode %s is not served by this binary (jemalloc, jemalloc-bg)", mode);
  }
#else
  const char *want = CH_NAME;
#if defined(CH_OFFHEAP)
  want = "offheap-c";
#endif
  if (strcmp(mode, want) != 0) die("mode %s is not served by this binary (%s)", mode, want);
#endif
}

/* ---- the workload ------------------------------------------------------------ */

typedef struct cfg_s {
  const char *mode, *pattern, *keep;
  size_t peak, size, floor;
  uint64_t pre_ms, idle_ms, duration_ms, warm_ms, gap_ms;
  int bursts;
  double churn;
} cfg_t;

static void **bufs; /* one slot per buffer, mmap'ed */
static size_t nbufs;

static void *alloc_write(size_t size, size_t id) {
  unsigned char *p = CH_ALLOC(size);
  if (p == NULL) die("allocation of %zu bytes failed (buffer %zu)", size, id);
  ch_stamp(p, size, id);
  return p;
}

static void check_free(void *p, size_t size, size_t id) {
  if (!ch_stamp_ok(p, size, id)) die("buffer %zu (%zu bytes) changed while live", id, size);
  CH_FREE(p);
}

/* Whether buffer i stays live at the floor. */
static bool kept(const cfg_t *c, size_t i, size_t nfloor) {
  if (nfloor == 0) return false;
  if (strcmp(c->keep, "spread") == 0) {
    size_t stride = nbufs / nfloor;
    return i % stride == 0 && i / stride < nfloor;
  }
  return i < nfloor;
}

static void run_burst(const cfg_t *c) {
  size_t nfloor = c->floor / c->size;
  for (int b = 1; b <= c->bursts; b++) {
    event("burst_start", b, NULL);
    uint64_t t0 = now_ns();
    size_t made = 0;
    for (size_t i = 0; i < nbufs; i++)
      if (bufs[i] == NULL) {
        bufs[i] = alloc_write(c->size, i);
        made++;
      }
    uint64_t t1 = now_ns();
    event("burst_end", b, "\"dur_s\":%.6f,\"buffers\":%zu", (double)(t1 - t0) / 1e9, made);
    size_t freed = 0;
    for (size_t i = 0; i < nbufs; i++)
      if (!kept(c, i, nfloor)) {
        check_free(bufs[i], c->size, i);
        bufs[i] = NULL;
        freed++;
      }
    uint64_t t2 = now_ns();
    event("free_end", b, "\"dur_s\":%.6f,\"buffers\":%zu", (double)(t2 - t1) / 1e9, freed);
    sleep_ms(c->idle_ms);
    event("idle_end", b, NULL);
  }
}

static void run_steady(const cfg_t *c) {
  event("fill_start", 0, NULL);
  uint64_t t0 = now_ns();
  for (size_t i = 0; i < nbufs; i++) bufs[i] = alloc_write(c->size, i);
  event("fill_end", 0, "\"dur_s\":%.6f,\"buffers\":%zu", (double)(now_ns() - t0) / 1e9, nbufs);
  size_t k = (size_t)((double)nbufs * c->churn / 100.0 + 0.5);
  if (k < 1) k = 1;
  if (k > nbufs) k = nbufs;
  size_t head = 0;
  uint64_t start = now_ns(), warm = start + c->warm_ms * 1000000u, end = start + c->duration_ms * 1000000u;
  bool warmed = c->warm_ms == 0;
  uint64_t busy = 0, rounds = 0, replaced = 0;
  event("churn_start", 0, NULL);
  if (warmed) event("warm_end", 0, "\"rounds\":0,\"replaced\":0,\"busy_s\":0");
  while (now_ns() < end) {
    uint64_t a = now_ns();
    for (size_t j = 0; j < k; j++) {
      size_t i = (head + j) % nbufs;
      check_free(bufs[i], c->size, i);
      bufs[i] = NULL;
    }
    uint64_t b = now_ns();
    if (c->gap_ms) sleep_ms(c->gap_ms);
    uint64_t d = now_ns();
    for (size_t j = 0; j < k; j++) {
      size_t i = (head + j) % nbufs;
      bufs[i] = alloc_write(c->size, i);
    }
    head = (head + k) % nbufs;
    busy += (b - a) + (now_ns() - d);
    rounds++;
    replaced += k;
    if (!warmed && now_ns() >= warm) {
      warmed = true;
      event("warm_end", 0, "\"rounds\":%llu,\"replaced\":%llu,\"busy_s\":%.6f", (unsigned long long)rounds,
            (unsigned long long)replaced, (double)busy / 1e9);
    }
  }
  event("churn_end", 0, "\"rounds\":%llu,\"replaced\":%llu,\"busy_s\":%.6f", (unsigned long long)rounds,
        (unsigned long long)replaced, (double)busy / 1e9);
}

/* ---- command line ------------------------------------------------------------- */

int main(int argc, char **argv) {
  start_ns = now_ns();
  setvbuf(stdout, outbuf, _IOFBF, sizeof outbuf);
  cfg_t c = {NULL, "burst", "oldest", 0, 16384, 0, 300, 3000, 5000, 1000, 0, 2, 10.0};
  for (int i = 1; i < argc; i++) {
    const char *f = argv[i];
    if (i + 1 >= argc) die("%s: missing value", f);
    const char *v = argv[++i];
    if (!strcmp(f, "-mode")) c.mode = v;
    else if (!strcmp(f, "-pattern")) c.pattern = v;
    else if (!strcmp(f, "-keep")) c.keep = v;
    else if (!strcmp(f, "-peak")) c.peak = num(f, v);
    else if (!strcmp(f, "-size")) c.size = num(f, v);
    else if (!strcmp(f, "-floor")) c.floor = num(f, v);
    else if (!strcmp(f, "-pre-ms")) c.pre_ms = num(f, v);
    else if (!strcmp(f, "-idle-ms")) c.idle_ms = num(f, v);
    else if (!strcmp(f, "-duration-ms")) c.duration_ms = num(f, v);
    else if (!strcmp(f, "-warm-ms")) c.warm_ms = num(f, v);
    else if (!strcmp(f, "-gap-ms")) c.gap_ms = num(f, v);
    else if (!strcmp(f, "-bursts")) c.bursts = (int)num(f, v);
    else if (!strcmp(f, "-churn")) c.churn = strtod(v, NULL);
    else die("unknown flag %s", f);
  }
  if (c.mode == NULL) die("-mode is required");
  if (c.size == 0 || c.peak < c.size) die("-size %zu / -peak %zu: need 0 < size <= peak", c.size, c.peak);
  if (c.floor > c.peak) die("-floor %zu above -peak %zu", c.floor, c.peak);
  if (strcmp(c.keep, "oldest") && strcmp(c.keep, "spread")) die("-keep %s: oldest or spread", c.keep);
  bool steady = strcmp(c.pattern, "steady") == 0;
  if (!steady && strcmp(c.pattern, "burst")) die("-pattern %s: burst or steady", c.pattern);
  if (!(c.churn > 0 && c.churn <= 100)) die("-churn %g: in (0, 100]", c.churn);
  setup(c.mode);

  nbufs = c.peak / c.size;
  bufs = map_table(nbufs * sizeof(void *));
  /* Initialise the allocator before the baseline is taken. */
  CH_FREE(alloc_write(c.size, 0));

  char info[512], esc[1024];
  ch_describe(info, sizeof info);
  event("ready", 0, "\"info\":\"%s\"", json_escape(info, esc, sizeof esc));
  sleep_ms(c.pre_ms);
  if (steady) run_steady(&c);
  else run_burst(&c);
  event("done", 0, "\"peak_rss\":%lld", peak_rss());
  return 0;
}
