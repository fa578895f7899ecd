package offheap

// soak_test.go - 8 goroutines x N mixed operations on shared instances,
// checked against the model of fuzz_test.go.
//
// Each goroutine runs a worker (fuzz_test.go) fed by its own PRNG: it
// allocates from the process-wide allocator, a shared Slab (reference
// counted), an unbounded and a bounded Pool, a BufferPool, its own Arena and
// Map; releases; takes and drops references; decommits parts of live buffers;
// hands buffers and references to other goroutines through shared slots (so
// they are freed on other Ps and threads); tries misuse that is safe while
// others run (foreign, interior, cross-instance, closed instances). Every
// buffer is pattern-checked before each release (sparsely beyond 1 KiB) and
// on every hand-over; a mismatch fails the test at once.
//
// At the end the goroutines stop and the statistics and leak lists of every
// instance must equal the model exactly; then everything is released and
// every instance must be back to zero bytes in use.
//
// The short version (plain `go test`, also under -race) runs 8 x 20000
// operations (and a quarter of that in each of the other variants); `make
// soak` sets OFFHEAP_SOAK_OPS=10000000 for the long one.

import (
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

const soakWorkers = 8

// soakOps returns the operations per goroutine: OFFHEAP_SOAK_OPS, or the
// short default.
func soakOps(t *testing.T) int {
	if v := os.Getenv("OFFHEAP_SOAK_OPS"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n <= 0 {
			t.Fatalf("OFFHEAP_SOAK_OPS=%q: want a positive integer", v)
		}
		return n
	}
	return 20000
}

// soakVariants run the soak under different settings: the defaults; debug
// guard with an eager purge (every free poisons and guards, empty slabs go
// back at once); and the options flipped every millisecond while the
// goroutines run (debug level 0/1/2, purge delay 0/1 ms/1 s), so that
// chunks cross from cached to poisoned to guarded paths and back.
var soakVariants = []struct {
	name  string
	debug DebugLevel
	delay time.Duration
	flip  bool
	share int // per mille of the operations of the default variant
}{
	{"defaults", DebugOff, time.Second, false, 1000},
	{"guard+eager-purge", DebugGuard, 0, false, 250},
	{"flipping-options", DebugOff, time.Second, true, 250},
}

func TestSoak(t *testing.T) {
	for _, v := range soakVariants {
		t.Run(v.name, func(t *testing.T) {
			saved := saveKnobs()
			defer saved.restore()
			SetDebugLevel(v.debug)
			SetPurgeDelay(v.delay)
			runSoak(t, max(soakOps(t)*v.share/1000, 1), v.flip)
		})
	}
}

func runSoak(t *testing.T, n int, flip bool) {
	fx, err := newFixture()
	if err != nil {
		t.Fatal(err)
	}
	workers := make([]*worker, soakWorkers)
	for i := range workers {
		w, err := newWorker(fx, newRandSource(uint64(i)*7919+1), i, false, true)
		if err != nil {
			t.Fatal(err)
		}
		w.maxLive, w.maxBytes = 512, 16<<20
		workers[i] = w
	}
	start := time.Now()
	stop := make(chan struct{})
	flipped := make(chan int)
	go func() { // the option flipper
		flips := 0
		defer func() { flipped <- flips }()
		if !flip {
			return
		}
		r := newRandSource(99)
		for {
			select {
			case <-stop:
				return
			case <-time.After(time.Millisecond):
			}
			switch b := r.next(); b % 2 {
			case 0:
				SetDebugLevel(DebugLevel(b / 2 % 3))
			case 1:
				SetPurgeDelay([]time.Duration{0, time.Millisecond, time.Second}[b/2%3])
			}
			flips++
		}
	}()
	var wg sync.WaitGroup
	for _, w := range workers {
		wg.Add(1)
		go func(w *worker) {
			defer wg.Done()
			for i := 0; i < n && w.err == nil; i++ {
				w.step()
			}
		}(w)
	}
	wg.Wait()
	close(stop)
	flips := <-flipped
	elapsed := time.Since(start)
	var ops, misuses, checks int64
	for _, w := range workers {
		if w.err != nil {
			t.Fatal(w.err)
		}
		ops += w.ops
		misuses += w.misuses
		checks += w.checks
	}

	// Every goroutine has stopped: the model is every worker's buffers and
	// those left in the slots.
	w0 := workers[0]
	w0.adoptSlots()
	var all []*liveBuf
	for _, w := range workers {
		all = append(all, w.live...)
	}
	report := soakFigures(fx, all)
	w0.checkAgainst(all)
	if w0.err != nil {
		t.Fatalf("statistics against the model after %d operations: %v\n%s", ops, w0.err, report)
	}
	live := len(all)
	for _, w := range workers {
		w.releaseAll()
		if w.err != nil {
			t.Fatal(w.err)
		}
	}
	Scavenge()
	w0.checkAgainst(nil)
	if w0.err != nil {
		t.Fatalf("after releasing everything: %v", w0.err)
	}
	allocs := fx.slabAllocs.Load()
	if frees := fx.slabFrees.Load(); frees != allocs {
		t.Fatalf("%d Slab allocations, but %d DecRefs reported freeing one", allocs, frees)
	}
	for _, w := range workers {
		if err := w.arena.Close(); err != nil {
			t.Fatal(err)
		}
	}
	if err := fx.close(); err != nil {
		t.Fatal(err)
	}
	t.Logf("soak: %d goroutines x %d = %d operations in %v (%d option flips): %d refused misuses, %d pattern and model checks; corruptions: 0; "+
		"%d buffers live at the end matched the statistics and leak lists exactly:\n%s"+
		"then everything was released: every instance at 0 bytes in use, %d Slab allocations each freed exactly once",
		soakWorkers, n, ops, elapsed.Round(time.Millisecond), flips, misuses, checks, live, report, allocs)
}

// soakFigures formats each instance's in-use bytes next to the model's.
func soakFigures(f *fixture, all []*liveBuf) string {
	sets := modelSets(all)
	var s string
	for _, c := range []struct {
		kind  allocKind
		stats SlabStats
	}{
		{kindSlab, f.slab.Stats()}, {kindPool, f.pool.Stats()}, {kindBounded, f.bounded.Stats()}, {kindBuffer, f.buf.Stats()},
	} {
		bytes, large := sumSet(sets[c.kind])
		s += fmt.Sprintf("  %-12s in use %10d bytes (%d large), model %10d bytes (%d large) in %d allocations\n",
			c.kind, c.stats.InUseBytes, c.stats.LargeInUse, bytes, large, len(sets[c.kind]))
	}
	bytes, _ := sumSet(sets[kindAlloc])
	s += fmt.Sprintf("  %-12s in use %10d bytes, model %10d bytes (+%d before the run) in %d allocations\n",
		"Alloc", defaultHeap.stats("test").InUseBytes, bytes+f.baseDefault, f.baseDefault, len(sets[kindAlloc]))
	return s
}

// TestCloseRacesWithBoundedPoolAndArena complements TestCloseRacingWithUse
// (concurrency_test.go: Slab, Pool, BufferPool) with the two instances that
// sit behind an RWMutex instead of the per-P caches: goroutines get and put
// on a bounded Pool and allocate from an Arena while another goroutine closes
// them. Every call either works or panics with a *MisuseError saying the
// instance is closed; nothing crashes, hangs or races (-race); a second Close
// says ErrClosed. The buffers are not touched: after the Close they dangle.
func TestCloseRacesWithBoundedPoolAndArena(t *testing.T) {
	for round := 0; round < 8; round++ {
		bp, _ := NewPool(64, PoolConfig{MaxObjects: 1000})
		a, _ := NewArena(0)
		ops := []struct {
			name string
			f    func()
		}{
			{"bounded Pool", func() { bp.Put(bp.Get()) }},
			{"Arena", func() { a.Alloc(100) }},
		}
		var wg sync.WaitGroup
		errs := make(chan error, 8)
		for g := 0; g < 8; g++ {
			wg.Add(1)
			go func(g int) {
				defer wg.Done()
				o := ops[g%len(ops)]
				for {
					r := catchPanic(o.f)
					if r == nil {
						continue
					}
					var me *MisuseError
					if e, ok := r.(error); !ok || !errors.As(e, &me) || !strings.Contains(me.Error(), "on a closed") {
						errs <- fmt.Errorf("%s racing with Close panicked with %v", o.name, r)
					}
					return
				}
			}(g)
		}
		time.Sleep(time.Millisecond)
		for _, c := range []interface{ Close() error }{bp, a} {
			if err := c.Close(); err != nil {
				t.Fatalf("Close of %T: %v", c, err)
			}
			if err := c.Close(); err != ErrClosed {
				t.Fatalf("second Close of %T = %v", c, err)
			}
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Error(err)
		}
	}
}

// TestJanitorStopsAndRestartsCleanly makes the janitor (cache.go) go idle and
// be started again over and over: a BufferPool is used in short bursts with
// pauses around the janitor's period (10 ms at a purge delay of 0). A janitor
// that has declared itself stopped must not touch the janitor's state while
// the next one runs (under -race, the old one's last look at a heap's
// operation count raced with the new one's visit). Afterwards the janitor
// must stop, having returned every idle buffer and purged the pool.
func TestJanitorStopsAndRestartsCleanly(t *testing.T) {
	saved := saveKnobs()
	defer saved.restore()
	SetPurgeDelay(0)
	bp := NewBufferPool(16 << 10)
	defer bp.Close()
	r := newRandSource(5)
	deadline := time.Now().Add(600 * time.Millisecond)
	for time.Now().Before(deadline) {
		held := make([][]byte, 1+int(r.next())%8)
		for i := range held {
			held[i] = bp.Get()
		}
		for _, b := range held {
			bp.Put(b)
		}
		time.Sleep(time.Duration(5+int(r.next())%15) * time.Millisecond)
	}
	// Idle now: within a few periods the janitor decommits the cached
	// buffers, purges the pool's empty slabs and stops.
	idle := func() bool {
		st := bp.Stats()
		return !janitor.running.Load() && st.SlabsEmpty == 0
	}
	if !waitFor(idle) {
		st := bp.Stats()
		t.Fatalf("the janitor did not settle: running %v, pool stats %+v", janitor.running.Load(), st)
	}
}
