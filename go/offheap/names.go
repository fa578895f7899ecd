package offheap

// names.go lets a program name its allocator instances (SlabConfig.Name,
// PoolConfig.Name, NewBufferPoolNamed, NewArenaNamed), so that what a leak
// report, a statistics page or a heap profile shows says which cache,
// buffer pool or request arena holds the memory, without an adapter keeping
// its own map from addresses to owners. The name is on every Allocation that
// Leaks returns, in the instance's Stats, in ReadStats().Instances (and so in
// PublishExpvar's output), and on the instance's heap profile samples as the
// label "allocator".
//
// Names live in a table keyed by the instance's internals (its heap, its
// bounded pool, its arena's accounting), because that is what the allocation
// and release paths see; the table is read only when a sample is taken or a
// report is made.

import (
	"runtime"
	"sort"
	"sync"
	"sync/atomic"
)

// namedInstance is an entry of the table of named instances.
type namedInstance struct {
	kind, name string
	// read returns the instance's figures; ok is false once it is closed.
	read func() (st InstanceStats, ok bool)
}

var (
	names      sync.Map // *heap, *boundedPool or *arenaAcct -> *namedInstance
	namedCount atomic.Int64
)

// InstanceStats are the figures of one named allocator instance, as
// ReadStats lists them.
type InstanceStats struct {
	Kind       string // "Slab", "Pool", "BufferPool" or "Arena"
	Name       string
	InUseBytes uint64 // bytes of live allocations (Arena: handed out since the last Reset)
	Allocs     uint64 // cumulative
	Frees      uint64 // cumulative (Arena: 0; a Reset frees everything at once)
}

// nameInstance records the name of an instance; an empty name records nothing.
func nameInstance(key any, kind, name string, read func() (InstanceStats, bool)) {
	if name == "" {
		return
	}
	if _, loaded := names.Swap(key, &namedInstance{kind: kind, name: name, read: read}); !loaded {
		namedCount.Add(1)
	}
}

// unnameInstance drops the name of an instance that was closed or collected.
func unnameInstance(key any) {
	if _, loaded := names.LoadAndDelete(key); loaded {
		namedCount.Add(-1)
	}
}

// instanceName returns the name of the instance key ("" if unnamed).
func instanceName(key any) string {
	if namedCount.Load() == 0 {
		return ""
	}
	if v, ok := names.Load(key); ok {
		return v.(*namedInstance).name
	}
	return ""
}

// ownerLabels returns the kind and name of the allocator instance owner, for
// the heap profile's labels.
func ownerLabels(owner any) (kind, name string) {
	switch o := owner.(type) {
	case *heap:
		kind = o.kind
		if kind == "" {
			kind = "Alloc"
		}
	case *boundedPool:
		kind = "Pool"
	case *arenaAcct:
		kind = "Arena"
	default:
		return "Alloc", ""
	}
	return kind, instanceName(owner)
}

// namedInstances returns the figures of the named instances still open,
// sorted by kind and name.
func namedInstances() []InstanceStats {
	if namedCount.Load() == 0 {
		return nil
	}
	var out []InstanceStats
	names.Range(func(key, v any) bool {
		if st, ok := v.(*namedInstance).read(); ok {
			out = append(out, st)
		} else {
			unnameInstance(key) // closed since it was named
		}
		return true
	})
	sort.Slice(out, func(i, j int) bool {
		if out[i].Kind != out[j].Kind {
			return out[i].Kind < out[j].Kind
		}
		return out[i].Name < out[j].Name
	})
	return out
}

// readHeap returns the figures of a named heap, ok false once it is closed.
func readHeap(h *heap, kind, name string) (st InstanceStats, ok bool) {
	defer func() {
		if recover() != nil { // closed by another goroutine meanwhile
			ok = false
		}
	}()
	if h.closed.Load() {
		return st, false
	}
	bs := h.stats(kind + ".Stats")
	return InstanceStats{Kind: kind, Name: name, InUseBytes: bs.InUseBytes, Allocs: bs.Allocs, Frees: bs.Frees}, true
}

// nameHeap names the heap of a Slab, Pool or BufferPool.
func nameHeap(h *heap, name string) {
	kind := h.kind
	nameInstance(h, kind, name, func() (InstanceStats, bool) { return readHeap(h, kind, name) })
}

// unnameHeap is the cleanup of an unreachable named Slab or BufferPool.
func unnameHeap(h *heap) { unnameInstance(h) }

// named sets the name on allocations (Leaks) and fills in the stacks of the
// sampled ones.
func named(as []Allocation, name string) []Allocation {
	for i := range as {
		as[i].Name = name
	}
	return withCallSites(as)
}

// NewBufferPoolNamed is NewBufferPool with a name, which the pool's Leaks,
// ReadStats().Instances, PublishExpvar and the heap profile (label
// "allocator") show.
func NewBufferPoolNamed(size int, name string) *BufferPool {
	p := NewBufferPool(size)
	if name != "" {
		nameHeap(p.h, name)
		runtime.AddCleanup(p, unnameHeap, p.h)
	}
	return p
}

// Name returns the name the pool was made with ("" if none).
func (p *BufferPool) Name() string {
	p.check("BufferPool.Name")
	return instanceName(p.h)
}

// NewArenaNamed is NewArena with a name, which the arena's Leaks, Stats,
// ReadStats().Instances, PublishExpvar and the heap profile (label
// "allocator") show.
func NewArenaNamed(blockSize int, name string) (*Arena, error) {
	a, err := NewArena(blockSize)
	if err != nil {
		return nil, err
	}
	nameInstance(&a.acct, "Arena", name, func() (st InstanceStats, ok bool) {
		defer func() {
			if recover() != nil { // closed
				ok = false
			}
		}()
		as := a.Stats()
		return InstanceStats{Kind: "Arena", Name: name, InUseBytes: as.InUseBytes, Allocs: as.TotalAllocs}, true
	})
	return a, nil
}

// Name returns the name the arena was made with ("" if none).
func (a *Arena) Name() string {
	a.check("Arena.Name")
	return instanceName(&a.acct)
}

// Name returns the name the Slab was made with (SlabConfig.Name).
func (s *Slab) Name() string {
	s.check("Slab.Name")
	return s.name
}

// Name returns the name the pool was made with (PoolConfig.Name).
func (p *Pool) Name() string {
	p.check("Pool.Name")
	return p.name
}
