package offheap_test

// example_parity_test.go shows, as tests, the API that lets code written for
// couchbase/go-slab, sync.Pool and Go's arena experiment move to offheap, and
// the tools (pprof, expvar) that see off-heap memory.

import (
	"bytes"
	"encoding/json"
	"expvar"
	"fmt"
	"net/http/httptest"
	"strings"
	"unsafe"

	"github.com/offheap/offheap/go/offheap"
)

// asBytes is the memory of s as a []byte, for Owns.
func asBytes(s []int32) []byte {
	return unsafe.Slice((*byte)(unsafe.Pointer(unsafe.SliceData(s))), 4*len(s))
}

func ExampleOwns() {
	b := offheap.Alloc(64)
	fmt.Println(offheap.Owns(b), offheap.Owns(b[8:]), offheap.Owns(make([]byte, 64)))
	offheap.Free(b)
	fmt.Println(offheap.Owns(b))
	// Output:
	// true false false
	// false
}

func ExampleSlab_Owns() {
	s, _ := offheap.NewSlab(offheap.SlabConfig{MinChunk: 48, SlabSize: 1 << 20, Growth: 2})
	defer s.Close()
	b := s.Alloc(100)
	fmt.Println(s.Owns(b), offheap.Owns(b))
	s.DecRef(b)
	// Output: true false
}

// Chains as go-slab has them: a buffer holds a reference on the next one, and
// freeing the head releases the chain.
func ExampleSlab_SetNext() {
	s, _ := offheap.NewSlab(offheap.SlabConfig{MinChunk: 48, SlabSize: 1 << 20, Growth: 2})
	defer s.Close()
	head, tail := s.Alloc(64), s.Alloc(64)
	copy(tail, "tail")
	s.SetNext(head, tail) // head holds a reference on tail
	s.DecRef(tail)        // drop ours: the chain keeps tail alive
	fmt.Println(s.RefCount(tail))
	s.DecRef(head) // frees head, then tail
	fmt.Println(len(s.Leaks()))
	// Output:
	// 1
	// 0
}

func ExampleSlab_GetNext() {
	s, _ := offheap.NewSlab(offheap.SlabConfig{})
	defer s.Close()
	a, b := s.Alloc(10), s.Alloc(10)
	copy(b, "second")
	s.SetNext(a, b)
	s.DecRef(b)
	next := s.GetNext(a) // we own a reference on next
	fmt.Println(string(next[:6]), s.GetNext(next) == nil)
	s.DecRef(next)
	s.DecRef(a)
	// Output: second true
}

// A Loc holds no Go pointer, so an index of Locs can live off the Go heap.
func ExampleSlab_BufToLoc() {
	s, _ := offheap.NewSlab(offheap.SlabConfig{})
	defer s.Close()
	index := offheap.MakeSlice[offheap.Loc](1) // the collector never scans it
	defer offheap.FreeSlice(index)
	b := s.Alloc(32)
	copy(b, "value")
	index[0] = s.BufToLoc(b)
	fmt.Println(string(s.LocToBuf(index[0])[:5]))
	s.DecRef(b)
	// Output: value
}

func ExampleSlab_LocToBuf() {
	s, _ := offheap.NewSlab(offheap.SlabConfig{})
	defer s.Close()
	b := s.Alloc(32)
	copy(b, "hello, world")
	l := s.BufToLoc(b)
	fmt.Printf("%s|%s\n", s.LocToBuf(l.Slice(0, 5)), s.LocToBuf(l.Slice(7, 5)))
	s.DecRef(b)
	defer func() { fmt.Println(recover().(*offheap.MisuseError).Op) }()
	s.LocToBuf(l) // stale: a misuse, never a wild pointer
	// Output:
	// hello|world
	// Slab.LocToBuf
}

func ExampleSlab_LocAddRef() {
	s, _ := offheap.NewSlab(offheap.SlabConfig{})
	defer s.Close()
	b := s.Alloc(32)
	l := s.BufToLoc(b)
	s.LocAddRef(l)
	fmt.Println(s.RefCount(b))
	s.LocDecRef(l)
	s.LocDecRef(l) // the last reference: b is freed
	fmt.Println(s.Owns(b))
	// Output:
	// 2
	// false
}

func ExampleNilLoc() {
	l := offheap.NilLoc()
	var zero offheap.Loc
	fmt.Println(l.IsNil(), zero.IsNil(), l == zero)
	// Output: true true true
}

// Loc.Words and LocFromWords keep Locs in memory typed as []uint64.
func ExampleLocFromWords() {
	s, _ := offheap.NewSlab(offheap.SlabConfig{})
	defer s.Close()
	words := offheap.MakeSlice[uint64](2)
	defer offheap.FreeSlice(words)
	b := s.Alloc(8)
	copy(b, "8 bytes!")
	w := s.BufToLoc(b).Words()
	copy(words, w[:])
	l := offheap.LocFromWords([2]uint64{words[0], words[1]})
	fmt.Println(string(s.LocToBuf(l)))
	s.DecRef(b)
	// Output: 8 bytes!
}

func ExampleNew() {
	type point struct{ X, Y float64 }
	p := offheap.New[point]() // zeroed, off the Go heap
	p.X = 1.5
	fmt.Println(*p)
	offheap.Delete(p)
	// Output: {1.5 0}
}

func ExampleDelete() {
	n := offheap.New[int64]()
	*n = 42
	offheap.Delete(n) // n dangles from here on
	defer func() { fmt.Println(recover().(*offheap.MisuseError).Op) }()
	offheap.Delete(new(int64)) // a Go-heap value is refused
	// Output: Delete
}

func ExampleNewIn() {
	a, _ := offheap.NewArena(0)
	defer a.Close()
	type header struct{ ID, Len uint32 }
	h := offheap.NewIn[header](a)
	h.ID = 7
	fmt.Println(*h)
	a.Reset() // h dangles: everything from the arena ends at once
	// Output: {7 0}
}

func ExampleMakeSliceIn() {
	a, _ := offheap.NewArena(0)
	defer a.Close()
	s := offheap.MakeSliceIn[int32](a, 0, 4)
	s = append(s, 1, 2, 3) // within cap: still in the arena
	fmt.Println(s, len(s), cap(s), a.Owns(asBytes(s)))
	// Output: [1 2 3] 3 4 true
}

func ExampleBufferPool_SyncPoolPtr() {
	pool := offheap.NewBufferPool(4096)
	defer pool.Close()
	sp := pool.SyncPoolPtr() // for code written as p.Get().(*[]byte)
	bp := sp.Get().(*[]byte)
	n := copy(*bp, "request")
	fmt.Println(string((*bp)[:n]), len(*bp))
	sp.Put(bp) // no allocation on either side
	// Output: request 4096
}

func ExampleBufferPool_Owns() {
	pool := offheap.NewBufferPool(1024)
	defer pool.Close()
	b := pool.Get()
	fmt.Println(pool.Owns(b), len(pool.Leaks()))
	pool.Put(b)
	fmt.Println(pool.Owns(b), len(pool.Leaks()))
	// Output:
	// true 1
	// false 0
}

func ExamplePool_Owns() {
	pool, _ := offheap.NewPool(64, offheap.PoolConfig{})
	defer pool.Close()
	o := pool.Get()
	fmt.Println(pool.Owns(o), pool.Owns(make([]byte, 64)))
	pool.Put(o)
	// Output: true false
}

func ExampleArena_Stats() {
	a, _ := offheap.NewArena(0)
	defer a.Close()
	a.Alloc(100)
	a.Alloc(28)
	st := a.Stats()
	fmt.Println(st.Allocs, st.InUseBytes)
	a.Reset()
	st = a.Stats()
	fmt.Println(st.Allocs, st.InUseBytes, st.Resets, st.TotalAllocs)
	// Output:
	// 2 128
	// 0 0 1 2
}

func ExampleArena_Leaks() {
	defer offheap.SetProfileRate(offheap.ProfileRate())
	offheap.SetProfileRate(1) // sample every allocation
	a, _ := offheap.NewArena(0)
	defer a.Close()
	a.Alloc(100)
	for _, l := range a.Leaks() {
		fmt.Println(l.Size, strings.Contains(l.CallSite(), "ExampleArena_Leaks"))
	}
	// Output: 100 true
}

func ExampleAllocation_CallSite() {
	defer offheap.SetProfileRate(offheap.ProfileRate())
	offheap.SetProfileRate(1)
	b := offheap.Alloc(777)
	for _, l := range offheap.Leaks() {
		if l.Size >= 777 && l.Stack != nil && strings.Contains(l.CallSite(), "ExampleAllocation_CallSite") {
			fmt.Println("leak allocated in ExampleAllocation_CallSite")
		}
	}
	offheap.Free(b)
	// Output: leak allocated in ExampleAllocation_CallSite
}

func ExampleSetProfileRate() {
	defer offheap.SetProfileRate(offheap.ProfileRate())
	offheap.SetProfileRate(1)         // every allocation (tests, debugging)
	offheap.SetProfileRate(256 << 10) // one sample per 256 KiB on average
	offheap.SetProfileRate(0)         // off
	fmt.Println(offheap.ProfileRate(), offheap.DefaultProfileRate)
	// Output: 0 67108864
}

func ExampleWriteHeapProfile() {
	var buf bytes.Buffer
	if err := offheap.WriteHeapProfile(&buf); err != nil { // go tool pprof reads it
		fmt.Println(err)
	}
	fmt.Println(buf.Len() > 0, bytes.HasPrefix(buf.Bytes(), []byte{0x1f, 0x8b})) // gzip
	// Output: true true
}

func ExampleHeapProfileHandler() {
	// In a server: http.Handle("/debug/offheap/heap", offheap.HeapProfileHandler())
	// and then: go tool pprof http://host:port/debug/offheap/heap
	rec := httptest.NewRecorder()
	offheap.HeapProfileHandler().ServeHTTP(rec, httptest.NewRequest("GET", "/debug/offheap/heap", nil))
	fmt.Println(rec.Code, rec.Header().Get("Content-Type"))
	// Output: 200 application/octet-stream
}

func ExamplePublishExpvar() {
	offheap.PublishExpvar("offheap") // served at /debug/vars with the expvar handler
	var st offheap.Stats
	err := json.Unmarshal([]byte(expvar.Get("offheap").String()), &st)
	fmt.Println(err == nil)
	// Output: true
}
