package micro

// The Slab family's thread-safe baseline: a single-owner slab allocator with
// reference counts in the manner of couchbase/go-slab (power-of-two chunk
// classes carved from make([]byte) slabs, each chunk's location in a footer
// after its bytes, free lists of chunk indices) behind one sync.Mutex, which
// is how go-slab, not thread safe, is used from several goroutines.
// couchbase/go-slab itself is not served by the module proxy here
// (peers_test.go); bench/RESULTS.md quotes its figure from issue 12.

import (
	"encoding/binary"
	"math/bits"
	"sync"
	"testing"
)

const (
	mslabMinShift = 6  // 64 B
	mslabMaxShift = 20 // 1 MiB
	mslabBytes    = 1 << 20
	mslabFooter   = 8 // class, slab and chunk index after the chunk's bytes, inside cap
)

type mslabClass struct {
	size  int      // chunk bytes, footer excluded
	slabs [][]byte // each holds chunks of size+footer bytes
	refs  [][]int32
	free  []uint32 // slab<<16 | chunk
}

type mutexSlab struct {
	mu      sync.Mutex
	classes [mslabMaxShift - mslabMinShift + 1]mslabClass
}

func newMutexSlab() *mutexSlab {
	s := &mutexSlab{}
	for i := range s.classes {
		s.classes[i].size = 1 << (mslabMinShift + i)
	}
	return s
}

func (s *mutexSlab) Alloc(n int) []byte {
	shift := max(bits.Len(uint(n-1)), mslabMinShift)
	ci := shift - mslabMinShift
	s.mu.Lock()
	c := &s.classes[ci]
	if len(c.free) == 0 {
		stride := c.size + mslabFooter
		count := max(mslabBytes/stride, 1)
		si := len(c.slabs)
		c.slabs = append(c.slabs, make([]byte, stride*count))
		c.refs = append(c.refs, make([]int32, count))
		for k := count - 1; k >= 0; k-- {
			c.free = append(c.free, uint32(si)<<16|uint32(k))
		}
	}
	loc := c.free[len(c.free)-1]
	c.free = c.free[:len(c.free)-1]
	si, k := int(loc>>16), int(loc&0xffff)
	stride := c.size + mslabFooter
	chunk := c.slabs[si][k*stride : (k+1)*stride : (k+1)*stride]
	binary.LittleEndian.PutUint64(chunk[c.size:], uint64(ci)<<32|uint64(loc))
	c.refs[si][k] = 1
	s.mu.Unlock()
	return chunk[:n] // cap includes the footer, as in go-slab
}

// DecRef drops a reference and reports whether it freed the chunk.
func (s *mutexSlab) DecRef(b []byte) bool {
	v := binary.LittleEndian.Uint64(b[cap(b)-mslabFooter : cap(b)])
	ci, loc := int(v>>32), uint32(v)
	si, k := int(loc>>16), int(loc&0xffff)
	s.mu.Lock()
	c := &s.classes[ci]
	c.refs[si][k]--
	freed := c.refs[si][k] == 0
	if freed {
		c.free = append(c.free, loc)
	}
	s.mu.Unlock()
	return freed
}

var mutexSlabInst = newMutexSlab()

func init() {
	slabImpls = append(slabImpls, impl{name: "mutex-slab", setup: func(_ testing.TB, size int) func(int) workerFunc {
		s := mutexSlabInst
		return func(int) workerFunc {
			return func(n int) {
				for range n {
					buf := s.Alloc(size)
					touch(buf)
					if !s.DecRef(buf) {
						panic("mutex-slab DecRef did not free a chunk with one reference")
					}
				}
			}
		}
	}})
}
