package offheap

// alloc_test.go - the process-wide allocator (alloc.go): sizes, alignment,
// zeroing, TryAlloc's errors, empty and negative sizes, MakeSlice.

import (
	"errors"
	"testing"
	"unsafe"
)

func TestAllocFree(t *testing.T) {
	for _, n := range []int{1, 15, 16, 17, 100, 1000, 4096, 5000, 64 << 10, 1 << 20, 1<<20 + 1, 3 << 20} {
		b := Alloc(n)
		if len(b) != n || cap(b) != n {
			t.Fatalf("Alloc(%d): len %d cap %d, want both %d", n, len(b), cap(b), n)
		}
		if a := sliceAddr(b); a%16 != 0 {
			t.Fatalf("Alloc(%d) = %#x, not 16-byte aligned", n, a)
		}
		fill(b, byte(n))
		if err := checkFill(b, byte(n)); err != nil {
			t.Fatal(err)
		}
		Free(b)
	}
}

func TestCalloc(t *testing.T) {
	// Dirty some memory of each size first, so Calloc must really zero.
	sizes := []int{16, 48, 1000, 4096, 100000, 2 << 20}
	for _, n := range sizes {
		b := Alloc(n)
		fill(b, 0xaa)
		Free(b)
	}
	for _, n := range sizes {
		b := Calloc(n)
		if len(b) != n || cap(b) != n {
			t.Fatalf("Calloc(%d): len %d cap %d", n, len(b), cap(b))
		}
		for i, c := range b {
			if c != 0 {
				t.Fatalf("Calloc(%d)[%d] = %#x, want 0", n, i, c)
			}
		}
		Free(b)
	}
}

func TestTryAlloc(t *testing.T) {
	b, err := TryAlloc(100)
	if err != nil || len(b) != 100 {
		t.Fatalf("TryAlloc(100) = len %d, %v", len(b), err)
	}
	Free(b)
	// 2^50 bytes: beyond what the core represents, and beyond any machine.
	b, err = TryAlloc(1 << 50)
	if err == nil || !errors.Is(err, ErrOutOfMemory) || b != nil {
		t.Fatalf("TryAlloc(1<<50) = %d bytes, %v; want nil and an error wrapping ErrOutOfMemory", len(b), err)
	}
	// 2^45 bytes is representable but far more than the test machine has; the
	// OS may or may not refuse to map it, so only the error's form is checked.
	if b, err := TryAlloc(1 << 45); err != nil {
		if !errors.Is(err, ErrOutOfMemory) {
			t.Fatalf("TryAlloc(1<<45) error %v does not wrap ErrOutOfMemory", err)
		}
	} else {
		Free(b)
	}
	mustPanicOOM(t, func() { Alloc(1 << 50) }, "Alloc(1125899906842624)")
	mustPanicOOM(t, func() { Calloc(1 << 50) }, "Calloc(")
}

func TestZeroSize(t *testing.T) {
	for _, b := range [][]byte{Alloc(0), Calloc(0)} {
		if b == nil || len(b) != 0 || cap(b) != 0 {
			t.Fatalf("Alloc(0) = %v (nil %v), want a non-nil empty slice", b, b == nil)
		}
		Free(b) // owns nothing; a no-op
		Free(b)
	}
	b, err := TryAlloc(0)
	if err != nil || b == nil {
		t.Fatalf("TryAlloc(0) = %v, %v", b, err)
	}
	s := MakeSlice[int64](0)
	FreeSlice(s)
	e := MakeSlice[struct{}](10)
	if len(e) != 10 {
		t.Fatalf("MakeSlice[struct{}](10) has len %d", len(e))
	}
	FreeSlice(e)
}

func TestNegativeSize(t *testing.T) {
	mustPanic(t, func() { Alloc(-1) }, "Alloc of negative size -1")
	mustPanic(t, func() { Calloc(-5) }, "Calloc of negative size -5")
	mustPanic(t, func() { TryAlloc(-1) }, "TryAlloc of negative size -1")
	mustPanic(t, func() { MakeSlice[int](-2) }, "MakeSlice of negative size -2")
}

// TestFreeResliced checks the documented rule: b[:k] of an allocation frees it.
func TestFreeResliced(t *testing.T) {
	b := Alloc(64)
	Free(b[:10])
	mustPanic(t, func() { Free(b) }, "double Free", hex(sliceAddr(b)))
	c := Alloc(64)
	Free(c[:0]) // len 0 but cap 64: still identifies the allocation
	mustPanic(t, func() { Free(c) }, "double Free")
}

type point struct {
	X, Y float64
	Tag  [4]byte
}

func TestMakeSlice(t *testing.T) {
	// Dirty memory first so the zeroing is tested.
	d := Alloc(1000 * int(unsafe.Sizeof(point{})))
	fill(d, 0x55)
	Free(d)
	s := MakeSlice[point](1000)
	if len(s) != 1000 || cap(s) != 1000 {
		t.Fatalf("len %d cap %d", len(s), cap(s))
	}
	for i := range s {
		if s[i] != (point{}) {
			t.Fatalf("element %d = %+v, not zeroed", i, s[i])
		}
		s[i] = point{X: float64(i), Y: -float64(i)}
	}
	for i := range s {
		if s[i].X != float64(i) || s[i].Y != -float64(i) {
			t.Fatalf("element %d = %+v", i, s[i])
		}
	}
	FreeSlice(s)

	u := MakeSlice[uint64](1 << 18) // 2 MiB: whole pages
	u[len(u)-1] = 7
	FreeSlice(u)
	mustPanicOOM(t, func() { MakeSlice[[1 << 20]byte](1 << 50) }, "MakeSlice")
}

func TestMakeSlicePointerTypes(t *testing.T) {
	type withPtr struct {
		A int
		P *int
	}
	type nested struct {
		A [3]struct {
			B int
			S string
		}
	}
	mustPanic(t, func() { MakeSlice[*int](1) }, "MakeSlice[*int]", "Go pointers")
	mustPanic(t, func() { MakeSlice[string](1) }, "MakeSlice[string]")
	mustPanic(t, func() { MakeSlice[[]byte](1) }, "MakeSlice[[]uint8]")
	mustPanic(t, func() { MakeSlice[map[int]int](1) }, "MakeSlice[map[int]int]")
	mustPanic(t, func() { MakeSlice[chan int](1) }, "MakeSlice[chan int]")
	mustPanic(t, func() { MakeSlice[func()](1) }, "MakeSlice[func()]")
	mustPanic(t, func() { MakeSlice[any](1) }, "MakeSlice[interface {}]")
	mustPanic(t, func() { MakeSlice[unsafe.Pointer](1) }, "MakeSlice[unsafe.Pointer]")
	mustPanic(t, func() { MakeSlice[withPtr](1) }, "withPtr", "Go pointers")
	mustPanic(t, func() { MakeSlice[[2]*int](1) }, "[2]*int")
	mustPanic(t, func() { MakeSlice[nested](1) }, "nested")
	mustPanic(t, func() { FreeSlice([]*int{new(int)}) }, "FreeSlice[*int]", "Go pointers")
	// Pointer-free composites are fine, including an empty array of pointers.
	FreeSlice(MakeSlice[struct {
		A [4]float32
		B complex128
		C [0]*int
		D uintptr
		E bool
	}](3))
}
