package offheap

// cache_test.go checks what the per-P caches assume about Ps: a heap or an
// Arena made under a small GOMAXPROCS keeps working, uncached, on the Ps
// added later, and its statistics and Close stay exact.

import (
	"runtime"
	"sync"
	"testing"
)

func TestCachesAfterGOMAXPROCSGrows(t *testing.T) {
	old := runtime.GOMAXPROCS(1)
	s, err := NewSlab(SlabConfig{})
	if err != nil {
		runtime.GOMAXPROCS(old)
		t.Fatal(err)
	}
	p := NewBufferPool(4096)
	a, err := NewArena(0)
	if err != nil {
		runtime.GOMAXPROCS(old)
		t.Fatal(err)
	}
	runtime.GOMAXPROCS(4)
	defer runtime.GOMAXPROCS(old)
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 2000 {
				b := s.Alloc(64 + (g*i)%4000)
				s.AddRef(b)
				if s.DecRef(b) || !s.DecRef(b) {
					panic("Slab.DecRef: wrong verdict")
				}
				p.Put(p.Get())
				if x := a.Alloc(32); !a.Owns(x) {
					panic("Arena.Owns of a fresh allocation")
				}
			}
		}()
	}
	wg.Wait()
	if st := s.Stats(); st.InUseBytes != 0 {
		t.Errorf("Slab in use after every DecRef: %d bytes", st.InUseBytes)
	}
	if st := a.Stats(); st.Allocs != 8*2000 {
		t.Errorf("Arena allocs %d, want %d", st.Allocs, 8*2000)
	}
	a.Reset()
	if st := a.Stats(); st.Allocs != 0 || st.TotalAllocs != 8*2000 {
		t.Errorf("Arena after Reset: %+v", st)
	}
	for _, c := range []func() error{s.Close, p.Close, a.Close} {
		if err := c(); err != nil {
			t.Fatal(err)
		}
	}
}

// classFor's tables give exactly the smallest cacheable class holding n, for
// every n a cache serves, in the heaps of every shape.
func TestClassForIsTheSmallestClass(t *testing.T) {
	heaps := []*heap{defaultHeap}
	for _, size := range []int{64, 4 << 10, 100 << 10, 1 << 20} {
		bp := NewBufferPool(size)
		defer bp.Close()
		heaps = append(heaps, bp.h)
	}
	s, err := NewSlab(SlabConfig{MinChunk: 48, SlabSize: 4 << 20, Growth: 1.1})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	heaps = append(heaps, s.h)
	for _, h := range heaps {
		for n := 1; n <= h.maxCached; n++ {
			if got, want := h.classFor(n), h.searchClass(n); got != want {
				t.Fatalf("heap %q: classFor(%d) = %d (size %d), want %d (size %d)", h.what, n, got,
					h.classes[got].size, want, h.classes[want].size)
			}
		}
	}
}
