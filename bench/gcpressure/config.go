// config.go is gcpressure's command line: the flags, their checks, and the
// flags a child is given (the parent's, with -child first).
package main

import (
	"flag"
	"fmt"
	"io"
	"math"
	"strconv"
	"time"

	"github.com/offheap/offheap/bench/internal/harness"
	"github.com/offheap/offheap/bench/internal/units"
)

// Defaults for `make bench`: the eight modes, one after another, take about a
// minute on two quiet cores and under a minute and a half on a busy one
// (native-memlimit and native-gogc400, the slowest, ~10-15 s each), never more
// than ~5.7 GiB resident at a time (native-gogc400's peak). Each buffer is
// replaced ~20 times: 200 rounds (the results in RESULTS.md before the GOGC
// pair was added ran 300, with six modes).
const (
	defaultLive   = 1 << 30
	defaultSize   = "16KiB"
	defaultChurn  = 10.0
	defaultRounds = 200
	defaultSample = 50 * time.Millisecond
)

// config is everything that defines a run; the parent passes it to each child
// with the same flags (see childArgs).
type config struct {
	Live     int64         // bytes of buffers held
	Size     sizeSpec      // buffer sizes
	Churn    float64       // percent of buffers replaced per round, (0, 100]
	Rounds   int           // rounds of churn after the fill (when Duration is 0)
	Duration time.Duration // churn for this long instead of Rounds
	Modes    []string      // modes to run, in table order
	Seed     uint64        // seed of every random choice (same in every mode)
	Sample   time.Duration // RSS / latency sampling interval
	JSON     string        // -json FILE
	Chart    string        // -chart FILE.svg
	Child    bool          // hidden: run Modes[0] in this process, JSON lines on stdout
}

// maxBuffers bounds the number of live buffers (their headers alone are
// 32 bytes each on the Go heap, in every mode).
const maxBuffers = 8 << 20

const usageText = `usage: gcpressure [flags]

Holds -live bytes of []byte buffers, replaces -churn percent of them per
round, and meanwhile serves small requests on another goroutine, recording
each one's latency. The same workload (same seed) runs once per mode, each
mode in its own child process, and the modes are compared against native.

Modes: native (make), native-memlimit (make, GOMEMLIMIT = 1.5 x -live),
sync-pool (sync.Pool per size class), offheap (offheap.Alloc/Free),
offheap-pool (offheap.BufferPool per size class), offheap-slab (offheap.Slab),
and the GOGC pair native-gogc400 and offheap-gogc400 (make and offheap.Alloc
at GOGC=400: what raising GOGC costs each in memory).

Sizes take a unit: B, KiB, MiB, GiB, TiB (also K, M, G, T = KiB ...; KB, MB,
GB = powers of 1000); fractions such as 1.5GiB are fine.

Flags:
`

func newFlagSet(cfg *config, sizeText, liveText, modesText *string) *flag.FlagSet {
	fs := flag.NewFlagSet("gcpressure", flag.ContinueOnError)
	fs.StringVar(liveText, "live", units.FormatSize(defaultLive), "total `SIZE` of the buffers held live")
	fs.StringVar(sizeText, "size", defaultSize, "buffer size: a fixed `SIZE` such as 16KiB, or a range LO-HI such as 64B-64KiB\n(sizes drawn log-uniformly; pool modes use one pool per power-of-two class)")
	fs.Float64Var(&cfg.Churn, "churn", defaultChurn, "`PERCENT` of the buffers replaced (freed and allocated anew) per round, in (0, 100]")
	fs.IntVar(&cfg.Rounds, "rounds", defaultRounds, "rounds of churn after the fill")
	fs.DurationVar(&cfg.Duration, "duration", 0, "churn for this long after the fill instead of a number of -rounds")
	fs.StringVar(modesText, "modes", "all", "comma-separated `MODES` to run, or all")
	fs.Uint64Var(&cfg.Seed, "seed", 1, "random seed (sizes, which buffers are replaced, request keys)")
	fs.DurationVar(&cfg.Sample, "sample", defaultSample, "interval of the RSS and rolling request p99 samples in the chart")
	fs.StringVar(&cfg.JSON, "json", "", "write the results to `FILE` as JSON (one object per mode)")
	fs.StringVar(&cfg.Chart, "chart", "", "write an SVG chart of RSS and request latency over time to `FILE`")
	fs.BoolVar(&cfg.Child, "child", false, "internal: run the one mode given by -modes in this process")
	return fs
}

// parseConfig parses and validates the command line. Errors other than
// flag.ErrHelp are *harness.UsageError (exit status 2). Usage text and flag package
// messages go to out.
func parseConfig(args []string, out io.Writer) (config, error) {
	var cfg config
	var sizeText, liveText, modesText string
	fs := newFlagSet(&cfg, &sizeText, &liveText, &modesText)
	if err := harness.ParseFlags(fs, args, out, usageText); err != nil {
		return cfg, err
	}
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })

	live, err := units.ParseSize(liveText)
	if err != nil {
		return cfg, harness.Usagef("-live: %v", err)
	}
	cfg.Live = live
	if cfg.Size, err = parseSizeSpec(sizeText); err != nil {
		return cfg, harness.Usagef("-size: %v", err)
	}
	if cfg.Size.Hi > cfg.Live {
		return cfg, harness.Usagef("-size %s: larger than -live %s", cfg.Size, units.FormatSize(cfg.Live))
	}
	if n := float64(cfg.Live) / cfg.Size.Mean(); n > maxBuffers {
		return cfg, harness.Usagef("-live %s of -size %s is about %.0f buffers; the limit is %d: raise -size or lower -live",
			units.FormatSize(cfg.Live), cfg.Size, n, maxBuffers)
	}
	if math.IsNaN(cfg.Churn) || cfg.Churn <= 0 || cfg.Churn > 100 {
		return cfg, harness.Usagef("-churn %s: must be a percentage above 0 and at most 100", strconv.FormatFloat(cfg.Churn, 'g', -1, 64))
	}
	if set["rounds"] && set["duration"] {
		return cfg, harness.Usagef("-rounds and -duration: give one or the other")
	}
	if cfg.Duration < 0 {
		return cfg, harness.Usagef("-duration %v: must be positive", cfg.Duration)
	}
	if cfg.Duration == 0 && cfg.Rounds < 1 {
		return cfg, harness.Usagef("-rounds %d: must be at least 1", cfg.Rounds)
	}
	if cfg.Duration > 0 {
		cfg.Rounds = 0
	}
	if cfg.Sample < 10*time.Millisecond || cfg.Sample > 10*time.Second {
		return cfg, harness.Usagef("-sample %v: must be between 10ms and 10s", cfg.Sample)
	}
	if cfg.Modes, err = modeTable.Parse(modesText); err != nil {
		return cfg, harness.Usagef("-modes: %v", err)
	}
	if cfg.Child {
		if len(cfg.Modes) != 1 {
			return cfg, harness.Usagef("-child runs exactly one mode; -modes names %d", len(cfg.Modes))
		}
		if cfg.JSON != "" || cfg.Chart != "" {
			return cfg, harness.Usagef("-child writes JSON lines to stdout; -json and -chart belong to the parent")
		}
	}
	return cfg, nil
}

// childArgs is the command line that makes a child run mode with cfg.
func childArgs(cfg config, mode string) []string {
	size := fmt.Sprintf("%dB-%dB", cfg.Size.Lo, cfg.Size.Hi)
	if cfg.Size.Fixed() {
		size = fmt.Sprintf("%dB", cfg.Size.Lo)
	}
	args := []string{
		"-child",
		"-modes", mode,
		"-live", strconv.FormatInt(cfg.Live, 10) + "B",
		"-size", size,
		"-churn", strconv.FormatFloat(cfg.Churn, 'g', -1, 64),
		"-seed", strconv.FormatUint(cfg.Seed, 10),
		"-sample", cfg.Sample.String(),
	}
	if cfg.Duration > 0 {
		args = append(args, "-duration", cfg.Duration.String())
	} else {
		args = append(args, "-rounds", strconv.Itoa(cfg.Rounds))
	}
	return args
}
