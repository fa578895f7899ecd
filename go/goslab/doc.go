// Package goslab is couchbase/go-slab's API, names and semantics, with the
// memory off the Go heap: replacing the import path
//
//	import slab "github.com/couchbase/go-slab"
//
// by
//
//	import slab "github.com/offheap/offheap/go/goslab"
//
// is the whole migration. NewArena, Alloc, AddRef, DecRef, Owns, GetNext,
// SetNext, BufToLoc, LocToBuf, LocAddRef, LocDecRef, Stats, Loc, NilLoc,
// Loc.IsNil and Loc.Slice keep go-slab's signatures and behaviour: Alloc
// returns nil for a request larger than the slab size (or when the malloc
// hook returns nil), BufToLoc of a buffer the Arena does not hold returns the
// nil Loc, LocAddRef and LocDecRef of the nil Loc do nothing, AddRef, DecRef,
// Owns, SetNext and GetNext accept any slice inside a chunk (a Loc.Slice
// turned back into bytes, b[4:9]) and act on that chunk, and Stats fills
// go-slab's keys (totAllocs, totDecRefZeroes, slabClass-000002-numChunksInUse,
// ...) with go-slab's figures: its slab classes (startChunkSize times
// growthFactor) and its slabs are accounted as go-slab would lay them out.
//
// The memory is an *offheap.Slab's (go/offheap): no Go heap, no second
// allocator. The Arena adds one table of its live chunks (address,
// generation, go-slab class, chain link), pointer-free so the collector does
// not scan it. What changes:
//
//   - The malloc hook is consulted, not used: it is called with go-slab's
//     slab size whenever go-slab would add a slab, and a nil result makes that
//     Alloc return nil, as in go-slab (so a hook that enforces a budget keeps
//     working); the slice it returns is dropped, since the bytes come from
//     offheap. A hook that hands out memory that must be released would leak
//     it: pass nil.
//   - cap(buf) is the chunk's size, not go-slab's len + 12-byte footer (there is
//     no footer). A slice keeps its chunk findable as long as its capacity
//     reaches the chunk's end, as go-slab needs its footer.
//   - Misuse is reported by a panic with a *MisuseError that names it, where
//     go-slab panics with a string or, for a stale Loc, silently reads the new
//     owner's bytes: a Loc carries its chunk's generation, and a Loc whose
//     buffer was freed (and perhaps handed out again) panics when used. A
//     slice whose chunk was freed panics too (foreign, freed, double release).
//   - Arenas are safe for concurrent use (go-slab's are not).
//   - Close (an addition) frees everything at once; an Arena dropped without
//     Close gives its memory back when nothing allocated from it is live.
//
// go-slab's public-API tests pass against this package with only their
// import changed, but for the cap assertion above (compat_test.go mirrors
// them); its tests of unexported internals do not apply.
package goslab
