// Package offheap allocates byte slices outside the Go heap, from a small C
// allocator core (compiled in through cgo), with explicit lifetimes and idle
// memory handed back to the operating system.
//
// Memory held here is invisible to the garbage collector: it does not raise
// the heap target, is never scanned, and is never zeroed behind your back. That
// is the point - a program holding gigabytes of buffers keeps a small GC heap -
// and also the danger: you free what you allocate, exactly once.
//
// # What there is
//
//   - Alloc, Calloc, TryAlloc, Free: the process-wide allocator.
//   - MakeSlice, FreeSlice: typed slices of pointer-free element types;
//     New, Delete: single values; NewIn, MakeSliceIn: values whose lifetime
//     is an Arena's (the API of Go's arena experiment).
//   - Slab: an allocator instance with per-allocation reference counts
//     (AddRef, DecRef), like go-slab but safe for concurrent use, with
//     go-slab's whole method set under its names: Owns, chains (SetNext,
//     GetNext) and Loc handles (BufToLoc, LocToBuf, LocAddRef, LocDecRef,
//     NilLoc, Loc.IsNil, Loc.Slice) that hold no Go pointer, so they can be
//     kept in off-heap memory; every use of a Loc is checked, and a stale or
//     foreign one panics.
//   - Pool: fixed-size objects, growing on demand, with an optional bound.
//   - Arena: bump allocation; Reset frees everything at once.
//   - Map, Unmap: raw page mappings.
//   - BufferPool: a sync.Pool-like pool of equal-sized buffers that keeps
//     idle buffers off-heap and decommits them once idle; SyncPool (Get
//     returns []byte) and SyncPoolPtr (Get returns *[]byte, no allocation)
//     adapt it to code written against sync.Pool.
//   - ReadStats, Scavenge, SetPurgeDelay, SetDebug: figures and knobs;
//     SetMemoryLimit: one budget for the Go runtime and offheap (below).
//   - Owns, Stats and Leaks on every allocator: offheap itself (Owns,
//     ReadStats, Leaks), Slab, Pool, BufferPool and Arena.
//   - WriteHeapProfile, HeapProfileHandler, SetProfileRate: a heap profile of
//     off-heap memory for go tool pprof (alloc_objects, alloc_space,
//     inuse_objects, inuse_space, with the allocating stacks), sampled by
//     bytes like runtime.MemProfileRate, one sample per 64 MiB by default;
//     Allocation.CallSite names where a sampled leak was allocated (Helper
//     marks a wrapper so that its caller is named instead). Every allocator
//     is sampled.
//   - Names: SlabConfig.Name, PoolConfig.Name, NewBufferPoolNamed and
//     NewArenaNamed name an instance; the name is on its Leaks entries
//     (Allocation.Name), its Stats, ReadStats().Instances and its profile
//     samples (label "allocator").
//   - PublishExpvar: ReadStats as JSON through expvar. (Importing offheap
//     imports expvar, which registers /debug/vars on http.DefaultServeMux.)
//
// Everything is safe for concurrent use by multiple goroutines.
//
// offheap is not async-signal-safe (its C core is not): do not call into
// offheap from a C signal handler (a handler that allocates can deadlock on a
// lock its own thread holds, or get one chunk handed out twice). Go's own
// signal handling (os/signal) delivers on a channel and is fine.
//
// # Rules
//
//  1. Never store Go pointers in off-heap memory. The garbage collector does not
//     see them, so the objects they point to can be freed while still
//     referenced. This covers pointers, strings, slices, maps, channels,
//     functions and interfaces, also inside structs and arrays. MakeSlice
//     refuses such element types; for []byte it is up to you.
//  2. A slice dangles after it is freed (Free, the DecRef that frees it,
//     Pool.Put, BufferPool.Put, Arena.Reset or Close, Unmap). Using it then
//     reads or corrupts memory that may already belong to someone else. Drop
//     every copy of the slice header when you free it.
//  3. Slices are handed out with cap == len. Appending past len therefore
//     always reallocates on the Go heap instead of writing into a neighbouring
//     allocation; the appended-to slice is then a Go slice, and freeing it is
//     reported as a misuse.
//  4. Free (DecRef, Put, Unmap) takes the slice as it was handed out, or any
//     slice that starts at the same byte (b[:k] is fine, b[1:] is not). An
//     empty slice of capacity zero identifies nothing and is refused.
//  5. Alloc(0), MakeSlice(0), Slab.Alloc(0), Arena.Alloc(0) and Map(0) return
//     a non-nil empty slice that owns no memory; freeing it does nothing.
//
// # Misuse is loud
//
// Freeing a slice that offheap did not allocate (a Go-heap slice, a stack
// array, C memory), an interior slice, a slice from another Slab, Pool or
// BufferPool, a double free, a reference count taken below zero, and any use of
// a Slab, Pool, Arena or BufferPool after Close panic with a *MisuseError whose
// message names the misuse and the address, for example
//
//	offheap: Free of a slice not allocated by offheap (0xc000123000, len 64)
//
// Ownership is decided from the allocator's own tables, never by reading the
// memory in question, so a wrong pointer cannot crash or corrupt the allocator.
// (A stale slice whose memory has already been handed out again is, as in any
// allocator, indistinguishable from the new owner's.)
//
// Running out of memory is an error wrapping ErrOutOfMemory where the signature
// has an error (TryAlloc, NewSlab, Map, ...) and a panic with such an error
// otherwise.
//
// # Idle memory goes back to the OS
//
// Freed memory stays committed for a while (the purge delay, one second by
// default; OFFHEAP_PURGE_DELAY_MS or SetPurgeDelay) so that churn does not pay
// for page faults, then it is decommitted: the resident set size falls while
// the address space stays reserved. Scavenge does it now.
//
// # Cost
//
// A cgo call costs about as much as the allocation itself, so allocations up
// to OFFHEAP_TCACHE_BYTES (1 MiB by default: every size class of the default
// slab size) and their releases are served from per-P caches on the Go side
// that talk to the C core in batches: steady-state Alloc/Free,
// Slab.Alloc/AddRef/DecRef and Get/Put of an unbounded Pool and of a
// BufferPool make no cgo call, take no lock and make no Go allocation, and an
// Arena makes one call per block, not per allocation. The checks above still
// run on every release: the caches classify the slice through the core's own
// tables (the same protocol the core uses, c/src/chunk.h) and claim it with
// one compare-and-swap, so that a double Put panics even when two goroutines
// race. That compare-and-swap and the table walk are most of what separates a
// BufferPool Get+Put (about 30 ns on one goroutine) from a sync.Pool Get+Put
// (about 14 ns), which checks nothing; an Alloc+Free costs 37-48 ns up to
// 1 MiB, where make costs about 60 ns at 64 bytes and microseconds from a few
// KiB up, a Slab Alloc+DecRef 38-57 ns, an Arena allocation about 23 ns
// (bench/RESULTS.md, "Go API without a mutex"; a loaded 2-core machine). Larger
// sizes are one call each. Debug mode, -asan builds and builds with the
// offheap_shared tag (which cannot see the core's tables) make one call per
// operation.
//
// A Slab, Pool or BufferPool that becomes unreachable without Close returns
// its cached memory, and all of it if nothing allocated from it is still live.
// An Arena is only ever released by Close.
//
// # Debug mode
//
// SetDebugLevel (OFFHEAP_DEBUG) makes a use after free visible: freed memory
// is poisoned (0xdf) and verified when it is handed out again (a write after
// free is reported with the address and the first modified offset, on
// standard error and through DebugReports, whether debug mode was switched on
// by OFFHEAP_DEBUG or at run time by SetDebug), and freed
// buffers of a page or more are made inaccessible until they are handed out
// again, so a use after free of them faults at the guilty line (level 1 and
// guard mode alike). Arenas are covered too: Reset poisons what the arena
// handed out, and in guard mode the pages of the blocks it keeps fault until
// the arena hands them out again.
//
// # One memory budget for Go and off-heap memory
//
// GOMEMLIMIT counts only the Go runtime's memory, so a program that moved its
// gigabytes off the Go heap loses the knob that keeps it inside its
// container: the Go heap grows to GOMEMLIMIT as if the off-heap bytes did not
// exist. SetMemoryLimit(L) - or OFFHEAP_MEMORY_LIMIT=2GiB, or =auto for the
// cgroup's limit less 10% - makes L the budget of both:
//
//   - Go's own limit follows L minus offheap's committed bytes
//     (debug.SetMemoryLimit), in steps of L/64, never below max(L/10, 32 MiB);
//     it goes back to what it was when the limit is lifted (NoMemoryLimit).
//     A goroutine parked in the core wakes on each step crossed: nothing is
//     added to Alloc or Free.
//   - As the total nears L, offheap decommits its free memory at once rather
//     than after the purge delay.
//   - TryAlloc, Slab.TryAlloc, Pool.TryGet and Map refuse what would take the
//     total past L (after purging) with an error wrapping ErrOutOfMemory that
//     names the limit, the total and the request: a cache evicts on that
//     error. Alloc and the panicking calls stay soft and succeed past L, as
//     the Go heap does past GOMEMLIMIT.
//   - ReadStats reports MemoryLimit, TotalBytes and GoRuntimeBytes (and so
//     does PublishExpvar).
//
// With no limit set (the default) Go's limit is never touched. See
// bench/memlimit for a cache under a 1.5 GiB budget three ways.
//
// # Environment
//
// The C core reads OFFHEAP_PURGE_DELAY_MS, OFFHEAP_DEBUG, OFFHEAP_DECOMMIT,
// OFFHEAP_TCACHE_BYTES, OFFHEAP_LARGE_CACHE_BYTES, OFFHEAP_RETAIN_BYTES,
// OFFHEAP_SEGMENT_CACHE_BYTES, OFFHEAP_HUGEPAGES, OFFHEAP_PAGE_RUNS and
// OFFHEAP_MEMORY_LIMIT once at start up; see c/include/offheap.h. The Go
// package reads OFFHEAP_PROFILE_RATE (the
// heap profile's bytes per sample; 0 = off, 1 = every allocation).
//
// # Building
//
// A C compiler is all that is needed: the C sources are compiled by cgo. With
// the build tag offheap_shared an installed liboffheap is linked through
// pkg-config instead (make install; see README.md), and the binding checks at
// start-up that the library's ABI version is the one it was written for.
//
// The package needs cgo and has no pure-Go fallback: the memory it hands out
// comes from the C core, and a fallback that allocated on the Go heap would
// quietly lose what the package is for (no GC cost, idle memory back to the
// OS). A build with CGO_ENABLED=0 therefore fails, with one error that names
// the remedy:
//
//	undefined: offheap_requires_cgo__build_with_CGO_ENABLED_1_and_a_C_compiler
//
// Package decommit needs no cgo and works with CGO_ENABLED=0.
//
// Windows builds need a mingw-w64 gcc as CC (cross: CC=x86_64-w64-mingw32-gcc);
// winpthreads is linked statically, so no DLL is needed beside the program.
package offheap
