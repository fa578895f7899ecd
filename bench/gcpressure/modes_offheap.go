// modes_offheap.go holds gcpressure's offheap modes: offheap.Alloc, a
// BufferPool per size class, and one Slab.
package main

import (
	"fmt"

	"github.com/offheap/offheap/bench/internal/allocs"
	"github.com/offheap/offheap/go/offheap"
)

// newOffheapAlloc is the process-wide allocator: offheap.Alloc / offheap.Free.
func newOffheapAlloc(config) (allocator, error) { return allocs.Offheap{}, nil }

// offheapPoolAlloc keeps one offheap.BufferPool per size class, like the
// sync-pool mode keeps one sync.Pool per class.
type offheapPoolAlloc struct {
	classes sizeClasses
	pools   []*offheap.BufferPool
}

func newOffheapPoolAlloc(cfg config) (allocator, error) {
	c := newSizeClasses(cfg.Size)
	return &offheapPoolAlloc{classes: c, pools: make([]*offheap.BufferPool, c.count)}, nil
}

func (a *offheapPoolAlloc) Alloc(n int) []byte {
	idx, size := a.classes.class(n)
	p := a.pools[idx]
	if p == nil {
		p = offheap.NewBufferPool(size)
		a.pools[idx] = p
	}
	return p.Get()[:n]
}

func (a *offheapPoolAlloc) Free(b []byte) {
	idx, size := a.classes.class(len(b))
	a.pools[idx].Put(b[:size])
}

func (a *offheapPoolAlloc) Close() error {
	for _, p := range a.pools {
		if p != nil {
			if err := p.Close(); err != nil {
				return err
			}
		}
	}
	return nil
}

// newOffheapSlabAlloc is one offheap.Slab: Alloc gives a refcount of 1 and
// DecRef frees. Its classes start at the smallest -size and grow by 1.25x in
// 1 MiB slabs (larger buffers get whole pages).
func newOffheapSlabAlloc(cfg config) (allocator, error) {
	sc := offheap.SlabConfig{MinChunk: int(min(cfg.Size.Lo, slabSize)), SlabSize: slabSize, Growth: 1.25}
	s, err := offheap.NewSlab(sc)
	if err != nil {
		return nil, err
	}
	return &allocs.Slab{S: s, Desc: fmt.Sprintf("%+v", sc)}, nil
}

const slabSize = 1 << 20
