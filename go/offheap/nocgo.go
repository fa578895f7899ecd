//go:build !cgo

package offheap

// offheap needs cgo (see "Building" in doc.go): there is no pure-Go fallback,
// because an allocator outside the Go heap needs the C core. Without cgo the
// build fails with one error that names the remedy:
//
//	undefined: offheap_requires_cgo__build_with_CGO_ENABLED_1_and_a_C_compiler
//
// (reported by package bindings, which go/offheap imports and which stops
// first; this file says the same should the import ever build without cgo).
// Package go/decommit works without cgo.
var _ = offheap_requires_cgo__build_with_CGO_ENABLED_1_and_a_C_compiler
