package offheap

// The process-wide allocator: Alloc, Calloc, TryAlloc, Free, and the typed
// MakeSlice / FreeSlice over them. They go through defaultHeap (cache.go),
// which serves small sizes from Go-side per-P caches.

import (
	"fmt"
	"math"
	"reflect"
	"sync"
	"unsafe"

	"github.com/offheap/offheap/bindings"
)

// Alloc returns n bytes of off-heap memory with len n and cap n. The contents
// are unspecified (use Calloc for zeroed memory). Free it with Free. It panics
// with an error wrapping ErrOutOfMemory if the memory cannot be had.
func Alloc(n int) []byte {
	b, err := alloc("Alloc", n, false)
	if err != nil {
		panic(err)
	}
	return b
}

// Calloc is Alloc with the contents zeroed.
func Calloc(n int) []byte {
	b, err := alloc("Calloc", n, true)
	if err != nil {
		panic(err)
	}
	return b
}

// TryAlloc is Alloc that returns an error wrapping ErrOutOfMemory instead of
// panicking when memory cannot be had, or when it would take the process
// past its memory limit (SetMemoryLimit).
func TryAlloc(n int) ([]byte, error) {
	r, err := memAdmit("TryAlloc", n)
	if err != nil {
		return nil, err
	}
	b, err := alloc("TryAlloc", n, false)
	memSettle(r, n)
	return b, err
}

func alloc(op string, n int, zero bool) ([]byte, error) {
	if n <= 0 {
		if n < 0 {
			negativeSize(op, n)
		}
		return bytesAt(zeroPtr(), 0), nil
	}
	p, e := allocChunk(n, zero)
	if e != bindings.OK {
		return nil, allocError(op, n, e)
	}
	return bytesAt(p, n), nil
}

// Free returns b, which Alloc, Calloc or TryAlloc returned, to the allocator.
// b must start at the first byte of the allocation (b[:k] of it is fine); its
// length does not matter. b and every slice of it dangle afterwards.
//
// Free panics with a *MisuseError, naming the problem and the address, when b
// is nil or has capacity zero (b[:0] of a live allocation is fine: it still
// names the allocation), was not allocated by offheap (a Go-heap slice, say), is an
// interior slice, belongs to a Slab, Pool or BufferPool, or was already freed.
func Free(b []byte) {
	if cap(b) == 0 {
		if b != nil && isZeroBase(sliceAddr(b)) {
			return
		}
		panic(emptyMisuse("Free", b))
	}
	p := slicePtr(b)
	if isZeroBase(uintptr(p)) {
		return
	}
	defaultHeap.release("Free", p, len(b)) // drops p's profile sample once the release is accepted
}

// MakeSlice returns a zeroed off-heap slice of n elements of T, with len n and
// cap n. T must not contain Go pointers (pointers, strings, slices, maps,
// channels, functions, interfaces, also inside arrays and structs): MakeSlice
// panics if it does, because the garbage collector cannot see pointers held in
// off-heap memory. Free it with FreeSlice.
func MakeSlice[T any](n int) []T {
	checkPointerFree[T]("MakeSlice")
	if n < 0 {
		negativeSize("MakeSlice", n)
	}
	size := unsafe.Sizeof(*new(T))
	if n == 0 || size == 0 {
		return unsafe.Slice((*T)(zeroPtr()), n)
	}
	if uint64(n) > math.MaxInt/uint64(size) {
		panic(fmt.Errorf("offheap: MakeSlice[%v](%d): size too large: %w", reflect.TypeFor[T](), n, ErrOutOfMemory))
	}
	p, e := allocChunk(n*int(size), true)
	if e != bindings.OK {
		panic(allocError(fmt.Sprintf("MakeSlice[%v]", reflect.TypeFor[T]()), n, e))
	}
	return unsafe.Slice((*T)(p), n)
}

// FreeSlice frees a slice returned by MakeSlice; the rules of Free apply.
func FreeSlice[T any](s []T) {
	checkPointerFree[T]("FreeSlice")
	if cap(s) == 0 {
		if s != nil && isZeroBase(sliceAddr(s)) {
			return
		}
		panic(emptyMisuse("FreeSlice", s))
	}
	p := slicePtr(s)
	if isZeroBase(uintptr(p)) { // zero-size elements
		return
	}
	defaultHeap.release("FreeSlice", p, len(s))
}

// pointerFree caches, per element type, whether it is free of Go pointers.
var pointerFree sync.Map // reflect.Type -> bool

func checkPointerFree[T any](op string) {
	t := reflect.TypeFor[T]()
	ok, seen := pointerFree.Load(t)
	if !seen {
		ok = !holdsPointers(t)
		pointerFree.Store(t, ok)
	}
	if !ok.(bool) {
		panic(misusef(op, 0, "%s[%v]: the element type holds Go pointers, which must never be stored in off-heap memory", op, t))
	}
}

// holdsPointers reports whether values of t contain Go pointers.
func holdsPointers(t reflect.Type) bool {
	switch t.Kind() {
	case reflect.Bool, reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr,
		reflect.Float32, reflect.Float64, reflect.Complex64, reflect.Complex128:
		return false
	case reflect.Array:
		return t.Len() > 0 && holdsPointers(t.Elem())
	case reflect.Struct:
		for i := 0; i < t.NumField(); i++ {
			if holdsPointers(t.Field(i).Type) {
				return true
			}
		}
		return false
	}
	// Pointer, UnsafePointer, String, Slice, Map, Chan, Func, Interface.
	return true
}
