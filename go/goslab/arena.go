package goslab

// arena.go is the Arena: go-slab's Alloc, AddRef, DecRef, Owns and Stats over
// an *offheap.Slab. go-slab's own bookkeeping (slab classes that grow by the
// growth factor, slabs of slabSize bytes, the malloc hook, the tot* counters)
// is kept as figures only, so that Stats and the hook behave as go-slab's;
// the bytes always come from the offheap Slab.

import (
	"fmt"
	"math"
	"sort"
	"sync"
	"sync/atomic"
	"unsafe"

	"github.com/offheap/offheap/go/offheap"
)

// MisuseError is the panic value of a misuse goslab detects itself (a buffer
// the Arena does not hold, a stale Loc, a range outside its chunk). Misuse
// the underlying offheap Slab detects panics with an *offheap.MisuseError.
type MisuseError struct {
	Op   string  // e.g. "Arena.DecRef"
	Addr uintptr // the slice's or Loc's first byte
	msg  string
}

func (e *MisuseError) Error() string { return e.msg }

func misusef(op string, addr uintptr, format string, args ...any) *MisuseError {
	return &MisuseError{Op: op, Addr: addr, msg: "goslab: " + fmt.Sprintf(format, args...)}
}

// An Arena manages a set of slab classes and memory, as go-slab's does, with
// the memory off the Go heap. It is safe for concurrent use.
type Arena struct {
	slab     *offheap.Slab
	slabSize int                   // go-slab's: the largest request
	growth   float64               // go-slab's growth factor (its classes)
	malloc   func(size int) []byte // consulted when go-slab would add a slab
	sizes    []int                 // the Slab's chunk sizes, ascending

	mu      sync.Mutex  // go-slab's classes and the hook
	classes []slabClass // go-slab's slab classes, as figures

	tot    [numCounters]atomic.Int64
	gen    atomic.Uint64 // the last generation handed out
	chunks chunkTable
}

// slabClass is go-slab's class bookkeeping: the figures Stats reports.
type slabClass struct {
	chunkSize                int
	numSlabs                 int64
	numChunks, numChunksFree int64
}

// go-slab's counters, in the order of its Stats.
const (
	totAllocs = iota
	totAddRefs
	totDecRefs
	totDecRefZeroes
	totGetNexts
	totSetNexts
	totMallocs
	totMallocErrs
	totTooBigErrs
	totAddSlabErrs
	totPushFreeChunks
	totPopFreeChunks
	totPopFreeChunkErrs
	numCounters
)

var counterNames = [numCounters]string{
	"totAllocs", "totAddRefs", "totDecRefs", "totDecRefZeroes", "totGetNexts",
	"totSetNexts", "totMallocs", "totMallocErrs", "totTooBigErrs",
	"totAddSlabErrs", "totPushFreeChunks", "totPopFreeChunks", "totPopFreeChunkErrs",
}

// NewArena returns an Arena to manage byte slice memory based on a slab
// allocator approach, as go-slab's NewArena: startChunkSize and slabSize
// should be > 0 and growthFactor > 1 (any values go-slab accepts are
// accepted). Requests up to slabSize bytes are served; larger ones get nil.
// malloc may be nil; otherwise it is called, with go-slab's sizes, wherever
// go-slab would call it, and a nil result makes that Alloc return nil (the
// bytes it returns are not used: see the package doc).
func NewArena(startChunkSize int, slabSize int, growthFactor float64,
	malloc func(size int) []byte) *Arena {
	if startChunkSize <= 0 {
		startChunkSize = 1
	}
	a := &Arena{slabSize: slabSize, growth: growthFactor, malloc: malloc}
	a.slab = newSlab(startChunkSize, slabSize, growthFactor)
	for _, c := range a.slab.Stats().Classes {
		a.sizes = append(a.sizes, int(c.ChunkSize))
	}
	sort.Ints(a.sizes)
	a.classes = []slabClass{{chunkSize: startChunkSize}}
	return a
}

// newSlab returns the offheap Slab behind an Arena: slabs of the smallest
// power of two that holds slabSize (64 KiB to 1 GiB, offheap's range), with
// go-slab's growth factor when offheap accepts it (at most 256 classes) and
// offheap's default otherwise.
func newSlab(startChunkSize, slabSize int, growth float64) *offheap.Slab {
	size := 64 << 10
	for size < slabSize && size < 1<<30 {
		size <<= 1
	}
	minChunk := min(startChunkSize, size)
	for _, cfg := range []offheap.SlabConfig{
		{MinChunk: minChunk, SlabSize: size, Growth: growth},
		{MinChunk: minChunk, SlabSize: size},
		{SlabSize: size},
	} {
		if !(cfg.Growth == 0 || cfg.Growth > 1) {
			continue
		}
		if s, err := offheap.NewSlab(cfg); err == nil {
			return s
		}
	}
	s, err := offheap.NewSlab(offheap.SlabConfig{SlabSize: size})
	if err != nil {
		panic(fmt.Sprintf("goslab: NewArena(%d, %d, %v): %v", startChunkSize, slabSize, growth, err))
	}
	return s
}

// Alloc returns a buffer of bufLen bytes with reference count 1, or nil for a
// request larger than the slab size, or when the malloc hook refused a new
// slab, or when memory cannot be had, as go-slab does. cap(buf) is the size
// of its chunk. The buffer must be DecRef'ed for its memory to be reused.
func (a *Arena) Alloc(bufLen int) (buf []byte) {
	a.tot[totAllocs].Add(1)
	if bufLen < 0 {
		panic(misusef("Arena.Alloc", 0, "Arena.Alloc of negative size %d", bufLen))
	}
	if bufLen > a.slabSize {
		a.tot[totTooBigErrs].Add(1)
		return nil
	}
	cls, ok := a.popChunk(bufLen)
	if !ok {
		return nil
	}
	b, err := a.slab.TryAlloc(max(bufLen, 1))
	if err != nil {
		a.mu.Lock()
		a.classes[cls].numChunksFree++
		a.mu.Unlock()
		a.tot[totPopFreeChunkErrs].Add(1)
		return nil
	}
	size := a.slab.UsableSize(b)
	full := unsafe.Slice(unsafe.SliceData(b), size)
	a.chunks.insert(uintptr(unsafe.Pointer(unsafe.SliceData(b))), chunkInfo{
		gen: a.gen.Add(1), size: size, class: int32(cls),
	})
	return full[:bufLen]
}

// popChunk does go-slab's class bookkeeping for one allocation: the class of
// bufLen (classes are added as go-slab adds them), a new slab when go-slab's
// would have no free chunk (calling the malloc hook), one chunk taken.
func (a *Arena) popChunk(bufLen int) (cls int, ok bool) {
	a.mu.Lock()
	defer a.mu.Unlock()
	cls = a.findSlabClassIndex(bufLen)
	c := &a.classes[cls]
	if c.numChunksFree == 0 && !a.addSlab(c) {
		a.tot[totAddSlabErrs].Add(1)
		return cls, false
	}
	a.tot[totPopFreeChunks].Add(1)
	c.numChunksFree--
	return cls, true
}

// findSlabClassIndex is go-slab's: the first class whose chunk size holds
// bufLen, classes added by the growth factor until one does.
func (a *Arena) findSlabClassIndex(bufLen int) int {
	for {
		i := sort.Search(len(a.classes), func(i int) bool { return bufLen <= a.classes[i].chunkSize })
		if i < len(a.classes) {
			return i
		}
		last := a.classes[len(a.classes)-1].chunkSize
		next := int(math.Ceil(float64(last) * a.growth))
		if next <= last { // a growth factor <= 1 would never get there
			next = last + 1
		}
		a.classes = append(a.classes, slabClass{chunkSize: next})
	}
}

// slabMemoryFooterLen is go-slab's footer, part of the sizes its hook sees.
const slabMemoryFooterLen = 4 + 4 + 4

// addSlab is go-slab's addSlab, as figures: the hook is asked for the memory
// go-slab would ask for.
func (a *Arena) addSlab(c *slabClass) bool {
	chunksPerSlab := a.slabSize / c.chunkSize
	if chunksPerSlab <= 0 {
		chunksPerSlab = 1
	}
	a.tot[totMallocs].Add(1)
	if a.malloc != nil && a.malloc(c.chunkSize*chunksPerSlab+slabMemoryFooterLen) == nil {
		a.tot[totMallocErrs].Add(1)
		return false
	}
	c.numSlabs++
	c.numChunks += int64(chunksPerSlab)
	c.numChunksFree += int64(chunksPerSlab)
	return true
}

// pushChunk is go-slab's bookkeeping for a chunk whose count reached zero.
func (a *Arena) pushChunk(cls int32) {
	a.tot[totDecRefZeroes].Add(1)
	a.tot[totPushFreeChunks].Add(1)
	a.mu.Lock()
	a.classes[cls].numChunksFree++
	a.mu.Unlock()
}

// Owns reports whether buf lies in a live chunk of this Arena (any slice of
// it whose capacity reaches the chunk's end, as in go-slab).
func (a *Arena) Owns(buf []byte) bool {
	_, _, ok := a.resolve(buf)
	return ok
}

// AddRef increases the reference count of the chunk buf lies in. buf must lie
// in a live chunk of this Arena; anything else panics.
func (a *Arena) AddRef(buf []byte) {
	const op = "Arena.AddRef"
	a.tot[totAddRefs].Add(1)
	p, info := a.mustResolve(op, buf)
	a.slab.AddRef(a.chunkBytes(p, info.size))
}

// DecRef decreases the reference count of the chunk buf lies in, and reports
// whether this call dropped the last reference (the chunk may then be reused,
// and the buffer it chained to with SetNext is DecRef'ed). buf must lie in a
// live chunk of this Arena; anything else (foreign, already freed) panics.
func (a *Arena) DecRef(buf []byte) bool {
	const op = "Arena.DecRef"
	a.tot[totDecRefs].Add(1)
	p, _ := a.mustResolve(op, buf)
	return a.decRef(op, p)
}

// Stats fills m with go-slab's figures for the Arena (the same keys:
// totSlabClasses, totAllocs, ..., slabClass-000002-numChunksInUse, ...) and
// returns it.
func (a *Arena) Stats(m map[string]int64) map[string]int64 {
	for i := range numCounters {
		m[counterNames[i]] = a.tot[i].Load()
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	m["totSlabClasses"] = int64(len(a.classes))
	for i, c := range a.classes {
		prefix := fmt.Sprintf("slabClass-%06d-", i)
		m[prefix+"numSlabs"] = c.numSlabs
		m[prefix+"chunkSize"] = int64(c.chunkSize)
		m[prefix+"numChunks"] = c.numChunks
		m[prefix+"numChunksFree"] = c.numChunksFree
		m[prefix+"numChunksInUse"] = c.numChunks - c.numChunksFree
	}
	return m
}

// Close frees every buffer of the Arena at once and gives its memory back to
// the OS (an addition to go-slab's API). Every buffer and Loc dangles
// afterwards; any further call panics.
func (a *Arena) Close() error {
	err := a.slab.Close()
	a.chunks.reset()
	return err
}

// Leaks lists the Arena's live buffers (an addition to go-slab's API).
func (a *Arena) Leaks() []offheap.Allocation { return a.slab.Leaks() }

// chunkBytes returns the whole chunk at p (len = cap = size), through the
// Slab's checks: p must be a live chunk of this Arena.
func (a *Arena) chunkBytes(p uintptr, size int) []byte {
	return a.slab.LocToBuf(offheap.LocFromWords([2]uint64{uint64(p), uint64(uint32(size))}))
}
