package offheap

// loc_test.go - a Loc carries its chunk's generation (slab_goslab.go): a Loc
// whose buffer was freed and handed out again panics as stale instead of
// reading the new owner's bytes (go-slab's behaviour), while every Loc of a
// live buffer, its Slices and its Words round trip keep working.

import (
	"testing"
	"unsafe"
)

func TestStaleLocOfAReusedChunkPanics(t *testing.T) {
	s, err := NewSlab(SlabConfig{MinChunk: 64, SlabSize: 1 << 20, Growth: 2})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	b := s.Alloc(100)
	copy(b, "first owner")
	l := s.BufToLoc(b)
	if l2 := s.BufToLoc(b); l2 != l {
		t.Fatalf("two Locs of one live buffer differ: %v %v", l, l2)
	}
	w := LocFromWords(l.Words())
	if got := s.LocToBuf(w.Slice(0, 11)); string(got) != "first owner" {
		t.Fatalf("LocToBuf of a live buffer's Loc: %q", got)
	}
	s.LocAddRef(l)
	s.LocDecRef(l)
	s.DecRef(b) // freed: its Locs are stale
	// The chunk is handed out again, to another owner, by this P's cache.
	var c []byte
	for range 1000 {
		x := s.Alloc(100)
		if unsafe.SliceData(x) == unsafe.SliceData(b) {
			c = x
			break
		}
		defer s.DecRef(x)
	}
	if c == nil {
		t.Fatal("the freed chunk was not handed out again in 1000 allocations")
	}
	copy(c, "second owner")
	for _, use := range []func(){
		func() { s.LocToBuf(l) },
		func() { s.LocAddRef(l) },
		func() { s.LocDecRef(l) },
		func() { s.LocToBuf(w) }, // through Words and back
	} {
		mustPanic(t, use, "stale Loc", "handed out again")
	}
	// The new owner's Loc works, and the old one still does not.
	if got := s.LocToBuf(s.BufToLoc(c)); string(got[:12]) != "second owner" {
		t.Fatalf("new owner's Loc: %q", got[:12])
	}
	mustPanic(t, func() { s.LocToBuf(l) }, "stale Loc")
	s.DecRef(c)
	mustPanic(t, func() { s.LocToBuf(l) }, "stale Loc", "freed")
}
