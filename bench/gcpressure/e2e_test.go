package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/offheap/offheap/bench/internal/harness"
)

// The parent re-executes its own binary for each mode; in tests that binary
// is the test binary, which acts as gcpressure when its first argument is
// -child (exactly what the parent passes).
func TestMain(m *testing.M) {
	if len(os.Args) > 1 && os.Args[1] == "-child" {
		os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
	}
	os.Exit(m.Run())
}

// endToEnd runs gcpressure through the real child-process path and returns
// the decoded -json output, the table and the chart.
func endToEnd(t *testing.T, args ...string) ([]map[string]any, string, []byte) {
	t.Helper()
	dir := t.TempDir()
	jsonPath, chartPath := filepath.Join(dir, "out.json"), filepath.Join(dir, "out.svg")
	var out, errb bytes.Buffer
	args = append(args, "-json", jsonPath, "-chart", chartPath)
	if code := run(args, &out, &errb); code != 0 {
		t.Fatalf("gcpressure %v: exit %d\nstdout:\n%s\nstderr:\n%s", args, code, out.String(), errb.String())
	}
	raw, err := os.ReadFile(jsonPath)
	if err != nil {
		t.Fatal(err)
	}
	var res []map[string]any
	if err := json.Unmarshal(raw, &res); err != nil {
		t.Fatalf("-json output: %v\n%s", err, raw)
	}
	chart, err := os.ReadFile(chartPath)
	if err != nil {
		t.Fatal(err)
	}
	return res, out.String(), chart
}

func checkResults(t *testing.T, res []map[string]any, modes []string, live float64, rounds float64) {
	t.Helper()
	if len(res) != len(modes) {
		t.Fatalf("%d results, want %d (%v)", len(res), len(modes), modes)
	}
	for i, r := range res {
		num := func(k string) float64 {
			v, ok := r[k].(float64)
			if !ok {
				t.Fatalf("%v: field %q missing or not a number: %v", r["mode"], k, r[k])
			}
			return v
		}
		if r["mode"] != modes[i] {
			t.Errorf("result %d is mode %v, want %s", i, r["mode"], modes[i])
		}
		m := modes[i]
		if lb := num("live_bytes"); lb < live || lb > live*1.1 {
			t.Errorf("%s: live_bytes %v for -live %v", m, lb, live)
		}
		if rss := num("peak_rss_bytes"); rss <= num("live_bytes")/2 {
			t.Errorf("%s: peak_rss_bytes %v, not even half the live bytes %v", m, rss, num("live_bytes"))
		}
		if num("wall_s") <= 0 || num("cpu_s") <= 0 {
			t.Errorf("%s: wall %v cpu %v", m, num("wall_s"), num("cpu_s"))
		}
		if c := num("gc_cycles"); c < 0 || c != float64(int64(c)) {
			t.Errorf("%s: gc_cycles %v", m, c)
		}
		if f := num("gc_cpu_fraction"); f < 0 || f > 1 {
			t.Errorf("%s: gc_cpu_fraction %v", m, f)
		}
		if p50, p99, pmax := num("pause_p50_us"), num("pause_p99_us"), num("pause_max_us"); p50 < 0 || p50 > p99 || p99 > pmax {
			t.Errorf("%s: pauses p50 %v p99 %v max %v out of order", m, p50, p99, pmax)
		}
		if num("requests") <= 0 {
			t.Errorf("%s: no requests served", m)
		}
		if p50, p99, p999 := num("req_p50_ns"), num("req_p99_ns"), num("req_p999_ns"); p50 <= 0 || p50 > p99 || p99 > p999 {
			t.Errorf("%s: request latency p50 %v p99 %v p99.9 %v", m, p50, p99, p999)
		}
		if num("rounds") != rounds {
			t.Errorf("%s: %v rounds, want %v", m, num("rounds"), rounds)
		}
		if i > 0 && num("buffers") != res[0]["buffers"].(float64) {
			t.Errorf("%s: %v buffers, %s had %v: not the same workload", m, num("buffers"), modes[0], res[0]["buffers"])
		}
		if modes[0] == "native" {
			if _, ok := r["vs_native"].(map[string]any)["wall_s"]; !ok {
				t.Errorf("%s: no vs_native ratios", m)
			}
		}
	}
}

func TestEndToEnd(t *testing.T) {
	modes := modeTable.Names()
	res, table, chart := endToEnd(t, "-live", "8MiB", "-rounds", "2", "-modes", strings.Join(modes, ","))
	checkResults(t, res, modes, 8<<20, 2)
	if res[0]["buffers"].(float64) != 512 {
		t.Errorf("8MiB of 16KiB buffers: %v buffers, want 512", res[0]["buffers"])
	}
	for _, m := range modes {
		if !strings.Contains(table, "\n  "+m+" ") {
			t.Errorf("table has no row for %s:\n%s", m, table)
		}
	}
	panels := svgSummary(t, chart)
	if strings.Join(panels["rss"], ",") != strings.Join(modes, ",") || len(panels["latency"]) != len(modes) {
		t.Errorf("chart polylines: %v", panels)
	}
}

func TestEndToEndSizeRange(t *testing.T) {
	modes := []string{"native", "sync-pool", "offheap-pool", "offheap-slab"}
	res, _, _ := endToEnd(t, "-live", "4MiB", "-size", "64B-64KiB", "-churn", "50", "-duration", "100ms", "-modes", strings.Join(modes, ","))
	if len(res) != len(modes) {
		t.Fatalf("%d results", len(res))
	}
	for _, r := range res {
		if r["rounds"].(float64) < 1 || r["replaced"].(float64) < 1 {
			t.Errorf("%v: %v rounds, %v replaced in 100ms", r["mode"], r["rounds"], r["replaced"])
		}
		if r["size"] != "64B-64KiB" {
			t.Errorf("%v: size %v", r["mode"], r["size"])
		}
	}
}

func TestChildProtocol(t *testing.T) {
	// One mode in this process, as `make bench-hyperfine` runs it: JSON lines
	// on stdout, samples first and the result last.
	var out, errb bytes.Buffer
	cfg, err := parseConfig([]string{"-live", "2MiB", "-rounds", "3"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if code := run(childArgs(cfg, "sync-pool"), &out, &errb); code != 0 {
		t.Fatalf("child: exit %d: %s", code, errb.String())
	}
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	if len(lines) < 3 {
		t.Fatalf("child wrote %d lines, want samples at start and end and a result", len(lines))
	}
	for i, l := range lines {
		var m message
		if err := json.Unmarshal([]byte(l), &m); err != nil {
			t.Fatalf("line %d %q: %v", i, l, err)
		}
		last := i == len(lines)-1
		if last && (m.Result == nil || m.Result.Mode != "sync-pool" || m.Result.Rounds != 3) {
			t.Errorf("last line is not the result: %s", l)
		}
		if !last && m.Sample == nil {
			t.Errorf("line %d is not a sample: %s", i, l)
		}
	}
}

func TestFailedChildIsReported(t *testing.T) {
	// A child that cannot run its mode fails the run (exit 1) and names the
	// mode; the modes that ran are still reported.
	dir := t.TempDir()
	old := harness.SelfExe
	defer func() { harness.SelfExe = old }()
	harness.SelfExe = func() (string, error) { return filepath.Join(dir, "no-such-binary"), nil }
	var out, errb bytes.Buffer
	if code := run([]string{"-live", "1MiB", "-rounds", "1", "-modes", "native"}, &out, &errb); code != 1 {
		t.Fatalf("exit %d, want 1; stderr %s", code, errb.String())
	}
	if !strings.Contains(out.String(), "FAILED native") || !strings.Contains(errb.String(), "1 of 1 modes failed") {
		t.Errorf("stdout %q stderr %q", out.String(), errb.String())
	}
	// A bad -json path fails before any mode runs.
	if code := run([]string{"-modes", "native", "-json", filepath.Join(dir, "missing", "x.json")}, &out, &errb); code != 1 {
		t.Errorf("bad -json path: exit %d, want 1", code)
	}
}
