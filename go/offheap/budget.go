//go:build !race

package offheap

// budget.go is the heap profiler's unsampled path, which every Alloc, Calloc,
// MakeSlice and New pays: the runtime's mcache.nextSample, a per-P count of
// bytes left until the next sample. While the goroutine is pinned to its P
// (runtime.procPin) no other goroutine can run there, so the P's count is
// read and written with plain instructions - no lock prefix, no shared cache
// line - and SetProfileRate, which cannot write it, bumps an epoch that makes
// each P draw a fresh count at its next allocation. The race detector cannot
// see that pinning orders these accesses, so race builds use atomics
// (budget_race.go).

import (
	"runtime"
	"sync/atomic"
)

type budget struct {
	left  int64  // bytes until the next sample
	epoch uint64 // profEpoch when left was drawn
	_     [48]byte
}

// budgets has one entry per P at start-up; Ps added later by GOMAXPROCS
// share one atomic count.
var budgets = make([]budget, runtime.GOMAXPROCS(0))

var (
	profEpoch    atomic.Uint64
	sharedBudget atomic.Int64
)

func resetBudgets(rate int64) {
	sharedBudget.Store(nextSample(rate))
	profEpoch.Add(1)
}

// spend takes n bytes from the calling P's budget and reports whether this
// allocation is to be sampled, and at which rate.
func spend(n int) (sample bool, rate int64) {
	pid := procPin()
	sample, rate = spendSlow(pid, n)
	procUnpin()
	return sample, rate
}

// spendFast and spendSlow are spend for a caller already pinned to P pid
// (Arena.Alloc's bump path: one pin per allocation instead of two).
// spendFast takes n bytes from the P's budget when that draws no sample (the
// common case, small enough to inline); false leaves it to spendSlow.
func spendFast(pid int, n int) bool {
	if uint(pid) < uint(len(budgets)) {
		if b := &budgets[pid]; b.left >= int64(n) && b.epoch == profEpoch.Load() {
			b.left -= int64(n)
			return true
		}
	}
	return false
}

func spendSlow(pid int, n int) (sample bool, rate int64) {
	if uint(pid) >= uint(len(budgets)) {
		if sharedBudget.Add(-int64(n)) >= 0 {
			return false, 0
		}
		rate = profRate.Load()
		sharedBudget.Store(nextSample(rate))
		return rate != 0, rate
	}
	b := &budgets[pid]
	if e := profEpoch.Load(); b.epoch != e {
		b.epoch = e
		b.left = nextSample(profRate.Load())
	}
	b.left -= int64(n)
	if b.left >= 0 {
		return false, 0
	}
	rate = profRate.Load()
	b.left = nextSample(rate)
	return rate != 0, rate
}
