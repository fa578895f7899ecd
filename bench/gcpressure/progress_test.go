package main

// progress_test.go checks the progress lines make bench prints when its
// output is not a terminal: mode k of N at the start, elapsed time while it
// runs, and a closing line per mode.

import (
	"bytes"
	"errors"
	"strings"
	"testing"
	"time"
)

func TestProgressLinesWithoutTerminal(t *testing.T) {
	var out bytes.Buffer
	p := newProgress(&out, false)
	cfg := config{Rounds: 300}
	p.start(2, 8, "offheap")
	p.update(cfg, sample{Phase: "churn", Round: 10, RSS: 1 << 30}) // too soon: nothing
	p.last = time.Now().Add(-logEvery)
	p.update(cfg, sample{Phase: "churn", Round: 42, RSS: 1 << 30, ReqP99: 1500})
	p.done(&modeRun{mode: "offheap", result: &modeResult{PeakRSSBytes: 1 << 30}})
	p.start(3, 8, "native")
	p.done(&modeRun{mode: "native", err: errors.New("boom")})
	got := out.String()
	for _, want := range []string{
		"[mode 2/8] offheap: starting\n",
		"[mode 2/8] offheap: churn round 42/300  rss 1.00 GiB",
		"s elapsed\n",
		"[mode 2/8] offheap: done in ",
		"peak RSS 1.00 GiB\n",
		"[mode 3/8] native: FAILED after ",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("progress output lacks %q:\n%s", want, got)
		}
	}
	if strings.Contains(got, "round 10/") || strings.Contains(got, "\r") {
		t.Errorf("progress output without a terminal has an early update or a carriage return:\n%s", got)
	}
}
