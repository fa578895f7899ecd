package offheap

// Errors and misuse reports. The C core reports what it found with an errno
// value (offheap.h, "Errors"); this file turns each into a message that names
// the operation, the misuse and the slice.

import (
	"errors"
	"fmt"

	"github.com/offheap/offheap/bindings"
)

// ErrOutOfMemory is wrapped by every error (and panic value) caused by the OS
// refusing memory, a size too large to represent, or a Pool reaching its
// MaxObjects.
var ErrOutOfMemory = errors.New("out of memory")

// ErrClosed is returned by a second Close.
var ErrClosed = errors.New("offheap: already closed")

// MisuseError is the panic value of every detected misuse: freeing a slice
// that offheap did not allocate, an interior slice, a slice of another
// instance, a double free, a reference count below zero, using an instance
// after Close. Its message names the misuse and the address.
type MisuseError struct {
	Op   string  // the operation, e.g. "Free", "Slab.DecRef"
	Addr uintptr // the slice's first byte (0 for nil)
	msg  string
}

func (e *MisuseError) Error() string { return e.msg }

func misusef(op string, addr uintptr, format string, args ...any) *MisuseError {
	return &MisuseError{Op: op, Addr: addr, msg: "offheap: " + fmt.Sprintf(format, args...)}
}

// releaseMisuse builds the report for a release (Free, DecRef, Put, AddRef)
// that the core refused with e. op names the call, what the allocator the slice
// was expected to come from ("offheap.Alloc", "this Slab", ...).
func releaseMisuse(op, what string, e bindings.Err, addr uintptr, n int) *MisuseError {
	switch e {
	case bindings.EINVAL:
		if bindings.SpanKindOf(addr) == bindings.SpanMap {
			return misusef(op, addr, "%s of a slice not allocated by offheap's allocators: it was mapped by offheap.Map (%#x, len %d); release it with Unmap", op, addr, n)
		}
		return misusef(op, addr, "%s of a slice not allocated by offheap (%#x, len %d)", op, addr, n)
	case bindings.EFAULT:
		return misusef(op, addr, "%s of an interior slice (%#x, len %d): it does not start where an allocation starts", op, addr, n)
	case bindings.EALREADY:
		switch op {
		case "Slab.DecRef":
			return misusef(op, addr, "%s of a freed slice (%#x, len %d): reference count below zero", op, addr, n)
		case "Slab.AddRef", "Slab.RefCount", "Slab.SetNext", "Slab.GetNext":
			return misusef(op, addr, "%s of a freed slice (%#x, len %d): use after free", op, addr, n)
		}
		return misusef(op, addr, "double %s of %#x (len %d): the slice was already freed", op, addr, n)
	case bindings.EXDEV:
		return misusef(op, addr, "%s of a slice that belongs to another allocator than %s (%#x, len %d)", op, what, addr, n)
	case bindings.EBUSY:
		return misusef(op, addr, "%s of a slice that still has more than one reference (%#x, len %d): use DecRef", op, addr, n)
	case bindings.EOVERFLOW:
		return misusef(op, addr, "%s of %#x (len %d): the reference count would exceed %d", op, addr, n, bindings.RefcountMax)
	}
	return misusef(op, addr, "%s of %#x (len %d) failed: %v", op, addr, n, e)
}

// emptyMisuse reports a release of a nil or empty slice.
func emptyMisuse[T any](op string, b []T) *MisuseError {
	if b == nil {
		return misusef(op, 0, "%s of a nil slice", op)
	}
	addr := sliceAddr(b)
	return misusef(op, addr, "%s of an empty slice (%#x, len 0, cap 0): an empty slice does not identify an allocation", op, addr)
}

// closedMisuse reports a call on a closed instance.
func closedMisuse(op, kind string) *MisuseError {
	return misusef(op, 0, "%s on a closed %s", op, kind)
}

// negativeSize panics like make does for a negative length.
func negativeSize(op string, n int) {
	panic(misusef(op, 0, "%s of negative size %d", op, n))
}

// allocError is the error for an allocation the core refused with e.
func allocError(op string, n int, e bindings.Err) error {
	if e == bindings.EINVAL {
		return fmt.Errorf("offheap: %s(%d): size too large: %w", op, n, ErrOutOfMemory)
	}
	return fmt.Errorf("offheap: %s(%d): %w", op, n, ErrOutOfMemory)
}
