//go:build !offheap_shared && !asan

package offheap

// overflow_test.go - a reference count at its maximum; it writes a chunk's
// state word directly, which only the bundled core's fast path exposes.

import (
	"testing"

	"github.com/offheap/offheap/bindings"
)

// TestRefcountOverflow drives a reference count to its maximum by writing the
// chunk's state word directly (2^30 AddRefs would take half a minute), then
// checks that one more AddRef is refused with a clear panic and the count is
// left intact. Only the bundled build can reach the word.
func TestRefcountOverflow(t *testing.T) {
	s, err := NewSlab(SlabConfig{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	b := s.Alloc(64)
	w, _, e := s.h.c.Find(sliceAddr(b))
	if e != bindings.OK {
		t.Fatalf("Find does not find a chunk the Slab just allocated: %v", e)
	}
	w.StoreForTest(bindings.RefcountMax - 1)
	s.AddRef(b) // reaches the maximum
	if n := s.RefCount(b); n != bindings.RefcountMax {
		t.Fatalf("RefCount = %d, want %d", n, bindings.RefcountMax)
	}
	mustPanic(t, func() { s.AddRef(b) }, "Slab.AddRef of "+hex(sliceAddr(b)), "reference count would exceed 1073741823")
	if n := s.RefCount(b); n != bindings.RefcountMax {
		t.Fatalf("RefCount after the refused AddRef = %d, want %d", n, bindings.RefcountMax)
	}
	w.StoreForTest(2)
	if s.DecRef(b) || !s.DecRef(b) {
		t.Fatal("DecRef from 2 did not free on the second call")
	}
}
