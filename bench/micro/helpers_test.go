package micro

import (
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
)

// sizes are the buffer sizes every family is measured at.
var sizes = []int{64, 1 << 10, 16 << 10, 256 << 10, 1 << 20}

// goroutineCounts are the numbers of goroutines each benchmark runs with.
var goroutineCounts = []int{1, 2}

func sizeName(n int) string {
	switch {
	case n >= 1<<20 && n%(1<<20) == 0:
		return fmt.Sprintf("%dMiB", n>>20)
	case n >= 1<<10 && n%(1<<10) == 0:
		return fmt.Sprintf("%dKiB", n>>10)
	}
	return fmt.Sprintf("%dB", n)
}

// touch writes the first and the last byte of b, so that every
// implementation pays for committing the memory it hands out in the same way.
func touch(b []byte) {
	b[0] = 1
	b[len(b)-1] = 1
}

// sinks keep the latest buffer of each goroutine reachable from a global, so
// that make([]byte) escapes to the heap. One padded slot per goroutine: no
// data race and no false sharing between goroutines.
var sinks [64]struct {
	b []byte
	_ [128 - 24]byte
}

// workerFunc is the loop of one goroutine: it performs n operations. It is
// made by a newWorker(id) function (id = the goroutine's index, 0 .. g-1),
// which creates any per-goroutine state before the timer starts.
type workerFunc func(n int)

// run measures b.N operations spread over exactly g goroutines and reports
// ns/op as wall time over the total number of operations (like
// b.RunParallel). With g == 1 the loop runs on the benchmark goroutine; with
// g > 1 the goroutines take grains of operations from a shared counter, so a
// goroutine descheduled on a busy machine does not leave the other idle.
//
// Unlike b.RunParallel (GOMAXPROCS x SetParallelism goroutines, one pb.Next
// call per operation) this gives an exact goroutine count whatever GOMAXPROCS
// is and no per-operation dispatch: every implementation's operation is
// inlined in its own loop. GOMAXPROCS is left alone (vary it with -cpu 1,2).
func run(b *testing.B, g int, newWorker func(id int) workerFunc) {
	b.Helper()
	if g > len(sinks) {
		b.Fatalf("at most %d goroutines", len(sinks))
	}
	workers := make([]workerFunc, g)
	for i := range workers {
		workers[i] = newWorker(i)
	}
	// Warm up every worker (first faults, per-P caches, pools filled) outside
	// the timer, then measure.
	for _, w := range workers {
		w(16)
	}
	defer clear(sinks[:g])
	b.ReportAllocs()
	b.ResetTimer()
	if g == 1 {
		workers[0](b.N)
		return
	}
	total := int64(b.N)
	grain := total / int64(g*64)
	grain = max(1, min(grain, 10000))
	var next atomic.Int64
	var wg sync.WaitGroup
	for _, w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				start := next.Add(grain) - grain
				if start >= total {
					return
				}
				w(int(min(grain, total-start)))
			}
		}()
	}
	wg.Wait()
	b.StopTimer()
}

// impl is one implementation in a benchmark family.
type impl struct {
	name string
	gs   []int // goroutine counts; nil = goroutineCounts
	// sizes measured; nil = sizes
	sizes []int
	// setup prepares what the goroutines share for one buffer size (a pool,
	// a slab...) and returns the constructor of each goroutine's loop.
	setup func(tb testing.TB, size int) func(id int) workerFunc
}

// family runs every implementation as impl=<name>/size=<n>/g=<g>.
func family(b *testing.B, impls []impl) {
	for _, im := range impls {
		gs := im.gs
		if gs == nil {
			gs = goroutineCounts
		}
		ss := im.sizes
		if ss == nil {
			ss = sizes
		}
		b.Run("impl="+im.name, func(b *testing.B) {
			for _, size := range ss {
				b.Run("size="+sizeName(size), func(b *testing.B) {
					for _, g := range gs {
						b.Run(fmt.Sprintf("g=%d", g), func(b *testing.B) {
							run(b, g, im.setup(b, size))
						})
					}
				})
			}
		})
	}
}
