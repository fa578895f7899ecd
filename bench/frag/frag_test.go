// frag_test.go checks frag's command line, the figures it derives from a
// child's steps, the helpers the workloads rely on (the shared random stream,
// value patterns), and a tiny end-to-end run through real child processes.
package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/offheap/offheap/bench/internal/harness"
	"github.com/offheap/offheap/bench/internal/stamp"
)

// The parent re-executes its own binary for the Go modes; in tests that is
// the test binary, which acts as frag when its first argument is -child.
func TestMain(m *testing.M) {
	if harness.IsChild(os.Args[1:]) {
		os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
	}
	os.Exit(m.Run())
}

func TestDefaultsAndFlags(t *testing.T) {
	var out bytes.Buffer
	cfg, err := parseConfig(nil, &out, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Live != 1<<30 || cfg.Pool != 64<<20 || cfg.Wait != 2*time.Second || cfg.DelaySet || cfg.MemLimit != 1.1 {
		t.Errorf("defaults %+v", cfg)
	}
	if !reflect.DeepEqual(cfg.Workloads, workloads) || !reflect.DeepEqual(cfg.Modes, modes.Names()) {
		t.Errorf("workloads %v modes %v", cfg.Workloads, cfg.Modes)
	}
	// 9 phase modes, 8 cache modes (no BufferPool), 5 pool modes (no C).
	if n := len(cfg.runs()); n != 22 {
		t.Errorf("%d runs, want 22", n)
	}
	cfg, err = parseConfig([]string{"-live", "16MiB", "-workloads", "pool, phase", "-modes", "offheap,native",
		"-purge-delay", "50ms", "-memlimit", "1.5"}, &out, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Live != 16<<20 || cfg.Wait != 100*time.Millisecond || !reflect.DeepEqual(cfg.Workloads, []string{"phase", "pool"}) ||
		!reflect.DeepEqual(cfg.Modes, []string{"native", "offheap"}) {
		t.Errorf("parsed %+v", cfg)
	}
	if env := childEnv(cfg); !reflect.DeepEqual(env, []string{"OFFHEAP_PURGE_DELAY_MS=50"}) {
		t.Errorf("env %v", env)
	}
	goArgs := childArgs(cfg, "phase", "offheap")
	if goArgs[0] != "-child" {
		t.Errorf("Go child args %v", goArgs)
	}
	c, err := parseChildArgs(goArgs[1:])
	if err != nil || c.Live != 16<<20 || c.Wait != 100*time.Millisecond || c.MemLimit != 1.5 || c.Mode != "offheap" {
		t.Errorf("child config %+v, %v", c, err)
	}
	if cargs := strings.Join(childArgs(cfg, "cache", "c-glibc"), " "); !strings.HasPrefix(cargs, "-workload cache -mode c-glibc") ||
		!strings.Contains(cargs, "-cache-ops 0") || strings.Contains(cargs, "-memlimit") {
		t.Errorf("C harness args %v", cargs)
	}
	if _, err := parseChildArgs([]string{"-workload", "cache", "-mode", "c-glibc", "-live", "16777216"}); err == nil {
		t.Error("a Go child accepted a C mode")
	}
	if _, err := parseChildArgs([]string{"-workload", "cache", "-mode", "offheap-bufferpool", "-live", "16777216"}); err == nil {
		t.Error("a BufferPool child accepted the cache workload")
	}
}

func TestBadFlags(t *testing.T) {
	cases := map[string][]string{
		"-live":        {"-live", "100KiB"},
		"-pool":        {"-pool", "16KiB"},
		"unknown mode": {"-modes", "offheap,tcmalloc"},
		"-workloads":   {"-workloads", "phase,phase"},
		"-purge-delay": {"-purge-delay", "soon"},
		"-memlimit":    {"-memlimit", "0.5"},
		"-cache-ops":   {"-cache-ops", "-1"},
		"unexpected":   {"extra"},
	}
	for want, args := range cases {
		_, err := parseConfig(args, &bytes.Buffer{}, time.Second)
		var ue *harness.UsageError
		if !errors.As(err, &ue) || !strings.Contains(err.Error(), want) {
			t.Errorf("%v: %v, want a usage error about %s", args, err, want)
		}
	}
}

// The C harness draws from the same splitmix64 stream (reference values).
func TestRNGMatchesSplitmix64(t *testing.T) {
	r := rng{s: 1}
	for i, want := range []uint64{0x910a2dec89025cc1, 0xbeeb8da1658eec67, 0xf893a2eefb32555e} {
		if got := r.next(); got != want {
			t.Errorf("draw %d: %#x, want %#x", i, got, want)
		}
	}
}

func TestValuesAndSizes(t *testing.T) {
	b := make([]byte, 1000)
	stamp.Fill(b, word(7, 3))
	if !stamp.Verify(b, word(7, 3)) || stamp.Verify(b, word(7, 4)) {
		t.Fatal("a value does not verify under its own key, or does under another")
	}
	for _, i := range []int{9, 500, 999} {
		b[i] ^= 1
		if stamp.Verify(b, word(7, 3)) {
			t.Errorf("byte %d flipped and the value still verifies", i)
		}
		b[i] ^= 1
	}
	rnd := &rng{s: 1}
	for i := 0; i < 10000; i++ {
		if n := drawSize(rnd); n < cacheMinVal || n > cacheMaxVal {
			t.Fatalf("size %d", n)
		}
	}
	if m := meanSize(); m < 4000 || m > 9000 {
		t.Errorf("mean value size %.0f, expected about 6 KiB", m)
	}
}

func TestFigures(t *testing.T) {
	r := &result{Mode: "offheap", BaseRSS: 10, Steps: []step{
		{Name: "start", RSS: 10, Purges: 0, DecommittedBytes: 0},
		{Name: "50%", T: 1, RSS: 110, Live: 100, Purges: 5},
		{Name: "60%", T: 2, RSS: 121, Live: 100, Purges: 5},
		{Name: "100%", T: 3, RSS: 115, Live: 100, Purges: 7, DecommittedBytes: 3 << 20},
	}}
	if v := r.ratio(r.step("100%")); v != 1.05 {
		t.Errorf("ratio %v", v)
	}
	if !math.IsNaN(r.ratio(r.step("start"))) || !math.IsNaN(r.ratio(nil)) {
		t.Error("a ratio without live bytes is not NaN")
	}
	g, p := cacheGrowth(r)
	if math.Abs(g-0.1) > 1e-9 || p != 2 {
		t.Errorf("growth %v, purges %d", g, p)
	}
	if p, d := decommits(r); p != "7" || d != "3" {
		t.Errorf("decommits %s %s", p, d)
	}
	pool := &result{BaseRSS: 0, Steps: []step{{Name: "put back", T: 1, RSS: 500, Live: 100}, {Name: "+0.1s", T: 1.1, RSS: 300, Live: 100},
		{Name: "+0.2s", T: 1.2, RSS: 115, Live: 100}, {Name: "+0.3s", T: 1.3, RSS: 110, Live: 100}}}
	if at, last := poolRelease(pool); math.Abs(at-0.2) > 1e-9 || last != 1.1 {
		t.Errorf("pool release at %v, last %v", at, last)
	}
}

// A tiny run of every Go mode and workload through real child processes,
// with a 50 ms purge delay; the C modes run too when make has built them.
func TestEndToEnd(t *testing.T) {
	dir := t.TempDir()
	jsonPath := filepath.Join(dir, "out.json")
	args := []string{"-live", "16MiB", "-pool", "2MiB", "-purge-delay", "50ms", "-cache-ops", "20000", "-json", jsonPath,
		"-modes", "native,native-memlimit,offheap,offheap-slab,offheap-bufferpool"}
	var out, errb bytes.Buffer
	if code := run(args, &out, &errb); code != 0 {
		t.Fatalf("frag %v: exit %d\nstdout:\n%s\nstderr:\n%s", args, code, out.String(), errb.String())
	}
	raw, err := os.ReadFile(jsonPath)
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Runs []struct {
			Workload, Mode string
			Result         *result
		}
	}
	if err := json.Unmarshal(raw, &doc); err != nil {
		t.Fatal(err)
	}
	if len(doc.Runs) != 14 {
		t.Fatalf("%d runs, want 14 (5 phase, 4 cache, 5 pool)", len(doc.Runs))
	}
	for _, r := range doc.Runs {
		res := r.Result
		if res == nil || res.PeakRSS < 16<<20 && r.Workload != "pool" || res.Ops <= 0 || res.BaseRSS <= 0 {
			t.Fatalf("%s/%s: %+v", r.Workload, r.Mode, res)
		}
		want := map[string][]string{"phase": phaseSteps, "cache": {"10%", "50%", "100%"}, "pool": {"taken", "put back", "+0.1s"}}[r.Workload]
		for _, n := range want {
			if res.step(n) == nil {
				t.Errorf("%s/%s: no step %q", r.Workload, r.Mode, n)
			}
		}
		if isOffheap(r.Mode) != (res.Steps[0].Purges >= 0) {
			t.Errorf("%s/%s: purges %d", r.Workload, r.Mode, res.Steps[0].Purges)
		}
		if r.Workload == "phase" {
			fill, floor := res.step("fill 48K"), res.step("free to 10%")
			if fill.Live != 4<<20+int64(16<<20/(48<<10))*(48<<10) || floor.Live >= fill.Live/9 {
				t.Errorf("%s: live %d after the 48K fill, %d at the floor", r.Mode, fill.Live, floor.Live)
			}
			// Each Alloc and Free is timed: the p99 of ~1300 calls is above a
			// nanosecond and below the whole run.
			if res.OpP99ns < 1 || res.OpP99ns > res.BusyS*1e9 {
				t.Errorf("%s: op p99 %v ns (busy %v s)", r.Mode, res.OpP99ns, res.BusyS)
			}
		}
		if r.Workload == "cache" && (res.Hits == 0 || res.Evictions == 0 || res.Hits+res.Misses != 20000) {
			t.Errorf("%s cache: %d hits, %d misses, %d evictions", r.Mode, res.Hits, res.Misses, res.Evictions)
		}
	}
	for _, want := range []string{"== phase", "== cache", "== pool", "offheap-bufferpool", "idle<=1.3", "growth 2nd half", "<=1.2x at"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("report lacks %q:\n%s", want, out.String())
		}
	}
}

// A cache run whose operations differ from the first cache run's fails (the
// C harness ports the Go child's generators; make test-frag runs both), and
// other workloads and failed runs are left alone.
func TestSameOperations(t *testing.T) {
	res := func(hits int64) *result {
		return &result{Workload: "cache", Hits: hits, Misses: 10, Evictions: 5, Updates: 2, Values: 7}
	}
	runs := []*modeRun{
		{Workload: "phase", Mode: "native", Result: &result{Hits: 1}},
		{Workload: "cache", Mode: "native", Result: res(100)},
		{Workload: "cache", Mode: "c-glibc", Result: res(100)},
		{Workload: "cache", Mode: "c-mimalloc", Result: res(99)},
		{Workload: "cache", Mode: "c-jemalloc", err: errors.New("exit 1")},
	}
	sameOperations(runs)
	for i, mr := range runs[:3] {
		if mr.err != nil {
			t.Errorf("run %d (%s/%s) failed: %v", i, mr.Workload, mr.Mode, mr.err)
		}
	}
	if err := runs[3].err; err == nil || !strings.Contains(err.Error(), "99/100 hits") || runs[3].Error != err.Error() {
		t.Errorf("differing run: %v (%q)", err, runs[3].Error)
	}
	if runs[4].err.Error() != "exit 1" {
		t.Errorf("failed run's error replaced: %v", runs[4].err)
	}
}

// A C mode whose harness is missing fails with a message naming the fix,
// and the other modes still report.
func TestMissingHarness(t *testing.T) {
	var out, errb bytes.Buffer
	args := []string{"-live", "4MiB", "-workloads", "phase", "-purge-delay", "10ms", "-cbin", t.TempDir(), "-modes", "offheap,c-mimalloc"}
	if code := run(args, &out, &errb); code != 1 {
		t.Fatalf("exit %d, want 1\n%s\n%s", code, out.String(), errb.String())
	}
	if !strings.Contains(out.String(), "FAILED phase / c-mimalloc") || !strings.Contains(out.String(), "make bench-frag-c") {
		t.Errorf("no FAILED line naming the fix:\n%s", out.String())
	}
	if !strings.Contains(out.String(), "\n  offheap ") {
		t.Errorf("offheap missing from the table:\n%s", out.String())
	}
}
