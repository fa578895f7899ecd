/* region.c - the region map, page mappings, decommit, metadata memory and the
 * cache of free slab segments.
 *
 * Memory states of a page the library maps:
 *   committed    mapped and possibly resident (touched or about to be)
 *   decommitted  mapped, contents dropped (madvise); reads as zero where
 *                OHI_OS_DECOMMIT_ZEROES, and is committed again by the OS on
 *                first touch
 * ohi_counters.committed is therefore an upper bound on RSS, not a reading.
 *
 * The region map records which 64 KiB granules hold the library's data and
 * which span describes each (internal.h). It answers "is this pointer ours?"
 * without ever touching the pointer, which is what lets every free check a
 * Go-heap, stack or stale pointer safely.
 */
#include "internal.h"

ohi_region_l2_t *ohi_region_l1[(size_t)1 << OHI_L1_BITS];
ohi_counters_t ohi_counters;
static ohi_lock_t region_lock = OHI_LOCK_INIT;

/* ---- fault injection (tests only) ----------------------------------------- */

static uint64_t fail_every, fail_after_bytes, fail_calls, fail_bytes;

void ohi_test_fail_os(uint64_t every, uint64_t after_bytes) {
  OHI_STORE_RELAXED(&fail_calls, 0);
  OHI_STORE_RELAXED(&fail_bytes, 0);
  OHI_STORE_RELAXED(&fail_every, every);
  OHI_STORE_RELAXED(&fail_after_bytes, after_bytes);
}

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

/* ---- page mappings -------------------------------------------------------- */

void *ohi_pages_map(size_t size, size_t align) {
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
  OHI_FETCH_ADD(&ohi_counters.committed, size);
  return p;
}

/* Unmaps committed memory (callers that unmap decommitted memory first call
 * ohi_pages_recommit_account). */
void ohi_pages_unmap(void *addr, size_t size) {
  OHI_ASAN_UNPOISON(addr, size); /* whoever maps this range next must not inherit our poison */
  if (ohi_os_unmap(addr, size) == 0) {
    OHI_FETCH_SUB(&ohi_counters.mapped, size);
    OHI_FETCH_SUB(&ohi_counters.committed, size);
  }
}

size_t ohi_pages_decommit(void *addr, size_t size) {
  if (ohi_os_decommit(addr, size, (int)ohi_opt(OH_OPT_DECOMMIT_ADVICE)) != 0) return 0;
  OHI_FETCH_SUB(&ohi_counters.committed, size);
  OHI_FETCH_ADD(&ohi_counters.decommitted_total, size);
  return size;
}

void ohi_pages_recommit_account(size_t size) { OHI_FETCH_ADD(&ohi_counters.committed, size); }

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

/* ---- metadata memory -----------------------------------------------------
 * Small blocks (spans, slab descriptors of up to 2 KiB, cache nodes) come from
 * cells of 128 B .. 2 KiB carved out of 64 KiB blocks, one free list per cell
 * size. Bigger blocks (descriptors with many state words, thread caches, heap
 * structs) are rounded to a power of two of pages and kept on per-order free
 * lists once freed. Nothing is ever unmapped (a racing lookup of a stale
 * pointer must never fault); freed big blocks are decommitted, and their free
 * list is linked through small side nodes, never through the block itself:
 * a link written into a decommitted page would commit it again. */

#define META_CELL 128 /* the smallest cell; also a span's size class */
#define META_CELL_CLASSES 5 /* 128, 256, 512, 1024, 2048 */
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
    if (size <= (size_t)META_CELL << k) return k;
  return -1;
}

/* A cell of class k, zeroed; meta_lock held. */
static void *cell_alloc_locked(int k) {
  size_t cell = (size_t)META_CELL << k;
  meta_free_t *c = meta_cells[k];
  if (c != NULL) {
    meta_cells[k] = c->next;
  } else {
    if (meta_cell_bump[k] == meta_cell_end[k]) {
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
  OHI_FETCH_SUB(&ohi_counters.committed, bytes);
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

/* ---- the segment cache ---------------------------------------------------- */

#define SEG_SHIFT_MAX 31
/* Decommitted segments cost only address space; past this much it is given back. */
#define SEG_CACHE_MAX_BYTES ((size_t)64 << 30)
typedef struct seg_node_s {
  struct seg_node_s *next;
  void *seg;
} seg_node_t;
static ohi_lock_t seg_lock = OHI_LOCK_INIT;
static seg_node_t *seg_cache[SEG_SHIFT_MAX + 1];
static size_t seg_cache_bytes;

void *ohi_segment_take(unsigned shift) {
  size_t size = (size_t)1 << shift;
  ohi_lock(&seg_lock);
  seg_node_t *n = seg_cache[shift];
  if (n != NULL) {
    seg_cache[shift] = n->next;
    OHI_FETCH_SUB(&seg_cache_bytes, size); /* peeked without the lock */
  }
  ohi_unlock(&seg_lock);
  if (n != NULL) {
    void *seg = n->seg;
    ohi_meta_free(n, sizeof *n);
    ohi_pages_recommit_account(size);
    return seg;
  }
  return ohi_pages_map(size, size);
}

void ohi_segment_give(void *seg, unsigned shift) {
  size_t size = (size_t)1 << shift;
  seg_node_t *n = NULL;
  if (OHI_LOAD_RELAXED(&seg_cache_bytes) + size <= SEG_CACHE_MAX_BYTES) n = ohi_meta_alloc(sizeof *n);
  if (n == NULL) {
    ohi_pages_recommit_account(size);
    ohi_pages_unmap(seg, size);
    return;
  }
  /* Relaxed stores: a cell may still be read by a stale span check (see
   * ohi_span_publish). */
  OHI_STORE_RELAXED(&n->seg, seg);
  ohi_lock(&seg_lock);
  OHI_STORE_RELAXED(&n->next, seg_cache[shift]);
  seg_cache[shift] = n;
  OHI_FETCH_ADD(&seg_cache_bytes, size);
  ohi_unlock(&seg_lock);
}

size_t ohi_segment_cache_count(void) {
  size_t n = 0;
  ohi_lock(&seg_lock);
  for (unsigned i = 0; i <= SEG_SHIFT_MAX; i++)
    for (seg_node_t *s = seg_cache[i]; s != NULL; s = s->next) n++;
  ohi_unlock(&seg_lock);
  return n;
}

/* ---- public: pages and decommit -------------------------------------------- */

size_t oh_page_size(void) { return ohi_os_page_size(); }

/* Largest request oh_map accepts: far beyond any real mapping, small enough
 * that rounding cannot overflow. */
#define MAP_MAX ((size_t)1 << 46)

void *oh_map(size_t n) {
  ohi_options_init();
  if (n == 0 || n > MAP_MAX) return ohi_fail_null(EINVAL, "oh_map: size %zu is out of range (1 .. 2^46)", n);
  size_t size = ohi_round_pages(n);
  ohi_span_t *span = ohi_meta_alloc(sizeof *span);
  if (span == NULL) return ohi_fail_null(ENOMEM, "oh_map: out of memory for metadata");
  void *p = ohi_pages_map(size, OHI_GRANULE);
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
 * not corrupt): the checks and the claim - the span's kind set from
 * OHI_SPAN_MAP to 0, "being torn down" - are one step under map_lock, so
 * exactly one caller wins and tears the mapping down; every other sees kind
 * 0 (or no span) and gets EINVAL. A span of kind OHI_SPAN_MAP is only ever
 * freed by the caller that claimed it, so while map_lock is held a span seen
 * with that kind is not recycled under our feet: the lookup, the checks and
 * the claim all describe the same mapping. The lock covers no system call. */
static ohi_lock_t map_lock = OHI_LOCK_INIT;

int oh_unmap(void *p, size_t n) {
  if (p == NULL) return ohi_fail(EINVAL, "oh_unmap: NULL pointer");
  ohi_lock(&map_lock);
  ohi_span_t *span = ohi_region_lookup(p);
  uint32_t kind = span ? OHI_LOAD_ACQUIRE(&span->kind) : 0;
  uintptr_t base = span ? OHI_LOAD_RELAXED(&span->base) : 0;
  size_t size = span ? OHI_LOAD_RELAXED(&span->size) : 0;
  int err = 0;
  if (span == NULL || kind == 0 || (uintptr_t)p < base || (uintptr_t)p - base >= size)
    err = EINVAL;
  else if (kind != OHI_SPAN_MAP)
    err = EXDEV;
  else if ((uintptr_t)p != base)
    err = EFAULT;
  else if (n == 0 || ohi_round_pages(n) != size)
    err = ERANGE;
  else
    OHI_STORE_RELEASE(&span->kind, 0u); /* claimed: a racing oh_unmap now fails */
  ohi_unlock(&map_lock);
  switch (err) {
  case 0:
    break;
  case EINVAL:
    return ohi_fail(EINVAL, "oh_unmap: %p was not mapped by oh_map (or is already unmapped, or being unmapped by another thread)", p);
  case EXDEV:
    return ohi_fail(EINVAL,
                    "oh_unmap: %p belongs to an allocator (oh_alloc, a slab, pool or arena), not to a mapping of oh_map; "
                    "release it there",
                    p);
  case EFAULT:
    return ohi_fail(EFAULT, "oh_unmap: %p is inside the mapping at %p, not its start", p, (void *)base);
  default:
    return ohi_fail(EINVAL, "oh_unmap: size %zu does not match the mapping of %zu bytes at %p", n, size, p);
  }
  ohi_region_set(base, size, NULL);
  ohi_pages_unmap(p, size);
  ohi_meta_free(span, sizeof *span);
  return 0;
}

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
