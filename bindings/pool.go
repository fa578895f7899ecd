package bindings

// pool.go is Pool, a handle to an oh_pool_t: fixed-size objects with an
// optional bound, behind go/offheap's bounded Pool. Its leak list is in
// leaks.go.

/*
#include "errcodes.h"
#include <stdint.h>
#include "offheap.h"

typedef struct { oh_pool_t *p; int err; } ohg_pool;
static inline ohg_pool ohg_pool_new(size_t size, size_t max_objects, size_t block_objects) {
	oh_pool_config_t cfg;
	cfg.max_objects = max_objects;
	cfg.block_objects = block_objects;
	ohg_pool r;
	r.p = oh_pool_new(size, &cfg);
	r.err = r.p != NULL ? OHG_OK : ohg_code(errno);
	return r;
}
static inline ohg_ptr ohg_pool_get(oh_pool_t *p) { return ohg_ptr_result(oh_pool_get(p)); }
static inline int ohg_pool_put(oh_pool_t *p, uintptr_t obj) { return ohg_int_result(oh_pool_put(p, (void *)obj)); }
static inline int ohg_pool_stats(oh_pool_t *p, oh_stats_t *out) { return ohg_int_result(oh_pool_stats(p, out)); }
static inline int ohg_pool_destroy(oh_pool_t *p) { return ohg_int_result(oh_pool_destroy(p)); }
#cgo noescape ohg_pool_new
#cgo nocallback ohg_pool_new
#cgo noescape ohg_pool_get
#cgo nocallback ohg_pool_get
#cgo noescape ohg_pool_put
#cgo nocallback ohg_pool_put
#cgo noescape ohg_pool_stats
#cgo nocallback ohg_pool_stats
#cgo noescape ohg_pool_destroy
#cgo nocallback ohg_pool_destroy
*/
import "C"

import "unsafe"

// Pool is a handle to an oh_pool_t. The zero Pool is invalid.
type Pool struct{ p *C.oh_pool_t }

// NewPool is oh_pool_new.
func NewPool(size, maxObjects, blockObjects uintptr) (Pool, Err) {
	r := C.ohg_pool_new(C.size_t(size), C.size_t(maxObjects), C.size_t(blockObjects))
	return Pool{r.p}, Err(r.err)
}

// Get is oh_pool_get.
func (p Pool) Get() (unsafe.Pointer, Err) {
	r := C.ohg_pool_get(p.p)
	return r.p, Err(r.err)
}

// Put is oh_pool_put.
func (p Pool) Put(obj uintptr) Err { return Err(C.ohg_pool_put(p.p, C.uintptr_t(obj))) }

// ReadStats is oh_pool_stats.
func (p Pool) ReadStats(out *Stats) Err {
	var cs C.oh_stats_t
	if e := Err(C.ohg_pool_stats(p.p, &cs)); e != OK {
		return e
	}
	out.fill(&cs)
	return OK
}

// Destroy is oh_pool_destroy.
func (p Pool) Destroy() Err { return Err(C.ohg_pool_destroy(p.p)) }
