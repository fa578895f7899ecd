/* fuzz_misuse.c - the misuse the libFuzzer target (fuzz_ops.c has the
 * overview) commits - foreign, interior, stale and cross-instance releases -
 * each of which must fail through the whole error contract and change
 * nothing, and the lifecycles of issue 13 (racing unmaps, double destroys,
 * arena reset sequences). */
#include "fuzz_ops.h"

/* ---- misuse ---------------------------------------------------------------------- */

static const int release_errs[] = {EINVAL, EFAULT, EALREADY, EXDEV};

void op_misuse(void) {
  unsigned char stack[64];
  int i;
  switch (next() % 8) {
  case 0: /* foreign pointers: stack, malloc */ {
    void *m = malloc(64);
    void *foreign = next() % 2 ? (void *)stack : m;
    EXPECT_ERR("oh_free(foreign)", oh_free(foreign) != 0, foreign, EINVAL);
    EXPECT_ERR("oh_slab_decref(foreign)", oh_slab_decref(F.s, foreign) == -1, foreign, EINVAL);
    EXPECT_ERR("oh_slab_addref(foreign)", oh_slab_addref(F.s, foreign) != 0, foreign, EINVAL);
    EXPECT_ERR("oh_pool_put(foreign)", oh_pool_put(F.upool, foreign) != 0, foreign, EINVAL);
    EXPECT_ERR("oh_unmap(foreign)", oh_unmap(foreign, page) != 0, foreign, EINVAL);
    EXPECT_ERR("oh_usable_size(foreign)", oh_usable_size(foreign) == 0, foreign, EINVAL);
    if (oh_arena_owns(F.arena, foreign) != 0) fail("oh_arena_owns(foreign %p) != 0", foreign);
    free(m);
    break;
  }
  case 1: /* interior pointers */
    i = pick();
    if (i < 0 || F.live[i].n < 2 || F.live[i].kind == K_ARENA) return;
    {
      live_t *l = &F.live[i];
      void *q = l->p + 1 + next() % (l->n - 1);
      switch (l->kind) {
      case K_ALLOC:
      case K_CALLOC:
        EXPECT_ERR("oh_free(interior)", oh_free(q) != 0, q, EFAULT);
        break;
      case K_SLAB:
        EXPECT_ERR("oh_slab_decref(interior)", oh_slab_decref(F.s, q) == -1, q, EFAULT);
        EXPECT_ERR("oh_slab_addref(interior)", oh_slab_addref(F.s, q) != 0, q, EFAULT);
        EXPECT_ERR("oh_slab_refcount(interior)", oh_slab_refcount(F.s, q) == -1, q, EFAULT);
        break;
      case K_POOL:
        EXPECT_ERR("oh_pool_put(interior)", oh_pool_put(F.pool, q) != 0, q, EFAULT);
        break;
      case K_UPOOL:
        EXPECT_ERR("oh_pool_put(interior)", oh_pool_put(F.upool, q) != 0, q, EFAULT);
        break;
      case K_MAP:
        EXPECT_ERR("oh_unmap(interior)", oh_unmap(q, page) != 0, q, EFAULT);
        break;
      }
      verify(l, "after a misuse");
    }
    break;
  case 2: /* another instance's allocation */
    i = pick();
    if (i < 0) return;
    {
      live_t *l = &F.live[i];
      switch (l->kind) {
      case K_ALLOC:
      case K_CALLOC:
        EXPECT_ERR("oh_slab_decref(s, default allocation)", oh_slab_decref(F.s, l->p) == -1, l->p, EXDEV);
        EXPECT_ERR("oh_pool_put(default allocation)", oh_pool_put(F.upool, l->p) != 0, l->p, EXDEV);
        break;
      case K_SLAB:
        EXPECT_ERR("oh_free(slab chunk)", oh_free(l->p) != 0, l->p, EXDEV);
        EXPECT_ERR("oh_slab_decref(other, chunk)", oh_slab_decref(F.other, l->p) == -1, l->p, EXDEV);
        EXPECT_ERR("oh_slab_addref(other, chunk)", oh_slab_addref(F.other, l->p) != 0, l->p, EXDEV);
        break;
      case K_POOL:
        EXPECT_ERR("oh_pool_put(other pool)", oh_pool_put(F.upool, l->p) != 0, l->p, EXDEV);
        EXPECT_ERR("oh_free(pool object)", oh_free(l->p) != 0, l->p, EXDEV);
        break;
      case K_UPOOL:
        EXPECT_ERR("oh_pool_put(other pool)", oh_pool_put(F.pool, l->p) != 0, l->p, EXDEV);
        break;
      case K_ARENA:
        if (l->gen != F.gen) return;
        EXPECT_ERR("oh_free(arena memory)", oh_free(l->p) != 0, l->p, EXDEV);
        break;
      case K_MAP:
        EXPECT_ERR("oh_free(oh_map memory)", oh_free(l->p) != 0, l->p, EINVAL, EXDEV);
        EXPECT_ERR("oh_unmap(wrong size)", oh_unmap(l->p, l->usable + page) != 0, l->p, EINVAL);
        break;
      }
      verify(l, "after a misuse");
      if (l->kind == K_SLAB && oh_slab_refcount(F.s, l->p) != l->refs)
        fail("a refused release changed the refcount of %p", (void *)l->p);
    }
    break;
  case 3: /* stale pointers: double free, decref below zero, addref after free */ {
    if (F.ndead == 0) return;
    int d = next() % F.ndead;
    void *p = F.dead[d].p;
    if (find_live(p) >= 0) return; /* handed out again: the new owner's */
    switch (F.dead[d].kind) {
    case K_ALLOC:
    case K_CALLOC:
      cap_reset();
      errno = 0;
      {
        int r = oh_free(p), e = errno;
        expect_err_("double oh_free", r != 0, e, p, release_errs, 4);
      }
      break;
    case K_SLAB:
      cap_reset();
      errno = 0;
      {
        int r = next() % 2 ? oh_slab_decref(F.s, p) : oh_slab_addref(F.s, p), e = errno;
        expect_err_("oh_slab_decref/addref of a freed chunk", r == -1, e, p, release_errs, 4);
      }
      break;
    case K_POOL:
    case K_UPOOL:
      cap_reset();
      errno = 0;
      {
        int r = oh_pool_put(F.dead[d].kind == K_POOL ? F.pool : F.upool, p), e = errno;
        expect_err_("double oh_pool_put", r != 0, e, p, release_errs, 4);
      }
      break;
    case K_MAP:
      cap_reset();
      errno = 0;
      {
        int r = oh_unmap(p, F.dead[d].n), e = errno;
        expect_err_("double oh_unmap", r != 0, e, p, release_errs, 4);
      }
      break;
    }
    break;
  }
  case 4: /* NULL and bad arguments */
    cap_reset();
    if (oh_free(NULL) != 0 || cap.count != 0) fail("oh_free(NULL) is not a silent no-op");
    EXPECT_ERR("oh_slab_alloc(NULL)", oh_slab_alloc(NULL, 10) == NULL, NULL, EINVAL);
    EXPECT_ERR("oh_pool_get(NULL)", oh_pool_get(NULL) == NULL, NULL, EINVAL);
    EXPECT_ERR("oh_map(0)", oh_map(0) == NULL, NULL, EINVAL);
    EXPECT_ERR("oh_arena_alloc(0)", oh_arena_alloc(F.arena, 0, 0) == NULL, NULL, EINVAL);
    EXPECT_ERR("oh_arena_alloc(align 24)", oh_arena_alloc(F.arena, 8, 24) == NULL, NULL, EINVAL);
    EXPECT_ERR("oh_alloc(SIZE_MAX)", oh_alloc(SIZE_MAX) == NULL, NULL, EINVAL, ENOMEM);
    EXPECT_ERR("oh_slab_alloc(huge)", oh_slab_alloc(F.s, (size_t)1 << 62) == NULL, NULL, EINVAL, ENOMEM);
    EXPECT_ERR("oh_option_set(debug 7)", oh_option_set(OH_OPT_DEBUG, 7) != 0, NULL, EINVAL);
    break;
  case 5: /* a destroyed instance's memory */ {
    cap_reset();
    errno = 0;
    oh_slab_t *t = oh_slab_new(NULL);
    if (t == NULL) {
      alloc_failed("oh_slab_new", errno, 0);
      return;
    }
    cap_reset();
    errno = 0;
    void *p = oh_slab_alloc(t, 1 + next());
    int e = errno;
    if (p == NULL) alloc_failed("oh_slab_alloc(fresh)", e, 0);
    oh_slab_destroy(t);
    if (p != NULL && find_live(p) < 0) {
      cap_reset();
      errno = 0;
      int r = oh_free(p);
      e = errno;
      expect_err_("oh_free of a destroyed slab's chunk", r != 0, e, p, release_errs, 4);
    }
    break;
  }
  case 6: /* usable size and refcount of a live allocation */
    i = pick();
    if (i < 0) return;
    if ((F.live[i].kind == K_ALLOC || F.live[i].kind == K_CALLOC) && oh_usable_size(F.live[i].p) != F.live[i].usable)
      fail("oh_usable_size(%p) changed", (void *)F.live[i].p);
    if (F.live[i].kind == K_SLAB && oh_slab_refcount(F.s, F.live[i].p) != F.live[i].refs)
      fail("oh_slab_refcount(%p) = %ld, model %ld", (void *)F.live[i].p, oh_slab_refcount(F.s, F.live[i].p),
           F.live[i].refs);
    break;
  case 7: /* arena memory that is not handed out */
    if (oh_arena_owns(F.arena, stack) != 0) fail("oh_arena_owns(stack)");
    i = pick();
    if (i >= 0 && F.live[i].kind != K_ARENA && oh_arena_owns(F.arena, F.live[i].p) != 0)
      fail("oh_arena_owns(%p) of a %s allocation", (void *)F.live[i].p, kind_name[F.live[i].kind]);
    break;
  }
}

/* Lifecycles (issue 13): two threads racing to unmap one mapping (exactly one
 * wins), oh_unmap of an allocator's memory, a pool and an arena destroyed
 * twice and used after destroy, and arena reset sequences under the debug
 * level in force (memory handed out again must be writable: a guard left
 * behind would fault). */
static void *unmap_racer(void *arg) {
  void **pn = arg;
  return (void *)(intptr_t)(oh_unmap(pn[0], (size_t)(uintptr_t)pn[1]) == 0);
}

void op_lifecycle(void) {
  switch (next() % 3) {
  case 0: { /* racing double unmap */
    size_t n = page * (1 + next() % 4);
    cap_reset();
    void *m = oh_map(n), *pn[2] = {m, (void *)(uintptr_t)n};
    if (m == NULL) {
      alloc_failed("oh_map(lifecycle)", errno, 0);
      return;
    }
    pthread_t t;
    if (pthread_create(&t, NULL, unmap_racer, pn) != 0) {
      if (oh_unmap(m, n) != 0) fail("oh_unmap(%p): %s", m, oh_last_error());
      return;
    }
    int mine = oh_unmap(m, n) == 0;
    void *theirs;
    pthread_join(t, &theirs);
    if (mine + (int)(intptr_t)theirs != 1) fail("racing oh_unmap(%p): %d winners", m, mine + (int)(intptr_t)theirs);
    int i = pick();
    if (i >= 0 && F.live[i].kind != K_MAP)
      EXPECT_ERR("oh_unmap(allocator memory)", oh_unmap(F.live[i].p, page) != 0, F.live[i].p, EINVAL, EFAULT);
    break;
  }
  case 1: { /* a pool destroyed twice */
    cap_reset();
    oh_pool_t *p = oh_pool_new(1 + next(), NULL);
    if (p == NULL) {
      alloc_failed("oh_pool_new", errno, 0);
      return;
    }
    void *o = oh_pool_get(p);
    if (o == NULL && F.fault_ops == 0) fail("oh_pool_get(fresh pool): %s", oh_last_error());
    if (oh_pool_destroy(p) != 0) fail("oh_pool_destroy(%p): %s", (void *)p, oh_last_error());
    EXPECT_ERR("oh_pool_destroy twice", oh_pool_destroy(p) != 0, p, EINVAL);
    EXPECT_ERR("oh_pool_get(destroyed)", oh_pool_get(p) == NULL, p, EINVAL);
    break;
  }
  case 2: { /* arena reset sequences, then destroy twice */
    cap_reset();
    oh_arena_t *a = oh_arena_new((size_t)(1 + next() % 8) * page);
    if (a == NULL) {
      alloc_failed("oh_arena_new", errno, 0);
      return;
    }
    for (int k = 1 + next() % 6; k > 0; k--) {
      size_t n = 1 + u16() % (12 * page);
      unsigned char *q = oh_arena_alloc(a, n, next() % 2 ? 0 : page);
      if (q == NULL) {
        if (F.fault_ops == 0) fail("oh_arena_alloc(lifecycle, %zu): %s", n, oh_last_error());
        continue;
      }
      fill(q, n, ++F.seq);
      if (check(q, n, F.seq, 0, 0) != SIZE_MAX) fail("CORRUPTION: lifecycle arena allocation %p", (void *)q);
      if (next() % 3 == 0) oh_arena_reset(a, next() % 2 ? OH_ARENA_KEEP : OH_ARENA_DECOMMIT);
    }
    if (oh_arena_destroy(a) != 0) fail("oh_arena_destroy(%p): %s", (void *)a, oh_last_error());
    EXPECT_ERR("oh_arena_destroy twice", oh_arena_destroy(a) != 0, a, EINVAL);
    EXPECT_ERR("oh_arena_alloc(destroyed)", oh_arena_alloc(a, 8, 0) == NULL, a, EINVAL);
    break;
  }
  }
}
