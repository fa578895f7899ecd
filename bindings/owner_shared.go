//go:build offheap_shared || asan

package bindings

// owner_shared.go stands in for owner_bundled.go without the fast path (an
// installed library, or -asan): no owners, so batches take the central lists.

import "unsafe"

// Owner is unavailable without the fast path (owner_bundled.go).
type Owner uintptr

// NewOwner returns no owner without the fast path.
func (s Slab) NewOwner() Owner { return 0 }

// DeleteOwner has nothing to free without the fast path.
func (s Slab) DeleteOwner(o Owner) {}

// TakeOwned is unavailable without the fast path.
func (s Slab) TakeOwned(o Owner, cls int, out []unsafe.Pointer) int { return 0 }

// ReturnOwned is unavailable without the fast path.
func (s Slab) ReturnOwned(o Owner, cls int, ptrs []unsafe.Pointer, allocs, frees uint64) {
	if len(ptrs) > 0 {
		panic("offheap: internal error: ReturnOwned without the fast path")
	}
}

// ReleaseRun is unavailable without the fast path (go/offheap never calls it).
func (s Slab) ReleaseRun(o Owner, p uintptr, decref bool) (bool, Err) {
	panic("offheap: internal error: ReleaseRun without the fast path")
}
