package offheap

// fuzz_knobs_test.go - the process-wide knobs of the fuzz driver
// (fuzz_test.go) that only an exclusive worker turns: fault injection, the
// purge delay and debug level, and operations from a fresh OS thread.

import (
	"runtime"
	"time"

	"github.com/offheap/offheap/bindings"
)

// ---- global knobs (exclusive workers only) ---------------------------------------------

// armFaults makes the OS layer refuse memory for the next few operations:
// every k-th mapping, or all mappings past a byte budget.
func (w *worker) armFaults() {
	if w.pinnedFaults {
		return
	}
	every, budget := uint64(0), uint64(0)
	if b := w.src.next(); b%2 == 0 {
		every = 1 + uint64(b/2)%4
	} else {
		budget = uint64(b/2) * 64 << 10
		if budget == 0 {
			budget = 1
		}
	}
	if bindings.FailOS(every, budget) != nil {
		return // the offheap_shared build has no fault injection
	}
	w.faultOps = 1 + int(w.src.next())%32
}

// knobs saves the options a fuzz run may change.
type knobs struct {
	delay time.Duration
	debug DebugLevel
}

func saveKnobs() knobs { return knobs{PurgeDelay(), CurrentDebugLevel()} }

func (k knobs) restore() {
	bindings.FailOS(0, 0)
	SetPurgeDelay(k.delay)
	SetDebugLevel(k.debug)
}

func (w *worker) toggleOption() {
	switch v := w.src.next(); v % 3 {
	case 0:
		SetPurgeDelay([]time.Duration{0, time.Millisecond, time.Second, -1}[v/3%4])
	case 1:
		SetDebugLevel(DebugLevel(v / 3 % 3))
	case 2:
		SetPurgeDelay(time.Second)
		SetDebugLevel(DebugOff)
	}
}

// onNewThread runs the next few operations on a goroutine locked to an OS
// thread that exits afterwards (a goroutine that returns while locked takes
// its thread with it): the core's per-thread caches of that thread are used
// and then flushed by the thread's exit.
func (w *worker) onNewThread() {
	k := 1 + int(w.src.next())%16
	done := make(chan struct{})
	go func() {
		defer close(done)
		runtime.LockOSThread()
		for i := 0; i < k && w.err == nil && !w.src.done(); i++ {
			w.step()
		}
	}()
	<-done
}
