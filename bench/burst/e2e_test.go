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

// The parent re-executes its own binary for the Go modes; in tests that
// binary is the test binary, which acts as burst when its first argument is
// -child (exactly what the parent passes).
func TestMain(m *testing.M) {
	if len(os.Args) > 1 && harness.IsChild(os.Args[1:]) {
		os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
	}
	os.Exit(m.Run())
}

type e2eOut struct {
	Results []*modeResult `json:"results"`
	Runs    map[string][]struct {
		Samples []sample `json:"samples"`
		Events  []struct {
			Event string  `json:"event"`
			At    float64 `json:"at"`
		} `json:"events"`
	} `json:"runs"`
}

// readE2E reads the -json output at path.
func readE2E(t *testing.T, path string) e2eOut {
	t.Helper()
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var doc e2eOut
	if err := json.Unmarshal(raw, &doc); err != nil {
		t.Fatalf("-json: %v", err)
	}
	return doc
}

// A tiny run of two Go modes through the real child processes: 64 MiB
// bursts, a 50 ms purge delay. offheap gives the burst back by itself within
// the idle window; native-freeosmemory at the free. The retained margin
// (4 MiB by default, more than 5 % of so small a burst) is set to 0 through
// the environment the children inherit.
func TestEndToEnd(t *testing.T) {
	t.Setenv("OFFHEAP_RETAIN_BYTES", "0")
	dir := t.TempDir()
	jsonPath, chartPath := filepath.Join(dir, "out.json"), filepath.Join(dir, "out.svg")
	args := []string{"-peak", "64MiB", "-size", "16KiB", "-bursts", "2", "-idle", "600ms", "-pre", "100ms",
		"-purge-delay", "50ms", "-modes", "offheap,native-freeosmemory", "-json", jsonPath, "-chart", chartPath}
	var out, errb bytes.Buffer
	if code := run(args, &out, &errb); code != 0 {
		t.Fatalf("burst %v: exit %d\nstdout:\n%s\nstderr:\n%s", args, code, out.String(), errb.String())
	}
	doc := readE2E(t, jsonPath)
	if len(doc.Results) != 2 || doc.Results[0].Mode != "offheap" || doc.Results[1].Mode != "native-freeosmemory" {
		t.Fatalf("results %+v", doc.Results)
	}
	for _, r := range doc.Results {
		if len(r.Bursts) != 2 {
			t.Fatalf("%s: %d bursts", r.Mode, len(r.Bursts))
		}
		if r.BaselineRSS <= 0 || r.PeakRSS < 64<<20 {
			t.Errorf("%s: baseline %d, peak %d for 64 MiB of buffers", r.Mode, r.BaselineRSS, r.PeakRSS)
		}
		for _, b := range r.Bursts {
			if b.Buffers != 4096 {
				t.Errorf("%s burst %d: %d buffers, want 4096", r.Mode, b.Burst, b.Buffers)
			}
			// every byte written: a fault per page, unless the memory was kept
			if b.Burst == 1 && b.BurstMinflt < 4096*4 {
				t.Errorf("%s burst %d: %d page faults for 16384 pages written", r.Mode, b.Burst, b.BurstMinflt)
			}
			if b.IdleSamples < 5 {
				t.Errorf("%s burst %d: %d samples in a 600 ms idle window", r.Mode, b.Burst, b.IdleSamples)
			}
			// the burst went back to the OS: RSS while idle far below the peak
			if b.IdleRSS > r.BaselineRSS+32<<20 {
				t.Errorf("%s burst %d: idle RSS %d MiB, baseline %d MiB", r.Mode, b.Burst, b.IdleRSS>>20, r.BaselineRSS>>20)
			}
			if b.ReleaseS < 0 {
				t.Errorf("%s burst %d: never released within 600 ms (purge delay 50 ms)", r.Mode, b.Burst)
			}
		}
		if r.Mode == "offheap" {
			if r.Bursts[0].IdlePurges <= 0 {
				t.Errorf("offheap: the RSS fell but no purge was counted (%d)", r.Bursts[0].IdlePurges)
			}
			if !strings.Contains(r.Info, "purge delay 50ms") || !strings.Contains(r.Info, "OFFHEAP_RETAIN_BYTES=0") {
				t.Errorf("offheap child did not get the purge delay: %q", r.Info)
			}
		} else if r.Bursts[0].IdlePurges != -1 {
			t.Errorf("%s: purges %d, want -1 (not offheap)", r.Mode, r.Bursts[0].IdlePurges)
		}
		run := doc.Runs[r.Mode][0]
		if len(run.Samples) < 40 {
			t.Errorf("%s: %d RSS samples over ~1.6 s", r.Mode, len(run.Samples))
		}
		for i := 1; i < len(run.Samples); i++ {
			if run.Samples[i].T < run.Samples[i-1].T || run.Samples[i].RSS <= 0 {
				t.Fatalf("%s: sample %d %+v after %+v", r.Mode, i, run.Samples[i], run.Samples[i-1])
			}
		}
	}
	table := out.String()
	for _, want := range []string{"offheap", "native-freeosmemory", "release", "purge delay 50ms"} {
		if !strings.Contains(table, want) {
			t.Errorf("table lacks %q:\n%s", want, table)
		}
	}
	chart, err := os.ReadFile(chartPath)
	if err != nil {
		t.Fatal(err)
	}
	if n := bytes.Count(chart, []byte("<polyline")); n != 2 {
		t.Errorf("chart has %d lines, want 2", n)
	}
}

// A C mode whose harness is missing fails with a message that says how to
// build it, and the other modes still report.
func TestMissingHarness(t *testing.T) {
	var out, errb bytes.Buffer
	args := []string{"-peak", "16MiB", "-bursts", "1", "-idle", "100ms", "-pre", "50ms", "-cbin", t.TempDir(),
		"-modes", "offheap,mimalloc"}
	if code := run(args, &out, &errb); code != 1 {
		t.Fatalf("exit %d, want 1 (one mode failed)\n%s\n%s", code, out.String(), errb.String())
	}
	if !strings.Contains(out.String(), "FAILED mimalloc") || !strings.Contains(out.String(), "make bench-burst-c") {
		t.Errorf("no FAILED line naming the fix:\n%s", out.String())
	}
	if !strings.Contains(out.String(), "\n  offheap ") && !strings.Contains(out.String(), "\noffheap ") {
		t.Errorf("offheap missing from the table:\n%s", out.String())
	}
}

// The steady pattern through a real child.
// The steady pattern through the real children: its table, and the bytes
// decommitted counted for offheap (a BufferPool's in-place decommits are not
// purges) and not for native.
func TestEndToEndSteady(t *testing.T) {
	var out, errb bytes.Buffer
	jsonPath := filepath.Join(t.TempDir(), "out.json")
	args := []string{"-pattern", "steady", "-peak", "32MiB", "-duration", "600ms", "-warm", "200ms", "-pre", "50ms",
		"-churn", "10", "-gap", "5ms", "-purge-delay", "1s", "-modes", "offheap-pool,native", "-json", jsonPath}
	if code := run(args, &out, &errb); code != 0 {
		t.Fatalf("exit %d\n%s\n%s", code, out.String(), errb.String())
	}
	for _, want := range []string{"ns/buffer", "faults/buf", "decommit MiB", "offheap-pool"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("steady table lacks %q:\n%s", want, out.String())
		}
	}
	doc := readE2E(t, jsonPath)
	if len(doc.Results) != 2 || doc.Results[0].Steady == nil || doc.Results[1].Steady == nil {
		t.Fatalf("results %+v", doc.Results)
	}
	if d := doc.Results[0].Steady.Decommitted; d < 0 {
		t.Errorf("offheap-pool: decommitted %d, want a count", d)
	}
	if d := doc.Results[1].Steady.Decommitted; d != -1 {
		t.Errorf("native: decommitted %d, want -1 (not counted)", d)
	}
}
