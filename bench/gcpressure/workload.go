// workload.go is the buffers gcpressure holds and churns, the same in every
// mode (same seed), each written and checked with a pattern of its id.
package main

import (
	"fmt"
	"math"
	"math/rand/v2"
	"sync/atomic"

	"github.com/offheap/offheap/bench/internal/stamp"
)

// workload is the buffers and the random choices; identical in every mode.
type workload struct {
	cfg    config
	a      allocator
	rng    *rand.Rand
	bufs   [][]byte
	ids    []uint64 // what each buffer was filled with
	nextID uint64
	live   int64

	phase atomic.Value // string
	round atomic.Int64
}

func (w *workload) newBuf() ([]byte, uint64) {
	n := w.cfg.Size.Draw(w.rng)
	b := w.a.Alloc(n)
	if len(b) != n {
		panic(fmt.Sprintf("allocator returned len %d for %d bytes", len(b), n))
	}
	w.nextID++
	stamp.Fill(b, w.nextID)
	return b, w.nextID
}

// fill allocates buffers until they hold at least -live bytes.
func (w *workload) fill() {
	w.bufs = make([][]byte, 0, int(float64(w.cfg.Live)/w.cfg.Size.Mean()*1.05)+16)
	w.ids = make([]uint64, 0, cap(w.bufs))
	for w.live < w.cfg.Live {
		b, id := w.newBuf()
		w.bufs = append(w.bufs, b)
		w.ids = append(w.ids, id)
		w.live += int64(len(b))
	}
}

// churnRound replaces -churn percent of the buffers, chosen at random.
func (w *workload) churnRound() (int, error) {
	k := max(1, int(math.Round(float64(len(w.bufs))*w.cfg.Churn/100)))
	for range k {
		i := w.rng.IntN(len(w.bufs))
		if err := stamp.Check(w.bufs[i], w.ids[i]); err != nil {
			return 0, fmt.Errorf("buffer %d: %v", w.ids[i], err)
		}
		w.live -= int64(len(w.bufs[i]))
		w.a.Free(w.bufs[i])
		w.bufs[i] = nil
		w.bufs[i], w.ids[i] = w.newBuf()
		w.live += int64(len(w.bufs[i]))
	}
	return k, nil
}
