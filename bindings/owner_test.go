//go:build !offheap_shared && !asan

package bindings

// The owner handles as the Go caches use them (owner_bundled.go): a batch
// taken through one P's owner is CACHED and claimable by the chunk protocol,
// another owner's return sends it home, statistics stay exact, and a deleted
// or orphaned owner is safe to drop.

import (
	"testing"
	"unsafe"
)

func TestOwnerHandles(t *testing.T) {
	h, e := NewSlab(64, 1<<20, 2)
	if e != OK {
		t.Fatal(e)
	}
	o1, o2 := h.NewOwner(), h.NewOwner()
	if o1 == 0 || o2 == 0 || o1 == o2 {
		t.Fatalf("NewOwner: %#x, %#x", o1, o2)
	}
	var buf [32]unsafe.Pointer
	if got := h.TakeOwned(o1, 1, buf[:]); got != len(buf) {
		t.Fatalf("TakeOwned took %d of %d", got, len(buf))
	}
	for i, p := range buf {
		w, cls, e := h.Find(uintptr(p))
		if e != OK || cls != 1 {
			t.Fatalf("chunk %d: Find = class %d, %v", i, cls, e)
		}
		// A CACHED chunk is free to the protocol: a release of it is a
		// double free until it is handed out.
		if _, e := w.TryRelease(false); e != EALREADY {
			t.Fatalf("chunk %d: release of a CACHED chunk = %v, want EALREADY", i, e)
		}
		w.HandOut()
		if old, e := w.TryRelease(false); e != OK || old != 1 {
			t.Fatalf("chunk %d: release after HandOut = %d, %v", i, old, e)
		}
	}
	var st Stats
	h.ReadStats(&st)
	if want := uint64(len(buf)) * uint64(h.ClassSize(1)); st.InUseBytes != want {
		t.Fatalf("in use with the batch out: %d, want %d", st.InUseBytes, want)
	}
	// o2 returns o1's chunks (and reports 32 allocations and frees served
	// from its cache): they go home to o1's slabs.
	h.ReturnOwned(o2, 1, buf[:], 32, 32)
	h.ReadStats(&st)
	if st.InUseBytes != 0 || st.Allocs != 32 || st.Frees != 32 {
		t.Fatalf("after the return: in use %d, allocs %d, frees %d", st.InUseBytes, st.Allocs, st.Frees)
	}
	h.DeleteOwner(o2)
	h.DeleteOwner(o1)
	h.DeleteOwner(0) // no owner: nothing to do
	// An owner outlives its heap only as memory to free.
	o3 := h.NewOwner()
	if got := h.TakeOwned(o3, 0, buf[:4]); got != 4 {
		t.Fatalf("TakeOwned took %d of 4", got)
	}
	if e := h.Destroy(); e != OK {
		t.Fatal(e)
	}
	h.DeleteOwner(o3)
}
