package offheap

import (
	"fmt"
	"runtime"
	"sync"
	"sync/atomic"
	"unsafe"

	"github.com/offheap/offheap/bindings"
)

// An Arena hands out memory by bumping a pointer through blocks of pages;
// nothing is freed one by one: Reset frees every allocation at once. It suits
// memory whose lifetimes end together (a request, a batch, a parse).
//
// Alloc may be called from several goroutines at once; Close waits for calls
// in progress, and an Alloc that races with a Reset is ordered before it (its
// memory is freed by that Reset) or after it. An Arena that is not closed
// lives until the process exits, even if unreachable.
//
// The bumping happens on the Go side: the core hands out a whole block at a
// time (one cgo call per block, bindings.Arena.TakeBlock), and Alloc claims
// its bytes with one compare-and-swap on the block's offset. Alloc counts
// itself in a per-P shard entered with the handshake of the allocator caches
// (cache.go), so Close and Stats, which steal every shard, never race with
// it, and Alloc takes no lock; Reset seals the block instead. In debug mode, in -asan builds and with
// an installed library every allocation is a call into the core, which
// poisons and guards what a Reset frees.
type Arena struct {
	a      bindings.Arena
	closed atomic.Bool
	// mu serializes what is not an allocation in the current block: block
	// changes, the per-call path, Reset, Close, Owns and Stats.
	mu     sync.Mutex
	cur    atomic.Pointer[arenaBlock] // the block the Go side bumps in; nil before the first
	shards []arenaShard
	acct   arenaAcct // Stats, Leaks and profile samples (arena_stats.go)
}

// arenaBlock is a block the core handed to the Go side.
type arenaBlock struct {
	off  atomic.Uintptr // bytes handed out from base; blockSealed once retired
	base uintptr
	size uintptr
}

// blockSealed is a retired block's offset: larger than any size, so every
// bump fails and goes to the locked path.
const blockSealed = ^uintptr(0) >> 1

// arenaShard is one P's share of an Arena: its gate and its counts in all
// and since the Reset numbered epoch, written by the owner alone. The owner
// zeroes the latter when it sees a newer Reset, so that Reset need not steal
// the shards: a process-wide barrier per Reset would cost more than the
// allocations between two Resets.
type arenaShard struct {
	gate
	epoch                                  uint64
	bytes, allocs, totalBytes, totalAllocs uint64
	_                                      [64]byte
}

// fastArena: the core hands out blocks and the Go side may bump in them.
const fastArena = bindings.ArenaBlocks && bindings.FastPath

// NewArena creates an Arena that maps blockSize bytes (rounded up to pages;
// 0 = 1 MiB) each time it grows. Allocations larger than a block get a block
// of their own.
func NewArena(blockSize int) (*Arena, error) {
	if blockSize < 0 {
		return nil, fmt.Errorf("offheap: NewArena(%d): negative block size", blockSize)
	}
	a, e := bindings.NewArena(uintptr(blockSize))
	switch e {
	case bindings.OK:
	case bindings.EINVAL:
		return nil, fmt.Errorf("offheap: NewArena(%d): block size too large", blockSize)
	default:
		return nil, fmt.Errorf("offheap: NewArena(%d): %w", blockSize, ErrOutOfMemory)
	}
	return &Arena{a: a, shards: make([]arenaShard, runtime.GOMAXPROCS(0))}, nil
}

// Alloc returns n bytes (len n, cap n), aligned to 16 bytes, valid until the
// next Reset or Close. The contents are unspecified. It panics if the arena is
// closed, or with an error wrapping ErrOutOfMemory if memory cannot be had.
func (a *Arena) Alloc(n int) []byte {
	b, err := a.AllocAligned(n, 16)
	if err != nil {
		panic(err)
	}
	return b
}

// AllocAligned is Alloc with the alignment given (a power of two up to the
// page size) that returns an error wrapping ErrOutOfMemory instead of
// panicking when memory cannot be had.
func (a *Arena) AllocAligned(n, align int) ([]byte, error) {
	a.check("Arena.Alloc")
	if n <= 0 || align <= 0 || align&(align-1) != 0 || align > pageSize {
		return a.allocOdd(n, align)
	}
	if fastArena && !bindings.DebugMode() {
		pid := procPin()
		if uint(pid) < uint(len(a.shards)) {
			sh := &a.shards[pid]
			if sh.enter() {
				if b := a.cur.Load(); b != nil {
					if p := b.bump(uintptr(n), uintptr(align)); p != nil {
						gen := a.acct.resets.Load()
						if sh.epoch != gen {
							sh.epoch, sh.bytes, sh.allocs = gen, 0, 0
						}
						sh.bytes += uint64(n)
						sh.allocs++
						sh.totalBytes += uint64(n)
						sh.totalAllocs++
						sh.leave()
						procUnpin()
						a.acct.sample(p, n, gen)
						return bytesAt(p, n), nil
					}
				}
				sh.leave()
			}
		}
		procUnpin()
	}
	return a.allocLocked(n, align)
}

// allocOdd is AllocAligned of an empty size or a bad alignment.
func (a *Arena) allocOdd(n, align int) ([]byte, error) {
	if a.closed.Load() {
		panic(closedMisuse("Arena.Alloc", "Arena"))
	}
	if n < 0 {
		negativeSize("Arena.Alloc", n)
	}
	if n > 0 {
		panic(misusef("Arena.Alloc", 0, "Arena.Alloc: alignment %d is not a power of two up to the page size", align))
	}
	return bytesAt(zeroPtr(), 0), nil
}

// bump claims n bytes aligned to align in b, or returns nil when they do not
// fit (or b is sealed).
func (b *arenaBlock) bump(n, align uintptr) unsafe.Pointer {
	for {
		off := b.off.Load()
		start := (b.base + off + align - 1) &^ (align - 1)
		if off > b.size || n > b.size || start-b.base > b.size-n {
			return nil
		}
		if b.off.CompareAndSwap(off, start-b.base+n) {
			return ptrOf(start)
		}
	}
}

// allocLocked is the locked path: a call per allocation (debug mode, no
// blocks in this build), or a new block.
func (a *Arena) allocLocked(n, align int) ([]byte, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.closed.Load() {
		panic(closedMisuse("Arena.Alloc", "Arena"))
	}
	var p unsafe.Pointer
	if !fastArena || bindings.DebugMode() {
		var e bindings.Err
		if p, e = a.a.Alloc(uintptr(n), uintptr(align)); e != bindings.OK {
			return nil, allocError("Arena.Alloc", n, e)
		}
	} else if cur := a.cur.Load(); cur != nil {
		p = cur.bump(uintptr(n), uintptr(align)) // another goroutine may have changed blocks
	}
	if p == nil {
		data, size, e := a.a.TakeBlock(uintptr(n), uintptr(align))
		if e != bindings.OK {
			return nil, allocError("Arena.Alloc", n, e)
		}
		nb := &arenaBlock{base: uintptr(data), size: size}
		p = nb.bump(uintptr(n), uintptr(align))
		if p == nil {
			panic("offheap: internal error: the core handed out an arena block too small")
		}
		// Keep bumping in whichever block has more room left; an oversized
		// block (one allocation) is settled at once.
		cur := a.cur.Load()
		if cur == nil || nb.size-nb.off.Load() > cur.size-min(cur.off.Load(), cur.size) {
			if cur != nil {
				a.retire(cur)
			}
			a.cur.Store(nb)
		} else {
			a.retire(nb)
		}
	}
	a.acct.noteSlow(n)
	a.acct.sample(p, n, a.acct.resets.Load())
	return bytesAt(p, n), nil
}

// retire seals b and tells the core how much of it was handed out (mu held).
func (a *Arena) retire(b *arenaBlock) {
	used := b.off.Swap(blockSealed)
	a.a.Settle(ptrOf(b.base), min(used, b.size))
}

// stealAll takes every shard from its owner (mu held).
func (a *Arena) stealAll(v uint32) {
	for i := range a.shards {
		a.shards[i].stolen.Store(v)
	}
	stealFence()
	for i := range a.shards {
		a.shards[i].waitOwner()
	}
}

func (a *Arena) unstealAll() {
	for i := range a.shards {
		a.shards[i].unsteal()
	}
}

// Owns reports whether b starts in memory the arena handed out since the last
// Reset.
func (a *Arena) Owns(b []byte) bool {
	a.check("Arena.Owns")
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.closed.Load() {
		panic(closedMisuse("Arena.Owns", "Arena"))
	}
	if cap(b) == 0 {
		return false
	}
	p := sliceAddr(b)
	if cur := a.cur.Load(); cur != nil && p >= cur.base && p-cur.base < cur.size {
		return p-cur.base < cur.off.Load() // the core counts the current block as handed out whole
	}
	return a.a.Owns(p)
}

// Reset frees every allocation at once; all slices the arena handed out
// dangle afterwards. The blocks stay mapped and committed for the allocations
// that follow (a reused arena pays no page faults); use ResetDecommit to hand
// the memory back to the OS.
func (a *Arena) Reset() { a.reset("Arena.Reset", bindings.ArenaKeep) }

// ResetDecommit is Reset that also returns the memory to the OS: the first
// block stays mapped but decommitted, the others are unmapped.
func (a *Arena) ResetDecommit() { a.reset("Arena.ResetDecommit", bindings.ArenaDecommit) }

func (a *Arena) reset(op string, flags int) {
	a.check(op)
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.closed.Load() {
		panic(closedMisuse(op, "Arena"))
	}
	// No steal: a bump racing with the seal either lands before it (an
	// allocation the Reset frees) or fails and waits for mu; the shards'
	// counts since the Reset are zeroed by their owners (arenaShard).
	if cur := a.cur.Load(); cur != nil {
		a.retire(cur)
		a.cur.Store(nil)
	}
	a.acct.noteReset()
	a.a.Reset(flags)
}

// Close frees everything and unmaps the arena's memory. Every slice it handed
// out dangles afterwards and any further call on a panics; a second Close
// returns ErrClosed.
func (a *Arena) Close() error {
	a.check("Arena.Close")
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.closed.Load() {
		return ErrClosed
	}
	a.closed.Store(true)
	a.stealAll(stealClosed)
	if cur := a.cur.Load(); cur != nil {
		cur.off.Store(blockSealed)
		a.cur.Store(nil)
	}
	a.acct.noteReset()
	if e := a.a.Destroy(); e != bindings.OK {
		return fmt.Errorf("offheap: Arena.Close: %v", e)
	}
	return nil
}
