// A test added to fastcache's package (with fastcache_offheap.go) by `make
// test-clients`: after Reset, a full cache's memory goes back to the OS.
// With fastcache's own mmap free list it stays resident for good.

package fastcache

import (
	"fmt"
	"os"
	"testing"

	"github.com/offheap/offheap/go/offheap"
)

// residentBytes reads the resident set of the process (Linux).
func residentBytes(t *testing.T) int64 {
	t.Helper()
	b, err := os.ReadFile("/proc/self/statm")
	if err != nil {
		t.Skipf("no /proc/self/statm: %v", err)
	}
	var size, resident int64
	if _, err := fmt.Sscan(string(b), &size, &resident); err != nil {
		t.Fatalf("parse /proc/self/statm %q: %v", b, err)
	}
	return resident * int64(os.Getpagesize())
}

func TestOffheapResetGivesMemoryBack(t *testing.T) {
	const size = 256 << 20
	c := New(size)
	defer c.Reset()
	// Earlier tests' caches were Reset: their chunks may still be committed
	// (the purge delay), and a fill that reuses them would not grow the
	// resident set by what it holds.
	offheap.Scavenge()
	base := offheap.ReadStats()
	rss0 := residentBytes(t)
	v := make([]byte, 1000)
	for i := 0; i < size/len(v); i++ {
		v[0], v[1], v[2] = byte(i), byte(i>>8), byte(i>>16)
		c.Set([]byte(fmt.Sprintf("key-%d", i)), v)
	}
	full := offheap.ReadStats()
	inUse := int64(full.InUseBytes - base.InUseBytes)
	rssFull := residentBytes(t)
	if inUse < size/2 || rssFull-rss0 < size/2 {
		t.Fatalf("the cache did not fill: %d bytes in use on offheap, resident %d -> %d", inUse, rss0, rssFull)
	}
	c.Reset()
	offheap.Scavenge() // what the purge delay does a little later on its own
	after := offheap.ReadStats()
	rssAfter := residentBytes(t)
	t.Logf("cache %d MiB: offheap in use %d MiB, resident %d MiB full, %d MiB after Reset",
		size>>20, inUse>>20, rssFull>>20, rssAfter>>20)
	if after.InUseBytes > base.InUseBytes {
		t.Fatalf("Reset left %d bytes in use on offheap", after.InUseBytes-base.InUseBytes)
	}
	if gave := rssFull - rssAfter; gave < inUse*9/10 {
		t.Fatalf("Reset gave %d bytes back to the OS, want at least 90%% of the cache's %d", gave, inUse)
	}
}
