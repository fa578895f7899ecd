//go:build !race && !amd64

package offheap

// gate_store_other.go: the release store that ends an owner's operation on
// its shard (gate_plain.go) where a plain store is not one (every
// architecture but amd64); race builds use gate_race.go instead.

import "sync/atomic"

// storeRelease stores v with release ordering: an atomic store (stlr on
// arm64, which costs about a plain store).
func storeRelease(p *atomic.Uint32, v uint32) { p.Store(v) }
