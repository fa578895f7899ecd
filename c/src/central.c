/* central.c - slabs, their free lists, and each class's central lists. See
 * heap.c for the overview.
 *
 * A slab has two free lists, both threaded through its chunks' state words:
 *   local   free_head: used by whoever holds the slab - its owning thread
 *           cache without a lock, or, for a central slab (owner NULL), anyone
 *           holding the class lock;
 *   remote  xfree: a lock-free stack other threads push freed chunks on; only
 *           the holder pops it, all at once (ohi_slab_collect), so it has no
 *           ABA problem.
 * Central slabs sit on their class's partial, full or empty list. A thread
 * cache adopts a central slab (or a new one) when it needs room, and abandons
 * its slabs back here when its thread exits, flushes, or sits idle (purge.c).
 *
 * Pages: a slab's segment is reserved, not committed, until chunks are handed
 * out (touched grows page by page); the purge policy decommits whole pages of
 * free chunks (purge.c: slab_purge) and records them in the slab's bitmap
 * (dpages), and a chunk handed out over decommitted pages clears their bits.
 */
#include "internal.h"

/* Bump extensions commit this much ahead, so the global counter is touched
 * once per 64 KiB rather than once per chunk. */
#define TOUCH_STEP ((size_t)64 << 10)
#define POISON_BYTE 0xdf

/* ---- lists ------------------------------------------------------------------ */

/* Heads are peeked without the lock: relaxed stores. */
void ohi_list_remove(ohi_slab_t **head, ohi_slab_t *s) {
  if (s->prev) s->prev->next = s->next;
  else OHI_STORE_RELAXED(head, s->next);
  if (s->next) s->next->prev = s->prev;
  s->next = s->prev = NULL;
}

void ohi_list_push(ohi_slab_t **head, ohi_slab_t *s) {
  s->prev = NULL;
  s->next = *head;
  if (*head) (*head)->prev = s;
  OHI_STORE_RELAXED(head, s);
}

ohi_slab_t **ohi_central_list(ohi_class_t *c, uint32_t list) {
  return list == OHI_LIST_PARTIAL ? &c->partial : list == OHI_LIST_FULL ? &c->full : &c->empty;
}

void ohi_central_unlink(oh_slab_t *h, ohi_class_t *c, ohi_slab_t *s) {
  if (s->list == OHI_LIST_NONE || s->list == OHI_LIST_OWNED) return;
  if (s->fmap != NULL) ohi_rbucket_unlink(&h->central_runs, s);
  if (s->list == OHI_LIST_EMPTY) {
    c->empty_count--;
    OHI_FETCH_SUB(&h->empty_bytes, h->slab_size);
  }
  ohi_list_remove(ohi_central_list(c, s->list), s);
  s->list = OHI_LIST_NONE;
}

void ohi_central_place(oh_slab_t *h, ohi_class_t *c, ohi_slab_t *s, uint64_t *now) {
  uint32_t want = s->used == 0                                          ? OHI_LIST_EMPTY
                  : (s->free_head != OHI_W_END || s->bump < s->nchunks) ? OHI_LIST_PARTIAL
                                                                        : OHI_LIST_FULL;
  if (s->list == want) {
    if (s->fmap != NULL) ohi_rbucket_update(&h->central_runs, s); /* its longest free run changed, maybe */
    return;
  }
  ohi_central_unlink(h, c, s);
  if (want == OHI_LIST_EMPTY) {
    if (*now == 0) *now = ohi_os_now_ms(); /* read the clock only when needed */
    s->empty_since_ms = *now;
    c->empty_count++;
    OHI_FETCH_ADD(&h->empty_bytes, h->slab_size);
  }
  ohi_list_push(ohi_central_list(c, want), s);
  s->list = want;
  if (s->fmap != NULL) ohi_rbucket_link(&h->central_runs, s);
}

/* ---- slab lifecycle ------------------------------------------------------------ */

ohi_slab_t *ohi_slab_create(oh_slab_t *h, unsigned cls) {
  ohi_class_t *c = &h->classes[cls];
  size_t pages = h->slab_size / ohi_os_page_size();
  size_t words = (size_t)c->nchunks * sizeof(uint32_t);
  size_t words_padded = (words + 7) & ~(size_t)7;
  bool runs = cls == h->run_class;
  size_t mapw = (pages + 63) / 64; /* words of a page bitmap */
  bool pw = !runs && (size_t)c->chunk_size * OHI_PW_CHUNKS <= ohi_os_page_size();
  size_t meta = sizeof(ohi_slab_t) + words_padded + mapw * sizeof(uint64_t) * (runs || pw ? 2 : 1) + (pw ? pages : 0) +
                (runs ? (OHI_RUNC_PAGES + 1) * sizeof(uint32_t) : 0);
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
  OHI_STORE_RELAXED(&s->words, ohi_slab_words(s));
  s->dpages = (uint64_t *)((char *)ohi_slab_words(s) + words_padded);
  s->fmap = runs ? s->dpages + mapw : NULL;
  s->pw_free = pw ? s->dpages + mapw : NULL;
  s->pw_age = pw ? (uint8_t *)(s->pw_free + mapw) : NULL;
  s->qhead = runs ? (uint32_t *)(s->fmap + mapw) : NULL;
  s->meta_size = meta;
  s->free_head = OHI_W_END;
  OHI_STORE_RELAXED(&s->xfree, OHI_W_END);
  if (ohi_opt(OH_OPT_HUGEPAGES)) ohi_os_hugepage_hint(seg, h->slab_size);
  if (runs) ohi_run_init(s);
  ohi_span_publish(&s->span, (uintptr_t)seg, h->slab_size, runs ? OHI_SPAN_RUNS : OHI_SPAN_SLAB, h);
  if (ohi_region_set(s->span.base, h->slab_size, &s->span) != 0) {
    ohi_segment_give(seg, h->slab_shift);
    ohi_meta_free(s, meta);
    errno = ENOMEM;
    return NULL;
  }
  OHI_FETCH_ADD(&c->slabs, 1);
  return s;
}

void ohi_slab_mark_decommitted(ohi_slab_t *s, size_t first, size_t last) {
  for (size_t k = first; k < last; k++) s->dpages[k / 64] |= (uint64_t)1 << (k % 64);
}

bool ohi_slab_committed_run(const ohi_slab_t *s, size_t *pg, size_t last, size_t *end) {
  size_t a = *pg;
  while (a < last && ohi_slab_page_decommitted(s, a)) a++;
  if (a >= last) return false;
  size_t e = a + 1;
  while (e < last && !ohi_slab_page_decommitted(s, e)) e++;
  *pg = a;
  *end = e;
  return true;
}

/* Decommits the pages [first, last) of s not yet decommitted and marks them;
 * returns bytes decommitted. A refused decommit leaves its pages marked
 * committed (nothing is lost; a later pass tries again). */
size_t ohi_slab_decommit_pages(ohi_slab_t *s, size_t first, size_t last, bool *failed) {
  size_t ps = ohi_os_page_size(), done = 0;
  for (size_t pg = first, end; ohi_slab_committed_run(s, &pg, last, &end); pg = end) {
    if (ohi_pages_decommit((void *)(s->span.base + pg * ps), (end - pg) * ps) != 0) {
      ohi_slab_mark_decommitted(s, pg, end);
      done += (end - pg) * ps;
    } else if (failed) {
      *failed = true;
    }
  }
  return done;
}

size_t ohi_slab_release(oh_slab_t *h, ohi_slab_t *s) {
  void *seg = (void *)s->span.base;
  size_t ps = ohi_os_page_size();
  ohi_region_set(s->span.base, h->slab_size, NULL);
  if (s->guarded) ohi_os_protect(seg, h->slab_size, 1); /* the next owner gets it whole */
  OHI_ASAN_UNPOISON(seg, h->slab_size);
  bool failed = false;
  size_t dec = ohi_slab_decommit_pages(s, 0, s->touched / ps, &failed);
  size_t committed = 0;
  for (size_t pg = 0; pg < s->touched / ps; pg++)
    if (!ohi_slab_page_decommitted(s, pg)) committed += ps;
  OHI_FETCH_SUB(&h->classes[s->class_index].slabs, 1);
  if (failed) { /* the OS refused: unmap instead of caching committed memory */
    ohi_pages_unmap_accounted(seg, h->slab_size, committed);
  } else {
    ohi_segment_give(seg, h->slab_shift);
  }
  ohi_meta_free(s, s->meta_size);
  return dec;
}

/* ---- free lists -------------------------------------------------------------------- */

uint32_t ohi_slab_collect(ohi_slab_t *s) {
  if (OHI_LOAD_RELAXED(&s->xfree) == OHI_W_END) return 0;
  if (OHI_UNLIKELY(s->fmap != NULL)) return ohi_run_collect(s);
  uint32_t idx = OHI_EXCHANGE(&s->xfree, OHI_W_END);
  uint32_t *words = ohi_slab_words(s), n = 0;
  while (idx != OHI_W_END) {
    uint32_t w = OHI_LOAD_RELAXED(&words[idx]);
    uint32_t next = w & OHI_W_NEXT;
    OHI_STORE_RELAXED(&words[idx], OHI_W_FREE | (w & (OHI_W_GUARD | OHI_W_POISON)) | s->free_head);
    if (w & OHI_W_GUARD) s->guarded++;
    s->free_head = idx;
    idx = next;
    n++;
  }
  s->used -= n;
  s->puts += n;
  return n;
}

OHI_NOINLINE void ohi_slab_mark_dirty(ohi_slab_t *s) {
  OHI_STORE_RELAXED(&s->dirty, 1u);
  OHI_FETCH_ADD(&ohi_dirty_epoch, 1);
  ohi_purge_notify_dirty();
}

static void mark_dirty(ohi_slab_t *s) {
  if (OHI_LIKELY(OHI_LOAD_RELAXED(&s->dirty) != 0)) return;
  ohi_slab_mark_dirty(s);
}

void ohi_slab_push(ohi_slab_t *s, uint32_t idx, uint32_t flags) {
  OHI_STORE_RELEASE(&ohi_slab_words(s)[idx], OHI_W_FREE | flags | s->free_head);
  s->free_head = idx;
  s->used--;
  s->puts++;
  mark_dirty(s);
}

void ohi_slab_push_remote(oh_slab_t *h, ohi_slab_t *s, uint32_t idx, uint32_t flags) {
  /* Everything that reads or writes the slab happens before the CAS: once the
   * chunk is on the stack its owner may collect it, find the slab empty and
   * release the descriptor. */
  ohi_class_t *c = &h->classes[s->class_index];
  mark_dirty(s);
  uint32_t *w = &ohi_slab_words(s)[idx];
  uint32_t head = OHI_LOAD_RELAXED(&s->xfree);
  do OHI_STORE_RELAXED(w, OHI_W_CACHED | flags | head);
  while (!__atomic_compare_exchange_n(&s->xfree, &head, idx, true, __ATOMIC_RELEASE, __ATOMIC_RELAXED));
  /* The first pending free tells the owners of the class to look (once per
   * collection, not per free). */
  if (head == OHI_W_END) __atomic_fetch_add(&c->remote_epoch, 1, __ATOMIC_RELEASE);
}

/* Extends s->touched to cover the chunk ending at byte end, committing a
 * step ahead. */
static void touch_to(ohi_slab_t *s, size_t end, size_t slab_size) {
  if (end <= s->touched) return;
  size_t ps = ohi_os_page_size();
  size_t to = (end + TOUCH_STEP - 1) & ~(TOUCH_STEP - 1);
  if (to > slab_size) to = (end + ps - 1) & ~(ps - 1);
  if (to > slab_size) to = slab_size;
  ohi_pages_commit_account(to - s->touched);
  s->touched = to;
}

/* A chunk handed out over decommitted pages: its pages are committed again
 * (by the OS, on first touch), so their bits go. Returns whether every byte
 * of the chunk was in a decommitted page (and so reads as zero). */
static bool recommit_chunk(ohi_slab_t *s, uint32_t idx, bool poison) {
  size_t ps = ohi_os_page_size();
  size_t start = (size_t)idx * s->chunk_size, end = start + s->chunk_size;
  size_t first = start / ps, last = (end + ps - 1) / ps;
  bool all = true;
  size_t n = 0;
  for (size_t pg = first; pg < last; pg++) {
    if (ohi_slab_page_decommitted(s, pg)) {
      s->dpages[pg / 64] &= ~((uint64_t)1 << (pg % 64));
      n++;
      /* Debug: the free neighbours sharing this page read as zero now that
       * it no longer counts as decommitted; they held poison, so they get it
       * back (a decommitted page's chunks are all free). */
      if (poison) {
        char *pb = (char *)s->span.base + pg * ps;
        size_t lo = pg * ps < start ? start - pg * ps : 0, hi = (pg + 1) * ps > end ? end - pg * ps : ps;
        /* never past the bump: chunks there were never handed out and read as zero */
        size_t limit = (size_t)s->bump * s->chunk_size - pg * ps;
        size_t top = limit < ps ? limit : ps;
        OHI_ASAN_UNPOISON(pb, lo);
        memset(pb, POISON_BYTE, lo);
        OHI_ASAN_POISON(pb, lo);
        if (top > hi) {
          OHI_ASAN_UNPOISON(pb + hi, top - hi);
          memset(pb + hi, POISON_BYTE, top - hi);
          OHI_ASAN_POISON(pb + hi, top - hi);
        }
      }
    } else {
      all = false;
    }
  }
  ohi_pages_commit_account(n * ps);
  return all && ohi_decommitted_reads_zero();
}

void *ohi_slab_pop_slow(oh_slab_t *h, ohi_slab_t *s, uint32_t state, bool *zeroed) {
  uint32_t *words = ohi_slab_words(s);
  uint32_t idx;
  bool zero = false;
  if (s->free_head != OHI_W_END) {
    idx = s->free_head;
    uint32_t w = OHI_LOAD_RELAXED(&words[idx]);
    s->free_head = w & OHI_W_NEXT;
    if (OHI_UNLIKELY(w & OHI_W_GUARD)) {
      ohi_chunk_guard(ohi_chunk_ptr(s, idx), s->chunk_size, false);
      s->guarded--;
    }
    if (OHI_UNLIKELY(w & OHI_W_POISON)) ohi_chunk_debug_handout(s, idx, w); /* before the pages count as committed */
    if (w & OHI_W_DECOMMITTED) zero = recommit_chunk(s, idx, ohi_opt(OH_OPT_DEBUG) != 0);
  } else if (s->bump < s->nchunks) {
    idx = s->bump++;
    touch_to(s, (size_t)s->bump * s->chunk_size, h->slab_size);
    /* Never handed out: reserved pages, or a decommitted segment's, or pages
     * a purge of the free tail decommitted (their bits go: a page marked
     * decommitted overlaps free chunks only). */
    recommit_chunk(s, idx, false);
    zero = ohi_decommitted_reads_zero();
  } else {
    return NULL;
  }
  s->used++;
  OHI_STORE_RELEASE(&words[idx], state);
  void *p = ohi_chunk_ptr(s, idx);
  if (state == 1) OHI_ASAN_UNPOISON(p, s->chunk_size); /* handed out now */
  if (zeroed) *zeroed = zero;
  return p;
}

/* ---- the locked path ------------------------------------------------------------ */

/* The central slab a locked take draws from (class lock held); NULL when the
 * class must grow. Full slabs are looked at too: other threads' frees may
 * wait on their cross-thread stacks. */
static ohi_slab_t *central_pick(oh_slab_t *h, ohi_class_t *c) {
  uint64_t now = 0;
  for (ohi_slab_t *s = c->partial; s != NULL; s = c->partial) {
    ohi_slab_collect(s);
    if (s->free_head != OHI_W_END || s->bump < s->nchunks) return s;
    ohi_central_place(h, c, s, &now); /* full after all */
  }
  int looked = 0;
  for (ohi_slab_t *s = c->full, *next; s != NULL && looked < 4; s = next, looked++) {
    next = s->next;
    if (OHI_LOAD_RELAXED(&s->xfree) == OHI_W_END) continue;
    ohi_slab_collect(s);
    ohi_central_place(h, c, s, &now);
    if (s->list == OHI_LIST_PARTIAL) return s;
  }
  if (c->empty != NULL) return c->empty;
  return NULL;
}

size_t ohi_central_take(oh_slab_t *h, unsigned cls, void **out, size_t n, uint32_t state, bool *zeroed) {
  ohi_class_t *c = &h->classes[cls];
  size_t got = 0;
  uint64_t now = 0;
  ohi_lock(&c->lock);
  while (got < n) {
    if (h->max_objects != 0 && OHI_LOAD_RELAXED(&c->allocs) - OHI_LOAD_RELAXED(&c->frees) >= h->max_objects) break;
    ohi_slab_t *s = central_pick(h, c);
    if (s == NULL) {
      ohi_unlock(&c->lock);
      ohi_slab_t *ns = ohi_slab_create(h, cls);
      ohi_lock(&c->lock);
      if (ns == NULL) break;
      s = ns;
    }
    while (got < n) {
      if (h->max_objects != 0 && OHI_LOAD_RELAXED(&c->allocs) - OHI_LOAD_RELAXED(&c->frees) >= h->max_objects) break;
      void *p = ohi_slab_pop_slow(h, s, state, n == 1 ? zeroed : NULL);
      if (p == NULL) break;
      out[got++] = p;
      if (state == 1) OHI_FETCH_ADD(&c->allocs, 1);
    }
    ohi_central_place(h, c, s, &now);
    if (s->free_head != OHI_W_END || s->bump < s->nchunks) break; /* stopped by the bound */
  }
  ohi_unlock(&c->lock);
  return got;
}

void ohi_central_release(oh_slab_t *h, ohi_slab_t *s, uint32_t idx, uint32_t flags) {
  ohi_class_t *c = &h->classes[s->class_index];
  uint64_t now = 0;
  ohi_lock(&c->lock);
  if (OHI_LOAD_RELAXED(&s->owner) != NULL) { /* adopted meanwhile: its owner collects it */
    ohi_unlock(&c->lock);
    ohi_slab_push_remote(h, s, idx, flags);
    return;
  }
  if (flags & OHI_W_GUARD) s->guarded++;
  ohi_slab_push(s, idx, flags);
  ohi_central_place(h, c, s, &now);
  bool emptied = s->list == OHI_LIST_EMPTY;
  ohi_unlock(&c->lock);
  if (emptied) ohi_after_empty(h);
}

/* ---- the run class's locked paths ------------------------------------------------ */

/* The central run slab with a free run of k pages (class lock held; *at its
 * first page), or NULL when the class must grow: the one whose longest free
 * run fits best (h->central_runs), so that no central slab that could serve
 * is passed over for a new one - a program whose other threads' (or Ps')
 * slabs came here full of holes fills them before it maps (the Go phase
 * change decommitted up to twice the C one's pages while its fill mapped
 * new slabs past the partial list's first few). Frees waiting on a full
 * slab's stack are collected first (a release that raced its slab's move
 * here); the purge passes collect every central slab's. */
static ohi_slab_t *central_pick_run(oh_slab_t *h, ohi_class_t *c, uint32_t k, uint32_t *at, uint32_t *len) {
  uint64_t now = 0;
  int looked = 0;
  for (ohi_slab_t *s = c->full, *next; s != NULL && looked < 4; s = next, looked++) {
    next = s->next;
    if (OHI_LOAD_RELAXED(&s->xfree) == OHI_W_END) continue;
    ohi_slab_collect(s);
    ohi_central_place(h, c, s, &now);
  }
  for (ohi_slab_t *s; (s = ohi_rbucket_pick(&h->central_runs, k)) != NULL;) {
    ohi_slab_collect(s);
    if ((*at = ohi_run_fit(s, k, len)) != OHI_W_END) return s;
    unsigned was = s->rbucket;
    ohi_central_place(h, c, s, &now); /* filed too high (never expected): refiled */
    if (s->rbucket == was) break;
  }
  return NULL;
}

/* A new run slab with its fit for k pages (no lock held). */
static ohi_slab_t *new_run_slab(oh_slab_t *h, uint32_t k, uint32_t *at, uint32_t *len) {
  ohi_slab_t *s = ohi_slab_create(h, h->run_class);
  if (s != NULL) *at = ohi_run_fit(s, k, len); /* k <= its pages: run_max is at most a quarter */
  return s;
}

/* How run slab s sits for owner tc among its address neighbours (the
 * slabs a slab size below and above): NEXT_OWN when one is tc's, NEXT_OTHER
 * when one is another owner's (and none tc's), NEXT_FREE otherwise. */
enum { NEXT_OTHER, NEXT_FREE, NEXT_OWN };
static int next_to(const oh_slab_t *h, const ohi_slab_t *s, const ohi_tcache_t *tc) {
  int how = NEXT_FREE;
  uintptr_t base = OHI_LOAD_RELAXED(&s->span.base);
  for (int d = -1; d <= 1; d += 2) {
    const ohi_span_t *sp = ohi_region_lookup((const void *)(base + (uintptr_t)(intptr_t)d * h->slab_size));
    if (sp == NULL || OHI_LOAD_RELAXED(&sp->kind) != OHI_SPAN_RUNS) continue;
    const ohi_tcache_t *o = OHI_LOAD_RELAXED(&((const ohi_slab_t *)sp)->owner);
    if (o == tc) return NEXT_OWN;
    if (o != NULL) how = NEXT_OTHER;
  }
  return how;
}

/* An owner's slabs kept next to each other: among the central slabs of the
 * bucket central_pick_run chose s from (as fit; up to ADOPT_LOOK of them,
 * no frees waiting on their stacks), the one next to a slab tc holds, or
 * else not next to another owner's (class lock held; *at, *len follow).
 * Two threads that adopt at once from the same central slabs - the slabs
 * of a thread that exited lie side by side - took every other one, and
 * then batches of 256 KiB runs cost them 23.6-25.8 ns per alloc+free where
 * the same slabs taken one thread after the other cost 19.6-20.8
 * (bench/RESULTS.md, session 14). */
#define ADOPT_LOOK 32
static ohi_slab_t *adopt_beside(oh_slab_t *h, ohi_slab_t *s, uint32_t k, const ohi_tcache_t *tc, uint32_t *at,
                                uint32_t *len) {
  int best = next_to(h, s, tc), looked = 0;
  for (ohi_slab_t *t = s->rnext; t != NULL && best != NEXT_OWN && looked < ADOPT_LOOK; t = t->rnext, looked++) {
    if (OHI_LOAD_RELAXED(&t->xfree) != OHI_W_END) continue; /* its filing may be stale: central_pick_run's job */
    int how = next_to(h, t, tc);
    uint32_t a, l;
    if (how <= best || (a = ohi_run_fit(t, k, &l)) == OHI_W_END) continue;
    s = t;
    *at = a;
    *len = l;
    best = how;
  }
  return s;
}

ohi_slab_t *ohi_central_adopt_run(oh_slab_t *h, uint32_t k, ohi_tcache_t *tc, uint32_t *at, uint32_t *len) {
  ohi_class_t *c = &h->classes[h->run_class];
  ohi_lock(&c->lock);
  ohi_slab_t *s = central_pick_run(h, c, k, at, len);
  if (s != NULL) s = adopt_beside(h, s, k, tc, at, len);
  if (s != NULL) {
    ohi_central_unlink(h, c, s);
    s->list = OHI_LIST_OWNED;
    OHI_STORE_RELEASE(&s->owner, tc); /* before the lock goes: see ohi_central_adopt */
  }
  ohi_unlock(&c->lock);
  if (s != NULL) return s;
  if ((s = new_run_slab(h, k, at, len)) == NULL) return NULL;
  s->list = OHI_LIST_OWNED;
  OHI_STORE_RELEASE(&s->owner, tc);
  return s;
}

void *ohi_central_take_run(oh_slab_t *h, uint32_t k, uint32_t state, bool *zeroed) {
  ohi_class_t *c = &h->classes[h->run_class];
  uint64_t now = 0;
  uint32_t at, len;
  ohi_lock(&c->lock);
  ohi_slab_t *s = central_pick_run(h, c, k, &at, &len);
  if (s == NULL) {
    ohi_unlock(&c->lock);
    ohi_slab_t *ns = new_run_slab(h, k, &at, &len);
    if (ns == NULL) return NULL;
    ohi_lock(&c->lock);
    s = ns;
  }
  void *p = ohi_run_take(s, at, k, len, state, zeroed);
  /* the run class counts pages; a CACHED run, a binding cache's, counts in cached_out (runs.c) */
  if (state == 1) OHI_FETCH_ADD(&c->allocs, k);
  ohi_central_place(h, c, s, &now);
  ohi_unlock(&c->lock);
  return p;
}

void ohi_central_release_run(oh_slab_t *h, ohi_slab_t *s, uint32_t idx) {
  ohi_class_t *c = &h->classes[h->run_class];
  uint64_t now = 0;
  ohi_lock(&c->lock);
  if (OHI_LOAD_RELAXED(&s->owner) != NULL) { /* adopted meanwhile: its owner collects it */
    ohi_unlock(&c->lock);
    ohi_slab_push_remote(h, s, idx, 0);
    return;
  }
  ohi_run_put(s, idx);
  mark_dirty(s);
  ohi_central_place(h, c, s, &now);
  bool emptied = s->list == OHI_LIST_EMPTY;
  ohi_unlock(&c->lock);
  if (emptied) ohi_after_empty(h);
}

/* ---- ownership ---------------------------------------------------------------------- */

ohi_slab_t *ohi_central_adopt(oh_slab_t *h, unsigned cls, ohi_tcache_t *tc) {
  ohi_class_t *c = &h->classes[cls];
  ohi_lock(&c->lock);
  ohi_slab_t *s = central_pick(h, c);
  if (s != NULL) {
    ohi_central_unlink(h, c, s);
    /* Owned before the lock goes: a free that read the old owner (NULL) and
     * waits for the lock re-checks it there and pushes on the cross-thread
     * stack instead of the local list the new owner now uses. */
    s->list = OHI_LIST_OWNED;
    OHI_STORE_RELEASE(&s->owner, tc);
  }
  ohi_unlock(&c->lock);
  if (s != NULL) return s;
  s = ohi_slab_create(h, cls); /* no chunk of it is out yet: nobody frees into it */
  if (s == NULL) return NULL;
  s->list = OHI_LIST_OWNED;
  OHI_STORE_RELEASE(&s->owner, tc);
  return s;
}

void ohi_central_abandon(oh_slab_t *h, ohi_slab_t *s, uint64_t *now) {
  ohi_class_t *c = &h->classes[s->class_index];
  ohi_lock(&c->lock);
  ohi_slab_unown(s);
  s->list = OHI_LIST_NONE;
  s->next = s->prev = NULL;
  ohi_slab_collect(s); /* after the owner is gone: later pushes wait for a taker or the purger */
  ohi_central_place(h, c, s, now);
  ohi_unlock(&c->lock);
}

/* ---- debug: guards and poison --------------------------------------------------------- */

bool ohi_chunk_guard(void *p, size_t size, bool guard) {
  size_t ps = ohi_os_page_size();
  uintptr_t start = ((uintptr_t)p + ps - 1) & ~(uintptr_t)(ps - 1);
  uintptr_t end = ((uintptr_t)p + size) & ~(uintptr_t)(ps - 1);
  if (end <= start) return false;
  return ohi_os_protect((void *)start, end - start, !guard) == 0;
}

/* Debug mode, a chunk just freed: poisoned, and its whole pages guarded (a
 * use after free of them faults at the guilty access). Returns the word flags. */
uint32_t ohi_chunk_debug_free(ohi_slab_t *s, void *p) {
  memset(p, POISON_BYTE, s->chunk_size);
  OHI_ASAN_POISON(p, s->chunk_size);
  uint32_t flags = OHI_W_POISON;
  if (ohi_chunk_guard(p, s->chunk_size, true)) flags |= OHI_W_GUARD;
  return flags;
}

/* Debug mode, a poisoned chunk handed out again: its bytes outside guarded
 * pages must still hold the poison, or something wrote to it after the free. */
void ohi_chunk_debug_handout(ohi_slab_t *s, uint32_t idx, uint32_t w) {
  const unsigned char *p = ohi_chunk_ptr(s, idx);
  size_t ps = ohi_os_page_size(), off = (size_t)idx * s->chunk_size;
  OHI_ASAN_UNPOISON((void *)p, s->chunk_size);
  for (size_t i = 0; i < s->chunk_size; i++) {
    if ((w & OHI_W_DECOMMITTED) && ohi_slab_page_decommitted(s, (off + i) / ps)) { /* dropped by a purge: reads as zero */
      i = ((off + i) / ps + 1) * ps - off - 1;
      continue;
    }
    if (p[i] != POISON_BYTE) {
      ohi_fail(EFAULT, "offheap: use after free: chunk %p (size %u) was modified at offset %zu after it was freed",
               (const void *)p, s->chunk_size, i);
      return;
    }
  }
}
