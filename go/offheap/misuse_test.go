package offheap

// misuse_test.go - every detected misuse of each allocator panics with a
// *MisuseError whose message names the operation, the misuse and the slice.

import (
	"fmt"
	"testing"

	"github.com/offheap/offheap/bindings"
)

func TestFreeMisuse(t *testing.T) {
	mustPanic(t, func() { Free(nil) }, "Free of a nil slice")
	goSlice := make([]byte, 64)
	mustPanic(t, func() { Free(goSlice) }, "Free of a slice not allocated by offheap", hex(sliceAddr(goSlice)), "len 64")
	var stack [32]byte
	mustPanic(t, func() { Free(stack[:]) }, "not allocated by offheap", "len 32")
	empty := make([]byte, 0)
	mustPanic(t, func() { Free(empty) }, "Free of an empty slice")

	b := Alloc(64)
	addr := sliceAddr(b)
	mustPanic(t, func() { Free(b[16:]) }, "Free of an interior slice", hex(addr+16), "len 48")
	// b[len(b):] has cap 0: Go keeps its pointer at b's start, so it must be
	// refused rather than free b.
	mustPanic(t, func() { Free(b[len(b):]) }, "Free of an empty slice")
	fill(b, 1)
	Free(b)
	mustPanic(t, func() { Free(b) }, "double Free of "+hex(addr), "already freed")

	big := Alloc(3 << 20) // whole pages
	bigAddr := sliceAddr(big)
	mustPanic(t, func() { Free(big[4096:]) }, "interior", hex(bigAddr+4096))
	Free(big)
	// A large allocation's pages are unmapped by Free: a second Free finds
	// nothing there.
	mustPanic(t, func() { Free(big) }, hex(bigAddr))
}

func TestFreeOfOtherAllocators(t *testing.T) {
	s, err := NewSlab(SlabConfig{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	sb := s.Alloc(64)
	mustPanic(t, func() { Free(sb) }, "Free of a slice that belongs to another allocator", hex(sliceAddr(sb)))
	s.DecRef(sb)

	p, err := NewPool(128, PoolConfig{})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	pb := p.Get()
	mustPanic(t, func() { Free(pb) }, "another allocator", hex(sliceAddr(pb)))
	p.Put(pb)

	bp := NewBufferPool(256)
	defer bp.Close()
	bb := bp.Get()
	mustPanic(t, func() { Free(bb) }, "another allocator")
	bp.Put(bb)

	m, err := Map(4096)
	if err != nil {
		t.Fatal(err)
	}
	mustPanic(t, func() { Free(m) }, "not allocated by offheap", hex(sliceAddr(m)))
	if err := Unmap(m); err != nil {
		t.Fatal(err)
	}

	a, err := NewArena(0)
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	ab := a.Alloc(100)
	mustPanic(t, func() { Free(ab) }, "another allocator", hex(sliceAddr(ab)))
}

func TestFreeSliceMisuse(t *testing.T) {
	mustPanic(t, func() { FreeSlice[int64](nil) }, "FreeSlice of a nil slice")
	mustPanic(t, func() { FreeSlice(make([]int64, 8)) }, "FreeSlice of a slice not allocated by offheap", "len 8")
	s := MakeSlice[int64](8)
	mustPanic(t, func() { FreeSlice(s[1:]) }, "FreeSlice of an interior slice", hex(sliceAddr(s)+8))
	FreeSlice(s)
	mustPanic(t, func() { FreeSlice(s) }, "double FreeSlice")
}

func TestSlabMisuse(t *testing.T) {
	s, err := NewSlab(SlabConfig{MinChunk: 32, SlabSize: 64 << 10, Growth: 2})
	if err != nil {
		t.Fatal(err)
	}
	other, err := NewSlab(SlabConfig{})
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()

	b := s.Alloc(100)
	addr := sliceAddr(b)
	mustPanic(t, func() { s.DecRef(nil) }, "Slab.DecRef of a nil slice")
	mustPanic(t, func() { s.AddRef(make([]byte, 0)) }, "Slab.AddRef of an empty slice")
	goSlice := make([]byte, 100)
	mustPanic(t, func() { s.DecRef(goSlice) }, "Slab.DecRef of a slice not allocated by offheap", hex(sliceAddr(goSlice)))
	mustPanic(t, func() { s.AddRef(goSlice) }, "Slab.AddRef of a slice not allocated by offheap")
	mustPanic(t, func() { s.DecRef(b[1:]) }, "Slab.DecRef of an interior slice", hex(addr+1))
	mustPanic(t, func() { other.DecRef(b) }, "Slab.DecRef of a slice that belongs to another allocator than this Slab", hex(addr))
	mustPanic(t, func() { other.AddRef(b) }, "Slab.AddRef of a slice that belongs to another allocator")
	g := Alloc(100)
	mustPanic(t, func() { s.DecRef(g) }, "another allocator")
	Free(g)

	s.AddRef(b)
	if n := s.RefCount(b); n != 2 {
		t.Fatalf("RefCount = %d after AddRef, want 2", n)
	}
	if s.DecRef(b) {
		t.Fatal("DecRef freed a slice with two references")
	}
	if !s.DecRef(b) {
		t.Fatal("DecRef of the last reference did not free")
	}
	mustPanic(t, func() { s.DecRef(b) }, "Slab.DecRef of a freed slice", hex(addr), "reference count below zero")
	mustPanic(t, func() { s.AddRef(b) }, "Slab.AddRef of a freed slice", "use after free")
	mustPanic(t, func() { s.RefCount(b) }, "Slab.RefCount of a freed slice")

	// Large allocations are reference counted too.
	l := s.Alloc(1 << 20)
	s.AddRef(l)
	if s.DecRef(l) || !s.DecRef(l) {
		t.Fatal("large allocation: wrong DecRef results")
	}

	live := s.Alloc(64)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	mustPanic(t, func() { s.Alloc(10) }, "Slab.Alloc on a closed Slab")
	mustPanic(t, func() { s.TryAlloc(10) }, "Slab.TryAlloc on a closed Slab")
	mustPanic(t, func() { s.AddRef(live) }, "Slab.AddRef on a closed Slab")
	mustPanic(t, func() { s.DecRef(live) }, "Slab.DecRef on a closed Slab")
	mustPanic(t, func() { s.RefCount(live) }, "Slab.RefCount on a closed Slab")
	mustPanic(t, func() { s.Stats() }, "Slab.Stats on a closed Slab")
	if err := s.Close(); err != ErrClosed {
		t.Fatalf("second Close = %v, want ErrClosed", err)
	}
	// The closed Slab's memory is gone from the region map: the global Free
	// recognises nothing there.
	mustPanic(t, func() { Free(live) }, "not allocated by offheap", hex(sliceAddr(live)))
}

func TestNewSlabErrors(t *testing.T) {
	for _, cfg := range []SlabConfig{
		{SlabSize: 3 << 20},
		{SlabSize: 1 << 10},
		{SlabSize: 2 << 30},
		{Growth: 1},
		{Growth: 0.5},
		{MinChunk: 2 << 20},
		{MinChunk: -1},
		{Growth: 1.0001}, // needs more than 256 classes
	} {
		if s, err := NewSlab(cfg); err == nil {
			s.Close()
			t.Errorf("NewSlab(%+v) succeeded", cfg)
		}
	}
}

func TestPoolMisuse(t *testing.T) {
	for _, cfg := range []PoolConfig{{}, {MaxObjects: 1000}} {
		t.Run(fmt.Sprintf("MaxObjects=%d", cfg.MaxObjects), func(t *testing.T) { testPoolMisuse(t, cfg) })
	}
}

func testPoolMisuse(t *testing.T, cfg PoolConfig) {
	p, err := NewPool(100, cfg)
	if err != nil {
		t.Fatal(err)
	}
	q, err := NewPool(100, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer q.Close()
	b := p.Get()
	if len(b) != 100 || cap(b) != 100 {
		t.Fatalf("Get: len %d cap %d", len(b), cap(b))
	}
	addr := sliceAddr(b)
	mustPanic(t, func() { p.Put(nil) }, "Pool.Put of a nil slice")
	mustPanic(t, func() { p.Put(make([]byte, 100)) }, "Pool.Put of a slice not allocated by offheap")
	mustPanic(t, func() { p.Put(b[10:]) }, "Pool.Put of an interior slice", hex(addr+10))
	mustPanic(t, func() { q.Put(b) }, "Pool.Put of a slice that belongs to another allocator than this Pool", hex(addr))
	p.Put(b)
	mustPanic(t, func() { p.Put(b) }, "double Pool.Put of "+hex(addr))

	if err := p.Close(); err != nil {
		t.Fatal(err)
	}
	mustPanic(t, func() { p.Get() }, "Pool.Get on a closed Pool")
	mustPanic(t, func() { p.TryGet() }, "Pool.Get on a closed Pool")
	mustPanic(t, func() { p.Put(b) }, "Pool.Put on a closed Pool")
	mustPanic(t, func() { p.Stats() }, "Pool.Stats on a closed Pool")
	if err := p.Close(); err != ErrClosed {
		t.Fatalf("second Close = %v", err)
	}
	if _, err := NewPool(0, PoolConfig{}); err == nil {
		t.Fatal("NewPool(0) succeeded")
	}
	if _, err := NewPool(2<<30, PoolConfig{}); err == nil {
		t.Fatal("NewPool(2 GiB) succeeded")
	}
}

func TestPoolMaxObjects(t *testing.T) {
	p, err := NewPool(64, PoolConfig{MaxObjects: 3, BlockObjects: 2})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	var got [][]byte
	for i := 0; i < 3; i++ {
		got = append(got, p.Get())
	}
	if b, err := p.TryGet(); err == nil {
		t.Fatalf("TryGet past MaxObjects returned %#x", sliceAddr(b))
	}
	mustPanicOOM(t, func() { p.Get() }, "Pool.Get")
	p.Put(got[0])
	b := p.Get()
	p.Put(b)
	p.Put(got[1])
	p.Put(got[2])
}

func TestArenaMisuse(t *testing.T) {
	a, err := NewArena(64 << 10)
	if err != nil {
		t.Fatal(err)
	}
	b := a.Alloc(10)
	if !a.Owns(b) || a.Owns(make([]byte, 10)) {
		t.Fatal("Owns is wrong")
	}
	mustPanic(t, func() { a.AllocAligned(8, 3) }, "alignment 3")
	mustPanic(t, func() { a.Alloc(-1) }, "Arena.Alloc of negative size -1")
	if err := a.Close(); err != nil {
		t.Fatal(err)
	}
	mustPanic(t, func() { a.Alloc(10) }, "Arena.Alloc on a closed Arena")
	mustPanic(t, func() { a.Reset() }, "Arena.Reset on a closed Arena")
	mustPanic(t, func() { a.ResetDecommit() }, "Arena.ResetDecommit on a closed Arena")
	mustPanic(t, func() { a.Owns(b) }, "Arena.Owns on a closed Arena")
	if err := a.Close(); err != ErrClosed {
		t.Fatalf("second Close = %v", err)
	}
}

func TestBufferPoolMisuse(t *testing.T) {
	p := NewBufferPool(1000)
	q := NewBufferPool(1000)
	defer q.Close()
	b := p.Get()
	addr := sliceAddr(b)
	mustPanic(t, func() { p.Put(nil) }, "BufferPool.Put of a nil slice")
	mustPanic(t, func() { p.Put(make([]byte, 10)) }, "BufferPool.Put of a slice of capacity 10, not one of this pool's 1000-byte buffers")
	mustPanic(t, func() { p.Put(make([]byte, 1000)) }, "BufferPool.Put of a slice not allocated by offheap", "len 1000")
	mustPanic(t, func() { p.Put(b[:10:10]) }, "capacity 10")
	mustPanic(t, func() { q.Put(b) }, "BufferPool.Put of a slice that belongs to another allocator than this BufferPool", hex(addr))
	g := Alloc(1000)
	mustPanic(t, func() { p.Put(g) }, "another allocator")
	Free(g)
	p.Put(b[:0]) // any length, same capacity
	mustPanic(t, func() { p.Put(b) }, "double BufferPool.Put of "+hex(addr))
	if err := p.Close(); err != nil {
		t.Fatal(err)
	}
	mustPanic(t, func() { p.Get() }, "BufferPool.Get on a closed BufferPool")
	mustPanic(t, func() { p.Put(b) }, "BufferPool.Put on a closed BufferPool")
	if err := p.Close(); err != ErrClosed {
		t.Fatalf("second Close = %v", err)
	}
	mustPanic(t, func() { NewBufferPool(0) }, "NewBufferPool(0)")

	a := q.SyncPool()
	mustPanic(t, func() { a.Put("x") }, "SyncPoolAdapter.Put of a string")
	mustPanic(t, func() { a.Put(nil) }, "SyncPoolAdapter.Put of a <nil>")
	mustPanic(t, func() { a.Put((*[]byte)(nil)) }, "nil *[]byte")
}

func TestMapMisuse(t *testing.T) {
	mustPanic(t, func() { Unmap(nil) }, "Unmap of a nil slice")
	mustPanic(t, func() { Unmap(make([]byte, pageSize)) }, "Unmap of a slice not mapped by offheap.Map", "cap")
	m, err := Map(3 * pageSize)
	if err != nil {
		t.Fatal(err)
	}
	addr := sliceAddr(m)
	mustPanic(t, func() { Unmap(m[pageSize:]) }, "Unmap of an interior slice", hex(addr+uintptr(pageSize)))
	mustPanic(t, func() { Unmap(m[:pageSize:pageSize]) }, "not mapped by offheap.Map, already unmapped, or of another size")
	mustPanic(t, func() { Unmap(m[:10:10]) }, "capacity 10 is not a whole number of pages")
	a := Alloc(pageSize)
	mustPanic(t, func() { Unmap(a) }, "not mapped by offheap.Map")
	Free(a)
	if err := Unmap(m[:1]); err != nil { // b[:k] keeps the capacity
		t.Fatal(err)
	}
	mustPanic(t, func() { Unmap(m) }, "already unmapped", hex(addr))
}

// TestMisuseMessages covers the report of every errno the core can return,
// including a reference count overflow, which would take 2^30 AddRefs to
// provoke.
func TestMisuseMessages(t *testing.T) {
	cases := []struct {
		op   string
		e    bindings.Err
		want string
	}{
		{"Free", bindings.EINVAL, "offheap: Free of a slice not allocated by offheap (0x1000, len 64)"},
		{"Free", bindings.EFAULT, "offheap: Free of an interior slice (0x1000, len 64): it does not start where an allocation starts"},
		{"Free", bindings.EALREADY, "offheap: double Free of 0x1000 (len 64): the slice was already freed"},
		{"Slab.DecRef", bindings.EALREADY, "offheap: Slab.DecRef of a freed slice (0x1000, len 64): reference count below zero"},
		{"Slab.AddRef", bindings.EALREADY, "offheap: Slab.AddRef of a freed slice (0x1000, len 64): use after free"},
		{"Free", bindings.EXDEV, "offheap: Free of a slice that belongs to another allocator than X (0x1000, len 64)"},
		{"Free", bindings.EBUSY, "offheap: Free of a slice that still has more than one reference (0x1000, len 64): use DecRef"},
		{"Slab.AddRef", bindings.EOVERFLOW, "offheap: Slab.AddRef of 0x1000 (len 64): the reference count would exceed 1073741823"},
		{"Free", bindings.EOTHER, "offheap: Free of 0x1000 (len 64) failed: errno"},
	}
	for _, c := range cases {
		if got := releaseMisuse(c.op, "X", c.e, 0x1000, 64).Error(); got != c.want {
			t.Errorf("%s/%v:\n got %q\nwant %q", c.op, c.e, got, c.want)
		}
	}
	if bindings.RefcountMax != 1<<30-1 {
		t.Fatalf("RefcountMax = %d", bindings.RefcountMax)
	}
}
