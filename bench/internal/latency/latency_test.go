package latency

import (
	"math"
	"math/rand/v2"
	"slices"
	"testing"
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
	var h Hist
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
	var empty Hist
	if empty.Quantile(0.99) != 0 {
		t.Errorf("empty histogram quantile = %v", empty.Quantile(0.99))
	}
	var one Hist
	one.Record(123456)
	if got := one.Quantile(0.5); got != 123456 {
		t.Errorf("single value: Quantile = %v, want the value itself (clamped to min/max)", got)
	}
}

func TestLatHistQuantilesWithinResolution(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	var h Hist
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
	w := NewWindows(2)
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
