/* pages.c - page mappings with accounting, fault injection, and the public
 * decommit of any range.
 *
 * Every mapping the core makes goes through here, so that the counters in
 * ohi_counters (mapped, committed, decommitted) are kept in one place and tests
 * can make the OS "refuse" memory (ohi_test_fail_os, ohi_test_fail_decommit).
 * Memory states are defined in internal.h ("page mappings"). Slab segments are
 * mapped reserved (ohi_pages_reserve) and counted as committed only as their
 * chunks are handed out, so the committed figure follows what is touched.
 */
#include "internal.h"

ohi_counters_t ohi_counters;

/* Every change of the committed figure goes through these two, so that the
 * memory limit sees each step crossed (memlimit.c; one load without a limit). */
static void committed_add(uint64_t n) {
  uint64_t before = OHI_FETCH_ADD(&ohi_counters.committed, n);
  ohi_memlimit_note(before, before + n);
}
static void committed_sub(uint64_t n) {
  uint64_t before = OHI_FETCH_SUB(&ohi_counters.committed, n);
  ohi_memlimit_note(before, before - n);
}

/* ---- fault injection (tests only) ----------------------------------------- */

static uint64_t fail_every, fail_after_bytes, fail_calls, fail_bytes, fail_decommits;

void ohi_test_fail_os(uint64_t every, uint64_t after_bytes) {
  OHI_STORE_RELAXED(&fail_calls, 0);
  OHI_STORE_RELAXED(&fail_bytes, 0);
  OHI_STORE_RELAXED(&fail_every, every);
  OHI_STORE_RELAXED(&fail_after_bytes, after_bytes);
}

void ohi_test_fail_decommit(uint64_t n) { OHI_STORE_RELAXED(&fail_decommits, n); }

static bool injected_failure(size_t size) {
  uint64_t every = OHI_LOAD_RELAXED(&fail_every), after = OHI_LOAD_RELAXED(&fail_after_bytes);
  if (OHI_LIKELY(every == 0 && after == 0)) return false;
  if (every != 0 && (OHI_FETCH_ADD(&fail_calls, 1) + 1) % every == 0) return true;
  if (after != 0 && OHI_FETCH_ADD(&fail_bytes, size) + size > after) {
    OHI_FETCH_SUB(&fail_bytes, size);
    return true;
  }
  return false;
}

static bool injected_decommit_failure(void) {
  uint64_t n = OHI_LOAD_RELAXED(&fail_decommits);
  while (n != 0) {
    if (__atomic_compare_exchange_n(&fail_decommits, &n, n - 1, false, __ATOMIC_RELAXED, __ATOMIC_RELAXED))
      return true;
  }
  return false;
}

/* ---- mappings ------------------------------------------------------------- */

void *ohi_pages_reserve(size_t size, size_t align) {
  if (injected_failure(size)) {
    errno = ENOMEM;
    return NULL;
  }
  void *p;
  int err = ohi_os_map(size, align, &p);
  if (err != 0) {
    errno = err;
    return NULL;
  }
  OHI_FETCH_ADD(&ohi_counters.mapped, size);
  return p;
}

void *ohi_pages_map(size_t size, size_t align) {
  void *p = ohi_pages_reserve(size, align);
  if (p != NULL) committed_add(size);
  return p;
}

void ohi_pages_unmap_accounted(void *addr, size_t size, size_t committed) {
  OHI_ASAN_UNPOISON(addr, size); /* whoever maps this range next must not inherit our poison */
  if (ohi_os_unmap(addr, size) == 0) {
    OHI_FETCH_SUB(&ohi_counters.mapped, size);
    if (committed) committed_sub(committed);
  }
}

void ohi_pages_unmap(void *addr, size_t size) { ohi_pages_unmap_accounted(addr, size, size); }

uint32_t ohi_lazy_decommitted;

/* The decommit advice to use; lazy advice (MADV_FREE) leaves the contents
 * until the kernel reclaims the pages: from then on nothing decommitted is
 * known to read as zero. */
static int decommit_advice(void) {
  int advice = (int)ohi_opt(OH_OPT_DECOMMIT_ADVICE);
  if (advice != 0 && OHI_LOAD_RELAXED(&ohi_lazy_decommitted) == 0) OHI_STORE_RELAXED(&ohi_lazy_decommitted, 1u);
  return advice;
}

static void decommitted(size_t size) {
  committed_sub(size);
  OHI_FETCH_ADD(&ohi_counters.decommitted_total, size);
}

uint64_t ohi_pages_decommit_requests;

size_t ohi_pages_decommit(void *addr, size_t size) {
  if (size == 0) return 0;
  OHI_FETCH_ADD(&ohi_pages_decommit_requests, 1);
  if (OHI_UNLIKELY(injected_decommit_failure())) return 0;
  if (ohi_os_decommit(addr, size, decommit_advice()) != 0) return 0;
  decommitted(size);
  return size;
}

size_t ohi_pages_decommit_ranges(const ohi_range_t *r, size_t n, bool *ok) {
  ohi_range_t go[OHI_OS_RANGES_MAX];
  bool went[OHI_OS_RANGES_MAX];
  size_t m = 0, bytes = 0;
  if (n > OHI_OS_RANGES_MAX) n = OHI_OS_RANGES_MAX;
  OHI_FETCH_ADD(&ohi_pages_decommit_requests, 1);
  for (size_t i = 0; i < n; i++) { /* a refusal the tests inject counts per range */
    ok[i] = r[i].size != 0 && !injected_decommit_failure();
    if (ok[i]) go[m++] = r[i];
  }
  if (m == 0) return 0;
  ohi_os_decommit_ranges(go, m, decommit_advice(), went);
  for (size_t i = 0, k = 0; i < n; i++) {
    if (!ok[i]) continue;
    if ((ok[i] = went[k++])) bytes += r[i].size;
  }
  decommitted(bytes);
  return bytes;
}

void ohi_pages_commit_account(size_t size) {
  if (size) committed_add(size);
}
void ohi_pages_uncommit_account(size_t size) {
  if (size) committed_sub(size);
}

/* ---- public: pages and decommit -------------------------------------------- */

size_t oh_page_size(void) { return ohi_os_page_size(); }

size_t oh_decommit(void *addr, size_t len) {
  ohi_options_init();
  if (addr == NULL || len == 0) return 0;
  size_t ps = ohi_os_page_size();
  uintptr_t start = ((uintptr_t)addr + ps - 1) & ~(uintptr_t)(ps - 1);
  if ((uintptr_t)addr > UINTPTR_MAX - len) {
    ohi_fail(EINVAL, "oh_decommit: range [%p, +%zu) wraps around the address space", addr, len);
    return 0;
  }
  uintptr_t end = ((uintptr_t)addr + len) & ~(uintptr_t)(ps - 1);
  if (end <= start) return 0;
  int err = ohi_os_decommit((void *)start, end - start, (int)ohi_opt(OH_OPT_DECOMMIT_ADVICE));
  if (err != 0) {
    ohi_fail(err, "oh_decommit: the OS refused to decommit [%p, %p): %s", (void *)start, (void *)end, strerror(err));
    return 0;
  }
  OHI_FETCH_ADD(&ohi_counters.decommitted_total, end - start);
  return end - start;
}
