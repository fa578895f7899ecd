/* region.c - the region map: which span owns an address.
 *
 * Every mapping the library hands out data from is registered, per 64 KiB
 * granule, with a pointer to the span that describes it (internal.h). It
 * answers "is this pointer ours, and what is it?" without ever touching the
 * pointer, which is what lets every free check a Go-heap, stack or stale
 * pointer safely. Level-2 tables are mapped on first use and never freed, so
 * lookups are lock free.
 */
#include "internal.h"

ohi_region_l2_t *ohi_region_l1[(size_t)1 << OHI_L1_BITS];
static ohi_lock_t region_lock = OHI_LOCK_INIT;

/* ---- the region map ------------------------------------------------------- */

int ohi_region_set(uintptr_t base, size_t size, ohi_span_t *span) {
  uintptr_t first = base >> OHI_GRANULE_SHIFT;
  uintptr_t last = (base + size - 1) >> OHI_GRANULE_SHIFT;
  if ((last >> (OHI_L1_BITS + OHI_L2_BITS)) != 0) return ENOMEM; /* beyond 48-bit space */
  if (span != NULL) {
    /* Map the level-2 tables first, so registration cannot fail half way. */
    ohi_lock(&region_lock);
    for (uintptr_t i = first >> OHI_L2_BITS; i <= last >> OHI_L2_BITS; i++) {
      if (ohi_region_l1[i] != NULL) continue;
      void *l2;
      if (ohi_os_map(sizeof(ohi_region_l2_t), ohi_os_page_size(), &l2) != 0) {
        ohi_unlock(&region_lock);
        return ENOMEM;
      }
      OHI_STORE_RELEASE(&ohi_region_l1[i], (ohi_region_l2_t *)l2);
    }
    ohi_unlock(&region_lock);
  }
  for (uintptr_t g = first; g <= last; g++) {
    ohi_region_l2_t *l2 = OHI_LOAD_ACQUIRE(&ohi_region_l1[g >> OHI_L2_BITS]);
    if (l2 == NULL) continue; /* unregistering a never-registered range */
    OHI_STORE_RELEASE(&(*l2)[g & (((uintptr_t)1 << OHI_L2_BITS) - 1)], span);
  }
  return 0;
}

void ohi_region_lock_all(void) { ohi_lock(&region_lock); }
void ohi_region_unlock_all(bool child) { ohi_lock_after_fork(&region_lock, child); }
