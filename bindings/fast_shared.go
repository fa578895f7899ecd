//go:build offheap_shared || asan

package bindings

import "unsafe"

// FastPath reports whether the call-free chunk protocol is available: not
// with a shared library, whose internals are hidden, nor under -asan, where
// the core poisons free chunks and only a call into it unpoisons one.
const FastPath = false

// Chunk state words (unused without the fast path).
const (
	WordCached = 0x40000000
	WordFree   = 0x80000000
)

// ChunkWord always reports false without the fast path.
func (s Slab) ChunkWord(p uintptr) (w *uint32, cls int, ok bool) { return nil, 0, false }

// Affinity is a cache's slab preference (unused without the fast path).
type Affinity struct {
	base  uintptr
	token uint32
	_     uint32
}

// NewAffinity returns a zero affinity without the fast path.
func NewAffinity() Affinity { return Affinity{} }

// TakeCached is unavailable without the fast path.
func (s Slab) TakeCached(cls int, out []unsafe.Pointer, aff *Affinity) int { return 0 }

// ReturnCached is unavailable without the fast path.
func (s Slab) ReturnCached(cls int, ptrs []unsafe.Pointer, allocs, frees uint64) {
	if len(ptrs) > 0 {
		panic("offheap: internal error: ReturnCached without the fast path")
	}
}

// DebugMode reports the core's debug option.
func DebugMode() bool { return OptionGet(OptDebug) != 0 }
