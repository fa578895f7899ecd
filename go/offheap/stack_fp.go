//go:build amd64 || arm64

package offheap

// stack_fp.go records the heap profiler's stacks by walking frame pointers,
// as the runtime's execution tracer does: ~7 ns for a typical stack against
// ~200 ns and up for runtime.Callers, whose cost would otherwise dominate a
// sampled allocation (Alloc+Free of a cached chunk costs ~80 ns). Go keeps
// frame pointers on amd64 and arm64; each frame holds the caller's frame
// pointer at 0(FP) and the return address at 8(FP). The walk reads only the
// goroutine's own stack, calls nothing (so the stack cannot move under it),
// and stops at the outermost frame (a zero frame pointer), at a frame pointer
// that does not move up the stack, or when pcs is full. runtime.CallersFrames
// expands the inlined calls at each return address later.

import "unsafe"

// callerFP returns the frame pointer of its caller (stack_amd64.s,
// stack_arm64.s).
func callerFP() uintptr

// callers fills pcs with the return addresses of the calling goroutine's
// stack, starting with the return into callers' caller's caller, and returns
// how many it wrote.
//
//go:nosplit
//go:nocheckptr
func callers(pcs []uintptr) int {
	fp := callerFP() // callers' own frame
	n := 0
	for fp != 0 && n < len(pcs) {
		pcs[n] = *(*uintptr)(ptrOf(fp + unsafe.Sizeof(uintptr(0))))
		n++
		next := *(*uintptr)(ptrOf(fp))
		if next <= fp {
			break
		}
		fp = next
	}
	return n
}
