package offheap

// cache.go - the Go side of a C heap (oh_slab_t): per-P caches of free chunks
// in front of the core, so that steady-state allocation and release make no
// cgo call.
//
// A cgo call costs ~21 ns here, more than the allocator's own work, so one per
// Alloc and one per Free would dominate. Instead:
//
//  1. Each heap (the process-wide one behind Alloc, each Slab, each
//     unbounded Pool, each BufferPool) has one shard per P. A goroutine picks the shard of the P it
//     runs on (runtime.procPin, see pin.go) and takes the shard's mutex - almost
//     never contended, since only goroutines of that P (and the janitor) use
//     it. The mutex also serves as a sharded read lock against Close.
//  2. A shard holds one magazine (a stack) of free chunks per cacheable size
//     class (chunks up to maxCachedChunk bytes). Alloc pops a chunk and sets its
//     state word to 1 (allocated); an empty magazine is refilled with half its
//     capacity in one call (bindings.TakeCached).
//  3. A release checks the pointer without a call (bindings.ChunkWord: region
//     map, owner, exact chunk start) and claims the chunk by a CAS of its word
//     from 1 to CACHED - a double free, a foreign or interior pointer, or a
//     chunk of another instance fails the check or the CAS and goes to the core,
//     which reports the exact error. The claimed chunk is pushed on the
//     magazine; a full magazine first returns its older half in one call
//     (bindings.ReturnCached).
//  4. Anything else (large sizes, debug mode, a shared-library build without
//     the fast path) is one call to the core, still under the shard lock.
//
// Nothing can leak: cached chunks are counted by the core as in use by their
// slabs and are returned by the janitor once idle, by Scavenge, by Close, and
// by the cleanup of an unreachable Slab, Pool or BufferPool
// (runtime.AddCleanup), which also destroys the heap if nothing allocated from
// it is still live. Magazines are bounded (maxMagazine chunks and a byte
// budget per heap kind), so a cache holds at most a few hundred KiB per P per
// size class in use.
//
// The janitor is one goroutine, running only while some cache holds chunks.
// Every purge delay it visits each magazine: the chunks below the magazine's
// low-water mark since the previous visit sat unused for a whole delay; it
// returns them to the core (whose purge policy then decommits empty slabs), or,
// for a BufferPool's page-sized buffers, decommits them in place. A BufferPool
// that saw no operation for a whole delay also has its empty slabs purged at
// once, the core's retained margin (OFFHEAP_RETAIN_BYTES per heap) included.

import (
	"runtime"
	"sort"
	"sync"
	"sync/atomic"
	"time"
	"unsafe"

	"github.com/offheap/offheap/bindings"
)

// maxCachedChunk is the largest chunk the process-wide allocator and Slabs
// cache on the Go side: the default slab size, past which allocations are
// whole-page spans. Two cgo calls cost ~45 ns, which a 256 KiB or 1 MiB
// Alloc+Free would otherwise pay every time; magazines of such big classes
// hold one or two chunks, so a P strands at most that much per class until
// the janitor returns it.
const maxCachedChunk = 1 << 20

// smallChunk bounds the sizes with a direct lookup table (16-byte steps);
// larger ones binary-search the few classes above it.
const smallChunk = 32 << 10

// maxMagazine bounds the chunks one magazine holds; a batch moves half of it.
const maxMagazine = 64

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
	closed bool // written with every shard locked, read with one

	// The janitor's own (it alone reads and writes them): the shards' ops at
	// its last visit, and whether the heap's empty slabs were purged since
	// the heap last saw an operation.
	// Atomic: a janitor that is stopping may still read them while a new one
	// (started by armJanitor meanwhile) writes them.
	lastOps    atomic.Uint64
	idlePurged atomic.Bool

	classes   []classInfo // the cacheable classes, by increasing size
	sizeClass []uint8     // (n+15)/16 -> class, for n <= tableMax
	tableMax  int
	maxCached int // largest n served from the caches
}

type classInfo struct {
	size     int
	capacity int // magazine capacity
	batch    int // chunks moved per call
}

type shard struct {
	mu      sync.Mutex
	mags    []magazine       // per cacheable class, made on first use
	scratch []unsafe.Pointer // batch transfer buffer
	ops     uint64           // operations through this shard, for the janitor
	_       [64]byte         // keep shards on separate cache lines
}

// magazine is a stack of free chunks of one class, each in the CACHED state.
type magazine struct {
	items []cacheItem
	n     int // chunks held: items[:n]
	low   int // lowest n since the janitor's last visit: items[:low] sat unused
	ndec  int // items[:ndec] are decommitted (BufferPool)
	// Operations served since the last return to the core, which counts them
	// for its statistics when the chunks go back.
	allocs, frees uint64
	// The slab this magazine refills from: chunks of one P then do not share
	// state-word cache lines with another P's (bindings.Affinity).
	aff bindings.Affinity
}

type cacheItem struct {
	p unsafe.Pointer
	w *uint32 // the chunk's state word in the core's slab descriptor
}

// newHeap wraps the C heap c. magBytes bounds a magazine in bytes (at least
// minItems chunks); chunks up to maxChunk bytes are cached.
func newHeap(c bindings.Slab, kind, what string, decref bool, maxChunk, magBytes, minItems int) *heap {
	h := &heap{c: c, kind: kind, what: what, decref: decref, shards: make([]shard, runtime.GOMAXPROCS(0))}
	if !bindings.FastPath {
		return h
	}
	for i, n := 0, c.ClassCount(); i < n && i < 255; i++ {
		size := int(c.ClassSize(i))
		if size > maxChunk {
			break
		}
		capacity := min(max(magBytes/size, 1), maxMagazine)
		if size <= smallChunk {
			capacity = max(capacity, minItems) // batches worth a call
		}
		h.classes = append(h.classes, classInfo{size: size, capacity: capacity, batch: max(capacity/2, 1)})
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
	return h
}

// searchClass returns the smallest cacheable class holding n bytes.
func (h *heap) searchClass(n int) int {
	return sort.Search(len(h.classes), func(i int) bool { return h.classes[i].size >= n })
}

func (h *heap) classFor(n int) int {
	if n <= h.tableMax {
		return int(h.sizeClass[(n+15)>>4])
	}
	return h.searchClass(n)
}

// lock locks the shard of the calling goroutine's P and panics (unlocked) if
// the heap is closed.
func (h *heap) lock(op string) *shard {
	pid := procPin()
	procUnpin()
	sh := &h.shards[uint(pid)%uint(len(h.shards))]
	sh.mu.Lock()
	if h.closed {
		sh.mu.Unlock()
		panic(closedMisuse(op, h.kind))
	}
	sh.ops++
	return sh
}

// fast reports whether the caches may be used now.
func (h *heap) fast() bool { return h.maxCached > 0 && !bindings.DebugMode() }

func (sh *shard) magazine(h *heap, cls int) *magazine {
	if sh.mags == nil {
		sh.mags = make([]magazine, len(h.classes))
		sh.scratch = make([]unsafe.Pointer, maxMagazine)
	}
	m := &sh.mags[cls]
	if m.items == nil {
		m.items = make([]cacheItem, h.classes[cls].capacity)
		m.aff = bindings.NewAffinity()
	}
	return m
}

// alloc allocates n > 0 bytes, zeroed if zero is set. The core's error is
// returned for the caller to report.
func (h *heap) alloc(op string, n int, zero bool) (unsafe.Pointer, bindings.Err) {
	sh := h.lock(op)
	if n <= h.maxCached && h.fast() {
		cls := h.classFor(n)
		m := sh.magazine(h, cls)
		if m.n == 0 {
			h.refill(sh, m, cls)
		}
		if m.n > 0 {
			m.n--
			it := m.items[m.n]
			m.low = min(m.low, m.n)
			m.ndec = min(m.ndec, m.n)
			m.allocs++
			// The chunk is ours alone until it is handed out; an atomic
			// store (a plain MOV on amd64) keeps the word's accesses uniform.
			atomic.StoreUint32(it.w, 1)
			sh.mu.Unlock()
			if zero {
				clear(unsafe.Slice((*byte)(it.p), n))
			}
			return it.p, bindings.OK
		}
		// The core is out of memory (or the heap bounded): the call below
		// reports it.
	}
	var p unsafe.Pointer
	var e bindings.Err
	switch {
	case h.kind != "":
		p, e = h.c.Alloc(uintptr(n))
		if e == bindings.OK && zero {
			clear(unsafe.Slice((*byte)(p), n))
		}
	case zero:
		p, e = bindings.Calloc(uintptr(n))
	default:
		p, e = bindings.Alloc(uintptr(n))
	}
	sh.mu.Unlock()
	return p, e
}

// refill takes a batch of chunks of class cls from the core.
func (h *heap) refill(sh *shard, m *magazine, cls int) {
	batch := sh.scratch[:h.classes[cls].batch]
	got := h.c.TakeCached(cls, batch, &m.aff)
	for i, p := range batch[:got] {
		w, c, ok := h.c.ChunkWord(uintptr(p))
		if !ok || c != cls {
			panic("offheap: internal error: the core handed out a chunk its region map does not describe")
		}
		m.items[i] = cacheItem{p, w}
	}
	m.n = got
	if got > 0 {
		armJanitor()
	}
}

// release frees p (decref: drops one reference) and reports whether the
// allocation was freed. Misuse panics with a message for op.
func (h *heap) release(op string, ptr unsafe.Pointer, n int) bool {
	p := uintptr(ptr)
	sh := h.lock(op)
	if h.fast() {
		if w, cls, ok := h.c.ChunkWord(p); ok && cls < len(h.classes) {
			for old := atomic.LoadUint32(w); old-1 < bindings.RefcountMax; old = atomic.LoadUint32(w) {
				if old == 1 {
					if atomic.CompareAndSwapUint32(w, 1, bindings.WordCached) {
						h.push(sh, cls, ptr, w)
						sh.mu.Unlock()
						return true
					}
					continue
				}
				if !h.decref {
					break // EBUSY, from the core below
				}
				if atomic.CompareAndSwapUint32(w, old, old-1) {
					sh.mu.Unlock()
					return false
				}
			}
		}
	}
	var freed bool
	var e bindings.Err
	if h.kind == "" {
		e = bindings.Free(p)
		freed = e == bindings.OK
	} else {
		freed, e = h.c.DecRef(p)
	}
	sh.mu.Unlock()
	if h.decommitIdle && freed {
		armJanitor() // to purge the pool's empty slabs once it is idle
	}
	if e != bindings.OK {
		panic(releaseMisuse(op, h.what, e, p, n))
	}
	return freed
}

// push caches a claimed chunk, returning the magazine's older half to the
// core first if it is full.
func (h *heap) push(sh *shard, cls int, p unsafe.Pointer, w *uint32) {
	m := sh.magazine(h, cls)
	if m.n == len(m.items) {
		h.giveBack(sh, m, cls, h.classes[cls].batch)
	}
	m.items[m.n] = cacheItem{p, w}
	m.n++
	m.frees++
	armJanitor()
}

// giveBack returns the k oldest chunks of m to the core (shard locked), with
// the operations served since the last return; k may be 0 to report those only.
func (h *heap) giveBack(sh *shard, m *magazine, cls, k int) {
	k = min(k, m.n)
	ptrs := sh.scratch[:k] // k <= maxMagazine == len(scratch)
	for i := range ptrs {
		ptrs[i] = m.items[i].p
	}
	h.c.ReturnCached(cls, ptrs, m.allocs, m.frees)
	m.allocs, m.frees = 0, 0
	copy(m.items, m.items[k:m.n])
	m.n -= k
	m.low = max(m.low-k, 0)
	m.ndec = max(m.ndec-k, 0)
}

// addRef adds a reference to p.
func (h *heap) addRef(op string, p uintptr, n int) {
	sh := h.lock(op)
	if h.fast() {
		if w, _, ok := h.c.ChunkWord(p); ok {
			for old := atomic.LoadUint32(w); old-1 < bindings.RefcountMax-1; old = atomic.LoadUint32(w) {
				if atomic.CompareAndSwapUint32(w, old, old+1) {
					sh.mu.Unlock()
					return
				}
			}
		}
	}
	e := h.c.AddRef(p)
	sh.mu.Unlock()
	if e != bindings.OK {
		panic(releaseMisuse(op, h.what, e, p, n))
	}
}

// refCount returns p's reference count.
func (h *heap) refCount(op string, p uintptr, n int) int {
	sh := h.lock(op)
	rc, e := h.c.RefCount(p)
	sh.mu.Unlock()
	if e == bindings.OK && rc == 0 {
		e = bindings.EALREADY
	}
	if e != bindings.OK {
		panic(releaseMisuse(op, h.what, e, p, n))
	}
	return rc
}

// lockAll locks every shard, in order.
func (h *heap) lockAll() {
	for i := range h.shards {
		h.shards[i].mu.Lock()
	}
}

func (h *heap) unlockAll() {
	for i := range h.shards {
		h.shards[i].mu.Unlock()
	}
}

// flush returns every cached chunk to the core.
func (h *heap) flush() {
	for i := range h.shards {
		sh := &h.shards[i]
		sh.mu.Lock()
		if !h.closed {
			h.flushShard(sh)
		}
		sh.mu.Unlock()
	}
}

func (h *heap) flushShard(sh *shard) {
	for cls := range sh.mags {
		if m := &sh.mags[cls]; m.n > 0 || m.allocs > 0 || m.frees > 0 {
			h.giveBack(sh, m, cls, m.n)
		}
	}
}

// close marks the heap closed and destroys the C heap: always (destroy ==
// true, Slab.Close), or only when nothing is allocated from it any more
// (BufferPool, and the cleanup of an unreachable Slab). It returns false if
// the heap was already closed.
func (h *heap) close(always bool) bool {
	h.lockAll()
	if h.closed {
		h.unlockAll()
		return false
	}
	h.closed = true
	if always {
		for i := range h.shards {
			h.shards[i].mags = nil // the core frees everything
		}
		h.c.Destroy()
	} else {
		for i := range h.shards {
			h.flushShard(&h.shards[i])
		}
		var bs bindings.Stats
		if h.c.ReadStats(&bs) == bindings.OK && bs.InUseBytes == 0 && bs.LargeInUse == 0 {
			h.c.Destroy()
		}
	}
	h.unlockAll()
	unregisterHeap(h)
	return true
}

// stats returns the core's figures for h, with the chunks held by h's caches
// moved from in use to cached and the operations they served added.
func (h *heap) stats(op string) bindings.Stats {
	h.lockAll()
	defer h.unlockAll()
	if h.closed {
		panic(closedMisuse(op, h.kind))
	}
	var bs bindings.Stats
	h.c.ReadStats(&bs)
	chunks, allocs, frees := h.cachedLocked()
	adjustStats(&bs, h, chunks, allocs, frees, true)
	return bs
}

// leaks lists the heap's live allocations (chunks cached free are not live).
func (h *heap) leaks(op string) []Allocation {
	h.lockAll()
	defer h.unlockAll()
	if h.closed {
		panic(closedMisuse(op, h.kind))
	}
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

// cached is cachedLocked taking the shard locks one at a time.
func (h *heap) cached() (chunks, allocs, frees []uint64) {
	chunks = make([]uint64, len(h.classes))
	allocs = make([]uint64, len(h.classes))
	frees = make([]uint64, len(h.classes))
	for i := range h.shards {
		sh := &h.shards[i]
		sh.mu.Lock()
		for cls := range sh.mags {
			m := &sh.mags[cls]
			chunks[cls] += uint64(m.n)
			allocs[cls] += m.allocs
			frees[cls] += m.frees
		}
		sh.mu.Unlock()
	}
	return chunks, allocs, frees
}

// cachedLocked returns, per cacheable class, the chunks held and the
// operations not yet reported to the core (every shard locked).
func (h *heap) cachedLocked() (chunks, allocs, frees []uint64) {
	chunks = make([]uint64, len(h.classes))
	allocs = make([]uint64, len(h.classes))
	frees = make([]uint64, len(h.classes))
	for i := range h.shards {
		sh := &h.shards[i]
		for cls := range sh.mags {
			m := &sh.mags[cls]
			chunks[cls] += uint64(m.n)
			allocs[cls] += m.allocs
			frees[cls] += m.frees
		}
	}
	return chunks, allocs, frees
}

// adjustStats applies h's cache figures to bs (per class too if classes).
func adjustStats(bs *bindings.Stats, h *heap, chunks, allocs, frees []uint64, classes bool) {
	for cls := range chunks {
		bytes := chunks[cls] * uint64(h.classes[cls].size)
		bs.InUseBytes -= min(bytes, bs.InUseBytes)
		bs.Allocs += allocs[cls]
		bs.Frees += frees[cls]
		if classes && cls < len(bs.Classes) {
			c := &bs.Classes[cls]
			c.ChunksInUse -= min(chunks[cls], c.ChunksInUse)
			c.ChunksCached += chunks[cls]
			c.Allocs += allocs[cls]
			c.Frees += frees[cls]
		}
	}
}

// trim is the janitor's visit: chunks unused since the previous visit are
// returned to the core (or decommitted in place). A BufferPool that saw no
// operation at all since the previous visit also has its empty slabs purged,
// the retained margin included: an idle pool keeps nothing resident. It
// reports whether anything remains for a later visit to do.
func (h *heap) trim(act bool) (busy bool) {
	var ops uint64
	for i := range h.shards {
		sh := &h.shards[i]
		sh.mu.Lock()
		if h.closed {
			sh.mu.Unlock()
			return false
		}
		ops += sh.ops
		for cls := range sh.mags {
			m := &sh.mags[cls]
			if act && m.low > 0 {
				size := h.classes[cls].size
				if h.decommitIdle && size >= pageSize {
					for _, it := range m.items[m.ndec:m.low] {
						bindings.Decommit(uintptr(it.p), uintptr(size))
					}
					m.ndec = max(m.ndec, m.low)
				} else {
					h.giveBack(sh, m, cls, m.low)
				}
			}
			m.low = m.n
			if m.n > m.ndec {
				busy = true
			}
		}
		sh.mu.Unlock()
	}
	if h.decommitIdle {
		if ops != h.lastOps.Load() {
			h.idlePurged.Store(false)
		} else if act && !h.idlePurged.Load() {
			h.lockAll() // against a concurrent Close destroying the heap
			if !h.closed {
				h.c.PurgeEmpty()
			}
			h.unlockAll()
			h.idlePurged.Store(true)
		}
		h.lastOps.Store(ops)
		busy = busy || (act && !h.idlePurged.Load())
	}
	return busy
}

// ---- the janitor -------------------------------------------------------------

var janitor struct {
	mu      sync.Mutex
	heaps   []*heap // every heap with caches, and every BufferPool's
	running atomic.Bool
}

func registerHeap(h *heap) {
	if h.maxCached == 0 && !h.decommitIdle {
		return // nothing for the janitor to do
	}
	janitor.mu.Lock()
	janitor.heaps = append(janitor.heaps, h)
	janitor.mu.Unlock()
}

func unregisterHeap(h *heap) {
	janitor.mu.Lock()
	for i, x := range janitor.heaps {
		if x == h {
			janitor.heaps = append(janitor.heaps[:i], janitor.heaps[i+1:]...)
			break
		}
	}
	janitor.mu.Unlock()
}

func heapsSnapshot() []*heap {
	janitor.mu.Lock()
	defer janitor.mu.Unlock()
	return append([]*heap(nil), janitor.heaps...)
}

// armJanitor starts the janitor if it is not running. One load when it is.
func armJanitor() {
	if !janitor.running.Load() && janitor.running.CompareAndSwap(false, true) {
		go janitorLoop()
	}
}

// janitorPeriod is the time between visits: the purge delay, at least
// 10 ms; with "never" (a negative delay) the janitor only keeps the low-water
// marks fresh, once a second, in case the delay changes.
func janitorPeriod() (time.Duration, bool) {
	d := PurgeDelay()
	if d < 0 {
		return time.Second, false
	}
	return max(d, 10*time.Millisecond), true
}

func janitorLoop() {
	for {
		period, act := janitorPeriod()
		time.Sleep(period)
		busy := false
		for _, h := range heapsSnapshot() {
			if h.trim(act) {
				busy = true
			}
		}
		if busy {
			continue
		}
		janitor.running.Store(false)
		// A chunk cached between the visit and the Store above saw the janitor
		// running and did not start it: look once more.
		again := false
		for _, h := range heapsSnapshot() {
			if h.holdsChunks() {
				again = true
				break
			}
		}
		if !again || !janitor.running.CompareAndSwap(false, true) {
			return
		}
	}
}

// holdsChunks reports whether a cache of h holds a chunk the janitor may act
// on, or a BufferPool saw operations since the janitor's last visit.
func (h *heap) holdsChunks() bool {
	var ops uint64
	for i := range h.shards {
		sh := &h.shards[i]
		sh.mu.Lock()
		if h.closed {
			sh.mu.Unlock()
			return false
		}
		ops += sh.ops
		for cls := range sh.mags {
			if m := &sh.mags[cls]; m.n > m.ndec {
				sh.mu.Unlock()
				return true
			}
		}
		sh.mu.Unlock()
	}
	return h.decommitIdle && ops != h.lastOps.Load()
}

// ---- the process-wide heap -------------------------------------------------------

// defaultHeap serves Alloc, Calloc, TryAlloc, Free, MakeSlice and FreeSlice.
// Its magazines hold up to 128 KiB each (at least 4 chunks).
var defaultHeap = func() *heap {
	h := newHeap(bindings.DefaultSlab(), "", "offheap.Alloc", false, maxCachedChunk, 128<<10, 4)
	registerHeap(h)
	return h
}()

// allocChunk allocates n > 0 bytes from the process-wide heap.
func allocChunk(n int, zero bool) (unsafe.Pointer, bindings.Err) {
	return defaultHeap.alloc("Alloc", n, zero)
}
