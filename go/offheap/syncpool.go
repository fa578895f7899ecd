package offheap

// syncpool.go adapts a BufferPool to code written against sync.Pool, in both
// of the idioms such code comes in:
//
//	b := p.Get().([]byte) ... p.Put(b)           // SyncPool
//	bp := p.Get().(*[]byte) ... p.Put(bp)        // SyncPoolPtr (staticcheck SA6002)
//
// Both must cost no more Go allocations than sync.Pool itself. The cost is
// the box an interface needs for a slice header: sync.Pool with []byte values
// allocates one per Put (the caller's conversion to any) and none per Get.
// The adapters recycle boxes: a box that comes in with Put (the []byte's
// interface box, or the *[]byte itself) is kept in a sync.Pool of boxes and
// carries the next Get's buffer out. So SyncPool allocates only the caller's
// conversion in Put, like sync.Pool, and SyncPoolPtr nothing at all in steady
// state. The boxes pool holds pointers, which sync.Pool stores without
// allocating; boxes it drops at a GC are simply made anew.

import (
	"sync"
	"unsafe"

	"github.com/offheap/offheap/bindings"
)

// SyncPool returns an adapter with sync.Pool's method set over p, for code
// written as b := pool.Get().([]byte) ... pool.Put(b). Get returns a []byte
// (as any); Put takes a []byte or a *[]byte. It allocates no more than
// sync.Pool does with []byte values: nothing in Get, the caller's boxing of
// the slice in Put. Put takes over the interface value it is given: do not
// use it afterwards (the buffer in it dangles anyway).
func (p *BufferPool) SyncPool() *SyncPoolAdapter { return &SyncPoolAdapter{p: p} }

// SyncPoolPtr returns an adapter with sync.Pool's method set over p, for code
// written as bp := pool.Get().(*[]byte) ... pool.Put(bp), the idiom
// staticcheck's SA6002 recommends. Get returns a *[]byte (as any); Put takes a
// *[]byte or a []byte. Put takes over the *[]byte, as sync.Pool does: it is
// handed out again by a later Get. Get and Put make no Go allocation in
// steady state.
func (p *BufferPool) SyncPoolPtr() *SyncPoolAdapter { return &SyncPoolAdapter{p: p, ptr: true} }

// SyncPoolAppend returns an adapter with sync.Pool's method set over p, for
// code written for a pool whose New makes buffers to append into:
//
//	New: func() any { return make([]byte, 0, N) }
//	buffer := pool.Get().([]byte)
//	buffer = append(buffer, data...)
//	pool.Put(buffer[:0])
//
// Get returns a []byte of len 0 and cap Size(); Put takes it back at any
// length. An append past the capacity moves the buffer to the Go heap (append
// cannot grow off-heap memory) and the pool's buffer is lost: Put of such a
// buffer panics and says so. Allocations as SyncPool.
func (p *BufferPool) SyncPoolAppend() *SyncPoolAdapter {
	return &SyncPoolAdapter{p: p, empty: true}
}

// SyncPoolAdapter has the method set of sync.Pool (Get() any, Put(any)) over a
// BufferPool; see BufferPool.SyncPool and BufferPool.SyncPoolPtr.
type SyncPoolAdapter struct {
	p     *BufferPool
	ptr   bool      // Get returns *[]byte
	empty bool      // Get returns len 0 (SyncPoolAppend)
	boxes sync.Pool // of *[]byte, empty, for the next Get
}

// eface is the layout of an interface value (any).
type eface struct {
	typ  unsafe.Pointer
	data unsafe.Pointer
}

// byteSliceType is the type word of an any holding a []byte.
var byteSliceType = func() unsafe.Pointer {
	var x any = []byte(nil)
	return (*eface)(unsafe.Pointer(&x)).typ
}()

// Get returns a buffer of the pool: a []byte for SyncPool's and
// SyncPoolAppend's adapters (len 0 for the latter), a *[]byte for
// SyncPoolPtr's.
func (a *SyncPoolAdapter) Get() any {
	b := a.p.Get()
	if a.empty {
		b = b[:0]
	}
	box, _ := a.boxes.Get().(*[]byte)
	if a.ptr {
		if box == nil {
			box = new([]byte)
		}
		*box = b
		return box
	}
	if box == nil {
		return b
	}
	*box = b
	var x any
	e := (*eface)(unsafe.Pointer(&x))
	e.typ, e.data = byteSliceType, unsafe.Pointer(box)
	return x
}

// Put returns a buffer ([]byte or *[]byte) to the pool. Anything else, and
// nil, panics with a *MisuseError: unlike sync.Pool, the pool holds only its
// own buffers.
func (a *SyncPoolAdapter) Put(x any) {
	var box *[]byte
	switch b := x.(type) {
	case []byte:
		a.checkMoved(b)
		a.p.Put(b)
		// The interface's own box holds the slice header; a []byte that is
		// not nil is always boxed on the heap by the caller's conversion.
		box = (*[]byte)((*eface)(unsafe.Pointer(&x)).data)
	case *[]byte:
		if b == nil {
			panic(misusef("SyncPoolAdapter.Put", 0, "SyncPoolAdapter.Put of a nil *[]byte"))
		}
		a.checkMoved(*b)
		a.p.Put(*b)
		box = b
	default:
		panic(misusef("SyncPoolAdapter.Put", 0, "SyncPoolAdapter.Put of a %T: only []byte and *[]byte buffers of the pool are accepted", x))
	}
	// The box keeps the dangling header until a Get overwrites it: clearing
	// it would write to the caller's variable behind its back now, rather
	// than when the box is handed out again, as sync.Pool would.
	a.boxes.Put(box)
}

// checkMoved panics, naming what happened, when b is larger than the pool's
// buffers and not offheap's memory: an append outgrew a buffer of the pool
// and moved it to the Go heap.
func (a *SyncPoolAdapter) checkMoved(b []byte) {
	if cap(b) <= a.p.size {
		return
	}
	addr := sliceAddr(b)
	if k := bindings.SpanKindOf(addr); k != bindings.SpanNone {
		return // offheap memory of another size: BufferPool.Put names it
	}
	a.p.check("SyncPoolAdapter.Put")
	panic(misusef("SyncPoolAdapter.Put", addr, "SyncPoolAdapter.Put of a []byte of capacity %d, not one of this pool's %d-byte buffers (%#x, len %d): "+
		"an append grew a buffer of the pool past its capacity and moved it to the Go heap, and the pool's buffer is lost; "+
		"use a pool of larger buffers, or stop appending at cap", cap(b), a.p.size, addr, len(b)))
}
