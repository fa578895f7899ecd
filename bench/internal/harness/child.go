// Package harness is what the benchmark commands (gcpressure, burst, frag)
// share: each mode runs in a child process of its own (the command
// re-executes itself with -child, or runs a C harness binary) so that
// resident-set figures are per mode; the parent reads the child's JSON lines,
// samples its RSS from /proc, shows progress on stderr, and prints aligned
// tables and JSON. Before it existed each command carried its own copy.
//
// child.go starts one child and collects what it says.
package harness

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"time"
)

// ChildFlag is the first argument of a command re-executed as a child.
const ChildFlag = "-child"

// IsChild reports whether args (without the program name) ask for a child.
func IsChild(args []string) bool { return len(args) > 0 && args[0] == ChildFlag }

// ChildArgs is args prefixed with ChildFlag.
func ChildArgs(args ...string) []string { return append([]string{ChildFlag}, args...) }

// SelfExe is the binary the parent re-executes for its Go modes (a test
// binary in tests, whose TestMain dispatches on IsChild).
var SelfExe = os.Executable

// Sample is one RSS reading of a child, taken by the parent.
type Sample struct {
	T   float64 `json:"t"`   // seconds since the child was started (parent clock)
	RSS int64   `json:"rss"` // bytes
}

// Spec says how to run one child.
type Spec struct {
	Path string   // the executable
	Args []string // its arguments
	Env  []string // added to the parent's environment
	// Sample is the RSS sampling interval (0: no sampling). Sampling stops
	// when the child exits or Line asks it to.
	Sample time.Duration
	// Line is called for each line of the child's standard output, with the
	// time since the child was started on the parent's clock. It returns true
	// to stop the sampling: once a child has said it is done it may be a
	// zombie whose statm reads zero.
	Line func(line []byte, at float64) (stopSampling bool)
	// Stderr, if set, is called for each line of the child's standard error
	// (which is also kept for the error message).
	Stderr func(line string)
}

// maxStderr bounds the child's error output kept for the error message.
const maxStderr = 4096

// Run runs the child to its end and returns the RSS samples taken meanwhile.
// A child that fails (exit status, or unreadable output) is an error that
// quotes the start of its standard error.
func Run(s Spec) ([]Sample, error) {
	cmd := exec.Command(s.Path, s.Args...)
	cmd.Env = append(os.Environ(), s.Env...)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	stderr, err := cmd.StderrPipe()
	if err != nil {
		return nil, err
	}
	t0 := time.Now()
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	pid := cmd.Process.Pid

	var errText strings.Builder
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		sc := bufio.NewScanner(stderr)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		for sc.Scan() {
			if s.Stderr != nil {
				s.Stderr(sc.Text())
			}
			if errText.Len() < maxStderr {
				errText.WriteString(sc.Text())
				errText.WriteByte('\n')
			}
		}
		io.Copy(io.Discard, stderr)
	}()

	var (
		mu       sync.Mutex
		finished bool
		samples  []Sample
		stop     = make(chan struct{})
		sampDone = make(chan struct{})
	)
	go func() {
		defer close(sampDone)
		if s.Sample <= 0 {
			return
		}
		tick := time.NewTicker(s.Sample)
		defer tick.Stop()
		for {
			rss, err := RSSOf(pid)
			mu.Lock()
			// A child that has exited but not yet been waited for is a
			// zombie whose statm reads zero: its last line may still be on
			// the way through the pipe, so finished alone is not enough.
			if err != nil || finished || rss == 0 {
				mu.Unlock()
				return
			}
			samples = append(samples, Sample{T: time.Since(t0).Seconds(), RSS: rss})
			mu.Unlock()
			select {
			case <-stop:
				return
			case <-tick.C:
			}
		}
	}()

	sc := bufio.NewScanner(stdout)
	sc.Buffer(make([]byte, 64<<10), 16<<20)
	for sc.Scan() {
		at := time.Since(t0).Seconds()
		if s.Line != nil && s.Line(sc.Bytes(), at) {
			mu.Lock()
			finished = true
			mu.Unlock()
		}
	}
	scanErr := sc.Err()
	if scanErr != nil {
		io.Copy(io.Discard, stdout)
	}
	wg.Wait()
	waitErr := cmd.Wait()
	close(stop)
	<-sampDone
	mu.Lock()
	defer mu.Unlock()
	switch {
	case waitErr != nil:
		msg := strings.TrimSpace(errText.String())
		if msg != "" {
			msg = ": " + strings.ReplaceAll(msg, "\n", " / ")
		}
		return samples, fmt.Errorf("child %w%s", waitErr, msg)
	case scanErr != nil:
		return samples, fmt.Errorf("reading the child's output: %v", scanErr)
	}
	return samples, nil
}

// FindCBin is the directory of a command's C harness binaries: flagDir if
// given, else the first of exe's directory, ../build/bench and build/bench
// that holds probe (a binary every build makes); "" if none does.
func FindCBin(flagDir, exe, probe string) string {
	if flagDir != "" {
		return flagDir
	}
	for _, d := range []string{filepath.Dir(exe), filepath.Join("..", "build", "bench"), filepath.Join("build", "bench")} {
		if fi, err := os.Stat(filepath.Join(d, probe)); err == nil && !fi.IsDir() {
			if abs, err := filepath.Abs(d); err == nil {
				return abs
			}
			return d
		}
	}
	return ""
}

// AbsPath is path made absolute, for messages that say where a file went.
func AbsPath(path string) string {
	if a, err := filepath.Abs(path); err == nil {
		return a
	}
	return path
}
