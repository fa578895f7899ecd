package offheap

// names_test.go - named allocator instances read back from every output
// (Leaks, Stats, ReadStats/expvar, the heap profile's labels), Helper in
// call sites, the profiler's samples of Slab, Pool and BufferPool, and the
// ordering of a release and its sample's removal (a refused release keeps a
// live allocation's sample).

import (
	"bytes"
	"encoding/json"
	"expvar"
	"strings"
	"testing"

	"github.com/google/pprof/profile"
)

// labelBytes returns the inuse_space of the samples whose "allocator" label
// is name, and their "kind" labels.
func labelBytes(t *testing.T, name string) (inuse int64, kinds map[string]bool) {
	t.Helper()
	var buf bytes.Buffer
	if err := WriteHeapProfile(&buf); err != nil {
		t.Fatal(err)
	}
	p, err := profile.Parse(&buf)
	if err != nil {
		t.Fatalf("pprof cannot parse the profile: %v", err)
	}
	idx := -1
	for i, st := range p.SampleType {
		if st.Type == "inuse_space" {
			idx = i
		}
	}
	kinds = map[string]bool{}
	for _, s := range p.Sample {
		if len(s.Label["allocator"]) == 1 && s.Label["allocator"][0] == name {
			inuse += s.Value[idx]
			for _, k := range s.Label["kind"] {
				kinds[k] = true
			}
		}
	}
	return inuse, kinds
}

//go:noinline
func namedAllocs(s *Slab, p, bounded *Pool, bp *BufferPool, a *Arena) [][]byte {
	return [][]byte{s.Alloc(1000), p.Get(), bounded.Get(), bp.Get(), a.Alloc(700)}
}

func TestNamesInLeaksStatsExpvarAndProfile(t *testing.T) {
	withProfileRate(t, 1)
	s, err := NewSlab(SlabConfig{Name: "test-sessions"})
	if err != nil {
		t.Fatal(err)
	}
	p, err := NewPool(300, PoolConfig{Name: "test-objects"})
	if err != nil {
		t.Fatal(err)
	}
	bounded, err := NewPool(200, PoolConfig{MaxObjects: 4, Name: "test-bounded"})
	if err != nil {
		t.Fatal(err)
	}
	bp := NewBufferPoolNamed(4096, "test-buffers")
	a, err := NewArenaNamed(0, "test-requests")
	if err != nil {
		t.Fatal(err)
	}
	unnamed, err := NewSlab(SlabConfig{})
	if err != nil {
		t.Fatal(err)
	}
	defer unnamed.Close()
	if s.Name() != "test-sessions" || p.Name() != "test-objects" || bounded.Name() != "test-bounded" ||
		bp.Name() != "test-buffers" || a.Name() != "test-requests" || unnamed.Name() != "" {
		t.Fatalf("Name(): %q %q %q %q %q %q", s.Name(), p.Name(), bounded.Name(), bp.Name(), a.Name(), unnamed.Name())
	}
	bufs := namedAllocs(s, p, bounded, bp, a)
	ub := unnamed.Alloc(10)

	// Leaks: every entry carries its instance's name and a call site.
	for name, ls := range map[string][]Allocation{
		"test-sessions": s.Leaks(), "test-objects": p.Leaks(), "test-bounded": bounded.Leaks(),
		"test-buffers": bp.Leaks(), "test-requests": a.Leaks(),
	} {
		if len(ls) != 1 || ls[0].Name != name || !strings.Contains(ls[0].CallSite(), "namedAllocs") {
			t.Errorf("%s: Leaks = %+v, want one allocation named %q made in namedAllocs", name, ls, name)
		}
	}
	if ls := unnamed.Leaks(); len(ls) != 1 || ls[0].Name != "" {
		t.Errorf("unnamed Slab: Leaks = %+v, want one allocation without a name", ls)
	}
	// Stats.
	if st := s.Stats(); st.Name != "test-sessions" {
		t.Errorf("Slab.Stats().Name = %q", st.Name)
	}
	if st := p.Stats(); st.Name != "test-objects" {
		t.Errorf("Pool.Stats().Name = %q", st.Name)
	}
	if st := bounded.Stats(); st.Name != "test-bounded" {
		t.Errorf("bounded Pool.Stats().Name = %q", st.Name)
	}
	if st := bp.Stats(); st.Name != "test-buffers" {
		t.Errorf("BufferPool.Stats().Name = %q", st.Name)
	}
	if st := a.Stats(); st.Name != "test-requests" || st.InUseBytes != 700 {
		t.Errorf("Arena.Stats() = %+v", st)
	}
	want := map[string]string{"test-sessions": "Slab", "test-objects": "Pool", "test-bounded": "Pool",
		"test-buffers": "BufferPool", "test-requests": "Arena"}
	instances := func(st Stats) map[string]InstanceStats {
		m := map[string]InstanceStats{}
		for _, in := range st.Instances {
			if strings.HasPrefix(in.Name, "test-") {
				m[in.Name] = in
			}
		}
		return m
	}
	got := instances(ReadStats())
	for name, kind := range want {
		if in, ok := got[name]; !ok || in.Kind != kind || in.InUseBytes == 0 || in.Allocs == 0 {
			t.Errorf("ReadStats().Instances[%s] = %+v (present %v), want kind %s with bytes in use", name, in, ok, kind)
		}
	}
	// expvar: the same list, as JSON.
	if expvar.Get("offheap_names_test") == nil {
		PublishExpvar("offheap_names_test")
	}
	var pub Stats
	if err := json.Unmarshal([]byte(expvar.Get("offheap_names_test").String()), &pub); err != nil {
		t.Fatal(err)
	}
	if m := instances(pub); len(m) != len(want) {
		t.Errorf("expvar shows instances %+v, want the %d named ones", pub.Instances, len(want))
	}
	if !strings.Contains(expvar.Get("offheap_names_test").String(), `"Name":"test-buffers"`) {
		t.Errorf("expvar output does not name test-buffers: %s", expvar.Get("offheap_names_test").String())
	}
	// The heap profile's labels.
	for name, kind := range want {
		inuse, kinds := labelBytes(t, name)
		if inuse <= 0 || !kinds[kind] || len(kinds) != 1 {
			t.Errorf("profile: allocator=%s has inuse_space %d and kinds %v, want > 0 and %s", name, inuse, kinds, kind)
		}
	}

	// Releases take the samples out; Close drops the names.
	s.DecRef(bufs[0])
	p.Put(bufs[1])
	bounded.Put(bufs[2])
	bp.Put(bufs[3])
	a.Reset()
	for name := range want {
		if inuse, _ := labelBytes(t, name); inuse != 0 {
			t.Errorf("profile: allocator=%s still has inuse_space %d after the release", name, inuse)
		}
	}
	unnamed.DecRef(ub)
	for _, c := range []interface{ Close() error }{s, p, bounded, bp, a} {
		if err := c.Close(); err != nil {
			t.Fatal(err)
		}
	}
	if got := instances(ReadStats()); len(got) != 0 {
		t.Errorf("closed instances still listed: %+v", got)
	}
}

// A Slab's Close frees its live allocations: their samples go too.
func TestSlabCloseDropsItsSamples(t *testing.T) {
	withProfileRate(t, 1)
	s, err := NewSlab(SlabConfig{Name: "test-closed"})
	if err != nil {
		t.Fatal(err)
	}
	for range 5 {
		s.Alloc(5000)
	}
	if inuse, _ := labelBytes(t, "test-closed"); inuse != 5*5000 {
		t.Fatalf("inuse_space %d, want %d", inuse, 5*5000)
	}
	s.Close()
	if inuse, _ := labelBytes(t, "test-closed"); inuse != 0 {
		t.Fatalf("inuse_space %d after Close, want 0", inuse)
	}
}

//go:noinline
func profiledPools(s *Slab, p *Pool, bounded *Pool, bp *BufferPool) [][]byte {
	return [][]byte{s.Alloc(3000), s.Calloc(1 << 21), p.Get(), bounded.Get(), bp.Get()}
}

// Slab, Pool and BufferPool allocations are sampled like Alloc's, and a
// release that does not free (DecRef of a shared allocation) keeps the sample.
func TestHeapProfileSamplesSlabPoolAndBufferPool(t *testing.T) {
	withProfileRate(t, 1)
	s, _ := NewSlab(SlabConfig{})
	defer s.Close()
	p, _ := NewPool(512, PoolConfig{})
	defer p.Close()
	bounded, _ := NewPool(256, PoolConfig{MaxObjects: 2})
	defer bounded.Close()
	bp := NewBufferPool(8192)
	defer bp.Close()
	_, inuse0 := profileBytes(t, "offheap.profiledPools")
	bufs := profiledPools(s, p, bounded, bp)
	total := int64(3000 + 1<<21 + 512 + 256 + 8192)
	if _, inuse := profileBytes(t, "offheap.profiledPools"); inuse-inuse0 != total {
		t.Fatalf("inuse_space +%d, want %d", inuse-inuse0, total)
	}
	s.AddRef(bufs[0])
	if s.DecRef(bufs[0]) {
		t.Fatal("DecRef of a slice with two references freed it")
	}
	if _, inuse := profileBytes(t, "offheap.profiledPools"); inuse-inuse0 != total {
		t.Fatalf("after a DecRef that did not free: inuse_space +%d, want %d", inuse-inuse0, total)
	}
	s.DecRef(bufs[0])
	s.DecRef(bufs[1])
	p.Put(bufs[2])
	bounded.Put(bufs[3])
	bp.Put(bufs[4])
	if _, inuse := profileBytes(t, "offheap.profiledPools"); inuse != inuse0 {
		t.Fatalf("inuse_space %d after every release, want %d", inuse, inuse0)
	}
}

//go:noinline
func arenaAllocs(a *Arena) ([]byte, []uint64, *[64]byte) {
	return a.Alloc(100), MakeSliceIn[uint64](a, 10, 10), NewIn[[64]byte](a)
}

// A Free, FreeSlice or Delete of Arena memory is refused: the arena's live
// allocations keep their samples (Arena.Leaks and pprof's in-use space).
func TestRefusedFreeKeepsTheSample(t *testing.T) {
	withProfileRate(t, 1)
	a, err := NewArena(0)
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	b, u, v := arenaAllocs(a)
	_, inuse0 := profileBytes(t, "offheap.arenaAllocs")
	if inuse0 != 100+80+64 || len(a.Leaks()) != 3 {
		t.Fatalf("before: inuse_space %d, Leaks %d; want %d and 3", inuse0, len(a.Leaks()), 100+80+64)
	}
	mustPanic(t, func() { Free(b) }, "Free")
	mustPanic(t, func() { FreeSlice(u) }, "FreeSlice")
	mustPanic(t, func() { Delete(v) }, "Delete")
	if _, inuse := profileBytes(t, "offheap.arenaAllocs"); inuse != inuse0 {
		t.Fatalf("refused frees changed inuse_space: %d -> %d", inuse0, inuse)
	}
	if n := len(a.Leaks()); n != 3 {
		t.Fatalf("refused frees dropped Arena.Leaks entries: %d left of 3", n)
	}
	// A refused Slab.DecRef (a slice of another Slab) keeps the sample too.
	s1, _ := NewSlab(SlabConfig{})
	defer s1.Close()
	s2, _ := NewSlab(SlabConfig{})
	defer s2.Close()
	x := profiledAllocatorSlab(s1)
	_, before := profileBytes(t, "offheap.profiledAllocatorSlab")
	mustPanic(t, func() { s2.DecRef(x) }, "Slab.DecRef")
	if _, after := profileBytes(t, "offheap.profiledAllocatorSlab"); after != before || before < 777 {
		t.Fatalf("a refused DecRef changed inuse_space: %d -> %d", before, after)
	}
	s1.DecRef(x)
}

//go:noinline
func profiledAllocatorSlab(s *Slab) []byte { return s.Alloc(777) }

// A release reads its sample's generation before the memory goes back, and
// forgets the sample only if it is still that one: memory handed out (and
// sampled) again in between keeps the new owner's sample.
func TestForgetSampleIfKeepsANewerSample(t *testing.T) {
	withProfileRate(t, 1)
	b := Alloc(64)
	defer Free(b)
	p := sliceAddr(b)
	old := sampleGen(slicePtr(b))
	if old == 0 {
		t.Fatal("a sampled allocation has no generation")
	}
	sampleAlloc(p, 64, 1, defaultHeap) // as if freed and sampled again by another goroutine
	forgetSampleIf(p, old)
	if g := sampleGen(slicePtr(b)); g == 0 || g == old {
		t.Fatalf("generation after a stale forget: %d (old %d), want the newer sample's", g, old)
	}
}

//go:noinline
func getChunkHelper(n int) []byte {
	Helper()
	return Alloc(n)
}

//go:noinline
func getChunkNested(n int) []byte {
	Helper()
	return getChunkHelper(n)
}

//go:noinline
func getChunkPlain(n int) []byte { return Alloc(n) }

//go:noinline
func userOfHelpers() [][]byte {
	return [][]byte{getChunkHelper(48), getChunkNested(48), getChunkPlain(48)}
}

// A wrapper that calls Helper is skipped by CallSite, which names its caller.
func TestHelperNamesTheWrappersCaller(t *testing.T) {
	withProfileRate(t, 1)
	bufs := userOfHelpers()
	defer func() {
		for _, b := range bufs {
			Free(b)
		}
	}()
	sites := map[uintptr]string{}
	for _, l := range Leaks() {
		sites[l.Addr] = l.CallSite()
	}
	for i, want := range []string{"userOfHelpers", "userOfHelpers", "getChunkPlain"} {
		got := sites[sliceAddr(bufs[i])]
		if !strings.Contains(got, "offheap."+want+" ") {
			t.Errorf("allocation %d: CallSite %q, want %s", i, got, want)
		}
	}
	// Helper on a hot path costs a table lookup once the function is known.
	if n := testing.AllocsPerRun(100, func() { Free(getChunkHelper(32)) }); n != 0 {
		t.Errorf("Helper allocates %v times per call", n)
	}
}

//go:noinline
func churnAlloc(s *Slab, n int) ([]byte, []byte) { return Alloc(n), s.Alloc(n) }

// Goroutines allocating and freeing at rate 1 (chunks handed from one to
// another through the caches and the core): once everything is freed,
// nothing they allocated is left in use in the profile - no sample outlives
// its release, and no release drops a newer owner's sample.
func TestProfileConcurrentChurnLeavesNothingInUse(t *testing.T) {
	withProfileRate(t, 1)
	s, _ := NewSlab(SlabConfig{})
	defer s.Close()
	_, inuse0 := profileBytes(t, "offheap.churnAlloc")
	done := make(chan struct{})
	shared := make(chan []byte, 64)
	for g := range 4 {
		go func() {
			defer func() { done <- struct{}{} }()
			for i := range 2000 {
				a, b := churnAlloc(s, 16+(i+g)%400)
				s.AddRef(b)
				select {
				case shared <- b: // another goroutine drops the second reference
				default:
					s.DecRef(b)
				}
				select {
				case x := <-shared:
					s.DecRef(x)
				default:
				}
				s.DecRef(b)
				Free(a)
			}
		}()
	}
	for range 4 {
		<-done
	}
	for len(shared) > 0 {
		s.DecRef(<-shared)
	}
	if _, inuse := profileBytes(t, "offheap.churnAlloc"); inuse != inuse0 {
		t.Fatalf("inuse_space %d after every release, want %d", inuse, inuse0)
	}
	if ls := s.Leaks(); len(ls) != 0 {
		t.Fatalf("Slab.Leaks has %d entries after every release", len(ls))
	}
}
