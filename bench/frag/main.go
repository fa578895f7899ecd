// Command frag measures resident memory against live bytes when the order of
// frees fragments the heap (issue 10): a phase change between two buffer
// sizes, a variable-size cache with random eviction, and a BufferPool put
// back in random order. Each workload runs once per mode - Go's make (with
// and without GOMEMLIMIT), offheap's Alloc/Free, Slab and BufferPool, and the
// phase change in C against offheap, glibc, jemalloc and mimalloc - each in
// its own child process (bench/internal/harness), so every RSS figure is one
// allocator's. The parent prints, per workload, RSS / live after each step,
// peak RSS, throughput and offheap's decommit counts, with ratios to native
// from the same run, and the targets met or not; -json FILE keeps
// every step.
//
//	make bench-frag
//	cd bench && go run ./frag -live 256MiB -workloads phase -modes native,offheap
//
// Run frag -h for the flags.
package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/offheap/offheap/bench/internal/harness"
	"github.com/offheap/offheap/bench/internal/units"
	"github.com/offheap/offheap/go/offheap"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

// run is the whole command: 0 success, 1 failure, 2 bad command line.
func run(args []string, stdout, stderr io.Writer) int {
	return harness.Main("frag", args, stderr, func(args []string) error {
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
	Workload string  `json:"workload"`
	Mode     string  `json:"mode"`
	Result   *result `json:"result,omitempty"`
	Error    string  `json:"error,omitempty"`
	err      error
}

func runParent(cfg config, stdout, stderr io.Writer) error {
	par, err := harness.NewParent("frag", cfg.CBin, "cfrag-offheap", cfg.JSON, "", stderr)
	if err != nil {
		return err
	}
	defer par.Close()
	total := time.Now()
	pairs := cfg.runs()
	runs := make([]*modeRun, len(pairs))
	labels := make([]string, len(pairs))
	for i, p := range pairs {
		labels[i] = p[0] + " / " + p[1]
	}
	par.Each(labels, func(i int) (string, error) {
		mr := runMode(cfg, pairs[i][0], pairs[i][1], par.Exe, par.CDir, par.Prog)
		runs[i] = mr
		if mr.err != nil {
			mr.Error = mr.err.Error()
			return "", mr.err
		}
		return summary(mr.Result), nil
	})
	sameOperations(runs)
	writeReport(stdout, cfg, par.CDir, runs)
	var failed int
	for _, mr := range runs {
		if mr.err != nil {
			failed++
			fmt.Fprintf(stdout, "FAILED %s / %s: %v\n", mr.Workload, mr.Mode, mr.err)
		}
	}
	if err := par.JSON.Write(func(w io.Writer) error {
		return harness.WriteJSON(w, jsonDoc{Config: jsonConfigOf(cfg), Runs: runs})
	}); err != nil {
		return err
	}
	if par.JSON != nil {
		fmt.Fprintf(stdout, "json: %s\n", par.JSON.Path())
	}
	fmt.Fprintf(stderr, "frag: %d runs in %.1fs\n", len(pairs), time.Since(total).Seconds())
	if failed > 0 {
		return fmt.Errorf("%d of %d runs failed", failed, len(pairs))
	}
	return nil
}

// sameOperations fails every cache run whose operations differ from the
// first's: the modes are compared on the same gets, sets and evictions, and
// the C harness draws its keys and sizes with ports of the Go child's
// generators (cfrag/cache.c), which this checks on every run.
func sameOperations(runs []*modeRun) {
	var first *modeRun
	for _, mr := range runs {
		if mr.Workload != "cache" || mr.err != nil || mr.Result == nil {
			continue
		}
		r := mr.Result
		if first == nil {
			first = mr
			continue
		}
		f := first.Result
		if r.Hits != f.Hits || r.Misses != f.Misses || r.Evictions != f.Evictions || r.Updates != f.Updates || r.Values != f.Values {
			mr.err = fmt.Errorf("other operations than %s: %d/%d hits, %d/%d misses, %d/%d evictions, %d/%d updates, %d/%d values at the end",
				first.Mode, r.Hits, f.Hits, r.Misses, f.Misses, r.Evictions, f.Evictions, r.Updates, f.Updates, r.Values, f.Values)
			mr.Error = mr.err.Error()
		}
	}
}

// runMode runs one workload in one mode in a child process.
func runMode(cfg config, workload, mode, exe, cdir string, prog *harness.Progress) *modeRun {
	mr := &modeRun{Workload: workload, Mode: mode}
	path, err := modes.Exe(mode, exe, cdir, "make bench-frag-c")
	if err != nil {
		mr.err = err
		return mr
	}
	var steps []step
	_, err = harness.Run(harness.Spec{
		Path: path,
		Args: childArgs(cfg, workload, mode),
		Env:  childEnv(cfg),
		Line: func(line []byte, _ float64) bool {
			var m message
			if !prog.Decode(mode, line, &m, func() bool { return m.Step != nil || m.Result != nil }) {
				return false
			}
			if m.Step != nil {
				steps = append(steps, *m.Step)
				prog.Update(fmt.Sprintf("%s: RSS %s, live %s", m.Step.Name, units.HumanBytes(float64(m.Step.RSS)),
					units.HumanBytes(float64(m.Step.Live))))
			}
			if m.Result != nil {
				mr.Result = m.Result
			}
			return false
		},
		Stderr: func(l string) { prog.Println(mode + ": " + l) },
	})
	switch {
	case err != nil:
		mr.err = err
	case mr.Result == nil:
		mr.err = errors.New("child exited without a result")
	case len(mr.Result.Steps) == 0:
		mr.Result.Steps = steps
	}
	return mr
}

type jsonDoc struct {
	Config jsonConfig `json:"config"`
	Runs   []*modeRun `json:"runs"`
}

type jsonConfig struct {
	Live       int64    `json:"live"`
	Pool       int64    `json:"pool"`
	Seed       uint64   `json:"seed"`
	CacheOps   int64    `json:"cache_ops"`
	PurgeDelay string   `json:"purge_delay"`
	WaitS      float64  `json:"wait_s"`
	MemLimit   float64  `json:"memlimit_factor"`
	Workloads  []string `json:"workloads"`
	Modes      []string `json:"modes"`
}

func jsonConfigOf(cfg config) jsonConfig {
	return jsonConfig{Live: cfg.Live, Pool: cfg.Pool, Seed: cfg.Seed, CacheOps: cfg.CacheOps, PurgeDelay: cfg.Delay.String(),
		WaitS: cfg.Wait.Seconds(), MemLimit: cfg.MemLimit, Workloads: cfg.Workloads, Modes: cfg.Modes}
}
