package bindings

// span.go exists so that go/offheap can word a refused release precisely:
// the core answers a Free of a Map slice, and an Unmap of an allocator's
// slice, with EINVAL alone (as for foreign memory), and the Go message should
// say "it came from Map, use Unmap" or "it is not from Map". SpanKindOf asks
// the core (oh_kind_of, public, so the bundled and the shared build give the
// same answer) which kind of memory an address lies in. It is only called on
// error paths.

/*
#include <stdint.h>
#include "offheap.h"
static inline int ohg_kind_of(uintptr_t p) { return oh_kind_of((const void *)p); }
#cgo noescape ohg_kind_of
#cgo nocallback ohg_kind_of
*/
import "C"

// SpanKind is what the core's region map says an address lies in.
type SpanKind int

const (
	SpanNone  SpanKind = C.OH_KIND_NONE  // not the core's memory (or already released)
	SpanSlab  SpanKind = C.OH_KIND_SLAB  // a chunk of a slab
	SpanLarge SpanKind = C.OH_KIND_LARGE // a whole-page allocation of a heap
	SpanMap   SpanKind = C.OH_KIND_MAP   // a mapping of Map
	SpanArena SpanKind = C.OH_KIND_ARENA // an arena block
)

// SpanKindOf returns the kind of the core's memory that p lies in, without
// touching p. The answer may be stale by the time it is read; use it to word
// messages, never to decide.
func SpanKindOf(p uintptr) SpanKind { return SpanKind(C.ohg_kind_of(C.uintptr_t(p))) }
