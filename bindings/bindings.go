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
//
// # Files
//
// One file per concern of the C ABI: errors.go (Err, over the one errno map
// of errcodes.h), options.go, map.go (pages), alloc.go (the process-wide
// allocator), slab.go, pool.go, arena.go, leaks.go, purge.go and stats.go;
// the *_bundled.go files reach the core's internals (the call-free fast
// path), each with a *_shared.go stand-in for an installed library.
package bindings

/*
#cgo CFLAGS: -D_GNU_SOURCE
#cgo !windows LDFLAGS: -pthread

#include <stdint.h>
#include "offheap.h"

static inline int ohg_abi_version(void) { return oh_abi_version(); }
static inline const char *ohg_version(void) { return oh_version(); }
static inline size_t ohg_page_size(void) { return oh_page_size(); }
#cgo noescape ohg_abi_version
#cgo nocallback ohg_abi_version
#cgo noescape ohg_version
#cgo nocallback ohg_version
#cgo noescape ohg_page_size
#cgo nocallback ohg_page_size
*/
import "C"

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

// Version returns "MAJOR.MINOR.PATCH" of the linked core.
func Version() string { return C.GoString(C.ohg_version()) }

// LinkedABIVersion returns oh_abi_version() of the linked core.
func LinkedABIVersion() int { return int(C.ohg_abi_version()) }

// PageSize returns the OS page size.
func PageSize() int { return int(C.ohg_page_size()) }
