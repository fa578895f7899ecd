package offheap

// cache.go - the Go side of a C heap (oh_slab_t): per-P caches of free chunks
// in front of the core, so that steady-state allocation and release make no
// cgo call and take no lock. This file holds the overview and the heap's
// lifecycle; cache_magazine.go the owner's operations, cache_janitor.go the
// stealers (janitor, Stats, Scavenge, Close), cache_stats.go the statistics,
// gate.go the owner/stealer handshake.
//
// A cgo call costs ~21 ns here, more than the allocator's own work, so one per
// Alloc and one per Free would dominate. Instead:
//
//  1. Each heap (the process-wide one behind Alloc, each Slab, each
//     unbounded Pool, each BufferPool) has one shard per P. A goroutine pins
//     itself to its P (runtime.procPin, pin.go), as sync.Pool does, and works
//     on that P's shard: no other goroutine can run there meanwhile, so the
//     shard needs no mutex.
//  2. A shard holds one magazine (a stack) of free chunks per cacheable size
//     class. Alloc pops a chunk and hands it out (bindings.Word.HandOut); an
//     empty magazine is refilled with a batch in one call
//     (bindings.Slab.TakeOwned), made after unpinning, from the slabs that
//     the P's owner in the core holds (c/src/owner.c: the Go runtime's
//     mcache model, each P allocating only from slabs it owns, so two Ps
//     share neither a slab's cache lines nor a class lock).
//  3. A release is classified without a call by bindings.Slab.Find, the Go
//     mirror of the core's chunk protocol (c/src/chunk.h), and claimed by
//     bindings.Word.TryRelease; a double free, a foreign or interior pointer,
//     or a chunk of another instance is refused with the core's verdict
//     (anything Find refuses goes to the core, which words the error). The
//     claimed chunk is pushed on the magazine; a full magazine returns its
//     older half in one call (bindings.Slab.ReturnOwned), after unpinning:
//     chunks of the P's own slabs go back on their free lists, others onto
//     their owner's cross-owner stacks (one CAS each).
//  4. With runs of pages (c/src/runs.c, OFFHEAP_PAGE_RUNS), the size classes
//     the core serves as runs hold runs of their pages in the same
//     magazines, taken and returned by the same calls (the core moves runs
//     for those classes).
//  5. A cacheable size allocated while a stealer holds the P's shard is one
//     chunk from the core's central lists, through no owner (never through
//     the calling thread's cache, which would adopt central slabs that no
//     one allocates from once the shard is back).
//  6. Anything else (large sizes, debug mode, a build without the fast path)
//     is one call to the core.
//
// Others reach a shard with the handshake the core's thread caches use
// (internal.h, struct ohi_tcache_s): the owner stores inOp = 1, checks steal,
// works, stores inOp = 0; a stealer (the janitor, Stats, Scavenge, Close)
// stores steal = 1 and waits for inOp == 0. Go's atomic stores are
// sequentially consistent, so either the stealer sees inOp == 1 and waits or
// the owner sees steal and takes the uncached path: no lock and no atomic
// read-modify-write on the owner's path. Calls into the core register in
// their shard's calls count (a read-modify-write, off the steady state), which
// Close waits to drain before it destroys the heap.
//
// Nothing can leak: cached chunks are counted by the core as in use by their
// slabs and are returned by the janitor once idle, by Scavenge, by Close, and
// by the cleanup of an unreachable Slab, Pool or BufferPool
// (runtime.AddCleanup), which also destroys the heap if nothing allocated from
// it is still live. The bounds come from the core's options: a magazine holds
// at most maxMagazine chunks and a share of OFFHEAP_TCACHE_BYTES (the bytes
// the core documents as a binding's per-P cache), the largest class cached
// is the heap's largest (its slab size), and the janitor's period is the
// core's idle threshold (bindings.IdleMS).

import (
	"runtime"
	"sort"
	"sync"
	"sync/atomic"
	"unsafe"

	"github.com/offheap/offheap/bindings"
)

// maxMagazine bounds the chunks one magazine holds; a batch moves half of it.
const maxMagazine = 64

// maxBatch is the most chunks one refill or return moves.
const maxBatch = maxMagazine / 2

// smallChunk bounds the sizes with a direct lookup table (16-byte steps);
// larger ones binary-search the few classes above it.
const smallChunk = 32 << 10

// heap is the Go side of one C heap.
type heap struct {
	c      bindings.Slab
	kind   string // "Slab", "BufferPool"; "" for the process-wide heap
	what   string // the allocator as named in messages: "offheap.Alloc", "this Slab"
	decref bool   // releases drop one reference (Slab) rather than require one
	// decommitIdle makes the janitor decommit idle page-sized chunks in place
	// (BufferPool) instead of returning them to the core.
	decommitIdle bool

	shards []shard
	closed atomic.Bool // set once, by close, with stealMu held

	// stealMu orders the stealers among themselves (never taken by an owner).
	stealMu sync.Mutex
	// The janitor's own, under stealMu: the shards' ops at its last visit,
	// and whether the heap's empty slabs were purged since the heap last saw
	// an operation.
	lastOps    uint64
	idlePurged bool

	classes   []classInfo // the cacheable classes, by increasing size
	sizeClass []uint8     // (n+15)/16 -> class, for n <= tableMax
	tableMax  int
	// (n+4095)/4096 -> the smallest class of at least that many pages' bytes,
	// for tableMax < n <= maxCached: at most one class too large, which
	// classFor steps down from (a BufferPool of 1 MiB buffers asks for its
	// class on every Get).
	bigClass  []uint8
	maxCached int // largest n served from the caches
	// runClass[k] is 1 + the class whose magazines hold runs of k pages
	// (0: none): a freed run of k pages goes there (release).
	runClass []uint8
}

type classInfo struct {
	size     int
	capacity int // magazine capacity
	batch    int // chunks moved per call
	far      int // chunks a magazine's far buffer holds before it goes home
	// runPages > 0: the core serves the class's sizes as runs of pages
	// (c/src/runs.c), and its magazines hold runs of runPages pages in place
	// of chunks (a chunk of it, made in debug mode, goes back with a call).
	runPages int
	bytes    int // what the core counts in use for one item held: size, or the run's pages
}

// newHeap wraps the C heap c. Chunks up to maxChunk bytes (0: no bound of the
// caller's) and up to OFFHEAP_TCACHE_BYTES (a binding's per-P cache: no single
// chunk bigger than that is cached) are; a magazine holds up to
// OFFHEAP_TCACHE_BYTES >> magShift bytes, and at least minItems chunks of the
// classes up to smallChunk (a batch worth a call).
func newHeap(c bindings.Slab, kind, what string, decref bool, maxChunk int, magShift uint, minItems int) *heap {
	h := &heap{c: c, kind: kind, what: what, decref: decref, shards: make([]shard, runtime.GOMAXPROCS(0))}
	tcache := bindings.OptionGet(bindings.OptTCacheBytes)
	if !bindings.FastPath || tcache <= 0 {
		return h
	}
	magBytes := int(tcache >> magShift)
	// The classes of the sizes the core serves as runs of pages
	// (c/src/runpage.c) hold runs in their magazines: runs of the class
	// size's pages, so any size of the class takes any of them, and a run
	// freed goes to the class whose runs have its pages (runClass). Their
	// pages serve every size once returned.
	pageBytes := int(c.PageSize())
	for i, n := 0, c.ClassCount(); i < n && i < 255; i++ {
		size := int(c.ClassSize(i))
		if (maxChunk > 0 && size > maxChunk) || int64(size) > tcache {
			break
		}
		capacity := min(max(magBytes/size, 1), maxMagazine)
		if size <= smallChunk {
			capacity = max(capacity, minItems)
		}
		// Far chunks are free memory no P hands out: they get the same byte
		// share as a magazine (one chunk at least, so a return moves two),
		// rather than 16 x 256 KiB per P and class; a frag cache churned by a
		// goroutine that changed Ps held 89 MiB in far buffers, 9 % of its
		// live bytes.
		far := min(max(magBytes/size, 1), farMax)
		info := classInfo{size: size, capacity: capacity, batch: max(capacity/2, 1), far: far, bytes: size}
		if k := c.ClassRunPages(i); k > 0 {
			info.runPages, info.bytes = k, k*pageBytes
			for len(h.runClass) <= k {
				h.runClass = append(h.runClass, 0)
			}
			if h.runClass[k] == 0 {
				h.runClass[k] = uint8(i + 1)
			}
		}
		h.classes = append(h.classes, info)
	}
	if len(h.classes) == 0 {
		return h
	}
	h.maxCached = h.classes[len(h.classes)-1].size
	h.tableMax = min(h.maxCached, smallChunk)
	h.sizeClass = make([]uint8, (h.tableMax+15)/16+1)
	for i := range h.sizeClass {
		h.sizeClass[i] = uint8(h.searchClass(i * 16))
	}
	if h.maxCached > h.tableMax {
		h.bigClass = make([]uint8, (h.maxCached+bigStep-1)/bigStep+1)
		for i := range h.bigClass {
			h.bigClass[i] = uint8(min(h.searchClass(i*bigStep), len(h.classes)-1))
		}
	}
	return h
}

// searchClass returns the smallest cacheable class holding n bytes.
func (h *heap) searchClass(n int) int {
	return sort.Search(len(h.classes), func(i int) bool { return h.classes[i].size >= n })
}

// bigStep is the granule of bigClass.
const bigStep = 4096

func (h *heap) classFor(n int) int {
	if n <= h.tableMax {
		return int(h.sizeClass[(n+15)>>4])
	}
	c := int(h.bigClass[(n+bigStep-1)/bigStep])
	for c > 0 && h.classes[c-1].size >= n {
		c--
	}
	return c
}

// fast reports whether the caches may be used now.
func (h *heap) fast() bool { return h.maxCached > 0 && !bindings.DebugMode() }

// checkOpen panics if h is closed (operations that do nothing else).
func (h *heap) checkOpen(op string) {
	if h.closed.Load() {
		panic(closedMisuse(op, h.kind))
	}
}

// beginCall registers a call into the core against Close (which waits for
// it) and panics if h is closed. endCall ends it, from whatever P.
func (h *heap) beginCall(op string) *shard {
	pid := procPin()
	procUnpin()
	sh := &h.shards[uint(pid)%uint(len(h.shards))]
	sh.calls.Add(1)
	sh.slowOps.Add(1)
	if h.closed.Load() {
		sh.calls.Add(-1)
		panic(closedMisuse(op, h.kind))
	}
	return sh
}

func (sh *shard) endCall() { sh.calls.Add(-1) }

// close marks the heap closed and destroys the C heap: always (destroy ==
// true, Slab.Close), or only when nothing is allocated from it any more
// (BufferPool, and the cleanup of an unreachable Slab). It returns false if
// the heap was already closed.
func (h *heap) close(always bool) bool {
	h.stealMu.Lock()
	if h.closed.Load() {
		h.stealMu.Unlock()
		return false
	}
	h.closed.Store(true)
	// Owners now fail to enter their shards and calls fail to begin; wait
	// for those already inside.
	h.stealAll(stealClosed)
	for i := range h.shards {
		for h.shards[i].calls.Load() != 0 {
			runtime.Gosched()
		}
	}
	if always {
		for i := range h.shards {
			h.shards[i].mags = nil // the core frees everything
		}
		h.c.Destroy()
		h.deleteOwners() // orphaned by Destroy: only their memory is left
	} else {
		for i := range h.shards {
			h.flushShard(&h.shards[i])
		}
		h.deleteOwners() // their slabs go back to the central lists
		var bs bindings.Stats
		if h.c.ReadStats(&bs) == bindings.OK && bs.InUseBytes == 0 && bs.LargeInUse == 0 {
			h.c.Destroy()
		}
	}
	h.stealMu.Unlock()
	unregisterHeap(h)
	return true
}

// deleteOwners deletes the shards' slab owners (every shard stolen for good).
func (h *heap) deleteOwners() {
	for i := range h.shards {
		sh := &h.shards[i]
		h.c.DeleteOwner(sh.owner)
		sh.owner = 0
	}
}

// leaks lists the heap's live allocations (chunks cached free are not live).
func (h *heap) leaks(op string) []Allocation {
	sh := h.beginCall(op)
	defer sh.endCall()
	return allocations(h.c.Leaks())
}

// cleanupHeap is the cleanup of an unreachable Slab, Pool or BufferPool: its
// caches go back to the core, and the heap is destroyed if nothing allocated
// from it is live (live allocations stay valid otherwise).
func cleanupHeap(h *heap) {
	if h.close(false) {
		cleanedUp.Add(1)
	}
}

// cleanedUp counts instances closed by their cleanup (tests watch it).
var cleanedUp atomic.Int64

// ---- the process-wide heap -------------------------------------------------------

// defaultHeap serves Alloc, Calloc, TryAlloc, Free, MakeSlice and FreeSlice.
// Its magazines hold an eighth of OFFHEAP_TCACHE_BYTES each (at least 4
// chunks), like a Slab's.
var defaultHeap = func() *heap {
	h := newHeap(bindings.DefaultSlab(), "", "offheap.Alloc", false, 0, 3, 4)
	registerHeap(h)
	return h
}()

// allocChunk allocates n > 0 bytes from the process-wide heap.
func allocChunk(n int, zero bool) (unsafe.Pointer, bindings.Err) {
	return defaultHeap.alloc("Alloc", n, zero)
}
