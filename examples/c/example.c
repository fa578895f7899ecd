/* example.c - a C program using offheap as an installed library.
 *
 * It includes only <offheap.h> and is built from the installed files alone:
 *
 *   make install PREFIX=$HOME/.local
 *   export PKG_CONFIG_PATH=$HOME/.local/lib/pkgconfig
 *   cc examples/c/example.c $(pkg-config --cflags --libs offheap) -o example
 *   LD_LIBRARY_PATH=$HOME/.local/lib ./example
 *
 * (`make test-examples` does exactly that from a temporary prefix.) It prints
 * one line per step and exits with status 1 at the first step that fails.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <offheap.h>

static void check(int ok, const char *step) {
  if (!ok) {
    fprintf(stderr, "example: %s failed: %s (errno %d: %s)\n", step, oh_last_error(), errno, strerror(errno));
    exit(1);
  }
  printf("  %s: ok\n", step);
}

int main(void) {
  /* The header this was compiled with and the library it runs with agree. */
  printf("offheap %s, ABI %d (header: ABI %d)\n", oh_version(), oh_abi_version(), OH_ABI_VERSION);
  check(oh_abi_version() == OH_ABI_VERSION, "ABI version of the linked library");

  /* The process-wide allocator. */
  char *msg = oh_alloc(100);
  check(msg != NULL, "oh_alloc");
  strcpy(msg, "off-heap");
  check(strcmp(msg, "off-heap") == 0 && oh_usable_size(msg) >= 100, "write and oh_usable_size");
  check(oh_free(msg) == 0, "oh_free");
  /* A bad free is refused and reported, never corrupts. */
  int on_stack;
  check(oh_free(&on_stack) == -1 && errno == EINVAL, "oh_free of a stack address refused with EINVAL");

  /* A slab instance with reference counts. */
  oh_slab_config_t cfg = {.min_chunk = 48, .slab_size = 1 << 20, .growth = 2};
  oh_slab_t *s = oh_slab_new(&cfg);
  check(s != NULL, "oh_slab_new");
  void *c = oh_slab_alloc(s, 1000);
  check(c != NULL && oh_slab_refcount(s, c) == 1, "oh_slab_alloc (refcount 1)");
  check(oh_slab_addref(s, c) == 0 && oh_slab_refcount(s, c) == 2, "oh_slab_addref (refcount 2)");
  check(oh_slab_decref(s, c) == 0, "oh_slab_decref (references remain)");
  check(oh_slab_decref(s, c) == 1, "oh_slab_decref (freed)");
  check(oh_slab_destroy(s) == 0, "oh_slab_destroy");

  /* A pool of fixed-size objects and a bump arena. */
  oh_pool_t *pool = oh_pool_new(256, NULL);
  check(pool != NULL, "oh_pool_new");
  void *obj = oh_pool_get(pool);
  check(obj != NULL && oh_pool_put(pool, obj) == 0, "oh_pool_get / oh_pool_put");
  check(oh_pool_destroy(pool) == 0, "oh_pool_destroy");
  oh_arena_t *arena = oh_arena_new(1 << 16);
  check(arena != NULL, "oh_arena_new");
  void *a = oh_arena_alloc(arena, 4000, 64);
  check(a != NULL && ((size_t)a & 63) == 0 && oh_arena_owns(arena, a), "oh_arena_alloc (aligned, owned)");
  oh_arena_reset(arena, OH_ARENA_DECOMMIT);
  check(oh_arena_destroy(arena) == 0, "oh_arena_reset / oh_arena_destroy");

  /* Pages, and giving them back to the OS; oh_decommit takes any memory. */
  size_t ps = oh_page_size();
  size_t len = 64 * ps;
  unsigned char *pages = oh_map(len);
  check(pages != NULL && pages[0] == 0 && pages[len - 1] == 0, "oh_map (zeroed)");
  memset(pages, 0xab, len);
  check(oh_decommit(pages, len) == len, "oh_decommit of a whole mapping");
  pages[0] = 1; /* still mapped and usable */
  check(oh_unmap(pages, len) == 0, "oh_unmap");
  unsigned char *heap = malloc(len + ps);
  check(heap != NULL, "malloc");
  memset(heap, 1, len + ps);
  size_t got = oh_decommit(heap, len + ps); /* only the whole pages inside */
  check(got >= len - ps && got <= len + ps && got % ps == 0, "oh_decommit of malloc'd memory");
  free(heap);

  oh_stats_t st;
  check(oh_stats(&st) == 0 && st.version == OH_STATS_VERSION, "oh_stats");
  printf("example: all steps ok\n");
  return 0;
}
