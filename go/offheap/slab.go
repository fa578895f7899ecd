package offheap

// slab.go is Slab, an allocator instance of its own (oh_slab_t) with
// per-allocation reference counts; the rest of go-slab's API is in
// slab_goslab.go, Owns in owns.go.

import (
	"fmt"
	"runtime"
	"unsafe"

	"github.com/offheap/offheap/bindings"
)

// SlabConfig configures a Slab. Zero fields take the defaults.
type SlabConfig struct {
	// MinChunk is the smallest chunk size, rounded up to 16 (default 16).
	MinChunk int
	// SlabSize is the size of each slab: a power of two from 64 KiB to 1 GiB
	// (default 1 MiB). Allocations larger than a slab get whole pages.
	SlabSize int
	// Growth is the factor between consecutive chunk sizes, > 1 (default
	// 1.25). Chunk sizes are snapped to a grid of 64 steps per power of two.
	Growth float64
	// Name names the Slab in its Leaks entries (Allocation.Name), its Stats,
	// ReadStats().Instances (and PublishExpvar) and its heap profile samples
	// (label "allocator"). Optional.
	Name string
}

// A Slab is an allocator instance with size classes and per-allocation
// reference counts, in the manner of go-slab, and safe for concurrent use.
// Alloc returns a slice with reference count 1; AddRef adds a reference;
// DecRef drops one and frees the slice when none remain. Close frees
// everything at once.
//
// Steady-state Alloc, AddRef and DecRef of chunks up to OFFHEAP_TCACHE_BYTES
// (1 MiB by default, the default slab size) make no cgo call and take no
// lock (see the per-P caches in cache.go). A Slab that becomes unreachable
// without Close returns its cached chunks, and all of its memory if nothing
// allocated from it is still live; otherwise its live allocations stay valid.
type Slab struct {
	h        *heap
	slabSize int
	chains   chainTable // go-slab's SetNext links (slab_goslab.go)
	name     string     // SlabConfig.Name
}

// NewSlab creates a Slab. An invalid configuration (a slab size that is not a
// power of two in range, growth <= 1, more than 256 size classes) is an error.
func NewSlab(cfg SlabConfig) (*Slab, error) {
	if cfg.MinChunk < 0 || cfg.SlabSize < 0 || cfg.Growth < 0 {
		return nil, fmt.Errorf("offheap: NewSlab: invalid configuration %+v: negative values", cfg)
	}
	c, e := bindings.NewSlab(uintptr(cfg.MinChunk), uintptr(cfg.SlabSize), cfg.Growth)
	switch e {
	case bindings.OK:
	case bindings.EINVAL:
		return nil, fmt.Errorf("offheap: NewSlab: invalid configuration %+v: the slab size must be a power of two from 64 KiB to 1 GiB, "+
			"growth greater than 1, MinChunk at most the slab size, and at most %d size classes", cfg, bindings.MaxClasses)
	default:
		return nil, fmt.Errorf("offheap: NewSlab: %w", ErrOutOfMemory)
	}
	size := cfg.SlabSize
	if size == 0 {
		size = 1 << 20
	}
	h := newHeap(c, "Slab", "this Slab", true, 0, 3, 4)
	registerHeap(h)
	s := &Slab{h: h, slabSize: size, name: cfg.Name}
	runtime.AddCleanup(s, cleanupHeap, h)
	if cfg.Name != "" {
		nameHeap(h, cfg.Name)
		runtime.AddCleanup(s, unnameHeap, h)
	}
	return s, nil
}

// Alloc returns n bytes (len n, cap n) with reference count 1. Sizes above the
// slab size are served by whole pages. It panics if the Slab is closed, or
// with an error wrapping ErrOutOfMemory if memory cannot be had.
func (s *Slab) Alloc(n int) []byte {
	b, err := s.alloc("Slab.Alloc", n)
	if err != nil {
		panic(err)
	}
	return b
}

// Calloc is Alloc with the bytes zeroed (len n, cap n, reference count 1).
func (s *Slab) Calloc(n int) []byte {
	b, err := s.allocZero("Slab.Calloc", n, true)
	if err != nil {
		panic(err)
	}
	return b
}

// TryAlloc is Alloc that returns an error wrapping ErrOutOfMemory instead of
// panicking when memory cannot be had.
// It also refuses what would take the process past its memory limit
// (SetMemoryLimit).
func (s *Slab) TryAlloc(n int) ([]byte, error) {
	r, err := memAdmit("Slab.TryAlloc", n)
	if err != nil {
		return nil, err
	}
	b, err := s.alloc("Slab.TryAlloc", n)
	memSettle(r, n)
	return b, err
}

func (s *Slab) alloc(op string, n int) ([]byte, error) { return s.allocZero(op, n, false) }

func (s *Slab) allocZero(op string, n int, zero bool) ([]byte, error) {
	s.check(op)
	if n <= 0 {
		if n < 0 {
			negativeSize(op, n)
		}
		s.h.checkOpen(op) // a closed Slab still panics
		return bytesAt(zeroPtr(), 0), nil
	}
	p, e := s.h.alloc(op, n, zero)
	if e != bindings.OK {
		return nil, allocError(op, n, e)
	}
	return bytesAt(p, n), nil
}

// AddRef adds a reference to b, which this Slab's Alloc returned. It panics
// on misuse: b not from this Slab, interior, already freed, a count above
// 2^30-1, or a closed Slab.
func (s *Slab) AddRef(b []byte) {
	if p, ok := s.addr("Slab.AddRef", b); ok {
		s.h.addRef("Slab.AddRef", uintptr(p), len(b))
	}
}

// DecRef drops a reference to b and reports whether this call freed it (the
// count reached zero); b dangles then. It panics on misuse: b not from this
// Slab, interior, already freed (count below zero), or a closed Slab.
func (s *Slab) DecRef(b []byte) bool {
	if p, ok := s.addr("Slab.DecRef", b); ok {
		return s.decRef("Slab.DecRef", p, len(b))
	}
	return true
}

// RefCount returns b's current reference count (at least 1 while b is live).
// It panics on misuse like AddRef.
func (s *Slab) RefCount(b []byte) int {
	if p, ok := s.addr("Slab.RefCount", b); ok {
		return s.h.refCount("Slab.RefCount", uintptr(p), len(b))
	}
	return 1
}

// UsableSize returns the bytes of the chunk (or whole pages) that the live
// allocation b starts at occupies: b may be resliced up to that capacity,
// b[:n:UsableSize], without touching another allocation. It is 0 for the
// empty slice Alloc(0) returns, and panics on misuse like AddRef.
func (s *Slab) UsableSize(b []byte) int {
	const op = "Slab.UsableSize"
	p, ok := s.addr(op, b)
	if !ok {
		return 0
	}
	n, e := s.h.liveSize(op, uintptr(p))
	if e != bindings.OK {
		if e == bindings.EALREADY {
			panic(misusef(op, uintptr(p), "%s of a freed slice (%#x, len %d): use after free", op, uintptr(p), len(b)))
		}
		panic(releaseMisuse(op, s.h.what, e, uintptr(p), len(b)))
	}
	return n
}

// addr returns b's address; ok is false for the empty slice Alloc(0)
// returns, which owns nothing. nil and other empty slices panic.
func (s *Slab) addr(op string, b []byte) (p unsafe.Pointer, ok bool) {
	s.check(op)
	if cap(b) == 0 {
		if b != nil && isZeroBase(sliceAddr(b)) {
			s.h.checkOpen(op) // a closed Slab still panics
			return nil, false
		}
		s.h.checkOpen(op)
		panic(emptyMisuse(op, b))
	}
	p = slicePtr(b)
	if isZeroBase(uintptr(p)) {
		s.h.checkOpen(op)
		return nil, false
	}
	return p, true
}

// Close frees every allocation of the Slab at once and returns its memory to
// the OS. Every slice it handed out dangles afterwards, and any further call
// on s panics; a second Close returns ErrClosed.
func (s *Slab) Close() error {
	s.check("Slab.Close")
	if !s.h.close(true) {
		return ErrClosed
	}
	forgetOwner(s.h) // the profile's samples of what Close freed
	unnameInstance(s.h)
	return nil
}

// Leaks lists the Slab's live allocations (reference count >= 1), e.g. to
// report what is still held before Close.
func (s *Slab) Leaks() []Allocation {
	s.check("Slab.Leaks")
	return named(s.h.leaks("Slab.Leaks"), s.name)
}

// Stats returns the Slab's figures, per size class included.
func (s *Slab) Stats() SlabStats {
	s.check("Slab.Stats")
	bs := s.h.stats("Slab.Stats")
	st := slabStats(&bs, s.slabSize)
	st.SlabBytes += s.h.c.RunSlabs() * uint64(s.slabSize) // runs of pages: no class row
	st.Name = s.name
	return st
}
