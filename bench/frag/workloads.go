// workloads.go holds frag's three workloads as a Go child runs them: the
// phase change, the variable-size cache with random eviction, and the
// BufferPool put back in random order. Each measures its steps through a
// recorder and checks every buffer it frees.
package main

import (
	"fmt"
	"math"
	"math/rand/v2"
	"runtime"
	"time"

	"github.com/offheap/offheap/bench/internal/harness"
	"github.com/offheap/offheap/bench/internal/latency"
	"github.com/offheap/offheap/bench/internal/stamp"
)

const (
	size16 = 16 << 10
	size48 = 48 << 10
)

// Phase-change step names, shared with the C harness and the report.
var phaseSteps = []string{"fill 16K", "free 75%", "fill 48K", "free to 10%", "idle", "scavenge"}

// buffers is a table of buffers stamped with their index (bench/internal/stamp):
// a free checks them, so a buffer overwritten while live is caught.
type buffers struct {
	r    *recorder
	a    allocator
	bufs [][]byte
	lat  latency.Hist // each Alloc and Free call, in ns (monotonic clock)
}

func (t *buffers) alloc(i, n int) {
	t0 := time.Now()
	b := t.a.Alloc(n)
	t.lat.Record(uint64(time.Since(t0)))
	stamp.Fill(b, uint64(i)^stamp.Key)
	t.bufs[i] = b
	t.r.live += int64(n)
	t.r.ops++
}

func (t *buffers) check(i int) error {
	if err := stamp.Check(t.bufs[i], uint64(i)^stamp.Key); err != nil {
		return fmt.Errorf("buffer %d changed while live: %v", i, err)
	}
	return nil
}

func (t *buffers) free(i int) error {
	if err := t.check(i); err != nil {
		return err
	}
	t.r.live -= int64(len(t.bufs[i]))
	t0 := time.Now()
	t.a.Free(t.bufs[i])
	t.lat.Record(uint64(time.Since(t0)))
	t.bufs[i] = nil
	t.r.ops++
	return nil
}

// freeAll checks and frees every buffer left (outside the measurement).
func (t *buffers) freeAll() error {
	for i := range t.bufs {
		if t.bufs[i] != nil {
			if err := t.free(i); err != nil {
				return err
			}
		}
	}
	return nil
}

// freeRandom frees k of the buffers at idx, chosen by a partial
// Fisher-Yates shuffle (the C harness draws the same).
func (t *buffers) freeRandom(rnd *rng, idx []int, k int) error {
	for j := 0; j < k; j++ {
		x := j + rnd.intn(len(idx)-j)
		idx[j], idx[x] = idx[x], idx[j]
		if err := t.free(idx[j]); err != nil {
			return err
		}
	}
	return nil
}

func newBuffers(c childConfig, peakLive int64, n int) (*buffers, allocator, int64, error) {
	a, err := newAllocator(c, peakLive)
	if err != nil {
		return nil, nil, 0, err
	}
	t := &buffers{a: a, bufs: make([][]byte, n)}
	runtime.GC()
	return t, a, harness.SelfRSS(), nil
}

// runPhase: fill -live of 16 KiB, free a random 75 %, fill -live of 48 KiB,
// free all but a random 10 %, wait, scavenge.
func runPhase(c childConfig, em *harness.Emitter) (*result, error) {
	n16, n48 := int(c.Live/size16), int(c.Live/size48)
	peakLive := int64(n16-n16*3/4)*size16 + int64(n48)*size48
	t, a, base, err := newBuffers(c, peakLive, n16+n48)
	if err != nil {
		return nil, err
	}
	for _, n := range []int{size16, size48} { // set the allocator up before the baseline
		a.Free(a.Alloc(n))
	}
	base = harness.SelfRSS()
	r := newRecorder(em, a)
	t.r = r
	rnd := &rng{s: c.Seed}
	r.step("start")

	r.begin()
	for i := 0; i < n16; i++ {
		t.alloc(i, size16)
	}
	r.end()
	r.step(phaseSteps[0])

	idx := make([]int, n16)
	for i := range idx {
		idx[i] = i
	}
	r.begin()
	if err := t.freeRandom(rnd, idx, n16*3/4); err != nil {
		return nil, err
	}
	r.end()
	r.step(phaseSteps[1])

	r.begin()
	for i := n16; i < n16+n48; i++ {
		t.alloc(i, size48)
	}
	r.end()
	r.step(phaseSteps[2])

	idx = idx[:0]
	for i := range t.bufs {
		if t.bufs[i] != nil {
			idx = append(idx, i)
		}
	}
	r.begin()
	if err := t.freeRandom(rnd, idx, len(idx)-len(idx)/10); err != nil {
		return nil, err
	}
	r.end()
	r.step(phaseSteps[3])

	time.Sleep(c.Wait)
	r.step(phaseSteps[4])
	a.Scavenge()
	r.step(phaseSteps[5])
	res := r.result(c, base)
	res.OpP99ns = t.lat.Quantile(0.99)
	return res, t.freeAll()
}

// runPool: take -pool of 16 KiB buffers, put 90 % back in random order, and
// read RSS every 100 ms for the wait (2 x the purge delay).
func runPool(c childConfig, em *harness.Emitter) (*result, error) {
	n := int(c.Pool / size16)
	t, a, _, err := newBuffers(c, int64(n)*size16, n)
	if err != nil {
		return nil, err
	}
	a.Free(a.Alloc(size16))
	base := harness.SelfRSS()
	r := newRecorder(em, a)
	t.r = r
	rnd := &rng{s: c.Seed}
	r.step("start")
	r.begin()
	for i := 0; i < n; i++ {
		t.alloc(i, size16)
	}
	r.end()
	r.step("taken")
	idx := make([]int, n)
	for i := range idx {
		idx[i] = i
	}
	r.begin()
	if err := t.freeRandom(rnd, idx, n-n/10); err != nil {
		return nil, err
	}
	r.end()
	t0 := time.Now()
	r.step("put back")
	for k := 1; time.Duration(k)*poolTick <= c.Wait; k++ {
		time.Sleep(time.Until(t0.Add(time.Duration(k) * poolTick)))
		r.step(poolStepName(k))
	}
	res := r.result(c, base)
	return res, t.freeAll()
}

const poolTick = 100 * time.Millisecond

func poolStepName(k int) string { return fmt.Sprintf("+%.1fs", float64(k)*poolTick.Seconds()) }

// ---- the cache ---------------------------------------------------------------

// Value sizes: log-normal with a 2 KiB median and sigma 1.5, clipped to
// 64 B - 256 KiB (mean about 6 KiB).
const (
	cacheMinVal  = 64
	cacheMaxVal  = 256 << 10
	cacheMedian  = 2048
	cacheSigma   = 1.5
	cacheZipfS   = 1.05 // key popularity
	cacheUpdate  = 0.1  // a hit rewrites the value (new size) this often
	keysPerValue = 4    // keys per value the capacity holds: most misses evict
	opsPerValue  = 30   // default operations per value the capacity holds: several purge delays of churn
)

func drawSize(rnd *rng) int {
	// Box-Muller from two uniforms in (0, 1].
	u1, u2 := 1-rnd.float64(), rnd.float64()
	z := math.Sqrt(-2*math.Log(u1)) * math.Cos(2*math.Pi*u2)
	v := math.Round(cacheMedian * math.Exp(cacheSigma*z))
	return int(min(max(v, cacheMinVal), cacheMaxVal))
}

// meanSize estimates the mean value size from a fixed sample.
func meanSize() float64 {
	rnd := &rng{s: 12345}
	sum := 0
	const n = 200000
	for i := 0; i < n; i++ {
		sum += drawSize(rnd)
	}
	return float64(sum) / n
}

// word is the 8-byte pattern of a value: every byte of it is derived from its
// key and version, so a value read back under the wrong key shows.
func word(key, ver uint32) uint64 {
	r := rng{s: uint64(key)<<32 | uint64(ver)}
	return r.next() | 1
}

type entry struct {
	key, ver uint32
	b        []byte
}

func runCache(c childConfig, em *harness.Emitter) (*result, error) {
	capacity := c.Live
	nvals := max(int(float64(capacity)/meanSize()), 16)
	nkeys := keysPerValue * nvals
	ops := c.CacheOps
	if ops == 0 {
		ops = int64(opsPerValue * nvals)
	}
	a, err := newAllocator(c, capacity+cacheMaxVal)
	if err != nil {
		return nil, err
	}
	where := make([]int32, nkeys) // key -> index in entries, -1 = absent
	for i := range where {
		where[i] = -1
	}
	// The table of values is written whole before the baseline, as the C
	// harness's is (cfrag/cache.c, map_table): its pages are the benchmark's,
	// not the allocator's under test (173 k entries of 32 B at 1 GiB).
	entries := make([]entry, nvals*2)
	clear(entries)
	entries = entries[:0]
	a.Free(a.Alloc(cacheMaxVal))
	runtime.GC()
	base := harness.SelfRSS()
	r := newRecorder(em, a)
	rnd := &rng{s: c.Seed}
	zipf := rand.NewZipf(rand.New(rand.NewPCG(c.Seed, 2)), cacheZipfS, 1, uint64(nkeys-1))
	var ver uint32
	res := &result{}
	newValue := func(key uint32) []byte {
		ver++
		b := a.Alloc(drawSize(rnd))
		stamp.Fill(b, word(key, ver))
		r.live += int64(len(b))
		return b
	}
	drop := func(e *entry) {
		r.live -= int64(len(e.b))
		a.Free(e.b)
		e.b = nil
	}
	full := false
	r.step("start")
	next := int64(1)
	r.begin()
	for op := int64(1); op <= ops; op++ {
		key := uint32(zipf.Uint64())
		if i := where[key]; i >= 0 {
			e := &entries[i]
			if !stamp.Verify(e.b, word(e.key, e.ver)) {
				return nil, fmt.Errorf("value of key %d (version %d, %d bytes) changed while cached", e.key, e.ver, len(e.b))
			}
			res.Hits++
			res.VerifiedB += int64(len(e.b))
			if rnd.float64() < cacheUpdate {
				drop(e)
				e.b = newValue(key)
				e.ver = ver
				res.Updates++
			}
		} else {
			res.Misses++
			where[key] = int32(len(entries))
			b := newValue(key)
			entries = append(entries, entry{key: key, ver: ver, b: b})
		}
		for r.live > capacity {
			i := rnd.intn(len(entries))
			drop(&entries[i])
			where[entries[i].key] = -1
			last := len(entries) - 1
			if i != last {
				entries[i] = entries[last]
				where[entries[i].key] = int32(i)
			}
			entries = entries[:last]
			res.Evictions++
		}
		r.ops++
		if !full && r.live+cacheMaxVal > capacity {
			full = true
			r.end()
			r.step("full")
			r.begin()
		}
		if op*10 >= next*ops {
			r.end()
			r.step(fmt.Sprintf("%d%%", next*10))
			next++
			r.begin()
		}
	}
	r.end()
	out := r.result(c, base)
	out.Hits, out.Misses, out.Updates, out.Evictions, out.VerifiedB = res.Hits, res.Misses, res.Updates, res.Evictions, res.VerifiedB
	out.Values = int64(len(entries))
	for i := range entries {
		if !stamp.Verify(entries[i].b, word(entries[i].key, entries[i].ver)) {
			return nil, fmt.Errorf("value of key %d changed while cached", entries[i].key)
		}
		drop(&entries[i])
	}
	return out, nil
}
