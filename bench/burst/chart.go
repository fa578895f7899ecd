// chart.go draws burst's chart: resident memory over time, one line per
// mode, on bench/internal/svg.
package main

import (
	"fmt"
	"io"
	"math"

	"github.com/offheap/offheap/bench/internal/report"
	"github.com/offheap/offheap/bench/internal/svg"
	"github.com/offheap/offheap/bench/internal/units"
)

// chartSeries is one mode's first run.
type chartSeries struct {
	Mode    string
	Samples []sample
	Events  []event
	Result  *modeResult
}

// Chart geometry, in SVG user units: one panel, the legend on the right.
const (
	chartW     = 1000
	chartH     = 560
	legendLeft = 730
)

var plot = svg.Plot{Left: 90, Right: 700, Top: 90, Bottom: 480}

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
	xOf, tTicks := plot.TimeAxis(tMax)
	title, sub := "Memory back to the OS: resident memory over time, per mode", ""
	if cfg.Pattern == "steady" {
		title = "Steady churn: resident memory over time, per mode"
		sub = fmt.Sprintf("%s live of %s buffers, %s%% replaced per round, gap %v; purge delay %s",
			units.FormatSize(cfg.Peak), units.FormatSize(cfg.Size), report.TrimFloat(cfg.Churn), cfg.Gap, cfg.Delay)
	} else {
		bursts := fmt.Sprintf("%d bursts", cfg.Bursts)
		if cfg.Bursts == 1 {
			bursts = "1 burst"
		}
		sub = fmt.Sprintf("%s to %s of %s buffers, freed to %s, idle %v after each; purge delay %s",
			bursts, units.FormatSize(cfg.Peak), units.FormatSize(cfg.Size), units.FormatSize(cfg.Floor), cfg.Idle, cfg.Delay)
	}
	s.Begin(chartW, chartH, "burst: resident memory over time", title,
		sub+"; each mode in its own process. Lower is better while idle.", plot.Left)
	s.Heading(plot.Left, plot.Top-12, "Resident memory (VmRSS of each mode's process)")
	yOf := s.BytesAxis(plot, rssMax)
	s.TimeTicks(plot, xOf, tTicks)
	s.Reference(plot, yOf(float64(cfg.Peak)), "#333", "6 4", "peak live bytes ("+units.FormatSize(cfg.Peak)+")")
	if cfg.Floor > 0 {
		s.Reference(plot, yOf(float64(cfg.Floor)), "#777", "2 4", "floor ("+units.FormatSize(cfg.Floor)+")")
	}
	for i, se := range series {
		t0 := origin(se)
		var pts []string
		for _, p := range se.Samples {
			if p.T >= t0 {
				pts = append(pts, svg.Point(xOf(p.T-t0), yOf(float64(p.RSS))))
			}
		}
		c := svg.ModeColor(se.Mode, i)
		s.Series(se.Mode, c, 1.8, pts)
		for _, e := range se.Events {
			if e.Event == "free_end" || e.Event == "warm_end" {
				s.Marker(xOf(e.At-t0), yOf(float64(rssAt(se.Samples, e.At))), c)
			}
		}
	}
	s.Axes(plot)
	s.Text((plot.Left+plot.Right)/2, plot.Bottom+42, "middle", "", "seconds since the mode's process was ready")

	s.Heading(legendLeft, plot.Top-12, "Modes")
	for i, se := range series {
		var notes []string
		if r := se.Result; r != nil && r.Steady != nil {
			notes = append(notes, fmt.Sprintf("%.0f ns/buffer, %.2f faults/buffer", r.Steady.NsPerBuffer, r.Steady.FaultsPerBuf))
		} else if r != nil && len(r.Bursts) > 0 {
			notes = append(notes, fmt.Sprintf("release %s, idle %s MiB", fmtRelease(r.Bursts[0].ReleaseS), report.MiB(r.Bursts[0].IdleRSS, 1)))
		}
		s.Legend(legendLeft, plot.Top+10+float64(i)*36, se.Mode, svg.ModeColor(se.Mode, i), 18, notes...)
	}
	y := plot.Top + 10 + float64(len(series))*36
	s.Marker(legendLeft+14, y, "#333")
	mark := "end of a free"
	if cfg.Pattern == "steady" {
		mark = "end of the warm-up"
	}
	s.Note(legendLeft+36, y+4, mark)
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
