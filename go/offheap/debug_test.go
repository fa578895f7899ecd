package offheap

// debug_test.go - debug mode seen from Go, the leak report, and the table of
// misuse kinds (RELIABILITY.md) with the messages they produce.
//
// A use after free is undefined by nature, so the tests that commit one run
// it in a child process (this test binary re-run with OFFHEAP_TEST_CHILD set)
// and judge the child's output:
//   - guard mode (DebugGuard): touching a freed buffer of a page or more
//     faults at the guilty access (the child turns the fault into a panic
//     with debug.SetPanicOnFault and prints its address);
//   - a build with -asan: touching a freed small chunk is reported by
//     AddressSanitizer (the core poisons freed memory for ASan); otherwise
//     DebugPoison makes it read as the poison byte 0xdf.

import (
	"fmt"
	"os"
	"os/exec"
	"regexp"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"
	"testing"
	"time"
)

// asanBuild reports whether the test binary was built with -asan.
func asanBuild() bool {
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return false
	}
	for _, s := range bi.Settings {
		if s.Key == "-asan" && s.Value == "true" {
			return true
		}
	}
	return false
}

const childEnv = "OFFHEAP_TEST_CHILD"

// inChild reports whether this process is the child run of the named test.
func inChild(name string) bool { return os.Getenv(childEnv) == name }

// runChild re-runs this test binary for the one test name with the child
// variable set, and returns its combined output and exit error.
func runChild(t *testing.T, name string) (string, error) {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^"+name+"$", "-test.v", "-test.count=1")
	cmd.Env = append(os.Environ(), childEnv+"="+name)
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// withDebug sets the debug level and a purge delay of "never" (freed spans
// stay mapped, so what is measured is the guard, not an unmap) for the test.
func withDebug(t *testing.T, l DebugLevel) {
	t.Helper()
	saved := saveKnobs()
	t.Cleanup(saved.restore)
	if err := SetDebugLevel(l); err != nil {
		t.Fatal(err)
	}
	SetPurgeDelay(-1)
	// A purger pass that began before the change (woken by the previous
	// test's restored knobs, say) still purges with the old delay, and may
	// release a slab this test empties. Scavenge waits for it (both hold the
	// heaps' registry lock); passes after it see "never".
	Scavenge()
}

// guardAllocators are allocators of buffers of a page or more: the
// process-wide one, a Slab (chunks and whole pages), a Pool and a BufferPool.
type guardAllocators struct {
	s  *Slab
	p  *Pool
	bp *BufferPool
}

type guardCase struct {
	name    string
	b       []byte
	release func()
}

func newGuardAllocators(t *testing.T) *guardAllocators {
	s, err := NewSlab(SlabConfig{SlabSize: 256 << 10})
	if err != nil {
		t.Fatal(err)
	}
	p, err := NewPool(2*pageSize, PoolConfig{})
	if err != nil {
		t.Fatal(err)
	}
	g := &guardAllocators{s, p, NewBufferPool(4 * pageSize)}
	t.Cleanup(func() { s.Close(); p.Close(); g.bp.Close() })
	return g
}

const guardKinds = 6

// alloc allocates a buffer of kind i.
func (g *guardAllocators) alloc(i int) guardCase {
	switch i {
	case 0:
		b := Alloc(2 * pageSize)
		return guardCase{"Alloc(2 pages)", b, func() { Free(b) }}
	case 1:
		b := Alloc(3 << 20)
		return guardCase{"Alloc(3 MiB)", b, func() { Free(b) }}
	case 2:
		b := g.s.Alloc(3 * pageSize)
		return guardCase{"Slab.Alloc(3 pages)", b, func() { g.s.DecRef(b) }}
	case 3:
		b := g.s.Alloc(300 << 10) // whole pages in this Slab
		return guardCase{"Slab.Alloc(300 KiB)", b, func() { g.s.DecRef(b) }}
	case 4:
		b := g.p.Get()
		return guardCase{"Pool.Get(2 pages)", b, func() { g.p.Put(b) }}
	default:
		b := g.bp.Get()
		return guardCase{"BufferPool.Get(4 pages)", b, func() { g.bp.Put(b) }}
	}
}

// cases allocates one buffer of each kind.
func (g *guardAllocators) cases() []guardCase {
	var cs []guardCase
	for i := 0; i < guardKinds; i++ {
		cs = append(cs, g.alloc(i))
	}
	return cs
}

var faultLine = regexp.MustCompile(`FAULT (\S+) at 0x([0-9a-f]+) in \[0x([0-9a-f]+), 0x([0-9a-f]+)\)`)

// TestGuardModeFaultsAtTheGuiltyAccess: with DebugGuard, a write to a freed
// buffer of a page or more faults, at an address inside that buffer.
func TestGuardModeFaultsAtTheGuiltyAccess(t *testing.T) {
	const name = "TestGuardModeFaultsAtTheGuiltyAccess"
	if inChild(name) {
		withDebug(t, DebugGuard)
		debug.SetPanicOnFault(true)
		for _, c := range newGuardAllocators(t).cases() {
			clear(c.b)
			c.release()
			addr := func() (addr uintptr) {
				defer func() {
					r := recover()
					if e, ok := r.(interface{ Addr() uintptr }); ok {
						addr = e.Addr()
					} else if r != nil {
						panic(r)
					}
				}()
				c.b[pageSize+8] = 1 // the use after free
				return 0
			}()
			fmt.Printf("FAULT %s at %#x in [%#x, %#x)\n", strings.ReplaceAll(c.name, " ", "_"), addr,
				sliceAddr(c.b), sliceAddr(c.b)+uintptr(len(c.b)))
		}
		return
	}
	out, err := runChild(t, name)
	if asanBuild() && strings.Contains(out, "ERROR: AddressSanitizer") {
		// The core's ASan poisoning saw the access before the guard did:
		// caught as well, at the guilty line.
		if !strings.Contains(out, "use-after-poison") {
			t.Fatalf("ASan report is not a use-after-poison:\n%s", out)
		}
		return
	}
	if err != nil {
		t.Fatalf("child run failed: %v\n%s", err, out)
	}
	found := faultLine.FindAllStringSubmatch(out, -1)
	if len(found) != guardKinds {
		t.Fatalf("want %d FAULT lines, got %d:\n%s", guardKinds, len(found), out)
	}
	for _, m := range found {
		addr, _ := strconv.ParseUint(m[2], 16, 64)
		lo, _ := strconv.ParseUint(m[3], 16, 64)
		hi, _ := strconv.ParseUint(m[4], 16, 64)
		if addr == 0 {
			t.Errorf("%s: a write to the freed buffer did not fault (guard mode)", m[1])
		} else if addr < lo || addr >= hi {
			t.Errorf("%s: the fault was at %#x, outside the freed buffer [%#x, %#x)", m[1], addr, lo, hi)
		}
	}
}

// TestGuardModeBuffersWorkAgainWhenReused: guarded buffers handed out again
// by the same allocators are fully usable, in guard mode and after it is
// switched off (when the Go caches take them from the core in batches, so
// the freed one may come back only after a batch's worth of others). Each
// kind is allocated until its freed buffer has come back; a write to one
// still guarded would crash the test binary.
func TestGuardModeBuffersWorkAgainWhenReused(t *testing.T) {
	// One P: with debug off the Go caches hand out chunks of the slabs their
	// P's owner adopted, and a goroutine that changed Ps mid-loop (a loaded
	// machine: CI ran valgrind beside it) looked for the freed buffer in the
	// other P's slabs, never the one whose owner adopted its slab.
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(1))
	for _, off := range []bool{false, true} {
		withDebug(t, DebugGuard)
		g := newGuardAllocators(t)
		first := g.cases()
		// A second buffer of each kind keeps the first one's slab in use, so
		// that no purge gives the slab's memory to another allocator before
		// the loop below looks for the freed buffer: not a pass of the
		// purger's begun before the delay changed, nor the janitor's purge
		// of a BufferPool's idle slabs on a period it chose before then.
		neighbours := g.cases()
		for _, c := range first {
			c.release()
		}
		if off {
			SetDebugLevel(DebugOff)
		}
		for i, f := range first {
			var held []guardCase
			found := false
			for n := 0; n < 4096 && !found; n++ {
				c := g.alloc(i)
				found = sliceAddr(c.b) == sliceAddr(f.b)
				fill(c.b, byte(n))
				if err := checkFill(c.b, byte(n)); err != nil {
					t.Fatalf("%s (debug off %v): %v", c.name, off, err)
				}
				held = append(held, c)
			}
			for _, c := range held {
				c.release()
			}
			// With the caches in front (debug off), the process-wide
			// allocator's caches may prefer slabs of their own to the one
			// holding the freed chunk, other tests' slabs included: the
			// chunks they hand out were still written above.
			if !found && !(off && i == 0) {
				t.Fatalf("debug off %v: the freed %s at %#x was not handed out again in 4096 allocations", off, f.name, sliceAddr(f.b))
			}
		}
		for _, c := range neighbours {
			c.release()
		}
	}
}

// TestUseAfterFreeOfASmallChunkIsVisible: a freed chunk smaller than a page
// cannot be guarded, but reading it is not silent either: ASan reports it in
// an -asan build (the core poisons freed chunks for ASan, and the Go caches
// keep that poisoning); otherwise DebugPoison makes it read as 0xdf.
func TestUseAfterFreeOfASmallChunkIsVisible(t *testing.T) {
	const name = "TestUseAfterFreeOfASmallChunkIsVisible"
	if inChild(name) {
		if !asanBuild() {
			withDebug(t, DebugPoison)
		}
		s, err := NewSlab(SlabConfig{})
		if err != nil {
			t.Fatal(err)
		}
		for _, c := range []struct {
			name    string
			b       []byte
			release func([]byte)
		}{
			{"Alloc(100)", Alloc(100), Free},
			{"Slab.Alloc(300)", s.Alloc(300), func(b []byte) { s.DecRef(b) }},
		} {
			keep := Alloc(100) // the slab stays in use
			fill(c.b, 0x5a)
			c.release(c.b)
			v := c.b[40] // the use after free
			fmt.Printf("READ %s %#x\n", strings.ReplaceAll(c.name, " ", "_"), v)
			Free(keep)
		}
		return
	}
	out, err := runChild(t, name)
	if asanBuild() {
		if err == nil || !strings.Contains(out, "ERROR: AddressSanitizer") || !strings.Contains(out, "use-after-poison") {
			t.Fatalf("-asan build: a read of a freed 100-byte chunk was not reported by AddressSanitizer "+
				"(the core does not poison freed chunks for ASan, or the Go caches hand them out unpoisoned); child output:\n%s", out)
		}
		return
	}
	if err != nil {
		t.Fatalf("child run failed: %v\n%s", err, out)
	}
	reads := regexp.MustCompile(`READ (\S+) (0x[0-9a-f]+)`).FindAllStringSubmatch(out, -1)
	if len(reads) != 2 {
		t.Fatalf("want 2 READ lines:\n%s", out)
	}
	for _, r := range reads {
		if r[2] != "0xdf" {
			t.Errorf("%s: a freed chunk reads %s in debug mode, not the poison 0xdf", r[1], r[2])
		}
	}
}

// TestLeaksOfPoolsAndTheProcessWideAllocator: Pool.Leaks (bounded and not)
// and Leaks list what is out, not what was put back, and a closed Slab's or
// Pool's Leaks is a misuse.
func TestLeaksOfPoolsAndTheProcessWideAllocator(t *testing.T) {
	for _, max := range []int{0, 10} {
		p, err := NewPool(100, PoolConfig{MaxObjects: max})
		if err != nil {
			t.Fatal(err)
		}
		a, b := p.Get(), p.Get()
		p.Put(b)
		l := p.Leaks()
		if len(l) != 1 || l[0].Addr != sliceAddr(a) || l[0].Size < 100 || l[0].RefCount != 1 || l[0].Class != 0 {
			t.Fatalf("Pool(MaxObjects %d).Leaks() = %+v, want just %#x", max, l, sliceAddr(a))
		}
		p.Put(a)
		if l := p.Leaks(); len(l) != 0 {
			t.Fatalf("Pool.Leaks() after everything was put back = %+v", l)
		}
		p.Close()
		mustPanic(t, func() { p.Leaks() }, "Pool.Leaks on a closed Pool")
	}
	x := Alloc(12345)
	found := false
	for _, l := range Leaks() {
		if l.Addr == sliceAddr(x) {
			found = l.Size >= 12345 && l.RefCount == 1
		}
	}
	if !found {
		t.Fatalf("Leaks() does not list a live Alloc(12345) at %#x as such", sliceAddr(x))
	}
	Free(x)
	for _, l := range Leaks() {
		if l.Addr == sliceAddr(x) {
			t.Fatalf("Leaks() lists the freed %#x", sliceAddr(x))
		}
	}
	s, _ := NewSlab(SlabConfig{})
	s.Close()
	mustPanic(t, func() { s.Leaks() }, "Slab.Leaks on a closed Slab")
}

type misuseKind struct {
	kind, want string // what is tried; what the message must say
	f          func()
}

// misuseKinds are the misuse kinds of RELIABILITY.md's table.
func misuseKinds(t *testing.T) []misuseKind {
	s, _ := NewSlab(SlabConfig{})
	other, _ := NewSlab(SlabConfig{})
	t.Cleanup(func() { s.Close(); other.Close() })
	live := Alloc(64)
	t.Cleanup(func() { Free(live) })
	freed := Alloc(64) // freed last: nothing below reuses it
	Free(freed)
	sb := s.Alloc(64)
	t.Cleanup(func() { s.DecRef(sb) })
	dec := s.Alloc(64)
	s.DecRef(dec)
	closed, _ := NewSlab(SlabConfig{})
	cb := closed.Alloc(64)
	closed.Close()
	pool, _ := NewPool(64, PoolConfig{})
	pool.Close()
	arena, _ := NewArena(0)
	arena.Close()
	bp := NewBufferPool(64)
	bp.Close()
	goSlice := make([]byte, 64)
	return []misuseKind{
		{"double free (Free)", "double Free", func() { Free(freed) }},
		{"double free (Slab.DecRef: count below zero)", "reference count below zero", func() { s.DecRef(dec) }},
		{"AddRef after free", "use after free", func() { s.AddRef(dec) }},
		{"foreign Go-heap slice (Free)", "not allocated by offheap", func() { Free(goSlice) }},
		{"foreign Go-heap slice (Slab.DecRef)", "not allocated by offheap", func() { s.DecRef(goSlice) }},
		{"interior pointer (Free)", "interior slice", func() { Free(live[16:]) }},
		{"interior pointer (Slab.DecRef)", "interior slice", func() { s.DecRef(sb[1:]) }},
		{"other Slab's buffer (DecRef)", "belongs to another allocator than this Slab", func() { other.DecRef(sb) }},
		{"Slab buffer to Free", "belongs to another allocator than offheap.Alloc", func() { Free(sb) }},
		{"use after Close (Slab.Alloc)", "Slab.Alloc on a closed Slab", func() { closed.Alloc(1) }},
		{"use after Close (Slab.DecRef)", "Slab.DecRef on a closed Slab", func() { closed.DecRef(cb) }},
		{"use after Close (Pool.Get)", "Pool.Get on a closed Pool", func() { pool.Get() }},
		{"use after Close (Arena.Alloc)", "Arena.Alloc on a closed Arena", func() { arena.Alloc(1) }},
		{"use after Close (BufferPool.Get)", "BufferPool.Get on a closed BufferPool", func() { bp.Get() }},
		{"nil slice (Free)", "Free of a nil slice", func() { Free(nil) }},
	}
}

// TestMisuseTable runs every misuse kind with the Go caches in front (debug
// off) and without them (debug on): each must panic with a *MisuseError whose
// message names the misuse. `go test -v -run TestMisuseTable` prints the
// messages RELIABILITY.md quotes.
func TestMisuseTable(t *testing.T) {
	for _, l := range []DebugLevel{DebugOff, DebugPoison, DebugGuard} {
		withDebug(t, l)
		for _, m := range misuseKinds(t) {
			msg := panicMessage(t, m.f)
			if !strings.Contains(msg, m.want) {
				t.Errorf("debug %d, %s: message %q does not contain %q", l, m.kind, msg, m.want)
			}
			if l == DebugOff {
				t.Logf("%-45s -> %s", m.kind, msg)
			}
		}
	}
}

// TestDebugModeKeepsTheModel runs the fuzz model (fuzz_test.go) with each
// debug level pinned: poisoning and guarding must not change what live
// buffers hold nor what the statistics say.
func TestDebugModeKeepsTheModel(t *testing.T) {
	for _, l := range []DebugLevel{DebugPoison, DebugGuard} {
		withDebug(t, l)
		SetPurgeDelay(time.Millisecond)
		fx, err := newFixture()
		if err != nil {
			t.Fatal(err)
		}
		w, err := newWorker(fx, newRandSource(uint64(l)+40), 0, true, false)
		if err != nil {
			t.Fatal(err)
		}
		for i := 0; i < 3000 && w.err == nil; i++ {
			w.step()
			if CurrentDebugLevel() != l {
				SetDebugLevel(l) // the worker toggles options now and then
			}
		}
		if err := w.finish(); err != nil {
			t.Fatalf("debug level %d: %v", l, err)
		}
		if err := fx.close(); err != nil {
			t.Fatal(err)
		}
	}
}
