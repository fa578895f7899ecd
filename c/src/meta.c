/* meta.c - type-stable metadata memory.
 *
 * Small blocks (spans, slab descriptors of up to 1984 B, cache nodes) come
 * from cells of 128 B .. 1984 B carved out of 64 KiB blocks, one free list
 * per cell size. Above 128 B a cell is an odd number of cache lines (3, 5,
 * 9, 17, 31), never a power of two: descriptors of one size then start at
 * every line offset of a page in turn, so the same field of many of them -
 * a slab's free list head, a run slab's state words for its k-th run - falls
 * into different sets of the (virtually indexed) L1 cache. With 2 KiB cells
 * every run slab's header sat at page offset 0 or 2048: a batch that cycles
 * through 64 run slabs fought over 2 sets of 12 ways per field, 4.3 L1
 * misses per alloc+free of 256 KiB where 1.8 remain (cachegrind, see
 * bench/RESULTS.md, session 14).
 *
 * Bigger blocks (descriptors with many state words, thread caches, heap
 * structs) are rounded to a power of two of pages and kept on per-order free
 * lists once freed. Nothing is ever unmapped (a racing lookup of a stale
 * pointer must never fault); freed big blocks are decommitted, and their free
 * list is linked through small side nodes, never through the block itself:
 * a link written into a decommitted page would commit it again.
 */
#include "internal.h"

#define META_CELL_CLASSES 6
/* The cell sizes (the smallest is also a span's size class). */
static const size_t cell_sizes[META_CELL_CLASSES] = {128, 3 * 64, 5 * 64, 9 * 64, 17 * 64, 31 * 64};
#define META_ORDERS 24
typedef struct meta_free_s { struct meta_free_s *next; } meta_free_t;
typedef struct meta_node_s {
  struct meta_node_s *next;
  void *block;
} meta_node_t;
static ohi_lock_t meta_lock = OHI_LOCK_INIT;
static meta_free_t *meta_cells[META_CELL_CLASSES];
static char *meta_cell_bump[META_CELL_CLASSES], *meta_cell_end[META_CELL_CLASSES];
static meta_node_t *meta_big[META_ORDERS];

static unsigned meta_order(size_t size) {
  size_t pages = (size + ohi_os_page_size() - 1) / ohi_os_page_size();
  unsigned o = 0;
  while (((size_t)1 << o) < pages) o++;
  return o;
}

static int cell_class(size_t size) {
  for (int k = 0; k < META_CELL_CLASSES; k++)
    if (size <= cell_sizes[k]) return k;
  return -1;
}

/* A cell of class k, zeroed; meta_lock held. */
static void *cell_alloc_locked(int k) {
  size_t cell = cell_sizes[k];
  meta_free_t *c = meta_cells[k];
  if (c != NULL) {
    meta_cells[k] = c->next;
  } else {
    if ((size_t)(meta_cell_end[k] - meta_cell_bump[k]) < cell) { /* the block's tail is no cell */
      void *blk = ohi_pages_map(OHI_GRANULE, ohi_os_page_size());
      if (blk == NULL) return NULL;
      meta_cell_bump[k] = blk;
      meta_cell_end[k] = (char *)blk + OHI_GRANULE;
    }
    c = (meta_free_t *)meta_cell_bump[k];
    meta_cell_bump[k] += cell;
  }
  /* Zeroed word by word with relaxed stores: a stale reader may still be
   * looking at the span this cell held (see ohi_span_publish). */
  for (size_t i = 0; i < cell / sizeof(uintptr_t); i++) OHI_STORE_RELAXED(&((uintptr_t *)c)[i], 0);
  return c;
}

static void cell_free_locked(void *p, int k) {
  OHI_STORE_RELEASE(&((ohi_span_t *)p)->kind, 0u); /* a stale reader now sees no span */
  OHI_STORE_RELAXED(&((meta_free_t *)p)->next, meta_cells[k]);
  meta_cells[k] = p;
}

void *ohi_meta_alloc(size_t size) {
  int k = cell_class(size);
  if (k >= 0) {
    ohi_lock(&meta_lock);
    void *c = cell_alloc_locked(k);
    ohi_unlock(&meta_lock);
    return c;
  }
  unsigned o = meta_order(size);
  if (o >= META_ORDERS) return NULL;
  size_t bytes = ohi_os_page_size() << o;
  void *b = NULL;
  ohi_lock(&meta_lock);
  meta_node_t *n = meta_big[o];
  if (n != NULL) {
    meta_big[o] = n->next;
    b = n->block;
    cell_free_locked(n, 0);
  }
  ohi_unlock(&meta_lock);
  if (b != NULL) {
    /* It was decommitted: it reads as zero where the OS promises that. */
    if (!OHI_OS_DECOMMIT_ZEROES) memset(b, 0, bytes);
    ohi_pages_recommit_account(bytes);
    return b;
  }
  return ohi_pages_map(bytes, ohi_os_page_size());
}

void ohi_meta_free(void *p, size_t size) {
  if (p == NULL) return;
  int k = cell_class(size);
  if (k >= 0) {
    ohi_lock(&meta_lock);
    cell_free_locked(p, k);
    ohi_unlock(&meta_lock);
    return;
  }
  unsigned o = meta_order(size);
  size_t bytes = ohi_os_page_size() << o;
  OHI_STORE_RELEASE(&((ohi_span_t *)p)->kind, 0u); /* a stale reader now sees no span */
  /* Always the eager advice: a reused block must read as zero. */
  if (ohi_os_decommit(p, bytes, 0) != 0) memset(p, 0, bytes);
  ohi_pages_uncommit_account(bytes);
  ohi_lock(&meta_lock);
  meta_node_t *n = cell_alloc_locked(0);
  if (n != NULL) { /* relaxed stores: see ohi_segment_give */
    OHI_STORE_RELAXED(&n->block, p);
    OHI_STORE_RELAXED(&n->next, meta_big[o]);
    meta_big[o] = n;
  }
  /* else: no memory for a node; the block stays mapped (never unmapped) and
   * unused, which costs address space only. */
  ohi_unlock(&meta_lock);
}

void ohi_meta_lock_all(void) { ohi_lock(&meta_lock); }
void ohi_meta_unlock_all(bool child) { ohi_lock_after_fork(&meta_lock, child); }
