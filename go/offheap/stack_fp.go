//go:build amd64 || arm64

package offheap

// stack_fp.go records the heap profiler's stacks by walking frame pointers,
// as the runtime's execution tracer does: a few ns for a typical stack against
// ~1 us for runtime.Callers, whose cost would otherwise dominate a sampled
// allocation (Alloc+Free of a cached chunk costs ~80 ns). Go keeps frame
// pointers on amd64 and arm64; each frame holds the caller's frame pointer at
// 0(FP) and the return address at 8(FP). runtime.CallersFrames expands the
// inlined calls at each return address later.
//
// A frame pointer is only as good as the code that saved it. Go code keeps
// the chain; C code need not (gcc omits frame pointers at -O2), and a Go
// callback called from C has C frames above runtime.cgocallback. So the walk
// never follows the chain past a frame of package runtime (runtime.main and
// runtime.goexit end every ordinary goroutine; runtime.cgocallbackg
// precedes the C frames of a callback), nor past a return address that is not
// in Go code - the same reason the tracer falls back to the slow unwinder
// when cgo frames are on the stack. Deciding that needs runtime.FuncForPC,
// which is too slow per frame and may not be called mid-walk (a call could
// grow and move the stack being read), so verdicts are cached per return
// address: the walk stops at an address it has no verdict for, the caller
// looks it up, and the walk starts again; steady state is all cache hits.

import (
	"runtime"
	"strings"
	"sync/atomic"
	"unsafe"
)

// callerFP returns the frame pointer of its caller (stack_amd64.s,
// stack_arm64.s).
func callerFP() uintptr

// pcVerdicts caches, per return address, whether the walk may follow the
// frame pointer of the function it returns into: entries are pc<<1 | stop.
var pcVerdicts [4096]atomic.Uintptr

func verdictSlot(pc uintptr) *atomic.Uintptr {
	return &pcVerdicts[(pc^pc>>12)&uintptr(len(pcVerdicts)-1)]
}

// callers fills pcs with the return addresses of the calling goroutine's
// stack, from the return into callers' caller outwards, and returns how many
// it wrote.
func callers(pcs []uintptr) int {
	for tries := 0; tries < 16; tries++ {
		n, unknown := walkFrames(pcs)
		if unknown == 0 {
			return n
		}
		judge(unknown)
	}
	// Still an address without a verdict: more new return addresses than
	// tries, or two of this stack's addresses sharing a slot of pcVerdicts
	// (each judgement then evicts the other's). The walk would be cut short,
	// dropping the user's frames, so take the slow unwinder instead.
	return runtime.Callers(1, pcs)
}

// judge records whether the walk may go on past a return address into pc.
func judge(pc uintptr) {
	stop := uintptr(1)
	if f := runtime.FuncForPC(pc - 1); f != nil {
		name := f.Name()
		if !strings.HasPrefix(name, "runtime.") && name != "crosscall2" && !strings.HasPrefix(name, "_cgo") {
			stop = 0
		}
	}
	verdictSlot(pc).Store(pc<<1 | stop)
}

// walkFrames walks the frame-pointer chain from walkFrames' caller outwards.
// It calls nothing, so the stack cannot move while it reads it. It returns
// the frames it recorded and, if it stopped at a return address without a
// cached verdict, that address (recorded, not followed).
//
//go:nosplit
//go:nocheckptr
//go:norace
func walkFrames(pcs []uintptr) (n int, unknown uintptr) {
	fp := callerFP() // walkFrames' own frame
	for fp != 0 && n < len(pcs) {
		pc := *(*uintptr)(ptrOf(fp + unsafe.Sizeof(uintptr(0))))
		pcs[n] = pc
		n++
		v := verdictSlot(pc).Load()
		if v>>1 != pc {
			return n, pc
		}
		if v&1 != 0 {
			return n, 0
		}
		next := *(*uintptr)(ptrOf(fp))
		if next <= fp {
			return n, 0
		}
		fp = next
	}
	return n, 0
}

// helperCallerPC returns the return address of its caller's frame: called
// by Helper, an address inside the function that called Helper.
//
//go:nosplit
//go:noinline
//go:nocheckptr
//go:norace
func helperCallerPC() uintptr {
	fp := callerFP()            // helperCallerPC's own frame
	fp = *(*uintptr)(ptrOf(fp)) // its caller's (Helper's)
	return *(*uintptr)(ptrOf(fp + unsafe.Sizeof(uintptr(0))))
}
