package offheap

// fuzz_lifecycle_test.go extends FuzzOps (fuzz_test.go) with the lifecycles
// of issue 13, in a file of its own to keep fuzz_test.go from growing: two
// goroutines racing to Unmap one mapping (exactly one wins, the other gets a
// *MisuseError), Unmap of an allocator's buffer and Free of a Map slice (each
// names where the slice came from), instances closed twice and used after
// Close, zero values, and Arena reset sequences under the debug level the
// fuzzer set (memory handed out again must be writable: a guard left behind
// would fault).

import (
	"errors"
	"sync"
)

func (w *worker) lifecycle() {
	switch w.src.next() % 4 {
	case 0: // racing double Unmap
		m, err := Map(pageSize * (1 + int(w.src.next()%4)))
		if err != nil {
			w.oomOK("Map", pageSize, err, w.faulty())
			return
		}
		var wg sync.WaitGroup
		var res [2]any
		for k := range res {
			wg.Add(1)
			go func() {
				defer wg.Done()
				res[k] = catchPanic(func() {
					if err := Unmap(m); err != nil {
						panic(err)
					}
				})
			}()
		}
		wg.Wait()
		wins := 0
		for _, r := range res {
			if r == nil {
				wins++
			} else if _, ok := r.(*MisuseError); !ok {
				w.failf("racing Unmap panicked with %T (%v), not a *MisuseError", r, r)
			}
		}
		if wins != 1 {
			w.failf("racing Unmaps of %#x: %d succeeded, want exactly 1", sliceAddr(m), wins)
		}
	case 1: // the wrong release function names where the slice came from
		i := w.pick()
		if i < 0 {
			return
		}
		lb := w.live[i]
		switch lb.kind {
		case kindMap:
			w.expectMisuse("Free of a Map slice", func() { Free(lb.b) }, "mapped by offheap.Map", "Unmap", hex(sliceAddr(lb.b)))
		case kindAlloc, kindSlab, kindPool, kindBuffer:
			if cap(lb.b)%pageSize == 0 {
				w.expectMisuse("Unmap of a "+lb.kind.String()+" buffer", func() { Unmap(lb.b) }, "not mapped by offheap.Map", hex(sliceAddr(lb.b)))
			}
		}
		w.verify(lb, "after a misuse")
	case 2: // a Pool and an Arena closed twice and used after Close; zero values
		p, err := NewPool(1+int(w.src.next()), PoolConfig{MaxObjects: int(w.src.next() % 3)})
		if err != nil {
			w.oomOK("NewPool", 0, err, w.faulty())
			return
		}
		if b, err := p.TryGet(); err == nil {
			if w.src.next()%2 == 0 {
				p.Put(b)
			}
		} else if !w.faulty() {
			w.failf("Pool.TryGet of a fresh pool: %v", err)
		}
		if err := p.Close(); err != nil {
			w.failf("Pool.Close: %v", err)
		}
		if err := p.Close(); !errors.Is(err, ErrClosed) {
			w.failf("a second Pool.Close returned %v, want ErrClosed", err)
		}
		w.expectMisuse("Pool.Get after Close", func() { p.Get() }, "on a closed Pool")
		w.expectMisuse("Get of a zero Pool", func() { new(Pool).Get() }, "use of a zero Pool")
		w.expectMisuse("Alloc of a zero Arena", func() { new(Arena).Alloc(1) }, "use of a zero Arena")
	case 3: // Arena reset sequences, then Close twice
		a, err := NewArena(pageSize * (1 + int(w.src.next()%8)))
		if err != nil {
			w.oomOK("NewArena", 0, err, w.faulty())
			return
		}
		for k := 1 + int(w.src.next()%6); k > 0; k-- {
			n := 1 + u16(w.src)%(12*pageSize)
			b, err := a.AllocAligned(n, 16<<(w.src.next()%9))
			if err != nil {
				w.oomOK("Arena.Alloc", n, err, w.faulty())
				continue
			}
			seed := w.newSeed()
			fillPat(b, seed, w.sparse)
			if i := checkPat(b, seed, w.sparse, 0, 0); i >= 0 {
				w.failf("CORRUPTION: lifecycle arena allocation %#x byte %d", sliceAddr(b), i)
			}
			switch w.src.next() % 4 {
			case 0:
				a.Reset()
			case 1:
				a.ResetDecommit()
			}
		}
		if err := a.Close(); err != nil {
			w.failf("Arena.Close: %v", err)
		}
		if err := a.Close(); !errors.Is(err, ErrClosed) {
			w.failf("a second Arena.Close returned %v, want ErrClosed", err)
		}
		w.expectMisuse("Arena.Reset after Close", func() { a.Reset() }, "on a closed Arena")
	}
}
