//go:build race

package offheap

// gate_race.go is the owner's side of the shard handshake (gate.go) in race
// builds.

// enter is gate_plain.go's with a swap: goroutines that take turns on one P
// are ordered by the pinning and the stealers by a process-wide barrier,
// neither of which the race detector can see; the swap's acquire of the
// previous owner's leave, and sequentially consistent stores, make both
// orders visible to it.
func (sh *gate) enter() bool {
	sh.inOp.Swap(1)
	if sh.stolen.Load() == 0 {
		return true
	}
	sh.inOp.Store(0)
	return false
}

func (sh *gate) leave() { sh.inOp.Store(0) }

func stealFence() {}
