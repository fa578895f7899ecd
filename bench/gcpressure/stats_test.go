package main

import (
	"math"
	"runtime"
	"runtime/metrics"
	"slices"
	"testing"
	"time"
)

// synthetic is a runtime/metrics-style histogram: open-ended first and last
// buckets, finite ones between.
func synthetic(counts ...uint64) *metrics.Float64Histogram {
	return &metrics.Float64Histogram{
		Buckets: []float64{math.Inf(-1), 0, 1e-6, 1e-5, 1e-4, 1e-3, math.Inf(1)},
		Counts:  counts,
	}
}

func TestHistQuantile(t *testing.T) {
	// 100 pauses: 50 in [1us,10us), 40 in [10us,100us), 9 in [100us,1ms), 1 above 1ms.
	h := synthetic(0, 0, 50, 40, 9, 1)
	cases := map[float64]float64{0.01: 1e-5, 0.5: 1e-5, 0.51: 1e-4, 0.9: 1e-4, 0.91: 1e-3, 0.99: 1e-3, 0.999: 1e-3, 1: 1e-3}
	for q, want := range cases {
		if got := histQuantile(h, q); got != want {
			t.Errorf("histQuantile(%v) = %v, want %v", q, got, want)
		}
	}
	// The +Inf bucket reports its finite lower bound.
	if got := histMax(h); got != 1e-3 {
		t.Errorf("histMax = %v, want 1e-3", got)
	}
	if got := histMax(synthetic(0, 3, 2, 0, 0, 0)); got != 1e-5 {
		t.Errorf("histMax = %v, want 1e-5", got)
	}
	if got := histQuantile(synthetic(0, 0, 0, 0, 0, 0), 0.5); got != 0 {
		t.Errorf("empty: %v", got)
	}
	if got := histMax(synthetic(0, 0, 0, 0, 0, 0)); got != 0 {
		t.Errorf("empty max: %v", got)
	}
}

func TestHistDeltaAndDiffGC(t *testing.T) {
	a := gcSnapshot{cycles: 10, pauses: synthetic(0, 1, 5, 2, 0, 0), gcCPU: 1}
	b := gcSnapshot{cycles: 14, pauses: synthetic(0, 1, 9, 6, 1, 0), gcCPU: 1.5}
	d := diffGC(a, b, 10)
	if d.cycles != 4 {
		t.Errorf("cycles %d, want 4", d.cycles)
	}
	if math.Abs(d.cpuFraction-0.05) > 1e-12 {
		t.Errorf("cpu fraction %v, want 0.05", d.cpuFraction)
	}
	if z := diffGC(a, b, 0); z.cpuFraction != 0 {
		t.Errorf("no CPU available: fraction %v", z.cpuFraction)
	}
	if want := []uint64{0, 0, 4, 4, 1, 0}; !slices.Equal(d.pauses.Counts, want) {
		t.Errorf("pause delta %v, want %v", d.pauses.Counts, want)
	}
	// 9 pauses: rank 5 is the first of the [10us, 100us) bucket.
	if got := histQuantile(d.pauses, 0.5); got != 1e-4 {
		t.Errorf("delta p50 %v, want 1e-4", got)
	}
	if got := histQuantile(d.pauses, 4.0/9); got != 1e-5 {
		t.Errorf("delta q=4/9 %v, want 1e-5", got)
	}
}

func TestReadGCSeesACollection(t *testing.T) {
	a := readGC()
	start := time.Now()
	runtime.GC()
	runtime.GC()
	b := readGC()
	d := diffGC(a, b, time.Since(start).Seconds()*float64(runtime.GOMAXPROCS(0)))
	if d.cycles < 2 {
		t.Errorf("two runtime.GC calls: %d cycles", d.cycles)
	}
	var pauses uint64
	for _, c := range d.pauses.Counts {
		pauses += c
	}
	if pauses < 2 {
		t.Errorf("two collections: %d stop-the-world pauses counted", pauses)
	}
	// Forced collections with nothing else running: the GC is most of the CPU.
	if histMax(d.pauses) <= 0 || d.cpuFraction <= 0 || d.cpuFraction > 1.5 {
		t.Errorf("max pause %v, GC cpu fraction %v", histMax(d.pauses), d.cpuFraction)
	}
}
