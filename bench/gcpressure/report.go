package main

import (
	"encoding/json"
	"fmt"
	"io"
	"math"
	"os"
	"runtime"
	"strings"
	"text/tabwriter"
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
	{"wall_s", "wall", func(r *modeResult) float64 { return r.WallS }, fmtSeconds},
	{"cpu_s", "cpu", func(r *modeResult) float64 { return r.CPUS }, fmtSeconds},
	{"gc_cycles", "GCs", func(r *modeResult) float64 { return float64(r.GCCycles) }, func(v float64) string { return fmt.Sprintf("%.0f", v) }},
	{"gc_cpu_fraction", "GC cpu", func(r *modeResult) float64 { return r.GCCPUFraction }, func(v float64) string { return fmt.Sprintf("%.1f%%", 100*v) }},
	{"pause_p50_us", "pause p50", func(r *modeResult) float64 { return r.PauseP50us }, func(v float64) string { return fmtNs(v * 1e3) }},
	{"pause_p99_us", "pause p99", func(r *modeResult) float64 { return r.PauseP99us }, func(v float64) string { return fmtNs(v * 1e3) }},
	{"pause_max_us", "pause max", func(r *modeResult) float64 { return r.PauseMaxus }, func(v float64) string { return fmtNs(v * 1e3) }},
	{"req_p50_ns", "req p50", func(r *modeResult) float64 { return r.ReqP50ns }, fmtNs},
	{"req_p99_ns", "req p99", func(r *modeResult) float64 { return r.ReqP99ns }, fmtNs},
	{"req_p999_ns", "req p99.9", func(r *modeResult) float64 { return r.ReqP999ns }, fmtNs},
	{"peak_rss_bytes", "peak RSS", func(r *modeResult) float64 { return float64(r.PeakRSSBytes) }, humanBytes},
}

// fillRatios sets every result's VsNative from the native result, if any.
func fillRatios(results []*modeResult) {
	base := findMode(results, "native")
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

func findMode(results []*modeResult, name string) *modeResult {
	for _, r := range results {
		if r.Mode == name {
			return r
		}
	}
	return nil
}

// writeTable prints the results, then their ratios to native.
func writeTable(w io.Writer, cfg config, results []*modeResult) {
	fmt.Fprintln(w, describeRun(cfg, results))
	fmt.Fprintln(w)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	width := len("mode")
	for _, r := range results {
		width = max(width, len(r.Mode))
	}
	row := func(first string, cells []string) {
		fmt.Fprintf(tw, "%-*s\t%s\t\n", width, first, strings.Join(cells, "\t"))
	}
	var heads []string
	for _, f := range figures {
		heads = append(heads, f.heading)
	}
	row("mode", append(heads, "RSS/live", "req/s"))
	for _, r := range results {
		var cells []string
		for _, f := range figures {
			cells = append(cells, f.format(f.get(r)))
		}
		cells = append(cells, fmt.Sprintf("%.2f", float64(r.PeakRSSBytes)/float64(max(r.LiveBytes, 1))),
			fmtCount(uint64(reqRate(r))))
		row(r.Mode, cells)
	}
	tw.Flush()

	if base := findMode(results, "native"); base != nil && len(results) > 1 {
		fmt.Fprintln(w)
		fmt.Fprintln(w, "ratio to native (lower is better, except req/s):")
		tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
		row("mode", append(heads, "req/s"))
		for _, r := range results {
			var cells []string
			for _, f := range figures {
				if v, ok := r.VsNative[f.key]; ok {
					cells = append(cells, fmtRatio(v))
				} else {
					cells = append(cells, "-")
				}
			}
			if b := reqRate(base); b > 0 {
				cells = append(cells, fmtRatio(reqRate(r)/b))
			} else {
				cells = append(cells, "-")
			}
			row(r.Mode, cells)
		}
		tw.Flush()
	}
	fmt.Fprintln(w)
	fmt.Fprintln(w, "wall, cpu: the fill and the churn, in the child (cpu: getrusage, all threads). GCs, GC cpu (share of")
	fmt.Fprintln(w, "all CPU available to Go), pauses (stop-the-world; histogram bucket upper bounds): runtime/metrics.")
	fmt.Fprintln(w, "req: latency of each small request of a closed loop running alongside; req/s: how many it served.")
	fmt.Fprintln(w, "peak RSS: VmHWM of the child. RSS/live: peak RSS / bytes of buffers held.")
	if findMode(results, "native-memlimit") != nil {
		fmt.Fprintf(w, "native-memlimit: GOMEMLIMIT %s (1.5 x -live), GOGC as for every mode.\n", formatSize(memLimit(cfg)))
	}
	if findMode(results, "native-gogc400") != nil || findMode(results, "offheap-gogc400") != nil {
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
		formatSize(cfg.Live), cfg.Size, trimFloat(cfg.Churn))
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
	for _, env := range []string{"GOGC", "GOMEMLIMIT", "GODEBUG"} {
		if v := os.Getenv(env); v != "" {
			fmt.Fprintf(&b, ", %s=%s from the environment", env, v)
		}
	}
	return b.String()
}

func trimFloat(v float64) string { return strings.TrimSuffix(fmt.Sprintf("%g", v), ".0") }

// writeJSON writes the results as a JSON array, one object per mode.
func writeJSON(w io.Writer, results []*modeResult) error {
	if results == nil {
		results = []*modeResult{}
	}
	b, err := json.MarshalIndent(results, "", "  ")
	if err != nil {
		return err
	}
	_, err = w.Write(append(b, '\n'))
	return err
}

// fmtRatio prints a ratio with two decimals, or two significant digits
// when it is that small (0.0048x rather than 0.00x).
func fmtRatio(v float64) string {
	switch {
	case v == 0:
		return "0x"
	case v < 0.01:
		return fmt.Sprintf("%.2gx", v)
	case v >= 100:
		return fmt.Sprintf("%.0fx", v)
	}
	return fmt.Sprintf("%.2fx", v)
}

func fmtSeconds(v float64) string {
	if v < 10 {
		return fmt.Sprintf("%.2fs", v)
	}
	return fmt.Sprintf("%.1fs", v)
}

// fmtNs renders nanoseconds with a unit and 3 significant digits.
func fmtNs(ns float64) string {
	switch a := math.Abs(ns); {
	case a == 0:
		return "0"
	case a < 1e3:
		return fmt.Sprintf("%.0fns", ns)
	case a < 1e6:
		return sig3(ns/1e3) + "µs"
	case a < 1e9:
		return sig3(ns/1e6) + "ms"
	}
	return sig3(ns/1e9) + "s"
}

func sig3(v float64) string {
	switch a := math.Abs(v); {
	case a >= 100:
		return fmt.Sprintf("%.0f", v)
	case a >= 10:
		return fmt.Sprintf("%.1f", v)
	}
	return fmt.Sprintf("%.2f", v)
}

func fmtCount(n uint64) string {
	switch {
	case n >= 1e9:
		return fmt.Sprintf("%.2fG", float64(n)/1e9)
	case n >= 1e6:
		return fmt.Sprintf("%.2fM", float64(n)/1e6)
	case n >= 1e4:
		return fmt.Sprintf("%.0fk", float64(n)/1e3)
	}
	return fmt.Sprintf("%d", n)
}
