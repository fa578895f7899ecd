package offheap

// arena_stats.go gives Arena the Stats and Leaks every other allocator has.
// The core's arena keeps no per-allocation records and no counters the
// binding exposes, so the Go side counts: plain adds in the P's shard on the
// bump path (arena.go), atomic adds on the locked path, and a list of the
// allocations the heap profiler sampled, which Reset drops from the
// profile's in-use figures.

import (
	"sync"
	"sync/atomic"
	"unsafe"
)

// ArenaStats are the figures of one Arena.
type ArenaStats struct {
	Name        string // NewArenaNamed's name, if any
	InUseBytes  uint64 // bytes handed out since the last Reset (requested sizes)
	Allocs      uint64 // allocations since the last Reset
	TotalAllocs uint64 // allocations since NewArena
	TotalBytes  uint64 // bytes handed out since NewArena
	Resets      uint64 // Reset and ResetDecommit calls
}

// arenaAcct is the Go-side accounting of an Arena.
type arenaAcct struct {
	bytes, allocs           atomic.Uint64
	totalBytes, totalAllocs atomic.Uint64
	resets                  atomic.Uint64
	mu                      sync.Mutex
	sampled                 []uintptr // addresses the profiler sampled since the last Reset
}

// noteSlow counts an allocation of the locked path (the arena's mu held).
func (c *arenaAcct) noteSlow(n int) {
	c.bytes.Add(uint64(n))
	c.allocs.Add(1)
	c.totalBytes.Add(uint64(n))
	c.totalAllocs.Add(1)
}

// sample offers an allocation made in Reset generation gen to the heap
// profiler. It runs unpinned and unlocked, so a Reset may have come in
// between: a sample of an allocation it freed is forgotten at once.
func (c *arenaAcct) sample(p unsafe.Pointer, n int, gen uint64) {
	if sample, rate := spend(n); sample {
		c.sampleDrawn(p, n, gen, rate)
	}
}

// sampleDrawn is sample for an allocation whose budget was drawn already
// (spendSlow chose it, at rate).
func (c *arenaAcct) sampleDrawn(p unsafe.Pointer, n int, gen uint64, rate int64) {
	sampleAlloc(uintptr(p), n, rate, c)
	c.mu.Lock()
	if c.resets.Load() == gen {
		c.sampled = append(c.sampled, uintptr(p))
	} else {
		forgetSample(uintptr(p))
	}
	c.mu.Unlock()
}

// noteReset runs with the arena locked: every allocation ends at once (the
// shards' counts since the Reset go with the epoch, arena.go).
func (c *arenaAcct) noteReset() {
	c.bytes.Store(0)
	c.allocs.Store(0)
	c.resets.Add(1)
	c.mu.Lock()
	for _, p := range c.sampled {
		forgetSample(p)
	}
	c.sampled = c.sampled[:0]
	c.mu.Unlock()
}

// Stats returns the arena's figures. It panics if the arena is closed.
func (a *Arena) Stats() ArenaStats {
	a.check("Arena.Stats")
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.closed.Load() {
		panic(closedMisuse("Arena.Stats", "Arena"))
	}
	c := &a.acct
	st := ArenaStats{
		Name:        instanceName(c),
		InUseBytes:  c.bytes.Load(),
		Allocs:      c.allocs.Load(),
		TotalAllocs: c.totalAllocs.Load(),
		TotalBytes:  c.totalBytes.Load(),
		Resets:      c.resets.Load(),
	}
	a.stealAll(stealTemp)
	for i := range a.shards {
		sh := &a.shards[i]
		if sh.epoch == st.Resets {
			st.InUseBytes += sh.bytes
			st.Allocs += sh.allocs
		}
		st.TotalBytes += sh.totalBytes + sh.bytes
		st.TotalAllocs += sh.totalAllocs + sh.allocs
	}
	a.unstealAll()
	return st
}

// Leaks lists the allocations made since the last Reset that the heap
// profiler sampled, with their call sites (every allocation with
// SetProfileRate(1)). An arena frees nothing one by one, so it keeps no list
// of every allocation; what it holds in all is Stats().InUseBytes. It panics
// if the arena is closed.
func (a *Arena) Leaks() []Allocation {
	a.check("Arena.Leaks")
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.closed.Load() {
		panic(closedMisuse("Arena.Leaks", "Arena"))
	}
	a.acct.mu.Lock()
	addrs := append([]uintptr(nil), a.acct.sampled...)
	a.acct.mu.Unlock()
	var out []Allocation
	name := instanceName(&a.acct)
	prof.mu.Lock()
	defer prof.mu.Unlock()
	for _, p := range addrs {
		if r, ok := prof.live[p]; ok {
			out = append(out, Allocation{Addr: p, Size: r.b.size, RefCount: 1, Class: -1, Name: name, Stack: r.b.stk})
		}
	}
	return out
}
