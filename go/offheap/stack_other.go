//go:build !amd64 && !arm64

package offheap

// stack_other.go records the heap profiler's stacks with runtime.Callers
// where Go keeps no frame pointers to walk (see stack_fp.go).

import "runtime"

// callers fills pcs with the calling goroutine's stack and returns how many
// entries it wrote.
func callers(pcs []uintptr) int { return runtime.Callers(2, pcs) }

// helperCallerPC returns the return address of its caller's frame: called
// by Helper, an address inside the function that called Helper.
//
//go:noinline
func helperCallerPC() uintptr {
	var pc [1]uintptr
	runtime.Callers(3, pc[:]) // runtime.Callers, helperCallerPC, Helper
	return pc[0]
}
