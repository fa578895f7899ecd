/* arena.c - bump allocation over page blocks; reset frees everything at once.
 *
 * A block is one page mapping whose first bytes hold its header; the header
 * doubles as the block's span in the region map, so a free of arena memory is
 * recognised and refused with a clear message. Allocation is lock free: a CAS
 * bumps the current block's offset. Only a block change takes the lock.
 *
 * Invariants: header.used <= header.cap; every byte in [data, data + used) was
 * handed out since the last reset; standard blocks are reused after a reset
 * (OH_ARENA_KEEP), oversized ones live until the next reset.
 *
 * Blocks grow: each new standard block is twice the previous one, from the
 * configured size up to ARENA_GROW_MAX, and a request larger than the next
 * block takes the first doubling that holds it. An arena whose cycles (the
 * allocations between two resets) need many blocks thus maps a few growing
 * ones - ristretto's z.Allocator doubles its buffers for the same reason -
 * and a KEEP reset reuses them in the order the cycle used them, so a
 * repeated cycle takes the same blocks and addresses and maps nothing: a
 * Go-side cycle of 1024 allocations of 1 MiB took one oversized mapping per
 * allocation before. What is mapped stays bounded by about twice what a cycle
 * used; only touched pages are resident; a DECOMMIT reset keeps the smallest
 * block only and starts the growth over.
 *
 * Debug mode covers a use after reset: at OH_OPT_DEBUG >= 1 a reset fills
 * what was handed out with the poison byte, at level 2 it also makes the
 * pages of each kept block after its header page inaccessible until the
 * block is handed out again (header.guarded), so a stale write faults at the
 * guilty access. ASan builds poison everything not handed out (fresh blocks
 * included) and unpoison each allocation as it is bumped.
 *
 * Destroy claims the arena atomically (its live word, as pool.c does), so a
 * repeated or racing oh_arena_destroy fails with EINVAL instead of unmapping
 * the blocks twice; alloc, reset and owns check the word too.
 */
#include "internal.h"

typedef struct arena_block_s arena_block_t;
struct arena_block_s {
  ohi_span_t span;      /* kind OHI_SPAN_ARENA, owner = the arena */
  arena_block_t *next;  /* the arena's blocks, newest first */
  size_t cap;           /* usable bytes after the header */
  size_t used;          /* atomic: bytes handed out from data */
  size_t decommitted;   /* bytes decommitted by a reset, committed again on reuse */
  size_t guarded;       /* bytes after the header page made inaccessible by a reset */
  size_t oversized;     /* 1: mapped for one request beyond ARENA_GROW_MAX; freed by a reset */
  char pad_[2 * OHI_CACHE_LINE - sizeof(ohi_span_t) - 6 * sizeof(size_t)];
  char data[];
};

struct oh_arena_s {
  ohi_lock_t lock;
  size_t block_size;     /* mapping size of the first standard block */
  size_t next_size;      /* mapping size of the next standard block mapped */
  arena_block_t *cur;    /* atomic: where allocation bumps */
  arena_block_t *blocks; /* in use since the last reset */
  arena_block_t *spare;  /* standard blocks kept by OH_ARENA_KEEP */
  uint64_t live;         /* ARENA_LIVE(a) while usable; claimed (0) by destroy */
};

#define ARENA_LIVE(a) ((uint64_t)(uintptr_t)(a) ^ 0x6f686172656e614cull)
#define ARENA_POISON 0xdf

static bool arena_live(oh_arena_t *a) { return OHI_LOAD_ACQUIRE(&a->live) == ARENA_LIVE(a); }

/* The bytes of a block from the end of its header page on: what a reset at
 * debug level 2 makes inaccessible. */
static size_t hdr_bytes(void) { return ohi_round_pages(sizeof(arena_block_t)); }

#define ARENA_ALLOC_MAX ((size_t)1 << 46)
/* Standard blocks double up to this mapping size: a cycle maps at most this
 * much more than it uses (address space; untouched pages cost nothing). */
#define ARENA_GROW_MAX ((size_t)64 << 20)

static arena_block_t *block_new(oh_arena_t *a, size_t map_size) {
  size_t held;
  if (!ohi_memlimit_grow(map_size, &held)) return NULL; /* the caller reports, with the limit noted */
  arena_block_t *b = ohi_pages_map(map_size, OHI_GRANULE);
  ohi_memlimit_settle(held); /* counted as committed now, or failed */
  if (b == NULL) return NULL;
  b->cap = map_size - sizeof(arena_block_t);
  OHI_ASAN_POISON(b->data, b->cap); /* unpoisoned piece by piece as it is bumped */
  ohi_span_publish(&b->span, (uintptr_t)b, map_size, OHI_SPAN_ARENA, a);
  if (ohi_region_set(b->span.base, map_size, &b->span) != 0) {
    ohi_pages_unmap(b, map_size);
    return NULL;
  }
  return b;
}

static void block_free(arena_block_t *b) {
  size_t size = b->span.size;
  if (b->decommitted) ohi_pages_recommit_account(b->decommitted);
  ohi_region_set(b->span.base, size, NULL);
  ohi_pages_unmap(b, size);
}

/* Makes the pages of b after its header page inaccessible (debug level 2);
 * best effort: a refusal by the OS leaves them open. */
static void block_guard(arena_block_t *b) {
  size_t hdr = hdr_bytes();
  if (b->span.size > hdr && ohi_os_protect((char *)b + hdr, b->span.size - hdr, 0) == 0) b->guarded = b->span.size - hdr;
}

/* What a reset does to the memory of a standard block it keeps (lock held):
 * at debug level >= 1 what was handed out is poisoned - all of it when the
 * block stays committed (keep), otherwise the part in the header page, the
 * rest being decommitted - and at level 2 its pages after the header page
 * are made inaccessible; an ASan build poisons the whole data area. */
static void block_retire(arena_block_t *b, long long debug, bool keep) {
  size_t used = OHI_LOAD_RELAXED(&b->used);
  size_t in_hdr_page = hdr_bytes() - sizeof(arena_block_t);
  if (debug >= 1) {
    size_t n = keep && debug < 2 ? used : (used < in_hdr_page ? used : in_hdr_page);
    OHI_ASAN_UNPOISON(b->data, n); /* alignment gaps between allocations are still poisoned */
    memset(b->data, ARENA_POISON, n);
  }
  if (debug >= 2 && keep && !b->guarded) block_guard(b);
  OHI_ASAN_POISON(b->data, b->cap);
}

oh_arena_t *oh_arena_new(size_t block_size) {
  ohi_options_init();
  if (block_size == 0) block_size = (size_t)1 << 20;
  if (block_size > ARENA_ALLOC_MAX)
    return ohi_fail_null(EINVAL, "oh_arena_new: block size %zu is larger than the maximum (2^46)", block_size);
  block_size = ohi_round_pages(block_size + sizeof(arena_block_t));
  oh_arena_t *a = ohi_meta_alloc(sizeof *a);
  if (a == NULL) return ohi_fail_null(ENOMEM, "oh_arena_new: out of memory for metadata");
  ohi_lock_init(&a->lock);
  a->block_size = a->next_size = block_size;
  OHI_STORE_RELEASE(&a->live, ARENA_LIVE(a));
  return a;
}

/* Bumps b's offset for n bytes aligned to align; NULL when b is full. */
static void *bump(arena_block_t *b, size_t n, size_t align) {
  size_t used = OHI_LOAD_ACQUIRE(&b->used);
  for (;;) {
    uintptr_t start = ((uintptr_t)b->data + used + align - 1) & ~(uintptr_t)(align - 1);
    size_t off = start - (uintptr_t)b->data;
    if (off > b->cap || b->cap - off < n) return NULL;
    if (OHI_CAS(&b->used, &used, off + n)) {
      /* Whole 8-byte shadow granules: two allocations bumped at once may
       * share one, and a partial-granule unpoison of one would race with the
       * other's (ASan keeps one shadow byte per granule). */
      uintptr_t g0 = start & ~(uintptr_t)7, g1 = (start + n + 7) & ~(uintptr_t)7;
      OHI_ASAN_UNPOISON((void *)g0, g1 - g0);
      return (void *)start;
    }
  }
}

/* Opens a kept block for reuse (lock held); false when the OS refuses to
 * open what a debug reset guarded (the block is then freed). */
static bool block_reopen(arena_block_t *b) {
  if (b->guarded) {
    if (ohi_os_protect((char *)b + hdr_bytes(), b->guarded, 1) != 0) {
      block_free(b);
      return false;
    }
    b->guarded = 0;
  }
  if (b->decommitted) {
    ohi_pages_recommit_account(b->decommitted);
    b->decommitted = 0;
  }
  return true;
}

/* A block for need bytes (lock held): the first kept block that holds them
 * (in the order the last cycle used them), or a new one - the next standard
 * size, doubled until it holds need, or of its own size (oversized) beyond
 * ARENA_GROW_MAX. NULL when the OS refuses. */
static arena_block_t *block_get(oh_arena_t *a, size_t need) {
  for (arena_block_t **pp = &a->spare; *pp != NULL;) {
    arena_block_t *b = *pp;
    if (b->cap < need) {
      pp = &b->next;
      continue;
    }
    *pp = b->next;
    if (block_reopen(b)) return b;
  }
  size_t hdr = sizeof(arena_block_t), size = a->next_size;
  while (size - hdr < need && size < ARENA_GROW_MAX) size <<= 1;
  bool oversized = size - hdr < need;
  if (oversized) size = ohi_round_pages(need + hdr);
  arena_block_t *nb = block_new(a, size);
  if (nb == NULL) return NULL;
  nb->oversized = oversized;
  if (!oversized && size < ARENA_GROW_MAX) a->next_size = size << 1 < ARENA_GROW_MAX ? size << 1 : ARENA_GROW_MAX;
  return nb;
}

void *oh_arena_alloc(oh_arena_t *a, size_t n, size_t align) {
  if (a == NULL) return ohi_fail_null(EINVAL, "oh_arena_alloc: NULL arena");
  if (OHI_UNLIKELY(!arena_live(a)))
    return ohi_fail_null(EINVAL, "oh_arena_alloc: arena %p is destroyed (or not an arena)", (void *)a);
  if (align == 0) align = 16;
  if ((align & (align - 1)) != 0 || align > ohi_os_page_size())
    return ohi_fail_null(EINVAL, "oh_arena_alloc: alignment %zu is not a power of two up to the page size", align);
  if (n == 0 || n > ARENA_ALLOC_MAX)
    return ohi_fail_null(EINVAL, "oh_arena_alloc: size %zu is out of range (1 .. 2^46)", n);
  for (;;) {
    arena_block_t *b = OHI_LOAD_ACQUIRE(&a->cur);
    if (b != NULL) {
      void *p = bump(b, n, align);
      if (p != NULL) return p;
    }
    ohi_lock(&a->lock);
    if (OHI_LOAD_RELAXED(&a->cur) != b) { /* another thread changed blocks */
      ohi_unlock(&a->lock);
      continue;
    }
    arena_block_t *nb = block_get(a, n + align);
    if (nb == NULL) {
      ohi_unlock(&a->lock);
      return ohi_fail_null(ENOMEM, "oh_arena_alloc: no block for %zu bytes", n);
    }
    nb->next = a->blocks;
    a->blocks = nb;
    if (nb->oversized) { /* its own block; the current one keeps serving small requests */
      void *p = bump(nb, n, align);
      ohi_unlock(&a->lock);
      return p;
    }
    OHI_STORE_RELEASE(&a->cur, nb);
    ohi_unlock(&a->lock);
  }
}

void oh_arena_reset(oh_arena_t *a, int flags) {
  if (a == NULL) {
    ohi_fail(EINVAL, "oh_arena_reset: NULL arena");
    return;
  }
  if (!arena_live(a)) {
    ohi_fail(EINVAL, "oh_arena_reset: arena %p is destroyed (or not an arena)", (void *)a);
    return;
  }
  ohi_lock(&a->lock);
  long long debug = ohi_opt(OH_OPT_DEBUG);
  bool keep_all = (flags & OH_ARENA_KEEP) != 0;
  /* Pushed newest first, the kept blocks end up in the order the cycle took
   * them, ahead of those it did not need. */
  for (arena_block_t *b = a->blocks, *next; b != NULL; b = next) {
    next = b->next;
    if (b->oversized) {
      block_free(b);
      continue;
    }
    block_retire(b, debug, keep_all);
    OHI_STORE_RELAXED(&b->used, 0);
    b->next = a->spare;
    a->spare = b;
  }
  if (!keep_all) {
    /* The smallest block stays, its header page committed, the rest
     * decommitted; the others are unmapped and growth starts over. */
    arena_block_t *keep = NULL;
    for (arena_block_t *b = a->spare; b != NULL; b = b->next)
      if (keep == NULL || b->span.size < keep->span.size) keep = b;
    for (arena_block_t *b = a->spare, *next; b != NULL; b = next) {
      next = b->next;
      if (b != keep) block_free(b);
    }
    a->spare = keep;
    a->next_size = a->block_size;
    if (keep != NULL) {
      size_t hdr = ohi_round_pages(sizeof(arena_block_t));
      if (keep->span.size > hdr && !keep->decommitted)
        keep->decommitted = ohi_pages_decommit((char *)keep + hdr, keep->span.size - hdr);
      if (debug >= 2 && !keep->guarded) block_guard(keep);
      keep->next = NULL;
    }
  }
  a->blocks = NULL;
  OHI_STORE_RELEASE(&a->cur, NULL);
  ohi_unlock(&a->lock);
}

int oh_arena_owns(oh_arena_t *a, const void *p) {
  if (a == NULL || p == NULL || !arena_live(a)) return 0;
  ohi_span_t *sp = ohi_region_lookup(p);
  if (sp == NULL || __atomic_load_n(&sp->kind, __ATOMIC_ACQUIRE) != OHI_SPAN_ARENA || OHI_LOAD_RELAXED(&sp->owner) != a)
    return 0;
  arena_block_t *b = (arena_block_t *)sp;
  uintptr_t q = (uintptr_t)p;
  return q >= (uintptr_t)b->data && q < (uintptr_t)b->data + OHI_LOAD_ACQUIRE(&b->used);
}

int oh_arena_destroy(oh_arena_t *a) {
  if (a == NULL) return ohi_fail(EINVAL, "oh_arena_destroy: NULL arena");
  uint64_t want = ARENA_LIVE(a);
  if (!OHI_CAS(&a->live, &want, 0))
    return ohi_fail(EINVAL, "oh_arena_destroy: arena %p is already destroyed (or not an arena)", (void *)a);
  ohi_lock(&a->lock); /* waits for a block change in progress (a misuse the header forbids) */
  for (arena_block_t *b = a->blocks, *next; b != NULL; b = next) {
    next = b->next;
    block_free(b);
  }
  for (arena_block_t *b = a->spare, *next; b != NULL; b = next) {
    next = b->next;
    block_free(b);
  }
  ohi_unlock(&a->lock);
  ohi_lock_destroy(&a->lock);
  ohi_meta_free(a, sizeof *a);
  return 0;
}

/* ---- blocks for a binding's own bump allocation ------------------------------------
 * The Go binding bumps through blocks itself (one call per block instead of
 * one per allocation). A block it takes is on the arena's list, so reset,
 * destroy and the region map treat it like any other, but it is never the
 * arena's current block: the core's own bump (oh_arena_alloc, which the
 * binding still uses in debug mode) never shares it. It counts as handed out
 * whole until the binding settles how much it used - before a reset, and when
 * it moves to another block - so that oh_arena_owns and the debug poisoning
 * of a reset see what was handed out. */

void *ohi_arena_take_block(oh_arena_t *a, size_t need, size_t align, size_t *cap) {
  if (a == NULL || !arena_live(a)) return ohi_fail_null(EINVAL, "oh_arena_alloc: arena %p is destroyed (or not an arena)", (void *)a);
  if (align == 0) align = 16;
  if (need == 0 || need > ARENA_ALLOC_MAX)
    return ohi_fail_null(EINVAL, "oh_arena_alloc: size %zu is out of range (1 .. 2^46)", need);
  ohi_lock(&a->lock);
  arena_block_t *nb = block_get(a, need + align);
  if (nb == NULL) {
    ohi_unlock(&a->lock);
    return ohi_fail_null(ENOMEM, "oh_arena_alloc: no block for %zu bytes", need);
  }
  nb->next = a->blocks;
  a->blocks = nb;
  OHI_STORE_RELEASE(&nb->used, nb->cap);
  OHI_ASAN_UNPOISON(nb->data, nb->cap);
  ohi_unlock(&a->lock);
  *cap = nb->cap;
  return nb->data;
}

void ohi_arena_settle(oh_arena_t *a, void *data, size_t used) {
  ohi_span_t *sp = ohi_region_lookup(data);
  if (sp == NULL || OHI_LOAD_ACQUIRE(&sp->kind) != OHI_SPAN_ARENA || OHI_LOAD_RELAXED(&sp->owner) != a) return;
  arena_block_t *b = (arena_block_t *)sp;
  if ((char *)data == b->data && used <= b->cap) OHI_STORE_RELEASE(&b->used, used);
}
