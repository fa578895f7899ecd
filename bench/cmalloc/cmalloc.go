// Package cmalloc is the naive baseline of the micro-benchmarks: a []byte over
// C.malloc, freed with C.free, one plain cgo call each way (no batching, no
// cgo noescape/nocallback annotations, no cache on the Go side). It is what a
// user who "just calls malloc from Go" would write, and it uses whatever
// malloc the process has (glibc's in a Go binary).
package cmalloc

/*
#include <stdlib.h>
*/
import "C"

import "unsafe"

// Malloc returns n bytes of uninitialised C memory, or panics if malloc fails.
func Malloc(n int) []byte {
	p := C.malloc(C.size_t(n))
	if p == nil {
		panic("cmalloc: malloc failed")
	}
	return unsafe.Slice((*byte)(p), n)
}

// Free frees a slice returned by Malloc.
func Free(b []byte) {
	C.free(unsafe.Pointer(unsafe.SliceData(b)))
}
