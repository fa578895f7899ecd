//go:build !offheap_shared && !asan && !race

package bindings

// handout_plain.go is the plain store with which the fast path hands out a
// chunk it holds (CACHED to a count of 1), outside race builds
// (handout_race.go).

// handOut stores 1 into a CACHED word its holder alone writes: a plain store
// (no lock prefix; a single aligned 32-bit store is atomic on every platform
// Go supports). Releasers only read the word before their CAS, and the chunk
// reaches them through the caller's own synchronization. The race detector
// cannot see that only the holder writes, so race builds use an atomic store
// (handout_race.go).
func handOut(w *uint32) { *w = 1 }
