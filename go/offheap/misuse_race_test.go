package offheap

// misuse_race_test.go: misuse that used to corrupt, hang or mislead (issue
// 13): two goroutines unmapping one mapping, arena memory used after Reset
// in debug mode, zero values of the allocator types, Free of a Map slice and
// Unmap of an allocator's slice, NewPool of objects up to 1 GiB, and the
// documented absence of async-signal safety.

import (
	"os"
	"runtime"
	"runtime/debug"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// TestRacingDoubleUnmapHasOneWinner: of two Unmaps of one mapping racing
// each other exactly one succeeds and the other panics with a *MisuseError;
// afterwards the allocator is sound (it used to let both succeed in up to
// 30 % of tries, then fail fresh Unmaps and Frees and hang in Leaks).
func TestRacingDoubleUnmapHasOneWinner(t *testing.T) {
	rounds := 5000
	if testing.Short() {
		rounds = 500
	}
	// The test goroutine and a helper on a thread of its own: the helper
	// spins until the next mapping is published, and both Unmap it at once
	// (starting a goroutine per round would keep the two calls apart).
	var (
		cur        atomic.Pointer[[]byte]
		gen, done  atomic.Int64
		armed      atomic.Int64
		wins       atomic.Int64
		stop       atomic.Bool
		loserMsg   atomic.Value
		wrongPanic atomic.Value
		wg         sync.WaitGroup
	)
	unmap := func() {
		m := *cur.Load()
		r := catchPanic(func() {
			if err := Unmap(m); err != nil {
				wrongPanic.Store(err.Error())
			}
		})
		if r == nil {
			wins.Add(1)
		} else if me, ok := r.(*MisuseError); ok {
			loserMsg.Store(me.Error())
		} else {
			wrongPanic.Store(r)
		}
		done.Add(1)
	}
	for k := 0; k < 1; k++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			runtime.LockOSThread()
			defer runtime.UnlockOSThread()
			seen := int64(0)
			for {
				g := gen.Load()
				for spins := 0; g == seen; g = gen.Load() {
					if stop.Load() {
						return
					}
					if spins++; spins%64 == 0 {
						runtime.Gosched()
					}
				}
				seen = g
				armed.Store(g) // the test goroutine starts when it sees this
				unmap()
			}
		}()
	}
	bad := 0
	for i := 0; i < rounds; i++ {
		m, err := Map(pageSize * (1 + i%3))
		if err != nil {
			t.Fatal(err)
		}
		cur.Store(&m)
		w0 := wins.Load()
		done.Store(0)
		g := gen.Add(1)
		for armed.Load() != g {
		}
		unmap()
		for done.Load() < 2 {
			runtime.Gosched()
		}
		if wins.Load()-w0 != 1 {
			bad++
		}
	}
	stop.Store(true)
	wg.Wait()
	if r := wrongPanic.Load(); r != nil {
		t.Fatalf("a racing Unmap failed otherwise than with a *MisuseError: %v", r)
	}
	if bad != 0 {
		t.Fatalf("%d of %d racing double Unmaps did not have exactly one winner", bad, rounds)
	}
	if msg, _ := loserMsg.Load().(string); msg != "" && !strings.Contains(msg, "already unmapped") {
		t.Fatalf("the losing Unmap's message %q does not say the slice is already unmapped", msg)
	}
	m, err := Map(3 * pageSize)
	if err != nil {
		t.Fatal(err)
	}
	if err := Unmap(m); err != nil {
		t.Fatal(err)
	}
	Free(Alloc(4 << 20))
	leaksDone := make(chan struct{})
	go func() { Leaks(); close(leaksDone) }()
	select {
	case <-leaksDone:
	case <-time.After(30 * time.Second):
		t.Fatal("Leaks did not return")
	}
}

// TestArenaResetPoisonsInDebugMode: with DebugPoison, a Reset fills what the
// arena handed out with 0xdf.
func TestArenaResetPoisonsInDebugMode(t *testing.T) {
	if asanBuild() {
		t.Skip("reading reset arena memory is an ASan report under -asan")
	}
	withDebug(t, DebugPoison)
	a, err := NewArena(64 << 10)
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	b, c := a.Alloc(1000), a.Alloc(30000)
	for i := range b {
		b[i] = 0x11
	}
	for i := range c {
		c[i] = 0x22
	}
	a.Reset()
	for _, s := range [][]byte{b, c} {
		for i, v := range s {
			if v != 0xdf {
				t.Fatalf("byte %d of a reset %d-byte arena allocation is %#x, not the poison 0xdf", i, len(s), v)
			}
		}
	}
	d := a.Alloc(40000) // handed out again: writable
	d[len(d)-1] = 1
}

// TestArenaResetGuardsInGuardMode: with DebugGuard, a write to arena memory
// after Reset (or ResetDecommit) faults until the arena hands it out again.
func TestArenaResetGuardsInGuardMode(t *testing.T) {
	const name = "TestArenaResetGuardsInGuardMode"
	if asanBuild() {
		t.Skip("ASan reports the poisoned access before the guard faults")
	}
	if !inChild(name) {
		out, err := runChild(t, name)
		if err != nil || !strings.Contains(out, "ARENA GUARD OK") {
			t.Fatalf("child: %v\n%s", err, out)
		}
		return
	}
	withDebug(t, DebugGuard)
	a, err := NewArena(16 * pageSize)
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	debug.SetPanicOnFault(true)
	for _, reset := range []func(){a.Reset, a.ResetDecommit} {
		b := a.Alloc(8 * pageSize)
		b[3*pageSize] = 1
		reset()
		if r := catchPanic(func() { b[3*pageSize] = 2 }); r == nil {
			t.Fatal("a write to arena memory after a reset did not fault")
		}
		c := a.Alloc(8 * pageSize) // the same block, opened again
		c[3*pageSize] = 3
	}
	println("ARENA GUARD OK")
}

// TestZeroValuesPanicWithTheRemedy: every method of a zero (or nil) Slab,
// Pool, BufferPool and Arena panics with a *MisuseError naming the
// constructor, instead of a nil dereference or "size too large".
func TestZeroValuesPanicWithTheRemedy(t *testing.T) {
	b := make([]byte, 16)
	slab := "use of a zero Slab: create it with NewSlab"
	for op, f := range map[string]func(s *Slab){
		"Slab.Alloc":    func(s *Slab) { s.Alloc(10) },
		"Slab.TryAlloc": func(s *Slab) { s.TryAlloc(10) },
		"Slab.AddRef":   func(s *Slab) { s.AddRef(b) },
		"Slab.DecRef":   func(s *Slab) { s.DecRef(b) },
		"Slab.RefCount": func(s *Slab) { s.RefCount(b) },
		"Slab.Leaks":    func(s *Slab) { s.Leaks() },
		"Slab.Stats":    func(s *Slab) { s.Stats() },
		"Slab.Close":    func(s *Slab) { s.Close() },
	} {
		mustPanic(t, func() { f(&Slab{}) }, op, slab)
		mustPanic(t, func() { f(nil) }, op, "use of a nil *Slab: create it with NewSlab")
	}
	for op, f := range map[string]func(p *Pool){
		"Pool.Get":   func(p *Pool) { p.Get() },
		"Pool.Get ":  func(p *Pool) { p.TryGet() },
		"Pool.Put":   func(p *Pool) { p.Put(b) },
		"Pool.Leaks": func(p *Pool) { p.Leaks() },
		"Pool.Stats": func(p *Pool) { p.Stats() },
		"Pool.Close": func(p *Pool) { p.Close() },
	} {
		mustPanic(t, func() { f(&Pool{}) }, strings.TrimSpace(op), "use of a zero Pool: create it with NewPool")
	}
	for op, f := range map[string]func(p *BufferPool){
		"BufferPool.Get":   func(p *BufferPool) { p.Get() },
		"BufferPool.Get ":  func(p *BufferPool) { p.SyncPool().Get() },
		"BufferPool.Put":   func(p *BufferPool) { p.Put(b) },
		"BufferPool.Stats": func(p *BufferPool) { p.Stats() },
		"BufferPool.Close": func(p *BufferPool) { p.Close() },
	} {
		mustPanic(t, func() { f(&BufferPool{}) }, strings.TrimSpace(op), "use of a zero BufferPool: create it with NewBufferPool")
	}
	for op, f := range map[string]func(a *Arena){
		"Arena.Alloc":         func(a *Arena) { a.Alloc(10) },
		"Arena.Alloc ":        func(a *Arena) { a.AllocAligned(10, 64) },
		"Arena.Owns":          func(a *Arena) { a.Owns(b) },
		"Arena.Reset":         func(a *Arena) { a.Reset() },
		"Arena.ResetDecommit": func(a *Arena) { a.ResetDecommit() },
		"Arena.Close":         func(a *Arena) { a.Close() },
	} {
		mustPanic(t, func() { f(&Arena{}) }, strings.TrimSpace(op), "use of a zero Arena: create it with NewArena")
	}
	mustPanic(t, func() { (*Arena)(nil).Alloc(1) }, "use of a nil *Arena: create it with NewArena")
}

// TestFreeOfAMapSliceSaysUnmap and the reverse: a release through the wrong
// function names where the slice came from and what releases it.
func TestFreeOfAMapSliceSaysUnmap(t *testing.T) {
	m, err := Map(2 * pageSize)
	if err != nil {
		t.Fatal(err)
	}
	mustPanic(t, func() { Free(m) }, "Free of a slice", "mapped by offheap.Map", "release it with Unmap", hex(sliceAddr(m)))
	s, err := NewSlab(SlabConfig{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	mustPanic(t, func() { s.DecRef(m) }, "Slab.DecRef", "mapped by offheap.Map", "release it with Unmap")
	if err := Unmap(m); err != nil {
		t.Fatal(err)
	}

	for _, c := range []struct {
		name string
		b    []byte
		free func([]byte)
	}{
		{"Alloc(page)", Alloc(pageSize), Free},
		{"Alloc(3 MiB)", Alloc(3 << 20), Free},
		{"Slab.Alloc(2 pages)", s.Alloc(2 * pageSize), func(b []byte) { s.DecRef(b) }},
	} {
		mustPanic(t, func() { Unmap(c.b) }, "Unmap of a slice not mapped by offheap.Map", "belongs to an allocator",
			"release it there", hex(sliceAddr(c.b)))
		c.free(c.b)
	}
	a, err := NewArena(16 * pageSize)
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	ab, err := a.AllocAligned(pageSize, pageSize)
	if err != nil {
		t.Fatal(err)
	}
	mustPanic(t, func() { Unmap(ab) }, "not mapped by offheap.Map", "belongs to an allocator")
}

// TestNewPoolOfObjectsUpTo1GiB: an unbounded pool of 200 MiB or 1 GiB objects
// is created (BlockObjects 0 adapts the blocks), Get and Put work; a
// BlockObjects that cannot fit is still refused.
func TestNewPoolOfObjectsUpTo1GiB(t *testing.T) {
	for _, size := range []int{200 << 20, 1 << 30} {
		p, err := NewPool(size, PoolConfig{})
		if err != nil {
			t.Fatalf("NewPool(%d MiB): %v", size>>20, err)
		}
		b := p.Get()
		if len(b) != size || cap(b) != size {
			t.Fatalf("Pool.Get of %d MiB objects: len %d cap %d", size>>20, len(b), cap(b))
		}
		b[0], b[size-1] = 1, 2
		p.Put(b)
		if err := p.Close(); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := NewPool(200<<20, PoolConfig{BlockObjects: 8}); err == nil || !strings.Contains(err.Error(), "must fit in 1 GiB") {
		t.Fatalf("NewPool(200 MiB, BlockObjects 8): %v, want a refusal", err)
	}
}

// TestNotAsyncSignalSafeIsDocumented: the C header and the package docs say
// that no offheap function may be called from a signal handler.
func TestNotAsyncSignalSafeIsDocumented(t *testing.T) {
	for _, f := range []string{"../../c/include/offheap.h", "doc.go"} {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(strings.ToLower(string(b)), "not async-signal-safe") {
			t.Errorf("%s does not say the library is not async-signal-safe", f)
		}
	}
}
