package micro

import (
	"testing"

	"github.com/dgraph-io/ristretto/v2/z"
	"github.com/offheap/offheap/go/offheap"
)

// BenchmarkArena: bump-allocate a buffer of the size and write its first and
// last byte; every arenaRound buffers the arena is reset, as a request or a
// batch would, and the reset is in the time. One arena per goroutine
// (ristretto's z.Allocator is not meant to be shared; offheap's Arena is,
// but a per-request arena is how both are used).
const arenaRound = 1024

var arenaSizes = []int{64, 1 << 10, 16 << 10, 1 << 20}

var arenaImpls = []impl{
	{name: "offheap", sizes: arenaSizes, setup: func(tb testing.TB, size int) func(int) workerFunc {
		return func(int) workerFunc {
			a, err := offheap.NewArena(0)
			if err != nil {
				tb.Fatal(err)
			}
			tb.Cleanup(func() { a.Close() })
			k := 0
			return func(n int) {
				for range n {
					touch(a.Alloc(size))
					if k++; k == arenaRound {
						a.Reset()
						k = 0
					}
				}
			}
		}
	}},
	{name: "z.Allocator", sizes: arenaSizes, setup: func(tb testing.TB, size int) func(int) workerFunc {
		return func(int) workerFunc {
			a := z.NewAllocator(1<<20, "bench")
			tb.Cleanup(a.Release)
			k := 0
			return func(n int) {
				for range n {
					touch(a.Allocate(size))
					if k++; k == arenaRound {
						a.Reset()
						k = 0
					}
				}
			}
		}
	}},
}

func BenchmarkArena(b *testing.B) { family(b, arenaImpls) }
