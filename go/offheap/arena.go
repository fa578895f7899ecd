package offheap

// arena.go is Arena: bump allocation through blocks of pages, all freed at
// once by Reset, for memory whose lifetimes end together. The bumping runs on
// the Go side, per P, behind the shard handshake of gate.go; arena_stats.go
// gives the Arena its Stats, Leaks and profile samples.

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
// The bumping happens on the Go side, per P, with plain instructions: the
// core hands out a whole block at a time (one cgo call per block,
// bindings.Arena.TakeBlock); each P carves a region of the current block for
// itself with one compare-and-swap on the block's offset and bumps through it
// pinned, entered in its shard with the handshake of the allocator caches
// (cache.go), so Close and Stats, which steal every shard, never race with
// it, and two goroutines never share a cache line on the bump path. Reset
// does not steal: it seals the block and moves the epoch, and each P drops
// its region when it next sees the new epoch (an Alloc racing with a Reset is
// ordered before it: its memory is freed by that Reset). The core grows its
// blocks to what a Reset cycle used (c/src/arena.c), so a reused arena takes
// one block per cycle, whatever its allocation sizes. In debug mode, in -asan
// builds and with an installed library every allocation is a call into the
// core, which poisons and guards what a Reset frees.
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

// arenaShard is one P's share of an Arena: its gate, its bump region
// [cur, end) carved from a block, and its counts since the Reset numbered
// epoch and of the epochs before (total*: the counts in all are those plus
// the current ones), written by the owner alone. The owner drops its region and
// zeroes the counts since the Reset when it sees a newer epoch, so that Reset
// need not steal the shards: a process-wide barrier per Reset would cost more
// than the allocations between two Resets.
type arenaShard struct {
	gate
	epoch                                  uint64
	cur, end                               uintptr
	bytes, allocs, totalBytes, totalAllocs uint64
	_                                      [64]byte
}

// Regions a P carves from a block: a sixteenth of the block, between
// minRegion and maxRegion (and at least the allocation). Larger regions mean
// fewer compare-and-swaps on the shared offset; what a P leaves of its region
// at a Reset or a block change is address space the block had anyway.
const (
	minRegion = 16 << 10
	maxRegion = 4 << 20
)

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
	b, err := a.allocAligned(n, 16, false)
	if err != nil {
		panic(err)
	}
	return b
}

// AllocAligned is Alloc with the alignment given (a power of two up to the
// page size) that returns an error wrapping ErrOutOfMemory instead of
// panicking when memory cannot be had, or when a new block would take the
// process past SetMemoryLimit's limit.
func (a *Arena) AllocAligned(n, align int) ([]byte, error) { return a.allocAligned(n, align, true) }

// allocAligned is AllocAligned; limited: a new block respects the memory
// limit (Alloc, like every panicking call, may go past it).
func (a *Arena) allocAligned(n, align int, limited bool) ([]byte, error) {
	a.check("Arena.Alloc")
	if n <= 0 || align <= 0 || align&(align-1) != 0 || align > pageSize {
		return a.allocOdd(n, align)
	}
	if fastArena && !bindings.DebugMode() {
		pid := procPin()
		if uint(pid) < uint(len(a.shards)) {
			sh := &a.shards[pid]
			if sh.enter() {
				gen := a.acct.resets.Load()
				if sh.epoch != gen {
					sh.totalBytes += sh.bytes
					sh.totalAllocs += sh.allocs
					sh.epoch, sh.bytes, sh.allocs, sh.cur, sh.end = gen, 0, 0, 0, 0
				}
				p := sh.bump(uintptr(n), uintptr(align))
				if p == 0 && a.carve(sh, uintptr(n), uintptr(align)) {
					p = sh.bump(uintptr(n), uintptr(align))
				}
				if p != 0 {
					sh.bytes += uint64(n)
					sh.allocs++
					var sample bool
					var rate int64
					if !spendFast(pid, n) {
						sample, rate = spendSlow(pid, n)
					}
					sh.leave()
					procUnpin()
					if sample {
						a.acct.sampleDrawn(ptrOf(p), n, gen, rate)
					}
					return bytesAt(ptrOf(p), n), nil
				}
				sh.leave()
			}
		}
		procUnpin()
	}
	return a.allocLocked(n, align, limited)
}

// bump hands out n bytes aligned to align from the P's region, or returns 0
// when they do not fit (the owner, entered).
func (sh *arenaShard) bump(n, align uintptr) uintptr {
	start := (sh.cur + align - 1) &^ (align - 1)
	if sh.cur == 0 || start < sh.cur || start > sh.end || n > sh.end-start {
		return 0
	}
	sh.cur = start + n
	return start
}

// carve gives the P a new region of the current block for n bytes aligned
// to align: one compare-and-swap on the block's offset. false when the block
// is full, sealed or missing (the locked path then takes a new one).
func (a *Arena) carve(sh *arenaShard, n, align uintptr) bool {
	b := a.cur.Load()
	if b == nil {
		return false
	}
	want := min(max(b.size/16, minRegion), maxRegion)
	want = max(want, n+align-1)
	for {
		off := b.off.Load()
		if off > b.size {
			return false // sealed
		}
		room := b.size - off
		start := (b.base + off + align - 1) &^ (align - 1)
		if start-b.base > b.size || n > b.size-(start-b.base) {
			return false
		}
		k := min(want, room)
		if b.off.CompareAndSwap(off, off+k) {
			sh.cur, sh.end = b.base+off, b.base+off+k
			return true
		}
	}
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
func (a *Arena) allocLocked(n, align int, limited bool) ([]byte, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.closed.Load() {
		panic(closedMisuse("Arena.Alloc", "Arena"))
	}
	var p unsafe.Pointer
	if !fastArena || bindings.DebugMode() {
		// A call per allocation: whether it takes a new block is the core's
		// business, so past the memory limit every limited one is refused.
		reserved := false
		if limited {
			var err error
			if reserved, err = memAdmit("Arena.AllocAligned", n); err != nil {
				return nil, err
			}
		}
		var e bindings.Err
		p, e = a.a.Alloc(uintptr(n), uintptr(align))
		memSettle(reserved, n)
		if e != bindings.OK {
			return nil, allocError("Arena.Alloc", n, e)
		}
	} else if cur := a.cur.Load(); cur != nil {
		p = cur.bump(uintptr(n), uintptr(align)) // another goroutine may have changed blocks
	}
	if p == nil {
		reserved := false
		if limited {
			var err error
			if reserved, err = memAdmit("Arena.AllocAligned", n); err != nil {
				return nil, err
			}
		}
		data, size, e := a.a.TakeBlock(uintptr(n), uintptr(align))
		memSettle(reserved, n)
		if e != bindings.OK {
			return nil, allocError("Arena.Alloc", n, e)
		}
		base := uintptr(data)
		start := (base + uintptr(align) - 1) &^ (uintptr(align) - 1)
		used := start - base + uintptr(n)
		if used > size {
			panic("offheap: internal error: the core handed out an arena block too small")
		}
		p = ptrOf(start)
		// Keep bumping in whichever block has more room left; a block that
		// holds just this allocation is settled at once, without a
		// descriptor on the Go heap.
		cur := a.cur.Load()
		if cur == nil || size-used > cur.size-min(cur.off.Load(), cur.size) {
			nb := &arenaBlock{base: base, size: size}
			nb.off.Store(used)
			if cur != nil {
				a.retire(cur)
			}
			a.cur.Store(nb)
		} else {
			a.a.Settle(data, used)
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
// Reset. Memory a P set aside for its next allocations (a region of the
// current block, arena.go) counts as handed out: Owns can tell arena memory
// from any other, not each allocation from the gaps between them.
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
		// The core counts the current block as handed out whole; regions
		// the Ps carved count as handed out.
		return p-cur.base < cur.off.Load()
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
	unnameInstance(&a.acct)
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
