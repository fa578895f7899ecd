/* test_threads.c - multi-thread stress (the thread life cycle is in
 * test_thread_exit.c).
 *
 * Every buffer handed out is filled with a pattern derived from its owner
 * (thread id + sequence number) and checked before it is freed or passed on:
 * if the allocator ever gave one chunk to two owners, or reused a chunk that
 * was still referenced, a check fails. Buffers also travel between threads
 * through locked queues, so chunks are freed by threads that did not allocate
 * them. Worker threads never call Criterion asserts; they count failures and
 * the main thread asserts on the counts.
 */
#include "test_threads.h"

#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

/* ---- a buffer with an owner -------------------------------------------------- */

typedef struct buf_s {
  unsigned char *p;
  size_t n;       /* bytes covered by the pattern (the usable size) */
  uint64_t seed;  /* owner-specific */
  int refs;       /* references held by the owner */
  oh_slab_t *s;   /* NULL: oh_alloc/oh_free; else oh_slab_* on s */
} buf_t;

static void buf_fill(buf_t *b) {
  if (b->n <= 64 * KiB)
    t_fill(b->p, b->n, b->seed);
  else
    t_fill_sparse(b->p, b->n, b->seed);
}
static int buf_ok(const buf_t *b) {
  return (b->n <= 64 * KiB ? t_check(b->p, b->n, b->seed) : t_check_sparse(b->p, b->n, b->seed)) ==
         SIZE_MAX;
}

static size_t pick_size(uint64_t *rng) {
  uint64_t r = t_rand(rng) % 1000;
  if (r < 700) return 16 + t_rand(rng) % 1009;            /* 16 B .. 1 KiB */
  if (r < 950) return 1024 + t_rand(rng) % (63 * KiB);    /* .. 64 KiB */
  if (r < 990) return 64 * KiB + t_rand(rng) % (448 * KiB); /* .. 512 KiB */
  return MiB + 1 + t_rand(rng) % (2 * MiB);               /* page-served */
}

/* Drops every reference; the last drop must report "freed". */
static void buf_release(buf_t *b, const char *who) {
  if (!buf_ok(b)) fail("%s: buffer %p (%zu B, seed %llx) corrupted before free", who, (void *)b->p, b->n,
                       (unsigned long long)b->seed);
  oh_slab_t *s = b->s ? b->s : oh_default_slab();
  while (b->refs > 1) {
    int rc = oh_slab_decref(s, b->p);
    if (rc != 0) fail("%s: decref with %d refs returned %d (%s)", who, b->refs, rc, t_errname(errno));
    b->refs--;
  }
  if (b->s == NULL) {
    if (oh_free(b->p) != 0) fail("%s: oh_free(%p) failed: %s", who, (void *)b->p, t_errname(errno));
  } else {
    int rc = oh_slab_decref(b->s, b->p);
    if (rc != 1) fail("%s: last decref of %p returned %d (%s)", who, (void *)b->p, rc, t_errname(errno));
  }
  b->p = NULL;
}

/* ---- locked queues between threads -------------------------------------------- */

enum { QCAP = 256 };
typedef struct queue_s {
  pthread_mutex_t mu;
  buf_t items[QCAP];
  int head, len;
} queue_t;

static int q_push(queue_t *q, const buf_t *b) {
  pthread_mutex_lock(&q->mu);
  int ok = q->len < QCAP;
  if (ok) {
    q->items[(q->head + q->len) % QCAP] = *b;
    q->len++;
  }
  pthread_mutex_unlock(&q->mu);
  return ok;
}
static int q_pop(queue_t *q, buf_t *b) {
  pthread_mutex_lock(&q->mu);
  int ok = q->len > 0;
  if (ok) {
    *b = q->items[q->head];
    q->head = (q->head + 1) % QCAP;
    q->len--;
  }
  pthread_mutex_unlock(&q->mu);
  return ok;
}

/* ---- slab stress -------------------------------------------------------------- */

enum { MAX_THREADS = 8, SLOTS = 48 };

typedef struct stress_s {
  int nthreads;
  size_t ops;
  oh_slab_t *custom;
  queue_t queues[MAX_THREADS];
  pthread_barrier_t drained;
  int received[MAX_THREADS];
} stress_t;

typedef struct worker_s {
  stress_t *st;
  int id;
} worker_t;

static void drain(stress_t *st, int id, const char *who) {
  buf_t b;
  while (q_pop(&st->queues[id], &b)) {
    st->received[id]++;
    buf_release(&b, who);
  }
}

static void *slab_stress_worker(void *arg) {
  worker_t *w = arg;
  stress_t *st = w->st;
  char who[32];
  snprintf(who, sizeof who, "thread %d", w->id);
  uint64_t rng = 0x1234567ULL * (uint64_t)(w->id + 1), seq = 0;
  buf_t slots[SLOTS];
  memset(slots, 0, sizeof slots);
  for (size_t op = 0; op < st->ops; op++) {
    buf_t *b = &slots[t_rand(&rng) % SLOTS];
    uint64_t r = t_rand(&rng) % 100;
    if (b->p == NULL) { /* allocate */
      size_t n = pick_size(&rng);
      b->s = (t_rand(&rng) & 1) ? st->custom : NULL;
      b->p = b->s ? oh_slab_alloc(b->s, n) : oh_alloc(n);
      if (b->p == NULL) {
        fail("%s: allocation of %zu failed: %s", who, n, t_errname(errno));
        continue;
      }
      if ((uintptr_t)b->p % 16 != 0) fail("%s: %p not 16-byte aligned", who, (void *)b->p);
      b->n = b->s ? oh_slab_usable_size(b->s, b->p) : oh_usable_size(b->p);
      if (b->n < n) fail("%s: usable %zu < %zu", who, b->n, n);
      b->seed = t_seed((unsigned)w->id, seq++);
      b->refs = 1;
      buf_fill(b);
    } else if (r < 25) { /* free */
      buf_release(b, who);
    } else if (r < 40) { /* addref */
      if (b->refs < 4) {
        oh_slab_t *s = b->s ? b->s : oh_default_slab();
        if (oh_slab_addref(s, b->p) != 0)
          fail("%s: addref failed: %s", who, t_errname(errno));
        else
          b->refs++;
      }
    } else if (r < 55) { /* decref */
      oh_slab_t *s = b->s ? b->s : oh_default_slab();
      if (b->refs > 1) {
        int rc = oh_slab_decref(s, b->p);
        if (rc != 0) fail("%s: decref with %d refs returned %d", who, b->refs, rc);
        b->refs--;
        long cnt = oh_slab_refcount(s, b->p);
        if (cnt != b->refs) fail("%s: refcount %ld, owner holds %d", who, cnt, b->refs);
      } else {
        buf_release(b, who);
      }
    } else if (r < 70) { /* hand to the next thread */
      if (!buf_ok(b)) fail("%s: buffer corrupted before hand-off", who);
      int to = (w->id + 1) % st->nthreads;
      if (q_push(&st->queues[to], b)) b->p = NULL;
    } else if (r < 80) { /* take what others sent */
      drain(st, w->id, who);
    } else { /* check, and take a new sequence number */
      if (!buf_ok(b)) fail("%s: live buffer %p corrupted", who, (void *)b->p);
      b->seed = t_seed((unsigned)w->id, seq++);
      buf_fill(b);
    }
  }
  for (int i = 0; i < SLOTS; i++)
    if (slots[i].p) buf_release(&slots[i], who);
  /* all threads stop sending before the final drain */
  pthread_barrier_wait(&st->drained);
  drain(st, w->id, who);
  return NULL;
}

static void run_slab_stress(int nthreads, size_t ops) {
  t_cap_install();
  stress_t *st = calloc(1, sizeof *st);
  st->nthreads = nthreads;
  st->ops = ops;
  oh_slab_config_t cfg = {48, 256 * KiB, 1.5};
  st->custom = oh_slab_new(&cfg);
  cr_assert(st->custom != NULL);
  for (int i = 0; i < nthreads; i++) pthread_mutex_init(&st->queues[i].mu, NULL);
  pthread_barrier_init(&st->drained, NULL, (unsigned)nthreads);
  t_counters_t d0 = t_counters(oh_default_slab());
  pthread_t t[MAX_THREADS];
  worker_t w[MAX_THREADS];
  for (int i = 0; i < nthreads; i++) {
    w[i] = (worker_t){st, i};
    cr_assert_eq(pthread_create(&t[i], NULL, slab_stress_worker, &w[i]), 0);
  }
  for (int i = 0; i < nthreads; i++) pthread_join(t[i], NULL);
  EXPECT_NO_WORKER_FAILURES();
  cr_expect_eq(t_cap_count(), 0, "error handler called %d times; first: %s", t_cap_count(),
               t_cap.first_msg);
  int received = 0;
  for (int i = 0; i < nthreads; i++) received += st->received[i];
  cr_expect(received > 0, "no buffer crossed threads");
  cr_log_info("slab stress: %d threads x %zu ops, %d cross-thread frees", nthreads, ops, received);

  oh_stats_t cs;
  oh_thread_flush();
  cr_assert_eq(oh_slab_stats(st->custom, &cs), 0);
  cr_expect_eq(cs.in_use_bytes, 0, "custom instance: %llu bytes in use after every free",
               (unsigned long long)cs.in_use_bytes);
  cr_expect_eq(cs.allocs, cs.frees, "custom instance: allocs %llu, frees %llu",
               (unsigned long long)cs.allocs, (unsigned long long)cs.frees);
  cr_expect_eq(cs.large_in_use, 0);
  for (unsigned c = 0; c < cs.class_count; c++) {
    cr_expect_eq(cs.classes[c].chunks_in_use, 0, "custom class %u in use", c);
    cr_expect_eq(cs.classes[c].chunks_cached, 0,
                 "custom class %u: %llu chunks still cached after all threads exited", c,
                 (unsigned long long)cs.classes[c].chunks_cached);
  }
  t_counters_t d1 = t_counters(oh_default_slab());
  cr_expect_eq(d1.in_use_bytes, d0.in_use_bytes, "default instance: in_use %llu -> %llu",
               (unsigned long long)d0.in_use_bytes, (unsigned long long)d1.in_use_bytes);
  cr_expect_eq(d1.allocs - d0.allocs, d1.frees - d0.frees, "default instance allocs/frees differ");
  cr_expect_eq(oh_slab_destroy(st->custom), 0);
  pthread_barrier_destroy(&st->drained);
  free(st);
  t_cap_remove();
}

Test(threads, slab_stress_4_threads_patterns_refcounts_cross_frees, .timeout = 300) {
  run_slab_stress(4, iters(40000));
}
Test(threads, slab_stress_8_threads_no_thread_cache, .timeout = 300) {
  t_opt_save_t tc = t_opt_set(OH_OPT_TCACHE_BYTES, 0);
  run_slab_stress(8, iters(10000));
  t_opt_restore(tc);
}
Test(threads, slab_stress_4_threads_purge_delay_zero_debug, .timeout = 300) {
  t_opt_save_t d = t_opt_set(OH_OPT_PURGE_DELAY_MS, 0);
  t_opt_save_t r = t_opt_set(OH_OPT_RETAIN_BYTES, 0);
  t_opt_save_t g = t_opt_set(OH_OPT_DEBUG, 1);
  run_slab_stress(4, iters(15000));
  t_opt_restore(g);
  t_opt_restore(r);
  t_opt_restore(d);
}

/* ---- purge while others allocate ------------------------------------------------- */

typedef struct purger_s {
  volatile int stop;
  size_t purges;
} purger_t;
static void *purger(void *arg) {
  purger_t *p = arg;
  while (!__atomic_load_n(&p->stop, __ATOMIC_ACQUIRE)) {
    oh_purge();
    p->purges++;
    /* under valgrind's one-thread-at-a-time scheduler a purger that never
     * pauses starves the workers (a 1 s test took a minute) */
    if (t_small()) {
      struct timespec ts = {0, 1000000};
      nanosleep(&ts, NULL);
    }
  }
  return NULL;
}

Test(threads, slab_stress_with_concurrent_oh_purge, .timeout = 300) {
  purger_t pg = {0, 0};
  pthread_t t;
  cr_assert_eq(pthread_create(&t, NULL, purger, &pg), 0);
  run_slab_stress(3, iters(15000));
  __atomic_store_n(&pg.stop, 1, __ATOMIC_RELEASE);
  pthread_join(t, NULL);
  cr_expect(pg.purges > 0);
}

/* ---- pool stress ------------------------------------------------------------------- */

typedef struct pool_stress_s {
  oh_pool_t *pool;
  size_t objsize, ops;
  int nthreads;
  queue_t queues[MAX_THREADS];
  pthread_barrier_t drained;
} pool_stress_t;
typedef struct pool_worker_s {
  pool_stress_t *ps;
  int id;
} pool_worker_t;

static void pool_put_checked(pool_stress_t *ps, buf_t *b, const char *who) {
  if (!buf_ok(b)) fail("%s: pool object %p corrupted", who, (void *)b->p);
  if (oh_pool_put(ps->pool, b->p) != 0) fail("%s: oh_pool_put failed: %s", who, t_errname(errno));
  b->p = NULL;
}

static void *pool_worker(void *arg) {
  pool_worker_t *w = arg;
  pool_stress_t *ps = w->ps;
  char who[32];
  snprintf(who, sizeof who, "pool thread %d", w->id);
  uint64_t rng = 99 + (uint64_t)w->id, seq = 0;
  buf_t slots[SLOTS];
  memset(slots, 0, sizeof slots);
  for (size_t op = 0; op < ps->ops; op++) {
    buf_t *b = &slots[t_rand(&rng) % SLOTS];
    uint64_t r = t_rand(&rng) % 100;
    buf_t in;
    if (b->p == NULL) {
      b->p = oh_pool_get(ps->pool);
      if (!b->p) {
        fail("%s: oh_pool_get failed: %s", who, t_errname(errno));
        continue;
      }
      b->n = ps->objsize;
      b->seed = t_seed((unsigned)w->id + 100, seq++);
      buf_fill(b);
    } else if (r < 40) {
      pool_put_checked(ps, b, who);
    } else if (r < 60) {
      if (!buf_ok(b)) fail("%s: corrupted before hand-off", who);
      if (q_push(&ps->queues[(w->id + 1) % ps->nthreads], b)) b->p = NULL;
    } else if (r < 75) {
      while (q_pop(&ps->queues[w->id], &in)) pool_put_checked(ps, &in, who);
    } else {
      if (!buf_ok(b)) fail("%s: live object corrupted", who);
    }
  }
  for (int i = 0; i < SLOTS; i++)
    if (slots[i].p) pool_put_checked(ps, &slots[i], who);
  pthread_barrier_wait(&ps->drained);
  buf_t in;
  while (q_pop(&ps->queues[w->id], &in)) pool_put_checked(ps, &in, who);
  return NULL;
}

Test(threads, pool_stress_get_put_cross_thread, .timeout = 300) {
  t_cap_install();
  pool_stress_t *ps = calloc(1, sizeof *ps);
  ps->objsize = 200;
  oh_pool_config_t cfg = {0, 16};
  ps->pool = oh_pool_new(ps->objsize, &cfg);
  cr_assert(ps->pool != NULL);
  ps->ops = iters(60000);
  ps->nthreads = 4;
  for (int i = 0; i < ps->nthreads; i++) pthread_mutex_init(&ps->queues[i].mu, NULL);
  pthread_barrier_init(&ps->drained, NULL, (unsigned)ps->nthreads);
  pthread_t t[MAX_THREADS];
  pool_worker_t w[MAX_THREADS];
  for (int i = 0; i < ps->nthreads; i++) {
    w[i] = (pool_worker_t){ps, i};
    pthread_create(&t[i], NULL, pool_worker, &w[i]);
  }
  for (int i = 0; i < ps->nthreads; i++) pthread_join(t[i], NULL);
  EXPECT_NO_WORKER_FAILURES();
  cr_expect_eq(t_cap_count(), 0, "error handler: %s", t_cap.first_msg);
  oh_stats_t st;
  oh_thread_flush();
  cr_assert_eq(oh_pool_stats(ps->pool, &st), 0);
  cr_expect_eq(st.classes[0].chunks_in_use, 0);
  cr_expect_eq(st.allocs, st.frees);
  cr_expect_eq(oh_pool_destroy(ps->pool), 0);
  free(ps);
  t_cap_remove();
}

/* A bounded pool under contention: gets fail with ENOMEM only at the bound,
 * and never hand out more than max_objects at once. */
typedef struct bounded_s {
  oh_pool_t *pool;
  size_t ops;
  int live, max_live;
  pthread_mutex_t mu;
} bounded_t;
static void *bounded_worker(void *arg) {
  bounded_t *b = arg;
  void *held[8] = {0};
  uint64_t rng = (uint64_t)(uintptr_t)&held;
  for (size_t op = 0; op < b->ops; op++) {
    int i = (int)(t_rand(&rng) % 8);
    if (held[i]) {
      pthread_mutex_lock(&b->mu);
      b->live--;
      pthread_mutex_unlock(&b->mu);
      if (oh_pool_put(b->pool, held[i]) != 0) fail("bounded: put failed: %s", t_errname(errno));
      held[i] = NULL;
    } else {
      held[i] = oh_pool_get(b->pool);
      if (held[i]) {
        pthread_mutex_lock(&b->mu);
        if (++b->live > b->max_live) b->max_live = b->live;
        pthread_mutex_unlock(&b->mu);
      } else if (errno != ENOMEM) {
        fail("bounded: get failed with %s, want ENOMEM", t_errname(errno));
      }
    }
  }
  for (int i = 0; i < 8; i++)
    if (held[i]) {
      pthread_mutex_lock(&b->mu);
      b->live--;
      pthread_mutex_unlock(&b->mu);
      oh_pool_put(b->pool, held[i]);
    }
  return NULL;
}
Test(threads, bounded_pool_never_exceeds_max_objects) {
  oh_pool_config_t cfg = {12, 4};
  bounded_t b = {.ops = iters(40000), .mu = PTHREAD_MUTEX_INITIALIZER};
  b.pool = oh_pool_new(64, &cfg);
  cr_assert(b.pool != NULL);
  pthread_t t[4];
  for (int i = 0; i < 4; i++) pthread_create(&t[i], NULL, bounded_worker, &b);
  for (int i = 0; i < 4; i++) pthread_join(t[i], NULL);
  EXPECT_NO_WORKER_FAILURES();
  cr_expect(b.max_live <= 12, "%d objects live at once with max_objects 12", b.max_live);
  /* all back: 12 gets succeed again */
  void *all[12];
  for (int i = 0; i < 12; i++) {
    all[i] = oh_pool_get(b.pool);
    cr_expect(all[i] != NULL, "get %d of 12 after the stress failed: %s", i, t_errname(errno));
  }
  cr_expect(oh_pool_get(b.pool) == NULL, "13th get succeeded");
  oh_pool_destroy(b.pool);
}

/* ---- arena from several threads ---------------------------------------------------- */

typedef struct arena_job_s {
  oh_arena_t *a;
  int id;
  size_t n;
  t_range_t *ranges;
} arena_job_t;
static void *arena_worker(void *arg) {
  arena_job_t *j = arg;
  uint64_t rng = 555 + (uint64_t)j->id;
  for (size_t i = 0; i < j->n; i++) {
    size_t len = 1 + t_rand(&rng) % 3000;
    size_t al = (size_t)1 << (t_rand(&rng) % 8);
    if (t_rand(&rng) % 500 == 0) len = 200 * KiB; /* bigger than a block */
    void *p = oh_arena_alloc(j->a, len, al);
    if (!p) {
      fail("arena thread %d: alloc(%zu, %zu) failed: %s", j->id, len, al, t_errname(errno));
      j->n = i;
      break;
    }
    if ((uintptr_t)p % al) fail("arena thread %d: %p misaligned for %zu", j->id, p, al);
    t_fill_sparse(p, len, t_seed((unsigned)j->id + 200, i));
    j->ranges[i].addr = (uintptr_t)p;
    j->ranges[i].len = len;
  }
  return NULL;
}
Test(threads, arena_concurrent_allocations_are_disjoint, .timeout = 300) {
  enum { NT = 4 };
  oh_arena_t *a = oh_arena_new(64 * KiB);
  cr_assert(a != NULL);
  size_t per = iters(20000);
  arena_job_t jobs[NT];
  pthread_t t[NT];
  for (int i = 0; i < NT; i++) {
    jobs[i] = (arena_job_t){a, i, per, calloc(per, sizeof(t_range_t))};
    pthread_create(&t[i], NULL, arena_worker, &jobs[i]);
  }
  for (int i = 0; i < NT; i++) pthread_join(t[i], NULL);
  EXPECT_NO_WORKER_FAILURES();
  size_t total = 0;
  for (int i = 0; i < NT; i++) {
    for (size_t k = 0; k < jobs[i].n; k++) {
      t_range_t *r = &jobs[i].ranges[k];
      if (t_check_sparse((void *)r->addr, r->len, t_seed((unsigned)i + 200, k)) != SIZE_MAX) {
        cr_expect_fail("arena thread %d allocation %zu overwritten by another thread", i, k);
        break;
      }
    }
    total += jobs[i].n;
  }
  t_range_t *all = calloc(total, sizeof *all);
  size_t k = 0;
  for (int i = 0; i < NT; i++) {
    memcpy(all + k, jobs[i].ranges, jobs[i].n * sizeof *all);
    k += jobs[i].n;
    free(jobs[i].ranges);
  }
  size_t bad = 0;
  cr_expect(!t_ranges_overlap(all, total, &bad), "arena regions of different threads overlap");
  free(all);
  cr_expect_eq(oh_arena_destroy(a), 0);
}

/* ---- batches from several threads ---------------------------------------------------- */

typedef struct batch_job_s {
  oh_slab_t *s;
  int id;
  size_t rounds;
} batch_job_t;
static void *batch_worker(void *arg) {
  batch_job_t *j = arg;
  void *out[64];
  uint64_t rng = 77 + (uint64_t)j->id;
  int nc = oh_slab_class_count(j->s);
  for (size_t r = 0; r < j->rounds; r++) {
    int cls = (int)(t_rand(&rng) % (uint64_t)(nc < 20 ? nc : 20));
    size_t csz = oh_slab_class_size(j->s, cls);
    size_t got = oh_slab_alloc_batch(j->s, cls, out, 64);
    if (got == 0) {
      fail("batch thread %d: alloc_batch failed: %s", j->id, t_errname(errno));
      continue;
    }
    for (size_t i = 0; i < got; i++) t_fill(out[i], csz, t_seed((unsigned)j->id + 300, r * 64 + i));
    for (size_t i = 0; i < got; i++)
      if (t_check(out[i], csz, t_seed((unsigned)j->id + 300, r * 64 + i)) != SIZE_MAX)
        fail("batch thread %d: chunk %zu of class %d shared with another owner", j->id, i, cls);
    size_t bad = 0;
    if (oh_slab_free_batch(j->s, out, got, &bad) != 0)
      fail("batch thread %d: free_batch failed at %zu: %s", j->id, bad, t_errname(errno));
  }
  return NULL;
}
Test(threads, batch_alloc_free_concurrently, .timeout = 300) {
  oh_slab_t *s = oh_slab_new(NULL);
  cr_assert(s != NULL);
  enum { NT = 4 };
  batch_job_t jobs[NT];
  pthread_t t[NT];
  for (int i = 0; i < NT; i++) {
    jobs[i] = (batch_job_t){s, i, iters(3000)};
    pthread_create(&t[i], NULL, batch_worker, &jobs[i]);
  }
  for (int i = 0; i < NT; i++) pthread_join(t[i], NULL);
  EXPECT_NO_WORKER_FAILURES();
  oh_stats_t st;
  oh_thread_flush();
  cr_assert_eq(oh_slab_stats(s, &st), 0);
  cr_expect_eq(st.in_use_bytes, 0);
  cr_expect_eq(st.allocs, st.frees);
  oh_slab_destroy(s);
}
