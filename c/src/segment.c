/* segment.c - the cache of free slab segments, shared by every heap and class.
 *
 * A slab that is released (its last chunk freed and the purge delay passed)
 * gives its segment here, decommitted: a segment costs only address space
 * then, and any class of any heap with the same slab size takes it before
 * mapping new memory. The cache is bounded by OH_OPT_SEGMENT_CACHE_BYTES
 * (beyond it segments are unmapped at once), and oh_purge empties it, so a
 * program under `ulimit -v` gets its address space back.
 *
 * Segments come from ohi_pages_reserve: reserved (never touched) or
 * decommitted pages alike count as not committed; the slab that takes one
 * accounts its pages as it hands chunks out (central.c).
 *
 * A dry cache reserves SEG_BATCH segments in one mapping where the OS can
 * unmap part of a mapping (OHI_OS_PARTIAL_UNMAP): the one asked for is
 * returned, the others wait here, costing address space only. A heap that
 * grows then pays one mmap per SEG_BATCH slabs instead of an over-sized mmap
 * and two trimming munmaps per slab (each munmap of a threaded process is a
 * TLB shootdown): a phase that makes a new 1 MiB slab every 21 allocations
 * of 48 KiB had those system calls at its p99. Batches stop at
 * SEG_BATCH_BYTES of address space, within the cache's bound, and when the
 * batch cannot be had (address space limits) a single segment is reserved.
 */
#include "internal.h"

#define SEG_SHIFT_MAX 31
typedef struct seg_node_s {
  struct seg_node_s *next;
  void *seg;
} seg_node_t;
static ohi_lock_t seg_lock = OHI_LOCK_INIT;
static seg_node_t *seg_cache[SEG_SHIFT_MAX + 1];
static size_t seg_cache_bytes; /* peeked without the lock */

#define SEG_BATCH 16
#define SEG_BATCH_BYTES ((size_t)64 << 20)

/* A new segment of 2^shift bytes, aligned to its size: with the rest of a
 * batch given to the cache (see the top of this file). */
static void *reserve(unsigned shift) {
  size_t size = (size_t)1 << shift;
  size_t n = OHI_OS_PARTIAL_UNMAP ? SEG_BATCH : 1;
  while (n > 1 && (n * size > SEG_BATCH_BYTES ||
                   OHI_LOAD_RELAXED(&seg_cache_bytes) + (n - 1) * size > (size_t)ohi_opt(OH_OPT_SEGMENT_CACHE_BYTES)))
    n /= 2;
  char *blk = n > 1 ? ohi_pages_reserve(n * size, size) : NULL;
  if (blk == NULL) return ohi_pages_reserve(size, size);
  for (size_t i = 1; i < n; i++) ohi_segment_give(blk + i * size, shift);
  return blk;
}

/* The address after the segment this thread took last, per size: its next
 * slab goes there, or just below that one, when the cache holds it (see
 * ohi_segment_take). */
static __thread uintptr_t seg_next[SEG_SHIFT_MAX + 1];
#define SEG_LOOK 256 /* cached segments a take looks through for that one */

/* The cached segment a take of 2^shift bytes hands out (seg_lock held): the
 * one right after (or before) the calling thread's last segment, when it is
 * among the first SEG_LOOK, else the newest. Each thread's slabs then lie
 * side by side even when threads grow at once: a batch (reserve) went out
 * one segment to each in turn, and two threads whose slabs alternate run
 * batches of 256 KiB runs 20-30 % slower than with slabs of their own
 * (bench/RESULTS.md, session 14). Returns the link to it. */
static seg_node_t **seg_pick(unsigned shift) {
  seg_node_t **link = &seg_cache[shift];
  uintptr_t after = seg_next[shift], size = (uintptr_t)1 << shift;
  if (after == 0) return link;
  int looked = 0;
  for (seg_node_t **l = &seg_cache[shift]; *l != NULL && looked < SEG_LOOK; l = &(*l)->next, looked++) {
    uintptr_t b = (uintptr_t)OHI_LOAD_RELAXED(&(*l)->seg);
    if (b == after) return l;
    if (b + 2 * size == after) link = l; /* just below the last one: if none is right after */
  }
  return link;
}

void *ohi_segment_take(unsigned shift) {
  size_t size = (size_t)1 << shift;
  /* A new slab: its pages are committed as its chunks go out, so the whole
   * segment is what the memory limit admits (memlimit.c); the reservation
   * is given back at once, the slab's first pages being counted already by
   * the time another grower checks again. */
  size_t held;
  if (!ohi_memlimit_grow(size, &held)) return NULL; /* the caller reports, with the limit noted */
  ohi_memlimit_settle(held);
  ohi_lock(&seg_lock);
  seg_node_t **link = seg_pick(shift), *n = *link;
  if (n != NULL) {
    *link = n->next;
    OHI_FETCH_SUB(&seg_cache_bytes, size);
  }
  ohi_unlock(&seg_lock);
  void *seg;
  if (n != NULL) {
    seg = n->seg;
    ohi_meta_free(n, sizeof *n);
  } else {
    ohi_purge_pressure(); /* growing: what sits free elsewhere should make room */
    seg = reserve(shift);
  }
  if (seg != NULL) seg_next[shift] = (uintptr_t)seg + size;
  return seg;
}

void ohi_segment_give(void *seg, unsigned shift) {
  size_t size = (size_t)1 << shift;
  seg_node_t *n = NULL;
  if (OHI_LOAD_RELAXED(&seg_cache_bytes) + size <= (size_t)ohi_opt(OH_OPT_SEGMENT_CACHE_BYTES))
    n = ohi_meta_alloc(sizeof *n);
  if (n == NULL) {
    ohi_pages_unmap_accounted(seg, size, 0);
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

size_t ohi_segment_cache_trim(size_t keep) {
  size_t unmapped = 0;
  for (;;) {
    seg_node_t *victim = NULL;
    unsigned shift = 0;
    ohi_lock(&seg_lock);
    if (seg_cache_bytes > keep) {
      for (unsigned i = 0; i <= SEG_SHIFT_MAX && victim == NULL; i++) {
        if (seg_cache[i] != NULL) {
          victim = seg_cache[i];
          seg_cache[i] = victim->next;
          shift = i;
          OHI_FETCH_SUB(&seg_cache_bytes, (size_t)1 << i);
        }
      }
    }
    ohi_unlock(&seg_lock);
    if (victim == NULL) return unmapped;
    ohi_pages_unmap_accounted(victim->seg, (size_t)1 << shift, 0);
    unmapped += (size_t)1 << shift;
    ohi_meta_free(victim, sizeof *victim);
  }
}

size_t ohi_segment_cache_count(void) {
  size_t n = 0;
  ohi_lock(&seg_lock);
  for (unsigned i = 0; i <= SEG_SHIFT_MAX; i++)
    for (seg_node_t *s = seg_cache[i]; s != NULL; s = s->next) n++;
  ohi_unlock(&seg_lock);
  return n;
}

void ohi_segment_lock_all(void) { ohi_lock(&seg_lock); }
void ohi_segment_unlock_all(bool child) { ohi_lock_after_fork(&seg_lock, child); }
