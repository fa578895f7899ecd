// progress.go tells whoever runs a benchmark where it is: which mode of how
// many, how long it has run, what it is doing. On a terminal it redraws one
// status line; otherwise (make piped to a file or a CI log) it prints a line
// when a mode starts, at most one every few seconds while it runs, and one
// when it ends, so that a minute-long run never looks hung.
package harness

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"sync"
	"time"
)

// logEvery is the interval between progress lines when not on a terminal.
const logEvery = 5 * time.Second

// Progress writes progress lines; safe for concurrent use.
type Progress struct {
	mu      sync.Mutex
	w       io.Writer
	tty     bool
	prefix  string // the command's name
	label   string
	started time.Time
	last    time.Time
	shown   bool
}

// NewProgress writes to w, redrawing one line when w is a terminal.
func NewProgress(w io.Writer, prefix string) *Progress {
	f, _ := w.(*os.File)
	return &Progress{w: w, tty: f != nil && IsTerminal(f), prefix: prefix}
}

// Start begins mode i of n (1-based).
func (p *Progress) Start(i, n int, mode string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.label = fmt.Sprintf("%s: [mode %d/%d] %s", p.prefix, i, n, mode)
	p.started = time.Now()
	p.last = time.Now()
	if p.tty {
		fmt.Fprintf(p.w, "\r\033[K%s: starting", p.label)
		p.shown = true
		return
	}
	fmt.Fprintf(p.w, "%s: starting\n", p.label)
}

// Update shows what the current mode is doing (rate-limited).
func (p *Progress) Update(status string) {
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
	line := fmt.Sprintf("%s: %s  %.1fs elapsed", p.label, status, time.Since(p.started).Seconds())
	if p.tty {
		fmt.Fprintf(p.w, "\r\033[K%s", line)
		p.shown = true
		return
	}
	fmt.Fprintln(p.w, line)
}

// Decode reads a line of a child's output into v. A line that is not one
// of the child's messages (not JSON, or known says no) is shown above the
// progress line as the child's (mode: line), and Decode returns false.
func (p *Progress) Decode(mode string, line []byte, v any, known func() bool) bool {
	if json.Unmarshal(line, v) != nil || !known() {
		p.Println(mode + ": " + string(line))
		return false
	}
	return true
}

// Println prints a line above the progress line (a child's stray output).
func (p *Progress) Println(s string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.clearLocked()
	p.last = time.Time{}
	fmt.Fprintln(p.w, s)
}

// Done ends the current mode with a line of its own: err if it failed, else
// summary (may be empty).
func (p *Progress) Done(err error, summary string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.clearLocked()
	elapsed := time.Since(p.started).Seconds()
	switch {
	case err != nil:
		fmt.Fprintf(p.w, "%s: FAILED after %.1fs: %v\n", p.label, elapsed, err)
	case summary != "":
		fmt.Fprintf(p.w, "%s: done in %.1fs, %s\n", p.label, elapsed, summary)
	default:
		fmt.Fprintf(p.w, "%s: done in %.1fs\n", p.label, elapsed)
	}
}

func (p *Progress) clearLocked() {
	if p.shown {
		fmt.Fprint(p.w, "\r\033[K")
		p.shown = false
	}
}
