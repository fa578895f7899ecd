// Package latency counts latencies (nanoseconds) in a log-linear histogram
// and reads quantiles from it: gcpressure's request loop (the whole run, and
// a rolling window for its chart) and frag's per-operation alloc/free times.
// Stored latencies would themselves be a growing Go heap object that distorts
// the RSS and GC figures the commands measure; the histogram is fixed-size.
package latency

import (
	"math"
	"math/bits"
	"sync/atomic"
)

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

// Hist is a latency histogram owned by one goroutine.
type Hist struct {
	counts   [latBuckets]uint64
	n        uint64
	min, max uint64
}

func (h *Hist) Record(v uint64) {
	h.counts[latBucket(v)]++
	if h.n == 0 || v < h.min {
		h.min = v
	}
	if v > h.max {
		h.max = v
	}
	h.n++
}

func (h *Hist) Count() uint64 { return h.n }

// Max is the largest value recorded (0 when empty).
func (h *Hist) Max() uint64 { return h.max }

// Quantile returns the nearest-rank q-quantile (0 < q <= 1): the smallest
// recorded value with at least q of the values at or below it, to the
// histogram's resolution, clamped to the exact min and max. 0 when empty.
func (h *Hist) Quantile(q float64) float64 {
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

// Windows is the rolling-window histogram behind the chart's latency line:
// a ring of sub-windows, one per sample interval. The request goroutine counts
// into the current one with atomic adds; the sampler rotates the ring and reads
// the completed sub-windows (the last `span` intervals) for a rolling quantile.
type Windows struct {
	cur  atomic.Int32
	ring [][latBuckets]atomic.Uint64
	span int
}

func NewWindows(span int) *Windows {
	return &Windows{ring: make([][latBuckets]atomic.Uint64, span+1), span: span}
}

func (w *Windows) Record(v uint64) {
	w.ring[w.cur.Load()][latBucket(v)].Add(1)
}

// Rotate starts a new sub-window and returns the q-quantile and the count of
// the requests completed in the last span sub-windows (0, 0 when none).
func (w *Windows) Rotate(q float64) (float64, uint64) {
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
