package offheap

// memlimit_test.go - SetMemoryLimit (memlimit.go): the Go runtime's limit
// follows offheap's bytes, allocation is refused or slowed at the limit, and
// OFFHEAP_MEMORY_LIMIT is parsed as documented.

import (
	"errors"
	"fmt"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/offheap/offheap/bindings"
)

// withMemoryLimit sets limit for the test and lifts it afterwards.
func withMemoryLimit(t *testing.T, limit int64) {
	t.Helper()
	if prev := SetMemoryLimit(limit); prev != NoMemoryLimit {
		t.Fatalf("a limit of %d was left set by another test", prev)
	}
	t.Cleanup(func() { SetMemoryLimit(NoMemoryLimit) })
}

func goLimit() int64 { return debug.SetMemoryLimit(-1) }

// coreTotal is the total as the core counts it now.
func coreTotal() (total uint64, st bindings.MemoryStatus) {
	bindings.ReadMemoryStatus(&st)
	return st.Committed + st.External + st.Reserved, st
}

// waitFor polls cond until it holds; the deadline only turns a hang into a
// failure (no duration is asserted).
func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("gave up waiting: %s", what)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

func TestMemoryLimitGoLimitFollowsOffheapBytes(t *testing.T) {
	before := goLimit()
	const L = 4 << 30
	withMemoryLimit(t, L)
	var st bindings.MemoryStatus
	bindings.ReadMemoryStatus(&st)
	if st.Step != 64<<20 {
		t.Fatalf("step %d, want L/64 = 64 MiB", st.Step)
	}
	if g := goLimit(); g > L-int64(st.Committed) || g < L-int64(st.Committed)-int64(st.Step) {
		t.Fatalf("Go's limit %d, want L - committed (%d) rounded up to a step", g, L-int64(st.Committed))
	}
	b, err := Map(512 << 20) // counted as committed by the core at once
	if err != nil {
		t.Fatal(err)
	}
	// The follower, woken by the step crossings, lowers Go's limit.
	waitUntil(t, "Go's limit to follow 512 MiB off-heap", func() bool { return goLimit() <= L-512<<20 })
	if g := goLimit(); g < L-512<<20-int64(st.Committed)-2*int64(st.Step) {
		t.Fatalf("Go's limit %d went further down than offheap's bytes", g)
	}
	if err := Unmap(b); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, "Go's limit to come back after the unmap", func() bool { return goLimit() > L-512<<20 })
	SetMemoryLimit(NoMemoryLimit)
	if g := goLimit(); g != before {
		t.Fatalf("lifting the limit left Go's limit at %d, want it restored to %d", g, before)
	}
}

func TestMemoryLimitGoLimitFloor(t *testing.T) {
	const L = 1 << 30
	withMemoryLimit(t, L)
	b, err := Map(L) // offheap alone past the budget: Map refuses...
	if err == nil {
		Unmap(b)
		t.Fatal("Map of the whole budget succeeded")
	}
	big := Alloc(L) // ...Alloc does not
	defer Free(big)
	followMemory()
	if g := goLimit(); g != goLimitFloor(L) || g != L/10 {
		t.Fatalf("Go's limit %d, want the floor max(L/10, 32 MiB) = %d", g, goLimitFloor(L))
	}
}

func TestMemoryLimitTryAllocRefusedAllocSoft(t *testing.T) {
	followMemory() // no limit: nothing
	withMemoryLimit(t, 1<<40)
	// Free memory (earlier tests' large spans kept for reuse, say) would be
	// purged by the first refusal and make room beyond the test's 96 MiB.
	Scavenge()
	total, _ := coreTotal()
	const room = 96 << 20
	SetMemoryLimit(int64(total) + room)
	_, err := TryAlloc(256 << 20)
	if !errors.Is(err, ErrOutOfMemory) {
		t.Fatalf("TryAlloc past the limit: %v, want ErrOutOfMemory", err)
	}
	msg := err.Error()
	for _, want := range []string{"TryAlloc(268435456)", "memory limit of " + strconv.FormatInt(int64(total)+room, 10), "total ", "Go runtime ", "request 268435456"} {
		if !strings.Contains(msg, want) {
			t.Errorf("error %q does not say %q", msg, want)
		}
	}
	b := Alloc(256 << 20) // soft
	if len(b) != 256<<20 {
		t.Fatal("Alloc past the limit")
	}
	b[0], b[len(b)-1] = 1, 2
	// Over the limit now: every error-returning call refuses, even small.
	if _, err := TryAlloc(64 << 10); !errors.Is(err, ErrOutOfMemory) {
		t.Errorf("TryAlloc over the limit: %v", err)
	}
	if _, err := Map(1 << 20); !errors.Is(err, ErrOutOfMemory) || !strings.Contains(err.Error(), "Map(") {
		t.Errorf("Map over the limit: %v", err)
	}
	s, err := NewSlab(SlabConfig{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if _, err := s.TryAlloc(4096); !errors.Is(err, ErrOutOfMemory) || !strings.Contains(err.Error(), "Slab.TryAlloc") {
		t.Errorf("Slab.TryAlloc over the limit: %v", err)
	}
	s.DecRef(s.Alloc(4096)) // soft
	p, err := NewPool(1024, PoolConfig{})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	if _, err := p.TryGet(); !errors.Is(err, ErrOutOfMemory) || !strings.Contains(err.Error(), "Pool.TryGet") {
		t.Errorf("Pool.TryGet over the limit: %v", err)
	}
	p.Put(p.Get()) // soft
	a, err := NewArena(64 << 10)
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	if _, err := a.AllocAligned(1<<20, 16); !errors.Is(err, ErrOutOfMemory) || !strings.Contains(err.Error(), "Arena.AllocAligned") {
		t.Errorf("Arena.AllocAligned of a new block over the limit: %v", err)
	}
	if x := a.Alloc(1 << 20); len(x) != 1<<20 { // soft
		t.Errorf("Arena.Alloc over the limit returned %d bytes", len(x))
	}
	a.Reset()
	Free(b)
	// Freed: back under the limit (the free memory is purged before refusing).
	c, err := TryAlloc(32 << 20)
	if err != nil {
		t.Fatalf("TryAlloc after the free: %v", err)
	}
	Free(c)
}

func TestMemoryLimitQueryChangesNothing(t *testing.T) {
	if got := SetMemoryLimit(-1); got != NoMemoryLimit {
		t.Fatalf("default limit %d, want none", got)
	}
	withMemoryLimit(t, 3<<30)
	g := goLimit()
	for i := 0; i < 3; i++ {
		if got := SetMemoryLimit(-1); got != 3<<30 {
			t.Fatalf("query returned %d", got)
		}
		if got := SetMemoryLimit(math.MinInt64); got != 3<<30 {
			t.Fatalf("query returned %d", got)
		}
	}
	if goLimit() != g || bindings.OptionGet(bindings.OptMemoryLimit) != 3<<30 {
		t.Fatal("a query changed a limit")
	}
	if prev := SetMemoryLimit(2 << 30); prev != 3<<30 {
		t.Fatalf("previous %d", prev)
	}
	if prev := SetMemoryLimit(NoMemoryLimit); prev != 2<<30 {
		t.Fatalf("previous %d", prev)
	}
	if bindings.OptionGet(bindings.OptMemoryLimit) != -1 {
		t.Fatal("the core kept the limit")
	}
}

func TestMemoryLimitNoneLeavesGoLimitAlone(t *testing.T) {
	before := debug.SetMemoryLimit(777 << 20)
	defer debug.SetMemoryLimit(before)
	b := Alloc(200 << 20)
	m, err := Map(100 << 20)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := TryAlloc(1 << 20); err != nil {
		t.Fatal(err)
	}
	followMemory()
	if prev := SetMemoryLimit(NoMemoryLimit); prev != NoMemoryLimit {
		t.Fatalf("previous %d", prev)
	}
	Free(b)
	Unmap(m)
	if g := goLimit(); g != 777<<20 {
		t.Fatalf("no limit set, yet Go's limit moved to %d", g)
	}
	if st := ReadStats(); st.MemoryLimit != NoMemoryLimit || st.TotalBytes < st.CommittedBytes || st.GoRuntimeBytes == 0 {
		t.Fatalf("ReadStats: limit %d total %d committed %d go %d", st.MemoryLimit, st.TotalBytes, st.CommittedBytes, st.GoRuntimeBytes)
	}
}

func TestMemoryLimitInStats(t *testing.T) {
	withMemoryLimit(t, 5<<30)
	st := ReadStats()
	if st.MemoryLimit != 5<<30 || st.GoRuntimeBytes == 0 || st.TotalBytes != st.CommittedBytes+st.GoRuntimeBytes &&
		st.TotalBytes < st.GoRuntimeBytes {
		t.Fatalf("ReadStats: limit %d total %d go %d", st.MemoryLimit, st.TotalBytes, st.GoRuntimeBytes)
	}
}

// TestMemoryLimitConcurrentAllocation: goroutines on every P take
// allocations until refused; the total the core counts ends within the
// limit plus one allocation (and what it commits beyond its request) per P.
func TestMemoryLimitConcurrentAllocation(t *testing.T) {
	for _, n := range []int{2 << 20, 64 << 10} {
		t.Run(fmt.Sprint(n), func(t *testing.T) {
			Scavenge()
			withMemoryLimit(t, 1<<40)
			total, _ := coreTotal()
			L := int64(total) + 64<<20
			SetMemoryLimit(L)
			procs := runtime.GOMAXPROCS(0)
			var wg sync.WaitGroup
			held := make([][][]byte, procs*2)
			for g := range held {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for {
						b, err := TryAlloc(n)
						if err != nil {
							if !errors.Is(err, ErrOutOfMemory) {
								t.Error(err)
							}
							return
						}
						b[0] = 1
						held[g] = append(held[g], b)
					}
				}()
			}
			wg.Wait()
			after, st := coreTotal()
			// One allocation per P past the limit, plus what a refill commits
			// beyond it: a per-P cache's batch (OFFHEAP_TCACHE_BYTES, 1 MiB)
			// and a slab's pages touched ahead.
			slack := uint64(procs) * uint64(n+2<<20)
			if after > uint64(L)+slack {
				t.Errorf("total %d (committed %d, Go %d) passed the limit %d by %d, more than %d", after, st.Committed, st.External, L, after-uint64(L), slack)
			}
			got := 0
			for _, bs := range held {
				got += len(bs)
				for _, b := range bs {
					Free(b)
				}
			}
			if got == 0 {
				t.Fatal("nothing was allocated")
			}
		})
	}
}

func TestMemoryLimitParse(t *testing.T) {
	good := map[string]int64{"2GiB": 2 << 30, "1536MiB": 1536 << 20, "1.5GiB": 3 << 29, "512M": 512 << 20, "1073741824": 1 << 30, "none": -1}
	for in, want := range good {
		got, msg, ok := bindings.ParseMemoryLimit(in, "")
		if !ok || got != want {
			t.Errorf("%q: %d %q, want %d", in, got, msg, want)
		}
	}
	for _, in := range []string{"abc", "-5", "2GB", "0", "1.5.2G", "9999999999TiB"} {
		if _, msg, ok := bindings.ParseMemoryLimit(in, ""); ok || !strings.Contains(msg, "OFFHEAP_MEMORY_LIMIT="+in) {
			t.Errorf("%q: accepted, or a message that does not name it: %q", in, msg)
		}
	}
	cgroups := map[string]int64{"v2": 2 << 30, "v2-container": 1536 << 20, "v2-nested": 512 << 20, "v2-max": -1,
		"v1": 1 << 30, "v1-unlimited": -1, "none": -1}
	for dir, cg := range cgroups {
		want := int64(-1)
		if cg >= 0 {
			want = cg - cg/100*10
		}
		got, msg, ok := bindings.ParseMemoryLimit("auto", filepath.Join("testdata", "cgroup", dir))
		if !ok || got != want {
			t.Errorf("auto on %s: %d %q, want %d (90%% of %d)", dir, got, msg, want, cg)
		}
	}
}

// TestMemoryLimitFromEnvironment runs this test binary again with
// OFFHEAP_MEMORY_LIMIT set: a limit applies at start-up (Go's limit
// follows), a bad value is reported on stderr and sets none.
func TestMemoryLimitFromEnvironment(t *testing.T) {
	if v := os.Getenv("OFFHEAP_MEMLIMIT_CHILD"); v != "" {
		fmt.Printf("limit=%d golimit=%d\n", SetMemoryLimit(-1), goLimit())
		return
	}
	run := func(value string) (string, string) {
		cmd := exec.Command(os.Args[0], "-test.run=^TestMemoryLimitFromEnvironment$", "-test.count=1")
		cmd.Env = append(os.Environ(), "OFFHEAP_MEMLIMIT_CHILD=1", "OFFHEAP_MEMORY_LIMIT="+value, "GOMEMLIMIT=")
		var stderr strings.Builder
		cmd.Stderr = &stderr
		out, err := cmd.Output()
		if err != nil {
			t.Fatalf("child with %s: %v\n%s%s", value, err, out, stderr.String())
		}
		return string(out), stderr.String()
	}
	out, _ := run("1GiB")
	var limit, gl int64
	if _, err := fmt.Sscanf(out[strings.Index(out, "limit="):], "limit=%d golimit=%d", &limit, &gl); err != nil {
		t.Fatalf("child said %q", out)
	}
	if limit != 1<<30 || gl >= 1<<30 || gl < goLimitFloor(1<<30) {
		t.Fatalf("OFFHEAP_MEMORY_LIMIT=1GiB: limit %d, Go's limit %d", limit, gl)
	}
	out, stderr := run("lots")
	if !strings.Contains(out, fmt.Sprintf("limit=%d golimit=%d", int64(NoMemoryLimit), int64(math.MaxInt64))) {
		t.Fatalf("a bad value set a limit: %q", out)
	}
	if !strings.Contains(stderr, "OFFHEAP_MEMORY_LIMIT=lots: not a size") || !strings.Contains(stderr, "no limit") {
		t.Fatalf("a bad value was not reported: %q", stderr)
	}
}
