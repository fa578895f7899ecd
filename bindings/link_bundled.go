//go:build !offheap_shared

package bindings

// The core is compiled from c/src through offheap_unity.c in this
// directory; SRCDIR keeps the paths right inside a module cache or a vendor
// directory.

// On Windows winpthreads is linked statically, so a Go program needs no
// libwinpthread-1.dll beside it.

// #cgo CFLAGS: -I${SRCDIR}/../c/include -I${SRCDIR}/../c/src
// #cgo windows LDFLAGS: -Wl,-Bstatic -lwinpthread -Wl,-Bdynamic
import "C"

// Shared reports whether the package links an installed liboffheap
// (build tag offheap_shared) rather than the bundled sources.
const Shared = false
