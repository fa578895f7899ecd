//go:build !linux

package main

import (
	"errors"
	"time"
)

// The burst benchmark reads /proc and getrusage: Linux only. Elsewhere it
// builds (so the bench module's tests compile) and every mode fails at once.

func rssOf(pid int) (int64, error)             { return 0, errors.New("RSS sampling needs Linux /proc") }
func usage() (minflt int64, cpu time.Duration) { return 0, 0 }
func peakRSS() int64                           { return 0 }
