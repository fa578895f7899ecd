// Command gcpressure measures what holding and churning gigabytes of []byte
// buffers costs a Go program — wall and CPU time, garbage-collector cycles,
// CPU share and pauses, the tail latency of requests served meanwhile, and
// peak resident memory — with plain make, with GOMEMLIMIT, with sync.Pool,
// and with offheap's Alloc/Free, BufferPool and Slab.
//
// Each mode runs the same workload (same seed) in its own child process, so
// peak RSS is per mode; the parent prints a table with every figure's ratio to
// native, and optionally writes JSON (-json) and an SVG chart (-chart).
//
//	go run ./gcpressure                       # all modes, 1 GiB of 16 KiB buffers
//	go run ./gcpressure -live 4GiB -size 64B-64KiB -modes native,offheap -chart out.svg
//
// Run gcpressure -h for the flags.
package main

import (
	"bufio"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"time"
)

// absPath is path made absolute for messages that say where a file went.
func absPath(path string) string {
	if a, err := filepath.Abs(path); err == nil {
		return a
	}
	return path
}

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

// run is the whole command: 0 success, 1 failure, 2 bad command line.
func run(args []string, stdout, stderr io.Writer) int {
	cfg, err := parseConfig(args, stderr)
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	var ue *usageError
	if errors.As(err, &ue) {
		fmt.Fprintf(stderr, "gcpressure: %v\nRun 'gcpressure -h' for usage.\n", ue)
		return 2
	}
	if cfg.Child {
		if err := runChild(cfg, stdout); err != nil {
			fmt.Fprintf(stderr, "gcpressure: %v\n", err)
			return 1
		}
		return 0
	}
	if err := runParent(cfg, stdout, stderr); err != nil {
		fmt.Fprintf(stderr, "gcpressure: %v\n", err)
		return 1
	}
	return 0
}

// modeRun is what the parent learned from one child.
type modeRun struct {
	mode    string
	result  *modeResult
	samples []sample
	err     error
}

// selfExe is the binary the parent re-executes for each mode.
var selfExe = os.Executable

func runParent(cfg config, stdout, stderr io.Writer) error {
	exe, err := selfExe()
	if err != nil {
		return fmt.Errorf("cannot find own executable to run the modes: %v", err)
	}
	// Create the output files first: a bad path should fail now, not after
	// a minute of measuring.
	var jsonFile, chartFile *os.File
	if cfg.JSON != "" {
		if jsonFile, err = os.Create(cfg.JSON); err != nil {
			return err
		}
		defer jsonFile.Close()
	}
	if cfg.Chart != "" {
		if chartFile, err = os.Create(cfg.Chart); err != nil {
			return err
		}
		defer chartFile.Close()
	}

	f, _ := stderr.(*os.File)
	prog := newProgress(stderr, f != nil && isTerminal(f))
	total := time.Now()
	var runs []*modeRun
	for i, m := range cfg.Modes {
		prog.start(i+1, len(cfg.Modes), m)
		r := runMode(exe, cfg, m, prog)
		prog.done(r)
		runs = append(runs, r)
	}

	var results []*modeResult
	var failed []string
	for _, r := range runs {
		if r.err != nil {
			failed = append(failed, fmt.Sprintf("%s: %v", r.mode, r.err))
			continue
		}
		results = append(results, r.result)
	}
	fillRatios(results)
	writeTable(stdout, cfg, results)
	for _, msg := range failed {
		fmt.Fprintf(stdout, "FAILED %s\n", msg)
	}

	if jsonFile != nil {
		if err := writeJSON(jsonFile, results); err != nil {
			return fmt.Errorf("-json: %v", err)
		}
		if err := jsonFile.Close(); err != nil {
			return fmt.Errorf("-json: %v", err)
		}
	}
	if chartFile != nil {
		var series []chartSeries
		for _, r := range runs {
			if r.err == nil {
				series = append(series, chartSeries{Mode: r.mode, Samples: r.samples, Result: r.result})
			}
		}
		if err := writeChart(chartFile, cfg, series); err != nil {
			return fmt.Errorf("-chart: %v", err)
		}
		if err := chartFile.Close(); err != nil {
			return fmt.Errorf("-chart: %v", err)
		}
		fmt.Fprintf(stdout, "chart: %s\n", absPath(cfg.Chart))
	}
	if jsonFile != nil {
		fmt.Fprintf(stdout, "json: %s\n", absPath(cfg.JSON))
	}
	fmt.Fprintf(stderr, "gcpressure: %d modes in %.1fs\n", len(cfg.Modes), time.Since(total).Seconds())
	if len(failed) > 0 {
		return fmt.Errorf("%d of %d modes failed", len(failed), len(cfg.Modes))
	}
	return nil
}

// runMode runs one mode in a child process and collects its samples and result.
func runMode(exe string, cfg config, mode string, prog *progress) *modeRun {
	r := &modeRun{mode: mode}
	cmd := exec.Command(exe, childArgs(cfg, mode)...)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		r.err = err
		return r
	}
	stderrPipe, err := cmd.StderrPipe()
	if err != nil {
		r.err = err
		return r
	}
	if err := cmd.Start(); err != nil {
		r.err = err
		return r
	}

	// The child's own stderr (panics, runtime errors) goes through the
	// progress line so the two do not garble each other; the first lines are
	// kept for the error message.
	var tail firstLines
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		sc := bufio.NewScanner(stderrPipe)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		for sc.Scan() {
			prog.println(mode + ": " + sc.Text())
			tail.add(sc.Text())
		}
	}()

	sc := bufio.NewScanner(stdout)
	sc.Buffer(make([]byte, 64<<10), 16<<20)
	for sc.Scan() {
		var m message
		if err := json.Unmarshal(sc.Bytes(), &m); err != nil || (m.Sample == nil && m.Result == nil) {
			prog.println(mode + ": " + sc.Text())
			continue
		}
		if m.Sample != nil {
			r.samples = append(r.samples, *m.Sample)
			prog.update(cfg, *m.Sample)
		}
		if m.Result != nil {
			r.result = m.Result
		}
	}
	scanErr := sc.Err()
	if scanErr != nil {
		io.Copy(io.Discard, stdout)
	}
	wg.Wait()
	waitErr := cmd.Wait()
	switch {
	case waitErr != nil:
		r.err = fmt.Errorf("child %v%s", waitErr, tail.String())
	case scanErr != nil:
		r.err = fmt.Errorf("reading the child's output: %v", scanErr)
	case r.result == nil:
		r.err = errors.New("child exited without a result")
	}
	return r
}

// firstLines keeps the first few lines of a child's stderr: the error or
// the panic message (a panic's goroutine dump follows it).
type firstLines struct {
	mu    sync.Mutex
	lines []string
}

func (l *firstLines) add(s string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.lines) < 3 && strings.TrimSpace(s) != "" {
		l.lines = append(l.lines, s)
	}
}

func (l *firstLines) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.lines) == 0 {
		return ""
	}
	return ": " + strings.Join(l.lines, " / ")
}
