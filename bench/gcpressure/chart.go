package main

import (
	"bufio"
	"encoding/xml"
	"fmt"
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

// svgWriter accumulates the document; the first write error sticks.
type svgWriter struct {
	w   *bufio.Writer
	err error
}

func (s *svgWriter) f(format string, args ...any) {
	if s.err == nil {
		_, s.err = fmt.Fprintf(s.w, format, args...)
	}
}

// esc escapes text for XML content and attribute values.
func esc(t string) string {
	var b strings.Builder
	xml.EscapeText(&b, []byte(t))
	return b.String()
}

func (s *svgWriter) text(x, y float64, anchor, extra, t string) {
	s.f(`<text x="%.1f" y="%.1f" text-anchor="%s"%s>%s</text>`+"\n", x, y, anchor, extra, esc(t))
}

func (s *svgWriter) line(x1, y1, x2, y2 float64, style string) {
	s.f(`<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" %s/>`+"\n", x1, y1, x2, y2, style)
}

// writeChart writes two stacked panels sharing the time axis: resident memory
// (top) and the rolling request p99 (bottom, log scale), one line per mode.
func writeChart(out io.Writer, cfg config, series []chartSeries) error {
	s := &svgWriter{w: bufio.NewWriter(out)}

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
	tTicks := niceTicks(0, tMax, 10)
	tMax = tTicks[len(tTicks)-1]
	xOf := func(t float64) float64 { return plotLeft + (plotRight-plotLeft)*t/tMax }

	unit, unitName := float64(1<<20), "MiB"
	if rssMax >= 1<<30 {
		unit, unitName = 1<<30, "GiB"
	}
	rssTicks := niceTicks(0, rssMax*1.05/unit, 6)
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

	s.f(`<?xml version="1.0" encoding="UTF-8"?>` + "\n")
	s.f(`<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" viewBox="0 0 %d %d" font-family="Helvetica, Arial, sans-serif" font-size="12">`+"\n",
		chartW, chartH, chartW, chartH)
	s.f("<title>%s</title>\n", esc("gcpressure: resident memory and request latency over time"))
	s.f(`<rect width="100%%" height="100%%" fill="white"/>` + "\n")
	s.text(plotLeft, 30, "start", ` font-size="18" font-weight="bold"`, "GC pressure: resident memory and request latency, per mode")
	sub := fmt.Sprintf("%s of %s buffers held, %s%% replaced per round, ", formatSize(cfg.Live), cfg.Size, trimFloat(cfg.Churn))
	if cfg.Duration > 0 {
		sub += fmt.Sprintf("churn for %v after the fill", cfg.Duration)
	} else {
		sub += fmt.Sprintf("%d rounds after the fill", cfg.Rounds)
	}
	sub += "; each mode in its own process, same seed. Lower is better in both panels."
	s.text(plotLeft, 52, "start", ` fill="#444"`, sub)

	// ---- top panel: RSS ----
	s.f(`<g id="rss" class="panel">` + "\n")
	s.text(plotLeft, rssTop-12, "start", ` font-size="14" font-weight="bold"`, "Resident memory (VmRSS of each mode's process)")
	for _, v := range rssTicks {
		y := yRSS(v * unit)
		s.line(plotLeft, y, plotRight, y, `stroke="#e4e4e4"`)
		s.text(plotLeft-8, y+4, "end", "", trimFloat(roundTick(v))+" "+unitName)
	}
	timeAxis(s, xOf, tTicks, rssBottom)
	// The live bytes, for reference.
	yl := yRSS(float64(cfg.Live))
	s.line(plotLeft, yl, plotRight, yl, `stroke="#333" stroke-dasharray="6 4"`)
	s.text(plotRight-4, yl-5, "end", ` fill="#333"`, "live bytes held ("+formatSize(cfg.Live)+")")
	for i, se := range series {
		var pts []string
		for _, p := range se.Samples {
			pts = append(pts, fmt.Sprintf("%.1f,%.1f", xOf(p.T), yRSS(float64(p.RSS))))
		}
		s.f(`<polyline class="series" data-mode="%s" fill="none" stroke="%s" stroke-width="1.8" stroke-linejoin="round" points="%s"/>`+"\n",
			esc(se.Mode), colorOf(se.Mode, i), strings.Join(pts, " "))
		// Mark where the fill ends and the churn begins.
		for _, p := range se.Samples {
			if p.Phase == "churn" {
				s.f(`<circle cx="%.1f" cy="%.1f" r="3.5" fill="white" stroke="%s" stroke-width="1.5"/>`+"\n",
					xOf(p.T), yRSS(float64(p.RSS)), colorOf(se.Mode, i))
				break
			}
		}
	}
	axisBox(s, rssTop, rssBottom)
	s.f("</g>\n")

	// ---- bottom panel: request latency ----
	s.f(`<g id="latency" class="panel">` + "\n")
	s.text(plotLeft, latTop-12, "start", ` font-size="14" font-weight="bold"`,
		fmt.Sprintf("Request latency: p99 of the requests in the last %v (log scale)", cfg.Sample*time.Duration(windowSpan(cfg))))
	if haveLat {
		for d := decLo; d <= decHi; d++ {
			y := yLat(math.Pow(10, d))
			s.line(plotLeft, y, plotRight, y, `stroke="#d0d0d0"`)
			s.text(plotLeft-8, y+4, "end", "", decadeLabel(int(d)))
			if d < decHi && decHi-decLo <= 3 {
				for _, m := range []float64{2, 5} {
					v := m * math.Pow(10, d)
					y := yLat(v)
					s.line(plotLeft, y, plotRight, y, `stroke="#eeeeee"`)
					s.text(plotLeft-8, y+4, "end", ` fill="#777" font-size="10"`, tickNs(v))
				}
			}
		}
	} else {
		s.text((plotLeft+plotRight)/2, (latTop+latBottom)/2, "middle", ` fill="#777"`, "no request completed in any sample window")
	}
	timeAxis(s, xOf, tTicks, latBottom)
	for i, se := range series {
		var pts []string
		for _, p := range se.Samples {
			if p.ReqP99 > 0 && haveLat {
				pts = append(pts, fmt.Sprintf("%.1f,%.1f", xOf(p.T), yLat(p.ReqP99)))
			}
		}
		s.f(`<polyline class="series" data-mode="%s" fill="none" stroke="%s" stroke-width="1.5" stroke-linejoin="round" points="%s"/>`+"\n",
			esc(se.Mode), colorOf(se.Mode, i), strings.Join(pts, " "))
	}
	axisBox(s, latTop, latBottom)
	s.f("</g>\n")
	s.text((plotLeft+plotRight)/2, latBottom+42, "middle", "", "seconds since the mode started (fill, then churn)")

	// ---- legend ----
	s.f(`<g id="legend">` + "\n")
	s.text(legendLeft, rssTop-12, "start", ` font-size="14" font-weight="bold"`, "Modes")
	for i, se := range series {
		y := float64(rssTop + 10 + i*52)
		c := colorOf(se.Mode, i)
		s.line(legendLeft, y, legendLeft+28, y, fmt.Sprintf(`stroke="%s" stroke-width="3"`, c))
		s.text(legendLeft+36, y+4, "start", ` font-weight="bold"`, se.Mode)
		if r := se.Result; r != nil {
			s.text(legendLeft+36, y+19, "start", ` fill="#444" font-size="11"`,
				fmt.Sprintf("peak %s, wall %s", humanBytes(float64(r.PeakRSSBytes)), fmtSeconds(r.WallS)))
			s.text(legendLeft+36, y+33, "start", ` fill="#444" font-size="11"`,
				fmt.Sprintf("req p99 %s, p99.9 %s", fmtNs(r.ReqP99ns), fmtNs(r.ReqP999ns)))
		}
	}
	y := float64(rssTop + 10 + len(series)*52)
	s.f(`<circle cx="%d" cy="%.1f" r="3.5" fill="white" stroke="#333" stroke-width="1.5"/>`+"\n", legendLeft+14, y)
	s.text(legendLeft+36, y+4, "start", ` fill="#444" font-size="11"`, "fill done, churn starts")
	s.line(legendLeft, y+22, legendLeft+28, y+22, `stroke="#333" stroke-dasharray="6 4"`)
	s.text(legendLeft+36, y+26, "start", ` fill="#444" font-size="11"`, "live bytes held")
	s.f("</g>\n")

	s.f("</svg>\n")
	if s.err != nil {
		return s.err
	}
	return s.w.Flush()
}

// windowSpan is how many sample intervals the rolling latency window spans.
func windowSpan(cfg config) int { return max(1, int(100*time.Millisecond/cfg.Sample)) }

func timeAxis(s *svgWriter, xOf func(float64) float64, ticks []float64, bottom float64) {
	for _, t := range ticks {
		x := xOf(t)
		s.line(x, bottom, x, bottom+5, `stroke="#333"`)
		s.text(x, bottom+18, "middle", "", trimFloat(roundTick(t))+"s")
	}
}

func axisBox(s *svgWriter, top, bottom float64) {
	s.line(plotLeft, top, plotLeft, bottom, `stroke="#333"`)
	s.line(plotLeft, bottom, plotRight, bottom, `stroke="#333"`)
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

// niceTicks returns evenly spaced round tick values (steps of 1, 2 or 5 x
// 10^k) from lo to at least hi, about n of them.
func niceTicks(lo, hi float64, n int) []float64 {
	if hi <= lo {
		hi = lo + 1
	}
	raw := (hi - lo) / float64(max(n, 1))
	mag := math.Pow(10, math.Floor(math.Log10(raw)))
	step := mag
	for _, m := range []float64{1, 2, 5, 10} {
		if m*mag >= raw {
			step = m * mag
			break
		}
	}
	start := math.Floor(lo/step) * step
	var ticks []float64
	for i := 0; ; i++ {
		v := start + float64(i)*step
		ticks = append(ticks, v)
		if v >= hi-step*1e-9 {
			break
		}
	}
	return ticks
}

// roundTick removes floating-point noise from a tick value (0.30000000000000004).
func roundTick(v float64) float64 { return math.Round(v*1e6) / 1e6 }
