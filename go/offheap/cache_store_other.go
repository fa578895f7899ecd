//go:build !race && !amd64

package offheap

import "sync/atomic"

// storeRelease stores v with release ordering: an atomic store (stlr on
// arm64, which costs about a plain store).
func storeRelease(p *atomic.Uint32, v uint32) { p.Store(v) }
