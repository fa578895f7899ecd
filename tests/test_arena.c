/* test_arena.c - bump arenas: alignment, bad arguments, allocations bigger than
 * a block, reset (KEEP / DECOMMIT), oh_arena_owns, destroy, accounting. */
#include "test_util.h"

#include <stdlib.h>

Test(arena, every_power_of_two_alignment_up_to_page) {
  oh_arena_t *a = oh_arena_new(64 * KiB);
  cr_assert(a != NULL, "oh_arena_new failed: %s", t_errname(errno));
  size_t ps = t_page();
  uint64_t rng = 3;
  for (int round = 0; round < 20; round++) {
    for (size_t al = 1; al <= ps; al *= 2) {
      size_t n = 1 + t_rand(&rng) % 300;
      unsigned char *p = oh_arena_alloc(a, n, al);
      cr_assert(p != NULL, "oh_arena_alloc(%zu, align %zu) failed: %s", n, al, t_errname(errno));
      cr_expect_eq((uintptr_t)p % al, 0, "oh_arena_alloc(%zu, %zu) = %p misaligned", n, al,
                   (void *)p);
      memset(p, 0xEE, n);
    }
    unsigned char *d = oh_arena_alloc(a, 3, 0);
    cr_assert(d != NULL);
    cr_expect_eq((uintptr_t)d % 16, 0, "align 0 must mean 16, got %p", (void *)d);
  }
  cr_expect_eq(oh_arena_destroy(a), 0);
}

Test(arena, allocations_are_disjoint_and_keep_contents) {
  oh_arena_t *a = oh_arena_new(16 * KiB);
  cr_assert(a != NULL);
  size_t n = t_scaled(5000, 10);
  t_range_t *r = calloc(n, sizeof *r);
  uint64_t rng = 11;
  for (size_t i = 0; i < n; i++) {
    size_t len = 1 + t_rand(&rng) % 2000;
    size_t al = (size_t)1 << (t_rand(&rng) % 7);
    void *p = oh_arena_alloc(a, len, al);
    cr_assert(p != NULL);
    t_fill(p, len, t_seed(9, i));
    r[i].addr = (uintptr_t)p;
    r[i].len = len;
  }
  for (size_t i = 0; i < n; i++) {
    cr_expect_eq(t_check((void *)r[i].addr, r[i].len, t_seed(9, i)), SIZE_MAX,
                 "arena allocation %zu overwritten", i);
    cr_expect(oh_arena_owns(a, (void *)r[i].addr), "owns(allocation %zu) = 0", i);
    cr_expect(oh_arena_owns(a, (void *)(r[i].addr + r[i].len - 1)), "owns(last byte of %zu)", i);
  }
  size_t bad = 0;
  cr_expect(!t_ranges_overlap(r, n, &bad), "arena allocations overlap");
  free(r);
  oh_arena_destroy(a);
}

Test(arena, bad_arguments_are_einval) {
  t_cap_install();
  oh_arena_t *a = oh_arena_new(0);
  cr_assert(a != NULL);
  size_t ps = t_page();
  struct {
    size_t n, align;
    const char *what;
    int alt;
  } bad[] = {{0, 0, "n 0", 0},
             {0, 16, "n 0 align 16", 0},
             {16, 3, "align 3", 0},
             {16, 24, "align 24", 0},
             {16, 100, "align 100", 0},
             {16, ps + 1, "align page+1", 0},
             {16, 2 * ps, "align 2 pages (above the page size)", 0},
             {16, SIZE_MAX, "align SIZE_MAX", 0},
             {SIZE_MAX, 16, "n SIZE_MAX", ENOMEM},
             {SIZE_MAX - ps, 16, "n SIZE_MAX - page", ENOMEM},
             {SIZE_MAX / 2, 16, "n SIZE_MAX/2", ENOMEM}};
  void *first = oh_arena_alloc(a, 64, 0);
  cr_assert(first != NULL);
  t_fill(first, 64, 4);
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    char what[96];
    snprintf(what, sizeof what, "oh_arena_alloc(%s)", bad[i].what);
    t_cap_reset();
    errno = 0;
    void *p = oh_arena_alloc(a, bad[i].n, bad[i].align);
    int e = errno;
    if (bad[i].alt)
      T_EXPECT_ERR(what, p == NULL, e, NULL, EINVAL, bad[i].alt);
    else
      T_EXPECT_ERR(what, p == NULL, e, NULL, EINVAL);
  }
  t_cap_reset();
  errno = 0;
  void *p = oh_arena_alloc(NULL, 16, 0);
  int e = errno;
  T_EXPECT_ERR("oh_arena_alloc(NULL arena)", p == NULL, e, NULL, EINVAL);
  t_cap_reset();
  errno = 0;
  int rc = oh_arena_destroy(NULL);
  e = errno;
  T_EXPECT_ERR("oh_arena_destroy(NULL)", rc == -1, e, NULL, EINVAL);
  t_cap_reset();
  errno = 0;
  oh_arena_t *huge = oh_arena_new(SIZE_MAX);
  e = errno;
  T_EXPECT_ERR("oh_arena_new(SIZE_MAX)", huge == NULL, e, NULL, EINVAL, ENOMEM);
  cr_expect_eq(oh_arena_owns(NULL, first), 0);
  oh_arena_reset(NULL, OH_ARENA_KEEP); /* must not crash */
  /* the arena still works and kept its data */
  cr_expect_eq(t_check(first, 64, 4), SIZE_MAX, "failed calls changed an allocation");
  void *ok = oh_arena_alloc(a, 100, 64);
  cr_expect(ok != NULL && (uintptr_t)ok % 64 == 0);
  oh_arena_destroy(a);
  t_cap_remove();
}

Test(arena, allocation_bigger_than_a_block) {
  oh_arena_t *a = oh_arena_new(64 * KiB);
  cr_assert(a != NULL);
  unsigned char *small1 = oh_arena_alloc(a, 100, 0);
  unsigned char *big = oh_arena_alloc(a, 3 * MiB + 5, 0);
  unsigned char *bigal = oh_arena_alloc(a, 200 * KiB, t_page());
  unsigned char *small2 = oh_arena_alloc(a, 100, 0);
  cr_assert(small1 && big && bigal && small2, "allocation failed: %s", t_errname(errno));
  cr_expect_eq((uintptr_t)bigal % t_page(), 0);
  t_fill(small1, 100, 1);
  t_fill_sparse(big, 3 * MiB + 5, 2);
  t_fill_sparse(bigal, 200 * KiB, 3);
  t_fill(small2, 100, 4);
  cr_expect_eq(t_check(small1, 100, 1), SIZE_MAX);
  cr_expect_eq(t_check_sparse(big, 3 * MiB + 5, 2), SIZE_MAX);
  cr_expect_eq(t_check_sparse(bigal, 200 * KiB, 3), SIZE_MAX);
  cr_expect_eq(t_check(small2, 100, 4), SIZE_MAX);
  cr_expect(oh_arena_owns(a, big + 3 * MiB), "owns(inside the big allocation) = 0");
  cr_expect(oh_arena_owns(a, small2));
  oh_arena_destroy(a);
}

Test(arena, owns_only_what_it_handed_out) {
  oh_arena_t *a = oh_arena_new(64 * KiB), *b = oh_arena_new(64 * KiB);
  cr_assert(a && b);
  unsigned char *p = oh_arena_alloc(a, 100, 16);
  unsigned char *q = oh_arena_alloc(b, 100, 16);
  cr_assert(p && q);
  int local;
  void *heap = malloc(16);
  void *chunk = oh_alloc(100);
  cr_expect_eq(oh_arena_owns(a, p), 1);
  cr_expect_eq(oh_arena_owns(a, p + 99), 1);
  cr_expect_eq(oh_arena_owns(a, p + 100 + 4096), 0, "owns() beyond the bump pointer");
  cr_expect_eq(oh_arena_owns(a, q), 0, "owns(another arena's allocation)");
  cr_expect_eq(oh_arena_owns(a, &local), 0);
  cr_expect_eq(oh_arena_owns(a, heap), 0);
  cr_expect_eq(oh_arena_owns(a, chunk), 0, "owns(oh_alloc chunk)");
  cr_expect_eq(oh_arena_owns(a, NULL), 0);
  cr_expect_eq(oh_arena_owns(a, (void *)0x1000), 0);
  oh_arena_reset(a, OH_ARENA_KEEP);
  cr_expect_eq(oh_arena_owns(a, p), 0, "owns() of an allocation from before reset");
  free(heap);
  oh_free(chunk);
  oh_arena_destroy(a);
  oh_arena_destroy(b);
}

/* The first arena of a process also maps a block of metadata cells that is
 * kept for reuse: make it exist before measuring. */
static void warm_up_metadata(void) {
  oh_arena_t *w = oh_arena_new(0);
  cr_assert(w != NULL);
  cr_assert(oh_arena_alloc(w, 16, 0) != NULL);
  cr_assert_eq(oh_arena_destroy(w), 0);
}

Test(arena, reset_keep_reuses_the_same_memory) {
  warm_up_metadata();
  t_counters_t c0 = t_counters(NULL);
  oh_arena_t *a = oh_arena_new(64 * KiB);
  cr_assert(a != NULL);
  void *first = NULL;
  t_counters_t c1 = c0;
  for (int round = 0; round < 5; round++) {
    void *p = oh_arena_alloc(a, 1000, 16);
    cr_assert(p != NULL);
    if (round == 0)
      first = p;
    else
      cr_expect_eq(p, first, "round %d: first allocation after KEEP reset moved", round);
    for (int i = 0; i < 500; i++) {
      void *x = oh_arena_alloc(a, 1000, 16); /* ~8 blocks */
      cr_assert(x != NULL);
      memset(x, round, 1000);
    }
    t_counters_t c = t_counters(NULL);
    if (round == 0)
      c1 = c;
    else
      cr_expect_eq(c.mapped_bytes, c1.mapped_bytes,
                   "round %d: mapped %llu, round 0 mapped %llu: KEEP reset did not reuse blocks",
                   round, (unsigned long long)c.mapped_bytes, (unsigned long long)c1.mapped_bytes);
    oh_arena_reset(a, OH_ARENA_KEEP);
  }
  cr_expect_eq(oh_arena_destroy(a), 0);
  t_counters_t c2 = t_counters(NULL);
  cr_expect_eq(c2.mapped_bytes, c0.mapped_bytes, "destroyed arena left %lld bytes mapped",
               (long long)(c2.mapped_bytes - c0.mapped_bytes));
}

Test(arena, reset_decommit_keeps_one_block_and_unmaps_the_rest) {
  warm_up_metadata();
  t_counters_t c0 = t_counters(NULL);
  size_t block = 64 * KiB;
  oh_arena_t *a = oh_arena_new(block);
  cr_assert(a != NULL);
  for (int i = 0; i < 200; i++) {
    void *x = oh_arena_alloc(a, 4000, 16);
    cr_assert(x != NULL);
    memset(x, 7, 4000);
  }
  void *big = oh_arena_alloc(a, MiB, 0);
  cr_assert(big != NULL);
  t_counters_t c1 = t_counters(NULL);
  cr_expect(c1.mapped_bytes >= c0.mapped_bytes + 200 * 4000 + MiB, "arena maps too little");
  oh_arena_reset(a, OH_ARENA_DECOMMIT);
  t_counters_t c2 = t_counters(NULL);
  cr_expect(c2.mapped_bytes - c0.mapped_bytes <= block + t_page(),
            "after DECOMMIT reset the arena still maps %llu bytes (block %zu)",
            (unsigned long long)(c2.mapped_bytes - c0.mapped_bytes), block);
  /* still usable, from zero or old data, writable */
  for (int i = 0; i < 50; i++) {
    unsigned char *x = oh_arena_alloc(a, 3000, 8);
    cr_assert(x != NULL, "alloc after DECOMMIT reset failed");
    t_fill(x, 3000, (uint64_t)i);
    cr_expect_eq(t_check(x, 3000, (uint64_t)i), SIZE_MAX);
  }
  cr_expect_eq(oh_arena_destroy(a), 0);
  t_counters_t c3 = t_counters(NULL);
  cr_expect_eq(c3.mapped_bytes, c0.mapped_bytes, "destroyed arena left %lld bytes mapped",
               (long long)(c3.mapped_bytes - c0.mapped_bytes));
  cr_expect_eq(c3.committed_bytes, c0.committed_bytes, "destroyed arena left %lld bytes committed",
               (long long)(c3.committed_bytes - c0.committed_bytes));
}

Test(arena, many_arenas_create_destroy) {
  warm_up_metadata();
  t_counters_t c0 = t_counters(NULL);
  for (int i = 0; i < (int)t_scaled(300, 10); i++) {
    oh_arena_t *a = oh_arena_new((size_t)(i % 7 + 1) * 4096);
    cr_assert(a != NULL);
    for (int k = 0; k < 20; k++) cr_assert(oh_arena_alloc(a, (size_t)k * 1000 + 1, 0) != NULL);
    cr_assert_eq(oh_arena_destroy(a), 0);
  }
  t_counters_t c1 = t_counters(NULL);
  cr_expect_eq(c1.mapped_bytes, c0.mapped_bytes, "arena cycles leaked %lld mapped bytes",
               (long long)(c1.mapped_bytes - c0.mapped_bytes));
  cr_expect_eq(c1.committed_bytes, c0.committed_bytes, "arena cycles leaked %lld committed bytes",
               (long long)(c1.committed_bytes - c0.committed_bytes));
}

/* Blocks grow (arena.c): a cycle of allocations as large as the block maps
 * a few doubling blocks instead of one mapping per allocation, and a KEEP
 * reset replays the cycle in the same blocks, at the same addresses, with
 * nothing new mapped; what stays mapped is bounded by about twice the cycle. */
Test(arena, growing_blocks_serve_large_cycles_and_are_replayed_after_keep) {
  warm_up_metadata();
  t_counters_t c0 = t_counters(NULL);
  size_t block = 64 * KiB, size = 64 * KiB, count = t_scaled(256, 4);
  oh_arena_t *a = oh_arena_new(block);
  cr_assert(a != NULL);
  void **first = malloc(count * sizeof *first);
  cr_assert(first != NULL);
  uint64_t maps0 = 0;
  for (int round = 0; round < 3; round++) {
    for (size_t i = 0; i < count; i++) {
      void *p = oh_arena_alloc(a, size, 16);
      cr_assert(p != NULL);
      t_fill_sparse(p, size, t_seed((unsigned)round, i));
      if (round == 0) first[i] = p;
      else cr_expect_eq(p, first[i], "round %d, allocation %zu moved after a KEEP reset", round, i);
    }
    for (size_t i = 0; i < count; i++)
      cr_expect_eq(t_check_sparse(first[i], size, t_seed((unsigned)round, i)), SIZE_MAX,
                   "round %d: allocation %zu was overwritten", round, i);
    t_counters_t c = t_counters(NULL);
    uint64_t mapped = c.mapped_bytes - c0.mapped_bytes;
    if (round == 0) {
      maps0 = mapped;
      cr_expect(mapped <= 2 * count * size + 2 * block, "a cycle of %zu bytes mapped %llu", count * size,
                (unsigned long long)mapped);
    } else {
      cr_expect_eq(mapped, maps0, "round %d mapped %llu bytes, round 0 %llu", round, (unsigned long long)mapped,
                   (unsigned long long)maps0);
    }
    oh_arena_reset(a, OH_ARENA_KEEP);
  }
  /* The blocks of one cycle are few: a doubling per block mapped. */
  size_t blocks = 0;
  void *prev = NULL;
  for (size_t i = 0; i < count; i++) {
    if (prev == NULL || (char *)first[i] != (char *)prev + size) blocks++; /* size is 16-aligned */
    prev = first[i];
  }
  cr_expect(blocks <= 12, "%zu allocations of %zu bytes took %zu blocks", count, size, blocks);
  free(first);
  cr_expect_eq(oh_arena_destroy(a), 0);
}
