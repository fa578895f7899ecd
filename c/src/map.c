/* map.c - raw page mappings for users: oh_map and oh_unmap; and oh_kind_of,
 * which tells them (and every other kind of offheap memory) apart.
 *
 * A mapping is registered in the region map with a span of kind OHI_SPAN_MAP,
 * so every other entry point recognises (and refuses) its pointers with a
 * message that names oh_unmap.
 */
#include "internal.h"

/* Largest request oh_map accepts: far beyond any real mapping, small enough
 * that rounding cannot overflow. */
#define MAP_MAX ((size_t)1 << 46)

void *oh_map(size_t n) {
  ohi_options_init();
  if (n == 0 || n > MAP_MAX) return ohi_fail_null(EINVAL, "oh_map: size %zu is out of range (1 .. 2^46)", n);
  size_t size = ohi_round_pages(n);
  size_t held;
  if (!ohi_memlimit_grow(size, &held)) return ohi_fail_null(ENOMEM, "oh_map: no memory for %zu bytes", size);
  ohi_span_t *span = ohi_meta_alloc(sizeof *span);
  if (span == NULL) {
    ohi_memlimit_settle(held);
    return ohi_fail_null(ENOMEM, "oh_map: out of memory for metadata");
  }
  void *p = ohi_pages_map(size, OHI_GRANULE);
  ohi_memlimit_settle(held); /* counted as committed now, or failed */
  if (p == NULL) {
    ohi_meta_free(span, sizeof *span);
    return ohi_fail_null(ENOMEM, "oh_map: the OS refused %zu bytes", size);
  }
  ohi_span_publish(span, (uintptr_t)p, size, OHI_SPAN_MAP, NULL);
  if (ohi_region_set(span->base, size, span) != 0) {
    ohi_pages_unmap(p, size);
    ohi_meta_free(span, sizeof *span);
    return ohi_fail_null(ENOMEM, "oh_map: out of memory for the region map");
  }
  return p;
}

/* Two threads may race to unmap the same mapping (a misuse, but one that must
 * not corrupt): after the checks, the caller claims the mapping by a CAS of
 * its span's kind from OHI_SPAN_MAP to 0 ("being torn down"), so exactly one
 * caller wins and tears it down; every other fails the CAS (or sees kind 0,
 * or no span) and gets EINVAL. No lock: nothing here can block a fork. */
int oh_unmap(void *p, size_t n) {
  if (p == NULL) return ohi_fail(EINVAL, "oh_unmap: NULL pointer");
  ohi_span_t *span = ohi_region_lookup(p);
  uint32_t kind = span ? OHI_LOAD_ACQUIRE(&span->kind) : 0;
  uintptr_t base = span ? OHI_LOAD_RELAXED(&span->base) : 0;
  size_t size = span ? OHI_LOAD_RELAXED(&span->size) : 0;
  uint32_t want = OHI_SPAN_MAP;
  if (span == NULL || kind == 0 || (uintptr_t)p < base || (uintptr_t)p - base >= size)
    return ohi_fail(EINVAL, "oh_unmap: %p was not mapped by oh_map (or is already unmapped, or being unmapped by another thread)", p);
  if (kind != OHI_SPAN_MAP)
    return ohi_fail(EINVAL,
                    "oh_unmap: %p belongs to an allocator (oh_alloc, a slab, pool or arena), not to a mapping of oh_map; "
                    "release it there",
                    p);
  if ((uintptr_t)p != base)
    return ohi_fail(EFAULT, "oh_unmap: %p is inside the mapping at %p, not its start", p, (void *)base);
  if (n == 0 || ohi_round_pages(n) != size)
    return ohi_fail(EINVAL, "oh_unmap: size %zu does not match the mapping of %zu bytes at %p", n, size, p);
  if (!OHI_CAS(&span->kind, &want, 0u))
    return ohi_fail(EINVAL, "oh_unmap: %p was not mapped by oh_map (or is already unmapped, or being unmapped by another thread)", p);
  /* Between the checks and the CAS a racing caller may have torn the mapping
   * down and a new oh_map reused the span's metadata cell (kind MAP again)
   * for a mapping elsewhere: then this CAS claimed that one. Checked after
   * the claim and handed back, so the stale base and size are never used to
   * unmap (or free) another mapping. */
  if (OHI_LOAD_RELAXED(&span->base) != base || OHI_LOAD_RELAXED(&span->size) != size ||
      ohi_region_lookup(p) != span) {
    OHI_STORE_RELEASE(&span->kind, (uint32_t)OHI_SPAN_MAP);
    return ohi_fail(EINVAL, "oh_unmap: %p was not mapped by oh_map (or is already unmapped, or being unmapped by another thread)", p);
  }
  ohi_region_set(base, size, NULL);
  ohi_pages_unmap(p, size);
  ohi_meta_free(span, sizeof *span);
  return 0;
}

/* ---- what kind of memory a pointer lies in ------------------------------------- */

_Static_assert((int)OH_KIND_SLAB == (int)OHI_SPAN_SLAB && (int)OH_KIND_LARGE == (int)OHI_SPAN_LARGE &&
                   (int)OH_KIND_MAP == (int)OHI_SPAN_MAP && (int)OH_KIND_ARENA == (int)OHI_SPAN_ARENA,
               "oh_kind_of answers the region map's span kinds");

int oh_kind_of(const void *p) {
  ohi_span_t *sp = ohi_region_lookup(p);
  if (sp == NULL) return OH_KIND_NONE;
  uint32_t kind = __atomic_load_n(&sp->kind, __ATOMIC_ACQUIRE);
  uintptr_t base = OHI_LOAD_RELAXED(&sp->base);
  size_t size = OHI_LOAD_RELAXED(&sp->size);
  if (kind == 0 || (uintptr_t)p < base || (uintptr_t)p - base >= size) return OH_KIND_NONE;
  if (kind == OHI_SPAN_RUNS) return OH_KIND_LARGE; /* runs are whole-page allocations too */
  return (int)kind;
}
