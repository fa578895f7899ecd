/* fuzz_ops.c - libFuzzer target: random sequences of operations on the C ABI
 * (oh_alloc / oh_calloc / oh_free, slab instances with reference counts and
 * batches, bounded and unbounded pools, arenas, oh_map, oh_decommit, purging,
 * options, fault injection, misuse) checked against a simple model.
 *
 * The model is a table of live allocations: address, size, kind, pattern
 * seed, reference count, the bytes the statistics count for it. Every
 * allocation is filled with its own pattern and checked before it is
 * released; every error must come with the errno the header promises, a call
 * of the error handler naming the pointer, and no change to the model; the
 * statistics (in-use bytes, large allocations) and the leak lists
 * (oh_slab_leaks, oh_pool_leaks) must equal the model exactly.
 *
 * Input format: byte 0 configures the run (slab geometry, thread cache
 * bound); then one byte picks each operation and the following bytes its
 * arguments. op_lifecycle races two oh_unmap calls, destroys pools and
 * arenas twice and runs arena reset sequences (issue 13). An exhausted input reads as zeros and ends the run.
 *
 * Built with clang -fsanitize=fuzzer,address,undefined against the core sources and
 * -Ic/src, so it can call ohi_test_fail_os (fault injection). Each run leaves
 * the process as it found it: instances destroyed, options restored, fault
 * injection disarmed, the process-wide allocator's in-use bytes unchanged.
 *
 * The target is split by concern: this file holds the knobs (faults, options,
 * threads, purging) and the driver; fuzz_model.c the failures, patterns, the
 * error contract, the model and its checks; fuzz_steps.c the operations on
 * live allocations; fuzz_misuse.c the misuse and lifecycles; fuzz_ops.h what
 * they share.
 */
#include "fuzz_ops.h"

/* ---- knobs ------------------------------------------------------------------------- */

static long long saved_opts[OH_OPT_COUNT_];

static void op_faults(void) {
  uint8_t b = next();
  if (b % 2 == 0)
    ohi_test_fail_os(1 + (b / 2) % 4, 0);
  else
    ohi_test_fail_os(0, (uint64_t)(b / 2) * (64 << 10) + 1);
  F.fault_ops = 1 + next() % 32;
}

static void op_option(void) {
  uint8_t v = next();
  switch (v % 4) {
  case 0: {
    long long delays[] = {0, 1, 1000, -1};
    oh_option_set(OH_OPT_PURGE_DELAY_MS, delays[(v / 4) % 4]);
    break;
  }
  case 1:
    oh_option_set(OH_OPT_DEBUG, (v / 4) % 3);
    break;
  case 2:
    oh_option_set(OH_OPT_DECOMMIT_ADVICE, (v / 4) % 2);
    break;
  case 3:
    oh_option_set(OH_OPT_RETAIN_BYTES, (v / 4) % 2 ? 0 : 4LL << 20);
    break;
  }
}

static void step(void);

static void *thread_ops(void *arg) {
  int k = *(int *)arg;
  for (int i = 0; i < k && !done(); i++) step();
  return NULL; /* the thread's caches are flushed by its exit */
}

/* Runs the next few operations on a new thread. */
static void op_thread(void) {
  int k = 1 + next() % 16;
  pthread_t t;
  if (pthread_create(&t, NULL, thread_ops, &k) != 0) return;
  pthread_join(t, NULL);
}

static void op_purge(void) {
  switch (next() % 3) {
  case 0:
    oh_purge();
    break;
  case 1:
    oh_slab_purge(next() % 2 ? F.s : oh_default_slab());
    break;
  case 2:
    oh_thread_flush();
    break;
  }
}

/* ---- the driver ----------------------------------------------------------------------- */

static void step(void) {
  op_index++;
  if (F.fault_ops > 0 && --F.fault_ops == 0) ohi_test_fail_os(0, 0);
  uint8_t op = next() % 32;
  if (F.nlive >= MAX_LIVE - 20 || F.live_bytes > MAX_BYTES) op = 10;
  if (op < 10)
    op_alloc();
  else if (op < 16)
    op_release();
  else if (op < 18)
    op_addref();
  else if (op == 18)
    op_free_batch();
  else if (op == 19)
    op_decommit();
  else if (op == 20)
    op_arena_reset();
  else if (op == 21)
    op_rewrite();
  else if (op == 22)
    check_model();
  else if (op < 25)
    op_misuse();
  else if (op == 25)
    op_purge();
  else if (op == 26)
    op_faults();
  else if (op == 27)
    op_option();
  else if (op == 28)
    op_thread();
  else if (op == 29)
    op_lifecycle();
  else {
    int i = pick();
    if (i >= 0) verify(&F.live[i], "on a check");
  }
}

static void setup(void) {
  static const size_t slab_sizes[] = {64 << 10, 256 << 10, 1 << 20, 2 << 20};
  static const double growths[] = {1.25, 1.5, 2.0, 1.125};
  static const long long tcache[] = {1 << 20, 0, 4096, 256 << 10};
  uint8_t cfg = next();
  for (int o = 0; o < OH_OPT_COUNT_; o++) saved_opts[o] = oh_option_get((oh_option_t)o);
  oh_option_set(OH_OPT_TCACHE_BYTES, tcache[(cfg >> 4) % 4]);
  oh_slab_config_t sc = {16 * (1 + (cfg >> 6) % 3), slab_sizes[cfg % 4], growths[(cfg >> 2) % 4]};
  F.s = oh_slab_new(&sc);
  if (F.s == NULL) fail("oh_slab_new(%zu, %zu, %g): %s", sc.min_chunk, sc.slab_size, sc.growth, oh_last_error());
  F.slab_size = sc.slab_size;
  F.other = oh_slab_new(NULL);
  oh_pool_config_t pc = {POOL_MAX, 8};
  F.pool = oh_pool_new(POOL_SIZE, &pc);
  F.upool = oh_pool_new(UPOOL_SIZE, NULL);
  F.arena = oh_arena_new(64 << 10);
  if (!F.other || !F.pool || !F.upool || !F.arena) fail("creating the instances: %s", oh_last_error());
  oh_stats_t st;
  oh_thread_flush();
  oh_slab_stats(oh_default_slab(), &st);
  F.base_default = st.in_use_bytes;
}

static void teardown(void) {
  if (F.fault_ops > 0) ohi_test_fail_os(0, 0);
  F.fault_ops = 0;
  check_model();
  while (F.nlive > 0) {
    int i = F.nlive - 1;
    if (F.live[i].kind == K_ARENA) {
      verify(&F.live[i], "at the end");
      take_live(i);
      continue;
    }
    release_at(i);
  }
  oh_arena_reset(F.arena, OH_ARENA_KEEP);
  oh_purge();
  check_model();
  if (oh_slab_destroy(F.s) || oh_slab_destroy(F.other) || oh_pool_destroy(F.pool) || oh_pool_destroy(F.upool) ||
      oh_arena_destroy(F.arena))
    fail("destroying the instances: %s", oh_last_error());
  for (int o = 0; o < OH_OPT_COUNT_; o++) oh_option_set((oh_option_t)o, saved_opts[o]);
}

int LLVMFuzzerInitialize(int *argc, char ***argv) {
  (void)argc;
  (void)argv;
  page = oh_page_size();
  oh_set_error_handler(capture, NULL);
  return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  memset(&F, 0, sizeof F);
  F.data = data;
  F.len = size;
  op_index = 0;
  setup();
  while (!done()) step();
  teardown();
  return 0;
}
