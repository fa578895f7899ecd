// report.go prints gcpressure's results: the table of figures, their ratios
// to native, the notes, and the -json document.
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

// figure is one compared column: its JSON name, its table heading, how to
// read it from a result and how to print it.
type figure struct {
	key     string
	heading string
	get     func(*modeResult) float64
	format  func(float64) string
}

var figures = []figure{
	{"wall_s", "wall", func(r *modeResult) float64 { return r.WallS }, report.Seconds},
	{"cpu_s", "cpu", func(r *modeResult) float64 { return r.CPUS }, report.Seconds},
	{"gc_cycles", "GCs", func(r *modeResult) float64 { return float64(r.GCCycles) }, func(v float64) string { return fmt.Sprintf("%.0f", v) }},
	{"gc_cpu_fraction", "GC cpu", func(r *modeResult) float64 { return r.GCCPUFraction }, func(v float64) string { return fmt.Sprintf("%.1f%%", 100*v) }},
	{"pause_p50_us", "pause p50", func(r *modeResult) float64 { return r.PauseP50us }, func(v float64) string { return report.Ns(v * 1e3) }},
	{"pause_p99_us", "pause p99", func(r *modeResult) float64 { return r.PauseP99us }, func(v float64) string { return report.Ns(v * 1e3) }},
	{"pause_max_us", "pause max", func(r *modeResult) float64 { return r.PauseMaxus }, func(v float64) string { return report.Ns(v * 1e3) }},
	{"req_p50_ns", "req p50", func(r *modeResult) float64 { return r.ReqP50ns }, report.Ns},
	{"req_p99_ns", "req p99", func(r *modeResult) float64 { return r.ReqP99ns }, report.Ns},
	{"req_p999_ns", "req p99.9", func(r *modeResult) float64 { return r.ReqP999ns }, report.Ns},
	{"peak_rss_bytes", "peak RSS", func(r *modeResult) float64 { return float64(r.PeakRSSBytes) }, units.HumanBytes},
}

// ModeName is the result's mode, for report.Find.
func (r *modeResult) ModeName() string { return r.Mode }

// fillRatios sets every result's VsNative from the native result, if any.
func fillRatios(results []*modeResult) {
	base := report.Find(results, "native")
	if base == nil {
		return
	}
	for _, r := range results {
		r.VsNative = map[string]float64{}
		for _, f := range figures {
			if b := f.get(base); b > 0 {
				r.VsNative[f.key] = f.get(r) / b
			}
		}
	}
}

// writeTable prints the results, then their ratios to native.
func writeTable(w io.Writer, cfg config, results []*modeResult) {
	fmt.Fprintln(w, describeRun(cfg, results))
	fmt.Fprintln(w)
	var heads []string
	for _, f := range figures {
		heads = append(heads, f.heading)
	}
	tab := harness.NewTable(append(append([]string{"mode"}, heads...), "RSS/live", "req/s")...)
	for _, r := range results {
		cells := []string{r.Mode}
		for _, f := range figures {
			cells = append(cells, f.format(f.get(r)))
		}
		tab.Row(append(cells, fmt.Sprintf("%.2f", float64(r.PeakRSSBytes)/float64(max(r.LiveBytes, 1))),
			report.Count(int64(reqRate(r))))...)
	}
	tab.Write(w)

	if base := report.Find(results, "native"); base != nil && len(results) > 1 {
		fmt.Fprintln(w)
		fmt.Fprintln(w, "ratio to native (lower is better, except req/s):")
		tab = harness.NewTable(append(append([]string{"mode"}, heads...), "req/s")...)
		for _, r := range results {
			cells := []string{r.Mode}
			for _, f := range figures {
				if v, ok := r.VsNative[f.key]; ok {
					cells = append(cells, report.Ratio(v))
				} else {
					cells = append(cells, "-")
				}
			}
			if b := reqRate(base); b > 0 {
				cells = append(cells, report.Ratio(reqRate(r)/b))
			} else {
				cells = append(cells, "-")
			}
			tab.Row(cells...)
		}
		tab.Write(w)
	}
	fmt.Fprintln(w)
	fmt.Fprintln(w, "wall, cpu: the fill and the churn, in the child (cpu: getrusage, all threads). GCs, GC cpu (share of")
	fmt.Fprintln(w, "all CPU available to Go), pauses (stop-the-world; histogram bucket upper bounds): runtime/metrics.")
	fmt.Fprintln(w, "req: latency of each small request of a closed loop running alongside; req/s: how many it served.")
	fmt.Fprintln(w, "peak RSS: VmHWM of the child. RSS/live: peak RSS / bytes of buffers held.")
	if report.Find(results, "native-memlimit") != nil {
		fmt.Fprintf(w, "native-memlimit: GOMEMLIMIT %s (1.5 x -live), GOGC as for every mode.\n", units.FormatSize(memLimit(cfg)))
	}
	if report.Find(results, "native-gogc400") != nil || report.Find(results, "offheap-gogc400") != nil {
		fmt.Fprintf(w, "*-gogc%d: GOGC=%d (debug.SetGCPercent) for that mode alone: fewer GC cycles, a heap target %dx the live Go heap.\n",
			pairGOGC, pairGOGC, 1+pairGOGC/100)
	}
}

// reqRate is the request loop's throughput over the measured wall time.
func reqRate(r *modeResult) float64 {
	if r.WallS <= 0 {
		return 0
	}
	return float64(r.Requests) / r.WallS
}

// describeRun is the table's first line: what was run, where.
func describeRun(cfg config, results []*modeResult) string {
	var b strings.Builder
	fmt.Fprintf(&b, "gcpressure: live %s of %s buffers, churn %s%% per round, ",
		units.FormatSize(cfg.Live), cfg.Size, report.TrimFloat(cfg.Churn))
	if cfg.Duration > 0 {
		fmt.Fprintf(&b, "churn for %v", cfg.Duration)
	} else {
		fmt.Fprintf(&b, "%d rounds", cfg.Rounds)
	}
	procs := runtime.GOMAXPROCS(0)
	if len(results) > 0 {
		procs = results[0].GoMaxProc
	}
	fmt.Fprintf(&b, ", seed %d; %s, GOMAXPROCS %d", cfg.Seed, runtime.Version(), procs)
	return b.String() + report.Env(" from the environment", "GOGC", "GOMEMLIMIT", "GODEBUG")
}

// writeJSON writes the results as a JSON array, one object per mode.
func writeJSON(w io.Writer, results []*modeResult) error {
	if results == nil {
		results = []*modeResult{}
	}
	return harness.WriteJSON(w, results)
}
