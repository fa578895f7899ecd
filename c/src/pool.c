/* pool.c - fixed-size pools: a heap with a single size class.
 *
 * A pool is not a second allocator: it is a slab heap whose only class has
 * exactly the pool's object size (rounded up to 16), so it inherits the
 * ownership checks, the reference-count words, the thread caches and the
 * purge policy. It grows by one slab (a "block") at a time on demand.
 */
#include "internal.h"

struct oh_pool_s {
  oh_slab_t *heap;
  size_t object_size;
  uint64_t pad_;  /* offset 16: a freed metadata cell's kind word (region.c) */
  uint64_t live;  /* POOL_LIVE(p) while usable; claimed (set to 0) by destroy */
};

/* Destroy claims the pool atomically: a CAS of its live word from
 * POOL_LIVE(p) to 0, so of two racing (or repeated) oh_pool_destroy calls
 * exactly one tears the pool down and the other fails with EINVAL. The word
 * mixes in the address, so a metadata cell reused by anything but a new pool
 * never reads as live: a pool handle used after destroy is reported, not
 * followed (unless a new pool has taken the very same cell, which is
 * indistinguishable from its owner's use). The struct is a metadata cell:
 * never unmapped, so reading a destroyed handle's word is safe. */
#define POOL_LIVE(p) ((uint64_t)(uintptr_t)(p) ^ 0x6f68706f6f6c4c56ull)

static bool pool_live(oh_pool_t *p) { return OHI_LOAD_ACQUIRE(&p->live) == POOL_LIVE(p); }

/* Largest pool object: a block must hold at least one, and blocks are at
 * most 1 GiB. */
#define POOL_OBJECT_MAX ((size_t)1 << 30)

oh_pool_t *oh_pool_new(size_t object_size, const oh_pool_config_t *cfg) {
  if (object_size == 0 || object_size > POOL_OBJECT_MAX)
    return ohi_fail_null(EINVAL, "oh_pool_new: object size %zu is out of range (1 .. 1 GiB)", object_size);
  size_t chunk = (object_size + 15) & ~(size_t)15;
  size_t per_block = cfg && cfg->block_objects ? cfg->block_objects : 0;
  if (per_block == 0) per_block = chunk >= (64u << 10) / 8 ? 8 : (64u << 10) / chunk;
  size_t block = (size_t)1 << 16;
  while (block < POOL_OBJECT_MAX && block / chunk < per_block) block <<= 1;
  if (block / chunk < per_block && cfg && cfg->block_objects)
    return ohi_fail_null(EINVAL, "oh_pool_new: %zu objects of %zu bytes do not fit a block of at most 1 GiB",
                         cfg->block_objects, object_size);
  oh_pool_t *p = ohi_meta_alloc(sizeof *p);
  if (p == NULL) return ohi_fail_null(ENOMEM, "oh_pool_new: out of memory for metadata");
  p->heap = ohi_heap_new_single(object_size, block, cfg ? cfg->max_objects : 0);
  if (p->heap == NULL) {
    ohi_meta_free(p, sizeof *p);
    return ohi_fail_null(ENOMEM, "oh_pool_new: out of memory for metadata");
  }
  p->object_size = object_size;
  OHI_STORE_RELEASE(&p->live, POOL_LIVE(p));
  return p;
}

void *oh_pool_get(oh_pool_t *p) {
  if (p == NULL) return ohi_fail_null(EINVAL, "oh_pool_get: NULL pool");
  if (OHI_UNLIKELY(!pool_live(p)))
    return ohi_fail_null(EINVAL, "oh_pool_get: pool %p is destroyed (or not a pool)", (void *)p);
  return ohi_heap_alloc(p->heap, p->object_size, "oh_pool_get");
}

int oh_pool_put(oh_pool_t *p, void *obj) {
  if (p == NULL) return ohi_fail(EINVAL, "oh_pool_put: NULL pool");
  if (OHI_UNLIKELY(!pool_live(p))) return ohi_fail(EINVAL, "oh_pool_put: pool %p is destroyed (or not a pool)", (void *)p);
  return ohi_heap_release(p->heap, obj, 0 /* RELEASE_FREE */, "oh_pool_put") < 0 ? -1 : 0;
}

size_t oh_pool_object_size(oh_pool_t *p) {
  if (p == NULL || !pool_live(p)) {
    ohi_fail(EINVAL, "oh_pool_object_size: pool %p is NULL or destroyed", (void *)p);
    return 0;
  }
  return p->object_size;
}

int oh_pool_stats(oh_pool_t *p, oh_stats_t *out) {
  if (p == NULL || !pool_live(p)) return ohi_fail(EINVAL, "oh_pool_stats: pool %p is NULL or destroyed", (void *)p);
  return oh_slab_stats(p->heap, out);
}

size_t oh_pool_leaks(oh_pool_t *p, oh_leak_fn fn, void *arg) {
  if (p == NULL || !pool_live(p)) {
    ohi_fail(EINVAL, "oh_pool_leaks: pool %p is NULL or destroyed", (void *)p);
    return 0;
  }
  return oh_slab_leaks(p->heap, fn, arg);
}

int oh_pool_destroy(oh_pool_t *p) {
  if (p == NULL) return ohi_fail(EINVAL, "oh_pool_destroy: NULL pool");
  uint64_t want = POOL_LIVE(p);
  if (!OHI_CAS(&p->live, &want, 0))
    return ohi_fail(EINVAL, "oh_pool_destroy: pool %p is already destroyed (or not a pool)", (void *)p);
  int r = ohi_heap_destroy(p->heap, "oh_pool_destroy");
  ohi_meta_free(p, sizeof *p);
  return r;
}
