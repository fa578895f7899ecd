// child.go is one mode's run in its own process: the fill and the churn with
// the request loop alongside, the samples for the chart, and the result.
package main

import (
	"fmt"
	"io"
	"math/rand/v2"
	"runtime"
	"sync/atomic"
	"time"

	"github.com/offheap/offheap/bench/internal/harness"
	"github.com/offheap/offheap/bench/internal/latency"
	"github.com/offheap/offheap/bench/internal/stamp"
)

// ---- messages from a child to the parent (JSON lines on the child's stdout) ----

// message is one line of the child's output.
type message struct {
	Sample *sample     `json:"sample,omitempty"`
	Result *modeResult `json:"result,omitempty"`
}

// sample is one point of the chart's time series.
type sample struct {
	T        float64 `json:"t"`          // seconds since the workload started
	RSS      int64   `json:"rss"`        // VmRSS, bytes
	ReqP99   float64 `json:"req_p99_ns"` // rolling request p99 (0 when no request completed)
	Requests uint64  `json:"requests"`   // requests in the rolling window
	Phase    string  `json:"phase"`      // "fill" or "churn"
	Round    int     `json:"round"`      // churn rounds completed
}

// modeResult is one mode's figures: the -json objects, the table's rows.
type modeResult struct {
	Mode          string  `json:"mode"`
	WallS         float64 `json:"wall_s"`
	CPUS          float64 `json:"cpu_s"`
	GCCycles      uint64  `json:"gc_cycles"`
	GCCPUFraction float64 `json:"gc_cpu_fraction"`
	PauseP50us    float64 `json:"pause_p50_us"`
	PauseP99us    float64 `json:"pause_p99_us"`
	PauseMaxus    float64 `json:"pause_max_us"`
	ReqP50ns      float64 `json:"req_p50_ns"`
	ReqP99ns      float64 `json:"req_p99_ns"`
	ReqP999ns     float64 `json:"req_p999_ns"`
	PeakRSSBytes  int64   `json:"peak_rss_bytes"`
	LiveBytes     int64   `json:"live_bytes"`
	// Beyond the figures the table compares:
	ReqMaxns  float64 `json:"req_max_ns"`
	Requests  uint64  `json:"requests"`
	Rounds    int     `json:"rounds"`
	Buffers   int     `json:"buffers"`
	Replaced  int64   `json:"replaced"`   // buffers freed and allocated anew in the churn
	FillS     float64 `json:"fill_s"`     // wall time of the fill, part of wall_s
	ChurnS    float64 `json:"churn_s"`    // wall time of the churn, part of wall_s
	GoMaxProc int     `json:"gomaxprocs"` // GOMAXPROCS of the child
	Size      string  `json:"size"`       // the -size of the run
	ChurnPct  float64 `json:"churn_pct"`  // the -churn of the run
	Seed      uint64  `json:"seed"`
	// Ratios of the figures above to native's in the same run (parent fills it
	// in when native ran).
	VsNative map[string]float64 `json:"vs_native,omitempty"`
}

// runChild runs one mode in this process and writes its samples and result
// as JSON lines to out.
func runChild(cfg config, out io.Writer) error {
	m := lookupMode(cfg.Modes[0])
	a, err := m.setup(cfg)
	if err != nil {
		return fmt.Errorf("%s: %v", m.name, err)
	}
	em := harness.NewEmitter(out)
	w := &workload{cfg: cfg, a: a, rng: rand.New(rand.NewPCG(cfg.Seed, 0))}
	w.phase.Store("fill")

	var (
		stopReq  atomic.Bool
		reqReady = make(chan struct{})
		reqDone  = make(chan struct{})
		reqHist  = new(latency.Hist)
		window   = latency.NewWindows(windowSpan(cfg))
		stopSamp = make(chan struct{})
		sampDone = make(chan struct{})
	)

	// The request loop runs through the whole measurement.
	go requestLoop(cfg.Seed+1, &stopReq, reqHist, window, reqReady, reqDone)
	<-reqReady

	cpu0 := harness.CPUTime()
	gc0 := readGC()
	start := time.Now()

	takeSample := func() {
		p99, n := window.Rotate(0.99)
		em.Emit(message{Sample: &sample{
			T:        time.Since(start).Seconds(),
			RSS:      harness.SelfRSS(),
			ReqP99:   p99,
			Requests: n,
			Phase:    w.phase.Load().(string),
			Round:    int(w.round.Load()),
		}})
	}
	takeSample() // t = 0
	go func() {
		defer close(sampDone)
		tick := time.NewTicker(cfg.Sample)
		defer tick.Stop()
		for {
			select {
			case <-stopSamp:
				return
			case <-tick.C:
				takeSample()
			}
		}
	}()

	w.fill()
	filled := time.Now()
	liveAfterFill, buffers := w.live, len(w.bufs)
	w.phase.Store("churn")
	var replaced int64
	for r := 0; ; r++ {
		if cfg.Duration > 0 {
			if time.Since(filled) >= cfg.Duration {
				break
			}
		} else if r >= cfg.Rounds {
			break
		}
		k, err := w.churnRound()
		if err != nil {
			return fmt.Errorf("%s: round %d: %v", m.name, r+1, err)
		}
		replaced += int64(k)
		w.round.Add(1)
	}

	end := time.Now()
	gc1 := readGC()
	cpu1 := harness.CPUTime()
	stopReq.Store(true)
	<-reqDone
	close(stopSamp)
	<-sampDone
	takeSample() // the end, so every mode has a last point

	peak := harness.PeakRSS()

	// Outside the measurement: check and free every buffer, then close the
	// allocator, so each mode's allocator also proves it frees what it gave.
	for i, b := range w.bufs {
		if err := stamp.Check(b, w.ids[i]); err != nil {
			return fmt.Errorf("%s: at the end: buffer %d: %v", m.name, w.ids[i], err)
		}
		a.Free(b)
		w.bufs[i] = nil
	}
	if err := a.Close(); err != nil {
		return fmt.Errorf("%s: close: %v", m.name, err)
	}

	wall := end.Sub(start).Seconds()
	d := diffGC(gc0, gc1, wall*float64(runtime.GOMAXPROCS(0)))
	res := &modeResult{
		Mode:          m.name,
		WallS:         wall,
		CPUS:          (cpu1 - cpu0).Seconds(),
		GCCycles:      d.cycles,
		GCCPUFraction: d.cpuFraction,
		PauseP50us:    histQuantile(d.pauses, 0.50) * 1e6,
		PauseP99us:    histQuantile(d.pauses, 0.99) * 1e6,
		PauseMaxus:    histMax(d.pauses) * 1e6,
		ReqP50ns:      reqHist.Quantile(0.50),
		ReqP99ns:      reqHist.Quantile(0.99),
		ReqP999ns:     reqHist.Quantile(0.999),
		ReqMaxns:      float64(reqHist.Max()),
		PeakRSSBytes:  peak,
		LiveBytes:     liveAfterFill,
		Requests:      reqHist.Count(),
		Rounds:        int(w.round.Load()),
		Buffers:       buffers,
		Replaced:      replaced,
		FillS:         filled.Sub(start).Seconds(),
		ChurnS:        end.Sub(filled).Seconds(),
		GoMaxProc:     runtime.GOMAXPROCS(0),
		Size:          cfg.Size.String(),
		ChurnPct:      cfg.Churn,
		Seed:          cfg.Seed,
	}
	em.Emit(message{Result: res})
	return em.Err()
}
