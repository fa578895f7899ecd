/* tcache.c - thread caches: slabs owned by one thread. See heap.c for the
 * overview.
 *
 * A thread's cache for a heap (ohi_tcache_t, one per heap slot in the thread's
 * TLS) owns slabs, per class. The owner allocates from its current slab's
 * local free list and frees its own slabs' chunks onto it with plain loads
 * and stores: the only atomic read-modify-write of an alloc+free pair is the
 * CAS on the state word that checks the release. No lock is shared with other
 * threads on that path, so two threads do twice the work of one (the earlier
 * design, magazines of chunks in front of per-class locks, ran 2 threads at
 * 0.25-0.7x the throughput of 1 in batch patterns; bench/RESULTS.md).
 *
 * Frees from other threads go on the slab's cross-thread stack (central.c),
 * which the owner collects when its current slab runs dry. A refill looks at
 * the thread's other slabs of the class (their local and cross-thread frees),
 * then adopts a central slab or a new one: a lock once per slab, not per
 * chunk. Empty slabs stay owned (a batch that frees and reallocates reuses
 * them without a lock); the purge policy decommits their pages after the
 * delay and hands idle ones back (purge.c).
 *
 * What another thread may do to a cache - the purger inspecting or draining
 * it, fork preparing the child - goes through the steal handshake described
 * at struct ohi_tcache_s: while stolen, the owner allocates from the central
 * lists and frees through the cross-thread stacks.
 */
#include "internal.h"

#include <sched.h>

__thread ohi_tcache_t *ohi_tls_caches[OHI_MAX_SLOTS + 1] __attribute__((tls_model("initial-exec")));
static __thread bool tls_registered __attribute__((tls_model("initial-exec")));
static pthread_key_t tls_key;
static pthread_once_t tls_once = PTHREAD_ONCE_INIT;

/* A refill looks at this many other owned slabs before adopting a new one;
 * the ones it passed over move to the back, so every slab is looked at in
 * turn. */
#define REFILL_SCAN 16

static void tls_destructor(void *arg);
static void tls_init(void) { pthread_key_create(&tls_key, tls_destructor); }
void ohi_tls_register(void) { pthread_once(&tls_once, tls_init); }

ohi_tcache_t *ohi_tcache_new(oh_slab_t *h, bool explicit_owner) {
  size_t n = h->nclasses;
  size_t base = sizeof(ohi_tcache_t) + n * sizeof(ohi_tbin_t) + n * sizeof(int64_t);
  size_t size = base + (h->run_class != OHI_NO_RUNS ? sizeof(ohi_runcache_t) : 0);
  ohi_tcache_t *tc = ohi_meta_alloc(size);
  if (tc == NULL) return NULL;
  tc->meta_size = size;
  tc->heap = h;
  tc->explicit_owner = explicit_owner;
  tc->seen_ms = ohi_os_now_ms(); /* idle is counted from now, not from boot */
  tc->purged_tick = OHI_LOAD_RELAXED(&ohi_purge_tick); /* a new cache missed no pass */
  tc->cached = (int64_t *)&tc->bins[n];
  if (h->run_class != OHI_NO_RUNS) tc->rc = (ohi_runcache_t *)((char *)tc + base); /* 8-aligned: after int64s */
  ohi_lock(&ohi_registry_lock);
  if (OHI_LOAD_RELAXED(&h->magic) != OHI_HEAP_LIVE) { /* destroyed meanwhile */
    ohi_unlock(&ohi_registry_lock);
    ohi_meta_free(tc, size);
    return NULL;
  }
  tc->next = h->tcaches;
  if (h->tcaches) h->tcaches->prev = tc;
  h->tcaches = tc;
  if (explicit_owner) OHI_STORE_RELAXED(&h->owner_handles, h->owner_handles + 1);
  OHI_STORE_RELAXED(&tc->heap_id, h->id);
  ohi_unlock(&ohi_registry_lock);
  return tc;
}

ohi_tcache_t *ohi_tcache_create(oh_slab_t *h) {
  if (h->slot == OHI_NO_SLOT) return NULL; /* a heap without thread caches */
  ohi_tcache_t *old = ohi_tls_caches[h->slot];
  if (old != NULL) { /* left behind by a destroyed heap that had this slot */
    ohi_tls_caches[h->slot] = NULL;
    ohi_meta_free(old, old->meta_size);
  }
  if (!tls_registered) {
    pthread_setspecific(tls_key, (void *)1);
    tls_registered = true;
  }
  ohi_tcache_t *tc = ohi_tcache_new(h, false);
  if (tc != NULL) ohi_tls_caches[h->slot] = tc;
  return tc;
}

/* ---- owned lists ------------------------------------------------------------ */

void ohi_bin_remove(ohi_tbin_t *b, ohi_slab_t *s) {
  if (b->owned_tail == s) b->owned_tail = s->prev;
  ohi_list_remove(&b->owned, s);
}

void ohi_bin_push_front(ohi_tbin_t *b, ohi_slab_t *s) {
  ohi_list_push(&b->owned, s);
  if (b->owned_tail == NULL) b->owned_tail = s;
}

void ohi_bin_to_back(ohi_tbin_t *b, ohi_slab_t *s) {
  if (b->owned_tail == s) return;
  ohi_bin_remove(b, s);
  s->prev = b->owned_tail;
  s->next = NULL;
  if (b->owned_tail) b->owned_tail->next = s;
  else OHI_STORE_RELAXED(&b->owned, s);
  b->owned_tail = s;
}

/* nempty counts owned empty slabs but the current one: the current slab
 * empties and refills on every alloc+free pair, and is not counted so that
 * the fast paths need not. */
static bool counted_empty(const ohi_tbin_t *b, const ohi_slab_t *s) { return s->used == 0 && b->cur != s; }

static void nempty_add(ohi_tbin_t *b, int d) { OHI_STORE_RELAXED(&b->nempty, OHI_LOAD_RELAXED(&b->nempty) + (uint32_t)d); }

void ohi_bin_set_cur(ohi_tbin_t *b, ohi_slab_t *t) {
  ohi_slab_t *old = b->cur;
  b->cur = t;
  if (old != NULL && old != t && old->used == 0) nempty_add(b, 1);
  if (t != NULL && t != old && t->used == 0) nempty_add(b, -1);
}

/* ---- the owner's quick lists (runpage.c) ---------------------------------------- */

void ohi_tcache_settle_runs(ohi_tcache_t *tc, ohi_slab_t *s) {
  uint32_t pages = ohi_runq_settle(s);
  tc->rc->quick_pages -= pages;
  /* (a push marked it dirty already; kept so, whatever cleared it since) */
  if (pages != 0 && OHI_LOAD_RELAXED(&s->dirty) == 0) ohi_slab_mark_dirty(s);
  ohi_rbucket_update(ohi_owner_runs(tc), s);
}

void ohi_bin_own(ohi_tbin_t *b, ohi_slab_t *s) {
  if (s->fmap != NULL) ohi_rbucket_link(ohi_owner_runs(OHI_LOAD_RELAXED(&s->owner)), s);
  ohi_bin_push_front(b, s);
  OHI_OWNER_INC(&b->nowned, 1);
  ohi_bin_nfree_add(b, ohi_slab_nfree(s));
  if (counted_empty(b, s)) nempty_add(b, 1);
}

void ohi_bin_disown(ohi_tbin_t *b, ohi_slab_t *s) {
  if (s->fmap != NULL) {
    ohi_tcache_t *tc = OHI_LOAD_RELAXED(&s->owner);
    if (s->qmask != 0) ohi_tcache_settle_runs(tc, s); /* a slab no cache owns keeps no quick list */
    ohi_rbucket_unlink(ohi_owner_runs(tc), s);
  }
  if (counted_empty(b, s)) nempty_add(b, -1);
  if (b->cur == s) b->cur = NULL;
  ohi_bin_remove(b, s);
  OHI_STORE_RELAXED(&b->nowned, OHI_LOAD_RELAXED(&b->nowned) - 1);
  ohi_bin_nfree_add(b, -(int64_t)ohi_slab_nfree(s));
}

void ohi_bin_note_emptied(ohi_tbin_t *b, ohi_slab_t *s) {
  if (counted_empty(b, s)) nempty_add(b, 1);
}
#define disown ohi_bin_disown

static bool has_room(const ohi_slab_t *s) { return s->free_head != OHI_W_END || s->bump < s->nchunks; }

/* Freed chunks (or, in a run slab, free pages) to hand out, on its free list
 * or its cross-thread stack: room that is not just the untouched bump tail. */
static bool has_free(ohi_slab_t *s) { return s->free_head != OHI_W_END || OHI_LOAD_RELAXED(&s->xfree) != OHI_W_END; }

/* Whether ohi_tcache_reclaim moves a quiet owner's slab s of bin b: one with
 * freed chunks, current or not; any other with room, or any at all when
 * full_too. */
static bool reclaimable(const ohi_tbin_t *b, ohi_slab_t *s, bool full_too) {
  return has_free(s) || (s != b->cur && (full_too || has_room(s)));
}

/* Pops from s, keeping the empty-slab count (owner side). */
static void *owned_pop(oh_slab_t *h, ohi_tbin_t *b, ohi_slab_t *s, uint32_t state, bool *zeroed) {
  uint32_t nfree = ohi_slab_nfree(s); /* s is the current slab: no nempty change */
  void *p = ohi_slab_pop_slow(h, s, state, zeroed);
  if (ohi_slab_nfree(s) != nfree) ohi_bin_nfree_add(b, -1);
  return p;
}

/* Collects s's cross-thread frees, keeping the empty-slab count; with a zero
 * delay a slab they emptied is released (it is not the current one). Returns
 * false when s is gone. */
bool ohi_bin_collect(oh_slab_t *h, ohi_tbin_t *b, ohi_slab_t *s) {
  if (OHI_LOAD_RELAXED(&s->xfree) == OHI_W_END) return true;
  bool was_empty = s->used == 0;
  ohi_bin_nfree_add(b, ohi_slab_collect(s));
  if (s->fmap != NULL) ohi_rbucket_update(ohi_owner_runs(OHI_LOAD_RELAXED(&s->owner)), s); /* a run slab: its longest free run grew */
  if (was_empty || s->used != 0) return true;
  ohi_bin_note_emptied(b, s);
  if (!ohi_purge_at_free() || b->cur == s || s->guarded) return true;
  ohi_tcache_release_owned(h, b, s);
  return false;
}

/* ohi_tcache_reclaim: owner handles of h looked into (each look is a steal,
 * a process barrier), and how long one must have made no call to count as
 * not running (two ticks of the coarse clock). */
#define RECLAIM_TRIES 2
#define RECLAIM_QUIET_MS 8
#define RECLAIM_FULL_QUIET_MS 100

/* An owner handle's refill is about to make a new slab, or moves past a full
 * one: first, the slabs of other owner handles of h that are not running (no
 * call for RECLAIM_QUIET_MS) go to the central lists, where refills adopt
 * those with free chunks. A goroutine that moved to
 * another P (after a sleep, a system call, a GC assist) frees its old P's
 * chunks home, where nothing allocates them while that P is quiet: without
 * this the new P maps fresh slabs meanwhile and free memory drifts to the
 * quiet P - steady churn decommitted and faulted again (305 purges where
 * there were none), and a churned cache grew.
 *
 * Every class's go, not only the class the refill is short of, and the look
 * is made at every full slab, not only before a new one: the new P
 * allocates from its own slabs with room while the chunks it frees into the
 * old P's wait there, so each class held its free chunks twice over, once
 * per P, where the new P never made a slab (issue 18: the Go cache kept
 * 1.21-1.22x its live bytes against 1.12-1.13 in C; 1.13-1.16 with this).
 *
 * Their current slabs go too when they hold freed chunks: in a small heap a
 * class has one slab per P, its current one, and a goroutine moving between
 * two Ps left each class's free chunks in the P it was not on while the other
 * touched fresh pages of its own (the Go cache at 32 MiB held 1.4-1.9x its
 * live bytes, the C core 1.44). A current slab with only its untouched tail
 * left stays: nothing would be reused, and its owner's next call needs it.
 *
 * The full slabs of an owner quiet for RECLAIM_FULL_QUIET_MS go too: the
 * goroutine that left frees their chunks from its new P soon after, and they
 * must land where any refill finds them, not empty out in the quiet owner
 * until the policy decommits them (steady churn from Go: 47-91 slabs
 * decommitted and faulted in again in one run of three, the active owner
 * fed from the central lists meanwhile and not looking again). Not after a
 * short quiet: a goroutine filling memory while it hops between Ps would
 * send every full slab through the central lists (the phase change from Go
 * peaked 190-256 MiB higher).
 *
 * Busy owners are never touched (their slabs stay theirs: two Ps never hand
 * out chunks of one slab). Stealers hold the registry lock; an operation
 * must not wait for it (the purger may hold it while it waits for this
 * owner), so this is skipped when it is taken, and an owner inside an
 * operation is passed over. */
void ohi_tcache_reclaim(oh_slab_t *h, ohi_tcache_t *tc) {
  uint64_t now = 0, ms = ohi_os_now_ms_coarse();
  /* a look that found nothing is not repeated for a while: each costs a
   * process barrier, and a heap that grows makes a new slab often */
  if (ms < tc->reclaim_ms || !ohi_trylock(&ohi_registry_lock)) return;
  bool moved = false;
  int tries = 0;
  for (ohi_tcache_t *o = h->tcaches; o != NULL && tries < RECLAIM_TRIES; o = o->next) {
    if (o == tc || !o->explicit_owner || OHI_LOAD_RELAXED(&o->holds) == 0 ||
        OHI_LOAD_RELAXED(&o->last_call_ms) + RECLAIM_QUIET_MS > ms)
      continue;
    tries++;
    bool full_too = OHI_LOAD_RELAXED(&o->last_call_ms) + RECLAIM_FULL_QUIET_MS <= ms;
    if (!ohi_tcache_try_steal(o, 0)) continue;
    for (unsigned c = 0; c < h->nclasses; c++) {
      ohi_tbin_t *ob = &o->bins[c];
      if (ob->owned == NULL) continue;
      if (c == h->run_class) ohi_tcache_flush_runs(h, o); /* its kept runs hold pages of the slabs that move */
      for (ohi_slab_t *s = ob->owned, *next; s != NULL; s = next) {
        next = s->next;
        if (!reclaimable(ob, s, full_too)) continue;
        disown(ob, s);
        ohi_central_abandon(h, s, &now);
        moved = true;
      }
    }
    ohi_tcache_unsteal(o);
    if (moved) break;
  }
  ohi_unlock(&ohi_registry_lock);
  if (!moved) tc->reclaim_ms = ms + RECLAIM_QUIET_MS;
}

void *ohi_tcache_refill_alloc(oh_slab_t *h, ohi_tcache_t *tc, unsigned cls, uint32_t state, bool *zeroed) {
  if (OHI_UNLIKELY(OHI_LOAD_RELAXED(&ohi_purge_tick) != OHI_LOAD_RELAXED(&tc->purged_tick)))
    ohi_tcache_purge_self(h, tc);
  ohi_tbin_t *b = &tc->bins[cls];
  ohi_slab_t *s = b->cur;
  if (s != NULL) {
    ohi_bin_collect(h, b, s);
    void *p = owned_pop(h, b, s, state, zeroed);
    if (p != NULL) return p;
    /* full: to the back now. Left where it was, behind slabs a free moved
     * to the front since it became current, full slabs piled up at the
     * front, a refill found REFILL_SCAN of them and made a new slab while
     * the others had room (issue 18: a churn at constant live size mapped
     * fresh slabs, and their pressure pass decommitted ~100 MiB at once) */
    ohi_bin_to_back(b, s);
    /* a slab's worth of chunks since the last look: quiet owners' room */
    if (tc->explicit_owner) ohi_tcache_reclaim(h, tc);
  }
  /* Other threads freed into slabs of this class since the last look: every
   * owned slab's stack is collected, and those with room move to the front. */
  ohi_class_t *c = &h->classes[cls];
  uint64_t epoch = __atomic_load_n(&c->remote_epoch, __ATOMIC_ACQUIRE);
  if (epoch != b->seen_remote) {
    b->seen_remote = epoch;
    for (ohi_slab_t *t = b->owned, *next; t != NULL; t = next) {
      next = t->next;
      if (t == s || OHI_LOAD_RELAXED(&t->xfree) == OHI_W_END) continue;
      if (ohi_bin_collect(h, b, t) && t != b->owned) {
        ohi_bin_remove(b, t);
        ohi_bin_push_front(b, t);
      }
    }
  }
  /* Another owned slab with room. Slabs a local free gave room to sit at the
   * front (ohi_tcache_local_free_slow); full ones the scan passes go to the
   * back, where frees from other threads (their stacks) are found in turn. */
  for (int scanned = 0; scanned < REFILL_SCAN && b->owned != NULL; scanned++) {
    ohi_slab_t *t = b->owned;
    if (t == s) break; /* s, full, went to the back: every other slab was looked at */
    if (!ohi_bin_collect(h, b, t)) continue;
    if (has_room(t)) {
      ohi_bin_set_cur(b, t);
      return owned_pop(h, b, t, state, zeroed);
    }
    if (t->next == NULL) break;
    ohi_bin_to_back(b, t);
  }
  ohi_class_t *cc = &h->classes[cls];
  if (tc->explicit_owner && OHI_LOAD_RELAXED(&cc->partial) == NULL && OHI_LOAD_RELAXED(&cc->empty) == NULL)
    ohi_tcache_reclaim(h, tc);
  ohi_slab_t *t = ohi_central_adopt(h, cls, tc);
  if (t == NULL) return NULL;
  ohi_tcache_adopted(tc, b, t);
  return owned_pop(h, b, t, state, zeroed);
}

void ohi_tcache_adopted(ohi_tcache_t *tc, ohi_tbin_t *b, ohi_slab_t *s) {
  if (s->used == 0 && !ohi_purge_at_free()) ohi_purge_notify(); /* an empty slab to watch */
  ohi_bin_own(b, s);
  ohi_bin_set_cur(b, s);
  if (OHI_LOAD_RELAXED(&tc->holds) == 0) {
    OHI_STORE_RELAXED(&tc->holds, 1u);
    ohi_purge_notify(); /* a cache that holds slabs is on the purger's watch */
  }
}

/* A local free made an owned slab interesting: it had no room (it goes to
 * the front of its class's list, where the next refill looks first), or it
 * is empty now. With a zero delay an empty slab is released at once;
 * otherwise it stays owned, and the purge policy releases it once it has sat
 * empty for the delay. */
void ohi_tcache_local_free_slow(oh_slab_t *h, ohi_tcache_t *tc, ohi_slab_t *s, bool was_full) {
  ohi_tbin_t *b = &tc->bins[s->class_index];
  if (was_full && b->owned != s) {
    ohi_bin_remove(b, s);
    ohi_bin_push_front(b, s);
  }
  if (s->used != 0) return;
  ohi_bin_note_emptied(b, s);
  if (!ohi_purge_at_free()) return; /* it waits, owned, for the policy */
  if (OHI_LOAD_RELAXED(&s->xfree) != OHI_W_END || s->guarded) return; /* left to the purger */
  ohi_tcache_release_owned(h, b, s);
}

/* Releases an empty owned slab (owner, with no cross-thread frees pending). */
void ohi_tcache_release_owned(oh_slab_t *h, ohi_tbin_t *b, ohi_slab_t *s) {
  disown(b, s);
  ohi_slab_unown(s);
  s->list = OHI_LIST_NONE;
  /* Nobody can reach it now but a racing stale release, which the word
   * check refuses (every word is free). */
  size_t dec = ohi_slab_release(h, s);
  OHI_FETCH_ADD(&ohi_counters.purges, 1);
  OHI_FETCH_ADD(&h->purge_count, 1);
  OHI_FETCH_ADD(&h->purged_bytes, dec);
}

/* ---- other threads' side ------------------------------------------------------------ */

static bool steal(ohi_tcache_t *tc, uint32_t kind) {
  OHI_STORE_RELAXED(&tc->steal, kind);
  if (ohi_os_process_barrier() != 0) { /* no barrier: leave the cache to its owner */
    OHI_STORE_RELEASE(&tc->steal, 0u);
    return false;
  }
  while (OHI_LOAD_ACQUIRE(&tc->in_op) != 0) sched_yield();
  /* A want left from an earlier steal is stale; one set from now on is an
   * owner waiting for this one (it saw steal == YIELD). */
  OHI_STORE_RELAXED(&tc->want, 0u);
  return true;
}

bool ohi_tcache_steal(ohi_tcache_t *tc) { return steal(tc, OHI_STEAL_BYPASS); }

bool ohi_tcache_try_steal(ohi_tcache_t *tc, unsigned spins) {
  OHI_STORE_RELAXED(&tc->steal, OHI_STEAL_BYPASS);
  if (ohi_os_process_barrier() != 0) {
    OHI_STORE_RELEASE(&tc->steal, 0u);
    return false;
  }
  for (unsigned i = 0; OHI_LOAD_ACQUIRE(&tc->in_op) != 0; i++) {
    if (i == spins) { /* its owner is inside an operation - perhaps the caller */
      OHI_STORE_RELEASE(&tc->steal, 0u);
      return false;
    }
    sched_yield();
  }
  OHI_STORE_RELAXED(&tc->want, 0u);
  return true;
}
bool ohi_tcache_steal_yielding(ohi_tcache_t *tc) { return steal(tc, OHI_STEAL_YIELD); }

void ohi_tcache_unsteal(ohi_tcache_t *tc) { OHI_STORE_RELEASE(&tc->steal, 0u); }

/* The owner found steal set on entering (in_op is 1): a BYPASS steal sends
 * this operation past the cache, and asks for the cache back (want: the
 * purger's pass gives it back after the slab in hand; fork, destroy and the
 * forced purges do not look); a YIELD steal is waited out. */
OHI_NOINLINE bool ohi_tcache_enter_stolen(ohi_tcache_t *tc) {
  for (;;) {
    OHI_STORE_RELEASE(&tc->in_op, 0u);
    uint32_t kind = OHI_LOAD_ACQUIRE(&tc->steal);
    if (kind == OHI_STEAL_BYPASS) {
      OHI_STORE_RELAXED(&tc->want, 1u);
      return false;
    }
    if (kind == OHI_STEAL_YIELD) {
      OHI_STORE_RELAXED(&tc->want, 1u);
      while (OHI_LOAD_ACQUIRE(&tc->steal) == OHI_STEAL_YIELD) sched_yield();
    }
    if (ohi_tcache_try_enter(tc)) return true;
  }
}

void ohi_tcache_flush_runs(oh_slab_t *h, ohi_tcache_t *tc) {
  ohi_tbin_t *b = &tc->bins[h->run_class];
  for (ohi_slab_t *s = b->owned; s != NULL && tc->rc->quick_pages != 0; s = s->next) /* the owned slabs' quick lists */
    if (s->qmask != 0) ohi_tcache_settle_runs(tc, s);
  if (OHI_LOAD_RELAXED(&tc->rc->runc_bytes) == 0) return;
  for (unsigned k = 0; k <= OHI_RUNC_PAGES; k++) {
    while (tc->rc->runc_n[k] > 0) {
      void *p = tc->rc->runc[k][--tc->rc->runc_n[k]];
      ohi_slab_t *s = (ohi_slab_t *)ohi_region_lookup(p);
      uint32_t idx = (uint32_t)(((uintptr_t)p - s->span.base) >> h->page_shift);
      /* counted free when it was cached: the bin's counts stand */
      if (OHI_LOAD_RELAXED(&s->owner) != tc) { /* not this cache's any more (never expected) */
        if (OHI_LOAD_ACQUIRE(&s->owner) != NULL) ohi_slab_push_remote(h, s, idx, 0);
        else ohi_central_release_run(h, s, idx);
        continue;
      }
      ohi_run_put(s, idx);
      if (OHI_LOAD_RELAXED(&s->dirty) == 0) ohi_slab_mark_dirty(s);
      if (s->used == 0) ohi_bin_note_emptied(b, s);
      ohi_rbucket_update(ohi_owner_runs(tc), s);
    }
  }
  OHI_STORE_RELAXED(&tc->rc->runc_bytes, 0);
}

bool ohi_tcache_abandon_all(oh_slab_t *h, ohi_tcache_t *tc) {
  uint64_t now = 0;
  if (h->run_class != OHI_NO_RUNS) ohi_tcache_flush_runs(h, tc); /* cached runs go back to their slabs first */
  for (unsigned cls = 0; cls < h->nclasses; cls++) {
    ohi_tbin_t *b = &tc->bins[cls];
    while (b->owned != NULL) {
      ohi_slab_t *s = b->owned;
      disown(b, s);
      ohi_central_abandon(h, s, &now);
    }
    b->cur = NULL;
    b->owned_tail = NULL;
    OHI_STORE_RELAXED(&b->nempty, 0u);
    ohi_bin_nfree_set(b, 0); /* none on the free lists now */
  }
  bool spans = ohi_large_cache_drain(h, tc); /* free large spans: to the heap's shared cache */
  OHI_STORE_RELAXED(&tc->holds, 0u);
  return now != 0 || spans; /* some slab went to an empty list, or spans to age */
}

void ohi_tcache_unlink(oh_slab_t *h, ohi_tcache_t *tc) {
  if (tc->prev) tc->prev->next = tc->next;
  else h->tcaches = tc->next;
  if (tc->next) tc->next->prev = tc->prev;
  tc->next = tc->prev = NULL;
}

void ohi_tcache_retire(oh_slab_t *h, ohi_tcache_t *tc) {
  for (unsigned c = 0; c < h->nclasses; c++) {
    OHI_FETCH_ADD(&h->classes[c].allocs, OHI_LOAD_RELAXED(&tc->bins[c].allocs));
    OHI_FETCH_ADD(&h->classes[c].frees, OHI_LOAD_RELAXED(&tc->bins[c].frees));
    OHI_FETCH_ADD(&h->classes[c].cached_out, OHI_LOAD_RELAXED(&tc->cached[c]));
    int64_t nfree = ohi_bin_nfree(&tc->bins[c]);
    OHI_STORE_RELAXED(&tc->bins[c].allocs, 0);
    OHI_STORE_RELAXED(&tc->bins[c].frees, 0);
    ohi_bin_nfree_set(&tc->bins[c], nfree); /* the count survives the counters' hand-over */
    OHI_STORE_RELAXED(&tc->cached[c], 0);
  }
  OHI_FETCH_ADD(&h->run_allocs, OHI_LOAD_RELAXED(&tc->rallocs));
  OHI_FETCH_ADD(&h->run_frees, OHI_LOAD_RELAXED(&tc->rfrees));
  OHI_STORE_RELAXED(&tc->rallocs, 0);
  OHI_STORE_RELAXED(&tc->rfrees, 0);
  OHI_FETCH_ADD(&h->large_allocs, OHI_LOAD_RELAXED(&tc->lallocs));
  OHI_FETCH_ADD(&h->large_frees, OHI_LOAD_RELAXED(&tc->lfrees));
  OHI_FETCH_ADD(&h->large_alloc_bytes, OHI_LOAD_RELAXED(&tc->lalloc_bytes));
  OHI_FETCH_ADD(&h->large_free_bytes_total, OHI_LOAD_RELAXED(&tc->lfree_bytes_total));
  OHI_STORE_RELAXED(&tc->lallocs, 0);
  OHI_STORE_RELAXED(&tc->lfrees, 0);
  OHI_STORE_RELAXED(&tc->lalloc_bytes, 0);
  OHI_STORE_RELAXED(&tc->lfree_bytes_total, 0);
}

/* Thread exit: every owned slab goes back to the central lists, so nothing a
 * thread held is stranded with it. */
static void tls_destructor(void *arg) {
  (void)arg;
  for (int i = 0; i < OHI_MAX_SLOTS; i++) {
    ohi_tcache_t *tc = ohi_tls_caches[i];
    if (tc == NULL) continue;
    ohi_tls_caches[i] = NULL;
    ohi_lock(&ohi_registry_lock);
    if (OHI_LOAD_RELAXED(&tc->heap_id) != 0) {
      oh_slab_t *h = tc->heap;
      /* The purger may hold it stolen: wait for it, then keep it out. */
      OHI_STORE_RELAXED(&tc->in_op, 1u);
      while (OHI_LOAD_ACQUIRE(&tc->steal) != 0) sched_yield();
      bool emptied = ohi_tcache_abandon_all(h, tc);
      ohi_tcache_retire(h, tc);
      ohi_tcache_unlink(h, tc);
      if (emptied) ohi_after_empty(h);
    }
    ohi_unlock(&ohi_registry_lock);
    ohi_meta_free(tc, tc->meta_size);
  }
}

void oh_thread_flush(void) {
  ohi_lock(&ohi_registry_lock);
  for (int i = 0; i < OHI_MAX_SLOTS; i++) {
    ohi_tcache_t *tc = ohi_tls_caches[i];
    if (tc == NULL || OHI_LOAD_RELAXED(&tc->heap_id) == 0) continue;
    if (!ohi_tcache_enter(tc)) continue; /* the purger has it: it drains it */
    bool emptied = ohi_tcache_abandon_all(tc->heap, tc);
    ohi_tcache_leave(tc);
    if (emptied) ohi_after_empty(tc->heap);
  }
  ohi_unlock(&ohi_registry_lock);
}
