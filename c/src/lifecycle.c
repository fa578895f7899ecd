/* lifecycle.c - the birth and death of heaps as the whole library sees them:
 * the first heap's start-up (the thread-exit destructor, the purge policy's
 * hooks, the fork handlers), a heap's destroy, and fork. Each of them calls
 * every tier - thread caches, central lists, large spans, the purge policy,
 * statistics, the layers below - so this file sits at the bottom of the
 * layers (internal.h), and the registry every tier reads (heap.c) calls it
 * only to start it (ohi_lifecycle_init, the one call up the list heap.c
 * makes).
 */
#include "internal.h"

#include <sched.h>

static pthread_once_t fork_once = PTHREAD_ONCE_INIT;
static void fork_init(void);

void ohi_lifecycle_init(void) {
  ohi_tls_register();
  ohi_purge_init();
  pthread_once(&fork_once, fork_init);
}

/* ---- destroy --------------------------------------------------------------------- */

static void unmap_slab(oh_slab_t *h, ohi_slab_t *s) {
  size_t ps = ohi_os_page_size(), committed = 0;
  for (size_t pg = 0; pg < s->touched / ps; pg++)
    if (!ohi_slab_page_decommitted(s, pg)) committed += ps;
  ohi_region_set(s->span.base, h->slab_size, NULL);
  ohi_pages_unmap_accounted((void *)s->span.base, h->slab_size, committed);
  ohi_meta_free(s, s->meta_size);
}

static void unmap_slab_list(oh_slab_t *h, ohi_slab_t *s) {
  while (s != NULL) {
    ohi_slab_t *next = s->next;
    unmap_slab(h, s);
    s = next;
  }
}

int ohi_heap_destroy(oh_slab_t *h, const char *fn) {
  if (h == NULL) return ohi_fail(EINVAL, "%s: NULL instance", fn);
  if (h == __atomic_load_n(&ohi_default_heap, __ATOMIC_ACQUIRE))
    return ohi_fail(EINVAL, "%s: the process-wide instance cannot be destroyed", fn);
  ohi_lock(&ohi_registry_lock);
  oh_slab_t *r = ohi_heaps;
  while (r != NULL && r != h) r = r->next;
  /* Claimed under the registry lock: of two racing destroys, one wins. */
  if (r == NULL || OHI_LOAD_RELAXED(&h->magic) != OHI_HEAP_LIVE) {
    ohi_unlock(&ohi_registry_lock);
    return ohi_fail(EINVAL, "%s: %p is not a live instance (destroyed twice?)", fn, (void *)h);
  }
  OHI_STORE_RELEASE(&h->magic, 0u);
  {
    oh_stats_t last;
    memset(&last, 0, sizeof last);
    ohi_heap_stats_locked(h, &last, false);
    ohi_retired_allocs += last.allocs;
    ohi_retired_frees += last.frees;
  }
  if (h->prev) h->prev->next = h->next;
  else ohi_heaps = h->next;
  if (h->next) h->next->prev = h->prev;
  if (h->slot != OHI_NO_SLOT) ohi_slots[h->slot] = NULL;
  /* Threads' caches: their slabs go with the heap; the caches themselves are
   * orphaned (heap_id 0) and freed by their owners on next use or exit (owner
   * handles by ohi_owner_delete). */
  for (ohi_tcache_t *tc = h->tcaches; tc != NULL; tc = tc->next) {
    bool stolen = ohi_tcache_steal(tc);
    for (unsigned i = 0; i < h->nclasses; i++) {
      unmap_slab_list(h, tc->bins[i].owned);
      tc->bins[i].owned = tc->bins[i].cur = tc->bins[i].owned_tail = NULL;
    }
    /* its free large spans are on the heap's list of mapped spans: unmapped below */
    OHI_STORE_RELAXED(&tc->lfree, (ohi_large_t *)NULL);
    OHI_STORE_RELAXED(&tc->lfree_count, 0);
    OHI_STORE_RELAXED(&tc->lfree_bytes, 0);
    if (tc->rc != NULL) { /* its kept runs and run slabs were unmapped above */
      memset(tc->rc->runc_n, 0, sizeof tc->rc->runc_n);
      OHI_STORE_RELAXED(&tc->rc->runc_bytes, 0);
      memset(&tc->rc->rb, 0, sizeof tc->rc->rb);
      tc->rc->quick_pages = 0;
    }
    OHI_STORE_RELAXED(&tc->heap_id, 0);
    if (stolen) ohi_tcache_unsteal(tc);
  }
  h->tcaches = NULL;
  ohi_unlock(&ohi_registry_lock);
  if (ohi_tls_caches[h->slot] != NULL && ohi_tls_caches[h->slot]->heap == h) {
    ohi_meta_free(ohi_tls_caches[h->slot], ohi_tls_caches[h->slot]->meta_size);
    ohi_tls_caches[h->slot] = NULL;
  }
  for (unsigned i = 0; i < h->nclasses; i++) {
    ohi_class_t *c = &h->classes[i];
    ohi_lock(&c->lock);
    unmap_slab_list(h, c->partial);
    unmap_slab_list(h, c->full);
    unmap_slab_list(h, c->empty);
    ohi_unlock(&c->lock);
    ohi_lock_destroy(&c->lock);
  }
  OHI_STORE_RELAXED(&h->empty_bytes, 0);
  /* Every mapped large span, live or in a cache (the threads' caches were
   * emptied above): nobody else reaches the list now. */
  for (ohi_large_t *l = h->large, *next; l != NULL; l = next) {
    next = l->next;
    ohi_region_set(l->span.base, l->span.size, NULL);
    ohi_pages_unmap((void *)l->span.base, l->span.size);
    ohi_meta_free(l, sizeof *l);
  }
  OHI_STORE_RELAXED(&h->large, NULL);
  OHI_STORE_RELAXED(&h->large_free, NULL);
  ohi_lock_destroy(&h->large_lock);
  ohi_meta_free(h, h->meta_size);
  return 0;
}

int oh_slab_destroy(oh_slab_t *s) { return ohi_heap_destroy(s, "oh_slab_destroy"); }

/* ---- fork --------------------------------------------------------------------------
 * Like jemalloc: before fork every lock is taken in one fixed order (default,
 * registry, each heap's class and large locks, segments, metadata, region
 * map, purger), after it the parent releases them and the child makes them
 * anew. Every thread cache is stolen first (its owner out of any cache
 * operation, and kept out), so in the child the caches of threads that do not
 * exist there are quiescent: their slabs go back to the central lists. The
 * child's purger is started again on first need. */

#if !defined(_WIN32)
static void for_each_heap_lock(bool lock, bool child) {
  for (oh_slab_t *h = ohi_heaps; h != NULL; h = h->next) {
    for (unsigned i = 0; i < h->nclasses; i++) {
      if (lock) ohi_lock(&h->classes[i].lock);
      else ohi_lock_after_fork(&h->classes[i].lock, child);
    }
    if (lock) ohi_lock(&h->large_lock);
    else ohi_lock_after_fork(&h->large_lock, child);
  }
}

static void fork_prepare(void) {
  ohi_lock(&ohi_default_lock);
  ohi_lock(&ohi_registry_lock);
  for (oh_slab_t *h = ohi_heaps; h != NULL; h = h->next)
    for (ohi_tcache_t *tc = h->tcaches; tc != NULL; tc = tc->next) {
      /* The owner's side of the handshake has no fence; the process barrier
       * stands in for it (struct ohi_tcache_s). Without one (ENOSYS) the
       * owner's next operation sees steal at the latest when it enters. */
      __atomic_store_n(&tc->steal, 1u, __ATOMIC_SEQ_CST);
      (void)ohi_os_process_barrier();
      while (__atomic_load_n(&tc->in_op, __ATOMIC_SEQ_CST) != 0) sched_yield();
    }
  for_each_heap_lock(true, false);
  ohi_segment_lock_all();
  ohi_meta_lock_all();
  ohi_region_lock_all();
  ohi_wake_lock_all();
  ohi_memlimit_lock_all();
}

static void fork_release(bool child) {
  ohi_memlimit_unlock_all(child);
  ohi_wake_unlock_all(child);
  ohi_region_unlock_all(child);
  ohi_meta_unlock_all(child);
  ohi_segment_unlock_all(child);
  for_each_heap_lock(false, child);
  for (oh_slab_t *h = ohi_heaps; h != NULL; h = h->next) {
    for (ohi_tcache_t *tc = h->tcaches, *next; tc != NULL; tc = next) {
      next = tc->next;
      /* Owner handles (owner.c) belong to no thread: the child keeps them. */
      if (child && !tc->explicit_owner && ohi_tls_caches[h->slot] != tc) { /* its thread is not in the child */
        OHI_STORE_RELAXED(&tc->in_op, 0u);
        ohi_tcache_abandon_all(h, tc); /* empty slabs wait for the child's purger */
        ohi_tcache_retire(h, tc);
        ohi_tcache_unlink(h, tc);
        OHI_STORE_RELAXED(&tc->heap_id, 0);
        ohi_meta_free(tc, tc->meta_size);
        continue;
      }
      ohi_tcache_unsteal(tc);
    }
  }
  ohi_lock_after_fork(&ohi_registry_lock, child);
  ohi_lock_after_fork(&ohi_default_lock, child);
}

static void fork_parent(void) { fork_release(false); }
static void fork_child(void) { fork_release(true); }
static void fork_init(void) { pthread_atfork(fork_prepare, fork_parent, fork_child); }
#else
static void fork_init(void) {}
#endif
