//go:build offheap_shared || asan

package bindings

// chunk_shared.go stands in for chunk_bundled.go where the chunk protocol
// cannot be mirrored: an installed liboffheap hides the core's internals, and
// under -asan the core poisons free chunks so that only a call into it can
// unpoison one. FastPath is false and go/offheap never calls these.

// FastPath reports whether the call-free chunk protocol is available.
const FastPath = false

// Word is a chunk's state word (unused without the fast path).
type Word struct{ _ *uint32 }

// Large and Run are Find's classes for whole-page allocations.
const (
	Large = -1
	Run   = -2
)

// RunRange is unknown without the core's internals (and unused: no caches).
func (s Slab) RunRange() (min, max uintptr, ok bool) { return 0, 0, false }

// PageSize is unknown without the core's internals (and unused: no caches).
func (s Slab) PageSize() uintptr { return 4096 }

// ClassRunPages is unknown without the core's internals: 0 (no caches).
func (s Slab) ClassRunPages(cls int) int { return 0 }

// RunSlabs is unknown without the core's internals: 0.
func (s Slab) RunSlabs() uint64 { return 0 }

// Find is unavailable without the fast path: every release is a call.
func (s Slab) Find(p uintptr) (Word, int, Err) { return Word{}, 0, EINVAL }

func (s Slab) FindOwned(p uintptr) (Word, int, Owner, Err) { return Word{}, 0, 0, EINVAL }

func (w Word) TryRelease(decref bool) (uint32, Err) {
	panic("offheap: internal error: no chunk protocol in this build")
}
func (w Word) TryAddRef() Err { panic("offheap: internal error: no chunk protocol in this build") }
func (w Word) RefCount() int  { panic("offheap: internal error: no chunk protocol in this build") }
func (w Word) HandOut()       { panic("offheap: internal error: no chunk protocol in this build") }
func (w Word) RunPages() int  { panic("offheap: internal error: no chunk protocol in this build") }
func (w Word) StoreForTest(v uint32) {
	panic("offheap: internal error: no chunk protocol in this build")
}
