package offheap

// fuzz_model_test.go - the model of the fuzz driver (fuzz_test.go): the
// patterns every buffer is filled with, the fixture of instances the workers
// share, the worker's model of its live buffers, and the checks of the
// statistics and leak lists against that model.

import (
	"encoding/binary"
	"fmt"
	"sync/atomic"

	"github.com/offheap/offheap/bindings"
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
	// Sizes each serves as runs of whole pages (c/src/runs.c), zero: none.
	slabRuns, defRuns [2]int
	boundedOut        atomic.Int64
	// Slab allocations made, and DecRefs that reported freeing one.
	slabAllocs, slabFrees atomic.Int64
	slots                 [32]atomic.Pointer[liveBuf] // hand-off between workers
	// The process-wide allocator's in-use bytes, and its live allocations,
	// when the fixture was made (other tests may have left some).
	baseDefault uint64
}

func runRange(s bindings.Slab) [2]int {
	lo, hi, ok := s.RunRange()
	if !ok {
		return [2]int{}
	}
	return [2]int{int(lo), int(hi)}
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
	f.slabRuns = runRange(f.slab.h.c)
	f.defRuns = runRange(bindings.DefaultSlab())
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
