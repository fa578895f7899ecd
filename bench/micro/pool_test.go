package micro

import (
	"sync"
	"testing"

	"github.com/bytedance/gopkg/lang/mcache"
	gobufferpool "github.com/libp2p/go-buffer-pool"
	"github.com/offheap/offheap/go/offheap"
	"github.com/valyala/bytebufferpool"
)

// BenchmarkPool: Get a buffer of the size, write its first and last byte, Put
// it back. The goroutines share one pool. offheap's pools are created once per
// size and kept for the whole run, as an application would (BufferPool has no
// Close); the Go pools are created afresh for every measurement.

var (
	poolsMu            sync.Mutex
	offheapBufferPools = map[int]*offheap.BufferPool{}
	offheapPools       = map[int]*offheap.Pool{}
)

func offheapBufferPool(size int) *offheap.BufferPool {
	poolsMu.Lock()
	defer poolsMu.Unlock()
	p := offheapBufferPools[size]
	if p == nil {
		p = offheap.NewBufferPool(size)
		offheapBufferPools[size] = p
	}
	return p
}

func offheapPool(tb testing.TB, size int) *offheap.Pool {
	poolsMu.Lock()
	defer poolsMu.Unlock()
	p := offheapPools[size]
	if p == nil {
		var err error
		if p, err = offheap.NewPool(size, offheap.PoolConfig{}); err != nil {
			tb.Fatalf("offheap.NewPool(%d): %v", size, err)
		}
		offheapPools[size] = p
	}
	return p
}

var poolImpls = []impl{
	{name: "offheap", setup: func(_ testing.TB, size int) func(int) workerFunc {
		p := offheapBufferPool(size)
		return func(int) workerFunc {
			return func(n int) {
				for range n {
					buf := p.Get()
					touch(buf[:size])
					p.Put(buf)
				}
			}
		}
	}},
	{name: "offheap-pool", setup: func(tb testing.TB, size int) func(int) workerFunc {
		p := offheapPool(tb, size)
		return func(int) workerFunc {
			return func(n int) {
				for range n {
					buf := p.Get()
					touch(buf[:size])
					p.Put(buf)
				}
			}
		}
	}},
	{name: "sync.Pool", setup: func(_ testing.TB, size int) func(int) workerFunc {
		// The usual allocation-free idiom: the pool holds *[]byte.
		p := &sync.Pool{New: func() any {
			buf := make([]byte, size)
			return &buf
		}}
		return func(int) workerFunc {
			return func(n int) {
				for range n {
					bp := p.Get().(*[]byte)
					touch(*bp)
					p.Put(bp)
				}
			}
		}
	}},
	{name: "bytebufferpool", setup: func(_ testing.TB, size int) func(int) workerFunc {
		p := new(bytebufferpool.Pool)
		return func(int) workerFunc {
			return func(n int) {
				for range n {
					bb := p.Get()
					if cap(bb.B) < size {
						bb.B = make([]byte, size)
					}
					bb.B = bb.B[:size]
					touch(bb.B)
					p.Put(bb)
				}
			}
		}
	}},
	{name: "mcache", setup: func(_ testing.TB, size int) func(int) workerFunc {
		// bytedance/gopkg's mcache: one sync.Pool per power-of-two size.
		return func(int) workerFunc {
			return func(n int) {
				for range n {
					buf := mcache.Malloc(size)
					touch(buf)
					mcache.Free(buf)
				}
			}
		}
	}},
	{name: "go-buffer-pool", setup: func(_ testing.TB, size int) func(int) workerFunc {
		p := new(gobufferpool.BufferPool)
		return func(int) workerFunc {
			return func(n int) {
				for range n {
					buf := p.Get(size)
					touch(buf)
					p.Put(buf)
				}
			}
		}
	}},
}

func BenchmarkPool(b *testing.B) { family(b, poolImpls) }
