//go:build offheap_shared

package bindings

// span_shared.go is span.go for an installed liboffheap: its region map is
// not exported, so the kind of an address is not known and go/offheap words
// its messages without it.

// SpanKind is what the core's region map says an address lies in.
type SpanKind int

const (
	SpanUnknown SpanKind = -1 // not known in this build
	SpanNone    SpanKind = 0  // not the core's memory (or already released)
	SpanSlab    SpanKind = 1  // a chunk of a slab
	SpanLarge   SpanKind = 2  // a whole-page allocation of a heap
	SpanMap     SpanKind = 3  // a mapping of Map
	SpanArena   SpanKind = 4  // an arena block
)

// SpanKindOf always answers SpanUnknown with a shared library.
func SpanKindOf(p uintptr) SpanKind { return SpanUnknown }
