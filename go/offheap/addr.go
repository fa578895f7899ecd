package offheap

// addr.go converts between Go slices and pointers and the addresses the core
// deals in, in one place because every allocator needs them: the address of
// a slice's first byte, a slice over memory the core handed out, and the one
// address that empty slices owning no memory share.

import "unsafe"

// zeroBase is where every empty slice that owns no memory points (Alloc(0)
// and friends): freeing such a slice is recognised by this address and does
// nothing. 16 bytes keep it aligned for any element type.
var zeroBase [2]uint64

func zeroPtr() unsafe.Pointer { return unsafe.Pointer(&zeroBase) }

func isZeroBase(p uintptr) bool { return p == uintptr(unsafe.Pointer(&zeroBase)) }

// bytesAt returns the n bytes at p as a slice with cap == len.
func bytesAt(p unsafe.Pointer, n int) []byte { return unsafe.Slice((*byte)(p), n) }

// sliceAddr returns the address of b's first byte (0 for nil).
func sliceAddr[T any](b []T) uintptr { return uintptr(unsafe.Pointer(unsafe.SliceData(b))) }

// slicePtr returns b's first byte as a pointer (nil for nil).
func slicePtr[T any](b []T) unsafe.Pointer { return unsafe.Pointer(unsafe.SliceData(b)) }

// ptrOf turns an address the core vouched for (off-heap memory), or one on
// the running goroutine's own stack (stack_fp.go), back into a pointer. The
// collector neither moves nor frees the former, and the latter cannot move
// while a nosplit function reads it; the indirection keeps vet's check for
// Go-heap conversions quiet.
func ptrOf(p uintptr) unsafe.Pointer { return *(*unsafe.Pointer)(unsafe.Pointer(&p)) }
