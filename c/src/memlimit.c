/* memlimit.c - one memory budget for the process: OH_OPT_MEMORY_LIMIT.
 *
 * GOMEMLIMIT-style limits count one runtime's memory; a process whose bytes
 * live off that runtime's heap then has no knob that keeps it inside its
 * container. offheap knows its committed bytes exactly, so it keeps the budget
 * for both. The total it counts:
 *
 *   total = committed + external + reserved            (checked against L)
 *
 *   committed  ohi_counters.committed: pages offheap touched or handed out
 *   external   what a binding reports as used outside offheap
 *              (oh_memory_set_external: the Go runtime's memory)
 *   reserved   growth admitted and not yet counted as committed
 *
 * While a limit L is set:
 *  1. Refusal. Growth - a new slab segment, a large span, an oh_map mapping,
 *     an arena block - is admitted only while total + request <= L. The
 *     request is reserved (one atomic add) before the check and settled
 *     after the pages are counted as committed, so two growers never pass on
 *     one stale total: L is exceeded by at most what one admission commits
 *     beyond its request (pages a slab touches ahead), per thread. Before
 *     refusing, the free memory of every heap's shared lists and large spans
 *     is purged at once (purge.c, ohi_purge_for_limit) and the check made
 *     again; thread caches are left to an urgent purger pass, because a
 *     thread inside a cache operation cannot steal its own cache.
 *     OH_OPT_MEMORY_LIMIT_SOFT: the core never refuses; a binding admits its
 *     own error-returning calls with oh_memory_reserve and lets the others
 *     grow past L (Go's Alloc, like its heap past GOMEMLIMIT).
 *  2. Early purge. Committed bytes that climb into the last two steps below
 *     L - external make the purger decommit every free page at once instead
 *     of after the delay (ohi_purge_urgent).
 *  3. Steps. L is cut into steps of L/64 rounded down to a power of two (at
 *     least 1 MiB). The commit accounting (pages.c) compares the step of the
 *     committed figure before and after each change - a load and a shift, and
 *     only a load without a limit - and a crossing bumps `seq` and wakes
 *     oh_memory_wait. A binding's thread follows the committed bytes that way
 *     (Go's own limit = L - committed) without polling and without a call on
 *     any allocation path; 1/64 of L is the most Go's limit lags behind.
 */
#include "internal.h"

#include <time.h>

uint32_t ohi_memlimit_shift; /* 0 = no limit */
static uint64_t limit_bytes = UINT64_MAX;
static uint64_t external_bytes, reserved_bytes, seq;

/* oh_memory_wait sleeps here; the mutex is a leaf (never held while another
 * lock of the library is taken). */
static pthread_mutex_t wait_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t wait_cv;
static pthread_once_t wait_once = PTHREAD_ONCE_INIT;
static bool wait_cv_made;

static void wait_cond_init(void) {
  wait_cv_made = true;
  ohi_cond_init_monotonic(&wait_cv);
}

static void bump_seq(void) {
  pthread_once(&wait_once, wait_cond_init);
  pthread_mutex_lock(&wait_mu);
  OHI_FETCH_ADD(&seq, 1);
  pthread_cond_broadcast(&wait_cv);
  pthread_mutex_unlock(&wait_mu);
}

#define STEP_MIN_SHIFT 20 /* 1 MiB */

void ohi_memlimit_apply(long long limit) {
  uint64_t lim = limit < 0 ? UINT64_MAX : (uint64_t)limit;
  uint32_t shift = 0;
  if (lim != UINT64_MAX) {
    shift = STEP_MIN_SHIFT;
    while (shift < 62 && ((uint64_t)1 << (shift + 1)) <= lim / 64) shift++;
  }
  OHI_STORE_RELAXED(&limit_bytes, lim);
  OHI_STORE_RELAXED(&ohi_memlimit_shift, shift);
  bump_seq();
}

static uint64_t total_now(void) {
  return OHI_LOAD_RELAXED(&ohi_counters.committed) + OHI_LOAD_RELAXED(&external_bytes) +
         OHI_LOAD_RELAXED(&reserved_bytes);
}

void ohi_memlimit_crossed(uint64_t before, uint64_t after) {
  bump_seq();
  uint64_t lim = OHI_LOAD_RELAXED(&limit_bytes);
  uint32_t sh = OHI_LOAD_RELAXED(&ohi_memlimit_shift);
  if (lim == UINT64_MAX || sh == 0 || after <= before) return;
  uint64_t near = 2 * ((uint64_t)1 << sh);
  uint64_t others = OHI_LOAD_RELAXED(&external_bytes) + OHI_LOAD_RELAXED(&reserved_bytes);
  if (after + others + near >= lim) ohi_purge_urgent(); /* after wait_mu is released: a leaf */
}

/* Reserves n and checks; on failure purges once and checks again. Returns
 * whether admitted (n stays reserved) or not (n given back). */
static bool admit(size_t n) {
  uint64_t lim = OHI_LOAD_RELAXED(&limit_bytes);
  OHI_FETCH_ADD(&reserved_bytes, n);
  if (total_now() <= lim) return true;
  ohi_purge_for_limit();
  if (total_now() <= lim) return true;
  OHI_FETCH_SUB(&reserved_bytes, n);
  return false;
}

/* The figures of a refusal, as "memory limit of L bytes reached: ...". */
#define REFUSAL_FMT                                                                                          \
  "memory limit of %llu bytes reached: total %llu (offheap committed %llu + outside offheap %llu + in flight " \
  "%llu) + request %zu"
#define REFUSAL_ARGS(n)                                                                                   \
  (unsigned long long)OHI_LOAD_RELAXED(&limit_bytes), (unsigned long long)total_now(),                   \
      (unsigned long long)OHI_LOAD_RELAXED(&ohi_counters.committed),                                      \
      (unsigned long long)OHI_LOAD_RELAXED(&external_bytes), (unsigned long long)OHI_LOAD_RELAXED(&reserved_bytes), (n)

bool ohi_memlimit_grow(size_t n, size_t *held) {
  *held = 0;
  if (OHI_LIKELY(OHI_LOAD_RELAXED(&limit_bytes) == UINT64_MAX)) return true;
  if (ohi_opt(OH_OPT_MEMORY_LIMIT_SOFT) != 0) return true;
  if (!admit(n)) {
    ohi_error_note(REFUSAL_FMT, REFUSAL_ARGS(n));
    errno = ENOMEM;
    return false;
  }
  *held = n;
  return true;
}

void ohi_memlimit_settle(size_t held) {
  if (held) OHI_FETCH_SUB(&reserved_bytes, held);
}

/* ---- public ----------------------------------------------------------------- */

void oh_memory_status(oh_memory_status_t *out) {
  ohi_options_init();
  if (out == NULL) return;
  uint64_t lim = OHI_LOAD_RELAXED(&limit_bytes);
  uint32_t sh = OHI_LOAD_RELAXED(&ohi_memlimit_shift);
  out->limit = lim == UINT64_MAX ? -1 : (int64_t)lim;
  out->committed = OHI_LOAD_RELAXED(&ohi_counters.committed);
  out->external = OHI_LOAD_RELAXED(&external_bytes);
  out->reserved = OHI_LOAD_RELAXED(&reserved_bytes);
  out->step = sh ? (uint64_t)1 << sh : 0;
  out->seq = OHI_LOAD_RELAXED(&seq);
}

void oh_memory_set_external(uint64_t bytes) { OHI_STORE_RELAXED(&external_bytes, bytes); }

int oh_memory_reserve(size_t n) {
  ohi_options_init();
  if (OHI_LOAD_RELAXED(&limit_bytes) == UINT64_MAX) return 0;
  if (!admit(n)) return ohi_fail(ENOMEM, "oh_memory_reserve: " REFUSAL_FMT, REFUSAL_ARGS(n));
  return 1;
}

void oh_memory_unreserve(size_t n) { OHI_FETCH_SUB(&reserved_bytes, n); }

uint64_t oh_memory_wait(uint64_t seen, unsigned timeout_ms) {
  pthread_once(&wait_once, wait_cond_init);
  struct timespec ts = ohi_cond_deadline(timeout_ms);
  pthread_mutex_lock(&wait_mu);
  while (OHI_LOAD_RELAXED(&seq) == seen) {
    if (pthread_cond_timedwait(&wait_cv, &wait_mu, &ts) != 0) break; /* ETIMEDOUT */
  }
  uint64_t now = OHI_LOAD_RELAXED(&seq);
  pthread_mutex_unlock(&wait_mu);
  return now;
}

/* fork (lifecycle.c): taken last, after the purger's mutex (wake.c). In the
 * child no thread waits any more: the mutex and the condition variable start
 * over. */
void ohi_memlimit_lock_all(void) { ohi_lock(&wait_mu); }
void ohi_memlimit_unlock_all(bool child) {
  if (ohi_lock_after_fork(&wait_mu, child) && wait_cv_made)
    wait_cond_init(); /* a waiter's state may have been copied into it */
}
