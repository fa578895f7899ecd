// Package bindings is the one cgo package of offheap: it compiles the C core
// (c/src) into the Go build and exposes thin Go functions over the C ABI of
// c/include/offheap.h. It is an implementation detail of go/offheap; use that
// package instead.
//
// # Building
//
// By default the core is compiled from source: offheap_unity.c here
// #includes every c/src/*.c (cgo compiles only the files in the package's own
// directory), so `go get` plus a C compiler is enough; no make step.
//
// With the build tag offheap_shared the unity file compiles to nothing and the
// package links an installed liboffheap through pkg-config (`#cgo pkg-config:
// offheap`); init then checks that the library's oh_abi_version() matches the
// ABI this package was written for and panics otherwise. The go build cache
// does not key on what pkg-config prints: after installing liboffheap under
// another prefix, rebuild with -a (or set CGO_CFLAGS to something that names
// the new prefix). The core's internals are not exported from the shared
// library, so that build has no call-free fast path (see fast_bundled.go).
//
// # Conventions
//
// No C type appears in the exported API. Addresses that the core only
// classifies (frees, reference counts, ownership queries) are passed as
// uintptr: the core never dereferences them (it decides ownership from its
// region map), so they may be Go-heap or stack addresses and need no cgo
// pointer check. Memory the core hands out is returned as unsafe.Pointer.
// Failures are reported as an Err, translated from the C errno in the same C
// call (so the value cannot be lost to a goroutine switching threads).
//
// Every C function called here is marked #cgo noescape (the core keeps no
// pointer it is given beyond the call) and #cgo nocallback (the core never
// calls into Go: the one error handler installed is C, debug_report.go).
package bindings

/*
#cgo CFLAGS: -D_GNU_SOURCE
#cgo !windows LDFLAGS: -pthread

#include <errno.h>
#include <stdint.h>
#include <string.h>
#include "offheap.h"

// Error codes shared with Go (the Err constants): errno values differ between
// C libraries, these do not.
enum {
	OHG_OK = 0,
	OHG_ENOMEM = 1,
	OHG_EINVAL = 2,
	OHG_EFAULT = 3,
	OHG_EALREADY = 4,
	OHG_EXDEV = 5,
	OHG_EBUSY = 6,
	OHG_EOVERFLOW = 7,
	OHG_EOTHER = 8,
};

static inline int ohg_code(int e) {
	switch (e) {
	case ENOMEM: return OHG_ENOMEM;
	case EINVAL: return OHG_EINVAL;
	case EFAULT: return OHG_EFAULT;
	case EALREADY: return OHG_EALREADY;
	case EXDEV: return OHG_EXDEV;
	case EBUSY: return OHG_EBUSY;
	case EOVERFLOW: return OHG_EOVERFLOW;
	default: return OHG_EOTHER;
	}
}

typedef struct { void *p; int err; } ohg_ptr;

static inline ohg_ptr ohg_ptr_result(void *p) {
	ohg_ptr r;
	r.p = p;
	r.err = p != NULL ? OHG_OK : ohg_code(errno);
	return r;
}

static inline int ohg_int_result(int r) { return r == 0 ? OHG_OK : ohg_code(errno); }

static inline int ohg_abi_version(void) { return oh_abi_version(); }
static inline const char *ohg_version(void) { return oh_version(); }
static inline size_t ohg_page_size(void) { return oh_page_size(); }

static inline long long ohg_option_get(int opt) { return oh_option_get((oh_option_t)opt); }
static inline int ohg_option_set(int opt, long long v) { return ohg_int_result(oh_option_set((oh_option_t)opt, v)); }

static inline ohg_ptr ohg_map(size_t n) { return ohg_ptr_result(oh_map(n)); }
static inline int ohg_unmap(uintptr_t p, size_t n) { return ohg_int_result(oh_unmap((void *)p, n)); }
static inline size_t ohg_decommit(uintptr_t p, size_t n) { return oh_decommit((void *)p, n); }

static inline ohg_ptr ohg_alloc(size_t n) { return ohg_ptr_result(oh_alloc(n)); }
static inline ohg_ptr ohg_calloc(size_t n) { return ohg_ptr_result(oh_calloc(n)); }
static inline int ohg_free(uintptr_t p) { return ohg_int_result(oh_free((void *)p)); }

static inline oh_slab_t *ohg_default_slab(void) { return oh_default_slab(); }
typedef struct { oh_slab_t *s; int err; } ohg_slab;
static inline ohg_slab ohg_slab_new(size_t min_chunk, size_t slab_size, double growth) {
	oh_slab_config_t cfg;
	cfg.min_chunk = min_chunk;
	cfg.slab_size = slab_size;
	cfg.growth = growth;
	ohg_slab r;
	r.s = oh_slab_new(&cfg);
	r.err = r.s != NULL ? OHG_OK : ohg_code(errno);
	return r;
}
static inline int ohg_slab_destroy(oh_slab_t *s) { return ohg_int_result(oh_slab_destroy(s)); }
static inline ohg_ptr ohg_slab_alloc(oh_slab_t *s, size_t n) { return ohg_ptr_result(oh_slab_alloc(s, n)); }
static inline int ohg_slab_addref(oh_slab_t *s, uintptr_t p) { return ohg_int_result(oh_slab_addref(s, (void *)p)); }
// 1 freed, 0 references remain, or -code.
static inline int ohg_slab_decref(oh_slab_t *s, uintptr_t p) {
	int r = oh_slab_decref(s, (void *)p);
	return r >= 0 ? r : -ohg_code(errno);
}
// The reference count, or -code.
static inline long ohg_slab_refcount(oh_slab_t *s, uintptr_t p) {
	long r = oh_slab_refcount(s, (const void *)p);
	return r >= 0 ? r : -(long)ohg_code(errno);
}
typedef struct { size_t n; int err; } ohg_size;
static inline ohg_size ohg_slab_usable_size(oh_slab_t *s, uintptr_t p) {
	ohg_size r;
	r.n = oh_slab_usable_size(s, (const void *)p);
	r.err = r.n != 0 ? OHG_OK : ohg_code(errno);
	return r;
}
static inline int ohg_slab_class_count(oh_slab_t *s) { return oh_slab_class_count(s); }
static inline size_t ohg_slab_class_size(oh_slab_t *s, int i) { return oh_slab_class_size(s, i); }
static inline ohg_size ohg_slab_alloc_batch(oh_slab_t *s, int cls, uintptr_t *out, size_t n) {
	ohg_size r;
	r.n = oh_slab_alloc_batch(s, cls, (void **)out, n);
	r.err = r.n != 0 || n == 0 ? OHG_OK : ohg_code(errno);
	return r;
}
// On failure n is the index of the first bad pointer.
static inline ohg_size ohg_slab_free_batch(oh_slab_t *s, const uintptr_t *ptrs, size_t n) {
	ohg_size r;
	size_t bad = 0;
	r.err = oh_slab_free_batch(s, (void *const *)ptrs, n, &bad) == 0 ? OHG_OK : ohg_code(errno);
	r.n = bad;
	return r;
}
static inline int ohg_slab_stats(oh_slab_t *s, oh_stats_t *out) { return ohg_int_result(oh_slab_stats(s, out)); }
static inline int ohg_stats(oh_stats_t *out) { return ohg_int_result(oh_stats(out)); }

typedef struct { oh_pool_t *p; int err; } ohg_pool;
static inline ohg_pool ohg_pool_new(size_t size, size_t max_objects, size_t block_objects) {
	oh_pool_config_t cfg;
	cfg.max_objects = max_objects;
	cfg.block_objects = block_objects;
	ohg_pool r;
	r.p = oh_pool_new(size, &cfg);
	r.err = r.p != NULL ? OHG_OK : ohg_code(errno);
	return r;
}
static inline ohg_ptr ohg_pool_get(oh_pool_t *p) { return ohg_ptr_result(oh_pool_get(p)); }
static inline int ohg_pool_put(oh_pool_t *p, uintptr_t obj) { return ohg_int_result(oh_pool_put(p, (void *)obj)); }
static inline int ohg_pool_stats(oh_pool_t *p, oh_stats_t *out) { return ohg_int_result(oh_pool_stats(p, out)); }
static inline int ohg_pool_destroy(oh_pool_t *p) { return ohg_int_result(oh_pool_destroy(p)); }

typedef struct { oh_arena_t *a; int err; } ohg_arena;
static inline ohg_arena ohg_arena_new(size_t block_size) {
	ohg_arena r;
	r.a = oh_arena_new(block_size);
	r.err = r.a != NULL ? OHG_OK : ohg_code(errno);
	return r;
}
static inline ohg_ptr ohg_arena_alloc(oh_arena_t *a, size_t n, size_t align) { return ohg_ptr_result(oh_arena_alloc(a, n, align)); }
static inline void ohg_arena_reset(oh_arena_t *a, int flags) { oh_arena_reset(a, flags); }
static inline int ohg_arena_owns(oh_arena_t *a, uintptr_t p) { return oh_arena_owns(a, (const void *)p); }
static inline int ohg_arena_destroy(oh_arena_t *a) { return ohg_int_result(oh_arena_destroy(a)); }

typedef struct { uintptr_t ptr; uint64_t size; int64_t refs; int64_t cls; } ohg_leak;
typedef struct { ohg_leak *out; size_t cap, n; } ohg_leak_sink;
static void ohg_leak_cb(void *p, size_t size, long refs, int cls, void *arg) {
	ohg_leak_sink *k = arg;
	if (k->n < k->cap) {
		ohg_leak l = {(uintptr_t)p, size, refs, cls};
		k->out[k->n] = l;
	}
	k->n++;
}
static inline size_t ohg_slab_leaks(oh_slab_t *s, ohg_leak *out, size_t cap) {
	ohg_leak_sink k = {out, cap, 0};
	oh_slab_leaks(s, ohg_leak_cb, &k);
	return k.n;
}
static inline size_t ohg_pool_leaks(oh_pool_t *p, ohg_leak *out, size_t cap) {
	ohg_leak_sink k = {out, cap, 0};
	oh_pool_leaks(p, ohg_leak_cb, &k);
	return k.n;
}

static inline size_t ohg_purge(void) { return oh_purge(); }
static inline size_t ohg_slab_purge(oh_slab_t *s) { return oh_slab_purge(s); }
static inline void ohg_thread_flush(void) { oh_thread_flush(); }

#cgo noescape ohg_abi_version
#cgo nocallback ohg_abi_version
#cgo noescape ohg_version
#cgo nocallback ohg_version
#cgo noescape ohg_page_size
#cgo nocallback ohg_page_size
#cgo noescape ohg_option_get
#cgo nocallback ohg_option_get
#cgo noescape ohg_option_set
#cgo nocallback ohg_option_set
#cgo noescape ohg_map
#cgo nocallback ohg_map
#cgo noescape ohg_unmap
#cgo nocallback ohg_unmap
#cgo noescape ohg_decommit
#cgo nocallback ohg_decommit
#cgo noescape ohg_alloc
#cgo nocallback ohg_alloc
#cgo noescape ohg_calloc
#cgo nocallback ohg_calloc
#cgo noescape ohg_free
#cgo nocallback ohg_free
#cgo noescape ohg_default_slab
#cgo nocallback ohg_default_slab
#cgo noescape ohg_slab_new
#cgo nocallback ohg_slab_new
#cgo noescape ohg_slab_destroy
#cgo nocallback ohg_slab_destroy
#cgo noescape ohg_slab_alloc
#cgo nocallback ohg_slab_alloc
#cgo noescape ohg_slab_addref
#cgo nocallback ohg_slab_addref
#cgo noescape ohg_slab_decref
#cgo nocallback ohg_slab_decref
#cgo noescape ohg_slab_refcount
#cgo nocallback ohg_slab_refcount
#cgo noescape ohg_slab_usable_size
#cgo nocallback ohg_slab_usable_size
#cgo noescape ohg_slab_class_count
#cgo nocallback ohg_slab_class_count
#cgo noescape ohg_slab_class_size
#cgo nocallback ohg_slab_class_size
#cgo noescape ohg_slab_alloc_batch
#cgo nocallback ohg_slab_alloc_batch
#cgo noescape ohg_slab_free_batch
#cgo nocallback ohg_slab_free_batch
#cgo noescape ohg_slab_stats
#cgo nocallback ohg_slab_stats
#cgo noescape ohg_stats
#cgo nocallback ohg_stats
#cgo noescape ohg_pool_new
#cgo nocallback ohg_pool_new
#cgo noescape ohg_pool_get
#cgo nocallback ohg_pool_get
#cgo noescape ohg_pool_put
#cgo nocallback ohg_pool_put
#cgo noescape ohg_pool_stats
#cgo nocallback ohg_pool_stats
#cgo noescape ohg_pool_destroy
#cgo nocallback ohg_pool_destroy
#cgo noescape ohg_arena_new
#cgo nocallback ohg_arena_new
#cgo noescape ohg_arena_alloc
#cgo nocallback ohg_arena_alloc
#cgo noescape ohg_arena_reset
#cgo nocallback ohg_arena_reset
#cgo noescape ohg_arena_owns
#cgo nocallback ohg_arena_owns
#cgo noescape ohg_arena_destroy
#cgo nocallback ohg_arena_destroy
#cgo noescape ohg_purge
#cgo noescape ohg_slab_leaks
#cgo nocallback ohg_slab_leaks
#cgo noescape ohg_pool_leaks
#cgo nocallback ohg_pool_leaks
#cgo noescape ohg_slab_purge
#cgo nocallback ohg_slab_purge
#cgo nocallback ohg_purge
#cgo noescape ohg_thread_flush
#cgo nocallback ohg_thread_flush
*/
import "C"

import (
	"fmt"
	"unsafe"
)

// ABIVersion is the OH_ABI_VERSION of c/include/offheap.h that this package
// was written against.
const ABIVersion = 1

// HeaderABIVersion is OH_ABI_VERSION of the header the package was compiled
// with (the bundled one, or the installed one under offheap_shared).
const HeaderABIVersion = C.OH_ABI_VERSION

// RefcountMax is the largest reference count a chunk can hold.
const RefcountMax = C.OH_REFCOUNT_MAX

// MaxClasses bounds the number of size classes of a slab instance.
const MaxClasses = C.OH_MAX_CLASSES

// Arena reset flags.
const (
	ArenaDecommit = C.OH_ARENA_DECOMMIT
	ArenaKeep     = C.OH_ARENA_KEEP
)

// Err is the outcome of a core call: OK, or the errno the core reported.
type Err int

// The errors of the C ABI (see offheap.h, "Errors").
const (
	OK        Err = C.OHG_OK
	ENOMEM    Err = C.OHG_ENOMEM    // the OS refused memory, or a pool reached its maximum
	EINVAL    Err = C.OHG_EINVAL    // bad argument, or a pointer the allocator never handed out
	EFAULT    Err = C.OHG_EFAULT    // an interior pointer
	EALREADY  Err = C.OHG_EALREADY  // already free: double free, refcount below zero
	EXDEV     Err = C.OHG_EXDEV     // the pointer belongs to another instance
	EBUSY     Err = C.OHG_EBUSY     // free of an allocation whose refcount is above one
	EOVERFLOW Err = C.OHG_EOVERFLOW // refcount would exceed RefcountMax
	EOTHER    Err = C.OHG_EOTHER    // any other errno
	errCount      = EOTHER + 1
)

var errNames = [errCount]string{"OK", "ENOMEM", "EINVAL", "EFAULT", "EALREADY", "EXDEV", "EBUSY", "EOVERFLOW", "errno"}

func (e Err) String() string {
	if e >= 0 && e < errCount {
		return errNames[e]
	}
	return fmt.Sprintf("Err(%d)", int(e))
}

// Version returns "MAJOR.MINOR.PATCH" of the linked core.
func Version() string { return C.GoString(C.ohg_version()) }

// LinkedABIVersion returns oh_abi_version() of the linked core.
func LinkedABIVersion() int { return int(C.ohg_abi_version()) }

// PageSize returns the OS page size.
func PageSize() int { return int(C.ohg_page_size()) }

// Option is a tunable of the core (oh_option_t).
type Option int

// The core's tunables; see offheap.h.
const (
	OptPurgeDelayMS   Option = C.OH_OPT_PURGE_DELAY_MS
	OptDebug          Option = C.OH_OPT_DEBUG
	OptDecommitAdvice Option = C.OH_OPT_DECOMMIT_ADVICE
	OptTCacheBytes    Option = C.OH_OPT_TCACHE_BYTES
	OptRetainBytes    Option = C.OH_OPT_RETAIN_BYTES
	OptHugePages      Option = C.OH_OPT_HUGEPAGES
)

// OptionGet returns the current value of opt.
func OptionGet(opt Option) int64 { return int64(C.ohg_option_get(C.int(opt))) }

// OptionSet sets opt; EINVAL for an out-of-range value.
func OptionSet(opt Option, v int64) Err { return Err(C.ohg_option_set(C.int(opt), C.longlong(v))) }

// ---- pages ------------------------------------------------------------------

// Map maps n bytes rounded up to whole pages, zeroed.
func Map(n uintptr) (unsafe.Pointer, Err) {
	r := C.ohg_map(C.size_t(n))
	return r.p, Err(r.err)
}

// Unmap unmaps a mapping made by Map; n is its size.
func Unmap(p, n uintptr) Err { return Err(C.ohg_unmap(C.uintptr_t(p), C.size_t(n))) }

// Decommit decommits the whole pages strictly inside [p, p+n) and returns the
// bytes decommitted. The range must be memory that stays mapped during the call.
func Decommit(p, n uintptr) uintptr { return uintptr(C.ohg_decommit(C.uintptr_t(p), C.size_t(n))) }

// ---- the process-wide allocator -------------------------------------------------

// Alloc is oh_alloc.
func Alloc(n uintptr) (unsafe.Pointer, Err) {
	r := C.ohg_alloc(C.size_t(n))
	return r.p, Err(r.err)
}

// Calloc is oh_calloc.
func Calloc(n uintptr) (unsafe.Pointer, Err) {
	r := C.ohg_calloc(C.size_t(n))
	return r.p, Err(r.err)
}

// Free is oh_free.
func Free(p uintptr) Err { return Err(C.ohg_free(C.uintptr_t(p))) }

// ---- slab instances -------------------------------------------------------------

// Slab is a handle to an oh_slab_t. The zero Slab is invalid.
type Slab struct{ h *C.oh_slab_t }

// DefaultSlab returns the process-wide instance behind Alloc and Free.
func DefaultSlab() Slab { return Slab{C.ohg_default_slab()} }

// NewSlab is oh_slab_new; zero fields take the core's defaults.
func NewSlab(minChunk, slabSize uintptr, growth float64) (Slab, Err) {
	r := C.ohg_slab_new(C.size_t(minChunk), C.size_t(slabSize), C.double(growth))
	return Slab{r.s}, Err(r.err)
}

// Valid reports whether s refers to an instance.
func (s Slab) Valid() bool { return s.h != nil }

// ID returns an address identifying the instance (the owner recorded in its spans).
func (s Slab) ID() uintptr { return uintptr(unsafe.Pointer(s.h)) }

// Destroy is oh_slab_destroy.
func (s Slab) Destroy() Err { return Err(C.ohg_slab_destroy(s.h)) }

// Alloc is oh_slab_alloc.
func (s Slab) Alloc(n uintptr) (unsafe.Pointer, Err) {
	r := C.ohg_slab_alloc(s.h, C.size_t(n))
	return r.p, Err(r.err)
}

// AddRef is oh_slab_addref.
func (s Slab) AddRef(p uintptr) Err { return Err(C.ohg_slab_addref(s.h, C.uintptr_t(p))) }

// DecRef is oh_slab_decref: freed reports whether this call freed p.
func (s Slab) DecRef(p uintptr) (freed bool, err Err) {
	r := int(C.ohg_slab_decref(s.h, C.uintptr_t(p)))
	if r < 0 {
		return false, Err(-r)
	}
	return r == 1, OK
}

// RefCount is oh_slab_refcount (0 for a free chunk of this instance).
func (s Slab) RefCount(p uintptr) (int, Err) {
	r := int(C.ohg_slab_refcount(s.h, C.uintptr_t(p)))
	if r < 0 {
		return 0, Err(-r)
	}
	return r, OK
}

// UsableSize is oh_slab_usable_size.
func (s Slab) UsableSize(p uintptr) (uintptr, Err) {
	r := C.ohg_slab_usable_size(s.h, C.uintptr_t(p))
	return uintptr(r.n), Err(r.err)
}

// ClassCount returns the number of size classes.
func (s Slab) ClassCount() int { return int(C.ohg_slab_class_count(s.h)) }

// ClassSize returns the chunk size of class i.
func (s Slab) ClassSize(i int) uintptr { return uintptr(C.ohg_slab_class_size(s.h, C.int(i))) }

// AllocBatch allocates up to len(out) chunks of class cls (refcount 1) into
// out and returns how many it allocated; 0 with ENOMEM.
func (s Slab) AllocBatch(cls int, out []unsafe.Pointer) (int, Err) {
	if len(out) == 0 {
		return 0, OK
	}
	r := C.ohg_slab_alloc_batch(s.h, C.int(cls), (*C.uintptr_t)(unsafe.Pointer(&out[0])), C.size_t(len(out)))
	return int(r.n), Err(r.err)
}

// FreeBatch frees the chunks of ptrs (each with refcount 1). On failure it
// returns the index of the first bad pointer: those before it were freed,
// it and those after it were not.
func (s Slab) FreeBatch(ptrs []unsafe.Pointer) (bad int, err Err) {
	if len(ptrs) == 0 {
		return 0, OK
	}
	r := C.ohg_slab_free_batch(s.h, (*C.uintptr_t)(unsafe.Pointer(&ptrs[0])), C.size_t(len(ptrs)))
	return int(r.n), Err(r.err)
}

// ReadStats fills out with the instance's figures, per class included.
func (s Slab) ReadStats(out *Stats) Err {
	var cs C.oh_stats_t
	if e := Err(C.ohg_slab_stats(s.h, &cs)); e != OK {
		return e
	}
	out.fill(&cs)
	return OK
}

// ---- pools ------------------------------------------------------------------------

// Pool is a handle to an oh_pool_t. The zero Pool is invalid.
type Pool struct{ p *C.oh_pool_t }

// NewPool is oh_pool_new.
func NewPool(size, maxObjects, blockObjects uintptr) (Pool, Err) {
	r := C.ohg_pool_new(C.size_t(size), C.size_t(maxObjects), C.size_t(blockObjects))
	return Pool{r.p}, Err(r.err)
}

// Get is oh_pool_get.
func (p Pool) Get() (unsafe.Pointer, Err) {
	r := C.ohg_pool_get(p.p)
	return r.p, Err(r.err)
}

// Put is oh_pool_put.
func (p Pool) Put(obj uintptr) Err { return Err(C.ohg_pool_put(p.p, C.uintptr_t(obj))) }

// ReadStats is oh_pool_stats.
func (p Pool) ReadStats(out *Stats) Err {
	var cs C.oh_stats_t
	if e := Err(C.ohg_pool_stats(p.p, &cs)); e != OK {
		return e
	}
	out.fill(&cs)
	return OK
}

// Destroy is oh_pool_destroy.
func (p Pool) Destroy() Err { return Err(C.ohg_pool_destroy(p.p)) }

// ---- arenas -----------------------------------------------------------------------

// Arena is a handle to an oh_arena_t. The zero Arena is invalid.
type Arena struct{ a *C.oh_arena_t }

// NewArena is oh_arena_new.
func NewArena(blockSize uintptr) (Arena, Err) {
	r := C.ohg_arena_new(C.size_t(blockSize))
	return Arena{r.a}, Err(r.err)
}

// Alloc is oh_arena_alloc (align 0 = 16).
func (a Arena) Alloc(n, align uintptr) (unsafe.Pointer, Err) {
	r := C.ohg_arena_alloc(a.a, C.size_t(n), C.size_t(align))
	return r.p, Err(r.err)
}

// Reset is oh_arena_reset with ArenaDecommit or ArenaKeep.
func (a Arena) Reset(flags int) { C.ohg_arena_reset(a.a, C.int(flags)) }

// Owns is oh_arena_owns.
func (a Arena) Owns(p uintptr) bool { return C.ohg_arena_owns(a.a, C.uintptr_t(p)) != 0 }

// Destroy is oh_arena_destroy.
func (a Arena) Destroy() Err { return Err(C.ohg_arena_destroy(a.a)) }

// ---- purging and statistics -------------------------------------------------------------

// PurgeEmpty is oh_slab_purge: decommits all free memory of s now (its empty
// slabs, the retained margin included, and its thread-cached chunks) and
// returns the bytes decommitted.
func (s Slab) PurgeEmpty() uintptr { return uintptr(C.ohg_slab_purge(s.h)) }

// Leak is one live allocation reported by oh_slab_leaks / oh_pool_leaks.
type Leak struct {
	Ptr   uintptr
	Size  uint64
	Refs  int64
	Class int64 // -1: whole pages
}

var _ [unsafe.Sizeof(Leak{}) - C.sizeof_ohg_leak]byte
var _ [C.sizeof_ohg_leak - unsafe.Sizeof(Leak{})]byte

// collectLeaks calls fill with a growing buffer until the snapshot fits.
func collectLeaks(fill func(out *C.ohg_leak, capacity C.size_t) C.size_t) []Leak {
	n := int(fill(nil, 0))
	for {
		out := make([]Leak, n+16)
		got := int(fill((*C.ohg_leak)(unsafe.Pointer(&out[0])), C.size_t(len(out))))
		if got <= len(out) {
			return out[:got]
		}
		n = got
	}
}

// Leaks lists the live allocations of s; the zero Slab means the
// process-wide instance.
func (s Slab) Leaks() []Leak {
	return collectLeaks(func(out *C.ohg_leak, capacity C.size_t) C.size_t { return C.ohg_slab_leaks(s.h, out, capacity) })
}

// Leaks lists the live objects of p.
func (p Pool) Leaks() []Leak {
	return collectLeaks(func(out *C.ohg_leak, capacity C.size_t) C.size_t { return C.ohg_pool_leaks(p.p, out, capacity) })
}

// Purge is oh_purge: decommits all free memory now; returns bytes decommitted.
func Purge() uintptr { return uintptr(C.ohg_purge()) }

// ThreadFlush is oh_thread_flush (the calling thread's caches only).
func ThreadFlush() { C.ohg_thread_flush() }

// ClassStats mirrors oh_class_stats_t.
type ClassStats struct {
	ChunkSize, Slabs, ChunksInUse, ChunksCached, Allocs, Frees uint64
}

// Stats mirrors oh_stats_t.
type Stats struct {
	MappedBytes, CommittedBytes, InUseBytes, DecommittedBytes uint64
	Allocs, Frees, Purges                                     uint64
	SlabsEmpty, SlabsDecommitted, LargeInUse                  uint64
	Classes                                                   []ClassStats // class_count entries
}

func (s *Stats) fill(c *C.oh_stats_t) {
	s.MappedBytes = uint64(c.mapped_bytes)
	s.CommittedBytes = uint64(c.committed_bytes)
	s.InUseBytes = uint64(c.in_use_bytes)
	s.DecommittedBytes = uint64(c.decommitted_bytes)
	s.Allocs = uint64(c.allocs)
	s.Frees = uint64(c.frees)
	s.Purges = uint64(c.purges)
	s.SlabsEmpty = uint64(c.slabs_empty)
	s.SlabsDecommitted = uint64(c.slabs_decommitted)
	s.LargeInUse = uint64(c.large_in_use)
	n := int(c.class_count)
	if n > MaxClasses {
		n = MaxClasses
	}
	s.Classes = s.Classes[:0]
	for i := 0; i < n; i++ {
		cc := &c.classes[i]
		s.Classes = append(s.Classes, ClassStats{
			ChunkSize:    uint64(cc.chunk_size),
			Slabs:        uint64(cc.slabs),
			ChunksInUse:  uint64(cc.chunks_in_use),
			ChunksCached: uint64(cc.chunks_cached),
			Allocs:       uint64(cc.allocs),
			Frees:        uint64(cc.frees),
		})
	}
}

// ReadStats fills out with the process-wide totals (no per-class rows).
func ReadStats(out *Stats) Err {
	var cs C.oh_stats_t
	if e := Err(C.ohg_stats(&cs)); e != OK {
		return e
	}
	out.fill(&cs)
	return OK
}
