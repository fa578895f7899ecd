// config.go is burst's command line: the flags, their checks, the mode
// table, and the plain-number flags a child (Go or C harness) is given.
package main

import (
	"flag"
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/offheap/offheap/bench/internal/harness"
	"github.com/offheap/offheap/bench/internal/units"
)

// Defaults of the command. `make bench-burst` passes a smaller -peak (1GiB).
const (
	defaultPeak     = 2 << 30
	defaultSize     = 16 << 10
	defaultBursts   = 2
	defaultPre      = 300 * time.Millisecond
	defaultSample   = 20 * time.Millisecond
	defaultChurn    = 10.0
	defaultDuration = 5 * time.Second
	minIdle         = time.Second // -idle's default is 3 x the purge delay, at least this
	maxBuffers      = 16 << 20    // the buffer table's entries (one pointer per buffer)
)

// config is everything that defines a run: the workload every child runs,
// and what only the parent needs.
type config struct {
	childConfig
	Delay  purgeDelay // OFFHEAP_PURGE_DELAY_MS given to every child
	Modes  []string
	Runs   int           // each mode runs this many times (interleaved); medians are reported
	Sample time.Duration // RSS sampling interval
	CBin   string        // directory of the cburst-* binaries ("" = search)
	JSON   string
	Chart  string
}

// childConfig is what a child runs (Go child and C harness alike), sent as
// plain-number flags by harness.EncodeChild.
type childConfig struct {
	Mode     string        `child:"mode"`
	Pattern  string        `child:"pattern"`     // "burst" or "steady"
	Peak     int64         `child:"peak"`        // bytes live at the top of each burst (steady: the live size)
	Size     int64         `child:"size"`        // buffer size
	Floor    int64         `child:"floor"`       // bytes kept live between bursts
	Keep     string        `child:"keep"`        // which buffers stay at the floor: "oldest" or "spread"
	Bursts   int           `child:"bursts"`      // bursts, each followed by a free and an idle window
	Pre      time.Duration `child:"pre-ms"`      // quiet window before the first burst (the baseline)
	Idle     time.Duration `child:"idle-ms"`     // idle window after each free
	Duration time.Duration `child:"duration-ms"` // steady: how long the churn runs
	Warm     time.Duration `child:"warm-ms"`     // steady: churn before the counters start
	Churn    float64       `child:"churn"`       // steady: percent of the buffers replaced per round
	Gap      time.Duration `child:"gap-ms"`      // steady: pause between a round's frees and its allocations
}

// purgeDelay is the -purge-delay flag: unset (the library's default), never
// (-1), or a duration rounded to milliseconds.
type purgeDelay struct {
	Set bool
	MS  int64 // -1 = never
}

func (d purgeDelay) String() string {
	switch {
	case !d.Set:
		return "default"
	case d.MS < 0:
		return "never"
	}
	return (time.Duration(d.MS) * time.Millisecond).String()
}

func parsePurgeDelay(s string) (purgeDelay, error) {
	t := strings.TrimSpace(s)
	switch strings.ToLower(t) {
	case "", "default":
		return purgeDelay{}, nil
	case "never", "-1":
		return purgeDelay{Set: true, MS: -1}, nil
	}
	if ms, err := strconv.ParseInt(t, 10, 64); err == nil {
		if ms == 0 {
			return purgeDelay{Set: true, MS: 0}, nil
		}
		if ms < 0 {
			return purgeDelay{}, fmt.Errorf("%q: negative (use never, or -1)", s)
		}
		return purgeDelay{}, fmt.Errorf("%q: give a unit (%dms), or never", s, ms)
	}
	d, err := time.ParseDuration(t)
	if err != nil {
		return purgeDelay{}, fmt.Errorf("%q: not a duration (100ms, 1s), default or never", s)
	}
	if d < 0 {
		return purgeDelay{}, fmt.Errorf("%q: negative (use never)", s)
	}
	if d > 24*time.Hour {
		return purgeDelay{}, fmt.Errorf("%q: above the library's maximum of 24h", s)
	}
	return purgeDelay{Set: true, MS: d.Milliseconds()}, nil
}

// modes is the table order; a mode with a CBin runs in the C harness.
var modes = harness.Modes{
	{Name: "offheap", Desc: "offheap.Alloc / offheap.Free (Go)"},
	{Name: "offheap-pool", Desc: "offheap.BufferPool Get / Put (Go)"},
	{Name: "offheap-c", CBin: "cburst-offheap", Desc: "oh_alloc / oh_free (C)"},
	{Name: "native", Desc: "make; references dropped: the GC and Go's background scavenger decide (Go)"},
	{Name: "native-gc", Desc: "make; runtime.GC() after the free, then Go's background scavenger (Go)"},
	{Name: "native-freeosmemory", Desc: "make; debug.FreeOSMemory() after the free (Go)"},
	{Name: "glibc", CBin: "cburst-glibc", Desc: "malloc / free, glibc defaults (C)"},
	{Name: "jemalloc", CBin: "cburst-jemalloc", Desc: "malloc / free from libjemalloc, its defaults: no background thread (C)"},
	{Name: "jemalloc-bg", CBin: "cburst-jemalloc", Desc: "jemalloc with background_thread:true (C)"},
	{Name: "mimalloc", CBin: "cburst-mimalloc", Desc: "mi_malloc / mi_free, its defaults (C)"},
}

func usagef(format string, args ...any) error { return harness.Usagef(format, args...) }

const usageText = `usage: burst [flags]

Memory given back to the OS when demand falls. Each mode, in its own child
process, allocates buffers up to -peak (writing every byte), frees them down
to -floor, stays idle for -idle, and does it again (-bursts times). The parent
samples the child's resident set every -sample from /proc/PID/statm and
reports, per mode: time-to-release (from the end of the free until RSS is
within 5 % of the burst of the pre-burst level), RSS while idle, the time and
page faults of each burst, and peak RSS.

-pattern steady instead fills -peak once and replaces -churn percent of the
buffers per round (the oldest first) for -duration, pausing -gap between a
round's frees and its allocations: the cost of the purge policy under churn
(decommits, page faults, time per buffer).

Modes: offheap, offheap-pool (BufferPool), native (make), native-gc,
native-freeosmemory from Go; offheap-c, glibc, jemalloc, jemalloc-bg, mimalloc
through the C harness (build/bench/cburst-*, built by make bench-burst).

Sizes take a unit: B, KiB, MiB, GiB (also K, M, G; KB, MB, GB = powers of 1000).

Flags:
`

type flagTexts struct {
	peak, size, floor, delay, modes string
}

func newFlagSet(cfg *config, ft *flagTexts) *flag.FlagSet {
	fs := flag.NewFlagSet("burst", flag.ContinueOnError)
	fs.StringVar(&cfg.Pattern, "pattern", "burst", "`burst` (burst, free, idle, repeat) or steady (constant live size, FIFO churn)")
	fs.StringVar(&ft.peak, "peak", units.FormatSize(defaultPeak), "live `SIZE` at the top of a burst (steady: the live size)")
	fs.StringVar(&ft.size, "size", units.FormatSize(defaultSize), "buffer `SIZE`; every byte of every buffer is written")
	fs.StringVar(&ft.floor, "floor", "0", "live `SIZE` kept between bursts")
	fs.StringVar(&cfg.Keep, "keep", "oldest", "which buffers stay live at the floor: `oldest` (the first allocated) or spread (every k-th)")
	fs.IntVar(&cfg.Bursts, "bursts", defaultBursts, "number of bursts")
	fs.DurationVar(&cfg.Idle, "idle", 0, "idle window after each free (0 = 3 x the purge delay, at least 1s)")
	fs.DurationVar(&cfg.Pre, "pre", defaultPre, "quiet window before the first burst: the baseline RSS")
	fs.DurationVar(&cfg.Duration, "duration", defaultDuration, "steady: how long the churn runs")
	fs.DurationVar(&cfg.Warm, "warm", 0, "steady: churn before the counters start (0 = a fifth of -duration)")
	fs.Float64Var(&cfg.Churn, "churn", defaultChurn, "steady: `PERCENT` of the buffers replaced per round")
	fs.DurationVar(&cfg.Gap, "gap", 0, "steady: pause between a round's frees and its allocations")
	fs.StringVar(&ft.delay, "purge-delay", "default", "OFFHEAP_PURGE_DELAY_MS for every child: a `DURATION` (100ms), never, or default")
	fs.StringVar(&ft.modes, "modes", "all", "comma-separated `MODES`, or all")
	fs.IntVar(&cfg.Runs, "runs", 1, "run every mode this many times (interleaved) and report medians")
	fs.DurationVar(&cfg.Sample, "sample", defaultSample, "RSS sampling interval")
	fs.StringVar(&cfg.CBin, "cbin", "", "`DIR` holding the cburst-* binaries (default: next to this executable, ../build/bench, build/bench)")
	fs.StringVar(&cfg.JSON, "json", "", "write the results to `FILE` as JSON")
	fs.StringVar(&cfg.Chart, "chart", "", "write an SVG chart of RSS over time, one line per mode, to `FILE`")
	return fs
}

// parseConfig parses and checks the command line. defaultDelay is the
// library's purge delay when -purge-delay is not given (it sets -idle's
// default). Errors other than flag.ErrHelp are *harness.UsageError.
func parseConfig(args []string, out io.Writer, defaultDelay time.Duration) (config, error) {
	var cfg config
	var ft flagTexts
	if err := harness.ParseFlags(newFlagSet(&cfg, &ft), args, out, usageText); err != nil {
		return cfg, err
	}
	var err error
	if cfg.Peak, err = units.ParseSize(ft.peak); err != nil {
		return cfg, usagef("-peak: %v", err)
	}
	if cfg.Size, err = units.ParseSize(ft.size); err != nil {
		return cfg, usagef("-size: %v", err)
	}
	if isZeroSize(ft.floor) {
		cfg.Floor = 0
	} else if cfg.Floor, err = units.ParseSize(ft.floor); err != nil {
		return cfg, usagef("-floor: %v", err)
	}
	switch {
	case cfg.Size > cfg.Peak:
		return cfg, usagef("-size %s is larger than -peak %s", units.FormatSize(cfg.Size), units.FormatSize(cfg.Peak))
	case cfg.Peak/cfg.Size > maxBuffers:
		return cfg, usagef("-peak %s of -size %s is %d buffers; the limit is %d: raise -size or lower -peak",
			units.FormatSize(cfg.Peak), units.FormatSize(cfg.Size), cfg.Peak/cfg.Size, maxBuffers)
	case cfg.Floor >= cfg.Peak:
		return cfg, usagef("-floor %s must be below -peak %s", units.FormatSize(cfg.Floor), units.FormatSize(cfg.Peak))
	}
	if cfg.Pattern != "burst" && cfg.Pattern != "steady" {
		return cfg, usagef("-pattern %q: burst or steady", cfg.Pattern)
	}
	if cfg.Keep != "oldest" && cfg.Keep != "spread" {
		return cfg, usagef("-keep %q: oldest or spread", cfg.Keep)
	}
	if cfg.Floor > 0 && cfg.Floor < cfg.Size {
		return cfg, usagef("-floor %s holds no whole buffer of -size %s", units.FormatSize(cfg.Floor), units.FormatSize(cfg.Size))
	}
	if cfg.Bursts < 1 || cfg.Bursts > 100 {
		return cfg, usagef("-bursts %d: between 1 and 100", cfg.Bursts)
	}
	if cfg.Idle < 0 || cfg.Pre < 0 || cfg.Gap < 0 || cfg.Warm < 0 {
		return cfg, usagef("-idle, -pre, -gap and -warm must not be negative")
	}
	if cfg.Duration <= 0 {
		return cfg, usagef("-duration %v: must be positive", cfg.Duration)
	}
	if cfg.Warm >= cfg.Duration {
		return cfg, usagef("-warm %v must be shorter than -duration %v", cfg.Warm, cfg.Duration)
	}
	if math.IsNaN(cfg.Churn) || cfg.Churn <= 0 || cfg.Churn > 100 {
		return cfg, usagef("-churn %s: a percentage above 0 and at most 100", strconv.FormatFloat(cfg.Churn, 'g', -1, 64))
	}
	if cfg.Runs < 1 || cfg.Runs > 50 {
		return cfg, usagef("-runs %d: between 1 and 50", cfg.Runs)
	}
	if cfg.Sample < 5*time.Millisecond || cfg.Sample > time.Second {
		return cfg, usagef("-sample %v: between 5ms and 1s", cfg.Sample)
	}
	if cfg.Delay, err = parsePurgeDelay(ft.delay); err != nil {
		return cfg, usagef("-purge-delay: %v", err)
	}
	if cfg.Idle == 0 {
		cfg.Idle = defaultIdle(cfg.Delay, defaultDelay)
	}
	if cfg.Warm == 0 {
		cfg.Warm = cfg.Duration / 5
	}
	if cfg.Modes, err = modes.Parse(ft.modes); err != nil {
		return cfg, usagef("-modes: %v", err)
	}
	return cfg, nil
}

// isZeroSize reports whether s is a zero size such as 0, 0B or 0MiB (which
// parseSize, made for sizes of at least a byte, refuses).
func isZeroSize(s string) bool {
	num := strings.TrimRightFunc(strings.TrimSpace(s), func(r rune) bool { return (r < '0' || r > '9') && r != '.' })
	f, err := strconv.ParseFloat(num, 64)
	return err == nil && f == 0 && num != ""
}

// defaultIdle is 3 x the effective purge delay, at least minIdle (and
// minIdle x 3 when the delay is never).
func defaultIdle(d purgeDelay, libDefault time.Duration) time.Duration {
	delay := libDefault
	if d.Set {
		delay = time.Duration(d.MS) * time.Millisecond
	}
	if delay < 0 {
		return 3 * minIdle
	}
	return max(3*delay, minIdle)
}

// childArgs is the command line of a child running mode: the Go child (this
// executable with -child first) and the C harness take the same flags, in
// bytes and milliseconds.
func childArgs(cfg config, mode string) []string {
	c := cfg.childConfig
	c.Mode = mode
	return harness.EncodeChild(c, modes.Lookup(mode).CBin == "")
}

// childEnv is what a child's environment adds to the parent's.
func childEnv(cfg config) []string {
	if !cfg.Delay.Set {
		return nil
	}
	return []string{"OFFHEAP_PURGE_DELAY_MS=" + strconv.FormatInt(cfg.Delay.MS, 10)}
}

// parseChildArgs reads childArgs (without the leading -child).
func parseChildArgs(args []string) (childConfig, error) {
	c := childConfig{Pattern: "burst", Keep: "oldest", Bursts: defaultBursts, Churn: defaultChurn}
	if err := harness.DecodeChild("burst", args, &c); err != nil {
		return c, err
	}
	m := modes.Lookup(c.Mode)
	switch {
	case m == nil || m.CBin != "":
		return c, fmt.Errorf("-mode %q is not a Go mode", c.Mode)
	case c.Size <= 0 || c.Peak < c.Size || c.Floor < 0 || c.Floor >= c.Peak:
		return c, fmt.Errorf("bad sizes: -peak %d -size %d -floor %d", c.Peak, c.Size, c.Floor)
	case c.Pattern != "burst" && c.Pattern != "steady":
		return c, fmt.Errorf("-pattern %q", c.Pattern)
	case c.Keep != "oldest" && c.Keep != "spread":
		return c, fmt.Errorf("-keep %q", c.Keep)
	case c.Churn <= 0 || c.Churn > 100:
		return c, fmt.Errorf("-churn %v", c.Churn)
	}
	return c, nil
}
