package offheap

// helper.go lets a function that allocates on behalf of its callers (a
// cache's getChunk, a pool wrapper) mark itself, as testing.T.Helper does, so
// that Allocation.CallSite names the wrapper's caller instead of the wrapper:
// a leak report of 3 000 chunks all made "in getChunk" says nothing.
//
// Helper runs on every call of the wrapper, so it must cost next to nothing:
// it reads its caller's return address (one frame-pointer load on amd64 and
// arm64, helper_pc*.go) and finds it in a small table of addresses already
// seen; only a new address takes a lock. The addresses are turned into
// function names when a call site is formatted, not before.

import (
	"runtime"
	"sync"
	"sync/atomic"
)

// helperSeen caches the return addresses Helper was called from.
var helperSeen [1024]atomic.Uintptr

var helpers struct {
	mu    sync.Mutex
	pcs   map[uintptr]struct{} // every address Helper was called from
	names map[string]bool      // the functions of pcs resolved so far
	done  int                  // len(pcs) when names was last brought up to date
}

// Helper marks the calling function as an allocation helper: CallSite skips
// its frames and names its caller, as testing.T.Helper does for test
// failures. Call it in a function that allocates for others:
//
//	func getChunk() []byte {
//		offheap.Helper()
//		return offheap.Alloc(chunkSize)
//	}
//
// A call costs a few nanoseconds once the function is known. Heap profiles
// keep the helper's frames (pprof shows the whole stack).
//
//go:noinline
func Helper() {
	pc := helperCallerPC()
	slot := &helperSeen[(pc^pc>>10)&uintptr(len(helperSeen)-1)]
	if slot.Load() == pc {
		return
	}
	helpers.mu.Lock()
	if helpers.pcs == nil {
		helpers.pcs = make(map[uintptr]struct{})
	}
	helpers.pcs[pc] = struct{}{}
	helpers.mu.Unlock()
	slot.Store(pc)
}

// helperNames returns the functions marked with Helper.
func helperNames() map[string]bool {
	helpers.mu.Lock()
	defer helpers.mu.Unlock()
	if helpers.done == len(helpers.pcs) {
		return helpers.names
	}
	names := make(map[string]bool, len(helpers.pcs))
	for pc := range helpers.pcs {
		// The return address lies in the function that called Helper
		// (inlined or not): the innermost frame at it.
		f, _ := runtime.CallersFrames([]uintptr{pc}).Next()
		if f.Function != "" {
			names[f.Function] = true
		}
	}
	helpers.names, helpers.done = names, len(helpers.pcs)
	return names
}
