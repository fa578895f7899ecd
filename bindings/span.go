//go:build !offheap_shared

package bindings

// span.go exists so that go/offheap can word a refused release precisely:
// the core answers a Free of a Map slice, and an Unmap of an allocator's
// slice, with EINVAL alone (as for foreign memory), and the Go message should
// say "it came from Map, use Unmap" or "it is not from Map". SpanKindOf asks
// the core's region map which kind of memory an address lies in. It is only
// called on error paths, so it is a plain call (not the fast path's direct
// reads), and it works in every build that compiles the core in (-asan
// included); span_shared.go answers SpanUnknown for an installed library,
// whose internals are hidden.

/*
#include "internal.h"

static inline int ohg_span_kind(uintptr_t p) {
	ohi_span_t *sp = ohi_region_lookup((const void *)p);
	if (sp == NULL) return 0;
	uint32_t kind = __atomic_load_n(&sp->kind, __ATOMIC_ACQUIRE);
	uintptr_t base = __atomic_load_n(&sp->base, __ATOMIC_RELAXED);
	size_t size = __atomic_load_n(&sp->size, __ATOMIC_RELAXED);
	if (kind == 0 || p < base || p - base >= size) return 0;
	return (int)kind;
}
#cgo noescape ohg_span_kind
#cgo nocallback ohg_span_kind
*/
import "C"

// SpanKind is what the core's region map says an address lies in.
type SpanKind int

const (
	SpanUnknown SpanKind = -1               // not known in this build
	SpanNone    SpanKind = 0                // not the core's memory (or already released)
	SpanSlab    SpanKind = C.OHI_SPAN_SLAB  // a chunk of a slab
	SpanLarge   SpanKind = C.OHI_SPAN_LARGE // a whole-page allocation of a heap
	SpanMap     SpanKind = C.OHI_SPAN_MAP   // a mapping of Map
	SpanArena   SpanKind = C.OHI_SPAN_ARENA // an arena block
)

// SpanKindOf returns the kind of the core's memory that p lies in, without
// touching p. The answer may be stale by the time it is read; use it to word
// messages, never to decide.
func SpanKindOf(p uintptr) SpanKind { return SpanKind(C.ohg_span_kind(C.uintptr_t(p))) }
