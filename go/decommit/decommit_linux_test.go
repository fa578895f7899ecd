package decommit

import (
	"bytes"
	"os"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"testing"
)

// checkDecommitted checks that pages really were dropped: on Linux, private
// anonymous pages read as zero after MADV_DONTNEED.
func checkDecommitted(t *testing.T, got, old []byte) {
	t.Helper()
	if i := bytes.IndexFunc(got, func(r rune) bool { return r != 0 }); i >= 0 {
		t.Fatalf("byte %d of the whole pages still holds data (%#x, was %#x): not decommitted", i, got[i], old[i])
	}
}

// rss returns the resident set size of the process in bytes.
func rss(t *testing.T) int {
	t.Helper()
	b, err := os.ReadFile("/proc/self/statm")
	if err != nil {
		t.Fatal(err)
	}
	f := strings.Fields(string(b))
	if len(f) < 2 {
		t.Fatalf("unexpected /proc/self/statm: %q", b)
	}
	pages, err := strconv.Atoi(f[1])
	if err != nil {
		t.Fatal(err)
	}
	return pages * os.Getpagesize()
}

func touch(b []byte) {
	for i := 0; i < len(b); i += 512 {
		b[i] = byte(i>>9) | 1
	}
}

// TestRSSDropsGoHeap decommits a large, fully touched Go-heap slice and checks
// that the resident set shrinks by (nearly) its size.
func TestRSSDropsGoHeap(t *testing.T) {
	const size = 64 << 20
	buf := make([]byte, size)
	touch(buf)
	before := rss(t)
	Slice(buf)
	after := rss(t)
	if drop := before - after; drop < size*3/4 {
		t.Fatalf("RSS dropped by %d bytes (from %d to %d), want at least %d", drop, before, after, size*3/4)
	}
	// Still usable: touching commits it again.
	touch(buf)
	if again := rss(t); again < after+size*3/4 {
		t.Fatalf("RSS after touching the buffer again = %d, want at least %d", again, after+size*3/4)
	}
	runtime.KeepAlive(buf)
}

// TestRSSDropsMmap does the same for memory the Go runtime knows nothing about.
func TestRSSDropsMmap(t *testing.T) {
	const size = 32 << 20
	buf, err := syscall.Mmap(-1, 0, size, syscall.PROT_READ|syscall.PROT_WRITE, syscall.MAP_ANON|syscall.MAP_PRIVATE)
	if err != nil {
		t.Fatal(err)
	}
	defer syscall.Munmap(buf)
	touch(buf)
	before := rss(t)
	Slice(buf)
	after := rss(t)
	if drop := before - after; drop < size*3/4 {
		t.Fatalf("RSS dropped by %d bytes (from %d to %d), want at least %d", drop, before, after, size*3/4)
	}
	checkDecommitted(t, buf, nil)
}
