package allocs

import (
	"strings"
	"testing"

	"github.com/offheap/offheap/go/offheap"
)

// Every mode hands out writable buffers of the length asked, takes them
// back, and says what it is.
func TestModes(t *testing.T) {
	s, err := offheap.NewSlab(offheap.SlabConfig{})
	if err != nil {
		t.Fatal(err)
	}
	after := 0
	for _, c := range []struct {
		a    Allocator
		info string
	}{
		{Native{After: func() { after++ }, What: "runtime.GC() after each free", Limit: 3 << 20}, "GOMEMLIMIT 3 MiB; runtime.GC() after each free"},
		{Offheap{}, "offheap.Alloc/Free, go"},
		{NewPools(), "offheap.BufferPool per size"},
		{&Slab{S: s, Desc: "SlabConfig{}"}, "offheap.NewSlab(SlabConfig{}) Alloc/DecRef"},
	} {
		for _, n := range []int{1, 100, 16 << 10, 100, 16 << 10} {
			b := c.a.Alloc(n)
			if len(b) != n {
				t.Fatalf("%T: Alloc(%d) has len %d", c.a, n, len(b))
			}
			b[0], b[n-1] = 1, 2
			c.a.Free(b)
		}
		c.a.AfterFree()
		c.a.Scavenge()
		if p, d := c.a.Decommits(); (p < 0) != (d < 0) {
			t.Errorf("%T: decommits %d, %d bytes", c.a, p, d)
		}
		if !strings.Contains(c.a.Info(), c.info) {
			t.Errorf("%T: Info %q lacks %q", c.a, c.a.Info(), c.info)
		}
		if err := c.a.Close(); err != nil {
			t.Errorf("%T: Close: %v", c.a, err)
		}
	}
	if after != 1 {
		t.Errorf("Native.After ran %d times", after)
	}
}
