// Package svg holds what the benchmark commands' hand-written SVG charts
// share: an error-remembering writer with text and line helpers, and "nice"
// axis ticks.
package svg

import (
	"bufio"
	"encoding/xml"
	"fmt"
	"io"
	"math"
	"strings"
)

// Writer writes SVG to a buffered writer and remembers the first error.
type Writer struct {
	w   *bufio.Writer
	err error
}

// New returns a Writer on out; call Close to flush.
func New(out io.Writer) *Writer { return &Writer{w: bufio.NewWriter(out)} }

// F writes formatted output.
func (s *Writer) F(format string, args ...any) {
	if s.err == nil {
		_, s.err = fmt.Fprintf(s.w, format, args...)
	}
}

// Esc escapes t for XML text.
func Esc(t string) string {
	var b strings.Builder
	xml.EscapeText(&b, []byte(t))
	return b.String()
}

// Text writes a text element at (x, y); extra holds further attributes.
func (s *Writer) Text(x, y float64, anchor, extra, t string) {
	s.F(`<text x="%.1f" y="%.1f" text-anchor="%s"%s>%s</text>`+"\n", x, y, anchor, extra, Esc(t))
}

// Line writes a line element with the given style attributes.
func (s *Writer) Line(x1, y1, x2, y2 float64, style string) {
	s.F(`<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" %s/>`+"\n", x1, y1, x2, y2, style)
}

// Close flushes the output and returns the first error.
func (s *Writer) Close() error {
	if s.err != nil {
		return s.err
	}
	return s.w.Flush()
}

// NiceTicks returns evenly spaced round tick values (steps of 1, 2 or 5 x
// 10^k) from lo to at least hi, about n of them.
func NiceTicks(lo, hi float64, n int) []float64 {
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

// RoundTick removes floating-point noise from a tick value (0.30000000000000004).
func RoundTick(v float64) float64 { return math.Round(v*1e6) / 1e6 }
