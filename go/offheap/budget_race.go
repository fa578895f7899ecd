//go:build race

package offheap

// budget_race.go is budget.go for race builds: the same per-P byte counts,
// kept with atomics, since the race detector cannot see that pinning a
// goroutine to its P orders the plain accesses budget.go makes.

import (
	"runtime"
	"sync/atomic"
)

type budget struct {
	left atomic.Int64
	_    [56]byte
}

var budgets = make([]budget, runtime.GOMAXPROCS(0))

func resetBudgets(rate int64) {
	for i := range budgets {
		budgets[i].left.Store(nextSample(rate))
	}
}

func spend(n int) (sample bool, rate int64) {
	pid := procPin()
	procUnpin()
	return spendSlow(pid, n)
}

// spendFast has no fast form in race builds.
func spendFast(pid int, n int) bool { return false }

// spendSlow is spend for a caller already pinned to P pid.
func spendSlow(pid int, n int) (sample bool, rate int64) {
	b := &budgets[uint(pid)%uint(len(budgets))]
	if b.left.Add(-int64(n)) >= 0 {
		return false, 0
	}
	rate = profRate.Load()
	b.left.Store(nextSample(rate))
	return rate != 0, rate
}
