package micro

import (
	"sync"
	"testing"

	"github.com/offheap/offheap/go/offheap"
)

// BenchmarkBatch: Get (or Alloc) batchSize buffers, write the first and last byte of
// each, Put them all back; ns/op is per buffer. Unlike Pool's Get-then-Put,
// this drains and refills the per-P caches, so the batch transfers to the
// core are in the time.
const batchSize = 256

var batchSizes = []int{64, 16 << 10, 1 << 20}

var batchImpls = []impl{
	{name: "offheap.Alloc", sizes: batchSizes, setup: func(_ testing.TB, size int) func(int) workerFunc {
		return func(int) workerFunc {
			var held [batchSize][]byte
			return func(n int) {
				for n > 0 {
					k := min(n, batchSize)
					for i := range k {
						held[i] = offheap.Alloc(size)
						touch(held[i])
					}
					for i := range k {
						offheap.Free(held[i])
						held[i] = nil
					}
					n -= k
				}
			}
		}
	}},
	{name: "offheap", sizes: batchSizes, setup: func(_ testing.TB, size int) func(int) workerFunc {
		p := offheapBufferPool(size)
		return func(int) workerFunc {
			var held [batchSize][]byte
			return func(n int) {
				for n > 0 {
					k := min(n, batchSize)
					for i := range k {
						held[i] = p.Get()
						touch(held[i])
					}
					for i := range k {
						p.Put(held[i])
						held[i] = nil
					}
					n -= k
				}
			}
		}
	}},
	{name: "sync.Pool", sizes: batchSizes, setup: func(_ testing.TB, size int) func(int) workerFunc {
		p := &sync.Pool{New: func() any {
			buf := make([]byte, size)
			return &buf
		}}
		return func(int) workerFunc {
			var held [batchSize]*[]byte
			return func(n int) {
				for n > 0 {
					k := min(n, batchSize)
					for i := range k {
						held[i] = p.Get().(*[]byte)
						touch(*held[i])
					}
					for i := range k {
						p.Put(held[i])
						held[i] = nil
					}
					n -= k
				}
			}
		}
	}},
}

func BenchmarkBatch(b *testing.B) { family(b, batchImpls) }
