package offheap

// fuzz_test.go - a model-checked driver of the whole API, and FuzzOps over it.
//
// A worker performs operations chosen by a byte source (the fuzz input here, a
// PRNG in soak_test.go) on a fixture of instances - the process-wide allocator
// (Alloc, TryAlloc, Calloc, MakeSlice), a Slab with reference counts, an
// unbounded and a bounded Pool, a BufferPool, an Arena and Map - and keeps a
// simple model of what must be true: every live buffer with its kind, pattern
// seed, reference count and the bytes the statistics count for it.
//
//   - Every buffer is filled with a pattern of its own when it is handed out
//     and checked before it is released (and now and then in between), so
//     memory handed out twice, written by the allocator or lost to a decommit
//     outside the asked range is caught.
//   - Each release checks what the model predicts: DecRef frees exactly at
//     the last reference, a bounded Pool refuses exactly at its maximum.
//   - Misuse (foreign, interior, stale, cross-instance, closed-instance
//     releases) must panic with a *MisuseError naming it, and change nothing.
//   - With fault injection armed (bindings.FailOS), allocations may fail, but
//     only with an error (or panic) wrapping ErrOutOfMemory.
//   - Statistics (in-use bytes, large allocations) and the leak lists
//     (Slab.Leaks, Pool.Leaks, Leaks) must equal the model exactly.
//
// The fuzz input is a sequence of operations: one byte picks the operation,
// the following bytes its arguments (sizes, which buffer, which variant). An
// exhausted input reads as zeros and ends the run.

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math/rand/v2"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"
	"time"
	"unsafe"

	"github.com/offheap/offheap/bindings"
	"github.com/offheap/offheap/go/decommit"
)

// ---- patterns -------------------------------------------------------------------

// patWord is word i of the pattern of seed: two seeds (owners) never agree on
// a buffer, and a shifted copy does not match either.
func patWord(seed uint64, i int) uint64 {
	x := seed ^ (uint64(i)+1)*0x9E3779B97F4A7C15
	x ^= x >> 31
	x *= 0xBF58476D1CE4E5B9
	x ^= x >> 29
	return x
}

// sparseEdge: in sparse mode (soak), buffers are filled and checked whole in
// their first and last sparseEdge bytes and one word in 512 in between.
const sparseEdge = 512

// nextOff returns the offset of the word after the one at off.
func nextOff(off, n int, sparse bool) int {
	off += 8
	if !sparse || off < sparseEdge {
		return off
	}
	tail := (n - sparseEdge) &^ 7
	if off >= tail {
		return off
	}
	return min((off+511)&^511, tail)
}

func fillPat(b []byte, seed uint64, sparse bool) {
	n := len(b)
	for off := 0; off < n; off = nextOff(off, n, sparse) {
		w := patWord(seed, off>>3)
		if off+8 <= n {
			binary.LittleEndian.PutUint64(b[off:], w)
			continue
		}
		for j := off; j < n; j++ {
			b[j] = byte(w >> (8 * (j - off)))
		}
	}
}

// checkPat returns the offset of the first byte of b (of those fillPat
// writes) that does not hold seed's pattern, or -1. Bytes in [zlo, zhi) may
// also read as zero (a decommitted range).
func checkPat(b []byte, seed uint64, sparse bool, zlo, zhi int) int {
	n := len(b)
	for off := 0; off < n; off = nextOff(off, n, sparse) {
		w := patWord(seed, off>>3)
		end := min(off+8, n)
		if end-off == 8 && binary.LittleEndian.Uint64(b[off:]) == w {
			continue
		}
		for j := off; j < end; j++ {
			if got := b[j]; got != byte(w>>(8*(j-off))) && !(got == 0 && j >= zlo && j < zhi) {
				return j
			}
		}
	}
	return -1
}

// allZero returns the offset of the first non-zero byte of b (of those
// fillPat writes, in sparse mode), or -1.
func allZero(b []byte, sparse bool) int {
	n := len(b)
	for off := 0; off < n; off = nextOff(off, n, sparse) {
		for j := off; j < min(off+8, n); j++ {
			if b[j] != 0 {
				return j
			}
		}
	}
	return -1
}

// ---- sources of operations ----------------------------------------------------------

type opSource interface {
	next() byte
	done() bool
}

// fuzzSource reads the fuzz input; past its end it reads zeros.
type fuzzSource struct {
	data []byte
	pos  int
}

func (s *fuzzSource) next() byte {
	if s.pos >= len(s.data) {
		s.pos++
		return 0
	}
	b := s.data[s.pos]
	s.pos++
	return b
}

func (s *fuzzSource) done() bool { return s.pos >= len(s.data) }

// randSource is an endless PRNG source (soak).
type randSource struct{ r *rand.Rand }

func newRandSource(seed uint64) *randSource {
	return &randSource{rand.New(rand.NewPCG(seed, seed*0x9E3779B97F4A7C15+1))}
}
func (s *randSource) next() byte { return byte(s.r.Uint32()) }
func (s *randSource) done() bool { return false }

func u16(s opSource) int { return int(s.next())<<8 | int(s.next()) }
func u24(s opSource) int { return u16(s)<<8 | int(s.next()) }

// ---- the fixture: the instances the workers share ---------------------------------

type allocKind uint8

const (
	kindAlloc   allocKind = iota // Alloc, TryAlloc, Calloc
	kindSlice                    // MakeSlice[uint64]
	kindSlab                     // Slab.Alloc, Slab.TryAlloc
	kindPool                     // unbounded Pool
	kindBounded                  // bounded Pool
	kindBuffer                   // BufferPool
	kindArena                    // Arena.Alloc, Arena.AllocAligned
	kindMap                      // Map
	kindCount
)

var kindNames = [kindCount]string{"Alloc", "MakeSlice", "Slab", "Pool", "bounded Pool", "BufferPool", "Arena", "Map"}

func (k allocKind) String() string { return kindNames[k] }

const (
	fxSlabSize    = 256 << 10 // the Slab's: larger allocations are whole pages
	fxPoolSize    = 200
	fxBoundedSize = 40
	fxBoundedMax  = 24
	fxBufferSize  = 5000
	defSlabSize   = 1 << 20 // the process-wide allocator's
)

type fixture struct {
	slab, other *Slab
	pool        *Pool
	bounded     *Pool
	buf         *BufferPool
	slabClasses []int // chunk sizes of the Slab's classes
	defClasses  []int // and of the process-wide allocator's
	boundedOut  atomic.Int64
	// Slab allocations made, and DecRefs that reported freeing one.
	slabAllocs, slabFrees atomic.Int64
	slots                 [32]atomic.Pointer[liveBuf] // hand-off between workers
	// The process-wide allocator's in-use bytes, and its live allocations,
	// when the fixture was made (other tests may have left some).
	baseDefault uint64
}

func classSizes(s bindings.Slab) []int {
	var cs []int
	for i := 0; i < s.ClassCount(); i++ {
		cs = append(cs, int(s.ClassSize(i)))
	}
	return cs
}

func newFixture() (*fixture, error) {
	f := &fixture{}
	var err error
	if f.slab, err = NewSlab(SlabConfig{MinChunk: 16, SlabSize: fxSlabSize, Growth: 1.5}); err != nil {
		return nil, err
	}
	if f.other, err = NewSlab(SlabConfig{}); err != nil {
		return nil, err
	}
	if f.pool, err = NewPool(fxPoolSize, PoolConfig{}); err != nil {
		return nil, err
	}
	if f.bounded, err = NewPool(fxBoundedSize, PoolConfig{MaxObjects: fxBoundedMax, BlockObjects: 8}); err != nil {
		return nil, err
	}
	f.buf = NewBufferPool(fxBufferSize)
	f.slabClasses = classSizes(f.slab.h.c)
	f.defClasses = classSizes(bindings.DefaultSlab())
	f.baseDefault = defaultHeap.stats("test").InUseBytes
	return f, nil
}

// close closes every instance; a second Close must say ErrClosed.
func (f *fixture) close() error {
	for _, c := range []interface{ Close() error }{f.slab, f.other, f.pool, f.bounded, f.buf} {
		if err := c.Close(); err != nil {
			return fmt.Errorf("Close of a %T: %v", c, err)
		}
		if err := c.Close(); err != ErrClosed {
			return fmt.Errorf("second Close of a %T = %v, want ErrClosed", c, err)
		}
	}
	return nil
}

// ---- the model ---------------------------------------------------------------------

// liveBuf is one live buffer of the model; for a Slab allocation, one
// reference to it (AddRef makes a second liveBuf for the same b).
type liveBuf struct {
	b      []byte
	kind   allocKind
	seed   uint64
	usable uint64     // bytes the instance's statistics count for it
	large  bool       // served by whole pages (LargeInUse)
	ref    *sharedRef // kindSlab: shared by every reference to b
	gen    int        // kindArena: the arena's generation (Resets) it belongs to
}

type sharedRef struct {
	refs  atomic.Int32 // references the model holds
	freed atomic.Int32 // DecRefs that reported freeing b: must end at 1
}

type deadBuf struct {
	b    []byte
	kind allocKind
}

type worker struct {
	f         *fixture
	src       opSource
	id        int
	sparse    bool // big buffers are filled and checked sparsely
	exclusive bool // the only worker: exact predictions, stale misuse, global knobs
	maxLive   int  // past these the worker releases instead of allocating
	maxBytes  int

	arena    *Arena
	arenaGen int

	live       []*liveBuf
	dead       []deadBuf        // recently freed buffers (exclusive)
	arenaBytes int64            // bytes allocated from the arena since its last Reset
	bytes      [kindCount]int64 // usable bytes the worker holds, by kind (for maxBytes)
	seq        uint64

	faultOps     int  // operations left with fault injection armed
	pinnedFaults bool // fault injection stays as the test armed it
	err          error

	// figures for the report
	ops, releases, misuses, ooms, checks int64
}

func newWorker(f *fixture, src opSource, id int, exclusive, sparse bool) (*worker, error) {
	a, err := NewArena(64 << 10)
	if err != nil {
		return nil, err
	}
	w := &worker{f: f, src: src, id: id, exclusive: exclusive, sparse: sparse, arena: a, maxLive: 256, maxBytes: 48 << 20}
	return w, nil
}

func (w *worker) failf(format string, args ...any) {
	if w.err == nil {
		w.err = fmt.Errorf("worker %d, op %d: %s", w.id, w.ops, fmt.Sprintf(format, args...))
	}
}

func (w *worker) newSeed() uint64 {
	w.seq++
	return uint64(w.id+1)<<48 ^ w.seq*0x2545F4914F6CDD1D | 1
}

// size returns an allocation size: mostly small, some medium, a few larger
// than a slab (whole pages).
func (w *worker) size() int {
	b := w.src.next()
	if w.sparse && b >= 245 && w.src.next() >= 16 {
		b = 0 // soak: sizes above 256 KiB (whole pages in the Slab, a system call each way) are rarer
	}
	switch {
	case b < 150:
		return 1 + int(w.src.next())
	case b < 215:
		return 257 + u16(w.src)%(16<<10)
	case b < 245:
		return 16<<10 + u24(w.src)%(240<<10)
	case b < 254 || (w.sparse && w.src.next() != 0):
		return 256<<10 + u24(w.src)%(256<<10)
	default:
		return defSlabSize + 1 + u24(w.src)%(1<<20)
	}
}

func (w *worker) liveBytes() int64 {
	n := w.arenaBytes
	for _, b := range w.bytes {
		n += b
	}
	return n
}

// ---- operations -----------------------------------------------------------------------

// step performs one operation.
func (w *worker) step() {
	w.ops++
	if w.faultOps > 0 && !w.pinnedFaults {
		w.faultOps--
		if w.faultOps == 0 {
			bindings.FailOS(0, 0)
		}
	}
	op := w.src.next() % 32
	if len(w.live) >= w.maxLive || w.liveBytes() > int64(w.maxBytes) {
		op = 10 // release
	}
	switch {
	case op < 10:
		w.alloc(allocKind(w.src.next() % uint8(kindCount)))
	case op < 16:
		w.release()
	case op < 18:
		w.addRef()
	case op == 18:
		w.handOff()
	case op == 19:
		w.decommit()
	case op == 20:
		w.resetArena()
	case op == 21:
		w.rewrite()
	case op == 22:
		if w.exclusive {
			w.checkModel()
		} else {
			w.verifySome(4)
		}
	case op == 23:
		w.misuse()
	case op == 24:
		if w.exclusive || w.src.next() == 0 {
			Scavenge()
		}
	case op == 25:
		if w.exclusive {
			w.armFaults()
		} else {
			w.verifySome(1)
		}
	case op == 26:
		if w.exclusive {
			w.toggleOption()
		} else {
			w.verifySome(1)
		}
	case op == 27:
		if w.exclusive {
			w.onNewThread()
		} else {
			w.verifySome(1)
		}
	case op == 28:
		if w.exclusive {
			w.lifecycle() // fuzz_lifecycle_test.go
		} else {
			w.verifySome(1)
		}
	default:
		w.verifySome(1)
	}
}

// faulty reports whether an allocation may fail now: fault injection is armed.
func (w *worker) faulty() bool { return w.faultOps > 0 || w.pinnedFaults }

// tryAlloc runs an allocation that panics on out-of-memory and turns that
// panic into its error; any other panic propagates.
func tryAlloc(f func()) (err error) {
	defer func() {
		if r := recover(); r != nil {
			if e, ok := r.(error); ok && errors.Is(e, ErrOutOfMemory) {
				err = e
				return
			}
			panic(r)
		}
	}()
	f()
	return nil
}

// oomOK checks an allocation error: allowed only when faults are armed (or
// allowed is set), and it must wrap ErrOutOfMemory and name the operation.
func (w *worker) oomOK(op string, n int, err error, allowed bool) bool {
	if err == nil {
		return true
	}
	w.ooms++
	if !errors.Is(err, ErrOutOfMemory) {
		w.failf("%s(%d) failed with %v, which does not wrap ErrOutOfMemory", op, n, err)
	} else if !allowed && !w.faulty() {
		w.failf("%s(%d) failed with no fault injected: %v", op, n, err)
	} else if !strings.HasPrefix(err.Error(), "offheap: ") || !strings.Contains(err.Error(), strings.TrimPrefix(op, "bounded ")) {
		w.failf("%s(%d): the error %q does not name the operation", op, n, err)
	}
	return false
}

// expectUsable checks the size the core reports for an allocation of n
// bytes against the instance's size classes (or whole pages).
func (w *worker) expectUsable(what string, classes []int, slabSize, n int, usable uint64) bool {
	if n > slabSize {
		pages := uint64((n + pageSize - 1) &^ (pageSize - 1))
		if usable < pages || usable > pages+pages/4 {
			w.failf("%s(%d): usable size %d, want whole pages: %d (up to 25%% more when a freed span is reused)", what, n, usable, pages)
			return false
		}
		return true
	}
	for _, c := range classes {
		if c >= n {
			if usable != uint64(c) {
				w.failf("%s(%d): usable size %d, want the class size %d", what, n, usable, c)
				return false
			}
			return true
		}
	}
	w.failf("%s(%d): no class holds it but it is not larger than the slab size %d", what, n, slabSize)
	return false
}

func (w *worker) alloc(kind allocKind) {
	f := w.f
	n := w.size()
	variant := w.src.next()
	var b []byte
	var usable uint64
	var large, zeroed bool
	var err error
	op := kind.String()
	switch kind {
	case kindAlloc:
		switch variant % 3 {
		case 0:
			op = "Alloc"
			err = tryAlloc(func() { b = Alloc(n) })
		case 1:
			op = "TryAlloc"
			b, err = TryAlloc(n)
		case 2:
			op, zeroed = "Calloc", true
			err = tryAlloc(func() { b = Calloc(n) })
		}
	case kindSlice:
		op, zeroed = "MakeSlice", true
		var s []uint64
		err = tryAlloc(func() { s = MakeSlice[uint64]((n + 7) / 8) })
		if err == nil {
			b = unsafe.Slice((*byte)(unsafe.Pointer(unsafe.SliceData(s))), len(s)*8)
			n = len(b)
		}
	case kindSlab:
		if variant%2 == 0 {
			op = "Slab.Alloc"
			err = tryAlloc(func() { b = f.slab.Alloc(n) })
		} else {
			op = "Slab.TryAlloc"
			b, err = f.slab.TryAlloc(n)
		}
	case kindPool:
		n = fxPoolSize
		op = "Pool.Get"
		if variant%2 == 0 {
			err = tryAlloc(func() { b = f.pool.Get() })
		} else {
			b, err = f.pool.TryGet()
		}
	case kindBounded:
		n = fxBoundedSize
		op = "bounded Pool.Get"
		// Counted out before the core sees the Get and back after the Put.
		// Several workers: one whose count would pass the maximum does not
		// ask, so the core never holds more than the count and a Get made
		// within the maximum must succeed. One worker: it asks anyway, and
		// the pool must refuse exactly past the maximum.
		out := f.boundedOut.Add(1)
		if out > fxBoundedMax && !w.exclusive {
			f.boundedOut.Add(-1)
			return
		}
		if variant%2 == 0 {
			err = tryAlloc(func() { b = f.bounded.Get() })
		} else {
			b, err = f.bounded.TryGet()
		}
		if err != nil {
			f.boundedOut.Add(-1)
			w.oomOK(op, n, err, out > fxBoundedMax)
			return
		}
		if w.exclusive && out > fxBoundedMax {
			w.failf("bounded Pool.Get succeeded with %d objects out of %d", out-1, fxBoundedMax)
		}
		usable = uint64((n + 15) &^ 15)
	case kindBuffer:
		n = fxBufferSize
		op = "BufferPool.Get"
		err = tryAlloc(func() { b = f.buf.Get() })
	case kindArena:
		align := []int{16, 16, 8, 64, 4096}[variant%5]
		op = "Arena.Alloc"
		if align == 16 && variant%2 == 0 {
			err = tryAlloc(func() { b = w.arena.Alloc(n) })
		} else {
			b, err = w.arena.AllocAligned(n, align)
		}
		if err == nil && uintptr(unsafe.Pointer(unsafe.SliceData(b)))%uintptr(align) != 0 {
			w.failf("Arena.AllocAligned(%d, %d) = %#x: misaligned", n, align, sliceAddr(b))
		}
		if err == nil && !w.arena.Owns(b) {
			w.failf("Arena.Owns(%#x) = false for a buffer it just handed out", sliceAddr(b))
		}
	case kindMap:
		if w.sparse && variant%8 != 0 {
			return // soak: a system call each way, so rarer
		}
		n = 1 + u16(w.src)%(3*pageSize)
		op = "Map"
		b, err = Map(n)
		if err == nil {
			zeroed = true
			if len(b) != (n+pageSize-1)&^(pageSize-1) || cap(b) != len(b) || sliceAddr(b)%uintptr(pageSize) != 0 {
				w.failf("Map(%d) returned len %d cap %d at %#x", n, len(b), cap(b), sliceAddr(b))
			}
			n = len(b)
			usable = uint64(n)
		}
	}
	if !w.oomOK(op, n, err, false) {
		return
	}
	if len(b) != n || (kind != kindMap && cap(b) != n) {
		w.failf("%s(%d) returned len %d cap %d", op, n, len(b), cap(b))
		return
	}
	addr := sliceAddr(b)
	if addr%16 != 0 && kind != kindArena {
		w.failf("%s(%d) = %#x: not 16-byte aligned", op, n, addr)
	}
	if zeroed {
		if i := allZero(b, w.sparse); i >= 0 {
			w.failf("%s(%d) = %#x: byte %d is %#x, not zero", op, n, addr, i, b[i])
		}
	}
	lb := &liveBuf{b: b, kind: kind, seed: w.newSeed()}
	switch kind {
	case kindAlloc, kindSlice:
		u, e := bindings.DefaultSlab().UsableSize(addr)
		if e != bindings.OK {
			w.failf("usable size of a live %s buffer %#x: %v", op, addr, e)
			return
		}
		w.expectUsable(op, f.defClasses, defSlabSize, n, uint64(u))
		usable, large = uint64(u), n > defSlabSize
		if n%pageSize == 0 && addr%uintptr(pageSize) != 0 {
			w.failf("%s(%d): a page multiple at %#x, not page aligned", op, n, addr)
		}
	case kindSlab:
		u, e := f.slab.h.c.UsableSize(addr)
		if e != bindings.OK {
			w.failf("usable size of a live Slab buffer %#x: %v", addr, e)
			return
		}
		w.expectUsable(op, f.slabClasses, fxSlabSize, n, uint64(u))
		usable, large = uint64(u), n > fxSlabSize
		lb.ref = &sharedRef{}
		lb.ref.refs.Store(1)
		f.slabAllocs.Add(1)
	case kindPool, kindBuffer:
		h := f.pool.h
		if kind == kindBuffer {
			h = f.buf.h
		}
		u, e := h.c.UsableSize(addr)
		if e != bindings.OK || u < uintptr(n) {
			w.failf("usable size of a live %s object %#x: %d, %v", op, addr, u, e)
			return
		}
		usable = uint64(u)
	case kindArena:
		lb.gen = w.arenaGen
		w.arenaBytes += int64(n)
	}
	lb.usable, lb.large = usable, large
	if kind != kindArena {
		w.bytes[kind] += int64(usable)
	}
	fillPat(b, lb.seed, w.sparse)
	w.live = append(w.live, lb)
}

// pick returns the index of a live buffer chosen by the source, or -1.
func (w *worker) pick() int {
	if len(w.live) == 0 {
		return -1
	}
	return u16(w.src) % len(w.live)
}

func (w *worker) remove(i int) {
	last := len(w.live) - 1
	w.live[i] = w.live[last]
	w.live[last] = nil
	w.live = w.live[:last]
}

// verify checks a live buffer's pattern.
func (w *worker) verify(lb *liveBuf, when string) bool {
	w.checks++
	if i := checkPat(lb.b, lb.seed, w.sparse, 0, 0); i >= 0 {
		w.failf("CORRUPTION: %s buffer %#x (len %d) %s: byte %d is %#x, not its pattern: memory shared, overwritten or lost",
			lb.kind, sliceAddr(lb.b), len(lb.b), when, i, lb.b[i])
		return false
	}
	return true
}

func (w *worker) verifySome(k int) {
	for ; k > 0; k-- {
		if i := w.pick(); i >= 0 {
			w.verify(w.live[i], "on a check")
		}
	}
}

// shorten returns b or a prefix of it (Free takes any slice that starts at
// the allocation).
func (w *worker) shorten(b []byte) []byte {
	if w.src.next()%4 == 0 && len(b) > 1 {
		return b[:1+int(w.src.next())%(len(b)-1)]
	}
	return b
}

func (w *worker) release() {
	if i := w.pick(); i >= 0 {
		w.releaseAt(i)
	}
}

// releaseAt releases live buffer i (arena buffers are released only by a
// Reset: releasing one checks it, or resets the arena when the worker holds
// too much).
func (w *worker) releaseAt(i int) {
	lb := w.live[i]
	if lb.kind == kindArena {
		if len(w.live) >= w.maxLive || w.liveBytes() > int64(w.maxBytes) {
			w.resetArena()
		} else {
			w.verify(lb, "in an arena")
		}
		return
	}
	if !w.verify(lb, "before its release") {
		return
	}
	w.remove(i)
	w.releases++
	var freed bool
	if r := catchPanic(func() { freed = w.releaseBuf(lb) }); r != nil {
		// A release of a buffer the model holds live must work: a refusal
		// means the allocator handed it to someone else too, or lost it.
		w.failf("CORRUPTION: the release of live %s buffer %#x (len %d) was refused: %v", lb.kind, sliceAddr(lb.b), len(lb.b), r)
		return
	}
	if freed {
		w.bytes[lb.kind] -= int64(lb.usable)
		if w.exclusive {
			if len(w.dead) == 64 {
				copy(w.dead, w.dead[1:])
				w.dead = w.dead[:63]
			}
			w.dead = append(w.dead, deadBuf{lb.b, lb.kind})
		}
	}
}

// releaseBuf releases lb the way its kind is released and reports whether
// the buffer is free now (a DecRef may leave references).
func (w *worker) releaseBuf(lb *liveBuf) bool {
	f := w.f
	freed := true
	switch lb.kind {
	case kindAlloc:
		Free(w.shorten(lb.b))
	case kindSlice:
		FreeSlice(unsafe.Slice((*uint64)(unsafe.Pointer(unsafe.SliceData(lb.b))), len(lb.b)/8))
	case kindSlab:
		left := lb.ref.refs.Add(-1)
		freed = f.slab.DecRef(w.shorten(lb.b))
		if w.exclusive && freed != (left == 0) {
			w.failf("Slab.DecRef(%#x) with %d references left in the model reported freed=%v", sliceAddr(lb.b), left, freed)
		}
		if freed {
			f.slabFrees.Add(1)
		}
		if freed && lb.ref.freed.Add(1) != 1 {
			w.failf("Slab.DecRef(%#x) reported freeing the buffer a second time", sliceAddr(lb.b))
		}
	case kindPool:
		f.pool.Put(w.shorten(lb.b))
	case kindBounded:
		f.bounded.Put(w.shorten(lb.b))
		f.boundedOut.Add(-1)
	case kindBuffer:
		f.buf.Put(lb.b[:int(w.src.next())%len(lb.b)])
	case kindMap:
		if err := Unmap(w.shorten(lb.b)); err != nil {
			w.failf("Unmap(%#x): %v", sliceAddr(lb.b), err)
		}
	}
	return freed
}

// addRef takes another reference to a Slab buffer: a second liveBuf.
func (w *worker) addRef() {
	i := w.pick()
	if i < 0 || w.live[i].kind != kindSlab {
		return
	}
	lb := w.live[i]
	lb.ref.refs.Add(1)
	w.f.slab.AddRef(w.shorten(lb.b))
	if w.exclusive {
		if rc := w.f.slab.RefCount(lb.b); rc != int(lb.ref.refs.Load()) {
			w.failf("Slab.RefCount(%#x) = %d, the model holds %d references", sliceAddr(lb.b), rc, lb.ref.refs.Load())
		}
	}
	dup := *lb
	w.live = append(w.live, &dup)
}

// handOff swaps a live buffer with the one in a shared slot: buffers (and
// references) move between workers, so they are freed on other threads.
func (w *worker) handOff() {
	slot := &w.f.slots[int(w.src.next())%len(w.f.slots)]
	var give *liveBuf
	if i := w.pick(); i >= 0 && w.live[i].kind != kindArena {
		give = w.live[i]
		w.remove(i)
		// The bytes move with the buffer.
		w.bytes[give.kind] -= int64(give.usable)
	}
	got := slot.Swap(give)
	if got != nil {
		w.adopt(got)
	}
}

func (w *worker) adopt(lb *liveBuf) {
	w.bytes[lb.kind] += int64(lb.usable)
	w.live = append(w.live, lb)
	w.verify(lb, "handed over from another worker")
}

// writable reports whether the worker may write lb's bytes: no other
// reference to it exists.
func writable(lb *liveBuf) bool { return lb.ref == nil || lb.ref.refs.Load() == 1 }

// decommit decommits part of a live buffer: the bytes outside the whole pages
// strictly inside the range must be unchanged, those inside read as zero or
// as before; then the pattern is written again.
func (w *worker) decommit() {
	i := w.pick()
	if i < 0 || !writable(w.live[i]) {
		return
	}
	lb := w.live[i]
	n := len(lb.b)
	off := u24(w.src) % n
	l := 1 + u24(w.src)%(n-off)
	if w.src.next()%4 == 0 {
		off, l = 0, n
	}
	base := sliceAddr(lb.b)
	var got int
	switch w.src.next() % 3 {
	case 0:
		decommit.Slice(lb.b[off : off+l : off+l])
		got = -1
	case 1: // decommit.Slice works on buf[:cap(buf)]
		decommit.Slice(lb.b[off : off+l])
		l = n - off
		got = -1
	case 2:
		got = int(bindings.Decommit(base+uintptr(off), uintptr(l)))
	}
	lo := int((base+uintptr(off)+uintptr(pageSize)-1)&^uintptr(pageSize-1) - base)
	hi := int((base+uintptr(off+l))&^uintptr(pageSize-1) - base)
	if hi < lo {
		lo, hi = 0, 0
	}
	if got >= 0 && got != hi-lo {
		w.failf("Decommit(%#x+%d, %d) decommitted %d bytes, want the %d of the whole pages inside", base, off, l, got, hi-lo)
	}
	w.checks++
	if j := checkPat(lb.b, lb.seed, w.sparse, lo, hi); j >= 0 {
		w.failf("CORRUPTION: decommit of [%d, %d) of %s buffer %#x (len %d) changed byte %d (%#x), outside the whole pages [%d, %d) or not to zero",
			off, off+l, lb.kind, base, n, j, lb.b[j], lo, hi)
		return
	}
	fillPat(lb.b, lb.seed, w.sparse)
}

func (w *worker) rewrite() {
	i := w.pick()
	if i < 0 || !writable(w.live[i]) {
		return
	}
	lb := w.live[i]
	if w.verify(lb, "before a rewrite") {
		lb.seed = w.newSeed()
		fillPat(lb.b, lb.seed, w.sparse)
	}
}

// resetArena frees the worker's arena allocations at once.
func (w *worker) resetArena() {
	keep := w.live[:0]
	for _, lb := range w.live {
		if lb.kind == kindArena {
			w.verify(lb, "before Arena.Reset")
			continue
		}
		keep = append(keep, lb)
	}
	for i := len(keep); i < len(w.live); i++ {
		w.live[i] = nil
	}
	w.live = keep
	if w.src.next()%2 == 0 {
		w.arena.Reset()
	} else {
		w.arena.ResetDecommit()
	}
	w.arenaGen++
	w.arenaBytes = 0
}

// ---- misuse ---------------------------------------------------------------------------

// catchPanic runs f and returns what it panicked with (nil if nothing).
func catchPanic(f func()) (r any) {
	defer func() { r = recover() }()
	f()
	return nil
}

// expectMisuse checks that f panics with a *MisuseError whose message names
// the operation and contains each of want (the address included, if given).
func (w *worker) expectMisuse(what string, f func(), want ...string) {
	w.misuses++
	r := catchPanic(f)
	if r == nil {
		w.failf("MISUSE NOT CAUGHT: %s did not panic", what)
		return
	}
	var me *MisuseError
	if e, ok := r.(error); !ok || !errors.As(e, &me) {
		w.failf("%s panicked with %T (%v), not a *MisuseError", what, r, r)
		return
	}
	msg := me.Error()
	if !strings.HasPrefix(msg, "offheap: ") {
		w.failf("%s: message %q does not start with \"offheap: \"", what, msg)
	}
	for _, s := range want {
		if !strings.Contains(msg, s) {
			w.failf("%s: message %q does not contain %q", what, msg, s)
		}
	}
}

// releaseFn returns the function that releases a buffer of kind k, and its
// operation's name in messages.
func (w *worker) releaseFn(k allocKind) (func([]byte), string) {
	f := w.f
	switch k {
	case kindAlloc:
		return Free, "Free"
	case kindSlice:
		return func(b []byte) { FreeSlice(b) }, "FreeSlice"
	case kindSlab:
		return func(b []byte) { f.slab.DecRef(b) }, "Slab.DecRef"
	case kindPool:
		return f.pool.Put, "Pool.Put"
	case kindBounded:
		return f.bounded.Put, "Pool.Put"
	case kindBuffer:
		return f.buf.Put, "BufferPool.Put"
	case kindMap:
		return func(b []byte) { Unmap(b) }, "Unmap"
	}
	return func(b []byte) { f.slab.AddRef(b) }, "Slab.AddRef"
}

// liveAt reports whether some live buffer of the model starts at addr.
func (w *worker) liveAt(addr uintptr) bool {
	for _, lb := range w.live {
		if sliceAddr(lb.b) == addr {
			return true
		}
	}
	for i := range w.f.slots {
		if lb := w.f.slots[i].Load(); lb != nil && sliceAddr(lb.b) == addr {
			return true
		}
	}
	return false
}

func (w *worker) misuse() {
	f := w.f
	sub := w.src.next() % 8
	switch sub {
	case 0: // a Go-heap slice
		k := allocKind(w.src.next() % uint8(kindCount))
		size := fxBufferSize
		if k == kindMap {
			size = pageSize
		}
		goSlice := make([]byte, size)
		fn, op := w.releaseFn(k)
		want := "not allocated by offheap"
		if k == kindMap {
			want = "not mapped by offheap.Map"
		}
		w.expectMisuse(op+" of a Go-heap slice", func() { fn(goSlice) }, op, want, hex(sliceAddr(goSlice)))
	case 1: // an interior slice of a live buffer
		i := w.pick()
		if i < 0 || len(w.live[i].b) < 2 || w.live[i].kind == kindArena {
			return
		}
		lb := w.live[i]
		k := 1 + int(w.src.next())%(len(lb.b)-1)
		fn, op := w.releaseFn(lb.kind)
		want := []string{op, hex(sliceAddr(lb.b) + uintptr(k))}
		switch {
		case lb.kind == kindBuffer:
			want = append(want, "not one of this pool's")
		case lb.kind == kindMap && k%pageSize != 0:
			want = append(want, "not a whole number of pages")
		default:
			want = append(want, "interior")
		}
		w.expectMisuse(op+" of an interior slice", func() { fn(lb.b[k:]) }, want...)
		if lb.kind == kindSlab && w.src.next()%2 == 0 {
			w.expectMisuse("Slab.AddRef of an interior slice", func() { f.slab.AddRef(lb.b[k:]) }, "Slab.AddRef", "interior")
		}
		w.verify(lb, "after a misuse")
	case 2: // a buffer of another allocator
		i := w.pick()
		if i < 0 {
			return
		}
		lb := w.live[i]
		fn, op := Free, "Free"
		want := "belongs to another allocator"
		switch lb.kind {
		case kindAlloc, kindSlice:
			if w.src.next()%2 == 0 {
				fn, op = func(b []byte) { f.slab.DecRef(b) }, "Slab.DecRef"
			} else {
				fn, op = func(b []byte) { f.other.AddRef(b) }, "Slab.AddRef"
			}
		case kindSlab:
			if w.src.next()%2 == 0 {
				fn, op = func(b []byte) { f.other.DecRef(b) }, "Slab.DecRef"
			} else {
				fn, op = f.pool.Put, "Pool.Put"
			}
		case kindPool:
			fn, op = f.bounded.Put, "Pool.Put"
		case kindBounded:
			fn, op = f.pool.Put, "Pool.Put"
		case kindBuffer:
			fn, op = func(b []byte) { f.slab.DecRef(b) }, "Slab.DecRef"
		case kindArena:
			if lb.gen != w.arenaGen {
				return
			}
		case kindMap:
			want = "mapped by offheap.Map"
		}
		w.expectMisuse(op+" of a "+lb.kind.String()+" buffer", func() { fn(lb.b) }, op, want, hex(sliceAddr(lb.b)))
		w.verify(lb, "after a misuse")
		if lb.kind == kindSlab && w.exclusive {
			if rc := f.slab.RefCount(lb.b); rc != int(lb.ref.refs.Load()) {
				w.failf("a refused release changed the reference count of %#x to %d (model %d)", sliceAddr(lb.b), rc, lb.ref.refs.Load())
			}
		}
	case 3: // a stale buffer: double free, DecRef below zero, AddRef after free
		if !w.exclusive || len(w.dead) == 0 {
			return
		}
		d := w.dead[int(w.src.next())%len(w.dead)]
		addr := sliceAddr(d.b)
		if w.liveAt(addr) {
			return // handed out again: it is the new owner's now
		}
		fn, op := w.releaseFn(d.kind)
		if d.kind == kindSlab && w.src.next()%2 == 0 {
			fn, op = func(b []byte) { f.slab.AddRef(b) }, "Slab.AddRef"
		}
		w.expectMisuse(op+" of a freed "+d.kind.String()+" buffer", func() { fn(d.b) }, op, hex(addr))
	case 4: // use after Close
		w.useAfterClose()
	case 5: // nil and empty slices; zero-size allocations own nothing
		k := allocKind(w.src.next() % uint8(kindCount))
		if k == kindArena {
			k = kindAlloc
		}
		fn, op := w.releaseFn(k)
		w.expectMisuse(op+" of nil", func() { fn(nil) }, op, "nil slice")
		w.expectMisuse(op+" of an empty slice", func() { fn(make([]byte, 0)) }, op, "empty slice")
		z := Alloc(0)
		Free(z)
		z = f.slab.Alloc(0)
		if !f.slab.DecRef(z) {
			w.failf("Slab.DecRef of the empty slice Alloc(0) returned false")
		}
	case 6: // AddRef and DecRef on a Slab buffer through the other Slab
		i := w.pick()
		if i < 0 || w.live[i].kind != kindSlab {
			return
		}
		lb := w.live[i]
		w.expectMisuse("Slab.AddRef through another Slab", func() { f.other.AddRef(lb.b) }, "Slab.AddRef", "another allocator", hex(sliceAddr(lb.b)))
		w.expectMisuse("Slab.RefCount through another Slab", func() { f.other.RefCount(lb.b) }, "Slab.RefCount", "another allocator")
	case 7: // arena memory, which is only ever freed by a Reset
		i := w.pick()
		if i < 0 || w.live[i].kind != kindArena || w.live[i].gen != w.arenaGen || len(w.live[i].b) < 32 {
			return
		}
		lb := w.live[i]
		w.expectMisuse("Free of arena memory", func() { Free(lb.b[16:]) }, "Free", hex(sliceAddr(lb.b)+16))
		w.verify(lb, "after a misuse")
	}
}

// useAfterClose makes a throwaway instance, closes it, and uses it.
func (w *worker) useAfterClose() {
	switch w.src.next() % 4 {
	case 0:
		s, err := NewSlab(SlabConfig{SlabSize: 64 << 10})
		if !w.oomOK("NewSlab", 0, err, false) {
			return
		}
		var b []byte
		if err := tryAlloc(func() { b = s.Alloc(100) }); !w.oomOK("Slab.Alloc", 100, err, false) {
			s.Close()
			return
		}
		s.Close()
		w.expectMisuse("Slab.Alloc after Close", func() { s.Alloc(10) }, "Slab.Alloc on a closed Slab")
		w.expectMisuse("Slab.DecRef after Close", func() { s.DecRef(b) }, "Slab.DecRef on a closed Slab")
		w.expectMisuse("Slab.AddRef after Close", func() { s.AddRef(b) }, "Slab.AddRef on a closed Slab")
		w.expectMisuse("Free of a closed Slab's buffer", func() { Free(b) }, "Free", hex(sliceAddr(b)))
	case 1:
		max := 0
		if w.src.next()%2 == 0 {
			max = 4
		}
		p, err := NewPool(64, PoolConfig{MaxObjects: max})
		if !w.oomOK("NewPool", 64, err, false) {
			return
		}
		p.Close()
		w.expectMisuse("Pool.Get after Close", func() { p.Get() }, "Pool.Get on a closed Pool")
		w.expectMisuse("Pool.Put after Close", func() { p.Put(make([]byte, 64)) }, "Pool.Put on a closed Pool")
	case 2:
		var bp *BufferPool
		if err := tryAlloc(func() { bp = NewBufferPool(1000) }); !w.oomOK("NewBufferPool", 1000, err, false) {
			return
		}
		var b []byte
		if err := tryAlloc(func() { b = bp.Get() }); !w.oomOK("BufferPool.Get", 1000, err, false) {
			bp.Close()
			return
		}
		bp.Put(b)
		bp.Close()
		w.expectMisuse("BufferPool.Get after Close", func() { bp.Get() }, "BufferPool.Get on a closed BufferPool")
		w.expectMisuse("BufferPool.Put after Close", func() { bp.Put(b) }, "BufferPool.Put on a closed BufferPool")
	case 3:
		a, err := NewArena(0)
		if !w.oomOK("NewArena", 0, err, false) {
			return
		}
		a.Close()
		w.expectMisuse("Arena.Alloc after Close", func() { a.Alloc(10) }, "Arena.Alloc on a closed Arena")
		w.expectMisuse("Arena.Reset after Close", func() { a.Reset() }, "Arena.Reset on a closed Arena")
		if err := a.Close(); err != ErrClosed {
			w.failf("second Arena.Close = %v, want ErrClosed", err)
		}
	}
}

// ---- global knobs (exclusive workers only) ---------------------------------------------

// armFaults makes the OS layer refuse memory for the next few operations:
// every k-th mapping, or all mappings past a byte budget.
func (w *worker) armFaults() {
	if w.pinnedFaults {
		return
	}
	every, budget := uint64(0), uint64(0)
	if b := w.src.next(); b%2 == 0 {
		every = 1 + uint64(b/2)%4
	} else {
		budget = uint64(b/2) * 64 << 10
		if budget == 0 {
			budget = 1
		}
	}
	if bindings.FailOS(every, budget) != nil {
		return // the offheap_shared build has no fault injection
	}
	w.faultOps = 1 + int(w.src.next())%32
}

// knobs saves the options a fuzz run may change.
type knobs struct {
	delay time.Duration
	debug DebugLevel
}

func saveKnobs() knobs { return knobs{PurgeDelay(), CurrentDebugLevel()} }

func (k knobs) restore() {
	bindings.FailOS(0, 0)
	SetPurgeDelay(k.delay)
	SetDebugLevel(k.debug)
}

func (w *worker) toggleOption() {
	switch v := w.src.next(); v % 3 {
	case 0:
		SetPurgeDelay([]time.Duration{0, time.Millisecond, time.Second, -1}[v/3%4])
	case 1:
		SetDebugLevel(DebugLevel(v / 3 % 3))
	case 2:
		SetPurgeDelay(time.Second)
		SetDebugLevel(DebugOff)
	}
}

// onNewThread runs the next few operations on a goroutine locked to an OS
// thread that exits afterwards (a goroutine that returns while locked takes
// its thread with it): the core's per-thread caches of that thread are used
// and then flushed by the thread's exit.
func (w *worker) onNewThread() {
	k := 1 + int(w.src.next())%16
	done := make(chan struct{})
	go func() {
		defer close(done)
		runtime.LockOSThread()
		for i := 0; i < k && w.err == nil && !w.src.done(); i++ {
			w.step()
		}
	}()
	<-done
}

// ---- model checks ------------------------------------------------------------------------

// checkModel compares the statistics and leak lists with the model: the
// worker's live buffers and those waiting in the hand-off slots. Only for a
// single worker (exclusive), or with every worker stopped.
func (w *worker) checkModel() {
	all := append([]*liveBuf(nil), w.live...)
	for i := range w.f.slots {
		if lb := w.f.slots[i].Load(); lb != nil {
			all = append(all, lb)
		}
	}
	w.checkAgainst(all)
}

// modelEntry is one distinct live buffer of the model.
type modelEntry struct {
	usable uint64
	large  bool
	refs   int
}

// modelSets returns the distinct live buffers of each kind by address (for
// the process-wide allocator, Alloc and MakeSlice together under kindAlloc),
// with the references the model holds to each.
func modelSets(all []*liveBuf) [kindCount]map[uintptr]modelEntry {
	var sets [kindCount]map[uintptr]modelEntry
	for k := range sets {
		sets[k] = map[uintptr]modelEntry{}
	}
	for _, lb := range all {
		k := lb.kind
		if k == kindSlice {
			k = kindAlloc
		}
		addr := sliceAddr(lb.b)
		e := sets[k][addr]
		e.usable, e.large = lb.usable, lb.large
		e.refs++
		sets[k][addr] = e
	}
	return sets
}

func sumSet(m map[uintptr]modelEntry) (bytes, large uint64) {
	for _, e := range m {
		bytes += e.usable
		if e.large {
			large++
		}
	}
	return bytes, large
}

// checkAgainst compares the instances' statistics and leak lists with the
// live buffers all.
func (w *worker) checkAgainst(all []*liveBuf) {
	f := w.f
	w.checks++
	sets := modelSets(all)
	type instance struct {
		kind  allocKind
		stats SlabStats
		leaks []Allocation // nil: the instance has no leak list
	}
	for _, c := range []instance{
		{kindSlab, f.slab.Stats(), f.slab.Leaks()},
		{kindPool, f.pool.Stats(), f.pool.Leaks()},
		{kindBounded, f.bounded.Stats(), f.bounded.Leaks()},
		{kindBuffer, f.buf.Stats(), nil},
	} {
		want := sets[c.kind]
		bytes, large := sumSet(want)
		if c.stats.InUseBytes != bytes || c.stats.LargeInUse != large {
			w.failf("%s: Stats() says %d bytes in use, %d large; the model holds %d bytes in %d allocations, %d large",
				c.kind, c.stats.InUseBytes, c.stats.LargeInUse, bytes, len(want), large)
		}
		if c.leaks == nil {
			continue
		}
		if len(c.leaks) != len(want) {
			w.failf("%s: Leaks() lists %d allocations, the model holds %d", c.kind, len(c.leaks), len(want))
		}
		for _, l := range c.leaks {
			m, ok := want[l.Addr]
			if !ok {
				w.failf("%s: Leaks() lists %#x, which the model does not hold", c.kind, l.Addr)
				continue
			}
			if uint64(l.Size) != m.usable || l.RefCount != m.refs {
				w.failf("%s: Leaks() lists %#x as size %d refs %d, the model says %d, %d", c.kind, l.Addr, l.Size, l.RefCount, m.usable, m.refs)
			}
		}
	}
	defBytes, _ := sumSet(sets[kindAlloc])
	if def := defaultHeap.stats("test").InUseBytes; def != f.baseDefault+defBytes {
		w.failf("the process-wide allocator: in-use bytes %d, want %d (%d before the run + %d in the model)",
			def, f.baseDefault+defBytes, f.baseDefault, defBytes)
	}
	listed := map[uintptr]Allocation{}
	for _, l := range Leaks() {
		listed[l.Addr] = l
	}
	for addr, m := range sets[kindAlloc] {
		if l, ok := listed[addr]; !ok || uint64(l.Size) != m.usable || l.RefCount != 1 {
			w.failf("Leaks() lists the live %#x as %+v (present %v), want usable size %d, 1 reference", addr, l, ok, m.usable)
		}
	}
	for _, d := range w.dead {
		if d.kind == kindAlloc || d.kind == kindSlice {
			if _, live := sets[kindAlloc][sliceAddr(d.b)]; !live {
				if _, ok := listed[sliceAddr(d.b)]; ok {
					w.failf("Leaks() lists %#x, which was freed", sliceAddr(d.b))
				}
			}
		}
	}
}

// adoptSlots takes every buffer waiting in the hand-off slots.
func (w *worker) adoptSlots() {
	for i := range w.f.slots {
		if lb := w.f.slots[i].Swap(nil); lb != nil {
			w.adopt(lb)
		}
	}
}

// releaseAll releases every live buffer (pattern-checked) and resets the arena.
func (w *worker) releaseAll() {
	for len(w.live) > 0 && w.err == nil {
		i := len(w.live) - 1
		if w.live[i].kind == kindArena {
			w.verify(w.live[i], "at the end")
			w.remove(i)
			continue
		}
		w.releaseAt(i)
	}
	w.arena.Reset()
}

// finish ends a single worker's run: disarm faults, compare the statistics
// with the model, release everything, compare again (all zero), close the
// arena.
func (w *worker) finish() error {
	if w.faultOps > 0 {
		bindings.FailOS(0, 0)
		w.faultOps = 0
	}
	if w.err != nil {
		return w.err
	}
	w.checkModel()
	w.adoptSlots()
	w.releaseAll()
	Scavenge()
	w.checkModel()
	if err := w.arena.Close(); err != nil {
		w.failf("Arena.Close: %v", err)
	}
	return w.err
}

// ---- the fuzz target -------------------------------------------------------------------------

// fuzzSeeds are inputs that reach every operation: PRNG bytes of a few
// lengths, plus runs that stress one area each.
func fuzzSeeds() [][]byte {
	var seeds [][]byte
	for i, n := range []int{64, 300, 1000, 3000, 4000} {
		r := rand.New(rand.NewPCG(uint64(i)+1, 7))
		b := make([]byte, n)
		for j := range b {
			b[j] = byte(r.Uint32())
		}
		seeds = append(seeds, b)
	}
	return seeds
}

// maxFuzzInput bounds the operations of one input (so one run stays fast).
const maxFuzzInput = 6000

func FuzzOps(f *testing.F) {
	for _, s := range fuzzSeeds() {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		if len(data) > maxFuzzInput {
			data = data[:maxFuzzInput]
		}
		saved := saveKnobs()
		defer saved.restore()
		fx, err := newFixture()
		if err != nil {
			t.Fatal(err)
		}
		w, err := newWorker(fx, &fuzzSource{data: data}, 0, true, false)
		if err != nil {
			t.Fatal(err)
		}
		for !w.src.done() && w.err == nil {
			w.step()
		}
		if err := w.finish(); err != nil {
			t.Fatal(err)
		}
		if err := fx.close(); err != nil {
			t.Fatal(err)
		}
	})
}
