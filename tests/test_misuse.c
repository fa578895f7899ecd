/* test_misuse.c - every pointer-taking function of the slab API against every
 * kind of bad pointer: foreign (stack, malloc, static, arbitrary addresses,
 * mmap(2), oh_map regions), interior, misaligned, freed (double free / stale),
 * another instance's, a pool's or an arena's. Each call must fail with the
 * documented errno, report the pointer in hex to the error handler, and leave
 * every live allocation and every counter exactly as it was. */
#include "test_util.h"

#include <stdlib.h>
#include <sys/mman.h>

typedef enum fn_e {
  F_FREE,
  F_USABLE,
  F_ADDREF,
  F_DECREF,
  F_REFCOUNT,
  F_SLAB_USABLE,
  F_FREE_BATCH,
  F_COUNT_
} fn_t;
static const char *fn_names[F_COUNT_] = {"oh_free",           "oh_usable_size",
                                         "oh_slab_addref",    "oh_slab_decref",
                                         "oh_slab_refcount",  "oh_slab_usable_size",
                                         "oh_slab_free_batch"};

/* Calls f on (default instance, p); returns whether it reported an error. */
static int call_fn(fn_t f, void *p) {
  oh_slab_t *d = oh_default_slab();
  size_t bad = 777;
  switch (f) {
  case F_FREE: return oh_free(p) == -1;
  case F_USABLE: return oh_usable_size(p) == 0;
  case F_ADDREF: return oh_slab_addref(d, p) == -1;
  case F_DECREF: return oh_slab_decref(d, p) == -1;
  case F_REFCOUNT: return oh_slab_refcount(d, p) == -1;
  case F_SLAB_USABLE: return oh_slab_usable_size(d, p) == 0;
  case F_FREE_BATCH: {
    void *one[1] = {p};
    int failed = oh_slab_free_batch(d, one, 1, &bad) == -1;
    cr_expect(!failed || bad == 0, "oh_slab_free_batch: *bad = %zu for a one-pointer batch", bad);
    return failed;
  }
  default: return 0;
  }
}

/* Live allocations of several kinds whose contents and reference counts every
 * failed call must leave alone. */
enum { NVICTIMS = 6 };
typedef struct victims_s {
  oh_slab_t *other; /* a second instance */
  void *p[NVICTIMS];
  size_t n[NVICTIMS];
  oh_slab_t *owner[NVICTIMS];
} victims_t;

static void victims_make(victims_t *v) {
  const size_t sizes[NVICTIMS] = {16, 64, 4000, 200 * KiB, 3 * MiB, 128};
  v->other = oh_slab_new(NULL);
  cr_assert(v->other != NULL);
  for (int i = 0; i < NVICTIMS; i++) {
    v->owner[i] = i == NVICTIMS - 1 ? v->other : oh_default_slab();
    v->n[i] = sizes[i];
    v->p[i] = oh_slab_alloc(v->owner[i], sizes[i]);
    cr_assert(v->p[i] != NULL);
    t_fill_sparse(v->p[i], sizes[i], t_seed(40, (uint64_t)i));
  }
}
static void victims_check(victims_t *v, const char *after) {
  for (int i = 0; i < NVICTIMS; i++) {
    cr_expect_eq(t_check_sparse(v->p[i], v->n[i], t_seed(40, (uint64_t)i)), SIZE_MAX,
                 "after %s: live allocation %d (%zu bytes) changed", after, i, v->n[i]);
    cr_expect_eq(oh_slab_refcount(v->owner[i], v->p[i]), 1,
                 "after %s: live allocation %d refcount changed", after, i);
  }
}
static void victims_free(victims_t *v) {
  for (int i = 0; i < NVICTIMS; i++)
    cr_expect_eq(oh_slab_decref(v->owner[i], v->p[i]), 1, "victim %d could not be freed: %s", i,
                 t_errname(errno));
  cr_expect_eq(oh_slab_destroy(v->other), 0);
}

/* Every function rejects p with one of wants; counters of the default
 * instance and the victims stay unchanged. refcount_zero_ok: p is a freed
 * chunk of the default instance, for which oh_slab_refcount returns 0. */
static void reject_all_(const char *kind, void *p, const int *wants, int nwants,
                        int refcount_zero_ok, victims_t *v) {
  t_counters_t before = t_counters(oh_default_slab());
  for (int f = 0; f < F_COUNT_; f++) {
    char what[160];
    snprintf(what, sizeof what, "%s(%s %p)", fn_names[f], kind, p);
    if (f == F_REFCOUNT && refcount_zero_ok) {
      long rc = oh_slab_refcount(oh_default_slab(), p);
      cr_expect_eq(rc, 0, "%s = %ld, want 0 for a freed chunk", what, rc);
      continue;
    }
    t_cap_reset();
    errno = 0;
    int failed = call_fn((fn_t)f, p);
    int e = errno;
    t_expect_error_(__FILE__, __LINE__, what, failed, e, wants, nwants, p);
  }
  t_counters_t after = t_counters(oh_default_slab());
  char what[128];
  snprintf(what, sizeof what, "calls on %s", kind);
  EXPECT_COUNTERS_UNCHANGED(before, after, what);
  victims_check(v, what);
}
#define REJECT_ALL(kind, p, rc0, v, ...)                                                \
  reject_all_(kind, p, (const int[]){__VA_ARGS__},                                    \
              (int)(sizeof((const int[]){__VA_ARGS__}) / sizeof(int)), rc0, v)

static unsigned char static_array[256] __attribute__((aligned(16)));

Test(misuse, foreign_pointers_are_einval) {
  t_cap_install();
  victims_t v;
  victims_make(&v);
  unsigned char stack_buf[64] __attribute__((aligned(16)));
  void *heap = malloc(64);
  void *big_heap = malloc(4 * MiB); /* glibc mmaps this: page-aligned+16 */
  size_t ps = t_page();
  void *raw = mmap(NULL, 4 * ps, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  cr_assert(raw != MAP_FAILED);
  REJECT_ALL("stack address", stack_buf, 0, &v, EINVAL);
  REJECT_ALL("malloc'd pointer", heap, 0, &v, EINVAL);
  REJECT_ALL("malloc'd 4 MiB pointer", big_heap, 0, &v, EINVAL);
  REJECT_ALL("static array", static_array, 0, &v, EINVAL);
  REJECT_ALL("address 0x1000", (void *)0x1000, 0, &v, EINVAL);
  REJECT_ALL("Go-heap-like address", (void *)(uintptr_t)0xc000010000ULL, 0, &v, EINVAL);
  REJECT_ALL("address 0x7ffffffff000", (void *)(uintptr_t)0x7ffffffff000ULL, 0, &v, EINVAL);
  REJECT_ALL("top of the address space", (void *)(uintptr_t)(UINTPTR_MAX - 15), 0, &v, EINVAL);
  REJECT_ALL("mmap(2) page", raw, 0, &v, EINVAL);
  munmap(raw, 4 * ps);
  free(heap);
  free(big_heap);
  victims_free(&v);
  t_cap_remove();
}

Test(misuse, null_pointer_is_einval_except_free) {
  t_cap_install();
  victims_t v;
  victims_make(&v);
  t_counters_t before = t_counters(oh_default_slab());
  for (int f = 0; f < F_COUNT_; f++) {
    char what[96];
    snprintf(what, sizeof what, "%s(NULL)", fn_names[f]);
    t_cap_reset();
    errno = 0;
    int failed = call_fn((fn_t)f, NULL);
    int e = errno;
    if (f == F_FREE) {
      cr_expect(!failed, "oh_free(NULL) must be a no-op returning 0");
      T_EXPECT_NO_HANDLER("oh_free(NULL)");
      continue;
    }
    T_EXPECT_ERR(what, failed, e, NULL, EINVAL);
  }
  t_counters_t after = t_counters(oh_default_slab());
  EXPECT_COUNTERS_UNCHANGED(before, after, "NULL pointer calls");
  victims_check(&v, "NULL pointer calls");
  victims_free(&v);
  t_cap_remove();
}

Test(misuse, interior_and_misaligned_pointers_are_efault) {
  t_cap_install();
  victims_t v;
  victims_make(&v);
  size_t ps = t_page();
  unsigned char *small = v.p[1]; /* 64 B */
  unsigned char *mid = v.p[3];   /* 200 KiB */
  unsigned char *large = v.p[4]; /* 3 MiB, page-served */
  REJECT_ALL("small chunk + 16", small + 16, 0, &v, EFAULT);
  REJECT_ALL("small chunk + 1", small + 1, 0, &v, EFAULT);
  REJECT_ALL("small chunk + 8", small + 8, 0, &v, EFAULT);
  REJECT_ALL("small chunk last byte", small + 63, 0, &v, EFAULT);
  REJECT_ALL("mid chunk + 16", mid + 16, 0, &v, EFAULT);
  REJECT_ALL("mid chunk + page", mid + ps, 0, &v, EFAULT);
  REJECT_ALL("large chunk + 16", large + 16, 0, &v, EFAULT);
  REJECT_ALL("large chunk + page", large + ps, 0, &v, EFAULT);
  REJECT_ALL("large chunk + 2 MiB", large + 2 * MiB, 0, &v, EFAULT);
  victims_free(&v);
  t_cap_remove();
}

Test(misuse, other_instance_pointers_are_exdev) {
  t_cap_install();
  victims_t v;
  victims_make(&v);
  oh_slab_config_t cfg = {48, 256 * KiB, 2.0};
  oh_slab_t *s2 = oh_slab_new(&cfg);
  cr_assert(s2 != NULL);
  void *small = oh_slab_alloc(s2, 100), *large = oh_slab_alloc(s2, 2 * MiB);
  cr_assert(small && large);
  REJECT_ALL("another instance's small chunk", small, 0, &v, EXDEV);
  REJECT_ALL("another instance's page-served chunk", large, 0, &v, EXDEV);
  cr_expect_eq(oh_slab_refcount(s2, small), 1, "chunk of s2 affected by calls on the default");
  cr_expect_eq(oh_slab_refcount(s2, large), 1);

  /* and the other way round: a default-instance chunk given to s2 */
  unsigned char *mine = v.p[2];
  t_cap_reset();
  errno = 0;
  int rc = oh_slab_decref(s2, mine);
  int e = errno;
  T_EXPECT_ERR("oh_slab_decref(s2, default chunk)", rc == -1, e, mine, EXDEV);
  t_cap_reset();
  errno = 0;
  rc = oh_slab_addref(s2, mine);
  e = errno;
  T_EXPECT_ERR("oh_slab_addref(s2, default chunk)", rc == -1, e, mine, EXDEV);
  victims_check(&v, "cross-instance calls");
  cr_expect_eq(oh_slab_decref(s2, small), 1);
  cr_expect_eq(oh_slab_decref(s2, large), 1);
  cr_expect_eq(oh_slab_destroy(s2), 0);
  victims_free(&v);
  t_cap_remove();
}

Test(misuse, pool_object_is_exdev) {
  t_cap_install();
  victims_t v;
  victims_make(&v);
  oh_pool_t *pool = oh_pool_new(64, NULL);
  cr_assert(pool != NULL);
  void *obj = oh_pool_get(pool);
  cr_assert(obj != NULL);
  REJECT_ALL("pool object", obj, 0, &v, EXDEV);
  cr_expect_eq(oh_pool_put(pool, obj), 0, "pool object unusable after misuse: %s",
               t_errname(errno));
  oh_pool_destroy(pool);
  victims_free(&v);
  t_cap_remove();
}

/* The header: "EXDEV the pointer belongs to another slab, pool or arena
 * instance". */
Test(misuse, arena_allocation_is_exdev) {
  t_cap_install();
  victims_t v;
  victims_make(&v);
  oh_arena_t *arena = oh_arena_new(0);
  cr_assert(arena != NULL);
  void *ap = oh_arena_alloc(arena, 128, 0);
  cr_assert(ap != NULL);
  t_fill(ap, 128, 8);
  REJECT_ALL("arena allocation", ap, 0, &v, EXDEV);
  cr_expect(oh_arena_owns(arena, ap));
  cr_expect_eq(t_check(ap, 128, 8), SIZE_MAX, "arena allocation changed by rejected calls");
  oh_arena_destroy(arena);
  victims_free(&v);
  t_cap_remove();
}

Test(misuse, oh_map_region_pointers_are_rejected) {
  t_cap_install();
  victims_t v;
  victims_make(&v);
  size_t ps = t_page();
  unsigned char *m = oh_map(4 * ps);
  cr_assert(m != NULL);
  t_fill(m, 4 * ps, 9);
  /* offheap's own memory but not an oh_alloc allocation */
  REJECT_ALL("oh_map region start", m, 0, &v, EINVAL, EXDEV);
  REJECT_ALL("oh_map region + 16", m + 16, 0, &v, EINVAL, EFAULT, EXDEV);
  REJECT_ALL("oh_map region + page", m + ps, 0, &v, EINVAL, EFAULT, EXDEV);
  cr_expect_eq(t_check(m, 4 * ps, 9), SIZE_MAX, "oh_map region changed by rejected calls");
  cr_expect_eq(oh_unmap(m, 4 * ps), 0, "oh_map region no longer unmappable");
  victims_free(&v);
  t_cap_remove();
}

Test(misuse, freed_pointers_are_ealready) {
  t_cap_install();
  victims_t v;
  victims_make(&v);
  /* small: sits in the thread cache; mid: in a slab */
  const size_t sizes[] = {32, 700, 100 * KiB};
  for (int i = 0; i < 3; i++) {
    void *p = oh_alloc(sizes[i]);
    cr_assert(p != NULL);
    cr_assert_eq(oh_free(p), 0);
    char kind[64];
    snprintf(kind, sizeof kind, "freed %zu-byte chunk", sizes[i]);
    REJECT_ALL(kind, p, 1, &v, EALREADY);
    oh_thread_flush(); /* now on the shared list */
    snprintf(kind, sizeof kind, "freed+flushed %zu-byte chunk", sizes[i]);
    REJECT_ALL(kind, p, 1, &v, EALREADY);
  }
  victims_free(&v);
  t_cap_remove();
}

Test(misuse, freed_page_served_pointer_is_rejected) {
  t_cap_install();
  victims_t v;
  victims_make(&v);
  void *p = oh_alloc(5 * MiB);
  cr_assert(p != NULL);
  cr_assert_eq(oh_free(p), 0);
  /* its pages may be unmapped already, making it foreign: EINVAL is fine then */
  t_counters_t before = t_counters(oh_default_slab());
  t_cap_reset();
  errno = 0;
  int rc = oh_free(p);
  int e = errno;
  T_EXPECT_ERR("oh_free(freed 5 MiB chunk)", rc == -1, e, p, EALREADY, EINVAL);
  t_counters_t after = t_counters(oh_default_slab());
  EXPECT_COUNTERS_UNCHANGED(before, after, "double free of a page-served chunk");
  victims_check(&v, "double free of a page-served chunk");
  victims_free(&v);
  t_cap_remove();
}

Test(misuse, double_free_never_hands_a_chunk_out_twice) {
  t_cap_install();
  const size_t sizes[] = {16, 48, 256, 3000, 64 * KiB};
  for (int i = 0; i < 5; i++) {
    void *p = oh_alloc(sizes[i]);
    void *q = oh_alloc(sizes[i]);
    cr_assert(p && q);
    cr_assert_eq(oh_free(p), 0);
    t_counters_t before = t_counters(oh_default_slab());
    t_cap_reset();
    errno = 0;
    int rc = oh_free(p);
    int e = errno;
    T_EXPECT_ERR("second oh_free", rc == -1, e, p, EALREADY);
    t_counters_t after = t_counters(oh_default_slab());
    EXPECT_COUNTERS_UNCHANGED(before, after, "double free");
    /* if p had been pushed twice, two of these would be the same chunk */
    enum { N = 200 };
    t_range_t r[N + 1];
    void *got[N];
    for (int k = 0; k < N; k++) {
      got[k] = oh_alloc(sizes[i]);
      cr_assert(got[k] != NULL);
      r[k].addr = (uintptr_t)got[k];
      r[k].len = oh_usable_size(got[k]);
    }
    r[N].addr = (uintptr_t)q;
    r[N].len = oh_usable_size(q);
    size_t bad = 0;
    cr_expect(!t_ranges_overlap(r, N + 1, &bad),
              "after a double free of %zu-byte chunk, allocations overlap", sizes[i]);
    for (int k = 0; k < N; k++) cr_expect_eq(oh_free(got[k]), 0);
    cr_expect_eq(oh_free(q), 0);
  }
  t_cap_remove();
}

Test(misuse, decref_below_zero_and_stale_addref_on_custom_instance) {
  t_cap_install();
  oh_slab_t *s = oh_slab_new(NULL);
  cr_assert(s != NULL);
  void *keep = oh_slab_alloc(s, 64);
  void *p = oh_slab_alloc(s, 64);
  cr_assert(keep && p);
  t_fill(keep, 64, 5);
  cr_assert_eq(oh_slab_decref(s, p), 1);
  t_counters_t before = t_counters(s);
  for (int i = 0; i < 3; i++) {
    t_cap_reset();
    errno = 0;
    int rc = oh_slab_decref(s, p);
    int e = errno;
    T_EXPECT_ERR("decref of a chunk at refcount 0", rc == -1, e, p, EALREADY);
  }
  t_counters_t after = t_counters(s);
  EXPECT_COUNTERS_UNCHANGED(before, after, "decref below zero");
  cr_expect_eq(oh_slab_refcount(s, p), 0);
  cr_expect_eq(oh_slab_refcount(s, keep), 1);
  cr_expect_eq(t_check(keep, 64, 5), SIZE_MAX);
  /* a new allocation is a fresh chunk with refcount 1 */
  void *q = oh_slab_alloc(s, 64);
  cr_assert(q != NULL);
  cr_expect_eq(oh_slab_refcount(s, q), 1);
  oh_slab_destroy(s);
  t_cap_remove();
}

Test(misuse, pointer_of_destroyed_instance_is_foreign) {
  t_cap_install();
  oh_slab_t *s = oh_slab_new(NULL);
  cr_assert(s != NULL);
  void *p = oh_slab_alloc(s, 64);
  cr_assert(p != NULL);
  cr_assert_eq(oh_slab_destroy(s), 0);
  t_cap_reset();
  errno = 0;
  int rc = oh_free(p);
  int e = errno;
  T_EXPECT_ERR("oh_free(chunk of a destroyed instance)", rc == -1, e, p, EINVAL);
  void *q = oh_alloc(64);
  cr_expect(q != NULL);
  cr_expect_eq(oh_free(q), 0);
  t_cap_remove();
}

Test(misuse, debug_mode_poisons_freed_memory) {
  t_opt_save_t dbg = t_opt_set(OH_OPT_DEBUG, 1);
  t_opt_save_t delay = t_opt_set(OH_OPT_PURGE_DELAY_MS, -1); /* keep it committed */
  oh_slab_t *s = oh_slab_new(NULL);
  cr_assert(s != NULL);
  unsigned char *p = oh_slab_alloc(s, 256);
  unsigned char *keep = oh_slab_alloc(s, 256); /* keeps the slab non-empty */
  cr_assert(p && keep);
  memset(p, 0x5A, 256);
  cr_assert_eq(oh_slab_decref(s, p), 1);
  T_ASAN_LIFT(p, 256);
  size_t still = 0;
  for (size_t i = 16; i < 256; i++) still += p[i] == 0x5A;
  cr_expect(still == 0, "debug mode: %zu of 240 bytes of a freed chunk still hold the old data",
            still);
  oh_slab_decref(s, keep);
  oh_slab_destroy(s);
  t_opt_restore(delay);
  t_opt_restore(dbg);
}
