/* sizeclass.c - the size classes of a heap. See heap.c for the overview.
 *
 * Chunk sizes are snapped to a grid of 16-byte steps up to 1 KiB and 64 steps
 * per power of two above, so the class of a size is one table read
 * (heap->grid[ohi_grid_index(n)]). A heap's classes grow by its growth factor
 * (m even steps per power of two, m = ceil(1/(growth-1))); every power of two
 * and every size of 1..7 pages is a class, and classes of 8 pages or more are
 * page multiples, so page-multiple buffers fit exactly and stay page aligned
 * (a decommit of such a buffer then covers all its pages).
 */
#include "internal.h"

size_t ohi_grid_value(unsigned i) {
  if (i <= 64) return 16 * (size_t)i;
  unsigned e = 10 + (i - 65) / 64, j = (i - 65) % 64;
  return ((size_t)1 << e) + (size_t)(j + 1) * ((size_t)1 << (e - 6));
}

static size_t snap_to_grid(size_t n) { return ohi_grid_value(ohi_grid_index(n)); }

static unsigned too_many_classes(const oh_slab_config_t *c, const char *fn) {
  ohi_fail(EINVAL, "%s: growth %g from %zu to slab size %zu needs more than %d size classes", fn, c->growth,
           c->min_chunk, c->slab_size, OH_MAX_CLASSES);
  return 0;
}

unsigned ohi_classes_build(const oh_slab_config_t *c, uint32_t *sizes, const char *fn) {
  double steps = 1.0 / (c->growth - 1.0);
  unsigned m = steps >= 64.0 ? 64 : (unsigned)steps;
  if ((double)m < steps - 1e-9 && m < 64) m++;
  if (m == 0) m = 1;
  unsigned n = 0;
  size_t first = snap_to_grid(c->min_chunk < 16 ? 16 : c->min_chunk);
  sizes[n++] = (uint32_t)first;
  unsigned k0 = 63u - (unsigned)__builtin_clzll((unsigned long long)first);
  for (unsigned k = k0; sizes[n - 1] < c->slab_size; k++) {
    size_t base = (size_t)1 << k;
    for (unsigned j = 0; j < m && sizes[n - 1] < c->slab_size; j++) {
      size_t v = snap_to_grid(base + (base * j + m - 1) / m);
      if (v > c->slab_size) v = c->slab_size;
      if (v <= sizes[n - 1]) continue;
      if (n == OH_MAX_CLASSES) return too_many_classes(c, fn);
      sizes[n++] = (uint32_t)v;
    }
  }
  /* Page-multiple requests must get page-aligned chunks: classes of 8 pages
   * or more are rounded up to whole pages, and 1..7 pages are always
   * classes. Both are grid values, since a page is a multiple of the grid
   * step below it. */
  size_t ps = ohi_os_page_size();
  uint32_t all[OH_MAX_CLASSES + 8];
  unsigned na = 0;
  for (unsigned i = 0; i < n; i++) {
    size_t v = sizes[i];
    if (v >= 8 * ps) v = (v + ps - 1) & ~(ps - 1);
    if (v > c->slab_size) v = c->slab_size;
    all[na++] = (uint32_t)v;
  }
  for (size_t k = 1; k < 8; k++)
    if (k * ps >= first && k * ps <= c->slab_size) all[na++] = (uint32_t)(k * ps);
  for (unsigned i = 1; i < na; i++) /* insertion sort: a few dozen entries */
    for (unsigned j = i; j > 0 && all[j - 1] > all[j]; j--) {
      uint32_t t = all[j];
      all[j] = all[j - 1];
      all[j - 1] = t;
    }
  n = 0;
  for (unsigned i = 0; i < na; i++)
    if (n == 0 || all[i] != sizes[n - 1]) {
      if (n == OH_MAX_CLASSES) return too_many_classes(c, fn);
      sizes[n++] = all[i];
    }
  return n;
}

void ohi_class_init(ohi_class_t *c, size_t chunk, size_t slab_size) {
  ohi_lock_init(&c->lock);
  c->chunk_size = (uint32_t)chunk;
  size_t n = slab_size / chunk;
  c->nchunks = (uint32_t)(n > OHI_W_MAX_CHUNKS ? OHI_W_MAX_CHUNKS : n);
  c->div_magic = OHI_EXACT_DIV_MAGIC(chunk);
}
