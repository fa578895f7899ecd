package offheap

// stats_test.go - the figures (stats.go, cache_stats.go), the options,
// Scavenge and idle decommit measured in RSS, cleanup of unreachable
// instances, the leak report and the debug level's range.

import (
	"os"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"
	"unsafe"

	"github.com/offheap/offheap/bindings"
)

func TestReadStats(t *testing.T) {
	before := ReadStats()
	if len(before.Classes) == 0 {
		t.Fatal("no size classes reported for the process-wide allocator")
	}
	for i := 1; i < len(before.Classes); i++ {
		if before.Classes[i].ChunkSize <= before.Classes[i-1].ChunkSize {
			t.Fatalf("class sizes not increasing: %d then %d", before.Classes[i-1].ChunkSize, before.Classes[i].ChunkSize)
		}
	}
	const n = 8 << 20 // larger than a slab: whole pages, exact accounting
	b := Alloc(n)
	mid := ReadStats()
	if mid.InUseBytes < before.InUseBytes+n {
		t.Fatalf("InUseBytes %d -> %d after Alloc(%d)", before.InUseBytes, mid.InUseBytes, n)
	}
	if mid.MappedBytes < before.MappedBytes+n || mid.CommittedBytes < n {
		t.Fatalf("MappedBytes %d -> %d, CommittedBytes %d after Alloc(%d)", before.MappedBytes, mid.MappedBytes, mid.CommittedBytes, n)
	}
	// (Allocs and Frees are totals over the live instances: a cleanup that
	// destroys an unreachable Slab meanwhile takes its counts away, so they
	// are checked per class in TestStatsCountCachedOperations instead.)
	if mid.LargeInUse != before.LargeInUse+1 {
		t.Fatalf("LargeInUse %d -> %d after a large Alloc", before.LargeInUse, mid.LargeInUse)
	}
	Free(b)
	after := ReadStats()
	if after.LargeInUse != before.LargeInUse || after.InUseBytes > mid.InUseBytes-n {
		t.Fatalf("LargeInUse %d, InUseBytes %d -> %d after Free", after.LargeInUse, mid.InUseBytes, after.InUseBytes)
	}
}

func TestSlabStats(t *testing.T) {
	s, err := NewSlab(SlabConfig{MinChunk: 64, SlabSize: 64 << 10, Growth: 2})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	st := s.Stats()
	var sizes []uint64
	for _, c := range st.Classes {
		sizes = append(sizes, c.ChunkSize)
	}
	// Powers of two (growth 2), plus the page multiples below 8 pages, which
	// keep page-multiple requests page aligned.
	want := []uint64{64, 128, 256, 512, 1024, 2048, 4096, 8192, 12288, 16384, 20480, 24576, 28672, 32768, 65536}
	if len(sizes) != len(want) {
		t.Fatalf("class sizes %v, want %v", sizes, want)
	}
	for i := range want {
		if sizes[i] != want[i] {
			t.Fatalf("class sizes %v, want %v", sizes, want)
		}
	}
	// One P and one thread: the ten chunks come from the P's owner or (-asan,
	// a shared library) from the thread's cache; a goroutine moved between
	// threads or Ps meanwhile would make two owners adopt a slab each (seen
	// under -asan). Even so an allocation may make a slab of its own: while
	// the purger holds the cache for a moment (a steal), allocations go to
	// the central lists (seen once with a shared library). So the figures
	// must agree with each other, whatever the number of slabs.
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(1))
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	var bs [][]byte
	for i := 0; i < 10; i++ {
		bs = append(bs, s.Alloc(100)) // class 128
	}
	st = s.Stats()
	if slabs := st.Classes[1].Slabs; st.InUseBytes != 10*128 || st.Classes[1].ChunksInUse != 10 || slabs < 1 || slabs > 2 ||
		st.SlabBytes != slabs*64<<10 {
		t.Fatalf("after 10 x Alloc(100): %+v", st)
	}
	if st.Allocs != 10 {
		t.Fatalf("Allocs = %d, want 10", st.Allocs)
	}
	for _, b := range bs {
		s.DecRef(b)
	}
	st = s.Stats()
	if st.InUseBytes != 0 || st.Frees != 10 {
		t.Fatalf("after freeing: InUseBytes %d Frees %d", st.InUseBytes, st.Frees)
	}
}

func TestPoolStats(t *testing.T) {
	p, err := NewPool(1000, PoolConfig{})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	b := p.Get()
	st := p.Stats()
	if len(st.Classes) != 1 || st.Classes[0].ChunkSize != 1008 || st.InUseBytes != 1008 {
		t.Fatalf("pool stats %+v", st)
	}
	p.Put(b)
}

func TestOptions(t *testing.T) {
	old := PurgeDelay()
	defer SetPurgeDelay(old)
	if err := SetPurgeDelay(250 * time.Millisecond); err != nil {
		t.Fatal(err)
	}
	if d := PurgeDelay(); d != 250*time.Millisecond {
		t.Fatalf("PurgeDelay() = %v", d)
	}
	if err := SetPurgeDelay(-time.Second); err != nil || PurgeDelay() >= 0 {
		t.Fatalf("SetPurgeDelay(-1s) = %v, PurgeDelay %v", err, PurgeDelay())
	}
	if err := SetPurgeDelay(48 * time.Hour); err == nil {
		t.Fatal("SetPurgeDelay(48h) accepted")
	}
	SetDebug(true)
	if !Debug() {
		t.Fatal("Debug() false after SetDebug(true)")
	}
	// Debug mode poisons freed memory. (Under -asan the read itself is
	// reported as a use after poison, which TestUseAfterFreeOfASmallChunkIsVisible
	// checks; here the bytes are read only in normal builds.)
	b := Alloc(64)
	fill(b, 1)
	Free(b)
	if !asanBuild() && (b[0] != 0xdf || b[63] != 0xdf) {
		t.Fatalf("freed memory not poisoned in debug mode: %#x %#x", b[0], b[63])
	}
	SetDebug(false)
	if Debug() {
		t.Fatal("Debug() true after SetDebug(false)")
	}
}

// rss returns the resident set size in bytes (Linux).
func rss(t *testing.T) int {
	t.Helper()
	data, err := os.ReadFile("/proc/self/statm")
	if err != nil {
		t.Fatal(err)
	}
	f := strings.Fields(string(data))
	pages, err := strconv.Atoi(f[1])
	if err != nil {
		t.Fatal(err)
	}
	return pages * os.Getpagesize()
}

func touchAll(b []byte) {
	for i := 0; i < len(b); i += 1024 {
		b[i] = 1
	}
}

// waitFor polls cond until it holds or a generous deadline passes; the test
// asserts that something happens, not how fast.
func waitFor(cond func() bool) bool {
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(10 * time.Millisecond)
	}
	return true
}

func TestScavengeReturnsMemory(t *testing.T) {
	old := PurgeDelay()
	defer SetPurgeDelay(old)
	SetPurgeDelay(-1) // only Scavenge may decommit
	var bs [][]byte
	for i := 0; i < 256; i++ { // 16 MiB of 64 KiB chunks
		b := Alloc(64 << 10)
		touchAll(b)
		bs = append(bs, b)
	}
	before := rss(t)
	for _, b := range bs {
		Free(b)
	}
	released := Scavenge()
	after := rss(t)
	if released < 8<<20 || before-after < 8<<20 {
		t.Fatalf("Scavenge released %d bytes; RSS %d -> %d, want a drop of at least 8 MiB", released, before, after)
	}
}

// TestBufferPoolIdleDecommit checks requirement 5: buffers put back and left
// idle are decommitted after the purge delay, without any further call - also
// when they are fewer than the core's retained margin of empty slabs
// (OFFHEAP_RETAIN_BYTES, 4 MiB per heap by default).
func TestBufferPoolIdleDecommit(t *testing.T) {
	old := PurgeDelay()
	defer SetPurgeDelay(old)
	SetPurgeDelay(20 * time.Millisecond)
	for _, c := range []struct{ size, count, drop int }{
		{256 << 10, 96, 16 << 20}, // 24 MiB: mostly back in the core
		{64 << 10, 48, 2 << 20},   // 3 MiB: under the retained margin
	} {
		p := NewBufferPool(c.size)
		var bs [][]byte
		for i := 0; i < c.count; i++ {
			b := p.Get()
			touchAll(b)
			bs = append(bs, b)
		}
		before := rss(t)
		for _, b := range bs {
			p.Put(b)
		}
		bs = nil
		if !waitFor(func() bool { return before-rss(t) >= c.drop }) {
			t.Fatalf("%d x %d bytes: RSS %d -> %d: idle buffers were not decommitted", c.count, c.size, before, rss(t))
		}
		// The pool still works after its buffers were decommitted.
		b := p.Get()
		fill(b, 9)
		if err := checkFill(b, 9); err != nil {
			t.Fatal(err)
		}
		p.Put(b)
		p.Close()
	}
}

// A BufferPool in use keeps its cached buffers resident: the janitor gives
// the ones at the bottom of a magazine (unused since its last visit, because
// a magazine is a stack) back to the core, where the purge delay applies to
// them with the pool's other free chunks, instead of decommitting them in
// place - they faulted back in whenever the pool's level dipped (steady
// churn: 0.7-2.3 MiB decommitted per run, bench/RESULTS.md, session 16).
// Once the pool sees no operation between two visits, its cached buffers are
// decommitted in place and its empty slabs purged. The janitor's visits are
// made by hand here (the heap is taken off its list meanwhile). With an
// installed library there are no per-P caches: the visits' idle purge is
// checked alone.
func TestBufferPoolInUseDecommitsNothingInPlace(t *testing.T) {
	p := NewBufferPool(64 << 10)
	defer p.Close()
	h := p.h
	unregisterHeap(h)
	defer registerHeap(h) // for Close's unregistering
	var bs [][]byte
	for range 8 {
		b := p.Get()
		touchAll(b)
		bs = append(bs, b)
	}
	for _, b := range bs {
		p.Put(b)
	}
	cached := func() (n, ndec int) {
		for i := range h.shards {
			for cls := range h.shards[i].mags {
				m := &h.shards[i].mags[cls]
				n, ndec = n+m.n, ndec+m.ndec
			}
		}
		return n, ndec
	}
	if n, _ := cached(); bindings.FastPath && n < 4 {
		t.Fatalf("%d of 8 buffers put back are cached: the test needs a magazine's worth", n)
	}
	h.trim(true) // the visit after the Puts: marks the magazines
	p.Put(p.Get())
	h.trim(true) // the pool was in use: the unused buffers go back to the core
	if h.idlePurged {
		t.Fatal("a visit to a pool in use purged its empty slabs")
	}
	if n, ndec := cached(); ndec != 0 || (bindings.FastPath && n > 2) {
		t.Fatalf("after a visit to a pool in use, %d buffers are cached and %d of them decommitted in place; want at most 2, none decommitted", n, ndec)
	}
	h.trim(true) // no operation since: idle
	if !h.idlePurged {
		t.Fatal("a visit to an idle pool did not purge its empty slabs")
	}
	if n, ndec := cached(); ndec != n || (bindings.FastPath && n == 0) {
		t.Fatalf("after a visit to an idle pool, %d of its %d cached buffers are decommitted in place, want all (and at least one)", ndec, n)
	}
	b := p.Get() // a decommitted buffer serves again
	fill(b, 5)
	if err := checkFill(b, 5); err != nil {
		t.Fatal(err)
	}
	p.Put(b)
}

// TestCleanupOfUnreachableInstances checks that a Slab, Pool or BufferPool
// dropped without Close gives its memory back - and that one dropped with a
// live allocation leaves that allocation valid.
func TestCleanupOfUnreachableInstances(t *testing.T) {
	before := cleanedUp.Load()
	var live []byte
	func() {
		bp := NewBufferPool(4096)
		var bs [][]byte
		for i := 0; i < 100; i++ {
			bs = append(bs, bp.Get())
		}
		for _, b := range bs {
			bp.Put(b)
		}
		s, _ := NewSlab(SlabConfig{})
		s.DecRef(s.Alloc(100))
		p, _ := NewPool(64, PoolConfig{})
		p.Put(p.Get())
		q, _ := NewPool(64, PoolConfig{MaxObjects: 10})
		q.Put(q.Get())
		kept, _ := NewSlab(SlabConfig{})
		live = kept.Alloc(5000)
		fill(live, 77)
	}()
	if !waitFor(func() bool { runtime.GC(); return cleanedUp.Load() >= before+5 }) {
		t.Fatalf("cleanups closed %d instances, want 5", cleanedUp.Load()-before)
	}
	// The Slab with a live allocation was not destroyed: its memory is intact
	// (a destroyed Slab's memory is unmapped, and reading it would fault).
	if err := checkFill(live, 77); err != nil {
		t.Fatal(err)
	}
}

func TestCloseWhileIdle(t *testing.T) {
	s, _ := NewSlab(SlabConfig{})
	s.DecRef(s.Alloc(10))
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	p, _ := NewPool(64, PoolConfig{})
	p.Put(p.Get())
	if err := p.Close(); err != nil {
		t.Fatal(err)
	}
	a, _ := NewArena(0)
	a.Alloc(10)
	a.Reset()
	if err := a.Close(); err != nil {
		t.Fatal(err)
	}
	bp := NewBufferPool(100)
	bp.Put(bp.Get())
	if err := bp.Close(); err != nil {
		t.Fatal(err)
	}
	// Never used at all.
	s, _ = NewSlab(SlabConfig{})
	p, _ = NewPool(64, PoolConfig{})
	a, _ = NewArena(0)
	bp = NewBufferPool(100)
	for _, err := range []error{s.Close(), p.Close(), a.Close(), bp.Close()} {
		if err != nil {
			t.Fatal(err)
		}
	}
}

func TestZeroGoAllocations(t *testing.T) {
	p := NewBufferPool(4096)
	defer p.Close()
	if n := testing.AllocsPerRun(1000, func() { p.Put(p.Get()) }); n != 0 {
		t.Fatalf("BufferPool Get+Put: %v Go allocations per call, want 0", n)
	}
	if n := testing.AllocsPerRun(1000, func() { Free(Alloc(100)) }); n != 0 {
		t.Fatalf("Alloc+Free: %v Go allocations per call, want 0", n)
	}
	// Under -asan the instrumented sync.Map.Load (the element-type check's
	// cache, keyed by reflect.Type) allocates; the count is only meaningful
	// in normal builds.
	if n := testing.AllocsPerRun(1000, func() { FreeSlice(MakeSlice[int32](10)) }); n != 0 && !asanBuild() {
		t.Fatalf("MakeSlice+FreeSlice: %v Go allocations per call, want 0", n)
	}
	s, _ := NewSlab(SlabConfig{})
	defer s.Close()
	if n := testing.AllocsPerRun(1000, func() { s.DecRef(s.Alloc(100)) }); n != 0 {
		t.Fatalf("Slab Alloc+DecRef: %v Go allocations per call, want 0", n)
	}
}

// TestStatsCountCachedOperations checks that operations served by the Go-side
// caches are counted, and that chunks waiting in a cache are not reported as
// in use.
func TestStatsCountCachedOperations(t *testing.T) {
	old := PurgeDelay()
	defer SetPurgeDelay(old)
	SetPurgeDelay(-1) // keep the janitor from moving counts mid-reading
	before := ReadStats()
	var bs [][]byte
	for i := 0; i < 1000; i++ {
		bs = append(bs, Alloc(200))
	}
	mid := ReadStats()
	for _, b := range bs {
		Free(b)
	}
	after := ReadStats()
	// Per-class figures belong to the process-wide heap alone (totals also
	// lose the counts of instances that cleanups destroy meanwhile).
	sum := func(st Stats) (allocs, frees uint64) {
		for _, c := range st.Classes {
			allocs += c.Allocs
			frees += c.Frees
		}
		return
	}
	a0, _ := sum(before)
	a1, f1 := sum(mid)
	_, f2 := sum(after)
	if a1-a0 != 1000 {
		t.Errorf("class Allocs grew by %d over 1000 Allocs", a1-a0)
	}
	if f2-f1 != 1000 {
		t.Errorf("class Frees grew by %d over 1000 Frees", f2-f1)
	}
	if mid.InUseBytes < before.InUseBytes+1000*200 {
		t.Errorf("InUseBytes %d -> %d over 1000 Alloc(200)", before.InUseBytes, mid.InUseBytes)
	}
	if after.InUseBytes != before.InUseBytes {
		t.Errorf("InUseBytes %d before, %d after freeing everything", before.InUseBytes, after.InUseBytes)
	}
	var cls *ClassStats
	for i := range after.Classes {
		if after.Classes[i].ChunkSize >= 200 {
			cls = &after.Classes[i]
			break
		}
	}
	if cls == nil || cls.ChunksCached == 0 {
		t.Errorf("the 200-byte class reports no cached chunks: %+v", cls)
	}
}

func TestLeaksListLiveAllocationsOnly(t *testing.T) {
	s, err := NewSlab(SlabConfig{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	a := s.Alloc(100)
	b := s.Alloc(3 << 20) // whole pages
	c := s.Alloc(5000)
	s.AddRef(c)
	s.DecRef(a) // freed: must not be listed
	got := map[uintptr]Allocation{}
	for _, l := range s.Leaks() {
		got[l.Addr] = l
	}
	if len(got) != 2 {
		t.Fatalf("Leaks() = %v, want the 3 MiB and the 5000-byte allocations", got)
	}
	lb, ok := got[uintptr(unsafe.Pointer(&b[0]))]
	if !ok || lb.Size < 3<<20 || lb.RefCount != 1 || lb.Class != -1 {
		t.Errorf("large allocation reported as %+v (present %v)", lb, ok)
	}
	lc, ok := got[uintptr(unsafe.Pointer(&c[0]))]
	if !ok || lc.Size < 5000 || lc.RefCount != 2 || lc.Class < 0 {
		t.Errorf("5000-byte allocation reported as %+v (present %v)", lc, ok)
	}
	s.DecRef(b)
	s.DecRef(c)
	s.DecRef(c)
	if l := s.Leaks(); len(l) != 0 {
		t.Errorf("after freeing everything Leaks() = %v", l)
	}
}

func TestSetDebugLevelRange(t *testing.T) {
	defer SetDebugLevel(CurrentDebugLevel())
	for _, l := range []DebugLevel{DebugOff, DebugPoison, DebugGuard} {
		if err := SetDebugLevel(l); err != nil || CurrentDebugLevel() != l {
			t.Errorf("SetDebugLevel(%d) = %v, level now %d", l, err, CurrentDebugLevel())
		}
	}
	if err := SetDebugLevel(3); err == nil {
		t.Error("SetDebugLevel(3) succeeded")
	}
	if err := SetDebugLevel(-1); err == nil {
		t.Error("SetDebugLevel(-1) succeeded")
	}
}
