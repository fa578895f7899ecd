package offheap

// gate.go is the owner/stealer handshake of one per-P shard, in one place
// because both users share it: a heap's shards (cache.go) and an Arena's
// (arena.go). The owner is the goroutine pinned to the shard's P; a stealer
// (the janitor, Stats, Scavenge, Close) takes the shard from it. This
// file holds the type and the stealer's side; the owner's enter and leave
// are in gate_plain.go (gate_store_*.go for the release store that ends an
// operation) and, for race builds, gate_race.go.

import (
	"runtime"
	"sync/atomic"
)

// gate is the owner/stealer handshake of one per-P shard (cache.go): a
// heap's shards and an Arena's use it.
type gate struct {
	inOp   atomic.Uint32 // the owner is inside an operation on the shard
	stolen atomic.Uint32 // 0, or held by a stealer (stealTemp, stealClosed)
}

const (
	stealTemp   = 1
	stealClosed = 2
)

// steal takes the shard from its owner: once it returns, the owner is not
// inside an operation and will not enter one until unsteal. Stealers hold
// the heap's stealMu.
func (sh *gate) steal(v uint32) {
	sh.stolen.Store(v)
	stealFence()
	sh.waitOwner()
}

// waitOwner waits for the owner to leave: it is pinned and never blocks
// inside, so this is short.
func (sh *gate) waitOwner() {
	for sh.inOp.Load() != 0 {
		runtime.Gosched()
	}
}

func (sh *gate) unsteal() {
	if sh.stolen.Load() == stealTemp {
		sh.stolen.Store(0)
	}
}
