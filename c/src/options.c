/* options.c - the tunables table, error reporting and the version.
 *
 * Every tunable is one row below: its environment variable, default, range and
 * the reason for the default. Rows are read from the environment once, on first
 * use of the library, and may be changed at run time with oh_option_set.
 */
#include "internal.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

typedef struct option_desc_s {
  const char *env;
  long long def, min, max;
  /* Parses the variable when it is more than an integer (0 or -1 with a
   * message through the error handler); NULL = an integer in [min, max]. */
  int (*parse)(const char *text, long long *out);
} option_desc_t;

static int parse_memory_limit(const char *text, long long *out) { return oh_memory_limit_parse(text, NULL, out); }

static const option_desc_t option_table[OH_OPT_COUNT_] = {
    /* Freed memory stays committed this long before it is decommitted. A
     * decommit plus the page faults that follow cost ~5-7 us per 16 KiB, more
     * than a fresh allocation, so churn within a second must not pay it; idle
     * memory should still be back with the OS within a couple of seconds.
     * Chosen from bench/burst measurements (bench/RESULTS.md). */
    [OH_OPT_PURGE_DELAY_MS] = {"OFFHEAP_PURGE_DELAY_MS", 1000, -1, 24LL * 3600 * 1000},
    /* Poison freed memory (1), and guard freed pages (2): off by default, it
     * costs a memset per free, and guarding an mprotect per free and reuse. */
    [OH_OPT_DEBUG] = {"OFFHEAP_DEBUG", 0, 0, 2},
    /* MADV_DONTNEED so that RSS reflects use at once (Go switched back to it
     * in 1.16 for that reason); MADV_FREE is cheaper but RSS only falls under
     * memory pressure. */
    [OH_OPT_DECOMMIT_ADVICE] = {"OFFHEAP_DECOMMIT", 0, 0, 1},
    /* Thread caches on (non-zero) or off (0), and the bound a language
     * binding's per-P cache takes for itself: goroutines hop between OS
     * threads, and every byte cached on a P that stops calling in stays
     * committed until the janitor drains it (one purge delay). 1 MiB keeps 16 x
     * 16 KiB or 2 x 512 KiB warm: below it, chunks of 512 KiB - 1 MiB took the
     * class lock on every operation (~130 ns against ~10 ns; bench/cbench).
     * The core's own thread caches own whole slabs instead (tcache.c): what a
     * thread holds free is bounded by the purge delay, not by this. */
    [OH_OPT_TCACHE_BYTES] = {"OFFHEAP_TCACHE_BYTES", 1024 * 1024, 0, 64LL << 20},
    /* Empty slabs kept committed per heap despite the delay, to absorb a
     * steady churn whose live size hovers around a slab boundary. */
    [OH_OPT_RETAIN_BYTES] = {"OFFHEAP_RETAIN_BYTES", 4LL << 20, 0, 1LL << 40},
    /* Transparent huge pages on slabs: fewer TLB misses, but a 2 MiB page
     * is committed whole, so off unless asked for. */
    [OH_OPT_HUGEPAGES] = {"OFFHEAP_HUGEPAGES", 0, 0, 1},
    /* Free slab segments are kept mapped (decommitted: address space only) so
     * a class that grows again takes one without an mmap. 1 GiB covers the
     * churn of bench/burst's 1 GiB bursts; beyond it a program under
     * `ulimit -v` needs its address space back more than a faster regrowth. */
    [OH_OPT_SEGMENT_CACHE_BYTES] = {"OFFHEAP_SEGMENT_CACHE_BYTES", 1LL << 30, 0, 1LL << 46},
    /* One budget for the process (memlimit.c): none by default, since a
     * limit refuses allocations. `auto` leaves 10% of the cgroup's limit as
     * headroom for what neither offheap nor a binding counts (thread stacks,
     * malloc, page cache charged to the cgroup), as automemlimit does for Go. */
    [OH_OPT_MEMORY_LIMIT] = {"OFFHEAP_MEMORY_LIMIT", -1, -1, OHI_MEMLIMIT_MAX, parse_memory_limit},
    /* Refusal left to a binding (oh_memory_reserve): off for C callers, who
     * get NULL/ENOMEM past the limit; Go sets it so that Alloc stays soft. */
    [OH_OPT_MEMORY_LIMIT_SOFT] = {"OFFHEAP_MEMORY_LIMIT_SOFT", 0, 0, 1},
    /* Freed large spans a thread keeps for reuse without a lock (large.c):
     * aged out by the purge policy like a thread's free slabs, so the bound
     * only caps a burst within one delay. 1 GiB holds a batch of 256 x 4 MiB
     * (a reuse costs ~20 ns, a fresh mapping ~10-15 us). */
    [OH_OPT_LARGE_CACHE_BYTES] = {"OFFHEAP_LARGE_CACHE_BYTES", 1LL << 30, 0, 1LL << 46},
    /* Runs of pages for 16 KiB .. a quarter slab (runpage.c): on by default
     * since their quick lists made a batch cost what a class's free list
     * does. They take a phase change (16 KiB buffers freed, 48 KiB ones
     * allocated) at 1.2-1.3x the classes' rate; the Go API and steady churn
     * are level with the classes, C's 16-256 KiB cells 10-30 % slower (still
     * ahead of mimalloc and jemalloc) (bench/RESULTS.md, sessions 8 and 13).
     * 0: the size classes. */
    [OH_OPT_PAGE_RUNS] = {"OFFHEAP_PAGE_RUNS", 1, 0, 1},
};

long long ohi_options[OH_OPT_COUNT_];
/* Hooks run after a change (registered once each, at initialisation). */
#define OPTION_HOOKS_MAX 4
static void (*hooks[OPTION_HOOKS_MAX])(oh_option_t);
static int hook_count;
static pthread_once_t options_once = PTHREAD_ONCE_INIT;

static void options_read_env(void) {
  for (int i = 0; i < OH_OPT_COUNT_; i++) {
    const option_desc_t *d = &option_table[i];
    long long v = d->def;
    const char *s = getenv(d->env);
    if (s != NULL && *s != '\0' && d->parse != NULL) {
      long long parsed = d->def;
      if (d->parse(s, &parsed) == 0) {
        v = parsed;
      } else {
        fprintf(stderr, "offheap: %s\n", oh_last_error()); /* the message names the variable */
      }
    } else if (s != NULL && *s != '\0') {
      char *end = NULL;
      errno = 0;
      long long parsed = strtoll(s, &end, 10);
      if (errno == 0 && end != s && *end == '\0' && parsed >= d->min && parsed <= d->max) {
        v = parsed;
      } else {
        fprintf(stderr, "offheap: ignoring %s=%s (expected an integer in [%lld, %lld]); using %lld\n",
                d->env, s, d->min, d->max, d->def);
      }
    }
    OHI_STORE_RELAXED(&ohi_options[i], v);
  }
  ohi_memlimit_apply(ohi_options[OH_OPT_MEMORY_LIMIT]);
}

void ohi_options_init(void) { pthread_once(&options_once, options_read_env); }

long long oh_option_get(oh_option_t opt) {
  ohi_options_init();
  if ((unsigned)opt >= OH_OPT_COUNT_) {
    ohi_fail(EINVAL, "oh_option_get: unknown option %d", (int)opt);
    return -1;
  }
  return ohi_opt(opt);
}

int oh_option_set(oh_option_t opt, long long value) {
  ohi_options_init();
  if ((unsigned)opt >= OH_OPT_COUNT_) return ohi_fail(EINVAL, "oh_option_set: unknown option %d", (int)opt);
  const option_desc_t *d = &option_table[opt];
  if (value < d->min || value > d->max)
    return ohi_fail(EINVAL, "oh_option_set: %s = %lld is outside [%lld, %lld]", d->env, value, d->min, d->max);
  OHI_STORE_RELAXED(&ohi_options[opt], value);
  if (opt == OH_OPT_MEMORY_LIMIT) ohi_memlimit_apply(value);
  int n = __atomic_load_n(&hook_count, __ATOMIC_ACQUIRE);
  for (int i = 0; i < n; i++) hooks[i](opt);
  return 0;
}

void ohi_option_hook(void (*fn)(oh_option_t)) {
  int i = __atomic_fetch_add(&hook_count, 0, __ATOMIC_RELAXED);
  if (i >= OPTION_HOOKS_MAX) return;
  hooks[i] = fn;
  __atomic_store_n(&hook_count, i + 1, __ATOMIC_RELEASE);
}

/* ---- errors --------------------------------------------------------------- */

static oh_error_fn error_fn;
static void *error_arg;
static __thread char last_error[512];

void oh_set_error_handler(oh_error_fn fn, void *arg) {
  /* The pair is written without a lock: set the handler before sharing work
   * across threads, as the header says. */
  OHI_STORE_RELAXED(&error_arg, arg);
  __atomic_store_n(&error_fn, fn, __ATOMIC_RELEASE);
}

const char *oh_last_error(void) { return last_error; }

/* Why a lower layer refused (the memory limit), added to the message of the
 * caller's next error on this thread, so the error handler gets one report
 * that names both the operation and the cause. */
static __thread char note[200];

void ohi_error_note(const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  if (fmt == NULL) note[0] = '\0';
  else vsnprintf(note, sizeof note, fmt, ap);
  va_end(ap);
}

static void report(int err, const char *fmt, va_list ap) {
  int len = vsnprintf(last_error, sizeof last_error, fmt, ap);
  if (note[0] != '\0') {
    if (len >= 0 && (size_t)len < sizeof last_error)
      snprintf(last_error + len, sizeof last_error - (size_t)len, ": %s", note);
    note[0] = '\0';
  }
  oh_error_fn fn = __atomic_load_n(&error_fn, __ATOMIC_ACQUIRE);
  if (fn != NULL) fn(err, last_error, OHI_LOAD_RELAXED(&error_arg));
  errno = err;
}

int ohi_fail(int err, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  report(err, fmt, ap);
  va_end(ap);
  return -1;
}

void *ohi_fail_null(int err, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  report(err, fmt, ap);
  va_end(ap);
  return NULL;
}

/* ---- misc ----------------------------------------------------------------- */

void ohi_lock_init(ohi_lock_t *l) { pthread_mutex_init(l, NULL); }

#define OH_STR2(x) #x
#define OH_STR(x) OH_STR2(x)
const char *oh_version(void) {
  return OH_STR(OH_VERSION_MAJOR) "." OH_STR(OH_VERSION_MINOR) "." OH_STR(OH_VERSION_PATCH);
}
int oh_abi_version(void) { return OH_ABI_VERSION; }
