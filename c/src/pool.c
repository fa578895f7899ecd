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
};

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
  return p;
}

void *oh_pool_get(oh_pool_t *p) {
  if (p == NULL) return ohi_fail_null(EINVAL, "oh_pool_get: NULL pool");
  return ohi_heap_alloc(p->heap, p->object_size, "oh_pool_get");
}

int oh_pool_put(oh_pool_t *p, void *obj) {
  if (p == NULL) return ohi_fail(EINVAL, "oh_pool_put: NULL pool");
  return ohi_heap_release(p->heap, obj, 0 /* RELEASE_FREE */, "oh_pool_put") < 0 ? -1 : 0;
}

size_t oh_pool_object_size(oh_pool_t *p) {
  if (p == NULL) {
    ohi_fail(EINVAL, "oh_pool_object_size: NULL pool");
    return 0;
  }
  return p->object_size;
}

int oh_pool_stats(oh_pool_t *p, oh_stats_t *out) {
  if (p == NULL) return ohi_fail(EINVAL, "oh_pool_stats: NULL pool");
  return oh_slab_stats(p->heap, out);
}

size_t oh_pool_leaks(oh_pool_t *p, oh_leak_fn fn, void *arg) {
  if (p == NULL) {
    ohi_fail(EINVAL, "oh_pool_leaks: NULL pool");
    return 0;
  }
  return oh_slab_leaks(p->heap, fn, arg);
}

int oh_pool_destroy(oh_pool_t *p) {
  if (p == NULL) return ohi_fail(EINVAL, "oh_pool_destroy: NULL pool");
  int r = ohi_heap_destroy(p->heap, "oh_pool_destroy");
  ohi_meta_free(p, sizeof *p);
  return r;
}
