//go:build !race

package offheap

// gate_store_amd64.go: the release store that ends an owner's operation on
// its shard (gate_plain.go); race builds use an atomic store instead.

import (
	"sync/atomic"
	"unsafe"
)

// storeRelease stores v with release ordering. amd64 orders every store
// after the loads and stores before it (TSO), so a plain store is one; the
// compiler keeps memory operations in program order.
func storeRelease(p *atomic.Uint32, v uint32) { *(*uint32)(unsafe.Pointer(p)) = v }
