package offheap

// cache_magazine.go - the owner's side of the per-P caches (cache.go has the
// overview): entering the P's shard, and Alloc, release, AddRef and RefCount
// through its magazines. Calls into the core (a refill, a full magazine's
// return, the uncached path) are made after leaving the shard and unpinning:
// a goroutine in a cgo call may lose its P to another goroutine, which would
// then share the shard.

import (
	"sync/atomic"
	"unsafe"

	"github.com/offheap/offheap/bindings"
)

type shard struct {
	gate
	ops  uint64     // owner-written: cached operations (the janitor's idle test)
	mags []magazine // per cacheable class; installed by a stealer (prepare)
	// The core's slab owner for this P (c/src/owner.c): refills take chunks
	// from its slabs and returns give them back to it, so Ps never share a
	// slab's allocation nor a class lock. Made by prepare, deleted by close.
	owner bindings.Owner
	// Calls into the core begun through this shard and not ended, which
	// Close waits for, and all such calls (the janitor's idle test).
	calls   atomic.Int32
	slowOps atomic.Uint64
	_       [64]byte // keep shards on separate cache lines
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
	// Claimed chunks of slabs another owner holds (another P's, or a C
	// thread's), on their way home: this P never hands them out, so two Ps
	// never write one slab's state words or chunks, and a full buffer goes
	// back in one call onto their owners' cross-owner stacks.
	far  [farMax]unsafe.Pointer
	nfar int
	_    [64]byte // another P's magazine may be allocated next to this one
}

// farMax bounds a magazine's chunks on their way to another owner (and
// classInfo.far, in bytes, the large classes').
const farMax = 16

type cacheItem struct {
	p unsafe.Pointer
	w bindings.Word
}

// pinShard pins the goroutine to its P and enters the P's shard; nil (and
// unpinned) when a stealer holds the shard, the heap is closed, or the P is
// one GOMAXPROCS added after the heap was made.
func (h *heap) pinShard() *shard {
	sh, _ := h.pinShardID()
	return sh
}

// pinShardID is pinShard that also returns the P's id.
func (h *heap) pinShardID() (*shard, int) {
	pid := procPin()
	if uint(pid) < uint(len(h.shards)) {
		if sh := &h.shards[pid]; sh.enter() {
			return sh, pid
		}
	}
	procUnpin()
	return nil, pid
}

func unpinShard(sh *shard) {
	sh.leave()
	procUnpin()
}

// mag returns the shard's magazine of class cls, nil until prepare made it.
func (sh *shard) mag(cls int) *magazine {
	if sh.mags == nil || sh.mags[cls].items == nil {
		return nil
	}
	return &sh.mags[cls]
}

// prepare makes the magazine of class cls (and the P's owner) on the calling
// goroutine's P, as a stealer: the allocation may not happen pinned. Once per
// P and class.
func (h *heap) prepare(cls int) {
	pid := procPin()
	procUnpin()
	if uint(pid) >= uint(len(h.shards)) {
		return
	}
	h.stealMu.Lock()
	defer h.stealMu.Unlock()
	if h.closed.Load() {
		return
	}
	sh := &h.shards[pid]
	sh.steal(stealTemp)
	if sh.mags == nil {
		sh.mags = make([]magazine, len(h.classes))
	}
	if sh.owner == 0 {
		sh.owner = h.c.NewOwner() // 0 (out of metadata memory): the central lists serve
	}
	if sh.mags[cls].items == nil {
		// Padded: the Go allocator puts another P's small array right after
		// this one, and a shared cache line would cost both Ps every push.
		c := h.classes[cls].capacity
		sh.mags[cls].items = make([]cacheItem, c+8)[:c:c]
	}
	sh.unsteal()
}

// alloc allocates n > 0 bytes, zeroed if zero is set, and offers the
// allocation to the heap profiler (profile.go). The core's error is returned
// for the caller to report.
func (h *heap) alloc(op string, n int, zero bool) (unsafe.Pointer, bindings.Err) {
	p, e, spent := h.allocUnsampled(op, n, zero)
	if e == bindings.OK && !spent {
		profileAlloc(p, n, h)
	}
	return p, e
}

// allocUnsampled is alloc without the profiler's sample; spent reports that
// the bytes were taken from the P's sampling budget already and drew no
// sample (the magazine path does it while pinned: one pin per allocation).
func (h *heap) allocUnsampled(op string, n int, zero bool) (_ unsafe.Pointer, _ bindings.Err, spent bool) {
	if n <= h.maxCached && h.fast() {
		cls := h.classFor(n)
		// An empty magazine is refilled with a batch from the P's owner. When
		// no shard can be entered (a stealer holds it), one chunk comes from
		// the central lists, through no owner: the core's allocation call
		// below would take it through the calling thread's cache, which
		// adopted whole central slabs for it; once the shard was back nothing
		// allocated from them again, and every buffer freed into them waited
		// there until the purger found the thread idle (make bench: peak RSS
		// 1.4-1.5 GiB for 1 GiB live in about one run of four;
		// bench/RESULTS.md, session 15).
		var calls *shard // registers the refill against Close
		owner, batch := bindings.Owner(0), 1
		for try := 0; try < 2; try++ {
			sh, pid := h.pinShardID()
			if sh == nil {
				break
			}
			m := sh.mag(cls)
			if m == nil {
				unpinShard(sh)
				h.prepare(cls)
				continue
			}
			if m.n > 0 {
				m.n--
				it := m.items[m.n]
				m.low = min(m.low, m.n)
				m.ndec = min(m.ndec, m.n)
				m.allocs++
				sh.ops++
				it.w.HandOut()
				spent := spendFast(pid, n)
				unpinShard(sh)
				if zero {
					clear(unsafe.Slice((*byte)(it.p), n))
				}
				return it.p, bindings.OK, spent
			}
			sh.calls.Add(1)
			calls, owner, batch = sh, sh.owner, h.classes[cls].batch
			unpinShard(sh)
			break
		}
		if calls == nil {
			calls = h.beginCall(op)
		}
		p := h.refill(cls, owner, batch)
		calls.endCall()
		if p != nil {
			if zero {
				clear(unsafe.Slice((*byte)(p), n))
			}
			return p, bindings.OK, false
		}
		// the core is out of memory (or the heap bounded): the call below reports it
	}
	sh := h.beginCall(op)
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
	sh.endCall()
	return p, e, false
}

// releaseRun releases the run at p, whose pages no class's runs have (a run
// a C caller allocated), through the P's owner: its pages go back to the P's
// run slabs. ok is false when the shard is stolen or closed.
func (h *heap) releaseRun(op string, p uintptr, n int) (freed, ok bool) {
	sh := h.pinShard()
	if sh == nil || sh.owner == 0 {
		if sh != nil {
			unpinShard(sh)
		}
		return false, false
	}
	owner := sh.owner
	sh.calls.Add(1)
	unpinShard(sh)
	freed, e := h.c.ReleaseRun(owner, p, h.decref)
	sh.endCall()
	if e != bindings.OK {
		panic(releaseMisuse(op, h.what, e, p, n))
	}
	return freed, true
}

// refill takes up to batch chunks of class cls from the slabs of owner (the
// P's owner when the goroutine pinned; unpinned now, inside a call; 0: the
// central lists), hands out one chunk and stashes the rest in the magazine of
// the P the goroutine runs on now; what does not fit goes back.
func (h *heap) refill(cls int, owner bindings.Owner, batch int) unsafe.Pointer {
	var buf [maxBatch]unsafe.Pointer
	var words [maxBatch]bindings.Word
	got := h.c.TakeOwned(owner, cls, buf[:batch])
	if got == 0 {
		return nil
	}
	info := &h.classes[cls]
	for i, p := range buf[:got] {
		w, c, e := h.c.Find(uintptr(p))
		if e != bindings.OK || (c != cls && !(c == bindings.Run && w.RunPages() == info.runPages)) {
			panic("offheap: internal error: the core handed out a chunk its region map does not describe")
		}
		words[i] = w
	}
	got--
	p := buf[got]
	words[got].HandOut()
	counted := false
	if sh := h.pinShard(); sh != nil {
		if m := sh.mag(cls); m != nil {
			k := min(got, len(m.items)-m.n)
			for i := range k {
				m.items[m.n+i] = cacheItem{buf[got-k+i], words[got-k+i]}
			}
			m.n += k
			got -= k
			m.allocs++
			sh.ops++
			counted = true
		}
		unpinShard(sh)
		armJanitor()
	}
	if got > 0 || !counted {
		var allocs uint64
		if !counted {
			allocs = 1
		}
		h.c.ReturnOwned(owner, cls, buf[:got], allocs, 0)
	}
	return p
}

// release frees p (decref: drops one reference) and reports whether the
// allocation was freed. Misuse panics with a message for op. p's profile
// sample is dropped only once the release is accepted and freed p, and only
// if p was not handed out and sampled again meanwhile (sampleGen): a refused
// release keeps a live allocation's sample.
func (h *heap) release(op string, ptr unsafe.Pointer, n int) bool {
	var gen uint64 // sampleGen, inlined
	if maybeSampled(ptr) {
		gen = lookupGen(uintptr(ptr))
	}
	freed := h.releaseUnsampled(op, ptr, n)
	if freed && gen != 0 {
		forgetSampleIf(uintptr(ptr), gen)
	}
	return freed
}

// magazineOf returns the class whose magazines take a release of Find's
// class cls and word w, or -1: a chunk's own class, a run's the class whose
// runs have its pages. Neither for large spans, a run no class has (a C
// caller's) or a chunk of a class of runs (debug mode made it).
func (h *heap) magazineOf(w bindings.Word, cls int) int {
	switch {
	case cls == bindings.Run:
		if k := w.RunPages(); k < len(h.runClass) {
			return int(h.runClass[k]) - 1
		}
	case cls >= 0 && cls < len(h.classes) && h.classes[cls].runPages == 0:
		return cls
	}
	return -1
}

func (h *heap) releaseUnsampled(op string, ptr unsafe.Pointer, n int) bool {
	p := uintptr(ptr)
	if h.fast() {
		w, found, so, e := h.c.FindOwned(p)
		cls := -1
		if e == bindings.OK {
			cls = h.magazineOf(w, found)
		}
		if cls < 0 && found == bindings.Run && e == bindings.OK {
			if freed, ok := h.releaseRun(op, p, n); ok {
				return freed
			}
		}
		if cls >= 0 {
			for try := 0; try < 2; try++ {
				sh := h.pinShard()
				if sh == nil {
					break
				}
				m := sh.mag(cls)
				if m == nil {
					unpinShard(sh)
					h.prepare(cls)
					continue
				}
				old, e := w.TryRelease(h.decref)
				if e != bindings.OK || old > 1 {
					unpinShard(sh)
					if e != bindings.OK {
						panic(releaseMisuse(op, h.what, e, p, n))
					}
					return false
				}
				m.frees++
				sh.ops++
				if so != sh.owner && so != 0 && sh.owner != 0 {
					h.pushFar(sh, m, cls, ptr)
					return true
				}
				if m.n < len(m.items) {
					m.items[m.n] = cacheItem{ptr, w}
					m.n++
					unpinShard(sh)
					armJanitor()
					return true
				}
				h.pushFull(sh, m, cls, ptr, w)
				return true
			}
		}
	}
	sh := h.beginCall(op)
	var freed bool
	var e bindings.Err
	if h.kind == "" {
		e = bindings.Free(p)
		freed = e == bindings.OK
	} else {
		freed, e = h.c.DecRef(p)
	}
	sh.endCall()
	if h.decommitIdle && freed {
		armJanitor() // to purge the pool's empty slabs once it is idle
	}
	if e != bindings.OK {
		panic(releaseMisuse(op, h.what, e, p, n))
	}
	return freed
}

// pushFull caches a claimed chunk on a full magazine (shard entered): the
// older half goes back to the core, after unpinning. Out of line: the
// batch buffer would make every release's frame larger.
//
//go:noinline
func (h *heap) pushFull(sh *shard, m *magazine, cls int, ptr unsafe.Pointer, w bindings.Word) {
	var buf [maxBatch]unsafe.Pointer
	k := h.classes[cls].batch
	for i := range k {
		buf[i] = m.items[i].p
	}
	copy(m.items, m.items[k:m.n])
	m.n -= k
	m.low = max(m.low-k, 0)
	m.ndec = max(m.ndec-k, 0)
	m.items[m.n] = cacheItem{ptr, w}
	m.n++
	allocs, frees := m.allocs, m.frees
	m.allocs, m.frees = 0, 0
	sh.calls.Add(1)
	owner := sh.owner
	unpinShard(sh)
	h.c.ReturnOwned(owner, cls, buf[:k], allocs, frees)
	sh.endCall()
}

// pushFar puts a claimed chunk of another owner's slab on the magazine's far
// buffer (shard entered); a full buffer goes home in one call, after
// unpinning.
func (h *heap) pushFar(sh *shard, m *magazine, cls int, ptr unsafe.Pointer) {
	if m.nfar < h.classes[cls].far {
		m.far[m.nfar] = ptr
		m.nfar++
		unpinShard(sh)
		armJanitor()
		return
	}
	h.sendFar(sh, m, cls, ptr)
}

// sendFar returns the far buffer and ptr (shard entered; out of line, like
// pushFull).
//
//go:noinline
func (h *heap) sendFar(sh *shard, m *magazine, cls int, ptr unsafe.Pointer) {
	var buf [farMax + 1]unsafe.Pointer
	k := copy(buf[:], m.far[:m.nfar])
	buf[k] = ptr
	m.nfar = 0
	sh.calls.Add(1)
	owner := sh.owner
	unpinShard(sh)
	h.c.ReturnOwned(owner, cls, buf[:k+1], 0, 0)
	sh.endCall()
}

// addRef adds a reference to p.
func (h *heap) addRef(op string, p uintptr, n int) {
	if h.fast() {
		if w, _, e := h.c.Find(p); e == bindings.OK {
			if sh := h.pinShard(); sh != nil { // the heap is open
				e := w.TryAddRef()
				unpinShard(sh)
				if e != bindings.OK {
					panic(releaseMisuse(op, h.what, e, p, n))
				}
				return
			}
		}
	}
	sh := h.beginCall(op)
	e := h.c.AddRef(p)
	sh.endCall()
	if e != bindings.OK {
		panic(releaseMisuse(op, h.what, e, p, n))
	}
}

// refCount returns p's reference count.
func (h *heap) refCount(op string, p uintptr, n int) int {
	sh := h.beginCall(op)
	rc, e := h.c.RefCount(p)
	sh.endCall()
	if e == bindings.OK && rc == 0 {
		e = bindings.EALREADY
	}
	if e != bindings.OK {
		panic(releaseMisuse(op, h.what, e, p, n))
	}
	return rc
}

// stealAll steals every shard of h with one barrier.
func (h *heap) stealAll(v uint32) {
	for i := range h.shards {
		h.shards[i].stolen.Store(v)
	}
	stealFence()
	for i := range h.shards {
		h.shards[i].waitOwner()
	}
}

func (h *heap) unstealAll() {
	for i := range h.shards {
		h.shards[i].unsteal()
	}
}
