package offheap

// bench_test.go - microbenchmarks of the hot paths (Alloc/Free, Slab,
// BufferPool, Pool) against the cgo call they avoid and sync.Pool.

import (
	"sync"
	"testing"

	"github.com/offheap/offheap/bindings"
)

func BenchmarkAllocFree64(b *testing.B) {
	for b.Loop() {
		Free(Alloc(64))
	}
}

func BenchmarkAllocFree64Parallel(b *testing.B) {
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			Free(Alloc(64))
		}
	})
}

// BenchmarkCgoAllocFree64 is the same through one call each way, for
// comparison with the cached path.
func BenchmarkCgoAllocFree64(b *testing.B) {
	for b.Loop() {
		p, _ := bindings.Alloc(64)
		bindings.Free(uintptr(p))
	}
}

func BenchmarkSlabAllocDecRef(b *testing.B) {
	s, _ := NewSlab(SlabConfig{})
	defer s.Close()
	for b.Loop() {
		s.DecRef(s.Alloc(256))
	}
}

func BenchmarkBufferPool16K(b *testing.B) {
	p := NewBufferPool(16 << 10)
	defer p.Close()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			p.Put(p.Get())
		}
	})
}

func BenchmarkSyncPool16K(b *testing.B) {
	p := sync.Pool{New: func() any { return new([16 << 10]byte) }}
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			p.Put(p.Get())
		}
	})
}

func BenchmarkPoolGetPut(b *testing.B) {
	p, _ := NewPool(256, PoolConfig{})
	defer p.Close()
	for b.Loop() {
		p.Put(p.Get())
	}
}
