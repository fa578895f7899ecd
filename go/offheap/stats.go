package offheap

// stats.go holds the figures offheap reports: process-wide (ReadStats) and
// per instance (SlabStats, which each type's Stats method fills), converted
// from the core's oh_stats_t (bindings.Stats). cache_stats.go corrects them
// for the chunks held in the Go-side caches, memlimit.go adds the budget.

import "github.com/offheap/offheap/bindings"

// ClassStats describes one size class.
type ClassStats struct {
	ChunkSize    uint64 // bytes per chunk
	Slabs        uint64 // slabs the class owns now
	ChunksInUse  uint64 // chunks allocated and not freed
	ChunksCached uint64 // free chunks waiting in per-thread or per-P caches
	Allocs       uint64 // cumulative
	Frees        uint64 // cumulative
}

// Stats are process-wide figures of offheap (every instance: the process-wide
// allocator, Slabs, Pools, Arenas, BufferPools and Map), with per-class rows
// for the process-wide allocator.
type Stats struct {
	MappedBytes      uint64 // address space mapped now
	CommittedBytes   uint64 // mapped and not decommitted: an upper bound on the resident set
	InUseBytes       uint64 // bytes of live allocations (chunk sizes)
	DecommittedBytes uint64 // cumulative bytes handed back to the OS
	Allocs, Frees    uint64 // cumulative allocations and frees of the instances alive now
	Purges           uint64 // cumulative decommits by the purge policy
	SlabsEmpty       uint64 // empty slabs kept committed for reuse
	SlabsDecommitted uint64 // empty slabs decommitted, cached for any size class
	LargeInUse       uint64 // live allocations larger than a slab (whole pages)
	// The process budget (SetMemoryLimit): the limit (NoMemoryLimit: none),
	// the total it counts - offheap's committed bytes plus the Go runtime's
	// memory, as GOMEMLIMIT counts it - and the Go part alone.
	MemoryLimit    int64
	TotalBytes     uint64
	GoRuntimeBytes uint64
	Classes        []ClassStats
	// Instances lists the named allocator instances that are open
	// (SlabConfig.Name, PoolConfig.Name, NewBufferPoolNamed, NewArenaNamed),
	// each with its own figures, by kind and name.
	Instances []InstanceStats `json:",omitempty"`
}

// SlabStats are the figures of one Slab (or Pool, or BufferPool).
type SlabStats struct {
	Name          string // the instance's name (SlabConfig.Name, PoolConfig.Name), if any
	InUseBytes    uint64 // bytes of live allocations (chunk sizes)
	SlabBytes     uint64 // bytes of the slabs the instance owns (with an installed library, its runs of pages' slabs left out)
	LargeInUse    uint64 // live allocations larger than a slab
	Allocs, Frees uint64 // cumulative
	SlabsEmpty    uint64 // empty slabs kept committed for reuse
	Classes       []ClassStats
}

func classStats(bs *bindings.Stats) []ClassStats {
	cs := make([]ClassStats, len(bs.Classes))
	for i, c := range bs.Classes {
		cs[i] = ClassStats(c)
	}
	return cs
}

func slabStats(bs *bindings.Stats, slabSize int) SlabStats {
	st := SlabStats{
		InUseBytes: bs.InUseBytes,
		LargeInUse: bs.LargeInUse,
		Allocs:     bs.Allocs,
		Frees:      bs.Frees,
		SlabsEmpty: bs.SlabsEmpty,
		Classes:    classStats(bs),
	}
	for _, c := range bs.Classes {
		st.SlabBytes += c.Slabs * uint64(slabSize)
	}
	return st
}

// ReadStats returns the current figures.
func ReadStats() Stats {
	var g, d bindings.Stats
	bindings.ReadStats(&g)
	bindings.DefaultSlab().ReadStats(&d)
	// Chunks in the Go-side caches are in use as far as the core knows.
	for _, h := range heapsSnapshot() {
		chunks, allocs, frees := h.cached()
		adjustStats(&g, h, chunks, allocs, frees, false)
		if h == defaultHeap {
			adjustStats(&d, h, chunks, allocs, frees, true)
		}
	}
	st := Stats{
		MappedBytes:      g.MappedBytes,
		CommittedBytes:   g.CommittedBytes,
		InUseBytes:       g.InUseBytes,
		DecommittedBytes: g.DecommittedBytes,
		Allocs:           g.Allocs,
		Frees:            g.Frees,
		Purges:           g.Purges,
		SlabsEmpty:       g.SlabsEmpty,
		SlabsDecommitted: g.SlabsDecommitted,
		LargeInUse:       g.LargeInUse,
		Classes:          classStats(&d),
		Instances:        namedInstances(),
	}
	st.MemoryLimit, st.TotalBytes, st.GoRuntimeBytes = memoryTotals()
	return st
}
