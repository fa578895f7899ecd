package goslab

// chunks.go is the Arena's table of its live chunks, and what needs it: how a
// slice anywhere inside a chunk is resolved to that chunk (go-slab finds it
// from the slice's capacity, through its footer; here the capacity gives the
// chunk's end and the table its start), the generation that makes a stale Loc
// detectable, go-slab's class of the chunk (for Stats), and chains (SetNext).
//
// The table holds integers only, so the collector does not scan it. It is
// sharded by address; a shard's lock is held across the release that frees a
// chunk and the removal of its entry, so a new owner of the chunk (whose
// Alloc inserts the entry again, under the same lock) never sees the old one.

import (
	"fmt"
	"strings"
	"sync"
	"unsafe"
)

const chunkShards = 64 // a power of two

type chunkTable struct {
	shards [chunkShards]chunkShard
}

type chunkShard struct {
	mu sync.Mutex
	m  map[uintptr]chunkInfo
	_  [48]byte // keep shards on separate cache lines
}

// chunkInfo describes one live chunk.
type chunkInfo struct {
	gen   uint64 // the Alloc that handed it out (Arena.gen)
	size  int    // the chunk's bytes
	class int32  // go-slab's class index (Stats)
	// The buffer this chunk holds a reference on (SetNext): its chunk's
	// address, 0 for none, and the bytes of it the chain names.
	next                       uintptr
	nextSize, nextOff, nextLen int
}

func (t *chunkTable) shard(p uintptr) *chunkShard {
	return &t.shards[(p>>4^p>>12^p>>20)&(chunkShards-1)]
}

func (t *chunkTable) insert(p uintptr, info chunkInfo) {
	sh := t.shard(p)
	sh.mu.Lock()
	if sh.m == nil {
		sh.m = make(map[uintptr]chunkInfo)
	}
	sh.m[p] = info
	sh.mu.Unlock()
}

func (t *chunkTable) lookup(p uintptr) (chunkInfo, bool) {
	sh := t.shard(p)
	sh.mu.Lock()
	info, ok := sh.m[p]
	sh.mu.Unlock()
	return info, ok
}

func (t *chunkTable) reset() {
	for i := range t.shards {
		sh := &t.shards[i]
		sh.mu.Lock()
		sh.m = nil
		sh.mu.Unlock()
	}
}

func sliceAddr(b []byte) uintptr { return uintptr(unsafe.Pointer(unsafe.SliceData(b))) }

// resolve returns the live chunk of this Arena that buf lies in: the chunk
// buf starts at, or else the one that ends where buf's capacity ends.
func (a *Arena) resolve(buf []byte) (uintptr, chunkInfo, bool) {
	if cap(buf) == 0 {
		return 0, chunkInfo{}, false
	}
	p := sliceAddr(buf)
	if info, ok := a.chunks.lookup(p); ok {
		return p, info, true
	}
	end := p + uintptr(cap(buf))
	i, _ := sortSearchInts(a.sizes, cap(buf))
	for ; i < len(a.sizes); i++ {
		start := end - uintptr(a.sizes[i])
		if info, ok := a.chunks.lookup(start); ok && info.size == a.sizes[i] {
			return start, info, true
		}
	}
	return 0, chunkInfo{}, false
}

// sortSearchInts is the index of the first size >= n.
func sortSearchInts(sizes []int, n int) (int, bool) {
	lo, hi := 0, len(sizes)
	for lo < hi {
		m := int(uint(lo+hi) >> 1)
		if sizes[m] < n {
			lo = m + 1
		} else {
			hi = m
		}
	}
	return lo, lo < len(sizes) && sizes[lo] == n
}

// mustResolve is resolve that panics, naming the misuse, when buf lies in no
// live chunk of this Arena.
func (a *Arena) mustResolve(op string, buf []byte) (uintptr, chunkInfo) {
	p, info, ok := a.resolve(buf)
	if !ok {
		panic(a.notHeld(op, buf))
	}
	return p, info
}

// notHeld reports a buffer that lies in no live chunk of this Arena, with the
// offheap Slab's verdict on it when it has one (freed, another allocator's).
func (a *Arena) notHeld(op string, buf []byte) *MisuseError {
	p := sliceAddr(buf)
	if buf == nil {
		return misusef(op, 0, "%s of a nil buffer: buf not from this arena", op)
	}
	if cap(buf) == 0 {
		return misusef(op, p, "%s of an empty buffer (%#x, len 0, cap 0): it names no chunk", op, p)
	}
	why := "not from this arena"
	func() {
		defer func() {
			if r := recover(); r != nil {
				why = "it is " + strings.TrimPrefix(fmt.Sprint(r), "offheap: Slab.RefCount of ")
			}
		}()
		a.slab.RefCount(buf)
	}()
	return misusef(op, p, "%s of a buffer this Arena does not hold (%#x, len %d, cap %d): %s "+
		"(a slice inside a chunk is found only while its capacity reaches the chunk's end)", op, p, len(buf), cap(buf), why)
}

// decRef drops one reference to the chunk at p and, when that frees it, the
// reference it held on its chain's next buffer, and so on down the chain
// (iteratively: a long chain must not grow the stack).
func (a *Arena) decRef(op string, p uintptr) bool {
	freed, next := a.decRefOne(op, p)
	for next != 0 {
		_, next = a.decRefOne(op, next)
	}
	return freed
}

// decRefOne drops one reference to the chunk at p under its shard's lock; if
// that freed it, its entry goes and its chain's next chunk is returned.
func (a *Arena) decRefOne(op string, p uintptr) (freed bool, next uintptr) {
	sh := a.chunks.shard(p)
	sh.mu.Lock()
	defer sh.mu.Unlock() // also when the Slab panics on misuse
	info, ok := sh.m[p]
	if !ok {
		panic(misusef(op, p, "%s of a chunk that was freed meanwhile (%#x): reference count below zero", op, p))
	}
	if freed = a.slab.DecRef(a.chunkBytes(p, info.size)); freed {
		delete(sh.m, p)
		a.pushChunk(info.class)
		return true, info.next
	}
	return false, 0
}

// GetNext returns the buffer chained after buf (SetNext), or nil. As in
// go-slab the caller owns a reference on what it gets and must DecRef it.
func (a *Arena) GetNext(buf []byte) (bufNext []byte) {
	const op = "Arena.GetNext"
	a.tot[totGetNexts].Add(1)
	p, _ := a.mustResolve(op, buf)
	sh := a.chunks.shard(p)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	info, ok := sh.m[p]
	if !ok {
		panic(a.notHeld(op, buf))
	}
	if info.next == 0 {
		return nil
	}
	// The reference is taken under the lock: a concurrent SetNext cannot drop
	// the chain's own reference before ours is in place.
	next := a.chunkBytes(info.next, info.nextSize)
	a.slab.AddRef(next)
	return next[info.nextOff : info.nextOff+info.nextLen]
}

// SetNext makes buf hold a reference on bufNext, as go-slab's SetNext: the
// buffer buf held before (if any) is DecRef'ed, bufNext is AddRef'ed, and when
// buf's count reaches zero bufNext is DecRef'ed. A nil bufNext clears the
// link. Both must lie in live chunks of this Arena; anything else panics.
func (a *Arena) SetNext(buf, bufNext []byte) {
	const op = "Arena.SetNext"
	a.tot[totSetNexts].Add(1)
	p, _ := a.mustResolve(op, buf)
	var q uintptr
	var qi chunkInfo
	if bufNext != nil {
		var ok bool
		if q, qi, ok = a.resolve(bufNext); !ok {
			panic(a.notHeld(op+" (bufNext)", bufNext))
		}
		a.slab.AddRef(a.chunkBytes(q, qi.size))
	}
	sh := a.chunks.shard(p)
	sh.mu.Lock()
	info, ok := sh.m[p]
	if !ok {
		sh.mu.Unlock()
		if q != 0 {
			a.decRef(op, q)
		}
		panic(a.notHeld(op, buf))
	}
	old := info.next
	info.next, info.nextSize, info.nextOff, info.nextLen = 0, 0, 0, 0
	if q != 0 {
		info.next, info.nextSize = q, qi.size
		info.nextOff, info.nextLen = int(sliceAddr(bufNext)-q), len(bufNext)
	}
	sh.m[p] = info
	sh.mu.Unlock()
	if old != 0 {
		a.decRef(op, old)
	}
}
