//go:build !offheap_shared && !asan

package bindings

// The differential test of the chunk protocol: the Go mirror
// (chunk_bundled.go) and the core's own inline definitions (c/src/chunk.h)
// must give the same verdict for every kind of pointer a release can be
// handed, and the same transition for every state word.

import (
	"fmt"
	"testing"
	"unsafe"
)

func TestChunkProtocolDifferential(t *testing.T) {
	runs := OptionGet(OptPageRuns) // h serves 16-256 KiB as runs of pages: their verdicts too
	OptionSet(OptPageRuns, 1)
	h, e := NewSlab(16, 1<<20, 1.25)
	OptionSet(OptPageRuns, runs)
	if e != OK {
		t.Fatal(e)
	}
	defer h.Destroy()
	other, e := NewSlab(16, 1<<20, 1.25)
	if e != OK {
		t.Fatal(e)
	}
	defer other.Destroy()

	alloc := func(s Slab, n uintptr) uintptr {
		p, e := s.Alloc(n)
		if e != OK {
			t.Fatalf("Alloc(%d): %v", n, e)
		}
		return uintptr(p)
	}
	live := alloc(h, 64)
	live2 := alloc(h, 16<<10)
	freed := alloc(h, 64)
	if _, e := h.DecRef(freed); e != OK {
		t.Fatal(e)
	}
	run := alloc(h, 48<<10) // a run of 12 pages (runs.c)
	freedRun := alloc(h, 20<<10)
	if _, e := h.DecRef(freedRun); e != OK {
		t.Fatal(e)
	}
	large := alloc(h, 4<<20)
	foreignChunk := alloc(other, 64)
	goHeap := make([]byte, 64)
	var onStack [64]byte
	mp, e := Map(1 << 16)
	if e != OK {
		t.Fatal(e)
	}
	defer Unmap(uintptr(mp), 1<<16)
	ar, e := NewArena(0)
	if e != OK {
		t.Fatal(e)
	}
	defer ar.Destroy()
	ap, e := ar.Alloc(64, 16)
	if e != OK {
		t.Fatal(e)
	}
	defaultChunk := alloc(DefaultSlab(), 64)
	defer Free(defaultChunk)

	cases := map[string]uintptr{
		"nil":                0,
		"small integer":      1,
		"Go heap":            uintptr(unsafe.Pointer(&goHeap[0])),
		"Go stack":           uintptr(unsafe.Pointer(&onStack[0])),
		"high address":       ^uintptr(0) &^ 0xfff,
		"live chunk":         live,
		"live 16 KiB chunk":  live2,
		"interior +1":        live + 1,
		"interior +16":       live + 16,
		"interior 16 KiB":    live2 + 4096,
		"freed chunk":        freed,
		"large":              large,
		"large interior":     large + 4096,
		"other instance":     foreignChunk,
		"default heap":       defaultChunk,
		"oh_map mapping":     uintptr(mp),
		"arena":              uintptr(ap),
		"slab tail or chunk": live&^(1<<20-1) + 1<<20 - 8,
		"live run":           run,
		"run interior +16":   run + 16,
		"run's second page":  run + 4096,
		"run's last page":    run + 11*4096,
		"freed run":          freedRun,
		"freed run's page":   freedRun + 4096,
	}
	for name, p := range cases {
		w, cls, ge := h.Find(p)
		cw, clarge, ce := h.CoreFind(p)
		if ge != ce {
			t.Errorf("%s (%#x): Go verdict %v, core verdict %v", name, p, ge, ce)
			continue
		}
		if whole := cls == Large || cls == Run; ge == OK && (w.Addr() != cw || whole != clarge) {
			t.Errorf("%s (%#x): Go word %#x whole pages %v, core word %#x whole pages %v", name, p, w.Addr(), whole, cw, clarge)
		}
	}
	for name, want := range map[string]Err{"live chunk": OK, "freed chunk": OK, "large": OK, "interior +16": EFAULT,
		"other instance": EXDEV, "Go heap": EINVAL, "arena": EXDEV, "oh_map mapping": EINVAL, "large interior": EFAULT,
		"live run": OK, "run interior +16": EFAULT, "run's second page": EFAULT, "run's last page": EFAULT,
		"freed run": OK, "interior 16 KiB": EFAULT} {
		if _, _, e := h.Find(cases[name]); e != want {
			t.Errorf("%s: verdict %v, want %v", name, e, want)
		}
	}
	if w, _, _ := h.Find(freed); w.RefCount() != 0 {
		t.Errorf("freed chunk: RefCount %d, want 0", w.RefCount())
	}
	if w, cls, _ := h.Find(run); cls != Run || w.RefCount() != 1 {
		t.Errorf("live run: class %d RefCount %d, want Run and 1", cls, w.RefCount())
	} else if w.RunPages() != 12 || w.CoreRunPages() != 12 {
		t.Errorf("live run of 48 KiB: RunPages %d, the core's %d, want 12", w.RunPages(), w.CoreRunPages())
	}
	// Each size class of the run range stands for runs of its pages in a
	// cache of runs; the classes of chunks below it for none.
	sawRunClass := false
	for cls := 0; cls < h.ClassCount(); cls++ {
		size, pages := int(h.ClassSize(cls)), h.ClassRunPages(cls)
		lo, hi, _ := h.RunRange()
		switch {
		case size < int(lo) || size > int(hi):
			if pages != 0 {
				t.Errorf("class %d (%d B) outside the run range: ClassRunPages %d, want 0", cls, size, pages)
			}
		case pages != (size+4095)/4096:
			t.Errorf("class %d (%d B): ClassRunPages %d, want %d", cls, size, pages, (size+4095)/4096)
		default:
			sawRunClass = true
		}
	}
	if !sawRunClass {
		t.Errorf("no size class in the run range")
	}
	if w, _, _ := h.Find(freedRun); w.RefCount() != 0 {
		t.Errorf("freed run: RefCount %d, want 0", w.RefCount())
	}
	if lo, hi, ok := h.RunRange(); !ok || lo > 16<<10 || hi < 48<<10 {
		t.Errorf("RunRange %d..%d %v: want runs from 16 KiB to at least 48 KiB", lo, hi, ok)
	}
	h.DecRef(run)
	h.DecRef(live)
	h.DecRef(live2)
	h.DecRef(large)
	other.DecRef(foreignChunk)
}

func TestChunkTransitionsDifferential(t *testing.T) {
	words := []uint32{0, 1, 2, 3, 1000, RefcountMax - 1, RefcountMax,
		wordCached, wordCached | 5, wordCached | 0x01ffffff, wordFree, wordFree | 7, wordFree | 0x01ffffff, 0xffffffff}
	for _, v := range words {
		for _, decref := range []bool{false, true} {
			g, c := v, v
			gold, ge := WordAt(&g).TryRelease(decref)
			cold, ce := CoreTryRelease(&c, decref)
			if gold != cold || ge != ce || g != c {
				t.Errorf("release(%#x, decref %v): Go old %d %v -> %#x, core old %d %v -> %#x", v, decref, gold, ge, g, cold, ce, c)
			}
		}
		g, c := v, v
		ge, ce := WordAt(&g).TryAddRef(), CoreTryAddRef(&c)
		if ge != ce || g != c {
			t.Errorf("addref(%#x): Go %v -> %#x, core %v -> %#x", v, ge, g, ce, c)
		}
	}
}

// TestConcurrentDoubleRelease: of two racing releases of one pointer exactly
// one claims it, every time.
func TestConcurrentDoubleRelease(t *testing.T) {
	const rounds = 2000
	wins := 0
	for i := range rounds {
		v := uint32(1)
		w := WordAt(&v)
		errs := make(chan Err, 2)
		for range 2 {
			go func() {
				_, e := w.TryRelease(i%2 == 0)
				errs <- e
			}()
		}
		e1, e2 := <-errs, <-errs
		if (e1 == OK) == (e2 == OK) || (e1 != OK && e1 != EALREADY) || (e2 != OK && e2 != EALREADY) {
			t.Fatalf("round %d: verdicts %v and %v, want exactly one OK and one EALREADY", i, e1, e2)
		}
		if v != wordCached {
			t.Fatalf("round %d: word %#x after the claim, want CACHED", i, v)
		}
		wins++
	}
	if wins != rounds {
		t.Fatal(fmt.Sprint(wins))
	}
}
