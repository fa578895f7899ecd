package offheap

// slab_goslab.go gives *Slab the rest of couchbase/go-slab's Arena API, under
// the same names, so that migrating is a matter of renaming the type: chains
// (SetNext, GetNext) and Loc handles (BufToLoc, LocToBuf, LocAddRef,
// LocDecRef, NilLoc, Loc.IsNil, Loc.Slice). Owns is in owns.go.
//
// Chains live in a Go-side table keyed by the chunk's address, sharded by a
// hash of it. The core knows nothing about them, so the table is consulted
// only where a chain can end: on the DecRef that frees a chunk. A Slab that
// never calls SetNext pays one atomic load per DecRef for the feature.
//
// A Loc holds the chunk's address as an integer, never as a Go pointer, so it
// may be stored in off-heap memory or in maps the collector does not scan.
// Every use checks the address against the core's tables (the region map,
// this Slab as owner, a chunk start, a reference count of at least 1) before
// anything is dereferenced, so a stale or foreign Loc panics with a
// *MisuseError instead of yielding a wild slice. A Loc also carries its
// chunk's generation (16 bits above the 48 of the address), kept in the same
// sharded table as the chains from the first BufToLoc of the chunk until the
// DecRef that frees it: a Loc whose chunk was freed and handed out again - to
// which go-slab silently gives the new owner's bytes - panics as stale (all
// but one reuse in 65535 of the same shard's generations).

import (
	"sync"
	"sync/atomic"
	"unsafe"

	"github.com/offheap/offheap/bindings"
)

// chainShards spreads the chain table's locks; a power of two.
const chainShards = 32

// chainTable maps a chunk to the buffer it holds a reference on (SetNext),
// and a chunk some Loc names to its generation (BufToLoc).
type chainTable struct {
	links  atomic.Int64 // entries of both kinds in all shards: 0 = DecRef's fast path
	shards [chainShards]chainShard
}

type chainShard struct {
	mu   sync.Mutex
	m    map[uintptr]chainLink // no Go pointers: the collector skips it
	gens map[uintptr]uint16    // Loc generations of live chunks
	next uint16                // the shard's last generation handed out
	_    [28]byte              // keep shards on separate cache lines
}

// chainLink is the next buffer of a chain: its first byte and its length.
type chainLink struct {
	p uintptr
	n int
}

func (t *chainTable) shard(p uintptr) *chainShard {
	return &t.shards[(p>>4^p>>12^p>>20)&(chainShards-1)]
}

// SetNext makes buf hold a reference on next, as go-slab's SetNext does: next's
// reference count goes up by one, the buffer buf previously held (if any) is
// released (its count goes down by one), and when buf's own count reaches zero
// the reference on next is released with it, and so on down the chain. A nil
// or empty next clears the link. buf and next must be live buffers of this
// Slab; anything else panics with a *MisuseError.
func (s *Slab) SetNext(buf, next []byte) {
	const op = "Slab.SetNext"
	s.check(op)
	p := s.liveBuf(op, buf)
	var link chainLink
	if len(next) > 0 {
		link = chainLink{p: sliceAddr(next), n: len(next)}
		s.h.addRef(op, link.p, link.n)
	}
	sh := s.chains.shard(p)
	sh.mu.Lock()
	old, had := sh.m[p]
	switch {
	case link.p != 0:
		if sh.m == nil {
			sh.m = make(map[uintptr]chainLink)
		}
		sh.m[p] = link
		if !had {
			s.chains.links.Add(1)
		}
	case had:
		delete(sh.m, p)
		s.chains.links.Add(-1)
	}
	sh.mu.Unlock()
	if had {
		s.decRef(op, ptrOf(old.p), old.n)
	}
}

// GetNext returns the buffer buf holds a reference on (SetNext), or nil at the
// end of a chain. As in go-slab the caller owns a new reference on what it
// gets and releases it with DecRef. buf must be a live buffer of this Slab.
func (s *Slab) GetNext(buf []byte) []byte {
	const op = "Slab.GetNext"
	s.check(op)
	p := s.liveBuf(op, buf)
	if s.chains.links.Load() == 0 {
		return nil
	}
	link, ok := s.takeNext(op, p)
	if !ok {
		return nil
	}
	return bytesAt(ptrOf(link.p), link.n)
}

// takeNext returns p's link with a reference taken on it. The reference is
// taken under the shard lock: a concurrent SetNext cannot drop the chain's
// own reference on the link before ours is in place.
func (s *Slab) takeNext(op string, p uintptr) (chainLink, bool) {
	sh := s.chains.shard(p)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	link, ok := sh.m[p]
	if ok {
		s.h.addRef(op, link.p, link.n)
	}
	return link, ok
}

// decRef drops one reference to the chunk at p and releases what it chained
// to when that freed it; it reports whether p was freed.
func (s *Slab) decRef(op string, p unsafe.Pointer, n int) bool {
	if s.chains.links.Load() == 0 {
		return s.h.release(op, p, n)
	}
	freed, next, ok := s.decRefLinked(op, p, n)
	for ok { // iteratively: a long chain must not grow the stack
		_, next, ok = s.decRefLinked(op, ptrOf(next.p), next.n)
	}
	return freed
}

// decRefLinked drops one reference to p and, if that freed it, unlinks and
// returns what p chained to. The shard lock is held across the release so
// that a new owner of the freed chunk cannot link it before the old link is
// gone.
func (s *Slab) decRefLinked(op string, p unsafe.Pointer, n int) (freed bool, next chainLink, ok bool) {
	sh := s.chains.shard(uintptr(p))
	sh.mu.Lock()
	defer sh.mu.Unlock() // also when release panics on misuse
	if freed = s.h.release(op, p, n); freed {
		if next, ok = sh.m[uintptr(p)]; ok {
			delete(sh.m, uintptr(p))
			s.chains.links.Add(-1)
		}
		if _, had := sh.gens[uintptr(p)]; had { // its Locs are stale from now on
			delete(sh.gens, uintptr(p))
			s.chains.links.Add(-1)
		}
	}
	return freed, next, ok
}

// liveBuf returns buf's address after checking that buf starts at a live
// allocation of s; it panics with a *MisuseError otherwise.
func (s *Slab) liveBuf(op string, buf []byte) uintptr {
	if cap(buf) == 0 || isZeroBase(sliceAddr(buf)) {
		s.h.checkOpen(op) // a closed Slab still panics
		if cap(buf) == 0 {
			panic(emptyMisuse(op, buf))
		}
		panic(misusef(op, sliceAddr(buf), "%s of the empty slice Alloc(0) returns: it owns no memory", op))
	}
	p := sliceAddr(buf)
	if _, e := s.h.liveSize(op, p); e != bindings.OK {
		if e == bindings.EALREADY {
			panic(misusef(op, p, "%s of a freed slice (%#x, len %d): use after free", op, p, len(buf)))
		}
		panic(releaseMisuse(op, s.h.what, e, p, len(buf)))
	}
	return p
}

// A Loc names a buffer of a Slab (or a part of one, Loc.Slice) without a Go
// pointer: two words of integers, safe to keep in off-heap memory, in
// MakeSlice[Loc], or packed into two uint64s (Words, LocFromWords). The zero
// Loc is the nil Loc. Every use goes through the Slab's checks.
type Loc struct {
	addr  uint64 // the chunk's generation << locAddrBits | its first byte; 0 for the nil Loc
	start uint32 // the part of the chunk the Loc names
	n     uint32
}

// NilLoc returns the nil Loc (the zero Loc).
func NilLoc() Loc { return Loc{} }

// IsNil reports whether l is the nil Loc.
func (l Loc) IsNil() bool { return l.ptr() == 0 }

func (l Loc) ptr() uint64 { return l.addr & (1<<locAddrBits - 1) }
func (l Loc) gen() uint16 { return uint16(l.addr >> locAddrBits) }

// Slice returns a Loc of the bytes [start, start+n) of l's chunk, as go-slab's
// Loc.Slice does (start counts from the chunk's first byte, not from l's).
// The range is checked against the chunk when the Loc is used (LocToBuf).
func (l Loc) Slice(start, n int) Loc {
	if start < 0 || n < 0 || uint64(start) > 1<<32-1 || uint64(n) > 1<<32-1 {
		panic(misusef("Loc.Slice", uintptr(l.ptr()), "Loc.Slice(%d, %d): the range must be non-negative and below 4 GiB", start, n))
	}
	l.start, l.n = uint32(start), uint32(n)
	return l
}

// Words returns l as two uint64s, to store it in memory typed as []uint64;
// LocFromWords turns them back into the Loc.
func (l Loc) Words() [2]uint64 { return [2]uint64{l.addr, uint64(l.start)<<32 | uint64(l.n)} }

// LocFromWords is the inverse of Loc.Words. The result is checked when used,
// like any Loc: garbage words make a misuse, not a wild pointer.
func LocFromWords(w [2]uint64) Loc {
	return Loc{addr: w[0], start: uint32(w[1] >> 32), n: uint32(w[1])}
}

// BufToLoc returns a Loc naming buf, which must start at a live allocation of
// this Slab (a nil buf gives the nil Loc). The Loc holds no reference of its
// own: use LocAddRef to take one.
func (s *Slab) BufToLoc(buf []byte) Loc {
	const op = "Slab.BufToLoc"
	s.check(op)
	if buf == nil {
		s.h.checkOpen(op)
		return Loc{}
	}
	p := s.liveBuf(op, buf)
	if uint64(len(buf)) > 1<<32-1 {
		panic(misusef(op, p, "%s of a slice of %d bytes (%#x): a Loc names at most 4 GiB - 1", op, len(buf), p))
	}
	return Loc{addr: uint64(p) | uint64(s.locGen(p))<<locAddrBits, n: uint32(len(buf))}
}

// locAddrBits is the address part of Loc.addr; the generation sits above it.
const locAddrBits = 48

// locGen returns the generation of the live chunk at p, giving it one on its
// first Loc (0: the address does not fit below the generation, unchecked).
func (s *Slab) locGen(p uintptr) uint16 {
	if uint64(p)>>locAddrBits != 0 {
		return 0
	}
	sh := s.chains.shard(p)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	g, ok := sh.gens[p]
	if !ok {
		if sh.gens == nil {
			sh.gens = make(map[uintptr]uint16)
		}
		if sh.next++; sh.next == 0 {
			sh.next = 1
		}
		g = sh.next
		sh.gens[p] = g
		s.chains.links.Add(1)
	}
	return g
}

// checkGen panics if l names a chunk that was freed and handed out again
// since l was made (p: l's chunk, live).
func (s *Slab) checkGen(op string, l Loc, p uintptr) {
	g := l.gen()
	if g == 0 {
		return
	}
	sh := s.chains.shard(p)
	sh.mu.Lock()
	cur, ok := sh.gens[p]
	sh.mu.Unlock()
	if !ok || cur != g {
		panic(misusef(op, p, "%s of a stale Loc (%#x, generation %d): its buffer was freed and handed out again", op, p, g))
	}
}

// LocToBuf returns the bytes l names (nil for the nil Loc), with len and cap
// the Loc's length. It panics with a *MisuseError if l's chunk is not a live
// allocation of this Slab (stale, foreign, another Slab's) or l's range does
// not lie inside it.
func (s *Slab) LocToBuf(l Loc) []byte {
	const op = "Slab.LocToBuf"
	s.check(op)
	if l.IsNil() {
		s.h.checkOpen(op)
		return nil
	}
	p := s.locAddr(op, l)
	size, e := s.h.liveSize(op, p)
	if e != bindings.OK {
		panic(locMisuse(op, e, l))
	}
	s.checkGen(op, l, p)
	if uint64(l.start)+uint64(l.n) > uint64(size) {
		panic(misusef(op, p, "%s of a Loc whose range [%d, %d) lies outside its %d-byte chunk (%#x)", op, l.start, uint64(l.start)+uint64(l.n), size, p))
	}
	return bytesAt(ptrOf(p+uintptr(l.start)), int(l.n))
}

// LocAddRef adds a reference to the buffer l names, as AddRef does.
func (s *Slab) LocAddRef(l Loc) {
	const op = "Slab.LocAddRef"
	s.check(op)
	p := s.locLive(op, l)
	s.h.addRef(op, p, int(l.n))
}

// LocDecRef drops a reference to the buffer l names, as DecRef does (chains
// included).
func (s *Slab) LocDecRef(l Loc) {
	const op = "Slab.LocDecRef"
	s.check(op)
	p := s.locLive(op, l)
	s.decRef(op, ptrOf(p), int(l.n))
}

// locAddr returns l's chunk address; the nil Loc is a misuse here.
func (s *Slab) locAddr(op string, l Loc) uintptr {
	if l.IsNil() || uint64(uintptr(l.ptr())) != l.ptr() {
		s.h.checkOpen(op)
		panic(misusef(op, uintptr(l.ptr()), "%s of the nil Loc (or of an address this platform cannot hold: %#x)", op, l.ptr()))
	}
	return uintptr(l.ptr())
}

// locLive returns l's chunk address after checking that it is live in s and
// still the allocation l was made for.
func (s *Slab) locLive(op string, l Loc) uintptr {
	p := s.locAddr(op, l)
	if _, e := s.h.liveSize(op, p); e != bindings.OK {
		panic(locMisuse(op, e, l))
	}
	s.checkGen(op, l, p)
	return p
}

// locMisuse reports a Loc the core refused with e.
func locMisuse(op string, e bindings.Err, l Loc) *MisuseError {
	p := uintptr(l.ptr())
	switch e {
	case bindings.EALREADY:
		return misusef(op, p, "%s of a stale Loc (%#x): its buffer was freed", op, p)
	case bindings.EINVAL:
		return misusef(op, p, "%s of a Loc that names no offheap allocation (%#x): foreign or corrupted", op, p)
	case bindings.EFAULT:
		return misusef(op, p, "%s of a Loc that points inside an allocation (%#x), not at its start: corrupted", op, p)
	case bindings.EXDEV:
		return misusef(op, p, "%s of a Loc of another allocator than this Slab (%#x)", op, p)
	}
	return misusef(op, p, "%s of a Loc (%#x) failed: %v", op, p, e)
}
