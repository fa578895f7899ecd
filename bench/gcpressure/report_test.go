package main

import (
	"bytes"
	"encoding/json"
	"math"
	"strings"
	"testing"

	"github.com/offheap/offheap/bench/internal/units"
)

func sampleResults() []*modeResult {
	return []*modeResult{
		{Mode: "native", WallS: 10, CPUS: 18, GCCycles: 40, GCCPUFraction: 0.2, PauseP50us: 50, PauseP99us: 400, PauseMaxus: 900,
			ReqP50ns: 400, ReqP99ns: 20000, ReqP999ns: 90000, PeakRSSBytes: 2 << 30, LiveBytes: 1 << 30, Requests: 20_000_000, GoMaxProc: 2},
		{Mode: "offheap", WallS: 5, CPUS: 9, GCCycles: 0, GCCPUFraction: 0.01, PauseP50us: 25, PauseP99us: 100, PauseMaxus: 300,
			ReqP50ns: 400, ReqP99ns: 2000, ReqP999ns: 9000, PeakRSSBytes: 1 << 30, LiveBytes: 1 << 30, Requests: 15_000_000, GoMaxProc: 2},
	}
}

func TestJSONFieldNames(t *testing.T) {
	res := sampleResults()
	fillRatios(res)
	var buf bytes.Buffer
	if err := writeJSON(&buf, res); err != nil {
		t.Fatal(err)
	}
	var decoded []map[string]any
	if err := json.Unmarshal(buf.Bytes(), &decoded); err != nil {
		t.Fatalf("output is not a JSON array of objects: %v\n%s", err, buf.String())
	}
	if len(decoded) != 2 {
		t.Fatalf("%d objects, want one per mode (2)", len(decoded))
	}
	want := map[string]float64{
		"wall_s": 5, "cpu_s": 9, "gc_cycles": 0, "gc_cpu_fraction": 0.01, "pause_p50_us": 25, "pause_p99_us": 100,
		"pause_max_us": 300, "req_p50_ns": 400, "req_p99_ns": 2000, "req_p999_ns": 9000, "peak_rss_bytes": 1 << 30,
		"live_bytes": 1 << 30, "requests": 15_000_000,
	}
	obj := decoded[1]
	if obj["mode"] != "offheap" {
		t.Errorf("mode = %v", obj["mode"])
	}
	for k, v := range want {
		got, ok := obj[k].(float64)
		if !ok || got != v {
			t.Errorf("field %q = %v, want %v", k, obj[k], v)
		}
	}
	ratios, ok := obj["vs_native"].(map[string]any)
	if !ok || ratios["wall_s"] != 0.5 || ratios["peak_rss_bytes"] != 0.5 || ratios["req_p99_ns"] != 0.1 {
		t.Errorf("vs_native = %v", obj["vs_native"])
	}
	// No ratio against a zero baseline.
	res[0].GCCycles = 0
	fillRatios(res)
	if _, ok := res[1].VsNative["gc_cycles"]; ok {
		t.Errorf("ratio against 0 GC cycles: %v", res[1].VsNative["gc_cycles"])
	}
	// An empty run is still a JSON array.
	buf.Reset()
	if err := writeJSON(&buf, nil); err != nil || strings.TrimSpace(buf.String()) != "[]" {
		t.Errorf("no results: %q, %v", buf.String(), err)
	}
}

func TestTable(t *testing.T) {
	res := sampleResults()
	fillRatios(res)
	cfg, _ := parseConfig([]string{"-modes", "native,offheap", "-rounds", "300"}, nil)
	var buf bytes.Buffer
	writeTable(&buf, cfg, res)
	out := buf.String()
	for _, want := range []string{"live 1GiB of 16KiB buffers", "300 rounds", "native", "offheap", "ratio to native",
		"10.0s", "5.00s", "2.00 GiB", "20.0µs", "0.50x", "0.10x", "2.00M", "3.00M", "1.50x"} {
		if !strings.Contains(out, want) {
			t.Errorf("table lacks %q:\n%s", want, out)
		}
	}
	// Columns line up: the header and every row have their cells end at the same column.
	lines := strings.Split(out, "\n")
	var rows []string
	for _, l := range lines {
		if strings.HasPrefix(strings.TrimSpace(l), "mode ") || strings.HasPrefix(strings.TrimSpace(l), "native ") ||
			strings.HasPrefix(strings.TrimSpace(l), "offheap ") {
			rows = append(rows, l)
		}
	}
	if len(rows) != 6 {
		t.Fatalf("found %d table rows, want 6:\n%s", len(rows), out)
	}
	for i := 1; i < 3; i++ {
		if len([]rune(rows[i])) != len([]rune(rows[0])) {
			t.Errorf("row %q not as wide as header %q", rows[i], rows[0])
		}
	}
	// Without native there are no ratios.
	buf.Reset()
	writeTable(&buf, cfg, res[1:])
	if strings.Contains(buf.String(), "ratio to native") {
		t.Errorf("ratios without a native run:\n%s", buf.String())
	}
}

func TestFormatters(t *testing.T) {
	if got := units.HumanBytes(2.08 * (1 << 30)); got != "2.08 GiB" {
		t.Errorf("humanBytes = %q", got)
	}
	if got := reqRate(&modeResult{Requests: 100, WallS: 0}); got != 0 || math.IsNaN(got) {
		t.Errorf("reqRate with zero wall = %v", got)
	}
}
