// child.go is a Go mode's side of burst: the allocator under test, and the
// burst or steady pattern, reported as JSON-line events to the parent.
package main

import (
	"fmt"
	"io"
	"runtime"
	"runtime/debug"
	"time"

	"github.com/offheap/offheap/bench/internal/allocs"
	"github.com/offheap/offheap/bench/internal/harness"
	"github.com/offheap/offheap/bench/internal/stamp"
)

// event is one line of a child's output (Go child and C harness alike): a
// phase boundary with the child's counters at that moment.
type event struct {
	Event  string  `json:"event"`  // ready, burst_start, burst_end, free_end, idle_end; fill_start, fill_end, churn_start, warm_end, churn_end; done
	T      float64 `json:"t"`      // seconds since the child started, on the child's clock
	Burst  int     `json:"burst"`  // 1-based burst number (0 outside bursts)
	Minflt int64   `json:"minflt"` // minor page faults so far (getrusage)
	CPUS   float64 `json:"cpu_s"`  // user + system CPU so far, all threads
	Purges int64   `json:"purges"` // decommits by offheap's purge policy so far; -1 for other allocators
	// Bytes offheap decommitted so far, by its purge policy or in place (a
	// BufferPool's idle buffers); -1 for other allocators.
	Decommitted int64 `json:"decommitted"`
	// Phase figures measured by the child itself.
	DurS     float64 `json:"dur_s,omitempty"`    // burst_end, free_end, fill_end: duration of the phase
	Buffers  int64   `json:"buffers,omitempty"`  // burst_end, free_end, fill_end: buffers allocated / freed
	Rounds   int64   `json:"rounds,omitempty"`   // warm_end, churn_end: churn rounds so far
	Replaced int64   `json:"replaced,omitempty"` // warm_end, churn_end: buffers replaced so far
	BusyS    float64 `json:"busy_s,omitempty"`   // warm_end, churn_end: time in frees and allocations so far (gaps excluded)
	Info     string  `json:"info,omitempty"`     // ready: the allocator and its settings
	PeakRSS  int64   `json:"peak_rss,omitempty"` // done: VmHWM
	// At is the parent's estimate of when the event happened, in seconds
	// since the child was started, on the parent's clock (the one of the
	// RSS samples).
	At float64 `json:"-"`
}

// newGoAllocator is the allocator of a Go mode.
func newGoAllocator(mode string) allocs.Allocator {
	switch mode {
	case "offheap":
		return allocs.Offheap{}
	case "offheap-pool":
		return allocs.NewPools()
	case "native":
		return allocs.Native{}
	case "native-gc":
		return allocs.Native{After: runtime.GC, What: "runtime.GC() after each free"}
	case "native-freeosmemory":
		return allocs.Native{After: debug.FreeOSMemory, What: "debug.FreeOSMemory() after each free"}
	}
	panic("not a Go mode: " + mode)
}

// child runs one Go mode and writes its events to out.
type child struct {
	c     childConfig
	a     allocs.Allocator
	out   *harness.Emitter
	start time.Time
	bufs  [][]byte
}

func (ch *child) emit(e event) {
	minflt, cpu := harness.Usage()
	e.T = time.Since(ch.start).Seconds()
	e.Minflt, e.CPUS = minflt, cpu.Seconds()
	e.Purges, e.Decommitted = ch.a.Decommits()
	ch.out.Emit(e)
}

// alloc allocates buffer i and writes every byte of it.
func (ch *child) alloc(i int) {
	b := ch.a.Alloc(int(ch.c.Size))
	stamp.Fill(b, uint64(i)^stamp.Key)
	ch.bufs[i] = b
}

// free checks buffer i (its first and last 8 bytes) and frees it.
func (ch *child) free(i int) error {
	b := ch.bufs[i]
	if err := stamp.Check(b, uint64(i)^stamp.Key); err != nil {
		return fmt.Errorf("buffer %d changed while live: %v", i, err)
	}
	ch.a.Free(b)
	ch.bufs[i] = nil
	return nil
}

// kept reports whether buffer i stays live at the floor.
func (ch *child) kept(i, nfloor int) bool {
	if nfloor == 0 {
		return false
	}
	if ch.c.Keep == "spread" {
		stride := len(ch.bufs) / nfloor
		return i%stride == 0 && i/stride < nfloor
	}
	return i < nfloor
}

func runChild(c childConfig, out io.Writer) error {
	ch := &child{c: c, out: harness.NewEmitter(out), start: time.Now()}
	ch.a = newGoAllocator(c.Mode)
	ch.bufs = make([][]byte, c.Peak/c.Size)
	ch.a.Free(ch.a.Alloc(int(c.Size))) // initialise the allocator before the baseline
	ch.emit(event{Event: "ready", Info: ch.a.Info()})
	time.Sleep(c.Pre)
	var err error
	if c.Pattern == "steady" {
		err = ch.steady()
	} else {
		err = ch.bursts()
	}
	if err != nil {
		return err
	}
	ch.emit(event{Event: "done", PeakRSS: harness.PeakRSS()})
	return ch.out.Err()
}

func (ch *child) bursts() error {
	nfloor := int(ch.c.Floor / ch.c.Size)
	for b := 1; b <= ch.c.Bursts; b++ {
		ch.emit(event{Event: "burst_start", Burst: b})
		t0 := time.Now()
		made := 0
		for i := range ch.bufs {
			if ch.bufs[i] == nil {
				ch.alloc(i)
				made++
			}
		}
		t1 := time.Now()
		ch.emit(event{Event: "burst_end", Burst: b, DurS: t1.Sub(t0).Seconds(), Buffers: int64(made)})
		freed := 0
		for i := range ch.bufs {
			if !ch.kept(i, nfloor) {
				if err := ch.free(i); err != nil {
					return err
				}
				freed++
			}
		}
		ch.a.AfterFree()
		ch.emit(event{Event: "free_end", Burst: b, DurS: time.Since(t1).Seconds(), Buffers: int64(freed)})
		time.Sleep(ch.c.Idle)
		ch.emit(event{Event: "idle_end", Burst: b})
	}
	return nil
}

func (ch *child) steady() error {
	ch.emit(event{Event: "fill_start"})
	t0 := time.Now()
	for i := range ch.bufs {
		ch.alloc(i)
	}
	ch.emit(event{Event: "fill_end", DurS: time.Since(t0).Seconds(), Buffers: int64(len(ch.bufs))})
	n := len(ch.bufs)
	k := min(max(int(float64(n)*ch.c.Churn/100+0.5), 1), n)
	start := time.Now()
	warm, end := start.Add(ch.c.Warm), start.Add(ch.c.Duration)
	warmed := ch.c.Warm == 0
	var busy time.Duration
	var rounds, replaced int64
	ch.emit(event{Event: "churn_start"})
	if warmed {
		ch.emit(event{Event: "warm_end"})
	}
	head := 0
	for time.Now().Before(end) {
		a := time.Now()
		for j := 0; j < k; j++ {
			if err := ch.free((head + j) % n); err != nil {
				return err
			}
		}
		b := time.Now()
		if ch.c.Gap > 0 {
			time.Sleep(ch.c.Gap)
		}
		d := time.Now()
		for j := 0; j < k; j++ {
			ch.alloc((head + j) % n)
		}
		head = (head + k) % n
		busy += b.Sub(a) + time.Since(d)
		rounds++
		replaced += int64(k)
		if !warmed && !time.Now().Before(warm) {
			warmed = true
			ch.emit(event{Event: "warm_end", Rounds: rounds, Replaced: replaced, BusyS: busy.Seconds()})
		}
	}
	ch.emit(event{Event: "churn_end", Rounds: rounds, Replaced: replaced, BusyS: busy.Seconds()})
	return nil
}
