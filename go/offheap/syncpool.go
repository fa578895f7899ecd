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

// SyncPoolAdapter has the method set of sync.Pool (Get() any, Put(any)) over a
// BufferPool; see BufferPool.SyncPool and BufferPool.SyncPoolPtr.
type SyncPoolAdapter struct {
	p     *BufferPool
	ptr   bool      // Get returns *[]byte
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

// Get returns a buffer of the pool: a []byte for SyncPool's adapter, a
// *[]byte for SyncPoolPtr's.
func (a *SyncPoolAdapter) Get() any {
	b := a.p.Get()
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
		a.p.Put(b)
		// The interface's own box holds the slice header; a []byte that is
		// not nil is always boxed on the heap by the caller's conversion.
		box = (*[]byte)((*eface)(unsafe.Pointer(&x)).data)
	case *[]byte:
		if b == nil {
			panic(misusef("SyncPoolAdapter.Put", 0, "SyncPoolAdapter.Put of a nil *[]byte"))
		}
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
