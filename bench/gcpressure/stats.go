package main

import (
	"math"
	"math/bits"
	"runtime/metrics"
	"sync/atomic"
)

// ---- latency histogram -------------------------------------------------------

// Request latencies are counted in a log-linear histogram rather than stored:
// a run serves tens of millions of requests, and a slice of them would itself
// be a growing Go heap object that distorts every mode's RSS and GC figures.
// Values below 64 ns are exact; above, each power of two is split into 64
// buckets, so a reported value (the bucket's midpoint) is within 0.8 %.
const (
	latSubBits = 6
	latSub     = 1 << latSubBits
	latBuckets = latSub + (64-latSubBits)*latSub
)

func latBucket(v uint64) int {
	if v < latSub {
		return int(v)
	}
	shift := bits.Len64(v) - 1 - latSubBits
	return latSub + shift*latSub + int((v>>uint(shift))&(latSub-1))
}

// latBucketRange returns the smallest and largest value counted in bucket i.
func latBucketRange(i int) (lo, hi uint64) {
	if i < latSub {
		return uint64(i), uint64(i)
	}
	shift := uint((i - latSub) / latSub)
	sub := uint64((i - latSub) % latSub)
	lo = (latSub + sub) << shift
	return lo, lo + (1 << shift) - 1
}

// latHist is a latency histogram owned by one goroutine.
type latHist struct {
	counts   [latBuckets]uint64
	n        uint64
	min, max uint64
}

func (h *latHist) Record(v uint64) {
	h.counts[latBucket(v)]++
	if h.n == 0 || v < h.min {
		h.min = v
	}
	if v > h.max {
		h.max = v
	}
	h.n++
}

func (h *latHist) Count() uint64 { return h.n }

// Quantile returns the nearest-rank q-quantile (0 < q <= 1): the smallest
// recorded value with at least q of the values at or below it, to the
// histogram's resolution, clamped to the exact min and max. 0 when empty.
func (h *latHist) Quantile(q float64) float64 {
	if h.n == 0 {
		return 0
	}
	v := quantileOfCounts(h.counts[:], h.n, q)
	return math.Min(math.Max(v, float64(h.min)), float64(h.max))
}

// quantileOfCounts walks latency bucket counts (total n) to the bucket holding
// the nearest-rank q-quantile and returns that bucket's midpoint.
func quantileOfCounts(counts []uint64, n uint64, q float64) float64 {
	rank := uint64(math.Ceil(q * float64(n)))
	rank = min(max(rank, 1), n)
	var cum uint64
	for i, c := range counts {
		cum += c
		if cum >= rank {
			lo, hi := latBucketRange(i)
			return float64(lo) + float64(hi-lo)/2
		}
	}
	return 0 // unreachable when n is the sum of counts
}

// latWindows is the rolling-window histogram behind the chart's latency line:
// a ring of sub-windows, one per sample interval. The request goroutine counts
// into the current one with atomic adds; the sampler rotates the ring and reads
// the completed sub-windows (the last `span` intervals) for a rolling quantile.
type latWindows struct {
	cur  atomic.Int32
	ring [][latBuckets]atomic.Uint64
	span int
}

func newLatWindows(span int) *latWindows {
	return &latWindows{ring: make([][latBuckets]atomic.Uint64, span+1), span: span}
}

func (w *latWindows) Record(v uint64) {
	w.ring[w.cur.Load()][latBucket(v)].Add(1)
}

// Rotate starts a new sub-window and returns the q-quantile and the count of
// the requests completed in the last span sub-windows (0, 0 when none).
func (w *latWindows) Rotate(q float64) (float64, uint64) {
	next := (int(w.cur.Load()) + 1) % len(w.ring)
	// next holds the oldest sub-window, which leaves the rolling window now.
	for i := range w.ring[next] {
		w.ring[next][i].Store(0)
	}
	w.cur.Store(int32(next))
	var merged [latBuckets]uint64
	var n uint64
	for k := range w.ring {
		if k == next {
			continue
		}
		for i := range w.ring[k] {
			c := w.ring[k][i].Load()
			merged[i] += c
			n += c
		}
	}
	if n == 0 {
		return 0, 0
	}
	return quantileOfCounts(merged[:], n, q), n
}

// ---- runtime/metrics ---------------------------------------------------------

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
