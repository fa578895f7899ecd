package bindings

// arena.go is Arena, a handle to an oh_arena_t (bump allocation, freed all
// at once by Reset). The block calls go/offheap bumps through are in
// arena_bundled.go.

/*
#include "errcodes.h"
#include <stdint.h>
#include "offheap.h"

typedef struct { oh_arena_t *a; int err; } ohg_arena;
static inline ohg_arena ohg_arena_new(size_t block_size) {
	ohg_arena r;
	r.a = oh_arena_new(block_size);
	r.err = r.a != NULL ? OHG_OK : ohg_code(errno);
	return r;
}
static inline ohg_ptr ohg_arena_alloc(oh_arena_t *a, size_t n, size_t align) { return ohg_ptr_result(oh_arena_alloc(a, n, align)); }
static inline void ohg_arena_reset(oh_arena_t *a, int flags) { oh_arena_reset(a, flags); }
static inline int ohg_arena_owns(oh_arena_t *a, uintptr_t p) { return oh_arena_owns(a, (const void *)p); }
static inline int ohg_arena_destroy(oh_arena_t *a) { return ohg_int_result(oh_arena_destroy(a)); }
#cgo noescape ohg_arena_new
#cgo nocallback ohg_arena_new
#cgo noescape ohg_arena_alloc
#cgo nocallback ohg_arena_alloc
#cgo noescape ohg_arena_reset
#cgo nocallback ohg_arena_reset
#cgo noescape ohg_arena_owns
#cgo nocallback ohg_arena_owns
#cgo noescape ohg_arena_destroy
#cgo nocallback ohg_arena_destroy
*/
import "C"

import "unsafe"

// Arena reset flags.
const (
	ArenaDecommit = C.OH_ARENA_DECOMMIT
	ArenaKeep     = C.OH_ARENA_KEEP
)

// Arena is a handle to an oh_arena_t. The zero Arena is invalid.
type Arena struct{ a *C.oh_arena_t }

// NewArena is oh_arena_new.
func NewArena(blockSize uintptr) (Arena, Err) {
	r := C.ohg_arena_new(C.size_t(blockSize))
	return Arena{r.a}, Err(r.err)
}

// Alloc is oh_arena_alloc (align 0 = 16).
func (a Arena) Alloc(n, align uintptr) (unsafe.Pointer, Err) {
	r := C.ohg_arena_alloc(a.a, C.size_t(n), C.size_t(align))
	return r.p, Err(r.err)
}

// Reset is oh_arena_reset with ArenaDecommit or ArenaKeep.
func (a Arena) Reset(flags int) { C.ohg_arena_reset(a.a, C.int(flags)) }

// Owns is oh_arena_owns.
func (a Arena) Owns(p uintptr) bool { return C.ohg_arena_owns(a.a, C.uintptr_t(p)) != 0 }

// Destroy is oh_arena_destroy.
func (a Arena) Destroy() Err { return Err(C.ohg_arena_destroy(a.a)) }
