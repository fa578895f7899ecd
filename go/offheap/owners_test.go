package offheap

// owners_test.go - the per-P slab owners (cache.go, c/src/owner.c; issue
// 17): releases across Ps keep every check (a double release racing between
// two Ps has one winner), chunks freed on another P go home and are reused,
// a P that stops allocating hands its memory back within the purge delay,
// and an Arena's per-P regions reuse the same memory after a Reset without
// two live allocations ever overlapping.

import (
	"errors"
	"runtime"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"
	"unsafe"

	"github.com/offheap/offheap/bindings"
)

// twoPs runs the test with at least two Ps, so the goroutines below run on
// different Ps (and shards, and owners) at once.
func twoPs(t *testing.T) {
	t.Helper()
	if runtime.GOMAXPROCS(0) < 2 {
		old := runtime.GOMAXPROCS(2)
		t.Cleanup(func() { runtime.GOMAXPROCS(old) })
	}
}

// ownersSlab is the Slab these tests share (64 B .. 256 KiB chunks, growth
// 2), closed with the test; with delay != nil the purge delay is set to
// *delay for the test and restored after it.
func ownersSlab(t *testing.T, delay *time.Duration) *Slab {
	t.Helper()
	if delay != nil {
		old := PurgeDelay()
		if err := SetPurgeDelay(*delay); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { SetPurgeDelay(old) })
	}
	s, err := NewSlab(SlabConfig{MinChunk: 64, SlabSize: 256 << 10, Growth: 2})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// raceRelease releases b from two goroutines at once and returns how many
// releases succeeded and the panic messages of the others.
func raceRelease(release func([]byte), b []byte) (ok int, msgs []string) {
	var wg sync.WaitGroup
	var mu sync.Mutex
	start := make(chan struct{})
	for range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			defer func() {
				if r := recover(); r != nil {
					mu.Lock()
					msgs = append(msgs, panicText(r))
					mu.Unlock()
				}
			}()
			release(b)
			mu.Lock()
			ok++
			mu.Unlock()
		}()
	}
	close(start)
	wg.Wait()
	return ok, msgs
}

func panicText(r any) string {
	if err, ok := r.(error); ok {
		return err.Error()
	}
	if s, ok := r.(string); ok {
		return s
	}
	return "unexpected panic value"
}

func TestCrossPDoubleReleaseHasOneWinner(t *testing.T) {
	twoPs(t)
	s, err := NewSlab(SlabConfig{MinChunk: 64, SlabSize: 1 << 20, Growth: 2})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	bp := NewBufferPool(4 << 10)
	defer bp.Close()
	sizes := []int{64, 1000, 16 << 10, 256 << 10, 1 << 20}
	rounds := 600
	if raceEnabled {
		rounds = 150
	}
	kinds := []struct {
		name    string
		alloc   func(i int) []byte
		release func([]byte)
	}{
		{"Free", func(i int) []byte { return Alloc(sizes[i%len(sizes)]) }, Free},
		{"Slab.DecRef", func(i int) []byte { return s.Alloc(sizes[i%4]) }, func(b []byte) { s.DecRef(b) }},
		{"BufferPool.Put", func(int) []byte { return bp.Get() }, bp.Put},
	}
	for _, k := range kinds {
		for i := range rounds {
			b := k.alloc(i)
			ok, msgs := raceRelease(k.release, b)
			if ok != 1 || len(msgs) != 1 {
				t.Fatalf("%s round %d: %d releases succeeded, panics %q", k.name, i, ok, msgs)
			}
			if !strings.Contains(msgs[0], "free") && !strings.Contains(msgs[0], "released") {
				t.Fatalf("%s round %d: the losing release panicked with %q, not a double release", k.name, i, msgs[0])
			}
			// The chunk comes back once: two allocations never share it.
			x, y := k.alloc(i), k.alloc(i)
			if unsafe.SliceData(x) == unsafe.SliceData(y) {
				t.Fatalf("%s round %d: one chunk handed out twice after a racing double release", k.name, i)
			}
			k.release(x)
			k.release(y)
		}
	}
	if st := s.Stats(); st.InUseBytes != 0 {
		t.Errorf("Slab in use after the races: %d bytes", st.InUseBytes)
	}
}

// Producers on some Ps, consumers on others: every chunk is freed on another
// P than the one that allocated it, checked byte for byte, and the memory is
// reused rather than grown.
func TestCrossPFreesGoHomeAndAreReused(t *testing.T) {
	twoPs(t)
	const batch = 256
	rounds := 200
	if raceEnabled {
		rounds = 40
	}
	var peak uint64
	for _, size := range []int{64, 4 << 10, 64 << 10} {
		s := ownersSlab(t, nil)
		ch := make(chan [][]byte, 2)
		errc := make(chan error, 1)
		go func() {
			defer close(errc)
			for bs := range ch {
				for j, b := range bs {
					if err := checkFill(b, byte(j)); err != nil {
						errc <- err
						return
					}
					s.DecRef(b)
				}
			}
		}()
		n := min(rounds, max(10, (32<<20)/(batch*size))) // every byte is written and checked
		for r := range n {
			bs := make([][]byte, batch)
			for j := range bs {
				bs[j] = s.Alloc(size)
				fill(bs[j], byte(j))
			}
			ch <- bs
			if r == n/2 {
				peak = max(peak, s.Stats().SlabBytes)
			}
		}
		close(ch)
		if err := <-errc; err != nil {
			t.Fatalf("size %d: %v", size, err)
		}
		st := s.Stats()
		if st.InUseBytes != 0 {
			t.Fatalf("size %d: %d bytes in use after every chunk was freed", size, st.InUseBytes)
		}
		// At most the two batches in flight, a batch cached per P and a
		// slab per owner and class: far below rounds*batch*size.
		limit := uint64(8*batch*size) + uint64(8*256<<10)
		if st.SlabBytes > limit {
			t.Fatalf("size %d: %d bytes of slabs for %d bytes live at most (limit %d): cross-P frees were not reused",
				size, st.SlabBytes, 2*batch*size, limit)
		}
	}
	if peak == 0 {
		t.Fatal("no slab bytes seen while the batches were live")
	}
}

// A P that stops using a heap hands its memory back within the purge delay:
// the Go cache through the janitor, the core's owner through the purger, and
// the emptied slabs through the purge policy; nobody calls Scavenge.
func TestIdlePHandsItsSlabsBack(t *testing.T) {
	twoPs(t)
	delay := 100 * time.Millisecond
	s := ownersSlab(t, &delay)
	done := make(chan struct{})
	go func() { // allocates on whatever P, frees everything, and stops
		defer close(done)
		var bs [][]byte
		for range 16000 {
			bs = append(bs, s.Alloc(1000))
		}
		for _, b := range bs {
			s.DecRef(b)
		}
	}()
	<-done
	// What the purge policy keeps of an idle heap: its retained margin of
	// empty slabs (OFFHEAP_RETAIN_BYTES), nothing cached by any P or owner.
	margin := uint64(bindings.OptionGet(bindings.OptRetainBytes))
	if st := s.Stats(); st.SlabBytes < 3*margin {
		t.Fatalf("%d bytes of slabs after 16000 allocations of 1000 bytes: the test needs more than the margin", st.SlabBytes)
	}
	cached := func(st SlabStats) (n uint64) {
		for _, c := range st.Classes {
			n += c.ChunksCached
		}
		return n
	}
	deadline := time.Now().Add(15 * time.Second)
	var st SlabStats
	for time.Now().Before(deadline) {
		time.Sleep(250 * time.Millisecond)
		if st = s.Stats(); st.SlabBytes <= margin && cached(st) == 0 {
			break
		}
	}
	if st.SlabBytes > margin || cached(st) != 0 || st.InUseBytes != 0 {
		t.Fatalf("idle Slab still holds %d bytes of slabs (margin %d), %d chunks cached, %d bytes in use 15 s after its last operation (delay 100 ms)",
			st.SlabBytes, margin, cached(st), st.InUseBytes)
	}
}

// Goroutines on different Ps bump in their own regions of the Arena's
// blocks; every byte of every allocation is checked at the end of each cycle,
// no two live allocations overlap, and a Reset reuses the same memory.
func TestArenaRegionsReuseMemoryAfterReset(t *testing.T) {
	twoPs(t)
	a, err := NewArena(256 << 10)
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	sizes := []int{16, 64, 1000, 16 << 10, 300 << 10, 1 << 20}
	var firstCycle map[uintptr]bool
	for cycle := range 4 {
		var mu sync.Mutex
		var all []held
		var wg sync.WaitGroup
		for w := range 4 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				var mine []held
				for i := range 300 {
					n := sizes[(i+w)%len(sizes)]
					if i%7 != 0 && n > 64<<10 {
						n = 64
					}
					b := a.Alloc(n)
					seed := byte(w*31 + i + cycle)
					fill(b, seed)
					mine = append(mine, held{b, seed})
				}
				mu.Lock()
				all = append(all, mine...)
				mu.Unlock()
			}()
		}
		wg.Wait()
		for _, h := range all {
			if err := checkFill(h.b, h.seed); err != nil {
				t.Fatalf("cycle %d: %v", cycle, err)
			}
		}
		sort.Slice(all, func(i, j int) bool { return sliceAddr(all[i].b) < sliceAddr(all[j].b) })
		for i := 1; i < len(all); i++ {
			if end := sliceAddr(all[i-1].b) + uintptr(len(all[i-1].b)); end > sliceAddr(all[i].b) {
				t.Fatalf("cycle %d: allocations at %#x (len %d) and %#x overlap", cycle,
					sliceAddr(all[i-1].b), len(all[i-1].b), sliceAddr(all[i].b))
			}
		}
		st := a.Stats()
		if st.Allocs != uint64(len(all)) {
			t.Fatalf("cycle %d: Stats counts %d allocations, %d were made", cycle, st.Allocs, len(all))
		}
		// The MiB-sized granules of address space the cycle used: the same
		// blocks after a Reset (their regions fall at other offsets).
		pages := map[uintptr]bool{}
		for _, h := range all {
			pages[sliceAddr(h.b)>>20] = true
		}
		if cycle == 1 {
			firstCycle = pages
		} else if cycle > 1 {
			reused := 0
			for p := range pages {
				if firstCycle[p] {
					reused++
				}
			}
			if reused < len(pages)/2 {
				t.Fatalf("cycle %d: %d of %d MiB granules were cycle 1's after Reset", cycle, reused, len(pages))
			}
		}
		a.Reset()
	}
	mustPanic(t, func() { Free(a.Alloc(64)) }, "another allocator")
	if errors.Is(a.Close(), ErrClosed) {
		t.Fatal("first Close returned ErrClosed")
	}
}

// crossFree allocates n buffers from s, size(i) bytes each, and frees them:
// those for which remote(i) holds by a second goroutine (often on the other
// P, so through the far buffers), the others at once. It returns once every
// buffer is freed.
func crossFree(s *Slab, n int, size func(int) int, remote func(int) bool) {
	ch := make(chan []byte, 64)
	done := make(chan struct{})
	go func() {
		defer close(done)
		for b := range ch {
			s.DecRef(b)
		}
	}()
	for i := range n {
		b := s.Alloc(size(i))
		b[0] = 1
		if remote(i) {
			ch <- b
		} else {
			s.DecRef(b)
		}
	}
	close(ch)
	<-done
}

// A P never caches another owner's chunk for reuse: after goroutines on two
// Ps free each other's buffers for a while, every chunk in a P's magazines
// belongs to a slab its own owner holds (or a central one), and the far
// buffers hold only other owners' chunks on their way home.
func TestMagazinesHoldOnlyTheirOwnersChunks(t *testing.T) {
	twoPs(t)
	never := time.Duration(-1) // no idle hand-back moves slabs between owners meanwhile
	s := ownersSlab(t, &never)
	crossFree(s, 20000, func(i int) int { return 64 + i%3*64 }, func(i int) bool { return i%2 == 0 })
	h := s.h
	h.stealMu.Lock()
	h.stealAll(stealTemp)
	local, far := 0, 0
	for i := range h.shards {
		sh := &h.shards[i]
		for cls := range sh.mags {
			m := &sh.mags[cls]
			for _, it := range m.items[:m.n] {
				_, _, so, e := h.c.FindOwned(uintptr(it.p))
				if e != bindings.OK || (so != 0 && sh.owner != 0 && so != sh.owner) {
					t.Errorf("P %d caches a chunk of another owner's slab (%#x, owner %#x, its own %#x)", i, it.p, so, sh.owner)
				}
				local++
			}
			for _, p := range m.far[:m.nfar] {
				if _, _, so, _ := h.c.FindOwned(uintptr(p)); so == sh.owner {
					t.Errorf("P %d holds its own chunk %#x as a far one", i, p)
				}
				far++
			}
		}
	}
	h.unstealAll()
	h.stealMu.Unlock()
	if !bindings.FastPath { // an installed library: every operation is a call, nothing is cached
		if local+far != 0 {
			t.Fatalf("%d chunks cached without the fast path", local+far)
		}
		return
	}
	if local == 0 {
		t.Fatal("no chunk cached at all: the test saw nothing")
	}
	t.Logf("%d chunks cached by their owners' Ps, %d on their way home", local, far)
	if st := s.Stats(); st.InUseBytes != 0 {
		t.Fatalf("%d bytes in use after every buffer was freed", st.InUseBytes)
	}
}

// Chunks on their way home hold memory no P hands out, so a far buffer is
// bounded in bytes like a magazine, not only in count: a class of 256 KiB
// chunks (above a Slab magazine's 128 KiB share) holds one, a class of
// 32 KiB four. With 16 per class and P, a churned cache whose goroutine
// changed Ps held 9 % of its live bytes there (bench/frag cache).
func TestFarBuffersBoundedInBytes(t *testing.T) {
	twoPs(t)
	never := time.Duration(-1)
	s := ownersSlab(t, &never)
	h := s.h
	if !bindings.FastPath { // an installed library: every operation is a call, nothing is cached
		if len(h.classes) != 0 {
			t.Fatalf("%d cacheable classes without the fast path", len(h.classes))
		}
		return
	}
	share := int(bindings.OptionGet(bindings.OptTCacheBytes) >> 3)
	for cls, c := range h.classes {
		if c.far > max(share/c.size, 1) || c.far > farMax {
			t.Errorf("class %d (%d B): far buffer of %d chunks, more than the %d B share", cls, c.size, c.far, share)
		}
	}
	crossFree(s, 6000, func(i int) int { return []int{256 << 10, 32 << 10}[i%2] }, func(int) bool { return true })
	h.stealMu.Lock()
	h.stealAll(stealTemp)
	held := map[int]int{}
	for i := range h.shards {
		for cls := range h.shards[i].mags {
			m := &h.shards[i].mags[cls]
			held[h.classes[cls].size] += m.nfar
			if m.nfar > h.classes[cls].far {
				t.Errorf("P %d class %d B: %d far chunks, bound %d", i, h.classes[cls].size, m.nfar, h.classes[cls].far)
			}
		}
	}
	h.unstealAll()
	h.stealMu.Unlock()
	if held[256<<10] > len(h.shards) {
		t.Errorf("%d chunks of 256 KiB wait in far buffers: one per P at most", held[256<<10])
	}
	t.Logf("far chunks held at the end: %v", held)
	if st := s.Stats(); st.InUseBytes != 0 {
		t.Fatalf("%d bytes in use after every buffer was freed", st.InUseBytes)
	}
}

// An allocation made while a stealer holds the P's shard (the janitor,
// Stats, Scavenge) comes from the central lists, not through a cache of the
// calling thread: that cache adopted whole central slabs for it, and once the
// shard was back nothing allocated from them again, so every buffer freed
// into them waited there until the purger found the thread idle (make bench:
// peak RSS 1.4-1.5 GiB for 1 GiB live in about one run of four).
func TestAllocationsWhileStolenAdoptNoSlab(t *testing.T) {
	never := time.Duration(-1)
	s := ownersSlab(t, &never)
	h := s.h
	for _, n := range []int{1000, 20000} { // a class of chunks and a run size: every P's magazine made
		s.DecRef(s.Alloc(n))
	}
	var bufs [][]byte
	h.stealMu.Lock()
	h.stealAll(stealTemp)
	for i := 0; i < 400; i++ {
		bufs = append(bufs, s.Alloc(1000+i%2*19000))
	}
	h.unstealAll()
	h.stealMu.Unlock()
	owners := map[bindings.Owner]bool{0: true}
	for i := range h.shards {
		owners[h.shards[i].owner] = true
	}
	for i, b := range bufs {
		if !bindings.FastPath { // an installed library: no shards, every allocation is a call
			break
		}
		_, _, so, e := h.c.FindOwned(uintptr(unsafe.Pointer(&b[0])))
		if e != bindings.OK || !owners[so] {
			t.Fatalf("buffer %d (%d bytes), allocated while the shards were stolen, is in a slab of owner %#x, neither central nor a P's (%v)",
				i, len(b), so, e)
		}
	}
	for _, b := range bufs {
		s.DecRef(b)
	}
	if st := s.Stats(); st.InUseBytes != 0 {
		t.Fatalf("%d bytes in use after every buffer was freed", st.InUseBytes)
	}
}
