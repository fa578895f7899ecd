package offheap

// cache_janitor.go - the stealers' side of the per-P caches (cache.go has the
// overview): the janitor that returns idle chunks to the core, flushes
// (Scavenge, Close), and the registry of heaps they visit. Each takes one
// shard at a time from its owner with the steal handshake, under the heap's
// stealMu, and may call into the core while it holds it.

import (
	"sync"
	"sync/atomic"
	"time"
	"unsafe"

	"github.com/offheap/offheap/bindings"
)

// giveBack returns the k oldest chunks of m to the core (shard stolen), with
// the operations served since the last return; k may be 0 to report those only.
func (h *heap) giveBack(m *magazine, cls, k int) {
	k = min(k, m.n)
	var buf [maxMagazine]unsafe.Pointer
	ptrs := buf[:k]
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

// giveBackFar returns m's chunks of other owners' slabs (shard stolen).
func (h *heap) giveBackFar(sh *shard, m *magazine, cls int) {
	if m.nfar > 0 {
		h.c.ReturnOwned(sh.owner, cls, m.far[:m.nfar], 0, 0)
		clear(m.far[:m.nfar])
		m.nfar = 0
	}
}

// flush returns every cached chunk to the core.
func (h *heap) flush() {
	h.stealMu.Lock()
	defer h.stealMu.Unlock()
	if h.closed.Load() {
		return
	}
	h.stealAll(stealTemp)
	for i := range h.shards {
		h.flushShard(&h.shards[i])
	}
	h.unstealAll()
}

// flushShard empties a stolen shard's magazines.
func (h *heap) flushShard(sh *shard) {
	for cls := range sh.mags {
		m := &sh.mags[cls]
		h.giveBackFar(sh, m, cls)
		if m.n > 0 || m.allocs > 0 || m.frees > 0 {
			h.giveBack(m, cls, m.n)
		}
	}
}

// opsAll returns the operations h's shards have seen (shards stolen, or not:
// the counts only grow, and the janitor compares them for equality).
func (h *heap) opsAll() (ops uint64) {
	for i := range h.shards {
		ops += h.shards[i].ops + h.shards[i].slowOps.Load()
	}
	return ops
}

// trim is the janitor's visit: chunks unused since the previous visit are
// returned to the core (or decommitted in place, in a BufferPool that saw no
// operation since the previous visit). A BufferPool that saw no
// operation at all since the previous visit also has its empty slabs purged,
// the retained margin included: an idle pool keeps nothing resident. It
// reports whether anything remains for a later visit to do.
func (h *heap) trim(act bool) (busy bool) {
	h.stealMu.Lock()
	defer h.stealMu.Unlock()
	if h.closed.Load() {
		return false
	}
	h.stealAll(stealTemp)
	defer h.unstealAll()
	ops := h.opsAll()
	// A BufferPool decommits its idle buffers in place only when the whole
	// pool saw no operation since the last visit. While it is in use, the
	// buffers at the bottom of a magazine sit unused because the magazine is
	// a stack, not because the pool needs fewer: decommitted, they fault
	// back in the next time the pool's level dips (steady churn decommitted
	// 0.7-2.5 MiB per 4 s, bench/RESULTS.md, session 16).
	// They go back to the core instead, as every heap's do, where the purge
	// delay applies to them with the pool's other free chunks.
	poolIdle := ops == h.lastOps
	for i := range h.shards {
		sh := &h.shards[i]
		for cls := range sh.mags {
			m := &sh.mags[cls]
			h.giveBackFar(sh, m, cls) // they were meant to go home anyway
			if act && m.low > 0 {
				size := h.classes[cls].size
				if h.decommitIdle && poolIdle && size >= pageSize && h.classes[cls].runPages == 0 {
					for _, it := range m.items[m.ndec:m.low] {
						bindings.Decommit(uintptr(it.p), uintptr(size))
					}
					m.ndec = max(m.ndec, m.low)
				} else {
					h.giveBack(m, cls, m.low)
				}
			}
			m.low = m.n
			if m.n > m.ndec {
				busy = true
			}
		}
	}
	if h.decommitIdle {
		if !poolIdle {
			h.idlePurged = false
		} else if act && !h.idlePurged {
			h.c.PurgeEmpty() // stealMu held: Close cannot destroy the heap meanwhile
			h.idlePurged = true
		}
		h.lastOps = ops
		busy = busy || (act && !h.idlePurged)
	}
	return busy
}

// holdsChunks reports whether a cache of h holds a chunk the janitor may act
// on, or a BufferPool saw operations since the janitor's last visit.
func (h *heap) holdsChunks() bool {
	h.stealMu.Lock()
	defer h.stealMu.Unlock()
	if h.closed.Load() {
		return false
	}
	holds := false
	h.stealAll(stealTemp)
	ops := h.opsAll()
	for i := range h.shards {
		sh := &h.shards[i]
		for cls := range sh.mags {
			if m := &sh.mags[cls]; m.n > m.ndec || m.nfar > 0 {
				holds = true
			}
		}
	}
	h.unstealAll()
	return holds || (h.decommitIdle && ops != h.lastOps)
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

// janitorPeriod is the time between visits: the core's idle threshold for
// the purge delay (bindings.IdleMS), so that a Go cache and a C thread cache
// go idle after the same time; with "never" (a negative delay) the janitor
// only keeps the low-water marks fresh, once a second, in case the delay
// changes.
func janitorPeriod() (time.Duration, bool) {
	d := PurgeDelay()
	if d < 0 {
		return time.Second, false
	}
	return time.Duration(bindings.IdleMS(d.Milliseconds())) * time.Millisecond, true
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
