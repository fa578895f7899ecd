// Command example uses the offheap Go API: the process-wide allocator, a
// reference-counted slab, a buffer pool, raw pages and decommit.
//
// With the C core compiled in from source (a C compiler is all it needs):
//
//	go run ./examples/go
//
// Against an installed liboffheap (make install PREFIX=$HOME/.local):
//
//	export PKG_CONFIG_PATH=$HOME/.local/lib/pkgconfig
//	go build -tags offheap_shared -o example ./examples/go
//	LD_LIBRARY_PATH=$HOME/.local/lib ./example
//
// (`make test-examples` does the second from a temporary prefix.) It prints
// one line per step and exits with status 1 at the first step that fails.
package main

import (
	"fmt"
	"os"

	"github.com/offheap/offheap/go/decommit"
	"github.com/offheap/offheap/go/offheap"
)

func check(ok bool, step string) {
	if !ok {
		fmt.Fprintf(os.Stderr, "example: %s failed\n", step)
		os.Exit(1)
	}
	fmt.Printf("  %s: ok\n", step)
}

func main() {
	fmt.Println("offheap Go example")

	// The process-wide allocator: len == cap, outside the GC heap.
	buf := offheap.Alloc(16 << 10)
	n := copy(buf, "off-heap")
	check(len(buf) == 16<<10 && cap(buf) == len(buf) && string(buf[:n]) == "off-heap", "Alloc")
	offheap.Free(buf) // buf dangles from here on

	// Misuse is reported, never silently corrupts: freeing a Go-heap slice panics.
	check(panics(func() { offheap.Free(make([]byte, 64)) }), "Free of a Go-heap slice panics")

	// A slab instance with reference counts.
	s, err := offheap.NewSlab(offheap.SlabConfig{MinChunk: 48, SlabSize: 1 << 20, Growth: 2})
	check(err == nil, "NewSlab")
	b := s.Alloc(1000)
	s.AddRef(b)
	check(!s.DecRef(b), "DecRef (references remain)")
	check(s.DecRef(b), "DecRef (freed)")
	check(s.Close() == nil, "Slab.Close")

	// sync.Pool-style buffers whose idle memory goes back to the OS.
	pool := offheap.NewBufferPool(64 << 10)
	b = pool.Get()
	check(len(b) == 64<<10, "BufferPool.Get")
	pool.Put(b)
	check(pool.Close() == nil, "BufferPool.Close")

	// Raw pages, zeroed.
	pages, err := offheap.Map(1 << 20)
	check(err == nil && pages[0] == 0 && pages[len(pages)-1] == 0, "Map")
	check(offheap.Unmap(pages) == nil, "Unmap")

	// Give the pages of any slice back to the OS (Go-heap slices too).
	scratch := make([]byte, 4<<20)
	for i := range scratch {
		scratch[i] = 1
	}
	decommit.Slice(scratch)
	scratch[0] = 2 // still usable
	check(scratch[0] == 2, "decommit.Slice")

	st := offheap.ReadStats()
	check(st.Allocs >= st.Frees, "ReadStats")
	fmt.Println("example: all steps ok")
}

func panics(f func()) (did bool) {
	defer func() { did = recover() != nil }()
	f()
	return false
}
