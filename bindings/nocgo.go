//go:build !cgo

package bindings

// offheap needs cgo: the allocator is C code compiled into the program (or an
// installed liboffheap linked with -tags offheap_shared). Without cgo every
// other file of this package is left out, and the build stops here with one
// error whose text is the remedy:
//
//	undefined: offheap_requires_cgo__build_with_CGO_ENABLED_1_and_a_C_compiler
//
// Package go/decommit works without cgo; go/offheap does not (see its doc).
var _ = offheap_requires_cgo__build_with_CGO_ENABLED_1_and_a_C_compiler
