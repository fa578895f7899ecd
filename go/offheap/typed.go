package offheap

// typed.go gives off-heap memory typed values, the way Go's arena experiment
// and goumem do: New and Delete for single values from the process-wide
// allocator, NewIn and MakeSliceIn for values whose lifetime is an Arena's.
// The element-type rule of MakeSlice applies to all of them: off-heap memory
// must never hold Go pointers.

import (
	"fmt"
	"math"
	"reflect"
	"unsafe"

	"github.com/offheap/offheap/bindings"
)

// New returns a pointer to a zeroed T in off-heap memory; free it with
// Delete. T must not contain Go pointers (see MakeSlice): New panics with a
// *MisuseError if it does. A zero-size T gets a shared address that owns no
// memory, which Delete accepts. New panics with an error wrapping
// ErrOutOfMemory if memory cannot be had.
func New[T any]() *T {
	checkPointerFree[T]("New")
	size := int(unsafe.Sizeof(*new(T)))
	if size == 0 {
		return (*T)(zeroPtr())
	}
	p, e := allocChunk(size, true)
	if e != bindings.OK {
		panic(allocError(fmt.Sprintf("New[%v]", reflect.TypeFor[T]()), size, e))
	}
	return (*T)(p)
}

// Delete frees a value New returned; p dangles afterwards. It panics with a
// *MisuseError on misuse: p nil, not from New (a Go-heap value, a field or
// element inside an allocation), or already deleted. One misuse cannot be
// told apart: &s[0] of a slice MakeSlice returned has the slice's own address,
// so Delete(&s[0]) frees the whole slice (as FreeSlice(s) would) and s
// dangles.
func Delete[T any](p *T) {
	checkPointerFree[T]("Delete")
	if p == nil {
		panic(misusef("Delete", 0, "Delete[%v] of a nil pointer", reflect.TypeFor[T]()))
	}
	ptr := unsafe.Pointer(p)
	if isZeroBase(uintptr(ptr)) {
		return
	}
	defaultHeap.release("Delete", ptr, int(unsafe.Sizeof(*p)))
}

// NewIn returns a pointer to a zeroed T allocated from the arena a, valid
// until a's next Reset or Close (there is no Delete). T must not contain Go
// pointers. It panics if a is closed, or with an error wrapping
// ErrOutOfMemory.
func NewIn[T any](a *Arena) *T {
	checkPointerFree[T]("NewIn")
	var zero T
	size, align := int(unsafe.Sizeof(zero)), int(unsafe.Alignof(zero))
	b, err := a.allocAligned(size, max(align, 1), false) // panicking: soft past the memory limit
	if err != nil {
		panic(err)
	}
	clear(b)
	return (*T)(unsafe.Pointer(unsafe.SliceData(b)))
}

// MakeSliceIn returns a zeroed slice of T with the given length and capacity
// allocated from the arena a, valid until a's next Reset or Close. Appending
// within the capacity stays in the arena; past it, append moves the slice to
// the Go heap, as with make. T must not contain Go pointers. Negative sizes
// or len > cap panic like make's.
func MakeSliceIn[T any](a *Arena, len, cap int) []T {
	checkPointerFree[T]("MakeSliceIn")
	if len < 0 || cap < 0 || len > cap {
		panic(misusef("MakeSliceIn", 0, "MakeSliceIn[%v](len %d, cap %d): negative, or len larger than cap", reflect.TypeFor[T](), len, cap))
	}
	var zero T
	size, align := uint64(unsafe.Sizeof(zero)), int(unsafe.Alignof(zero))
	if size != 0 && uint64(cap) > math.MaxInt/size {
		panic(fmt.Errorf("offheap: MakeSliceIn[%v](%d, %d): size too large: %w", reflect.TypeFor[T](), len, cap, ErrOutOfMemory))
	}
	b, err := a.allocAligned(int(size)*cap, max(align, 1), false)
	if err != nil {
		panic(err)
	}
	clear(b)
	return unsafe.Slice((*T)(unsafe.Pointer(unsafe.SliceData(b))), cap)[:len]
}
