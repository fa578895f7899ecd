package offheap

// bufferpool.go is BufferPool, a sync.Pool of equal-sized byte buffers kept
// off the Go heap: a heap of its own (cache.go) whose first size class holds
// the buffers. Its sync.Pool adapters are in syncpool.go, Owns in owns.go.

import (
	"fmt"
	"runtime"

	"github.com/offheap/offheap/bindings"
)

// A BufferPool is a pool of equal-sized byte buffers in the manner of
// sync.Pool, kept off the Go heap: Get and Put make no Go allocations (and, in
// steady state, no cgo calls), the buffers cost the garbage collector nothing,
// and buffers that sit idle in the pool longer than the purge delay
// (SetPurgeDelay) are decommitted - their memory goes back to the OS - instead
// of being dropped for the collector or kept resident.
//
// Get returns a buffer of len and cap Size() whose contents are unspecified
// (a recycled buffer keeps old data; a decommitted one reads as zeros). Put
// takes it back; the slice dangles afterwards. Put panics on misuse: a slice
// that is not one of this pool's buffers (of capacity Size(), starting at a
// buffer's first byte), or one already put back.
//
// Idle buffers wait in per-P caches of up to OFFHEAP_TCACHE_BYTES (1 MiB by
// default; at least 2 buffers, at most 64) each, for buffers up to that size;
// beyond that they go back to the pool's own heap in the C core, whose purge
// policy decommits slabs left empty. While the pool is in use, the buffers a
// per-P cache did not hand out for a purge delay go back to the core too;
// once the pool sees no Get or Put for a purge delay, the cached ones are
// decommitted where they are. Unlike sync.Pool the pool never drops a
// buffer for the collector, and a buffer that is never put back is never
// reclaimed. When a BufferPool becomes unreachable its idle buffers are freed,
// and all of its memory if no buffer is out; Close does the same at once.
type BufferPool struct {
	h    *heap
	size int
}

// NewBufferPool creates a pool of buffers of size bytes. It panics if size is
// not positive, or with an error wrapping ErrOutOfMemory.
func NewBufferPool(size int) *BufferPool {
	if size <= 0 {
		panic(misusef("NewBufferPool", 0, "NewBufferPool(%d): the buffer size must be positive", size))
	}
	// A heap of its own, so that buffers of another pool (or of Alloc) are
	// told apart by the core, with slabs of at least 8 buffers; its first
	// size class holds the buffers.
	slab := bufferPoolSlabSize(size)
	minChunk := min(size, slab) // larger buffers are whole-page allocations
	c, e := bindings.NewSlab(uintptr(minChunk), uintptr(slab), 2)
	if e != bindings.OK {
		panic(fmt.Errorf("offheap: NewBufferPool(%d): %w", size, ErrOutOfMemory))
	}
	maxChunk := 0
	if chunk := int(c.ClassSize(0)); chunk >= size {
		maxChunk = chunk
	}
	h := newHeap(c, "BufferPool", "this BufferPool", true, maxChunk, 0, 2)
	h.decommitIdle = true
	registerHeap(h)
	p := &BufferPool{h: h, size: size}
	runtime.AddCleanup(p, cleanupHeap, h)
	return p
}

// Size returns the buffer size.
func (p *BufferPool) Size() int { return p.size }

// Get returns a buffer of len and cap Size(). It panics if the pool is closed,
// or with an error wrapping ErrOutOfMemory if memory cannot be had.
func (p *BufferPool) Get() []byte {
	p.check("BufferPool.Get")
	ptr, e := p.h.alloc("BufferPool.Get", p.size, false)
	if e != bindings.OK {
		panic(allocError("BufferPool.Get", p.size, e))
	}
	return bytesAt(ptr, p.size)
}

// Put returns a buffer that Get returned (any length, the same capacity and
// first byte); b and its copies dangle afterwards.
func (p *BufferPool) Put(b []byte) {
	p.check("BufferPool.Put")
	if cap(b) != p.size {
		p.h.checkOpen("BufferPool.Put") // a closed pool still panics
		if cap(b) == 0 {
			panic(emptyMisuse("BufferPool.Put", b))
		}
		addr := sliceAddr(b)
		panic(misusef("BufferPool.Put", addr, "BufferPool.Put of a slice of capacity %d, not one of this pool's %d-byte buffers (%#x, len %d)", cap(b), p.size, addr, len(b)))
	}
	p.h.release("BufferPool.Put", slicePtr(b), len(b))
}

// Stats returns the figures of the pool's heap.
func (p *BufferPool) Stats() SlabStats {
	p.check("BufferPool.Stats")
	bs := p.h.stats("BufferPool.Stats")
	st := slabStats(&bs, bufferPoolSlabSize(p.size))
	st.Name = instanceName(p.h)
	return st
}

// Leaks lists the pool's buffers that are out (taken by Get, not Put back);
// buffers idle in the pool are not listed.
func (p *BufferPool) Leaks() []Allocation {
	p.check("BufferPool.Leaks")
	return named(p.h.leaks("BufferPool.Leaks"), instanceName(p.h))
}

// bufferPoolSlabSize is the slab size NewBufferPool gives a pool of size-byte
// buffers: at least 8 buffers per slab, from 1 MiB to 1 GiB.
func bufferPoolSlabSize(size int) int {
	slab := 1 << 20
	for slab < 8*size && slab < 1<<30 {
		slab <<= 1
	}
	return slab
}

// Close frees the pool's idle buffers and, if no buffer is out, all of its
// memory; buffers still out stay valid (but can no longer be put back). Any
// further call on p panics; a second Close returns ErrClosed.
func (p *BufferPool) Close() error {
	p.check("BufferPool.Close")
	if !p.h.close(false) {
		return ErrClosed
	}
	return nil
}

// SyncPool and SyncPoolPtr, the sync.Pool adapters, are in syncpool.go.
