package bindings

// alloc.go is the process-wide allocator of the C ABI (oh_alloc, oh_calloc,
// oh_free): the uncached path behind go/offheap's Alloc and Free.

/*
#include "errcodes.h"
#include <stdint.h>
#include "offheap.h"

static inline ohg_ptr ohg_alloc(size_t n) { return ohg_ptr_result(oh_alloc(n)); }
static inline ohg_ptr ohg_calloc(size_t n) { return ohg_ptr_result(oh_calloc(n)); }
static inline int ohg_free(uintptr_t p) { return ohg_int_result(oh_free((void *)p)); }
#cgo noescape ohg_alloc
#cgo nocallback ohg_alloc
#cgo noescape ohg_calloc
#cgo nocallback ohg_calloc
#cgo noescape ohg_free
#cgo nocallback ohg_free
*/
import "C"

import "unsafe"

// Alloc is oh_alloc.
func Alloc(n uintptr) (unsafe.Pointer, Err) {
	r := C.ohg_alloc(C.size_t(n))
	return r.p, Err(r.err)
}

// Calloc is oh_calloc.
func Calloc(n uintptr) (unsafe.Pointer, Err) {
	r := C.ohg_calloc(C.size_t(n))
	return r.p, Err(r.err)
}

// Free is oh_free.
func Free(p uintptr) Err { return Err(C.ohg_free(C.uintptr_t(p))) }
