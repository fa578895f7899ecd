// modes.go is gcpressure's mode table (how each mode sets up its allocator)
// and the sync-pool mode.
package main

import (
	"runtime/debug"
	"sync"

	"github.com/offheap/offheap/bench/internal/allocs"
	"github.com/offheap/offheap/bench/internal/harness"
)

// allocator is how a mode obtains and releases the workload's buffers.
// Alloc(n) returns a buffer of len n (contents unspecified: the workload
// writes every byte); Free(b) is given exactly a slice Alloc returned.
type allocator interface {
	Alloc(n int) []byte
	Free(b []byte)
	Close() error
}

type mode struct {
	name string
	// setup prepares the process (e.g. the memory limit) and returns the
	// mode's allocator. It runs in the child before the measurement starts.
	setup func(cfg config) (allocator, error)
}

// modes is the table of modes, in report order; native is the baseline.
var modes = []mode{
	{"native", func(config) (allocator, error) { return allocs.Native{}, nil }},
	{"native-memlimit", func(cfg config) (allocator, error) {
		debug.SetMemoryLimit(memLimit(cfg))
		return allocs.Native{}, nil
	}},
	{"sync-pool", func(cfg config) (allocator, error) { return newSyncPoolAlloc(cfg.Size), nil }},
	{"offheap", newOffheapAlloc},
	{"offheap-pool", newOffheapPoolAlloc},
	{"offheap-slab", newOffheapSlabAlloc},
	// The GOGC trade-off, as a pair: the same GOGC for both. With the bulk
	// off-heap the Go heap is a few MB, so a GOGC that lets it grow 5x costs
	// offheap almost nothing, while native's heap target (and RSS) grows with
	// its gigabyte of live buffers.
	{"native-gogc400", func(config) (allocator, error) {
		debug.SetGCPercent(pairGOGC)
		return allocs.Native{}, nil
	}},
	{"offheap-gogc400", func(cfg config) (allocator, error) {
		debug.SetGCPercent(pairGOGC)
		return newOffheapAlloc(cfg)
	}},
}

// pairGOGC is the GOGC of the native-gogc400 / offheap-gogc400 pair.
const pairGOGC = 400

// memLimit is the GOMEMLIMIT of native-memlimit: 1.5 x the live bytes, what a
// Go user tries first to keep the heap near its live size.
func memLimit(cfg config) int64 { return cfg.Live + cfg.Live/2 }

// modeTable is the modes' names for -modes (see harness.Modes).
var modeTable = func() (t harness.Modes) {
	for _, m := range modes {
		t = append(t, harness.Mode{Name: m.name})
	}
	return t
}()

func lookupMode(name string) *mode {
	for i := range modes {
		if modes[i].name == name {
			return &modes[i]
		}
	}
	return nil
}

// syncPoolAlloc keeps one sync.Pool per size class (exact size for a fixed
// -size, power-of-two classes for a range), holding *[]byte as the sync.Pool
// documentation recommends. The boxes are recycled so that steady-state Put
// allocates nothing.
type syncPoolAlloc struct {
	classes sizeClasses
	pools   []sync.Pool
	boxes   []*[]byte // spare boxes for Put (the workload is one goroutine)
}

func newSyncPoolAlloc(s sizeSpec) *syncPoolAlloc {
	c := newSizeClasses(s)
	return &syncPoolAlloc{classes: c, pools: make([]sync.Pool, c.count)}
}

func (a *syncPoolAlloc) Alloc(n int) []byte {
	idx, size := a.classes.class(n)
	if v := a.pools[idx].Get(); v != nil {
		box := v.(*[]byte)
		b := *box
		*box = nil
		a.boxes = append(a.boxes, box)
		return b[:n]
	}
	return make([]byte, size)[:n]
}

func (a *syncPoolAlloc) Free(b []byte) {
	idx, size := a.classes.class(len(b))
	var box *[]byte
	if k := len(a.boxes); k > 0 {
		box, a.boxes = a.boxes[k-1], a.boxes[:k-1]
	} else {
		box = new([]byte)
	}
	*box = b[:size]
	a.pools[idx].Put(box)
}

func (a *syncPoolAlloc) Close() error { return nil }
