/* soak_ops.c - the operations of a soak worker (soak.c has the overview):
 * allocate from every kind, release, add references, hand buffers to other
 * threads through the shared slots, decommit parts of live buffers, commit
 * misuse that must be refused, and reset the worker's arena, each checked
 * against the records. */
#include "soak.h"

/* ---- operations ---------------------------------------------------------------- */

void op_alloc(worker_t *w) {
  uint64_t k = rnd(w) % 100;
  size_t n = gen_size(w);
  unsigned char *p = NULL;
  size_t usable = 0;
  int kind, large = 0;
  if (k < 28) {
    kind = K_ALLOC;
    int zero = k < 4;
    p = zero ? oh_calloc(n) : oh_alloc(n);
    if (p == NULL) fail("%s(%zu): %s", zero ? "oh_calloc" : "oh_alloc", n, oh_last_error());
    if (zero)
      for (size_t i = 0; i < n; i += 64)
        if (p[i] != 0) fail("oh_calloc(%zu) = %p: byte %zu is not zero", n, (void *)p, i);
    usable = oh_usable_size(p);
    large = n > ((size_t)1 << 20);
  } else if (k < 60) {
    kind = K_SLAB;
    if (k < 34) { /* a batch of small chunks */
      int cls = (int)(rnd(w) % 8);
      void *out[16];
      size_t want = 1 + rnd(w) % 16, csize = oh_slab_class_size(slab, cls);
      if (w->nlive + (int)want >= MAX_LIVE) return;
      size_t got = oh_slab_alloc_batch(slab, cls, out, want);
      if (got != want) fail("oh_slab_alloc_batch(%zu) = %zu: %s", want, got, oh_last_error());
      for (size_t i = 0; i < got; i++) {
        rec_t *r = new_rec(out[i], csize, csize, K_SLAB, 0, new_seed(w));
        r->ref = malloc(sizeof *r->ref);
        atomic_init(&r->ref->refs, 1);
        fill(r->p, r->n, r->seed);
        push(w, r);
      }
      atomic_fetch_add(&slab_allocs, got);
      w->c.batches++;
      w->c.allocs += got;
      return;
    }
    p = oh_slab_alloc(slab, n);
    if (p == NULL) fail("oh_slab_alloc(%zu): %s", n, oh_last_error());
    usable = oh_slab_usable_size(slab, p);
    large = n > SLAB_SIZE;
    atomic_fetch_add(&slab_allocs, 1);
  } else if (k < 72) {
    kind = K_UPOOL;
    n = UPOOL_SIZE;
    p = oh_pool_get(upool);
    if (p == NULL) fail("oh_pool_get: %s", oh_last_error());
    usable = (UPOOL_SIZE + 15) & ~(size_t)15;
  } else if (k < 78) {
    kind = K_POOL;
    n = POOL_SIZE;
    /* Counted out before the core sees the get, and back after the put; a
     * thread whose count would pass the maximum does not ask. So the core
     * never holds more objects than the count, and while this get is pending
     * at most POOL_MAX - 1 others: it must succeed. */
    long out = atomic_fetch_add(&pool_out, 1) + 1;
    if (out > POOL_MAX) {
      atomic_fetch_sub(&pool_out, 1);
      return;
    }
    p = oh_pool_get(pool);
    if (p == NULL) {
      atomic_fetch_sub(&pool_out, 1);
      fail("bounded oh_pool_get with %ld out of %d: %s", out, POOL_MAX, oh_last_error());
    }
    usable = (POOL_SIZE + 15) & ~(size_t)15;
  } else if (k < 98) {
    kind = K_ARENA;
    size_t align = (size_t)1 << (rnd(w) % 7 + 3);
    p = oh_arena_alloc(w->arena, n, align);
    if (p == NULL || (uintptr_t)p % align) fail("oh_arena_alloc(%zu, %zu) = %p: %s", n, align, (void *)p, oh_last_error());
  } else {
    if (rnd(w) % 8) return; /* oh_map is a system call each way: rare */
    kind = K_MAP;
    n = 1 + rnd(w) % (4 * page);
    p = oh_map(n);
    if (p == NULL) fail("oh_map(%zu): %s", n, oh_last_error());
    usable = (n + page - 1) & ~(page - 1);
  }
  if (kind != K_ARENA && (uintptr_t)p % 16) fail("%s(%zu) = %p: misaligned", kind_name[kind], n, (void *)p);
  rec_t *r = new_rec(p, n, usable, kind, large, new_seed(w));
  if (kind == K_SLAB) {
    r->ref = malloc(sizeof *r->ref);
    atomic_init(&r->ref->refs, 1);
  }
  fill(p, n, r->seed);
  push(w, r);
  w->c.allocs++;
}

/* Releases record r (taken out of the thread's list). */
void release(worker_t *w, rec_t *r) {
  verify(w, r, "before its release");
  int rc = 0;
  switch (r->kind) {
  case K_ALLOC:
    rc = oh_free(r->p);
    break;
  case K_SLAB: {
    atomic_fetch_sub(&r->ref->refs, 1);
    int f = oh_slab_decref(slab, r->p);
    if (f < 0) fail("oh_slab_decref(%p): %s", (void *)r->p, oh_last_error());
    if (f == 1) {
      atomic_fetch_add(&slab_frees, 1);
      free(r->ref); /* every other reference is gone: no record points at it */
    }
    break;
  }
  case K_UPOOL:
    rc = oh_pool_put(upool, r->p);
    break;
  case K_POOL:
    rc = oh_pool_put(pool, r->p);
    atomic_fetch_sub(&pool_out, 1);
    break;
  case K_MAP:
    rc = oh_unmap(r->p, r->n);
    break;
  case K_ARENA:
    fail("internal: an arena buffer released one by one");
  }
  if (rc != 0) fail("release of %s buffer %p: %s", kind_name[r->kind], (void *)r->p, oh_last_error());
  free(r);
  w->c.releases++;
}

void arena_reset(worker_t *w) {
  for (int i = 0; i < w->nlive;) {
    if (w->live[i]->kind == K_ARENA) {
      rec_t *r = take(w, i);
      verify(w, r, "before oh_arena_reset");
      free(r);
    } else {
      i++;
    }
  }
  oh_arena_reset(w->arena, rnd(w) % 4 ? OH_ARENA_KEEP : OH_ARENA_DECOMMIT);
}

void op_release(worker_t *w) {
  if (w->nlive == 0) return;
  int i = (int)(rnd(w) % (uint64_t)w->nlive);
  if (w->live[i]->kind == K_ARENA) {
    if (w->nlive > MAX_LIVE / 2) arena_reset(w);
    return;
  }
  release(w, take(w, i));
}

void op_addref(worker_t *w) {
  if (w->nlive == 0 || w->nlive >= MAX_LIVE - 1) return;
  rec_t *r = w->live[rnd(w) % (uint64_t)w->nlive];
  if (r->kind != K_SLAB) return;
  atomic_fetch_add(&r->ref->refs, 1);
  if (oh_slab_addref(slab, r->p) != 0) fail("oh_slab_addref(%p): %s", (void *)r->p, oh_last_error());
  rec_t *dup = malloc(sizeof *dup);
  *dup = *r;
  push(w, dup);
  w->c.addrefs++;
}

void op_handoff(worker_t *w) {
  rec_t *give = NULL;
  if (w->nlive > 0) {
    int i = (int)(rnd(w) % (uint64_t)w->nlive);
    if (w->live[i]->kind != K_ARENA) give = take(w, i);
  }
  rec_t *got = atomic_exchange(&slots[rnd(w) % NSLOTS], give);
  if (got != NULL) {
    verify(w, got, "handed over from another thread");
    push(w, got);
  }
  w->c.handoffs++;
}

/* Whether this thread holds the only reference: it may write the buffer. */
static int writable(const rec_t *r) { return r->ref == NULL || atomic_load(&r->ref->refs) == 1; }

void op_decommit(worker_t *w) {
  if (w->nlive == 0) return;
  rec_t *r = w->live[rnd(w) % (uint64_t)w->nlive];
  if (!writable(r) || r->n < page) return;
  size_t off = rnd(w) % r->n, len = 1 + rnd(w) % (r->n - off);
  uintptr_t base = (uintptr_t)r->p;
  uintptr_t s = (base + off + page - 1) & ~(uintptr_t)(page - 1), e = (base + off + len) & ~(uintptr_t)(page - 1);
  size_t lo = 0, hi = 0;
  if (e > s) lo = s - base, hi = e - base;
  size_t got = oh_decommit(r->p + off, len);
  if (got != hi - lo) fail("oh_decommit(%p+%zu, %zu) = %zu, want %zu", (void *)r->p, off, len, got, hi - lo);
  size_t bad = check(r->p, r->n, r->seed, lo, hi);
  if (bad != SIZE_MAX)
    fail("CORRUPTION: oh_decommit of [%zu, %zu) of %p changed byte %zu outside [%zu, %zu)", off, off + len,
         (void *)r->p, bad, lo, hi);
  fill(r->p, r->n, r->seed);
  w->c.decommits++;
}

/* Misuse that is safe while other threads run: foreign and interior pointers
 * of buffers this thread holds. */
void op_misuse(worker_t *w) {
  unsigned char stack[32];
  if (oh_free(stack) != -1 || errno != EINVAL) fail("oh_free(stack %p) did not fail with EINVAL", (void *)stack);
  if (w->nlive == 0) return;
  rec_t *r = w->live[rnd(w) % (uint64_t)w->nlive];
  if (r->n < 2 || r->kind == K_ARENA || r->kind == K_MAP) return;
  void *q = r->p + 1 + rnd(w) % (r->n - 1);
  int rc, want = EFAULT;
  switch (r->kind) {
  case K_ALLOC:
    rc = oh_free(q);
    break;
  case K_SLAB:
    rc = oh_slab_decref(slab, q);
    break;
  case K_UPOOL:
    rc = oh_pool_put(upool, q);
    break;
  default: /* K_POOL: put back into the other pool */
    rc = oh_pool_put(upool, r->p);
    want = EXDEV;
    break;
  }
  if (rc != -1 || errno != want)
    fail("misuse of %s buffer %p (%p) was not refused with %s: rc %d errno %d", kind_name[r->kind], (void *)r->p, q,
         want == EFAULT ? "EFAULT" : "EXDEV", rc, errno);
  verify(w, r, "after a refused misuse");
  w->c.misuses++;
}
