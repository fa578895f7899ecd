package decommit_test

// migration_test.go runs code written for github.com/CAFxX/decommit against
// this package: the import path changes, nothing else.

import (
	"sync"
	"testing"

	"github.com/offheap/offheap/go/decommit"
)

// The signature CAFxX/decommit callers compile against.
var _ func([]byte) int = decommit.Slice

// TestCAFxXStyle is the pattern CAFxX/decommit was written for: a pool of big
// buffers whose pages go back to the OS while they sit in the pool, with the
// count used for accounting.
func TestCAFxXStyle(t *testing.T) {
	const size = 1 << 20
	var released int
	pool := sync.Pool{New: func() any { b := make([]byte, size); return &b }}
	for i := 0; i < 4; i++ {
		bp := pool.Get().(*[]byte)
		(*bp)[0], (*bp)[size-1] = 1, 1
		n := decommit.Slice(*bp)
		if n < 0 || n > size || n%decommit.PageSize() != 0 {
			t.Fatalf("Slice returned %d: not a whole number of pages within the %d-byte buffer", n, size)
		}
		released += n
		pool.Put(bp)
	}
	if released == 0 && decommitSupported() {
		t.Fatal("no bytes decommitted from four 1 MiB buffers")
	}
}

// decommitSupported mirrors works_test.go for the external test package.
func decommitSupported() bool {
	b := make([]byte, 4*decommit.PageSize())
	return decommit.Slice(b) > 0
}
