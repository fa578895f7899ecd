package main

import (
	"bytes"
	"errors"
	"flag"
	"io"
	"math"
	"math/rand/v2"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/offheap/offheap/bench/internal/harness"
	"github.com/offheap/offheap/bench/internal/units"
)

func TestParseSize(t *testing.T) {
	good := map[string]int64{
		"64B":     64,
		"1":       1,
		"4096":    4096,
		"16KiB":   16 << 10,
		"16kib":   16 << 10,
		"16K":     16 << 10,
		"8MiB":    8 << 20,
		"1GiB":    1 << 30,
		"1.5GiB":  3 << 29,
		" 2GiB ":  2 << 30,
		"0.5KiB":  512,
		"1.5B":    2,
		"2MB":     2_000_000,
		"1TiB":    1 << 40,
		"1.25MiB": 5 << 18,
	}
	for in, want := range good {
		got, err := units.ParseSize(in)
		if err != nil || got != want {
			t.Errorf("units.ParseSize(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
	bad := []string{"", "B", "GiB", "16XB", "16 XB", "-5B", "0B", "0", "0.4B", "1..5GiB", "1e3B", "NaNB", "InfGiB",
		"2TiB", "16KiBs", "0x10B", "1,5GiB", "+1GiB"}
	for _, in := range bad {
		if got, err := units.ParseSize(in); err == nil {
			t.Errorf("units.ParseSize(%q) = %d, want an error", in, got)
		}
	}
}

func TestFormatSizeRoundTrips(t *testing.T) {
	for _, n := range []int64{1, 64, 1000, 1024, 16 << 10, 1536, 1<<20 + 1, 3 << 29, 1 << 30, 1<<30 + 1, 5 << 18, 1 << 40} {
		s := units.FormatSize(n)
		back, err := units.ParseSize(s)
		if err != nil || back != n {
			t.Errorf("units.FormatSize(%d) = %q, parses back as %d, %v", n, s, back, err)
		}
	}
	if s := units.FormatSize(16 << 10); s != "16KiB" {
		t.Errorf("units.FormatSize(16KiB) = %q", s)
	}
	if s := units.FormatSize(3 << 29); s != "1.5GiB" {
		t.Errorf("units.FormatSize(1.5GiB) = %q", s)
	}
}

func TestParseSizeSpec(t *testing.T) {
	good := map[string]sizeSpec{
		"16KiB":      {16 << 10, 16 << 10},
		"64B-64KiB":  {64, 64 << 10},
		"1KiB-1KiB":  {1024, 1024},
		"100-1000":   {100, 1000},
		"1MiB-16MiB": {1 << 20, 16 << 20},
	}
	for in, want := range good {
		got, err := parseSizeSpec(in)
		if err != nil || got != want {
			t.Errorf("parseSizeSpec(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	for _, in := range []string{"64KiB-64B", "64B-", "-64B", "1-2-3", "64B-16XB", "a-b", "-"} {
		if got, err := parseSizeSpec(in); err == nil {
			t.Errorf("parseSizeSpec(%q) = %v, want an error", in, got)
		}
	}
	if s := (sizeSpec{64, 64 << 10}).String(); s != "64B-64KiB" {
		t.Errorf("String() = %q", s)
	}
}

func TestSizeDraw(t *testing.T) {
	spec := sizeSpec{64, 64 << 10}
	rng := rand.New(rand.NewPCG(1, 2))
	const n = 200000
	var sum float64
	var perOctave [10]int
	for range n {
		v := spec.Draw(rng)
		if v < 64 || v > 64<<10 {
			t.Fatalf("Draw = %d, outside %v", v, spec)
		}
		sum += float64(v)
		perOctave[min(int(math.Log2(float64(v)/64)), 9)]++
	}
	if mean := sum / n; math.Abs(mean-spec.Mean())/spec.Mean() > 0.03 {
		t.Errorf("mean of draws %.0f, want about %.0f", mean, spec.Mean())
	}
	// Log-uniform: every octave about equally likely (1/10 each).
	for i, c := range perOctave {
		if f := float64(c) / n; f < 0.09 || f > 0.11 {
			t.Errorf("octave %d holds %.3f of the draws, want about 0.1", i, f)
		}
	}
	fixed := sizeSpec{16 << 10, 16 << 10}
	if v := fixed.Draw(rng); v != 16<<10 {
		t.Errorf("fixed Draw = %d", v)
	}
	if fixed.Mean() != 16<<10 {
		t.Errorf("fixed Mean = %v", fixed.Mean())
	}
}

func TestSizeClasses(t *testing.T) {
	c := newSizeClasses(sizeSpec{16 << 10, 16 << 10})
	if idx, size := c.class(16 << 10); c.count != 1 || idx != 0 || size != 16<<10 {
		t.Errorf("fixed: count %d, class = %d, %d", c.count, idx, size)
	}
	c = newSizeClasses(sizeSpec{64, 64 << 10})
	if c.count != 11 {
		t.Errorf("64B-64KiB: %d classes, want 11", c.count)
	}
	cases := []struct{ n, idx, size int }{{64, 0, 64}, {65, 1, 128}, {128, 1, 128}, {129, 2, 256}, {40000, 10, 65536}, {65536, 10, 65536}}
	for _, tc := range cases {
		if idx, size := c.class(tc.n); idx != tc.idx || size != tc.size {
			t.Errorf("class(%d) = %d, %d; want %d, %d", tc.n, idx, size, tc.idx, tc.size)
		}
	}
	c = newSizeClasses(sizeSpec{100, 1000})
	if idx, size := c.class(100); c.count != 4 || idx != 0 || size != 128 {
		t.Errorf("100B-1000B: count %d, class(100) = %d, %d", c.count, idx, size)
	}
	if idx, size := c.class(1000); idx != 3 || size != 1024 {
		t.Errorf("100B-1000B: class(1000) = %d, %d", idx, size)
	}
}

func TestParseConfigDefaults(t *testing.T) {
	cfg, err := parseConfig(nil, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Live != 1<<30 || cfg.Size != (sizeSpec{16 << 10, 16 << 10}) || cfg.Churn != 10 || cfg.Rounds != defaultRounds ||
		cfg.Duration != 0 || cfg.Seed != 1 || cfg.Sample != 50*time.Millisecond || cfg.Child {
		t.Errorf("defaults: %+v", cfg)
	}
	if want := []string{"native", "native-memlimit", "sync-pool", "offheap", "offheap-pool", "offheap-slab", "native-gogc400", "offheap-gogc400"}; !reflect.DeepEqual(cfg.Modes, want) {
		t.Errorf("default modes %v, want %v", cfg.Modes, want)
	}
}

func TestParseConfig(t *testing.T) {
	cfg, err := parseConfig([]string{"-live", "4GiB", "-size", "64B-64KiB", "-churn", "2.5", "-duration", "3s",
		"-modes", "offheap-slab,native", "-seed", "7", "-json", "x.json", "-chart", "x.svg"}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Live != 4<<30 || cfg.Size != (sizeSpec{64, 64 << 10}) || cfg.Churn != 2.5 || cfg.Duration != 3*time.Second ||
		cfg.Rounds != 0 || cfg.Seed != 7 || cfg.JSON != "x.json" || cfg.Chart != "x.svg" {
		t.Errorf("parsed: %+v", cfg)
	}
	// Modes come out in table order whatever order they were given in.
	if want := []string{"native", "offheap-slab"}; !reflect.DeepEqual(cfg.Modes, want) {
		t.Errorf("modes %v, want %v", cfg.Modes, want)
	}
}

func TestParseConfigErrors(t *testing.T) {
	bad := map[string][]string{
		"bad size unit":        {"-size", "16XB"},
		"bad range":            {"-size", "64KiB-64B"},
		"churn above 100":      {"-churn", "150"},
		"churn zero":           {"-churn", "0"},
		"churn negative":       {"-churn", "-5"},
		"churn NaN":            {"-churn", "NaN"},
		"churn not a number":   {"-churn", "ten"},
		"unknown mode":         {"-modes", "native,bogus"},
		"empty mode":           {"-modes", "native,"},
		"mode twice":           {"-modes", "native,native"},
		"live zero":            {"-live", "0"},
		"live no unit number":  {"-live", "GiB"},
		"size above live":      {"-live", "1MiB", "-size", "2MiB"},
		"too many buffers":     {"-live", "1GiB", "-size", "8B"},
		"rounds zero":          {"-rounds", "0"},
		"rounds and duration":  {"-rounds", "5", "-duration", "1s"},
		"negative duration":    {"-duration", "-1s"},
		"sample too fast":      {"-sample", "1ms"},
		"positional argument":  {"native"},
		"unknown flag":         {"-pattern", "burst"},
		"child with two modes": {"-child", "-modes", "native,sync-pool"},
		"child with json":      {"-child", "-modes", "native", "-json", "x"},
	}
	for name, args := range bad {
		_, err := parseConfig(args, io.Discard)
		var ue *harness.UsageError
		if !errors.As(err, &ue) {
			t.Errorf("%s: %v: got %v, want a usage error", name, args, err)
		}
	}
}

func TestRunUsageErrorExitCode(t *testing.T) {
	for _, args := range [][]string{{"-size", "16XB"}, {"-churn", "150"}, {"-modes", "bogus"}, {"-live", "0"}} {
		var out, errb bytes.Buffer
		if code := run(args, &out, &errb); code != 2 {
			t.Errorf("run(%v) = %d, want 2", args, code)
		}
		msg := errb.String()
		if !strings.Contains(msg, args[0]) || !strings.Contains(msg, "gcpressure -h") {
			t.Errorf("run(%v): message %q should name the flag and point to -h", args, msg)
		}
		if out.Len() != 0 {
			t.Errorf("run(%v) wrote to stdout: %q", args, out.String())
		}
	}
	var errb bytes.Buffer
	run([]string{"-size", "16XB"}, io.Discard, &errb)
	if !strings.Contains(errb.String(), `"16XB"`) {
		t.Errorf("message %q should quote the bad value", errb.String())
	}
}

func TestHelp(t *testing.T) {
	var errb bytes.Buffer
	_, err := parseConfig([]string{"-h"}, &errb)
	if !errors.Is(err, flag.ErrHelp) {
		t.Fatalf("-h: %v", err)
	}
	help := errb.String()
	for _, want := range []string{"-live", "-size", "-churn", "-rounds", "-duration", "-modes", "-json", "-chart", "offheap-slab"} {
		if !strings.Contains(help, want) {
			t.Errorf("help lacks %q", want)
		}
	}
	if strings.Contains(help, "-child") {
		t.Errorf("help shows the internal -child flag")
	}
	if code := run([]string{"-h"}, io.Discard, io.Discard); code != 0 {
		t.Errorf("run(-h) = %d, want 0", code)
	}
}

func TestChildArgsRoundTrip(t *testing.T) {
	for _, args := range [][]string{
		{"-live", "1.5GiB", "-size", "64B-64KiB", "-churn", "12.5", "-rounds", "7", "-seed", "9", "-sample", "20ms"},
		{"-live", "8MiB", "-size", "16KiB", "-duration", "1500ms"},
	} {
		cfg, err := parseConfig(args, io.Discard)
		if err != nil {
			t.Fatal(err)
		}
		child, err := parseConfig(childArgs(cfg, "sync-pool"), io.Discard)
		if err != nil {
			t.Fatalf("childArgs %v: %v", childArgs(cfg, "sync-pool"), err)
		}
		want := cfg
		want.Modes, want.Child = []string{"sync-pool"}, true
		if !reflect.DeepEqual(child, want) {
			t.Errorf("child config %+v, want %+v", child, want)
		}
	}
}
