package offheap

// map.go is Map and Unmap, whole pages straight from the OS through the
// core's oh_map / oh_unmap (c/src/map.c, whose name this file mirrors): for
// buffers too large or too long-lived for an allocator, with the core still
// telling a mapping apart from allocator memory when it is released.

import (
	"fmt"

	"github.com/offheap/offheap/bindings"
)

// PageSize returns the OS page size, the granularity of Map.
func PageSize() int { return pageSize }

var pageSize = bindings.PageSize()

// Map maps n bytes rounded up to whole pages and returns them as a slice of
// that rounded length (and capacity): page aligned, zeroed, read-write. Unmap
// releases it. Map(0) returns an empty slice that owns no memory.
func Map(n int) ([]byte, error) {
	if n <= 0 {
		if n < 0 {
			negativeSize("Map", n)
		}
		return bytesAt(zeroPtr(), 0), nil
	}
	size := (n + pageSize - 1) &^ (pageSize - 1)
	r, err := memAdmit("Map", size)
	if err != nil {
		return nil, err
	}
	p, e := bindings.Map(uintptr(n))
	memSettle(r, size)
	if e != bindings.OK {
		return nil, allocError("Map", n, e)
	}
	return bytesAt(p, size), nil
}

// Unmap releases a mapping made by Map; b (and every slice of it) dangles
// afterwards. b must start at the mapping's first byte and keep its capacity
// (b[:k] is fine). Unmap panics on misuse - b nil or empty, not mapped by Map
// (or already unmapped), interior, or with another capacity - and returns an
// error only if the OS refuses. Of two Unmaps of one mapping racing each
// other, exactly one succeeds; the other panics as for an unmapped slice.
func Unmap(b []byte) error {
	if cap(b) == 0 {
		if b != nil && isZeroBase(sliceAddr(b)) {
			return nil
		}
		panic(emptyMisuse("Unmap", b))
	}
	p := sliceAddr(b)
	if isZeroBase(p) {
		return nil
	}
	if cap(b)%pageSize != 0 {
		notMapped(p, cap(b))
		panic(misusef("Unmap", p, "Unmap of a slice whose capacity %d is not a whole number of pages (%#x): pass the slice Map returned", cap(b), p))
	}
	switch e := bindings.Unmap(p, uintptr(cap(b))); e {
	case bindings.OK:
		return nil
	case bindings.EINVAL:
		notMapped(p, cap(b))
		panic(misusef("Unmap", p, "Unmap of a slice not mapped by offheap.Map, already unmapped, or of another size (%#x, cap %d)", p, cap(b)))
	case bindings.EFAULT:
		panic(misusef("Unmap", p, "Unmap of an interior slice (%#x, cap %d): it does not start where the mapping starts", p, cap(b)))
	default:
		return fmt.Errorf("offheap: Unmap(%#x, %d): %v", p, cap(b), e)
	}
}

// notMapped panics, naming the misuse, when p is memory of one of offheap's
// allocators rather than a Map mapping (Unmap of an Alloc slice, say).
func notMapped(p uintptr, capacity int) {
	switch bindings.SpanKindOf(p) {
	case bindings.SpanSlab, bindings.SpanLarge, bindings.SpanArena:
		panic(misusef("Unmap", p, "Unmap of a slice not mapped by offheap.Map (%#x, cap %d): it belongs to an allocator (Alloc, Slab, Pool, BufferPool or Arena); release it there", p, capacity))
	}
}
