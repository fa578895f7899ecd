//go:build !offheap_shared && !asan

package bindings

// owner_bundled.go: owner handles (c/src/owner.c), the core's slab owners
// that a Go-side cache holds per P. A P's batches go through its own owner:
// the owner adopts whole slabs and hands out only from them, so two Ps never
// allocate from one slab nor meet on a class lock per batch; a chunk one P
// returns that another P's owner holds goes onto that slab's cross-owner
// stack. The core excludes concurrent users of one owner (a goroutine that
// lost its P during a call, and the next one on that P) by itself: a busy
// owner sends the batch to the central lists.

/*
#include "internal.h"
#include "errcodes.h"

static inline uintptr_t ohg_owner_new(oh_slab_t *h) { return (uintptr_t)ohi_owner_new(h); }
static inline void ohg_owner_delete(oh_slab_t *h, uintptr_t o) { ohi_owner_delete(h, (ohi_tcache_t *)o); }
static inline size_t ohg_owner_take(oh_slab_t *h, uintptr_t o, int cls, uintptr_t *out, size_t n) {
	return ohi_owner_take(h, (ohi_tcache_t *)o, cls, (void **)out, n);
}
static inline void ohg_owner_return(oh_slab_t *h, uintptr_t o, int cls, const uintptr_t *ptrs, size_t n,
                                    uint64_t allocs, uint64_t frees) {
	ohi_owner_return(h, (ohi_tcache_t *)o, cls, (void *const *)ptrs, n, allocs, frees);
}
// 1 freed, 0 references remain, or -code.
static inline int ohg_owner_release(oh_slab_t *h, uintptr_t o, uintptr_t p, int decref) {
	int r = ohi_owner_release(h, (ohi_tcache_t *)o, (void *)p, decref ? OHI_RELEASE_DECREF : OHI_RELEASE_FREE,
	                          decref ? "oh_slab_decref" : "oh_free");
	return r >= 0 ? r : -ohg_code(errno);
}
#cgo noescape ohg_owner_take
#cgo nocallback ohg_owner_take
#cgo noescape ohg_owner_return
#cgo nocallback ohg_owner_return
*/
import "C"

import "unsafe"

// Owner is a slab owner of the core (0: none; every call then takes the
// central lists). It is the core's memory, not Go's: storing it in a Go
// structure holds no Go pointer.
type Owner uintptr

// NewOwner registers a new owner with the heap; 0 when the core is out of
// metadata memory (the caller then uses the central lists).
func (s Slab) NewOwner() Owner { return Owner(C.ohg_owner_new(s.h)) }

// DeleteOwner hands o's slabs back to the heap and frees o. Nobody may use o
// any more, and after Destroy of the heap this only frees it.
func (s Slab) DeleteOwner(o Owner) {
	if o != 0 {
		C.ohg_owner_delete(s.h, C.uintptr_t(o))
	}
}

// TakeOwned is TakeCached through owner o: the chunks come from o's slabs.
func (s Slab) TakeOwned(o Owner, cls int, out []unsafe.Pointer) int {
	if len(out) == 0 {
		return 0
	}
	return int(C.ohg_owner_take(s.h, C.uintptr_t(o), C.int(cls), (*C.uintptr_t)(unsafe.Pointer(&out[0])), C.size_t(len(out))))
}

// ReturnOwned is ReturnCached through owner o: chunks of o's slabs go back to
// its free lists, others to their owners' cross-owner stacks.
func (s Slab) ReturnOwned(o Owner, cls int, ptrs []unsafe.Pointer, allocs, frees uint64) {
	var p *C.uintptr_t
	if len(ptrs) > 0 {
		p = (*C.uintptr_t)(unsafe.Pointer(&ptrs[0]))
	}
	C.ohg_owner_return(s.h, C.uintptr_t(o), C.int(cls), p, C.size_t(len(ptrs)), C.uint64_t(allocs), C.uint64_t(frees))
}

// ReleaseRun releases p (drops one reference when decref, else frees it) as
// DecRef or Free do, a run's pages going back through owner o.
func (s Slab) ReleaseRun(o Owner, p uintptr, decref bool) (freed bool, err Err) {
	d := C.int(0)
	if decref {
		d = 1
	}
	r := int(C.ohg_owner_release(s.h, C.uintptr_t(o), C.uintptr_t(p), d))
	if r < 0 {
		return false, Err(-r)
	}
	return r == 1, OK
}
