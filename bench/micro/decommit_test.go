package micro

import (
	"os"
	"testing"
	"unsafe"

	"github.com/offheap/offheap/go/decommit"
)

// BenchmarkDecommit: write one byte in every page of a buffer (faulting the
// pages back in after the previous decommit), then decommit the buffer. This
// is the full cost of a decommit: the madvise call plus the page faults that
// follow it. impl=none only writes the pages (no decommit), the floor to
// subtract. The buffer starts on a page boundary, so a 16 KiB buffer holds
// exactly 4 whole pages; 64 B and 1 KiB hold none (pure call overhead).
// One goroutine only.

var pageSize = os.Getpagesize()

// pageAlignedBuf returns size bytes of Go heap starting on a page boundary.
func pageAlignedBuf(size int) []byte {
	raw := make([]byte, size+pageSize)
	off := 0
	for i := range raw {
		if uintptrOf(raw[i:])%uintptr(pageSize) == 0 {
			off = i
			break
		}
	}
	return raw[off : off+size : off+size]
}

// touchPages writes one byte in every page of buf, and its last byte.
func touchPages(buf []byte) {
	for off := 0; off < len(buf); off += pageSize {
		buf[off] = 1
	}
	buf[len(buf)-1] = 1
}

func decommitBench(slice func([]byte)) func(testing.TB, int) func(int) workerFunc {
	return func(_ testing.TB, size int) func(int) workerFunc {
		return func(int) workerFunc {
			buf := pageAlignedBuf(size)
			return func(n int) {
				for range n {
					touchPages(buf)
					slice(buf)
				}
			}
		}
	}
}

func uintptrOf(b []byte) uintptr { return uintptr(unsafe.Pointer(unsafe.SliceData(b))) }

var one = []int{1}

// madvise (Linux) and cafxx (peers_test.go) are appended by init functions.
var decommitImpls = []impl{
	{name: "offheap", gs: one, setup: decommitBench(func(b []byte) { decommit.Slice(b) })},
	{name: "none", gs: one, setup: decommitBench(func([]byte) {})},
}

func BenchmarkDecommit(b *testing.B) { family(b, decommitImpls) }
