// report.go prints burst's results: the table (burst or steady), its notes,
// and the -json document with every run's samples and events.
package main

import (
	"fmt"
	"io"
	"runtime"
	"strings"

	"github.com/offheap/offheap/bench/internal/harness"
	"github.com/offheap/offheap/bench/internal/report"
	"github.com/offheap/offheap/bench/internal/units"
)

// Targets of the issue, checked per mode in the table.
const (
	targetIdle        = 0.05 // RSS while idle <= baseline + floor + 5 % of the burst
	targetSecondFirst = 1.2  // the second burst no slower than 1.2 x the first
)

func fmtRelease(s float64) string {
	if s < 0 {
		return "never"
	}
	return report.Duration(s)
}

// decommitMiB is a byte count decommitted, in MiB; "-" for an allocator that
// does not count them.
func decommitMiB(n int64) string {
	if n < 0 {
		return "-"
	}
	return report.MiB(n, 1)
}

// idleExcess is the idle RSS above the baseline and the floor.
func idleExcess(cfg config, r *modeResult, b burstResult) int64 {
	return b.IdleRSS - r.BaselineRSS - cfg.Floor
}

// oneLine is the progress line printed when a mode finishes.
func oneLine(cfg config, r *modeResult) string {
	if r.Steady != nil {
		s := r.Steady
		return fmt.Sprintf("%.0f ns/buffer, %.2f faults/buffer, purges %s, decommitted %s MiB, RSS %s MiB", s.NsPerBuffer,
			s.FaultsPerBuf, report.Count(s.Purges), decommitMiB(s.Decommitted), report.MiB(s.RSSMedian, 1))
	}
	var parts []string
	for _, b := range r.Bursts {
		parts = append(parts, fmt.Sprintf("burst %d %s (%s faults), release %s, idle %s MiB", b.Burst, report.Duration(b.BurstS),
			report.Count(b.BurstMinflt), fmtRelease(b.ReleaseS), report.MiB(b.IdleRSS, 1)))
	}
	return strings.Join(parts, "; ")
}

// describeRun is the table's first line.
func describeRun(cfg config, cdir string) string {
	var b strings.Builder
	if cfg.Pattern == "steady" {
		fmt.Fprintf(&b, "burst -pattern steady: %s live of %s buffers, %s%% replaced per round (oldest first), gap %v, churn %v (first %v warm-up)",
			units.FormatSize(cfg.Peak), units.FormatSize(cfg.Size), report.TrimFloat(cfg.Churn), cfg.Gap, cfg.Duration, cfg.Warm)
	} else {
		fmt.Fprintf(&b, "burst: peak %s of %s buffers, floor %s (%s), %d bursts, idle %v after each free",
			units.FormatSize(cfg.Peak), units.FormatSize(cfg.Size), units.FormatSize(cfg.Floor), cfg.Keep, cfg.Bursts, cfg.Idle)
	}
	fmt.Fprintf(&b, "; purge delay %s; %s, GOMAXPROCS %d; runs %d (medians)", cfg.Delay, runtime.Version(), runtime.GOMAXPROCS(0), cfg.Runs)
	b.WriteString(report.Env("", "OFFHEAP_PURGE_DELAY_MS", "OFFHEAP_RETAIN_BYTES", "OFFHEAP_TCACHE_BYTES", "OFFHEAP_DECOMMIT",
		"GOGC", "GOMEMLIMIT", "GODEBUG", "MALLOC_CONF", "MIMALLOC_DECOMMIT_DELAY"))
	if cdir != "" {
		fmt.Fprintf(&b, "; C harness from %s", cdir)
	}
	return b.String()
}

// writeTable prints the results.
func writeTable(w io.Writer, cfg config, cdir string, results []*modeResult) {
	fmt.Fprintln(w, describeRun(cfg, cdir))
	fmt.Fprintln(w)
	if cfg.Pattern == "steady" {
		writeSteadyTable(w, results)
		return
	}
	two := cfg.Bursts >= 2
	heads := []string{"burst 1", "faults 1"}
	if two {
		heads = append(heads, "burst 2", "faults 2", "2nd/1st")
	}
	heads = append(heads, "release", "idle RSS", "over base", "% burst", "base", "peak RSS", "cpu", "idle<=5%")
	if two {
		heads = append(heads, "2nd<=1.2x")
	}
	tab := harness.NewTable(append([]string{"mode"}, heads...)...)
	burst := float64(cfg.Peak - cfg.Floor)
	for _, r := range results {
		b1 := r.Bursts[0]
		cells := []string{report.Duration(b1.BurstS), report.Count(b1.BurstMinflt)}
		if two {
			b2 := r.Bursts[1]
			cells = append(cells, report.Duration(b2.BurstS), report.Count(b2.BurstMinflt), fmt.Sprintf("%.2fx", r.SecondFirst))
		}
		ex := idleExcess(cfg, r, b1)
		cells = append(cells, fmtRelease(b1.ReleaseS), report.MiB(b1.IdleRSS, 1), report.MiB(ex, 1), fmt.Sprintf("%.1f%%", 100*float64(ex)/burst),
			report.MiB(r.BaselineRSS, 1), report.MiB(r.PeakRSS, 1), report.Duration(r.CPUS), report.YesNo(float64(ex) <= targetIdle*burst))
		if two {
			cells = append(cells, report.YesNo(r.SecondFirst <= targetSecondFirst))
		}
		tab.Row(append([]string{r.Mode}, cells...)...)
	}
	tab.Write(w)
	fmt.Fprintln(w)
	fmt.Fprintln(w, "burst N: allocating and writing the burst's buffers (child's clock); faults N: minor page faults meanwhile")
	fmt.Fprintln(w, "(getrusage). 2nd/1st: burst 2's time per buffer over burst 1's. release: from the end of the free")
	fmt.Fprintf(w, "until RSS <= base + floor + %.0f%% of the burst (-sample %v resolution; never = not within the idle\n", 100*releaseMargin, cfg.Sample)
	fmt.Fprintln(w, "window). idle RSS: median RSS (MiB) over the idle window after burst 1; over base: idle RSS - base - floor,")
	fmt.Fprintln(w, "also as % of the burst. base: median RSS before the first burst. peak RSS: VmHWM. cpu: the child's CPU")
	fmt.Fprintln(w, "from ready to done, all threads. Targets: idle RSS <= base + floor + 5% of the burst; 2nd/1st <= 1.2.")
	writeInfos(w, results)
}

func writeSteadyTable(w io.Writer, results []*modeResult) {
	tab := harness.NewTable("mode", "fill", "rounds", "replaced", "ns/buffer", "faults/buf", "purges", "decommit MiB", "cpu", "RSS med", "RSS max", "peak RSS")
	for _, r := range results {
		s := r.Steady
		tab.Row(r.Mode, report.Duration(s.FillS), report.Count(s.Rounds), report.Count(s.Replaced), fmt.Sprintf("%.0f", s.NsPerBuffer),
			fmt.Sprintf("%.3f", s.FaultsPerBuf), report.Count(s.Purges), decommitMiB(s.Decommitted), report.Duration(s.CPUS), report.MiB(s.RSSMedian, 1), report.MiB(s.RSSMax, 1), report.MiB(r.PeakRSS, 1))
	}
	tab.Write(w)
	fmt.Fprintln(w)
	fmt.Fprintln(w, "After the warm-up: rounds and buffers replaced; ns/buffer: time in frees and allocations (gaps excluded)")
	fmt.Fprintln(w, "per replaced buffer; faults/buf: minor page faults per replaced buffer; purges: offheap's purge passes")
	fmt.Fprintln(w, "that decommitted; decommit MiB: all offheap decommitted, in place too (a BufferPool's idle buffers;")
	fmt.Fprintln(w, "- for other allocators); cpu: all threads; RSS in MiB (median and max over the churn). peak: VmHWM.")
	writeInfos(w, results)
}

// writeInfos ends a table with what each mode's allocator was, as its child
// said.
func writeInfos(w io.Writer, results []*modeResult) {
	for _, r := range results {
		if r.Info != "" {
			fmt.Fprintf(w, "  %s: %s\n", r.Mode, r.Info)
		}
	}
}

// jsonOut is the -json document.
type jsonOut struct {
	Config  jsonConfig            `json:"config"`
	Results []*modeResult         `json:"results"` // medians over the runs
	Runs    map[string][]*jsonRun `json:"runs"`    // every run, with its samples and events
}

type jsonConfig struct {
	Pattern    string  `json:"pattern"`
	Peak       int64   `json:"peak"`
	Size       int64   `json:"size"`
	Floor      int64   `json:"floor"`
	Keep       string  `json:"keep"`
	Bursts     int     `json:"bursts"`
	IdleS      float64 `json:"idle_s"`
	PreS       float64 `json:"pre_s"`
	DurationS  float64 `json:"duration_s,omitempty"`
	WarmS      float64 `json:"warm_s,omitempty"`
	Churn      float64 `json:"churn_pct,omitempty"`
	GapS       float64 `json:"gap_s,omitempty"`
	PurgeDelay string  `json:"purge_delay"`
	SampleS    float64 `json:"sample_s"`
	Runs       int     `json:"runs"`
	GoVersion  string  `json:"go_version"`
}

type jsonRun struct {
	Result  *modeResult `json:"result,omitempty"`
	Error   string      `json:"error,omitempty"`
	Events  []jsonEvent `json:"events"`
	Samples []sample    `json:"samples"`
}

type jsonEvent struct {
	event
	At float64 `json:"at"`
}

func writeJSON(w io.Writer, cfg config, results []*modeResult, byMode map[string][]*modeRun) error {
	out := jsonOut{
		Config: jsonConfig{
			Pattern: cfg.Pattern, Peak: cfg.Peak, Size: cfg.Size, Floor: cfg.Floor, Keep: cfg.Keep, Bursts: cfg.Bursts,
			IdleS: cfg.Idle.Seconds(), PreS: cfg.Pre.Seconds(), PurgeDelay: cfg.Delay.String(), SampleS: cfg.Sample.Seconds(),
			Runs: cfg.Runs, GoVersion: runtime.Version(),
		},
		Results: results,
		Runs:    map[string][]*jsonRun{},
	}
	if cfg.Pattern == "steady" {
		out.Config.DurationS, out.Config.WarmS, out.Config.Churn, out.Config.GapS = cfg.Duration.Seconds(), cfg.Warm.Seconds(), cfg.Churn, cfg.Gap.Seconds()
	}
	if out.Results == nil {
		out.Results = []*modeResult{}
	}
	for m, runs := range byMode {
		for _, mr := range runs {
			jr := &jsonRun{Result: mr.result, Samples: mr.samples, Events: []jsonEvent{}}
			if mr.err != nil {
				jr.Error = mr.err.Error()
			}
			if jr.Samples == nil {
				jr.Samples = []sample{}
			}
			for _, e := range mr.events {
				jr.Events = append(jr.Events, jsonEvent{event: e, At: e.At})
			}
			out.Runs[m] = append(out.Runs[m], jr)
		}
	}
	return harness.WriteJSON(w, out)
}
