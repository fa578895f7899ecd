// proc_linux.go reads the figures every benchmark command reports about a
// process - resident set, peak resident set, page faults, CPU time - from
// /proc and getrusage, so that gcpressure, burst and frag measure them the
// same way.
package harness

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"strconv"
	"syscall"
	"time"
	"unsafe"
)

// RSSOf is the resident set size (bytes) of process pid, from
// /proc/PID/statm: cheaper to read than status, so it can be sampled often.
func RSSOf(pid int) (int64, error) {
	return statmRSS("/proc/" + strconv.Itoa(pid) + "/statm")
}

// SelfRSS is this process's resident set size in bytes (0 if unreadable).
func SelfRSS() int64 {
	n, _ := statmRSS("/proc/self/statm")
	return n
}

func statmRSS(path string) (int64, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0, err
	}
	f := bytes.Fields(b)
	if len(f) < 2 {
		return 0, fmt.Errorf("%s: %q", path, b)
	}
	pages, err := strconv.ParseInt(string(f[1]), 10, 64)
	if err != nil {
		return 0, err
	}
	return pages * int64(os.Getpagesize()), nil
}

// PeakRSS is this process's peak resident set size (VmHWM) in bytes.
func PeakRSS() int64 { return StatusField("VmHWM:") }

// StatusField reads a "kB" field of /proc/self/status (name with its colon,
// "VmHWM:"), in bytes; 0 if absent.
func StatusField(name string) int64 {
	f, err := os.Open("/proc/self/status")
	if err != nil {
		return 0
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if rest, ok := bytes.CutPrefix(sc.Bytes(), []byte(name)); ok {
			fs := bytes.Fields(rest)
			if len(fs) == 0 {
				return 0
			}
			kb, err := strconv.ParseInt(string(fs[0]), 10, 64)
			if err != nil {
				return 0
			}
			return kb << 10
		}
	}
	return 0
}

// Usage is this process's minor page faults and CPU time (user + system,
// all threads) so far.
func Usage() (minflt int64, cpu time.Duration) {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0, 0
	}
	return ru.Minflt, time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// CPUTime is this process's user + system CPU time so far.
func CPUTime() time.Duration {
	_, cpu := Usage()
	return cpu
}

// IsTerminal reports whether f is a terminal (the TCGETS ioctl succeeds).
func IsTerminal(f *os.File) bool {
	var t syscall.Termios
	_, _, e := syscall.Syscall(syscall.SYS_IOCTL, f.Fd(), syscall.TCGETS, uintptr(unsafe.Pointer(&t)))
	return e == 0
}
