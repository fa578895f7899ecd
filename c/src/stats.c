/* stats.c - statistics and the leak report. See heap.c for the overview.
 *
 * Operation counts live where they are made without sharing a cache line:
 * each thread cache counts its own (owner-written), the locked path and
 * retired caches count in the class, and a binding's cache reports its own in
 * batches (cached_out: chunks it holds). Chunks in use per class are then
 *   allocs - frees + cached_out
 * summed over the class and its caches; no counter is shared on a fast path.
 */
#include "internal.h"

uint64_t ohi_retired_allocs, ohi_retired_frees;

/* Adds heap h's figures to out; per-class rows when classes is true. Called
 * with the registry lock held (so its thread caches cannot go away). */
void ohi_heap_stats_locked(oh_slab_t *h, oh_stats_t *out, bool classes) {
  for (unsigned i = 0; i < h->nclasses; i++) {
    ohi_class_t *c = &h->classes[i];
    uint64_t allocs = 0, frees = 0, empties = 0, cached = 0;
    int64_t owners_cached = 0;
    for (ohi_tcache_t *tc = h->tcaches; tc != NULL; tc = tc->next) {
      int64_t nfree = ohi_bin_nfree(&tc->bins[i]);
      cached += nfree > 0 ? (uint64_t)nfree : 0; /* a racing read of a busy owner's counters */
      allocs += OHI_LOAD_RELAXED(&tc->bins[i].allocs);
      frees += OHI_LOAD_RELAXED(&tc->bins[i].frees);
      owners_cached += OHI_LOAD_RELAXED(&tc->cached[i]);
      empties += OHI_LOAD_RELAXED(&tc->bins[i].nempty);
    }
    ohi_lock(&c->lock);
    allocs += OHI_LOAD_RELAXED(&c->allocs);
    frees += OHI_LOAD_RELAXED(&c->frees);
    int64_t cached_out = OHI_LOAD_RELAXED(&c->cached_out) + owners_cached;
    empties += c->empty_count;
    uint64_t slabs = OHI_LOAD_RELAXED(&c->slabs);
    ohi_unlock(&c->lock);
    int64_t in_use = (int64_t)(allocs - frees) + cached_out;
    if (in_use < 0) in_use = 0; /* counters read one after another */
    out->mapped_bytes += classes ? slabs * h->slab_size : 0; /* instance figures only */
    out->in_use_bytes += (uint64_t)in_use * c->chunk_size;
    out->slabs_empty += empties;
    if (i == h->run_class) continue; /* pages, not a class a user sees: its operations come below */
    out->allocs += allocs;
    out->frees += frees;
    if (classes) {
      oh_class_stats_t *cs = &out->classes[i];
      cs->chunk_size = c->chunk_size;
      cs->slabs = slabs;
      cs->chunks_in_use = (uint64_t)in_use;
      cs->chunks_cached = cached; /* free, but only their owning thread allocates them */
      cs->allocs = allocs;
      cs->frees = frees;
    }
  }
  if (classes) out->class_count = ohi_public_classes(h);
  /* Large spans, and the run tier's operations (its class counts pages):
   * counted like the classes, per thread cache and in the heap. */
  uint64_t la = OHI_LOAD_RELAXED(&h->large_allocs), lf = OHI_LOAD_RELAXED(&h->large_frees);
  uint64_t lab = OHI_LOAD_RELAXED(&h->large_alloc_bytes), lfb = OHI_LOAD_RELAXED(&h->large_free_bytes_total);
  uint64_t ra = OHI_LOAD_RELAXED(&h->run_allocs), rf = OHI_LOAD_RELAXED(&h->run_frees);
  for (ohi_tcache_t *tc = h->tcaches; tc != NULL; tc = tc->next) {
    ra += OHI_LOAD_RELAXED(&tc->rallocs);
    rf += OHI_LOAD_RELAXED(&tc->rfrees);
    la += OHI_LOAD_RELAXED(&tc->lallocs);
    lf += OHI_LOAD_RELAXED(&tc->lfrees);
    lab += OHI_LOAD_RELAXED(&tc->lalloc_bytes);
    lfb += OHI_LOAD_RELAXED(&tc->lfree_bytes_total);
  }
  if (classes) out->mapped_bytes += OHI_LOAD_RELAXED(&h->large_mapped);
  out->in_use_bytes += lab > lfb ? lab - lfb : 0; /* counters read one after another */
  out->large_in_use += la > lf ? la - lf : 0;
  out->allocs += la + ra;
  out->frees += lf + rf;
}

static void stats_header(oh_stats_t *out) {
  memset(out, 0, sizeof *out);
  out->version = OH_STATS_VERSION;
  out->mapped_bytes = OHI_LOAD_RELAXED(&ohi_counters.mapped);
  out->committed_bytes = OHI_LOAD_RELAXED(&ohi_counters.committed);
  out->decommitted_bytes = OHI_LOAD_RELAXED(&ohi_counters.decommitted_total);
  out->purges = OHI_LOAD_RELAXED(&ohi_counters.purges);
}

int oh_stats(oh_stats_t *out) {
  if (out == NULL) return ohi_fail(EINVAL, "oh_stats: NULL output");
  stats_header(out);
  ohi_lock(&ohi_registry_lock);
  for (oh_slab_t *h = ohi_heaps; h != NULL; h = h->next) ohi_heap_stats_locked(h, out, false);
  out->allocs += ohi_retired_allocs;
  out->frees += ohi_retired_frees;
  ohi_unlock(&ohi_registry_lock);
  out->slabs_decommitted = ohi_segment_cache_count();
  return 0;
}

int oh_slab_stats(oh_slab_t *s, oh_stats_t *out) {
  if (!ohi_heap_check(s, "oh_slab_stats")) return -1;
  if (out == NULL) return ohi_fail(EINVAL, "oh_slab_stats: NULL output");
  memset(out, 0, sizeof *out);
  out->version = OH_STATS_VERSION;
  ohi_lock(&ohi_registry_lock);
  ohi_heap_stats_locked(s, out, true);
  ohi_unlock(&ohi_registry_lock);
  /* An instance's slabs and large spans are committed while it holds them:
   * the purge policy gives decommitted memory to the shared segment cache. */
  out->committed_bytes = out->mapped_bytes;
  out->decommitted_bytes = OHI_LOAD_RELAXED(&s->purged_bytes);
  out->purges = OHI_LOAD_RELAXED(&s->purge_count);
  return 0;
}

/* ---- leak report ---------------------------------------------------------------- */

/* A run slab's allocations are its runs (a TAIL word is free to the test):
 * reported with their pages' bytes and class -1, as whole-page allocations. */
static void leaks_in_slab(ohi_slab_t *s, int cls, oh_leak_fn fn, void *arg, size_t *count) {
  uint32_t *words = ohi_slab_words(s);
  bool runs = s->fmap != NULL;
  for (uint32_t i = 0; i < s->bump; i++) {
    uint32_t w = OHI_LOAD_ACQUIRE(&words[i]);
    if (OHI_W_IS_FREE(w)) continue;
    (*count)++;
    if (fn) fn(ohi_chunk_ptr(s, i), runs ? (size_t)ohi_run_pages(s, i) * s->chunk_size : s->chunk_size, (long)w,
               runs ? -1 : cls, arg);
  }
}

static void leaks_in_list(ohi_slab_t *s, int cls, oh_leak_fn fn, void *arg, size_t *count) {
  for (; s != NULL; s = s->next) leaks_in_slab(s, cls, fn, arg, count);
}

size_t oh_slab_leaks(oh_slab_t *s, oh_leak_fn fn, void *arg) {
  if (s == NULL) s = __atomic_load_n(&ohi_default_heap, __ATOMIC_ACQUIRE);
  if (s == NULL) return 0; /* the process-wide instance was never used */
  if (!ohi_heap_check(s, "oh_slab_leaks")) return 0;
  size_t count = 0;
  ohi_lock(&ohi_registry_lock);
  for (ohi_tcache_t *tc = s->tcaches; tc != NULL; tc = tc->next) {
    if (OHI_LOAD_RELAXED(&tc->holds) == 0 || !ohi_tcache_steal(tc)) continue;
    for (unsigned i = 0; i < s->nclasses; i++) leaks_in_list(tc->bins[i].owned, (int)i, fn, arg, &count);
    ohi_tcache_unsteal(tc);
  }
  for (unsigned i = 0; i < s->nclasses; i++) {
    ohi_class_t *c = &s->classes[i];
    ohi_lock(&c->lock);
    leaks_in_list(c->partial, (int)i, fn, arg, &count);
    leaks_in_list(c->full, (int)i, fn, arg, &count);
    ohi_unlock(&c->lock);
  }
  ohi_unlock(&ohi_registry_lock);
  /* The heap's list holds every mapped span: the free ones (cached) are not leaks. */
  ohi_lock(&s->large_lock);
  for (ohi_large_t *l = s->large; l != NULL; l = l->next) {
    uint32_t rc = OHI_LOAD_ACQUIRE(&l->refcount);
    if (OHI_W_IS_FREE(rc)) continue;
    count++;
    if (fn) fn((void *)l->span.base, l->span.size, (long)rc, -1, arg);
  }
  ohi_unlock(&s->large_lock);
  return count;
}
