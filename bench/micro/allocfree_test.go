package micro

import (
	"testing"

	"github.com/offheap/offheap/bench/cmalloc"
	"github.com/offheap/offheap/go/offheap"
)

// BenchmarkAllocFree: allocate a buffer, write its first and last byte, free
// it. make cannot free: the buffer escapes through a global (one slot per
// goroutine, overwritten by the next) and is left to the collector, whose
// cost lands in the same ns/op.
var allocFreeImpls = []impl{
	{name: "offheap", setup: func(_ testing.TB, size int) func(int) workerFunc {
		return func(int) workerFunc {
			return func(n int) {
				for range n {
					buf := offheap.Alloc(size)
					touch(buf)
					offheap.Free(buf)
				}
			}
		}
	}},
	{name: "make", setup: func(_ testing.TB, size int) func(int) workerFunc {
		return func(id int) workerFunc {
			sink := &sinks[id].b
			return func(n int) {
				for range n {
					buf := make([]byte, size)
					touch(buf)
					*sink = buf
				}
			}
		}
	}},
	{name: "cmalloc", setup: func(_ testing.TB, size int) func(int) workerFunc {
		return func(int) workerFunc {
			return func(n int) {
				for range n {
					buf := cmalloc.Malloc(size)
					touch(buf)
					cmalloc.Free(buf)
				}
			}
		}
	}},
}

func BenchmarkAllocFree(b *testing.B) { family(b, allocFreeImpls) }
