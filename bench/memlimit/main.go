// Command memlimit measures one memory budget for Go and off-heap memory
// (offheap.SetMemoryLimit, issue 19): a cache that keeps growing plus a
// churning Go heap, under a fixed budget, three ways:
//
//	native   the cache's values on the Go heap, GOMEMLIMIT = budget
//	offheap  the values off-heap (offheap.Alloc), no limit
//	limit    the values off-heap, offheap.SetMemoryLimit(budget) (or
//	         OFFHEAP_MEMORY_LIMIT=auto under -cgroup); the cache inserts with
//	         TryAlloc and evicts its oldest entries when refused
//
// Every mode holds at most -cache bytes of values (evicting the oldest past
// it) and -live bytes of Go heap that it keeps replacing, so a budget smaller
// than cache + live (+ the collector's headroom) is what the three handle
// differently. Each mode runs in a child process; the report gives its peak
// RSS (VmHWM) against the budget, the collector's CPU, the operations per
// second, and the evictions that TryAlloc refusals drove.
//
// With -cgroup (root, Linux) each child runs in a fresh cgroup (v2 directory
// or v1 memory controller) whose limit is budget/0.9, so that
// OFFHEAP_MEMORY_LIMIT=auto (the cgroup's limit less 10%) finds the budget;
// a mode past the cgroup's limit is then killed by the kernel, as in a
// container.
//
//	go run ./memlimit -budget 1536 -cache 1280 -live 320 -duration 10s
//	go run ./memlimit -cgroup ...
package main

import (
	"errors"
	"flag"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"strconv"
	"strings"
	"time"

	"github.com/offheap/offheap/bench/internal/harness"
	"github.com/offheap/offheap/go/offheap"
)

var (
	mode     = flag.String("mode", "", "run one mode in this process (native, offheap, limit); empty: all, each in a child")
	budgetMB = flag.Int("budget", 1536, "the process budget in MiB")
	cacheMB  = flag.Int("cache", 1280, "cache capacity in MiB of values")
	liveMB   = flag.Int("live", 320, "Go heap kept live and replaced, in MiB")
	duration = flag.Duration("duration", 10*time.Second, "run time per mode")
	cgroup   = flag.Bool("cgroup", false, "run each mode in its own memory cgroup of budget/0.9 (root)")
	modes    = flag.String("modes", "native,offheap,limit", "modes to run")
)

func main() {
	flag.Parse()
	if *mode != "" {
		child(*mode)
		return
	}
	budget := int64(*budgetMB) << 20
	fmt.Printf("memlimit: budget %d MiB, cache %d MiB of 1-64 KiB values, %d MiB of Go heap replaced continuously, %v per mode, GOMAXPROCS %d\n",
		*budgetMB, *cacheMB, *liveMB, *duration, runtime.GOMAXPROCS(0))
	fmt.Printf("%-8s %10s %9s %10s %12s %10s %9s %s\n", "mode", "peak RSS", "/budget", "GC CPU", "ops/s", "evictions", "refused", "note")
	for _, m := range strings.Split(*modes, ",") {
		run(m, budget)
	}
}

// run starts one mode in a child process (in a cgroup with -cgroup).
func run(m string, budget int64) {
	args := []string{os.Args[0], "-mode", m, "-budget", fmt.Sprint(*budgetMB), "-cache", fmt.Sprint(*cacheMB),
		"-live", fmt.Sprint(*liveMB), "-duration", duration.String()}
	// Set for every mode, so that none inherits the parent's: empty is unset.
	env := []string{"GOMEMLIMIT=", "OFFHEAP_MEMORY_LIMIT="}
	var last string
	switch m {
	case "native":
		env = append(env, fmt.Sprintf("GOMEMLIMIT=%d", budget))
	case "limit":
		if *cgroup {
			env = append(env, "OFFHEAP_MEMORY_LIMIT=auto")
		} else {
			env = append(env, fmt.Sprintf("OFFHEAP_MEMORY_LIMIT=%d", budget))
		}
	}
	spec := harness.Spec{Path: args[0], Args: args[1:], Env: env,
		Line:   func(line []byte, _ float64) bool { last = string(line); return false },
		Stderr: func(line string) { fmt.Fprintln(os.Stderr, line) }}
	var cg *cgroupDir
	if *cgroup {
		var err error
		if cg, err = newCgroup(m, budget*10/9); err != nil {
			fmt.Fprintf(os.Stderr, "memlimit: -cgroup: %v\n", err)
			os.Exit(1)
		}
		defer cg.remove()
		// The shell joins the cgroup before the child exists, so the child's
		// start-up (OFFHEAP_MEMORY_LIMIT=auto) already sees it.
		spec.Path, spec.Args = "/bin/sh", append([]string{"-c", `echo $$ > "$0" && exec "$@"`, filepath.Join(cg.dir, "cgroup.procs")}, args...)
	}
	_, err := harness.Run(spec)
	note := ""
	if cg != nil {
		note = fmt.Sprintf("cgroup %s limit %d MiB, peak %d MiB", cg.version, budget*10/9>>20, cg.peak()>>20)
	}
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		note = strings.TrimSpace("killed (" + ee.String() + ") " + note)
	} else if err != nil {
		note = strings.TrimSpace(err.Error() + " " + note)
	}
	if last == "" {
		fmt.Printf("%-8s %10s %9s %10s %12s %10s %9s %s\n", m, "-", "-", "-", "-", "-", "-", note)
		return
	}
	fmt.Printf("%s %s\n", last, note)
}

// ---- one mode ---------------------------------------------------------------

type entry struct {
	b []byte
}

func child(m string) {
	budget := int64(*budgetMB) << 20
	capBytes := int64(*cacheMB) << 20
	live := int64(*liveMB) << 20
	if m == "limit" && offheap.SetMemoryLimit(-1) == offheap.NoMemoryLimit {
		offheap.SetMemoryLimit(budget) // not from the environment: set here
	}
	limit := offheap.SetMemoryLimit(-1)
	if m == "limit" && limit != budget {
		fmt.Fprintf(os.Stderr, "memlimit: the limit is %d bytes (%d MiB; budget %d MiB)\n", limit, limit>>20, budget>>20)
	}
	rng := rand.New(rand.NewPCG(1, 2))
	var queue []entry // FIFO: evict the oldest
	head := 0
	var held int64
	evictions, refused := 0, 0
	free := func(e entry) {
		held -= int64(len(e.b))
		if m != "native" {
			offheap.Free(e.b)
		}
	}
	evictOldest := func() bool {
		if head >= len(queue) {
			return false
		}
		free(queue[head])
		queue[head] = entry{}
		head++
		evictions++
		if head > 4096 && head > len(queue)/2 {
			queue = append(queue[:0], queue[head:]...)
			head = 0
		}
		return true
	}
	// The Go heap that keeps being replaced: 64 KiB pieces.
	const piece = 64 << 10
	goLive := make([][]byte, live/piece)
	gi := 0
	samples := []metrics.Sample{{Name: "/cpu/classes/gc/total:cpu-seconds"}, {Name: "/cpu/classes/total:cpu-seconds"}}
	start := time.Now()
	ops := 0
	for time.Since(start) < *duration {
		for k := 0; k < 256; k++ {
			n := 1<<10 + rng.IntN(63<<10)
			var b []byte
			switch m {
			case "native":
				b = make([]byte, n)
			case "offheap":
				b = offheap.Alloc(n)
			case "limit":
				for {
					var err error
					if b, err = offheap.TryAlloc(n); err == nil {
						break
					}
					refused++
					// Evict a batch (the request and 256 KiB more), as caches
					// do: each refusal costs a purge of free memory.
					gone, any := 0, false
					for gone < n+256<<10 && head < len(queue) {
						gone += len(queue[head].b)
						any = evictOldest() || any
					}
					if !any {
						b = offheap.Alloc(n) // nothing left to evict: soft
						break
					}
				}
			}
			b[0], b[n-1] = 1, 1 // touch like a real value
			for i := 4096; i < n; i += 4096 {
				b[i] = 1
			}
			queue = append(queue, entry{b})
			held += int64(n)
			for held > capBytes {
				evictOldest()
			}
			// Go heap churn: replace a piece of the live set, plus garbage.
			goLive[gi] = make([]byte, piece)
			goLive[gi][0] = 1
			gi = (gi + 1) % len(goLive)
			_ = make([]byte, 8<<10)
			ops++
		}
	}
	elapsed := time.Since(start)
	metrics.Read(samples)
	gcCPU, allCPU := samples[0].Value.Float64(), samples[1].Value.Float64()
	peak := harness.PeakRSS()
	st := offheap.ReadStats()
	runtime.KeepAlive(goLive)
	goLimit := "none" // math.MaxInt64: the runtime's "no limit"
	if l := debug.SetMemoryLimit(-1); l != math.MaxInt64 {
		goLimit = fmt.Sprintf("%d MiB", l>>20)
	}
	fmt.Fprintf(os.Stderr, "memlimit: %s: Go limit at the end %s, offheap committed %d MiB, Go runtime %d MiB, total %d MiB, limit %s\n",
		m, goLimit, st.CommittedBytes>>20, st.GoRuntimeBytes>>20, st.TotalBytes>>20, limitString(st.MemoryLimit))
	fmt.Printf("%-8s %7d MiB %8.2fx %9.1f%% %12.0f %10d %9d", m, peak>>20, float64(peak)/float64(budget),
		100*gcCPU/max(allCPU, 1e-9), float64(ops)/elapsed.Seconds(), evictions, refused)
}

func limitString(l int64) string {
	if l == offheap.NoMemoryLimit {
		return "none"
	}
	return fmt.Sprintf("%d MiB", l>>20)
}

// ---- cgroups ----------------------------------------------------------------

type cgroupDir struct {
	dir, version string
}

// newCgroup makes a memory cgroup limited to limit bytes: a v2 directory
// where /sys/fs/cgroup is cgroup2 (or /sys/fs/cgroup/unified has the memory
// controller), else the v1 memory controller.
func newCgroup(name string, limit int64) (*cgroupDir, error) {
	name = fmt.Sprintf("offheap-memlimit-%s-%d", name, os.Getpid())
	if ctrl, err := os.ReadFile("/sys/fs/cgroup/cgroup.controllers"); err == nil && strings.Contains(string(ctrl), "memory") {
		d := filepath.Join("/sys/fs/cgroup", name)
		if err := os.Mkdir(d, 0o755); err != nil {
			return nil, err
		}
		if err := os.WriteFile(filepath.Join(d, "memory.max"), []byte(fmt.Sprint(limit)), 0); err != nil {
			os.Remove(d)
			return nil, err
		}
		os.WriteFile(filepath.Join(d, "memory.swap.max"), []byte("0"), 0)
		return &cgroupDir{d, "v2"}, nil
	}
	d := filepath.Join("/sys/fs/cgroup/memory", name)
	if err := os.Mkdir(d, 0o755); err != nil {
		return nil, fmt.Errorf("no cgroup v2 memory controller, and v1: %w", err)
	}
	if err := os.WriteFile(filepath.Join(d, "memory.limit_in_bytes"), []byte(fmt.Sprint(limit)), 0); err != nil {
		os.Remove(d)
		return nil, err
	}
	return &cgroupDir{d, "v1"}, nil
}

func (c *cgroupDir) peak() int64 {
	file := "memory.max_usage_in_bytes"
	if c.version == "v2" {
		file = "memory.peak"
	}
	b, err := os.ReadFile(filepath.Join(c.dir, file))
	if err != nil {
		return 0
	}
	v, _ := strconv.ParseInt(strings.TrimSpace(string(b)), 10, 64)
	return v
}

func (c *cgroupDir) remove() {
	for i := 0; i < 50 && os.Remove(c.dir) != nil; i++ {
		time.Sleep(20 * time.Millisecond)
	}
}
