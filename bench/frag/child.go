// child.go is a Go mode's side of frag: the allocators under test behind one
// interface, the messages a child sends (a line per measured step, then its
// result; the C harness writes the same), and the dispatch to a workload.
package main

import (
	"fmt"
	"io"
	"runtime/debug"
	"time"

	"github.com/offheap/offheap/bench/internal/allocs"
	"github.com/offheap/offheap/bench/internal/harness"
	"github.com/offheap/offheap/go/offheap"
)

// message is one line of a child's output.
type message struct {
	Step   *step   `json:"step,omitempty"`
	Result *result `json:"result,omitempty"`
}

// step is one measured point of a workload.
type step struct {
	Name   string  `json:"name"`
	T      float64 `json:"t"`      // seconds since the workload started
	RSS    int64   `json:"rss"`    // VmRSS, bytes
	Live   int64   `json:"live"`   // bytes of live buffers / values (requested sizes)
	Ops    int64   `json:"ops"`    // allocations + frees (cache: operations) so far
	BusyS  float64 `json:"busy_s"` // time in the workload's operations so far (waits excluded)
	Purges int64   `json:"purges"` // offheap's decommits by the purge policy so far; -1 for other allocators
	// DecommittedBytes is offheap's cumulative decommitted bytes (purges and
	// scavenges); -1 for other allocators.
	DecommittedBytes int64 `json:"decommitted_bytes"`
}

// result is a child's summary, sent last.
type result struct {
	Workload  string  `json:"workload"`
	Mode      string  `json:"mode"`
	Info      string  `json:"info"`
	BaseRSS   int64   `json:"base_rss"` // RSS before the workload: runtime, allocator set-up, buffer table
	PeakRSS   int64   `json:"peak_rss"` // VmHWM
	Ops       int64   `json:"ops"`
	BusyS     float64 `json:"busy_s"`
	OpsPerS   float64 `json:"ops_per_s"`
	OpP99ns   float64 `json:"op_p99_ns,omitempty"` // phase: p99 of one Alloc or Free call of the fill and free steps
	CPUS      float64 `json:"cpu_s"`
	Values    int64   `json:"values,omitempty"` // cache: values held at the end
	Hits      int64   `json:"hits,omitempty"`
	Misses    int64   `json:"misses,omitempty"`
	Evictions int64   `json:"evictions,omitempty"`
	Updates   int64   `json:"updates,omitempty"`
	VerifiedB int64   `json:"verified_bytes,omitempty"` // cache: bytes read back and checked
	MemLimit  int64   `json:"memlimit,omitempty"`       // native-memlimit's GOMEMLIMIT
	Steps     []step  `json:"steps"`
	WallS     float64 `json:"wall_s"`
}

// allocator is how a mode obtains and releases buffers.
type allocator = allocs.Allocator

func newAllocator(c childConfig, peakLive int64) (allocator, error) {
	switch c.Mode {
	case "native":
		return allocs.Native{}, nil
	case "native-memlimit":
		lim := int64(c.MemLimit * float64(peakLive))
		debug.SetMemoryLimit(lim)
		return allocs.Native{Limit: lim}, nil
	case "offheap":
		return allocs.Offheap{}, nil
	case "offheap-slab":
		s, err := offheap.NewSlab(offheap.SlabConfig{})
		if err != nil {
			return nil, err
		}
		return &allocs.Slab{S: s, Desc: "SlabConfig{}"}, nil
	case "offheap-bufferpool":
		return allocs.NewPools(), nil
	}
	return nil, fmt.Errorf("not a Go mode: %s", c.Mode)
}

// rng is splitmix64, written out so that the C harness (cfrag.c) draws the
// same numbers from the same seed: both sides free the same buffers.
type rng struct{ s uint64 }

func (r *rng) next() uint64 {
	r.s += 0x9e3779b97f4a7c15
	z := r.s
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9
	z = (z ^ (z >> 27)) * 0x94d049bb133111eb
	return z ^ (z >> 31)
}

// intn is in [0, n); the modulo bias is below 2^-40 for the n used here.
func (r *rng) intn(n int) int { return int(r.next() % uint64(n)) }

// float64 is in [0, 1).
func (r *rng) float64() float64 { return float64(r.next()>>11) / (1 << 53) }

// recorder measures a workload's steps and sends them to the parent.
type recorder struct {
	em     *harness.Emitter
	a      allocator
	start  time.Time
	cpu0   time.Duration
	steps  []step
	ops    int64
	busy   time.Duration
	live   int64
	mark   time.Time // start of the operations being timed
	timing bool
}

func newRecorder(em *harness.Emitter, a allocator) *recorder {
	return &recorder{em: em, a: a, start: time.Now(), cpu0: harness.CPUTime()}
}

// begin and end bracket timed operations (busy time, for ops/s).
func (r *recorder) begin() { r.mark, r.timing = time.Now(), true }
func (r *recorder) end() {
	if r.timing {
		r.busy += time.Since(r.mark)
		r.timing = false
	}
}

// step records the state now under name.
func (r *recorder) step(name string) step {
	p, d := r.a.Decommits()
	s := step{Name: name, T: time.Since(r.start).Seconds(), RSS: harness.SelfRSS(), Live: r.live, Ops: r.ops,
		BusyS: r.busy.Seconds(), Purges: p, DecommittedBytes: d}
	r.steps = append(r.steps, s)
	r.em.Emit(message{Step: &s})
	return s
}

func (r *recorder) result(c childConfig, base int64) *result {
	res := &result{Workload: c.Workload, Mode: c.Mode, Info: r.a.Info(), BaseRSS: base, PeakRSS: harness.PeakRSS(),
		Ops: r.ops, BusyS: r.busy.Seconds(), CPUS: (harness.CPUTime() - r.cpu0).Seconds(), Steps: r.steps,
		WallS: time.Since(r.start).Seconds()}
	if res.BusyS > 0 {
		res.OpsPerS = float64(res.Ops) / res.BusyS
	}
	if nat, ok := r.a.(allocs.Native); ok {
		res.MemLimit = nat.Limit
	}
	return res
}

// runChild runs one workload in one Go mode and writes its messages to out.
func runChild(c childConfig, out io.Writer) error {
	em := harness.NewEmitter(out)
	var res *result
	var err error
	switch c.Workload {
	case "phase":
		res, err = runPhase(c, em)
	case "cache":
		res, err = runCache(c, em)
	case "pool":
		res, err = runPool(c, em)
	default:
		err = fmt.Errorf("unknown workload %q", c.Workload)
	}
	if err != nil {
		return fmt.Errorf("%s/%s: %v", c.Workload, c.Mode, err)
	}
	em.Emit(message{Result: res})
	return em.Err()
}
