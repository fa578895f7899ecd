package main

import (
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/offheap/offheap/bench/internal/allocs"
	"github.com/offheap/offheap/bench/internal/stamp"
)

// The workload must do the same work in every mode: the same sizes in the
// same order, and the same buffers replaced.
func TestWorkloadSameInEveryAllocator(t *testing.T) {
	cfg, err := parseConfig([]string{"-live", "4MiB", "-size", "64B-64KiB", "-churn", "20"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	trace := func(a allocator) (sizes []int, ids []uint64, live int64) {
		w := &workload{cfg: cfg, a: a, rng: rand.New(rand.NewPCG(cfg.Seed, 0))}
		w.fill()
		if w.live < cfg.Live || w.live > cfg.Live+cfg.Size.Hi {
			t.Fatalf("filled %d bytes for -live %d", w.live, cfg.Live)
		}
		for range 3 {
			k, err := w.churnRound()
			if err != nil {
				t.Fatal(err)
			}
			if want := int(float64(len(w.bufs))*0.2 + 0.5); k != want {
				t.Fatalf("replaced %d of %d buffers per round, want %d", k, len(w.bufs), want)
			}
		}
		for i, b := range w.bufs {
			sizes = append(sizes, len(b))
			if err := stamp.Check(b, w.ids[i]); err != nil {
				t.Fatal(err)
			}
		}
		var sum int64
		for _, n := range sizes {
			sum += int64(n)
		}
		if sum != w.live {
			t.Fatalf("live counter %d, buffers hold %d", w.live, sum)
		}
		return sizes, w.ids, w.live
	}
	s1, i1, l1 := trace(allocs.Native{})
	s2, i2, l2 := trace(newSyncPoolAlloc(cfg.Size))
	if !slices.Equal(s1, s2) || !slices.Equal(i1, i2) || l1 != l2 {
		t.Errorf("native and sync-pool did different work: %d vs %d buffers, live %d vs %d", len(s1), len(s2), l1, l2)
	}
}

func TestSyncPoolAllocClasses(t *testing.T) {
	a := newSyncPoolAlloc(sizeSpec{64, 64 << 10})
	b := a.Alloc(100)
	if len(b) != 100 || cap(b) != 128 {
		t.Fatalf("Alloc(100): len %d cap %d, want 100, 128", len(b), cap(b))
	}
	a.Free(b)
	// sync.Pool may drop items at any time, so only check what comes back.
	c := a.Alloc(120)
	if len(c) != 120 || cap(c) != 128 {
		t.Fatalf("Alloc(120): len %d cap %d, want 120, 128", len(c), cap(c))
	}
	d := a.Alloc(64 << 10)
	if len(d) != 64<<10 || cap(d) != 64<<10 {
		t.Fatalf("Alloc(64KiB): len %d cap %d", len(d), cap(d))
	}
}
