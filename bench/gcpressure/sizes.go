package main

import (
	"fmt"
	"math"
	"math/bits"
	"math/rand/v2"
	"strconv"
	"strings"
)

// Byte-size units accepted by parseSize (case-insensitive). Binary units
// (KiB, K) are powers of 1024; the SI spellings (KB) are powers of 1000, as
// their names say.
var sizeUnits = map[string]float64{
	"": 1, "b": 1,
	"kib": 1 << 10, "mib": 1 << 20, "gib": 1 << 30, "tib": 1 << 40,
	"k": 1 << 10, "m": 1 << 20, "g": 1 << 30, "t": 1 << 40,
	"kb": 1e3, "mb": 1e6, "gb": 1e9, "tb": 1e12,
}

// maxSize bounds any single size flag (1 TiB): far beyond any machine this
// runs on, and small enough that sums of sizes cannot overflow an int64.
const maxSize = 1 << 40

// parseSize parses a byte count such as "64B", "16KiB", "1GiB", "1.5GiB" or a
// bare "4096" (bytes). Fractions are allowed; the result is rounded to the
// nearest byte and must be at least 1.
func parseSize(s string) (int64, error) {
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
	if v > maxSize {
		return 0, fmt.Errorf("%q: size too large (the limit is 1TiB)", s)
	}
	return int64(v), nil
}

// formatSize renders a byte count the way parseSize reads it, exactly when it
// can ("16KiB", "1.5GiB", "100B").
func formatSize(n int64) string {
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
func humanBytes(n float64) string {
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

// sizeSpec is the -size flag: a fixed size, or a range [Lo, Hi] from which
// sizes are drawn log-uniformly (every power of two in the range is equally
// likely, as in most real mixes of small and large buffers).
type sizeSpec struct {
	Lo, Hi int64
}

func (s sizeSpec) Fixed() bool { return s.Lo == s.Hi }

func (s sizeSpec) String() string {
	if s.Fixed() {
		return formatSize(s.Lo)
	}
	return formatSize(s.Lo) + "-" + formatSize(s.Hi)
}

// parseSizeSpec parses "16KiB" or "64B-64KiB".
func parseSizeSpec(s string) (sizeSpec, error) {
	lo, hi, isRange := strings.Cut(s, "-")
	if !isRange {
		n, err := parseSize(s)
		if err != nil {
			return sizeSpec{}, err
		}
		return sizeSpec{n, n}, nil
	}
	a, err := parseSize(lo)
	if err != nil {
		return sizeSpec{}, fmt.Errorf("range %q: low end: %v", s, err)
	}
	b, err := parseSize(hi)
	if err != nil {
		return sizeSpec{}, fmt.Errorf("range %q: high end: %v", s, err)
	}
	if a > b {
		return sizeSpec{}, fmt.Errorf("range %q: low end is above the high end", s)
	}
	return sizeSpec{a, b}, nil
}

// Mean is the expected size of one draw.
func (s sizeSpec) Mean() float64 {
	if s.Fixed() {
		return float64(s.Lo)
	}
	// For a log-uniform variable on [lo, hi]: (hi - lo) / ln(hi / lo).
	lo, hi := float64(s.Lo), float64(s.Hi)
	return (hi - lo) / math.Log(hi/lo)
}

// Draw returns one size from the spec using rng.
func (s sizeSpec) Draw(rng *rand.Rand) int {
	if s.Fixed() {
		return int(s.Lo)
	}
	lo, hi := float64(s.Lo), float64(s.Hi)
	v := int(math.Exp(math.Log(lo) + rng.Float64()*math.Log(hi/lo)))
	return min(max(v, int(s.Lo)), int(s.Hi))
}

// sizeClasses maps a request size to the pool that serves it: one class of
// exactly the size for a fixed -size, power-of-two classes for a range.
type sizeClasses struct {
	fixed    int
	minShift int
	count    int
}

func newSizeClasses(s sizeSpec) sizeClasses {
	if s.Fixed() {
		return sizeClasses{fixed: int(s.Lo), count: 1}
	}
	lo, hi := ceilLog2(int(s.Lo)), ceilLog2(int(s.Hi))
	return sizeClasses{minShift: lo, count: hi - lo + 1}
}

// class returns the index and buffer size of the class that serves n bytes.
func (c sizeClasses) class(n int) (idx, size int) {
	if c.fixed > 0 {
		return 0, c.fixed
	}
	sh := max(ceilLog2(n), c.minShift)
	return sh - c.minShift, 1 << sh
}

func ceilLog2(n int) int {
	if n <= 1 {
		return 0
	}
	return bits.Len(uint(n - 1))
}
