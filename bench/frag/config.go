// config.go is frag's command line: the flags and their checks, the mode
// table (which modes serve which workload), and the plain-number flags each
// child - this binary with -child, or the C harness cfrag-* - is given.
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

// Defaults of the command.
const (
	defaultLive     = 1 << 30
	defaultPool     = 64 << 20
	defaultMemLimit = 1.1 // GOMEMLIMIT of native-memlimit, times the workload's peak live bytes
	minLive         = 1 << 20
	maxLive         = 64 << 30
)

// workloads in report order.
var workloads = []string{"phase", "cache", "pool"}

// modes is the table order; native is the baseline of every ratio.
var modes = harness.Modes{
	{Name: "native", Desc: "make([]byte); a free drops the reference; scavenge = debug.FreeOSMemory()"},
	{Name: "native-memlimit", Desc: "as native, with GOMEMLIMIT = -memlimit x the workload's peak live bytes"},
	{Name: "offheap", Desc: "offheap.Alloc / offheap.Free; scavenge = offheap.Scavenge()"},
	{Name: "offheap-slab", Desc: "offheap.NewSlab (default config) Alloc / DecRef; scavenge = offheap.Scavenge()"},
	{Name: "offheap-bufferpool", Desc: "offheap.BufferPool, one per buffer size, Get / Put (phase, pool)"},
	{Name: "c-offheap", CBin: "cfrag-offheap", Desc: "oh_alloc / oh_free; scavenge = oh_purge() (C, phase, cache)"},
	{Name: "c-glibc", CBin: "cfrag-glibc", Desc: "glibc malloc / free; scavenge = malloc_trim(0) (C, phase, cache)"},
	{Name: "c-jemalloc", CBin: "cfrag-jemalloc", Desc: "jemalloc malloc / free; scavenge = tcache flush + arena.<all>.purge (C, phase, cache)"},
	{Name: "c-mimalloc", CBin: "cfrag-mimalloc", Desc: "mi_malloc / mi_free; scavenge = mi_collect(true) (C, phase, cache)"},
}

// serves reports whether mode runs workload: the C harness does the phase
// change and the cache; a BufferPool has one buffer size, so it has no cache
// mode.
func serves(mode, workload string) bool {
	m := modes.Lookup(mode)
	switch {
	case m == nil:
		return false
	case m.CBin != "":
		return workload == "phase" || workload == "cache"
	case mode == "offheap-bufferpool":
		return workload != "cache"
	}
	return true
}

// config is everything that defines a run: the workload settings every child
// is given, and what only the parent needs.
type config struct {
	childConfig
	Workloads []string
	Modes     []string
	Delay     time.Duration // the purge delay given to offheap children (0 = the library's)
	DelaySet  bool
	CBin      string
	JSON      string
}

// childConfig is what a child runs, sent as plain-number flags by
// harness.EncodeChild; the C harness takes all but the ",go" ones.
type childConfig struct {
	Workload string        `child:"workload"`
	Mode     string        `child:"mode"`
	Live     int64         `child:"live"` // phase: each fill; cache: the capacity
	Pool     int64         `child:"pool"` // pool: the buffers taken from the pool
	Seed     uint64        `child:"seed"`
	Wait     time.Duration `child:"wait-ms"`   // the idle wait: 2 x the purge delay
	CacheOps int64         `child:"cache-ops"` // cache: operations (0 = 30 x the values the capacity holds)
	MemLimit float64       `child:"memlimit,go"`
}

const usageText = `usage: frag [flags]

Resident memory against live bytes when the free order fragments the heap.
Each workload runs once per mode, each in its own child process:

  phase  fill -live of 16 KiB buffers; free a random 75 %; fill -live more of
         48 KiB buffers; free all but a random 10 %; wait 2 x the purge delay;
         scavenge (debug.FreeOSMemory, offheap.Scavenge, oh_purge,
         malloc_trim(0), jemalloc arena purge, mi_collect(true)).
  cache  a -live cache of values of log-normal size (64 B - 256 KiB, median
         2 KiB), Zipf keys, random eviction; every value written and verified.
  pool   -pool of 16 KiB buffers taken, 90 % put back in random order; RSS
         every 100 ms for 2 x the purge delay.

RSS / live is (RSS - base) / live bytes, base being the child's RSS before its
workload starts. Ratios "x native" are to native's figure in the same run.

Modes: native, native-memlimit, offheap, offheap-slab, offheap-bufferpool (Go);
c-offheap, c-glibc, c-jemalloc, c-mimalloc (the phase change and the cache
in C, build/bench/cfrag-*, built by make bench-frag).

Flags:
`

type flagTexts struct{ live, pool, workloads, modes, delay string }

func newFlagSet(cfg *config, ft *flagTexts) *flag.FlagSet {
	fs := flag.NewFlagSet("frag", flag.ContinueOnError)
	fs.StringVar(&ft.live, "live", units.FormatSize(defaultLive), "`SIZE` of each phase fill and of the cache")
	fs.StringVar(&ft.pool, "pool", units.FormatSize(defaultPool), "`SIZE` of 16 KiB buffers taken from the pool")
	fs.StringVar(&ft.workloads, "workloads", "all", "comma-separated `WORKLOADS` (phase, cache, pool), or all")
	fs.StringVar(&ft.modes, "modes", "all", "comma-separated `MODES`, or all")
	fs.Uint64Var(&cfg.Seed, "seed", 1, "random seed (the same in every mode)")
	fs.Int64Var(&cfg.CacheOps, "cache-ops", 0, "cache operations (0 = 30 x the values -live holds)")
	fs.StringVar(&ft.delay, "purge-delay", "default", "OFFHEAP_PURGE_DELAY_MS for the children: a `DURATION`, or default")
	fs.Float64Var(&cfg.MemLimit, "memlimit", defaultMemLimit, "native-memlimit's GOMEMLIMIT as a `FACTOR` of the peak live bytes")
	fs.StringVar(&cfg.CBin, "cbin", "", "`DIR` holding the cfrag-* binaries (default: next to this executable, ../build/bench, build/bench)")
	fs.StringVar(&cfg.JSON, "json", "", "write the results to `FILE` as JSON")
	return fs
}

// parseConfig parses and checks the command line; libDelay is the library's
// purge delay, used when -purge-delay is not given. Errors other than
// flag.ErrHelp are *harness.UsageError.
func parseConfig(args []string, out io.Writer, libDelay time.Duration) (config, error) {
	var cfg config
	var ft flagTexts
	if err := harness.ParseFlags(newFlagSet(&cfg, &ft), args, out, usageText); err != nil {
		return cfg, err
	}
	var err error
	if cfg.Live, err = units.ParseSize(ft.live); err != nil {
		return cfg, harness.Usagef("-live: %v", err)
	}
	if cfg.Live < minLive || cfg.Live > maxLive {
		return cfg, harness.Usagef("-live %s: between 1MiB and 64GiB", units.FormatSize(cfg.Live))
	}
	if cfg.Pool, err = units.ParseSize(ft.pool); err != nil {
		return cfg, harness.Usagef("-pool: %v", err)
	}
	if cfg.Pool < 160<<10 || cfg.Pool > maxLive {
		return cfg, harness.Usagef("-pool %s: between 160KiB (ten buffers) and 64GiB", units.FormatSize(cfg.Pool))
	}
	if strings.TrimSpace(ft.workloads) == "all" {
		cfg.Workloads = workloads
	} else if cfg.Workloads, err = harness.ParseList(ft.workloads, workloads, "workload"); err != nil {
		return cfg, harness.Usagef("-workloads: %v", err)
	}
	if cfg.Modes, err = modes.Parse(ft.modes); err != nil {
		return cfg, harness.Usagef("-modes: %v", err)
	}
	if cfg.CacheOps < 0 {
		return cfg, harness.Usagef("-cache-ops %d: must not be negative", cfg.CacheOps)
	}
	if math.IsNaN(cfg.MemLimit) || cfg.MemLimit < 1 || cfg.MemLimit > 10 {
		return cfg, harness.Usagef("-memlimit %v: a factor from 1 to 10", cfg.MemLimit)
	}
	cfg.Delay = libDelay
	if t := strings.TrimSpace(ft.delay); t != "default" {
		d, err := time.ParseDuration(t)
		if err != nil || d < time.Millisecond || d > time.Hour {
			return cfg, harness.Usagef("-purge-delay %q: a duration from 1ms to 1h, or default", ft.delay)
		}
		cfg.Delay, cfg.DelaySet = d, true
	}
	if cfg.Delay <= 0 {
		// A library configured never to purge: wait as long as for the default.
		cfg.Delay = time.Second
	}
	cfg.Wait = 2 * cfg.Delay
	return cfg, nil
}

// runs is every (workload, mode) pair to run, in report order.
func (cfg config) runs() [][2]string {
	var out [][2]string
	for _, w := range cfg.Workloads {
		for _, m := range cfg.Modes {
			if serves(m, w) {
				out = append(out, [2]string{w, m})
			}
		}
	}
	return out
}

// childArgs is the command line of a child running one workload in one mode;
// the Go child (with -child first) and the C harness take the same flags.
func childArgs(cfg config, workload, mode string) []string {
	c := cfg.childConfig
	c.Workload, c.Mode = workload, mode
	return harness.EncodeChild(c, modes.Lookup(mode).CBin == "")
}

// childEnv is what a child's environment adds to the parent's.
func childEnv(cfg config) []string {
	if !cfg.DelaySet {
		return nil
	}
	return []string{"OFFHEAP_PURGE_DELAY_MS=" + strconv.FormatInt(cfg.Delay.Milliseconds(), 10)}
}

func parseChildArgs(args []string) (childConfig, error) {
	c := childConfig{Pool: defaultPool, Seed: 1, Wait: 2 * time.Second, MemLimit: defaultMemLimit}
	if err := harness.DecodeChild("frag", args, &c); err != nil {
		return c, err
	}
	m := modes.Lookup(c.Mode)
	switch {
	case m == nil || m.CBin != "":
		return c, fmt.Errorf("-mode %q is not a Go mode", c.Mode)
	case !serves(c.Mode, c.Workload):
		return c, fmt.Errorf("mode %s does not run workload %q", c.Mode, c.Workload)
	case c.Live < minLive || c.Pool < 160<<10 || c.Wait < 0:
		return c, fmt.Errorf("bad sizes: -live %d -pool %d -wait-ms %d", c.Live, c.Pool, c.Wait.Milliseconds())
	}
	return c, nil
}
