/* chunk.h - the chunk protocol: how a pointer handed to a release is
 * classified and how its state word moves. Defined once here, inline, for the
 * core's own entry points (release.c); the Go binding mirrors exactly this in
 * one place (bindings/chunk_bundled.go), with a differential test that both
 * give the same verdict (bindings/chunk_test.go).
 *
 * Classification never touches the pointer: the region map gives the span of
 * its granule (none = foreign), the span's kind and owner (another heap =
 * EXDEV; an oh_map mapping or an arena = refused with their names), and for a
 * slab the chunk index by a multiply (a remainder = an interior pointer); for
 * a run slab the page, which must be a run's first (runpage.c).
 * The descriptors read here live in type-stable metadata memory, so a racing
 * release of the slab makes the answer stale but never faults: the CAS on the
 * state word decides.
 *
 * State word transitions (internal.h lists the states):
 *   release  n -> n-1 (n > 1), 1 -> CACHED (claimed by this release; the
 *            caller then frees the chunk), free -> error (double free)
 *   addref   n -> n+1 (n < OH_REFCOUNT_MAX), free -> error
 *   hand-out FREE|... or 0 -> 1, by the slab's holder only
 */
#ifndef OFFHEAP_CHUNK_H
#define OFFHEAP_CHUNK_H

#include "internal.h"

/* Reports why ohi_chunk_find refused p (release.c; only misuse gets there). */
int ohi_chunk_find_fail(oh_slab_t *h, const void *p, const char *fn, ohi_span_t *sp, uint32_t kind);

/* The chunk of slab s that starts off bytes from its base (off below the
 * slab's size): its index, by a multiply, or false for an interior pointer
 * or the unused tail. Relaxed loads: the descriptor may be stale (above). */
OHI_INLINE bool ohi_chunk_index(const ohi_slab_t *s, uint32_t off, uint32_t *idx) {
  uint32_t i = ohi_fast_div(OHI_LOAD_RELAXED(&s->div_magic), off);
  *idx = i;
  return i < OHI_LOAD_RELAXED(&s->nchunks) && i * OHI_LOAD_RELAXED(&s->chunk_size) == off;
}

/* Classifies p for heap h without touching p. On success stores the span and
 * the state word (a chunk's, or a large span's refcount). */
OHI_INLINE int ohi_chunk_find(oh_slab_t *h, const void *p, const char *fn, ohi_span_t **spanp, uint32_t **wp) {
  ohi_span_t *sp = ohi_region_lookup(p);
  if (OHI_UNLIKELY(sp == NULL)) return ohi_chunk_find_fail(h, p, fn, sp, 0);
  uint32_t kind = __atomic_load_n(&sp->kind, __ATOMIC_ACQUIRE);
  uintptr_t base = OHI_LOAD_RELAXED(&sp->base);
  if (OHI_LIKELY(kind == OHI_SPAN_SLAB && OHI_LOAD_RELAXED(&sp->owner) == h && (uintptr_t)p >= base)) {
    ohi_slab_t *s = (ohi_slab_t *)sp;
    uint32_t off = (uint32_t)((uintptr_t)p - base); /* < slab size: the granules are the slab's */
    uint32_t idx;
    if (OHI_LIKELY(ohi_chunk_index(s, off, &idx))) {
      *spanp = sp;
      *wp = ohi_slab_words(s) + idx;
      return 0;
    }
  } else if (kind == OHI_SPAN_LARGE && OHI_LOAD_RELAXED(&sp->owner) == h && (uintptr_t)p == base) {
    *spanp = sp;
    *wp = &((ohi_large_t *)sp)->refcount;
    return 0;
  } else if (kind == OHI_SPAN_RUNS && OHI_LOAD_RELAXED(&sp->owner) == h && (uintptr_t)p >= base) {
    /* a run's first page: its word is the state word; any other page of a
     * run (a TAIL word) is inside an allocation */
    ohi_slab_t *s = (ohi_slab_t *)sp;
    uint32_t idx;
    if (ohi_chunk_index(s, (uint32_t)((uintptr_t)p - base), &idx) &&
        !OHI_W_IS_TAIL(OHI_LOAD_RELAXED(&ohi_slab_words(s)[idx]))) {
      *spanp = sp;
      *wp = ohi_slab_words(s) + idx;
      return 0;
    }
  }
  return ohi_chunk_find_fail(h, p, fn, sp, kind);
}

/* The release transition: returns the old word (> 1: only decremented; 1:
 * claimed, now CACHED), or 0 after reporting the misuse. */
OHI_INLINE uint32_t ohi_chunk_try_release(uint32_t *w, int mode, const void *p, const char *fn) {
  uint32_t old = OHI_LOAD_ACQUIRE(w), nw;
  do {
    if (OHI_UNLIKELY(OHI_W_IS_FREE(old))) {
      if (mode == OHI_RELEASE_DECREF)
        ohi_fail(EALREADY, "%s: pointer %p has no references left (already freed, or decref below zero)", fn, p);
      else
        ohi_fail(EALREADY, "%s: pointer %p is already free (double free or stale pointer)", fn, p);
      return 0;
    }
    if (old == 1) nw = OHI_W_CACHED;
    else if (mode == OHI_RELEASE_FREE) {
      ohi_fail(EBUSY, "%s: pointer %p still has %u references; use decref", fn, p, old);
      return 0;
    } else nw = old - 1;
  } while (!OHI_CAS(w, &old, nw));
  return old;
}

/* The addref transition: 0 on success, -1 after reporting the misuse. */
OHI_INLINE int ohi_chunk_try_addref(uint32_t *w, const void *p, const char *fn) {
  uint32_t old = OHI_LOAD_ACQUIRE(w);
  do {
    if (OHI_W_IS_FREE(old)) return ohi_fail(EALREADY, "%s: pointer %p is free (use after free)", fn, p);
    if (old >= OH_REFCOUNT_MAX)
      return ohi_fail(EOVERFLOW, "%s: pointer %p already has the maximum of %u references", fn, p, OH_REFCOUNT_MAX);
  } while (!OHI_CAS(w, &old, old + 1));
  return 0;
}

#endif /* OFFHEAP_CHUNK_H */
