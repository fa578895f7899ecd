// stats.go turns a child's events and the parent's RSS samples into each
// mode's figures (release time, idle RSS, burst cost), and combines runs.
package main

import (
	"fmt"
	"math"

	"github.com/offheap/offheap/bench/internal/harness"
)

// sample is one RSS reading of a child, taken by the parent.
type sample = harness.Sample

// releaseMargin is the fraction of a burst that may stay resident for the
// memory to count as released: RSS <= baseline + floor + releaseMargin x
// (peak - floor), i.e. 95 % of the burst is back with the OS.
const releaseMargin = 0.05

// burstResult is one burst's figures.
type burstResult struct {
	Burst       int     `json:"burst"`
	BurstS      float64 `json:"burst_s"`      // allocating and writing the burst's buffers
	Buffers     int64   `json:"buffers"`      // buffers allocated by the burst
	BurstMinflt int64   `json:"burst_minflt"` // minor page faults during the burst
	FreeS       float64 `json:"free_s"`       // freeing down to the floor (native-gc / -freeosmemory: with the GC call)
	ReleaseS    float64 `json:"release_s"`    // end of the free until RSS <= threshold; -1 = not within the idle window
	IdleRSS     int64   `json:"idle_rss"`     // median RSS over the idle window (end of free to end of idle)
	IdleEndRSS  int64   `json:"idle_end_rss"` // the idle window's last sample
	BurstPurges int64   `json:"burst_purges"` // offheap decommits during the burst (-1: not offheap)
	IdlePurges  int64   `json:"idle_purges"`  // offheap decommits from the end of the burst to the end of the idle window
	IdleCPUS    float64 `json:"idle_cpu_s"`   // CPU the process spent while idle (background purging, scavenging)
	IdleSamples int     `json:"idle_samples"` // samples in the idle window
}

// steadyResult is the figures of -pattern steady (after the warm-up).
type steadyResult struct {
	FillS        float64 `json:"fill_s"`
	ChurnS       float64 `json:"churn_s"`           // wall time after the warm-up
	Rounds       int64   `json:"rounds"`            // after the warm-up
	Replaced     int64   `json:"replaced"`          // buffers freed and allocated anew after the warm-up
	NsPerBuffer  float64 `json:"ns_per_buffer"`     // time in frees and allocations (gaps excluded) per replaced buffer
	Minflt       int64   `json:"minflt"`            // minor page faults after the warm-up
	FaultsPerBuf float64 `json:"faults_per_buffer"` // Minflt / Replaced
	Purges       int64   `json:"purges"`            // offheap decommits after the warm-up (-1: not offheap)
	Decommitted  int64   `json:"decommitted"`       // bytes offheap decommitted after the warm-up, purges and in place (-1: not offheap)
	CPUS         float64 `json:"cpu_s"`             // CPU after the warm-up, all threads
	RSSMedian    int64   `json:"rss_median"`        // median RSS after the warm-up
	RSSMax       int64   `json:"rss_max"`
}

// modeResult is one mode's figures (one run, or the medians of several).
type modeResult struct {
	Mode        string        `json:"mode"`
	Info        string        `json:"info"`
	Runs        int           `json:"runs"`
	BaselineRSS int64         `json:"baseline_rss"` // median RSS over the quiet window before the first burst
	Threshold   int64         `json:"threshold_rss"`
	PeakRSS     int64         `json:"peak_rss"` // VmHWM of the child
	CPUS        float64       `json:"cpu_s"`    // the child's CPU from ready to done
	Bursts      []burstResult `json:"bursts,omitempty"`
	// SecondFirst is the second burst's time per buffer over the first's.
	SecondFirst float64       `json:"second_first_ratio,omitempty"`
	Steady      *steadyResult `json:"steady,omitempty"`
}

// alignEvents sets each event's At (parent clock) from the child's own
// timestamps: the offset between the clocks is the smallest delay seen
// between an event's child time and the parent's reading of it.
func alignEvents(evs []event, recv []float64) {
	off := math.Inf(1)
	for i, e := range evs {
		off = math.Min(off, recv[i]-e.T)
	}
	for i := range evs {
		evs[i].At = evs[i].T + off
	}
}

func findEvent(evs []event, name string, burst int) *event {
	for i := range evs {
		if evs[i].Event == name && evs[i].Burst == burst {
			return &evs[i]
		}
	}
	return nil
}

// window returns the RSS of the samples with from <= T <= to.
func window(ss []sample, from, to float64) []int64 {
	var v []int64
	for _, s := range ss {
		if s.T >= from && s.T <= to {
			v = append(v, s.RSS)
		}
	}
	return v
}

func median64(v []int64) int64    { return harness.Median(v) }
func medianF(v []float64) float64 { return harness.Median(v) }

// baseline is the median RSS of the quiet window [from, to]; if no sample
// fell in it, the last sample before to.
func baseline(ss []sample, from, to float64) (int64, error) {
	if v := window(ss, from, to); len(v) > 0 {
		return median64(v), nil
	}
	var last *sample
	for i := range ss {
		if ss[i].T <= to {
			last = &ss[i]
		}
	}
	if last == nil {
		return 0, fmt.Errorf("no RSS sample before the first burst")
	}
	return last.RSS, nil
}

// releaseTime is the time from t0 to the first sample at or after t0 (and
// not after end) with RSS <= threshold; -1 if none.
func releaseTime(ss []sample, t0, end float64, threshold int64) float64 {
	for _, s := range ss {
		if s.T >= t0 && s.T <= end && s.RSS <= threshold {
			return s.T - t0
		}
	}
	return -1
}

// countDelta is how much an offheap counter grew from a to b; -1 when the
// allocator does not count it (-1 in either event).
func countDelta(a, b int64) int64 {
	if a < 0 || b < 0 {
		return -1
	}
	return b - a
}

// analyze turns one child's events and samples into its figures.
func analyze(cfg config, mode string, evs []event, ss []sample) (*modeResult, error) {
	ready, done := findEvent(evs, "ready", 0), findEvent(evs, "done", 0)
	if ready == nil || done == nil {
		return nil, fmt.Errorf("the child's output lacks a ready or done event")
	}
	r := &modeResult{Mode: mode, Info: ready.Info, Runs: 1, PeakRSS: done.PeakRSS, CPUS: done.CPUS - ready.CPUS}
	first := "burst_start"
	firstBurst := 1
	if cfg.Pattern == "steady" {
		first, firstBurst = "fill_start", 0
	}
	fs := findEvent(evs, first, firstBurst)
	if fs == nil {
		return nil, fmt.Errorf("no %s event", first)
	}
	var err error
	if r.BaselineRSS, err = baseline(ss, ready.At, fs.At); err != nil {
		return nil, err
	}
	if cfg.Pattern == "steady" {
		return r, analyzeSteady(r, evs, ss)
	}
	r.Threshold = r.BaselineRSS + cfg.Floor + int64(releaseMargin*float64(cfg.Peak-cfg.Floor))
	for b := 1; b <= cfg.Bursts; b++ {
		bs, be := findEvent(evs, "burst_start", b), findEvent(evs, "burst_end", b)
		fe, ie := findEvent(evs, "free_end", b), findEvent(evs, "idle_end", b)
		if bs == nil || be == nil || fe == nil || ie == nil {
			return nil, fmt.Errorf("burst %d: missing events", b)
		}
		idle := window(ss, fe.At, ie.At)
		br := burstResult{
			Burst:       b,
			BurstS:      be.DurS,
			Buffers:     be.Buffers,
			BurstMinflt: be.Minflt - bs.Minflt,
			FreeS:       fe.DurS,
			ReleaseS:    releaseTime(ss, fe.At, ie.At, r.Threshold),
			IdleRSS:     median64(idle),
			IdleSamples: len(idle),
			BurstPurges: countDelta(bs.Purges, be.Purges),
			IdlePurges:  countDelta(be.Purges, ie.Purges),
			IdleCPUS:    ie.CPUS - fe.CPUS,
		}
		if len(idle) > 0 {
			br.IdleEndRSS = idle[len(idle)-1]
		}
		r.Bursts = append(r.Bursts, br)
	}
	r.SecondFirst = secondFirst(r.Bursts)
	return r, nil
}

// secondFirst is burst 2's time per buffer over burst 1's (0 with one burst).
func secondFirst(bs []burstResult) float64 {
	if len(bs) < 2 || bs[0].Buffers == 0 || bs[1].Buffers == 0 || bs[0].BurstS <= 0 {
		return 0
	}
	return (bs[1].BurstS / float64(bs[1].Buffers)) / (bs[0].BurstS / float64(bs[0].Buffers))
}

func analyzeSteady(r *modeResult, evs []event, ss []sample) error {
	fe, we, ce := findEvent(evs, "fill_end", 0), findEvent(evs, "warm_end", 0), findEvent(evs, "churn_end", 0)
	if fe == nil || we == nil || ce == nil {
		return fmt.Errorf("steady: missing fill_end, warm_end or churn_end")
	}
	st := &steadyResult{
		FillS:       fe.DurS,
		ChurnS:      ce.At - we.At,
		Rounds:      ce.Rounds - we.Rounds,
		Replaced:    ce.Replaced - we.Replaced,
		Minflt:      ce.Minflt - we.Minflt,
		Purges:      countDelta(we.Purges, ce.Purges),
		Decommitted: countDelta(we.Decommitted, ce.Decommitted),
		CPUS:        ce.CPUS - we.CPUS,
	}
	if st.Replaced > 0 {
		st.NsPerBuffer = (ce.BusyS - we.BusyS) * 1e9 / float64(st.Replaced)
		st.FaultsPerBuf = float64(st.Minflt) / float64(st.Replaced)
	}
	v := window(ss, we.At, ce.At)
	st.RSSMedian = median64(v)
	for _, x := range v {
		st.RSSMax = max(st.RSSMax, x)
	}
	r.Steady = st
	return nil
}

// medianResult combines several runs of one mode: every figure is the median
// of the runs' (a release that never happened counts as infinitely late, so
// the median is "never" when most runs never released).
func medianResult(runs []*modeResult) *modeResult {
	if len(runs) == 1 {
		return runs[0]
	}
	m := harness.MedianFields(runs)
	m.Runs, m.Bursts, m.Steady = len(runs), nil, nil
	nb := len(runs[0].Bursts)
	for _, r := range runs {
		nb = min(nb, len(r.Bursts))
	}
	for b := 0; b < nb; b++ {
		bursts := make([]*burstResult, len(runs))
		release := make([]float64, len(runs))
		for i, r := range runs {
			bursts[i], release[i] = &r.Bursts[b], r.Bursts[b].ReleaseS
			if release[i] < 0 {
				release[i] = math.Inf(1)
			}
		}
		br := harness.MedianFields(bursts)
		br.Burst, br.ReleaseS = b+1, medianF(release)
		if math.IsInf(br.ReleaseS, 1) {
			br.ReleaseS = -1
		}
		m.Bursts = append(m.Bursts, br)
	}
	steady := make([]*steadyResult, len(runs))
	for i, r := range runs {
		if steady[i] = r.Steady; r.Steady == nil {
			return &m
		}
	}
	st := harness.MedianFields(steady)
	m.Steady = &st
	return &m
}
