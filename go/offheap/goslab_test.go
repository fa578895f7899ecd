package offheap

// goslab_test.go runs code written for couchbase/go-slab's Arena against
// *Slab: the same calls in the same order (ownership, chains, Loc handles kept
// in off-heap memory) must behave as go-slab documents, and the misuses
// go-slab leaves undefined (a stale or foreign Loc) must panic.

import (
	"sync"
	"testing"
)

func newTestSlab(t *testing.T) *Slab {
	t.Helper()
	s, err := NewSlab(SlabConfig{MinChunk: 48, SlabSize: 1 << 20, Growth: 2})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func TestGoSlabOwns(t *testing.T) {
	s := newTestSlab(t)
	other := newTestSlab(t)
	b := s.Alloc(100)
	if !s.Owns(b) || !s.Owns(b[:1]) {
		t.Fatal("Owns of a live buffer (and b[:1]) = false")
	}
	if s.Owns(b[1:]) || s.Owns(make([]byte, 100)) || s.Owns(nil) || other.Owns(b) || Owns(b) {
		t.Fatal("Owns of an interior, Go-heap, nil or another allocator's buffer = true")
	}
	s.DecRef(b)
	if s.Owns(b) {
		t.Fatal("Owns of a freed buffer = true")
	}
	big := s.Alloc(2 << 20) // whole pages
	if !s.Owns(big) {
		t.Fatal("Owns of a large buffer = false")
	}
	s.DecRef(big)
}

// TestGoSlabChain3 builds a -> b -> c the go-slab way and checks that the
// references follow go-slab's rules down the chain.
func TestGoSlabChain3(t *testing.T) {
	s := newTestSlab(t)
	a, b, c := s.Alloc(64), s.Alloc(200), s.Alloc(3000)
	fill(c, 3)
	s.SetNext(a, b) // a holds b
	s.SetNext(b, c) // b holds c
	s.DecRef(b)     // our own references: the chain keeps them alive
	s.DecRef(c)
	if s.RefCount(b) != 1 || s.RefCount(c) != 1 {
		t.Fatalf("refcounts b=%d c=%d, want 1 1 (held by the chain)", s.RefCount(b), s.RefCount(c))
	}
	var got [][]byte
	for x := s.GetNext(a); x != nil; {
		got = append(got, x)
		next := s.GetNext(x)
		s.DecRef(x) // GetNext gave us a reference
		x = next
	}
	if len(got) != 2 || sliceAddr(got[0]) != sliceAddr(b) || sliceAddr(got[1]) != sliceAddr(c) || len(got[1]) != 3000 {
		t.Fatalf("walked %d buffers, want b then c", len(got))
	}
	if err := checkFill(got[1], 3); err != nil {
		t.Fatal(err)
	}
	if s.GetNext(c) != nil {
		t.Fatal("GetNext at the end of the chain is not nil")
	}
	if !s.DecRef(a) {
		t.Fatal("the last DecRef of a did not free it")
	}
	if s.Owns(b) || s.Owns(c) {
		t.Fatal("freeing the head did not release the chain")
	}
	if n := len(s.Leaks()); n != 0 {
		t.Fatalf("%d buffers leaked after the chain was released", n)
	}
}

func TestGoSlabSetNextReplaces(t *testing.T) {
	s := newTestSlab(t)
	a, b, c := s.Alloc(64), s.Alloc(64), s.Alloc(64)
	s.SetNext(a, b)
	s.SetNext(a, c) // releases the reference a held on b
	if s.RefCount(b) != 1 || s.RefCount(c) != 2 {
		t.Fatalf("refcounts b=%d c=%d, want 1 2", s.RefCount(b), s.RefCount(c))
	}
	s.SetNext(a, nil)
	if s.RefCount(c) != 1 || s.GetNext(a) != nil {
		t.Fatal("SetNext(a, nil) did not clear the link")
	}
	for _, x := range [][]byte{a, b, c} {
		s.DecRef(x)
	}
	mustPanic(t, func() { s.SetNext(a, b) }, "Slab.SetNext", "freed")
	mustPanic(t, func() { s.GetNext(make([]byte, 8)) }, "Slab.GetNext", "not allocated by offheap")
}

// TestGoSlabLocOffHeap keeps Locs in an off-heap []uint64, as a cache that
// does not want the GC to scan its index would, and reads them back.
func TestGoSlabLocOffHeap(t *testing.T) {
	s := newTestSlab(t)
	const n = 100
	words := MakeSlice[uint64](2 * n)
	defer FreeSlice(words)
	bufs := make([][]byte, n)
	for i := range bufs {
		bufs[i] = s.Alloc(16 + i*37)
		fill(bufs[i], byte(i))
		w := s.BufToLoc(bufs[i]).Words()
		copy(words[2*i:], w[:])
	}
	for i := range bufs {
		l := LocFromWords([2]uint64{words[2*i], words[2*i+1]})
		if l.IsNil() {
			t.Fatal("a stored Loc reads back nil")
		}
		b := s.LocToBuf(l)
		if sliceAddr(b) != sliceAddr(bufs[i]) || len(b) != len(bufs[i]) {
			t.Fatalf("Loc %d gives %#x len %d, want %#x len %d", i, sliceAddr(b), len(b), sliceAddr(bufs[i]), len(bufs[i]))
		}
		if err := checkFill(b, byte(i)); err != nil {
			t.Fatal(err)
		}
		part := s.LocToBuf(l.Slice(4, 8))
		if sliceAddr(part) != sliceAddr(bufs[i])+4 || len(part) != 8 {
			t.Fatal("Loc.Slice(4, 8) does not name bytes [4, 12)")
		}
		s.LocAddRef(l)
		if s.RefCount(bufs[i]) != 2 {
			t.Fatal("LocAddRef did not add a reference")
		}
		s.LocDecRef(l)
	}
	if !NilLoc().IsNil() || s.LocToBuf(NilLoc()) != nil || !s.BufToLoc(nil).IsNil() {
		t.Fatal("the nil Loc is not nil, or LocToBuf(nil Loc) is not nil")
	}
	// Stale: the buffer is freed; foreign: garbage words; another Slab's.
	stale := s.BufToLoc(bufs[0])
	s.DecRef(bufs[0])
	mustPanic(t, func() { s.LocToBuf(stale) }, "Slab.LocToBuf", "stale Loc")
	mustPanic(t, func() { s.LocAddRef(stale) }, "Slab.LocAddRef", "stale Loc")
	mustPanic(t, func() { s.LocDecRef(stale) }, "Slab.LocDecRef", "stale Loc")
	goHeap := make([]byte, 64)
	mustPanic(t, func() { s.LocToBuf(LocFromWords([2]uint64{uint64(sliceAddr(goHeap)), 8})) }, "names no offheap allocation")
	mustPanic(t, func() { s.LocToBuf(LocFromWords([2]uint64{uint64(sliceAddr(bufs[1])) + 16, 8})) }, "Slab.LocToBuf")
	other := newTestSlab(t)
	ob := other.Alloc(64)
	mustPanic(t, func() { s.LocToBuf(other.BufToLoc(ob)) }, "Slab.LocToBuf")
	mustPanic(t, func() { s.LocToBuf(s.BufToLoc(bufs[1]).Slice(0, 1<<20)) }, "outside its")
	for _, b := range bufs[1:] {
		s.DecRef(b)
	}
}

// TestGoSlabChainsConcurrent churns chains from several goroutines, so that a
// freed chunk is reused and relinked while others walk their own chains.
func TestGoSlabChainsConcurrent(t *testing.T) {
	s := newTestSlab(t)
	var wg sync.WaitGroup
	for g := 0; g < 4; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 2000; i++ {
				a, b, c := s.Alloc(64), s.Alloc(64), s.Alloc(64)
				s.SetNext(a, b)
				s.SetNext(b, c)
				s.DecRef(b)
				s.DecRef(c)
				if x := s.GetNext(a); x != nil {
					s.DecRef(x)
				}
				s.DecRef(a)
			}
		}()
	}
	wg.Wait()
	if n := len(s.Leaks()); n != 0 {
		t.Fatalf("%d buffers leaked", n)
	}
}
