package offheap

// runs_test.go covers the Go side of runs of pages (c/src/runs.c, the default;
// OFFHEAP_PAGE_RUNS=0 turns them off): a Slab made with them serves 16-256 KiB from per-P
// magazines of runs and its P's owner - allocations from any goroutine, frees
// from another, reference counts, misuse refused with the core's verdict -
// and keeps its statistics, leak list and Owns exact. make test also runs the whole package with
// OFFHEAP_PAGE_RUNS=0.

import (
	"runtime"
	"sync"
	"testing"
	"unsafe"

	"github.com/offheap/offheap/bindings"
)

// runsSlab is a Slab made while runs of pages are on.
func runsSlab(t *testing.T) *Slab {
	t.Helper()
	old := bindings.OptionGet(bindings.OptPageRuns)
	if e := bindings.OptionSet(bindings.OptPageRuns, 1); e != bindings.OK {
		t.Fatal(e)
	}
	s, err := NewSlab(SlabConfig{})
	bindings.OptionSet(bindings.OptPageRuns, old)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	// The bundled build reads the range (its caches hold runs of those
	// sizes' classes); with an installed library every operation is a call,
	// and the core's runs show in the usable size.
	if lo, hi, ok := s.h.c.RunRange(); bindings.FastPath && (!ok || lo != 16<<10 || hi < 64<<10) {
		t.Fatalf("RunRange %d..%d %v: the Slab has no runs", lo, hi, ok)
	}
	b := s.Alloc(20<<10 + 1)
	if u := s.UsableSize(b); u != 24<<10 {
		t.Fatalf("Alloc(20 KiB + 1): usable %d, want a run of 6 pages", u)
	}
	s.DecRef(b)
	return s
}

// runBytes is the run that serves n bytes: the pages of n's size class from
// the per-P caches (a class of runs stands for runs of its size's pages),
// n's own pages from the core (an installed library: no caches).
func runBytes(s *Slab, n int) int {
	if s.h.fast() {
		return s.h.classes[s.h.classFor(n)].bytes
	}
	return (n + 4095) &^ 4095
}

func TestRunsOfPagesThroughTheGoAPI(t *testing.T) {
	s := runsSlab(t)
	sizes := []int{16 << 10, 20<<10 + 1, 48 << 10, 100<<10 + 7, 256 << 10}
	var bufs [][]byte
	for i, n := range sizes {
		b := s.Alloc(n)
		if len(b) != n {
			t.Fatalf("Alloc(%d): len %d", n, len(b))
		}
		if u := s.UsableSize(b); u != runBytes(s, n) {
			t.Errorf("Alloc(%d): usable %d, want a run of %d", n, u, runBytes(s, n))
		}
		for j := range b {
			b[j] = byte(i)
		}
		if !s.Owns(b) {
			t.Errorf("Owns(Alloc(%d)) = false", n)
		}
		bufs = append(bufs, b)
	}
	st := s.Stats()
	want := uint64(0)
	for _, n := range sizes {
		want += uint64(runBytes(s, n))
	}
	if st.InUseBytes != want || (bindings.FastPath && st.SlabBytes == 0) {
		t.Errorf("Stats: in use %d (want %d), slab bytes %d", st.InUseBytes, want, st.SlabBytes)
	}
	if n := len(s.Leaks()); n != len(sizes) {
		t.Errorf("Leaks: %d, want %d", n, len(sizes))
	}
	// a reference held across a DecRef keeps the run
	s.AddRef(bufs[0])
	if s.DecRef(bufs[0]) {
		t.Fatal("DecRef with a reference left freed the run")
	}
	if got := s.RefCount(bufs[0]); got != 1 {
		t.Fatalf("RefCount %d, want 1", got)
	}
	// misuse: inside a run (its second page), and a double free
	inner := unsafe.Slice((*byte)(unsafe.Add(unsafe.Pointer(&bufs[2][0]), 4096)), 16)
	mustPanic(t, func() { s.DecRef(inner) })
	// frees from other goroutines go home through the owners
	var wg sync.WaitGroup
	for i := range bufs {
		wg.Add(1)
		go func(b []byte, v byte) {
			defer wg.Done()
			for _, c := range b {
				if c != v {
					t.Errorf("run of %d bytes lost its contents", len(b))
					break
				}
			}
			if !s.DecRef(b) {
				t.Errorf("DecRef of a run of %d bytes did not free it", len(b))
			}
		}(bufs[i], byte(i))
	}
	wg.Wait()
	mustPanic(t, func() { s.DecRef(bufs[1]) })
	st = s.Stats()
	if st.InUseBytes != 0 || st.Allocs != st.Frees {
		t.Errorf("after every free: in use %d, allocs %d, frees %d", st.InUseBytes, st.Allocs, st.Frees)
	}
	if n := len(s.Leaks()); n != 0 {
		t.Errorf("Leaks after every free: %d", n)
	}
}

// Goroutines on both Ps allocate and free runs of every size at once (the
// race detector and cgocheck2 runs of make test go through this too).
func TestRunsOfPagesFromManyGoroutines(t *testing.T) {
	s := runsSlab(t)
	var wg sync.WaitGroup
	handoff := make(chan []byte, 64)
	for g := 0; g < 4; g++ {
		wg.Add(1)
		go func(g int) {
			defer wg.Done()
			for i := 0; i < 2000; i++ {
				n := 16<<10 + (i*7919+g*104729)%(240<<10)
				b := s.Alloc(n)
				b[0], b[n-1] = byte(g), byte(i)
				select {
				case handoff <- b:
				default:
					s.DecRef(b)
				}
				select {
				case o := <-handoff:
					s.DecRef(o)
				default:
				}
			}
		}(g)
	}
	wg.Wait()
	close(handoff)
	for b := range handoff {
		s.DecRef(b)
	}
	if st := s.Stats(); st.InUseBytes != 0 || st.Allocs != st.Frees {
		t.Errorf("in use %d, allocs %d, frees %d", st.InUseBytes, st.Allocs, st.Frees)
	}
}

// Runs are served from per-P magazines like chunks: a pair of Alloc and
// DecRef of a run size makes no cgo call in steady state, nor does a window
// of live runs of mixed sizes past the first round; and a run the caches hold
// is neither in use nor leaked.
func TestRunsOfPagesFromTheMagazines(t *testing.T) {
	s := runsSlab(t)
	const n = 5000
	if !bindings.FastPath { // an installed liboffheap: no per-P caches, every operation one call
		if got := cgoCallsPerOp(n, func() { s.DecRef(s.Alloc(16 << 10)) }); got != 2 {
			t.Errorf("Alloc+DecRef of a run without the fast path: %.3f cgo calls per op, want 2", got)
		}
		return
	}
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(1)) // one P: as TestSteadyStateMakesNoCgoCalls
	for _, size := range []int{16 << 10, 48 << 10, 256 << 10} {
		if got := cgoCallsPerOp(n, func() { s.DecRef(s.Alloc(size)) }); got > 0.05 {
			t.Errorf("Alloc+DecRef of %d bytes: %.3f cgo calls per op", size, got)
		}
	}
	var ring [4][]byte
	i := 0
	if got := cgoCallsPerOp(n, func() {
		if ring[i%4] != nil {
			s.DecRef(ring[i%4])
		}
		ring[i%4] = s.Alloc(16<<10 + (i*4099)%(48<<10))
		i++
	}); got > 0.1 {
		t.Errorf("a window of 4 live runs of 16-64 KiB: %.3f cgo calls per op", got)
	}
	for _, b := range ring {
		s.DecRef(b)
	}
	st := s.Stats()
	if st.InUseBytes != 0 || st.Allocs != st.Frees || st.Allocs < 4*n {
		t.Errorf("runs held by the magazines: in use %d, allocs %d, frees %d", st.InUseBytes, st.Allocs, st.Frees)
	}
	if l := s.Leaks(); len(l) != 0 {
		t.Errorf("runs held by the magazines reported as leaks: %v", l)
	}
	// a run handed out from a magazine is claimed once: a double free panics
	b := s.Alloc(16 << 10)
	s.DecRef(b)
	mustPanic(t, func() { s.DecRef(b) })
}
