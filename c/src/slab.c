/* slab.c - the slab allocator: size classes, slabs, reference counts, thread
 * caches. A "heap" (oh_slab_t) is one instance; oh_alloc uses the default one,
 * a pool is a heap with a single class.
 *
 * The steps of an allocation of n bytes:
 *   1. n > slab size: a large span of whole pages (large_alloc), refcount 1.
 *   2. class = grid[grid_index(n)]: one table read. Chunk sizes are snapped to
 *      a grid of 64 steps per power of two, so the table is exact.
 *   3. The calling thread's cache for (heap, class) pops a chunk; its state word
 *      goes from CACHED to 1. No lock, no atomic read-modify-write.
 *   4. On a cache miss, half the cache's capacity is taken from the class under
 *      its lock: from a partial slab's free list, else its never-used tail
 *      (bump), else an empty slab of the class, else a new slab from the shared
 *      segment cache or the OS.
 * And of a release (free, or the decref that reaches zero):
 *   1. The region map gives the span of the pointer without touching it:
 *      none = foreign, another owner = EXDEV, a large span = free whole pages.
 *   2. index = offset / chunk_size (a multiply); a remainder = interior pointer.
 *   3. A CAS on the state word: 1 -> CACHED claims the chunk (a free chunk =
 *      double free); a count above 1 is only decremented.
 *   4. The chunk is pushed on the thread cache; a full cache (or one over its
 *      byte bound) returns its older half to the class under the lock.
 *   5. A slab whose chunks are all back is empty: it waits on the class's empty
 *      list, and the purge policy (purge.c) decommits it after the delay and
 *      gives its segment to the cache any class of any heap can take from.
 *
 * Invariants (under the class lock):
 *   slab.in_use = chunks whose word is 1..OH_REFCOUNT_MAX or CACHED
 *   slab.nchunks = slab.in_use + slab.nfree + (slab.nchunks - slab.bump)
 *   class.in_use = sum of slab.in_use over the class's slabs
 *   a slab is on exactly one list: partial (0 < in_use, has room), full (no
 *   room), empty (in_use == 0)
 */
#include "internal.h"

#include <sched.h>
#include <stdlib.h>

#define OHI_MAX_SLOTS 64 /* heaps that get thread caches at once */
#define BIN_CAP_MAX 64
#define GRID_MAX (64 + 64 * 21) /* slab sizes up to 2^31 */
#define SLAB_SHIFT_MIN 16
#define SLAB_SHIFT_MAX 30

enum ohi_slab_list { LIST_NONE = 0, LIST_PARTIAL, LIST_FULL, LIST_EMPTY };
enum release_mode { RELEASE_FREE, RELEASE_DECREF };

typedef struct ohi_class_s {
  ohi_lock_t lock;
  ohi_slab_t *partial, *full, *empty; /* doubly linked, NULL terminated */
  uint32_t chunk_size;
  uint32_t nchunks;   /* per slab */
  uint32_t cache_cap; /* thread cache capacity */
  uint32_t pad_;
  uint64_t div_magic;
  uint64_t slabs, in_use, allocs, frees, empty_count;
} __attribute__((aligned(OHI_CACHE_LINE))) ohi_class_t;

typedef struct ohi_item_s {
  void *p;
  uint32_t *w;
} ohi_item_t;

typedef struct ohi_bin_s {
  uint32_t count; /* written by the owner thread, read by stats */
  uint32_t cap;
  uint32_t chunk_size;
  uint32_t pad_;
  ohi_item_t *items;
  ohi_affinity_t aff; /* the slab this bin refills from */
} ohi_bin_t;

typedef struct ohi_tcache_s ohi_tcache_t;
/* Draining an idle thread's cache from another thread (the purger) without
 * a lock or an atomic read-modify-write on the owner's fast path:
 *   owner:   in_op = 1; [compiler barrier]; if (steal) bypass the cache;
 *            ... use the bins ...; in_op = 0 (release)
 *   stealer: steal = 1; ohi_os_process_barrier(); wait until in_op == 0;
 *            flush the bins; steal = 0 (release)
 * The process-wide barrier stands in for the fence the owner leaves out:
 * after it, either the stealer sees in_op == 1 (and waits) or the owner's
 * next check sees steal == 1 (and bypasses the cache). Without the barrier
 * (ENOSYS) idle caches are not stolen; they stay bounded by TCACHE_BYTES. */
struct ohi_tcache_s {
  uint32_t in_op;   /* owner: inside a cache operation */
  uint32_t steal;   /* stealer: keep out of the bins */
  uint64_t seen_ops, seen_ms; /* purger's idle detection, under registry_lock */
  uint64_t heap_id; /* 0 once the heap is destroyed */
  oh_slab_t *heap;
  size_t bytes;     /* bytes of cached chunks (owner only) */
  size_t max_bytes;
  size_t meta_size;
  ohi_tcache_t *next, *prev; /* the heap's list, under registry_lock */
  uint64_t *allocs, *frees;  /* per class, owner-written */
  ohi_bin_t bins[];
};

struct oh_slab_s {
  uint64_t id;
  int slot; /* thread-cache slot, -1 = none */
  uint32_t nclasses;
  size_t slab_size;
  unsigned slab_shift;
  bool single; /* a pool: one class of exactly class[0].chunk_size */
  size_t max_objects;
  size_t meta_size;
  uint64_t empty_bytes; /* atomic: bytes of slabs on empty lists */
  ohi_lock_t large_lock;
  ohi_large_t *large;      /* live large spans */
  ohi_large_t *large_free; /* freed spans kept for reuse, newest first */
  uint64_t large_count, large_bytes, large_allocs, large_frees;
  uint64_t large_free_count, large_free_bytes;
  uint64_t purged_bytes, purge_count; /* atomic: this heap's share of the purge counters */
  ohi_tcache_t *tcaches; /* under registry_lock */
  oh_slab_t *next, *prev; /* the registry, under registry_lock */
  uint8_t grid[GRID_MAX];
  ohi_class_t classes[];
};

/* ---- registry of heaps and thread-cache slots ----------------------------- */

static ohi_lock_t registry_lock = OHI_LOCK_INIT;
static oh_slab_t *heaps;
static oh_slab_t *slots[OHI_MAX_SLOTS];
static uint64_t next_heap_id = 1;
static pthread_key_t tls_key;
static pthread_once_t tls_once = PTHREAD_ONCE_INIT;
/* initial-exec: in liboffheap.so the default (global-dynamic) model costs a
 * __tls_get_addr call per access, twice per alloc+free. */
#define OHI_TLS __thread __attribute__((tls_model("initial-exec")))
static OHI_TLS ohi_tcache_t *tls_caches[OHI_MAX_SLOTS];
static OHI_TLS bool tls_registered;

/* ---- size classes ----------------------------------------------------------- */

OHI_INLINE unsigned grid_index(size_t n) {
  if (n <= 1024) return n == 0 ? 0 : (unsigned)((n + 15) / 16 - 1);
  unsigned e = 63u - (unsigned)__builtin_clzll((unsigned long long)(n - 1));
  unsigned j = (unsigned)((n - 1) >> (e - 6)) & 63u;
  return 64u + (e - 10u) * 64u + j;
}

static size_t grid_value(unsigned i) {
  if (i < 64) return 16 * (size_t)(i + 1);
  unsigned e = 10 + (i - 64) / 64, j = (i - 64) % 64;
  return ((size_t)1 << e) + (size_t)(j + 1) * ((size_t)1 << (e - 6));
}

static size_t snap_to_grid(size_t n) { return grid_value(grid_index(n)); }

/* ---- heap creation ---------------------------------------------------------- */

static void tls_destructor(void *arg);
static void tls_init(void) { pthread_key_create(&tls_key, tls_destructor); }

static void class_init(ohi_class_t *c, size_t chunk, size_t slab_size) {
  ohi_lock_init(&c->lock);
  c->chunk_size = (uint32_t)chunk;
  c->nchunks = (uint32_t)(slab_size / chunk);
  c->div_magic = OHI_EXACT_DIV_MAGIC(chunk);
  size_t tbytes = (size_t)ohi_opt(OH_OPT_TCACHE_BYTES);
  size_t cap = tbytes / 4 / chunk;
  if (cap < 2 && chunk * 2 <= tbytes) cap = 2;
  if (cap < 1 && chunk <= tbytes) cap = 1;
  if (cap > BIN_CAP_MAX) cap = BIN_CAP_MAX;
  c->cache_cap = (uint32_t)cap;
}

static oh_slab_t *heap_alloc_struct(unsigned nclasses) {
  size_t size = sizeof(oh_slab_t) + nclasses * sizeof(ohi_class_t);
  oh_slab_t *h = ohi_meta_alloc(size);
  if (h == NULL) return NULL;
  h->meta_size = size;
  h->nclasses = nclasses;
  ohi_lock_init(&h->large_lock);
  return h;
}

static void heap_register(oh_slab_t *h, bool want_slot) {
  pthread_once(&tls_once, tls_init);
  ohi_lock(&registry_lock);
  h->id = next_heap_id++;
  h->slot = -1;
  if (want_slot && ohi_opt(OH_OPT_TCACHE_BYTES) > 0) {
    for (int i = 0; i < OHI_MAX_SLOTS; i++) {
      if (slots[i] == NULL) {
        slots[i] = h;
        h->slot = i;
        break;
      }
    }
  }
  h->next = heaps;
  if (heaps) heaps->prev = h;
  heaps = h;
  ohi_unlock(&registry_lock);
}

static oh_slab_t *heap_new(const oh_slab_config_t *cfg, const char *fn) {
  ohi_options_init();
  oh_slab_config_t c = {16, (size_t)1 << 20, 1.25};
  if (cfg != NULL) {
    if (cfg->min_chunk) c.min_chunk = cfg->min_chunk;
    if (cfg->slab_size) c.slab_size = cfg->slab_size;
    if (cfg->growth != 0) c.growth = cfg->growth;
  }
  if (c.slab_size < ((size_t)1 << SLAB_SHIFT_MIN) || c.slab_size > ((size_t)1 << SLAB_SHIFT_MAX) ||
      (c.slab_size & (c.slab_size - 1)) != 0)
    return ohi_fail_null(EINVAL, "%s: slab size %zu must be a power of two from 64 KiB to 1 GiB", fn, c.slab_size);
  if (!(c.growth > 1.0) || c.growth > 1024.0)
    return ohi_fail_null(EINVAL, "%s: growth factor %g must be greater than 1 (and at most 1024)", fn, c.growth);
  if (c.min_chunk > c.slab_size)
    return ohi_fail_null(EINVAL, "%s: smallest chunk %zu is larger than the slab size %zu", fn, c.min_chunk, c.slab_size);
  /* Build the classes: m even steps per power of two, m = ceil(1/(growth-1))
   * (growth 1.25: 1, 1.25, 1.5, 1.75 x 2^k; growth 2: powers of two), snapped
   * to the 16-byte / 64-per-octave grid. Consecutive classes then differ by at
   * most the growth factor, and every power of two is a class, so page-multiple
   * buffers (4 KiB, 16 KiB, 64 KiB ...) fit exactly and stay page aligned. */
  double steps = 1.0 / (c.growth - 1.0);
  unsigned m = steps >= 64.0 ? 64 : (unsigned)steps;
  if ((double)m < steps - 1e-9 && m < 64) m++;
  if (m == 0) m = 1;
  uint32_t sizes[OH_MAX_CLASSES];
  unsigned n = 0;
  size_t first = snap_to_grid(c.min_chunk < 16 ? 16 : c.min_chunk);
  sizes[n++] = (uint32_t)first;
  unsigned k0 = 63u - (unsigned)__builtin_clzll((unsigned long long)first);
  for (unsigned k = k0; sizes[n - 1] < c.slab_size; k++) {
    size_t base = (size_t)1 << k;
    for (unsigned j = 0; j < m && sizes[n - 1] < c.slab_size; j++) {
      size_t v = snap_to_grid(base + (base * j + m - 1) / m);
      if (v > c.slab_size) v = c.slab_size;
      if (v <= sizes[n - 1]) continue;
      if (n == OH_MAX_CLASSES)
        return ohi_fail_null(EINVAL, "%s: growth %g from %zu to slab size %zu needs more than %d size classes", fn,
                             c.growth, c.min_chunk, c.slab_size, OH_MAX_CLASSES);
      sizes[n++] = (uint32_t)v;
    }
  }
  /* Page-multiple requests must get page-aligned chunks (a decommit of a
   * buffer then covers all its pages): classes of 8 pages or more are rounded
   * up to whole pages, and 1..7 pages are always classes. Both are grid
   * values, since a page is a multiple of the grid step below it. */
  size_t ps = ohi_os_page_size();
  uint32_t all[OH_MAX_CLASSES + 8];
  unsigned na = 0;
  for (unsigned i = 0; i < n; i++) {
    size_t v = sizes[i];
    if (v >= 8 * ps) v = (v + ps - 1) & ~(ps - 1);
    if (v > c.slab_size) v = c.slab_size;
    all[na++] = (uint32_t)v;
  }
  for (size_t k = 1; k < 8; k++)
    if (k * ps >= first && k * ps <= c.slab_size) all[na++] = (uint32_t)(k * ps);
  for (unsigned i = 1; i < na; i++) /* insertion sort: a few dozen entries */
    for (unsigned j = i; j > 0 && all[j - 1] > all[j]; j--) {
      uint32_t t = all[j];
      all[j] = all[j - 1];
      all[j - 1] = t;
    }
  n = 0;
  for (unsigned i = 0; i < na; i++)
    if (n == 0 || all[i] != sizes[n - 1]) {
      if (n == OH_MAX_CLASSES)
        return ohi_fail_null(EINVAL, "%s: growth %g from %zu to slab size %zu needs more than %d size classes", fn,
                             c.growth, c.min_chunk, c.slab_size, OH_MAX_CLASSES);
      sizes[n++] = all[i];
    }
  oh_slab_t *h = heap_alloc_struct(n);
  if (h == NULL) return ohi_fail_null(ENOMEM, "%s: out of memory for the heap's metadata", fn);
  h->slab_size = c.slab_size;
  h->slab_shift = (unsigned)__builtin_ctzll((unsigned long long)c.slab_size);
  for (unsigned i = 0; i < n; i++) class_init(&h->classes[i], sizes[i], c.slab_size);
  unsigned gmax = grid_index(c.slab_size);
  for (unsigned g = 0, k = 0; g <= gmax; g++) {
    while (sizes[k] < grid_value(g)) k++;
    h->grid[g] = (uint8_t)k;
  }
  heap_register(h, true);
  return h;
}

oh_slab_t *ohi_heap_new_single(size_t object_size, size_t slab_size, size_t max_objects) {
  ohi_options_init();
  oh_slab_t *h = heap_alloc_struct(1);
  if (h == NULL) return NULL;
  size_t chunk = (object_size + 15) & ~(size_t)15;
  h->single = true;
  h->max_objects = max_objects;
  h->slab_size = slab_size;
  h->slab_shift = (unsigned)__builtin_ctzll((unsigned long long)slab_size);
  class_init(&h->classes[0], chunk, slab_size);
  /* A bounded pool counts thread-cached objects as taken, so caches could
   * starve other threads below the bound: bounded pools go to the lock. */
  heap_register(h, max_objects == 0);
  return h;
}

static oh_slab_t *default_heap;
static ohi_lock_t default_lock = OHI_LOCK_INIT;

/* Creates the process-wide heap on first use; a failure (the OS refusing
 * memory) is reported and retried by the next call, never cached. */
static OHI_NOINLINE oh_slab_t *default_create(void) {
  ohi_lock(&default_lock);
  oh_slab_t *h = __atomic_load_n(&default_heap, __ATOMIC_ACQUIRE);
  if (h == NULL) {
    h = heap_new(NULL, "oh_alloc");
    if (h != NULL) __atomic_store_n(&default_heap, h, __ATOMIC_RELEASE);
  }
  ohi_unlock(&default_lock);
  return h;
}

OHI_INLINE oh_slab_t *get_default(void) {
  oh_slab_t *h = __atomic_load_n(&default_heap, __ATOMIC_ACQUIRE);
  if (OHI_LIKELY(h != NULL)) return h;
  return default_create();
}

oh_slab_t *oh_default_slab(void) { return get_default(); }
oh_slab_t *oh_slab_new(const oh_slab_config_t *cfg) { return heap_new(cfg, "oh_slab_new"); }

/* ---- slab lists ------------------------------------------------------------- */

static ohi_slab_t **list_head(ohi_class_t *c, uint32_t list) {
  return list == LIST_PARTIAL ? &c->partial : list == LIST_FULL ? &c->full : &c->empty;
}

static void list_remove(ohi_class_t *c, ohi_slab_t *s) {
  ohi_slab_t **head = list_head(c, s->list);
  if (s->prev) s->prev->next = s->next;
  else OHI_STORE_RELAXED(head, s->next); /* heads are peeked without the lock */
  if (s->next) s->next->prev = s->prev;
  s->next = s->prev = NULL;
  s->list = LIST_NONE;
}

static void list_push(ohi_class_t *c, ohi_slab_t *s, uint32_t list) {
  ohi_slab_t **head = list_head(c, list);
  s->prev = NULL;
  s->next = *head;
  if (*head) (*head)->prev = s;
  OHI_STORE_RELAXED(head, s);
  s->list = list;
}

OHI_INLINE uint32_t *slab_words(ohi_slab_t *s) { return (uint32_t *)(s + 1); }

/* ---- growing a class ---------------------------------------------------------- */

/* Maps (or takes from the segment cache) a new slab for class cls. Called
 * without the class lock. */
static ohi_slab_t *slab_create(oh_slab_t *h, unsigned cls) {
  ohi_class_t *c = &h->classes[cls];
  size_t meta = sizeof(ohi_slab_t) + (size_t)c->nchunks * sizeof(uint32_t);
  ohi_slab_t *s = ohi_meta_alloc(meta);
  if (s == NULL) return NULL;
  void *seg = ohi_segment_take(h->slab_shift);
  if (seg == NULL) {
    ohi_meta_free(s, meta);
    return NULL;
  }
  OHI_STORE_RELAXED(&s->chunk_size, c->chunk_size); /* read by releases: see ohi_span_publish */
  OHI_STORE_RELAXED(&s->nchunks, c->nchunks);
  OHI_STORE_RELAXED(&s->div_magic, c->div_magic);
  OHI_STORE_RELAXED(&s->class_index, cls);
  s->words = slab_words(s);
  s->meta_size = meta;
  s->free_head = OHI_W_END;
  if (ohi_opt(OH_OPT_HUGEPAGES)) ohi_os_hugepage_hint(seg, h->slab_size);
  ohi_span_publish(&s->span, (uintptr_t)seg, h->slab_size, OHI_SPAN_SLAB, h);
  if (ohi_region_set(s->span.base, h->slab_size, &s->span) != 0) {
    ohi_pages_decommit(seg, h->slab_size);
    ohi_segment_give(seg, h->slab_shift);
    ohi_meta_free(s, meta);
    errno = ENOMEM;
    return NULL;
  }
  return s;
}

/* Gives an empty slab's memory away: unregisters it, decommits the data and
 * hands the segment to the shared cache. Called without locks, after the slab
 * was taken off its class's lists. */
static size_t slab_release(oh_slab_t *h, ohi_slab_t *s) {
  void *seg = (void *)s->span.base;
  ohi_region_set(s->span.base, h->slab_size, NULL);
  if (s->guarded) ohi_os_protect(seg, h->slab_size, 1); /* the next owner gets it whole */
  size_t dec = ohi_pages_decommit(seg, h->slab_size);
  if (dec == 0) { /* the OS refused: unmap instead of caching committed memory */
    ohi_pages_unmap(seg, h->slab_size);
  } else {
    ohi_segment_give(seg, h->slab_shift);
  }
  ohi_meta_free(s, s->meta_size);
  return dec;
}

/* Debug level 2: makes the whole pages inside a chunk inaccessible (guard)
 * or accessible again. Returns whether any page was affected. */
static bool chunk_guard(void *p, size_t size, bool guard) {
  size_t ps = ohi_os_page_size();
  uintptr_t start = ((uintptr_t)p + ps - 1) & ~(uintptr_t)(ps - 1);
  uintptr_t end = ((uintptr_t)p + size) & ~(uintptr_t)(ps - 1);
  if (end <= start) return false;
  return ohi_os_protect((void *)start, end - start, !guard) == 0;
}

static uint32_t affinity_tokens;
uint32_t ohi_affinity_token(void) {
  uint32_t t;
  do t = __atomic_add_fetch(&affinity_tokens, 1, __ATOMIC_RELAXED);
  while (t == 0);
  return t;
}

/* Moves an empty slab back to the partial list (class lock held). */
static void unempty(oh_slab_t *h, ohi_class_t *c, ohi_slab_t *s) {
  list_remove(c, s);
  list_push(c, s, LIST_PARTIAL);
  c->empty_count--;
  OHI_FETCH_SUB(&h->empty_bytes, h->slab_size);
}

/* The slab aff prefers, if it is still a slab of class cls of h claimed by
 * aff (class lock held). The span the region map gives may be a descriptor
 * being released or reused by another class at this very moment: metadata
 * memory is never unmapped and the deciding fields are read with relaxed
 * atomics (see ohi_span_publish), so this is safe; a descriptor of this
 * class cannot change under the lock we hold. */
static ohi_slab_t *affinity_slab(oh_slab_t *h, unsigned cls, ohi_affinity_t *aff) {
  if (aff->base == 0) return NULL;
  ohi_span_t *sp = ohi_region_lookup((void *)aff->base);
  if (sp == NULL || __atomic_load_n(&sp->kind, __ATOMIC_ACQUIRE) != OHI_SPAN_SLAB ||
      OHI_LOAD_RELAXED(&sp->owner) != h || OHI_LOAD_RELAXED(&sp->base) != aff->base)
    return NULL;
  ohi_slab_t *s = (ohi_slab_t *)sp;
  if (OHI_LOAD_RELAXED(&s->class_index) != cls || OHI_LOAD_RELAXED(&s->claim) != aff->token) return NULL;
  return s;
}

/* The slab a take draws from next (class lock held), NULL when the class
 * must grow. With an affinity: the cache's own slab while it has room, else
 * an unclaimed partial slab, else an empty one, else any partial slab. */
static ohi_slab_t *pick_slab(oh_slab_t *h, ohi_class_t *c, unsigned cls, ohi_affinity_t *aff) {
  ohi_slab_t *s;
  if (aff != NULL) {
    s = affinity_slab(h, cls, aff);
    if (s != NULL) {
      if (s->list == LIST_PARTIAL) return s;
      if (s->list == LIST_EMPTY) {
        unempty(h, c, s);
        return s;
      }
    }
    int looked = 0;
    for (s = c->partial; s != NULL && looked < 8; s = s->next, looked++)
      if (OHI_LOAD_RELAXED(&s->claim) == 0) return s;
    if (c->empty == NULL && c->partial != NULL) return NULL; /* grow rather than share */
  }
  if (c->partial != NULL) return c->partial;
  if (c->empty != NULL) {
    s = c->empty;
    unempty(h, c, s);
    return s;
  }
  return NULL;
}

/* Takes up to want chunks of class cls into out (class lock held; it is
 * dropped while a new slab is mapped). Each word is set to state. aff, when
 * given, steers the take to the caller's own slab (ohi_affinity_t). */
static uint32_t class_take(oh_slab_t *h, unsigned cls, ohi_item_t *out, uint32_t want, uint32_t state,
                           ohi_affinity_t *aff) {
  ohi_class_t *c = &h->classes[cls];
  uint32_t got = 0;
  while (got < want) {
    if (h->max_objects != 0 && c->in_use >= h->max_objects) break;
    ohi_slab_t *s = pick_slab(h, c, cls, aff);
    if (s == NULL) {
      ohi_unlock(&c->lock);
      ohi_slab_t *ns = slab_create(h, cls);
      ohi_lock(&c->lock);
      if (ns == NULL) {
        if (c->partial == NULL) break;
        s = c->partial; /* share a claimed slab rather than fail */
      } else {
        c->slabs++;
        list_push(c, ns, LIST_PARTIAL);
        s = ns;
      }
    }
    if (aff != NULL) {
      OHI_STORE_RELAXED(&s->claim, aff->token);
      aff->base = s->span.base;
    }
    uint32_t *words = slab_words(s);
    while (got < want && (s->free_head != OHI_W_END || s->bump < s->nchunks)) {
      if (h->max_objects != 0 && c->in_use >= h->max_objects) break;
      uint32_t idx;
      if (s->free_head != OHI_W_END) {
        idx = s->free_head;
        uint32_t fw = OHI_LOAD_RELAXED(&words[idx]);
        s->free_head = fw & OHI_W_NEXT;
        s->nfree--;
        if (OHI_UNLIKELY(fw & OHI_W_GUARD)) {
          chunk_guard((void *)(s->span.base + (uintptr_t)idx * s->chunk_size), s->chunk_size, false);
          s->guarded--;
        }
      } else {
        idx = s->bump++;
      }
      OHI_STORE_RELEASE(&words[idx], state);
      out[got].p = (void *)(s->span.base + (uintptr_t)idx * s->chunk_size);
      if (state == 1) OHI_ASAN_UNPOISON(out[got].p, s->chunk_size); /* handed out now */
      out[got].w = &words[idx];
      got++;
      s->in_use++;
      c->in_use++;
    }
    if (s->free_head == OHI_W_END && s->bump == s->nchunks) {
      list_remove(c, s);
      list_push(c, s, LIST_FULL);
      OHI_STORE_RELAXED(&s->claim, 0u); /* whoever finds room in it later may claim it */
    }
  }
  return got;
}

/* Returns a claimed (CACHED) chunk to its slab; class lock held. Returns true
 * when the slab became empty. */
static bool class_return(oh_slab_t *h, ohi_class_t *c, ohi_slab_t *s, uint32_t *w, uint64_t *now) {
  uint32_t idx = (uint32_t)(w - slab_words(s));
  uint32_t guard = 0;
  if (OHI_UNLIKELY(ohi_opt(OH_OPT_DEBUG) >= 2) &&
      chunk_guard((void *)(s->span.base + (uintptr_t)idx * s->chunk_size), s->chunk_size, true)) {
    guard = OHI_W_GUARD;
    s->guarded++;
  }
  OHI_STORE_RELEASE(w, OHI_W_FREE | guard | s->free_head);
  s->free_head = idx;
  s->nfree++;
  s->in_use--;
  c->in_use--;
  if (s->list == LIST_FULL) {
    list_remove(c, s);
    list_push(c, s, LIST_PARTIAL);
  }
  if (s->in_use == 0) {
    list_remove(c, s);
    list_push(c, s, LIST_EMPTY);
    if (*now == 0) *now = ohi_os_now_ms(); /* read the clock only when needed */
    s->empty_since_ms = *now;
    c->empty_count++;
    OHI_FETCH_ADD(&h->empty_bytes, h->slab_size);
    return true;
  }
  return false;
}

/* After slabs became empty: with a zero delay release them now, else make
 * sure the purger will look at them. */
static void after_empty(oh_slab_t *h) {
  if (ohi_opt(OH_OPT_PURGE_DELAY_MS) == 0) ohi_heap_purge(h, ohi_os_now_ms(), false, NULL);
  else ohi_purge_notify();
}

/* ---- thread caches ------------------------------------------------------------ */

static ohi_tcache_t *tcache_create(oh_slab_t *h) {
  ohi_tcache_t *old = tls_caches[h->slot];
  if (old != NULL) { /* left behind by a destroyed heap that had this slot */
    tls_caches[h->slot] = NULL;
    ohi_meta_free(old, old->meta_size);
  }
  size_t n = h->nclasses, items = 0;
  for (size_t i = 0; i < n; i++) items += h->classes[i].cache_cap;
  size_t size = sizeof(ohi_tcache_t) + n * sizeof(ohi_bin_t) + 2 * n * sizeof(uint64_t) + items * sizeof(ohi_item_t);
  ohi_tcache_t *tc = ohi_meta_alloc(size);
  if (tc == NULL) return NULL;
  tc->meta_size = size;
  tc->heap = h;
  tc->seen_ms = ohi_os_now_ms(); /* idle is counted from now, not from boot */
  tc->max_bytes = (size_t)ohi_opt(OH_OPT_TCACHE_BYTES);
  tc->allocs = (uint64_t *)&tc->bins[n];
  tc->frees = tc->allocs + n;
  ohi_item_t *it = (ohi_item_t *)(tc->frees + n);
  uint32_t token = ohi_affinity_token();
  for (size_t i = 0; i < n; i++) {
    tc->bins[i].aff.token = token;
    tc->bins[i].cap = h->classes[i].cache_cap;
    tc->bins[i].chunk_size = h->classes[i].chunk_size;
    tc->bins[i].items = it;
    it += tc->bins[i].cap;
  }
  if (!tls_registered) {
    pthread_setspecific(tls_key, (void *)1);
    tls_registered = true;
  }
  ohi_lock(&registry_lock);
  if (slots[h->slot] != h) { /* destroyed meanwhile */
    ohi_unlock(&registry_lock);
    ohi_meta_free(tc, size);
    return NULL;
  }
  tc->next = h->tcaches;
  if (h->tcaches) h->tcaches->prev = tc;
  h->tcaches = tc;
  OHI_STORE_RELAXED(&tc->heap_id, h->id);
  ohi_unlock(&registry_lock);
  tls_caches[h->slot] = tc;
  return tc;
}

OHI_INLINE ohi_tcache_t *tcache_get(oh_slab_t *h) {
  int slot = h->slot;
  if (OHI_UNLIKELY(slot < 0)) return NULL;
  ohi_tcache_t *tc = tls_caches[slot];
  if (OHI_LIKELY(tc != NULL && OHI_LOAD_RELAXED(&tc->heap_id) == h->id)) return tc;
  return tcache_create(h);
}

/* The owner's side of the steal handshake (see struct ohi_tcache_s). */
OHI_INLINE bool tcache_enter(ohi_tcache_t *tc) {
  OHI_STORE_RELAXED(&tc->in_op, 1u);
  __atomic_signal_fence(__ATOMIC_SEQ_CST);
  if (OHI_LIKELY(OHI_LOAD_ACQUIRE(&tc->steal) == 0)) return true;
  OHI_STORE_RELEASE(&tc->in_op, 0u);
  return false;
}
OHI_INLINE void tcache_leave(ohi_tcache_t *tc) { OHI_STORE_RELEASE(&tc->in_op, 0u); }

/* Returns the first k items of bin cls to the class (the older ones) and
 * slides the rest down. */
static void bin_flush(oh_slab_t *h, ohi_tcache_t *tc, unsigned cls, uint32_t k) {
  ohi_bin_t *b = &tc->bins[cls];
  ohi_class_t *c = &h->classes[cls];
  uint32_t count = b->count;
  if (k > count) k = count;
  if (k == 0) return;
  bool emptied = false;
  uint64_t now = 0;
  ohi_lock(&c->lock);
  for (uint32_t i = 0; i < k; i++) {
    ohi_slab_t *s = (ohi_slab_t *)ohi_region_lookup(b->items[i].p);
    emptied |= class_return(h, c, s, b->items[i].w, &now);
  }
  ohi_unlock(&c->lock);
  memmove(b->items, b->items + k, (count - k) * sizeof(ohi_item_t));
  OHI_STORE_RELAXED(&b->count, count - k);
  tc->bytes -= (size_t)k * b->chunk_size;
  if (emptied) after_empty(h);
}

static void tcache_flush_all(oh_slab_t *h, ohi_tcache_t *tc) {
  for (unsigned i = 0; i < h->nclasses; i++) bin_flush(h, tc, i, tc->bins[i].count);
}

static OHI_NOINLINE uint32_t bin_refill(oh_slab_t *h, ohi_tcache_t *tc, unsigned cls) {
  ohi_bin_t *b = &tc->bins[cls];
  ohi_class_t *c = &h->classes[cls];
  uint32_t want = b->cap / 2 ? b->cap / 2 : 1;
  if (tc->bytes + (size_t)want * b->chunk_size > tc->max_bytes) {
    /* Over the thread's byte bound: make room from the other bins first,
     * then take no more than fits (one chunk at least: the caller takes it
     * at once, so the cache itself never holds more than the bound). */
    for (unsigned i = 0; i < h->nclasses && tc->bytes + (size_t)want * b->chunk_size > tc->max_bytes; i++)
      if (i != cls) bin_flush(h, tc, i, tc->bins[i].count);
    size_t room = tc->max_bytes > tc->bytes ? (tc->max_bytes - tc->bytes) / b->chunk_size : 0;
    want = room < want ? (uint32_t)room : want;
    if (want == 0) want = 1;
  }
  ohi_lock(&c->lock);
  uint32_t got = class_take(h, cls, b->items, want, OHI_W_CACHED, &b->aff);
  ohi_unlock(&c->lock);
  OHI_STORE_RELAXED(&b->count, got);
  tc->bytes += (size_t)got * b->chunk_size;
  if (got > 1) ohi_purge_notify(); /* the cache keeps got - 1: watch it */
  return got;
}

static void tls_destructor(void *arg) {
  (void)arg;
  for (int i = 0; i < OHI_MAX_SLOTS; i++) {
    ohi_tcache_t *tc = tls_caches[i];
    if (tc == NULL) continue;
    tls_caches[i] = NULL;
    ohi_lock(&registry_lock);
    if (OHI_LOAD_RELAXED(&tc->heap_id) != 0) {
      oh_slab_t *h = tc->heap;
      tcache_flush_all(h, tc);
      for (unsigned c = 0; c < h->nclasses; c++) {
        ohi_lock(&h->classes[c].lock);
        h->classes[c].allocs += tc->allocs[c];
        h->classes[c].frees += tc->frees[c];
        ohi_unlock(&h->classes[c].lock);
      }
      if (tc->prev) tc->prev->next = tc->next;
      else h->tcaches = tc->next;
      if (tc->next) tc->next->prev = tc->prev;
    }
    ohi_unlock(&registry_lock);
    ohi_meta_free(tc, tc->meta_size);
  }
}

void oh_thread_flush(void) {
  ohi_lock(&registry_lock);
  for (int i = 0; i < OHI_MAX_SLOTS; i++) {
    ohi_tcache_t *tc = tls_caches[i];
    if (tc != NULL && OHI_LOAD_RELAXED(&tc->heap_id) != 0) tcache_flush_all(tc->heap, tc);
  }
  ohi_unlock(&registry_lock);
}

/* ---- large allocations ---------------------------------------------------------- */

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
static void large_unmap(ohi_large_t *l) {
  ohi_region_set(l->span.base, l->span.size, NULL);
  ohi_pages_unmap((void *)l->span.base, l->span.size);
  ohi_meta_free(l, sizeof *l);
}

static OHI_NOINLINE void *large_alloc(oh_slab_t *h, size_t n, bool zero, const char *fn) {
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
    l = ohi_meta_alloc(sizeof *l);
    if (l == NULL) return ohi_fail_null(ENOMEM, "%s: out of memory for metadata (size %zu)", fn, n);
    void *p = ohi_pages_map(size, OHI_GRANULE);
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
static void large_free(oh_slab_t *h, ohi_large_t *l) {
  long long delay = ohi_opt(OH_OPT_PURGE_DELAY_MS);
  ohi_large_t *evict = NULL;
  ohi_lock(&h->large_lock);
  large_list_unlink(&h->large, l);
  h->large_count--;
  h->large_bytes -= l->span.size;
  h->large_frees++;
  bool keep = (delay != 0 || ohi_opt(OH_OPT_DEBUG) >= 2) && l->span.size <= LARGE_CACHE_BYTES / 4;
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
    if (OHI_UNLIKELY(ohi_opt(OH_OPT_DEBUG) >= 2))
      l->guarded = ohi_os_protect((void *)l->span.base, l->span.size, 0) == 0;
    large_list_push(&h->large_free, l);
    h->large_free_count++;
    h->large_free_bytes += l->span.size;
  }
  ohi_unlock(&h->large_lock);
  while (evict != NULL) {
    ohi_large_t *next = evict->next;
    large_unmap(evict);
    evict = next;
  }
  if (keep) ohi_purge_notify();
  else large_unmap(l);
}

/* Unmaps cached free large spans older than the delay (all when force). */
static size_t large_purge(oh_slab_t *h, uint64_t now, long long delay, bool force, uint64_t *next_deadline) {
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
    large_unmap(victims);
    victims = next;
  }
  return bytes;
}

/* ---- allocation and release ------------------------------------------------------ */

static OHI_NOINLINE void *alloc_locked(oh_slab_t *h, unsigned cls, const char *fn) {
  ohi_class_t *c = &h->classes[cls];
  ohi_item_t it;
  ohi_lock(&c->lock);
  uint32_t got = class_take(h, cls, &it, 1, 1, NULL);
  if (got) c->allocs++;
  bool at_max = h->max_objects != 0 && c->in_use >= h->max_objects;
  ohi_unlock(&c->lock);
  if (got == 0) {
    if (at_max)
      return ohi_fail_null(ENOMEM, "%s: the pool is at its maximum of %zu objects", fn, h->max_objects);
    return ohi_fail_null(ENOMEM, "%s: the OS refused a new slab of %zu bytes", fn, h->slab_size);
  }
  return it.p;
}

OHI_INLINE unsigned class_of(oh_slab_t *h, size_t n) { return h->single ? 0 : h->grid[grid_index(n)]; }

void *ohi_heap_alloc(oh_slab_t *h, size_t n, const char *fn) {
  if (OHI_UNLIKELY(n > h->classes[h->nclasses - 1].chunk_size)) {
    if (h->single)
      return ohi_fail_null(EINVAL, "%s: size %zu is larger than the pool's object size %u", fn, n,
                           h->classes[0].chunk_size);
    return large_alloc(h, n, false, fn);
  }
  unsigned cls = class_of(h, n);
  ohi_tcache_t *tc = OHI_LIKELY(ohi_opt(OH_OPT_DEBUG) == 0) ? tcache_get(h) : NULL; /* debug: no caches */
  if (OHI_LIKELY(tc != NULL) && OHI_LIKELY(tcache_enter(tc))) {
    ohi_bin_t *b = &tc->bins[cls];
    uint32_t count = b->count;
    if (OHI_UNLIKELY(count == 0)) {
      if (b->cap != 0) count = bin_refill(h, tc, cls);
      if (OHI_UNLIKELY(count == 0)) { /* uncached class, or out of memory: alloc_locked reports it */
        tcache_leave(tc);
        return alloc_locked(h, cls, fn);
      }
    }
    ohi_item_t it = b->items[count - 1];
    OHI_STORE_RELAXED(&b->count, count - 1);
    tc->bytes -= b->chunk_size;
    OHI_OWNER_INC(&tc->allocs[cls], 1);
    OHI_STORE_RELAXED(it.w, 1u);
    tcache_leave(tc);
    OHI_ASAN_UNPOISON(it.p, b->chunk_size);
    return it.p;
  }
  return alloc_locked(h, cls, fn);
}

static OHI_NOINLINE void release_locked(oh_slab_t *h, ohi_slab_t *s, uint32_t *w) {
  ohi_class_t *c = &h->classes[s->class_index];
  ohi_lock(&c->lock);
  c->frees++;
  uint64_t now = 0;
  bool emptied = class_return(h, c, s, w, &now);
  ohi_unlock(&c->lock);
  if (emptied) after_empty(h);
}

/* A chunk just claimed (state CACHED) by the release that dropped its count
 * to zero: poison it in debug mode and cache or return it. */
OHI_INLINE void chunk_released(oh_slab_t *h, ohi_slab_t *s, void *p, uint32_t *w) {
  if (OHI_UNLIKELY(ohi_opt(OH_OPT_DEBUG))) { /* poison; no cache, so the guard (level 2) applies at once */
    memset(p, 0xdf, s->chunk_size);
    OHI_ASAN_POISON(p, s->chunk_size);
    release_locked(h, s, w);
    return;
  }
  OHI_ASAN_POISON(p, s->chunk_size);
  ohi_tcache_t *tc = tcache_get(h);
  if (OHI_LIKELY(tc != NULL) && OHI_LIKELY(tcache_enter(tc))) {
    unsigned cls = s->class_index;
    ohi_bin_t *b = &tc->bins[cls];
    if (OHI_LIKELY(b->cap != 0)) {
      if (OHI_UNLIKELY(b->count == b->cap)) bin_flush(h, tc, cls, b->cap / 2 ? b->cap / 2 : 1);
      if (OHI_UNLIKELY(tc->bytes + b->chunk_size > tc->max_bytes)) {
        bin_flush(h, tc, cls, b->count);
        if (tc->bytes + b->chunk_size > tc->max_bytes) { /* other classes fill the budget */
          tcache_leave(tc);
          release_locked(h, s, w);
          return;
        }
      }
      uint32_t count = b->count;
      /* A cache that starts holding chunks must be on the purger's watch. */
      if (OHI_UNLIKELY(count == 0)) ohi_purge_notify();
      b->items[count].p = p;
      b->items[count].w = w;
      OHI_STORE_RELAXED(&b->count, count + 1);
      tc->bytes += b->chunk_size;
      OHI_OWNER_INC(&tc->frees[cls], 1);
      tcache_leave(tc);
      return;
    }
    tcache_leave(tc);
  }
  release_locked(h, s, w);
}

static const char *owner_name(oh_slab_t *h) { return h->single ? "pool" : "slab"; }

/* Reports why find_chunk refused p (out of line: only misuse gets here). */
static OHI_NOINLINE __attribute__((cold)) int find_chunk_fail(oh_slab_t *h, const void *p, const char *fn,
                                                              ohi_span_t *sp, uint32_t kind) {
  if (sp == NULL || kind == 0 || (uintptr_t)p < OHI_LOAD_RELAXED(&sp->base) ||
      (uintptr_t)p - OHI_LOAD_RELAXED(&sp->base) >= OHI_LOAD_RELAXED(&sp->size)) {
    if (p == NULL) return ohi_fail(EINVAL, "%s: NULL pointer", fn);
    return ohi_fail(EINVAL, "%s: pointer %p was not allocated by offheap (foreign memory, or memory already returned)",
                    fn, p);
  }
  if (kind == OHI_SPAN_MAP)
    return ohi_fail(EINVAL, "%s: pointer %p belongs to a mapping of oh_map; release it with oh_unmap", fn, p);
  if (kind == OHI_SPAN_ARENA)
    return ohi_fail(EXDEV, "%s: pointer %p belongs to an arena; arena memory is freed by oh_arena_reset", fn, p);
  oh_slab_t *owner = OHI_LOAD_RELAXED(&sp->owner);
  if (owner != h)
    return ohi_fail(EXDEV, "%s: pointer %p belongs to another %s instance", fn, p,
                    owner != NULL && owner->single ? "pool" : "slab");
  if (kind == OHI_SPAN_LARGE)
    return ohi_fail(EFAULT, "%s: pointer %p is inside the allocation at %p, not its start", fn, p,
                    (void *)OHI_LOAD_RELAXED(&sp->base));
  ohi_slab_t *s = (ohi_slab_t *)sp;
  uint32_t off = (uint32_t)((uintptr_t)p - OHI_LOAD_RELAXED(&sp->base));
  uint32_t chunk = OHI_LOAD_RELAXED(&s->chunk_size);
  uint32_t idx = chunk ? off / chunk : 0;
  if (idx >= OHI_LOAD_RELAXED(&s->nchunks))
    return ohi_fail(EFAULT, "%s: pointer %p lies in the unused tail of a %s slab", fn, p, owner_name(h));
  return ohi_fail(EFAULT, "%s: pointer %p is inside the chunk at %p (chunk size %u), not its start", fn, p,
                  (void *)(OHI_LOAD_RELAXED(&sp->base) + (uintptr_t)idx * chunk), chunk);
}

/* Classifies p for heap h without touching p. On success stores the span and
 * the state word (a chunk's, or a large span's refcount). */
OHI_INLINE int find_chunk(oh_slab_t *h, const void *p, const char *fn, ohi_span_t **spanp, uint32_t **wp) {
  ohi_span_t *sp = ohi_region_lookup(p);
  if (OHI_UNLIKELY(sp == NULL)) return find_chunk_fail(h, p, fn, sp, 0);
  uint32_t kind = __atomic_load_n(&sp->kind, __ATOMIC_ACQUIRE);
  uintptr_t base = OHI_LOAD_RELAXED(&sp->base);
  if (OHI_LIKELY(kind == OHI_SPAN_SLAB && OHI_LOAD_RELAXED(&sp->owner) == h && (uintptr_t)p >= base)) {
    ohi_slab_t *s = (ohi_slab_t *)sp;
    uint32_t off = (uint32_t)((uintptr_t)p - base); /* < slab size: the granules are the slab's */
    uint32_t idx = ohi_fast_div(OHI_LOAD_RELAXED(&s->div_magic), off);
    if (OHI_LIKELY(idx < OHI_LOAD_RELAXED(&s->nchunks) && idx * OHI_LOAD_RELAXED(&s->chunk_size) == off)) {
      *spanp = sp;
      *wp = slab_words(s) + idx;
      return 0;
    }
  } else if (kind == OHI_SPAN_LARGE && OHI_LOAD_RELAXED(&sp->owner) == h && (uintptr_t)p == base) {
    *spanp = sp;
    *wp = &((ohi_large_t *)sp)->refcount;
    return 0;
  }
  return find_chunk_fail(h, p, fn, sp, kind);
}

int ohi_heap_release(oh_slab_t *h, void *p, int mode, const char *fn) {
  ohi_span_t *sp = NULL;
  uint32_t *w = NULL;
  if (OHI_UNLIKELY(find_chunk(h, p, fn, &sp, &w) != 0)) return -1;
  uint32_t old = OHI_LOAD_ACQUIRE(w), nw;
  do {
    if (OHI_UNLIKELY(OHI_W_IS_FREE(old))) {
      if (mode == RELEASE_DECREF)
        return ohi_fail(EALREADY, "%s: pointer %p has no references left (already freed, or decref below zero)", fn, p);
      return ohi_fail(EALREADY, "%s: pointer %p is already free (double free or stale pointer)", fn, p);
    }
    if (old == 1) nw = OHI_W_CACHED;
    else if (mode == RELEASE_FREE)
      return ohi_fail(EBUSY, "%s: pointer %p still has %u references; use decref", fn, p, old);
    else nw = old - 1;
  } while (!OHI_CAS(w, &old, nw));
  if (old > 1) return 0;
  if (sp->kind == OHI_SPAN_LARGE) {
    if (OHI_UNLIKELY(ohi_opt(OH_OPT_DEBUG))) memset(p, 0xdf, sp->size);
    large_free(h, (ohi_large_t *)sp);
  } else {
    chunk_released(h, (ohi_slab_t *)sp, p, w);
  }
  return 1;
}

/* ---- public API: the process-wide allocator ------------------------------------ */

void *oh_alloc(size_t n) {
  oh_slab_t *h = get_default();
  if (OHI_UNLIKELY(h == NULL)) return NULL; /* heap_new reported ENOMEM */
  return ohi_heap_alloc(h, n, "oh_alloc");
}

void *oh_calloc(size_t n) {
  oh_slab_t *h = get_default();
  if (OHI_UNLIKELY(h == NULL)) return NULL;
  /* Fresh whole-page spans come zeroed from the OS: large_alloc zeroes only reused ones. */
  if (n > h->slab_size) return large_alloc(h, n, true, "oh_calloc");
  void *p = ohi_heap_alloc(h, n, "oh_calloc");
  if (p != NULL) memset(p, 0, n);
  return p;
}

int oh_free(void *p) {
  if (p == NULL) return 0;
  oh_slab_t *h = __atomic_load_n(&default_heap, __ATOMIC_ACQUIRE);
  if (h == NULL) /* nothing was ever allocated, so p cannot be ours */
    return ohi_fail(EINVAL, "oh_free: pointer %p was not allocated by offheap (nothing was allocated yet)", p);
  return ohi_heap_release(h, p, RELEASE_FREE, "oh_free") < 0 ? -1 : 0;
}

size_t oh_usable_size(const void *p) {
  oh_slab_t *h = __atomic_load_n(&default_heap, __ATOMIC_ACQUIRE);
  if (h == NULL) {
    ohi_fail(EINVAL, "oh_usable_size: pointer %p was not allocated by offheap (nothing was allocated yet)", p);
    return 0;
  }
  return oh_slab_usable_size(h, p);
}

/* ---- public API: slab instances ------------------------------------------------ */

#define CHECK_HEAP(h, fn, ret)                                           \
  do {                                                                   \
    if (OHI_UNLIKELY((h) == NULL)) {                                     \
      ohi_fail(EINVAL, "%s: NULL slab", fn);                             \
      return ret;                                                        \
    }                                                                    \
  } while (0)

void *oh_slab_alloc(oh_slab_t *s, size_t n) {
  CHECK_HEAP(s, "oh_slab_alloc", NULL);
  return ohi_heap_alloc(s, n, "oh_slab_alloc");
}

int oh_slab_decref(oh_slab_t *s, void *p) {
  CHECK_HEAP(s, "oh_slab_decref", -1);
  return ohi_heap_release(s, p, RELEASE_DECREF, "oh_slab_decref");
}

int oh_slab_addref(oh_slab_t *s, void *p) {
  CHECK_HEAP(s, "oh_slab_addref", -1);
  ohi_span_t *sp = NULL;
  uint32_t *w = NULL;
  if (find_chunk(s, p, "oh_slab_addref", &sp, &w) != 0) return -1;
  uint32_t old = OHI_LOAD_ACQUIRE(w);
  do {
    if (OHI_W_IS_FREE(old)) return ohi_fail(EALREADY, "oh_slab_addref: pointer %p is free (use after free)", p);
    if (old >= OH_REFCOUNT_MAX)
      return ohi_fail(EOVERFLOW, "oh_slab_addref: pointer %p already has the maximum of %u references", p,
                      OH_REFCOUNT_MAX);
  } while (!OHI_CAS(w, &old, old + 1));
  return 0;
}

long oh_slab_refcount(oh_slab_t *s, const void *p) {
  CHECK_HEAP(s, "oh_slab_refcount", -1);
  ohi_span_t *sp = NULL;
  uint32_t *w = NULL;
  if (find_chunk(s, p, "oh_slab_refcount", &sp, &w) != 0) return -1;
  uint32_t v = OHI_LOAD_ACQUIRE(w);
  return OHI_W_IS_FREE(v) ? 0 : (long)v;
}

size_t oh_slab_usable_size(oh_slab_t *s, const void *p) {
  CHECK_HEAP(s, "oh_slab_usable_size", 0);
  ohi_span_t *sp = NULL;
  uint32_t *w = NULL;
  if (find_chunk(s, p, "oh_usable_size", &sp, &w) != 0) return 0;
  if (OHI_W_IS_FREE(OHI_LOAD_ACQUIRE(w))) {
    ohi_fail(EALREADY, "oh_usable_size: pointer %p is free", p);
    return 0;
  }
  return sp->kind == OHI_SPAN_LARGE ? sp->size : ((ohi_slab_t *)sp)->chunk_size;
}

int oh_slab_class_count(oh_slab_t *s) {
  CHECK_HEAP(s, "oh_slab_class_count", -1);
  return (int)s->nclasses;
}

size_t oh_slab_class_size(oh_slab_t *s, int i) {
  CHECK_HEAP(s, "oh_slab_class_size", 0);
  if (i < 0 || (unsigned)i >= s->nclasses) {
    ohi_fail(EINVAL, "oh_slab_class_size: class %d is out of range (0 .. %u)", i, s->nclasses - 1);
    return 0;
  }
  return s->classes[i].chunk_size;
}

/* Takes up to n chunks of class cls into out, 64 per lock hold, with their
 * words set to state (1: allocated, counted as allocations; CACHED: for a
 * binding's cache, which counts its own). Returns how many it took. */
static size_t take_batch(oh_slab_t *h, unsigned cls, void **out, size_t n, uint32_t state, ohi_affinity_t *aff) {
  ohi_class_t *c = &h->classes[cls];
  ohi_item_t items[64];
  size_t done = 0;
  while (done < n) {
    uint32_t want = n - done > 64 ? 64 : (uint32_t)(n - done);
    ohi_lock(&c->lock);
    uint32_t got = class_take(h, cls, items, want, state, aff);
    if (state == 1) c->allocs += got;
    ohi_unlock(&c->lock);
    for (uint32_t i = 0; i < got; i++) out[done + i] = items[i].p;
    done += got;
    if (got < want) break;
  }
  return done;
}

size_t oh_slab_alloc_batch(oh_slab_t *s, int cls, void **out, size_t n) {
  CHECK_HEAP(s, "oh_slab_alloc_batch", 0);
  if (cls < 0 || (unsigned)cls >= s->nclasses || out == NULL) {
    ohi_fail(EINVAL, "oh_slab_alloc_batch: class %d is out of range (0 .. %u) or out is NULL", cls, s->nclasses - 1);
    return 0;
  }
  size_t done = take_batch(s, (unsigned)cls, out, n, 1, NULL);
  if (done == 0 && n > 0) ohi_fail(ENOMEM, "oh_slab_alloc_batch: the OS refused a new slab of %zu bytes", s->slab_size);
  return done;
}

int oh_slab_free_batch(oh_slab_t *s, void *const *ptrs, size_t n, size_t *bad) {
  CHECK_HEAP(s, "oh_slab_free_batch", -1);
  if (ptrs == NULL && n > 0) return ohi_fail(EINVAL, "oh_slab_free_batch: NULL array");
  for (size_t i = 0; i < n; i++) {
    if (ohi_heap_release(s, ptrs[i], RELEASE_FREE, "oh_slab_free_batch") < 0) {
      if (bad) *bad = i;
      return -1;
    }
  }
  return 0;
}

/* ---- batch transfer for language-side caches -------------------------------------
 * A binding that keeps its own cache (the Go package keeps one per P) moves
 * chunks in the CACHED state: it takes a batch, sets a chunk's word to 1 when
 * it hands the chunk out, claims a released chunk by a CAS of its word from 1
 * to CACHED after checking it through the region map (without a call), and
 * returns claimed chunks in batches. The allocator's own invariants hold
 * throughout: a CACHED chunk counts as in use by its slab. */

size_t ohi_heap_take_cached(oh_slab_t *h, int cls, void **out, size_t n, ohi_affinity_t *aff) {
  size_t got = take_batch(h, (unsigned)cls, out, n, OHI_W_CACHED, aff);
  /* The binding hands them out without calling in again. */
  for (size_t i = 0; i < got; i++) OHI_ASAN_UNPOISON(out[i], h->classes[cls].chunk_size);
  return got;
}

void ohi_heap_return_cached(oh_slab_t *h, int cls, void *const *ptrs, size_t n, uint64_t allocs, uint64_t frees) {
  ohi_class_t *c = &h->classes[cls];
  bool emptied = false;
  uint64_t now = 0;
  ohi_lock(&c->lock);
  c->allocs += allocs;
  c->frees += frees;
  for (size_t i = 0; i < n; i++) {
    ohi_slab_t *s = (ohi_slab_t *)ohi_region_lookup(ptrs[i]);
    uint32_t idx = ohi_fast_div(s->div_magic, (uint32_t)((uintptr_t)ptrs[i] - s->span.base));
    emptied |= class_return(h, c, s, slab_words(s) + idx, &now);
  }
  ohi_unlock(&c->lock);
  if (emptied) after_empty(h);
}

/* ---- leak report ---------------------------------------------------------------- */

static void leaks_in_list(ohi_slab_t *s, int cls, oh_leak_fn fn, void *arg, size_t *count) {
  for (; s != NULL; s = s->next) {
    uint32_t *words = slab_words(s);
    for (uint32_t i = 0; i < s->bump; i++) {
      uint32_t w = OHI_LOAD_ACQUIRE(&words[i]);
      if (OHI_W_IS_FREE(w)) continue;
      (*count)++;
      if (fn) fn((void *)(s->span.base + (uintptr_t)i * s->chunk_size), s->chunk_size, (long)w, cls, arg);
    }
  }
}

size_t oh_slab_leaks(oh_slab_t *s, oh_leak_fn fn, void *arg) {
  if (s == NULL) s = __atomic_load_n(&default_heap, __ATOMIC_ACQUIRE);
  if (s == NULL) return 0; /* the process-wide instance was never used */
  size_t count = 0;
  for (unsigned i = 0; i < s->nclasses; i++) {
    ohi_class_t *c = &s->classes[i];
    ohi_lock(&c->lock);
    leaks_in_list(c->partial, (int)i, fn, arg, &count);
    leaks_in_list(c->full, (int)i, fn, arg, &count);
    ohi_unlock(&c->lock);
  }
  ohi_lock(&s->large_lock);
  for (ohi_large_t *l = s->large; l != NULL; l = l->next) {
    count++;
    if (fn) fn((void *)l->span.base, l->span.size, (long)OHI_LOAD_ACQUIRE(&l->refcount), -1, arg);
  }
  ohi_unlock(&s->large_lock);
  return count;
}

/* ---- destroy --------------------------------------------------------------------- */

static void free_slab_list(oh_slab_t *h, ohi_slab_t *s) {
  while (s != NULL) {
    ohi_slab_t *next = s->next;
    ohi_region_set(s->span.base, h->slab_size, NULL);
    ohi_pages_unmap((void *)s->span.base, h->slab_size);
    ohi_meta_free(s, s->meta_size);
    s = next;
  }
}

static void heap_stats_locked(oh_slab_t *h, oh_stats_t *out, bool classes);
/* Operations of destroyed heaps, so that oh_stats stays cumulative. Under
 * registry_lock. */
static uint64_t retired_allocs, retired_frees;

int ohi_heap_destroy(oh_slab_t *h, const char *fn) {
  if (h == NULL) return ohi_fail(EINVAL, "%s: NULL instance", fn);
  if (h == __atomic_load_n(&default_heap, __ATOMIC_ACQUIRE))
    return ohi_fail(EINVAL, "%s: the process-wide instance cannot be destroyed", fn);
  ohi_lock(&registry_lock);
  {
    static oh_stats_t last; /* registry_lock held: one user at a time */
    memset(&last, 0, sizeof last);
    heap_stats_locked(h, &last, false);
    retired_allocs += last.allocs;
    retired_frees += last.frees;
  }
  if (h->prev) h->prev->next = h->next;
  else heaps = h->next;
  if (h->next) h->next->prev = h->prev;
  if (h->slot >= 0) slots[h->slot] = NULL;
  /* Other threads' caches of this heap are orphaned; their owners free them
   * when they next use the slot or exit. Ours goes now. */
  for (ohi_tcache_t *tc = h->tcaches; tc != NULL; tc = tc->next) OHI_STORE_RELAXED(&tc->heap_id, 0);
  h->tcaches = NULL;
  ohi_unlock(&registry_lock);
  if (h->slot >= 0 && tls_caches[h->slot] != NULL && tls_caches[h->slot]->heap == h) {
    ohi_meta_free(tls_caches[h->slot], tls_caches[h->slot]->meta_size);
    tls_caches[h->slot] = NULL;
  }
  for (unsigned i = 0; i < h->nclasses; i++) {
    ohi_class_t *c = &h->classes[i];
    ohi_lock(&c->lock);
    free_slab_list(h, c->partial);
    free_slab_list(h, c->full);
    free_slab_list(h, c->empty);
    ohi_unlock(&c->lock);
    ohi_lock_destroy(&c->lock);
  }
  OHI_STORE_RELAXED(&h->empty_bytes, 0);
  for (ohi_large_t *l = h->large, *next; l != NULL; l = next) {
    next = l->next;
    large_unmap(l);
  }
  for (ohi_large_t *l = h->large_free, *next; l != NULL; l = next) {
    next = l->next;
    large_unmap(l);
  }
  OHI_STORE_RELAXED(&h->large, NULL);
  OHI_STORE_RELAXED(&h->large_free, NULL);
  ohi_lock_destroy(&h->large_lock);
  ohi_meta_free(h, h->meta_size);
  return 0;
}

int oh_slab_destroy(oh_slab_t *s) { return ohi_heap_destroy(s, "oh_slab_destroy"); }

/* ---- purging ----------------------------------------------------------------------- */

size_t ohi_heap_purge(oh_slab_t *h, uint64_t now, bool force, uint64_t *next_deadline) {
  long long delay = ohi_opt(OH_OPT_PURGE_DELAY_MS);
  if (delay < 0 && !force) return 0;
  uint64_t retain = delay > 0 && !force ? (uint64_t)ohi_opt(OH_OPT_RETAIN_BYTES) : 0;
  size_t bytes = large_purge(h, now, delay, force, next_deadline);
  for (unsigned i = 0; i < h->nclasses; i++) {
    ohi_class_t *c = &h->classes[i];
    if (OHI_LOAD_RELAXED(&c->empty) == NULL) continue;
    ohi_slab_t *victims = NULL;
    ohi_lock(&c->lock);
    ohi_slab_t *s = c->empty;
    while (s != NULL && s->next != NULL) s = s->next; /* oldest at the tail */
    while (s != NULL) {
      ohi_slab_t *prev = s->prev;
      if (!force && OHI_LOAD_RELAXED(&h->empty_bytes) <= retain) break;
      if (!force && now < s->empty_since_ms + (uint64_t)delay) {
        uint64_t due = s->empty_since_ms + (uint64_t)delay;
        if (next_deadline && (*next_deadline == 0 || due < *next_deadline)) *next_deadline = due;
        break;
      }
      list_remove(c, s);
      c->empty_count--;
      c->slabs--;
      OHI_FETCH_SUB(&h->empty_bytes, h->slab_size);
      s->next = victims;
      victims = s;
      s = prev;
    }
    ohi_unlock(&c->lock);
    while (victims != NULL) {
      ohi_slab_t *next = victims->next;
      size_t dec = slab_release(h, victims);
      bytes += dec;
      OHI_FETCH_ADD(&ohi_counters.purges, 1);
      OHI_FETCH_ADD(&h->purge_count, 1);
      OHI_FETCH_ADD(&h->purged_bytes, dec);
      victims = next;
    }
  }
  return bytes;
}

static uint64_t tcache_ops(oh_slab_t *h, ohi_tcache_t *tc) {
  uint64_t ops = 0;
  for (unsigned i = 0; i < h->nclasses; i++) ops += OHI_LOAD_RELAXED(&tc->allocs[i]) + OHI_LOAD_RELAXED(&tc->frees[i]);
  return ops;
}

static bool tcache_holds_chunks(oh_slab_t *h, ohi_tcache_t *tc) {
  for (unsigned i = 0; i < h->nclasses; i++)
    if (OHI_LOAD_RELAXED(&tc->bins[i].count) != 0) return true;
  return false;
}

/* Drains the caches of threads that made no cache operation for a purge
 * delay (all caches when force). registry_lock held. The stealer's side of
 * the handshake described at struct ohi_tcache_s. */
static void heap_drain_idle_caches(oh_slab_t *h, uint64_t now, bool force, uint64_t *next_deadline) {
  long long delay = ohi_opt(OH_OPT_PURGE_DELAY_MS);
  if (delay < 0 && !force) return;
  for (ohi_tcache_t *tc = h->tcaches; tc != NULL; tc = tc->next) {
    if (!tcache_holds_chunks(h, tc)) continue;
    uint64_t ops = tcache_ops(h, tc);
    uint64_t idle = OHI_IDLE_MS(delay);
    if (!force && (ops != tc->seen_ops || now < tc->seen_ms + idle)) {
      if (ops != tc->seen_ops) {
        tc->seen_ops = ops;
        tc->seen_ms = now;
      }
      uint64_t due = tc->seen_ms + idle;
      if (next_deadline && (*next_deadline == 0 || due < *next_deadline)) *next_deadline = due;
      continue;
    }
    OHI_STORE_RELAXED(&tc->steal, 1u);
    if (ohi_os_process_barrier() != 0) { /* no barrier: leave the cache to its owner */
      OHI_STORE_RELEASE(&tc->steal, 0u);
      return;
    }
    while (OHI_LOAD_ACQUIRE(&tc->in_op) != 0) sched_yield();
    tcache_flush_all(h, tc);
    tc->seen_ops = tcache_ops(h, tc);
    OHI_STORE_RELEASE(&tc->steal, 0u);
  }
}

size_t ohi_heaps_purge_all(uint64_t now, bool force, uint64_t *next_deadline) {
  size_t bytes = 0;
  ohi_lock(&registry_lock);
  for (oh_slab_t *h = heaps; h != NULL; h = h->next) {
    heap_drain_idle_caches(h, now, force, next_deadline);
    bytes += ohi_heap_purge(h, now, force, next_deadline);
  }
  ohi_unlock(&registry_lock);
  return bytes;
}

size_t oh_slab_purge(oh_slab_t *s) {
  CHECK_HEAP(s, "oh_slab_purge", 0);
  uint64_t now = ohi_os_now_ms();
  ohi_lock(&registry_lock);
  heap_drain_idle_caches(s, now, true, NULL);
  size_t bytes = ohi_heap_purge(s, now, true, NULL);
  ohi_unlock(&registry_lock);
  return bytes;
}

size_t oh_purge(void) {
  ohi_options_init();
  oh_thread_flush();
  return ohi_heaps_purge_all(ohi_os_now_ms(), true, NULL);
}

/* ---- statistics ---------------------------------------------------------------------- */

/* Adds heap h's figures to out; per-class rows when classes is true. Called
 * with registry_lock held (so its thread caches cannot go away). */
static void heap_stats_locked(oh_slab_t *h, oh_stats_t *out, bool classes) {
  for (unsigned i = 0; i < h->nclasses; i++) {
    ohi_class_t *c = &h->classes[i];
    uint64_t cached = 0, allocs = 0, frees = 0;
    for (ohi_tcache_t *tc = h->tcaches; tc != NULL; tc = tc->next) {
      cached += OHI_LOAD_RELAXED(&tc->bins[i].count);
      allocs += OHI_LOAD_RELAXED(&tc->allocs[i]);
      frees += OHI_LOAD_RELAXED(&tc->frees[i]);
    }
    ohi_lock(&c->lock);
    uint64_t in_use = c->in_use - cached, slabs = c->slabs, empties = c->empty_count;
    out->mapped_bytes += classes ? slabs * h->slab_size : 0; /* instance figures only */
    allocs += c->allocs;
    frees += c->frees;
    ohi_unlock(&c->lock);
    out->in_use_bytes += in_use * c->chunk_size;
    out->allocs += allocs;
    out->frees += frees;
    out->slabs_empty += empties;
    if (classes) {
      oh_class_stats_t *cs = &out->classes[i];
      cs->chunk_size = c->chunk_size;
      cs->slabs = slabs;
      cs->chunks_in_use = in_use;
      cs->chunks_cached = cached;
      cs->allocs = allocs;
      cs->frees = frees;
    }
  }
  if (classes) out->class_count = h->nclasses;
  ohi_lock(&h->large_lock);
  if (classes) out->mapped_bytes += h->large_bytes + h->large_free_bytes;
  out->in_use_bytes += h->large_bytes;
  out->large_in_use += h->large_count;
  out->allocs += h->large_allocs;
  out->frees += h->large_frees;
  ohi_unlock(&h->large_lock);
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
  ohi_lock(&registry_lock);
  for (oh_slab_t *h = heaps; h != NULL; h = h->next) heap_stats_locked(h, out, false);
  out->allocs += retired_allocs;
  out->frees += retired_frees;
  ohi_unlock(&registry_lock);
  out->slabs_decommitted = ohi_segment_cache_count();
  return 0;
}

int oh_slab_stats(oh_slab_t *s, oh_stats_t *out) {
  CHECK_HEAP(s, "oh_slab_stats", -1);
  if (out == NULL) return ohi_fail(EINVAL, "oh_slab_stats: NULL output");
  memset(out, 0, sizeof *out);
  out->version = OH_STATS_VERSION;
  ohi_lock(&registry_lock);
  heap_stats_locked(s, out, true);
  ohi_unlock(&registry_lock);
  /* An instance's slabs and large spans are committed while it holds them:
   * the purge policy gives decommitted memory to the shared segment cache. */
  out->committed_bytes = out->mapped_bytes;
  out->decommitted_bytes = OHI_LOAD_RELAXED(&s->purged_bytes);
  out->purges = OHI_LOAD_RELAXED(&s->purge_count);
  return 0;
}
