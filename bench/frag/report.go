// report.go prints frag's results: one table per workload with RSS / live
// after each step, peak RSS, throughput and decommits, ratios to native from
// the same run, and the targets checked for every offheap mode.
package main

import (
	"fmt"
	"io"
	"math"
	"runtime"
	"strings"

	"github.com/offheap/offheap/bench/internal/harness"
	"github.com/offheap/offheap/bench/internal/report"
	"github.com/offheap/offheap/bench/internal/units"
)

// Targets of issue 10.
const (
	targetIdle     = 1.30 // phase: RSS / live after the idle wait
	targetScavenge = 1.15 // phase: after Scavenge
	targetCache    = 1.12 // cache: RSS / live at the end
	targetGrowth   = 0.01 // cache: RSS growth over the second half (none, within noise)
	targetPool     = 1.20 // pool: RSS / live survivors within 2 x the purge delay
)

func isOffheap(mode string) bool { return strings.Contains(mode, "offheap") }

// ModeName is the result's mode, for report.Find.
func (r *result) ModeName() string { return r.Mode }

func (r *result) step(name string) *step {
	for i := range r.Steps {
		if r.Steps[i].Name == name {
			return &r.Steps[i]
		}
	}
	return nil
}

// ratio is (RSS - base) / live at s: what the allocator holds per live byte.
func (r *result) ratio(s *step) float64 {
	if s == nil || s.Live <= 0 {
		return math.NaN()
	}
	return float64(s.RSS-r.BaseRSS) / float64(s.Live)
}

func fmtRatio(v float64) string {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return "-"
	}
	return fmt.Sprintf("%.2f", v)
}

func fmtVs(v, base float64) string {
	if base <= 0 || math.IsNaN(v) || math.IsNaN(base) {
		return "-"
	}
	return fmt.Sprintf("%.2fx", v/base)
}

func fmtRate(v float64) string {
	switch {
	case v >= 1e6:
		return fmt.Sprintf("%.2fM", v/1e6)
	case v >= 1e3:
		return fmt.Sprintf("%.0fk", v/1e3)
	}
	return fmt.Sprintf("%.0f", v)
}

// summary is the progress line of a finished run.
func summary(r *result) string {
	if r == nil || len(r.Steps) == 0 {
		return ""
	}
	last := &r.Steps[len(r.Steps)-1]
	return fmt.Sprintf("peak RSS %s, last step %q RSS/live %s, %s ops/s", units.HumanBytes(float64(r.PeakRSS)), last.Name,
		fmtRatio(r.ratio(last)), fmtRate(r.OpsPerS))
}

func describeRun(cfg config, cdir string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "frag: -live %s, -pool %s, seed %d, purge delay %v (idle wait %v), native-memlimit %gx peak live; %s, GOMAXPROCS %d",
		units.FormatSize(cfg.Live), units.FormatSize(cfg.Pool), cfg.Seed, cfg.Delay, cfg.Wait, cfg.MemLimit, runtime.Version(),
		runtime.GOMAXPROCS(0))
	b.WriteString(report.Env("", "OFFHEAP_PURGE_DELAY_MS", "OFFHEAP_RETAIN_BYTES", "OFFHEAP_TCACHE_BYTES", "OFFHEAP_DECOMMIT",
		"GOGC", "GOMEMLIMIT", "MALLOC_CONF"))
	if cdir != "" {
		fmt.Fprintf(&b, "; C harness from %s", cdir)
	}
	return b.String()
}

// byWorkload is the successful results of one workload, in table order.
func byWorkload(runs []*modeRun, w string) []*result {
	var out []*result
	for _, mr := range runs {
		if mr.Workload == w && mr.err == nil && mr.Result != nil {
			out = append(out, mr.Result)
		}
	}
	return out
}

func writeReport(w io.Writer, cfg config, cdir string, runs []*modeRun) {
	fmt.Fprintln(w, describeRun(cfg, cdir))
	for _, wl := range cfg.Workloads {
		rs := byWorkload(runs, wl)
		if len(rs) == 0 {
			continue
		}
		fmt.Fprintln(w)
		switch wl {
		case "phase":
			writePhase(w, rs)
		case "cache":
			writeCache(w, cfg, rs)
		case "pool":
			writePool(w, cfg, rs)
		}
		for _, r := range rs {
			fmt.Fprintf(w, "  %s: %s\n", r.Mode, r.Info)
		}
	}
}

// decommits is offheap's purges and decommitted MiB over a run ("-" elsewhere).
func decommits(r *result) (string, string) {
	if len(r.Steps) == 0 {
		return "-", "-"
	}
	first, last := r.Steps[0], r.Steps[len(r.Steps)-1]
	if last.Purges < 0 {
		return "-", "-"
	}
	return report.Int(last.Purges - first.Purges), report.MiB(last.DecommittedBytes-first.DecommittedBytes, 0)
}

func writePhase(w io.Writer, rs []*result) {
	fmt.Fprintln(w, "== phase: fill 16 KiB, free a random 75 %, fill 48 KiB, free to a random 10 %, idle 2 x purge delay, scavenge")
	fmt.Fprintln(w, "RSS / live after each step ((RSS - base) / live bytes):")
	nat := report.Find(rs, "native")
	head := append([]string{"mode"}, phaseSteps...)
	head = append(head, "peak RSS", "x native", "ops/s", "x native", "op p99", "x native", "purges", "decommit MiB", "idle<=1.3",
		"scav<=1.15", "peak<=native")
	tab := harness.NewTable(head...)
	for _, r := range rs {
		cells := []string{r.Mode}
		for _, n := range phaseSteps {
			cells = append(cells, fmtRatio(r.ratio(r.step(n))))
		}
		p, d := decommits(r)
		cells = append(cells, report.MiB(r.PeakRSS, 0), vsNative(r, nat, func(x *result) float64 { return float64(x.PeakRSS) }),
			fmtRate(r.OpsPerS), vsNative(r, nat, func(x *result) float64 { return x.OpsPerS }), opP99(r.OpP99ns),
			vsNative(r, nat, func(x *result) float64 { return x.OpP99ns }), p, d)
		if isOffheap(r.Mode) {
			peakOK := "-"
			if nat != nil {
				peakOK = report.YesNo(r.PeakRSS <= nat.PeakRSS)
			}
			cells = append(cells, report.YesNo(r.ratio(r.step("idle")) <= targetIdle), report.YesNo(r.ratio(r.step("scavenge")) <= targetScavenge), peakOK)
		} else {
			cells = append(cells, "", "", "")
		}
		tab.Row(cells...)
	}
	tab.Write(w)
	fmt.Fprintln(w, "RSS in MiB after each step (live MiB in the first row):")
	head = append([]string{"mode", "base"}, phaseSteps...)
	tab = harness.NewTable(head...)
	if len(rs) > 0 {
		cells := []string{"live", "0"}
		for _, n := range phaseSteps {
			if s := rs[0].step(n); s != nil {
				cells = append(cells, report.MiB(s.Live, 0))
			} else {
				cells = append(cells, "-")
			}
		}
		tab.Row(cells...)
	}
	for _, r := range rs {
		cells := []string{r.Mode, report.MiB(r.BaseRSS, 0)}
		for _, n := range phaseSteps {
			if s := r.step(n); s != nil {
				cells = append(cells, report.MiB(s.RSS, 0))
			} else {
				cells = append(cells, "-")
			}
		}
		tab.Row(cells...)
	}
	tab.Write(w)
	fmt.Fprintln(w, "peak RSS: VmHWM, MiB. ops/s: allocations + frees per second of the fill and free steps. op p99: 99th")
	fmt.Fprintln(w, "percentile of one allocation or free call in those steps (monotonic clock around each call). purges /")
	fmt.Fprintln(w, "decommit MiB: offheap's decommits by its purge policy and bytes decommitted (Scavenge included) over")
	fmt.Fprintln(w, "the run. Targets (offheap modes): idle <= 1.3, scavenge <= 1.15, peak RSS <= native's.")
}

// opP99 prints a per-operation p99 ("-" for a harness that did not time its
// operations).
func opP99(ns float64) string {
	if ns <= 0 {
		return "-"
	}
	return report.Ns(ns)
}

func vsNative(r, nat *result, get func(*result) float64) string {
	if nat == nil {
		return "-"
	}
	return fmtVs(get(r), get(nat))
}

// cacheGrowth is the RSS growth from the 50 % step to the end (and the
// largest RSS in between), and offheap's purges meanwhile (-1 if none counted).
func cacheGrowth(r *result) (growth float64, purges int64) {
	mid, end := r.step("50%"), r.step("100%")
	if mid == nil || end == nil || mid.RSS <= 0 {
		return math.NaN(), -1
	}
	top := mid.RSS
	seen := false
	for _, s := range r.Steps {
		if s.Name == "50%" {
			seen = true
		}
		if seen {
			top = max(top, s.RSS)
		}
	}
	growth = float64(top-mid.RSS) / float64(mid.RSS)
	if end.Purges < 0 {
		return growth, -1
	}
	return growth, end.Purges - mid.Purges
}

func writeCache(w io.Writer, cfg config, rs []*result) {
	fmt.Fprintf(w, "== cache: %s capacity, values log-normal 64 B - 256 KiB (median 2 KiB), Zipf keys, random eviction, every value verified\n",
		units.FormatSize(cfg.Live))
	fmt.Fprintln(w, "RSS / live at every 10 % of the operations:")
	nat := report.Find(rs, "native")
	head := []string{"mode"}
	for p := 10; p <= 100; p += 10 {
		head = append(head, fmt.Sprintf("%d%%", p))
	}
	head = append(head, "growth 2nd half", "purges 2nd half", "ops/s", "x native", "peak RSS", "x native", "hits", "end<=1.12", "no growth", "0 purges")
	tab := harness.NewTable(head...)
	for _, r := range rs {
		cells := []string{r.Mode}
		for p := 10; p <= 100; p += 10 {
			cells = append(cells, fmtRatio(r.ratio(r.step(fmt.Sprintf("%d%%", p)))))
		}
		g, pg := cacheGrowth(r)
		hits := "-"
		if n := r.Hits + r.Misses; n > 0 {
			hits = fmt.Sprintf("%.0f%%", 100*float64(r.Hits)/float64(n))
		}
		cells = append(cells, fmt.Sprintf("%+.1f%%", 100*g), report.Int(pg), fmtRate(r.OpsPerS),
			vsNative(r, nat, func(x *result) float64 { return x.OpsPerS }), report.MiB(r.PeakRSS, 0),
			vsNative(r, nat, func(x *result) float64 { return float64(x.PeakRSS) }), hits)
		if isOffheap(r.Mode) {
			cells = append(cells, report.YesNo(r.ratio(r.step("100%")) <= targetCache), report.YesNo(g <= targetGrowth), report.YesNo(pg == 0))
		} else {
			cells = append(cells, "", "", "")
		}
		tab.Row(cells...)
	}
	tab.Write(w)
	if len(rs) > 0 {
		r := rs[0]
		fmt.Fprintf(w, "%d operations per mode; %s: %d values at the end, %d hits, %d misses, %d evictions, %d updates, %s verified.\n",
			r.Hits+r.Misses, r.Mode, r.Values, r.Hits, r.Misses, r.Evictions, r.Updates, units.HumanBytes(float64(r.VerifiedB)))
	}
	fmt.Fprintln(w, "growth 2nd half: largest RSS after the 50 % step over RSS at it. purges 2nd half: offheap's decommits")
	fmt.Fprintln(w, "meanwhile (steady churn). ops/s: cache operations (get, set on a miss, evictions) per second.")
	fmt.Fprintln(w, "Targets (offheap modes): RSS / live <= 1.12 at the end, no growth (<= 1 %), zero purges in the 2nd half.")
}

// poolRelease is the first time after the put-back with RSS / live <=
// target (-1: never), and the ratio at the last sample.
func poolRelease(r *result) (at float64, last float64) {
	pb := r.step("put back")
	if pb == nil {
		return -1, math.NaN()
	}
	at = -1
	for i := range r.Steps {
		s := &r.Steps[i]
		if s.T < pb.T {
			continue
		}
		last = r.ratio(s)
		if at < 0 && last <= targetPool {
			at = s.T - pb.T
		}
	}
	return at, last
}

func writePool(w io.Writer, cfg config, rs []*result) {
	fmt.Fprintf(w, "== pool: %s of 16 KiB buffers taken, 90 %% put back in random order, RSS every 100 ms for %v\n",
		units.FormatSize(cfg.Pool), cfg.Wait)
	fmt.Fprintln(w, "RSS / live (the 10 % kept) after the put-back:")
	nat := report.Find(rs, "native")
	var cols []string
	for k := 1; k <= 4; k++ {
		cols = append(cols, poolStepName(int(math.Round(float64(k)*cfg.Wait.Seconds()/4/poolTick.Seconds()))))
	}
	head := append([]string{"mode", "taken", "put back"}, cols...)
	head = append(head, "<=1.2x at", "peak RSS", "x native", "ops/s", "purges", "decommit MiB", "<=1.2x in 2x delay")
	tab := harness.NewTable(head...)
	for _, r := range rs {
		taken := "-"
		if s := r.step("taken"); s != nil {
			taken = fmtRatio(r.ratio(s))
		}
		cells := []string{r.Mode, taken, fmtRatio(r.ratio(r.step("put back")))}
		for _, c := range cols {
			cells = append(cells, fmtRatio(r.ratio(r.step(c))))
		}
		at, _ := poolRelease(r)
		rel := "never"
		if at >= 0 {
			rel = fmt.Sprintf("%.1fs", at)
		}
		p, d := decommits(r)
		cells = append(cells, rel, report.MiB(r.PeakRSS, 0), vsNative(r, nat, func(x *result) float64 { return float64(x.PeakRSS) }),
			fmtRate(r.OpsPerS), p, d)
		if isOffheap(r.Mode) {
			cells = append(cells, report.YesNo(at >= 0))
		} else {
			cells = append(cells, "")
		}
		tab.Row(cells...)
	}
	tab.Write(w)
	fmt.Fprintln(w, "<=1.2x at: first sample after the put-back with (RSS - base) <= 1.2 x the buffers kept (never = not")
	fmt.Fprintln(w, "within the wait). Target (offheap modes): within 2 x the purge delay.")
}
