package offheap

// fuzz_ops_test.go - the operations of the fuzz driver (fuzz_test.go): one
// step picks one, each allocates, releases, shares or rewrites buffers
// through the API and checks the outcome against the model
// (fuzz_model_test.go).

import (
	"errors"
	"strings"
	"unsafe"

	"github.com/offheap/offheap/bindings"
	"github.com/offheap/offheap/go/decommit"
)

// ---- operations -----------------------------------------------------------------------

// step performs one operation.
func (w *worker) step() {
	w.ops++
	if w.faultOps > 0 && !w.pinnedFaults {
		w.faultOps--
		if w.faultOps == 0 {
			bindings.FailOS(0, 0)
		}
	}
	op := w.src.next() % 32
	if len(w.live) >= w.maxLive || w.liveBytes() > int64(w.maxBytes) {
		op = 10 // release
	}
	switch {
	case op < 10:
		w.alloc(allocKind(w.src.next() % uint8(kindCount)))
	case op < 16:
		w.release()
	case op < 18:
		w.addRef()
	case op == 18:
		w.handOff()
	case op == 19:
		w.decommit()
	case op == 20:
		w.resetArena()
	case op == 21:
		w.rewrite()
	case op == 22:
		if w.exclusive {
			w.checkModel()
		} else {
			w.verifySome(4)
		}
	case op == 23:
		w.misuse()
	case op == 24:
		if w.exclusive || w.src.next() == 0 {
			Scavenge()
		}
	case op == 25:
		if w.exclusive {
			w.armFaults()
		} else {
			w.verifySome(1)
		}
	case op == 26:
		if w.exclusive {
			w.toggleOption()
		} else {
			w.verifySome(1)
		}
	case op == 27:
		if w.exclusive {
			w.onNewThread()
		} else {
			w.verifySome(1)
		}
	case op == 28:
		if w.exclusive {
			w.lifecycle() // fuzz_lifecycle_test.go
		} else {
			w.verifySome(1)
		}
	default:
		w.verifySome(1)
	}
}

// faulty reports whether an allocation may fail now: fault injection is armed.
func (w *worker) faulty() bool { return w.faultOps > 0 || w.pinnedFaults }

// tryAlloc runs an allocation that panics on out-of-memory and turns that
// panic into its error; any other panic propagates.
func tryAlloc(f func()) (err error) {
	defer func() {
		if r := recover(); r != nil {
			if e, ok := r.(error); ok && errors.Is(e, ErrOutOfMemory) {
				err = e
				return
			}
			panic(r)
		}
	}()
	f()
	return nil
}

// oomOK checks an allocation error: allowed only when faults are armed (or
// allowed is set), and it must wrap ErrOutOfMemory and name the operation.
func (w *worker) oomOK(op string, n int, err error, allowed bool) bool {
	if err == nil {
		return true
	}
	w.ooms++
	if !errors.Is(err, ErrOutOfMemory) {
		w.failf("%s(%d) failed with %v, which does not wrap ErrOutOfMemory", op, n, err)
	} else if !allowed && !w.faulty() {
		w.failf("%s(%d) failed with no fault injected: %v", op, n, err)
	} else if !strings.HasPrefix(err.Error(), "offheap: ") || !strings.Contains(err.Error(), strings.TrimPrefix(op, "bounded ")) {
		w.failf("%s(%d): the error %q does not name the operation", op, n, err)
	}
	return false
}

// expectUsable checks the size the core reports for an allocation of n
// bytes at addr against the instance's size classes (or whole pages: above
// the slab size, and for the sizes it serves as runs of pages outside debug
// mode - which the workers flip, so a run-sized request may get its class
// too). Builds without the core's internals (offheap_shared, -asan) do not
// know the run range: there an allocation of at most the slab size that the
// region map calls whole pages (SpanLarge) is a run, and must be exactly its
// pages; the bundled build checks which sizes are runs.
func (w *worker) expectUsable(what string, classes []int, runs [2]int, slabSize, n int, addr uintptr, usable uint64) bool {
	pages := uint64((n + pageSize - 1) &^ (pageSize - 1))
	if n >= runs[0] && n <= runs[1] && usable == pages {
		return true
	}
	if !bindings.FastPath && n <= slabSize && bindings.SpanKindOf(addr) == bindings.SpanLarge {
		if usable != pages {
			w.failf("%s(%d): usable size %d, want a run of %d bytes", what, n, usable, pages)
			return false
		}
		return true
	}
	if n > slabSize {
		if usable < pages || usable > pages+pages/4 {
			w.failf("%s(%d): usable size %d, want whole pages: %d (up to 25%% more when a freed span is reused)", what, n, usable, pages)
			return false
		}
		return true
	}
	for _, c := range classes {
		if c >= n {
			if usable != uint64(c) {
				w.failf("%s(%d): usable size %d, want the class size %d", what, n, usable, c)
				return false
			}
			return true
		}
	}
	w.failf("%s(%d): no class holds it but it is not larger than the slab size %d", what, n, slabSize)
	return false
}

func (w *worker) alloc(kind allocKind) {
	f := w.f
	n := w.size()
	variant := w.src.next()
	var b []byte
	var usable uint64
	var large, zeroed bool
	var err error
	op := kind.String()
	switch kind {
	case kindAlloc:
		switch variant % 3 {
		case 0:
			op = "Alloc"
			err = tryAlloc(func() { b = Alloc(n) })
		case 1:
			op = "TryAlloc"
			b, err = TryAlloc(n)
		case 2:
			op, zeroed = "Calloc", true
			err = tryAlloc(func() { b = Calloc(n) })
		}
	case kindSlice:
		op, zeroed = "MakeSlice", true
		var s []uint64
		err = tryAlloc(func() { s = MakeSlice[uint64]((n + 7) / 8) })
		if err == nil {
			b = unsafe.Slice((*byte)(unsafe.Pointer(unsafe.SliceData(s))), len(s)*8)
			n = len(b)
		}
	case kindSlab:
		if variant%2 == 0 {
			op = "Slab.Alloc"
			err = tryAlloc(func() { b = f.slab.Alloc(n) })
		} else {
			op = "Slab.TryAlloc"
			b, err = f.slab.TryAlloc(n)
		}
	case kindPool:
		n = fxPoolSize
		op = "Pool.Get"
		if variant%2 == 0 {
			err = tryAlloc(func() { b = f.pool.Get() })
		} else {
			b, err = f.pool.TryGet()
		}
	case kindBounded:
		n = fxBoundedSize
		op = "bounded Pool.Get"
		// Counted out before the core sees the Get and back after the Put.
		// Several workers: one whose count would pass the maximum does not
		// ask, so the core never holds more than the count and a Get made
		// within the maximum must succeed. One worker: it asks anyway, and
		// the pool must refuse exactly past the maximum.
		out := f.boundedOut.Add(1)
		if out > fxBoundedMax && !w.exclusive {
			f.boundedOut.Add(-1)
			return
		}
		if variant%2 == 0 {
			err = tryAlloc(func() { b = f.bounded.Get() })
		} else {
			b, err = f.bounded.TryGet()
		}
		if err != nil {
			f.boundedOut.Add(-1)
			w.oomOK(op, n, err, out > fxBoundedMax)
			return
		}
		if w.exclusive && out > fxBoundedMax {
			w.failf("bounded Pool.Get succeeded with %d objects out of %d", out-1, fxBoundedMax)
		}
		usable = uint64((n + 15) &^ 15)
	case kindBuffer:
		n = fxBufferSize
		op = "BufferPool.Get"
		err = tryAlloc(func() { b = f.buf.Get() })
	case kindArena:
		align := []int{16, 16, 8, 64, 4096}[variant%5]
		op = "Arena.Alloc"
		if align == 16 && variant%2 == 0 {
			err = tryAlloc(func() { b = w.arena.Alloc(n) })
		} else {
			b, err = w.arena.AllocAligned(n, align)
		}
		if err == nil && uintptr(unsafe.Pointer(unsafe.SliceData(b)))%uintptr(align) != 0 {
			w.failf("Arena.AllocAligned(%d, %d) = %#x: misaligned", n, align, sliceAddr(b))
		}
		if err == nil && !w.arena.Owns(b) {
			w.failf("Arena.Owns(%#x) = false for a buffer it just handed out", sliceAddr(b))
		}
	case kindMap:
		if w.sparse && variant%8 != 0 {
			return // soak: a system call each way, so rarer
		}
		n = 1 + u16(w.src)%(3*pageSize)
		op = "Map"
		b, err = Map(n)
		if err == nil {
			zeroed = true
			if len(b) != (n+pageSize-1)&^(pageSize-1) || cap(b) != len(b) || sliceAddr(b)%uintptr(pageSize) != 0 {
				w.failf("Map(%d) returned len %d cap %d at %#x", n, len(b), cap(b), sliceAddr(b))
			}
			n = len(b)
			usable = uint64(n)
		}
	}
	if !w.oomOK(op, n, err, false) {
		return
	}
	if len(b) != n || (kind != kindMap && cap(b) != n) {
		w.failf("%s(%d) returned len %d cap %d", op, n, len(b), cap(b))
		return
	}
	addr := sliceAddr(b)
	if addr%16 != 0 && kind != kindArena {
		w.failf("%s(%d) = %#x: not 16-byte aligned", op, n, addr)
	}
	if zeroed {
		if i := allZero(b, w.sparse); i >= 0 {
			w.failf("%s(%d) = %#x: byte %d is %#x, not zero", op, n, addr, i, b[i])
		}
	}
	lb := &liveBuf{b: b, kind: kind, seed: w.newSeed()}
	switch kind {
	case kindAlloc, kindSlice:
		u, e := bindings.DefaultSlab().UsableSize(addr)
		if e != bindings.OK {
			w.failf("usable size of a live %s buffer %#x: %v", op, addr, e)
			return
		}
		w.expectUsable(op, f.defClasses, f.defRuns, defSlabSize, n, addr, uint64(u))
		usable, large = uint64(u), n > defSlabSize
		if n%pageSize == 0 && addr%uintptr(pageSize) != 0 {
			w.failf("%s(%d): a page multiple at %#x, not page aligned", op, n, addr)
		}
	case kindSlab:
		u, e := f.slab.h.c.UsableSize(addr)
		if e != bindings.OK {
			w.failf("usable size of a live Slab buffer %#x: %v", addr, e)
			return
		}
		w.expectUsable(op, f.slabClasses, f.slabRuns, fxSlabSize, n, addr, uint64(u))
		usable, large = uint64(u), n > fxSlabSize
		lb.ref = &sharedRef{}
		lb.ref.refs.Store(1)
		f.slabAllocs.Add(1)
	case kindPool, kindBuffer:
		h := f.pool.h
		if kind == kindBuffer {
			h = f.buf.h
		}
		u, e := h.c.UsableSize(addr)
		if e != bindings.OK || u < uintptr(n) {
			w.failf("usable size of a live %s object %#x: %d, %v", op, addr, u, e)
			return
		}
		usable = uint64(u)
	case kindArena:
		lb.gen = w.arenaGen
		w.arenaBytes += int64(n)
	}
	lb.usable, lb.large = usable, large
	if kind != kindArena {
		w.bytes[kind] += int64(usable)
	}
	fillPat(b, lb.seed, w.sparse)
	w.live = append(w.live, lb)
}

// pick returns the index of a live buffer chosen by the source, or -1.
func (w *worker) pick() int {
	if len(w.live) == 0 {
		return -1
	}
	return u16(w.src) % len(w.live)
}

func (w *worker) remove(i int) {
	last := len(w.live) - 1
	w.live[i] = w.live[last]
	w.live[last] = nil
	w.live = w.live[:last]
}

// verify checks a live buffer's pattern.
func (w *worker) verify(lb *liveBuf, when string) bool {
	w.checks++
	if i := checkPat(lb.b, lb.seed, w.sparse, 0, 0); i >= 0 {
		w.failf("CORRUPTION: %s buffer %#x (len %d) %s: byte %d is %#x, not its pattern: memory shared, overwritten or lost",
			lb.kind, sliceAddr(lb.b), len(lb.b), when, i, lb.b[i])
		return false
	}
	return true
}

func (w *worker) verifySome(k int) {
	for ; k > 0; k-- {
		if i := w.pick(); i >= 0 {
			w.verify(w.live[i], "on a check")
		}
	}
}

// shorten returns b or a prefix of it (Free takes any slice that starts at
// the allocation).
func (w *worker) shorten(b []byte) []byte {
	if w.src.next()%4 == 0 && len(b) > 1 {
		return b[:1+int(w.src.next())%(len(b)-1)]
	}
	return b
}

func (w *worker) release() {
	if i := w.pick(); i >= 0 {
		w.releaseAt(i)
	}
}

// releaseAt releases live buffer i (arena buffers are released only by a
// Reset: releasing one checks it, or resets the arena when the worker holds
// too much).
func (w *worker) releaseAt(i int) {
	lb := w.live[i]
	if lb.kind == kindArena {
		if len(w.live) >= w.maxLive || w.liveBytes() > int64(w.maxBytes) {
			w.resetArena()
		} else {
			w.verify(lb, "in an arena")
		}
		return
	}
	if !w.verify(lb, "before its release") {
		return
	}
	w.remove(i)
	w.releases++
	var freed bool
	if r := catchPanic(func() { freed = w.releaseBuf(lb) }); r != nil {
		// A release of a buffer the model holds live must work: a refusal
		// means the allocator handed it to someone else too, or lost it.
		w.failf("CORRUPTION: the release of live %s buffer %#x (len %d) was refused: %v", lb.kind, sliceAddr(lb.b), len(lb.b), r)
		return
	}
	if freed {
		w.bytes[lb.kind] -= int64(lb.usable)
		if w.exclusive {
			if len(w.dead) == 64 {
				copy(w.dead, w.dead[1:])
				w.dead = w.dead[:63]
			}
			w.dead = append(w.dead, deadBuf{lb.b, lb.kind})
		}
	}
}

// releaseBuf releases lb the way its kind is released and reports whether
// the buffer is free now (a DecRef may leave references).
func (w *worker) releaseBuf(lb *liveBuf) bool {
	f := w.f
	freed := true
	switch lb.kind {
	case kindAlloc:
		Free(w.shorten(lb.b))
	case kindSlice:
		FreeSlice(unsafe.Slice((*uint64)(unsafe.Pointer(unsafe.SliceData(lb.b))), len(lb.b)/8))
	case kindSlab:
		left := lb.ref.refs.Add(-1)
		freed = f.slab.DecRef(w.shorten(lb.b))
		if w.exclusive && freed != (left == 0) {
			w.failf("Slab.DecRef(%#x) with %d references left in the model reported freed=%v", sliceAddr(lb.b), left, freed)
		}
		if freed {
			f.slabFrees.Add(1)
		}
		if freed && lb.ref.freed.Add(1) != 1 {
			w.failf("Slab.DecRef(%#x) reported freeing the buffer a second time", sliceAddr(lb.b))
		}
	case kindPool:
		f.pool.Put(w.shorten(lb.b))
	case kindBounded:
		f.bounded.Put(w.shorten(lb.b))
		f.boundedOut.Add(-1)
	case kindBuffer:
		f.buf.Put(lb.b[:int(w.src.next())%len(lb.b)])
	case kindMap:
		if err := Unmap(w.shorten(lb.b)); err != nil {
			w.failf("Unmap(%#x): %v", sliceAddr(lb.b), err)
		}
	}
	return freed
}

// addRef takes another reference to a Slab buffer: a second liveBuf.
func (w *worker) addRef() {
	i := w.pick()
	if i < 0 || w.live[i].kind != kindSlab {
		return
	}
	lb := w.live[i]
	lb.ref.refs.Add(1)
	w.f.slab.AddRef(w.shorten(lb.b))
	if w.exclusive {
		if rc := w.f.slab.RefCount(lb.b); rc != int(lb.ref.refs.Load()) {
			w.failf("Slab.RefCount(%#x) = %d, the model holds %d references", sliceAddr(lb.b), rc, lb.ref.refs.Load())
		}
	}
	dup := *lb
	w.live = append(w.live, &dup)
}

// handOff swaps a live buffer with the one in a shared slot: buffers (and
// references) move between workers, so they are freed on other threads.
func (w *worker) handOff() {
	slot := &w.f.slots[int(w.src.next())%len(w.f.slots)]
	var give *liveBuf
	if i := w.pick(); i >= 0 && w.live[i].kind != kindArena {
		give = w.live[i]
		w.remove(i)
		// The bytes move with the buffer.
		w.bytes[give.kind] -= int64(give.usable)
	}
	got := slot.Swap(give)
	if got != nil {
		w.adopt(got)
	}
}

func (w *worker) adopt(lb *liveBuf) {
	w.bytes[lb.kind] += int64(lb.usable)
	w.live = append(w.live, lb)
	w.verify(lb, "handed over from another worker")
}

// writable reports whether the worker may write lb's bytes: no other
// reference to it exists.
func writable(lb *liveBuf) bool { return lb.ref == nil || lb.ref.refs.Load() == 1 }

// decommit decommits part of a live buffer: the bytes outside the whole pages
// strictly inside the range must be unchanged, those inside read as zero or
// as before; then the pattern is written again.
func (w *worker) decommit() {
	i := w.pick()
	if i < 0 || !writable(w.live[i]) {
		return
	}
	lb := w.live[i]
	n := len(lb.b)
	off := u24(w.src) % n
	l := 1 + u24(w.src)%(n-off)
	if w.src.next()%4 == 0 {
		off, l = 0, n
	}
	base := sliceAddr(lb.b)
	var got int
	switch w.src.next() % 3 {
	case 0:
		decommit.Slice(lb.b[off : off+l : off+l])
		got = -1
	case 1: // decommit.Slice works on buf[:cap(buf)]
		decommit.Slice(lb.b[off : off+l])
		l = n - off
		got = -1
	case 2:
		got = int(bindings.Decommit(base+uintptr(off), uintptr(l)))
	}
	lo := int((base+uintptr(off)+uintptr(pageSize)-1)&^uintptr(pageSize-1) - base)
	hi := int((base+uintptr(off+l))&^uintptr(pageSize-1) - base)
	if hi < lo {
		lo, hi = 0, 0
	}
	if got >= 0 && got != hi-lo {
		w.failf("Decommit(%#x+%d, %d) decommitted %d bytes, want the %d of the whole pages inside", base, off, l, got, hi-lo)
	}
	w.checks++
	if j := checkPat(lb.b, lb.seed, w.sparse, lo, hi); j >= 0 {
		w.failf("CORRUPTION: decommit of [%d, %d) of %s buffer %#x (len %d) changed byte %d (%#x), outside the whole pages [%d, %d) or not to zero",
			off, off+l, lb.kind, base, n, j, lb.b[j], lo, hi)
		return
	}
	fillPat(lb.b, lb.seed, w.sparse)
}

func (w *worker) rewrite() {
	i := w.pick()
	if i < 0 || !writable(w.live[i]) {
		return
	}
	lb := w.live[i]
	if w.verify(lb, "before a rewrite") {
		lb.seed = w.newSeed()
		fillPat(lb.b, lb.seed, w.sparse)
	}
}

// resetArena frees the worker's arena allocations at once.
func (w *worker) resetArena() {
	keep := w.live[:0]
	for _, lb := range w.live {
		if lb.kind == kindArena {
			w.verify(lb, "before Arena.Reset")
			continue
		}
		keep = append(keep, lb)
	}
	for i := len(keep); i < len(w.live); i++ {
		w.live[i] = nil
	}
	w.live = keep
	if w.src.next()%2 == 0 {
		w.arena.Reset()
	} else {
		w.arena.ResetDecommit()
	}
	w.arenaGen++
	w.arenaBytes = 0
}
