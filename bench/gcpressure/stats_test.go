package main

import (
	"math"
	"math/rand/v2"
	"runtime"
	"runtime/metrics"
	"slices"
	"testing"
	"time"
)

func TestLatBucketsCoverEveryValue(t *testing.T) {
	// Buckets are contiguous from 0 to MaxUint64.
	for i := 0; i < latBuckets; i++ {
		lo, hi := latBucketRange(i)
		if lo > hi {
			t.Fatalf("bucket %d: [%d, %d]", i, lo, hi)
		}
		if i == 0 && lo != 0 {
			t.Fatalf("bucket 0 starts at %d", lo)
		}
		if i > 0 {
			if _, prevHi := latBucketRange(i - 1); prevHi+1 != lo {
				t.Fatalf("gap before bucket %d: previous ends at %d, this starts at %d", i, prevHi, lo)
			}
		}
		if latBucket(lo) != i || latBucket(hi) != i {
			t.Fatalf("bucket %d [%d, %d]: ends map to %d and %d", i, lo, hi, latBucket(lo), latBucket(hi))
		}
		// Each bucket is at most 1/64 of its lower bound wide.
		if lo >= latSub && float64(hi-lo+1) > float64(lo)/latSub {
			t.Fatalf("bucket %d [%d, %d] too wide", i, lo, hi)
		}
	}
	if _, hi := latBucketRange(latBuckets - 1); hi != math.MaxUint64 {
		t.Fatalf("last bucket ends at %d", hi)
	}
}

// exactQuantile is the nearest-rank quantile of sorted values.
func exactQuantile(sorted []uint64, q float64) float64 {
	rank := int(math.Ceil(q * float64(len(sorted))))
	return float64(sorted[min(max(rank, 1), len(sorted))-1])
}

func TestLatHistQuantilesExactForSmallValues(t *testing.T) {
	var h latHist
	for v := uint64(100); v >= 1; v-- { // order must not matter
		h.Record(v)
	}
	for q, want := range map[float64]float64{0.01: 1, 0.5: 50, 0.9: 90, 0.99: 99, 0.999: 100, 1: 100} {
		if got := h.Quantile(q); got != want {
			t.Errorf("Quantile(%v) of 1..100 = %v, want %v", q, got, want)
		}
	}
	if h.Count() != 100 || h.min != 1 || h.max != 100 {
		t.Errorf("count %d, min %d, max %d", h.Count(), h.min, h.max)
	}
	var empty latHist
	if empty.Quantile(0.99) != 0 {
		t.Errorf("empty histogram quantile = %v", empty.Quantile(0.99))
	}
	var one latHist
	one.Record(123456)
	if got := one.Quantile(0.5); got != 123456 {
		t.Errorf("single value: Quantile = %v, want the value itself (clamped to min/max)", got)
	}
}

func TestLatHistQuantilesWithinResolution(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	var h latHist
	var vals []uint64
	for range 100000 {
		// Latency-like: mostly ~300ns-2µs, a tail to tens of ms.
		v := uint64(300 * math.Exp(rng.ExpFloat64()*1.5))
		vals = append(vals, v)
		h.Record(v)
	}
	slices.Sort(vals)
	for _, q := range []float64{0.5, 0.9, 0.99, 0.999, 0.9999} {
		want := exactQuantile(vals, q)
		got := h.Quantile(q)
		if math.Abs(got-want)/want > 1.0/128+1e-9 {
			t.Errorf("Quantile(%v) = %v, exact %v: beyond the 0.8%% resolution", q, got, want)
		}
	}
	if got := h.Quantile(1); got != float64(vals[len(vals)-1]) {
		t.Errorf("Quantile(1) = %v, want the exact max %d", got, vals[len(vals)-1])
	}
}

func TestLatWindowsRolling(t *testing.T) {
	w := newLatWindows(2)
	if q, n := w.Rotate(0.99); q != 0 || n != 0 {
		t.Fatalf("empty: %v, %d", q, n)
	}
	for v := uint64(1); v <= 100; v++ {
		w.Record(v)
	}
	q, n := w.Rotate(0.99) // window: {1..100}
	if n != 100 || q != 99 {
		t.Fatalf("after one interval: p99 %v of %d, want 99 of 100", q, n)
	}
	for range 100 {
		w.Record(10)
	}
	q, n = w.Rotate(0.5) // window: {1..100} and 100 x 10
	if n != 200 || q != 10 {
		t.Fatalf("after two intervals: p50 %v of %d, want 10 of 200", q, n)
	}
	q, n = w.Rotate(0.5) // {1..100} left the window
	if n != 100 || q != 10 {
		t.Fatalf("after three intervals: p50 %v of %d, want 10 of 100", q, n)
	}
	if q, n = w.Rotate(0.5); q != 0 || n != 0 {
		t.Fatalf("after the window emptied: %v, %d", q, n)
	}
}

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
