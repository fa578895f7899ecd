package offheap

// owns.go gives every allocator the same question, "is this slice the start of
// one of your live allocations?", answered from the core's tables without
// touching the memory: Owns on the process-wide allocator, Slab, Pool and
// BufferPool (Arena.Owns is in arena.go), and the liveness check behind
// go-slab's Locs and chains (slab_goslab.go).

import "github.com/offheap/offheap/bindings"

// Owns reports whether b starts at a live allocation of the process-wide
// allocator (Alloc, Calloc, TryAlloc, MakeSlice, New): false for nil and empty
// slices, Go-heap memory, interior slices, freed allocations and memory of a
// Slab, Pool, BufferPool or Arena. Like every ownership check it reads only
// the allocator's own tables, never b's bytes.
func Owns(b []byte) bool {
	if cap(b) == 0 {
		return false
	}
	return defaultHeap.owns("Owns", uintptr(slicePtr(b)))
}

// Owns reports whether b starts at a live allocation of this Slab (reference
// count at least 1), as go-slab's Arena.Owns does. It panics if the Slab is
// closed.
func (s *Slab) Owns(b []byte) bool {
	s.check("Slab.Owns")
	if cap(b) == 0 {
		s.h.checkOpen("Slab.Owns") // a closed Slab still panics
		return false
	}
	return s.h.owns("Slab.Owns", uintptr(slicePtr(b)))
}

// Owns reports whether b starts at an object of this pool that is out (taken
// by Get, not yet Put back). It panics if the pool is closed. On a bounded
// pool (MaxObjects > 0) it lists the objects out: O(objects out), a check for
// tests and assertions rather than for a hot path.
func (p *Pool) Owns(b []byte) bool {
	p.check("Pool.Owns")
	if p.h != nil {
		if cap(b) == 0 {
			p.h.checkOpen("Pool.Owns")
			return false
		}
		return p.h.owns("Pool.Owns", uintptr(slicePtr(b)))
	}
	p.b.mu.RLock()
	defer p.b.mu.RUnlock()
	if p.b.closed {
		panic(closedMisuse("Pool.Owns", "Pool"))
	}
	if cap(b) == 0 {
		return false
	}
	addr := sliceAddr(b)
	for _, l := range p.b.p.Leaks() {
		if l.Ptr == addr {
			return true
		}
	}
	return false
}

// Owns reports whether b starts at one of this pool's buffers that is out
// (taken by Get, not yet Put back). It panics if the pool is closed.
func (p *BufferPool) Owns(b []byte) bool {
	p.check("BufferPool.Owns")
	if cap(b) == 0 {
		p.h.checkOpen("BufferPool.Owns")
		return false
	}
	return p.h.owns("BufferPool.Owns", uintptr(slicePtr(b)))
}

// owns reports whether p is the first byte of a live allocation of h. It
// panics if h is closed.
func (h *heap) owns(op string, p uintptr) bool {
	sh := h.beginCall(op)
	defer sh.endCall()
	if isZeroBase(p) {
		return false
	}
	if h.fast() {
		w, _, e := h.c.Find(p)
		return e == bindings.OK && w.RefCount() >= 1
	}
	rc, e := h.c.RefCount(p)
	return e == bindings.OK && rc >= 1
}

// liveSize returns the usable size of the live allocation of h that starts at
// p, or the core's verdict on why p is not one (EALREADY for a freed chunk).
func (h *heap) liveSize(op string, p uintptr) (int, bindings.Err) {
	sh := h.beginCall(op)
	defer sh.endCall()
	if h.fast() {
		if w, cls, e := h.c.Find(p); e == bindings.OK && cls >= 0 {
			if w.RefCount() == 0 {
				return 0, bindings.EALREADY
			}
			if cls < len(h.classes) {
				return h.classes[cls].size, bindings.OK
			}
			return int(h.c.ClassSize(cls)), bindings.OK
		}
	}
	rc, e := h.c.RefCount(p)
	if e != bindings.OK {
		return 0, e
	}
	if rc == 0 {
		return 0, bindings.EALREADY
	}
	n, e := h.c.UsableSize(p)
	return int(n), e
}
