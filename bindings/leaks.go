package bindings

// leaks.go lists the live allocations of a Slab or a Pool (oh_slab_leaks,
// oh_pool_leaks) for go/offheap's leak reports: the core's callback fills a
// buffer in C, which grows until the snapshot fits.

/*
#include <stdint.h>
#include "offheap.h"

typedef struct { uintptr_t ptr; uint64_t size; int64_t refs; int64_t cls; } ohg_leak;
typedef struct { ohg_leak *out; size_t cap, n; } ohg_leak_sink;
static void ohg_leak_cb(void *p, size_t size, long refs, int cls, void *arg) {
	ohg_leak_sink *k = arg;
	if (k->n < k->cap) {
		ohg_leak l = {(uintptr_t)p, size, refs, cls};
		k->out[k->n] = l;
	}
	k->n++;
}
static inline size_t ohg_slab_leaks(oh_slab_t *s, ohg_leak *out, size_t cap) {
	ohg_leak_sink k = {out, cap, 0};
	oh_slab_leaks(s, ohg_leak_cb, &k);
	return k.n;
}
static inline size_t ohg_pool_leaks(oh_pool_t *p, ohg_leak *out, size_t cap) {
	ohg_leak_sink k = {out, cap, 0};
	oh_pool_leaks(p, ohg_leak_cb, &k);
	return k.n;
}
#cgo noescape ohg_slab_leaks
#cgo nocallback ohg_slab_leaks
#cgo noescape ohg_pool_leaks
#cgo nocallback ohg_pool_leaks
*/
import "C"

import "unsafe"

// Leak is one live allocation reported by oh_slab_leaks / oh_pool_leaks.
type Leak struct {
	Ptr   uintptr
	Size  uint64
	Refs  int64
	Class int64 // -1: whole pages
}

var _ [unsafe.Sizeof(Leak{}) - C.sizeof_ohg_leak]byte
var _ [C.sizeof_ohg_leak - unsafe.Sizeof(Leak{})]byte

// collectLeaks calls fill with a growing buffer until the snapshot fits.
func collectLeaks(fill func(out *C.ohg_leak, capacity C.size_t) C.size_t) []Leak {
	n := int(fill(nil, 0))
	for {
		out := make([]Leak, n+16)
		got := int(fill((*C.ohg_leak)(unsafe.Pointer(&out[0])), C.size_t(len(out))))
		if got <= len(out) {
			return out[:got]
		}
		n = got
	}
}

// Leaks lists the live allocations of s; the zero Slab means the
// process-wide instance.
func (s Slab) Leaks() []Leak {
	return collectLeaks(func(out *C.ohg_leak, capacity C.size_t) C.size_t { return C.ohg_slab_leaks(s.h, out, capacity) })
}

// Leaks lists the live objects of p.
func (p Pool) Leaks() []Leak {
	return collectLeaks(func(out *C.ohg_leak, capacity C.size_t) C.size_t { return C.ohg_pool_leaks(p.p, out, capacity) })
}
