package offheap

import (
	"fmt"
	"time"

	"github.com/offheap/offheap/bindings"
)

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
	SlabBytes     uint64 // bytes of the slabs the instance owns
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

// Scavenge hands all free memory back to the OS now, without waiting for the
// purge delay (like debug.FreeOSMemory for the Go heap), and returns the number
// of bytes decommitted. It empties the Go-side caches first.
func Scavenge() int {
	for _, h := range heapsSnapshot() {
		h.flush()
	}
	return int(bindings.Purge())
}

// SetPurgeDelay sets how long freed memory stays committed before it is
// decommitted: 0 = at once, a negative duration = never (Scavenge still
// does). The default is the environment's OFFHEAP_PURGE_DELAY_MS, or one
// second. It is rounded down to milliseconds; at most 24 hours.
func SetPurgeDelay(d time.Duration) error {
	ms := d.Milliseconds()
	if d < 0 {
		ms = -1
	}
	if e := bindings.OptionSet(bindings.OptPurgeDelayMS, ms); e != bindings.OK {
		return fmt.Errorf("offheap: SetPurgeDelay(%v): out of range (at most 24h)", d)
	}
	return nil
}

// PurgeDelay returns the current purge delay (negative: never).
func PurgeDelay() time.Duration {
	ms := bindings.OptionGet(bindings.OptPurgeDelayMS)
	if ms < 0 {
		return -1
	}
	return time.Duration(ms) * time.Millisecond
}

// SetDebug switches debug mode (also OFFHEAP_DEBUG=1): freed memory is
// poisoned (filled with 0xdf), so a use after free reads garbage instead of
// plausible data, and a write after free is reported when the chunk is
// handed out again (see DebugReports).
//
// SetDebug(true) is SetDebugLevel(DebugPoison).
func SetDebug(on bool) {
	v := int64(0)
	if on {
		v = 1
		bindings.InstallDebugReports()
	}
	bindings.OptionSet(bindings.OptDebug, v)
}

// Debug reports whether debug mode is on.
func Debug() bool { return bindings.OptionGet(bindings.OptDebug) != 0 }

// DebugLevel selects what debug mode does (OFFHEAP_DEBUG).
type DebugLevel int

const (
	DebugOff DebugLevel = 0
	// DebugPoison fills freed memory with 0xdf and sends every operation to
	// the core (no caches), which checks ownership and state on each release.
	DebugPoison DebugLevel = 1
	// DebugGuard also makes freed buffers of a page or more inaccessible
	// until they are handed out again: a use after free faults at the guilty
	// access (a crash with its stack, instead of silent corruption).
	DebugGuard DebugLevel = 2
)

// SetDebugLevel sets the debug level; best before the first allocation, so
// that nothing freed earlier sits unpoisoned in a cache.
func SetDebugLevel(l DebugLevel) error {
	if l > DebugOff && l <= DebugGuard {
		bindings.InstallDebugReports()
	}
	if e := bindings.OptionSet(bindings.OptDebug, int64(l)); e != bindings.OK {
		return fmt.Errorf("offheap: SetDebugLevel(%d): out of range (%d..%d)", l, DebugOff, DebugGuard)
	}
	return nil
}

// DebugReports returns the reports debug mode made since the last call,
// oldest first (the last 64 at most): each write after free that the core
// found when it handed the chunk out again, as
//
//	offheap: use after free: chunk 0xc000123400 (size 208) was modified at offset 37 after it was freed
//
// Each report is also written to the process's standard error as it
// happens, unless SetDebugReportsToStderr(false). Reports are collected once
// debug mode was switched on by SetDebug, SetDebugLevel or OFFHEAP_DEBUG.
// The address is the chunk's first byte and the offset the first byte that
// lost its poison; the culprit is whoever held a slice of that chunk before
// its last release.
func DebugReports() []string { return bindings.DebugReports() }

// SetDebugReportsToStderr says whether debug mode's reports are written to
// standard error as they happen (the default), besides being kept for
// DebugReports.
func SetDebugReportsToStderr(on bool) { bindings.DebugReportsToStderr(on) }

func init() {
	if CurrentDebugLevel() > DebugOff { // OFFHEAP_DEBUG
		bindings.InstallDebugReports()
	}
}

// CurrentDebugLevel returns the debug level in force.
func CurrentDebugLevel() DebugLevel { return DebugLevel(bindings.OptionGet(bindings.OptDebug)) }

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
