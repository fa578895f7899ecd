package bindings

// map.go is the page layer of the C ABI (c/src/map.c, pages.c): whole-page
// mappings for go/offheap's Map and Unmap, and Decommit of any range.

/*
#include "errcodes.h"
#include <stdint.h>
#include "offheap.h"

static inline ohg_ptr ohg_map(size_t n) { return ohg_ptr_result(oh_map(n)); }
static inline int ohg_unmap(uintptr_t p, size_t n) { return ohg_int_result(oh_unmap((void *)p, n)); }
static inline size_t ohg_decommit(uintptr_t p, size_t n) { return oh_decommit((void *)p, n); }
#cgo noescape ohg_map
#cgo nocallback ohg_map
#cgo noescape ohg_unmap
#cgo nocallback ohg_unmap
#cgo noescape ohg_decommit
#cgo nocallback ohg_decommit
*/
import "C"

import "unsafe"

// Map maps n bytes rounded up to whole pages, zeroed.
func Map(n uintptr) (unsafe.Pointer, Err) {
	r := C.ohg_map(C.size_t(n))
	return r.p, Err(r.err)
}

// Unmap unmaps a mapping made by Map; n is its size.
func Unmap(p, n uintptr) Err { return Err(C.ohg_unmap(C.uintptr_t(p), C.size_t(n))) }

// Decommit decommits the whole pages strictly inside [p, p+n) and returns the
// bytes decommitted. The range must be memory that stays mapped during the call.
func Decommit(p, n uintptr) uintptr { return uintptr(C.ohg_decommit(C.uintptr_t(p), C.size_t(n))) }
