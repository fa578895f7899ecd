package offheap

// profile.go makes off-heap memory visible to the tools Go users reach for: a
// heap profile in pprof format (go tool pprof), sampled by bytes the way the
// runtime's MemProfileRate samples the Go heap, and the call sites Leaks
// reports.
//
// The unsampled path must cost close to nothing, so it is what the runtime's
// mcache.nextSample is: a per-P byte budget decremented by each allocation's
// size; only the allocation that takes it below zero is sampled, and the
// budget is drawn anew from an exponential distribution whose mean is the
// rate, which makes the sample unbiased in bytes. A sampled allocation records
// its stack (only then; by frame pointers, stack_fp.go) and its address, so that Free can
// take it out of the in-use figures; frees look the address up only when a
// small counting filter says a sampled allocation may live there, so an
// unsampled free costs one load.
//
// Sampled: every allocator - the process-wide one (Alloc, Calloc, TryAlloc,
// MakeSlice, New), Slab, Pool and BufferPool allocations, and Arena
// allocations (Reset and Close drop them). The unsampled cost is the same
// for all: a pinned decrement of the P's budget per allocation, and one load
// of the counting filter per release. A release drops a sample only once the
// allocator accepted it (heap.release): a refused release (a double free, an
// Arena slice given to Free) leaves the live allocation's sample in place.
// Each sample carries its allocator's kind and name (SlabConfig.Name, ...),
// written to the profile as the labels "kind" and "allocator".

import (
	"bytes"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"os"
	"runtime"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unsafe"

	"github.com/google/pprof/profile"
)

// DefaultProfileRate is the sampling rate in force unless SetProfileRate or
// OFFHEAP_PROFILE_RATE says otherwise: one sample per 64 MiB allocated on
// average. That is coarser than the runtime's 512 KiB on purpose: a sample
// costs ~100-250 ns (stack walk, records, and the lookup at Free), while an
// off-heap Alloc+Free of a cached chunk costs ~90 ns at any size - not the
// microseconds a Go-heap allocation of 1 MiB costs - so at 512 KiB nearly
// every large allocation would be sampled and cost 1.5 to 7 times as much
// (bench/RESULTS.md). At 64 MiB the cost is below benchmark noise at every
// size; a program churning 1 GiB/s still gets 16 samples a second.
const DefaultProfileRate = 64 << 20

// profileOff is the budget of a disabled profiler: never reached.
const profileOff = math.MaxInt64 / 2

var profRate atomic.Int64

func init() {
	rate := int64(DefaultProfileRate)
	if v, ok := os.LookupEnv("OFFHEAP_PROFILE_RATE"); ok {
		n, err := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
		if err != nil || n < 0 {
			fmt.Fprintf(os.Stderr, "offheap: OFFHEAP_PROFILE_RATE=%q is not a number of bytes >= 0; using %d\n", v, rate)
		} else {
			rate = n
		}
	}
	SetProfileRate(int(rate))
}

// SetProfileRate sets the heap profile's sampling rate: on average one
// allocation is sampled per rate bytes allocated, as runtime.MemProfileRate
// does for the Go heap. 1 samples every allocation; 0 turns the profiler off
// (and Free stops looking for samples once the last sampled allocation is
// freed). The default is DefaultProfileRate, or the environment's
// OFFHEAP_PROFILE_RATE. Samples taken before a change keep the weight of the
// rate they were taken at. A negative rate is a misuse and panics.
func SetProfileRate(rate int) {
	if rate < 0 {
		panic(misusef("SetProfileRate", 0, "SetProfileRate(%d): the rate is a number of bytes, 0 (off) or more", rate))
	}
	profRate.Store(int64(rate))
	resetBudgets(int64(rate))
}

// ProfileRate returns the sampling rate in force (0: off).
func ProfileRate() int { return int(profRate.Load()) }

// nextSample draws the bytes until the next sample: exponential with mean
// rate, so that every byte is equally likely to be sampled.
func nextSample(rate int64) int64 {
	switch rate {
	case 0:
		return profileOff
	case 1:
		return 0
	}
	return int64(rand.ExpFloat64()*float64(rate)) + 1
}

// profileAlloc accounts an allocation of n bytes at p, made by the
// allocator instance owner, against the calling P's budget and records it
// when the budget runs out. It reports whether p was sampled.
func profileAlloc(p unsafe.Pointer, n int, owner any) bool {
	sample, rate := spend(n)
	if !sample {
		return false
	}
	sampleAlloc(uintptr(p), n, rate, owner)
	return true
}

// maxStack bounds a recorded stack, as the runtime's does.
const maxStack = 32

// profBucket aggregates the samples of one stack and size. Counts are scaled
// to estimates of the real allocations at sampling time.
type profBucket struct {
	stk                   []uintptr
	size                  int
	kind, name            string      // the allocator's (profile labels)
	next                  *profBucket // same hash
	allocObjs, allocBytes float64
	inuseObjs, inuseBytes float64
}

// profRecord is a sampled allocation that is still live.
type profRecord struct {
	b     *profBucket
	scale float64 // estimated allocations this sample stands for
	// gen tells this sample from a later one at the same address: a release
	// reads it before the allocator frees the memory, and forgets the sample
	// only if it is still the one there (sampleGen, forgetSampleIf).
	gen   uint64
	owner any // the allocator instance (*heap, *boundedPool, *arenaAcct)
}

var prof struct {
	mu      sync.Mutex
	buckets map[uint64]*profBucket // by stackHash
	live    map[uintptr]profRecord
	gen     uint64 // the last profRecord.gen handed out
}

// stackHash mixes a stack and a size into a bucket key; buckets compare the
// stack itself, so collisions cost a comparison, never a wrong bucket.
func stackHash(stk []uintptr, size int) uint64 {
	h := uint64(size)*0x9e3779b97f4a7c15 ^ uint64(len(stk))
	for _, pc := range stk {
		h ^= uint64(pc)
		h *= 0xff51afd7ed558ccd
		h ^= h >> 32
	}
	return h
}

// lookupBucket returns the bucket of stk, size and allocator, making it if
// need be (prof.mu held).
func lookupBucket(stk []uintptr, size int, kind, name string) *profBucket {
	h := stackHash(stk, size)
	first := prof.buckets[h]
	for b := first; b != nil; b = b.next {
		if b.size == size && b.kind == kind && b.name == name && slices.Equal(b.stk, stk) {
			return b
		}
	}
	b := &profBucket{stk: slices.Clone(stk), size: size, kind: kind, name: name, next: first}
	prof.buckets[h] = b
	return b
}

// liveHint counts sampled live allocations per address hash: a free whose
// slot is zero has nothing to look up.
var liveHint [4096]atomic.Int32

func hintSlot(p uintptr) *atomic.Int32 { return &liveHint[(p>>4^p>>16)&uintptr(len(liveHint)-1)] }

// sampleAlloc records a sample. The stack starts inside offheap; the frames
// of the package's own code are trimmed when the profile is written
// (userFrames), so that one walk serves every entry point.
func sampleAlloc(p uintptr, n int, rate int64, owner any) {
	kind, name := ownerLabels(owner)
	var pcs [maxStack]uintptr
	stk := pcs[:callers(pcs[:])]
	scale := 1.0
	if rate > 1 {
		// The probability that an allocation of n bytes is sampled is
		// 1-exp(-n/rate); each sample stands for its inverse.
		scale = 1 / -math.Expm1(-float64(n)/float64(rate))
	}
	prof.mu.Lock()
	if prof.buckets == nil {
		prof.buckets = make(map[uint64]*profBucket)
		prof.live = make(map[uintptr]profRecord)
	}
	b := lookupBucket(stk, n, kind, name)
	b.allocObjs += scale
	b.allocBytes += scale * float64(n)
	b.inuseObjs += scale
	b.inuseBytes += scale * float64(n)
	if old, ok := prof.live[p]; ok {
		// A record the free path missed (the memory was released another
		// way, e.g. by Close): it is no longer in use.
		old.b.inuseObjs -= old.scale
		old.b.inuseBytes -= old.scale * float64(old.b.size)
		hintSlot(p).Add(-1)
	}
	prof.gen++
	prof.live[p] = profRecord{b: b, scale: scale, gen: prof.gen, owner: owner}
	hintSlot(p).Add(1)
	prof.mu.Unlock()
}

// sampleGen returns the generation of the sample recorded at p, 0 if none.
// A release reads it before the memory is released and passes it to
// forgetSampleIf once the allocator accepted the release: the sample is
// dropped only if the release was accepted, and only if the memory was not
// handed out (and sampled) again in between. An unsampled address costs one
// load.
func sampleGen(p unsafe.Pointer) uint64 {
	if !maybeSampled(p) {
		return 0
	}
	return lookupGen(uintptr(p))
}

// maybeSampled is sampleGen's filter, which inlines: false when no sample
// can live at p.
func maybeSampled(p unsafe.Pointer) bool { return hintSlot(uintptr(p)).Load() != 0 }

// lookupGen is sampleGen's lookup.
func lookupGen(p uintptr) uint64 {
	prof.mu.Lock()
	gen := prof.live[p].gen
	prof.mu.Unlock()
	return gen
}

// forgetSampleIf drops the sample at p if it is the one of generation gen.
func forgetSampleIf(p uintptr, gen uint64) {
	prof.mu.Lock()
	if r, ok := prof.live[p]; ok && r.gen == gen {
		dropRecord(p, r)
	}
	prof.mu.Unlock()
}

// forgetSample drops the sample at p, whatever its generation (an Arena's
// Reset: the arena's own list names the addresses).
func forgetSample(p uintptr) {
	prof.mu.Lock()
	if r, ok := prof.live[p]; ok {
		dropRecord(p, r)
	}
	prof.mu.Unlock()
}

// forgetOwner drops the samples of an allocator instance whose memory went
// all at once (Slab.Close, Pool.Close).
func forgetOwner(owner any) {
	prof.mu.Lock()
	for p, r := range prof.live {
		if r.owner == owner {
			dropRecord(p, r)
		}
	}
	prof.mu.Unlock()
}

// dropRecord takes the record r at p out of the in-use figures (prof.mu held).
func dropRecord(p uintptr, r profRecord) {
	delete(prof.live, p)
	hintSlot(p).Add(-1)
	r.b.inuseObjs -= r.scale
	r.b.inuseBytes -= r.scale * float64(r.b.size)
}

// sampledStack returns the recorded stack of the live sampled allocation at
// p, or nil.
func sampledStack(p uintptr) []uintptr {
	if hintSlot(p).Load() == 0 {
		return nil
	}
	prof.mu.Lock()
	defer prof.mu.Unlock()
	if r, ok := prof.live[p]; ok {
		return r.b.stk
	}
	return nil
}

// withCallSites fills in the stacks of the sampled allocations among as.
func withCallSites(as []Allocation) []Allocation {
	for i := range as {
		as[i].Stack = sampledStack(as[i].Addr)
	}
	return as
}

// CallSite returns where a sampled allocation was made, as "function
// file:line" of the first caller outside package offheap and outside the
// functions that marked themselves with Helper, or "" if the allocation was
// not sampled (see SetProfileRate; with a rate of 1 every allocation is).
func (a Allocation) CallSite() string {
	helpers := helperNames()
	for _, f := range userFrames(a.Stack) {
		if !inPackage(f.File) && !helpers[f.Function] {
			return fmt.Sprintf("%s %s:%d", f.Function, f.File, f.Line)
		}
	}
	return ""
}

// userFrames expands stk (inlined calls included) and drops the package's
// internal frames at its top, keeping the last of them: the public function
// the user called (offheap.Alloc, Arena.AllocAligned, ...), as the runtime's
// profiles keep runtime.mallocgc.
func userFrames(stk []uintptr) []runtime.Frame {
	var out []runtime.Frame
	frames := runtime.CallersFrames(stk)
	for {
		f, more := frames.Next()
		if f.Function != "" {
			out = append(out, f)
		}
		if !more {
			break
		}
	}
	i := 0
	for i+1 < len(out) && inPackage(out[i].File) && inPackage(out[i+1].File) {
		i++
	}
	return out[i:]
}

// packageDir is the directory of this package's sources, to tell its frames
// from its users' (its own tests count as users).
var packageDir = func() string {
	_, file, _, _ := runtime.Caller(0)
	return file[:strings.LastIndexByte(file, '/')+1]
}()

func inPackage(file string) bool {
	return strings.HasPrefix(file, packageDir) && !strings.HasSuffix(file, "_test.go") &&
		!strings.Contains(file[len(packageDir):], "/")
}

// WriteHeapProfile writes the off-heap heap profile to w in the gzipped
// protocol-buffer format of pprof: sample types alloc_objects, alloc_space,
// inuse_objects and inuse_space (the default), each sample with the stack of
// the goroutine that allocated, a "bytes" label with the allocation's size,
// a "kind" label naming the allocator type (Alloc, Slab, Pool, BufferPool,
// Arena) and, for a named instance, an "allocator" label with its name
// (go tool pprof -tagfocus allocator=NAME). Counts are estimates scaled from the samples, as the runtime's are.
// Read it with go tool pprof, or github.com/google/pprof/profile.
func WriteHeapProfile(w io.Writer) error {
	type snap struct {
		stk                                          []uintptr
		size                                         int
		kind, name                                   string
		allocObjs, allocBytes, inuseObjs, inuseBytes float64
	}
	prof.mu.Lock()
	snaps := make([]snap, 0, len(prof.buckets))
	for _, b := range prof.buckets {
		snaps = append(snaps, snap{b.stk, b.size, b.kind, b.name, b.allocObjs, b.allocBytes, b.inuseObjs, b.inuseBytes})
	}
	prof.mu.Unlock()
	sort.Slice(snaps, func(i, j int) bool { return snaps[i].allocBytes > snaps[j].allocBytes })

	p := &profile.Profile{
		SampleType: []*profile.ValueType{
			{Type: "alloc_objects", Unit: "count"},
			{Type: "alloc_space", Unit: "bytes"},
			{Type: "inuse_objects", Unit: "count"},
			{Type: "inuse_space", Unit: "bytes"},
		},
		DefaultSampleType: "inuse_space",
		PeriodType:        &profile.ValueType{Type: "space", Unit: "bytes"},
		Period:            profRate.Load(),
		TimeNanos:         time.Now().UnixNano(),
		Comments:          []string{"offheap: off-heap allocations (github.com/offheap/offheap)"},
	}
	exe, _ := os.Executable()
	mapping := &profile.Mapping{ID: 1, Start: 0, Limit: math.MaxUint64, File: exe,
		HasFunctions: true, HasFilenames: true, HasLineNumbers: true, HasInlineFrames: true}
	p.Mapping = []*profile.Mapping{mapping}
	type frameKey struct {
		pc   uintptr
		fn   string
		line int
	}
	locs := map[frameKey]*profile.Location{}
	funcs := map[string]*profile.Function{}
	for _, s := range snaps {
		var sl []*profile.Location
		for _, f := range userFrames(s.stk) {
			k := frameKey{f.PC, f.Function, f.Line}
			loc := locs[k]
			if loc == nil {
				fn := funcs[f.Function]
				if fn == nil {
					fn = &profile.Function{ID: uint64(len(p.Function) + 1), Name: f.Function, SystemName: f.Function, Filename: f.File}
					funcs[f.Function] = fn
					p.Function = append(p.Function, fn)
				}
				loc = &profile.Location{ID: uint64(len(p.Location) + 1), Mapping: mapping, Address: uint64(f.PC),
					Line: []profile.Line{{Function: fn, Line: int64(f.Line)}}}
				locs[k] = loc
				p.Location = append(p.Location, loc)
			}
			sl = append(sl, loc)
		}
		labels := map[string][]string{"kind": {s.kind}}
		if s.name != "" {
			labels["allocator"] = []string{s.name}
		}
		p.Sample = append(p.Sample, &profile.Sample{
			Location: sl,
			Value:    []int64{round(s.allocObjs), round(s.allocBytes), round(s.inuseObjs), round(s.inuseBytes)},
			Label:    labels,
			NumLabel: map[string][]int64{"bytes": {int64(s.size)}},
			NumUnit:  map[string][]string{"bytes": {"bytes"}},
		})
	}
	var buf bytes.Buffer
	if err := p.Write(&buf); err != nil {
		return fmt.Errorf("offheap: WriteHeapProfile: %w", err)
	}
	_, err := w.Write(buf.Bytes())
	return err
}

func round(f float64) int64 { return int64(math.Round(max(f, 0))) }
