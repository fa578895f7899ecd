package offheap_test

// example_test.go - the package's runnable examples (go doc shows them),
// one per allocator and per common task.

import (
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/offheap/offheap/go/offheap"
)

func ExampleAlloc() {
	b := offheap.Alloc(1000) // off the Go heap; contents unspecified
	copy(b, "hello")
	fmt.Println(len(b), cap(b), string(b[:5]))
	offheap.Free(b) // b dangles from here on
	// Output: 1000 1000 hello
}

func ExampleCalloc() {
	b := offheap.Calloc(16)
	fmt.Println(b)
	offheap.Free(b)
	// Output: [0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0]
}

func ExampleTryAlloc() {
	_, err := offheap.TryAlloc(1 << 50)
	fmt.Println(errors.Is(err, offheap.ErrOutOfMemory))
	// Output: true
}

func ExampleFree_misuse() {
	defer func() {
		var me *offheap.MisuseError
		if errors.As(recover().(error), &me) {
			fmt.Println("caught:", me.Op)
		}
	}()
	offheap.Free(make([]byte, 64)) // a Go-heap slice: a loud panic, not corruption
	// Output: caught: Free
}

func ExampleMakeSlice() {
	type sample struct {
		T     int64
		Value float64
	}
	s := offheap.MakeSlice[sample](3) // zeroed; sample holds no Go pointers
	for i := range s {
		s[i] = sample{T: int64(i), Value: float64(i) / 2}
	}
	fmt.Println(s)
	offheap.FreeSlice(s)
	// Output: [{0 0} {1 0.5} {2 1}]
}

func ExampleSlab() {
	slab, err := offheap.NewSlab(offheap.SlabConfig{MinChunk: 48, SlabSize: 1 << 20, Growth: 2})
	if err != nil {
		panic(err)
	}
	defer slab.Close()

	buf := slab.Alloc(64) // reference count 1
	slab.AddRef(buf)      // 2: handed to a second owner
	fmt.Println(slab.DecRef(buf))
	fmt.Println(slab.DecRef(buf)) // the last reference frees it
	fmt.Println(slab.Stats().InUseBytes)
	// Output:
	// false
	// true
	// 0
}

func ExamplePool() {
	pool, err := offheap.NewPool(512, offheap.PoolConfig{MaxObjects: 2})
	if err != nil {
		panic(err)
	}
	defer pool.Close()
	a, b := pool.Get(), pool.Get()
	_, err = pool.TryGet() // a third object is over MaxObjects
	fmt.Println(len(a), errors.Is(err, offheap.ErrOutOfMemory))
	pool.Put(a)
	pool.Put(b)
	// Output: 512 true
}

func ExampleArena() {
	arena, err := offheap.NewArena(64 << 10)
	if err != nil {
		panic(err)
	}
	defer arena.Close()
	for request := 0; request < 3; request++ {
		header := arena.Alloc(128)
		body := arena.Alloc(4096)
		n := copy(header, "request")
		_ = body
		arena.Reset() // everything of this request at once
		fmt.Println(request, n)
	}
	// Output:
	// 0 7
	// 1 7
	// 2 7
}

func ExampleMap() {
	m, err := offheap.Map(10000) // rounded up to whole pages, zeroed
	if err != nil {
		panic(err)
	}
	fmt.Println(len(m)%os.Getpagesize() == 0, len(m) >= 10000, m[0])
	if err := offheap.Unmap(m); err != nil {
		panic(err)
	}
	// Output: true true 0
}

func ExampleBufferPool() {
	pool := offheap.NewBufferPool(16 << 10)
	defer pool.Close()
	buf := pool.Get() // len and cap 16 KiB; no Go allocation
	n := copy(buf, "payload")
	fmt.Println(len(buf), string(buf[:n]))
	pool.Put(buf) // idle buffers are decommitted after the purge delay
	// Output: 16384 payload
}

func ExampleBufferPool_SyncPool() {
	pool := offheap.NewBufferPool(4096)
	defer pool.Close()
	// Code written against sync.Pool's method set keeps working.
	var p interface {
		Get() any
		Put(any)
	} = pool.SyncPool()
	buf := p.Get().([]byte)
	fmt.Println(len(buf))
	p.Put(buf)
	// Output: 4096
}

func ExampleReadStats() {
	b := offheap.Alloc(4 << 20)
	st := offheap.ReadStats()
	fmt.Println(st.InUseBytes >= 4<<20, st.LargeInUse >= 1)
	offheap.Free(b)
	// Output: true true
}

func ExampleScavenge() {
	b := offheap.Alloc(64 << 10)
	offheap.Free(b)
	offheap.Scavenge() // free memory goes back to the OS now
	fmt.Println(offheap.ReadStats().CommittedBytes <= offheap.ReadStats().MappedBytes)
	// Output: true
}

func ExampleSlab_Stats() {
	slab, _ := offheap.NewSlab(offheap.SlabConfig{MinChunk: 64, SlabSize: 64 << 10, Growth: 2})
	defer slab.Close()
	var bufs [][]byte
	for i := 0; i < 3; i++ {
		bufs = append(bufs, slab.Alloc(100)) // the 128-byte class
	}
	st := slab.Stats()
	fmt.Println(st.InUseBytes, st.Classes[1].ChunkSize, st.Classes[1].ChunksInUse)
	for _, b := range bufs {
		slab.DecRef(b)
	}
	// Output: 384 128 3
}

func ExampleSyncPoolAdapter() {
	pool := offheap.NewBufferPool(1024)
	defer pool.Close()
	adapter := pool.SyncPool()
	buf := adapter.Get().([]byte)
	adapter.Put(&buf) // a *[]byte works too
	fmt.Println(len(buf))
	// Output: 1024
}

func ExampleMisuseError() {
	slab, _ := offheap.NewSlab(offheap.SlabConfig{})
	defer slab.Close()
	b := slab.Alloc(10)
	slab.DecRef(b)
	defer func() {
		err := recover().(*offheap.MisuseError)
		fmt.Println(err.Op, strings.Contains(err.Error(), "reference count below zero"))
	}()
	slab.DecRef(b) // one DecRef too many
	// Output: Slab.DecRef true
}

func ExampleSetPurgeDelay() {
	old := offheap.PurgeDelay()
	defer offheap.SetPurgeDelay(old)
	// Keep freed memory committed for 5 s before handing it back to the OS.
	if err := offheap.SetPurgeDelay(5 * time.Second); err != nil {
		panic(err)
	}
	fmt.Println(offheap.PurgeDelay())
	// Output: 5s
}
