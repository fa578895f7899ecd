package offheap

// fuzz_misuse_test.go - the misuse the fuzz driver (fuzz_test.go) commits:
// foreign, interior, stale, cross-instance and closed-instance releases, each
// of which must panic with a *MisuseError naming it and change nothing.

import (
	"errors"
	"strings"
)

// ---- misuse ---------------------------------------------------------------------------

// catchPanic runs f and returns what it panicked with (nil if nothing).
func catchPanic(f func()) (r any) {
	defer func() { r = recover() }()
	f()
	return nil
}

// expectMisuse checks that f panics with a *MisuseError whose message names
// the operation and contains each of want (the address included, if given).
func (w *worker) expectMisuse(what string, f func(), want ...string) {
	w.misuses++
	r := catchPanic(f)
	if r == nil {
		w.failf("MISUSE NOT CAUGHT: %s did not panic", what)
		return
	}
	var me *MisuseError
	if e, ok := r.(error); !ok || !errors.As(e, &me) {
		w.failf("%s panicked with %T (%v), not a *MisuseError", what, r, r)
		return
	}
	msg := me.Error()
	if !strings.HasPrefix(msg, "offheap: ") {
		w.failf("%s: message %q does not start with \"offheap: \"", what, msg)
	}
	for _, s := range want {
		if !strings.Contains(msg, s) {
			w.failf("%s: message %q does not contain %q", what, msg, s)
		}
	}
}

// releaseFn returns the function that releases a buffer of kind k, and its
// operation's name in messages.
func (w *worker) releaseFn(k allocKind) (func([]byte), string) {
	f := w.f
	switch k {
	case kindAlloc:
		return Free, "Free"
	case kindSlice:
		return func(b []byte) { FreeSlice(b) }, "FreeSlice"
	case kindSlab:
		return func(b []byte) { f.slab.DecRef(b) }, "Slab.DecRef"
	case kindPool:
		return f.pool.Put, "Pool.Put"
	case kindBounded:
		return f.bounded.Put, "Pool.Put"
	case kindBuffer:
		return f.buf.Put, "BufferPool.Put"
	case kindMap:
		return func(b []byte) { Unmap(b) }, "Unmap"
	}
	return func(b []byte) { f.slab.AddRef(b) }, "Slab.AddRef"
}

// liveAt reports whether some live buffer of the model starts at addr.
func (w *worker) liveAt(addr uintptr) bool {
	for _, lb := range w.live {
		if sliceAddr(lb.b) == addr {
			return true
		}
	}
	for i := range w.f.slots {
		if lb := w.f.slots[i].Load(); lb != nil && sliceAddr(lb.b) == addr {
			return true
		}
	}
	return false
}

func (w *worker) misuse() {
	f := w.f
	sub := w.src.next() % 8
	switch sub {
	case 0: // a Go-heap slice
		k := allocKind(w.src.next() % uint8(kindCount))
		size := fxBufferSize
		if k == kindMap {
			size = pageSize
		}
		goSlice := make([]byte, size)
		fn, op := w.releaseFn(k)
		want := "not allocated by offheap"
		if k == kindMap {
			want = "not mapped by offheap.Map"
		}
		w.expectMisuse(op+" of a Go-heap slice", func() { fn(goSlice) }, op, want, hex(sliceAddr(goSlice)))
	case 1: // an interior slice of a live buffer
		i := w.pick()
		if i < 0 || len(w.live[i].b) < 2 || w.live[i].kind == kindArena {
			return
		}
		lb := w.live[i]
		k := 1 + int(w.src.next())%(len(lb.b)-1)
		fn, op := w.releaseFn(lb.kind)
		want := []string{op, hex(sliceAddr(lb.b) + uintptr(k))}
		switch {
		case lb.kind == kindBuffer:
			want = append(want, "not one of this pool's")
		case lb.kind == kindMap && k%pageSize != 0:
			want = append(want, "not a whole number of pages")
		default:
			want = append(want, "interior")
		}
		w.expectMisuse(op+" of an interior slice", func() { fn(lb.b[k:]) }, want...)
		if lb.kind == kindSlab && w.src.next()%2 == 0 {
			w.expectMisuse("Slab.AddRef of an interior slice", func() { f.slab.AddRef(lb.b[k:]) }, "Slab.AddRef", "interior")
		}
		w.verify(lb, "after a misuse")
	case 2: // a buffer of another allocator
		i := w.pick()
		if i < 0 {
			return
		}
		lb := w.live[i]
		fn, op := Free, "Free"
		want := "belongs to another allocator"
		switch lb.kind {
		case kindAlloc, kindSlice:
			if w.src.next()%2 == 0 {
				fn, op = func(b []byte) { f.slab.DecRef(b) }, "Slab.DecRef"
			} else {
				fn, op = func(b []byte) { f.other.AddRef(b) }, "Slab.AddRef"
			}
		case kindSlab:
			if w.src.next()%2 == 0 {
				fn, op = func(b []byte) { f.other.DecRef(b) }, "Slab.DecRef"
			} else {
				fn, op = f.pool.Put, "Pool.Put"
			}
		case kindPool:
			fn, op = f.bounded.Put, "Pool.Put"
		case kindBounded:
			fn, op = f.pool.Put, "Pool.Put"
		case kindBuffer:
			fn, op = func(b []byte) { f.slab.DecRef(b) }, "Slab.DecRef"
		case kindArena:
			if lb.gen != w.arenaGen {
				return
			}
		case kindMap:
			want = "mapped by offheap.Map"
		}
		w.expectMisuse(op+" of a "+lb.kind.String()+" buffer", func() { fn(lb.b) }, op, want, hex(sliceAddr(lb.b)))
		w.verify(lb, "after a misuse")
		if lb.kind == kindSlab && w.exclusive {
			if rc := f.slab.RefCount(lb.b); rc != int(lb.ref.refs.Load()) {
				w.failf("a refused release changed the reference count of %#x to %d (model %d)", sliceAddr(lb.b), rc, lb.ref.refs.Load())
			}
		}
	case 3: // a stale buffer: double free, DecRef below zero, AddRef after free
		if !w.exclusive || len(w.dead) == 0 {
			return
		}
		d := w.dead[int(w.src.next())%len(w.dead)]
		addr := sliceAddr(d.b)
		if w.liveAt(addr) {
			return // handed out again: it is the new owner's now
		}
		fn, op := w.releaseFn(d.kind)
		if d.kind == kindSlab && w.src.next()%2 == 0 {
			fn, op = func(b []byte) { f.slab.AddRef(b) }, "Slab.AddRef"
		}
		w.expectMisuse(op+" of a freed "+d.kind.String()+" buffer", func() { fn(d.b) }, op, hex(addr))
	case 4: // use after Close
		w.useAfterClose()
	case 5: // nil and empty slices; zero-size allocations own nothing
		k := allocKind(w.src.next() % uint8(kindCount))
		if k == kindArena {
			k = kindAlloc
		}
		fn, op := w.releaseFn(k)
		w.expectMisuse(op+" of nil", func() { fn(nil) }, op, "nil slice")
		w.expectMisuse(op+" of an empty slice", func() { fn(make([]byte, 0)) }, op, "empty slice")
		z := Alloc(0)
		Free(z)
		z = f.slab.Alloc(0)
		if !f.slab.DecRef(z) {
			w.failf("Slab.DecRef of the empty slice Alloc(0) returned false")
		}
	case 6: // AddRef and DecRef on a Slab buffer through the other Slab
		i := w.pick()
		if i < 0 || w.live[i].kind != kindSlab {
			return
		}
		lb := w.live[i]
		w.expectMisuse("Slab.AddRef through another Slab", func() { f.other.AddRef(lb.b) }, "Slab.AddRef", "another allocator", hex(sliceAddr(lb.b)))
		w.expectMisuse("Slab.RefCount through another Slab", func() { f.other.RefCount(lb.b) }, "Slab.RefCount", "another allocator")
	case 7: // arena memory, which is only ever freed by a Reset
		i := w.pick()
		if i < 0 || w.live[i].kind != kindArena || w.live[i].gen != w.arenaGen || len(w.live[i].b) < 32 {
			return
		}
		lb := w.live[i]
		w.expectMisuse("Free of arena memory", func() { Free(lb.b[16:]) }, "Free", hex(sliceAddr(lb.b)+16))
		w.verify(lb, "after a misuse")
	}
}

// useAfterClose makes a throwaway instance, closes it, and uses it.
func (w *worker) useAfterClose() {
	switch w.src.next() % 4 {
	case 0:
		s, err := NewSlab(SlabConfig{SlabSize: 64 << 10})
		if !w.oomOK("NewSlab", 0, err, false) {
			return
		}
		var b []byte
		if err := tryAlloc(func() { b = s.Alloc(100) }); !w.oomOK("Slab.Alloc", 100, err, false) {
			s.Close()
			return
		}
		s.Close()
		w.expectMisuse("Slab.Alloc after Close", func() { s.Alloc(10) }, "Slab.Alloc on a closed Slab")
		w.expectMisuse("Slab.DecRef after Close", func() { s.DecRef(b) }, "Slab.DecRef on a closed Slab")
		w.expectMisuse("Slab.AddRef after Close", func() { s.AddRef(b) }, "Slab.AddRef on a closed Slab")
		w.expectMisuse("Free of a closed Slab's buffer", func() { Free(b) }, "Free", hex(sliceAddr(b)))
	case 1:
		max := 0
		if w.src.next()%2 == 0 {
			max = 4
		}
		p, err := NewPool(64, PoolConfig{MaxObjects: max})
		if !w.oomOK("NewPool", 64, err, false) {
			return
		}
		p.Close()
		w.expectMisuse("Pool.Get after Close", func() { p.Get() }, "Pool.Get on a closed Pool")
		w.expectMisuse("Pool.Put after Close", func() { p.Put(make([]byte, 64)) }, "Pool.Put on a closed Pool")
	case 2:
		var bp *BufferPool
		if err := tryAlloc(func() { bp = NewBufferPool(1000) }); !w.oomOK("NewBufferPool", 1000, err, false) {
			return
		}
		var b []byte
		if err := tryAlloc(func() { b = bp.Get() }); !w.oomOK("BufferPool.Get", 1000, err, false) {
			bp.Close()
			return
		}
		bp.Put(b)
		bp.Close()
		w.expectMisuse("BufferPool.Get after Close", func() { bp.Get() }, "BufferPool.Get on a closed BufferPool")
		w.expectMisuse("BufferPool.Put after Close", func() { bp.Put(b) }, "BufferPool.Put on a closed BufferPool")
	case 3:
		a, err := NewArena(0)
		if !w.oomOK("NewArena", 0, err, false) {
			return
		}
		a.Close()
		w.expectMisuse("Arena.Alloc after Close", func() { a.Alloc(10) }, "Arena.Alloc on a closed Arena")
		w.expectMisuse("Arena.Reset after Close", func() { a.Reset() }, "Arena.Reset on a closed Arena")
		if err := a.Close(); err != ErrClosed {
			w.failf("second Arena.Close = %v, want ErrClosed", err)
		}
	}
}
