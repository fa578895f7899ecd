package offheap

// memlimit.go keeps the Go runtime's memory and offheap's inside one budget.
//
// GOMEMLIMIT counts only the Go runtime's memory: a program that moves its
// gigabytes off the Go heap lets the heap grow to GOMEMLIMIT as if they did
// not exist, and the container's limit kills it. SetMemoryLimit(L) (or
// OFFHEAP_MEMORY_LIMIT) makes L the budget of both:
//
//  1. Go's own limit follows L - offheap's committed bytes
//     (debug.SetMemoryLimit), never below goLimitFloor(L), never above what
//     it was before. The core counts committed bytes exactly and cuts L into
//     steps of L/64 (at least 1 MiB); a goroutine parked in the core
//     (oh_memory_wait, on its own thread) wakes when a step is crossed - no
//     call on any Alloc/Free path - and sets Go's limit from the committed
//     bytes rounded up to the step. It also wakes every followPeriod to tell
//     the core how much memory the Go runtime uses (the "external" bytes of
//     the total).
//  2. The core purges its free memory at once, not after the purge delay,
//     when the committed bytes come within two steps of the limit.
//  3. TryAlloc, Slab.TryAlloc, Pool.TryGet and Map refuse an allocation that
//     would take the total (Go runtime + offheap committed + allocations in
//     flight) past L once free memory is purged, with an error wrapping
//     ErrOutOfMemory that names the limit, the total and the request. The
//     request is reserved in the core before the allocation and given back
//     after it, so concurrent callers never pass on one stale total: the
//     total exceeds L by at most what one allocation commits beyond its
//     request (a per-P cache refill or the rest of a slab) per P.
//     Alloc, Calloc, MakeSlice, New, Slab.Alloc, Pool.Get, Arena and
//     BufferPool stay soft: they succeed past L, as Go's heap does past
//     GOMEMLIMIT, so no program starts panicking because it set a limit.
//     The check counts the whole request even when a free chunk already
//     committed would serve it: near the limit, a cache that evicts on
//     refusal frees a little more than it strictly must.
//
// Without a limit (the default) nothing here runs: Go's limit is never
// touched, and the error-returning calls pay one atomic load.

import (
	"fmt"
	"math"
	"runtime/debug"
	"runtime/metrics"
	"sync"
	"sync/atomic"
	"time"

	"github.com/offheap/offheap/bindings"
)

const (
	// NoMemoryLimit is SetMemoryLimit's "no limit" (math.MaxInt64, as for
	// debug.SetMemoryLimit).
	NoMemoryLimit = math.MaxInt64

	// followPeriodMS is how often the follower refreshes the Go runtime's
	// memory in the core's total when no step is crossed: a metrics read
	// (~1 us) ten times a second. A refusal refreshes it first anyway.
	followPeriodMS = 100

	// goFloorMin and goFloorDiv make Go's limit never go below
	// max(L/goFloorDiv, goFloorMin) (nor above L): past that the collector
	// would run back to back trying to make room that offheap holds.
	goFloorMin = 32 << 20
	goFloorDiv = 10

	// refreshMinNS spaces the refreshes of the Go runtime's memory that
	// refusals make.
	refreshMinNS = 10e6

	// maxCoreLimit is the largest limit the core takes (OHI_MEMLIMIT_MAX).
	maxCoreLimit = 1 << 62
)

var memLimit struct {
	mu    sync.Mutex   // SetMemoryLimit
	limit atomic.Int64 // NoMemoryLimit: none

	prevGo int64         // Go's limit when offheap took it over
	stop   chan struct{} // closed to stop the follower
	done   chan struct{} // closed by the follower when it stops

	refreshed atomic.Int64 // nanotime of a refusal's last refresh

	followMu sync.Mutex // one follow at a time
	goLimit  int64      // last value given to debug.SetMemoryLimit (followMu)
	samples  []metrics.Sample
}

func init() {
	memLimit.limit.Store(NoMemoryLimit)
	memLimit.samples = []metrics.Sample{
		{Name: "/memory/classes/total:bytes"},
		{Name: "/memory/classes/heap/released:bytes"},
	}
	// OFFHEAP_MEMORY_LIMIT, read by the core's options table.
	if l := bindings.OptionGet(bindings.OptMemoryLimit); l >= 0 {
		SetMemoryLimit(l)
	}
}

// SetMemoryLimit sets a soft limit on the process's total memory - the Go
// runtime's memory (what GOMEMLIMIT counts) plus offheap's committed bytes -
// and returns the previous limit. Shaped like debug.SetMemoryLimit: a
// negative limit only reads the current one; NoMemoryLimit (math.MaxInt64,
// the default) means no limit, and Go's own limit goes back to what it was
// before offheap took it over.
//
// While a limit L is set, Go's own limit follows L - offheap's committed
// bytes in steps of L/64, never below max(L/10, 32 MiB) nor above the limit
// Go had before; offheap decommits free memory at once as the total nears
// L; and TryAlloc, Slab.TryAlloc, Pool.TryGet and Map return an error
// wrapping ErrOutOfMemory instead of taking the total past L. Alloc and the
// other panicking calls stay soft: they succeed past L, as the Go heap
// grows past GOMEMLIMIT. Changing Go's limit with debug.SetMemoryLimit while
// offheap holds it has no lasting effect.
//
// The environment variable OFFHEAP_MEMORY_LIMIT sets it at start-up: a size
// with a unit (2GiB, 1536MiB, 1.5GiB, 512M or bytes), none, or auto - the
// cgroup's memory limit (v2 memory.max, v1 memory.limit_in_bytes, the
// smallest up the hierarchy) less 10% headroom for thread stacks, C memory
// and page cache, or no limit when there is none. A bad value is reported on
// standard error and sets no limit. SetMemoryLimit may be called from any
// goroutine.
func SetMemoryLimit(limit int64) int64 {
	if limit < 0 {
		return memLimit.limit.Load()
	}
	m := &memLimit
	m.mu.Lock()
	defer m.mu.Unlock()
	prev := m.limit.Load()
	if limit == NoMemoryLimit {
		if prev != NoMemoryLimit {
			m.limit.Store(NoMemoryLimit)
			close(m.stop)
			bindings.OptionSet(bindings.OptMemoryLimit, -1) // wakes the follower
			<-m.done
			bindings.SetExternalMemory(0)
			debug.SetMemoryLimit(m.prevGo)
		}
		return prev
	}
	core := min(limit, maxCoreLimit)
	// Go's Alloc stays soft: the core leaves refusal to the calls here.
	bindings.OptionSet(bindings.OptMemoryLimitSoft, 1)
	if prev == NoMemoryLimit {
		m.prevGo = debug.SetMemoryLimit(-1)
		m.goLimit = m.prevGo
		m.stop, m.done = make(chan struct{}), make(chan struct{})
	}
	m.limit.Store(limit)
	if e := bindings.OptionSet(bindings.OptMemoryLimit, core); e != bindings.OK {
		panic(fmt.Sprintf("offheap: internal error: the core refused a memory limit of %d bytes: %v", core, e))
	}
	followMemory()
	if prev == NoMemoryLimit {
		go follower(m.stop, m.done)
	}
	return prev
}

// follower keeps Go's limit in line while a limit is set.
func follower(stop <-chan struct{}, done chan<- struct{}) {
	defer close(done)
	var st bindings.MemoryStatus
	bindings.ReadMemoryStatus(&st)
	seq := st.Seq
	for {
		seq = bindings.MemoryWait(seq, followPeriodMS)
		select {
		case <-stop:
			return
		default:
		}
		followMemory()
	}
}

// goRuntimeMemory is what GOMEMLIMIT counts: the Go runtime's mapped memory
// less the heap memory it released to the OS. followMu held.
func goRuntimeMemory() uint64 {
	s := memLimit.samples
	metrics.Read(s)
	total, released := s[0].Value.Uint64(), s[1].Value.Uint64()
	if released > total {
		return 0
	}
	return total - released
}

// goLimitFloor is the lowest Go limit offheap sets under a limit of l.
func goLimitFloor(l int64) int64 { return min(l, max(l/goFloorDiv, goFloorMin)) }

// followMemory tells the core the Go runtime's memory and sets Go's limit
// from offheap's committed bytes, rounded up to the step.
func followMemory() {
	m := &memLimit
	m.followMu.Lock()
	defer m.followMu.Unlock()
	l := m.limit.Load()
	if l == NoMemoryLimit {
		return
	}
	bindings.SetExternalMemory(goRuntimeMemory())
	var st bindings.MemoryStatus
	bindings.ReadMemoryStatus(&st)
	committed := st.Committed
	if st.Step != 0 {
		committed = (committed + st.Step - 1) / st.Step * st.Step
	}
	target := goLimitFloor(l)
	if committed < uint64(l) {
		target = max(target, l-int64(committed))
	}
	target = min(target, m.prevGo)
	if target != m.goLimit {
		debug.SetMemoryLimit(target)
		m.goLimit = target
	}
}

// memAdmit reserves n bytes of the budget for an error-returning allocation
// (op names it in the error); memSettle gives them back once the allocation
// is made (its pages then count as committed) or failed.
func memAdmit(op string, n int) (reserved bool, err error) {
	if memLimit.limit.Load() == NoMemoryLimit || n <= 0 {
		return false, nil
	}
	r, e := bindings.MemoryReserve(uintptr(n))
	if e == bindings.OK {
		return r, nil
	}
	// The Go runtime may have released memory since the follower looked:
	// look again (at most every refreshMinNS: a cache that evicts on each
	// refusal must not pay a metrics read per insert).
	if now := nanotime(); now-memLimit.refreshed.Load() > refreshMinNS {
		memLimit.refreshed.Store(now)
		followMemory()
		if r, e = bindings.MemoryReserve(uintptr(n)); e == bindings.OK {
			return r, nil
		}
	}
	var st bindings.MemoryStatus
	bindings.ReadMemoryStatus(&st)
	total := st.Committed + st.External + st.Reserved
	return false, fmt.Errorf("offheap: %s(%d): memory limit of %s reached: total %s (offheap %s + Go runtime %s + in flight %s) + request %s: %w",
		op, n, sizeString(uint64(st.Limit)), sizeString(total), sizeString(st.Committed), sizeString(st.External),
		sizeString(st.Reserved), sizeString(uint64(n)), ErrOutOfMemory)
}

var clockStart = time.Now()

func nanotime() int64 { return int64(time.Since(clockStart)) }

func memSettle(reserved bool, n int) {
	if reserved {
		bindings.MemoryUnreserve(uintptr(n))
	}
}

// sizeString prints bytes exactly and, from a KiB on, in the largest binary
// unit: "1610612736 B (1.50 GiB)".
func sizeString(n uint64) string {
	units := []string{"KiB", "MiB", "GiB", "TiB"}
	if n < 1<<10 {
		return fmt.Sprintf("%d B", n)
	}
	u, v := 0, float64(n)/1024
	for v >= 1024 && u < len(units)-1 {
		v /= 1024
		u++
	}
	return fmt.Sprintf("%d B (%.2f %s)", n, v, units[u])
}

// memoryTotals are ReadStats' figures of the budget.
func memoryTotals() (limit int64, total, goBytes uint64) {
	var st bindings.MemoryStatus
	bindings.ReadMemoryStatus(&st)
	limit = memLimit.limit.Load()
	goBytes = st.External
	if limit == NoMemoryLimit { // nobody refreshes the external figure
		memLimit.followMu.Lock()
		goBytes = goRuntimeMemory()
		memLimit.followMu.Unlock()
	}
	return limit, st.Committed + goBytes, goBytes
}
