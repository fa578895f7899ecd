/* test_misuse_race.c - misuse that used to corrupt the allocator (issue 13):
 * releases that two threads race for, instances destroyed twice, and arena
 * memory used after a reset.
 *
 * - Two threads oh_unmap the same mapping: exactly one wins; the other gets
 *   EINVAL with a message naming the pointer, and the allocator stays sound
 *   (mapped bytes back where they were, a fresh oh_map unmaps, a 4 MiB
 *   oh_alloc frees, oh_slab_leaks returns).
 * - oh_pool_destroy and oh_arena_destroy claim their instance: a second
 *   destroy, sequential or racing, fails with EINVAL instead of tearing the
 *   instance down twice; get/put/alloc/reset of a destroyed one fail too.
 * - Debug mode covers arenas: a reset poisons what was handed out (level 1)
 *   and makes the kept blocks' pages inaccessible until they are handed out
 *   again (level 2); ASan builds poison arena memory not handed out.
 *
 * Protection is read from /proc/self/maps (as test_debug.c does), and the
 * actual fault is taken in a forked child, whose death by SIGSEGV is the
 * verdict (not under ASan or TSan, whose handlers would report it instead).
 */
#include "test_util.h"

#include <signal.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include "internal.h" /* OHI_ASAN */

/* ---- helpers ----------------------------------------------------------------- */

static struct {
  int count, err;
  char msg[512];
} seen;

static void capture(int err, const char *msg, void *arg) {
  (void)arg;
  seen.count++;
  seen.err = err;
  snprintf(seen.msg, sizeof seen.msg, "%s", msg);
}

static void names(const char *msg, const void *p) {
  char hex[32];
  snprintf(hex, sizeof hex, "%p", p);
  cr_expect(strstr(msg, hex) != NULL, "message \"%s\" does not name %s", msg, hex);
}

static int is_guarded(const void *addr) {
  FILE *f = fopen("/proc/self/maps", "r");
  cr_assert(f != NULL);
  char line[512];
  int r = -1;
  while (r < 0 && fgets(line, sizeof line, f)) {
    unsigned long lo, hi;
    char perms[5];
    if (sscanf(line, "%lx-%lx %4s", &lo, &hi, perms) == 3 && (uintptr_t)addr >= lo && (uintptr_t)addr < hi)
      r = strncmp(perms, "---", 3) == 0;
  }
  fclose(f);
  return r == 1;
}

static uint64_t mapped_bytes(void) {
  oh_stats_t st;
  oh_thread_flush();
  cr_assert_eq(oh_stats(&st), 0);
  return st.mapped_bytes;
}

/* Sanitizer runtimes take the fault themselves (and report it): the forked
 * write is left to plain builds, /proc/self/maps is read in all. */
#if !defined(OHI_ASAN) && !defined(__SANITIZE_THREAD__)
#define TAKE_FAULTS 1
/* Whether writing one byte at p kills a forked child with SIGSEGV. */
static int write_faults(volatile unsigned char *p) {
  pid_t pid = fork();
  cr_assert(pid >= 0);
  if (pid == 0) {
    *p = 1;
    _exit(0);
  }
  int status;
  cr_assert_eq(waitpid(pid, &status, 0), pid);
  return WIFSIGNALED(status) && WTERMSIG(status) == SIGSEGV;
}
#endif

/* ---- item 1: racing double oh_unmap ------------------------------------------ */

static struct {
  void *volatile p;
  size_t n;
  unsigned gen, done, stop;
  int wins, losses, bad_errno;
  char loss_msg[512];
} race;

static int unmap_once(void *p, size_t n) {
  errno = 0;
  int r = oh_unmap(p, n);
  if (r == 0) return 1;
  if (errno != EINVAL) __atomic_add_fetch(&race.bad_errno, 1, __ATOMIC_RELAXED);
  return 0;
}

static void *unmap_racer(void *arg) {
  (void)arg;
  unsigned gen = 0;
  for (;;) {
    unsigned g;
    while ((g = __atomic_load_n(&race.gen, __ATOMIC_ACQUIRE)) == gen) {
      if (__atomic_load_n(&race.stop, __ATOMIC_ACQUIRE)) return NULL;
      if (t_small()) sched_yield(); /* valgrind runs one thread at a time: a bare spin eats its slice */
    }
    gen = g;
    if (unmap_once(race.p, race.n)) {
      __atomic_add_fetch(&race.wins, 1, __ATOMIC_RELAXED);
    } else {
      __atomic_add_fetch(&race.losses, 1, __ATOMIC_RELAXED);
      snprintf(race.loss_msg, sizeof race.loss_msg, "%s", oh_last_error());
    }
    __atomic_add_fetch(&race.done, 1, __ATOMIC_RELEASE);
  }
}

Test(misuse_race, racing_double_unmap_has_exactly_one_winner, .timeout = 120) {
  size_t page = oh_page_size(), rounds = T_TSAN ? 2000 : t_scaled(20000, 100);
  void *warm = oh_map(page); /* metadata blocks mapped before the baseline */
  cr_assert_eq(oh_unmap(warm, page), 0);
  uint64_t before = mapped_bytes();
  pthread_t t;
  cr_assert_eq(pthread_create(&t, NULL, unmap_racer, NULL), 0);
  int both = 0;
  for (size_t i = 0; i < rounds; i++) {
    race.n = page * (1 + i % 3);
    race.p = oh_map(race.n);
    cr_assert(race.p != NULL);
    int wins_before = __atomic_load_n(&race.wins, __ATOMIC_RELAXED);
    __atomic_store_n(&race.done, 0, __ATOMIC_RELAXED);
    __atomic_add_fetch(&race.gen, 1, __ATOMIC_RELEASE);
    int mine = unmap_once(race.p, race.n);
    while (__atomic_load_n(&race.done, __ATOMIC_ACQUIRE) == 0) sched_yield();
    int total = mine + __atomic_load_n(&race.wins, __ATOMIC_RELAXED) - wins_before;
    if (total != 1) both++;
  }
  __atomic_store_n(&race.stop, 1, __ATOMIC_RELEASE);
  pthread_join(t, NULL);
  cr_expect_eq(both, 0, "%d of %zu racing double unmaps did not have exactly one winner", both, rounds);
  cr_expect_eq(race.bad_errno, 0, "a losing oh_unmap failed with another errno than EINVAL");
  if (race.losses > 0) cr_expect(strstr(race.loss_msg, "already unmapped") != NULL, "loser's message: %s", race.loss_msg);
  cr_expect_eq(mapped_bytes(), before, "mapped bytes %llu after the races, %llu before",
               (unsigned long long)mapped_bytes(), (unsigned long long)before);
  /* The allocator is sound: a fresh mapping unmaps, a whole-page allocation
   * frees, the leak report returns. */
  void *m = oh_map(3 * page);
  cr_assert(m != NULL);
  cr_expect_eq(oh_unmap(m, 3 * page), 0, "a fresh mapping cannot be unmapped: %s", oh_last_error());
  void *big = oh_alloc(4 * MiB);
  cr_assert(big != NULL);
  cr_expect_eq(oh_free(big), 0, "oh_free of a fresh 4 MiB allocation: %s", oh_last_error());
  oh_slab_leaks(NULL, NULL, NULL);
}

Test(misuse_race, unmap_of_an_allocator_pointer_names_the_allocator) {
  void *p = oh_alloc(100);
  oh_set_error_handler(capture, NULL);
  seen.count = 0;
  cr_expect_eq(oh_unmap(p, oh_page_size()), -1);
  cr_expect_eq(errno, EINVAL);
  cr_expect_eq(seen.count, 1);
  cr_expect(strstr(seen.msg, "belongs to an allocator") != NULL && strstr(seen.msg, "not to a mapping of oh_map"),
            "message: %s", seen.msg);
  names(seen.msg, p);
  oh_set_error_handler(NULL, NULL);
  cr_expect_eq(oh_free(p), 0);
}

/* ---- destroy claims the instance ---------------------------------------------- */

Test(misuse_race, pool_destroyed_twice_is_refused) {
  oh_pool_t *p = oh_pool_new(64, NULL);
  cr_assert(p != NULL);
  void *o = oh_pool_get(p);
  cr_assert(o != NULL);
  cr_assert_eq(oh_pool_destroy(p), 0);
  oh_set_error_handler(capture, NULL);
  seen.count = 0;
  cr_expect_eq(oh_pool_destroy(p), -1, "a second oh_pool_destroy succeeded");
  cr_expect_eq(errno, EINVAL);
  cr_expect(strstr(seen.msg, "already destroyed") != NULL, "message: %s", seen.msg);
  names(seen.msg, p);
  cr_expect_null(oh_pool_get(p), "oh_pool_get of a destroyed pool succeeded");
  cr_expect_eq(errno, EINVAL);
  cr_expect_eq(oh_pool_put(p, o), -1, "oh_pool_put to a destroyed pool succeeded");
  oh_set_error_handler(NULL, NULL);
  /* Nothing was corrupted: pools and the process-wide allocator work. */
  oh_pool_t *q = oh_pool_new(64, NULL);
  cr_assert(q != NULL);
  void *x = oh_pool_get(q);
  cr_expect(x != NULL);
  cr_expect_eq(oh_pool_put(q, x), 0);
  cr_expect_eq(oh_pool_destroy(q), 0);
  void *big = oh_alloc(4 * MiB);
  cr_expect_eq(oh_free(big), 0);
}

Test(misuse_race, arena_destroyed_twice_is_refused) {
  oh_arena_t *a = oh_arena_new(64 * KiB);
  cr_assert(a != NULL);
  cr_assert(oh_arena_alloc(a, 100, 0) != NULL);
  cr_assert(oh_arena_alloc(a, 200 * KiB, 0) != NULL); /* an oversized block too */
  cr_assert_eq(oh_arena_destroy(a), 0);
  oh_set_error_handler(capture, NULL);
  seen.count = 0;
  cr_expect_eq(oh_arena_destroy(a), -1, "a second oh_arena_destroy succeeded");
  cr_expect_eq(errno, EINVAL);
  cr_expect(strstr(seen.msg, "already destroyed") != NULL, "message: %s", seen.msg);
  names(seen.msg, a);
  cr_expect_null(oh_arena_alloc(a, 16, 0), "oh_arena_alloc of a destroyed arena succeeded");
  seen.count = 0;
  oh_arena_reset(a, OH_ARENA_KEEP);
  cr_expect_eq(seen.count, 1, "oh_arena_reset of a destroyed arena reported nothing");
  oh_set_error_handler(NULL, NULL);
  void *m = oh_map(oh_page_size());
  cr_expect_eq(oh_unmap(m, oh_page_size()), 0);
}

typedef struct destroy_race_s {
  int (*destroy)(void *);
  void *inst;
  unsigned go;
  int result;
} destroy_race_t;

static void *destroyer(void *arg) {
  destroy_race_t *d = arg;
  while (!__atomic_load_n(&d->go, __ATOMIC_ACQUIRE)) {
  }
  d->result = d->destroy(d->inst);
  return NULL;
}

static int destroy_pool(void *p) { return oh_pool_destroy(p); }
static int destroy_arena(void *a) { return oh_arena_destroy(a); }

Test(misuse_race, racing_double_destroy_has_exactly_one_winner, .timeout = 120) {
  size_t rounds = T_TSAN ? 500 : t_scaled(2000, 20);
  int bad = 0;
  for (size_t i = 0; i < rounds; i++) {
    int pool = i % 2 == 0;
    void *inst = pool ? (void *)oh_pool_new(48, NULL) : (void *)oh_arena_new(64 * KiB);
    cr_assert(inst != NULL);
    if (pool) {
      void *o = oh_pool_get(inst);
      cr_assert(o != NULL);
    } else {
      cr_assert(oh_arena_alloc(inst, 100, 0) != NULL);
    }
    destroy_race_t d[2];
    pthread_t t[2];
    for (int k = 0; k < 2; k++) {
      d[k] = (destroy_race_t){pool ? destroy_pool : destroy_arena, inst, 0, 7};
      cr_assert_eq(pthread_create(&t[k], NULL, destroyer, &d[k]), 0);
    }
    __atomic_store_n(&d[0].go, 1, __ATOMIC_RELEASE);
    __atomic_store_n(&d[1].go, 1, __ATOMIC_RELEASE);
    for (int k = 0; k < 2; k++) pthread_join(t[k], NULL);
    if ((d[0].result == 0) + (d[1].result == 0) != 1) bad++;
  }
  cr_expect_eq(bad, 0, "%d of %zu racing double destroys did not have exactly one winner", bad, rounds);
  void *big = oh_alloc(4 * MiB);
  cr_expect_eq(oh_free(big), 0);
}

/* ---- item 4: arena memory after a reset in debug mode ----------------------------- */

static long long saved_debug;
static void save_debug(void) { saved_debug = oh_option_get(OH_OPT_DEBUG); }
static void restore_debug(void) { oh_option_set(OH_OPT_DEBUG, saved_debug); }

Test(misuse_race, arena_reset_poisons_at_level1, .init = save_debug, .fini = restore_debug) {
#ifdef OHI_ASAN
  cr_skip_test("reading reset arena memory is an ASan report in this build (see asan_poisons_arena_memory)");
#endif
  cr_assert_eq(oh_option_set(OH_OPT_DEBUG, 1), 0);
  oh_arena_t *a = oh_arena_new(64 * KiB);
  unsigned char *p = oh_arena_alloc(a, 1000, 0), *q = oh_arena_alloc(a, 20000, 0);
  cr_assert(p && q);
  memset(p, 0x11, 1000);
  memset(q, 0x22, 20000);
  oh_arena_reset(a, OH_ARENA_KEEP);
  for (size_t i = 0; i < 1000; i++) cr_assert_eq(p[i], 0xdf, "byte %zu of a reset allocation is 0x%02x", i, p[i]);
  for (size_t i = 0; i < 20000; i++) cr_assert_eq(q[i], 0xdf, "byte %zu of a reset allocation is 0x%02x", i, q[i]);
  cr_expect(!is_guarded(q), "level 1 made arena pages inaccessible");
  /* Handed out again: usable. */
  unsigned char *r = oh_arena_alloc(a, 30000, 0);
  cr_assert(r != NULL);
  memset(r, 0x33, 30000);
  oh_arena_destroy(a);
}

Test(misuse_race, arena_reset_guards_kept_blocks_at_level2, .init = save_debug, .fini = restore_debug) {
  cr_assert_eq(oh_option_set(OH_OPT_DEBUG, 2), 0);
  size_t page = oh_page_size();
  oh_arena_t *a = oh_arena_new(16 * page);
  unsigned char *p = oh_arena_alloc(a, 8 * page, 0);
  cr_assert(p != NULL);
  memset(p, 0x11, 8 * page);
  unsigned char *inner = (unsigned char *)(((uintptr_t)p + 2 * page) & ~(uintptr_t)(page - 1));
  oh_arena_reset(a, OH_ARENA_KEEP);
  cr_expect(is_guarded(inner), "a kept block's pages are accessible after a reset at level 2");
#ifdef TAKE_FAULTS
  cr_expect(write_faults(inner), "a write to reset arena memory did not fault");
#endif
  /* Handed out again, even after debug mode is switched off: accessible. */
  oh_option_set(OH_OPT_DEBUG, 0);
  unsigned char *r = oh_arena_alloc(a, 8 * page, 0);
  cr_assert(r != NULL);
  cr_expect(!is_guarded(inner) && !is_guarded(r + 4 * page), "a reused block is still guarded");
  memset(r, 0x44, 8 * page);
  /* ResetDecommit guards the block it keeps, too. */
  oh_option_set(OH_OPT_DEBUG, 2);
  oh_arena_reset(a, OH_ARENA_DECOMMIT);
  cr_expect(is_guarded(inner), "the block kept by a decommitting reset is accessible at level 2");
  r = oh_arena_alloc(a, 8 * page, 0);
  cr_assert(r != NULL);
  memset(r, 0x55, 8 * page);
  cr_expect_eq(oh_arena_destroy(a), 0);
}

Test(misuse_race, asan_poisons_arena_memory) {
#ifndef OHI_ASAN
  cr_skip_test("an ASan build only");
#else
  oh_arena_t *a = oh_arena_new(64 * KiB);
  unsigned char *p = oh_arena_alloc(a, 100, 0);
  cr_assert(p != NULL);
  cr_expect(!__asan_address_is_poisoned(p) && !__asan_address_is_poisoned(p + 99), "an allocation is poisoned");
  cr_expect(__asan_address_is_poisoned(p + 112), "memory past the allocation is not poisoned");
  oh_arena_reset(a, OH_ARENA_KEEP);
  cr_expect(__asan_address_is_poisoned(p), "reset arena memory is not poisoned");
  unsigned char *q = oh_arena_alloc(a, 100, 0);
  cr_expect(!__asan_address_is_poisoned(q), "memory handed out again is still poisoned");
  q[99] = 1;
  oh_arena_destroy(a);
#endif
}
