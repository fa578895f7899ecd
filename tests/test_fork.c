/* test_fork.c - fork() while the library is in use: the child must never hang.
 *
 * The core takes every lock before fork and releases or re-creates them after
 * it (lifecycle.c, "fork"); thread caches of threads that do not exist in the child
 * are handed back to the central lists, and the child's purger starts anew.
 * Each child here allocates, frees and purges, and must exit within a bound;
 * a hang is reported as a failure, not as a stuck test run.
 */
#include "test_util.h"

#include <pthread.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

/* What a child does: allocate across classes and instances, free, purge. */
static void child_work(oh_slab_t *s) {
  void *p[64];
  for (int round = 0; round < 4; round++) {
    for (int i = 0; i < 64; i++) {
      p[i] = (i & 1) ? oh_alloc(16 + (size_t)i * 1000) : oh_slab_alloc(s, 64 + (size_t)i * 512);
      if (p[i] == NULL) _exit(3);
      memset(p[i], i, 16);
    }
    for (int i = 0; i < 64; i++)
      if (((i & 1) ? oh_free(p[i]) : oh_slab_decref(s, p[i]) == 1 ? 0 : -1) != 0) _exit(4);
  }
  void *big = oh_alloc(4 * MiB);
  if (big == NULL || oh_free(big) != 0) _exit(5);
  oh_purge();
  oh_thread_flush();
  oh_stats_t st;
  if (oh_stats(&st) != 0) _exit(6);
  _exit(0);
}

/* Waits for pid up to ms; kills it and returns -1 on a hang. */
static int wait_bounded(pid_t pid, unsigned ms) {
  for (unsigned waited = 0; waited < ms; waited += 5) {
    int status;
    pid_t r = waitpid(pid, &status, WNOHANG);
    if (r == pid) return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    t_sleep_ms(5);
  }
  kill(pid, SIGKILL);
  waitpid(pid, NULL, 0);
  return -1;
}

Test(fork, child_works_after_the_purger_has_waited) {
  t_opt_save_t delay = t_opt_set(OH_OPT_PURGE_DELAY_MS, 50);
  oh_slab_t *s = oh_slab_new(NULL);
  cr_assert(s != NULL);
  for (int i = 0; i < 100; i++) oh_free(oh_alloc(16 * KiB));
  t_sleep_ms(200); /* the purger has run a pass and waits on its condition variable */
  for (int k = 0; k < 5; k++) {
    pid_t pid = fork();
    cr_assert(pid >= 0);
    if (pid == 0) child_work(s);
    int rc = wait_bounded(pid, 5000);
    cr_expect_eq(rc, 0, "fork %d: the child %s (%d)", k, rc < 0 ? "hung" : "failed", rc);
  }
  oh_slab_destroy(s);
  t_opt_restore(delay);
}

typedef struct {
  oh_slab_t *s;
  int stop; /* atomic */
  int id;
} churn_t;

static void *churner(void *arg) {
  churn_t *c = arg;
  void *p[256];
  uint64_t rng = (uint64_t)c->id + 1;
  while (!__atomic_load_n(&c->stop, __ATOMIC_RELAXED)) {
    int n = 1 + (int)(t_rand(&rng) % 256);
    for (int i = 0; i < n; i++) {
      size_t sz = 16 + t_rand(&rng) % (64 * KiB);
      p[i] = (i & 1) ? oh_alloc(sz) : oh_slab_alloc(c->s, sz);
      if (p[i] == NULL) abort();
    }
    for (int i = 0; i < n; i++) (i & 1) ? (void)oh_free(p[i]) : (void)oh_slab_decref(c->s, p[i]);
    if (t_rand(&rng) % 64 == 0) oh_purge(); /* the purge path holds locks too */
  }
  return NULL;
}

static void forks_while_threads_allocate(void) {
  oh_slab_t *s = oh_slab_new(NULL);
  cr_assert(s != NULL);
  churn_t c[2] = {{s, 0, 0}, {s, 0, 1}};
  pthread_t t[2];
  for (int i = 0; i < 2; i++) cr_assert_eq(pthread_create(&t[i], NULL, churner, &c[i]), 0);
  int hung = 0, failed = 0, forks = t_small() ? 10 : 30;
  for (int k = 0; k < forks; k++) {
    t_sleep_ms(3);
    pid_t pid = fork();
    cr_assert(pid >= 0);
    if (pid == 0) child_work(s);
    int rc = wait_bounded(pid, 5000);
    if (rc < 0) hung++;
    else if (rc != 0) failed++;
  }
  for (int i = 0; i < 2; i++) __atomic_store_n(&c[i].stop, 1, __ATOMIC_RELAXED);
  for (int i = 0; i < 2; i++) pthread_join(t[i], NULL);
  cr_expect_eq(hung, 0, "%d of %d children hung", hung, forks);
  cr_expect_eq(failed, 0, "%d of %d children failed", failed, forks);
  oh_slab_destroy(s);
}

Test(fork, children_finish_while_threads_allocate) { forks_while_threads_allocate(); }

Test(fork, children_finish_while_threads_allocate_without_thread_caches) {
  t_opt_save_t tc = t_opt_set(OH_OPT_TCACHE_BYTES, 0);
  forks_while_threads_allocate();
  t_opt_restore(tc);
}

/* A thread that owned slabs at the fork does not exist in the child: what it
 * held free goes back to the central lists, so the child's purge returns it. */
typedef struct {
  pthread_barrier_t *ready, *done;
} holder_t;

static void *holder(void *arg) {
  holder_t *h = arg;
  void *p[512];
  for (int i = 0; i < 512; i++) p[i] = oh_alloc(16 * KiB);
  for (int i = 0; i < 512; i++) t_touch(p[i], 16 * KiB);
  for (int i = 0; i < 512; i++) oh_free(p[i]); /* 8 MiB free, owned by this thread */
  pthread_barrier_wait(h->ready);
  pthread_barrier_wait(h->done);
  return NULL;
}

Test(fork, child_reclaims_other_threads_caches) {
  t_opt_save_t delay = t_opt_set(OH_OPT_PURGE_DELAY_MS, -1);
  pthread_barrier_t ready, done;
  pthread_barrier_init(&ready, NULL, 2);
  pthread_barrier_init(&done, NULL, 2);
  holder_t h = {&ready, &done};
  pthread_t t;
  cr_assert_eq(pthread_create(&t, NULL, holder, &h), 0);
  pthread_barrier_wait(&ready);
  pid_t pid = fork();
  cr_assert(pid >= 0);
  if (pid == 0) {
    oh_stats_t a, b;
    if (oh_stats(&a) != 0) _exit(2);
    oh_purge();
    if (oh_stats(&b) != 0) _exit(2);
    /* the 8 MiB the parent's thread held free are decommitted in the child */
    _exit(a.committed_bytes >= b.committed_bytes + 7 * MiB ? 0 : 7);
  }
  int rc = wait_bounded(pid, 5000);
  cr_expect_eq(rc, 0, "the child %s (%d): another thread's free memory was not reclaimed", rc < 0 ? "hung" : "failed",
               rc);
  pthread_barrier_wait(&done);
  pthread_join(t, NULL);
  pthread_barrier_destroy(&ready);
  pthread_barrier_destroy(&done);
  t_opt_restore(delay);
}
