package goslab_test

// goslab_test.go covers what goslab adds to go-slab's behaviour: stale Locs
// caught by generation, slices inside a chunk resolved (and refused once the
// chunk is gone), the misuse messages, memory off the Go heap, and
// concurrent use.

import (
	"fmt"
	"strings"
	"sync"
	"testing"

	slab "github.com/offheap/offheap/go/goslab"
	"github.com/offheap/offheap/go/offheap"
)

func panicText(t *testing.T, what string, f func()) string {
	t.Helper()
	return fmt.Sprint(mustPanic(t, what, f))
}

func TestStaleLocCaught(t *testing.T) {
	// The freed chunk must come back to the next Alloc: one P and one OS
	// thread, so one cache holds it (the Go magazines per P, or under -asan
	// the core's thread caches).
	pinned(t)
	a := slab.NewArena(16, 1<<20, 2, nil)
	b := a.Alloc(32)
	copy(b, "old owner")
	loc := a.BufToLoc(b)
	a.DecRef(b)
	if msg := panicText(t, "LocToBuf of a freed buffer's Loc", func() { a.LocToBuf(loc) }); !strings.Contains(msg, "stale Loc") {
		t.Fatalf("message %q does not name a stale Loc", msg)
	}
	c := a.Alloc(32) // the same chunk, handed out again (LIFO)
	if &c[0] != &b[0] {
		t.Fatal("the freed chunk was not handed out again: the test needs it to be")
	}
	copy(c, "new owner")
	for name, f := range map[string]func(){
		"LocToBuf":  func() { a.LocToBuf(loc) },
		"LocAddRef": func() { a.LocAddRef(loc) },
		"LocDecRef": func() { a.LocDecRef(loc) },
	} {
		if msg := panicText(t, name+" of a reused chunk's old Loc", f); !strings.Contains(msg, "handed out again") {
			t.Fatalf("%s: message %q does not say the chunk was handed out again", name, msg)
		}
	}
	if got := a.LocToBuf(a.BufToLoc(c)); string(got[:9]) != "new owner" {
		t.Fatalf("the new owner's Loc reads %q", got)
	}
	if a.DecRef(c) != true {
		t.Fatal("new owner's reference was disturbed by the refused stale calls")
	}
}

func TestLocRangeChecked(t *testing.T) {
	a := slab.NewArena(16, 1<<20, 2, nil)
	b := a.Alloc(10)
	l := a.BufToLoc(b)
	size := cap(b)
	if got := a.LocToBuf(l.Slice(size-1, 1)); len(got) != 1 {
		t.Fatal("the chunk's last byte")
	}
	if msg := panicText(t, "Loc past its chunk", func() { a.LocToBuf(l.Slice(size-1, 2)) }); !strings.Contains(msg, "outside its") {
		t.Fatalf("message %q", msg)
	}
	panicText(t, "negative Loc", func() { a.LocToBuf(l.Slice(-1, 1)) })
	other := slab.NewArena(16, 1<<20, 2, nil)
	panicText(t, "another Arena's Loc", func() { other.LocToBuf(l) })
}

func TestInteriorSlices(t *testing.T) {
	a := slab.NewArena(1, 4096, 1.5, nil)
	for _, n := range []int{1, 7, 100, 1000, 4096} {
		b := a.Alloc(n)
		inner, last := b[n/2:], b[n-1:]
		a.AddRef(inner)
		if a.DecRef(last) {
			t.Fatalf("n=%d: DecRef through the last byte freed a count-2 chunk", n)
		}
		if !a.Owns(b) || !a.Owns(last) {
			t.Fatalf("n=%d: chunk gone after AddRef+DecRef through interior slices", n)
		}
		if !a.DecRef(inner) {
			t.Fatalf("n=%d: the last DecRef through an interior slice did not free", n)
		}
		if msg := panicText(t, "DecRef of a freed chunk's interior", func() { a.DecRef(inner) }); !strings.Contains(msg, "does not hold") {
			t.Fatalf("message %q", msg)
		}
	}
	b := a.Alloc(100)
	cut := b[10:20:20] // its capacity no longer reaches the chunk's end
	if msg := panicText(t, "DecRef of a cut interior slice", func() { a.DecRef(cut) }); !strings.Contains(msg, "capacity reaches the chunk's end") {
		t.Fatalf("message %q", msg)
	}
	a.DecRef(b)
}

func TestSetNextInteriorAndEmpty(t *testing.T) {
	a := slab.NewArena(1, 1024, 2, nil)
	head, next := a.Alloc(8), a.Alloc(64)
	copy(next, "0123456789")
	a.SetNext(head, next[3:7])
	got := a.GetNext(head)
	if string(got) != "3456" {
		t.Fatalf("GetNext of an interior link = %q", got)
	}
	a.DecRef(got)
	a.DecRef(next)            // the chain holds it
	a.SetNext(head, next[:0]) // a non-nil empty slice links, as in go-slab
	if got := a.GetNext(head); got == nil || len(got) != 0 {
		t.Fatalf("GetNext after SetNext(head, next[:0]) = %v", got)
	} else {
		a.DecRef(got) // and the result can be released
	}
	a.SetNext(head, nil)
	if a.Owns(next) {
		t.Fatal("clearing the link did not free next")
	}
	a.DecRef(head)
}

func TestMemoryOffHeap(t *testing.T) {
	a := slab.NewArena(1, 1<<20, 2, nil)
	b := a.Alloc(1000)
	if !offheap.Owns(b) && len(a.Leaks()) != 1 {
		t.Fatal("the buffer is not an offheap allocation")
	}
	if offheap.Owns(b) {
		t.Fatal("an Arena buffer reported as a process-wide allocation")
	}
	if l := a.Leaks(); len(l) != 1 || l[0].Size < 1000 {
		t.Fatalf("Leaks = %+v, want the one live buffer", l)
	}
	if err := a.Close(); err != nil {
		t.Fatal(err)
	}
	panicText(t, "Alloc after Close", func() { a.Alloc(1) })
}

func TestConcurrentUse(t *testing.T) {
	a := slab.NewArena(1, 1<<16, 1.5, nil)
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var prev []byte
			for i := range 2000 {
				b := a.Alloc((i*7+g)%4000 + 1)
				b[0] = byte(g)
				loc := a.BufToLoc(b)
				a.LocAddRef(loc)
				if prev != nil {
					a.SetNext(b, prev)
					a.DecRef(prev)
				}
				if x := a.LocToBuf(loc); x[0] != byte(g) {
					panic("Loc read another goroutine's buffer")
				}
				a.LocDecRef(loc)
				prev = b
				if i%50 == 49 {
					a.DecRef(prev) // frees the whole chain
					prev = nil
				}
			}
			if prev != nil {
				a.DecRef(prev)
			}
		}()
	}
	wg.Wait()
	if l := a.Leaks(); len(l) != 0 {
		t.Fatalf("%d buffers left live", len(l))
	}
	st := a.Stats(map[string]int64{})
	var inUse int64
	for k, v := range st {
		if strings.HasSuffix(k, "-numChunksInUse") {
			inUse += v
		}
	}
	if inUse != 0 || st["totAllocs"] != 8000 || st["totDecRefZeroes"] != 8000 {
		t.Fatalf("Stats after everything was freed: in use %d, allocs %d, zeroes %d", inUse, st["totAllocs"], st["totDecRefZeroes"])
	}
}
