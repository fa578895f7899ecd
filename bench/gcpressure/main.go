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
	"errors"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/offheap/offheap/bench/internal/harness"
	"github.com/offheap/offheap/bench/internal/report"
	"github.com/offheap/offheap/bench/internal/units"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

// run is the whole command: 0 success, 1 failure, 2 bad command line. A
// child's flags are the parent's, with -child first (see childArgs).
func run(args []string, stdout, stderr io.Writer) int {
	return harness.Main("gcpressure", args, stderr, func(args []string) error {
		cfg, err := parseConfig(args, stderr)
		if err != nil {
			return err
		}
		return runChild(cfg, stdout)
	}, func(args []string) error {
		cfg, err := parseConfig(args, stderr)
		if err != nil {
			return err
		}
		return runParent(cfg, stdout, stderr)
	})
}

// modeRun is what the parent learned from one child.
type modeRun struct {
	mode    string
	result  *modeResult
	samples []sample
	err     error
}

func runParent(cfg config, stdout, stderr io.Writer) error {
	par, err := harness.NewParent("gcpressure", "", "", cfg.JSON, cfg.Chart, stderr)
	if err != nil {
		return err
	}
	defer par.Close()
	total := time.Now()
	runs := make([]*modeRun, len(cfg.Modes))
	par.Each(cfg.Modes, func(i int) (string, error) {
		runs[i] = runMode(par.Exe, cfg, cfg.Modes[i], par.Prog)
		if runs[i].err != nil {
			return "", runs[i].err
		}
		return "peak RSS " + units.HumanBytes(float64(runs[i].result.PeakRSSBytes)), nil
	})

	var results []*modeResult
	var failed []string
	var series []chartSeries
	for _, r := range runs {
		if r.err != nil {
			failed = append(failed, fmt.Sprintf("%s: %v", r.mode, r.err))
			continue
		}
		results = append(results, r.result)
		series = append(series, chartSeries{Mode: r.mode, Samples: r.samples, Result: r.result})
	}
	fillRatios(results)
	writeTable(stdout, cfg, results)
	for _, msg := range failed {
		fmt.Fprintf(stdout, "FAILED %s\n", msg)
	}
	if err := par.JSON.Write(func(w io.Writer) error { return writeJSON(w, results) }); err != nil {
		return err
	}
	if err := par.Chart.Write(func(w io.Writer) error { return writeChart(w, cfg, series) }); err != nil {
		return err
	}
	if par.Chart != nil {
		fmt.Fprintf(stdout, "chart: %s\n", par.Chart.Path())
	}
	if par.JSON != nil {
		fmt.Fprintf(stdout, "json: %s\n", par.JSON.Path())
	}
	fmt.Fprintf(stderr, "gcpressure: %d modes in %.1fs\n", len(cfg.Modes), time.Since(total).Seconds())
	if len(failed) > 0 {
		return fmt.Errorf("%d of %d modes failed", len(failed), len(cfg.Modes))
	}
	return nil
}

// runMode runs one mode in a child process and collects its samples (the
// child samples itself: the latency window is only known inside it) and
// result. Stray output of the child goes through the progress line.
func runMode(exe string, cfg config, mode string, prog *harness.Progress) *modeRun {
	r := &modeRun{mode: mode}
	_, r.err = harness.Run(harness.Spec{
		Path: exe,
		Args: childArgs(cfg, mode),
		Line: func(line []byte, _ float64) bool {
			var m message
			if !prog.Decode(mode, line, &m, func() bool { return m.Sample != nil || m.Result != nil }) {
				return false
			}
			if m.Sample != nil {
				r.samples = append(r.samples, *m.Sample)
				prog.Update(stage(cfg, *m.Sample))
			}
			if m.Result != nil {
				r.result = m.Result
			}
			return false
		},
		Stderr: func(line string) { prog.Println(mode + ": " + line) },
	})
	if r.err == nil && r.result == nil {
		r.err = errors.New("child exited without a result")
	}
	return r
}

// stage is the progress status of a sample: the phase, RSS and request p99.
func stage(cfg config, s sample) string {
	st := "filling"
	if s.Phase != "fill" {
		st = fmt.Sprintf("churn round %d", s.Round)
		if cfg.Duration == 0 {
			st += fmt.Sprintf("/%d", cfg.Rounds)
		}
	}
	p99 := "-"
	if s.ReqP99 > 0 {
		p99 = report.Ns(s.ReqP99)
	}
	return fmt.Sprintf("%s  rss %s  req p99 %s", st, units.HumanBytes(float64(s.RSS)), p99)
}
