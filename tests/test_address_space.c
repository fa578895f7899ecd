/* test_address_space.c - address space comes back (issue 13, item 5).
 *
 * Freed slab segments are kept mapped, decommitted, for reuse; the old core
 * kept up to 64 GiB of them, so a program under `ulimit -v` could not map
 * anything else after freeing everything (its own malloc of 512 MiB failed
 * after oh_purge). Now the cache is bounded by OH_OPT_SEGMENT_CACHE_BYTES and
 * oh_purge unmaps it. The RLIMIT_AS part runs in a child; sanitizer and
 * valgrind runs (OH_TEST_NO_RSS) reserve shadow memory beyond any sane
 * limit, so they check the mapped-bytes figures only.
 */
#include "test_util.h"

#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

static size_t vm_size(void) {
  FILE *f = fopen("/proc/self/status", "r");
  char line[256];
  size_t kib = 0;
  while (f && fgets(line, sizeof line, f))
    if (sscanf(line, "VmSize: %zu kB", &kib) == 1) break;
  if (f) fclose(f);
  return kib * KiB;
}

/* Allocates and frees `total` bytes of 16 KiB chunks from a new slab. */
static void churn(oh_slab_t *s, size_t total) {
  size_t n = total / (16 * KiB);
  void **p = calloc(n, sizeof *p);
  cr_assert(p != NULL);
  for (size_t i = 0; i < n; i++) {
    p[i] = oh_slab_alloc(s, 16 * KiB);
    if (p[i] == NULL) _exit(2);
    t_touch(p[i], 16);
  }
  for (size_t i = 0; i < n; i++)
    if (oh_slab_decref(s, p[i]) != 1) _exit(3);
  free(p);
}

Test(address_space, purge_unmaps_cached_segments) {
  size_t total = t_small() ? 32 * MiB : 256 * MiB;
  oh_slab_t *s = oh_slab_new(NULL);
  cr_assert(s != NULL);
  churn(s, total);
  oh_stats_t a, b;
  oh_slab_purge(s); /* its empty slabs go, decommitted, to the shared segment cache */
  cr_assert_eq(oh_stats(&a), 0);
  cr_expect(a.slabs_decommitted * MiB + 4 * MiB >= total, "only %llu segments cached after freeing %zu MiB",
            (unsigned long long)a.slabs_decommitted, total / MiB);
  oh_purge();
  cr_assert_eq(oh_stats(&b), 0);
  cr_expect_eq(b.slabs_decommitted, 0, "%llu segments still mapped after oh_purge", (unsigned long long)b.slabs_decommitted);
  cr_expect(b.mapped_bytes + total <= a.mapped_bytes + 4 * MiB, "mapped %llu -> %llu MiB: oh_purge kept the address space",
            (unsigned long long)(a.mapped_bytes / MiB), (unsigned long long)(b.mapped_bytes / MiB));
  cr_expect_eq(oh_slab_destroy(s), 0);
}

Test(address_space, segment_cache_is_bounded_by_its_option) {
  t_opt_save_t bound = t_opt_set(OH_OPT_SEGMENT_CACHE_BYTES, 8 * MiB);
  oh_slab_t *s = oh_slab_new(NULL);
  cr_assert(s != NULL);
  churn(s, t_small() ? 32 * MiB : 128 * MiB);
  oh_slab_purge(s);
  oh_stats_t st;
  cr_assert_eq(oh_stats(&st), 0);
  cr_expect(st.slabs_decommitted <= 8, "%llu one-MiB segments cached over a bound of 8 MiB",
            (unsigned long long)st.slabs_decommitted);
  cr_expect_eq(oh_slab_destroy(s), 0);
  t_opt_restore(bound);
}

Test(address_space, a_program_under_ulimit_v_gets_it_back) {
  if (t_no_rss()) {
    cr_log_info("RLIMIT_AS part not run: sanitizer/valgrind shadow memory (see the other tests of this file)");
    return;
  }
  pid_t pid = fork();
  cr_assert(pid >= 0);
  if (pid == 0) {
    size_t total = 1024 * MiB;
    oh_slab_t *s = oh_slab_new(NULL);
    if (s == NULL) _exit(4);
    size_t n = total / (16 * KiB);
    void **p = malloc(n * sizeof *p);
    if (p == NULL) _exit(5);
    for (size_t i = 0; i < n; i++)
      if ((p[i] = oh_slab_alloc(s, 16 * KiB)) == NULL) _exit(6);
    /* the limit: what the process has now, plus a little */
    struct rlimit rl = {vm_size() + 64 * MiB, vm_size() + 64 * MiB};
    if (setrlimit(RLIMIT_AS, &rl) != 0) _exit(7);
    for (size_t i = 0; i < n; i++)
      if (oh_slab_decref(s, p[i]) != 1) _exit(8);
    oh_purge(); /* the slab stays: its free memory must go back all the same */
    /* 768 MiB fit only if offheap gave its gigabyte of address space back */
    void *big = malloc(768 * MiB);
    _exit(big != NULL ? 0 : 1);
  }
  int status = 0;
  waitpid(pid, &status, 0);
  cr_expect(WIFEXITED(status) && WEXITSTATUS(status) == 0,
            "under RLIMIT_AS the child could not map 768 MiB after freeing 1 GiB and oh_purge (status %d)", status);
}
