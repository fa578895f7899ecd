//go:build !offheap_shared && !asan

package bindings

// chunk_bundled.go is the one Go mirror of the core's chunk protocol
// (c/src/chunk.h): how a released pointer is classified and how a chunk's
// state word moves. go/offheap's caches classify and claim releases here
// without a cgo call, and never read or write a state word themselves. The
// core's own inline definitions are reachable from here too (CoreFind,
// CoreTryRelease, CoreTryAddRef) so that a differential test can feed the
// same pointers and words to both and demand the same verdict.
//
// The descriptors read here live in the core's type-stable metadata memory,
// which is never unmapped, so a racing release of a slab can make an answer
// stale but never fault; the CAS on the state word decides, as in C.

/*
#include "chunk.h"
#include "errcodes.h"

static inline int ohg_core_find(oh_slab_t *h, uintptr_t p, uintptr_t *word) {
	ohi_span_t *sp = NULL;
	uint32_t *w = NULL;
	if (ohi_chunk_find(h, (const void *)p, "ohg_core_find", &sp, &w) != 0) return -ohg_code(errno);
	*word = (uintptr_t)w;
	return sp->kind == OHI_SPAN_LARGE || sp->kind == OHI_SPAN_RUNS ? 1 : 0;
}
typedef struct { uint32_t old; int err; } ohg_transition;
static inline ohg_transition ohg_core_try_release(uint32_t *w, int decref) {
	ohg_transition r;
	r.old = ohi_chunk_try_release(w, decref ? OHI_RELEASE_DECREF : OHI_RELEASE_FREE, NULL, "ohg_core_try_release");
	r.err = r.old == 0 ? ohg_code(errno) : OHG_OK;
	return r;
}
static inline int ohg_core_try_addref(uint32_t *w) {
	return ohi_chunk_try_addref(w, NULL, "ohg_core_try_addref") == 0 ? OHG_OK : ohg_code(errno);
}
static inline uint32_t ohg_core_run_pages(uint32_t *w) { return ohi_run_head_pages(w); }
static inline uint32_t ohg_class_run_pages(oh_slab_t *h, int cls) {
	return ohi_run_class(h, cls) ? ohi_run_pages_for(h, h->classes[cls].chunk_size) : 0;
}
static inline uint64_t ohg_run_slabs(oh_slab_t *h) {
	return OHI_LOAD_RELAXED(&h->classes[h->run_class].slabs);
}
#cgo noescape ohg_core_find
#cgo nocallback ohg_core_find
#cgo noescape ohg_core_try_release
#cgo nocallback ohg_core_try_release
#cgo noescape ohg_core_try_addref
#cgo nocallback ohg_core_try_addref
*/
import "C"

import (
	"math/bits"
	"sync/atomic"
	"unsafe"
)

// FastPath reports whether the call-free chunk protocol is available.
const FastPath = true

// The state-word encoding (internal.h, "Per-chunk state word").
const (
	wordCached = C.OHI_W_CACHED
	wordFree   = C.OHI_W_FREE

	granuleShift = C.OHI_GRANULE_SHIFT
	l1Bits       = C.OHI_L1_BITS
	l2Bits       = C.OHI_L2_BITS
	spanSlab     = C.OHI_SPAN_SLAB
	spanLarge    = C.OHI_SPAN_LARGE
	spanMap      = C.OHI_SPAN_MAP
	spanArena    = C.OHI_SPAN_ARENA
	spanRuns     = C.OHI_SPAN_RUNS
	wordTail     = C.OHI_W_TAIL
	tailLenShift = C.OHI_W_TAIL_LEN_SHIFT
	tailLenMask  = C.OHI_W_TAIL_LEN_MASK
)

// isFree is OHI_W_IS_FREE.
func isFree(v uint32) bool { return v == 0 || v >= wordCached }

// A Word is the state word of one chunk (or the refcount of a large span)
// that Find vouched for. Its methods are the only transitions go/offheap
// makes on it.
type Word struct{ w *uint32 }

// Large is Find's class for a large span (whole pages, not a slab chunk),
// Run for the first page of a run of pages (c/src/runpage.c).
const (
	Large = -1
	Run   = -2
)

// isTail is OHI_W_IS_TAIL: a page of a run other than its first.
func isTail(v uint32) bool { return v&wordTail == wordTail }

// RunRange returns the sizes s serves as runs of pages (runs.c) instead of
// size classes: go/offheap's caches leave them to the core. ok is false for
// an instance without runs.
func (s Slab) RunRange() (min, max uintptr, ok bool) {
	if s.h.run_class == C.OHI_NO_RUNS {
		return 0, 0, false
	}
	return uintptr(s.h.run_min), uintptr(s.h.run_max), true
}

// PageSize returns the page size s counts runs in.
func (s Slab) PageSize() uintptr { return uintptr(1) << s.h.page_shift }

// ClassRunPages returns the pages of the runs that stand for size class cls
// in a cache of runs (TakeOwned and ReturnOwned of cls move runs, not
// chunks), or 0 when cls is a class of chunks.
func (s Slab) ClassRunPages(cls int) int { return int(C.ohg_class_run_pages(s.h, C.int(cls))) }

// RunPages returns the pages of the run whose first page's word w is (Find's
// class Run): OHI_W_TAIL_LEN of the next page's word, which stays put while
// the caller holds the run.
func (w Word) RunPages() int {
	v := atomic.LoadUint32((*uint32)(unsafe.Add(unsafe.Pointer(w.w), 4)))
	return int(v >> tailLenShift & tailLenMask)
}

// CoreRunPages is ohi_run_head_pages called in C, for the differential test.
func (w Word) CoreRunPages() int {
	return int(C.ohg_core_run_pages((*C.uint32_t)(unsafe.Pointer(w.w))))
}

// RunSlabs returns the slabs of s's run class, which the statistics' class
// rows (size classes only) leave out.
func (s Slab) RunSlabs() uint64 {
	if s.h.run_class == C.OHI_NO_RUNS {
		return 0
	}
	return uint64(C.ohg_run_slabs(s.h))
}

// Find classifies p for s exactly as ohi_chunk_find does, without touching p
// and without a call: p must be the first byte of a chunk of one of s's slabs
// (cls = its size class) or of a large span of s (cls = Large). Otherwise it
// returns the error the core reports: EINVAL for memory that is not the
// core's (or an oh_map mapping), EXDEV for another instance's or an arena's,
// EFAULT for an interior pointer.
func (s Slab) Find(p uintptr) (w Word, cls int, e Err) {
	w, cls, _, e = s.FindOwned(p)
	return w, cls, e
}

// FindOwned is Find that also returns the owner of p's slab (owner.c: a P's
// owner handle, or a thread's cache; 0 for a central slab or a large span),
// read as the core's releases read it: it may change at any moment, so it
// only chooses where a claimed chunk goes (its owner's cross-owner stack or
// the caller's cache), never whether the release is valid.
func (s Slab) FindOwned(p uintptr) (w Word, cls int, slabOwner Owner, e Err) {
	sp := lookup(p)
	if sp == nil {
		return Word{}, 0, 0, EINVAL
	}
	kind := atomic.LoadUint32((*uint32)(unsafe.Pointer(&sp.kind)))
	base := uintptr(atomic.LoadUintptr((*uintptr)(unsafe.Pointer(&sp.base))))
	owner := atomic.LoadPointer((*unsafe.Pointer)(unsafe.Pointer(&sp.owner)))
	if kind == spanSlab && owner == unsafe.Pointer(s.h) && p >= base {
		slab := (*C.ohi_slab_t)(unsafe.Pointer(sp))
		off := uint32(p - base) // < the slab size: the granules are the slab's
		hi, _ := bits.Mul64(atomic.LoadUint64((*uint64)(unsafe.Pointer(&slab.div_magic))), uint64(off))
		idx := uint32(hi)
		if idx < atomic.LoadUint32((*uint32)(unsafe.Pointer(&slab.nchunks))) &&
			idx*atomic.LoadUint32((*uint32)(unsafe.Pointer(&slab.chunk_size))) == off {
			words := unsafe.Add(unsafe.Pointer(slab), C.sizeof_ohi_slab_t) // ohi_slab_words
			so := Owner(atomic.LoadUintptr((*uintptr)(unsafe.Pointer(&slab.owner))))
			return Word{(*uint32)(unsafe.Add(words, uintptr(idx)*4))}, int(slab.class_index), so, OK
		}
	} else if kind == spanLarge && owner == unsafe.Pointer(s.h) && p == base {
		return Word{(*uint32)(unsafe.Pointer(&(*C.ohi_large_t)(unsafe.Pointer(sp)).refcount))}, Large, 0, OK
	} else if kind == spanRuns && owner == unsafe.Pointer(s.h) && p >= base {
		// a run's first page: its word is the state word (a TAIL word is
		// inside a run)
		slab := (*C.ohi_slab_t)(unsafe.Pointer(sp))
		off := uint32(p - base)
		hi, _ := bits.Mul64(atomic.LoadUint64((*uint64)(unsafe.Pointer(&slab.div_magic))), uint64(off))
		idx := uint32(hi)
		if idx < atomic.LoadUint32((*uint32)(unsafe.Pointer(&slab.nchunks))) &&
			idx*atomic.LoadUint32((*uint32)(unsafe.Pointer(&slab.chunk_size))) == off {
			w := (*uint32)(unsafe.Add(unsafe.Add(unsafe.Pointer(slab), C.sizeof_ohi_slab_t), uintptr(idx)*4))
			if !isTail(atomic.LoadUint32(w)) {
				so := Owner(atomic.LoadUintptr((*uintptr)(unsafe.Pointer(&slab.owner))))
				return Word{w}, Run, so, OK
			}
		}
	}
	return Word{}, 0, 0, findFail(s, p, sp, kind, base, owner)
}

// lookup is ohi_region_lookup.
func lookup(p uintptr) *C.ohi_span_t {
	g := p >> granuleShift
	if g>>(l1Bits+l2Bits) != 0 {
		return nil
	}
	l2 := atomic.LoadPointer((*unsafe.Pointer)(unsafe.Pointer(&C.ohi_region_l1[g>>l2Bits])))
	if l2 == nil {
		return nil
	}
	entry := (*unsafe.Pointer)(unsafe.Add(l2, (g&(1<<l2Bits-1))*unsafe.Sizeof(uintptr(0))))
	return (*C.ohi_span_t)(atomic.LoadPointer(entry))
}

// findFail is ohi_chunk_find_fail's verdict (only misuse gets here).
func findFail(s Slab, p uintptr, sp *C.ohi_span_t, kind uint32, base uintptr, owner unsafe.Pointer) Err {
	if sp == nil || kind == 0 || p < base || p-base >= uintptr(atomic.LoadUintptr((*uintptr)(unsafe.Pointer(&sp.size)))) {
		return EINVAL
	}
	switch {
	case kind == spanMap:
		return EINVAL
	case kind == spanArena, owner != unsafe.Pointer(s.h):
		return EXDEV
	}
	return EFAULT // inside a large span, a chunk or a run, or in a slab's unused tail
}

// TryRelease is ohi_chunk_try_release: a count above 1 is decremented (only
// with decref; a plain free of it is EBUSY), 1 becomes CACHED - claimed by
// this call, whose caller then owns the free chunk - and a free word is
// EALREADY (a double free; of two racing releases exactly one claims).
// old is the count before the call.
func (w Word) TryRelease(decref bool) (old uint32, e Err) {
	old = atomic.LoadUint32(w.w)
	for {
		if isFree(old) {
			return 0, EALREADY
		}
		nw := uint32(wordCached)
		if old != 1 {
			if !decref {
				return 0, EBUSY
			}
			nw = old - 1
		}
		if atomic.CompareAndSwapUint32(w.w, old, nw) {
			return old, OK
		}
		old = atomic.LoadUint32(w.w)
	}
}

// TryAddRef is ohi_chunk_try_addref.
func (w Word) TryAddRef() Err {
	old := atomic.LoadUint32(w.w)
	for {
		if isFree(old) {
			return EALREADY
		}
		if old >= RefcountMax {
			return EOVERFLOW
		}
		if atomic.CompareAndSwapUint32(w.w, old, old+1) {
			return OK
		}
		old = atomic.LoadUint32(w.w)
	}
}

// RefCount returns the count (0 for a free chunk), as oh_slab_refcount.
func (w Word) RefCount() int {
	if v := atomic.LoadUint32(w.w); !isFree(v) {
		return int(v)
	}
	return 0
}

// HandOut moves a CACHED chunk that the caller holds to refcount 1. Only the
// holder writes a CACHED word (a racing release of a stale pointer only reads
// it and fails), so the store needs no lock prefix (handout_*.go).
func (w Word) HandOut() { handOut(w.w) }

// StoreForTest overwrites the word (tests that need a count of 2^30).
func (w Word) StoreForTest(v uint32) { atomic.StoreUint32(w.w, v) }

// CoreFind is ohi_chunk_find called in C, for the differential test:
// large reports a whole-page allocation (a large span or a run), word the
// state word's address.
func (s Slab) CoreFind(p uintptr) (word uintptr, large bool, e Err) {
	var w C.uintptr_t
	r := int(C.ohg_core_find(s.h, C.uintptr_t(p), &w))
	if r < 0 {
		return 0, false, Err(-r)
	}
	return uintptr(w), r == 1, OK
}

// Addr returns the word's address (tests compare it with CoreFind's).
func (w Word) Addr() uintptr { return uintptr(unsafe.Pointer(w.w)) }

// CoreTryRelease applies ohi_chunk_try_release to *v in C (differential test).
func CoreTryRelease(v *uint32, decref bool) (old uint32, e Err) {
	d := C.int(0)
	if decref {
		d = 1
	}
	r := C.ohg_core_try_release((*C.uint32_t)(unsafe.Pointer(v)), d)
	return uint32(r.old), Err(r.err)
}

// CoreTryAddRef applies ohi_chunk_try_addref to *v in C (differential test).
func CoreTryAddRef(v *uint32) Err {
	return Err(C.ohg_core_try_addref((*C.uint32_t)(unsafe.Pointer(v))))
}

// WordAt wraps a word the caller owns (differential test of the transitions).
func WordAt(v *uint32) Word { return Word{v} }
