package micro

import (
	"fmt"
	"sync"
	"testing"
)

// TestBenchmarksSmoke runs every implementation of every family for a few
// operations at every size and goroutine count, so that `go test ./...`
// (make test-bench-module) catches a broken benchmark without benchmarking.
func TestBenchmarksSmoke(t *testing.T) {
	families := []struct {
		name  string
		impls []impl
	}{
		{"AllocFree", allocFreeImpls},
		{"Pool", poolImpls},
		{"Slab", slabImpls},
		{"Decommit", decommitImpls},
	}
	ops := 50
	if testing.Short() {
		ops = 5
	}
	for _, f := range families {
		for _, im := range f.impls {
			gs := im.gs
			if gs == nil {
				gs = goroutineCounts
			}
			for _, size := range sizes {
				for _, g := range gs {
					name := fmt.Sprintf("%s/impl=%s/size=%s/g=%d", f.name, im.name, sizeName(size), g)
					t.Run(name, func(t *testing.T) {
						newWorker := im.setup(t, size)
						var wg sync.WaitGroup
						for id := range g {
							w := newWorker(id)
							wg.Add(1)
							go func() {
								defer wg.Done()
								w(ops)
							}()
						}
						wg.Wait()
						clear(sinks[:g])
					})
				}
			}
		}
	}
}
