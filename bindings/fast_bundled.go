//go:build !offheap_shared && !asan

package bindings

// The batch side of the call-free fast path: with the core compiled in, a
// Go-side cache moves chunks between the core and itself in the CACHED state
// (release.c, "batch transfer for language-side caches"):
//
//   - TakeCached takes a batch of chunks whose state word is CACHED;
//   - the cache sets a chunk's word to 1 when it hands the chunk out
//     (Word.HandOut);
//   - a release is classified by Slab.Find and claimed by Word.TryRelease
//     (chunk_bundled.go, the mirror of c/src/chunk.h), without a call;
//   - ReturnCached gives claimed chunks back in batches.
//
// Under offheap_shared the core's internals are not exported from the shared
// library, so FastPath is false and every operation is a call.

/*
#include "internal.h"

static inline size_t ohg_take_cached(oh_slab_t *h, int cls, uintptr_t *out, size_t n) {
	return ohi_heap_take_cached(h, cls, (void **)out, n);
}
static inline void ohg_return_cached(oh_slab_t *h, int cls, const uintptr_t *ptrs, size_t n, uint64_t allocs, uint64_t frees) {
	ohi_heap_return_cached(h, cls, (void *const *)ptrs, n, allocs, frees);
}
static inline int ohg_process_barrier(void) { return ohi_os_process_barrier(); }
#cgo noescape ohg_process_barrier
#cgo nocallback ohg_process_barrier
#cgo noescape ohg_take_cached
#cgo nocallback ohg_take_cached
#cgo noescape ohg_return_cached
#cgo nocallback ohg_return_cached
*/
import "C"

import (
	"sync/atomic"
	"unsafe"
)

// TakeCached takes up to len(out) chunks of class cls in the CACHED state and
// returns how many it took (0: out of memory, or a bounded heap at its limit).
func (s Slab) TakeCached(cls int, out []unsafe.Pointer) int {
	if len(out) == 0 {
		return 0
	}
	return int(C.ohg_take_cached(s.h, C.int(cls), (*C.uintptr_t)(unsafe.Pointer(&out[0])), C.size_t(len(out))))
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

// ProcessBarrier runs a full memory barrier on every running thread of the
// process (ohi_os_process_barrier: membarrier on Linux) and reports whether
// the OS has one. A stealer of a per-P cache calls it so that the owner's
// side of the handshake can leave its fence out, as the core's thread caches
// do.
func ProcessBarrier() bool { return C.ohg_process_barrier() == 0 }
