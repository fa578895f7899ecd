// stats.go reads the collector's work from runtime/metrics: cycles, the GC's
// share of the CPU, and pause quantiles between two snapshots of a run.
package main

import (
	"math"
	"runtime/metrics"
)

const (
	mGCCycles = "/gc/cycles/total:gc-cycles"
	mPauses   = "/sched/pauses/total/gc:seconds"
	mGCCPU    = "/cpu/classes/gc/total:cpu-seconds"
)

// gcSnapshot is the GC state at one instant; a run reports the difference of
// two snapshots.
type gcSnapshot struct {
	cycles uint64
	pauses *metrics.Float64Histogram
	gcCPU  float64
}

func readGC() gcSnapshot {
	s := []metrics.Sample{{Name: mGCCycles}, {Name: mPauses}, {Name: mGCCPU}}
	metrics.Read(s)
	return gcSnapshot{
		cycles: s[0].Value.Uint64(),
		pauses: s[1].Value.Float64Histogram(),
		gcCPU:  s[2].Value.Float64(),
	}
}

// gcDelta is what happened to the collector between two snapshots.
type gcDelta struct {
	cycles      uint64
	cpuFraction float64 // GC CPU / all CPU available to the Go runtime
	pauses      *metrics.Float64Histogram
}

// diffGC returns the collector's work between snapshots a and b, which were
// taken available CPU-seconds apart: GOMAXPROCS x the wall time between them.
//
// That product is what /cpu/classes/total:cpu-seconds measures, but the
// runtime refreshes its /cpu/classes figures only at a collection's
// stop-the-world, so reading that metric would give the total up to the last
// GC, not up to now (and nothing at all for a run without a GC). The GC CPU
// figure has the same staleness but no bias: the GC uses CPU only during
// cycles, and each cycle's CPU is added when it ends; only a cycle still
// running at b is missed.
func diffGC(a, b gcSnapshot, available float64) gcDelta {
	d := gcDelta{cycles: b.cycles - a.cycles, pauses: histDelta(a.pauses, b.pauses)}
	if available > 0 {
		d.cpuFraction = (b.gcCPU - a.gcCPU) / available
	}
	return d
}

// histDelta returns b - a for two readings of one cumulative histogram.
func histDelta(a, b *metrics.Float64Histogram) *metrics.Float64Histogram {
	d := &metrics.Float64Histogram{Buckets: b.Buckets, Counts: make([]uint64, len(b.Counts))}
	for i := range b.Counts {
		d.Counts[i] = b.Counts[i]
		if a != nil && i < len(a.Counts) {
			d.Counts[i] -= a.Counts[i]
		}
	}
	return d
}

// histQuantile returns the nearest-rank q-quantile of a runtime/metrics
// histogram as the upper boundary of the bucket that holds it (the runtime's
// time buckets are a few percent wide, so this overstates by at most that);
// the lower boundary when the bucket is open-ended above. 0 when empty.
func histQuantile(h *metrics.Float64Histogram, q float64) float64 {
	var n uint64
	for _, c := range h.Counts {
		n += c
	}
	if n == 0 {
		return 0
	}
	rank := uint64(math.Ceil(q * float64(n)))
	rank = min(max(rank, 1), n)
	var cum uint64
	for i, c := range h.Counts {
		cum += c
		if cum >= rank {
			return bucketBound(h, i)
		}
	}
	return 0
}

// histMax returns the upper boundary of the highest non-empty bucket
// (the lower boundary when that is +Inf). 0 when empty.
func histMax(h *metrics.Float64Histogram) float64 {
	for i := len(h.Counts) - 1; i >= 0; i-- {
		if h.Counts[i] > 0 {
			return bucketBound(h, i)
		}
	}
	return 0
}

func bucketBound(h *metrics.Float64Histogram, i int) float64 {
	if hi := h.Buckets[i+1]; !math.IsInf(hi, 1) {
		return hi
	}
	if lo := h.Buckets[i]; !math.IsInf(lo, -1) {
		return lo
	}
	return 0
}
