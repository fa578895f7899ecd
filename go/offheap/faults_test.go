//go:build !offheap_shared

package offheap

// faults_test.go - running out of memory. The core's fault injection
// (bindings.FailOS, over ohi_test_fail_os) makes the OS layer refuse
// mappings: every k-th one, or all of them past a byte budget. Every
// allocating function must then return an error wrapping ErrOutOfMemory (or,
// where its signature has no error, panic with one), naming the operation;
// what was allocated before stays intact; the statistics stay exact; and
// allocation works again once memory is back.
//
// The offheap_shared build cannot reach the core's hook, hence the build tag.

import (
	"errors"
	"strings"
	"testing"
	"unsafe"

	"github.com/offheap/offheap/bindings"
)

// armFaults arms fault injection for the rest of the test.
func armFaults(t *testing.T, every, budget uint64) {
	t.Helper()
	if err := bindings.FailOS(every, budget); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { bindings.FailOS(0, 0) })
}

// oomCase is one allocating function: alloc returns the buffer or the error
// (a panicking function's panic is turned into its error by tryAlloc);
// free releases a buffer.
type oomCase struct {
	name  string
	op    string // what the error message must name
	alloc func() ([]byte, error)
	free  func([]byte)
}

func panics(f func() []byte) func() ([]byte, error) {
	return func() (b []byte, err error) {
		err = tryAlloc(func() { b = f() })
		return b, err
	}
}

// TestOutOfMemoryEveryAllocatingFunction refuses every mapping and calls each
// allocating function until it runs out (caches and free memory serve the
// first calls): the failure must be ErrOutOfMemory naming the call, the
// buffers it handed out before must be intact, and after the fault is
// disarmed the function must work again and everything must free cleanly.
func TestOutOfMemoryEveryAllocatingFunction(t *testing.T) {
	s, err := NewSlab(SlabConfig{SlabSize: 64 << 10})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	pool, err := NewPool(3000, PoolConfig{BlockObjects: 8})
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	bounded, err := NewPool(3000, PoolConfig{MaxObjects: 100000, BlockObjects: 8})
	if err != nil {
		t.Fatal(err)
	}
	defer bounded.Close()
	bp := NewBufferPool(40000)
	defer bp.Close()
	arena, err := NewArena(64 << 10)
	if err != nil {
		t.Fatal(err)
	}
	defer arena.Close()

	cases := []oomCase{
		{"Alloc(3 MiB)", "Alloc", panics(func() []byte { return Alloc(3 << 20) }), Free},
		{"TryAlloc(3 MiB)", "TryAlloc", func() ([]byte, error) { return TryAlloc(3 << 20) }, Free},
		{"Calloc(2 MiB)", "Calloc", panics(func() []byte { return Calloc(2 << 20) }), Free},
		{"TryAlloc(30000)", "TryAlloc", func() ([]byte, error) { return TryAlloc(30000) }, Free},
		{"Alloc(200)", "Alloc", panics(func() []byte { return Alloc(200) }), Free},
		{"MakeSlice[int64](5000)", "MakeSlice", panics(func() []byte {
			s := MakeSlice[int64](5000)
			return unsafeBytes(s)
		}), func(b []byte) { FreeSlice(unsafeInt64s(b)) }},
		{"Slab.Alloc(40000)", "Slab.Alloc", panics(func() []byte { return s.Alloc(40000) }), func(b []byte) { s.DecRef(b) }},
		{"Slab.TryAlloc(100)", "Slab.TryAlloc", func() ([]byte, error) { return s.TryAlloc(100) }, func(b []byte) { s.DecRef(b) }},
		{"Slab.TryAlloc(1 MiB)", "Slab.TryAlloc", func() ([]byte, error) { return s.TryAlloc(1 << 20) }, func(b []byte) { s.DecRef(b) }},
		{"Pool.Get", "Pool.Get", panics(pool.Get), pool.Put},
		{"Pool.TryGet", "Pool.Get", pool.TryGet, pool.Put},
		{"bounded Pool.TryGet", "Pool.Get", bounded.TryGet, bounded.Put},
		{"BufferPool.Get", "BufferPool.Get", panics(bp.Get), bp.Put},
		{"Arena.Alloc(20000)", "Arena.Alloc", panics(func() []byte { return arena.Alloc(20000) }), nil},
		{"Arena.AllocAligned(3 MiB)", "Arena.Alloc", func() ([]byte, error) { return arena.AllocAligned(3<<20, 4096) }, nil},
		{"Map(5 pages)", "Map", func() ([]byte, error) { return Map(5 * pageSize) }, func(b []byte) { Unmap(b) }},
	}
	before := defaultHeap.stats("test")
	Scavenge() // empty the caches, so that most functions need the OS soon
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) { testOutOfMemory(t, c) })
	}
	arena.Reset()
	Scavenge()
	// Everything was freed: nothing is counted in use, nothing listed.
	after := defaultHeap.stats("test")
	if after.InUseBytes != before.InUseBytes || after.LargeInUse != before.LargeInUse {
		t.Errorf("process-wide allocator: in use before %d bytes (%d large), after the out-of-memory runs %d (%d large)",
			before.InUseBytes, before.LargeInUse, after.InUseBytes, after.LargeInUse)
	}
	for name, st := range map[string]SlabStats{"Slab": s.Stats(), "Pool": pool.Stats(), "bounded Pool": bounded.Stats(), "BufferPool": bp.Stats()} {
		if st.InUseBytes != 0 || st.LargeInUse != 0 || st.Allocs != st.Frees {
			t.Errorf("%s after the out-of-memory runs: %d bytes in use, %d large, %d allocs, %d frees", name, st.InUseBytes, st.LargeInUse, st.Allocs, st.Frees)
		}
	}
	if l := s.Leaks(); len(l) != 0 {
		t.Errorf("Slab.Leaks() after everything was freed: %v", l)
	}
}

func testOutOfMemory(t *testing.T, c oomCase) {
	const maxCalls, maxBytes = 10_000_000, 1 << 30
	armFaults(t, 1, 0)
	var got [][]byte
	var err error
	bytes, served := 0, 0
	for len(got) < maxCalls && bytes < maxBytes {
		var b []byte
		if b, err = c.alloc(); err != nil {
			break
		}
		fillEnds(b, len(got))
		got = append(got, b)
		bytes += len(b)
	}
	served = len(got)
	failure := err
	if err == nil {
		t.Fatalf("%s never ran out of memory in %d calls (%d bytes) with every mapping refused", c.name, len(got), bytes)
	}
	if !errors.Is(err, ErrOutOfMemory) || !strings.HasPrefix(err.Error(), "offheap: ") || !strings.Contains(err.Error(), c.op) {
		t.Fatalf("%s failed with %q: want an error wrapping ErrOutOfMemory that names %s", c.name, err, c.op)
	}
	// It keeps failing, and failing changes nothing.
	for i := 0; i < 10; i++ {
		if b, err := c.alloc(); err == nil {
			got = append(got, b) // a buffer freed by the janitor meanwhile
			fillEnds(b, len(got)-1)
		}
	}
	for i, b := range got {
		if err := checkEnds(b, i); err != nil {
			t.Fatalf("%s: buffer %d of %d corrupted after running out of memory: %v", c.name, i, len(got), err)
		}
	}
	bindings.FailOS(0, 0)
	b, err := c.alloc()
	if err != nil {
		t.Fatalf("%s after the memory came back: %v", c.name, err)
	}
	got = append(got, b)
	if c.free != nil {
		for _, b := range got {
			c.free(b)
		}
	}
	t.Logf("%s: %d calls served from caches and free memory, then: %v", c.name, served, failure)
}

// fillEnds and checkEnds mark the first and last 64 bytes of a buffer (the
// whole buffer would commit gigabytes before the caches run dry).
func fillEnds(b []byte, i int) {
	seed := uint64(i)*0x9E3779B97F4A7C15 | 1
	n := min(64, len(b)/2)
	fillPat(b[:n], seed, false)
	fillPat(b[len(b)-n:], ^seed, false)
}

func checkEnds(b []byte, i int) error {
	seed := uint64(i)*0x9E3779B97F4A7C15 | 1
	n := min(64, len(b)/2)
	if j := checkPat(b[:n], seed, false, 0, 0); j >= 0 {
		return errors.New("head overwritten")
	}
	if j := checkPat(b[len(b)-n:], ^seed, false, 0, 0); j >= 0 {
		return errors.New("tail overwritten")
	}
	return nil
}

// TestOutOfMemoryConstructors: constructors under a refusing OS either work
// (they need no new mapping) or fail with ErrOutOfMemory; those that worked
// serve allocations once memory is back.
func TestOutOfMemoryConstructors(t *testing.T) {
	armFaults(t, 1, 0)
	var closers []interface{ Close() error }
	s, err := NewSlab(SlabConfig{SlabSize: 128 << 10})
	expectOOMOrNil(t, "NewSlab", err)
	p, err := NewPool(100, PoolConfig{})
	expectOOMOrNil(t, "NewPool", err)
	bp, err := NewPool(100, PoolConfig{MaxObjects: 10})
	expectOOMOrNil(t, "NewPool", err)
	a, err := NewArena(0)
	expectOOMOrNil(t, "NewArena", err)
	var buf *BufferPool
	expectOOMOrNil(t, "NewBufferPool", tryAlloc(func() { buf = NewBufferPool(1000) }))
	bindings.FailOS(0, 0)
	if s != nil {
		s.DecRef(s.Alloc(100))
		closers = append(closers, s)
	}
	if p != nil {
		p.Put(p.Get())
		closers = append(closers, p)
	}
	if bp != nil {
		bp.Put(bp.Get())
		closers = append(closers, bp)
	}
	if a != nil {
		a.Alloc(100)
		closers = append(closers, a)
	}
	if buf != nil {
		buf.Put(buf.Get())
		closers = append(closers, buf)
	}
	for _, c := range closers {
		if err := c.Close(); err != nil {
			t.Errorf("Close of %T: %v", c, err)
		}
	}
}

func expectOOMOrNil(t *testing.T, op string, err error) {
	t.Helper()
	if err != nil && (!errors.Is(err, ErrOutOfMemory) || !strings.Contains(err.Error(), op)) {
		t.Fatalf("%s under a refusing OS: %v, want nil or an error wrapping ErrOutOfMemory naming %s", op, err, op)
	}
}

// runModelUnderFaults drives the model-checked worker of fuzz_test.go for n
// operations with fault injection armed all along (every-th mapping refused,
// or all past budget bytes); then finish checks the statistics and leak lists
// against the model, releases everything and checks again.
func runModelUnderFaults(t *testing.T, every, budget uint64, n int, seed uint64) {
	saved := saveKnobs()
	defer saved.restore()
	fx, err := newFixture()
	if err != nil {
		t.Fatal(err)
	}
	w, err := newWorker(fx, newRandSource(seed), 0, true, false)
	if err != nil {
		t.Fatal(err)
	}
	armFaults(t, every, budget)
	w.pinnedFaults = true
	for i := 0; i < n && w.err == nil; i++ {
		w.step()
	}
	w.pinnedFaults = false
	w.faultOps = 1
	if err := w.finish(); err != nil {
		t.Fatal(err)
	}
	if w.ooms == 0 {
		t.Fatalf("FailOS(%d, %d): no allocation failed in %d operations", every, budget, n)
	}
	if err := fx.close(); err != nil {
		t.Fatal(err)
	}
	t.Logf("FailOS(%d, %d): %d operations, %d allocations refused with ErrOutOfMemory, %d misuses caught, %d checks",
		every, budget, w.ops, w.ooms, w.misuses, w.checks)
}

func TestOutOfMemoryEveryKthMapping(t *testing.T) {
	for _, k := range []uint64{1, 2, 3, 7} {
		runModelUnderFaults(t, k, 0, 6000, k)
	}
}

func TestOutOfMemoryByteBudget(t *testing.T) {
	for i, budget := range []uint64{1, 2 << 20, 16 << 20} {
		runModelUnderFaults(t, 0, budget, 6000, uint64(100+i))
	}
}

// TestOutOfMemoryConcurrent: goroutines reach a byte budget together; every
// failure is ErrOutOfMemory, nothing handed out is corrupted, and the
// statistics come back to where they were once everything is freed.
func TestOutOfMemoryConcurrent(t *testing.T) {
	s, err := NewSlab(SlabConfig{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	before := defaultHeap.stats("test").InUseBytes
	Scavenge()
	armFaults(t, 0, 24<<20)
	const workers = 4
	type result struct {
		bufs     [][]byte
		slab     []bool
		failures int
		err      error
	}
	res := make([]result, workers)
	done := make(chan int)
	for g := 0; g < workers; g++ {
		go func(g int) {
			defer func() { done <- g }()
			r := &res[g]
			src := newRandSource(uint64(g) + 1)
			for i := 0; i < 3000; i++ {
				n := 16 + u24(src)%(64<<10)
				if src.next()%16 == 0 {
					n = 1<<20 + u24(src)
				}
				var b []byte
				var err error
				fromSlab := src.next()%2 == 0
				if fromSlab {
					b, err = s.TryAlloc(n)
				} else {
					b, err = TryAlloc(n)
				}
				if err != nil {
					if !errors.Is(err, ErrOutOfMemory) {
						r.err = err
						return
					}
					r.failures++
					continue
				}
				fillEnds(b, g<<20|len(r.bufs))
				r.bufs = append(r.bufs, b)
				r.slab = append(r.slab, fromSlab)
			}
		}(g)
	}
	for range workers {
		<-done
	}
	bindings.FailOS(0, 0)
	failures, total := 0, 0
	for g := range res {
		r := &res[g]
		if r.err != nil {
			t.Fatalf("goroutine %d: %v", g, r.err)
		}
		failures += r.failures
		for i, b := range r.bufs {
			if err := checkEnds(b, g<<20|i); err != nil {
				t.Fatalf("goroutine %d, buffer %d: %v", g, i, err)
			}
			if r.slab[i] {
				s.DecRef(b)
			} else {
				Free(b)
			}
			total++
		}
	}
	if failures == 0 {
		t.Fatalf("the 24 MiB budget was never reached (%d allocations)", total)
	}
	if st := s.Stats(); st.InUseBytes != 0 || st.LargeInUse != 0 {
		t.Errorf("Slab in use after freeing everything: %d bytes, %d large", st.InUseBytes, st.LargeInUse)
	}
	if after := defaultHeap.stats("test").InUseBytes; after != before {
		t.Errorf("process-wide allocator in use: %d bytes before, %d after", before, after)
	}
	t.Logf("%d allocations, %d refused", total, failures)
}

func unsafeBytes(s []int64) []byte {
	return unsafe.Slice((*byte)(unsafe.Pointer(unsafe.SliceData(s))), len(s)*8)
}

func unsafeInt64s(b []byte) []int64 {
	return unsafe.Slice((*int64)(unsafe.Pointer(unsafe.SliceData(b))), len(b)/8)
}
