// chart.go draws make bench's chart: resident memory and request latency
// over time, one line per mode, on bench/internal/svg.
package main

import (
	"fmt"
	"io"
	"math"
	"strings"
	"time"

	"github.com/offheap/offheap/bench/internal/report"
	"github.com/offheap/offheap/bench/internal/svg"
	"github.com/offheap/offheap/bench/internal/units"
)

// chartSeries is one mode's time series for the chart.
type chartSeries struct {
	Mode    string
	Samples []sample
	Result  *modeResult
}

// Chart geometry, in SVG user units: two panels, the legend on the right.
const (
	chartW     = 1000
	chartH     = 780
	legendLeft = 770
)

var (
	rssPlot = svg.Plot{Left: 90, Right: 730, Top: 90, Bottom: 370}
	latPlot = svg.Plot{Left: 90, Right: 730, Top: 450, Bottom: 730}
)

// writeChart writes two stacked panels sharing the time axis: resident memory
// (top) and the rolling request p99 (bottom, log scale), one line per mode.
func writeChart(out io.Writer, cfg config, series []chartSeries) error {
	s := svg.New(out)
	tMax, rssMax, latLo, latHi := 0.0, float64(cfg.Live), math.Inf(1), 0.0
	for _, se := range series {
		for _, p := range se.Samples {
			tMax = math.Max(tMax, p.T)
			rssMax = math.Max(rssMax, float64(p.RSS))
			if p.ReqP99 > 0 {
				latLo, latHi = math.Min(latLo, p.ReqP99), math.Max(latHi, p.ReqP99)
			}
		}
	}
	xOf, tTicks := rssPlot.TimeAxis(tMax)
	haveLat := latHi > 0
	decLo, decHi := 0.0, 1.0
	if haveLat {
		decLo, decHi = math.Floor(math.Log10(latLo)), math.Ceil(math.Log10(latHi))
		if decHi <= decLo {
			decHi = decLo + 1
		}
	}
	yLat := func(ns float64) float64 {
		return latPlot.Bottom - (latPlot.Bottom-latPlot.Top)*(math.Log10(ns)-decLo)/(decHi-decLo)
	}

	sub := fmt.Sprintf("%s of %s buffers held, %s%% replaced per round, ", units.FormatSize(cfg.Live), cfg.Size, report.TrimFloat(cfg.Churn))
	if cfg.Duration > 0 {
		sub += fmt.Sprintf("churn for %v after the fill", cfg.Duration)
	} else {
		sub += fmt.Sprintf("%d rounds after the fill", cfg.Rounds)
	}
	s.Begin(chartW, chartH, "gcpressure: resident memory and request latency over time",
		"GC pressure: resident memory and request latency, per mode",
		sub+"; each mode in its own process, same seed. Lower is better in both panels.", rssPlot.Left)

	// ---- top panel: RSS ----
	s.F(`<g id="rss" class="panel">` + "\n")
	s.Heading(rssPlot.Left, rssPlot.Top-12, "Resident memory (VmRSS of each mode's process)")
	yRSS := s.BytesAxis(rssPlot, rssMax)
	s.TimeTicks(rssPlot, xOf, tTicks)
	s.Reference(rssPlot, yRSS(float64(cfg.Live)), "#333", "6 4", "live bytes held ("+units.FormatSize(cfg.Live)+")")
	for i, se := range series {
		var pts []string
		for _, p := range se.Samples {
			pts = append(pts, svg.Point(xOf(p.T), yRSS(float64(p.RSS))))
		}
		s.Series(se.Mode, svg.ModeColor(se.Mode, i), 1.8, pts)
		// Mark where the fill ends and the churn begins.
		for _, p := range se.Samples {
			if p.Phase == "churn" {
				s.Marker(xOf(p.T), yRSS(float64(p.RSS)), svg.ModeColor(se.Mode, i))
				break
			}
		}
	}
	s.Axes(rssPlot)
	s.F("</g>\n")

	// ---- bottom panel: request latency ----
	s.F(`<g id="latency" class="panel">` + "\n")
	s.Heading(latPlot.Left, latPlot.Top-12,
		fmt.Sprintf("Request latency: p99 of the requests in the last %v (log scale)", cfg.Sample*time.Duration(windowSpan(cfg))))
	if haveLat {
		for d := decLo; d <= decHi; d++ {
			y := yLat(math.Pow(10, d))
			s.Line(latPlot.Left, y, latPlot.Right, y, `stroke="#d0d0d0"`)
			s.Text(latPlot.Left-8, y+4, "end", "", decadeLabel(int(d)))
			if d < decHi && decHi-decLo <= 3 {
				for _, m := range []float64{2, 5} {
					v := m * math.Pow(10, d)
					y := yLat(v)
					s.Line(latPlot.Left, y, latPlot.Right, y, `stroke="#eeeeee"`)
					s.Text(latPlot.Left-8, y+4, "end", ` fill="#777" font-size="10"`, tickNs(v))
				}
			}
		}
	} else {
		s.Text((latPlot.Left+latPlot.Right)/2, (latPlot.Top+latPlot.Bottom)/2, "middle", ` fill="#777"`, "no request completed in any sample window")
	}
	s.TimeTicks(latPlot, xOf, tTicks)
	for i, se := range series {
		var pts []string
		for _, p := range se.Samples {
			if p.ReqP99 > 0 && haveLat {
				pts = append(pts, svg.Point(xOf(p.T), yLat(p.ReqP99)))
			}
		}
		s.Series(se.Mode, svg.ModeColor(se.Mode, i), 1.5, pts)
	}
	s.Axes(latPlot)
	s.F("</g>\n")
	s.Text((latPlot.Left+latPlot.Right)/2, latPlot.Bottom+42, "middle", "", "seconds since the mode started (fill, then churn)")

	// ---- legend ----
	s.F(`<g id="legend">` + "\n")
	s.Heading(legendLeft, rssPlot.Top-12, "Modes")
	for i, se := range series {
		var notes []string
		if r := se.Result; r != nil {
			notes = []string{fmt.Sprintf("peak %s, wall %s", units.HumanBytes(float64(r.PeakRSSBytes)), report.Seconds(r.WallS)),
				fmt.Sprintf("req p99 %s, p99.9 %s", report.Ns(r.ReqP99ns), report.Ns(r.ReqP999ns))}
		}
		s.Legend(legendLeft, rssPlot.Top+10+float64(i)*52, se.Mode, svg.ModeColor(se.Mode, i), 19, notes...)
	}
	y := rssPlot.Top + 10 + float64(len(series))*52
	s.Marker(legendLeft+14, y, "#333")
	s.Note(legendLeft+36, y+4, "fill done, churn starts")
	s.Line(legendLeft, y+22, legendLeft+28, y+22, `stroke="#333" stroke-dasharray="6 4"`)
	s.Note(legendLeft+36, y+26, "live bytes held")
	s.F("</g>\n")
	s.F("</svg>\n")
	return s.Close()
}

// windowSpan is how many sample intervals the rolling latency window spans.
func windowSpan(cfg config) int { return max(1, int(100*time.Millisecond/cfg.Sample)) }

// decadeLabel names 10^d nanoseconds: 1ns, 10ns, 100ns, 1µs, ...
func decadeLabel(d int) string {
	units := []string{"ns", "µs", "ms", "s"}
	if d < 0 {
		return fmt.Sprintf("1e%dns", d)
	}
	u := min(d/3, len(units)-1)
	return fmt.Sprintf("%.0f%s", math.Pow(10, float64(d-3*u)), units[u])
}

// tickNs labels a round latency: 5µs, 20ms (report.Ns without trailing zeros).
func tickNs(v float64) string {
	t := report.Ns(v)
	num := strings.TrimRight(t, "nµms")
	unit := t[len(num):]
	if strings.Contains(num, ".") {
		num = strings.TrimRight(strings.TrimRight(num, "0"), ".")
	}
	return num + unit
}
