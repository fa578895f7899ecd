// Package report formats the cells and notes of the benchmark commands'
// tables (gcpressure, burst, frag), so that a second, a count or a ratio
// reads the same in every table. Byte sizes are in bench/internal/units.
package report

import (
	"fmt"
	"math"
	"os"
	"strings"
)

// TrimFloat prints v in the shortest form that reads back, without ".0".
func TrimFloat(v float64) string { return strings.TrimSuffix(fmt.Sprintf("%g", v), ".0") }

// Seconds prints a duration in seconds: 2 decimals below 10 s, 1 above.
func Seconds(v float64) string {
	if v < 10 {
		return fmt.Sprintf("%.2fs", v)
	}
	return fmt.Sprintf("%.1fs", v)
}

// Duration is Seconds, but in whole milliseconds below a second.
func Duration(v float64) string {
	if v < 1 {
		return fmt.Sprintf("%.0fms", v*1e3)
	}
	return Seconds(v)
}

// Count prints a count with a k (from 10 000), M or G suffix; "-" when
// negative (not measured).
func Count(n int64) string {
	switch {
	case n < 0:
		return "-"
	case n >= 1e9:
		return fmt.Sprintf("%.2fG", float64(n)/1e9)
	case n >= 1e6:
		return fmt.Sprintf("%.2fM", float64(n)/1e6)
	case n >= 1e4:
		return fmt.Sprintf("%.0fk", float64(n)/1e3)
	}
	return fmt.Sprintf("%d", n)
}

// Int prints n in full; "-" when negative (not measured).
func Int(n int64) string {
	if n < 0 {
		return "-"
	}
	return fmt.Sprint(n)
}

// MiB prints a byte count in MiB with prec decimals, without the unit (the
// column heading says it).
func MiB(n int64, prec int) string { return fmt.Sprintf("%.*f", prec, float64(n)/(1<<20)) }

// YesNo is a target's verdict: "yes", or "NO" to stand out.
func YesNo(b bool) string {
	if b {
		return "yes"
	}
	return "NO"
}

// Ratio prints a ratio to a baseline with two decimals, or two significant
// digits when it is that small (0.0048x rather than 0.00x).
func Ratio(v float64) string {
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

// Moded is a mode's result in a table.
type Moded interface{ ModeName() string }

// Find is the result of mode name, or the zero value.
func Find[T Moded](results []T, name string) T {
	for _, r := range results {
		if r.ModeName() == name {
			return r
		}
	}
	var none T
	return none
}

// Env lists the variables of names set in the environment, each as
// ", NAME=value" followed by suffix, for a table's first line.
func Env(suffix string, names ...string) string {
	var b strings.Builder
	for _, k := range names {
		if v := os.Getenv(k); v != "" {
			fmt.Fprintf(&b, ", %s=%s%s", k, v, suffix)
		}
	}
	return b.String()
}

// Ns prints nanoseconds with a unit and 3 significant digits: 350ns,
// 1.58µs, 10.5ms, 2.50s.
func Ns(ns float64) string {
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
