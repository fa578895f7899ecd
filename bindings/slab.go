package bindings

// slab.go is Slab, a handle to an oh_slab_t (an allocator instance with
// reference counts): allocation, references, sizes, classes and the batch
// calls behind go/offheap's caches. Its leak list is in leaks.go, PurgeEmpty
// in purge.go, the call-free fast path in chunk_bundled.go, owners in
// owner_bundled.go.

/*
#include "errcodes.h"
#include <stdint.h>
#include "offheap.h"

static inline oh_slab_t *ohg_default_slab(void) { return oh_default_slab(); }
typedef struct { oh_slab_t *s; int err; } ohg_slab;
static inline ohg_slab ohg_slab_new(size_t min_chunk, size_t slab_size, double growth) {
	oh_slab_config_t cfg;
	cfg.min_chunk = min_chunk;
	cfg.slab_size = slab_size;
	cfg.growth = growth;
	ohg_slab r;
	r.s = oh_slab_new(&cfg);
	r.err = r.s != NULL ? OHG_OK : ohg_code(errno);
	return r;
}
static inline int ohg_slab_destroy(oh_slab_t *s) { return ohg_int_result(oh_slab_destroy(s)); }
static inline ohg_ptr ohg_slab_alloc(oh_slab_t *s, size_t n) { return ohg_ptr_result(oh_slab_alloc(s, n)); }
static inline int ohg_slab_addref(oh_slab_t *s, uintptr_t p) { return ohg_int_result(oh_slab_addref(s, (void *)p)); }
// 1 freed, 0 references remain, or -code.
static inline int ohg_slab_decref(oh_slab_t *s, uintptr_t p) {
	int r = oh_slab_decref(s, (void *)p);
	return r >= 0 ? r : -ohg_code(errno);
}
// The reference count, or -code.
static inline long ohg_slab_refcount(oh_slab_t *s, uintptr_t p) {
	long r = oh_slab_refcount(s, (const void *)p);
	return r >= 0 ? r : -(long)ohg_code(errno);
}
typedef struct { size_t n; int err; } ohg_size;
static inline ohg_size ohg_slab_usable_size(oh_slab_t *s, uintptr_t p) {
	ohg_size r;
	r.n = oh_slab_usable_size(s, (const void *)p);
	r.err = r.n != 0 ? OHG_OK : ohg_code(errno);
	return r;
}
static inline int ohg_slab_class_count(oh_slab_t *s) { return oh_slab_class_count(s); }
static inline size_t ohg_slab_class_size(oh_slab_t *s, int i) { return oh_slab_class_size(s, i); }
static inline ohg_size ohg_slab_alloc_batch(oh_slab_t *s, int cls, uintptr_t *out, size_t n) {
	ohg_size r;
	r.n = oh_slab_alloc_batch(s, cls, (void **)out, n);
	r.err = r.n != 0 || n == 0 ? OHG_OK : ohg_code(errno);
	return r;
}
// On failure n is the index of the first bad pointer.
static inline ohg_size ohg_slab_free_batch(oh_slab_t *s, const uintptr_t *ptrs, size_t n) {
	ohg_size r;
	size_t bad = 0;
	r.err = oh_slab_free_batch(s, (void *const *)ptrs, n, &bad) == 0 ? OHG_OK : ohg_code(errno);
	r.n = bad;
	return r;
}
static inline int ohg_slab_stats(oh_slab_t *s, oh_stats_t *out) { return ohg_int_result(oh_slab_stats(s, out)); }
#cgo noescape ohg_default_slab
#cgo nocallback ohg_default_slab
#cgo noescape ohg_slab_new
#cgo nocallback ohg_slab_new
#cgo noescape ohg_slab_destroy
#cgo nocallback ohg_slab_destroy
#cgo noescape ohg_slab_alloc
#cgo nocallback ohg_slab_alloc
#cgo noescape ohg_slab_addref
#cgo nocallback ohg_slab_addref
#cgo noescape ohg_slab_decref
#cgo nocallback ohg_slab_decref
#cgo noescape ohg_slab_refcount
#cgo nocallback ohg_slab_refcount
#cgo noescape ohg_slab_usable_size
#cgo nocallback ohg_slab_usable_size
#cgo noescape ohg_slab_class_count
#cgo nocallback ohg_slab_class_count
#cgo noescape ohg_slab_class_size
#cgo nocallback ohg_slab_class_size
#cgo noescape ohg_slab_alloc_batch
#cgo nocallback ohg_slab_alloc_batch
#cgo noescape ohg_slab_free_batch
#cgo nocallback ohg_slab_free_batch
#cgo noescape ohg_slab_stats
#cgo nocallback ohg_slab_stats
*/
import "C"

import "unsafe"

// Slab is a handle to an oh_slab_t. The zero Slab is invalid.
type Slab struct{ h *C.oh_slab_t }

// DefaultSlab returns the process-wide instance behind Alloc and Free.
func DefaultSlab() Slab { return Slab{C.ohg_default_slab()} }

// NewSlab is oh_slab_new; zero fields take the core's defaults.
func NewSlab(minChunk, slabSize uintptr, growth float64) (Slab, Err) {
	r := C.ohg_slab_new(C.size_t(minChunk), C.size_t(slabSize), C.double(growth))
	return Slab{r.s}, Err(r.err)
}

// Valid reports whether s refers to an instance.
func (s Slab) Valid() bool { return s.h != nil }

// ID returns an address identifying the instance (the owner recorded in its spans).
func (s Slab) ID() uintptr { return uintptr(unsafe.Pointer(s.h)) }

// Destroy is oh_slab_destroy.
func (s Slab) Destroy() Err { return Err(C.ohg_slab_destroy(s.h)) }

// Alloc is oh_slab_alloc.
func (s Slab) Alloc(n uintptr) (unsafe.Pointer, Err) {
	r := C.ohg_slab_alloc(s.h, C.size_t(n))
	return r.p, Err(r.err)
}

// AddRef is oh_slab_addref.
func (s Slab) AddRef(p uintptr) Err { return Err(C.ohg_slab_addref(s.h, C.uintptr_t(p))) }

// DecRef is oh_slab_decref: freed reports whether this call freed p.
func (s Slab) DecRef(p uintptr) (freed bool, err Err) {
	r := int(C.ohg_slab_decref(s.h, C.uintptr_t(p)))
	if r < 0 {
		return false, Err(-r)
	}
	return r == 1, OK
}

// RefCount is oh_slab_refcount (0 for a free chunk of this instance).
func (s Slab) RefCount(p uintptr) (int, Err) {
	r := int(C.ohg_slab_refcount(s.h, C.uintptr_t(p)))
	if r < 0 {
		return 0, Err(-r)
	}
	return r, OK
}

// UsableSize is oh_slab_usable_size.
func (s Slab) UsableSize(p uintptr) (uintptr, Err) {
	r := C.ohg_slab_usable_size(s.h, C.uintptr_t(p))
	return uintptr(r.n), Err(r.err)
}

// ClassCount returns the number of size classes.
func (s Slab) ClassCount() int { return int(C.ohg_slab_class_count(s.h)) }

// ClassSize returns the chunk size of class i.
func (s Slab) ClassSize(i int) uintptr { return uintptr(C.ohg_slab_class_size(s.h, C.int(i))) }

// AllocBatch allocates up to len(out) chunks of class cls (refcount 1) into
// out and returns how many it allocated; 0 with ENOMEM.
func (s Slab) AllocBatch(cls int, out []unsafe.Pointer) (int, Err) {
	if len(out) == 0 {
		return 0, OK
	}
	r := C.ohg_slab_alloc_batch(s.h, C.int(cls), (*C.uintptr_t)(unsafe.Pointer(&out[0])), C.size_t(len(out)))
	return int(r.n), Err(r.err)
}

// FreeBatch frees the chunks of ptrs (each with refcount 1). On failure it
// returns the index of the first bad pointer: those before it were freed,
// it and those after it were not.
func (s Slab) FreeBatch(ptrs []unsafe.Pointer) (bad int, err Err) {
	if len(ptrs) == 0 {
		return 0, OK
	}
	r := C.ohg_slab_free_batch(s.h, (*C.uintptr_t)(unsafe.Pointer(&ptrs[0])), C.size_t(len(ptrs)))
	return int(r.n), Err(r.err)
}

// ReadStats fills out with the instance's figures, per class included.
func (s Slab) ReadStats(out *Stats) Err {
	var cs C.oh_stats_t
	if e := Err(C.ohg_slab_stats(s.h, &cs)); e != OK {
		return e
	}
	out.fill(&cs)
	return OK
}
