package offheap

// leaks.go is the leak report: the Allocation a report lists, built from the
// core's records (bindings.Leak), and Leaks for the process-wide allocator.
// Each instance's Leaks sits with its type (slab.go, pool.go, bufferpool.go,
// arena_stats.go); call sites come from the heap profiler (profile.go), names
// from names.go.

import "github.com/offheap/offheap/bindings"

// Allocation is a live allocation, as reported by Leaks.
type Allocation struct {
	Addr     uintptr
	Size     int // usable size
	RefCount int
	Class    int // size class, -1 for whole pages
	// Name is the name of the allocator instance the allocation belongs to
	// (SlabConfig.Name, PoolConfig.Name, NewBufferPoolNamed, NewArenaNamed);
	// "" for an unnamed instance and the process-wide allocator.
	Name string
	// Stack is where the allocation was made, if the heap profiler sampled
	// it (SetProfileRate; CallSite formats it), else nil.
	Stack []uintptr
}

func allocations(ls []bindings.Leak) []Allocation {
	out := make([]Allocation, len(ls))
	for i, l := range ls {
		out[i] = Allocation{Addr: l.Ptr, Size: int(l.Size), RefCount: int(l.Refs), Class: int(l.Class)}
	}
	return out
}

// Leaks lists the live allocations of the process-wide allocator (Alloc,
// Calloc, TryAlloc, MakeSlice): what a program still holds, for a leak
// report at shutdown or in a test. Buffers sitting free in caches are not
// listed.
func Leaks() []Allocation { return withCallSites(allocations(bindings.Slab{}.Leaks())) }
