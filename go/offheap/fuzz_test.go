package offheap

// fuzz_test.go - a model-checked driver of the whole API, and FuzzOps over it.
//
// A worker performs operations chosen by a byte source (the fuzz input here, a
// PRNG in soak_test.go) on a fixture of instances - the process-wide allocator
// (Alloc, TryAlloc, Calloc, MakeSlice), a Slab with reference counts, an
// unbounded and a bounded Pool, a BufferPool, an Arena and Map - and keeps a
// simple model of what must be true: every live buffer with its kind, pattern
// seed, reference count and the bytes the statistics count for it.
//
//   - Every buffer is filled with a pattern of its own when it is handed out
//     and checked before it is released (and now and then in between), so
//     memory handed out twice, written by the allocator or lost to a decommit
//     outside the asked range is caught.
//   - Each release checks what the model predicts: DecRef frees exactly at
//     the last reference, a bounded Pool refuses exactly at its maximum.
//   - Misuse (foreign, interior, stale, cross-instance, closed-instance
//     releases) must panic with a *MisuseError naming it, and change nothing.
//   - With fault injection armed (bindings.FailOS), allocations may fail, but
//     only with an error (or panic) wrapping ErrOutOfMemory.
//   - Statistics (in-use bytes, large allocations) and the leak lists
//     (Slab.Leaks, Pool.Leaks, Leaks) must equal the model exactly.
//
// The fuzz input is a sequence of operations: one byte picks the operation,
// the following bytes its arguments (sizes, which buffer, which variant). An
// exhausted input reads as zeros and ends the run.
//
// The driver is spread by concern: this file holds the byte sources and the
// fuzz target; fuzz_model_test.go the patterns, the fixture, the model and
// its checks against the statistics and leak lists; fuzz_ops_test.go the
// operations; fuzz_misuse_test.go the misuse each must refuse;
// fuzz_knobs_test.go the process-wide knobs an exclusive worker turns; and
// fuzz_lifecycle_test.go the lifecycles of issue 13.

import (
	"math/rand/v2"
	"testing"
)

// ---- sources of operations ----------------------------------------------------------

type opSource interface {
	next() byte
	done() bool
}

// fuzzSource reads the fuzz input; past its end it reads zeros.
type fuzzSource struct {
	data []byte
	pos  int
}

func (s *fuzzSource) next() byte {
	if s.pos >= len(s.data) {
		s.pos++
		return 0
	}
	b := s.data[s.pos]
	s.pos++
	return b
}

func (s *fuzzSource) done() bool { return s.pos >= len(s.data) }

// randSource is an endless PRNG source (soak).
type randSource struct{ r *rand.Rand }

func newRandSource(seed uint64) *randSource {
	return &randSource{rand.New(rand.NewPCG(seed, seed*0x9E3779B97F4A7C15+1))}
}
func (s *randSource) next() byte { return byte(s.r.Uint32()) }
func (s *randSource) done() bool { return false }

func u16(s opSource) int { return int(s.next())<<8 | int(s.next()) }
func u24(s opSource) int { return u16(s)<<8 | int(s.next()) }

// ---- the fuzz target -------------------------------------------------------------------------

// fuzzSeeds are inputs that reach every operation: PRNG bytes of a few
// lengths, plus runs that stress one area each.
func fuzzSeeds() [][]byte {
	var seeds [][]byte
	for i, n := range []int{64, 300, 1000, 3000, 4000} {
		r := rand.New(rand.NewPCG(uint64(i)+1, 7))
		b := make([]byte, n)
		for j := range b {
			b[j] = byte(r.Uint32())
		}
		seeds = append(seeds, b)
	}
	return seeds
}

// maxFuzzInput bounds the operations of one input (so one run stays fast).
const maxFuzzInput = 6000

func FuzzOps(f *testing.F) {
	for _, s := range fuzzSeeds() {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		if len(data) > maxFuzzInput {
			data = data[:maxFuzzInput]
		}
		saved := saveKnobs()
		defer saved.restore()
		fx, err := newFixture()
		if err != nil {
			t.Fatal(err)
		}
		w, err := newWorker(fx, &fuzzSource{data: data}, 0, true, false)
		if err != nil {
			t.Fatal(err)
		}
		for !w.src.done() && w.err == nil {
			w.step()
		}
		if err := w.finish(); err != nil {
			t.Fatal(err)
		}
		if err := fx.close(); err != nil {
			t.Fatal(err)
		}
	})
}
