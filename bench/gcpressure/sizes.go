// sizes.go is gcpressure's -size: a fixed buffer size or a log-uniform range,
// and the size classes of the pool modes.
package main

import (
	"fmt"
	"math"
	"math/bits"
	"math/rand/v2"
	"strings"

	"github.com/offheap/offheap/bench/internal/units"
)

// sizeSpec is the -size flag: a fixed size, or a range [Lo, Hi] from which
// sizes are drawn log-uniformly (every power of two in the range is equally
// likely, as in most real mixes of small and large buffers).
type sizeSpec struct {
	Lo, Hi int64
}

func (s sizeSpec) Fixed() bool { return s.Lo == s.Hi }

func (s sizeSpec) String() string {
	if s.Fixed() {
		return units.FormatSize(s.Lo)
	}
	return units.FormatSize(s.Lo) + "-" + units.FormatSize(s.Hi)
}

// parseSizeSpec parses "16KiB" or "64B-64KiB".
func parseSizeSpec(s string) (sizeSpec, error) {
	lo, hi, isRange := strings.Cut(s, "-")
	if !isRange {
		n, err := units.ParseSize(s)
		if err != nil {
			return sizeSpec{}, err
		}
		return sizeSpec{n, n}, nil
	}
	a, err := units.ParseSize(lo)
	if err != nil {
		return sizeSpec{}, fmt.Errorf("range %q: low end: %v", s, err)
	}
	b, err := units.ParseSize(hi)
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
