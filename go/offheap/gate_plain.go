//go:build !race

package offheap

// gate_plain.go is the owner's side of the shard handshake (gate.go) in
// the form the core's thread caches use (internal.h, struct ohi_tcache_s):
// plain stores of inOp, no fence, because every stealer runs a process-wide
// barrier (membarrier) between its store of stolen and its read of inOp.
// Where the OS has no such barrier the owner's store of 1 is sequentially
// consistent instead (a locked instruction on amd64). Race builds use
// gate_race.go: the detector cannot see either argument.

import (
	"unsafe"

	"github.com/offheap/offheap/bindings"
)

// strongEnter is set when the OS has no process-wide barrier.
var strongEnter = !bindings.ProcessBarrier()

func (sh *gate) enter() bool {
	if strongEnter {
		sh.inOp.Store(1)
	} else {
		*(*uint32)(unsafe.Pointer(&sh.inOp)) = 1
	}
	if sh.stolen.Load() == 0 {
		return true
	}
	sh.inOp.Store(0)
	return false
}

func (sh *gate) leave() { storeRelease(&sh.inOp, 0) }

// stealFence orders a stealer's store of stolen before its read of inOp
// against owners that entered with a plain store.
func stealFence() {
	if !strongEnter && !bindings.ProcessBarrier() {
		panic("offheap: internal error: the process-wide memory barrier failed after it had worked")
	}
}
