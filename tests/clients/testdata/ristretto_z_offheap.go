//go:build jemalloc

// Recipe: dgraph-io/ristretto's z package (Calloc, CallocNoRef, Free, Leaks,
// ReadMemStats, StatsPrint) on offheap instead of jemalloc. Upstream, the
// `jemalloc` build tag selects calloc_jemalloc.go, which links a static
// libjemalloc; this file replaces it under the same tag, so `go build
// -tags jemalloc` gets manually managed memory without jemalloc. z.Buffer,
// z.Allocator, z.Tree and badger's tables then live off the Go heap.
//
// `make test-clients` builds z with this file in place of calloc_jemalloc.go
// (go test -overlay -tags jemalloc over a temporary copy of the module) and
// runs z's own tests.

package z

import (
	"bytes"
	"fmt"
	"sync"
	"sync/atomic"
	"unsafe"

	"github.com/dustin/go-humanize"
	"github.com/offheap/offheap/go/offheap"
)

// Calloc returns n zeroed bytes off the Go heap; release them with Free. tag
// names the caller in Leaks.
func Calloc(n int, tag string) []byte {
	if n == 0 {
		return make([]byte, 0)
	}
	b := offheap.Calloc(n)[:n:n]
	tagsMu.Lock()
	tags[uintptr(unsafe.Pointer(&b[0]))] = dalloc{t: tag, sz: n}
	tagsMu.Unlock()
	atomic.AddInt64(&numBytes, int64(n))
	return b
}

// CallocNoRef is Calloc, as with jemalloc.
func CallocNoRef(n int, tag string) []byte { return Calloc(n, tag) }

// Free releases what Calloc returned (any slice of it that starts at its
// first byte); a slice of capacity zero is ignored, as upstream.
func Free(b []byte) {
	if sz := cap(b); sz != 0 {
		b = b[:sz]
		p := uintptr(unsafe.Pointer(&b[0]))
		offheap.Free(b)
		atomic.AddInt64(&numBytes, -int64(sz))
		tagsMu.Lock()
		delete(tags, p)
		tagsMu.Unlock()
	}
}

type dalloc struct {
	t  string
	sz int
}

var (
	tagsMu sync.Mutex
	tags   = map[uintptr]dalloc{}
)

// Leaks sums the live Calloc bytes by tag.
func Leaks() string {
	tagsMu.Lock()
	defer tagsMu.Unlock()
	if len(tags) == 0 {
		return "NO leaks found."
	}
	m := make(map[string]int)
	for _, da := range tags {
		m[da.t] += da.sz
	}
	var buf bytes.Buffer
	fmt.Fprintf(&buf, "Allocations:\n")
	for f, sz := range m {
		fmt.Fprintf(&buf, "%s at file: %s\n", humanize.IBytes(uint64(sz)), f)
	}
	return buf.String()
}

// ReadMemStats fills stats from offheap's figures: Allocated and Active are
// the bytes of live allocations, Resident the committed bytes, Retained the
// mapped bytes that were decommitted.
func ReadMemStats(stats *MemStats) {
	if stats == nil {
		return
	}
	s := offheap.ReadStats()
	stats.Allocated = s.InUseBytes
	stats.Active = s.InUseBytes
	stats.Resident = s.CommittedBytes
	stats.Retained = s.MappedBytes - min(s.MappedBytes, s.CommittedBytes)
}

// StatsPrint prints offheap's figures.
func StatsPrint() {
	fmt.Printf("%+v\n", offheap.ReadStats())
}
