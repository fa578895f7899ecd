/* wake.c - the purger's wake-ups: the flags every tier sets when memory
 * starts waiting for the purge policy, and the thread that sleeps until one
 * is set or its deadline passes. Like the Go runtime's heap growth waking its
 * scavenger, a tier never calls the purge policy (purge.c) itself: it calls
 * here, a leaf near the top of the layers (internal.h), and the policy hooks
 * its passes in once, when the first heap is made (ohi_wake_hook). So the
 * segment cache, the memory limit and the slab tiers can wake the purger
 * without calling down into the code that walks them.
 *
 * What is hooked: the purger thread's pass, a heap's purge at the free that
 * emptied a slab (delay 0), an owner's purge of its own cache when a pass has
 * come, and the memory limit's purge before a refusal. Before any heap exists
 * nothing is hooked and there is nothing to purge: the wake-ups do nothing.
 *
 * The thread is started on first need; after fork() the child starts its own.
 */
#include "internal.h"

uint64_t ohi_dirty_epoch;
uint64_t ohi_purge_tick;

static const ohi_purger_t *purger; /* atomic: set once by ohi_wake_hook */

void ohi_wake_hook(const ohi_purger_t *p) { __atomic_store_n(&purger, p, __ATOMIC_RELEASE); }

static const ohi_purger_t *hooked(void) { return __atomic_load_n(&purger, __ATOMIC_ACQUIRE); }

/* ---- what the tiers ask of the policy -------------------------------------------- */

void ohi_after_empty(oh_slab_t *h) {
  const ohi_purger_t *p = hooked();
  if (ohi_purge_at_free()) {
    if (p != NULL) p->heap_now(h);
  } else {
    ohi_purge_notify();
  }
}

void ohi_tcache_purge_self(oh_slab_t *h, ohi_tcache_t *tc) {
  const ohi_purger_t *p = hooked();
  if (p != NULL) p->owner_pass(h, tc);
}

size_t ohi_purge_for_limit(void) {
  const ohi_purger_t *p = hooked();
  size_t bytes = p != NULL ? p->for_limit() : 0;
  ohi_purge_urgent(); /* the rest of the thread caches: by the purger, which can steal them */
  return bytes;
}

/* ---- pressure and urgency -------------------------------------------------------- */

/* Pressure: a heap mapped fresh memory while free pages wait for their delay
 * (purge.c says what a pass does under it: it decommits what an earlier pass
 * saw free). At most one signal a quarter period (25 ms at least): the
 * chunks freed just before a growth began, which the first pass under
 * pressure only ages when no pass saw them yet, are decommitted by the one
 * after, a quarter period on. With one signal a period the growth went on
 * for up to two periods first (bench/frag's phase change in C peaked at
 * 1390-1769 MiB in 5 runs of 22, against 1288: the 48 KiB fill mapped while
 * 780 MiB of freed 16 KiB chunks waited). */
static uint64_t pressure_ms; /* atomic: when the last signal was admitted (0: none) */
static uint32_t pressure;    /* atomic: the next pass runs under pressure */

bool ohi_pressure_admit(uint64_t *last, uint64_t now, uint64_t period) {
  uint64_t gap = period / 4 > 25 ? period / 4 : 25, at = OHI_LOAD_RELAXED(last); /* (no closer than passes ever come) */
  /* two growers racing past this both signal: a harmless extra pass */
  if (at != 0 && now < at + gap) return false;
  OHI_STORE_RELAXED(last, now);
  return true;
}

void ohi_purge_pressure(void) {
  long long delay = ohi_purge_delay();
  if (delay <= 0 || OHI_LOAD_RELAXED(&ohi_dirty_epoch) == 0) return;
  if (!ohi_pressure_admit(&pressure_ms, ohi_os_now_ms(), ohi_purge_pass_period(delay))) return;
  OHI_STORE_RELAXED(&pressure, 1u);
  ohi_purge_wake();
}

/* The memory limit is near (memlimit.c): the next pass purges everything free
 * at once, as oh_purge does. At most one such pass per URGENT_MS, so committed
 * bytes hovering around a step near the limit cannot keep the purger (and
 * the thread caches it steals) busy. */
#define URGENT_MS 10
static uint32_t urgent;      /* atomic: the next pass is urgent */
static uint64_t urgent_ms;   /* atomic: when the last urgent pass was asked for */

void ohi_purge_urgent(void) {
  if (ohi_purge_never()) return;
  uint64_t now = ohi_os_now_ms(), last = OHI_LOAD_RELAXED(&urgent_ms);
  if (last != 0 && now < last + URGENT_MS) return;
  OHI_STORE_RELAXED(&urgent_ms, now);
  OHI_STORE_RELAXED(&urgent, 1u);
  ohi_purge_wake();
}

/* ---- the purger thread ---------------------------------------------------------------- */

static pthread_mutex_t purge_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t purge_cv;
static bool purger_started, purge_pending;
/* Set while the purger will look at the heaps again by itself (it has a
 * deadline, or a pass is pending): notifications then cost one load. Cleared
 * by the purger before each pass, so an empty slab made during a pass is
 * either seen by it or notifies again. */
static bool purger_armed;
/* Set while the next pass comes within a pass period by itself (chunks are
 * aging) or is pending: a slab's first free since it was clean then costs
 * one load. A purger armed only for a later deadline (an owner's idle time)
 * is woken by it, so the passes that age the new free chunks start now. */
static bool purger_passing;
static pthread_once_t wake_once = PTHREAD_ONCE_INIT;
/* Tests (ohi_test_purger_hold): while held, the purger starts no pass; in_pass
 * says one runs now, held_cv signals its end. */
static bool purger_held, purger_in_pass;
static pthread_cond_t held_cv;

static void wake_cond_init(void) {
  ohi_cond_init_monotonic(&purge_cv);
  pthread_cond_init(&held_cv, NULL);
}

/* fork (lifecycle.c): the purger's mutex is taken after the heaps' locks. In
 * the child the purger thread does not exist: its state starts over, and the
 * condition variable is made anew too (a waiter's state may have been copied
 * into it). */
void ohi_wake_lock_all(void) { ohi_lock(&purge_mu); }
void ohi_wake_unlock_all(bool child) {
  if (!ohi_lock_after_fork(&purge_mu, child)) return;
  wake_cond_init();
  purger_started = false;
  purge_pending = false;
  purger_held = purger_in_pass = false;
  __atomic_store_n(&purger_armed, false, __ATOMIC_SEQ_CST);
  __atomic_store_n(&purger_passing, false, __ATOMIC_SEQ_CST);
}

static void *purger_main(void *arg) {
  const ohi_purger_t *p = arg;
  uint64_t deadline = 0; /* 0 = nothing scheduled */
  pthread_mutex_lock(&purge_mu);
  for (;;) {
    while (!purge_pending || purger_held) {
      if (deadline == 0 || purger_held) {
        pthread_cond_wait(&purge_cv, &purge_mu);
      } else {
        uint64_t now = ohi_os_now_ms();
        if (now >= deadline) break;
        struct timespec ts = ohi_cond_deadline(deadline - now);
        pthread_cond_timedwait(&purge_cv, &purge_mu, &ts);
      }
    }
    bool was_notified = purge_pending;
    purge_pending = false;
    bool under_pressure = __atomic_exchange_n(&pressure, 0u, __ATOMIC_RELAXED) != 0;
    __atomic_store_n(&purger_armed, false, __ATOMIC_SEQ_CST);
    __atomic_store_n(&purger_passing, false, __ATOMIC_SEQ_CST);
    purger_in_pass = true;
    pthread_mutex_unlock(&purge_mu);
    bool force = __atomic_exchange_n(&urgent, 0u, __ATOMIC_RELAXED) != 0, soon = false;
    deadline = p->pass(was_notified, force, under_pressure, &soon);
    pthread_mutex_lock(&purge_mu);
    purger_in_pass = false;
    pthread_cond_broadcast(&held_cv);
    if (deadline != 0) __atomic_store_n(&purger_armed, true, __ATOMIC_SEQ_CST);
    if (soon) __atomic_store_n(&purger_passing, true, __ATOMIC_SEQ_CST);
  }
  return NULL;
}

void ohi_test_purger_hold(bool hold) {
  pthread_once(&wake_once, wake_cond_init);
  pthread_mutex_lock(&purge_mu);
  purger_held = hold;
  if (hold) {
    while (purger_in_pass) pthread_cond_wait(&held_cv, &purge_mu);
  } else {
    pthread_cond_signal(&purge_cv); /* a wake-up or a deadline that came meanwhile is served now */
  }
  pthread_mutex_unlock(&purge_mu);
}

void ohi_purge_notify(void) {
  if (__atomic_load_n(&purger_armed, __ATOMIC_SEQ_CST)) return;
  ohi_purge_wake();
}

void ohi_purge_notify_dirty(void) {
  if (__atomic_load_n(&purger_passing, __ATOMIC_SEQ_CST) || ohi_purge_never()) return;
  ohi_purge_wake();
}

/* Wakes the purger even when it is armed: its deadline may be stale (the
 * delay just changed). */
void ohi_purge_wake(void) {
  const ohi_purger_t *p = hooked();
  if (p == NULL) return; /* no heap yet: nothing to purge */
  pthread_once(&wake_once, wake_cond_init);
  pthread_mutex_lock(&purge_mu);
  if (!purger_started) {
    pthread_t t;
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    pthread_attr_setstacksize(&attr, 64 * 1024);
    /* If no thread can be made, frees with delay 0 and oh_purge still work. */
    purger_started = pthread_create(&t, &attr, purger_main, (void *)p) == 0;
    pthread_attr_destroy(&attr);
  }
  purge_pending = true;
  __atomic_store_n(&purger_armed, true, __ATOMIC_SEQ_CST);
  __atomic_store_n(&purger_passing, true, __ATOMIC_SEQ_CST);
  pthread_cond_signal(&purge_cv);
  pthread_mutex_unlock(&purge_mu);
}
