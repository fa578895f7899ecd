//go:build offheap_shared || asan

package bindings

// fast_shared.go stands in for fast_bundled.go where the call-free fast path
// is unavailable (an installed library, or -asan): no batches, and every
// operation is a call into the core.

import "unsafe"

// TakeCached is unavailable without the fast path.
func (s Slab) TakeCached(cls int, out []unsafe.Pointer) int { return 0 }

// ReturnCached is unavailable without the fast path.
func (s Slab) ReturnCached(cls int, ptrs []unsafe.Pointer, allocs, frees uint64) {
	if len(ptrs) > 0 {
		panic("offheap: internal error: ReturnCached without the fast path")
	}
}

// DebugMode reports the core's debug option.
func DebugMode() bool { return OptionGet(OptDebug) != 0 }

// ProcessBarrier reports that no process-wide barrier is available (this
// build has no per-P caches to steal).
func ProcessBarrier() bool { return false }
