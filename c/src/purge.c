/* purge.c - the purge policy: when freed memory goes back to the OS.
 *
 * One mechanism serves every heap (slab instances, pools, the process-wide
 * allocator, and through them BufferPool): a slab whose last chunk comes back
 * waits on its class's empty list, still committed, so churn that needs it
 * again within OFFHEAP_PURGE_DELAY_MS pays no page faults. After the delay the
 * purger takes it off the list, decommits it and hands its segment to the
 * shared cache, from which any class of any heap can take it. Up to
 * OFFHEAP_RETAIN_BYTES of empty slabs per heap stay committed regardless, so a
 * steady churn around a slab boundary never decommits.
 *
 *   delay  0   released by the free that emptied the slab
 *   delay > 0  released by the purger thread once the delay has passed
 *   delay -1   never released by the policy (oh_purge still does)
 *
 * The purger is one C thread, started on first need and sleeping on a
 * condition variable until the next deadline; it takes class locks only to
 * unlink slabs and makes its madvise calls outside them, so allocation never
 * waits on a decommit. It never calls into Go. After fork() the child starts
 * its own purger on first need.
 */
#include "internal.h"

static pthread_mutex_t purge_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t purge_cv;
static bool purger_started, purge_pending;
/* Set while the purger will look at the heaps again by itself (it has a
 * deadline, or a pass is pending): notifications then cost one load. Cleared
 * by the purger before each pass, so an empty slab made during a pass is
 * either seen by it or notifies again. */
static bool purger_armed;
static pthread_once_t purge_once = PTHREAD_ONCE_INIT;

/* Unreferenced on Windows, which has no fork: winpthreads defines
 * pthread_atfork(...) as 0. */
static __attribute__((unused)) void purge_atfork_child(void) {
  pthread_mutex_init(&purge_mu, NULL);
  purger_started = false;
  purge_pending = false;
  purger_armed = false;
}

static void purge_init(void) {
  pthread_condattr_t attr;
  pthread_condattr_init(&attr);
#if defined(__linux__)
  pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
#endif
  pthread_cond_init(&purge_cv, &attr);
  pthread_condattr_destroy(&attr);
  pthread_atfork(NULL, NULL, purge_atfork_child);
}

static void *purger_main(void *arg) {
  (void)arg;
  uint64_t deadline = 0; /* 0 = nothing scheduled */
  pthread_mutex_lock(&purge_mu);
  for (;;) {
    while (!purge_pending) {
      if (deadline == 0) {
        pthread_cond_wait(&purge_cv, &purge_mu);
      } else {
        uint64_t now = ohi_os_now_ms();
        if (now >= deadline) break;
        struct timespec ts;
#if defined(__linux__)
        clock_gettime(CLOCK_MONOTONIC, &ts);
#else
        clock_gettime(CLOCK_REALTIME, &ts);
#endif
        uint64_t wait = deadline - now;
        ts.tv_sec += (time_t)(wait / 1000);
        ts.tv_nsec += (long)(wait % 1000) * 1000000L;
        if (ts.tv_nsec >= 1000000000L) {
          ts.tv_sec++;
          ts.tv_nsec -= 1000000000L;
        }
        pthread_cond_timedwait(&purge_cv, &purge_mu, &ts);
      }
    }
    bool was_notified = purge_pending;
    purge_pending = false;
    __atomic_store_n(&purger_armed, false, __ATOMIC_SEQ_CST);
    pthread_mutex_unlock(&purge_mu);
    deadline = 0;
    long long delay = ohi_opt(OH_OPT_PURGE_DELAY_MS);
    uint64_t now = ohi_os_now_ms();
    if (delay >= 0) ohi_heaps_purge_all(now, false, &deadline);
    /* A pass that was asked for (rather than due) keeps the purger armed for
     * one more delay even when it found nothing to do: under churn, slabs
     * empty and refill continuously, and each of them must not cost a
     * wake-up; they are looked at together when that delay is up. */
    if (was_notified && delay >= 0 && deadline == 0) deadline = now + (uint64_t)OHI_IDLE_MS(delay);
    pthread_mutex_lock(&purge_mu);
    if (deadline != 0) __atomic_store_n(&purger_armed, true, __ATOMIC_SEQ_CST);
  }
  return NULL;
}

void ohi_purge_notify(void) {
  if (__atomic_load_n(&purger_armed, __ATOMIC_SEQ_CST)) return;
  ohi_purge_wake();
}

/* Wakes the purger even when it is armed: its deadline may be stale (the
 * delay just changed). */
void ohi_purge_wake(void) {
  pthread_once(&purge_once, purge_init);
  pthread_mutex_lock(&purge_mu);
  if (!purger_started) {
    pthread_t t;
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    pthread_attr_setstacksize(&attr, 64 * 1024);
    /* If no thread can be made, frees with delay 0 and oh_purge still work. */
    purger_started = pthread_create(&t, &attr, purger_main, NULL) == 0;
    pthread_attr_destroy(&attr);
  }
  purge_pending = true;
  __atomic_store_n(&purger_armed, true, __ATOMIC_SEQ_CST);
  pthread_cond_signal(&purge_cv);
  pthread_mutex_unlock(&purge_mu);
}
