package main

// progress.go tells whoever runs the benchmark where it is: which mode of how
// many, how long it has run, what it is doing. On a terminal it redraws one
// status line; otherwise (make bench piped to a file or a CI log) it prints a
// line when a mode starts, one every few seconds while it runs, and one when
// it ends, so that a minute-long run never looks hung.

import (
	"fmt"
	"io"
	"sync"
	"time"
)

// logEvery is the interval between progress lines when not on a terminal.
const logEvery = 5 * time.Second

type progress struct {
	mu      sync.Mutex
	w       io.Writer
	tty     bool
	label   string
	started time.Time
	last    time.Time
	shown   bool
}

func newProgress(w io.Writer, tty bool) *progress { return &progress{w: w, tty: tty} }

func (p *progress) start(i, n int, mode string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.label = fmt.Sprintf("[mode %d/%d] %s", i, n, mode)
	p.started = time.Now()
	p.last = time.Now()
	if p.tty {
		fmt.Fprintf(p.w, "\r\033[K%s: starting", p.label)
		p.shown = true
		return
	}
	fmt.Fprintf(p.w, "%s: starting\n", p.label)
}

func (p *progress) update(cfg config, s sample) {
	p.mu.Lock()
	defer p.mu.Unlock()
	every := logEvery
	if p.tty {
		every = 100 * time.Millisecond
	}
	if time.Since(p.last) < every {
		return
	}
	p.last = time.Now()
	var stage string
	switch {
	case s.Phase == "fill":
		stage = "filling"
	case cfg.Duration > 0:
		stage = fmt.Sprintf("churn round %d", s.Round)
	default:
		stage = fmt.Sprintf("churn round %d/%d", s.Round, cfg.Rounds)
	}
	p99 := "-"
	if s.ReqP99 > 0 {
		p99 = fmtNs(s.ReqP99)
	}
	line := fmt.Sprintf("%s: %s  rss %s  req p99 %s  %.1fs elapsed",
		p.label, stage, humanBytes(float64(s.RSS)), p99, time.Since(p.started).Seconds())
	if p.tty {
		fmt.Fprintf(p.w, "\r\033[K%s", line)
		p.shown = true
		return
	}
	fmt.Fprintln(p.w, line)
}

// println prints a line above the progress line.
func (p *progress) println(s string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.clearLocked()
	p.last = time.Time{}
	fmt.Fprintln(p.w, s)
}

// done ends a mode's progress with a line of its own.
func (p *progress) done(r *modeRun) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.clearLocked()
	elapsed := time.Since(p.started).Seconds()
	switch {
	case r.err != nil:
		fmt.Fprintf(p.w, "%s: FAILED after %.1fs\n", p.label, elapsed)
	case r.result != nil:
		fmt.Fprintf(p.w, "%s: done in %.1fs, peak RSS %s\n", p.label, elapsed, humanBytes(float64(r.result.PeakRSSBytes)))
	default:
		fmt.Fprintf(p.w, "%s: done in %.1fs\n", p.label, elapsed)
	}
}

func (p *progress) clearLocked() {
	if p.shown {
		fmt.Fprint(p.w, "\r\033[K")
		p.shown = false
	}
}
