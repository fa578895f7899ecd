/* purgewalk.c - the purge policy's walk of one slab (purge.c decides when
 * and which): the free chunks' ages moved on by the passes owed, and the
 * whole pages that runs of chunks come due cover decommitted, marked in the
 * chunks' words and the slab's bitmap of decommitted pages. purge.c has the
 * overview of the policy; heap.c of the slab tier.
 */
#include "internal.h"

uint64_t ohi_purge_walked;

/* Decommits the pages strictly inside chunks [i, j) of s (to `end` bytes when
 * the run reaches the never-handed-out tail), marking the chunks. */
static size_t decommit_run(ohi_slab_t *s, uint32_t i, uint32_t j, size_t end, bool *failed) {
  size_t ps = ohi_os_page_size();
  size_t start = (size_t)i * s->chunk_size;
  size_t first = (start + ps - 1) / ps, last = end / ps;
  if (last <= first) return 0;
  size_t done = ohi_slab_decommit_pages(s, first, last, failed);
  uint32_t *words = ohi_slab_words(s);
  size_t lo = first * ps, hi = last * ps;
  for (uint32_t k = i; k < j; k++) {
    size_t cs = (size_t)k * s->chunk_size, ce = cs + s->chunk_size;
    if (ce <= lo || cs >= hi) continue;
    OHI_STORE_RELAXED(&words[k], OHI_LOAD_RELAXED(&words[k]) | OHI_W_DECOMMITTED);
  }
  return done;
}

/* The walk of one slab's free chunks (a run slab's free pages). Where few
 * chunks are free it visits those only - along the local free list, or the
 * run slab's bitmap of free pages - not every state word: a full slab churned
 * by its owner costs what it has free, not what it holds (issue 18: a pass
 * over 1 GiB of 64 B chunks read 16 M words, a 20-30 ms stall of a busy owner
 * 4 times a second). A chunk whose age comes due is marked in a bitmap of the
 * slab's chunks, window by window, whose runs of marks give the pages to
 * decommit. */
#define WALK_WINDOW 65536u /* chunks per bitmap: 8 KiB on the walker's stack */

typedef struct walk_s {
  ohi_slab_t *s;
  uint32_t need, steps, credit; /* the age a chunk needs; the passes to add */
  uint32_t min_age;             /* the lowest age among free chunks not due */
  uint32_t due, first_due, last_due; /* chunks due, and their lowest and highest index */
  bool dirty, failed;           /* free chunks not due; a decommit refused */
  uint64_t map[WALK_WINDOW / 64];
} walk_t;

/* Whether a walk of s follows its free list: when few of its chunks are free.
 * Many free chunks are found faster by a scan of the words in order than by
 * hopping along the list (a dependent load each); a run slab's free pages
 * come from its bitmap either way. */
static bool by_list(const ohi_slab_t *s) { return s->fmap == NULL && ohi_slab_nfree(s) < s->bump / 8; }

/* The free chunk after k (OHI_W_END: the first), or OHI_W_END: along the
 * list when list is set, else from the run slab's bitmap or a scan of the
 * words in order (decommit_due's later windows; age_free has its own loops). */
static uint32_t next_free(const ohi_slab_t *s, uint32_t k, bool list) {
  const uint32_t *words = ohi_slab_words((ohi_slab_t *)s);
  if (list) return k == OHI_W_END ? s->free_head : OHI_LOAD_RELAXED(&words[k]) & OHI_W_NEXT;
  if (s->fmap != NULL) {
    uint32_t i = ohi_bits_next_set(s->fmap, s->nchunks, k == OHI_W_END ? 0 : k + 1);
    return i < s->nchunks ? i : OHI_W_END;
  }
  for (uint32_t i = k == OHI_W_END ? 0 : k + 1; i < s->bump; i++)
    if ((OHI_LOAD_RELAXED(&words[i]) & (OHI_W_FREE | OHI_W_CACHED)) == OHI_W_FREE) return i;
  return OHI_W_END;
}

static bool is_due(const walk_t *wk, uint32_t w) {
  return (w & (OHI_W_FREE | OHI_W_CACHED)) == OHI_W_FREE && ((w & OHI_W_AGE) >> OHI_W_AGE_SHIFT) >= wk->need;
}

/* The aging of one walk, in locals (the bitmap's stores alias no walk_t
 * field then): the counts a visit moves. */
typedef struct ages_s {
  uint32_t need, add_old, add_new, span;
  uint32_t min_age, due, first_due, last_due;
  bool dirty;
  uint64_t *map;
} ages_t;

/* One free chunk k (word w at *wp): aged by the passes owed (a chunk handed
 * out and freed again since the last walk restarted at 0 and is owed only
 * this one), counted and marked when due. */
OHI_INLINE void visit(ages_t *a, uint32_t *wp, uint32_t w, uint32_t k) {
  uint32_t age = (w & OHI_W_AGE) >> OHI_W_AGE_SHIFT;
  if (age < OHI_W_AGE_MAX) {
    uint32_t add = age != 0 ? a->add_old : a->add_new;
    age = age + add < OHI_W_AGE_MAX ? age + add : OHI_W_AGE_MAX;
    OHI_STORE_RELAXED(wp, (w & ~OHI_W_AGE) | (age << OHI_W_AGE_SHIFT));
  }
  if (age < a->need) {
    a->dirty = true;
    if (age < a->min_age) a->min_age = age;
    return;
  }
  if (a->due++ == 0) a->first_due = k; /* visits come in index order, but for the list's */
  if (k < a->first_due) a->first_due = k;
  if (k > a->last_due) a->last_due = k;
  if (k < a->span) a->map[k / 64] |= (uint64_t)1 << (k % 64);
}

/* Ages every free chunk, counts those due and marks the first window's. */
static void age_free(walk_t *wk) {
  ohi_slab_t *s = wk->s;
  uint32_t *words = ohi_slab_words(s), visited = 0;
  ages_t a = {.need = wk->need, .add_old = wk->steps + wk->credit, .add_new = wk->steps, .min_age = OHI_W_AGE_MAX,
              .span = s->bump < WALK_WINDOW ? s->bump : WALK_WINDOW, .map = wk->map};
  memset(a.map, 0, (a.span + 63) / 64 * sizeof(uint64_t));
  if (by_list(s)) { /* few free: along the list */
    for (uint32_t k = s->free_head; k != OHI_W_END; visited++) {
      uint32_t w = OHI_LOAD_RELAXED(&words[k]);
      uint32_t next = w & OHI_W_NEXT;
      if ((w & (OHI_W_FREE | OHI_W_CACHED)) == OHI_W_FREE) visit(&a, &words[k], w, k);
      k = next;
    }
  } else if (s->fmap != NULL) { /* a run slab: its free pages from the bitmap */
    visited = (s->nchunks + 63) / 64;
    for (uint32_t k = ohi_bits_next_set(s->fmap, s->nchunks, 0); k < s->nchunks;
         k = ohi_bits_next_set(s->fmap, s->nchunks, k + 1), visited++) {
      uint32_t w = OHI_LOAD_RELAXED(&words[k]);
      if ((w & (OHI_W_FREE | OHI_W_CACHED)) == OHI_W_FREE) visit(&a, &words[k], w, k);
    }
  } else { /* many free: every word, in order */
    visited = s->bump;
    for (uint32_t k = 0; k < s->bump; k++) {
      uint32_t w = OHI_LOAD_RELAXED(&words[k]);
      if ((w & (OHI_W_FREE | OHI_W_CACHED)) == OHI_W_FREE) visit(&a, &words[k], w, k);
    }
  }
  wk->min_age = a.min_age;
  wk->dirty = a.dirty;
  wk->due = a.due;
  wk->first_due = a.first_due;
  wk->last_due = a.last_due;
  OHI_FETCH_ADD(&ohi_purge_walked, visited);
}

/* Decommits the pages strictly inside runs of due chunks (a run reaching the
 * never-handed-out tail: to its end), window by window. A window's edge is a
 * page boundary (WALK_WINDOW chunks of any size are a multiple of 64 KiB), so
 * a run cut there loses no page. Returns the bytes decommitted. */
static size_t decommit_due(walk_t *wk) {
  ohi_slab_t *s = wk->s;
  uint32_t *words = ohi_slab_words(s);
  size_t bytes = 0;
  for (uint32_t base = wk->first_due / WALK_WINDOW * WALK_WINDOW; base <= wk->last_due; base += WALK_WINDOW) {
    uint32_t span = s->bump - base < WALK_WINDOW ? s->bump - base : WALK_WINDOW;
    if (base != 0) { /* the first window was marked while aging */
      memset(wk->map, 0, (span + 63) / 64 * sizeof(uint64_t));
      bool list = by_list(s);
      for (uint32_t k = next_free(s, OHI_W_END, list); k != OHI_W_END; k = next_free(s, k, list))
        if (k >= base && k - base < span && is_due(wk, OHI_LOAD_RELAXED(&words[k])))
          wk->map[(k - base) / 64] |= (uint64_t)1 << ((k - base) % 64);
    }
    for (uint32_t i = ohi_bits_next_set(wk->map, span, 0); i < span; i = ohi_bits_next_set(wk->map, span, i)) {
      uint32_t j = ohi_bits_next_clear(wk->map, span, i);
      size_t end = (size_t)(base + j) * s->chunk_size;
      if (base + j == s->bump && s->touched > end) end = s->touched; /* the run reaches the tail: free to its end */
      bytes += decommit_run(s, base + i, base + j, end, &wk->failed);
      i = j;
    }
  }
  return bytes;
}

size_t ohi_slab_walk(ohi_slab_t *s, uint32_t need, uint32_t steps, uint32_t credit, bool *dirty, bool *failed,
                     uint32_t *min_age) {
  walk_t wk = {.s = s, .need = need, .steps = steps, .credit = credit, .min_age = OHI_W_AGE_MAX};
  age_free(&wk);
  size_t bytes = wk.due != 0 ? decommit_due(&wk) : 0;
  *dirty = wk.dirty;
  *failed = wk.failed;
  *min_age = wk.min_age;
  return bytes;
}
