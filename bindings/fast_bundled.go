//go:build !offheap_shared && !asan

package bindings

// The call-free fast path: with the core compiled in, Go reads the core's
// region map and slab descriptors directly (c/src/internal.h keeps them plain
// C types for this) and moves chunks between the core and a Go-side cache
// with the core's batch-transfer protocol (slab.c, "batch transfer for
// language-side caches"):
//
//   - TakeCached takes a batch of chunks whose state word is CACHED;
//   - the cache sets a chunk's word to 1 when it hands the chunk out;
//   - a release is validated by ChunkWord (region map lookup, owner, exact
//     chunk start - no call) and claimed by a CAS of the word from 1 to CACHED,
//     so a double free or a foreign pointer is detected without a call;
//   - ReturnCached gives claimed chunks back in batches.
//
// Under offheap_shared the core's internals are not exported from the shared
// library, so FastPath is false and every operation is a call.

/*
#include "internal.h"

static inline size_t ohg_take_cached(oh_slab_t *h, int cls, uintptr_t *out, size_t n, ohi_affinity_t *aff) {
	return ohi_heap_take_cached(h, cls, (void **)out, n, aff);
}
static inline uint32_t ohg_affinity_token(void) { return ohi_affinity_token(); }
#cgo noescape ohg_affinity_token
#cgo nocallback ohg_affinity_token
static inline void ohg_return_cached(oh_slab_t *h, int cls, const uintptr_t *ptrs, size_t n, uint64_t allocs, uint64_t frees) {
	ohi_heap_return_cached(h, cls, (void *const *)ptrs, n, allocs, frees);
}
#cgo noescape ohg_take_cached
#cgo nocallback ohg_take_cached
#cgo noescape ohg_return_cached
#cgo nocallback ohg_return_cached
*/
import "C"

import (
	"math/bits"
	"sync/atomic"
	"unsafe"
)

// FastPath reports whether the call-free chunk protocol is available.
const FastPath = true

// Chunk state words (internal.h).
const (
	WordCached = C.OHI_W_CACHED // free, claimed by a cache
	WordFree   = C.OHI_W_FREE   // free, on a slab's free list (with an index)
)

const (
	granuleShift = C.OHI_GRANULE_SHIFT
	l1Bits       = C.OHI_L1_BITS
	l2Bits       = C.OHI_L2_BITS
	spanSlab     = C.OHI_SPAN_SLAB
)

// ChunkWord classifies p for s without calling into the core, exactly as the
// core's own release does: p must be the first byte of a chunk of one of s's
// slabs. It returns the chunk's state word and size class, or ok == false for
// anything else (foreign, interior, another instance, a large allocation),
// which the caller then hands to the core to get the precise error.
//
// It never dereferences p. The descriptors it reads live in the core's
// type-stable metadata memory, which is never unmapped, so a racing release of
// the slab can make the answer stale but never fault; the caller's CAS on the
// word decides.
func (s Slab) ChunkWord(p uintptr) (w *uint32, cls int, ok bool) {
	g := p >> granuleShift
	if g>>(l1Bits+l2Bits) != 0 {
		return nil, 0, false
	}
	l1 := (*unsafe.Pointer)(unsafe.Pointer(&C.ohi_region_l1[g>>l2Bits]))
	l2 := atomic.LoadPointer(l1)
	if l2 == nil {
		return nil, 0, false
	}
	entry := (*unsafe.Pointer)(unsafe.Add(l2, (g&(1<<l2Bits-1))*unsafe.Sizeof(uintptr(0))))
	sp := (*C.ohi_span_t)(atomic.LoadPointer(entry))
	if sp == nil || atomic.LoadUint32((*uint32)(unsafe.Pointer(&sp.kind))) != spanSlab {
		return nil, 0, false
	}
	base := uintptr(sp.base)
	if p < base || p-base >= uintptr(sp.size) || sp.owner != unsafe.Pointer(s.h) {
		return nil, 0, false
	}
	slab := (*C.ohi_slab_t)(unsafe.Pointer(sp))
	off := uint32(p - base)
	hi, _ := bits.Mul64(uint64(slab.div_magic), uint64(off))
	idx := uint32(hi)
	if idx >= uint32(slab.nchunks) || idx*uint32(slab.chunk_size) != off {
		return nil, 0, false
	}
	return (*uint32)(unsafe.Add(unsafe.Pointer(slab.words), uintptr(idx)*4)), int(slab.class_index), true
}

// Affinity is a cache's preference for one slab per class (ohi_affinity_t):
// a cache that keeps drawing from a slab of its own does not share the cache
// lines of its chunks' state words with other Ps. Keep one per shard and
// class; the zero value works but a NewAffinity names the cache.
type Affinity struct {
	base  uintptr
	token uint32
	_     uint32
}

// The layout must be the core's.
var _ [unsafe.Sizeof(Affinity{}) - C.sizeof_ohi_affinity_t]byte
var _ [C.sizeof_ohi_affinity_t - unsafe.Sizeof(Affinity{})]byte

// NewAffinity returns an affinity with a fresh token.
func NewAffinity() Affinity { return Affinity{token: uint32(C.ohg_affinity_token())} }

// TakeCached takes up to len(out) chunks of class cls in the CACHED state,
// preferably from aff's slab, and returns how many it took (0: out of memory,
// or a bounded heap at its limit).
func (s Slab) TakeCached(cls int, out []unsafe.Pointer, aff *Affinity) int {
	if len(out) == 0 {
		return 0
	}
	return int(C.ohg_take_cached(s.h, C.int(cls), (*C.uintptr_t)(unsafe.Pointer(&out[0])), C.size_t(len(out)),
		(*C.ohi_affinity_t)(unsafe.Pointer(aff))))
}

// ReturnCached gives chunks of class cls in the CACHED state back to the
// core; allocs and frees are the operations served from the cache since its
// last return, for the statistics.
func (s Slab) ReturnCached(cls int, ptrs []unsafe.Pointer, allocs, frees uint64) {
	var p *C.uintptr_t
	if len(ptrs) > 0 {
		p = (*C.uintptr_t)(unsafe.Pointer(&ptrs[0]))
	}
	C.ohg_return_cached(s.h, C.int(cls), p, C.size_t(len(ptrs)), C.uint64_t(allocs), C.uint64_t(frees))
}

// DebugMode reports the core's debug option without a call (freed memory is
// poisoned by the core then, so caches stand aside).
func DebugMode() bool {
	return atomic.LoadInt64((*int64)(unsafe.Pointer(&C.ohi_options[C.OH_OPT_DEBUG]))) != 0
}
