package offheap

// profile_test.go reads WriteHeapProfile's output with the pprof library, as
// go tool pprof does, and checks that the allocating function shows up with
// the bytes it allocated, and that Free takes them out of inuse_space.

import (
	"bytes"
	"encoding/json"
	"expvar"
	"net/http/httptest"
	"runtime"
	"strings"
	"testing"

	"github.com/google/pprof/profile"
)

// withProfileRate runs the test at rate and restores the previous one.
func withProfileRate(t *testing.T, rate int) {
	old := ProfileRate()
	SetProfileRate(rate)
	t.Cleanup(func() { SetProfileRate(old) })
}

// profileBytes returns alloc_space and inuse_space of the samples whose
// stack holds a function named fn.
func profileBytes(t *testing.T, fn string) (alloc, inuse int64) {
	t.Helper()
	var buf bytes.Buffer
	if err := WriteHeapProfile(&buf); err != nil {
		t.Fatal(err)
	}
	p, err := profile.Parse(&buf)
	if err != nil {
		t.Fatalf("pprof cannot parse the profile: %v", err)
	}
	idx := map[string]int{}
	for i, st := range p.SampleType {
		idx[st.Type] = i
	}
	for _, want := range []string{"alloc_objects", "alloc_space", "inuse_objects", "inuse_space"} {
		if _, ok := idx[want]; !ok {
			t.Fatalf("sample type %s missing: %v", want, p.SampleType)
		}
	}
	for _, s := range p.Sample {
		for _, loc := range s.Location {
			for _, l := range loc.Line {
				if strings.HasSuffix(l.Function.Name, fn) {
					alloc += s.Value[idx["alloc_space"]]
					inuse += s.Value[idx["inuse_space"]]
					goto next
				}
			}
		}
	next:
	}
	return alloc, inuse
}

//go:noinline
func profiledAllocator(n, size int) [][]byte {
	out := make([][]byte, n)
	for i := range out {
		out[i] = Alloc(size)
	}
	return out
}

func TestHeapProfileSeesAllocAndFree(t *testing.T) {
	withProfileRate(t, 1)
	const n, size = 10, 3000
	alloc0, inuse0 := profileBytes(t, "offheap.profiledAllocator") // cumulative: other tests, -count=2
	bufs := profiledAllocator(n, size)
	freed := 0
	t.Cleanup(func() { // a failure must not leave samples to the next run (-count=3)
		for _, b := range bufs[freed:] {
			Free(b)
		}
	})
	alloc, inuse := profileBytes(t, "offheap.profiledAllocator")
	if alloc-alloc0 != n*size || inuse-inuse0 != n*size {
		t.Fatalf("profiledAllocator: alloc_space +%d, inuse_space +%d, want %d each", alloc-alloc0, inuse-inuse0, n*size)
	}
	for _, b := range bufs[:4] {
		Free(b)
		freed++
	}
	alloc, inuse = profileBytes(t, "offheap.profiledAllocator")
	if alloc-alloc0 != n*size || inuse-inuse0 != (n-4)*size {
		t.Fatalf("after 4 frees: alloc_space +%d, inuse_space +%d, want %d and %d", alloc-alloc0, inuse-inuse0, n*size, (n-4)*size)
	}
	// Leaks names the call site of sampled allocations.
	found := false
	for _, l := range Leaks() {
		if l.Addr == sliceAddr(bufs[5]) {
			found = strings.Contains(l.CallSite(), "offheap.profiledAllocator")
			if !found {
				t.Fatalf("Leaks' call site %q does not name profiledAllocator", l.CallSite())
			}
		}
	}
	if !found {
		t.Fatal("a live allocation is missing from Leaks")
	}
	for _, b := range bufs[4:] {
		Free(b)
		freed++
	}
	if _, inuse = profileBytes(t, "offheap.profiledAllocator"); inuse != inuse0 {
		t.Fatalf("inuse_space %d after every Free, want %d as before", inuse, inuse0)
	}
}

//go:noinline
func profiledTyped(a *Arena) (*[512]byte, []uint64) {
	return New[[512]byte](), MakeSliceIn[uint64](a, 10, 100)
}

func TestHeapProfileTypedAndArena(t *testing.T) {
	withProfileRate(t, 1)
	a, err := NewArena(0)
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	alloc0, _ := profileBytes(t, "offheap.profiledTyped") // cumulative: earlier runs (-count=2)
	p, _ := profiledTyped(a)
	alloc, inuse := profileBytes(t, "offheap.profiledTyped")
	if alloc-alloc0 != 512+800 || inuse != 512+800 {
		t.Fatalf("alloc_space %d (+%d) inuse_space %d, want +%d and %d", alloc, alloc-alloc0, inuse, 512+800, 512+800)
	}
	if ls := a.Leaks(); len(ls) != 1 || ls[0].Size != 800 || !strings.Contains(ls[0].CallSite(), "profiledTyped") {
		t.Fatalf("Arena.Leaks = %+v, want one 800-byte allocation from profiledTyped", ls)
	}
	a.Reset()
	Delete(p)
	if _, inuse = profileBytes(t, "offheap.profiledTyped"); inuse != 0 {
		t.Fatalf("inuse_space %d after Delete and Reset, want 0", inuse)
	}
	if len(a.Leaks()) != 0 {
		t.Fatal("Arena.Leaks not empty after Reset")
	}
}

// TestHeapProfileSampled checks that the default rate samples about one
// allocation per rate bytes and scales the estimate back to the truth.
func TestHeapProfileSampled(t *testing.T) {
	withProfileRate(t, 64<<10)
	const n, size = 4000, 4096                                // 16 MiB: ~256 samples
	alloc0, _ := profileBytes(t, "offheap.profiledAllocator") // cumulative: other tests, -count=2
	var bufs [][]byte
	for range n {
		bufs = append(bufs, profiledAllocator(1, size)...)
	}
	alloc, _ := profileBytes(t, "offheap.profiledAllocator")
	if want, got := int64(n*size), alloc-alloc0; got < want/2 || got > want*2 {
		t.Fatalf("estimated alloc_space +%d, want about %d", got, want)
	}
	for _, b := range bufs {
		Free(b)
	}
}

func TestProfileOff(t *testing.T) {
	withProfileRate(t, 0)
	before, _ := profileBytes(t, "offheap.profiledAllocator")
	for _, b := range profiledAllocator(100, 5000) {
		Free(b)
	}
	if after, _ := profileBytes(t, "offheap.profiledAllocator"); after != before {
		t.Fatalf("rate 0 still sampled: alloc_space %d -> %d", before, after)
	}
	mustPanic(t, func() { SetProfileRate(-1) }, "SetProfileRate(-1)")
}

func TestHeapProfileHandler(t *testing.T) {
	withProfileRate(t, 1)
	b := Alloc(100)
	defer Free(b)
	rec := httptest.NewRecorder()
	HeapProfileHandler().ServeHTTP(rec, httptest.NewRequest("GET", "/debug/offheap/heap", nil))
	if rec.Code != 200 {
		t.Fatalf("status %d", rec.Code)
	}
	if _, err := profile.Parse(rec.Body); err != nil {
		t.Fatalf("the handler's profile does not parse: %v", err)
	}
	rec = httptest.NewRecorder()
	HeapProfileHandler().ServeHTTP(rec, httptest.NewRequest("GET", "/debug/offheap/heap?rate=x", nil))
	if rec.Code != 400 {
		t.Fatalf("rate=x: status %d, want 400", rec.Code)
	}
}

func TestPublishExpvar(t *testing.T) {
	if expvar.Get("offheap_test") == nil { // published once per process (-count=2)
		PublishExpvar("offheap_test")
	}
	b := Alloc(1 << 20)
	defer Free(b)
	var st Stats
	if err := json.Unmarshal([]byte(expvar.Get("offheap_test").String()), &st); err != nil {
		t.Fatalf("the published value is not Stats as JSON: %v", err)
	}
	if st.InUseBytes < 1<<20 || st.MappedBytes == 0 {
		t.Fatalf("published stats %+v do not show the 1 MiB allocation", st)
	}
}

//go:noinline
func walkDepth(d int, out *[]string) {
	if d > 0 {
		var pad [256]byte // frames big enough to make the stack grow
		_ = pad
		walkDepth(d-1, out)
		return
	}
	var pcs [64]uintptr
	n := callers(pcs[:])
	frames := runtime.CallersFrames(pcs[:n])
	for {
		f, more := frames.Next()
		*out = append(*out, f.Function)
		if !more {
			break
		}
	}
}

// TestStackWalkMatchesCallers checks the profiler's stack walk on a
// goroutine whose stack has grown (moved) meanwhile: every frame, in order,
// and a stop at the runtime's first frame (goexit).
func TestStackWalkMatchesCallers(t *testing.T) {
	done := make(chan []string)
	go func() {
		var got []string
		walkDepth(40, &got)
		done <- got
	}()
	got := <-done
	var want []string
	for _, f := range got {
		if strings.HasPrefix(f, "runtime.") {
			break
		}
		want = append(want, f)
	}
	// callers itself, walkDepth 41 times, the goroutine's function.
	if len(want) != 43 || !strings.HasSuffix(want[0], "offheap.callers") || !strings.HasSuffix(want[41], "offheap.walkDepth") ||
		!strings.Contains(want[42], "TestStackWalkMatchesCallers") {
		t.Fatalf("walk gave %d frames before the runtime's (%v), want callers, walkDepth x41 and the goroutine", len(want), got)
	}
	if last := got[len(got)-1]; !strings.HasPrefix(last, "runtime.") {
		t.Fatalf("walk ended at %s, want a runtime frame (goexit)", last)
	}
}

// TestStackWalkWithoutVerdicts runs the profiler's stack walk through 24
// functions whose return addresses have no cached verdict (the cache is
// cleared first), more than the walk judges before it gives up: the stack
// must still reach the test, as it must when two of a stack's return
// addresses share a cache slot, where each judgement evicts the other.
func TestStackWalkWithoutVerdicts(t *testing.T) {
	for i := range pcVerdicts {
		pcVerdicts[i].Store(0)
	}
	var got []string
	coldChain01(&got)
	for _, f := range got {
		if strings.Contains(f, "TestStackWalkWithoutVerdicts") {
			return
		}
	}
	t.Fatalf("the walk stopped before the test's frame: %v", got)
}

//go:noinline
func coldChain01(out *[]string) { coldChain02(out) }

//go:noinline
func coldChain02(out *[]string) { coldChain03(out) }

//go:noinline
func coldChain03(out *[]string) { coldChain04(out) }

//go:noinline
func coldChain04(out *[]string) { coldChain05(out) }

//go:noinline
func coldChain05(out *[]string) { coldChain06(out) }

//go:noinline
func coldChain06(out *[]string) { coldChain07(out) }

//go:noinline
func coldChain07(out *[]string) { coldChain08(out) }

//go:noinline
func coldChain08(out *[]string) { coldChain09(out) }

//go:noinline
func coldChain09(out *[]string) { coldChain10(out) }

//go:noinline
func coldChain10(out *[]string) { coldChain11(out) }

//go:noinline
func coldChain11(out *[]string) { coldChain12(out) }

//go:noinline
func coldChain12(out *[]string) { coldChain13(out) }

//go:noinline
func coldChain13(out *[]string) { coldChain14(out) }

//go:noinline
func coldChain14(out *[]string) { coldChain15(out) }

//go:noinline
func coldChain15(out *[]string) { coldChain16(out) }

//go:noinline
func coldChain16(out *[]string) { coldChain17(out) }

//go:noinline
func coldChain17(out *[]string) { coldChain18(out) }

//go:noinline
func coldChain18(out *[]string) { coldChain19(out) }

//go:noinline
func coldChain19(out *[]string) { coldChain20(out) }

//go:noinline
func coldChain20(out *[]string) { coldChain21(out) }

//go:noinline
func coldChain21(out *[]string) { coldChain22(out) }

//go:noinline
func coldChain22(out *[]string) { coldChain23(out) }

//go:noinline
func coldChain23(out *[]string) { coldChain24(out) }

//go:noinline
func coldChain24(out *[]string) { walkDepth(0, out) }
