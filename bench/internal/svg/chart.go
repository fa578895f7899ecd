// chart.go is what the commands' charts of resident memory over time share
// (gcpressure, burst): the page and its title, a plot with a time axis and
// a bytes axis, one polyline and colour per mode, markers, legend entries.
package svg

import (
	"fmt"
	"strings"

	"github.com/offheap/offheap/bench/internal/report"
)

// Mode colours: warm for Go's own memory, cool for offheap, black, greys and
// purples for the C allocators (Okabe-Ito and neighbours, distinguishable
// with the common colour-vision deficiencies). Modes of different commands
// may share a colour; within one chart they do not.
var modeColors = map[string]string{
	"native":              "#d55e00",
	"native-memlimit":     "#e69f00",
	"native-gc":           "#e69f00",
	"native-freeosmemory": "#f0e442",
	"sync-pool":           "#cc79a7",
	"offheap":             "#0072b2",
	"offheap-pool":        "#009e73",
	"offheap-slab":        "#56b4e9",
	"offheap-c":           "#56b4e9",
	"glibc":               "#000000",
	"jemalloc":            "#cc79a7",
	"jemalloc-bg":         "#882255",
	"mimalloc":            "#999999",
}

var fallbackColors = []string{"#000000", "#f0e442", "#999999", "#882255"}

// ModeColor is mode's colour; a mode without one takes the i-th fallback.
func ModeColor(mode string, i int) string {
	if c, ok := modeColors[mode]; ok {
		return c
	}
	return fallbackColors[i%len(fallbackColors)]
}

// Begin writes the document's start: a w x h page, white, with a title line
// and a subtitle at x = left; title also names the document.
func (s *Writer) Begin(w, h int, name, title, sub string, left float64) {
	s.F(`<?xml version="1.0" encoding="UTF-8"?>` + "\n")
	s.F(`<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" viewBox="0 0 %d %d" font-family="Helvetica, Arial, sans-serif" font-size="12">`+"\n",
		w, h, w, h)
	s.F("<title>%s</title>\n", Esc(name))
	s.F(`<rect width="100%%" height="100%%" fill="white"/>` + "\n")
	s.Text(left, 30, "start", ` font-size="18" font-weight="bold"`, title)
	s.Text(left, 52, "start", ` fill="#444"`, sub)
}

// Heading writes a bold 14-unit heading (a panel's, the legend's).
func (s *Writer) Heading(x, y float64, t string) {
	s.Text(x, y, "start", ` font-size="14" font-weight="bold"`, t)
}

// Plot is a panel's rectangle, in SVG user units.
type Plot struct{ Left, Right, Top, Bottom float64 }

// TimeAxis scales seconds 0..tMax (rounded up to a tick) onto the plot's
// width and returns the scale and the ticks.
func (p Plot) TimeAxis(tMax float64) (xOf func(float64) float64, ticks []float64) {
	if tMax <= 0 {
		tMax = 1
	}
	ticks = NiceTicks(0, tMax, 10)
	end := ticks[len(ticks)-1]
	return func(t float64) float64 { return p.Left + (p.Right-p.Left)*t/end }, ticks
}

// TimeTicks draws the time ticks and their labels under the plot.
func (s *Writer) TimeTicks(p Plot, xOf func(float64) float64, ticks []float64) {
	for _, t := range ticks {
		x := xOf(t)
		s.Line(x, p.Bottom, x, p.Bottom+5, `stroke="#333"`)
		s.Text(x, p.Bottom+18, "middle", "", report.TrimFloat(RoundTick(t))+"s")
	}
}

// BytesAxis draws the grid and labels (MiB or GiB) of a byte axis from 0 to
// a little above max, and returns its scale.
func (s *Writer) BytesAxis(p Plot, max float64) (yOf func(float64) float64) {
	unit, unitName := float64(1<<20), "MiB"
	if max >= 1<<30 {
		unit, unitName = 1<<30, "GiB"
	}
	ticks := NiceTicks(0, max*1.05/unit, 6)
	top := ticks[len(ticks)-1] * unit
	yOf = func(v float64) float64 { return p.Bottom - (p.Bottom-p.Top)*v/top }
	for _, v := range ticks {
		y := yOf(v * unit)
		s.Line(p.Left, y, p.Right, y, `stroke="#e4e4e4"`)
		s.Text(p.Left-8, y+4, "end", "", report.TrimFloat(RoundTick(v))+" "+unitName)
	}
	return yOf
}

// Reference draws a labelled dashed horizontal line at y (live bytes, ...).
func (s *Writer) Reference(p Plot, y float64, color, dash, label string) {
	s.Line(p.Left, y, p.Right, y, fmt.Sprintf(`stroke="%s" stroke-dasharray="%s"`, color, dash))
	s.Text(p.Right-4, y-5, "end", fmt.Sprintf(` fill="%s"`, color), label)
}

// Axes draws the plot's left and bottom edges.
func (s *Writer) Axes(p Plot) {
	s.Line(p.Left, p.Top, p.Left, p.Bottom, `stroke="#333"`)
	s.Line(p.Left, p.Bottom, p.Right, p.Bottom, `stroke="#333"`)
}

// Series draws one mode's line through pts ("x,y" each).
func (s *Writer) Series(mode, color string, width float64, pts []string) {
	s.F(`<polyline class="series" data-mode="%s" fill="none" stroke="%s" stroke-width="%g" stroke-linejoin="round" points="%s"/>`+"\n",
		Esc(mode), color, width, strings.Join(pts, " "))
}

// Point is "x,y" for Series.
func Point(x, y float64) string { return fmt.Sprintf("%.1f,%.1f", x, y) }

// Marker draws a hollow circle (a phase boundary) at (x, y).
func (s *Writer) Marker(x, y float64, color string) {
	s.F(`<circle cx="%.1f" cy="%.1f" r="3.5" fill="white" stroke="%s" stroke-width="1.5"/>`+"\n", x, y, color)
}

// Legend writes a legend entry at (x, y): a line of the mode's colour, its
// name in bold, and notes in small grey lines from y+first, 14 units apart.
func (s *Writer) Legend(x, y float64, mode, color string, first float64, notes ...string) {
	s.Line(x, y, x+28, y, fmt.Sprintf(`stroke="%s" stroke-width="3"`, color))
	s.Text(x+36, y+4, "start", ` font-weight="bold"`, mode)
	for i, n := range notes {
		s.Note(x+36, y+first+14*float64(i), n)
	}
}

// Note writes a small grey legend note at (x, y).
func (s *Writer) Note(x, y float64, t string) {
	s.Text(x, y, "start", ` fill="#444" font-size="11"`, t)
}
