/* test_kind.c - oh_kind_of tells every kind of offheap memory apart from the
 * library's tables, without touching the pointer: the bindings word their
 * messages with it ("use Unmap" for a Free of a mapping) in every build. */
#include "test_util.h"

Test(kind, every_kind_of_memory_is_named) {
  t_opt_save_t delay = t_opt_set(OH_OPT_PURGE_DELAY_MS, 0); /* a freed large span is unmapped at once */
  int local = 0;
  cr_expect_eq(oh_kind_of(NULL), OH_KIND_NONE);
  cr_expect_eq(oh_kind_of(&local), OH_KIND_NONE, "a stack address");
  char *small = oh_alloc(100);
  cr_assert(small != NULL);
  cr_expect_eq(oh_kind_of(small), OH_KIND_SLAB);
  cr_expect_eq(oh_kind_of(small + 50), OH_KIND_SLAB, "inside a chunk: still the slab's memory");
  char *large = oh_alloc(8 * MiB);
  cr_assert(large != NULL);
  cr_expect_eq(oh_kind_of(large), OH_KIND_LARGE);
  cr_expect_eq(oh_kind_of(large + 8 * MiB - 1), OH_KIND_LARGE);
  char *m = oh_map(3 * t_page());
  cr_assert(m != NULL);
  cr_expect_eq(oh_kind_of(m + t_page()), OH_KIND_MAP);
  oh_arena_t *a = oh_arena_new(0);
  cr_assert(a != NULL);
  char *x = oh_arena_alloc(a, 64, 0);
  cr_assert(x != NULL);
  cr_expect_eq(oh_kind_of(x), OH_KIND_ARENA);
  cr_expect_eq(oh_arena_destroy(a), 0);
  cr_expect_eq(oh_kind_of(x), OH_KIND_NONE, "a destroyed arena's block");
  cr_expect_eq(oh_unmap(m, 3 * t_page()), 0);
  cr_expect_eq(oh_kind_of(m), OH_KIND_NONE, "an unmapped mapping");
  cr_expect_eq(oh_free(large), 0);
  oh_purge();
  cr_expect_eq(oh_kind_of(large), OH_KIND_NONE, "a freed and purged large span");
  cr_expect_eq(oh_free(small), 0);
  t_opt_restore(delay);
}
