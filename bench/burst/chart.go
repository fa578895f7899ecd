package main

import (
	"fmt"
	"github.com/offheap/offheap/bench/internal/svg"
	"io"
	"math"
	"strings"
)

// The chart follows bench/gcpressure/chart.go (copied, not imported: both are
// main packages): one panel of RSS over time, one line per mode.

// chartSeries is one mode's first run.
type chartSeries struct {
	Mode    string
	Samples []sample
	Events  []event
	Result  *modeResult
}

// Warm colours for Go's own memory, cool for offheap, greys and purples for
// the C allocators (Okabe-Ito and neighbours).
var modeColors = map[string]string{
	"offheap":             "#0072b2",
	"offheap-pool":        "#009e73",
	"offheap-c":           "#56b4e9",
	"native":              "#d55e00",
	"native-gc":           "#e69f00",
	"native-freeosmemory": "#f0e442",
	"glibc":               "#000000",
	"jemalloc":            "#cc79a7",
	"jemalloc-bg":         "#882255",
	"mimalloc":            "#999999",
}

func colorOf(mode string) string {
	if c, ok := modeColors[mode]; ok {
		return c
	}
	return "#444444"
}

const (
	chartW     = 1000
	chartH     = 560
	plotLeft   = 90
	plotRight  = 700
	legendLeft = 730
	plotTop    = 90
	plotBottom = 480
)

// origin is a series' time zero: its ready event (the first sample if none).
func origin(se chartSeries) float64 {
	for _, e := range se.Events {
		if e.Event == "ready" {
			return e.At
		}
	}
	if len(se.Samples) > 0 {
		return se.Samples[0].T
	}
	return 0
}

// writeChart writes RSS over time, one line per mode, time zero at each
// child's ready event; hollow circles mark the ends of the frees.
func writeChart(out io.Writer, cfg config, series []chartSeries) error {
	s := svg.New(out)
	tMax, rssMax := 0.0, float64(cfg.Peak)
	for _, se := range series {
		t0 := origin(se)
		for _, p := range se.Samples {
			if p.T >= t0 {
				tMax = math.Max(tMax, p.T-t0)
				rssMax = math.Max(rssMax, float64(p.RSS))
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
	yOf := func(v float64) float64 { return plotBottom - (plotBottom-plotTop)*v/rssAxisMax }

	s.F(`<?xml version="1.0" encoding="UTF-8"?>` + "\n")
	s.F(`<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" viewBox="0 0 %d %d" font-family="Helvetica, Arial, sans-serif" font-size="12">`+"\n",
		chartW, chartH, chartW, chartH)
	s.F("<title>%s</title>\n", svg.Esc("burst: resident memory over time"))
	s.F(`<rect width="100%%" height="100%%" fill="white"/>` + "\n")
	title, sub := "Memory back to the OS: resident memory over time, per mode", ""
	if cfg.Pattern == "steady" {
		title = "Steady churn: resident memory over time, per mode"
		sub = fmt.Sprintf("%s live of %s buffers, %s%% replaced per round, gap %v; purge delay %s",
			formatSize(cfg.Peak), formatSize(cfg.Size), trimFloat(cfg.Churn), cfg.Gap, cfg.Delay)
	} else {
		bursts := fmt.Sprintf("%d bursts", cfg.Bursts)
		if cfg.Bursts == 1 {
			bursts = "1 burst"
		}
		sub = fmt.Sprintf("%s to %s of %s buffers, freed to %s, idle %v after each; purge delay %s",
			bursts, formatSize(cfg.Peak), formatSize(cfg.Size), formatSize(cfg.Floor), cfg.Idle, cfg.Delay)
	}
	s.Text(plotLeft, 30, "start", ` font-size="18" font-weight="bold"`, title)
	s.Text(plotLeft, 52, "start", ` fill="#444"`, sub+"; each mode in its own process. Lower is better while idle.")
	s.Text(plotLeft, plotTop-12, "start", ` font-size="14" font-weight="bold"`, "Resident memory (VmRSS of each mode's process)")
	for _, v := range rssTicks {
		y := yOf(v * unit)
		s.Line(plotLeft, y, plotRight, y, `stroke="#e4e4e4"`)
		s.Text(plotLeft-8, y+4, "end", "", trimFloat(svg.RoundTick(v))+" "+unitName)
	}
	for _, t := range tTicks {
		x := xOf(t)
		s.Line(x, plotBottom, x, plotBottom+5, `stroke="#333"`)
		s.Text(x, plotBottom+18, "middle", "", trimFloat(svg.RoundTick(t))+"s")
	}
	yp := yOf(float64(cfg.Peak))
	s.Line(plotLeft, yp, plotRight, yp, `stroke="#333" stroke-dasharray="6 4"`)
	s.Text(plotRight-4, yp-5, "end", ` fill="#333"`, "peak live bytes ("+formatSize(cfg.Peak)+")")
	if cfg.Floor > 0 {
		yf := yOf(float64(cfg.Floor))
		s.Line(plotLeft, yf, plotRight, yf, `stroke="#777" stroke-dasharray="2 4"`)
		s.Text(plotRight-4, yf-5, "end", ` fill="#777"`, "floor ("+formatSize(cfg.Floor)+")")
	}
	for _, se := range series {
		t0 := origin(se)
		var pts []string
		for _, p := range se.Samples {
			if p.T >= t0 {
				pts = append(pts, fmt.Sprintf("%.1f,%.1f", xOf(p.T-t0), yOf(float64(p.RSS))))
			}
		}
		c := colorOf(se.Mode)
		s.F(`<polyline class="series" data-mode="%s" fill="none" stroke="%s" stroke-width="1.8" stroke-linejoin="round" points="%s"/>`+"\n",
			svg.Esc(se.Mode), c, strings.Join(pts, " "))
		for _, e := range se.Events {
			if e.Event == "free_end" || e.Event == "warm_end" {
				s.F(`<circle cx="%.1f" cy="%.1f" r="3.5" fill="white" stroke="%s" stroke-width="1.5"/>`+"\n",
					xOf(e.At-t0), yOf(float64(rssAt(se.Samples, e.At))), c)
			}
		}
	}
	s.Line(plotLeft, plotTop, plotLeft, plotBottom, `stroke="#333"`)
	s.Line(plotLeft, plotBottom, plotRight, plotBottom, `stroke="#333"`)
	s.Text((plotLeft+plotRight)/2, plotBottom+42, "middle", "", "seconds since the mode's process was ready")

	s.Text(legendLeft, plotTop-12, "start", ` font-size="14" font-weight="bold"`, "Modes")
	for i, se := range series {
		y := float64(plotTop + 10 + i*36)
		c := colorOf(se.Mode)
		s.Line(legendLeft, y, legendLeft+28, y, fmt.Sprintf(`stroke="%s" stroke-width="3"`, c))
		s.Text(legendLeft+36, y+4, "start", ` font-weight="bold"`, se.Mode)
		if r := se.Result; r != nil {
			var t string
			if r.Steady != nil {
				t = fmt.Sprintf("%.0f ns/buffer, %.2f faults/buffer", r.Steady.NsPerBuffer, r.Steady.FaultsPerBuf)
			} else if len(r.Bursts) > 0 {
				t = fmt.Sprintf("release %s, idle %s MiB", fmtRelease(r.Bursts[0].ReleaseS), mib(r.Bursts[0].IdleRSS))
			}
			s.Text(legendLeft+36, y+18, "start", ` fill="#444" font-size="11"`, t)
		}
	}
	y := float64(plotTop + 10 + len(series)*36)
	s.F(`<circle cx="%d" cy="%.1f" r="3.5" fill="white" stroke="#333" stroke-width="1.5"/>`+"\n", legendLeft+14, y)
	mark := "end of a free"
	if cfg.Pattern == "steady" {
		mark = "end of the warm-up"
	}
	s.Text(legendLeft+36, y+4, "start", ` fill="#444" font-size="11"`, mark)
	s.F("</svg>\n")
	return s.Close()
}

// rssAt is the RSS of the last sample at or before t (the first if none).
func rssAt(ss []sample, t float64) int64 {
	var v int64
	for i, p := range ss {
		if i == 0 || p.T <= t {
			v = p.RSS
		}
	}
	return v
}
