/* purgewalk.c - the purge policy's walk of one slab (purge.c decides when
 * and which): the free chunks' ages moved on by the passes owed, and the
 * whole pages that runs of chunks come due cover decommitted, marked in the
 * chunks' words and the slab's bitmap of decommitted pages. purge.c has the
 * overview of the policy; heap.c of the slab tier.
 */
#include "internal.h"

uint64_t ohi_purge_walked;

/* ---- decommits in batches --------------------------------------------------------
 * Both walks hand their due runs of pages to one vector decommit
 * (ohi_pages_decommit_ranges: one system call on Linux 6.13+) per
 * OHI_OS_RANGES_MAX runs: a pressure pass over slabs of 16 KiB chunks freed
 * at random has tens of thousands of runs, and one madvise each cost 1.5-2 us
 * of the owner's pass. */

/* The chunks of s that overlap page pg (those past the bump left out). */
static void page_chunks(const ohi_slab_t *s, size_t pg, unsigned shift, uint32_t *first, uint32_t *end) {
  size_t lo = pg << shift;
  *first = ohi_fast_div(s->div_magic, (uint32_t)lo);
  uint32_t e = ohi_fast_div(s->div_magic, (uint32_t)(lo + ((size_t)1 << shift) - 1)) + 1;
  *end = e < s->bump ? e : s->bump;
}

/* Due runs of pages on their way to one vector decommit. */
typedef struct batch_s {
  ohi_range_t r[OHI_OS_RANGES_MAX];
  uint32_t first[OHI_OS_RANGES_MAX]; /* the page each range starts at */
  size_t n;
} batch_t;

/* Decommits the batch and marks what went: the pages in the slab's bitmap,
 * the chunks that overlap them; they leave the page summary. A refused range
 * stays as it was (tried again at the next pass). */
static size_t batch_flush(ohi_slab_t *s, batch_t *b, unsigned shift, bool *failed) {
  bool ok[OHI_OS_RANGES_MAX];
  size_t bytes = b->n != 0 ? ohi_pages_decommit_ranges(b->r, b->n, ok) : 0;
  uint32_t *words = ohi_slab_words(s), first, end, unused;
  for (size_t i = 0; i < b->n; i++) {
    if (!ok[i]) {
      *failed = true;
      continue;
    }
    size_t a = b->first[i], e = a + (b->r[i].size >> shift);
    ohi_slab_mark_decommitted(s, a, e);
    if (s->pw_free != NULL)
      for (size_t pg = a; pg < e; pg++) s->pw_free[pg / 64] &= ~((uint64_t)1 << (pg % 64));
    /* the chunks from the first page's first to the last page's last */
    page_chunks(s, a, shift, &first, &unused);
    page_chunks(s, e - 1, shift, &unused, &end);
    for (uint32_t k = first; k < end; k++)
      OHI_STORE_RELAXED(&words[k], OHI_LOAD_RELAXED(&words[k]) | OHI_W_DECOMMITTED);
  }
  b->n = 0;
  return bytes;
}

/* Adds pages [a, e) of s to the batch, but those decommitted already (the
 * never-handed-out tail may hold some), flushing it when full. */
static size_t batch_add(ohi_slab_t *s, batch_t *b, size_t a, size_t e, unsigned shift, bool *failed) {
  size_t bytes = 0;
  for (size_t end; ohi_slab_committed_run(s, &a, e, &end); a = end) {
    if (b->n == OHI_OS_RANGES_MAX) bytes += batch_flush(s, b, shift, failed);
    b->r[b->n] = (ohi_range_t){(void *)(s->span.base + (a << shift)), (end - a) << shift};
    b->first[b->n++] = (uint32_t)a;
  }
  return bytes;
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
  uint32_t need;             /* the age at which a free chunk is due */
  uint32_t add_old;          /* the passes a chunk free at the last walk is owed (one freed since: this one) */
  uint32_t base, span;       /* the window whose due chunks are marked in map */
  bool aging;                /* the first visit (ohi_slab_walk): ages, counts; the others only mark */
  uint32_t min_age;          /* the lowest age among free chunks not due */
  uint32_t due, first_due, last_due; /* chunks due, and their lowest and highest index */
  bool dirty, failed;        /* free chunks not due; a decommit refused */
  uint64_t *map;             /* the window's due chunks (ohi_slab_walk's stack) */
} walk_t;

/* One free chunk k (word w at *wp): on the first visit aged by the passes
 * owed (a chunk handed out and freed again since the last walk restarted at 0
 * and is owed only this one) and counted; marked when due and in the window. */
OHI_INLINE void visit(walk_t *a, uint32_t *wp, uint32_t w, uint32_t k) {
  uint32_t age = (w & OHI_W_AGE) >> OHI_W_AGE_SHIFT;
  if (a->aging) {
    if (age < OHI_W_AGE_MAX) {
      uint32_t add = age != 0 ? a->add_old : 1;
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
  } else if (age < a->need) {
    return;
  }
  if (k - a->base < a->span) a->map[(k - a->base) / 64] |= (uint64_t)1 << ((k - a->base) % 64);
}

/* A free chunk k marked decommitted whose first page is: the chunks that lie
 * in that page and the decommitted pages after it are passed over (*next:
 * the first that does not), as nothing of theirs can go back again. */
static bool skip_decommitted(ohi_slab_t *s, uint32_t k, uint32_t npages, unsigned shift, uint32_t *next) {
  uint32_t pg = (uint32_t)(((size_t)k * s->chunk_size) >> shift);
  if (!ohi_slab_page_decommitted(s, pg)) return false;
  uint32_t end = ohi_fast_div(s->div_magic, ohi_bits_next_clear(s->dpages, npages, pg) << shift);
  if (end <= k + 1) return false;
  *next = end;
  return true;
}

/* Visits the free chunks of the slab and marks the window [base, base +
 * span)'s due ones, in locals (a word's store then aliases no field of
 * *wk): along the list where under an eighth of the chunks are free (a
 * dependent load each), from a run slab's bitmap of free pages, or by a scan
 * of the words in order (faster where many are free).
 *
 * The scan visits only the runs of free chunks that hold a whole page (or
 * reach the slab's end), and leaves a page at its first chunk in use: the
 * free chunks it passes over are neither aged nor counted. No page they
 * touch can go back before a chunk in use beside them is freed, and that
 * chunk's age then starts at 0 and grows at each walk with theirs, from
 * whatever age they were left at, so the page comes due when that chunk
 * does, as it would have with theirs aged all along: a page comes due a
 * delay after it became free, not after its chunks did. A slab freed at
 * random to 10 % live (each page keeping a live chunk or more) then costs a
 * few reads per page and no store (issue 18: 16.7 M words and a 64-74 ms
 * stall per pass of its owner at 1 GiB of 64 B chunks). */
static void visit_free(walk_t *wk, uint32_t base, uint32_t span, bool aging) {
  ohi_slab_t *s = wk->s;
  uint32_t *words = ohi_slab_words(s), visited = 0;
  walk_t a = *wk;
  a.base = base;
  a.span = span;
  a.aging = aging;
  memset(a.map, 0, (span + 63) / 64 * sizeof(uint64_t));
  if (s->fmap == NULL && ohi_slab_nfree(s) < s->bump / 8) {
    for (uint32_t k = s->free_head; k != OHI_W_END; visited++) {
      uint32_t w = OHI_LOAD_RELAXED(&words[k]);
      uint32_t next = w & OHI_W_NEXT;
      if ((w & (OHI_W_FREE | OHI_W_CACHED)) == OHI_W_FREE) visit(&a, &words[k], w, k);
      k = next;
    }
  } else if (s->fmap != NULL) {
    visited = (s->nchunks + 63) / 64;
    for (uint32_t k = ohi_bits_next_set(s->fmap, s->nchunks, 0); k < s->nchunks;
         k = ohi_bits_next_set(s->fmap, s->nchunks, k + 1), visited++) {
      uint32_t w = OHI_LOAD_RELAXED(&words[k]);
      if ((w & (OHI_W_FREE | OHI_W_CACHED)) == OHI_W_FREE) visit(&a, &words[k], w, k);
    }
  } else {
    size_t cs = s->chunk_size, ps = ohi_os_page_size();
    unsigned shift = (unsigned)__builtin_ctzll(ps); /* no division by the page size per chunk in use */
    uint32_t npages = (uint32_t)(((size_t)s->bump * cs + ps - 1) >> shift);
    uint32_t run = 0; /* the first chunk of the run of free chunks the scan is in */
    for (uint32_t k = 0;;) {
      uint32_t next = k + 1; /* where a run of free chunks goes on */
      if (k < s->bump) {
        visited++;
        uint32_t w = OHI_LOAD_RELAXED(&words[k]);
        if ((w & (OHI_W_FREE | OHI_W_CACHED)) == OHI_W_FREE) {
          if (OHI_LIKELY((w & OHI_W_DECOMMITTED) == 0) || !skip_decommitted(s, k, npages, shift, &next)) {
            k++;
            continue;
          }
        }
      }
      /* [run, k): free chunks between chunks in use, decommitted pages or
       * the slab's ends: visited where a whole page lies inside, or at the
       * tail (which may reach pages never handed out) */
      size_t lo = (size_t)run * cs, hi = (size_t)k * cs;
      if (k >= s->bump || (lo + ps - 1) >> shift < hi >> shift)
        for (uint32_t c = run; c < k; c++) visit(&a, &words[c], OHI_LOAD_RELAXED(&words[c]), c);
      if (k >= s->bump) break;
      if (next == k + 1) /* k is in use (or cached): on to the chunk holding the next page's first byte */
        next = ohi_fast_div(s->div_magic, (uint32_t)((hi + cs + ps - 1) & ~(ps - 1)));
      k = run = next < s->bump ? next : s->bump;
      /* the words a few pages on: a scan that leaves pages early outruns the
       * hardware's prefetch (bench/RESULTS.md, session 10) */
      __builtin_prefetch(&words[k + 1024]);
    }
  }
  *wk = a;
  OHI_FETCH_ADD(&ohi_purge_walked, visited);
}

/* Decommits the pages strictly inside runs of due chunks (a run reaching the
 * never-handed-out tail: to its end), window by window, the first marked
 * while aging. A window's edge is a page boundary (WALK_WINDOW chunks of any
 * size are a multiple of 64 KiB), so a run cut there loses no page. Returns
 * the bytes decommitted. */
static size_t decommit_due(walk_t *wk) {
  ohi_slab_t *s = wk->s;
  size_t bytes = 0, ps = ohi_os_page_size();
  unsigned shift = (unsigned)__builtin_ctzll(ps);
  batch_t batch;
  batch.n = 0;
  for (uint32_t base = wk->first_due / WALK_WINDOW * WALK_WINDOW; base <= wk->last_due; base += WALK_WINDOW) {
    uint32_t span = s->bump - base < WALK_WINDOW ? s->bump - base : WALK_WINDOW;
    if (base != 0) visit_free(wk, base, span, false);
    for (uint32_t i = ohi_bits_next_set(wk->map, span, 0); i < span; i = ohi_bits_next_set(wk->map, span, i)) {
      uint32_t j = ohi_bits_next_clear(wk->map, span, i);
      size_t end = (size_t)(base + j) * s->chunk_size;
      if (base + j == s->bump && s->touched > end) end = s->touched; /* the run reaches the tail: free to its end */
      /* the pages strictly inside the run */
      size_t first = ((size_t)(base + i) * s->chunk_size + ps - 1) >> shift, last = end >> shift;
      if (last > first) bytes += batch_add(s, &batch, first, last, shift, &wk->failed);
      i = j;
    }
  }
  return bytes + batch_flush(s, &batch, shift, &wk->failed);
}

/* ---- the page walk ---------------------------------------------------------------
 * Slabs of small chunks (OHI_PW_CHUNKS or more per page) keep a summary of
 * their wholly free pages and the passes each has been so (pw_free, pw_age),
 * so that a walk after which no chunk left the local free list ages those
 * pages without reading a word: a worker that freed most of its chunks and
 * goes on allocating from a few slabs frees into every slab at random, and
 * every other slab sees puts but no pops. Before this, each pass read every
 * word of each wholly free page of those slabs until it came due (issue 18:
 * 4.75 M words per pass, 99 % of them in slabs with no pop since the last
 * walk, at 1 GiB of 64 B chunks 90 % freed). A page's chunks are marked
 * (age 1) when the walk first finds it wholly free; after pops, the walk
 * reads it again, and a chunk at age 0 there was freed since (a put writes
 * a fresh word), so the page's age restarts. Pages with a chunk in use cost
 * the reads up to that chunk, as in the scan. */

#define PW_BUSY(w) (((w) & (OHI_W_FREE | OHI_W_CACHED)) != OHI_W_FREE)

/* Whether chunks [first, end) of page pg are all on the local free list.
 * A page that is not keeps, in place of an age, the offset of the chunk in
 * use found there (*witness): read first at the next walk, it is usually
 * still in use, and the page costs one read (issue 18: pages of a worker
 * freed to 10 % live cost ~10 reads each until the first chunk in use).
 * Reads are counted in *visited. A page found wholly free: its chunks at
 * age 0 get age 1, and *fresh says whether there was one. */
static bool chunks_free(uint32_t *words, uint32_t first, uint32_t end, uint8_t *witness, bool *fresh,
                        uint32_t *visited) {
  uint32_t wk = first + *witness;
  if (wk < end && PW_BUSY(OHI_LOAD_RELAXED(&words[wk]))) { /* (a free one is read again below, counted once) */
    ++*visited;
    return false;
  }
  for (uint32_t k = first; k < end; k++) {
    ++*visited;
    if (PW_BUSY(OHI_LOAD_RELAXED(&words[k]))) {
      *witness = (uint8_t)(k - first);
      return false;
    }
  }
  for (uint32_t k = first; k < end; k++) {
    uint32_t w = OHI_LOAD_RELAXED(&words[k]);
    if ((w & OHI_W_AGE) != 0) continue;
    *fresh = true;
    OHI_STORE_RELAXED(&words[k], w | (1u << OHI_W_AGE_SHIFT));
  }
  return true;
}

/* The walk of s's pages by the summary (s->pw_free non-NULL); popped: as
 * ohi_slab_walk's. Runs of due pages go in one decommit each, up to
 * OHI_OS_RANGES_MAX runs per system call; a run that reaches the
 * never-handed-out tail takes the tail's touched pages too. */
static size_t page_walk(walk_t *wk, bool popped) {
  ohi_slab_t *s = wk->s;
  uint32_t *words = ohi_slab_words(s), cs = s->chunk_size, visited = 0;
  size_t ps = ohi_os_page_size();
  unsigned shift = (unsigned)__builtin_ctzll(ps);
  size_t npages = ((size_t)s->bump * cs + ps - 1) >> shift, run = SIZE_MAX, bytes = 0;
  uint32_t first = 0, ahead = (uint32_t)(16 * ps / cs);
  batch_t batch;
  batch.n = 0;
  for (size_t pg = 0; pg <= npages; pg++) {
    bool due_now = false;
    if (pg < npages) {
      /* the chunks overlapping the page: from first to the one holding the
       * next page's first byte, that one included where it straddles */
      size_t hi = (pg + 1) << shift;
      uint32_t next = ohi_fast_div(s->div_magic, (uint32_t)hi);
      uint32_t end = next + (hi != (size_t)next * cs);
      if (end > s->bump) end = s->bump;
      uint64_t bit = (uint64_t)1 << (pg % 64), *fw = &s->pw_free[pg / 64];
      bool in = (*fw & bit) != 0, fresh = false;
      __builtin_prefetch(&words[first + ahead]); /* a page of words is a line or more: the hardware's prefetch falls behind */
      if (ohi_slab_page_decommitted(s, pg)) {
        *fw &= ~bit;
      } else if ((in && !popped) || chunks_free(words, first, end, &s->pw_age[pg], &fresh, &visited)) {
        uint32_t age = in && !fresh ? s->pw_age[pg] + wk->add_old : 1;
        if (age > OHI_W_AGE_MAX) age = OHI_W_AGE_MAX;
        s->pw_age[pg] = (uint8_t)age;
        *fw |= bit;
        due_now = age >= wk->need;
        if (!due_now) {
          wk->dirty = true;
          if (age < wk->min_age) wk->min_age = age;
        }
      } else {
        *fw &= ~bit;
      }
      first = next;
    }
    if (due_now && run == SIZE_MAX) run = pg;
    if (!due_now && run != SIZE_MAX) {
      size_t end = pg == npages && s->touched >> shift > pg ? s->touched >> shift : pg;
      bytes += batch_add(s, &batch, run, end, shift, &wk->failed);
      run = SIZE_MAX;
    }
  }
  bytes += batch_flush(s, &batch, shift, &wk->failed);
  OHI_FETCH_ADD(&ohi_purge_walked, visited);
  return bytes;
}

size_t ohi_slab_walk(ohi_slab_t *s, uint32_t need, uint32_t credit, bool popped, bool *dirty, bool *failed,
                     uint32_t *min_age) {
  uint64_t map[WALK_WINDOW / 64];
  walk_t wk = {.s = s, .need = need, .add_old = 1 + credit, .min_age = OHI_W_AGE_MAX,
               .map = map};
  size_t bytes;
  if (s->pw_free != NULL && ohi_slab_nfree(s) >= s->bump / 8) {
    bytes = page_walk(&wk, popped);
  } else {
    /* few free chunks: listed, and aged one by one; the pages' summary is
     * dropped (their ages restart from the chunks', which is never early) */
    if (s->pw_free != NULL) memset(s->pw_free, 0, (s->span.size / ohi_os_page_size() + 63) / 64 * sizeof(uint64_t));
    visit_free(&wk, 0, s->bump < WALK_WINDOW ? s->bump : WALK_WINDOW, true);
    bytes = wk.due != 0 ? decommit_due(&wk) : 0;
  }
  *dirty = wk.dirty;
  *failed = wk.failed;
  *min_age = wk.min_age;
  return bytes;
}
