package micro

import (
	"sync"
	"testing"

	"github.com/offheap/offheap/go/offheap"
)

// BenchmarkSlab: Alloc a chunk (reference count 1), write its first and last
// byte, DecRef it (which frees it). One slab instance per implementation
// serves every size, as in an application; created on first use.

var (
	offheapSlabOnce sync.Once
	offheapSlabInst *offheap.Slab
	offheapSlabErr  error
)

// offheapSlab is an instance with the default configuration (the zero
// SlabConfig; if that is refused, the documented defaults spelled out).
func offheapSlab(tb testing.TB) *offheap.Slab {
	offheapSlabOnce.Do(func() {
		offheapSlabInst, offheapSlabErr = offheap.NewSlab(offheap.SlabConfig{})
		if offheapSlabErr != nil {
			offheapSlabInst, offheapSlabErr = offheap.NewSlab(offheap.SlabConfig{
				MinChunk: 16, SlabSize: 1 << 20, Growth: 1.25})
		}
	})
	if offheapSlabErr != nil {
		tb.Fatalf("offheap.NewSlab: %v", offheapSlabErr)
	}
	return offheapSlabInst
}

var slabImpls = []impl{
	{name: "offheap", setup: func(tb testing.TB, size int) func(int) workerFunc {
		s := offheapSlab(tb)
		return func(int) workerFunc {
			return func(n int) {
				for range n {
					buf := s.Alloc(size)
					touch(buf)
					if !s.DecRef(buf) {
						panic("offheap Slab.DecRef did not free a chunk with one reference")
					}
				}
			}
		}
	}},
}

func BenchmarkSlab(b *testing.B) { family(b, slabImpls) }
