package main

import (
	"bytes"
	"errors"
	"flag"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/offheap/offheap/bench/internal/harness"
)

func parse(t *testing.T, libDelay time.Duration, args ...string) (config, error) {
	t.Helper()
	var out bytes.Buffer
	return parseConfig(args, &out, libDelay)
}

func TestDefaults(t *testing.T) {
	cfg, err := parse(t, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Peak != 2<<30 || cfg.Size != 16<<10 || cfg.Floor != 0 || cfg.Bursts != 2 || cfg.Pattern != "burst" || cfg.Keep != "oldest" {
		t.Errorf("defaults: %+v", cfg)
	}
	if cfg.Idle != 3*time.Second {
		t.Errorf("idle %v with a 1s library delay, want 3s", cfg.Idle)
	}
	if cfg.Delay.Set {
		t.Errorf("-purge-delay unset but Delay = %+v", cfg.Delay)
	}
	if !reflect.DeepEqual(cfg.Modes, modes.Names()) {
		t.Errorf("modes %v", cfg.Modes)
	}
	if cfg.Warm != cfg.Duration/5 {
		t.Errorf("warm %v for duration %v", cfg.Warm, cfg.Duration)
	}
	if len(childEnv(cfg)) != 0 {
		t.Errorf("child env %v with no -purge-delay", childEnv(cfg))
	}
}

func TestIdleFollowsThePurgeDelay(t *testing.T) {
	cases := []struct {
		flag     string
		lib      time.Duration
		wantIdle time.Duration
		wantEnv  string
	}{
		{"", 1000 * time.Millisecond, 3 * time.Second, ""},
		{"", 2 * time.Second, 6 * time.Second, ""},
		{"", -1, 3 * time.Second, ""},
		{"100ms", time.Second, time.Second, "OFFHEAP_PURGE_DELAY_MS=100"},
		{"500ms", time.Second, 1500 * time.Millisecond, "OFFHEAP_PURGE_DELAY_MS=500"},
		{"0", time.Second, time.Second, "OFFHEAP_PURGE_DELAY_MS=0"},
		{"0s", time.Second, time.Second, "OFFHEAP_PURGE_DELAY_MS=0"},
		{"never", time.Second, 3 * time.Second, "OFFHEAP_PURGE_DELAY_MS=-1"},
		{"-1", time.Second, 3 * time.Second, "OFFHEAP_PURGE_DELAY_MS=-1"},
		{"default", 2 * time.Second, 6 * time.Second, ""},
	}
	for _, c := range cases {
		args := []string{}
		if c.flag != "" {
			args = append(args, "-purge-delay", c.flag)
		}
		cfg, err := parse(t, c.lib, args...)
		if err != nil {
			t.Errorf("-purge-delay %q: %v", c.flag, err)
			continue
		}
		if cfg.Idle != c.wantIdle {
			t.Errorf("-purge-delay %q, library %v: idle %v, want %v", c.flag, c.lib, cfg.Idle, c.wantIdle)
		}
		env := strings.Join(childEnv(cfg), " ")
		if env != c.wantEnv {
			t.Errorf("-purge-delay %q: child env %q, want %q", c.flag, env, c.wantEnv)
		}
	}
	// An explicit -idle wins.
	cfg, err := parse(t, time.Second, "-purge-delay", "10ms", "-idle", "250ms")
	if err != nil || cfg.Idle != 250*time.Millisecond {
		t.Errorf("-idle 250ms: %v, %v", cfg.Idle, err)
	}
}

func TestSizesAndModes(t *testing.T) {
	cfg, err := parse(t, time.Second, "-peak", "1GiB", "-size", "64KiB", "-floor", "256MiB", "-keep", "spread",
		"-modes", "jemalloc, offheap ,native")
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Peak != 1<<30 || cfg.Size != 64<<10 || cfg.Floor != 256<<20 || cfg.Keep != "spread" {
		t.Errorf("sizes: %+v", cfg)
	}
	if want := []string{"offheap", "native", "jemalloc"}; !reflect.DeepEqual(cfg.Modes, want) {
		t.Errorf("modes %v, want table order %v", cfg.Modes, want)
	}
}

func TestZeroFloor(t *testing.T) {
	for _, f := range []string{"0", "0B", "0MiB", " 0.0 GiB"} {
		cfg, err := parse(t, time.Second, "-floor", f)
		if err != nil || cfg.Floor != 0 {
			t.Errorf("-floor %q: %d, %v", f, cfg.Floor, err)
		}
	}
	if _, err := parse(t, time.Second, "-floor", "B"); err == nil {
		t.Errorf("-floor B accepted")
	}
}

func TestBadCommandLines(t *testing.T) {
	cases := []struct {
		args []string
		want string
	}{
		{[]string{"-peak", "1MiB", "-size", "2MiB"}, "larger than -peak"},
		{[]string{"-peak", "1GiB", "-floor", "1GiB"}, "below -peak"},
		{[]string{"-peak", "1GiB", "-floor", "1KiB"}, "no whole buffer"},
		{[]string{"-peak", "1TiB", "-size", "16B"}, "limit"},
		{[]string{"-peak", "lots"}, "-peak"},
		{[]string{"-pattern", "sawtooth"}, "burst or steady"},
		{[]string{"-keep", "newest"}, "oldest or spread"},
		{[]string{"-bursts", "0"}, "-bursts"},
		{[]string{"-idle", "-1s"}, "negative"},
		{[]string{"-duration", "0s"}, "-duration"},
		{[]string{"-duration", "1s", "-warm", "2s"}, "shorter"},
		{[]string{"-churn", "0"}, "-churn"},
		{[]string{"-churn", "101"}, "-churn"},
		{[]string{"-runs", "0"}, "-runs"},
		{[]string{"-sample", "1ms"}, "-sample"},
		{[]string{"-purge-delay", "100"}, "give a unit"},
		{[]string{"-purge-delay", "-5ms"}, "negative"},
		{[]string{"-purge-delay", "25h"}, "24h"},
		{[]string{"-purge-delay", "soon"}, "not a duration"},
		{[]string{"-modes", "tcmalloc"}, "unknown mode"},
		{[]string{"-modes", "offheap,offheap"}, "twice"},
		{[]string{"-modes", "offheap,"}, "empty mode"},
		{[]string{"extra"}, "unexpected argument"},
		{[]string{"-nosuchflag"}, "not defined"},
	}
	for _, c := range cases {
		_, err := parse(t, time.Second, c.args...)
		var ue *harness.UsageError
		if !errors.As(err, &ue) {
			t.Errorf("%v: error %v, want a usage error", c.args, err)
			continue
		}
		if !strings.Contains(err.Error(), c.want) {
			t.Errorf("%v: %q does not mention %q", c.args, err, c.want)
		}
	}
}

func TestHelp(t *testing.T) {
	var out bytes.Buffer
	_, err := parseConfig([]string{"-h"}, &out, time.Second)
	if !errors.Is(err, flag.ErrHelp) {
		t.Fatalf("-h: %v", err)
	}
	for _, want := range []string{"usage: burst", "-peak", "-purge-delay", "jemalloc-bg", "time-to-release"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("help lacks %q", want)
		}
	}
	if code := run([]string{"-bursts", "x"}, &out, &out); code != 2 {
		t.Errorf("bad flag: exit %d, want 2", code)
	}
}

// The parent's child command line is what the Go child parses back, and the
// C harness gets the same flags without -child.
func TestChildArgsRoundTrip(t *testing.T) {
	cfg, err := parse(t, time.Second, "-pattern", "steady", "-peak", "64MiB", "-size", "4KiB", "-floor", "8MiB",
		"-keep", "spread", "-bursts", "3", "-pre", "150ms", "-idle", "700ms", "-duration", "2s", "-warm", "500ms",
		"-churn", "12.5", "-gap", "30ms")
	if err != nil {
		t.Fatal(err)
	}
	args := childArgs(cfg, "offheap-pool")
	if args[0] != "-child" {
		t.Fatalf("Go mode args %v do not start with -child", args)
	}
	c, err := parseChildArgs(args[1:])
	if err != nil {
		t.Fatal(err)
	}
	want := childConfig{Mode: "offheap-pool", Pattern: "steady", Keep: "spread", Peak: 64 << 20, Size: 4 << 10, Floor: 8 << 20,
		Bursts: 3, Pre: 150 * time.Millisecond, Idle: 700 * time.Millisecond, Duration: 2 * time.Second,
		Warm: 500 * time.Millisecond, Gap: 30 * time.Millisecond, Churn: 12.5}
	if c != want {
		t.Errorf("round trip:\n got %+v\nwant %+v", c, want)
	}
	cargs := childArgs(cfg, "jemalloc-bg")
	if cargs[0] != "-mode" || cargs[1] != "jemalloc-bg" {
		t.Errorf("C harness args %v", cargs)
	}
	if _, err := parseChildArgs(cargs); err == nil {
		t.Errorf("the Go child accepted the C mode jemalloc-bg")
	}
	if _, err := parseChildArgs([]string{"-mode", "offheap", "-peak", "10", "-size", "20"}); err == nil {
		t.Errorf("the Go child accepted -size > -peak")
	}
}
