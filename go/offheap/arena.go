package offheap

import (
	"fmt"
	"sync"

	"github.com/offheap/offheap/bindings"
)

// An Arena hands out memory by bumping a pointer through blocks of pages;
// nothing is freed one by one: Reset frees every allocation at once. It suits
// memory whose lifetimes end together (a request, a batch, a parse).
//
// Alloc may be called from several goroutines at once; Reset and Close
// wait for calls in progress. An Arena that is not closed lives until the
// process exits, even if unreachable.
type Arena struct {
	mu     sync.RWMutex // read-held by Alloc, held by Reset and Close
	a      bindings.Arena
	closed bool
	acct   arenaAcct // Stats, Leaks and profile samples (arena_stats.go)
}

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
	return &Arena{a: a}, nil
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
	a.mu.RLock()
	if a.closed {
		a.mu.RUnlock()
		panic(closedMisuse("Arena.Alloc", "Arena"))
	}
	if n <= 0 {
		a.mu.RUnlock()
		if n < 0 {
			negativeSize("Arena.Alloc", n)
		}
		return bytesAt(zeroPtr(), 0), nil
	}
	if align <= 0 || align&(align-1) != 0 || align > bindings.PageSize() {
		a.mu.RUnlock()
		panic(misusef("Arena.Alloc", 0, "Arena.Alloc: alignment %d is not a power of two up to the page size", align))
	}
	p, e := a.a.Alloc(uintptr(n), uintptr(align))
	if e == bindings.OK {
		a.acct.noteAlloc(p, n) // before a Reset can run
	}
	a.mu.RUnlock()
	if e != bindings.OK {
		return nil, allocError("Arena.Alloc", n, e)
	}
	return bytesAt(p, n), nil
}

// Owns reports whether b starts in memory the arena handed out since the last
// Reset.
func (a *Arena) Owns(b []byte) bool {
	a.check("Arena.Owns")
	a.mu.RLock()
	defer a.mu.RUnlock()
	if a.closed {
		panic(closedMisuse("Arena.Owns", "Arena"))
	}
	if cap(b) == 0 {
		return false
	}
	return a.a.Owns(sliceAddr(b))
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
	if a.closed {
		panic(closedMisuse(op, "Arena"))
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
	if a.closed {
		return ErrClosed
	}
	a.closed = true
	a.acct.noteReset()
	if e := a.a.Destroy(); e != bindings.OK {
		return fmt.Errorf("offheap: Arena.Close: %v", e)
	}
	return nil
}
