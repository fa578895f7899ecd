//go:build ignore

// Benchmarks of the two peers the Go module proxy used to write this file
// refused to serve (403 "This module version is not available"):
//   - github.com/couchbase/go-slab, pinned to 1f5f7f2 (2015-06-29, Apache-2.0;
//     later revisions are under the Business Source License: never upgrade);
//   - github.com/CAFxX/decommit.
// To enable, from bench/:
//   go get github.com/couchbase/go-slab@1f5f7f2 github.com/CAFxX/decommit@latest
// then delete the //go:build line above. (The constraint is "ignore" because
// `go mod tidy` considers every other build tag and would fail to fetch them.)
// The rows land in the existing families: BenchmarkSlab/impl=go-slab (one
// goroutine, unsynchronised, as the library is), BenchmarkSlab/impl=go-slab-mutex
// (a sync.Mutex around each call, 1 and 2 goroutines) and
// BenchmarkDecommit/impl=cafxx.

package micro

import (
	"sync"
	"testing"

	cafxx "github.com/CAFxX/decommit"
	slab "github.com/couchbase/go-slab"
)

// newGoSlab: chunk classes 64 B .. 1 MiB doubling, so every benchmarked size
// is exactly one class; slab memory comes from make([]byte) (go-slab's default).
func newGoSlab() *slab.Arena { return slab.NewArena(64, 1<<20, 2, nil) }

var (
	goSlab       = newGoSlab()
	goSlabLocked = newGoSlab()
	goSlabMu     sync.Mutex
)

func init() {
	slabImpls = append(slabImpls,
		impl{name: "go-slab", gs: one, setup: func(_ testing.TB, size int) func(int) workerFunc {
			a := goSlab
			return func(int) workerFunc {
				return func(n int) {
					for range n {
						buf := a.Alloc(size)
						touch(buf)
						if !a.DecRef(buf) {
							panic("go-slab DecRef did not free a chunk with one reference")
						}
					}
				}
			}
		}},
		impl{name: "go-slab-mutex", setup: func(_ testing.TB, size int) func(int) workerFunc {
			a := goSlabLocked
			return func(int) workerFunc {
				return func(n int) {
					for range n {
						goSlabMu.Lock()
						buf := a.Alloc(size)
						goSlabMu.Unlock()
						touch(buf)
						goSlabMu.Lock()
						freed := a.DecRef(buf)
						goSlabMu.Unlock()
						if !freed {
							panic("go-slab DecRef did not free a chunk with one reference")
						}
					}
				}
			}
		}},
	)
	decommitImpls = append(decommitImpls, impl{name: "cafxx", gs: one,
		setup: decommitBench(func(buf []byte) { cafxx.Slice(buf) })})
}
