/* measure.c - one cbench measurement: T threads (fresh pthreads, each warmed
 * up, then released together by a barrier) run an allocator's loop, or T
 * producer/consumer pairs hand pointers through a ring; the result is the
 * aggregate throughput by the wall clock and by the threads' CPU clocks.
 */
#include "cbench.h"

/* --clock cpu: time is the thread's CPU time (user + system, so page faults
 * count) instead of wall time; preemption by other processes on a shared
 * machine then stops counting, but so does time spent blocked on a lock. */
int use_cpu_clock;

static uint64_t cpu_now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static inline uint64_t thread_ns(void) { return use_cpu_clock ? cpu_now_ns() : now_ns(); }

/* One timed thread (a worker, or a pair's producer): what it runs, and the
 * ops it did in its measured run with the time they took by both clocks. */
typedef struct {
  loop_fn loop;           /* worker */
  const allocator_t *a;   /* producer */
  size_t size;
  uint64_t warm_ns, dur_ns;
  pthread_barrier_t *bar;
  uint64_t ops, elapsed_ns, cpu_ns, t0, c0;
} job_t;

/* Start and stop of a job's measured run. */
static void clocks_start(job_t *j) {
  j->t0 = thread_ns();
  j->c0 = cpu_now_ns();
}
static void clocks_stop(job_t *j) {
  j->elapsed_ns = thread_ns() - j->t0;
  j->cpu_ns = cpu_now_ns() - j->c0;
}

/* Adds a finished job's throughput to t. */
static void add_tput(tput_t *t, const job_t *j) {
  t->wall += (double)j->ops * 1e9 / (double)j->elapsed_ns;
  t->cpu += (double)j->ops * 1e9 / (double)(j->cpu_ns ? j->cpu_ns : 1);
}

static void *worker(void *arg) {
  job_t *j = arg;
  void *ptrs[BATCH];
  j->loop(j->size, j->warm_ns, ptrs);
  pthread_barrier_wait(j->bar);
  clocks_start(j);
  j->ops = j->loop(j->size, j->dur_ns, ptrs);
  clocks_stop(j);
  return NULL;
}

/* ---- producer/consumer: a single-producer single-consumer ring ---- */

#define RING 1024
typedef struct {
  void *slot[RING];
  uint64_t head __attribute__((aligned(64))); /* written by the producer */
  uint64_t tail __attribute__((aligned(64))); /* written by the consumer */
  job_t job;
} ring_t;

static void ring_push(ring_t *r, void *p) {
  uint64_t h = r->head;
  while (h - __atomic_load_n(&r->tail, __ATOMIC_ACQUIRE) == RING) sched_yield();
  r->slot[h % RING] = p;
  __atomic_store_n(&r->head, h + 1, __ATOMIC_RELEASE);
}

static void *ring_pop(ring_t *r) {
  uint64_t t = r->tail;
  while (__atomic_load_n(&r->head, __ATOMIC_ACQUIRE) == t) sched_yield();
  void *p = r->slot[t % RING];
  __atomic_store_n(&r->tail, t + 1, __ATOMIC_RELEASE);
  return p;
}

static uint64_t produce(ring_t *r, uint64_t dur_ns) {
  uint64_t ops = 0, end = now_ns() + dur_ns;
  do {
    for (int k = 0; k < CHUNK; k++) {
      void *p = r->job.a->alloc(r->job.size);
      if (__builtin_expect(p == NULL, 0)) alloc_die(r->job.a->name, r->job.size);
      touch(p);
      ring_push(r, p);
    }
    ops += CHUNK;
  } while (now_ns() < end);
  ring_push(r, NULL); /* end of this run */
  return ops;
}

static void *producer(void *arg) {
  ring_t *r = arg;
  produce(r, r->job.warm_ns);
  pthread_barrier_wait(r->job.bar);
  clocks_start(&r->job);
  r->job.ops = produce(r, r->job.dur_ns);
  /* the pair is done when the consumer has freed everything */
  while (__atomic_load_n(&r->tail, __ATOMIC_ACQUIRE) != r->head) sched_yield();
  clocks_stop(&r->job);
  return NULL;
}

static void *consumer(void *arg) {
  ring_t *r = arg;
  for (int run = 0; run < 2; run++) /* warm-up, then the measured run */
    for (void *p; (p = ring_pop(r)) != NULL;) r->job.a->free(p, r->job.size);
  return NULL;
}

/* T pairs: aggregate throughput of alloc+free pairs. */
static tput_t measure_pc(const allocator_t *a, size_t size, int pairs, uint64_t warm_ns, uint64_t dur_ns) {
  pthread_t tid[2 * pairs];
  ring_t *rings = aligned_alloc(64, sizeof(ring_t) * (size_t)pairs);
  if (rings == NULL) die("out of memory");
  pthread_barrier_t bar;
  pthread_barrier_init(&bar, NULL, (unsigned)pairs);
  for (int i = 0; i < pairs; i++) {
    memset(&rings[i], 0, sizeof rings[i]);
    rings[i].job = (job_t){.a = a, .size = size, .warm_ns = warm_ns, .dur_ns = dur_ns, .bar = &bar};
    if (pthread_create(&tid[2 * i], NULL, consumer, &rings[i]) != 0 ||
        pthread_create(&tid[2 * i + 1], NULL, producer, &rings[i]) != 0)
      die("pthread_create failed");
  }
  tput_t t = {0, 0};
  for (int i = 0; i < 2 * pairs; i++) pthread_join(tid[i], NULL);
  for (int i = 0; i < pairs; i++) add_tput(&t, &rings[i].job);
  pthread_barrier_destroy(&bar);
  free(rings);
  return t;
}

/* Aggregate throughput in ops per second. */
tput_t measure(const allocator_t *a, int pat, size_t size, int threads, uint64_t warm_ns, uint64_t dur_ns) {
  if (pat == PAT_PC) return measure_pc(a, size, threads, warm_ns, dur_ns);
  pthread_t tid[threads];
  job_t jobs[threads];
  pthread_barrier_t bar;
  pthread_barrier_init(&bar, NULL, (unsigned)threads);
  for (int i = 0; i < threads; i++) {
    jobs[i] = (job_t){.loop = a->loop[pat], .size = size, .warm_ns = warm_ns, .dur_ns = dur_ns, .bar = &bar};
    int rc = pthread_create(&tid[i], NULL, worker, &jobs[i]);
    if (rc != 0) die("pthread_create: %s", strerror(rc));
  }
  tput_t t = {0, 0};
  for (int i = 0; i < threads; i++) {
    pthread_join(tid[i], NULL);
    add_tput(&t, &jobs[i]);
  }
  pthread_barrier_destroy(&bar);
  return t;
}
