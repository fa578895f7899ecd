// Package units parses and prints byte sizes for the benchmark commands
// (gcpressure, burst): "64B", "16KiB", "1.5GiB", bare byte counts.
package units

import (
	"fmt"
	"math"
	"strconv"
	"strings"
)

// Byte-size units accepted by ParseSize (case-insensitive). Binary units
// (KiB, K) are powers of 1024; the SI spellings (KB) are powers of 1000, as
// their names say.
var sizeUnits = map[string]float64{
	"": 1, "b": 1,
	"kib": 1 << 10, "mib": 1 << 20, "gib": 1 << 30, "tib": 1 << 40,
	"k": 1 << 10, "m": 1 << 20, "g": 1 << 30, "t": 1 << 40,
	"kb": 1e3, "mb": 1e6, "gb": 1e9, "tb": 1e12,
}

// MaxSize bounds any single size flag (1 TiB): far beyond any machine this
// runs on, and small enough that sums of sizes cannot overflow an int64.
const MaxSize = 1 << 40

// ParseSize parses a byte count such as "64B", "16KiB", "1GiB", "1.5GiB" or a
// bare "4096" (bytes). Fractions are allowed; the result is rounded to the
// nearest byte and must be at least 1.
func ParseSize(s string) (int64, error) {
	t := strings.TrimSpace(s)
	i := strings.IndexFunc(t, func(c rune) bool { return (c < '0' || c > '9') && c != '.' })
	if i < 0 {
		i = len(t)
	}
	num, unit := t[:i], strings.TrimSpace(t[i:])
	if num == "" {
		return 0, fmt.Errorf("%q: not a size (want a number and a unit, such as 16KiB)", s)
	}
	mult, ok := sizeUnits[strings.ToLower(unit)]
	if !ok {
		return 0, fmt.Errorf("%q: unknown unit %q (use B, KiB, MiB, GiB or TiB)", s, unit)
	}
	f, err := strconv.ParseFloat(num, 64)
	if err != nil {
		return 0, fmt.Errorf("%q: %q is not a number", s, num)
	}
	v := math.Round(f * mult)
	if v < 1 {
		return 0, fmt.Errorf("%q: size must be at least 1 byte", s)
	}
	if v > MaxSize {
		return 0, fmt.Errorf("%q: size too large (the limit is 1TiB)", s)
	}
	return int64(v), nil
}

// formatSize renders a byte count the way parseSize reads it, exactly when it
// can ("16KiB", "1.5GiB", "100B").
func FormatSize(n int64) string {
	units := []struct {
		name string
		v    int64
	}{{"TiB", 1 << 40}, {"GiB", 1 << 30}, {"MiB", 1 << 20}, {"KiB", 1 << 10}}
	for _, u := range units {
		if n >= u.v && n%(u.v/1024) == 0 {
			// Exact when the value is a whole number of 1/1024ths of the unit
			// and prints in at most 3 decimals.
			f := float64(n) / float64(u.v)
			s := strconv.FormatFloat(f, 'f', -1, 64)
			if len(s) <= 7 {
				return s + u.name
			}
		}
	}
	return strconv.FormatInt(n, 10) + "B"
}

// humanBytes renders a byte count for people: 3 significant digits.
func HumanBytes(n float64) string {
	switch a := math.Abs(n); {
	case a >= 1<<30:
		return fmt.Sprintf("%.2f GiB", n/(1<<30))
	case a >= 1<<20:
		return fmt.Sprintf("%.1f MiB", n/(1<<20))
	case a >= 1<<10:
		return fmt.Sprintf("%.1f KiB", n/(1<<10))
	}
	return fmt.Sprintf("%.0f B", n)
}
