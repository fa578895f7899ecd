package offheap

// concurrency_test.go - 8 goroutines against one allocator of each kind,
// each buffer filled with its owner's pattern and checked before release.

import (
	"fmt"
	"math/rand/v2"
	"strings"
	"sync"
	"testing"
)

// Each test below runs 8 goroutines against one allocator. Every buffer is
// filled with a pattern specific to its goroutine (and buffer) and checked just
// before it is released: if two goroutines ever held the same memory, or a
// release corrupted a live neighbour, a check fails.

const (
	workers = 8
	rounds  = 1500
	window  = 16 // buffers each goroutine keeps live at once
)

func hammer(t *testing.T, body func(w int, rng *rand.Rand) error) {
	t.Helper()
	var wg sync.WaitGroup
	errs := make(chan error, workers)
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := body(w, rand.New(rand.NewPCG(uint64(w), 42))); err != nil {
				errs <- fmt.Errorf("goroutine %d: %w", w, err)
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

type held struct {
	b    []byte
	seed byte
}

func randomSize(rng *rand.Rand) int {
	switch rng.IntN(10) {
	case 0:
		return 1 + rng.IntN(300<<10) // up to 300 KiB
	case 1:
		return 1<<20 + rng.IntN(1<<20) // whole pages
	}
	return 1 + rng.IntN(2048)
}

func TestConcurrentAllocFree(t *testing.T) {
	n := rounds
	if asanBuild() {
		n = rounds / 4 // ASan checks every byte the fills touch: 38-56 s otherwise
	}
	hammer(t, func(w int, rng *rand.Rand) error {
		var live []held
		for i := 0; i < n; i++ {
			if len(live) == window || (len(live) > 0 && rng.IntN(3) == 0) {
				k := rng.IntN(len(live))
				h := live[k]
				if err := checkFill(h.b, h.seed); err != nil {
					return err
				}
				Free(h.b)
				live[k] = live[len(live)-1]
				live = live[:len(live)-1]
				continue
			}
			n := randomSize(rng)
			var b []byte
			if i%5 == 0 {
				b = Calloc(n)
				for j, c := range b {
					if c != 0 {
						return fmt.Errorf("Calloc(%d)[%d] = %#x", n, j, c)
					}
				}
			} else {
				b = Alloc(n)
			}
			seed := byte(w*31 + i)
			fill(b, seed)
			live = append(live, held{b, seed})
		}
		for _, h := range live {
			if err := checkFill(h.b, h.seed); err != nil {
				return err
			}
			Free(h.b)
		}
		return nil
	})
}

// TestConcurrentCrossGoroutineFree frees every buffer on another goroutine
// than the one that allocated it.
func TestConcurrentCrossGoroutineFree(t *testing.T) {
	ch := make(chan held, 64)
	var producers sync.WaitGroup
	for w := 0; w < workers/2; w++ {
		producers.Add(1)
		go func() {
			defer producers.Done()
			rng := rand.New(rand.NewPCG(uint64(w), 7))
			for i := 0; i < rounds; i++ {
				b := Alloc(1 + rng.IntN(4096))
				seed := byte(w*17 + i)
				fill(b, seed)
				ch <- held{b, seed}
			}
		}()
	}
	go func() { producers.Wait(); close(ch) }()
	hammer(t, func(w int, rng *rand.Rand) error {
		if w >= workers/2 {
			return nil
		}
		for h := range ch {
			if err := checkFill(h.b, h.seed); err != nil {
				return err
			}
			Free(h.b)
		}
		return nil
	})
}

func TestConcurrentMakeSlice(t *testing.T) {
	hammer(t, func(w int, rng *rand.Rand) error {
		for i := 0; i < rounds; i++ {
			n := 1 + rng.IntN(500)
			s := MakeSlice[uint64](n)
			for j := range s {
				if s[j] != 0 {
					return fmt.Errorf("MakeSlice[uint64](%d)[%d] = %d, not zeroed", n, j, s[j])
				}
				s[j] = uint64(w)<<32 | uint64(j)
			}
			for j := range s {
				if s[j] != uint64(w)<<32|uint64(j) {
					return fmt.Errorf("element %d changed to %#x", j, s[j])
				}
			}
			FreeSlice(s)
		}
		return nil
	})
}

func TestConcurrentSlab(t *testing.T) {
	s, err := NewSlab(SlabConfig{MinChunk: 48, SlabSize: 256 << 10, Growth: 1.5})
	if err != nil {
		t.Fatal(err)
	}
	// Shared buffers travel between goroutines with an extra reference; the
	// receiver and the sender each drop one, and exactly one DecRef frees.
	shared := make(chan held, workers*4)
	var freedBy [workers]int
	hammer(t, func(w int, rng *rand.Rand) error {
		var live []held
		for i := 0; i < rounds; i++ {
			switch {
			case len(live) == window || (len(live) > 0 && rng.IntN(3) == 0):
				k := rng.IntN(len(live))
				h := live[k]
				if err := checkFill(h.b, h.seed); err != nil {
					return err
				}
				if !s.DecRef(h.b) {
					return fmt.Errorf("DecRef of a singly referenced buffer did not free it")
				}
				live[k] = live[len(live)-1]
				live = live[:len(live)-1]
			case rng.IntN(8) == 0:
				select {
				case h := <-shared:
					if err := checkFill(h.b, h.seed); err != nil {
						return err
					}
					if s.DecRef(h.b) {
						freedBy[w]++
					}
				default:
					b := s.Alloc(1 + rng.IntN(8192))
					seed := byte(w*13 + i)
					fill(b, seed)
					s.AddRef(b)
					shared <- held{b, seed}
					if s.DecRef(b) {
						freedBy[w]++
					}
				}
			default:
				n := 1 + rng.IntN(4096)
				if rng.IntN(50) == 0 {
					n = 300 << 10 // larger than the slab: whole pages
				}
				b := s.Alloc(n)
				seed := byte(w*29 + i)
				fill(b, seed)
				live = append(live, held{b, seed})
			}
		}
		for _, h := range live {
			if err := checkFill(h.b, h.seed); err != nil {
				return err
			}
			s.DecRef(h.b)
		}
		return nil
	})
	close(shared)
	for h := range shared {
		if !s.DecRef(h.b) {
			t.Fatal("last DecRef of a shared buffer did not free it")
		}
	}
	if st := s.Stats(); st.InUseBytes != 0 || st.LargeInUse != 0 {
		t.Fatalf("after every DecRef the Slab still has %d bytes (%d large) in use", st.InUseBytes, st.LargeInUse)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
}

func TestConcurrentPool(t *testing.T) {
	for _, cfg := range []PoolConfig{{BlockObjects: 32}, {MaxObjects: workers * window, BlockObjects: 32}} {
		t.Run(fmt.Sprintf("MaxObjects=%d", cfg.MaxObjects), func(t *testing.T) { testConcurrentPool(t, cfg) })
	}
}

func testConcurrentPool(t *testing.T, cfg PoolConfig) {
	p, err := NewPool(200, cfg)
	if err != nil {
		t.Fatal(err)
	}
	hammer(t, func(w int, rng *rand.Rand) error {
		var live []held
		for i := 0; i < rounds; i++ {
			if len(live) == window || (len(live) > 0 && rng.IntN(2) == 0) {
				k := rng.IntN(len(live))
				if err := checkFill(live[k].b, live[k].seed); err != nil {
					return err
				}
				p.Put(live[k].b)
				live[k] = live[len(live)-1]
				live = live[:len(live)-1]
				continue
			}
			b := p.Get()
			if len(b) != 200 || cap(b) != 200 {
				return fmt.Errorf("Get: len %d cap %d", len(b), cap(b))
			}
			seed := byte(w*7 + i)
			fill(b, seed)
			live = append(live, held{b, seed})
		}
		for _, h := range live {
			if err := checkFill(h.b, h.seed); err != nil {
				return err
			}
			p.Put(h.b)
		}
		return nil
	})
	if err := p.Close(); err != nil {
		t.Fatal(err)
	}
}

func TestConcurrentArena(t *testing.T) {
	a, err := NewArena(64 << 10)
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	for cycle := 0; cycle < 3; cycle++ {
		var mu sync.Mutex
		var all []held
		hammer(t, func(w int, rng *rand.Rand) error {
			var mine []held
			for i := 0; i < rounds/3; i++ {
				n := 1 + rng.IntN(3000)
				if rng.IntN(100) == 0 {
					n = 100 << 10 // larger than a block
				}
				b := a.Alloc(n)
				seed := byte(w*11 + i + cycle)
				fill(b, seed)
				mine = append(mine, held{b, seed})
			}
			mu.Lock()
			all = append(all, mine...)
			mu.Unlock()
			return nil
		})
		// Every allocation of every goroutine is intact until the Reset.
		for _, h := range all {
			if err := checkFill(h.b, h.seed); err != nil {
				t.Fatal(err)
			}
		}
		if cycle == 1 {
			a.ResetDecommit()
		} else {
			a.Reset()
		}
	}
}

func TestConcurrentBufferPool(t *testing.T) {
	for _, size := range []int{100, 16 << 10} {
		p := NewBufferPool(size)
		hammer(t, func(w int, rng *rand.Rand) error {
			var live []held
			for i := 0; i < rounds; i++ {
				if len(live) == window || (len(live) > 0 && rng.IntN(2) == 0) {
					k := rng.IntN(len(live))
					if err := checkFill(live[k].b, live[k].seed); err != nil {
						return err
					}
					p.Put(live[k].b)
					live[k] = live[len(live)-1]
					live = live[:len(live)-1]
					continue
				}
				b := p.Get()
				if len(b) != size || cap(b) != size {
					return fmt.Errorf("Get: len %d cap %d, want %d", len(b), cap(b), size)
				}
				seed := byte(w*3 + i)
				fill(b, seed)
				live = append(live, held{b, seed})
			}
			for _, h := range live {
				if err := checkFill(h.b, h.seed); err != nil {
					return err
				}
				p.Put(h.b)
			}
			return nil
		})
		if err := p.Close(); err != nil {
			t.Fatal(err)
		}
	}
}

func TestConcurrentMap(t *testing.T) {
	hammer(t, func(w int, rng *rand.Rand) error {
		for i := 0; i < rounds/10; i++ {
			m, err := Map(1 + rng.IntN(5*pageSize))
			if err != nil {
				return err
			}
			seed := byte(w + i)
			fill(m, seed)
			if err := checkFill(m, seed); err != nil {
				return err
			}
			if err := Unmap(m); err != nil {
				return err
			}
		}
		return nil
	})
}

// TestCloseRacingWithUse closes instances while goroutines are using them
// (without touching the memory, which dangles after Close): every call either
// completes or panics with "on a closed ...", and nothing crashes.
func TestCloseRacingWithUse(t *testing.T) {
	for round := 0; round < 5; round++ {
		s, _ := NewSlab(SlabConfig{})
		bp := NewBufferPool(512)
		p, _ := NewPool(64, PoolConfig{})
		started := make(chan struct{}, workers)
		var wg sync.WaitGroup
		errs := make(chan error, workers)
		for w := 0; w < workers; w++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer func() {
					r := recover()
					me, ok := r.(*MisuseError)
					if !ok || !strings.Contains(me.Error(), "on a closed") {
						errs <- fmt.Errorf("goroutine %d: unexpected panic %v", w, r)
					}
				}()
				for i := 0; ; i++ {
					if i == 100 {
						started <- struct{}{}
					}
					switch w % 3 {
					case 0:
						b := s.Alloc(100 + i%1000)
						s.AddRef(b)
						s.DecRef(b)
						s.DecRef(b)
					case 1:
						bp.Put(bp.Get())
					case 2:
						p.Put(p.Get())
					}
				}
			}()
		}
		for w := 0; w < workers; w++ {
			<-started
		}
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
		if err := bp.Close(); err != nil {
			t.Fatal(err)
		}
		if err := p.Close(); err != nil {
			t.Fatal(err)
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Error(err)
		}
	}
}
