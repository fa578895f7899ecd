//go:build !offheap_shared

package bindings

// arena_bundled.go hands go/offheap's Arena whole blocks to bump through on
// the Go side (c/src/arena.c, "blocks for a binding's own bump allocation"):
// one call per block instead of one per allocation. The functions are the
// core's internals, so an installed library (offheap_shared) has none and the
// Arena makes one call per allocation there (arena_shared.go).

/*
#include "internal.h"
#include "errcodes.h"

typedef struct { void *p; size_t cap; int err; } ohg_block;
static inline ohg_block ohg_arena_take_block(oh_arena_t *a, size_t need, size_t align) {
	ohg_block r;
	r.cap = 0;
	r.p = ohi_arena_take_block(a, need, align, &r.cap);
	r.err = r.p != NULL ? OHG_OK : ohg_code(errno);
	return r;
}
static inline void ohg_arena_settle(oh_arena_t *a, uintptr_t data, size_t used) { ohi_arena_settle(a, (void *)data, used); }
#cgo noescape ohg_arena_take_block
#cgo nocallback ohg_arena_take_block
#cgo noescape ohg_arena_settle
#cgo nocallback ohg_arena_settle
*/
import "C"

import "unsafe"

// ArenaBlocks reports whether TakeBlock and Settle are available.
const ArenaBlocks = true

// TakeBlock takes a block with room for need bytes aligned to align and
// returns its data (16-byte aligned) and usable bytes. ENOMEM when the OS
// refuses, EINVAL for a destroyed arena or a size out of range.
func (a Arena) TakeBlock(need, align uintptr) (unsafe.Pointer, uintptr, Err) {
	r := C.ohg_arena_take_block(a.a, C.size_t(need), C.size_t(align))
	if e := Err(r.err); e != OK {
		return nil, 0, e
	}
	return r.p, uintptr(r.cap), OK
}

// Settle tells the core how many bytes from the start of a taken block
// (data as TakeBlock returned it) were handed out.
func (a Arena) Settle(data unsafe.Pointer, used uintptr) {
	C.ohg_arena_settle(a.a, C.uintptr_t(uintptr(data)), C.size_t(used))
}
