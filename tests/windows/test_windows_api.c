/* test_windows_api.c - the public API on Windows (test_windows.c has the
 * overview): version, allocation, misuse reports, slab instances, pools and
 * arenas, pages and decommit, purging, threads and guard pages. */
#include "test_windows.h"

/* ===== the public API =========================================================== */

static struct {
  int count, err;
  char msg[512];
} captured;
static void capture(int err, const char *message, void *arg) {
  (void)arg;
  captured.count++;
  captured.err = err;
  snprintf(captured.msg, sizeof captured.msg, "%s", message);
}

/* Whether msg names p: its hex digits (without leading zeros), any case. */
static int names_ptr(const char *msg, const void *p) {
  char hex[32];
  snprintf(hex, sizeof hex, "%" PRIxPTR, (uintptr_t)p);
  for (const char *m = msg; *m; m++) {
    size_t i = 0;
    while (hex[i] && m[i] && (m[i] | 0x20) == hex[i]) i++;
    if (hex[i] == 0) return 1;
  }
  return 0;
}

void test_version(void) {
  char want[32];
  snprintf(want, sizeof want, "%d.%d.%d", OH_VERSION_MAJOR, OH_VERSION_MINOR, OH_VERSION_PATCH);
  CHECK(strcmp(oh_version(), want) == 0, "oh_version() = %s, header %s", oh_version(), want);
  CHECK(oh_abi_version() == OH_ABI_VERSION, "oh_abi_version() = %d", oh_abi_version());
}

void test_alloc_free(void) {
  const size_t sizes[] = {1, 16, 100, 1000, 4096, 16 * KiB, 64 * KiB, 100 * KiB, MiB, 5 * MiB};
  enum { N = sizeof sizes / sizeof sizes[0] };
  void *ps[N];
  for (size_t i = 0; i < N; i++) {
    ps[i] = oh_alloc(sizes[i]);
    CHECK(ps[i] != NULL, "oh_alloc(%zu) failed: %s", sizes[i], oh_last_error());
    if (ps[i] == NULL) continue;
    CHECK(((uintptr_t)ps[i] & 15) == 0, "oh_alloc(%zu) = %p is not 16-byte aligned", sizes[i], ps[i]);
    CHECK(oh_usable_size(ps[i]) >= sizes[i], "oh_usable_size = %zu < %zu", oh_usable_size(ps[i]), sizes[i]);
    fill(ps[i], sizes[i], (unsigned)i);
  }
  for (size_t i = 0; i < N; i++) {
    if (ps[i] == NULL) continue;
    CHECK(filled(ps[i], sizes[i], (unsigned)i), "allocation %zu (%zu bytes) was overwritten", i, sizes[i]);
    CHECK(oh_free(ps[i]) == 0, "oh_free(%p) failed: %s", ps[i], oh_last_error());
  }
  void *z = oh_calloc(64 * KiB);
  REQUIRE(z != NULL, "oh_calloc failed");
  CHECK(all_zero(z, 64 * KiB), "oh_calloc memory is not zeroed");
  CHECK(oh_free(z) == 0, "oh_free failed");
}

void test_misuse_is_reported(void) {
  oh_set_error_handler(capture, NULL);
  int on_stack = 0;
  captured.count = 0;
  errno = 0;
  CHECK(oh_free(&on_stack) == -1 && errno == EINVAL, "free of a stack address: errno %d, want EINVAL", errno);
  CHECK(captured.count == 1 && captured.err == EINVAL && names_ptr(captured.msg, &on_stack),
        "the handler got (%d calls, errno %d) \"%s\", which must name %p", captured.count, captured.err, captured.msg,
        (void *)&on_stack);
  CHECK(strcmp(oh_last_error(), captured.msg) == 0, "oh_last_error() = \"%s\"", oh_last_error());
  char *p = oh_alloc(100);
  REQUIRE(p != NULL, "oh_alloc failed");
  errno = 0;
  CHECK(oh_free(p + 16) == -1 && errno == EFAULT, "free of an interior pointer: errno %d, want EFAULT", errno);
  CHECK(oh_free(p) == 0, "oh_free failed");
  errno = 0;
  CHECK(oh_free(p) == -1 && errno == EALREADY, "double free: errno %d, want EALREADY", errno);
  oh_set_error_handler(NULL, NULL);
}

/* Slab instances come and go: their descriptors are reused from metadata
 * memory that was decommitted, which DiscardVirtualMemory does not zero (the
 * core zeroes it: OHI_OS_DECOMMIT_ZEROES). A stale state word would show as a
 * wrong reference count or a refused free. */
void test_slab_instances_come_and_go(void) {
  oh_slab_config_t cfg = {.min_chunk = 48, .slab_size = 256 * KiB, .growth = 2};
  enum { ROUNDS = 60, PER = 600 };
  static void *ptrs[PER];
  for (int round = 0; round < ROUNDS; round++) {
    oh_slab_t *s = oh_slab_new(&cfg);
    REQUIRE(s != NULL, "oh_slab_new failed: %s", oh_last_error());
    for (int i = 0; i < PER; i++) {
      size_t n = 16 + (size_t)(i * 37 + round) % 3000;
      ptrs[i] = oh_slab_alloc(s, n);
      if (ptrs[i] == NULL || oh_slab_refcount(s, ptrs[i]) != 1) {
        CHECK(0, "round %d: allocation %d: %p refcount %ld", round, i, ptrs[i],
              ptrs[i] ? oh_slab_refcount(s, ptrs[i]) : -1L);
        return;
      }
      memset(ptrs[i], 0x5a, n);
    }
    for (int i = 0; i < PER; i += 3) CHECK(oh_slab_addref(s, ptrs[i]) == 0, "oh_slab_addref failed");
    for (int i = 0; i < PER; i++) {
      int want = i % 3 == 0 ? 0 : 1;
      int got = oh_slab_decref(s, ptrs[i]);
      if (got != want) {
        CHECK(0, "round %d: decref %d returned %d, want %d", round, i, got, want);
        return;
      }
    }
    for (int i = 0; i < PER; i += 3) CHECK(oh_slab_decref(s, ptrs[i]) == 1, "the last decref did not free");
    oh_stats_t st;
    CHECK(oh_slab_stats(s, &st) == 0 && st.in_use_bytes == 0, "round %d: %llu bytes still in use", round,
          (unsigned long long)st.in_use_bytes);
    CHECK(oh_slab_destroy(s) == 0, "oh_slab_destroy failed: %s", oh_last_error());
    if (round % 10 == 9) oh_purge(); /* decommit what the destroyed instances left */
  }
}

void test_pool_and_arena(void) {
  oh_pool_t *pool = oh_pool_new(200, NULL);
  REQUIRE(pool != NULL, "oh_pool_new failed");
  enum { N = 5000 };
  static void *objs[N];
  for (int i = 0; i < N; i++) {
    objs[i] = oh_pool_get(pool);
    REQUIRE(objs[i] != NULL, "oh_pool_get %d failed", i);
    memset(objs[i], i & 0xff, 200);
  }
  for (int i = 0; i < N; i++) {
    CHECK(((unsigned char *)objs[i])[199] == (i & 0xff), "pool object %d was overwritten", i);
    CHECK(oh_pool_put(pool, objs[i]) == 0, "oh_pool_put failed");
  }
  CHECK(oh_pool_destroy(pool) == 0, "oh_pool_destroy failed");

  oh_arena_t *a = oh_arena_new(64 * KiB);
  REQUIRE(a != NULL, "oh_arena_new failed");
  for (int flags = 0; flags <= 1; flags++) {
    for (int i = 0; i < 1000; i++) {
      char *p = oh_arena_alloc(a, 1 + (size_t)i % 700, 16);
      REQUIRE(p != NULL, "oh_arena_alloc failed");
      CHECK(oh_arena_owns(a, p), "oh_arena_owns(%p) = 0", (void *)p);
      memset(p, 1, 1 + (size_t)i % 700);
    }
    char *big = oh_arena_alloc(a, MiB, 4096);
    CHECK(big != NULL && ((uintptr_t)big & 4095) == 0, "a large aligned arena allocation failed");
    oh_arena_reset(a, flags == 0 ? OH_ARENA_DECOMMIT : OH_ARENA_KEEP);
  }
  CHECK(oh_arena_destroy(a) == 0, "oh_arena_destroy failed");
}

void test_pages_and_decommit(void) {
  size_t ps = oh_page_size();
  unsigned char *m = oh_map(MiB);
  REQUIRE(m != NULL, "oh_map failed");
  CHECK(all_zero(m, MiB), "oh_map memory is not zeroed");
  memset(m, 3, MiB);
  CHECK(oh_decommit(m, MiB) == MiB, "oh_decommit of a whole mapping");
  m[0] = 1;
  errno = 0;
  CHECK(oh_unmap(m, MiB / 2) == -1 && errno == EINVAL, "oh_unmap with the wrong size: errno %d", errno);
  CHECK(oh_unmap(m, MiB) == 0, "oh_unmap failed");
  CHECK(state_of(m) == MEM_FREE, "oh_unmap left state %#lx", state_of(m));
  /* Any memory: here the C heap's. */
  size_t n = 64 * ps + 100;
  unsigned char *h = malloc(n);
  REQUIRE(h != NULL, "malloc failed");
  memset(h, 1, n);
  size_t got = oh_decommit(h, n);
  CHECK(got % ps == 0 && got >= 62 * ps && got <= 64 * ps, "oh_decommit of malloc'd memory: %zu bytes", got);
  memset(h, 2, n); /* still usable */
  free(h);
}

/* Freed memory goes back to the OS: by oh_purge at once, and by the purger
 * thread after the purge delay. Measured as the process's working set. */
void test_purge_returns_memory(void) {
  long long old_delay = oh_option_get(OH_OPT_PURGE_DELAY_MS);
  oh_option_set(OH_OPT_PURGE_DELAY_MS, -1); /* only oh_purge decommits */
  enum { N = 256 };
  static void *ps[N];
  for (int i = 0; i < N; i++) { /* 16 MiB */
    ps[i] = oh_alloc(64 * KiB);
    REQUIRE(ps[i] != NULL, "oh_alloc failed");
    memset(ps[i], 1, 64 * KiB);
  }
  size_t before = working_set();
  for (int i = 0; i < N; i++) oh_free(ps[i]);
  size_t released = oh_purge();
  size_t after = working_set();
  CHECK(released >= 8 * MiB, "oh_purge released %zu bytes", released);
  CHECK(before > after && before - after >= 8 * MiB, "working set %zu -> %zu after oh_purge, want a drop of 8 MiB",
        before, after);

  /* The purger thread (winpthreads, timed condition wait). */
  oh_option_set(OH_OPT_PURGE_DELAY_MS, 20);
  for (int i = 0; i < N; i++) {
    ps[i] = oh_alloc(64 * KiB);
    REQUIRE(ps[i] != NULL, "oh_alloc failed");
    memset(ps[i], 1, 64 * KiB);
  }
  oh_stats_t st;
  oh_stats(&st);
  uint64_t dec0 = st.decommitted_bytes;
  for (int i = 0; i < N; i++) oh_free(ps[i]);
  oh_thread_flush();
  int waited = 0;
  for (; waited < 300; waited++) {
    oh_stats(&st);
    if (st.decommitted_bytes - dec0 >= 8 * MiB) break;
    Sleep(10);
  }
  CHECK(st.decommitted_bytes - dec0 >= 8 * MiB, "the purger decommitted %llu bytes in 3 s",
        (unsigned long long)(st.decommitted_bytes - dec0));
  oh_option_set(OH_OPT_PURGE_DELAY_MS, old_delay);
}

/* ---- threads ---- */

enum { THREADS = 4, OPS = 40000, LIVE = 256, HANDOFF = 1024 };

typedef struct {
  int id;
  int errors;
} worker_t;

static void *volatile handoff[HANDOFF]; /* allocations passed to another thread to free */

static void *worker(void *arg) {
  worker_t *w = arg;
  void *live[LIVE] = {0};
  size_t lens[LIVE] = {0};
  uint64_t x = 0x9E3779B97F4A7C15ull * (uint64_t)(w->id + 1);
  for (int op = 0; op < OPS; op++) {
    x ^= x << 13, x ^= x >> 7, x ^= x << 17;
    int slot = (int)(x % LIVE);
    if (live[slot] != NULL) {
      unsigned char *b = live[slot];
      if (b[0] != (unsigned char)(w->id + slot) || b[lens[slot] - 1] != (unsigned char)(w->id + slot)) w->errors++;
      /* Every 8th is freed by whichever thread finds it in the hand-off. */
      if ((x >> 20) % 8 == 0) {
        void *prev = __atomic_exchange_n(&handoff[(x >> 24) % HANDOFF], live[slot], __ATOMIC_ACQ_REL);
        if (prev != NULL && oh_free(prev) != 0) w->errors++;
      } else if (oh_free(live[slot]) != 0) {
        w->errors++;
      }
      live[slot] = NULL;
    } else {
      size_t n = 1 + (size_t)((x >> 32) % ((x & 64) ? 65536 : 512));
      unsigned char *b = oh_alloc(n);
      if (b == NULL) {
        w->errors++;
        continue;
      }
      b[0] = b[n - 1] = (unsigned char)(w->id + slot);
      live[slot] = b, lens[slot] = n;
    }
  }
  for (int i = 0; i < LIVE; i++)
    if (live[i] != NULL && oh_free(live[i]) != 0) w->errors++;
  return NULL;
}

void test_threads(void) {
  pthread_t t[THREADS];
  worker_t w[THREADS];
  for (int i = 0; i < THREADS; i++) {
    w[i].id = i, w[i].errors = 0;
    REQUIRE(pthread_create(&t[i], NULL, worker, &w[i]) == 0, "pthread_create failed");
  }
  int errors = 0;
  for (int i = 0; i < THREADS; i++) {
    pthread_join(t[i], NULL);
    errors += w[i].errors;
  }
  for (int i = 0; i < HANDOFF; i++)
    if (handoff[i] != NULL && oh_free(handoff[i]) != 0) errors++;
  CHECK(errors == 0, "%d wrong contents or failed frees across %d threads", errors, THREADS);
  oh_thread_flush();
  oh_stats_t st;
  CHECK(oh_stats(&st) == 0 && st.in_use_bytes == 0, "%llu bytes still in use after every thread freed all",
        (unsigned long long)st.in_use_bytes);
}

/* Debug level 2: a freed large allocation is made inaccessible. */
void test_debug_guard(void) {
  long long old = oh_option_get(OH_OPT_DEBUG);
  REQUIRE(oh_option_set(OH_OPT_DEBUG, 2) == 0, "oh_option_set(OH_OPT_DEBUG, 2) failed");
  char *p = oh_alloc(2 * MiB);
  REQUIRE(p != NULL, "oh_alloc failed");
  memset(p, 1, 2 * MiB);
  CHECK(oh_free(p) == 0, "oh_free failed");
  CHECK(!readable(p) && !readable(p + MiB), "a freed large allocation is still readable under debug level 2");
  char *q = oh_alloc(2 * MiB); /* reuse makes it accessible again */
  REQUIRE(q != NULL, "oh_alloc failed");
  memset(q, 2, 2 * MiB);
  CHECK(oh_free(q) == 0, "oh_free failed");
  oh_option_set(OH_OPT_DEBUG, old);
}
