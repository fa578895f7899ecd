package main

import (
	"fmt"

	"github.com/offheap/offheap/go/offheap"
)

// offheapAlloc is the process-wide allocator: offheap.Alloc / offheap.Free.
type offheapAlloc struct{}

func newOffheapAlloc(config) (allocator, error) { return offheapAlloc{}, nil }

func (offheapAlloc) Alloc(n int) []byte { return offheap.Alloc(n) }
func (offheapAlloc) Free(b []byte)      { offheap.Free(b) }
func (offheapAlloc) Close() error       { return nil }

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

// offheapSlabAlloc is one offheap.Slab: Alloc gives a refcount of 1 and DecRef
// frees. Its classes start at the smallest -size and grow by 1.25x in 1 MiB
// slabs (larger buffers get whole pages).
type offheapSlabAlloc struct {
	slab *offheap.Slab
}

const slabSize = 1 << 20

func newOffheapSlabAlloc(cfg config) (allocator, error) {
	s, err := offheap.NewSlab(offheap.SlabConfig{
		MinChunk: int(min(cfg.Size.Lo, slabSize)),
		SlabSize: slabSize,
		Growth:   1.25,
	})
	if err != nil {
		return nil, err
	}
	return &offheapSlabAlloc{slab: s}, nil
}

func (a *offheapSlabAlloc) Alloc(n int) []byte { return a.slab.Alloc(n) }

func (a *offheapSlabAlloc) Free(b []byte) {
	if !a.slab.DecRef(b) {
		panic(fmt.Sprintf("offheap-slab: DecRef of a buffer (len %d) with refcount 1 did not free it", len(b)))
	}
}

func (a *offheapSlabAlloc) Close() error { return a.slab.Close() }
