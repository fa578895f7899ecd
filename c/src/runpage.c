/* runpage.c - the pages of a run slab: which are free, taking a run of k of
 * them and putting it back. runs.c builds the run tier on these; heap.c has
 * the overview.
 *
 * Why runs: a size class keeps its slab's memory for its own size, so a
 * program that frees many 16 KiB buffers and then allocates 48 KiB ones
 * (a phase change) had the 16 KiB slabs' free pages decommitted by the purge
 * policy while the 48 KiB class faulted fresh pages in: a decommit and a
 * fault per page, where Go's page heap and glibc reuse the freed memory at
 * once. A run slab hands out runs of whole pages instead, any length up to
 * the heap's run_max, so the pages a freed run leaves serve any other size,
 * committed, within the purge delay; and a request is rounded to pages
 * rather than to a class 25 % apart.
 *
 * A run slab is an ordinary slab of the heap's run class (chunk = one page),
 * owned by a thread cache or on the class's central lists like any other,
 * aged and released by the purge policy's walk page by page: only how free
 * pages are kept differs.
 *   words   one per page (slab_types.h): a run's first page holds its state
 *           word (the reference count: the release's one CAS claims it, so
 *           double frees are caught as for chunks), its other pages
 *           OHI_W_TAIL | length | distance, free pages OHI_W_FREE | flags
 *   fmap    bitmap of free pages, kept by whoever holds the slab (its owner,
 *           or the class lock); a run is the best fit among the free runs
 *           (ohi_run_fit), and a freed run's bits join its free neighbours',
 *           so free pages coalesce without any merging step
 *   dpages  pages not committed: never touched (a new slab's, all of them)
 *           or decommitted by the purge policy; a run taken over them is
 *           committed by the OS on first touch, counted here, and known to
 *           read as zero when all its pages were
 *   maxrun  the longest run of free pages, kept exact: a slab that cannot
 *           serve a size is never searched for it, and the owner (and the
 *           run class's central lists) file slabs by it, or by their
 *           longest listed run if longer (their reach: ohi_rbucket_*, at
 *           the end of this file), to find the best fit at once
 *   qhead   the owner's quick lists: a run its owner frees goes, claimed
 *           (first word OHI_W_CACHED | next, its pages not free in fmap
 *           but not in used either), on the list of its page count; the next
 *           request of as many pages takes it back in a few stores; the
 *           lists go back to fmap (ohi_runq_settle) when a request finds no
 *           fit elsewhere, at every purge pass over the owner and when the
 *           slab leaves it. A batch of frees and allocations (a server's
 *           buffers) so costs what a size class's free list costs, not a
 *           bitmap search and a merge per run; pages serve other sizes from
 *           the next settle on
 * used counts pages of runs (handed out, claimed, or on the cross-thread
 * stack: a slab whose runs are all on quick lists is empty), bump is the
 * page count, and free_head the lowest free page.
 */
#include "internal.h"

OHI_INLINE uint32_t map_words(const ohi_slab_t *s) { return (s->nchunks + 63) / 64; }

/* The index just past the last clear bit of m below `before` (0: none). */
static uint32_t prev_clear_end(const uint64_t *m, uint32_t before) {
  if (before == 0) return 0;
  uint32_t wi = (before - 1) / 64, bit = (before - 1) % 64;
  uint64_t x = ~m[wi] & (bit == 63 ? ~(uint64_t)0 : (((uint64_t)1 << (bit + 1)) - 1));
  for (;;) {
    if (x != 0) return wi * 64 + (63u - (uint32_t)__builtin_clzll(x)) + 1;
    if (wi == 0) return 0;
    x = ~m[--wi];
  }
}

/* The longest run of free pages of s. */
static uint32_t longest_run(const ohi_slab_t *s) {
  uint32_t n = s->nchunks, best = 0;
  for (uint32_t i = ohi_bits_next_set(s->fmap, n, s->free_head == OHI_W_END ? n : s->free_head); i < n;) {
    uint32_t end = ohi_bits_next_clear(s->fmap, n, i);
    if (end - i > best) best = end - i;
    i = ohi_bits_next_set(s->fmap, n, end);
  }
  return best;
}

/* Sets (set) or clears the bits [i, i + k) of m; returns how many of them
 * were set in also (before, for dpages: the pages not committed). */
static uint32_t map_range(uint64_t *m, uint32_t i, uint32_t k, bool set, uint64_t *also) {
  uint32_t counted = 0;
  while (k > 0) {
    uint32_t wi = i / 64, bit = i % 64, take = 64 - bit < k ? 64 - bit : k;
    uint64_t mask = (take == 64 ? ~(uint64_t)0 : (((uint64_t)1 << take) - 1)) << bit;
    if (set) m[wi] |= mask;
    else m[wi] &= ~mask;
    if (also != NULL) {
      counted += (uint32_t)__builtin_popcountll(also[wi] & mask);
      also[wi] &= ~mask;
    }
    i += take;
    k -= take;
  }
  return counted;
}

void ohi_run_init(ohi_slab_t *s) {
  uint32_t n = s->nchunks, *words = ohi_slab_words(s);
  for (uint32_t i = 0; i < n; i++) OHI_STORE_RELAXED(&words[i], OHI_W_FREE | OHI_W_DECOMMITTED | OHI_W_END);
  for (uint32_t i = 0; i < map_words(s); i++) s->fmap[i] = s->dpages[i] = 0;
  map_range(s->fmap, 0, n, true, NULL);
  map_range(s->dpages, 0, n, true, NULL);
  s->bump = n;
  s->touched = (size_t)n * s->chunk_size; /* no bump tail: dpages says what was never committed */
  s->free_head = 0;
  s->maxrun = (uint16_t)n;
  s->qmask = 0;
  for (uint32_t k = 0; k <= OHI_RUNC_PAGES; k++) s->qhead[k] = OHI_W_END;
}

/* Best fit: the shortest free run of k pages or more (the lowest of equals),
 * so long runs stay whole for long requests; a run of exactly k ends the
 * search. */
uint32_t ohi_run_fit(ohi_slab_t *s, uint32_t k, uint32_t *len) {
  if (k > s->maxrun) return OHI_W_END;
  uint32_t n = s->nchunks, best = OHI_W_END, best_len = UINT32_MAX;
  for (uint32_t i = ohi_bits_next_set(s->fmap, n, s->free_head == OHI_W_END ? n : s->free_head); i < n;) {
    uint32_t end = ohi_bits_next_clear(s->fmap, n, i);
    if (end - i >= k && end - i < best_len) {
      best = i;
      best_len = end - i;
      if (best_len == k) break;
    }
    i = ohi_bits_next_set(s->fmap, n, end);
  }
  *len = best_len;
  return best;
}

void *ohi_run_take(ohi_slab_t *s, uint32_t i, uint32_t k, uint32_t len, uint32_t state, bool *zeroed) {
  uint32_t *words = ohi_slab_words(s);
  uint32_t fresh = map_range(s->fmap, i, k, false, s->dpages);
  if (fresh != 0) ohi_pages_commit_account((size_t)fresh * s->chunk_size);
  for (uint32_t j = 1; j < k; j++) OHI_STORE_RELAXED(&words[i + j], OHI_W_TAIL | k << 12 | j);
  OHI_STORE_RELEASE(&words[i], state);
  s->used += k;
  if (s->free_head >= i && s->free_head < i + k) {
    uint32_t next = ohi_bits_next_set(s->fmap, s->nchunks, i + k);
    s->free_head = next < s->nchunks ? next : OHI_W_END;
  }
  if (len >= s->maxrun) s->maxrun = (uint16_t)longest_run(s); /* cut from a longest run */
  void *p = ohi_chunk_ptr(s, i);
  OHI_ASAN_UNPOISON(p, (size_t)k * s->chunk_size);
  *zeroed = fresh == k && ohi_decommitted_reads_zero();
  return p;
}

/* The pages of the run at idx go free in the page map (used is the
 * caller's); returns how many. */
static uint32_t pages_free(ohi_slab_t *s, uint32_t idx) {
  uint32_t *words = ohi_slab_words(s), k = ohi_run_pages(s, idx);
  for (uint32_t j = k; j-- > 1;) OHI_STORE_RELAXED(&words[idx + j], OHI_W_FREE | OHI_W_END);
  OHI_STORE_RELEASE(&words[idx], OHI_W_FREE | OHI_W_END); /* a stale release of it fails from now on */
  map_range(s->fmap, idx, k, true, NULL);
  if (s->free_head == OHI_W_END || idx < s->free_head) s->free_head = idx;
  /* the run merges with its free neighbours */
  uint32_t merged = ohi_bits_next_clear(s->fmap, s->nchunks, idx + k) - prev_clear_end(s->fmap, idx);
  if (merged > s->maxrun) s->maxrun = (uint16_t)merged;
  return k;
}

uint32_t ohi_run_put(ohi_slab_t *s, uint32_t idx) {
  uint32_t k = pages_free(s, idx);
  s->used -= k;
  s->puts += k;
  return k;
}

uint32_t ohi_run_collect(ohi_slab_t *s) {
  if (OHI_LOAD_RELAXED(&s->xfree) == OHI_W_END) return 0;
  uint32_t idx = OHI_EXCHANGE(&s->xfree, OHI_W_END), n = 0;
  while (idx != OHI_W_END) {
    uint32_t next = OHI_LOAD_RELAXED(&ohi_slab_words(s)[idx]) & OHI_W_NEXT;
    n += ohi_run_put(s, idx);
    idx = next;
  }
  return n;
}

/* ---- the quick lists ------------------------------------------------------------- */

uint32_t ohi_runq_settle(ohi_slab_t *s) {
  uint32_t n = 0;
  for (uint64_t m = s->qmask; m != 0; m &= m - 1) {
    uint32_t k = (uint32_t)__builtin_ctzll(m) + 1;
    for (uint32_t idx = s->qhead[k], next; idx != OHI_W_END; idx = next) {
      next = OHI_LOAD_RELAXED(&ohi_slab_words(s)[idx]) & OHI_W_NEXT;
      n += pages_free(s, idx);
    }
    s->qhead[k] = OHI_W_END;
  }
  s->qmask = 0;
  return n;
}

/* ---- run slabs filed by their reach (an owner's, or the heap's central ones) ---- */

OHI_INLINE unsigned rbucket_of(const ohi_slab_t *s) {
  uint32_t r = ohi_run_reach(s);
  return r < OHI_RUN_BUCKETS ? r : OHI_RUN_BUCKETS;
}

void ohi_rbucket_link(ohi_rbuckets_t *rb, ohi_slab_t *s) {
  unsigned b = rbucket_of(s);
  s->rbucket = (uint16_t)b;
  s->rprev = NULL;
  s->rnext = NULL;
  if (b == 0) return; /* no free page: on no bucket */
  s->rnext = rb->rbuckets[b];
  if (s->rnext) s->rnext->rprev = s;
  rb->rbuckets[b] = s;
  rb->rmask |= (uint64_t)1 << (b - 1);
}

void ohi_rbucket_unlink(ohi_rbuckets_t *rb, ohi_slab_t *s) {
  unsigned b = s->rbucket;
  if (b == 0) return;
  if (s->rprev) s->rprev->rnext = s->rnext;
  else rb->rbuckets[b] = s->rnext;
  if (s->rnext) s->rnext->rprev = s->rprev;
  if (rb->rbuckets[b] == NULL) rb->rmask &= ~((uint64_t)1 << (b - 1));
  s->rnext = s->rprev = NULL;
  s->rbucket = 0;
}

void ohi_rbucket_update(ohi_rbuckets_t *rb, ohi_slab_t *s) {
  if (s->rbucket == rbucket_of(s)) return;
  ohi_rbucket_unlink(rb, s);
  ohi_rbucket_link(rb, s);
}

ohi_slab_t *ohi_rbucket_pick(const ohi_rbuckets_t *rb, uint32_t k) {
  unsigned first = k < OHI_RUN_BUCKETS ? k : OHI_RUN_BUCKETS;
  uint64_t mask = rb->rmask >> (first - 1);
  if (mask == 0) return NULL;
  unsigned bk = first + (unsigned)__builtin_ctzll(mask);
  ohi_slab_t *s = rb->rbuckets[bk];
  if (bk == OHI_RUN_BUCKETS)
    while (s != NULL && ohi_run_reach(s) < k) s = s->rnext;
  return s;
}
