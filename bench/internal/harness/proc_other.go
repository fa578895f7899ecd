//go:build !linux

// proc_other.go lets the benchmark commands build (and their tests compile)
// where /proc is missing: every figure reads as unavailable, and sampling a
// child fails at once.
package harness

import (
	"errors"
	"os"
	"time"
)

func RSSOf(pid int) (int64, error)             { return 0, errors.New("RSS sampling needs Linux /proc") }
func SelfRSS() int64                           { return 0 }
func PeakRSS() int64                           { return 0 }
func StatusField(name string) int64            { return 0 }
func Usage() (minflt int64, cpu time.Duration) { return 0, 0 }
func CPUTime() time.Duration                   { return 0 }
func IsTerminal(f *os.File) bool               { return false }
