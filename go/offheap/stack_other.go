//go:build !amd64 && !arm64

package offheap

// stack_other.go records the heap profiler's stacks with runtime.Callers
// where Go keeps no frame pointers to walk (see stack_fp.go).

import "runtime"

// callers fills pcs with the calling goroutine's stack and returns how many
// entries it wrote.
func callers(pcs []uintptr) int { return runtime.Callers(2, pcs) }
