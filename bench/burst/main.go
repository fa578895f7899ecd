// Command burst measures how memory goes back to the OS when demand falls:
// a burst of buffers up to -peak (every byte written), a free down to -floor,
// an idle window, and the same again. Each allocator runs in its own child
// process - offheap's Alloc/Free and BufferPool and Go's make (with its
// background scavenger, runtime.GC, or debug.FreeOSMemory) from Go; offheap,
// glibc, jemalloc and mimalloc from C through a small harness - while the
// parent samples the child's resident set from /proc/PID/statm every -sample.
//
// Per mode it reports the time-to-release (from the end of the free until RSS
// is within 5 % of the burst of the pre-burst level), the RSS while idle, the
// time and page faults of each burst (the cost of the next burst), and peak
// RSS; a table on stdout, -json FILE, and -chart FILE.svg (RSS over time).
//
// -pattern steady holds -peak live instead and replaces -churn percent of the
// buffers per round for -duration: the purge policy's cost under churn
// (decommits, page faults and time per replaced buffer).
//
//	make bench-burst                                       # 1 GiB peak, every mode
//	cd bench && go run ./burst -peak 2GiB -modes offheap,native,jemalloc -chart burst.svg
//	cd bench && go run ./burst -pattern steady -peak 512MiB -gap 50ms -purge-delay 10ms -modes offheap,offheap-c
//
// Run burst -h for the flags.
package main

import (
	"fmt"
	"io"
	"os"
	"slices"

	"github.com/offheap/offheap/bench/internal/harness"
	"github.com/offheap/offheap/go/offheap"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

// run is the whole command: 0 success, 1 failure, 2 bad command line.
func run(args []string, stdout, stderr io.Writer) int {
	return harness.Main("burst", args, stderr, func(args []string) error {
		c, err := parseChildArgs(args[1:])
		if err != nil {
			return err
		}
		return runChild(c, stdout)
	}, func(args []string) error {
		cfg, err := parseConfig(args, stderr, offheap.PurgeDelay())
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
	events  []event
	samples []sample
	err     error
}

func runParent(cfg config, stdout, stderr io.Writer) error {
	par, err := harness.NewParent("burst", cfg.CBin, "cburst-offheap", cfg.JSON, cfg.Chart, stderr)
	if err != nil {
		return err
	}
	defer par.Close()
	byMode := map[string][]*modeRun{}
	labels := slices.Repeat(cfg.Modes, cfg.Runs) // the runs interleaved
	par.Each(labels, func(i int) (string, error) {
		mr := runMode(cfg, labels[i], par.Exe, par.CDir, par.Prog)
		byMode[mr.mode] = append(byMode[mr.mode], mr)
		if mr.err != nil {
			return "", mr.err
		}
		return oneLine(cfg, mr.result), nil
	})

	var results []*modeResult
	var failed []string
	var series []chartSeries
	for _, m := range cfg.Modes {
		var ok []*modeResult
		for _, mr := range byMode[m] {
			if mr.err != nil {
				failed = append(failed, fmt.Sprintf("%s: %v", m, mr.err))
				continue
			}
			ok = append(ok, mr.result)
		}
		if len(ok) == 0 {
			continue
		}
		results = append(results, medianResult(ok))
		for _, mr := range byMode[m] {
			if mr.err == nil {
				series = append(series, chartSeries{Mode: m, Samples: mr.samples, Events: mr.events, Result: mr.result})
				break
			}
		}
	}
	writeTable(stdout, cfg, par.CDir, results)
	for _, msg := range failed {
		fmt.Fprintf(stdout, "FAILED %s\n", msg)
	}
	if err := par.JSON.Write(func(w io.Writer) error { return writeJSON(w, cfg, results, byMode) }); err != nil {
		return err
	}
	if err := par.Chart.Write(func(w io.Writer) error { return writeChart(w, cfg, series) }); err != nil {
		return err
	}
	if len(failed) > 0 {
		return fmt.Errorf("%d of %d mode runs failed", len(failed), len(labels))
	}
	return nil
}

// runMode runs one mode in a child process, sampling its RSS meanwhile.
func runMode(cfg config, mode, exe, cdir string, prog *harness.Progress) *modeRun {
	mr := &modeRun{mode: mode}
	path, err := modes.Exe(mode, exe, cdir, "make bench-burst-c")
	if err != nil {
		mr.err = err
		return mr
	}
	var recv []float64
	samples, err := harness.Run(harness.Spec{
		Path:   path,
		Args:   childArgs(cfg, mode),
		Env:    childEnv(cfg),
		Sample: cfg.Sample,
		Line: func(line []byte, at float64) bool {
			var e event
			if !prog.Decode(mode, line, &e, func() bool { return e.Event != "" }) {
				return false
			}
			mr.events = append(mr.events, e)
			recv = append(recv, at)
			if e.Event != "done" {
				prog.Update(e.Event)
			}
			// After done the child may be a zombie whose statm reads zero.
			return e.Event == "done"
		},
		Stderr: func(l string) { prog.Println(mode + ": " + l) }, // above the progress line, as frag and gcpressure
	})
	mr.samples = samples
	if err != nil {
		mr.err = err
		return mr
	}
	alignEvents(mr.events, recv)
	mr.result, mr.err = analyze(cfg, mode, mr.events, mr.samples)
	return mr
}
