// Package allocs is the Go allocators the benchmark commands set against
// each other (burst, frag, gcpressure): Go's make, offheap's Alloc/Free,
// BufferPools and a Slab. Each has every method a command asks of a mode -
// Alloc, Free, what to do after a free phase, how to hand memory back now,
// offheap's decommit counts and a line that says what it is - so that the
// same mode is the same code in every command.
package allocs

import (
	"fmt"
	"os"
	"runtime"
	"runtime/debug"

	"github.com/offheap/offheap/go/offheap"
)

// Allocator is one mode's allocator.
type Allocator interface {
	Alloc(n int) []byte // len n, contents unspecified
	Free(b []byte)      // b exactly as Alloc returned it
	AfterFree()         // called once all of a free phase's buffers are freed
	Scavenge()          // hand every free page back to the OS now
	Decommits() (purges, bytes int64)
	Info() string
	Close() error
}

// Native is make: Free drops the reference and leaves the buffer to the
// garbage collector. After runs after each free phase (runtime.GC, say),
// What says so; Limit is the GOMEMLIMIT set, for Info.
type Native struct {
	After func()
	What  string
	Limit int64
}

func (Native) Alloc(n int) []byte { return make([]byte, n) }
func (Native) Free([]byte)        {}
func (Native) Scavenge()          { debug.FreeOSMemory() }
func (Native) Close() error       { return nil }

// Decommits is -1, -1: Go's scavenger keeps no such count.
func (Native) Decommits() (purges, bytes int64) { return -1, -1 }

func (a Native) AfterFree() {
	if a.After != nil {
		a.After()
	}
}

func (a Native) Info() string {
	s := "make([]byte), " + runtime.Version()
	if a.Limit > 0 {
		s += fmt.Sprintf(", GOMEMLIMIT %.0f MiB", float64(a.Limit)/(1<<20))
	}
	for _, k := range []string{"GOGC", "GODEBUG"} {
		if v := os.Getenv(k); v != "" {
			s += ", " + k + "=" + v
		}
	}
	if a.What != "" {
		s += "; " + a.What
	}
	return s
}

// offheapMode is what every offheap mode shares: the process-wide purge
// policy's counts, Scavenge, and its settings in Info.
type offheapMode struct{}

func (offheapMode) AfterFree() {}
func (offheapMode) Scavenge()  { offheap.Scavenge() }

func (offheapMode) Decommits() (purges, bytes int64) {
	st := offheap.ReadStats()
	return int64(st.Purges), int64(st.DecommittedBytes)
}

func info(api string) string {
	d := "never"
	if pd := offheap.PurgeDelay(); pd >= 0 {
		d = pd.String()
	}
	s := fmt.Sprintf("%s, %s; purge delay %s", api, runtime.Version(), d)
	for _, k := range []string{"OFFHEAP_RETAIN_BYTES", "OFFHEAP_TCACHE_BYTES", "OFFHEAP_DECOMMIT"} {
		if v := os.Getenv(k); v != "" {
			s += fmt.Sprintf(", %s=%s", k, v)
		}
	}
	return s
}

// Offheap is offheap.Alloc / offheap.Free.
type Offheap struct{ offheapMode }

func (Offheap) Alloc(n int) []byte { return offheap.Alloc(n) }
func (Offheap) Free(b []byte)      { offheap.Free(b) }
func (Offheap) Info() string       { return info("offheap.Alloc/Free") }
func (Offheap) Close() error       { return nil }

// Pools keeps one offheap.BufferPool per buffer size, made on first use.
type Pools struct {
	offheapMode
	pools map[int]*offheap.BufferPool
}

func NewPools() *Pools { return &Pools{pools: map[int]*offheap.BufferPool{}} }

func (a *Pools) Alloc(n int) []byte {
	p := a.pools[n]
	if p == nil {
		p = offheap.NewBufferPool(n)
		a.pools[n] = p
	}
	return p.Get()
}

func (a *Pools) Free(b []byte) { a.pools[len(b)].Put(b) }
func (a *Pools) Info() string  { return info("offheap.BufferPool per size, Get/Put") }

func (a *Pools) Close() error {
	for _, p := range a.pools {
		if err := p.Close(); err != nil {
			return err
		}
	}
	return nil
}

// Slab is one offheap.Slab: Alloc gives a refcount of 1, Free is DecRef.
type Slab struct {
	offheapMode
	S    *offheap.Slab
	Desc string // the configuration, for Info
}

func (a *Slab) Alloc(n int) []byte { return a.S.Alloc(n) }
func (a *Slab) Info() string       { return info("offheap.NewSlab(" + a.Desc + ") Alloc/DecRef") }
func (a *Slab) Close() error       { return a.S.Close() }

func (a *Slab) Free(b []byte) {
	if !a.S.DecRef(b) {
		panic(fmt.Sprintf("offheap-slab: DecRef of a buffer (len %d) with refcount 1 did not free it", len(b)))
	}
}
