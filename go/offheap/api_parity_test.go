package offheap

// api_parity_test.go covers the API that makes offheap a drop-in for the
// seeds and for Go idioms: the sync.Pool adapters' allocations, typed values,
// and Owns / Stats / Leaks on every allocator type.

import (
	"sync"
	"testing"
	"unsafe"
)

// valueBytes is the memory of *p as a []byte, for Owns.
func valueBytes[T any](p *T) []byte {
	return unsafe.Slice((*byte)(unsafe.Pointer(p)), unsafe.Sizeof(*p))
}

func TestSyncPoolPtrAllocsNothing(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector makes sync.Pool drop items at random")
	}
	p := NewBufferPool(4096)
	defer p.Close()
	sp := p.SyncPoolPtr()
	var pool interface {
		Get() any
		Put(any)
	} = sp
	// Warm up: boxes and the BufferPool's per-P cache.
	for range 10 {
		pool.Put(pool.Get())
	}
	if n := testing.AllocsPerRun(1000, func() {
		bp := pool.Get().(*[]byte)
		(*bp)[0] = 1
		pool.Put(bp)
	}); n != 0 && !asanBuild() { // -asan: the Go caches step aside, so Get+Put goes to C
		t.Fatalf("SyncPoolPtr Get+Put: %v allocations, want 0", n)
	}
	// SyncPool ([]byte values): the caller's boxing in Put, as sync.Pool.
	bs := p.SyncPool()
	for range 10 {
		bs.Put(bs.Get())
	}
	// New: a Get on another P than the Put (the goroutine moved) finds
	// nothing in the P-local slot; without New it returned nil and the
	// reference loop panicked.
	ref := sync.Pool{New: func() any { return make([]byte, 4096) }}
	ref.Put(make([]byte, 4096))
	want := testing.AllocsPerRun(1000, func() {
		b := ref.Get().([]byte)
		ref.Put(b) //nolint:staticcheck // SA6002: the idiom being measured
	})
	if n := testing.AllocsPerRun(1000, func() {
		b := bs.Get().([]byte)
		b[0] = 1
		bs.Put(b) //nolint:staticcheck // SA6002: the idiom being measured
	}); n > want && !asanBuild() {
		t.Fatalf("SyncPool Get+Put: %v allocations, sync.Pool with []byte makes %v", n, want)
	}
}

func TestSyncPoolAdaptersMixed(t *testing.T) {
	p := NewBufferPool(1000)
	defer p.Close()
	for _, a := range []*SyncPoolAdapter{p.SyncPool(), p.SyncPoolPtr()} {
		var held []any
		for range 50 {
			held = append(held, a.Get())
		}
		for i, x := range held {
			var b []byte
			if bp, ok := x.(*[]byte); ok {
				b = *bp
			} else {
				b = x.([]byte)
			}
			if len(b) != 1000 || !p.Owns(b) {
				t.Fatalf("Get returned a buffer of len %d, owned %v", len(b), p.Owns(b))
			}
			fill(b, byte(i))
		}
		for i, x := range held {
			switch i % 2 { // Put takes both forms from either adapter
			case 0:
				if bp, ok := x.(*[]byte); ok {
					a.Put(*bp)
				} else {
					a.Put(x)
				}
			default:
				if bp, ok := x.(*[]byte); ok {
					a.Put(bp)
				} else {
					b := x.([]byte)
					a.Put(&b)
				}
			}
		}
		if n := len(p.Leaks()); n != 0 {
			t.Fatalf("%d buffers still out after every Put", n)
		}
	}
	mustPanic(t, func() { p.SyncPoolPtr().Put(42) }, "int")
	mustPanic(t, func() { p.SyncPoolPtr().Put((*[]byte)(nil)) }, "nil *[]byte")
}

type vec2 struct{ X, Y float64 }

func TestTypedValues(t *testing.T) {
	p := New[vec2]()
	if *p != (vec2{}) {
		t.Fatal("New did not zero")
	}
	p.X = 3
	if !Owns(valueBytes(p)) {
		t.Fatal("Owns(New's memory) = false")
	}
	Delete(p)
	mustPanic(t, func() { Delete(p) }, "Delete")
	mustPanic(t, func() { Delete(&vec2{}) }, "Delete", "not allocated by offheap")
	mustPanic(t, func() { Delete[vec2](nil) }, "nil pointer")
	mustPanic(t, func() { New[*int]() }, "New[*int]", "Go pointers")
	Delete(New[struct{}]()) // zero size: owns nothing

	a, err := NewArena(0)
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	q := NewIn[vec2](a)
	s := MakeSliceIn[int64](a, 3, 10)
	if *q != (vec2{}) || len(s) != 3 || cap(s) != 10 || s[2] != 0 || s[:10][9] != 0 {
		t.Fatal("NewIn / MakeSliceIn: wrong shape or not zeroed")
	}
	s = append(s, 7) // within cap: stays in the arena
	if !a.Owns(valueBytes(&s[0])) || !a.Owns(valueBytes(q)) {
		t.Fatal("arena values not owned by the arena")
	}
	st := a.Stats()
	if st.Allocs != 2 || st.InUseBytes != 16+80 {
		t.Fatalf("Arena.Stats = %+v, want 2 allocations of 96 bytes", st)
	}
	mustPanic(t, func() { MakeSliceIn[int64](a, 5, 2) }, "len larger than cap")
	mustPanic(t, func() { NewIn[[]byte](a) }, "Go pointers")
	a.Reset()
	if st := a.Stats(); st.Allocs != 0 || st.InUseBytes != 0 || st.Resets != 1 || st.TotalAllocs != 2 {
		t.Fatalf("Arena.Stats after Reset = %+v", st)
	}
}

func TestOwnsStatsLeaksEverywhere(t *testing.T) {
	b := Alloc(100)
	if !Owns(b) || Owns(b[16:]) || Owns(make([]byte, 100)) || Owns(nil) {
		t.Fatal("offheap.Owns wrong")
	}
	Free(b)
	if Owns(b) {
		t.Fatal("offheap.Owns of a freed buffer = true")
	}

	for _, cfg := range []PoolConfig{{}, {MaxObjects: 10}} {
		pool, err := NewPool(64, cfg)
		if err != nil {
			t.Fatal(err)
		}
		o := pool.Get()
		if !pool.Owns(o) || pool.Owns(o[1:]) || pool.Owns(nil) || len(pool.Leaks()) != 1 || pool.Stats().InUseBytes == 0 {
			t.Fatalf("Pool %+v: Owns/Leaks/Stats wrong", cfg)
		}
		pool.Put(o)
		if pool.Owns(o) {
			t.Fatalf("Pool %+v: Owns of a returned object = true", cfg)
		}
		pool.Close()
		mustPanic(t, func() { pool.Owns(o) }, "closed")
	}

	bp := NewBufferPool(16 << 10)
	defer bp.Close()
	x := bp.Get()
	if !bp.Owns(x) || len(bp.Leaks()) != 1 || bp.Stats().SlabBytes == 0 {
		t.Fatalf("BufferPool: Owns %v, Leaks %d, SlabBytes %d", bp.Owns(x), len(bp.Leaks()), bp.Stats().SlabBytes)
	}
	bp.Put(x)
	if bp.Owns(x) || len(bp.Leaks()) != 0 {
		t.Fatal("BufferPool: a returned buffer is still owned or listed")
	}
}

// TestZeroValuesNewAPI checks that the new methods refuse zero values like
// the old ones do (zero.go).
func TestZeroValuesNewAPI(t *testing.T) {
	var s Slab
	var p Pool
	var bp BufferPool
	var a Arena
	mustPanic(t, func() { s.Owns(nil) }, "use of a zero Slab")
	mustPanic(t, func() { s.SetNext(nil, nil) }, "use of a zero Slab")
	mustPanic(t, func() { s.GetNext(nil) }, "use of a zero Slab")
	mustPanic(t, func() { s.LocToBuf(NilLoc()) }, "use of a zero Slab")
	mustPanic(t, func() { p.Owns(nil) }, "use of a zero Pool")
	mustPanic(t, func() { bp.Owns(nil) }, "use of a zero BufferPool")
	mustPanic(t, func() { bp.Leaks() }, "use of a zero BufferPool")
	mustPanic(t, func() { bp.SyncPoolPtr().Get() }, "use of a zero BufferPool")
	mustPanic(t, func() { a.Stats() }, "use of a zero Arena")
	mustPanic(t, func() { a.Leaks() }, "use of a zero Arena")
	mustPanic(t, func() { NewIn[int](&a) }, "use of a zero Arena")
}
