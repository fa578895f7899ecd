//go:build !offheap_shared && !asan && race

package bindings

// handout_race.go is handout_plain.go's hand-out store for race builds.

import "sync/atomic"

// handOut is handout_plain.go's store, atomic for the race detector.
func handOut(w *uint32) { atomic.StoreUint32(w, 1) }
