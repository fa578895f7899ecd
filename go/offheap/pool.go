package offheap

// pool.go is Pool: fixed-size objects that grow on demand, with an optional
// bound (MaxObjects). An unbounded pool is a heap with per-P caches
// (cache.go); a bounded one is the core's oh_pool_t, which keeps the count.

import (
	"fmt"
	"runtime"
	"sync"

	"github.com/offheap/offheap/bindings"
)

// PoolConfig configures a Pool. Zero fields take the defaults.
type PoolConfig struct {
	// MaxObjects bounds the objects out at once; Get panics (TryGet returns
	// an error) past it. 0 = unbounded.
	MaxObjects int
	// BlockObjects is how many objects the pool grows by at a time
	// (default: about 64 KiB worth, at least 8).
	BlockObjects int
	// Name names the pool in its Leaks entries (Allocation.Name), its Stats,
	// ReadStats().Instances (and PublishExpvar) and its heap profile samples
	// (label "allocator"). Optional.
	Name string
}

// A Pool hands out fixed-size objects (byte slices of one size) and grows by
// whole blocks on demand. Get returns an object whose contents are unspecified;
// Put returns it. Close frees everything at once.
//
// An unbounded pool is a heap of its own in the C core with the per-P caches
// of cache.go in front: steady-state Get and Put make no cgo call. A bounded
// pool (MaxObjects > 0) is the core's oh_pool, one call per Get and Put, so
// that the bound is exact (caches would hold objects other goroutines could
// not get).
//
// A Pool that becomes unreachable without Close frees its memory if no object
// is out; otherwise the objects out stay valid.
type Pool struct {
	size int
	h    *heap        // unbounded pools
	b    *boundedPool // bounded pools
	name string       // PoolConfig.Name
}

// boundedPool is the core's oh_pool behind a bounded Pool; it outlives the
// Pool until the Pool's cleanup has run.
type boundedPool struct {
	mu     sync.RWMutex // read-held by every operation, held by close
	p      bindings.Pool
	closed bool
}

// close destroys the pool (if idle is set: only when no object is out) and
// reports whether this call closed it.
func (b *boundedPool) close(idle bool) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return false
	}
	if idle {
		var bs bindings.Stats
		if b.p.ReadStats(&bs) != bindings.OK || bs.InUseBytes != 0 {
			return false
		}
	}
	b.closed = true
	b.p.Destroy()
	return true
}

// NewPool creates a Pool of objects of size bytes (1 byte to 1 GiB).
func NewPool(size int, cfg PoolConfig) (*Pool, error) {
	if size <= 0 || cfg.MaxObjects < 0 || cfg.BlockObjects < 0 {
		return nil, fmt.Errorf("offheap: NewPool(%d, %+v): the size must be positive and the limits not negative", size, cfg)
	}
	if size > 1<<30 {
		return nil, fmt.Errorf("offheap: NewPool(%d, %+v): the object size must be at most 1 GiB", size, cfg)
	}
	if cfg.MaxObjects > 0 {
		p, e := bindings.NewPool(uintptr(size), uintptr(cfg.MaxObjects), uintptr(cfg.BlockObjects))
		switch e {
		case bindings.OK:
		case bindings.EINVAL:
			return nil, fmt.Errorf("offheap: NewPool(%d, %+v): a block of BlockObjects objects must fit in 1 GiB", size, cfg)
		default:
			return nil, fmt.Errorf("offheap: NewPool(%d): %w", size, ErrOutOfMemory)
		}
		pool := &Pool{size: size, b: &boundedPool{p: p}, name: cfg.Name}
		runtime.AddCleanup(pool, func(b *boundedPool) {
			if b.close(true) {
				cleanedUp.Add(1)
			}
			unnameInstance(b)
		}, pool.b)
		if cfg.Name != "" {
			b, name := pool.b, cfg.Name
			nameInstance(b, "Pool", name, func() (InstanceStats, bool) {
				b.mu.RLock()
				defer b.mu.RUnlock()
				var bs bindings.Stats
				if b.closed || b.p.ReadStats(&bs) != bindings.OK {
					return InstanceStats{}, false
				}
				return InstanceStats{Kind: "Pool", Name: name, InUseBytes: bs.InUseBytes, Allocs: bs.Allocs, Frees: bs.Frees}, true
			})
		}
		return pool, nil
	}
	// Unbounded: a slab heap whose first class holds the objects, with slabs
	// ("blocks") of BlockObjects objects, as the core's pool sizes them.
	chunk := (size + 15) &^ 15
	per := cfg.BlockObjects
	if per == 0 {
		per = max(8, (64<<10)/chunk)
	}
	slab := 64 << 10
	for slab < 1<<30 && slab/chunk < per {
		slab <<= 1
	}
	// Without BlockObjects the default count yields to the 1 GiB cap (as in
	// the core's oh_pool_new): objects up to 1 GiB are served.
	if slab/chunk < per && cfg.BlockObjects > 0 {
		return nil, fmt.Errorf("offheap: NewPool(%d, %+v): a block of BlockObjects objects must fit in 1 GiB", size, cfg)
	}
	c, e := bindings.NewSlab(uintptr(size), uintptr(slab), 2)
	if e != bindings.OK {
		return nil, fmt.Errorf("offheap: NewPool(%d): %w", size, ErrOutOfMemory)
	}
	h := newHeap(c, "Pool", "this Pool", true, int(c.ClassSize(0)), 3, 4)
	registerHeap(h)
	pool := &Pool{size: size, h: h, name: cfg.Name}
	runtime.AddCleanup(pool, cleanupHeap, h)
	if cfg.Name != "" {
		nameHeap(h, cfg.Name)
		runtime.AddCleanup(pool, unnameHeap, h)
	}
	return pool, nil
}

// Size returns the object size.
func (p *Pool) Size() int { return p.size }

// Get returns an object: a slice of len and cap Size(). It panics if the pool
// is closed, or with an error wrapping ErrOutOfMemory if it is at MaxObjects
// or memory cannot be had.
func (p *Pool) Get() []byte {
	b, err := p.tryGet()
	if err != nil {
		panic(err)
	}
	return b
}

// TryGet is Get that returns an error wrapping ErrOutOfMemory instead of
// panicking when the pool is at MaxObjects or memory cannot be had, or when
// it would take the process past its memory limit (SetMemoryLimit).
func (p *Pool) TryGet() ([]byte, error) {
	r, err := memAdmit("Pool.TryGet", p.size)
	if err != nil {
		return nil, err
	}
	defer memSettle(r, p.size)
	return p.tryGet()
}

func (p *Pool) tryGet() ([]byte, error) {
	p.check("Pool.Get")
	if p.h != nil {
		ptr, e := p.h.alloc("Pool.Get", p.size, false)
		if e != bindings.OK {
			return nil, fmt.Errorf("offheap: Pool.Get: %d-byte object: %w", p.size, ErrOutOfMemory)
		}
		return bytesAt(ptr, p.size), nil
	}
	b := p.b
	b.mu.RLock()
	if b.closed {
		b.mu.RUnlock()
		panic(closedMisuse("Pool.Get", "Pool"))
	}
	ptr, e := b.p.Get()
	b.mu.RUnlock()
	if e != bindings.OK {
		return nil, fmt.Errorf("offheap: Pool.Get: pool of %d-byte objects at its maximum, or the OS refused memory: %w", p.size, ErrOutOfMemory)
	}
	profileAlloc(ptr, p.size, b)
	return bytesAt(ptr, p.size), nil
}

// Put returns an object that Get returned (b[:k] of it is fine); b dangles
// afterwards. It panics on misuse: b nil or empty, not from this pool,
// interior, already put back, or a closed pool.
func (p *Pool) Put(obj []byte) {
	p.check("Pool.Put")
	if p.h != nil {
		if cap(obj) == 0 {
			p.h.checkOpen("Pool.Put") // a closed pool still panics
			panic(emptyMisuse("Pool.Put", obj))
		}
		p.h.release("Pool.Put", slicePtr(obj), len(obj))
		return
	}
	b := p.b
	b.mu.RLock()
	if b.closed {
		b.mu.RUnlock()
		panic(closedMisuse("Pool.Put", "Pool"))
	}
	if cap(obj) == 0 {
		b.mu.RUnlock()
		panic(emptyMisuse("Pool.Put", obj))
	}
	addr := sliceAddr(obj)
	gen := sampleGen(slicePtr(obj))
	e := b.p.Put(addr)
	if e == bindings.OK && gen != 0 {
		forgetSampleIf(addr, gen) // accepted: the sample of what was put back goes
	}
	b.mu.RUnlock()
	if e != bindings.OK {
		panic(releaseMisuse("Pool.Put", "this Pool", e, addr, len(obj)))
	}
}

// Leaks lists the pool's objects that are out (taken by Get, not Put back).
func (p *Pool) Leaks() []Allocation {
	p.check("Pool.Leaks")
	if p.h != nil {
		return named(p.h.leaks("Pool.Leaks"), p.name)
	}
	p.b.mu.RLock()
	defer p.b.mu.RUnlock()
	if p.b.closed {
		panic(closedMisuse("Pool.Leaks", "Pool"))
	}
	return named(allocations(p.b.p.Leaks()), p.name)
}

// Stats returns the pool's figures (one size class).
func (p *Pool) Stats() SlabStats {
	p.check("Pool.Stats")
	var bs bindings.Stats
	if p.h != nil {
		bs = p.h.stats("Pool.Stats")
		bs.Classes = bs.Classes[:min(len(bs.Classes), 1)]
	} else {
		p.b.mu.RLock()
		defer p.b.mu.RUnlock()
		if p.b.closed {
			panic(closedMisuse("Pool.Stats", "Pool"))
		}
		p.b.p.ReadStats(&bs)
	}
	st := slabStats(&bs, 0)
	st.Name = p.name
	return st
}

// Close frees every object at once and returns the memory to the OS. Every
// object dangles afterwards and any further call on p panics; a second Close
// returns ErrClosed.
func (p *Pool) Close() error {
	p.check("Pool.Close")
	if p.h != nil {
		if !p.h.close(true) {
			return ErrClosed
		}
		forgetOwner(p.h) // the profile's samples of the objects Close freed
		unnameInstance(p.h)
		return nil
	}
	if !p.b.close(false) {
		return ErrClosed
	}
	forgetOwner(p.b)
	unnameInstance(p.b)
	return nil
}
