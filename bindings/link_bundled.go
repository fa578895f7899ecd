//go:build !offheap_shared

package bindings

// The core is compiled from c/src through offheap_unity.c in this
// directory; SRCDIR keeps the paths right inside a module cache or a vendor
// directory.

// #cgo CFLAGS: -I${SRCDIR}/../c/include -I${SRCDIR}/../c/src
import "C"

// Shared reports whether the package links an installed liboffheap
// (build tag offheap_shared) rather than the bundled sources.
const Shared = false
