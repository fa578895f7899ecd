/* large.c - allocations bigger than a slab. See heap.c for the overview.
 *
 * Each is its own mapping of whole pages with one reference-count word, on its
 * heap's live list. A freed span is kept mapped for reuse until the purge delay
 * passes (a map + unmap pair costs ~9 us against ~10 ns for a reuse), a
 * bounded number of them, then unmapped by the purger (ohi_large_purge).
 */
#include "internal.h"

#define LARGE_MAX ((size_t)1 << 46)
/* Freed large spans kept mapped for reuse (until the purge delay passes):
 * a map + unmap pair costs ~9 us against ~10 ns for a reuse. Bounded so a
 * burst of huge frees cannot pin much memory past the delay. */
#define LARGE_CACHE_COUNT 16
#define LARGE_CACHE_BYTES ((uint64_t)256 << 20)

/* Heads are peeked without the lock (large_alloc, large_purge): relaxed stores. */
static void large_list_unlink(ohi_large_t **head, ohi_large_t *l) {
  if (l->prev) l->prev->next = l->next;
  else OHI_STORE_RELAXED(head, l->next);
  if (l->next) l->next->prev = l->prev;
  l->next = l->prev = NULL;
}

static void large_list_push(ohi_large_t **head, ohi_large_t *l) {
  l->prev = NULL;
  l->next = *head;
  if (*head) (*head)->prev = l;
  OHI_STORE_RELAXED(head, l);
}

/* Unmaps a large span that is on no list. */
void ohi_large_unmap(ohi_large_t *l) {
  ohi_region_set(l->span.base, l->span.size, NULL);
  ohi_pages_unmap((void *)l->span.base, l->span.size);
  ohi_meta_free(l, sizeof *l);
}

OHI_NOINLINE void *ohi_large_alloc(oh_slab_t *h, size_t n, bool zero, const char *fn) {
  if (n > LARGE_MAX) return ohi_fail_null(EINVAL, "%s: size %zu is larger than the maximum (2^46)", fn, n);
  size_t size = ohi_round_pages(n);
  ohi_large_t *l = NULL;
  if (OHI_LOAD_RELAXED(&h->large_free) != NULL) {
    ohi_lock(&h->large_lock);
    for (ohi_large_t *c = h->large_free; c != NULL; c = c->next) {
      if (c->span.size >= size && c->span.size - size <= size / 4) { /* at most 25% waste */
        l = c;
        large_list_unlink(&h->large_free, l);
        h->large_free_count--;
        h->large_free_bytes -= l->span.size;
        break;
      }
    }
    ohi_unlock(&h->large_lock);
    if (l != NULL) OHI_ASAN_UNPOISON((void *)l->span.base, l->span.size);
    if (l != NULL && l->guarded) {
      ohi_os_protect((void *)l->span.base, l->span.size, 1);
      l->guarded = 0;
    }
    if (l != NULL && zero) memset((void *)l->span.base, 0, n);
  }
  if (l == NULL) {
    size_t held;
    if (!ohi_memlimit_grow(size, &held)) return ohi_fail_null(ENOMEM, "%s: no memory for %zu bytes", fn, size);
    l = ohi_meta_alloc(sizeof *l);
    if (l == NULL) {
      ohi_memlimit_settle(held);
      return ohi_fail_null(ENOMEM, "%s: out of memory for metadata (size %zu)", fn, n);
    }
    void *p = ohi_pages_map(size, OHI_GRANULE);
    ohi_memlimit_settle(held); /* counted as committed now, or failed */
    if (p == NULL) {
      ohi_meta_free(l, sizeof *l);
      return ohi_fail_null(ENOMEM, "%s: the OS refused %zu bytes", fn, size);
    }
    ohi_span_publish(&l->span, (uintptr_t)p, size, OHI_SPAN_LARGE, h);
    if (ohi_region_set(l->span.base, size, &l->span) != 0) {
      ohi_pages_unmap(p, size);
      ohi_meta_free(l, sizeof *l);
      return ohi_fail_null(ENOMEM, "%s: out of memory for the region map", fn);
    }
  }
  OHI_STORE_RELEASE(&l->refcount, 1u);
  ohi_lock(&h->large_lock);
  large_list_push(&h->large, l);
  h->large_count++;
  h->large_bytes += l->span.size;
  h->large_allocs++;
  ohi_unlock(&h->large_lock);
  return (void *)l->span.base;
}

/* A large span whose count just reached zero (state CACHED): keep it for
 * reuse under the purge policy, or unmap it. */
void ohi_large_free(oh_slab_t *h, ohi_large_t *l) {
  long long delay = ohi_opt(OH_OPT_PURGE_DELAY_MS);
  ohi_large_t *evict = NULL;
  ohi_lock(&h->large_lock);
  large_list_unlink(&h->large, l);
  h->large_count--;
  h->large_bytes -= l->span.size;
  h->large_frees++;
  bool keep = (delay != 0 || ohi_opt(OH_OPT_DEBUG) >= 1) && l->span.size <= LARGE_CACHE_BYTES / 4;
  if (keep) {
    while (h->large_free != NULL &&
           (h->large_free_count >= LARGE_CACHE_COUNT || h->large_free_bytes + l->span.size > LARGE_CACHE_BYTES)) {
      ohi_large_t *old = h->large_free;
      while (old->next != NULL) old = old->next; /* the oldest */
      large_list_unlink(&h->large_free, old);
      h->large_free_count--;
      h->large_free_bytes -= old->span.size;
      old->next = evict;
      evict = old;
    }
    OHI_STORE_RELEASE(&l->refcount, 0u); /* free: a second free says so */
    OHI_ASAN_POISON((void *)l->span.base, l->span.size);
    l->freed_ms = ohi_os_now_ms();
    if (OHI_UNLIKELY(ohi_opt(OH_OPT_DEBUG) >= 1)) /* a use after free faults at the guilty access */
      l->guarded = ohi_os_protect((void *)l->span.base, l->span.size, 0) == 0;
    large_list_push(&h->large_free, l);
    h->large_free_count++;
    h->large_free_bytes += l->span.size;
  }
  ohi_unlock(&h->large_lock);
  while (evict != NULL) {
    ohi_large_t *next = evict->next;
    ohi_large_unmap(evict);
    evict = next;
  }
  if (keep) ohi_purge_notify();
  else ohi_large_unmap(l);
}

/* Unmaps cached free large spans older than the delay (all when force). */
size_t ohi_large_purge(oh_slab_t *h, uint64_t now, long long delay, bool force, uint64_t *next_deadline) {
  if (OHI_LOAD_RELAXED(&h->large_free) == NULL) return 0;
  ohi_large_t *victims = NULL;
  size_t bytes = 0;
  ohi_lock(&h->large_lock);
  for (ohi_large_t *l = h->large_free, *next; l != NULL; l = next) {
    next = l->next;
    if (force || now >= l->freed_ms + (uint64_t)delay) {
      large_list_unlink(&h->large_free, l);
      h->large_free_count--;
      h->large_free_bytes -= l->span.size;
      l->next = victims;
      victims = l;
    } else if (next_deadline) {
      uint64_t due = l->freed_ms + (uint64_t)delay;
      if (*next_deadline == 0 || due < *next_deadline) *next_deadline = due;
    }
  }
  ohi_unlock(&h->large_lock);
  while (victims != NULL) {
    ohi_large_t *next = victims->next;
    bytes += victims->span.size;
    OHI_FETCH_ADD(&ohi_counters.decommitted_total, victims->span.size);
    OHI_FETCH_ADD(&ohi_counters.purges, 1);
    OHI_FETCH_ADD(&h->purge_count, 1);
    OHI_FETCH_ADD(&h->purged_bytes, victims->span.size);
    ohi_large_unmap(victims);
    victims = next;
  }
  return bytes;
}

