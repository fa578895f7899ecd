/* test_memlimit.c - OH_OPT_MEMORY_LIMIT: growth past the limit refused with a
 * message naming the limit, total and request; free memory purged before a
 * refusal; soft mode never refusing; reservations; step crossings waking
 * oh_memory_wait; OFFHEAP_MEMORY_LIMIT values, `auto` on the cgroup fixture
 * trees go/offheap/testdata/cgroup shares with the Go tests. Criterion runs
 * each test in its own process, so the options set here end with it. */
#include "test_util.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#define FIXTURES "go/offheap/testdata/cgroup/"

static uint64_t committed_now(void) {
  oh_memory_status_t st;
  oh_memory_status(&st);
  return st.committed;
}

/* A limit `room` bytes above what is committed now (nothing external). */
static long long limit_with_room(size_t room) {
  long long lim = (long long)(committed_now() + room);
  cr_assert_eq(oh_option_set(OH_OPT_MEMORY_LIMIT, lim), 0);
  return lim;
}

Test(memlimit, no_limit_by_default_and_status_reads_it) {
  oh_memory_status_t st;
  oh_memory_status(&st);
  cr_assert_eq(st.limit, -1);
  cr_assert_eq(st.step, 0);
  cr_assert_eq(oh_option_get(OH_OPT_MEMORY_LIMIT), -1);
  cr_assert_eq(oh_memory_reserve(1 << 30), 0, "no limit: nothing reserved");
  cr_assert_eq(oh_option_set(OH_OPT_MEMORY_LIMIT, 1LL << 30), 0);
  oh_memory_status(&st);
  cr_assert_eq(st.limit, 1LL << 30);
  cr_assert_eq(st.step, 16 * MiB, "1 GiB / 64 = 16 MiB steps, got %llu", (unsigned long long)st.step);
  cr_assert_eq(oh_option_set(OH_OPT_MEMORY_LIMIT, -2), -1, "below -1 is out of range");
  cr_assert_eq(oh_option_set(OH_OPT_MEMORY_LIMIT, -1), 0);
  oh_memory_status(&st);
  cr_assert_eq(st.limit, -1);
}

Test(memlimit, map_past_the_limit_is_refused_with_the_figures) {
  t_cap_install();
  long long lim = limit_with_room(8 * MiB);
  void *a = oh_map(4 * MiB);
  cr_assert_not_null(a, "within the limit: %s", oh_last_error());
  t_cap_reset();
  errno = 0;
  void *b = oh_map(8 * MiB);
  cr_assert_null(b);
  cr_assert_eq(errno, ENOMEM);
  cr_assert_eq(t_cap_count(), 1, "one report through the handler");
  char want[64];
  snprintf(want, sizeof want, "memory limit of %lld bytes", lim);
  cr_assert(strstr(t_cap.last_msg, "oh_map") && strstr(t_cap.last_msg, want) &&
                strstr(t_cap.last_msg, "request 8388608"),
            "message names the call, the limit and the request: %s", t_cap.last_msg);
  cr_assert(strstr(t_cap.last_msg, "total "), "and the total: %s", t_cap.last_msg);
  cr_assert_eq(oh_unmap(a, 4 * MiB), 0);
  b = oh_map(7 * MiB); /* the span metadata of a mapping is committed too */
  cr_assert_not_null(b, "room again after the unmap: %s", oh_last_error());
  cr_assert_eq(oh_unmap(b, 7 * MiB), 0);
}

Test(memlimit, large_small_and_arena_growth_are_refused) {
  t_cap_install();
  oh_slab_t *s = oh_slab_new(NULL);
  oh_arena_t *ar = oh_arena_new(1 * MiB);
  cr_assert(s && ar);
  limit_with_room(2 * MiB);
  errno = 0;
  cr_assert_null(oh_alloc(4 * MiB), "a large allocation past the limit");
  cr_assert_eq(errno, ENOMEM);
  cr_assert(strstr(oh_last_error(), "memory limit"), "%s", oh_last_error());
  /* small chunks: the first slabs fit, then growth stops */
  size_t got = 0;
  void *ptrs[64];
  while (got < 64 && (ptrs[got] = oh_slab_alloc(s, 200 * KiB)) != NULL) got++;
  cr_assert(got > 0 && got < 64, "some chunks then a refusal, got %zu", got);
  cr_assert_eq(errno, ENOMEM);
  cr_assert(strstr(oh_last_error(), "memory limit"), "%s", oh_last_error());
  errno = 0;
  cr_assert_null(oh_arena_alloc(ar, 2 * MiB, 0), "an arena block past the limit");
  cr_assert_eq(errno, ENOMEM);
  cr_assert(strstr(oh_last_error(), "memory limit"), "%s", oh_last_error());
  for (size_t i = 0; i < got; i++) cr_assert_eq(oh_slab_decref(s, ptrs[i]), 1);
  cr_assert_eq(oh_option_set(OH_OPT_MEMORY_LIMIT, -1), 0);
  void *p = oh_alloc(4 * MiB);
  cr_assert_not_null(p, "the limit lifted: %s", oh_last_error());
  oh_free(p);
  oh_arena_destroy(ar);
  oh_slab_destroy(s);
}

Test(memlimit, free_memory_is_purged_before_a_refusal) {
  /* Freed memory would stay committed for an hour; the limit takes it back. */
  cr_assert_eq(oh_option_set(OH_OPT_PURGE_DELAY_MS, 3600 * 1000), 0);
  cr_assert_eq(oh_option_set(OH_OPT_RETAIN_BYTES, 64 * MiB), 0);
  oh_slab_t *s = oh_slab_new(NULL);
  enum { N = 64 };
  void *ptrs[N];
  for (int i = 0; i < N; i++) {
    ptrs[i] = oh_slab_alloc(s, 128 * KiB);
    cr_assert_not_null(ptrs[i]);
    memset(ptrs[i], 1, 128 * KiB);
  }
  oh_thread_flush(); /* the slabs to the shared lists, where a refusal purges */
  for (int i = 0; i < N; i++) cr_assert_eq(oh_slab_decref(s, ptrs[i]), 1);
  oh_thread_flush();
  uint64_t held = committed_now();
  limit_with_room(4 * MiB);
  void *m = oh_map(11 * MiB);
  cr_assert_not_null(m, "admitted after purging the freed 8 MiB: %s", oh_last_error());
  cr_assert(committed_now() < held + 11 * MiB - 6 * MiB, "the free slabs were decommitted");
  oh_unmap(m, 11 * MiB);
  oh_slab_destroy(s);
}

Test(memlimit, soft_mode_never_refuses) {
  cr_assert_eq(oh_option_set(OH_OPT_MEMORY_LIMIT_SOFT, 1), 0);
  limit_with_room(1 * MiB);
  void *p = oh_map(8 * MiB);
  cr_assert_not_null(p, "soft: past the limit: %s", oh_last_error());
  void *q = oh_alloc(4 * MiB);
  cr_assert_not_null(q);
  /* the binding's own admission still refuses */
  errno = 0;
  cr_assert_eq(oh_memory_reserve(1 * MiB), -1);
  cr_assert_eq(errno, ENOMEM);
  cr_assert(strstr(oh_last_error(), "oh_memory_reserve: memory limit of"), "%s", oh_last_error());
  oh_free(q);
  oh_unmap(p, 8 * MiB);
}

Test(memlimit, reservations_count_in_the_total) {
  limit_with_room(10 * MiB);
  cr_assert_eq(oh_memory_reserve(6 * MiB), 1);
  oh_memory_status_t st;
  oh_memory_status(&st);
  cr_assert_eq(st.reserved, 6 * MiB);
  errno = 0;
  cr_assert_eq(oh_memory_reserve(6 * MiB), -1, "6 + 6 MiB in flight > 10 MiB of room");
  cr_assert_null(oh_map(6 * MiB), "the core sees the reservation too");
  oh_memory_unreserve(6 * MiB);
  cr_assert_eq(oh_memory_reserve(6 * MiB), 1);
  oh_memory_unreserve(6 * MiB);
  oh_memory_status(&st);
  cr_assert_eq(st.reserved, 0);
  /* external bytes count too */
  oh_memory_set_external(8 * MiB);
  cr_assert_eq(oh_memory_reserve(4 * MiB), -1, "8 MiB outside + 4 > 10");
  oh_memory_set_external(0);
  cr_assert_eq(oh_memory_reserve(4 * MiB), 1);
  oh_memory_unreserve(4 * MiB);
}

enum { GROW_THREADS = 4, GROW_SIZE = 2 * MiB, GROW_MAX = 64 };
typedef struct grow_arg_s {
  void *maps[GROW_MAX];
  int count;
} grow_arg_t;

static void *grow_until_refused(void *arg) {
  grow_arg_t *g = arg;
  while (g->count < GROW_MAX && (g->maps[g->count] = oh_map(GROW_SIZE)) != NULL) g->count++;
  return NULL;
}

Test(memlimit, concurrent_growth_never_passes_the_limit) {
  /* Every admission reserves its request before mapping: racing threads
   * never pass on one stale total, so oh_map (which commits exactly what it
   * admits) keeps the total within the limit. */
  long long lim = limit_with_room(40 * MiB + MiB / 2);
  grow_arg_t args[GROW_THREADS];
  pthread_t th[GROW_THREADS];
  memset(args, 0, sizeof args);
  for (int i = 0; i < GROW_THREADS; i++) cr_assert_eq(pthread_create(&th[i], NULL, grow_until_refused, &args[i]), 0);
  for (int i = 0; i < GROW_THREADS; i++) pthread_join(th[i], NULL);
  int total = 0;
  for (int i = 0; i < GROW_THREADS; i++) total += args[i].count;
  cr_assert_eq(total, 20, "40.5 MiB of room hold exactly 20 mappings of 2 MiB, got %d", total);
  cr_assert_leq(committed_now(), (uint64_t)lim);
  for (int i = 0; i < GROW_THREADS; i++)
    for (int k = 0; k < args[i].count; k++) cr_assert_eq(oh_unmap(args[i].maps[k], GROW_SIZE), 0);
}

Test(memlimit, a_step_crossed_wakes_the_waiter) {
  cr_assert_eq(oh_option_set(OH_OPT_MEMORY_LIMIT, 1LL << 30), 0); /* steps of 16 MiB */
  oh_memory_status_t st;
  oh_memory_status(&st);
  uint64_t seen = st.seq;
  cr_assert_eq(oh_memory_wait(seen, 1), seen, "nothing crossed: the wait times out unchanged");
  void *p = oh_map(32 * MiB); /* crosses at least one step */
  cr_assert_not_null(p);
  uint64_t now = oh_memory_wait(seen, 60 * 1000);
  cr_assert_neq(now, seen, "the crossing bumped the sequence (and woke the wait at once)");
  oh_unmap(p, 32 * MiB);
  cr_assert_neq(oh_memory_wait(now, 60 * 1000), now, "the way down crosses too");
  cr_assert_eq(oh_option_set(OH_OPT_MEMORY_LIMIT, -1), 0);
  oh_memory_status(&st);
  cr_assert_eq(st.step, 0, "no limit: no steps");
}

Test(memlimit, near_the_limit_free_memory_is_purged_early) {
  cr_assert_eq(oh_option_set(OH_OPT_PURGE_DELAY_MS, 3600 * 1000), 0);
  void *ptrs[32];
  for (int i = 0; i < 32; i++) {
    ptrs[i] = oh_alloc(256 * KiB);
    cr_assert_not_null(ptrs[i]);
    memset(ptrs[i], 1, 256 * KiB);
  }
  for (int i = 0; i < 32; i++) oh_free(ptrs[i]);
  uint64_t with_free = committed_now();
  /* A limit whose last two steps (1 MiB each) the next mapping reaches. */
  cr_assert_eq(oh_option_set(OH_OPT_MEMORY_LIMIT, (long long)(with_free + 3 * MiB)), 0);
  void *m = oh_map(2 * MiB);
  cr_assert_not_null(m);
  /* The urgent pass runs on the purger thread: wait for it (no time asserted). */
  uint64_t deadline = t_now_ms() + 60 * 1000;
  while (committed_now() > with_free + 2 * MiB - 4 * MiB && t_now_ms() < deadline) t_sleep_ms(5);
  cr_assert_leq(committed_now(), with_free + 2 * MiB - 4 * MiB,
                "the freed 8 MiB were decommitted long before the hour-long delay");
  oh_unmap(m, 2 * MiB);
}

Test(memlimit, parse_sizes_and_bad_values) {
  t_cap_install();
  long long v = 0;
  struct { const char *in; long long want; } good[] = {
      {"2GiB", 2LL << 30}, {"1536MiB", 1536LL << 20}, {"1.5GiB", 3LL << 29}, {"512M", 512LL << 20},
      {"64k", 64LL << 10}, {"1073741824", 1LL << 30}, {"100B", 100}, {" 1 TiB", 1LL << 40}, {"none", -1},
  };
  for (size_t i = 0; i < sizeof good / sizeof good[0]; i++) {
    cr_assert_eq(oh_memory_limit_parse(good[i].in, NULL, &v), 0, "%s: %s", good[i].in, oh_last_error());
    cr_assert_eq(v, good[i].want, "%s: got %lld", good[i].in, v);
  }
  const char *bad[] = {"", "abc", "-1", "2GB", "0", "1.5.2GiB", "1.", "99999999999TiB", "5 parsecs", "auto2"};
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    t_cap_reset();
    v = 123;
    errno = 0;
    cr_assert_eq(oh_memory_limit_parse(bad[i], NULL, &v), -1, "%s must be refused", bad[i]);
    cr_assert_eq(errno, EINVAL);
    cr_assert_eq(v, 123, "%s: output untouched", bad[i]);
    cr_assert_eq(t_cap_count(), 1);
    cr_assert(strstr(t_cap.last_msg, "OFFHEAP_MEMORY_LIMIT=") && strstr(t_cap.last_msg, "no limit"),
              "%s: %s", bad[i], t_cap.last_msg);
  }
}

Test(memlimit, auto_reads_the_cgroup_fixtures) {
  struct { const char *root; long long cgroup; } cases[] = {
      {FIXTURES "v2", 2147483648LL},         {FIXTURES "v2-container", 1610612736LL},
      {FIXTURES "v2-nested", 536870912LL},   {FIXTURES "v2-max", -1},
      {FIXTURES "v1", 1073741824LL},         {FIXTURES "v1-unlimited", -1},
      {FIXTURES "none", -1},                 {FIXTURES "does-not-exist", -1},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    long long v = 0;
    cr_assert_eq(oh_memory_limit_parse("auto", cases[i].root, &v), 0, "%s", cases[i].root);
    long long want = cases[i].cgroup < 0 ? -1 : cases[i].cgroup - cases[i].cgroup / 100 * 10;
    cr_assert_eq(v, want, "%s: got %lld want %lld (90%% of %lld)", cases[i].root, v, want, cases[i].cgroup);
  }
}
