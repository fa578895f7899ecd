package offheap

// pin.go reaches the runtime's procPin: the per-P index that picks a shard
// of the Go-side caches (cache.go, arena.go) and the heap profiler's budget
// (budget.go), with preemption off while the shard is used.

import _ "unsafe" // for go:linkname

// procPin returns the id of the P the goroutine runs on, with preemption
// disabled until procUnpin. The caches only use the id to pick a shard, and
// unpin at once: a goroutine that migrates afterwards merely takes another P's
// shard mutex, so the id is a hint, never a correctness condition.
//
// runtime.procPin is what sync.Pool and sync/atomic.Pointer's users rely on;
// the runtime keeps its signature stable for linkname users (go.dev/issue/67401
// lists it among the "hall of shame" symbols it will not remove). A cheaper
// per-P index does not exist in the standard library.
//
//go:linkname procPin runtime.procPin
func procPin() int

//go:linkname procUnpin runtime.procUnpin
func procUnpin()
