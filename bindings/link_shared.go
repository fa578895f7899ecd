//go:build offheap_shared

package bindings

// With the offheap_shared tag offheap_unity.c compiles to nothing (it tests
// OH_GO_SHARED) and an installed liboffheap is linked through pkg-config, which
// also supplies the include path of its offheap.h.

// #cgo pkg-config: offheap
// #cgo CFLAGS: -DOH_GO_SHARED
import "C"

// Shared reports whether the package links an installed liboffheap
// (build tag offheap_shared) rather than the bundled sources.
const Shared = true

func init() {
	if err := checkABI(LinkedABIVersion(), HeaderABIVersion); err != "" {
		panic(err)
	}
}
