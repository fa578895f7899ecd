package main

import (
	"fmt"
	"github.com/offheap/offheap/bench/internal/svg"
	"io"
	"math"
	"strings"
	"time"
)

// chartSeries is one mode's time series for the chart.
type chartSeries struct {
	Mode    string
	Samples []sample
	Result  *modeResult
}

// Mode colours: warm for the Go-heap modes, cool for offheap (Okabe-Ito,
// distinguishable with the common colour-vision deficiencies).
var modeColors = map[string]string{
	"native":          "#d55e00",
	"native-memlimit": "#e69f00",
	"sync-pool":       "#cc79a7",
	"offheap":         "#0072b2",
	"offheap-pool":    "#009e73",
	"offheap-slab":    "#56b4e9",
}

var fallbackColors = []string{"#000000", "#f0e442", "#999999", "#882255"}

func colorOf(mode string, i int) string {
	if c, ok := modeColors[mode]; ok {
		return c
	}
	return fallbackColors[i%len(fallbackColors)]
}

// Chart geometry, in SVG user units.
const (
	chartW     = 1000
	chartH     = 780
	plotLeft   = 90
	plotRight  = 730
	legendLeft = 770
	rssTop     = 90
	rssBottom  = 370
	latTop     = 450
	latBottom  = 730
)

// writeChart writes two stacked panels sharing the time axis: resident memory
// (top) and the rolling request p99 (bottom, log scale), one line per mode.
func writeChart(out io.Writer, cfg config, series []chartSeries) error {
	s := svg.New(out)

	// Axes' ranges.
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
	if tMax <= 0 {
		tMax = 1
	}
	tTicks := svg.NiceTicks(0, tMax, 10)
	tMax = tTicks[len(tTicks)-1]
	xOf := func(t float64) float64 { return plotLeft + (plotRight-plotLeft)*t/tMax }

	unit, unitName := float64(1<<20), "MiB"
	if rssMax >= 1<<30 {
		unit, unitName = 1<<30, "GiB"
	}
	rssTicks := svg.NiceTicks(0, rssMax*1.05/unit, 6)
	rssAxisMax := rssTicks[len(rssTicks)-1] * unit
	yRSS := func(v float64) float64 { return rssBottom - (rssBottom-rssTop)*v/rssAxisMax }

	haveLat := latHi > 0
	decLo, decHi := 0.0, 1.0
	if haveLat {
		decLo, decHi = math.Floor(math.Log10(latLo)), math.Ceil(math.Log10(latHi))
		if decHi <= decLo {
			decHi = decLo + 1
		}
	}
	yLat := func(ns float64) float64 {
		return latBottom - (latBottom-latTop)*(math.Log10(ns)-decLo)/(decHi-decLo)
	}

	s.F(`<?xml version="1.0" encoding="UTF-8"?>` + "\n")
	s.F(`<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" viewBox="0 0 %d %d" font-family="Helvetica, Arial, sans-serif" font-size="12">`+"\n",
		chartW, chartH, chartW, chartH)
	s.F("<title>%s</title>\n", svg.Esc("gcpressure: resident memory and request latency over time"))
	s.F(`<rect width="100%%" height="100%%" fill="white"/>` + "\n")
	s.Text(plotLeft, 30, "start", ` font-size="18" font-weight="bold"`, "GC pressure: resident memory and request latency, per mode")
	sub := fmt.Sprintf("%s of %s buffers held, %s%% replaced per round, ", formatSize(cfg.Live), cfg.Size, trimFloat(cfg.Churn))
	if cfg.Duration > 0 {
		sub += fmt.Sprintf("churn for %v after the fill", cfg.Duration)
	} else {
		sub += fmt.Sprintf("%d rounds after the fill", cfg.Rounds)
	}
	sub += "; each mode in its own process, same seed. Lower is better in both panels."
	s.Text(plotLeft, 52, "start", ` fill="#444"`, sub)

	// ---- top panel: RSS ----
	s.F(`<g id="rss" class="panel">` + "\n")
	s.Text(plotLeft, rssTop-12, "start", ` font-size="14" font-weight="bold"`, "Resident memory (VmRSS of each mode's process)")
	for _, v := range rssTicks {
		y := yRSS(v * unit)
		s.Line(plotLeft, y, plotRight, y, `stroke="#e4e4e4"`)
		s.Text(plotLeft-8, y+4, "end", "", trimFloat(svg.RoundTick(v))+" "+unitName)
	}
	timeAxis(s, xOf, tTicks, rssBottom)
	// The live bytes, for reference.
	yl := yRSS(float64(cfg.Live))
	s.Line(plotLeft, yl, plotRight, yl, `stroke="#333" stroke-dasharray="6 4"`)
	s.Text(plotRight-4, yl-5, "end", ` fill="#333"`, "live bytes held ("+formatSize(cfg.Live)+")")
	for i, se := range series {
		var pts []string
		for _, p := range se.Samples {
			pts = append(pts, fmt.Sprintf("%.1f,%.1f", xOf(p.T), yRSS(float64(p.RSS))))
		}
		s.F(`<polyline class="series" data-mode="%s" fill="none" stroke="%s" stroke-width="1.8" stroke-linejoin="round" points="%s"/>`+"\n",
			svg.Esc(se.Mode), colorOf(se.Mode, i), strings.Join(pts, " "))
		// Mark where the fill ends and the churn begins.
		for _, p := range se.Samples {
			if p.Phase == "churn" {
				s.F(`<circle cx="%.1f" cy="%.1f" r="3.5" fill="white" stroke="%s" stroke-width="1.5"/>`+"\n",
					xOf(p.T), yRSS(float64(p.RSS)), colorOf(se.Mode, i))
				break
			}
		}
	}
	axisBox(s, rssTop, rssBottom)
	s.F("</g>\n")

	// ---- bottom panel: request latency ----
	s.F(`<g id="latency" class="panel">` + "\n")
	s.Text(plotLeft, latTop-12, "start", ` font-size="14" font-weight="bold"`,
		fmt.Sprintf("Request latency: p99 of the requests in the last %v (log scale)", cfg.Sample*time.Duration(windowSpan(cfg))))
	if haveLat {
		for d := decLo; d <= decHi; d++ {
			y := yLat(math.Pow(10, d))
			s.Line(plotLeft, y, plotRight, y, `stroke="#d0d0d0"`)
			s.Text(plotLeft-8, y+4, "end", "", decadeLabel(int(d)))
			if d < decHi && decHi-decLo <= 3 {
				for _, m := range []float64{2, 5} {
					v := m * math.Pow(10, d)
					y := yLat(v)
					s.Line(plotLeft, y, plotRight, y, `stroke="#eeeeee"`)
					s.Text(plotLeft-8, y+4, "end", ` fill="#777" font-size="10"`, tickNs(v))
				}
			}
		}
	} else {
		s.Text((plotLeft+plotRight)/2, (latTop+latBottom)/2, "middle", ` fill="#777"`, "no request completed in any sample window")
	}
	timeAxis(s, xOf, tTicks, latBottom)
	for i, se := range series {
		var pts []string
		for _, p := range se.Samples {
			if p.ReqP99 > 0 && haveLat {
				pts = append(pts, fmt.Sprintf("%.1f,%.1f", xOf(p.T), yLat(p.ReqP99)))
			}
		}
		s.F(`<polyline class="series" data-mode="%s" fill="none" stroke="%s" stroke-width="1.5" stroke-linejoin="round" points="%s"/>`+"\n",
			svg.Esc(se.Mode), colorOf(se.Mode, i), strings.Join(pts, " "))
	}
	axisBox(s, latTop, latBottom)
	s.F("</g>\n")
	s.Text((plotLeft+plotRight)/2, latBottom+42, "middle", "", "seconds since the mode started (fill, then churn)")

	// ---- legend ----
	s.F(`<g id="legend">` + "\n")
	s.Text(legendLeft, rssTop-12, "start", ` font-size="14" font-weight="bold"`, "Modes")
	for i, se := range series {
		y := float64(rssTop + 10 + i*52)
		c := colorOf(se.Mode, i)
		s.Line(legendLeft, y, legendLeft+28, y, fmt.Sprintf(`stroke="%s" stroke-width="3"`, c))
		s.Text(legendLeft+36, y+4, "start", ` font-weight="bold"`, se.Mode)
		if r := se.Result; r != nil {
			s.Text(legendLeft+36, y+19, "start", ` fill="#444" font-size="11"`,
				fmt.Sprintf("peak %s, wall %s", humanBytes(float64(r.PeakRSSBytes)), fmtSeconds(r.WallS)))
			s.Text(legendLeft+36, y+33, "start", ` fill="#444" font-size="11"`,
				fmt.Sprintf("req p99 %s, p99.9 %s", fmtNs(r.ReqP99ns), fmtNs(r.ReqP999ns)))
		}
	}
	y := float64(rssTop + 10 + len(series)*52)
	s.F(`<circle cx="%d" cy="%.1f" r="3.5" fill="white" stroke="#333" stroke-width="1.5"/>`+"\n", legendLeft+14, y)
	s.Text(legendLeft+36, y+4, "start", ` fill="#444" font-size="11"`, "fill done, churn starts")
	s.Line(legendLeft, y+22, legendLeft+28, y+22, `stroke="#333" stroke-dasharray="6 4"`)
	s.Text(legendLeft+36, y+26, "start", ` fill="#444" font-size="11"`, "live bytes held")
	s.F("</g>\n")

	s.F("</svg>\n")
	return s.Close()
}

// windowSpan is how many sample intervals the rolling latency window spans.
func windowSpan(cfg config) int { return max(1, int(100*time.Millisecond/cfg.Sample)) }

func timeAxis(s *svg.Writer, xOf func(float64) float64, ticks []float64, bottom float64) {
	for _, t := range ticks {
		x := xOf(t)
		s.Line(x, bottom, x, bottom+5, `stroke="#333"`)
		s.Text(x, bottom+18, "middle", "", trimFloat(svg.RoundTick(t))+"s")
	}
}

func axisBox(s *svg.Writer, top, bottom float64) {
	s.Line(plotLeft, top, plotLeft, bottom, `stroke="#333"`)
	s.Line(plotLeft, bottom, plotRight, bottom, `stroke="#333"`)
}

// decadeLabel names 10^d nanoseconds: 1ns, 10ns, 100ns, 1µs, ...
func decadeLabel(d int) string {
	units := []string{"ns", "µs", "ms", "s"}
	if d < 0 {
		return fmt.Sprintf("1e%dns", d)
	}
	u := min(d/3, len(units)-1)
	return fmt.Sprintf("%.0f%s", math.Pow(10, float64(d-3*u)), units[u])
}

// tickNs labels a round latency: 5µs, 20ms (fmtNs without trailing zeros).
func tickNs(v float64) string {
	t := fmtNs(v)
	num := strings.TrimRight(t, "nµms")
	unit := t[len(num):]
	if strings.Contains(num, ".") {
		num = strings.TrimRight(strings.TrimRight(num, "0"), ".")
	}
	return num + unit
}
