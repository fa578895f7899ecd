/* fuzz_steps.c - the operations of the libFuzzer target (fuzz_ops.c has the
 * overview) on live allocations: allocate from every kind of instance,
 * release, free in batches, add references, decommit, reset the arena and
 * rewrite, each checked against the model (fuzz_model.c). */
#include "fuzz_ops.h"

/* ---- operations ---------------------------------------------------------------- */

void op_alloc(void) {
  int kind = next() % K_COUNT;
  size_t n = gen_size();
  live_t lv = {0};
  lv.kind = kind;
  lv.refs = 1;
  char what[64];
  snprintf(what, sizeof what, "%s(%zu)", kind_name[kind], n);
  void *p = NULL;
  cap_reset();
  errno = 0;
  switch (kind) {
  case K_ALLOC:
    p = oh_alloc(n);
    break;
  case K_CALLOC:
    p = oh_calloc(n);
    break;
  case K_SLAB:
    if (next() % 4 == 0) { /* a batch of one class */
      int cls = next() % oh_slab_class_count(F.s);
      void *out[16];
      size_t want = 1 + next() % 16, csize = oh_slab_class_size(F.s, cls);
      if (F.nlive + (int)want >= MAX_LIVE) return;
      size_t got = oh_slab_alloc_batch(F.s, cls, out, want);
      int e = errno;
      if (got == 0) {
        alloc_failed("oh_slab_alloc_batch", e, 0);
        return;
      }
      if (got > want) fail("oh_slab_alloc_batch(%zu) returned %zu", want, got);
      if (got < want && F.fault_ops == 0) fail("oh_slab_alloc_batch(%zu) returned only %zu", want, got);
      for (size_t i = 0; i < got; i++) {
        live_t b = {.p = out[i], .n = csize, .usable = csize, .seed = ++F.seq, .refs = 1, .kind = K_SLAB};
        if (oh_slab_usable_size(F.s, out[i]) != csize || oh_slab_refcount(F.s, out[i]) != 1)
          fail("batch chunk %p: usable %zu refcount %ld, want %zu, 1", out[i], oh_slab_usable_size(F.s, out[i]),
               oh_slab_refcount(F.s, out[i]), csize);
        fill(b.p, b.n, b.seed);
        add_live(b);
      }
      return;
    }
    p = oh_slab_alloc(F.s, n);
    break;
  case K_POOL:
    n = POOL_SIZE;
    p = oh_pool_get(F.pool);
    if (p == NULL) {
      int e = errno;
      alloc_failed("oh_pool_get (bounded)", e, F.pool_out == POOL_MAX);
      return;
    }
    if (F.pool_out == POOL_MAX) fail("bounded pool handed out object %d of %d", POOL_MAX + 1, POOL_MAX);
    F.pool_out++;
    break;
  case K_UPOOL:
    n = UPOOL_SIZE;
    p = oh_pool_get(F.upool);
    break;
  case K_ARENA: {
    size_t aligns[] = {0, 16, 8, 64, 4096};
    size_t align = aligns[next() % 5];
    p = oh_arena_alloc(F.arena, n, align);
    if (p != NULL && ((uintptr_t)p % (align ? align : 16)) != 0) fail("%s align %zu = %p", what, align, p);
    if (p != NULL && oh_arena_owns(F.arena, p) != 1) fail("oh_arena_owns(%p) is not 1 right after allocation", p);
    break;
  }
  case K_MAP:
    n = 1 + u16() % (3 * page);
    p = oh_map(n);
    break;
  }
  int e = errno;
  if (p == NULL) {
    alloc_failed(what, e, 0);
    return;
  }
  if (cap.count != 0) fail("%s succeeded but called the error handler: %s", what, cap.msg);
  if (kind != K_ARENA && (uintptr_t)p % 16 != 0) fail("%s = %p: not 16-byte aligned", what, p);
  lv.p = p;
  lv.n = n;
  lv.seed = ++F.seq;
  switch (kind) {
  case K_ALLOC:
  case K_CALLOC:
    lv.usable = oh_usable_size(p);
    check_usable(what, oh_default_slab(), (size_t)1 << 20, n, lv.usable);
    lv.large = n > ((size_t)1 << 20);
    if (n % page == 0 && (uintptr_t)p % page != 0) fail("%s = %p: a page multiple, not page aligned", what, p);
    if (kind == K_CALLOC && first_nonzero(p, n) != SIZE_MAX) fail("%s = %p: not zeroed", what, p);
    break;
  case K_SLAB:
    lv.usable = oh_slab_usable_size(F.s, p);
    check_usable(what, F.s, F.slab_size, n, lv.usable);
    lv.large = n > F.slab_size;
    if (oh_slab_refcount(F.s, p) != 1) fail("%s = %p: refcount %ld", what, p, oh_slab_refcount(F.s, p));
    break;
  case K_POOL:
    lv.usable = (POOL_SIZE + 15) & ~(size_t)15;
    break;
  case K_UPOOL:
    lv.usable = (UPOOL_SIZE + 15) & ~(size_t)15;
    break;
  case K_ARENA:
    lv.gen = F.gen;
    break;
  case K_MAP:
    lv.usable = round_pages(n);
    if ((uintptr_t)p % page != 0 || first_nonzero(p, round_pages(n)) != SIZE_MAX)
      fail("%s = %p: not page aligned and zeroed", what, p);
    break;
  }
  fill(p, n, lv.seed);
  add_live(lv);
}

int pick(void) { return F.nlive == 0 ? -1 : (int)(u16() % (size_t)F.nlive); }

/* Releases live allocation i the way its kind is released. */
void release_at(int i) {
  live_t *l = &F.live[i];
  if (l->kind == K_ARENA) {
    verify(l, "in the arena");
    return;
  }
  verify(l, "before its release");
  int r;
  cap_reset();
  errno = 0;
  switch (l->kind) {
  case K_ALLOC:
  case K_CALLOC:
    if (l->refs > 1) { /* an extra reference through the default slab */
      EXPECT_ERR("oh_free of an allocation with 2 references", oh_free(l->p) != 0, l->p, EBUSY);
      cap_reset();
      r = oh_slab_decref(oh_default_slab(), l->p);
      if (r != 0) fail("oh_slab_decref(default, %p) with 2 references = %d (%s)", (void *)l->p, r, cap.msg);
      l->refs--;
      return;
    }
    r = oh_free(l->p);
    if (r != 0) fail("oh_free(%p) = %d: %s", (void *)l->p, r, cap.msg);
    break;
  case K_SLAB:
    r = oh_slab_decref(F.s, l->p);
    if (r != (l->refs == 1)) fail("oh_slab_decref(%p) with %ld references = %d: %s", (void *)l->p, l->refs, r, cap.msg);
    if (--l->refs > 0) {
      if (oh_slab_refcount(F.s, l->p) != l->refs) fail("refcount of %p is not %ld", (void *)l->p, l->refs);
      return;
    }
    break;
  case K_POOL:
    r = oh_pool_put(F.pool, l->p);
    if (r != 0) fail("oh_pool_put(bounded, %p) = %d: %s", (void *)l->p, r, cap.msg);
    F.pool_out--;
    break;
  case K_UPOOL:
    r = oh_pool_put(F.upool, l->p);
    if (r != 0) fail("oh_pool_put(%p) = %d: %s", (void *)l->p, r, cap.msg);
    break;
  case K_MAP:
    r = oh_unmap(l->p, next() % 2 ? l->n : l->usable);
    if (r != 0) fail("oh_unmap(%p, %zu) = %d: %s", (void *)l->p, l->n, r, cap.msg);
    break;
  }
  if (cap.count != 0) fail("a release succeeded but called the error handler: %s", cap.msg);
  live_t lv = take_live(i);
  add_dead(lv.p, lv.n, lv.kind);
}

void op_release(void) {
  int i = pick();
  if (i >= 0) release_at(i);
}

/* Frees several refcount-1 slab chunks in one oh_slab_free_batch call,
 * sometimes with a bad pointer in the middle. */
void op_free_batch(void) {
  void *ptrs[16];
  int idx[16], k = 0;
  for (int i = 0; i < F.nlive && k < 16; i++)
    if (F.live[i].kind == K_SLAB && F.live[i].refs == 1 && !F.live[i].large && next() % 2) {
      verify(&F.live[i], "before a batch free");
      idx[k] = i;
      ptrs[k++] = F.live[i].p;
    }
  if (k == 0) return;
  size_t badpos = SIZE_MAX, bad = 0;
  unsigned char foreign[32];
  if (next() % 3 == 0) {
    badpos = next() % (size_t)k;
    ptrs[badpos] = foreign;
  }
  cap_reset();
  errno = 0;
  int r = oh_slab_free_batch(F.s, ptrs, (size_t)k, &bad);
  int e = errno;
  size_t freed = (size_t)k;
  if (badpos != SIZE_MAX) {
    int wants[] = {EINVAL};
    expect_err_("oh_slab_free_batch with a foreign pointer", r == -1, e, foreign, wants, 1);
    if (bad != badpos) fail("oh_slab_free_batch: bad index %zu, want %zu", bad, badpos);
    freed = badpos;
  } else if (r != 0) {
    fail("oh_slab_free_batch of %d chunks = %d: %s", k, r, cap.msg);
  }
  /* The chunks before the bad one are freed, the others still live. */
  void *gone[16];
  for (size_t j = 0; j < freed; j++) gone[j] = ptrs[j];
  for (size_t j = 0; j < freed; j++) {
    int i = find_live(gone[j]);
    live_t lv = take_live(i);
    add_dead(lv.p, lv.n, lv.kind);
  }
  for (int j = (int)freed + 1; j < k; j++)
    if (oh_slab_refcount(F.s, ptrs[j]) != 1) fail("a chunk after the bad one was freed by oh_slab_free_batch");
  (void)idx;
}

void op_addref(void) {
  int i = pick();
  if (i < 0) return;
  live_t *l = &F.live[i];
  if (l->kind == K_SLAB) {
    if (oh_slab_addref(F.s, l->p) != 0) fail("oh_slab_addref(%p): %s", (void *)l->p, cap.msg);
    l->refs++;
    if (oh_slab_refcount(F.s, l->p) != l->refs) fail("refcount of %p is not %ld", (void *)l->p, l->refs);
  } else if ((l->kind == K_ALLOC || l->kind == K_CALLOC) && l->refs == 1) {
    /* The process-wide allocator is a slab instance too. */
    if (oh_slab_addref(oh_default_slab(), l->p) != 0) fail("oh_slab_addref(default, %p): %s", (void *)l->p, cap.msg);
    l->refs++;
  }
}

void op_decommit(void) {
  int i = pick();
  if (i < 0) return;
  live_t *l = &F.live[i];
  size_t off = u24() % l->n, len = 1 + u24() % (l->n - off);
  if (next() % 4 == 0) off = 0, len = l->n;
  uintptr_t base = (uintptr_t)l->p;
  uintptr_t start = (base + off + page - 1) & ~(uintptr_t)(page - 1), end = (base + off + len) & ~(uintptr_t)(page - 1);
  size_t lo = 0, hi = 0;
  if (end > start) lo = start - base, hi = end - base;
  size_t got = oh_decommit(l->p + off, len);
  if (got != hi - lo) fail("oh_decommit(%p+%zu, %zu) = %zu, want %zu", (void *)l->p, off, len, got, hi - lo);
  size_t bad = check(l->p, l->n, l->seed, lo, hi);
  if (bad != SIZE_MAX)
    fail("CORRUPTION: oh_decommit of [%zu, %zu) of %p changed byte %zu (0x%02x) outside [%zu, %zu) or not to zero",
         off, off + len, (void *)l->p, bad, l->p[bad], lo, hi);
  fill(l->p, l->n, l->seed);
}

void op_arena_reset(void) {
  for (int i = 0; i < F.nlive;) {
    if (F.live[i].kind == K_ARENA) {
      verify(&F.live[i], "before oh_arena_reset");
      take_live(i);
    } else {
      i++;
    }
  }
  oh_arena_reset(F.arena, next() % 2 ? OH_ARENA_KEEP : OH_ARENA_DECOMMIT);
  F.gen++;
}

void op_rewrite(void) {
  int i = pick();
  if (i < 0) return;
  verify(&F.live[i], "before a rewrite");
  F.live[i].seed = ++F.seq;
  fill(F.live[i].p, F.live[i].n, F.live[i].seed);
}
